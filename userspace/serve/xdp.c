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
 * bpf/xsk_redirect.h) itself. This loop fills the cache: a unit read
 * for a one-unit request is admitted on its --cache-admit'th miss, with
 * the generation its slot had when the request arrived, and only if the
 * slot still has it. A WRITE bumps the generation of every unit it
 * touches and deletes their entries before the write and bumps them
 * again after it, then acknowledges: whatever was read before, during
 * or for an entry from before the write is never served after the ACK.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend.h"
#include "sp_bpf.h"
#include "sp_log.h"
#include "sp_proto.h"
#include "ring.h"
#include "sp_time.h"
#include "sp_verify.h"
#include "sp_xsk.h"
#include "serve.h"
#include "xsk_redirect.h"

#define FRAME		4096u
#define NR_FRAMES	4096u
#define NR_RX		(NR_FRAMES / 2)	/* the rest are for transmit */
#define RING		2048u		/* every ring: as many as TX frames */
#define DATA_OFF	512u		/* payload of a frame: O_DIRECT aligned */
#define DIO_ALIGN	512u
#define BATCH		64u
#define HDRS		(SP_X_HDRS + sizeof(struct sp_xmsg))

#define SEEN_SLOTS	4096u		/* units missed once, for --cache-admit 2+ */

_Static_assert(DATA_OFF >= HDRS && DATA_OFF + DIO_ALIGN + SP_X_MAX_PAYLOAD <= FRAME,
	       "frame layout");
_Static_assert(XC_UNIT == SP_X_PAYLOAD, "a cached unit is one DATA frame");

struct xreq {
	bool used, failed;
	bool ended;		/* its LAST frame is out: no END needed */
	const struct served_file *f;
	int fd;
	uint32_t req_id;
	struct sp_udp_addr client, self;
	uint64_t first, next, end;	/* range asked for; next offset to read */
	uint64_t bytes;
	uint32_t frames;
	unsigned reads;		/* in flight */
	uint64_t start_ns;
	unsigned q;		/* the queue it came on and is answered on */
	bool cacheable;		/* exactly one whole unit */
	uint64_t gen;		/* of the unit's slot when the request came */
};

struct xdp {
	struct server *s;
	struct sp_xsk xsk;
	struct io_uring ring;
	bool ring_ok;
	int *dfd;		/* per file: O_DIRECT descriptor, or the plain one */
	bool *sync;		/* per file: read in the loop, not by io_uring */
	/*
	 * --passthru: per file, the passthrough target (NVMe, SCSI) its
	 * frames are read through, or NULL; the UMEM is its buffer pool,
	 * buffer i being frame i from DATA_OFF on.
	 */
	struct sp_target **pt;
	unsigned *pt_n;		/* per file: its passthrough reads in flight */
	struct sp_io *pio;	/* per frame: its passthrough read */
	unsigned pt_reads;	/* passthrough reads in flight (also in reads) */
	uint64_t free_tx[NR_FRAMES - NR_RX];
	unsigned nr_free_tx;
	unsigned nr_q;		/* sockets, on queues [0, nr_q) */
	unsigned rx_q;		/* queue of the frames being received */
	unsigned tx_queued[SP_XSK_MAX_QUEUES];	/* put on TX since the last kick */
	unsigned tx_out[SP_XSK_MAX_QUEUES];	/* transmitted, not yet completed */
	unsigned tx_out_all;
	struct xreq *reqs;
	unsigned active, reads;
	struct fmeta {		/* per frame, while a read into it is in flight */
		uint32_t req;
		uint16_t lead, plen;
		uint64_t off;
	} *meta;
	struct seen {		/* misses of a unit so far, direct-mapped */
		uint64_t tag;	/* key + 1; 0: empty */
		uint32_t misses;
	} *seen;
	struct xc_val val;	/* admission buffer */
	unsigned payload;	/* DATA bytes per frame: blocks the MTU carries */
};

/* ------------------------------------------------------------ cache */

static __u64 *gen_slot(struct xdp *x, uint32_t file, uint64_t unit)
{
	return &x->xsk.gens[xc_slot(file, unit)];
}

/* Whether this miss of the unit is the --cache-admit'th. */
static bool admit_now(struct xdp *x, uint32_t file, uint64_t unit)
{
	uint64_t tag = (unit << 20 ^ file) + 1;
	struct seen *e = &x->seen[(tag * 0x9E3779B97F4A7C15ULL) >> 52 & (SEEN_SLOTS - 1)];

	if (e->tag != tag) {
		e->tag = tag;
		e->misses = 0;
	}
	if (++e->misses < x->s->cache_admit)
		return false;
	e->tag = 0;
	return true;
}

