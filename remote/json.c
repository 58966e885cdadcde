/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.c - validated parsing and typed extraction over cJSON.
 *
 * Design note: cJSON's own parser neither validates UTF-8 nor bounds its
 * recursion below CJSON_NESTING_LIMIT (1000 frames on a thread's stack), and
 * it turns "\u0000" into a silently truncated string. Replies are therefore
 * parsed here, in one strict pass that rejects all three as it goes (a
 * 10,000-deep reply stops at depth JSON_MAX_DEPTH + 1, long before the stack
 * matters), into ordinary cJSON nodes; see "the parser" below.
 * json_prescan() is the same set of checks without building anything.
 */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <time.h>

#include "ftrackfs/util.h"
#include "json_i.h"

/* Length of the UTF-8 sequence at @p (bytes left @n), 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		if (n < 2 || (p[1] & 0xc0) != 0x80)
			return 0;
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && p[1] < 0xa0)
			return 0;	/* overlong */
		if (c == 0xed && p[1] >= 0xa0)
			return 0;	/* UTF-16 surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && p[1] < 0x90)
			return 0;	/* overlong */
		if (c == 0xf4 && p[1] >= 0x90)
			return 0;	/* > U+10FFFF */
		return 4;
	}
	return 0;
}

int json_validate_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t k;

		if (p[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_seq(p + i, len - i);
		if (k == 0)
			return -EPROTO;
		i += k;
	}
	return 0;
}

int json_prescan(const char *s, size_t len, unsigned max_depth)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned depth = 0;
	bool in_str = false;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];

		if (c == 0)
			return -EPROTO;
		if (c >= 0x80) {
			size_t k = utf8_seq(p + i, len - i);

			if (k == 0)
				return -EPROTO;
			i += k;
			continue;
		}
		if (in_str) {
			if (c == '\\') {
				if (i + 1 >= len)
					return -EPROTO;
				if (p[i + 1] == 'u' && i + 5 < len && p[i + 2] == '0' &&
				    p[i + 3] == '0' && p[i + 4] == '0' && p[i + 5] == '0')
					return -EPROTO;
				i += 2;
				continue;
			}
			if (c == '"')
				in_str = false;
			i++;
			continue;
		}
		switch (c) {
		case '"':
			in_str = true;
			break;
		case '[':
		case '{':
			if (++depth > max_depth)
				return -EPROTO;
			break;
		case ']':
		case '}':
			if (depth == 0)
				return -EPROTO;
			depth--;
			break;
		default:
			break;
		}
		i++;
	}
	return 0;
}

/* ---- the parser ---------------------------------------------------------- */

/*
 * Design note: the parser below replaces "pre-scan, then cJSON_Parse". It
 * makes one pass that enforces everything the pre-scan did (strict UTF-8,
 * no NUL, no \u0000, depth <= JSON_MAX_DEPTH counted the same way, so the
 * recursion is bounded before it happens) plus RFC 8259's grammar (cJSON
 * was laxer: raw control characters in strings, any byte <= 0x20 as
 * whitespace, "+1"), and builds ordinary cJSON nodes, so every reader of
 * the tree is unchanged. Two allocation modes:
 *  - json_parse(): each node and string from cJSON_malloc(), a tree the
 *    caller cJSON_Delete()s, exactly as before;
 *  - json_doc_parse(): every node and string from one bump arena owned by
 *    the document, released in one go by json_doc_free(). A 50,000-entity
 *    reply is ~700,000 nodes: the arena removes ~1.4 million malloc/free
 *    calls and the malloc headers, and frees in microseconds.
 * Arena documents share keys and short strings (interned per document), so
 * their nodes must be treated as read-only and never given to cJSON_Delete().
 */

#define ARENA_ALIGN 8u
#define ARENA_MIN_CHUNK ((size_t)16 << 10)
#define ARENA_MAX_CHUNK ((size_t)32 << 20)
#define INTERN_BITS 9
#define INTERN_SLOTS (1u << INTERN_BITS)	/* direct-mapped */
#define INTERN_MAX_LEN 24

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
/* a poisoned gap after each allocation, so overruns still trip ASan */
#define ARENA_REDZONE 16u
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ARENA_REDZONE 0u
#endif

