/* SPDX-License-Identifier: Apache-2.0 */
/*
 * state.c - component-location state, the send outbox, accsyn jobs.
 *
 *   compstate       component id, NUL, location id -> record
 *   outbox          be64 id                          -> record
 *   outbox_state    u8 state, be64 id                -> (empty)
 *   outbox_pending  component id, NUL, dst location  -> u64 id
 *   jobs            job id                           -> record
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_i.h"
#include "ftrackfs/log.h"

#define REC_BUF 8192
#define PAIRKEY_MAX (2 * CACHE_ID_MAX + 1)

static size_t pairkey(unsigned char *buf, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	memcpy(buf, a, la);
	buf[la] = '\0';
	memcpy(buf + la + 1, b, lb);
	return la + 1 + lb;
}

typedef int (*decode_fn)(const MDB_val *v, void *out);

/*
 * One key under the prefix: fill @out (an array slot) from @key/@val and
 * return 1, return 0 to end the walk there, or < 0 to fail it.
 */
typedef int (*item_fn)(struct cache *c, MDB_txn *txn, const MDB_val *key, const MDB_val *val,
		       void *out, void *ctx);

/*
 * A generic "list everything under a key prefix" into a growing array of
 * @elem-sized items, each filled by @item; an empty prefix walks the whole
 * database.  *@ret_items is malloc'd (NULL when empty), the caller frees it.
 */
static int list_walk(struct cache *c, enum cache_dbi dbi, const void *prefix, size_t prefix_len,
		     item_fn item, void *ctx, size_t elem, void **ret_items)
{
	struct cache_rslot *slot;
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_val key, val;
	unsigned char *items = NULL;
	size_t n = 0, cap = 0;
	int r, rc;

	r = cache_read_begin(c, &txn, &slot);
	if (r < 0)
		return r;
	rc = mdb_cursor_open(txn, c->dbi[dbi], &cur);
	if (rc) {
		r = cache_errno_from_mdb(rc);
		goto out;
	}
	key.mv_data = (void *)prefix;
	key.mv_size = prefix_len;
	rc = mdb_cursor_get(cur, &key, &val, prefix_len ? MDB_SET_RANGE : MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		if (key.mv_size < prefix_len || memcmp(key.mv_data, prefix, prefix_len) != 0)
			break;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			void *p = realloc(items, ncap * elem);

			if (!p) {
				r = -ENOMEM;
				goto out;
			}
			items = p;
			cap = ncap;
		}
		r = item(c, txn, &key, &val, items + n * elem, ctx);
		if (r < 0)
			goto out;
		if (r == 0)
			break;
		n++;
	}
	if (rc && rc != MDB_NOTFOUND) {
		r = cache_errno_from_mdb(rc);
		goto out;
	}
	r = 0;
out:
	if (cur)
		mdb_cursor_close(cur);
	cache_read_end(slot);
	if (r < 0 || n == 0) {
		free(items);
		items = NULL;
	}
	if (r < 0)
		return r;
	*ret_items = items;
	return n > INT32_MAX ? -EOVERFLOW : (int)n;
}

struct decode_ctx {
	decode_fn decode;
};

static int decode_item(struct cache *c, MDB_txn *txn, const MDB_val *key, const MDB_val *val,
		       void *out, void *ctx)
{
	const struct decode_ctx *x = ctx;
	int r = x->decode(val, out);

	(void)c;
	(void)txn;
	(void)key;
	return r < 0 ? r : 1;
}

/* list_walk() decoding each record's value with @decode. */
static int list_prefix(struct cache *c, enum cache_dbi dbi, const void *prefix, size_t prefix_len,
		       decode_fn decode, size_t elem, void **ret_items)
{
	struct decode_ctx x = { .decode = decode };

	return list_walk(c, dbi, prefix, prefix_len, decode_item, &x, elem, ret_items);
}

static int get_one(struct cache *c, enum cache_dbi dbi, const void *k, size_t klen,
		   decode_fn decode, void *out)
{
	struct cache_rslot *slot;
	MDB_txn *txn;
	MDB_val v;
	int r = cache_read_begin(c, &txn, &slot);

	if (r < 0)
		return r;
	r = cache_get_raw(txn, c->dbi[dbi], k, klen, &v);
	if (r == 1)
		r = decode(&v, out) < 0 ? -EUCLEAN : 1;
	cache_read_end(slot);
	return r;
}

