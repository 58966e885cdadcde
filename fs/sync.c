/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sync.c - ftrack -> cache, one batched fetch per directory level, and the
 * kernel invalidation thread (see sync.h).
 *
 * A job is a set of directories of one node type. A worker takes the first
 * job, merges the queued jobs of the same type into it, fetches the whole
 * level with one helper call per entity type (the helpers page and chunk
 * the ids), applies each directory in one transaction guarded by the
 * generation read before the fetch, queues the change sets for the
 * invalidation thread, and — unless the job was itself a prefetch — queues
 * the child directories as one prefetch job.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fuse_lowlevel.h>

#include "fs.h"
#include "loop.h"
#include "names.h"
#include "storage.h"
#include "sync.h"
#include "ftrackfs/ftrack.h"
#include "ftrackfs/log.h"
#include "ftrackfs/remote.h"
#include "ftrackfs/util.h"

#define MOD "sync"
#define FS_SYNC_WORKERS 2
/*
 * Directories per fetch job. A job's rows are decoded whole before they
 * are applied, so this bounds the daemon's heap: 2,000 asset directories
 * of a 100,000-version project held ~20 MiB per worker (peak RSS up to
 * 65 MiB); 1,000 keep it at 54-56 MiB with the cold walk as fast (31-33 s
 * over five runs). 500 lowered the peak a little more but made the cold
 * walk bimodal (34 or 60 s: first listings outran the prefetch waves).
 */
#define JOB_MAX_DIRS 1000
/* directories fetched along with a first listing (bounds its wait) */
#define FRONTIER_BATCH 1000
_Static_assert(FRONTIER_BATCH <= JOB_MAX_DIRS, "a first listing's batch is one job");

enum pend_state { PEND_QUEUED = 0, PEND_RUNNING, PEND_DONE };

struct pending {
	uint64_t ino;
	enum pend_state state;
	int result;
	int waiters;
	struct pending *next;
};

struct job {
	uint8_t node;		/* enum fs_node of every directory */
	int depth;		/* levels below these directories to prefetch after */
	size_t n;
	uint64_t *inos;
	struct job *next;
};

struct inval {
	uint64_t parent;	/* inval_entry(parent, name) when name, else inval_inode(parent) */
	char *name;
	struct inval *next;
};

struct sync {
	struct fs *fs;
	pthread_mutex_t lock;
	pthread_cond_t work_cv;		/* jobs queued or stopping */
	pthread_cond_t done_cv;		/* a pending fetch finished */
	struct job *jobs, *jobs_tail;
	struct pending *pend;
	bool stop;
	pthread_t workers[FS_SYNC_WORKERS];
	int n_workers;

	/*
	 * Directories known but never fetched, per node group: a first
	 * listing fetches them together with the one asked for, so a cold
	 * walk costs a few requests per level, not per directory.
	 */
	uint64_t *frontier[FS_NODE_LMEMBER + 1];
	size_t n_frontier[FS_NODE_LMEMBER + 1], cap_frontier[FS_NODE_LMEMBER + 1];

	/*
	 * Directories visited this session and until when they are fresh:
	 * lets opendir/lookup of a fresh directory skip LMDB entirely.
	 * Open addressing, ino 0 = empty; guarded by vlock.
	 */
	struct vslot {
		uint64_t ino;
		int64_t fresh_until_ns;
	} *visited;
	size_t visited_cap, n_visited;
	pthread_mutex_t vlock;

	pthread_mutex_t ilock;
	pthread_cond_t icv;
	struct inval *inv, *inv_tail;
	pthread_t inval_thread;
	bool inval_started;
};

/* ------------------------------------------------------------------ */
/* helpers */

static bool node_fetchable(uint8_t node)
{
	switch (node) {
	case FS_NODE_PROJECTS:
	case FS_NODE_LOCATIONS:
	case FS_NODE_PROJECT:
	case FS_NODE_CONTEXT:
	case FS_NODE_ASSET:
	case FS_NODE_VERSION:
	case FS_NODE_LOCATION:
		return true;
	default:
		return false;
	}
}

/* Contexts and projects are fetched alike. */
static uint8_t node_group(uint8_t node)
{
	return node == FS_NODE_PROJECT ? FS_NODE_CONTEXT : node;
}

/* ------------------------------------------------------------------ */
/* invalidation thread */

static void inval_push(struct sync *s, uint64_t parent, const char *name)
{
	struct inval *iv = calloc(1, sizeof(*iv));

	if (!iv)
		return;
	iv->parent = parent;
	if (name && !(iv->name = strdup(name))) {
		free(iv);
		return;
	}
	pthread_mutex_lock(&s->ilock);
	if (s->inv_tail)
		s->inv_tail->next = iv;
	else
		s->inv = iv;
	s->inv_tail = iv;
	pthread_cond_signal(&s->icv);
	pthread_mutex_unlock(&s->ilock);
}

static void *inval_main(void *arg)
{
	struct sync *s = arg;

	for (;;) {
		struct inval *iv;

		pthread_mutex_lock(&s->ilock);
		while (!s->inv && !s->stop)
			pthread_cond_wait(&s->icv, &s->ilock);
		iv = s->inv;
		if (!iv) {
			pthread_mutex_unlock(&s->ilock);
			break;
		}
		s->inv = iv->next;
		if (!s->inv)
			s->inv_tail = NULL;
		pthread_mutex_unlock(&s->ilock);

		if (s->fs->se && !s->stop) {
			int r;

			if (iv->name)
				r = fuse_lowlevel_notify_inval_entry(s->fs->se, iv->parent, iv->name,
								     strlen(iv->name));
			else
				r = fuse_lowlevel_notify_inval_inode(s->fs->se, iv->parent, 0, 0);
			if (r < 0 && r != -ENOENT)
				log_debug(MOD, "invalidate %llu/%s: %s", (unsigned long long)iv->parent,
					  iv->name ? iv->name : "", strerror(-r));
		}
		free(iv->name);
		free(iv);
	}
	return NULL;
}

/*
 * @first: the directory had never been filled, so the kernel can hold no
 * entry (positive or negative) under it: only its attributes need dropping.
 */
static void queue_changes(struct sync *s, const struct cache_changes *ch, bool first)
{
	if (!ch || ch->n == 0)
		return;
	for (size_t i = 0; i < ch->n && !first; i++) {
		const struct cache_change *c = &ch->v[i];

		switch (c->kind) {
		case CACHE_CHANGE_ADDED:
		case CACHE_CHANGE_REMOVED:
			inval_push(s, ch->parent, c->name);
			break;
		case CACHE_CHANGE_RENAMED:
			inval_push(s, ch->parent, c->old_name);
			inval_push(s, ch->parent, c->name);
			break;
		case CACHE_CHANGE_MOVED:
			if (c->old_parent && c->old_name) {
				inval_push(s, c->old_parent, c->old_name);
				inval_push(s, c->old_parent, NULL);
			}
			inval_push(s, ch->parent, c->name);
			break;
		case CACHE_CHANGE_ATTR:
			inval_push(s, c->ino, NULL);
			break;
		}
	}
	/* the listing changed: drop the kernel's cached readdir and attributes */
	inval_push(s, ch->parent, NULL);
}

/* ------------------------------------------------------------------ */
/* job queue and pending fetches (s->lock held) */

static struct pending *pend_find(struct sync *s, uint64_t ino)
{
	for (struct pending *p = s->pend; p; p = p->next)
		if (p->ino == ino)
			return p;
	return NULL;
}

static void pend_remove(struct sync *s, struct pending *p)
{
	for (struct pending **pp = &s->pend; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			free(p);
			return;
		}
	}
}

static int job_push_locked(struct sync *s, uint8_t node, const uint64_t *inos, size_t n,
			   int depth, bool front)
{
	struct job *j;
	size_t k = 0;

	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->inos = calloc(n ? n : 1, sizeof(*j->inos));
	if (!j->inos) {
		free(j);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct pending *p = pend_find(s, inos[i]);

		if (p && !front)
			continue;	/* already queued or running */
		if (!p) {
			p = calloc(1, sizeof(*p));
			if (!p)
				continue;
			p->ino = inos[i];
			p->next = s->pend;
			s->pend = p;
		}
		if (p->state != PEND_QUEUED)
			continue;
		j->inos[k++] = inos[i];
	}
	if (k == 0) {
		free(j->inos);
		free(j);
		return 0;
	}
	j->n = k;
	j->node = node;
	j->depth = depth;
	if (front) {
		j->next = s->jobs;
		s->jobs = j;
		if (!s->jobs_tail)
			s->jobs_tail = j;
	} else {
		if (s->jobs_tail)
			s->jobs_tail->next = j;
		else
			s->jobs = j;
		s->jobs_tail = j;
	}
	pthread_cond_signal(&s->work_cv);
	return 0;
}

/* Move the queued job holding @ino to the front of the queue. */
static void job_promote_locked(struct sync *s, uint64_t ino)
{
	struct job *prev = NULL;

	for (struct job *j = s->jobs; j; prev = j, j = j->next) {
		bool has = false;

		for (size_t i = 0; i < j->n && !has; i++)
			has = j->inos[i] == ino;
		if (!has)
			continue;
		if (prev) {
			prev->next = j->next;
			if (s->jobs_tail == j)
				s->jobs_tail = prev;
			j->next = s->jobs;
			s->jobs = j;
		}
		pthread_cond_signal(&s->work_cv);
		return;
	}
}

