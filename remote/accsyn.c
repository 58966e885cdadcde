/* SPDX-License-Identifier: Apache-2.0 */
/*
 * accsyn.c - the accsyn v3 REST client.
 *
 * Design note: one function, event(), sends every operation: it builds the
 * envelope, puts it in the body (POST/PUT) or the URL-quoted query string
 * (GET/DELETE), and decides the outcome from the reply's JSON keys. Login
 * and discovery are lazy and cached under a lock; the Authorization header
 * (which carries the key) is built once and only ever handed to curl.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ftrackfs/accsyn.h"
#include "ftrackfs/log.h"
#include "ftrackfs/util.h"
#include "accsyn_i.h"
#include "http_i.h"
#include "json_i.h"

#define DISCOVERY_PATH "/api/v3/J3PKTtDvolDMBtTy6AFGA"

struct accsyn {
	char *workspace;
	char *user;
	char *hdr_auth;		/* "Authorization: basic ..." (secret: never logged) */
	char *hdr_ws;
	char *hdr_device;
	char *proxy_base;	/* "http://H:P" or NULL */
	char *fixed_base;	/* "https://host:port" or NULL */
	char *master;
	char hostname[256];
	struct http_client http;

	pthread_mutex_t lock;	/* guards the fields below */
	char *base;		/* resolved base URL */
	char *session;		/* session_id from login */
	char last_error[512];
	int last_errno;
};

static void set_error(struct accsyn *a, int err, const char *text)
{
	pthread_mutex_lock(&a->lock);
	a->last_errno = err;
	snprintf(a->last_error, sizeof(a->last_error), "%s", text ? text : "");
	pthread_mutex_unlock(&a->lock);
}

int accsyn_last_error(struct accsyn *a, char *buf, size_t len)
{
	int err;

	pthread_mutex_lock(&a->lock);
	err = a->last_errno;
	if (buf && len)
		snprintf(buf, len, "%s", a->last_error);
	pthread_mutex_unlock(&a->lock);
	return err;
}

uint64_t accsyn_request_count(const struct accsyn *a)
{
	return atomic_load(&((struct accsyn *)a)->http.n_requests);
}

int accsyn_config_from_env(struct accsyn_config *cfg)
{
	const char *ws = getenv("ACCSYN_WORKSPACE");

	if (!ws || !*ws)
		ws = getenv("ACCSYN_DOMAIN");
	if (!ws || !*ws)
		ws = getenv("ACCSYN_ORG");
	cfg->workspace = ws;
	cfg->api_user = getenv("ACCSYN_API_USER");
	cfg->api_key = getenv("ACCSYN_API_KEY");
	cfg->proxy = getenv("ACCSYN_PROXY");
	if (cfg->proxy && !*cfg->proxy)
		cfg->proxy = NULL;
	if (!cfg->workspace || !*cfg->workspace || !cfg->api_user || !*cfg->api_user ||
	    !cfg->api_key || !*cfg->api_key)
		return -ENOENT;
	return 0;
}

int accsyn_auth_header(const char *user, const char *key, char **ret)
{
	char *bu = NULL, *bk = NULL, *s = NULL;
	size_t n;
	int r;

	r = http_base64(user, strlen(user), &bu);
	if (r < 0)
		goto out;
	r = http_base64(key, strlen(key), &bk);
	if (r < 0)
		goto out;
	n = strlen("Authorization: basic ") + strlen(bu) + 1 + strlen(bk) + 1;
	s = malloc(n);
	if (!s) {
		r = -ENOMEM;
		goto out;
	}
	snprintf(s, n, "Authorization: basic %s:%s", bu, bk);
	*ret = s;
	r = 0;
out:
	if (bk)
		explicit_bzero(bk, strlen(bk));
	free(bu);
	free(bk);
	return r;
}

static bool text_safe(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return s != NULL;
}

static char *xasprintf(const char *fmt, ...) _printf_(1, 2);
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