struct del_ctx {
	enum cache_dbi dbi;
	const void *k;
	size_t klen;
};

static int del_fn(struct cache *c, MDB_txn *txn, void *ctx)
{
	struct del_ctx *x = ctx;

	return cache_del(txn, c->dbi[x->dbi], x->k, x->klen);
}

/* ---- component-location state ---- */

static int compstate_check(const struct cache_compstate *s)
{
	if (cache_check_str(s->component_id, CACHE_ID_MAX, false) < 0 ||
	    cache_check_str(s->location_id, CACHE_ID_MAX, false) < 0 ||
	    s->state > CACHE_LOC_FAILED ||
	    strnlen(s->resource_identifier, CACHE_PATH_MAX + 1) > CACHE_PATH_MAX ||
	    strnlen(s->job_id, CACHE_ID_MAX + 1) > CACHE_ID_MAX ||
	    strnlen(s->reason, CACHE_REASON_MAX + 1) > CACHE_REASON_MAX)
		return -EINVAL;
	return 0;
}

static size_t compstate_encode(unsigned char *buf, const struct cache_compstate *s)
{
	struct cbuf b = { .p = buf, .cap = REC_BUF };

	cbuf_u8(&b, CACHE_REC_VERSION);
	cbuf_u32(&b, s->state);
	cbuf_u64(&b, s->bytes_done);
	cbuf_u64(&b, s->bytes_total);
	cbuf_u64(&b, (uint64_t)s->time_ns);
	cbuf_str(&b, s->component_id);
	cbuf_str(&b, s->location_id);
	cbuf_str(&b, s->resource_identifier);
	cbuf_str(&b, s->job_id);
	cbuf_str(&b, s->reason);
	return b.len;	/* fits: limits sum far below REC_BUF */
}

static int compstate_decode(const MDB_val *v, void *out)
{
	struct cache_compstate *s = out;
	struct crd r = { .p = v->mv_data, .len = v->mv_size };

	if (crd_u8(&r) != CACHE_REC_VERSION)
		r.bad = true;
	s->state = crd_u32(&r);
	s->bytes_done = crd_u64(&r);
	s->bytes_total = crd_u64(&r);
	s->time_ns = (int64_t)crd_u64(&r);
	crd_str(&r, s->component_id, CACHE_ID_MAX);
	crd_str(&r, s->location_id, CACHE_ID_MAX);
	crd_str(&r, s->resource_identifier, CACHE_PATH_MAX);
	crd_str(&r, s->job_id, CACHE_ID_MAX);
	crd_str(&r, s->reason, CACHE_REASON_MAX);
	if (r.bad || r.off != r.len || s->state > CACHE_LOC_FAILED) {
		log_error(CACHE_LOG, "corrupt component state record");
		return -EUCLEAN;
	}
	return 0;
}

struct cs_ctx {
	const struct cache_compstate *s;
	size_t n;
};

static int compstate_put_fn(struct cache *c, MDB_txn *txn, void *ctx)
{
	struct cs_ctx *x = ctx;
	unsigned char k[PAIRKEY_MAX], v[REC_BUF];

	for (size_t i = 0; i < x->n; i++) {
		size_t klen = pairkey(k, x->s[i].component_id, x->s[i].location_id);
		size_t vlen = compstate_encode(v, &x->s[i]);
		int r = cache_put(txn, c->dbi[DBI_COMP], k, klen, v, vlen, 0);

		if (r < 0)
			return r;
	}
	return 0;
}

int cache_compstate_put(struct cache *c, const struct cache_compstate *states, size_t n)
{
	struct cs_ctx x = { .s = states, .n = n };

	if (!c || (n && !states))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (compstate_check(&states[i]) < 0)
			return -EINVAL;
	}
	return n ? cache_write(c, compstate_put_fn, &x) : 0;
}

int cache_compstate_get(struct cache *c, const char *component_id, const char *location_id,
			struct cache_compstate *ret_state)
{
	unsigned char k[PAIRKEY_MAX];

	if (!c || !ret_state || cache_check_str(component_id, CACHE_ID_MAX, false) < 0 ||
	    cache_check_str(location_id, CACHE_ID_MAX, false) < 0)
		return -EINVAL;
	return get_one(c, DBI_COMP, k, pairkey(k, component_id, location_id), compstate_decode,
		       ret_state);
}

