/* SPDX-License-Identifier: MIT */
/*
 * io_uring set-up shared by every ring shortpath creates. The modern
 * set-up flags are tried first and dropped one at a time when the
 * kernel refuses them (as fio's t/io_uring does); what was obtained and
 * what was refused is kept so that every run can say which it got.
 */
#ifndef SP_PASSTHRU_RING_H
#define SP_PASSTHRU_RING_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct sp_ring_opts {
	unsigned entries;
	bool sqpoll;
	unsigned sq_idle_ms;	/* SQPOLL thread idle time before it sleeps */
	int sq_cpu;		/* pin the SQPOLL thread; -1: no pinning */
	bool iopoll;
	bool big_sqe;		/* SQE128, for NVMe passthrough */
	bool big_cqe;		/* CQE32, for NVMe passthrough */
	bool no_modern;		/* do not try COOP/SINGLE_ISSUER/DEFER/NO_SQARRAY */
	unsigned cq_entries;	/* CQ size; 0: the kernel's, twice entries */
};

struct sp_ring_info {
	unsigned flags;		/* set-up flags the ring was created with */
	unsigned refused;	/* optional flags the kernel refused */
	unsigned features;	/* IORING_FEAT_* */
};

/* Returns 0 or -errno from io_uring_setup() for the required flags. */
int sp_ring_init(struct io_uring *ring, const struct sp_ring_opts *o,
		 struct sp_ring_info *info);
/* Registers every buffer of a pool as io_uring fixed buffers, buffer i
 * as index i; 0 or -errno. */
int sp_ring_register_pool(struct io_uring *ring, const struct sp_bufpool *p);
/* "SQPOLL|COOP_TASKRUN|..." into buf. */
const char *sp_ring_flags_str(unsigned flags, char *buf, size_t len);

#endif
