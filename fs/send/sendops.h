/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sendops.h - the write operations of location folders (private to fs/).
 */
#ifndef FTRACKFS_FS_SENDOPS_H
#define FTRACKFS_FS_SENDOPS_H

struct fuse_lowlevel_ops;
struct sendfs;

/*
 * sendops_fill() - install the write handlers over @ops (filled by
 * fs_ops_fill() first; its read handlers are kept and called for what is
 * not a location view).
 */
void sendops_fill(struct fuse_lowlevel_ops *ops);

/* sendops_attach() - the sendfs serving this process's one mount (NULL
 * detaches: writes answer EROFS). */
void sendops_attach(struct sendfs *sf);

#endif /* FTRACKFS_FS_SENDOPS_H */
