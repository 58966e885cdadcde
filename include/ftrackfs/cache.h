/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cache.h - the LMDB store behind every filesystem answer.
 *
 * This header is the manual. Every FUSE reply is served from here; the
 * network only ever fills it. cache/ knows nothing about ftrack, accsyn,
 * FUSE or JSON: it stores plain records defined below, and the filesystem
 * maps its model onto them.
 *
 * Design note
 * -----------
 * One LMDB environment per (ftrack server, user), in
 * $XDG_CACHE_HOME/ftrackfs/<16 hex digits of a hash of server+user>/
 * (directory 0700, files 0600), never on a network or FUSE filesystem.
 * Named databases:
 *
 *   meta       format version, server identity, counters, caller's key/values
 *   keys       caller's key string ("p:<id>", "l:<loc>:<id>") -> inode
 *   inodes     inode -> (parent inode, name, ftrack id, type, blob)
 *   dirents    (parent inode big-endian, name bytes) -> (inode, attributes),
 *              36 bytes. Key order is readdir order; a lookup is one get.
 *   dirs       inode -> directory state (generation, fetch time, complete)
 *   compstate  (component id, location id) -> component-location state
 *   outbox     intent id -> intent record, plus two indexes (by state, and
 *              pending (component, destination))
 *   jobs       accsyn job id -> job record
 *
 * Inodes are 64-bit, allocated from a persisted counter the first time a key
 * is seen, and never reused: a key keeps its inode for the life of the
 * database, even after its entity is removed, so an entity that comes back
 * gets its old number. Inode 1 (CACHE_ROOT_INO, FUSE_ROOT_ID) is reserved: it
 * has no key and no record (the filesystem answers its attributes itself),
 * but children can be applied under it.
 *
 * Every directory write (apply, put, remove) sets the directory's generation
 * to a fresh value from a database-wide counter, so a generation is never
 * repeated, even if a directory is deleted and recreated.
 *
 * Records carry a version byte and the database a format version. A foreign
 * (other server/user), older, newer, truncated or otherwise unreadable
 * database is renamed to data.mdb.<why>-<UTC time> (why: "foreign" for
 * another server or user, "format" for another format version, "corrupt"
 * otherwise), logged, and replaced by an empty one at cache_open(): never
 * a crash, never silently wrong data.
 * A record that fails to decode later returns -EUCLEAN and is logged.
 *
 * Concurrency: all functions are safe from any thread. Reads use a
 * per-thread reusable read transaction, kept live between calls until the
 * next commit (then renewed; the writer resets idle stale ones so they pin
 * nothing), so they are cheap, each call sees one consistent snapshot, and
 * a call that starts after a write returned sees that write. Writes are
 * serialised by a mutex; each public write function is one transaction,
 * all-or-nothing. When the map is full it is grown and the whole write is
 * retried: callers never see MDB_MAP_FULL (only -ENOSPC when the disk or
 * address space really is exhausted).
 *
 * Memory: records are copied out before a transaction ends. Fixed-size
 * output structs are owned by the caller. Functions returning a pointer to
 * an allocated result say how to free it. No LMDB type crosses this header.
 *
 * Errors: >= 0 success, -errno failure. Lookups are three-way: 1 hit, 0 miss,
 * < 0 error. Common codes (not repeated below):
 *   -EINVAL   an argument is malformed (too long, empty, NULL where required)
 *   -ENOMEM   allocation failed
 *   -ENOSPC   the map could not be grown (disk or address space full)
 *   -EAGAIN   too many reader threads (more than max_readers)
 *   -EUCLEAN  a stored record or page is corrupt (logged)
 *   -EIO      any other storage failure (logged)
 */
#ifndef FTRACKFS_CACHE_H
#define FTRACKFS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache;

#define CACHE_ROOT_INO 1ULL

/* Bump when any record layout or key scheme changes: old databases are
 * then moved aside and rebuilt. */
#define CACHE_FORMAT_VERSION 2	/* 2: ids and blob moved from entry to inode records */

