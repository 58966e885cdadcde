/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ftrack.c - the ftrack API client: batches, paging, errors, typed helpers.
 *
 * Design note: everything goes through one path, batch_send(): build the
 * operation array, POST it to /api, validate and parse the reply, index its
 * entity graph once. Queries, creates and the typed helpers are thin layers
 * above it. The server-information handshake rides along with the first
 * batch of a handle (one extra operation, no extra request), so it costs
 * nothing and happens once.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ftrackfs/ftrack.h"
#include "ftrackfs/log.h"
#include "ftrackfs/util.h"
#include "ftrack_i.h"
#include "graph_i.h"
#include "http_i.h"
#include "json_i.h"

#define MAX_OPS_PER_ROUND 32

struct ftrack {
	char *server;		/* without trailing '/' */
	char *api_url;		/* server + "/api" */
	char *user;
	char *hdr_user;		/* "ftrack-user: ..." */
	char *hdr_key;		/* "ftrack-api-key: ..." (secret: never logged) */
	unsigned page_size;
	unsigned in_chunk;
	struct http_client http;

	pthread_mutex_t lock;	/* guards the fields below */
	bool have_info;
	char version[64];
	bool have_user_id;
	char user_id[FTRACK_ID_LEN + 1];
	char last_error[512];
	int last_errno;
};

enum op_kind { OP_QUERY, OP_CREATE, OP_UPDATE, OP_DELETE };

struct ftrack_batch {
	struct ftrack *f;
	cJSON *ops;
	enum op_kind *kinds;
	size_t n, cap;
	bool sent;
	struct json_doc *doc;	/* the reply; owns every node below */
	cJSON *reply;		/* the results array, one per op (borrowed from doc) */
	struct graph graph;
};

/* ---- errors ---------------------------------------------------------- */

int ftrack_errno_from_exception(const char *name)
{
	static const struct {
		const char *name;
		int err;
	} table[] = {
		{ "InvalidCredentialsError", -EACCES },
		{ "FTAuthenticationError", -EACCES },
		{ "PermissionError", -EACCES },
		{ "ValidationError", -EINVAL },
	};

	if (!name)
		return -EIO;
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (strcmp(name, table[i].name) == 0)
			return table[i].err;
	return -EIO;
}

static void set_error(struct ftrack *f, int err, const char *text)
{
	pthread_mutex_lock(&f->lock);
	f->last_errno = err;
	snprintf(f->last_error, sizeof(f->last_error), "%s", text ? text : "");
	pthread_mutex_unlock(&f->lock);
}

int ftrack_last_error(struct ftrack *f, char *buf, size_t len)
{
	int err;

	pthread_mutex_lock(&f->lock);
	err = f->last_errno;
	if (buf && len)
		snprintf(buf, len, "%s", f->last_error);
	pthread_mutex_unlock(&f->lock);
	return err;
}

int ftrack_decode_reply(const char *body, size_t len, long status, size_t n_ops,
			struct json_doc **ret_doc, char *err, size_t errlen)
{
	struct json_doc *doc = NULL;
	cJSON *root;
	int r;

	if (err && errlen)
		err[0] = '\0';
	r = json_doc_parse(body, len, &doc);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		if (err && errlen)
			snprintf(err, errlen, "reply is not valid JSON (HTTP %ld, %zu bytes)", status, len);
		/* a non-JSON error page still says what the status means */
		if (status >= 400)
			return errno_from_http_status(status);
		return r;
	}
	root = json_doc_root(doc);
	if (cJSON_IsObject(root)) {
		const char *exc = NULL, *content = NULL;

		if (json_get_str(root, "exception", &exc) == 1) {
			(void)json_get_str(root, "content", &content);
			if (err && errlen)
				snprintf(err, errlen, "%s: %s", exc, content ? content : "");
			r = ftrack_errno_from_exception(exc);
			/* a generic exception: the status may say more (auth, busy) */
			if (r == -EIO && status >= 400 && errno_from_http_status(status) != -EINVAL &&
			    errno_from_http_status(status) != -ENOENT)
				r = errno_from_http_status(status);
			goto fail;
		}
	}
	if (status >= 300 || status < 0) {
		if (err && errlen)
			snprintf(err, errlen, "HTTP status %ld", status);
		r = errno_from_http_status(status);
		if (r == 0)
			r = -EIO;
		goto fail;
	}
	if (!cJSON_IsArray(root) || (size_t)cJSON_GetArraySize(root) != n_ops) {
		if (err && errlen)
			snprintf(err, errlen, "reply is not an array of %zu results", n_ops);
		r = -EPROTO;
		goto fail;
	}
	*ret_doc = doc;
	return 0;
fail:
	json_doc_free(doc);
	return r;
}

/* ---- construction ---------------------------------------------------- */

int ftrack_config_from_env(struct ftrack_config *cfg)
{
	const char *server = getenv("FTRACK_SERVER");
	const char *key = getenv("FTRACK_API_KEY");
	const char *user = getenv("FTRACK_API_USER");

	if (!key || !*key)
		key = getenv("FTRACK_APIKEY");
	if (!user || !*user)
		user = getenv("USER");
	if (!server || !*server || !key || !*key || !user || !*user)
		return -ENOENT;
	cfg->server_url = server;
	cfg->api_user = user;
	cfg->api_key = key;
	return 0;
}

static char *concat(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *s = malloc(na + nb + 1);

	if (!s)
		return NULL;
	memcpy(s, a, na);
	memcpy(s + na, b, nb + 1);
	return s;
}

static bool header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int ftrack_new(const struct ftrack_config *cfg, struct ftrack **ret_f)
{
	struct ftrack *f;
	size_t n;
	int r;

	if (!cfg || !cfg->server_url || !cfg->api_user || !cfg->api_key || !*cfg->api_user ||
	    !*cfg->api_key || !header_safe(cfg->api_user) || !header_safe(cfg->api_key))
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	r = http_client_init(&f->http, &cfg->transport);
	if (r < 0)
		goto fail;
	f->server = strdup(cfg->server_url);
	if (!f->server) {
		r = -ENOMEM;
		goto fail;
	}
	n = strlen(f->server);
	while (n > 0 && f->server[n - 1] == '/')
		f->server[--n] = '\0';
	r = http_check_url(f->server, cfg->transport.allow_insecure_http);
	if (r < 0)
		goto fail;
	f->api_url = concat(f->server, "/api");
	f->user = strdup(cfg->api_user);
	f->hdr_user = concat("ftrack-user: ", cfg->api_user);
	f->hdr_key = concat("ftrack-api-key: ", cfg->api_key);
	if (!f->api_url || !f->user || !f->hdr_user || !f->hdr_key) {
		r = -ENOMEM;
		goto fail;
	}
	f->page_size = cfg->page_size ? cfg->page_size : FTRACK_DEFAULT_PAGE_SIZE;
	f->in_chunk = cfg->in_chunk ? cfg->in_chunk : FTRACK_DEFAULT_IN_CHUNK;
	*ret_f = f;
	return 0;
fail:
	ftrack_free(f);
	return r;
}

void ftrack_free(struct ftrack *f)
{
	if (!f)
		return;
	http_client_release(&f->http);
	free(f->server);
	free(f->api_url);
	free(f->user);
	free(f->hdr_user);
	if (f->hdr_key) {
		explicit_bzero(f->hdr_key, strlen(f->hdr_key));
		free(f->hdr_key);
	}
	pthread_mutex_destroy(&f->lock);
	free(f);
}

uint64_t ftrack_request_count(const struct ftrack *f)
{
	return atomic_load(&((struct ftrack *)f)->http.n_requests);
}

/* ---- the one request path -------------------------------------------- */

