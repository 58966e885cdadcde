/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.c - validated parsing and typed extraction over cJSON.
 *
 * Design note: cJSON neither validates UTF-8 nor bounds its recursion below
 * CJSON_NESTING_LIMIT (1000 frames of parse_value on a thread's stack), and
 * it turns "\u0000" into a silently truncated string. One linear pre-scan of
 * the raw bytes rejects all three before cJSON sees them, so a 10,000-deep
 * reply costs one pass and no recursion at all.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
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

int json_parse(const char *s, size_t len, cJSON **ret)
{
	const char *end = NULL;
	cJSON *root;
	int r;

	if (!s || len == 0)
		return -EPROTO;
	r = json_prescan(s, len, JSON_MAX_DEPTH);
	if (r < 0)
		return r;
	root = cJSON_ParseWithLengthOpts(s, len, &end, false);
	if (!root)
		return -EPROTO;
	/* the whole buffer must be one value plus whitespace */
	while (end && end < s + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (!end || end != s + len) {
		cJSON_Delete(root);
		return -EPROTO;
	}
	*ret = root;
	return 0;
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
	return json_value_str(cJSON_GetObjectItemCaseSensitive(obj, key), ret);
}

int json_get_int(const cJSON *obj, const char *key, int64_t *ret)
{
	if (!cJSON_IsObject(obj))
		return -EPROTO;
	return json_value_int(cJSON_GetObjectItemCaseSensitive(obj, key), ret);
}

int json_get_double(const cJSON *obj, const char *key, double *ret)
{
	const cJSON *v;

	if (!cJSON_IsObject(obj))
		return -EPROTO;
	v = cJSON_GetObjectItemCaseSensitive(obj, key);
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
	v = cJSON_GetObjectItemCaseSensitive(obj, key);
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
