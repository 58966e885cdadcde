/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - the ftrackfs command:
 *
 *   ftrackfs [-f] [-d] [-s] [-o OPT[,OPT...]] [--config FILE] [--log FILE] MOUNTPOINT
 *   ftrackfs status [MOUNTPOINT]
 *
 * Credentials come only from the environment (config.h); no option takes
 * a key. "-o noxattr" leaves the xattr operations out; other -o options go
 * to libfuse (default_permissions is always on).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "fs.h"
#include "loop.h"
#include "memtrim.h"
#include "ops.h"
#include "passthrough.h"
#include "storage.h"
#include "sync.h"
#include "send/send.h"
#include "send/sendcli.h"
#include "send/sendfs.h"
#include "send/sendops.h"
#include "ftrackfs/accsyn.h"
#include "ftrackfs/cache.h"
#include "ftrackfs/config.h"
#include "ftrackfs/ftrack.h"
#include "ftrackfs/log.h"
#include "ftrackfs/remote.h"

#define MOD "main"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ftrackfs [options] MOUNTPOINT\n"
		"       ftrackfs status [--watch] [MOUNTPOINT]\n"
		"       ftrackfs send PATH... --to LOCATION\n"
		"       ftrackfs retry [PATH...]\n"
		"\n"
		"Mounts ftrack production data as directories.\n"
		"\n"
		"options:\n"
		"  -f                 stay in the foreground\n"
		"  -d                 foreground with FUSE debug output\n"
		"  -s                 single-threaded\n"
		"  -o OPT[,OPT...]    FUSE mount options; also: noxattr\n"
		"  --config FILE      config file (default $XDG_CONFIG_HOME/ftrackfs/config)\n"
		"  --log FILE         append log lines to FILE (default: stderr)\n"
		"  -h, --help         this text\n"
		"  -V, --version      version\n"
		"\n"
		"Credentials are read from the environment only: FTRACK_SERVER,\n"
		"FTRACK_API_USER, FTRACK_API_KEY, ACCSYN_WORKSPACE (or ACCSYN_DOMAIN),\n"
		"ACCSYN_API_USER, ACCSYN_API_KEY. The config file's [send] priority = la, hq\n"
		"orders the locations a send takes its files from, after this machine's own.\n");
}

/* ---- status subcommand ---- */

