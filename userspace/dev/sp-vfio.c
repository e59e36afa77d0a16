// SPDX-License-Identifier: MIT
/*
 * sp-vfio: hands an NVMe controller from the kernel's nvme driver to
 * vfio-pci (for uring_bench --mode vfio) and back, refusing when the
 * kernel is still using it; and checks the userspace driver against a
 * controller (bring-up cycles without leaks, the IOMMU fencing a stray
 * DMA, decoded errors, the reset path).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "nvme_spec.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_pci.h"
#include "sp_version.h"
#include "vfio.h"


static bool opt_json;

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sp-vfio [--json] status [BDF]\n"
"       sp-vfio [--json] bind BDF\n"
"       sp-vfio [--json] unbind BDF\n"
"       sp-vfio [--json] [--cycles N] check BDF\n"
"\n"
"Move an NVMe controller between the kernel's nvme driver and vfio-pci,\n"
"for the userspace driver (uring_bench --mode vfio).\n"
"\n"
"  status    driver, IOMMU group, namespaces and their users (all NVMe\n"
"            controllers without BDF)\n"
"  bind      give the controller to vfio-pci (driver_override); refused\n"
"            while a namespace is mounted, open, held, or holds /, and\n"
"            without an IOMMU; Ctrl-C or a failure returns it to nvme\n"
"  unbind    give it back to the kernel's driver, wait for its namespaces\n"
"  check     (bound to vfio-pci) bring-up and tear-down N times checking\n"
"            for leaked IOVA space, DMA mappings, memory and descriptors;\n"
"            a read to an IOVA never mapped must fail; an LBA out of range\n"
"            is decoded; a controller reset recovers\n"
"\n"
"  -n, --cycles N   bring-ups for check (default 20)\n"
"      --json       one JSON document on stdout\n"
"  -h, --help       this text\n"
"      --version    the version of shortpath it belongs to\n"
"\n"
"Examples:\n"
"  sp-vfio status\n"
"  sp-vfio bind 0000:00:04.0 && uring_bench -m vfio -q 1 0000:00:04.0\n"
"  sp-vfio --json check 0000:00:04.0\n"
"  sp-vfio unbind 0000:00:04.0\n"
"\n"
"Exit status: 0 ok, 1 failure (a check failed, a driver did not take the\n"
"device), 2 refused or bad usage (nothing changed).\n");
}

/* ------------------------------------------------------------ status */

static json_object *status_json(const struct sp_pci_info *p)
{
	json_object *o = json_object_new_object(), *nss = json_object_new_array();

	json_object_object_add(o, "bdf", json_object_new_string(p->bdf));
	json_object_object_add(o, "ids", json_object_new_string(p->ids));
	json_object_object_add(o, "nvme_class", json_object_new_boolean(sp_pci_is_nvme_class(p->class)));
	json_object_object_add(o, "driver", p->driver[0] ? json_object_new_string(p->driver) : NULL);
	json_object_object_add(o, "iommu_group", p->group[0] ? json_object_new_string(p->group) : NULL);
	json_object_object_add(o, "controller", p->ctrl[0] ? json_object_new_string(p->ctrl) : NULL);
	for (unsigned i = 0; i < p->nr_ns; i++) {
		const struct sp_ns_info *ns = &p->ns[i];
		json_object *n = json_object_new_object();

		json_object_object_add(n, "name", json_object_new_string(ns->name));
		json_object_object_add(n, "bytes", sp_json_u64(ns->bytes));
		json_object_object_add(n, "mounted_on", ns->mounted[0] ?
				       json_object_new_string(ns->mounted) : NULL);
		json_object_object_add(n, "root", json_object_new_boolean(ns->root));
		json_object_object_add(n, "holder", ns->holder[0] ?
				       json_object_new_string(ns->holder) : NULL);
		json_object_array_add(nss, n);
	}
	json_object_object_add(o, "namespaces", nss);
	{
		char node[64];

		snprintf(node, sizeof(node), "/dev/vfio/%s", p->group);
		json_object_object_add(o, "vfio_node", p->vfio_node ?
				       json_object_new_string(node) : NULL);
	}
	json_object_object_add(o, "vfio_pid", p->vfio_pid ? json_object_new_int(p->vfio_pid) : NULL);
	return o;
}

