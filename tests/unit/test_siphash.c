// SPDX-License-Identifier: MIT
/* SipHash-2-4 (sp_siphash.h) against the test vectors of its paper. */
#include <stdint.h>

#include "sp_siphash.h"
#include "tap.h"

int main(void)
{
	uint8_t key[16], msg[64];
	uint64_t h;
	bool keyed = false;

	for (int i = 0; i < 16; i++)
		key[i] = i;
	for (int i = 0; i < 64; i++)
		msg[i] = i;
	/* key 00..0f, message 00..(n-1): Appendix A of the paper and its
	 * reference implementation's table */
	TAP_CHECK(sp_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ull, "empty message");
	TAP_CHECK(sp_siphash24(key, msg, 15) == 0xa129ca6149be45e5ull, "15 bytes (the paper's example)");
	h = sp_siphash24(key, msg, 8);
	TAP_CHECK(h != sp_siphash24(key, msg, 7) && h != sp_siphash24(key, msg, 9),
		  "the length counts, not only the bytes");
	for (int i = 0; i < 16 && !keyed; i++) {
		key[i] ^= 1;
		keyed = sp_siphash24(key, msg, 12) != sp_siphash24((uint8_t[16]){ 0 }, msg, 12);
	}
	TAP_CHECK(keyed, "the key changes the hash");
	return tap_done();
}
