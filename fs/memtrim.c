/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memtrim.c - the map-release thread (see memtrim.h for why).
 *
 * Polling /proc/self/statm is the cheap way to watch RssFile: one read of
 * a short file per tick. The release itself is a cache_release_map()
 * (about 1 ms per 100 MiB resident), and only happens above the
 * threshold, so an idle mount costs three syscalls every half second.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memtrim.h"
#include "ftrackfs/cache.h"
#include "ftrackfs/log.h"
#include "ftrackfs/util.h"

#define MOD "memtrim"

struct memtrim {
	struct cache *cache;
	size_t threshold;	/* bytes */
	size_t page_size;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* on CLOCK_MONOTONIC: a clock step never stalls us */
	bool stop;		/* under @lock */
};

static int parse_ulong(const char **p, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(*p, &end, 10);
	if (errno || end == *p)
		return -EPROTO;
	*p = end;
	*ret = v;
	return 0;
}

STATIC int memtrim_statm(unsigned long *ret_resident, unsigned long *ret_shared)
{
	char buf[256];
	const char *p = buf;
	unsigned long size, resident, shared;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	close(fd);
	buf[n] = '\0';
	/* "size resident shared text lib data dt", in pages */
	if (parse_ulong(&p, &size) < 0 || parse_ulong(&p, &resident) < 0 ||
	    parse_ulong(&p, &shared) < 0)
		return -EPROTO;
	*ret_resident = resident;
	*ret_shared = shared;
	return 0;
}

static double mib(unsigned long pages, size_t page_size)
{
	return (double)pages * (double)page_size / (1024.0 * 1024.0);
}

/* One look at statm, and a release when above the threshold. Returns 0 to
 * keep going, or -errno when releasing can never work (logged here). */
static int memtrim_tick(struct memtrim *m)
{
	unsigned long resident, shared, resident2, shared2;
	int r = memtrim_statm(&resident, &shared);

	if (r < 0) {
		log_warn(MOD, "cannot read /proc/self/statm (%s): map release disabled",
			 strerror(-r));
		return r;
	}
	if (!cache_over_budget((uint64_t)resident * m->page_size,
			       (uint64_t)shared * m->page_size, m->threshold))
		return 0;
	r = cache_release_map(m->cache);
	if (r == -EINVAL || r == -ENOENT) {
		/* a writable or unfindable map stays so: do not retry (and log) every tick */
		log_warn(MOD, "cannot release the LMDB map (%s): map release disabled",
			 strerror(-r));
		return r;
	}
	if (r < 0) {
		log_debug(MOD, "releasing the LMDB map: %s; retrying next tick", strerror(-r));
		return 0;
	}
	if (memtrim_statm(&resident2, &shared2) == 0 && shared2 <= shared)
		log_debug(MOD, "released %.1f MiB of the LMDB map (file-backed RSS %.1f -> %.1f MiB, "
			  "RSS %.1f -> %.1f MiB)", mib(shared - shared2, m->page_size),
			  mib(shared, m->page_size), mib(shared2, m->page_size),
			  mib(resident, m->page_size), mib(resident2, m->page_size));
	return 0;
}

static void *memtrim_main(void *arg)
{
	struct memtrim *m = arg;
	bool stop = false;

	while (!stop) {
		struct timespec deadline;

		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_nsec += (long)MEMTRIM_INTERVAL_MS * 1000000L;
		deadline.tv_sec += deadline.tv_nsec / 1000000000L;
		deadline.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&m->lock);
		while (!m->stop && pthread_cond_timedwait(&m->wake, &m->lock, &deadline) != ETIMEDOUT)
			;	/* spurious wakeup: wait out the same deadline */
		stop = m->stop;
		pthread_mutex_unlock(&m->lock);
		if (!stop && memtrim_tick(m) < 0)
			break;	/* memtrim_stop() still joins us */
	}
	return NULL;
}

int memtrim_start(struct cache *c, size_t threshold, struct memtrim **ret_memtrim)
{
	struct memtrim *m;
	pthread_condattr_t ca;
	long page;
	int r;

	if (!c || !ret_memtrim)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	page = sysconf(_SC_PAGESIZE);
	m->cache = c;
	m->threshold = threshold ? threshold : MEMTRIM_DEFAULT_THRESHOLD;
	m->page_size = page > 0 ? (size_t)page : 4096;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->wake, &ca);
	pthread_condattr_destroy(&ca);
	r = -pthread_create(&m->thread, NULL, memtrim_main, m);
	if (r < 0) {
		log_error(MOD, "cannot start the map release thread: %s", strerror(-r));
		pthread_cond_destroy(&m->wake);
		pthread_mutex_destroy(&m->lock);
		free(m);
		return r;
	}
	log_debug(MOD, "releasing the LMDB map above %.1f MiB of file-backed RSS, checked every "
		  "%d ms", (double)m->threshold / (1024.0 * 1024.0), MEMTRIM_INTERVAL_MS);
	*ret_memtrim = m;
	return 0;
}

void memtrim_stop(struct memtrim *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->thread, NULL);
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
