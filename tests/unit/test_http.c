/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of remote/http.c against a loopback server: the body cap
 * (a 1 GiB reply, with and without a length, never allocated), retries and
 * Retry-After, timeouts, dropped and truncated replies, keep-alive, the
 * plain-HTTP policy, the errno tables, and that no key reaches the log.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cmocka.h>

/* memory here is allocated and freed by the library, not cmocka's test allocator */
#undef malloc
#undef calloc
#undef realloc
#undef free

#include "ftrackfs/accsyn.h"
#include "ftrackfs/ftrack.h"
#include "ftrackfs/log.h"
#include "http_i.h"
#include "test_http_server.h"

struct script {
	int mode;
	unsigned fail_first;
};

enum { M_OK, M_HUGE, M_HUGE_CHUNKED, M_5XX, M_429, M_SLOW, M_DROP, M_TRUNC, M_401 };

static void handler(const struct ths_request *req, struct ths_reply *rp, void *ud)
{
	struct script *sc = ud;

	(void)req;
	rp->body = "[]";
	switch (sc->mode) {
	case M_HUGE:
		rp->stream_bytes = (uint64_t)1 << 30;	/* 1 GiB */
		break;
	case M_HUGE_CHUNKED:
		rp->stream_bytes = (uint64_t)1 << 30;
		rp->chunked_stream = 1;
		break;
	case M_5XX:
	case M_429:
	case M_DROP:
	case M_TRUNC:
		if (sc->fail_first) {
			sc->fail_first--;
			if (sc->mode == M_5XX) {
				rp->status = 502;
				rp->body = "bad gateway";
			} else if (sc->mode == M_429) {
				rp->status = 429;
				snprintf(rp->extra_headers, sizeof(rp->extra_headers), "Retry-After: 1\r\n");
			} else if (sc->mode == M_DROP) {
				rp->drop = 1;
			} else {
				rp->body = "[{\"action\":\"query\",\"data\":[";
				rp->truncate = 1;
			}
		}
		break;
	case M_SLOW:
		rp->delay_ms = 1500;
		break;
	case M_401:
		rp->status = 401;
		rp->body = "{\"exception\":\"InvalidCredentialsError\",\"content\":\"nope\"}";
		break;
	default:
		break;
	}
}

static int get(struct ths *s, struct http_client *c, bool idempotent, struct http_response *resp)
{
	struct http_request req = {
		.method = "POST",
		.url = ths_url(s),
		.body = "[]",
		.body_len = 2,
		.idempotent = idempotent,
	};

	memset(resp, 0, sizeof(*resp));
	return http_perform(c, &req, resp);
}

static long maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void test_huge_reply(void **state)
{
	struct script sc = { .mode = M_HUGE };
	struct ths *s = ths_start(handler, &sc);
	struct remote_transport t = { .max_body_bytes = 1 << 20, .max_retries = -1 };
	struct http_client c;
	struct http_response resp;
	long before = maxrss_kb();

	(void)state;
	assert_int_equal(http_client_init(&c, &t), 0);
	/* announced 1 GiB: refused from the header */
	assert_int_equal(get(s, &c, true, &resp), -EFBIG);
	http_client_release(&c);
	/* the same with the default 256 MiB cap */
	assert_int_equal(http_client_init(&c, NULL), 0);
	assert_int_equal(get(s, &c, true, &resp), -EFBIG);
	http_client_release(&c);
	/* no length: cut off at the cap while streaming */
	sc.mode = M_HUGE_CHUNKED;
	t.max_body_bytes = 4 << 20;
	assert_int_equal(http_client_init(&c, &t), 0);
	assert_int_equal(get(s, &c, true, &resp), -EFBIG);
	http_client_release(&c);
	/* and nothing close to 1 GiB was ever allocated */
	assert_true(maxrss_kb() - before < 64 * 1024);
	ths_stop(s);
}

