// SPDX-License-Identifier: MIT
/*
 * sp-fetch --fresh UNITS (-m udp, against sp-serve --writable): a writer
 * rewrites the first UNITS KiB of FILE, one unit at a time, with
 * numbered versions, while -P readers fetch units; a reader must never
 * get a version older than the last one acknowledged before it asked.
 *
 * One process plays writer and readers, so "acknowledged before the
 * read was sent" is a plain comparison: acked[u] is read when a read of
 * unit u goes out and is the floor for the version it may get back.
 * Units are sp_verify blocks (header, pattern, CRC) whose generation is
 * the version, so a torn or misplaced unit is caught as well.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sp_proto.h"
#include "sp_rand.h"
#include "sp_time.h"
#include "sp_verify.h"
#include "fetch.h"

struct fslot {
	bool busy;
	uint32_t req_id;
	unsigned unit;
	uint32_t floor;		/* acked[unit] when the read was sent */
	uint64_t sent_ns, start_ns;
};

struct fresh {
	int rfd, wfd;		/* readers' and writer's sockets */
	struct fslot *slots, w;	/* w: the write in flight */
	uint32_t *acked, version;
	uint64_t seed;
	uint32_t seq;
	uint8_t wbuf[sizeof(struct sp_xmsg) + BLK];
};

static int fresh_send_write(struct client *c, struct fresh *f)
{
	struct fslot *w = &f->w;

	sp_x_fill(f->wbuf, SP_X_WRITE, BLK, w->req_id, c->id, (uint64_t)w->unit * BLK, 0);
	w->sent_ns = sp_now_ns();
	return send(f->wfd, f->wbuf, sizeof(f->wbuf), 0) == sizeof(f->wbuf) ? 0 : -errno;
}

static int fresh_next_write(struct client *c, struct fresh *f, unsigned unit)
{
	struct fslot *w = &f->w;

	*w = (struct fslot){ .busy = true, .req_id = f->seq++, .unit = unit,
			     .floor = ++f->version, .start_ns = sp_now_ns() };
	sp_verify_fill(f->wbuf + sizeof(struct sp_xmsg), BLK, (uint64_t)unit * BLK,
		       f->seed, w->floor);
	return fresh_send_write(c, f);
}

static int fresh_send_read(struct client *c, struct fresh *f, unsigned si)
{
	struct fslot *s = &f->slots[si];
	uint8_t msg[sizeof(struct sp_xmsg) + BLK] = { 0 };
	size_t n = sp_x_req_size((uint64_t)s->unit * BLK, BLK, false);

	/*
	 * A one-unit read: padded to the reply's size, as every such REQ
	 * is, so it needs no address token (its reply is within the bound
	 * for an unverified source).
	 */
	sp_x_fill_req(msg, n, s->req_id, c->id, (uint64_t)s->unit * BLK, BLK, NULL);
	s->sent_ns = sp_now_ns();
	return send(f->rfd, msg, n, 0) == (ssize_t)n ? 0 : -errno;
}

static void fresh_ack(struct client *c, struct fresh *f, const struct sp_xinfo *m)
{
	struct fslot *w = &f->w;

	if (!w->busy || m->req_id != w->req_id)
		return;		/* an ACK of a write resent meanwhile */
	if (m->type == SP_X_ERR) {
		c->errors++;
		sp_fetch_fail(c, "write of unit %u: %s", w->unit, sp_x_err_str(m->aux));
		return;
	}
	if (m->type != SP_X_ACK || m->offset != (uint64_t)w->unit * BLK || m->length != BLK ||
	    m->aux != sp_crc32c(0, f->wbuf + sizeof(struct sp_xmsg), BLK)) {
		c->errors++;
		sp_fetch_fail(c, "the ACK of the write of unit %u does not match it", w->unit);
		return;
	}
	f->acked[w->unit] = w->floor;
	c->writes++;
	w->busy = false;
}

static void fresh_data(struct client *c, struct fresh *f, const struct sp_xinfo *m)
{
	unsigned si = m->req_id >> REQ_SLOT_SHIFT;
	struct fslot *s;
	const struct sp_verify_hdr *h;
	enum sp_verify_result vr;
	char why[160];

	if (si >= c->parallel || !f->slots[si].busy || f->slots[si].req_id != m->req_id)
		return;
	s = &f->slots[si];
	if (m->type == SP_X_END)
		return;		/* the DATA or LAST frame decides */
	if (m->type == SP_X_ERR) {
		if (m->aux == SP_XE_BUSY) {
			c->busy++;
			return;	/* asked again after --timeout */
		}
		c->errors++;
		sp_fetch_fail(c, "read of unit %u: %s", s->unit, sp_x_err_str(m->aux));
		return;
	}
	if (m->type != SP_X_DATA && m->type != SP_X_LAST)
		return;
	if (m->offset != (uint64_t)s->unit * BLK || m->len != BLK ||
	    sp_crc32c(0, m->payload, m->len) != m->aux) {
		c->mismatches++;
		sp_fetch_fail(c, "reply for unit %u is not that unit", s->unit);
		return;
	}
	vr = sp_verify_check(m->payload, BLK, m->offset, f->seed, SP_VERIFY_GEN_ANY);
	h = (const void *)m->payload;
	if (vr != SP_VERIFY_OK) {
		c->mismatches++;
		sp_fetch_fail(c, "unit %u: %s", s->unit,
			      sp_verify_describe(vr, m->payload, m->offset, 0, why, sizeof(why)));
		return;
	}
	if (h->generation < s->floor) {
		c->stale++;
		sp_fetch_fail(c, "unit %u: version %u read after version %u was acknowledged",
			      s->unit, h->generation, s->floor);
		return;
	}
	c->bytes += BLK;
	c->done++;
	sp_hist_add(&c->lat, sp_now_ns() - s->start_ns);
	s->busy = false;
}