int cache_compstate_list(struct cache *c, const char *component_id,
			 struct cache_compstate **ret_states)
{
	unsigned char k[PAIRKEY_MAX];
	size_t klen;

	if (!c || !ret_states || cache_check_str(component_id, CACHE_ID_MAX, false) < 0)
		return -EINVAL;
	klen = strlen(component_id) + 1;
	memcpy(k, component_id, klen);	/* includes the NUL separator */
	return list_prefix(c, DBI_COMP, k, klen, compstate_decode, sizeof(**ret_states),
			   (void **)ret_states);
}

int cache_compstate_delete(struct cache *c, const char *component_id, const char *location_id)
{
	unsigned char k[PAIRKEY_MAX];
	struct del_ctx x = { .dbi = DBI_COMP, .k = k };

	if (!c || cache_check_str(component_id, CACHE_ID_MAX, false) < 0 ||
	    cache_check_str(location_id, CACHE_ID_MAX, false) < 0)
		return -EINVAL;
	x.klen = pairkey(k, component_id, location_id);
	return cache_write(c, del_fn, &x);
}

/* ---- outbox ---- */

static size_t outbox_encode(unsigned char *buf, const struct cache_outbox *o)
{
	struct cbuf b = { .p = buf, .cap = REC_BUF };

	cbuf_u8(&b, CACHE_REC_VERSION);
	cbuf_u32(&b, o->state);
	cbuf_u64(&b, o->id);
	cbuf_u64(&b, o->size);
	cbuf_u64(&b, (uint64_t)o->created_ns);
	cbuf_u64(&b, (uint64_t)o->updated_ns);
	cbuf_str(&b, o->component_id);
	cbuf_str(&b, o->src_location_id);
	cbuf_str(&b, o->dst_location_id);
	cbuf_str(&b, o->dst_path);
	cbuf_str(&b, o->client_token);
	cbuf_str(&b, o->job_id);
	cbuf_str(&b, o->reason);
	return b.len;
}

static int outbox_decode(const MDB_val *v, void *out)
{
	struct cache_outbox *o = out;
	struct crd r = { .p = v->mv_data, .len = v->mv_size };

	if (crd_u8(&r) != CACHE_REC_VERSION)
		r.bad = true;
	o->state = crd_u32(&r);
	o->id = crd_u64(&r);
	o->size = crd_u64(&r);
	o->created_ns = (int64_t)crd_u64(&r);
	o->updated_ns = (int64_t)crd_u64(&r);
	crd_str(&r, o->component_id, CACHE_ID_MAX);
	crd_str(&r, o->src_location_id, CACHE_ID_MAX);
	crd_str(&r, o->dst_location_id, CACHE_ID_MAX);
	crd_str(&r, o->dst_path, CACHE_PATH_MAX);
	crd_str(&r, o->client_token, CACHE_ID_MAX);
	crd_str(&r, o->job_id, CACHE_ID_MAX);
	crd_str(&r, o->reason, CACHE_REASON_MAX);
	if (r.bad || r.off != r.len || o->state < CACHE_OUTBOX_COLLECTING ||
	    o->state > CACHE_OUTBOX_FAILED) {
		log_error(CACHE_LOG, "corrupt outbox record");
		return -EUCLEAN;
	}
	return 0;
}

static bool is_pending(uint32_t state)
{
	return state != CACHE_OUTBOX_DONE && state != CACHE_OUTBOX_FAILED;
}

static int outbox_write(struct cache *c, MDB_txn *txn, const struct cache_outbox *o)
{
	unsigned char k[8], v[REC_BUF];

	cache_put_be64(k, o->id);
	return cache_put(txn, c->dbi[DBI_OUTBOX], k, 8, v, outbox_encode(v, o), 0);
}

static int state_index(struct cache *c, MDB_txn *txn, uint32_t state, uint64_t id, bool add)
{
	unsigned char k[9];
	int r;

	k[0] = (unsigned char)state;
	cache_put_be64(k + 1, id);
	if (add)
		return cache_put(txn, c->dbi[DBI_OUTBOX_STATE], k, 9, "", 0, 0);
	r = cache_del(txn, c->dbi[DBI_OUTBOX_STATE], k, 9);
	return r < 0 ? r : 0;
}

