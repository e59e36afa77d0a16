// SPDX-License-Identifier: MIT
/*
 * uring: io_uring read/write on a file or block device, with optional
 * registered files, fixed buffers, SQPOLL and IOPOLL.
 * nop:   IORING_OP_NOP on the same ring set-up: the cost of the ring
 *        alone, with no file and no device underneath.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "sp_ring.h"

struct uring {
	struct io_uring ring;
	struct sp_ring_info info;
	int fd;			/* -1 for nop */
	int sqe_fd;		/* fd or fixed-file index the SQEs carry */
	unsigned sqe_flags;	/* IOSQE_FIXED_FILE when registered */
	unsigned queued;	/* prepared, not yet submitted */
	bool nop;
};

static void uring_free(struct uring *u)
{
	if (u->fd >= 0)
		close(u->fd);
	free(u);
}

static int uring_setup(struct sp_target *t, bool nop)
{
	struct sp_ring_opts ro = {
		/*
		 * The SQPOLL thread posts completions before it moves the SQ
		 * head past their batch, so a reaped I/O can be queued again
		 * while its old entry is still taken: give it twice the room.
		 */
		.entries = t->o.sqpoll ? 2 * t->o.depth : t->o.depth,
		.sqpoll = t->o.sqpoll,
		.sq_idle_ms = t->o.sq_idle_ms,
		.sq_cpu = t->o.sq_cpu,
		.iopoll = t->o.iopoll,
		.no_modern = t->o.no_modern,
	};
	struct uring *u = calloc(1, sizeof(*u));
	char got[128], refused[96];
	int ret;

	if (!u)
		return -ENOMEM;
	u->fd = -1;
	u->nop = nop;
	if (!nop) {
		if (t->o.iopoll && !t->o.direct) {
			snprintf(t->err, sizeof(t->err), "--iopoll needs O_DIRECT; "
				 "polled completions do not exist for buffered I/O");
			free(u);
			return -EINVAL;
		}
		if (t->o.iopoll && t->dev.io_poll == 0) {
			snprintf(t->err, sizeof(t->err), "--iopoll: %s cannot poll "
				 "(/sys/block/%s/queue/io_poll is 0: the driver has no "
				 "poll queues)", t->dev.path, t->dev.name);
			free(u);
			return -EOPNOTSUPP;
		}
		u->fd = sp_target_open_fd(t);
		if (u->fd < 0) {
			ret = u->fd;
			u->fd = -1;
			uring_free(u);
			return ret;
		}
	}
	ret = sp_ring_init(&u->ring, &ro, &u->info);
	if (ret) {
		if (ret == -EPERM && t->o.sqpoll)
			snprintf(t->err, sizeof(t->err), "io_uring_setup(SQPOLL) "
				 "refused: %s (SQPOLL needs CAP_SYS_NICE on older "
				 "kernels)", strerror(-ret));
		else
			snprintf(t->err, sizeof(t->err), "io_uring_setup: %s",
				 strerror(-ret));
		uring_free(u);
		return ret;
	}
	u->sqe_fd = u->fd;
	if (!nop && t->o.reg_files) {
		ret = io_uring_register_files(&u->ring, &u->fd, 1);
		if (ret) {
			snprintf(t->err, sizeof(t->err), "registering the file: %s",
				 strerror(-ret));
			goto fail;
		}
		u->sqe_fd = 0;
		u->sqe_flags = IOSQE_FIXED_FILE;
	}
	if (t->o.fixed_bufs) {
		struct iovec *iov = calloc(t->bufs.nr, sizeof(*iov));

		if (!iov) {
			ret = -ENOMEM;
			goto fail;
		}
		sp_bufpool_iovecs(&t->bufs, iov);
		ret = io_uring_register_buffers(&u->ring, iov, t->bufs.nr);
		free(iov);
		if (ret) {
			snprintf(t->err, sizeof(t->err), "registering %u buffers: %s%s",
				 t->bufs.nr, strerror(-ret), ret == -ENOMEM ?
				 " (RLIMIT_MEMLOCK too small?)" : "");
			goto fail;
		}
	}
	sp_ring_flags_str(u->info.flags, got, sizeof(got));
	sp_ring_flags_str(u->info.refused, refused, sizeof(refused));
	snprintf(t->setup, sizeof(t->setup), "ring %s%s%s%s%s", got,
		 u->info.refused ? ", refused " : "",
		 u->info.refused ? refused : "",
		 t->o.fixed_bufs ? ", fixed buffers" : "",
		 t->o.reg_files ? ", registered file" : "");
	t->priv = u;
	return 0;
fail:
	io_uring_queue_exit(&u->ring);
	uring_free(u);
	return ret;
}

