/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote-probe - drive the remote/ clients from the command line, for the
 * integration tests (tests/integration/test_remote_*.py). Prints one JSON
 * line: {"ok":true,...,"requests":N} or {"ok":false,"errno":"EACCES",
 * "error":"<server text>","requests":N}. Exit 0 either way; 2 for usage.
 *
 *   remote-probe ftrack info | projects | locations
 *   remote-probe ftrack query EXPR [LIMIT]
 *   remote-probe ftrack name-is TYPE VALUE        (the value goes through the escaper)
 *   remote-probe ftrack children|assets|versions|components|cls ID...
 *   remote-probe ftrack level ID...                (contexts + assets, ftrack_list_level)
 *   remote-probe ftrack asset-level ID...          (ftrack_list_versions_and_components)
 *   remote-probe ftrack get-components ID...       (ftrack_get_components)
 *   remote-probe ftrack batch N EXPR               (N queries, one send)
 *   remote-probe ftrack create-cl COMPONENT LOCATION RESOURCE_IDENTIFIER
 *   remote-probe ftrack create-job STATUS DESCRIPTION
 *   remote-probe ftrack update-job ID STATUS DESCRIPTION
 *   remote-probe accsyn login
 *   remote-probe accsyn create TOKEN CODE SRC DST [SRC DST]...
 *   remote-probe accsyn get ID | find-token TOKEN | tasks ID | pause|resume|abort ID
 *   remote-probe accsyn wait ID SECONDS            (poll every 0.2 s until final)
 *
 * Environment: FTRACK_SERVER, FTRACK_API_USER, FTRACK_API_KEY; ACCSYN_PROXY,
 * ACCSYN_WORKSPACE, ACCSYN_API_USER, ACCSYN_API_KEY; PROBE_PAGE_SIZE, PROBE_IN_CHUNK,
 * PROBE_RETRIES, PROBE_TIMEOUT_MS, PROBE_MAX_BODY, PROBE_LOG=debug.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ftrackfs/accsyn.h"
#include "ftrackfs/ftrack.h"
#include "ftrackfs/log.h"

