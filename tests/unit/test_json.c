/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of remote/json.c: validated parsing against hostile input. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* memory here is shared with the library: plain malloc, not cmocka's */
#undef malloc
#undef calloc
#undef realloc
#undef free

#include "json_i.h"

static int parse(const char *s)
{
	cJSON *root = NULL;
	int r = json_parse(s, strlen(s), &root);

	cJSON_Delete(root);
	return r;
}

static void test_utf8(void **state)
{
	(void)state;
	assert_int_equal(json_validate_utf8("plain", 5), 0);
	assert_int_equal(json_validate_utf8("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xac", 14), 0);
	assert_int_equal(json_validate_utf8("\xc0\x80", 2), -EPROTO);		/* overlong NUL */
	assert_int_equal(json_validate_utf8("\xe0\x80\xaf", 3), -EPROTO);	/* overlong '/' */
	assert_int_equal(json_validate_utf8("\xed\xa0\x80", 3), -EPROTO);	/* surrogate */
	assert_int_equal(json_validate_utf8("\xf4\x90\x80\x80", 4), -EPROTO);	/* > U+10FFFF */
	assert_int_equal(json_validate_utf8("\xc3", 1), -EPROTO);		/* truncated */
	assert_int_equal(json_validate_utf8("\x80", 1), -EPROTO);		/* lone continuation */
	assert_int_equal(json_validate_utf8("\xff", 1), -EPROTO);
}

static void test_invalid_utf8_in_json(void **state)
{
	(void)state;
	assert_int_equal(parse("{\"name\":\"caf\xc3\xa9\"}"), 0);
	assert_int_equal(parse("{\"name\":\"caf\xe9\"}"), -EPROTO);	/* Latin-1 byte */
	assert_int_equal(parse("{\"na\xff\":1}"), -EPROTO);
	assert_int_equal(parse("{\"name\":\"\xed\xa0\x80\"}"), -EPROTO);
	/* escapes: a lone surrogate and an embedded NUL */
	assert_int_equal(parse("{\"name\":\"\\ud800\"}"), -EPROTO);
	assert_int_equal(parse("{\"name\":\"hq\\u0000evil\"}"), -EPROTO);
	assert_int_equal(parse("{\"name\":\"\\ud83c\\udfac\"}"), 0);
}

static char *nested(size_t depth)
{
	char *s = malloc(2 * depth + 1);

	memset(s, '[', depth);
	memset(s + depth, ']', depth);
	s[2 * depth] = '\0';
	return s;
}

static void test_deep_nesting(void **state)
{
	char *s;
	cJSON *c;

	(void)state;
	s = nested(10000);
	/* cJSON itself stops at CJSON_NESTING_LIMIT (1000) ... */
	c = cJSON_Parse(s);
	assert_null(c);
	/* ... and we stop far earlier, before any recursion */
	assert_int_equal(json_prescan(s, strlen(s), JSON_MAX_DEPTH), -EPROTO);
	assert_int_equal(parse(s), -EPROTO);
	free(s);

	s = nested(JSON_MAX_DEPTH);
	assert_int_equal(parse(s), 0);
	free(s);
	s = nested(JSON_MAX_DEPTH + 1);
	assert_int_equal(parse(s), -EPROTO);
	free(s);
	/* brackets inside strings do not count */
	{
		static char in_string[20010];

		in_string[0] = '[';
		in_string[1] = '"';
		for (size_t i = 2; i < 20002; i++)
			in_string[i] = '[';
		in_string[20002] = '"';
		in_string[20003] = ']';
		in_string[20004] = '\0';
		assert_int_equal(parse(in_string), 0);
	}
	/* unbalanced closers */
	assert_int_equal(parse("]]"), -EPROTO);
}

