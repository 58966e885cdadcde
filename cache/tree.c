/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tree.c - keys -> inodes, directory entries, directory state, and
 * cache_dir_apply(), the atomic replacement of a directory's children.
 *
 * Databases (see cache.h):
 *   keys     key bytes            -> u64 ino
 *   inodes   be64 ino             -> inode record: parent, name, ids, blob (INO_*)
 *   dirents  be64 parent, name    -> entry record: ino, attributes (ENT_*)
 *   dirs     be64 ino             -> u8 ver, u32 flags, u32 n, u64 gen, i64 fetched
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cache_i.h"
#include "ftrackfs/log.h"

#ifdef UNIT_TESTING
void (*cache_test_apply_hook)(size_t i, size_t n);
#endif

/*
 * Entry record (dirents): only what lookup and readdirplus return, fixed
 * size, so that the tree every lookup walks stays small. The ids and the
 * blob live in the inode record.
 */
#define ENT_VER 0
#define ENT_KIND 1
#define ENT_MODE 2	/* u16: permission bits only */
#define ENT_NLINK 4
#define ENT_FLAGS 8
#define ENT_INO 12
#define ENT_SIZE 20
#define ENT_MTIME 28
#define ENT_LEN 36
#define ENT_MAX ENT_LEN

/* Inode record (inodes): where the inode is, and its ids and blob. */
#define INO_VER 0
#define INO_PARENT 1
#define INO_NAMELEN 9
#define INO_IDLEN 10
#define INO_TYPELEN 11
#define INO_BLOBLEN 12	/* u16 */
#define INO_HDR 14
#define INOREC_MAX (INO_HDR + CACHE_NAME_MAX + CACHE_ID_MAX + CACHE_TYPE_MAX + CACHE_BLOB_MAX)

#define DIRKEY_MAX (8 + CACHE_NAME_MAX)
#define DIRSTATE_LEN 25
#define MAX_DEPTH 4096

/* ---- record encoding ---- */

static size_t dirkey(unsigned char *buf, uint64_t parent, const char *name, size_t name_len)
{
	cache_put_be64(buf, parent);
	memcpy(buf + 8, name, name_len);
	return 8 + name_len;
}

static size_t ent_encode(unsigned char *buf, uint64_t ino, const struct cache_attr *a)
{
	uint16_t mode = (uint16_t)a->mode;	/* check_child(): <= 07777 */

	buf[ENT_VER] = CACHE_REC_VERSION;
	buf[ENT_KIND] = (unsigned char)a->kind;
	memcpy(buf + ENT_MODE, &mode, 2);
	memcpy(buf + ENT_NLINK, &a->nlink, 4);
	memcpy(buf + ENT_FLAGS, &a->flags, 4);
	memcpy(buf + ENT_INO, &ino, 8);
	memcpy(buf + ENT_SIZE, &a->size, 8);
	memcpy(buf + ENT_MTIME, &a->mtime_ns, 8);
	return ENT_LEN;
}

/* Validate a stored entry record; decode its attributes and inode. */
static int ent_decode_attr(const MDB_val *v, uint64_t *ret_ino, struct cache_attr *ret_attr)
{
	const unsigned char *p = v->mv_data;

	if (v->mv_size != ENT_LEN || p[ENT_VER] != CACHE_REC_VERSION ||
	    p[ENT_KIND] < CACHE_KIND_DIR || p[ENT_KIND] > CACHE_KIND_SYMLINK) {
		log_error(CACHE_LOG, "corrupt entry record (%zu bytes)", v->mv_size);
		return -EUCLEAN;
	}
	if (ret_ino)
		memcpy(ret_ino, p + ENT_INO, 8);
	if (ret_attr) {
		uint16_t mode;

		ret_attr->kind = p[ENT_KIND];
		memcpy(&mode, p + ENT_MODE, 2);
		ret_attr->mode = mode;
		memcpy(&ret_attr->nlink, p + ENT_NLINK, 4);
		memcpy(&ret_attr->flags, p + ENT_FLAGS, 4);
		memcpy(&ret_attr->size, p + ENT_SIZE, 8);
		memcpy(&ret_attr->mtime_ns, p + ENT_MTIME, 8);
	}
	return 0;
}

/* A decoded inode record; pointers into the value (live as the txn). */
struct inorec {
	uint64_t parent;
	const char *name, *id, *type;
	const unsigned char *blob;
	size_t name_len, id_len, type_len, blob_len;
};

static size_t inorec_encode(unsigned char *buf, uint64_t parent, const char *name,
			    size_t name_len, const struct cache_child *ch)
{
	size_t id_len = ch->ftrack_id ? strlen(ch->ftrack_id) : 0;
	size_t type_len = ch->type ? strlen(ch->type) : 0;
	uint16_t blob_len = (uint16_t)ch->blob_len;
	unsigned char *p = buf + INO_HDR;

	buf[INO_VER] = CACHE_REC_VERSION;
	memcpy(buf + INO_PARENT, &parent, 8);
	buf[INO_NAMELEN] = (unsigned char)name_len;
	buf[INO_IDLEN] = (unsigned char)id_len;
	buf[INO_TYPELEN] = (unsigned char)type_len;
	memcpy(buf + INO_BLOBLEN, &blob_len, 2);
	memcpy(p, name, name_len);
	p += name_len;
	if (id_len)
		memcpy(p, ch->ftrack_id, id_len);
	p += id_len;
	if (type_len)
		memcpy(p, ch->type, type_len);
	p += type_len;
	if (blob_len)
		memcpy(p, ch->blob, blob_len);
	return INO_HDR + name_len + id_len + type_len + blob_len;
}

static int inorec_decode(const MDB_val *v, struct inorec *ret)
{
	const unsigned char *p = v->mv_data;
	uint16_t blob_len;

	if (v->mv_size < INO_HDR || p[INO_VER] != CACHE_REC_VERSION)
		goto bad;
	memcpy(&blob_len, p + INO_BLOBLEN, 2);
	if (p[INO_NAMELEN] == 0 || p[INO_IDLEN] > CACHE_ID_MAX ||
	    p[INO_TYPELEN] > CACHE_TYPE_MAX || blob_len > CACHE_BLOB_MAX ||
	    (size_t)INO_HDR + p[INO_NAMELEN] + p[INO_IDLEN] + p[INO_TYPELEN] + blob_len !=
		    v->mv_size)
		goto bad;
	memcpy(&ret->parent, p + INO_PARENT, 8);
	ret->name_len = p[INO_NAMELEN];
	ret->id_len = p[INO_IDLEN];
	ret->type_len = p[INO_TYPELEN];
	ret->blob_len = blob_len;
	ret->name = (const char *)p + INO_HDR;
	ret->id = ret->name + ret->name_len;
	ret->type = ret->id + ret->id_len;
	ret->blob = (const unsigned char *)ret->type + ret->type_len;
	return 0;
bad:
	log_error(CACHE_LOG, "corrupt inode record (%zu bytes)", v->mv_size);
	return -EUCLEAN;
}

