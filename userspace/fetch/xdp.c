// SPDX-License-Identifier: MIT
/*
 * sp-fetch -m xdp: the UDP protocol (xproto.c) over a transport of
 * AF_XDP sockets on the client's interface, in --threads N threads.
 *
 * Requests leave and replies arrive with their headers built and read
 * here, so no kernel UDP stack is crossed on this side. The XDP program
 * (sp_xsk.h, the server's program with our port) takes the frames for
 * our UDP port and passes everything else, so the kernel still answers
 * ARP. The port is reserved by binding a kernel UDP socket to it for
 * the run.
 *
 * A socket on every receive queue of the interface: replies come back
 * on the queue the request left on, but the XDP cache's replies on the
 * queue of the CPU that ran the server's XDP program (veth). With
 * --threads N, thread t sends on queue t and receives on the queues
 * q % N == t, pinned to a CPU whose replies land on queue t; the
 * request's slot number tells the thread, and a reply that reaches
 * another thread anyway is handed over to it (misrouted, counted).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sp_log.h"
#include "sp_proto.h"
#include "sp_rand.h"
#include "sp_time.h"
#include "sp_xsk.h"
#include "fetch.h"

#define XC_FRAME	4096u
#define XC_RX		4096u	/* per queue: frames the kernel can fill before we read */
#define XC_TX		1024u	/* per thread */
#define XC_RING		4096u
#define XC_RX_BATCH	32u	/* frames a queue hands over per look */

/*
 * A thread's inbox: replies another thread received for it (the XDP
 * cache answers on the queue of the CPU that ran it, which need not be
 * the requester's). Copies, so that the receiving thread can give its
 * frame back to the kernel at once; a full inbox drops, and the
 * requester asks again as for a lost frame.
 */
#define XC_INBOX	256u
struct xinbox {
	pthread_mutex_t lock;
	int wake;		/* eventfd: its owner's xdp_wait polls it */
	unsigned head, n;
	uint16_t len[XC_INBOX];
	uint8_t frame[XC_INBOX][XC_FRAME];
};

struct xshared {
	struct sp_xsk xsk;
	struct sp_udp_addr self, server;
	int port_fd;
	struct xinbox *inbox;	/* one per thread */
	unsigned running;	/* threads still fetching (atomic) */
};

/* a thread's transport */
struct xclient {
	struct fetch_transport t;	/* first: the engine hands it back */
	struct sp_xsk *xsk;
	struct sp_udp_addr self, server;
	unsigned txq;		/* the queue it sends on */
	unsigned rxq[SP_XSK_MAX_QUEUES], nr_rxq;	/* the queues it receives on */
	uint64_t free_tx[XC_TX];
	unsigned nr_free, queued;
	uint64_t frames_rx, frames_tx, csum_errors;
	struct xinbox *inbox;	/* every thread's, this one's at [thread] */
	unsigned thread, threads;
	unsigned parallel;	/* slots per thread: a reply's owner is slot / parallel */
	unsigned *running;	/* the threads still fetching */
};

static int xdp_flush(struct fetch_transport *t)
{
	struct xclient *x = (struct xclient *)t;
	int ret = 0;

	/* copy mode sends 32 frames a call: until the ring is empty */
	for (unsigned tries = 0; x->queued && tries < 1024; tries++) {
		ret = sp_xsk_kick(x->xsk, x->txq);
		if (ret != -EAGAIN && ret != -EBUSY && ret != -ENOBUFS)
			break;
		if (ret == -EAGAIN)
			x->nr_free += sp_xsk_completed(x->xsk, x->txq, x->free_tx + x->nr_free,
						       XC_TX - x->nr_free);
	}
	x->frames_tx += x->queued;
	x->queued = 0;
	x->nr_free += sp_xsk_completed(x->xsk, x->txq, x->free_tx + x->nr_free,
				       XC_TX - x->nr_free);
	return ret == -EAGAIN || ret == -EBUSY || ret == -ENOBUFS ? 0 : ret;
}

