// SPDX-License-Identifier: MIT
/*
 * sp-guard: which NVMe passthrough commands a uid, a group or a cgroup
 * may send to which device, enforced by the BPF LSM programs of
 * bpf/guard.bpf.c on both ways in (io_uring uring_cmd and ioctl), from
 * a small policy file. Shows each refusal as it happens and the counts
 * when it is stopped; stopping it removes every program.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <linux/nvme_ioctl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "guard.skel.h"
#include "nodes.h"
#include "policy.h"
#include "nvme_spec.h"
#include "sp_bpf.h"
#include "sp_sysfs.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_version.h"

_Static_assert(GUARD_NVME_IOCTL_ADMIN_CMD == NVME_IOCTL_ADMIN_CMD, "nvme_ioctl.h");
_Static_assert(GUARD_NVME_IOCTL_SUBMIT_IO == NVME_IOCTL_SUBMIT_IO, "nvme_ioctl.h");
_Static_assert(GUARD_NVME_IOCTL_IO_CMD == NVME_IOCTL_IO_CMD, "nvme_ioctl.h");
_Static_assert(GUARD_NVME_IOCTL_ADMIN64_CMD == NVME_IOCTL_ADMIN64_CMD, "nvme_ioctl.h");
_Static_assert(GUARD_NVME_IOCTL_IO64_CMD == NVME_IOCTL_IO64_CMD, "nvme_ioctl.h");
_Static_assert(GUARD_NVME_URING_CMD_IO == NVME_URING_CMD_IO, "nvme_ioctl.h");
_Static_assert(GUARD_NVME_URING_CMD_ADMIN_VEC == NVME_URING_CMD_ADMIN_VEC, "nvme_ioctl.h");


static const char *const path_names[GUARD_PATHS] = { "io_uring", "ioctl" };

struct config {
	const char *policy;
	bool check, json, stats;
};

/* ------------------------------------------------------------ policy file */

/* Reads the policy's syntax; devices and cgroups are looked up later. */
static int policy_read(struct policy *p, const char *file)
{
	char why[256];
	int ret;

	memset(p, 0, sizeof(*p));
	p->file = file;
	ret = policy_parse_file(p, file, why, sizeof(why));
	if (ret)
		sp_err("%s", why);
	return ret;
}

/* ------------------------------------------------------------ denials */

struct tally {
	uint32_t uid, dev;
	uint8_t path, class, opcode;
	uint64_t count;
};

struct monitor {
	const struct config *c;
	const struct policy *p;
	struct tally *t;
	int n;
	uint64_t events;
};

static void tally_add(struct monitor *m, const struct guard_event *e)
{
	struct tally *grown;

	m->events++;
	for (int i = 0; i < m->n; i++) {
		struct tally *t = &m->t[i];

		if (t->uid == e->uid && t->dev == e->dev && t->path == e->path &&
		    t->class == e->class && t->opcode == e->opcode) {
			t->count++;
			return;
		}
	}
	grown = realloc(m->t, (m->n + 1) * sizeof(*m->t));
	if (!grown)
		return;
	m->t = grown;
	m->t[m->n++] = (struct tally){ .uid = e->uid, .dev = e->dev, .path = e->path,
				       .class = e->class, .opcode = e->opcode, .count = 1 };
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct monitor *m = ctx;
	const struct guard_event *e = data;
	char dbuf[32], obuf[64], comm[17];
	unsigned path = e->path % GUARD_PATHS, cls = e->class % GUARD_CLASSES;

	if (size < sizeof(*e))
		return 0;
	tally_add(m, e);
	snprintf(comm, sizeof(comm), "%.16s", e->comm);
	if (m->c->json) {
		json_object *o = json_object_new_object();
		const char *name = sp_nvme_opcode_name(cls == GUARD_ADMIN, e->opcode);

		snprintf(dbuf, sizeof(dbuf), "0x%08x", e->cmd);
		json_object_object_add(o, "event", json_object_new_string("deny"));
		json_object_object_add(o, "ts_ns", sp_json_u64(e->ts_ns));
		json_object_object_add(o, "pid", sp_json_u64(e->pid));
		json_object_object_add(o, "tid", sp_json_u64(e->tid));
		json_object_object_add(o, "comm", json_object_new_string(comm));
		json_object_object_add(o, "uid", sp_json_u64(e->uid));
		json_object_object_add(o, "gid", sp_json_u64(e->gid));
		json_object_object_add(o, "cgroup", sp_json_u64(e->cgroup));
		json_object_object_add(o, "path", json_object_new_string(path_names[path]));
		json_object_object_add(o, "cmd", json_object_new_string(dbuf));
		json_object_object_add(o, "device", json_object_new_string(
			node_name(m->p, e->dev, dbuf, sizeof(dbuf))));
		json_object_object_add(o, "class", json_object_new_string(policy_class_names[cls]));
		json_object_object_add(o, "opcode", json_object_new_int(e->opcode));
		json_object_object_add(o, "opcode_name", name ? json_object_new_string(name) : NULL);
		json_object_object_add(o, "nsid", sp_json_u64(e->nsid));
		sp_json_print_line_and_free(o);
		return 0;
	}
	{
		time_t now = time(NULL);
		struct tm tm;
		char hms[16];

		localtime_r(&now, &tm);
		strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
		printf("%-8s %-7u %-16s %-6u %-8s %-8s %-5s %s\n", hms, e->pid, comm, e->uid,
		       node_name(m->p, e->dev, dbuf, sizeof(dbuf)), path_names[path],
		       policy_class_names[cls], opcode_str(cls, e->opcode, obuf, sizeof(obuf)));
		fflush(stdout);
	}
	return 0;
}

