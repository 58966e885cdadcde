/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops.c - the FUSE low-level operations. Every answer comes from the cache;
 * only a directory's first listing waits for the sync worker (bounded).
 * Each handler replies exactly once; errors are replied in one place.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "fs.h"
#include "loop.h"
#include "names.h"
#include "ops.h"
#include "passthrough.h"
#include "storage.h"
#include "sync.h"
#include "send/sendfs.h"
#include "ftrackfs/log.h"
#include "ftrackfs/util.h"

#define MOD "fs"
#define XATTR_PREFIX "user.ftrack."
#define ROOT_NLINK 5	/* ".", "..", projects, locations, .ftrackfs */

/*
 * An open file: a backing fd, a file the kernel reads itself (passthrough:
 * no fd held here), or a generated text (status files).
 */
struct fs_fh {
	int fd;
	bool network;		/* the backing file is on a network filesystem */
	bool passthrough;	/* fs_pt_open() took a reference on ino */
	uint64_t ino;
	char *buf;
	size_t len;
};

/* NFS, SMB/CIFS, Ceph, 9P, AFS, FUSE: a read there can wait on the network. */
static bool on_network_fs(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return true;	/* unknown: assume the worst */
	switch ((unsigned long)sfs.f_type) {
	case 0x6969UL:		/* NFS */
	case 0x517BUL:		/* SMB */
	case 0xFF534D42UL:	/* CIFS */
	case 0xFE534D42UL:	/* SMB2 */
	case 0x00C36400UL:	/* Ceph */
	case 0x01021997UL:	/* 9P */
	case 0x5346414FUL:	/* AFS */
	case 0x65735546UL:	/* FUSE */
	case 0x0BD00BD0UL:	/* Lustre */
		return true;
	default:
		return false;
	}
}

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* nlink of a directory: 2 + its subdirectories when known, else 1. */
static uint32_t dir_nlink(struct fs *fs, uint64_t ino, uint32_t node)
{
	struct cache_dirstate ds;
	struct cache_dir *d = NULL;
	uint32_t n = 0;

	switch (node) {
	case FS_NODE_COMPONENT_DIR:
	case FS_NODE_LCOMPONENT_DIR:
		return 2;
	case FS_NODE_CTL:
		return 2;
	case FS_NODE_VERSION:
	case FS_NODE_LVERSION:
		if (cache_readdir(fs->cache, ino, NULL, 0, &d) < 0)
			return 1;
		if (!(d->state.flags & CACHE_DIR_COMPLETE)) {
			cache_dir_free(d);
			return 1;
		}
		for (size_t i = 0; i < d->n; i++)
			n += d->v[i].attr.kind == CACHE_KIND_DIR;
		cache_dir_free(d);
		return 2 + n;
	default:
		if (cache_dir_state(fs->cache, ino, &ds) != 1 || !(ds.flags & CACHE_DIR_COMPLETE))
			return 1;	/* unknown: tells find(1) not to count */
		return 2 + ds.n_children;
	}
}

static bool is_view_node(uint32_t node)
{
	return node >= FS_NODE_LOCATION && node <= FS_NODE_LMEMBER;
}

static bool is_generated(uint32_t node)
{
	return node == FS_NODE_STATUS || node == FS_NODE_STATUS_JSON || node == FS_NODE_JOB_FILE;
}

