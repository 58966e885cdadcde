/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sendops.c - the FUSE write operations of location folders. They reply;
 * sendfs.c decides. sendops_fill() installs them over the read-only table
 * of ops.c and keeps ops.c's handlers for everything else (reads, the
 * projects/ tree, which stays read-only: EROFS).
 *
 * Replies (one place per handler):
 *   create/mkdir: the placeholder entry; EINVAL for a name with no twin
 *     (GNOME Files then repairs the name), EROFS outside location views.
 *   write: the bytes are dropped, the count acknowledged.
 *   copy_file_range: the component's size, once (a send by reference);
 *     EXDEV when the source is no component (the kernel then copies).
 *   setattr: times/mode/owner/size accepted on view entries.
 *   setxattr: user.ftrack.send = L and user.ftrack.retry anywhere;
 *     other user.* accepted on view entries; the rest EOPNOTSUPP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <fuse_lowlevel.h>

#include "fs.h"
#include "send.h"
#include "sendfs.h"
#include "sendops.h"
#include "ftrackfs/log.h"

#define MOD "send"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* Write handles are ours: ops.c opens only for reading. */
struct send_fh {
	uint64_t ino;
	uint64_t written;	/* highest offset written */
	bool is_temp;
	bool sent;		/* committed by copy_file_range already */
};

/* One mount per process: its sendfs, attached once the cache is open
 * (after daemonize); until then location folders are read-only. */
static struct sendfs *g_sf;
static struct fuse_lowlevel_ops g_base;	/* ops.c's handlers */

static struct sendfs *sf_get(void)
{
	return __atomic_load_n(&g_sf, __ATOMIC_ACQUIRE);
}

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void fill_entry(struct fs *fs, const struct cache_entry *ce, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ce->ino;
	e->generation = 1;
	e->attr.st_ino = ce->ino;
	e->attr.st_uid = fs->uid;
	e->attr.st_gid = fs->gid;
	e->attr.st_blksize = 4096;
	if (ce->attr.kind == CACHE_KIND_DIR) {
		e->attr.st_mode = S_IFDIR | 0755;
		e->attr.st_nlink = 2;
	} else {
		e->attr.st_mode = S_IFREG | 0644;
		e->attr.st_nlink = 1;
	}
	e->attr.st_size = (off_t)ce->attr.size;
	e->attr.st_blocks = (blkcnt_t)((ce->attr.size + 511) / 512);
	e->attr.st_mtim.tv_sec = ce->attr.mtime_ns / 1000000000LL;
	e->attr.st_mtim.tv_nsec = ce->attr.mtime_ns % 1000000000LL;
	e->attr.st_ctim = e->attr.st_mtim;
	e->attr.st_atim = e->attr.st_mtim;
	/* short: the entry may be replaced by a refresh or a rename */
	e->entry_timeout = 1.0;
	e->attr_timeout = 1.0;
}

static void so_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct cache_entry *ce = malloc(sizeof(*ce));
	struct fuse_entry_param e;
	int r;

	if (!sf_get()) {
		fuse_reply_err(req, EROFS);
		return;
	}

	(void)mode;
	r = ce ? sendfs_mkdir(sf_get(), parent, name, ce) : -ENOMEM;
	if (r == -ENOENT)
		r = -EROFS;	/* not a location view */
	if (r < 0) {
		fuse_reply_err(req, -r);
	} else {
		fill_entry(fs_of(req), ce, &e);
		fuse_reply_entry(req, &e);
	}
	free(ce);
}

static void so_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct cache_entry *ce = malloc(sizeof(*ce));
	struct send_fh *fh = calloc(1, sizeof(*fh));
	struct fuse_entry_param e;
	bool is_temp = false;
	int r;

	if (!sf_get()) {
		fuse_reply_err(req, EROFS);
		return;
	}

	(void)mode;
	r = ce && fh ? sendfs_create(sf_get(), parent, name, ce, &is_temp) : -ENOMEM;
	if (r == -ENOENT)
		r = -EROFS;
	if (r < 0) {
		fuse_reply_err(req, -r);
		free(fh);
	} else {
		fh->ino = ce->ino;
		fh->is_temp = is_temp;
		fi->fh = (uint64_t)(uintptr_t)fh;
		fi->direct_io = 1;	/* never cache the dropped bytes */
		fill_entry(fs_of(req), ce, &e);
		if (fuse_reply_create(req, &e, fi) < 0)
			free(fh);
	}
	free(ce);
}