int accsyn_new(const struct accsyn_config *cfg, struct accsyn **ret_a)
{
	struct accsyn *a;
	const char *proxy;
	int r;

	if (!cfg || !text_safe(cfg->workspace) || !*cfg->workspace || !text_safe(cfg->api_user) ||
	    !*cfg->api_user || !text_safe(cfg->api_key) || !*cfg->api_key)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	r = http_client_init(&a->http, &cfg->transport);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	a->workspace = strdup(cfg->workspace);
	a->user = strdup(cfg->api_user);
	a->hdr_ws = xasprintf("X-Accsyn-Workspace: %s", cfg->workspace);
	if (gethostname(a->hostname, sizeof(a->hostname) - 1) < 0 || !text_safe(a->hostname))
		snprintf(a->hostname, sizeof(a->hostname), "localhost");
	a->hdr_device = xasprintf("X-Accsyn-Device: ftrackfs v0.1.0 @ linux %s(posix)", a->hostname);
	a->master = strdup(cfg->master ? cfg->master : "master.accsyn.com");
	if (!a->workspace || !a->user || !a->hdr_ws || !a->hdr_device || !a->master)
		goto fail;
	r = accsyn_auth_header(cfg->api_user, cfg->api_key, &a->hdr_auth);
	if (r < 0)
		goto fail;
	proxy = cfg->proxy;
	if (proxy && strncmp(proxy, "accsyn:", 7) == 0)
		proxy += 7;
	if (proxy) {
		if (!text_safe(proxy) || strncmp(proxy, "socks", 5) == 0 || !strchr(proxy, ':')) {
			r = -EINVAL;
			goto fail;
		}
		a->proxy_base = xasprintf("http://%s", proxy);
		if (!a->proxy_base) {
			r = -ENOMEM;
			goto fail;
		}
		r = http_check_url(a->proxy_base, cfg->transport.allow_insecure_http);
		if (r < 0)
			goto fail;
	} else if (cfg->hostname) {
		if (!text_safe(cfg->hostname)) {
			r = -EINVAL;
			goto fail;
		}
		a->fixed_base = xasprintf("https://%s:%d", cfg->hostname, cfg->port > 0 ? cfg->port : 443);
		if (!a->fixed_base) {
			r = -ENOMEM;
			goto fail;
		}
		r = http_check_url(a->fixed_base, false);
		if (r < 0)
			goto fail;
	}
	*ret_a = a;
	return 0;
fail:
	accsyn_free(a);
	return r;
}