/* Chunks this big are mapped directly, in transparent huge pages where the
 * system allows them (madvise mode): a 20 MB reply then takes ~40 page
 * faults instead of ~20,000, which otherwise cost as much as the parse. */
#define ARENA_HUGE ((size_t)2 << 20)

struct arena_chunk {
	struct arena_chunk *next;
	size_t cap, used;
	size_t map_len;		/* 0: from malloc() */
	_Alignas(16) unsigned char data[];
};

struct intern_slot {
	const char *s;		/* NULL: empty */
	size_t len;
};

struct json_doc {
	cJSON *root;
	struct arena_chunk *chunks;	/* newest first */
	size_t next_cap;
	struct intern_slot *intern;	/* only while parsing */
};

static void *arena_alloc_slow(struct json_doc *d, size_t n)
{
	size_t cap = d->next_cap;
	struct arena_chunk *c;

	if (cap < n)
		cap = n;
	if (cap > SIZE_MAX - ARENA_HUGE - sizeof(*c))
		return NULL;
	if (sizeof(*c) + cap >= ARENA_HUGE) {
		size_t len = (sizeof(*c) + cap + ARENA_HUGE - 1) & ~(ARENA_HUGE - 1);
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			return NULL;
		(void)madvise(m, len, MADV_HUGEPAGE);	/* advice only: EINVAL without THP */
		c = m;
		c->map_len = len;
		cap = len - sizeof(*c);
	} else {
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->map_len = 0;
	}
	c->cap = cap;
	c->used = n;
	c->next = d->chunks;
	d->chunks = c;
	if (d->next_cap < ARENA_MAX_CHUNK)
		d->next_cap *= 2;
	ASAN_POISON_MEMORY_REGION(c->data, cap);
	ASAN_UNPOISON_MEMORY_REGION(c->data, n - ARENA_REDZONE);
	return c->data;
}

/* @n bytes aligned to ARENA_ALIGN, uninitialised; NULL when out of memory. */
static void *arena_alloc(struct json_doc *d, size_t n)
{
	struct arena_chunk *c = d->chunks;
	void *p;

	if (n > SIZE_MAX / 2)
		return NULL;
	n = (n + ARENA_REDZONE + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (!c || c->cap - c->used < n)
		return arena_alloc_slow(d, n);
	p = c->data + c->used;
	c->used += n;
	ASAN_UNPOISON_MEMORY_REGION(p, n - ARENA_REDZONE);
	return p;
}

struct parser {
	const unsigned char *p, *end;
	struct json_doc *doc;	/* NULL: cJSON_malloc() mode */
	unsigned depth;
};

static void *p_alloc(struct parser *ps, size_t n)
{
	return ps->doc ? arena_alloc(ps->doc, n) : cJSON_malloc(n);
}

static cJSON *p_node(struct parser *ps, int type)
{
	cJSON *n = p_alloc(ps, sizeof(*n));

	if (n) {
		memset(n, 0, sizeof(*n));
		n->type = type;
	}
	return n;
}

static inline void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
		ps->p++;
}

/* 1 for bytes that end the plain run of a string: '"', '\\', controls, non-ASCII. */
static const unsigned char str_special[256] = {
	[0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1,
};

static int hex4(const unsigned char *p, unsigned *ret)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -EPROTO;
	}
	*ret = v;
	return 0;
}