static void test_truncated(void **state)
{
	static const char full[] =
		"{\"action\":\"query\",\"data\":[{\"__entity_type__\":\"Task\",\"id\":\"x\",\"name\":\"a\\\"b\"}],"
		"\"metadata\":{\"next\":{\"offset\":null}}}";

	(void)state;
	assert_int_equal(parse(full), 0);
	/* every proper prefix is an error */
	for (size_t n = 0; n < sizeof(full) - 1; n++) {
		cJSON *root = NULL;

		assert_int_equal(json_parse(full, n, &root), -EPROTO);
		assert_null(root);
	}
	assert_int_equal(parse("{\"a\":1} trailing"), -EPROTO);
	assert_int_equal(parse("{\"a\":1}{\"b\":2}"), -EPROTO);
	assert_int_equal(parse("{\"a\":1}\n  "), 0);
	assert_int_equal(parse(""), -EPROTO);
	{
		cJSON *root = NULL;

		assert_int_equal(json_parse("{\"a\":1}", 7, &root), 0);	/* no NUL needed */
		cJSON_Delete(root);
	}
	{
		static const char with_nul[] = "{\"a\":\"b\0c\"}";
		cJSON *root = NULL;

		assert_int_equal(json_parse(with_nul, sizeof(with_nul) - 1, &root), -EPROTO);
	}
}

static void test_numbers(void **state)
{
	cJSON *root = NULL;
	int64_t v;
	double d;
	static const char s[] =
		"{\"ok\":9007199254740991,\"neg\":-9007199254740991,\"big\":9007199254740993,"
		"\"two53\":9007199254740992,\"huge\":1e300,\"inf\":1e400,\"frac\":1.5,\"str\":\"12\","
		"\"nul\":null,\"zero\":0,\"exp\":1e3,\"arr\":[1]}";

	(void)state;
	assert_int_equal(json_parse(s, strlen(s), &root), 0);
	assert_int_equal(json_get_int(root, "ok", &v), 1);
	assert_true(v == 9007199254740991LL);
	assert_int_equal(json_get_int(root, "neg", &v), 1);
	assert_int_equal(json_get_int(root, "big", &v), -EPROTO);
	assert_int_equal(json_get_int(root, "two53", &v), -EPROTO);
	assert_int_equal(json_get_int(root, "huge", &v), -EPROTO);
	assert_int_equal(json_get_int(root, "inf", &v), -EPROTO);
	assert_int_equal(json_get_double(root, "inf", &d), -EPROTO);
	assert_int_equal(json_get_int(root, "frac", &v), -EPROTO);
	assert_int_equal(json_get_int(root, "str", &v), -EPROTO);
	assert_int_equal(json_get_int(root, "nul", &v), 0);
	assert_int_equal(json_get_int(root, "missing", &v), 0);
	assert_int_equal(json_get_int(root, "zero", &v), 1);
	assert_int_equal(json_get_int(root, "exp", &v), 1);
	assert_int_equal(v, 1000);
	assert_int_equal(json_get_int(root, "arr", &v), -EPROTO);
	cJSON_Delete(root);
}

static void test_wrong_types(void **state)
{
	cJSON *root = NULL;
	const char *str;
	bool b;
	static const char s[] = "{\"s\":1,\"b\":\"true\",\"o\":{},\"t\":true,\"n\":null}";

	(void)state;
	assert_int_equal(json_parse(s, strlen(s), &root), 0);
	assert_int_equal(json_get_str(root, "s", &str), -EPROTO);
	assert_int_equal(json_get_str(root, "o", &str), -EPROTO);
	assert_int_equal(json_get_str(root, "n", &str), 0);
	assert_int_equal(json_get_bool(root, "b", &b), -EPROTO);
	assert_int_equal(json_get_bool(root, "t", &b), 1);
	assert_true(b);
	/* getters on non-objects */
	assert_int_equal(json_get_str(cJSON_GetObjectItem(root, "s"), "x", &str), -EPROTO);
	cJSON_Delete(root);
}

