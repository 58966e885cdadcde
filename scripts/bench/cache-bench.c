/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cache-bench - measure cache/ with a million entities.
 *
 *   cache-bench DIR [N_ENTITIES] [DIR_SIZE]
 *
 * Builds N_ENTITIES (default 1,000,000) file entries in directories of
 * DIR_SIZE (default 10,000) under the root, each applied in one
 * transaction, then reports: bytes on disk per entity; lookups per second
 * on one thread (random parent+name, 100% hits) and getattr by inode;
 * readdir snapshot of one DIR_SIZE directory; apply of a DIR_SIZE
 * directory (new, unchanged, 2% changed). DIR must be empty or absent.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ftrackfs/cache.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fake_uuid(char *buf, size_t size, uint64_t a, uint64_t b)
{
	snprintf(buf, size, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
		 a & 0xffffffff, (a >> 32) & 0xffff, (a >> 48) & 0xffff, b & 0xffff,
		 (uint64_t)((b >> 16) & 0xffffffffffffULL));
}

struct dirset {
	size_t n;
	struct cache_child *kids;
	char (*keys)[48];
	char (*ids)[40];
	char (*names)[40];
};

static const char blob[] = "loc=4f8d2e0a-9b1c-11ee-8c90-0242ac120002";

static int dirset_make(struct dirset *s, size_t n, unsigned int dir_no, unsigned int variant)
{
	s->n = n;
	s->kids = calloc(n, sizeof(*s->kids));
	s->keys = calloc(n, sizeof(*s->keys));
	s->ids = calloc(n, sizeof(*s->ids));
	s->names = calloc(n, sizeof(*s->names));
	if (!s->kids || !s->keys || !s->ids || !s->names)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct cache_child *c = &s->kids[i];
		bool renamed = variant && i % 100 == 0;
		bool resized = variant && i % 100 == 50;

		fake_uuid(s->ids[i], sizeof(s->ids[i]), (uint64_t)dir_no * 1000003ULL + i,
			  (uint64_t)i * 7919ULL + dir_no);
		snprintf(s->keys[i], sizeof(s->keys[i]), "p:%s", s->ids[i]);
		snprintf(s->names[i], sizeof(s->names[i]), "%s_%06zu.exr",
			 renamed ? "renamed" : "plate", i);
		c->key = s->keys[i];
		c->name = s->names[i];
		c->attr.kind = CACHE_KIND_FILE;
		c->attr.mode = 0444;
		c->attr.nlink = 1;
		c->attr.size = 50000000ULL + i + (resized ? 1 : 0);
		c->attr.mtime_ns = 1700000000LL * 1000000000LL + (int64_t)i;
		c->ftrack_id = s->ids[i];
		c->type = "FileComponent";
		c->blob = blob;
		c->blob_len = sizeof(blob) - 1;
	}
	return 0;
}

static void dirset_free(struct dirset *s)
{
	free(s->kids);
	free(s->keys);
	free(s->ids);
	free(s->names);
}

static int apply_dir(struct cache *c, uint64_t dir, const struct dirset *s, size_t *ret_changes)
{
	struct cache_dirstate st;
	struct cache_changes *ch = NULL;
	int r = cache_dir_state(c, dir, &st);

	if (r < 0)
		return r;
	r = cache_dir_apply(c, dir, st.generation, 1, s->kids, s->n, &ch);
	if (r == 0 && ret_changes)
		*ret_changes = ch->n;
	cache_changes_free(ch);
	return r;
}

/* A field of /proc/self/status in MiB, or -1. */
static double status_mib(const char *field)
{
	char line[256];
	size_t len = strlen(field);
	double v = -1;
	FILE *fp = fopen("/proc/self/status", "r");

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			v = (double)strtol(line + len + 1, NULL, 10) / 1024.0;
			break;
		}
	}
	fclose(fp);
	return v;
}

static void print_rss(const char *when)
{
	printf("  RSS %-43s %6.1f MiB (file %.1f, anon %.1f; VmHWM %.1f)\n", when,
	       status_mib("VmRSS"), status_mib("RssFile"), status_mib("RssAnon"),
	       status_mib("VmHWM"));
}