/* Limits in bytes, not counting the terminating NUL. */
#define CACHE_NAME_MAX 255	/* a directory entry name */
#define CACHE_KEY_MAX 255	/* an inode key ("p:<id>") */
#define CACHE_ID_MAX 127	/* ftrack/accsyn ids, location ids, tokens */
#define CACHE_TYPE_MAX 63	/* ftrack entity type name */
#define CACHE_BLOB_MAX 1024	/* the filesystem's opaque per-entry data */
#define CACHE_PATH_MAX 4095	/* resource identifiers, destination paths */
#define CACHE_REASON_MAX 1023	/* failure reasons */
#define CACHE_JOBNAME_MAX 255
#define CACHE_STATUS_MAX 31	/* accsyn job status string */

/* ------------------------------------------------------------------------ */
/* Environment */

struct cache_options {
	/* Initial map size in bytes; 0 = 256 MiB. The map grows by itself. */
	size_t map_size;
	/* Maximum concurrent reader threads; 0 = 1022. */
	unsigned int max_readers;
	/* Skip fsync at commit (tests and benchmarks only): a process crash
	 * still loses nothing, a power loss may lose the last commits. */
	bool no_sync;
	/* Never compact data.mdb at open. By default a file whose used part
	 * grew by a quarter since the last compaction (and is over 16 MiB) is
	 * rewritten in tree order first: fewer pages mapped per walk. */
	bool no_compact;
};

/*
 * cache_open() - open (creating if needed) the cache of @server_url/@user.
 * @dir:        the directory holding the database; NULL for
 *              $XDG_CACHE_HOME/ftrackfs/<hash> (or ~/.cache/ftrackfs/<hash>).
 *              Created 0700 with missing parents; must be absolute or is
 *              resolved against the current directory now.
 * @server_url, @user: the identity stored in the database; a database made
 *              for another identity is moved aside and rebuilt.
 * @opts:       NULL for defaults.
 *
 * Must be called after any fork()/daemonize (LMDB forbids using an
 * environment across fork). One process may hold a given cache directory
 * at a time.
 *
 * Returns 0 and sets *ret_cache; -EREMOTE when @dir is on NFS, SMB/CIFS,
 * FUSE or another network filesystem (logged); -EBUSY when another process
 * (or another cache_open() in this one) holds the directory; -ENOTDIR,
 * -EACCES, ... from creating the directory.
 */
int cache_open(const char *dir, const char *server_url, const char *user,
	       const struct cache_options *opts, struct cache **ret_cache);

/*
 * cache_close() - close the environment and free @c. Accepts NULL.
 * No other thread may be inside a cache_* call on @c.
 */
void cache_close(struct cache *c);

struct cache_info {
	char path[4096];		/* the cache directory */
	char server_url[CACHE_PATH_MAX + 1];
	char user[CACHE_ID_MAX + 1];
	uint32_t format_version;
	int64_t created_ns;		/* when this database was created */
	uint64_t map_size;		/* current map size, bytes */
	uint64_t file_size;		/* data.mdb size on disk, bytes */
	uint64_t used_bytes;		/* pages in use * page size */
	uint64_t n_entries;		/* directory entries (entities) */
	uint64_t n_keys;		/* keys ever given an inode */
	uint64_t next_ino;		/* the next inode to allocate */
	uint32_t n_rebuilds;		/* databases moved aside by this open */
};

/* cache_info() - fill *ret_info. Returns 0 or -errno. */
int cache_info(struct cache *c, struct cache_info *ret_info);

