/* SPDX-License-Identifier: Apache-2.0 */
/* cache/: every operation, the corruption paths, map growth. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
/* cmocka's allocator checks would pair our free() with cache/'s malloc():
 * the library is not built against cmocka, so use the real allocator. */
#undef malloc
#undef calloc
#undef realloc
#undef free
#include <lmdb.h>

#include "cache_i.h"
#include "ftrackfs/cache.h"
#include "ftrackfs/log.h"
#include "test_cache_helpers.h"

struct fx {
	char *dir;
	struct cache *c;
};

static struct cache_options small_opts = { .map_size = 1 << 20, .no_sync = true };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = make_tmpdir();
	assert_non_null(f->dir);
	assert_int_equal(cache_open(f->dir, SERVER, USER, &small_opts, &f->c), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	close_and_remove(f->c, f->dir);
	free(f);
	return 0;
}

/* ---- log capture ---- */

static char last_log[4096];
static int n_warn;

static void capture(enum log_level level, const char *module, const char *line, void *ud)
{
	(void)module;
	(void)ud;
	if (level <= LOG_LEVEL_WARN)
		n_warn++;
	snprintf(last_log, sizeof(last_log), "%s", line);
}

/* ---- environment ---- */

static void test_open_creates_private_dir(void **state)
{
	struct fx *f = *state;
	struct cache_info info;
	struct stat st;
	char p[4200];

	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(p, sizeof(p), "%s/data.mdb", f->dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(cache_info(f->c, &info), 0);
	assert_string_equal(info.server_url, SERVER);
	assert_string_equal(info.user, USER);
	assert_int_equal(info.format_version, CACHE_FORMAT_VERSION);
	assert_true(info.created_ns > 0);
	assert_int_equal(info.next_ino, 2);
	assert_int_equal(info.n_rebuilds, 0);
}

static void test_open_default_dir_under_xdg(void **state)
{
	struct fx *f = *state;
	char *old = getenv("XDG_CACHE_HOME") ? strdup(getenv("XDG_CACHE_HOME")) : NULL;
	char xdg[4200], hex[17], expect[4400];
	struct cache_info info;
	struct cache *c;

	snprintf(xdg, sizeof(xdg), "%s/xdg", f->dir);
	setenv("XDG_CACHE_HOME", xdg, 1);
	assert_int_equal(cache_open(NULL, "https://other.example", "bob", &small_opts, &c), 0);
	cache_identity_hash("https://other.example", "bob", hex);
	snprintf(expect, sizeof(expect), "%s/ftrackfs/%s", xdg, hex);
	assert_int_equal(cache_info(c, &info), 0);
	assert_string_equal(info.path, expect);
	cache_close(c);
	if (old)
		setenv("XDG_CACHE_HOME", old, 1);
	else
		unsetenv("XDG_CACHE_HOME");
	free(old);
}

static void test_open_twice_is_busy(void **state)
{
	struct fx *f = *state;
	struct cache *c2 = NULL;

	log_set_sink(capture, NULL);
	assert_int_equal(cache_open(f->dir, SERVER, USER, &small_opts, &c2), -EBUSY);
	log_set_sink(NULL, NULL);
	assert_null(c2);
}

static void test_remote_fs_types(void **state)
{
	(void)state;
	assert_true(cache_fs_type_is_remote(0x6969));		/* NFS */
	assert_true(cache_fs_type_is_remote(0x65735546));	/* FUSE */
	assert_true(cache_fs_type_is_remote(0xff534d42));	/* CIFS */
	assert_true(cache_fs_type_is_remote(0xfe534d42));	/* SMB2 */
	assert_false(cache_fs_type_is_remote(0xef53));		/* ext4 */
	assert_false(cache_fs_type_is_remote(0x01021994));	/* tmpfs */
	assert_false(cache_fs_type_is_remote(0x9123683e));	/* btrfs */
}

static void test_errno_table(void **state)
{
	(void)state;
	assert_int_equal(cache_errno_from_mdb(0), 0);
	assert_int_equal(cache_errno_from_mdb(EACCES), -EACCES);
	assert_int_equal(cache_errno_from_mdb(MDB_NOTFOUND), -ENOENT);
	assert_int_equal(cache_errno_from_mdb(MDB_KEYEXIST), -EEXIST);
	assert_int_equal(cache_errno_from_mdb(MDB_READERS_FULL), -EAGAIN);
	assert_int_equal(cache_errno_from_mdb(MDB_CORRUPTED), -EUCLEAN);
	assert_int_equal(cache_errno_from_mdb(MDB_INVALID), -EUCLEAN);
	assert_int_equal(cache_errno_from_mdb(MDB_MAP_FULL), -ENOSPC);
	assert_int_equal(cache_errno_from_mdb(MDB_PANIC), -EIO);
}

static void test_bad_arguments(void **state)
{
	struct fx *f = *state;
	struct cache *c;
	uint64_t ino;
	char longkey[CACHE_KEY_MAX + 2];

	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_int_equal(cache_open(f->dir, NULL, USER, NULL, &c), -EINVAL);
	assert_int_equal(cache_open(f->dir, "", USER, NULL, &c), -EINVAL);
	assert_int_equal(cache_ino_get(f->c, "", &ino), -EINVAL);
	assert_int_equal(cache_ino_get(f->c, longkey, &ino), -EINVAL);
	assert_int_equal(cache_ino_lookup(f->c, NULL, &ino), -EINVAL);
	cache_close(NULL);
	cache_dir_free(NULL);
	cache_changes_free(NULL);
}

/* ---- keys and inodes ---- */

static void test_inodes_stable_never_reused(void **state)
{
	struct fx *f = *state;
	uint64_t a, b, a2, x;
	struct cache_child ch = mkchild("p:aaaa", "a", CACHE_KIND_FILE, 1);

	assert_int_equal(cache_ino_lookup(f->c, "p:aaaa", &x), 0);
	assert_int_equal(cache_ino_get(f->c, "p:aaaa", &a), 1);
	assert_int_equal(a, 2);	/* 1 is FUSE_ROOT_ID */
	assert_int_equal(cache_ino_get(f->c, "l:loc:aaaa", &b), 1);
	assert_int_not_equal(a, b);
	assert_int_equal(cache_ino_get(f->c, "p:aaaa", &a2), 0);
	assert_int_equal(a, a2);
	assert_int_equal(cache_ino_lookup(f->c, "p:aaaa", &x), 1);
	assert_int_equal(x, a);

	/* removal keeps the key's inode; a new key gets a fresh one */
	assert_int_equal(cache_put_child(f->c, CACHE_ROOT_INO, &ch, &x), 1);
	assert_int_equal(x, a);
	assert_int_equal(cache_remove_child(f->c, CACHE_ROOT_INO, "a", &x), 1);
	assert_int_equal(cache_ino_get(f->c, "p:aaaa", &a2), 0);
	assert_int_equal(a2, a);
	assert_int_equal(cache_ino_get(f->c, "p:bbbb", &x), 1);
	assert_true(x > b);

	/* and across a reopen */
	cache_close(f->c);
	assert_int_equal(cache_open(f->dir, SERVER, USER, &small_opts, &f->c), 0);
	assert_int_equal(cache_ino_get(f->c, "p:aaaa", &a2), 0);
	assert_int_equal(a2, a);
	assert_int_equal(cache_ino_get(f->c, "p:cccc", &a2), 1);
	assert_int_equal(a2, x + 1);
}

/* ---- tree ---- */

static void test_apply_lookup_get_readdir(void **state)
{
	struct fx *f = *state;
	struct cache_child kids[3] = {
		mkchild("p:proj", "theproject", CACHE_KIND_DIR, 0),
		mkchild("p:other", "Other Ünïcødé 'quoted'", CACHE_KIND_DIR, 0),
		mkchild("p:file", "main.exr", CACHE_KIND_FILE, 12345),
	};
	struct cache_changes *ch = NULL;
	struct cache_dirstate st;
	struct cache_entry e;
	struct cache_attr a;
	struct cache_dir *d;
	uint64_t ino, pino;

	kids[2].blob = "resource";
	kids[2].blob_len = 8;
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 0);
	assert_int_equal(st.generation, 0);
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 111, kids, 3, &ch), 0);
	assert_int_equal(ch->n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(ch->v[i].kind, CACHE_CHANGE_ADDED);
	assert_true(ch->generation > 0);
	cache_changes_free(ch);

	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 1);
	assert_true(st.flags & CACHE_DIR_COMPLETE);
	assert_int_equal(st.fetched_ns, 111);
	assert_int_equal(st.n_children, 3);

	assert_int_equal(cache_lookup(f->c, CACHE_ROOT_INO, "main.exr", &ino, &a), 1);
	assert_int_equal(a.kind, CACHE_KIND_FILE);
	assert_int_equal(a.size, 12345);
	assert_int_equal(a.mode, 0444);
	assert_int_equal(cache_lookup(f->c, CACHE_ROOT_INO, "nope", &ino, &a), 0);
	assert_int_equal(cache_lookup(f->c, CACHE_ROOT_INO, "", &ino, &a), 0);
	assert_int_equal(cache_lookup(f->c, 999, "main.exr", &ino, &a), 0);

	assert_int_equal(cache_get(f->c, ino, &e), 1);
	assert_string_equal(e.name, "main.exr");
	assert_int_equal(e.parent, CACHE_ROOT_INO);
	assert_string_equal(e.ftrack_id, "file");
	assert_string_equal(e.type, "FileComponent");
	assert_int_equal(e.blob_len, 8);
	assert_memory_equal(e.blob, "resource", 8);
	assert_int_equal(cache_get(f->c, CACHE_ROOT_INO, &e), 0);
	assert_int_equal(cache_get(f->c, 424242, &e), 0);
	assert_int_equal(cache_lookup_entry(f->c, CACHE_ROOT_INO, "Other Ünïcødé 'quoted'", &e), 1);
	assert_string_equal(e.type, "Context");

	/* readdir: byte order, attributes, resume */
	assert_int_equal(cache_readdir(f->c, CACHE_ROOT_INO, NULL, 0, &d), 0);
	assert_int_equal(d->n, 3);
	assert_true(d->is_end);
	assert_string_equal(d->v[0].name, "Other Ünïcødé 'quoted'");
	assert_string_equal(d->v[1].name, "main.exr");
	assert_string_equal(d->v[2].name, "theproject");
	assert_int_equal(d->v[1].attr.size, 12345);
	assert_int_equal(d->v[1].ino, ino);
	assert_int_equal(d->state.n_children, 3);
	cache_dir_free(d);
	assert_int_equal(cache_readdir(f->c, CACHE_ROOT_INO, NULL, 2, &d), 0);
	assert_int_equal(d->n, 2);
	assert_false(d->is_end);
	cache_dir_free(d);
	assert_int_equal(cache_readdir(f->c, CACHE_ROOT_INO, "main.exr", 0, &d), 0);
	assert_int_equal(d->n, 1);
	assert_string_equal(d->v[0].name, "theproject");
	cache_dir_free(d);
	assert_int_equal(cache_readdir(f->c, CACHE_ROOT_INO, "m", 0, &d), 0);	/* gone name */
	assert_int_equal(d->n, 2);
	cache_dir_free(d);

	/* children under a child directory */
	assert_int_equal(cache_lookup(f->c, CACHE_ROOT_INO, "theproject", &pino, NULL), 1);
	assert_int_equal(cache_dir_state(f->c, pino, &st), 0);
	{
		struct cache_child sub[1] = { mkchild("p:seq", "seq010", CACHE_KIND_DIR, 0) };

		assert_int_equal(cache_dir_apply(f->c, pino, 0, 5, sub, 1, NULL), 0);
		assert_int_equal(cache_readdir(f->c, pino, NULL, 0, &d), 0);
		assert_int_equal(d->n, 1);
		cache_dir_free(d);
		/* a file is not a directory */
		assert_int_equal(cache_dir_apply(f->c, ino, 0, 5, sub, 1, NULL), -ENOTDIR);
		assert_int_equal(cache_dir_apply(f->c, 9999, 0, 5, sub, 1, NULL), -ENOENT);
	}
	/* empty directory snapshot */
	assert_int_equal(cache_readdir(f->c, 9999, NULL, 0, &d), 0);
	assert_int_equal(d->n, 0);
	assert_true(d->is_end);
	cache_dir_free(d);
}