/* Fill @e from a decoded entry and inode record. */
static void entry_fill(struct cache_entry *e, uint64_t ino, const struct cache_attr *a,
		       const struct inorec *ir)
{
	e->ino = ino;
	e->parent = ir->parent;
	e->attr = *a;
	memcpy(e->name, ir->name, ir->name_len);
	e->name[ir->name_len] = '\0';
	memcpy(e->ftrack_id, ir->id, ir->id_len);
	e->ftrack_id[ir->id_len] = '\0';
	memcpy(e->type, ir->type, ir->type_len);
	e->type[ir->type_len] = '\0';
	e->blob_len = (uint32_t)ir->blob_len;
	memcpy(e->blob, ir->blob, ir->blob_len);
}

static int inorec_put(struct cache *c, MDB_txn *txn, uint64_t ino, uint64_t parent,
		      const char *name, size_t name_len, const struct cache_child *ch)
{
	unsigned char k[8], v[INOREC_MAX];

	cache_put_be64(k, ino);
	return cache_put(txn, c->dbi[DBI_INODES], k, 8, v,
			 inorec_encode(v, parent, name, name_len, ch), 0);
}

static int inorec_get(struct cache *c, MDB_txn *txn, uint64_t ino, uint64_t *ret_parent,
		      char *ret_name, size_t *ret_name_len)
{
	unsigned char k[8];
	struct inorec ir;
	MDB_val v;
	int r;

	cache_put_be64(k, ino);
	r = cache_get_raw(txn, c->dbi[DBI_INODES], k, 8, &v);
	if (r <= 0)
		return r;
	r = inorec_decode(&v, &ir);
	if (r < 0)
		return r;
	*ret_parent = ir.parent;
	memcpy(ret_name, ir.name, ir.name_len);
	ret_name[ir.name_len] = '\0';
	*ret_name_len = ir.name_len;
	return 1;
}

static int dirstate_get(struct cache *c, MDB_txn *txn, uint64_t ino, struct cache_dirstate *ret)
{
	unsigned char k[8];
	const unsigned char *p;
	MDB_val v;
	int r;

	memset(ret, 0, sizeof(*ret));
	cache_put_be64(k, ino);
	r = cache_get_raw(txn, c->dbi[DBI_DIRS], k, 8, &v);
	if (r <= 0)
		return r;
	p = v.mv_data;
	if (v.mv_size != DIRSTATE_LEN || p[0] != CACHE_REC_VERSION) {
		log_error(CACHE_LOG, "corrupt directory state of inode %llu",
			  (unsigned long long)ino);
		return -EUCLEAN;
	}
	memcpy(&ret->flags, p + 1, 4);
	memcpy(&ret->n_children, p + 5, 4);
	memcpy(&ret->generation, p + 9, 8);
	memcpy(&ret->fetched_ns, p + 17, 8);
	return 1;
}

static int dirstate_put(struct cache *c, MDB_txn *txn, uint64_t ino, const struct cache_dirstate *s)
{
	unsigned char k[8], v[DIRSTATE_LEN];

	cache_put_be64(k, ino);
	v[0] = CACHE_REC_VERSION;
	memcpy(v + 1, &s->flags, 4);
	memcpy(v + 5, &s->n_children, 4);
	memcpy(v + 9, &s->generation, 8);
	memcpy(v + 17, &s->fetched_ns, 8);
	return cache_put(txn, c->dbi[DBI_DIRS], k, 8, v, DIRSTATE_LEN, 0);
}

/* Give directory @ino a fresh generation, adjusting its child count. */
static int dir_bump(struct cache *c, MDB_txn *txn, uint64_t ino, int delta,
		    uint64_t *ret_gen)
{
	struct cache_dirstate s;
	uint64_t gen;
	int r = dirstate_get(c, txn, ino, &s);

	if (r < 0)
		return r;
	r = cache_counter_get(c, txn, "next_gen", &gen);
	if (r < 0)
		return r;
	s.generation = gen;
	if (delta < 0 && s.n_children < (uint32_t)-delta)
		s.n_children = 0;
	else
		s.n_children = (uint32_t)((int64_t)s.n_children + delta);
	r = cache_counter_set(c, txn, "next_gen", gen + 1);
	if (r == 0)
		r = dirstate_put(c, txn, ino, &s);
	if (r == 0 && ret_gen)
		*ret_gen = gen;
	return r;
}

/* ---- validation ---- */

static int check_name(const char *name)
{
	if (cache_check_str(name, CACHE_NAME_MAX, false) < 0 || strchr(name, '/') ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	return 0;
}

static int check_child(const struct cache_child *ch)
{
	if (cache_check_str(ch->key, CACHE_KEY_MAX, false) < 0 || check_name(ch->name) < 0 ||
	    cache_check_str(ch->ftrack_id, CACHE_ID_MAX, true) < 0 ||
	    cache_check_str(ch->type, CACHE_TYPE_MAX, true) < 0 ||
	    ch->blob_len > CACHE_BLOB_MAX || (ch->blob_len && !ch->blob) ||
	    ch->attr.kind < CACHE_KIND_DIR || ch->attr.kind > CACHE_KIND_SYMLINK ||
	    (ch->attr.mode & ~07777u))
		return -EINVAL;
	return 0;
}

/* ---- small containers ---- */

struct u64map {		/* ino -> index; key 0 is empty */
	uint64_t *keys;
	size_t *vals;
	size_t cap;	/* power of two */
};

static size_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

static int u64map_init(struct u64map *m, size_t n)
{
	size_t cap = 16;

	while (cap < n * 2 + 1)
		cap <<= 1;
	m->keys = calloc(cap, sizeof(*m->keys));
	m->vals = malloc(cap * sizeof(*m->vals));
	m->cap = cap;
	return m->keys && m->vals ? 0 : -ENOMEM;
}

static void u64map_release(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* Returns 1 if @k was present (then *ret_val holds its value). */
static int u64map_get(const struct u64map *m, uint64_t k, size_t *ret_val)
{
	for (size_t i = mix64(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == 0)
			return 0;
		if (m->keys[i] == k) {
			*ret_val = m->vals[i];
			return 1;
		}
	}
}

/* Insert; returns 1 if @k was already present (value untouched). */
static int u64map_add(struct u64map *m, uint64_t k, size_t v)
{
	for (size_t i = mix64(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == k)
			return 1;
		if (m->keys[i] == 0) {
			m->keys[i] = k;
			m->vals[i] = v;
			return 0;
		}
	}
}

static size_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return (size_t)h;
}

/* Are the children's names (@names) or keys unique? 0 or -EINVAL. */
static int strings_unique(const struct cache_child *ch, size_t n, bool names)
{
	size_t cap = 16, *slots;
	int r = 0;

	while (cap < n * 2 + 1)
		cap <<= 1;
	slots = malloc(cap * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		slots[i] = SIZE_MAX;
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *s = names ? ch[i].name : ch[i].key;

		for (size_t j = hash_str(s) & (cap - 1);; j = (j + 1) & (cap - 1)) {
			if (slots[j] == SIZE_MAX) {
				slots[j] = i;
				break;
			}
			if (strcmp(names ? ch[slots[j]].name : ch[slots[j]].key, s) == 0) {
				r = -EINVAL;
				break;
			}
		}
	}
	free(slots);
	return r;
}

struct arena {
	char *p;
	size_t len, cap;
};

/* Append @len bytes and a NUL; returns the offset or -ENOMEM. */
static int64_t arena_add(struct arena *a, const void *s, size_t len)
{
	int64_t off;

	if (a->len + len + 1 > a->cap) {
		size_t cap = a->cap ? a->cap : 4096;
		char *p;

		while (a->len + len + 1 > cap)
			cap *= 2;
		p = realloc(a->p, cap);
		if (!p)
			return -ENOMEM;
		a->p = p;
		a->cap = cap;
	}
	off = (int64_t)a->len;
	memcpy(a->p + a->len, s, len);
	a->p[a->len + len] = '\0';
	a->len += len + 1;
	return off;
}

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*v, n * elem);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = n;
	return 0;
}

