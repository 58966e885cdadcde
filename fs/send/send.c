/* SPDX-License-Identifier: Apache-2.0 */
/*
 * send.c - the send engine's state machine (see send.h for the design).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ftrackfs/log.h"
#include "ftrackfs/remote.h"
#include "ftrackfs/util.h"
#include "send.h"

#define MOD "send"
#define PARTY_MAX 160
#define REL_MAX CACHE_PATH_MAX
#define LOCAL_JOB_PREFIX "local:"
#define LOCATIONS_TTL_NS (60LL * 1000000000LL)

struct poll_slot {
	char job_id[CACHE_ID_MAX + 1];
	int64_t next_ns;
	char last_desc[512];
	bool used;
};

struct send {
	struct send_options o;
	const struct send_remote *rm;
	void *ud;

	pthread_mutex_t lock;	/* guards everything below that FUSE threads read */
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stopping, kicked, flush;

	/* worker-only */
	struct ftrack_location *locs;
	size_t n_locs;
	int64_t locs_ns;
	struct poll_slot *polls;
	size_t n_polls;
	unsigned backoff_ms;
	char marked[256];	/* the condition last written into compstates */
	bool reconciled;
	int64_t pruned_ns;
	bool err_set, err_is_accsyn;	/* the service the current error came from */

	/* under lock */
	int64_t next_try_ns;
	bool is_blocked;
	char blocked_reason[256];
	char last_error[256];
	uint64_t n_jobs_created, n_requests;
};

#ifdef FTRACKFS_CRASH_POINTS
/*
 * Test hook, only in builds configured with -Dcrash_points=true:
 * FTRACKFS_SEND_CRASH_AT=<point> SIGKILLs the process at that point, so
 * integration tests can kill it between two exact steps.
 */
static void crash_point(const char *point)
{
	const char *at = getenv("FTRACKFS_SEND_CRASH_AT");

	if (at && !strcmp(at, point)) {
		log_warn(MOD, "crash point %s reached: SIGKILL", point);
		raise(SIGKILL);
	}
}
#else
static inline void crash_point(const char *point)
{
	(void)point;
}
#endif

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* snprintf into a fixed buffer where cutting the text is fine */
static void fmt(char *dst, size_t len, const char *f, ...) _printf_(3, 4);

