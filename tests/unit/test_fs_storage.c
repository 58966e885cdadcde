/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ftrackfs/config.h"
#include "ftrackfs/log.h"
#include "storage.h"

static char tmp[] = "/tmp/ftrackfs-st-XXXXXX";

static void quiet(enum log_level l, const char *m, const char *line, void *ud)
{
	(void)l; (void)m; (void)line; (void)ud;
}

static void put(const char *rel, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void sub(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void link_(const char *target, const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	assert_int_equal(symlink(target, p), 0);
}

static struct config *cfg_for_tmp(void)
{
	char text[2048];
	struct config *cfg = NULL;

	snprintf(text, sizeof(text),
		 "[location hq]\nlocal = yes\nroot = %s/storage\n"
		 "[location la]\n"
		 "[location vendor]\nlocal = yes\nroot = %s/vendor\n"
		 "[pathmap]\nS:\\ = %s/storage\n\\\\192.168.1.240\\storage = %s/storage\n"
		 "/mnt/old = %s/storage\n"
		 "[absolute]\n%s/archive = la\n",
		 tmp, tmp, tmp, tmp, tmp, tmp);
	assert_int_equal(config_parse_string(text, "t", &cfg), 0);
	return cfg;
}

static int setup(void **state)
{
	char p[512];

	(void)state;
	assert_non_null(mkdtemp(tmp));
	sub("storage");
	sub("storage/theproject");
	sub("storage/theproject/seq010");
	put("storage/theproject/seq010/plate.exr", "PLATE");
	put("storage/theproject/ok.txt", "OK");
	sub("storage2");
	put("storage2/x.txt", "STORAGE2");
	sub("vendor");
	put("secret.txt", "SECRET");
	link_("../secret.txt", "storage/escape_rel");
	snprintf(p, sizeof(p), "%s/secret.txt", tmp);
	link_(p, "storage/escape_abs");
	link_("/etc/passwd", "storage/passwd");
	link_("theproject/ok.txt", "storage/inside_link");
	link_("..", "storage/theproject/up");
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_map_path(void **state)
{
	struct config *cfg = cfg_for_tmp();
	char out[1024], want[1024];

	(void)state;
	snprintf(want, sizeof(want), "%s/storage/theproject/seq010/plate.exr", tmp);
	assert_true(storage_map_path(cfg, "S:\\theproject\\seq010\\plate.exr", out, sizeof(out)) > 0);
	assert_string_equal(out, want);
	assert_true(storage_map_path(cfg, "s:/theproject/seq010/plate.exr", out, sizeof(out)) > 0);
	assert_string_equal(out, want);
	assert_true(storage_map_path(cfg, "\\\\192.168.1.240\\storage\\theproject\\seq010\\plate.exr", out, sizeof(out)) > 0);
	assert_string_equal(out, want);
	assert_true(storage_map_path(cfg, "\\\\192.168.1.240\\STORAGE\\theproject\\seq010\\plate.exr", out, sizeof(out)) > 0);
	assert_string_equal(out, want);
	assert_true(storage_map_path(cfg, "/mnt/old/theproject/seq010/plate.exr", out, sizeof(out)) > 0);
	assert_string_equal(out, want);
	/* component boundary: /mnt/older is not under /mnt/old; case matters on POSIX */
	assert_true(storage_map_path(cfg, "/mnt/older/x", out, sizeof(out)) > 0);
	assert_string_equal(out, "/mnt/older/x");
	assert_true(storage_map_path(cfg, "/MNT/old/x", out, sizeof(out)) > 0);
	assert_string_equal(out, "/MNT/old/x");
	/* UNC boundary: \\192.168.1.240\storage2 is another share */
	assert_int_equal(storage_map_path(cfg, "\\\\192.168.1.240\\storage2\\x", out, sizeof(out)), -EACCES);
	/* unmapped drive */
	assert_int_equal(storage_map_path(cfg, "T:\\x", out, sizeof(out)), -EACCES);
	/* relative with backslashes */
	assert_true(storage_map_path(cfg, "theproject\\ok.txt", out, sizeof(out)) > 0);
	assert_string_equal(out, "theproject/ok.txt");
	config_free(cfg);
}

static void test_resolve(void **state)
{
	struct config *cfg = cfg_for_tmp();
	const struct config_location *loc = NULL;
	char rel[1024], p[1024];

	(void)state;
	assert_int_equal(storage_resolve(cfg, "ftrack.unmanaged", "S:\\theproject\\ok.txt", &loc, rel, sizeof(rel)), 0);
	assert_string_equal(loc->name, "hq");
	assert_string_equal(rel, "theproject/ok.txt");

	snprintf(p, sizeof(p), "%s/storage/theproject/ok.txt", tmp);
	assert_int_equal(storage_resolve(cfg, "ftrack.unmanaged", p, &loc, rel, sizeof(rel)), 0);
	assert_string_equal(loc->name, "hq");
	assert_string_equal(rel, "theproject/ok.txt");

	/* prefix on component boundary only */
	snprintf(p, sizeof(p), "%s/storage2/x.txt", tmp);
	assert_int_equal(storage_resolve(cfg, "ftrack.unmanaged", p, &loc, rel, sizeof(rel)), -EACCES);
	/* outside every root */
	assert_int_equal(storage_resolve(cfg, "ftrack.unmanaged", "/etc/passwd", &loc, rel, sizeof(rel)), -EACCES);
	/* the root itself */
	snprintf(p, sizeof(p), "%s/storage", tmp);
	assert_int_equal(storage_resolve(cfg, "ftrack.unmanaged", p, &loc, rel, sizeof(rel)), -EACCES);
	/* [absolute] names a non-local location */
	snprintf(p, sizeof(p), "%s/archive/a/b.exr", tmp);
	assert_int_equal(storage_resolve(cfg, "ftrack.unmanaged", p, &loc, rel, sizeof(rel)), 0);
	assert_string_equal(loc->name, "la");
	assert_string_equal(rel, "a/b.exr");
	/* relative: the component's own location */
	assert_int_equal(storage_resolve(cfg, "vendor", "a/b.exr", &loc, rel, sizeof(rel)), 0);
	assert_string_equal(loc->name, "vendor");
	assert_int_equal(storage_resolve(cfg, "unknown", "a/b.exr", &loc, rel, sizeof(rel)), 0);
	assert_null(loc);
	assert_int_equal(storage_resolve(cfg, "hq", "", &loc, rel, sizeof(rel)), -EACCES);
	config_free(cfg);
}

static void read_expect(struct storage *st, const char *locname, const char *ri, const char *want)
{
	char buf[64] = { 0 };
	int fd = storage_open_component(st, locname, ri, NULL);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), (ssize_t)strlen(want));
	assert_string_equal(buf, want);
	close(fd);
}

static void hostile(int walk)
{
	struct config *cfg = cfg_for_tmp();
	struct storage *st = NULL;
	char p[1024];

	storage_force_walk = walk;
	assert_int_equal(storage_open(cfg, &st), 0);
	read_expect(st, "hq", "theproject/seq010/plate.exr", "PLATE");
	read_expect(st, "ftrack.unmanaged", "S:\\theproject\\seq010\\plate.exr", "PLATE");
	read_expect(st, "ftrack.unmanaged", "\\\\192.168.1.240\\storage\\theproject\\ok.txt", "OK");
	if (!walk)
		read_expect(st, "hq", "inside_link", "OK");	/* a link staying inside is fine */

	assert_int_equal(storage_open_component(st, "hq", "../secret.txt", NULL), -EACCES);
	assert_int_equal(storage_open_component(st, "hq", "../../etc/passwd", NULL), -EACCES);
	assert_int_equal(storage_open_component(st, "hq", "theproject/../../secret.txt", NULL), -EACCES);
	assert_int_equal(storage_open_component(st, "hq", "escape_rel", NULL), -EACCES);
	assert_int_equal(storage_open_component(st, "hq", "escape_abs", NULL), -EACCES);
	assert_int_equal(storage_open_component(st, "hq", "passwd", NULL), -EACCES);
	assert_int_equal(storage_open_component(st, "hq", "theproject/up/../secret.txt", NULL), -EACCES);
	assert_int_equal(storage_open_component(st, "ftrack.unmanaged", "/etc/passwd", NULL), -EACCES);
	assert_int_equal(storage_open_component(st, "ftrack.unmanaged", "S:\\..\\secret.txt", NULL), -EACCES);
	snprintf(p, sizeof(p), "%s/storage/../secret.txt", tmp);
	assert_int_equal(storage_open_component(st, "ftrack.unmanaged", p, NULL), -EACCES);
	snprintf(p, sizeof(p), "%s/secret.txt", tmp);
	assert_int_equal(storage_open_component(st, "ftrack.unmanaged", p, NULL), -EACCES);
	/* a vendor-relative path escaping into a sibling root */
	assert_int_equal(storage_open_component(st, "vendor", "../storage/theproject/ok.txt", NULL), -EACCES);
	/* not local, not found */
	assert_int_equal(storage_open_component(st, "la", "theproject/ok.txt", NULL), -EREMOTE);
	assert_int_equal(storage_open_component(st, "unknown", "theproject/ok.txt", NULL), -EREMOTE);
	assert_int_equal(storage_open_component(st, "hq", "theproject/missing.exr", NULL), -ENOENT);
	storage_close(st);
	config_free(cfg);
	storage_force_walk = 0;
}

static void test_hostile_openat2(void **state)
{
	(void)state;
	hostile(0);
}

static void test_hostile_walk(void **state)
{
	(void)state;
	hostile(1);
}

static void test_missing_root(void **state)
{
	struct config *cfg = NULL;
	struct storage *st = NULL;

	(void)state;
	log_set_sink(quiet, NULL);
	assert_int_equal(config_parse_string("[location hq]\nlocal=yes\nroot=/nonexistent/x\n", "t", &cfg), 0);
	assert_int_equal(storage_open(cfg, &st), 0);
	assert_int_equal(storage_open_component(st, "hq", "a", NULL), -ENOENT);
	storage_close(st);
	config_free(cfg);
	log_set_sink(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_path),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_hostile_openat2),
		cmocka_unit_test(test_hostile_walk),
		cmocka_unit_test(test_missing_root),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