static void trim_timed(struct cache *c)
{
	double t0 = now_s();
	int r = cache_release_map(c);

	printf("  cache_release_map()                                   %8.2f ms%s\n", (now_s() - t0) * 1e3,
	       r < 0 ? " (failed)" : "");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct lk {
	uint64_t parent;
	char name[40];
};

struct lk_thread {
	struct cache *c;
	const struct lk *lks;
	size_t n;
	size_t hits;
};

static void *lookup_thread(void *p)
{
	struct lk_thread *t = p;
	struct cache_attr a;
	uint64_t ino;

	for (size_t i = 0; i < t->n; i++)
		t->hits += cache_lookup(t->c, t->lks[i].parent, t->lks[i].name, &ino, &a) == 1;
	return NULL;
}

int main(int argc, char **argv)
{
	size_t n_entities = 1000000, dir_size = 10000, n_dirs, n_lookups = 2000000;
	struct cache_options opts = { 0 };
	struct cache_info info;
	struct cache *c;
	uint64_t *dir_inos;
	struct lk *lks;
	double t0, t1, build_s;
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [N_ENTITIES] [DIR_SIZE]\n", argv[0]);
		return 2;
	}
	if (argc > 2)
		n_entities = strtoull(argv[2], NULL, 10);
	if (argc > 3)
		dir_size = strtoull(argv[3], NULL, 10);
	if (!n_entities || !dir_size || n_entities < dir_size) {
		fprintf(stderr, "bad sizes\n");
		return 2;
	}
	n_dirs = n_entities / dir_size;
	r = cache_open(argv[1], "https://bench.ftrackapp.com", "bench@studio.com", &opts, &c);
	if (r < 0) {
		fprintf(stderr, "cache_open: %s\n", strerror(-r));
		return 1;
	}

	/* ---- build ---- */
	dir_inos = calloc(n_dirs, sizeof(*dir_inos));
	{
		struct cache_child *top = calloc(n_dirs, sizeof(*top));
		char (*keys)[32] = calloc(n_dirs, sizeof(*keys));
		char (*names)[32] = calloc(n_dirs, sizeof(*names));

		for (size_t d = 0; d < n_dirs; d++) {
			snprintf(keys[d], sizeof(keys[d]), "p:dir-%zu", d);
			snprintf(names[d], sizeof(names[d]), "sh%04zu", d * 10);
			top[d].key = keys[d];
			top[d].name = names[d];
			top[d].attr.kind = CACHE_KIND_DIR;
			top[d].attr.mode = 0555;
			top[d].attr.nlink = 2;
			top[d].type = "Shot";
		}
		r = cache_dir_apply(c, CACHE_ROOT_INO, 0, 1, top, n_dirs, NULL);
		for (size_t d = 0; r == 0 && d < n_dirs; d++)
			r = cache_lookup(c, CACHE_ROOT_INO, names[d], &dir_inos[d], NULL) == 1 ? 0 : -EIO;
		free(top);
		free(keys);
		free(names);
		if (r < 0) {
			fprintf(stderr, "top apply: %s\n", strerror(-r));
			return 1;
		}
	}
	printf("cache-bench: %zu entities in %zu directories of %zu, in %s\n", n_dirs * dir_size,
	       n_dirs, dir_size, argv[1]);
	t0 = now_s();
	for (size_t d = 0; d < n_dirs; d++) {
		struct dirset s;

		if (dirset_make(&s, dir_size, (unsigned int)d, 0) < 0)
			return 1;
		r = apply_dir(c, dir_inos[d], &s, NULL);
		dirset_free(&s);
		if (r < 0) {
			fprintf(stderr, "apply: %s\n", strerror(-r));
			return 1;
		}
	}
	build_s = now_s() - t0;
	cache_info(c, &info);
	printf("  build (one apply txn per directory, fsync on)  %8.2f s  (%.0f entities/s)\n",
	       build_s, (double)(n_dirs * dir_size) / build_s);
	printf("  on-disk size                                   %8.1f MiB file, %.1f MiB used\n",
	       (double)info.file_size / 1048576.0, (double)info.used_bytes / 1048576.0);
	printf("  bytes per entity (entry+inode+key records)     %8.0f B used, %.0f B file\n",
	       (double)info.used_bytes / (double)info.n_entries,
	       (double)info.file_size / (double)info.n_entries);
	print_rss("after build");
	trim_timed(c);
	print_rss("after cache_release_map()");

	/* ---- lookups on one thread ---- */
	lks = calloc(n_lookups, sizeof(*lks));
	for (size_t i = 0; i < n_lookups; i++) {
		size_t d = rng() % n_dirs, e = rng() % dir_size;

		lks[i].parent = dir_inos[d];
		snprintf(lks[i].name, sizeof(lks[i].name), "plate_%06zu.exr", e);
	}
	{
		struct lk_thread t = { .c = c, .lks = lks, .n = n_lookups };

		double rates[5];

		lookup_thread(&t);	/* warm: page cache and our reader slot */
		for (int round = 0; round < 5; round++) {
			t.hits = 0;
			t0 = now_s();
			lookup_thread(&t);
			t1 = now_s();
			rates[round] = (double)n_lookups / (t1 - t0);
		}
		qsort(rates, 5, sizeof(rates[0]), cmp_double);
		printf("  lookup (parent,name) -> ino+attr, 1 thread      %8.0f /s best of 5, median %.0f (%.0f ns; %zu/%zu hits)\n",
		       rates[4], rates[2], 1e9 / rates[2], t.hits, n_lookups);
	}
	{
		/* the pattern of ls -l / find: every name of one directory in order */
		struct cache_dir *dir;
		size_t hits = 0, n = 0;

		if (cache_readdir(c, dir_inos[0], NULL, 0, &dir) == 0) {
			struct cache_attr a;
			uint64_t ino;

			t0 = now_s();
			for (int round = 0; round < 20; round++) {
				for (size_t i = 0; i < dir->n; i++, n++)
					hits += cache_lookup(c, dir_inos[0], dir->v[i].name, &ino, &a) == 1;
			}
			t1 = now_s();
			printf("  lookup in readdir order (ls -l pattern)         %8.0f /s  (%zu/%zu hits)\n",
			       (double)n / (t1 - t0), hits, n);
			cache_dir_free(dir);
		}
	}
	{
		struct lk_thread t[2] = {
			{ .c = c, .lks = lks, .n = n_lookups / 2 },
			{ .c = c, .lks = lks + n_lookups / 2, .n = n_lookups / 2 },
		};
		pthread_t th[2];

		t0 = now_s();
		for (int i = 0; i < 2; i++)
			pthread_create(&th[i], NULL, lookup_thread, &t[i]);
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		t1 = now_s();
		printf("  lookup, 2 threads (this machine has 2 cores)    %8.0f /s\n",
		       (double)n_lookups / (t1 - t0));
	}
	{
		struct cache_entry e;
		size_t hits = 0, n = 1000000;
		uint64_t first = dir_inos[n_dirs - 1] + 1;	/* files follow the dirs */

		t0 = now_s();
		for (size_t i = 0; i < n; i++)
			hits += cache_get(c, first + rng() % (n_dirs * dir_size), &e) == 1;
		t1 = now_s();
		printf("  getattr cache_get(ino) -> whole entry           %8.0f /s  (%zu/%zu hits)\n",
		       (double)n / (t1 - t0), hits, n);
	}
	free(lks);
	print_rss("after the lookups");
	trim_timed(c);
	print_rss("after cache_release_map()");

	/* ---- readdir ---- */
	{
		double times[50];
		struct cache_dir *dir;
		size_t got = 0;

		for (int i = 0; i < 50; i++) {
			t0 = now_s();
			r = cache_readdir(c, dir_inos[(size_t)i % n_dirs], NULL, 0, &dir);
			times[i] = (now_s() - t0) * 1e3;
			if (r < 0)
				return 1;
			got = dir->n;
			cache_dir_free(dir);
		}
		qsort(times, 50, sizeof(times[0]), cmp_double);
		printf("  readdir snapshot of a %zu-entry directory       %8.2f ms median (min %.2f, max %.2f; %zu entries with attrs)\n",
		       dir_size, times[25], times[0], times[49], got);
	}

	/* ---- apply ---- */
	{
		struct cache_child d = { .key = "p:newdir", .name = "new-shot",
					 .attr = { .kind = CACHE_KIND_DIR, .mode = 0555 } };
		struct dirset s, s2;
		uint64_t nd;
		size_t n_ch = 0;

		cache_put_child(c, CACHE_ROOT_INO, &d, &nd);
		dirset_make(&s, dir_size, 999999, 0);
		dirset_make(&s2, dir_size, 999999, 1);
		t0 = now_s();
		r = apply_dir(c, nd, &s, &n_ch);
		t1 = now_s();
		printf("  apply %zu-entry directory, all new (fsync)    %8.1f ms  (%zu changes)\n",
		       dir_size, (t1 - t0) * 1e3, n_ch);
		t0 = now_s();
		r |= apply_dir(c, nd, &s, &n_ch);
		t1 = now_s();
		printf("  apply %zu-entry directory, unchanged          %8.1f ms  (%zu changes)\n",
		       dir_size, (t1 - t0) * 1e3, n_ch);
		t0 = now_s();
		r |= apply_dir(c, nd, &s2, &n_ch);
		t1 = now_s();
		printf("  apply %zu-entry directory, 1%% renamed 1%% resized %6.1f ms  (%zu changes)\n",
		       dir_size, (t1 - t0) * 1e3, n_ch);
		t0 = now_s();
		r |= apply_dir(c, nd, &(struct dirset){ .n = 0 }, &n_ch);
		t1 = now_s();
		printf("  apply empty over %zu entries (all removed)    %8.1f ms  (%zu changes)\n",
		       dir_size, (t1 - t0) * 1e3, n_ch);
		dirset_free(&s);
		dirset_free(&s2);
		if (r) {
			fprintf(stderr, "apply failed\n");
			return 1;
		}
	}
	/* ---- a walk's level: per-directory applies vs one batch ---- */
	{
		enum { WALK_DIRS = 2000, WALK_KIDS = 5 };
		struct cache_child *top = calloc(2 * WALK_DIRS, sizeof(*top));
		struct cache_child *kids = calloc(2 * WALK_DIRS * WALK_KIDS, sizeof(*kids));
		struct cache_apply *dirs = calloc(WALK_DIRS, sizeof(*dirs));
		char (*keys)[40] = calloc(2 * WALK_DIRS * (WALK_KIDS + 1), sizeof(*keys));
		int *res = calloc(WALK_DIRS, sizeof(*res));
		struct cache_child w = { .key = "p:walk", .name = "walk",
					 .attr = { .kind = CACHE_KIND_DIR, .mode = 0555 } };
		uint64_t wino, *inos = calloc(2 * WALK_DIRS, sizeof(*inos));
		double anon0, t_single, t_many;
		size_t nk = 0;

		r = cache_put_child(c, CACHE_ROOT_INO, &w, &wino);
		for (size_t d = 0; r >= 0 && d < 2 * WALK_DIRS; d++) {
			snprintf(keys[nk], sizeof(keys[nk]), "p:walk-%zu", d);
			top[d] = (struct cache_child){ .key = keys[nk], .name = keys[nk] + 2,
						       .attr = { .kind = CACHE_KIND_DIR, .mode = 0555 },
						       .type = "AssetVersion" };
			nk++;
			for (size_t k = 0; k < WALK_KIDS; k++) {
				struct cache_child *ch = &kids[d * WALK_KIDS + k];

				snprintf(keys[nk], sizeof(keys[nk]), "p:walk-%zu-%zu", d, k);
				*ch = (struct cache_child){ .key = keys[nk], .name = keys[nk] + 2,
							    .attr = { .kind = CACHE_KIND_FILE, .mode = 0444,
								      .nlink = 1, .size = 1000 + k },
							    .ftrack_id = keys[nk] + 2,
							    .type = "FileComponent", .blob = blob,
							    .blob_len = sizeof(blob) - 1 };
				nk++;
			}
		}
		if (r >= 0)
			r = cache_dir_apply(c, wino, 0, 1, top, 2 * WALK_DIRS, NULL);
		for (size_t d = 0; r >= 0 && d < 2 * WALK_DIRS; d++)
			r = cache_lookup(c, wino, top[d].name, &inos[d], NULL) == 1 ? 0 : -EIO;
		t0 = now_s();
		for (size_t d = 0; r >= 0 && d < WALK_DIRS; d++)
			r = cache_dir_apply(c, inos[d], 0, 1, kids + d * WALK_KIDS, WALK_KIDS, NULL);
		t_single = now_s() - t0;
		for (size_t d = 0; d < WALK_DIRS; d++)
			dirs[d] = (struct cache_apply){ .parent = inos[WALK_DIRS + d], .fetched_ns = 1,
							.children = kids + (WALK_DIRS + d) * WALK_KIDS,
							.n = WALK_KIDS };
		anon0 = status_mib("RssAnon");
		t0 = now_s();
		if (r >= 0)
			r = cache_dir_apply_many(c, dirs, WALK_DIRS, res, NULL);
		t_many = now_s() - t0;
		if (r != WALK_DIRS) {
			fprintf(stderr, "walk applies failed: %d\n", r);
			return 1;
		}
		printf("  a level of %d directories of %d (fsync on):\n", WALK_DIRS, WALK_KIDS);
		printf("    one cache_dir_apply() each                   %8.1f ms  (%d commits)\n",
		       t_single * 1e3, WALK_DIRS);
		printf("    one cache_dir_apply_many()                   %8.1f ms  (1 commit; heap +%.1f MiB)\n",
		       t_many * 1e3, status_mib("RssAnon") - anon0);
		free(top);
		free(kids);
		free(dirs);
		free(keys);
		free(res);
		free(inos);
	}

	cache_info(c, &info);
	printf("  map size now %.0f MiB (started at 256 MiB, grown by itself)\n",
	       (double)info.map_size / 1048576.0);
	cache_close(c);
	free(dir_inos);
	return 0;
}
