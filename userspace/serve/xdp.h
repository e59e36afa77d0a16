/* SPDX-License-Identifier: MIT */
/*
 * sp-serve's xdp mode, its state shared by its files, bottom up:
 *   xdp_cache.c   the hot-block cache: admission, invalidation, counters
 *   xdp_frames.c  frames out: DATA around a read, END, ERR, ACK; TX reaping
 *   xdp_read.c    file reads into frames and writes, through the backend
 *                 interface (passthru/backend.h)
 *   xdp.c         requests in, set-up, the loop
 * A file calls only those above it in this list.
 */
#ifndef SERVE_XDP_H
#define SERVE_XDP_H

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
#define NR_TX		(NR_FRAMES - NR_RX)
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

/*
 * A target frames are read through; the UMEM is its buffer pool,
 * buffer i being frame i from DATA_OFF on. One psync target reads every
 * file without non-blocking reads (in the loop, a request's frames in
 * one preadv), one uring target (one ring, the files registered) every
 * other file, both over the descriptors of all files (sp_io.file is the
 * file's index); with --passthru the NVMe namespaces share one nvme
 * target and each SCSI disk has an sg target.
 */
struct reader {
	struct sp_target t;
	bool open;
	bool passthru;		/* completions polled: they come on rings of their own */
	unsigned inflight, queued;
};

enum { RD_PSYNC, RD_URING, RD_PASSTHRU };	/* rd[RD_PASSTHRU + i]: file i's */

struct xdp {
	struct server *s;
	struct sp_xsk *xsk;	/* the sockets, UMEM and program: every thread's */
	unsigned thread;	/* --threads: this loop's number */
	int *dfd;		/* per file: O_DIRECT descriptor, or the plain one */
	struct reader *rd;	/* RD_PASSTHRU + nr_files of them */
	unsigned *via;		/* per file: the reader its frames are read through */
	uint16_t *fidx;		/* per file: its sp_io.file in that reader */
	struct sp_io *pio;	/* per frame: its read */
	struct sp_target wr;	/* --writable: psync over every file's own descriptor */
	bool wr_open;
	uint64_t free_tx[NR_TX];
	unsigned nr_free_tx;
	unsigned nr_q;		/* sockets, on queues [0, nr_q) */
	unsigned q0, qstep;	/* this loop's queues: q0, q0 + qstep, ... below nr_q */
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
	uint8_t token_key[SP_X_TOKEN_KEY_LEN];	/* address tokens: random, this run's */
};

static inline uint8_t *frame_at(struct xdp *x, uint64_t addr)
{
	return sp_xsk_frame(x->xsk, addr);
}

/* xdp_cache.c */
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

/* xdp_frames.c */
/* A frame with headers and no payload (END, ERR, ACK); false if none free. */
bool xdp_send_ctl(struct xdp *x, unsigned q, const struct sp_udp_addr *self,
		  const struct sp_udp_addr *client, enum sp_x_type type,
		  uint32_t req_id, uint32_t aux, uint64_t off, uint64_t len);
/* A TOKEN for the request (off, len as it asked); false if no frame is free. */
bool xdp_send_token(struct xdp *x, unsigned q, const struct sp_udp_addr *self,
		    const struct sp_udp_addr *client, uint32_t req_id, uint64_t off,
		    uint64_t len, const uint8_t *token);
/* An ERR reply, counted by its cause. */
void xdp_reply_err(struct xdp *x, unsigned q, const struct sp_udp_addr *self,
		   const struct sp_udp_addr *client, uint32_t req_id, uint32_t err);
/* A read into frame fi is done (res: bytes or -errno): send, or give up. */
void xdp_read_done(struct xdp *x, unsigned fi, int res);
/* Transmit completions give frames back; an END held back goes now. */
unsigned xdp_reap_tx(struct xdp *x);
void xdp_kick_tx(struct xdp *x);

/* xdp_read.c */
/* Chooses each file's reader and opens them (and the writer); 0 or -errno, reported. */
int xdp_readers_open(struct xdp *x);
/* Waits for the reads in flight (they target the UMEM), then closes. */
void xdp_readers_close(struct xdp *x);
/* Reads the next frames of every active request; how many, or -errno. */
int xdp_submit_reads(struct xdp *x);
/* Completed reads, of every reader: how many. */
unsigned xdp_reap_reads(struct xdp *x);
/* With nothing else to do: waits for a read, or says false if it must poll. */
bool xdp_wait_reads(struct xdp *x);
/* Writes len bytes of data at off of file (--writable): bytes written or -errno. */
int xdp_write(struct xdp *x, uint32_t file, const uint8_t *data, uint32_t len, uint64_t off);

#endif
