// SPDX-License-Identifier: MIT
/*
 * iolat: where the time of an I/O goes, layer by layer.
 *
 * bpf/iolat.bpf.c follows every I/O (a read/write/fsync syscall on a
 * file or block device, or an io_uring request) and every block request
 * through the kernel and sends one record each, with a time stamp for
 * every moment it passed (enum iolat_ms). Here the records become:
 * per-layer histograms of block requests (biolatency's view), a
 * breakdown table per I/O path whose layers add up to the end-to-end
 * time, the io-wq punt report, per-I/O lines, JSON and an SVG picture.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <bpf/bpf.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "iolat.h"
#include "iolat.skel.h"
#include "sp_bpf.h"
#include "sp_bucket.h"
#include "sp_sysfs.h"
#include "sp_hist.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_metrics.h"
#include "sp_opts.h"
#include "sp_stop.h"
#include "sp_version.h"
#include "sp_stats.h"
#include "sp_time.h"

/* ------------------------------------------------------------ layers */

/* Layer m is the time from moment m to the next moment the I/O reached. */
static const struct {
	const char *key, *name;
} layer_info[MS_N] = {
	[MS_START] = { "syscall", "syscall" },
	[MS_PUNT] = { "io_wq", "io-wq worker (wait + run)" },
	[MS_VFS] = { "vfs", "VFS" },
	[MS_FS] = { "filesystem", "filesystem / bdev file" },
	[MS_PAGECACHE] = { "page_cache", "page cache" },
	[MS_BIO] = { "block", "block: bio (merge, plug)" },
	[MS_GETRQ] = { "request", "block: request -> queue" },
	[MS_INSERT] = { "block_queue", "block queue / scheduler" },
	[MS_DRIVER] = { "driver", "driver submit" },
	[MS_DEVICE] = { "device", "device" },
	[MS_DEV_DONE] = { "driver_done", "driver completion" },
	[MS_BLK_DONE] = { "completion", "completion -> waiter" },
	[MS_JOURNAL] = { "journal", "journal (jbd2 commit)" },
	[MS_JOURNAL_END] = { "after_journal", "after the commit" },
	[MS_TASK_WORK] = { "task_work", "task work -> CQE" },
};

static const char *moment_key(int kind, int m)
{
	return m == MS_START && kind == IOLAT_URING ? "uring_submit" : layer_info[m].key;
}

/*
 * --aios: the layers grouped the way the AIOS paper (Lee et al., ATC'19)
 * breaks down ext4's read() and write()+fsync() paths.
 */
enum aios_group {
	G_SYSCALL, G_URING, G_FS, G_PAGECACHE, G_BLOCK, G_DEVICE, G_JOURNAL, G_COMPLETION, G_N,
};

static const struct {
	const char *key, *name;
} group_info[G_N] = {
	[G_SYSCALL] = { "syscall_vfs", "syscall + VFS" },
	[G_URING] = { "io_uring", "io_uring (submit, io-wq, task work)" },
	[G_FS] = { "filesystem", "filesystem" },
	[G_PAGECACHE] = { "page_cache", "page cache" },
	[G_BLOCK] = { "block", "block layer" },
	[G_DEVICE] = { "driver_device", "driver + device" },
	[G_JOURNAL] = { "journal", "journal (jbd2)" },
	[G_COMPLETION] = { "completion", "completion + wake-up" },
};

static bool aios;

static int group_of(int kind, int m)
{
	switch (m) {
	case MS_START: return kind == IOLAT_URING ? G_URING : G_SYSCALL;
	case MS_PUNT: case MS_TASK_WORK: return G_URING;
	case MS_VFS: return G_SYSCALL;
	case MS_FS: return G_FS;
	case MS_PAGECACHE: return G_PAGECACHE;
	case MS_BIO: case MS_GETRQ: case MS_INSERT: return G_BLOCK;
	case MS_DRIVER: case MS_DEVICE: case MS_DEV_DONE: return G_DEVICE;
	case MS_JOURNAL: return G_JOURNAL;
	}
	return G_COMPLETION;
}

/* A row of a breakdown: a layer, or with --aios a group of layers. */
static const char *row_key(int kind, int idx)
{
	return aios ? group_info[idx].key : moment_key(kind, idx);
}

static const char *row_name(int kind, int idx)
{
	if (aios)
		return group_info[idx].name;
	return idx == MS_START && kind == IOLAT_URING ? "io_uring submit" : layer_info[idx].name;
}

/* I/O paths a breakdown is made for */
enum path {
	P_READ, P_WRITE, P_FSYNC, P_URING_READ, P_URING_WRITE, P_URING_CMD,
	P_URING_FSYNC, P_URING_OTHER, P_N,
};

static const struct {
	const char *key, *name, *dir;
} path_info[P_N] = {
	[P_READ] = { "read", "read()", "read" },
	[P_WRITE] = { "write", "write()", "write" },
	[P_FSYNC] = { "fsync", "fsync()", "fsync" },
	[P_URING_READ] = { "uring_read", "io_uring read", "read" },
	[P_URING_WRITE] = { "uring_write", "io_uring write", "write" },
	[P_URING_CMD] = { "uring_cmd", "io_uring passthrough", "passthrough" },
	[P_URING_FSYNC] = { "uring_fsync", "io_uring fsync", "fsync" },
	[P_URING_OTHER] = { "uring_other", "io_uring other", "other" },
};

static enum path path_of(const struct iolat_event *e)
{
	if (e->kind == IOLAT_SYSCALL) {
		switch (e->op) {
		case SYS_fsync: case SYS_fdatasync:
			return P_FSYNC;
		case SYS_write: case SYS_pwrite64: case SYS_writev: case SYS_pwritev:
		case SYS_pwritev2:
			return P_WRITE;
		}
		return P_READ;
	}
	switch (e->op) {
	case IORING_OP_READV: case IORING_OP_READ_FIXED: case IORING_OP_READ:
		return P_URING_READ;
	case IORING_OP_WRITEV: case IORING_OP_WRITE_FIXED: case IORING_OP_WRITE:
		return P_URING_WRITE;
	case IORING_OP_URING_CMD:
		return P_URING_CMD;
	case IORING_OP_FSYNC: case IORING_OP_SYNC_FILE_RANGE:
		return P_URING_FSYNC;
	}
	return P_URING_OTHER;
}

static const char *req_op_name(uint32_t op)
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

/*
 * The present moments of an I/O, made monotonic: a stamp taken on
 * another CPU, or a journal commit that began before the fsync, is
 * pulled forward to the moment before it, so the layers never overlap
 * and always add up to the end-to-end time. Returns how many; moments
 * are written to ms[], their times to t[].
 */
static int moments(const struct iolat_event *e, int *ms, uint64_t *t)
{
	uint64_t prev = 0;
	int n = 0;

	for (int m = 0; m < MS_N; m++) {
		uint64_t v = e->t[m];

		if (!v)
			continue;
		if (v < prev)
			v = prev;
		if (m != MS_END && e->t[MS_END] && v > e->t[MS_END])
			v = e->t[MS_END];
		ms[n] = m;
		t[n++] = prev = v;
	}
	return n;
}

/* ------------------------------------------------------------ config */

struct config {
	bool per_disk, per_op, ms, json, queued, layer_hists, per_process, events, aios;
	bool busy;		/* --busy-clock: stamps leave out idle time */
	uint64_t tick_sched_off, per_cpu_offset_addr;	/* for it, from /proc/kallsyms */
	bool timestamps;	/* -T: each text report starts with the time */
	const char *disk, *svg, *op, *comm, *cgroup, *metrics;
	uint32_t dev, pid;
	uint64_t cgroup_id;	/* --cgroup: the cgroup v2 directory's inode */
	uint64_t min_us;
	uint64_t interval_s;
	uint64_t count;		/* 0: until Ctrl-C */
	int ready_fd;
	struct sp_bucket_layout layout;
};

/* The address /proc/kallsyms gives a symbol (0 when hidden: not root). */
static int kallsyms_addr(const char *name, uint64_t *addr)
{
	char line[512], sym[256];
	unsigned long long a;
	FILE *f = fopen("/proc/kallsyms", "r");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (ret && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %*c %255s", &a, sym) == 2 && !strcmp(sym, name)) {
			*addr = a;
			ret = 0;
		}
	fclose(f);
	/* __per_cpu_offset is never at 0; a hidden address reads as 0 */
	if (!ret && !strcmp(name, "__per_cpu_offset") && !*addr)
		ret = -EPERM;
	return ret;
}