void accsyn_free(struct accsyn *a)
{
	if (!a)
		return;
	http_client_release(&a->http);
	free(a->workspace);
	free(a->user);
	if (a->hdr_auth) {
		explicit_bzero(a->hdr_auth, strlen(a->hdr_auth));
		free(a->hdr_auth);
	}
	free(a->hdr_ws);
	free(a->hdr_device);
	free(a->proxy_base);
	free(a->fixed_base);
	free(a->master);
	free(a->base);
	free(a->session);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* ---- replies ------------------------------------------------------------ */

int accsyn_decode_reply(const char *body, size_t len, long status, cJSON **ret_root,
			const cJSON **ret_result, bool *ret_expired, char *err, size_t errlen)
{
	cJSON *root = NULL;
	const cJSON *res;
	const char *msg = NULL, *hr = NULL, *exc = NULL;
	bool expired = false;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (ret_expired)
		*ret_expired = false;
	r = json_parse(body, len, &root);
	if (r < 0) {
		if (err && errlen)
			snprintf(err, errlen, "reply is not JSON (HTTP %ld, %zu bytes)", status, len);
		return status >= 400 ? errno_from_http_status(status) : -EPROTO;
	}
	if (!cJSON_IsObject(root)) {
		r = -EPROTO;
		if (err && errlen)
			snprintf(err, errlen, "reply is not a JSON object");
		goto fail;
	}
	if (json_get_str(root, "exception", &exc) == 1 ||
	    cJSON_GetObjectItemCaseSensitive(root, "exception")) {
		if (err && errlen)
			snprintf(err, errlen, "server exception: %s", exc ? exc : "(no text)");
		r = -EIO;
		goto fail;
	}
	(void)json_get_str(root, "message", &msg);
	(void)json_get_str(root, "message_hr", &hr);
	if (msg || hr || cJSON_GetObjectItemCaseSensitive(root, "message")) {
		(void)json_get_bool(root, "session_expired", &expired);
		if (ret_expired)
			*ret_expired = expired;
		if (err && errlen)
			snprintf(err, errlen, "%s", hr ? hr : msg ? msg : "(no message)");
		/* the JSON said "error"; the status only refines which one */
		if (status == 401 || status == 403 || status == 404 || status == 429 || status >= 500)
			r = errno_from_http_status(status);
		else
			r = -EINVAL;
		goto fail;
	}
	res = cJSON_GetObjectItemCaseSensitive(root, "result");
	if (!res) {
		r = -EPROTO;
		if (err && errlen)
			snprintf(err, errlen, "reply has neither result nor message");
		goto fail;
	}
	*ret_root = root;
	*ret_result = res;
	return 0;
fail:
	cJSON_Delete(root);
	return r;
}

static int dup_opt(const cJSON *o, const char *key, char **dst)
{
	int r = json_dup_str(o, key, dst);

	return r < 0 ? r : 0;
}

/* "YYYY-MM-DDTHH:MM:SS[.fff]" in replies, optional; bad values are -EPROTO. */
static int get_time(const cJSON *o, const char *key, int64_t *ret)
{
	const char *s;
	int r = json_get_str(o, key, &s);

	if (r <= 0)
		return r;
	if (!*s)
		return 0;
	return json_parse_time(s, ret);
}

/* A party as sent: a string, or a dict with "path"/"path_abs_final". */
static int dup_party(const cJSON *o, const char *key, char **dst)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	const char *s = NULL;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsString(v))
		s = v->valuestring;
	else if (cJSON_IsObject(v)) {
		if (json_get_str(v, "path", &s) < 0)
			return -EPROTO;
	} else
		return -EPROTO;
	if (!s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

#define TRY(x) do { r = (x); if (r < 0) goto fail; } while (0)

int accsyn_decode_job(const cJSON *o, struct accsyn_job *j)
{
	const cJSON *meta;
	int64_t v;
	double d;
	int r;

	memset(j, 0, sizeof(*j));
	if (!cJSON_IsObject(o))
		return -EPROTO;
	r = json_dup_str(o, "id", &j->id);
	if (r == 0)
		r = -EPROTO;
	if (r < 0)
		goto fail;
	TRY(dup_opt(o, "code", &j->code));
	if (!j->code)
		TRY(dup_opt(o, "name", &j->code));
	TRY(dup_opt(o, "status", &j->status_text));
	j->status = accsyn_job_status_from_string(j->status_text);
	r = json_get_int(o, "progress", &v);
	if (r < 0)
		goto fail;
	j->progress = r == 1 ? (int)(v < 0 ? 0 : v > 100 ? 100 : v) : 0;
	r = json_get_int(o, "size", &v);
	if (r < 0)
		goto fail;
	j->size = r == 1 ? v : -1;
	r = json_get_double(o, "speed", &d);
	if (r < 0)
		goto fail;
	j->speed = r == 1 ? d : 0.0;
	TRY(dup_opt(o, "etr", &j->etr));
	TRY(dup_party(o, "source", &j->source));
	TRY(dup_party(o, "destination", &j->destination));
	TRY(dup_opt(o, "message", &j->error_message));
	TRY(get_time(o, "created", &j->created_ns));
	TRY(get_time(o, "finished", &j->finished_ns));
	meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	if (cJSON_IsObject(meta))
		TRY(dup_opt(meta, "ftrackfs_token", &j->token));
	return 0;
fail:
	accsyn_job_release(j);
	return r == -ENOMEM ? r : -EPROTO;
}

int accsyn_decode_task(const cJSON *o, struct accsyn_task *t)
{
	const cJSON *meta, *uri;
	int64_t v;
	int r;

	memset(t, 0, sizeof(*t));
	if (!cJSON_IsObject(o))
		return -EPROTO;
	r = json_dup_str(o, "id", &t->id);
	if (r == 0)
		r = -EPROTO;
	if (r < 0)
		goto fail;
	uri = cJSON_GetObjectItemCaseSensitive(o, "uri");
	if (cJSON_IsNumber(uri)) {
		int64_t u;

		if (json_value_int(uri, &u) != 1 || !(t->uri = malloc(24)))
			TRY(-EPROTO);
		snprintf(t->uri, 24, "%" PRId64, u);
	} else {
		TRY(dup_opt(o, "uri", &t->uri));
	}
	TRY(dup_opt(o, "status", &t->status_text));
	t->status = accsyn_task_status_from_string(t->status_text);
	r = json_get_int(o, "progress", &v);
	if (r < 0)
		goto fail;
	t->progress = r == 1 ? (int)(v < 0 ? 0 : v > 100 ? 100 : v) : t->status == ACCSYN_TASK_DONE ? 100 : 0;
	r = json_get_int(o, "size", &v);
	if (r < 0)
		goto fail;
	t->size = r == 1 ? v : 0;
	TRY(dup_party(o, "source", &t->source));
	TRY(dup_party(o, "destination", &t->destination));
	TRY(dup_opt(o, "message", &t->error_message));
	meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	if (cJSON_IsObject(meta))
		TRY(dup_opt(meta, "ftrack_component_id", &t->component_id));
	return 0;
fail:
	accsyn_task_release(t);
	return r == -ENOMEM ? r : -EPROTO;
}

/* ---- transport ----------------------------------------------------------- */

static void random_uuid(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[16];
	size_t o = 0;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		memset(rnd, 0x5a, sizeof(rnd));
	rnd[6] = (rnd[6] & 0x0f) | 0x40;
	rnd[8] = (rnd[8] & 0x3f) | 0x80;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[rnd[i] >> 4];
		out[o++] = hex[rnd[i] & 15];
	}
	out[o] = '\0';
}

