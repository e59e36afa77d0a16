/* SPDX-License-Identifier: MIT */
/*
 * Shared by bpf/xsk_redirect.bpf.c and userspace/serve/xdp_cache.c: the hot
 * block cache that answers the xdp mode's one-unit requests in XDP.
 *
 * A unit is one SP_X_PAYLOAD-aligned KiB of a served file, the payload
 * of one DATA frame (the last unit of a file may be shorter). A REQ is
 * cacheable when its offset is unit-aligned and its length is 1..1 KiB:
 * the reply is then exactly one DATA frame.
 */
#ifndef SP_XSK_REDIRECT_H
#define SP_XSK_REDIRECT_H

#define XC_UNIT		1024u		/* == SP_X_PAYLOAD */
#define XC_GEN_SLOTS	65536u		/* generation counters, hashed by unit */

struct xc_key {
	__u32 file;
	__u32 pad;
	__u64 unit;			/* file offset / XC_UNIT */
};

/*
 * gen: the generation of the unit's slot when the data was read; the
 * entry is served only while the slot still has it. The key is repeated
 * so that the program can see that an LRU element was recycled for
 * another unit while it copied from it.
 */
struct xc_val {
	__u64 gen;
	struct xc_key key;
	__u32 crc;			/* CRC32C of data[0..len) (the DATA aux) */
	__u16 len;			/* bytes of the unit */
	__u16 sum;			/* RFC 1071 sum of data, big-endian words, folded */
	__u8 data[XC_UNIT];
};

/* Per-CPU counters of the program, indices into the stats array. */
enum xc_stat {
	XC_HIT,		/* answered with XDP_TX */
	XC_MISS,	/* cacheable, not answered: absent, stale or torn */
	XC_STALE,	/* ... of which: an entry of an older generation */
	XC_TORN,	/* ... of which: the entry changed while copied */
	XC_BYPASS,	/* our port, not cacheable: to the socket */
	XC_NOROOM,	/* of the misses: the frame could not grow to the reply */
	XC_NR_STATS,
};

/* The generation slot of a unit: collisions only cost extra misses. */
static inline __u32 xc_slot(__u32 file, __u64 unit)
{
	__u64 h = (unit ^ ((__u64)file << 40)) * 0x9E3779B97F4A7C15ULL;

	return (__u32)(h >> 48) & (XC_GEN_SLOTS - 1);
}

#endif
