/* SPDX-License-Identifier: MIT */
/*
 * An allocator of I/O virtual addresses: the device-side addresses a
 * VFIO container maps buffers at. It hands out aligned extents from the
 * ranges the IOMMU accepts (VFIO_IOMMU_GET_INFO), first fit, and merges
 * freed extents with their neighbours, so that mapping and unmapping in
 * a loop never exhausts the space.
 */
#ifndef SP_IOVA_H
#define SP_IOVA_H

#include <stdint.h>

struct sp_iova_extent {
	uint64_t start, end;	/* [start, end) */
};

struct sp_iova {
	struct sp_iova_extent *free;	/* sorted, disjoint, not adjacent */
	unsigned nr, cap;
	uint64_t in_use;		/* bytes handed out, not yet freed */
};

/* Starts with the given usable ranges ([start, end)), in any order. */
int sp_iova_init(struct sp_iova *a, const struct sp_iova_extent *ranges,
		 unsigned nr);
void sp_iova_destroy(struct sp_iova *a);
/* len bytes aligned to align (a power of two); -ENOSPC when none fit. */
int sp_iova_alloc(struct sp_iova *a, uint64_t len, uint64_t align, uint64_t *iova);
/* Returns an extent alloc() gave; -EINVAL if it overlaps free space. */
int sp_iova_free(struct sp_iova *a, uint64_t iova, uint64_t len);

#endif