/*
 * POST @ops; returns the reply in *ret_doc (caller json_doc_free()s it), its
 * root the results array.
 * The handshake operation is added in front when this handle has not done
 * it yet, and its result removed again.
 */
static int call(struct ftrack *f, cJSON *ops, bool idempotent, struct json_doc **ret_doc)
{
	static const char *const accept = "accept: application/json";
	static const char *const ctype = "content-type: application/json";
	const char *hdrs[4] = { accept, ctype, f->hdr_user, f->hdr_key };
	struct http_response resp = { 0 };
	struct http_request req = {
		.method = "POST",
		.url = f->api_url,
		.headers = hdrs,
		.n_headers = ARRAY_SIZE(hdrs),
		.idempotent = idempotent,
	};
	char err[512];
	struct json_doc *doc = NULL;
	cJSON *hs = NULL;
	char *body = NULL;
	size_t n_ops = (size_t)cJSON_GetArraySize(ops), body_len;
	bool handshake;
	int r;

	pthread_mutex_lock(&f->lock);
	handshake = !f->have_info;
	pthread_mutex_unlock(&f->lock);
	if (handshake) {
		hs = cJSON_CreateObject();
		if (!hs || !cJSON_AddStringToObject(hs, "action", "query_server_information")) {
			cJSON_Delete(hs);
			return -ENOMEM;
		}
		cJSON_InsertItemInArray(ops, 0, hs);	/* ops owns hs now */
		n_ops++;
	}
	r = json_print(ops, &body, &body_len);
	if (handshake)
		cJSON_DeleteItemFromArray(ops, 0);
	if (r < 0)
		return r;
	req.body = body;
	req.body_len = body_len;
	r = http_perform(&f->http, &req, &resp);
	free(body);
	if (r < 0) {
		set_error(f, r, strerror(-r));
		log_debug("ftrack", "request failed: %s", strerror(-r));
		return r;
	}
	r = ftrack_decode_reply(resp.body, resp.body_len, resp.status, n_ops, &doc, err, sizeof(err));
	http_response_release(&resp);
	if (r < 0) {
		set_error(f, r, err);
		return r;
	}
	if (handshake) {
		/* detached, not deleted: its memory belongs to the doc */
		cJSON *info = cJSON_DetachItemFromArray(json_doc_root(doc), 0);
		const char *version = NULL;

		if (json_get_str(info, "version", &version) == 1) {
			pthread_mutex_lock(&f->lock);
			snprintf(f->version, sizeof(f->version), "%s", version);
			f->have_info = true;
			pthread_mutex_unlock(&f->lock);
		}
	}
	*ret_doc = doc;
	return 0;
}

int ftrack_server_info(struct ftrack *f, char *ret_version, size_t len)
{
	bool have;
	int r;

	pthread_mutex_lock(&f->lock);
	have = f->have_info;
	pthread_mutex_unlock(&f->lock);
	if (!have) {
		cJSON *ops = cJSON_CreateArray();
		struct json_doc *doc = NULL;

		if (!ops)
			return -ENOMEM;
		r = call(f, ops, true, &doc);
		cJSON_Delete(ops);
		json_doc_free(doc);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&f->lock);
	have = f->have_info;
	if (ret_version && len)
		snprintf(ret_version, len, "%s", f->version);
	pthread_mutex_unlock(&f->lock);
	return have ? 0 : -EPROTO;
}

/* ---- batches ---------------------------------------------------------- */

int ftrack_batch_new(struct ftrack *f, struct ftrack_batch **ret_b)
{
	struct ftrack_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->f = f;
	b->ops = cJSON_CreateArray();
	if (!b->ops) {
		free(b);
		return -ENOMEM;
	}
	*ret_b = b;
	return 0;
}

void ftrack_batch_free(struct ftrack_batch *b)
{
	if (!b)
		return;
	graph_release(&b->graph);
	json_doc_free(b->doc);
	cJSON_Delete(b->ops);
	free(b->kinds);
	free(b);
}

size_t ftrack_batch_count(const struct ftrack_batch *b)
{
	return b->n;
}

static int add_op(struct ftrack_batch *b, cJSON *op, enum op_kind kind)
{
	if (b->sent) {
		cJSON_Delete(op);
		return -EALREADY;
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8;
		enum op_kind *k = realloc(b->kinds, cap * sizeof(*k));

		if (!k) {
			cJSON_Delete(op);
			return -ENOMEM;
		}
		b->kinds = k;
		b->cap = cap;
	}
	if (b->n >= INT_MAX || !cJSON_AddItemToArray(b->ops, op)) {
		cJSON_Delete(op);
		return -ENOMEM;
	}
	b->kinds[b->n] = kind;
	return (int)b->n++;
}

int ftrack_batch_query(struct ftrack_batch *b, const char *expr)
{
	cJSON *op;

	if (!expr || json_validate_utf8(expr, strlen(expr)) < 0)
		return -EINVAL;
	op = cJSON_CreateObject();
	if (!op || !cJSON_AddStringToObject(op, "action", "query") ||
	    !cJSON_AddStringToObject(op, "expression", expr)) {
		cJSON_Delete(op);
		return -ENOMEM;
	}
	return add_op(b, op, OP_QUERY);
}

static void random_uuid(char out[FTRACK_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[16];
	size_t o = 0;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		/* getrandom() on Linux >= 3.17 does not fail for 16 bytes */
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)(rand() & 0xff);
	}
	rnd[6] = (rnd[6] & 0x0f) | 0x40;
	rnd[8] = (rnd[8] & 0x3f) | 0x80;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[rnd[i] >> 4];
		out[o++] = hex[rnd[i] & 15];
	}
	out[o] = '\0';
}

static int attrs_to_json(cJSON *data, const struct ftrack_attr *attrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct ftrack_attr *a = &attrs[i];
		cJSON *v = NULL;
		char tbuf[32];

		if (!a->key || json_validate_utf8(a->key, strlen(a->key)) < 0)
			return -EINVAL;
		switch (a->kind) {
		case FTRACK_ATTR_STR:
			if (!a->str || json_validate_utf8(a->str, strlen(a->str)) < 0)
				return -EINVAL;
			v = cJSON_CreateString(a->str);
			break;
		case FTRACK_ATTR_INT:
			if (a->i >= (int64_t)1 << 53 || a->i <= -((int64_t)1 << 53))
				return -ERANGE;
			v = cJSON_CreateNumber((double)a->i);
			break;
		case FTRACK_ATTR_BOOL:
			v = cJSON_CreateBool(a->i != 0);
			break;
		case FTRACK_ATTR_NULL:
			v = cJSON_CreateNull();
			break;
		case FTRACK_ATTR_REF:
			if (!a->ref_type || !ftrack_is_uuid(a->str))
				return -EINVAL;
			v = cJSON_CreateObject();
			if (v && (!cJSON_AddStringToObject(v, "__entity_type__", a->ref_type) ||
				  !cJSON_AddStringToObject(v, "id", a->str))) {
				cJSON_Delete(v);
				return -ENOMEM;
			}
			break;
		case FTRACK_ATTR_DATETIME:
			if (json_format_time(a->i, tbuf, sizeof(tbuf)) < 0)
				return -EINVAL;
			v = cJSON_CreateObject();
			if (v && (!cJSON_AddStringToObject(v, "__type__", "datetime") ||
				  !cJSON_AddStringToObject(v, "value", tbuf))) {
				cJSON_Delete(v);
				return -ENOMEM;
			}
			break;
		default:
			return -EINVAL;
		}
		if (!v || !cJSON_AddItemToObject(data, a->key, v)) {
			cJSON_Delete(v);
			return -ENOMEM;
		}
	}
	return 0;
}

