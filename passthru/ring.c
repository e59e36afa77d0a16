// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ring.h"

/* Linux 6.6; older uapi headers lack it */
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif

static const struct {
	unsigned flag;
	const char *name;
} ring_flag_names[] = {
	{ IORING_SETUP_IOPOLL, "IOPOLL" },
	{ IORING_SETUP_SQPOLL, "SQPOLL" },
	{ IORING_SETUP_SQ_AFF, "SQ_AFF" },
	{ IORING_SETUP_CQSIZE, "CQSIZE" },
	{ IORING_SETUP_CLAMP, "CLAMP" },
	{ IORING_SETUP_SUBMIT_ALL, "SUBMIT_ALL" },
	{ IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN" },
	{ IORING_SETUP_TASKRUN_FLAG, "TASKRUN_FLAG" },
	{ IORING_SETUP_SQE128, "SQE128" },
	{ IORING_SETUP_CQE32, "CQE32" },
	{ IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER" },
	{ IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN" },
	{ IORING_SETUP_NO_SQARRAY, "NO_SQARRAY" },
};

const char *sp_ring_flags_str(unsigned flags, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < sizeof(ring_flag_names) / sizeof(ring_flag_names[0]); i++) {
		if (!(flags & ring_flag_names[i].flag))
			continue;
		off += snprintf(buf + off, off < len ? len - off : 0, "%s%s",
				off ? "|" : "", ring_flag_names[i].name);
	}
	if (!off)
		snprintf(buf, len, "none");
	return buf;
}

/*
 * io_uring_queue_init_params(), except that a ring without an SQ array
 * gets none filled in: liburing 2.3 fills the array it assumes, and with
 * NO_SQARRAY its offset is 0, so that fill would overwrite the ring's
 * head, tail and mask. The mapping itself is liburing's.
 */
static int ring_setup(unsigned entries, struct io_uring *ring, struct io_uring_params *p)
{
	int fd, ret;

	if (!(p->flags & IORING_SETUP_NO_SQARRAY))
		return io_uring_queue_init_params(entries, ring, p);
	fd = (int)syscall(__NR_io_uring_setup, entries, p);
	if (fd < 0)
		return -errno;
	ret = io_uring_queue_mmap(fd, p, ring);
	if (ret) {
		close(fd);
		return ret;
	}
	ring->features = p->features;
	return 0;
}

int sp_ring_init(struct io_uring *ring, const struct sp_ring_opts *o,
		 struct sp_ring_info *info)
{
	/* Dropped in this order: the most recent (least available) first. */
	static const unsigned optional_order[] = {
		IORING_SETUP_NO_SQARRAY,
		IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SINGLE_ISSUER,
		IORING_SETUP_COOP_TASKRUN,
		IORING_SETUP_CQSIZE,	/* a size asked for; without: the default */
	};
	unsigned required = 0, optional = 0;
	int ret;

	if (o->sqpoll) {
		required |= IORING_SETUP_SQPOLL;
		if (o->sq_cpu >= 0)
			required |= IORING_SETUP_SQ_AFF;
	}
	if (o->iopoll)
		required |= IORING_SETUP_IOPOLL;
	if (o->big_sqe)
		required |= IORING_SETUP_SQE128;
	if (o->big_cqe)
		required |= IORING_SETUP_CQE32;
	if (!o->no_modern) {
		/*
		 * Task-work IPIs mean nothing when a kernel thread does the
		 * submitting, and the kernel refuses COOP/DEFER with SQPOLL;
		 * a single issuer still lets it skip locking.
		 */
		/*
		 * Without the SQ array's indirection the kernel reads SQE
		 * i from slot i: a load and a bounds check less per SQE
		 * (about 4 % more NOPs a second for t/io_uring here).
		 */
		optional = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_NO_SQARRAY;
		if (!o->sqpoll)
			optional |= IORING_SETUP_COOP_TASKRUN |
				    IORING_SETUP_DEFER_TASKRUN;
	}
	if (o->cq_entries)
		optional |= IORING_SETUP_CQSIZE;
	memset(info, 0, sizeof(*info));
	for (unsigned drop = 0;;) {
		struct io_uring_params p = {
			.flags = required | optional,
			.sq_thread_idle = o->sq_idle_ms,
			.sq_thread_cpu = o->sq_cpu >= 0 ? (unsigned)o->sq_cpu : 0,
			.cq_entries = o->cq_entries,
		};
		const unsigned n_order = sizeof(optional_order) / sizeof(optional_order[0]);

		ret = ring_setup(o->entries, ring, &p);
		if (ret == 0) {
			info->flags = p.flags;
			info->features = p.features;
			return 0;
		}
		/* Only EINVAL means "unknown flag"; anything else is final. */
		if (ret != -EINVAL)
			break;
		while (drop < n_order && !(optional & optional_order[drop]))
			drop++;
		if (drop == n_order)
			break;
		optional &= ~optional_order[drop];
		info->refused |= optional_order[drop];
	}
	return ret;
}

int sp_ring_register_pool(struct io_uring *ring, const struct sp_bufpool *p)
{
	struct iovec *iov = calloc(p->nr, sizeof(*iov));
	int ret;

	if (!iov)
		return -ENOMEM;
	sp_bufpool_iovecs(p, iov);
	ret = io_uring_register_buffers(ring, iov, p->nr);
	free(iov);
	return ret;
}
