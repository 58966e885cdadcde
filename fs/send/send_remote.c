/* SPDX-License-Identifier: Apache-2.0 */
/*
 * send_remote.c - send_remote_default: the engine's service calls mapped
 * onto the ftrack and accsyn clients of remote/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftrackfs/accsyn.h"
#include "ftrackfs/ftrack.h"
#include "send.h"

#define IN_CHUNK 200
#define CREATE_CHUNK 100

void send_component_array_free(struct send_component *a, size_t n)
{
	if (!a)
		return;
	for (size_t i = 0; i < n; i++) {
		free(a[i].id);
		free(a[i].name);
		free(a[i].file_type);
		free(a[i].entity_type);
		free(a[i].container_id);
	}
	free(a);
}

static struct send_services *svc(void *ud)
{
	return ud;
}

static int r_list_locations(void *ud, struct ftrack_location **ret, size_t *ret_n)
{
	return ftrack_list_locations(svc(ud)->ftrack, ret, ret_n);
}

struct comp_vec {
	struct send_component *v;
	size_t n, cap;
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int comp_row(const struct ftrack_entity *e, void *ud)
{
	struct comp_vec *cv = ud;
	struct send_component *c;
	const char *s;
	int64_t size = 0;

	if (cv->n == cv->cap) {
		size_t cap = cv->cap ? cv->cap * 2 : 64;
		struct send_component *v = realloc(cv->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		cv->v = v;
		cv->cap = cap;
	}
	c = &cv->v[cv->n];
	memset(c, 0, sizeof(*c));
	if (!ftrack_entity_id(e))
		return -EPROTO;
	c->id = strdup(ftrack_entity_id(e));
	c->entity_type = dup_or_null(ftrack_entity_type(e));
	if (ftrack_entity_str(e, "name", &s) == 1)
		c->name = strdup(s);
	if (ftrack_entity_str(e, "file_type", &s) == 1)
		c->file_type = strdup(s);
	if (ftrack_entity_str(e, "container_id", &s) == 1)
		c->container_id = strdup(s);
	if (ftrack_entity_int(e, "size", &size) == 1)
		c->size = size;
	cv->n++;
	if (!c->id)
		return -ENOMEM;
	return 0;
}

/* One query per chunk of ids: "select ... from Component where <field> in (...)". */
static int query_in(struct ftrack *f, const char *field, const char *const *ids, size_t n,
		    struct comp_vec *cv)
{
	for (size_t off = 0; off < n; off += IN_CHUNK) {
		size_t k = n - off < IN_CHUNK ? n - off : IN_CHUNK;
		struct ftrack_expr *ex;
		const char *text;
		int r;

		r = ftrack_expr_new(&ex);
		if (r < 0)
			return r;
		ftrack_expr_raw(ex, "select id, name, file_type, size, container_id from Component where ");
		ftrack_expr_raw(ex, field);
		ftrack_expr_raw(ex, " in ");
		ftrack_expr_uuid_list(ex, ids + off, k);
		r = ftrack_expr_get(ex, &text);
		if (r == 0)
			r = ftrack_query(f, text, 0, comp_row, cv);
		ftrack_expr_free(ex);
		if (r < 0)
			return r;
	}
	return 0;
}

static int r_components(void *ud, const char *const *ids, size_t n, struct send_component **ret,
			size_t *ret_n)
{
	struct ftrack *f = svc(ud)->ftrack;
	struct comp_vec cv = { 0 };
	const char **cont = NULL;
	size_t n_cont = 0, n_top;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if (n == 0)
		return 0;
	r = query_in(f, "id", ids, n, &cv);
	if (r < 0)
		goto out;
	n_top = cv.n;
	cont = calloc(n_top ? n_top : 1, sizeof(*cont));
	if (!cont) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_top; i++)
		if (cv.v[i].entity_type && (!strcmp(cv.v[i].entity_type, "SequenceComponent") ||
					    !strcmp(cv.v[i].entity_type, "ContainerComponent")))
			cont[n_cont++] = cv.v[i].id;
	if (n_cont) {
		/* copy the ids: comp_row may move cv.v */
		for (size_t i = 0; i < n_cont; i++)
			if (!(cont[i] = strdup(cont[i]))) {
				for (size_t j = 0; j < i; j++)
					free((char *)cont[j]);
				n_cont = 0;
				r = -ENOMEM;
				goto out;
			}
		r = query_in(f, "container_id", cont, n_cont, &cv);
		for (size_t i = 0; i < n_cont; i++)
			free((char *)cont[i]);
		if (r < 0)
			goto out;
	}
	*ret = cv.v;
	*ret_n = cv.n;
	cv.v = NULL;
	cv.n = 0;
	r = 0;
