// SPDX-License-Identifier: MIT
/*
 * sp-serve: the same files served five ways, so that what each copy
 * costs can be measured (sp-fetch is the client, bench/serve-compare
 * the harness). TCP modes speak the HTTP/1.1 subset of sp_proto.h and
 * run one epoll loop; they differ only in how a body reaches the socket.
 * The xdp mode speaks the UDP protocol of sp_proto.h over AF_XDP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "devinfo.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_proto.h"
#include "ring.h"
#include "sp_stats.h"
#include "sp_time.h"
#include "serve.h"

#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE	(1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED	(1U << 31)
#endif

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sp-serve [OPTIONS] FILE...\n"
"\n"
"Serve FILEs (each under its base name; over UDP as id 0, 1, ... in the\n"
"order given) until SIGINT or SIGTERM, then print what was served. A FILE\n"
"may be a block device; nothing is ever written but with --writable.\n"
"\n"
"  -m, --mode MODE       copy      read(2) into a buffer, write(2) to the socket\n"
"                        sendfile  sendfile(2) from the page cache\n"
"                        splice    file -> pipe -> socket with splice(2)\n"
"                        sendzc    io_uring IORING_OP_SEND_ZC straight from the\n"
"                                  page cache (a shared read-only mapping of\n"
"                                  the file), or with --zc-source buffers\n"
"                                  from registered buffers read into first\n"
"                        xdp       UDP over AF_XDP (needs --ifname)\n"
"  -a, --addr IPV4       TCP address to listen on (default 0.0.0.0)\n"
"  -p, --port N          TCP or UDP port (default 7878)\n"
"  -i, --ifname IFACE    xdp: interface to attach to (a socket on each queue)\n"
"      --xdp-mode M      xdp: native or skb (default: native, else skb)\n"
"      --busy-poll TIME  xdp: keep polling this long after the last work\n"
"                        before sleeping in poll(2); 0: sleep at once\n"
"                        (default 200us, 0 on two CPUs or fewer, where\n"
"                        spinning takes the CPU the rest of the path needs)\n"
"      --max-conns N     TCP connections at once; more get 503 (default 64)\n"
"      --max-inflight N  xdp: requests in flight; more get BUSY (default 64)\n"
"      --max-len BYTES   longest range one request may ask for; longer\n"
"                        requests get an error (default 1G)\n"
"      --chunk BYTES     copy and sendzc: bytes per read and send (default\n"
"                        64k; sendzc from the page cache: 256k)\n"
"      --zc-source SRC   sendzc: page-cache (default) or buffers\n"
"      --cache           xdp: answer one-KiB requests of hot units in XDP,\n"
"                        from a BPF map (the hot-block cache; default off)\n"
"      --no-cache        xdp: every request goes to the AF_XDP socket\n"
"      --cache-entries N xdp: units the cache holds, LRU (default 8192)\n"
"      --cache-admit N   xdp: a unit is cached at its Nth miss (default 2)\n"
"      --writable        xdp: serve WRITE requests (files opened read-write);\n"
"                        a write invalidates its units before it is acknowledged\n"
"      --passthru        xdp: read an NVMe namespace or SCSI disk FILE with\n"
"                        NVMe/SCSI commands (io_uring passthrough, the UMEM\n"
"                        as registered buffers) instead of O_DIRECT\n"
"      --drop-every N    xdp, for tests: drop every Nth data frame so that\n"
"                        the client's recovery is exercised\n"
"      --ready FILE      create FILE once serving (for scripts)\n"
"      --json            at exit, print counters as JSON on stdout\n"
"  -v, --verbose         say more on stderr\n"
"  -h, --help            this text\n"
"\n"
"Examples:\n"
"  sp-serve -m sendfile /srv/a.bin /srv/b.bin\n"
"  sp-fetch -m tcp -s 10.0.0.1 -n 1000 /srv/a.bin\n"
"  sp-serve -m xdp -i veth0 --json /srv/a.bin\n"
"  sp-serve -m xdp -i veth0 --cache --writable /srv/a.bin\n"
"  sp-serve -m xdp -i veth0 --passthru /dev/nvme0n1\n"
"\n"
"Exit status: 0 ok, 1 set-up failed, 2 bad usage.\n");
}

static atomic_bool stop;

static void on_signal(int sig)
{
	atomic_store(&stop, true);
}

static const char *const mode_names[] = {
	[MODE_COPY] = "copy", [MODE_SENDFILE] = "sendfile",
	[MODE_SPLICE] = "splice", [MODE_SENDZC] = "sendzc", [MODE_XDP] = "xdp",
};

/* ------------------------------------------------------------ files */