/* The pending intent id for (component, destination): 1 found, 0 none. */
static int pending_get(struct cache *c, MDB_txn *txn, const char *comp, const char *dst,
		       uint64_t *ret_id)
{
	unsigned char k[PAIRKEY_MAX];
	MDB_val v;
	int r = cache_get_raw(txn, c->dbi[DBI_OUTBOX_PENDING], k, pairkey(k, comp, dst), &v);

	if (r == 1) {
		if (v.mv_size != 8)
			return -EUCLEAN;
		memcpy(ret_id, v.mv_data, 8);
	}
	return r;
}

static int outbox_read(struct cache *c, MDB_txn *txn, uint64_t id, struct cache_outbox *ret)
{
	unsigned char k[8];
	MDB_val v;
	int r;

	cache_put_be64(k, id);
	r = cache_get_raw(txn, c->dbi[DBI_OUTBOX], k, 8, &v);
	if (r == 1)
		r = outbox_decode(&v, ret) < 0 ? -EUCLEAN : 1;
	return r;
}

struct add_ctx {
	const struct cache_outbox *in;
	struct cache_outbox o;	/* scratch, large */
	uint64_t id;
};

static int outbox_add_fn(struct cache *c, MDB_txn *txn, void *ctx)
{
	struct add_ctx *x = ctx;
	unsigned char k[PAIRKEY_MAX];
	uint64_t id;
	int r = pending_get(c, txn, x->in->component_id, x->in->dst_location_id, &x->id);

	if (r != 0)
		return r < 0 ? r : 0;
	r = cache_counter_get(c, txn, "next_outbox", &id);
	if (r < 0)
		return r;
	memset(&x->o, 0, sizeof(x->o));
	x->o.id = id;
	x->o.state = CACHE_OUTBOX_COLLECTING;
	cache_strcpy(x->o.component_id, x->in->component_id, CACHE_ID_MAX);
	cache_strcpy(x->o.src_location_id, x->in->src_location_id, CACHE_ID_MAX);
	cache_strcpy(x->o.dst_location_id, x->in->dst_location_id, CACHE_ID_MAX);
	cache_strcpy(x->o.dst_path, x->in->dst_path, CACHE_PATH_MAX);
	x->o.size = x->in->size;
	x->o.created_ns = x->in->created_ns ? x->in->created_ns : cache_now_ns();
	x->o.updated_ns = x->o.created_ns;
	if ((r = cache_counter_set(c, txn, "next_outbox", id + 1)) < 0 ||
	    (r = outbox_write(c, txn, &x->o)) < 0 ||
	    (r = state_index(c, txn, x->o.state, id, true)) < 0 ||
	    (r = cache_put(txn, c->dbi[DBI_OUTBOX_PENDING], k,
			   pairkey(k, x->o.component_id, x->o.dst_location_id), &id, 8, 0)) < 0)
		return r;
	x->id = id;
	return 1;
}

int cache_outbox_add(struct cache *c, const struct cache_outbox *intent, uint64_t *ret_id)
{
	struct add_ctx *x;
	int r;

	if (!c || !intent || cache_check_str(intent->component_id, CACHE_ID_MAX, false) < 0 ||
	    cache_check_str(intent->dst_location_id, CACHE_ID_MAX, false) < 0 ||
	    strnlen(intent->src_location_id, CACHE_ID_MAX + 1) > CACHE_ID_MAX ||
	    strnlen(intent->dst_path, CACHE_PATH_MAX + 1) > CACHE_PATH_MAX)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->in = intent;
	r = cache_write(c, outbox_add_fn, x);
	if (r >= 0 && ret_id)
		*ret_id = x->id;
	free(x);
	return r;
}

STATIC bool outbox_transition_legal(uint32_t from, uint32_t to)
{
	switch (from) {
	case CACHE_OUTBOX_COLLECTING:
		return to == CACHE_OUTBOX_READY || to == CACHE_OUTBOX_FAILED;
	case CACHE_OUTBOX_READY:
		return to == CACHE_OUTBOX_SUBMITTING || to == CACHE_OUTBOX_FAILED;
	case CACHE_OUTBOX_SUBMITTING:
		return to == CACHE_OUTBOX_SUBMITTED || to == CACHE_OUTBOX_READY ||
		       to == CACHE_OUTBOX_FAILED;
	case CACHE_OUTBOX_SUBMITTED:
		return to == CACHE_OUTBOX_DONE || to == CACHE_OUTBOX_FAILED;
	case CACHE_OUTBOX_FAILED:
		return to == CACHE_OUTBOX_READY;
	default:
		return false;
	}
}

