/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test_http_server.h"

struct ths {
	int fd;
	int port;
	char url[64];
	ths_handler fn;
	void *ud;
	pthread_t thr;
	atomic_int stop;
	atomic_uint n_requests;
	atomic_uint n_conns;
};

static int send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t k = send(fd, c, n, MSG_NOSIGNAL);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

static __thread atomic_int *stop_flag_of_thread;

/* recv() that gives up (as a close) when the server is stopping. */
static ssize_t recv_wait(int fd, char *p, size_t n)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, 50);

		if (r > 0)
			return recv(fd, p, n, 0);
		if (r < 0 && errno != EINTR)
			return -1;
		if (stop_flag_of_thread && atomic_load(stop_flag_of_thread))
			return 0;
	}
}

/* Read one request; 1 ok, 0 closed, -1 error. */
static int read_request(int fd, struct ths_request *rq, char **carry, size_t *carry_len)
{
	char *buf = *carry;
	size_t len = *carry_len, cap = len + 65536;
	char *hdr_end, *p;
	size_t hlen, clen = 0, need;

	buf = realloc(buf, cap);
	if (!buf)
		return -1;
	for (;;) {
		buf[len] = '\0';
		hdr_end = strstr(buf, "\r\n\r\n");
		if (hdr_end)
			break;
		if (len + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				return -1;
		}
		ssize_t k = recv_wait(fd, buf + len, cap - len - 1);
		if (k <= 0) {
			free(buf);
			*carry = NULL;
			*carry_len = 0;
			return k == 0 ? 0 : -1;
		}
		len += (size_t)k;
	}
	hlen = (size_t)(hdr_end - buf) + 4;
	sscanf(buf, "%15s %8191s", rq->method, rq->path);
	snprintf(rq->headers, sizeof(rq->headers), "%.*s", (int)hlen, buf);
	p = strcasestr(rq->headers, "\r\ncontent-length:");
	if (p)
		clen = strtoul(p + 17, NULL, 10);
	need = hlen + clen;
	while (len < need) {
		if (need + 1 > cap) {
			cap = need + 1;
			buf = realloc(buf, cap);
			if (!buf)
				return -1;
		}
		ssize_t k = recv_wait(fd, buf + len, cap - len - 1);
		if (k <= 0) {
			free(buf);
			*carry = NULL;
			*carry_len = 0;
			return -1;
		}
		len += (size_t)k;
	}
	rq->body = malloc(clen + 1);
	memcpy(rq->body, buf + hlen, clen);
	rq->body[clen] = '\0';
	rq->body_len = clen;
	memmove(buf, buf + need, len - need);
	*carry = buf;
	*carry_len = len - need;
	return 1;
}

static void serve_conn(struct ths *s, int fd)
{
	char *carry = NULL;
	size_t carry_len = 0;
	unsigned conn_n = 0;

	atomic_fetch_add(&s->n_conns, 1);
	for (;;) {
		struct ths_request rq;
		struct ths_reply rp = { .status = 200 };
		char head[1024];
		size_t blen;
		int r;

		memset(&rq, 0, sizeof(rq));
		r = read_request(fd, &rq, &carry, &carry_len);
		if (r <= 0)
			break;
		rq.index = atomic_fetch_add(&s->n_requests, 1);
		rq.conn_requests = conn_n++;
		s->fn(&rq, &rp, s->ud);
		free(rq.body);
		if (rp.delay_ms > 0) {
			struct timespec ts = { rp.delay_ms / 1000, (rp.delay_ms % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		}
		if (rp.drop)
			break;
		if (rp.stream_bytes) {
			static char zeros[65536];
			uint64_t left = rp.stream_bytes;

			memset(zeros, '0', sizeof(zeros));
			if (rp.chunked_stream)
				snprintf(head, sizeof(head),
					 "HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n%s\r\n", rp.status,
					 rp.extra_headers);
			else
				snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Length: %llu\r\n%s\r\n",
					 rp.status, (unsigned long long)rp.stream_bytes, rp.extra_headers);
			if (send_all(fd, head, strlen(head)) < 0)
				break;
			while (left > 0) {
				size_t k = left < sizeof(zeros) ? (size_t)left : sizeof(zeros);
				char ch[32];

				if (rp.chunked_stream) {
					snprintf(ch, sizeof(ch), "%zx\r\n", k);
					if (send_all(fd, ch, strlen(ch)) < 0)
						break;
				}
				if (send_all(fd, zeros, k) < 0)
					break;
				if (rp.chunked_stream && send_all(fd, "\r\n", 2) < 0)
					break;
				left -= k;
			}
			break;	/* the client hung up long before, or we are done */
		}
		blen = rp.body ? (rp.body_len ? rp.body_len : strlen(rp.body)) : 0;
		snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
			 rp.status, blen + (rp.truncate ? 100 : 0), rp.extra_headers);
		if (send_all(fd, head, strlen(head)) < 0 || (blen && send_all(fd, rp.body, blen) < 0))
			break;
		if (rp.truncate)
			break;
	}
	free(carry);
	close(fd);
}

static void *run(void *arg)
{
	struct ths *s = arg;

	stop_flag_of_thread = &s->stop;
	while (!atomic_load(&s->stop)) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		int c;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		serve_conn(s, c);	/* one connection at a time is enough for tests */
	}
	return NULL;
}

struct ths *ths_start(ths_handler fn, void *ud)
{
	struct ths *s = calloc(1, sizeof(*s));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	if (!s)
		return NULL;
	s->fn = fn;
	s->ud = ud;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->fd, 16) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &alen) < 0) {
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		return NULL;
	}
	s->port = ntohs(a.sin_port);
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
	if (pthread_create(&s->thr, NULL, run, s) != 0) {
		close(s->fd);
		free(s);
		return NULL;
	}
	return s;
}

int ths_port(const struct ths *s)
{
	return s->port;
}

const char *ths_url(const struct ths *s)
{
	return s->url;
}

unsigned ths_requests(const struct ths *s)
{
	return atomic_load(&((struct ths *)s)->n_requests);
}

unsigned ths_connections(const struct ths *s)
{
	return atomic_load(&((struct ths *)s)->n_conns);
}

void ths_stop(struct ths *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, 1);
	pthread_join(s->thr, NULL);
	close(s->fd);
	free(s);
}
