/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the accsyn client: reply decoding by JSON keys, hostile job
 * and task dicts, the v3 headers and envelope on the wire (body for
 * POST/PUT, URL-quoted query string for GET), against a loopback server.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#undef malloc
#undef calloc
#undef realloc
#undef free

#include "ftrackfs/accsyn.h"
#include "accsyn_i.h"
#include "test_http_server.h"

static void test_auth_header(void **state)
{
	char *h;

	(void)state;
	assert_int_equal(accsyn_auth_header("pipeline@studio.com", "secretkey", &h), 0);
	assert_string_equal(h, "Authorization: basic cGlwZWxpbmVAc3R1ZGlvLmNvbQ==:c2VjcmV0a2V5");
	free(h);
}

static int decode(const char *body, long status, char *err, size_t len)
{
	cJSON *root = NULL;
	const cJSON *res;
	bool expired;
	int r = accsyn_decode_reply(body, strlen(body), status, &root, &res, &expired, err, len);

	cJSON_Delete(root);
	return r;
}

static void test_decode_reply(void **state)
{
	char err[256];
	cJSON *root = NULL;
	const cJSON *res;
	bool expired;

	(void)state;
	assert_int_equal(decode("{\"result\":[]}", 200, err, sizeof(err)), 0);
	/* HTTP status does not decide success */
	assert_int_equal(decode("{\"result\":[]}", 400, err, sizeof(err)), 0);
	assert_int_equal(decode("{\"message\":\"E#J001 x\",\"message_hr\":\"Human readable failure\"}", 200, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "Human readable failure");
	assert_int_equal(decode("{\"message\":\"E#J001 x\"}", 400, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "E#J001 x");
	assert_int_equal(decode("{\"message\":\"bad key\"}", 401, err, sizeof(err)), -EACCES);
	assert_int_equal(decode("{\"message\":\"slow down\"}", 429, err, sizeof(err)), -EAGAIN);
	assert_int_equal(decode("{\"message\":\"boom\"}", 500, err, sizeof(err)), -EIO);
	assert_int_equal(decode("{\"exception\":\"Traceback...\"}", 200, err, sizeof(err)), -EIO);
	assert_int_equal(decode("{\"exception\":null,\"result\":[]}", 200, err, sizeof(err)), -EIO);
	assert_int_equal(decode("{\"other\":1}", 200, err, sizeof(err)), -EPROTO);
	assert_int_equal(decode("[1]", 200, err, sizeof(err)), -EPROTO);
	assert_int_equal(decode("<html>", 200, err, sizeof(err)), -EPROTO);
	assert_int_equal(decode("<html>", 401, err, sizeof(err)), -EACCES);
	assert_int_equal(decode("{\"result\":[", 200, err, sizeof(err)), -EPROTO);
	assert_int_equal(accsyn_decode_reply("{\"message\":\"x\",\"session_expired\":true}", 38, 200, &root,
					     &res, &expired, NULL, 0), -EINVAL);
	assert_true(expired);
}

static int job_from(const char *json, struct accsyn_job *j)
{
	cJSON *o = cJSON_Parse(json);
	int r;

	assert_non_null(o);
	r = accsyn_decode_job(o, j);
	cJSON_Delete(o);
	return r;
}

static void test_decode_job(void **state)
{
	struct accsyn_job j;

	(void)state;
	assert_int_equal(job_from("{\"id\":\"6971e16fceadd67b955b1995\",\"code\":\"README.txt [t1]\",\"status\":\"running\","
				  "\"progress\":42,\"size\":1048576,\"speed\":12.5,\"etr\":\"0h:1m:2s\","
				  "\"created\":\"2026-01-22T08:35:59\",\"finished\":null,"
				  "\"source\":\"site:6645fbca9f8c4d3e7a3b678d\",\"destination\":\"user:6676f3e9c7ef4e27da254e57\","
				  "\"metadata\":{\"ftrackfs_token\":\"t1\"}}", &j), 0);
	assert_string_equal(j.id, "6971e16fceadd67b955b1995");
	assert_int_equal(j.status, ACCSYN_JOB_RUNNING);
	assert_int_equal(j.progress, 42);
	assert_int_equal(j.size, 1048576);
	assert_true(j.speed > 12.4 && j.speed < 12.6);
	assert_string_equal(j.token, "t1");
	assert_string_equal(j.etr, "0h:1m:2s");
	assert_true(j.created_ns > 0);
	assert_int_equal(j.finished_ns, 0);
	accsyn_job_release(&j);
	accsyn_job_release(NULL);
	/* unknown status is not an error */
	assert_int_equal(job_from("{\"id\":\"a\",\"status\":\"teleporting\"}", &j), 0);
	assert_int_equal(j.status, ACCSYN_JOB_UNKNOWN);
	assert_int_equal(j.size, -1);
	accsyn_job_release(&j);
	/* hostile */
	assert_int_equal(job_from("{\"code\":\"x\"}", &j), -EPROTO);
	assert_int_equal(job_from("{\"id\":5}", &j), -EPROTO);
	assert_int_equal(job_from("{\"id\":\"a\",\"progress\":\"42\"}", &j), -EPROTO);
	assert_int_equal(job_from("{\"id\":\"a\",\"size\":9007199254740993}", &j), -EPROTO);
	assert_int_equal(job_from("{\"id\":\"a\",\"speed\":\"fast\"}", &j), -EPROTO);
	assert_int_equal(job_from("{\"id\":\"a\",\"created\":\"yesterday\"}", &j), -EPROTO);
	assert_int_equal(job_from("{\"id\":\"a\",\"source\":[1]}", &j), -EPROTO);
	assert_int_equal(job_from("{\"id\":\"a\",\"metadata\":{\"ftrackfs_token\":7}}", &j), -EPROTO);
	assert_int_equal(job_from("[]", &j), -EPROTO);
	assert_int_equal(accsyn_job_status_from_string("done"), ACCSYN_JOB_DONE);
	assert_string_equal(accsyn_job_status_to_string(ACCSYN_JOB_ABORTED), "aborted");
	assert_true(accsyn_job_status_is_final(ACCSYN_JOB_ABORTED));
	assert_false(accsyn_job_status_is_final(ACCSYN_JOB_RUNNING));
}

static void test_decode_task(void **state)
{
	struct accsyn_task t;
	cJSON *o;

	(void)state;
	o = cJSON_Parse("{\"id\":\"26468234-c9ee-48d6-8d28-e900b5957129\",\"uri\":\"0\",\"status\":\"done\","
			"\"size\":13,\"source\":{\"path\":\"proj/a.exr\",\"site\":\"x\"},\"destination\":\"site=la\","
			"\"metadata\":{\"ftrack_component_id\":\"95f5c536-4e65-11e1-afaa-f23c91df25eb\"}}");
	assert_int_equal(accsyn_decode_task(o, &t), 0);
	assert_int_equal(t.status, ACCSYN_TASK_DONE);
	assert_int_equal(t.progress, 100);
	assert_string_equal(t.source, "proj/a.exr");
	assert_string_equal(t.destination, "site=la");
	assert_string_equal(t.component_id, "95f5c536-4e65-11e1-afaa-f23c91df25eb");
	accsyn_task_release(&t);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"id\":\"x\",\"uri\":3,\"source\":{\"path\":5}}");
	assert_int_equal(accsyn_decode_task(o, &t), -EPROTO);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"id\":\"x\",\"uri\":3.5}");
	assert_int_equal(accsyn_decode_task(o, &t), -EPROTO);
	cJSON_Delete(o);
}