static const struct cache_change *find_change(const struct cache_changes *ch, uint64_t ino)
{
	for (size_t i = 0; i < ch->n; i++) {
		if (ch->v[i].ino == ino)
			return &ch->v[i];
	}
	return NULL;
}

static void test_apply_change_set(void **state)
{
	struct fx *f = *state;
	struct cache_child v1[4] = {
		mkchild("p:a", "a", CACHE_KIND_FILE, 1),
		mkchild("p:b", "b", CACHE_KIND_FILE, 2),
		mkchild("p:c", "c", CACHE_KIND_DIR, 0),
		mkchild("p:d", "d", CACHE_KIND_FILE, 4),
	};
	/* a same; b renamed to b2; c removed (with its subtree); d size changed; e added;
	 * and a swap of names between two entries needs no temporary name */
	struct cache_child v2[4] = {
		mkchild("p:a", "a", CACHE_KIND_FILE, 1),
		mkchild("p:b", "b2", CACHE_KIND_FILE, 2),
		mkchild("p:d", "d", CACHE_KIND_FILE, 40),
		mkchild("p:e", "e", CACHE_KIND_FILE, 5),
	};
	struct cache_child sub[1] = { mkchild("p:csub", "inside", CACHE_KIND_FILE, 9) };
	struct cache_changes *ch;
	const struct cache_change *x;
	struct cache_dirstate st;
	struct cache_entry e;
	uint64_t a, b, c, d, en, csub, gen;

	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, v1, 4, NULL), 0);
	assert_int_equal(cache_ino_lookup(f->c, "p:a", &a), 1);
	assert_int_equal(cache_ino_lookup(f->c, "p:b", &b), 1);
	assert_int_equal(cache_ino_lookup(f->c, "p:c", &c), 1);
	assert_int_equal(cache_ino_lookup(f->c, "p:d", &d), 1);
	assert_int_equal(cache_dir_apply(f->c, c, 0, 1, sub, 1, NULL), 0);
	assert_int_equal(cache_ino_lookup(f->c, "p:csub", &csub), 1);
	assert_int_equal(cache_get(f->c, csub, &e), 1);

	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 1);
	gen = st.generation;
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, gen, 2, v2, 4, &ch), 0);
	assert_true(ch->generation > gen);
	assert_int_equal(ch->n, 4);
	assert_null(find_change(ch, a));	/* identical: not reported */
	x = find_change(ch, b);
	assert_non_null(x);
	assert_int_equal(x->kind, CACHE_CHANGE_RENAMED);
	assert_string_equal(x->name, "b2");
	assert_string_equal(x->old_name, "b");
	x = find_change(ch, c);
	assert_non_null(x);
	assert_int_equal(x->kind, CACHE_CHANGE_REMOVED);
	assert_string_equal(x->name, "c");
	x = find_change(ch, d);
	assert_non_null(x);
	assert_int_equal(x->kind, CACHE_CHANGE_ATTR);
	assert_int_equal(cache_ino_lookup(f->c, "p:e", &en), 1);
	x = find_change(ch, en);
	assert_non_null(x);
	assert_int_equal(x->kind, CACHE_CHANGE_ADDED);
	cache_changes_free(ch);

	assert_int_equal(cache_lookup(f->c, CACHE_ROOT_INO, "b", NULL, NULL), 0);
	assert_int_equal(cache_get(f->c, b, &e), 1);
	assert_string_equal(e.name, "b2");
	assert_int_equal(cache_get(f->c, c, &e), 0);
	assert_int_equal(cache_get(f->c, csub, &e), 0);	/* subtree gone */
	assert_int_equal(cache_dir_state(f->c, c, &st), 0);
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 1);
	assert_int_equal(st.n_children, 4);

	/* swap two names in one apply */
	{
		struct cache_child v3[2] = {
			mkchild("p:a", "e", CACHE_KIND_FILE, 1),
			mkchild("p:e", "a", CACHE_KIND_FILE, 5),
		};
		uint64_t ia, ie;

		assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, st.generation, 3, v3, 2, &ch),
				 0);
		/* a, e renamed; b2 and d removed */
		assert_int_equal(ch->n, 4);
		cache_changes_free(ch);
		assert_int_equal(cache_lookup(f->c, CACHE_ROOT_INO, "e", &ia, NULL), 1);
		assert_int_equal(cache_lookup(f->c, CACHE_ROOT_INO, "a", &ie, NULL), 1);
		assert_int_equal(ia, a);
		assert_int_equal(ie, en);
	}
	/* re-applying the same children: no changes, new generation */
	{
		struct cache_child v3[2] = {
			mkchild("p:a", "e", CACHE_KIND_FILE, 1),
			mkchild("p:e", "a", CACHE_KIND_FILE, 5),
		};
		uint64_t g;

		assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 1);
		g = st.generation;
		assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, g, 4, v3, 2, &ch), 0);
		assert_int_equal(ch->n, 0);
		assert_true(ch->generation > g);
		cache_changes_free(ch);
	}
	/* empty apply removes everything */
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 1);
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, st.generation, 5, NULL, 0, &ch), 0);
	assert_int_equal(ch->n, 2);
	cache_changes_free(ch);
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 1);
	assert_int_equal(st.n_children, 0);
	assert_true(st.flags & CACHE_DIR_COMPLETE);
}

static void test_apply_move_between_dirs(void **state)
{
	struct fx *f = *state;
	struct cache_child top[2] = {
		mkchild("p:A", "A", CACHE_KIND_DIR, 0),
		mkchild("p:B", "B", CACHE_KIND_DIR, 0),
	};
	struct cache_child in_a[1] = { mkchild("p:x", "x", CACHE_KIND_DIR, 0) };
	struct cache_child in_x[1] = { mkchild("p:y", "y", CACHE_KIND_FILE, 3) };
	struct cache_child in_b[1] = { mkchild("p:x", "x-moved", CACHE_KIND_DIR, 0) };
	struct cache_dirstate sa, sa2, sb;
	struct cache_changes *ch;
	struct cache_entry e;
	uint64_t A, B, X, Y;

	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, top, 2, NULL), 0);
	assert_int_equal(cache_ino_lookup(f->c, "p:A", &A), 1);
	assert_int_equal(cache_ino_lookup(f->c, "p:B", &B), 1);
	assert_int_equal(cache_dir_apply(f->c, A, 0, 1, in_a, 1, NULL), 0);
	assert_int_equal(cache_ino_lookup(f->c, "p:x", &X), 1);
	assert_int_equal(cache_dir_apply(f->c, X, 0, 1, in_x, 1, NULL), 0);
	assert_int_equal(cache_ino_lookup(f->c, "p:y", &Y), 1);
	assert_int_equal(cache_dir_state(f->c, A, &sa), 1);
	assert_int_equal(cache_dir_state(f->c, B, &sb), 0);

	assert_int_equal(cache_dir_apply(f->c, B, sb.generation, 2, in_b, 1, &ch), 0);
	assert_int_equal(ch->n, 1);
	assert_int_equal(ch->v[0].kind, CACHE_CHANGE_MOVED);
	assert_int_equal(ch->v[0].ino, X);
	assert_int_equal(ch->v[0].old_parent, A);
	assert_string_equal(ch->v[0].old_name, "x");
	assert_string_equal(ch->v[0].name, "x-moved");
	cache_changes_free(ch);
	assert_int_equal(cache_lookup(f->c, A, "x", NULL, NULL), 0);
	assert_int_equal(cache_dir_state(f->c, A, &sa2), 1);
	assert_true(sa2.generation > sa.generation);	/* A changed too */
	assert_int_equal(sa2.n_children, 0);
	assert_int_equal(cache_get(f->c, X, &e), 1);
	assert_int_equal(e.parent, B);
	assert_int_equal(cache_get(f->c, Y, &e), 1);	/* subtree kept */
	assert_int_equal(e.parent, X);

	/* a directory cannot become its own descendant */
	{
		struct cache_child loop[1] = { mkchild("p:B", "B", CACHE_KIND_DIR, 0) };
		struct cache_dirstate sx;

		assert_int_equal(cache_dir_state(f->c, X, &sx), 1);
		assert_int_equal(cache_dir_apply(f->c, X, sx.generation, 3, loop, 1, NULL), -EINVAL);
		assert_int_equal(cache_put_child(f->c, X, &loop[0], NULL), -EINVAL);
	}
}

