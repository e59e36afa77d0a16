// SPDX-License-Identifier: MIT
/*
 * The client side of sp_proto.h's UDP protocol, which -m udp and -m xdp
 * run over their own transport (struct fetch_transport). A fetch is cut
 * into sub-requests of at most --chunk, -P of them in flight, each in a
 * slot whose number is in its req_id; every block of a DATA frame is
 * checked against the source's CRC, and what does not come is asked for
 * again: after a gap the server's LAST or END frame shows, or after
 * --timeout of silence.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sp_proto.h"
#include "sp_time.h"
#include "sp_verify.h"
#include "fetch.h"

struct uslot {
	bool busy;
	uint32_t req_id;
	uint64_t off, len;	/* off: a multiple of BLK */
	unsigned nframes;
	uint64_t got;		/* bitmap of frames received */
	uint64_t last_ns;	/* last request sent or frame received */
	unsigned retries;
	unsigned fetch;		/* index in the fetch ring */
};

struct ufetch {
	uint64_t start_ns;
	unsigned pieces;	/* sub-requests not yet complete */
	bool all_issued;
};

struct fetch_udp {
	struct client *c;
	struct fetch_transport *t;
	struct uslot *slots;
	struct ufetch *fetches;
	unsigned nr_fetches;	/* ring size */
	unsigned cur;		/* fetch being cut into sub-requests */
	uint64_t cur_off, cur_end;
	uint32_t seq;
	unsigned slot_base;	/* of this thread's slots in req_id */
	uint64_t now;		/* when the batch of frames being read came */
	/* the server's token for our address, once it sent one */
	uint8_t token[SP_X_TOKEN_LEN];
	bool has_token;
};

static int udp_send(struct fetch_udp *u, uint32_t req_id, uint32_t id, uint64_t off,
		    uint64_t len)
{
	return u->t->send(u->t, req_id, id, off, len, sp_x_req_size(off, len, u->has_token),
			  u->has_token ? u->token : NULL);
}

static uint64_t full_mask(unsigned n)
{
	return n == 64 ? ~0ULL : (1ULL << n) - 1;
}

/* Asks again for every run of frames still missing. */
static int udp_rerequest(struct client *c, struct fetch_udp *u, struct uslot *s)
{
	uint64_t missing = ~s->got & full_mask(s->nframes);

	while (missing) {
		unsigned first = __builtin_ctzll(missing), last = first;
		uint64_t off, end;
		int ret;

		while (last + 1 < s->nframes && (missing >> (last + 1) & 1))
			last++;
		off = s->off + (uint64_t)first * BLK;
		end = s->off + (uint64_t)(last + 1) * BLK;
		if (end > s->off + s->len)
			end = s->off + s->len;
		ret = udp_send(u, s->req_id, c->id, off, end - off);
		if (ret)
			return ret;
		c->retransmits++;
		missing &= ~full_mask(last + 1);
	}
	s->retries++;
	s->last_ns = sp_now_ns();
	return 0;
}

static bool udp_issue(struct client *c, struct fetch_udp *u, unsigned si)
{
	struct uslot *s = &u->slots[si];
	struct ufetch *f;
	uint64_t off, len;

	if (u->cur_off == u->cur_end) {
		uint64_t due = u->now;

		/* the fetch ring holds every fetch with a piece in flight */
		if (!sp_fetch_more_at(c, u->now) ||
		    u->fetches[(u->cur + 1) % u->nr_fetches].pieces)
			return false;
		/* --rate: not before it is due; its latency counts from then */
		if (c->rate && (due = sp_fetch_due_ns(c, c->issued)) > u->now)
			return false;
		u->fetches[u->cur].all_issued = true;
		u->cur = (u->cur + 1) % u->nr_fetches;
		sp_fetch_next_range(c, &off, &len);
		u->cur_off = off;
		u->cur_end = off + len;
		f = &u->fetches[u->cur];
		f->start_ns = due;
		f->pieces = 0;
		f->all_issued = false;
		c->issued++;
	}
	f = &u->fetches[u->cur];
	len = u->cur_end - u->cur_off < c->chunk ? u->cur_end - u->cur_off : c->chunk;
	s->busy = true;
	s->req_id = (u->slot_base + si) << REQ_SLOT_SHIFT | (u->seq++ & REQ_SEQ_MASK);
	s->off = u->cur_off;
	s->len = len;
	s->nframes = (len + BLK - 1) / BLK;
	s->got = 0;
	s->retries = 0;
	s->fetch = u->cur;
	s->last_ns = u->now;
	f->pieces++;
	u->cur_off += len;
	if (u->cur_off == u->cur_end)
		f->all_issued = true;
	if (udp_send(u, s->req_id, c->id, s->off, s->len)) {
		sp_fetch_fail(c, "sending a request: %s", strerror(errno));
		return false;
	}
	return true;
}