static void so_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char loc[CACHE_ID_MAX + 1];
	struct cache_entry *ce;
	struct send_fh *fh;
	bool is_view;

	if ((fi->flags & O_ACCMODE) == O_RDONLY || !sf_get()) {
		g_base.open(req, ino, fi);
		return;
	}
	ce = malloc(sizeof(*ce));
	if (!ce) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	is_view = cache_get(fs_of(req)->cache, ino, ce) == 1 && sendfs_is_view_node(ce->attr.flags) &&
		  ce->attr.kind == CACHE_KIND_FILE && sendfs_view_of(sf_get(), ce->parent, NULL, loc) == 1;
	if (!is_view) {
		free(ce);
		fuse_reply_err(req, EROFS);
		return;
	}
	fh = calloc(1, sizeof(*fh));
	if (!fh) {
		free(ce);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fh->ino = ino;
	fh->is_temp = !ce->ftrack_id[0];
	free(ce);
	fi->fh = (uint64_t)(uintptr_t)fh;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) < 0)
		free(fh);
}

static bool is_ours(const struct fuse_file_info *fi)
{
	return fi && (fi->flags & O_ACCMODE) != O_RDONLY;
}

static void so_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct send_fh *fh = (struct send_fh *)(uintptr_t)fi->fh;

	(void)ino; (void)buf;
	if (!is_ours(fi) || !fh) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if ((uint64_t)off + size > fh->written)
		fh->written = (uint64_t)off + size;
	fuse_reply_write(req, size);
}

static void so_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct send_fh *fh = (struct send_fh *)(uintptr_t)fi->fh;

	if (!is_ours(fi)) {
		g_base.release(req, ino, fi);
		return;
	}
	if (fh) {
		if (fh->is_temp)
			sendfs_wrote(sf_get(), ino, fh->written);
		else if (!fh->sent)
			sendfs_release(sf_get(), ino, fh->written);
		free(fh);
	}
	fuse_reply_err(req, 0);
}

static void so_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino; (void)fi;
	fuse_reply_err(req, 0);
}

static void so_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino; (void)datasync; (void)fi;
	fuse_reply_err(req, 0);
}

static void so_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct send_fh *fh = fi_out ? (struct send_fh *)(uintptr_t)fi_out->fh : NULL;
	int64_t r;

	if (!sf_get()) {
		fuse_reply_err(req, EXDEV);
		return;
	}

	(void)fi_in; (void)off_out; (void)flags;
	if (!is_ours(fi_out) || !fh) {
		fuse_reply_err(req, EXDEV);
		return;
	}
	if (fh->sent) {
		fuse_reply_write(req, 0);	/* the whole component went at once */
		return;
	}
	r = sendfs_copy(sf_get(), ino_in, ino_out);
	if (r < 0) {
		fuse_reply_err(req, (int)-r);
		return;
	}
	fh->sent = true;
	if (off_in >= r)
		r = 0;
	else
		r -= off_in;
	fuse_reply_write(req, (size_t)r < len ? (size_t)r : len);
}

static void so_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct cache_entry *ce = malloc(sizeof(*ce));
	struct cache_attr a;
	struct fuse_entry_param e;
	char loc[CACHE_ID_MAX + 1];
	int r;

	if (!ce) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = sf_get() ? cache_get(fs_of(req)->cache, ino, ce) : 0;
	if (r != 1 || !sendfs_is_view_node(ce->attr.flags) ||
	    (ce->attr.flags == FS_NODE_LOCATION ? false :
	     sendfs_view_of(sf_get(), ce->parent, NULL, loc) != 1)) {
		free(ce);
		g_base.setattr(req, ino, attr, to_set, fi);	/* EROFS */
		return;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		clock_gettime(CLOCK_REALTIME, &attr->st_mtim);
		to_set |= FUSE_SET_ATTR_MTIME;
	}
	r = sendfs_setattr(sf_get(), ino, attr, (to_set & FUSE_SET_ATTR_MTIME) != 0,
			   (to_set & FUSE_SET_ATTR_SIZE) != 0, &a);
	if (r < 0) {
		fuse_reply_err(req, -r);
	} else {
		ce->attr = a;
		fill_entry(fs_of(req), ce, &e);
		fuse_reply_attr(req, &e.attr, 1.0);
	}
	free(ce);
}

