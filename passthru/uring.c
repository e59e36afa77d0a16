// SPDX-License-Identifier: MIT
/*
 * uring: io_uring read/write on a file or block device, with optional
 * registered files, fixed buffers, SQPOLL and IOPOLL.
 * nop:   IORING_OP_NOP on the same ring set-up: the cost of the ring
 *        alone, with no file and no device underneath.
 * Also the ring machinery the other ring-based backends share (uring.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uring.h"

int sp_uring_setup(struct sp_target *t, struct sp_uring *u, bool big,
		   unsigned sqes_per_io)
{
	struct sp_ring_opts ro = {
		/*
		 * The SQPOLL thread posts completions before it moves the SQ
		 * head past their batch, so a reaped I/O can be queued again
		 * while its old entry is still taken: give it twice the room.
		 */
		.entries = (t->o.sqpoll ? 2 : 1) * t->o.depth * sqes_per_io,
		.sqpoll = t->o.sqpoll,
		.sq_idle_ms = t->o.sq_idle_ms,
		.sq_cpu = t->o.sq_cpu,
		.iopoll = t->o.iopoll,
		.big_sqe = big,
		.big_cqe = big,
		.no_modern = t->o.no_modern,
	};
	char got[128], refused[96];
	int ret;

	if (u->cq_as_sq)
		ro.cq_entries = ro.entries;
	ret = sp_ring_init(&u->ring, &ro, &u->info);
	if (ret) {
		if (ret == -EPERM && t->o.sqpoll)
			snprintf(t->err, sizeof(t->err), "io_uring_setup(SQPOLL) "
				 "refused: %s (SQPOLL needs CAP_SYS_NICE on older "
				 "kernels)", strerror(-ret));
		else if (ret == -EINVAL && big)
			snprintf(t->err, sizeof(t->err), "io_uring_setup(SQE128|CQE32) "
				 "refused: this kernel has no io_uring passthrough");
		else
			snprintf(t->err, sizeof(t->err), "io_uring_setup: %s",
				 strerror(-ret));
		return ret;
	}
	u->sqe_fd = u->fd;
	if ((u->fd >= 0 || t->fds) && t->o.reg_files) {
		/* the caller's files as fixed files 0..n-1: sp_io.file is the index */
		ret = t->fds ? io_uring_register_files(&u->ring, t->fds, t->o.nr_fds)
			     : io_uring_register_files(&u->ring, &u->fd, 1);
		if (ret) {
			snprintf(t->err, sizeof(t->err), "registering the file: %s",
				 strerror(-ret));
			goto fail;
		}
		u->sqe_fd = 0;
		u->sqe_flags = IOSQE_FIXED_FILE;
	}
	if (t->o.fixed_bufs) {
		ret = sp_ring_register_pool(&u->ring, &t->bufs);
		if (ret) {
			snprintf(t->err, sizeof(t->err), "registering %u buffers: %s%s",
				 t->bufs.nr, strerror(-ret), ret == -ENOMEM ?
				 " (RLIMIT_MEMLOCK too small?)" : "");
			goto fail;
		}
	}
	/*
	 * The ring's own descriptor registered: io_uring_enter then skips
	 * the file-table look-up on every call. It is this thread's alone,
	 * as the ring is (the target is created by the thread that submits
	 * to it); a kernel without it (before 5.18) just goes without.
	 */
	if (!t->o.no_modern)
		u->reg_ring = io_uring_register_ring_fd(&u->ring) == 1;
	sp_ring_flags_str(u->info.flags, got, sizeof(got));
	sp_ring_flags_str(u->info.refused, refused, sizeof(refused));
	snprintf(t->setup, sizeof(t->setup), "ring %s%s%s%s%s%s", got,
		 u->info.refused ? ", refused " : "",
		 u->info.refused ? refused : "",
		 u->reg_ring ? ", registered ring" : "",
		 t->o.fixed_bufs ? ", fixed buffers" : "",
		 !u->sqe_flags ? "" : t->fds && t->o.nr_fds > 1 ? ", registered files" :
		 ", registered file");
	return 0;
fail:
	io_uring_queue_exit(&u->ring);
	return ret;
}

void sp_uring_teardown(struct sp_uring *u)
{
	io_uring_queue_exit(&u->ring);
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
}

struct io_uring_sqe *sp_uring_sqe_wait(struct sp_target *t, struct sp_uring *u)
{
	/* The SQPOLL thread has not moved the head yet: wait for it. */
	t->syscalls++;
	io_uring_sqring_wait(&u->ring);
	return io_uring_get_sqe(&u->ring);
}

void sp_uring_prep_cmd(struct io_uring_sqe *sqe, int fd, uint32_t cmd_op)
{
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = cmd_op;
}

