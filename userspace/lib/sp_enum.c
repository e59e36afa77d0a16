// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_enum.h"
#include "sp_opts.h"
#include "sp_sysfs.h"

#define CLASS_NVME	"/sys/class/nvme"
#define CLASS_BLOCK	"/sys/class/block"
#define CLASS_GENERIC	"/sys/class/nvme-generic"
#define CLASS_SG	"/sys/class/scsi_generic"
#define CLASS_SDEV	"/sys/class/scsi_device"
#define CLASS_SHOST	"/sys/class/scsi_host"
#define PCI_DEVS	"/sys/bus/pci/devices"

static int not_dot(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/*
 * The entries of a sysfs directory in version order (nvme0n2 before
 * nvme0n10); *n of them, 0 when it cannot be read. Free with free_list.
 */
static struct dirent **list(int *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static struct dirent **list(int *n, const char *fmt, ...)
{
	char rel[PATH_MAX], path[PATH_MAX];
	struct dirent **e = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	*n = 0;
	if (sp_sysfs_path(path, sizeof(path), "%s", rel))
		return NULL;
	*n = scandir(path, &e, not_dot, versionsort);
	if (*n < 0)
		*n = 0;
	return e;
}

static void free_list(struct dirent **e, int n)
{
	for (int i = 0; i < n; i++)
		free(e[i]);
	free(e);
}

static bool exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool exists(const char *fmt, ...)
{
	char rel[PATH_MAX], path[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	return !sp_sysfs_path(path, sizeof(path), "%s", rel) && !access(path, F_OK);
}

/* name and, when class/name/dev says one, its device number */
static void set_node(struct sp_enum_node *nd, const char *class, const char *name)
{
	char path[PATH_MAX];

	if (name != nd->name)
		snprintf(nd->name, sizeof(nd->name), "%s", name);
	nd->dev = 0;
	if (!sp_sysfs_path(path, sizeof(path), "%s/%s/dev", class, name) &&
	    sp_sysfs_read_devnum(path, &nd->dev))
		nd->dev = 0;
}

int sp_pci_parse_bdf(const char *s, char *out, size_t len)
{
	unsigned dom = 0, bus, dev, fn;
	char tail;

	if (sscanf(s, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail) != 4) {
		dom = 0;
		if (sscanf(s, "%x:%x.%x%c", &bus, &dev, &fn, &tail) != 3)
			return -ENODEV;
	}
	if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7 || strchr(s, '/') ||
	    strchr(s, ' ') || s[0] == '+' || s[0] == '-')
		return -ENODEV;
	snprintf(out, len, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

/* The PCI function the sysfs device directory rel lies under: the last
 * component of its real path that is a full PCI address. */
static void pci_above(const char *rel, char *bdf, size_t len)
{
	char path[PATH_MAX], real[PATH_MAX], full[16];
	char *s, *save = NULL;

	bdf[0] = '\0';
	if (sp_sysfs_path(path, sizeof(path), "%s", rel) || !realpath(path, real))
		return;
	for (s = strtok_r(real, "/", &save); s; s = strtok_r(NULL, "/", &save))
		if (!sp_pci_parse_bdf(s, full, sizeof(full)) && !strcmp(full, s))
			snprintf(bdf, len, "%s", s);
}

/* Size and partitions of disk ns->disk (a name in /sys/class/block). */
static void read_disk(struct sp_enum_ctrl *c, struct sp_enum_ns *ns)
{
	char path[PATH_MAX];
	struct dirent **e;
	long long sectors;
	int n;

	set_node(&ns->disk, CLASS_BLOCK, ns->disk.name);
	if (!sp_sysfs_path(path, sizeof(path), CLASS_BLOCK "/%s/size", ns->disk.name) &&
	    !sp_read_int_file(path, &sectors) && sectors >= 0 &&
	    (unsigned long long)sectors <= UINT64_MAX / 512)
		ns->bytes = sectors * 512ULL;
	e = list(&n, CLASS_BLOCK "/%s", ns->disk.name);
	for (int i = 0; i < n; i++) {
		/* a partition is the child with a partition number */
		if (!exists(CLASS_BLOCK "/%s/%s/partition", ns->disk.name, e[i]->d_name))
			continue;
		if (ns->nr_parts == SP_ENUM_MAX_PARTS) {
			c->truncated = true;
			break;
		}
		set_node(&ns->parts[ns->nr_parts++], CLASS_BLOCK, e[i]->d_name);
	}
	free_list(e, n);
}

static struct sp_enum_ns *new_ns(struct sp_enum_ctrl *c)
{
	if (c->nr_ns == SP_ENUM_MAX_NS) {
		c->truncated = true;
		return NULL;
	}
	memset(&c->ns[c->nr_ns], 0, sizeof(c->ns[0]));
	return &c->ns[c->nr_ns++];
}

/* Whether s is exactly "nvme%un%u" (want_path: "nvme%uc%un%u"). */
static bool nvme_disk_name(const char *s, bool want_path, unsigned *subsys, unsigned *nsi)
{
	unsigned a, b, n;
	int used = 0;

	if (want_path)
		return sscanf(s, "nvme%uc%un%u%n", &a, &b, &n, &used) == 3 && !s[used] &&
		       (*subsys = a, *nsi = n, true);
	return sscanf(s, "nvme%un%u%n", &a, &n, &used) == 2 && !s[used] &&
	       (*subsys = a, *nsi = n, true);
}

static bool has_generic(const struct sp_enum_ctrl *c, const char *name)
{
	for (unsigned i = 0; i < c->nr_ns; i++)
		if (!strcmp(c->ns[i].generic.name, name))
			return true;
	return false;
}

int sp_enum_nvme(const char *name, struct sp_enum_ctrl *c)
{
	char rel[PATH_MAX], head[40], gen[40];
	struct dirent **e;
	unsigned a, nsi;
	int n, used = 0;

	memset(c, 0, sizeof(*c));
	if (sscanf(name, "nvme%u%n", &a, &used) != 1 || name[used] ||
	    !exists(CLASS_NVME "/%s", name))
		return -ENODEV;
	c->kind = SP_ENUM_NVME;
	snprintf(c->name, sizeof(c->name), "%s", name);
	set_node(&c->node, CLASS_NVME, name);
	snprintf(rel, sizeof(rel), CLASS_NVME "/%s/device", name);
	if (exists("%s/config", rel))	/* a PCI function, not a fabrics link */
		pci_above(rel, c->bdf, sizeof(c->bdf));
	e = list(&n, CLASS_NVME "/%s", name);
	for (int i = 0; i < n; i++) {
		const char *d = e[i]->d_name;
		struct sp_enum_ns *ns;
		bool path = nvme_disk_name(d, true, &a, &nsi), headless;

		if (!path && !nvme_disk_name(d, false, &a, &nsi))
			continue;
		if (!exists(CLASS_BLOCK "/%s", d))
			continue;
		/* a path leads to its head nvmeSnN, in the subsystem */
		snprintf(head, sizeof(head), "nvme%un%u", a, nsi);
		headless = path && !exists(CLASS_BLOCK "/%s", head);
		ns = new_ns(c);
		if (!ns)
			break;
		snprintf(ns->disk.name, sizeof(ns->disk.name), "%s", headless ? d : head);
		if (path)
			set_node(&ns->path, CLASS_BLOCK, d);
		read_disk(c, ns);
		/* disk nvmeXnY and its generic node ngXnY share X and Y, with
		 * multipath (both the head's) and without (both the controller's);
		 * a path has no generic node of its own */
		snprintf(gen, sizeof(gen), "ng%un%u", a, nsi);
		if (!headless && exists(CLASS_GENERIC "/%s", gen))
			set_node(&ns->generic, CLASS_GENERIC, gen);
	}
	/* a generic node without a disk (a namespace the block layer cannot
	 * present) still reaches the controller */
	for (int i = 0; i < n; i++) {
		const char *d = e[i]->d_name;
		struct sp_enum_ns *ns;

		if (strncmp(d, "ng", 2) || has_generic(c, d) || !exists(CLASS_GENERIC "/%s", d))
			continue;
		ns = new_ns(c);
		if (!ns)
			break;
		set_node(&ns->generic, CLASS_GENERIC, d);
	}
	free_list(e, n);
	return 0;
}

/* One SCSI device (H:C:T:L in /sys/class/scsi_device): its disk and sg node. */
static void add_scsi_device(struct sp_enum_ctrl *c, const char *hctl)
{
	struct sp_enum_ns *ns;
	struct dirent **e;
	int n;

	ns = new_ns(c);
	if (!ns)
		return;
	e = list(&n, CLASS_SDEV "/%s/device/scsi_generic", hctl);
	if (n)
		set_node(&ns->generic, CLASS_SG, e[0]->d_name);
	free_list(e, n);
	e = list(&n, CLASS_SDEV "/%s/device/block", hctl);
	if (n) {
		snprintf(ns->disk.name, sizeof(ns->disk.name), "%s", e[0]->d_name);
		read_disk(c, ns);
	}
	free_list(e, n);
	if (!ns->disk.name[0] && !ns->generic.name[0])
		c->nr_ns--;	/* no node to reach it by */
}

/* Every SCSI device whose sysfs directory lies below rel, however deep: a
 * RAID HBA puts it at hostN/targetH:C:T/H:C:T:L, a SAS HBA under
 * hostN/port-H:P/end_device-H:P/targetH:C:T/H:C:T:L. */
static void scsi_below(struct sp_enum_ctrl *c, const char *rel)
{
	char path[PATH_MAX], base[PATH_MAX], dev[PATH_MAX];
	struct dirent **e;
	size_t bl;
	int n;

	if (sp_sysfs_path(path, sizeof(path), "%s", rel) || !realpath(path, base))
		return;
	bl = strlen(base);
	e = list(&n, CLASS_SDEV);
	for (int i = 0; i < n; i++) {
		if (sp_sysfs_path(path, sizeof(path), CLASS_SDEV "/%s/device", e[i]->d_name) ||
		    !realpath(path, dev) || strncmp(dev, base, bl) || dev[bl] != '/')
			continue;
		add_scsi_device(c, e[i]->d_name);
	}
	free_list(e, n);
}

int sp_enum_scsi(const char *host, struct sp_enum_ctrl *c)
{
	char rel[PATH_MAX];
	unsigned h;
	int used = 0;

	memset(c, 0, sizeof(*c));
	if (sscanf(host, "host%u%n", &h, &used) != 1 || host[used] ||
	    !exists(CLASS_SHOST "/%s", host))
		return -ENODEV;
	c->kind = SP_ENUM_SCSI;
	snprintf(c->name, sizeof(c->name), "%s", host);
	snprintf(rel, sizeof(rel), CLASS_SHOST "/%s/device", host);
	pci_above(rel, c->bdf, sizeof(c->bdf));
	scsi_below(c, rel);
	return 0;
}

int sp_enum_of_pci(const char *bdf, struct sp_enum_ctrl *c)
{
	char full[16];
	struct dirent **e;
	int n, ret = -ENODEV;

	memset(c, 0, sizeof(*c));
	if (sp_pci_parse_bdf(bdf, full, sizeof(full)) || !exists(PCI_DEVS "/%s", full))
		return -ENODEV;
	e = list(&n, PCI_DEVS "/%s/nvme", full);
	for (int i = 0; i < n && ret; i++)
		ret = sp_enum_nvme(e[i]->d_name, c);
	free_list(e, n);
	if (!ret)
		return 0;
	e = list(&n, PCI_DEVS "/%s", full);
	for (int i = 0; i < n && ret; i++)
		if (!strncmp(e[i]->d_name, "host", 4) && exists(CLASS_SHOST "/%s", e[i]->d_name)) {
			char rel[64];

			ret = 0;
			c->kind = SP_ENUM_SCSI;
			snprintf(c->name, sizeof(c->name), "%s", e[i]->d_name);
			snprintf(c->bdf, sizeof(c->bdf), "%s", full);
			snprintf(rel, sizeof(rel), PCI_DEVS "/%s", full);
			scsi_below(c, rel);
		}
	free_list(e, n);
	return ret;
}

int sp_enum_each(int (*fn)(const struct sp_enum_ctrl *c, void *arg), void *arg)
{
	static const struct {
		const char *class;
		int (*read)(const char *, struct sp_enum_ctrl *);
	} kinds[] = { { CLASS_NVME, sp_enum_nvme }, { CLASS_SHOST, sp_enum_scsi } };
	struct sp_enum_ctrl *c = malloc(sizeof(*c));
	int ret = 0;

	if (!c)
		return -ENOMEM;
	for (size_t k = 0; !ret && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct dirent **e;
		int n;

		e = list(&n, "%s", kinds[k].class);
		for (int i = 0; i < n && !ret; i++)
			if (!kinds[k].read(e[i]->d_name, c))
				ret = fn(c, arg);
		free_list(e, n);
	}
	free(c);
	return ret;
}

static bool is(const struct sp_enum_node *nd, dev_t dev)
{
	return nd->dev && nd->dev == dev;
}

int sp_enum_match(const struct sp_enum_ctrl *c, dev_t dev, bool block)
{
	if (!block && is(&c->node, dev))
		return SP_ENUM_CTRL_NODE;
	for (unsigned i = 0; i < c->nr_ns; i++) {
		const struct sp_enum_ns *ns = &c->ns[i];

		if (!block) {
			if (is(&ns->generic, dev))
				return i;
			continue;
		}
		if (is(&ns->disk, dev) || is(&ns->path, dev))
			return i;
		for (unsigned p = 0; p < ns->nr_parts; p++)
			if (is(&ns->parts[p], dev))
				return i;
	}
	return SP_ENUM_NO_MATCH;
}

struct find {
	dev_t dev;
	bool block;
	struct sp_enum_ctrl *out;
	int ns;
};

static int find_one(const struct sp_enum_ctrl *c, void *arg)
{
	struct find *f = arg;
	int m = sp_enum_match(c, f->dev, f->block);

	if (m == SP_ENUM_NO_MATCH)
		return 0;
	*f->out = *c;
	f->ns = m;
	return 1;
}

int sp_enum_find(const struct stat *st, struct sp_enum_ctrl *c, int *ns)
{
	struct find f = { .dev = st->st_rdev, .block = S_ISBLK(st->st_mode), .out = c };
	int ret;

	if (!S_ISBLK(st->st_mode) && !S_ISCHR(st->st_mode))
		return -ENODEV;
	ret = sp_enum_each(find_one, &f);
	if (ret < 0)
		return ret;
	if (!ret)
		return -ENODEV;
	*ns = f.ns;
	return 0;
}
