/* SPDX-License-Identifier: MIT */
/*
 * The storage devices the kernel drives, as sysfs shows them: NVMe
 * controllers with their namespaces, SCSI hosts with their disks, the
 * device nodes of each and the PCI function behind each. Every tool and
 * backend that must know "which nodes belong to this controller" or
 * "which namespace is this node" asks here.
 *
 * Native NVMe multipath is taken as the kernel lays it out: a shared
 * namespace has one head disk nvmeSnN (S: the subsystem's instance, which
 * is not the controller's number) and its generic node ngSnN, both in the
 * subsystem; each controller has a hidden path disk nvmeScCnN under it.
 * A namespace is therefore listed under every controller that reaches it,
 * by its head, and the controller's number never names its namespaces.
 * Without multipath the disk nvmeCnN and ngCnN sit under controller C.
 *
 * Readers only. The sysfs root is settable so that the unit tests can
 * point it at a tree of their own (sp_sysfs_set_root).
 */
#ifndef SP_ENUM_H
#define SP_ENUM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define SP_ENUM_MAX_NS		32	/* namespaces (disks) kept per controller */
#define SP_ENUM_MAX_PARTS	64	/* partitions kept per disk */

/* A device node as sysfs names it; dev 0: sysfs shows no node for it. */
struct sp_enum_node {
	char name[40];
	dev_t dev;
};

struct sp_enum_ns {
	struct sp_enum_node disk;	/* nvme0n1 (the head under multipath), sda; or none */
	struct sp_enum_node generic;	/* ng0n1, or sg0 for a SCSI device */
	struct sp_enum_node path;	/* nvme0c1n1: this controller's multipath path, or none */
	struct sp_enum_node parts[SP_ENUM_MAX_PARTS];
	unsigned nr_parts;
	uint64_t bytes;			/* the disk's size */
};

enum sp_enum_kind {
	SP_ENUM_NONE,
	SP_ENUM_NVME,			/* an NVMe controller (/sys/class/nvme) */
	SP_ENUM_SCSI,			/* a SCSI host (/sys/class/scsi_host) */
};

struct sp_enum_ctrl {
	enum sp_enum_kind kind;
	char name[32];			/* nvme0, host2 */
	struct sp_enum_node node;	/* /dev/nvme0; none for a SCSI host */
	char bdf[16];			/* the PCI function behind it, "" when none */
	struct sp_enum_ns ns[SP_ENUM_MAX_NS];
	unsigned nr_ns;
	bool truncated;			/* more namespaces or partitions than kept */
};

/* The NVMe controller "nvme0"; -ENODEV when there is none. */
int sp_enum_nvme(const char *name, struct sp_enum_ctrl *c);
/* The SCSI host "host2" with every device behind it; -ENODEV. */
int sp_enum_scsi(const char *host, struct sp_enum_ctrl *c);
/*
 * What the kernel made of PCI function bdf: its NVMe controller, or for
 * an HBA every SCSI device below the function (named after its first
 * host); -ENODEV while no driver made either.
 */
int sp_enum_of_pci(const char *bdf, struct sp_enum_ctrl *c);

/*
 * Calls fn for every NVMe controller, then every SCSI host, in name
 * order; stops at the first non-zero return of fn and returns it. 0, or
 * -ENOMEM.
 */
int sp_enum_each(int (*fn)(const struct sp_enum_ctrl *c, void *arg), void *arg);

#define SP_ENUM_CTRL_NODE	(-1)	/* sp_enum_match: the controller's own node */
#define SP_ENUM_NO_MATCH	(-2)
/*
 * Where the node dev (block or char) is in c: the index of the namespace
 * it reaches (disk, partition, path or generic node), SP_ENUM_CTRL_NODE,
 * or SP_ENUM_NO_MATCH.
 */
int sp_enum_match(const struct sp_enum_ctrl *c, dev_t dev, bool block);

/*
 * The first controller a device node st belongs to, and *ns as
 * sp_enum_match says; -ENODEV when no controller has it. Under multipath
 * a namespace belongs to several: sp_enum_each finds them all.
 */
int sp_enum_find(const struct stat *st, struct sp_enum_ctrl *c, int *ns);

/* "0000:00:04.0" or "00:04.0" into the full form (16 bytes); -ENODEV
 * when s is no PCI address. */
int sp_pci_parse_bdf(const char *s, char *out, size_t len);

#endif
