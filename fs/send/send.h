/* SPDX-License-Identifier: Apache-2.0 */
/*
 * send.h - the send engine: outbox intents -> accsyn jobs -> ftrack
 * registration (private to fs/).
 *
 * Design note
 * -----------
 * A copy into locations/<L>/ (or `ftrackfs send`, or the xattr
 * user.ftrack.send) becomes send_enqueue(component, L): one outbox intent,
 * written in one LMDB transaction, and nothing else on the request thread.
 * One worker thread moves intents through the persisted state machine of
 * cache.h:
 *
 *   COLLECTING --quiet period (2 s) or size/count limit--> READY
 *   READY --plan: pick a source per component, group per (source party,
 *           destination location), one client token per group--> SUBMITTING
 *   SUBMITTING --accsyn job/create succeeded--> SUBMITTED(job id)
 *   SUBMITTED --poll: done, CLs registered in ftrack--> DONE
 *             --poll: failed/aborted--> FAILED(reason)      (send_retry())
 *
 * Exactly once: the token is written to the intents (SUBMITTING) BEFORE the
 * job is created, and travels in the job (metadata.ftrackfs_token and the
 * code). Whenever an intent is found in SUBMITTING - after a restart, or
 * after a create whose outcome is unknown (timeout, 5xx, dropped
 * connection) - its token is looked up in accsyn first: a job found is
 * adopted (SUBMITTED), none found puts the intents back to READY. A job is
 * therefore only created when accsyn provably has none for that token, and
 * a SIGKILL at any instant loses nothing (every state is in LMDB).
 *
 * Paths: a component's source is one of its ComponentLocations. Its
 * resource identifier goes through [pathmap] (drive letters, UNC) and is
 * matched against local roots and [absolute] prefixes on whole path
 * components (storage_resolve()), giving the owning location and a path
 * relative to that party's default root share: `site=hq:theproject/...`.
 * Jobs are mirrored (mirror_paths), so the bytes land at the same relative
 * path at the destination party. That relative path is what we register as
 * the destination ComponentLocation's resource identifier: the destination
 * is a location of its own, whose prefix is the party's root share (as the
 * demo's hq/la locations store "theproject/..."). We never copy the source's
 * absolute path into the destination (ftrack-send's quirk), and never
 * register before accsyn reports `done` (`aborted` is a failure).
 *
 * Threads: send_enqueue(), send_retry() and send_stats() are safe from any
 * thread (FUSE handlers) and never touch the network. Everything that talks
 * to ftrack or accsyn runs on the worker (or inside send_step()).
 */
#ifndef FTRACKFS_FS_SEND_H
#define FTRACKFS_FS_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftrackfs/accsyn.h"
#include "ftrackfs/cache.h"
#include "ftrackfs/config.h"
#include "ftrackfs/model.h"

struct send;
struct ftrack;
struct accsyn;

/*
 * What the engine needs from the services. send_remote_default() maps them
 * onto ftrack.h/accsyn.h; unit tests substitute fakes. Every function returns
 * what the ftrack_/accsyn_ function of the same name returns; @ud is
 * send_options.remote_ud.
 */
struct send_component {
	char *id;
	char *name;
	char *file_type;
	char *entity_type;	/* "FileComponent", "SequenceComponent", ... */
	char *container_id;	/* NULL unless a member */
	int64_t size;
};

struct send_remote {
	int (*list_locations)(void *ud, struct ftrack_location **ret, size_t *ret_n);
	/* The components @ids plus every member of those that are containers. */
	int (*components)(void *ud, const char *const *ids, size_t n,
			  struct send_component **ret, size_t *ret_n);
	int (*component_locations)(void *ud, const char *const *ids, size_t n,
				   struct ftrack_component_location **ret, size_t *ret_n);
	/* Create the @n ComponentLocations (all or none). */
	int (*register_components)(void *ud, const char *location_id, const char *const *component_ids,
				   const char *const *resource_identifiers, size_t n);
	int (*job_create)(void *ud, const struct accsyn_job_spec *spec, struct accsyn_job *ret);
	int (*job_get)(void *ud, const char *job_id, struct accsyn_job *ret);
	int (*job_find_by_token)(void *ud, const char *token, struct accsyn_job *ret);
	int (*ftrack_job_create)(void *ud, const char *status, const char *description,
				 char ret_id[FTRACK_ID_LEN + 1]);
	int (*ftrack_job_update)(void *ud, const char *id, const char *status, const char *description);
	/* The last server-reported error text of accsyn (@is_accsyn) or ftrack. */
	void (*last_error)(void *ud, bool is_accsyn, char *buf, size_t len);
};

