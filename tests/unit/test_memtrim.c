/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Releasing the LMDB map: cache_release_map() gives back the file-backed
 * RSS that reads built up without changing a byte of what they return,
 * and the fs/memtrim thread does it by itself above its threshold.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
/* cmocka's allocator checks would pair our free() with cache/'s malloc():
 * the library is not built against cmocka, so use the real allocator. */
#undef malloc
#undef calloc
#undef realloc
#undef free

#include "ftrackfs/cache.h"
#include "memtrim.h"
#include "test_cache_helpers.h"

/* 50 directories of 1,000 files with 400-byte blobs: some 25 MiB of
 * records, so that reading them all maps well over 16 MiB. */
enum { ND = 50, NK = 1000, BLOB = 400 };
#define TOUCH_MIN (16ul << 20)

struct fx {
	char *dir;
	struct cache *c;
	uint64_t dirs[ND];
	size_t page;
};

/* The blob of file @k in directory @d: bytes that differ per entry, so a
 * page mapped in the wrong place or a stale read cannot match. */
static void blob_of(int d, int k, unsigned char *out)
{
	uint32_t x = (uint32_t)(d * NK + k) * 2654435761u + 1;

	for (int i = 0; i < BLOB; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		out[i] = (unsigned char)x;
	}
}

static void name_of(int k, char *buf, size_t size)
{
	snprintf(buf, size, "file_%05d.exr", k);
}

static int fill(void **state, const struct cache_options *opts)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct cache_child top[ND], *kids = calloc(NK, sizeof(*kids));
	char (*keys)[32] = calloc(NK, sizeof(*keys)), (*names)[32] = calloc(NK, sizeof(*names));
	unsigned char (*blobs)[BLOB] = calloc(NK, sizeof(*blobs));
	char tkeys[ND][16], tnames[ND][16];

	assert_non_null(f);
	assert_true(kids && keys && names && blobs);
	f->page = (size_t)sysconf(_SC_PAGESIZE);
	f->dir = make_tmpdir();
	assert_non_null(f->dir);
	assert_int_equal(cache_open(f->dir, SERVER, USER, opts, &f->c), 0);
	for (int d = 0; d < ND; d++) {
		snprintf(tkeys[d], sizeof(tkeys[d]), "p:d%d", d);
		snprintf(tnames[d], sizeof(tnames[d]), "d%d", d);
		top[d] = mkchild(tkeys[d], tnames[d], CACHE_KIND_DIR, 0);
	}
	assert_int_equal(cache_dir_apply(f->c, CACHE_ROOT_INO, 0, 1, top, ND, NULL), 0);
	for (int d = 0; d < ND; d++) {
		assert_int_equal(cache_ino_lookup(f->c, tkeys[d], &f->dirs[d]), 1);
		for (int k = 0; k < NK; k++) {
			snprintf(keys[k], sizeof(keys[k]), "p:%d-%d", d, k);
			name_of(k, names[k], sizeof(names[k]));
			blob_of(d, k, blobs[k]);
			kids[k] = mkchild(keys[k], names[k], CACHE_KIND_FILE, (uint64_t)(d * NK + k));
			kids[k].blob = blobs[k];
			kids[k].blob_len = BLOB;
		}
		assert_int_equal(cache_dir_apply(f->c, f->dirs[d], 0, 1, kids, NK, NULL), 0);
	}
	free(kids);
	free(keys);
	free(names);
	free(blobs);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	static const struct cache_options opts = { .no_sync = true };

	return fill(state, &opts);
}

/* A 32 MiB map, which the fill leaves close to full. */
static int setup_small_map(void **state)
{
	static const struct cache_options opts = { .map_size = 32u << 20, .no_sync = true };

	return fill(state, &opts);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	close_and_remove(f->c, f->dir);
	free(f);
	return 0;
}

/* File-backed resident bytes of this process (statm's "shared"). */
static unsigned long shared_bytes(const struct fx *f)
{
	unsigned long resident, shared;

	assert_int_equal(memtrim_statm(&resident, &shared), 0);
	return shared * f->page;
}

