// SPDX-License-Identifier: MIT
#include <string.h>

#include "sp_log2hist.h"

#define BAR_WIDTH 52

static void fmt_pow2(char *buf, size_t len, uint64_t v)
{
	static const char *const sfx[] = { "", "K", "M", "G", "T", "P" };
	unsigned i = 0;

	/* bpftrace's style: 1K, 2K, ... for powers of two from 1024 up */
	while (v >= 1024 && !(v % 1024) && i < 5) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, "%llu%s", (unsigned long long)v, sfx[i]);
}

void sp_log2_hist_print(FILE *f, const uint64_t *slots, unsigned nslots)
{
	unsigned first = nslots, last = 0;
	uint64_t max = 0;

	for (unsigned k = 0; k < nslots; k++) {
		if (!slots[k])
			continue;
		if (first == nslots)
			first = k;
		last = k;
		if (slots[k] > max)
			max = slots[k];
	}
	if (!max)
		return;
	for (unsigned k = first; k <= last; k++) {
		char lo[16], hi[16], range[40], bar[BAR_WIDTH + 1];
		unsigned n = (unsigned)(slots[k] * BAR_WIDTH / max);

		fmt_pow2(lo, sizeof(lo), k ? 1ULL << k : 0);
		fmt_pow2(hi, sizeof(hi), 1ULL << (k + 1));
		snprintf(range, sizeof(range), "[%s, %s)", lo, hi);
		memset(bar, '@', n);
		bar[n] = '\0';
		fprintf(f, "%-16s %8llu |%-*s|\n", range, (unsigned long long)slots[k],
			BAR_WIDTH, bar);
	}
}
