/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cache/ under stress: a process SIGKILLed inside (and around) a large
 * write transaction, and readers in several threads while a writer applies
 * directories and grows the map.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
/* cmocka's allocator checks would pair our free() with cache/'s malloc():
 * the library is not built against cmocka, so use the real allocator. */
#undef malloc
#undef calloc
#undef realloc
#undef free

#include "cache_i.h"
#include "ftrackfs/cache.h"
#include "ftrackfs/log.h"
#include "test_cache_helpers.h"

/* A directory "version" v: N(v) children named "<v>-<i>", all of size v. */
struct version {
	size_t n;
	struct cache_child *kids;
	char (*keys)[48];
	char (*names)[48];
};

static size_t n_of(unsigned int v)
{
	return v % 2 ? 20000 : 15000;
}

static void version_make(struct version *ver, unsigned int v)
{
	ver->n = n_of(v);
	ver->kids = calloc(ver->n, sizeof(*ver->kids));
	ver->keys = calloc(ver->n, sizeof(*ver->keys));
	ver->names = calloc(ver->n, sizeof(*ver->names));
	assert_non_null(ver->kids);
	for (size_t i = 0; i < ver->n; i++) {
		/* half the keys persist across versions (renames), half are new */
		snprintf(ver->keys[i], 48, "p:%s-%zu", i % 2 ? "stable" : "v", i % 2 ? i : i + v * 100000);
		snprintf(ver->names[i], 48, "v%u-%06zu", v, i);
		ver->kids[i] = mkchild(ver->keys[i], ver->names[i], CACHE_KIND_FILE, v);
	}
}

static void version_free(struct version *ver)
{
	free(ver->kids);
	free(ver->keys);
	free(ver->names);
}

/* The whole directory is exactly one version: returns it, or fails. */
static unsigned int check_whole(struct cache *c, uint64_t dir)
{
	struct cache_dir *d;
	unsigned int v;
	char prefix[16];

	assert_int_equal(cache_readdir(c, dir, NULL, 0, &d), 0);
	assert_true(d->n > 0);
	v = (unsigned int)d->v[0].attr.size;
	assert_int_equal(d->n, n_of(v));
	assert_int_equal(d->state.n_children, d->n);
	snprintf(prefix, sizeof(prefix), "v%u-", v);
	for (size_t i = 0; i < d->n; i++) {
		assert_int_equal(d->v[i].attr.size, v);
		assert_memory_equal(d->v[i].name, prefix, strlen(prefix));
	}
	cache_dir_free(d);
	return v;
}

/* ---- SIGKILL in the middle of a write transaction ---- */

static int hook_fd = -1;

static void hook_signal_and_hang(size_t i, size_t n)
{
	char b = 'x';

	(void)i;
	(void)n;
	if (write(hook_fd, &b, 1) != 1)
		_exit(3);
	for (;;)
		pause();	/* half the children written, txn open: wait for SIGKILL */
}

static struct cache_options opts = { .map_size = 4 << 20 };

static void child_apply(const char *dir, unsigned int from_v, unsigned int to_v, bool hang)
{
	struct cache *c;
	struct cache_dirstate st;

	if (cache_open(dir, SERVER, USER, &opts, &c) < 0)
		_exit(2);
	if (hang)
		cache_test_apply_hook = hook_signal_and_hang;
	for (unsigned int v = from_v; v <= to_v; v++) {
		struct version ver;

		version_make(&ver, v);
		if (cache_dir_state(c, CACHE_ROOT_INO, &st) < 0 ||
		    cache_dir_apply(c, CACHE_ROOT_INO, st.generation, v, ver.kids, ver.n, NULL) < 0)
			_exit(4);
		version_free(&ver);
	}
	cache_close(c);
	_exit(0);
}

static void test_sigkill_mid_transaction(void **state)
{
	char *dir = make_tmpdir();
	struct cache *c;
	struct cache_info info;
	int fds[2], status;
	pid_t pid;
	char b;

	(void)state;
	assert_non_null(dir);
	/* version 1 committed */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_apply(dir, 1, 1, false);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* version 2 killed halfway through its transaction */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		hook_fd = fds[1];
		child_apply(dir, 2, 2, true);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &b, 1), 1);	/* the child is inside the txn */
	close(fds[0]);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	assert_int_equal(cache_open(dir, SERVER, USER, &opts, &c), 0);
	assert_int_equal(cache_info(c, &info), 0);
	assert_int_equal(info.n_rebuilds, 0);
	assert_int_equal(check_whole(c, CACHE_ROOT_INO), 1);	/* nothing of v2 */
	assert_int_equal(info.n_entries, n_of(1));
	assert_int_equal(cache_lookup(c, CACHE_ROOT_INO, "v2-000000", NULL, NULL), 0);
	/* and the writer lock and the reader table recovered: write v2 now */
	{
		struct version ver;
		struct cache_dirstate st;

		version_make(&ver, 2);
		assert_int_equal(cache_dir_state(c, CACHE_ROOT_INO, &st), 1);
		assert_int_equal(cache_dir_apply(c, CACHE_ROOT_INO, st.generation, 2, ver.kids, ver.n,
						 NULL), 0);
		version_free(&ver);
	}
	assert_int_equal(check_whole(c, CACHE_ROOT_INO), 2);
	cache_close(c);
	rm_rf(dir);
	free(dir);
}

