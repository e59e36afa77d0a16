// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"

#define HUGE_2M (2UL << 20)

int sp_bufpool_alloc(struct sp_bufpool *p, unsigned nr, size_t buf_size,
		     unsigned flags)
{
	size_t page = sysconf(_SC_PAGESIZE);
	void *base = MAP_FAILED;
	size_t len;

	if (!nr || !buf_size)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->stride = (buf_size + page - 1) & ~(page - 1);
	len = p->stride * nr;
	if (flags & SP_BUF_HUGE) {
		size_t hlen = (len + HUGE_2M - 1) & ~(HUGE_2M - 1);

		base = mmap(NULL, hlen, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (base != MAP_FAILED) {
			len = hlen;
			p->huge = true;
		}
	}
	if (base == MAP_FAILED)
		base = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	p->base = base;
	p->map_len = len;
	p->buf_size = buf_size;
	p->nr = nr;
	return 0;
}

void sp_bufpool_free(struct sp_bufpool *p)
{
	if (p->base)
		munmap(p->base, p->map_len);
	memset(p, 0, sizeof(*p));
}

void sp_bufpool_iovecs(const struct sp_bufpool *p, struct iovec *iov)
{
	for (unsigned i = 0; i < p->nr; i++) {
		iov[i].iov_base = sp_bufpool_get(p, i);
		iov[i].iov_len = p->buf_size;
	}
}