/* Puts a unit just read into the cache, unless a write came meanwhile. */
static void admit(struct xdp *x, const struct xreq *r, const uint8_t *data,
		  uint16_t len, uint32_t crc)
{
	struct cache_stats *cs = &x->s->st.cache;
	uint32_t file = r->f - x->s->files;
	uint64_t unit = r->first / XC_UNIT;
	struct xc_val *v = &x->val;
	int ret;

	if (!admit_now(x, file, unit)) {
		cs->deferred++;
		return;
	}
	/* the data may predate a write acknowledged since the request came */
	if (__atomic_load_n(gen_slot(x, file, unit), __ATOMIC_ACQUIRE) != r->gen) {
		cs->raced++;
		return;
	}
	v->gen = r->gen;
	v->key = (struct xc_key){ .file = file, .unit = unit };
	v->crc = crc;
	v->len = len;
	v->sum = sp_inet_fold(sp_inet_sum(0, data, len));
	memcpy(v->data, data, len);
	ret = bpf_map_update_elem(x->xsk.cache_fd, &v->key, v, BPF_NOEXIST);
	if (!ret)
		cs->admissions++;
	else if (ret != -EEXIST)
		sp_dbg("xdp: admitting a unit: %s", strerror(-ret));
}

static void bump(struct xdp *x, uint32_t file, uint64_t first, uint64_t last)
{
	for (uint64_t u = first; u <= last; u++)
		__atomic_fetch_add(gen_slot(x, file, u), 1, __ATOMIC_SEQ_CST);
}

static void invalidate(struct xdp *x, uint32_t file, uint64_t first, uint64_t last)
{
	bump(x, file, first, last);
	for (uint64_t u = first; u <= last; u++) {
		struct xc_key key = { .file = file, .unit = u };

		if (!bpf_map_delete_elem(x->xsk.cache_fd, &key))
			x->s->st.cache.invalidations++;
	}
}

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
		invalidate(x, m->aux, first, last);
	n = pwrite(f->fd, m->payload, m->len, m->offset);
	/* bumped again: anything read while the write was under way is old */
	if (s->cache)
		bump(x, m->aux, first, last);
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
		r->gen = __atomic_load_n(gen_slot(x, m.aux, m.offset / XC_UNIT),
					 __ATOMIC_ACQUIRE);
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
			admit(x, r, payload, m->plen, crc);
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
	x->payload = frame_payload(s->ifname);
	s->st.frame_payload = x->payload;
	for (unsigned i = NR_RX; i < NR_FRAMES; i++)
		x->free_tx[x->nr_free_tx++] = (uint64_t)i * FRAME;
	return 0;
}

/*
 * Whether io_uring can read fd inline. A file without non-blocking
 * reads (tmpfs, for one) has every io_uring read handed to an io-wq
 * worker, a thread switch per frame; preadv2(RWF_NOWAIT) refuses such
 * a file with EOPNOTSUPP. Such reads are cheaper done in the loop: the
 * same kernel copy from the page cache into the frame.
 */
static bool nowait_reads(int fd)
{
	char buf[DIO_ALIGN] __attribute__((aligned(DIO_ALIGN)));
	struct iovec iov = { buf, sizeof(buf) };

	return !(preadv2(fd, &iov, 1, 0, RWF_NOWAIT) < 0 && errno == EOPNOTSUPP);
}

/*
 * --passthru: file i is read with the commands of its device's own
 * passthrough backend (NVMe uring_cmd on /dev/ngXnY, SCSI through sg),
 * into the UMEM registered as that ring's fixed buffers: buffer j is
 * frame j from DATA_OFF on, where the O_DIRECT path reads too.
 */
static int open_passthru(struct xdp *x, unsigned i)
{
	const struct served_file *f = &x->s->files[i];
	struct sp_bufpool frames = x->xsk.mem;
	struct sp_target_opts o = {
		.depth = NR_FRAMES - NR_RX, .buf_size = FRAME - DATA_OFF, .fixed_bufs = true,
		.no_modern = true, .bufs = &frames,
	};
	const struct sp_backend *be;
	struct sp_devinfo d;
	char why[256];
	int ret;

	ret = sp_backend_detect(f->path, false, &be, &d, why, sizeof(why));
	if (ret) {
		sp_err("xdp: --passthru: %s", why);
		return ret;
	}
	if (!strcmp(be->name, "uring")) {
		sp_err("xdp: --passthru: %s is not an NVMe namespace or a SCSI disk", f->path);
		return -EINVAL;
	}
	if (d.lbs > DIO_ALIGN) {
		sp_err("xdp: --passthru: %s has %u-byte blocks; frames are read in %u-byte units",
		       f->path, d.lbs, DIO_ALIGN);
		return -EINVAL;
	}
	frames.base = (char *)frames.base + DATA_OFF;
	frames.buf_size = FRAME - DATA_OFF;
	frames.stride = FRAME;
	frames.nr = NR_FRAMES;
	x->pt[i] = calloc(1, sizeof(*x->pt[i]));
	if (!x->pt[i])
		return -ENOMEM;
	ret = sp_target_open(x->pt[i], be, &o, &d);
	if (ret) {
		sp_err("xdp: --passthru: %s", x->pt[i]->err);
		free(x->pt[i]);
		x->pt[i] = NULL;
		return ret;
	}
	snprintf(x->s->st.passthru_backend, sizeof(x->s->st.passthru_backend), "%s", be->name);
	sp_info("xdp: %s read through %s: %s", f->path, be->name, x->pt[i]->setup);
	return 0;
}