/* Kill at arbitrary instants (inside apply, inside commit, between
 * transactions); every reopen sees one whole version. */
static void test_sigkill_at_random_instants(void **state)
{
	char *dir = make_tmpdir();
	unsigned int last = 0;

	(void)state;
	assert_non_null(dir);
	srand((unsigned int)time(NULL));
	for (int round = 0; round < 8; round++) {
		struct cache *c;
		struct timespec ts = { 0, (long)(rand() % 150 + 10) * 1000000L };
		int status;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0)
			child_apply(dir, last + 1, last + 1000, false);
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_int_equal(cache_open(dir, SERVER, USER, &opts, &c), 0);
		{
			struct cache_dirstate st;

			if (cache_dir_state(c, CACHE_ROOT_INO, &st) == 1) {
				last = check_whole(c, CACHE_ROOT_INO);
				assert_int_equal(st.fetched_ns, last);
			}
		}
		cache_close(c);
	}
	rm_rf(dir);
	free(dir);
}

/* ---- readers while a writer applies ---- */

struct shared {
	struct cache *c;
	uint64_t dir;
	volatile int stop;
	long n_reads[8];
	long n_lookups[8];
};

struct reader_arg {
	struct shared *s;
	int idx;
};

static void *reader(void *p)
{
	struct reader_arg *a = p;
	struct shared *s = a->s;

	while (!s->stop) {
		struct cache_dir *d;
		struct cache_attr attr;
		unsigned int v;
		char prefix[16], name[48];
		int r;

		r = cache_readdir(s->c, s->dir, NULL, 0, &d);
		if (r < 0)
			return (void *)(intptr_t)1;
		if (d->n) {
			v = (unsigned int)d->v[0].attr.size;
			snprintf(prefix, sizeof(prefix), "v%u-", v);
			if (d->n != n_of(v) || d->state.n_children != d->n)
				return (void *)(intptr_t)2;
			for (size_t i = 0; i < d->n; i++) {
				if (d->v[i].attr.size != v ||
				    memcmp(d->v[i].name, prefix, strlen(prefix)) != 0)
					return (void *)(intptr_t)3;
			}
			/* a lookup sees either the same version or a later one */
			snprintf(name, sizeof(name), "v%u-%06d", v, 7);
			r = cache_lookup(s->c, s->dir, name, NULL, &attr);
			if (r < 0 || (r == 1 && attr.size != v))
				return (void *)(intptr_t)4;
			s->n_lookups[a->idx]++;
		}
		cache_dir_free(d);
		s->n_reads[a->idx]++;
	}
	return NULL;
}

static void test_readers_see_whole_directories(void **state)
{
	char *dir = make_tmpdir();
	struct cache_options small = { .map_size = 1 << 20, .no_sync = true };
	struct cache_child top = mkchild("p:top", "top", CACHE_KIND_DIR, 0);
	struct shared s = { 0 };
	struct reader_arg args[4];
	pthread_t th[4];
	struct cache_info info;
	long total = 0, full = 0;

	(void)state;
	assert_non_null(dir);
	assert_int_equal(cache_open(dir, SERVER, USER, &small, &s.c), 0);
	assert_int_equal(cache_put_child(s.c, CACHE_ROOT_INO, &top, &s.dir), 1);
	log_set_level(LOG_LEVEL_WARN);	/* map growth logs at info */
	for (int i = 0; i < 4; i++) {
		args[i].s = &s;
		args[i].idx = i;
		assert_int_equal(pthread_create(&th[i], NULL, reader, &args[i]), 0);
	}
	for (unsigned int v = 1; v <= 30; v++) {
		struct version ver;
		struct cache_dirstate st;

		version_make(&ver, v);
		assert_true(cache_dir_state(s.c, s.dir, &st) >= 0);
		assert_int_equal(cache_dir_apply(s.c, s.dir, st.generation, v, ver.kids, ver.n, NULL),
				 0);
		version_free(&ver);
	}
	s.stop = 1;
	for (int i = 0; i < 4; i++) {
		void *ret;

		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_int_equal((intptr_t)ret, 0);
		total += s.n_reads[i];
		full += s.n_lookups[i];
	}
	log_set_level(LOG_LEVEL_INFO);
	assert_true(full > 30);
	assert_int_equal(cache_info(s.c, &info), 0);
	assert_true(info.map_size > (1 << 20));	/* grew while readers ran */
	print_message("# %ld snapshots (%ld non-empty, each whole) by 4 readers, map %llu MiB\n",
		      total, full, (unsigned long long)(info.map_size >> 20));
	assert_int_equal(check_whole(s.c, s.dir), 30);
	cache_close(s.c);
	rm_rf(dir);
	free(dir);
}

