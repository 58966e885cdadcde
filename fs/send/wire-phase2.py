"""Apply the phase-2 wiring of fs/send to the fs engineer's files in ROOT."""
import sys
root = sys.argv[1]

def edit(p, pairs):
    p = root + "/" + p
    s = open(p).read()
    for a, b in pairs:
        if b in s and a not in s:
            continue  # already applied
        assert s.count(a) == 1, (p, a[:80], s.count(a))
        s = s.replace(a, b)
    open(p, 'w').write(s)

# ---- fs.h
edit('fs/fs.h', [("""struct sync;
""", """struct sync;
struct send;
struct sendfs;
struct accsyn;
"""), ("""	struct sync *sync;
""", """	struct sync *sync;
	struct accsyn *accsyn;		/* NULL when accsyn credentials are missing */
	struct send *send;		/* the send engine (fs/send) */
	struct sendfs *sendfs;		/* location-folder writes (fs/send) */
	/* called by the sync worker after it rebuilt location @loc_id's view */
	void (*view_applied)(struct fs *fs, const char *loc_id);
	/* the text of .ftrackfs/jobs/<id>.json and the sends part of status */
	int (*render_job)(struct fs *fs, const struct cache_entry *e, char **ret_buf);
	int (*render_sends)(struct fs *fs, bool json, char **ret_buf);
""")])

# ---- meson: the exe after subdir('send'), linking send_lib
p = root + '/fs/meson.build'
s = open(p).read()
if "link_with: [send_lib, fs_lib]" not in s:
    i = s.index("ftrackfs_exe = executable(")
    j = s.index("install: true)", i) + len("install: true)\n")
    exe = s[i:j]
    s = s[:i] + s[j:]
    s = s.rstrip("\n") + "\n"
    assert "subdir('send')" in s
    s = s.replace("subdir('send')\n", "subdir('send')\n\n" + exe.replace("link_with: fs_lib,", "link_with: [send_lib, fs_lib],"))
    open(p, 'w').write(s)

# ---- ops.c
edit('fs/ops.c', [
('''	if (a->kind == CACHE_KIND_DIR) {
		st->st_mode = S_IFDIR | (a->mode & 0555);
		st->st_nlink = dir_nlink(fs, ino, a->flags);
	} else {
		st->st_mode = S_IFREG | (a->mode & 0444);
		st->st_nlink = 1;
	}''', '''	/* location views take copies (fs/send): writable */
	if (a->kind == CACHE_KIND_DIR) {
		st->st_mode = S_IFDIR | (is_view_node(a->flags) ? 0755 : a->mode & 0555);
		st->st_nlink = dir_nlink(fs, ino, a->flags);
	} else {
		st->st_mode = S_IFREG | (is_view_node(a->flags) ? 0644 : a->mode & 0444);
		st->st_nlink = 1;
	}'''),
('''static void fill_stat(struct fs *fs, uint64_t ino, const struct cache_attr *a, struct stat *st)''', '''static bool is_view_node(uint32_t node)
{
	return node >= FS_NODE_LOCATION && node <= FS_NODE_LMEMBER;
}

static void fill_stat(struct fs *fs, uint64_t ino, const struct cache_attr *a, struct stat *st)'''),
('''static bool is_generated(uint32_t node)
{
	return node == FS_NODE_STATUS || node == FS_NODE_STATUS_JSON;
}''', '''static bool is_generated(uint32_t node)
{
	return node == FS_NODE_STATUS || node == FS_NODE_STATUS_JSON || node == FS_NODE_JOB_FILE;
}'''),
('''		fh->len = (size_t)r;
		fi->direct_io = 1;
		break;
	case FS_NODE_COMPONENT:''', '''		fh->len = (size_t)r;
		fi->direct_io = 1;
		break;
	case FS_NODE_JOB_FILE:
		r = fs->render_job ? fs->render_job(fs, e, &fh->buf) : -ENOENT;
		if (r < 0) {
			err = -r;
			goto out_err;
		}
		fh->len = (size_t)r;
		fi->direct_io = 1;
		break;
	case FS_NODE_COMPONENT:'''),
('''#include "sync.h"
''', '''#include "sync.h"
#include "send/sendfs.h"
'''),
('''		else if (cs->state == CACHE_LOC_FAILED)
			r = snprintf(buf, len, "failed: %s", cs->reason);''', '''		else if (cs->state == CACHE_LOC_FAILED)
			r = snprintf(buf, len, "failed: %s", cs->reason);
		else if (cs->state == CACHE_LOC_QUEUED && cs->reason[0])
			r = snprintf(buf, len, "queued (%s)", cs->reason);	/* why it waits */'''),
])

# ---- sync.c
edit('fs/sync.c', [('''			r = apply_view(s, &d[i], &w, started);
			if (r < 0)
				d[i].result = r;''', '''			r = apply_view(s, &d[i], &w, started);
			if (r < 0)
				d[i].result = r;
			else if (s->fs->view_applied)
				s->fs->view_applied(s->fs, w.loc_id);	/* pending sends */''')])

