/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the ftrack client: real-server fixtures (de-duplicated
 * references, datetimes, create results, errors), hostile rows, and the
 * client end to end against a loopback server (paging, batching, retries,
 * error mapping).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* memory here is shared with the library: plain malloc, not cmocka's */
#undef malloc
#undef calloc
#undef realloc
#undef free

#include "ftrackfs/ftrack.h"
#include "ftrack_i.h"
#include "graph_i.h"
#include "json_i.h"
#include "test_http_server.h"

static char *load(const char *name, size_t *ret_len)
{
	const char *root = getenv("FTRACKFS_SOURCE_ROOT");
	char path[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/tests/data/ftrack/%s", root ? root : ".", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 3);
	buf[0] = '[';
	assert_int_equal(fread(buf + 1, 1, (size_t)n, f), (size_t)n);
	buf[n + 1] = ']';
	buf[n + 2] = '\0';
	fclose(f);
	*ret_len = (size_t)n + 2;
	return buf;	/* the fixture wrapped as a one-result batch reply */
}

/* Decode a fixture as the reply to a one-op batch and index it. */
struct decoded {
	struct json_doc *doc;
	cJSON *root;		/* borrowed from doc */
	struct graph g;
};

static void decode_fixture(const char *name, struct decoded *d)
{
	size_t len;
	char *body = load(name, &len);
	char err[256];

	assert_int_equal(ftrack_decode_reply(body, len, 200, 1, &d->doc, err, sizeof(err)), 0);
	d->root = json_doc_root(d->doc);
	assert_int_equal(graph_build(&d->g, d->root), 0);
	free(body);
}

static void decoded_release(struct decoded *d)
{
	graph_release(&d->g);
	json_doc_free(d->doc);
}

struct rows {
	struct ftrack_entity e[8];
	int n;
};

static int keep_row(const struct ftrack_entity *row, void *ud)
{
	struct rows *r = ud;

	if (r->n < 8)
		r->e[r->n++] = *row;
	return 0;
}

static void test_fixture_dedup(void **state)
{
	struct decoded d;
	struct rows rows = { 0 };
	const char *s;
	int64_t next;

	(void)state;
	decode_fixture("query_select_status.state.short_from_task_where_status.state.short_is_not_started_limit_2.json", &d);
	assert_int_equal(ftrack_rows_of_result(cJSON_GetArrayItem(d.root, 0), &d.g, keep_row, &rows, &next), 2);
	assert_int_equal(next, 2);
	assert_string_equal(ftrack_entity_type(&rows.e[0]), "Task");
	assert_int_equal(ftrack_entity_str(&rows.e[0], "status.state.short", &s), 1);
	assert_string_equal(s, "NOT_STARTED");
	/* the second row's status is a bare reference, resolved through the identity map */
	assert_int_equal(ftrack_entity_str(&rows.e[1], "status.state.short", &s), 1);
	assert_string_equal(s, "NOT_STARTED");
	assert_string_equal(ftrack_entity_id(&rows.e[1]), "d9b69620-7cd5-11e2-808f-f23c91df25eb");
	assert_int_equal(ftrack_entity_str(&rows.e[1], "project_id", &s), 1);
	assert_int_equal(ftrack_entity_str(&rows.e[1], "nope", &s), 0);
	assert_int_equal(ftrack_entity_str(&rows.e[1], "status", &s), -EPROTO);	/* an object */
	assert_int_equal(ftrack_entity_str(&rows.e[1], "context_type.x", &s), -EPROTO);
	decoded_release(&d);
}

static void test_fixture_collection(void **state)
{
	struct decoded d;
	struct rows rows = { 0 };
	struct ftrack_entity first, asset;
	struct ftrack_version v;
	size_t n;
	int64_t ver;

	(void)state;
	decode_fixture("query_select_version,_asset.versions.version_from_assetversion_where_asset_id_is_not_none_limit_1.json", &d);
	assert_int_equal(ftrack_rows_of_result(cJSON_GetArrayItem(d.root, 0), &d.g, keep_row, &rows, NULL), 1);
	assert_int_equal(ftrack_entity_ref(&rows.e[0], "asset", &asset), 1);
	assert_int_equal(ftrack_entity_list_len(&rows.e[0], "asset.versions", &n), 1);
	assert_int_equal(n, 3);
	/* versions[0] is a bare reference to the row itself */
	assert_int_equal(ftrack_entity_list_at(&rows.e[0], "asset.versions", 0, &first), 1);
	assert_int_equal(ftrack_entity_int(&first, "version", &ver), 1);
	assert_int_equal(ver, 1);
	assert_int_equal(ftrack_entity_list_at(&rows.e[0], "asset.versions", 2, &first), 1);
	assert_int_equal(ftrack_entity_int(&first, "version", &ver), 1);
	assert_int_equal(ver, 3);
	assert_int_equal(ftrack_entity_list_at(&rows.e[0], "asset.versions", 3, &first), 0);
	assert_int_equal(ftrack_entity_list_len(&rows.e[0], "version", &n), -EPROTO);
	assert_int_equal(ftrack_decode_version(&rows.e[0], &v), 0);
	assert_int_equal(v.version, 1);
	assert_string_equal(v.asset_id, "01cfdcaa-c5ea-11e1-adec-f23c91df25eb");
	assert_int_equal(v.date_ns, 0);
	ftrack_version_release(&v);
	decoded_release(&d);
}

static void test_fixture_datetime(void **state)
{
	struct decoded d;
	struct rows rows = { 0 };
	int64_t ns;
	const char *name;

	(void)state;
	decode_fixture("query_select_name,_created_at_from_task_limit_1.json", &d);
	assert_int_equal(ftrack_rows_of_result(cJSON_GetArrayItem(d.root, 0), &d.g, keep_row, &rows, NULL), 1);
	assert_int_equal(ftrack_entity_time(&rows.e[0], "created_at", &ns), 1);
	assert_true(ns == 1665396729LL * 1000000000LL);
	assert_int_equal(ftrack_entity_time(&rows.e[0], "name", &ns), -EPROTO);
	assert_int_equal(ftrack_entity_str(&rows.e[0], "name", &name), 1);
	assert_non_null(strstr(name, "\"At a glance\""));
	decoded_release(&d);
}

static void test_fixture_create(void **state)
{
	struct decoded d;
	struct rows rows = { 0 };
	struct ftrack_component c;
	struct ftrack_component_location cl;
	struct ftrack_entity e;

	(void)state;
	decode_fixture("create_filecomponent.json", &d);
	assert_int_equal(ftrack_rows_of_result(cJSON_GetArrayItem(d.root, 0), &d.g, keep_row, &rows, NULL), 1);
	assert_int_equal(ftrack_decode_component(&rows.e[0], &c), 0);
	assert_string_equal(c.name, "data");
	assert_string_equal(c.file_type, ".json");
	assert_int_equal(c.size, 13);
	assert_int_equal(c.kind, FTRACK_COMPONENT_FILE);
	assert_string_equal(c.entity_type, "FileComponent");
	assert_null(c.version_id);
	ftrack_component_release(&c);
	assert_int_equal(ftrack_entity_list_at(&rows.e[0], "component_locations", 0, &e), 1);
	/* location_id missing: a ComponentLocation without it is malformed */
	assert_int_equal(ftrack_decode_component_location(&e, &cl), -EPROTO);
	decoded_release(&d);

	decode_fixture("create_user.json", &d);
	rows.n = 0;
	assert_int_equal(ftrack_rows_of_result(cJSON_GetArrayItem(d.root, 0), &d.g, keep_row, &rows, NULL), 1);
	assert_string_equal(ftrack_entity_type(&rows.e[0]), "User");
	decoded_release(&d);
}

static void test_fixture_server_info(void **state)
{
	size_t len;
	char *body = load("query_server_information_query_schemas.json", &len);
	struct json_doc *doc = NULL;
	cJSON *root;
	const char *v;

	(void)state;
	/* that file is already a two-result batch reply: strip our wrapping */
	body[len - 1] = '\0';
	assert_int_equal(ftrack_decode_reply(body + 1, len - 2, 200, 2, &doc, NULL, 0), 0);
	root = json_doc_root(doc);
	assert_int_equal(json_get_str(cJSON_GetArrayItem(root, 0), "version", &v), 1);
	assert_string_equal(v, "dev");
	assert_true(cJSON_GetArraySize(cJSON_GetArrayItem(root, 1)) == 116);
	json_doc_free(doc);
	assert_int_equal(ftrack_decode_reply(body + 1, len - 2, 200, 3, &doc, NULL, 0), -EPROTO);
	free(body);
}

static void test_error_objects(void **state)
{
	char err[512];
	struct json_doc *root = NULL;
	static const char creds[] =
		"{\"exception\":\"InvalidCredentialsError\",\"content\":\"The supplied API key is not valid.\","
		"\"error_code\":null}";

	(void)state;
	assert_int_equal(ftrack_decode_reply(creds, strlen(creds), 200, 1, &root, err, sizeof(err)), -EACCES);
	assert_string_equal(err, "InvalidCredentialsError: The supplied API key is not valid.");
	assert_int_equal(ftrack_decode_reply(creds, strlen(creds), 401, 1, &root, err, sizeof(err)), -EACCES);
#define EXC(name, code)                                                                      \
	do {                                                                                 \
		const char *b = "{\"exception\":\"" name "\",\"content\":\"x\"}";           \
		assert_int_equal(ftrack_decode_reply(b, strlen(b), 200, 1, &root, err, sizeof(err)), code); \
	} while (0)
	EXC("FTAuthenticationError", -EACCES);
	EXC("PermissionError", -EACCES);
	EXC("ValidationError", -EINVAL);
	EXC("ServerError", -EIO);
	EXC("NoResultFoundError", -EIO);
	assert_int_equal(ftrack_decode_reply("<html>502</html>", 16, 502, 1, &root, err, sizeof(err)), -EIO);
	assert_int_equal(ftrack_decode_reply("<html>no</html>", 15, 401, 1, &root, err, sizeof(err)), -EACCES);
	assert_int_equal(ftrack_decode_reply("<html>ok</html>", 15, 200, 1, &root, err, sizeof(err)), -EPROTO);
	assert_int_equal(ftrack_decode_reply("[]", 2, 500, 0, &root, err, sizeof(err)), -EIO);
	assert_int_equal(ftrack_decode_reply("{}", 2, 200, 1, &root, err, sizeof(err)), -EPROTO);
	assert_int_equal(ftrack_decode_reply("{\"exception\":5}", 15, 200, 1, &root, err, sizeof(err)), -EPROTO);
	assert_int_equal(ftrack_errno_from_exception(NULL), -EIO);
}

/* Decode one row given as JSON into every typed model. */
static int decode_row_as(const char *json, int which)
{
	char *body;
	struct json_doc *doc = NULL;
	cJSON *root;
	struct graph g;
	struct rows rows = { 0 };
	size_t n = strlen(json) + 64;
	int r;

	body = malloc(n);
	snprintf(body, n, "[{\"action\":\"query\",\"data\":[%s]}]", json);
	r = ftrack_decode_reply(body, strlen(body), 200, 1, &doc, NULL, 0);
	free(body);
	if (r < 0)
		return r;
	root = json_doc_root(doc);
	r = graph_build(&g, root);
	if (r < 0) {
		json_doc_free(doc);
		return r;
	}
	r = ftrack_rows_of_result(cJSON_GetArrayItem(root, 0), &g, keep_row, &rows, NULL);
	if (r == 1) {
		union {
			struct ftrack_project p;
			struct ftrack_context c;
			struct ftrack_asset a;
			struct ftrack_version v;
			struct ftrack_component k;
			struct ftrack_component_location cl;
			struct ftrack_location l;
		} u;

		switch (which) {
		case 0: r = ftrack_decode_project(&rows.e[0], &u.p); if (!r) ftrack_project_release(&u.p); break;
		case 1: r = ftrack_decode_context(&rows.e[0], &u.c); if (!r) ftrack_context_release(&u.c); break;
		case 2: r = ftrack_decode_asset(&rows.e[0], &u.a); if (!r) ftrack_asset_release(&u.a); break;
		case 3: r = ftrack_decode_version(&rows.e[0], &u.v); if (!r) ftrack_version_release(&u.v); break;
		case 4: r = ftrack_decode_component(&rows.e[0], &u.k); if (!r) ftrack_component_release(&u.k); break;
		case 5: r = ftrack_decode_component_location(&rows.e[0], &u.cl); if (!r) ftrack_component_location_release(&u.cl); break;
		default: r = ftrack_decode_location(&rows.e[0], &u.l); if (!r) ftrack_location_release(&u.l); break;
		}
	}
	graph_release(&g);
	json_doc_free(doc);
	return r;
}

#define ID "\"id\":\"95f5c536-4e65-11e1-afaa-f23c91df25eb\""
#define ID2 "\"01cfdcaa-c5ea-11e1-adec-f23c91df25eb\""

static void test_hostile_rows(void **state)
{
	(void)state;
	/* good rows first */
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"Project\"," ID ",\"name\":\"p\"}", 0), 0);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"Shot\"," ID ",\"name\":\"s\",\"parent_id\":" ID2 "}", 1), 0);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"AssetVersion\"," ID ",\"version\":3,"
				       "\"date\":{\"__type__\":\"datetime\",\"value\":\"2024-05-01T10:00:00\"}}", 3), 0);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"SequenceComponent\"," ID ",\"name\":\"plate\","
				       "\"padding\":4,\"size\":10}", 4), 0);
	/* missing fields */
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"Project\",\"name\":\"p\"}", 0), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"Project\"," ID "}", 0), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"AssetVersion\"," ID "}", 3), -EPROTO);
	/* wrong types */
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"Project\",\"id\":5,\"name\":\"p\"}", 0), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"Project\"," ID ",\"name\":[\"p\"]}", 0), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"Project\",\"id\":\"../../etc\",\"name\":\"p\"}", 0), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"AssetVersion\"," ID ",\"version\":\"3\"}", 3), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"AssetVersion\"," ID ",\"version\":-1}", 3), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"AssetVersion\"," ID ",\"version\":1,"
				       "\"date\":\"2024-05-01\"}", 3), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"AssetVersion\"," ID ",\"version\":1,"
				       "\"date\":{\"__type__\":\"datetime\",\"value\":\"soon\"}}", 3), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"AssetVersion\"," ID ",\"version\":1,"
				       "\"date\":{\"__type__\":\"date\",\"value\":\"2024-05-01T10:00:00\"}}", 3), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"FileComponent\"," ID ",\"name\":\"x\",\"size\":-5}", 4), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"SequenceComponent\"," ID ",\"name\":\"x\",\"padding\":1000}", 4), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"Location\"," ID ",\"name\":\"hq\",\"label\":{}}", 6), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"ComponentLocation\"," ID ",\"component_id\":1,\"location_id\":" ID2 "}", 5), -EPROTO);
	/* numbers past 2^53 */
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"AssetVersion\"," ID ",\"version\":9007199254740993}", 3), -EPROTO);
	assert_int_equal(decode_row_as("{\"__entity_type__\":\"FileComponent\"," ID ",\"name\":\"x\",\"size\":1e20}", 4), -EPROTO);
	/* __entity_type__ of the wrong type breaks the whole graph */
	assert_int_equal(decode_row_as("{\"__entity_type__\":7," ID ",\"name\":\"p\"}", 0), -EPROTO);
	/* rows that are not objects */
	assert_int_equal(decode_row_as("1", 0), -EPROTO);
	assert_int_equal(decode_row_as("\"x\"", 0), -EPROTO);
}

