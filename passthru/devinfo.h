/* SPDX-License-Identifier: MIT */
/*
 * Target discovery: what a path is (file, block device, char device),
 * how big, which alignment O_DIRECT needs, and whether it is safe to
 * write to. Every check here runs before anything is written.
 */
#ifndef SP_PASSTHRU_DEVINFO_H
#define SP_PASSTHRU_DEVINFO_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

enum sp_target_kind {
	SP_KIND_NONE,		/* no target (nop) */
	SP_KIND_FILE,
	SP_KIND_BLOCK,
	SP_KIND_CHAR,
	SP_KIND_PCI,		/* a PCI function driven from userspace (VFIO) */
};

struct sp_devinfo {
	char path[PATH_MAX];
	enum sp_target_kind kind;
	dev_t rdev;		/* block/char device number */
	char name[64];		/* kernel name ("loop0", "nvme0n1"), block only */
	uint64_t size;		/* bytes */
	uint32_t lbs;		/* logical block size: O_DIRECT offset/length unit */
	uint32_t mem_align;	/* O_DIRECT buffer alignment */
	bool dio;		/* O_DIRECT is supported on it */
	int io_poll;		/* queue/io_poll: 1, 0, or -1 unknown */
	uint32_t max_transfer;	/* bytes per command; 0: no limit known */
	/* Block device holding the same data (mount and signature checks):
	 * the path itself for a block device, empty when there is none. */
	char block_path[PATH_MAX];
	/* What the device says it is (passthrough backends). */
	char model[48];
	char serial[32];
	char firmware[16];
	uint32_t nsid;		/* NVMe namespace */
	uint16_t ms;		/* NVMe metadata bytes per block */
	bool write_zeroes;	/* NVMe: the controller has Write Zeroes (ONCS) */
	uint8_t mdts;		/* NVMe: MDTS as Identify reports it (0: no limit) */
	uint8_t flush_cdb_len;	/* SCSI: 16 or 10 (SYNCHRONIZE CACHE); 0: none works */
	char bsg_path[64];	/* SCSI: the bsg node of the same device, if any */
	int bsg_uring;		/* bsg takes io_uring passthrough: 1, 0, -1 unknown */
	char bsg_why[64];	/* how the bsg probe answered */
};

const char *sp_kind_name(enum sp_target_kind k);

/*
 * Fills d for an existing path. -ENOENT: missing; -EACCES: no
 * permission to open it with the requested access; -ENOTSUP: not a
 * file or block/char device.
 */
int sp_dev_probe(const char *path, bool want_write, struct sp_devinfo *d);

/*
 * Whether path (a device, or an image of one) carries a filesystem, RAID
 * or partition table signature, by libblkid: 1 (what says which), 0 if
 * it carries none, -errno if it cannot be read (callers refuse to write
 * then, as for a signature).
 */
int sp_dev_probe_signature(const char *path, char *what, size_t len);

/*
 * Refuses (-EBUSY) when d->block_path is mounted or held exclusively,
 * and (-EEXIST) one carrying a filesystem, RAID or partition table
 * signature unless force. why gets one line of explanation.
 */
int sp_dev_check_writable(const struct sp_devinfo *d, bool force,
			  char *why, size_t len);

/*
 * One writer at a time: takes a lock on d for as long as *fd stays open
 * (close it, or exit). A block device is opened O_EXCL, as the kernel
 * lets one holder have it; a file or a char node without a block device
 * gets an OFD write lock on the whole file. -EBUSY with why set when
 * another run holds it; *fd is -1 where no lock applies (a PCI function:
 * its VFIO group is exclusive already).
 */
int sp_dev_lock_write(const struct sp_devinfo *d, int *fd, char *why, size_t len);

/*
 * Whether [offset, offset + len) lies inside d: 0, -ERANGE (past the end,
 * or the sum overflows) or -EINVAL (not in whole logical blocks, or d has
 * no blocks to address). why names the offending value in bytes and
 * blocks. Checked before anything is issued, whatever the path.
 */
int sp_dev_check_range(const struct sp_devinfo *d, uint64_t offset, uint64_t len,
		       char *why, size_t why_len);

/*
 * For passthrough backends: records node (the char device commands go
 * to) and blk (the block device with the same data, or "") in d, reads
 * the block device's transfer and polling limits, and opens node.
 * Returns the fd or -errno, with why set.
 */
int sp_dev_open_passthru(struct sp_devinfo *d, const char *node, const char *blk,
			 bool write, char *why, size_t len);

/* Creates a regular file of the given size (allocated, not sparse). */
int sp_file_create(const char *path, uint64_t size);

#endif