/* ---- change sets ---- */

struct chg {
	enum cache_change_kind kind;
	uint64_t ino;
	int64_t name;		/* arena offsets, -1 = none */
	int64_t old_name;
	uint64_t old_parent;
};

struct chgset {
	struct chg *v;
	size_t n, cap;
	struct arena names;
};

static int chg_add(struct chgset *s, enum cache_change_kind kind, uint64_t ino, const char *name,
		   size_t name_len, const char *old_name, size_t old_len, uint64_t old_parent)
{
	struct chg *ch;
	int r = grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v));

	if (r < 0)
		return r;
	ch = &s->v[s->n];
	ch->kind = kind;
	ch->ino = ino;
	ch->old_parent = old_parent;
	ch->name = arena_add(&s->names, name, name_len);
	ch->old_name = old_name ? arena_add(&s->names, old_name, old_len) : -1;
	if (ch->name < 0 || (old_name && ch->old_name < 0))
		return -ENOMEM;
	s->n++;
	return 0;
}

static void chgset_release(struct chgset *s)
{
	free(s->v);
	free(s->names.p);
	memset(s, 0, sizeof(*s));
}

static int chgset_export(const struct chgset *s, uint64_t parent, uint64_t gen,
			 struct cache_changes **ret)
{
	size_t size = sizeof(struct cache_changes) + s->n * sizeof(struct cache_change) +
		      s->names.len;
	struct cache_changes *out = malloc(size);
	char *names;

	if (!out)
		return -ENOMEM;
	out->parent = parent;
	out->generation = gen;
	out->n = s->n;
	out->v = (struct cache_change *)(out + 1);
	names = (char *)(out->v + s->n);
	if (s->names.len)
		memcpy(names, s->names.p, s->names.len);
	for (size_t i = 0; i < s->n; i++) {
		out->v[i].kind = s->v[i].kind;
		out->v[i].ino = s->v[i].ino;
		out->v[i].old_parent = s->v[i].old_parent;
		out->v[i].name = names + s->v[i].name;
		out->v[i].old_name = s->v[i].old_name >= 0 ? names + s->v[i].old_name : NULL;
	}
	*ret = out;
	return 0;
}

void cache_changes_free(struct cache_changes *ch)
{
	free(ch);
}

/* ---- shared write helpers ---- */

/* Is @parent a directory we can put children in? 0, -ENOENT, -ENOTDIR. */
static int check_parent_dir(struct cache *c, MDB_txn *txn, uint64_t parent)
{
	unsigned char k[DIRKEY_MAX];
	char name[CACHE_NAME_MAX + 1];
	struct cache_attr a;
	uint64_t pp;
	size_t name_len;
	MDB_val v;
	int r;

	if (parent == CACHE_ROOT_INO)
		return 0;
	r = inorec_get(c, txn, parent, &pp, name, &name_len);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	r = cache_get_raw(txn, c->dbi[DBI_DIRENTS], k, dirkey(k, pp, name, name_len), &v);
	if (r <= 0)
		return r < 0 ? r : -EUCLEAN;
	r = ent_decode_attr(&v, NULL, &a);
	if (r < 0)
		return r;
	return a.kind == CACHE_KIND_DIR ? 0 : -ENOTDIR;
}

/* Is @ino @dir or one of its ancestors? 1 yes, 0 no, -errno. */
static int is_ancestor_or_self(struct cache *c, MDB_txn *txn, uint64_t ino, uint64_t dir)
{
	char name[CACHE_NAME_MAX + 1];
	size_t name_len;

	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		uint64_t up;
		int r;

		if (dir == ino)
			return 1;
		if (dir == CACHE_ROOT_INO)
			return 0;
		r = inorec_get(c, txn, dir, &up, name, &name_len);
		if (r <= 0)
			return r;
		dir = up;
	}
	log_error(CACHE_LOG, "inode %llu: parent chain too deep or looping",
		  (unsigned long long)dir);
	return -EUCLEAN;
}

/* Resolve @key to an inode, allocating from *next_ino. 1 if allocated. */
static int key_to_ino(struct cache *c, MDB_txn *txn, const char *key, uint64_t *next_ino,
		      uint64_t *ret_ino)
{
	size_t klen = strlen(key);
	MDB_val v;
	int r = cache_get_raw(txn, c->dbi[DBI_KEYS], key, klen, &v);

	if (r < 0)
		return r;
	if (r == 1) {
		if (v.mv_size != 8) {
			log_error(CACHE_LOG, "corrupt key record for %s", key);
			return -EUCLEAN;
		}
		memcpy(ret_ino, v.mv_data, 8);
		return 0;
	}
	*ret_ino = (*next_ino)++;
	r = cache_put(txn, c->dbi[DBI_KEYS], key, klen, ret_ino, 8, 0);
	return r < 0 ? r : 1;
}

struct kid {
	uint64_t ino;
	uint32_t kind;
	int64_t name;
	size_t name_len;
};