/* A pidfd polls readable once its process has exited. */
static bool process_gone(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: iolat [OPTIONS] [INTERVAL [COUNT]]\n"
"\n"
"Follows every I/O through the kernel and shows where its time goes:\n"
"  - block requests per layer (queued, driver + device, total), as\n"
"    bpftrace-style histograms, like biolatency;\n"
"  - a breakdown per I/O path (read(), write(), fsync(), io_uring read/\n"
"    write/passthrough): count, mean, p50, p99 and share of each layer,\n"
"    adding up to the end-to-end latency of the I/O;\n"
"  - io_uring requests handed to io-wq workers, per process, and their cost.\n"
"Each I/O is charged to the task that submitted it, not to the interrupt,\n"
"kworker or io-wq thread that finished it. VFS, filesystem, page cache,\n"
"io-wq and queue_rq layers need fentry or kprobes; without them iolat says\n"
"so once and reports the rest. Prints every INTERVAL seconds (default: at\n"
"Ctrl-C), COUNT times.\n"
"\n"
"Block histograms:\n"
"  -D, --disk-split       a histogram per disk\n"
"  -F, --op-split         a histogram per operation (read, write, flush, ...)\n"
"  -Q, --queued           device time includes the time queued in the kernel\n"
"  -m, --ms               milliseconds instead of microseconds\n"
"  -B, --buckets LAYOUT   log2 (default), log2:K (2^K buckets per power of\n"
"                         two, bpftrace's hist(v, K)), linear:MIN,MAX,STEP\n"
"  -L, --layer-hists      also a histogram per path and layer\n"
"Filters:\n"
"  -d, --disk NAME        only this disk (e.g. nvme0n1, loop0)\n"
"  -p, --pid PID          only I/O submitted by this process\n"
"  -c, --comm NAME        only I/O submitted by this command\n"
"      --cgroup DIR       only I/O submitted by tasks of this cgroup (v2)\n"
"  -o, --op OP            only this operation: read, write, fsync, passthrough\n"
"                         (I/Os); read, write, flush, drv_in, ... (requests)\n"
"  -M, --min-us N         only I/Os and requests of at least N us end to end\n"
"                         (a request: first seen to completion); the layers\n"
"                         of those may each be shorter\n"
"Output:\n"
"  -P, --per-process      a breakdown per submitting process\n"
"  -A, --aios             group the layers as the AIOS paper does: syscall +\n"
"                         VFS, filesystem, page cache, block layer, driver +\n"
"                         device, journal, completion (and io_uring)\n"
"      --busy-clock       time only what the CPU ran: the CPU's idle time (the\n"
"                         device wait) is left out of every layer; one CPU\n"
"                         only. Under QEMU -icount shift=0 a layer is then the\n"
"                         instructions run between its moments, in any context\n"
"  -e, --events           one line per I/O with its layers (like biosnoop)\n"
"      --svg FILE         write the breakdown as stacked bars (SVG)\n"
"  -T, --timestamp        each text report starts with its interval and time\n"
"      --metrics ADDR:PORT  serve the per-layer histograms for Prometheus at\n"
"                         http://ADDR:PORT/metrics, counted from the start,\n"
"                         until Ctrl-C (\":9435\": every address)\n"
"      --json             one JSON document: with INTERVAL, one object a line\n"
"                         (NDJSON), each with its \"interval\" and \"time\"\n"
"      --ready-fd FD      write a byte to FD once tracing (for wrappers)\n"
"  -v, --verbose          libbpf's messages\n"
"  -h, --help             this text\n"
"      --version          the version of shortpath it belongs to\n"
"\n"
"Examples:\n"
"  iolat 1 5                       # five one-second reports\n"
"  iolat -D -F -d nvme0n1 10       # ten seconds of nvme0n1, per operation\n"
"  iolat -c fio -M 100 -e          # fio's I/Os slower than 100 us, one per line\n"
"  iolat -B log2:2 -L --svg b.svg  # finer buckets, per-layer histograms, picture\n"
"  iolat -A -c fio                 # fio's read()/write()+fsync() as in AIOS\n"
"  iolat -A --busy-clock --json -c uring_bench   # the same in instructions (icount guest)\n"
"  iolat --metrics 127.0.0.1:9435  # for Prometheus: curl localhost:9435/metrics\n"
"  uring_bench --trace -m psync -n 1000 FILE   # a benchmark and its breakdown\n"
"\n"
"Exit status: 0 ok, 1 the programs could not be loaded, 2 bad usage.\n");
}

/* ------------------------------------------------------------ aggregation */

struct hist_entry {
	char layer[24];
	int path;		/* -1: block request histograms */
	uint32_t dev, op;	/* ~0 when not split */
	uint64_t count, sum_ns;	/* exact, so a mean below the unit is not 0 */
	struct sp_buckets b;
};

struct breakdown {
	int path;
	uint32_t tgid;
	char comm[16];
	uint64_t count, e2e_sum;	/* ns */
	struct sp_hist e2e;
	struct sp_hist *layer[MS_N];	/* NULL: layer never seen */
	uint64_t layer_sum[MS_N];
};

struct proc_cost {
	uint32_t tgid;
	uint64_t punted, punted_ns, inline_n, inline_ns, iowq_ns;
};

struct state {
	const struct config *c;
	struct hist_entry *hists;
	int nhists;
	struct breakdown **bds;
	int nbds;
	struct proc_cost *costs;
	int ncosts;
	json_object *events;	/* --events --json */
	uint64_t t0;		/* CLOCK_MONOTONIC ns at start, for --events */
};

static uint64_t to_unit(const struct config *c, uint64_t ns)
{
	return c->ms ? ns / 1000000 : ns / 1000;
}

