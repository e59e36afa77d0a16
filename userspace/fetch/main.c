// SPDX-License-Identifier: MIT
/*
 * sp-fetch: the verifying client of sp-serve (and of any HTTP server
 * that honours Range, such as nginx). Every byte received is checked
 * against the local source file: a CRC32C per SP_X_PAYLOAD-byte block
 * of the file is computed once, and the CRC of each received block must
 * match it. Nothing received is stored, so a 64 MiB file costs one
 * table of 64 Ki CRCs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devinfo.h"
#include "sp_hist.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_proto.h"
#include "sp_stats.h"
#include "sp_time.h"
#include "sp_verify.h"
#include "sp_xsk.h"

#define BLK SP_X_PAYLOAD	/* verification granularity, bytes */
#define MAX_PIDS 8
#define UDP_MAX_FRAMES 64	/* frames of one sub-request: one bitmap word */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sp-fetch [OPTIONS] FILE\n"
"\n"
"Fetch FILE (the local copy of what the server serves) many times, in\n"
"parallel, and check every byte received against it.\n"
"\n"
"  -m, --mode tcp|udp|xdp tcp: HTTP/1.1 (sp-serve's TCP modes, nginx);\n"
"                        udp: sp-serve's xdp mode through a kernel UDP socket;\n"
"                        xdp: the same protocol through an AF_XDP socket\n"
"                        on -i IFACE (default tcp)\n"
"  -i, --iface IFACE     xdp: the interface that reaches the server; an XDP\n"
"                        program on it takes the replies and passes the rest\n"
"      --xdp-mode M      xdp: native or skb (default: native, else skb)\n"
"      --threads N       xdp: N threads, each with its own AF_XDP socket on\n"
"                        its own receive queue of IFACE, pinned to a CPU\n"
"                        that queue's replies arrive on, each with -P in\n"
"                        flight; totals summed (default 1; at most the\n"
"                        interface's queues)\n"
"  -s, --server IPV4     server address (default 127.0.0.1)\n"
"  -p, --port N          server port (default 7878)\n"
"      --name NAME       tcp: name on the server (default: base name of FILE)\n"
"      --id N            udp: file id on the server (default 0)\n"
"  -P, --parallel N      connections (tcp) or requests in flight (udp) (default 4)\n"
"  -n, --requests N      requests in all (default 100)\n"
"  -t, --time DURATION   run this long instead\n"
"      --len BYTES       fetch ranges of BYTES at random offsets that are\n"
"                        multiples of 1 KiB (default: the whole file)\n"
"      --chunk BYTES     udp: longest single request (default and most 64k)\n"
"      --timeout DURATION udp: re-request what is missing after this much\n"
"                        silence (default 20ms)\n"
"      --server-pid PID  also report the CPU time of PID (repeatable)\n"
"      --bad KIND        send one bad request instead (malformed, nofile,\n"
"                        range, toobig) and check the server's error reply\n"
"      --fresh UNITS     udp, against sp-serve --writable: a writer rewrites\n"
"                        the first UNITS KiB of FILE, one KiB unit at a time,\n"
"                        with numbered versions, while -P readers fetch\n"
"                        units; fails if a reader gets a version older than\n"
"                        the last one acknowledged before it asked, or a\n"
"                        unit that is no version at all. FILE is changed.\n"
"      --json            one JSON document on stdout\n"
"  -q, --quiet           no progress line\n"
"  -h, --help            this text\n"
"\n"
"Examples:\n"
"  sp-fetch -s 10.0.0.1 -P 8 -n 1000 /srv/a.bin\n"
"  sp-fetch -m udp -s 10.0.0.1 --len 4k -t 5s --json /srv/a.bin\n"
"  sp-fetch -s 10.0.0.1 --bad nofile /srv/a.bin\n"
"  sp-fetch -m udp -s 10.0.0.1 --fresh 16 -P 8 -t 3s /srv/a.bin\n"
"  sp-fetch -m xdp -i veth1 -s 10.0.0.1 --len 4k -P 16 -t 5s /srv/a.bin\n"
"  sp-fetch -m xdp -i veth1 --threads 2 -s 10.0.0.1 --len 1k -t 5s /srv/a.bin\n"
"\n"
"Exit status: 0 every byte matched (or --bad got its error), 1 a mismatch,\n"
"a loss, an error reply or a network failure, 2 bad usage.\n");
}

enum bad_kind { BAD_NONE, BAD_MALFORMED, BAD_NOFILE, BAD_RANGE, BAD_TOOBIG };
static const char *const bad_names[] = {
	[BAD_MALFORMED] = "malformed", [BAD_NOFILE] = "nofile",
	[BAD_RANGE] = "range", [BAD_TOOBIG] = "toobig",
};

struct xshared;

struct client {
	bool udp;		/* the UDP protocol: -m udp or -m xdp */
	bool xdp;		/* ... through AF_XDP */
	const char *ifname, *xdp_mode;
	unsigned threads;	/* -m xdp: threads asked for, then run */
	unsigned thread;	/* of a thread's copy: its number */
	struct xshared *xs;	/* -m xdp: the socket set-up all threads share */
	struct sockaddr_in sa;
	const char *path, *name;
	uint32_t id;
	unsigned parallel;
	uint64_t requests, run_ns, len, chunk, timeout_ns;
	int pids[MAX_PIDS];
	unsigned nr_pids;
	enum bad_kind bad;
	unsigned fresh;		/* units of the --fresh check; 0: off */
	bool json, quiet, progress;
	/* source */
	uint64_t size;
	uint32_t *crcs;		/* one per BLK bytes of the file */
	uint64_t rng;
	/* results */
	uint64_t issued, done, bytes, errors, mismatches, lost, retransmits, busy;
	uint64_t writes, stale;	/* --fresh */
	uint64_t frames_rx, frames_tx, csum_errors, misrouted;	/* -m xdp */
	unsigned queues;	/* -m xdp: receive queues with a socket */
	uint64_t thread_done[SP_XSK_MAX_QUEUES];	/* -m xdp: requests per thread */
	char xdp_attach[8];
	uint64_t start_ns;
	struct sp_hist lat;
	char fail[256];
};

static atomic_bool interrupted;
/* a thread failed: the others stop too */
static atomic_bool failed_any;

static void on_signal(int sig)
{
	atomic_store(&interrupted, true);
}

static void fail(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (c->fail[0])
		return;
	va_start(ap, fmt);
	vsnprintf(c->fail, sizeof(c->fail), fmt, ap);
	va_end(ap);
	atomic_store(&failed_any, true);
}

