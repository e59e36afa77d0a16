/* SPDX-License-Identifier: MIT */
/*
 * What sysfs and procfs say about devices: kernel names, mounts and the
 * block layer's queues. Readers only; nothing here opens a device.
 */
#ifndef SP_SYSFS_H
#define SP_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/*
 * The directory every sysfs path of the library lives under ("/sys/..."
 * becomes root + "/sys/..."): a unit test's fake tree; NULL or "" for
 * the system's own.
 */
void sp_sysfs_set_root(const char *root);
/* root + the formatted path into out; -ENAMETOOLONG when it does not fit. */
int sp_sysfs_path(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A sysfs "dev" attribute ("259:0") as a device number; -ENOENT, -EIO. */
int sp_sysfs_read_devnum(const char *path, dev_t *dev);

/* Kernel name of the device behind st ("nvme0n1", "sg0"), from sysfs. */
int sp_dev_kernel_name(const struct stat *st, char *name, size_t len);

/*
 * Whether block device dev is mounted in this mount namespace; its
 * mount point goes to where.
 */
bool sp_mount_point(dev_t dev, char *where, size_t len);

/*
 * blk-mq disks whose requests are not stamped at allocation (queue/iostats
 * reads 0): how many, the first one's name in first. -errno when
 * /sys/block cannot be read.
 */
int sp_blk_without_iostats(char *first, size_t len);

#endif