/* One HTTP exchange; decides by JSON keys. *ret_root owned by the caller. */
static int exchange(struct accsyn *a, const char *method, const char *url, const char *body,
		    bool auth, bool idempotent, cJSON **ret_root, const cJSON **ret_result,
		    bool *ret_expired)
{
	const char *hdrs[4];
	size_t nh = 0;
	struct http_request req = {
		.method = method,
		.url = url,
		.headers = hdrs,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.idempotent = idempotent,
	};
	struct http_response resp = { 0 };
	char err[512];
	int r;

	hdrs[nh++] = "Content-Type: application/json";
	if (auth) {
		hdrs[nh++] = a->hdr_auth;
		hdrs[nh++] = a->hdr_ws;
	}
	hdrs[nh++] = a->hdr_device;
	req.n_headers = nh;
	r = http_perform(&a->http, &req, &resp);
	if (r < 0) {
		set_error(a, r, strerror(-r));
		return r;
	}
	r = accsyn_decode_reply(resp.body, resp.body_len, resp.status, ret_root, ret_result,
				ret_expired, err, sizeof(err));
	http_response_release(&resp);
	if (r < 0)
		set_error(a, r, err);
	return r;
}

/* Discovery (unless proxied to a fixed host) and login, once. */
static int ensure_login(struct accsyn *a, bool force)
{
	cJSON *root = NULL;
	const cJSON *res;
	char *base = NULL, *url = NULL, *session = NULL, *q = NULL, *ident = NULL;
	const char *s;
	int r;

	pthread_mutex_lock(&a->lock);
	if (a->session && !force) {
		pthread_mutex_unlock(&a->lock);
		return 0;
	}
	pthread_mutex_unlock(&a->lock);

	if (a->fixed_base) {
		base = strdup(a->fixed_base);
	} else {
		cJSON *o = cJSON_CreateObject();
		const char *dbase;
		int64_t port = 443;

		if (!o || !cJSON_AddStringToObject(o, "ident", a->workspace) ||
		    !(ident = cJSON_PrintUnformatted(o))) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
		cJSON_Delete(o);
		r = http_urlquote(ident, strlen(ident), &q);
		cJSON_free(ident);
		if (r < 0)
			return r;
		if (a->proxy_base)
			url = xasprintf("%s%s?%s", a->proxy_base, DISCOVERY_PATH, q);
		else
			url = xasprintf("https://%s:443%s?%s", a->master, DISCOVERY_PATH, q);
		free(q);
		if (!url)
			return -ENOMEM;
		r = exchange(a, "GET", url, NULL, false, true, &root, &res, NULL);
		free(url);
		if (r < 0)
			return r;
		if (json_get_str(res, "hostname", &s) != 1 || !text_safe(s) || !*s ||
		    json_get_int(res, "port", &port) < 0 || port <= 0 || port > 65535) {
			cJSON_Delete(root);
			set_error(a, -EPROTO, "malformed discovery reply");
			return -EPROTO;
		}
		dbase = a->proxy_base;
		base = dbase ? strdup(dbase) : xasprintf("https://%s:%" PRId64, s, port);
		cJSON_Delete(root);
		root = NULL;
	}
	if (!base)
		return -ENOMEM;
	url = xasprintf("%s/api/v3/api/login", base);
	if (!url) {
		free(base);
		return -ENOMEM;
	}
	r = exchange(a, "PUT", url, "{}", true, true, &root, &res, NULL);
	free(url);
	if (r < 0) {
		free(base);
		return r;
	}
	if (json_get_str(res, "session_id", &s) != 1 || !(session = strdup(s))) {
		cJSON_Delete(root);
		free(base);
		set_error(a, -EPROTO, "login reply has no session_id");
		return -EPROTO;
	}
	cJSON_Delete(root);
	pthread_mutex_lock(&a->lock);
	free(a->base);
	free(a->session);
	a->base = base;
	a->session = session;
	pthread_mutex_unlock(&a->lock);
	log_debug("accsyn", "logged in to workspace %s", a->workspace);
	return 0;
}