static int load_source(struct client *c)
{
	size_t bufsz = 1 << 20;
	char *buf = malloc(bufsz);
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);
	struct sp_devinfo d;
	int ret = 0;

	if (fd < 0 || !buf) {
		ret = buf ? -errno : -ENOMEM;
		goto out;
	}
	/* a block device's size is not in st_size */
	ret = sp_dev_probe(c->path, false, &d);
	if (ret)
		goto out;
	c->size = d.size;
	if (!c->size) {
		ret = -ENODATA;
		goto out;
	}
	c->crcs = calloc((c->size + BLK - 1) / BLK, sizeof(*c->crcs));
	if (!c->crcs) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint64_t off = 0; off < c->size;) {
		ssize_t n = pread(fd, buf, bufsz, off);

		if (n <= 0) {
			ret = n ? -errno : -EIO;
			goto out;
		}
		sp_crc32c_blocks(buf, n, BLK, &c->crcs[off / BLK]);
		off += n;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* The next range to fetch: the whole file, or --len at a random block. */
static void next_range(struct client *c, uint64_t *off, uint64_t *len)
{
	if (!c->len || c->len >= c->size) {
		*off = 0;
		*len = c->size;
		return;
	}
	*off = rng_next(&c->rng) % ((c->size - c->len) / BLK + 1) * BLK;
	*len = c->len;
}

/* now: a recent sp_now_ns(), one per pass of a loop (clock reads add up) */
static bool more_to_issue_at(struct client *c, uint64_t now)
{
	if (atomic_load(&interrupted) || atomic_load(&failed_any))
		return false;
	if (c->run_ns)
		return now - c->start_ns < c->run_ns;
	return c->issued < c->requests;
}

static bool more_to_issue(struct client *c)
{
	if (atomic_load(&interrupted) || atomic_load(&failed_any))
		return false;
	if (c->run_ns)
		return sp_now_ns() - c->start_ns < c->run_ns;
	return c->issued < c->requests;
}

static void progress(struct client *c, bool last)
{
	static uint64_t next;
	uint64_t now;

	if (!c->progress)
		return;
	now = sp_now_ns();
	if (!last && now < next)
		return;
	next = now + 500000000ULL;
	fprintf(stderr, "\r%llu requests, %.1f MiB, %llu errors  ",
		(unsigned long long)c->done, c->bytes / 1048576.0,
		(unsigned long long)(c->errors + c->mismatches));
	if (last)
		fputc('\n', stderr);
}

/* ------------------------------------------------------------ TCP */

struct tconn {
	int fd;
	bool busy;		/* a request is out */
	bool in_body;
	char hdr[SP_HTTP_MAX_HDR];
	size_t hdr_len;
	uint64_t pos, end;	/* file offsets of the body still expected */
	uint32_t crc;		/* of the current block so far */
	uint64_t start_ns;
};

static int tcp_connect(struct client *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&c->sa, sizeof(c->sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Checks body bytes as they come: a block is compared when it is whole. */
static void verify_feed(struct client *c, struct tconn *t, const char *p, size_t n)
{
	while (n) {
		uint64_t blk = t->pos / BLK, bend;
		size_t whole = n / BLK, take;
		uint32_t crcs[64];

		if (whole > (t->end - t->pos) / BLK)
			whole = (t->end - t->pos) / BLK;
		if (whole > 64)
			whole = 64;
		/*
		 * Whole blocks from a block boundary, the bulk of a large
		 * reply, have their CRCs taken together (sp_crc32c_blocks):
		 * one at a time, they were a third of the client's CPU.
		 */
		if (t->pos % BLK == 0 && whole >= 3) {
			sp_crc32c_blocks(p, whole * BLK, BLK, crcs);
			for (size_t i = 0; i < whole; i++) {
				if (crcs[i] != c->crcs[blk + i]) {
					c->mismatches++;
					fail(c, "block at offset %llu differs from the source",
					     (unsigned long long)(blk + i) * BLK);
				}
			}
			t->pos += whole * BLK;
			p += whole * BLK;
			n -= whole * BLK;
			continue;
		}
		bend = (blk + 1) * BLK < c->size ? (blk + 1) * BLK : c->size;
		take = bend - t->pos < n ? bend - t->pos : n;

		t->crc = sp_crc32c(t->crc, p, take);
		t->pos += take;
		p += take;
		n -= take;
		if (t->pos == bend || t->pos == t->end) {
			if (t->pos != bend || t->crc != c->crcs[blk]) {
				c->mismatches++;
				fail(c, "block at offset %llu differs from the source",
				     (unsigned long long)blk * BLK);
			}
			t->crc = 0;
		}
	}
}

static int tcp_send_req(struct client *c, struct tconn *t)
{
	char req[512];
	uint64_t off, len;
	int n;

	if (t->fd < 0) {
		t->fd = tcp_connect(c);
		if (t->fd < 0)
			return t->fd;
	}
	next_range(c, &off, &len);
	n = sp_http_fmt_req(req, sizeof(req), c->name, off,
			    off == 0 && len == c->size ? 0 : len);
	if (n < 0)
		return n;
	if (send(t->fd, req, n, MSG_NOSIGNAL) != n)
		return -errno ? -errno : -EIO;
	t->busy = true;
	t->in_body = false;
	t->hdr_len = 0;
	t->pos = off;
	t->end = off + len;
	t->crc = 0;
	t->start_ns = sp_now_ns();
	c->issued++;
	return 0;
}

/* The reply header is whole: check that it is the answer asked for. */
static int tcp_check_resp(struct client *c, struct tconn *t,
			  const struct sp_http_resp *r)
{
	uint64_t want = t->end - t->pos;

	if (r->status != 200 && r->status != 206) {
		c->errors++;
		fail(c, "server replied %d", r->status);
		return -EPROTO;
	}
	if (r->content_length != want ||
	    (r->status == 206 && (!r->has_range || r->range_first != t->pos)) ||
	    (r->status == 200 && t->pos != 0)) {
		c->errors++;
		fail(c, "reply %d of %llu bytes does not match the %llu bytes at %llu asked for",
		     r->status, (unsigned long long)r->content_length,
		     (unsigned long long)want, (unsigned long long)t->pos);
		return -EPROTO;
	}
	return 0;
}

static int tcp_readable(struct client *c, struct tconn *t)
{
	char buf[65536];

	for (;;) {
		ssize_t n = recv(t->fd, buf, sizeof(buf), 0);
		size_t used = 0;

		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0) {
			fail(c, "server closed the connection mid-reply");
			return -ECONNRESET;
		}
		if (!t->in_body) {
			struct sp_http_resp r;
			size_t room = sizeof(t->hdr) - t->hdr_len;
			size_t take = (size_t)n < room ? (size_t)n : room;
			int h;

			memcpy(t->hdr + t->hdr_len, buf, take);
			h = sp_http_parse_resp(t->hdr, t->hdr_len + take, &r);
			if (h == 0) {
				t->hdr_len += take;
				continue;
			}
			if (h < 0) {
				c->errors++;
				fail(c, "malformed reply header: %s", strerror(-h));
				return h;
			}
			if (tcp_check_resp(c, t, &r))
				return -EPROTO;
			if (r.close) {
				fail(c, "the server closes the connection after each reply");
				return -EPROTO;
			}
			used = h - t->hdr_len;
			t->in_body = true;
		}
		if ((uint64_t)(n - used) > t->end - t->pos) {
			c->errors++;
			fail(c, "more bytes than the reply announced");
			return -EPROTO;
		}
		verify_feed(c, t, buf + used, n - used);
		c->bytes += n - used;
		if (t->pos == t->end) {
			sp_hist_add(&c->lat, sp_now_ns() - t->start_ns);
			c->done++;
			t->busy = false;
			return 0;
		}
	}
}

static int run_tcp(struct client *c)
{
	struct tconn *conns = calloc(c->parallel, sizeof(*conns));
	struct pollfd *pfd = calloc(c->parallel, sizeof(*pfd));
	int ret = 0;

	if (!conns || !pfd) {
		ret = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < c->parallel; i++)
		conns[i].fd = -1;
	for (;;) {
		unsigned active = 0;

		for (unsigned i = 0; i < c->parallel; i++) {
			if (!conns[i].busy && more_to_issue(c)) {
				ret = tcp_send_req(c, &conns[i]);
				if (ret) {
					fail(c, "request to %s: %s", inet_ntoa(c->sa.sin_addr),
					     strerror(-ret));
					goto out;
				}
			}
			pfd[i].fd = conns[i].busy ? conns[i].fd : -1;
			pfd[i].events = POLLIN;
			active += conns[i].busy;
		}
		if (!active || c->fail[0])
			break;
		if (poll(pfd, c->parallel, 1000) < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		for (unsigned i = 0; i < c->parallel; i++)
			if (pfd[i].revents && (ret = tcp_readable(c, &conns[i])))
				goto out;
		progress(c, false);
	}
out:
	for (unsigned i = 0; conns && i < c->parallel; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	free(conns);
	free(pfd);
	return c->fail[0] ? -EIO : ret;
}

/* ------------------------------------------------------------ UDP */

struct uslot {
	bool busy;
	uint32_t req_id;
	uint64_t off, len;	/* off: a multiple of BLK */
	unsigned nframes;
	uint64_t got;		/* bitmap of frames received */
	uint64_t last_ns;	/* last request sent or frame received */
	unsigned retries;
	unsigned fetch;		/* index in the fetch ring */
};

struct ufetch {
	uint64_t start_ns;
	unsigned pieces;	/* sub-requests not yet complete */
	bool all_issued;
};

#define UDP_OUT_BATCH 64
#define UDP_REQ_MAX (sizeof(struct sp_xmsg) + BLK)

/*
 * -m xdp: the requests leave and the replies arrive through AF_XDP
 * sockets on the client's interface, with the headers built here, so no
 * kernel UDP stack is crossed on this side. The XDP program (sp_xsk.h,
 * the server's program with our port) takes the frames for our UDP
 * port and passes everything else, so the kernel still answers ARP. The
 * port is reserved by binding a kernel UDP socket to it for the run.
 *
 * A socket on every receive queue of the interface: replies come back
 * on the queue the request left on, but the XDP cache's replies on the
 * queue of the CPU that ran the server's XDP program (veth). With
 * --threads N, thread t sends on queue t and receives on the queues
 * q % N == t, pinned to a CPU whose replies land on queue t; the
 * request's slot number tells the thread, and a reply that reaches
 * another thread anyway is dropped and asked for again (misrouted).
 */
#define XC_FRAME	4096u
#define XC_RX		4096u	/* per queue: frames the kernel can fill before we read */
#define XC_TX		1024u	/* per thread */
#define XC_RING		4096u

struct xshared {
	struct sp_xsk xsk;
	struct sp_udp_addr self, server;
	int port_fd;
};

struct xclient {
	struct sp_xsk *xsk;
	struct sp_udp_addr self, server;
	unsigned txq;		/* the queue it sends on */
	unsigned rxq[SP_XSK_MAX_QUEUES], nr_rxq;	/* the queues it receives on */
	uint64_t free_tx[XC_TX];
	unsigned nr_free, queued;
	uint64_t frames_rx, frames_tx, csum_errors, misrouted;
};

struct udp {
	struct xclient *x;	/* -m xdp; NULL: the kernel socket fd */
	int fd;
	struct mmsghdr out[UDP_OUT_BATCH];	/* requests not yet sent */
	struct iovec out_iov[UDP_OUT_BATCH];
	uint8_t out_buf[UDP_OUT_BATCH][UDP_REQ_MAX];
	unsigned nr_out;
	struct uslot *slots;
	struct ufetch *fetches;
	unsigned nr_fetches;	/* ring size */
	unsigned cur;		/* fetch being cut into sub-requests */
	uint64_t cur_off, cur_end;
	uint32_t seq;
	unsigned slot_base;	/* of this thread's slots in req_id */
	uint64_t now;		/* when the batch of frames being read came */
};

/*
 * Requests are queued and go out together with sendmmsg(2): one system
 * call for every request a pass of the loop issues. A one-unit request
 * is padded to the size of its reply, so that the XDP cache can turn
 * the frame into the reply in place: on veth and in generic XDP a
 * received frame has little room to grow.
 */
static int xdp_flush(struct xclient *x)
{
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
static int xdp_send(struct xclient *x, uint32_t req_id, uint32_t id, uint64_t off,
		    uint64_t len, size_t n)
{
	uint64_t addr;
	uint8_t *p;
	int ret;

	if (!x->nr_free && (ret = xdp_flush(x)))
		return ret;
	if (!x->nr_free)
		return -ENOBUFS;
	addr = x->free_tx[--x->nr_free];
	p = sp_xsk_frame(x->xsk, addr);
	memset(p + SP_X_HDRS, 0, n);
	sp_x_fill(p + SP_X_HDRS, SP_X_REQ, 0, req_id, id, off, len);
	sp_udp_fill(p, &x->self, &x->server, n);
	/* the padding is zeros: it adds nothing to the sum */
	sp_udp_csum_set(p, sp_inet_sum(0, p + SP_X_HDRS, sizeof(struct sp_xmsg)));
	if (!sp_xsk_tx(x->xsk, x->txq, addr, SP_X_HDRS + n)) {
		x->free_tx[x->nr_free++] = addr;
		return -ENOBUFS;
	}
	x->queued++;
	return 0;
}

static int udp_flush(struct udp *u)
{
	unsigned done = 0;

	if (u->x)
		return xdp_flush(u->x);
	while (done < u->nr_out) {
		int n = sendmmsg(u->fd, u->out + done, u->nr_out - done, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			u->nr_out = 0;
			return -errno;
		}
		done += n;
	}
	u->nr_out = 0;
	return 0;
}

static int udp_send(struct udp *u, uint32_t req_id, uint32_t id, uint64_t off,
		    uint64_t len)
{
	uint8_t *msg;
	size_t n = len && len <= BLK && off % BLK == 0 ? UDP_REQ_MAX : sizeof(struct sp_xmsg);
	int ret;

	if (u->x)
		return xdp_send(u->x, req_id, id, off, len, n);
	if (u->nr_out == UDP_OUT_BATCH && (ret = udp_flush(u)))
		return ret;
	msg = u->out_buf[u->nr_out];
	memset(msg, 0, n);
	sp_x_fill(msg, SP_X_REQ, 0, req_id, id, off, len);
	u->out_iov[u->nr_out] = (struct iovec){ msg, n };
	u->out[u->nr_out] = (struct mmsghdr){
		.msg_hdr = { .msg_iov = &u->out_iov[u->nr_out], .msg_iovlen = 1 } };
	u->nr_out++;
	return 0;
}

static uint64_t full_mask(unsigned n)
{
	return n == 64 ? ~0ULL : (1ULL << n) - 1;
}

/* Asks again for every run of frames still missing. */
static int udp_rerequest(struct client *c, struct udp *u, struct uslot *s)
{
	uint64_t missing = ~s->got & full_mask(s->nframes);

	while (missing) {
		unsigned first = __builtin_ctzll(missing), last = first;
		uint64_t off, end;
		int ret;

		while (last + 1 < s->nframes && (missing >> (last + 1) & 1))
			last++;
		off = s->off + (uint64_t)first * BLK;
		end = s->off + (uint64_t)(last + 1) * BLK;
		if (end > s->off + s->len)
			end = s->off + s->len;
		ret = udp_send(u, s->req_id, c->id, off, end - off);
		if (ret)
			return ret;
		c->retransmits++;
		missing &= ~full_mask(last + 1);
	}
	s->retries++;
	s->last_ns = sp_now_ns();
	return 0;
}

static bool udp_issue(struct client *c, struct udp *u, unsigned si)
{
	struct uslot *s = &u->slots[si];
	struct ufetch *f;
	uint64_t off, len;

	if (u->cur_off == u->cur_end) {
		/* the fetch ring holds every fetch with a piece in flight */
		if (!more_to_issue_at(c, u->now) ||
		    u->fetches[(u->cur + 1) % u->nr_fetches].pieces)
			return false;
		u->fetches[u->cur].all_issued = true;
		u->cur = (u->cur + 1) % u->nr_fetches;
		next_range(c, &off, &len);
		u->cur_off = off;
		u->cur_end = off + len;
		f = &u->fetches[u->cur];
		f->start_ns = u->now;
		f->pieces = 0;
		f->all_issued = false;
		c->issued++;
	}
	f = &u->fetches[u->cur];
	len = u->cur_end - u->cur_off < c->chunk ? u->cur_end - u->cur_off : c->chunk;
	s->busy = true;
	s->req_id = (u->slot_base + si) << 22 | (u->seq++ & 0x3fffff);
	s->off = u->cur_off;
	s->len = len;
	s->nframes = (len + BLK - 1) / BLK;
	s->got = 0;
	s->retries = 0;
	s->fetch = u->cur;
	s->last_ns = u->now;
	f->pieces++;
	u->cur_off += len;
	if (u->cur_off == u->cur_end)
		f->all_issued = true;
	if (udp_send(u, s->req_id, c->id, s->off, s->len)) {
		fail(c, "sending a request: %s", strerror(errno));
		return false;
	}
	return true;
}

static void udp_slot_done(struct client *c, struct udp *u, struct uslot *s)
{
	struct ufetch *f = &u->fetches[s->fetch];

	s->busy = false;
	if (--f->pieces == 0 && f->all_issued) {
		sp_hist_add(&c->lat, u->now - f->start_ns);
		c->done++;
	}
}

/*
 * The blocks of a DATA frame (one to three), each checked against the
 * source's CRC; whole blocks only, except at the end of the file. 0,
 * or -EPROTO after a mismatch (the run fails).
 */
static int udp_blocks(struct client *c, struct udp *u, struct uslot *s,
		      const struct sp_xinfo *m)
{
	uint64_t end = m->offset + m->len;
	unsigned k = (m->offset - s->off) / BLK, i = 0;
	uint32_t crcs[SP_X_MAX_PAYLOAD / BLK + 1] = { 0 };	/* [0]: the CRC of nothing */

	if (m->len % BLK && end != c->size)
		goto bad;
	if (m->len > sizeof(crcs) / sizeof(crcs[0]) * BLK)
		goto bad;
	sp_crc32c_blocks(m->payload, m->len, BLK, crcs);
	/* one block: its CRC is also the frame's */
	if (m->len <= BLK && crcs[0] != m->aux)
		goto bad;
	for (uint64_t off = m->offset; off < end; off += BLK, k++, i++) {
		uint32_t n = end - off < BLK ? end - off : BLK;

		if (s->got >> k & 1)
			continue;
		if (c->crcs[off / BLK] != crcs[i])
			goto bad;
		s->got |= 1ULL << k;
		c->bytes += n;
	}
	s->last_ns = u->now;
	return 0;
bad:
	c->mismatches++;
	fail(c, "frame at offset %llu differs from the source", (unsigned long long)m->offset);
	return -EPROTO;
}

static void udp_frame(struct client *c, struct udp *u, const uint8_t *buf, size_t len)
{
	struct sp_xinfo m;
	struct uslot *s;
	unsigned si;

	if (sp_x_parse(buf, len, &m)) {
		c->errors++;
		fail(c, "malformed reply from the server");
		return;
	}
	si = (m.req_id >> 22) - u->slot_base;
	if (si >= c->parallel) {
		/* another thread's: it asks again (or a stray frame) */
		if (u->x)
			u->x->misrouted++;
		return;
	}
	if (!u->slots[si].busy || u->slots[si].req_id != m.req_id)
		return;		/* late duplicate of a finished request */
	s = &u->slots[si];
	switch (m.type) {
	case SP_X_DATA:
	case SP_X_LAST:
		if (m.offset < s->off || m.offset >= s->off + s->len ||
		    (m.offset - s->off) % BLK || m.len > s->off + s->len - m.offset)
			break;
		if (udp_blocks(c, u, s, &m) < 0)
			break;
		if (s->got == full_mask(s->nframes)) {
			udp_slot_done(c, u, s);
			break;
		}
		/* frames after a gap were sent: the gap is lost */
		if (m.type == SP_X_LAST && udp_rerequest(c, u, s))
			fail(c, "re-request: %s", strerror(errno));
		break;
	case SP_X_END:
		if (s->got != full_mask(s->nframes) && udp_rerequest(c, u, s))
			fail(c, "re-request: %s", strerror(errno));
		break;
	case SP_X_ERR:
		if (m.aux == SP_XE_BUSY) {
			/* the server is full: ask again after --timeout */
			c->busy++;
			s->last_ns = sp_now_ns();
			break;
		}
		c->errors++;
		fail(c, "server error for the request at %llu: %s",
		     (unsigned long long)s->off, sp_x_err_str(m.aux));
		break;
	default:
		break;
	}
}

static int udp_socket(struct client *c)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int sz = 32 << 20;

	if (fd < 0)
		return -errno;
	/* a burst of frames must not overflow the socket (FORCE: root only) */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (connect(fd, (struct sockaddr *)&c->sa, sizeof(c->sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
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
		fail(c, "%s: no hardware address: %s", c->ifname, strerror(errno));
		goto out;
	}
	memcpy(x->self.mac, ifr.ifr_hwaddr.sa_data, 6);
	ifr.ifr_addr.sa_family = AF_INET;
	if (ioctl(fd, SIOCGIFADDR, &ifr)) {
		ret = -errno;
		fail(c, "%s: no IPv4 address: %s", c->ifname, strerror(errno));
		goto out;
	}
	x->self.ip = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr;
	x->server.ip = c->sa.sin_addr.s_addr;
	x->server.port = c->sa.sin_port;
	/* a port of our own, held in the kernel's table for the run */
	x->port_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = x->self.ip;
	if (x->port_fd < 0 || bind(x->port_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(x->port_fd, (struct sockaddr *)&sa, &salen)) {
		ret = -errno;
		fail(c, "reserving a UDP port on %s: %s", inet_ntoa(sa.sin_addr), strerror(errno));
		goto out;
	}
	x->self.port = sa.sin_port;
	for (unsigned tries = 0;; tries++) {
		struct arpreq ar = { 0 };
		struct sockaddr_in discard = c->sa;

		memcpy(&ar.arp_pa, &c->sa, sizeof(c->sa));
		((struct sockaddr_in *)&ar.arp_pa)->sin_port = 0;
		snprintf(ar.arp_dev, sizeof(ar.arp_dev), "%s", c->ifname);
		if (!ioctl(fd, SIOCGARP, &ar) && (ar.arp_flags & ATF_COM)) {
			memcpy(x->server.mac, ar.arp_ha.sa_data, 6);
			break;
		}
		if (tries == 100 || atomic_load(&interrupted)) {
			ret = -EHOSTUNREACH;
			fail(c, "%s: no link-layer address for %s (not on this link?)",
			     c->ifname, inet_ntoa(c->sa.sin_addr));
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
		fail(c, "AF_XDP on %s: %s", c->ifname, strerror(-ret));
		return ret;
	}
	snprintf(c->xdp_attach, sizeof(c->xdp_attach), "%s", x->xsk.attach);
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
	for (unsigned q = c->thread; q < nq; q += c->threads)
		x->rxq[x->nr_rxq++] = q;
	for (unsigned i = 0; i < XC_TX; i++)
		x->free_tx[x->nr_free++] =
			(uint64_t)(first_tx + c->thread * XC_TX + i) * XC_FRAME;
}

static void udp_frame(struct client *c, struct udp *u, const uint8_t *buf, size_t len);

struct xrx {
	struct client *c;
	struct udp *u;
};

static void xdp_frame(void *arg, const uint8_t *frame, uint32_t len)
{
	struct xrx *r = arg;
	struct xclient *x = r->u->x;
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
	udp_frame(r->c, r->u, payload, plen);
}

static int run_udp(struct client *c)
{
	enum { BATCH = 32, FRAME = 4096 };
	struct udp *u = calloc(1, sizeof(*u));	/* the send batch is large */
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	char (*bufs)[FRAME] = malloc(BATCH * FRAME);
	bool idle = true;
	int ret = 0;

	if (!u || !bufs) {
		ret = -ENOMEM;
		goto out;
	}
	u->fd = -1;
	u->nr_fetches = c->parallel + 2;
	u->slots = calloc(c->parallel, sizeof(*u->slots));
	u->fetches = calloc(u->nr_fetches, sizeof(*u->fetches));
	if (!u->slots || !u->fetches) {
		ret = -ENOMEM;
		goto out;
	}
	u->slot_base = c->thread * c->parallel;
	if (c->xdp) {
		u->x = calloc(1, sizeof(*u->x));
		if (!u->x) {
			ret = -ENOMEM;
			goto out;
		}
		xdp_thread_init(c, u->x);
	} else {
		u->fd = udp_socket(c);
		if (u->fd < 0) {
			ret = u->fd;
			fail(c, "UDP socket to %s: %s", inet_ntoa(c->sa.sin_addr), strerror(-ret));
			goto out;
		}
	}
	for (;;) {
		unsigned active = 0;
		uint64_t now = sp_now_ns();
		int n;

		u->now = now;
		for (unsigned i = 0; i < c->parallel; i++) {
			struct uslot *s = &u->slots[i];

			if (!s->busy && !udp_issue(c, u, i))
				continue;
			active++;
			/* last_ns may be later than now: just issued */
			if (now > s->last_ns && now - s->last_ns > c->timeout_ns) {
				if (s->retries >= 100) {
					c->lost++;
					fail(c, "frames at %llu still missing after 100 re-requests",
					     (unsigned long long)s->off);
				} else if (udp_rerequest(c, u, s)) {
					fail(c, "re-request: %s", strerror(errno));
				}
			}
		}
		ret = udp_flush(u);
		if (ret) {
			fail(c, "sending requests: %s", strerror(-ret));
			break;
		}
		if (!active || atomic_load(&failed_any))
			break;
		if (u->x) {
			struct xclient *x = u->x;
			struct xrx r = { c, u };
			unsigned got = 0;

			/* poll only when the last look found nothing */
			if (idle) {
				struct pollfd pfd[SP_XSK_MAX_QUEUES];

				for (unsigned i = 0; i < x->nr_rxq; i++)
					pfd[i] = (struct pollfd){ .fd = sp_xsk_fd(x->xsk, x->rxq[i]),
								  .events = POLLIN };
				if (poll(pfd, x->nr_rxq, c->timeout_ns / 1000000 + 1) <= 0)
					continue;
			}
			u->now = sp_now_ns();
			for (unsigned i = 0; i < x->nr_rxq; i++)
				got += sp_xsk_rx(x->xsk, x->rxq[i], BATCH, xdp_frame, &r);
			idle = !got;
			progress(c, false);
			continue;
		}
		for (unsigned i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ bufs[i], FRAME };
			msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		/* poll only when the last look found nothing */
		if (idle) {
			struct pollfd pfd = { .fd = u->fd, .events = POLLIN };

			if (poll(&pfd, 1, c->timeout_ns / 1000000 + 1) <= 0)
				continue;
		}
		n = recvmmsg(u->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			ret = -errno;
			fail(c, "receiving: %s", strerror(errno));
			break;
		}
		idle = n <= 0;
		u->now = sp_now_ns();
		for (int i = 0; i < n; i++)
			udp_frame(c, u, (uint8_t *)bufs[i], msgs[i].msg_len);
		progress(c, false);
	}
out:
	if (u) {
		if (u->x) {
			c->frames_rx = u->x->frames_rx;
			c->frames_tx = u->x->frames_tx;
			c->csum_errors = u->x->csum_errors;
			c->misrouted = u->x->misrouted;
		}
		free(u->x);
		if (u->fd >= 0)
			close(u->fd);
		free(u->slots);
		free(u->fetches);
	}
	free(u);
	free(bufs);
	return c->fail[0] ? -EIO : ret;
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
	int ret = run_udp(c);

	if (ret && !c->fail[0])
		fail(c, "%s", strerror(-ret));
	return NULL;
}

/*
 * -m xdp: the sockets set up once, then one run_udp() per thread on a
 * copy of the client, each with its share of -n, its own counters and
 * slots; the copies are summed into c.
 */
static int run_xdp(struct client *c)
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
	if (c->threads == 1) {
		ret = run_udp(c);
		c->thread_done[0] = c->done;
		goto out;
	}
	w = calloc(c->threads, sizeof(*w));
	if (!w) {
		ret = -ENOMEM;
		goto out;
	}
	for (unsigned t = 0; t < c->threads; t++) {
		struct client *wc = &w[t];
		pthread_attr_t attr;
		cpu_set_t set;
		int cpu = thread_cpu(t, c->queues);

		*wc = *c;
		wc->thread = t;
		wc->requests = c->requests / c->threads + (t < c->requests % c->threads);
		wc->rng = c->rng ^ (0x9E3779B97F4A7C15ULL * (t + 1));
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
			fail(c, "starting thread %u: %s", t, strerror(-ret));
			break;
		}
		started++;
	}
	if (unpinned)
		sp_notice("%u of %u threads have no CPU whose cache replies land on their queue: expect misrouted replies",
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
	xdp_teardown(&xs);
	c->xs = NULL;
	free(w);
	return c->fail[0] ? -EIO : ret;
}

/* ------------------------------------------------------------ --fresh */

/*
 * One process plays writer and readers, so "acknowledged before the
 * read was sent" is a plain comparison: acked[u] is read when a read of
 * unit u goes out and is the floor for the version it may get back.
 * Units are sp_verify blocks (header, pattern, CRC) whose generation is
 * the version, so a torn or misplaced unit is caught as well.
 */
struct fslot {
	bool busy;
	uint32_t req_id;
	unsigned unit;
	uint32_t floor;		/* acked[unit] when the read was sent */
	uint64_t sent_ns, start_ns;
};

struct fresh {
	int rfd, wfd;		/* readers' and writer's sockets */
	struct fslot *slots, w;	/* w: the write in flight */
	uint32_t *acked, version;
	uint64_t seed;
	uint32_t seq;
	uint8_t wbuf[sizeof(struct sp_xmsg) + BLK];
};

static int fresh_send_write(struct client *c, struct fresh *f)
{
	struct fslot *w = &f->w;

	sp_x_fill(f->wbuf, SP_X_WRITE, BLK, w->req_id, c->id, (uint64_t)w->unit * BLK, 0);
	w->sent_ns = sp_now_ns();
	return send(f->wfd, f->wbuf, sizeof(f->wbuf), 0) == sizeof(f->wbuf) ? 0 : -errno;
}

static int fresh_next_write(struct client *c, struct fresh *f, unsigned unit)
{
	struct fslot *w = &f->w;

	*w = (struct fslot){ .busy = true, .req_id = f->seq++, .unit = unit,
			     .floor = ++f->version, .start_ns = sp_now_ns() };
	sp_verify_fill(f->wbuf + sizeof(struct sp_xmsg), BLK, (uint64_t)unit * BLK,
		       f->seed, w->floor);
	return fresh_send_write(c, f);
}

static int fresh_send_read(struct client *c, struct fresh *f, unsigned si)
{
	struct fslot *s = &f->slots[si];
	uint8_t msg[sizeof(struct sp_xmsg) + BLK] = { 0 };

	/* padded to the reply's size, as udp_send does */
	sp_x_fill(msg, SP_X_REQ, 0, s->req_id, c->id, (uint64_t)s->unit * BLK, BLK);
	s->sent_ns = sp_now_ns();
	return send(f->rfd, msg, sizeof(msg), 0) == sizeof(msg) ? 0 : -errno;
}

static void fresh_ack(struct client *c, struct fresh *f, const struct sp_xinfo *m)
{
	struct fslot *w = &f->w;

	if (!w->busy || m->req_id != w->req_id)
		return;		/* an ACK of a write resent meanwhile */
	if (m->type == SP_X_ERR) {
		c->errors++;
		fail(c, "write of unit %u: %s", w->unit, sp_x_err_str(m->aux));
		return;
	}
	if (m->type != SP_X_ACK || m->offset != (uint64_t)w->unit * BLK || m->length != BLK ||
	    m->aux != sp_crc32c(0, f->wbuf + sizeof(struct sp_xmsg), BLK)) {
		c->errors++;
		fail(c, "the ACK of the write of unit %u does not match it", w->unit);
		return;
	}
	f->acked[w->unit] = w->floor;
	c->writes++;
	w->busy = false;
}

static void fresh_data(struct client *c, struct fresh *f, const struct sp_xinfo *m)
{
	unsigned si = m->req_id >> 22;
	struct fslot *s;
	const struct sp_verify_hdr *h;
	enum sp_verify_result vr;
	char why[160];

	if (si >= c->parallel || !f->slots[si].busy || f->slots[si].req_id != m->req_id)
		return;
	s = &f->slots[si];
	if (m->type == SP_X_END)
		return;		/* the DATA or LAST frame decides */
	if (m->type == SP_X_ERR) {
		if (m->aux == SP_XE_BUSY) {
			c->busy++;
			return;	/* asked again after --timeout */
		}
		c->errors++;
		fail(c, "read of unit %u: %s", s->unit, sp_x_err_str(m->aux));
		return;
	}
	if (m->type != SP_X_DATA && m->type != SP_X_LAST)
		return;
	if (m->offset != (uint64_t)s->unit * BLK || m->len != BLK ||
	    sp_crc32c(0, m->payload, m->len) != m->aux) {
		c->mismatches++;
		fail(c, "reply for unit %u is not that unit", s->unit);
		return;
	}
	vr = sp_verify_check(m->payload, BLK, m->offset, f->seed, SP_VERIFY_GEN_ANY);
	h = (const void *)m->payload;
	if (vr != SP_VERIFY_OK) {
		c->mismatches++;
		fail(c, "unit %u: %s", s->unit,
		     sp_verify_describe(vr, m->payload, m->offset, 0, why, sizeof(why)));
		return;
	}
	if (h->generation < s->floor) {
		c->stale++;
		fail(c, "unit %u: version %u read after version %u was acknowledged",
		     s->unit, h->generation, s->floor);
		return;
	}
	c->bytes += BLK;
	c->done++;
	sp_hist_add(&c->lat, sp_now_ns() - s->start_ns);
	s->busy = false;
}

static void fresh_recv(struct client *c, struct fresh *f, int fd)
{
	uint8_t buf[4096];
	struct sp_xinfo m;
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		if (sp_x_parse(buf, n, &m)) {
			c->errors++;
			fail(c, "malformed reply from the server");
			return;
		}
		if (fd == f->wfd)
			fresh_ack(c, f, &m);
		else
			fresh_data(c, f, &m);
	}
}

/* Waits for the ACK of the write in flight, resending it on silence. */
static int fresh_wait_write(struct client *c, struct fresh *f)
{
	for (unsigned tries = 0; f->w.busy && !c->fail[0]; tries++) {
		struct pollfd p = { .fd = f->wfd, .events = POLLIN };

		if (tries > 100) {
			c->lost++;
			fail(c, "no ACK for the write of unit %u", f->w.unit);
			break;
		}
		if (poll(&p, 1, c->timeout_ns / 1000000 + 1) > 0)
			fresh_recv(c, f, f->wfd);
		else if (fresh_send_write(c, f))
			return -errno;
		else
			c->retransmits++;
	}
	return c->fail[0] ? -EIO : 0;
}

static int run_fresh(struct client *c)
{
	struct fresh f = { .rfd = -1, .wfd = -1, .seed = c->rng };
	unsigned next_w = 0;
	int ret = 0;

	f.slots = calloc(c->parallel, sizeof(*f.slots));
	f.acked = calloc(c->fresh, sizeof(*f.acked));
	if (!f.slots || !f.acked) {
		ret = -ENOMEM;
		goto out;
	}
	f.rfd = udp_socket(c);
	f.wfd = udp_socket(c);
	if (f.rfd < 0 || f.wfd < 0) {
		ret = f.rfd < 0 ? f.rfd : f.wfd;
		fail(c, "UDP socket to %s: %s", inet_ntoa(c->sa.sin_addr), strerror(-ret));
		goto out;
	}
	/* version 1 everywhere first: from then on every unit is a version */
	for (unsigned u = 0; u < c->fresh && !ret; u++) {
		ret = fresh_next_write(c, &f, u);
		if (!ret)
			ret = fresh_wait_write(c, &f);
	}
	if (ret)
		goto out;
	c->start_ns = sp_now_ns();
	for (;;) {
		struct pollfd p[2] = { { .fd = f.rfd, .events = POLLIN },
				       { .fd = f.wfd, .events = POLLIN } };
		bool more = more_to_issue(c);
		uint64_t now = sp_now_ns();
		unsigned active = 0;

		if (!f.w.busy && more) {
			if (fresh_next_write(c, &f, next_w++ % c->fresh))
				fail(c, "sending a write: %s", strerror(errno));
		} else if (f.w.busy && now - f.w.sent_ns > c->timeout_ns) {
			if (fresh_send_write(c, &f))
				fail(c, "sending a write: %s", strerror(errno));
			c->retransmits++;
		}
		for (unsigned i = 0; i < c->parallel; i++) {
			struct fslot *s = &f.slots[i];

			if (!s->busy && more) {
				s->busy = true;
				s->req_id = i << 22 | (f.seq++ & 0x3fffff);
				s->unit = rng_next(&c->rng) % c->fresh;
				s->floor = f.acked[s->unit];
				s->start_ns = sp_now_ns();
				c->issued++;
				if (fresh_send_read(c, &f, i))
					fail(c, "sending a read: %s", strerror(errno));
			} else if (s->busy && now - s->sent_ns > c->timeout_ns) {
				if (fresh_send_read(c, &f, i))
					fail(c, "sending a read: %s", strerror(errno));
				c->retransmits++;
			}
			active += s->busy;
		}
		if ((!active && !f.w.busy) || c->fail[0])
			break;
		if (poll(p, 2, c->timeout_ns / 1000000 + 1) < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		if (p[1].revents)
			fresh_recv(c, &f, f.wfd);
		if (p[0].revents)
			fresh_recv(c, &f, f.rfd);
		progress(c, false);
	}
out:
	if (f.rfd >= 0)
		close(f.rfd);
	if (f.wfd >= 0)
		close(f.wfd);
	free(f.slots);
	free(f.acked);
	return c->fail[0] ? -EIO : ret;
}

/* ------------------------------------------------------------ --bad */

static int expect_status(enum bad_kind k)
{
	switch (k) {
	case BAD_MALFORMED: return 400;
	case BAD_NOFILE: return 404;
	case BAD_RANGE: return 416;
	case BAD_TOOBIG: return 413;
	default: return 0;
	}
}

static uint32_t expect_xerr(enum bad_kind k)
{
	switch (k) {
	case BAD_MALFORMED: return SP_XE_MALFORMED;
	case BAD_NOFILE: return SP_XE_NOFILE;
	case BAD_RANGE: return SP_XE_RANGE;
	case BAD_TOOBIG: return SP_XE_TOOBIG;
	default: return 0;
	}
}

static int bad_tcp(struct client *c, char *got, size_t gotlen)
{
	char req[512], buf[SP_HTTP_MAX_HDR];
	struct sp_http_resp r;
	size_t have = 0;
	int fd, n = 0;

	switch (c->bad) {
	case BAD_MALFORMED:
		n = snprintf(req, sizeof(req), "FETCH /%s HTTP/9\r\n\r\n", c->name);
		break;
	case BAD_NOFILE:
		n = sp_http_fmt_req(req, sizeof(req), "no-such-file", 0, 0);
		break;
	case BAD_RANGE:
		n = sp_http_fmt_req(req, sizeof(req), c->name, c->size, 1);
		break;
	case BAD_TOOBIG:
		n = sp_http_fmt_req(req, sizeof(req), c->name, 0, 0);
		break;
	default:
		break;
	}
	fd = tcp_connect(c);
	if (fd < 0)
		return fd;
	fcntl(fd, F_SETFL, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 5 },
		   sizeof(struct timeval));
	if (send(fd, req, n, MSG_NOSIGNAL) != n) {
		close(fd);
		return -EIO;
	}
	for (;;) {
		ssize_t k = recv(fd, buf + have, sizeof(buf) - have, 0);
		int h;

		if (k <= 0) {
			close(fd);
			return k ? -errno : -ECONNRESET;
		}
		have += k;
		h = sp_http_parse_resp(buf, have, &r);
		if (h < 0) {
			close(fd);
			return h;
		}
		if (h > 0)
			break;
	}
	close(fd);
	snprintf(got, gotlen, "%d %s", r.status, sp_http_reason(r.status));
	return r.status == expect_status(c->bad) ? 0 : -EPROTO;
}

static int bad_udp(struct client *c, char *got, size_t gotlen)
{
	uint8_t msg[sizeof(struct sp_xmsg)], buf[4096];
	uint32_t id = c->id;
	uint64_t off = 0, len = 0;
	struct sp_xinfo m;
	int fd = udp_socket(c);

	if (fd < 0)
		return fd;
	switch (c->bad) {
	case BAD_NOFILE: id = 1u << 30; break;
	case BAD_RANGE: off = c->size; len = 1; break;
	case BAD_TOOBIG: len = c->size; break;
	default: break;
	}
	sp_x_fill(msg, SP_X_REQ, 0, 77, id, off, len);
	if (c->bad == BAD_MALFORMED)
		msg[5] = 99;	/* an unknown message type */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = 1 },
		   sizeof(struct timeval));
	for (int tries = 0; tries < 5; tries++) {
		ssize_t n;

		if (send(fd, msg, sizeof(msg), 0) != sizeof(msg))
			break;
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
			if (sp_x_parse(buf, n, &m) || m.req_id != 77)
				continue;
			close(fd);
			if (m.type != SP_X_ERR) {
				snprintf(got, gotlen, "a reply of type %u", m.type);
				return -EPROTO;
			}
			snprintf(got, gotlen, "error %u (%s)", m.aux, sp_x_err_str(m.aux));
			return m.aux == expect_xerr(c->bad) ? 0 : -EPROTO;
		}
	}
	close(fd);
	return -ETIMEDOUT;
}

/* ------------------------------------------------------------ main */

static const char *mode_name(const struct client *c)
{
	return c->xdp ? "xdp" : c->udp ? "udp" : "tcp";
}

static void report(struct client *c, const struct sp_usage *u, const uint64_t *srv_ns)
{
	double secs = u->wall_ns / 1e9, gib = c->bytes / 1073741824.0;
	uint64_t cpu = u->user_ns + u->sys_ns;

	if (c->json) {
		json_object *root = json_object_new_object();
		json_object *cj = json_object_new_object();

		json_object_object_add(root, "schema", json_object_new_string("shortpath.sp-fetch/1"));
		json_object_object_add(root, "mode", json_object_new_string(mode_name(c)));
		json_object_object_add(root, "server", json_object_new_string(inet_ntoa(c->sa.sin_addr)));
		json_object_object_add(root, "file", json_object_new_string(c->path));
		json_object_object_add(root, "size", sp_json_u64(c->size));
		json_object_object_add(root, "range_len", sp_json_u64(c->len && c->len < c->size ? c->len : c->size));
		json_object_object_add(root, "parallel", sp_json_u64(c->parallel));
		json_object_object_add(root, "ok", json_object_new_boolean(!c->fail[0]));
		json_object_object_add(root, "failure", c->fail[0] ? json_object_new_string(c->fail) : NULL);
		json_object_object_add(root, "requests", sp_json_u64(c->done));
		json_object_object_add(root, "bytes", sp_json_u64(c->bytes));
		json_object_object_add(root, "errors", sp_json_u64(c->errors));
		json_object_object_add(root, "mismatches", sp_json_u64(c->mismatches));
		json_object_object_add(root, "lost", sp_json_u64(c->lost));
		json_object_object_add(root, "retransmits", sp_json_u64(c->retransmits));
		json_object_object_add(root, "busy_replies", sp_json_u64(c->busy));
		if (c->fresh) {
			json_object *fj = json_object_new_object();

			json_object_object_add(fj, "units", sp_json_u64(c->fresh));
			json_object_object_add(fj, "writes", sp_json_u64(c->writes));
			json_object_object_add(fj, "stale", sp_json_u64(c->stale));
			json_object_object_add(root, "fresh", fj);
		}
		if (c->xdp) {
			json_object *xj = json_object_new_object();
			json_object *tj = json_object_new_array();

			json_object_object_add(xj, "attach", json_object_new_string(c->xdp_attach));
			json_object_object_add(xj, "frames_tx", sp_json_u64(c->frames_tx));
			json_object_object_add(xj, "frames_rx", sp_json_u64(c->frames_rx));
			json_object_object_add(xj, "csum_errors", sp_json_u64(c->csum_errors));
			json_object_object_add(xj, "queues", sp_json_u64(c->queues));
			json_object_object_add(xj, "threads", sp_json_u64(c->threads));
			json_object_object_add(xj, "misrouted", sp_json_u64(c->misrouted));
			for (unsigned t = 0; t < c->threads; t++)
				json_object_array_add(tj, sp_json_u64(c->thread_done[t]));
			json_object_object_add(xj, "thread_requests", tj);
			json_object_object_add(root, "xdp", xj);
		}
		json_object_object_add(root, "elapsed_ns", sp_json_u64(u->wall_ns));
		json_object_object_add(root, "mib_s", sp_json_dbl(secs > 0 ? c->bytes / secs / 1048576.0 : 0));
		json_object_object_add(root, "rps", sp_json_dbl(secs > 0 ? c->done / secs : 0));
		json_object_object_add(root, "latency_ns", sp_json_hist(&c->lat));
		json_object_object_add(cj, "client_ns_per_gib", sp_json_dbl(gib > 0 ? cpu / gib : 0));
		json_object_object_add(cj, "server_ns_per_gib",
				       srv_ns ? sp_json_dbl(gib > 0 ? *srv_ns / gib : 0) : NULL);
		json_object_object_add(root, "cpu", cj);
		sp_json_print_and_free(root);
		return;
	}
	printf("%s %s:%u %s: %llu requests, %.1f MiB in %.2f s: %.1f MiB/s, %.0f req/s\n",
	       mode_name(c), inet_ntoa(c->sa.sin_addr), ntohs(c->sa.sin_port),
	       c->path, (unsigned long long)c->done, c->bytes / 1048576.0, secs,
	       secs > 0 ? c->bytes / secs / 1048576.0 : 0, secs > 0 ? c->done / secs : 0);
	printf("  latency us  p50 %.1f  p99 %.1f  max %.1f\n",
	       sp_hist_percentile(&c->lat, 50) / 1e3, sp_hist_percentile(&c->lat, 99) / 1e3,
	       c->lat.max / 1e3);
	printf("  CPU ms/GiB  client %.1f", gib > 0 ? cpu / gib / 1e6 : 0);
	if (srv_ns)
		printf("  server %.1f", gib > 0 ? *srv_ns / gib / 1e6 : 0);
	printf("\n  checked     %llu bytes: %llu mismatches, %llu error replies, "
	       "%llu lost, %llu re-requests\n", (unsigned long long)c->bytes,
	       (unsigned long long)c->mismatches, (unsigned long long)c->errors,
	       (unsigned long long)c->lost, (unsigned long long)c->retransmits);
	if (c->xdp) {
		printf("  AF_XDP      %s on %s, %u queue%s, %u thread%s: %llu frames sent, %llu received, "
		       "%llu bad UDP checksums, %llu misrouted\n",
		       c->xdp_attach, c->ifname, c->queues, c->queues > 1 ? "s" : "",
		       c->threads, c->threads > 1 ? "s" : "", (unsigned long long)c->frames_tx,
		       (unsigned long long)c->frames_rx, (unsigned long long)c->csum_errors,
		       (unsigned long long)c->misrouted);
		if (c->threads > 1) {
			printf("  threads    ");
			for (unsigned t = 0; t < c->threads; t++)
				printf(" %llu", (unsigned long long)c->thread_done[t]);
			printf(" requests\n");
		}
	}
	if (c->fresh)
		printf("  fresh       %llu acknowledged writes over %u units, %llu stale reads\n",
		       (unsigned long long)c->writes, c->fresh, (unsigned long long)c->stale);
}

enum { OPT_NAME = 256, OPT_ID, OPT_LEN, OPT_CHUNK, OPT_TIMEOUT, OPT_PID,
       OPT_BAD, OPT_FRESH, OPT_JSON, OPT_XDP_MODE, OPT_THREADS };

static int parse_args(int argc, char **argv, struct client *c)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "iface", required_argument, NULL, 'i' },
		{ "xdp-mode", required_argument, NULL, OPT_XDP_MODE },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "server", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "id", required_argument, NULL, OPT_ID },
		{ "parallel", required_argument, NULL, 'P' },
		{ "requests", required_argument, NULL, 'n' },
		{ "time", required_argument, NULL, 't' },
		{ "len", required_argument, NULL, OPT_LEN },
		{ "chunk", required_argument, NULL, OPT_CHUNK },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "server-pid", required_argument, NULL, OPT_PID },
		{ "bad", required_argument, NULL, OPT_BAD },
		{ "fresh", required_argument, NULL, OPT_FRESH },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int opt;

	c->sa.sin_family = AF_INET;
	c->sa.sin_port = htons(7878);
	c->sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->parallel = 4;
	c->threads = 1;
	c->requests = 100;
	c->chunk = UDP_MAX_FRAMES * BLK;
	c->timeout_ns = 20000000;
	while ((opt = getopt_long(argc, argv, "m:i:s:p:P:n:t:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (strcmp(optarg, "tcp") && strcmp(optarg, "udp") && strcmp(optarg, "xdp"))
				goto bad;
			c->xdp = !strcmp(optarg, "xdp");
			c->udp = c->xdp || !strcmp(optarg, "udp");
			break;
		case 'i': c->ifname = optarg; break;
		case OPT_XDP_MODE:
			if (strcmp(optarg, "native") && strcmp(optarg, "skb"))
				goto bad;
			c->xdp_mode = optarg;
			break;
		case OPT_THREADS:
			if (sp_parse_u64(optarg, 1, SP_XSK_MAX_QUEUES, &v))
				goto bad;
			c->threads = v;
			break;
		case 's':
			if (inet_pton(AF_INET, optarg, &c->sa.sin_addr) != 1)
				goto bad;
			break;
		case 'p':
			if (sp_parse_u64(optarg, 1, 65535, &v))
				goto bad;
			c->sa.sin_port = htons(v);
			break;
		case OPT_NAME: c->name = optarg; break;
		case OPT_ID:
			if (sp_parse_u64(optarg, 0, UINT32_MAX, &v))
				goto bad;
			c->id = v;
			break;
		case 'P':
			if (sp_parse_u64(optarg, 1, 1024, &v))
				goto bad;
			c->parallel = v;
			break;
		case 'n':
			if (sp_parse_u64(optarg, 1, UINT64_MAX, &c->requests))
				goto bad;
			break;
		case 't':
			if (sp_parse_duration(optarg, &c->run_ns) || !c->run_ns)
				goto bad;
			break;
		case OPT_LEN:
			if (sp_parse_size(optarg, &c->len) || !c->len || c->len % BLK)
				goto bad;
			break;
		case OPT_CHUNK:
			if (sp_parse_size(optarg, &c->chunk) || !c->chunk ||
			    c->chunk % BLK || c->chunk > UDP_MAX_FRAMES * BLK)
				goto bad;
			break;
		case OPT_TIMEOUT:
			if (sp_parse_duration(optarg, &c->timeout_ns) || !c->timeout_ns)
				goto bad;
			break;
		case OPT_PID:
			if (c->nr_pids == MAX_PIDS || sp_parse_u64(optarg, 1, INT32_MAX, &v))
				goto bad;
			c->pids[c->nr_pids++] = v;
			break;
		case OPT_BAD:
			for (c->bad = BAD_MALFORMED; c->bad <= BAD_TOOBIG; c->bad++)
				if (!strcmp(optarg, bad_names[c->bad]))
					break;
			if (c->bad > BAD_TOOBIG)
				goto bad;
			break;
		case OPT_FRESH:
			if (sp_parse_u64(optarg, 1, 1 << 20, &v))
				goto bad;
			c->fresh = v;
			break;
		case OPT_JSON: c->json = true; break;
		case 'q': c->quiet = true; break;
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
	if (optind != argc - 1) {
		sp_err("one FILE expected (the source to check against); see --help");
		return -EINVAL;
	}
	c->path = argv[optind];
	if ((c->fresh || c->bad) && c->xdp) {
		sp_err("--fresh and --bad use a kernel UDP socket: --mode udp");
		return -EINVAL;
	}
	if (c->fresh && !c->udp) {
		sp_err("--fresh needs --mode udp");
		return -EINVAL;
	}
	if (c->threads > 1 && !c->xdp) {
		sp_err("--threads is for --mode xdp (run several clients for the others)");
		return -EINVAL;
	}
	/* a request's slot number, 10 bits of its id, also names its thread */
	if (c->threads * c->parallel > 1024) {
		sp_err("--threads times --parallel is at most 1024");
		return -EINVAL;
	}
	if (c->xdp != !!c->ifname) {
		sp_err(c->xdp ? "--mode xdp needs --iface" : "--iface is for --mode xdp");
		return -EINVAL;
	}
	if (!c->name)
		c->name = basename(argv[optind]);
	return 0;
}

int main(int argc, char **argv)
{
	struct client c = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct sp_usage u0, u1, d;
	uint64_t srv0 = 0, srv1 = 0;
	bool have_srv = true;
	int ret;

	sp_log_init("sp-fetch", SP_LOG_NOTICE);
	if (parse_args(argc, argv, &c))
		return SP_EXIT_USAGE;
	ret = load_source(&c);
	if (ret) {
		sp_err("%s: %s", c.path, ret == -ENODATA ? "empty file" : strerror(-ret));
		return SP_EXIT_USAGE;
	}
	if ((uint64_t)c.fresh * BLK > c.size) {
		sp_err("--fresh %u: %s has fewer KiB units", c.fresh, c.path);
		free(c.crcs);
		return SP_EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	if (c.bad) {
		char got[128] = "nothing";

		ret = c.udp ? bad_udp(&c, got, sizeof(got)) : bad_tcp(&c, got, sizeof(got));
		free(c.crcs);
		if (ret == -EPROTO)
			sp_err("--bad %s: the server answered %s", bad_names[c.bad], got);
		else if (ret)
			sp_err("--bad %s: %s", bad_names[c.bad], strerror(-ret));
		else if (!c.quiet)
			printf("--bad %s: the server answered %s\n", bad_names[c.bad], got);
		return ret ? SP_EXIT_FAIL : SP_EXIT_OK;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	c.progress = !c.quiet && !c.json && isatty(STDERR_FILENO);
	c.rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid();
	sp_hist_init(&c.lat);
	for (unsigned i = 0; i < c.nr_pids; i++) {
		uint64_t ns;

		have_srv = have_srv && !sp_proc_cpu_ns(c.pids[i], &ns);
		srv0 += ns;
	}
	sp_usage_snapshot(&u0, NULL);
	c.start_ns = u0.wall_ns;
	ret = c.fresh ? run_fresh(&c) : c.xdp ? run_xdp(&c) : c.udp ? run_udp(&c) : run_tcp(&c);
	sp_usage_snapshot(&u1, NULL);
	sp_usage_delta(&u0, &u1, &d);
	for (unsigned i = 0; i < c.nr_pids; i++) {
		uint64_t ns;

		have_srv = have_srv && !sp_proc_cpu_ns(c.pids[i], &ns);
		srv1 += ns;
	}
	srv1 -= srv0;
	progress(&c, true);
	if (!c.fail[0] && ret)
		fail(&c, "%s", strerror(-ret));
	if (!c.fail[0] && atomic_load(&interrupted))
		fail(&c, "interrupted");
	report(&c, &d, c.nr_pids && have_srv ? &srv1 : NULL);
	if (c.fail[0])
		sp_err("%s", c.fail);
	free(c.crcs);
	return c.fail[0] ? SP_EXIT_FAIL : SP_EXIT_OK;
}