/* Regular files and block devices (read-write only with --writable). */
static int open_files(struct server *s, char **paths, int n)
{
	s->files = calloc(n, sizeof(*s->files));
	if (!s->files)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct served_file *f = &s->files[s->nr_files];
		struct sp_devinfo d;
		char *dup = strdup(paths[i]);
		int ret;

		if (!dup)
			return -ENOMEM;
		snprintf(f->name, sizeof(f->name), "%s", basename(dup));
		free(dup);
		f->path = paths[i];
		ret = sp_dev_probe(paths[i], false, &d);
		if (ret || (d.kind != SP_KIND_FILE && d.kind != SP_KIND_BLOCK)) {
			sp_err("%s: %s", paths[i],
			       ret ? strerror(-ret) : "not a regular file or block device");
			return ret ? ret : -EINVAL;
		}
		f->size = d.size;
		f->lbs = d.lbs;
		f->dio = d.dio;
		f->backed = d.block_path[0];
		f->fd = open(paths[i], (s->writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (f->fd < 0) {
			sp_err("%s: %s", paths[i], strerror(errno));
			return -errno;
		}
		s->nr_files++;
		if (s->mode == MODE_SENDZC && !s->zc_buffers && f->size) {
			/*
			 * Not registered: io_uring pins registered buffers for
			 * writing and for the long term, which a read-only
			 * file mapping (or any file outside tmpfs) refuses.
			 */
			f->map = mmap(NULL, f->size, PROT_READ, MAP_SHARED, f->fd, 0);
			if (f->map == MAP_FAILED) {
				int err = errno;

				f->map = NULL;
				sp_err("%s: mapping it for sendzc: %s; --zc-source buffers reads it instead",
				       paths[i], strerror(err));
				return -err;
			}
		}
		for (int j = 0; j < i; j++)
			if (!strcmp(s->files[j].name, f->name)) {
				sp_err("%s: two files named '%s'", paths[i], f->name);
				return -EINVAL;
			}
	}
	return 0;
}

const struct served_file *sp_serve_lookup(const struct server *s,
					  const char *name)
{
	for (unsigned i = 0; i < s->nr_files; i++)
		if (!strcmp(s->files[i].name, name))
			return &s->files[i];
	return NULL;
}

/* ------------------------------------------------------------ TCP */

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

struct tcp {
	struct server *s;
	int lfd, ep;
	struct conn *conns;
	unsigned nr_conns;
	struct sp_bufpool pool;	/* copy: one buffer per connection; sendzc: two */
	struct io_uring ring;
	bool ring_ok;
	unsigned ring_pending;	/* SQEs prepared, not submitted */
	unsigned zc_flags;	/* of every send: IORING_SEND_ZC_REPORT_USAGE if known */
};

/* user_data of sendzc operations */
enum { UD_READ = 1, UD_SEND = 2 };
#define UD(kind, conn, buf) ((uint64_t)(kind) << 48 | (uint64_t)(conn) << 8 | (buf))
#define UD_KIND(u) ((unsigned)((u) >> 48))
#define UD_CONN(u) ((unsigned)(((u) >> 8) & 0xffffffffffu))
#define UD_BUF(u) ((unsigned)((u) & 0xff))
#define UD_RING (~0ULL)	/* epoll tag of the ring fd */
#define UD_LISTEN (~1ULL)

static int ep_set(struct tcp *t, int op, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	return epoll_ctl(t->ep, op, fd, &ev) ? -errno : 0;
}

/* A connection's epoll interest, changed only when it changes. */
static void conn_watch(struct tcp *t, struct conn *c, uint32_t events, unsigned ci)
{
	if (c->watching == events)
		return;
	if (!ep_set(t, EPOLL_CTL_MOD, c->fd, events, ci))
		c->watching = events;
}

static bool zc_idle(const struct conn *c)
{
	for (int i = 0; i < BUFS_PER_CONN; i++)
		if (c->zb[i].state != Z_FREE || c->zb[i].notifs)
			return false;
	return true;
}

/* Read but not sent: nothing will send it once the connection ends. */
static void zc_drop_unsent(struct conn *c)
{
	for (int i = 0; i < BUFS_PER_CONN; i++)
		if (c->zb[i].state == Z_READY)
			c->zb[i].state = Z_FREE;
}

static void conn_free(struct tcp *t, struct conn *c)
{
	zc_drop_unsent(c);
	/* a buffer is never handed out again before its notification */
	if (t->s->mode == MODE_SENDZC && !zc_idle(c)) {
		c->closing = true;
		return;
	}
	if (c->fd >= 0)
		close(c->fd);
	if (c->pipe[0] >= 0) {
		close(c->pipe[0]);
		close(c->pipe[1]);
	}
	memset(c, 0, sizeof(*c));
	c->fd = c->pipe[0] = c->pipe[1] = -1;
	t->nr_conns--;
}

static void conn_close(struct tcp *t, struct conn *c)
{
	if (c->closing)
		return;
	if (c->fd >= 0) {
		epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
		/* in-flight sends see the socket shut, and end */
		shutdown(c->fd, SHUT_RDWR);
	}
	conn_free(t, c);
}

static void count_error(struct server *s, int status)
{
	s->st.errors++;
	switch (status) {
	case 400: s->st.err_malformed++; break;
	case 404: s->st.err_nofile++; break;
	case 413: s->st.err_toobig++; break;
	case 416: s->st.err_range++; break;
	default: break;
	}
}

/*
 * Turns a parsed request into a reply header and a body to send, or
 * an error reply. Returns the HTTP status.
 */
static int plan_reply(struct tcp *t, struct conn *c, const struct sp_http_req *r)
{
	const struct served_file *f = sp_serve_lookup(t->s, r->name);
	uint64_t first = 0, len;
	int n;

	if (!f)
		return 404;
	len = f->size;
	if (r->has_range) {
		if (r->first >= f->size)
			return 416;
		first = r->first;
		len = (r->last >= f->size ? f->size - 1 : r->last) - first + 1;
	}
	if (len > t->s->max_len)
		return 413;
	n = sp_http_fmt_ok(c->hdr, sizeof(c->hdr), r->has_range, first, len, f->size);
	if (n < 0)
		return 500;
	c->hdr_len = n;
	c->file = f;
	c->off = first;
	c->left = len;
	return r->has_range ? 206 : 200;
}

/* Parses what has arrived; sets up the reply when a request is whole. */
static void conn_parse(struct tcp *t, struct conn *c)
{
	struct sp_http_req r;
	int hlen = sp_http_parse_req(c->in, c->in_len, &r);
	int status;

	if (hlen == 0)
		return;
	c->hdr_off = 0;
	c->req_start_ns = sp_now_ns();
	if (hlen < 0) {
		/* the stream cannot be resynchronised: answer, then close */
		status = 400;
		c->close_after = true;
		c->in_len = 0;
	} else {
		memmove(c->in, c->in + hlen, c->in_len - hlen);
		c->in_len -= hlen;
		c->close_after = r.close;
		status = plan_reply(t, c, &r);
	}
	if (status >= 400) {
		int n = sp_http_fmt_err(c->hdr, sizeof(c->hdr), status);

		c->hdr_len = n > 0 ? n : 0;
		c->left = 0;
		count_error(t->s, status);
		sp_dbg("connection %d: error %d", c->fd, status);
	}
	c->sending = true;
	/*
	 * A body that takes more than one call is corked, as nginx's
	 * tcp_nopush does: with TCP_NODELAY each call's tail would go out
	 * as a short segment. On 64 MiB over veth it took sendfile's median
	 * from 0.93 of nginx's rate to 1.02 (8 runs each). Not sendzc:
	 * there it lost 8% (0.8 against 0.87).
	 */
	if (c->left >= CORK_MIN_BODY && t->s->mode != MODE_SENDZC &&
	    !setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &(int){ 1 }, sizeof(int)))
		c->corked = true;
}

