/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop.c - the request loop: a leader that spins briefly, followers that
 * sleep. See loop.h for why.
 *
 * Threads: the main thread only takes signals (the workers block them) and
 * joins; up to max_threads workers, started when the lead is handed over
 * and nobody is waiting for it. The lead is a flag under l->lock; the
 * leader reads /dev/fuse (non-blocking) without holding the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <linux/fuse.h>
#include <fuse_lowlevel.h>

#include "loop.h"
#include "passthrough.h"
#include "ftrackfs/log.h"

#define MOD "loop"
#define LOOP_MAX_THREADS 64

struct loop {
	struct fuse_session *se;
	int fd;			/* /dev/fuse, non-blocking */
	int wake_fd;		/* eventfd: the main thread tells the leader to stop */
	int done_fd;		/* eventfd: a worker tells the main thread it stopped */
	int64_t spin_ns;
	bool last_quick;	/* the last request read was quick: spin for the next */
	bool colocate;		/* the leader follows the client's CPU (see colo_*) */
	cpu_set_t cpus;		/* the process's CPUs, restored when a leader stops */
	pthread_mutex_t lock;
	pthread_cond_t cv;	/* followers wait here for the lead */
	bool has_leader;
	bool exiting;
	int error;		/* first device error, -errno */
	unsigned int n_threads, n_waiting, max_threads;
	pthread_t threads[LOOP_MAX_THREADS];
};

static __thread struct loop *tl_loop;
static __thread bool tl_leader;

/*
 * Colocation. On a VM, waking a thread on another vCPU costs an
 * inter-processor interrupt worth more than the whole answer, and a tree
 * walk pays two per request: one to the daemon, one back. So the leader
 * moves to the CPU the client last ran on (read from /proc every
 * COLO_EVERY quick requests) and sends each reply as SCHED_IDLE: the
 * woken client then stays on its CPU (the scheduler counts a CPU running
 * only SCHED_IDLE work as idle) and preempts the leader at once; the
 * leader resumes when the client blocks on its next request, and reads it
 * without any wake-up at all. It stays SCHED_IDLE while it follows (a
 * switch per request costs more than it saves) and goes back to
 * SCHED_OTHER before sleeping and before anything that may block.
 *
 * Something else running on that CPU starves a SCHED_IDLE leader. So it
 * times each resumption after a reply, and within COLO_WINDOW of them, a
 * second one later than COLO_STARVED_NS or the COLO_SLOW_MAXth later than
 * COLO_SLOW_NS (a walk's client asks again within microseconds) stops the
 * following for a backoff that starts at COLO_BACKOFF_NS and doubles, up
 * to COLO_BACKOFF_MAX_NS, while following keeps failing; a calm window
 * resets it. One late resumption alone is not starvation: a timer or a
 * kernel thread delays one now and then (measured: one gap of 1.1-2.5 ms
 * in most walks of 280,000 requests).
 */
#define COLO_EVERY		256
#define COLO_STARVED_NS		1000000LL
#define COLO_SLOW_NS		100000LL
#define COLO_WINDOW		64
#define COLO_SLOW_MAX		8
#define COLO_BACKOFF_NS		1000000000LL
#define COLO_BACKOFF_MAX_NS	64000000000LL
#define COLO_MISS_MIN		4
#define COLO_DELAY_NS		50000LL

static __thread int tl_cpu = -1;	/* pinned to, while following; -1 = not */
static __thread bool tl_idle;		/* SCHED_IDLE now */
static __thread bool tl_quick;		/* answering a quick request */
static __thread unsigned int tl_colo_n;
static __thread int64_t tl_idle_since, tl_colo_off_until;
static __thread int64_t tl_backoff_ns = COLO_BACKOFF_NS;
static __thread unsigned int tl_resumes, tl_slow, tl_starved;
/*
 * A leader on the client's CPU finds the next request already queued when
 * it resumes after a reply (it resumes because the client blocked on it).
 * Finding none means the client moved: after tl_miss_need such misses in a
 * row it looks again at once instead of at the next COLO_EVERY; a look that
 * finds the client where it was doubles the need (up to COLO_EVERY).
 */
static __thread unsigned int tl_miss, tl_miss_need = COLO_MISS_MIN;
static __thread pid_t tl_delay_tid;	/* the client whose run delay... */
static __thread int64_t tl_delay_ns;	/* ...was this at the last look... */
static __thread unsigned int tl_delay_n;	/* ...at this request count */

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static void *worker_main(void *arg);

