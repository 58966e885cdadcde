/* SPDX-License-Identifier: Apache-2.0 */
/*
 * graph_i.h - private to remote/: the identity map of one ftrack reply.
 *
 * The server encodes each entity fully once per reply and as a bare
 * reference {"__entity_type__": T, "id": I} elsewhere. graph_build() walks the
 * whole reply once and records, for every (type, id), each object that
 * carries it; graph_field() then finds an attribute on the object itself or
 * on any other occurrence of the same entity. Keys borrow the strings of the
 * cJSON tree, so the map lives no longer than the tree.
 */
#ifndef FTRACKFS_REMOTE_GRAPH_I_H
#define FTRACKFS_REMOTE_GRAPH_I_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ftrackfs/ftrack.h"

struct graph_entry {
	uint64_t hash;		/* compared before the strings */
	const char *type;	/* NULL: empty slot */
	const char *id;
	const cJSON *first;
	const cJSON **more;	/* further occurrences */
	size_t n_more, cap_more;
};

struct graph {
	struct graph_entry *slots;
	size_t cap;		/* power of two */
	size_t n;
};

/* Index every entity in @root. 0, -ENOMEM, or -EPROTO (a non-string
 * __entity_type__). */
int graph_build(struct graph *g, const cJSON *root);
void graph_release(struct graph *g);

/* @key of entity object @obj, from @obj or another occurrence; NULL if none. */
const cJSON *graph_field(const struct graph *g, const cJSON *obj, const char *key);

static inline struct ftrack_entity graph_entity(const struct graph *g, const cJSON *obj)
{
	struct ftrack_entity e = { .priv_obj = obj, .priv_graph = g };

	return e;
}

#endif
