/* SPDX-License-Identifier: MIT */
/*
 * What sp-fetch's modes share: the options and results of a run, the
 * checks against the source (common.c), and the client side of the UDP
 * protocol (xproto.c), which -m udp (udp.c) and -m xdp (xdp.c) run over
 * a transport of their own. main.c parses, dispatches and reports; one
 * file a mode: tcp.c, udp.c, xdp.c, fresh.c, bad.c. A mode calls into
 * this header's files only, never into another mode.
 */
#ifndef FETCH_H
#define FETCH_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_hist.h"
#include "sp_proto.h"
#include "sp_xsk.h"

#define BLK SP_X_PAYLOAD	/* verification granularity, bytes */
#define MAX_PIDS 8
#define UDP_MAX_FRAMES 64	/* frames of one sub-request: one bitmap word */

enum bad_kind { BAD_NONE, BAD_MALFORMED, BAD_NOFILE, BAD_RANGE, BAD_TOOBIG };

struct xshared;

struct client {
	bool udp;		/* the UDP protocol: -m udp or -m xdp */
	bool xdp;		/* ... through AF_XDP */
	const char *ifname, *xdp_mode;
	unsigned threads;	/* -m xdp: threads asked for, then run */
	unsigned thread;	/* of a thread's copy: its number */
	struct xshared *xs;	/* -m xdp: the socket set-up all threads share */
	struct sockaddr_storage sa;	/* the server: IPv4 or IPv6 (TCP, kernel UDP) */
	socklen_t salen;
	char server[64];		/* its address in words */
	const char *path, *name;
	uint32_t id;
	unsigned parallel;
	uint64_t requests, run_ns, len, chunk, timeout_ns;
	uint64_t rate;		/* --rate: requests per second offered; 0: closed loop */
	int pids[MAX_PIDS];
	unsigned nr_pids;
	enum bad_kind bad;
	unsigned fresh;		/* units of the --fresh check; 0: off */
	bool json, quiet, progress;
	/* source */
	uint64_t size;
	uint32_t *crcs;		/* one per BLK bytes of the file */
	uint64_t rng;
	bool sequential;	/* --sequential: ranges in file order */
	uint64_t next_off;	/* --sequential: where the next range starts */
	/* results */
	uint64_t issued, done, bytes, errors, mismatches, lost, retransmits, busy;
	uint64_t tokens;	/* UDP: requests the server answered with a TOKEN */
	uint64_t writes, stale;	/* --fresh */
	uint64_t frames_rx, frames_tx, csum_errors, misrouted;	/* -m xdp */
	unsigned queues;	/* -m xdp: receive queues with a socket */
	struct sp_xsk_drops xsk_drops;	/* -m xdp: what the kernel dropped */
	uint64_t thread_done[SP_XSK_MAX_QUEUES];	/* -m xdp: requests per thread */
	char xdp_attach[8];
	bool xdp_zerocopy;	/* -m xdp: sockets bound in zero-copy mode */
	uint64_t start_ns;
	struct sp_hist lat;
	char fail[256];
};

/* SIGINT or SIGTERM came */
extern atomic_bool sp_fetch_interrupted;
/* a thread failed: the others stop too */
extern atomic_bool sp_fetch_failed_any;

/* ------------------------------------------------------------ common.c */

/* Records the run's first failure, the one reported. */
void sp_fetch_fail(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Sizes FILE and takes the CRC of each of its blocks. 0 or -errno
 * (-ENODATA: empty). */
int sp_fetch_load_source(struct client *c);
/* The next range to fetch: the whole file, or --len at a random block. */
void sp_fetch_next_range(struct client *c, uint64_t *off, uint64_t *len);
/* Whether to start another request: neither -n nor -t is used up, and
 * nothing failed or interrupted the run. now: a recent sp_now_ns(). */
bool sp_fetch_more_at(struct client *c, uint64_t now);
bool sp_fetch_more(struct client *c);
/* --rate: when request number n is due (ns on sp_now_ns's clock). Its
 * latency counts from then, not from when a connection was free to send
 * it, so that a server falling behind shows in the percentiles instead
 * of slowing the load down (coordinated omission). */
uint64_t sp_fetch_due_ns(const struct client *c, uint64_t n);
/* The progress line on a terminal, twice a second; last: the final one. */
void sp_fetch_progress(struct client *c, bool last);
/* A TCP connection to the server, non-blocking, no Nagle. fd or -errno. */
int sp_fetch_tcp_connect(const struct client *c);
/* A UDP socket connected to the server, with a deep receive buffer. */
int sp_fetch_udp_socket(const struct client *c);

/* ------------------------------------------------------------ xproto.c */

/* A request's slot, 10 bits of its id, names its thread too (-m xdp) */
#define REQ_SLOT_SHIFT 22
#define REQ_SEQ_MASK 0x3fffffu

struct fetch_udp;

/*
 * How requests leave and replies arrive. The engine calls send for
 * every request it issues in a pass of its loop, then flush; when the
 * last look found nothing it waits, and then has recv read what came.
 */
struct fetch_transport {
	/* Queues a REQ of size bytes (sp_x_req_size) for [off, off + len)
	 * of file id, with the server's address token (NULL: none yet).
	 * 0 or -errno (and errno set). */
	int (*send)(struct fetch_transport *t, uint32_t req_id, uint32_t id, uint64_t off,
		    uint64_t len, size_t size, const uint8_t *token);
	/* Sends what is queued. 0 or -errno. */
	int (*flush)(struct fetch_transport *t);
	/* Waits up to timeout_ns for replies; > 0 when there may be some. */
	int (*wait)(struct fetch_transport *t, uint64_t timeout_ns);
	/* Reads the replies there are: sp_fetch_udp_clock() once they are
	 * in, then sp_fetch_udp_reply() for each. How many, or -errno. */
	int (*recv)(struct fetch_transport *t, struct fetch_udp *u);
	/* Optional: passes a reply that came to this thread but belongs to
	 * thread owner's slots (-m xdp, replies steered by CPU not by
	 * request); 0, or -errno when it could not (the request is then
	 * asked for again). */
	int (*handoff)(struct fetch_transport *t, unsigned owner, const uint8_t *buf,
		       size_t len);
};

/*
 * Runs c's share of the fetches (slots thread * parallel on) over t
 * until -n or -t is used up or the run fails. 0 or -errno; -EIO after a
 * failure, which is in c->fail.
 */
int sp_fetch_udp_run(struct client *c, struct fetch_transport *t);
/* The replies being read came now: the time their latency ends at. */
void sp_fetch_udp_clock(struct fetch_udp *u);
/* One UDP payload from the server. */
void sp_fetch_udp_reply(struct fetch_udp *u, const uint8_t *buf, size_t len);

/* ------------------------------------------------------------ modes */

/* Each runs the fetches of its mode: 0, or -errno / -EIO with c->fail set. */
int sp_fetch_tcp(struct client *c);
int sp_fetch_udp(struct client *c);
int sp_fetch_xdp(struct client *c);
int sp_fetch_fresh(struct client *c);
/*
 * --bad: one bad request over TCP or UDP. 0 when the server refused it
 * as expected, -EPROTO when it answered otherwise (got says what it
 * answered either way), another -errno when it did not answer.
 */
int sp_fetch_bad(struct client *c, char *got, size_t gotlen);

#endif