static void test_hostile_results(void **state)
{
	static const char *const bad[] = {
		"[{\"action\":\"query\",\"data\":{\"a\":1}}]",	/* an object: a create-style result */
		"[{\"action\":\"query\",\"data\":5}]",
		"[{\"action\":\"query\"}]",
		"[5]",
		"[{\"action\":\"query\",\"data\":[],\"metadata\":{\"next\":{\"offset\":\"7\"}}}]",
		"[{\"action\":\"query\",\"data\":[],\"metadata\":{\"next\":{\"offset\":-1}}}]",
		"[{\"action\":\"query\",\"data\":[],\"metadata\":{\"next\":{\"offset\":1e300}}}]",
		"[{\"action\":\"query\",\"data\":[],\"metadata\":{\"next\":7}}]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_doc *doc = NULL;
		cJSON *root;
		struct graph g;
		int64_t next;
		int r;

		assert_int_equal(ftrack_decode_reply(bad[i], strlen(bad[i]), 200, 1, &doc, NULL, 0), 0);
		root = json_doc_root(doc);
		assert_int_equal(graph_build(&g, root), 0);
		r = ftrack_rows_of_result(cJSON_GetArrayItem(root, 0), &g, keep_row, &(struct rows){ 0 }, &next);
		if (i == 0)
			assert_int_equal(r, 1);	/* object data: one entity */
		else
			assert_int_equal(r, -EPROTO);
		graph_release(&g);
		json_doc_free(doc);
	}
}

