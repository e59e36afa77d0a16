// SPDX-License-Identifier: MIT
/*
 * The one loader of bpf/xsk_redirect.bpf.c, and the AF_XDP sockets it
 * feeds (see sp_xsk.h). Shared by sp-serve's xdp mode and sp-fetch's
 * xdp mode: same program, same socket set-up, one cleanup path.
 */
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sp_log.h"
#include "sp_xsk.h"
#include "xsk_redirect.h"
#include "xsk_redirect.skel.h"

static int xdp_link(struct sp_xsk *x, int prog)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = x->attach_flags);
	int fd = bpf_link_create(prog, x->ifindex, BPF_XDP, &lo);

	if (fd < 0)
		return fd;
	x->link_fd = fd;
	return 0;
}

static int attach_prog(struct sp_xsk *x, const struct sp_xsk_opts *o)
{
	int prog, ret;

	x->skel = xsk_redirect_bpf__open();
	if (!x->skel) {
		ret = -errno;
		sp_err("xdp: opening the BPF program: %s", strerror(-ret));
		return ret;
	}
	x->skel->rodata->udp_port = o->port;
	x->skel->rodata->cache_on = o->cache;
	ret = bpf_map__set_max_entries(x->skel->maps.cache, o->cache ? o->cache_entries : 1);
	if (ret) {
		sp_err("xdp: sizing the cache: %s", strerror(-ret));
		return ret;
	}
	ret = xsk_redirect_bpf__load(x->skel);
	if (ret) {
		sp_err("xdp: loading the BPF program: %s", strerror(-ret));
		return ret;
	}
	/*
	 * Through a BPF link: the kernel detaches the program when the last
	 * descriptor of the link goes, so a process that is killed, or
	 * crashes, leaves nothing on the interface.
	 */
	prog = bpf_program__fd(x->skel->progs.xsk_redirect);
	ret = -EOPNOTSUPP;
	if (!o->xdp_mode || !strcmp(o->xdp_mode, "native")) {
		x->attach_flags = XDP_FLAGS_DRV_MODE;
		ret = xdp_link(x, prog);
		if (ret && ret != -EBUSY && !o->xdp_mode)
			sp_notice("xdp: native mode refused on %s (%s), trying skb mode",
				  o->ifname, strerror(-ret));
	}
	if (ret && ret != -EBUSY && (!o->xdp_mode || !strcmp(o->xdp_mode, "skb"))) {
		x->attach_flags = XDP_FLAGS_SKB_MODE;
		ret = xdp_link(x, prog);
	}
	if (ret) {
		sp_err("xdp: attaching to %s: %s%s", o->ifname, strerror(-ret),
		       ret == -EBUSY ? " (another XDP program is attached there)" : "");
		return ret;
	}
	x->attached = true;
	snprintf(x->attach, sizeof(x->attach), "%s",
		 x->attach_flags & XDP_FLAGS_DRV_MODE ? "native" : "skb");
	x->cache_fd = bpf_map__fd(x->skel->maps.cache);
	x->stats_fd = bpf_map__fd(x->skel->maps.stats);
	x->gens = x->skel->bss->gens;
	return 0;
}

/*
 * Ring sizes and the rest of the socket's configuration; the first
 * socket takes the UMEM's fill and completion rings, every other one
 * gets its own (a UMEM shared across queues).
 */