static void fmt(char *dst, size_t len, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(dst, len, f, ap);
	va_end(ap);
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* ---- lifecycle ----------------------------------------------------------- */

int send_new(const struct send_options *opts, struct send **ret_s)
{
	struct send *s;

	if (!opts || !opts->cfg || !opts->cache)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *opts;
	s->rm = opts->remote ? opts->remote : &send_remote_default;
	s->ud = opts->remote_ud;
	if (!s->o.quiet_ms)
		s->o.quiet_ms = 2000;
	if (!s->o.max_batch)
		s->o.max_batch = 5000;
	if (!s->o.poll_ms)
		s->o.poll_ms = 2000;
	if (!s->o.max_polls_per_step)
		s->o.max_polls_per_step = 5;
	if (!s->o.backoff_min_ms)
		s->o.backoff_min_ms = 500;
	if (!s->o.backoff_max_ms)
		s->o.backoff_max_ms = 30000;
	if (!s->o.user)
		s->o.user = opts->cfg->ftrack_user;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	*ret_s = s;
	return 0;
}

void send_free(struct send *s)
{
	if (!s)
		return;
	send_stop(s);
	ftrack_location_array_free(s->locs, s->n_locs);
	free(s->polls);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void *worker(void *arg)
{
	struct send *s = arg;

	for (;;) {
		struct timespec ts;
		bool flush;

		pthread_mutex_lock(&s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		flush = s->flush;
		s->flush = false;
		s->kicked = false;
		pthread_mutex_unlock(&s->lock);

		send_step(s, flush, 0);

		pthread_mutex_lock(&s->lock);
		if (!s->stopping && !s->kicked) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 250 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		}
		pthread_mutex_unlock(&s->lock);
	}
	remote_thread_cleanup();
	return NULL;
}

int send_start(struct send *s)
{
	int r;

	pthread_mutex_lock(&s->lock);
	if (s->running) {
		pthread_mutex_unlock(&s->lock);
		return -EALREADY;
	}
	s->stopping = false;
	r = -pthread_create(&s->thread, NULL, worker, s);
	if (r == 0)
		s->running = true;
	pthread_mutex_unlock(&s->lock);
	return r;
}

void send_stop(struct send *s)
{
	bool join;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	join = s->running;
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (join)
		pthread_join(s->thread, NULL);
	s->running = false;
}

void send_kick(struct send *s, bool flush)
{
	pthread_mutex_lock(&s->lock);
	s->kicked = true;
	if (flush)
		s->flush = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* ---- compstate helpers --------------------------------------------------- */

static void changed(struct send *s, const char *cid, const char *lid)
{
	if (s->o.on_change)
		s->o.on_change(s->o.on_change_ud, cid, lid);
}

/* Read-modify-write one destination state; @ri/@job_id/@reason NULL keep. */
static int put_state(struct send *s, const char *cid, const char *lid, enum cache_loc_state st,
		     uint64_t done, uint64_t total, const char *ri, const char *job_id,
		     const char *reason)
{
	struct cache_compstate cs;
	int r = cache_compstate_get(s->o.cache, cid, lid, &cs);

	if (r < 0)
		return r;
	if (r == 0) {
		memset(&cs, 0, sizeof(cs));
		copy(cs.component_id, sizeof(cs.component_id), cid);
		copy(cs.location_id, sizeof(cs.location_id), lid);
	}
	cs.state = st;
	cs.bytes_done = done;
	if (total)
		cs.bytes_total = total;
	cs.time_ns = now_ns();
	if (ri)
		copy(cs.resource_identifier, sizeof(cs.resource_identifier), ri);
	if (job_id)
		copy(cs.job_id, sizeof(cs.job_id), job_id);
	if (reason)
		copy(cs.reason, sizeof(cs.reason), reason);
	r = cache_compstate_put(s->o.cache, &cs, 1);
	if (r == 0)
		changed(s, cid, lid);
	return r;
}

/* ---- enqueue / retry / stats (any thread, no network) -------------------- */

static bool id_ok(const char *id)
{
	return id && *id && strlen(id) <= CACHE_ID_MAX;
}

static const struct ftrack_location *loc_by_id(struct send *s, const char *id)
{
	for (size_t i = 0; i < s->n_locs; i++)
		if (s->locs[i].id && !strcmp(s->locs[i].id, id))
			return &s->locs[i];
	return NULL;
}

static const struct ftrack_location *loc_by_name(struct send *s, const char *name)
{
	for (size_t i = 0; i < s->n_locs; i++)
		if (s->locs[i].name && !strcmp(s->locs[i].name, name))
			return &s->locs[i];
	return NULL;
}

int send_enqueue(struct send *s, const char *component_id, const char *dst_location_id,
		 const char *dst_path, uint64_t size)
{
	struct cache_outbox in;
	struct cache_compstate cs;
	int r;

	if (!s || !id_ok(component_id) || !id_ok(dst_location_id) ||
	    (dst_path && strlen(dst_path) > CACHE_PATH_MAX))
		return -EINVAL;
	r = cache_compstate_get(s->o.cache, component_id, dst_location_id, &cs);
	if (r < 0)
		return r;
	if (r == 1 && cs.state == CACHE_LOC_PRESENT)
		return 0;	/* L already holds C */
	pthread_mutex_lock(&s->lock);
	if (s->n_locs) {
		const struct ftrack_location *l = loc_by_id(s, dst_location_id);
		char party[PARTY_MAX];

		if (l && l->name &&
		    send_party(s->o.cfg, l->name, party, sizeof(party), NULL, 0) == -ENXIO) {
			pthread_mutex_unlock(&s->lock);
			return -ENXIO;
		}
	}
	pthread_mutex_unlock(&s->lock);

	memset(&in, 0, sizeof(in));
	copy(in.component_id, sizeof(in.component_id), component_id);
	copy(in.dst_location_id, sizeof(in.dst_location_id), dst_location_id);
	copy(in.dst_path, sizeof(in.dst_path), dst_path);
	in.size = size;
	r = cache_outbox_add(s->o.cache, &in, NULL);
	if (r != 1)
		return r;
	/* A crash right here leaves the intent without its `queued` state:
	 * the worker writes it again for every pending intent it meets. */
	put_state(s, component_id, dst_location_id, CACHE_LOC_QUEUED, 0, size, NULL, "", "");
	send_kick(s, false);
	return 1;
}

int send_retry(struct send *s, const char *component_id, const char *dst_location_id)
{
	struct cache_outbox *v = NULL;
	int n, count = 0;

	n = cache_outbox_list(s->o.cache, CACHE_OUTBOX_FAILED, &v);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		const struct cache_outbox_update upd = { .reason = "" };
		int r;

		if (component_id && strcmp(component_id, v[i].component_id))
			continue;
		if (dst_location_id && strcmp(dst_location_id, v[i].dst_location_id))
			continue;
		r = cache_outbox_transition(s->o.cache, &v[i].id, 1, CACHE_OUTBOX_FAILED,
					    CACHE_OUTBOX_READY, &upd);
		if (r == -EEXIST || r == -EBUSY)
			continue;	/* a newer intent is pending, or it moved */
		if (r < 0) {
			free(v);
			return r;
		}
		put_state(s, v[i].component_id, v[i].dst_location_id, CACHE_LOC_QUEUED, 0, v[i].size,
			  NULL, "", "");
		count++;
	}
	free(v);
	if (count)
		send_kick(s, false);
	return count;
}

int send_stats(struct send *s, struct send_stats *ret)
{
	struct cache_outbox *v = NULL;
	int n = cache_outbox_list(s->o.cache, 0, &v);

	if (n < 0)
		return n;
	memset(ret, 0, sizeof(*ret));
	for (int i = 0; i < n; i++) {
		switch (v[i].state) {
		case CACHE_OUTBOX_COLLECTING: ret->n_collecting++; break;
		case CACHE_OUTBOX_READY: ret->n_ready++; break;
		case CACHE_OUTBOX_SUBMITTING: ret->n_submitting++; break;
		case CACHE_OUTBOX_SUBMITTED: ret->n_submitted++; break;
		case CACHE_OUTBOX_DONE: ret->n_done++; break;
		case CACHE_OUTBOX_FAILED: ret->n_failed++; break;
		default: break;
		}
	}
	free(v);
	pthread_mutex_lock(&s->lock);
	ret->is_blocked = s->is_blocked;
	copy(ret->blocked_reason, sizeof(ret->blocked_reason), s->blocked_reason);
	copy(ret->last_error, sizeof(ret->last_error), s->last_error);
	ret->next_retry_ns = s->next_try_ns;
	ret->n_jobs_created = s->n_jobs_created;
	ret->n_requests = s->n_requests;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

bool send_is_idle(struct send *s)
{
	struct send_stats st;

	if (send_stats(s, &st) < 0)
		return false;
	return st.n_collecting + st.n_ready + st.n_submitting + st.n_submitted == 0;
}

/* ---- service errors and backoff ----------------------------------------- */

static void count_request(struct send *s)
{
	pthread_mutex_lock(&s->lock);
	s->n_requests++;
	pthread_mutex_unlock(&s->lock);
}

/* Write the worker's condition into the states of every pending intent, so
 * a user sees "failed: accsyn rejected the API key" or why it waits. Done
 * only when the condition changes. @blocked: shown as failed. */
static void mark_pending(struct send *s, const char *text, bool blocked)
{
	struct cache_outbox *v = NULL;
	int n;

	if (!strcmp(s->marked, text))
		return;
	copy(s->marked, sizeof(s->marked), text);
	n = cache_outbox_list(s->o.cache, 0, &v);
	for (int i = 0; i < n; i++) {
		struct cache_compstate cs;
		enum cache_loc_state st;

		if (v[i].state == CACHE_OUTBOX_DONE || v[i].state == CACHE_OUTBOX_FAILED)
			continue;
		if (cache_compstate_get(s->o.cache, v[i].component_id, v[i].dst_location_id, &cs) != 1)
			memset(&cs, 0, sizeof(cs));
		if (blocked)
			st = CACHE_LOC_FAILED;
		else if (v[i].state == CACHE_OUTBOX_SUBMITTED)
			st = cs.state == CACHE_LOC_TRANSFERRING ? CACHE_LOC_TRANSFERRING : CACHE_LOC_QUEUED;
		else
			st = CACHE_LOC_QUEUED;
		put_state(s, v[i].component_id, v[i].dst_location_id, st, cs.bytes_done, v[i].size,
			  NULL, NULL, text);
	}
	free(v);
}

static void service_ok(struct send *s, bool is_accsyn)
{
	bool was;

	if (s->err_set && s->err_is_accsyn != is_accsyn)
		return;	/* the other service still fails */
	s->err_set = false;
	pthread_mutex_lock(&s->lock);
	was = s->is_blocked || s->next_try_ns;
	s->is_blocked = false;
	s->blocked_reason[0] = '\0';
	s->next_try_ns = 0;
	pthread_mutex_unlock(&s->lock);
	s->backoff_ms = 0;
	if (was || s->marked[0])
		mark_pending(s, "", false);
}

static int service_error(struct send *s, int err, bool is_accsyn, const char *what)
{
	char detail[200] = "", text[256];
	const char *svc_name = is_accsyn ? "accsyn" : "ftrack";
	bool blocked = false;
	unsigned ms;

	s->rm->last_error(s->ud, is_accsyn, detail, sizeof(detail));
	if (err == -EACCES) {
		snprintf(text, sizeof(text), "%s rejected the API key", svc_name);
		blocked = true;
	} else if (err == -ENOTCONN) {
		snprintf(text, sizeof(text), "%s is not configured (ACCSYN_* environment)", svc_name);
		blocked = true;
	} else {
		snprintf(text, sizeof(text), "%s unreachable (%s%s%s), retrying", svc_name,
			 strerror(-err), detail[0] ? ": " : "", detail);
	}
	ms = s->backoff_ms ? s->backoff_ms * 2 : s->o.backoff_min_ms;
	if (ms > s->o.backoff_max_ms)
		ms = s->o.backoff_max_ms;
	s->backoff_ms = ms;
	s->err_set = true;
	s->err_is_accsyn = is_accsyn;
	ms = ms * 3 / 4 + (unsigned)(rand() % (int)(ms / 2 + 1));
	pthread_mutex_lock(&s->lock);
	s->next_try_ns = now_ns() + (int64_t)ms * 1000000LL;
	s->is_blocked = blocked;
	copy(s->blocked_reason, sizeof(s->blocked_reason), blocked ? text : "");
	fmt(s->last_error, sizeof(s->last_error), "%s: %s", what, text);
	pthread_mutex_unlock(&s->lock);
	log_warn(MOD, "%s: %s (next try in %u ms)", what, text, ms);
	mark_pending(s, text, blocked);
	return err;
}

/* ---- locations ----------------------------------------------------------- */

static int ensure_locations(struct send *s, int64_t now, bool force)
{
	struct ftrack_location *v = NULL;
	size_t n = 0;
	int r;

	if (s->n_locs && !force && now - s->locs_ns < LOCATIONS_TTL_NS)
		return 0;
	count_request(s);
	r = s->rm->list_locations(s->ud, &v, &n);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	ftrack_location_array_free(s->locs, s->n_locs);
	s->locs = v;
	s->n_locs = n;
	pthread_mutex_unlock(&s->lock);
	s->locs_ns = now;
	return 0;
}

/* ---- collect: COLLECTING -> READY ---------------------------------------- */

static int send_collect(struct send *s, bool flush, int64_t now)
{
	struct cache_outbox *v = NULL;
	uint64_t *ids = NULL, bytes = 0;
	int64_t newest = 0;
	int n, r = 0;

	n = cache_outbox_list(s->o.cache, CACHE_OUTBOX_COLLECTING, &v);
	if (n <= 0)
		return n;
	for (int i = 0; i < n; i++) {
		if (v[i].created_ns > newest)
			newest = v[i].created_ns;
		bytes += v[i].size;
	}
	if (flush || (unsigned)n >= s->o.max_batch ||
	    (s->o.max_batch_bytes && bytes >= s->o.max_batch_bytes) ||
	    now - newest >= (int64_t)s->o.quiet_ms * 1000000LL) {
		ids = calloc((size_t)n, sizeof(*ids));
		if (!ids) {
			r = -ENOMEM;
			goto out;
		}
		for (int i = 0; i < n; i++)
			ids[i] = v[i].id;
		r = cache_outbox_transition(s->o.cache, ids, (size_t)n, CACHE_OUTBOX_COLLECTING,
					    CACHE_OUTBOX_READY, NULL);
		if (r == 0) {
			log_info(MOD, "batch of %d intent(s) closed", n);
			crash_point("after_ready");
		}
	}
out:
	free(ids);
	free(v);
	return r == -EBUSY ? 0 : r;
}

/* ---- recover: SUBMITTING -> SUBMITTED | READY ---------------------------- */

static void job_record(struct send *s, const char *job_id, const char *name, const char *token,
		       const char *src, const char *dst, const struct accsyn_job *j)
{
	struct cache_job cj;

	if (cache_job_get(s->o.cache, job_id, &cj) != 1) {
		memset(&cj, 0, sizeof(cj));
		copy(cj.job_id, sizeof(cj.job_id), job_id);
		cj.created_ns = now_ns();
	}
	if (name)
		copy(cj.name, sizeof(cj.name), name);
	if (token)
		copy(cj.client_token, sizeof(cj.client_token), token);
	if (src)
		copy(cj.src_location_id, sizeof(cj.src_location_id), src);
	if (dst)
		copy(cj.dst_location_id, sizeof(cj.dst_location_id), dst);
	if (j) {
		copy(cj.status, sizeof(cj.status), j->status_text ? j->status_text : "");
		if (j->code && !cj.name[0])
			copy(cj.name, sizeof(cj.name), j->code);
		cj.progress = (uint32_t)j->progress;
		if (j->size > 0) {
			cj.bytes_total = (uint64_t)j->size;
			cj.bytes_done = cj.bytes_total * (uint64_t)j->progress / 100;
		}
		if (j->error_message)
			copy(cj.reason, sizeof(cj.reason), j->error_message);
		cj.finished_ns = j->finished_ns;
	}
	cj.updated_ns = now_ns();
	if (cache_job_put(s->o.cache, &cj) == 0 && s->o.on_job)
		s->o.on_job(s->o.on_change_ud, job_id);
}

static int send_recover(struct send *s)
{
	struct cache_outbox *v = NULL;
	uint64_t *ids = NULL;
	int n, r = 0;

	n = cache_outbox_list(s->o.cache, CACHE_OUTBOX_SUBMITTING, &v);
	if (n <= 0)
		return n;
	ids = calloc((size_t)n, sizeof(*ids));
	if (!ids) {
		free(v);
		return -ENOMEM;
	}
	for (int i = 0; i < n && r >= 0; i++) {
		const char *token = v[i].client_token;
		struct accsyn_job j;
		size_t k = 0;
		bool seen = false;

		for (int p = 0; p < i && !seen; p++)
			seen = !strcmp(v[p].client_token, token);
		if (seen)
			continue;	/* this token was handled with its first intent */
		for (int q = i; q < n; q++)
			if (!strcmp(v[q].client_token, token))
				ids[k++] = v[q].id;
		count_request(s);
		r = s->rm->job_find_by_token(s->ud, token, &j);
		if (r < 0) {
			service_error(s, r, true, "looking up a submitted job");
			break;
		}
		service_ok(s, true);
		if (r == 1) {
			const struct cache_outbox_update upd = { .job_id = j.id };

			log_info(MOD, "token %s: job %s exists, adopting it", token, j.id);
			r = cache_outbox_transition(s->o.cache, ids, k, CACHE_OUTBOX_SUBMITTING,
						    CACHE_OUTBOX_SUBMITTED, &upd);
			if (r == 0)
				job_record(s, j.id, NULL, token, v[i].src_location_id,
					   v[i].dst_location_id, &j);
			accsyn_job_release(&j);
		} else {
			log_info(MOD, "token %s: no job in accsyn, resubmitting %zu intent(s)", token, k);
			r = cache_outbox_transition(s->o.cache, ids, k, CACHE_OUTBOX_SUBMITTING,
						    CACHE_OUTBOX_READY, NULL);
		}
		if (r == -EBUSY)
			r = 0;
	}
	free(ids);
	free(v);
	return r;
}

/* ---- plan: READY -> groups ----------------------------------------------- */

enum plan_kind { PLAN_FAIL = 0, PLAN_TASKS, PLAN_HERE, PLAN_COVERED };

struct plan {
	enum plan_kind kind;
	char reason[CACHE_REASON_MAX + 1];
	char src_name[CACHE_ID_MAX + 1];	/* owning location's name */
	char src_party[PARTY_MAX];
	char rel[REL_MAX + 1];			/* the component's relative path */
	char **tasks;				/* "party:path" sources */
	size_t n_tasks;
	size_t n_files;
	int group;
};

struct world {
	struct send_component *comps;
	size_t n_comps;
	struct ftrack_component_location *cls;
	size_t n_cls;
};

static const struct send_component *comp_by_id(const struct world *w, const char *id)
{
	for (size_t i = 0; i < w->n_comps; i++)
		if (!strcmp(w->comps[i].id, id))
			return &w->comps[i];
	return NULL;
}

static bool is_kind(const struct send_component *c, const char *type)
{
	return c->entity_type && !strcmp(c->entity_type, type);
}

static int add_task(struct plan *p, const char *party, const char *path)
{
	char **v = realloc(p->tasks, (p->n_tasks + 1) * sizeof(*v));
	size_t len = strlen(party) + strlen(path) + 2;

	if (!v)
		return -ENOMEM;
	p->tasks = v;
	v[p->n_tasks] = malloc(len);
	if (!v[p->n_tasks])
		return -ENOMEM;
	snprintf(v[p->n_tasks], len, "%s:%s", party, path);
	p->n_tasks++;
	return 0;
}

static void plan_release(struct plan *p)
{
	for (size_t i = 0; i < p->n_tasks; i++)
		free(p->tasks[i]);
	free(p->tasks);
	p->tasks = NULL;
	p->n_tasks = 0;
}

static int rank_of(struct send *s, const char *owner, size_t order)
{
	const struct config_location *l = config_location(s->o.cfg, owner);

	if (l && l->is_local)
		return 0;
	for (size_t i = 0; i < s->o.n_priority; i++)
		if (!strcmp(s->o.priority[i], owner))
			return 1 + (int)i;
	return 1000 + (int)order;
}

/* Member names of container @c, and their count. Borrowed pointers. */
static size_t members_of(const struct world *w, const char *cid, const char **names, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < w->n_comps; i++)
		if (w->comps[i].container_id && !strcmp(w->comps[i].container_id, cid)) {
			if (names && k < max)
				names[k] = w->comps[i].name ? w->comps[i].name : "";
			k++;
		}
	return k;
}

/* Where component @c of @w is held that accsyn can read, best first. */
static int plan_one(struct send *s, const struct world *w, const struct send_component *c,
		    const char *dst_party, struct plan *p)
{
	char why[CACHE_REASON_MAX + 1] = "";
	int best_rank = -1;
	size_t order = 0;
	bool any_cl = false;

	for (size_t i = 0; i < w->n_cls; i++) {
		const struct ftrack_component_location *cl = &w->cls[i];
		const struct ftrack_location *l;
		char owner[CACHE_ID_MAX + 1], rel[REL_MAX + 1], party[PARTY_MAX];
		char w1[CACHE_REASON_MAX + 1];
		int rank;

		if (!cl->component_id || strcmp(cl->component_id, c->id) || !cl->location_id)
			continue;
		any_cl = true;
		l = loc_by_id(s, cl->location_id);
		if (!l || !l->name)
			continue;
		if (send_source_path(s->o.cfg, l->name, cl->resource_identifier, owner, sizeof(owner),
				     rel, sizeof(rel), w1, sizeof(w1)) < 0 ||
		    send_party(s->o.cfg, owner, party, sizeof(party), w1, sizeof(w1)) < 0) {
			if (!why[0])
				copy(why, sizeof(why), w1);
			continue;
		}
		if (!strcmp(party, dst_party)) {
			/* the destination party already has the bytes (e.g. hq's
			 * root share, known to ftrack only by absolute path) */
			p->kind = PLAN_HERE;
			copy(p->src_name, sizeof(p->src_name), owner);
			copy(p->src_party, sizeof(p->src_party), party);
			copy(p->rel, sizeof(p->rel), rel);
			return 0;
		}
		rank = rank_of(s, owner, order++);
		if (best_rank < 0 || rank < best_rank) {
			best_rank = rank;
			p->kind = PLAN_TASKS;
			copy(p->src_name, sizeof(p->src_name), owner);
			copy(p->src_party, sizeof(p->src_party), party);
			copy(p->rel, sizeof(p->rel), rel);
		}
	}
	if (best_rank < 0) {
		p->kind = PLAN_FAIL;
		if (!any_cl)
			copy(p->reason, sizeof(p->reason), "no location holds this component");
		else
			snprintf(p->reason, sizeof(p->reason),
				 "no location holding it maps to an accsyn party: %s", why);
		return 0;
	}
	/* the tasks */
	if (is_kind(c, "SequenceComponent")) {
		size_t nm = members_of(w, c->id, NULL, 0);
		const char **names = calloc(nm ? nm : 1, sizeof(*names));
		char path[REL_MAX + 64];
		int r;

		if (!names)
			return -ENOMEM;
		members_of(w, c->id, names, nm);
		r = send_seq_range(p->rel, names, nm, path, sizeof(path));
		if (r == 1) {
			r = add_task(p, p->src_party, path);
		} else if (r == 0 && nm > 0) {
			/* not a contiguous numeric range: the member files */
			for (size_t i = 0; i < nm && r >= 0; i++) {
				r = send_seq_member(p->rel, names[i], path, sizeof(path));
				if (r == -EINVAL) {
					snprintf(p->reason, sizeof(p->reason),
						 "sequence member '%s' is not a frame number", names[i]);
					p->kind = PLAN_FAIL;
					free(names);
					return 0;
				}
				if (r >= 0)
					r = add_task(p, p->src_party, path);
			}
		} else if (r == 0) {
			r = add_task(p, p->src_party, p->rel);
		}
		free(names);
		p->n_files = nm ? nm : 1;
		return r < 0 ? r : 0;
	}
	if (is_kind(c, "ContainerComponent")) {
		size_t nm = members_of(w, c->id, NULL, 0);

		p->n_files = nm ? nm : 1;
	} else {
		p->n_files = 1;
	}
	return add_task(p, p->src_party, p->rel);
}

/* The destination resource identifier of member @m of container @c at @rel. */
static int member_ri(const struct send_component *c, const struct send_component *m,
		     const char *rel, char *out, size_t len)
{
	int n;

	if (is_kind(c, "SequenceComponent"))
		return send_seq_member(rel, m->name, out, len);
	n = snprintf(out, len, "%s/%s%s", rel, m->name ? m->name : m->id,
		     m->file_type ? m->file_type : "");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void world_free(struct world *w)
{
	send_component_array_free(w->comps, w->n_comps);
	ftrack_component_location_array_free(w->cls, w->n_cls);
	memset(w, 0, sizeof(*w));
}

/* Components @ids (with members) and every ComponentLocation of them. */
static int world_load(struct send *s, const char *const *ids, size_t n, struct world *w)
{
	const char **all;
	int r;

	memset(w, 0, sizeof(*w));
	count_request(s);
	r = s->rm->components(s->ud, ids, n, &w->comps, &w->n_comps);
	if (r < 0)
		return r;
	all = calloc(w->n_comps ? w->n_comps : 1, sizeof(*all));
	if (!all) {
		world_free(w);
		return -ENOMEM;
	}
	for (size_t i = 0; i < w->n_comps; i++)
		all[i] = w->comps[i].id;
	count_request(s);
	r = w->n_comps ? s->rm->component_locations(s->ud, all, w->n_comps, &w->cls, &w->n_cls) : 0;
	free(all);
	if (r < 0)
		world_free(w);
	return r;
}

static bool has_cl(const struct world *w, const char *cid, const char *lid)
{
	for (size_t i = 0; i < w->n_cls; i++)
		if (w->cls[i].component_id && w->cls[i].location_id &&
		    !strcmp(w->cls[i].component_id, cid) && !strcmp(w->cls[i].location_id, lid))
			return true;
	return false;
}

/*
 * Register the intents @v (all to @dst) in ftrack: each component and its
 * members, at the relative path recorded in its destination state, unless
 * a ComponentLocation is already there (a rerun after a crash). Then DONE
 * and `present`.
 */
static int finish_done(struct send *s, struct cache_outbox *v, size_t n, const char *dst)
{
	const char **ids = calloc(n ? n : 1, sizeof(*ids));
	const char **cids = NULL, **ris = NULL;
	char (*buf)[CACHE_PATH_MAX + 1] = NULL;
	struct world w = { 0 };
	uint64_t *oids = NULL;
	size_t k = 0, cap;
	int r;

	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		ids[i] = v[i].component_id;
	r = world_load(s, ids, n, &w);
	if (r < 0) {
		free(ids);
		return service_error(s, r, false, "reading components to register");
	}
	cap = w.n_comps + n;
	cids = calloc(cap, sizeof(*cids));
	ris = calloc(cap, sizeof(*ris));
	buf = calloc(cap, sizeof(*buf));
	oids = calloc(n ? n : 1, sizeof(*oids));
	if (!cids || !ris || !buf || !oids) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct send_component *c = comp_by_id(&w, v[i].component_id);
		struct cache_compstate cs;

		oids[i] = v[i].id;
		if (cache_compstate_get(s->o.cache, v[i].component_id, dst, &cs) != 1 ||
		    !cs.resource_identifier[0])
			continue;	/* no planned path: nothing we can register */
		bool dup0 = false;

		for (size_t x = 0; x < k && !dup0; x++)
			dup0 = !strcmp(cids[x], v[i].component_id);
		if (!dup0 && !has_cl(&w, v[i].component_id, dst)) {
			cids[k] = v[i].component_id;
			copy(buf[k], sizeof(buf[k]), cs.resource_identifier);
			ris[k] = buf[k];
			k++;
		}
		for (size_t m = 0; c && m < w.n_comps && k < cap; m++) {
			const struct send_component *mc = &w.comps[m];
			bool dup = false;

			if (!mc->container_id || strcmp(mc->container_id, c->id) || has_cl(&w, mc->id, dst))
				continue;
			for (size_t x = 0; x < k && !dup; x++)
				dup = !strcmp(cids[x], mc->id);
			if (dup || member_ri(c, mc, cs.resource_identifier, buf[k], sizeof(buf[k])) < 0)
				continue;
			cids[k] = mc->id;
			ris[k] = buf[k];
			k++;
		}
	}
	if (k) {
		count_request(s);
		r = s->rm->register_components(s->ud, dst, cids, ris, k);
		if (r < 0) {
			service_error(s, r, false, "registering components in ftrack");
			goto out;
		}
		log_info(MOD, "registered %zu component(s) in location %s", k, dst);
		crash_point("after_register");
	}
	r = cache_outbox_transition(s->o.cache, oids, n, CACHE_OUTBOX_SUBMITTED, CACHE_OUTBOX_DONE, NULL);
	if (r == -EBUSY)
		r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct send_component *c = comp_by_id(&w, v[i].component_id);
		struct cache_compstate cs;

		if (cache_compstate_get(s->o.cache, v[i].component_id, dst, &cs) != 1)
			memset(&cs, 0, sizeof(cs));
		put_state(s, v[i].component_id, dst, CACHE_LOC_PRESENT, v[i].size, v[i].size, NULL,
			  NULL, "");
		for (size_t m = 0; c && m < w.n_comps; m++) {
			char ri[CACHE_PATH_MAX + 1];

			if (!w.comps[m].container_id || strcmp(w.comps[m].container_id, c->id) ||
			    member_ri(c, &w.comps[m], cs.resource_identifier, ri, sizeof(ri)) < 0)
				continue;
			put_state(s, w.comps[m].id, dst, CACHE_LOC_PRESENT, (uint64_t)w.comps[m].size,
				  (uint64_t)w.comps[m].size, ri, v[i].job_id, "");
		}
	}
out:
	free(ids);
	free(cids);
	free(ris);
	free(buf);
	free(oids);
	world_free(&w);
	return r;
}

static int fail_intents(struct send *s, const uint64_t *ids, size_t n, enum cache_outbox_state from,
			const char *reason, struct cache_outbox *v, size_t nv)
{
	const struct cache_outbox_update upd = { .reason = reason };
	int r = cache_outbox_transition(s->o.cache, ids, n, from, CACHE_OUTBOX_FAILED, &upd);

	if (r < 0)
		return r == -EBUSY ? 0 : r;
	for (size_t i = 0; i < nv; i++)
		for (size_t j = 0; j < n; j++)
			if (v[i].id == ids[j])
				put_state(s, v[i].component_id, v[i].dst_location_id, CACHE_LOC_FAILED, 0,
					  v[i].size, NULL, NULL, reason);
	log_warn(MOD, "%zu intent(s) failed: %s", n, reason);
	return 0;
}

struct group {
	char src_name[CACHE_ID_MAX + 1];
	char src_party[PARTY_MAX];
	char dst_id[CACHE_ID_MAX + 1];
	char dst_party[PARTY_MAX];
	bool is_here;
	size_t *members;	/* indices into the intents */
	size_t n;
};

static int group_add(struct group **gs, size_t *ng, const struct plan *p, const char *dst_id,
		     const char *dst_party, size_t idx)
{
	struct group *g = NULL;
	size_t *m;

	for (size_t i = 0; i < *ng && !g; i++)
		if (!strcmp((*gs)[i].src_party, p->src_party) && !strcmp((*gs)[i].dst_id, dst_id) &&
		    (*gs)[i].is_here == (p->kind == PLAN_HERE))
			g = &(*gs)[i];
	if (!g) {
		struct group *v = realloc(*gs, (*ng + 1) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		*gs = v;
		g = &v[(*ng)++];
		memset(g, 0, sizeof(*g));
		copy(g->src_name, sizeof(g->src_name), p->src_name);
		copy(g->src_party, sizeof(g->src_party), p->src_party);
		copy(g->dst_id, sizeof(g->dst_id), dst_id);
		copy(g->dst_party, sizeof(g->dst_party), dst_party);
		g->is_here = p->kind == PLAN_HERE;
	}
	m = realloc(g->members, (g->n + 1) * sizeof(*m));
	if (!m)
		return -ENOMEM;
	g->members = m;
	m[g->n++] = idx;
	return 0;
}

/* Submit one group: token first, then the job. */
static int submit_group(struct send *s, struct group *g, struct cache_outbox *v, struct plan *plans)
{
	const struct ftrack_location *src = loc_by_name(s, g->src_name);
	const char *src_id = src && src->id ? src->id : g->src_name;
	struct accsyn_task_spec *tasks = NULL;
	const char **rels = NULL;
	uint64_t *ids = NULL;
	size_t nt = 0, nfiles = 0;
	char token[33], name[CACHE_JOBNAME_MAX + 1];
	struct accsyn_job job;
	int r;

	r = send_token(token);
	if (r < 0)
		return r;
	ids = calloc(g->n, sizeof(*ids));
	rels = calloc(g->n, sizeof(*rels));
	if (!ids || !rels) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < g->n; i++) {
		struct plan *p = &plans[g->members[i]];

		ids[i] = v[g->members[i]].id;
		rels[i] = p->rel;
		nt += p->n_tasks;
		nfiles += p->n_files;
	}
	{
		const struct cache_outbox_update upd = { .client_token = token, .src_location_id = src_id };

		r = cache_outbox_transition(s->o.cache, ids, g->n, CACHE_OUTBOX_READY,
					    CACHE_OUTBOX_SUBMITTING, &upd);
		if (r < 0)
			goto out;
	}
	crash_point("after_token");
	/* the planned destination path, kept for registration */
	for (size_t i = 0; i < g->n; i++) {
		const struct cache_outbox *in = &v[g->members[i]];

		put_state(s, in->component_id, in->dst_location_id, CACHE_LOC_QUEUED, 0, in->size,
			  plans[g->members[i]].rel, "", "");
	}
	if (g->is_here) {
		/* nothing to move: register and finish */
		char jid[CACHE_ID_MAX + 1];
		const struct cache_outbox_update upd = { .job_id = jid };

		snprintf(jid, sizeof(jid), LOCAL_JOB_PREFIX "%s", token);
		r = cache_outbox_transition(s->o.cache, ids, g->n, CACHE_OUTBOX_SUBMITTING,
					    CACHE_OUTBOX_SUBMITTED, &upd);
		if (r == 0) {
			for (size_t i = 0; i < g->n; i++)
				copy(v[g->members[i]].job_id, sizeof(v[0].job_id), jid);
			struct cache_outbox *sub = calloc(g->n, sizeof(*sub));

			if (!sub) {
				r = -ENOMEM;
				goto out;
			}
			for (size_t i = 0; i < g->n; i++)
				sub[i] = v[g->members[i]];
			r = finish_done(s, sub, g->n, g->dst_id);
			free(sub);
		}
		goto out;
	}
	tasks = calloc(nt ? nt : 1, sizeof(*tasks));
	if (!tasks) {
		r = -ENOMEM;
		goto out;
	}
	nt = 0;
	for (size_t i = 0; i < g->n; i++) {
		struct plan *p = &plans[g->members[i]];

		for (size_t t = 0; t < p->n_tasks; t++) {
			tasks[nt].source = p->tasks[t];
			tasks[nt].destination = g->dst_party;
			tasks[nt].component_id = v[g->members[i]].component_id;
			nt++;
		}
	}
	send_job_name(rels, g->n, nfiles, s->o.user, name, sizeof(name));
	{
		const struct accsyn_kv meta[] = {
			{ "ftrack_source_location", g->src_name },
			{ "ftrack_destination_location_id", g->dst_id },
			{ "ftrack_username", s->o.user ? s->o.user : "" },
		};
		const struct accsyn_job_spec spec = {
			.code = name, .token = token, .mirror_paths = true,
			.tasks = tasks, .n_tasks = nt, .metadata = meta, .n_metadata = ARRAY_SIZE(meta),
		};

		count_request(s);
		r = s->rm->job_create(s->ud, &spec, &job);
	}
	if (r == -EINVAL) {
		char msg[CACHE_REASON_MAX + 1] = "", reason[CACHE_REASON_MAX + 1];

		s->rm->last_error(s->ud, true, msg, sizeof(msg));
		snprintf(reason, sizeof(reason), "accsyn refused the job: %s", msg[0] ? msg : "invalid");
		r = fail_intents(s, ids, g->n, CACHE_OUTBOX_SUBMITTING, reason, v, 0);
		for (size_t i = 0; i < g->n; i++) {
			const struct cache_outbox *in = &v[g->members[i]];

			put_state(s, in->component_id, in->dst_location_id, CACHE_LOC_FAILED, 0, in->size,
				  NULL, NULL, reason);
		}
		goto out;
	}
	if (r == 0)
		crash_point("after_create");
	if (r < 0) {
		/* outcome unknown: the intents stay SUBMITTING; the token is
		 * looked up before anything is sent again */
		service_error(s, r, true, "creating the accsyn job");
		goto out;
	}
	{
		const struct cache_outbox_update upd = { .job_id = job.id };

		r = cache_outbox_transition(s->o.cache, ids, g->n, CACHE_OUTBOX_SUBMITTING,
					    CACHE_OUTBOX_SUBMITTED, &upd);
	}
	if (r == 0) {
		job_record(s, job.id, name, token, src_id, g->dst_id, &job);
		for (size_t i = 0; i < g->n; i++) {
			const struct cache_outbox *in = &v[g->members[i]];

			put_state(s, in->component_id, in->dst_location_id, CACHE_LOC_QUEUED, 0, in->size,
				  NULL, job.id, "");
		}
		pthread_mutex_lock(&s->lock);
		s->n_jobs_created++;
		pthread_mutex_unlock(&s->lock);
		log_info(MOD, "job %s created: %s, %zu task(s), %s -> %s", job.id, name, nt,
			 g->src_party, g->dst_party);
	}
	accsyn_job_release(&job);
out:
	free(tasks);
	free(rels);
	free(ids);
	return r;
}

static int send_submit(struct send *s, int64_t now)
{
	struct cache_outbox *v = NULL;
	struct plan *plans = NULL;
	struct group *groups = NULL;
	const char **ids = NULL;
	struct world w = { 0 };
	size_t ng = 0, nid = 0;
	int n, r;

	n = cache_outbox_list(s->o.cache, CACHE_OUTBOX_READY, &v);
	if (n <= 0)
		return n;
	r = ensure_locations(s, now, false);
	if (r < 0) {
		r = service_error(s, r, false, "reading ftrack locations");
		goto out;
	}
	for (int i = 0; i < n; i++)
		if (!loc_by_id(s, v[i].dst_location_id)) {
			r = ensure_locations(s, now, true);
			if (r < 0) {
				r = service_error(s, r, false, "reading ftrack locations");
				goto out;
			}
			break;
		}
	plans = calloc((size_t)n, sizeof(*plans));
	ids = calloc((size_t)n, sizeof(*ids));
	if (!plans || !ids) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		bool dup = false;

		for (size_t j = 0; j < nid && !dup; j++)
			dup = !strcmp(ids[j], v[i].component_id);
		if (!dup)
			ids[nid++] = v[i].component_id;
	}
	r = world_load(s, ids, nid, &w);
	if (r < 0) {
		r = service_error(s, r, false, "reading components from ftrack");
		goto out;
	}
	/* plan every intent; members whose container goes along are covered */
	for (int i = 0; i < n; i++) {
		struct plan *p = &plans[i];
		const struct send_component *c = comp_by_id(&w, v[i].component_id);
		const struct ftrack_location *dl = loc_by_id(s, v[i].dst_location_id);
		char dst_party[PARTY_MAX];

		if (!dl || !dl->name) {
			p->kind = PLAN_FAIL;
			snprintf(p->reason, sizeof(p->reason), "no ftrack location with id %s",
				 v[i].dst_location_id);
			continue;
		}
		if (send_party(s->o.cfg, dl->name, dst_party, sizeof(dst_party), p->reason,
			       sizeof(p->reason)) < 0) {
			p->kind = PLAN_FAIL;
			continue;
		}
		if (!c) {
			p->kind = PLAN_FAIL;
			copy(p->reason, sizeof(p->reason), "no such component in ftrack");
			continue;
		}
		if (has_cl(&w, c->id, v[i].dst_location_id)) {
			/* already registered there: only finish the intent */
			for (size_t x = 0; x < w.n_cls; x++)
				if (!strcmp(w.cls[x].component_id, c->id) &&
				    !strcmp(w.cls[x].location_id, v[i].dst_location_id))
					copy(p->rel, sizeof(p->rel), w.cls[x].resource_identifier);
			p->kind = PLAN_HERE;
			copy(p->src_party, sizeof(p->src_party), dst_party);
			continue;
		}
		r = plan_one(s, &w, c, dst_party, p);
		if (r < 0)
			goto out;
	}
	for (int i = 0; i < n; i++) {
		const struct send_component *c = comp_by_id(&w, v[i].component_id);

		if (plans[i].kind != PLAN_TASKS || !c || !c->container_id)
			continue;
		for (int j = 0; j < n; j++)
			if (j != i && plans[j].kind == PLAN_TASKS &&
			    !strcmp(v[j].component_id, c->container_id) &&
			    !strcmp(v[j].dst_location_id, v[i].dst_location_id) &&
			    !strcmp(plans[j].src_party, plans[i].src_party)) {
				plan_release(&plans[i]);	/* the container's task brings it */
				plans[i].n_files = 0;
				break;
			}
	}
	/* failures first, then one job per (source party, destination) */
	for (int i = 0; i < n; i++) {
		const struct ftrack_location *dl = loc_by_id(s, v[i].dst_location_id);
		char dst_party[PARTY_MAX] = "";

		if (plans[i].kind == PLAN_FAIL) {
			r = fail_intents(s, &v[i].id, 1, CACHE_OUTBOX_READY, plans[i].reason, &v[i], 1);
			if (r < 0)
				goto out;
			continue;
		}
		send_party(s->o.cfg, dl->name, dst_party, sizeof(dst_party), NULL, 0);
		r = group_add(&groups, &ng, &plans[i], v[i].dst_location_id, dst_party, (size_t)i);
		if (r < 0)
			goto out;
	}
	service_ok(s, false);
	for (size_t g = 0; g < ng; g++) {
		r = submit_group(s, &groups[g], v, plans);
		if (r < 0)
			break;
	}
out:
	for (size_t g = 0; g < ng; g++)
		free(groups[g].members);
	free(groups);
	for (int i = 0; plans && i < n; i++)
		plan_release(&plans[i]);
	free(plans);
	free(ids);
	world_free(&w);
	free(v);
	return r;
}

