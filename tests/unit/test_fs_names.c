/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"

static void test_sanitize(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	names_sanitize("sh010", 5, out);
	assert_string_equal(out, "sh010");
	names_sanitize("a/b", 3, out);
	assert_string_equal(out, "a\xe2\x88\x95" "b");
	names_sanitize("a\0b", 3, out);
	assert_string_equal(out, "ab");
	names_sanitize(".", 1, out);
	assert_string_equal(out, "_");
	names_sanitize("..", 2, out);
	assert_string_equal(out, "__");
	names_sanitize("", 0, out);
	assert_string_equal(out, "_");
	names_sanitize("...", 3, out);
	assert_string_equal(out, "...");
	/* accents and quotes survive */
	names_sanitize("Café \"l'été\"", strlen("Café \"l'été\""), out);
	assert_string_equal(out, "Café \"l'été\"");
}

static void test_sanitize_long(void **state)
{
	char in[600], out[NAMES_BUF];
	size_t n;

	(void)state;
	memset(in, 'a', sizeof(in));
	n = names_sanitize(in, sizeof(in), out);
	assert_int_equal(n, NAMES_MAX);
	assert_int_equal(strlen(out), NAMES_MAX);
	/* 254 x 'a' then "é" (2 bytes) must not leave half a character */
	memset(in, 'a', 254);
	memcpy(in + 254, "\xc3\xa9zz", 4);
	n = names_sanitize(in, 258, out);
	assert_int_equal(n, 254);
	/* slashes near the limit */
	memset(in, '/', 200);
	n = names_sanitize(in, 200, out);
	assert_true(n <= NAMES_MAX);
	assert_int_equal(n % 3, 0);
}

static void test_builders(void **state)
{
	char out[NAMES_BUF];

	(void)state;
	names_version(3, out);
	assert_string_equal(out, "v003");
	names_version(0, out);
	assert_string_equal(out, "v000");
	names_version(1234, out);
	assert_string_equal(out, "v1234");
	names_component_file("main", ".exr", out);
	assert_string_equal(out, "main.exr");
	names_component_file("main", "exr", out);
	assert_string_equal(out, "main.exr");
	names_component_file("nukescript", "", out);
	assert_string_equal(out, "nukescript");
	names_component_file("a/b", ".nk", out);
	assert_string_equal(out, "a\xe2\x88\x95" "b.nk");
	names_sequence_member("plate", "1001", 4, ".exr", out);
	assert_string_equal(out, "plate.1001.exr");
	names_sequence_member("plate", "7", 4, ".exr", out);
	assert_string_equal(out, "plate.0007.exr");
	names_sequence_member("plate", "12345", 4, ".exr", out);
	assert_string_equal(out, "plate.12345.exr");
	names_sequence_member("plate", "left", 4, ".exr", out);
	assert_string_equal(out, "plate.left.exr");
	names_sequence_member("plate", "1", 0, "", out);
	assert_string_equal(out, "plate.1");
}

static void test_disambiguate(void **state)
{
	struct names_entry e[5] = { 0 };
	struct names_entry f[5];

	(void)state;
	strcpy(e[0].name, "comp");
	e[0].id = "bbbbbbbb-0000-0000-0000-000000000002";
	strcpy(e[1].name, "comp");
	e[1].id = "aaaaaaaa-0000-0000-0000-000000000001";
	strcpy(e[2].name, "main.exr");
	e[2].id = "11111111-2222-3333-4444-555555555555";
	e[2].keep_ext = true;
	strcpy(e[3].name, "main.exr");
	e[3].id = "01234567-89ab-cdef-0123-456789abcdef";
	e[3].keep_ext = true;
	strcpy(e[4].name, "other");
	e[4].id = "x";
	memcpy(f, e, sizeof(e));

	assert_int_equal(names_disambiguate(e, 5), 0);
	assert_string_equal(e[1].name, "comp");		/* smallest id keeps it */
	assert_string_equal(e[0].name, "comp~bbbbbbbb");
	assert_string_equal(e[3].name, "main.exr");
	assert_string_equal(e[2].name, "main~11111111.exr");
	assert_string_equal(e[4].name, "other");

	/* order-independent */
	struct names_entry g[5] = { f[4], f[3], f[2], f[1], f[0] };
	assert_int_equal(names_disambiguate(g, 5), 0);
	assert_string_equal(g[0].name, "other");
	assert_string_equal(g[1].name, "main.exr");
	assert_string_equal(g[2].name, "main~11111111.exr");
	assert_string_equal(g[3].name, "comp");
	assert_string_equal(g[4].name, "comp~bbbbbbbb");
}

static void test_disambiguate_taken_suffix(void **state)
{
	struct names_entry e[3] = { 0 };

	(void)state;
	/* someone literally named "x~bbbbbbbb": the duplicate needs the long id */
	strcpy(e[0].name, "x");
	e[0].id = "aaaaaaaa-1";
	strcpy(e[1].name, "x");
	e[1].id = "bbbbbbbb-2";
	strcpy(e[2].name, "x~bbbbbbbb");
	e[2].id = "cccc";
	assert_int_equal(names_disambiguate(e, 3), 0);
	assert_string_equal(e[0].name, "x");
	assert_string_equal(e[1].name, "x~bbbbbbbb2");
	assert_string_equal(e[2].name, "x~bbbbbbbb");
	assert_string_not_equal(e[0].name, e[1].name);
}

static void test_disambiguate_many(void **state)
{
	struct names_entry e[50];
	char ids[50][16];

	(void)state;
	memset(e, 0, sizeof(e));
	for (int i = 0; i < 50; i++) {
		strcpy(e[i].name, "same");
		snprintf(ids[i], sizeof(ids[i]), "id%02d", i);
		e[i].id = ids[i];
	}
	assert_int_equal(names_disambiguate(e, 50), 0);
	for (int i = 0; i < 50; i++)
		for (int j = i + 1; j < 50; j++)
			assert_string_not_equal(e[i].name, e[j].name);
}

static void test_probe(void **state)
{
	(void)state;
	assert_true(names_is_probe(".hidden"));
	assert_true(names_is_probe(".Trash"));
	assert_true(names_is_probe(".Trash-1000"));
	assert_true(names_is_probe("desktop.ini"));
	assert_true(names_is_probe("Thumbs.db"));
	assert_true(names_is_probe(".DS_Store"));
	assert_true(names_is_probe("autorun.inf"));
	assert_true(names_is_probe(".xdg-volume-info"));
	assert_true(names_is_probe(".directory"));
	assert_false(names_is_probe("projects"));
	assert_false(names_is_probe("main.exr"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_sanitize_long),
		cmocka_unit_test(test_builders),
		cmocka_unit_test(test_disambiguate),
		cmocka_unit_test(test_disambiguate_taken_suffix),
		cmocka_unit_test(test_disambiguate_many),
		cmocka_unit_test(test_probe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
