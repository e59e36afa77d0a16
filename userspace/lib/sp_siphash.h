/* SPDX-License-Identifier: MIT */
/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit hash, a
 * pseudo-random function for short inputs. Whoever lacks the 128-bit
 * key can neither compute nor predict it, which is what a token that
 * proves an address needs (sp_proto.c); a CRC is linear and could be
 * forged from one known token.
 */
#ifndef SP_SIPHASH_H
#define SP_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SP_SIPHASH_KEY_LEN 16

uint64_t sp_siphash24(const uint8_t key[SP_SIPHASH_KEY_LEN], const void *msg, size_t len);

#endif