static void status_text(const struct sp_pci_info *p)
{
	char sz[32];

	printf("%s %s %s, driver %s, IOMMU group %s\n", p->bdf, p->ids,
	       sp_pci_is_nvme_class(p->class) ? "NVMe controller" : "(not NVMe)",
	       p->driver[0] ? p->driver : "none", p->group[0] ? p->group : "none (no IOMMU)");
	for (unsigned i = 0; i < p->nr_ns; i++) {
		const struct sp_ns_info *ns = &p->ns[i];

		printf("  %s %s%s%s%s%s%s\n", ns->name, sp_fmt_size(ns->bytes, sz, sizeof(sz)),
		       ns->root ? ", holds /" : "", ns->mounted[0] ? ", mounted on " : "",
		       ns->mounted, ns->holder[0] ? ", held by " : "", ns->holder);
	}
	if (p->vfio_node)
		printf("  /dev/vfio/%s%s\n", p->group, p->vfio_pid ? ", open" : "");
	if (p->vfio_pid)
		printf("  in use by PID %d\n", p->vfio_pid);
}

static int cmd_status(const char *bdf)
{
	json_object *arr = json_object_new_array();
	struct sp_pci_info p;
	struct dirent *e;
	DIR *dir;
	int n = 0;

	if (bdf) {
		char full[16];

		if (sp_vfio_parse_bdf(bdf, full, sizeof(full))) {
			json_object_put(arr);
			sp_err("'%s' is not a PCI address (DDDD:BB:DD.F, e.g. 0000:00:04.0)", bdf);
			return SP_EXIT_USAGE;
		}
		bdf = full;
		if (sp_pci_info(bdf, &p)) {
			json_object_put(arr);
			sp_err("%s: no such PCI device", bdf);
			return SP_EXIT_USAGE;
		}
		if (opt_json)
			sp_json_print_and_free(status_json(&p));
		else
			status_text(&p);
		json_object_put(arr);
		return SP_EXIT_OK;
	}
	dir = opendir(SP_PCI_DEVS);
	while (dir && (e = readdir(dir))) {
		if (e->d_name[0] == '.' || sp_pci_info(e->d_name, &p) || !sp_pci_is_nvme_class(p.class))
			continue;
		n++;
		if (opt_json)
			json_object_array_add(arr, status_json(&p));
		else
			status_text(&p);
	}
	if (dir)
		closedir(dir);
	if (opt_json)
		sp_json_print_and_free(arr);
	else
		json_object_put(arr);
	if (!n && !opt_json)
		printf("no NVMe controllers\n");
	return SP_EXIT_OK;
}

/* ------------------------------------------------------------ bind */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static int emit(const char *bdf, const char *action, const char *driver, const char *msg)
{
	if (opt_json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "bdf", json_object_new_string(bdf));
		json_object_object_add(o, "action", json_object_new_string(action));
		json_object_object_add(o, "driver", json_object_new_string(driver));
		json_object_object_add(o, "message", json_object_new_string(msg));
		sp_json_print_and_free(o);
	} else {
		printf("%s\n", msg);
	}
	return SP_EXIT_OK;
}

/* Refusals are one line and exit 2, with nothing changed. */
static int refuse_common(const char *arg, char *bdf, size_t len, struct sp_pci_info *p)
{
	if (sp_vfio_parse_bdf(arg, bdf, len)) {
		sp_err("'%s' is not a PCI address (DDDD:BB:DD.F, e.g. 0000:00:04.0)", arg);
		return SP_EXIT_USAGE;
	}
	if (sp_pci_info(bdf, p)) {
		sp_err("%s: no such PCI device (see sp-vfio status)", bdf);
		return SP_EXIT_USAGE;
	}
	if (!p->group[0]) {
		sp_err("%s: no IOMMU: the device is in no IOMMU group, and VFIO without "
		       "one is refused (enable the IOMMU, e.g. intel_iommu=on)", bdf);
		return SP_EXIT_USAGE;
	}
	if (!sp_pci_is_nvme_class(p->class)) {
		sp_err("%s: not an NVMe controller (class 0x%06x)", bdf, p->class);
		return SP_EXIT_USAGE;
	}
	return 0;
}