/*
 * cache_release_map() - drop this process's mappings of the database map's
 * pages, so they stop counting in its RSS.
 *
 * Reads go through LMDB's read-only MAP_SHARED mapping of data.mdb, so
 * every page a lookup, readdir or apply ever touched stays mapped and
 * counts in the process's RSS (RssFile, the "shared" of /proc/self/statm)
 * although it is page cache the kernel may reclaim. This unmaps them with
 * madvise(MADV_DONTNEED) over the whole map: the pages stay in the page
 * cache and the next access maps the same page again (a minor fault, no
 * I/O while it is cached). No data changes or is lost, and it is safe
 * while other threads hold read transactions or write. The heap is not
 * touched. The environment is opened with MDB_NORDAHEAD, so pages are
 * only mapped when used.
 *
 * The map's address is looked up on every call (a map resize may move
 * it); callers keep no address. VmHWM is a high-water mark: to keep the
 * peak low, release during a big walk (after each apply batch, or from
 * a periodic thread such as fs/memtrim.c), not only at its end.
 *
 * Cost: reads /proc/self/maps, then the kernel walks the map's page
 * tables: about 1 ms per 100 MiB resident (2.3 ms for 225 MiB in
 * scripts/bench/cache.sh). Serialised with map resizes (and with reader
 * slot bookkeeping, microseconds), never with a write transaction: it
 * does not wait for a running write or its fsync. Safe from any thread.
 *
 * Returns 0; -EINVAL for a NULL @c or a writable map (MDB_WRITEMAP, never
 * set by cache_open()); -ENOENT (logged) when no mapping of data.mdb of
 * the map's size holds the map in /proc/self/maps; -EAGAIN and other
 * -errno from the read transaction that locates it; -errno (logged) from
 * madvise().
 */
int cache_release_map(struct cache *c);

/*
 * cache_prefetch() - read data.mdb once, in order, so that its pages are in
 * the page cache before lookups fault them in one 4 KiB read at a time
 * (MDB_NORDAHEAD): after a reboot the first walk of a 100,000-version
 * project waited about a second on such reads; in order, the 130 MB take
 * 65 ms. Nothing stays in the RSS. Chunks already in the page cache
 * (mincore()) are not read again. Skipped when the file is larger than a
 * quarter of MemAvailable or 4 GiB. Stops early once *@stop is true (read
 * with __atomic). Returns the bytes covered, read or found cached, or
 * -errno.
 */
int64_t cache_prefetch(struct cache *c, const bool *stop);

/*
 * cache_set_map_budget() - keep the process's RSS near @bytes as the cache
 * works: every few dozen reads or written children it looks at
 * /proc/self/statm and calls cache_release_map() when the RSS is over
 * @bytes and its file-backed part over @bytes / 4 (below that the heap is
 * what is big, and releasing the map would only cost refaults). A walk
 * maps pages far faster than any timer can look (fault-around maps 16
 * pages per fault, lookups by key land all over the file), so only the
 * operations themselves can bound the peak. Counting the whole RSS lets
 * the map use what the heap does not (a warm walk's heap is small). 0 (the
 * default) turns it off.
 */
void cache_set_map_budget(struct cache *c, size_t bytes);

/*
 * cache_over_budget() - the release rule of cache_set_map_budget(), for
 * whoever else watches the RSS (fs/memtrim.c): @resident and @file_backed
 * bytes (statm's resident and shared pages) against @budget.
 */
static inline bool cache_over_budget(uint64_t resident, uint64_t file_backed, uint64_t budget)
{
	return resident > budget && file_backed > budget / 4;
}

/* ------------------------------------------------------------------------ */
/* Inodes and keys */

/*
 * cache_ino_lookup() - the inode of @key, if it was ever allocated.
 * Returns 1 and sets *ret_ino, 0 when @key has no inode, -errno.
 */
int cache_ino_lookup(struct cache *c, const char *key, uint64_t *ret_ino);

/*
 * cache_ino_get() - the inode of @key, allocating the next one (a write
 * transaction) if it has none. Returns 1 when newly allocated, 0 when it
 * already existed, with *ret_ino set in both cases; -errno on failure.
 * cache_dir_apply() allocates inodes itself: this is for single entries.
 */
int cache_ino_get(struct cache *c, const char *key, uint64_t *ret_ino);

/* ------------------------------------------------------------------------ */
/* Entries (the tree) */

enum cache_kind {
	CACHE_KIND_DIR = 1,
	CACHE_KIND_FILE = 2,
	CACHE_KIND_SYMLINK = 3,	/* the target is the filesystem's to keep, e.g. in the blob */
};

