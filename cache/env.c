/* SPDX-License-Identifier: Apache-2.0 */
/*
 * env.c - the LMDB environment: open (with move-aside of unreadable
 * databases), reader slots, the writer loop that grows the map, metadata.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "cache_i.h"
#include "ftrackfs/log.h"

#define DEFAULT_MAP_SIZE (256ULL << 20)
#define DEFAULT_MAX_READERS 1022
/* Below this size the whole database is walked at open. */
#define FULL_CHECK_BYTES (64ULL << 20)

static const char *const dbi_names[DBI_COUNT] = {
	[DBI_META] = "meta",
	[DBI_KEYS] = "keys",
	[DBI_INODES] = "inodes",
	[DBI_DIRENTS] = "dirents",
	[DBI_DIRS] = "dirs",
	[DBI_COMP] = "compstate",
	[DBI_OUTBOX] = "outbox",
	[DBI_OUTBOX_STATE] = "outbox_state",
	[DBI_OUTBOX_PENDING] = "outbox_pending",
	[DBI_JOBS] = "jobs",
};

/* Set by cache_errno_from_mdb() when LMDB says the map is full, so the
 * writer loop can tell "grow and retry" from a real ENOSPC. */
static __thread bool tls_map_full;
/* The cache whose write transaction this thread runs, for map ticks. */
static __thread struct cache *tls_writing;

int cache_errno_from_mdb(int rc)
{
	if (rc >= 0)
		return -rc;	/* 0, or an OS errno LMDB passed through */
	switch (rc) {
	case MDB_NOTFOUND:		return -ENOENT;
	case MDB_KEYEXIST:		return -EEXIST;
	case MDB_MAP_FULL:		tls_map_full = true; return -ENOSPC;
	case MDB_TXN_FULL:		return -EFBIG;
	case MDB_READERS_FULL:		return -EAGAIN;
	case MDB_MAP_RESIZED:		return -EAGAIN;
	case MDB_DBS_FULL:		return -ENFILE;
	case MDB_PAGE_NOTFOUND:		return -EUCLEAN;
	case MDB_CORRUPTED:		return -EUCLEAN;
	case MDB_INVALID:		return -EUCLEAN;
	case MDB_VERSION_MISMATCH:	return -EUCLEAN;
	case MDB_INCOMPATIBLE:		return -EUCLEAN;
	case MDB_BAD_VALSIZE:		return -EINVAL;
	case MDB_BAD_DBI:		return -EINVAL;
	case MDB_BAD_TXN:		return -EINVAL;
	case MDB_BAD_RSLOT:		return -EINVAL;
	default:			return -EIO;
	}
}

int64_t cache_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- small helpers ---- */

int cache_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const void *v,
	      size_t vlen, unsigned int flags)
{
	MDB_val key = { .mv_size = klen, .mv_data = (void *)k };
	MDB_val val = { .mv_size = vlen, .mv_data = (void *)v };

	if (tls_writing)
		cache_map_tick(tls_writing);
	return cache_errno_from_mdb(mdb_put(txn, dbi, &key, &val, flags));
}

int cache_get_raw(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, MDB_val *ret_val)
{
	MDB_val key = { .mv_size = klen, .mv_data = (void *)k };
	int rc;

	/*
	 * Only inside a write transaction: a reader holds its slot's lock,
	 * and a release takes slots_lock, which grow_map() takes first.
	 * Readers tick in cache_read_end().
	 */
	if (tls_writing)
		cache_map_tick(tls_writing);
	rc = mdb_get(txn, dbi, &key, ret_val);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return cache_errno_from_mdb(rc);
	return 1;
}

int cache_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen)
{
	MDB_val key = { .mv_size = klen, .mv_data = (void *)k };
	int rc;

	if (tls_writing)
		cache_map_tick(tls_writing);
	rc = mdb_del(txn, dbi, &key, NULL);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return cache_errno_from_mdb(rc);
	return 1;
}

int cache_counter_get(struct cache *c, MDB_txn *txn, const char *name, uint64_t *ret)
{
	MDB_val v;
	int r = cache_get_raw(txn, c->dbi[DBI_META], name, strlen(name), &v);

	if (r < 0)
		return r;
	if (r == 0 || v.mv_size != sizeof(uint64_t)) {
		log_error(CACHE_LOG, "meta counter %s missing or malformed", name);
		return -EUCLEAN;
	}
	memcpy(ret, v.mv_data, sizeof(uint64_t));
	return 0;
}

int cache_counter_set(struct cache *c, MDB_txn *txn, const char *name, uint64_t v)
{
	return cache_put(txn, c->dbi[DBI_META], name, strlen(name), &v, sizeof(v), 0);
}

int cache_check_str(const char *s, size_t max, bool may_be_empty)
{
	size_t len = s ? strnlen(s, max + 1) : 0;

	if (len > max || (!may_be_empty && len == 0))
		return -EINVAL;
	return 0;
}

void cache_strcpy(char *dst, const char *src, size_t max)
{
	size_t len = src ? strnlen(src, max) : 0;

	if (len)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

/* ---- reader slots ---- */

static void slot_release(void *p)
{
	struct cache_rslot *s = p;

	/* thread exit: give the LMDB reader slot back, keep ours for reuse */
	pthread_mutex_lock(&s->c->slots_lock);
	pthread_mutex_lock(&s->lock);
	if (s->txn) {
		mdb_txn_abort(s->txn);
		s->txn = NULL;
	}
	s->live = false;
	s->in_use = false;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->c->slots_lock);
}

static struct cache_rslot *slot_of_thread(struct cache *c)
{
	struct cache_rslot *s = pthread_getspecific(c->tls);

