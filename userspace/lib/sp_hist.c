// SPDX-License-Identifier: MIT
#include <math.h>
#include <string.h>

#include "sp_hist.h"

void sp_hist_init(struct sp_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned sp_hist_index(uint64_t v)
{
	unsigned k, shift;

	if (v < SP_HIST_SUB)
		return v;
	k = 63 - __builtin_clzll(v);
	shift = k - SP_HIST_SUB_BITS;
	return ((shift + 1) << SP_HIST_SUB_BITS) + (unsigned)((v >> shift) - SP_HIST_SUB);
}

uint64_t sp_hist_bucket_low(unsigned idx)
{
	unsigned group = idx >> SP_HIST_SUB_BITS;

	if (!group)
		return idx;
	return ((uint64_t)(idx & (SP_HIST_SUB - 1)) + SP_HIST_SUB) << (group - 1);
}

uint64_t sp_hist_bucket_width(unsigned idx)
{
	unsigned group = idx >> SP_HIST_SUB_BITS;

	return group ? 1ULL << (group - 1) : 1;
}

void sp_hist_merge(struct sp_hist *dst, const struct sp_hist *src)
{
	if (!src->count)
		return;
	for (unsigned i = 0; i < SP_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum = dst->sum + src->sum < dst->sum ? UINT64_MAX : dst->sum + src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t sp_hist_percentile(const struct sp_hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	if (p >= 100)
		return h->max;
	/* The smallest value that at least p% of the samples do not exceed. */
	rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < SP_HIST_BUCKETS; i++) {
		uint64_t mid;

		seen += h->buckets[i];
		if (seen < rank)
			continue;
		mid = sp_hist_bucket_low(i) + sp_hist_bucket_width(i) / 2;
		if (mid < h->min)
			mid = h->min;
		if (mid > h->max)
			mid = h->max;
		return mid;
	}
	return h->max;
}

double sp_hist_mean(const struct sp_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