/* ---- end to end over loopback ------------------------------------------ */

#define N_ROWS 1203

struct server_state {
	unsigned posts;
	unsigned max_ops;
	unsigned fail_first;	/* answer 503 to this many requests */
	int mode;		/* 0 normal, 1 error object, 2 create-check */
	char last_body[16384];
};

/* Fake /api: answers queries over N_ROWS synthetic AssetVersions. */
static void api_handler(const struct ths_request *req, struct ths_reply *rp, void *ud)
{
	struct server_state *st = ud;
	static __thread char out[1 << 20];
	cJSON *ops, *op, *res;
	size_t o = 0;

	st->posts++;
	snprintf(st->last_body, sizeof(st->last_body), "%s", req->body);
	if (st->fail_first) {
		st->fail_first--;
		rp->status = 503;
		rp->body = "<html>busy</html>";
		return;
	}
	if (st->mode == 1) {
		rp->body = "{\"exception\":\"ValidationError\",\"content\":\"Bad \\\"value\\\".\",\"error_code\":null}";
		return;
	}
	ops = cJSON_Parse(req->body);
	assert_true(cJSON_IsArray(ops));
	if ((unsigned)cJSON_GetArraySize(ops) > st->max_ops)
		st->max_ops = (unsigned)cJSON_GetArraySize(ops);
	out[o++] = '[';
	cJSON_ArrayForEach(op, ops) {
		const char *action = cJSON_GetObjectItem(op, "action")->valuestring;

		if (o > 1)
			out[o++] = ',';
		if (strcmp(action, "query_server_information") == 0) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "{\"version\":\"4.13.8\"}");
		} else if (strcmp(action, "query") == 0) {
			const char *e = cJSON_GetObjectItem(op, "expression")->valuestring;
			const char *p = strstr(e, " offset ");
			unsigned long off = 0, lim = 0;

			assert_non_null(p);
			sscanf(p, " offset %lu limit %lu", &off, &lim);
			o += (size_t)snprintf(out + o, sizeof(out) - o, "{\"action\":\"query\",\"data\":[");
			for (unsigned long i = off; i < off + lim && i < N_ROWS; i++)
				o += (size_t)snprintf(out + o, sizeof(out) - o,
						      "%s{\"__entity_type__\":\"AssetVersion\",\"id\":"
						      "\"00000000-0000-4000-8000-%012lu\",\"version\":%lu,"
						      "\"asset_id\":\"11111111-1111-4111-8111-111111111111\"}",
						      i > off ? "," : "", i, i + 1);
			if (off + lim < N_ROWS)
				o += (size_t)snprintf(out + o, sizeof(out) - o, "],\"metadata\":{\"next\":{\"offset\":%lu}}}",
						      off + lim);
			else
				o += (size_t)snprintf(out + o, sizeof(out) - o, "],\"metadata\":{\"next\":{\"offset\":null}}}");
		} else if (strcmp(action, "create") == 0 || strcmp(action, "update") == 0) {
			res = cJSON_GetObjectItem(op, "entity_data");
			char *d = cJSON_PrintUnformatted(res);

			o += (size_t)snprintf(out + o, sizeof(out) - o, "{\"action\":\"%s\",\"data\":%s}", action, d);
			cJSON_free(d);
		} else {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "{\"action\":\"%s\",\"data\":true}", action);
		}
	}
	out[o++] = ']';
	out[o] = '\0';
	cJSON_Delete(ops);
	rp->body = out;
	rp->body_len = o;
}