/* Sums of the per-CPU counters: [path][class], and lost events. */
static int read_counts(struct guard_bpf *skel, struct guard_counts sum[GUARD_PATHS][GUARD_CLASSES],
		       uint64_t *lost)
{
	int ncpu = libbpf_num_possible_cpus();
	struct guard_counts *per;
	uint64_t *l;
	uint32_t zero = 0;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	per = calloc(ncpu, sizeof(*per));
	l = calloc(ncpu, sizeof(*l));
	if (!per || !l) {
		free(per);
		free(l);
		return -ENOMEM;
	}
	memset(sum, 0, sizeof(struct guard_counts) * GUARD_PATHS * GUARD_CLASSES);
	for (uint32_t k = 0; k < GUARD_PATHS * GUARD_CLASSES; k++) {
		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &k, per))
			continue;
		for (int i = 0; i < ncpu; i++) {
			sum[k / GUARD_CLASSES][k % GUARD_CLASSES].checked += per[i].checked;
			sum[k / GUARD_CLASSES][k % GUARD_CLASSES].denied += per[i].denied;
		}
	}
	*lost = 0;
	if (!bpf_map_lookup_elem(bpf_map__fd(skel->maps.lost), &zero, l))
		for (int i = 0; i < ncpu; i++)
			*lost += l[i];
	free(per);
	free(l);
	return 0;
}