static void fill_stat(struct fs *fs, uint64_t ino, const struct cache_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = 4096;
	/* location views take copies (fs/send): writable */
	if (a->kind == CACHE_KIND_DIR) {
		st->st_mode = S_IFDIR | (is_view_node(a->flags) ? 0755 : a->mode & 0555);
		st->st_nlink = dir_nlink(fs, ino, a->flags);
	} else {
		st->st_mode = S_IFREG | (is_view_node(a->flags) ? 0644 : a->mode & 0444);
		st->st_nlink = 1;
	}
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	if (a->flags == FS_NODE_JOBS_DIR) {
		int64_t t = __atomic_load_n(&fs->jobs_mtime_ns, __ATOMIC_RELAXED);

		if (t > a->mtime_ns) {
			st->st_mtim.tv_sec = t / 1000000000LL;
			st->st_mtim.tv_nsec = t % 1000000000LL;
		}
	}
	if (!st->st_mtim.tv_sec) {
		/* generated files are as new as their text; the fixed entries
		 * (projects/, locations/, .ftrackfs/) date from the mount */
		int64_t t = is_generated(a->flags) ? fs_now_ns() :
			    a->mtime_ns ? a->mtime_ns : fs->status.started_ns;

		st->st_mtim.tv_sec = t / 1000000000LL;
		st->st_mtim.tv_nsec = t % 1000000000LL;
	}
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

static void root_stat(struct fs *fs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = FUSE_ROOT_ID;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = ROOT_NLINK;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtim.tv_sec = fs->status.started_ns / 1000000000LL;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

/*
 * How long the kernel keeps an entry's attributes. Generated files and the
 * jobs directory change behind its back: 1 s. A directory lives one TTL:
 * its expiry is the kernel's only question (GETATTR) before it serves a
 * cached listing again, and the answer queues the background refresh.
 */
static double attr_ttl(struct fs *fs, const struct cache_attr *a)
{
	if (is_generated(a->flags) || a->flags == FS_NODE_JOBS_DIR)
		return 1.0;
	if (a->kind == CACHE_KIND_DIR && fs->cfg->ttl_s < fs->entry_timeout)
		return fs->cfg->ttl_s > 0 ? (double)fs->cfg->ttl_s : 1.0;
	return fs->entry_timeout;
}

static void fill_entry(struct fs *fs, uint64_t ino, const struct cache_attr *a, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = 1;
	fill_stat(fs, ino, a, &e->attr);
	e->entry_timeout = fs->entry_timeout;
	e->attr_timeout = attr_ttl(fs, a);
}

/* Map a failed first fetch to what the caller sees. */
static int fetch_errno(int r)
{
	if (r == -ETIMEDOUT || r == -ENOENT || r == -ENOMEM || r == -ENOTDIR)
		return -r;
	return EIO;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct cache_attr a;
	uint64_t ino;
	int r;

	/* file-manager probes: answered from memory, cached negatively */
	if (names_is_probe(name))
		goto negative;
	r = sync_ensure_dir(fs->sync, parent);
	if (r < 0) {
		fuse_reply_err(req, fetch_errno(r));
		return;
	}
	r = cache_lookup(fs->cache, parent, name, &ino, &a);
	if (r < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (r == 0)
		goto negative;
	fill_entry(fs, ino, &a, &e);
	fuse_reply_entry(req, &e);
	return;
negative:
	memset(&e, 0, sizeof(e));
	e.ino = 0;	/* a negative entry the kernel keeps for entry_timeout */
	e.entry_timeout = fs->entry_timeout;
	fuse_reply_entry(req, &e);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct cache_entry *e;
	struct stat st;
	int r;

	(void)fi;
	if (ino == FUSE_ROOT_ID) {
		root_stat(fs, &st);
		fuse_reply_attr(req, &st, fs->entry_timeout);
		return;
	}
	e = malloc(sizeof(*e));
	if (!e) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = cache_get(fs->cache, ino, e);
	if (r <= 0) {
		free(e);
		fuse_reply_err(req, r < 0 ? EIO : ENOENT);
		return;
	}
	/* a directory's attributes expired: the kernel is about to reuse its listing */
	if (e->attr.kind == CACHE_KIND_DIR)
		sync_touch_dir(fs->sync, ino);
	fill_stat(fs, ino, &e->attr, &st);
	fuse_reply_attr(req, &st, attr_ttl(fs, &e->attr));
	free(e);
}

/*
 * Directories have no handle. The filesystem answers OPENDIR with ENOSYS
 * (FUSE_CAP_NO_OPENDIR_SUPPORT), after which the kernel opens directories
 * itself, never sends OPENDIR or RELEASEDIR again, and gives every open
 * directory FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR: a listing it has cached
 * costs no request at all until the directory's attributes expire
 * (attr_ttl()) or sync.c invalidates it. A listing is read with one
 * READDIRPLUS per page and one READDIR saying "end"; the snapshot the first
 * one took is parked here for the ones that follow.
 */
#define DIRSNAP_SLOTS 16

struct dirsnap {
	uint64_t ino;
	uint64_t parent;	/* for ".." */
	struct cache_dir *d;
	uint64_t used;
};

static struct {
	pthread_mutex_t lock;
	uint64_t tick;
	struct dirsnap v[DIRSNAP_SLOTS];
} snaps = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Take the parked snapshot of @ino, if any: the caller owns it. */
static struct cache_dir *snap_take(uint64_t ino, uint64_t *ret_parent)
{
	struct cache_dir *d = NULL;

	pthread_mutex_lock(&snaps.lock);
	for (size_t i = 0; i < DIRSNAP_SLOTS; i++) {
		if (snaps.v[i].d && snaps.v[i].ino == ino) {
			d = snaps.v[i].d;
			*ret_parent = snaps.v[i].parent;
			snaps.v[i].d = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&snaps.lock);
	return d;
}

/* Park @d for the next page of @ino's listing; the oldest one goes. */
static void snap_put(uint64_t ino, uint64_t parent, struct cache_dir *d)
{
	struct cache_dir *old;
	size_t slot = 0;

	pthread_mutex_lock(&snaps.lock);
	for (size_t i = 0; i < DIRSNAP_SLOTS; i++) {
		if (!snaps.v[i].d || snaps.v[i].ino == ino) {
			slot = i;
			break;
		}
		if (snaps.v[i].used < snaps.v[slot].used)
			slot = i;
	}
	old = snaps.v[slot].d;
	snaps.v[slot] = (struct dirsnap){ .ino = ino, .parent = parent, .d = d, .used = ++snaps.tick };
	pthread_mutex_unlock(&snaps.lock);
	cache_dir_free(old);
}

void fs_ops_cleanup(void)
{
	pthread_mutex_lock(&snaps.lock);
	for (size_t i = 0; i < DIRSNAP_SLOTS; i++) {
		cache_dir_free(snaps.v[i].d);
		snaps.v[i].d = NULL;
	}
	pthread_mutex_unlock(&snaps.lock);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);

	if (fs->no_opendir) {
		fuse_reply_err(req, ENOSYS);	/* from now on the kernel opens them */
		return;
	}
	/* a kernel without zero-message opendir: the same, one request more */
	sync_touch_dir(fs->sync, ino);
	fi->fh = 0;
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* A snapshot of @ino's children and its parent, for a listing's first page. */
static int snap_new(struct fs *fs, fuse_ino_t ino, struct cache_dir **ret_d, uint64_t *ret_parent)
{
	int r;

	/*
	 * The snapshot first: when complete (a warm walk) it also feeds the
	 * sync worker's prefetch; otherwise the first fetch is waited for
	 * and the snapshot taken again.
	 */
	if (cache_readdir(fs->cache, ino, NULL, 0, ret_d) < 0)
		return EIO;
	if ((*ret_d)->state.flags & CACHE_DIR_COMPLETE) {
		r = sync_ensure_listed(fs->sync, ino, *ret_d);
	} else {
		cache_dir_free(*ret_d);
		*ret_d = NULL;
		r = sync_ensure_dir(fs->sync, ino);
		if (r == 0 && cache_readdir(fs->cache, ino, NULL, 0, ret_d) < 0)
			r = -EIO;
	}
	if (r < 0) {
		cache_dir_free(*ret_d);
		*ret_d = NULL;
		return fetch_errno(r);
	}
	*ret_parent = FUSE_ROOT_ID;
	if (ino != FUSE_ROOT_ID) {
		struct cache_entry *e = malloc(sizeof(*e));

		if (e && cache_get(fs->cache, ino, e) == 1 && e->parent)
			*ret_parent = e->parent;
		free(e);
	}
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct fs *fs = fs_of(req);
	struct cache_dir *d = NULL;
	uint64_t parent = FUSE_ROOT_ID;
	char *buf;
	size_t pos = 0, k;
	int err;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* a fresh snapshot when (re)starting from the top, e.g. after rewinddir */
	if (off > 0)
		d = snap_take(ino, &parent);
	if (!d) {
		err = snap_new(fs, ino, &d, &parent);
		if (err) {
			fuse_reply_err(req, err);
			return;
		}
	}
	buf = malloc(size);
	if (!buf) {
		cache_dir_free(d);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* offsets 0 and 1 are "." and ".."; entry i of the snapshot is offset i + 2 */
	for (k = (size_t)off; k < d->n + 2; k++) {
		const struct cache_dirent *de = k >= 2 ? &d->v[k - 2] : NULL;
		size_t n;

		if (!de) {
			struct stat st;

			memset(&st, 0, sizeof(st));
			st.st_ino = k == 0 ? ino : parent;
			st.st_mode = S_IFDIR;
			if (plus) {
				struct fuse_entry_param e;

				/* the kernel neither links nor counts "." and ".." */
				memset(&e, 0, sizeof(e));
				e.attr = st;
				n = fuse_add_direntry_plus(req, buf + pos, size - pos, k == 0 ? "." : "..",
							   &e, (off_t)k + 1);
			} else {
				n = fuse_add_direntry(req, buf + pos, size - pos, k == 0 ? "." : "..", &st,
						      (off_t)k + 1);
			}
		} else if (plus) {
			struct fuse_entry_param e;

			fill_entry(fs, de->ino, &de->attr, &e);
			n = fuse_add_direntry_plus(req, buf + pos, size - pos, de->name, &e, (off_t)k + 1);
		} else {
			struct stat st;

			memset(&st, 0, sizeof(st));
			st.st_ino = de->ino;
			st.st_mode = de->attr.kind == CACHE_KIND_DIR ? S_IFDIR : S_IFREG;
			n = fuse_add_direntry(req, buf + pos, size - pos, de->name, &st, (off_t)k + 1);
		}
		if (n > size - pos)
			break;
		pos += n;
	}
	fuse_reply_buf(req, buf, pos);
	free(buf);
	/* an empty page ends the listing; otherwise the next one comes */
	if (pos > 0)
		snap_put(ino, parent, d);
	else
		cache_dir_free(d);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino; (void)fi;
	fuse_reply_err(req, 0);
}

static int loc_name(struct fs *fs, const char *loc_id, char *buf, size_t len)
{
	char key[CACHE_KV_KEY_MAX + 1];
	size_t n = 0;
	int r;

	snprintf(key, sizeof(key), "locname:%s", loc_id);
	r = cache_kv_get(fs->cache, key, buf, len - 1, &n);
	if (r != 1) {
		snprintf(buf, len, "%s", loc_id);
		return 0;
	}
	buf[n] = '\0';
	return 1;
}

/* The first local location holding component @e that opens; -errno else. */
static int open_component(struct fs *fs, const struct cache_entry *e)
{
	struct cache_compstate *st = NULL;
	char where[1024] = "";
	char local[256] = "";
	int n, fd = -EREMOTE;
	size_t wl = 0;

	n = cache_compstate_list(fs->cache, e->ftrack_id, &st);
	if (n < 0)
		return -EIO;
	for (int i = 0; i < n; i++) {
		const struct config_location *owner = NULL;
		char name[256];
		int r;

		if (st[i].state != CACHE_LOC_PRESENT)
			continue;
		loc_name(fs, st[i].location_id, name, sizeof(name));
		r = storage_open_component(fs->storage, name, st[i].resource_identifier, &owner);
		if (r >= 0) {
			if (fd >= 0)
				close(fd);
			fd = r;
			break;
		}
		if (r == -EACCES) {
			log_warn(MOD, "refusing to open %s (component %s): resource identifier \"%s\" "
				 "of location %s resolves outside every configured storage root",
				 e->name, e->ftrack_id, st[i].resource_identifier, name);
			pthread_mutex_lock(&fs->status.lock);
			fs->status.n_refused++;
			pthread_mutex_unlock(&fs->status.lock);
			fd = -EACCES;
		} else if (r == -ENOENT && fd != -EACCES) {
			log_warn(MOD, "%s (component %s): registered in %s as \"%s\", but the file is missing",
				 e->name, e->ftrack_id, name, st[i].resource_identifier);
			fd = -ENOENT;
		}
		if (wl < sizeof(where) - 1) {
			int k = snprintf(where + wl, sizeof(where) - wl, "%s%s", wl ? ", " : "",
					 owner ? owner->name : name);
			if (k > 0)
				wl += (size_t)k;
		}
	}
	free(st);
	if (fd == -EREMOTE) {
		for (size_t i = 0; i < fs->cfg->n_locations; i++)
			if (fs->cfg->locations[i].is_local) {
				snprintf(local, sizeof(local), "%s", fs->cfg->locations[i].name);
				break;
			}
		log_warn(MOD, "%s (component %s) has no copy on this machine; it is in: %s. "
			 "Fetch it with: ftrackfs send PATH --to %s",
			 e->name, e->ftrack_id, *where ? where : "no location", *local ? local : "<local location>");
		pthread_mutex_lock(&fs->status.lock);
		fs->status.n_remote++;
		pthread_mutex_unlock(&fs->status.lock);
	}
	return fd;
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct cache_entry *e = NULL;
	struct fs_fh *fh = NULL;
	int err = 0, r, pt_id = 0;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	e = malloc(sizeof(*e));
	fh = calloc(1, sizeof(*fh));
	if (!e || !fh) {
		err = ENOMEM;
		goto out_err;
	}
	fh->fd = -1;
	r = cache_get(fs->cache, ino, e);
	if (r <= 0) {
		err = r < 0 ? EIO : ENOENT;
		goto out_err;
	}
	switch (e->attr.flags) {
	case FS_NODE_STATUS:
	case FS_NODE_STATUS_JSON:
	case FS_NODE_JOB_FILE:
		/* generated text, rendered once per open */
		if (e->attr.flags == FS_NODE_JOB_FILE)
			r = fs->render_job ? fs->render_job(fs, e, &fh->buf) : -ENOENT;
		else
			r = fs_status_render(fs, e->attr.flags == FS_NODE_STATUS_JSON, &fh->buf);
		if (r < 0) {
			err = -r;
			goto out_err;
		}
		fh->len = (size_t)r;
		fi->direct_io = 1;
		break;
	case FS_NODE_COMPONENT:
	case FS_NODE_MEMBER:
	case FS_NODE_LCOMPONENT:
	case FS_NODE_LMEMBER:
		r = open_component(fs, e);
		if (r < 0) {
			err = -r;
			goto out_err;
		}
		pt_id = fs_pt_open(ino, r);
		if (pt_id > 0) {
			/* the kernel holds the file now: no fd per open here */
			close(r);
			fh->passthrough = true;
			fh->ino = ino;
			break;
		}
		fi->keep_cache = 1;	/* published files never change */
		fh->fd = r;
		fh->network = on_network_fs(r);
		break;
	default:
		err = EISDIR;
		goto out_err;
	}
	free(e);
	fi->fh = (uint64_t)(uintptr_t)fh;
	fs_pt_reply_open(pt_id);
	r = fuse_reply_open(req, fi);
	fs_pt_reply_open(0);
	if (r == -ENOENT) {
		/* interrupted: no RELEASE will come */
		if (fh->passthrough)
			fs_pt_release(fh->ino);
		if (fh->fd >= 0)
			close(fh->fd);
		free(fh->buf);
		free(fh);
	}
	return;
out_err:
	free(e);
	free(fh);
	fuse_reply_err(req, err);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_fh *fh = (struct fs_fh *)(uintptr_t)fi->fh;
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	char *copy;

	(void)ino;
	if (fh->buf) {
		if (off < 0 || (size_t)off >= fh->len) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		if (size > fh->len - (size_t)off)
			size = fh->len - (size_t)off;
		/*
		 * Reply from a copy: once the kernel has the reply the client
		 * may close and RELEASE may free fh->buf while this thread is
		 * still returning from writev (ASan checks the iovec after
		 * the call).
		 */
		copy = malloc(size);
		if (!copy) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		memcpy(copy, fh->buf + off, size);
		fuse_reply_buf(req, copy, size);
		free(copy);
		return;
	}
	__atomic_fetch_add(&fs_of(req)->reads_served, 1, __ATOMIC_RELAXED);
	/* a read from local storage is answered by the reading thread itself */
	if (fh->network)
		fs_loop_may_block();
	/* zero-copy: libfuse splices from the backing fd (SPLICE_WRITE) */
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fh->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_fh *fh = (struct fs_fh *)(uintptr_t)fi->fh;

	(void)ino;
	if (fh) {
		if (fh->passthrough)
			fs_pt_release(fh->ino);
		if (fh->fd >= 0)
			close(fh->fd);
		free(fh->buf);
		free(fh);
	}
	fuse_reply_err(req, 0);
}

static const char *state_name(uint32_t s)
{
	switch (s) {
	case CACHE_LOC_PRESENT:
		return "present";
	case CACHE_LOC_QUEUED:
		return "queued";
	case CACHE_LOC_TRANSFERRING:
		return "transferring";
	case CACHE_LOC_FAILED:
		return "failed";
	default:
		return "absent";
	}
}

/* The value of user.ftrack.<attr> for @e, or -ENODATA. */
static int xattr_value(struct fs *fs, const struct cache_entry *e, const char *attr, char *buf, size_t len)
{
	uint32_t node = e->attr.flags;

	if (!strcmp(attr, "id")) {
		if (!*e->ftrack_id)
			return -ENODATA;
		return snprintf(buf, len, "%s", e->ftrack_id);
	}
	if (!strcmp(attr, "type")) {
		if (!*e->type)
			return -ENODATA;
		return snprintf(buf, len, "%s", e->type);
	}
	if (!strcmp(attr, "state") && (node == FS_NODE_LCOMPONENT || node == FS_NODE_LMEMBER ||
				       node == FS_NODE_LCOMPONENT_DIR)) {
		struct cache_compstate *cs = malloc(sizeof(*cs));
		struct fs_blob b;
		int r;

		if (!cs)
			return -ENOMEM;
		fs_blob_get(e, &b);
		r = cache_compstate_get(fs->cache, e->ftrack_id, b.loc_id, cs);
		if (r < 0) {
			free(cs);
			return -EIO;
		}
		/* listed by a path rule ([absolute]) without a row of its own: present */
		if (r == 0)
			r = snprintf(buf, len, "present");
		else if (cs->state == CACHE_LOC_TRANSFERRING && cs->bytes_total)
			r = snprintf(buf, len, "transferring %u%%",
				     (unsigned)(cs->bytes_done * 100 / cs->bytes_total));
		else if (cs->state == CACHE_LOC_FAILED)
			r = snprintf(buf, len, "failed: %s", cs->reason);
		else if (cs->state == CACHE_LOC_QUEUED && cs->reason[0])
			r = snprintf(buf, len, "queued (%s)", cs->reason);	/* why it waits */
		else
			r = snprintf(buf, len, "%s", state_name(cs->state));
		free(cs);
		return r < (int)len ? r : (int)len - 1;
	}
	if (!strcmp(attr, "locations") &&
	    (node == FS_NODE_COMPONENT || node == FS_NODE_MEMBER || node == FS_NODE_COMPONENT_DIR ||
	     node == FS_NODE_LCOMPONENT || node == FS_NODE_LMEMBER || node == FS_NODE_LCOMPONENT_DIR)) {
		struct cache_compstate *st = NULL;
		int n = cache_compstate_list(fs->cache, e->ftrack_id, &st);
		size_t o = 0;

		if (n < 0)
			return -EIO;
		buf[0] = '\0';
		for (int i = 0; i < n && o < len; i++) {
			char name[256];
			int k;

			const struct config_location *owner = NULL;
			char rel[CACHE_PATH_MAX + 1];

			loc_name(fs, st[i].location_id, name, sizeof(name));
			/* A file ftrack knows by absolute path (ftrack.unmanaged) belongs
			 * to the site an [absolute] rule names: say so, as "hq=present
			 * (ftrack.unmanaged)", for that is where a send takes it from. */
			if (st[i].resource_identifier[0] &&
			    storage_resolve(fs->cfg, name, st[i].resource_identifier, &owner,
					    rel, sizeof(rel)) == 0 &&
			    owner && strcmp(owner->name, name) != 0)
				k = snprintf(buf + o, len - o, "%s%s=%s (%s)", o ? "," : "", owner->name,
					     state_name(st[i].state), name);
			else
				k = snprintf(buf + o, len - o, "%s%s=%s", o ? "," : "", name,
					     state_name(st[i].state));
			if (k > 0)
				o += (size_t)k;
		}
		free(st);
		return (int)(o < len ? o : len - 1);
	}
	return -ENODATA;
}

static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fs_of(req);
	struct cache_entry *e;
	char val[4096];
	int r;

	/*
	 * security.* and system.* (SELinux labels, capabilities, POSIX ACLs):
	 * not supported here, and saying so (EOPNOTSUPP, not ENODATA) lets
	 * coreutils ls stop asking for the rest of the device instead of
	 * costing two round trips per entry of every `ls -l`. The kernel's
	 * security.capability check before a write reads it as "no
	 * capabilities". trusted.* and foreign user.*: absent. All from
	 * memory, before any lock or LMDB access.
	 */
	if (!strncmp(name, "security.", 9) || !strncmp(name, "system.", 7)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (strncmp(name, XATTR_PREFIX, sizeof(XATTR_PREFIX) - 1) || ino == FUSE_ROOT_ID) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	e = malloc(sizeof(*e));
	if (!e) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = cache_get(fs->cache, ino, e);
	if (r <= 0) {
		free(e);
		fuse_reply_err(req, r < 0 ? EIO : ENOENT);
		return;
	}
	r = xattr_value(fs, e, name + sizeof(XATTR_PREFIX) - 1, val, sizeof(val));
	free(e);
	if (r < 0)
		fuse_reply_err(req, -r);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)r);
	else if ((size_t)r > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, (size_t)r);
}

static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char *const names[] = { "id", "type", "locations", "state" };
	struct fs *fs = fs_of(req);
	struct cache_entry *e;
	char list[256], val[4096];
	size_t o = 0;
	int r;

	if (ino == FUSE_ROOT_ID) {
		if (size == 0)
			fuse_reply_xattr(req, 0);
		else
			fuse_reply_buf(req, NULL, 0);
		return;
	}
	e = malloc(sizeof(*e));
	if (!e) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = cache_get(fs->cache, ino, e);
	if (r <= 0) {
		free(e);
		fuse_reply_err(req, r < 0 ? EIO : ENOENT);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (xattr_value(fs, e, names[i], val, sizeof(val)) < 0)
			continue;
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", XATTR_PREFIX, names[i]) + 1;
	}
	free(e);
	if (size == 0)
		fuse_reply_xattr(req, o);
	else if (o > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, list, o);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = NAME_MAX;
	/* blocks 0/0: GIO then skips its free-space check */
	fuse_reply_statfs(req, &sv);
}

/* ---- everything that would write: read-only tree ---- */

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void)ino; (void)attr; (void)to_set; (void)fi;
	fuse_reply_err(req, EROFS);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)parent; (void)name; (void)mode; (void)rdev;
	fuse_reply_err(req, EROFS);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent; (void)name; (void)mode;
	fuse_reply_err(req, EROFS);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent; (void)name;
	fuse_reply_err(req, EROFS);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link; (void)parent; (void)name;
	fuse_reply_err(req, EROFS);
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	(void)parent; (void)name; (void)newparent; (void)newname; (void)flags;
	fuse_reply_err(req, EROFS);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino; (void)newparent; (void)newname;
	fuse_reply_err(req, EROFS);
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	(void)parent; (void)name; (void)mode; (void)fi;
	fuse_reply_err(req, EROFS);
}