static int cmd_bind(const char *arg)
{
	char bdf[16], why[PATH_MAX + 64], comm[32], orig[64];
	struct sigaction sa = { .sa_handler = on_signal };
	struct sp_pci_info p;
	sigset_t block, old;
	int ret, ns_idx = -1;
	pid_t pid;

	ret = refuse_common(arg, bdf, sizeof(bdf), &p);
	if (ret)
		return ret;
	if (!strcmp(p.driver, "vfio-pci"))
		return emit(bdf, "bind", "vfio-pci", "already bound to vfio-pci");
	if (access("/sys/bus/pci/drivers/vfio-pci", F_OK)) {
		sp_err("%s: the vfio-pci driver is not loaded (modprobe vfio-pci)", bdf);
		return SP_EXIT_USAGE;
	}
	for (unsigned i = 0; i < p.nr_ns; i++) {
		const struct sp_ns_info *ns = &p.ns[i];

		why[0] = '\0';
		if (ns->root)
			snprintf(why, sizeof(why), "/dev/%s holds the root filesystem", ns->name);
		else if (ns->mounted[0])
			snprintf(why, sizeof(why), "/dev/%s is mounted on %s", ns->name, ns->mounted);
		else if (ns->holder[0])
			snprintf(why, sizeof(why), "/dev/%s is held by %s", ns->name, ns->holder);
		if (why[0]) {
			sp_err("%s: refused: %s", bdf, why);
			return SP_EXIT_USAGE;
		}
	}
	pid = sp_pci_find_opener(&p, NULL, &ns_idx, comm, sizeof(comm));
	if (pid) {
		sp_err("%s: refused: %s is open by PID %d (%s)", bdf,
		       ns_idx >= 0 ? p.ns[ns_idx].name : p.ctrl, pid, comm);
		return SP_EXIT_USAGE;
	}
	/* the kernel's own word last: O_EXCL fails while anything holds the
	 * disk or one of its partitions exclusively, in any mount namespace */
	for (unsigned i = 0; i < p.nr_ns; i++) {
		char node[64];
		int fd;

		snprintf(node, sizeof(node), "/dev/%s", p.ns[i].name);
		fd = open(node, O_RDONLY | O_EXCL | O_CLOEXEC);
		if (fd >= 0) {
			close(fd);
		} else if (errno == EBUSY) {
			sp_err("%s: refused: %s is held exclusively (mounted elsewhere, "
			       "or used by md, dm or swap)", bdf, node);
			return SP_EXIT_USAGE;
		}
	}
	snprintf(orig, sizeof(orig), "%s", p.driver);
	/*
	 * From here the device is between drivers: a signal waits until
	 * the move is complete or undone, so Ctrl-C never leaves it with
	 * no driver.
	 */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	ret = sp_pci_move(bdf, orig, "vfio-pci");
	if (!ret && !sp_pci_wait_driver(bdf, "vfio-pci", 10000))
		ret = -ETIMEDOUT;
	sigprocmask(SIG_SETMASK, &old, NULL);	/* a pending signal lands now */
	if (ret || interrupted) {
		int r2 = sp_pci_move(bdf, "vfio-pci", NULL);
		bool back = !r2 && (!orig[0] || sp_pci_wait_driver(bdf, orig, 30000));

		if (interrupted) {
			sp_err("%s: interrupted: %s", bdf, back ? "returned to the kernel driver" :
			       "could not be returned to the kernel driver; run sp-vfio unbind");
			return 128 + interrupted;
		}
		sp_err("%s: vfio-pci did not take the device (%s); %s", bdf,
		       strerror(-ret), back ? "returned to the kernel driver" :
		       "could not be returned either; run sp-vfio unbind");
		return SP_EXIT_FAIL;
	}
	snprintf(why, sizeof(why), "%s: bound to vfio-pci (was %s), /dev/vfio/%s",
		 bdf, orig[0] ? orig : "unbound", p.group);
	return emit(bdf, "bind", "vfio-pci", why);
}

