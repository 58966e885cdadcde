/* SPDX-License-Identifier: Apache-2.0 */
/*
 * passthrough.c - FUSE passthrough on top of libfuse 3.14. See
 * passthrough.h.
 *
 * The wire format below is the kernel's (include/uapi/linux/fuse.h, 7.40);
 * Debian 12's headers stop at 7.38, hence the local definitions. Every
 * patch is guarded: a reply that is not exactly the expected shape goes
 * out untouched.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/fuse.h>
#include <fuse_lowlevel.h>

#include "loop.h"
#include "passthrough.h"
#include "ftrackfs/log.h"

#define MOD "passthrough"

#define PT_INIT_EXT		(1U << 30)	/* flags2 is valid */
#define PT_FLAGS2_PASSTHROUGH	(1U << 5)	/* FUSE_PASSTHROUGH = 1ULL << 37 */
#define PT_FOPEN_PASSTHROUGH	(1U << 7)
/* what the kernel accepts beside it (FOPEN_DIRECT_IO, _NOFLUSH,
 * _PARALLEL_DIRECT_WRITES); KEEP_CACHE would fail the open with EIO */
#define PT_FOPEN_ALLOWED	((1U << 0) | (1U << 5) | (1U << 6))
/*
 * The backing file may itself sit on one stacked filesystem (overlayfs,
 * as in containers); the mount then cannot be stacked on.
 */
#define PT_MAX_STACK_DEPTH	2

struct pt_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};

#define PT_IOC_BACKING_OPEN	_IOW(229, 1, struct pt_backing_map)
#define PT_IOC_BACKING_CLOSE	_IOW(229, 2, uint32_t)

/* fuse_init_in and fuse_init_out, 7.36 onwards, up to what is patched */
struct pt_init_in {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint32_t flags2;
};

struct pt_init_out {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint16_t max_background;
	uint16_t congestion_threshold;
	uint32_t max_write;
	uint32_t time_gran;
	uint16_t max_pages;
	uint16_t map_alignment;
	uint32_t flags2;
	uint32_t max_stack_depth;
};

struct pt_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};

_Static_assert(sizeof(struct pt_open_out) == sizeof(struct fuse_open_out), "fuse_open_out");
_Static_assert(sizeof(struct pt_init_out) <= sizeof(struct fuse_init_out), "fuse_init_out");

#define PT_BUCKETS 256

struct pt_node {
	uint64_t ino;
	int id;
	unsigned int refs;
	struct pt_node *next;
};

static struct {
	int fd;				/* /dev/fuse */
	bool wanted;			/* config and capability */
	bool offered;			/* the kernel offered it in INIT */
	bool active;			/* agreed in the INIT reply */
	bool refused;			/* a registration was refused: stop trying */
	uint64_t init_unique;		/* __atomic: every reply is checked against it */
	const char *why;		/* for the status */
	pthread_mutex_t lock;
	struct pt_node *tab[PT_BUCKETS];
	size_t n;
} pt = {
	.fd = -1,
	.why = "off (not set up)",
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static __thread int tl_open_id;

static ssize_t pt_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	return read(fd, buf, len);
}

/*
 * Patch the INIT reply in a copy (the iovec points at libfuse's stack).
 * Sets *@patched when the reply had the expected shape.
 */
static ssize_t send_init(int fd, struct iovec *iov, int count, bool *patched)
{
	char whole[sizeof(struct fuse_init_out)];
	struct pt_init_out out;
	size_t len = iov[1].iov_len;
	struct iovec v[2] = { iov[0], { whole, len } };

	*patched = false;
	if (count != 2 || len < sizeof(out) || len > sizeof(whole))
		return writev(fd, iov, count);
	memcpy(whole, iov[1].iov_base, len);
	memcpy(&out, whole, sizeof(out));
	out.flags |= PT_INIT_EXT;
	out.flags2 |= PT_FLAGS2_PASSTHROUGH;
	out.max_stack_depth = PT_MAX_STACK_DEPTH;
	memcpy(whole, &out, sizeof(out));
	*patched = true;
	return writev(fd, v, 2);
}

static ssize_t pt_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct fuse_out_header *oh;

	(void)userdata;
	fs_loop_reply_begin();
	if (count < 2 || iov[0].iov_len != sizeof(*oh))
		return writev(fd, iov, count);
	oh = iov[0].iov_base;
	if (tl_open_id > 0) {
		int id = tl_open_id;

		tl_open_id = 0;
		if (oh->error == 0 && count == 2 && iov[1].iov_len == sizeof(struct pt_open_out)) {
			struct pt_open_out out;
			struct iovec v[2] = { iov[0], { &out, sizeof(out) } };

			memcpy(&out, iov[1].iov_base, sizeof(out));
			out.open_flags = (out.open_flags & PT_FOPEN_ALLOWED) | PT_FOPEN_PASSTHROUGH;
			out.backing_id = id;
			return writev(fd, v, 2);
		}
		return writev(fd, iov, count);
	}
	if (oh->unique && oh->unique == __atomic_load_n(&pt.init_unique, __ATOMIC_RELAXED)) {
		bool patched;
		ssize_t r;

		__atomic_store_n(&pt.init_unique, 0, __ATOMIC_RELAXED);
		if (oh->error != 0 || !pt.wanted || !pt.offered)
			return writev(fd, iov, count);
		r = send_init(fd, iov, count, &patched);
		if (r >= 0 && patched) {
			__atomic_store_n(&pt.active, true, __ATOMIC_RELEASE);
			pt.why = "on (reads go straight to storage)";
			log_info(MOD, "reads pass through to storage (FUSE passthrough)");
		}
		return r;
	}
	return writev(fd, iov, count);
}

