// SPDX-License-Identifier: MIT
/*
 * sp-serve's xdp mode: the UDP protocol of sp_proto.h over AF_XDP.
 *
 * Storage to wire without a CPU copy in user space: the UMEM is also
 * registered with io_uring as fixed buffers, so a file block is read
 * (O_DIRECT where the file allows it) straight into the UMEM frame it
 * is then transmitted from; only the headers and a CRC are written
 * around it. One thread runs to completion: receive requests, submit
 * reads, turn completed reads into frames, transmit, reclaim. It
 * busy-polls while there is work and sleeps in poll(2) on the socket
 * after --busy-poll without any (by default 200 us, or none where
 * there are two CPUs or fewer: the spinning would take the CPU that
 * the client, softirq and io-wq need).
 *
 * The XDP program (bpf/xsk_redirect.bpf.c) sends only our UDP port to
 * the socket, so ARP and the rest still reach the kernel.
 *
 * An interface with several receive queues gets a socket on each (one
 * UMEM, shared), all served by this one loop: a request is answered on
 * the queue it came in on, so the reply reaches the client's socket on
 * the same queue (a veth delivers a frame to the peer's queue of the
 * same number).
 *
 * With --cache, it also answers requests for single cached units (see
 * bpf/xsk_redirect.h) itself; xdp_cache.c says how this loop fills the
 * cache and keeps writes from being answered with old data.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sp_log.h"
#include "sp_time.h"
#include "sp_verify.h"
#include "xdp.h"

_Static_assert(DATA_OFF >= HDRS && DATA_OFF + DIO_ALIGN + SP_X_MAX_PAYLOAD <= FRAME,
	       "frame layout");
_Static_assert(XC_UNIT == SP_X_PAYLOAD, "a cached unit is one DATA frame");

static uint8_t *frame_at(struct xdp *x, uint64_t addr)
{
	return sp_xsk_frame(&x->xsk, addr);
}

static void tx_push(struct xdp *x, unsigned q, uint64_t addr, uint32_t len)
{
	/* never fails: the ring has room for every TX frame */
	sp_xsk_tx(&x->xsk, q, addr, len);
	x->tx_queued[q]++;
	x->s->st.frames_tx++;
}

