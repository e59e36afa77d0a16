// SPDX-License-Identifier: MIT
/*
 * iolat: where the time of a block I/O goes, per layer, as log2
 * histograms in bpftrace's layout. This first slice covers the block
 * layer and below from tracepoints: queued (insert -> issue), driver and
 * device (issue -> complete), and the block layer end to end.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "iolat.h"
#include "iolat.skel.h"
#include "sp_bpf.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_log2hist.h"
#include "sp_opts.h"
#include "sp_stats.h"

static const char *const layer_names[IOLAT_LAYERS] = {
	[IOLAT_BLK_QUEUE] = "block queue (insert -> issue)",
	[IOLAT_DEVICE] = "driver + device (issue -> complete)",
	[IOLAT_BLK_TOTAL] = "block layer total (first seen -> complete)",
};

static const char *const layer_keys[IOLAT_LAYERS] = {
	[IOLAT_BLK_QUEUE] = "block_queue",
	[IOLAT_DEVICE] = "device",
	[IOLAT_BLK_TOTAL] = "block_total",
};

struct config {
	bool per_disk, per_op, ms, json;
	const char *disk;
	uint32_t dev;
	uint64_t interval_s;
	uint64_t count;		/* 0: until Ctrl-C */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: iolat [OPTIONS] [INTERVAL [COUNT]]\n"
"\n"
"Per-layer latency of block I/O, as log2 histograms: time queued in the\n"
"block layer (insert -> issue), in driver and device (issue -> complete),\n"
"and the block layer end to end; and, per process, how many io_uring\n"
"requests were handed to io-wq workers. Prints every INTERVAL seconds\n"
"(default: at Ctrl-C), COUNT times.\n"
"\n"
"  -D, --disk-split   a histogram per disk\n"
"  -F, --op-split     a histogram per operation (read, write, flush, ...)\n"
"  -m, --ms           milliseconds instead of microseconds\n"
"  -d, --disk NAME    only this disk (e.g. nvme0n1, loop0)\n"
"      --json         one JSON document per interval\n"
"  -v, --verbose      libbpf's messages\n"
"  -h, --help         this text\n"
"\n"
"Examples:\n"
"  iolat 1 5                 # five one-second reports\n"
"  iolat -D -F -d nvme0n1 10 # ten seconds of nvme0n1, per operation\n"
"\n"
"Exit status: 0 ok, 1 the programs could not be loaded, 2 bad usage.\n");
}

static const char *op_name(uint32_t op)
{
	switch (op) {
	case 0: return "read";
	case 1: return "write";
	case 2: return "flush";
	case 3: return "discard";
	case 5: return "secure_erase";
	case 9: return "write_zeroes";
	case 34: return "drv_in";	/* passthrough command reading data */
	case 35: return "drv_out";	/* passthrough command writing data */
	}
	return "other";
}

/* "loop0" for a device number, from sysfs. */
static void disk_name(uint32_t dev, char *buf, size_t len)
{
	char path[64], link[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", dev >> 20, dev & 0xfffff);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		snprintf(buf, len, "%s", strrchr(link, '/') + 1);
	} else {
		snprintf(buf, len, "%u:%u", dev >> 20, dev & 0xfffff);
	}
}

struct entry {
	struct iolat_key key;
	struct iolat_hist hist;
};

static int cmp_entry(const void *a, const void *b)
{
	const struct iolat_key *x = &((const struct entry *)a)->key;
	const struct iolat_key *y = &((const struct entry *)b)->key;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->op != y->op)
		return x->op < y->op ? -1 : 1;
	return (int)x->layer - (int)y->layer;
}

/* Reads and clears the histograms; returns how many, sorted. */
static int drain(int fd, struct entry **out)
{
	int n = sp_bpf_map_drain(fd, sizeof((*out)->key), sizeof(**out),
				 offsetof(struct entry, hist), (void **)out);

	if (n > 0)
		qsort(*out, n, sizeof(**out), cmp_entry);
	return n < 0 ? 0 : n;
}

struct punt_entry {
	__u32 tgid;
	struct iolat_punts p;
};

/* Reads and clears the per-process io_uring counters. */
static int drain_punts(int fd, struct punt_entry **out)
{
	int n = sp_bpf_map_drain(fd, sizeof((*out)->tgid), sizeof(**out),
				 offsetof(struct punt_entry, p), (void **)out);

	return n < 0 ? 0 : n;
}

