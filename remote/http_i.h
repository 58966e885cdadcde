/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_i.h - private to remote/: one HTTP exchange over the calling thread's
 * curl easy handle, with a bounded body, timeouts, TLS verification and
 * retries for idempotent requests. No CURLcode leaves http.c.
 */
#ifndef FTRACKFS_REMOTE_HTTP_I_H
#define FTRACKFS_REMOTE_HTTP_I_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftrackfs/remote.h"

/* A transport with its defaults filled in; strings owned. */
struct http_client {
	struct remote_transport t;
	char *ca_file;
	atomic_uint_fast64_t n_requests;	/* HTTP requests actually sent */
};

struct http_request {
	const char *method;		/* "GET", "POST", "PUT", "DELETE" */
	const char *url;
	const char *const *headers;	/* "Name: value"; may hold secrets, never logged */
	size_t n_headers;
	const char *body;		/* NULL for none */
	size_t body_len;
	bool idempotent;		/* may be retried on transient failures */
};

struct http_response {
	long status;		/* HTTP status */
	char *body;		/* owned, NUL-terminated (not counted in body_len) */
	size_t body_len;
};

int http_client_init(struct http_client *c, const struct remote_transport *t);
void http_client_release(struct http_client *c);

/*
 * http_check_url() - 0 for https:// URLs, and for http:// to a loopback
 * host (or any host when @allow_insecure). -EPERM for http:// elsewhere,
 * -EINVAL for anything else.
 */
int http_check_url(const char *url, bool allow_insecure);

/*
 * http_perform() - send @req. Returns 0 with *ret filled whenever an HTTP
 * response arrived (any status: the caller decides what it means), or
 * -errno for transport failures (-ETIMEDOUT, -EHOSTUNREACH, -ECONNRESET for
 * a dropped or truncated reply, -EFBIG over the body cap, -EPROTO for TLS).
 * Idempotent requests are retried with exponential backoff and jitter on
 * timeouts, resets, 5xx and 429 (Retry-After honoured, capped).
 * On failure *ret is untouched.
 */
int http_perform(struct http_client *c, const struct http_request *req, struct http_response *ret);
void http_response_release(struct http_response *r);

/* The single table from HTTP status to errno (2xx -> 0). */
int errno_from_http_status(long status);

/* Percent-encode like Python's urllib.parse.quote (safe "/"). Owned result. */
int http_urlquote(const char *s, size_t len, char **ret);

/* Standard base64 (with padding). Owned result. */
int http_base64(const void *data, size_t len, char **ret);

#ifdef UNIT_TESTING
int errno_from_curl(int curl_code);
#endif

#endif
