// SPDX-License-Identifier: MIT
/*
 * sp-fetch -m tcp: HTTP/1.1 range requests over -P keep-alive
 * connections (sp-serve's TCP modes, nginx), one request out on each,
 * every body byte checked against the source as it comes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sp_proto.h"
#include "sp_time.h"
#include "sp_verify.h"
#include "fetch.h"

struct tconn {
	int fd;
	bool busy;		/* a request is out */
	bool in_body;
	char hdr[SP_HTTP_MAX_HDR];
	size_t hdr_len;
	uint64_t pos, end;	/* file offsets of the body still expected */
	uint32_t crc;		/* of the current block so far */
	uint64_t start_ns;
};

/* Checks body bytes as they come: a block is compared when it is whole. */
static void verify_feed(struct client *c, struct tconn *t, const char *p, size_t n)
{
	while (n) {
		uint64_t blk = t->pos / BLK, bend;
		size_t whole = n / BLK, take;
		uint32_t crcs[64];

		if (whole > (t->end - t->pos) / BLK)
			whole = (t->end - t->pos) / BLK;
		if (whole > 64)
			whole = 64;
		/*
		 * Whole blocks from a block boundary, the bulk of a large
		 * reply, have their CRCs taken together (sp_crc32c_blocks):
		 * one at a time, they were a third of the client's CPU.
		 */
		if (t->pos % BLK == 0 && whole >= 3) {
			sp_crc32c_blocks(p, whole * BLK, BLK, crcs);
			for (size_t i = 0; i < whole; i++) {
				if (crcs[i] != c->crcs[blk + i]) {
					c->mismatches++;
					sp_fetch_fail(c, "block at offset %llu differs from the source",
						      (unsigned long long)(blk + i) * BLK);
				}
			}
			t->pos += whole * BLK;
			p += whole * BLK;
			n -= whole * BLK;
			continue;
		}
		bend = (blk + 1) * BLK < c->size ? (blk + 1) * BLK : c->size;
		take = bend - t->pos < n ? bend - t->pos : n;

		t->crc = sp_crc32c(t->crc, p, take);
		t->pos += take;
		p += take;
		n -= take;
		if (t->pos == bend || t->pos == t->end) {
			if (t->pos != bend || t->crc != c->crcs[blk]) {
				c->mismatches++;
				sp_fetch_fail(c, "block at offset %llu differs from the source",
					      (unsigned long long)blk * BLK);
			}
			t->crc = 0;
		}
	}
}

static int tcp_send_req(struct client *c, struct tconn *t, uint64_t start_ns)
{
	char req[512];
	uint64_t off, len;
	int n;

	if (t->fd < 0) {
		t->fd = sp_fetch_tcp_connect(c);
		if (t->fd < 0)
			return t->fd;
	}
	sp_fetch_next_range(c, &off, &len);
	n = sp_http_fmt_req(req, sizeof(req), c->name, off,
			    off == 0 && len == c->size ? 0 : len);
	if (n < 0)
		return n;
	if (send(t->fd, req, n, MSG_NOSIGNAL) != n)
		return -errno ? -errno : -EIO;
	t->busy = true;
	t->in_body = false;
	t->hdr_len = 0;
	t->pos = off;
	t->end = off + len;
	t->crc = 0;
	t->start_ns = start_ns;
	c->issued++;
	return 0;
}

/* The reply header is whole: check that it is the answer asked for. */
static int tcp_check_resp(struct client *c, struct tconn *t,
			  const struct sp_http_resp *r)
{
	uint64_t want = t->end - t->pos;

	if (r->status != 200 && r->status != 206) {
		c->errors++;
		sp_fetch_fail(c, "server replied %d", r->status);
		return -EPROTO;
	}
	if (r->content_length != want ||
	    (r->status == 206 && (!r->has_range || r->range_first != t->pos)) ||
	    (r->status == 200 && t->pos != 0)) {
		c->errors++;
		sp_fetch_fail(c, "reply %d of %llu bytes does not match the %llu bytes at %llu asked for",
			      r->status, (unsigned long long)r->content_length,
			      (unsigned long long)want, (unsigned long long)t->pos);
		return -EPROTO;
	}
	return 0;
}

