// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "sp_opts.h"
#include "sp_pci.h"
#include "sp_sysfs.h"

int sp_sysfs_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

void sp_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}


static void find_partitions(struct sp_ns_info *ns)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/block/%s/dev", ns->name);
	if (sp_sysfs_read_devnum(path, &ns->devs[0]))
		return;
	ns->nr_devs = 1;
	snprintf(path, sizeof(path), "/sys/block/%s", ns->name);
	dir = opendir(path);
	while (dir && (e = readdir(dir)) && ns->nr_devs < 64) {
		if (strncmp(e->d_name, ns->name, strlen(ns->name)) || !e->d_name[strlen(ns->name)])
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/%s/dev", ns->name, e->d_name);
		if (!sp_sysfs_read_devnum(path, &ns->devs[ns->nr_devs]))
			ns->nr_devs++;
	}
	if (dir)
		closedir(dir);
}

static bool ns_has(const struct sp_ns_info *ns, dev_t d)
{
	for (unsigned i = 0; i < ns->nr_devs; i++)
		if (ns->devs[i] == d)
			return true;
	return false;
}

/* Namespaces of the nvme controller: nvme0n1 directly, or as the path
 * nvme0c0n1 of the multipath disk nvme0n1. */
static void find_namespaces(struct sp_pci_info *p)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dir;

	snprintf(path, sizeof(path), SP_PCI_DEVS "/%s/nvme", p->bdf);
	dir = opendir(path);
	while (dir && (e = readdir(dir)))
		if (!strncmp(e->d_name, "nvme", 4))
			snprintf(p->ctrl, sizeof(p->ctrl), "%s", e->d_name);
	if (dir)
		closedir(dir);
	if (!p->ctrl[0])
		return;
	snprintf(path, sizeof(path), "/sys/class/nvme/%s/dev", p->ctrl);
	if (!sp_sysfs_read_devnum(path, &p->ctrl_devs[0]))
		p->nr_ctrl_devs = 1;
	snprintf(path, sizeof(path), SP_PCI_DEVS "/%s/nvme/%s", p->bdf, p->ctrl);
	dir = opendir(path);
	while (dir && (e = readdir(dir)) && p->nr_ns < 16) {
		struct sp_ns_info *ns = &p->ns[p->nr_ns];
		unsigned a, b, n;
		long long sectors;
		char tail;

		if (sscanf(e->d_name, "nvme%uc%un%u%c", &a, &b, &n, &tail) == 3)
			snprintf(ns->name, sizeof(ns->name), "nvme%un%u", a, n);
		else if (sscanf(e->d_name, "nvme%un%u%c", &a, &n, &tail) == 2)
			snprintf(ns->name, sizeof(ns->name), "%s", e->d_name);
		else
			continue;
		find_partitions(ns);
		snprintf(path, sizeof(path), "/sys/block/%s/size", ns->name);
		if (!sp_read_int_file(path, &sectors))
			ns->bytes = sectors * 512ULL;
		snprintf(path, sizeof(path), "/sys/class/nvme-generic/ng%un%u/dev", a, n);
		if (p->nr_ctrl_devs < 8 && !sp_sysfs_read_devnum(path, &p->ctrl_devs[p->nr_ctrl_devs]))
			p->nr_ctrl_devs++;
		p->nr_ns++;
	}
	if (dir)
		closedir(dir);
}

/*
 * The disks behind a SCSI HBA, as "namespaces", and their sg nodes as
 * the controller's char nodes: the same refusals then apply to both
 * kinds of device. Every SCSI device whose sysfs path lies under the
 * PCI function's is the HBA's, however deep: a parallel or RAID HBA
 * puts it at hostN/targetH:C:T/H:C:T:L, a SAS HBA (mptsas, mpt3sas)
 * under hostN/port-H:P/end_device-H:P/targetH:C:T/H:C:T:L.
 */