bool fs_cap_effective(unsigned int cap)
{
	char line[256];
	unsigned long long eff = 0;
	bool found = false;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1) {
			found = true;
			break;
		}
	fclose(f);
	return found && cap < 64 && (eff >> cap & 1);
}

/*
 * SCHED_IDLE can be left for SCHED_OTHER at nice 0 only with CAP_SYS_NICE
 * or an RLIMIT_NICE of 20: without either, a leader would stay idle.
 */
static bool can_leave_idle(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NICE, &rl) == 0 && (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 20))
		return true;
	return fs_cap_effective(23);	/* CAP_SYS_NICE */
}

static void set_idle(bool idle)
{
	struct sched_param sp = { 0 };

	if (tl_idle == idle)
		return;
	if (sched_setscheduler(0, idle ? SCHED_IDLE : SCHED_OTHER, &sp) == 0)
		tl_idle = idle;
}

/* Stop following: all CPUs again, SCHED_OTHER. */
static void colo_leave(struct loop *l)
{
	set_idle(false);
	if (tl_cpu >= 0 && sched_setaffinity(0, sizeof(l->cpus), &l->cpus) == 0)
		tl_cpu = -1;
}

/* /proc/TID/@what of thread @tid into @buf, NUL-terminated; false if none. */
static bool read_task_file(pid_t tid, const char *what, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)tid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* The CPU thread @tid last ran on (field 39 of /proc/TID/stat), or -1. */
static int last_cpu_of(pid_t tid)
{
	char buf[1024], *p;
	int field;

	if (!read_task_file(tid, "stat", buf, sizeof(buf)))
		return -1;
	p = strrchr(buf, ')');	/* the command name may hold anything */
	if (!p)
		return -1;
	/* after ")" comes field 3; field 39 is 36 spaces further */
	for (field = 2; *p && field < 39; p++)
		if (*p == ' ')
			field++;
	return *p >= '0' && *p <= '9' ? atoi(p) : -1;
}

/* How long thread @tid has waited on a run queue, in ns; -1 if unknown. */
static int64_t run_delay_of(pid_t tid)
{
	char buf[128];
	unsigned long long run, delay;

	if (!read_task_file(tid, "schedstat", buf, sizeof(buf)))
		return -1;
	return sscanf(buf, "%llu %llu", &run, &delay) == 2 ? (int64_t)delay : -1;
}

static void colo_back_off(struct loop *l)
{
	colo_leave(l);
	tl_colo_off_until = mono_ns() + tl_backoff_ns;
	if (tl_backoff_ns < COLO_BACKOFF_MAX_NS)
		tl_backoff_ns *= 2;
	tl_resumes = tl_slow = tl_starved = 0;
}

/*
 * While following, the client should never wait for a CPU: it preempts
 * the SCHED_IDLE leader. If it waited more than COLO_DELAY_NS a request
 * on average since the last look (at least COLO_WINDOW requests ago),
 * something else runs on that CPU, and the leader's work there only takes
 * turns from the client (measured: a walk pinned beside a busy loop took
 * 1.9-2.0 s instead of 1.35): back off.
 */
static bool client_delayed(pid_t tid)
{
	int64_t delay;
	bool delayed = false;

	if (tid == tl_delay_tid && tl_colo_n - tl_delay_n < COLO_WINDOW)
		return false;	/* too few requests to tell */
	delay = run_delay_of(tid);
	if (delay >= 0 && tl_delay_ns >= 0 && tid == tl_delay_tid && tl_cpu >= 0)
		delayed = (delay - tl_delay_ns) / (int64_t)(tl_colo_n - tl_delay_n) > COLO_DELAY_NS;
	tl_delay_tid = tid;
	tl_delay_ns = delay;
	tl_delay_n = tl_colo_n;
	return delayed;
}

/* A quick request from @tid, about to be answered by the leader. */
static void colo_follow(struct loop *l, pid_t tid)
{
	bool moved = tl_cpu >= 0 && tl_miss >= tl_miss_need;
	cpu_set_t one;
	int cpu;

	if ((++tl_colo_n % COLO_EVERY != 1 && !moved) || tid <= 0)
		return;
	if (tl_colo_off_until && mono_ns() < tl_colo_off_until)
		return;
	tl_colo_off_until = 0;
	tl_miss = 0;
	if (client_delayed(tid)) {
		colo_back_off(l);
		return;
	}
	cpu = last_cpu_of(tid);
	if (cpu == tl_cpu && moved && tl_miss_need < COLO_EVERY)
		tl_miss_need *= 2;
	if (cpu < 0 || cpu == tl_cpu || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &l->cpus))
		return;
	tl_miss_need = COLO_MISS_MIN;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one) == 0)
		tl_cpu = cpu;
}