/* A frame with headers and no payload (END, ERR); false if none free. */
static bool send_ctl(struct xdp *x, unsigned q, const struct sp_udp_addr *self,
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

static void reply_err(struct xdp *x, unsigned q, const struct sp_udp_addr *self,
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
	send_ctl(x, q, self, client, SP_X_ERR, req_id, err, 0, 0);
}

/*
 * Writes synchronously, in the loop: no request is taken while a write
 * is under way, and reads in flight, whatever they return, are not
 * admitted (their generation moved).
 */
static void on_write(struct xdp *x, const struct sp_udp_addr *self,
		     const struct sp_udp_addr *client, const struct sp_xinfo *m)
{
	struct server *s = x->s;
	const struct served_file *f;
	uint64_t first, last;
	ssize_t n;

	if (!s->writable)
		return reply_err(x, x->rx_q, self, client, m->req_id, SP_XE_RDONLY);
	if (m->aux >= s->nr_files)
		return reply_err(x, x->rx_q, self, client, m->req_id, SP_XE_NOFILE);
	f = &s->files[m->aux];
	if (m->offset >= f->size || m->len > f->size - m->offset)
		return reply_err(x, x->rx_q, self, client, m->req_id, SP_XE_RANGE);
	first = m->offset / XC_UNIT;
	last = (m->offset + m->len - 1) / XC_UNIT;
	if (s->cache)
		xdp_cache_invalidate(x, m->aux, first, last);
	n = pwrite(f->fd, m->payload, m->len, m->offset);
	/* bumped again: anything read while the write was under way is old */
	if (s->cache)
		xdp_cache_bump(x, m->aux, first, last);
	if (n != m->len) {
		sp_dbg("xdp: write to %s at %llu: %s", f->name, (unsigned long long)m->offset,
		       n < 0 ? strerror(errno) : "short");
		return reply_err(x, x->rx_q, self, client, m->req_id, SP_XE_IO);
	}
	s->st.writes++;
	s->st.write_bytes += m->len;
	/* no frame free: the client sends the write again */
	send_ctl(x, x->rx_q, self, client, SP_X_ACK, m->req_id, sp_crc32c(0, m->payload, m->len),
		 m->offset, m->len);
}

static void on_request(struct xdp *x, const uint8_t *pkt, uint32_t len)
{
	struct server *s = x->s;
	struct sp_udp_addr client, self;
	const uint8_t *payload;
	struct sp_xinfo m;
	struct xreq *r = NULL;
	size_t plen;
	uint64_t end;

	x->s->st.frames_rx++;
	if (sp_udp_parse(pkt, len, htons(s->port), &client, &self, &payload, &plen)) {
		/* not addressable: nobody to answer */
		s->st.errors++;
		s->st.err_malformed++;
		return;
	}
	if (sp_x_parse(payload, plen, &m) || (m.type != SP_X_REQ && m.type != SP_X_WRITE))
		return reply_err(x, x->rx_q, &self, &client, m.req_id, SP_XE_MALFORMED);
	if (m.type == SP_X_WRITE)
		return on_write(x, &self, &client, &m);
	if (m.aux >= s->nr_files)
		return reply_err(x, x->rx_q, &self, &client, m.req_id, SP_XE_NOFILE);
	if (m.offset >= s->files[m.aux].size)
		return reply_err(x, x->rx_q, &self, &client, m.req_id, SP_XE_RANGE);
	end = s->files[m.aux].size;
	if (m.length && m.length < end - m.offset)
		end = m.offset + m.length;
	if (end - m.offset > s->max_len)
		return reply_err(x, x->rx_q, &self, &client, m.req_id, SP_XE_TOOBIG);
	for (unsigned i = 0; i < s->max_inflight; i++) {
		const struct xreq *q = &x->reqs[i];

		/* a re-request of what is still being sent: it is on its way */
		if (q->used && q->req_id == m.req_id && q->first == m.offset &&
		    q->end == end && q->client.ip == client.ip &&
		    q->client.port == client.port)
			return;
		if (!q->used && !r)
			r = &x->reqs[i];
	}
	if (!r)
		return reply_err(x, x->rx_q, &self, &client, m.req_id, SP_XE_BUSY);
	*r = (struct xreq){
		.used = true, .f = &s->files[m.aux], .fd = x->dfd[m.aux],
		.req_id = m.req_id, .client = client, .self = self,
		.first = m.offset, .next = m.offset, .end = end, .start_ns = sp_now_ns(),
		.q = x->rx_q,
	};
	/* what the program would answer, had it the unit */
	if (s->cache && m.offset % XC_UNIT == 0 && m.length && m.length <= XC_UNIT &&
	    (end - m.offset == XC_UNIT || end == s->files[m.aux].size)) {
		r->cacheable = true;
		r->gen = xdp_cache_gen(x, m.aux, m.offset / XC_UNIT);
	}
	x->active++;
}

static void read_done(struct xdp *x, unsigned fi, int res);

/*
 * A free TX frame for request i's next payload (up to the next multiple
 * of x->payload in the file): its fmeta set, the request moved past it.
 */
static unsigned take_frame(struct xdp *x, unsigned i)
{
	struct xreq *r = &x->reqs[i];
	uint64_t pend = (r->next / x->payload + 1) * x->payload;
	unsigned fi = x->free_tx[--x->nr_free_tx] / FRAME;

	if (pend > r->end)
		pend = r->end;
	x->meta[fi] = (struct fmeta){ .req = i, .lead = r->next % DIO_ALIGN,
				      .plen = pend - r->next, .off = r->next };
	r->reads++;
	x->reads++;
	r->next = pend;
	return fi;
}

/* What a direct or passthrough read of frame fi covers: whole DIO_ALIGN units. */
static inline uint32_t aligned_len(const struct fmeta *m)
{
	return (m->lead + m->plen + DIO_ALIGN - 1) / DIO_ALIGN * DIO_ALIGN;
}

/*
 * A request's next frames from a file read in the loop, with one preadv
 * for as many frames as are free (up to SYNC_FRAMES): each frame gets
 * exactly its payload, where an io_uring read would have put it. A
 * 4 KiB request is two frames: one syscall instead of two.
 */
#define SYNC_FRAMES	16u

static void sync_reads(struct xdp *x, unsigned i)
{
	struct xreq *r = &x->reqs[i];
	struct iovec iov[SYNC_FRAMES];
	unsigned fis[SYNC_FRAMES], n = 0;
	uint64_t start = r->next;
	ssize_t got;
	int err;

	while (n < SYNC_FRAMES && r->next < r->end && x->nr_free_tx) {
		unsigned fi = take_frame(x, i);
		const struct fmeta *m = &x->meta[fi];

		iov[n] = (struct iovec){ frame_at(x, (uint64_t)fi * FRAME) + DATA_OFF + m->lead,
					 m->plen };
		fis[n++] = fi;
	}
	got = preadv(r->fd, iov, n, start);
	err = got < 0 ? -errno : 0;
	x->s->st.sync_reads++;
	for (unsigned k = 0; k < n; k++) {
		const struct fmeta *m = &x->meta[fis[k]];
		size_t part = got < 0 ? 0 : (size_t)got < iov[k].iov_len ? (size_t)got : iov[k].iov_len;

		if (got >= 0)
			got -= part;
		/* read_done counts the lead as read, as an aligned read has it */
		read_done(x, fis[k], err ? err : (int)(m->lead + part));
	}
}

/*
 * A request's next frames as NVMe/SCSI read commands, each into its
 * frame where an O_DIRECT read would have put it (the same DIO_ALIGN
 * rounding: the device's blocks are no larger). Submitted in one call.
 */
static void passthru_reads(struct xdp *x, unsigned i)
{
	struct xreq *r = &x->reqs[i];
	struct sp_target *t = x->pt[r->f - x->s->files];
	unsigned n = 0;
	int ret;

	while (!r->failed && r->next < r->end && x->nr_free_tx) {
		unsigned fi = take_frame(x, i);
		const struct fmeta *m = &x->meta[fi];
		struct sp_io *io = &x->pio[fi];

		*io = (struct sp_io){ .op = SP_OP_READ, .offset = m->off - m->lead,
				      .len = aligned_len(m), .buf = fi, .tag = fi };
		ret = t->be->queue(t, io);
		if (ret) {
			/* no room cannot happen (as many entries as frames): a bad command */
			read_done(x, fi, ret);
			continue;
		}
		x->pt_reads++;
		x->pt_n[r->f - x->s->files]++;
		x->s->st.passthru_reads++;
		n++;
	}
	if (n && (ret = t->be->submit(t, 0)) < 0)
		sp_dbg("xdp: passthrough submit: %s", strerror(-ret));
}

/* Completed passthrough reads, of every target. */
static unsigned reap_passthru(struct xdp *x)
{
	unsigned n = 0;

	for (unsigned f = 0; x->pt_reads && f < x->s->nr_files; f++) {
		struct sp_target *t = x->pt[f];
		struct sp_io *done[BATCH];
		int got;

		if (!t)
			continue;
		while (x->pt_n[f] && (got = t->be->reap(t, done, BATCH)) > 0) {
			x->pt_reads -= got;
			x->pt_n[f] -= got;
			for (int k = 0; k < got; k++)
				read_done(x, done[k]->tag, done[k]->res);
			n += got;
		}
	}
	return n;
}

/*
 * Reads the next frames of every active request into free TX frames.
 * A frame carries the file bytes up to the next x->payload boundary;
 * the read starts at the DIO_ALIGN boundary below, so that O_DIRECT
 * takes it, and the headers are written over the leading bytes later.
 */
static int submit_reads(struct xdp *x)
{
	unsigned n = 0;

	for (unsigned i = 0; i < x->s->max_inflight && x->nr_free_tx; i++) {
		struct xreq *r = &x->reqs[i];

		if (r->used && x->sync[r->f - x->s->files]) {
			while (!r->failed && r->next < r->end && x->nr_free_tx)
				sync_reads(x, i);
			continue;
		}
		if (r->used && x->pt[r->f - x->s->files]) {
			passthru_reads(x, i);
			continue;
		}
		while (r->used && !r->failed && r->next < r->end && x->nr_free_tx) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&x->ring);
			const struct fmeta *m;
			unsigned fi;

			if (!sqe)
				goto out;
			fi = take_frame(x, i);
			m = &x->meta[fi];
			io_uring_prep_read_fixed(sqe, r->fd, frame_at(x, (uint64_t)fi * FRAME) + DATA_OFF,
						 aligned_len(m), m->off - m->lead, fi);
			io_uring_sqe_set_data64(sqe, fi);
			n++;
		}
	}