/* The context send_remote_default() needs; both pointers borrowed. */
struct send_services {
	struct ftrack *ftrack;
	struct accsyn *accsyn;	/* NULL: accsyn not configured -> intents fail */
};

extern const struct send_remote send_remote_default;

void send_component_array_free(struct send_component *a, size_t n);

struct send_options {
	const struct config *cfg;	/* borrowed; locations, parties, path maps */
	struct cache *cache;		/* borrowed */
	const struct send_remote *remote;	/* NULL: send_remote_default */
	void *remote_ud;		/* for send_remote_default: a struct send_services * */
	const char *user;		/* who sends, for job names; NULL: cfg->ftrack_user */
	/* Source preference after local locations: location names, best first. */
	const char *const *priority;
	size_t n_priority;
	unsigned quiet_ms;		/* 0 -> 2000 */
	unsigned max_batch;		/* intents that close a batch early; 0 -> 5000 */
	uint64_t max_batch_bytes;	/* 0 -> no limit */
	unsigned poll_ms;		/* per job; 0 -> 2000 */
	/* job polls per round; the worker runs 4 rounds a second, so the
	 * default keeps polling under 20 requests/s (accsyn allows 30) */
	unsigned max_polls_per_step;	/* 0 -> 5 */
	unsigned backoff_min_ms;	/* first wait after a service error; 0 -> 500 */
	unsigned backoff_max_ms;	/* 0 -> 30000 */
	/* Called on the worker after states of (component, location) changed. */
	void (*on_change)(void *ud, const char *component_id, const char *location_id);
	/* Called on the worker after job @job_id's record changed. */
	void (*on_job)(void *ud, const char *job_id);
	void *on_change_ud;
};

/*
 * send_new() - an engine over @opts (copied; borrowed pointers must outlive
 * it). Starts no thread. Returns 0 and *ret_s, -EINVAL, -ENOMEM.
 */
int send_new(const struct send_options *opts, struct send **ret_s);

/* send_free() - stops the worker if running and frees @s. Accepts NULL. */
void send_free(struct send *s);

/* send_start() - start the worker thread. Returns 0 or -errno. */
int send_start(struct send *s);
/* send_stop() - stop and join the worker (the outbox keeps every intent). */
void send_stop(struct send *s);

/*
 * send_enqueue() - record "send component @component_id to location
 * @dst_location_id" (ftrack ids). @dst_path (may be NULL) is the path the
 * user wrote, kept for status; @size the component's size (for progress).
 * Never touches the network.
 * Returns 1 when a new intent was recorded (the destination view's state
 * becomes `queued`), 0 when nothing was needed: the location already holds
 * the component, or an intent for it is pending. -EINVAL for malformed ids,
 * -ENXIO when the worker already knows the location maps to no accsyn
 * party (callers that know the name check send_party() first), other
 * -errno from the cache.
 */
int send_enqueue(struct send *s, const char *component_id, const char *dst_location_id,
		 const char *dst_path, uint64_t size);

/*
 * send_retry() - put FAILED intents back to READY (a new job). NULL
 * arguments match every component / location. Returns the number re-queued.
 */
int send_retry(struct send *s, const char *component_id, const char *dst_location_id);

/* Wake the worker now (e.g. after enqueueing with a forced flush). */
void send_kick(struct send *s, bool flush);