/* Delete everything below directory @ino (not @ino itself), and its state. */
static int delete_subtree(struct cache *c, MDB_txn *txn, uint64_t ino)
{
	uint64_t *stack = NULL;
	size_t n_stack = 0, cap_stack = 0;
	struct kid *kids = NULL;
	size_t cap_kids = 0;
	struct arena names = { 0 };
	MDB_cursor *cur = NULL;
	int r, rc;

	r = grow((void **)&stack, &cap_stack, 1, sizeof(*stack));
	if (r < 0)
		return r;
	stack[n_stack++] = ino;
	rc = mdb_cursor_open(txn, c->dbi[DBI_DIRENTS], &cur);
	if (rc) {
		r = cache_errno_from_mdb(rc);
		goto out;
	}
	while (n_stack > 0) {
		uint64_t dir = stack[--n_stack];
		unsigned char k[8];
		size_t n_kids = 0;
		MDB_val key, val;

		names.len = 0;
		cache_put_be64(k, dir);
		key.mv_data = k;
		key.mv_size = 8;
		for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
		     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
			struct cache_attr a;
			struct kid *kd;

			if (key.mv_size < 8 || memcmp(key.mv_data, k, 8) != 0)
				break;
			r = grow((void **)&kids, &cap_kids, n_kids + 1, sizeof(*kids));
			if (r < 0)
				goto out;
			kd = &kids[n_kids];
			r = ent_decode_attr(&val, &kd->ino, &a);
			if (r < 0)
				goto out;
			kd->kind = a.kind;
			kd->name_len = key.mv_size - 8;
			kd->name = arena_add(&names, (const char *)key.mv_data + 8, kd->name_len);
			if (kd->name < 0) {
				r = -ENOMEM;
				goto out;
			}
			n_kids++;
		}
		if (rc && rc != MDB_NOTFOUND) {
			r = cache_errno_from_mdb(rc);
			goto out;
		}
		for (size_t i = 0; i < n_kids; i++) {
			unsigned char dk[DIRKEY_MAX], ik[8];

			r = cache_del(txn, c->dbi[DBI_DIRENTS], dk,
				      dirkey(dk, dir, names.p + kids[i].name, kids[i].name_len));
			if (r < 0)
				goto out;
			cache_put_be64(ik, kids[i].ino);
			r = cache_del(txn, c->dbi[DBI_INODES], ik, 8);
			if (r < 0)
				goto out;
			if (kids[i].kind == CACHE_KIND_DIR) {
				r = grow((void **)&stack, &cap_stack, n_stack + 1, sizeof(*stack));
				if (r < 0)
					goto out;
				stack[n_stack++] = kids[i].ino;
			}
		}
		r = cache_del(txn, c->dbi[DBI_DIRS], k, 8);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	if (cur)
		mdb_cursor_close(cur);
	free(stack);
	free(kids);
	free(names.p);
	return r;
}

/* Remove entry @name (inode @ino) of @parent and its subtree. */
static int remove_entry(struct cache *c, MDB_txn *txn, uint64_t parent, const char *name,
			size_t name_len, uint64_t ino, uint32_t kind)
{
	unsigned char dk[DIRKEY_MAX], ik[8];
	int r = cache_del(txn, c->dbi[DBI_DIRENTS], dk, dirkey(dk, parent, name, name_len));

	if (r < 0)
		return r;
	cache_put_be64(ik, ino);
	r = cache_del(txn, c->dbi[DBI_INODES], ik, 8);
	if (r < 0)
		return r;
	if (kind == CACHE_KIND_DIR)
		return delete_subtree(c, txn, ino);
	/* non-directories may still have a (stale) state record */
	r = cache_del(txn, c->dbi[DBI_DIRS], ik, 8);
	return r < 0 ? r : 0;
}

/* ---- reads ---- */

int cache_ino_lookup(struct cache *c, const char *key, uint64_t *ret_ino)
{
	struct cache_rslot *slot;
	MDB_txn *txn;
	MDB_val v;
	int r;

	if (!c || cache_check_str(key, CACHE_KEY_MAX, false) < 0)
		return -EINVAL;
	r = cache_read_begin(c, &txn, &slot);
	if (r < 0)
		return r;
	r = cache_get_raw(txn, c->dbi[DBI_KEYS], key, strlen(key), &v);
	if (r == 1) {
		if (v.mv_size != 8)
			r = -EUCLEAN;
		else if (ret_ino)
			memcpy(ret_ino, v.mv_data, 8);
	}
	cache_read_end(slot);
	return r;
}

int cache_lookup(struct cache *c, uint64_t parent, const char *name, uint64_t *ret_ino,
		 struct cache_attr *ret_attr)
{
	unsigned char k[DIRKEY_MAX];
	struct cache_rslot *slot;
	struct cache_attr a;
	uint64_t ino;
	size_t name_len;
	MDB_txn *txn;
	MDB_val v;
	int r;

	if (!c || !name)
		return -EINVAL;
	name_len = strnlen(name, CACHE_NAME_MAX + 1);
	if (name_len == 0 || name_len > CACHE_NAME_MAX)
		return 0;	/* cannot exist */
	dirkey(k, parent, name, name_len);
	r = cache_read_begin(c, &txn, &slot);
	if (r < 0)
		return r;
	r = cache_get_raw(txn, c->dbi[DBI_DIRENTS], k, 8 + name_len, &v);
	if (r == 1)
		r = ent_decode_attr(&v, &ino, &a) < 0 ? -EUCLEAN : 1;
	cache_read_end(slot);
	if (r == 1) {
		if (ret_ino)
			*ret_ino = ino;
		if (ret_attr)
			*ret_attr = a;
	}
	return r;
}

/*
 * The whole entry of @ino, whose entry record (@ent, already validated: @a)
 * says it is (@parent, @name). The inode record must agree. 1 or -EUCLEAN.
 */
static int entry_get(struct cache *c, MDB_txn *txn, uint64_t ino, const struct cache_attr *a,
		     uint64_t parent, const char *name, size_t name_len, struct cache_entry *ret)
{
	unsigned char k[8];
	struct inorec ir;
	MDB_val v;
	int r;

	cache_put_be64(k, ino);
	r = cache_get_raw(txn, c->dbi[DBI_INODES], k, 8, &v);
	if (r < 0)
		return r;
	if (r == 0 || inorec_decode(&v, &ir) < 0 || ir.parent != parent ||
	    ir.name_len != name_len || memcmp(ir.name, name, name_len) != 0) {
		log_error(CACHE_LOG, "inode %llu: entry and inode records disagree",
			  (unsigned long long)ino);
		return -EUCLEAN;
	}
	entry_fill(ret, ino, a, &ir);
	return 1;
}

int cache_lookup_entry(struct cache *c, uint64_t parent, const char *name,
		       struct cache_entry *ret_entry)
{
	unsigned char k[DIRKEY_MAX];
	struct cache_rslot *slot;
	struct cache_attr a;
	size_t name_len;
	uint64_t ino;
	MDB_txn *txn;
	MDB_val v;
	int r;

	if (!c || !name || !ret_entry)
		return -EINVAL;
	name_len = strnlen(name, CACHE_NAME_MAX + 1);
	if (name_len == 0 || name_len > CACHE_NAME_MAX)
		return 0;
	dirkey(k, parent, name, name_len);
	r = cache_read_begin(c, &txn, &slot);
	if (r < 0)
		return r;
	r = cache_get_raw(txn, c->dbi[DBI_DIRENTS], k, 8 + name_len, &v);
	if (r == 1 && (r = ent_decode_attr(&v, &ino, &a)) == 0)
		r = entry_get(c, txn, ino, &a, parent, name, name_len, ret_entry);
	cache_read_end(slot);
	return r;
}

