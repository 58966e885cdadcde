/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sendfs.h - location folders as send targets: what the FUSE write
 * handlers of locations/<L>/ do (private to fs/). No FUSE type appears
 * here: ops.c replies; this module decides.
 *
 * Design note
 * -----------
 * A path written under locations/<L>/ is matched, level by level, against
 * its twin under projects/ (same names: both trees are named by names.c).
 * A name with a twin becomes a placeholder entry in L's view, with the
 * twin's size and mtime (so `rsync -a` run twice finds nothing to send) and
 * write permission; when it names a component (a file, a sequence or
 * container directory, a member), the intent "send it to L" is committed to
 * the outbox:
 *   - create + write (bytes discarded) + release of a component's name,
 *   - copy_file_range from a component (a send by reference, no bytes),
 *   - rename of a temporary name (rsync ".name.XXXXXX", GIO
 *     ".goutputstream-XXXXXX") onto a component's name,
 *   - mkdir of a sequence or container,
 *   - setxattr user.ftrack.send = L on any entry (the CLI's path).
 * Temporary names (dot-names without a twin) are accepted and kept only in
 * the cache until renamed or unlinked. Any other name has no twin: EINVAL.
 * Placeholders of pending sends are put back after a view refresh
 * (sendfs_restore_view()), from the path kept in each intent.
 */
#ifndef FTRACKFS_FS_SENDFS_H
#define FTRACKFS_FS_SENDFS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ftrackfs/cache.h"

struct fs;
struct send;
struct sendfs;

/* sendfs_new() - glue for @fs and @send (both borrowed). 0 or -ENOMEM. */
int sendfs_new(struct fs *fs, struct send *send, struct sendfs **ret);
void sendfs_free(struct sendfs *sf);

/*
 * sendfs_view_of() - is @ino a directory of a location view (the view's
 * root included)? Returns 1 and fills *ret_entry (may be NULL) and @loc_id
 * (>= CACHE_ID_MAX + 1 bytes), 0 when not, -errno.
 */
int sendfs_view_of(struct sendfs *sf, uint64_t ino, struct cache_entry *ret_entry, char *loc_id);

/*
 * sendfs_mkdir() / sendfs_create() - a new name in view directory @parent.
 * Fill *ret (the new or existing placeholder). create: a component's name
 * or a temporary name; *ret_is_temp tells which. -EINVAL for a name with
 * no twin (GNOME Files then repairs it), -ENOTDIR / -EISDIR when the twin
 * is of the other kind, -ENOENT when @parent is no view directory.
 */
int sendfs_mkdir(struct sendfs *sf, uint64_t parent, const char *name, struct cache_entry *ret);
int sendfs_create(struct sendfs *sf, uint64_t parent, const char *name, struct cache_entry *ret,
		  bool *ret_is_temp);

/* A write handle on placeholder @ino was released: commit its intent. */
int sendfs_release(struct sendfs *sf, uint64_t ino, uint64_t written);

/* Bytes written to a temporary entry (its size grows; the data is dropped). */
void sendfs_wrote(struct sendfs *sf, uint64_t ino, uint64_t end);

/*
 * sendfs_rename() - @name in @parent to @newname in @newparent, both view
 * directories of the same location. A temporary entry renamed onto a
 * component's name commits that component. -EXDEV across views or trees,
 * -EINVAL for a target name with no twin.
 */
int sendfs_rename(struct sendfs *sf, uint64_t parent, const char *name, uint64_t newparent,
		  const char *newname);

/* Unlink a temporary entry (-EPERM for anything else). */
int sendfs_unlink(struct sendfs *sf, uint64_t parent, const char *name);

/*
 * sendfs_setattr() - times, mode and size on a view entry are accepted: the
 * mtime is kept in the entry, the rest ignored. *ret gets the new attr.
 */
int sendfs_setattr(struct sendfs *sf, uint64_t ino, const struct stat *st, bool set_mtime,
		   bool set_size, struct cache_attr *ret);

/*
 * sendfs_copy() - copy_file_range from @ino_in (a component under
 * projects/ or a view) to placeholder @ino_out: a send by reference.
 * Returns the number of bytes to report (the component's size) or -errno
 * (-EXDEV when @ino_in is no component: the kernel then copies itself).
 */
int64_t sendfs_copy(struct sendfs *sf, uint64_t ino_in, uint64_t ino_out);

/*
 * sendfs_send_xattr() - user.ftrack.send = @loc_name on any entry: send
 * every component at or below it (listing below as needed) to that
 * location. Returns the number of intents recorded, -ENOENT for an unknown
 * location, -ENXIO when it maps to no accsyn party.
 */
int sendfs_send_xattr(struct sendfs *sf, uint64_t ino, const char *loc_name);

/* user.ftrack.retry on any entry: re-queue failed sends (all of them). */
int sendfs_retry_xattr(struct sendfs *sf, uint64_t ino);

/* Put back the placeholders of pending sends to @loc_id after a refresh. */
void sendfs_restore_view(struct sendfs *sf, const char *loc_id);

/* True for entries of a location view (their permission bits allow writing). */
bool sendfs_is_view_node(uint32_t node);

/*
 * .ftrackfs/jobs/<job id>.json: one generated file per accsyn job. The node
 * numbers follow enum fs_node's last (fs.h) and are stored in the entries.
 */
#define FS_NODE_JOBS_DIR 64
#define FS_NODE_JOB_FILE 65

/* Create .ftrackfs/jobs/ and a file per job the cache knows. 0 or -errno. */
int sendfs_jobs_init(struct sendfs *sf);
/* Job @job_id was created or changed (the engine's on_job callback). */
void sendfs_job_changed(void *sf, const char *job_id);
/* The text of job file @e: malloc'ed in *ret_buf; its length or -errno. */
int sendfs_render_job(struct sendfs *sf, const struct cache_entry *e, char **ret_buf);

#endif /* FTRACKFS_FS_SENDFS_H */
