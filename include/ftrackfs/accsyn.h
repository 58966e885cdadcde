/* SPDX-License-Identifier: Apache-2.0 */
/*
 * accsyn.h - the accsyn v3 REST client (protocols/accsyn.md).
 *
 * Every call is one `/api/v3/event` request carrying a JSON envelope: in the
 * body for POST/PUT, as the URL-quoted whole query string for GET/DELETE.
 * Success or failure is decided by the reply's JSON keys, never by the HTTP
 * status: `result` is success; `message`/`message_hr` is a server error
 * (-EINVAL, or -EACCES when the HTTP status was 401/403); `exception` is a
 * server crash (-EIO). The text is kept for accsyn_last_error().
 * Transport errors are those of remote.h. Finds are retried with backoff;
 * job creation never is (use accsyn_job_find_by_token() to learn whether an
 * earlier attempt got through).
 *
 * A `struct accsyn` is safe to use from several threads. Login happens on
 * the first call that needs it (and again once if the server reports an
 * expired session).
 */
#ifndef FTRACKFS_ACCSYN_H
#define FTRACKFS_ACCSYN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftrackfs/model.h"
#include "ftrackfs/remote.h"

struct accsyn;

struct accsyn_config {
	const char *workspace;	/* ACCSYN_WORKSPACE, else ACCSYN_DOMAIN / ACCSYN_ORG */
	const char *api_user;	/* ACCSYN_API_USER (an e-mail) */
	const char *api_key;	/* ACCSYN_API_KEY */
	/*
	 * ACCSYN_PROXY: "host:port" or "accsyn:host:port" -> every request,
	 * discovery included, goes to http://host:port without TLS (loopback
	 * only unless transport.allow_insecure_http).
	 */
	const char *proxy;
	/* Skip discovery and use https://hostname:port (port 0 -> 443). */
	const char *hostname;
	int port;
	/* Discovery server; NULL -> "master.accsyn.com". */
	const char *master;
	struct remote_transport transport;
};

/* Fill @cfg from the environment (strings borrowed from it). -ENOENT when
 * no workspace, user or key is set. */
int accsyn_config_from_env(struct accsyn_config *cfg);

/* A client for @cfg (copied). No request is made. -EINVAL on bad config. */
int accsyn_new(const struct accsyn_config *cfg, struct accsyn **ret_a);
void accsyn_free(struct accsyn *a);

/* Text of the last server-reported error (message_hr, else message, else
 * "exception: ..."); returns its -errno code (0 if none). */
int accsyn_last_error(struct accsyn *a, char *buf, size_t len);
uint64_t accsyn_request_count(const struct accsyn *a);

/*
 * accsyn_login() - host discovery (unless proxy/hostname given) and
 * PUT /api/v3/api/login. Done implicitly by every other call; explicit use
 * checks credentials early. Returns 0 or -errno (-EACCES for a bad key).
 */
int accsyn_login(struct accsyn *a);

struct accsyn_kv {
	const char *key;
	const char *value;
};

struct accsyn_task_spec {
	const char *source;		/* "site=hq:proj/seq/sh010/..." */
	const char *destination;	/* "site=la" or "lisa@vendor.com" */
	const char *component_id;	/* NULL, or goes to metadata.ftrack_component_id */
};

struct accsyn_job_spec {
	const char *code;		/* display name; required */
	/*
	 * Client token (required, [A-Za-z0-9_-]{1,64}): stored as
	 * metadata.ftrackfs_token and appended to the code as " #<token>" (no
	 * glob characters, so `code="* #<token>"` finds it), so a restarted
	 * daemon can find a job it may already have submitted.
	 */
	const char *token;
	bool mirror_paths;		/* "mirror_paths": true */
	bool paused;			/* create with "status": "paused" */
	const struct accsyn_task_spec *tasks;
	size_t n_tasks;			/* >= 1 */
	const struct accsyn_kv *metadata;	/* extra string metadata */
	size_t n_metadata;
};

/*
 * accsyn_job_create() - POST job/create. Never retried. On success fills
 * *ret_job (caller releases it with accsyn_job_release()).
 */
int accsyn_job_create(struct accsyn *a, const struct accsyn_job_spec *spec,
		      struct accsyn_job *ret_job);

/*
 * accsyn_job_get() - the job with @job_id, finished or not. Three-way: 1 and
 * *ret_job, 0 when no such job, -errno.
 */
int accsyn_job_get(struct accsyn *a, const char *job_id, struct accsyn_job *ret_job);

/*
 * accsyn_job_find_by_token() - the job created with @token, finished jobs
 * included. 1 and *ret_job, 0 when none, -errno.
 */
int accsyn_job_find_by_token(struct accsyn *a, const char *token, struct accsyn_job *ret_job);

/* PUT job/edit {"status": paused|waiting|aborted}. @ret_job may be NULL. */
int accsyn_job_pause(struct accsyn *a, const char *job_id, struct accsyn_job *ret_job);
int accsyn_job_resume(struct accsyn *a, const char *job_id, struct accsyn_job *ret_job);
int accsyn_job_abort(struct accsyn *a, const char *job_id, struct accsyn_job *ret_job);

/* GET task/find {"parent": job id}. Caller frees with accsyn_task_array_free(). */
int accsyn_job_tasks(struct accsyn *a, const char *job_id, struct accsyn_task **ret, size_t *ret_n);

#endif /* FTRACKFS_ACCSYN_H */