/* What readdirplus and getattr need. */
struct cache_attr {
	uint32_t kind;		/* enum cache_kind */
	uint32_t mode;		/* permission bits only (07777) */
	uint32_t nlink;		/* as the filesystem computed it; 0 = unknown */
	uint32_t flags;		/* the filesystem's own bits; opaque here */
	uint64_t size;		/* bytes */
	int64_t mtime_ns;	/* ns since the epoch */
};

/* A whole entry, as returned by lookups. Owned by the caller. */
struct cache_entry {
	uint64_t ino;
	uint64_t parent;
	struct cache_attr attr;
	char name[CACHE_NAME_MAX + 1];
	char ftrack_id[CACHE_ID_MAX + 1];	/* "" when none */
	char type[CACHE_TYPE_MAX + 1];		/* ftrack entity type, "" when none */
	uint32_t blob_len;
	unsigned char blob[CACHE_BLOB_MAX];
};

/* One child as the filesystem supplies it. All pointers are borrowed for
 * the duration of the call. */
struct cache_child {
	const char *key;	/* identity -> inode; <= CACHE_KEY_MAX bytes */
	const char *name;	/* <= CACHE_NAME_MAX bytes; no '/', not "", ".", ".." */
	struct cache_attr attr;
	const char *ftrack_id;	/* NULL or <= CACHE_ID_MAX bytes */
	const char *type;	/* NULL or <= CACHE_TYPE_MAX bytes */
	const void *blob;	/* NULL or blob_len <= CACHE_BLOB_MAX bytes */
	size_t blob_len;
};

/*
 * cache_lookup() - find the child called @name in directory @parent.
 * Returns 1 and fills *ret_ino and *ret_attr (either may be NULL) on a hit,
 * 0 when @parent has no such child, -errno. The hot path: one get.
 */
int cache_lookup(struct cache *c, uint64_t parent, const char *name,
		 uint64_t *ret_ino, struct cache_attr *ret_attr);

/*
 * cache_lookup_entry() - like cache_lookup() with the whole entry.
 * Returns 1 and fills *ret_entry, 0 on a miss, -errno.
 */
int cache_lookup_entry(struct cache *c, uint64_t parent, const char *name,
		       struct cache_entry *ret_entry);

/*
 * cache_get() - the entry of inode @ino (getattr, getxattr, open).
 * Returns 1 and fills *ret_entry, 0 when @ino has no entry (never
 * allocated, removed, or CACHE_ROOT_INO), -errno.
 */
int cache_get(struct cache *c, uint64_t ino, struct cache_entry *ret_entry);

/*
 * cache_put_child() - insert or replace one child of @parent, outside a
 * fetch (a local write, a single refreshed entity). The child's inode comes
 * from child->key. If the inode was the child of another directory (or of
 * @parent under another name) it is moved. A different inode already called
 * child->name in @parent is removed with its subtree. Bumps @parent's
 * generation (and the old parent's when moved); does not change
 * "complete" or the fetch time.
 * Returns 1 when the child is new here, 0 when updated, with *ret_ino set
 * (may be NULL); -ENOENT when @parent has no entry, -ENOTDIR when it is not
 * a directory.
 */
int cache_put_child(struct cache *c, uint64_t parent,
		    const struct cache_child *child, uint64_t *ret_ino);

/*
 * cache_remove_child() - remove @name from @parent, with its whole subtree
 * (keys keep their inodes). Bumps @parent's generation.
 * Returns 1 and sets *ret_ino (may be NULL) when removed, 0 when there was
 * no such child, -errno.
 */
int cache_remove_child(struct cache *c, uint64_t parent, const char *name,
		       uint64_t *ret_ino);

/* ------------------------------------------------------------------------ */
/* Directories */

#define CACHE_DIR_COMPLETE 0x1u		/* children were applied from a full fetch */

struct cache_dirstate {
	uint64_t generation;	/* 0 when the directory was never written */
	int64_t fetched_ns;	/* last cache_dir_apply(), 0 = never */
	uint32_t flags;		/* CACHE_DIR_* */
	uint32_t n_children;
};