static int entity_op(struct ftrack_batch *b, enum op_kind kind, const char *type, const char *id,
		     const struct ftrack_attr *attrs, size_t n_attrs)
{
	static const char *const action[] = { "query", "create", "update", "delete" };
	cJSON *op, *key, *data;
	int r = -ENOMEM;

	if (!type || !*type || json_validate_utf8(type, strlen(type)) < 0 || !ftrack_is_uuid(id))
		return -EINVAL;
	op = cJSON_CreateObject();
	if (!op)
		return -ENOMEM;
	if (!cJSON_AddStringToObject(op, "action", action[kind]) ||
	    !cJSON_AddStringToObject(op, "entity_type", type))
		goto fail;
	key = cJSON_AddArrayToObject(op, "entity_key");
	if (!key || !cJSON_AddItemToArray(key, cJSON_CreateString(id)))
		goto fail;
	if (kind != OP_DELETE) {
		data = cJSON_AddObjectToObject(op, "entity_data");
		if (!data || !cJSON_AddStringToObject(data, "__entity_type__", type))
			goto fail;
		if (kind == OP_CREATE && !cJSON_AddStringToObject(data, "id", id))
			goto fail;
		r = attrs_to_json(data, attrs, n_attrs);
		if (r < 0)
			goto fail;
	}
	return add_op(b, op, kind);
fail:
	cJSON_Delete(op);
	return r;
}

int ftrack_batch_create(struct ftrack_batch *b, const char *type, const char *id,
			const struct ftrack_attr *attrs, size_t n_attrs, char ret_id[FTRACK_ID_LEN + 1])
{
	char gen[FTRACK_ID_LEN + 1];
	int r;

	if (!id) {
		random_uuid(gen);
		id = gen;
	}
	r = entity_op(b, OP_CREATE, type, id, attrs, n_attrs);
	if (r >= 0 && ret_id)
		memcpy(ret_id, id, FTRACK_ID_LEN + 1);
	return r;
}

int ftrack_batch_update(struct ftrack_batch *b, const char *type, const char *id,
			const struct ftrack_attr *attrs, size_t n_attrs)
{
	return entity_op(b, OP_UPDATE, type, id, attrs, n_attrs);
}

int ftrack_batch_delete(struct ftrack_batch *b, const char *type, const char *id)
{
	return entity_op(b, OP_DELETE, type, id, NULL, 0);
}

int ftrack_batch_send(struct ftrack_batch *b)
{
	bool idempotent = true;
	int r;

	if (b->sent)
		return -EALREADY;
	if (b->n == 0)
		return -EINVAL;
	for (size_t i = 0; i < b->n; i++)
		if (b->kinds[i] != OP_QUERY)
			idempotent = false;
	r = call(b->f, b->ops, idempotent, &b->doc);
	if (r < 0)
		return r;
	b->sent = true;
	b->reply = json_doc_root(b->doc);
	r = graph_build(&b->graph, b->reply);
	if (r < 0) {
		json_doc_free(b->doc);
		b->doc = NULL;
		b->reply = NULL;
		set_error(b->f, r, "malformed entity in reply");
	}
	return r;
}

int ftrack_rows_of_result(const cJSON *result, const struct graph *graph, ftrack_row_fn fn,
			  void *userdata, int64_t *ret_next)
{
	const cJSON *data, *row;
	int n = 0, r;

	if (ret_next)
		*ret_next = -1;
	if (!cJSON_IsObject(result))
		return -EPROTO;
	data = cJSON_GetObjectItemCaseSensitive(result, "data");
	if (cJSON_IsBool(data))
		return 0;	/* the result of a delete */
	if (cJSON_IsObject(data)) {
		struct ftrack_entity e = graph_entity(graph, data);

		r = fn ? fn(&e, userdata) : 0;
		return r < 0 ? r : 1;
	}
	if (!cJSON_IsArray(data))
		return -EPROTO;
	if (ret_next) {
		const cJSON *meta = cJSON_GetObjectItemCaseSensitive(result, "metadata");
		const cJSON *next = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "next") : NULL;
		int64_t off;

		if (next && !cJSON_IsNull(next)) {
			if (!cJSON_IsObject(next))
				return -EPROTO;
			r = json_get_int(next, "offset", &off);
			if (r < 0 || (r == 1 && off < 0))
				return -EPROTO;
			if (r == 1)
				*ret_next = off;
		}
	}
	cJSON_ArrayForEach(row, data) {
		struct ftrack_entity e;

		if (!cJSON_IsObject(row))
			return -EPROTO;
		e = graph_entity(graph, row);
		n++;
		if (fn) {
			r = fn(&e, userdata);
			if (r < 0)
				return r;
			if (r > 0)
				break;
		}
	}
	return n;
}

int ftrack_batch_rows(struct ftrack_batch *b, size_t idx, ftrack_row_fn fn, void *userdata)
{
	if (!b->sent || !b->reply || idx >= b->n)
		return -EINVAL;
	return ftrack_rows_of_result(cJSON_GetArrayItem(b->reply, (int)idx), &b->graph, fn,
				     userdata, NULL);
}

int ftrack_batch_next_offset(struct ftrack_batch *b, size_t idx, uint64_t *ret_offset)
{
	int64_t next;
	int r;

	if (!b->sent || !b->reply || idx >= b->n || b->kinds[idx] != OP_QUERY)
		return -EINVAL;
	r = ftrack_rows_of_result(cJSON_GetArrayItem(b->reply, (int)idx), &b->graph, NULL, NULL,
				  &next);
	if (r < 0)
		return r;
	if (next < 0)
		return 0;
	*ret_offset = (uint64_t)next;
	return 1;
}

/* ---- paged queries ----------------------------------------------------- */

struct page_state {
	const char *expr;
	uint64_t offset;
	bool done;
};

/* Rows of one query result, clipped to the caller's limit. */
struct clip {
	ftrack_row_fn fn;
	void *ud;
	uint64_t limit, delivered;
	bool stop;
};

static int clip_row(const struct ftrack_entity *row, void *ud)
{
	struct clip *c = ud;
	int r;

	if (c->limit && c->delivered >= c->limit) {
		c->stop = true;
		return 1;
	}
	c->delivered++;
	r = c->fn ? c->fn(row, c->ud) : 0;
	if (r > 0)
		c->stop = true;
	return r;
}

/*
 * Deliver one page of query @q: its rows to their callback, the offset of
 * the next page into *ret_next (< 0 when there is none). Returns < 0 on
 * error, > 0 to end every query now, 0 to carry on.
 */
typedef int (*page_fn)(size_t q, const cJSON *res, const struct graph *g, int64_t *ret_next,
		       void *ud);

/*
 * Run several paged queries, one POST per round: every unfinished query's
 * next page travels in the same batch.
 */
static int run_paged(struct ftrack *f, struct page_state *qs, size_t nq, unsigned page,
		     page_fn deliver, void *ud)
{
	size_t next_q = 0;

	for (;;) {
		struct ftrack_batch *b = NULL;
		size_t idx[MAX_OPS_PER_ROUND];
		size_t n = 0;
		int r;

		for (size_t i = 0; i < nq && n < MAX_OPS_PER_ROUND; i++) {
			size_t q = (next_q + i) % nq;
			char *e;
			size_t len;

			if (qs[q].done)
				continue;
			if (!b) {
				r = ftrack_batch_new(f, &b);
				if (r < 0)
					return r;
			}
			len = strlen(qs[q].expr) + 64;
			e = malloc(len);
			if (!e) {
				ftrack_batch_free(b);
				return -ENOMEM;
			}
			snprintf(e, len, "%s offset %" PRIu64 " limit %u", qs[q].expr, qs[q].offset, page);
			r = ftrack_batch_query(b, e);
			free(e);
			if (r < 0) {
				ftrack_batch_free(b);
				return r;
			}
			idx[n++] = q;
		}
		if (!b)
			return 0;
		next_q = (idx[n - 1] + 1) % nq;
		r = ftrack_batch_send(b);
		for (size_t i = 0; r >= 0 && i < n; i++) {
			int64_t off;

			r = deliver(idx[i], cJSON_GetArrayItem(b->reply, (int)i), &b->graph, &off, ud);
			if (r < 0)
				break;
			if (off < 0 || (uint64_t)off <= qs[idx[i]].offset) {
				qs[idx[i]].done = true;	/* null, or not moving forward */
			} else {
				qs[idx[i]].offset = (uint64_t)off;
			}
			if (r > 0) {
				ftrack_batch_free(b);
				return 0;
			}
		}
		ftrack_batch_free(b);
		if (r < 0)
			return r;
	}
}