static void test_apply_rejects_bad_children(void **state)
{
	struct fx *f = *state;
	struct cache_child dupname[2] = {
		mkchild("p:1", "same", CACHE_KIND_FILE, 0),
		mkchild("p:2", "same", CACHE_KIND_FILE, 0),
	};
	struct cache_child dupkey[2] = {
		mkchild("p:1", "one", CACHE_KIND_FILE, 0),
		mkchild("p:1", "two", CACHE_KIND_FILE, 0),
	};
	struct cache_child bad = mkchild("p:1", "a/b", CACHE_KIND_FILE, 0);
	struct cache_dirstate st;

	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, dupname, 2, NULL), -EINVAL);
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, dupkey, 2, NULL), -EINVAL);
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, &bad, 1, NULL), -EINVAL);
	bad.name = "..";
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, &bad, 1, NULL), -EINVAL);
	bad.name = "ok";
	bad.attr.mode = 040755;	/* type bits are not mode bits */
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, &bad, 1, NULL), -EINVAL);
	bad.attr.mode = 0644;
	bad.attr.kind = 7;
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, &bad, 1, NULL), -EINVAL);
	bad.attr.kind = CACHE_KIND_FILE;
	bad.blob_len = CACHE_BLOB_MAX + 1;
	bad.blob = "x";
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, &bad, 1, NULL), -EINVAL);
	/* nothing was written */
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 0);
}

static void test_generation_guard(void **state)
{
	struct fx *f = *state;
	struct cache_child v1[1] = { mkchild("p:a", "a", CACHE_KIND_FILE, 1) };
	struct cache_child v2[1] = { mkchild("p:b", "b", CACHE_KIND_FILE, 2) };
	struct cache_child local = mkchild("l:x:new", "new", CACHE_KIND_FILE, 3);
	struct cache_dirstate before, after;
	struct cache_dir *d;

	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, v1, 1, NULL), 0);
	/* a refresh reads the generation, then fetches... */
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &before), 1);
	/* ...meanwhile a newer write lands */
	assert_int_equal(cache_put_child(f->c, CACHE_ROOT_INO, &local, NULL), 1);
	/* the stale refresh is refused and changes nothing */
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, before.generation, 9, v2, 1, NULL),
			 -ESTALE);
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &after), 1);
	assert_true(after.generation > before.generation);
	assert_int_equal(after.fetched_ns, 1);
	assert_int_equal(cache_readdir(f->c, CACHE_ROOT_INO, NULL, 0, &d), 0);
	assert_int_equal(d->n, 2);
	assert_string_equal(d->v[0].name, "a");
	assert_string_equal(d->v[1].name, "new");
	cache_dir_free(d);
	/* generation 0 for a directory already written is stale too */
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 9, v2, 1, NULL), -ESTALE);
	/* and the current one works */
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, after.generation, 9, v2, 1, NULL), 0);
	/* a removed and recreated directory never repeats a generation */
	{
		struct cache_child dir = mkchild("p:dir", "dir", CACHE_KIND_DIR, 0);
		struct cache_dirstate s1, s2;
		uint64_t di;

		assert_int_equal(cache_put_child(f->c, CACHE_ROOT_INO, &dir, &di), 1);
		assert_int_equal(cache_dir_apply(f->c, di, 0, 1, v1, 1, NULL), 0);
		assert_int_equal(cache_dir_state(f->c, di, &s1), 1);
		assert_int_equal(cache_remove_child(f->c, CACHE_ROOT_INO, "dir", NULL), 1);
		assert_int_equal(cache_dir_state(f->c, di, &s2), 0);
		assert_int_equal(cache_put_child(f->c, CACHE_ROOT_INO, &dir, &di), 1);
		assert_int_equal(cache_dir_apply(f->c, di, 0, 1, v1, 1, NULL), 0);
		assert_int_equal(cache_dir_state(f->c, di, &s2), 1);
		assert_true(s2.generation > s1.generation);
	}
}

/* ---- cache_dir_apply_many() ---- */

static void test_apply_many(void **state)
{
	struct fx *f = *state;
	struct cache_child top[4] = {
		mkchild("p:A", "A", CACHE_KIND_DIR, 0),
		mkchild("p:B", "B", CACHE_KIND_DIR, 0),
		mkchild("p:C", "C", CACHE_KIND_DIR, 0),
		mkchild("p:F", "F", CACHE_KIND_FILE, 1),
	};
	struct cache_child in_a[2] = {
		mkchild("p:a1", "a1", CACHE_KIND_FILE, 1),
		mkchild("p:a2", "a2", CACHE_KIND_FILE, 2),
	};
	struct cache_child in_b[1] = { mkchild("p:b1", "b1", CACHE_KIND_FILE, 3) };
	/* a1 moves in, then C would contain itself: C is undone as a whole */
	struct cache_child in_c[2] = {
		mkchild("p:a1", "a1", CACHE_KIND_FILE, 1),
		mkchild("p:C", "self", CACHE_KIND_DIR, 0),
	};
	struct cache_child bad = mkchild("p:z", "z/z", CACHE_KIND_FILE, 0);
	struct cache_dirstate sa, sb, sc, sr;
	struct cache_changes *ch[8];
	struct cache_entry e;
	uint64_t A, B, C, F, A1, seq;
	int res[8];

	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, top, 4, NULL), 0);
	assert_int_equal(cache_ino_lookup(f->c, "p:A", &A), 1);
	assert_int_equal(cache_ino_lookup(f->c, "p:B", &B), 1);
	assert_int_equal(cache_ino_lookup(f->c, "p:C", &C), 1);
	assert_int_equal(cache_ino_lookup(f->c, "p:F", &F), 1);
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &sr), 1);
	{
		const struct cache_apply dirs[8] = {
			{ .parent = A, .fetched_ns = 7, .children = in_a, .n = 2 },
			{ .parent = B, .expected_generation = 12345, .children = in_b, .n = 1 },
			{ .parent = C, .children = in_c, .n = 2 },
			{ .parent = F, .children = in_b, .n = 1 },
			{ .parent = 9999, .children = in_b, .n = 1 },
			{ .parent = A, .children = in_b, .n = 1 },	/* A twice */
			{ .parent = B, .children = &bad, .n = 1 },
			{ .parent = CACHE_ROOT_INO, .expected_generation = sr.generation,
			  .fetched_ns = 8, .children = top, .n = 4 },
		};

		seq = f->c->write_seq;
		assert_int_equal(cache_dir_apply_many(f->c, dirs, 8, res, ch), 2);
		assert_int_equal(f->c->write_seq, seq + 1);	/* one commit */
	}
	assert_int_equal(res[0], 0);
	assert_int_equal(res[1], -ESTALE);
	assert_int_equal(res[2], -EINVAL);
	assert_int_equal(res[3], -ENOTDIR);
	assert_int_equal(res[4], -ENOENT);
	assert_int_equal(res[5], -EINVAL);
	assert_int_equal(res[6], -EINVAL);
	assert_int_equal(res[7], 0);	/* the root again, unchanged */
	for (int i = 1; i < 7; i++)
		assert_null(ch[i]);
	assert_non_null(ch[0]);
	assert_int_equal(ch[0]->parent, A);
	assert_int_equal(ch[0]->n, 2);
	assert_int_equal(ch[0]->v[0].kind, CACHE_CHANGE_ADDED);
	assert_non_null(ch[7]);
	assert_int_equal(ch[7]->n, 0);
	assert_true(ch[7]->generation > ch[0]->generation);
	assert_int_equal(cache_dir_state(f->c, A, &sa), 1);
	assert_int_equal(sa.generation, ch[0]->generation);
	assert_int_equal(sa.fetched_ns, 7);
	assert_int_equal(sa.n_children, 2);
	assert_true(sa.flags & CACHE_DIR_COMPLETE);
	for (int i = 0; i < 8; i++)
		cache_changes_free(ch[i]);
	/* C's half-done move was undone: a1 still in A, C never written */
	assert_int_equal(cache_ino_lookup(f->c, "p:a1", &A1), 1);
	assert_int_equal(cache_get(f->c, A1, &e), 1);
	assert_int_equal(e.parent, A);
	assert_int_equal(cache_dir_state(f->c, C, &sc), 0);
	assert_int_equal(cache_lookup(f->c, C, "a1", NULL, NULL), 0);
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &sr), 1);
	assert_int_equal(sr.fetched_ns, 8);
	assert_int_equal(cache_dir_state(f->c, B, &sb), 0);
	assert_int_equal(cache_dir_apply(f->c, B, 0, 8, in_b, 1, NULL), 0);
	assert_int_equal(cache_dir_state(f->c, B, &sb), 1);

	/* Guards are against the state before the batch: B takes a1 out of A,
	 * A (fetched at the same time) still applies, without a1. */
	{
		struct cache_child b2[2] = {
			mkchild("p:a1", "from-a", CACHE_KIND_FILE, 1),
			mkchild("p:b1", "b1", CACHE_KIND_FILE, 3),
		};
		struct cache_child a2[1] = { mkchild("p:a2", "a2", CACHE_KIND_FILE, 22) };
		const struct cache_apply dirs[2] = {
			{ .parent = B, .expected_generation = sb.generation, .children = b2, .n = 2 },
			{ .parent = A, .expected_generation = sa.generation, .children = a2, .n = 1 },
		};

		assert_int_equal(cache_dir_apply_many(f->c, dirs, 2, res, ch), 2);
		assert_int_equal(res[0], 0);
		assert_int_equal(res[1], 0);
		assert_int_equal(ch[0]->n, 1);	/* a1 MOVED; b1 unchanged */
		assert_int_equal(ch[0]->v[0].kind, CACHE_CHANGE_MOVED);
		assert_int_equal(ch[0]->v[0].old_parent, A);
		assert_int_equal(ch[1]->n, 1);	/* only a2's size: a1 had left already */
		assert_int_equal(ch[1]->v[0].kind, CACHE_CHANGE_ATTR);
		cache_changes_free(ch[0]);
		cache_changes_free(ch[1]);
		assert_int_equal(cache_get(f->c, A1, &e), 1);
		assert_int_equal(e.parent, B);
		assert_string_equal(e.name, "from-a");
		assert_int_equal(cache_dir_state(f->c, A, &sa), 1);
		assert_int_equal(sa.n_children, 1);
	}

	/* a batch of one stale directory: 0 applied, nothing committed */
	{
		const struct cache_apply one = { .parent = A, .expected_generation = 1,
						 .children = in_a, .n = 2 };

		assert_int_equal(cache_dir_apply_many(f->c, &one, 1, res, NULL), 0);
		assert_int_equal(res[0], -ESTALE);
	}
	/* argument errors write nothing */
	assert_int_equal(cache_dir_apply_many(f->c, NULL, 0, NULL, NULL), 0);
	assert_int_equal(cache_dir_apply_many(NULL, NULL, 0, NULL, NULL), -EINVAL);
	{
		const struct cache_apply one = { .parent = A, .children = in_a, .n = 2 };

		assert_int_equal(cache_dir_apply_many(f->c, &one, 1, NULL, NULL), -EINVAL);
		assert_int_equal(cache_dir_apply_many(f->c, NULL, 1, res, NULL), -EINVAL);
	}
}

