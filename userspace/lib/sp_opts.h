/* SPDX-License-Identifier: MIT */
/*
 * Parsers for command-line values, shared by every tool so that "4k",
 * "10s" and "0-3,6" mean the same thing everywhere. Each returns 0 or
 * -EINVAL (malformed) / -ERANGE (out of range) and leaves *out alone
 * on error.
 */
#ifndef SP_OPTS_H
#define SP_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sched.h>

#include "sp_version.h"

/*
 * A bad option is reported once, in one line naming it: every tool sets
 * opterr = 0 before getopt_long and calls sp_opt_error(argv, shortopts)
 * when it returns '?' ("unknown option '--bogus'; see --help", "option
 * '--bs' needs a value; see --help").
 */
void sp_opt_error(char *const argv[], const char *shortopts);
/* "invalid --len '3x'; see --help": a value refused, named by its option
 * (opt is what getopt_long returned for it). */
struct option;
void sp_opt_bad_value(const struct option *longopts, int opt, const char *val);

/*
 * The options every tool shares, spelt and handled once. A tool puts
 * SP_OPT_COMMON_LONGOPTS (--help, --json, --version) in its table, and
 * SP_OPT_VERBOSE_LONGOPT / SP_OPT_QUIET_LONGOPT where it has them, and
 * ends its getopt_long switch with
 *
 *	default:
 *		if (sp_opt_common(&common, opt, argv))
 *			return SP_EXIT_USAGE;
 *
 * --help and --version print on stdout and exit 0; --json and --quiet
 * set the tool's flags, -v/--verbose logs debug lines, and these return
 * 0; anything else is a bad option, said in one line (sp_opt_error), and
 * returns -EINVAL. A tool whose -q or -v means something else handles
 * that letter in its own cases first.
 */
#define SP_OPT_JSON	0x7ffd
#define SP_OPT_QUIET	0x7ffc
#define SP_OPT_COMMON_LONGOPTS \
	{ "help", 0, NULL, 'h' }, { "json", 0, NULL, SP_OPT_JSON }, SP_VERSION_LONGOPT
#define SP_OPT_VERBOSE_LONGOPT	{ "verbose", 0, NULL, 'v' }
#define SP_OPT_QUIET_LONGOPT	{ "quiet", 0, NULL, SP_OPT_QUIET }

struct sp_opt_common {
	const char *shortopts;	/* the tool's, for the line about a bad option */
	void (*usage)(FILE *f);	/* --help prints it on stdout */
	bool *json;		/* set by --json; NULL: the tool has none */
	bool *quiet;		/* set by --quiet (and -q); NULL: none */
};

int sp_opt_common(const struct sp_opt_common *c, int opt, char *const argv[]);

/* "4096", "4k", "4K", "1m", "2G", "1t", "4KiB": powers of 1024. */
int sp_parse_size(const char *s, uint64_t *out);
/* "10" (seconds), "250ms", "100us", "5s", "2m", "1h" -> nanoseconds. */
int sp_parse_duration(const char *s, uint64_t *out_ns);
/* Decimal (or 0x hex) integer within [min, max]. */
int sp_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* "0", "0-3", "0,2,4-6" -> a CPU set; refuses CPUs >= CPU_SETSIZE. */
int sp_parse_cpulist(const char *s, cpu_set_t *set);

/* Reads the integer in a small file (sysfs, tracefs); 0 or -errno. */
int sp_read_int_file(const char *path, long long *val);
/* Reads a small file (sysfs) into buf, NUL-terminated; 0 or -errno. */
int sp_read_text_file(const char *path, char *buf, size_t len);
/* Its first line only, without the newline (sysfs attributes, comm). */
int sp_read_line_file(const char *path, char *buf, size_t len);

/* Copies n bytes of a space- or NUL-padded field (NVMe Identify, SCSI
 * INQUIRY) into dst (n + 1 bytes), without the padding. What a device
 * returns is printed and put in JSON: the field ends at its first NUL,
 * and a byte that is not printable ASCII becomes '?'. */
void sp_copy_trimmed(char *dst, const void *src, size_t n);

/* Human-readable size with a binary suffix ("4KiB", "1.5GiB") into buf. */
const char *sp_fmt_size(uint64_t bytes, char *buf, unsigned len);

#endif
