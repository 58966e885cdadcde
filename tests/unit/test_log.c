/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ftrackfs/log.h"

struct captured {
	int n;
	enum log_level level;
	char module[32];
	char line[4096];
};

static void capture(enum log_level level, const char *module, const char *line, void *ud)
{
	struct captured *c = ud;

	c->n++;
	c->level = level;
	snprintf(c->module, sizeof(c->module), "%s", module);
	snprintf(c->line, sizeof(c->line), "%s", line);
}

static void test_level_filter(void **state)
{
	struct captured c = { 0 };

	(void)state;
	log_set_sink(capture, &c);
	log_set_level(LOG_LEVEL_WARN);
	log_info("test", "dropped %d", 1);
	assert_int_equal(c.n, 0);
	log_error("test", "kept %d", 2);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.level, LOG_LEVEL_ERROR);
	assert_string_equal(c.module, "test");
	assert_string_equal(c.line, "kept 2");
	log_set_sink(NULL, NULL);
	log_set_level(LOG_LEVEL_INFO);
}

static void test_one_line_per_entry(void **state)
{
	struct captured c = { 0 };

	(void)state;
	log_set_sink(capture, &c);
	log_warn("remote", "server said: %s", "line one\nline two\r\n");
	assert_null(strchr(c.line, '\n'));
	assert_null(strchr(c.line, '\r'));
	assert_string_equal(c.line, "server said: line one line two  ");
	log_set_sink(NULL, NULL);
}

static void test_errno_preserved(void **state)
{
	(void)state;
	log_set_level(LOG_LEVEL_ERROR);
	errno = EXDEV;
	log_error("test", "to stderr");
	assert_int_equal(errno, EXDEV);
	log_set_level(LOG_LEVEL_INFO);
}

static void test_level_from_string(void **state)
{
	enum log_level l = LOG_LEVEL_INFO;

	(void)state;
	assert_int_equal(log_level_from_string("debug", &l), 0);
	assert_int_equal(l, LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_from_string("verbose", &l), -EINVAL);
	assert_int_equal(log_level_from_string(NULL, &l), -EINVAL);
	assert_int_equal(l, LOG_LEVEL_DEBUG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_level_filter),
		cmocka_unit_test(test_one_line_per_entry),
		cmocka_unit_test(test_errno_preserved),
		cmocka_unit_test(test_level_from_string),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