/* Decode the escaped string body [s, e) into @out; returns bytes written or -EPROTO. */
static ssize_t unescape(const unsigned char *s, const unsigned char *e, char *out)
{
	char *o = out;

	while (s < e) {
		unsigned cp, lo;

		if (*s != '\\') {
			*o++ = (char)*s++;
			continue;
		}
		s++;		/* the scan guaranteed a byte after each backslash */
		switch (*s++) {
		case '"':  *o++ = '"'; continue;
		case '\\': *o++ = '\\'; continue;
		case '/':  *o++ = '/'; continue;
		case 'b':  *o++ = '\b'; continue;
		case 'f':  *o++ = '\f'; continue;
		case 'n':  *o++ = '\n'; continue;
		case 'r':  *o++ = '\r'; continue;
		case 't':  *o++ = '\t'; continue;
		case 'u':  break;
		default:   return -EPROTO;
		}
		if (e - s < 4 || hex4(s, &cp) < 0)
			return -EPROTO;
		s += 4;
		if (cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff))
			return -EPROTO;	/* \u0000 would truncate; a lone low surrogate */
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (e - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &lo) < 0 ||
			    lo < 0xdc00 || lo > 0xdfff)
				return -EPROTO;
			s += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		if (cp < 0x80) {
			*o++ = (char)cp;
		} else if (cp < 0x800) {
			*o++ = (char)(0xc0 | (cp >> 6));
			*o++ = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			*o++ = (char)(0xe0 | (cp >> 12));
			*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
			*o++ = (char)(0x80 | (cp & 0x3f));
		} else {
			*o++ = (char)(0xf0 | (cp >> 18));
			*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
			*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
			*o++ = (char)(0x80 | (cp & 0x3f));
		}
	}
	return o - out;
}

/* Slot of a string of <= INTERN_MAX_LEN bytes: its first and last 8 bytes
 * and its length, multiplied into the top bits. A collision only costs a
 * copy (the slot is overwritten; lookups compare the bytes). */
static size_t intern_index(const unsigned char *s, size_t len)
{
	uint64_t head = 0, tail = 0, h;

	memcpy(&head, s, len < 8 ? len : 8);
	if (len > 8)
		memcpy(&tail, s + len - 8, 8);
	h = (head ^ (tail * 0xc2b2ae3d27d4eb4fULL) ^ len) * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> (64 - INTERN_BITS));
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/*
 * Non-zero when any of the 8 bytes in @w is '"', '\\', < 0x20 or >= 0x80
 * (the bytes str_special[] marks). The "less than" test may also flag bytes
 * above a flagged one (borrow), never a block without one: exact enough
 * to decide that a whole block is plain.
 */
static inline uint64_t block_special(uint64_t w)
{
	uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');

	/* a byte >= 0x80 is flagged by w itself, so w - 0x20.. needs no & ~w */
	return (((q - ONES) & ~q) | ((b - ONES) & ~b) | (w - ONES * 0x20) | w) & HIGHS;
}