int cache_get(struct cache *c, uint64_t ino, struct cache_entry *ret_entry)
{
	unsigned char k[8], dk[DIRKEY_MAX];
	struct cache_rslot *slot;
	struct cache_attr a;
	struct inorec ir;
	uint64_t ent_ino;
	MDB_txn *txn;
	MDB_val v;
	int r;

	if (!c || !ret_entry)
		return -EINVAL;
	if (ino == CACHE_ROOT_INO || ino == 0)
		return 0;
	cache_put_be64(k, ino);
	r = cache_read_begin(c, &txn, &slot);
	if (r < 0)
		return r;
	r = cache_get_raw(txn, c->dbi[DBI_INODES], k, 8, &v);
	if (r == 1 && (r = inorec_decode(&v, &ir)) == 0) {
		r = cache_get_raw(txn, c->dbi[DBI_DIRENTS], dk,
				  dirkey(dk, ir.parent, ir.name, ir.name_len), &v);
		if (r == 0) {
			log_error(CACHE_LOG, "inode %llu has no directory entry",
				  (unsigned long long)ino);
			r = -EUCLEAN;
		}
		if (r == 1 && ent_decode_attr(&v, &ent_ino, &a) < 0)
			r = -EUCLEAN;
		if (r == 1 && ent_ino != ino)
			r = -EUCLEAN;
		if (r == 1)
			entry_fill(ret_entry, ino, &a, &ir);
	}
	cache_read_end(slot);
	return r;
}

int cache_dir_state(struct cache *c, uint64_t ino, struct cache_dirstate *ret_state)
{
	struct cache_rslot *slot;
	struct cache_dirstate s;
	MDB_txn *txn;
	int r;

	if (!c || !ret_state)
		return -EINVAL;
	r = cache_read_begin(c, &txn, &slot);
	if (r < 0)
		return r;
	r = dirstate_get(c, txn, ino, &s);
	cache_read_end(slot);
	if (r >= 0)
		*ret_state = s;
	return r;
}

int cache_dir_state_many(struct cache *c, const uint64_t *inos, size_t n,
			 struct cache_dirstate *ret_states)
{
	struct cache_rslot *slot;
	MDB_txn *txn;
	int r, found = 0;

	if (!c || (n && (!inos || !ret_states)) || n > INT_MAX)
		return -EINVAL;
	if (n == 0)
		return 0;
	r = cache_read_begin(c, &txn, &slot);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = dirstate_get(c, txn, inos[i], &ret_states[i]);
		if (r < 0)
			break;
		found += r;
	}
	cache_read_end(slot);
	return r < 0 ? r : found;
}

struct dir_priv {
	struct cache_dir pub;
	struct arena names;
	size_t cap;
	int64_t *offs;
};

void cache_dir_free(struct cache_dir *d)
{
	struct dir_priv *p = (struct dir_priv *)d;

	if (!p)
		return;
	free(p->pub.v);
	free(p->names.p);
	free(p->offs);
	free(p);
}

int cache_readdir(struct cache *c, uint64_t parent, const char *after, size_t max,
		  struct cache_dir **ret_dir)
{
	unsigned char k[DIRKEY_MAX];
	struct cache_rslot *slot;
	struct dir_priv *d;
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_val key, val;
	size_t after_len = 0;
	int r, rc;

	if (!c || !ret_dir)
		return -EINVAL;
	if (after) {
		after_len = strnlen(after, CACHE_NAME_MAX + 1);
		if (after_len > CACHE_NAME_MAX)
			return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->pub.parent = parent;
	key.mv_data = k;
	key.mv_size = dirkey(k, parent, after ? after : "", after_len);

	r = cache_read_begin(c, &txn, &slot);
	if (r < 0) {
		free(d);
		return r;
	}
	r = dirstate_get(c, txn, parent, &d->pub.state);
	if (r < 0)
		goto out;
	/* size the arrays from the directory's own count */
	if (d->pub.state.n_children) {
		size_t hint = max && max < d->pub.state.n_children ? max : d->pub.state.n_children;

		r = grow((void **)&d->pub.v, &d->cap, hint + 1, sizeof(*d->pub.v));
		if (r < 0)
			goto out;
	}
	rc = mdb_cursor_open(txn, c->dbi[DBI_DIRENTS], &cur);
	if (rc) {
		r = cache_errno_from_mdb(rc);
		goto out;
	}
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	if (rc == 0 && after && key.mv_size == 8 + after_len &&
	    memcmp(key.mv_data, k, key.mv_size) == 0)
		rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	d->pub.is_end = true;
	for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		struct cache_dirent *e;
		int64_t off;

		if (key.mv_size <= 8 || memcmp(key.mv_data, k, 8) != 0)
			break;
		if (max && d->pub.n == max) {
			d->pub.is_end = false;
			break;
		}
		r = grow((void **)&d->pub.v, &d->cap, d->pub.n + 1, sizeof(*d->pub.v));
		if (r < 0)
			goto out;
		e = &d->pub.v[d->pub.n];
		r = ent_decode_attr(&val, &e->ino, &e->attr);
		if (r < 0)
			goto out;
		e->name_len = (uint32_t)(key.mv_size - 8);
		off = arena_add(&d->names, (const char *)key.mv_data + 8, e->name_len);
		if (off < 0) {
			r = -ENOMEM;
			goto out;
		}
		e->name = (const char *)(intptr_t)off;	/* fixed up below */
		d->pub.n++;
	}
	if (rc && rc != MDB_NOTFOUND) {
		r = cache_errno_from_mdb(rc);
		goto out;
	}
	r = 0;
out:
	if (cur)
		mdb_cursor_close(cur);
	cache_read_end(slot);
	if (r < 0) {
		cache_dir_free(&d->pub);
		return r;
	}
	for (size_t i = 0; i < d->pub.n; i++)
		d->pub.v[i].name = d->names.p + (intptr_t)d->pub.v[i].name;
	*ret_dir = &d->pub;
	return 0;
}

/* ---- writes: inode allocation ---- */

struct ino_ctx {
	const char *key;
	uint64_t ino;
};

static int ino_get_fn(struct cache *c, MDB_txn *txn, void *ctx)
{
	struct ino_ctx *x = ctx;
	uint64_t next;
	int r = cache_counter_get(c, txn, "next_ino", &next), created;

	if (r < 0)
		return r;
	created = key_to_ino(c, txn, x->key, &next, &x->ino);
	if (created == 1)
		r = cache_counter_set(c, txn, "next_ino", next);
	return r < 0 ? r : created;
}

int cache_ino_get(struct cache *c, const char *key, uint64_t *ret_ino)
{
	struct ino_ctx x = { .key = key };
	int r;

	if (!c || !ret_ino || cache_check_str(key, CACHE_KEY_MAX, false) < 0)
		return -EINVAL;
	r = cache_ino_lookup(c, key, ret_ino);	/* the common case needs no writer */
	if (r != 0)
		return r < 0 ? r : 0;
	r = cache_write(c, ino_get_fn, &x);
	if (r >= 0)
		*ret_ino = x.ino;
	return r;
}

/* ---- writes: single children ---- */

struct put_ctx {
	uint64_t parent;
	const struct cache_child *ch;
	uint64_t ino;
};