struct tr_ctx {
	const uint64_t *ids;
	size_t n;
	uint32_t from, to;
	const struct cache_outbox_update *upd;
	struct cache_outbox o;
	int64_t now;
};

static int transition_fn(struct cache *c, MDB_txn *txn, void *ctx)
{
	struct tr_ctx *x = ctx;
	const struct cache_outbox_update *u = x->upd;
	unsigned char k[PAIRKEY_MAX];

	for (size_t i = 0; i < x->n; i++) {
		size_t klen;
		uint64_t pid;
		int r = outbox_read(c, txn, x->ids[i], &x->o);

		if (r < 0)
			return r;
		if (r == 0)
			return -ENOENT;
		if (x->o.state != x->from)
			return -EBUSY;
		klen = pairkey(k, x->o.component_id, x->o.dst_location_id);
		if (!is_pending(x->from) && is_pending(x->to)) {
			r = pending_get(c, txn, x->o.component_id, x->o.dst_location_id, &pid);
			if (r < 0)
				return r;
			if (r == 1 && pid != x->o.id)
				return -EEXIST;
			r = cache_put(txn, c->dbi[DBI_OUTBOX_PENDING], k, klen, &x->o.id, 8, 0);
			if (r < 0)
				return r;
		} else if (is_pending(x->from) && !is_pending(x->to)) {
			r = pending_get(c, txn, x->o.component_id, x->o.dst_location_id, &pid);
			if (r < 0)
				return r;
			if (r == 1 && pid == x->o.id &&
			    (r = cache_del(txn, c->dbi[DBI_OUTBOX_PENDING], k, klen)) < 0)
				return r;
		}
		if ((r = state_index(c, txn, x->from, x->o.id, false)) < 0 ||
		    (r = state_index(c, txn, x->to, x->o.id, true)) < 0)
			return r;
		x->o.state = x->to;
		x->o.updated_ns = x->now;
		if (u && u->src_location_id && *u->src_location_id)
			cache_strcpy(x->o.src_location_id, u->src_location_id, CACHE_ID_MAX);
		if (u && u->client_token && *u->client_token)
			cache_strcpy(x->o.client_token, u->client_token, CACHE_ID_MAX);
		if (u && u->job_id && *u->job_id)
			cache_strcpy(x->o.job_id, u->job_id, CACHE_ID_MAX);
		if (u && u->reason && *u->reason)
			cache_strcpy(x->o.reason, u->reason, CACHE_REASON_MAX);
		if (x->to == CACHE_OUTBOX_READY && x->from == CACHE_OUTBOX_FAILED)
			x->o.reason[0] = '\0';	/* a retry starts clean */
		r = outbox_write(c, txn, &x->o);
		if (r < 0)
			return r;
	}
	return 0;
}

int cache_outbox_transition(struct cache *c, const uint64_t *ids, size_t n,
			    enum cache_outbox_state from, enum cache_outbox_state to,
			    const struct cache_outbox_update *upd)
{
	struct tr_ctx *x;
	int r;

	if (!c || (n && !ids) || !outbox_transition_legal(from, to))
		return -EINVAL;
	if (upd && (cache_check_str(upd->src_location_id, CACHE_ID_MAX, true) < 0 ||
		    cache_check_str(upd->client_token, CACHE_ID_MAX, true) < 0 ||
		    cache_check_str(upd->job_id, CACHE_ID_MAX, true) < 0 ||
		    cache_check_str(upd->reason, CACHE_REASON_MAX, true) < 0))
		return -EINVAL;
	if (to == CACHE_OUTBOX_SUBMITTING && (!upd || !upd->client_token || !*upd->client_token))
		return -EINVAL;
	if (to == CACHE_OUTBOX_SUBMITTED && (!upd || !upd->job_id || !*upd->job_id))
		return -EINVAL;
	if (n == 0)
		return 0;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->ids = ids;
	x->n = n;
	x->from = from;
	x->to = to;
	x->upd = upd;
	x->now = cache_now_ns();
	r = cache_write(c, transition_fn, x);
	free(x);
	return r;
}