# ---- status.c
edit('fs/status.c', [('''	if (n >= 16384)
		n = 16383;
	*ret_buf = buf;
	return n;''', '''	if (n >= 16384)
		n = 16383;
	if (fs->render_sends) {
		char *extra = NULL;
		int m = fs->render_sends(fs, json, &extra);
		size_t cap = (size_t)n + (size_t)(m > 0 ? m : 0) + 32;
		char *nb = m > 0 ? realloc(buf, cap) : NULL;

		if (nb) {
			buf = nb;
			if (json && n >= 2 && buf[n - 2] == '}')
				n = n - 2 + snprintf(buf + n - 2, cap - (size_t)n + 2,
						     ",\\n  \\"sends\\": %s\\n}\\n", extra);
			else if (!json)
				n += snprintf(buf + n, cap - (size_t)n, "%s", extra);
		}
		free(extra);
	}
	*ret_buf = buf;
	return n;''')])

# ---- main.c
edit('fs/main.c', [
('''		"ACCSYN_API_USER, ACCSYN_API_KEY.\\n");''', '''		"ACCSYN_API_USER, ACCSYN_API_KEY. FTRACKFS_SOURCE_PRIORITY=la,hq,... orders the\\n"
		"locations a send takes its files from, after this machine's own.\\n");'''),
('#include "sync.h"\n', '#include "sync.h"\n#include "send/send.h"\n#include "send/sendcli.h"\n#include "send/sendfs.h"\n#include "send/sendops.h"\n#include "ftrackfs/accsyn.h"\n'),
('''		"       ftrackfs status [MOUNTPOINT]\\n"''', '''		"       ftrackfs status [--watch] [MOUNTPOINT]\\n"
		"       ftrackfs send PATH... --to LOCATION\\n"
		"       ftrackfs retry [PATH...]\\n"'''),
('''static int make_ftrack(struct fs *fs)''', '''/* The accsyn client, when its credentials are set (sends wait otherwise). */
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

/*
 * Source preference after the local locations: FTRACKFS_SOURCE_PRIORITY,
 * location names separated by commas, best first (until the config file
 * has a key for it).
 */
static char *prio_buf;
static const char *prio[32];

static size_t source_priority(void)
{
	const char *env = getenv("FTRACKFS_SOURCE_PRIORITY");
	char *save = NULL, *tok;
	size_t n = 0;

	if (!env || !*env || !(prio_buf = strdup(env)))
		return 0;
	for (tok = strtok_r(prio_buf, ",", &save); tok && n < sizeof(prio) / sizeof(prio[0]);
	     tok = strtok_r(NULL, ",", &save))
		if (*tok)
			prio[n++] = tok;
	return n;
}

/* The send engine and the location-folder glue; sends need ftrack. */
static int start_send(struct fs *fs, struct send_services *svc)
{
	struct send_options so;
	int r;

	memset(&so, 0, sizeof(so));
	so.n_priority = source_priority();
	so.priority = prio;
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

static int make_ftrack(struct fs *fs)'''),
('''	if (argc >= 2 && !strcmp(argv[1], "status"))
		return cmd_status(argc >= 3 ? argv[2] : NULL);
''', '''	if (argc >= 2 && !strcmp(argv[1], "status")) {
		bool watch = argc >= 3 && (!strcmp(argv[2], "--watch") || !strcmp(argv[2], "-w"));
		const char *mp = argc >= 3 + watch ? argv[2 + watch] : NULL;

		if (!watch)
			return cmd_status(mp);
		/* a live display: redraw every second until interrupted */
		for (;;) {
			fputs("\\033[H\\033[2J", stdout);
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
'''),
('''	fs_ops_fill(&ops, fs.noxattr);
''', '''	fs_ops_fill(&ops, fs.noxattr);
	sendops_fill(&ops);
'''),
('''	make_ftrack(&fs);
	r = sync_start(&fs, &fs.sync);
	if (r < 0)
		goto out;
''', '''	make_ftrack(&fs);
	make_accsyn(&fs);
	r = sync_start(&fs, &fs.sync);
	if (r < 0)
		goto out;
	r = start_send(&fs, &svc);
	if (r < 0) {
		log_error(MOD, "cannot start the send engine: %s", strerror(-r));
		goto out;
	}
'''),
('''out:
	if (fs.sync) {''', '''out:
	send_stop(fs.send);		/* the outbox keeps whatever is pending */
	if (fs.sync) {'''),
('''	storage_close(fs.storage);
	cache_close(fs.cache);
	ftrack_free(fs.ftrack);''', '''	sendops_attach(NULL);
	sendfs_free(fs.sendfs);
	send_free(fs.send);
	free(prio_buf);
	storage_close(fs.storage);
	cache_close(fs.cache);
	accsyn_free(fs.accsyn);
	ftrack_free(fs.ftrack);'''),
('''	struct fs fs;
	int r, ret = 1;''', '''	struct fs fs;
	struct send_services svc;
	int r, ret = 1;'''),
])
print("phase 2 edits applied to", root)