/* The string at ps->p (just past its opening quote) as a NUL-terminated copy. */
static int parse_string(struct parser *ps, char **ret)
{
	const unsigned char *s = ps->p, *q = s, *end = ps->end;
	struct intern_slot *slot = NULL;
	bool escaped = false;
	size_t raw;
	char *out;

	for (;;) {
		uint64_t w;

		/* eight plain bytes at a time, then byte by byte to the special one */
		while (end - q >= 8 && (memcpy(&w, q, 8), !block_special(w)))
			q += 8;
		while (q < end && !str_special[*q])
			q++;
		if (q >= end)
			return -EPROTO;
		if (*q == '"')
			break;
		if (*q == '\\') {
			if (end - q < 2)
				return -EPROTO;
			escaped = true;
			q += 2;
		} else if (*q >= 0x80) {
			size_t k = utf8_seq(q, (size_t)(end - q));

			if (k == 0)
				return -EPROTO;
			q += k;
		} else {
			return -EPROTO;	/* NUL or another raw control character */
		}
	}
	raw = (size_t)(q - s);
	ps->p = q + 1;
	if (ps->doc && !escaped && raw <= INTERN_MAX_LEN) {
		slot = &ps->doc->intern[intern_index(s, raw)];
		if (slot->s && slot->len == raw && memcmp(slot->s, s, raw) == 0) {
			*ret = (char *)slot->s;
			return 0;
		}
	}
	out = p_alloc(ps, raw + 1);
	if (!out)
		return -ENOMEM;
	if (escaped) {
		ssize_t n = unescape(s, q, out);

		if (n < 0) {
			if (!ps->doc)
				cJSON_free(out);
			return (int)n;
		}
		out[n] = '\0';
	} else {
		memcpy(out, s, raw);
		out[raw] = '\0';
		if (slot) {
			slot->s = out;
			slot->len = raw;
		}
	}
	*ret = out;
	return 0;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* A number by RFC 8259's grammar, into @n (as cJSON fills valuedouble/valueint). */
static int parse_number(struct parser *ps, cJSON *n)
{
	const unsigned char *s = ps->p, *q = s, *end = ps->end;
	bool simple = true, neg = false;
	double d;

	if (*q == '-') {
		neg = true;
		q++;
	}
	if (q < end && *q == '0') {
		q++;
	} else if (q < end && *q >= '1' && *q <= '9') {
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	} else {
		return -EPROTO;
	}
	if (q < end && *q == '.') {
		simple = false;
		if (++q >= end || *q < '0' || *q > '9')
			return -EPROTO;
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		simple = false;
		if (++q < end && (*q == '+' || *q == '-'))
			q++;
		if (q >= end || *q < '0' || *q > '9')
			return -EPROTO;
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	}
	if (simple && q - s - neg <= 15) {
		/* at most 15 digits: exact in an int64 and in a double */
		int64_t v = 0;

		for (const unsigned char *c = s + neg; c < q; c++)
			v = v * 10 + (*c - '0');
		d = neg ? -(double)v : (double)v;
	} else {
		char buf[64], *after;

		if (q - s >= (ptrdiff_t)sizeof(buf))
			return -EPROTO;	/* cJSON's limit too */
		memcpy(buf, s, (size_t)(q - s));
		buf[q - s] = '\0';
		pthread_once(&c_locale_once, c_locale_init);
		if (c_locale == (locale_t)0)
			return -ENOMEM;
		d = strtod_l(buf, &after, c_locale);
		if (after != buf + (q - s))
			return -EPROTO;
	}
	n->valuedouble = d;
	if (d >= INT_MAX)
		n->valueint = INT_MAX;
	else if (d <= (double)INT_MIN)
		n->valueint = INT_MIN;
	else
		n->valueint = (int)d;
	ps->p = q;
	return 0;
}

static int parse_value(struct parser *ps, cJSON *n);

/* Append @child to container @parent, keeping cJSON's list invariants
 * (head->prev is the tail). @tail tracks the last child. */
static inline void append(cJSON *parent, cJSON **tail, cJSON *child)
{
	if (!*tail) {
		parent->child = child;
	} else {
		(*tail)->next = child;
		child->prev = *tail;
	}
	parent->child->prev = child;
	*tail = child;
}

static int parse_container(struct parser *ps, cJSON *n, bool is_object)
{
	unsigned char close = is_object ? '}' : ']';
	cJSON *tail = NULL;
	int r;

	if (++ps->depth > JSON_MAX_DEPTH)
		return -EPROTO;
	n->type = is_object ? cJSON_Object : cJSON_Array;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		cJSON *c = p_node(ps, cJSON_Invalid);

		if (!c)
			return -ENOMEM;
		append(n, &tail, c);	/* linked first: a failure frees it with the tree */
		if (is_object) {
			if (ps->p >= ps->end || *ps->p != '"')
				return -EPROTO;
			ps->p++;
			r = parse_string(ps, &c->string);
			if (r < 0)
				return r;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return -EPROTO;
			ps->p++;
			skip_ws(ps);
		}
		r = parse_value(ps, c);
		if (r < 0)
			return r;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return -EPROTO;
		if (*ps->p == close) {
			ps->p++;
			ps->depth--;
			return 0;
		}
		if (*ps->p != ',')
			return -EPROTO;
		ps->p++;
		skip_ws(ps);
	}
}

