/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_fs_send.c - the send engine: parties, path mapping, sequence
 * notation, job names, and the outbox state machine against fake services
 * (including every point where a create's outcome is unknown).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
/* cmocka's allocator checks would pair our free() with the engine's malloc() */
#undef malloc
#undef calloc
#undef realloc
#undef free

#include "ftrackfs/cache.h"
#include "ftrackfs/config.h"
#include "ftrackfs/log.h"
#include "send.h"

static void quiet(enum log_level l, const char *m, const char *line, void *ud)
{
	(void)l; (void)m; (void)line; (void)ud;
}

static const char CFG[] =
	"[location hq]\nparty = hq\n"
	"[location la]\nparty = site=la\n"
	"[location home]\nlocal = yes\nroot = /mnt/home\nparty = maria@acmevfx.com\n"
	"[location bad]\nparty = los angeles\n"
	"[absolute]\n/storage = hq\n"
	"[pathmap]\nS:\\ = /storage\n\\\\192.168.1.240\\storage = /storage\n";

static struct config *cfg_new(void)
{
	struct config *cfg = NULL;

	assert_int_equal(config_parse_string(CFG, "test", &cfg), 0);
	return cfg;
}

/* ---- parties ------------------------------------------------------------- */

static void test_party(void **state)
{
	struct config *cfg = cfg_new();
	char p[160], why[256];

	(void)state;
	assert_int_equal(send_party(cfg, "hq", p, sizeof(p), why, sizeof(why)), 0);
	assert_string_equal(p, "site=hq");
	assert_int_equal(send_party(cfg, "la", p, sizeof(p), why, sizeof(why)), 0);
	assert_string_equal(p, "site=la");
	assert_int_equal(send_party(cfg, "home", p, sizeof(p), why, sizeof(why)), 0);
	assert_string_equal(p, "maria@acmevfx.com");
	/* not configured: the name itself */
	assert_int_equal(send_party(cfg, "lisa@vendor.com", p, sizeof(p), why, sizeof(why)), 0);
	assert_string_equal(p, "lisa@vendor.com");
	assert_int_equal(send_party(cfg, "berlin", p, sizeof(p), why, sizeof(why)), 0);
	assert_string_equal(p, "site=berlin");
	/* built-ins and malformed parties: -ENXIO with a reason */
	assert_int_equal(send_party(cfg, "ftrack.unmanaged", p, sizeof(p), why, sizeof(why)), -ENXIO);
	assert_non_null(strstr(why, "maps to no accsyn party"));
	assert_int_equal(send_party(cfg, "bad", p, sizeof(p), why, sizeof(why)), -ENXIO);
	assert_non_null(strstr(why, "los angeles"));
	assert_int_equal(send_party(cfg, "a23456789012345678901234567890123", p, sizeof(p), NULL, 0),
			 -ENXIO);
	assert_int_equal(send_party(cfg, "x:y", p, sizeof(p), NULL, 0), -ENXIO);
	assert_int_equal(send_party(cfg, "lisa@", p, sizeof(p), NULL, 0), -ENXIO);
	assert_int_equal(send_party(cfg, "li sa@vendor.com", p, sizeof(p), NULL, 0), -ENXIO);
	assert_int_equal(send_party(cfg, "", p, sizeof(p), NULL, 0), -EINVAL);
	config_free(cfg);
}

/* ---- source paths -------------------------------------------------------- */

static void expect_path(const struct config *cfg, const char *loc, const char *ri,
			const char *owner, const char *rel)
{
	char o[128], r[4096], why[512];
	int rc = send_source_path(cfg, loc, ri, o, sizeof(o), r, sizeof(r), why, sizeof(why));

	if (!owner) {
		assert_int_equal(rc, -EACCES);
		assert_true(why[0] != '\0');
		return;
	}
	if (rc != 0)
		fail_msg("%s: %s", ri, why);
	assert_string_equal(o, owner);
	assert_string_equal(r, rel);
}

static void test_source_path(void **state)
{
	struct config *cfg = cfg_new();

	(void)state;
	/* absolute, under [absolute] /storage */
	expect_path(cfg, "ftrack.unmanaged", "/storage/theproject/sh010/main.exr", "hq",
		    "theproject/sh010/main.exr");
	/* whole components only: /storage2 is not /storage */
	expect_path(cfg, "ftrack.unmanaged", "/storage2/theproject/main.exr", NULL, NULL);
	/* a drive letter, either case, either separator */
	expect_path(cfg, "ftrack.unmanaged", "S:\\theproject\\seq010\\main.exr", "hq",
		    "theproject/seq010/main.exr");
	expect_path(cfg, "ftrack.unmanaged", "s:/theproject/main.exr", "hq", "theproject/main.exr");
	expect_path(cfg, "ftrack.unmanaged", "T:\\theproject\\main.exr", NULL, NULL);
	/* UNC, case-insensitive, host and share must both match */
	expect_path(cfg, "ftrack.unmanaged", "\\\\192.168.1.240\\storage\\theproject\\main.exr", "hq",
		    "theproject/main.exr");
	expect_path(cfg, "ftrack.unmanaged", "\\\\192.168.1.240\\STORAGE\\theproject\\main.exr", "hq",
		    "theproject/main.exr");
	expect_path(cfg, "ftrack.unmanaged", "\\\\192.168.1.241\\storage\\theproject\\main.exr", NULL,
		    NULL);
	expect_path(cfg, "ftrack.unmanaged", "\\\\192.168.1.240\\storage2\\x.exr", NULL, NULL);
	/* a local root */
	expect_path(cfg, "ftrack.unmanaged", "/mnt/home/proj/x.exr", "home", "proj/x.exr");
	/* relative: the location's own party */
	expect_path(cfg, "la", "theproject/sh010/main.exr", "la", "theproject/sh010/main.exr");
	expect_path(cfg, "lisa@vendor.com", "proj\\sh\\x.exr", "lisa@vendor.com", "proj/sh/x.exr");
	/* odd names survive untouched */
	expect_path(cfg, "ftrack.unmanaged",
		    "/storage/theproject/assets/Café Müller/O'Brien \"final\"/seq020 retakes/x y.exr", "hq",
		    "theproject/assets/Café Müller/O'Brien \"final\"/seq020 retakes/x y.exr");
	/* containers registered with a trailing separator */
	expect_path(cfg, "la", "theproject/textures/", "la", "theproject/textures");
	/* refused: escapes, roots themselves, URLs, empty */
	expect_path(cfg, "la", "../etc/passwd", NULL, NULL);
	expect_path(cfg, "la", "theproject/../../etc", NULL, NULL);
	expect_path(cfg, "ftrack.unmanaged", "/storage/../etc/shadow", NULL, NULL);
	expect_path(cfg, "ftrack.unmanaged", "/storage", NULL, NULL);
	expect_path(cfg, "ftrack.review", "https://review.example.invalid/x.mp4", NULL, NULL);
	expect_path(cfg, "la", "", NULL, NULL);
	config_free(cfg);
}

/* ---- sequences ------------------------------------------------------------ */

static void test_seq(void **state)
{
	const char *frames[] = { "1003", "1001", "1002", "1005", "1004" };
	const char *gap[] = { "1001", "1002", "1004" };
	const char *names[] = { "1001", "left" };
	char out[256];

	(void)state;
	assert_int_equal(send_seq_range("p/plate.%04d.exr", frames, 5, out, sizeof(out)), 1);
	assert_string_equal(out, "p/plate.%04d.exr [1001-1005]");
	assert_int_equal(send_seq_range("p/plate.%d.exr", frames, 1, out, sizeof(out)), 1);
	assert_string_equal(out, "p/plate.%d.exr [1003-1003]");
	assert_int_equal(send_seq_range("p/plate.%04d.exr", gap, 3, out, sizeof(out)), 0);
	assert_int_equal(send_seq_range("p/plate.%04d.exr", names, 2, out, sizeof(out)), 0);
	assert_int_equal(send_seq_range("p/plate.exr", frames, 5, out, sizeof(out)), 0);
	/* a % in a directory name is not the pattern */
	assert_int_equal(send_seq_range("100%04d/plate.exr", frames, 5, out, sizeof(out)), 0);
	assert_int_equal(send_seq_range("p/plate.%04d.exr", frames, 5, out, 10), -ENAMETOOLONG);

	assert_int_equal(send_seq_member("p/plate.%04d.exr", "7", out, sizeof(out)), 0);
	assert_string_equal(out, "p/plate.0007.exr");
	assert_int_equal(send_seq_member("p/plate.%d.exr", "1001", out, sizeof(out)), 0);
	assert_string_equal(out, "p/plate.1001.exr");
	assert_int_equal(send_seq_member("p/plate.%04d.exr", "left", out, sizeof(out)), -EINVAL);
}

/* ---- job names ----------------------------------------------------------- */

static void test_job_name(void **state)
{
	const char *one[] = { "theproject/seq010/sh010/comp/v003/main.exr",
			      "theproject/seq010/sh010/comp/v003/plate.%04d.exr",
			      "theproject/seq010/sh010/comp/v003/nukescript.nk" };
	const char *two[] = { "theproject/seq010/sh010/comp/v003/main.exr",
			      "theproject/seq010/sh020/comp/v001/main.exr" };
	const char *apart[] = { "a/x.exr", "b/y.exr" };
	const char *prefix[] = { "theproject/seq01/a.exr", "theproject/seq010/b.exr" };
	char name[256], lng[2000], *rels[1];

	(void)state;
	send_job_name(one, 3, 7, "alice", name, sizeof(name));
	assert_string_equal(name, "ftrackfs: theproject/seq010/sh010 comp v003 (7 files) from alice");
	send_job_name(two, 2, 2, "alice", name, sizeof(name));
	assert_string_equal(name, "ftrackfs: theproject/seq010 (2 files) from alice");
	send_job_name(apart, 2, 2, "bob", name, sizeof(name));
	assert_string_equal(name, "ftrackfs: 2 components (2 files) from bob");
	/* "seq01" is not a prefix of "seq010" */
	send_job_name(prefix, 2, 1, NULL, name, sizeof(name));
	assert_string_equal(name, "ftrackfs: theproject (1 file) from ftrackfs");
	/* long names are cut on a UTF-8 boundary, leaving room for the token */
	memset(lng, 0, sizeof(lng));
	for (size_t i = 0; i + 3 < 600; i += 2)
		memcpy(lng + i, "\xc3\xa9", 2);
	memcpy(lng + 600, "/x.exr", 6);
	rels[0] = lng;
	send_job_name((const char *const *)rels, 1, 1, "alice", name, sizeof(name));
	assert_true(strlen(name) <= sizeof(name) - 80);
	for (size_t i = 0; name[i]; i++)
		if (((unsigned char)name[i] & 0xC0) == 0xC0)
			assert_true(((unsigned char)name[i + 1] & 0xC0) == 0x80);
}

static void test_state_text_and_job_json(void **state)
{
	struct cache_compstate cs;
	struct cache_job j;
	char t[64], *json = NULL;

	(void)state;
	memset(&cs, 0, sizeof(cs));
	send_state_text(&cs, t, sizeof(t));
	assert_string_equal(t, "absent");
	cs.state = CACHE_LOC_QUEUED;
	send_state_text(&cs, t, sizeof(t));
	assert_string_equal(t, "queued");
	snprintf(cs.reason, sizeof(cs.reason), "accsyn unreachable, retrying");
	send_state_text(&cs, t, sizeof(t));
	assert_string_equal(t, "queued (accsyn unreachable, retrying)");
	cs.reason[0] = '\0';
	cs.state = CACHE_LOC_TRANSFERRING;
	cs.bytes_done = 42;
	cs.bytes_total = 100;
	send_state_text(&cs, t, sizeof(t));
	assert_string_equal(t, "transferring 42%");
	cs.state = CACHE_LOC_PRESENT;
	send_state_text(&cs, t, sizeof(t));
	assert_string_equal(t, "present");
	cs.state = CACHE_LOC_FAILED;
	snprintf(cs.reason, sizeof(cs.reason), "E#J001 File not found: Café");
	send_state_text(&cs, t, sizeof(t));
	assert_string_equal(t, "failed: E#J001 File not found: Café");
	/* cut on a UTF-8 boundary */
	assert_int_equal(send_state_text(&cs, t, 36), 34);
	assert_string_equal(t, "failed: E#J001 File not found: Caf");

	memset(&j, 0, sizeof(j));
	snprintf(j.job_id, sizeof(j.job_id), "0123456789abcdef01234567");
	snprintf(j.name, sizeof(j.name), "ftrackfs: a \"b\" \\ c\n");
	snprintf(j.status, sizeof(j.status), "running");
	j.progress = 42;
	assert_true(send_job_json(&j, &json) > 0);
	assert_non_null(strstr(json, "\"name\": \"ftrackfs: a \\\"b\\\" \\\\ c\\u000a\""));
	assert_non_null(strstr(json, "\"progress\": 42,"));
	assert_non_null(strstr(json, "\"status\": \"running\""));
	free(json);
}

static void test_token(void **state)
{
	char a[33], b[33];

	(void)state;
	assert_int_equal(send_token(a), 0);
	assert_int_equal(send_token(b), 0);
	assert_int_equal(strlen(a), 32);
	assert_int_equal(strspn(a, "0123456789abcdef"), 32);
	assert_string_not_equal(a, b);
}

/* ---- the state machine against fake services ---------------------------- */

#define L_HQ "04aca307-9aea-5d50-b2d9-4ee1bf84ce14"
#define L_LA "ba9f8e45-1d01-5fd3-8eaf-898bda9dfe57"
#define L_UNM "cb268ecc-8809-11e3-a7e2-20c9d081909b"
#define L_LISA "d9c7e052-672b-5bef-8b73-ad27cfc9ee2a"
#define C1 "11111111-1111-4111-8111-111111111111"
#define C2 "22222222-2222-4222-8222-222222222222"
#define C3 "33333333-3333-4333-8333-333333333333"	/* a sequence */
#define M1 "44444444-4444-4444-8444-444444444441"
#define M2 "44444444-4444-4444-8444-444444444442"
#define C4 "55555555-5555-4555-8555-555555555555"	/* only in la */

struct fake_job {
	char id[25];
	char token[33];
	char status[16];
	int progress;
	size_t n_tasks;
	char tasks[8][512];
	char dst[64];
};

struct fake {
	struct fake_job jobs[16];
	size_t n_jobs;
	int n_creates;		/* calls, successful or not */
	int create_err;		/* next create fails with this ... */
	bool create_err_after;	/* ... after creating the job (reply lost) */
	int find_err;
	int get_err;
	int register_err;
	char registered[64][2][256];
	size_t n_registered;
	int n_ftrack_jobs;
	char last_error[128];
};

static struct fake F;

static char *xs(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int f_locations(void *ud, struct ftrack_location **ret, size_t *ret_n)
{
	static const char *const l[][2] = {
		{ L_HQ, "hq" }, { L_LA, "la" }, { L_UNM, "ftrack.unmanaged" }, { L_LISA, "lisa@vendor.com" },
	};
	struct ftrack_location *v = calloc(4, sizeof(*v));

	(void)ud;
	for (size_t i = 0; i < 4; i++) {
		v[i].id = xs(l[i][0]);
		v[i].name = xs(l[i][1]);
	}
	*ret = v;
	*ret_n = 4;
	return 0;
}

static const struct { const char *id, *type, *name, *ext, *container; int64_t size; } COMPS[] = {
	{ C1, "FileComponent", "main", ".exr", NULL, 100 },
	{ C2, "FileComponent", "nukescript", ".nk", NULL, 50 },
	{ C3, "SequenceComponent", "plate", ".exr", NULL, 20 },
	{ M1, "FileComponent", "1001", ".exr", C3, 10 },
	{ M2, "FileComponent", "1002", ".exr", C3, 10 },
	{ C4, "FileComponent", "geo", ".abc", NULL, 70 },
};

static int f_components(void *ud, const char *const *ids, size_t n, struct send_component **ret,
			size_t *ret_n)
{
	struct send_component *v = calloc(ARRAY_SIZE(COMPS), sizeof(*v));
	size_t k = 0;

	(void)ud;
	for (size_t c = 0; c < ARRAY_SIZE(COMPS); c++) {
		bool want = false;

		for (size_t i = 0; i < n; i++)
			want |= !strcmp(ids[i], COMPS[c].id) ||
				(COMPS[c].container && !strcmp(ids[i], COMPS[c].container));
		if (!want)
			continue;
		v[k].id = xs(COMPS[c].id);
		v[k].entity_type = xs(COMPS[c].type);
		v[k].name = xs(COMPS[c].name);
		v[k].file_type = xs(COMPS[c].ext);
		v[k].container_id = xs(COMPS[c].container);
		v[k].size = COMPS[c].size;
		k++;
	}
	*ret = v;
	*ret_n = k;
	return 0;
}

static const struct { const char *cid, *lid, *ri; } CLS[] = {
	{ C1, L_UNM, "/storage/proj/sh010/comp/v003/main.exr" },
	{ C2, L_UNM, "S:\\proj\\sh010\\comp\\v003\\nukescript.nk" },
	{ C3, L_UNM, "/storage/proj/sh010/comp/v003/plate.%04d.exr" },
	{ M1, L_UNM, "/storage/proj/sh010/comp/v003/plate.1001.exr" },
	{ M2, L_UNM, "/storage/proj/sh010/comp/v003/plate.1002.exr" },
	{ C4, L_LA, "proj/assets/geo/v001/geo.abc" },
};

static int f_cls(void *ud, const char *const *ids, size_t n, struct ftrack_component_location **ret,
		 size_t *ret_n)
{
	struct ftrack_component_location *v = calloc(ARRAY_SIZE(CLS) + F.n_registered + 1, sizeof(*v));
	size_t k = 0;

	(void)ud;
	for (size_t c = 0; c < ARRAY_SIZE(CLS) + F.n_registered; c++) {
		const char *cid = c < ARRAY_SIZE(CLS) ? CLS[c].cid : F.registered[c - ARRAY_SIZE(CLS)][0];
		const char *lid = c < ARRAY_SIZE(CLS) ? CLS[c].lid : L_LA;
		const char *ri = c < ARRAY_SIZE(CLS) ? CLS[c].ri : F.registered[c - ARRAY_SIZE(CLS)][1];
		bool want = false;

		for (size_t i = 0; i < n; i++)
			want |= !strcmp(ids[i], cid);
		if (!want)
			continue;
		v[k].id = xs("cl");
		v[k].component_id = xs(cid);
		v[k].location_id = xs(lid);
		v[k].resource_identifier = xs(ri);
		k++;
	}
	*ret = v;
	*ret_n = k;
	return 0;
}

static int f_register(void *ud, const char *lid, const char *const *cids, const char *const *ris,
		      size_t n)
{
	(void)ud;
	assert_string_equal(lid, L_LA);
	if (F.register_err)
		return F.register_err;
	for (size_t i = 0; i < n; i++) {
		snprintf(F.registered[F.n_registered][0], 256, "%s", cids[i]);
		snprintf(F.registered[F.n_registered][1], 256, "%s", ris[i]);
		F.n_registered++;
	}
	return 0;
}

static void fill_job(const struct fake_job *fj, struct accsyn_job *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->id = xs(fj->id);
	ret->code = xs("code");
	ret->status_text = xs(fj->status);
	ret->status = accsyn_job_status_from_string(fj->status);
	ret->progress = fj->progress;
	ret->size = 1000;
	ret->token = xs(fj->token);
	if (!strcmp(fj->status, "failed"))
		ret->error_message = xs("E#J001 File not found");
}

static int f_create(void *ud, const struct accsyn_job_spec *spec, struct accsyn_job *ret)
{
	struct fake_job *fj;

	(void)ud;
	F.n_creates++;
	if (F.create_err && !F.create_err_after) {
		int e = F.create_err;

		F.create_err = 0;
		snprintf(F.last_error, sizeof(F.last_error), "refused");
		return e;
	}
	fj = &F.jobs[F.n_jobs++];
	memset(fj, 0, sizeof(*fj));
	snprintf(fj->id, sizeof(fj->id), "%024zx", F.n_jobs);
	snprintf(fj->token, sizeof(fj->token), "%s", spec->token);
	snprintf(fj->status, sizeof(fj->status), "init");
	fj->n_tasks = spec->n_tasks;
	for (size_t i = 0; i < spec->n_tasks && i < 8; i++)
		snprintf(fj->tasks[i], sizeof(fj->tasks[i]), "%s -> %s", spec->tasks[i].source,
			 spec->tasks[i].destination);
	assert_true(spec->mirror_paths);
	if (F.create_err) {
		int e = F.create_err;

		F.create_err = 0;
		F.create_err_after = false;
		return e;	/* created, but the reply was lost */
	}
	fill_job(fj, ret);
	return 0;
}

static int f_get(void *ud, const char *id, struct accsyn_job *ret)
{
	(void)ud;
	if (F.get_err)
		return F.get_err;
	for (size_t i = 0; i < F.n_jobs; i++)
		if (!strcmp(F.jobs[i].id, id)) {
			fill_job(&F.jobs[i], ret);
			return 1;
		}
	return 0;
}

static int f_find(void *ud, const char *token, struct accsyn_job *ret)
{
	(void)ud;
	if (F.find_err)
		return F.find_err;
	for (size_t i = 0; i < F.n_jobs; i++)
		if (!strcmp(F.jobs[i].token, token)) {
			fill_job(&F.jobs[i], ret);
			return 1;
		}
	return 0;
}

static int f_fjob_create(void *ud, const char *status, const char *desc, char id[FTRACK_ID_LEN + 1])
{
	(void)ud; (void)status; (void)desc;
	F.n_ftrack_jobs++;
	snprintf(id, FTRACK_ID_LEN + 1, "66666666-6666-4666-8666-%012d", F.n_ftrack_jobs);
	return 0;
}

static int f_fjob_update(void *ud, const char *id, const char *status, const char *desc)
{
	(void)ud; (void)id; (void)status; (void)desc;
	return 0;
}

static void f_last_error(void *ud, bool is_accsyn, char *buf, size_t len)
{
	(void)ud; (void)is_accsyn;
	snprintf(buf, len, "%s", F.last_error);
}

static const struct send_remote FAKE = {
	.list_locations = f_locations, .components = f_components, .component_locations = f_cls,
	.register_components = f_register, .job_create = f_create, .job_get = f_get,
	.job_find_by_token = f_find, .ftrack_job_create = f_fjob_create,
	.ftrack_job_update = f_fjob_update, .last_error = f_last_error,
};

struct env {
	char dir[64];
	struct config *cfg;
	struct cache *cache;
	struct send *send;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct cache_options co = { .no_sync = true };
	struct send_options so = { 0 };

	memset(&F, 0, sizeof(F));
	snprintf(e->dir, sizeof(e->dir), "/tmp/ftrackfs-send-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	e->cfg = cfg_new();
	assert_int_equal(cache_open(e->dir, "http://ftrack.test", "alice", &co, &e->cache), 0);
	so.cfg = e->cfg;
	so.cache = e->cache;
	so.remote = &FAKE;
	so.user = "alice";
	so.quiet_ms = 2000;
	so.poll_ms = 1;
	so.backoff_min_ms = 1;
	so.backoff_max_ms = 1;
	assert_int_equal(send_new(&so, &e->send), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	send_free(e->send);
	cache_close(e->cache);
	config_free(e->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

static enum cache_outbox_state state_of(struct env *e, const char *cid)
{
	struct cache_outbox *v = NULL;
	int n = cache_outbox_list(e->cache, 0, &v);
	enum cache_outbox_state st = 0;

	for (int i = 0; i < n; i++)
		if (!strcmp(v[i].component_id, cid))
			st = v[i].state;	/* the newest intent */
	free(v);
	return st;
}

static struct cache_compstate view(struct env *e, const char *cid)
{
	struct cache_compstate cs;

	memset(&cs, 0, sizeof(cs));
	cache_compstate_get(e->cache, cid, L_LA, &cs);
	return cs;
}

/* run steps until nothing is pending, at fake times 1 s apart */
static int64_t T0 = 4000000000000000000LL;	/* 2096: after any real enqueue */
#define SEC 1000000000LL

static void step(struct env *e)
{
	usleep(3000);	/* past the 1 ms poll interval and backoff */
	send_step(e->send, false, 0);
}

static void step_at(struct env *e, int64_t t)
{
	send_step(e->send, false, T0 + t);
}

static void test_enqueue_idempotent_and_present(void **state)
{
	struct env *e = *state;
	struct cache_compstate cs = { 0 };

	assert_int_equal(send_enqueue(e->send, C1, L_LA, "la/proj/main.exr", 100), 1);
	assert_int_equal(send_enqueue(e->send, C1, L_LA, NULL, 100), 0);	/* pending */
	assert_int_equal(view(e, C1).state, CACHE_LOC_QUEUED);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_COLLECTING);
	/* present already: nothing recorded */
	snprintf(cs.component_id, sizeof(cs.component_id), C2);
	snprintf(cs.location_id, sizeof(cs.location_id), L_LA);
	cs.state = CACHE_LOC_PRESENT;
	assert_int_equal(cache_compstate_put(e->cache, &cs, 1), 0);
	assert_int_equal(send_enqueue(e->send, C2, L_LA, NULL, 0), 0);
	assert_int_equal(state_of(e, C2), 0);
	assert_int_equal(send_enqueue(e->send, "", L_LA, NULL, 0), -EINVAL);
}

static void test_quiet_period_then_one_job_then_done(void **state)
{
	struct env *e = *state;
	struct cache_compstate cs;

	assert_int_equal(send_enqueue(e->send, C1, L_LA, NULL, 100), 1);
	assert_int_equal(send_enqueue(e->send, C2, L_LA, NULL, 50), 1);
	assert_int_equal(send_enqueue(e->send, C3, L_LA, NULL, 20), 1);
	/* the enqueues happened "now"; a step 1 s later is inside the quiet period */
	send_step(e->send, false, 0);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_COLLECTING);
	assert_int_equal(F.n_creates, 0);
	/* flush: one job, three tasks, hq to la */
	send_step(e->send, true, 0);
	assert_int_equal(F.n_creates, 1);
	assert_int_equal(F.jobs[0].n_tasks, 3);
	assert_string_equal(F.jobs[0].tasks[0], "site=hq:proj/sh010/comp/v003/main.exr -> site=la");
	assert_string_equal(F.jobs[0].tasks[1], "site=hq:proj/sh010/comp/v003/nukescript.nk -> site=la");
	assert_string_equal(F.jobs[0].tasks[2],
			    "site=hq:proj/sh010/comp/v003/plate.%04d.exr [1001-1002] -> site=la");
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_SUBMITTED);
	assert_int_equal(view(e, C1).state, CACHE_LOC_QUEUED);
	/* running at 40 %: transferring with bytes */
	snprintf(F.jobs[0].status, sizeof(F.jobs[0].status), "running");
	F.jobs[0].progress = 40;
	step(e);
	cs = view(e, C1);
	assert_int_equal(cs.state, CACHE_LOC_TRANSFERRING);
	assert_int_equal(cs.bytes_done, 40);
	assert_int_equal(cs.bytes_total, 100);
	assert_int_equal(F.n_ftrack_jobs, 1);
	assert_int_equal(F.n_registered, 0);	/* nothing before done */
	/* done: registered (with the sequence members), present */
	snprintf(F.jobs[0].status, sizeof(F.jobs[0].status), "done");
	F.jobs[0].progress = 100;
	step(e);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_DONE);
	assert_int_equal(view(e, C1).state, CACHE_LOC_PRESENT);
	assert_int_equal(view(e, M2).state, CACHE_LOC_PRESENT);
	assert_int_equal(F.n_registered, 5);
	assert_string_equal(F.registered[0][1], "proj/sh010/comp/v003/main.exr");
	for (size_t i = 0; i < F.n_registered; i++)
		if (!strcmp(F.registered[i][0], M2))
			assert_string_equal(F.registered[i][1], "proj/sh010/comp/v003/plate.1002.exr");
	assert_true(send_is_idle(e->send));
	assert_int_equal(F.n_ftrack_jobs, 1);
}

static void test_quiet_period_by_time(void **state)
{
	struct env *e = *state;

	assert_int_equal(send_enqueue(e->send, C1, L_LA, NULL, 100), 1);
	send_step(e->send, false, 0);
	assert_int_equal(F.n_creates, 0);
	step_at(e, 0);	/* T0 is far in the future: the period is over */
	assert_int_equal(F.n_creates, 1);
}

static void test_ambiguous_create_is_adopted_not_repeated(void **state)
{
	struct env *e = *state;

	send_enqueue(e->send, C1, L_LA, NULL, 100);
	F.create_err = -ETIMEDOUT;
	F.create_err_after = true;		/* accsyn made it; we never heard */
	send_step(e->send, true, 0);
	assert_int_equal(F.n_jobs, 1);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_SUBMITTING);
	assert_non_null(strstr(view(e, C1).reason, "accsyn unreachable"));
	step(e);	/* looks the token up: adopted */
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_SUBMITTED);
	assert_int_equal(F.n_creates, 1);
	assert_int_equal(F.n_jobs, 1);
	assert_string_equal(view(e, C1).reason, "");
}