static void report(const struct config *c, struct entry *e, int n,
		   const struct punt_entry *pe, int np)
{
	const char *unit = c->ms ? "ms" : "us";

	if (c->json) {
		json_object *root = json_object_new_object();
		json_object *arr = json_object_new_array();

		json_object_object_add(root, "schema", json_object_new_string("shortpath.iolat/1"));
		json_object_object_add(root, "unit", json_object_new_string(unit));
		for (int i = 0; i < n; i++) {
			json_object *o = json_object_new_object();
			json_object *b = json_object_new_array();
			char name[64];

			json_object_object_add(o, "layer",
					       json_object_new_string(layer_keys[e[i].key.layer]));
			if (c->per_disk) {
				disk_name(e[i].key.dev, name, sizeof(name));
				json_object_object_add(o, "disk", json_object_new_string(name));
			}
			if (c->per_op)
				json_object_object_add(o, "op", json_object_new_string(op_name(e[i].key.op)));
			json_object_object_add(o, "count", sp_json_u64(e[i].hist.count));
			json_object_object_add(o, "mean", sp_json_dbl(e[i].hist.count ?
				(double)e[i].hist.sum / e[i].hist.count : 0));
			for (unsigned k = 0; k < IOLAT_SLOTS; k++) {
				json_object *s;

				if (!e[i].hist.slots[k])
					continue;
				s = json_object_new_object();
				json_object_object_add(s, "low", sp_json_u64(k ? 1ULL << k : 0));
				json_object_object_add(s, "high", sp_json_u64(1ULL << (k + 1)));
				json_object_object_add(s, "count", sp_json_u64(e[i].hist.slots[k]));
				json_object_array_add(b, s);
			}
			json_object_object_add(o, "buckets", b);
			json_object_array_add(arr, o);
		}
		json_object_object_add(root, "histograms", arr);
		arr = json_object_new_array();
		for (int i = 0; i < np; i++) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "pid", sp_json_u64(pe[i].tgid));
			json_object_object_add(o, "comm", json_object_new_string(pe[i].p.comm));
			json_object_object_add(o, "submitted", sp_json_u64(pe[i].p.submitted));
			json_object_object_add(o, "punted", sp_json_u64(pe[i].p.punted));
			json_object_array_add(arr, o);
		}
		json_object_object_add(root, "io_uring", arr);
		sp_json_print_and_free(root);
		return;
	}
	for (int i = 0; i < n; i++) {
		char name[64];

		printf("\n@%s_%s", layer_keys[e[i].key.layer], unit);
		if (c->per_disk) {
			disk_name(e[i].key.dev, name, sizeof(name));
			printf("[%s", name);
		}
		if (c->per_op)
			printf("%s%s", c->per_disk ? ", " : "[", op_name(e[i].key.op));
		printf("%s: %s, %llu I/Os, mean %.1f %s\n", c->per_disk || c->per_op ? "]" : "",
		       layer_names[e[i].key.layer], (unsigned long long)e[i].hist.count,
		       e[i].hist.count ? (double)e[i].hist.sum / e[i].hist.count : 0.0, unit);
		/* __u64 and uint64_t are both 64-bit unsigned; only their names differ */
		sp_log2_hist_print(stdout, (const uint64_t *)e[i].hist.slots, IOLAT_SLOTS);
	}
	if (!n)
		printf("no block I/O completed%s\n", c->disk ? " on that disk" : "");
	if (np) {
		printf("\nio_uring requests handed to io-wq workers (punts), by submitting process:\n");
		printf("  %-16s %8s %12s %12s %7s\n", "comm", "pid", "submitted", "punted", "share");
		for (int i = 0; i < np; i++)
			printf("  %-16s %8u %12llu %12llu %6.1f%%\n", pe[i].p.comm, pe[i].tgid,
			       (unsigned long long)pe[i].p.submitted,
			       (unsigned long long)pe[i].p.punted, pe[i].p.submitted ?
			       100.0 * pe[i].p.punted / pe[i].p.submitted : 0.0);
	}
	fflush(stdout);
}