static void job_free(struct job *j)
{
	if (j) {
		free(j->inos);
		free(j);
	}
}

/* Pop the first job merged with every queued job of the same group. */
static struct job *job_pop_locked(struct sync *s)
{
	struct job *j = s->jobs, **pp;

	if (!j)
		return NULL;
	s->jobs = j->next;
	if (!s->jobs)
		s->jobs_tail = NULL;
	j->next = NULL;
	for (pp = &s->jobs; *pp && j->n < JOB_MAX_DIRS;) {
		struct job *o = *pp;

		if (node_group(o->node) == node_group(j->node) && j->n + o->n <= JOB_MAX_DIRS) {
			uint64_t *v = realloc(j->inos, (j->n + o->n) * sizeof(*v));

			if (!v)
				break;
			memcpy(v + j->n, o->inos, o->n * sizeof(*v));
			j->inos = v;
			j->n += o->n;
			j->depth = j->depth > o->depth ? j->depth : o->depth;
			*pp = o->next;
			if (s->jobs_tail == o) {
				s->jobs_tail = NULL;
				for (struct job *t = s->jobs; t; t = t->next)
					s->jobs_tail = t;
			}
			job_free(o);
			continue;
		}
		pp = &o->next;
	}
	/* keep only directories still queued, mark them running */
	size_t k = 0;

	for (size_t i = 0; i < j->n; i++) {
		struct pending *p = pend_find(s, j->inos[i]);

		if (!p || p->state != PEND_QUEUED)
			continue;
		p->state = PEND_RUNNING;
		j->inos[k++] = j->inos[i];
	}
	j->n = k;
	return j;
}

static void finish_dir(struct sync *s, uint64_t ino, int result)
{
	struct pending *p;

	pthread_mutex_lock(&s->lock);
	p = pend_find(s, ino);
	if (p) {
		p->state = PEND_DONE;
		p->result = result;
		if (p->waiters == 0)
			pend_remove(s, p);
	}
	pthread_cond_broadcast(&s->done_cv);
	pthread_mutex_unlock(&s->lock);
}

#define FRONTIER_MAX (1u << 20)

static void frontier_add(struct sync *s, uint8_t node, const uint64_t *inos, size_t n)
{
	uint8_t g = node_group(node);

	pthread_mutex_lock(&s->lock);
	if (s->n_frontier[g] + n > s->cap_frontier[g] && s->n_frontier[g] + n <= FRONTIER_MAX) {
		size_t cap = s->cap_frontier[g] ? s->cap_frontier[g] : 256;
		uint64_t *v;

		while (cap < s->n_frontier[g] + n)
			cap *= 2;
		v = realloc(s->frontier[g], cap * sizeof(*v));
		if (v) {
			s->frontier[g] = v;
			s->cap_frontier[g] = cap;
		}
	}
	for (size_t i = 0; i < n && s->n_frontier[g] < s->cap_frontier[g]; i++)
		s->frontier[g][s->n_frontier[g]++] = inos[i];
	pthread_mutex_unlock(&s->lock);
}

/*
 * Take up to @max directories of @node's group from the frontier into
 * @out, skipping those already queued or fresh. Returns how many.
 */
static size_t frontier_take(struct sync *s, uint8_t node, uint64_t skip, uint64_t *out, size_t max)
{
	int64_t now = fs_now_ns(), ttl_ns = (int64_t)s->fs->cfg->ttl_s * 1000000000LL;
	uint8_t g = node_group(node);
	size_t n = 0, got;

	pthread_mutex_lock(&s->lock);
	while (n < max && s->n_frontier[g]) {
		uint64_t ino = s->frontier[g][--s->n_frontier[g]];

		if (ino != skip && !pend_find(s, ino))
			out[n++] = ino;
	}
	pthread_mutex_unlock(&s->lock);
	got = n;
	n = 0;
	for (size_t i = 0; i < got; i++) {
		struct cache_dirstate cs;

		if (cache_dir_state(s->fs->cache, out[i], &cs) == 1 && (cs.flags & CACHE_DIR_COMPLETE) &&
		    now - cs.fetched_ns <= ttl_ns)
			continue;
		out[n++] = out[i];
	}
	return n;
}

static struct vslot *visited_slot(struct sync *s, uint64_t ino)
{
	for (size_t h = (size_t)(ino * 0x9E3779B97F4A7C15ULL) & (s->visited_cap - 1);;
	     h = (h + 1) & (s->visited_cap - 1))
		if (s->visited[h].ino == ino || !s->visited[h].ino)
			return &s->visited[h];
}

/*
 * Remember @ino as visited, fresh until @fresh_until_ns (0: not known to be
 * fresh). Returns 1 when it was not visited before, 0 when it was, -ENOMEM.
 */
static int visited_put(struct sync *s, uint64_t ino, int64_t fresh_until_ns)
{
	struct vslot *v;
	int r;

	pthread_mutex_lock(&s->vlock);
	if ((s->n_visited + 1) * 2 > s->visited_cap) {
		size_t cap = s->visited_cap ? s->visited_cap * 2 : 1024;
		struct vslot *nv = calloc(cap, sizeof(*nv)), *old = s->visited;
		size_t old_cap = s->visited_cap;

		if (!nv) {
			pthread_mutex_unlock(&s->vlock);
			return -ENOMEM;
		}
		s->visited = nv;
		s->visited_cap = cap;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].ino)
				*visited_slot(s, old[i].ino) = old[i];
		free(old);
	}
	v = visited_slot(s, ino);
	r = v->ino == 0;
	if (r)
		s->n_visited++;
	v->ino = ino;
	v->fresh_until_ns = fresh_until_ns;
	pthread_mutex_unlock(&s->vlock);
	return r;
}

/* Fresh-until of a visited @ino, or 0. */
static int64_t visited_fresh_until(struct sync *s, uint64_t ino)
{
	int64_t t = 0;

	pthread_mutex_lock(&s->vlock);
	if (s->visited_cap) {
		struct vslot *v = visited_slot(s, ino);

		if (v->ino == ino)
			t = v->fresh_until_ns;
	}
	pthread_mutex_unlock(&s->vlock);
	return t;
}

/* After a fetch of visited @ino: fresh again until @until. */
static void visited_refresh(struct sync *s, uint64_t ino, int64_t until)
{
	pthread_mutex_lock(&s->vlock);
	if (s->visited_cap) {
		struct vslot *v = visited_slot(s, ino);

		if (v->ino == ino)
			v->fresh_until_ns = until;
	}
	pthread_mutex_unlock(&s->vlock);
}

static void enqueue(struct sync *s, uint8_t node, const uint64_t *inos, size_t n, int depth)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&s->lock);
	for (size_t off = 0; off < n; off += JOB_MAX_DIRS) {
		size_t m = n - off < JOB_MAX_DIRS ? n - off : JOB_MAX_DIRS;

		job_push_locked(s, node, inos + off, m, depth, false);
	}
	pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------------ */
/* building children */

struct kids {
	struct cache_child *v;
	struct names_entry *names;
	char (*keys)[96];
	char (*ids)[FTRACK_ID_LEN + 8];
	struct fs_blob *blobs;
	size_t n, cap;
	const char *view_loc;	/* location id written into every blob, or NULL */
};

static void kids_release(struct kids *k)
{
	free(k->v);
	free(k->names);
	free(k->keys);
	free(k->ids);
	free(k->blobs);
	memset(k, 0, sizeof(*k));
}

static int kids_add(struct kids *k, const char *keyprefix, const char *id, const char *name,
		    const char *type, uint8_t node, uint32_t kind, uint64_t size, int64_t mtime_ns,
		    bool keep_ext)
{
	size_t i;

	if (!id || !ftrack_is_uuid(id))
		return 0;	/* skip malformed rows */
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 32;
		void *a = realloc(k->v, cap * sizeof(*k->v));

		if (!a)
			return -ENOMEM;
		k->v = a;
		if (!(a = realloc(k->names, cap * sizeof(*k->names))))
			return -ENOMEM;
		k->names = a;
		if (!(a = realloc(k->keys, cap * sizeof(*k->keys))))
			return -ENOMEM;
		k->keys = a;
		if (!(a = realloc(k->ids, cap * sizeof(*k->ids))))
			return -ENOMEM;
		k->ids = a;
		if (!(a = realloc(k->blobs, cap * sizeof(*k->blobs))))
			return -ENOMEM;
		k->blobs = a;
		k->cap = cap;
	}
	i = k->n++;
	memset(&k->v[i], 0, sizeof(k->v[i]));
	memset(&k->names[i], 0, sizeof(k->names[i]));
	memset(&k->blobs[i], 0, sizeof(k->blobs[i]));
	snprintf(k->keys[i], sizeof(k->keys[i]), "%s%s", keyprefix, id);
	snprintf(k->ids[i], sizeof(k->ids[i]), "%s", id);
	/* idempotent for names already built by names_*() */
	names_sanitize(name, name ? strlen(name) : 0, k->names[i].name);
	k->names[i].keep_ext = keep_ext;
	k->blobs[i].version = FS_BLOB_VERSION;
	k->blobs[i].node = node;
	if (k->view_loc)
		snprintf(k->blobs[i].loc_id, sizeof(k->blobs[i].loc_id), "%s", k->view_loc);
	k->v[i].attr.kind = kind;
	k->v[i].attr.mode = kind == CACHE_KIND_DIR ? 0555 : 0444;
	k->v[i].attr.nlink = kind == CACHE_KIND_DIR ? 2 : 1;
	k->v[i].attr.flags = node;
	k->v[i].attr.size = size;
	k->v[i].attr.mtime_ns = mtime_ns;
	k->v[i].type = type;
	return 0;
}