	if (s)
		return s;
	pthread_mutex_lock(&c->slots_lock);
	for (s = c->slots; s; s = s->next) {
		if (!s->in_use)
			break;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s) {
			pthread_mutex_unlock(&c->slots_lock);
			return NULL;
		}
		pthread_mutex_init(&s->lock, NULL);
		s->c = c;
		s->next = c->slots;
		c->slots = s;
	}
	s->in_use = true;
	pthread_mutex_unlock(&c->slots_lock);
	if (pthread_setspecific(c->tls, s) != 0) {
		s->in_use = false;
		return NULL;
	}
	return s;
}

static int grow_map(struct cache *c, size_t new_size);

int cache_read_begin(struct cache *c, MDB_txn **ret_txn, struct cache_rslot **ret_slot)
{
	struct cache_rslot *s = slot_of_thread(c);
	int rc;

	if (!s)
		return -ENOMEM;
	for (int attempt = 0;; attempt++) {
		uint64_t seq;

		pthread_mutex_lock(&s->lock);
		seq = __atomic_load_n(&c->write_seq, __ATOMIC_ACQUIRE);
		if (s->live && s->seq == seq) {
			*ret_txn = s->txn;
			*ret_slot = s;
			return 0;
		}
		if (s->live) {
			mdb_txn_reset(s->txn);
			s->live = false;
		}
		if (s->txn) {
			rc = mdb_txn_renew(s->txn);
			if (rc) {
				mdb_txn_abort(s->txn);
				s->txn = NULL;
			}
		}
		if (!s->txn)
			rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &s->txn);
		if (rc == 0) {
			/* @seq was read before the snapshot: at worst one extra renew */
			s->live = true;
			s->seq = seq;
			*ret_txn = s->txn;
			*ret_slot = s;
			return 0;
		}
		s->txn = NULL;
		pthread_mutex_unlock(&s->lock);
		if (rc == MDB_MAP_RESIZED && attempt == 0) {
			/* another process grew the map: adopt its size */
			pthread_mutex_lock(&c->write_lock);
			rc = grow_map(c, 0);
			pthread_mutex_unlock(&c->write_lock);
			if (rc == 0)
				continue;
		}
		return cache_errno_from_mdb(rc);
	}
}

void cache_read_end(struct cache_rslot *slot)
{
	pthread_mutex_unlock(&slot->lock);
	cache_map_tick(slot->c);
}

/* Reset snapshots older than the last commit, so that idle threads never
 * pin pages the writer could reuse. Slots busy right now are skipped: they
 * renew at their next read anyway. Called with write_lock held. */
static void reset_stale_snapshots(struct cache *c)
{
	uint64_t seq = __atomic_load_n(&c->write_seq, __ATOMIC_ACQUIRE);

	pthread_mutex_lock(&c->slots_lock);
	for (struct cache_rslot *s = c->slots; s; s = s->next) {
		if (pthread_mutex_trylock(&s->lock) != 0)
			continue;
		if (s->live && s->seq != seq) {
			mdb_txn_reset(s->txn);
			s->live = false;
		}
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&c->slots_lock);
}

/* ---- the writer ---- */

/* Called with write_lock held and no write txn. Takes every reader slot so
 * no read transaction is live while the map moves. */
static int grow_map(struct cache *c, size_t new_size)
{
	struct cache_rslot *s;
	int rc;

	pthread_mutex_lock(&c->slots_lock);
	for (s = c->slots; s; s = s->next) {
		pthread_mutex_lock(&s->lock);
		if (s->live) {
			mdb_txn_reset(s->txn);
			s->live = false;
		}
	}
	rc = mdb_env_set_mapsize(c->env, new_size);
	c->map_lo = c->map_hi = 0;	/* the map may have moved */
	for (s = c->slots; s; s = s->next)
		pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&c->slots_lock);
	if (rc) {
		log_error(CACHE_LOG, "cannot resize the map to %zu bytes: %s", new_size,
			  mdb_strerror(rc));
		return cache_errno_from_mdb(rc);
	}
	if (new_size) {
		log_info(CACHE_LOG, "map grown from %zu to %zu MiB", c->map_size >> 20,
			 new_size >> 20);
		c->map_size = new_size;
	} else {
		MDB_envinfo info;

		mdb_env_info(c->env, &info);
		c->map_size = info.me_mapsize;
	}
	return 0;
}

int cache_write(struct cache *c, cache_write_fn fn, void *ctx)
{
	int r;

	pthread_mutex_lock(&c->write_lock);
	for (int attempt = 0;; attempt++) {
		MDB_txn *txn;
		int rc;

		tls_map_full = false;
		rc = mdb_txn_begin(c->env, NULL, 0, &txn);
		if (rc == MDB_MAP_RESIZED && attempt < 8) {
			r = grow_map(c, 0);
			if (r < 0)
				break;
			continue;
		}
		if (rc) {
			r = cache_errno_from_mdb(rc);
			break;
		}
		tls_writing = c;
		r = fn(c, txn, ctx);
		tls_writing = NULL;
		if (r < 0) {
			mdb_txn_abort(txn);
		} else {
			int ok = r;

			rc = mdb_txn_commit(txn);
			r = rc ? cache_errno_from_mdb(rc) : ok;
			if (rc == 0) {
				__atomic_add_fetch(&c->write_seq, 1, __ATOMIC_RELEASE);
				reset_stale_snapshots(c);
			}
		}
		if (r == -ENOSPC && tls_map_full && attempt < 40) {
			size_t next = c->map_size * 2;

			if (next < c->map_size || grow_map(c, next) < 0) {
				r = -ENOSPC;
				break;
			}
			continue;
		}
		break;
	}
	pthread_mutex_unlock(&c->write_lock);
	return r;
}

/* ---- paths and identity ---- */

void cache_identity_hash(const char *server_url, const char *user, char ret_hex[17])
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a 64 */
	const char *parts[3] = { server_url, "\n", user };

	for (size_t i = 0; i < 3; i++) {
		for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
			h ^= *p;
			h *= 0x100000001b3ULL;
		}
	}
	snprintf(ret_hex, 17, "%016llx", (unsigned long long)h);
}