static int open_queue(struct sp_xsk *x, const struct sp_xsk_opts *o, unsigned q)
{
	struct xsk_socket_config scfg = {
		.rx_size = o->ring, .tx_size = o->ring,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = x->attach_flags,
		.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP,
	};
	struct sp_xsk_q *xq = &x->q[q];
	int ret = -EOPNOTSUPP;

	/*
	 * Zero copy first, where the driver maps the UMEM itself (i40e,
	 * ice, mlx5, ...); veth, e1000e and skb mode refuse it, and every
	 * queue then binds in copy mode: the queues of one UMEM share a mode.
	 */
	if (!x->zc_tried || x->zerocopy) {
		scfg.bind_flags = XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP;
		ret = xsk_socket__create_shared(&xq->xsk, o->ifname, q, x->umem, &xq->rx,
						&xq->tx, &xq->fq, &xq->cq, &scfg);
		if (!x->zc_tried) {
			x->zc_tried = true;
			x->zerocopy = !ret;
			if (ret)
				sp_notice("xdp: zero-copy AF_XDP refused on %s (%s): copy mode",
					  o->ifname, strerror(-ret));
		}
	}
	if (ret && !x->zerocopy) {
		scfg.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP;
		/*
		 * EBUSY: the queue still has the buffer pool of a socket that
		 * was just closed (a run that ended a moment ago); the kernel
		 * releases it from a work item, later on a loaded machine.
		 * Give it up to 2 s before calling the queue taken.
		 */
		for (int i = 0; i < 20; i++) {
			ret = xsk_socket__create_shared(&xq->xsk, o->ifname, q, x->umem, &xq->rx,
							&xq->tx, &xq->fq, &xq->cq, &scfg);
			if (ret != -EBUSY)
				break;
			nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
		}
	}
	if (ret) {
		xq->xsk = NULL;
		return ret;
	}
	ret = xsk_socket__update_xskmap(xq->xsk, bpf_map__fd(x->skel->maps.xsks));
	if (ret) {
		sp_err("xdp: adding the socket of queue %u to the XSKMAP: %s", q, strerror(-ret));
		xsk_socket__delete(xq->xsk);
		xq->xsk = NULL;
	}
	return ret;
}

static int setup_sockets(struct sp_xsk *x, const struct sp_xsk_opts *o)
{
	struct xsk_umem_config ucfg = {
		.fill_size = o->ring, .comp_size = o->ring, .frame_size = o->frame_size,
	};
	unsigned want = o->queues ? o->queues : 1, per;
	int ret;

	if (want > SP_XSK_MAX_QUEUES)
		want = SP_XSK_MAX_QUEUES;
	x->frame_size = o->frame_size;
	ret = sp_bufpool_alloc(&x->mem, o->nr_frames, o->frame_size, 0);
	if (ret) {
		sp_err("xdp: UMEM of %u frames: %s", o->nr_frames, strerror(-ret));
		return ret;
	}
	ret = xsk_umem__create(&x->umem, x->mem.base, x->mem.map_len, &x->q[0].fq,
			       &x->q[0].cq, &ucfg);
	if (ret) {
		sp_err("xdp: UMEM registration: %s", strerror(-ret));
		return ret;
	}
	for (unsigned q = 0; q < want; q++) {
		ret = open_queue(x, o, q);
		if (ret && !q) {
			sp_err("xdp: AF_XDP socket on %s queue 0: %s", o->ifname, strerror(-ret));
			return ret;
		}
		if (ret) {
			/* frames arriving on the queues left out go to the stack */
			sp_notice("xdp: no AF_XDP socket on %s queue %u (%s): %u queue%s",
				  o->ifname, q, strerror(-ret), q, q > 1 ? "s" : "");
			break;
		}
		x->nr_queues++;
	}
	/* fewer queues than asked for: the frames left over stay unused */
	per = o->nr_rx / x->nr_queues;
	if (per > o->ring)
		per = o->ring;
	for (unsigned q = 0; q < x->nr_queues; q++) {
		struct sp_xsk_q *xq = &x->q[q];
		uint32_t idx;

		if (xsk_ring_prod__reserve(&xq->fq, per, &idx) != per) {
			sp_err("xdp: the fill ring holds fewer than %u frames", per);
			return -ENOSPC;
		}
		for (unsigned i = 0; i < per; i++)
			*xsk_ring_prod__fill_addr(&xq->fq, idx + i) =
				(uint64_t)(q * per + i) * o->frame_size;
		xsk_ring_prod__submit(&xq->fq, per);
	}
	return 0;
}

unsigned sp_xsk_queues(const char *ifname)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr = { .ifr_data = (void *)&ch };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unsigned n = 1;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	/* veth counts rx queues, most NICs combined ones */
	if (fd >= 0 && !ioctl(fd, SIOCETHTOOL, &ifr)) {
		n = ch.rx_count > ch.combined_count ? ch.rx_count : ch.combined_count;
		if (!n)
			n = 1;
	}
	if (fd >= 0)
		close(fd);
	return n;
}

int sp_xsk_open(struct sp_xsk *x, const struct sp_xsk_opts *o)
{
	int ret;

	*x = (struct sp_xsk){ .cache_fd = -1, .stats_fd = -1, .link_fd = -1 };
	x->ifindex = if_nametoindex(o->ifname);
	if (!x->ifindex) {
		sp_err("xdp: no interface '%s'", o->ifname);
		return -ENODEV;
	}
	ret = attach_prog(x, o);
	if (!ret)
		ret = setup_sockets(x, o);
	return ret;
}