static int put_child_fn(struct cache *c, MDB_txn *txn, void *ctx)
{
	struct put_ctx *x = ctx;
	const struct cache_child *ch = x->ch;
	unsigned char dk[DIRKEY_MAX], rec[ENT_MAX];
	char old_name[CACHE_NAME_MAX + 1];
	size_t name_len = strlen(ch->name), old_len, rec_len;
	uint64_t next, old_parent, other;
	int delta = 1, created = 1, r;
	MDB_val v;

	r = check_parent_dir(c, txn, x->parent);
	if (r < 0)
		return r;
	r = cache_counter_get(c, txn, "next_ino", &next);
	if (r < 0)
		return r;
	r = key_to_ino(c, txn, ch->key, &next, &x->ino);
	if (r < 0)
		return r;
	if (r == 1 && (r = cache_counter_set(c, txn, "next_ino", next)) < 0)
		return r;
	r = is_ancestor_or_self(c, txn, x->ino, x->parent);
	if (r != 0)
		return r < 0 ? r : -EINVAL;

	/* Where is this inode now? Take it out of there. */
	r = inorec_get(c, txn, x->ino, &old_parent, old_name, &old_len);
	if (r < 0)
		return r;
	if (r == 1) {
		if (old_parent == x->parent && old_len == name_len &&
		    memcmp(old_name, ch->name, name_len) == 0) {
			created = 0;
			delta = 0;
		} else {
			r = cache_del(txn, c->dbi[DBI_DIRENTS], dk,
				      dirkey(dk, old_parent, old_name, old_len));
			if (r < 0)
				return r;
			if (old_parent == x->parent) {
				created = 0;	/* renamed in place */
				delta = 0;
			} else if ((r = dir_bump(c, txn, old_parent, -1, NULL)) < 0) {
				return r;
			}
		}
	}
	/* Whoever else is called @name here goes, with its subtree. */
	dirkey(dk, x->parent, ch->name, name_len);
	r = cache_get_raw(txn, c->dbi[DBI_DIRENTS], dk, 8 + name_len, &v);
	if (r < 0)
		return r;
	if (r == 1) {
		struct cache_attr a;

		r = ent_decode_attr(&v, &other, &a);
		if (r < 0)
			return r;
		if (other != x->ino) {
			r = remove_entry(c, txn, x->parent, ch->name, name_len, other, a.kind);
			if (r < 0)
				return r;
			delta--;
		}
	}
	rec_len = ent_encode(rec, x->ino, &ch->attr);
	r = cache_put(txn, c->dbi[DBI_DIRENTS], dk, 8 + name_len, rec, rec_len, 0);
	if (r == 0)
		r = inorec_put(c, txn, x->ino, x->parent, ch->name, name_len, ch);
	if (r == 0)
		r = dir_bump(c, txn, x->parent, delta, NULL);
	return r < 0 ? r : created;
}

int cache_put_child(struct cache *c, uint64_t parent, const struct cache_child *child,
		    uint64_t *ret_ino)
{
	struct put_ctx x = { .parent = parent, .ch = child };
	int r;

	if (!c || !child || parent == 0 || check_child(child) < 0)
		return -EINVAL;
	r = cache_write(c, put_child_fn, &x);
	if (r >= 0 && ret_ino)
		*ret_ino = x.ino;
	return r;
}

struct rm_ctx {
	uint64_t parent;
	const char *name;
	uint64_t ino;
};

static int remove_child_fn(struct cache *c, MDB_txn *txn, void *ctx)
{
	struct rm_ctx *x = ctx;
	unsigned char dk[DIRKEY_MAX];
	size_t name_len = strlen(x->name);
	struct cache_attr a;
	MDB_val v;
	int r = cache_get_raw(txn, c->dbi[DBI_DIRENTS], dk, dirkey(dk, x->parent, x->name, name_len),
			      &v);

	if (r <= 0)
		return r;
	r = ent_decode_attr(&v, &x->ino, &a);
	if (r == 0)
		r = remove_entry(c, txn, x->parent, x->name, name_len, x->ino, a.kind);
	if (r == 0)
		r = dir_bump(c, txn, x->parent, -1, NULL);
	return r < 0 ? r : 1;
}

int cache_remove_child(struct cache *c, uint64_t parent, const char *name, uint64_t *ret_ino)
{
	struct rm_ctx x = { .parent = parent, .name = name };
	int r;

	if (!c || check_name(name) < 0)
		return -EINVAL;
	r = cache_write(c, remove_child_fn, &x);
	if (r == 1 && ret_ino)
		*ret_ino = x.ino;
	return r;
}

/* ---- writes: apply a fetched directory ---- */

enum apply_class {
	AC_SAME = 0,	/* identical record: nothing to write */
	AC_ATTR,	/* same name, record changed */
	AC_RENAMED,	/* same inode here, other name */
	AC_ADDED,
	AC_MOVED,	/* from another directory */
};

struct old_kid {
	uint64_t ino;
	uint32_t kind;
	bool seen;
	int64_t name, rec;	/* arena offsets */
	size_t name_len, rec_len;
};

struct apply_ctx {
	uint64_t parent;
	int64_t fetched_ns;
	const struct cache_child *ch;
	size_t n;

	/* per attempt */
	uint64_t *inos;
	uint8_t *cls;
	size_t *old_idx;
	struct old_kid *old;
	size_t n_old, cap_old;
	struct arena old_bytes;
	struct u64map old_map;
	struct chgset chg;
	uint64_t generation;
};

static void apply_reset(struct apply_ctx *x)
{
	x->n_old = 0;
	x->old_bytes.len = 0;
	if (x->old_map.keys)
		memset(x->old_map.keys, 0, x->old_map.cap * sizeof(*x->old_map.keys));
	x->chg.n = 0;
	x->chg.names.len = 0;
}

static int load_old(struct cache *c, MDB_txn *txn, struct apply_ctx *x)
{
	unsigned char k[8];
	MDB_cursor *cur;
	MDB_val key, val;
	int r = 0, rc;

	cache_put_be64(k, x->parent);
	key.mv_data = k;
	key.mv_size = 8;
	rc = mdb_cursor_open(txn, c->dbi[DBI_DIRENTS], &cur);
	if (rc)
		return cache_errno_from_mdb(rc);
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		struct old_kid *o;
		struct cache_attr a;

		if (key.mv_size <= 8 || memcmp(key.mv_data, k, 8) != 0)
			break;
		r = grow((void **)&x->old, &x->cap_old, x->n_old + 1, sizeof(*x->old));
		if (r < 0)
			break;
		o = &x->old[x->n_old];
		r = ent_decode_attr(&val, &o->ino, &a);
		if (r < 0)
			break;
		o->kind = a.kind;
		o->seen = false;
		o->name_len = key.mv_size - 8;
		o->rec_len = val.mv_size;
		/* copy: later writes in this txn may move the page under us */
		o->name = arena_add(&x->old_bytes, (const char *)key.mv_data + 8, o->name_len);
		o->rec = arena_add(&x->old_bytes, val.mv_data, val.mv_size);
		if (o->name < 0 || o->rec < 0) {
			r = -ENOMEM;
			break;
		}
		x->n_old++;
	}
	mdb_cursor_close(cur);
	if (r < 0)
		return r;
	if (rc && rc != MDB_NOTFOUND)
		return cache_errno_from_mdb(rc);
	return 0;
}

/*
 * Is the stored inode record of @ino @len bytes equal to @rec? 1, 0, -errno.
 * Through a cursor kept open across calls (*@cur, opened on first use):
 * siblings have neighbouring inodes, and a positioned cursor finds a key
 * on its current page without descending from the root.
 */