static struct ftrack *client(struct ths *s, unsigned page)
{
	struct ftrack_config cfg = {
		.server_url = ths_url(s),
		.api_user = "jenkins",
		.api_key = "k3y-never-logged",
		.page_size = page,
		.transport = { .retry_base_ms = 10, .retry_max_ms = 50 },
	};
	struct ftrack *f = NULL;

	assert_int_equal(ftrack_new(&cfg, &f), 0);
	return f;
}

static int count_row(const struct ftrack_entity *row, void *ud)
{
	unsigned *n = ud;
	int64_t v;

	assert_int_equal(ftrack_entity_int(row, "version", &v), 1);
	assert_int_equal(v, (int64_t)*n + 1);	/* in order */
	(*n)++;
	return 0;
}

static void test_paging(void **state)
{
	struct server_state st = { 0 };
	struct ths *s = ths_start(api_handler, &st);
	struct ftrack *f = client(s, 500);
	unsigned n = 0;
	char version[32];

	(void)state;
	assert_int_equal(ftrack_server_info(f, version, sizeof(version)), 0);
	assert_string_equal(version, "4.13.8");
	assert_int_equal(st.posts, 1);
	assert_int_equal(ftrack_query(f, "select id, version from AssetVersion", 0, count_row, &n), N_ROWS);
	assert_int_equal(n, N_ROWS);
	assert_int_equal(st.posts, 1 + 3);	/* 500 + 500 + 203 */
	/* a limit smaller than the page becomes the page */
	n = 0;
	assert_int_equal(ftrack_query(f, "select id, version from AssetVersion", 10, count_row, &n), 10);
	assert_int_equal(st.posts, 5);
	assert_non_null(strstr(st.last_body, "offset 0 limit 10"));
	/* the handshake happened once */
	assert_null(strstr(st.last_body, "query_server_information"));
	assert_int_equal(ths_connections(s), 1);	/* keep-alive */
	ftrack_free(f);
	ths_stop(s);
}

static void test_batching(void **state)
{
	struct server_state st = { 0 };
	struct ths *s = ths_start(api_handler, &st);
	struct ftrack *f = client(s, 100);
	struct ftrack_version *v = NULL;
	const char **ids = calloc(450, sizeof(*ids));
	char (*buf)[37] = calloc(450, 37);
	size_t n = 0;

	(void)state;
	assert_int_equal(ftrack_server_info(f, NULL, 0), 0);
	for (int i = 0; i < 450; i++) {
		snprintf(buf[i], 37, "22222222-2222-4222-8222-%012d", i);
		ids[i] = buf[i];
	}
	st.posts = 0;
	/* 450 ids -> 3 chunks of <= 200, each paged by 100 over 1203 rows: 13 pages each,
	 * travelling together: 13 POSTs of 3 queries */
	assert_int_equal(ftrack_list_versions(f, ids, 450, &v, &n), 0);
	assert_int_equal(n, 3 * N_ROWS);
	assert_int_equal(st.posts, 13);
	assert_int_equal(st.max_ops, 3);
	assert_string_equal(v[0].asset_id, "11111111-1111-4111-8111-111111111111");
	ftrack_version_array_free(v, n);
	ftrack_version_array_free(NULL, 0);
	/* a bad id is refused before any request */
	ids[7] = "not-a-uuid";
	st.posts = 0;
	assert_int_equal(ftrack_list_versions(f, ids, 450, &v, &n), -EINVAL);
	assert_int_equal(st.posts, 0);
	/* an explicit batch: N operations, one request */
	{
		struct ftrack_batch *b;
		char id[37];
		const struct ftrack_attr attrs[] = {
			{ .key = "resource_identifier", .kind = FTRACK_ATTR_STR, .str = "a/b.exr" },
			{ .key = "location", .kind = FTRACK_ATTR_REF, .ref_type = "Location",
			  .str = "cb268ecc-8809-11e3-a7e2-20c9d081909b" },
		};

		assert_int_equal(ftrack_batch_new(f, &b), 0);
		for (int i = 0; i < 5; i++)
			assert_int_equal(ftrack_batch_query(b, "select id from AssetVersion offset 0 limit 2"), i);
		assert_int_equal(ftrack_batch_create(b, "ComponentLocation", NULL, attrs, 2, id), 5);
		assert_true(ftrack_is_uuid(id));
		assert_int_equal(ftrack_batch_delete(b, "ComponentLocation", id), 6);
		assert_int_equal(ftrack_batch_count(b), 7);
		st.posts = 0;
		assert_int_equal(ftrack_batch_send(b), 0);
		assert_int_equal(st.posts, 1);
		assert_int_equal(ftrack_batch_send(b), -EALREADY);
		assert_int_equal(ftrack_batch_rows(b, 0, NULL, NULL), 2);
		assert_int_equal(ftrack_batch_rows(b, 5, NULL, NULL), 1);
		assert_int_equal(ftrack_batch_rows(b, 7, NULL, NULL), -EINVAL);
		{
			uint64_t off;

			assert_int_equal(ftrack_batch_next_offset(b, 0, &off), 1);
			assert_int_equal(off, 2);
		}
		assert_non_null(strstr(st.last_body, "\"entity_key\":[\""));
		assert_non_null(strstr(st.last_body, "{\"__entity_type__\":\"Location\",\"id\":\"cb268ecc"));
		ftrack_batch_free(b);
	}
	free(ids);
	free(buf);
	ftrack_free(f);
	ths_stop(s);
}

