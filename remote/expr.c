/* SPDX-License-Identifier: Apache-2.0 */
/*
 * expr.c - the query builder: values are always quoted and escaped.
 *
 * Design note: the server's tokenizer ends a quoted literal at the first
 * unescaped quote of its kind and treats a backslash as an escape, so a
 * value is safe when every `"`, `'` and `\` in it is preceded by a backslash
 * and it is wrapped in double quotes. Control characters and invalid UTF-8
 * are refused rather than escaped: no name needs them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftrackfs/ftrack.h"
#include "json_i.h"

#define EXPR_MAX ((size_t)1 << 20)

struct ftrack_expr {
	char *buf;
	size_t len, cap;
	int error;
};

bool ftrack_is_uuid(const char *s)
{
	if (!s)
		return false;
	for (int i = 0; i < FTRACK_ID_LEN; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
			return false;
		}
	}
	return s[FTRACK_ID_LEN] == '\0';
}

int ftrack_quote(const char *value, char *buf, size_t len)
{
	size_t o = 0, n;

	if (!value)
		return -EINVAL;
	n = strlen(value);
	if (json_validate_utf8(value, n) < 0)
		return -EINVAL;
	if (len < 3)
		return -ENOBUFS;
	buf[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c < 0x20 || c == 0x7f)
			return -EINVAL;
		if (c == '"' || c == '\'' || c == '\\') {
			if (o + 1 >= len)
				return -ENOBUFS;
			buf[o++] = '\\';
		}
		if (o + 1 >= len)
			return -ENOBUFS;
		buf[o++] = (char)c;
	}
	if (o + 2 > len)
		return -ENOBUFS;
	buf[o++] = '"';
	buf[o] = '\0';
	return o > INT32_MAX ? -E2BIG : (int)o;
}

int ftrack_expr_new(struct ftrack_expr **ret_e)
{
	struct ftrack_expr *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->cap = 256;
	e->buf = malloc(e->cap);
	if (!e->buf) {
		free(e);
		return -ENOMEM;
	}
	e->buf[0] = '\0';
	*ret_e = e;
	return 0;
}

void ftrack_expr_free(struct ftrack_expr *e)
{
	if (!e)
		return;
	free(e->buf);
	free(e);
}

static int reserve(struct ftrack_expr *e, size_t more)
{
	size_t cap;
	char *b;

	if (e->error)
		return e->error;
	if (more > EXPR_MAX - e->len)
		return e->error = -E2BIG;
	if (e->len + more + 1 <= e->cap)
		return 0;
	cap = e->cap;
	while (cap < e->len + more + 1)
		cap *= 2;
	b = realloc(e->buf, cap);
	if (!b)
		return e->error = -ENOMEM;
	e->buf = b;
	e->cap = cap;
	return 0;
}

static int append(struct ftrack_expr *e, const char *s, size_t n)
{
	int r = reserve(e, n);

	if (r < 0)
		return r;
	memcpy(e->buf + e->len, s, n);
	e->len += n;
	e->buf[e->len] = '\0';
	return 0;
}

int ftrack_expr_raw(struct ftrack_expr *e, const char *text)
{
	if (e->error)
		return e->error;
	if (!text)
		return e->error = -EINVAL;
	return append(e, text, strlen(text));
}

int ftrack_expr_str(struct ftrack_expr *e, const char *value)
{
	size_t n;
	int r;

	if (e->error)
		return e->error;
	if (!value)
		return e->error = -EINVAL;
	n = strlen(value);
	/* worst case: every byte escaped, plus quotes and NUL */
	if (n > EXPR_MAX / 2)
		return e->error = -E2BIG;
	r = reserve(e, 2 * n + 3);
	if (r < 0)
		return r;
	r = ftrack_quote(value, e->buf + e->len, e->cap - e->len);
	if (r < 0) {
		e->buf[e->len] = '\0';
		return e->error = r;
	}
	e->len += (size_t)r;
	return 0;
}

int ftrack_expr_uuid(struct ftrack_expr *e, const char *id)
{
	if (e->error)
		return e->error;
	if (!ftrack_is_uuid(id))
		return e->error = -EINVAL;
	append(e, "\"", 1);
	append(e, id, FTRACK_ID_LEN);
	return append(e, "\"", 1);
}

int ftrack_expr_uuid_list(struct ftrack_expr *e, const char *const *ids, size_t n)
{
	if (e->error)
		return e->error;
	if (n == 0 || !ids)
		return e->error = -EINVAL;
	append(e, "(", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			append(e, ", ", 2);
		ftrack_expr_uuid(e, ids[i]);
	}
	return append(e, ")", 1);
}

int ftrack_expr_int(struct ftrack_expr *e, int64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

	if (e->error)
		return e->error;
	return append(e, tmp, (size_t)n);
}

int ftrack_expr_get(const struct ftrack_expr *e, const char **ret_text)
{
	if (e->error)
		return e->error;
	*ret_text = e->buf;
	return 0;
}