static void find_scsi_disks(struct sp_pci_info *p)
{
	char path[PATH_MAX], fn[PATH_MAX], dev[PATH_MAX];
	struct dirent *e, *b;
	DIR *dir, *bd;
	size_t fl;

	snprintf(path, sizeof(path), SP_PCI_DEVS "/%s", p->bdf);
	if (!realpath(path, fn))
		return;
	fl = strlen(fn);
	/* the SCSI host's name, for the controller: the first hostN */
	dir = opendir(fn);
	while (dir && !p->ctrl[0] && (e = readdir(dir)))
		if (!strncmp(e->d_name, "host", 4))
			snprintf(p->ctrl, sizeof(p->ctrl), "%s", e->d_name);
	if (dir)
		closedir(dir);
	dir = opendir("/sys/class/scsi_device");
	while (dir && (e = readdir(dir))) {
		long long sectors;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/scsi_device/%s/device", e->d_name);
		if (!realpath(path, dev) || strncmp(dev, fn, fl) || dev[fl] != '/')
			continue;
		snprintf(path, sizeof(path), "%s/scsi_generic", dev);
		bd = opendir(path);
		while (bd && (b = readdir(bd)))
			if (b->d_name[0] != '.' && p->nr_ctrl_devs < 8) {
				snprintf(path, sizeof(path), "/sys/class/scsi_generic/%s/dev", b->d_name);
				if (!sp_sysfs_read_devnum(path, &p->ctrl_devs[p->nr_ctrl_devs]))
					p->nr_ctrl_devs++;
			}
		if (bd)
			closedir(bd);
		snprintf(path, sizeof(path), "%s/block", dev);
		bd = opendir(path);
		while (bd && (b = readdir(bd)) && p->nr_ns < 16) {
			struct sp_ns_info *ns = &p->ns[p->nr_ns];

			if (b->d_name[0] == '.')
				continue;
			snprintf(ns->name, sizeof(ns->name), "%s", b->d_name);
			find_partitions(ns);
			snprintf(path, sizeof(path), "/sys/block/%s/size", ns->name);
			if (!sp_read_int_file(path, &sectors))
				ns->bytes = sectors * 512ULL;
			p->nr_ns++;
		}
		if (bd)
			closedir(bd);
	}
	if (dir)
		closedir(dir);
}

/* The first holder of /sys/block/DISK[/PART]/holders into ns->holder. */
static void find_holder(struct sp_ns_info *ns, const char *disk, const char *part)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dir;

	if (part)
		snprintf(path, sizeof(path), "/sys/block/%s/%s/holders", disk, part);
	else
		snprintf(path, sizeof(path), "/sys/block/%s/holders", disk);
	dir = opendir(path);
	while (dir && !ns->holder[0] && (e = readdir(dir)))
		if (e->d_name[0] != '.')
			snprintf(ns->holder, sizeof(ns->holder), "%s%s%s", e->d_name,
				 part ? " on " : "", part ? part : "");
	if (dir)
		closedir(dir);
}

/* Which namespace a block device path (or a file on it) belongs to; -1. */
static int ns_of_path(const struct sp_pci_info *p, const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return -1;
	for (unsigned i = 0; i < p->nr_ns; i++)
		if (ns_has(&p->ns[i], S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev))
			return (int)i;
	return -1;
}

/*
 * Holders sysfs does not list: swap on a namespace or a partition
 * (/proc/swaps), and loop devices whose backing file is the namespace,
 * a partition, or a file on one.
 */
static void find_swaps_and_loops(struct sp_pci_info *p)
{
	char line[PATH_MAX + 128], path[PATH_MAX];
	struct dirent *e;
	FILE *f = fopen("/proc/swaps", "re");
	DIR *dir;
	int i;

	while (f && fgets(line, sizeof(line), f)) {
		char dev[PATH_MAX];

		if (sscanf(line, "%4095s", dev) != 1 || dev[0] != '/')
			continue;
		i = ns_of_path(p, dev);
		if (i >= 0 && !p->ns[i].holder[0])
			snprintf(p->ns[i].holder, sizeof(p->ns[i].holder), "swap (%.40s)", dev);
	}
	if (f)
		fclose(f);
	dir = opendir("/sys/block");
	while (dir && (e = readdir(dir))) {
		char back[PATH_MAX];

		if (strncmp(e->d_name, "loop", 4))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", e->d_name);
		if (sp_read_line_file(path, back, sizeof(back)))
			continue;
		i = ns_of_path(p, back);
		if (i >= 0 && !p->ns[i].holder[0])
			snprintf(p->ns[i].holder, sizeof(p->ns[i].holder), "%s", e->d_name);
	}
	if (dir)
		closedir(dir);
}