/* A page of ftrack_query()'s one query: rows through the clip, which may end it. */
static int clip_page(size_t q, const cJSON *res, const struct graph *g, int64_t *ret_next,
		     void *ud)
{
	struct clip *clip = ud;
	int r;

	(void)q;
	r = ftrack_rows_of_result(res, g, clip_row, clip, ret_next);
	if (r < 0)
		return r;
	return clip->stop || (clip->limit && clip->delivered >= clip->limit);
}

int ftrack_query(struct ftrack *f, const char *expr, uint64_t limit, ftrack_row_fn fn,
		 void *userdata)
{
	struct page_state q = { .expr = expr };
	struct clip clip = { .fn = fn, .ud = userdata, .limit = limit };
	unsigned page = f->page_size;
	int r;

	if (!expr)
		return -EINVAL;
	if (limit && limit < page)
		page = (unsigned)limit;
	r = run_paged(f, &q, 1, page, clip_page, &clip);
	if (r < 0)
		return r;
	return clip.delivered > INT_MAX ? INT_MAX : (int)clip.delivered;
}

/* One family of `<head><field> in (ids...)<tail>` queries. */
struct in_spec {
	const char *head, *field, *tail;
	const char *const *ids;
	size_t n;
	ftrack_row_fn fn;
	void *ud;
};

/* The specs of run_in_specs() and which spec each of its queries serves. */
struct spec_pages {
	const struct in_spec *specs;
	const size_t *owner;
};

/*
 * A page of one chunk's query: rows to its spec's callback. A callback that
 * stops ends only that page, never the other specs' queries.
 */
static int spec_page(size_t q, const cJSON *res, const struct graph *g, int64_t *ret_next,
		     void *ud)
{
	const struct spec_pages *sp = ud;
	const struct in_spec *spec = &sp->specs[sp->owner[q]];
	int r = ftrack_rows_of_result(res, g, spec->fn, spec->ud, ret_next);

	return r < 0 ? r : 0;
}

/*
 * Every chunk of every spec, paged together: one POST per page round
 * carries the next page of each unfinished chunk (up to MAX_OPS_PER_ROUND).
 */
static int run_in_specs(struct ftrack *f, const struct in_spec *specs, size_t n_specs)
{
	size_t chunk = f->in_chunk, nq = 0, q = 0;
	struct page_state *qs = NULL;
	struct ftrack_expr **ex = NULL;
	size_t *owner = NULL;
	int r = 0;

	for (size_t s = 0; s < n_specs; s++) {
		for (size_t i = 0; i < specs[s].n; i++)
			if (!ftrack_is_uuid(specs[s].ids[i]))
				return -EINVAL;
		nq += (specs[s].n + chunk - 1) / chunk;
	}
	if (nq == 0)
		return 0;
	qs = calloc(nq, sizeof(*qs));
	ex = calloc(nq, sizeof(*ex));
	owner = calloc(nq, sizeof(*owner));
	if (!qs || !ex || !owner) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t s = 0; s < n_specs; s++) {
		for (size_t off = 0; off < specs[s].n; off += chunk, q++) {
			size_t k = specs[s].n - off < chunk ? specs[s].n - off : chunk;

			r = ftrack_expr_new(&ex[q]);
			if (r < 0)
				goto out;
			ftrack_expr_raw(ex[q], specs[s].head);
			ftrack_expr_raw(ex[q], specs[s].field);
			ftrack_expr_raw(ex[q], " in ");
			ftrack_expr_uuid_list(ex[q], specs[s].ids + off, k);
			ftrack_expr_raw(ex[q], specs[s].tail);
			r = ftrack_expr_get(ex[q], &qs[q].expr);
			if (r < 0)
				goto out;
			owner[q] = s;
		}
	}
	r = run_paged(f, qs, nq, f->page_size, spec_page,
		      &(struct spec_pages){ .specs = specs, .owner = owner });
out:
	if (ex)
		for (size_t i = 0; i < nq; i++)
			ftrack_expr_free(ex[i]);
	free(ex);
	free(qs);
	free(owner);
	return r;
}

static int run_in_query(struct ftrack *f, const char *head, const char *field, const char *tail,
			const char *const *ids, size_t n, ftrack_row_fn fn, void *ud)
{
	const struct in_spec spec = { head, field, tail, ids, n, fn, ud };

	return run_in_specs(f, &spec, 1);
}

/* ---- typed decoders ---------------------------------------------------- */