/* A batch bigger than the map: grown and retried as a whole. */
static void test_apply_many_grows_map(void **state)
{
	struct fx *f = *state;
	enum { ND = 40, NK = 300 };
	struct cache_child top[ND], *kids = calloc(ND * NK, sizeof(*kids));
	char (*keys)[32] = calloc(ND * NK + ND, sizeof(*keys));
	char (*names)[32] = calloc(ND * NK + ND, sizeof(*names));
	struct cache_apply dirs[ND];
	struct cache_changes *ch[ND];
	struct cache_info info;
	int res[ND];

	assert_non_null(kids);
	for (int d = 0; d < ND; d++) {
		snprintf(keys[d], sizeof(keys[d]), "p:d%d", d);
		snprintf(names[d], sizeof(names[d]), "d%d", d);
		top[d] = mkchild(keys[d], names[d], CACHE_KIND_DIR, 0);
	}
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, top, ND, NULL), 0);
	for (int d = 0; d < ND; d++) {
		dirs[d] = (struct cache_apply){ .fetched_ns = 1, .children = kids + d * NK, .n = NK };
		assert_int_equal(cache_ino_lookup(f->c, keys[d], &dirs[d].parent), 1);
		for (int k = 0; k < NK; k++) {
			int i = ND + d * NK + k;

			snprintf(keys[i], sizeof(keys[i]), "p:f%d-%d", d, k);
			snprintf(names[i], sizeof(names[i]), "file_%04d.exr", k);
			kids[d * NK + k] = mkchild(keys[i], names[i], CACHE_KIND_FILE, (uint64_t)k);
		}
	}
	assert_int_equal(cache_info(f->c, &info), 0);
	assert_true(info.map_size <= (1u << 20));
	assert_int_equal(cache_dir_apply_many(f->c, dirs, ND, res, ch), ND);
	assert_int_equal(cache_info(f->c, &info), 0);
	assert_true(info.map_size > (1u << 20));
	assert_int_equal(info.n_entries, ND + ND * NK);
	for (int d = 0; d < ND; d++) {
		assert_int_equal(res[d], 0);
		assert_int_equal(ch[d]->n, NK);
		cache_changes_free(ch[d]);
	}
	free(kids);
	free(keys);
	free(names);
}

/* ---- cache_release_map() ---- */

/* A field of /proc/self/status in KiB, or -1. */
static long status_kib(const char *field)
{
	char line[256];
	size_t len = strlen(field);
	long v = -1;
	FILE *fp = fopen("/proc/self/status", "r");

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(fp);
	return v;
}

struct trim_reader {
	struct cache *c;
	uint64_t dir;
	volatile int stop;
	size_t n, bad;
};

static void *trim_reader_fn(void *p)
{
	struct trim_reader *t = p;
	char name[32];

	while (!t->stop) {
		struct cache_attr a;
		uint64_t ino;

		snprintf(name, sizeof(name), "file_%05zu.exr", t->n % 2000);
		if (cache_lookup(t->c, t->dir, name, &ino, &a) != 1 || a.size != t->n % 2000)
			t->bad++;
		t->n++;
	}
	return NULL;
}

static void test_trim(void **state)
{
	struct fx *f = *state;
	enum { ND = 10, NK = 2000 };
	struct cache_child top[ND], *kids = calloc(NK, sizeof(*kids));
	char (*keys)[32] = calloc(NK, sizeof(*keys)), (*names)[32] = calloc(NK, sizeof(*names));
	char tkeys[ND][16], tnames[ND][16];
	static char blob[CACHE_BLOB_MAX];
	uint64_t dirs[ND];
	long before, after;

	assert_non_null(kids);
	for (int d = 0; d < ND; d++) {
		snprintf(tkeys[d], sizeof(tkeys[d]), "p:d%d", d);
		snprintf(tnames[d], sizeof(tnames[d]), "d%d", d);
		top[d] = mkchild(tkeys[d], tnames[d], CACHE_KIND_DIR, 0);
	}
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, top, ND, NULL), 0);
	/* ~20 MB of records (1 KiB blobs) */
	for (int d = 0; d < ND; d++) {
		assert_int_equal(cache_ino_lookup(f->c, tkeys[d], &dirs[d]), 1);
		for (int k = 0; k < NK; k++) {
			snprintf(keys[k], sizeof(keys[k]), "p:%d-%d", d, k);
			snprintf(names[k], sizeof(names[k]), "file_%05d.exr", k);
			kids[k] = mkchild(keys[k], names[k], CACHE_KIND_FILE, (uint64_t)k);
			kids[k].blob = blob;
			kids[k].blob_len = sizeof(blob);
		}
		assert_int_equal(cache_dir_apply(f->c, dirs[d], 0, 1, kids, NK, NULL), 0);
	}
	/* touch every page through the map */
	for (int d = 0; d < ND; d++) {
		struct cache_entry e;

		for (int k = 0; k < NK; k++) {
			snprintf(names[k], sizeof(names[k]), "file_%05d.exr", k);
			assert_int_equal(cache_lookup_entry(f->c, dirs[d], names[k], &e), 1);
		}
	}
	before = status_kib("RssFile");
	assert_int_equal(cache_release_map(f->c), 0);
	after = status_kib("RssFile");
	print_message("# RssFile %ld KiB before cache_release_map(), %ld KiB after\n", before, after);
	if (before >= 0)
		assert_true(after < before - 10 * 1024);
	assert_int_equal(cache_release_map(NULL), -EINVAL);

	/* data intact, and trimming under running readers is harmless */
	{
		struct trim_reader t = { .c = f->c, .dir = dirs[3] };
		pthread_t th;

		assert_int_equal(pthread_create(&th, NULL, trim_reader_fn, &t), 0);
		/* releases interleaved with at least 100 reads (a release is
		 * quick once the map's place is known: count reads, not loops) */
		for (long i = 0; i < 200 || (__atomic_load_n(&t.n, __ATOMIC_RELAXED) < 100 &&
					     i < 100000000); i++)
			assert_int_equal(cache_release_map(f->c), 0);
		t.stop = 1;
		pthread_join(th, NULL);
		assert_true(t.n > 0);
		assert_int_equal(t.bad, 0);
	}

	/* with a budget the reads themselves keep the map small: the peak is
	 * bounded, not just the state after a release */
	cache_set_map_budget(f->c, 8u << 20);
	{
		long peak = 0;

		for (int d = 0; d < ND; d++) {
			struct cache_entry e;

			for (int k = 0; k < NK; k++) {
				snprintf(names[k], sizeof(names[k]), "file_%05d.exr", k);
				assert_int_equal(cache_lookup_entry(f->c, dirs[d], names[k], &e), 1);
				assert_int_equal(e.attr.size, (uint64_t)k);
				if (k % 100 == 0) {
					long now = status_kib("RssFile");

					peak = now > peak ? now : peak;
				}
			}
		}
		print_message("# RssFile peak %ld KiB reading everything with an 8 MiB budget\n", peak);
		if (before >= 0)
			assert_true(peak < before / 2);
	}
	cache_set_map_budget(f->c, 0);
	free(kids);
	free(keys);
	free(names);
}