/* The UMEM, frame by frame, becomes io_uring's fixed buffers. */
static int setup_ring(struct xdp *x)
{
	struct sp_ring_opts ro = { .entries = RING, .sq_cpu = -1, .no_modern = true };
	struct sp_ring_info info;
	unsigned nr_sync = 0;
	int ret;

	ret = sp_ring_init(&x->ring, &ro, &info);
	if (ret) {
		sp_err("xdp: io_uring set-up: %s", strerror(-ret));
		return ret;
	}
	x->ring_ok = true;
	ret = sp_ring_register_pool(&x->ring, &x->xsk.mem);
	if (ret) {
		sp_err("xdp: registering the UMEM with io_uring: %s", strerror(-ret));
		return ret;
	}
	x->s->st.direct_io = true;
	for (unsigned i = 0; i < x->s->nr_files; i++) {
		const struct served_file *f = &x->s->files[i];

		if (x->s->passthru) {
			/* read by its device's commands; requests keep the plain descriptor */
			x->dfd[i] = f->fd;
			ret = open_passthru(x, i);
			if (ret)
				return ret;
			continue;
		}
		/*
		 * Frames are read at DIO_ALIGN granularity. A file with no
		 * block device under it (tmpfs) is read through the page
		 * cache: its pages are its storage, O_DIRECT would copy from
		 * them all the same, and io_uring hands each such read to an
		 * io-wq worker (4 KiB requests: 25% fewer per second).
		 */
		x->dfd[i] = f->dio && f->backed && f->lbs <= DIO_ALIGN ?
			    open(f->path, O_RDONLY | O_DIRECT | O_CLOEXEC) : -1;
		if (x->dfd[i] < 0) {
			if (f->backed)
				sp_notice("xdp: %s: no O_DIRECT in %u-byte units; reading through the page cache",
					  f->path, DIO_ALIGN);
			x->dfd[i] = f->fd;
			x->s->st.direct_io = false;
		}
		x->sync[i] = !nowait_reads(x->dfd[i]);
		nr_sync += x->sync[i];
	}
	if (nr_sync)
		sp_notice("xdp: %u of %u files have no non-blocking reads (io_uring would hand each read to a worker thread): read in the loop",
			  nr_sync, x->s->nr_files);
	return 0;
}

/* The program's per-CPU counters and what is left in the cache. */
static void read_cache_stats(struct xdp *x)
{
	struct cache_stats *cs = &x->s->st.cache;
	uint64_t v[XC_NR_STATS] = { 0 };
	struct xc_key key, next;
	void *prev = NULL;

	for (uint32_t k = 0; k < XC_NR_STATS; k++)
		if (sp_bpf_percpu_sum(x->xsk.stats_fd, k, &v[k]))
			return;
	cs->hits = v[XC_HIT];
	cs->misses = v[XC_MISS];
	cs->stale = v[XC_STALE];
	cs->torn = v[XC_TORN];
	cs->noroom = v[XC_NOROOM];
	cs->bypasses = v[XC_BYPASS];
	while (!bpf_map_get_next_key(x->xsk.cache_fd, prev, &next)) {
		cs->entries++;
		key = next;
		prev = &key;
	}
	/* the LRU evicts silently: whatever was admitted and is gone */
	if (cs->admissions > cs->invalidations + cs->entries)
		cs->evictions = cs->admissions - cs->invalidations - cs->entries;
}

static void teardown(struct xdp *x)
{
	/* reads in flight target the UMEM: wait for them before unmapping */
	for (unsigned f = 0; x->pt && x->pt_n && f < x->s->nr_files; f++) {
		struct sp_target *t = x->pt[f];
		struct sp_io *done[BATCH];
		int got;

		while (t && x->pt_n[f] && t->be->submit(t, 1) >= 0 &&
		       (got = t->be->reap(t, done, BATCH)) >= 0) {
			x->pt_n[f] -= got;
			x->reads -= got;
		}
		if (t)
			sp_target_close(t);
		free(t);
	}
	free(x->pt);
	free(x->pt_n);
	free(x->pio);
	while (x->ring_ok && x->reads) {
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(&x->ring, &cqe))
			break;
		io_uring_cqe_seen(&x->ring, cqe);
		x->reads--;
	}
	if (x->ring_ok)
		io_uring_queue_exit(&x->ring);
	for (unsigned i = 0; x->dfd && i < x->s->nr_files; i++)
		if (x->dfd[i] >= 0 && x->dfd[i] != x->s->files[i].fd)
			close(x->dfd[i]);
	if (x->xsk.attached && x->s->cache)
		read_cache_stats(x);
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
		ret = setup_ring(&x);
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