/*
 * cache_dir_state() - the state of directory @ino.
 * Returns 1 and fills *ret_state; 0 when the directory was never written,
 * with *ret_state zeroed (generation 0 is a valid expectation for
 * cache_dir_apply()); -errno.
 */
int cache_dir_state(struct cache *c, uint64_t ino, struct cache_dirstate *ret_state);

/*
 * cache_dir_state_many() - cache_dir_state() of @n inodes from ONE read
 * snapshot (e.g. to filter a prefetch frontier).
 * @ret_states: array of @n, filled like cache_dir_state() fills its one:
 *              zeroed (generation 0) for a directory never written.
 * Returns how many of the @n have a state (>= 0), -errno (then the
 * contents of @ret_states are unspecified).
 */
int cache_dir_state_many(struct cache *c, const uint64_t *inos, size_t n,
			 struct cache_dirstate *ret_states);

/* One directory entry of a snapshot. @name points into the owning
 * struct cache_dir and lives as long as it. */
struct cache_dirent {
	uint64_t ino;
	struct cache_attr attr;
	const char *name;
	uint32_t name_len;
};

struct cache_dir {
	uint64_t parent;
	struct cache_dirstate state;	/* of the same snapshot */
	bool is_end;			/* no entries follow the last one returned */
	size_t n;
	struct cache_dirent *v;		/* n entries, in name (byte) order */
};

/*
 * cache_readdir() - snapshot children of @parent, from one read transaction.
 * @after: NULL to start at the first entry, or a name: start strictly after
 *         it (resume; the name need not exist any more).
 * @max:   at most this many entries; 0 for all.
 * Returns 0 and sets *ret_dir (free with cache_dir_free()); a directory
 * never written gives an empty snapshot with state.generation 0. -errno.
 */
int cache_readdir(struct cache *c, uint64_t parent, const char *after, size_t max,
		  struct cache_dir **ret_dir);

/* cache_dir_free() - free a snapshot. Accepts NULL. */
void cache_dir_free(struct cache_dir *d);

enum cache_change_kind {
	CACHE_CHANGE_ADDED = 1,	/* @ino is new in the directory, as @name */
	CACHE_CHANGE_REMOVED,	/* @ino (@name) left; it and its subtree are deleted */
	CACHE_CHANGE_RENAMED,	/* same @ino, was @old_name, now @name */
	CACHE_CHANGE_ATTR,	/* same @ino and @name; attributes, ids or blob changed */
	CACHE_CHANGE_MOVED,	/* @ino left @old_parent/@old_name, is now @name here */
};

struct cache_change {
	enum cache_change_kind kind;
	uint64_t ino;
	const char *name;	/* the name in this directory (old name for REMOVED) */
	const char *old_name;	/* RENAMED, MOVED; else NULL */
	uint64_t old_parent;	/* MOVED; else 0 */
};

/* A change set; the strings live as long as it. */
struct cache_changes {
	uint64_t parent;
	uint64_t generation;	/* the directory's generation after the write */
	size_t n;
	struct cache_change *v;
};

/* cache_changes_free() - free a change set. Accepts NULL. */
void cache_changes_free(struct cache_changes *ch);

/*
 * cache_dir_apply() - replace the children of @parent with @children, the
 * complete result of a fetch, in one write transaction.
 * @expected_generation: cache_dir_state().generation read BEFORE fetching.
 *         If the directory was written since (the generation moved), nothing
 *         changes and -ESTALE is returned: the fetch raced a newer write.
 * @fetched_ns: when the fetch started; stored as the fetch time.
 * @children, @n: keys and names must each be unique within the call.
 *         Inodes are allocated for new keys. A child already elsewhere in
 *         the tree is moved here (CACHE_CHANGE_MOVED); children not listed
 *         are removed with their subtrees.
 * @ret_changes: NULL, or receives the change set (free with
 *         cache_changes_free()); entries whose records are byte-identical
 *         are not reported and not rewritten.
 * The directory is marked CACHE_DIR_COMPLETE and gets a new generation.
 * Returns 0; -ESTALE as above; -ENOENT when @parent has no entry (and is not
 * CACHE_ROOT_INO); -ENOTDIR when it is not a directory; -EINVAL for a
 * malformed child, a duplicate key or name, or a child that is @parent or
 * one of its ancestors.
 */