void sp_xsk_close(struct sp_xsk *x)
{
	for (unsigned q = 0; q < SP_XSK_MAX_QUEUES; q++)
		if (x->q[q].xsk)
			xsk_socket__delete(x->q[q].xsk);
	if (x->umem)
		xsk_umem__delete(x->umem);
	if (x->attached)
		close(x->link_fd);
	xsk_redirect_bpf__destroy(x->skel);
	sp_bufpool_free(&x->mem);
	*x = (struct sp_xsk){ .cache_fd = -1, .stats_fd = -1, .link_fd = -1 };
}

bool sp_xsk_tx(struct sp_xsk *x, unsigned q, uint64_t addr, uint32_t len)
{
	struct xsk_ring_prod *tx = &x->q[q].tx;
	uint32_t idx;

	if (xsk_ring_prod__reserve(tx, 1, &idx) != 1)
		return false;
	xsk_ring_prod__tx_desc(tx, idx)->addr = addr;
	xsk_ring_prod__tx_desc(tx, idx)->len = len;
	xsk_ring_prod__submit(tx, 1);
	return true;
}

int sp_xsk_kick(struct sp_xsk *x, unsigned q)
{
	int err;

	if (!xsk_ring_prod__needs_wakeup(&x->q[q].tx) ||
	    sendto(sp_xsk_fd(x, q), NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
		return 0;
	err = errno;
	if (err != EAGAIN && err != EBUSY && err != ENOBUFS)
		sp_dbg("xdp: sendto: %s", strerror(err));
	return -err;
}

unsigned sp_xsk_completed(struct sp_xsk *x, unsigned q, uint64_t *addrs, unsigned max)
{
	struct xsk_ring_cons *cq = &x->q[q].cq;
	uint32_t idx;
	unsigned n = xsk_ring_cons__peek(cq, max, &idx);

	for (unsigned i = 0; i < n; i++)
		addrs[i] = *xsk_ring_cons__comp_addr(cq, idx + i) &
			   ~(uint64_t)(x->frame_size - 1);
	if (n)
		xsk_ring_cons__release(cq, n);
	return n;
}

int sp_xsk_drops(const struct sp_xsk *x, struct sp_xsk_drops *d)
{
	*d = (struct sp_xsk_drops){ 0 };
	for (unsigned q = 0; q < x->nr_queues; q++) {
		struct xdp_statistics st = { 0 };
		socklen_t len = sizeof(st);

		if (getsockopt(sp_xsk_fd(x, q), SOL_XDP, XDP_STATISTICS, &st, &len))
			return -errno;
		d->rx_dropped += st.rx_dropped;
		d->rx_invalid += st.rx_invalid_descs;
		d->tx_invalid += st.tx_invalid_descs;
		/* the last three came with 5.9; an older kernel's shorter
		 * struct leaves them 0 */
		d->rx_ring_full += st.rx_ring_full;
		d->rx_fill_empty += st.rx_fill_ring_empty_descs;
		d->tx_ring_empty += st.tx_ring_empty_descs;
	}
	return 0;
}

unsigned sp_xsk_rx(struct sp_xsk *x, unsigned q, unsigned max,
		   void (*fn)(void *arg, const uint8_t *frame, uint32_t len), void *arg)
{
	struct sp_xsk_q *xq = &x->q[q];
	uint32_t idx, fidx;
	unsigned n = xsk_ring_cons__peek(&xq->rx, max, &idx);

	if (!n)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&xq->rx, idx + i);

		fn(arg, sp_xsk_frame(x, d->addr), d->len);
	}
	/* the fill ring has room: it holds at most the frames we gave it */
	if (xsk_ring_prod__reserve(&xq->fq, n, &fidx) == n) {
		for (unsigned i = 0; i < n; i++)
			*xsk_ring_prod__fill_addr(&xq->fq, fidx + i) =
				xsk_ring_cons__rx_desc(&xq->rx, idx + i)->addr &
				~(uint64_t)(x->frame_size - 1);
		xsk_ring_prod__submit(&xq->fq, n);
	}
	xsk_ring_cons__release(&xq->rx, n);
	return n;
}
