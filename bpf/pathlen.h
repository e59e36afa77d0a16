/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/* Shared by bpf/pathlen.bpf.c and its loader bench/pathlen_irq.c. */
#ifndef PATHLEN_H
#define PATHLEN_H

#define PATHLEN_MAX_TIDS 4096
#define PATHLEN_MAX_WORKS 1024
#define PATHLEN_NR_SOFTIRQS 10	/* HI .. RCU, include/linux/interrupt.h */

/* per CPU; times in ns of the guest clock (instructions under icount) */
struct pathlen_irq {
	__u64 hardirq_ns;	/* device interrupt handlers */
	__u64 hardirq_n;
	__u64 timer_ns;		/* the local APIC timer (the tick, hrtimers) */
	__u64 timer_n;
	__u64 softirq_ns[PATHLEN_NR_SOFTIRQS];	/* by vector, net of nested irqs */
	__u64 softirq_n[PATHLEN_NR_SOFTIRQS];
};

/* a work function and the kworker that ran it */
struct pathlen_work_key {
	__u64 fn;
	__u32 tid;
	__u32 pad;
};

/* per work function and kworker, net of the interrupts inside it */
struct pathlen_work {
	__u64 ns;
	__u64 n;
};

#endif
