/* SPDX-License-Identifier: Apache-2.0 */
/*
 * decode-bench - time the ftrack client's decoding of one query reply: the
 * validated parse (UTF-8 + depth pre-scan, cJSON), the identity map, and the
 * typed decoding of every row into struct ftrack_version (strings copied),
 * as ftrack_list_versions() does. Also the parse alone, for comparison with
 * Python's json.loads of the same bytes (scripts/bench/decode.sh).
 *
 *   decode-bench REPLY.json [ITERATIONS]
 * Prints one JSON line: entities; best and median seconds of the full decode
 * (until the structs are ready), of its teardown (reply tree + identity map
 * freed; the structs are the caller's), and of both together (the cost a
 * caller actually pays; entities_per_s is over this); parse-only seconds;
 * peak RSS (KiB) before and after.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ftrack_i.h"
#include "graph_i.h"
#include "json_i.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

struct out {
	struct ftrack_version *v;
	size_t n, cap;
};

static int row(const struct ftrack_entity *e, void *ud)
{
	struct out *o = ud;
	int r;

	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 1024;
		struct ftrack_version *v = realloc(o->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		o->v = v;
		o->cap = cap;
	}
	r = ftrack_decode_version(e, &o->v[o->n]);
	if (r < 0)
		return r;
	o->n++;
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int iters = argc > 2 ? atoi(argv[2]) : 5;
	double *t, *tp, *td, *tt, best, median;
	long rss_before;
	size_t len, entities = 0;
	char *buf;
	FILE *f;

	if (argc < 2 || iters < 1) {
		fprintf(stderr, "usage: decode-bench REPLY.json [ITERATIONS]\n");
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(len);
	if (!buf || fread(buf, 1, len, f) != len) {
		fprintf(stderr, "read failed\n");
		return 1;
	}
	fclose(f);
	rss_before = maxrss_kib();
	t = calloc((size_t)iters, sizeof(*t));
	tp = calloc((size_t)iters, sizeof(*tp));
	td = calloc((size_t)iters, sizeof(*td));
	tt = calloc((size_t)iters, sizeof(*tt));
	for (int i = 0; i < iters; i++) {
		struct out o = { 0 };
		struct json_doc *doc = NULL;
		cJSON *root = NULL;
		struct graph g = { 0 };
		double t0 = now();
		int r;

		/* the full decode, as the client does it */
		r = ftrack_decode_reply(buf, len, 200, 1, &doc, NULL, 0);
		if (r == 0) {
			root = json_doc_root(doc);
			r = graph_build(&g, root);
		}
		if (r == 0)
			r = ftrack_rows_of_result(cJSON_GetArrayItem(root, 0), &g, row, &o, NULL);
		/* the structs are ready: what a caller waits for */
		t[i] = now() - t0;
		t0 = now();
		graph_release(&g);
		json_doc_free(doc);
		td[i] = now() - t0;
		tt[i] = t[i] + td[i];
		if (r < 0) {
			fprintf(stderr, "decode failed: %s\n", strerror(-r));
			return 1;
		}
		entities = o.n;
		ftrack_version_array_free(o.v, o.n);

		/* the parse alone, like json.loads (which also keeps its tree) */
		t0 = now();
		r = json_doc_parse(buf, len, &doc);
		tp[i] = now() - t0;
		json_doc_free(doc);
		if (r < 0)
			return 1;
	}
	qsort(t, (size_t)iters, sizeof(*t), cmp);
	qsort(tp, (size_t)iters, sizeof(*tp), cmp);
	qsort(td, (size_t)iters, sizeof(*td), cmp);
	qsort(tt, (size_t)iters, sizeof(*tt), cmp);
	best = tt[0];
	median = tt[iters / 2];
	printf("{\"entities\":%zu,\"bytes\":%zu,\"iterations\":%d,"
	       "\"decode_best_s\":%.6f,\"decode_median_s\":%.6f,\"teardown_median_s\":%.6f,"
	       "\"best_s\":%.6f,\"median_s\":%.6f,\"entities_per_s\":%.0f,"
	       "\"parse_best_s\":%.6f,\"parse_median_s\":%.6f,"
	       "\"rss_before_kib\":%ld,\"peak_rss_kib\":%ld}\n",
	       entities, len, iters, t[0], t[iters / 2], td[iters / 2], best, median,
	       (double)entities / median, tp[0], tp[iters / 2], rss_before, maxrss_kib());
	free(tt);
	free(t);
	free(tp);
	free(td);
	free(buf);
	return 0;
}