static void test_retries_and_errors(void **state)
{
	struct server_state st = { 0 };
	struct ths *s = ths_start(api_handler, &st);
	struct ftrack *f = client(s, 500);
	char err[256], id[37];
	unsigned n = 0;

	(void)state;
	/* a query is retried through two 503s */
	st.fail_first = 2;
	assert_int_equal(ftrack_query(f, "select id, version from AssetVersion", 5, count_row, &n), 5);
	assert_int_equal(st.posts, 3);
	/* a create is never retried blindly */
	st.fail_first = 1;
	st.posts = 0;
	assert_int_equal(ftrack_create_component_location(f, "95f5c536-4e65-11e1-afaa-f23c91df25eb",
							  "cb268ecc-8809-11e3-a7e2-20c9d081909b",
							  "/storage/a.exr", id), -EAGAIN);
	assert_int_equal(st.posts, 1);
	/* ... and goes through when the server is well */
	assert_int_equal(ftrack_create_component_location(f, "95f5c536-4e65-11e1-afaa-f23c91df25eb",
							  "cb268ecc-8809-11e3-a7e2-20c9d081909b",
							  "/storage/a.exr", id), 0);
	assert_true(ftrack_is_uuid(id));
	assert_non_null(strstr(st.last_body, "\"resource_identifier\":\"/storage/a.exr\""));
	/* the server's error object -> -errno, its text kept */
	st.mode = 1;
	assert_int_equal(ftrack_query(f, "select id from Project", 0, NULL, NULL), -EINVAL);
	assert_int_equal(ftrack_last_error(f, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "ValidationError: Bad \"value\".");
	st.mode = 0;
	assert_int_equal(ftrack_update_job(f, "95f5c536-4e65-11e1-afaa-f23c91df25eb", "running", "42%"), 0);
	assert_non_null(strstr(st.last_body, "\"data\":\"{\\\"description\\\":\\\"42%\\\"}\""));
	assert_int_equal(ftrack_update_job(f, "bad", "running", NULL), -EINVAL);
	ftrack_free(f);
	ths_stop(s);
}

/* ---- combined helpers: a level per POST ---------------------------------- */

#define SEQ "5e000000-0000-4000-8000-000000000001"
#define V1 "a0000000-0000-4000-8000-000000000001"
#define ASSET1 "a5000000-0000-4000-8000-000000000001"
#define SHOT "5b000000-0000-4000-8000-000000000001"
#define PROJ "9e000000-0000-4000-8000-000000000001"
#define LINK "[{\"id\":\"" PROJ "\",\"name\":\"proj\",\"type\":\"Project\"}," \
	     "{\"id\":\"" SHOT "\",\"name\":\"sh010\",\"type\":\"Shot\"}]"
#define FULL_VERSION                                                                            \
	"{\"__entity_type__\":\"AssetVersion\",\"id\":\"" V1 "\",\"version\":3,\"asset_id\":\"" ASSET1 \
	"\",\"date\":{\"__type__\":\"datetime\",\"value\":\"2024-05-01T10:00:00\"},"              \
	"\"asset\":{\"__entity_type__\":\"Asset\",\"id\":\"" ASSET1 "\",\"name\":\"plate\","         \
	"\"parent\":{\"__entity_type__\":\"Shot\",\"id\":\"" SHOT "\",\"link\":" LINK "}}}"

struct level_state {
	unsigned posts;
	unsigned ops[64];	/* queries per POST */
	int seen_c[64], seen_a[64];
	unsigned n_ctx, n_asset;
};

/* One synthetic row of @table number @i. */
static int level_row(char *out, size_t len, const char *e, unsigned long i)
{
	if (strstr(e, "from TypedContext"))
		return snprintf(out, len, "{\"__entity_type__\":\"Shot\",\"id\":\"c0000000-0000-4000-8000-%012lu\","
				"\"name\":\"sh%03lu\",\"parent_id\":\"" SHOT "\"}", i, i);
	if (strstr(e, "from Asset "))
		return snprintf(out, len, "{\"__entity_type__\":\"Asset\",\"id\":\"a5500000-0000-4000-8000-%012lu\","
				"\"name\":\"a%lu\",\"context_id\":\"" SHOT "\"}", i, i);
	if (strstr(e, "from AssetVersion"))
		return snprintf(out, len, "{\"__entity_type__\":\"AssetVersion\",\"id\":\"%s\",\"version\":%lu,"
				"\"asset_id\":\"" ASSET1 "\"}",
				i ? "a0000000-0000-4000-8000-000000000002" : V1, i + 1);
	if (strstr(e, "from SequenceComponent"))
		return snprintf(out, len, "{\"__entity_type__\":\"SequenceComponent\",\"id\":\"" SEQ "\",\"padding\":4}");
	if (strstr(e, "container.version.asset_id in") || strstr(e, "container_id in"))
		return snprintf(out, len, "{\"__entity_type__\":\"FileComponent\",\"id\":\"f1000000-0000-4000-8000-%012lu\","
				"\"name\":\"%lu\",\"file_type\":\".exr\",\"size\":10,\"container_id\":\"" SEQ "\"}",
				i, 1001 + i);
	/* components of versions: the sequence, a file, and a member that also has a version_id */
	if (i == 0)
		return snprintf(out, len, "{\"__entity_type__\":\"SequenceComponent\",\"id\":\"" SEQ "\","
				"\"name\":\"plate\",\"file_type\":\".exr\",\"system_type\":\"sequence\","
				"\"version_id\":\"" V1 "\"}");
	if (i == 1)
		return snprintf(out, len, "{\"__entity_type__\":\"FileComponent\",\"id\":\"f0000000-0000-4000-8000-000000000001\","
				"\"name\":\"main\",\"file_type\":\".mov\",\"size\":5,\"version_id\":\"" V1 "\"}");
	return snprintf(out, len, "{\"__entity_type__\":\"FileComponent\",\"id\":\"f1000000-0000-4000-8000-000000000000\","
			"\"name\":\"1001\",\"file_type\":\".exr\",\"version_id\":\"" V1 "\",\"container_id\":\"" SEQ "\"}");
}

static unsigned level_total(const struct level_state *st, const char *e)
{
	if (strstr(e, "from TypedContext"))
		return st->n_ctx;
	if (strstr(e, "from Asset "))
		return st->n_asset;
	if (strstr(e, "from AssetVersion"))
		return 2;
	if (strstr(e, "from SequenceComponent"))
		return 1;
	return 3;
}

/* Fake /api for the combined helpers: rows by entity type, paged. */
static void level_handler(const struct ths_request *req, struct ths_reply *rp, void *ud)
{
	struct level_state *st = ud;
	static __thread char out[1 << 20];
	cJSON *ops, *op;
	size_t o = 0;
	unsigned p = st->posts++;

	ops = cJSON_Parse(req->body);
	assert_true(cJSON_IsArray(ops));
	out[o++] = '[';
	cJSON_ArrayForEach(op, ops) {
		const char *action = cJSON_GetObjectItem(op, "action")->valuestring;
		const char *e, *q;
		unsigned long off = 0, lim = 0, total;

		if (o > 1)
			out[o++] = ',';
		if (strcmp(action, "query_server_information") == 0) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "{\"version\":\"4.13.8\"}");
			continue;
		}
		e = cJSON_GetObjectItem(op, "expression")->valuestring;
		q = strstr(e, " offset ");
		assert_non_null(q);
		sscanf(q, " offset %lu limit %lu", &off, &lim);
		if (p < 64) {
			st->ops[p]++;
			st->seen_c[p] |= strstr(e, "from TypedContext") != NULL;
			st->seen_a[p] |= strstr(e, "from Asset ") != NULL;
		}
		total = level_total(st, e);
		o += (size_t)snprintf(out + o, sizeof(out) - o, "{\"action\":\"query\",\"data\":[");
		if (strstr(e, "from Component where id in")) {
			/* get_components: a member whose container carries the full version, and a
			 * file whose version is a bare reference to the same one */
			o += (size_t)snprintf(out + o, sizeof(out) - o,
				"{\"__entity_type__\":\"FileComponent\",\"id\":\"f1000000-0000-4000-8000-000000000007\","
				"\"name\":\"1007\",\"file_type\":\".exr\",\"container_id\":\"" SEQ "\","
				"\"container\":{\"__entity_type__\":\"SequenceComponent\",\"id\":\"" SEQ "\","
				"\"name\":\"plate\",\"system_type\":\"sequence\",\"version_id\":\"" V1 "\","
				"\"version\":" FULL_VERSION "}},"
				"{\"__entity_type__\":\"FileComponent\",\"id\":\"f0000000-0000-4000-8000-000000000001\","
				"\"name\":\"main\",\"file_type\":\".mov\",\"version_id\":\"" V1 "\","
				"\"version\":{\"__entity_type__\":\"AssetVersion\",\"id\":\"" V1 "\"}}");
			total = 0;
		} else if (strstr(e, "SequenceComponent where id in")) {
			total = 0;	/* none of the ids is itself a sequence */
		}
		for (unsigned long i = off; i < off + lim && i < total; i++) {
			if (i > off)
				out[o++] = ',';
			o += (size_t)level_row(out + o, sizeof(out) - o, e, i);
		}
		if (off + lim < total)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "],\"metadata\":{\"next\":{\"offset\":%lu}}}",
					      off + lim);
		else
			o += (size_t)snprintf(out + o, sizeof(out) - o, "],\"metadata\":{\"next\":{\"offset\":null}}}");
	}
	out[o++] = ']';
	out[o] = '\0';
	cJSON_Delete(ops);
	rp->body = out;
	rp->body_len = o;
}

