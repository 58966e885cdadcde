/* SPDX-License-Identifier: Apache-2.0 */
/*
 * accsyn_i.h - private to remote/: the accsyn reply decoders, reachable from
 * unit tests and fuzz targets.
 */
#ifndef FTRACKFS_REMOTE_ACCSYN_I_H
#define FTRACKFS_REMOTE_ACCSYN_I_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "ftrackfs/model.h"

/*
 * accsyn_decode_reply() - decide a reply by its JSON keys: "result" is
 * success (0, *ret_root owned by the caller, *ret_result borrowed from it);
 * "exception" -> -EIO; "message"/"message_hr" -> -EACCES for HTTP 401/403,
 * -EAGAIN for 429, -EIO for 5xx, else -EINVAL; anything else -EPROTO.
 * The error text goes to @err. *ret_expired is set when the server said
 * session_expired.
 */
int accsyn_decode_reply(const char *body, size_t len, long status, cJSON **ret_root,
			const cJSON **ret_result, bool *ret_expired, char *err, size_t errlen);

/* A job or task dict -> struct. 0 or -EPROTO/-ENOMEM (then *ret is released). */
int accsyn_decode_job(const cJSON *obj, struct accsyn_job *ret);
int accsyn_decode_task(const cJSON *obj, struct accsyn_task *ret);

/* "basic <b64(user)>:<b64(key)>" (owned). */
int accsyn_auth_header(const char *user, const char *key, char **ret);

#endif