static int hist_add(struct state *s, const char *layer, int path, uint32_t dev, uint32_t op,
		    uint64_t ns)
{
	const struct config *c = s->c;
	struct hist_entry *h = NULL;
	uint64_t v = to_unit(c, ns);

	if (!c->per_disk)
		dev = ~0u;
	if (!c->per_op)
		op = ~0u;
	for (int i = 0; i < s->nhists; i++) {
		struct hist_entry *x = &s->hists[i];

		if (x->path == path && x->dev == dev && x->op == op && !strcmp(x->layer, layer)) {
			h = x;
			break;
		}
	}
	if (!h) {
		struct hist_entry *n = realloc(s->hists, (s->nhists + 1) * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->hists = n;
		h = &n[s->nhists];
		memset(h, 0, sizeof(*h));
		snprintf(h->layer, sizeof(h->layer), "%s", layer);
		h->path = path;
		h->dev = dev;
		h->op = op;
		if (sp_buckets_init(&h->b, &c->layout))
			return -ENOMEM;
		s->nhists++;
	}
	h->count++;
	h->sum_ns += ns;
	sp_buckets_add(&h->b, v);
	return 0;
}

/* mean of a histogram in the report's unit */
static double hist_mean(const struct config *c, const struct hist_entry *h)
{
	return h->count ? (double)h->sum_ns / h->count / (c->ms ? 1e6 : 1e3) : 0;
}

static struct breakdown *breakdown_of(struct state *s, int path, const struct iolat_event *e)
{
	uint32_t tgid = s->c->per_process ? e->tgid : 0;
	struct breakdown *b, **n;

	for (int i = 0; i < s->nbds; i++)
		if (s->bds[i]->path == path && s->bds[i]->tgid == tgid)
			return s->bds[i];
	b = calloc(1, sizeof(*b));
	n = realloc(s->bds, (s->nbds + 1) * sizeof(*n));
	if (!b || !n) {
		free(b);
		if (n)
			s->bds = n;
		return NULL;
	}
	s->bds = n;
	b->path = path;
	b->tgid = tgid;
	if (tgid)
		memcpy(b->comm, e->comm, sizeof(b->comm));
	sp_hist_init(&b->e2e);
	s->bds[s->nbds++] = b;
	return b;
}

static struct proc_cost *find_cost(const struct state *s, uint32_t tgid)
{
	for (int i = 0; i < s->ncosts; i++)
		if (s->costs[i].tgid == tgid)
			return &s->costs[i];
	return NULL;
}

/* The process's entry, made when it has none. */
static struct proc_cost *cost_of(struct state *s, uint32_t tgid)
{
	struct proc_cost *n = find_cost(s, tgid);

	if (n)
		return n;
	n = realloc(s->costs, (s->ncosts + 1) * sizeof(*n));
	if (!n)
		return NULL;
	s->costs = n;
	memset(&n[s->ncosts], 0, sizeof(*n));
	n[s->ncosts].tgid = tgid;
	return &n[s->ncosts++];
}

static void event_line(struct state *s, const struct iolat_event *e, enum path p,
		       const int *ms, const uint64_t *t, int n)
{
	uint64_t e2e = t[n - 1] - t[0];

	if (s->c->json) {
		json_object *o = json_object_new_object(), *l = json_object_new_object();

		json_object_object_add(o, "time", sp_json_dbl((t[0] - s->t0) / 1e9));
		json_object_object_add(o, "comm", json_object_new_string(e->comm));
		json_object_object_add(o, "pid", sp_json_u64(e->tgid));
		json_object_object_add(o, "tid", sp_json_u64(e->tid));
		json_object_object_add(o, "path", json_object_new_string(path_info[p].key));
		json_object_object_add(o, "res", json_object_new_int64(e->res));
		json_object_object_add(o, "requests", sp_json_u64(e->nr_requests));
		json_object_object_add(o, "e2e_ns", sp_json_u64(e2e));
		for (int i = 0; i + 1 < n; i++)
			json_object_object_add(l, moment_key(e->kind, ms[i]),
					       sp_json_u64(t[i + 1] - t[i]));
		json_object_object_add(o, "layers_ns", l);
		json_object_array_add(s->events, o);
		return;
	}
	printf("%-10.6f %-16s %7u %-13s %9.1f", (t[0] - s->t0) / 1e9, e->comm, e->tgid,
	       path_info[p].key, e2e / 1e3);
	for (int i = 0; i + 1 < n; i++)
		printf(" %s=%.1f", moment_key(e->kind, ms[i]), (t[i + 1] - t[i]) / 1e3);
	putchar('\n');
}

static int on_request(struct state *s, const struct iolat_event *e)
{
	const struct config *c = s->c;
	uint64_t first = 0, to_driver, done = e->t[MS_BLK_DONE];
	int err = 0;

	if (c->op && strcmp(c->op, req_op_name(e->op)))
		return 0;
	for (int m = MS_BIO; m <= MS_DEVICE && !first; m++)
		first = e->t[m];
	to_driver = e->t[MS_DRIVER] ? e->t[MS_DRIVER] : e->t[MS_DEVICE];
	if (!first || !to_driver || done < to_driver)
		return 0;
	if (first < to_driver && (e->t[MS_BIO] || e->t[MS_INSERT]))
		err = hist_add(s, "block_queue", -1, e->dev, e->op, to_driver - first);
	if (!err)
		err = hist_add(s, "device", -1, e->dev, e->op,
			       done - (c->queued ? first : e->t[MS_DEVICE]));
	if (!err)
		err = hist_add(s, "block_total", -1, e->dev, e->op, done - first);
	/* where the driver's own tracepoints or hooks cut the device time */
	if (!err && e->t[MS_DRIVER] && e->t[MS_DEVICE] >= e->t[MS_DRIVER])
		err = hist_add(s, "driver", -1, e->dev, e->op, e->t[MS_DEVICE] - e->t[MS_DRIVER]);
	if (!err && e->t[MS_DEV_DONE])
		err = hist_add(s, "driver_done", -1, e->dev, e->op, done - e->t[MS_DEV_DONE]);
	return err;
}

static int on_io(struct state *s, const struct iolat_event *e)
{
	const struct config *c = s->c;
	int ms[MS_N], n;
	uint64_t t[MS_N], e2e;
	enum path p = path_of(e);
	struct breakdown *b;

	if (c->op && strcmp(c->op, path_info[p].dir))
		return 0;
	if (c->dev && e->dev != c->dev)
		return 0;
	n = moments(e, ms, t);
	if (n < 2 || ms[0] != MS_START || ms[n - 1] != MS_END)
		return 0;
	e2e = t[n - 1] - t[0];
	if (c->events)
		event_line(s, e, p, ms, t, n);
	b = breakdown_of(s, p, e);
	if (!b)
		return -ENOMEM;
	b->count++;
	b->e2e_sum += e2e;
	sp_hist_add(&b->e2e, e2e);
	{
		uint64_t row_ns[MS_N] = { 0 };
		bool seen[MS_N] = { false };

		for (int i = 0; i + 1 < n; i++) {
			int r = aios ? group_of(e->kind, ms[i]) : ms[i];

			row_ns[r] += t[i + 1] - t[i];
			seen[r] = true;
		}
		for (int r = 0; r < MS_N; r++) {
			if (!seen[r])
				continue;
			if (!b->layer[r]) {
				b->layer[r] = malloc(sizeof(*b->layer[r]));
				if (!b->layer[r])
					return -ENOMEM;
				sp_hist_init(b->layer[r]);
			}
			sp_hist_add(b->layer[r], row_ns[r]);
			b->layer_sum[r] += row_ns[r];
			if (c->layer_hists && hist_add(s, row_key(e->kind, r), p, e->dev, ~0u, row_ns[r]))
				return -ENOMEM;
		}
	}
	if (e->kind == IOLAT_URING) {
		struct proc_cost *pc = cost_of(s, e->tgid);

		if (!pc)
			return -ENOMEM;
		if (e->t[MS_PUNT]) {
			pc->punted++;
			pc->punted_ns += e2e;
			for (int i = 0; i + 1 < n; i++)
				if (ms[i] == MS_PUNT)
					pc->iowq_ns += t[i + 1] - t[i];
		} else {
			pc->inline_n++;
			pc->inline_ns += e2e;
		}
	}
	return 0;
}

static int on_record(struct state *s, const struct iolat_event *e)
{
	if (e->kind == IOLAT_REQUEST)
		return on_request(s, e);
	/* the I/O's last block request rides in its record */
	if (e->rq_in) {
		struct iolat_event r = { .kind = IOLAT_REQUEST, .dev = e->dev, .op = e->rq_op };
		int err;

		r.t[MS_BIO] = e->rq_t_bio;
		for (int m = MS_GETRQ; m <= MS_BLK_DONE; m++)
			r.t[m] = e->t[m];
		err = on_request(s, &r);
		if (err)
			return err;
	}
	return on_io(s, e);
}

/* A ring buffer sample: one record, or a batch of them (emit() in iolat.bpf.c). */
static int on_event(void *ctx, void *data, size_t len)
{
	const struct iolat_event *e = data;
	int err = 0;

	for (size_t i = 0; !err && i < len / sizeof(*e); i++)
		err = on_record(ctx, &e[i]);
	return err;
}

/* The records CPUs still hold back; the programs must be detached. */
static int drain_batches(struct iolat_bpf *skel, struct state *s)
{
	int ncpus = libbpf_num_possible_cpus(), err = 0;
	struct iolat_batch *b;
	__u32 zero = 0;

	if (ncpus <= 0)
		return ncpus ? ncpus : -EINVAL;
	b = calloc(ncpus, sizeof(*b));
	if (!b)
		return -ENOMEM;
	err = bpf_map__lookup_elem(skel->maps.batch, &zero, sizeof(zero), b,
				   sizeof(*b) * ncpus, 0);
	for (int cpu = 0; !err && cpu < ncpus; cpu++)
		for (__u32 i = 0; !err && i < b[cpu].n && i < IOLAT_BATCH; i++)
			err = on_record(s, &b[cpu].ev[i]);
	free(b);
	return err;
}

static void state_reset(struct state *s)
{
	for (int i = 0; i < s->nhists; i++)
		sp_buckets_free(&s->hists[i].b);
	free(s->hists);
	for (int i = 0; i < s->nbds; i++) {
		for (int m = 0; m < MS_N; m++)
			free(s->bds[i]->layer[m]);
		free(s->bds[i]);
	}
	free(s->bds);
	free(s->costs);
	s->hists = NULL;
	s->bds = NULL;
	s->costs = NULL;
	s->nhists = s->nbds = s->ncosts = 0;
}

/* ------------------------------------------------------------ report */

/* "loop0" for a device number as the kernel packs it (major << 20 | minor). */
static void disk_name(uint32_t dev, char *buf, size_t len)
{
	struct stat st = { .st_mode = S_IFBLK, .st_rdev = makedev(dev >> 20, dev & 0xfffff) };

	if (sp_dev_kernel_name(&st, buf, len))
		snprintf(buf, len, "%u:%u", dev >> 20, dev & 0xfffff);
}

static const char *const req_layer_names[][2] = {
	{ "block_queue", "block queue (first seen -> issue)" },
	{ "device", "driver + device (issue -> complete)" },
	{ "block_total", "block layer total (first seen -> complete)" },
	{ "driver", "driver submit (queue_rq/setup -> device)" },
	{ "driver_done", "driver completion (device done -> complete)" },
};

static const char *hist_title(const struct config *c, const struct hist_entry *h)
{
	if (h->path >= 0)
		return path_info[h->path].name;
	for (unsigned i = 0; i < sizeof(req_layer_names) / sizeof(req_layer_names[0]); i++)
		if (!strcmp(h->layer, req_layer_names[i][0]))
			return !strcmp(h->layer, "device") && c->queued ?
				"kernel queue + driver + device (first seen -> complete)" :
				req_layer_names[i][1];
	return h->layer;
}

static int layer_rank(const char *layer)
{
	for (unsigned i = 0; i < sizeof(req_layer_names) / sizeof(req_layer_names[0]); i++)
		if (!strcmp(layer, req_layer_names[i][0]))
			return (int)i;
	/* the last moment ends the last layer and has no key of its own */
	for (int m = 0; m < MS_N; m++)
		if (layer_info[m].key && !strcmp(layer, layer_info[m].key))
			return 10 + m;
	for (int g = 0; g < G_N; g++)
		if (!strcmp(layer, group_info[g].key))
			return 10 + g;
	return -1;	/* uring_submit: first */
}

static int cmp_hist(const void *a, const void *b)
{
	const struct hist_entry *x = a, *y = b;

	if (x->path != y->path)
		return x->path - y->path;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->op != y->op)
		return x->op < y->op ? -1 : 1;
	return layer_rank(x->layer) - layer_rank(y->layer);
}