static void test_failed_create_is_resubmitted_once(void **state)
{
	struct env *e = *state;

	send_enqueue(e->send, C1, L_LA, NULL, 100);
	F.create_err = -EIO;			/* a 5xx: nothing was made */
	send_step(e->send, true, 0);
	assert_int_equal(F.n_jobs, 0);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_SUBMITTING);
	/* accsyn still down for the lookup: stays put, nothing created */
	F.find_err = -EHOSTUNREACH;
	step(e);
	assert_int_equal(F.n_creates, 1);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_SUBMITTING);
	F.find_err = 0;
	step(e);	/* no such token -> READY -> a new job */
	assert_int_equal(F.n_creates, 2);
	assert_int_equal(F.n_jobs, 1);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_SUBMITTED);
}

static void test_revoked_key_is_visible_then_recovers(void **state)
{
	struct env *e = *state;
	struct send_stats st;

	send_enqueue(e->send, C1, L_LA, NULL, 100);
	F.create_err = -EACCES;
	send_step(e->send, true, 0);
	assert_int_equal(view(e, C1).state, CACHE_LOC_FAILED);
	assert_string_equal(view(e, C1).reason, "accsyn rejected the API key");
	assert_int_equal(send_stats(e->send, &st), 0);
	assert_true(st.is_blocked);
	assert_string_equal(st.blocked_reason, "accsyn rejected the API key");
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_SUBMITTING);	/* not lost */
	step(e);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_SUBMITTED);
	assert_int_equal(view(e, C1).state, CACHE_LOC_QUEUED);
	assert_int_equal(send_stats(e->send, &st), 0);
	assert_false(st.is_blocked);
}

