// SPDX-License-Identifier: MIT
/* sp_time: the clock moves forward; nanoseconds to a timespec. */
#include "sp_time.h"
#include "tap.h"

int main(void)
{
	struct timespec ts;
	uint64_t a, b;

	a = sp_now_ns();
	b = sp_now_ns();
	TAP_CHECK(b >= a, "sp_now_ns does not go back");
	ts = sp_ns_to_timespec(0);
	TAP_CHECK(ts.tv_sec == 0 && ts.tv_nsec == 0, "0 ns is a zero timespec");
	ts = sp_ns_to_timespec(999999999ULL);
	TAP_CHECK(ts.tv_sec == 0 && ts.tv_nsec == 999999999L, "just under a second stays in tv_nsec");
	ts = sp_ns_to_timespec(1000000000ULL);
	TAP_CHECK(ts.tv_sec == 1 && ts.tv_nsec == 0, "a second carries into tv_sec");
	ts = sp_ns_to_timespec(20000000123ULL);
	TAP_CHECK(ts.tv_sec == 20 && ts.tv_nsec == 123, "20 s and 123 ns");
	ts = sp_ns_to_timespec(UINT64_MAX);
	TAP_CHECK(ts.tv_sec == (time_t)(UINT64_MAX / 1000000000ULL) && ts.tv_nsec == 709551615L,
	   "the largest count splits without overflow");
	return tap_done();
}
