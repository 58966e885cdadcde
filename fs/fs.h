/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fs.h - the daemon's shared state (private to fs/).
 *
 * Design note
 * -----------
 * Every FUSE reply comes from the LMDB cache (cache.h). The tree's entries
 * carry a small blob (struct fs_blob) saying what kind of node they are, so
 * handlers never ask the network what something is. The sync worker
 * (sync.c) fills directories in batches of one entity type per level and
 * hands change sets to the invalidation thread (the only thread that calls
 * fuse_lowlevel_notify_*), so no request handler ever invalidates.
 *
 * Inode keys: "v:<name>" for the fixed top entries, "p:<id>" projects,
 * "c:<id>" contexts, "a:<id>" assets, "V:<id>" versions, "m:<id>"
 * components and members. The same key always maps to the same inode, so
 * inode numbers survive remounts.
 */
#ifndef FTRACKFS_FS_FS_H
#define FTRACKFS_FS_FS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ftrackfs/cache.h"
#include "ftrackfs/config.h"

struct ftrack;
struct storage;
struct fuse_session;
struct sync;
struct send;
struct sendfs;
struct accsyn;

/* What a node is; stored in the entry's blob and in cache_attr.flags. */
enum fs_node {
	FS_NODE_NONE = 0,
	FS_NODE_PROJECTS,	/* /projects */
	FS_NODE_LOCATIONS,	/* /locations */
	FS_NODE_CTL,		/* /.ftrackfs */
	FS_NODE_STATUS,		/* /.ftrackfs/status */
	FS_NODE_STATUS_JSON,	/* /.ftrackfs/status.json */
	FS_NODE_PROJECT,
	FS_NODE_CONTEXT,
	FS_NODE_ASSET,
	FS_NODE_VERSION,
	FS_NODE_COMPONENT,	/* a FileComponent: a file */
	FS_NODE_COMPONENT_DIR,	/* a sequence or container: a directory */
	FS_NODE_MEMBER,		/* a member of a sequence/container: a file */
	FS_NODE_LOCATION,	/* /locations/<L>: fetched as a whole view */
	FS_NODE_LDIR,		/* a project, context or asset in a location's view */
	FS_NODE_LVERSION,	/* a version in a location's view */
	FS_NODE_LCOMPONENT,	/* a file component in a location's view */
	FS_NODE_LCOMPONENT_DIR,	/* a sequence/container in a location's view */
	FS_NODE_LMEMBER,	/* a member in a location's view */
};

#define FS_BLOB_VERSION 2

struct fs_blob {
	uint8_t version;	/* FS_BLOB_VERSION */
	uint8_t node;		/* enum fs_node */
	uint8_t pad[2];
	char loc_id[40];	/* location views: the view's location id, else "" */
};

/* Connection state shown in .ftrackfs/status. */
enum fs_conn {
	FS_CONN_STARTING = 0,
	FS_CONN_ONLINE,
	FS_CONN_OFFLINE,
	FS_CONN_AUTH_FAILED,
};

struct fs_status {
	pthread_mutex_t lock;
	enum fs_conn conn;
	int64_t started_ns;
	int64_t last_refresh_ns;	/* last successful fetch */
	int64_t last_error_ns;
	char last_error[512];		/* never contains a key */
	uint64_t n_fetches;
	uint64_t n_fetch_errors;
	uint64_t n_refused;		/* opens refused (escape attempts) */
	uint64_t n_remote;		/* opens of components with no local copy */
};

struct fs {
	struct config *cfg;
	struct cache *cache;
	struct ftrack *ftrack;		/* NULL when credentials are missing */
	struct storage *storage;
	struct fuse_session *se;
	struct sync *sync;
	struct accsyn *accsyn;		/* NULL when accsyn credentials are missing */
	struct send *send;		/* the send engine (fs/send) */
	struct sendfs *sendfs;		/* location-folder writes (fs/send) */
	/* called by the sync worker after it rebuilt location @loc_id's view */
	void (*view_applied)(struct fs *fs, const char *loc_id);
	/* the text of .ftrackfs/jobs/<id>.json and the sends part of status */
	int (*render_job)(struct fs *fs, const struct cache_entry *e, char **ret_buf);
	/* .ftrackfs/jobs/: its listing changes behind the kernel's back, so
	 * its attributes live 1 s and its mtime is the last job change, which
	 * is what makes the kernel drop its cached listing (0 until created) */
	uint64_t jobs_ino;
	int64_t jobs_mtime_ns;		/* __atomic */
	int (*render_sends)(struct fs *fs, bool json, char **ret_buf);
	struct fs_status status;
	char mountpoint[4096];
	/* READ requests answered from a backing fd (passthrough sends none) */
	uint64_t reads_served;		/* __atomic */
	bool noxattr;
	bool no_opendir;		/* the kernel opens directories itself */
	uid_t uid;
	gid_t gid;
	double entry_timeout;		/* seconds; never 0 */
};

/* Status helpers (status.c); all thread-safe. */
void fs_status_init(struct fs_status *st);
void fs_status_set_error(struct fs *fs, enum fs_conn conn, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void fs_status_ok(struct fs *fs);
/* Render status as text or JSON into a malloc'ed buffer. Returns length or -errno. */
int fs_status_render(struct fs *fs, bool json, char **ret_buf);

/* Monotonic-free wall time in ns. */
int64_t fs_now_ns(void);

/* Read the blob of an entry (zeroed when absent or foreign). */
void fs_blob_get(const struct cache_entry *e, struct fs_blob *ret);

#endif /* FTRACKFS_FS_FS_H */
