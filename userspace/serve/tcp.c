// SPDX-License-Identifier: MIT
/*
 * sp-serve's TCP loop: the HTTP/1.1 subset of sp_proto.h over epoll,
 * connections from accept to close, with their limits and time-outs
 * (tcp_threads.c runs one loop per --threads). copy, sendfile and splice
 * differ only in how a body reaches the socket (tcp_body.c); sendzc
 * hands its bodies to io_uring (sendzc.c).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sp_siphash.h"
#include "sp_log.h"
#include "sp_time.h"
#include "tcp_conn.h"

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

/*
 * Closes c's socket with a reset (SO_LINGER 0): the data still queued
 * for a peer that will not take it is dropped at once, and with it the
 * kernel's hold on sendzc's pages, so their notifications come.
 */
static void close_reset(struct conn *c)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(c->fd);
	c->fd = -1;
}

/* Frees c's slot, or (sendzc) says it is closing until its CQEs are in;
 * either way it no longer counts against its address. */
static void conn_free(struct tcp *t, struct conn *c)
{
	if (c->addr_bucket >= 0) {
		atomic_fetch_sub(&t->addrs->n[c->addr_bucket], 1);
		c->addr_bucket = -1;
	}
	sendzc_drop_unsent(c);
	/* a buffer is never handed out again before its notification */
	if (t->s->mode == MODE_SENDZC && !sendzc_idle(c)) {
		c->closing = true;
		/*
		 * A failed connection's data will never be taken (a client
		 * that stopped reading): once no send holds its socket, the
		 * socket goes with a reset, which brings the notifications.
		 */
		if (c->failed && c->fd >= 0 && !sendzc_sending(c))
			close_reset(c);
		return;
	}
	/* a failed (timed-out) peer's unsent data is dropped, not kept trying */
	if (c->fd >= 0 && c->failed)
		close_reset(c);
	else if (c->fd >= 0)
		close(c->fd);
	if (c->pipe[0] >= 0) {
		close(c->pipe[0]);
		close(c->pipe[1]);
	}
	memset(c, 0, sizeof(*c));
	c->fd = c->pipe[0] = c->pipe[1] = -1;
	c->addr_bucket = -1;
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
	if (sp_http_resolve_range(r, f->size, &first, &len))
		return 416;
	if (len > t->s->max_len)
		return 413;
	n = sp_http_fmt_ok(c->hdr, sizeof(c->hdr), r->has_range, first, len, f->size);
	if (n < 0)
		return 500;
	c->hdr_len = n;
	c->file = f;
	c->off = first;
	/* HEAD: the same header, no body */
	c->left = r->head ? 0 : len;
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

/*
 * Moves a connection as far as it can go without blocking: header,
 * body, next request. Waits for EPOLLOUT when the socket is full.
 */
static void conn_run(struct tcp *t, struct conn *c, unsigned ci)
{
	int ret;

	while (!c->closing) {
		uint64_t sent;

		if (!c->sending) {
			conn_parse(t, c);
			if (!c->sending) {
				/* half-closed: nothing more can make a request whole */
				if (c->rd_closed) {
					conn_close(t, c);
					return;
				}
				conn_watch(t, c, EPOLLIN, ci);
				return;
			}
			c->since_ns = sp_now_ns();
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
			c->since_ns = sp_now_ns();
		}
		sent = t->s->st.bytes;
		ret = tcp_body_push(t, c, ci);
		if (ret) {
			sp_dbg("connection %d: %s", c->fd, strerror(-ret));
			c->failed = true;
			conn_close(t, c);
			return;
		}
		/* progress, for --send-timeout (sendzc's is counted as its sends complete) */
		if (t->s->st.bytes != sent)
			c->since_ns = sp_now_ns();
		if (!tcp_body_done(t, c)) {
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
		/* what is buffered already is the next request's header */
		c->idle = !c->in_len;
		c->since_ns = sp_now_ns();
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
		if (n < 0 && errno != EAGAIN) {
			conn_close(t, c);
			return;
		}
		if (n == 0) {
			/*
			 * The peer shut its side (shutdown(SHUT_WR) right after
			 * its request, say); what came before still gets its
			 * reply, and conn_run closes once nothing is left.
			 */
			c->rd_closed = true;
			break;
		}
		if (n < 0)
			break;
		if (c->idle) {
			/* a new request began: its header has --header-timeout */
			c->idle = false;
			c->since_ns = sp_now_ns();
		}
		c->in_len += n;
	}
	conn_run(t, c, ci);
}

/* The bucket of peer's address (the port aside) in t->addrs. */
static unsigned addr_bucket(const struct tcp *t, const struct sockaddr_storage *peer)
{
	const void *a = &((const struct sockaddr_in *)peer)->sin_addr;
	size_t len = 4;

	if (peer->ss_family == AF_INET6) {
		a = &((const struct sockaddr_in6 *)peer)->sin6_addr;
		len = 16;
	}
	return (unsigned)(sp_siphash24(t->addrs->key, a, len) % ADDR_BUCKETS);
}

/*
 * A refused connection gets its 503 and is closed; counted by cause.
 * The send never waits: a peer that does not read loses the reply.
 */
static void refuse(struct tcp *t, int fd, uint64_t *cause)
{
	char buf[256];
	int n = sp_http_fmt_err(buf, sizeof(buf), 503);

	if (n > 0 && send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		sp_dbg("503 not sent: %s", strerror(errno));
	close(fd);
	t->s->st.refused++;
	(*cause)++;
}

static void do_accept(struct tcp *t)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(t->lfd, (struct sockaddr *)&peer, &plen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c = NULL;
		unsigned ci, b;

		if (fd < 0)
			return;
		/* a linear scan per accept, not per request (the table holds
		 * this thread's share of --max-conns, 64 by default) */
		for (unsigned i = 0; i < t->s->max_conns; i++) {
			if (!t->conns[i].used) {
				c = &t->conns[i];
				ci = i;
				break;
			}
		}
		if (!c) {
			refuse(t, fd, &t->s->st.refused_full);
			continue;
		}
		b = addr_bucket(t, &peer);
		if (atomic_fetch_add(&t->addrs->n[b], 1) >= t->s->max_conns_per_addr) {
			atomic_fetch_sub(&t->addrs->n[b], 1);
			refuse(t, fd, &t->s->st.refused_per_addr);
			continue;
		}
		c->used = true;
		c->fd = fd;
		c->addr_bucket = (int)b;
		c->since_ns = sp_now_ns();	/* the first header: --header-timeout */
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

static void zc_reap(struct tcp *t)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&t->ring, &cqe) == 0) {
		struct io_uring_cqe copy = *cqe;
		unsigned ci;

		io_uring_cqe_seen(&t->ring, cqe);
		/* a completion is progress, for --send-timeout */
		if (UD_CONN(copy.user_data) < t->s->max_conns)
			t->conns[UD_CONN(copy.user_data)].since_ns = sp_now_ns();
		switch (sendzc_complete(t, &copy, &ci)) {
		case ZC_FREE: conn_free(t, &t->conns[ci]); break;
		case ZC_CLOSE: conn_close(t, &t->conns[ci]); break;
		case ZC_RUN: conn_run(t, &t->conns[ci], ci); break;
		case ZC_NOTHING: break;
		}
	}
}

/*
 * Closes the connections whose wait ran out, each counted by the wait:
 * a header not whole within --header-timeout of the connection or of
 * the request's first byte (slowloris), a kept-alive connection with
 * nothing asked for --idle-timeout, or a reply the peer took no byte
 * of for --send-timeout (a client that stopped reading). Looks at most
 * ten times a second.
 */
static void tcp_expire(struct tcp *t, uint64_t now)
{
	const struct server *s = t->s;

	if (now < t->next_sweep_ns)
		return;
	t->next_sweep_ns = now + 100000000;
	for (unsigned i = 0; i < s->max_conns; i++) {
		struct conn *c = &t->conns[i];
		uint64_t limit, *count;

		if (!c->used || c->closing)
			continue;
		if (c->sending) {
			limit = s->send_timeout_ns;
			count = &t->s->st.timeouts_send;
		} else if (c->idle) {
			limit = s->idle_timeout_ns;
			count = &t->s->st.timeouts_idle;
		} else {
			limit = s->header_timeout_ns;
			count = &t->s->st.timeouts_header;
		}
		if (!limit || now - c->since_ns < limit)
			continue;
		sp_dbg("connection %d: %s time-out", c->fd,
		       c->sending ? "send" : c->idle ? "idle" : "header");
		(*count)++;
		c->failed = true;
		conn_close(t, c);
	}
}

/*
 * At exit, sendzc: closing connections wait for their notifications, a
 * bounded time. Sends end when their sockets are shut; what a peer that
 * stopped reading never acknowledged holds its notification until the
 * socket is reset, which happens after ZC_GRACE_NS; after as long again
 * the server exits anyway (the kernel lets go of the pages when it
 * frees that data), so that one SIGINT always ends it.
 */
#define ZC_GRACE_NS 1000000000ull

static void zc_drain(struct tcp *t)
{
	uint64_t deadline = sp_now_ns() + ZC_GRACE_NS;
	bool reset = false;

	while (t->nr_conns) {
		struct __kernel_timespec ts = { .tv_nsec = 50000000 };
		struct io_uring_cqe *cqe;
		int ret;

		io_uring_submit(&t->ring);
		ret = io_uring_wait_cqe_timeout(&t->ring, &cqe, &ts);
		if (ret && ret != -ETIME && ret != -EINTR)
			break;
		zc_reap(t);
		if (sp_now_ns() < deadline)
			continue;
		if (reset) {
			sp_notice("sendzc: %u connection(s) still awaited zero-copy notifications at exit; "
				  "the kernel frees them", t->nr_conns);
			break;
		}
		for (unsigned i = 0; i < t->s->max_conns; i++) {
			struct conn *c = &t->conns[i];

			if (c->used && c->closing && c->fd >= 0) {
				c->failed = true;
				if (!sendzc_sending(c))
					close_reset(c);
			}
		}
		reset = true;
		deadline = sp_now_ns() + ZC_GRACE_NS;
	}
}

/* t's connections, buffers, epoll set and (sendzc) ring, around lfd,
 * which it owns from here on; 0 or -errno (reported). */
int tcp_open(struct tcp *t, struct server *s, struct addr_counts *addrs, int lfd)
{
	unsigned nbufs = s->max_conns * (s->mode == MODE_SENDZC ? BUFS_PER_CONN : 1);
	bool buffers = s->mode == MODE_COPY || (s->mode == MODE_SENDZC && s->zc_buffers);
	int ret;

	*t = (struct tcp){ .s = s, .addrs = addrs, .lfd = lfd, .ep = -1 };
	t->conns = calloc(s->max_conns, sizeof(*t->conns));
	if (!t->conns)
		return -ENOMEM;
	for (unsigned i = 0; i < s->max_conns; i++) {
		t->conns[i].fd = t->conns[i].pipe[0] = t->conns[i].pipe[1] = -1;
		t->conns[i].addr_bucket = -1;
	}
	if (buffers) {
		ret = sp_bufpool_alloc(&t->pool, nbufs, s->chunk, 0);
		if (ret) {
			sp_err("%u buffers of %llu bytes: %s", nbufs,
			       (unsigned long long)s->chunk, strerror(-ret));
			return ret;
		}
	}
	t->ep = epoll_create1(EPOLL_CLOEXEC);
	if (t->ep < 0) {
		ret = -errno;
		sp_err("epoll: %s", strerror(-ret));
		return ret;
	}
	ret = ep_set(t, EPOLL_CTL_ADD, t->lfd, EPOLLIN, UD_LISTEN);
	if (!ret && s->mode == MODE_SENDZC)
		ret = sendzc_setup(t);
	if (!ret && s->mode == MODE_SENDZC)
		ret = ep_set(t, EPOLL_CTL_ADD, t->ring.ring_fd, EPOLLIN, UD_RING);
	return ret;
}

/* One thread's loop, until *stop (or an error, which stops the others). */
int tcp_loop(struct tcp *t, atomic_bool *stop)
{
	while (!atomic_load(stop)) {
		struct epoll_event evs[64];
		int n, ret;

		if (t->ring_pending) {
			ret = io_uring_submit(&t->ring);
			if (ret < 0) {
				sp_err("io_uring submit: %s", strerror(-ret));
				atomic_store(stop, true);
				return ret;
			}
			t->ring_pending = 0;
		}
		n = epoll_wait(t->ep, evs, 64, 200);
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;

			if (tag == UD_LISTEN)
				do_accept(t);
			else if (tag == UD_RING)
				zc_reap(t);
			else if (t->conns[tag].used && !t->conns[tag].closing) {
				struct conn *c = &t->conns[tag];

				if (evs[i].events & (EPOLLERR | EPOLLHUP))
					conn_close(t, c);
				else if (c->sending)
					conn_run(t, c, tag);
				else
					conn_read(t, c, tag);
			}
		}
		if (t->ring_ok)
			zc_reap(t);
		tcp_expire(t, sp_now_ns());
	}
	return 0;
}

void tcp_close(struct tcp *t)
{
	for (unsigned i = 0; t->conns && i < t->s->max_conns; i++)
		if (t->conns[i].used)
			conn_close(t, &t->conns[i]);
	if (t->ring_ok)
		zc_drain(t);
	if (t->ring_ok)
		io_uring_queue_exit(&t->ring);
	if (t->lfd >= 0)
		close(t->lfd);
	if (t->ep >= 0)
		close(t->ep);
	sp_bufpool_free(&t->pool);
	free(t->conns);
	t->conns = NULL;
}
