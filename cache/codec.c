/* SPDX-License-Identifier: Apache-2.0 */
/*
 * codec.c - bounded record encoding. Values are stored in host byte order
 * (the database never leaves this machine); keys whose order matters use
 * big-endian integers (see cache_put_be64()).
 */
#include <string.h>

#include "cache_i.h"

static void put(struct cbuf *b, const void *p, size_t len)
{
	if (b->overflow || len > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	if (len)
		memcpy(b->p + b->len, p, len);
	b->len += len;
}

void cbuf_u8(struct cbuf *b, uint8_t v) { put(b, &v, sizeof(v)); }
void cbuf_u16(struct cbuf *b, uint16_t v) { put(b, &v, sizeof(v)); }
void cbuf_u32(struct cbuf *b, uint32_t v) { put(b, &v, sizeof(v)); }
void cbuf_u64(struct cbuf *b, uint64_t v) { put(b, &v, sizeof(v)); }
void cbuf_bytes(struct cbuf *b, const void *p, size_t len) { put(b, p, len); }

void cbuf_str(struct cbuf *b, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len > UINT16_MAX) {
		b->overflow = true;
		return;
	}
	cbuf_u16(b, (uint16_t)len);
	put(b, s, len);
}

static const unsigned char *take(struct crd *r, size_t len)
{
	const unsigned char *p;

	if (r->bad || len > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += len;
	return p;
}

#define CRD_INT(name, type)                                  \
	type name(struct crd *r)                             \
	{                                                    \
		const unsigned char *p = take(r, sizeof(type)); \
		type v = 0;                                  \
		if (p)                                       \
			memcpy(&v, p, sizeof(v));            \
		return v;                                    \
	}

CRD_INT(crd_u8, uint8_t)
CRD_INT(crd_u16, uint16_t)
CRD_INT(crd_u32, uint32_t)
CRD_INT(crd_u64, uint64_t)

const unsigned char *crd_bytes(struct crd *r, size_t len)
{
	return take(r, len);
}

void crd_str(struct crd *r, char *dst, size_t max)
{
	uint16_t len = crd_u16(r);
	const unsigned char *p;

	dst[0] = '\0';
	if (r->bad)
		return;
	if (len > max) {
		r->bad = true;
		return;
	}
	p = take(r, len);
	if (!p)
		return;
	if (memchr(p, '\0', len)) {
		r->bad = true;
		return;
	}
	memcpy(dst, p, len);
	dst[len] = '\0';
}
