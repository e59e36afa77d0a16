// SPDX-License-Identifier: MIT
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "sp_opts.h"
#include "sp_sysfs.h"
#include "sp_tsc.h"

#define CLOCKSOURCES "/sys/devices/system/clocksource/clocksource0/available_clocksource"

bool sp_tsc_invariant(void)
{
#if defined(__x86_64__)
	unsigned a, b, c, d;

	if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007)
		return false;
	__get_cpuid(0x80000007, &a, &b, &c, &d);
	return d & (1u << 8);
#else
	return false;
#endif
}

bool sp_tsc_kernel_synced(void)
{
	char path[4096], buf[256], *tok, *save = NULL;

	if (sp_sysfs_path(path, sizeof(path), "%s", CLOCKSOURCES) ||
	    sp_read_line_file(path, buf, sizeof(buf)))
		return false;
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		if (!strcmp(tok, "tsc"))
			return true;
	return false;
}

int sp_tsc_set_hz(struct sp_tsc *c, uint64_t hz)
{
	/* mult = 2^32 * 1e9 / hz, at least 1: hz at most 2^32 GHz */
	if (hz == 0 || hz > (1000000000ULL << 32))
		return -EINVAL;
	c->hz = hz;
	c->mult = (uint64_t)(((unsigned __int128)1000000000ULL << 32) / hz);
	return 0;
}

static uint64_t raw_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * One (counter, time) pair: the counter read between two clock reads,
 * the time their midpoint; of a few tries the one whose clock reads lay
 * closest together, so that a preemption between them does not count.
 */
static void sample(uint64_t *ticks, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 5; i++) {
		uint64_t t0 = raw_ns(), tsc = sp_tsc_read(), t1 = raw_ns();

		if (t1 - t0 < best) {
			best = t1 - t0;
			*ticks = tsc;
			*ns = t0 + (t1 - t0) / 2;
		}
	}
}

int sp_tsc_init(struct sp_tsc *c, unsigned calib_ms, char *why, size_t len)
{
	memset(c, 0, sizeof(*c));
	if (!sp_tsc_invariant()) {
		snprintf(why, len, "the CPU does not report an invariant time-stamp counter");
		return -ENOTSUP;
	}
	c->synced = sp_tsc_kernel_synced();
	if (calib_ms == 0 || calib_ms > 10000)
		calib_ms = 20;
	/* both samples on one CPU: counters of two need not agree */
	for (int tries = 0; tries < 3; tries++) {
		struct timespec nap = { .tv_sec = calib_ms / 1000,
					.tv_nsec = (long)(calib_ms % 1000) * 1000000L };
		uint64_t tk0 = 0, ns0 = 0, tk1 = 0, ns1 = 0;
		int cpu = sched_getcpu();

		sample(&tk0, &ns0);
		while (nanosleep(&nap, &nap) && errno == EINTR)
			;
		sample(&tk1, &ns1);
		if (sched_getcpu() != cpu && !c->synced)
			continue;
		if (tk1 <= tk0 || ns1 <= ns0)
			break;
		/* 100 MHz to 100 GHz: anything else is not a working counter */
		uint64_t hz = (uint64_t)((unsigned __int128)(tk1 - tk0) * 1000000000ULL / (ns1 - ns0));
		if (hz < 100000000ULL || hz > 100000000000ULL) {
			snprintf(why, len, "the time-stamp counter calibrated to %llu Hz",
				 (unsigned long long)hz);
			return -EIO;
		}
		return sp_tsc_set_hz(c, hz);
	}
	snprintf(why, len, "the time-stamp counter could not be calibrated "
		 "(it went back, or the thread kept moving between CPUs)");
	return -EIO;
}