/* ---- poll: SUBMITTED -> DONE | FAILED ------------------------------------ */

static struct poll_slot *slot_for(struct send *s, const char *job_id)
{
	struct poll_slot *slot = NULL;
	size_t i;

	for (i = 0; i < s->n_polls; i++)
		if (s->polls[i].used && !strcmp(s->polls[i].job_id, job_id))
			return &s->polls[i];
	for (i = 0; i < s->n_polls && s->polls[i].used; i++)
		;
	if (i == s->n_polls) {
		struct poll_slot *v = realloc(s->polls, (s->n_polls + 1) * sizeof(*v));

		if (!v)
			return NULL;
		s->polls = v;
		s->n_polls++;
	}
	slot = s->polls + i;
	memset(slot, 0, sizeof(*slot));
	slot->used = true;
	snprintf(slot->job_id, sizeof(slot->job_id), "%s", job_id);
	return slot;
}

/* Mirror the job into an ftrack Job, as ftrack-send does. Best effort. */
static void mirror_ftrack(struct send *s, struct poll_slot *slot, const struct accsyn_job *j)
{
	struct cache_job cj;
	char desc[512];
	const char *status;
	int r;

	if (cache_job_get(s->o.cache, j->id, &cj) != 1)
		return;
	snprintf(desc, sizeof(desc), "%s; %s, %.1f MB/s, %d%%, etr: %s", cj.name,
		 j->status_text ? j->status_text : "?", j->speed > 0 ? j->speed : 0.0, j->progress,
		 j->etr && *j->etr ? j->etr : "-");
	if (j->error_message && *j->error_message) {
		size_t l = strlen(desc);

		snprintf(desc + l, sizeof(desc) - l, "; %s", j->error_message);
	}
	status = j->status == ACCSYN_JOB_DONE ? "done" :
		 j->status == ACCSYN_JOB_FAILED || j->status == ACCSYN_JOB_ABORTED ? "failed" : "running";
	if (!cj.ftrack_job_id[0]) {
		char id[FTRACK_ID_LEN + 1];

		count_request(s);
		r = s->rm->ftrack_job_create(s->ud, status, desc, id);
		if (r < 0) {
			log_warn(MOD, "job %s: could not create the ftrack Job: %s", j->id, strerror(-r));
			return;
		}
		copy(cj.ftrack_job_id, sizeof(cj.ftrack_job_id), id);
		cache_job_put(s->o.cache, &cj);
	} else if (strcmp(desc, slot->last_desc)) {
		count_request(s);
		r = s->rm->ftrack_job_update(s->ud, cj.ftrack_job_id, status, desc);
		if (r < 0) {
			log_warn(MOD, "job %s: could not update the ftrack Job: %s", j->id, strerror(-r));
			return;
		}
	}
	copy(slot->last_desc, sizeof(slot->last_desc), desc);
}

