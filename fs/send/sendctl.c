/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ftrackfs-sendctl - the send engine without a mount, for integration tests
 * and benchmarks. Credentials come from the environment, as for ftrackfs.
 *
 *   ftrackfs-sendctl [options] enqueue --to LOCATION COMPONENT_ID...
 *   ftrackfs-sendctl [options] run [--until-idle] [--flush] [--timeout S]
 *   ftrackfs-sendctl [options] retry [--to LOCATION] [COMPONENT_ID]
 *   ftrackfs-sendctl [options] status
 *
 * options: --cache DIR (required), --config FILE, --quiet-ms N, --poll-ms N,
 *          --backoff-max-ms N, --priority NAME[,NAME...]
 * LOCATION is an ftrack Location name or id. `status` prints one JSON
 * object: the intents, the destination states and the jobs.
 * Exit: 0 ok, 1 error, 2 usage, 3 timeout (run --until-idle).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ftrackfs/accsyn.h"
#include "ftrackfs/cache.h"
#include "ftrackfs/config.h"
#include "ftrackfs/ftrack.h"
#include "ftrackfs/log.h"
#include "ftrackfs/remote.h"
#include "send.h"

struct ctl {
	struct config *cfg;
	struct cache *cache;
	struct ftrack *ftrack;
	struct accsyn *accsyn;
	struct send_services svc;
	struct send *send;
	const char *priority[32];
	size_t n_priority;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: ftrackfs-sendctl --cache DIR [--config FILE] [--quiet-ms N] [--poll-ms N]\n"
		"                        [--backoff-max-ms N] [--priority A,B] COMMAND ...\n"
		"  enqueue --to LOCATION COMPONENT_ID...\n"
		"  run [--until-idle] [--flush] [--timeout SECONDS]\n"
		"  retry [--to LOCATION] [COMPONENT_ID]\n"
		"  status\n");
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static const char *outbox_state(uint32_t st)
{
	static const char *const names[] = { "?", "collecting", "ready", "submitting", "submitted",
					     "done", "failed" };

	return st < 7 ? names[st] : "?";
}

static const char *loc_state(uint32_t st)
{
	static const char *const names[] = { "absent", "queued", "transferring", "present", "failed" };

	return st < 5 ? names[st] : "?";
}

/* A Location name or id -> id, through ftrack. */
static int resolve_location(struct ctl *c, const char *arg, char *out, size_t len)
{
	struct ftrack_location *v = NULL;
	size_t n = 0;
	int r = -ENOENT;

	if (ftrack_is_uuid(arg)) {
		snprintf(out, len, "%s", arg);
		return 0;
	}
	if (!c->ftrack)
		return -ENOTCONN;
	r = ftrack_list_locations(c->ftrack, &v, &n);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < n; i++)
		if (v[i].name && !strcmp(v[i].name, arg)) {
			snprintf(out, len, "%s", v[i].id);
			r = 0;
		}
	ftrack_location_array_free(v, n);
	return r;
}

static int cmd_enqueue(struct ctl *c, int argc, char **argv)
{
	const char *to = NULL;
	char lid[CACHE_ID_MAX + 1];
	struct send_component *comps = NULL;
	size_t nc = 0;
	int i, r, added = 0;

	for (i = 0; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--to") && i + 1 < argc)
			to = argv[++i];
		else
			return 2;
	}
	if (!to || i >= argc)
		return 2;
	r = resolve_location(c, to, lid, sizeof(lid));
	if (r < 0) {
		fprintf(stderr, "location %s: %s\n", to, strerror(-r));
		return 1;
	}
	/* sizes, for progress; a failure here only loses the numbers */
	if (c->ftrack &&
	    send_remote_default.components(&c->svc, (const char *const *)argv + i, (size_t)(argc - i),
					   &comps, &nc) < 0)
		nc = 0;
	for (; i < argc; i++) {
		uint64_t size = 0;

		for (size_t k = 0; k < nc; k++)
			if (!strcmp(comps[k].id, argv[i]) && comps[k].size > 0)
				size = (uint64_t)comps[k].size;
		r = send_enqueue(c->send, argv[i], lid, NULL, size);
		if (r < 0) {
			fprintf(stderr, "enqueue %s: %s\n", argv[i], strerror(-r));
			send_component_array_free(comps, nc);
			return 1;
		}
		added += r;
	}
	send_component_array_free(comps, nc);
	printf("{\"added\": %d}\n", added);
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmd_run(struct ctl *c, int argc, char **argv)
{
	bool until_idle = false, flush = false;
	double timeout = 60;
	int64_t end;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--until-idle"))
			until_idle = true;
		else if (!strcmp(argv[i], "--flush"))
			flush = true;
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout = strtod(argv[++i], NULL);
		else
			return 2;
	}
	end = mono_ms() + (int64_t)(timeout * 1000);
	for (;;) {
		send_step(c->send, flush, 0);
		if (until_idle && send_is_idle(c->send))
			return 0;
		if (mono_ms() >= end)
			return until_idle ? 3 : 0;
		usleep(50 * 1000);
	}
}