static int zc_submit(struct tcp *t, struct conn *c, unsigned ci);

/* Pushes the body; 0 when blocked or done, -errno on failure. */
static int body_push(struct tcp *t, struct conn *c, unsigned ci)
{
	struct server *s = t->s;
	uint64_t turn = 0;	/* sent in this turn, see TURN_BYTES */
	ssize_t n;

	switch (s->mode) {
	case MODE_COPY: {
		char *buf = sp_bufpool_get(&t->pool, ci);

		while ((c->left || c->buf_off < c->buf_len) && turn < TURN_BYTES) {
			if (c->buf_off == c->buf_len) {
				size_t want = c->left < t->pool.buf_size ? c->left : t->pool.buf_size;

				n = pread(c->file->fd, buf, want, c->off);
				if (n <= 0)
					return n ? -errno : -EIO;
				c->buf_len = n;
				c->buf_off = 0;
				c->off += n;
				c->left -= n;
			}
			n = send(c->fd, buf + c->buf_off, c->buf_len - c->buf_off,
				 MSG_NOSIGNAL);
			if (n < 0)
				return errno == EAGAIN ? 0 : -errno;
			c->buf_off += n;
			s->st.bytes += n;
			turn += n;
		}
		return 0;
	}
	case MODE_SENDFILE:
		while (c->left && turn < TURN_BYTES) {
			off_t off = c->off;

			n = sendfile(c->fd, c->file->fd, &off,
				     c->left < TURN_BYTES - turn ? c->left : TURN_BYTES - turn);
			if (n < 0)
				return errno == EAGAIN ? 0 : -errno;
			if (n == 0)
				return -EIO;	/* the file shrank */
			c->off += n;
			c->left -= n;
			s->st.bytes += n;
			turn += n;
		}
		return 0;
	case MODE_SPLICE:
		while ((c->left || c->piped) && turn < TURN_BYTES) {
			if (!c->piped) {
				loff_t off = c->off;

				n = splice(c->file->fd, &off, c->pipe[1], NULL,
					   c->left < s->pipe_size ? c->left : s->pipe_size,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
				if (n <= 0)
					return n ? -errno : -EIO;
				c->piped = n;
				c->off += n;
				c->left -= n;
			}
			n = splice(c->pipe[0], NULL, c->fd, NULL, c->piped,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK |
				   (c->left ? SPLICE_F_MORE : 0));
			if (n < 0)
				return errno == EAGAIN ? 0 : -errno;
			c->piped -= n;
			s->st.bytes += n;
			turn += n;
		}
		return 0;
	case MODE_SENDZC:
		return zc_submit(t, c, ci);
	case MODE_XDP:
		break;
	}
	return -EINVAL;
}

static bool body_done(const struct tcp *t, const struct conn *c)
{
	if (c->left)
		return false;
	switch (t->s->mode) {
	case MODE_COPY: return c->buf_off == c->buf_len;
	case MODE_SPLICE: return !c->piped;
	case MODE_SENDZC: return c->zc_sent == c->zc_read;
	default: return true;
	}
}

/*
 * Moves a connection as far as it can go without blocking: header,
 * body, next request. Waits for EPOLLOUT when the socket is full.
 */
static void conn_run(struct tcp *t, struct conn *c, unsigned ci)
{
	int ret;

	while (!c->closing) {
		if (!c->sending) {
			conn_parse(t, c);
			if (!c->sending) {
				conn_watch(t, c, EPOLLIN, ci);
				return;
			}
		}
		while (c->hdr_off < c->hdr_len) {
			ssize_t n = send(c->fd, c->hdr + c->hdr_off, c->hdr_len - c->hdr_off,
					 MSG_NOSIGNAL | (c->left ? MSG_MORE : 0));

			if (n < 0) {
				if (errno == EAGAIN) {
					conn_watch(t, c, EPOLLOUT, ci);
					return;
				}
				conn_close(t, c);
				return;
			}
			c->hdr_off += n;
		}
		ret = body_push(t, c, ci);
		if (ret) {
			sp_dbg("connection %d: %s", c->fd, strerror(-ret));
			c->failed = true;
			conn_close(t, c);
			return;
		}
		if (!body_done(t, c)) {
			/* sendzc waits for its CQEs, the others for room or their turn */
			conn_watch(t, c, t->s->mode == MODE_SENDZC ? 0 : EPOLLOUT, ci);
			return;
		}
		if (c->file) {
			t->s->st.requests++;
			sp_hist_add(&t->s->st.lat, sp_now_ns() - c->req_start_ns);
		}
		c->sending = false;
		/* uncorking sends the tail now */
		if (c->corked &&
		    !setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &(int){ 0 }, sizeof(int)))
			c->corked = false;
		c->file = NULL;
		if (c->close_after) {
			conn_close(t, c);
			return;
		}
	}
}