static void test_rejected_job_fails_with_reason(void **state)
{
	struct env *e = *state;

	send_enqueue(e->send, C1, L_LA, NULL, 100);
	F.create_err = -EINVAL;
	send_step(e->send, true, 0);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_FAILED);
	assert_int_equal(view(e, C1).state, CACHE_LOC_FAILED);
	assert_string_equal(view(e, C1).reason, "accsyn refused the job: refused");
}

static void test_failed_and_aborted_jobs_then_retry(void **state)
{
	struct env *e = *state;

	send_enqueue(e->send, C1, L_LA, NULL, 100);
	send_enqueue(e->send, C4, L_LISA, NULL, 70);
	send_step(e->send, true, 0);
	assert_int_equal(F.n_jobs, 2);	/* hq -> la, la -> lisa */
	snprintf(F.jobs[0].status, sizeof(F.jobs[0].status), "failed");
	snprintf(F.jobs[1].status, sizeof(F.jobs[1].status), "aborted");
	step(e);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_FAILED);
	assert_string_equal(view(e, C1).reason, "E#J001 File not found");
	assert_int_equal(state_of(e, C4), CACHE_OUTBOX_FAILED);
	assert_int_equal(F.n_registered, 0);	/* aborted is not success */
	assert_int_equal(send_retry(e->send, C1, NULL), 1);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_READY);
	assert_int_equal(view(e, C1).state, CACHE_LOC_QUEUED);
	step(e);
	assert_int_equal(F.n_jobs, 3);
	assert_int_equal(send_retry(e->send, NULL, NULL), 1);	/* C4 */
}

