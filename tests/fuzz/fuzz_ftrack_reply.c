/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer: an ftrack /api reply -> error mapping, identity map, rows,
 * and every typed model decoder, plus path lookups through references.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ftrack_i.h"
#include "graph_i.h"
#include "json_i.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int each_row(const struct ftrack_entity *e, void *ud)
{
	struct ftrack_project p;
	struct ftrack_context c;
	struct ftrack_asset a;
	struct ftrack_version v;
	struct ftrack_component k;
	struct ftrack_component_location cl;
	struct ftrack_location l;
	struct ftrack_entity ref;
	const char *s;
	int64_t i;
	size_t n;
	bool b;

	(void)ud;
	if (ftrack_decode_project(e, &p) == 0)
		ftrack_project_release(&p);
	if (ftrack_decode_context(e, &c) == 0)
		ftrack_context_release(&c);
	if (ftrack_decode_asset(e, &a) == 0)
		ftrack_asset_release(&a);
	if (ftrack_decode_version(e, &v) == 0)
		ftrack_version_release(&v);
	if (ftrack_decode_component(e, &k) == 0)
		ftrack_component_release(&k);
	if (ftrack_decode_component_location(e, &cl) == 0)
		ftrack_component_location_release(&cl);
	if (ftrack_decode_location(e, &l) == 0)
		ftrack_location_release(&l);
	(void)ftrack_entity_str(e, "status.state.short", &s);
	(void)ftrack_entity_time(e, "created_at", &i);
	(void)ftrack_entity_bool(e, "is_active", &b);
	if (ftrack_entity_list_len(e, "asset.versions", &n) == 1)
		for (size_t j = 0; j < n && j < 64; j++)
			if (ftrack_entity_list_at(e, "asset.versions", j, &ref) == 1)
				(void)ftrack_entity_int(&ref, "version", &i);
	if (ftrack_entity_ref(e, "asset", &ref) == 1)
		(void)ftrack_entity_str(&ref, "context_id", &s);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *probe = NULL, *root;
	struct json_doc *doc = NULL;
	size_t n_ops = 1;
	struct graph g;
	char err[256];

	/* use the reply's own length when it is an array, so rows get decoded */
	if (json_parse((const char *)data, size, &probe) == 0) {
		if (cJSON_IsArray(probe))
			n_ops = (size_t)cJSON_GetArraySize(probe);
		cJSON_Delete(probe);
	}
	if (ftrack_decode_reply((const char *)data, size, 200, n_ops, &doc, err, sizeof(err)) < 0)
		return 0;
	root = json_doc_root(doc);
	if (graph_build(&g, root) == 0) {
		const cJSON *res;

		cJSON_ArrayForEach(res, root) {
			int64_t next;

			(void)ftrack_rows_of_result(res, &g, each_row, NULL, &next);
		}
		graph_release(&g);
	}
	json_doc_free(doc);
	return 0;
}
