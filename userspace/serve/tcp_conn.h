/* SPDX-License-Identifier: MIT */
/*
 * sp-serve's TCP modes: the connections and a loop's state, shared by
 * tcp_threads.c (listening sockets, one loop or --threads N), tcp.c (a
 * loop: connections from accept to close), tcp_body.c (a body sent by
 * copy, sendfile or splice) and sendzc.c (io_uring send_zc). sendzc.c
 * tells tcp.c what to do with a connection after a completion, and
 * calls nothing of tcp.c.
 */
#ifndef SERVE_TCP_CONN_H
#define SERVE_TCP_CONN_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "sp_proto.h"
#include "serve.h"

/*
 * TURN_BYTES: what one connection may send before the loop moves on to
 * the others, as nginx's sendfile_max_chunk (2 MiB): while its peer keeps
 * up, a connection would otherwise keep the thread until its whole body
 * is out. It comes back at once: its socket is still writable.
 */
enum { BUFS_PER_CONN = 2, TURN_BYTES = 2 << 20, CORK_MIN_BODY = 256 << 10 };

/*
 * A sendzc buffer is read into, then sent from; it is free again once
 * the send completed and its notification came. Reads run ahead, but
 * sends go out one at a time and in order: io_uring does not order two
 * sends on one socket.
 */
enum zstate { Z_FREE, Z_READING, Z_READY, Z_SENDING };

struct zbuf {
	enum zstate state;
	uint32_t len;
	uint32_t notifs;	/* notification CQEs still to come */
};

struct conn {
	int fd;
	bool used, closing, failed;
	bool rd_closed;		/* the peer shut its side: answer what came, then close */
	bool idle;		/* between requests, nothing buffered (--idle-timeout) */
	uint64_t since_ns;	/* start of the wait the time-outs judge (see tcp_expire) */
	int addr_bucket;	/* its count in tcp->addrs, -1 once given back */
	uint32_t watching;	/* the epoll events asked for now */
	char in[SP_HTTP_MAX_HDR];
	size_t in_len;
	char hdr[512];
	size_t hdr_len, hdr_off;
	const struct served_file *file;
	uint64_t off, left;	/* body still to send (sendzc: to submit) */
	bool sending, close_after, corked;
	uint64_t req_start_ns;
	/* copy */
	size_t buf_len, buf_off;
	/* splice */
	int pipe[2];
	size_t piped;
	/* sendzc: sequence numbers of the next read and send; buffer = seq % n */
	struct zbuf zb[BUFS_PER_CONN];
	unsigned zc_read, zc_sent;
};

/*
 * Connections per client address, shared by every thread's loop (the
 * kernel spreads one client's connections over the SO_REUSEPORT
 * sockets): counts in buckets chosen by a keyed hash of the address, so
 * that nobody can pick an address whose count is another's.
 */
#define ADDR_BUCKETS 4096u
struct addr_counts {
	uint8_t key[16];
	_Atomic uint32_t n[ADDR_BUCKETS];
};

struct tcp {
	struct server *s;
	struct addr_counts *addrs;	/* --max-conns-per-addr */
	int lfd, ep;
	struct conn *conns;
	unsigned nr_conns;
	struct sp_bufpool pool;	/* copy: one buffer per connection; sendzc: two */
	struct io_uring ring;
	bool ring_ok;
	unsigned ring_pending;	/* SQEs prepared, not submitted */
	unsigned zc_flags;	/* of every send: IORING_SEND_ZC_REPORT_USAGE if known */
	uint64_t next_sweep_ns;	/* when tcp_expire looks at the connections again */
};

/* user_data of sendzc operations */
enum { UD_READ = 1, UD_SEND = 2 };
#define UD(kind, conn, buf) ((uint64_t)(kind) << 48 | (uint64_t)(conn) << 8 | (buf))
#define UD_KIND(u) ((unsigned)((u) >> 48))
#define UD_CONN(u) ((unsigned)(((u) >> 8) & 0xffffffffffu))
#define UD_BUF(u) ((unsigned)((u) & 0xff))
/* What the loop does with a connection once a completion is counted. */
enum zc_next { ZC_NOTHING, ZC_FREE, ZC_CLOSE, ZC_RUN };

/* t's connections, buffers, epoll set and (sendzc) ring, around the
 * listening socket lfd, which it owns from here on; 0 or -errno
 * (reported). */
int tcp_open(struct tcp *t, struct server *s, struct addr_counts *addrs, int lfd);
/* One loop, until *stop (or an error, which stops the others). */
int tcp_loop(struct tcp *t, atomic_bool *stop);
/* Closes t's connections (sendzc: waits for their notifications, a
 * bounded time) and frees what tcp_open made. */
void tcp_close(struct tcp *t);
/* Pushes c's body (copy, sendfile, splice, sendzc); 0 when blocked or
 * done, -errno on failure. */
int tcp_body_push(struct tcp *t, struct conn *c, unsigned ci);
/* Whether c's body is all handed to the kernel. */
bool tcp_body_done(const struct tcp *t, const struct conn *c);

/* Sets up t's ring (and registers t's buffers with --zc-source buffers). */
int sendzc_setup(struct tcp *t);
/* Submits the reads and sends of c's body that can go now; 0 or -errno. */
int sendzc_submit(struct tcp *t, struct conn *c, unsigned ci);
/* Counts one CQE; *ci is the connection it concerns. */
enum zc_next sendzc_complete(struct tcp *t, const struct io_uring_cqe *cqe, unsigned *ci);
/* Whether no buffer of c is read, sent or awaited any more. */
bool sendzc_idle(const struct conn *c);
/* Whether a read or send of c is in flight (a send holds its socket). */
bool sendzc_sending(const struct conn *c);
/* Read but not sent: nothing will send it once the connection ends. */
void sendzc_drop_unsent(struct conn *c);

#endif
