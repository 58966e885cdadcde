/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.c - libcurl underneath both clients.
 *
 * Design note: each thread keeps one easy handle (a pthread key with a
 * destructor), reset before each request so no option leaks from one call
 * to the next while the connection cache survives: keep-alive reuse without
 * a shared handle or a lock. Bodies go into a buffer with a hard cap; a
 * short write makes curl abort the transfer, and the flag in the buffer
 * tells the cap apart from other write errors. CURLOPT_VERBOSE is never
 * set, and neither header values nor query strings are logged: the
 * Authorization/ftrack-api-key headers and accsyn envelopes stay out of
 * every log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "ftrackfs/log.h"
#include "ftrackfs/util.h"
#include "http_i.h"

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t curl_key;
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static bool global_done;

static void curl_key_destroy(void *p)
{
	curl_easy_cleanup(p);
}

static void curl_key_make(void)
{
	(void)pthread_key_create(&curl_key, curl_key_destroy);
}

int remote_global_init(void)
{
	int r = 0;

	pthread_mutex_lock(&global_lock);
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			r = -EIO;
		else
			global_done = true;
	}
	pthread_mutex_unlock(&global_lock);
	pthread_once(&key_once, curl_key_make);
	return r;
}

void remote_thread_cleanup(void)
{
	CURL *h;

	pthread_once(&key_once, curl_key_make);
	h = pthread_getspecific(curl_key);
	if (h) {
		curl_easy_cleanup(h);
		pthread_setspecific(curl_key, NULL);
	}
}

void remote_global_cleanup(void)
{
	remote_thread_cleanup();
	pthread_mutex_lock(&global_lock);
	if (global_done) {
		curl_global_cleanup();
		global_done = false;
	}
	pthread_mutex_unlock(&global_lock);
}

static CURL *thread_handle(void)
{
	CURL *h;

	pthread_once(&key_once, curl_key_make);
	h = pthread_getspecific(curl_key);
	if (h) {
		curl_easy_reset(h);
		return h;
	}
	h = curl_easy_init();
	if (!h)
		return NULL;
	if (pthread_setspecific(curl_key, h) != 0) {
		curl_easy_cleanup(h);
		return NULL;
	}
	return h;
}

/* The one table from curl's codes to errno. */
STATIC int errno_from_curl(int code)
{
	switch ((CURLcode)code) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return -EHOSTUNREACH;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return -ECONNRESET;	/* dropped or truncated: transient */
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
		return -EPROTO;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

int errno_from_http_status(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 400:
	case 422:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
	case 410:
		return -ENOENT;
	case 408:
	case 504:
		return -ETIMEDOUT;
	case 413:
		return -EFBIG;
	case 429:
	case 503:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

int http_client_init(struct http_client *c, const struct remote_transport *t)
{
	memset(c, 0, sizeof(*c));
	if (t)
		c->t = *t;
	if (c->t.connect_timeout_ms <= 0)
		c->t.connect_timeout_ms = 10000;
	if (c->t.timeout_ms <= 0)
		c->t.timeout_ms = 120000;
	if (c->t.max_body_bytes == 0)
		c->t.max_body_bytes = REMOTE_DEFAULT_MAX_BODY;
	if (c->t.max_retries == 0)
		c->t.max_retries = 4;
	else if (c->t.max_retries < 0)
		c->t.max_retries = 0;
	if (c->t.retry_base_ms <= 0)
		c->t.retry_base_ms = 200;
	if (c->t.retry_max_ms <= 0)
		c->t.retry_max_ms = 10000;
	c->t.ca_file = NULL;
	if (t && t->ca_file) {
		c->ca_file = strdup(t->ca_file);
		if (!c->ca_file)
			return -ENOMEM;
		c->t.ca_file = c->ca_file;
	}
	atomic_init(&c->n_requests, 0);
	return 0;
}

void http_client_release(struct http_client *c)
{
	if (!c)
		return;
	free(c->ca_file);
	c->ca_file = NULL;
}

static bool host_is_loopback(const char *host)
{
	unsigned char a[16];
	char tmp[64];
	size_t n;

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(tmp)) {
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		host = tmp;
	}
	if (inet_pton(AF_INET6, host, a) == 1) {
		static const unsigned char one[16] = { [15] = 1 };

		return memcmp(a, one, 16) == 0;
	}
	return false;
}

int http_check_url(const char *url, bool allow_insecure)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	int r = -EINVAL;

	if (!url)
		return -EINVAL;
	u = curl_url();
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (strcasecmp(scheme, "https") == 0)
		r = 0;
	else if (strcasecmp(scheme, "http") == 0)
		r = (allow_insecure || host_is_loopback(host)) ? 0 : -EPERM;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

struct body_buf {
	char *data;
	size_t len, cap, max;
	bool too_big;
	bool oom;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct body_buf *b = ud;
	size_t len = size * n;

	if (len > b->max - b->len) {
		b->too_big = true;
		return 0;	/* a short count aborts the transfer */
	}
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *d;

		while (cap < b->len + len + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		d = realloc(b->data, cap);
		if (!d) {
			b->oom = true;
			return 0;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

/* URL up to the query string: safe to log (no envelope, no key). */
static void url_for_log(const char *url, char *buf, size_t len)
{
	size_t n = strcspn(url, "?");

	if (n >= len)
		n = len - 1;
	memcpy(buf, url, n);
	buf[n] = '\0';
}

static int perform_once(struct http_client *c, const struct http_request *req,
			struct http_response *ret, long *ret_retry_after_ms)
{
	struct curl_slist *hdrs = NULL, *tmp;
	struct body_buf b = { .max = c->t.max_body_bytes };
	CURL *h = thread_handle();
	CURLcode rc;
	curl_off_t retry_after = 0;
	long status = 0;
	int r;

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < req->n_headers; i++) {
		tmp = curl_slist_append(hdrs, req->headers[i]);
		if (!tmp) {
			r = -ENOMEM;
			goto out;
		}
		hdrs = tmp;
	}
	/* no 100-continue round trip for POST bodies */
	tmp = curl_slist_append(hdrs, "Expect:");
	if (!tmp) {
		r = -ENOMEM;
		goto out;
	}
	hdrs = tmp;

	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->t.connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->t.timeout_ms);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->t.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->t.ca_file);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->t.max_body_bytes);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "ftrackfs/0.1");
	if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(req->method, "POST") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body || strcmp(req->method, "DELETE") != 0) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)(req->body ? req->body_len : 0));
		}
	}

	atomic_fetch_add(&c->n_requests, 1);
	rc = curl_easy_perform(h);
	if (b.too_big)
		r = -EFBIG;
	else if (b.oom)
		r = -ENOMEM;
	else
		r = errno_from_curl(rc);
	if (r < 0)
		goto out;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
		*ret_retry_after_ms = retry_after > 86400 ? 86400000L : (long)retry_after * 1000;
	if (!b.data) {
		b.data = malloc(1);
		if (!b.data) {
			r = -ENOMEM;
			goto out;
		}
		b.data[0] = '\0';
	}
	ret->status = status;
	ret->body = b.data;
	ret->body_len = b.len;
	b.data = NULL;
	r = 0;
