// SPDX-License-Identifier: MIT
/*
 * The device enumeration over a fake sysfs tree laid out as the kernel
 * lays it out: a PCI NVMe controller without multipath, two controllers
 * of one subsystem sharing a namespace (native multipath: a head in the
 * subsystem, a hidden path per controller, the head's generic node), a
 * RAID HBA and a SAS HBA with disks and sg nodes.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sp_enum.h"
#include "sp_sysfs.h"
#include "tap.h"

static char root[PATH_MAX];

/* mkdir -p root/rel */
static void mkdirs(const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(path, 0755);
		*s = '/';
	}
	mkdir(path, 0755);
}

/* root/dir/name holding text */
static void put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	mkdirs(dir);
	snprintf(path, sizeof(path), "%s/%s/%s", root, dir, name);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%s\n", text);
		fclose(f);
	}
}

/* root/rel, a link to root/target */
static void link_to(const char *target, const char *rel)
{
	char path[PATH_MAX], to[PATH_MAX], dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", rel);
	*strrchr(dir, '/') = '\0';
	mkdirs(dir);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(to, sizeof(to), "%s/%s", root, target);
	if (symlink(to, path))
		perror(path);
}

/* A device directory dir named name, with dev "ma:mi" (ma < 0: none),
 * linked from class. */
static void dev(const char *dir, const char *class, int ma, int mi)
{
	char d[32], rel[PATH_MAX];
	const char *name = strrchr(dir, '/') + 1;

	mkdirs(dir);
	if (ma >= 0) {
		snprintf(d, sizeof(d), "%d:%d", ma, mi);
		put(dir, "dev", d);
	}
	snprintf(rel, sizeof(rel), "%s/%s", class, name);
	link_to(dir, rel);
}

#define PCI "sys/devices/pci0000:00"
#define SUBSYS "sys/devices/virtual/nvme-subsystem/nvme-subsys1"

static void pci_fn(const char *bdf, const char *class)
{
	char dir[PATH_MAX], rel[PATH_MAX];

	snprintf(dir, sizeof(dir), PCI "/%s", bdf);
	put(dir, "config", "");
	put(dir, "class", class);
	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s", bdf);
	link_to(dir, rel);
}

static void nvme_ctrl(const char *bdf, const char *name, int mi)
{
	char dir[PATH_MAX], rel[PATH_MAX];

	pci_fn(bdf, "0x010802");
	snprintf(dir, sizeof(dir), PCI "/%s/nvme/%s", bdf, name);
	dev(dir, "sys/class/nvme", 240, mi);
	snprintf(rel, sizeof(rel), "%s/device", dir);
	snprintf(dir, sizeof(dir), PCI "/%s", bdf);
	link_to(dir, rel);
}