/* Finish pointers (arrays may have moved) and make names unique. */
static int kids_finish(struct kids *k)
{
	for (size_t i = 0; i < k->n; i++)
		k->names[i].id = k->ids[i];
	if (names_disambiguate(k->names, k->n) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < k->n; i++) {
		k->v[i].key = k->keys[i];
		k->v[i].name = k->names[i].name;
		k->v[i].ftrack_id = k->ids[i];
		k->v[i].blob = &k->blobs[i];
		k->v[i].blob_len = sizeof(k->blobs[i]);
	}
	return 0;
}

/* Apply @k to @dir; queues invalidations. */
static int apply(struct sync *s, uint64_t dir, uint64_t gen, bool first, int64_t started,
		 struct kids *k)
{
	struct cache_changes *ch = NULL;
	int r;

	r = kids_finish(k);
	if (r < 0)
		return r;
	r = cache_dir_apply(s->fs->cache, dir, gen, started, k->v, k->n, &ch);
	if (r == 0)
		queue_changes(s, ch, first);
	else if (r != -ESTALE)
		log_warn(MOD, "storing directory %llu: %s", (unsigned long long)dir, strerror(-r));
	cache_changes_free(ch);
	return r;
}

/*
 * Many directories of one level, applied in one transaction per
 * BATCH_CHILDREN children (cache_dir_apply_many()): a 2,000-directory
 * level of 5 children each costs 40 commits, not 2,000. The batch stays
 * small because LMDB mallocs every page a write transaction dirties and
 * keeps freed pages for reuse forever: 2,000 children per transaction
 * left 116 MiB of heap after a 20,000-version walk, 256 leave 54 MiB in
 * all. After each commit the map's resident pages are given back
 * (cache_release_map()): VmHWM is a high-water mark, so a big walk must trim as
 * it goes.
 */
#define BATCH_CHILDREN 256

struct batch {
	struct sync *s;
	int64_t started;
	struct cache_apply *dirs;
	struct kids *kids;
	int **results;		/* where each directory's result goes */
	bool *first;
	size_t n, cap, n_children;
};

static int batch_flush(struct batch *b)
{
	struct cache_changes **ch = NULL;
	int *res = NULL, r = 0;

	if (b->n == 0)
		return 0;
	ch = calloc(b->n, sizeof(*ch));
	res = calloc(b->n, sizeof(*res));
	if (!ch || !res)
		r = -ENOMEM;
	else
		r = cache_dir_apply_many(b->s->fs->cache, b->dirs, b->n, res, ch);
	if (r < 0)
		log_warn(MOD, "storing %zu directories: %s", b->n, strerror(-r));
	for (size_t i = 0; i < b->n; i++) {
		int ri = r < 0 ? r : res[i];

		if (ri == 0)
			queue_changes(b->s, ch[i], b->first[i]);
		else if (ri != -ESTALE && r >= 0)
			log_warn(MOD, "storing directory %llu: %s", (unsigned long long)b->dirs[i].parent,
				 strerror(-ri));
		if (b->results[i])
			*b->results[i] = ri;
		if (ch && r >= 0)
			cache_changes_free(ch[i]);
		kids_release(&b->kids[i]);
	}
	free(ch);
	free(res);
	b->n = 0;
	b->n_children = 0;
	cache_release_map(b->s->fs->cache);
	return r < 0 ? r : 0;
}

/* Queue @k (taken over, released here) as the new children of @dir. */
static int batch_add(struct batch *b, uint64_t dir, uint64_t gen, bool first, struct kids *k,
		     int *result)
{
	int r = kids_finish(k);

	if (r < 0) {
		kids_release(k);
		if (result)
			*result = r;
		return r;
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		void *p;

		if (!(p = realloc(b->dirs, cap * sizeof(*b->dirs))))
			goto nomem;
		b->dirs = p;
		if (!(p = realloc(b->kids, cap * sizeof(*b->kids))))
			goto nomem;
		b->kids = p;
		if (!(p = realloc(b->results, cap * sizeof(*b->results))))
			goto nomem;
		b->results = p;
		if (!(p = realloc(b->first, cap * sizeof(*b->first))))
			goto nomem;
		b->first = p;
		b->cap = cap;
	}
	b->kids[b->n] = *k;
	memset(k, 0, sizeof(*k));
	b->dirs[b->n] = (struct cache_apply){
		.parent = dir,
		.expected_generation = gen,
		.fetched_ns = b->started,
		.children = b->kids[b->n].v,
		.n = b->kids[b->n].n,
	};
	b->results[b->n] = result;
	b->first[b->n] = first;
	b->n_children += b->kids[b->n].n;
	b->n++;
	if (b->n_children >= BATCH_CHILDREN)
		return batch_flush(b);
	return 0;
nomem:
	kids_release(k);
	if (result)
		*result = -ENOMEM;
	return -ENOMEM;
}

/* Flush what is left and free the arrays (@b can be used again). */
static int batch_finish(struct batch *b)
{
	int r = batch_flush(b);

	free(b->dirs);
	free(b->kids);
	free(b->results);
	free(b->first);
	b->dirs = NULL;
	b->kids = NULL;
	b->results = NULL;
	b->first = NULL;
	b->cap = 0;
	return r;
}

struct dirinfo {
	uint64_t ino;
	uint64_t gen;
	bool first;		/* never filled before */
	char id[CACHE_ID_MAX + 1];
	int64_t mtime_ns;
	int result;
};

/* Index of dirs by ftrack id: dirs sorted by id, bsearch. */
static int cmp_dir_id(const void *a, const void *b)
{
	return strcmp(((const struct dirinfo *)a)->id, ((const struct dirinfo *)b)->id);
}

static struct dirinfo *dir_by_id(struct dirinfo *d, size_t n, const char *id)
{
	struct dirinfo key;

	if (!id)
		return NULL;
	snprintf(key.id, sizeof(key.id), "%s", id);
	return bsearch(&key, d, n, sizeof(*d), cmp_dir_id);
}

/* ------------------------------------------------------------------ */
/* fetchers: each fills d[i].result */

static void note_error(struct sync *s, int r, const char *what)
{
	char text[256] = "";

	if (s->fs->ftrack)
		ftrack_last_error(s->fs->ftrack, text, sizeof(text));
	if (r == -EACCES)
		fs_status_set_error(s->fs, FS_CONN_AUTH_FAILED,
				    "ftrack refused the credentials of FTRACK_API_USER=%s while %s "
				    "(API key revoked or wrong?)%s%s",
				    s->fs->cfg->ftrack_user ? s->fs->cfg->ftrack_user : "(unset)", what,
				    *text ? ": " : "", text);
	else if (r == -EHOSTUNREACH || r == -ETIMEDOUT || r == -EAGAIN || r == -ECONNREFUSED)
		fs_status_set_error(s->fs, FS_CONN_OFFLINE, "ftrack unreachable while %s: %s", what,
				    strerror(-r));
	else
		fs_status_set_error(s->fs, FS_CONN_ONLINE, "ftrack error while %s: %s%s%s", what,
				    strerror(-r), *text ? ": " : "", text);
}

static int fetch_projects(struct sync *s, struct dirinfo *d, size_t n, int64_t started)
{
	struct ftrack_project *p = NULL;
	size_t np = 0;
	int r;

	r = ftrack_list_projects(s->fs->ftrack, &p, &np);
	if (r < 0) {
		note_error(s, r, "listing projects");
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		struct kids k = { 0 };

		for (size_t j = 0; j < np && r >= 0; j++)
			r = kids_add(&k, "p:", p[j].id, p[j].name, "Project", FS_NODE_PROJECT,
				     CACHE_KIND_DIR, 0, 0, false);
		d[i].result = r < 0 ? r : apply(s, d[i].ino, d[i].gen, d[i].first, started, &k);
		kids_release(&k);
	}
	ftrack_project_array_free(p, np);
	return 0;
}

/*
 * Group @n_items by directory: @dir_of[i] is the index in @d of item i's
 * directory, or -1. On success *ret_start has n_dirs + 1 offsets into
 * *ret_idx (item indexes, by directory). Building one directory's children
 * at a time keeps a 2,000-directory job's memory proportional to its rows.
 */
static int bucket_build(const long *dir_of, size_t n_items, size_t n_dirs, size_t **ret_start,
			size_t **ret_idx)
{
	size_t *start = calloc(n_dirs + 2, sizeof(*start));
	size_t *idx = malloc((n_items ? n_items : 1) * sizeof(*idx));

	if (!start || !idx) {
		free(start);
		free(idx);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_items; i++)
		if (dir_of[i] >= 0)
			start[dir_of[i] + 2]++;
	for (size_t i = 2; i < n_dirs + 2; i++)
		start[i] += start[i - 1];
	for (size_t i = 0; i < n_items; i++)
		if (dir_of[i] >= 0)
			idx[start[dir_of[i] + 1]++] = i;
	*ret_start = start;	/* start[d] .. start[d + 1] */
	*ret_idx = idx;
	return 0;
}

static long dir_index(struct dirinfo *d, size_t n, const char *id)
{
	struct dirinfo *p = dir_by_id(d, n, id);

	return p ? (long)(p - d) : -1;
}