/* Copy string @path into *dst; required fields give -EPROTO when missing. */
static int take_str(const struct ftrack_entity *e, const char *path, char **dst, bool required)
{
	const char *s;
	int r = ftrack_entity_str(e, path, &s);

	if (r < 0)
		return r;
	if (r == 0)
		return required ? -EPROTO : 0;
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

static int take_id(const struct ftrack_entity *e, const char *path, char **dst, bool required)
{
	int r = take_str(e, path, dst, required);

	if (r == 0 && *dst && !ftrack_is_uuid(*dst))
		return -EPROTO;
	return r;
}

#define TRY(x) do { r = (x); if (r < 0) goto fail; } while (0)

int ftrack_decode_project(const struct ftrack_entity *e, struct ftrack_project *p)
{
	int r;

	memset(p, 0, sizeof(*p));
	TRY(take_id(e, "id", &p->id, true));
	TRY(take_str(e, "name", &p->name, true));
	TRY(take_str(e, "full_name", &p->full_name, false));
	return 0;
fail:
	ftrack_project_release(p);
	return r;
}

int ftrack_decode_context(const struct ftrack_entity *e, struct ftrack_context *c)
{
	const char *type = ftrack_entity_type(e);
	int r;

	memset(c, 0, sizeof(*c));
	TRY(take_id(e, "id", &c->id, true));
	TRY(take_str(e, "name", &c->name, true));
	TRY(take_id(e, "parent_id", &c->parent_id, false));
	TRY(take_id(e, "project_id", &c->project_id, false));
	TRY(take_id(e, "object_type_id", &c->object_type_id, false));
	if (type) {
		c->entity_type = strdup(type);
		if (!c->entity_type)
			TRY(-ENOMEM);
	}
	return 0;
fail:
	ftrack_context_release(c);
	return r;
}

int ftrack_decode_asset(const struct ftrack_entity *e, struct ftrack_asset *a)
{
	int r;

	memset(a, 0, sizeof(*a));
	TRY(take_id(e, "id", &a->id, true));
	TRY(take_str(e, "name", &a->name, true));
	TRY(take_id(e, "context_id", &a->context_id, false));
	TRY(take_id(e, "type_id", &a->type_id, false));
	return 0;
fail:
	ftrack_asset_release(a);
	return r;
}

int ftrack_decode_version(const struct ftrack_entity *e, struct ftrack_version *v)
{
	int r;

	memset(v, 0, sizeof(*v));
	TRY(take_id(e, "id", &v->id, true));
	r = ftrack_entity_int(e, "version", &v->version);
	if (r == 0)
		r = -EPROTO;
	if (r < 0 || v->version < 0)
		TRY(-EPROTO);
	TRY(take_id(e, "asset_id", &v->asset_id, false));
	TRY(ftrack_entity_time(e, "date", &v->date_ns));
	TRY(take_str(e, "comment", &v->comment, false));
	TRY(take_id(e, "user_id", &v->user_id, false));
	TRY(take_str(e, "user.username", &v->username, false));
	TRY(take_id(e, "task_id", &v->task_id, false));
	return 0;
fail:
	ftrack_version_release(v);
	return r;
}

int ftrack_decode_component(const struct ftrack_entity *e, struct ftrack_component *c)
{
	const char *type = ftrack_entity_type(e);
	int64_t v;
	int r;

	memset(c, 0, sizeof(*c));
	TRY(take_id(e, "id", &c->id, true));
	TRY(take_str(e, "name", &c->name, true));
	TRY(take_str(e, "file_type", &c->file_type, false));
	if (!c->file_type && !(c->file_type = strdup("")))
		TRY(-ENOMEM);
	r = ftrack_entity_int(e, "size", &v);
	if (r < 0 || (r == 1 && v < 0))
		TRY(-EPROTO);
	c->size = r == 1 ? v : 0;
	TRY(take_str(e, "system_type", &c->system_type, false));
	TRY(take_id(e, "version_id", &c->version_id, false));
	TRY(take_id(e, "container_id", &c->container_id, false));
	r = ftrack_entity_int(e, "padding", &v);
	if (r < 0 || (r == 1 && (v < 0 || v > 32)))
		TRY(-EPROTO);
	c->padding = r == 1 ? (int)v : 0;
	if (type && !(c->entity_type = strdup(type)))
		TRY(-ENOMEM);
	if ((type && strcmp(type, "SequenceComponent") == 0) ||
	    (c->system_type && strcmp(c->system_type, "sequence") == 0))
		c->kind = FTRACK_COMPONENT_SEQUENCE;
	else if ((type && strcmp(type, "ContainerComponent") == 0) ||
		 (c->system_type && strcmp(c->system_type, "container") == 0))
		c->kind = FTRACK_COMPONENT_CONTAINER;
	else
		c->kind = FTRACK_COMPONENT_FILE;
	return 0;
fail:
	ftrack_component_release(c);
	return r;
}

int ftrack_decode_component_location(const struct ftrack_entity *e,
				     struct ftrack_component_location *cl)
{
	int r;

	memset(cl, 0, sizeof(*cl));
	TRY(take_id(e, "id", &cl->id, true));
	TRY(take_id(e, "component_id", &cl->component_id, true));
	TRY(take_id(e, "location_id", &cl->location_id, true));
	TRY(take_str(e, "resource_identifier", &cl->resource_identifier, false));
	return 0;
fail:
	ftrack_component_location_release(cl);
	return r;
}

int ftrack_decode_location(const struct ftrack_entity *e, struct ftrack_location *l)
{
	int r;

	memset(l, 0, sizeof(*l));
	TRY(take_id(e, "id", &l->id, true));
	TRY(take_str(e, "name", &l->name, true));
	TRY(take_str(e, "label", &l->label, false));
	return 0;
fail:
	ftrack_location_release(l);
	return r;
}

/* ---- typed helpers ------------------------------------------------------ */

typedef int (*decode_fn)(const struct ftrack_entity *e, void *out);
typedef void (*release_fn)(void *elem);

struct vec {
	char *a;
	size_t n, cap, size;
	decode_fn decode;
	release_fn release;
};

static int vec_row(const struct ftrack_entity *row, void *ud)
{
	struct vec *v = ud;
	int r;

	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		char *a = realloc(v->a, cap * v->size);

		if (!a)
			return -ENOMEM;
		v->a = a;
		v->cap = cap;
	}
	r = v->decode(row, v->a + v->n * v->size);
	if (r < 0)
		return r;
	v->n++;
	return 0;
}

static void vec_release(struct vec *v)
{
	for (size_t i = 0; i < v->n; i++)
		v->release(v->a + i * v->size);
	free(v->a);
	v->a = NULL;
	v->n = v->cap = 0;
}

static void vec_take(struct vec *v, void **ret, size_t *ret_n)
{
	if (v->n == 0) {
		free(v->a);
		*ret = NULL;
	} else {
		*ret = v->a;
	}
	*ret_n = v->n;
	v->a = NULL;
	v->n = v->cap = 0;
}

#define VEC(type, dec, rel) \
	{ .size = sizeof(type), .decode = (decode_fn)(dec), .release = (release_fn)(rel) }

static int finish(struct ftrack *f, int r, struct vec *v, void **ret, size_t *ret_n,
		  const char *what)
{
	if (r < 0) {
		vec_release(v);
		if (r == -EPROTO) {
			char msg[128];

			snprintf(msg, sizeof(msg), "malformed %s in reply", what);
			set_error(f, r, msg);
		}
		return r;
	}
	vec_take(v, ret, ret_n);
	return 0;
}

int ftrack_list_projects(struct ftrack *f, struct ftrack_project **ret, size_t *ret_n)
{
	struct vec v = VEC(struct ftrack_project, ftrack_decode_project, ftrack_project_release);
	int r = ftrack_query(f, "select id, name, full_name from Project order by name", 0, vec_row, &v);

	return finish(f, r, &v, (void **)ret, ret_n, "Project");
}

#define CONTEXT_SELECT \
	"select id, name, parent_id, project_id, object_type_id, context_type from TypedContext where "
#define ASSET_SELECT "select id, name, context_id, type_id from Asset where "
#define VERSION_SELECT \
	"select id, version, asset_id, date, comment, user_id, user.username, task_id " \
	"from AssetVersion where "

int ftrack_list_child_contexts(struct ftrack *f, const char *const *parent_ids, size_t n,
			       struct ftrack_context **ret, size_t *ret_n)
{
	struct vec v = VEC(struct ftrack_context, ftrack_decode_context, ftrack_context_release);
	int r = run_in_query(f, CONTEXT_SELECT, "parent_id", " order by name", parent_ids, n, vec_row,
			     &v);

	return finish(f, r, &v, (void **)ret, ret_n, "TypedContext");
}

int ftrack_list_assets(struct ftrack *f, const char *const *context_ids, size_t n,
		       struct ftrack_asset **ret, size_t *ret_n)
{
	struct vec v = VEC(struct ftrack_asset, ftrack_decode_asset, ftrack_asset_release);
	int r = run_in_query(f, ASSET_SELECT, "context_id", " order by name", context_ids, n, vec_row,
			     &v);

	return finish(f, r, &v, (void **)ret, ret_n, "Asset");
}

int ftrack_list_level(struct ftrack *f, const char *const *parent_ids, size_t n,
		      struct ftrack_context **ret_contexts, size_t *ret_n_contexts,
		      struct ftrack_asset **ret_assets, size_t *ret_n_assets)
{
	struct vec c = VEC(struct ftrack_context, ftrack_decode_context, ftrack_context_release);
	struct vec a = VEC(struct ftrack_asset, ftrack_decode_asset, ftrack_asset_release);
	/* the same `in (...)` chunks for both: each chunk's two queries share a POST */
	const struct in_spec specs[] = {
		{ CONTEXT_SELECT, "parent_id", " order by name", parent_ids, n, vec_row, &c },
		{ ASSET_SELECT, "context_id", " order by name", parent_ids, n, vec_row, &a },
	};
	int r = run_in_specs(f, specs, ARRAY_SIZE(specs));

	if (r < 0) {
		vec_release(&a);
		return finish(f, r, &c, NULL, NULL, "TypedContext or Asset");
	}
	vec_take(&c, (void **)ret_contexts, ret_n_contexts);
	vec_take(&a, (void **)ret_assets, ret_n_assets);
	return 0;
}

