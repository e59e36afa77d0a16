/* SPDX-License-Identifier: MIT */
/*
 * PCI functions as sysfs shows them, and what the kernel does with an NVMe
 * controller's namespaces (partitions, mounts, holders, open file
 * descriptors), so that a tool can tell whether the controller may leave
 * its driver; moving it between drivers (driver_override, unbind,
 * drivers_probe). Readers and sysfs writes only. The controller and its
 * disks come from the enumeration (sp_enum.h); sysfs paths go through
 * its root.
 */
#ifndef SP_PCI_H
#define SP_PCI_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sp_enum.h"

#define SP_PCI_DEVS "/sys/bus/pci/devices"
#define SP_PCI_MAX_BLK	(2 + SP_ENUM_MAX_PARTS)
#define SP_PCI_MAX_CHAR	(1 + SP_ENUM_MAX_NS)

struct sp_ns_info {
	char name[40];		/* nvme0n1 (a multipath head), or sda behind a SCSI HBA */
	dev_t devs[SP_PCI_MAX_BLK];	/* the disk, its path, its partitions */
	unsigned nr_devs;
	uint64_t bytes;
	char mounted[PATH_MAX];	/* a mount point, or "" */
	bool root;		/* holds / */
	char holder[64];	/* dm/md on top, or "" */
};

struct sp_pci_info {
	char bdf[16];
	char driver[64];	/* "" when none */
	char group[16];		/* "" without an IOMMU */
	unsigned class;
	char ids[16];		/* vendor:device */
	char ctrl[32];		/* nvme0 while nvme drives it; host0 for an HBA */
	dev_t ctrl_devs[SP_PCI_MAX_CHAR];	/* nvme0, ng0n1... or sg0...: the char nodes */
	unsigned nr_ctrl_devs;
	struct sp_ns_info ns[SP_ENUM_MAX_NS];
	unsigned nr_ns;
	bool vfio_node;		/* /dev/vfio/<group> exists */
	pid_t vfio_pid;		/* a process holding the group, or 0 */
};

/* What the system says about bdf; -ENODEV when there is no such device. */
int sp_pci_info(const char *bdf, struct sp_pci_info *p);
/* The NVMe controllers and SCSI HBAs among the PCI functions, in address
 * order: how many (at most max written), or -errno. */
int sp_pci_list_storage(char (*bdf)[16], unsigned max);
/* Mass storage, non-volatile memory (NVMe). */
bool sp_pci_is_nvme_class(unsigned class);
/* Mass storage: SCSI, RAID or SAS controller (an HBA with disks behind it). */
bool sp_pci_is_scsi_hba_class(unsigned class);
/*
 * The first other process with a node of p open: the VFIO group node
 * vfio_node when given, else a namespace's block node (*ns_idx set) or
 * a char node (*ns_idx -1). Its command name into comm. 0: none.
 */
pid_t sp_pci_find_opener(const struct sp_pci_info *p, const char *vfio_node, int *ns_idx,
			 char *comm, size_t len);
/* The name behind a device's sysfs link ("driver", "iommu_group"). */
int sp_pci_link_name(const char *bdf, const char *what, char *out, size_t len);
/* driver_override (NULL: cleared), unbind from `from`, drivers_probe. */
int sp_pci_move(const char *bdf, const char *from, const char *override);
/* Waits up to ms until drv drives bdf (nvme: with a namespace node back). */
bool sp_pci_wait_driver(const char *bdf, const char *drv, unsigned ms);
/* Sleeps ms milliseconds. */
void sp_sleep_ms(unsigned ms);
/* Writes s to a sysfs (or any) file; 0 or -errno. */
int sp_sysfs_write(const char *path, const char *s);

#endif