/* The ids of @d, borrowed from it; NULL when out of memory. Free the array. */
static const char **dir_ids(const struct dirinfo *d, size_t n)
{
	const char **ids = calloc(n, sizeof(*ids));

	if (ids)
		for (size_t i = 0; i < n; i++)
			ids[i] = d[i].id;
	return ids;
}

/* Item i of a fetch's rows: the id of the directory it belongs in ... */
typedef const char *(*row_parent_fn)(const void *rows, size_t i);
/* ... and the child it makes there, added to @k. */
typedef int (*row_kid_fn)(struct kids *k, const struct dirinfo *dir, const void *rows, size_t i);

/*
 * Queue on @b every directory of @d with the children @kid makes of the
 * @n_items rows @parent_of puts in it; a directory whose children fail
 * gets the error as its result. Fails (queueing nothing) only for memory.
 */
static int batch_rows(struct batch *b, struct dirinfo *d, size_t n, size_t n_items,
		      row_parent_fn parent_of, row_kid_fn kid, const void *rows)
{
	size_t *start = NULL, *idx = NULL;
	long *dir_of;
	int r;

	dir_of = malloc((n_items + 1) * sizeof(*dir_of));
	if (!dir_of)
		return -ENOMEM;
	for (size_t j = 0; j < n_items; j++)
		dir_of[j] = dir_index(d, n, parent_of(rows, j));
	r = bucket_build(dir_of, n_items, n, &start, &idx);
	free(dir_of);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct kids k = { 0 };
		int rr = 0;

		for (size_t x = start[i]; x < start[i + 1] && rr >= 0; x++)
			rr = kid(&k, &d[i], rows, idx[x]);
		if (rr < 0) {
			d[i].result = rr;
			kids_release(&k);
		} else {
			batch_add(b, d[i].ino, d[i].gen, d[i].first, &k, &d[i].result);
		}
	}
	free(start);
	free(idx);
	return 0;
}

/* A level's rows: contexts 0..nc-1, then its assets. */
struct level_rows {
	const struct ftrack_context *c;
	size_t nc;
	const struct ftrack_asset *a;
};

static const char *level_parent(const void *rows, size_t j)
{
	const struct level_rows *l = rows;

	return j < l->nc ? l->c[j].parent_id : l->a[j - l->nc].context_id;
}

static int level_kid(struct kids *k, const struct dirinfo *dir, const void *rows, size_t j)
{
	const struct level_rows *l = rows;
	const struct ftrack_context *c = l->c;
	const struct ftrack_asset *a = l->a;
	size_t nc = l->nc;

	(void)dir;
	if (j < nc)
		return kids_add(k, "c:", c[j].id, c[j].name,
				c[j].entity_type ? c[j].entity_type : "TypedContext", FS_NODE_CONTEXT,
				CACHE_KIND_DIR, 0, 0, false);
	return kids_add(k, "a:", a[j - nc].id, a[j - nc].name, "Asset", FS_NODE_ASSET,
			CACHE_KIND_DIR, 0, 0, false);
}

static int fetch_contexts(struct sync *s, struct dirinfo *d, size_t n, int64_t started)
{
	struct batch b = { .s = s, .started = started };
	struct ftrack_context *c = NULL;
	struct ftrack_asset *a = NULL;
	size_t nc = 0, na = 0;
	const char **ids;
	int r;

	ids = dir_ids(d, n);
	if (!ids)
		return -ENOMEM;
	/* contexts and assets of the level in one POST per page round */
	r = ftrack_list_level(s->fs->ftrack, ids, n, &c, &nc, &a, &na);
	if (r < 0) {
		note_error(s, r, "listing contexts and assets");
		goto out;
	}
	r = batch_rows(&b, d, n, nc + na, level_parent, level_kid,
		       &(struct level_rows){ .c = c, .nc = nc, .a = a });
	if (r < 0)
		goto out;
	batch_finish(&b);
out:
	free(ids);
	ftrack_context_array_free(c, nc);
	ftrack_asset_array_free(a, na);
	return r < 0 ? r : 0;
}

static const char *version_parent(const void *rows, size_t j)
{
	const struct ftrack_version *v = rows;

	return v[j].asset_id;
}

static int version_kid(struct kids *k, const struct dirinfo *dir, const void *rows, size_t j)
{
	const struct ftrack_version *v = rows;
	char name[NAMES_BUF];

	(void)dir;
	names_version(v[j].version, name);
	return kids_add(k, "V:", v[j].id, name, "AssetVersion", FS_NODE_VERSION, CACHE_KIND_DIR, 0,
			v[j].date_ns, false);
}

static int fetch_versions(struct sync *s, struct dirinfo *d, size_t n, int64_t started)
{
	struct batch b = { .s = s, .started = started };
	struct ftrack_version *v = NULL;
	size_t nv = 0;
	const char **ids;
	int r;

	ids = dir_ids(d, n);
	if (!ids)
		return -ENOMEM;
	r = ftrack_list_versions(s->fs->ftrack, ids, n, &v, &nv);
	if (r < 0) {
		note_error(s, r, "listing versions");
		goto out;
	}
	r = batch_rows(&b, d, n, nv, version_parent, version_kid, v);
	if (r < 0)
		goto out;
	batch_finish(&b);
out:
	free(ids);
	ftrack_version_array_free(v, nv);
	return r < 0 ? r : 0;
}

static const char *component_type(const struct ftrack_component *c)
{
	if (c->entity_type)
		return c->entity_type;
	switch (c->kind) {
	case FTRACK_COMPONENT_SEQUENCE:
		return "SequenceComponent";
	case FTRACK_COMPONENT_CONTAINER:
		return "ContainerComponent";
	default:
		return "FileComponent";
	}
}