int ftrack_list_versions(struct ftrack *f, const char *const *asset_ids, size_t n,
			 struct ftrack_version **ret, size_t *ret_n)
{
	struct vec v = VEC(struct ftrack_version, ftrack_decode_version, ftrack_version_release);
	int r = run_in_query(f, VERSION_SELECT, "asset_id", " order by version", asset_ids, n, vec_row,
			     &v);

	return finish(f, r, &v, (void **)ret, ret_n, "AssetVersion");
}

#define COMPONENT_SELECT \
	"select id, name, file_type, size, system_type, version_id, container_id from Component where "

/* Padding of sequence components: a second row set, joined by id. */
struct pad {
	char id[FTRACK_ID_LEN + 1];
	int padding;
};

struct padding_list {
	struct pad *a;
	size_t n, cap;
};

static int padding_row(const struct ftrack_entity *row, void *ud)
{
	struct padding_list *p = ud;
	const char *id = ftrack_entity_id(row);
	int64_t pad;
	int r = ftrack_entity_int(row, "padding", &pad);

	if (r < 0 || (r == 1 && (pad < 0 || pad > 32)) || !ftrack_is_uuid(id))
		return -EPROTO;
	if (r == 0)
		return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct pad *a = realloc(p->a, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		p->a = a;
		p->cap = cap;
	}
	memcpy(p->a[p->n].id, id, FTRACK_ID_LEN + 1);
	p->a[p->n++].padding = (int)pad;
	return 0;
}

static int cmp_pad(const void *x, const void *y)
{
	return strcmp(((const struct pad *)x)->id, ((const struct pad *)y)->id);
}

/* Sort once, then padding_of() by binary search. */
static void padding_sort(struct padding_list *p)
{
	if (p->n > 1)
		qsort(p->a, p->n, sizeof(*p->a), cmp_pad);
}

static int padding_of(const struct padding_list *p, const char *id)
{
	struct pad key;
	const struct pad *hit;

	if (!id || p->n == 0 || strlen(id) > FTRACK_ID_LEN)
		return 0;
	memcpy(key.id, id, strlen(id) + 1);
	hit = bsearch(&key, p->a, p->n, sizeof(*p->a), cmp_pad);
	return hit ? hit->padding : 0;
}

static void padding_release(struct padding_list *p)
{
	free(p->a);
	memset(p, 0, sizeof(*p));
}

/* An id -> index map over an array of components, by sorting. */
struct id_index {
	const char *id;
	size_t i;
};

static int cmp_id_index(const void *x, const void *y)
{
	return strcmp(((const struct id_index *)x)->id, ((const struct id_index *)y)->id);
}

static long id_index_find(const struct id_index *ix, size_t n, const char *id)
{
	const struct id_index key = { id, 0 }, *hit;

	if (!id || n == 0)
		return -1;
	hit = bsearch(&key, ix, n, sizeof(*ix), cmp_id_index);
	return hit ? (long)hit->i : -1;
}

/*
 * assemble_components() - the top-level components @a with their sequences'
 * padding from @pads and their members from @m attached (members are moved
 * out of @m), and members that also came as top-level rows dropped. Takes
 * ownership of @a and @m in every case. O((na + nm) log na).
 */
static int assemble_components(struct ftrack_component *a, size_t na, struct ftrack_component *m,
			       size_t nm, struct padding_list *pads, struct ftrack_component **ret,
			       size_t *ret_n)
{
	struct id_index *ix = NULL;
	size_t *cnt = NULL, o = 0;
	bool *drop = NULL;
	int r = -ENOMEM;

	if (na == 0) {
		ftrack_component_array_free(a, na);
		ftrack_component_array_free(m, nm);
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	ix = malloc(na * sizeof(*ix));
	cnt = calloc(na, sizeof(*cnt));
	drop = calloc(na, sizeof(*drop));
	if (!ix || !cnt || !drop)
		goto fail;
	for (size_t i = 0; i < na; i++)
		ix[i] = (struct id_index){ a[i].id, i };
	qsort(ix, na, sizeof(*ix), cmp_id_index);
	padding_sort(pads);
	for (size_t i = 0; i < na; i++)
		if (a[i].kind == FTRACK_COMPONENT_SEQUENCE)
			a[i].padding = padding_of(pads, a[i].id);
	for (size_t j = 0; j < nm; j++) {
		long k = m[j].id ? id_index_find(ix, na, m[j].container_id) : -1;

		if (k >= 0 && a[k].kind != FTRACK_COMPONENT_FILE)
			cnt[k]++;
	}
	for (size_t k = 0; k < na; k++) {
		if (cnt[k] == 0)
			continue;
		a[k].members = calloc(cnt[k], sizeof(*a[k].members));
		if (!a[k].members)
			goto fail;
	}
	for (size_t j = 0; j < nm; j++) {
		long k = m[j].id ? id_index_find(ix, na, m[j].container_id) : -1;

		if (k < 0 || a[k].kind == FTRACK_COMPONENT_FILE)
			continue;
		a[k].members[a[k].n_members++] = m[j];
		memset(&m[j], 0, sizeof(m[j]));
	}
	/* members that also carry a version_id are not repeated at top level */
	for (size_t i = 0; i < na; i++) {
		long k = id_index_find(ix, na, a[i].container_id);

		drop[i] = k >= 0 && (size_t)k != i;
	}
	for (size_t i = 0; i < na; i++) {
		if (drop[i])
			ftrack_component_release(&a[i]);
		else
			a[o++] = a[i];
	}
	r = 0;
	if (o == 0) {
		free(a);
		a = NULL;
	}
	*ret = a;
	*ret_n = o;
	a = NULL;
	na = 0;
fail:
	free(ix);
	free(cnt);
	free(drop);
	ftrack_component_array_free(a, na);
	ftrack_component_array_free(m, nm);
	return r;
}

int ftrack_list_components(struct ftrack *f, const char *const *version_ids, size_t n,
			   struct ftrack_component **ret, size_t *ret_n)
{
	struct vec top = VEC(struct ftrack_component, ftrack_decode_component, ftrack_component_release);
	struct vec mem = VEC(struct ftrack_component, ftrack_decode_component, ftrack_component_release);
	struct padding_list pads = { 0 };
	const struct in_spec first[] = {
		{ COMPONENT_SELECT, "version_id", " order by name", version_ids, n, vec_row, &top },
		{ "select id, padding from SequenceComponent where ", "version_id", "", version_ids, n,
		  padding_row, &pads },
	};
	struct ftrack_component *a = NULL, *m = NULL;
	const char **cids = NULL;
	size_t na = 0, nm = 0, nc = 0;
	int r;

	/* one round trip for the components and the sequences' padding */
	r = run_in_specs(f, first, ARRAY_SIZE(first));
	r = finish(f, r, &top, (void **)&a, &na, "Component");
	if (r < 0)
		goto fail;
	cids = calloc(na + 1, sizeof(*cids));
	if (!cids) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < na; i++)
		if (a[i].kind != FTRACK_COMPONENT_FILE)
			cids[nc++] = a[i].id;
	if (nc > 0) {
		/* a second round only when there are containers */
		r = run_in_query(f, COMPONENT_SELECT, "container_id", " order by name", cids, nc,
				 vec_row, &mem);
		r = finish(f, r, &mem, (void **)&m, &nm, "Component");
		if (r < 0)
			goto fail;
	}
	free(cids);
	r = assemble_components(a, na, m, nm, &pads, ret, ret_n);
	padding_release(&pads);
	return r;
fail:
	free(cids);
	padding_release(&pads);
	ftrack_component_array_free(m, nm);
	ftrack_component_array_free(a, na);
	return r;
}

