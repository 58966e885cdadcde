/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops.h - the FUSE low-level operation table (private to fs/).
 */
#ifndef FTRACKFS_FS_OPS_H
#define FTRACKFS_FS_OPS_H

#include <stdbool.h>

struct fuse_lowlevel_ops;

/*
 * fs_ops_fill() - fill @ops. The session's userdata must be a struct fs.
 * With @noxattr the xattr ops are left out, so the kernel learns ENOSYS
 * once and stops asking (no GETXATTR per write or per `ls -l` entry).
 */
void fs_ops_fill(struct fuse_lowlevel_ops *ops, bool noxattr);

/* fs_ops_cleanup() - free the listings parked between readdir pages. */
void fs_ops_cleanup(void);

#endif /* FTRACKFS_FS_OPS_H */
