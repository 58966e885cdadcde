/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
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

static void quiet(enum log_level l, const char *m, const char *line, void *ud)
{
	(void)l; (void)m; (void)line; (void)ud;
}

static void test_defaults_and_env(void **state)
{
	struct config *cfg = NULL;

	(void)state;
	setenv("FTRACK_SERVER", "http://127.0.0.1:1", 1);
	setenv("FTRACK_API_USER", "alice", 1);
	setenv("FTRACK_API_KEY", "secret", 1);
	unsetenv("ACCSYN_WORKSPACE");
	setenv("ACCSYN_DOMAIN", "company", 1);
	setenv("XDG_CACHE_HOME", "/tmp/xdgc", 1);
	assert_int_equal(config_parse_string(NULL, NULL, &cfg), 0);
	assert_string_equal(cfg->ftrack_server, "http://127.0.0.1:1");
	assert_string_equal(cfg->ftrack_user, "alice");
	assert_string_equal(cfg->ftrack_key, "secret");
	assert_string_equal(cfg->accsyn_workspace, "company");
	assert_null(cfg->accsyn_key);
	assert_int_equal(cfg->ttl_s, 60);
	assert_int_equal(cfg->first_fetch_timeout_s, 10);
	assert_string_equal(cfg->cache_dir, "/tmp/xdgc/ftrackfs");
	config_free(cfg);
}

static const char demo[] =
	"# demo\n"
	"[general]\n"
	"ttl = 5\n"
	"first_fetch_timeout = 3\n"
	"cache_dir = /var/tmp/c/\n"
	"\n"
	"[location hq]\n"
	"local = yes\n"
	"root = /storage/\n"
	"\n"
	"[location \"lisa@vendor.com\"]\n"
	"party = lisa@vendor.com\n"
	"\n"
	"[location la]\n"
	"party = site-la\n"
	"\n"
	"[pathmap]\n"
	"S:\\ = /storage\n"
	"\\\\192.168.1.240\\storage = /storage\n"
	"\n"
	"[absolute]\n"
	"; paths under /storage are hq's\n"
	"/storage = hq\n";

static void test_parse_full(void **state)
{
	struct config *cfg = NULL;
	const struct config_location *l;

	(void)state;
	assert_int_equal(config_parse_string(demo, "demo", &cfg), 0);
	assert_int_equal(cfg->ttl_s, 5);
	assert_int_equal(cfg->first_fetch_timeout_s, 3);
	assert_string_equal(cfg->cache_dir, "/var/tmp/c");
	assert_int_equal(cfg->n_locations, 3);
	l = config_location(cfg, "hq");
	assert_non_null(l);
	assert_true(l->is_local);
	assert_string_equal(l->root, "/storage");
	assert_string_equal(l->party, "hq");
	l = config_location(cfg, "lisa@vendor.com");
	assert_non_null(l);
	assert_false(l->is_local);
	l = config_location(cfg, "la");
	assert_string_equal(l->party, "site-la");
	assert_null(config_location(cfg, "nope"));
	assert_int_equal(cfg->n_pathmaps, 2);
	assert_string_equal(cfg->pathmaps[0].from, "S:\\");
	assert_string_equal(cfg->pathmaps[1].from, "\\\\192.168.1.240\\storage");
	assert_string_equal(cfg->pathmaps[1].to, "/storage");
	assert_int_equal(cfg->n_absolutes, 1);
	assert_string_equal(cfg->absolutes[0].location, "hq");
	config_free(cfg);
}

static void test_errors(void **state)
{
	static const char *const bad[] = {
		"ttl = 5\n",				/* outside a section */
		"[general]\nttl = 0\n",
		"[general]\nttl = -3\n",
		"[general]\nttl = 5x\n",
		"[general]\nnope = 1\n",
		"[general]\ncache_dir = relative\n",
		"[general\n",
		"[weird]\n",
		"[location hq]\nlocal = yes\n",	/* local needs a root */
		"[location hq]\nroot = rel\n",
		"[location hq]\nlocal = maybe\n",
		"[location hq]\napi_key = x\n",		/* keys never come from the file */
		"[pathmap]\nS:\\ = relative\n",
		"[absolute]\n/storage = unknown\n",
		"[absolute]\nrel = hq\n[location hq]\n",
		"[general]\njunk line\n",
		"[send]\npriority =\n",
		"[send]\npriority = la,,hq\n",
		"[send]\nsource = la\n",
	};
	struct config *cfg = NULL;

	(void)state;
	log_set_sink(quiet, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = NULL;
		assert_int_equal(config_parse_string(bad[i], "t", &cfg), -EINVAL);
		assert_null(cfg);
	}
	log_set_sink(NULL, NULL);
}

