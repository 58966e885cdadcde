/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ftrack.h - the ftrack API client (protocols/ftrack.md).
 *
 * One `struct ftrack` per server; it is safe to use from several threads at
 * once (each thread uses its own connection). Every function returns >= 0 on
 * success and -errno on failure:
 *   -EACCES   InvalidCredentialsError, FTAuthenticationError, PermissionError,
 *             HTTP 401/403
 *   -EINVAL   ValidationError, or a bad argument (e.g. a malformed uuid)
 *   -EIO      any other server exception, HTTP 5xx
 *   -EPROTO   a reply that is not the JSON this client expects
 *   -EFBIG    a reply over the body cap
 *   -ETIMEDOUT, -EHOSTUNREACH, -EAGAIN (429/503 after retries), -EPERM
 *             (plain http:// to a non-loopback host), -ENOMEM
 * After a server-reported error, ftrack_last_error() returns its text.
 *
 * Reads (queries) are retried with backoff on timeouts, 5xx and 429; a batch
 * that contains a create, update or delete is never retried blindly.
 */
#ifndef FTRACKFS_FTRACK_H
#define FTRACKFS_FTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ftrackfs/model.h"
#include "ftrackfs/remote.h"

struct ftrack;

#define FTRACK_DEFAULT_PAGE_SIZE 500
/* ids per `id in (...)` clause in the batched helpers */
#define FTRACK_DEFAULT_IN_CHUNK 200

struct ftrack_config {
	const char *server_url;		/* FTRACK_SERVER, e.g. https://studio.ftrackapp.com */
	const char *api_user;		/* FTRACK_API_USER */
	const char *api_key;		/* FTRACK_API_KEY (or FTRACK_APIKEY) */
	unsigned page_size;		/* 0 -> FTRACK_DEFAULT_PAGE_SIZE */
	unsigned in_chunk;		/* 0 -> FTRACK_DEFAULT_IN_CHUNK */
	struct remote_transport transport;
};

/*
 * ftrack_config_from_env() - fill the credentials of @cfg from FTRACK_SERVER,
 * FTRACK_API_USER (falling back to $USER) and FTRACK_API_KEY/FTRACK_APIKEY.
 * Other fields are left as they are. The strings are borrowed from the
 * environment: valid until it changes. Returns 0, or -ENOENT naming nothing
 * (FTRACK_SERVER or the key is missing).
 */
int ftrack_config_from_env(struct ftrack_config *cfg);

/*
 * ftrack_new() - a client for @cfg (copied). Makes no request. Returns 0 and
 * *ret_f, -EINVAL for a missing server/user/key or a malformed URL, -EPERM
 * for http:// to a non-loopback host without transport.allow_insecure_http.
 */
int ftrack_new(const struct ftrack_config *cfg, struct ftrack **ret_f);
void ftrack_free(struct ftrack *f);

/*
 * ftrack_last_error() - copy the text of the last server-reported error on
 * this handle ("<exception>: <content>") into @buf (truncated to @len).
 * Returns the errno-style code that went with it (<= 0; 0 if none). The text
 * never contains credentials.
 */
int ftrack_last_error(struct ftrack *f, char *buf, size_t len);

/*
 * ftrack_server_info() - the handshake (query_server_information), sent once
 * per handle and cached; later calls return the cached values. Any call that
 * talks to the server does it first. @ret_version (may be NULL) receives the
 * server version, copied into @len bytes.
 */
int ftrack_server_info(struct ftrack *f, char *ret_version, size_t len);

/* Number of HTTP requests this handle has sent (for tests and benchmarks). */
uint64_t ftrack_request_count(const struct ftrack *f);

/* ---- Query expressions ------------------------------------------------ */

/*
 * struct ftrack_expr - a bounded query-string builder. Trusted text (keywords,
 * attribute names) goes in through ftrack_expr_raw(); every value goes in
 * through a typed call that quotes and escapes it, so no value can change
 * the meaning of the query. Errors are sticky: after the first failure every
 * call returns that error, so callers may check only ftrack_expr_get().
 * Maximum length 1 MiB (-E2BIG past it).
 */
struct ftrack_expr;

int ftrack_expr_new(struct ftrack_expr **ret_e);
void ftrack_expr_free(struct ftrack_expr *e);
/* Append @text verbatim. Use only for text the program wrote itself. */
int ftrack_expr_raw(struct ftrack_expr *e, const char *text);
/* Append "@value", backslash-escaping `"`, `'` and `\`. -EINVAL for invalid
 * UTF-8 or control characters. */
int ftrack_expr_str(struct ftrack_expr *e, const char *value);
/* Append "@id" after checking it is a UUID (-EINVAL otherwise). */
int ftrack_expr_uuid(struct ftrack_expr *e, const char *id);
/* Append ("id1", "id2", ...); every id checked; @n must be >= 1. */
int ftrack_expr_uuid_list(struct ftrack_expr *e, const char *const *ids, size_t n);
int ftrack_expr_int(struct ftrack_expr *e, int64_t v);
/*
 * ftrack_expr_get() - 0 and *ret_text (borrowed: valid until the next call
 * on @e), or the first error that happened while building.
 */
int ftrack_expr_get(const struct ftrack_expr *e, const char **ret_text);

/*
 * ftrack_quote() - write @value as a quoted, escaped query literal into
 * @buf. Returns the length written, -ENOBUFS if @len is too small, -EINVAL
 * for invalid UTF-8 or control characters.
 */
int ftrack_quote(const char *value, char *buf, size_t len);

/* true when @s is a canonical 36-character UUID (any hex case). */
bool ftrack_is_uuid(const char *s);

/* ---- Decoded entities -------------------------------------------------- */

/*
 * struct ftrack_entity - a borrowed view of one decoded entity of a reply,
 * valid only during the callback that received it. Bare references that
 * the server de-duplicated are resolved through the reply's identity map
 * (type + primary key), so fields of an entity are found wherever in the
 * reply it was fully encoded. The fields are private.
 */
struct ftrack_entity {
	const void *priv_obj;
	const void *priv_graph;
};

/* __entity_type__ and id (borrowed; NULL when absent). */
const char *ftrack_entity_type(const struct ftrack_entity *e);
const char *ftrack_entity_id(const struct ftrack_entity *e);

/*
 * Field getters. @path is an attribute name or a dotted path through scalar
 * relations ("status.state.short", "user.username"). Three-way: 1 and the
 * value when present, 0 when missing or null, -EPROTO when of the wrong type
 * (or an integer past 2^53, a malformed datetime, a path through a
 * non-entity). Strings are borrowed like the entity.
 */
int ftrack_entity_str(const struct ftrack_entity *e, const char *path, const char **ret);
int ftrack_entity_int(const struct ftrack_entity *e, const char *path, int64_t *ret);
int ftrack_entity_bool(const struct ftrack_entity *e, const char *path, bool *ret);
/* {"__type__":"datetime"|"date","value":...} -> ns since epoch, UTC. */
int ftrack_entity_time(const struct ftrack_entity *e, const char *path, int64_t *ret_ns);
/* A scalar relation, resolved. */
int ftrack_entity_ref(const struct ftrack_entity *e, const char *path, struct ftrack_entity *ret);
/* A collection: 1 and its length, 0 missing/null, -EPROTO not an array. */
int ftrack_entity_list_len(const struct ftrack_entity *e, const char *path, size_t *ret_n);
int ftrack_entity_list_at(const struct ftrack_entity *e, const char *path, size_t i,
			  struct ftrack_entity *ret);

/*
 * ftrack_row_fn - receives each row of a query, in order. Return 0 to go
 * on, > 0 to stop early (the query then returns 0), < 0 to abort with that
 * error.
 */
typedef int (*ftrack_row_fn)(const struct ftrack_entity *row, void *userdata);

/*
 * ftrack_query() - run @expr (with no offset/limit of its own), paging with
 * the configured page size: "<expr> offset N limit P", following
 * metadata.next.offset until it is null. @limit caps the rows delivered
 * (0 = all). Rows go to @fn as each page arrives. Returns the number of rows
 * delivered (>= 0, clipped to INT_MAX) or -errno.
 */
int ftrack_query(struct ftrack *f, const char *expr, uint64_t limit,
		 ftrack_row_fn fn, void *userdata);

/* ---- Batches ----------------------------------------------------------- */

enum ftrack_attr_kind {
	FTRACK_ATTR_STR = 0,	/* .str */
	FTRACK_ATTR_INT,	/* .i */
	FTRACK_ATTR_BOOL,	/* .i != 0 */
	FTRACK_ATTR_NULL,
	FTRACK_ATTR_REF,	/* {"__entity_type__": .ref_type, "id": .str} */
	FTRACK_ATTR_DATETIME,	/* .i ns since epoch -> {"__type__":"datetime"} */
};

/* One attribute of a create/update. Strings are copied when added. */
struct ftrack_attr {
	const char *key;
	enum ftrack_attr_kind kind;
	const char *str;
	int64_t i;
	const char *ref_type;
};

/*
 * struct ftrack_batch - several operations sent in one POST. Add operations,
 * send once, then read each operation's result by the index the add
 * returned. The batch is atomic on the server: one failing operation fails
 * the whole request (ftrack_batch_send() returns the error).
 */
struct ftrack_batch;

int ftrack_batch_new(struct ftrack *f, struct ftrack_batch **ret_b);
void ftrack_batch_free(struct ftrack_batch *b);
/* A query sent verbatim (one page: put the limit in @expr). Returns the
 * operation index (>= 0) or -errno. */
int ftrack_batch_query(struct ftrack_batch *b, const char *expr);
/*
 * A create of @type with @attrs. @id is the new primary key; NULL generates
 * a random UUID. When @ret_id is not NULL it receives the id (37 bytes).
 * Returns the operation index or -errno.
 */
int ftrack_batch_create(struct ftrack_batch *b, const char *type, const char *id,
			const struct ftrack_attr *attrs, size_t n_attrs, char ret_id[FTRACK_ID_LEN + 1]);
int ftrack_batch_update(struct ftrack_batch *b, const char *type, const char *id,
			const struct ftrack_attr *attrs, size_t n_attrs);
int ftrack_batch_delete(struct ftrack_batch *b, const char *type, const char *id);
size_t ftrack_batch_count(const struct ftrack_batch *b);
/*
 * ftrack_batch_send() - one POST with every operation. Retried on transient
 * failures only when every operation is a query. Returns 0 or -errno.
 * Sending twice is -EALREADY.
 */
int ftrack_batch_send(struct ftrack_batch *b);
/*
 * ftrack_batch_rows() - after a successful send: deliver the rows of query
 * @idx (or the one entity of a create/update) to @fn. Returns the number of
 * rows, -EINVAL for a bad index, -EPROTO for a malformed result.
 */
int ftrack_batch_rows(struct ftrack_batch *b, size_t idx, ftrack_row_fn fn, void *userdata);
/* Query @idx's metadata.next.offset: 1 and *ret_offset, 0 when none left. */
int ftrack_batch_next_offset(struct ftrack_batch *b, size_t idx, uint64_t *ret_offset);

/* ---- Typed helpers for the filesystem ----------------------------------- */
/*
 * All of these page and batch: id arrays are split into `in (...)` chunks
 * that travel together in one POST per page round. On success they return
 * 0 and a caller-owned array (free with the *_array_free() of model.h);
 * *ret is NULL when *ret_n is 0. On failure nothing is returned. Input ids
 * must be UUIDs (-EINVAL otherwise). Order of results: as the server sends
 * them (queries order by name / version where that makes sense).
 */

int ftrack_list_projects(struct ftrack *f, struct ftrack_project **ret, size_t *ret_n);
/* TypedContext rows whose parent_id is any of @parent_ids (projects or contexts). */
int ftrack_list_child_contexts(struct ftrack *f, const char *const *parent_ids, size_t n,
			       struct ftrack_context **ret, size_t *ret_n);
/* Assets whose context_id is any of @context_ids. */
int ftrack_list_assets(struct ftrack *f, const char *const *context_ids, size_t n,
		       struct ftrack_asset **ret, size_t *ret_n);
/*
 * ftrack_list_level() - one context level: the TypedContext children
 * (as ftrack_list_child_contexts()) and the assets (as ftrack_list_assets())
 * of @parent_ids, in one POST per page round instead of two: each `in (...)`
 * chunk's two queries travel together, and later rounds carry the next page
 * of only the queries that have more rows. On success both arrays are
 * caller-owned (ftrack_context_array_free(), ftrack_asset_array_free()), each
 * NULL when its count is 0; on failure neither is returned.
 */
int ftrack_list_level(struct ftrack *f, const char *const *parent_ids, size_t n,
		      struct ftrack_context **ret_contexts, size_t *ret_n_contexts,
		      struct ftrack_asset **ret_assets, size_t *ret_n_assets);
/* Versions of any of @asset_ids, ordered by version. */
int ftrack_list_versions(struct ftrack *f, const char *const *asset_ids, size_t n,
			 struct ftrack_version **ret, size_t *ret_n);
/*
 * Components of any of @version_ids. Sequence and container components come
 * with their members (fetched in a second round only when such components
 * exist); members are not repeated at top level.
 */
int ftrack_list_components(struct ftrack *f, const char *const *version_ids, size_t n,
			   struct ftrack_component **ret, size_t *ret_n);
/*
 * ftrack_list_versions_and_components() - an asset level and the version
 * level under it at once: the versions of @asset_ids (as
 * ftrack_list_versions()) and the components of those versions (as
 * ftrack_list_components(): top-level ones, sequences padded, members
 * attached), in one POST per page round. The components are found through
 * relations (`version.asset_id in (...)`, `container.version.asset_id in
 * (...)`), so no round waits for the version ids. Group the components by
 * version_id. Both arrays caller-owned as above.
 */
int ftrack_list_versions_and_components(struct ftrack *f, const char *const *asset_ids, size_t n,
					struct ftrack_version **ret_versions, size_t *ret_n_versions,
					struct ftrack_component **ret_components,
					size_t *ret_n_components);
/*
 * ftrack_get_components() - the components whose id is in @ids, each with
 * what places it in the projects tree without walking it: its version
 * (number, date, id), asset (id, name) and the asset's context `link`
 * (project first); for a member of a sequence or container, its container
 * and the container's version. One POST per page round (the rows and the
 * sequences' padding together). Ids that match nothing are left out; order
 * is the server's. Free with ftrack_placed_component_array_free().
 */
int ftrack_get_components(struct ftrack *f, const char *const *ids, size_t n,
			  struct ftrack_placed_component **ret, size_t *ret_n);
/* ComponentLocations of any of @component_ids (all locations). */
int ftrack_list_component_locations(struct ftrack *f, const char *const *component_ids, size_t n,
				    struct ftrack_component_location **ret, size_t *ret_n);
int ftrack_list_locations(struct ftrack *f, struct ftrack_location **ret, size_t *ret_n);

/*
 * ftrack_create_component_location() - register @component_id in
 * @location_id with @resource_identifier (one create; never retried).
 * @ret_id (may be NULL) receives the new id.
 */
int ftrack_create_component_location(struct ftrack *f, const char *component_id,
				     const char *location_id, const char *resource_identifier,
				     char ret_id[FTRACK_ID_LEN + 1]);
/* Delete the ComponentLocation of @component_id in @location_id, if any.
 * Returns 1 deleted, 0 none existed. */
int ftrack_delete_component_location(struct ftrack *f, const char *component_id,
				     const char *location_id);

/*
 * ftrack_create_job() - create a Job {user: the API user, status @status,
 * data: {"description": @description}} as ftrack-send does. The user id is
 * looked up once per handle. @ret_id receives the new id (37 bytes).
 */
int ftrack_create_job(struct ftrack *f, const char *status, const char *description,
		      char ret_id[FTRACK_ID_LEN + 1]);
/* Update a Job's status and/or description (NULL leaves it unchanged). */
int ftrack_update_job(struct ftrack *f, const char *job_id, const char *status,
		      const char *description);

#endif /* FTRACKFS_FTRACK_H */