static int cmd_retry(struct ctl *c, int argc, char **argv)
{
	const char *to = NULL, *comp = NULL;
	char lid[CACHE_ID_MAX + 1];
	int r;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--to") && i + 1 < argc)
			to = argv[++i];
		else if (argv[i][0] != '-' && !comp)
			comp = argv[i];
		else
			return 2;
	}
	if (to) {
		r = resolve_location(c, to, lid, sizeof(lid));
		if (r < 0) {
			fprintf(stderr, "location %s: %s\n", to, strerror(-r));
			return 1;
		}
	}
	r = send_retry(c->send, comp, to ? lid : NULL);
	if (r < 0) {
		fprintf(stderr, "retry: %s\n", strerror(-r));
		return 1;
	}
	printf("{\"retried\": %d}\n", r);
	return 0;
}

static int cmd_status(struct ctl *c)
{
	struct cache_outbox *v = NULL;
	struct cache_job *jobs = NULL;
	struct send_stats st;
	int n, nj;

	n = cache_outbox_list(c->cache, 0, &v);
	nj = cache_job_list(c->cache, &jobs);
	if (n < 0 || nj < 0 || send_stats(c->send, &st) < 0) {
		free(v);
		free(jobs);
		return 1;
	}
	printf("{\"intents\": [");
	for (int i = 0; i < n; i++) {
		struct cache_compstate cs;
		int r = cache_compstate_get(c->cache, v[i].component_id, v[i].dst_location_id, &cs);

		printf("%s\n {\"id\": %llu, \"state\": \"%s\", \"component\": ", i ? "," : "",
		       (unsigned long long)v[i].id, outbox_state(v[i].state));
		json_str(stdout, v[i].component_id);
		printf(", \"destination\": ");
		json_str(stdout, v[i].dst_location_id);
		printf(", \"source\": ");
		json_str(stdout, v[i].src_location_id);
		printf(", \"token\": ");
		json_str(stdout, v[i].client_token);
		printf(", \"job\": ");
		json_str(stdout, v[i].job_id);
		printf(", \"reason\": ");
		json_str(stdout, v[i].reason);
		if (r == 1) {
			printf(", \"view\": {\"state\": \"%s\", \"bytes_done\": %llu, \"bytes_total\": %llu, "
			       "\"resource_identifier\": ", loc_state(cs.state),
			       (unsigned long long)cs.bytes_done, (unsigned long long)cs.bytes_total);
			json_str(stdout, cs.resource_identifier);
			printf(", \"reason\": ");
			json_str(stdout, cs.reason);
			printf("}");
		}
		printf("}");
	}
	printf("],\n\"jobs\": [");
	for (int i = 0; i < nj; i++) {
		printf("%s\n {\"id\": ", i ? "," : "");
		json_str(stdout, jobs[i].job_id);
		printf(", \"name\": ");
		json_str(stdout, jobs[i].name);
		printf(", \"status\": ");
		json_str(stdout, jobs[i].status);
		printf(", \"progress\": %u, \"ftrack_job\": ", jobs[i].progress);
		json_str(stdout, jobs[i].ftrack_job_id);
		printf(", \"token\": ");
		json_str(stdout, jobs[i].client_token);
		printf(", \"reason\": ");
		json_str(stdout, jobs[i].reason);
		printf("}");
	}
	printf("],\n\"stats\": {\"collecting\": %u, \"ready\": %u, \"submitting\": %u, "
	       "\"submitted\": %u, \"done\": %u, \"failed\": %u, \"blocked\": %s, \"blocked_reason\": ",
	       st.n_collecting, st.n_ready, st.n_submitting, st.n_submitted, st.n_done, st.n_failed,
	       st.is_blocked ? "true" : "false");
	json_str(stdout, st.blocked_reason);
	printf(", \"last_error\": ");
	json_str(stdout, st.last_error);
	printf("}}\n");
	free(v);
	free(jobs);
	return 0;
}