static void test_send_priority(void **state)
{
	struct config *cfg = NULL;

	(void)state;
	assert_int_equal(config_parse_string("[send]\npriority = la ,  lisa@vendor.com,hq\n", "t", &cfg), 0);
	assert_int_equal(cfg->n_source_priority, 3);
	assert_string_equal(cfg->source_priority[0], "la");
	assert_string_equal(cfg->source_priority[1], "lisa@vendor.com");
	assert_string_equal(cfg->source_priority[2], "hq");
	config_free(cfg);

	/* a later key replaces the earlier list */
	cfg = NULL;
	assert_int_equal(config_parse_string("[send]\npriority = la\npriority = hq\n", "t", &cfg), 0);
	assert_int_equal(cfg->n_source_priority, 1);
	assert_string_equal(cfg->source_priority[0], "hq");
	config_free(cfg);

	cfg = NULL;
	assert_int_equal(config_parse_string("[general]\nttl = 5\n", "t", &cfg), 0);
	assert_int_equal(cfg->n_source_priority, 0);
	assert_null(cfg->source_priority);
	config_free(cfg);
}

static void test_load_file(void **state)
{
	char dir[] = "/tmp/ftrackfs-cfg-XXXXXX";
	char path[256];
	struct config *cfg = NULL;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ftrackfs", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/ftrackfs/config", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(demo, f);
	fclose(f);

	/* explicit file */
	assert_int_equal(config_load(path, &cfg), 0);
	assert_int_equal(cfg->ttl_s, 5);
	assert_non_null(cfg->path);
	config_free(cfg);

	/* default file from XDG_CONFIG_HOME */
	setenv("XDG_CONFIG_HOME", dir, 1);
	assert_int_equal(config_load(NULL, &cfg), 0);
	assert_int_equal(cfg->ttl_s, 5);
	config_free(cfg);

	/* missing explicit file is an error, missing default is not */
	log_set_sink(quiet, NULL);
	assert_int_equal(config_load("/nonexistent/ftrackfs.conf", &cfg), -ENOENT);
	log_set_sink(NULL, NULL);
	unlink(path);
	assert_int_equal(config_load(NULL, &cfg), 0);
	assert_null(cfg->path);
	assert_int_equal(cfg->ttl_s, 60);
	config_free(cfg);
	snprintf(path, sizeof(path), "%s/ftrackfs", dir);
	rmdir(path);
	rmdir(dir);
}

/* fs/examples/demo.conf, as scripts/demo.sh fills it in, is valid */
static void test_example_config(void **state)
{
	const char *src = getenv("FTRACKFS_SOURCE_ROOT");
	char path[1024], *text, *out, *at;
	struct config *cfg = NULL;
	const struct config_location *l;
	FILE *f;
	long n;

	(void)state;
	if (!src)
		skip();
	snprintf(path, sizeof(path), "%s/fs/examples/demo.conf", src);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	out = calloc(1, (size_t)n * 4 + 64);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	/* replace every @STORAGE@ */
	for (char *p = text; (at = strstr(p, "@STORAGE@")); p = at + 9) {
		strncat(out, p, (size_t)(at - p));
		strcat(out, "/srv/demo/storage");
		if (!strstr(at + 9, "@STORAGE@")) {
			strcat(out, at + 9);
			break;
		}
	}
	assert_int_equal(config_parse_string(out, path, &cfg), 0);
	l = config_location(cfg, "hq");
	assert_non_null(l);
	assert_true(l->is_local);
	assert_string_equal(l->root, "/srv/demo/storage/hq");
	assert_non_null(config_location(cfg, "lisa@vendor.com"));
	assert_int_equal(cfg->n_pathmaps, 2);
	assert_int_equal(cfg->n_absolutes, 1);
	config_free(cfg);
	free(text);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_env),
		cmocka_unit_test(test_parse_full),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_send_priority),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_example_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