static void conn_read(struct tcp *t, struct conn *c, unsigned ci)
{
	for (;;) {
		ssize_t n;

		if (c->in_len == sizeof(c->in)) {
			/* a full buffer with no end of header: malformed */
			conn_run(t, c, ci);
			return;
		}
		n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			conn_close(t, c);
			return;
		}
		if (n < 0)
			break;
		c->in_len += n;
	}
	conn_run(t, c, ci);
}

static void do_accept(struct tcp *t)
{
	for (;;) {
		int fd = accept4(t->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c = NULL;
		unsigned ci;

		if (fd < 0)
			return;
		for (ci = 0; ci < t->s->max_conns; ci++)
			if (!t->conns[ci].used) {
				c = &t->conns[ci];
				break;
			}
		if (!c) {
			char buf[256];
			int n = sp_http_fmt_err(buf, sizeof(buf), 503);

			if (n > 0 && send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				sp_dbg("503 not sent: %s", strerror(errno));
			close(fd);
			t->s->st.refused++;
			continue;
		}
		c->used = true;
		c->fd = fd;
		t->nr_conns++;
		t->s->st.connections++;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		if (t->s->mode == MODE_SPLICE) {
			if (pipe2(c->pipe, O_NONBLOCK | O_CLOEXEC)) {
				c->pipe[0] = c->pipe[1] = -1;
				conn_close(t, c);
				continue;
			}
			fcntl(c->pipe[1], F_SETPIPE_SZ, t->s->pipe_size);
		}
		c->watching = EPOLLIN;
		if (ep_set(t, EPOLL_CTL_ADD, fd, EPOLLIN, ci))
			conn_close(t, c);
	}
}

/* ------------------------------------------------------------ sendzc */

static struct io_uring_sqe *zc_sqe(struct tcp *t)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);

	if (!sqe && io_uring_submit(&t->ring) >= 0) {
		t->ring_pending = 0;
		sqe = io_uring_get_sqe(&t->ring);
	}
	if (sqe)
		t->ring_pending++;
	return sqe;
}

/* Sends the next buffer in order, if it is read and none is on its way. */
static int zc_send_next(struct tcp *t, struct conn *c, unsigned ci)
{
	unsigned b = c->zc_sent % BUFS_PER_CONN;
	struct zbuf *z = &c->zb[b];
	struct io_uring_sqe *sqe;

	if (z->state != Z_READY)
		return 0;
	for (unsigned i = 0; i < BUFS_PER_CONN; i++)
		if (c->zb[i].state == Z_SENDING)
			return 0;
	sqe = zc_sqe(t);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_send_zc_fixed(sqe, c->fd, sp_bufpool_get(&t->pool, ci * BUFS_PER_CONN + b),
				    z->len, MSG_WAITALL | MSG_NOSIGNAL, t->zc_flags,
				    ci * BUFS_PER_CONN + b);
	io_uring_sqe_set_data64(sqe, UD(UD_SEND, ci, b));
	z->state = Z_SENDING;
	return 0;
}

/*
 * From the page cache: the send points into the file's mapping and the
 * kernel pins those pages for it, so nothing is read or copied here.
 * The mapping lives as long as the server, so a send's notification
 * frees nothing; it is only counted. Sends still go one at a time.
 */
static int zc_submit_mapped(struct tcp *t, struct conn *c, unsigned ci)
{
	struct zbuf *z = &c->zb[0];
	struct io_uring_sqe *sqe;

	if (!c->left || z->state != Z_FREE)
		return 0;
	sqe = zc_sqe(t);
	if (!sqe)
		return -EBUSY;
	z->len = c->left < t->s->chunk ? c->left : t->s->chunk;
	io_uring_prep_send_zc(sqe, c->fd, (char *)c->file->map + c->off, z->len,
			      MSG_WAITALL | MSG_NOSIGNAL, t->zc_flags);
	io_uring_sqe_set_data64(sqe, UD(UD_SEND, ci, 0));
	z->state = Z_SENDING;
	c->zc_read++;
	c->off += z->len;
	c->left -= z->len;
	return 0;
}

static int zc_submit(struct tcp *t, struct conn *c, unsigned ci)
{
	if (!t->s->zc_buffers)
		return zc_submit_mapped(t, c, ci);
	while (c->left) {
		unsigned b = c->zc_read % BUFS_PER_CONN;
		unsigned idx = ci * BUFS_PER_CONN + b;
		struct zbuf *z = &c->zb[b];
		struct io_uring_sqe *sqe;

		/* never reuse a buffer before its notification */
		if (z->state != Z_FREE || z->notifs)
			break;
		sqe = zc_sqe(t);
		if (!sqe)
			return -EBUSY;
		z->len = c->left < t->pool.buf_size ? c->left : t->pool.buf_size;
		io_uring_prep_read_fixed(sqe, c->file->fd, sp_bufpool_get(&t->pool, idx),
					 z->len, c->off, idx);
		io_uring_sqe_set_data64(sqe, UD(UD_READ, ci, b));
		z->state = Z_READING;
		c->zc_read++;
		c->off += z->len;
		c->left -= z->len;
	}
	return zc_send_next(t, c, ci);
}