static void jstr(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static const char *errname(int e)
{
	switch (e) {
	case EACCES: return "EACCES";
	case EINVAL: return "EINVAL";
	case EIO: return "EIO";
	case EPROTO: return "EPROTO";
	case EFBIG: return "EFBIG";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ECONNRESET: return "ECONNRESET";
	case EAGAIN: return "EAGAIN";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ENOMEM: return "ENOMEM";
	default: return "E?";
	}
}

static long envl(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long r;

	if (!v || !*v)
		return def;
	r = strtol(v, &end, 10);
	return *end ? def : r;
}

static struct remote_transport transport(void)
{
	struct remote_transport t = {
		.max_retries = (int)envl("PROBE_RETRIES", 0),
		.timeout_ms = envl("PROBE_TIMEOUT_MS", 0),
		.max_body_bytes = (size_t)envl("PROBE_MAX_BODY", 0),
		.retry_base_ms = 50,
		.retry_max_ms = 2000,
	};

	return t;
}

static int fail(int r, const char *text, uint64_t requests)
{
	printf("{\"ok\":false,\"errno\":\"%s\",\"error\":", errname(-r));
	jstr(text);
	printf(",\"requests\":%" PRIu64 "}\n", requests);
	return 0;
}

struct rows {
	int n;
	FILE *out;	/* rows are printed only once the query succeeded */
};

static int print_row(const struct ftrack_entity *e, void *ud)
{
	struct rows *r = ud;
	const char *name = NULL;

	FILE *saved = stdout;

	(void)ftrack_entity_str(e, "name", &name);
	stdout = r->out;
	printf("%s{\"type\":", r->n ? "," : "");
	jstr(ftrack_entity_type(e));
	printf(",\"id\":");
	jstr(ftrack_entity_id(e));
	if (name) {
		printf(",\"name\":");
		jstr(name);
	}
	putchar('}');
	stdout = saved;
	r->n++;
	return 0;
}

static int ftrack_main(int argc, char **argv)
{
	struct ftrack_config cfg = { .transport = transport() };
	struct ftrack *f;
	const char *op = argv[0];
	char err[512] = "";
	int r;

	if (ftrack_config_from_env(&cfg) < 0) {
		fprintf(stderr, "remote-probe: FTRACK_SERVER/FTRACK_API_USER/FTRACK_API_KEY needed\n");
		return 2;
	}
	cfg.page_size = (unsigned)envl("PROBE_PAGE_SIZE", 0);
	cfg.in_chunk = (unsigned)envl("PROBE_IN_CHUNK", 0);
	r = ftrack_new(&cfg, &f);
	if (r < 0)
		return fail(r, "ftrack_new", 0);

	if (strcmp(op, "info") == 0) {
		char version[64];

		r = ftrack_server_info(f, version, sizeof(version));
		if (r == 0) {
			printf("{\"ok\":true,\"version\":");
			jstr(version);
		}
	} else if (strcmp(op, "query") == 0 && argc >= 2) {
		struct rows rows = { 0 };
		char *buf = NULL;
		size_t len = 0;

		rows.out = open_memstream(&buf, &len);
		r = ftrack_query(f, argv[1], argc > 2 ? strtoull(argv[2], NULL, 10) : 0, print_row, &rows);
		fclose(rows.out);
		if (r >= 0)
			printf("{\"ok\":true,\"rows\":[%s],\"n\":%d", buf, rows.n);
		free(buf);
		if (r < 0)
			goto out_err;
	} else if (strcmp(op, "name-is") == 0 && argc == 3) {
		struct ftrack_expr *e;
		struct rows rows = { 0 };
		const char *q;
		char *buf = NULL;
		size_t len = 0;

		r = ftrack_expr_new(&e);
		if (r < 0)
			goto out_err;
		ftrack_expr_raw(e, "select id, name from ");
		ftrack_expr_raw(e, argv[1]);
		ftrack_expr_raw(e, " where name is ");
		ftrack_expr_str(e, argv[2]);
		r = ftrack_expr_get(e, &q);
		if (r == 0) {
			rows.out = open_memstream(&buf, &len);
			r = ftrack_query(f, q, 0, print_row, &rows);
			fclose(rows.out);
			if (r >= 0) {
				printf("{\"ok\":true,\"expression\":");
				jstr(q);
				printf(",\"rows\":[%s],\"n\":%d", buf, rows.n);
			}
			free(buf);
		}
		ftrack_expr_free(e);
		if (r < 0)
			goto out_err;
	} else if (strcmp(op, "batch") == 0 && argc == 3) {
		struct ftrack_batch *b;
		int n = atoi(argv[1]);

		r = ftrack_batch_new(f, &b);
		if (r < 0)
			goto out_err;
		for (int i = 0; i < n && r >= 0; i++)
			r = ftrack_batch_query(b, argv[2]);
		if (r >= 0)
			r = ftrack_batch_send(b);
		if (r >= 0) {
			printf("{\"ok\":true,\"results\":[");
			for (int i = 0; i < n; i++)
				printf("%s%d", i ? "," : "", ftrack_batch_rows(b, (size_t)i, NULL, NULL));
			printf("]");
		}
		ftrack_batch_free(b);
	} else if (strcmp(op, "projects") == 0) {
		struct ftrack_project *p;
		size_t n;

		r = ftrack_list_projects(f, &p, &n);
		if (r == 0) {
			printf("{\"ok\":true,\"items\":[");
			for (size_t i = 0; i < n; i++) {
				printf("%s{\"id\":", i ? "," : "");
				jstr(p[i].id);
				printf(",\"name\":");
				jstr(p[i].name);
				printf("}");
			}
			printf("]");
			ftrack_project_array_free(p, n);
		}
	} else if (strcmp(op, "locations") == 0) {
		struct ftrack_location *l;
		size_t n;

		r = ftrack_list_locations(f, &l, &n);
		if (r == 0) {
			printf("{\"ok\":true,\"items\":[");
			for (size_t i = 0; i < n; i++) {
				printf("%s{\"id\":", i ? "," : "");
				jstr(l[i].id);
				printf(",\"name\":");
				jstr(l[i].name);
				printf("}");
			}
			printf("]");
			ftrack_location_array_free(l, n);
		}
	} else if (strcmp(op, "children") == 0 || strcmp(op, "assets") == 0 ||
		   strcmp(op, "versions") == 0 || strcmp(op, "components") == 0 ||
		   strcmp(op, "cls") == 0) {
		const char *const *ids = (const char *const *)argv + 1;
		size_t nids = (size_t)argc - 1, n = 0;

		printf("{\"ok\":true,\"items\":[");
		if (strcmp(op, "children") == 0) {
			struct ftrack_context *c;

			r = ftrack_list_child_contexts(f, ids, nids, &c, &n);
			for (size_t i = 0; r == 0 && i < n; i++) {
				printf("%s{\"id\":", i ? "," : "");
				jstr(c[i].id);
				printf(",\"name\":");
				jstr(c[i].name);
				printf(",\"type\":");
				jstr(c[i].entity_type);
				printf(",\"parent_id\":");
				jstr(c[i].parent_id);
				printf("}");
			}
			if (r == 0)
				ftrack_context_array_free(c, n);
		} else if (strcmp(op, "assets") == 0) {
			struct ftrack_asset *a;

			r = ftrack_list_assets(f, ids, nids, &a, &n);
			for (size_t i = 0; r == 0 && i < n; i++) {
				printf("%s{\"id\":", i ? "," : "");
				jstr(a[i].id);
				printf(",\"name\":");
				jstr(a[i].name);
				printf("}");
			}
			if (r == 0)
				ftrack_asset_array_free(a, n);
		} else if (strcmp(op, "versions") == 0) {
			struct ftrack_version *v;

			r = ftrack_list_versions(f, ids, nids, &v, &n);
			for (size_t i = 0; r == 0 && i < n; i++) {
				printf("%s{\"id\":", i ? "," : "");
				jstr(v[i].id);
				printf(",\"version\":%" PRId64 ",\"date_ns\":%" PRId64 ",\"username\":",
				       v[i].version, v[i].date_ns);
				jstr(v[i].username);
				printf("}");
			}
			if (r == 0)
				ftrack_version_array_free(v, n);
		} else if (strcmp(op, "components") == 0) {
			struct ftrack_component *c;

			r = ftrack_list_components(f, ids, nids, &c, &n);
			for (size_t i = 0; r == 0 && i < n; i++) {
				printf("%s{\"id\":", i ? "," : "");
				jstr(c[i].id);
				printf(",\"name\":");
				jstr(c[i].name);
				printf(",\"file_type\":");
				jstr(c[i].file_type);
				printf(",\"kind\":%d,\"size\":%" PRId64 ",\"padding\":%d,\"members\":%zu}",
				       (int)c[i].kind, c[i].size, c[i].padding, c[i].n_members);
			}
			if (r == 0)
				ftrack_component_array_free(c, n);
		} else {
			struct ftrack_component_location *cl;

			r = ftrack_list_component_locations(f, ids, nids, &cl, &n);
			for (size_t i = 0; r == 0 && i < n; i++) {
				printf("%s{\"id\":", i ? "," : "");
				jstr(cl[i].id);
				printf(",\"component_id\":");
				jstr(cl[i].component_id);
				printf(",\"location_id\":");
				jstr(cl[i].location_id);
				printf(",\"resource_identifier\":");
				jstr(cl[i].resource_identifier);
				printf("}");
			}
			if (r == 0)
				ftrack_component_location_array_free(cl, n);
		}
		printf("]");
		if (r < 0) {
			printf("}\n");
			goto out_err;
		}
	} else if (strcmp(op, "level") == 0 || strcmp(op, "asset-level") == 0 ||
		   strcmp(op, "get-components") == 0) {
		const char *const *ids = (const char *const *)argv + 1;
		size_t nids = (size_t)argc - 1;

		if (strcmp(op, "level") == 0) {
			struct ftrack_context *c;
			struct ftrack_asset *a;
			size_t nc, na;

			r = ftrack_list_level(f, ids, nids, &c, &nc, &a, &na);
			if (r == 0) {
				printf("{\"ok\":true,\"contexts\":[");
				for (size_t i = 0; i < nc; i++) {
					printf("%s{\"id\":", i ? "," : "");
					jstr(c[i].id);
					printf(",\"name\":");
					jstr(c[i].name);
					printf(",\"parent_id\":");
					jstr(c[i].parent_id);
					printf("}");
				}
				printf("],\"assets\":[");
				for (size_t i = 0; i < na; i++) {
					printf("%s{\"id\":", i ? "," : "");
					jstr(a[i].id);
					printf(",\"name\":");
					jstr(a[i].name);
					printf(",\"context_id\":");
					jstr(a[i].context_id);
					printf("}");
				}
				printf("]");
				ftrack_context_array_free(c, nc);
				ftrack_asset_array_free(a, na);
			}
		} else if (strcmp(op, "asset-level") == 0) {
			struct ftrack_version *v;
			struct ftrack_component *c;
			size_t nv, nc;

			r = ftrack_list_versions_and_components(f, ids, nids, &v, &nv, &c, &nc);
			if (r == 0) {
				printf("{\"ok\":true,\"versions\":[");
				for (size_t i = 0; i < nv; i++) {
					printf("%s{\"id\":", i ? "," : "");
					jstr(v[i].id);
					printf(",\"version\":%" PRId64 ",\"asset_id\":", v[i].version);
					jstr(v[i].asset_id);
					printf("}");
				}
				printf("],\"components\":[");
				for (size_t i = 0; i < nc; i++) {
					printf("%s{\"id\":", i ? "," : "");
					jstr(c[i].id);
					printf(",\"version_id\":");
					jstr(c[i].version_id);
					printf(",\"kind\":%d,\"padding\":%d,\"members\":%zu}", (int)c[i].kind,
					       c[i].padding, c[i].n_members);
				}
				printf("]");
				ftrack_version_array_free(v, nv);
				ftrack_component_array_free(c, nc);
			}
		} else {
			struct ftrack_placed_component *pc;
			size_t n;

			r = ftrack_get_components(f, ids, nids, &pc, &n);
			if (r == 0) {
				printf("{\"ok\":true,\"items\":[");
				for (size_t i = 0; i < n; i++) {
					printf("%s{\"id\":", i ? "," : "");
					jstr(pc[i].component.id);
					printf(",\"name\":");
					jstr(pc[i].component.name);
					printf(",\"kind\":%d,\"padding\":%d,\"container_id\":",
					       (int)pc[i].component.kind, pc[i].component.padding);
					jstr(pc[i].container.id);
					printf(",\"container_name\":");
					jstr(pc[i].container.name);
					printf(",\"container_padding\":%d,\"version_id\":", pc[i].container.padding);
					jstr(pc[i].version_id);
					printf(",\"version\":%" PRId64 ",\"date_ns\":%" PRId64 ",\"asset_id\":",
					       pc[i].version, pc[i].version_date_ns);
					jstr(pc[i].asset_id);
					printf(",\"asset_name\":");
					jstr(pc[i].asset_name);
					printf(",\"link\":[");
					for (size_t k = 0; k < pc[i].n_link; k++) {
						printf("%s{\"id\":", k ? "," : "");
						jstr(pc[i].link[k].id);
						printf(",\"name\":");
						jstr(pc[i].link[k].name);
						printf(",\"type\":");
						jstr(pc[i].link[k].type);
						printf("}");
					}
					printf("]}");
				}
				printf("]");
				ftrack_placed_component_array_free(pc, n);
			}
		}
	} else if (strcmp(op, "create-cl") == 0 && argc == 4) {
		char id[FTRACK_ID_LEN + 1];

		r = ftrack_create_component_location(f, argv[1], argv[2], argv[3], id);
		if (r == 0) {
			printf("{\"ok\":true,\"id\":");
			jstr(id);
		}
	} else if (strcmp(op, "create-job") == 0 && argc == 3) {
		char id[FTRACK_ID_LEN + 1];

		r = ftrack_create_job(f, argv[1], argv[2], id);
		if (r == 0) {
			printf("{\"ok\":true,\"id\":");
			jstr(id);
		}
	} else if (strcmp(op, "update-job") == 0 && argc == 4) {
		r = ftrack_update_job(f, argv[1], argv[2], argv[3]);
		if (r == 0)
			printf("{\"ok\":true");
	} else {
		ftrack_free(f);
		fprintf(stderr, "remote-probe: bad ftrack command\n");
		return 2;
	}
	if (r < 0)
		goto out_err;
	printf(",\"requests\":%" PRIu64 "}\n", ftrack_request_count(f));
	ftrack_free(f);
	return 0;
out_err:
	ftrack_last_error(f, err, sizeof(err));
	fail(r, err, ftrack_request_count(f));
	ftrack_free(f);
	return 0;
}

static void print_job(const struct accsyn_job *j)
{
	printf("{\"id\":");
	jstr(j->id);
	printf(",\"code\":");
	jstr(j->code);
	printf(",\"status\":");
	jstr(accsyn_job_status_to_string(j->status));
	printf(",\"progress\":%d,\"size\":%" PRId64 ",\"token\":", j->progress, j->size);
	jstr(j->token);
	printf("}");
}

static int accsyn_main(int argc, char **argv)
{
	struct accsyn_config cfg = { .transport = transport() };
	struct accsyn *a;
	struct accsyn_job job = { 0 };
	const char *op = argv[0];
	char err[512] = "";
	int r;

	if (accsyn_config_from_env(&cfg) < 0) {
		fprintf(stderr, "remote-probe: ACCSYN_WORKSPACE/ACCSYN_API_USER/ACCSYN_API_KEY needed\n");
		return 2;
	}
	r = accsyn_new(&cfg, &a);
	if (r < 0)
		return fail(r, "accsyn_new", 0);
	if (strcmp(op, "login") == 0) {
		r = accsyn_login(a);
		if (r == 0)
			printf("{\"ok\":true");
	} else if (strcmp(op, "create") == 0 && argc >= 5 && (argc - 3) % 2 == 0) {
		size_t n = (size_t)(argc - 3) / 2;
		struct accsyn_task_spec *t = calloc(n, sizeof(*t));
		struct accsyn_job_spec spec = { .token = argv[1], .code = argv[2], .mirror_paths = true,
						.tasks = t, .n_tasks = n };

		for (size_t i = 0; i < n; i++) {
			t[i].source = argv[3 + 2 * i];
			t[i].destination = argv[4 + 2 * i];
		}
		r = accsyn_job_create(a, &spec, &job);
		free(t);
		if (r == 0) {
			printf("{\"ok\":true,\"job\":");
			print_job(&job);
		}
	} else if ((strcmp(op, "get") == 0 || strcmp(op, "find-token") == 0) && argc == 2) {
		r = strcmp(op, "get") == 0 ? accsyn_job_get(a, argv[1], &job)
					   : accsyn_job_find_by_token(a, argv[1], &job);
		if (r >= 0) {
			printf("{\"ok\":true,\"found\":%d,\"job\":", r);
			if (r == 1)
				print_job(&job);
			else
				printf("null");
		}
	} else if ((strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0 || strcmp(op, "abort") == 0) &&
		   argc == 2) {
		r = strcmp(op, "pause") == 0	? accsyn_job_pause(a, argv[1], &job)
		    : strcmp(op, "resume") == 0 ? accsyn_job_resume(a, argv[1], &job)
						: accsyn_job_abort(a, argv[1], &job);
		if (r == 0) {
			printf("{\"ok\":true,\"job\":");
			print_job(&job);
		}
	} else if (strcmp(op, "tasks") == 0 && argc == 2) {
		struct accsyn_task *t;
		size_t n;

		r = accsyn_job_tasks(a, argv[1], &t, &n);
		if (r == 0) {
			printf("{\"ok\":true,\"tasks\":[");
			for (size_t i = 0; i < n; i++) {
				printf("%s{\"id\":", i ? "," : "");
				jstr(t[i].id);
				printf(",\"status\":");
				jstr(t[i].status_text);
				printf(",\"progress\":%d}", t[i].progress);
			}
			printf("]");
			accsyn_task_array_free(t, n);
		}
	} else if (strcmp(op, "wait") == 0 && argc == 3) {
		double deadline = (double)time(NULL) + atof(argv[2]);
		int polls = 0;

		for (;;) {
			struct timespec ts = { 0, 200000000L };

			accsyn_job_release(&job);
			r = accsyn_job_get(a, argv[1], &job);
			polls++;
			if (r <= 0 || accsyn_job_status_is_final(job.status) || (double)time(NULL) > deadline)
				break;
			nanosleep(&ts, NULL);
		}
		if (r == 0)
			r = -ENOENT;
		if (r > 0) {
			r = 0;
			printf("{\"ok\":true,\"polls\":%d,\"job\":", polls);
			print_job(&job);
		}
	} else {
		accsyn_free(a);
		fprintf(stderr, "remote-probe: bad accsyn command\n");
		return 2;
	}
	accsyn_job_release(&job);
	if (r < 0) {
		accsyn_last_error(a, err, sizeof(err));
		fail(r, err, accsyn_request_count(a));
	} else {
		printf(",\"requests\":%" PRIu64 "}\n", accsyn_request_count(a));
	}
	accsyn_free(a);
	return 0;
}

int main(int argc, char **argv)
{
	const char *lvl = getenv("PROBE_LOG");
	enum log_level level;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: remote-probe ftrack|accsyn OP [ARGS...]\n");
		return 2;
	}
	if (lvl && log_level_from_string(lvl, &level) == 0)
		log_set_level(level);
	if (remote_global_init() < 0)
		return 1;
	if (strcmp(argv[1], "ftrack") == 0)
		r = ftrack_main(argc - 2, argv + 2);
	else if (strcmp(argv[1], "accsyn") == 0)
		r = accsyn_main(argc - 2, argv + 2);
	else
		r = 2;
	fflush(stdout);
	remote_global_cleanup();
	return r;
}