static int inorec_same(struct cache *c, MDB_txn *txn, MDB_cursor **cur, uint64_t ino,
		       const unsigned char *rec, size_t len)
{
	unsigned char k[8];
	MDB_val key = { .mv_size = 8, .mv_data = k }, v;
	int rc;

	if (!*cur && (rc = mdb_cursor_open(txn, c->dbi[DBI_INODES], cur)) != 0)
		return cache_errno_from_mdb(rc);
	cache_put_be64(k, ino);
	rc = mdb_cursor_get(*cur, &key, &v, MDB_SET);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return cache_errno_from_mdb(rc);
	return v.mv_size == len && memcmp(v.mv_data, rec, len) == 0;
}

/*
 * Apply one directory (x->parent, x->ch, x->n) inside @txn. The generation
 * guard was checked by the caller. Per-directory failures (-ENOENT,
 * -ENOTDIR, -EINVAL) may come after some writes: the caller then aborts
 * the (sub)transaction.
 */
static int apply_one(struct cache *c, MDB_txn *txn, struct apply_ctx *x)
{
	struct cache_dirstate st;
	unsigned char rec[ENT_MAX], dk[DIRKEY_MAX], irec[INOREC_MAX];
	MDB_cursor *icur = NULL;	/* on error, freed with the write txn */
	uint64_t next_ino, gen;
	int r;

	apply_reset(x);
	r = check_parent_dir(c, txn, x->parent);
	if (r < 0)
		return r;
	r = dirstate_get(c, txn, x->parent, &st);
	if (r < 0)
		return r;

	r = load_old(c, txn, x);
	if (r < 0)
		return r;
	if (!x->old_map.keys || x->old_map.cap < x->n_old * 2 + 1) {
		u64map_release(&x->old_map);
		r = u64map_init(&x->old_map, x->n_old);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < x->n_old; i++)
		u64map_add(&x->old_map, x->old[i].ino, i);

	/* 1. inodes and classification (reads, plus key allocation) */
	r = cache_counter_get(c, txn, "next_ino", &next_ino);
	if (r < 0)
		return r;
	for (size_t i = 0; i < x->n; i++) {
		const struct cache_child *ch = &x->ch[i];
		size_t oi, name_len = strlen(ch->name);

		r = key_to_ino(c, txn, ch->key, &next_ino, &x->inos[i]);
		if (r < 0)
			return r;
		if (u64map_get(&x->old_map, x->inos[i], &oi)) {
			struct old_kid *o = &x->old[oi];

			o->seen = true;
			x->old_idx[i] = oi;
			if (o->name_len == name_len &&
			    memcmp(x->old_bytes.p + o->name, ch->name, name_len) == 0) {
				size_t len = ent_encode(rec, x->inos[i], &ch->attr);

				x->cls[i] = len == o->rec_len &&
						    memcmp(rec, x->old_bytes.p + o->rec, len) == 0
					    ? AC_SAME
					    : AC_ATTR;
				if (x->cls[i] == AC_SAME) {
					/* ids and blob are in the inode record */
					r = inorec_same(c, txn, &icur, x->inos[i], irec,
							inorec_encode(irec, x->parent, ch->name,
								      name_len, ch));
					if (r < 0)
						return r;
					if (r == 0)
						x->cls[i] = AC_ATTR;
				}
			} else {
				x->cls[i] = AC_RENAMED;
			}
		} else {
			char old_name[CACHE_NAME_MAX + 1];
			size_t old_len;
			uint64_t old_parent;

			r = inorec_get(c, txn, x->inos[i], &old_parent, old_name, &old_len);
			if (r < 0)
				return r;
			x->cls[i] = AC_ADDED;
			if (r == 1 && old_parent != x->parent) {
				/* a directory cannot move into itself or below */
				r = is_ancestor_or_self(c, txn, x->inos[i], x->parent);
				if (r != 0)
					return r < 0 ? r : -EINVAL;
				x->cls[i] = AC_MOVED;
				r = cache_del(txn, c->dbi[DBI_DIRENTS], dk,
					      dirkey(dk, old_parent, old_name, old_len));
				if (r < 0)
					return r;
				r = dir_bump(c, txn, old_parent, -1, NULL);
				if (r < 0)
					return r;
				r = chg_add(&x->chg, CACHE_CHANGE_MOVED, x->inos[i], ch->name,
					    name_len, old_name, old_len, old_parent);
				if (r < 0)
					return r;
			}
		}
	}
	if (icur)
		mdb_cursor_close(icur);
	r = cache_counter_set(c, txn, "next_ino", next_ino);
	if (r < 0)
		return r;

	/* 2. deletions: children gone, and old names of renamed ones */
	for (size_t i = 0; i < x->n_old; i++) {
		struct old_kid *o = &x->old[i];
		const char *name = x->old_bytes.p + o->name;

		if (o->seen)
			continue;
		r = remove_entry(c, txn, x->parent, name, o->name_len, o->ino, o->kind);
		if (r < 0)
			return r;
		r = chg_add(&x->chg, CACHE_CHANGE_REMOVED, o->ino, name, o->name_len, NULL, 0, 0);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < x->n; i++) {
		struct old_kid *o;

		if (x->cls[i] != AC_RENAMED)
			continue;
		o = &x->old[x->old_idx[i]];
		r = cache_del(txn, c->dbi[DBI_DIRENTS], dk,
			      dirkey(dk, x->parent, x->old_bytes.p + o->name, o->name_len));
		if (r < 0)
			return r;
	}

	/* 3. writes */
	for (size_t i = 0; i < x->n; i++) {
		const struct cache_child *ch = &x->ch[i];
		size_t name_len = strlen(ch->name), len;
		unsigned int flags = x->cls[i] == AC_ATTR ? 0 : MDB_NOOVERWRITE;

#ifdef UNIT_TESTING
		if (cache_test_apply_hook && i == x->n / 2)
			cache_test_apply_hook(i, x->n);
#endif
		if (x->cls[i] == AC_SAME)
			continue;
		len = ent_encode(rec, x->inos[i], &ch->attr);
		r = cache_put(txn, c->dbi[DBI_DIRENTS], dk, dirkey(dk, x->parent, ch->name, name_len),
			      rec, len, flags);
		if (r == -EEXIST) {
			log_error(CACHE_LOG, "apply: name %s taken twice in inode %llu", ch->name,
				  (unsigned long long)x->parent);
			return -EINVAL;
		}
		if (r < 0)
			return r;
		r = inorec_put(c, txn, x->inos[i], x->parent, ch->name, name_len, ch);
		if (r < 0)
			return r;
		if (x->cls[i] == AC_ATTR) {
			r = chg_add(&x->chg, CACHE_CHANGE_ATTR, x->inos[i], ch->name, name_len, NULL,
				    0, 0);
		} else if (x->cls[i] == AC_RENAMED) {
			struct old_kid *o = &x->old[x->old_idx[i]];

			r = chg_add(&x->chg, CACHE_CHANGE_RENAMED, x->inos[i], ch->name, name_len,
				    x->old_bytes.p + o->name, o->name_len, 0);
		} else if (x->cls[i] == AC_ADDED) {
			r = chg_add(&x->chg, CACHE_CHANGE_ADDED, x->inos[i], ch->name, name_len,
				    NULL, 0, 0);
		}
		if (r < 0)
			return r;
	}

	/* 4. the directory's new state */
	r = cache_counter_get(c, txn, "next_gen", &gen);
	if (r < 0)
		return r;
	st.generation = gen;
	st.fetched_ns = x->fetched_ns;
	st.flags |= CACHE_DIR_COMPLETE;
	st.n_children = (uint32_t)x->n;
	r = cache_counter_set(c, txn, "next_gen", gen + 1);
	if (r == 0)
		r = dirstate_put(c, txn, x->parent, &st);
	x->generation = gen;
	return r;
}