static int send_poll(struct send *s, int64_t now)
{
	struct cache_outbox *v = NULL, *sub = NULL;
	unsigned polled = 0;
	int n, r = 0;

	n = cache_outbox_list(s->o.cache, CACHE_OUTBOX_SUBMITTED, &v);
	if (n <= 0)
		return n;
	sub = calloc((size_t)n, sizeof(*sub));
	if (!sub) {
		free(v);
		return -ENOMEM;
	}
	for (int i = 0; i < n && r >= 0; i++) {
		const char *jid = v[i].job_id;
		struct poll_slot *slot;
		struct accsyn_job j;
		uint64_t total = 0;
		size_t k = 0;
		bool seen = false;

		for (int p = 0; p < i && !seen; p++)
			seen = !strcmp(v[p].job_id, jid) && !strcmp(v[p].dst_location_id,
								      v[i].dst_location_id);
		if (seen)
			continue;
		for (int q = i; q < n; q++)
			if (!strcmp(v[q].job_id, jid) && !strcmp(v[q].dst_location_id, v[i].dst_location_id)) {
				sub[k++] = v[q];
				total += v[q].size;
			}
		if (!strncmp(jid, LOCAL_JOB_PREFIX, strlen(LOCAL_JOB_PREFIX))) {
			r = finish_done(s, sub, k, v[i].dst_location_id);
			continue;
		}
		slot = slot_for(s, jid);
		if (!slot) {
			r = -ENOMEM;
			break;
		}
		if (now < slot->next_ns || polled >= s->o.max_polls_per_step)
			continue;
		polled++;
		slot->next_ns = now + (int64_t)s->o.poll_ms * 1000000LL;
		count_request(s);
		r = s->rm->job_get(s->ud, jid, &j);
		if (r < 0) {
			service_error(s, r, true, "polling the accsyn job");
			break;
		}
		service_ok(s, true);
		if (r == 0) {
			char reason[CACHE_REASON_MAX + 1];
			uint64_t *ids = calloc(k, sizeof(*ids));

			if (!ids) {
				r = -ENOMEM;
				break;
			}
			for (size_t x = 0; x < k; x++)
				ids[x] = sub[x].id;
			snprintf(reason, sizeof(reason), "accsyn has no job %s any more", jid);
			r = fail_intents(s, ids, k, CACHE_OUTBOX_SUBMITTED, reason, sub, k);
			free(ids);
			slot->used = false;
			continue;
		}
		job_record(s, jid, NULL, NULL, NULL, NULL, &j);
		mirror_ftrack(s, slot, &j);
		if (j.status == ACCSYN_JOB_RUNNING)
			crash_point("while_running");
		if (j.status == ACCSYN_JOB_DONE) {
			r = finish_done(s, sub, k, v[i].dst_location_id);
			if (r == 0) {
				slot->used = false;
				log_info(MOD, "job %s done", jid);
			}
		} else if (j.status == ACCSYN_JOB_FAILED || j.status == ACCSYN_JOB_ABORTED) {
			char reason[CACHE_REASON_MAX + 1];
			uint64_t *ids = calloc(k, sizeof(*ids));

			if (!ids) {
				accsyn_job_release(&j);
				r = -ENOMEM;
				break;
			}
			for (size_t x = 0; x < k; x++)
				ids[x] = sub[x].id;
			if (j.status == ACCSYN_JOB_ABORTED)
				snprintf(reason, sizeof(reason), "accsyn job %s was aborted", jid);
			else
				snprintf(reason, sizeof(reason), "%s",
					 j.error_message && *j.error_message ? j.error_message :
					 "accsyn job failed");
			r = fail_intents(s, ids, k, CACHE_OUTBOX_SUBMITTED, reason, sub, k);
			free(ids);
			slot->used = false;
		} else {
			for (size_t x = 0; x < k; x++) {
				uint64_t sz = sub[x].size;

				put_state(s, sub[x].component_id, sub[x].dst_location_id,
					  j.status == ACCSYN_JOB_RUNNING ? CACHE_LOC_TRANSFERRING :
					  CACHE_LOC_QUEUED,
					  sz * (uint64_t)j.progress / 100, sz, NULL, jid, "");
			}
		}
		(void)total;
		accsyn_job_release(&j);
	}
	free(sub);
	free(v);
	return r;
}

