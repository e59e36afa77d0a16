/* SPDX-License-Identifier: MIT */
/* Shared by bpf/iolat.bpf.c and tracing/iolat.c. */
#ifndef SP_IOLAT_H
#define SP_IOLAT_H

#define IOLAT_SLOTS 32		/* log2 buckets: [2^k, 2^(k+1)) */

enum iolat_layer {
	IOLAT_BLK_QUEUE,	/* block: inserted in the queue -> issued to the driver */
	IOLAT_DEVICE,		/* driver + device: issued -> completed */
	IOLAT_BLK_TOTAL,	/* block layer end to end: first seen -> completed */
	IOLAT_LAYERS,
};

struct iolat_key {
	__u32 layer;
	__u32 dev;		/* major << 20 | minor, 0 unless per disk */
	__u32 op;		/* REQ_OP_*, or ~0 unless per operation */
	__u32 pad;
};

struct iolat_hist {
	__u64 slots[IOLAT_SLOTS];
	__u64 count;
	__u64 sum;		/* in the report's unit */
};

/* io_uring requests of one process, and how many went to io-wq */
struct iolat_punts {
	__u64 submitted;
	__u64 punted;
	char comm[16];
};

#endif