int fs_pt_setup(struct fuse_session *se, bool wanted)
{
	static const struct fuse_custom_io io = {
		.writev = pt_writev,
		.read = pt_read,
	};
	int fd = fuse_session_fd(se);
	int r;

	pt.fd = fd;
	pt.wanted = wanted && fs_cap_effective(21)	/* CAP_SYS_ADMIN */;
	pt.why = !wanted ? "off (passthrough = false)" :
		 !pt.wanted ? "off (needs CAP_SYS_ADMIN; reads go through the daemon)" :
		 "off (the kernel does not offer it; reads go through the daemon)";
	r = fuse_session_custom_io(se, &io, fd);
	if (r < 0) {
		pt.wanted = false;
		pt.why = "off (libfuse refused the custom I/O)";
		log_warn(MOD, "cannot install the reply hook: %s", strerror(-r));
		return r;
	}
	return 0;
}

void fs_pt_note_request(const void *mem, size_t size)
{
	const struct fuse_in_header *in = mem;
	const struct pt_init_in *arg;

	if (size < sizeof(*in) + offsetof(struct pt_init_in, flags2) + sizeof(uint32_t) ||
	    in->opcode != FUSE_INIT)
		return;
	arg = (const struct pt_init_in *)(in + 1);
	pt.offered = (arg->flags & PT_INIT_EXT) && (arg->flags2 & PT_FLAGS2_PASSTHROUGH);
	__atomic_store_n(&pt.init_unique, in->unique, __ATOMIC_RELAXED);
}

bool fs_pt_active(void)
{
	return __atomic_load_n(&pt.active, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&pt.refused, __ATOMIC_RELAXED);
}

const char *fs_pt_describe(void)
{
	return pt.why;
}

static struct pt_node **slot_of(uint64_t ino)
{
	struct pt_node **p = &pt.tab[(ino * 0x9E3779B97F4A7C15ULL) >> 56 & (PT_BUCKETS - 1)];

	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

int fs_pt_open(uint64_t ino, int fd)
{
	struct pt_backing_map map = { .fd = fd };
	struct pt_node **p, *n;
	int id;

	if (!__atomic_load_n(&pt.active, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&pt.lock);
	p = slot_of(ino);
	if (*p) {
		/* even once refused: an inode passed through stays so while open,
		 * or the kernel fails the open (EIO) */
		(*p)->refs++;
		id = (*p)->id;
		pthread_mutex_unlock(&pt.lock);
		return id;
	}
	if (!fs_pt_active()) {
		pthread_mutex_unlock(&pt.lock);
		return 0;
	}
	n = malloc(sizeof(*n));
	if (!n) {
		pthread_mutex_unlock(&pt.lock);
		return -ENOMEM;
	}
	id = ioctl(pt.fd, PT_IOC_BACKING_OPEN, &map);
	if (id <= 0) {
		int e = id < 0 ? errno : EIO;

		free(n);
		pthread_mutex_unlock(&pt.lock);
		/* a capability or kernel refusal holds for every file */
		if (e == EPERM || e == ENOTTY || e == EOPNOTSUPP) {
			__atomic_store_n(&pt.refused, true, __ATOMIC_RELAXED);
			pt.why = "off (the kernel refused a backing file; reads go through the daemon)";
			log_warn(MOD, "backing file refused (%s): reads go through the daemon",
				 strerror(e));
		} else {
			log_debug(MOD, "no passthrough for inode %llu: %s",
				  (unsigned long long)ino, strerror(e));
		}
		return -e;
	}
	n->ino = ino;
	n->id = id;
	n->refs = 1;
	n->next = NULL;
	*p = n;
	pt.n++;
	pthread_mutex_unlock(&pt.lock);
	return id;
}

void fs_pt_release(uint64_t ino)
{
	struct pt_node **p, *n;
	uint32_t id;

	pthread_mutex_lock(&pt.lock);
	p = slot_of(ino);
	n = *p;
	if (!n || --n->refs > 0) {
		pthread_mutex_unlock(&pt.lock);
		return;
	}
	*p = n->next;
	pt.n--;
	id = (uint32_t)n->id;
	/* closed under the lock: a new open must not reuse a dying id */
	if (ioctl(pt.fd, PT_IOC_BACKING_CLOSE, &id) < 0)
		log_debug(MOD, "closing backing id %u: %s", id, strerror(errno));
	pthread_mutex_unlock(&pt.lock);
	free(n);
}

void fs_pt_reply_open(int backing_id)
{
	tl_open_id = backing_id;
}

size_t fs_pt_count(void)
{
	size_t n;

	pthread_mutex_lock(&pt.lock);
	n = pt.n;
	pthread_mutex_unlock(&pt.lock);
	return n;
}
