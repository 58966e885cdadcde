/* SPDX-License-Identifier: Apache-2.0 */
/*
 * send_plan.c - the pure half of the send engine: accsyn parties, source
 * paths, sequence notation, job names and tokens. No network, no cache.
 */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ftrackfs/util.h"
#include "send.h"
#include "storage.h"

#define SITE_CODE_MAX 32

static void why_set(char *why, size_t len, const char *fmt, ...) _printf_(3, 4);

static void why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static bool is_site_code(const char *s, size_t n)
{
	if (n == 0 || n > SITE_CODE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* "local@domain" or "local@domain@Host": no blanks, no ':', no control chars. */
static bool is_email(const char *s)
{
	const char *at = strchr(s, '@');

	if (!at || at == s || !at[1] || at[1] == '@')
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == ':' || *p == '/' || *p == '\\' || *p == 0x7f)
			return false;
	return true;
}

static bool is_hex24(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isxdigit((unsigned char)s[n]))
			return false;
	return n == 24;
}

int send_party(const struct config *cfg, const char *name, char *buf, size_t len,
	       char *why, size_t why_len)
{
	const struct config_location *l = cfg ? config_location(cfg, name) : NULL;
	const char *p;
	int n;

	if (!name || !*name) {
		why_set(why, why_len, "no location name");
		return -EINVAL;
	}
	p = l && l->party ? l->party : name;
	if (!l && !strncmp(name, "ftrack.", 7)) {
		why_set(why, why_len, "location '%s' is an ftrack built-in and maps to no accsyn party",
			name);
		return -ENXIO;
	}
	if (!strncmp(p, "site=", 5)) {
		if (!is_site_code(p + 5, strlen(p + 5)))
			goto bad;
		n = snprintf(buf, len, "%s", p);
	} else if (!strncmp(p, "client=", 7)) {
		if (!is_hex24(p + 7))
			goto bad;
		n = snprintf(buf, len, "%s", p);
	} else if (!strncmp(p, "user=", 5)) {
		if (!is_email(p + 5))
			goto bad;
		n = snprintf(buf, len, "%s", p + 5);
	} else if (strchr(p, '@')) {
		if (!is_email(p))
			goto bad;
		n = snprintf(buf, len, "%s", p);
	} else {
		if (!is_site_code(p, strlen(p)))
			goto bad;
		n = snprintf(buf, len, "site=%s", p);
	}
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
bad:
	why_set(why, why_len,
		"location '%s' maps to no accsyn party: '%s' is neither a site code "
		"([A-Za-z0-9_.-], at most 32) nor an e-mail", name, p);
	return -ENXIO;
}