static void test_list_level(void **state)
{
	struct level_state st = { .n_ctx = 7, .n_asset = 3 };
	struct ths *s = ths_start(level_handler, &st);
	struct ftrack *f = client(s, 500);
	struct ftrack_context *c = NULL;
	struct ftrack_asset *a = NULL;
	const char *ids[8];
	char buf[8][37];
	size_t nc = 0, na = 0;

	(void)state;
	for (int i = 0; i < 8; i++) {
		snprintf(buf[i], 37, "c0000000-0000-4000-8000-%012d", 100 + i);
		ids[i] = buf[i];
	}
	/* a level of 8 contexts: one POST (the handshake rides along) */
	assert_int_equal(ftrack_list_level(f, ids, 8, &c, &nc, &a, &na), 0);
	assert_int_equal(st.posts, 1);
	assert_int_equal(st.ops[0], 2);
	assert_int_equal(nc, 7);
	assert_int_equal(na, 3);
	assert_string_equal(c[6].name, "sh006");
	assert_string_equal(a[2].name, "a2");
	assert_string_equal(a[0].context_id, SHOT);
	ftrack_context_array_free(c, nc);
	ftrack_asset_array_free(a, na);
	/* nothing found: NULL arrays, still one POST */
	st = (struct level_state){ 0 };
	assert_int_equal(ftrack_list_level(f, ids, 8, &c, &nc, &a, &na), 0);
	assert_null(c);
	assert_null(a);
	assert_int_equal(nc + na, 0);
	assert_int_equal(st.posts, 1);
	/* no ids: no request; a bad id: -EINVAL before any request */
	st.posts = 0;
	assert_int_equal(ftrack_list_level(f, ids, 0, &c, &nc, &a, &na), 0);
	assert_int_equal(nc + na, 0);
	ids[3] = "nope";
	assert_int_equal(ftrack_list_level(f, ids, 8, &c, &nc, &a, &na), -EINVAL);
	assert_int_equal(st.posts, 0);
	ids[3] = buf[3];
	ftrack_free(f);
	ths_stop(s);

	/* paged by 2: 7 contexts take 4 rounds, 3 assets 2; rounds 3 and 4 carry contexts only */
	st = (struct level_state){ .n_ctx = 7, .n_asset = 3 };
	s = ths_start(level_handler, &st);
	f = client(s, 2);
	assert_int_equal(ftrack_list_level(f, ids, 8, &c, &nc, &a, &na), 0);
	assert_int_equal(nc, 7);
	assert_int_equal(na, 3);
	assert_int_equal(st.posts, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(st.seen_c[i], 1);
		assert_int_equal(st.seen_a[i], i < 2);
		assert_int_equal(st.ops[i], i < 2 ? 2 : 1);
	}
	ftrack_context_array_free(c, nc);
	ftrack_asset_array_free(a, na);
	ftrack_free(f);
	ths_stop(s);
}

