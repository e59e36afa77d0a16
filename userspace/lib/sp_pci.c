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

#include "sp_enum.h"
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


static bool ns_has(const struct sp_ns_info *ns, dev_t d)
{
	for (unsigned i = 0; i < ns->nr_devs; i++)
		if (ns->devs[i] == d)
			return true;
	return false;
}

static void add_dev(dev_t *devs, unsigned *nr, unsigned max, dev_t d)
{
	if (d && *nr < max)
		devs[(*nr)++] = d;
}

/*
 * What the kernel driver made of the function, from the one enumeration
 * (sp_enum): the controller's char nodes (nvme0, the generic nodes, or
 * the sg nodes behind an HBA) and its disks with their partitions and
 * multipath paths, so that the same refusals apply to every kind.
 */
static void find_disks(struct sp_pci_info *p)
{
	struct sp_enum_ctrl *c = malloc(sizeof(*c));

	if (!c || sp_enum_of_pci(p->bdf, c)) {
		free(c);
		return;
	}
	snprintf(p->ctrl, sizeof(p->ctrl), "%s", c->name);
	add_dev(p->ctrl_devs, &p->nr_ctrl_devs, SP_PCI_MAX_CHAR, c->node.dev);
	for (unsigned i = 0; i < c->nr_ns; i++) {
		const struct sp_enum_ns *e = &c->ns[i];
		struct sp_ns_info *ns;

		add_dev(p->ctrl_devs, &p->nr_ctrl_devs, SP_PCI_MAX_CHAR, e->generic.dev);
		if (!e->disk.name[0])
			continue;
		ns = &p->ns[p->nr_ns++];
		snprintf(ns->name, sizeof(ns->name), "%s", e->disk.name);
		ns->bytes = e->bytes;
		add_dev(ns->devs, &ns->nr_devs, SP_PCI_MAX_BLK, e->disk.dev);
		add_dev(ns->devs, &ns->nr_devs, SP_PCI_MAX_BLK, e->path.dev);
		for (unsigned k = 0; k < e->nr_parts; k++)
			add_dev(ns->devs, &ns->nr_devs, SP_PCI_MAX_BLK, e->parts[k].dev);
	}
	free(c);
}

/* The first holder of /sys/block/DISK[/PART]/holders into ns->holder. */
static void find_holder(struct sp_ns_info *ns, const char *disk, const char *part)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dir;

	if (sp_sysfs_path(path, sizeof(path), "/sys/block/%s%s%s/holders", disk,
			  part ? "/" : "", part ? part : ""))
		return;
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
	dir = sp_sysfs_path(path, sizeof(path), "/sys/block") ? NULL : opendir(path);
	while (dir && (e = readdir(dir))) {
		char back[PATH_MAX];

		if (strncmp(e->d_name, "loop", 4))
			continue;
		if (sp_sysfs_path(path, sizeof(path), "/sys/block/%s/loop/backing_file",
				  e->d_name) || sp_read_line_file(path, back, sizeof(back)))
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
		dir = sp_sysfs_path(path, sizeof(path), "/sys/block/%s", ns->name) ? NULL :
		      opendir(path);
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
	if (sp_pci_parse_bdf(bdf, p->bdf, sizeof(p->bdf)) || strcmp(p->bdf, bdf) ||
	    sp_sysfs_path(path, sizeof(path), SP_PCI_DEVS "/%s", bdf) || access(path, F_OK))
		return -ENODEV;
	sp_pci_link_name(bdf, "driver", p->driver, sizeof(p->driver));
	sp_pci_link_name(bdf, "iommu_group", p->group, sizeof(p->group));
	if (!sp_sysfs_path(path, sizeof(path), SP_PCI_DEVS "/%s/class", bdf) &&
	    !sp_read_int_file(path, &v) && v >= 0 && v <= 0xffffff)
		p->class = v;
	{
		char ven[16] = "", dev[16] = "";

		if (!sp_sysfs_path(path, sizeof(path), SP_PCI_DEVS "/%s/vendor", bdf))
			sp_read_line_file(path, ven, sizeof(ven));
		if (!sp_sysfs_path(path, sizeof(path), SP_PCI_DEVS "/%s/device", bdf))
			sp_read_line_file(path, dev, sizeof(dev));
		snprintf(p->ids, sizeof(p->ids), "%.4s:%.4s", ven[0] ? ven + 2 : "?",
			 dev[0] ? dev + 2 : "?");
	}
	/* a kernel driver (nvme, megaraid_sas, mpt3sas...) has made nodes */
	if (p->driver[0] && strcmp(p->driver, "vfio-pci")) {
		find_disks(p);
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

int sp_pci_list_storage(char (*bdf)[16], unsigned max)
{
	char path[PATH_MAX];
	struct dirent **e;
	unsigned nr = 0;
	int n;

	if (sp_sysfs_path(path, sizeof(path), SP_PCI_DEVS))
		return -ENAMETOOLONG;
	n = scandir(path, &e, NULL, versionsort);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		long long v;
		char full[16];

		if (nr < max && !sp_pci_parse_bdf(e[i]->d_name, full, sizeof(full)) &&
		    !strcmp(full, e[i]->d_name) &&
		    !sp_sysfs_path(path, sizeof(path), SP_PCI_DEVS "/%s/class", full) &&
		    !sp_read_int_file(path, &v) &&
		    (sp_pci_is_nvme_class(v) || sp_pci_is_scsi_hba_class(v)))
			snprintf(bdf[nr++], sizeof(bdf[0]), "%s", full);
		free(e[i]);
	}
	free(e);
	return nr;
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

	ret = sp_sysfs_path(path, sizeof(path), SP_PCI_DEVS "/%s/driver_override", bdf);
	if (!ret)
		ret = sp_sysfs_write(path, override ? override : "\n");
	if (ret)
		return ret;
	if (from[0]) {
		ret = sp_sysfs_path(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", from);
		if (!ret)
			ret = sp_sysfs_write(path, bdf);
		if (ret)
			return ret;
	}
	ret = sp_sysfs_path(path, sizeof(path), "/sys/bus/pci/drivers_probe");
	return ret ? ret : sp_sysfs_write(path, bdf);
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
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	char *slash;

	if (sp_sysfs_path(path, sizeof(path), SP_PCI_DEVS "/%s/%s", bdf, what))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	slash = strrchr(target, '/');
	snprintf(out, len, "%s", slash ? slash + 1 : target);
	return 0;
}
