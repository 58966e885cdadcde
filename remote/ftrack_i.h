/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ftrack_i.h - private to remote/: the reply decoders of the ftrack client,
 * reachable from unit tests and fuzz targets.
 */
#ifndef FTRACKFS_REMOTE_FTRACK_I_H
#define FTRACKFS_REMOTE_FTRACK_I_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ftrackfs/ftrack.h"

/*
 * ftrack_decode_reply() - check the raw reply to a batch of @n_ops
 * operations: valid JSON; an error object mapped to -errno with its text in
 * @err; otherwise an array of exactly @n_ops results. 0 and *ret_doc (caller
 * json_doc_free()s it; its root is the results array) or -errno.
 * @status is the HTTP status (0 if unknown).
 */
struct json_doc;
int ftrack_decode_reply(const char *body, size_t len, long status, size_t n_ops,
			struct json_doc **ret_doc, char *err, size_t errlen);

/* The exception-name -> errno table. */
int ftrack_errno_from_exception(const char *name);

/* One typed decoder per model struct: 0, or -EPROTO for a missing id or a
 * wrong type (then *ret is released). */
int ftrack_decode_project(const struct ftrack_entity *e, struct ftrack_project *ret);
int ftrack_decode_context(const struct ftrack_entity *e, struct ftrack_context *ret);
int ftrack_decode_asset(const struct ftrack_entity *e, struct ftrack_asset *ret);
int ftrack_decode_version(const struct ftrack_entity *e, struct ftrack_version *ret);
int ftrack_decode_component(const struct ftrack_entity *e, struct ftrack_component *ret);
int ftrack_decode_component_location(const struct ftrack_entity *e,
				     struct ftrack_component_location *ret);
int ftrack_decode_location(const struct ftrack_entity *e, struct ftrack_location *ret);
/* A component with its version, asset and the asset's context link, as
 * ftrack_get_components() selects them (padding is not set here). */
int ftrack_decode_placed_component(const struct ftrack_entity *e,
				   struct ftrack_placed_component *ret);

/*
 * ftrack_rows_of_result() - deliver the rows of one result object (query:
 * its data array; create/update: its data object) to @fn, resolving
 * references through the identity map @graph. Returns rows delivered or
 * -errno. ret_next (may be NULL) gets metadata.next.offset or -1.
 */
struct graph;
int ftrack_rows_of_result(const cJSON *result, const struct graph *graph, ftrack_row_fn fn,
			  void *userdata, int64_t *ret_next);

#endif
