/* SPDX-License-Identifier: MIT */
/*
 * What sp-serve's modes share: the options and counters of a run and the
 * files served (server.c opens them once, finds them by name, signals
 * readiness and reports). main.c parses and dispatches to a mode: the
 * TCP modes (tcp_threads.c, tcp.c, tcp_body.c; sendzc.c adds io_uring
 * send_zc to the loop) and xdp (xdp.c with xdp_frames.c, xdp_read.c and
 * xdp_cache.c). A mode calls into this header's files only, never into
 * main.c or another mode.
 */
#ifndef SERVE_H
#define SERVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sp_hist.h"

enum serve_mode { MODE_COPY, MODE_SENDFILE, MODE_SPLICE, MODE_SENDZC, MODE_XDP };

struct served_file {
	char name[256];
	const char *path;
	int fd;			/* read-write with --writable */
	uint64_t size;
	uint32_t lbs;		/* O_DIRECT unit */
	bool dio;		/* O_DIRECT works on it */
	bool backed;		/* a block device holds its data (not tmpfs) */
	void *map;		/* sendzc from the page cache: shared, read-only */
	int write_lock;		/* --writable: held while serving, one writer at a time */
};

/* Each counter is summed over threads in sp_serve_stats_add: add a new one there too. */
struct serve_stats {
	uint64_t connections, refused, requests, bytes;
	/* TCP: refused connections by cause (refused = their sum) and
	 * connections closed by a time-out, by the wait that ran out */
	uint64_t refused_full, refused_per_addr;
	uint64_t timeouts_header, timeouts_idle, timeouts_send;
	uint64_t errors, err_malformed, err_nofile, err_range, err_toobig, err_busy;
	/* sendzc notifications: zero copy, copied, or not said (before 6.2) */
	uint64_t zc_sent, zc_copied, zc_unreported;
	uint64_t frames_tx, frames_rx, busy_polls, sleeps, dropped, frames_seen;	/* xdp */
	uint64_t token_replies;	/* xdp: requests answered with a TOKEN, not data */
	/* xdp: the hot-block cache; hits to torn from the program's per-CPU
	 * counters, the rest counted by the server */
	struct cache_stats {
		uint64_t hits, misses, stale, torn, noroom, bypasses;
		uint64_t admissions, deferred, raced, evictions, invalidations, entries;
	} cache;
	uint64_t writes, write_bytes;
	uint64_t sync_reads;	/* xdp: reads done in the loop (no RWF_NOWAIT) */
	uint64_t passthru_reads;	/* xdp: reads sent as NVMe/SCSI commands */
	char passthru_backend[16];	/* xdp: the backend of the last such file */
	char xdp_attach[16];
	bool xdp_zerocopy;	/* AF_XDP sockets bound in zero-copy mode */
	unsigned frame_payload;	/* xdp: DATA bytes per frame, from the MTU */
	unsigned xdp_queues;	/* xdp: receive queues with a socket */
	bool direct_io;
	struct sp_hist lat;	/* request arrival to last byte handed to the kernel */
};

#define SERVE_MAX_THREADS 64

struct server {
	enum serve_mode mode;
	unsigned threads;	/* loops: TCP, each with a SO_REUSEPORT socket; xdp, each with its queues */
	uint64_t thread_requests[SERVE_MAX_THREADS];	/* requests each loop served */
	struct served_file *files;
	unsigned nr_files;
	struct sockaddr_storage addr;	/* TCP: IPv4 or IPv6, port included */
	socklen_t addr_len;
	uint16_t port;
	const char *ifname, *xdp_mode, *ready_path;
	unsigned max_conns, max_inflight;
	unsigned max_conns_per_addr;	/* TCP: connections one client address may hold */
	/* TCP, 0: none. header: from the connection (or a request's first
	 * byte) to its whole header; idle: kept-alive with nothing asked;
	 * send: a reply the socket took no byte of */
	uint64_t header_timeout_ns, idle_timeout_ns, send_timeout_ns;
	unsigned drop_every;	/* xdp, tests: drop every Nth DATA frame */
	uint64_t max_len, chunk;
	uint64_t busy_poll_ns;	/* xdp: idle time before sleeping */
	bool cache;		/* xdp: answer cached units in XDP */
	unsigned cache_entries;	/* xdp: units the cache holds at most */
	unsigned cache_admit;	/* xdp: misses of a unit before it is admitted */
	bool writable;		/* xdp: WRITE requests are served */
	bool force;		/* --writable on a device with a signature */
	bool passthru;		/* xdp: raw devices read through their passthrough backend */
	unsigned pipe_size;
	bool zc_buffers;	/* sendzc: read into registered buffers first */
	bool json;
	struct serve_stats st;
};

struct sp_usage;

/* The modes' names, indexed by enum serve_mode. */
extern const char *const sp_serve_modes[MODE_XDP + 1];

/* Opens the n paths (read-write with --writable); 0 or -errno (reported). */
int sp_serve_open(struct server *s, char **paths, int n);
void sp_serve_close(struct server *s);
const struct served_file *sp_serve_lookup(const struct server *s, const char *name);
/* The n-th CPU this process may run on, round robin (a thread's pin); -1 if unknown. */
int sp_serve_nth_cpu(unsigned n);
/*
 * Runs fn on n threads, thread i with args + i * size and pinned to
 * sp_serve_nth_cpu(i), and joins them. A thread that cannot start
 * stops the others (*stop): its -errno, else 0.
 */
int sp_serve_threads(unsigned n, void *(*fn)(void *), void *args, size_t size,
		     atomic_bool *stop);
/* Adds src's counters (and latencies) to dst's: threads' own, at the end. */
void sp_serve_stats_add(struct serve_stats *dst, const struct serve_stats *src);
/* Creates --ready's file and says what is served: called once listening. */
void sp_serve_ready(struct server *s);
/* The counters of a run, as text on stderr or, with --json, JSON on stdout. */
void sp_serve_report(const struct server *s, const struct sp_usage *u);

/* Runs a TCP mode's server until *stop; 0 or -errno (reported). */
int sp_serve_tcp(struct server *s, atomic_bool *stop);
/* Runs the AF_XDP server until *stop; 0 or -errno (reported). */
int sp_serve_xdp(struct server *s, atomic_bool *stop);

#endif
