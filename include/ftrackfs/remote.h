/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote.h - what the ftrack and accsyn clients share: process-wide set-up
 * and the HTTP transport settings.
 *
 * Design note: remote/ owns libcurl and cJSON. Each thread that calls into
 * a client gets its own curl easy handle (thread-local, kept alive between
 * calls so connections are reused); remote_thread_cleanup() releases it.
 * Errors are negative errno values, mapped once in remote/http.c:
 *   timeout -> -ETIMEDOUT, resolve/connect -> -EHOSTUNREACH,
 *   body over the cap -> -EFBIG, TLS failure -> -EPROTO... see http.c,
 *   HTTP 401/403 -> -EACCES, 404 -> -ENOENT, 429/503 -> -EAGAIN,
 *   other 5xx -> -EIO, malformed/mistyped JSON -> -EPROTO,
 *   plain http:// to a non-loopback host without allow_insecure -> -EPERM.
 * API keys are never passed to the log, at any level, and CURLOPT_VERBOSE is
 * never set.
 */
#ifndef FTRACKFS_REMOTE_H
#define FTRACKFS_REMOTE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * remote_global_init() - initialise libcurl. Call once in main(), before any
 * thread starts. Returns 0 or -EIO. Idempotent.
 * remote_global_cleanup() - the reverse, after every thread has stopped.
 */
int remote_global_init(void);
void remote_global_cleanup(void);

/* Free the calling thread's curl handle (call before a worker thread exits). */
void remote_thread_cleanup(void);

#define REMOTE_DEFAULT_MAX_BODY ((size_t)256 << 20)	/* 256 MiB */

/*
 * Transport settings. Zero values mean the defaults shown. Strings are
 * copied by the client constructors.
 */
struct remote_transport {
	long connect_timeout_ms;	/* 10000 */
	long timeout_ms;		/* 120000, whole transfer */
	size_t max_body_bytes;		/* REMOTE_DEFAULT_MAX_BODY; over it: -EFBIG */
	const char *ca_file;		/* NULL: the system CA store */
	bool allow_insecure_http;	/* allow http:// to non-loopback hosts */
	int max_retries;		/* reads only; 0 -> 4, negative -> none */
	long retry_base_ms;		/* 200: first backoff, doubled each time, with jitter */
	long retry_max_ms;		/* 10000: cap of one wait (also caps Retry-After) */
};

#endif /* FTRACKFS_REMOTE_H */