static void test_versions_and_components(void **state)
{
	struct level_state st = { 0 };
	struct ths *s = ths_start(level_handler, &st);
	struct ftrack *f = client(s, 500);
	struct ftrack_version *v = NULL;
	struct ftrack_component *c = NULL;
	const char *ids[] = { ASSET1 };
	size_t nv = 0, nc = 0;

	(void)state;
	assert_int_equal(ftrack_list_versions_and_components(f, ids, 1, &v, &nv, &c, &nc), 0);
	/* versions, components, padding, members: one POST */
	assert_int_equal(st.posts, 1);
	assert_int_equal(st.ops[0], 4);
	assert_int_equal(nv, 2);
	assert_int_equal(v[1].version, 2);
	/* the member that also came as a top-level row is only a member */
	assert_int_equal(nc, 2);
	assert_string_equal(c[0].id, SEQ);
	assert_int_equal(c[0].kind, FTRACK_COMPONENT_SEQUENCE);
	assert_int_equal(c[0].padding, 4);
	assert_int_equal(c[0].n_members, 3);
	assert_string_equal(c[0].members[2].name, "1003");
	assert_string_equal(c[0].members[0].container_id, SEQ);
	assert_string_equal(c[1].name, "main");
	assert_int_equal(c[1].n_members, 0);
	assert_string_equal(c[1].version_id, V1);
	ftrack_version_array_free(v, nv);
	ftrack_component_array_free(c, nc);
	/* the two-step helper gives the same components in two POSTs */
	{
		const char *vids[] = { V1 };

		st.posts = 0;
		assert_int_equal(ftrack_list_components(f, vids, 1, &c, &nc), 0);
		assert_int_equal(st.posts, 2);
		assert_int_equal(nc, 2);
		assert_int_equal(c[0].padding, 4);
		assert_int_equal(c[0].n_members, 3);
		ftrack_component_array_free(c, nc);
	}
	ftrack_free(f);
	ths_stop(s);
}

static void test_get_components(void **state)
{
	struct level_state st = { 0 };
	struct ths *s = ths_start(level_handler, &st);
	struct ftrack *f = client(s, 500);
	struct ftrack_placed_component *pc = NULL;
	const char *ids[] = { "f1000000-0000-4000-8000-000000000007", "f0000000-0000-4000-8000-000000000001" };
	size_t n = 0;

	(void)state;
	assert_int_equal(ftrack_get_components(f, ids, 2, &pc, &n), 0);
	assert_int_equal(st.posts, 1);
	assert_int_equal(st.ops[0], 3);
	assert_int_equal(n, 2);
	/* a member: placed under its container's version */
	assert_string_equal(pc[0].component.name, "1007");
	assert_null(pc[0].component.version_id);
	assert_string_equal(pc[0].container.id, SEQ);
	assert_string_equal(pc[0].container.name, "plate");
	assert_int_equal(pc[0].container.padding, 4);
	assert_string_equal(pc[0].version_id, V1);
	assert_int_equal(pc[0].version, 3);
	assert_true(pc[0].version_date_ns == 1714557600LL * 1000000000LL);
	assert_string_equal(pc[0].asset_id, ASSET1);
	assert_string_equal(pc[0].asset_name, "plate");
	assert_int_equal(pc[0].n_link, 2);
	assert_string_equal(pc[0].link[0].type, "Project");
	assert_string_equal(pc[0].link[1].id, SHOT);
	assert_string_equal(pc[0].link[1].name, "sh010");
	/* a file whose version is a bare reference: resolved through the reply */
	assert_null(pc[1].container.id);
	assert_string_equal(pc[1].version_id, V1);
	assert_int_equal(pc[1].version, 3);
	assert_string_equal(pc[1].asset_name, "plate");
	assert_int_equal(pc[1].n_link, 2);
	assert_string_equal(pc[1].link[0].name, "proj");
	ftrack_placed_component_array_free(pc, n);
	ftrack_placed_component_array_free(NULL, 0);
	ftrack_free(f);
	ths_stop(s);
}

/* Decode one placed-component row given as JSON. */
static int decode_placed(const char *json, struct ftrack_placed_component *pc)
{
	char *body;
	struct json_doc *doc = NULL;
	cJSON *root;
	struct graph g;
	struct rows rows = { 0 };
	size_t n = strlen(json) + 64;
	int r;

	body = malloc(n);
	snprintf(body, n, "[{\"action\":\"query\",\"data\":[%s]}]", json);
	r = ftrack_decode_reply(body, strlen(body), 200, 1, &doc, NULL, 0);
	free(body);
	assert_int_equal(r, 0);
	root = json_doc_root(doc);
	assert_int_equal(graph_build(&g, root), 0);
	assert_int_equal(ftrack_rows_of_result(cJSON_GetArrayItem(root, 0), &g, keep_row, &rows, NULL), 1);
	r = ftrack_decode_placed_component(&rows.e[0], pc);
	graph_release(&g);
	json_doc_free(doc);
	return r;
}