/* A request frame: headers built here, UDP checksum included. */
static int xdp_send(struct fetch_transport *t, uint32_t req_id, uint32_t id, uint64_t off,
		    uint64_t len, size_t n, const uint8_t *token)
{
	struct xclient *x = (struct xclient *)t;
	uint64_t addr;
	uint8_t *p;
	int ret;

	if (!x->nr_free && (ret = xdp_flush(t)))
		return ret;
	if (!x->nr_free)
		return -ENOBUFS;
	addr = x->free_tx[--x->nr_free];
	p = sp_xsk_frame(x->xsk, addr);
	sp_x_fill_req(p + SP_X_HDRS, n, req_id, id, off, len, token);
	sp_udp_fill(p, &x->self, &x->server, n);
	/* the padding is zeros: it adds nothing to the sum */
	sp_udp_csum_set(p, sp_inet_sum(0, p + SP_X_HDRS,
				       sizeof(struct sp_xmsg) + (token ? SP_X_TOKEN_LEN : 0)));
	if (!sp_xsk_tx(x->xsk, x->txq, addr, SP_X_HDRS + n)) {
		x->free_tx[x->nr_free++] = addr;
		return -ENOBUFS;
	}
	x->queued++;
	return 0;
}

/*
 * Our MAC and IPv4 address are the interface's; the server's MAC comes
 * from the kernel's neighbour table, after a datagram to the server's
 * discard port has made the kernel resolve it (ARP still goes through
 * the kernel: the XDP program passes it). So the server must be on the
 * interface's link, which is what AF_XDP can reach anyway.
 */
static int xdp_addresses(struct client *c, struct xshared *x)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", c->ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
		ret = -errno;
		sp_fetch_fail(c, "%s: no hardware address: %s", c->ifname, strerror(errno));
		goto out;
	}
	memcpy(x->self.mac, ifr.ifr_hwaddr.sa_data, 6);
	ifr.ifr_addr.sa_family = AF_INET;
	if (ioctl(fd, SIOCGIFADDR, &ifr)) {
		ret = -errno;
		sp_fetch_fail(c, "%s: no IPv4 address: %s", c->ifname, strerror(errno));
		goto out;
	}
	x->self.ip = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr;
	/* -m xdp resolved the server as IPv4 only */
	x->server.ip = ((const struct sockaddr_in *)&c->sa)->sin_addr.s_addr;
	x->server.port = ((const struct sockaddr_in *)&c->sa)->sin_port;
	/* a port of our own, held in the kernel's table for the run */
	x->port_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = x->self.ip;
	if (x->port_fd < 0 || bind(x->port_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(x->port_fd, (struct sockaddr *)&sa, &salen)) {
		ret = -errno;
		sp_fetch_fail(c, "reserving a UDP port on %s: %s", inet_ntoa(sa.sin_addr), strerror(errno));
		goto out;
	}
	x->self.port = sa.sin_port;
	for (unsigned tries = 0;; tries++) {
		struct arpreq ar = { 0 };
		struct sockaddr_in discard = *(const struct sockaddr_in *)&c->sa;

		memcpy(&ar.arp_pa, &discard, sizeof(discard));
		((struct sockaddr_in *)&ar.arp_pa)->sin_port = 0;
		snprintf(ar.arp_dev, sizeof(ar.arp_dev), "%s", c->ifname);
		if (!ioctl(fd, SIOCGARP, &ar) && (ar.arp_flags & ATF_COM)) {
			memcpy(x->server.mac, ar.arp_ha.sa_data, 6);
			break;
		}
		if (tries == 100 || atomic_load(&sp_fetch_interrupted)) {
			ret = -EHOSTUNREACH;
			sp_fetch_fail(c, "%s: no link-layer address for %s (not on this link?)",
				      c->ifname, c->server);
			goto out;
		}
		discard.sin_port = htons(9);
		sendto(x->port_fd, "", 0, 0, (struct sockaddr *)&discard, sizeof(discard));
		usleep(10000);
	}
out:
	close(fd);
	return ret;
}

