// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sp_log.h"

static const char *log_prog = "shortpath";
static enum sp_log_level log_level = SP_LOG_NOTICE;

void sp_log_init(const char *prog, enum sp_log_level level)
{
	const char *slash = strrchr(prog, '/');

	log_prog = slash ? slash + 1 : prog;
	log_level = level;
}

void sp_log_set_level(enum sp_log_level level)
{
	log_level = level;
}

bool sp_log_enabled(enum sp_log_level level)
{
	return level <= log_level;
}

const char *sp_prog(void)
{
	return log_prog;
}

void sp_log(enum sp_log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = {
		[SP_LOG_ERROR] = "error: ",
		[SP_LOG_WARN] = "warning: ",
		[SP_LOG_NOTICE] = "",
		[SP_LOG_INFO] = "",
		[SP_LOG_DEBUG] = "debug: ",
	};
	char line[1024];
	va_list ap;

	if (!sp_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line so that lines of concurrent threads never mix. */
	fprintf(stderr, "%s: %s%s\n", log_prog, prefix[level], line);
}