static void summary(struct guard_bpf *skel, const struct monitor *m)
{
	struct guard_counts sum[GUARD_PATHS][GUARD_CLASSES];
	uint64_t lost = 0, checked = 0, denied = 0;
	struct bpf_program *prog;
	char dbuf[32], obuf[64];

	if (read_counts(skel, sum, &lost))
		memset(sum, 0, sizeof(sum));
	for (int p = 0; p < GUARD_PATHS; p++)
		for (int c = 0; c < GUARD_CLASSES; c++) {
			checked += sum[p][c].checked;
			denied += sum[p][c].denied;
		}
	if (m->c->json) {
		json_object *root = json_object_new_object();
		json_object *by = json_object_new_object(), *arr = json_object_new_array();

		json_object_object_add(root, "event", json_object_new_string("summary"));
		json_object_object_add(root, "schema", json_object_new_string("shortpath.guard/1"));
		sp_json_stamp(root);
		json_object_object_add(root, "checked", sp_json_u64(checked));
		json_object_object_add(root, "denied", sp_json_u64(denied));
		json_object_object_add(root, "lost_events", sp_json_u64(lost));
		for (int p = 0; p < GUARD_PATHS; p++) {
			json_object *po = json_object_new_object();

			for (int c = 0; c < GUARD_CLASSES; c++) {
				json_object *co = json_object_new_object();

				json_object_object_add(co, "checked", sp_json_u64(sum[p][c].checked));
				json_object_object_add(co, "denied", sp_json_u64(sum[p][c].denied));
				json_object_object_add(po, policy_class_names[c], co);
			}
			json_object_object_add(by, path_names[p], po);
		}
		json_object_object_add(root, "by_path", by);
		for (int i = 0; i < m->n; i++) {
			const struct tally *t = &m->t[i];
			const char *name = sp_nvme_opcode_name(t->class == GUARD_ADMIN, t->opcode);
			json_object *o = json_object_new_object();

			json_object_object_add(o, "uid", sp_json_u64(t->uid));
			json_object_object_add(o, "device", json_object_new_string(
				node_name(m->p, t->dev, dbuf, sizeof(dbuf))));
			json_object_object_add(o, "path", json_object_new_string(path_names[t->path % GUARD_PATHS]));
			json_object_object_add(o, "class", json_object_new_string(policy_class_names[t->class % GUARD_CLASSES]));
			json_object_object_add(o, "opcode", json_object_new_int(t->opcode));
			json_object_object_add(o, "opcode_name", name ? json_object_new_string(name) : NULL);
			json_object_object_add(o, "count", sp_json_u64(t->count));
			json_object_array_add(arr, o);
		}
		json_object_object_add(root, "denials", arr);
		if (m->c->stats) {
			arr = json_object_new_array();
			bpf_object__for_each_program(prog, skel->obj) {
				struct bpf_prog_info info = {};
				__u32 len = sizeof(info);
				json_object *o;

				if (bpf_program__fd(prog) < 0 ||
				    bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
					continue;
				o = json_object_new_object();
				json_object_object_add(o, "name", json_object_new_string(bpf_program__name(prog)));
				json_object_object_add(o, "runs", sp_json_u64(info.run_cnt));
				json_object_object_add(o, "run_ns", sp_json_u64(info.run_time_ns));
				json_object_object_add(o, "ns_per_run", sp_json_dbl(info.run_cnt ?
					(double)info.run_time_ns / info.run_cnt : 0));
				json_object_array_add(arr, o);
			}
			json_object_object_add(root, "programs", arr);
		}
		sp_json_print_line_and_free(root);
		return;
	}
	printf("\n%llu of %llu passthrough commands to guarded nodes denied",
	       (unsigned long long)denied, (unsigned long long)checked);
	for (int p = 0; p < GUARD_PATHS; p++)
		printf("%s%s %llu/%llu", p ? ", " : " (", path_names[p],
		       (unsigned long long)(sum[p][0].denied + sum[p][1].denied),
		       (unsigned long long)(sum[p][0].checked + sum[p][1].checked));
	printf(")\n");
	if (lost)
		printf("%llu denials not shown: the event ring was full\n", (unsigned long long)lost);
	if (m->n) {
		printf("%8s %-6s %-8s %-8s %-5s %s\n", "COUNT", "UID", "DEVICE", "PATH", "CLASS", "OPCODE");
		for (int i = 0; i < m->n; i++) {
			const struct tally *t = &m->t[i];

			printf("%8llu %-6u %-8s %-8s %-5s %s\n", (unsigned long long)t->count, t->uid,
			       node_name(m->p, t->dev, dbuf, sizeof(dbuf)),
			       path_names[t->path % GUARD_PATHS], policy_class_names[t->class % GUARD_CLASSES],
			       opcode_str(t->class % GUARD_CLASSES, t->opcode, obuf, sizeof(obuf)));
		}
	}
	if (m->c->stats) {
		bpf_object__for_each_program(prog, skel->obj) {
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);

			if (bpf_program__fd(prog) < 0 ||
			    bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
				continue;
			printf("%-20s %llu runs, %.0f ns per run\n", bpf_program__name(prog),
			       (unsigned long long)info.run_cnt,
			       info.run_cnt ? (double)info.run_time_ns / info.run_cnt : 0.0);
		}
	}
	fflush(stdout);
}

/* ------------------------------------------------------------ main */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

/* Words of list, indented, in lines of at most 76 columns. */
static void wrap(char *list, char *out, size_t len)
{
	char *save = NULL, *w;
	size_t off = 0, col = 0;

	out[0] = '\0';
	for (w = strtok_r(list, " ", &save); w && off < len; w = strtok_r(NULL, " ", &save)) {
		if (col && col + 1 + strlen(w) > 76) {
			off += snprintf(out + off, len - off, "\n        ");
			col = 8;
		} else if (col) {
			off += snprintf(out + off, len - off, " ");
			col++;
		} else {
			col = 9;
		}
		off += snprintf(out + off, len - off, "%s", w);
		col += strlen(w);
	}
}

static void usage(FILE *f)
{
	char list[1024], io[1200], admin[1200];

	sp_nvme_opcode_list(false, list, sizeof(list));
	wrap(list, io, sizeof(io));
	sp_nvme_opcode_list(true, list, sizeof(list));
	wrap(list, admin, sizeof(admin));
	fprintf(f,
"Usage: sp-guard [OPTIONS] POLICY\n"
"\n"
"Enforce POLICY on NVMe passthrough commands (io_uring uring_cmd and the\n"
"NVMe ioctls) with BPF LSM programs until SIGINT or SIGTERM, showing every\n"
"refused command as it happens and the counts at the end. Stopping it\n"
"removes the programs: everything is allowed again.\n"
"\n"
"POLICY is a text file, one statement a line, '#' starts a comment:\n"
"  allow SUBJECT DEVICE CLASS:OPCODES [CLASS:OPCODES]\n"
"  guard DEVICE\n"
"SUBJECT: all, uid:N, user:NAME, gid:N, group:NAME (effective or\n"
"supplementary), cgroup:PATH (that cgroup v2 and everything below it).\n"
"DEVICE: /dev/nvmeX (controller) or /dev/nvmeXnY, /dev/ngXnY (namespace:\n"
"either names both). Every node of a controller named anywhere is\n"
"guarded; on a guarded node whatever no rule allows is refused (EPERM).\n"
"CLASS: io or admin; OPCODES: comma-separated names, numbers, or all.\n"
"  io:    %s\n"
"  admin: %s\n"
"\n"
"  -c, --check     check POLICY and show what it allows; load nothing\n"
"      --stats     also count the programs' run time (kernel.bpf_stats)\n"
"      --json      one JSON document a line: each denial, then a summary\n"
"  -v, --verbose   libbpf's messages\n"
"  -h, --help      this text\n"
"      --version   the version of shortpath it belongs to\n"
"\n"
"Example policy:\n"
"  allow uid:0     /dev/nvme0   io:all admin:all   # the owner\n"
"  allow uid:0     /dev/ng0n1   io:all\n"
"  allow group:disk /dev/ng0n1  io:read,flush admin:identify\n"
"Examples:\n"
"  sp-guard --check /etc/shortpath/guard.policy\n"
"  sp-guard /etc/shortpath/guard.policy            # Ctrl-C to remove\n"
"  sp-guard --json guard.policy > denials.jsonl &\n"
"\n"
"Exit status: 0 ok, 1 runtime failure, 2 bad usage or policy, or no BPF\n"
"LSM on this kernel (one line says which).\n", io, admin);
}

static int parse(int argc, char **argv, struct config *c)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "stats", no_argument, NULL, 'S' },
		SP_OPT_VERBOSE_LONGOPT,
		SP_OPT_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const struct sp_opt_common common = { .shortopts = "cvh", .usage = usage, .json = &c->json };
	int opt;

	memset(c, 0, sizeof(*c));
	opterr = 0;	/* one line of our own for a bad option */
	while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': c->check = true; break;
		case 'S': c->stats = true; break;
		default:
			if (sp_opt_common(&common, opt, argv))
				return -EINVAL;
		}
	}
	if (optind >= argc) {
		sp_err("no POLICY file; see --help");
		return -EINVAL;
	}
	c->policy = argv[optind++];
	if (optind < argc) {
		sp_err("unexpected argument '%s'; see --help", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Whether this kernel has an LSM hook (bpf_lsm_NAME in its BTF). */
static bool have_lsm_hook(const char *name)
{
	const struct btf *btf = sp_vmlinux_btf();
	char fn[64];

	if (!btf)
		return false;
	snprintf(fn, sizeof(fn), "bpf_lsm_%s", name);
	return btf__find_by_name_kind(btf, fn, BTF_KIND_FUNC) > 0;
}

static int fill_maps(struct guard_bpf *skel, const struct policy *p)
{
	uint32_t one = 1;

	for (int i = 0; i < p->n_nodes; i++)
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.guarded), &p->nodes[i].dev, &one, BPF_ANY))
			return -errno;
	for (int i = 0; i < p->n_rules; i++)
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.rules), &p->rules[i].key,
					&p->rules[i].allow, BPF_ANY))
			return -errno;
	return 0;
}