static void test_time(void **state)
{
	int64_t ns;
	char buf[32];

	(void)state;
	assert_int_equal(json_parse_time("2022-10-10T10:12:09", &ns), 0);
	assert_true(ns == 1665396729LL * 1000000000LL);
	assert_int_equal(json_parse_time("2022-10-10T10:12:09Z", &ns), 0);
	assert_true(ns == 1665396729LL * 1000000000LL);
	assert_int_equal(json_parse_time("2022-10-10T12:12:09+02:00", &ns), 0);
	assert_true(ns == 1665396729LL * 1000000000LL);
	assert_int_equal(json_parse_time("2022-10-10T10:12:09.5", &ns), 0);
	assert_true(ns == 1665396729LL * 1000000000LL + 500000000LL);
	assert_int_equal(json_parse_time("2023-10-10", &ns), 0);
	assert_true(ns == 1696896000LL * 1000000000LL);
	assert_int_equal(json_parse_time("2022-13-10T10:12:09", &ns), -EPROTO);
	assert_int_equal(json_parse_time("2022-10-10T25:12:09", &ns), -EPROTO);
	assert_int_equal(json_parse_time("2022-10-10T10:12", &ns), -EPROTO);
	assert_int_equal(json_parse_time("2022-10-10T10:12:09junk", &ns), -EPROTO);
	assert_int_equal(json_parse_time("yesterday", &ns), -EPROTO);
	assert_int_equal(json_parse_time("4052-01-22T08:35:59", &ns), -EPROTO);	/* past int64 ns (found by fuzzing) */
	assert_int_equal(json_parse_time("2261-12-31T23:59:59", &ns), 0);
	assert_int_equal(json_parse_time("", &ns), -EPROTO);
	assert_int_equal(json_parse_time(NULL, &ns), -EPROTO);
	assert_int_equal(json_format_time(1665396729LL * 1000000000LL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2022-10-10T10:12:09");
}

/* Both parsers, and the arena one against cJSON's own tree of the same text. */
static int parse_doc(const char *s)
{
	struct json_doc *doc = NULL;
	int r = json_doc_parse(s, strlen(s), &doc);

	if (r == 0) {
		cJSON *ref = cJSON_Parse(s);

		assert_non_null(ref);
		assert_true(cJSON_Compare(json_doc_root(doc), ref, true));
		cJSON_Delete(ref);
	}
	json_doc_free(doc);
	assert_int_equal(parse(s), r);	/* both modes agree */
	return r;
}

static void test_doc(void **state)
{
	static const char s[] =
		"[{\"__entity_type__\":\"User\",\"id\":\"a\",\"n\":-0,\"f\":1.25e2,\"t\":true,\"z\":false,"
		"\"x\":null,\"e\":\"tab\\there \\\"q\\\" \\\\ \\/ \\u00e9 \\ud83c\\udfac\",\"u\":\"caf\xc3\xa9\"},"
		"{\"__entity_type__\":\"User\",\"id\":\"a\",\"deep\":[[],{},[{\"k\":[1,2,3]}]]}]";
	struct json_doc *doc = NULL;
	const cJSON *a, *b;
	const char *v;

	(void)state;
	assert_int_equal(parse_doc(s), 0);
	assert_int_equal(json_doc_parse(s, strlen(s), &doc), 0);
	a = cJSON_GetArrayItem(json_doc_root(doc), 0);
	b = cJSON_GetArrayItem(json_doc_root(doc), 1);
	assert_int_equal(json_get_str(a, "e", &v), 1);
	assert_string_equal(v, "tab\there \"q\" \\ / \xc3\xa9 \xf0\x9f\x8e\xac");
	/* keys and short strings are shared within a document */
	assert_ptr_equal(a->child->string, b->child->string);
	assert_ptr_equal(cJSON_GetObjectItem(a, "id")->valuestring,
			 cJSON_GetObjectItem(b, "id")->valuestring);
	/* cJSON's list invariant: the head's prev is the tail (cJSON_Detach* rely on it) */
	assert_ptr_equal(json_doc_root(doc)->child->prev, b);
	assert_ptr_equal(cJSON_DetachItemFromArray(json_doc_root(doc), 0), a);
	assert_int_equal(cJSON_GetArraySize(json_doc_root(doc)), 1);
	json_doc_free(doc);
	json_doc_free(NULL);

	/* what cJSON let through and RFC 8259 does not */
	assert_int_equal(parse_doc("[\"raw\ttab\"]"), -EPROTO);
	assert_int_equal(parse_doc("[\"raw\nnewline\"]"), -EPROTO);
	assert_int_equal(parse_doc("\x01[1]"), -EPROTO);
	assert_int_equal(parse_doc("[01]"), -EPROTO);
	assert_int_equal(parse_doc("[1.]"), -EPROTO);
	assert_int_equal(parse_doc("[-]"), -EPROTO);
	assert_int_equal(parse_doc("[.5]"), -EPROTO);
	assert_int_equal(parse_doc("[1,]"), -EPROTO);
	assert_int_equal(parse_doc("{\"a\":1,}"), -EPROTO);
	assert_int_equal(parse_doc("{\"a\" 1}"), -EPROTO);
	assert_int_equal(parse_doc("[tru]"), -EPROTO);
	assert_int_equal(parse_doc("[\"\\x\"]"), -EPROTO);
	assert_int_equal(parse_doc("[\"\\u12\"]"), -EPROTO);
	assert_int_equal(parse_doc("[\"\\udc00\"]"), -EPROTO);	/* lone low surrogate */
	assert_int_equal(parse_doc("[\"\\ud800\\u0041\"]"), -EPROTO);
	/* inf, as cJSON has it (cJSON_Compare() cannot compare inf); the getters refuse it */
	assert_int_equal(json_doc_parse("[1e999]", 7, &doc), 0);
	assert_true(isinf(json_doc_root(doc)->child->valuedouble));
	json_doc_free(doc);
	assert_int_equal(parse_doc("[123456789012345678901234567890,-1.5E-3,0.0,1e+2]"), 0);
	/* numbers past 63 characters: cJSON's limit, kept */
	assert_int_equal(parse_doc("[1.000000000000000000000000000000000000000000000000000000000000000001]"),
			 -EPROTO);
	assert_int_equal(parse_doc(" \r\n\t[ ] \n"), 0);
	assert_int_equal(json_doc_parse("", 0, &doc), -EPROTO);
	assert_int_equal(json_doc_parse("[1]", 2, &doc), -EPROTO);
}

/* A large document spans several arena chunks (and the huge-page path). */
static void test_doc_large(void **state)
{
	size_t n = 200000, len = 0, cap = n * 64 + 16;
	char *s = malloc(cap);
	struct json_doc *doc = NULL;
	const cJSON *c;
	size_t i = 0;

	(void)state;
	s[len++] = '[';
	for (size_t k = 0; k < n; k++)
		len += (size_t)snprintf(s + len, cap - len, "%s{\"id\":\"row-%zu\",\"v\":%zu}",
					k ? "," : "", k, k);
	s[len++] = ']';
	assert_int_equal(json_doc_parse(s, len, &doc), 0);
	cJSON_ArrayForEach(c, json_doc_root(doc)) {
		char want[32];
		const char *id;
		int64_t v;

		snprintf(want, sizeof(want), "row-%zu", i);
		assert_int_equal(json_get_str(c, "id", &id), 1);
		assert_string_equal(id, want);
		assert_int_equal(json_get_int(c, "v", &v), 1);
		assert_true(v == (int64_t)i);
		i++;
	}
	assert_true(i == n);
	json_doc_free(doc);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_invalid_utf8_in_json),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_doc),
		cmocka_unit_test(test_doc_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