/* The sockets, the UMEM and the program, for every thread. 0 or -errno. */
static int xdp_setup(struct client *c, struct xshared *x)
{
	unsigned nq = sp_xsk_queues(c->ifname);
	struct sp_xsk_opts o = {
		.ifname = c->ifname, .xdp_mode = c->xdp_mode, .frame_size = XC_FRAME,
		.ring = XC_RING,
	};
	int ret;

	if (nq > SP_XSK_MAX_QUEUES)
		nq = SP_XSK_MAX_QUEUES;
	o.queues = nq;
	o.nr_rx = XC_RX * nq;
	o.nr_frames = o.nr_rx + XC_TX * (c->threads < nq ? c->threads : nq);
	x->port_fd = -1;
	ret = xdp_addresses(c, x);
	if (ret)
		return ret;
	o.port = x->self.port;
	ret = sp_xsk_open(&x->xsk, &o);
	if (ret) {
		sp_fetch_fail(c, "AF_XDP on %s: %s", c->ifname, strerror(-ret));
		return ret;
	}
	snprintf(c->xdp_attach, sizeof(c->xdp_attach), "%s", x->xsk.attach);
	c->xdp_zerocopy = x->xsk.zerocopy;
	c->queues = x->xsk.nr_queues;
	if (c->threads > c->queues) {
		sp_notice("%s has %u receive queue%s with a socket: %u thread%s, not %u",
			  c->ifname, c->queues, c->queues > 1 ? "s" : "", c->queues,
			  c->queues > 1 ? "s" : "", c->threads);
		c->threads = c->queues;
	}
	return 0;
}

static void xdp_teardown(struct xshared *x)
{
	sp_xsk_close(&x->xsk);
	if (x->port_fd >= 0)
		close(x->port_fd);
}

/* Thread t's share: its TX frames, the queue it sends on, those it reads. */
static void xdp_thread_init(const struct client *c, struct xclient *x)
{
	struct xshared *xs = c->xs;
	unsigned nq = xs->xsk.nr_queues, first_tx = xs->xsk.mem.nr - XC_TX * c->threads;

	x->xsk = &xs->xsk;
	x->self = xs->self;
	x->server = xs->server;
	x->txq = c->thread;
	x->inbox = xs->inbox;
	x->thread = c->thread;
	x->threads = c->threads;
	x->parallel = c->parallel;
	x->running = &xs->running;
	for (unsigned q = c->thread; q < nq; q += c->threads)
		x->rxq[x->nr_rxq++] = q;
	for (unsigned i = 0; i < XC_TX; i++)
		x->free_tx[x->nr_free++] =
			(uint64_t)(first_tx + c->thread * XC_TX + i) * XC_FRAME;
}

struct xrx {
	struct xclient *x;
	struct fetch_udp *u;
};

static void xdp_frame(void *arg, const uint8_t *frame, uint32_t len)
{
	struct xrx *r = arg;
	struct xclient *x = r->x;
	struct sp_udp_addr src, dst;
	const uint8_t *payload;
	size_t plen;

	/* the program sends us only our port; still, only the server talks */
	if (sp_udp_parse(frame, len, x->self.port, &src, &dst, &payload, &plen) ||
	    src.ip != x->server.ip || src.port != x->server.port)
		return;
	x->frames_rx++;
	/* no kernel checks it here: a bad frame is dropped, as it would, and
	 * asked for again */
	if (!sp_udp_csum_ok(frame, len)) {
		x->csum_errors++;
		return;
	}
	sp_fetch_udp_reply(r->u, payload, plen);
}

static int xdp_wait(struct fetch_transport *t, uint64_t timeout_ns)
{
	struct timespec ts = sp_ns_to_timespec(timeout_ns);
	struct xclient *x = (struct xclient *)t;
	struct pollfd pfd[SP_XSK_MAX_QUEUES + 1];
	unsigned n = 0;
	int ret;

	for (unsigned i = 0; i < x->nr_rxq; i++)
		pfd[n++] = (struct pollfd){ .fd = sp_xsk_fd(x->xsk, x->rxq[i]), .events = POLLIN };
	/* replies another thread received for this one wake it too */
	if (x->inbox)
		pfd[n++] = (struct pollfd){ .fd = x->inbox[x->thread].wake, .events = POLLIN };
	ret = ppoll(pfd, n, &ts, NULL);
	/*
	 * Consume the wake-up here, not where the inbox is drained: a
	 * hand-over signals after it unlocks, so the drain may already have
	 * taken its frame; a count left behind would make every later ppoll
	 * return at once and the thread spin.
	 */
	if (ret > 0 && x->inbox && (pfd[n - 1].revents & POLLIN)) {
		eventfd_t v;

		eventfd_read(pfd[n - 1].fd, &v);
	}
	return ret;
}