out:
	curl_slist_free_all(hdrs);
	/* drop the header list from the kept handle before it is freed */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	free(b.data);
	return r;
}

static long jitter(long ms)
{
	unsigned int rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (unsigned int)time(NULL);
	/* uniformly in [ms/2, ms] */
	return ms / 2 + (long)(rnd % (unsigned int)(ms / 2 + 1));
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool transient(int r, long status)
{
	if (r < 0)
		return r == -ETIMEDOUT || r == -ECONNRESET || r == -EHOSTUNREACH;
	return status == 429 || status >= 500;
}

int http_perform(struct http_client *c, const struct http_request *req, struct http_response *ret)
{
	char logurl[256];
	long backoff = c->t.retry_base_ms;
	int attempts = req->idempotent ? c->t.max_retries + 1 : 1;
	int r = -EIO;

	url_for_log(req->url, logurl, sizeof(logurl));
	for (int i = 0; i < attempts; i++) {
		struct http_response resp = { 0 };
		long retry_after_ms = 0, wait;

		r = perform_once(c, req, &resp, &retry_after_ms);
		if (r == 0)
			log_debug("remote", "%s %s -> %ld (%zu bytes)", req->method, logurl,
				  resp.status, resp.body_len);
		else
			log_debug("remote", "%s %s -> %s", req->method, logurl, strerror(-r));
		if (!transient(r, resp.status) || i + 1 == attempts) {
			if (r == 0)
				*ret = resp;
			return r;
		}
		http_response_release(&resp);
		wait = retry_after_ms > 0 ? retry_after_ms : jitter(backoff);
		if (wait > c->t.retry_max_ms)
			wait = c->t.retry_max_ms;
		log_debug("remote", "retrying %s %s in %ld ms", req->method, logurl, wait);
		sleep_ms(wait);
		if (backoff < c->t.retry_max_ms / 2)
			backoff *= 2;
	}
	return r;
}

void http_response_release(struct http_response *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

int http_urlquote(const char *s, size_t len, char **ret)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out, *o;

	if (len > (SIZE_MAX - 1) / 3)
		return -E2BIG;
	out = malloc(len * 3 + 1);
	if (!out)
		return -ENOMEM;
	o = out;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '_' || ch == '.' || ch == '-' || ch == '~' || ch == '/') {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	*ret = out;
	return 0;
}

int http_base64(const void *data, size_t len, char **ret)
{
	size_t n;
	char *out;

	if (len > (size_t)INT32_MAX / 2)
		return -E2BIG;
	n = 4 * ((len + 2) / 3);
	out = malloc(n + 1);
	if (!out)
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	out[n] = '\0';
	*ret = out;
	return 0;
}