static void test_errors_no_party_no_holder(void **state)
{
	struct env *e = *state;

	send_enqueue(e->send, C1, L_UNM, NULL, 100);
	send_enqueue(e->send, "77777777-7777-4777-8777-777777777777", L_LA, NULL, 1);
	send_step(e->send, true, 0);
	assert_int_equal(F.n_creates, 0);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_FAILED);
	assert_int_equal(state_of(e, "77777777-7777-4777-8777-777777777777"), CACHE_OUTBOX_FAILED);
	/* once the locations are known, a party-less destination is refused up front */
	assert_int_equal(send_enqueue(e->send, C2, L_UNM, NULL, 1), -ENXIO);
}

static void test_service_down_keeps_everything(void **state)
{
	struct env *e = *state;

	send_enqueue(e->send, C1, L_LA, NULL, 100);
	send_step(e->send, true, 0);
	F.get_err = -ETIMEDOUT;
	step(e);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_SUBMITTED);
	assert_non_null(strstr(view(e, C1).reason, "accsyn unreachable"));
	F.get_err = 0;
	snprintf(F.jobs[0].status, sizeof(F.jobs[0].status), "done");
	step(e);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_DONE);
	assert_int_equal(F.n_creates, 1);
}

static void test_register_failure_retried(void **state)
{
	struct env *e = *state;

	send_enqueue(e->send, C1, L_LA, NULL, 100);
	send_step(e->send, true, 0);
	snprintf(F.jobs[0].status, sizeof(F.jobs[0].status), "done");
	F.register_err = -EIO;
	step(e);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_SUBMITTED);
	F.register_err = 0;
	step(e);
	assert_int_equal(state_of(e, C1), CACHE_OUTBOX_DONE);
	assert_int_equal(F.n_registered, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_party),
		cmocka_unit_test(test_source_path),
		cmocka_unit_test(test_seq),
		cmocka_unit_test(test_job_name),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_state_text_and_job_json),
		cmocka_unit_test_setup_teardown(test_enqueue_idempotent_and_present, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet_period_then_one_job_then_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet_period_by_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ambiguous_create_is_adopted_not_repeated, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failed_create_is_resubmitted_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_key_is_visible_then_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected_job_fails_with_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_and_aborted_jobs_then_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_no_party_no_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_down_keeps_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_failure_retried, setup, teardown),
	};

	log_set_sink(quiet, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