static void zc_complete(struct tcp *t, struct io_uring_cqe *cqe)
{
	unsigned ci = UD_CONN(cqe->user_data), b = UD_BUF(cqe->user_data);
	struct conn *c;
	struct zbuf *z;

	if (ci >= t->s->max_conns || b >= BUFS_PER_CONN)
		return;
	c = &t->conns[ci];
	z = &c->zb[b];
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		/* the kernel no longer references the buffer */
		z->notifs--;
		if (!t->zc_flags)
			t->s->st.zc_unreported++;
		else if (cqe->res & IORING_NOTIF_USAGE_ZC_COPIED)
			t->s->st.zc_copied++;
		else
			t->s->st.zc_sent++;
	} else if (UD_KIND(cqe->user_data) == UD_READ) {
		if ((uint32_t)cqe->res != z->len && !c->failed) {
			sp_dbg("connection %d: sendzc read: %s", c->fd,
			       cqe->res < 0 ? strerror(-cqe->res) : "short");
			c->failed = true;
		}
		z->state = Z_READY;
	} else {
		if (cqe->flags & IORING_CQE_F_MORE)
			z->notifs++;
		if ((uint32_t)cqe->res != z->len && !c->failed) {
			sp_dbg("connection %d: sendzc send: %s", c->fd,
			       cqe->res < 0 ? strerror(-cqe->res) : "short");
			c->failed = true;
		} else {
			t->s->st.bytes += z->len;
		}
		z->state = Z_FREE;
		c->zc_sent++;
	}
	if (c->closing) {
		zc_drop_unsent(c);
		if (zc_idle(c)) {
			c->closing = false;
			conn_free(t, c);
		}
		return;
	}
	if (c->failed) {
		conn_close(t, c);
		return;
	}
	if (c->sending)
		conn_run(t, c, ci);
}

/*
 * Whether this kernel tells, in a send's notification, that it copied
 * the data after all (IORING_SEND_ZC_REPORT_USAGE, 6.2): 6.1 refuses
 * the flag with -EINVAL when it prepares the send, before it looks at
 * the file, while a kernel that knows it gets as far as finding that
 * a pipe is not a socket. Asked on a ring of its own, so no CQE of the
 * probe reaches the server's.
 */
static bool zc_usage_reported(void)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	bool reported = false;
	char byte = 0;
	int pipefd[2];

	if (pipe(pipefd))
		return false;
	if (io_uring_queue_init(4, &ring, 0)) {
		close(pipefd[0]);
		close(pipefd[1]);
		return false;
	}
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send_zc(sqe, pipefd[1], &byte, 1, 0, IORING_SEND_ZC_REPORT_USAGE);
	if (io_uring_submit(&ring) == 1 && !io_uring_wait_cqe(&ring, &cqe)) {
		reported = cqe->res != -EINVAL;
		io_uring_cqe_seen(&ring, cqe);
	}
	/* a notification still due is dropped with the ring */
	io_uring_queue_exit(&ring);
	close(pipefd[0]);
	close(pipefd[1]);
	return reported;
}

static int zc_setup(struct tcp *t)
{
	struct sp_ring_opts ro = { .entries = 256, .sq_cpu = -1, .no_modern = true };
	struct io_uring_probe *probe;
	struct sp_ring_info info;
	bool ok;
	int ret;

	ret = sp_ring_init(&t->ring, &ro, &info);
	if (ret) {
		sp_err("io_uring set-up: %s", strerror(-ret));
		return ret;
	}
	t->ring_ok = true;
	probe = io_uring_get_probe_ring(&t->ring);
	ok = probe && io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
	io_uring_free_probe(probe);
	if (!ok) {
		sp_err("sendzc: this kernel has no IORING_OP_SEND_ZC");
		return -EOPNOTSUPP;
	}
	if (zc_usage_reported())
		t->zc_flags = IORING_SEND_ZC_REPORT_USAGE;
	else
		sp_notice("sendzc: this kernel does not say whether it copied a send "
			"(no IORING_SEND_ZC_REPORT_USAGE); notifications are counted as unreported");
	ret = t->s->zc_buffers ? sp_ring_register_pool(&t->ring, &t->pool) : 0;
	if (ret) {
		sp_err("sendzc: registering %u buffers: %s", t->pool.nr, strerror(-ret));
		return ret;
	}
	return ep_set(t, EPOLL_CTL_ADD, t->ring.ring_fd, EPOLLIN, UD_RING);
}

static void zc_reap(struct tcp *t)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&t->ring, &cqe) == 0) {
		struct io_uring_cqe copy = *cqe;

		io_uring_cqe_seen(&t->ring, cqe);
		zc_complete(t, &copy);
	}
}

static int tcp_listen(struct server *s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(s->port),
				  .sin_addr.s_addr = s->addr };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1024)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int serve_tcp(struct server *s)
{
	struct tcp t = { .s = s, .lfd = -1, .ep = -1 };
	unsigned nbufs = s->max_conns * (s->mode == MODE_SENDZC ? BUFS_PER_CONN : 1);
	bool buffers = s->mode == MODE_COPY || (s->mode == MODE_SENDZC && s->zc_buffers);
	int ret;

	t.conns = calloc(s->max_conns, sizeof(*t.conns));
	if (!t.conns)
		return -ENOMEM;
	for (unsigned i = 0; i < s->max_conns; i++)
		t.conns[i].fd = t.conns[i].pipe[0] = t.conns[i].pipe[1] = -1;
	if (buffers) {
		ret = sp_bufpool_alloc(&t.pool, nbufs, s->chunk, 0);
		if (ret) {
			sp_err("%u buffers of %llu bytes: %s", nbufs,
			       (unsigned long long)s->chunk, strerror(-ret));
			goto out;
		}
	}
	t.ep = epoll_create1(EPOLL_CLOEXEC);
	ret = tcp_listen(s);
	if (ret < 0 || t.ep < 0) {
		sp_err("listening on TCP port %u: %s", s->port,
		       strerror(ret < 0 ? -ret : errno));
		ret = ret < 0 ? ret : -errno;
		goto out;
	}
	t.lfd = ret;
	ret = ep_set(&t, EPOLL_CTL_ADD, t.lfd, EPOLLIN, UD_LISTEN);
	if (!ret && s->mode == MODE_SENDZC)
		ret = zc_setup(&t);
	if (ret)
		goto out;
	sp_serve_ready(s);
	while (!atomic_load(&stop)) {
		struct epoll_event evs[64];
		int n;

		if (t.ring_pending) {
			ret = io_uring_submit(&t.ring);
			if (ret < 0) {
				sp_err("io_uring submit: %s", strerror(-ret));
				goto out;
			}
			t.ring_pending = 0;
		}
		n = epoll_wait(t.ep, evs, 64, 200);
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;

			if (tag == UD_LISTEN)
				do_accept(&t);
			else if (tag == UD_RING)
				zc_reap(&t);
			else if (t.conns[tag].used && !t.conns[tag].closing) {
				struct conn *c = &t.conns[tag];

				if (evs[i].events & (EPOLLERR | EPOLLHUP))
					conn_close(&t, c);
				else if (c->sending)
					conn_run(&t, c, tag);
				else
					conn_read(&t, c, tag);
			}
		}
		if (t.ring_ok)
			zc_reap(&t);
	}
	ret = 0;