int cache_outbox_get(struct cache *c, uint64_t id, struct cache_outbox *ret)
{
	unsigned char k[8];

	if (!c || !ret)
		return -EINVAL;
	cache_put_be64(k, id);
	return get_one(c, DBI_OUTBOX, k, 8, outbox_decode, ret);
}

int cache_outbox_find_pending(struct cache *c, const char *component_id,
			      const char *dst_location_id, struct cache_outbox *ret)
{
	struct cache_rslot *slot;
	MDB_txn *txn;
	uint64_t id;
	int r;

	if (!c || !ret || cache_check_str(component_id, CACHE_ID_MAX, false) < 0 ||
	    cache_check_str(dst_location_id, CACHE_ID_MAX, false) < 0)
		return -EINVAL;
	r = cache_read_begin(c, &txn, &slot);
	if (r < 0)
		return r;
	r = pending_get(c, txn, component_id, dst_location_id, &id);
	if (r == 1) {
		r = outbox_read(c, txn, id, ret);
		if (r == 0)
			r = -EUCLEAN;	/* index points nowhere */
	}
	cache_read_end(slot);
	return r;
}

/* An outbox_state key (state, be64 id) -> the record it indexes. */
static int outbox_state_item(struct cache *c, MDB_txn *txn, const MDB_val *key,
			     const MDB_val *val, void *out, void *ctx)
{
	int r;

	(void)val;
	(void)ctx;
	if (key->mv_size != 9)
		return 0;
	r = outbox_read(c, txn, cache_get_be64((unsigned char *)key->mv_data + 1), out);
	return r == 0 ? -EUCLEAN : r;	/* 0: the index points nowhere */
}

int cache_outbox_list(struct cache *c, enum cache_outbox_state state,
		      struct cache_outbox **ret_intents)
{
	unsigned char k[1] = { (unsigned char)state };

	if (!c || !ret_intents || (unsigned int)state > CACHE_OUTBOX_FAILED)
		return -EINVAL;
	/* state 0: walk the records; else walk the state index */
	if (!state)
		return list_prefix(c, DBI_OUTBOX, "", 0, outbox_decode, sizeof(**ret_intents),
				   (void **)ret_intents);
	return list_walk(c, DBI_OUTBOX_STATE, k, 1, outbox_state_item, NULL, sizeof(**ret_intents),
			 (void **)ret_intents);
}

struct odel_ctx {
	uint64_t id;
	struct cache_outbox o;
};

static int outbox_delete_fn(struct cache *c, MDB_txn *txn, void *ctx)
{
	struct odel_ctx *x = ctx;
	unsigned char k[8];
	int r = outbox_read(c, txn, x->id, &x->o);

	if (r <= 0)
		return r;
	if (is_pending(x->o.state))
		return -EBUSY;
	cache_put_be64(k, x->id);
	if ((r = cache_del(txn, c->dbi[DBI_OUTBOX], k, 8)) < 0 ||
	    (r = state_index(c, txn, x->o.state, x->id, false)) < 0)
		return r;
	return 1;
}

int cache_outbox_delete(struct cache *c, uint64_t id)
{
	struct odel_ctx *x;
	int r;

	if (!c)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->id = id;
	r = cache_write(c, outbox_delete_fn, x);
	free(x);
	return r;
}

/* ---- jobs ---- */

static int job_check(const struct cache_job *j)
{
	if (cache_check_str(j->job_id, CACHE_ID_MAX, false) < 0 ||
	    strnlen(j->name, CACHE_JOBNAME_MAX + 1) > CACHE_JOBNAME_MAX ||
	    strnlen(j->status, CACHE_STATUS_MAX + 1) > CACHE_STATUS_MAX ||
	    strnlen(j->ftrack_job_id, CACHE_ID_MAX + 1) > CACHE_ID_MAX ||
	    strnlen(j->client_token, CACHE_ID_MAX + 1) > CACHE_ID_MAX ||
	    strnlen(j->src_location_id, CACHE_ID_MAX + 1) > CACHE_ID_MAX ||
	    strnlen(j->dst_location_id, CACHE_ID_MAX + 1) > CACHE_ID_MAX ||
	    strnlen(j->reason, CACHE_REASON_MAX + 1) > CACHE_REASON_MAX || j->progress > 100)
		return -EINVAL;
	return 0;
}

