/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json_i.h - private to remote/: validated cJSON parsing and typed field
 * extraction. cJSON values never leave remote/.
 *
 * Every reply goes through json_parse() or json_doc_parse(): one strict
 * RFC 8259 pass (strict UTF-8, nesting depth <= JSON_MAX_DEPTH, no NUL, no
 * \u0000 escape, no raw control characters in strings, the whole buffer one
 * value plus whitespace) that builds ordinary cJSON nodes. Anything wrong is
 * -EPROTO.
 */
#ifndef FTRACKFS_REMOTE_JSON_I_H
#define FTRACKFS_REMOTE_JSON_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Deepest nesting of arrays/objects accepted (cJSON's own limit is 1000). */
#define JSON_MAX_DEPTH 128

/* 0 when @s[0..len) is strict UTF-8 (no overlongs, surrogates, > U+10FFFF). */
int json_validate_utf8(const char *s, size_t len);

/*
 * json_prescan() - one pass over raw JSON text: strict UTF-8, no NUL byte,
 * no "\u0000" escape inside strings, nesting depth <= @max_depth.
 * 0 or -EPROTO.
 */
int json_prescan(const char *s, size_t len, unsigned max_depth);

/*
 * json_parse() - parse @len bytes (no NUL needed) into a tree of separately
 * allocated nodes. 0 and *ret (caller cJSON_Delete()s it), or -EPROTO (also
 * when out of memory). For small replies and trees that get edited.
 */
int json_parse(const char *s, size_t len, cJSON **ret);

/*
 * struct json_doc - a parsed reply whose nodes and strings all live in one
 * arena owned by the document (one allocation per ~MiB instead of one per
 * node, freed in one go).
 * @note The tree is read-only: identical keys and short strings are shared
 * between nodes. Never cJSON_Delete() any of its nodes, and never move them
 * into another tree; detaching is allowed (the memory stays with the doc).
 * Every pointer into it lives until json_doc_free().
 */
struct json_doc;

/*
 * json_doc_parse() - the same checks as json_parse(). 0 and *ret_doc (caller
 * json_doc_free()s it), -EPROTO for bad input, -ENOMEM. Safe from any thread
 * (no shared state).
 */
int json_doc_parse(const char *s, size_t len, struct json_doc **ret_doc);
/* The root value (never NULL for a parsed doc); borrowed from @d. */
cJSON *json_doc_root(const struct json_doc *d);
/* Release @d and every node and string of it. Accepts NULL. */
void json_doc_free(struct json_doc *d);

/*
 * json_item() - cJSON_GetObjectItemCaseSensitive(), inlined, with the first
 * byte compared before strcmp(): the hot lookup of reply decoding. The first
 * member called @key, or NULL (also for a NULL @obj).
 */
static inline cJSON *json_item(const cJSON *obj, const char *key)
{
	cJSON *c;

	if (!obj)
		return NULL;
	for (c = obj->child; c; c = c->next)
		if (c->string && c->string[0] == key[0] && strcmp(c->string, key) == 0)
			return c;
	return NULL;
}

/*
 * Typed getters on object members: 1 and the value, 0 when the key is
 * missing or null, -EPROTO for a wrong type. Strings are borrowed from the
 * tree. Integers must be whole numbers with |v| < 2^53.
 */
int json_get_str(const cJSON *obj, const char *key, const char **ret);
int json_get_int(const cJSON *obj, const char *key, int64_t *ret);
int json_get_double(const cJSON *obj, const char *key, double *ret);
int json_get_bool(const cJSON *obj, const char *key, bool *ret);

/* The same on a value rather than an object member (NULL/null -> 0). */
int json_value_str(const cJSON *v, const char **ret);
int json_value_int(const cJSON *v, int64_t *ret);

/*
 * json_parse_time() - "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[.frac][Z|+hh:mm|-hh:mm]"
 * (a space may replace the T). Naive values are UTC. 0 and ns since epoch,
 * or -EPROTO.
 */
int json_parse_time(const char *s, int64_t *ret_ns);

/* Format @ns as "YYYY-MM-DDTHH:MM:SS" (UTC) into @buf (>= 20 bytes). */
int json_format_time(int64_t ns, char *buf, size_t len);

/* strdup of a string member: 1 and *ret (owned), 0 missing/null, -EPROTO, -ENOMEM. */
int json_dup_str(const cJSON *obj, const char *key, char **ret);

/* cJSON_PrintUnformatted() that reports -ENOMEM; *ret_len excludes the NUL. */
int json_print(const cJSON *v, char **ret, size_t *ret_len);

#endif
