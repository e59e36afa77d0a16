// SPDX-License-Identifier: MIT
/*
 * bench-pathlen-irq: hard-interrupt and softirq time for bench/pathlen.
 * Attaches bpf/pathlen.bpf.c to the device and timer interrupt, softirq
 * and workqueue tracepoints, holds them until SIGINT or SIGTERM, then prints
 * what it counted as one JSON object on stdout. Under QEMU -icount
 * shift=0 (tests/vm/run --icount) its nanoseconds are guest instructions.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>

#include "pathlen.h"
#include "pathlen.skel.h"
#include "sp_bpf.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_stop.h"
#include "sp_version.h"

static const char usage[] =
"Usage: bench-pathlen-irq [--ready-fd FD]\n"
"\n"
"Counts the time spent in device interrupt handlers (irq_handler_entry to\n"
"irq_handler_exit), in the local timer interrupt, in softirqs by vector\n"
"and in workqueue items by function, from attach until Ctrl-C or SIGTERM;\n"
"then prints one JSON object on stdout:\n"
"  {\"hardirq_ns\", \"hardirq_n\", \"timer_ns\", \"timer_n\",\n"
"   \"softirq\": {\"BLOCK\": {\"ns\", \"n\"}, ...},\n"
"   \"works\": [{\"fn\", \"tid\", \"ns\", \"n\"}, ...] (by function and kworker),\n"
"   \"hrtimers\": [{\"fn\", \"ns\", \"n\"}, ...] (callbacks run by the timer\n"
"   interrupt, part of timer_ns: a device completing from a timer),\n"
"   \"by_tid\": {\"TID\": ns of interrupts taken while TID was current}}\n"
"Softirqs and work items are net of the interrupts inside them.\n"
"TID 0 is the idle task. Under tests/vm/run --icount, 1 ns = 1 instruction.\n"
"\n"
"      --ready-fd FD write a byte to FD once attached (for wrappers)\n"
"  -v, --verbose     libbpf's and the verifier's messages\n"
"  -h, --help        this text\n"
"      --version     the version of shortpath it belongs to\n"
"\n"
"Exit status: 0 after a signal, 1 when the programs could not be loaded or\n"
"attached, 2 usage.\n";

static void print_usage(FILE *f)
{
	fputs(usage, f);
}

static const char *const softirq_names[PATHLEN_NR_SOFTIRQS] = {
	"HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET",
	"SCHED", "HRTIMER", "RCU"
};

/* the kernel symbol at exactly addr, from /proc/kallsyms, or its address */
static void sym_name(unsigned long long addr, char *out, size_t size)
{
	char line[512], name[256];
	unsigned long long a;
	FILE *f = fopen("/proc/kallsyms", "r");

	snprintf(out, size, "0x%llx", addr);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %*c %255s", &a, name) == 2 && a == addr) {
			snprintf(out, size, "%s", name);
			break;
		}
	fclose(f);
}

/* {fn, [tid,] ns, n}: one function's time; tid only when it is known */
static json_object *work_entry(unsigned long long fn, const __u32 *tid,
			       const struct pathlen_work *w)
{
	json_object *e = json_object_new_object();
	char name[256];

	sym_name(fn, name, sizeof(name));
	json_object_object_add(e, "fn", json_object_new_string(name));
	if (tid)
		json_object_object_add(e, "tid", sp_json_u64(*tid));
	json_object_object_add(e, "ns", sp_json_u64(w->ns));
	json_object_object_add(e, "n", sp_json_u64(w->n));
	return e;
}

/* [{fn, ns, n}] of a map of struct pathlen_work keyed by function address */
static json_object *by_fn(int mfd)
{
	json_object *l = json_object_new_array();
	__u64 k, *prev = NULL, next;
	struct pathlen_work w;

	for (; !bpf_map_get_next_key(mfd, prev, &next); k = next, prev = &k)
		if (!bpf_map_lookup_elem(mfd, &next, &w))
			json_object_array_add(l, work_entry(next, NULL, &w));
	return l;
}

