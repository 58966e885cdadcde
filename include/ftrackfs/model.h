/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model.h - plain C structs for what the filesystem needs from ftrack and
 * accsyn. No cJSON, curl or LMDB type appears here.
 *
 * Ownership: every `char *` in these structs is a NUL-terminated, heap
 * allocated, valid UTF-8 string owned by the struct (or NULL when the server
 * did not send the field). Arrays are returned as (pointer, count) pairs owned
 * by the caller and freed with the matching `*_array_free()`, which releases
 * every element and the array itself. Every `_free`/`_release` accepts NULL
 * and half-built objects (fields already NULL are skipped).
 *
 * Ids: ftrack ids are lower-case UUID strings (36 characters); accsyn ids
 * are 24 hex characters (jobs) or UUIDs (tasks).
 * Times: `*_ns` fields are nanoseconds since the Unix epoch, UTC; 0 means
 * "not set". ftrack's naive datetimes are taken as UTC (the server reports
 * is_timezone_support_enabled).
 */
#ifndef FTRACKFS_MODEL_H
#define FTRACKFS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define FTRACK_ID_LEN 36	/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */

/* A Project (a `show`). */
struct ftrack_project {
	char *id;
	char *name;		/* Project.name: the directory name */
	char *full_name;
};

/*
 * A TypedContext row: Sequence, Shot, Folder, Task, AssetBuild, Episode,
 * Milestone or a custom type, told apart by entity_type/object_type_id.
 */
struct ftrack_context {
	char *id;
	char *name;
	char *parent_id;	/* a context or the project */
	char *project_id;
	char *entity_type;	/* __entity_type__, e.g. "Shot" */
	char *object_type_id;
};

struct ftrack_asset {
	char *id;
	char *name;
	char *context_id;	/* the parent context (or project) */
	char *type_id;		/* AssetType id, may be NULL */
};

struct ftrack_version {
	char *id;
	int64_t version;	/* AssetVersion.version: shown as v%03d */
	char *asset_id;
	int64_t date_ns;	/* publish date; 0 when unknown */
	char *comment;
	char *user_id;
	char *username;		/* user.username when selected, else NULL */
	char *task_id;
};

enum ftrack_component_kind {
	FTRACK_COMPONENT_FILE = 0,
	FTRACK_COMPONENT_SEQUENCE,
	FTRACK_COMPONENT_CONTAINER,
};

struct ftrack_component {
	char *id;
	char *name;
	char *file_type;	/* with the dot, e.g. ".exr"; may be "" */
	int64_t size;		/* bytes; 0 when unknown */
	enum ftrack_component_kind kind;
	char *entity_type;	/* "FileComponent", "SequenceComponent", ... */
	char *system_type;	/* as sent ("file", "sequence", ...), may be NULL */
	char *version_id;	/* NULL for members that only have a container */
	char *container_id;	/* NULL unless a member of a container/sequence */
	int padding;		/* SequenceComponent padding, else 0 */
	/*
	 * Members, when decoded (sequences and containers): owned, each with
	 * container_id == this id. Members have no members of their own.
	 */
	struct ftrack_component *members;
	size_t n_members;
};

/* One step of a `link`: the project or a context on the way down the tree. */
struct ftrack_link {
	char *id;
	char *name;		/* "" when the server sent none */
	char *type;		/* schema id, e.g. "Project", "Sequence", "Shot" */
};

/*
 * A component with everything needed to place it in the projects tree
 * (ftrack_get_components()): projects/<link names>/<asset>/v<NNN>/<component>,
 * or .../<container>/<member> for a member of a sequence or container.
 */
struct ftrack_placed_component {
	struct ftrack_component component;	/* no members; padding set for sequences */
	/*
	 * The container when @component is a member of one (container.id is
	 * NULL otherwise); no members; padding set for sequences.
	 */
	struct ftrack_component container;
	/* The version the component is shown under: its own, or for a member its
	 * container's. NULL (and the fields below 0/NULL) when it has none. */
	char *version_id;
	int64_t version;		/* AssetVersion.version */
	int64_t version_date_ns;	/* publish date; 0 when unknown */
	char *asset_id;
	char *asset_name;
	/* The asset's context: link[0] is the project, link[n_link - 1] the
	 * context the asset sits in (the project itself for a project asset). */
	struct ftrack_link *link;
	size_t n_link;
};

struct ftrack_component_location {
	char *id;
	char *component_id;
	char *location_id;
	char *resource_identifier;
};

struct ftrack_location {
	char *id;
	char *name;		/* unique, e.g. "hq", "ftrack.unmanaged", "lisa@vendor.com" */
	char *label;		/* may be NULL */
};

