/* SPDX-License-Identifier: MIT */
/*
 * Verify headers: every block written in verify mode starts with a
 * header naming where it belongs and which write produced it, followed
 * by a pseudo-random pattern derived from the same fields; a CRC32C of
 * the whole block (with the crc field zero) seals it. A read checks
 * magic, offset, seed, length, generation (when known) and the CRC, so
 * torn, misplaced, stale and bit-flipped blocks are all caught.
 */
#ifndef SP_VERIFY_H
#define SP_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#define SP_VERIFY_MAGIC 0x46565053u	/* "SPVF" little-endian */

struct sp_verify_hdr {
	uint32_t magic;
	uint32_t crc;		/* CRC32C of the block, this field zeroed */
	uint64_t offset;	/* byte offset of the block on the target */
	uint64_t seed;		/* run seed: tells runs apart */
	uint32_t generation;	/* 1 for the first write of a block, then +1 */
	uint32_t len;		/* block length in bytes */
};

enum sp_verify_result {
	SP_VERIFY_OK = 0,
	SP_VERIFY_BAD_MAGIC,
	SP_VERIFY_BAD_OFFSET,
	SP_VERIFY_BAD_SEED,
	SP_VERIFY_BAD_LEN,
	SP_VERIFY_BAD_CRC,
	SP_VERIFY_STALE,	/* older generation than the last acknowledged write */
	SP_VERIFY_NEWER,	/* newer generation than any write this run made */
};

/* Any generation is accepted when the expected one is unknown. */
#define SP_VERIFY_GEN_ANY 0u

/*
 * CRC32C (Castagnoli, as iSCSI and NVMe use it), continued from crc (0 to
 * start). Through ISA-L where it was there at build time, else the
 * project's own code, which sp_crc32c_own always is (tests compare them);
 * sp_crc32c_impl says which: "isa-l" or "own".
 */
uint32_t sp_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t sp_crc32c_own(uint32_t crc, const void *buf, size_t len);
const char *sp_crc32c_impl(void);
/*
 * The CRC32C of each blk bytes of buf (the last piece may be shorter)
 * into crcs[], as sp_crc32c(0, ...) would give them: several blocks
 * share the CPU's CRC unit at once, three times as fast on x86 as
 * taking them one by one.
 */
void sp_crc32c_blocks(const void *buf, size_t len, size_t blk, uint32_t *crcs);
/* Fill buf (len >= sizeof(hdr)) as the block at offset, generation gen. */
void sp_verify_fill(void *buf, uint32_t len, uint64_t offset, uint64_t seed,
		    uint32_t gen);
enum sp_verify_result sp_verify_check(const void *buf, uint32_t len,
				      uint64_t offset, uint64_t seed,
				      uint32_t expect_gen);
/* Words for a result, and details of what was found, into msg. */
const char *sp_verify_describe(enum sp_verify_result r, const void *buf,
			       uint64_t offset, uint32_t expect_gen,
			       char *msg, size_t len);

#endif