/*
 * Whether liburing will call io_uring_enter() for this submit: always
 * without SQPOLL, with SQPOLL only to wake a sleeping thread or to
 * wait; IOPOLL rings enter to poll. Mirrors liburing so that the
 * self-counted syscall figure matches what the kernel counts.
 */
static bool uring_will_enter(const struct sp_uring *u, unsigned wait_nr)
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

/*
 * What a submit returns for io_uring_enter's ret: the SQEs it took (no
 * longer queued), 0 where nothing is lost and the caller tries again,
 * or the error.
 */
static inline int uring_entered(struct sp_uring *u, int ret)
{
	if (ret < 0)
		return ret == -EINTR || ret == -EAGAIN || ret == -EBUSY ? 0 : ret;
	u->queued -= (unsigned)ret < u->queued ? (unsigned)ret : u->queued;
	return ret;
}

/* The completions a submit waits for: none when they are there already. */
static inline unsigned uring_wait_nr(struct sp_uring *u, unsigned wait_nr)
{
	return wait_nr && io_uring_cq_ready(&u->ring) >= wait_nr ? 0 : wait_nr;
}

/* Entries from slot at to the ring's end (of entries), at most left. */
static inline unsigned ring_span(unsigned at, unsigned entries, unsigned left)
{
	return entries - at < left ? entries - at : left;
}

int sp_uring_submit(struct sp_target *t, unsigned wait_nr)
{
	struct sp_uring *u = t->priv;
	int ret;

	wait_nr = uring_wait_nr(u, wait_nr);
	if (!u->queued && !wait_nr && !(u->info.flags & IORING_SETUP_IOPOLL))
		return 0;
	if (uring_will_enter(u, wait_nr))
		t->syscalls++;
	ret = wait_nr ? io_uring_submit_and_wait(&u->ring, wait_nr)
		      : io_uring_submit(&u->ring);
	return uring_entered(u, ret);
}

/*
 * Reaps up to max completions, in at most two runs of consecutive CQEs
 * (up to the ring's end, then from its start); shift and complete are
 * the ring's, given as constants where the caller knows them (nop_reap)
 * so that the loop is compiled for them.
 */
static inline __attribute__((always_inline)) int
uring_reap(struct sp_uring *u, struct sp_io **ios, unsigned max, unsigned shift,
	   void (*complete)(struct sp_io *io, const struct io_uring_cqe *cqe))
{
	/* in locals: a store to io->res may alias the ring's fields */
	struct io_uring_cq *cq = &u->ring.cq;
	const struct io_uring_cqe *cqes = cq->cqes;
	unsigned head = *cq->khead, mask = cq->ring_mask, entries = cq->ring_entries;
	/* the tail once, with acquire: the CQEs before it are written */
	unsigned ready = io_uring_smp_load_acquire(cq->ktail) - head, n = 0;

	if (ready > max)
		ready = max;
	while (n < ready) {
		unsigned at = (head + n) & mask, run = ring_span(at, entries, ready - n);
		const struct io_uring_cqe *cqe = &cqes[at << shift];
		struct sp_io **out = ios + n, **stop;

#pragma GCC unroll 4
		for (stop = out + run; out < stop; out++, cqe += 1u << shift) {
			struct sp_io *io = io_uring_cqe_get_data(cqe);

			if (complete)
				complete(io, cqe);
			else
				io->res = cqe->res;
			*out = io;
		}
		n += run;
	}
	/* the slots go back to the kernel only after they are read */
	if (n)
		io_uring_cq_advance(&u->ring, n);
	return n;
}

int sp_uring_reap(struct sp_target *t, struct sp_io **ios, unsigned max)
{
	struct sp_uring *u = t->priv;

	return uring_reap(u, ios, max, io_uring_cqe_shift(&u->ring), u->complete);
}

void sp_uring_close(struct sp_target *t)
{
	struct sp_uring *u = t->priv;

	if (!u)
		return;
	sp_uring_teardown(u);
	free(u);
	t->priv = NULL;
}

/* ------------------------------------------------ uring and nop backends */

