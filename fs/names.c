/* SPDX-License-Identifier: Apache-2.0 */
/*
 * names.c - entry names from ftrack names (see names.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "ftrackfs/util.h"

#define DIV_SLASH "\xe2\x88\x95"	/* U+2215 */

/* Length <= @max that does not cut a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	len = max;
	/* back off over continuation bytes, then drop the lead byte too */
	while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
		len--;
	return len;
}

size_t names_sanitize(const char *in, size_t in_len, char out[NAMES_BUF])
{
	size_t o = 0;
	bool cut = false;

	for (size_t i = 0; in && i < in_len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '\0')
			continue;
		if (c == '/') {
			if (o + 3 > NAMES_MAX) {
				cut = true;
				break;
			}
			memcpy(out + o, DIV_SLASH, 3);
			o += 3;
			continue;
		}
		if (o + 1 > NAMES_MAX) {
			cut = true;
			break;
		}
		out[o++] = (char)c;
	}
	if (cut && o > 0) {
		/* drop a UTF-8 sequence the cut left incomplete */
		size_t k = o;

		while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
			k--;
		if (k > 0 && (unsigned char)out[k - 1] >= 0xC0) {
			unsigned char lead = (unsigned char)out[k - 1];
			size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;

			if (o - (k - 1) < need)
				o = k - 1;
		}
	}
	out[o] = '\0';
	if (o == 0 || !strcmp(out, ".")) {
		memcpy(out, "_", 2);
		return 1;
	}
	if (!strcmp(out, "..")) {
		memcpy(out, "__", 3);
		return 2;
	}
	return o;
}

size_t names_version(long version, char out[NAMES_BUF])
{
	int n;

	if (version < 0)
		n = snprintf(out, NAMES_BUF, "v-%03ld", -version);
	else
		n = snprintf(out, NAMES_BUF, "v%03ld", version);
	return n < 0 ? 0 : (size_t)n;
}

static size_t join_sanitized(const char *a, const char *b, const char *c, const char *d, char out[NAMES_BUF])
{
	char tmp[4 * NAMES_BUF];
	int n = snprintf(tmp, sizeof(tmp), "%s%s%s%s", a ? a : "", b ? b : "", c ? c : "", d ? d : "");
	size_t len = n < 0 ? 0 : (size_t)n >= sizeof(tmp) ? sizeof(tmp) - 1 : (size_t)n;

	return names_sanitize(tmp, len, out);
}

static const char *dot_or_empty(const char *file_type)
{
	return file_type && *file_type && file_type[0] != '.' ? "." : "";
}

size_t names_component_file(const char *name, const char *file_type, char out[NAMES_BUF])
{
	return join_sanitized(name, dot_or_empty(file_type), file_type, NULL, out);
}

static bool all_digits(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

size_t names_sequence_member(const char *container, const char *member, int padding,
			     const char *file_type, char out[NAMES_BUF])
{
	char frame[64];
	char tail[NAMES_BUF + 4];

	if (all_digits(member) && strlen(member) < 40) {
		int pad = padding < 0 ? 0 : padding > 20 ? 20 : padding;
		size_t len = strlen(member);

		if ((size_t)pad > len) {
			memset(frame, '0', (size_t)pad - len);
			memcpy(frame + (size_t)pad - len, member, len + 1);
		} else {
			memcpy(frame, member, len + 1);
		}
		member = frame;
	}
	snprintf(tail, sizeof(tail), "%s%s", dot_or_empty(file_type), file_type ? file_type : "");
	return join_sanitized(container, ".", member, tail, out);
}

/* ---- disambiguation ---- */

static int cmp_entry(const void *a, const void *b)
{
	const struct names_entry *x = *(const struct names_entry *const *)a;
	const struct names_entry *y = *(const struct names_entry *const *)b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	return strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

static bool name_taken(struct names_entry **v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i]->name, name))
			return true;
	return false;
}

/* the ".ext" of @name if short and plausible, else NULL */
static const char *short_ext(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (!dot || dot == name || strlen(dot) > 12 || strlen(dot) < 2)
		return NULL;
	for (const char *p = dot + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return NULL;
	return dot;
}

static void make_suffixed(const char *base, bool keep_ext, const char *suffix, char out[NAMES_BUF])
{
	const char *ext = keep_ext ? short_ext(base) : NULL;
	size_t ext_len = ext ? strlen(ext) : 0;
	size_t stem_len = strlen(base) - ext_len;
	size_t suf_len = strlen(suffix);
	size_t room = NAMES_MAX - suf_len - 1 - ext_len;

	stem_len = utf8_cut(base, stem_len, room);
	memcpy(out, base, stem_len);
	out[stem_len] = '~';
	memcpy(out + stem_len + 1, suffix, suf_len);
	memcpy(out + stem_len + 1 + suf_len, ext ? ext : "", ext_len);
	out[stem_len + 1 + suf_len + ext_len] = '\0';
}

static void id_hex(const char *id, size_t max, char *out)
{
	size_t o = 0;

	for (; id && *id && o < max; id++)
		if (isalnum((unsigned char)*id))
			out[o++] = (char)tolower((unsigned char)*id);
	if (o == 0)
		out[o++] = '0';
	out[o] = '\0';
}

int names_disambiguate(struct names_entry *e, size_t n)
{
	struct names_entry **v;
	char orig[NAMES_BUF];

	if (n < 2)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = &e[i];
	qsort(v, n, sizeof(*v), cmp_entry);

	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && !strcmp(v[j]->name, v[i]->name))
			j++;
		/* v[i] (smallest id) keeps the name; rename v[i+1 .. j-1] */
		for (size_t k = i + 1; k < j; k++) {
			char hex[80], cand[NAMES_BUF];

			snprintf(orig, sizeof(orig), "%s", v[k]->name);
			id_hex(v[k]->id, 8, hex);
			make_suffixed(orig, v[k]->keep_ext, hex, cand);
			if (name_taken(v, n, cand)) {
				id_hex(v[k]->id, 64, hex);
				make_suffixed(orig, v[k]->keep_ext, hex, cand);
			}
			for (unsigned c = 2; name_taken(v, n, cand); c++) {
				char h2[100];

				snprintf(h2, sizeof(h2), "%s-%u", hex, c);
				make_suffixed(orig, v[k]->keep_ext, h2, cand);
			}
			memcpy(v[k]->name, cand, sizeof(cand));
		}
		i = j;
	}
	free(v);
	return 0;
}

bool names_is_probe(const char *name)
{
	static const char *const probes[] = {
		".hidden", ".directory", ".Trash", ".xdg-volume-info", "autorun.inf",
		"desktop.ini", "Desktop.ini", "Thumbs.db", ".DS_Store", ".directory.lock",
		"AutoRun.inf", "Autorun.inf",
	};

	if (!name)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
		if (!strcmp(name, probes[i]))
			return true;
	if (!strncmp(name, ".Trash-", 7))
		return true;
	if (!strncmp(name, "._", 2))		/* AppleDouble */
		return true;
	return false;
}
