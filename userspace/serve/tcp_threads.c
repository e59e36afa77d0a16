// SPDX-License-Identifier: MIT
/*
 * sp-serve's TCP modes from the outside: the listening sockets and the
 * loops over them, one by default, or --threads N loops each with a
 * SO_REUSEPORT socket of its own (tcp.c runs each loop).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sp_addr.h"
#include "sp_log.h"
#include "tcp_conn.h"

/* A listening socket; with reuseport, one of several the kernel spreads
 * connections over (by their addresses' hash). fd or -errno. */
static int tcp_listen(struct server *s, bool reuseport)
{
	int fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if ((reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &(int){ 1 }, sizeof(int))) ||
	    bind(fd, (struct sockaddr *)&s->addr, s->addr_len) || listen(fd, 1024)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

struct worker {
	struct tcp t;
	struct server s;	/* the run's options; counters of its own */
	atomic_bool *stop;
	int ret;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->ret = tcp_loop(&w->t, w->stop);
	return NULL;
}

/*
 * --threads N: N loops, each with its own listening socket (SO_REUSEPORT:
 * the kernel spreads connections over them), epoll set, connections and
 * (sendzc) ring, each pinned to a CPU of the process's own, as a server
 * with a worker per core runs; nothing is shared but the files and the
 * stop flag and the per-address counts. --max-conns is split between
 * them (each thread's share, rounded up), the counters summed at the end.
 */
static int serve_threads(struct server *s, struct addr_counts *addrs, atomic_bool *stop)
{
	unsigned n = s->threads;
	struct worker *w = calloc(n, sizeof(*w));
	int ret = 0;

	if (!w)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		w[i].s = *s;
		w[i].s.max_conns = (s->max_conns + n - 1) / n;
		memset(&w[i].s.st, 0, sizeof(w[i].s.st));
		sp_hist_init(&w[i].s.st.lat);
		w[i].stop = stop;
		w[i].t = (struct tcp){ .s = &w[i].s, .lfd = -1, .ep = -1 };
	}
	for (unsigned i = 0; i < n; i++) {
		int lfd = tcp_listen(s, true);

		if (lfd < 0) {
			char where[64];

			ret = lfd;
			sp_err("listening on TCP %s (SO_REUSEPORT, thread %u): %s",
			       sp_addr_str(&s->addr, where, sizeof(where)), i, strerror(-ret));
			goto out;
		}
		ret = tcp_open(&w[i].t, &w[i].s, addrs, lfd);
		if (ret)
			goto out;
	}
	sp_serve_ready(s);
	ret = sp_serve_threads(n, worker_main, w, sizeof(*w), stop);
	for (unsigned i = 0; i < n; i++)
		if (w[i].ret && !ret)
			ret = w[i].ret;
out:
	for (unsigned i = 0; i < n; i++) {
		tcp_close(&w[i].t);
		sp_serve_stats_add(&s->st, &w[i].s.st);
		if (i < SERVE_MAX_THREADS)
			s->thread_requests[i] = w[i].s.st.requests;
	}
	free(w);
	return ret;
}

int sp_serve_tcp(struct server *s, atomic_bool *stop)
{
	struct tcp t = { .s = s, .lfd = -1, .ep = -1 };
	struct addr_counts *addrs = calloc(1, sizeof(*addrs));
	int ret;

	if (!addrs)
		return -ENOMEM;
	if (getrandom(addrs->key, sizeof(addrs->key), 0) != sizeof(addrs->key)) {
		ret = -errno;
		sp_err("a key for the per-address counts: %s", strerror(-ret));
		free(addrs);
		return ret;
	}
	if (s->threads > 1) {
		ret = serve_threads(s, addrs, stop);
		free(addrs);
		return ret;
	}
	ret = tcp_listen(s, false);
	if (ret < 0) {
		char where[64];

		sp_err("listening on TCP %s: %s", sp_addr_str(&s->addr, where, sizeof(where)),
		       strerror(-ret));
		free(addrs);
		return ret;
	}
	ret = tcp_open(&t, s, addrs, ret);
	if (!ret) {
		sp_serve_ready(s);
		ret = tcp_loop(&t, stop);
	}
	tcp_close(&t);
	free(addrs);
	s->thread_requests[0] = s->st.requests;
	return ret;
}
