/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the query builder: every value is quoted and escaped, so no
 * value can change the meaning of a query. A reference tokenizer (the way
 * the server and the simulator read a quoted literal) checks round trips.
 */
#include <errno.h>
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

#include "ftrackfs/ftrack.h"

/* Read one quoted literal at @s; returns the unescaped value and the rest. */
static int read_literal(const char *s, char *out, size_t len, const char **ret_rest)
{
	char q = *s++;
	size_t o = 0;

	if (q != '"' && q != '\'')
		return -1;
	while (*s && *s != q) {
		if (*s == '\\') {
			s++;
			if (!*s)
				return -1;
		}
		if (o + 1 >= len)
			return -1;
		out[o++] = *s++;
	}
	if (*s != q)
		return -1;
	out[o] = '\0';
	*ret_rest = s + 1;
	return 0;
}

static void test_quote_basic(void **state)
{
	char buf[128];

	(void)state;
	assert_int_equal(ftrack_quote("O'Brien \"final\" \\ shot", buf, sizeof(buf)), 28);
	assert_string_equal(buf, "\"O\\'Brien \\\"final\\\" \\\\ shot\"");
	assert_int_equal(ftrack_quote("", buf, sizeof(buf)), 2);
	assert_string_equal(buf, "\"\"");
	assert_int_equal(ftrack_quote("caf\xc3\xa9", buf, sizeof(buf)), 7);
	assert_int_equal(ftrack_quote("a\nb", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ftrack_quote("a\x7f", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ftrack_quote("caf\xe9", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ftrack_quote("abc", buf, 5), -ENOBUFS);
	assert_int_equal(ftrack_quote("abc", buf, 6), 5);
	assert_int_equal(ftrack_quote("\"", buf, 4), -ENOBUFS);
	assert_int_equal(ftrack_quote(NULL, buf, sizeof(buf)), -EINVAL);
}

static void test_round_trip(void **state)
{
	static const char *const values[] = {
		"O'Brien \"final\" \\ shot",
		"\\",
		"\\\"",
		"\" or name like \"%",
		"' or 1=1 or '",
		"x\\\" and id is \"y",
		"trailing backslash\\",
		"sh010\") or (name is \"sh020",
		"%_*",
		"\xc3\xa9\xe2\x82\xac",
	};
	char lit[256], back[256];

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct ftrack_expr *e;
		const char *q, *rest;

		assert_int_equal(ftrack_expr_new(&e), 0);
		ftrack_expr_raw(e, "select id from Shot where name is ");
		ftrack_expr_str(e, values[i]);
		ftrack_expr_raw(e, " and project_id is ");
		ftrack_expr_uuid(e, "95f5c536-4e65-11e1-afaa-f23c91df25eb");
		assert_int_equal(ftrack_expr_get(e, &q), 0);
		/* the literal starts right after the prefix and ends where the raw text resumes */
		assert_int_equal(read_literal(q + strlen("select id from Shot where name is "), back,
					      sizeof(back), &rest), 0);
		assert_string_equal(back, values[i]);
		assert_string_equal(rest, " and project_id is \"95f5c536-4e65-11e1-afaa-f23c91df25eb\"");
		(void)lit;
		ftrack_expr_free(e);
	}
}

static void test_random_round_trip(void **state)
{
	static const char alphabet[] = "ab\"'\\ %()=,.-";
	unsigned seed = 12345;

	(void)state;
	for (int n = 0; n < 2000; n++) {
		char v[40], buf[128], back[64];
		const char *rest;
		size_t len = (size_t)(n % 39);

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			v[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		v[len] = '\0';
		assert_true(ftrack_quote(v, buf, sizeof(buf)) > 0);
		assert_int_equal(read_literal(buf, back, sizeof(back), &rest), 0);
		assert_string_equal(back, v);
		assert_string_equal(rest, "");
	}
}

static void test_uuid(void **state)
{
	(void)state;
	assert_true(ftrack_is_uuid("95f5c536-4e65-11e1-afaa-f23c91df25eb"));
	assert_true(ftrack_is_uuid("95F5C536-4E65-11E1-AFAA-F23C91DF25EB"));
	assert_false(ftrack_is_uuid("95f5c536-4e65-11e1-afaa-f23c91df25e"));
	assert_false(ftrack_is_uuid("95f5c536-4e65-11e1-afaa-f23c91df25ebb"));
	assert_false(ftrack_is_uuid("95f5c536x4e65-11e1-afaa-f23c91df25eb"));
	assert_false(ftrack_is_uuid("95f5c536-4e65-11e1-afaa-f23c91df25e\""));
	assert_false(ftrack_is_uuid("\" or 1 or \"-4e65-11e1-afaa-f23c91df25eb"));
	assert_false(ftrack_is_uuid(""));
	assert_false(ftrack_is_uuid(NULL));
}

static void test_builder(void **state)
{
	static const char *const ids[] = {
		"95f5c536-4e65-11e1-afaa-f23c91df25eb",
		"014a40a6-4e65-11e1-b8af-f23c91df25eb",
	};
	struct ftrack_expr *e;
	const char *q;

	(void)state;
	assert_int_equal(ftrack_expr_new(&e), 0);
	ftrack_expr_raw(e, "select id from AssetVersion where asset_id in ");
	ftrack_expr_uuid_list(e, ids, 2);
	ftrack_expr_raw(e, " and version > ");
	ftrack_expr_int(e, -3);
	assert_int_equal(ftrack_expr_get(e, &q), 0);
	assert_string_equal(q, "select id from AssetVersion where asset_id in "
			       "(\"95f5c536-4e65-11e1-afaa-f23c91df25eb\", "
			       "\"014a40a6-4e65-11e1-b8af-f23c91df25eb\") and version > -3");
	ftrack_expr_free(e);

	/* errors are sticky */
	assert_int_equal(ftrack_expr_new(&e), 0);
	ftrack_expr_raw(e, "select id from Shot where id is ");
	assert_int_equal(ftrack_expr_uuid(e, "\" or 1=1"), -EINVAL);
	assert_int_equal(ftrack_expr_raw(e, " and x"), -EINVAL);
	assert_int_equal(ftrack_expr_str(e, "ok"), -EINVAL);
	assert_int_equal(ftrack_expr_get(e, &q), -EINVAL);
	ftrack_expr_free(e);

	assert_int_equal(ftrack_expr_new(&e), 0);
	assert_int_equal(ftrack_expr_uuid_list(e, ids, 0), -EINVAL);
	ftrack_expr_free(e);

	assert_int_equal(ftrack_expr_new(&e), 0);
	assert_int_equal(ftrack_expr_str(e, "bad\x01"), -EINVAL);
	ftrack_expr_free(e);
	ftrack_expr_free(NULL);
}

static void test_too_long(void **state)
{
	struct ftrack_expr *e;
	char *big = malloc((1 << 20) + 16);
	const char *q;

	(void)state;
	memset(big, 'a', (1 << 20) + 15);
	big[(1 << 20) + 15] = '\0';
	assert_int_equal(ftrack_expr_new(&e), 0);
	assert_int_equal(ftrack_expr_str(e, big), -E2BIG);
	assert_int_equal(ftrack_expr_get(e, &q), -E2BIG);
	ftrack_expr_free(e);
	assert_int_equal(ftrack_expr_new(&e), 0);
	assert_int_equal(ftrack_expr_raw(e, big), -E2BIG);
	ftrack_expr_free(e);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_basic),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_random_round_trip),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_builder),
		cmocka_unit_test(test_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