static void find_mounts(struct sp_pci_info *p)
{
	struct stat root;
	char line[4096];
	FILE *f;

	if (stat("/", &root) == 0)
		for (unsigned i = 0; i < p->nr_ns; i++)
			p->ns[i].root = ns_has(&p->ns[i], root.st_dev);
	f = fopen("/proc/self/mountinfo", "re");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned ma, mi;
		char mnt[PATH_MAX];

		/* id parent major:minor root mount-point ... */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &ma, &mi, mnt) != 3)
			continue;
		for (unsigned i = 0; i < p->nr_ns; i++)
			if (!p->ns[i].mounted[0] && ns_has(&p->ns[i], makedev(ma, mi)))
				snprintf(p->ns[i].mounted, sizeof(p->ns[i].mounted), "%s", mnt);
	}
	if (f)
		fclose(f);
	for (unsigned i = 0; i < p->nr_ns; i++) {
		struct sp_ns_info *ns = &p->ns[i];
		char path[PATH_MAX];
		struct dirent *e;
		DIR *dir;

		/* dm, md or bcache on the disk or on any of its partitions */
		find_holder(ns, ns->name, NULL);
		snprintf(path, sizeof(path), "/sys/block/%s", ns->name);
		dir = opendir(path);
		while (dir && !ns->holder[0] && (e = readdir(dir)))
			if (!strncmp(e->d_name, ns->name, strlen(ns->name)) &&
			    e->d_name[strlen(ns->name)])
				find_holder(ns, ns->name, e->d_name);
		if (dir)
			closedir(dir);
	}
	find_swaps_and_loops(p);
}

/*
 * The first other process with one of the device nodes open: a block
 * node of a namespace (ns set) or a char node (nvme0, ng0n1, the VFIO
 * group).
 */
pid_t sp_pci_find_opener(const struct sp_pci_info *p, const char *vfio_node, int *ns_idx,
			 char *comm, size_t len)
{
	struct dirent *pe;
	DIR *proc = opendir("/proc");
	pid_t found = 0, self = getpid();

	while (proc && !found && (pe = readdir(proc))) {
		char path[PATH_MAX];
		struct dirent *fe;
		pid_t pid = atoi(pe->d_name);
		DIR *fds;

		if (pid <= 0 || pid == self)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		fds = opendir(path);
		while (fds && !found && (fe = readdir(fds))) {
			char link[PATH_MAX];
			struct stat st;
			ssize_t n;

			if (fe->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, fe->d_name);
			if (vfio_node) {
				n = readlink(path, link, sizeof(link) - 1);
				if (n > 0) {
					link[n] = '\0';
					if (!strcmp(link, vfio_node))
						found = pid;
				}
				continue;
			}
			if (stat(path, &st))
				continue;
			if (S_ISBLK(st.st_mode))
				for (unsigned i = 0; i < p->nr_ns && !found; i++)
					if (ns_has(&p->ns[i], st.st_rdev)) {
						found = pid;
						*ns_idx = i;
					}
			if (S_ISCHR(st.st_mode))
				for (unsigned i = 0; i < p->nr_ctrl_devs && !found; i++)
					if (p->ctrl_devs[i] == st.st_rdev) {
						found = pid;
						*ns_idx = -1;
					}
		}
		if (fds)
			closedir(fds);
		if (found) {
			snprintf(path, sizeof(path), "/proc/%d/comm", pid);
			if (sp_read_line_file(path, comm, len))
				snprintf(comm, len, "?");
		}
	}
	if (proc)
		closedir(proc);
	return found;
}