static void build(void)
{
	/* nvme0 at 00:04.0: nvme0n1 (partitioned) and nvme0n2 with ng0n1, ng0n2 */
	nvme_ctrl("0000:00:04.0", "nvme0", 0);
	dev(PCI "/0000:00:04.0/nvme/nvme0/nvme0n1", "sys/class/block", 259, 0);
	put(PCI "/0000:00:04.0/nvme/nvme0/nvme0n1", "size", "2048");
	dev(PCI "/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p1", "sys/class/block", 259, 1);
	put(PCI "/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p1", "partition", "1");
	put(PCI "/0000:00:04.0/nvme/nvme0/nvme0n1/queue", "io_poll", "0");
	dev(PCI "/0000:00:04.0/nvme/nvme0/nvme0n2", "sys/class/block", 259, 2);
	dev(PCI "/0000:00:04.0/nvme/nvme0/ng0n1", "sys/class/nvme-generic", 242, 0);
	dev(PCI "/0000:00:04.0/nvme/nvme0/ng0n2", "sys/class/nvme-generic", 242, 1);
	/* a namespace with a generic node only */
	dev(PCI "/0000:00:04.0/nvme/nvme0/ng0n3", "sys/class/nvme-generic", 242, 5);

	/* nvme1 (00:05.0) and nvme2 (00:06.0), subsystem 1, shared namespace 1:
	 * head nvme1n1 + ng1n1 in the subsystem, paths nvme1c1n1, nvme1c2n1 */
	nvme_ctrl("0000:00:05.0", "nvme1", 1);
	nvme_ctrl("0000:00:06.0", "nvme2", 2);
	dev(SUBSYS "/nvme1n1", "sys/class/block", 259, 3);
	put(SUBSYS "/nvme1n1", "size", "4096");
	dev(SUBSYS "/nvme1n1/nvme1n1p1", "sys/class/block", 259, 4);
	put(SUBSYS "/nvme1n1/nvme1n1p1", "partition", "1");
	link_to(SUBSYS "/nvme1n1", "sys/dev/block/259:3");
	dev(SUBSYS "/ng1n1", "sys/class/nvme-generic", 242, 2);
	dev(PCI "/0000:00:05.0/nvme/nvme1/nvme1c1n1", "sys/class/block", 259, 5);
	dev(PCI "/0000:00:06.0/nvme/nvme2/nvme1c2n1", "sys/class/block", -1, 0);

	/* a RAID HBA (00:07.0): host3 with sda (+ sda1) and sg0 */
	pci_fn("0000:00:07.0", "0x010400");
	dev(PCI "/0000:00:07.0/host3", "sys/class/scsi_host", -1, 0);
	link_to(PCI "/0000:00:07.0/host3", "sys/class/scsi_host/host3/device");
	mkdirs(PCI "/0000:00:07.0/host3/target3:0:0/3:0:0:0");
	link_to(PCI "/0000:00:07.0/host3/target3:0:0/3:0:0:0",
		"sys/class/scsi_device/3:0:0:0/device");
	dev(PCI "/0000:00:07.0/host3/target3:0:0/3:0:0:0/block/sda", "sys/class/block", 8, 0);
	put(PCI "/0000:00:07.0/host3/target3:0:0/3:0:0:0/block/sda", "size", "100");
	dev(PCI "/0000:00:07.0/host3/target3:0:0/3:0:0:0/block/sda/sda1", "sys/class/block", 8, 1);
	put(PCI "/0000:00:07.0/host3/target3:0:0/3:0:0:0/block/sda/sda1", "partition", "1");
	dev(PCI "/0000:00:07.0/host3/target3:0:0/3:0:0:0/scsi_generic/sg0",
	    "sys/class/scsi_generic", 21, 0);

	/* a SAS HBA (00:08.0): host4/port/end_device/target/4:0:0:0 with sdb, sg1 */
#define SAS PCI "/0000:00:08.0/host4/port-4:0/end_device-4:0/target4:0:0/4:0:0:0"
	pci_fn("0000:00:08.0", "0x010700");
	dev(PCI "/0000:00:08.0/host4", "sys/class/scsi_host", -1, 0);
	link_to(PCI "/0000:00:08.0/host4", "sys/class/scsi_host/host4/device");
	mkdirs(SAS);
	link_to(SAS, "sys/class/scsi_device/4:0:0:0/device");
	dev(SAS "/block/sdb", "sys/class/block", 8, 16);
	dev(SAS "/scsi_generic/sg1", "sys/class/scsi_generic", 21, 1);
}

static int count_ctrl(const struct sp_enum_ctrl *c, void *arg)
{
	struct stat *st = arg;

	if (sp_enum_match(c, st->st_rdev, S_ISBLK(st->st_mode)) != SP_ENUM_NO_MATCH)
		st->st_nlink++;
	return 0;
}

static struct stat node(bool block, unsigned ma, unsigned mi)
{
	struct stat st = { .st_mode = block ? S_IFBLK : S_IFCHR, .st_rdev = makedev(ma, mi) };

	return st;
}

