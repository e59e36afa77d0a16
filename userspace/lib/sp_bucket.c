// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sp_bucket.h"
#include "sp_opts.h"

#define BAR_WIDTH 52

int sp_bucket_layout_parse(const char *s, struct sp_bucket_layout *l)
{
	memset(l, 0, sizeof(*l));
	if (!strcmp(s, "log2"))
		return 0;
	if (!strncmp(s, "log2:", 5)) {
		uint64_t k;

		if (sp_parse_u64(s + 5, 0, SP_BUCKET_MAX_K, &k))
			return -EINVAL;
		l->k = (unsigned)k;
		return 0;
	}
	if (!strncmp(s, "linear:", 7)) {
		unsigned long long min, max, step;
		int end = 0;

		if (sscanf(s + 7, "%llu,%llu,%llu%n", &min, &max, &step, &end) != 3 ||
		    s[7 + end] || !step || max <= min ||
		    (max - min) / step > SP_BUCKET_MAX_LINEAR)
			return -EINVAL;
		l->kind = SP_BUCKET_LINEAR;
		l->min = min;
		l->max = max;
		l->step = step;
		return 0;
	}
	return -EINVAL;
}

static unsigned nbuckets(const struct sp_bucket_layout *l)
{
	if (l->kind == SP_BUCKET_LINEAR)
		/* underflow, the steps (the last may be short), overflow */
		return (unsigned)((l->max - l->min + l->step - 1) / l->step) + 2;
	/* one bucket per value below 2^k, then 2^k per power of two */
	return (65u - l->k) << l->k;
}

int sp_buckets_init(struct sp_buckets *b, const struct sp_bucket_layout *l)
{
	b->layout = *l;
	b->n = nbuckets(l);
	b->counts = calloc(b->n, sizeof(*b->counts));
	return b->counts ? 0 : -ENOMEM;
}

void sp_buckets_free(struct sp_buckets *b)
{
	free(b->counts);
	b->counts = NULL;
}

unsigned sp_bucket_index(const struct sp_bucket_layout *l, uint64_t v)
{
	unsigned e, k = l->k;

	if (l->kind == SP_BUCKET_LINEAR) {
		if (v < l->min)
			return 0;
		if (v >= l->max)
			return nbuckets(l) - 1;
		return 1 + (unsigned)((v - l->min) / l->step);
	}
	if (v < (1ULL << k))
		return (unsigned)v;
	e = 63 - (unsigned)__builtin_clzll(v);
	return ((e - k + 1) << k) + (unsigned)((v >> (e - k)) - (1ULL << k));
}

void sp_bucket_bounds(const struct sp_bucket_layout *l, unsigned idx, uint64_t *low,
		      uint64_t *high)
{
	unsigned e, sub, k = l->k;

	if (l->kind == SP_BUCKET_LINEAR) {
		if (!idx) {
			*low = 0;
			*high = l->min;
		} else if (idx == nbuckets(l) - 1) {
			*low = l->max;
			*high = UINT64_MAX;
		} else {
			*low = l->min + (idx - 1) * l->step;
			*high = *low + l->step < l->max ? *low + l->step : l->max;
		}
		return;
	}
	if (idx < (1u << k)) {
		*low = idx;
		*high = idx + 1ULL;
		return;
	}
	e = (idx >> k) + k - 1;
	sub = idx & ((1u << k) - 1);
	*low = ((1ULL << k) + sub) << (e - k);
	*high = *low + (1ULL << (e - k));
	if (!*high)	/* the last bucket ends at 2^64 */
		*high = UINT64_MAX;
}

static void fmt_value(char *buf, size_t len, uint64_t v)
{
	static const char *const sfx[] = { "", "K", "M", "G", "T", "P" };
	unsigned i = 0;

	/* bpftrace's style: 1K, 2K, ... for multiples of 1024 */
	while (v >= 1024 && !(v % 1024) && i < 5) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, "%llu%s", (unsigned long long)v, sfx[i]);
}

void sp_buckets_print(FILE *f, const struct sp_buckets *b)
{
	unsigned first = b->n, last = 0;
	uint64_t max = 0;

	for (unsigned i = 0; i < b->n; i++) {
		if (!b->counts[i])
			continue;
		if (first == b->n)
			first = i;
		last = i;
		if (b->counts[i] > max)
			max = b->counts[i];
	}
	if (!max)
		return;
	for (unsigned i = first; i <= last; i++) {
		char lo[24], hi[24], range[56], bar[BAR_WIDTH + 1];
		unsigned n = (unsigned)(b->counts[i] * BAR_WIDTH / max);
		uint64_t low, high;

		sp_bucket_bounds(&b->layout, i, &low, &high);
		fmt_value(lo, sizeof(lo), low);
		fmt_value(hi, sizeof(hi), high);
		if (b->layout.kind == SP_BUCKET_LINEAR && !i)
			snprintf(range, sizeof(range), "(..., %s)", hi);
		else if (high == UINT64_MAX)
			snprintf(range, sizeof(range), "[%s, ...)", lo);
		else if (high == low + 1)
			snprintf(range, sizeof(range), "[%s]", lo);
		else
			snprintf(range, sizeof(range), "[%s, %s)", lo, hi);
		memset(bar, '@', n);
		bar[n] = '\0';
		fprintf(f, "%-16s %8llu |%-*s|\n", range, (unsigned long long)b->counts[i],
			BAR_WIDTH, bar);
	}
}