/* Pages of @path in the page cache, from mincore() (maps, never faults). */
static size_t resident_pages(const char *path, size_t *ret_total)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	unsigned char *vec;
	size_t n, in = 0;
	void *m;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	n = ((size_t)st.st_size + 4095) / 4096;
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	vec = calloc(n, 1);
	assert_non_null(vec);
	assert_int_equal(mincore(m, (size_t)st.st_size, vec), 0);
	for (size_t i = 0; i < n; i++)
		in += vec[i] & 1;
	free(vec);
	munmap(m, (size_t)st.st_size);
	close(fd);
	*ret_total = n;
	return in;
}

/* Bytes this process passed through read() and pread() (/proc/self/io). */
static uint64_t rchar_now(void)
{
	unsigned long long v = 0;
	char line[128];
	FILE *fp = fopen("/proc/self/io", "re");

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "rchar: %llu", &v) == 1)
			break;
	fclose(fp);
	return v;
}

/* cache_prefetch() brings the whole file back into the page cache. */
static void test_prefetch(void **state)
{
	struct fx *f = *state;
	enum { NK = 4000 };
	struct cache_child top = mkchild("p:big", "big", CACHE_KIND_DIR, 0);
	struct cache_child *kids = calloc(NK, sizeof(*kids));
	char (*keys)[32] = calloc(NK, sizeof(*keys)), (*names)[32] = calloc(NK, sizeof(*names));
	static char blob[CACHE_BLOB_MAX];
	char path[4200];
	bool stop = false;
	size_t total, before, after;
	struct stat st;
	uint64_t dir, rchar;
	int fd;

	assert_non_null(kids);
	assert_int_equal(cache_prefetch(NULL, &stop), -EINVAL);
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, &top, 1, NULL), 0);
	assert_int_equal(cache_ino_lookup(f->c, "p:big", &dir), 1);
	for (int k = 0; k < NK; k++) {
		snprintf(keys[k], sizeof(keys[k]), "p:big-%d", k);
		snprintf(names[k], sizeof(names[k]), "f%05d", k);
		kids[k] = mkchild(keys[k], names[k], CACHE_KIND_FILE, (uint64_t)k);
		kids[k].blob = blob;
		kids[k].blob_len = sizeof(blob);
	}
	assert_int_equal(cache_dir_apply(f->c, dir, 0, 1, kids, NK, NULL), 0);

	/* out of the page cache: unmapped here, written back, dropped */
	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	assert_int_equal(cache_release_map(f->c), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(fdatasync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
	before = resident_pages(path, &total);
	assert_true(total >= 1000);		/* a few MB of records */

	stop = true;
	assert_int_equal(cache_prefetch(f->c, &stop), 0);
	stop = false;
	assert_int_equal(cache_prefetch(f->c, &stop), (int64_t)st.st_size);
	after = resident_pages(path, &total);
	print_message("# data.mdb: %zu of %zu pages cached before cache_prefetch(), %zu after\n",
		      before, total, after);
	/* the page cache may keep some pages through DONTNEED (a tmpfs
	 * keeps all): what matters is that afterwards every page is there */
	assert_int_equal(after, total);
	/* all cached now: a second prefetch covers the file and reads none */
	rchar = rchar_now();
	assert_int_equal(cache_prefetch(f->c, &stop), (int64_t)st.st_size);
	assert_true(rchar_now() - rchar < (uint64_t)st.st_size / 10);
	free(kids);
	free(keys);
	free(names);
}

static void stat_data(const char *dir, struct stat *st)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_int_equal(stat(path, st), 0);
}

/*
 * A cache whose used part grew past 16 MiB is rewritten in tree order at
 * the next open (a new file, smaller once pages were freed), keeps every
 * record, is left alone at the open after, and a copy a crash left behind
 * is removed; with no_compact it is never rewritten.
 */
static void test_compaction(void **state)
{
	struct fx *f = *state;
	enum { NK = 8000 };
	struct cache_child top[2] = {
		mkchild("p:keep", "keep", CACHE_KIND_DIR, 0),
		mkchild("p:drop", "drop", CACHE_KIND_DIR, 0),
	};
	struct cache_child *kids = calloc(NK, sizeof(*kids));
	char (*keys)[32] = calloc(NK, sizeof(*keys)), (*names)[32] = calloc(NK, sizeof(*names));
	static char blob[CACHE_BLOB_MAX];
	struct cache_options no_compact = small_opts;
	struct stat st0, st1, st2, st3;
	struct cache_dirstate ds;
	char junk[4200];
	uint64_t dir[2], ino;
	FILE *fp;

	assert_non_null(kids);
	memset(blob, 'x', sizeof(blob));
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, top, 2, NULL), 0);
	assert_int_equal(cache_ino_lookup(f->c, "p:keep", &dir[0]), 1);
	assert_int_equal(cache_ino_lookup(f->c, "p:drop", &dir[1]), 1);
	for (int d = 0; d < 2; d++) {
		for (int k = 0; k < NK; k++) {
			snprintf(keys[k], sizeof(keys[k]), "%s-%d", d ? "p:drop" : "p:keep", k);
			snprintf(names[k], sizeof(names[k]), "f%05d", k);
			kids[k] = mkchild(keys[k], names[k], CACHE_KIND_FILE, (uint64_t)k);
			kids[k].blob = blob;
			kids[k].blob_len = sizeof(blob);
		}
		assert_int_equal(cache_dir_apply(f->c, dir[d], 0, 1, kids, NK, NULL), 0);
	}
	/* the second directory empties: its pages go to the free list */
	assert_int_equal(cache_dir_state(f->c, dir[1], &ds), 1);
	assert_int_equal(cache_dir_apply(f->c, dir[1], ds.generation, 2, NULL, 0, NULL), 0);
	cache_close(f->c);
	f->c = NULL;
	stat_data(f->dir, &st0);
	assert_true(st0.st_size > (16 << 20));

	/* with no_compact: the same file */
	no_compact.no_compact = true;
	assert_int_equal(cache_open(f->dir, SERVER, USER, &no_compact, &f->c), 0);
	cache_close(f->c);
	stat_data(f->dir, &st1);
	assert_int_equal(st1.st_ino, st0.st_ino);

	/* a full disk (here: a file size limit) leaves the cache as it was */
	{
		struct rlimit old_lim, lim = { .rlim_cur = 4 << 20, .rlim_max = RLIM_INFINITY };
		void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);

		assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
		lim.rlim_max = old_lim.rlim_max;
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
		assert_int_equal(cache_open(f->dir, SERVER, USER, &small_opts, &f->c), 0);
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_lim), 0);
		signal(SIGXFSZ, old_sig);
		assert_int_equal(cache_lookup(f->c, dir[0], "f00000", &ino, NULL), 1);
		cache_close(f->c);
		f->c = NULL;
		stat_data(f->dir, &st1);
		assert_int_equal(st1.st_ino, st0.st_ino);
		assert_int_equal(st1.st_size, st0.st_size);
		snprintf(junk, sizeof(junk), "%s/data.mdb.compact", f->dir);
		assert_int_equal(access(junk, F_OK), -1);
	}

	/* compacted: a new, smaller file with every record */
	assert_int_equal(cache_open(f->dir, SERVER, USER, &small_opts, &f->c), 0);
	stat_data(f->dir, &st2);
	print_message("# data.mdb: %lld bytes before compaction, %lld after\n",
		      (long long)st0.st_size, (long long)st2.st_size);
	assert_int_not_equal(st2.st_ino, st0.st_ino);
	assert_true(st2.st_size * 10 < st0.st_size * 7);
	for (int k = 0; k < NK; k++) {
		struct cache_attr attr;
		char name[32];

		snprintf(name, sizeof(name), "f%05d", k);
		assert_int_equal(cache_lookup(f->c, dir[0], name, &ino, &attr), 1);
		assert_int_equal(attr.size, (uint64_t)k);
		assert_int_equal(cache_lookup(f->c, dir[1], name, &ino, &attr), 0);
	}
	assert_int_equal(cache_dir_state(f->c, dir[0], &ds), 1);
	assert_int_equal(ds.n_children, NK);
	cache_close(f->c);
	f->c = NULL;

	/* not grown since: left alone, and a crash's leftover copy removed */
	snprintf(junk, sizeof(junk), "%s/data.mdb.compact", f->dir);
	fp = fopen(junk, "w");
	assert_non_null(fp);
	fputs("half a copy", fp);
	fclose(fp);
	assert_int_equal(cache_open(f->dir, SERVER, USER, &small_opts, &f->c), 0);
	stat_data(f->dir, &st3);
	assert_int_equal(st3.st_ino, st2.st_ino);
	assert_int_equal(access(junk, F_OK), -1);
	assert_int_equal(cache_ino_lookup(f->c, "p:keep-0", &ino), 1);
	free(kids);
	free(keys);
	free(names);
}

static void test_dir_state_many(void **state)
{
	struct fx *f = *state;
	struct cache_child top[2] = {
		mkchild("p:A", "A", CACHE_KIND_DIR, 0),
		mkchild("p:B", "B", CACHE_KIND_DIR, 0),
	};
	struct cache_child in_a[1] = { mkchild("p:a1", "a1", CACHE_KIND_FILE, 1) };
	struct cache_dirstate st[4], one;
	uint64_t inos[4] = { CACHE_ROOT_INO, 0, 0, 4242 };

	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 5, top, 2, NULL), 0);
	assert_int_equal(cache_ino_lookup(f->c, "p:A", &inos[1]), 1);
	assert_int_equal(cache_ino_lookup(f->c, "p:B", &inos[2]), 1);
	assert_int_equal(cache_dir_apply(f->c, inos[1], 0, 6, in_a, 1, NULL), 0);
	memset(st, 0xff, sizeof(st));
	assert_int_equal(cache_dir_state_many(f->c, inos, 4, st), 2);
	for (int i = 0; i < 4; i++) {
		int r = cache_dir_state(f->c, inos[i], &one);

		assert_int_equal(r, i < 2);
		assert_memory_equal(&st[i], &one, sizeof(one));
	}
	assert_int_equal(st[1].n_children, 1);
	assert_int_equal(st[1].fetched_ns, 6);
	assert_int_equal(st[2].generation, 0);
	assert_int_equal(cache_dir_state_many(f->c, NULL, 0, NULL), 0);
	assert_int_equal(cache_dir_state_many(f->c, NULL, 1, st), -EINVAL);
	assert_int_equal(cache_dir_state_many(f->c, inos, 1, NULL), -EINVAL);
}