static int store_locations(struct sync *s, const struct ftrack_component *comps, size_t nc,
			   const struct ftrack_component_location *cl, size_t ncl, int64_t now)
{
	struct cache_compstate *st;
	size_t n = 0;
	int r;

	st = calloc(ncl ? ncl : 1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	for (size_t i = 0; i < ncl; i++) {
		if (!cl[i].component_id || !cl[i].location_id)
			continue;
		snprintf(st[n].component_id, sizeof(st[n].component_id), "%s", cl[i].component_id);
		snprintf(st[n].location_id, sizeof(st[n].location_id), "%s", cl[i].location_id);
		st[n].state = CACHE_LOC_PRESENT;
		st[n].time_ns = now;
		snprintf(st[n].resource_identifier, sizeof(st[n].resource_identifier), "%s",
			 cl[i].resource_identifier ? cl[i].resource_identifier : "");
		n++;
	}
	/* forget PRESENT states ftrack no longer reports */
	for (size_t i = 0; i < nc; i++) {
		for (size_t m = 0; m <= comps[i].n_members; m++) {
			const struct ftrack_component *c = m == 0 ? &comps[i] : &comps[i].members[m - 1];
			struct cache_compstate *old = NULL;
			int no = cache_compstate_list(s->fs->cache, c->id, &old);

			for (int o = 0; o < no; o++) {
				bool still = false;

				if (old[o].state != CACHE_LOC_PRESENT)
					continue;
				for (size_t x = 0; x < n && !still; x++)
					still = !strcmp(st[x].component_id, old[o].component_id) &&
						!strcmp(st[x].location_id, old[o].location_id);
				if (!still)
					cache_compstate_delete(s->fs->cache, old[o].component_id,
							       old[o].location_id);
			}
			free(old);
		}
	}
	r = n ? cache_compstate_put(s->fs->cache, st, n) : 0;
	free(st);
	return r;
}

static const char *component_parent(const void *rows, size_t j)
{
	const struct ftrack_component *c = rows;

	return c[j].version_id;
}

/* A file component is a file; a sequence or container a directory of its members. */
static int component_kid(struct kids *k, const struct dirinfo *dir, const void *rows, size_t j)
{
	const struct ftrack_component *c = rows;
	char name[NAMES_BUF];
	uint64_t total = 0;

	if (c[j].kind == FTRACK_COMPONENT_FILE) {
		names_component_file(c[j].name, c[j].file_type, name);
		return kids_add(k, "m:", c[j].id, name, component_type(&c[j]), FS_NODE_COMPONENT,
				CACHE_KIND_FILE, c[j].size > 0 ? (uint64_t)c[j].size : 0,
				dir->mtime_ns, true);
	}
	for (size_t m = 0; m < c[j].n_members; m++)
		total += c[j].members[m].size > 0 ? (uint64_t)c[j].members[m].size : 0;
	names_sanitize(c[j].name, c[j].name ? strlen(c[j].name) : 0, name);
	return kids_add(k, "m:", c[j].id, name, component_type(&c[j]), FS_NODE_COMPONENT_DIR,
			CACHE_KIND_DIR, total, dir->mtime_ns, false);
}

static int fetch_components(struct sync *s, struct dirinfo *d, size_t n, int64_t started)
{
	struct batch b = { .s = s, .started = started };
	struct ftrack_component *c = NULL;
	struct ftrack_component_location *cl = NULL;
	size_t nc = 0, ncl = 0, nids = 0;
	const char **ids = NULL, **cids = NULL;
	int r;

	ids = dir_ids(d, n);
	if (!ids) {
		r = -ENOMEM;
		goto out;
	}
	r = ftrack_list_components(s->fs->ftrack, ids, n, &c, &nc);
	if (r < 0) {
		note_error(s, r, "listing components");
		goto out;
	}
	for (size_t i = 0; i < nc; i++)
		nids += 1 + c[i].n_members;
	cids = calloc(nids ? nids : 1, sizeof(*cids));
	if (!cids) {
		r = -ENOMEM;
		goto out;
	}
	nids = 0;
	for (size_t i = 0; i < nc; i++) {
		cids[nids++] = c[i].id;
		for (size_t m = 0; m < c[i].n_members; m++)
			cids[nids++] = c[i].members[m].id;
	}
	if (nids) {
		r = ftrack_list_component_locations(s->fs->ftrack, cids, nids, &cl, &ncl);
		if (r < 0) {
			note_error(s, r, "listing component locations");
			goto out;
		}
	}
	r = store_locations(s, c, nc, cl, ncl, started);
	if (r < 0)
		goto out;

	r = batch_rows(&b, d, n, nc, component_parent, component_kid, c);
	if (r < 0)
		goto out;
	batch_finish(&b);

	/* the members of sequences and containers, each directory in one apply */
	for (size_t j = 0; j < nc; j++) {
		struct dirinfo *p = dir_by_id(d, n, c[j].version_id);
		struct cache_dirstate ds;
		struct kids mk = { 0 };
		uint64_t dino;
		char key[64];
		int rr = 0;

		if (!p || p->result < 0 || c[j].kind == FTRACK_COMPONENT_FILE)
			continue;
		snprintf(key, sizeof(key), "m:%s", c[j].id);
		if (cache_ino_lookup(s->fs->cache, key, &dino) != 1)
			continue;
		if (cache_dir_state(s->fs->cache, dino, &ds) < 0)
			continue;
		for (size_t m = 0; m < c[j].n_members; m++) {
			const struct ftrack_component *mem = &c[j].members[m];
			const char *ft = mem->file_type && *mem->file_type ? mem->file_type : c[j].file_type;
			char name[NAMES_BUF];

			if (c[j].kind == FTRACK_COMPONENT_SEQUENCE)
				names_sequence_member(c[j].name, mem->name, c[j].padding, ft, name);
			else
				names_component_file(mem->name, ft, name);
			rr = kids_add(&mk, "m:", mem->id, name, component_type(mem), FS_NODE_MEMBER,
				      CACHE_KIND_FILE, mem->size > 0 ? (uint64_t)mem->size : 0,
				      p->mtime_ns, true);
			if (rr < 0)
				break;
		}
		if (rr < 0) {
			log_warn(MOD, "storing members of %s: %s", c[j].id, strerror(-rr));
			kids_release(&mk);
			continue;
		}
		batch_add(&b, dino, ds.generation, !(ds.flags & CACHE_DIR_COMPLETE), &mk, NULL);
	}
	batch_finish(&b);
out:
	free(ids);
	free(cids);
	ftrack_component_array_free(c, nc);
	ftrack_component_location_array_free(cl, ncl);
	return r < 0 ? r : 0;
}

static int fetch_locations(struct sync *s, struct dirinfo *d, size_t n, int64_t started)
{
	struct ftrack_location *l = NULL;
	size_t nl = 0;
	int r;

	r = ftrack_list_locations(s->fs->ftrack, &l, &nl);
	if (r < 0) {
		note_error(s, r, "listing locations");
		return r;
	}
	for (size_t j = 0; j < nl; j++) {
		char key[CACHE_KV_KEY_MAX + 1];

		if (!l[j].id || !l[j].name)
			continue;
		snprintf(key, sizeof(key), "locname:%s", l[j].id);
		cache_kv_put(s->fs->cache, key, l[j].name, strlen(l[j].name));
	}
	for (size_t i = 0; i < n; i++) {
		struct kids k = { 0 };

		for (size_t j = 0; j < nl && r >= 0; j++) {
			if (!l[j].name || !strncmp(l[j].name, "ftrack.", 7))
				continue;	/* built-in locations are not accsyn parties */
			r = kids_add(&k, "L:", l[j].id, l[j].name, "Location", FS_NODE_LOCATION,
				     CACHE_KIND_DIR, 0, 0, false);
		}
		d[i].result = r < 0 ? r : apply(s, d[i].ino, d[i].gen, d[i].first, started, &k);
		kids_release(&k);
	}
	ftrack_location_array_free(l, nl);
	return 0;
}

/* ------------------------------------------------------------------ */
/* location views: locations/<L>/ holds the projects tree filtered to L */

struct vnode {
	char id[FTRACK_ID_LEN + 1];
	char name[NAMES_BUF];		/* already the final base name */
	char type[CACHE_TYPE_MAX + 1];
	uint8_t node;
	uint32_t kind;
	uint64_t size;
	int64_t mtime_ns;
	long parent;			/* index, -1 for the view's root */
	size_t first_child, n_children;	/* into the order array */
};

struct view {
	struct vnode *v;
	size_t n, cap;
	long *slots;			/* hash of id -> index, -1 empty */
	size_t n_slots;
	const struct config *cfg;
	const char *loc_id;
	const char *loc_name;
	struct cache_compstate *cs;	/* rows seen, stored after the query */
	size_t n_cs, cap_cs;
	int64_t now;
};

static size_t hash_str(const char *s)
{
	size_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static long view_find(struct view *w, const char *id)
{
	if (!w->n_slots)
		return -1;
	for (size_t h = hash_str(id) & (w->n_slots - 1);; h = (h + 1) & (w->n_slots - 1)) {
		long i = w->slots[h];

		if (i < 0)
			return -1;
		if (!strcmp(w->v[i].id, id))
			return i;
	}
}

static int view_rehash(struct view *w, size_t n_slots)
{
	long *sl = malloc(n_slots * sizeof(*sl));

	if (!sl)
		return -ENOMEM;
	for (size_t i = 0; i < n_slots; i++)
		sl[i] = -1;
	for (size_t i = 0; i < w->n; i++) {
		size_t h = hash_str(w->v[i].id) & (n_slots - 1);

		while (sl[h] >= 0)
			h = (h + 1) & (n_slots - 1);
		sl[h] = (long)i;
	}
	free(w->slots);
	w->slots = sl;
	w->n_slots = n_slots;
	return 0;
}

/* Add (or find) node @id under @parent. Returns its index or -errno. */
static long view_add(struct view *w, long parent, const char *id, const char *name, const char *type,
		     uint8_t node, uint32_t kind, uint64_t size, int64_t mtime_ns)
{
	long i;

	if (!id || !ftrack_is_uuid(id))
		return -EPROTO;
	i = view_find(w, id);
	if (i >= 0)
		return i;
	if ((w->n + 1) * 2 > w->n_slots && view_rehash(w, w->n_slots ? w->n_slots * 2 : 256) < 0)
		return -ENOMEM;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 128;
		struct vnode *v = realloc(w->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		w->v = v;
		w->cap = cap;
	}
	i = (long)w->n++;
	memset(&w->v[i], 0, sizeof(w->v[i]));
	snprintf(w->v[i].id, sizeof(w->v[i].id), "%s", id);
	names_sanitize(name, name ? strlen(name) : 0, w->v[i].name);
	snprintf(w->v[i].type, sizeof(w->v[i].type), "%s", type ? type : "");
	w->v[i].node = node;
	w->v[i].kind = kind;
	w->v[i].size = size;
	w->v[i].mtime_ns = mtime_ns;
	w->v[i].parent = parent;
	{
		size_t h = hash_str(id) & (w->n_slots - 1);

		while (w->slots[h] >= 0)
			h = (h + 1) & (w->n_slots - 1);
		w->slots[h] = i;
	}
	return i;
}

/* The project/context chain and asset/version of a version relation at @rel. */
static long view_add_version(struct view *w, const struct ftrack_entity *row, const char *rel)
{
	char path[128];
	struct ftrack_entity link;
	const char *vid = NULL, *aid = NULL, *aname = NULL;
	int64_t version = 0, date = 0;
	size_t n = 0;
	long parent = -1;

	snprintf(path, sizeof(path), "%s.link", rel);
	if (ftrack_entity_list_len(row, path, &n) != 1 || n < 2)
		return -EPROTO;
	/* link: project, contexts..., and last the version itself (named after its asset) */
	for (size_t i = 0; i + 1 < n; i++) {
		const char *id = NULL, *name = NULL, *type = NULL;

		if (ftrack_entity_list_at(row, path, i, &link) != 1 ||
		    ftrack_entity_str(&link, "id", &id) != 1)
			return -EPROTO;
		ftrack_entity_str(&link, "name", &name);
		ftrack_entity_str(&link, "type", &type);
		parent = view_add(w, parent, id, name, type, FS_NODE_LDIR, CACHE_KIND_DIR, 0, 0);
		if (parent < 0)
			return parent;
	}
	snprintf(path, sizeof(path), "%s.id", rel);
	ftrack_entity_str(row, path, &vid);
	snprintf(path, sizeof(path), "%s.asset_id", rel);
	ftrack_entity_str(row, path, &aid);
	snprintf(path, sizeof(path), "%s.version", rel);
	ftrack_entity_int(row, path, &version);
	snprintf(path, sizeof(path), "%s.date", rel);
	ftrack_entity_time(row, path, &date);
	snprintf(path, sizeof(path), "%s.link", rel);
	if (ftrack_entity_list_at(row, path, n - 1, &link) == 1)
		ftrack_entity_str(&link, "name", &aname);
	parent = view_add(w, parent, aid, aname, "Asset", FS_NODE_LDIR, CACHE_KIND_DIR, 0, 0);
	if (parent < 0)
		return parent;
	{
		char vname[NAMES_BUF];

		names_version(version, vname);
		return view_add(w, parent, vid, vname, "AssetVersion", FS_NODE_LVERSION, CACHE_KIND_DIR,
				0, date);
	}
}

static bool is_container_type(const char *t)
{
	return t && (!strcmp(t, "SequenceComponent") || !strcmp(t, "ContainerComponent"));
}

static int view_row(const struct ftrack_entity *row, void *ud)
{
	struct view *w = ud;
	struct ftrack_entity comp, cont;
	const char *ri = NULL, *cid = NULL, *name = NULL, *ft = NULL, *ctype, *contid = NULL;
	int64_t size = 0;
	long vidx, idx;

	if (ftrack_entity_ref(row, "component", &comp) != 1)
		return 0;
	ftrack_entity_str(row, "resource_identifier", &ri);
	if (w->cfg && ri) {
		/* rows from other locations count when their path belongs to this one */
		const char *lid = NULL;

		ftrack_entity_str(row, "location_id", &lid);
		if (lid && strcmp(lid, w->loc_id)) {
			const struct config_location *owner = NULL;
			char rel[1024];

			if (ri[0] != '/' && !strchr(ri, ':') && ri[0] != '\\')
				return 0;
			if (storage_resolve(w->cfg, "", ri, &owner, rel, sizeof(rel)) < 0 || !owner ||
			    strcmp(owner->name, w->loc_name))
				return 0;
		}
	}
	cid = ftrack_entity_id(&comp);
	ctype = ftrack_entity_type(&comp);
	{
		const char *lid = NULL;

		ftrack_entity_str(row, "location_id", &lid);
		if (cid && lid) {
			if (w->n_cs == w->cap_cs) {
				size_t cap = w->cap_cs ? w->cap_cs * 2 : 64;
				struct cache_compstate *v = realloc(w->cs, cap * sizeof(*v));

				if (!v)
					return -ENOMEM;
				w->cs = v;
				w->cap_cs = cap;
			}
			memset(&w->cs[w->n_cs], 0, sizeof(w->cs[w->n_cs]));
			snprintf(w->cs[w->n_cs].component_id, sizeof(w->cs[0].component_id), "%s", cid);
			snprintf(w->cs[w->n_cs].location_id, sizeof(w->cs[0].location_id), "%s", lid);
			snprintf(w->cs[w->n_cs].resource_identifier, sizeof(w->cs[0].resource_identifier),
				 "%s", ri ? ri : "");
			w->cs[w->n_cs].state = CACHE_LOC_PRESENT;
			w->cs[w->n_cs].time_ns = w->now;
			w->n_cs++;
		}
	}
	ftrack_entity_str(&comp, "name", &name);
	ftrack_entity_str(&comp, "file_type", &ft);
	ftrack_entity_int(&comp, "size", &size);
	ftrack_entity_str(&comp, "container_id", &contid);
	if (contid && ftrack_entity_ref(&comp, "container", &cont) == 1) {
		const char *cname = NULL, *cft = NULL, *cttype = ftrack_entity_type(&cont);
		char mname[NAMES_BUF];
		int64_t date = 0;
		long cidx;

		vidx = view_add_version(w, row, "component.container.version");
		if (vidx < 0)
			return 0;
		ftrack_entity_str(&cont, "name", &cname);
		ftrack_entity_str(&cont, "file_type", &cft);
		date = w->v[vidx].mtime_ns;
		cidx = view_add(w, vidx, contid, cname, cttype, FS_NODE_LCOMPONENT_DIR, CACHE_KIND_DIR, 0,
				date);
		if (cidx < 0)
			return cidx == -ENOMEM ? cidx : 0;
		if (cttype && !strcmp(cttype, "SequenceComponent"))
			names_sequence_member(cname, name, 0, ft && *ft ? ft : cft, mname);
		else
			names_component_file(name, ft && *ft ? ft : cft, mname);
		idx = view_add(w, cidx, cid, mname, ctype, FS_NODE_LMEMBER, CACHE_KIND_FILE,
			       size > 0 ? (uint64_t)size : 0, date);
		if (idx >= 0) {
			w->v[cidx].size += size > 0 ? (uint64_t)size : 0;
			/* the member's raw frame name, padded later */
			snprintf(w->v[idx].type, sizeof(w->v[idx].type), "%s", ctype ? ctype : "");
		}
		return idx == -ENOMEM ? -ENOMEM : 0;
	}
	vidx = view_add_version(w, row, "component.version");
	if (vidx < 0)
		return vidx == -ENOMEM ? vidx : 0;
	if (is_container_type(ctype)) {
		idx = view_add(w, vidx, cid, name, ctype, FS_NODE_LCOMPONENT_DIR, CACHE_KIND_DIR, 0,
			       w->v[vidx].mtime_ns);
	} else {
		char fname[NAMES_BUF];

		names_component_file(name, ft, fname);
		idx = view_add(w, vidx, cid, fname, ctype, FS_NODE_LCOMPONENT, CACHE_KIND_FILE,
			       size > 0 ? (uint64_t)size : 0, w->v[vidx].mtime_ns);
	}
	return idx == -ENOMEM ? -ENOMEM : 0;
}

#define VIEW_SELECT "select id, location_id, resource_identifier, component_id, " \
	"component.name, component.file_type, component.size, component.container_id, " \
	"component.version.version, component.version.asset_id, component.version.date, " \
	"component.version.link, component.container.name, component.container.file_type, " \
	"component.container.version.version, component.container.version.asset_id, " \
	"component.container.version.date, component.container.version.link " \
	"from ComponentLocation where location_id is "

static int view_query(struct sync *s, struct view *w, const char *loc_id)
{
	struct ftrack_expr *e = NULL;
	const char *text;
	int r;

	r = ftrack_expr_new(&e);
	if (r < 0)
		return r;
	ftrack_expr_raw(e, VIEW_SELECT);
	ftrack_expr_uuid(e, loc_id);
	r = ftrack_expr_get(e, &text);
	if (r == 0)
		r = ftrack_query(s->fs->ftrack, text, 0, view_row, w);
	ftrack_expr_free(e);
	return r < 0 ? r : 0;
}

/* Pad sequence members' frame numbers: one query for the paddings. */
static void view_pad_members(struct sync *s, struct view *w)
{
	for (size_t i = 0; i < w->n; i++) {
		struct vnode *m = &w->v[i];
		struct cache_entry e;
		uint64_t ino;
		char key[96];

		if (m->node != FS_NODE_LMEMBER)
			continue;
		/* the projects view already computed this member's name */
		snprintf(key, sizeof(key), "m:%s", m->id);
		if (cache_ino_lookup(s->fs->cache, key, &ino) == 1 && cache_get(s->fs->cache, ino, &e) == 1)
			snprintf(m->name, sizeof(m->name), "%s", e.name);
	}
}

static int apply_view(struct sync *s, struct dirinfo *root, struct view *w, int64_t started)
{
	size_t *order = NULL, *cnt = NULL;
	struct kids k = { 0 };
	int r = 0;

	/* children lists by counting sort on parent (root = index w->n) */
	cnt = calloc(w->n + 2, sizeof(*cnt));
	order = calloc(w->n ? w->n : 1, sizeof(*order));
	if (!cnt || !order) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < w->n; i++)
		cnt[(w->v[i].parent < 0 ? w->n : (size_t)w->v[i].parent) + 1]++;
	for (size_t i = 1; i < w->n + 2; i++)
		cnt[i] += cnt[i - 1];
	for (size_t i = 0; i < w->n; i++) {
		size_t p = w->v[i].parent < 0 ? w->n : (size_t)w->v[i].parent;

		order[cnt[p]++] = i;
	}
	/* now cnt[p] is the end of p's range; its start is cnt[p-1] (0 for p=0) */
	for (long d = -1; d < (long)w->n; d++) {
		size_t p = d < 0 ? w->n : (size_t)d;
		size_t start = p == 0 ? 0 : cnt[p - 1], end = cnt[p];
		struct cache_dirstate ds;
		uint64_t dino;
		char key[96];

		if (d >= 0 && w->v[d].kind != CACHE_KIND_DIR)
			continue;
		if (d < 0) {
			dino = root->ino;
		} else {
			snprintf(key, sizeof(key), "l:%s:%s", w->loc_id, w->v[d].id);
			if (cache_ino_lookup(s->fs->cache, key, &dino) != 1)
				continue;	/* its parent's apply failed */
		}
		if (cache_dir_state(s->fs->cache, dino, &ds) < 0)
			continue;
		memset(&k, 0, sizeof(k));
		k.view_loc = w->loc_id;
		{
			char prefix[64];

			snprintf(prefix, sizeof(prefix), "l:%s:", w->loc_id);
			for (size_t j = start; j < end && r >= 0; j++) {
				const struct vnode *c = &w->v[order[j]];

				r = kids_add(&k, prefix, c->id, c->name, c->type, c->node, c->kind, c->size,
					     c->mtime_ns, c->kind == CACHE_KIND_FILE);
			}
		}
		if (r >= 0) {
			int rr = apply(s, dino, ds.generation, !(ds.flags & CACHE_DIR_COMPLETE), started, &k);

			if (d < 0)
				root->result = rr;
		}
		kids_release(&k);
		if (r < 0)
			break;
	}
out:
	free(cnt);
	free(order);
	return r;
}

static int fetch_location_views(struct sync *s, struct dirinfo *d, size_t n, int64_t started)
{
	static const char unmanaged[] = "cb268ecc-8809-11e3-a7e2-20c9d081909b";
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		struct view w = { 0 };
		char name[256] = "";
		char key[CACHE_KV_KEY_MAX + 1];
		size_t len = 0;
		bool absolute = false;

		w.loc_id = d[i].id;
		w.now = started;
		snprintf(key, sizeof(key), "locname:%s", d[i].id);
		if (cache_kv_get(s->fs->cache, key, name, sizeof(name) - 1, &len) == 1)
			name[len] = '\0';
		w.loc_name = name;
		w.cfg = s->fs->cfg;
		for (size_t a = 0; a < s->fs->cfg->n_absolutes; a++)
			absolute |= !strcmp(s->fs->cfg->absolutes[a].location, name);
		r = view_query(s, &w, d[i].id);
		if (r >= 0 && absolute)
			r = view_query(s, &w, unmanaged);
		if (r < 0) {
			note_error(s, r, "listing a location's components");
			d[i].result = r;
		} else {
			/* keep states others set (queued, transferring): only add PRESENT rows */
			for (size_t c = 0; c < w.n_cs; c++) {
				struct cache_compstate *old = malloc(sizeof(*old));

				if (old && cache_compstate_get(s->fs->cache, w.cs[c].component_id,
							       w.cs[c].location_id, old) == 1 &&
				    old->state != CACHE_LOC_PRESENT && old->state != CACHE_LOC_ABSENT)
					w.cs[c].state = 0xff;	/* skip */
				free(old);
			}
			{
				size_t k = 0;

				for (size_t c = 0; c < w.n_cs; c++)
					if (w.cs[c].state != 0xff)
						w.cs[k++] = w.cs[c];
				if (k)
					cache_compstate_put(s->fs->cache, w.cs, k);
			}
			view_pad_members(s, &w);
			d[i].result = 0;
			r = apply_view(s, &d[i], &w, started);
			if (r < 0)
				d[i].result = r;
			else if (s->fs->view_applied)
				s->fs->view_applied(s->fs, w.loc_id);	/* pending sends */
		}
		free(w.v);
		free(w.slots);
		free(w.cs);
		if (r < 0 && r != -ENOMEM)
			break;
	}
	return r < 0 ? r : 0;
}