int cache_dir_apply(struct cache *c, uint64_t parent, uint64_t expected_generation,
		    int64_t fetched_ns, const struct cache_child *children, size_t n,
		    struct cache_changes **ret_changes);

/* One directory of cache_dir_apply_many(). Pointers are borrowed for the
 * duration of the call. */
struct cache_apply {
	uint64_t parent;
	uint64_t expected_generation;	/* as for cache_dir_apply() */
	int64_t fetched_ns;
	const struct cache_child *children;
	size_t n;
};

/*
 * cache_dir_apply_many() - cache_dir_apply() for @n directories, in ONE
 * write transaction (one fsync), e.g. a whole level of a walk.
 * @dirs, @n:    each directory exactly as for cache_dir_apply(): its
 *               children replace its old ones, it gets a new generation
 *               and CACHE_DIR_COMPLETE, its change set is its own.
 *               Directories are applied in array order.
 * @ret_results: array of @n ints, required when @n > 0. On success slot i
 *               is 0 when @dirs[i] was applied, or the -errno
 *               cache_dir_apply() would have returned for it alone
 *               (-ESTALE, -ENOENT, -ENOTDIR, -EINVAL); such a directory
 *               is skipped with none of its writes, the others commit.
 * @ret_changes: NULL, or an array of @n pointers: slot i receives the
 *               change set of @dirs[i] (free each with
 *               cache_changes_free()), NULL for a skipped directory.
 *
 * Guards: every expected_generation is compared with the state committed
 * before this call (so a write by anyone else since the fetch still gives
 * -ESTALE), not with what earlier directories of the same batch did: when
 * @dirs[0] takes a child out of @dirs[1] (CACHE_CHANGE_MOVED), @dirs[1] is
 * still applied, over the state @dirs[0] left, which is what a walk that
 * fetched the whole level at once wants. A directory removed by an
 * earlier one of the batch gets -ENOENT. The same parent twice: the later
 * slots get -EINVAL.
 *
 * Cost: one transaction holds the dirty pages of all directories in
 * memory until the commit (about the size of the records written; ~200 B
 * per new child), and LMDB keeps those pages for reuse: keep batches to
 * some 10,000s of children. A batch that would dirty more than LMDB allows
 * in one transaction (~512 MiB) fails with -EFBIG, nothing written.
 *
 * Returns the number of directories applied (>= 0) and fills the outputs;
 * -errno when nothing was written at all (storage, -ENOMEM, -EINVAL for a
 * NULL @c, @dirs or @ret_results), with the outputs untouched.
 */
int cache_dir_apply_many(struct cache *c, const struct cache_apply *dirs, size_t n,
			 int *ret_results, struct cache_changes **ret_changes);

/* ------------------------------------------------------------------------ */
/* Component-location state */

enum cache_loc_state {
	CACHE_LOC_ABSENT = 0,
	CACHE_LOC_QUEUED = 1,
	CACHE_LOC_TRANSFERRING = 2,	/* bytes_done of bytes_total */
	CACHE_LOC_PRESENT = 3,
	CACHE_LOC_FAILED = 4,		/* reason */
};

/* Owned by the caller. */
struct cache_compstate {
	char component_id[CACHE_ID_MAX + 1];
	char location_id[CACHE_ID_MAX + 1];
	uint32_t state;				/* enum cache_loc_state */
	uint64_t bytes_done;
	uint64_t bytes_total;
	int64_t time_ns;			/* when this state was recorded */
	char resource_identifier[CACHE_PATH_MAX + 1];
	char job_id[CACHE_ID_MAX + 1];		/* accsyn job, "" when none */
	char reason[CACHE_REASON_MAX + 1];	/* FAILED, else "" */
};