/* ---- the round ----------------------------------------------------------- */

/* Pending intents whose destination state was lost (crash after add). */
static void reconcile(struct send *s)
{
	struct cache_outbox *v = NULL;
	int n = cache_outbox_list(s->o.cache, 0, &v);

	for (int i = 0; i < n; i++) {
		struct cache_compstate cs;

		if (v[i].state == CACHE_OUTBOX_DONE || v[i].state == CACHE_OUTBOX_FAILED)
			continue;
		if (cache_compstate_get(s->o.cache, v[i].component_id, v[i].dst_location_id, &cs) == 0)
			put_state(s, v[i].component_id, v[i].dst_location_id, CACHE_LOC_QUEUED, 0,
				  v[i].size, NULL, NULL, "");
	}
	free(v);
}

/* Forget DONE intents after a while; their jobs stay in the cache. */
#define PRUNE_AFTER_NS (600LL * 1000000000LL)
#define PRUNE_EVERY_NS (30LL * 1000000000LL)

static void prune(struct send *s, int64_t now)
{
	struct cache_outbox *v = NULL;
	int n;

	if (now - s->pruned_ns < PRUNE_EVERY_NS)
		return;
	s->pruned_ns = now;
	n = cache_outbox_list(s->o.cache, CACHE_OUTBOX_DONE, &v);
	for (int i = 0; i < n; i++)
		if (now - v[i].updated_ns > PRUNE_AFTER_NS)
			cache_outbox_delete(s->o.cache, v[i].id);
	free(v);
}