static void fresh_recv(struct client *c, struct fresh *f, int fd)
{
	uint8_t buf[4096];
	struct sp_xinfo m;
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		if (sp_x_parse(buf, n, &m)) {
			c->errors++;
			sp_fetch_fail(c, "malformed reply from the server");
			return;
		}
		if (fd == f->wfd)
			fresh_ack(c, f, &m);
		else
			fresh_data(c, f, &m);
	}
}

/* Waits for the ACK of the write in flight, resending it on silence. */
static int fresh_wait_write(struct client *c, struct fresh *f)
{
	for (unsigned tries = 0; f->w.busy && !c->fail[0]; tries++) {
		struct pollfd p = { .fd = f->wfd, .events = POLLIN };

		if (tries > 100) {
			c->lost++;
			sp_fetch_fail(c, "no ACK for the write of unit %u", f->w.unit);
			break;
		}
		if (poll(&p, 1, c->timeout_ns / 1000000 + 1) > 0)
			fresh_recv(c, f, f->wfd);
		else if (fresh_send_write(c, f))
			return -errno;
		else
			c->retransmits++;
	}
	return c->fail[0] ? -EIO : 0;
}

int sp_fetch_fresh(struct client *c)
{
	struct fresh f = { .rfd = -1, .wfd = -1, .seed = c->rng };
	unsigned next_w = 0;
	int ret = 0;

	f.slots = calloc(c->parallel, sizeof(*f.slots));
	f.acked = calloc(c->fresh, sizeof(*f.acked));
	if (!f.slots || !f.acked) {
		ret = -ENOMEM;
		goto out;
	}
	f.rfd = sp_fetch_udp_socket(c);
	f.wfd = sp_fetch_udp_socket(c);
	if (f.rfd < 0 || f.wfd < 0) {
		ret = f.rfd < 0 ? f.rfd : f.wfd;
		sp_fetch_fail(c, "UDP socket to %s: %s", c->server, strerror(-ret));
		goto out;
	}
	/* version 1 everywhere first: from then on every unit is a version */
	for (unsigned u = 0; u < c->fresh && !ret; u++) {
		ret = fresh_next_write(c, &f, u);
		if (!ret)
			ret = fresh_wait_write(c, &f);
	}
	if (ret)
		goto out;
	c->start_ns = sp_now_ns();
	for (;;) {
		struct pollfd p[2] = { { .fd = f.rfd, .events = POLLIN },
				       { .fd = f.wfd, .events = POLLIN } };
		bool more = sp_fetch_more(c);
		uint64_t now = sp_now_ns();
		unsigned active = 0;

		if (!f.w.busy && more) {
			if (fresh_next_write(c, &f, next_w++ % c->fresh))
				sp_fetch_fail(c, "sending a write: %s", strerror(errno));
		} else if (f.w.busy && now - f.w.sent_ns > c->timeout_ns) {
			if (fresh_send_write(c, &f))
				sp_fetch_fail(c, "sending a write: %s", strerror(errno));
			c->retransmits++;
		}
		for (unsigned i = 0; i < c->parallel; i++) {
			struct fslot *s = &f.slots[i];

			if (!s->busy && more) {
				s->busy = true;
				s->req_id = i << REQ_SLOT_SHIFT | (f.seq++ & REQ_SEQ_MASK);
				s->unit = sp_rand_next(&c->rng) % c->fresh;
				s->floor = f.acked[s->unit];
				s->start_ns = sp_now_ns();
				c->issued++;
				if (fresh_send_read(c, &f, i))
					sp_fetch_fail(c, "sending a read: %s", strerror(errno));
			} else if (s->busy && now - s->sent_ns > c->timeout_ns) {
				if (fresh_send_read(c, &f, i))
					sp_fetch_fail(c, "sending a read: %s", strerror(errno));
				c->retransmits++;
			}
			active += s->busy;
		}
		if ((!active && !f.w.busy) || c->fail[0])
			break;
		if (poll(p, 2, c->timeout_ns / 1000000 + 1) < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		if (p[1].revents)
			fresh_recv(c, &f, f.wfd);
		if (p[0].revents)
			fresh_recv(c, &f, f.rfd);
		sp_fetch_progress(c, false);
	}
out:
	if (f.rfd >= 0)
		close(f.rfd);
	if (f.wfd >= 0)
		close(f.wfd);
	free(f.slots);
	free(f.acked);
	return c->fail[0] ? -EIO : ret;
}