/* Format 2: ids and blob live in the inode record, attributes in the entry
 * record. A change of either is an ATTR change; neither is none. */
static void test_apply_ids_and_blob_changes(void **state)
{
	struct fx *f = *state;
	struct cache_child v[2] = {
		mkchild("p:a", "a", CACHE_KIND_FILE, 1),
		mkchild("p:b", "b", CACHE_KIND_FILE, 2),
	};
	struct cache_changes *ch;
	struct cache_dirstate st;
	struct cache_entry e, e2;
	uint64_t a;

	v[0].blob = "one";
	v[0].blob_len = 3;
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, v, 2, NULL), 0);
	assert_int_equal(cache_ino_lookup(f->c, "p:a", &a), 1);
	/* unchanged */
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 1);
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, st.generation, 2, v, 2, &ch), 0);
	assert_int_equal(ch->n, 0);
	cache_changes_free(ch);
	/* only the blob of a, only the type of b */
	v[0].blob = "two";
	v[1].type = "SequenceComponent";
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 1);
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, st.generation, 3, v, 2, &ch), 0);
	assert_int_equal(ch->n, 2);
	assert_int_equal(ch->v[0].kind, CACHE_CHANGE_ATTR);
	assert_int_equal(ch->v[1].kind, CACHE_CHANGE_ATTR);
	cache_changes_free(ch);
	assert_int_equal(cache_get(f->c, a, &e), 1);
	assert_memory_equal(e.blob, "two", 3);
	assert_string_equal(e.ftrack_id, "a");
	assert_string_equal(e.name, "a");
	assert_int_equal(e.parent, CACHE_ROOT_INO);
	assert_int_equal(e.attr.size, 1);
	assert_int_equal(e.attr.mode, 0444);
	assert_int_equal(cache_lookup_entry(f->c, CACHE_ROOT_INO, "a", &e2), 1);
	assert_int_equal(e2.ino, e.ino);
	assert_int_equal(e2.parent, e.parent);
	assert_memory_equal(&e2.attr, &e.attr, sizeof(e.attr));
	assert_string_equal(e2.name, e.name);
	assert_string_equal(e2.ftrack_id, e.ftrack_id);
	assert_string_equal(e2.type, e.type);
	assert_int_equal(e2.blob_len, e.blob_len);
	assert_memory_equal(e2.blob, e.blob, e.blob_len);
	assert_int_equal(cache_lookup_entry(f->c, CACHE_ROOT_INO, "b", &e2), 1);
	assert_string_equal(e2.type, "SequenceComponent");
	/* a rename keeps ids and blob; put_child rewrites both records */
	v[0].name = "a2";
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 1);
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, st.generation, 4, v, 2, NULL), 0);
	assert_int_equal(cache_get(f->c, a, &e), 1);
	assert_string_equal(e.name, "a2");
	assert_memory_equal(e.blob, "two", 3);
	v[0].blob = "three";
	v[0].blob_len = 5;
	v[0].attr.mode = 07777;
	assert_int_equal(cache_put_child(f->c, CACHE_ROOT_INO, &v[0], NULL), 0);
	assert_int_equal(cache_lookup_entry(f->c, CACHE_ROOT_INO, "a2", &e), 1);
	assert_int_equal(e.blob_len, 5);
	assert_memory_equal(e.blob, "three", 5);
	assert_int_equal(e.attr.mode, 07777);
}

static void test_put_and_remove_child(void **state)
{
	struct fx *f = *state;
	struct cache_child a = mkchild("p:a", "a", CACHE_KIND_FILE, 1);
	struct cache_child a2 = mkchild("p:a", "a-renamed", CACHE_KIND_FILE, 10);
	struct cache_child other = mkchild("p:o", "a-renamed", CACHE_KIND_FILE, 5);
	struct cache_dirstate st;
	struct cache_entry e;
	uint64_t ia, io, x;

	assert_int_equal(cache_put_child(f->c, CACHE_ROOT_INO, &a, &ia), 1);
	assert_int_equal(cache_put_child(f->c, CACHE_ROOT_INO, &a, &x), 0);
	assert_int_equal(x, ia);
	assert_int_equal(cache_put_child(f->c, CACHE_ROOT_INO, &a2, &x), 0);	/* rename */
	assert_int_equal(cache_lookup(f->c, CACHE_ROOT_INO, "a", NULL, NULL), 0);
	assert_int_equal(cache_get(f->c, ia, &e), 1);
	assert_string_equal(e.name, "a-renamed");
	assert_int_equal(e.attr.size, 10);
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 1);
	assert_int_equal(st.n_children, 1);
	assert_false(st.flags & CACHE_DIR_COMPLETE);
	/* another inode taking the name replaces it */
	assert_int_equal(cache_put_child(f->c, CACHE_ROOT_INO, &other, &io), 1);
	assert_int_not_equal(io, ia);
	assert_int_equal(cache_get(f->c, ia, &e), 0);
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 1);
	assert_int_equal(st.n_children, 1);
	/* parent checks */
	assert_int_equal(cache_put_child(f->c, io, &a, NULL), -ENOTDIR);
	assert_int_equal(cache_put_child(f->c, 777, &a, NULL), -ENOENT);
	/* remove */
	assert_int_equal(cache_remove_child(f->c, CACHE_ROOT_INO, "nope", NULL), 0);
	assert_int_equal(cache_remove_child(f->c, CACHE_ROOT_INO, "a-renamed", &x), 1);
	assert_int_equal(x, io);
	assert_int_equal(cache_get(f->c, io, &e), 0);
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 1);
	assert_int_equal(st.n_children, 0);
	assert_int_equal(cache_remove_child(f->c, CACHE_ROOT_INO, "a/b", NULL), -EINVAL);
}

/* ---- component state, outbox, jobs, kv ---- */

static void test_compstate(void **state)
{
	struct fx *f = *state;
	struct cache_compstate s[3], got, *list;
	int n;

	memset(s, 0, sizeof(s));
	snprintf(s[0].component_id, sizeof(s[0].component_id), "comp1");
	snprintf(s[0].location_id, sizeof(s[0].location_id), "loc-la");
	s[0].state = CACHE_LOC_TRANSFERRING;
	s[0].bytes_done = 42;
	s[0].bytes_total = 100;
	snprintf(s[0].job_id, sizeof(s[0].job_id), "job9");
	snprintf(s[0].resource_identifier, sizeof(s[0].resource_identifier),
		 "theproject/seq010/sh010/comp/v003/main.exr");
	s[1] = s[0];
	snprintf(s[1].location_id, sizeof(s[1].location_id), "loc-hq");
	s[1].state = CACHE_LOC_PRESENT;
	s[2] = s[0];
	snprintf(s[2].component_id, sizeof(s[2].component_id), "comp10");	/* prefix of comp1? no: longer */
	s[2].state = CACHE_LOC_FAILED;
	snprintf(s[2].reason, sizeof(s[2].reason), "disk full at la");
	assert_int_equal(cache_compstate_put(f->c, s, 3), 0);

	assert_int_equal(cache_compstate_get(f->c, "comp1", "loc-la", &got), 1);
	assert_int_equal(got.state, CACHE_LOC_TRANSFERRING);
	assert_int_equal(got.bytes_done, 42);
	assert_string_equal(got.job_id, "job9");
	assert_string_equal(got.resource_identifier, s[0].resource_identifier);
	assert_int_equal(cache_compstate_get(f->c, "comp1", "nowhere", &got), 0);

	n = cache_compstate_list(f->c, "comp1", &list);
	assert_int_equal(n, 2);	/* not comp10's */
	assert_string_equal(list[0].location_id, "loc-hq");
	assert_string_equal(list[1].location_id, "loc-la");
	free(list);
	n = cache_compstate_list(f->c, "comp10", &list);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].reason, "disk full at la");
	free(list);
	assert_int_equal(cache_compstate_list(f->c, "none", &list), 0);
	assert_null(list);

	assert_int_equal(cache_compstate_delete(f->c, "comp1", "loc-la"), 1);
	assert_int_equal(cache_compstate_delete(f->c, "comp1", "loc-la"), 0);
	s[0].state = 99;
	assert_int_equal(cache_compstate_put(f->c, s, 1), -EINVAL);
}

static uint64_t add_intent(struct cache *c, const char *comp, const char *dst, int expect)
{
	struct cache_outbox in;
	uint64_t id = 0;

	memset(&in, 0, sizeof(in));
	snprintf(in.component_id, sizeof(in.component_id), "%s", comp);
	snprintf(in.dst_location_id, sizeof(in.dst_location_id), "%s", dst);
	snprintf(in.dst_path, sizeof(in.dst_path), "theproject/%s.exr", comp);
	in.size = 1000;
	assert_int_equal(cache_outbox_add(c, &in, &id), expect);
	return id;
}