static double mib(unsigned long bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

/* Read every entry and compare it byte for byte with what setup() wrote.
 * Returns the number of entries that differ. */
static size_t read_all(const struct fx *f)
{
	static struct cache_entry e;
	unsigned char want[BLOB];
	char name[32];
	size_t bad = 0;

	for (int d = 0; d < ND; d++) {
		for (int k = 0; k < NK; k++) {
			name_of(k, name, sizeof(name));
			blob_of(d, k, want);
			memset(&e, 0xa5, sizeof(e));
			if (cache_lookup_entry(f->c, f->dirs[d], name, &e) != 1 ||
			    e.parent != f->dirs[d] || strcmp(e.name, name) != 0 ||
			    e.attr.kind != CACHE_KIND_FILE || e.attr.size != (uint64_t)(d * NK + k) ||
			    e.blob_len != BLOB || memcmp(e.blob, want, BLOB) != 0)
				bad++;
		}
	}
	return bad;
}

static void test_release_map(void **state)
{
	struct fx *f = *state;
	unsigned long base, touched, released, again;

	/* start from nothing mapped: setup's writes read pages through the map */
	assert_int_equal(cache_release_map(f->c), 0);
	base = shared_bytes(f);
	assert_int_equal(read_all(f), 0);
	touched = shared_bytes(f);
	assert_true(touched > base + TOUCH_MIN);

	assert_int_equal(cache_release_map(f->c), 0);
	released = shared_bytes(f);
	print_message("# file-backed RSS: %.1f MiB before reading, %.1f MiB after reading "
		      "everything, %.1f MiB after cache_release_map()\n",
		      mib(base), mib(touched), mib(released));
	/* most of what the reads mapped is gone again */
	assert_true(released < base + (touched - base) / 8);

	/* the next reads fault the same pages back: same bytes */
	assert_int_equal(read_all(f), 0);
	again = shared_bytes(f);
	assert_true(again > released + TOUCH_MIN);

	/* repeated releases while nothing is mapped are harmless */
	assert_int_equal(cache_release_map(f->c), 0);
	assert_int_equal(cache_release_map(f->c), 0);
	assert_int_equal(read_all(f), 0);
	assert_int_equal(cache_release_map(NULL), -EINVAL);
}

/* The map moves when it grows: the next release must find it where it is
 * now, and the data must still read back. */
static void test_release_after_map_growth(void **state)
{
	struct fx *f = *state;
	struct cache_info before, after;
	static unsigned char big[CACHE_BLOB_MAX];
	struct cache_child *kids = calloc(NK, sizeof(*kids));
	char (*keys)[32] = calloc(NK, sizeof(*keys)), (*names)[32] = calloc(NK, sizeof(*names));
	unsigned long touched, released;
	int round = 0;

	assert_true(kids && keys && names);
	assert_int_equal(cache_info(f->c, &before), 0);
	/* a new directory of 1,000 1-KiB blobs per round until the map grew */
	do {
		char gkey[32], gname[32];
		struct cache_child top;
		uint64_t dir;

		assert_true(round < 1000);
		snprintf(gkey, sizeof(gkey), "p:grow%d", round);
		snprintf(gname, sizeof(gname), "grow%d", round);
		top = mkchild(gkey, gname, CACHE_KIND_DIR, 0);
		assert_int_equal(cache_put_child(f->c, CACHE_ROOT_INO, &top, &dir), 1);
		for (int k = 0; k < NK; k++) {
			snprintf(keys[k], sizeof(keys[k]), "p:g%d-%d", round, k);
			snprintf(names[k], sizeof(names[k]), "g%d", k);
			kids[k] = mkchild(keys[k], names[k], CACHE_KIND_FILE, 1);
			kids[k].blob = big;
			kids[k].blob_len = sizeof(big);
		}
		assert_int_equal(cache_dir_apply(f->c, dir, 0, 1, kids, NK, NULL), 0);
		assert_int_equal(cache_info(f->c, &after), 0);
		round++;
	} while (after.map_size == before.map_size);
	print_message("# map grown from %.0f to %.0f MiB\n", mib(before.map_size),
		      mib(after.map_size));

	assert_int_equal(read_all(f), 0);
	touched = shared_bytes(f);
	assert_int_equal(cache_release_map(f->c), 0);
	released = shared_bytes(f);
	assert_true(released + TOUCH_MIN < touched);
	assert_int_equal(read_all(f), 0);
	free(kids);
	free(keys);
	free(names);
}

static void test_memtrim_thread(void **state)
{
	struct fx *f = *state;
	struct memtrim *m = NULL;
	unsigned long touched, now;
	struct timespec tick = { .tv_nsec = 50 * 1000000L };

	assert_int_equal(memtrim_start(NULL, 0, &m), -EINVAL);
	assert_null(m);
	assert_int_equal(memtrim_start(f->c, 0, NULL), -EINVAL);
	memtrim_stop(NULL);

	assert_int_equal(cache_release_map(f->c), 0);
	assert_int_equal(read_all(f), 0);
	touched = shared_bytes(f);
	/* 1 MiB: below what the reads mapped, so the thread must release */
	assert_int_equal(memtrim_start(f->c, 1u << 20, &m), 0);
	assert_non_null(m);
	now = touched;
	for (int i = 0; i < 60 && now + TOUCH_MIN > touched; i++) {
		nanosleep(&tick, NULL);
		now = shared_bytes(f);
	}
	print_message("# memtrim: file-backed RSS %.1f MiB after reading, %.1f MiB after "
		      "the thread's release\n", mib(touched), mib(now));
	assert_true(now + TOUCH_MIN <= touched);

	/* reads stay correct while the thread releases behind them */
	for (int i = 0; i < 3; i++)
		assert_int_equal(read_all(f), 0);
	memtrim_stop(m);
	assert_int_equal(read_all(f), 0);
}

/* A threshold above what the process maps: the thread leaves the map be,
 * and stops when asked right after starting. */
static void test_memtrim_below_threshold(void **state)
{
	struct fx *f = *state;
	struct memtrim *m = NULL;

	assert_int_equal(memtrim_start(f->c, (size_t)1 << 40, &m), 0);
	memtrim_stop(m);
	assert_int_equal(memtrim_start(f->c, 0, &m), 0);
	assert_int_equal(read_all(f), 0);
	memtrim_stop(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_release_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_after_map_growth, setup_small_map,
						teardown),
		cmocka_unit_test_setup_teardown(test_memtrim_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memtrim_below_threshold, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
