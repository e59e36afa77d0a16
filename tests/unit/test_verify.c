// SPDX-License-Identifier: MIT
/* Verify header: round trip, and every kind of damage is named. */
#include <stdlib.h>
#include <string.h>

#include "sp_verify.h"
#include "tap.h"

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