static void test_outbox_state_machine(void **state)
{
	struct fx *f = *state;
	struct cache_outbox_update tok = { .client_token = "tok-123", .src_location_id = "loc-hq" };
	struct cache_outbox_update job = { .job_id = "job-777" };
	struct cache_outbox_update why = { .reason = "accsyn said no" };
	struct cache_outbox o, *list;
	uint64_t ids[2], again;
	int n;

	ids[0] = add_intent(f->c, "c1", "la", 1);
	ids[1] = add_intent(f->c, "c2", "la", 1);
	again = add_intent(f->c, "c1", "la", 0);	/* already pending: same intent */
	assert_int_equal(again, ids[0]);
	assert_int_equal(cache_outbox_find_pending(f->c, "c1", "la", &o), 1);
	assert_int_equal(o.id, ids[0]);
	assert_int_equal(o.state, CACHE_OUTBOX_COLLECTING);
	assert_string_equal(o.dst_path, "theproject/c1.exr");
	assert_true(o.created_ns > 0);
	assert_int_equal(cache_outbox_find_pending(f->c, "c1", "hq", &o), 0);

	n = cache_outbox_list(f->c, CACHE_OUTBOX_COLLECTING, &list);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].id, ids[0]);
	free(list);

	/* illegal transitions */
	assert_int_equal(cache_outbox_transition(f->c, ids, 2, CACHE_OUTBOX_COLLECTING,
						 CACHE_OUTBOX_DONE, NULL), -EINVAL);
	assert_int_equal(cache_outbox_transition(f->c, ids, 2, CACHE_OUTBOX_COLLECTING,
						 CACHE_OUTBOX_SUBMITTED, &job), -EINVAL);
	assert_int_equal(cache_outbox_transition(f->c, ids, 2, CACHE_OUTBOX_DONE,
						 CACHE_OUTBOX_READY, NULL), -EINVAL);
	/* compare-and-set: wrong expected state */
	assert_int_equal(cache_outbox_transition(f->c, ids, 2, CACHE_OUTBOX_READY,
						 CACHE_OUTBOX_SUBMITTING, &tok), -EBUSY);
	{
		uint64_t missing[1] = { 9999 };

		assert_int_equal(cache_outbox_transition(f->c, missing, 1, CACHE_OUTBOX_COLLECTING,
							 CACHE_OUTBOX_READY, NULL), -ENOENT);
	}
	assert_int_equal(cache_outbox_transition(f->c, ids, 2, CACHE_OUTBOX_COLLECTING,
						 CACHE_OUTBOX_READY, NULL), 0);
	/* all-or-nothing: one of two in the wrong state changes neither */
	assert_int_equal(cache_outbox_transition(f->c, ids, 1, CACHE_OUTBOX_READY,
						 CACHE_OUTBOX_FAILED, &why), 0);
	assert_int_equal(cache_outbox_transition(f->c, ids, 2, CACHE_OUTBOX_READY,
						 CACHE_OUTBOX_SUBMITTING, &tok), -EBUSY);
	assert_int_equal(cache_outbox_get(f->c, ids[1], &o), 1);
	assert_int_equal(o.state, CACHE_OUTBOX_READY);
	/* FAILED leaves the pending index: a new copy makes a new intent... */
	assert_int_equal(cache_outbox_get(f->c, ids[0], &o), 1);
	assert_int_equal(o.state, CACHE_OUTBOX_FAILED);
	assert_string_equal(o.reason, "accsyn said no");
	{
		uint64_t fresh = add_intent(f->c, "c1", "la", 1);

		assert_int_not_equal(fresh, ids[0]);
		/* ...so retrying the old one conflicts */
		assert_int_equal(cache_outbox_transition(f->c, ids, 1, CACHE_OUTBOX_FAILED,
							 CACHE_OUTBOX_READY, NULL), -EEXIST);
		assert_int_equal(cache_outbox_transition(f->c, &fresh, 1, CACHE_OUTBOX_COLLECTING,
							 CACHE_OUTBOX_FAILED, NULL), 0);
		assert_int_equal(cache_outbox_delete(f->c, fresh), 1);
	}
	assert_int_equal(cache_outbox_transition(f->c, ids, 1, CACHE_OUTBOX_FAILED,
						 CACHE_OUTBOX_READY, NULL), 0);
	assert_int_equal(cache_outbox_get(f->c, ids[0], &o), 1);
	assert_string_equal(o.reason, "");

	/* submitting needs a token, submitted a job id */
	assert_int_equal(cache_outbox_transition(f->c, ids, 2, CACHE_OUTBOX_READY,
						 CACHE_OUTBOX_SUBMITTING, NULL), -EINVAL);
	assert_int_equal(cache_outbox_transition(f->c, ids, 2, CACHE_OUTBOX_READY,
						 CACHE_OUTBOX_SUBMITTING, &tok), 0);
	assert_int_equal(cache_outbox_get(f->c, ids[1], &o), 1);
	assert_string_equal(o.client_token, "tok-123");
	assert_string_equal(o.src_location_id, "loc-hq");
	/* after a restart: the token found no job -> back to READY, allowed */
	assert_int_equal(cache_outbox_transition(f->c, ids, 2, CACHE_OUTBOX_SUBMITTING,
						 CACHE_OUTBOX_READY, NULL), 0);
	assert_int_equal(cache_outbox_transition(f->c, ids, 2, CACHE_OUTBOX_READY,
						 CACHE_OUTBOX_SUBMITTING, &tok), 0);
	assert_int_equal(cache_outbox_transition(f->c, ids, 2, CACHE_OUTBOX_SUBMITTING,
						 CACHE_OUTBOX_SUBMITTED, NULL), -EINVAL);
	assert_int_equal(cache_outbox_transition(f->c, ids, 2, CACHE_OUTBOX_SUBMITTING,
						 CACHE_OUTBOX_SUBMITTED, &job), 0);
	assert_int_equal(cache_outbox_delete(f->c, ids[0]), -EBUSY);	/* still pending */
	n = cache_outbox_list(f->c, CACHE_OUTBOX_SUBMITTED, &list);
	assert_int_equal(n, 2);
	assert_string_equal(list[1].job_id, "job-777");
	free(list);
	assert_int_equal(cache_outbox_transition(f->c, ids, 2, CACHE_OUTBOX_SUBMITTED,
						 CACHE_OUTBOX_DONE, NULL), 0);
	assert_int_equal(cache_outbox_list(f->c, CACHE_OUTBOX_SUBMITTED, &list), 0);
	assert_int_equal(cache_outbox_list(f->c, CACHE_OUTBOX_DONE, &list), 2);
	free(list);
	assert_int_equal(cache_outbox_list(f->c, 0, &list), 2);
	free(list);
	assert_int_equal(cache_outbox_find_pending(f->c, "c1", "la", &o), 0);
	/* DONE is terminal */
	assert_int_equal(cache_outbox_transition(f->c, ids, 1, CACHE_OUTBOX_DONE,
						 CACHE_OUTBOX_FAILED, NULL), -EINVAL);
	assert_int_equal(cache_outbox_delete(f->c, ids[0]), 1);
	assert_int_equal(cache_outbox_delete(f->c, ids[0]), 0);
	assert_int_equal(cache_outbox_get(f->c, ids[0], &o), 0);

	/* survives a reopen, ids keep counting */
	cache_close(f->c);
	assert_int_equal(cache_open(f->dir, SERVER, USER, &small_opts, &f->c), 0);
	assert_int_equal(cache_outbox_get(f->c, ids[1], &o), 1);
	assert_int_equal(o.state, CACHE_OUTBOX_DONE);
	assert_true(add_intent(f->c, "c3", "la", 1) > ids[1] + 1);
}

static void test_outbox_legal_table(void **state)
{
	int n_legal = 0;

	(void)state;
	for (uint32_t a = 0; a <= 7; a++) {
		for (uint32_t b = 0; b <= 7; b++)
			n_legal += outbox_transition_legal(a, b);
	}
	assert_int_equal(n_legal, 10);
}

static void test_jobs(void **state)
{
	struct fx *f = *state;
	struct cache_job j, got, *list;

	memset(&j, 0, sizeof(j));
	snprintf(j.job_id, sizeof(j.job_id), "5f00aa");
	snprintf(j.name, sizeof(j.name), "sh010 comp v003 to la (from lisa)");
	snprintf(j.status, sizeof(j.status), "running");
	snprintf(j.ftrack_job_id, sizeof(j.ftrack_job_id), "ftjob-1");
	snprintf(j.client_token, sizeof(j.client_token), "tok-123");
	j.progress = 42;
	j.bytes_done = 420;
	j.bytes_total = 1000;
	j.created_ns = 5;
	assert_int_equal(cache_job_put(f->c, &j), 0);
	snprintf(j.job_id, sizeof(j.job_id), "5f00ab");
	j.progress = 100;
	snprintf(j.status, sizeof(j.status), "done");
	assert_int_equal(cache_job_put(f->c, &j), 0);
	assert_int_equal(cache_job_get(f->c, "5f00aa", &got), 1);
	assert_string_equal(got.name, "sh010 comp v003 to la (from lisa)");
	assert_string_equal(got.status, "running");
	assert_int_equal(got.progress, 42);
	assert_int_equal(got.bytes_total, 1000);
	assert_int_equal(cache_job_get(f->c, "nope", &got), 0);
	assert_int_equal(cache_job_list(f->c, &list), 2);
	assert_string_equal(list[1].status, "done");
	free(list);
	assert_int_equal(cache_job_delete(f->c, "5f00aa"), 1);
	assert_int_equal(cache_job_delete(f->c, "5f00aa"), 0);
	j.progress = 101;
	assert_int_equal(cache_job_put(f->c, &j), -EINVAL);
}

