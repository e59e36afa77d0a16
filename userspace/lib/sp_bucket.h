/* SPDX-License-Identifier: MIT */
/*
 * Histograms for people to read, in bpftrace's three layouts:
 *   hist(v)       powers of two            [4, 8)
 *   hist(v, k)    each power of two cut into 2^k equal buckets
 *   lhist(v, min, max, step)   linear buckets, with under and overflow
 * and bpftrace's printing:
 *   [4, 8)            123 |@@@@@@@@@@@@@                              |
 * (sp_hist is the other histogram: fine-grained, for percentiles.)
 */
#ifndef SP_BUCKET_H
#define SP_BUCKET_H

#include <stdint.h>
#include <stdio.h>

#define SP_BUCKET_MAX_K 5	/* bpftrace allows 0..5 */
#define SP_BUCKET_MAX_LINEAR 1000

struct sp_bucket_layout {
	enum { SP_BUCKET_LOG2, SP_BUCKET_LINEAR } kind;
	unsigned k;			/* log2: 2^k buckets per power of two */
	uint64_t min, max, step;	/* linear */
};

struct sp_buckets {
	struct sp_bucket_layout layout;
	unsigned n;
	uint64_t *counts;
};

/* Parses "log2", "log2:K" or "linear:MIN,MAX,STEP"; 0 or -EINVAL. */
int sp_bucket_layout_parse(const char *s, struct sp_bucket_layout *l);
/* 0 or -ENOMEM; free with sp_buckets_free(). */
int sp_buckets_init(struct sp_buckets *b, const struct sp_bucket_layout *l);
void sp_buckets_free(struct sp_buckets *b);
unsigned sp_bucket_index(const struct sp_bucket_layout *l, uint64_t v);
/* [*low, *high) of bucket idx; linear underflow has low 0, overflow high UINT64_MAX */
void sp_bucket_bounds(const struct sp_bucket_layout *l, unsigned idx, uint64_t *low,
		      uint64_t *high);

static inline void sp_buckets_add(struct sp_buckets *b, uint64_t v)
{
	b->counts[sp_bucket_index(&b->layout, v)]++;
}

/* Prints the non-empty range of b, one line per bucket. */
void sp_buckets_print(FILE *f, const struct sp_buckets *b);

#endif