static int find_mount(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char dev[512], mp[4096], type[128];
	int found = 0;

	if (!f)
		return 0;
	while (fscanf(f, "%511s %4095s %127s %*s %*d %*d", dev, mp, type) == 3) {
		if (!strcmp(type, "fuse.ftrackfs") || !strcmp(dev, "ftrackfs")) {
			snprintf(buf, len, "%s", mp);
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static int cmd_status(const char *mp)
{
	char def[4096], path[4200], line[1024];
	struct stat st;
	FILE *f;

	if (!mp) {
		if (!find_mount(def, sizeof(def))) {
			fprintf(stderr, "ftrackfs: no ftrackfs mount found (give the mount point)\n");
			return 1;
		}
		mp = def;
	}
	if (stat(mp, &st) < 0) {
		int err = errno;

		if (err == ENOTCONN || err == ECONNABORTED) {
			fprintf(stderr,
				"ftrackfs: %s is a dead mount: the ftrackfs daemon is gone (%s).\n"
				"Unmount it with 'fusermount3 -u %s' (or -uz if busy), then mount again.\n",
				mp, strerror(err), mp);
			return 2;
		}
		fprintf(stderr, "ftrackfs: %s: %s\n", mp, strerror(err));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/.ftrackfs/status", mp);
	f = fopen(path, "re");
	if (!f) {
		int err = errno;

		if (err == ENOTCONN || err == ECONNABORTED)
			fprintf(stderr, "ftrackfs: %s is a dead mount: the daemon is gone. "
				"Unmount it with 'fusermount3 -u %s'.\n", mp, mp);
		else
			fprintf(stderr, "ftrackfs: %s is not an ftrackfs mount (%s)\n", mp, strerror(err));
		return err == ENOTCONN || err == ECONNABORTED ? 2 : 1;
	}
	while (fgets(line, sizeof(line), f))
		fputs(line, stdout);
	fclose(f);
	return 0;
}

/* ---- log to a file ---- */

static FILE *log_file;

static void file_sink(enum log_level level, const char *module, const char *line, void *ud)
{
	static const char *const lv[] = { "error", "warn", "info", "debug" };
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;

	(void)ud;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(log_file, "%s %s %s: %s\n", ts, lv[level <= 3 ? level : 3], module, line);
	fflush(log_file);
}

/* ---- mount ---- */

struct cli {
	const char *config;
	const char *log;
	bool noxattr;
	struct fuse_args args;
};

/* Remove "noxattr" from a comma list; returns the rest (malloc'ed) or NULL if empty. */
static char *strip_noxattr(const char *opts, bool *noxattr)
{
	char *out = calloc(1, strlen(opts) + 1);
	const char *p = opts;
	size_t o = 0;

	if (!out)
		return NULL;
	while (*p) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);

		if (n == 7 && !strncmp(p, "noxattr", 7)) {
			*noxattr = true;
		} else if (n) {
			if (o)
				out[o++] = ',';
			memcpy(out + o, p, n);	/* fits: out is as long as opts */
			o += n;
		}
		p += n + (c ? 1 : 0);
	}
	out[o] = '\0';
	return out;
}

static int parse_cli(int argc, char **argv, struct cli *cli)
{
	cli->args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	if (fuse_opt_add_arg(&cli->args, argv[0]) < 0)
		return -ENOMEM;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--config") || !strcmp(a, "--log")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "ftrackfs: %s needs a file\n", a);
				return -EINVAL;
			}
			if (!strcmp(a, "--config"))
				cli->config = argv[++i];
			else
				cli->log = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			cli->config = a + 9;
		} else if (!strncmp(a, "--log=", 6)) {
			cli->log = a + 6;
		} else if (!strcmp(a, "-o") || (!strncmp(a, "-o", 2) && a[2])) {
			const char *o = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
			char *rest;

			if (!o) {
				fprintf(stderr, "ftrackfs: -o needs options\n");
				return -EINVAL;
			}
			rest = strip_noxattr(o, &cli->noxattr);
			if (!rest)
				return -ENOMEM;
			if (*rest && (fuse_opt_add_arg(&cli->args, "-o") < 0 ||
				      fuse_opt_add_arg(&cli->args, rest) < 0)) {
				free(rest);
				return -ENOMEM;
			}
			free(rest);
		} else {
			if (fuse_opt_add_arg(&cli->args, a) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* The accsyn client, when its credentials are set (sends wait otherwise). */
static void make_accsyn(struct fs *fs)
{
	struct accsyn_config ac;
	int r;

	memset(&ac, 0, sizeof(ac));
	if (accsyn_config_from_env(&ac) < 0) {
		log_warn(MOD, "ACCSYN_WORKSPACE, ACCSYN_API_USER and ACCSYN_API_KEY are not all set: "
			 "copies into locations/ will wait");
		return;
	}
	ac.transport.connect_timeout_ms = 3000;
	ac.transport.timeout_ms = 60000;
	ac.transport.max_retries = 2;
	r = accsyn_new(&ac, &fs->accsyn);
	if (r < 0)
		log_error(MOD, "cannot use the accsyn settings: %s", strerror(-r));
}

static void view_applied(struct fs *fs, const char *loc_id)
{
	if (fs->sendfs)
		sendfs_restore_view(fs->sendfs, loc_id);
}

static void job_changed(void *ud, const char *job_id)
{
	struct fs *fs = ud;

	if (fs->sendfs)
		sendfs_job_changed(fs->sendfs, job_id);
}

static int render_job(struct fs *fs, const struct cache_entry *e, char **ret_buf)
{
	return fs->sendfs ? sendfs_render_job(fs->sendfs, e, ret_buf) : -ENOENT;
}

static int render_sends(struct fs *fs, bool json, char **ret_buf)
{
	return fs->send ? send_status_render(fs->send, json, ret_buf) : -ENOENT;
}

/* The send engine and the location-folder glue; sends need ftrack. */
static int start_send(struct fs *fs, struct send_services *svc)
{
	struct send_options so;
	int r;

	memset(&so, 0, sizeof(so));
	/* Sources after this machine's local locations: [send] priority. */
	so.n_priority = fs->cfg->n_source_priority;
	so.priority = (const char *const *)fs->cfg->source_priority;
	svc->ftrack = fs->ftrack;
	svc->accsyn = fs->accsyn;
	so.cfg = fs->cfg;
	so.cache = fs->cache;
	so.remote_ud = svc;
	so.on_job = job_changed;
	so.on_change_ud = fs;
	r = send_new(&so, &fs->send);
	if (r < 0)
		return r;
	r = sendfs_new(fs, fs->send, &fs->sendfs);
	if (r < 0)
		return r;
	fs->view_applied = view_applied;
	fs->render_job = render_job;
	fs->render_sends = render_sends;
	r = sendfs_jobs_init(fs->sendfs);
	if (r < 0)
		log_warn(MOD, "cannot list jobs under .ftrackfs/jobs: %s", strerror(-r));
	sendops_attach(fs->sendfs);
	return fs->ftrack ? send_start(fs->send) : 0;
}

static int make_ftrack(struct fs *fs)
{
	struct ftrack_config fc;
	int r;

	memset(&fc, 0, sizeof(fc));
	fc.server_url = fs->cfg->ftrack_server;
	fc.api_user = fs->cfg->ftrack_user;
	fc.api_key = fs->cfg->ftrack_key;
	fc.transport.connect_timeout_ms = 3000;
	fc.transport.timeout_ms = 60000;
	fc.transport.max_retries = 2;
	if (!fc.api_key) {
		fs_status_set_error(fs, FS_CONN_OFFLINE,
				    "FTRACK_API_KEY is not set in the environment; serving the cache only");
		return 0;
	}
	r = ftrack_new(&fc, &fs->ftrack);
	if (r < 0)
		fs_status_set_error(fs, FS_CONN_OFFLINE, "cannot use FTRACK_SERVER %s: %s",
				    fc.server_url, strerror(-r));
	return 0;
}

/* Reads the cache file into the page cache once, beside the first requests. */
struct prefetch {
	struct cache *cache;
	bool stop;		/* __atomic */
	bool started;
	pthread_t thread;
};

static void *prefetch_main(void *arg)
{
	struct prefetch *p = arg;
	int64_t n = cache_prefetch(p->cache, &p->stop);

	if (n < 0)
		log_debug(MOD, "prefetching the cache: %s", strerror((int)-n));
	else if (n > 0)
		log_debug(MOD, "prefetched %lld bytes of the cache", (long long)n);
	return NULL;
}

static void prefetch_start(struct prefetch *p, struct cache *c)
{
	sigset_t all, old;

	p->cache = c;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	p->started = pthread_create(&p->thread, NULL, prefetch_main, p) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void prefetch_stop(struct prefetch *p)
{
	if (!p->started)
		return;
	__atomic_store_n(&p->stop, true, __ATOMIC_RELAXED);
	pthread_join(p->thread, NULL);
	p->started = false;
}

int main(int argc, char **argv)
{
	struct fuse_cmdline_opts opts;
	struct memtrim *memtrim = NULL;
	struct prefetch prefetch = { 0 };
	struct fuse_lowlevel_ops ops;
	struct cli cli;
	struct fs fs;
	struct send_services svc;
	int r, ret = 1;
	bool mounted = false, sig = false;

	if (argc >= 2 && !strcmp(argv[1], "status")) {
		bool watch = argc >= 3 && (!strcmp(argv[2], "--watch") || !strcmp(argv[2], "-w"));
		const char *mp = argc >= 3 + watch ? argv[2 + watch] : NULL;

		if (!watch)
			return cmd_status(mp);
		/* a live display: redraw every second until interrupted */
		for (;;) {
			fputs("\033[H\033[2J", stdout);
			r = cmd_status(mp);
			fflush(stdout);
			if (r != 0)
				return r;
			sleep(1);
		}
	}
	r = sendcli_main(argc, argv);
	if (r >= 0)
		return r;

	memset(&fs, 0, sizeof(fs));
	memset(&cli, 0, sizeof(cli));
	memset(&opts, 0, sizeof(opts));
	fs_status_init(&fs.status);

	/* big READ replies must not mmap/munmap per request (FUSE-NOTES §2.6) */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	/*
	 * Replies are spliced, not malloc'ed; 1 MiB (glibc's dynamic default
	 * grows it to 32 MiB) returns a fetch's freed rows to the system
	 * instead of keeping them: peak RSS 60 -> 51 MiB with 100,000 versions.
	 */
	mallopt(M_TRIM_THRESHOLD, 1 << 20);
	/* a dozen FUSE and sync threads: per-thread arenas only strand RSS */
	mallopt(M_ARENA_MAX, 2);

	if (parse_cli(argc, argv, &cli) < 0)
		goto out;
	if (fuse_parse_cmdline(&cli.args, &opts) != 0)
		goto out;
	if (opts.show_help) {
		usage(stdout);
		ret = 0;
		goto out;
	}
	if (opts.show_version) {
		printf("ftrackfs 0.1.0, FUSE library %s\n", fuse_pkgversion());
		ret = 0;
		goto out;
	}
	if (!opts.mountpoint) {
		usage(stderr);
		goto out;
	}
	if (cli.log) {
		log_file = fopen(cli.log, "ae");
		if (!log_file) {
			fprintf(stderr, "ftrackfs: cannot open log %s: %s\n", cli.log, strerror(errno));
			goto out;
		}
		log_set_sink(file_sink, NULL);
	}
	r = config_load(cli.config, &fs.cfg);
	if (r < 0) {
		fprintf(stderr, "ftrackfs: cannot load the configuration: %s\n", strerror(-r));
		goto out;
	}
	if (fs.cfg->log_level) {
		enum log_level lv;

		if (log_level_from_string(fs.cfg->log_level, &lv) == 0)
			log_set_level(lv);
	}
	/* the cache is per (server, user): without them there is nothing to show */
	if (!fs.cfg->ftrack_server || !fs.cfg->ftrack_user) {
		fprintf(stderr, "ftrackfs: set FTRACK_SERVER and FTRACK_API_USER (and FTRACK_API_KEY) "
			"in the environment\n");
		goto out;
	}
	if (!realpath(opts.mountpoint, fs.mountpoint)) {
		fprintf(stderr, "ftrackfs: %s: %s\n", opts.mountpoint, strerror(errno));
		goto out;
	}
	fs.noxattr = cli.noxattr;
	fs.uid = getuid();
	fs.gid = getgid();
	fs.entry_timeout = 3600.0;

	/* always enforce permissions: projects/ has no write bits */
	if (fuse_opt_add_arg(&cli.args, "-odefault_permissions,fsname=ftrackfs,subtype=ftrackfs") < 0)
		goto out;
	fs_ops_fill(&ops, fs.noxattr);
	sendops_fill(&ops);
	fs.se = fuse_session_new(&cli.args, &ops, sizeof(ops), &fs);
	if (!fs.se)
		goto out;
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out;
	sig = true;
	if (fuse_session_mount(fs.se, fs.mountpoint) != 0)
		goto out;
	mounted = true;
	fs_pt_setup(fs.se, fs.cfg->passthrough);	/* falls back to spliced reads */
	if (fuse_daemonize(opts.foreground) != 0)
		goto out;

	/* after daemonize: LMDB and curl must not cross a fork */
	r = remote_global_init();
	if (r < 0) {
		log_error(MOD, "cannot initialise HTTP: %s", strerror(-r));
		goto out;
	}
	r = cache_open(fs.cfg->cache_dir_set ? fs.cfg->cache_dir : NULL, fs.cfg->ftrack_server,
		       fs.cfg->ftrack_user, NULL, &fs.cache);
	if (r < 0) {
		log_error(MOD, "cannot open the cache: %s", strerror(-r));
		goto out;
	}
	prefetch_start(&prefetch, fs.cache);
	/*
	 * LMDB map pages the daemon touched go back to the page cache: as the
	 * cache works (that bounds the peak) and, when idle, from the
	 * trimmer's timer. rss_budget_mib = 0 keeps them mapped.
	 */
	if (fs.cfg->rss_budget_mib) {
		size_t budget = (size_t)fs.cfg->rss_budget_mib << 20;

		cache_set_map_budget(fs.cache, budget);
		r = memtrim_start(fs.cache, budget, &memtrim);
		if (r < 0)
			log_warn(MOD, "cannot start the map trimmer: %s", strerror(-r));
	}
	r = storage_open(fs.cfg, &fs.storage);
	if (r < 0)
		goto out;
	make_ftrack(&fs);
	make_accsyn(&fs);
	r = sync_start(&fs, &fs.sync);
	if (r < 0)
		goto out;
	r = start_send(&fs, &svc);
	if (r < 0) {
		log_error(MOD, "cannot start the send engine: %s", strerror(-r));
		goto out;
	}
	log_info(MOD, "mounted on %s (ttl %us, first fetch timeout %us%s)", fs.mountpoint,
		 fs.cfg->ttl_s, fs.cfg->first_fetch_timeout_s, fs.noxattr ? ", no xattrs" : "");

	if (opts.singlethread) {
		ret = fuse_session_loop(fs.se);
	} else {
		struct fs_loop_cfg lcfg = {
			.max_threads = opts.max_threads ? opts.max_threads : 10,
			.spin_us = fs.cfg->spin_us,
			.colocate = fs.cfg->colocate,
		};

		ret = fs_loop_run(fs.se, &lcfg);
		if (ret < 0)
			log_error(MOD, "reading the FUSE device: %s", strerror(-ret));
	}
	/* a signal (SIGINT, SIGTERM, SIGHUP) is a requested, clean unmount */
	ret = ret == 0 || ret == SIGINT || ret == SIGTERM || ret == SIGHUP ? 0 : 1;
	log_info(MOD, "unmounting %s", fs.mountpoint);
out:
	send_stop(fs.send);		/* the outbox keeps whatever is pending */
	if (fs.sync) {
		/* stop notifications before the session goes away */
		sync_stop(fs.sync);
		fs.sync = NULL;
	}
	if (mounted)
		fuse_session_unmount(fs.se);
	if (sig)
		fuse_remove_signal_handlers(fs.se);
	if (fs.se)
		fuse_session_destroy(fs.se);
	fs_ops_cleanup();
	sendops_attach(NULL);
	sendfs_free(fs.sendfs);
	send_free(fs.send);
	storage_close(fs.storage);
	memtrim_stop(memtrim);
	prefetch_stop(&prefetch);
	cache_close(fs.cache);
	accsyn_free(fs.accsyn);
	ftrack_free(fs.ftrack);
	remote_global_cleanup();
	config_free(fs.cfg);
	free(opts.mountpoint);
	fuse_opt_free_args(&cli.args);
	if (log_file) {
		log_set_sink(NULL, NULL);
		fclose(log_file);
	}
	return ret;
}
