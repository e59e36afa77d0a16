/* SPDX-License-Identifier: MIT */
/*
 * Log-linear latency histogram (the HdrHistogram layout).
 *
 * Values below 2^SP_HIST_SUB_BITS are counted exactly. Above that, each
 * power of two [2^k, 2^(k+1)) is split into 2^SP_HIST_SUB_BITS equal
 * buckets, so a bucket is never wider than 2^-SP_HIST_SUB_BITS of its
 * lower bound. A percentile is reported as the midpoint of its bucket
 * (clamped to the observed min and max), hence its relative error is
 * at most 2^-(SP_HIST_SUB_BITS+1): 1/128 = 0.78% with 6 sub-bucket bits.
 * min, max, mean and count are exact. Recording is a few instructions
 * and never allocates, so it belongs on the hot path.
 */
#ifndef SP_HIST_H
#define SP_HIST_H

#include <stdint.h>

#define SP_HIST_SUB_BITS 6
#define SP_HIST_SUB (1u << SP_HIST_SUB_BITS)
#define SP_HIST_BUCKETS ((64 - SP_HIST_SUB_BITS + 1) * SP_HIST_SUB)

struct sp_hist {
	uint64_t count;
	uint64_t sum;		/* saturates instead of wrapping */
	uint64_t min;
	uint64_t max;
	uint64_t buckets[SP_HIST_BUCKETS];
};

void sp_hist_init(struct sp_hist *h);
void sp_hist_merge(struct sp_hist *dst, const struct sp_hist *src);
/* Value at percentile p (0 < p <= 100); 0 for an empty histogram. */
uint64_t sp_hist_percentile(const struct sp_hist *h, double p);
double sp_hist_mean(const struct sp_hist *h);
/* Bucket helpers, exported for tests and for printing. */
unsigned sp_hist_index(uint64_t v);
uint64_t sp_hist_bucket_low(unsigned idx);
uint64_t sp_hist_bucket_width(unsigned idx);

static inline void sp_hist_add(struct sp_hist *h, uint64_t v)
{
	h->buckets[sp_hist_index(v)]++;
	h->count++;
	h->sum = h->sum + v < h->sum ? UINT64_MAX : h->sum + v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

/* n values of v at once (I/Os issued and reaped together share their
 * latency): the same histogram as n calls of sp_hist_add. */
static inline void sp_hist_add_n(struct sp_hist *h, uint64_t v, uint64_t n)
{
	unsigned __int128 s = (unsigned __int128)v * n + h->sum;

	if (!n)
		return;
	h->buckets[sp_hist_index(v)] += n;
	h->count += n;
	h->sum = s > UINT64_MAX ? UINT64_MAX : (uint64_t)s;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

#endif
