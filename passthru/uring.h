/* SPDX-License-Identifier: MIT */
/*
 * The io_uring machinery shared by every ring-based backend (uring, nop,
 * nvme): ring set-up with registered file and buffers, submission with
 * self-counted syscalls, and reaping. A backend prepares its own SQEs
 * and may translate its own completions.
 */
#ifndef SP_PASSTHRU_URING_H
#define SP_PASSTHRU_URING_H

#include <liburing.h>

#include "backend.h"
#include "ring.h"

struct sp_uring {
	struct io_uring ring;
	struct sp_ring_info info;
	int fd;			/* -1: no file (nop) */
	int sqe_fd;		/* fd, or fixed-file index 0 when registered */
	unsigned sqe_flags;	/* IOSQE_FIXED_FILE when registered */
	unsigned queued;	/* prepared, not yet submitted */
	bool reg_ring;		/* the ring's fd is registered (ENTER_REGISTERED_RING) */
	bool cq_as_sq;		/* set before sp_uring_setup: a CQ of the SQ's size */
	/* Fills io->res (and io->status) from its CQE; NULL: res = cqe->res. */
	void (*complete)(struct sp_io *io, const struct io_uring_cqe *cqe);
};

/*
 * Creates the ring for t (SQE128/CQE32 when big), with room for
 * sqes_per_io SQEs for each of t's depth I/Os, registers u->fd and
 * t's buffer pool as asked, and describes the set-up in t->setup.
 * u->fd must be set (or -1). On failure t->err says why.
 */
int sp_uring_setup(struct sp_target *t, struct sp_uring *u, bool big,
		   unsigned sqes_per_io);
void sp_uring_teardown(struct sp_uring *u);
/* The SQPOLL thread has not freed an SQE yet: waits for one. */
struct io_uring_sqe *sp_uring_sqe_wait(struct sp_target *t, struct sp_uring *u);

/*
 * An SQE for one more I/O, tagged with io; NULL if the ring is full.
 * Inline: it runs once per I/O, and a call costs as much as its work.
 */
static inline struct io_uring_sqe *sp_uring_sqe(struct sp_target *t, struct sp_uring *u,
						struct sp_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe && (u->info.flags & IORING_SETUP_SQPOLL))
		sqe = sp_uring_sqe_wait(t, u);
	if (!sqe)
		return NULL;
	io_uring_sqe_set_data(sqe, io);
	u->queued++;
	return sqe;
}
/*
 * Turns sqe (of an SQE128 ring) into an IORING_OP_URING_CMD for fd with
 * command cmd_op and zeroed command bytes. liburing 2.3 has no helper
 * for it: every passthrough SQE is begun here, and only here.
 */
void sp_uring_prep_cmd(struct io_uring_sqe *sqe, int fd, uint32_t cmd_op);
int sp_uring_submit(struct sp_target *t, unsigned wait_nr);
int sp_uring_reap(struct sp_target *t, struct sp_io **ios, unsigned max);
void sp_uring_close(struct sp_target *t);

#endif
