/* SPDX-License-Identifier: MIT */
/*
 * I/O buffer pools: one anonymous mapping cut into equal, aligned
 * buffers, so that a pool can be registered with io_uring (fixed
 * buffers) or DMA-mapped (VFIO) as one region.
 */
#ifndef SP_PASSTHRU_BUF_H
#define SP_PASSTHRU_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#define SP_BUF_HUGE	(1u << 0)	/* try 2 MiB huge pages, fall back quietly */

struct sp_bufpool {
	void *base;
	size_t map_len;
	size_t buf_size;
	size_t stride;		/* buf_size rounded up to the page size */
	unsigned nr;
	bool huge;		/* backed by huge pages */
};

int sp_bufpool_alloc(struct sp_bufpool *p, unsigned nr, size_t buf_size,
		     unsigned flags);
void sp_bufpool_free(struct sp_bufpool *p);
/* One iovec per buffer, for io_uring_register_buffers(). */
void sp_bufpool_iovecs(const struct sp_bufpool *p, struct iovec *iov);

static inline void *sp_bufpool_get(const struct sp_bufpool *p, unsigned i)
{
	return (char *)p->base + (size_t)i * p->stride;
}

#endif