/* The value at ps->p (no leading whitespace) into node @n. */
static int parse_value(struct parser *ps, cJSON *n)
{
	size_t left = (size_t)(ps->end - ps->p);

	if (left == 0)
		return -EPROTO;
	switch (*ps->p) {
	case '{':
		return parse_container(ps, n, true);
	case '[':
		return parse_container(ps, n, false);
	case '"':
		n->type = cJSON_String;
		ps->p++;
		return parse_string(ps, &n->valuestring);
	case 't':
		if (left < 4 || memcmp(ps->p, "true", 4) != 0)
			return -EPROTO;
		n->type = cJSON_True;
		n->valueint = 1;
		ps->p += 4;
		return 0;
	case 'f':
		if (left < 5 || memcmp(ps->p, "false", 5) != 0)
			return -EPROTO;
		n->type = cJSON_False;
		ps->p += 5;
		return 0;
	case 'n':
		if (left < 4 || memcmp(ps->p, "null", 4) != 0)
			return -EPROTO;
		n->type = cJSON_NULL;
		ps->p += 4;
		return 0;
	default:
		n->type = cJSON_Number;
		return parse_number(ps, n);
	}
}

static int parse_all(struct parser *ps, cJSON **ret)
{
	cJSON *root;
	int r;

	if (!ps->p || ps->p == ps->end)
		return -EPROTO;
	root = p_node(ps, cJSON_Invalid);
	if (!root)
		return -ENOMEM;
	skip_ws(ps);
	r = parse_value(ps, root);
	if (r == 0) {
		skip_ws(ps);
		if (ps->p != ps->end)
			r = -EPROTO;	/* one value plus whitespace, nothing more */
	}
	if (r < 0) {
		if (!ps->doc)
			cJSON_Delete(root);
		return r;
	}
	*ret = root;
	return 0;
}

/*
 * Errors are -EPROTO for bad input. Out of memory is -EPROTO too for this
 * historical entry point (callers map it so); json_doc_parse() says -ENOMEM.
 */
int json_parse(const char *s, size_t len, cJSON **ret)
{
	struct parser ps = { .p = (const unsigned char *)s, .end = (const unsigned char *)s + len };
	int r;

	if (!s)
		return -EPROTO;
	r = parse_all(&ps, ret);
	return r < 0 ? -EPROTO : 0;
}

int json_doc_parse(const char *s, size_t len, struct json_doc **ret_doc)
{
	struct intern_slot intern[INTERN_SLOTS] = { { 0 } };
	struct parser ps = { .p = (const unsigned char *)s, .end = (const unsigned char *)s + len };
	struct json_doc *d;
	cJSON *root;
	int r;

	if (!s || len == 0)
		return -EPROTO;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	/* nodes take ~3 bytes per byte of entity JSON; start near that */
	d->next_cap = len < ARENA_MAX_CHUNK / 4 ? 4 * len : ARENA_MAX_CHUNK;
	if (d->next_cap < ARENA_MIN_CHUNK)
		d->next_cap = ARENA_MIN_CHUNK;
	d->intern = intern;
	ps.doc = d;
	r = parse_all(&ps, &root);
	d->intern = NULL;
	if (r < 0) {
		json_doc_free(d);
		return r;
	}
	d->root = root;
	*ret_doc = d;
	return 0;
}

cJSON *json_doc_root(const struct json_doc *d)
{
	return d ? d->root : NULL;
}

void json_doc_free(struct json_doc *d)
{
	struct arena_chunk *c, *next;

	if (!d)
		return;
	for (c = d->chunks; c; c = next) {
		next = c->next;
		ASAN_UNPOISON_MEMORY_REGION(c->data, c->cap);
		if (c->map_len)
			munmap(c, c->map_len);
		else
			free(c);
	}
	free(d);
}

int json_value_str(const cJSON *v, const char **ret)
{
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || !v->valuestring)
		return -EPROTO;
	*ret = v->valuestring;
	return 1;
}