static int cmd_unbind(const char *arg)
{
	char bdf[16], msg[128], comm[32] = "?", node[64];
	struct sp_pci_info p;
	int ret, dummy;

	ret = refuse_common(arg, bdf, sizeof(bdf), &p);
	if (ret)
		return ret;
	if (!strcmp(p.driver, "nvme"))
		return emit(bdf, "unbind", "nvme", "already bound to nvme");
	if (p.vfio_pid) {
		snprintf(node, sizeof(node), "/dev/vfio/%s", p.group);
		sp_pci_find_opener(&p, node, &dummy, comm, sizeof(comm));
		sp_err("%s: refused: in use: /dev/vfio/%s is open by PID %d (%s)", bdf,
		       p.group, p.vfio_pid, comm);
		return SP_EXIT_USAGE;
	}
	signal(SIGINT, SIG_IGN);	/* half-way is the one state to avoid */
	signal(SIGTERM, SIG_IGN);
	ret = sp_pci_move(bdf, p.driver, NULL);
	if (ret) {
		sp_err("%s: cannot hand back to the kernel: %s", bdf, strerror(-ret));
		return SP_EXIT_FAIL;
	}
	if (!sp_pci_wait_driver(bdf, "nvme", 30000)) {
		sp_err("%s: the nvme driver did not take the device back within 30 s", bdf);
		return SP_EXIT_FAIL;
	}
	sp_pci_info(bdf, &p);
	snprintf(msg, sizeof(msg), "%s: bound to nvme (%s%s%s)", bdf, p.ctrl,
		 p.nr_ns ? ", " : "", p.nr_ns ? p.ns[0].name : "");
	return emit(bdf, "unbind", "nvme", msg);
}

/* ------------------------------------------------------------ check */

static unsigned count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static long long rss_kib(void)
{
	char line[256];
	long long v = -1;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/* /dev/kmsg positioned at its end, or -errno. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd < 0 ? -errno : fd;
}

/* Whether the kernel reports an IOMMU fault at iova (DMAR, AMD-Vi and
 * SMMU all print "fault addr" or "address" with the IOVA in hex)
 * within a second. */
static bool kmsg_fault(int fd, uint64_t iova)
{
	char rec[1024], a[48], b[48];

	if (fd < 0)
		return false;
	snprintf(a, sizeof(a), "fault addr 0x%llx", (unsigned long long)iova);
	snprintf(b, sizeof(b), "address=0x%llx", (unsigned long long)iova);
	for (int waited = 0; waited < 1000; waited += 50) {
		ssize_t n;

		while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
			if (n <= 0)
				continue;	/* records overwritten: go on */
			rec[n] = '\0';
			if (strstr(rec, a) || strstr(rec, b))
				return true;
		}
		sp_sleep_ms(50);
	}
	return false;
}

static bool memchk(const void *p, uint8_t v, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != v)
			return false;
	return true;
}

/* One I/O through the backend, waited for. */
static int one_io(struct sp_target *t, enum sp_op op, uint64_t off, uint32_t len,
		  uint32_t *status)
{
	struct sp_io io = { .op = op, .offset = off, .len = len }, *done;
	int ret;

	ret = t->be->queue(t, &io);
	if (!ret)
		ret = t->be->submit(t, 1);
	while (!ret && (ret = t->be->reap(t, &done, 1)) == 0)
		ret = t->be->submit(t, 1);
	if (ret < 0)
		return ret;
	*status = io.status;
	return io.res < 0 ? io.res : 0;
}

struct check {
	json_object *steps;
	unsigned failed;
};