static void udp_slot_done(struct client *c, struct fetch_udp *u, struct uslot *s)
{
	struct ufetch *f = &u->fetches[s->fetch];

	s->busy = false;
	if (--f->pieces == 0 && f->all_issued) {
		sp_hist_add(&c->lat, u->now - f->start_ns);
		c->done++;
	}
}

/*
 * The blocks of a DATA frame (one to three), each checked against the
 * source's CRC; whole blocks only, except at the end of the file. 0,
 * or -EPROTO after a mismatch (the run fails).
 */
static int udp_blocks(struct client *c, struct fetch_udp *u, struct uslot *s,
		      const struct sp_xinfo *m)
{
	uint64_t end = m->offset + m->len;
	unsigned k = (m->offset - s->off) / BLK, i = 0;
	uint32_t crcs[SP_X_MAX_PAYLOAD / BLK + 1] = { 0 };	/* [0]: the CRC of nothing */

	if (m->len % BLK && end != c->size)
		goto bad;
	if (m->len > sizeof(crcs) / sizeof(crcs[0]) * BLK)
		goto bad;
	sp_crc32c_blocks(m->payload, m->len, BLK, crcs);
	/* one block: its CRC is also the frame's */
	if (m->len <= BLK && crcs[0] != m->aux)
		goto bad;
	for (uint64_t off = m->offset; off < end; off += BLK, k++, i++) {
		uint32_t n = end - off < BLK ? end - off : BLK;

		if (s->got >> k & 1)
			continue;
		if (c->crcs[off / BLK] != crcs[i])
			goto bad;
		s->got |= 1ULL << k;
		c->bytes += n;
	}
	s->last_ns = u->now;
	return 0;
bad:
	c->mismatches++;
	sp_fetch_fail(c, "frame at offset %llu differs from the source", (unsigned long long)m->offset);
	return -EPROTO;
}

static void udp_frame(struct client *c, struct fetch_udp *u, const uint8_t *buf, size_t len)
{
	struct sp_xinfo m;
	struct uslot *s;
	unsigned si;

	if (sp_x_parse(buf, len, &m)) {
		c->errors++;
		sp_fetch_fail(c, "malformed reply from the server");
		return;
	}
	si = (m.req_id >> REQ_SLOT_SHIFT) - u->slot_base;
	if (si >= c->parallel) {
		unsigned owner = (m.req_id >> REQ_SLOT_SHIFT) / c->parallel;

		/* another thread's (-m xdp): handed over where the transport
		 * can, else that thread asks again (or it was a stray frame) */
		c->misrouted++;
		if (owner < c->threads && owner != c->thread && u->t->handoff)
			u->t->handoff(u->t, owner, buf, len);
		return;
	}
	if (!u->slots[si].busy || u->slots[si].req_id != m.req_id)
		return;		/* late duplicate of a finished request */
	s = &u->slots[si];
	switch (m.type) {
	case SP_X_DATA:
	case SP_X_LAST:
		if (m.offset < s->off || m.offset >= s->off + s->len ||
		    (m.offset - s->off) % BLK || m.len > s->off + s->len - m.offset)
			break;
		if (udp_blocks(c, u, s, &m) < 0)
			break;
		if (s->got == full_mask(s->nframes)) {
			udp_slot_done(c, u, s);
			break;
		}
		/* frames after a gap were sent: the gap is lost */
		if (m.type == SP_X_LAST && udp_rerequest(c, u, s))
			sp_fetch_fail(c, "re-request: %s", strerror(errno));
		break;
	case SP_X_END:
		if (s->got != full_mask(s->nframes) && udp_rerequest(c, u, s))
			sp_fetch_fail(c, "re-request: %s", strerror(errno));
		break;
	case SP_X_TOKEN:
		/*
		 * The reply would have been more than an unverified address
		 * may get: ask again for what it names, with the token (every
		 * later request carries it; a newer one replaces it).
		 */
		if (m.offset < s->off || m.offset >= s->off + s->len ||
		    m.length > s->off + s->len - m.offset || !m.length)
			break;
		memcpy(u->token, m.payload, SP_X_TOKEN_LEN);
		u->has_token = true;
		c->tokens++;
		s->last_ns = u->now;
		if (udp_send(u, s->req_id, c->id, m.offset, m.length))
			sp_fetch_fail(c, "sending a request: %s", strerror(errno));
		break;
	case SP_X_ERR:
		if (m.aux == SP_XE_BUSY) {
			/* the server is full: ask again after --timeout */
			c->busy++;
			s->last_ns = sp_now_ns();
			break;
		}
		c->errors++;
		sp_fetch_fail(c, "server error for the request at %llu: %s",
			      (unsigned long long)s->off, sp_x_err_str(m.aux));
		break;
	default:
		break;
	}
}