static void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	(void)ino; (void)name; (void)value; (void)size; (void)flags;
	fuse_reply_err(req, EROFS);
}

static void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino; (void)name;
	fuse_reply_err(req, EROFS);
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->max_background = 64;
	fs->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
}

void fs_ops_fill(struct fuse_lowlevel_ops *ops, bool noxattr)
{
	memset(ops, 0, sizeof(*ops));
	ops->init = fs_init;
	ops->lookup = fs_lookup;
	ops->getattr = fs_getattr;
	ops->opendir = fs_opendir;
	ops->readdir = fs_readdir;
	ops->readdirplus = fs_readdirplus;
	ops->releasedir = fs_releasedir;
	ops->open = fs_open;
	ops->read = fs_read;
	ops->release = fs_release;
	ops->statfs = fs_statfs;
	ops->setattr = fs_setattr;
	ops->mknod = fs_mknod;
	ops->mkdir = fs_mkdir;
	ops->unlink = fs_unlink;
	ops->rmdir = fs_unlink;
	ops->symlink = fs_symlink;
	ops->rename = fs_rename;
	ops->link = fs_link;
	ops->create = fs_create;
	if (!noxattr) {
		ops->getxattr = fs_getxattr;
		ops->listxattr = fs_listxattr;
		ops->setxattr = fs_setxattr;
		ops->removexattr = fs_removexattr;
	}
	/* no forget: nothing is held per inode */
}