int send_step(struct send *s, bool flush, int64_t now)
{
	int64_t next;
	int r;

	if (!now)
		now = now_ns();
	if (!s->reconciled) {
		reconcile(s);
		s->reconciled = true;
	}
	prune(s, now);
	r = send_collect(s, flush, now);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	next = s->next_try_ns;
	pthread_mutex_unlock(&s->lock);
	if (next && now < next)
		return 0;	/* backing off after a service error */
	r = send_recover(s);
	if (r < 0)
		return r;
	r = send_submit(s, now);
	if (r < 0)
		return r;
	return send_poll(s, now);
}

/* ---- status ------------------------------------------------------------- */

#define RECENT_NS (3600LL * 1000000000LL)

int send_status_render(struct send *s, bool json, char **ret_buf)
{
	struct send_stats st;
	struct cache_job *jobs = NULL;
	size_t cap = 4096, o = 0;
	char *buf;
	int nj, r;
	int64_t now = now_ns();

	r = send_stats(s, &st);
	if (r < 0)
		return r;
	nj = cache_job_list(s->o.cache, &jobs);
	if (nj < 0)
		return nj;
	cap += (size_t)nj * 1024;
	buf = malloc(cap);
	if (!buf) {
		free(jobs);
		return -ENOMEM;
	}
#define OUT(...) do { int n_ = snprintf(buf + o, cap - o, __VA_ARGS__); \
		      if (n_ > 0) o += (size_t)n_ < cap - o ? (size_t)n_ : cap - o - 1; } while (0)
	if (json) {
		OUT("{\"collecting\": %u, \"ready\": %u, \"submitting\": %u, \"transferring\": %u, "
		    "\"done\": %u, \"failed\": %u, \"jobs_created\": %llu, \"blocked\": %s, "
		    "\"blocked_reason\": \"", st.n_collecting, st.n_ready, st.n_submitting, st.n_submitted,
		    st.n_done, st.n_failed, (unsigned long long)st.n_jobs_created,
		    st.is_blocked ? "true" : "false");
		for (const char *p = st.blocked_reason; *p && o + 8 < cap; p++)
			OUT(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
		OUT("\", \"jobs\": [");
		for (int i = 0, k = 0; i < nj; i++) {
			char *js = NULL;

			if (jobs[i].finished_ns && now - jobs[i].finished_ns > RECENT_NS)
				continue;
			if (send_job_json(&jobs[i], &js) > 0) {
				size_t l = strlen(js);

				while (l && js[l - 1] == '\n')
					js[--l] = '\0';
				OUT("%s%s", k++ ? ", " : "", js);
			}
			free(js);
		}
		OUT("]}");
	} else {
		OUT("sends:         %u queued, %u submitting, %u transferring, %u done, %u failed\n",
		    st.n_collecting + st.n_ready, st.n_submitting, st.n_submitted, st.n_done, st.n_failed);
		if (st.is_blocked)
			OUT("               blocked: %s\n", st.blocked_reason);
		else if (st.last_error[0] && st.next_retry_ns)
			OUT("               waiting: %s\n", st.last_error);
		for (int i = 0; i < nj; i++) {
			if (jobs[i].finished_ns && now - jobs[i].finished_ns > RECENT_NS)
				continue;
			OUT("  job %s  %-8s %3u%%  %s%s%s\n", jobs[i].job_id, jobs[i].status, jobs[i].progress,
			    jobs[i].name, jobs[i].reason[0] ? "  -- " : "", jobs[i].reason);
		}
	}
#undef OUT
	free(jobs);
	*ret_buf = buf;
	return (int)o;
}
