// SPDX-License-Identifier: MIT
/*
 * SipHash-2-4, from the algorithm's description: four 64-bit words of
 * state from the key, two SipRounds per 8-byte little-endian word of
 * the message, the last word padded with zeros and the length in its
 * top byte, then 0xff into v2 and four rounds.
 */
#include <string.h>

#include "sp_siphash.h"

static inline uint64_t rotl(uint64_t v, unsigned n)
{
	return v << n | v >> (64 - n);
}

static inline uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#define SIPROUND()						\
	do {							\
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0;		\
		v0 = rotl(v0, 32);				\
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;		\
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;		\
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2;		\
		v2 = rotl(v2, 32);				\
	} while (0)

uint64_t sp_siphash24(const uint8_t key[SP_SIPHASH_KEY_LEN], const void *msg, size_t len)
{
	const uint8_t *p = msg;
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
	uint8_t last[8] = { 0 };
	uint64_t m;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(p + i);
		v3 ^= m;
		SIPROUND();
		SIPROUND();
		v0 ^= m;
	}
	memcpy(last, p + i, len - i);
	m = le64(last) | (uint64_t)(len & 0xff) << 56;
	v3 ^= m;
	SIPROUND();
	SIPROUND();
	v0 ^= m;
	v2 ^= 0xff;
	SIPROUND();
	SIPROUND();
	SIPROUND();
	SIPROUND();
	return v0 ^ v1 ^ v2 ^ v3;
}
