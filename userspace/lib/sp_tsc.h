/* SPDX-License-Identifier: MIT */
#ifndef SP_TSC_H
#define SP_TSC_H

/*
 * The CPU's time-stamp counter as a clock for intervals: one instruction
 * per read, where CLOCK_MONOTONIC's vDSO read touches the vDSO's code,
 * its data page and, under a paravirtual clock, the hypervisor's page
 * too, or is a system call itself where the clocksource has no vDSO.
 *
 * Trusted only where the CPU says its counter is invariant (constant
 * rate in every P- and C-state). Counters of two CPUs are compared only
 * where the kernel keeps "tsc" among its clocksources, having checked
 * that they are in step; elsewhere a reader must stay on one CPU.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sp_tsc {
	uint64_t hz;		/* ticks per second, calibrated */
	uint64_t mult;		/* ns = ticks * mult >> 32 */
	bool synced;		/* the kernel trusts the CPUs' counters to agree */
};

/*
 * Probes the CPU and calibrates the counter against CLOCK_MONOTONIC_RAW
 * over about calib_ms milliseconds. 0, or -ENOTSUP (no invariant
 * counter, or not x86-64) or -EIO (calibration out of bounds) with the
 * cause in why.
 */
int sp_tsc_init(struct sp_tsc *c, unsigned calib_ms, char *why, size_t len);

/* The kernel lists tsc as an available clocksource (read from sysfs). */
bool sp_tsc_kernel_synced(void);

/* CPUID says the counter is invariant (leaf 0x80000007, EDX bit 8). */
bool sp_tsc_invariant(void);

static inline uint64_t sp_tsc_read(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;

	/* No fence: the intervals measured here are bracketed by system
	 * calls or by the loads that observe a completion, and a read
	 * moved by a few instructions is far below the resolution wanted. */
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
#else
	return 0;
#endif
}

/* Ticks to nanoseconds, exact to the calibration (for a count whose
 * nanoseconds fit 64 bits: any count at 1 GHz and above). */
static inline uint64_t sp_tsc_ns(const struct sp_tsc *c, uint64_t ticks)
{
	return (uint64_t)(((unsigned __int128)ticks * c->mult) >> 32);
}

/* Sets mult for hz ticks per second; -EINVAL when hz is 0 or so high
 * (over 2^32 GHz) that mult would be 0. For the unit test and for
 * callers that know the rate. */
int sp_tsc_set_hz(struct sp_tsc *c, uint64_t hz);

#endif
