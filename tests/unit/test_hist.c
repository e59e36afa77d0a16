// SPDX-License-Identifier: MIT
/* Histogram: bucket geometry, error bound, percentiles against exact. */
#include <math.h>
#include <stdlib.h>

#include "sp_hist.h"
#include "tap.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * n);

	return sorted[rank ? rank - 1 : 0];
}

int main(void)
{
	static struct sp_hist h, a, b;
	const size_t n = 200000;
	uint64_t *vals = malloc(n * sizeof(*vals)), seed = 42, sum = 0;
	bool geometry_ok = true, bound_ok = true, pct_ok = true;
	double worst = 0;

	/* Every value lands in a bucket that contains it, buckets tile. */
	for (unsigned i = 0; i + 1 < SP_HIST_BUCKETS; i++)
		if (sp_hist_bucket_low(i) + sp_hist_bucket_width(i) != sp_hist_bucket_low(i + 1))
			geometry_ok = false;
	for (uint64_t v = 1; v && v < (1ULL << 62); v = v * 3 + 1) {
		unsigned idx = sp_hist_index(v);

		if (v < sp_hist_bucket_low(idx) ||
		    v >= sp_hist_bucket_low(idx) + sp_hist_bucket_width(idx))
			geometry_ok = false;
		/* width/2 relative to the lower bound is the error bound */
		if ((double)sp_hist_bucket_width(idx) / 2 / (double)sp_hist_bucket_low(idx) >
		    1.0 / (1 << (SP_HIST_SUB_BITS + 1)) + 1e-12 && v >= SP_HIST_SUB)
			bound_ok = false;
	}
	TAP_CHECK(geometry_ok, "buckets tile the range and contain their values");
	TAP_CHECK(bound_ok, "bucket half-width is within 1/%d of its value",
		  1 << (SP_HIST_SUB_BITS + 1));
	TAP_CHECK(sp_hist_index(UINT64_MAX) == SP_HIST_BUCKETS - 1,
		  "UINT64_MAX maps to the last bucket");

	sp_hist_init(&h);
	TAP_CHECK(sp_hist_percentile(&h, 99) == 0 && sp_hist_mean(&h) == 0,
		  "empty histogram reports zeros");
	for (uint64_t v = 0; v < SP_HIST_SUB; v++)
		sp_hist_add(&h, v);
	TAP_CHECK(sp_hist_percentile(&h, 50) == SP_HIST_SUB / 2 - 1,
		  "small values are exact (p50 of 0..%u = %u)", SP_HIST_SUB - 1,
		  SP_HIST_SUB / 2 - 1);

	/* Log-normal-ish latencies, 100 ns .. ~10 ms. */
	sp_hist_init(&h);
	sp_hist_init(&a);
	sp_hist_init(&b);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		double u = (double)(seed >> 11) / (double)(1ULL << 53);
		uint64_t v = (uint64_t)(100.0 * exp(u * 11.5));

		vals[i] = v;
		sum += v;
		sp_hist_add(&h, v);
		sp_hist_add(i & 1 ? &a : &b, v);
	}
	qsort(vals, n, sizeof(*vals), cmp_u64);
	TAP_CHECK(h.count == n && h.min == vals[0] && h.max == vals[n - 1],
		  "count, min and max are exact");
	TAP_CHECK(fabs(sp_hist_mean(&h) - (double)sum / n) < 1e-6,
		  "mean is exact");
	{
		const double ps[] = { 1, 10, 50, 90, 99, 99.9, 99.99 };

		for (unsigned i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
			double want = exact_percentile(vals, n, ps[i]);
			double got = sp_hist_percentile(&h, ps[i]);
			double err = fabs(got - want) / want;

			if (err > worst)
				worst = err;
			if (err > 1.0 / (1 << (SP_HIST_SUB_BITS + 1)))
				pct_ok = false;
		}
	}
	TAP_CHECK(pct_ok, "percentiles within the documented 0.78%% (worst %.3f%%)",
		  worst * 100);
	TAP_CHECK(sp_hist_percentile(&h, 100) == vals[n - 1], "p100 is the max");
	sp_hist_merge(&a, &b);
	TAP_CHECK(a.count == h.count && a.sum == h.sum && a.min == h.min &&
		  a.max == h.max && sp_hist_percentile(&a, 99) == sp_hist_percentile(&h, 99),
		  "merging two halves equals the whole");

	/* sp_hist_add_n: n at once is n one by one, and the sum saturates */
	{
		static struct sp_hist one, many;
		bool same = true;

		sp_hist_init(&one);
		sp_hist_init(&many);
		for (uint64_t v = 1; v < 5000000; v = v * 3 + 1) {
			for (unsigned i = 0; i < 37; i++)
				sp_hist_add(&one, v);
			sp_hist_add_n(&many, v, 37);
		}
		sp_hist_add_n(&many, 12345, 0);
		for (unsigned i = 0; i < SP_HIST_BUCKETS; i++)
			same &= one.buckets[i] == many.buckets[i];
		TAP_CHECK(same && one.count == many.count && one.sum == many.sum &&
			  one.min == many.min && one.max == many.max,
			  "sp_hist_add_n(v, n) equals n sp_hist_add(v); n = 0 adds nothing");
		sp_hist_add_n(&many, UINT64_MAX / 2, 3);
		TAP_CHECK(many.sum == UINT64_MAX, "sp_hist_add_n saturates the sum");
	}
	free(vals);
	return tap_done();
}
