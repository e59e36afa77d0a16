// SPDX-License-Identifier: MIT
/* Option value parsers: sizes, durations, integers, CPU lists. */
#include <errno.h>

#include "sp_opts.h"
#include "tap.h"

int main(void)
{
	uint64_t v = 7;
	cpu_set_t set;

	TAP_CHECK(!sp_parse_size("4096", &v) && v == 4096, "plain bytes");
	TAP_CHECK(!sp_parse_size("4k", &v) && v == 4096, "4k");
	TAP_CHECK(!sp_parse_size("4KiB", &v) && v == 4096, "4KiB");
	TAP_CHECK(!sp_parse_size("1M", &v) && v == 1 << 20, "1M");
	TAP_CHECK(!sp_parse_size("2g", &v) && v == 2ULL << 30, "2g");
	TAP_CHECK(!sp_parse_size("1t", &v) && v == 1ULL << 40, "1t");
	v = 7;
	TAP_CHECK(sp_parse_size("4x", &v) == -EINVAL && v == 7,
		  "unknown suffix refused, output untouched");
	TAP_CHECK(sp_parse_size("-4k", &v) == -EINVAL, "negative refused");
	TAP_CHECK(sp_parse_size("", &v) == -EINVAL, "empty refused");
	TAP_CHECK(sp_parse_size("99999999999t", &v) == -ERANGE, "overflow refused");

	TAP_CHECK(!sp_parse_duration("10", &v) && v == 10000000000ULL, "bare seconds");
	TAP_CHECK(!sp_parse_duration("250ms", &v) && v == 250000000ULL, "250ms");
	TAP_CHECK(!sp_parse_duration("100us", &v) && v == 100000ULL, "100us");
	TAP_CHECK(!sp_parse_duration("2m", &v) && v == 120000000000ULL, "2m is minutes");
	TAP_CHECK(sp_parse_duration("5 s", &v) == -EINVAL, "space refused");

	TAP_CHECK(!sp_parse_u64("32", 1, 64, &v) && v == 32, "integer in range");
	TAP_CHECK(sp_parse_u64("0", 1, 64, &v) == -ERANGE, "below range");
	TAP_CHECK(sp_parse_u64("65", 1, 64, &v) == -ERANGE, "above range");
	TAP_CHECK(sp_parse_u64("3k", 1, 64, &v) == -EINVAL, "trailing junk");
	TAP_CHECK(!sp_parse_u64("0x10", 0, 64, &v) && v == 16, "hex");

	TAP_CHECK(!sp_parse_cpulist("0-2,5", &set) && CPU_COUNT(&set) == 4 &&
		  CPU_ISSET(0, &set) && CPU_ISSET(2, &set) && CPU_ISSET(5, &set) &&
		  !CPU_ISSET(3, &set), "cpu list 0-2,5");
	TAP_CHECK(sp_parse_cpulist("3-1", &set) == -EINVAL, "reversed range");
	TAP_CHECK(sp_parse_cpulist("1,", &set) == -EINVAL, "trailing comma");
	TAP_CHECK(sp_parse_cpulist("99999", &set) == -ERANGE, "cpu beyond CPU_SETSIZE");
	{
		char buf[32];

		TAP_CHECK(!strcmp(sp_fmt_size(4096, buf, sizeof(buf)), "4KiB"), "format 4KiB");
		TAP_CHECK(!strcmp(sp_fmt_size(1536 << 20, buf, sizeof(buf)), "1.5GiB"),
			  "format 1.5GiB");
	}
	return tap_done();
}
