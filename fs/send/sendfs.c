/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sendfs.c - location folders as send targets (see sendfs.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "send.h"
#include "sendfs.h"
#include "sync.h"
#include "ftrackfs/log.h"

#define MOD "send"
#define MAX_DEPTH 32
#define PATH_BUF (CACHE_PATH_MAX + 1)

struct temp {
	uint64_t ino;
	uint64_t parent;
	char key[64];
	char loc_id[CACHE_ID_MAX + 1];
};

struct sendfs {
	struct fs *fs;
	struct send *send;
	pthread_mutex_t lock;
	struct temp *temps;
	size_t n_temps;
	uint64_t seq;
};

int sendfs_new(struct fs *fs, struct send *send, struct sendfs **ret)
{
	struct sendfs *sf = calloc(1, sizeof(*sf));

	if (!sf)
		return -ENOMEM;
	sf->fs = fs;
	sf->send = send;
	pthread_mutex_init(&sf->lock, NULL);
	*ret = sf;
	return 0;
}

void sendfs_free(struct sendfs *sf)
{
	if (!sf)
		return;
	pthread_mutex_destroy(&sf->lock);
	free(sf->temps);
	free(sf);
}

bool sendfs_is_view_node(uint32_t node)
{
	return node == FS_NODE_LOCATION || node == FS_NODE_LDIR || node == FS_NODE_LVERSION ||
	       node == FS_NODE_LCOMPONENT || node == FS_NODE_LCOMPONENT_DIR || node == FS_NODE_LMEMBER;
}

static bool is_component_node(uint32_t node)
{
	return node == FS_NODE_COMPONENT || node == FS_NODE_COMPONENT_DIR || node == FS_NODE_MEMBER ||
	       node == FS_NODE_LCOMPONENT || node == FS_NODE_LCOMPONENT_DIR || node == FS_NODE_LMEMBER;
}

/* The view node for a projects/ node. */
static uint8_t view_node(uint32_t node)
{
	switch (node) {
	case FS_NODE_VERSION: return FS_NODE_LVERSION;
	case FS_NODE_COMPONENT: return FS_NODE_LCOMPONENT;
	case FS_NODE_COMPONENT_DIR: return FS_NODE_LCOMPONENT_DIR;
	case FS_NODE_MEMBER: return FS_NODE_LMEMBER;
	default: return FS_NODE_LDIR;
	}
}

/* The projects/ key of entity @id of @type (see the kids_add() calls in sync.c). */
static void twin_key(const char *type, const char *id, char *buf, size_t len)
{
	const char *p = "c:";

	if (!strcmp(type, "Project"))
		p = "p:";
	else if (!strcmp(type, "Asset"))
		p = "a:";
	else if (!strcmp(type, "AssetVersion"))
		p = "V:";
	else if (strstr(type, "Component"))
		p = "m:";
	snprintf(buf, len, "%s%s", p, id);
}

static uint32_t node_of(const struct cache_entry *e)
{
	struct fs_blob b;

	fs_blob_get(e, &b);
	return b.node ? b.node : e->attr.flags;
}

int sendfs_view_of(struct sendfs *sf, uint64_t ino, struct cache_entry *ret_entry, char *loc_id)
{
	struct cache_entry *e = malloc(sizeof(*e));
	struct fs_blob b;
	int r;

	if (!e)
		return -ENOMEM;
	r = cache_get(sf->fs->cache, ino, e);
	if (r != 1)
		goto out;
	fs_blob_get(e, &b);
	r = 0;
	if (b.node == FS_NODE_LOCATION) {
		snprintf(loc_id, CACHE_ID_MAX + 1, "%s", e->ftrack_id);
		r = 1;
	} else if (sendfs_is_view_node(b.node) && b.loc_id[0]) {
		snprintf(loc_id, CACHE_ID_MAX + 1, "%s", b.loc_id);
		r = 1;
	}
	if (r == 1 && ret_entry)
		*ret_entry = *e;
out:
	free(e);
	return r;
}

static int view_path(struct sendfs *sf, uint64_t ino, char *out, size_t len);

/*
 * The projects/ directory that view directory @e mirrors: by key when
 * projects/ has been listed that far, else by walking projects/ with the
 * view's names (the trees are named alike), listing each level as needed.
 */
static int twin_dir(struct sendfs *sf, const struct cache_entry *e, uint64_t *ret)
{
	char key[CACHE_KEY_MAX + 1];
	char *path, *save = NULL, *part;
	struct cache_entry *c;
	uint64_t dir;
	int r;

	if (cache_ino_lookup(sf->fs->cache, "v:projects", &dir) != 1)
		return -ENOENT;
	if (node_of(e) == FS_NODE_LOCATION) {
		*ret = dir;
		return 0;
	}
	twin_key(e->type, e->ftrack_id, key, sizeof(key));
	if (cache_ino_lookup(sf->fs->cache, key, ret) == 1)
		return 0;
	path = malloc(PATH_BUF);
	c = malloc(sizeof(*c));
	r = path && c ? view_path(sf, e->ino, path, PATH_BUF) : -ENOMEM;
	for (part = r == 0 ? strtok_r(path, "/", &save) : NULL; part && r == 0;
	     part = strtok_r(NULL, "/", &save)) {
		if (sf->fs->sync)
			r = sync_ensure_dir(sf->fs->sync, dir);
		if (r == 0)
			r = cache_lookup_entry(sf->fs->cache, dir, part, c) == 1 ? 0 : -EINVAL;
		if (r == 0)
			dir = c->ino;
	}
	free(path);
	free(c);
	if (r == 0)
		*ret = dir;
	return r;
}

/* The twin of @name in view directory @parent (fetching its listing if needed). */
static int find_twin(struct sendfs *sf, const struct cache_entry *parent, const char *name,
		     struct cache_entry *ret)
{
	uint64_t tp;
	int r = twin_dir(sf, parent, &tp);

	if (r < 0)
		return r;
	if (sf->fs->sync) {
		r = sync_ensure_dir(sf->fs->sync, tp);
		if (r < 0)
			return r;
	}
	r = cache_lookup_entry(sf->fs->cache, tp, name, ret);
	return r < 0 ? r : r == 1 ? 0 : -EINVAL;
}

/* Put the placeholder of @twin into view directory @parent of @loc. */
static int put_placeholder(struct sendfs *sf, uint64_t parent, const char *loc,
			   const struct cache_entry *twin, const struct cache_attr *attr,
			   struct cache_entry *ret)
{
	struct cache_child c;
	struct fs_blob b;
	char key[CACHE_KEY_MAX + 1];
	uint64_t ino;
	int r;

	memset(&c, 0, sizeof(c));
	memset(&b, 0, sizeof(b));
	snprintf(key, sizeof(key), "l:%s:%s", loc, twin->ftrack_id);
	b.version = FS_BLOB_VERSION;
	b.node = view_node(node_of(twin));
	snprintf(b.loc_id, sizeof(b.loc_id), "%s", loc);
	c.key = key;
	c.name = twin->name;
	c.attr = attr ? *attr : twin->attr;
	c.attr.mode = c.attr.kind == CACHE_KIND_DIR ? 0755 : 0644;
	c.attr.flags = b.node;
	c.ftrack_id = twin->ftrack_id;
	c.type = twin->type;
	c.blob = &b;
	c.blob_len = sizeof(b);
	r = cache_put_child(sf->fs->cache, parent, &c, &ino);
	if (r < 0)
		return r;
	return ret ? (cache_get(sf->fs->cache, ino, ret) == 1 ? 0 : -EIO) : 0;
}

/*
 * The path of entry @ino below its nearest ancestor of kind @root (not
 * included): the names joined with '/', walking up at most MAX_DEPTH parents.
 */
static int path_below(struct sendfs *sf, uint64_t ino, uint32_t root, char *out, size_t len)
{
	struct cache_entry *e = malloc(sizeof(*e));
	char *tmp = malloc(len);
	int depth = 0, r = 0;

	if (!e || !tmp) {
		r = -ENOMEM;
		goto out;
	}
	out[0] = '\0';
	while (depth++ < MAX_DEPTH && cache_get(sf->fs->cache, ino, e) == 1 &&
	       node_of(e) != root) {
		int n = snprintf(tmp, len, "%s%s%s", e->name, out[0] ? "/" : "", out);

		if (n < 0 || (size_t)n >= len) {
			r = -ENAMETOOLONG;
			goto out;
		}
		memcpy(out, tmp, (size_t)n + 1);
		ino = e->parent;
	}
out:
	free(e);
	free(tmp);
	return r;
}

/* The path of view entry @ino below its location's root. */
static int view_path(struct sendfs *sf, uint64_t ino, char *out, size_t len)
{
	return path_below(sf, ino, FS_NODE_LOCATION, out, len);
}

/* Record the intent for view entry @ino (a component's placeholder). */
static int commit(struct sendfs *sf, uint64_t ino, const struct cache_entry *e, const char *loc)
{
	char *path = malloc(PATH_BUF);
	uint32_t node = node_of(e);
	int r;

	if (!path)
		return -ENOMEM;
	if (!is_component_node(node) || !e->ftrack_id[0]) {
		free(path);
		return 0;
	}
	if (node == FS_NODE_LMEMBER) {
		/* a member of a sequence that is on its way already */
		struct cache_entry *p = malloc(sizeof(*p));
		struct cache_outbox *o = malloc(sizeof(*o));
		bool covered = p && o && cache_get(sf->fs->cache, e->parent, p) == 1 &&
			       p->ftrack_id[0] &&
			       cache_outbox_find_pending(sf->fs->cache, p->ftrack_id, loc, o) == 1;

		free(p);
		free(o);
		if (covered) {
			free(path);
			return 0;
		}
	}
	r = view_path(sf, ino, path, PATH_BUF);
	if (r == 0)
		r = send_enqueue(sf->send, e->ftrack_id, loc, path, e->attr.size);
	free(path);
	if (r < 0)
		log_warn(MOD, "cannot record the send of %s: %s", e->name, strerror(-r));
	return r;
}

int sendfs_mkdir(struct sendfs *sf, uint64_t parent, const char *name, struct cache_entry *ret)
{
	struct cache_entry *p = malloc(sizeof(*p)), *t = malloc(sizeof(*t));
	char loc[CACHE_ID_MAX + 1];
	int r;

	if (!p || !t) {
		r = -ENOMEM;
		goto out;
	}
	r = sendfs_view_of(sf, parent, p, loc);
	if (r <= 0) {
		r = r < 0 ? r : -ENOENT;
		goto out;
	}
	r = find_twin(sf, p, name, t);
	if (r < 0)
		goto out;
	if (t->attr.kind != CACHE_KIND_DIR) {
		r = -ENOTDIR;
		goto out;
	}
	r = put_placeholder(sf, parent, loc, t, NULL, ret);
	if (r == 0 && node_of(t) == FS_NODE_COMPONENT_DIR)
		r = commit(sf, ret->ino, ret, loc) < 0 ? -EIO : 0;
out:
	free(p);
	free(t);
	return r;
}

static bool is_temp_name(const char *name)
{
	return name[0] == '.' && strcmp(name, ".") && strcmp(name, "..");
}

static int put_temp(struct sendfs *sf, uint64_t parent, const char *loc, const char *name,
		    struct cache_entry *ret)
{
	struct cache_child c;
	struct fs_blob b;
	struct temp *t;
	char key[64];
	uint64_t ino;
	int r;

	pthread_mutex_lock(&sf->lock);
	snprintf(key, sizeof(key), "t:%llu:%llu", (unsigned long long)fs_now_ns(),
		 (unsigned long long)++sf->seq);
	pthread_mutex_unlock(&sf->lock);
	memset(&c, 0, sizeof(c));
	memset(&b, 0, sizeof(b));
	b.version = FS_BLOB_VERSION;
	b.node = FS_NODE_LCOMPONENT;
	snprintf(b.loc_id, sizeof(b.loc_id), "%s", loc);
	c.key = key;
	c.name = name;
	c.attr.kind = CACHE_KIND_FILE;
	c.attr.mode = 0644;
	c.attr.nlink = 1;
	c.attr.flags = FS_NODE_LCOMPONENT;
	c.attr.mtime_ns = fs_now_ns();
	c.blob = &b;
	c.blob_len = sizeof(b);
	r = cache_put_child(sf->fs->cache, parent, &c, &ino);
	if (r < 0)
		return r;
	pthread_mutex_lock(&sf->lock);
	t = realloc(sf->temps, (sf->n_temps + 1) * sizeof(*t));
	if (t) {
		sf->temps = t;
		t = &sf->temps[sf->n_temps++];
		t->ino = ino;
		t->parent = parent;
		snprintf(t->key, sizeof(t->key), "%s", key);
		snprintf(t->loc_id, sizeof(t->loc_id), "%s", loc);
	}
	pthread_mutex_unlock(&sf->lock);
	if (!t)
		return -ENOMEM;
	return cache_get(sf->fs->cache, ino, ret) == 1 ? 0 : -EIO;
}

/* Find temp @ino; copies it to *ret. */
static bool temp_get(struct sendfs *sf, uint64_t ino, struct temp *ret, bool remove)
{
	bool found = false;

	pthread_mutex_lock(&sf->lock);
	for (size_t i = 0; i < sf->n_temps; i++)
		if (sf->temps[i].ino == ino) {
			if (ret)
				*ret = sf->temps[i];
			if (remove)
				sf->temps[i] = sf->temps[--sf->n_temps];
			found = true;
			break;
		}
	pthread_mutex_unlock(&sf->lock);
	return found;
}

int sendfs_create(struct sendfs *sf, uint64_t parent, const char *name, struct cache_entry *ret,
		  bool *ret_is_temp)
{
	struct cache_entry *p = malloc(sizeof(*p)), *t = malloc(sizeof(*t));
	char loc[CACHE_ID_MAX + 1];
	int r;

	*ret_is_temp = false;
	if (!p || !t) {
		r = -ENOMEM;
		goto out;
	}
	r = sendfs_view_of(sf, parent, p, loc);
	if (r <= 0) {
		r = r < 0 ? r : -ENOENT;
		goto out;
	}
	r = find_twin(sf, p, name, t);
	if (r == -EINVAL && is_temp_name(name)) {
		*ret_is_temp = true;
		r = put_temp(sf, parent, loc, name, ret);
		goto out;
	}
	if (r < 0)
		goto out;
	if (t->attr.kind == CACHE_KIND_DIR) {
		r = -EISDIR;
		goto out;
	}
	r = put_placeholder(sf, parent, loc, t, NULL, ret);
out:
	free(p);
	free(t);
	return r;
}

void sendfs_wrote(struct sendfs *sf, uint64_t ino, uint64_t end)
{
	struct cache_entry *e;
	struct temp t;

	if (!temp_get(sf, ino, &t, false))
		return;
	e = malloc(sizeof(*e));
	if (e && cache_get(sf->fs->cache, ino, e) == 1 && end > e->attr.size) {
		struct cache_child c = {
			.key = t.key, .name = e->name, .attr = e->attr,
			.blob = e->blob, .blob_len = e->blob_len,
		};

		c.attr.size = end;
		cache_put_child(sf->fs->cache, e->parent, &c, NULL);
	}
	free(e);
}

int sendfs_release(struct sendfs *sf, uint64_t ino, uint64_t written)
{
	struct cache_entry *e = malloc(sizeof(*e));
	char loc[CACHE_ID_MAX + 1];
	struct fs_blob b;
	int r;

	(void)written;
	if (!e)
		return -ENOMEM;
	r = cache_get(sf->fs->cache, ino, e);
	if (r == 1) {
		fs_blob_get(e, &b);
		snprintf(loc, sizeof(loc), "%s", b.loc_id);
		r = e->ftrack_id[0] && loc[0] ? commit(sf, ino, e, loc) : 0;
	}
	free(e);
	return r < 0 ? r : 0;
}

int sendfs_rename(struct sendfs *sf, uint64_t parent, const char *name, uint64_t newparent,
		  const char *newname)
{
	struct cache_entry *p = malloc(sizeof(*p)), *np = malloc(sizeof(*np));
	struct cache_entry *src = malloc(sizeof(*src)), *t = malloc(sizeof(*t));
	struct cache_entry *ph = malloc(sizeof(*ph));
	char loc[CACHE_ID_MAX + 1], nloc[CACHE_ID_MAX + 1];
	int r;

	if (!p || !np || !src || !t || !ph) {
		r = -ENOMEM;
		goto out;
	}
	if (sendfs_view_of(sf, parent, p, loc) != 1 || sendfs_view_of(sf, newparent, np, nloc) != 1 ||
	    strcmp(loc, nloc)) {
		r = -EXDEV;
		goto out;
	}
	r = cache_lookup_entry(sf->fs->cache, parent, name, src);
	if (r != 1) {
		r = r < 0 ? r : -ENOENT;
		goto out;
	}
	if (src->ftrack_id[0]) {
		/* a placeholder stays where its twin is */
		r = parent == newparent && !strcmp(name, newname) ? 0 : -EPERM;
		goto out;
	}
	r = find_twin(sf, np, newname, t);
	if (r == -EINVAL && is_temp_name(newname)) {
		/* temp to temp: keep it a temp under the new name */
		struct temp tmp;

		if (!temp_get(sf, src->ino, &tmp, true)) {
			r = -EPERM;
			goto out;
		}
		cache_remove_child(sf->fs->cache, parent, name, NULL);
		r = put_temp(sf, newparent, loc, newname, ph);
		goto out;
	}
	if (r < 0)
		goto out;
	if (t->attr.kind == CACHE_KIND_DIR) {
		r = -EISDIR;
		goto out;
	}
	temp_get(sf, src->ino, NULL, true);
	r = cache_remove_child(sf->fs->cache, parent, name, NULL);
	if (r < 0)
		goto out;
	r = put_placeholder(sf, newparent, loc, t, NULL, ph);
	if (r == 0)
		r = commit(sf, ph->ino, ph, loc) < 0 ? -EIO : 0;
out:
	free(p);
	free(np);
	free(src);
	free(t);
	free(ph);
	return r;
}

int sendfs_unlink(struct sendfs *sf, uint64_t parent, const char *name)
{
	struct cache_entry *e = malloc(sizeof(*e));
	int r;

	if (!e)
		return -ENOMEM;
	r = cache_lookup_entry(sf->fs->cache, parent, name, e);
	if (r == 1 && !e->ftrack_id[0] && temp_get(sf, e->ino, NULL, true))
		r = cache_remove_child(sf->fs->cache, parent, name, NULL) < 0 ? -EIO : 0;
	else
		r = r < 0 ? r : r == 0 ? -ENOENT : -EPERM;
	free(e);
	return r;
}

int sendfs_setattr(struct sendfs *sf, uint64_t ino, const struct stat *st, bool set_mtime,
		   bool set_size, struct cache_attr *ret)
{
	struct cache_entry *e = malloc(sizeof(*e));
	char key[CACHE_KEY_MAX + 1];
	struct fs_blob b;
	struct temp t;
	bool is_temp;
	int r;

	if (!e)
		return -ENOMEM;
	r = cache_get(sf->fs->cache, ino, e);
	if (r != 1) {
		free(e);
		return r < 0 ? r : -ENOENT;
	}
	fs_blob_get(e, &b);
	is_temp = temp_get(sf, ino, &t, false);
	if (is_temp)
		snprintf(key, sizeof(key), "%s", t.key);
	else
		snprintf(key, sizeof(key), "l:%s:%s", b.loc_id, e->ftrack_id);
	if ((set_mtime || (set_size && is_temp)) && (is_temp || (e->ftrack_id[0] && b.loc_id[0]))) {
		struct cache_child c = {
			.key = key, .name = e->name, .attr = e->attr, .ftrack_id = e->ftrack_id,
			.type = e->type, .blob = e->blob, .blob_len = e->blob_len,
		};

		if (set_mtime)
			c.attr.mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
		if (set_size && is_temp)
			c.attr.size = (uint64_t)st->st_size;
		if (!c.ftrack_id[0])
			c.ftrack_id = NULL;
		if (!c.type[0])
			c.type = NULL;
		r = cache_put_child(sf->fs->cache, e->parent, &c, NULL);
		if (r >= 0)
			e->attr = c.attr;
	}
	*ret = e->attr;
	free(e);
	return r < 0 ? r : 0;
}

int64_t sendfs_copy(struct sendfs *sf, uint64_t ino_in, uint64_t ino_out)
{
	struct cache_entry *in = malloc(sizeof(*in)), *out = malloc(sizeof(*out));
	struct fs_blob b;
	int64_t r;

	if (!in || !out) {
		r = -ENOMEM;
		goto done;
	}
	if (cache_get(sf->fs->cache, ino_in, in) != 1 || cache_get(sf->fs->cache, ino_out, out) != 1 ||
	    !is_component_node(node_of(in)) || !in->ftrack_id[0]) {
		r = -EXDEV;
		goto done;
	}
	fs_blob_get(out, &b);
	if (!sendfs_is_view_node(b.node) || !b.loc_id[0]) {
		r = -EXDEV;
		goto done;
	}
	if (out->ftrack_id[0] && !strcmp(out->ftrack_id, in->ftrack_id)) {
		r = commit(sf, ino_out, out, b.loc_id);
	} else {
		/* copied under another name: send what was read, by reference */
		char *path = malloc(PATH_BUF);

		r = path ? view_path(sf, ino_out, path, PATH_BUF) : -ENOMEM;
		if (r == 0)
			r = send_enqueue(sf->send, in->ftrack_id, b.loc_id, path, in->attr.size);
		free(path);
	}
	if (r >= 0)
		r = (int64_t)in->attr.size;
done:
	free(in);
	free(out);
	return r;
}

/* Location @name -> id, through locations/. */
static int location_id(struct sendfs *sf, const char *name, char *id)
{
	struct cache_entry *e = malloc(sizeof(*e));
	uint64_t locs;
	int r;

	if (!e)
		return -ENOMEM;
	r = cache_ino_lookup(sf->fs->cache, "v:locations", &locs) == 1 ? 0 : -ENOENT;
	if (r == 0 && sf->fs->sync)
		sync_ensure_dir(sf->fs->sync, locs);
	if (r == 0)
		r = cache_lookup_entry(sf->fs->cache, locs, name, e) == 1 ? 0 : -ENOENT;
	if (r == 0)
		snprintf(id, CACHE_ID_MAX + 1, "%s", e->ftrack_id);
	free(e);
	return r;
}

/* The path of projects/ entry @ino below projects/. */
static int projects_path(struct sendfs *sf, uint64_t ino, char *out, size_t len)
{
	return path_below(sf, ino, FS_NODE_PROJECTS, out, len);
}

/* Send every component at or below projects/ entry @ino. */
static int send_tree(struct sendfs *sf, uint64_t ino, const struct cache_entry *e, const char *loc,
		     int depth)
{
	struct cache_dir *d = NULL;
	int r, n = 0;

	if (depth > MAX_DEPTH)
		return 0;
	if (is_component_node(node_of(e))) {
		char *path = malloc(PATH_BUF);

		if (!path)
			return -ENOMEM;
		r = projects_path(sf, ino, path, PATH_BUF);
		if (r == 0)
			r = send_enqueue(sf->send, e->ftrack_id, loc, path, e->attr.size);
		free(path);
		return r;
	}
	if (e->attr.kind != CACHE_KIND_DIR)
		return 0;
	if (sf->fs->sync) {
		r = sync_ensure_dir(sf->fs->sync, ino);
		if (r < 0)
			return r;
	}
	r = cache_readdir(sf->fs->cache, ino, NULL, 0, &d);
	if (r < 0)
		return r;
	for (size_t i = 0; i < d->n && r >= 0; i++) {
		struct cache_entry *c = malloc(sizeof(*c));

		if (!c) {
			r = -ENOMEM;
			break;
		}
		if (cache_get(sf->fs->cache, d->v[i].ino, c) == 1) {
			r = send_tree(sf, d->v[i].ino, c, loc, depth + 1);
			if (r > 0)
				n += r;
		}
		free(c);
	}
	cache_dir_free(d);
	return r < 0 ? r : n;
}

int sendfs_send_xattr(struct sendfs *sf, uint64_t ino, const char *loc_name)
{
	struct cache_entry *e = malloc(sizeof(*e));
	char loc[CACHE_ID_MAX + 1], party[160], why[256];
	int r;

	if (!e)
		return -ENOMEM;
	r = send_party(sf->fs->cfg, loc_name, party, sizeof(party), why, sizeof(why));
	if (r < 0) {
		log_warn(MOD, "send to %s refused: %s", loc_name, why);
		goto out;
	}
	r = location_id(sf, loc_name, loc);
	if (r < 0)
		goto out;
	r = cache_get(sf->fs->cache, ino, e);
	if (r != 1) {
		r = r < 0 ? r : -ENOENT;
		goto out;
	}
	if (sendfs_is_view_node(node_of(e)) && node_of(e) != FS_NODE_LOCATION) {
		/* an entry of a view: its twin under projects/ */
		char key[CACHE_KEY_MAX + 1];

		twin_key(e->type, e->ftrack_id, key, sizeof(key));
		if (cache_ino_lookup(sf->fs->cache, key, &ino) != 1 ||
		    cache_get(sf->fs->cache, ino, e) != 1) {
			r = -ENOENT;
			goto out;
		}
	}
	if (node_of(e) == FS_NODE_LOCATION || node_of(e) == FS_NODE_LOCATIONS ||
	    node_of(e) == FS_NODE_CTL) {
		r = -EINVAL;
		goto out;
	}
	r = send_tree(sf, ino, e, loc, 0);
	if (r >= 0)
		send_kick(sf->send, false);
out:
	free(e);
	return r;
}

int sendfs_retry_xattr(struct sendfs *sf, uint64_t ino)
{
	struct cache_entry *e = malloc(sizeof(*e));
	char loc[CACHE_ID_MAX + 1];
	int r;

	if (!e)
		return -ENOMEM;
	if (sendfs_view_of(sf, ino, NULL, loc) != 1 && cache_get(sf->fs->cache, ino, e) == 1 &&
	    is_component_node(node_of(e)) && sendfs_is_view_node(node_of(e))) {
		struct fs_blob b;

		fs_blob_get(e, &b);
		r = send_retry(sf->send, e->ftrack_id, b.loc_id);
	} else {
		r = send_retry(sf->send, NULL, NULL);
	}
	free(e);
	return r;
}

void sendfs_restore_view(struct sendfs *sf, const char *loc_id)
{
	struct cache_outbox *v = NULL;
	struct cache_entry *vw = malloc(sizeof(*vw)), *tw = malloc(sizeof(*tw));
	char key[CACHE_KEY_MAX + 1];
	uint64_t root, proot;
	int n;

	if (!vw || !tw)
		goto out;
	snprintf(key, sizeof(key), "L:%s", loc_id);
	if (cache_ino_lookup(sf->fs->cache, key, &root) != 1 ||
	    cache_ino_lookup(sf->fs->cache, "v:projects", &proot) != 1)
		goto out;
	n = cache_outbox_list(sf->fs->cache, 0, &v);
	for (int i = 0; i < n; i++) {
		char *path = v[i].dst_path, *save = NULL, *part;
		uint64_t vdir = root, tdir = proot;

		if (v[i].state == CACHE_OUTBOX_DONE || strcmp(v[i].dst_location_id, loc_id) || !path[0])
			continue;
		for (part = strtok_r(path, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
			if (cache_lookup_entry(sf->fs->cache, tdir, part, tw) != 1)
				break;	/* the twin is not known (yet) */
			if (cache_lookup_entry(sf->fs->cache, vdir, part, vw) != 1 &&
			    put_placeholder(sf, vdir, loc_id, tw, NULL, vw) < 0)
				break;
			vdir = vw->ino;
			tdir = tw->ino;
		}
	}
	free(v);
out:
	free(vw);
	free(tw);
}

/* ---- .ftrackfs/jobs/ ------------------------------------------------------ */

static int put_job_file(struct sendfs *sf, uint64_t dir, const struct cache_job *j)
{
	struct cache_child c;
	struct fs_blob b;
	char key[CACHE_KEY_MAX + 1], name[CACHE_NAME_MAX + 1], *text = NULL;
	int n;

	n = send_job_json(j, &text);
	if (n < 0)
		return n;
	free(text);
	memset(&c, 0, sizeof(c));
	memset(&b, 0, sizeof(b));
	snprintf(key, sizeof(key), "j:%s", j->job_id);
	snprintf(name, sizeof(name), "%s.json", j->job_id);
	b.version = FS_BLOB_VERSION;
	b.node = FS_NODE_JOB_FILE;
	c.key = key;
	c.name = name;
	c.attr.kind = CACHE_KIND_FILE;
	c.attr.mode = 0444;
	c.attr.nlink = 1;
	c.attr.flags = FS_NODE_JOB_FILE;
	c.attr.size = (uint64_t)n;
	c.attr.mtime_ns = j->updated_ns;
	c.blob = &b;
	c.blob_len = sizeof(b);
	return cache_put_child(sf->fs->cache, dir, &c, NULL) < 0 ? -EIO : 0;
}

int sendfs_jobs_init(struct sendfs *sf)
{
	struct cache_child c;
	struct fs_blob b;
	struct cache_job *jobs = NULL;
	uint64_t ctl, dir;
	int n, r;

	if (cache_ino_lookup(sf->fs->cache, "v:ctl", &ctl) != 1)
		return -ENOENT;
	memset(&c, 0, sizeof(c));
	memset(&b, 0, sizeof(b));
	b.version = FS_BLOB_VERSION;
	b.node = FS_NODE_JOBS_DIR;
	c.key = "v:jobs";
	c.name = "jobs";
	c.attr.kind = CACHE_KIND_DIR;
	c.attr.mode = 0555;
	c.attr.nlink = 2;
	c.attr.flags = FS_NODE_JOBS_DIR;
	c.attr.mtime_ns = fs_now_ns();
	c.blob = &b;
	c.blob_len = sizeof(b);
	r = cache_put_child(sf->fs->cache, ctl, &c, &dir);
	if (r < 0)
		return r;
	sf->fs->jobs_ino = dir;
	n = cache_job_list(sf->fs->cache, &jobs);
	for (int i = 0; i < n; i++)
		put_job_file(sf, dir, &jobs[i]);
	free(jobs);
	return n < 0 ? n : 0;
}

void sendfs_job_changed(void *ud, const char *job_id)
{
	struct sendfs *sf = ud;
	struct cache_job *j = malloc(sizeof(*j));
	uint64_t dir;

	if (j && cache_ino_lookup(sf->fs->cache, "v:jobs", &dir) == 1 &&
	    cache_job_get(sf->fs->cache, job_id, j) == 1 && put_job_file(sf, dir, j) == 0)
		__atomic_store_n(&sf->fs->jobs_mtime_ns, fs_now_ns(), __ATOMIC_RELAXED);
	free(j);
}

int sendfs_render_job(struct sendfs *sf, const struct cache_entry *e, char **ret_buf)
{
	struct cache_job *j = malloc(sizeof(*j));
	char id[CACHE_NAME_MAX + 1];
	char *dot;
	int r;

	if (!j)
		return -ENOMEM;
	snprintf(id, sizeof(id), "%s", e->name);
	dot = strrchr(id, '.');
	if (dot)
		*dot = '\0';
	r = cache_job_get(sf->fs->cache, id, j);
	r = r == 1 ? send_job_json(j, ret_buf) : r < 0 ? r : -ENOENT;
	free(j);
	return r;
}
