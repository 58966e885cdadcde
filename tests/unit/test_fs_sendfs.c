/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_fs_sendfs.c - what writes into a location folder mean, on a
 * hand-built tree in a real cache: twins, placeholders with the source's
 * size and mtime, temp names (rsync, GIO) renamed onto components,
 * copy_file_range by reference, members covered by their sequence, names
 * with no twin, the CLI's xattr, and placeholders restored after a refresh.
 * No FUSE and no network (the engine is never stepped).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
/* cmocka's allocator checks would pair our free() with the library's malloc() */
#undef malloc
#undef calloc
#undef realloc
#undef free

#include "fs.h"
#include "ftrackfs/cache.h"
#include "ftrackfs/config.h"
#include "ftrackfs/log.h"
#include "send.h"
#include "sendfs.h"
#include "sync.h"

int sync_ensure_dir(struct sync *s, uint64_t ino)
{
	(void)s; (void)ino;
	return 0;
}

static void quiet(enum log_level l, const char *m, const char *line, void *ud)
{
	(void)l; (void)m; (void)line; (void)ud;
}

#define LA "ba9f8e45-1d01-5fd3-8eaf-898bda9dfe57"
#define PROJ "21a0f3cc-a33a-5bff-8879-6ca4d9ba95a5"
#define SHOT "d109c5a5-7aff-5003-8ca7-4b7ded4a3944"
#define ASSET "9569bbe4-5a16-5c3b-8418-72e9c958f00b"
#define VER "62d98bcb-4654-5da7-bcfe-c49ba76e0038"
#define MAIN "dbb5838d-555d-5957-b20f-877836e2e727"
#define PLATE "a34c5b99-f616-5ca3-9753-d98cf322b04f"
#define F1001 "463262f6-ea4d-53b3-9895-bd43f56a82d4"

#define MTIME 1714554420000000000LL

struct env {
	char dir[64];
	struct config *cfg;
	struct cache *cache;
	struct send *send;
	struct fs fs;
	struct sendfs *sf;
	uint64_t projects, view, v_proj;
};

