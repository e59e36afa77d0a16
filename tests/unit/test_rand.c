// SPDX-License-Identifier: MIT
/* xorshift64* and its streams (sp_rand.h), against values computed apart. */
#include <stdint.h>

#include "sp_rand.h"
#include "tap.h"

int main(void)
{
	uint64_t s = 1, z = 0, a, b, r[3], r0;
	bool differ = false;

	for (int i = 0; i < 3; i++)
		r[i] = sp_rand_next(&s);
	r0 = sp_rand_next(&z);
	/* from a Python transcription of Vigna's reference code */
	TAP_CHECK(r[0] == 0x47e4ce4b896cdd1dULL, "first number from seed 1");
	TAP_CHECK(r[1] == 0xabcfa6a8e079651dULL, "second");
	TAP_CHECK(r[2] == 0xb9d10d8feb731f57ULL, "third");
	TAP_CHECK(r0 == 0 && z == 0, "seed 0 is a dead stream");

	TAP_CHECK(sp_rand_stream(42, 0) == 0x9e3779b97f4a7c3fULL, "stream 0 of seed 42");
	TAP_CHECK(sp_rand_stream(42, 2) == 0xdaa66d2c7ddf7415ULL, "stream 2 of seed 42");
	a = sp_rand_stream(42, 0);
	b = sp_rand_stream(42, 1);
	for (int i = 0; i < 64; i++)
		differ |= sp_rand_next(&a) != sp_rand_next(&b);
	TAP_CHECK(differ && a != b, "two streams of one seed draw apart");
	a = sp_rand_stream(7, 3);
	b = sp_rand_stream(7, 3);
	for (int i = 0; i < 64; i++)
		sp_rand_next(&a), sp_rand_next(&b);
	TAP_CHECK(a == b, "a stream is repeated by its seed");

	/* sp_rand_below: always in range, every value reached, evenly */
	{
		unsigned hits[7] = { 0 }, n = 70000;
		bool in_range = true, even = true;

		s = 99;
		for (unsigned i = 0; i < n; i++) {
			uint64_t v = sp_rand_below(&s, 7);

			in_range &= v < 7;
			if (v < 7)
				hits[v]++;
		}
		for (int i = 0; i < 7; i++)
			even &= hits[i] > n / 7 * 95 / 100 && hits[i] < n / 7 * 105 / 100;
		TAP_CHECK(in_range && even, "sp_rand_below(7): in range, each value within 5%% of 1/7");
		s = 5;
		in_range = true;
		for (int i = 0; i < 1000; i++)
			in_range &= sp_rand_below(&s, 1) == 0 &&
				    sp_rand_below(&s, UINT64_MAX) < UINT64_MAX;
		TAP_CHECK(in_range, "sp_rand_below at the bounds: 1 gives 0, UINT64_MAX stays below");
	}
	return tap_done();
}