static int cmp_bd(const void *a, const void *b)
{
	const struct breakdown *x = *(const struct breakdown *const *)a;
	const struct breakdown *y = *(const struct breakdown *const *)b;

	if (x->path != y->path)
		return x->path - y->path;
	return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

static json_object *hists_json(const struct config *c, const struct state *s)
{
	json_object *arr = json_object_new_array();

	for (int i = 0; i < s->nhists; i++) {
		const struct hist_entry *h = &s->hists[i];
		json_object *o = json_object_new_object(), *b = json_object_new_array();
		char name[64];

		json_object_object_add(o, "layer", json_object_new_string(h->layer));
		if (h->path >= 0)
			json_object_object_add(o, "path", json_object_new_string(path_info[h->path].key));
		if (c->per_disk) {
			disk_name(h->dev, name, sizeof(name));
			json_object_object_add(o, "disk", json_object_new_string(name));
		}
		if (c->per_op && h->path < 0)
			json_object_object_add(o, "op", json_object_new_string(req_op_name(h->op)));
		json_object_object_add(o, "count", sp_json_u64(h->count));
		json_object_object_add(o, "mean", sp_json_dbl(hist_mean(c, h)));
		for (unsigned k = 0; k < h->b.n; k++) {
			json_object *x;
			uint64_t lo, hi;

			if (!h->b.counts[k])
				continue;
			sp_bucket_bounds(&h->b.layout, k, &lo, &hi);
			x = json_object_new_object();
			json_object_object_add(x, "low", sp_json_u64(lo));
			json_object_object_add(x, "high", sp_json_u64(hi));
			json_object_object_add(x, "count", sp_json_u64(h->b.counts[k]));
			json_object_array_add(b, x);
		}
		json_object_object_add(o, "buckets", b);
		json_object_array_add(arr, o);
	}
	return arr;
}

static double pct_us(const struct sp_hist *h, double p)
{
	return sp_hist_percentile(h, p) / 1e3;
}

static json_object *stat_json(const struct sp_hist *h, uint64_t sum, uint64_t total)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "count", sp_json_u64(h->count));
	json_object_object_add(o, "mean_us", sp_json_dbl(h->count ? sum / 1e3 / h->count : 0));
	json_object_object_add(o, "p50_us", sp_json_dbl(pct_us(h, 50)));
	json_object_object_add(o, "p99_us", sp_json_dbl(pct_us(h, 99)));
	if (total)
		json_object_object_add(o, "share", sp_json_dbl((double)sum / total));
	return o;
}

/* The layers of a breakdown in path order, uring_submit before the rest. */
static int bd_kind(const struct breakdown *b)
{
	return b->path >= P_URING_READ ? IOLAT_URING : IOLAT_SYSCALL;
}

static json_object *breakdown_json(const struct state *s)
{
	json_object *arr = json_object_new_array();

	for (int i = 0; i < s->nbds; i++) {
		const struct breakdown *b = s->bds[i];
		json_object *o = json_object_new_object(), *l = json_object_new_array();

		json_object_object_add(o, "path", json_object_new_string(path_info[b->path].key));
		if (b->tgid) {
			json_object_object_add(o, "pid", sp_json_u64(b->tgid));
			json_object_object_add(o, "comm", json_object_new_string(b->comm));
		}
		json_object_object_add(o, "e2e", stat_json(&b->e2e, b->e2e_sum, 0));
		for (int m = 0; m < MS_N; m++) {
			json_object *x;

			if (!b->layer[m])
				continue;
			x = stat_json(b->layer[m], b->layer_sum[m], b->e2e_sum);
			json_object_object_add(x, "layer", json_object_new_string(row_key(bd_kind(b), m)));
			json_object_array_add(l, x);
		}
		json_object_object_add(o, "layers", l);
		json_object_array_add(arr, o);
	}
	return arr;
}

static void print_breakdown(const struct state *s)
{
	for (int i = 0; i < s->nbds; i++) {
		const struct breakdown *b = s->bds[i];
		int w = 30;

		/* the column fits the longest name (--aios has long ones) */
		for (int m = 0; m < MS_N; m++)
			if (b->layer[m] && (int)strlen(row_name(bd_kind(b), m)) > w)
				w = (int)strlen(row_name(bd_kind(b), m));
		printf("\n%s", path_info[b->path].name);
		if (b->tgid)
			printf(" by %s (pid %u)", b->comm, b->tgid);
		printf(": %llu I/Os\n", (unsigned long long)b->count);
		printf("  %-*s %9s %10s %10s %10s %7s\n", w, "layer (us)", "count", "mean", "p50",
		       "p99", "share");
		for (int m = 0; m < MS_N; m++) {
			const struct sp_hist *h = b->layer[m];

			if (!h)
				continue;
			printf("  %-*s %9llu %10.1f %10.1f %10.1f %6.1f%%\n", w,
			       row_name(bd_kind(b), m), (unsigned long long)h->count,
			       b->layer_sum[m] / 1e3 / h->count, pct_us(h, 50), pct_us(h, 99),
			       b->e2e_sum ? 100.0 * b->layer_sum[m] / b->e2e_sum : 0.0);
		}
		printf("  %-*s %9llu %10.1f %10.1f %10.1f %6.1f%%\n", w, "end to end",
		       (unsigned long long)b->count, b->e2e_sum / 1e3 / b->count,
		       pct_us(&b->e2e, 50), pct_us(&b->e2e, 99), 100.0);
	}
}

struct punt_entry {
	__u32 tgid;
	struct iolat_punts p;
};

struct enter_entry {
	__u32 tgid;
	struct iolat_enter e;
};

static const struct iolat_enter *find_enter(const struct enter_entry *ee, int ne, uint32_t tgid)
{
	for (int i = 0; i < ne; i++)
		if (ee[i].tgid == tgid)
			return &ee[i].e;
	return NULL;
}

static double mean_us(uint64_t ns, uint64_t n)
{
	return n ? ns / 1e3 / n : 0;
}

static json_object *punts_json(const struct state *s, const struct punt_entry *pe, int np,
			       const struct enter_entry *ee, int ne)
{
	json_object *arr = json_object_new_array();

	for (int i = 0; i < np; i++) {
		const struct proc_cost *pc = find_cost(s, pe[i].tgid);
		const struct iolat_enter *en = find_enter(ee, ne, pe[i].tgid);
		json_object *o = json_object_new_object();

		json_object_object_add(o, "pid", sp_json_u64(pe[i].tgid));
		json_object_object_add(o, "comm", json_object_new_string(pe[i].p.comm));
		json_object_object_add(o, "submitted", sp_json_u64(pe[i].p.submitted));
		json_object_object_add(o, "punted", sp_json_u64(pe[i].p.punted));
		if (pc) {
			json_object_object_add(o, "punted_mean_us", sp_json_dbl(mean_us(pc->punted_ns, pc->punted)));
			json_object_object_add(o, "inline_mean_us", sp_json_dbl(mean_us(pc->inline_ns, pc->inline_n)));
			json_object_object_add(o, "iowq_us", sp_json_dbl(pc->iowq_ns / 1e3));
		}
		if (en) {
			json_object_object_add(o, "enter_calls", sp_json_u64(en->calls));
			json_object_object_add(o, "enter_us", sp_json_dbl(en->ns / 1e3));
		}
		json_object_array_add(arr, o);
	}
	return arr;
}

static void print_punts(const struct state *s, const struct punt_entry *pe, int np,
			const struct enter_entry *ee, int ne)
{
	if (!np)
		return;
	printf("\nio_uring requests handed to io-wq workers (punts), by submitting process:\n");
	printf("  %-16s %8s %10s %10s %7s %12s %12s %12s %10s\n", "comm", "pid", "submitted",
	       "punted", "share", "punted mean", "inline mean", "io-wq time", "enter()s");
	for (int i = 0; i < np; i++) {
		const struct proc_cost *pc = find_cost(s, pe[i].tgid);
		const struct iolat_enter *en = find_enter(ee, ne, pe[i].tgid);
		struct proc_cost none = { 0 };

		if (!pc)
			pc = &none;
		printf("  %-16s %8u %10llu %10llu %6.1f%% %10.1fus %10.1fus %10.1fms %10llu\n",
		       pe[i].p.comm, pe[i].tgid, (unsigned long long)pe[i].p.submitted,
		       (unsigned long long)pe[i].p.punted, pe[i].p.submitted ?
		       100.0 * pe[i].p.punted / pe[i].p.submitted : 0.0,
		       mean_us(pc->punted_ns, pc->punted), mean_us(pc->inline_ns, pc->inline_n),
		       pc->iowq_ns / 1e6, en ? (unsigned long long)en->calls : 0ULL);
	}
}

/* ------------------------------------------------------------ picture */

static const char *const layer_colors[MS_N] = {
	"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
	"#ff9da7", "#9c755f", "#bab0ac", "#86bcb6", "#d37295", "#fabfd2", "#8cd17d",
	"#499894", "#f1ce63",
};