#define PC_HEAD "{\"__entity_type__\":\"FileComponent\"," ID ",\"name\":\"main\",\"version_id\":\"" V1 "\","
#define PC_VERSION(link)                                                                       \
	"\"version\":{\"__entity_type__\":\"AssetVersion\",\"id\":\"" V1 "\",\"version\":1,"       \
	"\"asset_id\":\"" ASSET1 "\",\"asset\":{\"__entity_type__\":\"Asset\",\"id\":\"" ASSET1 "\"," \
	"\"name\":\"a\",\"parent\":{\"__entity_type__\":\"Shot\",\"id\":\"" SHOT "\",\"link\":" link "}}}}"

static void test_placed_hostile(void **state)
{
	struct ftrack_placed_component pc;

	(void)state;
	/* the schema declares link a string: JSON text is accepted too */
	assert_int_equal(decode_placed(PC_HEAD PC_VERSION("\"[{\\\"id\\\":\\\"" PROJ "\\\",\\\"name\\\":\\\"p\\\","
						     "\\\"type\\\":\\\"Project\\\"}]\""), &pc), 0);
	assert_int_equal(pc.n_link, 1);
	assert_string_equal(pc.link[0].name, "p");
	ftrack_placed_component_release(&pc);
	ftrack_placed_component_release(&pc);	/* twice is harmless */
	/* no name: "", no type: NULL; an empty link is no link */
	assert_int_equal(decode_placed(PC_HEAD PC_VERSION("[{\"id\":\"" PROJ "\"}]"), &pc), 0);
	assert_string_equal(pc.link[0].name, "");
	assert_null(pc.link[0].type);
	ftrack_placed_component_release(&pc);
	assert_int_equal(decode_placed(PC_HEAD PC_VERSION("[]"), &pc), 0);
	assert_null(pc.link);
	ftrack_placed_component_release(&pc);
	/* no version at all: placed nowhere, not an error */
	assert_int_equal(decode_placed("{\"__entity_type__\":\"FileComponent\"," ID ",\"name\":\"x\"}", &pc), 0);
	assert_null(pc.version_id);
	assert_int_equal(pc.n_link, 0);
	ftrack_placed_component_release(&pc);
	/* malformed */
	assert_int_equal(decode_placed(PC_HEAD PC_VERSION("[{\"id\":\"../etc\"}]"), &pc), -EPROTO);
	assert_int_equal(decode_placed(PC_HEAD PC_VERSION("[{\"name\":\"x\"}]"), &pc), -EPROTO);
	assert_int_equal(decode_placed(PC_HEAD PC_VERSION("[5]"), &pc), -EPROTO);
	assert_int_equal(decode_placed(PC_HEAD PC_VERSION("7"), &pc), -EPROTO);
	assert_int_equal(decode_placed(PC_HEAD PC_VERSION("\"not json\""), &pc), -EPROTO);
	assert_int_equal(decode_placed(PC_HEAD PC_VERSION("\"{}\""), &pc), -EPROTO);
	assert_int_equal(decode_placed(PC_HEAD PC_VERSION("[{\"id\":\"" PROJ "\",\"name\":5}]"), &pc), -EPROTO);
	assert_int_equal(decode_placed(PC_HEAD "\"version\":{\"__entity_type__\":\"AssetVersion\",\"id\":\"" V1 "\"}}",
				       &pc), -EPROTO);	/* a version without its number */
	assert_int_equal(decode_placed(PC_HEAD "\"container_id\":\"" SEQ "\",\"container\":{\"__entity_type__\":"
				       "\"SequenceComponent\",\"id\":\"" SEQ "\"}}", &pc), -EPROTO);	/* nameless */
}

static void test_config(void **state)
{
	struct ftrack_config cfg = { .server_url = "http://ftrack.example.com", .api_user = "u", .api_key = "k" };
	struct ftrack *f = NULL;

	(void)state;
	assert_int_equal(ftrack_new(&cfg, &f), -EPERM);
	cfg.transport.allow_insecure_http = true;
	assert_int_equal(ftrack_new(&cfg, &f), 0);
	ftrack_free(f);
	cfg.server_url = "https://studio.ftrackapp.com/";
	cfg.transport.allow_insecure_http = false;
	assert_int_equal(ftrack_new(&cfg, &f), 0);
	ftrack_free(f);
	cfg.api_key = "bad\r\nX-Injected: 1";
	assert_int_equal(ftrack_new(&cfg, &f), -EINVAL);
	cfg.api_key = NULL;
	assert_int_equal(ftrack_new(&cfg, &f), -EINVAL);
	ftrack_free(NULL);
	setenv("FTRACK_SERVER", "https://x.ftrackapp.com", 1);
	setenv("FTRACK_API_USER", "bob", 1);
	unsetenv("FTRACK_API_KEY");
	setenv("FTRACK_APIKEY", "old-name", 1);
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(ftrack_config_from_env(&cfg), 0);
	assert_string_equal(cfg.api_key, "old-name");
	unsetenv("FTRACK_APIKEY");
	assert_int_equal(ftrack_config_from_env(&cfg), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_dedup),
		cmocka_unit_test(test_fixture_collection),
		cmocka_unit_test(test_fixture_datetime),
		cmocka_unit_test(test_fixture_create),
		cmocka_unit_test(test_fixture_server_info),
		cmocka_unit_test(test_error_objects),
		cmocka_unit_test(test_hostile_rows),
		cmocka_unit_test(test_hostile_results),
		cmocka_unit_test(test_paging),
		cmocka_unit_test(test_batching),
		cmocka_unit_test(test_retries_and_errors),
		cmocka_unit_test(test_list_level),
		cmocka_unit_test(test_versions_and_components),
		cmocka_unit_test(test_get_components),
		cmocka_unit_test(test_placed_hostile),
		cmocka_unit_test(test_config),
	};
	int r;

	remote_global_init();
	r = cmocka_run_group_tests(tests, NULL, NULL);
	remote_global_cleanup();
	return r;
}