void sp_fetch_udp_clock(struct fetch_udp *u)
{
	u->now = sp_now_ns();
}

void sp_fetch_udp_reply(struct fetch_udp *u, const uint8_t *buf, size_t len)
{
	udp_frame(u->c, u, buf, len);
}

int sp_fetch_udp_run(struct client *c, struct fetch_transport *t)
{
	struct fetch_udp *u = calloc(1, sizeof(*u));
	bool idle = true;
	int ret = 0;

	if (!u) {
		ret = -ENOMEM;
		goto out;
	}
	u->c = c;
	u->t = t;
	u->nr_fetches = c->parallel + 2;
	u->slots = calloc(c->parallel, sizeof(*u->slots));
	u->fetches = calloc(u->nr_fetches, sizeof(*u->fetches));
	if (!u->slots || !u->fetches) {
		ret = -ENOMEM;
		goto out;
	}
	u->slot_base = c->thread * c->parallel;
	for (;;) {
		unsigned active = 0;
		uint64_t now = sp_now_ns();
		uint64_t wait_ns;
		int n;

		u->now = now;
		for (unsigned i = 0; i < c->parallel; i++) {
			struct uslot *s = &u->slots[i];

			if (!s->busy && !udp_issue(c, u, i))
				continue;
			active++;
			/* last_ns may be later than now: just issued */
			if (now > s->last_ns && now - s->last_ns > c->timeout_ns) {
				if (s->retries >= 100) {
					c->lost++;
					sp_fetch_fail(c, "frames at %llu still missing after 100 re-requests",
						      (unsigned long long)s->off);
				} else if (udp_rerequest(c, u, s)) {
					sp_fetch_fail(c, "re-request: %s", strerror(errno));
				}
			}
		}
		ret = t->flush(t);
		if (ret) {
			sp_fetch_fail(c, "sending requests: %s", strerror(-ret));
			break;
		}
		if (atomic_load(&sp_fetch_failed_any))
			break;
		wait_ns = c->timeout_ns;
		if (c->rate && sp_fetch_more_at(c, now)) {
			/* paced: sleep until the next request is due, to the
			 * microsecond, rather than spin: a spinning client takes
			 * the CPU a server on the same machine needs, and its
			 * replies then wait for a time slice */
			uint64_t due = sp_fetch_due_ns(c, c->issued);

			wait_ns = due <= now ? 0 : due - now < wait_ns ? due - now : wait_ns;
		} else if (!active) {
			break;
		}
		/* wait only when the last look found nothing */
		if (idle && wait_ns && t->wait(t, wait_ns) <= 0)
			continue;
		n = t->recv(t, u);
		if (n < 0) {
			ret = n;
			sp_fetch_fail(c, "receiving: %s", strerror(-n));
			break;
		}
		idle = !n;
		sp_fetch_progress(c, false);
	}
out:
	if (u) {
		free(u->slots);
		free(u->fetches);
	}
	free(u);
	return c->fail[0] ? -EIO : ret;
}