/* Stacked bars, one per breakdown, each layer its mean time per I/O. */
static int write_svg(const char *file, const struct state *s)
{
	const int left = 230, width = 600, bar_h = 26, gap = 14, top = 40;
	int legend_y = top + s->nbds * (bar_h + gap) + 30, rows = 0;
	double max_us = 0, scale, tick;
	bool used[MS_N] = { false };
	FILE *f;

	for (int i = 0; i < s->nbds; i++) {
		double us = s->bds[i]->e2e_sum / 1e3 / s->bds[i]->count;

		if (us > max_us)
			max_us = us;
		for (int m = 0; m < MS_N; m++)
			used[m] |= s->bds[i]->layer[m] != NULL;
	}
	for (int m = 0; m < MS_N; m++)
		rows += used[m];
	f = fopen(file, "we");
	if (!f)
		return -errno;
	if (max_us <= 0)
		max_us = 1;
	scale = width / max_us;
	for (tick = 1e-3; max_us / tick > 8; tick *= 10)
		;
	if (max_us / tick < 3)
		tick /= 2;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"font-family=\"sans-serif\" font-size=\"12\">\n", left + width + 60,
		legend_y + (rows + 1) / 2 * 20 + 20);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	fprintf(f, "<text x=\"10\" y=\"20\" font-size=\"15\">iolat: mean time per I/O in each layer (us)</text>\n");
	for (double x = 0; x <= max_us * 1.0001; x += tick)
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
			"<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%g</text>\n",
			left + x * scale, top - 5, left + x * scale, legend_y - 25,
			left + x * scale, legend_y - 10, x);
	for (int i = 0; i < s->nbds; i++) {
		const struct breakdown *b = s->bds[i];
		int y = top + i * (bar_h + gap);
		double x = left;

		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s", left - 8,
			y + bar_h / 2 + 4, path_info[b->path].name);
		if (b->tgid)
			fprintf(f, " (%s %u)", b->comm, b->tgid);
		fprintf(f, " n=%llu</text>\n", (unsigned long long)b->count);
		for (int m = 0; m < MS_N; m++) {
			double w;

			if (!b->layer[m])
				continue;
			w = b->layer_sum[m] / 1e3 / b->count * scale;
			fprintf(f, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\">"
				"<title>%s: %.1f us (%.1f%%)</title></rect>\n", x, y, w, bar_h,
				layer_colors[m], row_name(bd_kind(b), m),
				b->layer_sum[m] / 1e3 / b->count,
				100.0 * b->layer_sum[m] / b->e2e_sum);
			x += w;
		}
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" fill=\"#333\">%.1f</text>\n", x + 4,
			y + bar_h / 2 + 4, b->e2e_sum / 1e3 / b->count);
	}
	for (int m = 0, r = 0; m < MS_N; m++) {
		int x, y;

		if (!used[m])
			continue;
		x = 20 + (r % 2) * 330;
		y = legend_y + (r / 2) * 20;
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\"/>"
			"<text x=\"%d\" y=\"%d\">%s</text>\n", x, y, layer_colors[m], x + 20, y + 12,
			aios ? group_info[m].name :
			m == MS_START ? "syscall / io_uring submit" : layer_info[m].name);
		r++;
	}
	fprintf(f, "</svg>\n");
	return fclose(f) ? -errno : 0;
}

/* ------------------------------------------------------------ one report */

struct metrics_src {
	struct ring_buffer *rb;
	struct state *s;
};

/*
 * --metrics: every breakdown's end-to-end and per-layer histograms. The
 * programs wake no reader per record (it would cost every I/O a
 * wake-up), so what the ring holds is taken in first; records a CPU
 * still batches (a few) come with the next scrape.
 */
static void metrics_fill(FILE *f, void *arg)
{
	const struct metrics_src *src = arg;
	const struct state *s = src->s;

	ring_buffer__consume(src->rb);

	fprintf(f, "# HELP iolat_io_seconds End-to-end latency of I/Os, per path.\n"
		   "# TYPE iolat_io_seconds histogram\n");
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			fprintf(f, "# HELP iolat_layer_seconds Time of each layer an I/O crossed.\n"
				   "# TYPE iolat_layer_seconds histogram\n");
		for (int i = 0; i < s->nbds; i++) {
			const struct breakdown *b = s->bds[i];
			char who[64] = "", labels[160];

			if (b->tgid)
				snprintf(who, sizeof(who), ",pid=\"%u\"", b->tgid);
			if (!pass) {
				snprintf(labels, sizeof(labels), "path=\"%s\"%s",
					 path_info[b->path].key, who);
				sp_metrics_hist(f, "iolat_io_seconds", labels, &b->e2e);
				continue;
			}
			for (int m = 0; m < MS_N; m++) {
				if (!b->layer[m])
					continue;
				snprintf(labels, sizeof(labels), "path=\"%s\",layer=\"%s\"%s",
					 path_info[b->path].key, row_key(bd_kind(b), m), who);
				sp_metrics_hist(f, "iolat_layer_seconds", labels, b->layer[m]);
			}
		}
	}
}

static int report(const struct config *c, struct state *s, uint64_t index,
		  const struct punt_entry *pe,
		   int np, const struct enter_entry *ee, int ne, const __u64 *cnt,
		   json_object *unavailable)
{
	const char *unit = c->ms ? "ms" : "us";
	time_t now = time(NULL);
	int ret = 0;

	qsort(s->hists, s->nhists, sizeof(*s->hists), cmp_hist);
	qsort(s->bds, s->nbds, sizeof(*s->bds), cmp_bd);
	if (c->svg && s->nbds) {
		ret = write_svg(c->svg, s);
		if (ret)
			sp_err("cannot write %s: %s", c->svg, strerror(-ret));
	}
	if (c->json) {
		json_object *root = sp_json_doc("shortpath.iolat/2"), *k = json_object_new_object();

		json_object_object_add(root, "interval", sp_json_u64(index));
		json_object_object_add(root, "unit", json_object_new_string(unit));
		json_object_object_add(root, "clock", json_object_new_string(c->busy ? "busy" : "monotonic"));
		json_object_object_add(root, "histograms", hists_json(c, s));
		json_object_object_add(root, "breakdown", breakdown_json(s));
		json_object_object_add(root, "io_uring", punts_json(s, pe, np, ee, ne));
		json_object_object_add(k, "lost", sp_json_u64(cnt[IOLAT_CNT_LOST]));
		json_object_object_add(k, "bio_split", sp_json_u64(cnt[IOLAT_CNT_SPLIT]));
		json_object_object_add(k, "bio_backmerge", sp_json_u64(cnt[IOLAT_CNT_BACKMERGE]));
		json_object_object_add(k, "bio_frontmerge", sp_json_u64(cnt[IOLAT_CNT_FRONTMERGE]));
		json_object_object_add(k, "requests_unfollowed", sp_json_u64(cnt[IOLAT_CNT_NOSLOT]));
		json_object_object_add(k, "slots_reclaimed", sp_json_u64(cnt[IOLAT_CNT_STALE]));
		json_object_object_add(k, "requests_untied", sp_json_u64(cnt[IOLAT_CNT_UNTIED]));
		json_object_object_add(root, "counters", k);
		json_object_object_add(root, "unavailable", json_object_get(unavailable));
		if (s->events) {
			json_object_object_add(root, "events", s->events);
			s->events = json_object_new_array();
		}
		/* intervals stream one object a line (NDJSON), a single report is
		 * one indented document */
		if (c->interval_s)
			sp_json_print_line_and_free(root);
		else
			sp_json_print_and_free(root);
		return ret;
	}
	if (c->interval_s || c->timestamps) {
		char local[16];

		strftime(local, sizeof(local), "%H:%M:%S", localtime(&now));
		printf("%s=== interval %llu%s%s ===\n", index ? "\n" : "",
		       (unsigned long long)index + 1, c->timestamps ? " at " : "",
		       c->timestamps ? local : "");
	}
	for (int i = 0; i < s->nhists; i++) {
		const struct hist_entry *h = &s->hists[i];
		char name[64];
		bool split = (c->per_disk || c->per_op) && h->path < 0;

		if (h->path >= 0)
			printf("\n@%s_%s_%s", path_info[h->path].key, h->layer, unit);
		else
			printf("\n@%s_%s", h->layer, unit);
		if (c->per_disk) {
			disk_name(h->dev, name, sizeof(name));
			printf("[%s", name);
		}
		if (c->per_op && h->path < 0)
			printf("%s%s", c->per_disk ? ", " : "[", req_op_name(h->op));
		printf("%s: %s, %llu I/Os, mean %.*f %s\n", split || c->per_disk ? "]" : "",
		       hist_title(c, h), (unsigned long long)h->count,
		       c->ms ? 3 : 1, hist_mean(c, h), unit);
		sp_buckets_print(stdout, &h->b);
	}
	if (!s->nhists)
		printf("no block I/O completed%s\n", c->disk ? " on that disk" : "");
	print_breakdown(s);
	print_punts(s, pe, np, ee, ne);
	if (cnt[IOLAT_CNT_SPLIT] || cnt[IOLAT_CNT_BACKMERGE] || cnt[IOLAT_CNT_FRONTMERGE])
		printf("\nbios split %llu, merged %llu (back) %llu (front)\n",
		       (unsigned long long)cnt[IOLAT_CNT_SPLIT],
		       (unsigned long long)cnt[IOLAT_CNT_BACKMERGE],
		       (unsigned long long)cnt[IOLAT_CNT_FRONTMERGE]);
	if (cnt[IOLAT_CNT_LOST])
		printf("\n%llu records lost (ring buffer full): counts above are short\n",
		       (unsigned long long)cnt[IOLAT_CNT_LOST]);
	if (cnt[IOLAT_CNT_NOSLOT])
		printf("\n%llu block requests not followed (more in flight than request slots)\n",
		       (unsigned long long)cnt[IOLAT_CNT_NOSLOT]);
	if (cnt[IOLAT_CNT_STALE])
		printf("\n%llu request slots taken back from requests that never completed\n",
		       (unsigned long long)cnt[IOLAT_CNT_STALE]);
	if (cnt[IOLAT_CNT_UNTIED])
		printf("\n%llu I/Os queued a bio whose request could not be tied back to them (issued\n"
		       "by another task, or its completion not seen): their request layers are missing\n",
		       (unsigned long long)cnt[IOLAT_CNT_UNTIED]);
	fflush(stdout);
	return ret;
}

