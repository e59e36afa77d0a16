// SPDX-License-Identifier: MIT
/*
 * sp-fetch --bad KIND: one request the server must refuse (malformed,
 * an unknown file, a range past the end, a length above its limit),
 * over HTTP or the UDP protocol, and a check that the refusal is the
 * one the protocol names for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "sp_proto.h"
#include "fetch.h"

/* The refusal a bad request of kind k gets, in the UDP protocol's words. */
static uint32_t expect_xerr(enum bad_kind k)
{
	switch (k) {
	case BAD_MALFORMED: return SP_XE_MALFORMED;
	case BAD_NOFILE: return SP_XE_NOFILE;
	case BAD_RANGE: return SP_XE_RANGE;
	case BAD_TOOBIG: return SP_XE_TOOBIG;
	default: return 0;
	}
}

static int bad_tcp(struct client *c, char *got, size_t gotlen)
{
	char req[512], buf[SP_HTTP_MAX_HDR];
	struct sp_http_resp r;
	size_t have = 0;
	int fd, n = 0;

	switch (c->bad) {
	case BAD_MALFORMED:
		n = snprintf(req, sizeof(req), "FETCH /%s HTTP/9\r\n\r\n", c->name);
		break;
	case BAD_NOFILE:
		n = sp_http_fmt_req(req, sizeof(req), "no-such-file", 0, 0);
		break;
	case BAD_RANGE:
		n = sp_http_fmt_req(req, sizeof(req), c->name, c->size, 1);
		break;
	case BAD_TOOBIG:
		n = sp_http_fmt_req(req, sizeof(req), c->name, 0, 0);
		break;
	default:
		break;
	}
	fd = sp_fetch_tcp_connect(c);
	if (fd < 0)
		return fd;
	fcntl(fd, F_SETFL, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 5 },
		   sizeof(struct timeval));
	if (send(fd, req, n, MSG_NOSIGNAL) != n) {
		close(fd);
		return -EIO;
	}
	for (;;) {
		ssize_t k = recv(fd, buf + have, sizeof(buf) - have, 0);
		int h;

		if (k <= 0) {
			close(fd);
			return k ? -errno : -ECONNRESET;
		}
		have += k;
		h = sp_http_parse_resp(buf, have, &r);
		if (h < 0) {
			close(fd);
			return h;
		}
		if (h > 0)
			break;
	}
	close(fd);
	snprintf(got, gotlen, "%d %s", r.status, sp_http_reason(r.status));
	return r.status == sp_x_err_http_status(expect_xerr(c->bad)) ? 0 : -EPROTO;
}

static int bad_udp(struct client *c, char *got, size_t gotlen)
{
	uint8_t msg[sizeof(struct sp_xmsg)], buf[4096];
	uint32_t id = c->id;
	uint64_t off = 0, len = 0;
	struct sp_xinfo m;
	int fd = sp_fetch_udp_socket(c);

	if (fd < 0)
		return fd;
	switch (c->bad) {
	case BAD_NOFILE: id = 1u << 30; break;
	case BAD_RANGE: off = c->size; len = 1; break;
	case BAD_TOOBIG: len = c->size; break;
	default: break;
	}
	sp_x_fill(msg, SP_X_REQ, 0, 77, id, off, len);
	if (c->bad == BAD_MALFORMED)
		msg[offsetof(struct sp_xmsg, type)] = 99;	/* an unknown message type */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 1 },
		   sizeof(struct timeval));
	for (int tries = 0; tries < 5; tries++) {
		ssize_t n;

		if (send(fd, msg, sizeof(msg), 0) != sizeof(msg))
			break;
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
			if (sp_x_parse(buf, n, &m) || m.req_id != 77)
				continue;
			close(fd);
			if (m.type != SP_X_ERR) {
				snprintf(got, gotlen, "a reply of type %u", m.type);
				return -EPROTO;
			}
			snprintf(got, gotlen, "error %u (%s)", m.aux, sp_x_err_str(m.aux));
			return m.aux == expect_xerr(c->bad) ? 0 : -EPROTO;
		}
	}
	close(fd);
	return -ETIMEDOUT;
}

int sp_fetch_bad(struct client *c, char *got, size_t gotlen)
{
	return c->udp ? bad_udp(c, got, gotlen) : bad_tcp(c, got, gotlen);
}