static void step(struct check *ck, bool ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void step(struct check *ck, bool ok, const char *name, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	ck->failed += !ok;
	if (opt_json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "ok", json_object_new_boolean(ok));
		json_object_object_add(o, "detail", json_object_new_string(detail));
		json_object_array_add(ck->steps, o);
	} else {
		printf("%-4s %-18s %s\n", ok ? "ok" : "FAIL", name, detail);
	}
}

static int cmd_check(const char *arg, unsigned cycles)
{
	const struct sp_backend *be = sp_backend_find("vfio");
	struct sp_target_opts o = { .write = false, .direct = true, .depth = 8, .buf_size = 8192 };
	struct check ck = { .steps = json_object_new_array() };
	struct sp_devinfo d;
	struct sp_vfio_usage u;
	struct sp_target t;
	unsigned fds0 = 0, bad_cycle = 0;
	long long rss0 = 0, rss1 = 0;
	char why[320], st[160], bdf[16];
	uint32_t status;
	int ret;

	if (sp_vfio_parse_bdf(arg, bdf, sizeof(bdf))) {
		json_object_put(ck.steps);
		sp_err("'%s' is not a PCI address (DDDD:BB:DD.F, e.g. 0000:00:04.0)", arg);
		return SP_EXIT_USAGE;
	}
	why[0] = '\0';
	ret = be->probe(bdf, false, &d, why, sizeof(why));
	if (ret) {
		json_object_put(ck.steps);
		sp_err("%s", why[0] ? why : strerror(-ret));
		return SP_EXIT_USAGE;
	}
	for (unsigned i = 0; i < cycles; i++) {
		ret = sp_target_open(&t, be, &o, &d);
		if (ret) {
			step(&ck, false, "bring-up", "cycle %u: %s", i + 1, t.err);
			break;
		}
		ret = one_io(&t, SP_OP_READ, 0, 8192, &status);
		sp_target_close(&t);
		sp_vfio_usage(&u);
		if (ret || u.controllers || u.queue_pairs || u.dma_maps || u.iova_bytes) {
			step(&ck, false, "bring-up", "cycle %u: read %s; left behind: %u "
			     "controllers, %u queue pairs, %u DMA maps, %llu IOVA bytes",
			     i + 1, ret ? strerror(-ret) : "ok", u.controllers, u.queue_pairs,
			     u.dma_maps, (unsigned long long)u.iova_bytes);
			bad_cycle = i + 1;
			break;
		}
		/* the first cycle sets up the C library's own state */
		if (i == 0) {
			fds0 = count_fds();
			rss0 = rss_kib();
		} else if (count_fds() != fds0) {
			step(&ck, false, "bring-up", "cycle %u: %u file descriptors open, "
			     "%u after the first", i + 1, count_fds(), fds0);
			bad_cycle = i + 1;
			break;
		}
	}
	rss1 = rss_kib();
	if (!bad_cycle && !ret)
		step(&ck, rss1 - rss0 < 1024, "bring-up", "%u bring-ups and tear-downs "
		     "(each with a read): no IOVA space, DMA map or descriptor left; "
		     "RSS %+lld KiB after the first", cycles, rss1 - rss0);
	if (ck.failed)
		goto out;

	ret = sp_target_open(&t, be, &o, &d);
	if (ret) {
		step(&ck, false, "open", "%s", t.err);
		goto out;
	}
	{
		uint64_t iova = sp_vfio_unmapped_iova(&t);
		int kmsg = kmsg_open();
		bool fault, intact;

		/* every byte the device may reach through the IOMMU, marked */
		memset(t.bufs.base, 0xa5, t.bufs.map_len);
		status = 0;
		ret = sp_vfio_read_iova(&t, iova, 0, 4096, &status);
		fault = kmsg_fault(kmsg, iova);
		intact = memchk(t.bufs.base, 0xa5, t.bufs.map_len);
		if (kmsg >= 0)
			close(kmsg);
		/*
		 * A controller answers a blocked DMA with an error status, or
		 * (QEMU's emulated one) drops the data and reports success:
		 * either way the IOMMU must have refused it, and nothing of
		 * ours may have changed.
		 */
		step(&ck, intact && ret != 0 ? ret == -EIO : intact && fault, "unmapped-iova",
		     "read into IOVA 0x%llx (never mapped): %s%s; IOMMU fault %s; "
		     "mapped memory %s", (unsigned long long)iova,
		     ret == 0 ? "completed without error status" :
		     ret == -EIO ? "failed as an I/O error, " : strerror(-ret),
		     ret == -EIO ? sp_nvme_status_str(status, st, sizeof(st)) : "",
		     fault ? "logged by the kernel" : kmsg < 0 ? "unknown (no /dev/kmsg)" :
		     "not logged", intact ? "untouched" : "CHANGED");
	}
	ret = one_io(&t, SP_OP_READ, 0, 4096, &status);
	step(&ck, !ret, "after-fault", "a normal read afterwards: %s",
	     ret ? strerror(-ret) : "ok");
	ret = one_io(&t, SP_OP_READ, d.size, 4096, &status);
	step(&ck, ret == -EIO && (status & 0x7ff) == 0x80, "lba-out-of-range",
	     "read at LBA %llu: %s", (unsigned long long)(d.size / d.lbs),
	     ret == -EIO ? sp_nvme_status_str(status, st, sizeof(st)) :
	     ret ? strerror(-ret) : "succeeded");
	ret = sp_vfio_reset(&t);
	if (!ret)
		ret = one_io(&t, SP_OP_READ, 4096, 4096, &status);
	step(&ck, !ret, "reset", "controller reset, queue pair recreated, read: %s",
	     ret ? strerror(-ret) : "ok");
	sp_target_close(&t);
out:
	if (opt_json) {
		json_object *root = json_object_new_object();

		json_object_object_add(root, "schema", json_object_new_string("shortpath.sp-vfio-check/1"));
		json_object_object_add(root, "bdf", json_object_new_string(bdf));
		json_object_object_add(root, "cycles", sp_json_u64(cycles));
		json_object_object_add(root, "steps", ck.steps);
		json_object_object_add(root, "ok", json_object_new_boolean(!ck.failed));
		sp_json_print_and_free(root);
	} else {
		json_object_put(ck.steps);
	}
	return ck.failed ? SP_EXIT_FAIL : SP_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "cycles", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		SP_VERSION_LONGOPT,
		{ NULL, 0, NULL, 0 },
	};
	uint64_t cycles = 20;
	const char *cmd;
	int opt, ret;

	sp_log_init(argv[0], SP_LOG_NOTICE);
	opterr = 0;	/* one line of our own for a bad option */
	while ((opt = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'J':
			opt_json = true;
			break;
		case 'n':
			if ((ret = sp_parse_u64(optarg, 1, 100000, &cycles))) {
				sp_opt_bad_value(longopts, opt, optarg);
				return SP_EXIT_USAGE;
			}
			break;
		case SP_OPT_VERSION:
			sp_version_print(stdout, sp_prog());
			return SP_EXIT_OK;
		case 'h':
			usage(stdout);
			return SP_EXIT_OK;
		default:
			sp_opt_error(argv, "n:h");
			return SP_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		sp_err("a command is needed: status, bind, unbind or check (see --help)");
		return SP_EXIT_USAGE;
	}
	cmd = argv[optind++];
	if (!strcmp(cmd, "status") && argc - optind <= 1)
		return cmd_status(optind < argc ? argv[optind] : NULL);
	if (argc - optind != 1) {
		sp_err("%s takes one PCI address (see --help)", cmd);
		return SP_EXIT_USAGE;
	}
	if (geteuid() != 0 && strcmp(cmd, "check")) {
		sp_err("%s needs root (it writes to sysfs)", cmd);
		return SP_EXIT_USAGE;
	}
	if (!strcmp(cmd, "bind"))
		return cmd_bind(argv[optind]);
	if (!strcmp(cmd, "unbind"))
		return cmd_unbind(argv[optind]);
	if (!strcmp(cmd, "check"))
		return cmd_check(argv[optind], cycles);
	sp_err("unknown command '%s': status, bind, unbind or check", cmd);
	return SP_EXIT_USAGE;
}
