/* SPDX-License-Identifier: MIT */
/*
 * Process-wide cost accounting for benchmarks: CPU time, context
 * switches and syscalls of every thread of the process, including the
 * SQPOLL and io-wq threads io_uring creates (they belong to the
 * submitter's thread group, so RUSAGE_SELF sees them).
 *
 * Syscalls are counted by the kernel with a perf counter on the
 * raw_syscalls:sys_enter tracepoint, inherited by threads created after
 * sp_syscalls_open(). Where that is refused, callers fall back to their
 * own count and say so.
 */
#ifndef SP_STATS_H
#define SP_STATS_H

#include <stdbool.h>
#include <stdint.h>

struct sp_usage {
	uint64_t wall_ns;
	uint64_t user_ns;
	uint64_t sys_ns;
	uint64_t vol_csw;
	uint64_t invol_csw;
	uint64_t syscalls;	/* 0 unless a syscall counter is open */
};

struct sp_syscall_counter {
	int fd;			/* -1 when unavailable */
	char why[128];		/* why it is unavailable */
};

/* Opens the counter; on failure fd = -1, why says why, returns -errno. */
int sp_syscalls_open(struct sp_syscall_counter *c);
void sp_syscalls_close(struct sp_syscall_counter *c);

/* Snapshot of the whole process; c may be NULL. */
int sp_usage_snapshot(struct sp_usage *u, const struct sp_syscall_counter *c);
/* d = b - a */
void sp_usage_delta(const struct sp_usage *a, const struct sp_usage *b,
		    struct sp_usage *d);

/* CPU time (user + system, every thread) of another process so far,
 * from /proc/PID/stat: clock-tick resolution. 0 or -errno. */
int sp_proc_cpu_ns(int pid, uint64_t *ns);

/*
 * One thread of this process and its scheduler run time: the first
 * field of /proc/self/task/TID/schedstat, in ns of sched_clock (exact,
 * not tick-sampled like rusage; instructions under QEMU -icount shift=0).
 */
struct sp_task_time {
	int tid;
	char comm[16];
	uint64_t run_ns;
};

/* Fills up to max threads of this process; returns how many, or -errno. */
int sp_task_times(struct sp_task_time *t, int max);

/* Id of a tracepoint ("raw_syscalls/sys_enter"), or -errno. */
int sp_tracepoint_id(const char *event);

/*
 * Where a classic tracepoint's record keeps field name: *off and *size
 * in bytes, from its format file ("nvme/nvme_setup_cmd"), for records
 * whose layout varies between kernels. 0, -ENOENT (no such event or
 * field), or -EINVAL/-ERANGE for a format that does not parse.
 * sp_tp_format_field does the same on a format file's text.
 */
int sp_tracepoint_field(const char *event, const char *name, int *off, int *size);
int sp_tp_format_field(const char *text, const char *name, int *off, int *size);

/* Mounts tracefs at /sys/kernel/tracing when it is not mounted anywhere
 * and we may; returns the path of its root, or NULL. */
const char *sp_tracefs_path(void);

#endif
