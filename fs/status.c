/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status.c - the connection state and the text of .ftrackfs/status{,.json}.
 * Never holds or prints a key.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "passthrough.h"
#include "ftrackfs/cache.h"
#include "ftrackfs/ftrack.h"
#include "ftrackfs/log.h"

#define MOD "fs"

void fs_status_init(struct fs_status *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_init(&st->lock, NULL);
	st->conn = FS_CONN_STARTING;
	st->started_ns = fs_now_ns();
}

void fs_status_set_error(struct fs *fs, enum fs_conn conn, const char *fmt, ...)
{
	struct fs_status *st = &fs->status;
	char msg[sizeof(st->last_error)];
	bool changed;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&st->lock);
	changed = st->conn != conn || strcmp(st->last_error, msg);
	st->conn = conn;
	st->last_error_ns = fs_now_ns();
	snprintf(st->last_error, sizeof(st->last_error), "%s", msg);
	pthread_mutex_unlock(&st->lock);
	/* log once per distinct state, not once per failed request */
	if (changed)
		log_error(MOD, "%s", msg);
}

void fs_status_ok(struct fs *fs)
{
	struct fs_status *st = &fs->status;
	bool was_bad;

	pthread_mutex_lock(&st->lock);
	was_bad = st->conn == FS_CONN_OFFLINE || st->conn == FS_CONN_AUTH_FAILED;
	st->conn = FS_CONN_ONLINE;
	st->last_refresh_ns = fs_now_ns();
	pthread_mutex_unlock(&st->lock);
	if (was_bad)
		log_info(MOD, "ftrack reachable again");
}

static const char *conn_name(enum fs_conn c)
{
	switch (c) {
	case FS_CONN_ONLINE:
		return "online";
	case FS_CONN_OFFLINE:
		return "offline";
	case FS_CONN_AUTH_FAILED:
		return "auth-failed";
	default:
		return "starting";
	}
}

static void iso(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;

	if (ns == 0) {
		snprintf(buf, len, "never");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* JSON string escaping into @out. */
static void jesc(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 7 < len; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

int fs_status_render(struct fs *fs, bool json, char **ret_buf)
{
	struct fs_status snap;
	struct cache_info ci;
	char started[32], refresh[32], errtime[32], err[1100], mp[8300], server[600], cpath[8300];
	uint64_t nreq = fs->ftrack ? ftrack_request_count(fs->ftrack) : 0;
	char *buf;
	int n;

	pthread_mutex_lock(&fs->status.lock);
	snap = fs->status;
	pthread_mutex_unlock(&fs->status.lock);
	memset(&ci, 0, sizeof(ci));
	cache_info(fs->cache, &ci);
	iso(snap.started_ns, started, sizeof(started));
	iso(snap.last_refresh_ns, refresh, sizeof(refresh));
	iso(snap.last_error_ns, errtime, sizeof(errtime));
	buf = malloc(16384);
	if (!buf)
		return -ENOMEM;
	if (json) {
		jesc(snap.last_error, err, sizeof(err));
		jesc(fs->mountpoint, mp, sizeof(mp));
		jesc(fs->cfg->ftrack_server ? fs->cfg->ftrack_server : "", server, sizeof(server));
		jesc(ci.path, cpath, sizeof(cpath));
		n = snprintf(buf, 16384,
			     "{\n"
			     "  \"mountpoint\": \"%s\",\n"
			     "  \"pid\": %ld,\n"
			     "  \"server\": \"%s\",\n"
			     "  \"connection\": \"%s\",\n"
			     "  \"started\": \"%s\",\n"
			     "  \"last_refresh\": \"%s\",\n"
			     "  \"ttl_seconds\": %u,\n"
			     "  \"requests\": %llu,\n"
			     "  \"fetches\": %llu,\n"
			     "  \"fetch_errors\": %llu,\n"
			     "  \"opens_refused\": %llu,\n"
			     "  \"opens_remote\": %llu,\n"
			     "  \"passthrough\": %s,\n"
			     "  \"passthrough_files\": %zu,\n"
			     "  \"reads_served\": %llu,\n"
			     "  \"cache\": {\"path\": \"%s\", \"bytes\": %llu, \"used_bytes\": %llu, \"entries\": %llu},\n"
			     "  \"last_error\": %s%s%s,\n"
			     "  \"last_error_time\": \"%s\"\n"
			     "}\n",
			     mp, (long)getpid(), server, conn_name(snap.conn), started, refresh,
			     fs->cfg->ttl_s, (unsigned long long)nreq,
			     (unsigned long long)snap.n_fetches, (unsigned long long)snap.n_fetch_errors,
			     (unsigned long long)snap.n_refused, (unsigned long long)snap.n_remote,
			     fs_pt_active() ? "true" : "false", fs_pt_count(),
			     (unsigned long long)__atomic_load_n(&fs->reads_served, __ATOMIC_RELAXED),
			     cpath, (unsigned long long)ci.file_size, (unsigned long long)ci.used_bytes,
			     (unsigned long long)ci.n_entries,
			     *err ? "\"" : "null", err, *err ? "\"" : "", errtime);
	} else {
		n = snprintf(buf, 16384,
			     "ftrackfs on %s (pid %ld)\n"
			     "server:        %s\n"
			     "connection:    %s\n"
			     "started:       %s\n"
			     "last refresh:  %s\n"
			     "ttl:           %us\n"
			     "requests:      %llu (fetches %llu, failed %llu)\n"
			     "opens refused: %llu, remote: %llu\n"
			     "reads:         passthrough %s\n"
			     "cache:         %s (%llu bytes, %llu entries)\n"
			     "last error:    %s%s%s%s\n",
			     fs->mountpoint, (long)getpid(),
			     fs->cfg->ftrack_server ? fs->cfg->ftrack_server : "(FTRACK_SERVER unset)",
			     conn_name(snap.conn), started, refresh, fs->cfg->ttl_s,
			     (unsigned long long)nreq, (unsigned long long)snap.n_fetches,
			     (unsigned long long)snap.n_fetch_errors, (unsigned long long)snap.n_refused,
			     (unsigned long long)snap.n_remote, fs_pt_describe(), ci.path, (unsigned long long)ci.file_size,
			     (unsigned long long)ci.n_entries, *snap.last_error ? snap.last_error : "none",
			     *snap.last_error ? " (" : "", *snap.last_error ? errtime : "",
			     *snap.last_error ? ")" : "");
	}
	if (n < 0) {
		free(buf);
		return -EIO;
	}
	if (n >= 16384)
		n = 16383;
	if (fs->render_sends) {
		char *extra = NULL;
		int m = fs->render_sends(fs, json, &extra);
		size_t cap = (size_t)n + (size_t)(m > 0 ? m : 0) + 32;
		char *nb = m > 0 ? realloc(buf, cap) : NULL;

		if (nb) {
			buf = nb;
			if (json && n >= 2 && buf[n - 2] == '}')
				n = n - 2 + snprintf(buf + n - 2, cap - (size_t)n + 2,
						     ",\n  \"sends\": %s\n}\n", extra);
			else if (!json)
				n += snprintf(buf + n, cap - (size_t)n, "%s", extra);
		}
		free(extra);
	}
	*ret_buf = buf;
	return n;
}