static int parse(int argc, char **argv, struct config *c)
{
	static const struct option longopts[] = {
		{ "disk-split", no_argument, NULL, 'D' },
		{ "op-split", no_argument, NULL, 'F' },
		{ "ms", no_argument, NULL, 'm' },
		{ "disk", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'J' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(c, 0, sizeof(*c));
	while ((opt = getopt_long(argc, argv, "DFmd:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'D': c->per_disk = true; break;
		case 'F': c->per_op = true; break;
		case 'm': c->ms = true; break;
		case 'd': c->disk = optarg; break;
		case 'J': c->json = true; break;
		case 'v': sp_log_set_level(SP_LOG_DEBUG); break;
		case 'h':
			usage(stdout);
			exit(SP_EXIT_OK);
		default:
			sp_err("bad usage; see --help");
			return -EINVAL;
		}
	}
	if (optind < argc && sp_parse_u64(argv[optind++], 1, 86400, &c->interval_s)) {
		sp_err("INTERVAL must be 1 to 86400 seconds");
		return -EINVAL;
	}
	if (optind < argc && sp_parse_u64(argv[optind++], 1, UINT32_MAX, &c->count)) {
		sp_err("COUNT must be a positive number");
		return -EINVAL;
	}
	if (optind < argc) {
		sp_err("unexpected argument '%s'; see --help", argv[optind]);
		return -EINVAL;
	}
	if (c->disk) {
		char path[PATH_MAX];
		struct stat st;

		snprintf(path, sizeof(path), "/dev/%s", c->disk);
		if (stat(path, &st) || !S_ISBLK(st.st_mode)) {
			sp_err("no block device %s", path);
			return -EINVAL;
		}
		c->dev = major(st.st_rdev) << 20 | minor(st.st_rdev);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct iolat_bpf *skel;
	struct config c;
	int err, status = SP_EXIT_OK;

	sp_log_init(argv[0], SP_LOG_NOTICE);
	if (parse(argc, argv, &c))
		return SP_EXIT_USAGE;
	sp_bpf_init();
	skel = iolat_bpf__open();
	if (!skel) {
		sp_err("cannot open the BPF programs: %s", strerror(errno));
		return SP_EXIT_FAIL;
	}
	skel->rodata->per_disk = c.per_disk;
	skel->rodata->per_op = c.per_op;
	skel->rodata->in_ms = c.ms;
	skel->rodata->filter_dev = c.dev;
	/* Keep the io_uring submit tracepoint this kernel has; without any,
	 * go on with the block layers only and say so. */
	{
		bool req = sp_tracepoint_id("io_uring/io_uring_submit_req") >= 0;
		bool sqe = sp_tracepoint_id("io_uring/io_uring_submit_sqe") >= 0;
		bool punt = sp_tracepoint_id("io_uring/io_uring_queue_async_work") >= 0;

		bpf_program__set_autoload(skel->progs.iolat_submit_req, req && punt);
		bpf_program__set_autoload(skel->progs.iolat_submit_sqe, !req && sqe && punt);
		bpf_program__set_autoload(skel->progs.iolat_punt, (req || sqe) && punt);
		if (!punt || (!req && !sqe))
			sp_notice("io_uring tracepoints missing: no punt report");
	}
	err = iolat_bpf__load(skel);
	if (err) {
		sp_err("cannot load the block-layer programs (tp_btf): %s", strerror(-err));
		status = SP_EXIT_FAIL;
		goto out;
	}
	err = iolat_bpf__attach(skel);
	if (err) {
		sp_err("cannot attach to the block tracepoints: %s", strerror(-err));
		status = SP_EXIT_FAIL;
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (!c.json)
		fprintf(stderr, "iolat: tracing block I/O%s%s... %s\n", c.disk ? " on " : "",
			c.disk ? c.disk : "", c.interval_s ? "" : "Ctrl-C to end");
	for (uint64_t done = 0; !stop && (!c.count || done < c.count); done++) {
		struct entry *e = NULL;
		struct punt_entry *pe = NULL;
		int n, np;

		if (c.interval_s)
			sleep(c.interval_s);
		else
			pause();
		n = drain(bpf_map__fd(skel->maps.hists), &e);
		np = drain_punts(bpf_map__fd(skel->maps.punts), &pe);
		report(&c, e, n, pe, np);
		free(e);
		free(pe);
		if (!c.interval_s)
			break;
	}
out:
	iolat_bpf__destroy(skel);
	return status;
}