/* ---- writes: apply several fetched directories in one transaction ---- */

/* Failures that concern one directory of a batch: it is skipped. */
static bool is_dir_error(int r)
{
	return r == -ESTALE || r == -ENOENT || r == -ENOTDIR || r == -EINVAL;
}

/* Checks that need no transaction. 0, -EINVAL, -ENOMEM. */
static int check_apply(const struct cache_apply *d)
{
	int r;

	if (d->parent == 0 || (d->n && !d->children) || d->n > UINT32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < d->n; i++) {
		if (check_child(&d->children[i]) < 0)
			return -EINVAL;
	}
	r = strings_unique(d->children, d->n, true);
	if (r == 0)
		r = strings_unique(d->children, d->n, false);
	return r;
}

struct many_ctx {
	const struct cache_apply *dirs;
	size_t n;
	int *pre;			/* result of check_apply() per directory */
	int *res;			/* per attempt */
	struct cache_changes **chg;	/* per attempt; NULL when not wanted */
	struct apply_ctx x;		/* scratch, reused for every directory */
};

static int many_fn(struct cache *c, MDB_txn *txn, void *ctx)
{
	struct many_ctx *m = ctx;
	struct apply_ctx *x = &m->x;
	int applied = 0, r;

	for (size_t i = 0; i < m->n; i++) {
		m->res[i] = m->pre[i];
		if (m->chg) {
			cache_changes_free(m->chg[i]);
			m->chg[i] = NULL;
		}
	}
	/* Every guard against the state before the batch: a directory that an
	 * earlier one of the same batch moved entries out of is not stale. */
	for (size_t i = 0; i < m->n; i++) {
		struct cache_dirstate st;

		if (m->res[i] < 0)
			continue;
		r = dirstate_get(c, txn, m->dirs[i].parent, &st);
		if (r < 0)
			return r;
		if (st.generation != m->dirs[i].expected_generation)
			m->res[i] = -ESTALE;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct cache_apply *d = &m->dirs[i];
		MDB_txn *sub = txn;
		int rc;

		if (m->res[i] < 0)
			continue;
		x->parent = d->parent;
		x->fetched_ns = d->fetched_ns;
		x->ch = d->children;
		x->n = d->n;
		/* A nested transaction per directory, so that one failing
		 * halfway is undone alone (no fsync: only the outer commit
		 * writes). Alone in the batch, the whole one is its own. */
		if (m->n > 1) {
			rc = mdb_txn_begin(c->env, txn, 0, &sub);
			if (rc)
				return cache_errno_from_mdb(rc);
		}
		r = apply_one(c, sub, x);
		if (sub != txn) {
			if (r < 0)
				mdb_txn_abort(sub);
			else if ((rc = mdb_txn_commit(sub)) != 0)
				r = cache_errno_from_mdb(rc);
		}
		if (r < 0) {
			if (m->n == 1 || !is_dir_error(r))
				return r;
			m->res[i] = r;
			continue;
		}
		if (m->chg) {
			r = chgset_export(&x->chg, d->parent, x->generation, &m->chg[i]);
			if (r < 0)
				return r;
		}
		applied++;
	}
	return applied;
}

int cache_dir_apply_many(struct cache *c, const struct cache_apply *dirs, size_t n,
			 int *ret_results, struct cache_changes **ret_changes)
{
	struct many_ctx m = { .dirs = dirs, .n = n };
	struct u64map seen = { 0 };
	size_t max_n = 0;
	int r;

	if (!c || (n && (!dirs || !ret_results)) || n > INT_MAX)
		return -EINVAL;
	if (n == 0)
		return 0;
	m.pre = calloc(n, sizeof(*m.pre));
	m.res = calloc(n, sizeof(*m.res));
	m.chg = ret_changes ? calloc(n, sizeof(*m.chg)) : NULL;
	if (!m.pre || !m.res || (ret_changes && !m.chg) || u64map_init(&seen, n) < 0) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		r = check_apply(&dirs[i]);
		if (r == -ENOMEM)
			goto out;
		/* a directory twice: the later ones are skipped */
		if (r == 0 && u64map_add(&seen, dirs[i].parent, i))
			r = -EINVAL;
		m.pre[i] = r;
		if (r == 0 && dirs[i].n > max_n)
			max_n = dirs[i].n;
	}
	m.x.inos = malloc((max_n ? max_n : 1) * sizeof(*m.x.inos));
	m.x.cls = malloc(max_n ? max_n : 1);
	m.x.old_idx = malloc((max_n ? max_n : 1) * sizeof(*m.x.old_idx));
	if (!m.x.inos || !m.x.cls || !m.x.old_idx) {
		r = -ENOMEM;
		goto out;
	}
	r = cache_write(c, many_fn, &m);
	if (n == 1 && is_dir_error(r)) {
		m.res[0] = r;	/* the batch was this directory: its txn was aborted */
		r = 0;
	}
	if (r >= 0) {
		memcpy(ret_results, m.res, n * sizeof(*m.res));
		if (ret_changes) {
			memcpy(ret_changes, m.chg, n * sizeof(*m.chg));
			free(m.chg);
			m.chg = NULL;
		}
	}
out:
	if (m.chg) {
		for (size_t i = 0; i < n; i++)
			cache_changes_free(m.chg[i]);
		free(m.chg);
	}
	free(m.pre);
	free(m.res);
	u64map_release(&seen);
	free(m.x.inos);
	free(m.x.cls);
	free(m.x.old_idx);
	free(m.x.old);
	free(m.x.old_bytes.p);
	u64map_release(&m.x.old_map);
	chgset_release(&m.x.chg);
	return r;
}

int cache_dir_apply(struct cache *c, uint64_t parent, uint64_t expected_generation,
		    int64_t fetched_ns, const struct cache_child *children, size_t n,
		    struct cache_changes **ret_changes)
{
	const struct cache_apply d = {
		.parent = parent,
		.expected_generation = expected_generation,
		.fetched_ns = fetched_ns,
		.children = children,
		.n = n,
	};
	struct cache_changes *ch = NULL;
	int res, r;

	r = cache_dir_apply_many(c, &d, 1, &res, ret_changes ? &ch : NULL);
	if (r < 0)
		return r;
	if (res < 0)
		return res;
	if (ret_changes)
		*ret_changes = ch;
	return 0;
}
