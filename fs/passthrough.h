/* SPDX-License-Identifier: Apache-2.0 */
/*
 * passthrough.h - reads that never reach the daemon (private to fs/).
 *
 * Since Linux 6.9 a FUSE server may hand the kernel the file behind an
 * open ("FUSE passthrough"): read(), splice() and mmap() then go straight
 * to that file and its page cache, at the speed of the storage itself.
 * libfuse 3.14 predates it, so this module adds the two things it lacks:
 * the FUSE_PASSTHROUGH flag in the INIT reply and a backing id in an open
 * reply, both patched into the replies on their way to /dev/fuse (the
 * session's custom writev).
 *
 * Registering a backing file needs CAP_SYS_ADMIN. Without it, on older
 * kernels, or with `passthrough = false`, opens keep the spliced reads of
 * fs_read() and nothing here changes a byte.
 */
#ifndef FTRACKFS_FS_PASSTHROUGH_H
#define FTRACKFS_FS_PASSTHROUGH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fuse_session;

/*
 * fs_pt_setup() - after fuse_session_mount(): route the session's replies
 * through the patching writev. @wanted false (the config) still installs
 * it, so the status can say why reads are not passed through. Returns 0 or
 * -errno.
 */
int fs_pt_setup(struct fuse_session *se, bool wanted);

/* The request loop shows each request here before libfuse answers it. */
void fs_pt_note_request(const void *mem, size_t size);

/* Passthrough was agreed with the kernel and is not switched off. */
bool fs_pt_active(void);

/* Why reads are or are not passed through, for .ftrackfs/status. */
const char *fs_pt_describe(void);

/*
 * fs_pt_open() - register @fd (open for reading) as the backing file of
 * inode @ino and take a reference. Concurrent opens of one inode share one
 * backing file, as the kernel requires. The caller may close @fd after.
 * Returns the backing id (> 0), 0 when passthrough is off, or -errno (the
 * caller then serves the reads itself).
 */
int fs_pt_open(uint64_t ino, int fd);

/* Drop the reference fs_pt_open() took (an open released or never sent). */
void fs_pt_release(uint64_t ino);

/*
 * fs_pt_reply_open() - the next open reply this thread sends passes the
 * file through to @backing_id; 0 clears it. Bracket fuse_reply_open().
 */
void fs_pt_reply_open(int backing_id);

/* Backing files registered now (for tests and status). */
size_t fs_pt_count(void);

#endif /* FTRACKFS_FS_PASSTHROUGH_H */