static void test_retry_5xx(void **state)
{
	struct script sc = { .mode = M_5XX, .fail_first = 2 };
	struct ths *s = ths_start(handler, &sc);
	struct remote_transport t = { .retry_base_ms = 10 };
	struct http_client c;
	struct http_response resp;

	(void)state;
	assert_int_equal(http_client_init(&c, &t), 0);
	assert_int_equal(get(s, &c, true, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(ths_requests(s), 3);
	http_response_release(&resp);
	/* not idempotent: the 502 comes straight back */
	sc.fail_first = 1;
	assert_int_equal(get(s, &c, false, &resp), 0);
	assert_int_equal(resp.status, 502);
	assert_int_equal(ths_requests(s), 4);
	http_response_release(&resp);
	/* retries exhausted: the last status is returned */
	sc.fail_first = 100;
	t.max_retries = 2;
	http_client_release(&c);
	assert_int_equal(http_client_init(&c, &t), 0);
	assert_int_equal(get(s, &c, true, &resp), 0);
	assert_int_equal(resp.status, 502);
	assert_int_equal(ths_requests(s), 7);
	http_response_release(&resp);
	http_client_release(&c);
	ths_stop(s);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_retry_after(void **state)
{
	struct script sc = { .mode = M_429, .fail_first = 1 };
	struct ths *s = ths_start(handler, &sc);
	struct remote_transport t = { .retry_base_ms = 10 };
	struct http_client c;
	struct http_response resp;
	double t0;

	(void)state;
	assert_int_equal(http_client_init(&c, &t), 0);
	t0 = now_s();
	assert_int_equal(get(s, &c, true, &resp), 0);
	assert_true(now_s() - t0 >= 0.95);	/* honoured Retry-After: 1 */
	assert_int_equal(resp.status, 200);
	http_response_release(&resp);
	http_client_release(&c);
	ths_stop(s);
}

static void test_timeout_drop_truncate(void **state)
{
	struct script sc = { .mode = M_OK };
	struct ths *s = ths_start(handler, &sc);
	struct remote_transport t = { .timeout_ms = 300, .max_retries = -1, .retry_base_ms = 10 };
	struct http_client c;
	struct http_response resp;

	(void)state;
	assert_int_equal(http_client_init(&c, &t), 0);
	sc.mode = M_DROP;
	sc.fail_first = 1;
	assert_int_equal(get(s, &c, true, &resp), -ECONNRESET);
	sc.mode = M_TRUNC;
	sc.fail_first = 1;
	assert_int_equal(get(s, &c, true, &resp), -ECONNRESET);
	http_client_release(&c);
	/* with retries, a dropped or truncated read recovers */
	t.max_retries = 3;
	assert_int_equal(http_client_init(&c, &t), 0);
	sc.mode = M_DROP;
	sc.fail_first = 1;
	assert_int_equal(get(s, &c, true, &resp), 0);
	http_response_release(&resp);
	sc.mode = M_TRUNC;
	sc.fail_first = 2;
	assert_int_equal(get(s, &c, true, &resp), 0);
	http_response_release(&resp);
	/* last: the server stays busy with the slow reply */
	sc.mode = M_SLOW;
	t.max_retries = -1;
	http_client_release(&c);
	assert_int_equal(http_client_init(&c, &t), 0);
	assert_int_equal(get(s, &c, true, &resp), -ETIMEDOUT);
	http_client_release(&c);
	ths_stop(s);
}

static void test_keepalive(void **state)
{
	struct script sc = { .mode = M_OK };
	struct ths *s = ths_start(handler, &sc);
	struct http_client c;
	struct http_response resp;

	(void)state;
	assert_int_equal(http_client_init(&c, NULL), 0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(get(s, &c, true, &resp), 0);
		http_response_release(&resp);
	}
	assert_int_equal(ths_requests(s), 10);
	assert_int_equal(ths_connections(s), 1);
	assert_int_equal(atomic_load(&c.n_requests), 10);
	http_client_release(&c);
	ths_stop(s);
}

static void test_refused(void **state)
{
	struct remote_transport t = { .max_retries = -1 };
	struct http_client c;
	struct http_response resp;
	struct http_request req = { .method = "GET", .url = "http://127.0.0.1:1/" };

	(void)state;
	assert_int_equal(http_client_init(&c, &t), 0);
	assert_int_equal(http_perform(&c, &req, &resp), -EHOSTUNREACH);
	http_client_release(&c);
}

static void test_url_policy(void **state)
{
	(void)state;
	assert_int_equal(http_check_url("https://studio.ftrackapp.com", false), 0);
	assert_int_equal(http_check_url("http://127.0.0.1:8080", false), 0);
	assert_int_equal(http_check_url("http://127.9.9.9", false), 0);
	assert_int_equal(http_check_url("http://localhost:1", false), 0);
	assert_int_equal(http_check_url("http://[::1]:8080", false), 0);
	assert_int_equal(http_check_url("http://studio.ftrackapp.com", false), -EPERM);
	assert_int_equal(http_check_url("http://10.0.0.1", false), -EPERM);
	assert_int_equal(http_check_url("http://127.0.0.1.evil.com", false), -EPERM);
	assert_int_equal(http_check_url("http://studio.ftrackapp.com", true), 0);
	assert_int_equal(http_check_url("ftp://127.0.0.1", true), -EINVAL);
	assert_int_equal(http_check_url("file:///etc/passwd", true), -EINVAL);
	assert_int_equal(http_check_url("not a url", true), -EINVAL);
	assert_int_equal(http_check_url(NULL, true), -EINVAL);
}

static void test_errno_tables(void **state)
{
	(void)state;
	assert_int_equal(errno_from_http_status(200), 0);
	assert_int_equal(errno_from_http_status(401), -EACCES);
	assert_int_equal(errno_from_http_status(403), -EACCES);
	assert_int_equal(errno_from_http_status(404), -ENOENT);
	assert_int_equal(errno_from_http_status(429), -EAGAIN);
	assert_int_equal(errno_from_http_status(503), -EAGAIN);
	assert_int_equal(errno_from_http_status(500), -EIO);
	assert_int_equal(errno_from_curl(0), 0);
	assert_int_equal(errno_from_curl(28), -ETIMEDOUT);	/* CURLE_OPERATION_TIMEDOUT */
	assert_int_equal(errno_from_curl(7), -EHOSTUNREACH);	/* CURLE_COULDNT_CONNECT */
	assert_int_equal(errno_from_curl(63), -EFBIG);		/* CURLE_FILESIZE_EXCEEDED */
	assert_int_equal(errno_from_curl(60), -EPROTO);		/* CURLE_PEER_FAILED_VERIFICATION */
	assert_int_equal(errno_from_curl(52), -ECONNRESET);	/* CURLE_GOT_NOTHING */
}

static void test_helpers(void **state)
{
	char *s;

	(void)state;
	assert_int_equal(http_urlquote("{\"ident\": \"acme/vfx\"}", 21, &s), 0);
	assert_string_equal(s, "%7B%22ident%22%3A%20%22acme/vfx%22%7D");
	free(s);
	assert_int_equal(http_base64("pipeline@studio.com", 19, &s), 0);
	assert_string_equal(s, "cGlwZWxpbmVAc3R1ZGlvLmNvbQ==");
	free(s);
}

/* ---- secrets never reach the log ---------------------------------------- */

struct capture {
	char *all;
	size_t len;
};

static void sink(enum log_level level, const char *module, const char *line, void *ud)
{
	struct capture *c = ud;
	size_t n = strlen(line) + strlen(module) + 2;

	(void)level;
	c->all = realloc(c->all, c->len + n + 1);
	c->len += (size_t)snprintf(c->all + c->len, n + 1, "%s %s\n", module, line);
}

static void test_keys_never_logged(void **state)
{
	static const char key[] = "SeCrEt-KeY-0123456789";
	struct script sc = { .mode = M_401 };
	struct ths *s = ths_start(handler, &sc);
	struct capture cap = { 0 };
	struct ftrack_config fc = { .api_user = "bob", .api_key = key,
				    .transport = { .max_retries = 1, .retry_base_ms = 5 } };
	struct accsyn_config ac = { .workspace = "acme", .api_user = "bob@acme.com", .api_key = key,
				    .transport = { .max_retries = 1, .retry_base_ms = 5 } };
	struct ftrack *f;
	struct accsyn *a;
	char proxy[64], err[512];

	(void)state;
	log_set_level(LOG_LEVEL_DEBUG);
	log_set_sink(sink, &cap);
	fc.server_url = ths_url(s);
	assert_int_equal(ftrack_new(&fc, &f), 0);
	assert_int_equal(ftrack_query(f, "select id from Project", 0, NULL, NULL), -EACCES);
	assert_int_equal(ftrack_last_error(f, err, sizeof(err)), -EACCES);
	assert_null(strstr(err, key));
	sc.mode = M_5XX;
	sc.fail_first = 3;
	assert_true(ftrack_query(f, "select id from Project", 0, NULL, NULL) < 0);
	ftrack_free(f);
	snprintf(proxy, sizeof(proxy), "127.0.0.1:%d", ths_port(s));
	ac.proxy = proxy;
	sc.mode = M_401;
	assert_int_equal(accsyn_new(&ac, &a), 0);
	assert_true(accsyn_login(a) < 0);
	accsyn_free(a);
	log_set_sink(NULL, NULL);
	log_set_level(LOG_LEVEL_INFO);
	assert_non_null(cap.all);	/* debug lines were written ... */
	assert_null(strstr(cap.all, key));	/* ... and none holds the key */
	assert_null(strstr(cap.all, "U2VDckV0LUtleS0wMTIzNDU2Nzg5"));	/* nor its base64 */
	free(cap.all);
	ths_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_huge_reply),
		cmocka_unit_test(test_retry_5xx),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_timeout_drop_truncate),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_url_policy),
		cmocka_unit_test(test_errno_tables),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_keys_never_logged),
	};
	int r;

	remote_global_init();
	r = cmocka_run_group_tests(tests, NULL, NULL);
	remote_global_cleanup();
	return r;
}