static int uring_open(struct sp_target *t)
{
	return uring_setup(t, false);
}

static int nop_open(struct sp_target *t)
{
	return uring_setup(t, true);
}

static int uring_queue(struct sp_target *t, struct sp_io *io)
{
	struct uring *u = t->priv;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	void *buf = sp_io_buf(t, io);

	if (!sqe && (u->info.flags & IORING_SETUP_SQPOLL)) {
		/* The SQPOLL thread has not moved the head yet: wait for it. */
		t->syscalls++;
		io_uring_sqring_wait(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	if (!sqe)
		return -EBUSY;
	if (u->nop) {
		io_uring_prep_nop(sqe);
	} else {
		switch (io->op) {
		case SP_OP_READ:
			if (t->o.fixed_bufs)
				io_uring_prep_read_fixed(sqe, u->sqe_fd, buf, io->len,
							 io->offset, io->buf);
			else
				io_uring_prep_read(sqe, u->sqe_fd, buf, io->len,
						   io->offset);
			break;
		case SP_OP_WRITE:
			if (t->o.fixed_bufs)
				io_uring_prep_write_fixed(sqe, u->sqe_fd, buf, io->len,
							  io->offset, io->buf);
			else
				io_uring_prep_write(sqe, u->sqe_fd, buf, io->len,
						    io->offset);
			break;
		case SP_OP_FLUSH:
			io_uring_prep_fsync(sqe, u->sqe_fd, IORING_FSYNC_DATASYNC);
			break;
		case SP_OP_NOP:
			io_uring_prep_nop(sqe);
			break;
		}
		sqe->flags |= u->sqe_flags;
	}
	io_uring_sqe_set_data(sqe, io);
	u->queued++;
	return 0;
}

/*
 * Whether liburing will call io_uring_enter() for this submit: always
 * without SQPOLL, with SQPOLL only to wake a sleeping thread or to
 * wait; IOPOLL rings enter to poll. Mirrors liburing so that the
 * self-counted syscall figure matches what the kernel counts.
 */
static bool uring_will_enter(const struct uring *u, unsigned wait_nr)
{
	unsigned flags = u->info.flags;

	if (wait_nr || (flags & IORING_SETUP_IOPOLL))
		return true;
	if (!u->queued)
		return false;
	if (!(flags & IORING_SETUP_SQPOLL))
		return true;
	return IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_NEED_WAKEUP;
}

static int uring_submit(struct sp_target *t, unsigned wait_nr)
{
	struct uring *u = t->priv;
	int ret;

	/* Do not sleep for completions that are already there. */
	if (wait_nr && io_uring_cq_ready(&u->ring) >= wait_nr)
		wait_nr = 0;
	if (!u->queued && !wait_nr && !(u->info.flags & IORING_SETUP_IOPOLL))
		return 0;
	if (uring_will_enter(u, wait_nr))
		t->syscalls++;
	ret = wait_nr ? io_uring_submit_and_wait(&u->ring, wait_nr)
		      : io_uring_submit(&u->ring);
	if (ret < 0) {
		if (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY)
			return 0;	/* nothing lost: try again */
		return ret;
	}
	u->queued -= (unsigned)ret < u->queued ? (unsigned)ret : u->queued;
	return ret;
}

static int uring_reap(struct sp_target *t, struct sp_io **ios, unsigned max)
{
	struct uring *u = t->priv;
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&u->ring, head, cqe) {
		struct sp_io *io = io_uring_cqe_get_data(cqe);

		if (n == max)
			break;
		io->res = cqe->res;
		ios[n++] = io;
	}
	io_uring_cq_advance(&u->ring, n);
	return n;
}

static void uring_close(struct sp_target *t)
{
	struct uring *u = t->priv;

	if (!u)
		return;
	io_uring_queue_exit(&u->ring);
	uring_free(u);
	t->priv = NULL;
}

const struct sp_backend sp_backend_uring = {
	.name = "uring",
	.desc = "io_uring read/write (--fixedbufs, --regfiles, --sqpoll, --iopoll)",
	.caps = SP_CAP_TARGET | SP_CAP_RING | SP_CAP_FLUSH,
	.open = uring_open,
	.queue = uring_queue,
	.submit = uring_submit,
	.reap = uring_reap,
	.close = uring_close,
};

const struct sp_backend sp_backend_nop = {
	.name = "nop",
	.desc = "IORING_OP_NOP: the ring alone, no file or device",
	.caps = SP_CAP_RING,
	.open = nop_open,
	.queue = uring_queue,
	.submit = uring_submit,
	.reap = uring_reap,
	.close = uring_close,
};