static int rw_open(struct sp_target *t, bool nop)
{
	struct sp_uring *u;
	int ret;

	if (!nop && t->o.iopoll && !t->o.direct) {
		snprintf(t->err, sizeof(t->err), "--iopoll needs O_DIRECT; polled "
			 "completions do not exist for buffered I/O");
		return -EINVAL;
	}
	if (!nop && t->o.iopoll && t->dev.io_poll == 0) {
		snprintf(t->err, sizeof(t->err), "--iopoll: %s cannot poll "
			 "(/sys/block/%s/queue/io_poll is 0: the driver has no "
			 "poll queues)", t->dev.path, t->dev.name);
		return -EOPNOTSUPP;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->fd = -1;
	/*
	 * A NOP completes in its submit and no more than depth are ever
	 * queued: its CQEs fit the SQ's size, and the CQ the kernel writes
	 * and the loop reads is half the default (t/io_uring's sizing).
	 */
	u->cq_as_sq = nop;
	if (!nop && !t->fds) {
		u->fd = sp_target_open_fd(t);
		if (u->fd < 0) {
			ret = u->fd;
			free(u);
			return ret;
		}
	}
	ret = sp_uring_setup(t, u, false, 1);
	if (ret) {
		if (u->fd >= 0)
			close(u->fd);
		free(u);
		return ret;
	}
	t->priv = u;
	return 0;
}

static int uring_open(struct sp_target *t)
{
	return rw_open(t, false);
}

static int nop_open(struct sp_target *t)
{
	struct sp_uring *u;
	int ret = rw_open(t, true);

	if (ret)
		return ret;
	/*
	 * Every SQE of this ring is a NOP, and neither the kernel nor
	 * liburing writes an SQE: made a NOP with no flags, file or buffer
	 * once here, one stays so, and queuing one is setting its user_data
	 * (nop_queue, nop_queue_nops), not the 64-byte clear of
	 * io_uring_prep_nop.
	 */
	u = t->priv;
	for (unsigned i = 0; i < u->ring.sq.ring_entries; i++)
		io_uring_prep_nop(&u->ring.sq.sqes[i]);
	return 0;
}

static int uring_queue(struct sp_target *t, struct sp_io *io)
{
	struct sp_uring *u = t->priv;
	struct io_uring_sqe *sqe;
	void *buf = sp_io_buf(t, io);
	int fd = u->sqe_fd;

	if (!sp_io_file_ok(t, io) || io->nr_iov)
		return -EINVAL;
	if (t->fds)
		fd = u->sqe_flags ? io->file : t->fds[io->file];
	sqe = sp_uring_sqe(t, u, io);
	if (!sqe)
		return -EBUSY;
	switch (io->op) {
	case SP_OP_READ:
		if (t->o.fixed_bufs)
			io_uring_prep_read_fixed(sqe, fd, buf, io->len,
						 io->offset, io->buf);
		else
			io_uring_prep_read(sqe, fd, buf, io->len, io->offset);
		break;
	case SP_OP_WRITE:
		if (t->o.fixed_bufs)
			io_uring_prep_write_fixed(sqe, fd, buf, io->len,
						  io->offset, io->buf);
		else
			io_uring_prep_write(sqe, fd, buf, io->len, io->offset);
		break;
	case SP_OP_FLUSH:
		io_uring_prep_fsync(sqe, fd, 0);
		break;
	default:
		io_uring_prep_nop(sqe);
		break;
	}
	/* prep_* clear the SQE, user_data included */
	io_uring_sqe_set_data(sqe, io);
	if (u->fd >= 0 || t->fds)
		sqe->flags |= u->sqe_flags;
	return 0;
}

/* The NOP ring's SQEs are NOPs already (nop_open): user_data is all. */
static int nop_queue(struct sp_target *t, struct sp_io *io)
{
	if (io->op != SP_OP_NOP)
		return -EINVAL;
	/* sets user_data */
	return sp_uring_sqe(t, t->priv, io) ? 0 : -EBUSY;
}

/* A NOP ring has 16-byte CQEs and nothing to translate. */
static int nop_reap(struct sp_target *t, struct sp_io **ios, unsigned max)
{
	return uring_reap(t->priv, ios, max, 0, NULL);
}

/*
 * The SQEs are NOPs already (nop_open): queuing n of them is storing the
 * tag as their user_data. liburing publishes them at submit.
 */
static int nop_queue_nops(struct sp_target *t, unsigned n, uint64_t tag)
{
	struct sp_uring *u = t->priv;
	struct io_uring_sq *sq = &u->ring.sq;
	unsigned tail = sq->sqe_tail, mask = sq->ring_mask;
	unsigned room = io_uring_sq_space_left(&u->ring);

	if (n > room)
		n = room;
	/* up to the ring's end, then from its start */
	for (unsigned i = 0, at = tail & mask; i < n;) {
		struct io_uring_sqe *sqe = &sq->sqes[at], *end = sqe + ring_span(at, mask + 1, n - i);

		for (; sqe < end; sqe++, i++)
			sqe->user_data = tag;
		at = 0;
	}
	sq->sqe_tail = tail + n;
	u->queued += n;
	return (int)n;
}

/*
 * io_uring_enter(fd, to_submit, min_complete, flags, NULL, 0), made
 * here rather than through liburing: see nop_submit.
 */
static inline int nop_enter(int fd, unsigned to_submit, unsigned min_complete,
			    unsigned flags)
{
#if defined(__x86_64__)
	register long r10 __asm__("r10") = flags;
	register long r8 __asm__("r8") = 0;	/* no signal mask */
	register long r9 __asm__("r9") = 0;
	long ret;

	__asm__ __volatile__("syscall"
			     : "=a"(ret)
			     : "0"((long)__NR_io_uring_enter), "D"((long)fd),
			       "S"((long)to_submit), "d"((long)min_complete),
			       "r"(r10), "r"(r8), "r"(r9)
			     : "rcx", "r11", "memory");
	return (int)ret;
#else
	long ret = syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);

	return ret < 0 ? -errno : (int)ret;
#endif
}

