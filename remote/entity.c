/* SPDX-License-Identifier: Apache-2.0 */
/*
 * entity.c - the identity map of a reply and the ftrack_entity_* getters.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ftrackfs/ftrack.h"
#include "graph_i.h"
#include "json_i.h"

/* Fold @s into @h eight bytes at a time (ids are 36 bytes: 5 rounds, not 36). */
static uint64_t hash_str(uint64_t h, const char *s)
{
	size_t n = strlen(s);
	uint64_t w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w ^ ((uint64_t)n << 59)) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

static uint64_t hash2(const char *a, const char *b)
{
	uint64_t h = hash_str(hash_str(0x243f6a8885a308d3ULL, a), b);

	/*
	 * The rounds above leave the low bits (the slot index) depending mostly
	 * on the last word; ids that differ only there would cluster. A final
	 * avalanche (murmur3 fmix64) spreads every bit.
	 */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static struct graph_entry *slot_hashed(const struct graph *g, uint64_t h, const char *type,
				       const char *id)
{
	size_t mask = g->cap - 1, i = h & mask;

	for (;;) {
		struct graph_entry *e = &g->slots[i];

		if (!e->type ||
		    (e->hash == h && strcmp(e->id, id) == 0 && strcmp(e->type, type) == 0))
			return e;
		i = (i + 1) & mask;
	}
}

static struct graph_entry *slot_for(const struct graph *g, const char *type, const char *id)
{
	return slot_hashed(g, hash2(type, id), type, id);
}

static int grow(struct graph *g)
{
	struct graph old = *g;
	size_t cap = g->cap ? g->cap * 2 : 64;

	g->slots = calloc(cap, sizeof(*g->slots));
	if (!g->slots) {
		g->slots = old.slots;
		return -ENOMEM;
	}
	g->cap = cap;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].type)
			*slot_hashed(g, old.slots[i].hash, old.slots[i].type, old.slots[i].id) =
				old.slots[i];
	free(old.slots);
	return 0;
}

static int add(struct graph *g, const char *type, const char *id, const cJSON *obj)
{
	struct graph_entry *e;
	uint64_t h;
	int r;

	if ((g->n + 1) * 10 > g->cap * 7) {
		r = grow(g);
		if (r < 0)
			return r;
	}
	h = hash2(type, id);
	e = slot_hashed(g, h, type, id);
	if (!e->type) {
		e->hash = h;
		e->type = type;
		e->id = id;
		e->first = obj;
		g->n++;
		return 0;
	}
	if (e->n_more == e->cap_more) {
		size_t cap = e->cap_more ? e->cap_more * 2 : 2;
		const cJSON **m = realloc(e->more, cap * sizeof(*m));

		if (!m)
			return -ENOMEM;
		e->more = m;
		e->cap_more = cap;
	}
	e->more[e->n_more++] = obj;
	return 0;
}

/* Depth is bounded by the parser (JSON_MAX_DEPTH). */
static int walk(struct graph *g, const cJSON *v)
{
	const cJSON *c;
	int r;

	if (cJSON_IsObject(v)) {
		const cJSON *t = NULL, *id = NULL;

		/* both keys in one pass over the members (first match, as json_item) */
		for (c = v->child; c && (!t || !id); c = c->next) {
			const char *k = c->string;

			if (!k)
				continue;
			if (!t && k[0] == '_' && strcmp(k, "__entity_type__") == 0)
				t = c;
			else if (!id && k[0] == 'i' && k[1] == 'd' && k[2] == '\0')
				id = c;
		}
		if (t) {
			if (!cJSON_IsString(t))
				return -EPROTO;
			if (cJSON_IsString(id)) {
				r = add(g, t->valuestring, id->valuestring, v);
				if (r < 0)
					return r;
			}
		}
	} else if (!cJSON_IsArray(v)) {
		return 0;
	}
	cJSON_ArrayForEach(c, v) {
		r = walk(g, c);
		if (r < 0)
			return r;
	}
	return 0;
}

int graph_build(struct graph *g, const cJSON *root)
{
	int r;

	memset(g, 0, sizeof(*g));
	r = grow(g);
	if (r < 0)
		return r;
	r = walk(g, root);
	if (r < 0)
		graph_release(g);
	return r;
}

void graph_release(struct graph *g)
{
	if (!g || !g->slots)
		return;
	for (size_t i = 0; i < g->cap; i++)
		free(g->slots[i].more);
	free(g->slots);
	memset(g, 0, sizeof(*g));
}