int accsyn_login(struct accsyn *a)
{
	return ensure_login(a, false);
}

/*
 * event() - one operation. @data is consumed. @query/@id may be NULL.
 * *ret_root owned by the caller; *ret_result borrowed from it.
 */
static int event(struct accsyn *a, const char *method, const char *uri, cJSON *data,
		 const char *query, const char *id, bool idempotent, cJSON **ret_root,
		 const cJSON **ret_result)
{
	char eid[37], created[32];
	cJSON *env = NULL;
	char *text = NULL, *q = NULL, *url = NULL;
	bool expired = false;
	int r;

	for (int attempt = 0; attempt < 2; attempt++) {
		r = ensure_login(a, attempt > 0);
		if (r < 0)
			break;
		env = cJSON_CreateObject();
		if (!env) {
			r = -ENOMEM;
			break;
		}
		random_uuid(eid);
		json_format_time((int64_t)time(NULL) * 1000000000LL, created, sizeof(created));
		pthread_mutex_lock(&a->lock);
		r = (cJSON_AddStringToObject(env, "audience", "api") &&
		     cJSON_AddStringToObject(env, "workspace", a->workspace) &&
		     cJSON_AddStringToObject(env, "eid", eid) &&
		     cJSON_AddStringToObject(env, "session", a->session) &&
		     cJSON_AddStringToObject(env, "uri", uri) &&
		     cJSON_AddStringToObject(env, "ident", a->user) &&
		     cJSON_AddStringToObject(env, "created", created) &&
		     cJSON_AddStringToObject(env, "hostname", a->hostname)) ? 0 : -ENOMEM;
		url = r == 0 ? xasprintf("%s/api/v3/event", a->base) : NULL;
		pthread_mutex_unlock(&a->lock);
		if (r == 0 && data) {
			cJSON *dup = cJSON_Duplicate(data, true);

			if (!dup || !cJSON_AddItemToObject(env, "data", dup)) {
				cJSON_Delete(dup);
				r = -ENOMEM;
			}
		}
		if (r == 0 && query && !cJSON_AddStringToObject(env, "query", query))
			r = -ENOMEM;
		if (r == 0 && id && !cJSON_AddStringToObject(env, "id", id))
			r = -ENOMEM;
		if (r == 0 && !url)
			r = -ENOMEM;
		if (r == 0 && !(text = cJSON_PrintUnformatted(env)))
			r = -ENOMEM;
		cJSON_Delete(env);
		env = NULL;
		if (r < 0)
			break;
		if (strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0) {
			char *full;

			r = http_urlquote(text, strlen(text), &q);
			if (r < 0)
				break;
			full = xasprintf("%s?%s", url, q);
			free(q);
			q = NULL;
			if (!full) {
				r = -ENOMEM;
				break;
			}
			r = exchange(a, method, full, NULL, true, idempotent, ret_root, ret_result, &expired);
			free(full);
		} else {
			r = exchange(a, method, url, text, true, idempotent, ret_root, ret_result, &expired);
		}
		cJSON_free(text);
		text = NULL;
		free(url);
		url = NULL;
		if (!(r < 0 && expired))
			break;
		log_info("accsyn", "session expired, logging in again");
	}
	cJSON_free(text);
	free(url);
	cJSON_Delete(data);
	return r;
}

