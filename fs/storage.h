/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage.h - from a component's (location, resource_identifier) to bytes on
 * this machine, never outside a configured root (private to fs/).
 *
 * Resolution (storage_resolve()):
 *  1. [pathmap] rewrites a foreign prefix: "S:\a\b" or "s:/a/b" with
 *     "S:\ = /storage" gives "/storage/a/b"; "\\192.168.1.240\storage\a"
 *     with "\\192.168.1.240\storage = /storage" the same. Drive letters and
 *     UNC prefixes match case-insensitively, POSIX prefixes exactly, and
 *     always on a path-component boundary. Every '\' becomes '/'.
 *  2. An absolute result belongs to the location whose local root or
 *     [absolute] prefix is its longest component-boundary prefix; the rest
 *     is the relative path. No such prefix: -EACCES ("outside every root").
 *     A Windows path left unmapped: -EACCES.
 *  3. A relative identifier belongs to the component's own location.
 *
 * Opening (storage_openat()) is confined: openat2(rootfd, rel,
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so "..", absolute symlinks and
 * symlinks leading out of the root fail. If the kernel lacks openat2
 * (ENOSYS) a component-by-component O_NOFOLLOW walk is used instead, which
 * refuses ".." and every symlink. Every escape attempt is answered with
 * -EACCES (the kernel's EXDEV/ELOOP are folded into it) so callers reply
 * one documented errno: EACCES = "refused: outside the storage root".
 *
 * One O_PATH fd is held per local location's root, never one per file.
 * Functions are thread-safe once storage_open() has returned.
 */
#ifndef FTRACKFS_FS_STORAGE_H
#define FTRACKFS_FS_STORAGE_H

#include <stddef.h>

#include "ftrackfs/config.h"

struct storage;

/*
 * storage_open() - open the root of every local location of @cfg (which
 * must outlive the storage). A root that cannot be opened is logged and
 * treated as absent (reads beneath it fail with -ENOENT).
 * Returns 0 or -ENOMEM.
 */
int storage_open(const struct config *cfg, struct storage **ret_st);

/* storage_close() - close the root fds; accepts NULL. */
void storage_close(struct storage *st);

/*
 * storage_map_path() - step 1 only: backslashes and [pathmap]. Writes the
 * rewritten identifier to @out (@out_len bytes). Returns its length,
 * -ENAMETOOLONG, or -EACCES for a Windows path no [pathmap] rule covers.
 */
int storage_map_path(const struct config *cfg, const char *ri, char *out, size_t out_len);

/*
 * storage_resolve() - steps 1-3. On success returns 0, sets *ret_loc to the
 * owning location (borrowed from @cfg; NULL when a relative identifier's
 * location is not in the config) and writes the path relative to that
 * location's root to @rel. Errors: -EACCES (outside every root, unmapped
 * Windows path, empty path), -ENAMETOOLONG.
 */
int storage_resolve(const struct config *cfg, const char *location, const char *ri,
		    const struct config_location **ret_loc, char *rel, size_t rel_len);

/*
 * storage_openat() - open @rel read-only beneath the root of @loc.
 * Returns an fd (caller closes), -EREMOTE if @loc is NULL or not local,
 * -EACCES on any escape, or the open's -errno (-ENOENT, -EISDIR, ...).
 */
int storage_openat(struct storage *st, const struct config_location *loc, const char *rel);

/*
 * storage_open_component() - storage_resolve() then storage_openat().
 * Sets *ret_where (borrowed, may be NULL) to the owning location for error
 * messages.
 */
int storage_open_component(struct storage *st, const char *location, const char *ri,
			   const struct config_location **ret_where);

#ifdef UNIT_TESTING
/* force the O_NOFOLLOW walk, as if openat2 were missing */
extern int storage_force_walk;
#endif

#endif /* FTRACKFS_FS_STORAGE_H */