/*
 * The NOP ring's submit, liburing's two steps done here: publish the
 * SQ tail, then one io_uring_enter that submits and waits, without the
 * checks liburing makes for every kind of ring and without a call
 * through its PLT slot. SQPOLL and IOPOLL rings go through
 * sp_uring_submit, which knows when they must enter.
 */
static int nop_submit(struct sp_target *t, unsigned wait_nr)
{
	struct sp_uring *u = t->priv;
	struct io_uring_sq *sq = &u->ring.sq;
	unsigned flags = 0, submit;

	if (u->info.flags & (IORING_SETUP_SQPOLL | IORING_SETUP_IOPOLL))
		return sp_uring_submit(t, wait_nr);
	wait_nr = uring_wait_nr(u, wait_nr);
	if (sq->sqe_head != sq->sqe_tail) {
		sq->sqe_head = sq->sqe_tail;
		/* the SQEs' user_data is written before the tail hands them over */
		io_uring_smp_store_release(sq->ktail, sq->sqe_tail);
	}
	/* what the kernel has not taken, this pass's and any left before */
	submit = sq->sqe_tail - IO_URING_READ_ONCE(*sq->khead);
	/* overflowed CQEs or task work: entering with GETEVENTS flushes them */
	if (wait_nr || (IO_URING_READ_ONCE(*sq->kflags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)))
		flags |= IORING_ENTER_GETEVENTS;
	if (!submit && !flags)
		return 0;
	if (u->reg_ring)
		flags |= IORING_ENTER_REGISTERED_RING;
	t->syscalls++;
	return uring_entered(u, nop_enter(u->ring.enter_ring_fd, submit, wait_nr, flags));
}

/* CQEs folded into runs of one tag and one result, read in place. */
static int nop_reap_nops(struct sp_target *t, struct sp_nop_run *runs, unsigned max_runs,
			 unsigned max, unsigned *nr_runs)
{
	struct sp_uring *u = t->priv;
	struct io_uring_cq *cq = &u->ring.cq;
	const struct io_uring_cqe *cqes = cq->cqes;
	unsigned head = *cq->khead, mask = cq->ring_mask;
	/* the tail once, with acquire: the CQEs before it are written */
	unsigned ready = io_uring_smp_load_acquire(cq->ktail) - head, n = 0, r = 0;

	if (ready > max)
		ready = max;
	while (n < ready) {
		unsigned at = (head + n) & mask, len = 0;
		/* up to the ring's end: a run may go on from its start */
		const struct io_uring_cqe *first = &cqes[at], *cqe = first,
			*end = first + ring_span(at, mask + 1, ready - n);
		uint64_t tag = first->user_data;
		/* a NOP's result is 0 or -errno: compared as it is */
		int32_t raw = first->res, res = raw < 0 ? raw : 0;

		if (r && runs[r - 1].tag == tag && runs[r - 1].res == res)
			len = runs[--r].n;	/* the run that reached the end */
		else if (r == max_runs)
			break;			/* the rest in the next call */
		/* the run in registers: a store to runs[] could be a CQE's */
		while (++cqe < end && cqe->user_data == tag && cqe->res == raw)
			;
		len += (unsigned)(cqe - first);
		n += (unsigned)(cqe - first);
		runs[r++] = (struct sp_nop_run){ .tag = tag, .n = len, .res = res };
	}
	/* the slots go back to the kernel only after they are read */
	if (n)
		io_uring_cq_advance(&u->ring, n);
	*nr_runs = r;
	return (int)n;
}

const struct sp_backend sp_backend_uring = {
	.name = "uring",
	.desc = "io_uring read/write (--fixedbufs, --regfiles, --sqpoll, --iopoll)",
	.caps = SP_CAP_TARGET | SP_CAP_RING | SP_CAP_FLUSH | SP_CAP_FILES,
	.open = uring_open,
	.queue = uring_queue,
	.submit = sp_uring_submit,
	.reap = sp_uring_reap,
	.close = sp_uring_close,
};

const struct sp_backend sp_backend_nop = {
	.name = "nop",
	.desc = "IORING_OP_NOP: the ring alone, no file or device",
	.caps = SP_CAP_RING,
	.open = nop_open,
	.queue = nop_queue,
	.submit = nop_submit,
	.reap = nop_reap,
	.queue_nops = nop_queue_nops,
	.reap_nops = nop_reap_nops,
	.close = sp_uring_close,
};