/* The leader resumed @gap_ns after a SCHED_IDLE reply: was it starved? */
static void colo_resumed(struct loop *l, int64_t gap_ns)
{
	tl_starved += gap_ns > COLO_STARVED_NS;
	tl_slow += gap_ns > COLO_SLOW_NS;
	if (tl_starved < 2 && tl_slow < COLO_SLOW_MAX) {
		if (++tl_resumes == COLO_WINDOW) {
			if (tl_slow == 0)
				tl_backoff_ns = COLO_BACKOFF_NS;	/* a calm window */
			tl_resumes = tl_slow = tl_starved = 0;
		}
		return;
	}
	colo_back_off(l);
}

void fs_loop_reply_begin(void)
{
	if (tl_cpu >= 0 && tl_quick && tl_leader) {
		set_idle(true);
		tl_idle_since = mono_ns();
	}
}

/* l->lock held. A new worker when nobody waits for the lead; best effort. */
static void spawn_locked(struct loop *l)
{
	sigset_t all, old;
	int r;

	if (l->n_waiting > 0 || l->n_threads >= l->max_threads || l->exiting)
		return;
	/* workers never take signals: the main thread does */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&l->threads[l->n_threads], NULL, worker_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		l->n_threads++;
	else
		log_warn(MOD, "cannot start a worker: %s", strerror(r));
}

/* Give up the lead (this thread leads): the next thread takes it. */
static void hand_over(struct loop *l)
{
	tl_quick = false;
	if (l->colocate)
		colo_leave(l);
	pthread_mutex_lock(&l->lock);
	tl_leader = false;
	l->has_leader = false;
	spawn_locked(l);
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->lock);
}

void fs_loop_may_block(void)
{
	if (tl_loop && tl_leader)
		hand_over(tl_loop);
}

enum req_class {
	REQ_QUICK,	/* answered from memory and LMDB: inline, then spin */
	REQ_INLINE,	/* a read: inline (fs_read() hands over first when its
			 * storage is a network filesystem), no spin after */
	REQ_SLOW,	/* may wait: another thread leads meanwhile */
};

/* Quick requests never wait on storage; those that can wait for a first
 * listing say so (fs_loop_may_block()). */
static enum req_class classify(const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;

	if ((buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof(*in))
		return REQ_SLOW;
	switch (in->opcode) {
	case FUSE_LOOKUP:
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_GETATTR:
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
	case FUSE_OPENDIR:
	case FUSE_RELEASEDIR:
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR:
	case FUSE_STATFS:
	case FUSE_ACCESS:
	case FUSE_INTERRUPT:
		return REQ_QUICK;
	case FUSE_READ:
		return REQ_INLINE;
	default:
		return REQ_SLOW;
	}
}

/*
 * The leader's read: after a quick request, spin on the non-blocking
 * device for spin_ns, then sleep in poll(). After a slow one (a read from
 * storage, say) it sleeps at once: spinning then only takes a CPU from the
 * threads moving the data. Returns > 0 with a request in @buf, 0 when the
 * session ended, -errno on a device error.
 */
static int lead_read(struct loop *l, struct fuse_buf *buf)
{
	bool spin = l->spin_ns > 0 && __atomic_load_n(&l->last_quick, __ATOMIC_RELAXED);
	int64_t until = spin ? mono_ns() + l->spin_ns : 0;
	unsigned int n = 0;
	bool first = true;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = l->fd, .events = POLLIN },
			{ .fd = l->wake_fd, .events = POLLIN },
		};
		int r = fuse_session_receive_buf(l->se, buf);

		if (tl_idle && tl_idle_since) {
			colo_resumed(l, mono_ns() - tl_idle_since);
			tl_idle_since = 0;
		}
		if (first && tl_cpu >= 0) {
			if (r > 0)
				tl_miss = 0;
			else if (r == -EAGAIN)
				tl_miss++;
		}
		first = false;
		if (r > 0)
			return r;
		if (r == 0 || fuse_session_exited(l->se))
			return 0;
		if (r != -EAGAIN && r != -EINTR)
			return r;
		/* the clock is read every 64 turns: the spin is ~1 us a turn */
		if (until && ((++n & 63) || mono_ns() < until)) {
			cpu_relax();
			continue;
		}
		set_idle(false);	/* never sleep as SCHED_IDLE */
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return -errno;
		if (p[1].revents || fuse_session_exited(l->se))
			return 0;
	}
}