/* ---- on the wire -------------------------------------------------------- */

struct fake {
	int n_discovery, n_login, n_events;
	int expire_once;
	int deny;
	char last_method[16];
	char last_uri[64];
	char last_query[256];
	char last_id[64];
	cJSON *last_data;
	char headers[8192];
};

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c - 'a' + 10;
}

static char *urldecode(const char *s)
{
	char *o = malloc(strlen(s) + 1), *p = o;

	for (; *s; s++) {
		if (*s == '%' && s[1] && s[2]) {
			*p++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
		} else {
			*p++ = *s;
		}
	}
	*p = '\0';
	return o;
}

static const char JOB[] =
	"{\"id\":\"6971e16fceadd67b955b1995\",\"code\":\"Transfer [tok-1]\",\"status\":\"%s\","
	"\"progress\":0,\"size\":-1,\"speed\":0.0,\"etr\":\"\",\"metadata\":{\"ftrackfs_token\":\"tok-1\"}}";

static void accsyn_handler(const struct ths_request *req, struct ths_reply *rp, void *ud)
{
	struct fake *f = ud;
	static __thread char out[4096];
	cJSON *env = NULL;
	const char *q = strchr(req->path, '?');

	snprintf(f->headers, sizeof(f->headers), "%s", req->headers);
	if (strncmp(req->path, "/api/v3/J3PKTtDvolDMBtTy6AFGA", 29) == 0) {
		char *d = urldecode(q + 1);

		assert_string_equal(d, "{\"ident\":\"acmevfx\"}");
		free(d);
		f->n_discovery++;
		rp->body = "{\"result\":{\"hostname\":\"acmevfx.accsyn.com\",\"port\":443}}";
		return;
	}
	if (strcmp(req->path, "/api/v3/api/login") == 0) {
		assert_string_equal(req->method, "PUT");
		f->n_login++;
		if (f->deny) {
			rp->status = 401;
			rp->body = "{\"message\":\"Invalid API key\",\"message_hr\":\"Bad credentials.\"}";
			return;
		}
		rp->body = "{\"result\":{\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaa\",\"role\":\"admin\",\"session_id\":\"S1\"}}";
		return;
	}
	assert_true(strncmp(req->path, "/api/v3/event", 13) == 0);
	f->n_events++;
	snprintf(f->last_method, sizeof(f->last_method), "%s", req->method);
	if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "DELETE") == 0) {
		char *d;

		assert_non_null(q);
		d = urldecode(q + 1);
		env = cJSON_Parse(d);
		free(d);
	} else {
		assert_null(q);
		env = cJSON_Parse(req->body);
	}
	assert_non_null(env);
	assert_string_equal(cJSON_GetObjectItem(env, "workspace")->valuestring, "acmevfx");
	assert_string_equal(cJSON_GetObjectItem(env, "audience")->valuestring, "api");
	assert_string_equal(cJSON_GetObjectItem(env, "session")->valuestring, "S1");
	snprintf(f->last_uri, sizeof(f->last_uri), "%s", cJSON_GetObjectItem(env, "uri")->valuestring);
	f->last_query[0] = f->last_id[0] = '\0';
	if (cJSON_GetObjectItem(env, "query"))
		snprintf(f->last_query, sizeof(f->last_query), "%s", cJSON_GetObjectItem(env, "query")->valuestring);
	if (cJSON_GetObjectItem(env, "id"))
		snprintf(f->last_id, sizeof(f->last_id), "%s", cJSON_GetObjectItem(env, "id")->valuestring);
	cJSON_Delete(f->last_data);
	f->last_data = cJSON_DetachItemFromObject(env, "data");
	cJSON_Delete(env);
	if (f->expire_once) {
		f->expire_once = 0;
		rp->body = "{\"message\":\"Session expired\",\"session_expired\":true}";
		return;
	}
	if (strcmp(f->last_uri, "job/create") == 0) {
		snprintf(out, sizeof(out), "{\"result\":[%s]}", JOB);
		snprintf(out, sizeof(out), JOB, "init");
		memmove(out + 11, out, strlen(out) + 1);
		memcpy(out, "{\"result\":[", 11);
		strcat(out, "]}");
	} else if (strcmp(f->last_uri, "job/find") == 0) {
		if (strstr(f->last_query, "ffffffffffffffffffffffff") || strstr(f->last_query, "nope")) {
			snprintf(out, sizeof(out), "{\"result\":[]}");
		} else {
			char job[1024];

			snprintf(job, sizeof(job), JOB, "done");
			snprintf(out, sizeof(out), "{\"result\":[%s]}", job);
		}
	} else if (strcmp(f->last_uri, "job/edit") == 0) {
		char job[1024];

		snprintf(job, sizeof(job), JOB,
			 cJSON_GetObjectItem(f->last_data, "status")->valuestring);
		snprintf(out, sizeof(out), "{\"result\":[%s]}", job);
	} else if (strcmp(f->last_uri, "task/find") == 0) {
		snprintf(out, sizeof(out), "{\"result\":[{\"id\":\"26468234-c9ee-48d6-8d28-e900b5957129\",\"uri\":\"0\","
					   "\"status\":\"executing\",\"progress\":50,\"size\":10},"
					   "{\"id\":\"36468234-c9ee-48d6-8d28-e900b5957129\",\"uri\":\"1\",\"status\":\"queued\"}]}");
	} else {
		snprintf(out, sizeof(out), "{\"message\":\"unknown uri\"}");
		rp->status = 400;
	}
	rp->body = out;
}

