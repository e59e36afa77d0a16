// SPDX-License-Identifier: MIT
/* Verify header: round trip, and every kind of damage is named. */
#include <stdlib.h>
#include <string.h>

#include "sp_verify.h"
#include "tap.h"

/* One bit at a time: slow, and plainly the definition. */
static uint32_t crc32c_bitwise(uint32_t crc, const unsigned char *p, size_t len)
{
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

/*
 * Long buffers go through lanes that are joined afterwards: every
 * length around the lane sizes, odd alignments, and a CRC continued
 * across calls must give what the definition gives.
 */
static void check_crc_lengths(void)
{
	enum { MAX = 3 * 3 * 1024 + 64 };
	unsigned char *buf = malloc(MAX + 8);
	size_t bad = 0, bad_own = 0, tried = 0;
	uint64_t x = 0x243F6A8885A308D3ULL;

	for (size_t i = 0; i < MAX + 8; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	/* every length near a multiple of 1 KiB, some in between */
	for (size_t len = 0; len <= MAX; len += (len + 24) % 1024 < 48 ? 1 : 37) {
		for (size_t align = 0; align < 8; align += 3) {
			uint32_t want = crc32c_bitwise(0x1234, buf + align, len);
			size_t half = len / 3;

			tried++;
			if (sp_crc32c(0x1234, buf + align, len) != want ||
			    sp_crc32c(sp_crc32c(0x1234, buf + align, half), buf + align + half,
				      len - half) != want)
				bad++;
			/* the fallback agrees, whichever sp_crc32c is */
			if (sp_crc32c_own(0x1234, buf + align, len) != want ||
			    sp_crc32c_own(sp_crc32c(0x1234, buf + align, half), buf + align + half,
					  len - half) != want)
				bad_own++;
		}
	}
	TAP_CHECK(bad == 0, "crc32c (%s) matches the bitwise definition (%zu of %zu lengths differ)",
		  sp_crc32c_impl(), bad, tried);
	TAP_CHECK(bad_own == 0, "the own crc32c matches it too, and continues the other "
		  "(%zu of %zu lengths differ)", bad_own, tried);

	/* blocks taken together: any block size, with or without a short tail */
	bad = tried = 0;
	for (size_t blk = 1000; blk <= 4096; blk += blk == 1000 ? 24 : 3072) {
		for (size_t len = 0; len <= MAX; len += len % blk ? blk - len % blk : 13) {
			uint32_t crcs[MAX / 1000 + 1];
			size_t nb = (len + blk - 1) / blk;

			sp_crc32c_blocks(buf + 1, len, blk, crcs);
			tried++;
			for (size_t i = 0; i < nb; i++)
				if (crcs[i] != crc32c_bitwise(0, buf + 1 + i * blk,
							      len - i * blk < blk ? len - i * blk : blk)) {
					bad++;
					break;
				}
		}
	}
	TAP_CHECK(bad == 0, "crc32c of blocks taken together matches (%zu of %zu lengths differ)",
		  bad, tried);
	free(buf);
}

int main(void)
{
	const uint32_t len = 4096;
	unsigned char *blk = malloc(len), *copy = malloc(len);
	struct sp_verify_hdr *h = (struct sp_verify_hdr *)blk;
	char msg[256];

	/* CRC32C check value from RFC 3720 (iSCSI): 32 bytes of zeros. */
	memset(copy, 0, 32);
	TAP_CHECK(sp_crc32c(0, copy, 32) == 0x8A9136AA, "crc32c of 32 zero bytes");
	TAP_CHECK(sp_crc32c(0, "123456789", 9) == 0xE3069283, "crc32c check value");
	check_crc_lengths();

	sp_verify_fill(blk, len, 8192, 7, 3);
	TAP_CHECK(sp_verify_check(blk, len, 8192, 7, 3) == SP_VERIFY_OK, "fresh block verifies");
	TAP_CHECK(sp_verify_check(blk, len, 8192, 7, SP_VERIFY_GEN_ANY) == SP_VERIFY_OK,
		  "any generation accepted when unknown");
	TAP_CHECK(h->offset == 8192 && h->generation == 3 && h->len == len,
		  "header records offset, generation, length");

	memcpy(copy, blk, len);
	copy[len - 1] ^= 1;
	TAP_CHECK(sp_verify_check(copy, len, 8192, 7, 3) == SP_VERIFY_BAD_CRC,
		  "one flipped bit in the payload is caught");
	memcpy(copy, blk, len);
	((struct sp_verify_hdr *)copy)->generation = 2;
	TAP_CHECK(sp_verify_check(copy, len, 8192, 7, 3) == SP_VERIFY_BAD_CRC,
		  "a header edited without the crc is caught");
	TAP_CHECK(sp_verify_check(blk, len, 12288, 7, 3) == SP_VERIFY_BAD_OFFSET,
		  "a block read from the wrong place is caught");
	sp_verify_describe(SP_VERIFY_BAD_OFFSET, blk, 12288, 3, msg, sizeof(msg));
	TAP_CHECK(strstr(msg, "12288") && strstr(msg, "8192"), "message names both offsets: %s", msg);
	TAP_CHECK(sp_verify_check(blk, len, 8192, 8, 3) == SP_VERIFY_BAD_SEED,
		  "another run's data is told apart");
	TAP_CHECK(sp_verify_check(blk, len, 8192, 7, 4) == SP_VERIFY_STALE,
		  "an older generation is a lost write");
	sp_verify_describe(SP_VERIFY_STALE, blk, 8192, 4, msg, sizeof(msg));
	TAP_CHECK(strstr(msg, "stale") != NULL, "stale data is named: %s", msg);
	TAP_CHECK(sp_verify_check(blk, len, 8192, 7, 2) == SP_VERIFY_NEWER,
		  "a newer generation is not a lost write");
	sp_verify_describe(SP_VERIFY_NEWER, blk, 8192, 2, msg, sizeof(msg));
	TAP_CHECK(strstr(msg, "newer") && !strstr(msg, "lost") && !strstr(msg, "stale"),
		  "a newer generation is named as such: %s", msg);
	memset(copy, 0, len);
	TAP_CHECK(sp_verify_check(copy, len, 8192, 7, 3) == SP_VERIFY_BAD_MAGIC,
		  "a zeroed block has no header");
	TAP_CHECK(sp_verify_check(blk, 2048, 8192, 7, 3) == SP_VERIFY_BAD_LEN,
		  "length mismatch caught");
	sp_verify_fill(copy, len, 8192, 7, 3);
	TAP_CHECK(!memcmp(copy, blk, len), "filling is deterministic");
	sp_verify_fill(copy, len, 8192, 7, 4);
	TAP_CHECK(memcmp(copy + sizeof(*h), blk + sizeof(*h), 64) != 0,
		  "another generation writes another pattern");
	free(blk);
	free(copy);
	return tap_done();
}