static uint64_t put(struct env *e, uint64_t parent, const char *key, const char *name, const char *id,
		    const char *type, uint8_t node, uint32_t kind, uint64_t size, const char *loc)
{
	struct cache_child c;
	struct fs_blob b;
	uint64_t ino;

	memset(&c, 0, sizeof(c));
	memset(&b, 0, sizeof(b));
	b.version = FS_BLOB_VERSION;
	b.node = node;
	if (loc)
		snprintf(b.loc_id, sizeof(b.loc_id), "%s", loc);
	c.key = key;
	c.name = name;
	c.attr.kind = kind;
	c.attr.mode = kind == CACHE_KIND_DIR ? 0555 : 0444;
	c.attr.nlink = 1;
	c.attr.flags = node;
	c.attr.size = size;
	c.attr.mtime_ns = MTIME;
	c.ftrack_id = id;
	c.type = type;
	c.blob = &b;
	c.blob_len = sizeof(b);
	assert_true(cache_put_child(e->cache, parent, &c, &ino) >= 0);
	return ino;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct cache_options co = { .no_sync = true };
	struct send_options so = { 0 };
	uint64_t p, sh, a, v, pl, locs;

	snprintf(e->dir, sizeof(e->dir), "/tmp/ftrackfs-sendfs-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	assert_int_equal(config_parse_string("[location hq]\nparty = hq\n", "t", &e->cfg), 0);
	assert_int_equal(cache_open(e->dir, "http://ftrack.test", "alice", &co, &e->cache), 0);
	so.cfg = e->cfg;
	so.cache = e->cache;
	assert_int_equal(send_new(&so, &e->send), 0);
	e->fs.cfg = e->cfg;
	e->fs.cache = e->cache;
	assert_int_equal(sendfs_new(&e->fs, e->send, &e->sf), 0);

	/* projects/theproject/sh010/comp/v001/{main.exr, plate/plate.1001.exr} */
	e->projects = put(e, CACHE_ROOT_INO, "v:projects", "projects", NULL, NULL, FS_NODE_PROJECTS,
			  CACHE_KIND_DIR, 0, NULL);
	put(e, CACHE_ROOT_INO, "v:ctl", ".ftrackfs", NULL, NULL, FS_NODE_CTL, CACHE_KIND_DIR, 0, NULL);
	p = put(e, e->projects, "p:" PROJ, "theproject", PROJ, "Project", FS_NODE_PROJECT,
		CACHE_KIND_DIR, 0, NULL);
	sh = put(e, p, "c:" SHOT, "sh010", SHOT, "Shot", FS_NODE_CONTEXT, CACHE_KIND_DIR, 0, NULL);
	a = put(e, sh, "a:" ASSET, "comp", ASSET, "Asset", FS_NODE_ASSET, CACHE_KIND_DIR, 0, NULL);
	v = put(e, a, "V:" VER, "v001", VER, "AssetVersion", FS_NODE_VERSION, CACHE_KIND_DIR, 0, NULL);
	put(e, v, "m:" MAIN, "main.exr", MAIN, "FileComponent", FS_NODE_COMPONENT, CACHE_KIND_FILE, 2997,
	    NULL);
	pl = put(e, v, "m:" PLATE, "plate", PLATE, "SequenceComponent", FS_NODE_COMPONENT_DIR,
		 CACHE_KIND_DIR, 8843, NULL);
	put(e, pl, "m:" F1001, "plate.1001.exr", F1001, "FileComponent", FS_NODE_MEMBER, CACHE_KIND_FILE,
	    562, NULL);
	/* locations/la/ holds only theproject so far */
	locs = put(e, CACHE_ROOT_INO, "v:locations", "locations", NULL, NULL, FS_NODE_LOCATIONS,
		   CACHE_KIND_DIR, 0, NULL);
	e->view = put(e, locs, "L:" LA, "la", LA, "Location", FS_NODE_LOCATION, CACHE_KIND_DIR, 0, NULL);
	e->v_proj = put(e, e->view, "l:" LA ":" PROJ, "theproject", PROJ, "Project", FS_NODE_LDIR,
			CACHE_KIND_DIR, 0, LA);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	sendfs_free(e->sf);
	send_free(e->send);
	cache_close(e->cache);
	config_free(e->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

static int pending(struct env *e, const char *cid, struct cache_outbox *ret)
{
	return cache_outbox_find_pending(e->cache, cid, LA, ret);
}

/* mkdir -p locations/la/theproject/sh010/comp/v001 */
static uint64_t mkdirs(struct env *e)
{
	struct cache_entry ce;
	uint64_t d = e->v_proj;
	const char *names[] = { "sh010", "comp", "v001" };

	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(sendfs_mkdir(e->sf, d, names[i], &ce), 0);
		assert_int_equal(ce.attr.kind, CACHE_KIND_DIR);
		assert_int_equal(ce.attr.mode, 0755);
		d = ce.ino;
	}
	return d;
}

static void test_mkdir_create_release_commits(void **state)
{
	struct env *e = *state;
	struct cache_entry ce;
	struct cache_outbox o;
	bool temp;
	uint64_t v = mkdirs(e);

	assert_int_equal(pending(e, VER, &o), 0);	/* directories send nothing */
	assert_int_equal(sendfs_create(e->sf, v, "main.exr", &ce, &temp), 0);
	assert_false(temp);
	assert_int_equal(ce.attr.size, 2997);		/* the source's size and mtime */
	assert_int_equal(ce.attr.mtime_ns, MTIME);
	assert_string_equal(ce.ftrack_id, MAIN);
	assert_int_equal(pending(e, MAIN, &o), 0);	/* not before the file is closed */
	assert_int_equal(sendfs_release(e->sf, ce.ino, 2997), 0);
	assert_int_equal(pending(e, MAIN, &o), 1);
	assert_string_equal(o.dst_path, "theproject/sh010/comp/v001/main.exr");
	/* a second copy changes nothing */
	assert_int_equal(sendfs_create(e->sf, v, "main.exr", &ce, &temp), 0);
	assert_int_equal(sendfs_release(e->sf, ce.ino, 0), 0);
}

static void test_sequence_dir_covers_members(void **state)
{
	struct env *e = *state;
	struct cache_entry ce, m;
	struct cache_outbox o;
	bool temp;
	uint64_t v = mkdirs(e);

	assert_int_equal(sendfs_mkdir(e->sf, v, "plate", &ce), 0);
	assert_int_equal(pending(e, PLATE, &o), 1);
	assert_int_equal(sendfs_create(e->sf, ce.ino, "plate.1001.exr", &m, &temp), 0);
	assert_int_equal(sendfs_release(e->sf, m.ino, 562), 0);
	assert_int_equal(pending(e, F1001, &o), 0);	/* the sequence brings it */
	/* wrong kinds */
	assert_int_equal(sendfs_create(e->sf, v, "plate", &ce, &temp), -EISDIR);
	assert_int_equal(sendfs_mkdir(e->sf, v, "main.exr", &ce), -ENOTDIR);
}

static void test_names_without_twin(void **state)
{
	struct env *e = *state;
	struct cache_entry ce;
	bool temp;

	assert_int_equal(sendfs_mkdir(e->sf, e->v_proj, "nope", &ce), -EINVAL);
	assert_int_equal(sendfs_create(e->sf, e->v_proj, "notes.txt", &ce, &temp), -EINVAL);
	/* projects/ is no view */
	assert_int_equal(sendfs_mkdir(e->sf, e->projects, "x", &ce), -ENOENT);
}

static void test_rsync_temp_then_rename(void **state)
{
	struct env *e = *state;
	struct cache_entry ce, got;
	struct cache_outbox o;
	struct cache_attr a;
	struct stat st;
	bool temp;
	uint64_t v = mkdirs(e);

	assert_int_equal(sendfs_create(e->sf, v, ".main.exr.YnDwai", &ce, &temp), 0);
	assert_true(temp);
	sendfs_wrote(e->sf, ce.ino, 2997);
	assert_int_equal(sendfs_release(e->sf, ce.ino, 2997), 0);
	assert_int_equal(pending(e, MAIN, &o), 0);
	/* rsync sets the source's times on the temp file, then renames */
	memset(&st, 0, sizeof(st));
	st.st_mtim.tv_sec = 1700000000;
	assert_int_equal(sendfs_setattr(e->sf, ce.ino, &st, true, false, &a), 0);
	assert_int_equal(sendfs_rename(e->sf, v, ".main.exr.YnDwai", v, "main.exr"), 0);
	assert_int_equal(pending(e, MAIN, &o), 1);
	assert_int_equal(cache_lookup_entry(e->cache, v, ".main.exr.YnDwai", &got), 0);
	assert_int_equal(cache_lookup_entry(e->cache, v, "main.exr", &got), 1);
	assert_int_equal(got.attr.size, 2997);
	/* times set on the placeholder are kept: a second rsync finds it equal */
	st.st_mtim.tv_sec = 1700000001;
	assert_int_equal(sendfs_setattr(e->sf, got.ino, &st, true, false, &a), 0);
	assert_int_equal(cache_lookup_entry(e->cache, v, "main.exr", &got), 1);
	assert_int_equal(got.attr.mtime_ns, 1700000001LL * 1000000000LL);
	assert_int_equal(got.attr.size, 2997);
	/* a temp name renamed onto a name with no twin */
	assert_int_equal(sendfs_create(e->sf, v, ".goutputstream-ABC123", &ce, &temp), 0);
	assert_int_equal(sendfs_rename(e->sf, v, ".goutputstream-ABC123", v, "other.exr"), -EINVAL);
	assert_int_equal(sendfs_unlink(e->sf, v, ".goutputstream-ABC123"), 0);
	assert_int_equal(sendfs_unlink(e->sf, v, "main.exr"), -EPERM);
}

static void test_copy_by_reference(void **state)
{
	struct env *e = *state;
	struct cache_entry ce, src;
	struct cache_outbox o;
	bool temp;
	uint64_t v = mkdirs(e), pv;

	assert_int_equal(cache_ino_lookup(e->cache, "V:" VER, &pv), 1);
	assert_int_equal(cache_lookup_entry(e->cache, pv, "main.exr", &src), 1);
	assert_int_equal(sendfs_create(e->sf, v, "main.exr", &ce, &temp), 0);
	assert_int_equal(sendfs_copy(e->sf, src.ino, ce.ino), 2997);
	assert_int_equal(pending(e, MAIN, &o), 1);
	/* a directory is no source */
	assert_int_equal(sendfs_copy(e->sf, pv, ce.ino), -EXDEV);
}

static void test_xattr_send_and_restore(void **state)
{
	struct env *e = *state;
	struct cache_entry ce;
	struct cache_outbox o;
	uint64_t pv, v_sh;

	assert_int_equal(cache_ino_lookup(e->cache, "V:" VER, &pv), 1);
	/* the version: its two components (members ride with the sequence) */
	assert_int_equal(sendfs_send_xattr(e->sf, pv, "la"), 2);
	assert_int_equal(pending(e, MAIN, &o), 1);
	assert_string_equal(o.dst_path, "theproject/sh010/comp/v001/main.exr");
	assert_int_equal(pending(e, PLATE, &o), 1);
	assert_int_equal(pending(e, F1001, &o), 0);
	assert_int_equal(sendfs_send_xattr(e->sf, pv, "nowhere"), -ENOENT);
	assert_int_equal(sendfs_send_xattr(e->sf, pv, "ftrack.unmanaged"), -ENXIO);
	/* a refresh of la's view dropped everything but theproject: put back */
	sendfs_restore_view(e->sf, LA);
	assert_int_equal(cache_lookup_entry(e->cache, e->v_proj, "sh010", &ce), 1);
	v_sh = ce.ino;
	assert_int_equal(cache_lookup_entry(e->cache, v_sh, "comp", &ce), 1);
	assert_int_equal(cache_lookup_entry(e->cache, ce.ino, "v001", &ce), 1);
	assert_int_equal(cache_lookup_entry(e->cache, ce.ino, "main.exr", &ce), 1);
	assert_string_equal(ce.ftrack_id, MAIN);
	assert_int_equal(ce.attr.mode, 0644);
}

static void test_jobs_dir(void **state)
{
	struct env *e = *state;
	struct cache_job j;
	struct cache_entry ce;
	uint64_t jobs;
	char *text = NULL;

	memset(&j, 0, sizeof(j));
	snprintf(j.job_id, sizeof(j.job_id), "0123456789abcdef01234567");
	snprintf(j.status, sizeof(j.status), "running");
	assert_int_equal(cache_job_put(e->cache, &j), 0);
	assert_int_equal(sendfs_jobs_init(e->sf), 0);
	assert_int_equal(cache_ino_lookup(e->cache, "v:jobs", &jobs), 1);
	assert_int_equal(cache_lookup_entry(e->cache, jobs, "0123456789abcdef01234567.json", &ce), 1);
	assert_int_equal(ce.attr.flags, FS_NODE_JOB_FILE);
	assert_true(sendfs_render_job(e->sf, &ce, &text) > 0);
	assert_non_null(strstr(text, "\"status\": \"running\""));
	free(text);
	snprintf(j.status, sizeof(j.status), "done");
	assert_int_equal(cache_job_put(e->cache, &j), 0);
	sendfs_job_changed(e->sf, j.job_id);
	assert_true(sendfs_render_job(e->sf, &ce, &text) > 0);
	assert_non_null(strstr(text, "\"status\": \"done\""));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mkdir_create_release_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequence_dir_covers_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_without_twin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsync_temp_then_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_by_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattr_send_and_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs_dir, setup, teardown),
	};

	log_set_sink(quiet, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