/* What the system says about the device; -ENODEV when there is none. */
int sp_pci_info(const char *bdf, struct sp_pci_info *p)
{
	char path[PATH_MAX], buf[64], node[64];
	long long v;

	memset(p, 0, sizeof(*p));
	snprintf(p->bdf, sizeof(p->bdf), "%s", bdf);
	snprintf(path, sizeof(path), SP_PCI_DEVS "/%s", bdf);
	if (access(path, F_OK))
		return -ENODEV;
	sp_pci_link_name(bdf, "driver", p->driver, sizeof(p->driver));
	sp_pci_link_name(bdf, "iommu_group", p->group, sizeof(p->group));
	snprintf(path, sizeof(path), SP_PCI_DEVS "/%s/class", bdf);
	if (!sp_read_int_file(path, &v))
		p->class = v;
	{
		char ven[16] = "", dev[16] = "";

		snprintf(path, sizeof(path), SP_PCI_DEVS "/%s/vendor", bdf);
		sp_read_line_file(path, ven, sizeof(ven));
		snprintf(path, sizeof(path), SP_PCI_DEVS "/%s/device", bdf);
		sp_read_line_file(path, dev, sizeof(dev));
		snprintf(p->ids, sizeof(p->ids), "%.4s:%.4s", ven[0] ? ven + 2 : "?",
			 dev[0] ? dev + 2 : "?");
	}
	if (!strcmp(p->driver, "nvme")) {
		find_namespaces(p);
		find_mounts(p);
	} else if (sp_pci_is_scsi_hba_class(p->class) && p->driver[0] &&
		   strcmp(p->driver, "vfio-pci")) {
		find_scsi_disks(p);
		find_mounts(p);
	}
	if (p->group[0]) {
		snprintf(node, sizeof(node), "/dev/vfio/%s", p->group);
		p->vfio_node = access(node, F_OK) == 0;
		if (p->vfio_node) {
			int dummy;

			p->vfio_pid = sp_pci_find_opener(p, node, &dummy, buf, sizeof(buf));
		}
	}
	return 0;
}

bool sp_pci_is_nvme_class(unsigned class)
{
	return (class >> 8) == 0x0108;	/* mass storage, non-volatile memory */
}

bool sp_pci_is_scsi_hba_class(unsigned class)
{
	unsigned sub = (class >> 8) & 0xffff;

	/* mass storage: SCSI, RAID, Serial Attached SCSI */
	return sub == 0x0100 || sub == 0x0104 || sub == 0x0107;
}


/* driver_override, unbind, probe: whichever driver matches takes it. */
int sp_pci_move(const char *bdf, const char *from, const char *override)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), SP_PCI_DEVS "/%s/driver_override", bdf);
	ret = sp_sysfs_write(path, override ? override : "\n");
	if (ret)
		return ret;
	if (from[0]) {
		snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", from);
		ret = sp_sysfs_write(path, bdf);
		if (ret)
			return ret;
	}
	return sp_sysfs_write("/sys/bus/pci/drivers_probe", bdf);
}

/* Waits until drv drives bdf (and, for nvme, a namespace is back). */
bool sp_pci_wait_driver(const char *bdf, const char *drv, unsigned ms)
{
	for (unsigned t = 0; t <= ms; t += 100) {
		struct sp_pci_info p;

		if (!sp_pci_info(bdf, &p) && !strcmp(p.driver, drv)) {
			if (strcmp(drv, "vfio-pci") == 0) {
				if (p.vfio_node)
					return true;
			} else if (sp_pci_is_scsi_hba_class(p.class) && !p.nr_ns) {
				/* the scan of the HBA's bus is asynchronous: give the
				 * disks a few seconds, but an empty HBA is bound too */
				if (t >= 5000)
					return true;
			} else if (strcmp(drv, "nvme") || p.nr_ns) {
				char path[64];

				if (!p.nr_ns)
					return true;
				snprintf(path, sizeof(path), "/dev/%s", p.ns[0].name);
				if (access(path, F_OK) == 0)
					return true;
			}
		}
		sp_sleep_ms(100);
	}
	return false;
}

int sp_pci_link_name(const char *bdf, const char *what, char *out, size_t len)
{
	char path[256], target[PATH_MAX];
	ssize_t n;
	char *slash;

	snprintf(path, sizeof(path), SP_PCI_DEVS "/%s/%s", bdf, what);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	slash = strrchr(target, '/');
	snprintf(out, len, "%s", slash ? slash + 1 : target);
	return 0;
}