out:
	free(cont);
	send_component_array_free(cv.v, cv.n);
	return r;
}

static int r_component_locations(void *ud, const char *const *ids, size_t n,
				 struct ftrack_component_location **ret, size_t *ret_n)
{
	return ftrack_list_component_locations(svc(ud)->ftrack, ids, n, ret, ret_n);
}

static int r_register(void *ud, const char *location_id, const char *const *cids,
		      const char *const *ris, size_t n)
{
	struct ftrack *f = svc(ud)->ftrack;

	for (size_t off = 0; off < n; off += CREATE_CHUNK) {
		size_t k = n - off < CREATE_CHUNK ? n - off : CREATE_CHUNK;
		struct ftrack_batch *b;
		int r;

		r = ftrack_batch_new(f, &b);
		if (r < 0)
			return r;
		for (size_t i = 0; i < k && r >= 0; i++) {
			const struct ftrack_attr attrs[] = {
				{ .key = "component_id", .kind = FTRACK_ATTR_STR, .str = cids[off + i] },
				{ .key = "location_id", .kind = FTRACK_ATTR_STR, .str = location_id },
				{ .key = "resource_identifier", .kind = FTRACK_ATTR_STR,
				  .str = ris[off + i] },
			};

			r = ftrack_batch_create(b, "ComponentLocation", NULL, attrs, 3, NULL);
		}
		if (r >= 0)
			r = ftrack_batch_send(b);
		ftrack_batch_free(b);
		if (r < 0)
			return r;
	}
	return 0;
}

static int r_job_create(void *ud, const struct accsyn_job_spec *spec, struct accsyn_job *ret)
{
	if (!svc(ud)->accsyn)
		return -ENOTCONN;
	return accsyn_job_create(svc(ud)->accsyn, spec, ret);
}

static int r_job_get(void *ud, const char *job_id, struct accsyn_job *ret)
{
	if (!svc(ud)->accsyn)
		return -ENOTCONN;
	return accsyn_job_get(svc(ud)->accsyn, job_id, ret);
}

static int r_job_find(void *ud, const char *token, struct accsyn_job *ret)
{
	if (!svc(ud)->accsyn)
		return -ENOTCONN;
	return accsyn_job_find_by_token(svc(ud)->accsyn, token, ret);
}

static int r_fjob_create(void *ud, const char *status, const char *desc, char ret_id[FTRACK_ID_LEN + 1])
{
	return ftrack_create_job(svc(ud)->ftrack, status, desc, ret_id);
}

static int r_fjob_update(void *ud, const char *id, const char *status, const char *desc)
{
	return ftrack_update_job(svc(ud)->ftrack, id, status, desc);
}

static void r_last_error(void *ud, bool is_accsyn, char *buf, size_t len)
{
	buf[0] = '\0';
	if (is_accsyn && svc(ud)->accsyn)
		accsyn_last_error(svc(ud)->accsyn, buf, len);
	else if (!is_accsyn && svc(ud)->ftrack)
		ftrack_last_error(svc(ud)->ftrack, buf, len);
}

const struct send_remote send_remote_default = {
	.list_locations = r_list_locations,
	.components = r_components,
	.component_locations = r_component_locations,
	.register_components = r_register,
	.job_create = r_job_create,
	.job_get = r_job_get,
	.job_find_by_token = r_job_find,
	.ftrack_job_create = r_fjob_create,
	.ftrack_job_update = r_fjob_update,
	.last_error = r_last_error,
};
