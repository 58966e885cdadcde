/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop.h - the request loop (private to fs/).
 *
 * One thread at a time leads: it reads /dev/fuse and answers what it read
 * itself, so a quick request costs no hand-off between threads. After each
 * request it keeps reading, without sleeping, for a short while: on a
 * virtual machine a sleeping reader is woken by an inter-processor
 * interrupt that costs more than the whole answer, and a tree walk sends
 * its next request within microseconds. A request that may block (a first
 * listing waiting for ftrack, a read from storage, anything in a location
 * folder) gives the lead to another thread first, so one slow request
 * never stalls the mount.
 */
#ifndef FTRACKFS_FS_LOOP_H
#define FTRACKFS_FS_LOOP_H

#include <stdbool.h>

struct fuse_session;

struct fs_loop_cfg {
	unsigned int max_threads;	/* at least 1 */
	unsigned int spin_us;		/* reading without sleeping after a request; 0 = never */
	bool colocate;			/* the leader follows the client's CPU (loop.c) */
};

/*
 * fs_loop_run() - serve @se until it is unmounted or a signal installed by
 * fuse_set_signal_handlers() asks to exit. Call from the main thread: it
 * takes the signals while the workers serve. Returns 0, or -errno when the
 * device failed.
 */
int fs_loop_run(struct fuse_session *se, const struct fs_loop_cfg *cfg);

/*
 * fs_loop_may_block() - called by a handler about to wait (network,
 * storage): if this thread leads, another thread takes the lead now.
 * Harmless anywhere else, including outside the loop.
 */
void fs_loop_may_block(void);

/*
 * fs_loop_reply_begin() - the session's writev calls it before a reply
 * goes out: a leader following its client's CPU sends as SCHED_IDLE.
 */
void fs_loop_reply_begin(void);

/* Capability @cap (linux/capability.h numbering) is in the effective set. */
bool fs_cap_effective(unsigned int cap);

#endif /* FTRACKFS_FS_LOOP_H */