static int open_services(struct ctl *c)
{
	struct ftrack_config fc;
	struct accsyn_config ac;
	int r;

	memset(&fc, 0, sizeof(fc));
	fc.server_url = c->cfg->ftrack_server;
	fc.api_user = c->cfg->ftrack_user;
	fc.api_key = c->cfg->ftrack_key;
	fc.transport.connect_timeout_ms = 3000;
	fc.transport.timeout_ms = 30000;
	fc.transport.max_retries = 1;
	if (fc.server_url && fc.api_user && fc.api_key) {
		r = ftrack_new(&fc, &c->ftrack);
		if (r < 0)
			return r;
	}
	memset(&ac, 0, sizeof(ac));
	if (accsyn_config_from_env(&ac) == 0) {
		ac.transport.connect_timeout_ms = 3000;
		ac.transport.timeout_ms = 30000;
		ac.transport.max_retries = 1;
		r = accsyn_new(&ac, &c->accsyn);
		if (r < 0)
			return r;
	}
	c->svc.ftrack = c->ftrack;
	c->svc.accsyn = c->accsyn;
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl c = { 0 };
	struct send_options so;
	const char *cache_dir = NULL, *config = NULL;
	unsigned quiet = 0, poll = 0, backoff_max = 0;
	char *prio = NULL;
	int i, r, rc = 1;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (i + 1 >= argc) {
			usage();
			return 2;
		}
		if (!strcmp(a, "--cache"))
			cache_dir = argv[++i];
		else if (!strcmp(a, "--config"))
			config = argv[++i];
		else if (!strcmp(a, "--quiet-ms"))
			quiet = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--poll-ms"))
			poll = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--backoff-max-ms"))
			backoff_max = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--priority"))
			prio = argv[++i];
		else {
			usage();
			return 2;
		}
	}
	if (!cache_dir || i >= argc) {
		usage();
		return 2;
	}
	if (getenv("FTRACKFS_LOG_LEVEL")) {
		enum log_level lv;

		if (log_level_from_string(getenv("FTRACKFS_LOG_LEVEL"), &lv) == 0)
			log_set_level(lv);
	}
	for (char *p = prio, *save = NULL, *tok; p && c.n_priority < 32; p = NULL) {
		while ((tok = strtok_r(p, ",", &save)) && c.n_priority < 32) {
			c.priority[c.n_priority++] = tok;
			p = NULL;
		}
		break;
	}
	r = config_load(config, &c.cfg);
	if (r < 0) {
		fprintf(stderr, "config: %s\n", strerror(-r));
		return 1;
	}
	r = remote_global_init();
	if (r < 0)
		goto out;
	r = cache_open(cache_dir, c.cfg->ftrack_server ? c.cfg->ftrack_server : "offline",
		       c.cfg->ftrack_user ? c.cfg->ftrack_user : "nobody", NULL, &c.cache);
	if (r < 0) {
		fprintf(stderr, "cache %s: %s\n", cache_dir, strerror(-r));
		goto out;
	}
	r = open_services(&c);
	if (r < 0) {
		fprintf(stderr, "services: %s\n", strerror(-r));
		goto out;
	}
	memset(&so, 0, sizeof(so));
	so.cfg = c.cfg;
	so.cache = c.cache;
	so.remote_ud = &c.svc;
	so.quiet_ms = quiet;
	so.poll_ms = poll;
	so.backoff_max_ms = backoff_max;
	so.priority = c.priority;
	so.n_priority = c.n_priority;
	r = send_new(&so, &c.send);
	if (r < 0)
		goto out;

	if (!strcmp(argv[i], "enqueue"))
		rc = cmd_enqueue(&c, argc - i - 1, argv + i + 1);
	else if (!strcmp(argv[i], "run"))
		rc = cmd_run(&c, argc - i - 1, argv + i + 1);
	else if (!strcmp(argv[i], "retry"))
		rc = cmd_retry(&c, argc - i - 1, argv + i + 1);
	else if (!strcmp(argv[i], "status"))
		rc = cmd_status(&c);
	else
		rc = 2;
	if (rc == 2)
		usage();
out:
	send_free(c.send);
	accsyn_free(c.accsyn);
	ftrack_free(c.ftrack);
	cache_close(c.cache);
	remote_thread_cleanup();
	remote_global_cleanup();
	config_free(c.cfg);
	return rc;
}
