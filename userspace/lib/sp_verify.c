// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sp_verify.h"

#if defined(__has_include)
#if __has_include(<isa-l/crc.h>)
#include <isa-l/crc.h>
#define SP_HAVE_ISAL 1
#endif
#endif
#ifndef SP_HAVE_ISAL
#define SP_HAVE_ISAL 0
#endif

/* CRC32C (Castagnoli), reflected polynomial 0x82F63B78. */
static uint32_t crc_table[8][256];

/*
 * The crc32 instruction takes three cycles, but a new one can start
 * every cycle: one chain of them runs the unit at a third of its speed,
 * and the CRC of what sp-fetch receives was a third of its CPU time.
 * So long buffers go as three lanes of LANE bytes side by side, joined
 * afterwards. The CRC register is linear: going over A then B gives
 * shift(reg after A) ^ (reg after B alone, from 0), where shift moves a
 * register over LANE zero bytes. That is a fixed linear map of 32 bits,
 * tabulated here one byte of the register at a time.
 */
#define LANE 1024
static uint32_t lane_shift[4][256];

static uint32_t shift_over_zeros(uint32_t reg, unsigned n)
{
	while (n--)
		reg = crc_table[0][reg & 0xff] ^ (reg >> 8);
	return reg;
}

static void lane_shift_init(void)
{
	uint32_t bit[32];

	for (unsigned i = 0; i < 32; i++)
		bit[i] = shift_over_zeros(1u << i, LANE);
	for (unsigned t = 0; t < 4; t++)
		for (unsigned b = 0; b < 256; b++) {
			uint32_t v = 0;

			for (unsigned i = 0; i < 8; i++)
				if (b & 1u << i)
					v ^= bit[t * 8 + i];
			lane_shift[t][b] = v;
		}
}

static inline uint32_t lane_shift_reg(uint32_t reg)
{
	return lane_shift[0][reg & 0xff] ^ lane_shift[1][(reg >> 8) & 0xff] ^
	       lane_shift[2][(reg >> 16) & 0xff] ^ lane_shift[3][reg >> 24];
}

static void __attribute__((constructor)) crc_table_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (unsigned i = 0; i < 256; i++)
		for (unsigned t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
	lane_shift_init();
}

#if defined(__x86_64__)
/*
 * Three independent chains over n bytes each, at p, p + stride and
 * p + 2 * stride, from and into reg[]: the crc32 unit takes a new one
 * every cycle while each waits three for its result.
 */
__attribute__((target("sse4.2")))
static inline void crc32c_hw_x3(const unsigned char *p, size_t stride, size_t n,
				uint32_t reg[3])
{
	const unsigned char *q = p + stride, *r = p + 2 * stride;
	uint64_t a = reg[0], b = reg[1], d = reg[2];
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t va, vb, vd;

		memcpy(&va, p + i, 8);
		memcpy(&vb, q + i, 8);
		memcpy(&vd, r + i, 8);
		a = __builtin_ia32_crc32di(a, va);
		b = __builtin_ia32_crc32di(b, vb);
		d = __builtin_ia32_crc32di(d, vd);
	}
	for (; i < n; i++) {
		a = __builtin_ia32_crc32qi((uint32_t)a, p[i]);
		b = __builtin_ia32_crc32qi((uint32_t)b, q[i]);
		d = __builtin_ia32_crc32qi((uint32_t)d, r[i]);
	}
	reg[0] = (uint32_t)a;
	reg[1] = (uint32_t)b;
	reg[2] = (uint32_t)d;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t c;

	for (; len >= 3 * LANE; len -= 3 * LANE, p += 3 * LANE) {
		uint32_t reg[3] = { crc, 0, 0 };

		crc32c_hw_x3(p, LANE, LANE, reg);
		crc = lane_shift_reg(lane_shift_reg(reg[0]) ^ reg[1]) ^ reg[2];
	}
	c = crc;
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}

/* Three whole blocks at a time, each CRC its own chain: how many were done. */
__attribute__((target("sse4.2")))
static size_t crc32c_hw_blocks(const unsigned char *p, size_t len, size_t blk, uint32_t *crcs)
{
	size_t done = 0;

	for (; len >= 3 * blk; len -= 3 * blk, p += 3 * blk, done += 3) {
		uint32_t reg[3] = { ~0u, ~0u, ~0u };

		crc32c_hw_x3(p, blk, blk, reg);
		for (int k = 0; k < 3; k++)
			crcs[done + k] = ~reg[k];
	}
	return done;
}
#endif

static uint32_t crc32c_sw(uint32_t crc, const unsigned char *p, size_t len)
{
	/* slice-by-8: eight table look-ups per 8 bytes */
	for (; len >= 8; len -= 8, p += 8) {
		uint32_t lo, hi;

		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
		lo ^= crc;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

uint32_t sp_crc32c_own(uint32_t crc, const void *buf, size_t len)
{
	crc = ~crc;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc32c_hw(crc, buf, len);
#endif
	return ~crc32c_sw(crc, buf, len);
}

#if SP_HAVE_ISAL
/*
 * ISA-L picks the fastest kernel the CPU has (PCLMULQDQ folding, several
 * crc32 streams) at run time. Its crc32_iscsi neither inverts nor takes
 * more than INT_MAX bytes at once.
 */
uint32_t sp_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	crc = ~crc;
	while (len) {
		int n = len > (1u << 30) ? 1 << 30 : (int)len;

		crc = crc32_iscsi((unsigned char *)p, n, crc);
		p += n;
		len -= n;
	}
	return ~crc;
}
#else
uint32_t sp_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return sp_crc32c_own(crc, buf, len);
}
#endif

