// SPDX-License-Identifier: MIT
/* Display histograms: every layout tiles the range and holds its values. */
#include <stdlib.h>

#include "sp_bucket.h"
#include "tap.h"

/* Buckets tile [0, max) with no gap and each value lands in its bucket. */
static bool layout_ok(const struct sp_bucket_layout *l)
{
	struct sp_buckets b;
	uint64_t low, high, prev_high = 0;
	bool ok = true;

	if (sp_buckets_init(&b, l))
		return false;
	for (unsigned i = 0; i < b.n; i++) {
		sp_bucket_bounds(l, i, &low, &high);
		if (low != prev_high || high <= low)
			ok = false;
		prev_high = high;
		if (high == UINT64_MAX)
			break;
	}
	for (uint64_t v = 0; v < (1ULL << 62); v = v * 3 + 1) {
		unsigned i = sp_bucket_index(l, v);

		sp_bucket_bounds(l, i, &low, &high);
		if (i >= b.n || v < low || v >= high)
			ok = false;
	}
	sp_buckets_free(&b);
	return ok;
}

int main(void)
{
	struct sp_bucket_layout l;
	struct sp_buckets b;
	char buf[4096];
	FILE *f;

	for (unsigned k = 0; k <= SP_BUCKET_MAX_K; k++) {
		char spec[16];

		snprintf(spec, sizeof(spec), "log2:%u", k);
		TAP_CHECK(!sp_bucket_layout_parse(spec, &l) && layout_ok(&l),
			  "hist(v, %u) buckets tile and hold their values", k);
	}
	TAP_CHECK(!sp_bucket_layout_parse("linear:10,100,7", &l) && layout_ok(&l),
		  "linear buckets (with a short last step) tile and hold their values");
	TAP_CHECK(sp_bucket_layout_parse("log2:6", &l) && sp_bucket_layout_parse("linear:5,5,1", &l) &&
		  sp_bucket_layout_parse("linear:0,10,0", &l) && sp_bucket_layout_parse("lin", &l),
		  "bad layouts are refused");

	/* bpftrace's layout: [0] [1] [2, 4) ... and single values as [N] */
	sp_bucket_layout_parse("log2", &l);
	sp_buckets_init(&b, &l);
	sp_buckets_add(&b, 0);
	sp_buckets_add(&b, 5);
	sp_buckets_add(&b, 6);
	sp_buckets_add(&b, 2048);
	f = fmemopen(buf, sizeof(buf), "w");
	sp_buckets_print(f, &b);
	fclose(f);
	TAP_CHECK(strstr(buf, "[0]                     1 |") && strstr(buf, "[4, 8)                  2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|") &&
		  strstr(buf, "[2K, 4K)                1 |"), "printed like bpftrace");
	sp_buckets_free(&b);

	sp_bucket_layout_parse("linear:0,100,10", &l);
	sp_buckets_init(&b, &l);
	sp_buckets_add(&b, 15);
	sp_buckets_add(&b, 150);
	f = fmemopen(buf, sizeof(buf), "w");
	sp_buckets_print(f, &b);
	fclose(f);
	TAP_CHECK(strstr(buf, "[10, 20)") && strstr(buf, "[100, ...)"), "linear buckets printed like lhist");
	sp_buckets_free(&b);
	return tap_done();
}
