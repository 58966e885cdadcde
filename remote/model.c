/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model.c - destructors and status names for model.h.
 */
#include <stdlib.h>
#include <string.h>

#include "ftrackfs/model.h"
#include "ftrackfs/util.h"

#define FREE_FIELD(x) do { free(x); (x) = NULL; } while (0)

void ftrack_project_release(struct ftrack_project *p)
{
	if (!p)
		return;
	FREE_FIELD(p->id);
	FREE_FIELD(p->name);
	FREE_FIELD(p->full_name);
}

void ftrack_context_release(struct ftrack_context *c)
{
	if (!c)
		return;
	FREE_FIELD(c->id);
	FREE_FIELD(c->name);
	FREE_FIELD(c->parent_id);
	FREE_FIELD(c->project_id);
	FREE_FIELD(c->entity_type);
	FREE_FIELD(c->object_type_id);
}

void ftrack_asset_release(struct ftrack_asset *a)
{
	if (!a)
		return;
	FREE_FIELD(a->id);
	FREE_FIELD(a->name);
	FREE_FIELD(a->context_id);
	FREE_FIELD(a->type_id);
}

void ftrack_version_release(struct ftrack_version *v)
{
	if (!v)
		return;
	FREE_FIELD(v->id);
	FREE_FIELD(v->asset_id);
	FREE_FIELD(v->comment);
	FREE_FIELD(v->user_id);
	FREE_FIELD(v->username);
	FREE_FIELD(v->task_id);
}

void ftrack_component_release(struct ftrack_component *c)
{
	if (!c)
		return;
	FREE_FIELD(c->id);
	FREE_FIELD(c->name);
	FREE_FIELD(c->file_type);
	FREE_FIELD(c->entity_type);
	FREE_FIELD(c->system_type);
	FREE_FIELD(c->version_id);
	FREE_FIELD(c->container_id);
	ftrack_component_array_free(c->members, c->n_members);
	c->members = NULL;
	c->n_members = 0;
}

void ftrack_link_release(struct ftrack_link *l)
{
	if (!l)
		return;
	FREE_FIELD(l->id);
	FREE_FIELD(l->name);
	FREE_FIELD(l->type);
}

void ftrack_placed_component_release(struct ftrack_placed_component *pc)
{
	if (!pc)
		return;
	ftrack_component_release(&pc->component);
	ftrack_component_release(&pc->container);
	FREE_FIELD(pc->version_id);
	FREE_FIELD(pc->asset_id);
	FREE_FIELD(pc->asset_name);
	ftrack_link_array_free(pc->link, pc->n_link);
	pc->link = NULL;
	pc->n_link = 0;
	pc->version = 0;
	pc->version_date_ns = 0;
}

void ftrack_component_location_release(struct ftrack_component_location *cl)
{
	if (!cl)
		return;
	FREE_FIELD(cl->id);
	FREE_FIELD(cl->component_id);
	FREE_FIELD(cl->location_id);
	FREE_FIELD(cl->resource_identifier);
}

void ftrack_location_release(struct ftrack_location *l)
{
	if (!l)
		return;
	FREE_FIELD(l->id);
	FREE_FIELD(l->name);
	FREE_FIELD(l->label);
}

void ftrack_job_release(struct ftrack_job *j)
{
	if (!j)
		return;
	FREE_FIELD(j->id);
	FREE_FIELD(j->status);
	FREE_FIELD(j->data);
}

void accsyn_job_release(struct accsyn_job *j)
{
	if (!j)
		return;
	FREE_FIELD(j->id);
	FREE_FIELD(j->code);
	FREE_FIELD(j->status_text);
	FREE_FIELD(j->etr);
	FREE_FIELD(j->source);
	FREE_FIELD(j->destination);
	FREE_FIELD(j->token);
	FREE_FIELD(j->error_message);
}

