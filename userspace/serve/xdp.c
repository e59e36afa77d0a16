// SPDX-License-Identifier: MIT
/*
 * sp-serve's xdp mode: the UDP protocol of sp_proto.h over AF_XDP.
 *
 * Storage to wire without a CPU copy in user space: the UMEM is also
 * the buffer pool of the backend targets files are read through
 * (xdp_read.c), registered with their rings as fixed buffers, so a file
 * block is read (O_DIRECT where the file allows it) straight into the
 * UMEM frame it is then transmitted from; only the headers and a CRC
 * are written around it (xdp_frames.c). A loop runs to completion:
 * receive requests, submit reads, turn completed reads into frames,
 * transmit, reclaim. It
 * busy-polls while there is work and sleeps in poll(2) on the socket
 * after --busy-poll without any (by default 200 us, or none where
 * there are two CPUs or fewer: the spinning would take the CPU that
 * the client, softirq and io-wq need).
 *
 * The XDP program (bpf/xsk_redirect.bpf.c) sends only our UDP port to
 * the socket, so ARP and the rest still reach the kernel.
 *
 * An interface with several receive queues gets a socket on each (one
 * UMEM, shared), served by one loop, or with --threads N by N loops
 * that split the queues (sp_serve_xdp): a request is answered on the
 * queue it came in on, so the reply reaches the client's socket on the
 * same queue (a veth delivers a frame to the peer's queue of the same
 * number).
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
#include <sys/random.h>
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
	int n;

	if (!s->writable)
		return xdp_reply_err(x, x->rx_q, self, client, m->req_id, SP_XE_RDONLY);
	if (m->aux >= s->nr_files)
		return xdp_reply_err(x, x->rx_q, self, client, m->req_id, SP_XE_NOFILE);
	f = &s->files[m->aux];
	if (m->offset >= f->size || m->len > f->size - m->offset)
		return xdp_reply_err(x, x->rx_q, self, client, m->req_id, SP_XE_RANGE);
	first = m->offset / XC_UNIT;
	last = (m->offset + m->len - 1) / XC_UNIT;
	if (s->cache)
		xdp_cache_invalidate(x, m->aux, first, last);
	n = xdp_write(x, m->aux, m->payload, m->len, m->offset);
	/* bumped again: anything read while the write was under way is old */
	if (s->cache)
		xdp_cache_bump(x, m->aux, first, last);
	if (n != (int)m->len) {
		sp_dbg("xdp: write to %s at %llu: %s", f->name, (unsigned long long)m->offset,
		       n < 0 ? strerror(-n) : "short");
		return xdp_reply_err(x, x->rx_q, self, client, m->req_id, SP_XE_IO);
	}
	s->st.writes++;
	s->st.write_bytes += m->len;
	/* no frame free: the client sends the write again */
	xdp_send_ctl(x, x->rx_q, self, client, SP_X_ACK, m->req_id, sp_crc32c(0, m->payload, m->len),
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
		return xdp_reply_err(x, x->rx_q, &self, &client, m.req_id, SP_XE_MALFORMED);
	if (m.type == SP_X_WRITE)
		return on_write(x, &self, &client, &m);
	if (m.aux >= s->nr_files)
		return xdp_reply_err(x, x->rx_q, &self, &client, m.req_id, SP_XE_NOFILE);
	if (m.offset >= s->files[m.aux].size)
		return xdp_reply_err(x, x->rx_q, &self, &client, m.req_id, SP_XE_RANGE);
	end = s->files[m.aux].size;
	if (m.length && m.length < end - m.offset)
		end = m.offset + m.length;
	if (end - m.offset > s->max_len)
		return xdp_reply_err(x, x->rx_q, &self, &client, m.req_id, SP_XE_TOOBIG);
	/*
	 * Reflection: the source address of a datagram may be forged, and
	 * the reply would flood whoever it names. A reply more than
	 * SP_X_AMPLIFY times the request's frame goes only to an address
	 * that showed it receives: the request carries the token the
	 * server gave it (errors above and TOKEN itself are no larger than
	 * the request, or little more).
	 */
	if (!sp_x_unverified_ok(len, sp_x_reply_bytes(m.offset, end - m.offset, x->payload))) {
		uint64_t period = sp_now_ns() / (SP_X_TOKEN_PERIOD_S * 1000000000ull);
		uint8_t token[SP_X_TOKEN_LEN];

		if (!m.payload || !sp_x_token_ok(x->token_key, client.ip, period, m.payload)) {
			sp_x_token_make(x->token_key, client.ip, period, token);
			s->st.token_replies++;
			/* no frame free: the client asks again */
			xdp_send_token(x, x->rx_q, &self, &client, m.req_id, m.offset, m.length,
				       token);
			return;
		}
	}
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
		return xdp_reply_err(x, x->rx_q, &self, &client, m.req_id, SP_XE_BUSY);
	*r = (struct xreq){
		.used = true, .f = &s->files[m.aux],
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

static void rx_frame(void *arg, const uint8_t *frame, uint32_t len)
{
	on_request(arg, frame, len);
}

/* requests are parsed in place: their frames go straight back */
static unsigned reap_rx(struct xdp *x)
{
	unsigned n = 0;

	for (x->rx_q = x->q0; x->rx_q < x->nr_q; x->rx_q += x->qstep)
		n += sp_xsk_rx(x->xsk, x->rx_q, BATCH, rx_frame, x);
	return n;
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

/* The program, UMEM and sockets every loop shares; 0 or -errno (reported). */
static int setup_xsk(struct server *s, struct sp_xsk *xsk)
{
	struct sp_xsk_opts o = {
		.ifname = s->ifname, .xdp_mode = s->xdp_mode, .port = htons(s->port),
		.nr_frames = NR_FRAMES, .nr_rx = NR_RX, .frame_size = FRAME, .ring = RING,
		.cache = s->cache, .cache_entries = s->cache_entries,
		.queues = sp_xsk_queues(s->ifname),
	};
	int ret = sp_xsk_open(xsk, &o);

	if (ret)
		return ret;
	s->st.xdp_queues = xsk->nr_queues;
	snprintf(s->st.xdp_attach, sizeof(s->st.xdp_attach), "%s", xsk->attach);
	s->st.xdp_zerocopy = xsk->zerocopy;
	s->st.frame_payload = frame_payload(s->ifname);
	return 0;
}

/*
 * Loop t of n: the queues t, t + n, ... and a 1/n share of the transmit
 * frames, with state, descriptors and readers (rings) of its own. 0 or
 * -errno (reported).
 */
static int xdp_init(struct xdp *x, struct server *s, struct sp_xsk *xsk,
		    const uint8_t *key, unsigned t, unsigned n)
{
	unsigned per = NR_TX / n;

	x->s = s;
	x->xsk = xsk;
	x->thread = t;
	x->nr_q = xsk->nr_queues;
	x->q0 = t;
	x->qstep = n;
	x->payload = s->st.frame_payload;
	memcpy(x->token_key, key, sizeof(x->token_key));
	x->reqs = calloc(s->max_inflight, sizeof(*x->reqs));
	x->meta = calloc(NR_FRAMES, sizeof(*x->meta));
	x->dfd = calloc(s->nr_files, sizeof(*x->dfd));
	x->rd = calloc(RD_PASSTHRU + s->nr_files, sizeof(*x->rd));
	x->via = calloc(s->nr_files, sizeof(*x->via));
	x->fidx = calloc(s->nr_files, sizeof(*x->fidx));
	x->pio = calloc(NR_FRAMES, sizeof(*x->pio));
	x->seen = calloc(SEEN_SLOTS, sizeof(*x->seen));
	if (!x->reqs || !x->meta || !x->dfd || !x->seen || !x->rd || !x->via || !x->fidx ||
	    !x->pio)
		return -ENOMEM;
	for (unsigned i = 0; i < s->nr_files; i++)
		x->dfd[i] = -1;
	for (unsigned i = NR_RX + t * per; i < NR_RX + (t + 1) * per; i++)
		x->free_tx[x->nr_free_tx++] = (uint64_t)i * FRAME;
	return xdp_readers_open(x);
}

static void teardown(struct xdp *x)
{
	/* reads in flight target the UMEM: wait for them before unmapping */
	if (x->rd)
		xdp_readers_close(x);
	for (unsigned i = 0; x->dfd && i < x->s->nr_files; i++)
		if (x->dfd[i] >= 0 && x->dfd[i] != x->s->files[i].fd)
			close(x->dfd[i]);
	free(x->rd);
	free(x->via);
	free(x->fidx);
	free(x->pio);
	free(x->dfd);
	free(x->reqs);
	free(x->meta);
	free(x->seen);
}

/* One loop, run to completion over its queues, until *stop or an error
 * (which stops the others too). */
static int xdp_loop(struct xdp *x, atomic_bool *stop)
{
	struct server *s = x->s;
	uint64_t last_work = sp_now_ns();
	int ret;

	while (!atomic_load(stop)) {
		unsigned work = xdp_reap_tx(x) + reap_rx(x);

		ret = xdp_submit_reads(x);
		if (ret < 0) {
			sp_err("xdp: submitting reads: %s", strerror(-ret));
			atomic_store(stop, true);
			return ret;
		}
		work += ret + xdp_reap_reads(x);
		xdp_kick_tx(x);
		if (work) {
			last_work = sp_now_ns();
			s->st.busy_polls++;
			continue;
		}
		if (x->reads) {
			/* waits on the uring target's ring; passthrough reads are polled */
			if (!xdp_wait_reads(x))
				continue;
		} else if (!x->tx_out_all && sp_now_ns() - last_work >= s->busy_poll_ns) {
			struct pollfd pfd[SP_XSK_MAX_QUEUES];
			unsigned np = 0;

			for (unsigned q = x->q0; q < x->nr_q; q += x->qstep)
				pfd[np++] = (struct pollfd){ .fd = sp_xsk_fd(x->xsk, q), .events = POLLIN };
			s->st.sleeps++;
			poll(pfd, np, 100);
		} else if (x->tx_out_all) {
			/* completions of copy-mode transmits come from the kick */
			for (unsigned q = x->q0; q < x->nr_q; q += x->qstep)
				if (x->tx_out[q] &&
				    sendto(sp_xsk_fd(x->xsk, q), NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
				    errno != EAGAIN && errno != EBUSY && errno != ENOBUFS)
					sp_dbg("xdp: sendto: %s", strerror(errno));
		}
		s->st.busy_polls++;
	}
	return 0;
}

struct xworker {
	struct xdp x;
	struct server s;	/* the run's options; counters of its own */
	atomic_bool *stop;
	int ret;
};

static void *xworker_main(void *arg)
{
	struct xworker *w = arg;

	w->ret = xdp_loop(&w->x, w->stop);
	return NULL;
}

/*
 * --threads N: N loops over one program, UMEM and set of sockets, each
 * serving the queues t, t + N, ... (a queue's rings belong to one
 * thread, so nothing is locked), pinned to a CPU each, with its own
 * share of the transmit frames, requests, readers and rings. A request
 * is answered by the loop of the queue it came on. Counters are summed
 * at the end.
 */
int sp_serve_xdp(struct server *s, atomic_bool *stop)
{
	struct sp_xsk xsk = { 0 };
	uint8_t key[SP_X_TOKEN_KEY_LEN];
	struct xworker *w = NULL;
	unsigned n = s->threads ? s->threads : 1;
	int ret;

	/* a key nobody else has: tokens made with it prove an address */
	if (getrandom(key, sizeof(key), 0) != sizeof(key)) {
		ret = -errno;
		sp_err("xdp: random key for address tokens: %s", strerror(errno));
		return ret;
	}
	ret = setup_xsk(s, &xsk);
	if (ret)
		goto out;
	if (n > xsk.nr_queues) {
		sp_notice("xdp: %u queue(s) with a socket: %u thread(s), not %u", xsk.nr_queues,
			  xsk.nr_queues, n);
		n = xsk.nr_queues;
	}
	s->threads = n;
	w = calloc(n, sizeof(*w));
	if (!w) {
		ret = -ENOMEM;
		goto out;
	}
	for (unsigned t = 0; t < n; t++) {
		w[t].s = *s;
		memset(&w[t].s.st, 0, sizeof(w[t].s.st));
		sp_hist_init(&w[t].s.st.lat);
		w[t].s.st.frame_payload = s->st.frame_payload;
		w[t].stop = stop;
		ret = xdp_init(&w[t].x, &w[t].s, &xsk, key, t, n);
		if (ret)
			goto out;
	}
	/* what the readers chose, said once for all */
	s->st.direct_io = w[0].s.st.direct_io;
	memcpy(s->st.passthru_backend, w[0].s.st.passthru_backend, sizeof(s->st.passthru_backend));
	sp_serve_ready(s);
	if (n == 1) {
		ret = xdp_loop(&w[0].x, stop);
		goto out;
	}
	ret = sp_serve_threads(n, xworker_main, w, sizeof(*w), stop);
	for (unsigned t = 0; t < n; t++)
		if (w[t].ret && !ret)
			ret = w[t].ret;
out:
	for (unsigned t = 0; w && t < n; t++) {
		if (w[t].x.s)
			teardown(&w[t].x);
		sp_serve_stats_add(&s->st, &w[t].s.st);
		if (t < SERVE_MAX_THREADS)
			s->thread_requests[t] = w[t].s.st.requests;
	}
	if (xsk.attached && s->cache) {
		struct xdp x0 = { .s = s, .xsk = &xsk };

		xdp_cache_stats(&x0);
	}
	sp_xsk_close(&xsk);
	free(w);
	return ret;
}
