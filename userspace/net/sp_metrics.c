// SPDX-License-Identifier: MIT
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "sp_addr.h"
#include "sp_metrics.h"

int sp_metrics_listen(struct sp_metrics *m, const char *hostport, char *why, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *colon = strrchr(hostport, ':');
	char host[128];
	char *end;
	unsigned long port;
	int ret;

	m->fd = -1;
	m->scrapes = m->refused = 0;
	if (!colon || (size_t)(colon - hostport) >= sizeof(host)) {
		snprintf(why, n, "'%s' is not HOST:PORT", hostport);
		return -EINVAL;
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || !colon[1] || port == 0 || port > 65535) {
		snprintf(why, n, "'%s': the port must be 1 to 65535", hostport);
		return -EINVAL;
	}
	memcpy(host, hostport, colon - hostport);
	host[colon - hostport] = '\0';
	if (!host[0])
		snprintf(host, sizeof(host), "::");
	ret = sp_addr_resolve(host, (uint16_t)port, false, &ss, &len, why, n);
	if (ret)
		return ret;
	m->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0)
		goto fail;
	setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	/* ":PORT" means every address, IPv4 ones too */
	if (ss.ss_family == AF_INET6)
		setsockopt(m->fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 0 }, sizeof(int));
	if (bind(m->fd, (struct sockaddr *)&ss, len) || listen(m->fd, 16))
		goto fail;
	return 0;
fail:
	ret = -errno;
	snprintf(why, n, "cannot listen on %s: %s", hostport, strerror(errno));
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	return ret;
}

static void reply(int fd, const char *status, const char *type, const char *body, size_t len)
{
	char head[256];
	int h = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, type, len);
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	/* a bounded wait per write: a scraper that stops reading is dropped */
	for (const char *part[2] = { head, body }, **q = part; q < part + 2; q++) {
		size_t left = q == part ? (size_t)h : len, off = 0;

		while (left) {
			ssize_t w = send(fd, *q + off, left, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w > 0) {
				off += w;
				left -= w;
			} else if (w < 0 && errno == EAGAIN && poll(&p, 1, 200) == 1) {
				continue;
			} else {
				return;
			}
		}
	}
}

/* One connection: its request line within 200 ms, then the answer. */
static void serve_one(struct sp_metrics *m, int fd, void (*fill)(FILE *f, void *arg), void *arg)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char req[1024];
	size_t got = 0;

	while (got < sizeof(req) - 1 && !memchr(req, '\n', got)) {
		ssize_t r;

		if (poll(&p, 1, 200) != 1)
			break;
		r = recv(fd, req + got, sizeof(req) - 1 - got, MSG_DONTWAIT);
		if (r <= 0)
			break;
		got += r;
	}
	req[got] = '\0';
	if (!strncmp(req, "GET /metrics ", 13) || !strncmp(req, "GET /metrics?", 13)) {
		char *body = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&body, &len);

		if (f) {
			fill(f, arg);
			fclose(f);
			reply(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, len);
			m->scrapes++;
		}
		free(body);
		return;
	}
	m->refused++;
	if (!memchr(req, '\n', got))
		return;		/* too slow or not HTTP: just closed */
	if (strncmp(req, "GET ", 4))
		reply(fd, "405 Method Not Allowed", "text/plain", "GET /metrics\n", 13);
	else
		reply(fd, "404 Not Found", "text/plain", "GET /metrics\n", 13);
}

void sp_metrics_serve(struct sp_metrics *m, void (*fill)(FILE *f, void *arg), void *arg)
{
	if (m->fd < 0)
		return;
	for (;;) {
		int c = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0)
			return;	/* EAGAIN: none waiting */
		serve_one(m, c, fill, arg);
		close(c);
	}
}

void sp_metrics_close(struct sp_metrics *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

void sp_metrics_hist(FILE *f, const char *name, const char *labels, const struct sp_hist *h)
{
	static const double bounds[] = {
		1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3,
		2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
	};
	const char *sep = labels[0] ? "," : "";
	unsigned idx = 0;
	uint64_t cum = 0;

	for (unsigned b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++) {
		uint64_t le_ns = (uint64_t)(bounds[b] * 1e9 + 0.5);

		for (; idx < SP_HIST_BUCKETS &&
		       sp_hist_bucket_low(idx) + sp_hist_bucket_width(idx) <= le_ns + 1; idx++)
			cum += h->buckets[idx];
		fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[b],
			(unsigned long long)cum);
	}
	fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
		(unsigned long long)h->count);
	fprintf(f, "%s_sum{%s} %.9f\n", name, labels, h->sum / 1e9);
	fprintf(f, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
}