static int xdp_handoff(struct fetch_transport *t, unsigned owner, const uint8_t *buf,
		       size_t len)
{
	struct xclient *x = (struct xclient *)t;
	struct xinbox *in = &x->inbox[owner];
	int ret = 0;

	if (len > XC_FRAME)
		return -EMSGSIZE;
	pthread_mutex_lock(&in->lock);
	if (in->n < XC_INBOX) {
		unsigned i = (in->head + in->n++) % XC_INBOX;

		memcpy(in->frame[i], buf, len);
		in->len[i] = len;
	} else {
		ret = -ENOBUFS;
	}
	pthread_mutex_unlock(&in->lock);
	if (!ret)
		eventfd_write(in->wake, 1);
	return ret;
}

/* Replies other threads received for this one. */
static unsigned drain_inbox(struct xclient *x, struct fetch_udp *u)
{
	struct xinbox *in = x->inbox ? &x->inbox[x->thread] : NULL;
	unsigned got = 0;

	if (!in || !__atomic_load_n(&in->n, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&in->lock);
	for (; in->n; in->n--, got++) {
		sp_fetch_udp_reply(u, in->frame[in->head], in->len[in->head]);
		in->head = (in->head + 1) % XC_INBOX;
	}
	pthread_mutex_unlock(&in->lock);
	return got;
}

static int xdp_recv(struct fetch_transport *t, struct fetch_udp *u)
{
	struct xclient *x = (struct xclient *)t;
	struct xrx r = { x, u };
	unsigned got = 0;

	/* the frames are handed over in place: the clock first */
	sp_fetch_udp_clock(u);
	got += drain_inbox(x, u);
	for (unsigned i = 0; i < x->nr_rxq; i++)
		got += sp_xsk_rx(x->xsk, x->rxq[i], XC_RX_BATCH, xdp_frame, &r);
	return got;
}

/* A frame that came to a thread whose own fetches are done: its owner's. */
static void linger_frame(void *arg, const uint8_t *frame, uint32_t len)
{
	struct xclient *x = arg;
	struct sp_udp_addr src, dst;
	const uint8_t *payload;
	struct sp_xinfo m;
	size_t plen;
	unsigned owner;

	if (sp_udp_parse(frame, len, x->self.port, &src, &dst, &payload, &plen) ||
	    src.ip != x->server.ip || src.port != x->server.port ||
	    !sp_udp_csum_ok(frame, len) || sp_x_parse(payload, plen, &m))
		return;
	owner = (m.req_id >> REQ_SLOT_SHIFT) / x->parallel;
	/* the slot number is the server's echo: only a thread that exists */
	if (owner != x->thread && owner < x->threads)
		xdp_handoff(&x->t, owner, payload, plen);
}

/*
 * A thread done with its own fetches keeps reading its queues for the
 * others until every thread is done: replies steered to its queue by
 * the CPU that ran the cache would otherwise wait there unread.
 */
static void linger(struct xclient *x)
{
	__atomic_sub_fetch(x->running, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(x->running, __ATOMIC_ACQUIRE) &&
	       !atomic_load(&sp_fetch_interrupted)) {
		if (xdp_wait(&x->t, 10000000) <= 0)
			continue;
		for (unsigned i = 0; i < x->nr_rxq; i++)
			sp_xsk_rx(x->xsk, x->rxq[i], XC_RX_BATCH, linger_frame, x);
	}
}

/* Thread c->thread's run of the engine on its own transport. */
static int xdp_run(struct client *c)
{
	struct xclient *x = calloc(1, sizeof(*x));
	int ret;

	if (!x)
		return -ENOMEM;
	x->t = (struct fetch_transport){ .send = xdp_send, .flush = xdp_flush,
					 .wait = xdp_wait, .recv = xdp_recv };
	if (c->threads > 1)
		x->t.handoff = xdp_handoff;
	xdp_thread_init(c, x);
	ret = sp_fetch_udp_run(c, &x->t);
	if (c->threads > 1)
		linger(x);
	c->frames_rx = x->frames_rx;
	c->frames_tx = x->frames_tx;
	c->csum_errors = x->csum_errors;
	free(x);
	return ret;
}

/*
 * A CPU for thread t whose XDP_TX replies land on queue t: veth puts
 * them on the peer's queue (CPU % queues). -1 when none is allowed.
 */
static int thread_cpu(unsigned t, unsigned queues)
{
	cpu_set_t set;
	int first = -1;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -1;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if ((unsigned)cpu % queues == t)
			return cpu;
		if (first < 0)
			first = cpu;
	}
	return first;
}