/* Refuse "", ".", ".." components and control characters in @rel. */
static bool rel_ok(const char *rel)
{
	const char *p = rel;

	if (!*rel || *rel == '/')
		return false;
	for (const char *c = rel; *c; c++)
		if ((unsigned char)*c < ' ' || *c == 0x7f)
			return false;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

int send_source_path(const struct config *cfg, const char *loc_name, const char *ri,
		     char *owner, size_t owner_len, char *rel, size_t rel_len,
		     char *why, size_t why_len)
{
	const struct config_location *own = NULL;
	const char *name;
	size_t n;
	int r;

	if (!ri || !*ri) {
		why_set(why, why_len, "empty resource identifier in %s", loc_name);
		return -EACCES;
	}
	if (strstr(ri, "://")) {
		why_set(why, why_len, "%s holds it as a URL, not a file accsyn can read", loc_name);
		return -EACCES;
	}
	r = storage_resolve(cfg, loc_name, ri, &own, rel, rel_len);
	if (r == -ENAMETOOLONG)
		return r;
	if (r < 0) {
		why_set(why, why_len, "%s: '%s' is under no [pathmap]/[absolute] prefix or local root",
			loc_name, ri);
		return -EACCES;
	}
	/* collapse a trailing '/' (a container registered as "dir/") */
	n = strlen(rel);
	while (n > 1 && rel[n - 1] == '/')
		rel[--n] = '\0';
	if (!rel_ok(rel)) {
		why_set(why, why_len, "%s: '%s' is not a clean relative path", loc_name, ri);
		return -EACCES;
	}
	name = own ? own->name : loc_name;
	if (strlen(name) >= owner_len)
		return -ENAMETOOLONG;
	strcpy(owner, name);
	return 0;
}

/* Find "%d" / "%0Nd" in the last component of @rel: offset and length. */
static bool seq_pattern(const char *rel, size_t *ret_off, size_t *ret_len, int *ret_width)
{
	const char *base = strrchr(rel, '/');
	const char *p;

	base = base ? base + 1 : rel;
	for (p = strchr(base, '%'); p; p = strchr(p + 1, '%')) {
		const char *q = p + 1;
		int width = 0;

		if (*q == '0') {
			q++;
			while (isdigit((unsigned char)*q))
				width = width * 10 + (*q++ - '0');
			if (width == 0 || width > 12)
				continue;
		}
		if (*q != 'd')
			continue;
		*ret_off = (size_t)(p - rel);
		*ret_len = (size_t)(q + 1 - p);
		*ret_width = width;
		return true;
	}
	return false;
}

static bool frame_num(const char *s, long *ret)
{
	char *end;
	long v;

	if (!s || !*s || strlen(s) > 12)
		return false;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

int send_seq_range(const char *rel, const char *const *frames, size_t n, char *out, size_t len)
{
	size_t off, plen;
	long *v;
	int width, w;
	bool ok = true;

	if (n == 0 || !seq_pattern(rel, &off, &plen, &width))
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n && ok; i++)
		ok = frame_num(frames[i], &v[i]);
	if (ok) {
		qsort(v, n, sizeof(*v), cmp_long);
		for (size_t i = 1; i < n && ok; i++)
			ok = v[i] == v[i - 1] + 1;
	}
	if (!ok) {
		free(v);
		return 0;
	}
	w = snprintf(out, len, "%s [%ld-%ld]", rel, v[0], v[n - 1]);
	free(v);
	if (w < 0 || (size_t)w >= len)
		return -ENAMETOOLONG;
	return 1;
}

int send_seq_member(const char *rel, const char *frame, char *out, size_t len)
{
	size_t off, plen;
	int width, w;
	long f;

	if (!seq_pattern(rel, &off, &plen, &width) || !frame_num(frame, &f))
		return -EINVAL;
	w = snprintf(out, len, "%.*s%0*ld%s", (int)off, rel, width, f, rel + off + plen);
	if (w < 0 || (size_t)w >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Length of the directory part of @s ("a/b/c.exr" -> 3). */
static size_t dir_len(const char *s)
{
	const char *slash = strrchr(s, '/');

	return slash ? (size_t)(slash - s) : 0;
}

/* Cut @s to at most @max bytes without leaving a partial UTF-8 character. */
static void utf8_cut(char *s, size_t max)
{
	size_t n = strlen(s), st;

	if (n > max)
		n = max;
	st = n;
	while (st > 0 && ((unsigned char)s[st - 1] & 0xC0) == 0x80)
		st--;
	if (st > 0) {
		unsigned char c = (unsigned char)s[st - 1];
		size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;

		if (n - (st - 1) < need)
			n = st - 1;
	}
	s[n] = '\0';
}

void send_job_name(const char *const *rels, size_t n, size_t n_files, const char *user,
		   char *out, size_t len)
{
	char what[512] = "";
	size_t common = 0;

	if (n > 0) {
		common = dir_len(rels[0]);
		for (size_t i = 1; i < n; i++) {
			size_t k = 0, last = 0, lim = dir_len(rels[i]);

			while (k < common && k < lim && rels[0][k] == rels[i][k]) {
				if (rels[0][k] == '/')
					last = k;
				k++;
			}
			/* only whole components: "seq01" is no prefix of "seq010" */
			if ((k == common || rels[0][k] == '/') && (k == lim || rels[i][k] == '/'))
				common = k;
			else
				common = last;
		}
	}
	if (common > 0) {
		char dir[512];
		char *last, *asset;

		snprintf(dir, sizeof(dir), "%.*s", (int)(common < 511 ? common : 511), rels[0]);
		last = strrchr(dir, '/');
		/* ".../<asset>/v003" reads better as "... <asset> v003" */
		if (last && last[1] == 'v' && last[2] && strspn(last + 2, "0123456789") == strlen(last + 2)) {
			*last = '\0';
			asset = strrchr(dir, '/');
			if (asset) {
				*asset = '\0';
				why_set(what, sizeof(what), "%s %s %s", dir, asset + 1, last + 1);
			} else {
				why_set(what, sizeof(what), "%s %s", dir, last + 1);
			}
		} else {
			snprintf(what, sizeof(what), "%s", dir);
		}
	} else {
		snprintf(what, sizeof(what), "%zu component%s", n, n == 1 ? "" : "s");
	}
	snprintf(out, len, "ftrackfs: %s (%zu file%s) from %s", what, n_files,
		 n_files == 1 ? "" : "s", user && *user ? user : "ftrackfs");
	/* leave room for accsyn_job_create()'s " [<token>]" */
	utf8_cut(out, len > 80 ? len - 80 : len - 1);
}

int send_token(char out[33])
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t r = getrandom(b + got, sizeof(b) - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

int send_state_text(const struct cache_compstate *cs, char *buf, size_t len)
{
	if (!len)
		return 0;
	switch (cs->state) {
	case CACHE_LOC_QUEUED:
		if (cs->reason[0])
			why_set(buf, len, "queued (%s)", cs->reason);
		else
			why_set(buf, len, "queued");
		break;
	case CACHE_LOC_TRANSFERRING: {
		unsigned pct = cs->bytes_total ?
			(unsigned)(cs->bytes_done * 100 / cs->bytes_total) : 0;

		if (cs->reason[0])
			why_set(buf, len, "transferring %u%% (%s)", pct > 100 ? 100 : pct, cs->reason);
		else
			why_set(buf, len, "transferring %u%%", pct > 100 ? 100 : pct);
		break;
	}
	case CACHE_LOC_PRESENT:
		why_set(buf, len, "present");
		break;
	case CACHE_LOC_FAILED:
		why_set(buf, len, "failed: %s", cs->reason[0] ? cs->reason : "unknown reason");
		break;
	default:
		why_set(buf, len, "absent");
		break;
	}
	utf8_cut(buf, len - 1);
	return (int)strlen(buf);
}

struct sbuf {
	char *p;
	size_t n, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap : 256);
		char *p;

		while (cap < b->n + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, "\"", 1);
	for (; *s; s++) {
		char esc[8];

		if (*s == '"' || *s == '\\') {
			esc[0] = '\\';
			esc[1] = *s;
			sb_add(b, esc, 2);
		} else if ((unsigned char)*s < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char)*s);
			sb_add(b, esc, 6);
		} else {
			sb_add(b, s, 1);
		}
	}
	sb_add(b, "\"", 1);
}

static void sb_kv(struct sbuf *b, const char *k, const char *v, bool last)
{
	sb_str(b, k);
	sb_add(b, ": ", 2);
	sb_str(b, v);
	if (!last)
		sb_add(b, ", ", 2);
}

int send_job_json(const struct cache_job *j, char **ret_buf)
{
	struct sbuf b = { 0 };
	char num[160];

	sb_add(&b, "{", 1);
	sb_kv(&b, "id", j->job_id, false);
	sb_kv(&b, "name", j->name, false);
	sb_kv(&b, "status", j->status, false);
	snprintf(num, sizeof(num), "\"progress\": %u, \"bytes_done\": %llu, \"bytes_total\": %llu, ",
		 j->progress, (unsigned long long)j->bytes_done, (unsigned long long)j->bytes_total);
	sb_add(&b, num, strlen(num));
	snprintf(num, sizeof(num), "\"created_ns\": %lld, \"updated_ns\": %lld, \"finished_ns\": %lld, ",
		 (long long)j->created_ns, (long long)j->updated_ns, (long long)j->finished_ns);
	sb_add(&b, num, strlen(num));
	sb_kv(&b, "source_location", j->src_location_id, false);
	sb_kv(&b, "destination_location", j->dst_location_id, false);
	sb_kv(&b, "ftrack_job_id", j->ftrack_job_id, false);
	sb_kv(&b, "client_token", j->client_token, false);
	sb_kv(&b, "reason", j->reason, true);
	sb_add(&b, "}\n", 2);
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*ret_buf = b.p;
	return (int)b.n;
}