/*
 * Queue @inos (owned by the caller, room for FRONTIER_BATCH) as a prefetch
 * job topped up with cousins of the same kind from the frontier, so that a
 * walk's waves cover whole levels instead of one directory each.
 */
static void enqueue_wave(struct sync *s, uint8_t node, uint64_t *inos, size_t m, int depth)
{
	if (m < FRONTIER_BATCH)
		m += frontier_take(s, node, 0, inos + m, FRONTIER_BATCH - m);
	enqueue(s, node, inos, m, depth);
}

/*
 * Queue the fetchable child directories of @d that are not fresh as one
 * prefetch job per node group, to go on @depth more levels; with @depth < 0
 * only remember them in the frontier.
 */
/* What prefetch_listing() gathers: fetchable children, one node group at a time. */
struct prefetch {
	struct sync *s;
	int depth;		/* >= 0: a wave of that depth; < 0: into the frontier */
	int64_t now, ttl_ns;
	uint64_t *inos;
	uint8_t node;
	size_t m, cap;
};

static void prefetch_flush(struct prefetch *p)
{
	if (p->m && p->depth >= 0)
		enqueue_wave(p->s, p->node, p->inos, p->m, p->depth);
	else if (p->m)
		frontier_add(p->s, p->node, p->inos, p->m);
	p->m = 0;
}