static struct accsyn *client(struct ths *s, char *proxy, size_t len)
{
	struct accsyn_config cfg = {
		.workspace = "acmevfx",
		.api_user = "pipeline@studio.com",
		.api_key = "secretkey",
		.proxy = proxy,
	};
	struct accsyn *a = NULL;

	snprintf(proxy, len, "127.0.0.1:%d", ths_port(s));
	assert_int_equal(accsyn_new(&cfg, &a), 0);
	return a;
}

static void test_wire(void **state)
{
	struct fake fk = { 0 };
	struct ths *s = ths_start(accsyn_handler, &fk);
	char proxy[64];
	struct accsyn *a = client(s, proxy, sizeof(proxy));
	const struct accsyn_task_spec tasks[] = {
		{ .source = "site=hq:proj01/sq01/sh010/comp/v003/a.nk", .destination = "site=la",
		  .component_id = "95f5c536-4e65-11e1-afaa-f23c91df25eb" },
		{ .source = "site=hq:proj01/sq01/sh010/comp/v003/b.mov", .destination = "site=la" },
	};
	const struct accsyn_kv meta[] = { { "ftrack_job_id", "x" } };
	struct accsyn_job_spec spec = {
		.code = "Transfer of 2 components from hq to la",
		.token = "tok-1",
		.mirror_paths = true,
		.tasks = tasks,
		.n_tasks = 2,
		.metadata = meta,
		.n_metadata = 1,
	};
	struct accsyn_job job;
	struct accsyn_task *t = NULL;
	size_t nt = 0;
	char *d;

	(void)state;
	assert_int_equal(accsyn_job_create(a, &spec, &job), 0);
	assert_int_equal(fk.n_discovery, 1);
	assert_int_equal(fk.n_login, 1);
	assert_string_equal(fk.last_method, "POST");
	assert_string_equal(fk.last_uri, "job/create");
	assert_non_null(strstr(fk.headers, "Authorization: basic cGlwZWxpbmVAc3R1ZGlvLmNvbQ==:c2VjcmV0a2V5\r\n"));
	assert_non_null(strstr(fk.headers, "X-Accsyn-Workspace: acmevfx\r\n"));
	assert_non_null(strstr(fk.headers, "X-Accsyn-Device: "));
	d = cJSON_PrintUnformatted(fk.last_data);
	assert_non_null(strstr(d, "\"code\":\"Transfer of 2 components from hq to la #tok-1\""));
	assert_non_null(strstr(d, "\"mirror_paths\":true"));
	assert_non_null(strstr(d, "\"metadata\":{\"ftrackfs_token\":\"tok-1\",\"ftrack_job_id\":\"x\"}"));
	assert_non_null(strstr(d, "{\"source\":\"site=hq:proj01/sq01/sh010/comp/v003/a.nk\",\"destination\":\"site=la\","
				  "\"metadata\":{\"ftrack_component_id\":\"95f5c536-4e65-11e1-afaa-f23c91df25eb\"}}"));
	cJSON_free(d);
	assert_string_equal(job.id, "6971e16fceadd67b955b1995");
	assert_int_equal(job.status, ACCSYN_JOB_INIT);
	accsyn_job_release(&job);

	/* find by id: GET with the envelope as the whole query string */
	assert_int_equal(accsyn_job_get(a, "6971e16fceadd67b955b1995", &job), 1);
	assert_string_equal(fk.last_method, "GET");
	assert_string_equal(fk.last_uri, "job/find");
	assert_string_equal(fk.last_query, "id=6971e16fceadd67b955b1995");
	assert_int_equal(job.status, ACCSYN_JOB_DONE);
	accsyn_job_release(&job);
	assert_int_equal(accsyn_job_get(a, "ffffffffffffffffffffffff", &job), 0);
	assert_int_equal(accsyn_job_get(a, "6971e16fceadd67b955b1995\" or 1", &job), -EINVAL);

	/* by token */
	assert_int_equal(accsyn_job_find_by_token(a, "tok-1", &job), 1);
	assert_string_equal(fk.last_query, "code=\"* #tok-1\"");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(fk.last_data, "finished")));
	accsyn_job_release(&job);
	assert_int_equal(accsyn_job_find_by_token(a, "tok-2", &job), 0);	/* reply's token differs */
	assert_int_equal(accsyn_job_find_by_token(a, "Bad Token!", &job), -EINVAL);

	/* edits */
	assert_int_equal(accsyn_job_pause(a, "6971e16fceadd67b955b1995", &job), 0);
	assert_string_equal(fk.last_method, "PUT");
	assert_string_equal(fk.last_id, "6971e16fceadd67b955b1995");
	assert_int_equal(job.status, ACCSYN_JOB_PAUSED);
	accsyn_job_release(&job);
	assert_int_equal(accsyn_job_resume(a, "6971e16fceadd67b955b1995", NULL), 0);
	assert_string_equal(cJSON_GetObjectItem(fk.last_data, "status")->valuestring, "waiting");
	assert_int_equal(accsyn_job_abort(a, "6971e16fceadd67b955b1995", NULL), 0);
	assert_string_equal(cJSON_GetObjectItem(fk.last_data, "status")->valuestring, "aborted");

	/* tasks */
	assert_int_equal(accsyn_job_tasks(a, "6971e16fceadd67b955b1995", &t, &nt), 0);
	assert_int_equal(nt, 2);
	assert_string_equal(cJSON_GetObjectItem(fk.last_data, "parent")->valuestring, "6971e16fceadd67b955b1995");
	assert_int_equal(t[0].status, ACCSYN_TASK_EXECUTING);
	assert_int_equal(t[0].progress, 50);
	accsyn_task_array_free(t, nt);

	/* an expired session: one re-login, then the call goes through */
	fk.expire_once = 1;
	assert_int_equal(accsyn_job_get(a, "6971e16fceadd67b955b1995", &job), 1);
	accsyn_job_release(&job);
	assert_int_equal(fk.n_login, 2);
	assert_int_equal(fk.n_discovery, 2);
	accsyn_free(a);

	/* a refused key */
	fk.deny = 1;
	a = client(s, proxy, sizeof(proxy));
	{
		char err[256];

		assert_int_equal(accsyn_login(a), -EACCES);
		assert_int_equal(accsyn_last_error(a, err, sizeof(err)), -EACCES);
		assert_string_equal(err, "Bad credentials.");
	}
	accsyn_free(a);
	cJSON_Delete(fk.last_data);
	ths_stop(s);
}

