// SPDX-License-Identifier: MIT
/* sp_tsc: tick conversion, the kernel's word on the counters, calibration. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sp_sysfs.h"
#include "sp_tsc.h"
#include "tap.h"

static char root[PATH_MAX];

/* the fake tree's list of clocksources; NULL: no such file */
static bool synced_with(const char *list)
{
	char path[PATH_MAX + 128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/sys/devices/system/clocksource/clocksource0/"
		 "available_clocksource", root);
	unlink(path);
	if (list) {
		f = fopen(path, "w");
		if (!f)
			return false;
		fputs(list, f);
		fclose(f);
	}
	return sp_tsc_kernel_synced();
}

static uint64_t raw_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int main(void)
{
	struct sp_tsc c;
	char why[256] = "", cmd[PATH_MAX + 64];
	int ret;

	TAP_CHECK(sp_tsc_set_hz(&c, 1000000000ULL) == 0 && sp_tsc_ns(&c, 1234) == 1234,
		  "at 1 GHz a tick is a nanosecond");
	TAP_CHECK(sp_tsc_ns(&c, UINT64_MAX) == UINT64_MAX,
		  "the largest count converts without overflow");
	TAP_CHECK(sp_tsc_set_hz(&c, 2500000000ULL) == 0 &&
		  sp_tsc_ns(&c, 2500000000ULL) >= 999999999ULL &&
		  sp_tsc_ns(&c, 2500000000ULL) <= 1000000000ULL,
		  "at 2.5 GHz 2.5e9 ticks are a second (%llu ns)",
		  (unsigned long long)sp_tsc_ns(&c, 2500000000ULL));
	TAP_CHECK(sp_tsc_ns(&c, 25) >= 9 && sp_tsc_ns(&c, 25) <= 10,
		  "25 ticks at 2.5 GHz are 10 ns, or 9 rounded down");
	TAP_CHECK(sp_tsc_set_hz(&c, 0) == -EINVAL, "0 Hz is refused");
	TAP_CHECK(sp_tsc_set_hz(&c, 1) == 0 && sp_tsc_ns(&c, 3) == 3000000000ULL,
		  "1 Hz: a tick is a second");

	snprintf(root, sizeof(root), "%s/sp-tsc.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/sys/devices/system/clocksource/clocksource0'", root);
	if (system(cmd))
		return 1;
	sp_sysfs_set_root(root);
	TAP_CHECK(synced_with("tsc hpet acpi_pm \n"), "tsc listed first: in step");
	TAP_CHECK(synced_with("kvm-clock tsc\n"), "tsc listed after another: in step");
	TAP_CHECK(!synced_with("kvm-clock \n"), "tsc not listed: not in step");
	TAP_CHECK(!synced_with("tsc-early hpet\n"), "a name that starts with tsc is not tsc");
	TAP_CHECK(!synced_with(NULL), "no clocksource file: not in step");
	sp_sysfs_set_root(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd))
		return 1;

	ret = sp_tsc_init(&c, 20, why, sizeof(why));
	if (!sp_tsc_invariant()) {
		TAP_CHECK(ret == -ENOTSUP && why[0], "no invariant counter: refused (%s)", why);
		printf("ok %d # SKIP calibration: %s\n", ++tap_n, why);
		return tap_done();
	}
	TAP_CHECK(ret == 0, "calibrates (%d: %s)", ret, why);
	if (ret == 0) {
		/* the same interval on both clocks, 30 ms, on one CPU */
		cpu_set_t one;
		uint64_t t0, k0, t1, k1, ns;
		struct timespec nap = { .tv_nsec = 30000000L };

		CPU_ZERO(&one);
		CPU_SET(sched_getcpu(), &one);
		sched_setaffinity(0, sizeof(one), &one);
		t0 = raw_ns();
		k0 = sp_tsc_read();
		nanosleep(&nap, NULL);
		k1 = sp_tsc_read();
		t1 = raw_ns();
		ns = sp_tsc_ns(&c, k1 - k0);
		/* the tick count lies inside the clock's bracket, give or take
		 * 2 % for the calibration and a preemption between reads */
		TAP_CHECK(ns <= (t1 - t0) * 102 / 100 && ns >= (t1 - t0) * 98 / 100 - 200000,
			  "30 ms on the counter is 30 ms on the clock (%llu ns against %llu ns, %llu Hz)",
			  (unsigned long long)ns, (unsigned long long)(t1 - t0),
			  (unsigned long long)c.hz);
	}
	return tap_done();
}
