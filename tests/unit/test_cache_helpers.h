/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers for the cache unit tests (header-only, static). */
#ifndef TEST_CACHE_HELPERS_H
#define TEST_CACHE_HELPERS_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ftrackfs/cache.h"

#define SERVER "https://studio.ftrackapp.com"
#define USER "lisa@studio.com"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline char *make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char buf[4096];
	char *p;

	snprintf(buf, sizeof(buf), "%s/ftrackfs-cache-test-XXXXXX", base && *base ? base : "/tmp");
	p = mkdtemp(buf);
	return p ? strdup(p) : NULL;
}

/* Close a test cache and delete its directory (malloc'ed, freed here). */
static inline void close_and_remove(struct cache *c, char *dir)
{
	cache_close(c);
	if (dir)
		rm_rf(dir);
	free(dir);
}

static inline struct cache_child mkchild(const char *key, const char *name, uint32_t kind,
					 uint64_t size)
{
	struct cache_child ch = {
		.key = key,
		.name = name,
		.attr = { .kind = kind, .mode = kind == CACHE_KIND_DIR ? 0555 : 0444,
			  .nlink = 1, .size = size, .mtime_ns = 1700000000LL * 1000000000LL },
		.ftrack_id = key + 2,
		.type = kind == CACHE_KIND_DIR ? "Context" : "FileComponent",
	};
	return ch;
}

#endif