bool cache_fs_type_is_remote(unsigned long f_type)
{
	switch (f_type) {
	case 0x6969UL:		/* NFS_SUPER_MAGIC */
	case 0x65735546UL:	/* FUSE_SUPER_MAGIC */
	case 0x517bUL:		/* SMB_SUPER_MAGIC */
	case 0xfe534d42UL:	/* SMB2_MAGIC_NUMBER */
	case 0xff534d42UL:	/* CIFS_MAGIC_NUMBER */
	case 0x564c:		/* NCP_SUPER_MAGIC */
	case 0x73757245UL:	/* CODA_SUPER_MAGIC */
	case 0x5346414fUL:	/* AFS_FS_MAGIC */
	case 0x6b414653UL:	/* AFS_SUPER_MAGIC */
	case 0x00c36400UL:	/* CEPH_SUPER_MAGIC */
	case 0x01021997UL:	/* V9FS_MAGIC */
	case 0x47504653UL:	/* GPFS */
	case 0x0bd00bd0UL:	/* Lustre */
	case 0x013111a8UL:	/* IBRIX */
	case 0x19830326UL:	/* fhgfs / BeeGFS */
		return true;
	default:
		return false;
	}
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int resolve_dir(const char *dir, const char *server_url, const char *user,
		       char *ret, size_t size)
{
	char hex[17];
	const char *base = getenv("XDG_CACHE_HOME");
	int n;

	if (dir) {
		if (dir[0] == '/') {
			n = snprintf(ret, size, "%s", dir);
		} else {
			char cwd[PATH_MAX];

			if (!getcwd(cwd, sizeof(cwd)))
				return -errno;
			n = snprintf(ret, size, "%s/%s", cwd, dir);
		}
		return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
	}
	cache_identity_hash(server_url, user, hex);
	if (base && base[0] == '/')
		n = snprintf(ret, size, "%s/ftrackfs/%s", base, hex);
	else {
		const char *home = getenv("HOME");

		if (!home || home[0] != '/') {
			struct passwd *pw = getpwuid(getuid());

			home = pw ? pw->pw_dir : NULL;
		}
		if (!home)
			return -ENOENT;
		n = snprintf(ret, size, "%s/.cache/ftrackfs/%s", home, hex);
	}
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* ---- opening, validating, moving aside ---- */

static void env_close(struct cache *c)
{
	struct cache_rslot *s, *next;

	for (s = c->slots; s; s = next) {
		next = s->next;
		if (s->txn)
			mdb_txn_abort(s->txn);
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	c->slots = NULL;
	if (c->env)
		mdb_env_close(c->env);
	c->env = NULL;
	c->map_lo = c->map_hi = 0;	/* a reopened map is elsewhere */
}

static int data_path(const struct cache *c, const char *file, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", c->dir, file);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Reasons whose moved-aside copy is not named "corrupt" (see move_aside()). */
static const char why_foreign[] = "belongs to another server or user";
static const char why_older[] = "has an older format version";
static const char why_newer[] = "has a newer format version";

/*
 * Rename data.mdb to data.mdb.<tag>-<UTC time>: "foreign" when it belongs
 * to another server or user, "format" when another format version wrote
 * it, "corrupt" otherwise; the copy is kept, never deleted.
 */
static int move_aside(struct cache *c, const char *why)
{
	const char *tag = why == why_foreign ? "foreign" :
			  why == why_older || why == why_newer ? "format" : "corrupt";
	char from[4200], to[4300], lock[4200], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int r;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	r = data_path(c, "data.mdb", from, sizeof(from));
	if (r < 0)
		return r;
	for (int i = 0; i < 1000; i++) {
		struct stat st;

		if (i == 0)
			snprintf(to, sizeof(to), "%s.%s-%s", from, tag, stamp);
		else
			snprintf(to, sizeof(to), "%s.%s-%s-%d", from, tag, stamp, i);
		if (lstat(to, &st) < 0 && errno == ENOENT)
			break;
	}
	if (rename(from, to) < 0 && errno != ENOENT) {
		r = -errno;
		log_error(CACHE_LOG, "cannot move %s aside: %s", from, strerror(-r));
		return r;
	}
	if (data_path(c, "lock.mdb", lock, sizeof(lock)) == 0)
		unlink(lock);
	log_warn(CACHE_LOG, "database %s %s: moved aside to %s, rebuilding from ftrack", from,
		 why, to);
	c->n_rebuilds++;
	return 0;
}

struct meta_str {
	char buf[CACHE_PATH_MAX + 1];
};

static int meta_get_str(struct cache *c, MDB_txn *txn, const char *key, struct meta_str *ret)
{
	MDB_val v;
	int r = cache_get_raw(txn, c->dbi[DBI_META], key, strlen(key), &v);

	if (r <= 0)
		return r;
	if (v.mv_size > CACHE_PATH_MAX)
		return -EUCLEAN;
	memcpy(ret->buf, v.mv_data, v.mv_size);
	ret->buf[v.mv_size] = '\0';
	return 1;
}

static int meta_put_str(struct cache *c, MDB_txn *txn, const char *key, const char *s)
{
	return cache_put(txn, c->dbi[DBI_META], key, strlen(key), s, strlen(s), 0);
}

/* Walk a database: the first and last entries always, every entry when
 * @full. LMDB reports broken pages as MDB_CORRUPTED/MDB_PAGE_NOTFOUND. */
static int walk_dbi(MDB_txn *txn, MDB_dbi dbi, bool full)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, dbi, &cur);

	if (rc)
		return cache_errno_from_mdb(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && full)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return 0;
	return cache_errno_from_mdb(rc);
}

/*
 * Try to open the environment in c->dir. Returns 0; -EUCLEAN when the
 * database must be moved aside (*ret_why says why); other -errno.
 */
static int env_try_open(struct cache *c, const char **ret_why)
{
	char path[4200];
	struct stat st;
	unsigned int flags = MDB_NOTLS | MDB_NORDAHEAD;
	MDB_txn *txn = NULL;
	MDB_envinfo info;
	MDB_stat mst;
	bool fresh;
	int rc, r, fd;

	*ret_why = "is unreadable";
	r = data_path(c, "data.mdb", path, sizeof(path));
	if (r < 0)
		return r;
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			*ret_why = "is not a regular file";
			return -EUCLEAN;
		}
		if (st.st_size == 0) {
			unlink(path);	/* never written: start over quietly */
		} else if (st.st_size < 2 * 4096) {
			*ret_why = "is truncated";
			return -EUCLEAN;
		}
	}

	rc = mdb_env_create(&c->env);
	if (rc)
		return cache_errno_from_mdb(rc);
	mdb_env_set_maxdbs(c->env, DBI_COUNT + 2);
	mdb_env_set_maxreaders(c->env, c->max_readers);
	mdb_env_set_mapsize(c->env, c->map_size);
	if (c->no_sync)
		flags |= MDB_NOSYNC;
	rc = mdb_env_open(c->env, c->dir, flags, 0600);
	if (rc) {
		r = cache_errno_from_mdb(rc);
		if (rc == MDB_VERSION_MISMATCH)
			*ret_why = "was written by another LMDB version";
		else if (rc == MDB_INVALID)
			*ret_why = "is not an LMDB database";
		else if (r == -ENOENT || r == -EIO)
			r = -EUCLEAN;	/* short read of the header: truncated */
		goto fail;
	}
	{
		int dead = 0;

		mdb_reader_check(c->env, &dead);
	}

	/* A file shorter than its own last page would SIGBUS on access. */
	mdb_env_info(c->env, &info);
	mdb_env_stat(c->env, &mst);
	rc = mdb_env_get_fd(c->env, &fd);
	if (rc || fstat(fd, &st) < 0) {
		r = -EIO;
		goto fail;
	}
	if ((uint64_t)st.st_size < ((uint64_t)info.me_last_pgno + 1) * mst.ms_psize) {
		*ret_why = "is truncated";
		r = -EUCLEAN;
		goto fail;
	}
	c->map_size = info.me_mapsize;

	rc = mdb_txn_begin(c->env, NULL, 0, &txn);
	if (rc) {
		r = cache_errno_from_mdb(rc);
		goto fail;
	}
	/* Which named databases exist? The main DB lists them. */
	{
		MDB_dbi main;

		rc = mdb_dbi_open(txn, NULL, 0, &main);
		if (rc) {
			r = cache_errno_from_mdb(rc);
			goto fail;
		}
		rc = mdb_stat(txn, main, &mst);
		if (rc) {
			r = cache_errno_from_mdb(rc);
			goto fail;
		}
		fresh = mst.ms_entries == 0;
		r = walk_dbi(txn, main, true);
		if (r < 0)
			goto fail;
	}
	if (!fresh) {
		rc = mdb_dbi_open(txn, dbi_names[DBI_META], 0, &c->dbi[DBI_META]);
		if (rc) {
			*ret_why = "is not an ftrackfs cache";
			r = rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE ? -EUCLEAN
									  : cache_errno_from_mdb(rc);
			goto fail;
		}
	}
	for (int i = 0; i < DBI_COUNT; i++) {
		rc = mdb_dbi_open(txn, dbi_names[i], MDB_CREATE, &c->dbi[i]);
		if (rc) {
			*ret_why = "is not an ftrackfs cache";
			r = rc == MDB_INCOMPATIBLE ? -EUCLEAN : cache_errno_from_mdb(rc);
			goto fail;
		}
	}

	if (fresh) {
		uint32_t fmt = CACHE_FORMAT_VERSION;

		c->created_ns = cache_now_ns();
		r = cache_put(txn, c->dbi[DBI_META], "format", 6, &fmt, sizeof(fmt), 0);
		if (r == 0)
			r = meta_put_str(c, txn, "server", c->server_url);
		if (r == 0)
			r = meta_put_str(c, txn, "user", c->user);
		if (r == 0)
			r = cache_counter_set(c, txn, "created", (uint64_t)c->created_ns);
		/* inode 1 is FUSE_ROOT_ID; the first allocated is 2 */
		if (r == 0)
			r = cache_counter_set(c, txn, "next_ino", CACHE_ROOT_INO + 1);
		if (r == 0)
			r = cache_counter_set(c, txn, "next_gen", 1);
		if (r == 0)
			r = cache_counter_set(c, txn, "next_outbox", 1);
		if (r < 0)
			goto fail;
	} else {
		struct meta_str s;
		MDB_val v;
		uint64_t u;
		uint32_t fmt;

		r = cache_get_raw(txn, c->dbi[DBI_META], "format", 6, &v);
		if (r < 0)
			goto fail;
		if (r == 0 || v.mv_size != sizeof(fmt)) {
			*ret_why = "has no format version";
			r = -EUCLEAN;
			goto fail;
		}
		memcpy(&fmt, v.mv_data, sizeof(fmt));
		if (fmt != CACHE_FORMAT_VERSION) {
			*ret_why = fmt < CACHE_FORMAT_VERSION ? why_older : why_newer;
			r = -EUCLEAN;
			goto fail;
		}
		*ret_why = why_foreign;
		r = meta_get_str(c, txn, "server", &s);
		if (r <= 0 || strcmp(s.buf, c->server_url) != 0) {
			r = r < 0 ? r : -EUCLEAN;
			goto fail;
		}
		r = meta_get_str(c, txn, "user", &s);
		if (r <= 0 || strcmp(s.buf, c->user) != 0) {
			r = r < 0 ? r : -EUCLEAN;
			goto fail;
		}
		*ret_why = "has malformed metadata";
		if ((r = cache_counter_get(c, txn, "created", &u)) < 0)
			goto fail;
		c->created_ns = (int64_t)u;
		if ((r = cache_counter_get(c, txn, "next_ino", &u)) < 0 ||
		    (r = cache_counter_get(c, txn, "next_gen", &u)) < 0 ||
		    (r = cache_counter_get(c, txn, "next_outbox", &u)) < 0)
			goto fail;
		*ret_why = "is corrupt";
		{
			int dfd;
			bool full;

			mdb_env_get_fd(c->env, &dfd);
			full = fstat(dfd, &st) == 0 && (uint64_t)st.st_size <= FULL_CHECK_BYTES;
			for (int i = 0; i < DBI_COUNT; i++) {
				r = walk_dbi(txn, c->dbi[i], full);
				if (r < 0)
					goto fail;
			}
		}
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc) {
		r = cache_errno_from_mdb(rc);
		goto fail;
	}
	return 0;

fail:
	if (txn)
		mdb_txn_abort(txn);
	env_close(c);
	return r;
}