out:
	return n ? io_uring_submit(&x->ring) : 0;
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
		reply_err(x, r->q, &r->self, &r->client, r->req_id, SP_XE_IO);
		sent = true;	/* or lost, like any frame: the client asks again */
	} else {
		sent = send_ctl(x, r->q, &r->self, &r->client, SP_X_END, r->req_id,
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

/* A read into frame fi is done (res: bytes or -errno): send, or give up. */
static void read_done(struct xdp *x, unsigned fi, int res)
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

static unsigned reap_reads(struct xdp *x)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (io_uring_peek_cqe(&x->ring, &cqe) == 0) {
		unsigned fi = cqe->user_data;
		int res = cqe->res;

		io_uring_cqe_seen(&x->ring, cqe);
		n++;
		read_done(x, fi, res);
	}
	return n;
}

/* Transmit completions give frames back; a END held back goes now. */
static unsigned reap_tx(struct xdp *x)
{
	unsigned n = 0;

	for (unsigned q = 0; q < x->nr_q; q++) {
		unsigned got;

		if (!x->tx_out[q])
			continue;
		got = sp_xsk_completed(&x->xsk, q, x->free_tx + x->nr_free_tx, BATCH);
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

static void rx_frame(void *arg, const uint8_t *frame, uint32_t len)
{
	on_request(arg, frame, len);
}

/* requests are parsed in place: their frames go straight back */
static unsigned reap_rx(struct xdp *x)
{
	unsigned n = 0;

	for (x->rx_q = 0; x->rx_q < x->nr_q; x->rx_q++)
		n += sp_xsk_rx(&x->xsk, x->rx_q, BATCH, rx_frame, x);
	return n;
}

static void kick_tx(struct xdp *x)
{
	for (unsigned q = 0; q < x->nr_q; q++) {
		if (!x->tx_queued[q])
			continue;
		x->tx_out[q] += x->tx_queued[q];
		x->tx_out_all += x->tx_queued[q];
		x->tx_queued[q] = 0;
		sp_xsk_kick(&x->xsk, q);
	}
}

/* ------------------------------------------------------------ set-up */

/*
 * As many blocks per frame as the link's MTU carries (a veth pair at
 * MTU 3132 takes three: a 4 KiB reply in two frames, not four).
 */
static unsigned frame_payload(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unsigned mtu = 1500;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (fd >= 0 && !ioctl(fd, SIOCGIFMTU, &ifr))
		mtu = ifr.ifr_mtu;
	if (fd >= 0)
		close(fd);
	return sp_x_payload_for_mtu(mtu);
}

static int setup_xsk(struct xdp *x)
{
	struct server *s = x->s;
	struct sp_xsk_opts o = {
		.ifname = s->ifname, .xdp_mode = s->xdp_mode, .port = htons(s->port),
		.nr_frames = NR_FRAMES, .nr_rx = NR_RX, .frame_size = FRAME, .ring = RING,
		.cache = s->cache, .cache_entries = s->cache_entries,
		.queues = sp_xsk_queues(s->ifname),
	};
	int ret = sp_xsk_open(&x->xsk, &o);

	if (ret)
		return ret;
	x->nr_q = x->xsk.nr_queues;
	s->st.xdp_queues = x->nr_q;
	snprintf(s->st.xdp_attach, sizeof(s->st.xdp_attach), "%s", x->xsk.attach);
	s->st.xdp_zerocopy = x->xsk.zerocopy;
	x->payload = frame_payload(s->ifname);
	s->st.frame_payload = x->payload;
	for (unsigned i = NR_RX; i < NR_FRAMES; i++)
		x->free_tx[x->nr_free_tx++] = (uint64_t)i * FRAME;
	return 0;
}

static void teardown(struct xdp *x)
{
	/* reads in flight target the UMEM: wait for them before unmapping */
	xdp_store_close(x);
	if (x->xsk.attached && x->s->cache)
		xdp_cache_stats(x);
	sp_xsk_close(&x->xsk);
	free(x->dfd);
	free(x->sync);
	free(x->reqs);
	free(x->meta);
	free(x->seen);
}

int sp_serve_xdp(struct server *s, atomic_bool *stop)
{
	struct xdp x = { .s = s };
	uint64_t last_work;
	int ret;

	x.reqs = calloc(s->max_inflight, sizeof(*x.reqs));
	x.meta = calloc(NR_FRAMES, sizeof(*x.meta));
	x.dfd = calloc(s->nr_files, sizeof(*x.dfd));
	x.sync = calloc(s->nr_files, sizeof(*x.sync));
	x.pt = calloc(s->nr_files, sizeof(*x.pt));
	x.pio = calloc(NR_FRAMES, sizeof(*x.pio));
	x.pt_n = calloc(s->nr_files, sizeof(*x.pt_n));
	x.seen = calloc(SEEN_SLOTS, sizeof(*x.seen));
	if (!x.reqs || !x.meta || !x.dfd || !x.seen || !x.sync || !x.pt || !x.pio || !x.pt_n) {
		ret = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < s->nr_files; i++)
		x.dfd[i] = -1;
	ret = setup_xsk(&x);
	if (!ret)
		ret = xdp_store_open(&x);
	if (ret)
		goto out;
	sp_serve_ready(s);
	last_work = sp_now_ns();
	while (!atomic_load(stop)) {
		unsigned work = reap_tx(&x) + reap_rx(&x);

		ret = submit_reads(&x);
		if (ret < 0) {
			sp_err("xdp: io_uring submit: %s", strerror(-ret));
			goto out;
		}
		work += ret + reap_reads(&x) + reap_passthru(&x);
		kick_tx(&x);
		if (work) {
			last_work = sp_now_ns();
			s->st.busy_polls++;
			continue;
		}
		if (x.pt_reads) {
			/* passthrough completions come on their targets' rings: poll */
			continue;
		} else if (x.reads) {
			/* only reads to wait for: wait on the ring */
			struct __kernel_timespec ts = { .tv_nsec = 1000000 };
			struct io_uring_cqe *cqe;

			io_uring_wait_cqe_timeout(&x.ring, &cqe, &ts);
		} else if (!x.tx_out_all && sp_now_ns() - last_work >= x.s->busy_poll_ns) {
			struct pollfd pfd[SP_XSK_MAX_QUEUES];

			for (unsigned q = 0; q < x.nr_q; q++)
				pfd[q] = (struct pollfd){ .fd = sp_xsk_fd(&x.xsk, q), .events = POLLIN };
			s->st.sleeps++;
			poll(pfd, x.nr_q, 100);
		} else if (x.tx_out_all) {
			/* completions of copy-mode transmits come from the kick */
			for (unsigned q = 0; q < x.nr_q; q++)
				if (x.tx_out[q] &&
				    sendto(sp_xsk_fd(&x.xsk, q), NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
				    errno != EAGAIN && errno != EBUSY && errno != ENOBUFS)
					sp_dbg("xdp: sendto: %s", strerror(errno));
		}
		s->st.busy_polls++;
	}
	ret = 0;
out:
	teardown(&x);
	return ret;
}