/* A generic ftrack Job (the progress entity ftrack-send maintains). */
struct ftrack_job {
	char *id;
	char *status;		/* "queued", "running", "done", "failed" */
	char *data;		/* the JSON text in Job.data, as stored */
};

/* accsyn job status, as in protocols/accsyn.md §9. */
enum accsyn_job_status {
	ACCSYN_JOB_UNKNOWN = 0,	/* a status this client does not know */
	ACCSYN_JOB_INIT,
	ACCSYN_JOB_PENDING,
	ACCSYN_JOB_WAITING,
	ACCSYN_JOB_RUNNING,
	ACCSYN_JOB_PAUSED,
	ACCSYN_JOB_FAILED,
	ACCSYN_JOB_ABORTED,
	ACCSYN_JOB_DONE,
};

enum accsyn_task_status {
	ACCSYN_TASK_UNKNOWN = 0,
	ACCSYN_TASK_PENDING,
	ACCSYN_TASK_QUEUED,
	ACCSYN_TASK_BOOTING,
	ACCSYN_TASK_EXECUTING,
	ACCSYN_TASK_FAILED,
	ACCSYN_TASK_ONHOLD,
	ACCSYN_TASK_EXCLUDED,
	ACCSYN_TASK_DONE,
};

struct accsyn_job {
	char *id;		/* 24 hex */
	char *code;		/* display name */
	enum accsyn_job_status status;
	char *status_text;	/* the status string as sent */
	int progress;		/* 0..100 */
	int64_t size;		/* total bytes; -1 until measured */
	double speed;		/* MB/s */
	char *etr;		/* estimated time remaining, as sent ("" when idle) */
	char *source;		/* as sent: "site:<id>", "workspace:<id>", ... */
	char *destination;
	char *token;		/* metadata.ftrackfs_token, when this client created it */
	char *error_message;	/* a failure reason when the server gave one, else NULL */
	int64_t created_ns;
	int64_t finished_ns;
};

struct accsyn_task {
	char *id;		/* a UUID */
	char *uri;		/* "0", "1", ... */
	enum accsyn_task_status status;
	char *status_text;
	int progress;		/* 0..100 when sent, else 0 (100 when done) */
	int64_t size;
	char *source;		/* the task's source path as sent (source.path or the string) */
	char *destination;
	char *component_id;	/* metadata.ftrack_component_id when set */
	char *error_message;
};

/* Name <-> enum for accsyn statuses; unknown strings give *_UNKNOWN. */
enum accsyn_job_status accsyn_job_status_from_string(const char *s);
const char *accsyn_job_status_to_string(enum accsyn_job_status st);
enum accsyn_task_status accsyn_task_status_from_string(const char *s);

/* True for done, failed and aborted (failed is "final for now"). */
int accsyn_job_status_is_final(enum accsyn_job_status st);

/* Release the fields of one element (the struct itself is not freed). */
void ftrack_project_release(struct ftrack_project *p);
void ftrack_context_release(struct ftrack_context *c);
void ftrack_asset_release(struct ftrack_asset *a);
void ftrack_version_release(struct ftrack_version *v);
void ftrack_component_release(struct ftrack_component *c);	/* members too */
void ftrack_component_location_release(struct ftrack_component_location *cl);
void ftrack_link_release(struct ftrack_link *l);
void ftrack_placed_component_release(struct ftrack_placed_component *pc);
void ftrack_location_release(struct ftrack_location *l);
void ftrack_job_release(struct ftrack_job *j);
void accsyn_job_release(struct accsyn_job *j);
void accsyn_task_release(struct accsyn_task *t);

/* Release @n elements and free the array. NULL @a is a no-op. */
void ftrack_project_array_free(struct ftrack_project *a, size_t n);
void ftrack_context_array_free(struct ftrack_context *a, size_t n);
void ftrack_asset_array_free(struct ftrack_asset *a, size_t n);
void ftrack_version_array_free(struct ftrack_version *a, size_t n);
void ftrack_component_array_free(struct ftrack_component *a, size_t n);
void ftrack_component_location_array_free(struct ftrack_component_location *a, size_t n);
void ftrack_link_array_free(struct ftrack_link *a, size_t n);
void ftrack_placed_component_array_free(struct ftrack_placed_component *a, size_t n);
void ftrack_location_array_free(struct ftrack_location *a, size_t n);
void accsyn_task_array_free(struct accsyn_task *a, size_t n);

#endif /* FTRACKFS_MODEL_H */