int main(void)
{
	static struct sp_enum_ctrl c;
	struct stat st;
	char name[64];
	int ns = 99;

	snprintf(root, sizeof(root), "%s/sp-enum.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	build();
	sp_sysfs_set_root(root);

	TAP_CHECK(!sp_enum_nvme("nvme0", &c) && c.kind == SP_ENUM_NVME &&
		  c.node.dev == makedev(240, 0) && !strcmp(c.bdf, "0000:00:04.0"),
		  "nvme0: its char node and PCI function");
	TAP_CHECK(c.nr_ns == 3 && !strcmp(c.ns[0].disk.name, "nvme0n1") &&
		  !strcmp(c.ns[0].generic.name, "ng0n1") && c.ns[0].generic.dev == makedev(242, 0) &&
		  !c.ns[0].path.name[0] && c.ns[0].bytes == 2048 * 512ULL,
		  "nvme0n1 with ng0n1, no path, size in bytes");
	TAP_CHECK(c.ns[0].nr_parts == 1 && !strcmp(c.ns[0].parts[0].name, "nvme0n1p1") &&
		  c.ns[0].parts[0].dev == makedev(259, 1), "its partition, not its queue directory");
	TAP_CHECK(!strcmp(c.ns[1].disk.name, "nvme0n2") && !strcmp(c.ns[1].generic.name, "ng0n2"),
		  "nvme0n2 with ng0n2");
	TAP_CHECK(!c.ns[2].disk.name[0] && !strcmp(c.ns[2].generic.name, "ng0n3"),
		  "a generic node without a disk is a namespace too");

	TAP_CHECK(!sp_enum_nvme("nvme2", &c) && !strcmp(c.bdf, "0000:00:06.0") && c.nr_ns == 1,
		  "nvme2 (second controller of subsystem 1): one namespace");
	TAP_CHECK(!strcmp(c.ns[0].disk.name, "nvme1n1") && c.ns[0].disk.dev == makedev(259, 3) &&
		  !strcmp(c.ns[0].generic.name, "ng1n1") &&
		  !strcmp(c.ns[0].path.name, "nvme1c2n1") && !c.ns[0].path.dev,
		  "multipath: nvme2 reaches head nvme1n1 and ng1n1 through path nvme1c2n1");
	TAP_CHECK(c.ns[0].nr_parts == 1 && !strcmp(c.ns[0].parts[0].name, "nvme1n1p1") &&
		  c.ns[0].bytes == 4096 * 512ULL, "the head's partition and size");
	TAP_CHECK(!sp_enum_nvme("nvme1", &c) && !strcmp(c.ns[0].disk.name, "nvme1n1") &&
		  c.ns[0].path.dev == makedev(259, 5), "nvme1 reaches the same head");

	TAP_CHECK(!sp_enum_of_pci("00:06.0", &c) && !strcmp(c.name, "nvme2"),
		  "PCI function 00:06.0 -> nvme2");
	TAP_CHECK(sp_enum_of_pci("0000:00:09.0", &c) == -ENODEV, "no such function");
	TAP_CHECK(sp_enum_nvme("nvme9", &c) == -ENODEV && sp_enum_nvme("../nvme0", &c) == -ENODEV,
		  "no such controller; no path in a name");

	TAP_CHECK(!sp_enum_scsi("host3", &c) && c.kind == SP_ENUM_SCSI &&
		  !strcmp(c.bdf, "0000:00:07.0") && c.nr_ns == 1 &&
		  !strcmp(c.ns[0].disk.name, "sda") && !strcmp(c.ns[0].generic.name, "sg0") &&
		  c.ns[0].nr_parts == 1 && c.ns[0].bytes == 51200, "RAID HBA: host3 -> sda (sda1), sg0");
	TAP_CHECK(!sp_enum_of_pci("0000:00:08.0", &c) && !strcmp(c.name, "host4") &&
		  c.nr_ns == 1 && !strcmp(c.ns[0].disk.name, "sdb") &&
		  c.ns[0].generic.dev == makedev(21, 1), "SAS HBA: end devices found however deep");

	st = node(false, 242, 2);
	TAP_CHECK(!sp_enum_find(&st, &c, &ns) && !strcmp(c.name, "nvme1") && ns == 0,
		  "ng1n1 found: controller nvme1, namespace 0");
	st.st_nlink = 0;
	sp_enum_each(count_ctrl, &st);
	TAP_CHECK(st.st_nlink == 2, "the shared namespace's generic node reaches 2 controllers");
	st = node(true, 259, 4);
	st.st_nlink = 0;
	sp_enum_each(count_ctrl, &st);
	TAP_CHECK(st.st_nlink == 2, "so does the head's partition");
	st = node(false, 240, 2);
	TAP_CHECK(!sp_enum_find(&st, &c, &ns) && !strcmp(c.name, "nvme2") && ns == SP_ENUM_CTRL_NODE,
		  "/dev/nvme2 is the controller's own node");
	st = node(true, 8, 1);
	TAP_CHECK(!sp_enum_find(&st, &c, &ns) && !strcmp(c.name, "host3") && ns == 0,
		  "sda1 belongs to host3");
	st = node(true, 242, 2);
	TAP_CHECK(sp_enum_find(&st, &c, &ns) == -ENODEV, "a block node with a char node's number: none");

	st = node(true, 259, 3);
	TAP_CHECK(!sp_dev_kernel_name(&st, name, sizeof(name)) && !strcmp(name, "nvme1n1"),
		  "kernel name of 259:3 from the same root");

	{
		char bdf[16];

		TAP_CHECK(!sp_pci_parse_bdf("00:1f.7", bdf, sizeof(bdf)) &&
			  !strcmp(bdf, "0000:00:1f.7"), "short BDF completed");
		TAP_CHECK(sp_pci_parse_bdf("00:20.0", bdf, sizeof(bdf)) == -ENODEV &&
			  sp_pci_parse_bdf("0000:00:04.0/..", bdf, sizeof(bdf)) == -ENODEV &&
			  sp_pci_parse_bdf("x", bdf, sizeof(bdf)) == -ENODEV, "bad BDFs refused");
	}
	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", root);
	}
	return tap_done();
}
