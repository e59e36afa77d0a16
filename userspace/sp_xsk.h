/* SPDX-License-Identifier: MIT */
/*
 * One AF_XDP socket on queue 0 of an interface, with its UMEM and the
 * XDP program that feeds it (bpf/xsk_redirect.bpf.c, loaded here and
 * nowhere else). The program sends the frames for one UDP destination
 * port to the socket and everything else (ARP above all) to the kernel
 * stack, so the server (sp-serve -m xdp) and the client (sp-fetch -m
 * xdp) load the same program, each with its own port.
 *
 * Copy mode (veth has no zero-copy AF_XDP). Frames [0, nr_rx) start on
 * the fill ring; the rest are the caller's, for transmitting.
 */
#ifndef SP_XSK_H
#define SP_XSK_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include <xdp/xsk.h>

#include "sp_buf.h"

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
};

struct sp_xsk {
	struct xsk_redirect_bpf *skel;
	int ifindex;
	uint32_t attach_flags;
	int link_fd;		/* the XDP attachment: closing it detaches */
	bool attached;
	char attach[8];		/* "native" or "skb" */
	unsigned frame_size;
	struct sp_bufpool mem;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
	/* the cache's maps and generation slots (valid with opts.cache) */
	int cache_fd, stats_fd;
	__u64 *gens;
};

/* Loads and attaches the program, creates UMEM and socket. 0 or -errno,
 * reported; sp_xsk_close() undoes any part that was done. */
int sp_xsk_open(struct sp_xsk *x, const struct sp_xsk_opts *o);
/* Removes the socket, the UMEM and the program from the interface. */
void sp_xsk_close(struct sp_xsk *x);

static inline uint8_t *sp_xsk_frame(const struct sp_xsk *x, uint64_t addr)
{
	return xsk_umem__get_data(x->mem.base, addr);
}

/* Queues one frame on TX; false when the ring is full. */
bool sp_xsk_tx(struct sp_xsk *x, uint64_t addr, uint32_t len);
/*
 * Has the kernel transmit what is queued (copy mode sends in this call,
 * at most 32 frames of it). 0, -EAGAIN when frames are left on the ring,
 * or another -errno (-EBUSY, -ENOBUFS: the device is busy, kick later).
 */
int sp_xsk_kick(struct sp_xsk *x);
/* Takes up to max completed TX frames (their frame-aligned addresses). */
unsigned sp_xsk_completed(struct sp_xsk *x, uint64_t *addrs, unsigned max);
/*
 * Hands up to max received frames to fn, in place, then gives them back
 * to the fill ring. Returns how many there were.
 */
unsigned sp_xsk_rx(struct sp_xsk *x, unsigned max,
		   void (*fn)(void *arg, const uint8_t *frame, uint32_t len), void *arg);

#endif