static void test_kv(void **state)
{
	struct fx *f = *state;
	char buf[64];
	size_t len;

	assert_int_equal(cache_kv_get(f->c, "last_event", buf, sizeof(buf), &len), 0);
	assert_int_equal(cache_kv_put(f->c, "last_event", "evt-42", 6), 0);
	assert_int_equal(cache_kv_get(f->c, "last_event", buf, sizeof(buf), &len), 1);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "evt-42", 6);
	assert_int_equal(cache_kv_get(f->c, "last_event", buf, 3, &len), -ENOBUFS);
	assert_int_equal(len, 6);
	/* the caller's keys never collide with ours */
	assert_int_equal(cache_kv_put(f->c, "format", "x", 1), 0);
	assert_int_equal(cache_kv_delete(f->c, "last_event"), 1);
	assert_int_equal(cache_kv_delete(f->c, "last_event"), 0);
	cache_close(f->c);
	assert_int_equal(cache_open(f->dir, SERVER, USER, &small_opts, &f->c), 0);
	assert_int_equal(cache_kv_get(f->c, "format", buf, sizeof(buf), &len), 1);
}

/* ---- map growth ---- */

static void test_map_grows_by_itself(void **state)
{
	struct fx *f = *state;
	struct cache_info before, after;
	enum { N = 3000 };
	static struct cache_child kids[N];
	static char keys[N][32], names[N][32], blob[400];
	struct cache_dir *d;

	assert_int_equal(cache_info(f->c, &before), 0);
	assert_true(before.map_size <= (2 << 20));
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "p:%08d-entity-id", i);
		snprintf(names[i], sizeof(names[i]), "name-%06d.exr", i);
		kids[i] = mkchild(keys[i], names[i], CACHE_KIND_FILE, (uint64_t)i);
		kids[i].blob = blob;
		kids[i].blob_len = sizeof(blob);
	}
	log_set_sink(capture, NULL);
	/* ~1.5 MiB of records in one transaction into a 1 MiB map */
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, kids, N, NULL), 0);
	log_set_sink(NULL, NULL);
	assert_int_equal(cache_info(f->c, &after), 0);
	assert_true(after.map_size > before.map_size);
	assert_int_equal(after.n_entries, N);
	assert_int_equal(cache_readdir(f->c, CACHE_ROOT_INO, NULL, 0, &d), 0);
	assert_int_equal(d->n, N);
	cache_dir_free(d);
	/* and the grown map is kept across a reopen with a small option */
	cache_close(f->c);
	assert_int_equal(cache_open(f->dir, SERVER, USER, &small_opts, &f->c), 0);
	assert_int_equal(cache_lookup(f->c, CACHE_ROOT_INO, "name-002999.exr", NULL, NULL), 1);
}

/* ---- corruption and versions ---- */

/* Copies of data.mdb moved aside as data.mdb.<tag>-<time>. */
static int count_aside(const char *dir, const char *tag)
{
	char cmd[4400];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c '^data.mdb.%s-'", dir, tag);
	p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = 0;
		pclose(p);
	}
	return n;
}

static void fill_some(struct cache *c)
{
	struct cache_child kids[2] = {
		mkchild("p:a", "a", CACHE_KIND_FILE, 1),
		mkchild("p:b", "b", CACHE_KIND_DIR, 0),
	};

	assert_int_equal(cache_dir_apply(c, CACHE_ROOT_INO, 0, 1, kids, 2, NULL), 0);
}

static void reopen_expect_rebuild(struct fx *f, const char *tag, int n_aside, const char *why)
{
	struct cache_info info;
	struct cache_dirstate st;

	n_warn = 0;
	last_log[0] = '\0';
	log_set_sink(capture, NULL);
	assert_int_equal(cache_open(f->dir, SERVER, USER, &small_opts, &f->c), 0);
	log_set_sink(NULL, NULL);
	assert_int_equal(cache_info(f->c, &info), 0);
	assert_int_equal(info.n_rebuilds, 1);
	assert_true(n_warn >= 1);
	if (why)
		assert_non_null(strstr(last_log, why));
	assert_int_equal(count_aside(f->dir, tag), n_aside);
	/* empty and usable */
	assert_int_equal(info.n_entries, 0);
	assert_int_equal(cache_dir_state(f->c, CACHE_ROOT_INO, &st), 0);
	fill_some(f->c);
	assert_int_equal(cache_lookup(f->c, CACHE_ROOT_INO, "a", NULL, NULL), 1);
}

static void data_file(const struct fx *f, char *buf, size_t size)
{
	snprintf(buf, size, "%s/data.mdb", f->dir);
}

static void test_truncated_db_rebuilt(void **state)
{
	struct fx *f = *state;
	char p[4200];
	struct stat st;

	fill_some(f->c);
	cache_close(f->c);
	f->c = NULL;
	data_file(f, p, sizeof(p));
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(truncate(p, st.st_size / 2), 0);
	reopen_expect_rebuild(f, "corrupt", 1, "truncated");
	/* a file cut inside the meta pages */
	cache_close(f->c);
	f->c = NULL;
	assert_int_equal(truncate(p, 5000), 0);
	reopen_expect_rebuild(f, "corrupt", 2, "truncated");
}

static void write_garbage(const char *path, off_t off, size_t len, unsigned int seed)
{
	int fd = open(path, O_WRONLY);
	unsigned char *buf = malloc(len);

	assert_true(fd >= 0);
	srand(seed);
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)rand();
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
	free(buf);
}

static void test_garbage_db_rebuilt(void **state)
{
	struct fx *f = *state;
	char p[4200];
	struct stat st;

	fill_some(f->c);
	cache_close(f->c);
	f->c = NULL;
	data_file(f, p, sizeof(p));
	assert_int_equal(stat(p, &st), 0);
	/* the whole file */
	write_garbage(p, 0, (size_t)st.st_size, 1);
	reopen_expect_rebuild(f, "corrupt", 1, "not an LMDB database");
	/* only the data pages, the meta pages intact */
	cache_close(f->c);
	f->c = NULL;
	assert_int_equal(stat(p, &st), 0);
	write_garbage(p, 2 * 4096, (size_t)st.st_size - 2 * 4096, 2);
	reopen_expect_rebuild(f, "corrupt", 2, NULL);
	/* a file that is not LMDB at all, and a directory where the file goes */
	cache_close(f->c);
	f->c = NULL;
	{
		FILE *fp = fopen(p, "w");

		fputs("{\"this\": \"is json, not a database\"}\n", fp);
		fclose(fp);
	}
	reopen_expect_rebuild(f, "corrupt", 3, "truncated");
}

static void set_meta_raw(const char *dir, const char *key, const void *val, size_t len)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { .mv_size = strlen(key), .mv_data = (void *)key };
	MDB_val v = { .mv_size = len, .mv_data = (void *)val };

	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, 64 << 20);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void test_format_version_bump_rebuilt(void **state)
{
	struct fx *f = *state;
	uint32_t older = CACHE_FORMAT_VERSION - 1, newer = CACHE_FORMAT_VERSION + 1;

	fill_some(f->c);
	cache_close(f->c);
	f->c = NULL;
	set_meta_raw(f->dir, "format", &older, sizeof(older));
	reopen_expect_rebuild(f, "format", 1, "older format");
	cache_close(f->c);
	f->c = NULL;
	set_meta_raw(f->dir, "format", &newer, sizeof(newer));
	reopen_expect_rebuild(f, "format", 2, "newer format");
}

static void test_foreign_identity_rebuilt(void **state)
{
	struct fx *f = *state;
	struct cache_info info;

	fill_some(f->c);
	cache_close(f->c);
	f->c = NULL;
	/* the same directory, opened for another user */
	log_set_sink(capture, NULL);
	assert_int_equal(cache_open(f->dir, SERVER, "bob@studio.com", &small_opts, &f->c), 0);
	log_set_sink(NULL, NULL);
	assert_non_null(strstr(last_log, "another server or user"));
	/* kept under a name that says why, not "corrupt" */
	assert_int_equal(count_aside(f->dir, "foreign"), 1);
	assert_int_equal(count_aside(f->dir, "corrupt"), 0);
	assert_int_equal(cache_info(f->c, &info), 0);
	assert_int_equal(info.n_rebuilds, 1);
	assert_int_equal(info.n_entries, 0);
	assert_string_equal(info.user, "bob@studio.com");
}

static void test_foreign_lmdb_rebuilt(void **state)
{
	struct fx *f = *state;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { .mv_size = 3, .mv_data = (void *)"abc" }, v = { .mv_size = 3, .mv_data = (void *)"xyz" };

	cache_close(f->c);
	f->c = NULL;
	rm_rf(f->dir);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	/* somebody else's LMDB: plain keys in the main database */
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	reopen_expect_rebuild(f, "corrupt", 1, "not an ftrackfs cache");
}

static void test_corrupt_record_is_an_error(void **state)
{
	struct fx *f = *state;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	unsigned char kb[9 + 1];
	MDB_val k, v = { .mv_size = 5, .mv_data = (void *)"junk!" };
	uint64_t ino;

	fill_some(f->c);
	cache_close(f->c);
	f->c = NULL;
	/* a well-formed database holding a malformed record */
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "dirents", 0, &dbi), 0);
	cache_put_be64(kb, CACHE_ROOT_INO);
	kb[8] = 'a';
	k.mv_data = kb;
	k.mv_size = 9;
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(cache_open(f->dir, SERVER, USER, &small_opts, &f->c), 0);
	log_set_sink(capture, NULL);
	assert_int_equal(cache_lookup(f->c, CACHE_ROOT_INO, "a", &ino, NULL), -EUCLEAN);
	log_set_sink(NULL, NULL);
	assert_non_null(strstr(last_log, "corrupt entry record"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_private_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_default_dir_under_xdg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_twice_is_busy, setup, teardown),
		cmocka_unit_test(test_remote_fs_types),
		cmocka_unit_test(test_errno_table),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inodes_stable_never_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_lookup_get_readdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_change_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_move_between_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_rejects_bad_children, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generation_guard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_many_grows_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_ids_and_blob_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_state_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefetch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_and_remove_child, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compstate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_state_machine, setup, teardown),
		cmocka_unit_test(test_outbox_legal_table),
		cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_grows_by_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_db_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_db_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_version_bump_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_identity_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_lmdb_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_record_is_an_error, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