static size_t job_encode(unsigned char *buf, const struct cache_job *j)
{
	struct cbuf b = { .p = buf, .cap = REC_BUF };

	cbuf_u8(&b, CACHE_REC_VERSION);
	cbuf_u32(&b, j->progress);
	cbuf_u64(&b, j->bytes_done);
	cbuf_u64(&b, j->bytes_total);
	cbuf_u64(&b, (uint64_t)j->created_ns);
	cbuf_u64(&b, (uint64_t)j->updated_ns);
	cbuf_u64(&b, (uint64_t)j->finished_ns);
	cbuf_str(&b, j->job_id);
	cbuf_str(&b, j->name);
	cbuf_str(&b, j->status);
	cbuf_str(&b, j->ftrack_job_id);
	cbuf_str(&b, j->client_token);
	cbuf_str(&b, j->src_location_id);
	cbuf_str(&b, j->dst_location_id);
	cbuf_str(&b, j->reason);
	return b.len;
}

static int job_decode(const MDB_val *v, void *out)
{
	struct cache_job *j = out;
	struct crd r = { .p = v->mv_data, .len = v->mv_size };

	if (crd_u8(&r) != CACHE_REC_VERSION)
		r.bad = true;
	j->progress = crd_u32(&r);
	j->bytes_done = crd_u64(&r);
	j->bytes_total = crd_u64(&r);
	j->created_ns = (int64_t)crd_u64(&r);
	j->updated_ns = (int64_t)crd_u64(&r);
	j->finished_ns = (int64_t)crd_u64(&r);
	crd_str(&r, j->job_id, CACHE_ID_MAX);
	crd_str(&r, j->name, CACHE_JOBNAME_MAX);
	crd_str(&r, j->status, CACHE_STATUS_MAX);
	crd_str(&r, j->ftrack_job_id, CACHE_ID_MAX);
	crd_str(&r, j->client_token, CACHE_ID_MAX);
	crd_str(&r, j->src_location_id, CACHE_ID_MAX);
	crd_str(&r, j->dst_location_id, CACHE_ID_MAX);
	crd_str(&r, j->reason, CACHE_REASON_MAX);
	if (r.bad || r.off != r.len) {
		log_error(CACHE_LOG, "corrupt job record");
		return -EUCLEAN;
	}
	return 0;
}

struct job_ctx {
	const struct cache_job *j;
	unsigned char v[REC_BUF];
};

static int job_put_fn(struct cache *c, MDB_txn *txn, void *ctx)
{
	struct job_ctx *x = ctx;
	size_t vlen = job_encode(x->v, x->j);

	return cache_put(txn, c->dbi[DBI_JOBS], x->j->job_id, strlen(x->j->job_id), x->v, vlen, 0);
}

int cache_job_put(struct cache *c, const struct cache_job *job)
{
	struct job_ctx *x;
	int r;

	if (!c || !job || job_check(job) < 0)
		return -EINVAL;
	x = malloc(sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->j = job;
	r = cache_write(c, job_put_fn, x);
	free(x);
	return r;
}

int cache_job_get(struct cache *c, const char *job_id, struct cache_job *ret)
{
	if (!c || !ret || cache_check_str(job_id, CACHE_ID_MAX, false) < 0)
		return -EINVAL;
	return get_one(c, DBI_JOBS, job_id, strlen(job_id), job_decode, ret);
}

int cache_job_list(struct cache *c, struct cache_job **ret_jobs)
{
	if (!c || !ret_jobs)
		return -EINVAL;
	return list_prefix(c, DBI_JOBS, "", 0, job_decode, sizeof(**ret_jobs), (void **)ret_jobs);
}

int cache_job_delete(struct cache *c, const char *job_id)
{
	struct del_ctx x = { .dbi = DBI_JOBS, .k = job_id };

	if (!c || cache_check_str(job_id, CACHE_ID_MAX, false) < 0)
		return -EINVAL;
	x.klen = strlen(job_id);
	return cache_write(c, del_fn, &x);
}