/*
 * Compaction. A cold walk writes the cache a directory level at a time, so
 * the pages of every tree interleave in data.mdb, and a fault maps (fault-
 * around) pages of other trees with each one asked for: more RSS, more map
 * releases under the budget, more faults. LMDB's compacting copy lays each
 * tree out in order. Measured on the 100,000-version project (alternating
 * runs on one cache): a first walk 5.48-5.50 s compacted against 5.62-5.74
 * s, peak RSS 50.7 against 52.5 MiB; the copy of 127 MB took 49 ms.
 *
 * At open, when the used part of the file has grown by COMPACT_GROWTH_PCT
 * since the last compaction (and is over COMPACT_MIN_BYTES): copy to
 * data.mdb.compact, fsync it, close the environment, rename the copy over
 * data.mdb (atomic: a crash leaves one whole file or the other, and a
 * leftover copy is removed at the next open), reopen.
 */
#define COMPACT_MIN_BYTES (16ULL << 20)
#define COMPACT_GROWTH_PCT 25
/*
 * The copy reads the whole map: left alone, it would map the whole file
 * into the daemon's RSS (144 MiB peak for the 100,000-version project).
 * So it runs on a thread, and this one releases the map whenever more
 * than COMPACT_RSS_BYTES of it are mapped, looking every COMPACT_LOOK_NS.
 */