void accsyn_task_release(struct accsyn_task *t)
{
	if (!t)
		return;
	FREE_FIELD(t->id);
	FREE_FIELD(t->uri);
	FREE_FIELD(t->status_text);
	FREE_FIELD(t->source);
	FREE_FIELD(t->destination);
	FREE_FIELD(t->component_id);
	FREE_FIELD(t->error_message);
}

#define ARRAY_FREE(fn, type, release)                  \
	void fn(type *a, size_t n)                     \
	{                                              \
		if (!a)                                \
			return;                        \
		for (size_t i = 0; i < n; i++)         \
			release(&a[i]);                \
		free(a);                               \
	}

ARRAY_FREE(ftrack_project_array_free, struct ftrack_project, ftrack_project_release)
ARRAY_FREE(ftrack_context_array_free, struct ftrack_context, ftrack_context_release)
ARRAY_FREE(ftrack_asset_array_free, struct ftrack_asset, ftrack_asset_release)
ARRAY_FREE(ftrack_version_array_free, struct ftrack_version, ftrack_version_release)
ARRAY_FREE(ftrack_component_array_free, struct ftrack_component, ftrack_component_release)
ARRAY_FREE(ftrack_component_location_array_free, struct ftrack_component_location,
	   ftrack_component_location_release)
ARRAY_FREE(ftrack_link_array_free, struct ftrack_link, ftrack_link_release)
ARRAY_FREE(ftrack_placed_component_array_free, struct ftrack_placed_component,
	   ftrack_placed_component_release)
ARRAY_FREE(ftrack_location_array_free, struct ftrack_location, ftrack_location_release)
ARRAY_FREE(accsyn_task_array_free, struct accsyn_task, accsyn_task_release)

static const char *const job_names[] = {
	[ACCSYN_JOB_UNKNOWN] = "unknown", [ACCSYN_JOB_INIT] = "init",
	[ACCSYN_JOB_PENDING] = "pending", [ACCSYN_JOB_WAITING] = "waiting",
	[ACCSYN_JOB_RUNNING] = "running", [ACCSYN_JOB_PAUSED] = "paused",
	[ACCSYN_JOB_FAILED] = "failed",	  [ACCSYN_JOB_ABORTED] = "aborted",
	[ACCSYN_JOB_DONE] = "done",
};

static const char *const task_names[] = {
	[ACCSYN_TASK_UNKNOWN] = "unknown",     [ACCSYN_TASK_PENDING] = "pending",
	[ACCSYN_TASK_QUEUED] = "queued",       [ACCSYN_TASK_BOOTING] = "booting",
	[ACCSYN_TASK_EXECUTING] = "executing", [ACCSYN_TASK_FAILED] = "failed",
	[ACCSYN_TASK_ONHOLD] = "onhold",       [ACCSYN_TASK_EXCLUDED] = "excluded",
	[ACCSYN_TASK_DONE] = "done",
};

enum accsyn_job_status accsyn_job_status_from_string(const char *s)
{
	if (!s)
		return ACCSYN_JOB_UNKNOWN;
	for (size_t i = 1; i < ARRAY_SIZE(job_names); i++)
		if (strcmp(s, job_names[i]) == 0)
			return (enum accsyn_job_status)i;
	return ACCSYN_JOB_UNKNOWN;
}

const char *accsyn_job_status_to_string(enum accsyn_job_status st)
{
	if ((size_t)st >= ARRAY_SIZE(job_names))
		return "unknown";
	return job_names[st];
}

enum accsyn_task_status accsyn_task_status_from_string(const char *s)
{
	if (!s)
		return ACCSYN_TASK_UNKNOWN;
	for (size_t i = 1; i < ARRAY_SIZE(task_names); i++)
		if (strcmp(s, task_names[i]) == 0)
			return (enum accsyn_task_status)i;
	return ACCSYN_TASK_UNKNOWN;
}

int accsyn_job_status_is_final(enum accsyn_job_status st)
{
	return st == ACCSYN_JOB_DONE || st == ACCSYN_JOB_FAILED || st == ACCSYN_JOB_ABORTED;
}
