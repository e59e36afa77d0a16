// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iova.h"

static int reserve(struct sp_iova *a, unsigned n)
{
	struct sp_iova_extent *e;
	unsigned cap;

	if (n <= a->cap)
		return 0;
	cap = a->cap ? a->cap * 2 : 8;
	while (cap < n)
		cap *= 2;
	e = realloc(a->free, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	a->free = e;
	a->cap = cap;
	return 0;
}

/* Inserts [start, end) into the free list, merging with neighbours. */
static int insert(struct sp_iova *a, uint64_t start, uint64_t end)
{
	unsigned i = 0;

	while (i < a->nr && a->free[i].start < start)
		i++;
	if ((i > 0 && a->free[i - 1].end > start) || (i < a->nr && a->free[i].start < end))
		return -EINVAL;	/* overlaps free space: a double free */
	if (i > 0 && a->free[i - 1].end == start) {
		a->free[i - 1].end = end;
		if (i < a->nr && a->free[i].start == end) {
			a->free[i - 1].end = a->free[i].end;
			memmove(&a->free[i], &a->free[i + 1], (a->nr - i - 1) * sizeof(*a->free));
			a->nr--;
		}
		return 0;
	}
	if (i < a->nr && a->free[i].start == end) {
		a->free[i].start = start;
		return 0;
	}
	if (reserve(a, a->nr + 1))
		return -ENOMEM;
	memmove(&a->free[i + 1], &a->free[i], (a->nr - i) * sizeof(*a->free));
	a->free[i] = (struct sp_iova_extent){ start, end };
	a->nr++;
	return 0;
}

int sp_iova_init(struct sp_iova *a, const struct sp_iova_extent *ranges, unsigned nr)
{
	memset(a, 0, sizeof(*a));
	for (unsigned i = 0; i < nr; i++) {
		int ret;

		if (ranges[i].end <= ranges[i].start)
			continue;
		ret = insert(a, ranges[i].start, ranges[i].end);
		if (ret) {
			sp_iova_destroy(a);
			return ret;
		}
	}
	return a->nr ? 0 : -ENOSPC;
}

void sp_iova_destroy(struct sp_iova *a)
{
	free(a->free);
	memset(a, 0, sizeof(*a));
}

int sp_iova_alloc(struct sp_iova *a, uint64_t len, uint64_t align, uint64_t *iova)
{
	if (!len || !align || (align & (align - 1)))
		return -EINVAL;
	for (unsigned i = 0; i < a->nr; i++) {
		struct sp_iova_extent *e = &a->free[i];
		uint64_t start = (e->start + align - 1) & ~(align - 1);

		if (start < e->start || start >= e->end || e->end - start < len)
			continue;
		if (start == e->start) {
			e->start += len;
			if (e->start == e->end) {
				memmove(e, e + 1, (a->nr - i - 1) * sizeof(*e));
				a->nr--;
			}
		} else if (start + len == e->end) {
			e->end = start;
		} else {
			/* split: the aligned middle goes, both sides stay */
			uint64_t tail = e->end;

			if (reserve(a, a->nr + 1))
				return -ENOMEM;
			e = &a->free[i];
			memmove(e + 2, e + 1, (a->nr - i - 1) * sizeof(*e));
			e->end = start;
			e[1] = (struct sp_iova_extent){ start + len, tail };
			a->nr++;
		}
		a->in_use += len;
		*iova = start;
		return 0;
	}
	return -ENOSPC;
}

int sp_iova_free(struct sp_iova *a, uint64_t iova, uint64_t len)
{
	int ret;

	if (!len || iova + len < iova)
		return -EINVAL;
	ret = insert(a, iova, iova + len);
	if (!ret)
		a->in_use -= len;
	return ret;
}
