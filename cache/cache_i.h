/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cache_i.h - cache/ internals shared by its translation units. Private:
 * nothing outside cache/ includes this (with cache's .c files, the only
 * place LMDB types appear).
 */
#ifndef FTRACKFS_CACHE_I_H
#define FTRACKFS_CACHE_I_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftrackfs/cache.h"
#include "ftrackfs/util.h"

#define CACHE_LOG "cache"

/* Record layout version, the first byte of every value we encode. */
#define CACHE_REC_VERSION 1

enum cache_dbi {
	DBI_META,
	DBI_KEYS,
	DBI_INODES,
	DBI_DIRENTS,
	DBI_DIRS,
	DBI_COMP,
	DBI_OUTBOX,
	DBI_OUTBOX_STATE,
	DBI_OUTBOX_PENDING,
	DBI_JOBS,
	DBI_COUNT
};

/*
 * A reader slot: one per thread that ever read, holding a reset read
 * transaction for reuse. @lock is held for the duration of each read, so a
 * map resize (which takes every slot lock) never runs under a live reader.
 */
struct cache_rslot {
	pthread_mutex_t lock;
	MDB_txn *txn;		/* NULL, reset (inactive), or live when @live */
	bool live;		/* @txn is an active snapshot taken at @seq */
	uint64_t seq;		/* cache->write_seq when the snapshot was taken */
	bool in_use;		/* owned by a live thread */
	struct cache *c;
	struct cache_rslot *next;
};

struct cache {
	MDB_env *env;
	MDB_dbi dbi[DBI_COUNT];

	pthread_mutex_t write_lock;	/* one writer at a time */
	/* Bumped after every commit: a reader slot whose snapshot was taken
	 * at the current value reuses it without a renew. */
	uint64_t write_seq;
	pthread_mutex_t slots_lock;	/* the slot list */
	struct cache_rslot *slots;
	pthread_key_t tls;
	bool has_tls;

	size_t map_size;
	/* Keeping the map's pages out of RSS (cache_set_map_budget()): where
	 * the map was last found (0 = look again; grow_map() clears it, both
	 * under slots_lock), the budget in bytes of RSS, an
	 * operation counter (__atomic) and /proc/self/statm kept open. */
	uintptr_t map_lo, map_hi;
	size_t map_budget;
	uint32_t map_ops;
	int statm_fd;
	unsigned int max_readers;
	bool no_sync;
	bool no_compact;	/* never compact at open (see maybe_compact()) */
	int lock_fd;
	unsigned int n_rebuilds;
	int64_t created_ns;

	char dir[4096];
	char server_url[CACHE_PATH_MAX + 1];
	char user[CACHE_ID_MAX + 1];
};

/* The one table from LMDB return codes to -errno (0 stays 0). */
int cache_errno_from_mdb(int rc);

/*
 * A read: cache_read_begin() gives a live read txn, cache_read_end() ends
 * the call. The snapshot stays live in the thread's slot until a write
 * commits (the writer then resets idle stale snapshots so they never pin
 * old pages), so back-to-back reads on one thread skip renew/reset.
 * Never nest, never call a write function in between.
 */
int cache_read_begin(struct cache *c, MDB_txn **ret_txn, struct cache_rslot **ret_slot);
void cache_read_end(struct cache_rslot *slot);

/*
 * cache_map_tick() - count one operation; every CACHE_MAP_TICKS of them,
 * release the map when the file-backed RSS is over the budget. Called by
 * the read path and by the writer's per-child lookups, so a walk or a big
 * apply never maps the whole database at once. Cheap: a counter, and a
 * pread() of /proc/self/statm every CACHE_MAP_TICKS calls.
 */
#define CACHE_MAP_TICKS 32
void cache_map_tick(struct cache *c);

/*
 * cache_write() - run @fn inside one write transaction and commit it.
 * @fn returns >= 0 to commit (that value is returned) or -errno to abort.
 * @fn may run several times (after growing a full map): it must reset any
 * state it builds in @ctx at its start.
 */
typedef int (*cache_write_fn)(struct cache *c, MDB_txn *txn, void *ctx);
int cache_write(struct cache *c, cache_write_fn fn, void *ctx);

int64_t cache_now_ns(void);

/* Counters kept in the meta database. */
int cache_counter_get(struct cache *c, MDB_txn *txn, const char *name, uint64_t *ret);
int cache_counter_set(struct cache *c, MDB_txn *txn, const char *name, uint64_t v);

/* Small put/get/del wrappers returning -errno (get/del: 1 hit, 0 miss). */
int cache_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const void *v,
	      size_t vlen, unsigned int flags);
int cache_get_raw(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, MDB_val *ret_val);
int cache_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen);

/* ---- encoding: a bounded writer and a checked reader ---- */

struct cbuf {
	unsigned char *p;
	size_t len;
	size_t cap;
	bool overflow;
};

struct crd {
	const unsigned char *p;
	size_t len;
	size_t off;
	bool bad;
};

void cbuf_u8(struct cbuf *b, uint8_t v);
void cbuf_u16(struct cbuf *b, uint16_t v);
void cbuf_u32(struct cbuf *b, uint32_t v);
void cbuf_u64(struct cbuf *b, uint64_t v);
void cbuf_bytes(struct cbuf *b, const void *p, size_t len);
/* a string as u16 length + bytes; NULL is "" */
void cbuf_str(struct cbuf *b, const char *s);

uint8_t crd_u8(struct crd *r);
uint16_t crd_u16(struct crd *r);
uint32_t crd_u32(struct crd *r);
uint64_t crd_u64(struct crd *r);
/* a u16-length string into @dst (NUL-terminated); bad if longer than @max */
void crd_str(struct crd *r, char *dst, size_t max);
const unsigned char *crd_bytes(struct crd *r, size_t len);

/* strnlen bound check: 0 if @s is non-NULL with 1..@max bytes (or 0..max
 * when @may_be_empty), else -EINVAL. NULL counts as "" */
int cache_check_str(const char *s, size_t max, bool may_be_empty);

/* Copy a NUL-terminated @src of at most @max bytes into @dst[@max + 1]. */
void cache_strcpy(char *dst, const char *src, size_t max);

/* big-endian u64 for keys whose order matters */
static inline void cache_put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static inline uint64_t cache_get_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Test hook (unit-test builds only): called inside cache_dir_apply()'s
 * write transaction after half of the children were written. */
#ifdef UNIT_TESTING
extern void (*cache_test_apply_hook)(size_t i, size_t n);
#endif

/* Private, reachable from unit tests. */
bool cache_fs_type_is_remote(unsigned long f_type);
void cache_identity_hash(const char *server_url, const char *user, char ret_hex[17]);
#ifdef UNIT_TESTING
bool outbox_transition_legal(uint32_t from, uint32_t to);
#endif

#endif /* FTRACKFS_CACHE_I_H */