/* [{fn, tid, ns, n}]: the work items by function and kworker */
static json_object *works_json(int mfd)
{
	json_object *l = json_object_new_array();
	struct pathlen_work_key k, *prev = NULL, next;
	struct pathlen_work w;

	for (; !bpf_map_get_next_key(mfd, prev, &next); k = next, prev = &k)
		if (!bpf_map_lookup_elem(mfd, &next, &w))
			json_object_array_add(l, work_entry(next.fn, &next.tid, &w));
	return l;
}

static json_object *collect(struct pathlen_bpf *skel)
{
	int ncpu = libbpf_num_possible_cpus(), mfd;
	struct pathlen_irq sum = { 0 }, *pc;
	json_object *o = json_object_new_object(), *tids, *soft, *wl;
	__u32 k = 0, *prev = NULL, next;
	__u64 v;

	if (ncpu <= 0)
		ncpu = 1;
	pc = calloc(ncpu, sizeof(*pc));
	if (pc && !bpf_map__lookup_elem(skel->maps.totals, &k, sizeof(k), pc,
					ncpu * sizeof(*pc), 0))
		for (int i = 0; i < ncpu; i++) {
			sum.hardirq_ns += pc[i].hardirq_ns;
			sum.hardirq_n += pc[i].hardirq_n;
			sum.timer_ns += pc[i].timer_ns;
			sum.timer_n += pc[i].timer_n;
			for (int q = 0; q < PATHLEN_NR_SOFTIRQS; q++) {
				sum.softirq_ns[q] += pc[i].softirq_ns[q];
				sum.softirq_n[q] += pc[i].softirq_n[q];
			}
		}
	free(pc);
	json_object_object_add(o, "hardirq_ns", sp_json_u64(sum.hardirq_ns));
	json_object_object_add(o, "hardirq_n", sp_json_u64(sum.hardirq_n));
	json_object_object_add(o, "timer_ns", sp_json_u64(sum.timer_ns));
	json_object_object_add(o, "timer_n", sp_json_u64(sum.timer_n));
	soft = json_object_new_object();
	for (int q = 0; q < PATHLEN_NR_SOFTIRQS; q++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "ns", sp_json_u64(sum.softirq_ns[q]));
		json_object_object_add(e, "n", sp_json_u64(sum.softirq_n[q]));
		json_object_object_add(soft, softirq_names[q], e);
	}
	json_object_object_add(o, "softirq", soft);

	wl = works_json(bpf_map__fd(skel->maps.works));
	json_object_object_add(o, "works", wl);
	json_object_object_add(o, "hrtimers", by_fn(bpf_map__fd(skel->maps.hrtimers)));

	tids = json_object_new_object();
	mfd = bpf_map__fd(skel->maps.by_tid);
	while (!bpf_map_get_next_key(mfd, prev, &next)) {
		char key[16];

		if (!bpf_map_lookup_elem(mfd, &next, &v)) {
			snprintf(key, sizeof(key), "%u", next);
			json_object_object_add(tids, key, sp_json_u64(v));
		}
		k = next;
		prev = &k;
	}
	json_object_object_add(o, "by_tid", tids);
	return o;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ready-fd", required_argument, NULL, 'r' },
		SP_OPT_VERBOSE_LONGOPT,
		SP_OPT_COMMON_LONGOPTS,
		{ 0 }
	};
	struct pathlen_bpf *skel = NULL;
	int opt, ready_fd = -1, status = SP_EXIT_FAIL, err;
	json_object *o;
	const struct sp_opt_common common = { .shortopts = "hv", .usage = print_usage };
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
	skel = pathlen_bpf__open_and_load();
	if (!skel) {
		sp_err("cannot load the BPF programs: %s", strerror(errno));
		goto out;
	}
	err = pathlen_bpf__attach(skel);
	if (err) {
		sp_err("cannot attach the BPF programs: %s", strerror(-err));
		goto out;
	}
	sp_stop_block();
	sp_ready_say(ready_fd);
	sp_stop_wait();
	o = collect(skel);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	status = SP_EXIT_OK;
out:
	pathlen_bpf__destroy(skel);
	return status;
}