static void so_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char loc[CACHE_ID_MAX + 1];
	int r;

	if (!sf_get()) {
		fuse_reply_err(req, EROFS);
		return;
	}

	if (sendfs_view_of(sf_get(), parent, NULL, loc) != 1) {
		fuse_reply_err(req, EROFS);
		return;
	}
	r = sendfs_unlink(sf_get(), parent, name);
	fuse_reply_err(req, r < 0 ? -r : 0);
}

static void so_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	char loc[CACHE_ID_MAX + 1];
	int r;

	if (!sf_get()) {
		fuse_reply_err(req, EROFS);
		return;
	}

	if (flags & ~(unsigned)RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (sendfs_view_of(sf_get(), newparent, NULL, loc) != 1) {
		/* into projects/ or the root: read-only; out of a view: a copy */
		fuse_reply_err(req, sendfs_view_of(sf_get(), parent, NULL, loc) == 1 ? EXDEV : EROFS);
		return;
	}
	r = sendfs_rename(sf_get(), parent, name, newparent, newname);
	fuse_reply_err(req, r < 0 ? -r : 0);
}

#define SEND_XATTR "user.ftrack.send"
#define RETRY_XATTR "user.ftrack.retry"

static void so_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct cache_entry *ce;
	char loc[CACHE_ID_MAX + 1];
	int r;

	if (!sf_get()) {
		fuse_reply_err(req, EAGAIN);
		return;
	}

	(void)flags;
	if (!strcmp(name, SEND_XATTR)) {
		char *v = strndup(value, size);

		if (!v) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		while (size && (v[size - 1] == '\n' || v[size - 1] == ' '))
			v[--size] = '\0';
		r = sendfs_send_xattr(sf_get(), ino, v);
		free(v);
		fuse_reply_err(req, r < 0 ? -r : 0);
		return;
	}
	if (!strcmp(name, RETRY_XATTR)) {
		r = sendfs_retry_xattr(sf_get(), ino);
		fuse_reply_err(req, r < 0 ? -r : 0);
		return;
	}
	ce = malloc(sizeof(*ce));
	r = ce && cache_get(fs_of(req)->cache, ino, ce) == 1 && sendfs_is_view_node(ce->attr.flags) &&
	    (ce->attr.flags == FS_NODE_LOCATION || sendfs_view_of(sf_get(), ce->parent, NULL, loc) == 1);
	free(ce);
	/* cp -a and GIO copy user.* attributes: accept and forget them */
	fuse_reply_err(req, r && !strncmp(name, "user.", 5) ? 0 : EOPNOTSUPP);
}

static void so_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	fuse_reply_err(req, strncmp(name, "user.", 5) ? EOPNOTSUPP : ENODATA);
}

void sendops_attach(struct sendfs *sf)
{
	__atomic_store_n(&g_sf, sf, __ATOMIC_RELEASE);
}

void sendops_fill(struct fuse_lowlevel_ops *ops)
{
	g_base = *ops;
	ops->mkdir = so_mkdir;
	ops->create = so_create;
	ops->open = so_open;
	ops->write = so_write;
	ops->release = so_release;
	ops->flush = so_flush;
	ops->fsync = so_fsync;
	ops->copy_file_range = so_copy_file_range;
	ops->setattr = so_setattr;
	ops->unlink = so_unlink;
	ops->rename = so_rename;
	if (ops->setxattr) {
		ops->setxattr = so_setxattr;
		ops->removexattr = so_removexattr;
	}
}
