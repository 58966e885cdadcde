/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_http_server.h - a tiny loopback HTTP/1.1 server on its own thread,
 * for unit tests of remote/ (the way curl tests against local servers).
 * Keep-alive is supported; each request goes to a handler that fills a
 * reply, which can also be a huge streamed body, a dropped connection or a
 * delay.
 */
#ifndef TEST_HTTP_SERVER_H
#define TEST_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct ths_request {
	char method[16];
	char path[8192];	/* with the query string */
	char headers[8192];	/* raw header block */
	char *body;		/* NUL-terminated */
	size_t body_len;
	unsigned index;		/* 0-based count of requests seen */
	unsigned conn_requests;	/* requests on this connection before this one */
};

struct ths_reply {
	int status;
	char extra_headers[512];	/* "Name: v\r\n"... */
	const char *body;		/* borrowed for the call */
	size_t body_len;		/* 0 with body: strlen */
	uint64_t stream_bytes;		/* >0: send this many '0' bytes (Content-Length set) */
	int chunked_stream;		/* with stream_bytes: chunked, no length */
	int drop;			/* close without replying */
	int truncate;			/* announce body_len + 100, send body_len, close */
	int delay_ms;
};

typedef void (*ths_handler)(const struct ths_request *req, struct ths_reply *reply, void *ud);

struct ths;

/* Start on 127.0.0.1, an ephemeral port. Returns NULL on failure. */
struct ths *ths_start(ths_handler fn, void *ud);
int ths_port(const struct ths *s);
/* "http://127.0.0.1:PORT" */
const char *ths_url(const struct ths *s);
unsigned ths_requests(const struct ths *s);
unsigned ths_connections(const struct ths *s);
void ths_stop(struct ths *s);

#endif
