/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer: the validated JSON parser and every typed getter, plus a
 * differential check of the parser: both allocation modes (json_parse,
 * json_doc_parse) agree; whatever they accept passes json_prescan() (no check
 * of the old pre-scan was lost) and parses with cJSON's own parser to the
 * same tree (nothing is read differently).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_i.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Structural equality; numbers bit for bit (cJSON_Compare() fails on inf). */
static bool same(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y;

	if ((a->type & 0xff) != (b->type & 0xff))
		return false;
	if ((a->string == NULL) != (b->string == NULL) || (a->string && strcmp(a->string, b->string)))
		return false;
	if (cJSON_IsString(a))
		return strcmp(a->valuestring, b->valuestring) == 0;
	if (cJSON_IsNumber(a))
		return memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)) == 0 &&
		       a->valueint == b->valueint;
	for (x = a->child, y = b->child; x && y; x = x->next, y = y->next)
		if (!same(x, y))
			return false;
	return !x && !y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct json_doc *doc = NULL;
	cJSON *root = NULL;
	const cJSON *c;
	int r, rd;

	(void)json_validate_utf8(text, size);
	r = json_parse(text, size, &root);
	rd = json_doc_parse(text, size, &doc);
	if ((r == 0) != (rd == 0))
		abort();
	if (r < 0)
		return 0;
	if (!same(root, json_doc_root(doc)))
		abort();
	if (json_prescan(text, size, JSON_MAX_DEPTH) < 0)
		abort();
	{
		cJSON *ref = cJSON_ParseWithLength(text, size);

		if (!ref || !same(ref, root))
			abort();
		cJSON_Delete(ref);
	}
	json_doc_free(doc);
	cJSON_ArrayForEach(c, root) {
		const char *s;
		int64_t i;
		double d;
		bool b;

		if (!c->string)
			continue;
		(void)json_get_str(root, c->string, &s);
		(void)json_get_int(root, c->string, &i);
		(void)json_get_double(root, c->string, &d);
		(void)json_get_bool(root, c->string, &b);
		if (json_value_str(c, &s) == 1)
			(void)json_parse_time(s, &i);
	}
	cJSON_Delete(root);
	return 0;
}
