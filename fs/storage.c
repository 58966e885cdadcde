/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage.c - confined opens beneath configured roots (see storage.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "storage.h"
#include "ftrackfs/log.h"
#include "ftrackfs/util.h"

#define MOD "storage"

struct storage {
	const struct config *cfg;
	int *root_fd;		/* one per cfg->locations[i], -1 if not local */
};

#ifdef UNIT_TESTING
int storage_force_walk;
#else
static const int storage_force_walk;
#endif

int storage_open(const struct config *cfg, struct storage **ret_st)
{
	struct storage *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	st->cfg = cfg;
	st->root_fd = calloc(cfg->n_locations ? cfg->n_locations : 1, sizeof(int));
	if (!st->root_fd) {
		free(st);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_locations; i++) {
		const struct config_location *l = &cfg->locations[i];

		st->root_fd[i] = -1;
		if (!l->is_local || !l->root)
			continue;
		st->root_fd[i] = open(l->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (st->root_fd[i] < 0)
			log_error(MOD, "location '%s': cannot open root %s: %s", l->name, l->root,
				  strerror(errno));
	}
	*ret_st = st;
	return 0;
}

void storage_close(struct storage *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->cfg->n_locations; i++)
		if (st->root_fd[i] >= 0)
			close(st->root_fd[i]);
	free(st->root_fd);
	free(st);
}

static bool is_sep(char c)
{
	return c == '/' || c == '\\';
}

static bool is_windows_path(const char *p)
{
	return (isalpha((unsigned char)p[0]) && p[1] == ':') || (is_sep(p[0]) && is_sep(p[1]) && p[0] == '\\');
}

/*
 * If @prefix (any separators, trailing ones ignored) is a component-boundary
 * prefix of @path, return the length of @path it covers; else -1.
 * Separators compare equal to each other; letters compare case-insensitively
 * when @icase.
 */
static long prefix_match(const char *path, const char *prefix, bool icase)
{
	size_t plen = strlen(prefix);
	size_t i;

	while (plen > 0 && is_sep(prefix[plen - 1]))
		plen--;
	if (plen == 0) {
		/* prefix "/" (or "\"): every absolute path */
		return is_sep(path[0]) && is_sep(prefix[0]) ? 0 : -1;
	}
	for (i = 0; i < plen; i++) {
		char a = path[i], b = prefix[i];

		if (!a)
			return -1;
		if (is_sep(a) && is_sep(b))
			continue;
		if (icase ? tolower((unsigned char)a) != tolower((unsigned char)b) : a != b)
			return -1;
	}
	if (path[i] && !is_sep(path[i]))
		return -1;	/* "/storage2" is not under "/storage" */
	return (long)i;
}

int storage_map_path(const struct config *cfg, const char *ri, char *out, size_t out_len)
{
	const char *rest = ri;
	const char *to = NULL;
	long best = -1;
	size_t o = 0;
	int n;

	for (size_t i = 0; i < cfg->n_pathmaps; i++) {
		const char *from = cfg->pathmaps[i].from;
		long m = prefix_match(ri, from, is_windows_path(from));

		if (m > best) {
			best = m;
			to = cfg->pathmaps[i].to;
		}
	}
	if (to) {
		rest = ri + best;
		n = snprintf(out, out_len, "%s", strcmp(to, "/") ? to : "");
		if (n < 0 || (size_t)n >= out_len)
			return -ENAMETOOLONG;
		o = (size_t)n;
		if (!*rest || !is_sep(*rest)) {
			/* "S:\" consumed the separator: put one back */
			if (o + 1 >= out_len)
				return -ENAMETOOLONG;
			out[o++] = '/';
		}
	} else if (is_windows_path(ri)) {
		return -EACCES;
	}
	for (; *rest; rest++) {
		if (o + 1 >= out_len)
			return -ENAMETOOLONG;
		out[o++] = *rest == '\\' ? '/' : *rest;
	}
	out[o] = '\0';
	return (int)o;
}

/* The location owning absolute @path, and how much of @path its prefix covers. */
static const struct config_location *find_owner(const struct config *cfg, const char *path, long *ret_len)
{
	const struct config_location *owner = NULL;
	long best = -1;

	for (size_t i = 0; i < cfg->n_locations; i++) {
		const struct config_location *l = &cfg->locations[i];
		long m = l->is_local && l->root ? prefix_match(path, l->root, false) : -1;

		if (m > best) {
			best = m;
			owner = l;
		}
	}
	for (size_t i = 0; i < cfg->n_absolutes; i++) {
		long m = prefix_match(path, cfg->absolutes[i].prefix, false);

		if (m > best) {
			best = m;
			owner = config_location(cfg, cfg->absolutes[i].location);
		}
	}
	*ret_len = best;
	return owner;
}

int storage_resolve(const struct config *cfg, const char *location, const char *ri,
		    const struct config_location **ret_loc, char *rel, size_t rel_len)
{
	const struct config_location *owner;
	char path[4096];
	const char *p;
	long len;
	int r;

	if (!ri || !*ri)
		return -EACCES;
	r = storage_map_path(cfg, ri, path, sizeof(path));
	if (r < 0)
		return r;
	if (path[0] == '/') {
		owner = find_owner(cfg, path, &len);
		if (!owner || len < 0)
			return -EACCES;	/* outside every root */
		p = path + len;
	} else {
		owner = config_location(cfg, location);
		p = path;
	}
	while (*p == '/')
		p++;
	if (!*p)
		return -EACCES;		/* a root itself is no component */
	if (strlen(p) >= rel_len)
		return -ENAMETOOLONG;
	memcpy(rel, p, strlen(p) + 1);
	*ret_loc = owner;
	return 0;
}

static int fold_escape(int err)
{
	/* EXDEV: RESOLVE_BENEATH refused; ELOOP: a (magic) symlink refused */
	if (err == EXDEV || err == ELOOP)
		return -EACCES;
	return -err;
}

/* The fallback: walk @rel one component at a time, never following links. */
static int walk_open(int rootfd, const char *rel)
{
	const char *p = rel;
	int dirfd;

	dirfd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	while (*p) {
		char comp[NAME_MAX + 1];
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		bool last;
		int fd, err;

		if (len > NAME_MAX) {
			close(dirfd);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		p += len;
		while (*p == '/')
			p++;
		last = !*p;
		if (len == 0 || !strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			close(dirfd);
			return -EACCES;
		}
		if (last)
			fd = openat(dirfd, comp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		else
			fd = openat(dirfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		err = errno;
		close(dirfd);
		if (fd < 0)
			return err == ENOTDIR && !last ? -EACCES : fold_escape(err);
		dirfd = fd;
	}
	return dirfd;
}

int storage_openat(struct storage *st, const struct config_location *loc, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int rootfd = -1;
	long fd;

	if (!loc || !loc->is_local)
		return -EREMOTE;
	for (size_t i = 0; i < st->cfg->n_locations; i++)
		if (&st->cfg->locations[i] == loc)
			rootfd = st->root_fd[i];
	if (rootfd < 0)
		return -ENOENT;
	if (!rel || !*rel || rel[0] == '/')
		return -EACCES;
	if (!storage_force_walk) {
		fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS)
			return fold_escape(errno);
	}
	return walk_open(rootfd, rel);
}

int storage_open_component(struct storage *st, const char *location, const char *ri,
			   const struct config_location **ret_where)
{
	const struct config_location *loc = NULL;
	char rel[4096];
	int r;

	r = storage_resolve(st->cfg, location, ri, &loc, rel, sizeof(rel));
	if (ret_where)
		*ret_where = r == 0 ? loc : NULL;
	if (r < 0)
		return r;
	return storage_openat(st, loc, rel);
}
