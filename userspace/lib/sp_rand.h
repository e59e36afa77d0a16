/* SPDX-License-Identifier: MIT */
/*
 * xorshift64* (Vigna, "An experimental exploration of Marsaglia's
 * xorshift generators, scrambled", 2016): cheap and good enough to
 * scatter offsets and pick blocks. Not for anything an adversary sees.
 */
#ifndef SP_RAND_H
#define SP_RAND_H

#include <stdint.h>

/* Golden-ratio increment: streams seeded from it start far apart. */
#define SP_RAND_GOLDEN 0x9E3779B97F4A7C15ULL

/* The next number of the stream in *s; *s must not be 0 (0 stays 0). */
static inline uint64_t sp_rand_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/*
 * A number in [0, n) from the stream, n > 0: the high half of a 64x64
 * multiply (Lemire's reduction), as even as a modulo and without its
 * division, which costs more than the generator itself.
 */
static inline uint64_t sp_rand_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)sp_rand_next(s) * n) >> 64);
}

/*
 * The seed of stream i of a run seeded with seed: the threads or jobs
 * of one run draw different numbers, and a run is repeated by its seed.
 * 0, a dead stream, only when seed is SP_RAND_GOLDEN * (i + 1).
 */
static inline uint64_t sp_rand_stream(uint64_t seed, uint64_t i)
{
	return seed ^ (SP_RAND_GOLDEN * (i + 1));
}

#endif