static void test_config(void **state)
{
	struct accsyn_config cfg = { .workspace = "acme", .api_user = "u@x", .api_key = "k" };
	struct accsyn *a = NULL;
	struct accsyn_job_spec spec = { .code = "x", .token = "t" };
	struct accsyn_job j;

	(void)state;
	cfg.proxy = "proxy.example.com:8080";
	assert_int_equal(accsyn_new(&cfg, &a), -EPERM);
	cfg.proxy = "socks5:127.0.0.1:1080";
	assert_int_equal(accsyn_new(&cfg, &a), -EINVAL);
	cfg.proxy = "accsyn:127.0.0.1:1";
	assert_int_equal(accsyn_new(&cfg, &a), 0);
	assert_int_equal(accsyn_job_create(a, &spec, &j), -EINVAL);	/* no tasks */
	accsyn_free(a);
	cfg.proxy = NULL;
	cfg.hostname = "acme.accsyn.com";
	assert_int_equal(accsyn_new(&cfg, &a), 0);
	accsyn_free(a);
	cfg.api_key = "k\r\nX: y";
	assert_int_equal(accsyn_new(&cfg, &a), -EINVAL);
	accsyn_free(NULL);
	setenv("ACCSYN_DOMAIN", "acme", 1);
	unsetenv("ACCSYN_WORKSPACE");
	setenv("ACCSYN_API_USER", "u@x", 1);
	setenv("ACCSYN_API_KEY", "k", 1);
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(accsyn_config_from_env(&cfg), 0);
	assert_string_equal(cfg.workspace, "acme");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_header),
		cmocka_unit_test(test_decode_reply),
		cmocka_unit_test(test_decode_job),
		cmocka_unit_test(test_decode_task),
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_config),
	};
	int r;

	remote_global_init();
	r = cmocka_run_group_tests(tests, NULL, NULL);
	remote_global_cleanup();
	return r;
}