/*
 * cache_compstate_put() - insert or replace the states of @n records, keyed
 * by (component_id, location_id), in one transaction. Returns 0, -errno.
 */
int cache_compstate_put(struct cache *c, const struct cache_compstate *states, size_t n);

/*
 * cache_compstate_get() - the state of @component_id at @location_id.
 * Returns 1 and fills *ret_state, 0 when none is recorded, -errno.
 */
int cache_compstate_get(struct cache *c, const char *component_id, const char *location_id,
			struct cache_compstate *ret_state);

/*
 * cache_compstate_list() - every location's state of @component_id, in
 * location id order. Returns the count (>= 0) and sets *ret_states to a
 * malloc'ed array (free() it; NULL when the count is 0), or -errno.
 */
int cache_compstate_list(struct cache *c, const char *component_id,
			 struct cache_compstate **ret_states);

/*
 * cache_compstate_delete() - forget the state of (@component_id,
 * @location_id). Returns 1 when deleted, 0 when there was none, -errno.
 */
int cache_compstate_delete(struct cache *c, const char *component_id, const char *location_id);

/* ------------------------------------------------------------------------ */
/* Outbox: send intents, a persisted state machine */

enum cache_outbox_state {
	CACHE_OUTBOX_COLLECTING = 1,	/* in the quiet period */
	CACHE_OUTBOX_READY = 2,		/* batched, to be submitted */
	CACHE_OUTBOX_SUBMITTING = 3,	/* client token set; a job may exist */
	CACHE_OUTBOX_SUBMITTED = 4,	/* job id set */
	CACHE_OUTBOX_DONE = 5,		/* terminal */
	CACHE_OUTBOX_FAILED = 6,	/* terminal unless retried; reason set */
};

/*
 * Legal transitions (anything else is -EINVAL):
 *   COLLECTING -> READY | FAILED
 *   READY      -> SUBMITTING (client_token required) | FAILED
 *   SUBMITTING -> SUBMITTED (job_id required)
 *              | READY (the token was looked up: no job was created)
 *              | FAILED
 *   SUBMITTED  -> DONE | FAILED
 *   FAILED     -> READY (retry; -EEXIST if another intent for the same
 *                 component and destination is pending meanwhile)
 * An intent is "pending" in every state but DONE and FAILED.
 */

/* Owned by the caller. */
struct cache_outbox {
	uint64_t id;				/* allocated by cache_outbox_add() */
	uint32_t state;				/* enum cache_outbox_state */
	char component_id[CACHE_ID_MAX + 1];
	char src_location_id[CACHE_ID_MAX + 1];	/* may be "" until chosen */
	char dst_location_id[CACHE_ID_MAX + 1];
	char dst_path[CACHE_PATH_MAX + 1];
	uint64_t size;
	int64_t created_ns;
	int64_t updated_ns;			/* time of the last transition */
	char client_token[CACHE_ID_MAX + 1];
	char job_id[CACHE_ID_MAX + 1];
	char reason[CACHE_REASON_MAX + 1];
};

/*
 * cache_outbox_add() - record the intent "send component_id to
 * dst_location_id" in state COLLECTING. From @intent: component_id and
 * dst_location_id (required), src_location_id, dst_path, size, created_ns
 * (0 = now); other fields are ignored. If an intent for the same
 * (component, destination) is already pending, nothing is added.
 * Returns 1 when added, 0 when one was already pending; *ret_id (may be
 * NULL) is the new or the pending intent's id. -errno.
 */
int cache_outbox_add(struct cache *c, const struct cache_outbox *intent, uint64_t *ret_id);

/* Optional fields a transition sets; NULL/"" pointers leave them unchanged. */
struct cache_outbox_update {
	const char *src_location_id;
	const char *client_token;
	const char *job_id;
	const char *reason;
};

/*
 * cache_outbox_transition() - compare-and-set the state of intents @ids
 * (@n of them) from @from to @to, setting @upd's fields, all in one
 * transaction: all change or none does.
 * Returns 0; -EBUSY when any intent is not in @from (someone else moved
 * it); -ENOENT when any id does not exist; -EINVAL when @from -> @to is
 * not legal or a required field is missing; -EEXIST (FAILED -> READY) as
 * above.
 */
