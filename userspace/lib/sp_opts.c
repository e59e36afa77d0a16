// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sp_log.h"
#include "sp_opts.h"

static int parse_number(const char *s, uint64_t *val, const char **rest)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (end == s)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*val = v;
	*rest = end;
	return 0;
}

static int mul_checked(uint64_t v, uint64_t mul, uint64_t *out)
{
	if (mul && v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

struct unit {
	const char *sfx;
	uint64_t mul;
};

/* A number followed by one of the units' suffixes (case-insensitive). */
static int parse_scaled(const char *s, const struct unit *units, unsigned n,
			uint64_t *out)
{
	const char *rest;
	uint64_t v;
	int ret = parse_number(s, &v, &rest);

	if (ret)
		return ret;
	for (unsigned i = 0; i < n; i++)
		if (!strcasecmp(rest, units[i].sfx))
			return mul_checked(v, units[i].mul, out);
	return -EINVAL;
}

int sp_parse_size(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ "", 1 }, { "b", 1 },
		{ "k", 1ULL << 10 }, { "kb", 1ULL << 10 }, { "kib", 1ULL << 10 },
		{ "m", 1ULL << 20 }, { "mb", 1ULL << 20 }, { "mib", 1ULL << 20 },
		{ "g", 1ULL << 30 }, { "gb", 1ULL << 30 }, { "gib", 1ULL << 30 },
		{ "t", 1ULL << 40 }, { "tb", 1ULL << 40 }, { "tib", 1ULL << 40 },
	};

	return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), out);
}

int sp_parse_duration(const char *s, uint64_t *out_ns)
{
	static const struct unit units[] = {
		{ "", 1000000000ULL }, { "s", 1000000000ULL },
		{ "ns", 1ULL }, { "us", 1000ULL }, { "ms", 1000000ULL },
		{ "m", 60000000000ULL }, { "min", 60000000000ULL },
		{ "h", 3600000000000ULL },
	};

	return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), out_ns);
}

int sp_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *rest;
	uint64_t v;
	int ret = parse_number(s, &v, &rest);

	if (ret)
		return ret;
	if (*rest)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int sp_parse_cpulist(const char *s, cpu_set_t *set)
{
	cpu_set_t tmp;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	CPU_ZERO(&tmp);
	for (;;) {
		uint64_t lo, hi;
		const char *rest;
		int ret = parse_number(p, &lo, &rest);

		if (ret)
			return ret;
		hi = lo;
		if (*rest == '-') {
			ret = parse_number(rest + 1, &hi, &rest);
			if (ret)
				return ret;
		}
		if (hi < lo)
			return -EINVAL;
		if (hi >= CPU_SETSIZE)
			return -ERANGE;
		for (uint64_t c = lo; c <= hi; c++)
			CPU_SET(c, &tmp);
		if (*rest == '\0')
			break;
		if (*rest != ',')
			return -EINVAL;
		p = rest + 1;
	}
	*set = tmp;
	return 0;
}

const char *sp_fmt_size(uint64_t bytes, char *buf, unsigned len)
{
	static const char *const sfx[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	unsigned i = 0;
	double v = bytes;

	while (v >= 1024 && i < sizeof(sfx) / sizeof(sfx[0]) - 1) {
		v /= 1024;
		i++;
	}
	if (v == (uint64_t)v)
		snprintf(buf, len, "%llu%s", (unsigned long long)v, sfx[i]);
	else
		snprintf(buf, len, "%.1f%s", v, sfx[i]);
	return buf;
}

int sp_read_text_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	return 0;
}

int sp_read_line_file(const char *path, char *buf, size_t len)
{
	int ret = sp_read_text_file(path, buf, len);

	if (!ret)
		buf[strcspn(buf, "\n")] = '\0';
	return ret;
}

int sp_read_int_file(const char *path, long long *val)
{
	char buf[32];
	int ret = sp_read_text_file(path, buf, sizeof(buf));

	if (ret)
		return ret;
	*val = strtoll(buf, NULL, 0);
	return 0;
}

void sp_copy_trimmed(char *dst, const void *src, size_t n)
{
	const unsigned char *s = src;
	size_t i;

	for (i = 0; i < n && s[i]; i++)
		dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	dst[i] = '\0';
	while (i && dst[i - 1] == ' ')
		dst[--i] = '\0';
}

void sp_opt_error(char *const argv[], const char *shortopts)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	const char *sc = optopt > 0 && optopt < 256 ? strchr(shortopts, optopt) : NULL;

	if (arg && !strncmp(arg, "--", 2)) {
		int n = (int)strcspn(arg, "=");

		/* a long option getopt knows, given without its value */
		if (optopt)
			sp_err("option '%.*s' needs a value; see --help", n, arg);
		else
			sp_err("unknown option '%.*s'; see --help", n, arg);
	} else if (sc && sc[1] == ':') {
		sp_err("option '-%c' needs a value; see --help", optopt);
	} else {
		sp_err("unknown option '-%c'; see --help", optopt ? optopt : '?');
	}
}

int sp_opt_common(const struct sp_opt_common *c, int opt, char *const argv[])
{
	switch (opt) {
	case 'h':
		if (c->usage) {
			c->usage(stdout);
			exit(SP_EXIT_OK);
		}
		break;
	case SP_OPT_VERSION:
		sp_version_print(stdout, sp_prog());
		exit(SP_EXIT_OK);
	case SP_OPT_JSON:
		if (c->json) {
			*c->json = true;
			return 0;
		}
		break;
	case 'q':
	case SP_OPT_QUIET:
		if (c->quiet) {
			*c->quiet = true;
			return 0;
		}
		break;
	case 'v':
		sp_log_set_level(SP_LOG_DEBUG);
		return 0;
	}
	sp_opt_error(argv, c->shortopts ? c->shortopts : "");
	return -EINVAL;
}

void sp_opt_bad_value(const struct option *longopts, int opt, const char *val)
{
	for (const struct option *o = longopts; o && o->name; o++)
		if (o->val == opt && !o->flag) {
			sp_err("invalid --%s '%s'; see --help", o->name, val);
			return;
		}
	if (opt > 0 && opt < 256)
		sp_err("invalid -%c '%s'; see --help", opt, val);
	else
		sp_err("invalid value '%s'; see --help", val);
}
