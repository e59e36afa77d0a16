/* SPDX-License-Identifier: MIT */
/*
 * sp-serve's xdp mode, in three files: xdp.c runs the loop (requests,
 * reads, frames); xdp_store.c sets up and tears down how files are read
 * (io_uring on the UMEM, O_DIRECT, NVMe/SCSI passthrough); xdp_cache.c
 * keeps the hot-block cache the XDP program answers from. xdp.c calls
 * the other two; they call nothing of it.
 */
#ifndef SERVE_XDP_H
#define SERVE_XDP_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "sp_proto.h"
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

/* The generation of a unit's slot: a write moves it (see xdp_cache_invalidate). */
uint64_t xdp_cache_gen(struct xdp *x, uint32_t file, uint64_t unit);
/*
 * Offers a unit just read for one-unit request r: admitted on its
 * --cache-admit'th miss, unless a write came since r arrived.
 */
void xdp_cache_admit(struct xdp *x, const struct xreq *r, const uint8_t *data,
		     uint16_t len, uint32_t crc);
/* Moves the generation of units [first, last] of file. */
void xdp_cache_bump(struct xdp *x, uint32_t file, uint64_t first, uint64_t last);
/* Moves their generation and drops their entries: before a write. */
void xdp_cache_invalidate(struct xdp *x, uint32_t file, uint64_t first, uint64_t last);
/* Fills the cache counters of x->s->st from the program's maps, at the end. */
void xdp_cache_stats(struct xdp *x);

/* Sets up how each file is read: 0 or -errno (reported). */
int xdp_store_open(struct xdp *x);
/* Waits for reads in flight (they target the UMEM), then closes it all. */
void xdp_store_close(struct xdp *x);

#endif