static void *xdp_thread(void *arg)
{
	struct client *c = arg;
	int ret = xdp_run(c);

	if (ret && !c->fail[0])
		sp_fetch_fail(c, "%s", strerror(-ret));
	return NULL;
}

/*
 * The sockets set up once, then one engine run per thread on a
 * copy of the client, each with its share of -n, its own counters and
 * slots; the copies are summed into c.
 */
int sp_fetch_xdp(struct client *c)
{
	struct client *w = NULL;
	struct xshared xs = { .port_fd = -1 };
	pthread_t tids[SP_XSK_MAX_QUEUES];
	unsigned started = 0, unpinned = 0;
	int ret;

	c->xs = &xs;
	ret = xdp_setup(c, &xs);
	if (ret)
		goto out;
	if (c->threads > 1) {
		xs.inbox = calloc(c->threads, sizeof(*xs.inbox));
		if (!xs.inbox) {
			ret = -ENOMEM;
			goto out;
		}
		for (unsigned t = 0; t < c->threads; t++) {
			pthread_mutex_init(&xs.inbox[t].lock, NULL);
			xs.inbox[t].wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (xs.inbox[t].wake < 0) {
				ret = -errno;
				goto out;
			}
		}
	}
	if (c->threads == 1) {
		ret = xdp_run(c);
		c->thread_done[0] = c->done;
		goto out;
	}
	w = calloc(c->threads, sizeof(*w));
	if (!w) {
		ret = -ENOMEM;
		goto out;
	}
	xs.running = c->threads;
	for (unsigned t = 0; t < c->threads; t++) {
		struct client *wc = &w[t];
		pthread_attr_t attr;
		cpu_set_t set;
		int cpu = thread_cpu(t, c->queues);

		*wc = *c;
		wc->thread = t;
		wc->requests = c->requests / c->threads + (t < c->requests % c->threads);
		/* --rate in all: each thread paces its share */
		wc->rate = c->rate ? c->rate / c->threads + (t < c->rate % c->threads) : 0;
		wc->rng = sp_rand_stream(c->rng, t);
		wc->progress = c->progress && !t;
		sp_hist_init(&wc->lat);
		pthread_attr_init(&attr);
		CPU_ZERO(&set);
		if (cpu >= 0) {
			CPU_SET(cpu, &set);
			pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		}
		unpinned += cpu < 0 || (unsigned)cpu % c->queues != t;
		ret = -pthread_create(&tids[t], &attr, xdp_thread, wc);
		pthread_attr_destroy(&attr);
		if (ret) {
			sp_fetch_fail(c, "starting thread %u: %s", t, strerror(-ret));
			/* those never started do not hold the others back */
			__atomic_sub_fetch(&xs.running, c->threads - t, __ATOMIC_ACQ_REL);
			break;
		}
		started++;
	}
	if (unpinned)
		sp_notice("%u of %u threads have no CPU whose cache replies land on their queue: "
			  "their replies are handed over between threads",
			  unpinned, c->threads);
	for (unsigned t = 0; t < started; t++) {
		struct client *wc = &w[t];

		pthread_join(tids[t], NULL);
		c->issued += wc->issued;
		c->done += wc->done;
		c->thread_done[t] = wc->done;
		c->bytes += wc->bytes;
		c->errors += wc->errors;
		c->mismatches += wc->mismatches;
		c->lost += wc->lost;
		c->retransmits += wc->retransmits;
		c->tokens += wc->tokens;
		c->busy += wc->busy;
		c->frames_rx += wc->frames_rx;
		c->frames_tx += wc->frames_tx;
		c->csum_errors += wc->csum_errors;
		c->misrouted += wc->misrouted;
		sp_hist_merge(&c->lat, &wc->lat);
		if (wc->fail[0] && !c->fail[0])
			snprintf(c->fail, sizeof(c->fail), "thread %u: %s", t, wc->fail);
	}
out:
	if (xs.xsk.nr_queues)
		sp_xsk_drops(&xs.xsk, &c->xsk_drops);
	xdp_teardown(&xs);
	for (unsigned t = 0; xs.inbox && t < c->threads; t++)
		if (xs.inbox[t].wake > 0)
			close(xs.inbox[t].wake);
	free(xs.inbox);
	c->xs = NULL;
	free(w);
	return c->fail[0] ? -EIO : ret;
}
