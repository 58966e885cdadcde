/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the validated JSON parser and every typed getter. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_i.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *root = NULL;
	const cJSON *c;

	(void)json_validate_utf8((const char *)data, size);
	if (json_parse((const char *)data, size, &root) < 0)
		return 0;
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