int ftrack_list_versions_and_components(struct ftrack *f, const char *const *asset_ids, size_t n,
					struct ftrack_version **ret_versions, size_t *ret_n_versions,
					struct ftrack_component **ret_components,
					size_t *ret_n_components)
{
	struct vec ver = VEC(struct ftrack_version, ftrack_decode_version, ftrack_version_release);
	struct vec top = VEC(struct ftrack_component, ftrack_decode_component, ftrack_component_release);
	struct vec mem = VEC(struct ftrack_component, ftrack_decode_component, ftrack_component_release);
	struct padding_list pads = { 0 };
	/*
	 * Relations in the criteria reach the components (and the members of
	 * containers) straight from the asset ids, so nothing waits for the
	 * version ids: one POST per page round for all four row sets.
	 */
	const struct in_spec specs[] = {
		{ VERSION_SELECT, "asset_id", " order by version", asset_ids, n, vec_row, &ver },
		{ COMPONENT_SELECT, "version.asset_id", " order by name", asset_ids, n, vec_row, &top },
		{ "select id, padding from SequenceComponent where ", "version.asset_id", "", asset_ids, n,
		  padding_row, &pads },
		{ COMPONENT_SELECT, "container.version.asset_id", " order by name", asset_ids, n, vec_row,
		  &mem },
	};
	struct ftrack_version *v = NULL;
	struct ftrack_component *a = NULL, *m = NULL, *c = NULL;
	size_t nv = 0, na = 0, nm = 0, nc = 0;
	int r = run_in_specs(f, specs, ARRAY_SIZE(specs));

	if (r < 0) {
		vec_release(&ver);
		vec_release(&top);
		padding_release(&pads);
		return finish(f, r, &mem, NULL, NULL, "AssetVersion or Component");
	}
	vec_take(&ver, (void **)&v, &nv);
	vec_take(&top, (void **)&a, &na);
	vec_take(&mem, (void **)&m, &nm);
	r = assemble_components(a, na, m, nm, &pads, &c, &nc);
	padding_release(&pads);
	if (r < 0) {
		ftrack_version_array_free(v, nv);
		return r;
	}
	*ret_versions = v;
	*ret_n_versions = nv;
	*ret_components = c;
	*ret_n_components = nc;
	return 0;
}

/* ---- components by id, placed in the tree ------------------------------ */

#define PLACE_VERSION(rel) \
	rel ".version, " rel ".date, " rel ".asset_id, " rel ".asset.name, " rel ".asset.parent.link"

#define PLACED_SELECT \
	"select id, name, file_type, size, system_type, version_id, container_id, " \
	PLACE_VERSION("version") ", container.name, container.file_type, container.size, " \
	"container.system_type, container.version_id, container.container_id, " \
	PLACE_VERSION("container.version") " from Component where "

static int decode_link_item(const struct ftrack_entity *it, struct ftrack_link *l)
{
	int r;

	memset(l, 0, sizeof(*l));
	TRY(take_id(it, "id", &l->id, true));
	TRY(take_str(it, "name", &l->name, false));
	if (!l->name && !(l->name = strdup("")))
		TRY(-ENOMEM);
	TRY(take_str(it, "type", &l->type, false));
	return 0;
fail:
	ftrack_link_release(l);
	return r;
}

/*
 * `link` at @path: a JSON array of {id, name, type}, or (the schema declares
 * it a string) that array as JSON text. 0 with *ret NULL when absent.
 */
static int decode_link(const struct ftrack_entity *e, const char *path, struct ftrack_link **ret,
		       size_t *ret_n)
{
	struct json_doc *doc = NULL;
	const cJSON *arr = NULL, *item;
	struct ftrack_link *l = NULL;
	const char *text;
	size_t n = 0, k = 0;
	int r = ftrack_entity_list_len(e, path, &n);

	*ret = NULL;
	*ret_n = 0;
	if (r == -EPROTO && ftrack_entity_str(e, path, &text) == 1) {
		r = json_doc_parse(text, strlen(text), &doc);
		if (r < 0)
			return r == -ENOMEM ? r : -EPROTO;
		arr = json_doc_root(doc);
		if (!cJSON_IsArray(arr)) {
			json_doc_free(doc);
			return -EPROTO;
		}
		n = (size_t)cJSON_GetArraySize(arr);
		r = 1;
	}
	if (r <= 0 || n == 0)
		return r;
	l = calloc(n, sizeof(*l));
	if (!l) {
		r = -ENOMEM;
		goto out;
	}
	if (arr) {
		cJSON_ArrayForEach(item, arr) {
			struct ftrack_entity it = { .priv_obj = item, .priv_graph = NULL };

			r = cJSON_IsObject(item) ? decode_link_item(&it, &l[k]) : -EPROTO;
			if (r < 0)
				goto out;
			k++;
		}
	} else {
		for (; k < n; k++) {
			struct ftrack_entity it;

			r = ftrack_entity_list_at(e, path, k, &it);
			if (r == 0)
				r = -EPROTO;
			if (r > 0)
				r = decode_link_item(&it, &l[k]);
			if (r < 0)
				goto out;
		}
	}
	*ret = l;
	*ret_n = k;
	l = NULL;
	r = 0;
out:
	ftrack_link_array_free(l, k);
	json_doc_free(doc);
	return r;
}

int ftrack_decode_placed_component(const struct ftrack_entity *e,
				   struct ftrack_placed_component *pc)
{
	const char *rel = "version";
	struct ftrack_entity cont;
	char path[64];
	int r;

	memset(pc, 0, sizeof(*pc));
	TRY(ftrack_decode_component(e, &pc->component));
	if (pc->component.container_id) {
		TRY(ftrack_entity_ref(e, "container", &cont));
		if (r == 1) {
			TRY(ftrack_decode_component(&cont, &pc->container));
			rel = "container.version";	/* a member sits under its container's version */
		}
	}
	snprintf(path, sizeof(path), "%s.id", rel);
	TRY(take_id(e, path, &pc->version_id, false));
	if (!pc->version_id)
		return 0;
	snprintf(path, sizeof(path), "%s.version", rel);
	r = ftrack_entity_int(e, path, &pc->version);
	if (r <= 0 || pc->version < 0)
		TRY(-EPROTO);
	snprintf(path, sizeof(path), "%s.date", rel);
	TRY(ftrack_entity_time(e, path, &pc->version_date_ns));
	snprintf(path, sizeof(path), "%s.asset_id", rel);
	TRY(take_id(e, path, &pc->asset_id, false));
	snprintf(path, sizeof(path), "%s.asset.name", rel);
	TRY(take_str(e, path, &pc->asset_name, false));
	snprintf(path, sizeof(path), "%s.asset.parent.link", rel);
	TRY(decode_link(e, path, &pc->link, &pc->n_link));
	return 0;
fail:
	ftrack_placed_component_release(pc);
	return r;
}

int ftrack_get_components(struct ftrack *f, const char *const *ids, size_t n,
			  struct ftrack_placed_component **ret, size_t *ret_n)
{
	struct vec v = VEC(struct ftrack_placed_component, ftrack_decode_placed_component,
			   ftrack_placed_component_release);
	struct padding_list pads = { 0 };
	/* the rows, the padding of sequences among them and of members' sequences: one POST */
	const struct in_spec specs[] = {
		{ PLACED_SELECT, "id", "", ids, n, vec_row, &v },
		{ "select id, padding from SequenceComponent where ", "id", "", ids, n, padding_row,
		  &pads },
		{ "select id, padding from SequenceComponent where members any (", "id", ")", ids, n,
		  padding_row, &pads },
	};
	struct ftrack_placed_component *a = NULL;
	size_t na = 0;
	int r = run_in_specs(f, specs, ARRAY_SIZE(specs));