#define COMPACT_RSS_BYTES (8ULL << 20)
#define COMPACT_LOOK_NS 250000L
static const char compacted_key[] = "compacted_bytes";

struct copy_job {
	MDB_env *env;
	int fd;
	int rc;
	bool done;	/* __atomic */
};

static void *copy_main(void *arg)
{
	struct copy_job *j = arg;

	j->rc = mdb_env_copyfd2(j->env, j->fd, MDB_CP_COMPACT);
	__atomic_store_n(&j->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* This process's resident and file-backed resident bytes (statm). */
static bool statm_read(struct cache *c, uint64_t *ret_resident, uint64_t *ret_file_backed)
{
	unsigned long size, resident, shared;
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	char buf[128];
	ssize_t n;

	if (c->statm_fd < 0)
		return false;
	n = pread(c->statm_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (sscanf(buf, "%lu %lu %lu", &size, &resident, &shared) != 3)
		return false;
	*ret_resident = (uint64_t)resident * ps;
	*ret_file_backed = (uint64_t)shared * ps;
	return true;
}

/* mdb_env_copyfd2(MDB_CP_COMPACT) with the map kept small; an MDB rc. */
static int copy_compact(struct cache *c, int fd)
{
	struct copy_job j = { .env = c->env, .fd = fd };
	struct timespec ts = { .tv_sec = 0, .tv_nsec = COMPACT_LOOK_NS };
	uint64_t resident, file_backed, base = 0;
	pthread_t t;
	int r;

	/* the libraries are file-backed too: count from what is there now */
	if (statm_read(c, &resident, &file_backed))
		base = file_backed;
	r = pthread_create(&t, NULL, copy_main, &j);
	if (r)
		return r;
	while (!__atomic_load_n(&j.done, __ATOMIC_ACQUIRE)) {
		nanosleep(&ts, NULL);
		if (statm_read(c, &resident, &file_backed) && file_backed > base + COMPACT_RSS_BYTES)
			cache_release_map(c);
	}
	pthread_join(t, NULL);
	return j.rc;
}

static uint64_t used_bytes(struct cache *c)
{
	MDB_envinfo info;
	MDB_stat mst;

	mdb_env_info(c->env, &info);
	mdb_env_stat(c->env, &mst);
	return ((uint64_t)info.me_last_pgno + 1) * mst.ms_psize;
}

static int note_compacted_fn(struct cache *c, MDB_txn *txn, void *ctx)
{
	return cache_counter_set(c, txn, compacted_key, *(const uint64_t *)ctx);
}

static bool wants_compaction(struct cache *c, uint64_t used)
{
	MDB_txn *txn;
	MDB_val v;
	uint64_t base = 0;
	int r;

	if (used < COMPACT_MIN_BYTES || mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn) != 0)
		return false;
	r = cache_get_raw(txn, c->dbi[DBI_META], compacted_key, sizeof(compacted_key) - 1, &v);
	if (r > 0 && v.mv_size == sizeof(base))
		memcpy(&base, v.mv_data, sizeof(base));
	mdb_txn_abort(txn);
	return r >= 0 && (base == 0 || used * 100 >= base * (100 + COMPACT_GROWTH_PCT));
}

/*
 * Returns 0 with the environment open (compacted or not), or -errno from
 * reopening it (-EUCLEAN: move it aside, *@ret_why says why).
 */
static int maybe_compact(struct cache *c, const char **ret_why)
{
	char tmp[4200], path[4200];
	uint64_t used = used_bytes(c), now;
	int64_t t0 = cache_now_ns();
	int fd, dfd, rc, r;

	if (data_path(c, "data.mdb.compact", tmp, sizeof(tmp)) < 0 ||
	    data_path(c, "data.mdb", path, sizeof(path)) < 0)
		return 0;
	unlink(tmp);	/* a copy a crash left behind */
	if (!wants_compaction(c, used))
		return 0;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_warn(CACHE_LOG, "cannot compact the cache: %s: %s", tmp, strerror(errno));
		return 0;
	}
	rc = copy_compact(c, fd);
	if (rc == 0 && fsync(fd) < 0)
		rc = errno;
	if (close(fd) < 0 && rc == 0)
		rc = errno;
	if (rc) {
		/* a full disk, say: the cache stays as it was */
		log_warn(CACHE_LOG, "cannot compact the cache: %s", mdb_strerror(rc));
		unlink(tmp);
		return 0;
	}
	env_close(c);
	if (rename(tmp, path) < 0) {
		log_warn(CACHE_LOG, "cannot compact the cache: rename: %s", strerror(errno));
		unlink(tmp);
		return env_try_open(c, ret_why);	/* the file as it was */
	}
	if ((dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(dfd) < 0)
			log_debug(CACHE_LOG, "fsync %s: %s", c->dir, strerror(errno));
		close(dfd);
	}
	r = env_try_open(c, ret_why);
	if (r < 0)
		return r;
	now = used_bytes(c);
	r = cache_write(c, note_compacted_fn, &now);
	if (r < 0)
		log_warn(CACHE_LOG, "cannot note the compaction: %s", strerror(-r));
	log_info(CACHE_LOG, "compacted the cache from %llu to %llu bytes in %lld ms",
		 (unsigned long long)used, (unsigned long long)now,
		 (long long)((cache_now_ns() - t0) / 1000000));
	return 0;
}

int cache_open(const char *dir, const char *server_url, const char *user,
	       const struct cache_options *opts, struct cache **ret_cache)
{
	struct cache *c;
	struct statfs sfs;
	char path[4200];
	int r;

	if (!ret_cache || cache_check_str(server_url, CACHE_PATH_MAX, false) < 0 ||
	    cache_check_str(user, CACHE_ID_MAX, true) < 0)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->lock_fd = -1;
	c->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	pthread_mutex_init(&c->write_lock, NULL);
	pthread_mutex_init(&c->slots_lock, NULL);
	c->map_size = opts && opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
	c->max_readers = opts && opts->max_readers ? opts->max_readers : DEFAULT_MAX_READERS;
	c->no_sync = opts && opts->no_sync;
	c->no_compact = opts && opts->no_compact;
	cache_strcpy(c->server_url, server_url, CACHE_PATH_MAX);
	cache_strcpy(c->user, user, CACHE_ID_MAX);

	r = resolve_dir(dir, server_url, user, c->dir, sizeof(c->dir));
	if (r < 0)
		goto fail;
	r = mkdir_p(c->dir, 0700);
	if (r < 0) {
		log_error(CACHE_LOG, "cannot create cache directory %s: %s", c->dir, strerror(-r));
		goto fail;
	}
	if (statfs(c->dir, &sfs) < 0) {
		r = -errno;
		goto fail;
	}
	if (cache_fs_type_is_remote((unsigned long)sfs.f_type)) {
		log_error(CACHE_LOG,
			  "cache directory %s is on a network or FUSE filesystem (type 0x%lx); "
			  "LMDB needs a local disk: set XDG_CACHE_HOME to a local directory",
			  c->dir, (unsigned long)sfs.f_type);
		r = -EREMOTE;
		goto fail;
	}
	{
		struct stat st;

		if (stat(c->dir, &st) < 0) {
			r = -errno;
			goto fail;
		}
		if (!S_ISDIR(st.st_mode)) {
			r = -ENOTDIR;
			goto fail;
		}
		if ((st.st_mode & 077) && st.st_uid == geteuid())
			chmod(c->dir, 0700);
	}
	r = data_path(c, "ftrackfs.lock", path, sizeof(path));
	if (r < 0)
		goto fail;
	c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (c->lock_fd < 0) {
		r = -errno;
		goto fail;
	}
	if (flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (r == -EBUSY)
			log_error(CACHE_LOG, "cache %s is in use by another ftrackfs", c->dir);
		goto fail;
	}

	for (int attempt = 0;; attempt++) {
		const char *why = NULL;

		r = env_try_open(c, &why);
		if (r == 0 && !c->no_compact)
			r = maybe_compact(c, &why);
		if (r != -EUCLEAN || attempt >= 2)
			break;
		r = move_aside(c, why ? why : "is unreadable");
		if (r < 0)
			break;
	}
	if (r < 0) {
		log_error(CACHE_LOG, "cannot open cache %s: %s", c->dir, strerror(-r));
		goto fail;
	}
	if (pthread_key_create(&c->tls, slot_release) != 0) {
		r = -EAGAIN;
		goto fail;
	}
	c->has_tls = true;
	*ret_cache = c;
	return 0;

fail:
	cache_close(c);
	return r;
}

void cache_close(struct cache *c)
{
	if (!c)
		return;
	if (c->has_tls)
		pthread_key_delete(c->tls);
	env_close(c);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	if (c->statm_fd >= 0)
		close(c->statm_fd);
	pthread_mutex_destroy(&c->write_lock);
	pthread_mutex_destroy(&c->slots_lock);
	free(c);
}

/*
 * Find the mapping of data.mdb: the VMA that holds @p, a pointer into the
 * map. LMDB reports the map's address only for MDB_FIXEDMAP (me_mapaddr is
 * NULL otherwise), so a record read through a read-only transaction is our
 * pointer into it. 1 found (a file mapping at file offset 0), 0 not, -errno.
 */
static int map_vma_of(const void *p, uintptr_t *ret_lo, uintptr_t *ret_hi)
{
	uintptr_t addr = (uintptr_t)p;
	char *line = NULL;
	size_t cap = 0;
	int r = 0;
	FILE *fp = fopen("/proc/self/maps", "re");

	if (!fp)
		return -errno;
	while (getline(&line, &cap, fp) > 0) {
		unsigned long lo, hi, off, ino;

		if (sscanf(line, "%lx-%lx %*s %lx %*x:%*x %lu", &lo, &hi, &off, &ino) != 4)
			continue;
		if (addr >= lo && addr < hi) {
			r = ino != 0 && off == 0;	/* the map is all of data.mdb */
			*ret_lo = lo;
			*ret_hi = hi;
			break;
		}
	}
	free(line);
	fclose(fp);
	return r;
}

/*
 * Why this is safe under live readers: the map is MAP_SHARED and read-only
 * (no MDB_WRITEMAP), so it holds no page of its own. MADV_DONTNEED only
 * clears our page-table entries; the page-cache pages stay, and a reader's
 * next access faults the very same page back in (a minor fault, no I/O
 * while the page is cached). MVCC means the writer never rewrites a page a
 * live snapshot can reach, and a shared mapping shows the file as it is
 * anyway, so no reader can observe the difference. Nothing dirty is lost:
 * there is nothing dirty in a read-only map.
 *
 * Why slots_lock: the only thing that moves the map is
 * mdb_env_set_mapsize() in grow_map(), which runs with slots_lock held.
 * Holding it from reading the address to madvise() means we never advise
 * an address range that has since been unmapped and reused (MADV_DONTNEED
 * on anonymous memory there would zero it). We do not take write_lock, so
 * a release never waits for a running write transaction or its fsync.
 */
int cache_release_map(struct cache *c)
{
	unsigned int flags = 0;
	uintptr_t lo = 0, hi = 0;
	MDB_envinfo info;
	MDB_txn *txn = NULL;
	MDB_val v;
	int r, rc;

	if (!c || !c->env)
		return -EINVAL;
	if (mdb_env_get_flags(c->env, &flags) != 0 || (flags & MDB_WRITEMAP))
		return -EINVAL;	/* a writable map holds the writer's dirty pages */
	pthread_mutex_lock(&c->slots_lock);
	if (c->map_lo) {
		/* found before and not moved since (grow_map() clears it) */
		lo = c->map_lo;
		hi = c->map_hi;
		goto advise;
	}
	/* Read where the map is now: grow_map() may have moved it since. */
	rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
	if (rc) {
		r = cache_errno_from_mdb(rc);
		goto out;
	}
	mdb_env_info(c->env, &info);
	/* mdb_get(), not cache_get_raw(): that could tick back into here */
	v.mv_size = 6;
	v.mv_data = (void *)"format";
	rc = mdb_get(txn, c->dbi[DBI_META], &v, &v);
	r = rc == 0 ? map_vma_of(v.mv_data, &lo, &hi) : rc == MDB_NOTFOUND ? 0 : cache_errno_from_mdb(rc);
	mdb_txn_abort(txn);
	if (r == 1 && hi - lo != info.me_mapsize)
		r = 0;	/* not the shape of the map: advise nothing we do not know */
	if (r == 0) {
		log_warn(CACHE_LOG, "cannot release the map: no %zu-byte mapping of data.mdb "
			 "in /proc/self/maps", info.me_mapsize);
		r = -ENOENT;
	}
	if (r < 0)
		goto out;
	c->map_lo = lo;
	c->map_hi = hi;
advise:
	r = 0;
	if (madvise((void *)lo, hi - lo, MADV_DONTNEED) < 0) {
		r = -errno;
		log_warn(CACHE_LOG, "cannot release the map: %s", strerror(-r));
	}
out:
	pthread_mutex_unlock(&c->slots_lock);
	return r;
}

void cache_set_map_budget(struct cache *c, size_t bytes)
{
	if (c)
		__atomic_store_n(&c->map_budget, bytes, __ATOMIC_RELAXED);
}

/*
 * The process's RSS is over @budget and the file-backed part of it (the
 * map, the binary, its libraries) over a quarter of it: releasing the map
 * then helps; when the heap alone is over, it would only cost refaults.
 */
static bool over_budget(struct cache *c, size_t budget)
{
	uint64_t resident, file_backed;

	return statm_read(c, &resident, &file_backed) &&
	       cache_over_budget(resident, file_backed, budget);
}

void cache_map_tick(struct cache *c)
{
	size_t budget = __atomic_load_n(&c->map_budget, __ATOMIC_RELAXED);

	if (!budget || __atomic_add_fetch(&c->map_ops, 1, __ATOMIC_RELAXED) % CACHE_MAP_TICKS)
		return;
	if (over_budget(c, budget))
		cache_release_map(c);
}

/* MemAvailable in bytes, or 0 when unknown. */
static uint64_t mem_available(void)
{
	char line[128];
	unsigned long long kib = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return (uint64_t)kib * 1024;
}

#define PREFETCH_CHUNK (128u << 10)
#define PREFETCH_MAX ((uint64_t)4 << 30)

int64_t cache_prefetch(struct cache *c, const bool *stop)
{
	uint64_t size, limit, off = 0, skipped = 0;
	void *map;
	struct stat st;
	char *buf;
	int fd;

	if (!c || mdb_env_get_fd(c->env, &fd) != 0)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	size = (uint64_t)st.st_size;
	limit = mem_available() / 4;
	if (limit > PREFETCH_MAX)
		limit = PREFETCH_MAX;
	if (size > limit) {
		log_debug(CACHE_LOG, "not prefetching %llu bytes (limit %llu)",
			  (unsigned long long)size, (unsigned long long)limit);
		return 0;
	}
	buf = malloc(PREFETCH_CHUNK);
	if (!buf)
		return -ENOMEM;
	/* A mapping only to ask mincore() which chunks are already cached
	 * (mapping faults nothing in): those are skipped, so a mount on a
	 * workstation in use copies nothing. Without it, every chunk is read. */
	map = size ? mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	while (off < size && !__atomic_load_n(stop, __ATOMIC_RELAXED)) {
		size_t len = size - off < PREFETCH_CHUNK ? (size_t)(size - off) : PREFETCH_CHUNK;
		unsigned char vec[PREFETCH_CHUNK / 4096];
		ssize_t n;

		if (map != MAP_FAILED && sysconf(_SC_PAGESIZE) == 4096 &&
		    mincore((char *)map + off, len, vec) == 0 &&
		    !memchr(vec, 0, (len + 4095) / 4096)) {
			skipped += len;
			off += len;
			continue;
		}
		n = pread(fd, buf, PREFETCH_CHUNK, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (uint64_t)n;
	}
	if (map != MAP_FAILED)
		munmap(map, size);
	free(buf);
	log_debug(CACHE_LOG, "prefetch: %llu of %llu bytes were cached already",
		  (unsigned long long)skipped, (unsigned long long)off);
	return (int64_t)off;
}

int cache_info(struct cache *c, struct cache_info *ret_info)
{
	struct cache_info info = { 0 };
	struct cache_rslot *slot;
	MDB_envinfo ei;
	MDB_stat st;
	MDB_txn *txn;
	struct stat fst;
	int fd, r;

	if (!c || !ret_info)
		return -EINVAL;
	cache_strcpy(info.path, c->dir, sizeof(info.path) - 1);
	cache_strcpy(info.server_url, c->server_url, CACHE_PATH_MAX);
	cache_strcpy(info.user, c->user, CACHE_ID_MAX);
	info.format_version = CACHE_FORMAT_VERSION;
	info.created_ns = c->created_ns;
	info.n_rebuilds = c->n_rebuilds;
	r = cache_read_begin(c, &txn, &slot);
	if (r < 0)
		return r;
	mdb_env_info(c->env, &ei);
	info.map_size = ei.me_mapsize;
	if (mdb_stat(txn, c->dbi[DBI_DIRENTS], &st) == 0)
		info.n_entries = st.ms_entries;
	if (mdb_stat(txn, c->dbi[DBI_KEYS], &st) == 0) {
		info.n_keys = st.ms_entries;
		info.used_bytes = ((uint64_t)ei.me_last_pgno + 1) * st.ms_psize;
	}
	r = cache_counter_get(c, txn, "next_ino", &info.next_ino);
	cache_read_end(slot);
	if (r < 0)
		return r;
	if (mdb_env_get_fd(c->env, &fd) == 0 && fstat(fd, &fst) == 0)
		info.file_size = (uint64_t)fst.st_size;
	*ret_info = info;
	return 0;
}

/* ---- key/values for the filesystem ---- */

static int kv_key(const char *key, char *buf, size_t size, size_t *ret_len)
{
	int n;

	if (cache_check_str(key, CACHE_KV_KEY_MAX, false) < 0)
		return -EINVAL;
	n = snprintf(buf, size, "kv:%s", key);
	if (n < 0 || (size_t)n >= size)
		return -EINVAL;
	*ret_len = (size_t)n;
	return 0;
}

struct kv_ctx {
	char k[CACHE_KV_KEY_MAX + 8];
	size_t klen;
	const void *v;
	size_t vlen;
};

static int kv_put_fn(struct cache *c, MDB_txn *txn, void *ctx)
{
	struct kv_ctx *x = ctx;

	return cache_put(txn, c->dbi[DBI_META], x->k, x->klen, x->v, x->vlen, 0);
}

static int kv_del_fn(struct cache *c, MDB_txn *txn, void *ctx)
{
	struct kv_ctx *x = ctx;

	return cache_del(txn, c->dbi[DBI_META], x->k, x->klen);
}

int cache_kv_put(struct cache *c, const char *key, const void *value, size_t value_len)
{
	struct kv_ctx x = { .v = value, .vlen = value_len };
	int r;

	if (!c || value_len > CACHE_KV_VALUE_MAX || (value_len && !value))
		return -EINVAL;
	r = kv_key(key, x.k, sizeof(x.k), &x.klen);
	if (r < 0)
		return r;
	return cache_write(c, kv_put_fn, &x);
}

int cache_kv_delete(struct cache *c, const char *key)
{
	struct kv_ctx x = { 0 };
	int r;

	if (!c)
		return -EINVAL;
	r = kv_key(key, x.k, sizeof(x.k), &x.klen);
	if (r < 0)
		return r;
	return cache_write(c, kv_del_fn, &x);
}

int cache_kv_get(struct cache *c, const char *key, void *buf, size_t size, size_t *ret_len)
{
	struct cache_rslot *slot;
	char k[CACHE_KV_KEY_MAX + 8];
	size_t klen;
	MDB_txn *txn;
	MDB_val v;
	int r;

	if (!c || (size && !buf))
		return -EINVAL;
	r = kv_key(key, k, sizeof(k), &klen);
	if (r < 0)
		return r;
	r = cache_read_begin(c, &txn, &slot);
	if (r < 0)
		return r;
	r = cache_get_raw(txn, c->dbi[DBI_META], k, klen, &v);
	if (r == 1) {
		if (ret_len)
			*ret_len = v.mv_size;
		if (v.mv_size > size)
			r = -ENOBUFS;
		else if (v.mv_size)
			memcpy(buf, v.mv_data, v.mv_size);
	}
	cache_read_end(slot);
	return r;
}