/*
 * send_step() - one round of the worker's work at time @now_ns (0 = now):
 * recover SUBMITTING intents, close a batch whose quiet period is over (or
 * every collecting intent if @flush), submit, poll. For the driver and
 * tests; do not mix with send_start(). Returns 0, or the -errno of a service
 * failure (the work is retried on the next round after a backoff).
 */
int send_step(struct send *s, bool flush, int64_t now_ns);

struct send_stats {
	unsigned n_collecting, n_ready, n_submitting, n_submitted, n_done, n_failed;
	bool is_blocked;		/* a service refuses us (key revoked...) */
	char blocked_reason[256];	/* e.g. "accsyn rejected the API key" */
	char last_error[256];		/* last service error, "" when none */
	int64_t next_retry_ns;		/* 0 when not backing off */
	uint64_t n_jobs_created;
	uint64_t n_requests;		/* service calls made by the engine */
};

/* send_stats() - counts from the outbox plus the worker's condition. */
int send_stats(struct send *s, struct send_stats *ret);

/* True when no intent is pending (everything DONE or FAILED). */
bool send_is_idle(struct send *s);

/*
 * send_status_render() - the sends part of `ftrackfs status`: counts, a
 * blocked condition, and one line per job not finished for long (text), or
 * a JSON object. *ret_buf is malloc'ed (free() it). Returns its length or
 * -errno.
 */
int send_status_render(struct send *s, bool json, char **ret_buf);

/* ---- pure helpers (send_plan.c), exposed for the driver and tests ---- */

/*
 * send_party() - the accsyn party of ftrack location @name: the configured
 * `party`, else the name; an e-mail is a user party as is, a site code
 * becomes "site=<code>", "site=", "client=" and "user=" forms pass through.
 * Writes it to @buf. Returns 0; -ENXIO with a reason in @why (may be NULL)
 * for ftrack.* locations without a configured party or a malformed party.
 */
int send_party(const struct config *cfg, const char *name, char *buf, size_t len,
	       char *why, size_t why_len);

/*
 * send_source_path() - where accsyn finds the component registered in
 * location @loc_name as @ri: the owning location's name and the path
 * relative to its party's root share ('/' separators, no "..").
 * Returns 0; -EACCES (outside every root, unmapped Windows path, "..",
 * a URL) with @why.
 */
int send_source_path(const struct config *cfg, const char *loc_name, const char *ri,
		     char *owner, size_t owner_len, char *rel, size_t rel_len,
		     char *why, size_t why_len);

/*
 * send_seq_range() - "%04d"-style pattern in @rel and member frame names ->
 * "<rel> [first-last]" when the frames are numeric and contiguous. Returns 1
 * and writes @out, 0 when not suitable (send member files), -ENAMETOOLONG.
 */
int send_seq_range(const char *rel, const char *const *frames, size_t n, char *out, size_t len);

/* send_seq_member() - substitute @frame into the pattern of @rel. 0 or -errno. */
int send_seq_member(const char *rel, const char *frame, char *out, size_t len);

/*
 * send_job_name() - "ftrackfs: theproject/seq010/sh010 comp v003 (3 files)
 * from alice": what (the common directory of @rels, "<asset> vNNN" spelled
 * out), how many files, from whom. Truncated on a UTF-8 boundary to @len.
 */
void send_job_name(const char *const *rels, size_t n, size_t n_files, const char *user,
		   char *out, size_t len);

/*
 * send_state_text() - what user.ftrack.state shows for a destination state:
 * "queued", "queued (<why it waits>)", "transferring 42%", "present",
 * "failed: <reason>", "absent". Returns the length written (truncated to
 * @len - 1, on a UTF-8 boundary).
 */
int send_state_text(const struct cache_compstate *cs, char *buf, size_t len);

/*
 * send_job_json() - .ftrackfs/jobs/<id>.json for @j: a malloc'ed,
 * NUL-terminated JSON object (free() it) in *ret_buf. Returns its length or
 * -ENOMEM.
 */
int send_job_json(const struct cache_job *j, char **ret_buf);

/* send_token() - a fresh client token, 32 lower-case hex digits. 0 or -errno. */
int send_token(char out[33]);

#endif /* FTRACKFS_FS_SEND_H */
