// SPDX-License-Identifier: MIT
/*
 * sp-serve -m sendzc: a body goes out with io_uring IORING_OP_SEND_ZC,
 * from the file's page-cache mapping or, with --zc-source buffers, from
 * registered buffers read into first. tcp.c runs the connections; this
 * file prepares their reads and sends and counts the completions.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ring.h"
#include "sp_log.h"
#include "tcp_conn.h"

#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE	(1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED	(1U << 31)
#endif

bool sendzc_idle(const struct conn *c)
{
	for (int i = 0; i < BUFS_PER_CONN; i++)
		if (c->zb[i].state != Z_FREE || c->zb[i].notifs)
			return false;
	return true;
}

bool sendzc_sending(const struct conn *c)
{
	for (int i = 0; i < BUFS_PER_CONN; i++)
		if (c->zb[i].state == Z_SENDING || c->zb[i].state == Z_READING)
			return true;
	return false;
}

void sendzc_drop_unsent(struct conn *c)
{
	for (int i = 0; i < BUFS_PER_CONN; i++)
		if (c->zb[i].state == Z_READY)
			c->zb[i].state = Z_FREE;
}

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

int sendzc_submit(struct tcp *t, struct conn *c, unsigned ci)
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

enum zc_next sendzc_complete(struct tcp *t, const struct io_uring_cqe *cqe, unsigned *cip)
{
	unsigned ci = UD_CONN(cqe->user_data), b = UD_BUF(cqe->user_data);
	struct conn *c;
	struct zbuf *z;

	*cip = ci;
	if (ci >= t->s->max_conns || b >= BUFS_PER_CONN)
		return ZC_NOTHING;
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
		/* conn_free frees it once idle, or resets its socket when it can */
		sendzc_drop_unsent(c);
		return ZC_FREE;
	}
	if (c->failed)
		return ZC_CLOSE;
	return c->sending ? ZC_RUN : ZC_NOTHING;
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
	struct sp_ring_opts ro = { .entries = 4, .sq_cpu = -1, .no_modern = true };
	struct sp_ring_info info;
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	bool reported = false;
	char byte = 0;
	int pipefd[2];

	if (pipe(pipefd))
		return false;
	if (sp_ring_init(&ring, &ro, &info)) {
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

int sendzc_setup(struct tcp *t)
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
	return 0;
}