/* Gather the children of listing @cd that need a fetch. */
static void prefetch_listing(struct prefetch *p, const struct cache_dir *cd)
{
	for (size_t j = 0; j < cd->n; j++) {
		struct cache_dirstate cs;
		uint8_t node;

		if (cd->v[j].attr.kind != CACHE_KIND_DIR)
			continue;
		node = (uint8_t)cd->v[j].attr.flags;	/* the node type, see kids_add() */
		/* a location's view is one big query: only when listed */
		if (!node_fetchable(node) || node == FS_NODE_LOCATION)
			continue;
		if (cache_dir_state(p->s->fs->cache, cd->v[j].ino, &cs) == 1 &&
		    (cs.flags & CACHE_DIR_COMPLETE) && p->now - cs.fetched_ns <= p->ttl_ns)
			continue;	/* fresh already */
		if (p->node && node_group(node) != node_group(p->node))
			prefetch_flush(p);
		p->node = node;
		if (p->m + FRONTIER_BATCH >= p->cap) {
			size_t nc = p->cap ? p->cap * 2 : 2 * FRONTIER_BATCH;
			uint64_t *v = realloc(p->inos, nc * sizeof(*v));

			if (!v)
				break;
			p->inos = v;
			p->cap = nc;
		}
		p->inos[p->m++] = cd->v[j].ino;
	}
}

static void prefetch_init(struct prefetch *p, struct sync *s, int depth)
{
	memset(p, 0, sizeof(*p));
	p->s = s;
	p->depth = depth;
	p->now = fs_now_ns();
	p->ttl_ns = (int64_t)s->fs->cfg->ttl_s * 1000000000LL;
}

static void prefetch_children(struct sync *s, struct dirinfo *d, size_t n, int depth)
{
	struct prefetch p;

	prefetch_init(&p, s, depth);
	for (size_t i = 0; i < n; i++) {
		struct cache_dir *cd = NULL;

		if (d[i].result < 0 || cache_readdir(s->fs->cache, d[i].ino, NULL, 0, &cd) < 0)
			continue;
		prefetch_listing(&p, cd);
		cache_dir_free(cd);
	}
	prefetch_flush(&p);
	free(p.inos);
}

static void run_job(struct sync *s, struct job *j)
{
	struct dirinfo *d = calloc(j->n, sizeof(*d));
	int64_t started = fs_now_ns();
	size_t n = 0;
	int r = 0;

	if (!d) {
		for (size_t i = 0; i < j->n; i++)
			finish_dir(s, j->inos[i], -ENOMEM);
		return;
	}
	for (size_t i = 0; i < j->n; i++) {
		struct cache_dirstate ds;
		struct cache_entry e;

		d[n].ino = j->inos[i];
		if (cache_dir_state(s->fs->cache, d[n].ino, &ds) < 0) {
			finish_dir(s, d[n].ino, -EIO);
			continue;
		}
		d[n].gen = ds.generation;
		d[n].first = !(ds.flags & CACHE_DIR_COMPLETE);
		if (cache_get(s->fs->cache, d[n].ino, &e) == 1) {
			snprintf(d[n].id, sizeof(d[n].id), "%s", e.ftrack_id);
			d[n].mtime_ns = e.attr.mtime_ns;
		}
		n++;
	}
	qsort(d, n, sizeof(*d), cmp_dir_id);
	log_debug(MOD, "fetching %zu director%s of kind %u (prefetch depth %d)", n, n == 1 ? "y" : "ies",
		  (unsigned)node_group(j->node), j->depth);
	if (!s->fs->ftrack) {
		r = -ENOTCONN;
	} else {
		switch (node_group(j->node)) {
		case FS_NODE_PROJECTS:
			r = fetch_projects(s, d, n, started);
			break;
		case FS_NODE_LOCATIONS:
			r = fetch_locations(s, d, n, started);
			break;
		case FS_NODE_CONTEXT:
			r = fetch_contexts(s, d, n, started);
			break;
		case FS_NODE_ASSET:
			r = fetch_versions(s, d, n, started);
			break;
		case FS_NODE_VERSION:
			r = fetch_components(s, d, n, started);
			break;
		case FS_NODE_LOCATION:
			r = fetch_location_views(s, d, n, started);
			break;
		default:
			r = -EINVAL;
		}
	}
	pthread_mutex_lock(&s->fs->status.lock);
	s->fs->status.n_fetches++;
	if (r < 0)
		s->fs->status.n_fetch_errors++;
	pthread_mutex_unlock(&s->fs->status.lock);
	if (r == 0)
		fs_status_ok(s->fs);
	for (size_t i = 0; i < n; i++) {
		int res = r < 0 ? r : d[i].result;

		if (res == -ESTALE)
			res = 0;	/* a newer write won the race: the cache is fresh */
		d[i].result = res;
		if (res == 0)
			visited_refresh(s, d[i].ino, started + (int64_t)s->fs->cfg->ttl_s * 1000000000LL);
		finish_dir(s, d[i].ino, res);
	}
	if (r == 0)
		prefetch_children(s, d, n, j->depth - 1);
	free(d);
}

static void *worker_main(void *arg)
{
	struct sync *s = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&s->lock);
		while (!s->jobs && !s->stop)
			pthread_cond_wait(&s->work_cv, &s->lock);
		if (s->stop) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		j = job_pop_locked(s);
		pthread_mutex_unlock(&s->lock);
		if (j && j->n)
			run_job(s, j);
		job_free(j);
	}
	remote_thread_cleanup();
	return NULL;
}

/* ------------------------------------------------------------------ */
/* public */

