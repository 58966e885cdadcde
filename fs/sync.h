/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sync.h - the sync worker: fills the cache from ftrack, in batches, and
 * invalidates the kernel's caches from its own thread (private to fs/).
 *
 * Threads: FS_SYNC_WORKERS fetch workers (the only threads that talk to
 * ftrack) and one invalidation thread (the only caller of
 * fuse_lowlevel_notify_*). Request handlers only enqueue and, for a
 * directory never fetched, wait (bounded).
 */
#ifndef FTRACKFS_FS_SYNC_H
#define FTRACKFS_FS_SYNC_H

#include <stdint.h>

struct fs;
struct sync;

/*
 * sync_start() - create the fixed top of the tree (projects/, locations/,
 * .ftrackfs/ and its files; no network) and start the threads, which begin
 * by fetching the locations and the projects in the background.
 * Returns 0 or -errno.
 */
int sync_start(struct fs *fs, struct sync **ret_sync);

/* sync_stop() - stop and join the threads, drop queued work. Accepts NULL. */
void sync_stop(struct sync *s);

/*
 * sync_ensure_dir() - called by lookup and a listing's first readdir before reading directory
 * @ino from the cache. A directory never completely fetched is fetched now
 * and waited for, at most the configured first-fetch timeout; a directory
 * older than the TTL is queued for a background refresh and 0 returned at
 * once. Returns 0 when the cache can be read, -ETIMEDOUT (timeout, logged),
 * -EIO or another -errno of the failed fetch, -EACCES (key refused).
 * Directories that need no fetch (the fixed ones, components) return 0.
 */
int sync_ensure_dir(struct sync *s, uint64_t ino);

/*
 * sync_ensure_listed() - the same, for a caller that already holds a
 * snapshot of @ino's children (@listing, complete): the prefetch of a first
 * visit reads the children from it rather than from the cache again.
 */
struct cache_dir;
int sync_ensure_listed(struct sync *s, uint64_t ino, const struct cache_dir *listing);

/*
 * sync_touch_dir() - the same without ever waiting: a directory older than
 * the TTL is queued for a background refresh. Called by getattr of a
 * directory, which is how the kernel revalidates a listing it has cached
 * (at offset 0, once the directory's attributes have expired). Returns 0
 * or -errno of the cache read.
 */
int sync_touch_dir(struct sync *s, uint64_t ino);

#endif /* FTRACKFS_FS_SYNC_H */