out:
	for (unsigned i = 0; i < s->max_conns; i++)
		if (t.conns[i].used)
			conn_close(&t, &t.conns[i]);
	/* closing connections wait for their notifications */
	while (t.ring_ok && t.nr_conns) {
		struct io_uring_cqe *cqe;

		io_uring_submit(&t.ring);
		if (io_uring_wait_cqe(&t.ring, &cqe))
			break;
		zc_reap(&t);
	}
	if (t.ring_ok)
		io_uring_queue_exit(&t.ring);
	if (t.lfd >= 0)
		close(t.lfd);
	if (t.ep >= 0)
		close(t.ep);
	sp_bufpool_free(&t.pool);
	free(t.conns);
	return ret;
}

/* ------------------------------------------------------------ main */

void sp_serve_ready(struct server *s)
{
	if (s->ready_path) {
		int fd = open(s->ready_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd >= 0)
			close(fd);
	}
	sp_info("serving %u file(s) in %s mode", s->nr_files, mode_names[s->mode]);
}

static json_object *cache_json(const struct server *s)
{
	const struct cache_stats *c = &s->st.cache;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "enabled", json_object_new_boolean(s->cache));
	json_object_object_add(o, "max_entries", sp_json_u64(s->cache ? s->cache_entries : 0));
	json_object_object_add(o, "admit_at_miss", sp_json_u64(s->cache_admit));
	json_object_object_add(o, "hits", sp_json_u64(c->hits));
	json_object_object_add(o, "misses", sp_json_u64(c->misses));
	json_object_object_add(o, "stale", sp_json_u64(c->stale));
	json_object_object_add(o, "torn", sp_json_u64(c->torn));
	json_object_object_add(o, "noroom", sp_json_u64(c->noroom));
	json_object_object_add(o, "bypasses", sp_json_u64(c->bypasses));
	json_object_object_add(o, "admissions", sp_json_u64(c->admissions));
	json_object_object_add(o, "deferred", sp_json_u64(c->deferred));
	json_object_object_add(o, "raced", sp_json_u64(c->raced));
	json_object_object_add(o, "invalidations", sp_json_u64(c->invalidations));
	json_object_object_add(o, "evictions", sp_json_u64(c->evictions));
	json_object_object_add(o, "entries", sp_json_u64(c->entries));
	return o;
}

