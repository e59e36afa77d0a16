/* SPDX-License-Identifier: MIT */
/*
 * AF_XDP sockets on the receive queues of an interface (queue 0, or
 * the first N), one UMEM shared by all of them, and the XDP program
 * that feeds them (bpf/xsk_redirect.bpf.c, loaded here and nowhere
 * else). The program sends the frames for one UDP destination
 * port to the socket and everything else (ARP above all) to the kernel
 * stack, so the server (sp-serve -m xdp) and the client (sp-fetch -m
 * xdp) load the same program, each with its own port.
 *
 * Copy mode (veth has no zero-copy AF_XDP). Frames [0, nr_rx) start on
 * the fill rings, an equal share on each queue's, and go back to the
 * ring they came from; the rest are the caller's, for transmitting. A
 * queue's rings are its own: one thread per queue needs no lock.
 */
#ifndef SP_XSK_H
#define SP_XSK_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include <xdp/xsk.h>

#include "buf.h"

struct xsk_redirect_bpf;

struct sp_xsk_opts {
	const char *ifname;
	const char *xdp_mode;	/* "native", "skb", or NULL: native, else skb */
	uint16_t port;		/* UDP destination port to take, network order */
	unsigned nr_frames, nr_rx;	/* UMEM frames, and those for receiving */
	unsigned frame_size;	/* a power of two, 2048 or 4096 */
	unsigned ring;		/* every ring's size, a power of two */
	bool cache;		/* the hot-block cache of xsk_redirect.h */
	unsigned cache_entries;
	unsigned queues;	/* sockets on queues [0, queues); 0: one */
};

#define SP_XSK_MAX_QUEUES 8

struct sp_xsk_q {
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
};

struct sp_xsk {
	struct xsk_redirect_bpf *skel;
	int ifindex;
	uint32_t attach_flags;
	int link_fd;		/* the XDP attachment: closing it detaches */
	bool attached;
	char attach[8];		/* "native" or "skb" */
	/* the sockets share the UMEM without copies (the driver maps it for
	 * DMA); false: the kernel copies every frame in and out of it */
	bool zerocopy;
	bool zc_tried;		/* zero copy was asked for once */
	unsigned frame_size;
	struct sp_bufpool mem;
	struct xsk_umem *umem;
	struct sp_xsk_q q[SP_XSK_MAX_QUEUES];
	unsigned nr_queues;	/* sockets open, on queues [0, nr_queues) */
	/* the cache's maps and generation slots (valid with opts.cache) */
	int cache_fd, stats_fd;
	__u64 *gens;
};

/*
 * Loads and attaches the program, creates the UMEM and the sockets. 0 or
 * -errno, reported; sp_xsk_close() undoes any part that was done. A
 * socket refused on a queue after the first ends the list there, with a
 * notice: nr_queues says how many there are.
 */
int sp_xsk_open(struct sp_xsk *x, const struct sp_xsk_opts *o);
/* Removes the sockets, the UMEM and the program from the interface. */
void sp_xsk_close(struct sp_xsk *x);
/* Receive queues of an interface (ETHTOOL_GCHANNELS), 1 when unknown. */
unsigned sp_xsk_queues(const char *ifname);

static inline int sp_xsk_fd(const struct sp_xsk *x, unsigned q)
{
	return xsk_socket__fd(x->q[q].xsk);
}

static inline uint8_t *sp_xsk_frame(const struct sp_xsk *x, uint64_t addr)
{
	return xsk_umem__get_data(x->mem.base, addr);
}

/* Queues one frame on queue q's TX; false when the ring is full. */
bool sp_xsk_tx(struct sp_xsk *x, unsigned q, uint64_t addr, uint32_t len);
/*
 * Has the kernel transmit what is queued (copy mode sends in this call,
 * at most 32 frames of it). 0, -EAGAIN when frames are left on the ring,
 * or another -errno (-EBUSY, -ENOBUFS: the device is busy, kick later).
 */
int sp_xsk_kick(struct sp_xsk *x, unsigned q);
/* Takes up to max completed TX frames of queue q (frame-aligned addresses). */
unsigned sp_xsk_completed(struct sp_xsk *x, unsigned q, uint64_t *addrs, unsigned max);
/*
 * Hands up to max frames received on queue q to fn, in place, then
 * gives them back to that queue's fill ring. Returns how many there were.
 */
unsigned sp_xsk_rx(struct sp_xsk *x, unsigned q, unsigned max,
		   void (*fn)(void *arg, const uint8_t *frame, uint32_t len), void *arg);

/*
 * What the kernel dropped or refused on the sockets, summed over the
 * queues (XDP_STATISTICS): frames it could not deliver because the RX
 * ring was full or the fill ring empty are invisible to the program
 * otherwise, and look like loss on the wire.
 */
struct sp_xsk_drops {
	uint64_t rx_dropped, rx_invalid, rx_ring_full, rx_fill_empty;
	uint64_t tx_invalid, tx_ring_empty;
};
int sp_xsk_drops(const struct sp_xsk *x, struct sp_xsk_drops *d);

#endif