const char *sp_crc32c_impl(void)
{
	return SP_HAVE_ISAL ? "isa-l" : "own";
}

void sp_crc32c_blocks(const void *buf, size_t len, size_t blk, uint32_t *crcs)
{
	const unsigned char *p = buf;

	if (!blk)
		return;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2")) {
		size_t done = crc32c_hw_blocks(p, len, blk, crcs);

		p += done * blk;
		len -= done * blk;
		crcs += done;
	}
#endif
	for (; len; crcs++) {
		size_t n = len < blk ? len : blk;

		*crcs = sp_crc32c(0, p, n);
		p += n;
		len -= n;
	}
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint32_t block_crc(const void *buf, uint32_t len)
{
	const struct sp_verify_hdr *h = buf;
	uint32_t zero = 0, crc;

	crc = sp_crc32c(0, buf, offsetof(struct sp_verify_hdr, crc));
	crc = sp_crc32c(crc, &zero, sizeof(zero));
	return sp_crc32c(crc, (const char *)buf + sizeof(h->magic) + sizeof(h->crc),
			 len - sizeof(h->magic) - sizeof(h->crc));
}

void sp_verify_fill(void *buf, uint32_t len, uint64_t offset, uint64_t seed,
		    uint32_t gen)
{
	struct sp_verify_hdr *h = buf;
	uint64_t state = seed ^ (offset * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)gen << 32);
	unsigned char *p = (unsigned char *)buf + sizeof(*h);
	uint32_t left = len - sizeof(*h);

	h->magic = SP_VERIFY_MAGIC;
	h->crc = 0;
	h->offset = offset;
	h->seed = seed;
	h->generation = gen;
	h->len = len;
	for (; left >= 8; left -= 8, p += 8) {
		uint64_t v = splitmix64(&state);

		memcpy(p, &v, 8);
	}
	if (left) {
		uint64_t v = splitmix64(&state);

		memcpy(p, &v, left);
	}
	h->crc = block_crc(buf, len);
}

enum sp_verify_result sp_verify_check(const void *buf, uint32_t len,
				      uint64_t offset, uint64_t seed,
				      uint32_t expect_gen)
{
	const struct sp_verify_hdr *h = buf;

	if (h->magic != SP_VERIFY_MAGIC)
		return SP_VERIFY_BAD_MAGIC;
	if (h->len != len)
		return SP_VERIFY_BAD_LEN;
	if (h->crc != block_crc(buf, len))
		return SP_VERIFY_BAD_CRC;
	if (h->offset != offset)
		return SP_VERIFY_BAD_OFFSET;
	if (h->seed != seed)
		return SP_VERIFY_BAD_SEED;
	if (expect_gen != SP_VERIFY_GEN_ANY && h->generation < expect_gen)
		return SP_VERIFY_STALE;
	if (expect_gen != SP_VERIFY_GEN_ANY && h->generation > expect_gen)
		return SP_VERIFY_NEWER;
	return SP_VERIFY_OK;
}

const char *sp_verify_describe(enum sp_verify_result r, const void *buf,
			       uint64_t offset, uint32_t expect_gen,
			       char *msg, size_t len)
{
	const struct sp_verify_hdr *h = buf;

	switch (r) {
	case SP_VERIFY_OK:
		snprintf(msg, len, "block at offset %llu is intact",
			 (unsigned long long)offset);
		break;
	case SP_VERIFY_BAD_MAGIC:
		snprintf(msg, len, "offset %llu: no verify header (magic 0x%08x): "
			 "never written in verify mode, or overwritten",
			 (unsigned long long)offset, h->magic);
		break;
	case SP_VERIFY_BAD_LEN:
		snprintf(msg, len, "offset %llu: header says block length %u",
			 (unsigned long long)offset, h->len);
		break;
	case SP_VERIFY_BAD_CRC:
		snprintf(msg, len, "offset %llu: checksum mismatch: data corrupted",
			 (unsigned long long)offset);
		break;
	case SP_VERIFY_BAD_OFFSET:
		snprintf(msg, len, "offset %llu: block belongs at offset %llu "
			 "(misdirected write or read)", (unsigned long long)offset,
			 (unsigned long long)h->offset);
		break;
	case SP_VERIFY_BAD_SEED:
		snprintf(msg, len, "offset %llu: written with seed %llu, not this "
			 "run's (use --verify-seed to check data of another run)",
			 (unsigned long long)offset, (unsigned long long)h->seed);
		break;
	case SP_VERIFY_STALE:
		snprintf(msg, len, "offset %llu: stale data: generation %u, last "
			 "acknowledged write was generation %u (lost write)",
			 (unsigned long long)offset, h->generation, expect_gen);
		break;
	case SP_VERIFY_NEWER:
		snprintf(msg, len, "offset %llu: generation %u, newer than this run's "
			 "last write (generation %u): another writer with the same seed "
			 "wrote the block (generations are counted per run, from 1)",
			 (unsigned long long)offset, h->generation, expect_gen);
		break;
	}
	return msg;
}