int cache_outbox_transition(struct cache *c, const uint64_t *ids, size_t n,
			    enum cache_outbox_state from, enum cache_outbox_state to,
			    const struct cache_outbox_update *upd);

/* cache_outbox_get() - Returns 1 and fills *ret, 0 when @id does not exist, -errno. */
int cache_outbox_get(struct cache *c, uint64_t id, struct cache_outbox *ret);

/*
 * cache_outbox_find_pending() - the pending intent for (@component_id,
 * @dst_location_id). Returns 1 and fills *ret, 0 when none, -errno.
 */
int cache_outbox_find_pending(struct cache *c, const char *component_id,
			      const char *dst_location_id, struct cache_outbox *ret);

/*
 * cache_outbox_list() - the intents in @state, in id (creation) order; @state
 * 0 lists all. Returns the count and sets *ret_intents to a malloc'ed array
 * (free() it; NULL when the count is 0), or -errno.
 */
int cache_outbox_list(struct cache *c, enum cache_outbox_state state,
		      struct cache_outbox **ret_intents);

/*
 * cache_outbox_delete() - forget a DONE or FAILED intent.
 * Returns 1 when deleted, 0 when @id does not exist, -EBUSY when it is
 * still pending, -errno.
 */
int cache_outbox_delete(struct cache *c, uint64_t id);

/* ------------------------------------------------------------------------ */
/* Jobs (accsyn), by job id */

/* Owned by the caller. */
struct cache_job {
	char job_id[CACHE_ID_MAX + 1];
	char name[CACHE_JOBNAME_MAX + 1];
	char status[CACHE_STATUS_MAX + 1];	/* accsyn's status word, verbatim */
	char ftrack_job_id[CACHE_ID_MAX + 1];	/* "" until created */
	char client_token[CACHE_ID_MAX + 1];
	char src_location_id[CACHE_ID_MAX + 1];
	char dst_location_id[CACHE_ID_MAX + 1];
	char reason[CACHE_REASON_MAX + 1];
	uint32_t progress;			/* percent, 0..100 */
	uint64_t bytes_done;
	uint64_t bytes_total;
	int64_t created_ns;
	int64_t updated_ns;
	int64_t finished_ns;			/* 0 while running */
};

/* cache_job_put() - insert or replace @job (keyed by job_id). Returns 0, -errno. */
int cache_job_put(struct cache *c, const struct cache_job *job);

/* cache_job_get() - Returns 1 and fills *ret, 0 when unknown, -errno. */
int cache_job_get(struct cache *c, const char *job_id, struct cache_job *ret);

/*
 * cache_job_list() - all jobs in job id order. Returns the count and sets
 * *ret_jobs to a malloc'ed array (free() it; NULL when 0), or -errno.
 */
int cache_job_list(struct cache *c, struct cache_job **ret_jobs);

/* cache_job_delete() - Returns 1 when deleted, 0 when unknown, -errno. */
int cache_job_delete(struct cache *c, const char *job_id);

/* ------------------------------------------------------------------------ */
/* Small persistent values for the filesystem (cursors, last event id) */

#define CACHE_KV_KEY_MAX 127
#define CACHE_KV_VALUE_MAX 4095

/* cache_kv_put() - store @value_len bytes under @key. Returns 0, -errno. */
int cache_kv_put(struct cache *c, const char *key, const void *value, size_t value_len);

/*
 * cache_kv_get() - copy the value of @key into @buf (@size bytes).
 * Returns 1 and sets *ret_len (may be NULL) to the value's length, 0 when
 * @key is unset, -ENOBUFS when @size is too small (*ret_len still set),
 * -errno.
 */
int cache_kv_get(struct cache *c, const char *key, void *buf, size_t size, size_t *ret_len);

/* cache_kv_delete() - Returns 1 when deleted, 0 when unset, -errno. */
int cache_kv_delete(struct cache *c, const char *key);

#endif /* FTRACKFS_CACHE_H */