static int ensure_dir(struct sync *s, uint64_t ino, bool wait, const struct cache_dir *listing)
{
	uint64_t *batch = NULL;
	size_t n_batch = 0;
	struct cache_dirstate ds;
	struct cache_entry e;
	struct fs_blob b;
	struct pending *p;
	struct timespec deadline;
	int r;

	if (ino == CACHE_ROOT_INO)
		return 0;
	/* the hot path of a warm walk: visited and fresh, no LMDB at all */
	if (visited_fresh_until(s, ino) > fs_now_ns())
		return 0;
	r = cache_get(s->fs->cache, ino, &e);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	fs_blob_get(&e, &b);
	if (b.node >= FS_NODE_LDIR && b.node <= FS_NODE_LMEMBER && b.loc_id[0]) {
		/* inside a location's view: the view is refreshed as a whole */
		char key[64];
		uint64_t root;

		snprintf(key, sizeof(key), "L:%s", b.loc_id);
		if (cache_ino_lookup(s->fs->cache, key, &root) == 1 && root != ino)
			return ensure_dir(s, root, wait, NULL);
		return 0;
	}
	if (!node_fetchable(b.node)) {
		visited_put(s, ino, INT64_MAX);	/* filled with its parent */
		return 0;
	}
	r = cache_dir_state(s->fs->cache, ino, &ds);
	if (r < 0)
		return r;
	if (ds.flags & CACHE_DIR_COMPLETE) {
		int64_t until = ds.fetched_ns + (int64_t)s->fs->cfg->ttl_s * 1000000000LL;
		bool stale = fs_now_ns() > until;

		if (stale)
			enqueue(s, b.node, &ino, 1, 0);
		/* first visit this session: keep the prefetch wave ahead of the user */
		if (visited_put(s, ino, stale ? 0 : until) == 1 && s->fs->cfg->prefetch_depth > 0) {
			struct dirinfo d = { .ino = ino };

			/*
			 * Only into the frontier: a wave per visited directory
			 * makes many small jobs under a depth-first walk; the
			 * next first listing takes them with its cousins. The
			 * caller's listing, when it has one, saves a read.
			 */
			if (listing) {
				struct prefetch pf;

				prefetch_init(&pf, s, -1);
				prefetch_listing(&pf, listing);
				prefetch_flush(&pf);
				free(pf.inos);
			} else {
				prefetch_children(s, &d, 1, -1);
			}
		}
		return 0;
	}
	if (!wait)
		return 0;	/* the first listing will fetch it */
	/* never fetched: fetch now, with its cousins from the frontier; wait bounded */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += s->fs->cfg->first_fetch_timeout_s;
	batch = malloc(FRONTIER_BATCH * sizeof(*batch));
	if (batch) {
		batch[0] = ino;
		n_batch = 1 + frontier_take(s, b.node, ino, batch + 1, FRONTIER_BATCH - 1);
	}
	pthread_mutex_lock(&s->lock);
	p = pend_find(s, ino);
	if (p && p->state == PEND_QUEUED) {
		/*
		 * Already in a queued (prefetch) job: move that whole job to the
		 * front rather than fetching this one directory alone; a walker
		 * outrunning the prefetch would otherwise cost a request per
		 * directory.
		 */
		job_promote_locked(s, ino);
		if (batch && n_batch > 1)
			job_push_locked(s, b.node, batch + 1, n_batch - 1,
					(int)s->fs->cfg->prefetch_depth, true);
	} else if (!p) {
		/* ahead of any prefetch */
		job_push_locked(s, b.node, batch ? batch : &ino, batch ? n_batch : 1,
				(int)s->fs->cfg->prefetch_depth, true);
		p = pend_find(s, ino);
	}
	free(batch);
	if (!p) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	p->waiters++;
	r = 0;
	fs_loop_may_block();	/* another thread reads requests meanwhile */
	while (p->state != PEND_DONE && r == 0)
		r = pthread_cond_timedwait(&s->done_cv, &s->lock, &deadline);
	if (p->state == PEND_DONE) {
		r = p->result;
	} else {
		r = -ETIMEDOUT;
		log_error(MOD, "first listing of '%s' (%s) took longer than %us: answering ETIMEDOUT",
			  e.name, e.ftrack_id, s->fs->cfg->first_fetch_timeout_s);
	}
	p->waiters--;
	if (p->waiters == 0 && p->state == PEND_DONE)
		pend_remove(s, p);
	pthread_mutex_unlock(&s->lock);
	/* the fetch's own prefetch wave covers the children: a visit */
	if (r == 0)
		visited_put(s, ino, fs_now_ns() + (int64_t)s->fs->cfg->ttl_s * 1000000000LL);
	return r;
}

int sync_ensure_dir(struct sync *s, uint64_t ino)
{
	return ensure_dir(s, ino, true, NULL);
}

int sync_ensure_listed(struct sync *s, uint64_t ino, const struct cache_dir *listing)
{
	return ensure_dir(s, ino, true, listing);
}

int sync_touch_dir(struct sync *s, uint64_t ino)
{
	return ensure_dir(s, ino, false, NULL);
}

static int put_fixed(struct sync *s, uint64_t parent, const char *const *names, const char *const *keys,
		     const uint8_t *nodes, const uint32_t *kinds, size_t n)
{
	struct cache_child ch[8];
	struct fs_blob bl[8];
	struct cache_dirstate ds;
	struct cache_changes *changes = NULL;
	int r;

	memset(ch, 0, sizeof(ch));
	memset(bl, 0, sizeof(bl));
	for (size_t i = 0; i < n; i++) {
		bl[i].version = FS_BLOB_VERSION;
		bl[i].node = nodes[i];
		ch[i].key = keys[i];
		ch[i].name = names[i];
		ch[i].attr.kind = kinds[i];
		ch[i].attr.mode = kinds[i] == CACHE_KIND_DIR ? 0555 : 0444;
		ch[i].attr.nlink = kinds[i] == CACHE_KIND_DIR ? 2 : 1;
		ch[i].attr.flags = nodes[i];
		ch[i].blob = &bl[i];
		ch[i].blob_len = sizeof(bl[i]);
	}
	r = cache_dir_state(s->fs->cache, parent, &ds);
	if (r < 0)
		return r;
	r = cache_dir_apply(s->fs->cache, parent, ds.generation, fs_now_ns(), ch, n, &changes);
	cache_changes_free(changes);
	return r;
}

int sync_start(struct fs *fs, struct sync **ret_sync)
{
	static const char *const top_names[] = { "projects", "locations", ".ftrackfs" };
	static const char *const top_keys[] = { "v:projects", "v:locations", "v:ctl" };
	static const uint8_t top_nodes[] = { FS_NODE_PROJECTS, FS_NODE_LOCATIONS, FS_NODE_CTL };
	static const uint32_t top_kinds[] = { CACHE_KIND_DIR, CACHE_KIND_DIR, CACHE_KIND_DIR };
	static const char *const ctl_names[] = { "status", "status.json" };
	static const char *const ctl_keys[] = { "v:status", "v:status.json" };
	static const uint8_t ctl_nodes[] = { FS_NODE_STATUS, FS_NODE_STATUS_JSON };
	static const uint32_t ctl_kinds[] = { CACHE_KIND_FILE, CACHE_KIND_FILE };
	struct sync *s;
	uint64_t ino;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fs = fs;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work_cv, NULL);
	pthread_cond_init(&s->done_cv, NULL);
	pthread_mutex_init(&s->ilock, NULL);
	pthread_mutex_init(&s->vlock, NULL);
	pthread_cond_init(&s->icv, NULL);

	r = put_fixed(s, CACHE_ROOT_INO, top_names, top_keys, top_nodes, top_kinds, 3);
	if (r >= 0 && (r = cache_ino_lookup(fs->cache, "v:ctl", &ino)) == 1)
		r = put_fixed(s, ino, ctl_names, ctl_keys, ctl_nodes, ctl_kinds, 2);
	if (r < 0) {
		log_error(MOD, "cannot create the top of the tree: %s", strerror(-r));
		free(s);
		return r;
	}
	r = pthread_create(&s->inval_thread, NULL, inval_main, s);
	if (r) {
		free(s);
		return -r;
	}
	s->inval_started = true;
	for (int i = 0; i < FS_SYNC_WORKERS; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s) == 0)
			s->n_workers++;
	}
	/* warm up in the background: locations (names for reads), projects */
	if (cache_ino_lookup(fs->cache, "v:locations", &ino) == 1)
		enqueue(s, FS_NODE_LOCATIONS, &ino, 1, 0);
	if (cache_ino_lookup(fs->cache, "v:projects", &ino) == 1)
		enqueue(s, FS_NODE_PROJECTS, &ino, 1, (int)fs->cfg->prefetch_depth);
	*ret_sync = s;
	return 0;
}

void sync_stop(struct sync *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->work_cv);
	pthread_cond_broadcast(&s->done_cv);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&s->ilock);
	pthread_cond_broadcast(&s->icv);
	pthread_mutex_unlock(&s->ilock);
	for (int i = 0; i < s->n_workers; i++)
		pthread_join(s->workers[i], NULL);
	if (s->inval_started)
		pthread_join(s->inval_thread, NULL);
	while (s->jobs) {
		struct job *j = s->jobs;

		s->jobs = j->next;
		job_free(j);
	}
	while (s->pend) {
		struct pending *p = s->pend;

		s->pend = p->next;
		free(p);
	}
	free(s->visited);
	for (size_t g = 0; g < ARRAY_SIZE(s->frontier); g++)
		free(s->frontier[g]);
	while (s->inv) {
		struct inval *iv = s->inv;

		s->inv = iv->next;
		free(iv->name);
		free(iv);
	}
	free(s);
}
