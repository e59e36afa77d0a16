// SPDX-License-Identifier: MIT
/*
 * sp-cost: what a command costs the kernel: the syscalls and context
 * switches of it and of every thread and child it creates, counted by
 * the kernel (perf counters on raw_syscalls:sys_enter and on the
 * context-switches software event, inherited), and its CPU time. Lets
 * another tool (fio, say) be measured the way uring_bench measures
 * itself.
 */
#include <errno.h>
#include <getopt.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_version.h"
#include "sp_stats.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sp-cost [--json] [--output FILE] [-e CATEGORY:EVENT]... -- COMMAND [ARG...]\n"
"\n"
"Run COMMAND; then report the syscalls and context switches that it and\n"
"all its threads and children made, as the kernel counts them, and its\n"
"CPU time. The report goes to stderr, or to FILE.\n"
"\n"
"  -e, --event CATEGORY:EVENT\n"
"                 also count this tracepoint (up to 8), e.g.\n"
"                 io_uring:io_uring_queue_async_work (I/Os handed to io-wq)\n"
"  --json         the report as JSON (schema shortpath.cost/1)\n"
"  --output FILE  write the report to FILE\n"
"  -h, --help     this text\n"
"      --version  the version of shortpath it belongs to\n"
"\n"
"Examples:\n"
"  sp-cost -- dd if=/dev/zero of=/dev/null bs=4k count=1000\n"
"  sp-cost --json --output cost.json -- fio --ioengine=io_uring_cmd ...\n"
"  sp-cost -e io_uring:io_uring_queue_async_work -- uring_bench -m sg /dev/sg0\n"
"\n"
"Exit status: the command's; 2 bad usage; 1 when counting is impossible.\n");
}

/* A counter on task pid and its future threads and children, started
 * by its next exec so that only the command is counted. */
static int open_counter(pid_t pid, __u32 type, __u64 config)
{
	struct perf_event_attr attr = {
		.type = type,
		.size = sizeof(attr),
		.config = config,
		.inherit = 1,
		.disabled = 1,
		.enable_on_exec = 1,
		.exclude_hv = 1,
	};

	return syscall(SYS_perf_event_open, &attr, pid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static uint64_t tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000000ULL + (uint64_t)tv->tv_usec * 1000;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "event", required_argument, NULL, 'e' },
		SP_OPT_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *output = NULL, *events[8];
	int efd[8];
	uint64_t sys = 0, csw = 0, ecount[8] = { 0 };
	unsigned nev = 0;
	int opt, sfd, cfd, status, id, code;
	struct rusage ru;
	bool json = false;
	const struct sp_opt_common common = { .shortopts = "+he:", .usage = usage, .json = &json };
	FILE *out = stderr;
	pid_t pid;

	sp_log_init(argv[0], SP_LOG_NOTICE);
	opterr = 0;	/* one line of our own for a bad option */
	while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'e':
			if (nev == 8 || !strchr(optarg, ':')) {
				sp_err("--event takes CATEGORY:EVENT, at most 8 of them");
				return SP_EXIT_USAGE;
			}
			events[nev++] = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		default:
			if (sp_opt_common(&common, opt, argv))
				return SP_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		sp_err("no command given; see --help");
		return SP_EXIT_USAGE;
	}
	id = sp_tracepoint_id("raw_syscalls/sys_enter");
	if (id < 0) {
		sp_err("cannot count syscalls: tracepoint raw_syscalls:sys_enter: %s",
		       strerror(-id));
		return SP_EXIT_FAIL;
	}
	pid = fork();
	if (pid < 0) {
		sp_err("fork: %s", strerror(errno));
		return SP_EXIT_FAIL;
	}
	if (pid == 0) {
		/* stop until the parent has attached its counters */
		raise(SIGSTOP);
		execvp(argv[optind], argv + optind);
		sp_err("cannot run %s: %s", argv[optind], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, WUNTRACED) < 0 || !WIFSTOPPED(status)) {
		sp_err("the command did not start");
		return SP_EXIT_FAIL;
	}
	for (unsigned i = 0; i < nev; i++) {
		char ev[128];
		int eid;

		snprintf(ev, sizeof(ev), "%s", events[i]);
		*strchr(ev, ':') = '/';
		eid = sp_tracepoint_id(ev);
		efd[i] = eid < 0 ? -1 : open_counter(pid, PERF_TYPE_TRACEPOINT, eid);
		if (efd[i] < 0) {
			sp_err("cannot count %s: %s", events[i],
			       strerror(eid < 0 ? -eid : errno));
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return SP_EXIT_USAGE;
		}
	}
	sfd = open_counter(pid, PERF_TYPE_TRACEPOINT, id);
	cfd = open_counter(pid, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES);
	if (sfd < 0 || cfd < 0) {
		sp_err("perf_event_open on the command: %s", strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return SP_EXIT_FAIL;
	}
	kill(pid, SIGCONT);
	if (wait4(pid, &status, 0, &ru) < 0) {
		sp_err("wait: %s", strerror(errno));
		return SP_EXIT_FAIL;
	}
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (read(sfd, &sys, sizeof(sys)) != sizeof(sys) ||
	    read(cfd, &csw, sizeof(csw)) != sizeof(csw)) {
		sp_err("reading the counters failed: %s", strerror(errno));
		return SP_EXIT_FAIL;
	}
	for (unsigned i = 0; i < nev; i++)
		if (read(efd[i], &ecount[i], sizeof(ecount[i])) != sizeof(ecount[i]))
			ecount[i] = 0;
	if (output && !(out = fopen(output, "we"))) {
		sp_err("cannot write %s: %s", output, strerror(errno));
		return SP_EXIT_FAIL;
	}
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "schema", json_object_new_string("shortpath.cost/1"));
		sp_json_stamp(o);
		json_object_object_add(o, "syscalls", sp_json_u64(sys));
		json_object_object_add(o, "ctx_switches", sp_json_u64(csw));
		json_object_object_add(o, "user_ns", sp_json_u64(tv_ns(&ru.ru_utime)));
		json_object_object_add(o, "sys_ns", sp_json_u64(tv_ns(&ru.ru_stime)));
		json_object_object_add(o, "exit_status", json_object_new_int(code));
		if (nev) {
			json_object *ev = json_object_new_object();

			for (unsigned i = 0; i < nev; i++)
				json_object_object_add(ev, events[i], sp_json_u64(ecount[i]));
			json_object_object_add(o, "events", ev);
		}
		sp_json_fprint_and_free(out, o);
	} else {
		fprintf(out, "sp-cost: %llu syscalls, %llu context switches, user %.3f s, "
			"sys %.3f s, exit status %d\n", (unsigned long long)sys,
			(unsigned long long)csw, tv_ns(&ru.ru_utime) / 1e9,
			tv_ns(&ru.ru_stime) / 1e9, code);
		for (unsigned i = 0; i < nev; i++)
			fprintf(out, "sp-cost: %llu %s\n", (unsigned long long)ecount[i], events[i]);
	}
	if (output)
		fclose(out);
	return code;
}