const cJSON *graph_field(const struct graph *g, const cJSON *obj, const char *key)
{
	const cJSON *v = json_item(obj, key);
	const cJSON *t, *id;
	const struct graph_entry *e;

	if (v || !g || !g->slots)
		return v;
	t = json_item(obj, "__entity_type__");
	id = json_item(obj, "id");
	if (!cJSON_IsString(t) || !cJSON_IsString(id))
		return NULL;
	e = slot_for(g, t->valuestring, id->valuestring);
	if (!e->type)
		return NULL;
	if (e->first != obj && (v = json_item(e->first, key)))
		return v;
	for (size_t i = 0; i < e->n_more; i++)
		if (e->more[i] != obj && (v = json_item(e->more[i], key)))
			return v;
	return NULL;
}

const char *ftrack_entity_type(const struct ftrack_entity *e)
{
	const cJSON *v = json_item(e->priv_obj, "__entity_type__");

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *ftrack_entity_id(const struct ftrack_entity *e)
{
	const cJSON *v = json_item(e->priv_obj, "id");

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * Resolve @path: every segment but the last must be an entity object.
 * 1 and *ret (possibly JSON null -> 0), 0 missing, -EPROTO.
 */
static int resolve(const struct ftrack_entity *e, const char *path, const cJSON **ret)
{
	const struct graph *g = e->priv_graph;
	const cJSON *obj = e->priv_obj;
	char seg[128];

	if (!cJSON_IsObject(obj) || !path)
		return -EPROTO;
	for (;;) {
		size_t n = strcspn(path, ".");
		const cJSON *v;

		if (n == 0 || n >= sizeof(seg))
			return -EPROTO;
		memcpy(seg, path, n);
		seg[n] = '\0';
		v = graph_field(g, obj, seg);
		if (!v || cJSON_IsNull(v))
			return 0;
		if (path[n] == '\0') {
			*ret = v;
			return 1;
		}
		if (!cJSON_IsObject(v))
			return -EPROTO;
		obj = v;
		path += n + 1;
	}
}

int ftrack_entity_str(const struct ftrack_entity *e, const char *path, const char **ret)
{
	const cJSON *v;
	int r = resolve(e, path, &v);

	if (r <= 0)
		return r;
	return json_value_str(v, ret);
}

int ftrack_entity_int(const struct ftrack_entity *e, const char *path, int64_t *ret)
{
	const cJSON *v;
	int r = resolve(e, path, &v);

	if (r <= 0)
		return r;
	return json_value_int(v, ret);
}

int ftrack_entity_bool(const struct ftrack_entity *e, const char *path, bool *ret)
{
	const cJSON *v;
	int r = resolve(e, path, &v);

	if (r <= 0)
		return r;
	if (!cJSON_IsBool(v))
		return -EPROTO;
	*ret = cJSON_IsTrue(v);
	return 1;
}

int ftrack_entity_time(const struct ftrack_entity *e, const char *path, int64_t *ret_ns)
{
	const cJSON *v;
	const char *type, *value;
	int r = resolve(e, path, &v);

	if (r <= 0)
		return r;
	if (json_get_str(v, "__type__", &type) != 1 || json_get_str(v, "value", &value) != 1)
		return -EPROTO;
	if (strcmp(type, "datetime") != 0 && strcmp(type, "date") != 0)
		return -EPROTO;
	if (strcmp(type, "date") == 0 && strlen(value) != 10)
		return -EPROTO;
	r = json_parse_time(value, ret_ns);
	return r < 0 ? r : 1;
}

int ftrack_entity_ref(const struct ftrack_entity *e, const char *path, struct ftrack_entity *ret)
{
	const cJSON *v;
	int r = resolve(e, path, &v);

	if (r <= 0)
		return r;
	if (!cJSON_IsObject(v))
		return -EPROTO;
	*ret = graph_entity(e->priv_graph, v);
	return 1;
}

int ftrack_entity_list_len(const struct ftrack_entity *e, const char *path, size_t *ret_n)
{
	const cJSON *v;
	int r = resolve(e, path, &v);

	if (r <= 0)
		return r;
	if (!cJSON_IsArray(v))
		return -EPROTO;
	*ret_n = (size_t)cJSON_GetArraySize(v);
	return 1;
}

int ftrack_entity_list_at(const struct ftrack_entity *e, const char *path, size_t i,
			  struct ftrack_entity *ret)
{
	const cJSON *v, *item;
	int r = resolve(e, path, &v);

	if (r <= 0)
		return r;
	if (!cJSON_IsArray(v) || i > INT32_MAX)
		return -EPROTO;
	item = cJSON_GetArrayItem(v, (int)i);
	if (!item)
		return 0;
	if (!cJSON_IsObject(item))
		return -EPROTO;
	*ret = graph_entity(e->priv_graph, item);
	return 1;
}
