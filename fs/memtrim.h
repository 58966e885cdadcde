/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memtrim.h - a thread that keeps the LMDB map's pages out of the daemon's
 * RSS (private to fs/).
 *
 * Every page of data.mdb a lookup or readdir touches stays mapped in the
 * daemon and counts in its RSS (RssFile) although it is reclaimable page
 * cache: with a 100,000-version project cached, 123 of 152 MiB. The sync
 * worker releases the map after each apply batch, but a walk of what is
 * cached only reads, so nothing released it there. Every
 * MEMTRIM_INTERVAL_MS this thread reads /proc/self/statm and, when the
 * RSS is above a threshold and its file-backed part (shared pages x page
 * size: RssFile + RssShmem) above a quarter of it, calls
 * cache_release_map() (the same rule as the cache's own budget).
 *
 * What it bounds is the RSS between bursts, not the peak (VmHWM); the peak
 * is bounded by the cache itself (cache_set_map_budget(), same budget),
 * which checks as it works. Why a timer cannot: on every
 * fault the kernel also maps up to 15 neighbouring page-cache pages
 * ("fault-around"; the MADV_RANDOM that MDB_NORDAHEAD sets does not stop
 * it), and B-tree lookups by key land all over the file, so a walk maps
 * the map at 1-2 GiB/s. Measured with a 100,000-version project (129 MB
 * database, sampled every 10 ms): during the cold walk one apply batch
 * took the file-backed RSS from 15 to 92 MiB within 40 ms; a `find` over
 * the cached tree, from 12 to 53 MiB within 20 ms. No polling interval
 * catches that: polling every 50 ms measured the same peak as 500 ms.
 *
 * The file-backed part counts the binary and its libraries too (about 9
 * MiB resident): a threshold under four times that releases the map on
 * every tick, which is harmless (about 1 ms) but pointless.
 */
#ifndef FTRACKFS_FS_MEMTRIM_H
#define FTRACKFS_FS_MEMTRIM_H

#include <stddef.h>

struct cache;
struct memtrim;

#define MEMTRIM_INTERVAL_MS 500
#define MEMTRIM_DEFAULT_THRESHOLD (48u << 20)	/* bytes of RSS */

/*
 * memtrim_start() - start the thread over @c, which must stay open until
 * memtrim_stop() has returned.
 * @threshold: release when the RSS exceeds this many bytes (and its
 *             file-backed part a quarter of them); 0 for
 *             MEMTRIM_DEFAULT_THRESHOLD.
 * Returns 0 and sets *ret_memtrim (release with memtrim_stop()); -EINVAL
 * for a NULL @c or @ret_memtrim, -ENOMEM, or the -errno of
 * pthread_create(). *ret_memtrim is written only on success.
 */
int memtrim_start(struct cache *c, size_t threshold, struct memtrim **ret_memtrim);

/*
 * memtrim_stop() - wake the thread, join it and free @m. Returns as soon
 * as a release in progress (about 1 ms) has finished: the thread waits on
 * a condition variable, not in sleep(). Accepts NULL.
 */
void memtrim_stop(struct memtrim *m);

#ifdef UNIT_TESTING
/* /proc/self/statm's resident and shared fields, in pages. 0 or -errno. */
int memtrim_statm(unsigned long *ret_resident, unsigned long *ret_shared);
#endif

#endif /* FTRACKFS_FS_MEMTRIM_H */