/* ------------------------------------------------------------ options */

static int parse(int argc, char **argv, struct config *c)
{
	enum { OPT_SVG = 256, OPT_READY, OPT_CGROUP, OPT_METRICS, OPT_BUSY };
	static const struct option longopts[] = {
		{ "disk-split", no_argument, NULL, 'D' },
		{ "op-split", no_argument, NULL, 'F' },
		{ "queued", no_argument, NULL, 'Q' },
		{ "ms", no_argument, NULL, 'm' },
		{ "buckets", required_argument, NULL, 'B' },
		{ "layer-hists", no_argument, NULL, 'L' },
		{ "disk", required_argument, NULL, 'd' },
		{ "pid", required_argument, NULL, 'p' },
		{ "comm", required_argument, NULL, 'c' },
		{ "cgroup", required_argument, NULL, OPT_CGROUP },
		{ "metrics", required_argument, NULL, OPT_METRICS },
		{ "timestamp", no_argument, NULL, 'T' },
		{ "op", required_argument, NULL, 'o' },
		{ "min-us", required_argument, NULL, 'M' },
		{ "per-process", no_argument, NULL, 'P' },
		{ "aios", no_argument, NULL, 'A' },
		{ "busy-clock", no_argument, NULL, OPT_BUSY },
		{ "events", no_argument, NULL, 'e' },
		{ "svg", required_argument, NULL, OPT_SVG },
		{ "ready-fd", required_argument, NULL, OPT_READY },
		SP_OPT_VERBOSE_LONGOPT,
		SP_OPT_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	static const char *const ops[] = { "read", "write", "fsync", "passthrough", "other",
		"flush", "discard", "secure_erase", "write_zeroes", "drv_in", "drv_out" };
	const struct sp_opt_common common = {
		.shortopts = "DFQmB:Ld:p:c:o:M:PAevhT", .usage = usage, .json = &c->json,
	};
	uint64_t v;
	int opt;

	memset(c, 0, sizeof(*c));
	c->ready_fd = -1;
	opterr = 0;	/* one line of our own for a bad option */
	while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'D': c->per_disk = true; break;
		case 'F': c->per_op = true; break;
		case 'Q': c->queued = true; break;
		case 'm': c->ms = true; break;
		case 'L': c->layer_hists = true; break;
		case 'P': c->per_process = true; break;
		case 'A': c->aios = aios = true; break;
		case 'e': c->events = true; break;
		case 'd': c->disk = optarg; break;
		case OPT_SVG: c->svg = optarg; break;
		case OPT_CGROUP: c->cgroup = optarg; break;
		case OPT_METRICS: c->metrics = optarg; break;
		case OPT_BUSY: c->busy = true; break;
		case 'T': c->timestamps = true; break;
		case 'B':
			if (sp_bucket_layout_parse(optarg, &c->layout)) {
				sp_err("--buckets: '%s' is not log2, log2:K (K 0-%d) or linear:MIN,MAX,STEP",
				       optarg, SP_BUCKET_MAX_K);
				return -EINVAL;
			}
			break;
		case 'p':
			if (sp_parse_u64(optarg, 1, INT32_MAX, &v)) {
				sp_err("--pid: '%s' is not a process id", optarg);
				return -EINVAL;
			}
			c->pid = (uint32_t)v;
			break;
		case 'c':
			if (strlen(optarg) > 15) {
				sp_err("--comm: '%s' is longer than a command name (15)", optarg);
				return -EINVAL;
			}
			c->comm = optarg;
			break;
		case 'o': {
			bool known = false;

			for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
				known |= !strcmp(optarg, ops[i]);
			if (!known) {
				sp_err("--op: unknown operation '%s'; see --help", optarg);
				return -EINVAL;
			}
			c->op = optarg;
			break;
		}
		case 'M':
			if (sp_parse_u64(optarg, 0, UINT32_MAX, &c->min_us)) {
				sp_err("--min-us: '%s' is not a number of microseconds", optarg);
				return -EINVAL;
			}
			break;
		case OPT_READY:
			if (sp_parse_u64(optarg, 0, INT32_MAX, &v)) {
				sp_err("--ready-fd: '%s' is not a file descriptor", optarg);
				return -EINVAL;
			}
			c->ready_fd = (int)v;
			break;
		default:
			if (sp_opt_common(&common, opt, argv))
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
	if (c->pid && kill((pid_t)c->pid, 0) && errno == ESRCH) {
		sp_err("--pid: no process %u", c->pid);
		return -EINVAL;
	}
	/* each CPU's busy time runs on its own: stamps from two CPUs would not compare */
	if (c->busy && (kallsyms_addr("tick_cpu_sched", &c->tick_sched_off) ||
			kallsyms_addr("__per_cpu_offset", &c->per_cpu_offset_addr))) {
		sp_err("--busy-clock: /proc/kallsyms names no tick_cpu_sched or __per_cpu_offset "
		       "(a kernel without CONFIG_KALLSYMS_ALL, or not root)");
		return -EINVAL;
	}
	if (c->busy && sysconf(_SC_NPROCESSORS_ONLN) != 1) {
		sp_err("--busy-clock: %ld CPUs online; it needs exactly one (e.g. tests/vm/run --icount)",
		       sysconf(_SC_NPROCESSORS_ONLN));
		return -EINVAL;
	}
	if (c->metrics && c->interval_s) {
		sp_err("--metrics counts from the start for every scrape: no INTERVAL");
		return -EINVAL;
	}
	if (c->svg) {
		/* found out now, not after a whole trace */
		int fd = open(c->svg, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0) {
			sp_err("--svg: cannot write %s: %s", c->svg, strerror(errno));
			return -EINVAL;
		}
		close(fd);
	}
	if (c->cgroup) {
		struct stat st;

		/* a cgroup v2 directory's inode number is its id */
		if (stat(c->cgroup, &st) || !S_ISDIR(st.st_mode)) {
			sp_err("--cgroup: %s is not a cgroup directory (e.g. "
			       "/sys/fs/cgroup/system.slice/foo.service)", c->cgroup);
			return -EINVAL;
		}
		c->cgroup_id = st.st_ino;
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

/* ------------------------------------------------------------ loading */

/*
 * The optional hooks, by the layer they give, and whether a kprobe can
 * stand in for the fentry program (KP) or not (FE_ONLY: the program
 * reads the arguments' structures directly, which only fentry allows).
 */
#define HOOKS(X)							\
	X(vfs_read, "vfs_read", "VFS", KP)				\
	X(vfs_write, "vfs_write", "VFS", KP)				\
	X(ext4_read, "ext4_file_read_iter", "filesystem", KP)		\
	X(ext4_write, "ext4_file_write_iter", "filesystem", KP)		\
	X(blkdev_read, "blkdev_read_iter", "filesystem", KP)		\
	X(blkdev_write, "blkdev_write_iter", "filesystem", KP)		\
	X(filemap_read, "filemap_read", "page cache", KP)		\
	X(perform_write, "generic_perform_write", "page cache", KP)	\
	X(nvme_queue_rq, "nvme_queue_rq", "driver submit", KP)		\
	X(scsi_queue_rq, "scsi_queue_rq", "driver submit", KP)		\
	X(iowq, "io_wq_submit_work", "io-wq block I/O", KP)		\
	X(exec_rq, "blk_execute_rq_nowait", "passthrough owner", FE_ONLY)

enum {
#define X(name, func, layer, kp) H_##name,
	HOOKS(X)
#undef X
	H_N,
};

static const char *const hook_funcs[H_N] = {
#define X(name, func, layer, kp) func,
	HOOKS(X)
#undef X
};

static const char *const hook_layers[H_N] = {
#define X(name, func, layer, kp) layer,
	HOOKS(X)
#undef X
};

#define KPROBE_PROG_KP(skel, name) (skel)->progs.kp_##name
#define KPROBE_PROG_FE_ONLY(skel, name) NULL

/* fe[h], kp[h]: the programs of hook h (kp[h] NULL: fentry only) */
static void hook_progs(struct iolat_bpf *skel, struct bpf_program **fe, struct bpf_program **kp)
{
#define X(name, func, layer, kind)				\
	fe[H_##name] = skel->progs.fe_##name;			\
	kp[H_##name] = KPROBE_PROG_##kind(skel, name);
	HOOKS(X)
#undef X
}

enum hook_mode { HOOK_FENTRY, HOOK_KPROBE, HOOK_NONE };

struct tracer {
	struct iolat_bpf *skel;
	struct bpf_link *links[H_N];
	/* kept across detaching, until the counts are collected */
	struct bpf_link *flush, *task_exit;
	enum hook_mode mode;
	bool hooked[H_N];
};

static bool tp_exists(const char *event)
{
	return sp_tracepoint_id(event) >= 0;
}

/*
 * The request moment comes from the request's own allocation stamp
 * (rq_alloc_ns in the BPF program), unless a disk does not stamp: then
 * the block_getrq tracepoint is followed too, for every disk.
 */
static bool getrq_followed(void)
{
	char disk[64];
	int n = sp_blk_without_iostats(disk, sizeof(disk));

	if (n > 0)
		sp_info("%s has queue/iostats off: following block_getrq for the request moment",
			disk);
	return n != 0;
}

/* The driver tracepoints, each with a BTF and a classic program. */
enum { DRV_NVME_SETUP, DRV_NVME_DONE, DRV_SCSI_START, DRV_SCSI_DONE, DRV_N };

static const char *const driver_events[DRV_N] = {
	"nvme/nvme_setup_cmd", "nvme/nvme_complete_rq",
	"scsi/scsi_dispatch_cmd_start", "scsi/scsi_dispatch_cmd_done",
};

/*
 * Which of the programs' events this kernel has, probed once for every
 * load that tracer_start tries.
 */
struct kernel_events {
	bool submit_req, submit_sqe, punt, task_add;
	int cqe_args;
	/*
	 * A driver tracepoint's BTF program, given the request, where the
	 * module's BTF describes it, else the classic one, matched to a
	 * request on its CPU.
	 */
	bool driver_btf[DRV_N], driver_plain[DRV_N];
	bool ext4_sync, jbd2_start, jbd2_end, getrq;
};

static void kernel_events_probe(struct kernel_events *k)
{
	/* The submit tracepoint was renamed after 6.1: keep the one this kernel has. */
	k->submit_req = tp_exists("io_uring/io_uring_submit_req");
	k->submit_sqe = !k->submit_req && tp_exists("io_uring/io_uring_submit_sqe");
	k->punt = tp_exists("io_uring/io_uring_queue_async_work");
	k->task_add = tp_exists("io_uring/io_uring_task_add");
	/* the CQE's arguments changed after 6.1: keep the program that matches */
	k->cqe_args = sp_btf_tp_nargs("io_uring_complete");
	sp_dbg("io_uring: submission on %s, io-wq punts %s, task work %s, io_uring_complete with %d arguments",
	       k->submit_req ? "io_uring_submit_req" : k->submit_sqe ? "io_uring_submit_sqe" : "nothing",
	       k->punt ? "seen" : "unseen", k->task_add ? "seen" : "unseen", k->cqe_args);
	/* Driver and filesystem tracepoints exist only with their modules loaded. */
	for (int d = 0; d < DRV_N; d++) {
		const char *event = driver_events[d];

		k->driver_btf[d] = sp_btf_tp_nargs(strchr(event, '/') + 1) >= 0;
		k->driver_plain[d] = !k->driver_btf[d] && tp_exists(event);
		sp_dbg("%s: %s", event, k->driver_btf[d] ? "BTF tracepoint, matched by its request" :
			k->driver_plain[d] ? "no BTF for it: matched on its CPU" : "not in this kernel");
	}
	k->ext4_sync = tp_exists("ext4/ext4_sync_file_enter");
	k->jbd2_start = tp_exists("jbd2/jbd2_start_commit");
	k->jbd2_end = tp_exists("jbd2/jbd2_end_commit");
	k->getrq = getrq_followed();
}

static int open_load(const struct config *c, const struct kernel_events *k, enum hook_mode mode,
		     const bool *present, struct iolat_bpf **out)
{
	struct bpf_program *fe[H_N], *kp[H_N];
	struct iolat_bpf *skel = iolat_bpf__open();
	int err;

	if (!skel)
		return -errno;
	struct bpf_program *const driver[DRV_N][2] = {
		[DRV_NVME_SETUP] = { skel->progs.iolat_nvme_setup_rq, skel->progs.iolat_nvme_setup },
		[DRV_NVME_DONE] = { skel->progs.iolat_nvme_done_rq, skel->progs.iolat_nvme_done },
		[DRV_SCSI_START] = { skel->progs.iolat_scsi_start_rq, skel->progs.iolat_scsi_start },
		[DRV_SCSI_DONE] = { skel->progs.iolat_scsi_done_rq, skel->progs.iolat_scsi_done },
	};

	skel->rodata->filter_tgid = c->pid;
	skel->rodata->self_tgid = getpid();
	skel->rodata->filter_cgid = c->cgroup_id;
	if (c->comm)
		strncpy((char *)skel->rodata->filter_comm, c->comm, sizeof(skel->rodata->filter_comm) - 1);
	skel->rodata->filter_dev = c->dev;
	skel->rodata->min_ns = c->min_us * 1000;
	skel->rodata->busy_clock = c->busy;
	skel->rodata->tick_sched_off = c->tick_sched_off;
	skel->rodata->per_cpu_offset_addr = c->per_cpu_offset_addr;
	/* run on demand by counts_flush, never attached to an event */
	bpf_program__set_autoattach(skel->progs.iolat_flush, false);
	bpf_program__set_autoattach(skel->progs.iolat_task_exit, false);
	bpf_program__set_autoload(skel->progs.iolat_submit_req, k->submit_req);
	bpf_program__set_autoload(skel->progs.iolat_submit_sqe, k->submit_sqe);
	bpf_program__set_autoload(skel->progs.iolat_punt, k->punt);
	bpf_program__set_autoload(skel->progs.iolat_task_add, k->task_add);
	bpf_program__set_autoload(skel->progs.iolat_uring_complete, k->cqe_args == 3);
	bpf_program__set_autoload(skel->progs.iolat_uring_complete_v61, k->cqe_args > 3);
	for (int d = 0; d < DRV_N; d++) {
		bpf_program__set_autoload(driver[d][0], k->driver_btf[d]);
		bpf_program__set_autoload(driver[d][1], k->driver_plain[d]);
	}
	bpf_program__set_autoload(skel->progs.iolat_ext4_sync, k->ext4_sync);
	bpf_program__set_autoload(skel->progs.iolat_jbd2_start, k->jbd2_start);
	bpf_program__set_autoload(skel->progs.iolat_jbd2_end, k->jbd2_end);
	bpf_program__set_autoload(skel->progs.iolat_getrq, k->getrq);
	hook_progs(skel, fe, kp);
	for (int h = 0; h < H_N; h++) {
		bpf_program__set_autoload(fe[h], mode == HOOK_FENTRY && present[h]);
		/* attached one by one, so that one refusal costs one layer */
		bpf_program__set_autoattach(fe[h], false);
		if (kp[h]) {
			bpf_program__set_autoload(kp[h], mode == HOOK_KPROBE && present[h]);
			bpf_program__set_autoattach(kp[h], false);
		}
	}
	err = iolat_bpf__load(skel);
	if (err) {
		iolat_bpf__destroy(skel);
		return err;
	}
	*out = skel;
	return 0;
}

/*
 * Loads with fentry hooks, else with kprobes, else without either, and
 * attaches. Fills `unavailable` with the layers lost and prints one
 * line saying which and why.
 */
static int tracer_start(const struct config *c, struct tracer *t, json_object *unavailable)
{
	struct bpf_program *fe[H_N], *kp[H_N];
	struct kernel_events k;
	bool present[H_N];
	char why[160] = "", missing[256] = "";
	int err, fe_err = 0, kp_err = 0;

	sp_ksyms_present(hook_funcs, present, H_N);
	kernel_events_probe(&k);
	/* for tests: fentry taken as refused, so that kprobes stand in */
	if (getenv("SP_IOLAT_NO_FENTRY"))
		err = -EPERM;
	else
		err = open_load(c, &k, HOOK_FENTRY, present, &t->skel);
	t->mode = HOOK_FENTRY;
	if (err) {
		fe_err = err;
		t->mode = HOOK_KPROBE;
		err = open_load(c, &k, HOOK_KPROBE, present, &t->skel);
		if (err) {
			kp_err = err;
			t->mode = HOOK_NONE;
			err = open_load(c, &k, HOOK_NONE, present, &t->skel);
		}
	}
	if (err) {
		sp_err("cannot load the tracing programs: %s", strerror(-err));
		return err;
	}
	err = iolat_bpf__attach(t->skel);
	if (err) {
		sp_err("cannot attach to the block and io_uring tracepoints: %s", strerror(-err));
		return err;
	}
	t->task_exit = bpf_program__attach(t->skel->progs.iolat_task_exit);
	t->flush = t->task_exit ? bpf_program__attach_iter(t->skel->progs.iolat_flush, NULL) : NULL;
	if (!t->flush) {
		err = -errno;
		sp_err("cannot attach what collects the io_uring counts (task exit, task iterator): %s",
		       strerror(-err));
		return err;
	}
	hook_progs(t->skel, fe, kp);
	for (int h = 0; h < H_N && t->mode != HOOK_NONE; h++) {
		struct bpf_program *p = t->mode == HOOK_FENTRY ? fe[h] : kp[h];

		/* without p the layer is lost for fentry's refusal, said below */
		if (!present[h] || !p)
			continue;
		t->links[h] = bpf_program__attach(p);
		if (!t->links[h]) {
			int e = -errno;

			t->links[h] = NULL;
			if (t->mode == HOOK_FENTRY)
				fe_err = fe_err ? fe_err : e;
			else
				kp_err = kp_err ? kp_err : e;
			continue;
		}
		t->hooked[h] = true;
	}
	/* one line: the layers lost, and why */
	for (int h = 0; h < H_N; h++) {
		bool dup = false;

		if (t->hooked[h])
			continue;
		/* a layer is lost only if none of its hooks made it */
		for (int g = 0; g < H_N; g++)
			if (!strcmp(hook_layers[g], hook_layers[h]) && t->hooked[g])
				dup = true;
		for (int g = 0; g < h; g++)
			if (!strcmp(hook_layers[g], hook_layers[h]) && !t->hooked[g])
				dup = true;
		if (dup)
			continue;
		/* a driver that is not loaded is not a loss */
		if (!present[h] && (h == H_nvme_queue_rq || h == H_scsi_queue_rq))
			continue;
		snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
			 *missing ? ", " : "", hook_layers[h]);
		json_object_array_add(unavailable, json_object_new_string(hook_layers[h]));
	}
	if (fe_err)
		snprintf(why, sizeof(why), "fentry refused (%s)", strerror(-fe_err));
	if (kp_err)
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "%skprobes refused (%s)",
			 *why ? ", " : "", strerror(-kp_err));
	if (*missing)
		sp_notice("layers unavailable: %s: %s; reporting the rest", missing,
			  *why ? why : "no such kernel functions");
	else if (t->mode == HOOK_KPROBE)
		sp_info("optional layers through kprobes (fentry refused: %s)", strerror(-fe_err));
	return 0;
}

static void tracer_detach(struct tracer *t)
{
	if (t->skel)
		iolat_bpf__detach(t->skel);
	for (int h = 0; h < H_N; h++) {
		bpf_link__destroy(t->links[h]);
		t->links[h] = NULL;
	}
}

/*
 * Moves every task's io_uring counts into the punts and enters maps
 * (tasks that ended did so themselves): running the iterator is reading
 * it to its end.
 */
static int counts_flush(struct tracer *t)
{
	char buf[64];
	ssize_t n;
	int fd = bpf_iter_create(bpf_link__fd(t->flush));

	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	close(fd);
	return n < 0 ? -errno : 0;
}

static void tracer_stop(struct tracer *t)
{
	bpf_link__destroy(t->flush);
	bpf_link__destroy(t->task_exit);
	t->flush = t->task_exit = NULL;
	tracer_detach(t);
	iolat_bpf__destroy(t->skel);
}

static int drain_counters(struct iolat_bpf *skel, __u64 *cnt)
{
	for (int i = 0; i < IOLAT_CNT_N; i++)
		cnt[i] = __atomic_exchange_n(&skel->bss->counters[i], 0, __ATOMIC_RELAXED);
	return 0;
}

int main(int argc, char **argv)
{
	json_object *unavailable = json_object_new_array();
	struct tracer t = { 0 };
	struct state s = { 0 };
	struct ring_buffer *rb = NULL;
	struct config c;
	int err, status = SP_EXIT_OK, pidfd = -1;
	bool gone = false;	/* --pid's process ended */
	struct sp_metrics metrics = { .fd = -1 };
	char why[256];

	sp_log_init(argv[0], SP_LOG_NOTICE);
	if (parse(argc, argv, &c)) {
		json_object_put(unavailable);
		return SP_EXIT_USAGE;
	}
	sp_bpf_init();
	s.c = &c;
	s.t0 = sp_now_ns();
	if (c.events && c.json)
		s.events = json_object_new_array();
	if (tracer_start(&c, &t, unavailable)) {
		status = SP_EXIT_FAIL;
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(t.skel->maps.events), on_event, &s, NULL);
	if (!rb) {
		sp_err("cannot open the event ring buffer: %s", strerror(errno));
		status = SP_EXIT_FAIL;
		goto out;
	}
	if (c.metrics && sp_metrics_listen(&metrics, c.metrics, why, sizeof(why))) {
		sp_err("--metrics: %s", why);
		status = SP_EXIT_USAGE;
		goto out;
	}
	sp_stop_catch();
	/* --pid: the trace ends with the process, also one killed by SIGKILL */
	if (c.pid) {
		pidfd = (int)syscall(SYS_pidfd_open, (pid_t)c.pid, 0);
		if (pidfd < 0)
			sp_notice("--pid %u: no pidfd (%s); tracing until stopped",
				  c.pid, strerror(errno));
	}
	/* under a wrapper (--ready-fd) the wrapper says when it ends */
	if (!c.json && !c.events && c.ready_fd < 0)
		fprintf(stderr, "iolat: tracing I/O%s%s... %s\n", c.disk ? " on " : "",
			c.disk ? c.disk : "", c.interval_s ? "" : "Ctrl-C to end");
	if (c.events && !c.json)
		printf("%-10s %-16s %7s %-13s %9s  layers (us)\n", "TIME(s)", "COMM", "PID",
		       "PATH", "LAT(us)");
	sp_ready_say(c.ready_fd);	/* the wrapper starts the I/O after it */
	/* a stop that came before the first pass still gets its report */
	for (uint64_t done = 0; ; done++) {
		uint64_t deadline = sp_now_ns() + c.interval_s * 1000000000ULL;
		struct punt_entry *pe = NULL;
		struct enter_entry *ee = NULL;
		__u64 cnt[IOLAT_CNT_N];
		int np, ne;
		bool last;

		while (!gone && !sp_stop_requested() &&
		       (!c.interval_s || sp_now_ns() < deadline)) {
			if (pidfd >= 0 && process_gone(pidfd)) {
				sp_notice("process %u exited: the trace ends", c.pid);
				gone = true;
			}
			err = ring_buffer__poll(rb, 100);
			sp_metrics_serve(&metrics, metrics_fill,
					 &(struct metrics_src){ .rb = rb, .s = &s });
			if (err < 0 && err != -EINTR) {
				sp_err("reading the ring buffer: %s", strerror(-err));
				status = SP_EXIT_FAIL;
				goto out;
			}
		}
		last = gone || sp_stop_requested() || !c.interval_s || (c.count && done + 1 >= c.count);
		/*
		 * What is still in the ring belongs to this interval; at the
		 * end, so do the records the CPUs hold back, which are only
		 * final once nothing runs.
		 */
		if (last)
			tracer_detach(&t);
		ring_buffer__consume(rb);
		if (last) {
			err = drain_batches(t.skel, &s);
			if (err)
				sp_warn("records held back by the CPUs are lost: %s", strerror(-err));
		}
		err = counts_flush(&t);
		if (err)
			sp_warn("io_uring counts of running tasks are missing: %s", strerror(-err));
		/* a task that ended before the flush moved its counts itself */
		if (last) {
			bpf_link__destroy(t.task_exit);
			t.task_exit = NULL;
		}
		np = sp_bpf_map_drain(bpf_map__fd(t.skel->maps.punts), sizeof(pe->tgid), sizeof(*pe),
				      offsetof(struct punt_entry, p), (void **)&pe);
		ne = sp_bpf_map_drain(bpf_map__fd(t.skel->maps.enters), sizeof(ee->tgid), sizeof(*ee),
				      offsetof(struct enter_entry, e), (void **)&ee);
		drain_counters(t.skel, cnt);
		if (report(&c, &s, done, pe, np < 0 ? 0 : np, ee, ne < 0 ? 0 : ne, cnt, unavailable))
			status = SP_EXIT_FAIL;
		state_reset(&s);
		free(pe);
		free(ee);
		if (last)
			break;
	}
out:
	sp_metrics_close(&metrics);
	if (pidfd >= 0)
		close(pidfd);
	ring_buffer__free(rb);
	tracer_stop(&t);
	state_reset(&s);
	json_object_put(s.events);
	json_object_put(unavailable);
	return status;
}
