/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.h - what the daemon is told: credentials from the environment, the
 * rest from a small INI file.
 *
 * Credentials come ONLY from the environment (FTRACK_SERVER, FTRACK_API_USER,
 * FTRACK_API_KEY, ACCSYN_WORKSPACE or ACCSYN_DOMAIN, ACCSYN_API_USER,
 * ACCSYN_API_KEY); there is no option or config key that takes a key, so a
 * key never appears on a command line. Nothing in this module logs a key.
 *
 * The file ($XDG_CONFIG_HOME/ftrackfs/config, ~/.config/ftrackfs/config, or
 * --config FILE) is INI: "[section]" headers, "key = value" lines, '#' or ';'
 * at the start of a line for comments; keys and section names are
 * case-insensitive, values are taken verbatim after trimming blanks (so
 * backslashes need no escaping). Sections:
 *
 *   [general]
 *   ttl = 60                    seconds before a listing is refreshed (>= 1)
 *   first_fetch_timeout = 10    seconds a first listing may wait (>= 1)
 *   prefetch_depth = 3          levels fetched ahead below a listed directory
 *   spin_us = 100               microseconds the request reader keeps reading
 *                               without sleeping after a request (0 = never)
 *   rss_budget_mib = 48         MiB of RSS above which the cache's map pages
 *                               are released (once its file-backed part is
 *                               over a quarter of it); 0 = never (faster
 *                               first walks, bigger RSS)
 *   colocate = yes              the request reader moves to the CPU of the
 *                               client it answers (CAP_SYS_NICE or
 *                               RLIMIT_NICE >= 20; saves two wake-ups across
 *                               CPUs per request on a VM)
 *   passthrough = yes           component reads go from the kernel straight
 *                               to storage (Linux >= 6.9, CAP_SYS_ADMIN);
 *                               otherwise the daemon splices them
 *   cache_dir = /abs/path       default $XDG_CACHE_HOME/ftrackfs
 *   log_level = info            error|warn|info|debug
 *
 *   [location hq]               one per ftrack Location name
 *   local = yes                 this machine can read its files ...
 *   root = /storage             ... beneath this directory (required if local)
 *   party = hq                  accsyn party (default: the location name)
 *
 *   [pathmap]                   foreign prefixes -> Linux prefixes
 *   S:\ = /storage              drive letters match case-insensitively
 *   \\192.168.1.240\storage = /storage   UNC, case-insensitive
 *
 *   [absolute]                  who holds files known only by absolute path
 *   /storage = hq               "paths under /storage are hq's, relative to
 *                               /storage" (after [pathmap] rewriting)
 *
 *   [send]
 *   priority = la, hq           sources to send from after this machine's
 *                               local locations, best first
 *
 * Prefixes always match whole path components: "/storage" matches
 * "/storage/x" but never "/storage2/x".
 */
#ifndef FTRACKFS_CONFIG_H
#define FTRACKFS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct config_location {
	char *name;		/* ftrack Location.name */
	char *party;		/* accsyn party; never NULL after load */
	char *root;		/* absolute, no trailing '/'; NULL if not local */
	bool is_local;
};

struct config_pathmap {
	char *from;		/* as written: "S:\", "\\host\share", "/mnt/x" */
	char *to;		/* absolute Linux prefix, no trailing '/' */
};

struct config_absolute {
	char *prefix;		/* absolute Linux prefix, no trailing '/' */
	char *location;		/* a location name */
};

struct config {
	/* credentials, from the environment only; NULL when unset */
	char *ftrack_server;
	char *ftrack_user;
	char *ftrack_key;
	char *accsyn_workspace;
	char *accsyn_user;
	char *accsyn_key;

	struct config_location *locations;
	size_t n_locations;
	struct config_pathmap *pathmaps;
	size_t n_pathmaps;
	struct config_absolute *absolutes;
	size_t n_absolutes;
	char **source_priority;		/* location names, best first */
	size_t n_source_priority;

	unsigned ttl_s;			/* default 60 */
	unsigned first_fetch_timeout_s;	/* default 10 */
	unsigned prefetch_depth;	/* default 3; 0 = fetch only what is listed */
	unsigned spin_us;		/* default 100; 0 = the reader always sleeps */
	unsigned rss_budget_mib;	/* default 48; 0 = map pages are never released */
	bool colocate;			/* default true: the request reader follows
					 * the client's CPU (needs CAP_SYS_NICE or
					 * RLIMIT_NICE >= 20) */
	bool passthrough;		/* default true: reads go straight to storage
					 * when the kernel and the capabilities allow */
	char *cache_dir;		/* absolute; never NULL after load */
	bool cache_dir_set;		/* cache_dir came from the file */
	char *log_level;		/* NULL = leave as is */
	char *path;			/* the file read, or NULL if none */
};

/*
 * config_load() - build a config from the environment and a file.
 * @path: the file named by --config (must exist), or NULL to use the default
 *        location if it exists (a missing default file is not an error).
 * Returns 0 and sets *ret_cfg (free with config_free()), or -errno:
 * -ENOENT (an explicit file is missing), -EINVAL (syntax or value error; a
 * line "config: FILE:LINE: why" is logged), -ENOMEM.
 */
int config_load(const char *path, struct config **ret_cfg);

/*
 * config_parse_string() - like config_load() but from a buffer (@name is used
 * in error messages). Credentials are still taken from the environment.
 */
int config_parse_string(const char *text, const char *name, struct config **ret_cfg);

/* config_free() - frees @cfg and everything it owns; accepts NULL. */
void config_free(struct config *cfg);

/*
 * config_location() - the location called @name, or NULL. The pointer lives
 * as long as @cfg.
 */
const struct config_location *config_location(const struct config *cfg, const char *name);

#endif /* FTRACKFS_CONFIG_H */
