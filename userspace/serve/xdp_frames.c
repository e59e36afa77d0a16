// SPDX-License-Identifier: MIT
/*
 * sp-serve's xdp mode, frames out: a completed read becomes a DATA (or
 * LAST) frame around the bytes read in place, with only the headers and
 * a CRC written in front of it; END, ERR and ACK are frames of headers
 * alone. Transmit completions give frames back to the free list.
 */
#include <errno.h>
#include <string.h>

#include "sp_log.h"
#include "sp_time.h"
#include "sp_verify.h"
#include "xdp.h"

static void tx_push(struct xdp *x, unsigned q, uint64_t addr, uint32_t len)
{
	/* never fails: the ring has room for every TX frame */
	sp_xsk_tx(x->xsk, q, addr, len);
	x->tx_queued[q]++;
	x->s->st.frames_tx++;
}

bool xdp_send_ctl(struct xdp *x, unsigned q, const struct sp_udp_addr *self,
		     const struct sp_udp_addr *client, enum sp_x_type type,
		     uint32_t req_id, uint32_t aux, uint64_t off, uint64_t len)
{
	uint64_t addr;
	uint8_t *p;

	if (!x->nr_free_tx)
		return false;
	addr = x->free_tx[--x->nr_free_tx];
	p = frame_at(x, addr);
	sp_udp_fill(p, self, client, sizeof(struct sp_xmsg));
	sp_x_fill(p + SP_X_HDRS, type, 0, req_id, aux, off, len);
	tx_push(x, q, addr, HDRS);
	return true;
}

bool xdp_send_token(struct xdp *x, unsigned q, const struct sp_udp_addr *self,
		    const struct sp_udp_addr *client, uint32_t req_id, uint64_t off,
		    uint64_t len, const uint8_t *token)
{
	uint64_t addr;
	uint8_t *p;

	if (!x->nr_free_tx)
		return false;
	addr = x->free_tx[--x->nr_free_tx];
	p = frame_at(x, addr);
	sp_udp_fill(p, self, client, sizeof(struct sp_xmsg) + SP_X_TOKEN_LEN);
	sp_x_fill(p + SP_X_HDRS, SP_X_TOKEN, SP_X_TOKEN_LEN, req_id, 0, off, len);
	memcpy(p + HDRS, token, SP_X_TOKEN_LEN);
	tx_push(x, q, addr, HDRS + SP_X_TOKEN_LEN);
	return true;
}

void xdp_reply_err(struct xdp *x, unsigned q, const struct sp_udp_addr *self,
		      const struct sp_udp_addr *client, uint32_t req_id, uint32_t err)
{
	struct serve_stats *st = &x->s->st;

	st->errors++;
	switch (err) {
	case SP_XE_MALFORMED: st->err_malformed++; break;
	case SP_XE_NOFILE: st->err_nofile++; break;
	case SP_XE_RANGE: st->err_range++; break;
	case SP_XE_TOOBIG: st->err_toobig++; break;
	case SP_XE_BUSY: st->err_busy++; break;
	default: break;
	}
	/* no frame free: the client asks again */
	xdp_send_ctl(x, q, self, client, SP_X_ERR, req_id, err, 0, 0);
}

/*
 * Ends a request whose frames are all out: nothing more when its last
 * frame said so (LAST), else END, or ERR if a read failed.
 */
static void finish(struct xdp *x, struct xreq *r)
{
	bool sent;

	if (r->reads || (!r->failed && r->next < r->end))
		return;
	if (r->ended) {
		sent = true;
		x->s->st.requests++;
		sp_hist_add(&x->s->st.lat, sp_now_ns() - r->start_ns);
	} else if (r->failed) {
		xdp_reply_err(x, r->q, &r->self, &r->client, r->req_id, SP_XE_IO);
		sent = true;	/* or lost, like any frame: the client asks again */
	} else {
		sent = xdp_send_ctl(x, r->q, &r->self, &r->client, SP_X_END, r->req_id,
				r->frames, r->end, r->bytes);
		if (sent) {
			x->s->st.requests++;
			sp_hist_add(&x->s->st.lat, sp_now_ns() - r->start_ns);
		}
	}
	if (sent) {
		r->used = false;
		x->active--;
	}
}

void xdp_read_done(struct xdp *x, unsigned fi, int res)
{
	const struct fmeta *m = &x->meta[fi];
	struct xreq *r = &x->reqs[m->req];
	uint64_t addr = (uint64_t)fi * FRAME;
	uint8_t *payload = frame_at(x, addr) + DATA_OFF + m->lead;

	r->reads--;
	x->reads--;
	if (res < 0 || (uint32_t)res < (uint32_t)m->lead + m->plen) {
		if (!r->failed)
			sp_dbg("xdp: read of %s at %llu: %s", r->f->name,
			       (unsigned long long)m->off, res < 0 ? strerror(-res) : "short");
		r->failed = true;
		x->free_tx[x->nr_free_tx++] = addr;
	} else if (x->s->drop_every && ++x->s->st.frames_seen % x->s->drop_every == 0) {
		x->s->st.dropped++;
		x->free_tx[x->nr_free_tx++] = addr;
	} else if (!r->failed) {
		uint32_t crc = sp_crc32c(0, payload, m->plen);
		/* the last read of the request: its frame ends the reply */
		bool last = !r->reads && r->next >= r->end;

		if (r->cacheable)
			xdp_cache_admit(x, r, payload, m->plen, crc);
		/* headers written in front of the data read in place */
		sp_udp_fill(payload - HDRS, &r->self, &r->client, sizeof(struct sp_xmsg) + m->plen);
		sp_x_fill(payload - sizeof(struct sp_xmsg), last ? SP_X_LAST : SP_X_DATA,
			  m->plen, r->req_id, crc, m->off, last ? r->bytes + m->plen : 0);
		r->ended = last;
		tx_push(x, r->q, addr + DATA_OFF + m->lead - HDRS, HDRS + m->plen);
		r->frames++;
		r->bytes += m->plen;
		x->s->st.bytes += m->plen;
	} else {
		x->free_tx[x->nr_free_tx++] = addr;
	}
	finish(x, r);
}

unsigned xdp_reap_tx(struct xdp *x)
{
	unsigned n = 0;

	for (unsigned q = x->q0; q < x->nr_q; q += x->qstep) {
		unsigned got;

		if (!x->tx_out[q])
			continue;
		got = sp_xsk_completed(x->xsk, q, x->free_tx + x->nr_free_tx, BATCH);
		x->nr_free_tx += got;
		x->tx_out[q] -= got;
		x->tx_out_all -= got;
		n += got;
	}
	if (n) {
		for (unsigned i = 0; i < x->s->max_inflight && x->active; i++)
			if (x->reqs[i].used)
				finish(x, &x->reqs[i]);
	}
	return n;
}

void xdp_kick_tx(struct xdp *x)
{
	for (unsigned q = x->q0; q < x->nr_q; q += x->qstep) {
		if (!x->tx_queued[q])
			continue;
		x->tx_out[q] += x->tx_queued[q];
		x->tx_out_all += x->tx_queued[q];
		x->tx_queued[q] = 0;
		sp_xsk_kick(x->xsk, q);
	}
}