/* Short-lived threads give their reader slots back. */
static void *one_lookup(void *p)
{
	struct cache *c = p;

	return (void *)(intptr_t)cache_lookup(c, CACHE_ROOT_INO, "x", NULL, NULL);
}

static void test_many_short_lived_threads(void **state)
{
	char *dir = make_tmpdir();
	struct cache_options o = { .max_readers = 8, .no_sync = true };
	struct cache *c;

	(void)state;
	assert_int_equal(cache_open(dir, SERVER, USER, &o, &c), 0);
	for (int i = 0; i < 200; i++) {
		pthread_t t;
		void *ret;

		assert_int_equal(pthread_create(&t, NULL, one_lookup, c), 0);
		assert_int_equal(pthread_join(t, &ret), 0);
		assert_int_equal((intptr_t)ret, 0);
	}
	cache_close(c);
	rm_rf(dir);
	free(dir);
}

/* A thread's reused snapshot never hides a commit made by another thread. */
struct follower {
	struct cache *c;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int want;	/* lookups requested */
	int done;
	int last;	/* result of the last lookup of "n<want>" */
};

static void *follow(void *p)
{
	struct follower *f = p;

	pthread_mutex_lock(&f->m);
	for (;;) {
		char name[16];
		int r;

		while (f->done == f->want)
			pthread_cond_wait(&f->cv, &f->m);
		if (f->want < 0)
			break;
		snprintf(name, sizeof(name), "n%d", f->want);
		pthread_mutex_unlock(&f->m);
		r = cache_lookup(f->c, CACHE_ROOT_INO, name, NULL, NULL);
		pthread_mutex_lock(&f->m);
		f->last = r;
		f->done = f->want;
		pthread_cond_broadcast(&f->cv);
	}
	pthread_mutex_unlock(&f->m);
	return NULL;
}

static int ask(struct follower *f, int i)
{
	int r;

	pthread_mutex_lock(&f->m);
	f->done = -2;
	f->want = i;
	pthread_cond_broadcast(&f->cv);
	while (f->done != i)
		pthread_cond_wait(&f->cv, &f->m);
	r = f->last;
	pthread_mutex_unlock(&f->m);
	return r;
}

static void test_snapshot_follows_commits(void **state)
{
	char *dir = make_tmpdir();
	struct cache_options o = { .no_sync = true };
	struct follower f = { .m = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	pthread_t t;

	(void)state;
	assert_int_equal(cache_open(dir, SERVER, USER, &o, &f.c), 0);
	assert_int_equal(pthread_create(&t, NULL, follow, &f), 0);
	for (int i = 1; i <= 50; i++) {
		char key[16], name[16];
		struct cache_child ch;

		snprintf(key, sizeof(key), "p:%d", i);
		snprintf(name, sizeof(name), "n%d", i);
		ch = mkchild(key, name, CACHE_KIND_FILE, 1);
		assert_int_equal(ask(&f, i), 0);	/* not there yet (snapshot now live) */
		assert_int_equal(cache_put_child(f.c, CACHE_ROOT_INO, &ch, NULL), 1);
		assert_int_equal(ask(&f, i), 1);	/* the other thread sees the commit */
	}
	pthread_mutex_lock(&f.m);
	f.want = -1;
	pthread_cond_broadcast(&f.cv);
	pthread_mutex_unlock(&f.m);
	pthread_join(t, NULL);
	cache_close(f.c);
	rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigkill_mid_transaction),
		cmocka_unit_test(test_sigkill_at_random_instants),
		cmocka_unit_test(test_readers_see_whole_directories),
		cmocka_unit_test(test_many_short_lived_threads),
		cmocka_unit_test(test_snapshot_follows_commits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
