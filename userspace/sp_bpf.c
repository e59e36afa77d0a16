// SPDX-License-Identifier: MIT
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sp_bpf.h"
#include "sp_log.h"
#include "sp_stats.h"

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	if (!sp_log_enabled(SP_LOG_DEBUG))
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	sp_dbg("libbpf: %s", line);
	return 0;
}

void sp_bpf_init(void)
{
	libbpf_set_print(libbpf_print);
	if (!sp_tracefs_path())
		sp_dbg("tracefs is not mounted: tracepoints will not attach");
}