	r = finish(f, r, &v, (void **)&a, &na, "Component");
	if (r < 0) {
		padding_release(&pads);
		return r;
	}
	padding_sort(&pads);
	for (size_t i = 0; i < na; i++) {
		if (a[i].component.kind == FTRACK_COMPONENT_SEQUENCE)
			a[i].component.padding = padding_of(&pads, a[i].component.id);
		if (a[i].container.kind == FTRACK_COMPONENT_SEQUENCE)
			a[i].container.padding = padding_of(&pads, a[i].container.id);
	}
	padding_release(&pads);
	*ret = a;
	*ret_n = na;
	return 0;
}

int ftrack_list_component_locations(struct ftrack *f, const char *const *component_ids, size_t n,
				    struct ftrack_component_location **ret, size_t *ret_n)
{
	struct vec v = VEC(struct ftrack_component_location, ftrack_decode_component_location,
			   ftrack_component_location_release);
	int r = run_in_query(f,
			     "select id, component_id, location_id, resource_identifier "
			     "from ComponentLocation where ",
			     "component_id", "", component_ids, n, vec_row, &v);

	return finish(f, r, &v, (void **)ret, ret_n, "ComponentLocation");
}

int ftrack_list_locations(struct ftrack *f, struct ftrack_location **ret, size_t *ret_n)
{
	struct vec v = VEC(struct ftrack_location, ftrack_decode_location, ftrack_location_release);
	int r = ftrack_query(f, "select id, name, label from Location order by name", 0, vec_row, &v);

	return finish(f, r, &v, (void **)ret, ret_n, "Location");
}

/* ---- writes ----------------------------------------------------------- */

static int send_one(struct ftrack_batch *b, int op)
{
	int r;

	if (op < 0)
		return op;
	r = ftrack_batch_send(b);
	if (r < 0)
		return r;
	r = ftrack_batch_rows(b, (size_t)op, NULL, NULL);
	return r < 0 ? r : 0;
}

int ftrack_create_component_location(struct ftrack *f, const char *component_id,
				     const char *location_id, const char *resource_identifier,
				     char ret_id[FTRACK_ID_LEN + 1])
{
	const struct ftrack_attr attrs[] = {
		{ .key = "component_id", .kind = FTRACK_ATTR_STR, .str = component_id },
		{ .key = "location_id", .kind = FTRACK_ATTR_STR, .str = location_id },
		{ .key = "resource_identifier", .kind = FTRACK_ATTR_STR, .str = resource_identifier },
	};
	char id[FTRACK_ID_LEN + 1];
	struct ftrack_batch *b;
	int r;

	if (!ftrack_is_uuid(component_id) || !ftrack_is_uuid(location_id) || !resource_identifier)
		return -EINVAL;
	r = ftrack_batch_new(f, &b);
	if (r < 0)
		return r;
	r = send_one(b, ftrack_batch_create(b, "ComponentLocation", NULL, attrs, ARRAY_SIZE(attrs), id));
	ftrack_batch_free(b);
	if (r == 0 && ret_id)
		memcpy(ret_id, id, sizeof(id));
	return r;
}

static int collect_id(const struct ftrack_entity *row, void *ud)
{
	char *out = ud;
	const char *id = ftrack_entity_id(row);

	if (!ftrack_is_uuid(id))
		return -EPROTO;
	memcpy(out, id, FTRACK_ID_LEN + 1);
	return 1;
}

int ftrack_delete_component_location(struct ftrack *f, const char *component_id,
				     const char *location_id)
{
	char id[FTRACK_ID_LEN + 1] = "";
	struct ftrack_expr *e;
	struct ftrack_batch *b;
	const char *q;
	int r;

	r = ftrack_expr_new(&e);
	if (r < 0)
		return r;
	ftrack_expr_raw(e, "select id from ComponentLocation where component_id is ");
	ftrack_expr_uuid(e, component_id);
	ftrack_expr_raw(e, " and location_id is ");
	ftrack_expr_uuid(e, location_id);
	r = ftrack_expr_get(e, &q);
	if (r == 0)
		r = ftrack_query(f, q, 1, collect_id, id);
	ftrack_expr_free(e);
	if (r <= 0)
		return r;
	r = ftrack_batch_new(f, &b);
	if (r < 0)
		return r;
	r = send_one(b, ftrack_batch_delete(b, "ComponentLocation", id));
	ftrack_batch_free(b);
	return r < 0 ? r : 1;
}

static int api_user_id(struct ftrack *f, char out[FTRACK_ID_LEN + 1])
{
	struct ftrack_expr *e;
	const char *q;
	char id[FTRACK_ID_LEN + 1] = "";
	int r;

	pthread_mutex_lock(&f->lock);
	if (f->have_user_id) {
		memcpy(out, f->user_id, sizeof(f->user_id));
		pthread_mutex_unlock(&f->lock);
		return 0;
	}
	pthread_mutex_unlock(&f->lock);
	r = ftrack_expr_new(&e);
	if (r < 0)
		return r;
	ftrack_expr_raw(e, "select id from User where username is ");
	ftrack_expr_str(e, f->user);
	r = ftrack_expr_get(e, &q);
	if (r == 0)
		r = ftrack_query(f, q, 1, collect_id, id);
	ftrack_expr_free(e);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	pthread_mutex_lock(&f->lock);
	memcpy(f->user_id, id, sizeof(id));
	f->have_user_id = true;
	pthread_mutex_unlock(&f->lock);
	memcpy(out, id, sizeof(id));
	return 0;
}

static char *job_data(const char *description)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	if (o && cJSON_AddStringToObject(o, "description", description))
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

int ftrack_create_job(struct ftrack *f, const char *status, const char *description,
		      char ret_id[FTRACK_ID_LEN + 1])
{
	char user[FTRACK_ID_LEN + 1], id[FTRACK_ID_LEN + 1];
	struct ftrack_batch *b;
	char *data;
	int r;

	if (!status || !description || json_validate_utf8(description, strlen(description)) < 0)
		return -EINVAL;
	r = api_user_id(f, user);
	if (r < 0)
		return r;
	data = job_data(description);
	if (!data)
		return -ENOMEM;
	{
		const struct ftrack_attr attrs[] = {
			{ .key = "user", .kind = FTRACK_ATTR_REF, .ref_type = "User", .str = user },
			{ .key = "status", .kind = FTRACK_ATTR_STR, .str = status },
			{ .key = "data", .kind = FTRACK_ATTR_STR, .str = data },
		};

		r = ftrack_batch_new(f, &b);
		if (r == 0) {
			r = send_one(b, ftrack_batch_create(b, "Job", NULL, attrs, ARRAY_SIZE(attrs), id));
			ftrack_batch_free(b);
		}
	}
	cJSON_free(data);
	if (r == 0 && ret_id)
		memcpy(ret_id, id, sizeof(id));
	return r;
}

int ftrack_update_job(struct ftrack *f, const char *job_id, const char *status,
		      const char *description)
{
	struct ftrack_attr attrs[2];
	struct ftrack_batch *b;
	char *data = NULL;
	size_t n = 0;
	int r;

	if (!ftrack_is_uuid(job_id) || (!status && !description))
		return -EINVAL;
	if (status)
		attrs[n++] = (struct ftrack_attr){ .key = "status", .kind = FTRACK_ATTR_STR, .str = status };
	if (description) {
		if (json_validate_utf8(description, strlen(description)) < 0)
			return -EINVAL;
		data = job_data(description);
		if (!data)
			return -ENOMEM;
		attrs[n++] = (struct ftrack_attr){ .key = "data", .kind = FTRACK_ATTR_STR, .str = data };
	}
	r = ftrack_batch_new(f, &b);
	if (r == 0) {
		r = send_one(b, ftrack_batch_update(b, "Job", job_id, attrs, n));
		ftrack_batch_free(b);
	}
	cJSON_free(data);
	return r;
}
