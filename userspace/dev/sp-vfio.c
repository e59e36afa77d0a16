// SPDX-License-Identifier: MIT
/*
 * sp-vfio: hands an NVMe controller (from nvme) or a SAS/RAID HBA (from
 * megaraid_sas, mptsas...) to vfio-pci, for uring_bench --mode vfio or
 * scsi-vfio, and back, refusing when the kernel is still using it or a
 * disk behind it; and checks the userspace driver against the device
 * (bring-up cycles without leaks, the IOMMU fencing a stray DMA, decoded
 * errors, the reset path).
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
#include "vfio_check.h"


static bool opt_json;

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sp-vfio [--json] status [BDF]\n"
"       sp-vfio [--json] bind BDF\n"
"       sp-vfio [--json] unbind BDF\n"
"       sp-vfio [--json] [--cycles N] check BDF\n"
"\n"
"Move an NVMe controller or a SAS/RAID HBA between its kernel driver and\n"
"vfio-pci, for the userspace drivers (uring_bench --mode vfio, scsi-vfio).\n"
"\n"
"  status    driver, IOMMU group, namespaces or disks and their users (all\n"
"            NVMe controllers and SCSI HBAs without BDF)\n"
"  bind      give the device to vfio-pci (driver_override); refused while\n"
"            a namespace or a disk behind the HBA is mounted, open, held, or\n"
"            holds /, and without an IOMMU; Ctrl-C or a failure returns it\n"
"  unbind    give it back to the kernel's driver, wait for its namespaces\n"
"            or disks\n"
"  check     (bound to vfio-pci) bring-up and tear-down N times checking\n"
"            for leaked IOVA space, DMA mappings, memory and descriptors;\n"
"            a read to an IOVA never mapped must fail; an LBA out of range\n"
"            is decoded; a controller reset recovers; for an HBA also an\n"
"            abort, and a command the firmware never answers ending in\n"
"            abort, reset and ETIMEDOUT\n"
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
"  sp-vfio bind 0000:00:03.0 && uring_bench -m scsi-vfio -q 1 0000:00:03.0\n"
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
	json_object_object_add(o, "scsi_hba_class",
			       json_object_new_boolean(sp_pci_is_scsi_hba_class(p->class)));
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
	       sp_pci_is_nvme_class(p->class) ? "NVMe controller" :
	       sp_pci_is_scsi_hba_class(p->class) ? "SCSI HBA" : "(not NVMe or a SCSI HBA)",
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
	static struct sp_pci_info p;
	char all[256][16];
	int n = 0, nr;

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
	nr = sp_pci_list_storage(all, sizeof(all) / sizeof(all[0]));
	for (int i = 0; i < nr; i++) {
		if (sp_pci_info(all[i], &p))
			continue;	/* gone since listed */
		n++;
		if (opt_json)
			json_object_array_add(arr, status_json(&p));
		else
			status_text(&p);
	}
	if (opt_json)
		sp_json_print_and_free(arr);
	else
		json_object_put(arr);
	if (!n && !opt_json)
		printf("no NVMe controllers or SCSI HBAs\n");
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
	if (!sp_pci_is_nvme_class(p->class) && !sp_pci_is_scsi_hba_class(p->class)) {
		sp_err("%s: neither an NVMe controller nor a SCSI HBA (class 0x%06x)", bdf,
		       p->class);
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
	char bdf[16], msg[160], comm[32] = "?", node[64], drv[64] = "nvme";
	struct sp_pci_info p;
	int ret, dummy;

	ret = refuse_common(arg, bdf, sizeof(bdf), &p);
	if (ret)
		return ret;
	if (p.driver[0] && strcmp(p.driver, "vfio-pci")) {
		snprintf(msg, sizeof(msg), "already bound to %s", p.driver);
		return emit(bdf, "unbind", p.driver, msg);
	}
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
	if (!sp_pci_is_nvme_class(p.class)) {
		/* an HBA: whichever kernel driver claims it (megaraid_sas, mptsas...) */
		for (unsigned t = 0; t < 30000; t += 100) {
			if (!sp_pci_info(bdf, &p) && p.driver[0] && strcmp(p.driver, "vfio-pci"))
				break;
			sp_sleep_ms(100);
		}
		snprintf(drv, sizeof(drv), "%s", p.driver);
	}
	if (!drv[0] || !strcmp(drv, "vfio-pci") || !sp_pci_wait_driver(bdf, drv, 30000)) {
		sp_err("%s: no kernel driver took the device back within 30 s", bdf);
		return SP_EXIT_FAIL;
	}
	sp_pci_info(bdf, &p);
	snprintf(msg, sizeof(msg), "%s: bound to %s (%s%s%s)", bdf, drv, p.ctrl,
		 p.nr_ns ? ", " : "", p.nr_ns ? p.ns[0].name : "");
	return emit(bdf, "unbind", drv, msg);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cycles", required_argument, NULL, 'n' },
		SP_OPT_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const struct sp_opt_common common = { .shortopts = "n:h", .usage = usage, .json = &opt_json };
	uint64_t cycles = 20;
	const char *cmd;
	int opt, ret;

	sp_log_init(argv[0], SP_LOG_NOTICE);
	opterr = 0;	/* one line of our own for a bad option */
	while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if ((ret = sp_parse_u64(optarg, 1, 100000, &cycles))) {
				sp_opt_bad_value(longopts, opt, optarg);
				return SP_EXIT_USAGE;
			}
			break;
		default:
			if (sp_opt_common(&common, opt, argv))
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
		return sp_vfio_cmd_check(argv[optind], cycles, opt_json);
	sp_err("unknown command '%s': status, bind, unbind or check", cmd);
	return SP_EXIT_USAGE;
}