static void stop_all(struct loop *l, int error)
{
	uint64_t one = 1;

	pthread_mutex_lock(&l->lock);
	if (!l->exiting) {
		l->exiting = true;
		l->error = error;
		if (write(l->done_fd, &one, sizeof(one)) < 0)
			log_debug(MOD, "eventfd: %s", strerror(errno));
	}
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->lock);
}

static void *worker_main(void *arg)
{
	struct loop *l = arg;
	struct fuse_buf buf;

	memset(&buf, 0, sizeof(buf));
	tl_loop = l;
	for (;;) {
		enum req_class cls;
		int r;

		pthread_mutex_lock(&l->lock);
		while (l->has_leader && !l->exiting) {
			l->n_waiting++;
			pthread_cond_wait(&l->cv, &l->lock);
			l->n_waiting--;
		}
		if (l->exiting) {
			pthread_mutex_unlock(&l->lock);
			break;
		}
		l->has_leader = true;
		tl_leader = true;
		pthread_mutex_unlock(&l->lock);

		while (tl_leader) {
			r = lead_read(l, &buf);
			if (r <= 0) {
				tl_leader = false;
				stop_all(l, r);
				break;
			}
			cls = classify(&buf);
			__atomic_store_n(&l->last_quick, cls == REQ_QUICK, __ATOMIC_RELAXED);
			tl_quick = cls == REQ_QUICK;
			if (tl_quick && l->colocate)
				colo_follow(l, (pid_t)((const struct fuse_in_header *)buf.mem)->pid);
			if (cls == REQ_SLOW) {
				if (!(buf.flags & FUSE_BUF_IS_FD))
					fs_pt_note_request(buf.mem, buf.size);
				hand_over(l);
			}
			fuse_session_process_buf(l->se, &buf);
			tl_quick = false;
		}
		if (l->colocate)
			colo_leave(l);
	}
	free(buf.mem);
	tl_loop = NULL;
	return NULL;
}

int fs_loop_run(struct fuse_session *se, const struct fs_loop_cfg *cfg)
{
	struct loop *l;
	uint64_t one = 1;
	int flags, r = 0;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->se = se;
	l->fd = fuse_session_fd(se);
	l->spin_ns = (int64_t)cfg->spin_us * 1000;
	l->colocate = cfg->colocate && sched_getaffinity(0, sizeof(l->cpus), &l->cpus) == 0 &&
		      CPU_COUNT(&l->cpus) > 1 && can_leave_idle();
	log_debug(MOD, "the leader %s the client's CPU", l->colocate ? "follows" : "does not follow");
	l->max_threads = cfg->max_threads < 1 ? 1 :
			 cfg->max_threads > LOOP_MAX_THREADS ? LOOP_MAX_THREADS : cfg->max_threads;
	l->wake_fd = eventfd(0, EFD_CLOEXEC);
	l->done_fd = eventfd(0, EFD_CLOEXEC);
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cv, NULL);
	flags = fcntl(l->fd, F_GETFL);
	if (l->wake_fd < 0 || l->done_fd < 0 || flags < 0 ||
	    fcntl(l->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		r = -errno;
		goto out;
	}

	pthread_mutex_lock(&l->lock);
	spawn_locked(l);
	r = l->n_threads ? 0 : -EAGAIN;
	pthread_mutex_unlock(&l->lock);
	if (r < 0)
		goto out;

	/*
	 * Signals land here (the workers block them) and interrupt the poll;
	 * threads started before the loop (sync, send) may take one instead,
	 * hence the look at the session once a second.
	 */
	for (;;) {
		struct pollfd p = { .fd = l->done_fd, .events = POLLIN };

		if (poll(&p, 1, 1000) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (p.revents)
			break;
		if (fuse_session_exited(se)) {
			if (write(l->wake_fd, &one, sizeof(one)) < 0)
				log_debug(MOD, "eventfd: %s", strerror(errno));
			stop_all(l, 0);
			break;
		}
	}
	/* a worker blocked in a handler finishes it; the rest are woken */
	if (write(l->wake_fd, &one, sizeof(one)) < 0)
		log_debug(MOD, "eventfd: %s", strerror(errno));
	stop_all(l, 0);
	for (unsigned int i = 0; i < l->n_threads; i++)
		pthread_join(l->threads[i], NULL);
	if (!r)
		r = l->error < 0 ? l->error : 0;
out:
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	if (l->done_fd >= 0)
		close(l->done_fd);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return r;
}