/* The first job of a result (a dict, or a list's first element). */
static int first_job(const cJSON *res, struct accsyn_job *ret)
{
	if (cJSON_IsArray(res)) {
		if (cJSON_GetArraySize(res) == 0)
			return 0;
		res = cJSON_GetArrayItem(res, 0);
	}
	if (!cJSON_IsObject(res))
		return -EPROTO;
	return accsyn_decode_job(res, ret) < 0 ? -EPROTO : 1;
}

static bool token_ok(const char *t)
{
	size_t n = 0;

	if (!t)
		return false;
	for (; t[n]; n++) {
		char c = t[n];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return n >= 1 && n <= 64;
}

static bool job_id_ok(const char *id)
{
	size_t n = 0;

	if (!id)
		return false;
	for (; id[n]; n++)
		if (!((id[n] >= 'a' && id[n] <= 'z') || (id[n] >= '0' && id[n] <= '9')))
			return false;
	return n == 24;
}

int accsyn_job_create(struct accsyn *a, const struct accsyn_job_spec *spec,
		      struct accsyn_job *ret_job)
{
	cJSON *data, *tasks, *meta, *root = NULL;
	const cJSON *res;
	char *code = NULL;
	int r = -ENOMEM;

	if (!spec || !text_safe(spec->code) || !token_ok(spec->token) || spec->n_tasks == 0 ||
	    !spec->tasks)
		return -EINVAL;
	for (size_t i = 0; i < spec->n_tasks; i++)
		if (!text_safe(spec->tasks[i].source) || !text_safe(spec->tasks[i].destination))
			return -EINVAL;
	data = cJSON_CreateObject();
	if (!data)
		return -ENOMEM;
	code = xasprintf("%s #%s", spec->code, spec->token);
	if (!code || !cJSON_AddStringToObject(data, "code", code))
		goto fail;
	if (spec->mirror_paths && !cJSON_AddTrueToObject(data, "mirror_paths"))
		goto fail;
	if (spec->paused && !cJSON_AddStringToObject(data, "status", "paused"))
		goto fail;
	meta = cJSON_AddObjectToObject(data, "metadata");
	if (!meta || !cJSON_AddStringToObject(meta, "ftrackfs_token", spec->token))
		goto fail;
	for (size_t i = 0; i < spec->n_metadata; i++) {
		if (!spec->metadata[i].key || !spec->metadata[i].value) {
			r = -EINVAL;
			goto fail;
		}
		if (!cJSON_AddStringToObject(meta, spec->metadata[i].key, spec->metadata[i].value))
			goto fail;
	}
	tasks = cJSON_AddArrayToObject(data, "tasks");
	if (!tasks)
		goto fail;
	for (size_t i = 0; i < spec->n_tasks; i++) {
		cJSON *t = cJSON_CreateObject();

		if (!t || !cJSON_AddItemToArray(tasks, t)) {
			cJSON_Delete(t);
			goto fail;
		}
		if (!cJSON_AddStringToObject(t, "source", spec->tasks[i].source) ||
		    !cJSON_AddStringToObject(t, "destination", spec->tasks[i].destination))
			goto fail;
		if (spec->tasks[i].component_id) {
			cJSON *tm = cJSON_AddObjectToObject(t, "metadata");

			if (!tm || !cJSON_AddStringToObject(tm, "ftrack_component_id",
							    spec->tasks[i].component_id))
				goto fail;
		}
	}
	free(code);
	r = event(a, "POST", "job/create", data, NULL, NULL, false, &root, &res);
	if (r < 0)
		return r;
	r = first_job(res, ret_job);
	cJSON_Delete(root);
	if (r == 0) {
		set_error(a, -EPROTO, "job/create returned no job");
		return -EPROTO;
	}
	return r < 0 ? r : 0;
fail:
	free(code);
	cJSON_Delete(data);
	return r;
}

int accsyn_job_get(struct accsyn *a, const char *job_id, struct accsyn_job *ret_job)
{
	cJSON *data, *root = NULL;
	const cJSON *res;
	char q[64];
	int r;

	if (!job_id_ok(job_id))
		return -EINVAL;
	data = cJSON_CreateObject();
	if (!data || !cJSON_AddTrueToObject(data, "single_entity_query")) {
		cJSON_Delete(data);
		return -ENOMEM;
	}
	snprintf(q, sizeof(q), "id=%s", job_id);
	r = event(a, "GET", "job/find", data, q, NULL, true, &root, &res);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = first_job(res, ret_job);
	cJSON_Delete(root);
	return r;
}

int accsyn_job_find_by_token(struct accsyn *a, const char *token, struct accsyn_job *ret_job)
{
	cJSON *data, *root = NULL;
	const cJSON *res, *it;
	char q[128];
	int r;

	if (!token_ok(token))
		return -EINVAL;
	data = cJSON_CreateObject();
	if (!data || !cJSON_AddTrueToObject(data, "finished")) {
		cJSON_Delete(data);
		return -ENOMEM;
	}
	snprintf(q, sizeof(q), "code=\"* #%s\"", token);
	r = event(a, "GET", "job/find", data, q, NULL, true, &root, &res);
	if (r < 0)
		return r;
	if (!cJSON_IsArray(res)) {
		cJSON_Delete(root);
		return -EPROTO;
	}
	/* the query narrows; the token in the metadata decides */
	r = 0;
	cJSON_ArrayForEach(it, res) {
		struct accsyn_job j;

		if (accsyn_decode_job(it, &j) < 0) {
			r = -EPROTO;
			break;
		}
		if (j.token && strcmp(j.token, token) == 0) {
			*ret_job = j;
			r = 1;
			break;
		}
		accsyn_job_release(&j);
	}
	cJSON_Delete(root);
	return r;
}

static int set_status(struct accsyn *a, const char *job_id, const char *status,
		      struct accsyn_job *ret_job)
{
	cJSON *data, *root = NULL;
	const cJSON *res;
	struct accsyn_job j;
	int r;

	if (!job_id_ok(job_id))
		return -EINVAL;
	data = cJSON_CreateObject();
	if (!data || !cJSON_AddStringToObject(data, "status", status)) {
		cJSON_Delete(data);
		return -ENOMEM;
	}
	/* setting a status is idempotent: safe to retry */
	r = event(a, "PUT", "job/edit", data, NULL, job_id, true, &root, &res);
	if (r < 0)
		return r;
	r = first_job(res, &j);
	cJSON_Delete(root);
	if (r <= 0)
		return r < 0 ? r : -EPROTO;
	if (ret_job)
		*ret_job = j;
	else
		accsyn_job_release(&j);
	return 0;
}

int accsyn_job_pause(struct accsyn *a, const char *job_id, struct accsyn_job *ret_job)
{
	return set_status(a, job_id, "paused", ret_job);
}

int accsyn_job_resume(struct accsyn *a, const char *job_id, struct accsyn_job *ret_job)
{
	return set_status(a, job_id, "waiting", ret_job);
}

int accsyn_job_abort(struct accsyn *a, const char *job_id, struct accsyn_job *ret_job)
{
	return set_status(a, job_id, "aborted", ret_job);
}

int accsyn_job_tasks(struct accsyn *a, const char *job_id, struct accsyn_task **ret, size_t *ret_n)
{
	cJSON *data, *root = NULL;
	const cJSON *res, *it;
	struct accsyn_task *arr = NULL;
	size_t n = 0, cap;
	int r;

	if (!job_id_ok(job_id))
		return -EINVAL;
	data = cJSON_CreateObject();
	if (!data || !cJSON_AddStringToObject(data, "parent", job_id)) {
		cJSON_Delete(data);
		return -ENOMEM;
	}
	r = event(a, "GET", "task/find", data, NULL, NULL, true, &root, &res);
	if (r < 0)
		return r;
	if (cJSON_IsObject(res)) {
		cap = 1;
	} else if (cJSON_IsArray(res)) {
		cap = (size_t)cJSON_GetArraySize(res);
	} else {
		cJSON_Delete(root);
		return -EPROTO;
	}
	if (cap > 0) {
		arr = calloc(cap, sizeof(*arr));
		if (!arr) {
			cJSON_Delete(root);
			return -ENOMEM;
		}
	}
	if (cJSON_IsObject(res)) {
		r = accsyn_decode_task(res, &arr[0]);
		n = r == 0 ? 1 : 0;
	} else {
		cJSON_ArrayForEach(it, res) {
			r = accsyn_decode_task(it, &arr[n]);
			if (r < 0)
				break;
			n++;
		}
	}
	cJSON_Delete(root);
	if (r < 0) {
		accsyn_task_array_free(arr, n);
		return r;
	}
	*ret = arr;
	*ret_n = n;
	return 0;
}