static void report(const struct server *s, const struct sp_usage *u)
{
	const struct serve_stats *st = &s->st;
	double gib = st->bytes / 1073741824.0;
	uint64_t cpu = u->user_ns + u->sys_ns;

	if (s->json) {
		json_object *root = json_object_new_object();
		json_object *err = json_object_new_object();
		json_object *lat = json_object_new_object();
		json_object *x = json_object_new_object();

		json_object_object_add(root, "schema", json_object_new_string("shortpath.sp-serve/1"));
		json_object_object_add(root, "mode", json_object_new_string(mode_names[s->mode]));
		json_object_object_add(root, "files", sp_json_u64(s->nr_files));
		json_object_object_add(root, "connections", sp_json_u64(st->connections));
		json_object_object_add(root, "refused", sp_json_u64(st->refused));
		json_object_object_add(root, "requests", sp_json_u64(st->requests));
		json_object_object_add(root, "bytes", sp_json_u64(st->bytes));
		json_object_object_add(err, "total", sp_json_u64(st->errors));
		json_object_object_add(err, "malformed", sp_json_u64(st->err_malformed));
		json_object_object_add(err, "nofile", sp_json_u64(st->err_nofile));
		json_object_object_add(err, "range", sp_json_u64(st->err_range));
		json_object_object_add(err, "toobig", sp_json_u64(st->err_toobig));
		json_object_object_add(err, "busy", sp_json_u64(st->err_busy));
		json_object_object_add(root, "errors", err);
		json_object_object_add(lat, "p50", sp_json_u64(sp_hist_percentile(&st->lat, 50)));
		json_object_object_add(lat, "p99", sp_json_u64(sp_hist_percentile(&st->lat, 99)));
		json_object_object_add(root, "service_ns", lat);
		json_object_object_add(root, "cpu_ns", sp_json_u64(cpu));
		json_object_object_add(root, "cpu_ns_per_gib", sp_json_dbl(gib > 0 ? cpu / gib : 0));
		json_object_object_add(root, "elapsed_ns", sp_json_u64(u->wall_ns));
		if (s->mode == MODE_SENDZC) {
			json_object_object_add(x, "zerocopy", sp_json_u64(st->zc_sent));
			json_object_object_add(x, "copied", sp_json_u64(st->zc_copied));
			json_object_object_add(x, "unreported", sp_json_u64(st->zc_unreported));
			json_object_object_add(root, "sendzc_notifications", x);
			json_object_object_add(root, "sendzc_source", json_object_new_string(
						s->zc_buffers ? "buffers" : "page-cache"));
		} else if (s->mode == MODE_XDP) {
			json_object_object_add(x, "frames_tx", sp_json_u64(st->frames_tx));
			json_object_object_add(x, "frames_rx", sp_json_u64(st->frames_rx));
			json_object_object_add(x, "busy_polls", sp_json_u64(st->busy_polls));
			json_object_object_add(x, "sleeps", sp_json_u64(st->sleeps));
			json_object_object_add(x, "dropped", sp_json_u64(st->dropped));
			json_object_object_add(x, "busy_poll_ns", sp_json_u64(s->busy_poll_ns));
			json_object_object_add(x, "attach", json_object_new_string(st->xdp_attach));
			json_object_object_add(x, "frame_payload", sp_json_u64(st->frame_payload));
			json_object_object_add(x, "queues", sp_json_u64(st->xdp_queues));
			json_object_object_add(x, "direct_io", json_object_new_boolean(st->direct_io));
			json_object_object_add(x, "sync_reads", sp_json_u64(st->sync_reads));
			json_object_object_add(x, "passthru_reads", sp_json_u64(st->passthru_reads));
			json_object_object_add(x, "passthru_backend", st->passthru_backend[0] ?
					       json_object_new_string(st->passthru_backend) : NULL);
			json_object_object_add(x, "cache", cache_json(s));
			json_object_object_add(x, "writes", sp_json_u64(st->writes));
			json_object_object_add(x, "write_bytes", sp_json_u64(st->write_bytes));
			json_object_object_add(root, "xdp", x);
		} else {
			json_object_put(x);
		}
		sp_json_print_and_free(root);
		return;
	}
	fprintf(stderr, "%s: %s mode: %llu requests, %llu bytes, %llu errors "
		"(malformed %llu, unknown file %llu, range %llu, too big %llu, busy %llu), "
		"%llu refused connections, CPU %.1f ms/GiB\n",
		sp_prog(), mode_names[s->mode], (unsigned long long)st->requests,
		(unsigned long long)st->bytes, (unsigned long long)st->errors,
		(unsigned long long)st->err_malformed, (unsigned long long)st->err_nofile,
		(unsigned long long)st->err_range, (unsigned long long)st->err_toobig,
		(unsigned long long)st->err_busy, (unsigned long long)st->refused,
		gib > 0 ? cpu / gib / 1e6 : 0.0);
	if (s->mode == MODE_SENDZC)
		fprintf(stderr, "%s: sendzc notifications: %llu zero-copy, %llu copied by the kernel, "
			"%llu not saying which\n", sp_prog(), (unsigned long long)st->zc_sent,
			(unsigned long long)st->zc_copied, (unsigned long long)st->zc_unreported);
	if (s->mode == MODE_XDP && s->cache) {
		const struct cache_stats *c = &s->st.cache;

		fprintf(stderr, "%s: cache: %llu hits in XDP, %llu misses (%llu stale, %llu torn), "
			"%llu bypasses; %llu admitted, %llu deferred, %llu raced a write, "
			"%llu invalidated, %llu evicted, %llu left\n", sp_prog(),
			(unsigned long long)c->hits, (unsigned long long)c->misses,
			(unsigned long long)c->stale, (unsigned long long)c->torn,
			(unsigned long long)c->bypasses, (unsigned long long)c->admissions,
			(unsigned long long)c->deferred, (unsigned long long)c->raced,
			(unsigned long long)c->invalidations, (unsigned long long)c->evictions,
			(unsigned long long)c->entries);
	}
	if (s->writable)
		fprintf(stderr, "%s: %llu writes, %llu bytes written\n", sp_prog(),
			(unsigned long long)s->st.writes, (unsigned long long)s->st.write_bytes);
}

enum { OPT_XDP_MODE = 256, OPT_BUSY_POLL, OPT_MAX_CONNS, OPT_MAX_INFLIGHT, OPT_MAX_LEN,
       OPT_CHUNK, OPT_DROP, OPT_READY, OPT_JSON, OPT_CACHE, OPT_NO_CACHE, OPT_PASSTHRU,
       OPT_CACHE_ENTRIES, OPT_CACHE_ADMIT, OPT_WRITABLE, OPT_ZC_SOURCE };