int json_value_int(const cJSON *v, int64_t *ret)
{
	double d;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v))
		return -EPROTO;
	d = v->valuedouble;
	/* doubles are exact only below 2^53; reject fractions and non-finite */
	if (!isfinite(d) || fabs(d) >= 0x1p53 || d != trunc(d))
		return -EPROTO;
	*ret = (int64_t)d;
	return 1;
}

int json_get_str(const cJSON *obj, const char *key, const char **ret)
{
	if (!cJSON_IsObject(obj))
		return -EPROTO;
	return json_value_str(json_item(obj, key), ret);
}

int json_get_int(const cJSON *obj, const char *key, int64_t *ret)
{
	if (!cJSON_IsObject(obj))
		return -EPROTO;
	return json_value_int(json_item(obj, key), ret);
}

int json_get_double(const cJSON *obj, const char *key, double *ret)
{
	const cJSON *v;

	if (!cJSON_IsObject(obj))
		return -EPROTO;
	v = json_item(obj, key);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return -EPROTO;
	*ret = v->valuedouble;
	return 1;
}

int json_get_bool(const cJSON *obj, const char *key, bool *ret)
{
	const cJSON *v;

	if (!cJSON_IsObject(obj))
		return -EPROTO;
	v = json_item(obj, key);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return -EPROTO;
	*ret = cJSON_IsTrue(v);
	return 1;
}

int json_dup_str(const cJSON *obj, const char *key, char **ret)
{
	const char *s;
	char *d;
	int r = json_get_str(obj, key, &s);

	if (r <= 0)
		return r;
	d = strdup(s);
	if (!d)
		return -ENOMEM;
	*ret = d;
	return 1;
}

/* Parse exactly @n decimal digits at @s. */
static int digits(const char *s, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EPROTO;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

int json_parse_time(const char *s, int64_t *ret_ns)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
	int64_t frac_ns = 0;
	struct tm tm = { 0 };
	const char *p;
	time_t t;

	if (!s || strnlen(s, 64) < 10)
		return -EPROTO;
	if (digits(s, 4, &y) < 0 || s[4] != '-' || digits(s + 5, 2, &mo) < 0 || s[7] != '-' ||
	    digits(s + 8, 2, &d) < 0)
		return -EPROTO;
	/* int64 nanoseconds reach from 1677 to 2262 */
	if (y < 1900 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return -EPROTO;
	p = s + 10;
	if (*p == 'T' || *p == ' ') {
		if (strnlen(p, 16) < 9 || digits(p + 1, 2, &h) < 0 || p[3] != ':' ||
		    digits(p + 4, 2, &mi) < 0 || p[6] != ':' || digits(p + 7, 2, &sec) < 0)
			return -EPROTO;
		if (h > 23 || mi > 59 || sec > 60)
			return -EPROTO;
		p += 9;
		if (*p == '.') {
			int64_t scale = 100000000;
			int n = 0;

			p++;
			while (*p >= '0' && *p <= '9') {
				if (n < 9) {
					frac_ns += (*p - '0') * scale;
					scale /= 10;
				}
				p++;
				n++;
			}
			if (n == 0 || n > 12)
				return -EPROTO;
		}
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh, om, sign = *p == '-' ? -1 : 1;

			if (strnlen(p, 8) < 6 || digits(p + 1, 2, &oh) < 0 || p[3] != ':' ||
			    digits(p + 4, 2, &om) < 0 || oh > 23 || om > 59)
				return -EPROTO;
			off = sign * (oh * 3600 + om * 60);
			p += 6;
		}
	}
	if (*p != '\0')
		return -EPROTO;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1 && y != 1969)
		return -EPROTO;
	*ret_ns = ((int64_t)t - off) * 1000000000LL + frac_ns;
	return 0;
}

int json_format_time(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return -EINVAL;
	if (strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return -ENOBUFS;
	return 0;
}

int json_print(const cJSON *v, char **ret, size_t *ret_len)
{
	char *s = cJSON_PrintUnformatted(v);

	if (!s)
		return -ENOMEM;
	*ret = s;
	if (ret_len)
		*ret_len = strlen(s);
	return 0;
}