/* Whether the attached programs run: bpf must be in the lsm= list too. */
static bool programs_run(struct guard_bpf *skel)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	(void)!ioctl(fd, GUARD_PROBE_IOCTL, 0);
	close(fd);
	return skel->bss->probe_hits > 0;
}

static void unavailable(const char *what, int err)
{
	sp_err("BPF LSM unavailable: %s (%s); needs root and a kernel booted with "
	       "bpf in lsm=", what, strerror(err));
}

int main(int argc, char **argv)
{
	struct ring_buffer *rb = NULL;
	struct monitor m = { 0 };
	struct guard_bpf *skel = NULL;
	struct policy p;
	struct config c;
	struct sigaction sa = { .sa_handler = on_signal };
	int err, stats_fd = -1, status = SP_EXIT_OK;
	unsigned long n_nodes;

	sp_log_init(argv[0], SP_LOG_NOTICE);
	if (parse(argc, argv, &c))
		return SP_EXIT_USAGE;
	if (policy_read(&p, c.policy)) {
		policy_free(&p);
		return SP_EXIT_USAGE;
	}
	if (c.check) {
		status = policy_resolve(&p) ? SP_EXIT_USAGE : SP_EXIT_OK;
		if (!status)
			policy_print(&p, c.json);
		policy_free(&p);
		return status;
	}
	sp_bpf_init();
	skel = guard_bpf__open();
	if (!skel) {
		sp_err("cannot open the BPF programs: %s", strerror(errno));
		status = SP_EXIT_FAIL;
		goto out;
	}
	skel->rodata->loader_tgid = getpid();
	skel->rodata->use_groups = p.groups;
	skel->rodata->use_cgroups = p.cgroups;
	if (!have_lsm_hook("file_ioctl_compat"))
		bpf_program__set_autoload(skel->progs.guard_ioctl_compat, false);
	err = guard_bpf__load(skel);
	if (err) {
		/* verifier rejections (EACCES, EINVAL) are bugs here, not absence */
		if (err == -EPERM || err == -EOPNOTSUPP || err == -ENOTSUP || err == -ENOENT ||
		    err == -ESRCH) {
			unavailable("the kernel refuses LSM programs", -err);
			status = SP_EXIT_USAGE;
		} else {
			sp_err("cannot load the guard programs: %s", strerror(-err));
			status = SP_EXIT_FAIL;
		}
		goto out;
	}
	if (policy_resolve(&p)) {
		status = SP_EXIT_USAGE;
		goto out;
	}
	err = fill_maps(skel, &p);
	if (err) {
		sp_err("cannot store the policy in its maps: %s", strerror(-err));
		status = SP_EXIT_FAIL;
		goto out;
	}
	if (c.stats) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0)
			sp_notice("no run-time statistics: %s", strerror(errno));
	}
	err = guard_bpf__attach(skel);
	if (err) {
		unavailable("the LSM hooks refuse the programs", -err);
		status = SP_EXIT_USAGE;
		goto out;
	}
	if (!programs_run(skel)) {
		unavailable("attached, but the hooks never call them", ENOSYS);
		status = SP_EXIT_USAGE;
		goto out;
	}
	m.c = &c;
	m.p = &p;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, &m, NULL);
	if (!rb) {
		sp_err("cannot read the denial events: %s", strerror(errno));
		status = SP_EXIT_FAIL;
		goto out;
	}
	/* no SA_RESTART: a signal ends the wait at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!bpf_program__autoload(skel->progs.guard_ioctl_compat))
		sp_dbg("no file_ioctl_compat hook: 32-bit callers pass through file_ioctl");
	n_nodes = p.n_nodes;
	sp_notice("guarding %lu device nodes with %d rules; SIGINT or SIGTERM removes the guard",
		  n_nodes, p.n_rules);
	if (!c.json)
		printf("%-8s %-7s %-16s %-6s %-8s %-8s %-5s %s\n", "TIME", "PID", "COMM", "UID",
		       "DEVICE", "PATH", "CLASS", "OPCODE");
	fflush(stdout);
	while (!stop) {
		err = ring_buffer__poll(rb, 500);
		if (err < 0 && err != -EINTR) {
			sp_err("reading denial events: %s", strerror(-err));
			status = SP_EXIT_FAIL;
			break;
		}
	}
	ring_buffer__consume(rb);
	summary(skel, &m);
out:
	ring_buffer__free(rb);
	guard_bpf__destroy(skel);
	if (stats_fd >= 0)
		close(stats_fd);
	free(m.t);
	policy_free(&p);
	return status;
}