static int tcp_readable(struct client *c, struct tconn *t)
{
	char buf[65536];

	for (;;) {
		ssize_t n = recv(t->fd, buf, sizeof(buf), 0);
		size_t used = 0;

		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0) {
			sp_fetch_fail(c, "server closed the connection mid-reply");
			return -ECONNRESET;
		}
		if (!t->in_body) {
			struct sp_http_resp r;
			size_t room = sizeof(t->hdr) - t->hdr_len;
			size_t take = (size_t)n < room ? (size_t)n : room;
			int h;

			memcpy(t->hdr + t->hdr_len, buf, take);
			h = sp_http_parse_resp(t->hdr, t->hdr_len + take, &r);
			if (h == 0) {
				t->hdr_len += take;
				continue;
			}
			if (h < 0) {
				c->errors++;
				sp_fetch_fail(c, "malformed reply header: %s", strerror(-h));
				return h;
			}
			if (tcp_check_resp(c, t, &r))
				return -EPROTO;
			if (r.close) {
				sp_fetch_fail(c, "the server closes the connection after each reply");
				return -EPROTO;
			}
			used = h - t->hdr_len;
			t->in_body = true;
		}
		if ((uint64_t)(n - used) > t->end - t->pos) {
			c->errors++;
			sp_fetch_fail(c, "more bytes than the reply announced");
			return -EPROTO;
		}
		verify_feed(c, t, buf + used, n - used);
		c->bytes += n - used;
		if (t->pos == t->end) {
			sp_hist_add(&c->lat, sp_now_ns() - t->start_ns);
			c->done++;
			t->busy = false;
			return 0;
		}
	}
}

int sp_fetch_tcp(struct client *c)
{
	struct tconn *conns = calloc(c->parallel, sizeof(*conns));
	struct pollfd *pfd = calloc(c->parallel, sizeof(*pfd));
	int ret = 0;

	if (!conns || !pfd) {
		ret = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < c->parallel; i++)
		conns[i].fd = -1;
	for (;;) {
		uint64_t now = sp_now_ns(), due = now;
		unsigned active = 0;
		bool more;

		for (unsigned i = 0; i < c->parallel; i++) {
			more = sp_fetch_more_at(c, now);
			if (more && c->rate)
				due = sp_fetch_due_ns(c, c->issued);
			if (!conns[i].busy && more && due <= now) {
				ret = tcp_send_req(c, &conns[i], c->rate ? due : sp_now_ns());
				if (ret) {
					sp_fetch_fail(c, "request to %s: %s", c->server,
						      strerror(-ret));
					goto out;
				}
			}
			pfd[i].fd = conns[i].busy ? conns[i].fd : -1;
			pfd[i].events = POLLIN;
			active += conns[i].busy;
		}
		more = sp_fetch_more_at(c, now);
		if ((!active && !(c->rate && more)) || c->fail[0])
			break;
		/* paced: wake for the next request due, unless one already waits
		 * for a connection (then a reply is what frees one) */
		struct timespec ts = { 1, 0 };
		if (c->rate && more && (due = sp_fetch_due_ns(c, c->issued)) > now &&
		    due - now < 1000000000ULL)
			ts = (struct timespec){ 0, (long)(due - now) };
		if (ppoll(pfd, c->parallel, &ts, NULL) < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		for (unsigned i = 0; i < c->parallel; i++)
			if (pfd[i].revents && (ret = tcp_readable(c, &conns[i])))
				goto out;
		sp_fetch_progress(c, false);
	}
out:
	for (unsigned i = 0; conns && i < c->parallel; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	free(conns);
	free(pfd);
	return c->fail[0] ? -EIO : ret;
}
