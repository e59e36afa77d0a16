/* SPDX-License-Identifier: MIT */
/*
 * Logging for every shortpath tool. Errors are reported once, at the
 * edge (main), with the cause in words; library code returns -errno
 * and stays quiet, except for notices about features it disabled.
 */
#ifndef SP_LOG_H
#define SP_LOG_H

#include <stdbool.h>

enum sp_log_level {
	SP_LOG_ERROR,
	SP_LOG_WARN,
	SP_LOG_NOTICE,
	SP_LOG_INFO,
	SP_LOG_DEBUG,
};

void sp_log_init(const char *prog, enum sp_log_level level);
void sp_log_set_level(enum sp_log_level level);
bool sp_log_enabled(enum sp_log_level level);
const char *sp_prog(void);
void sp_log(enum sp_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define sp_err(...)    sp_log(SP_LOG_ERROR, __VA_ARGS__)
#define sp_warn(...)   sp_log(SP_LOG_WARN, __VA_ARGS__)
#define sp_notice(...) sp_log(SP_LOG_NOTICE, __VA_ARGS__)
#define sp_info(...)   sp_log(SP_LOG_INFO, __VA_ARGS__)
#define sp_dbg(...)    sp_log(SP_LOG_DEBUG, __VA_ARGS__)

/* Exit codes shared by every tool. */
enum {
	SP_EXIT_OK = 0,
	SP_EXIT_FAIL = 1,	/* I/O or runtime failure */
	SP_EXIT_USAGE = 2,	/* bad usage or bad input; nothing changed */
};

#endif