static int parse_args(int argc, char **argv, struct server *s)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "ifname", required_argument, NULL, 'i' },
		{ "xdp-mode", required_argument, NULL, OPT_XDP_MODE },
		{ "busy-poll", required_argument, NULL, OPT_BUSY_POLL },
		{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
		{ "max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT },
		{ "max-len", required_argument, NULL, OPT_MAX_LEN },
		{ "chunk", required_argument, NULL, OPT_CHUNK },
		{ "zc-source", required_argument, NULL, OPT_ZC_SOURCE },
		{ "drop-every", required_argument, NULL, OPT_DROP },
		{ "cache", no_argument, NULL, OPT_CACHE },
		{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
		{ "cache-entries", required_argument, NULL, OPT_CACHE_ENTRIES },
		{ "cache-admit", required_argument, NULL, OPT_CACHE_ADMIT },
		{ "writable", no_argument, NULL, OPT_WRITABLE },
		{ "passthru", no_argument, NULL, OPT_PASSTHRU },
		{ "ready", required_argument, NULL, OPT_READY },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode = NULL;
	uint64_t v;
	int opt;

	s->port = 7878;
	s->max_conns = 64;
	s->max_inflight = 64;
	s->max_len = 1ULL << 30;
	s->chunk = 0;	/* the mode's default, below */
	s->pipe_size = 1 << 20;
	s->busy_poll_ns = sysconf(_SC_NPROCESSORS_ONLN) > 2 ? 200000 : 0;
	s->cache_entries = 8192;
	s->cache_admit = 2;
	while ((opt = getopt_long(argc, argv, "m:a:p:i:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'm': mode = optarg; break;
		case 'a':
			if (inet_pton(AF_INET, optarg, &s->addr) != 1) {
				sp_err("--addr: '%s' is not an IPv4 address", optarg);
				return -EINVAL;
			}
			break;
		case 'p':
			if (sp_parse_u64(optarg, 1, 65535, &v))
				goto bad;
			s->port = v;
			break;
		case 'i': s->ifname = optarg; break;
		case OPT_XDP_MODE:
			if (strcmp(optarg, "native") && strcmp(optarg, "skb"))
				goto bad;
			s->xdp_mode = optarg;
			break;
		case OPT_BUSY_POLL:
			/* "0" is a duration of nothing, not an error */
			if (strcmp(optarg, "0") && sp_parse_duration(optarg, &s->busy_poll_ns))
				goto bad;
			if (!strcmp(optarg, "0"))
				s->busy_poll_ns = 0;
			break;
		case OPT_MAX_CONNS:
			if (sp_parse_u64(optarg, 1, 65536, &v))
				goto bad;
			s->max_conns = v;
			break;
		case OPT_MAX_INFLIGHT:
			if (sp_parse_u64(optarg, 1, 1024, &v))
				goto bad;
			s->max_inflight = v;
			break;
		case OPT_MAX_LEN:
			if (sp_parse_size(optarg, &s->max_len) || !s->max_len)
				goto bad;
			break;
		case OPT_ZC_SOURCE:
			if (strcmp(optarg, "page-cache") && strcmp(optarg, "buffers"))
				goto bad;
			s->zc_buffers = !strcmp(optarg, "buffers");
			break;
		case OPT_CHUNK:
			if (sp_parse_size(optarg, &s->chunk) || s->chunk < 4096 ||
			    s->chunk > (16u << 20) || s->chunk % 4096)
				goto bad;
			break;
		case OPT_DROP:
			if (sp_parse_u64(optarg, 2, UINT32_MAX, &v))
				goto bad;
			s->drop_every = v;
			break;
		case OPT_CACHE: s->cache = true; break;
		case OPT_NO_CACHE: s->cache = false; break;
		case OPT_CACHE_ENTRIES:
			if (sp_parse_u64(optarg, 1, 1 << 20, &v))
				goto bad;
			s->cache_entries = v;
			break;
		case OPT_CACHE_ADMIT:
			if (sp_parse_u64(optarg, 1, 1000, &v))
				goto bad;
			s->cache_admit = v;
			break;
		case OPT_WRITABLE: s->writable = true; break;
		case OPT_PASSTHRU: s->passthru = true; break;
		case OPT_READY: s->ready_path = optarg; break;
		case OPT_JSON: s->json = true; break;
		case 'v': sp_log_set_level(SP_LOG_DEBUG); break;
		case 'h':
			usage(stdout);
			exit(SP_EXIT_OK);
		default:
			sp_err("bad usage; see --help");
			return -EINVAL;
		}
		continue;
bad:
		sp_err("bad value '%s'; see --help", optarg);
		return -EINVAL;
	}
	if (!mode) {
		sp_err("--mode is required: copy, sendfile, splice, sendzc or xdp");
		return -EINVAL;
	}
	for (s->mode = 0; s->mode <= MODE_XDP; s->mode++)
		if (!strcmp(mode, mode_names[s->mode]))
			break;
	if (s->mode > MODE_XDP) {
		sp_err("unknown mode '%s': copy, sendfile, splice, sendzc or xdp", mode);
		return -EINVAL;
	}
	if (s->writable && s->passthru) {
		/* a write goes through the page cache, a passthrough read past it */
		sp_err("--writable and --passthru do not go together");
		return -EINVAL;
	}
	if (s->mode != MODE_XDP && (s->cache || s->writable || s->passthru)) {
		sp_err("--cache, --writable and --passthru are for the xdp mode");
		return -EINVAL;
	}
	if (!s->chunk)
		s->chunk = s->mode == MODE_SENDZC && !s->zc_buffers ? 256 << 10 : 64 << 10;
	if (s->mode == MODE_XDP && !s->ifname) {
		sp_err("xdp mode needs --ifname");
		return -EINVAL;
	}
	if (optind >= argc) {
		sp_err("no FILE to serve; see --help");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct server s = { 0 };
	struct sp_usage u0, u1, d;
	struct sigaction sa = { .sa_handler = on_signal };
	int ret;

	sp_log_init("sp-serve", SP_LOG_NOTICE);
	if (parse_args(argc, argv, &s))
		return SP_EXIT_USAGE;
	sp_hist_init(&s.st.lat);
	ret = open_files(&s, argv + optind, argc - optind);
	if (ret) {
		ret = SP_EXIT_USAGE;
		goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sp_usage_snapshot(&u0, NULL);
	ret = s.mode == MODE_XDP ? sp_serve_xdp(&s, &stop) : serve_tcp(&s);
	sp_usage_snapshot(&u1, NULL);
	sp_usage_delta(&u0, &u1, &d);
	if (ret) {
		ret = SP_EXIT_FAIL;
		goto out;
	}
	report(&s, &d);
out:
	for (unsigned i = 0; i < s.nr_files; i++) {
		/* pages a send still holds stay pinned by the kernel */
		if (s.files[i].map)
			munmap(s.files[i].map, s.files[i].size);
		close(s.files[i].fd);
	}
	free(s.files);
	if (s.ready_path)
		unlink(s.ready_path);
	return ret;
}
