// SPDX-License-Identifier: MIT
/*
 * bench-tp-floor: attaches programs that do nothing to the tracepoints iolat
 * follows on every I/O (bpf/tp_floor.bpf.c) and holds them until
 * SIGINT or SIGTERM. Run beside a benchmark, it shows what tracing
 * those events costs before any tracer does any work: the floor under
 * iolat's overhead on this machine (bench/iolat-overhead.sh).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_bpf.h"
#include "sp_sysfs.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_stop.h"
#include "sp_version.h"
#include "tp_floor.skel.h"

static const char usage[] =
"Usage: bench-tp-floor [--json] [--ready-fd FD]\n"
"\n"
"Attaches an empty BPF program to each tracepoint iolat follows on every\n"
"I/O (syscall entry/exit, io_uring submit/punt/task-work/complete, block\n"
"bio queue/split/merge/insert/issue/complete, and getrq where a disk has\n"
"queue/iostats off), those this kernel has, and holds them until Ctrl-C or\n"
"SIGTERM. A benchmark run meanwhile pays what tracing these events costs\n"
"before any tracer does any work.\n"
"\n"
"      --json        print the tracepoints attached as JSON, once attached\n"
"      --ready-fd FD write a byte to FD once attached (for wrappers)\n"
"  -h, --help        this text\n"
"      --version     the version of shortpath it belongs to\n"
"\n"
"Examples:\n"
"  bench-tp-floor &  uring_bench -m uring -q 1 -t 5s /dev/loop0;  kill -INT %1\n"
"  bench/iolat-overhead.sh --mode uring     (runs it as the 'floor' side)\n"
"\n"
"Exit status: 0 after a signal, 1 when the programs could not be loaded or\n"
"attached, 2 usage.\n";

static void print_usage(FILE *f)
{
	fputs(usage, f);
}

/* "floor_block_getrq" -> "block_getrq" */
static const char *tp_of(const struct bpf_program *p)
{
	return bpf_program__name(p) + strlen("floor_");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ready-fd", required_argument, NULL, 'r' },
		SP_OPT_COMMON_LONGOPTS,
		{ 0 }
	};
	struct tp_floor_bpf *skel = NULL;
	struct json_object *attached;
	struct bpf_program *p;
	int opt, ready_fd = -1, n = 0, status = SP_EXIT_FAIL, err;
	bool json = false;
	const struct sp_opt_common common = { .shortopts = "h", .usage = print_usage, .json = &json };
	uint64_t fd;

	sp_log_init(argv[0], SP_LOG_NOTICE);
	opterr = 0;	/* one line of our own for a bad option */
	while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (sp_parse_u64(optarg, 0, INT32_MAX, &fd)) {
				sp_err("--ready-fd: '%s' is not a file descriptor", optarg);
				return SP_EXIT_USAGE;
			}
			ready_fd = (int)fd;
			break;
		default:
			if (sp_opt_common(&common, opt, argv))
				return SP_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		sp_err("unexpected argument '%s'", argv[optind]);
		return SP_EXIT_USAGE;
	}
	sp_bpf_init();
	attached = json_object_new_array();
	skel = tp_floor_bpf__open();
	if (!skel) {
		sp_err("cannot open the BPF object: %s", strerror(errno));
		goto out;
	}
	/* tracepoints this kernel lacks (submit_req is submit_sqe on 6.1) are left out */
	bpf_object__for_each_program(p, skel->obj)
		bpf_program__set_autoload(p, sp_btf_tp_nargs(tp_of(p)) >= 0);
	/* as iolat: block_getrq only where a disk does not stamp its requests */
	if (sp_blk_without_iostats(NULL, 0) == 0)
		bpf_program__set_autoload(skel->progs.floor_block_getrq, false);
	err = tp_floor_bpf__load(skel);
	if (err) {
		sp_err("cannot load the BPF programs: %s", strerror(-err));
		goto out;
	}
	err = tp_floor_bpf__attach(skel);
	if (err) {
		sp_err("cannot attach the BPF programs: %s", strerror(-err));
		goto out;
	}
	bpf_object__for_each_program(p, skel->obj) {
		if (!bpf_program__autoload(p))
			continue;
		n++;
		json_object_array_add(attached, json_object_new_string(tp_of(p)));
	}
	if (!n) {
		sp_err("no tracepoint could be attached");
		goto out;
	}
	sp_stop_block();
	if (json)
		printf("%s\n", json_object_to_json_string_ext(attached, JSON_C_TO_STRING_PLAIN));
	else
		fprintf(stderr, "bench-tp-floor: %d empty programs attached; Ctrl-C to end\n", n);
	fflush(stdout);
	sp_ready_say(ready_fd);
	sp_stop_wait();
	status = SP_EXIT_OK;
out:
	tp_floor_bpf__destroy(skel);
	json_object_put(attached);
	return status;
}
