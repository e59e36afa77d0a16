// SPDX-License-Identifier: MIT
#include <blkid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "devinfo.h"
#include "sp_opts.h"
#include "sp_sysfs.h"

const char *sp_kind_name(enum sp_target_kind k)
{
	switch (k) {
	case SP_KIND_NONE: return "none";
	case SP_KIND_FILE: return "file";
	case SP_KIND_BLOCK: return "block";
	case SP_KIND_CHAR: return "char";
	case SP_KIND_PCI: return "pci";
	}
	return "?";
}

/* Limits the block layer knows for the kernel name d->name. */
static void read_queue_limits(struct sp_devinfo *d)
{
	char path[PATH_MAX];
	long long v;

	d->io_poll = -1;
	if (!d->name[0])
		return;
	snprintf(path, sizeof(path), "/sys/block/%s/queue/io_poll", d->name);
	if (sp_read_int_file(path, &v) == 0)
		d->io_poll = v;
	snprintf(path, sizeof(path), "/sys/block/%s/queue/max_hw_sectors_kb", d->name);
	if (sp_read_int_file(path, &v) == 0 && v > 0)
		d->max_transfer = (uint32_t)v << 10;
}

static void probe_block(int fd, const struct stat *st, struct sp_devinfo *d)
{
	int lbs = 512;
	uint64_t size = 0;

	if (ioctl(fd, BLKSSZGET, &lbs) == 0 && lbs > 0)
		d->lbs = lbs;
	if (ioctl(fd, BLKGETSIZE64, &size) == 0)
		d->size = size;
	d->mem_align = d->lbs;
	d->dio = true;
	if (sp_dev_kernel_name(st, d->name, sizeof(d->name)))
		d->name[0] = '\0';
	read_queue_limits(d);
}

static void probe_file(int fd, const struct stat *st, struct sp_devinfo *d)
{
	struct statx stx;

	d->size = st->st_size;
	d->lbs = 512;
	d->mem_align = 512;
	d->dio = true;
	d->io_poll = -1;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		d->dio = stx.stx_dio_offset_align != 0;
		if (d->dio) {
			d->lbs = stx.stx_dio_offset_align;
			d->mem_align = stx.stx_dio_mem_align;
		}
	}
}

int sp_dev_probe(const char *path, bool want_write, struct sp_devinfo *d)
{
	struct stat st;
	int fd, ret = 0;

	memset(d, 0, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "%s", path);
	if (stat(path, &st))
		return -errno;
	if (S_ISREG(st.st_mode))
		d->kind = SP_KIND_FILE;
	else if (S_ISBLK(st.st_mode))
		d->kind = SP_KIND_BLOCK;
	else if (S_ISCHR(st.st_mode))
		d->kind = SP_KIND_CHAR;
	else
		return -ENOTSUP;
	d->rdev = st.st_rdev;
	fd = open(path, (want_write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (d->kind == SP_KIND_BLOCK) {
		probe_block(fd, &st, d);
		snprintf(d->block_path, sizeof(d->block_path), "%s", path);
	}
	else if (d->kind == SP_KIND_FILE)
		probe_file(fd, &st, d);
	close(fd);
	return ret;
}

int sp_dev_probe_signature(const char *path, char *what, size_t len)
{
	blkid_probe pr;
	const char *val = NULL;
	int ret;

	errno = 0;
	pr = blkid_new_probe_from_filename(path);
	if (!pr)
		return errno ? -errno : -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	blkid_probe_enable_partitions(pr, 1);
	ret = blkid_do_safeprobe(pr);
	if (ret == 0) {
		if (blkid_probe_lookup_value(pr, "TYPE", &val, NULL) == 0)
			snprintf(what, len, "a %s filesystem/volume signature", val);
		else if (blkid_probe_lookup_value(pr, "PTTYPE", &val, NULL) == 0)
			snprintf(what, len, "a %s partition table", val);
		else
			snprintf(what, len, "a signature");
		ret = 1;
	} else if (ret == -2) {
		snprintf(what, len, "several conflicting signatures");
		ret = 1;
	} else if (ret == 1) {
		ret = 0;	/* nothing found */
	} else {
		ret = -EIO;	/* unreadable: not the same as empty */
	}
	blkid_free_probe(pr);
	return ret;
}

int sp_dev_check_writable(const struct sp_devinfo *d, bool force,
			  char *why, size_t len)
{
	char what[PATH_MAX];
	struct stat st;
	int fd, ret;

	if (!d->block_path[0])
		return 0;
	/* A mounted device is never written to, --force or not. */
	if (stat(d->block_path, &st) || !S_ISBLK(st.st_mode))
		return 0;
	if (sp_mount_point(st.st_rdev, what, sizeof(what))) {
		snprintf(why, len, "%s is mounted on %s", d->block_path, what);
		return -EBUSY;
	}
	/* O_EXCL on a block device fails while anyone holds it exclusively
	 * (a filesystem, md, dm, swap, a mounted partition). */
	fd = open(d->block_path, O_RDONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0 && errno == EBUSY) {
		snprintf(why, len, "%s is in use (held by a filesystem, swap, "
			 "md/dm or another exclusive user)", d->block_path);
		return -EBUSY;
	}
	if (fd >= 0)
		close(fd);
	if (force)
		return 0;
	/* a device whose signature cannot be read is not known to be empty */
	ret = sp_dev_probe_signature(d->block_path, what, sizeof(what));
	if (ret < 0) {
		snprintf(why, len, "%s: cannot read it to look for a signature (%s); "
			 "refusing to write without --force", d->block_path, strerror(-ret));
		return ret;
	}
	if (ret > 0) {
		snprintf(why, len, "%s carries %s; refusing to write without --force",
			 d->block_path, what);
		return -EEXIST;
	}
	return 0;
}

int sp_dev_lock_write(const struct sp_devinfo *d, int *fd, char *why, size_t len)
{
	const char *path = d->block_path[0] ? d->block_path : d->path;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int ret;

	*fd = -1;
	if (d->kind == SP_KIND_PCI || d->kind == SP_KIND_NONE || !path[0])
		return 0;
	if (d->block_path[0]) {
		*fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC);
		if (*fd >= 0)
			return 0;
		ret = -errno;
		snprintf(why, len, ret == -EBUSY ? "%s is being written by another process "
			 "(it holds the device exclusively); one writer at a time" :
			 "%s: cannot lock for writing: %s", path, strerror(-ret));
		return ret;
	}
	/* a write lock wants a descriptor open for writing */
	*fd = open(path, O_RDWR | O_CLOEXEC);
	if (*fd < 0) {
		ret = -errno;
		snprintf(why, len, "%s: cannot lock for writing: %s", path, strerror(-ret));
		return ret;
	}
	/* an OFD lock belongs to this open file, not to the process: every
	 * job thread of a run shares it, and it goes when the fd closes */
	if (fcntl(*fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	ret = errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
	snprintf(why, len, ret == -EBUSY ? "%s is being written by another shortpath run "
		 "(it holds a write lock on it); one writer at a time" :
		 "%s: cannot lock for writing: %s", path, strerror(-ret));
	close(*fd);
	*fd = -1;
	return ret;
}

int sp_dev_check_range(const struct sp_devinfo *d, uint64_t offset, uint64_t len,
		       char *why, size_t why_len)
{
	uint64_t end;

	if (!d->lbs) {
		snprintf(why, why_len, "%s has no logical blocks to address", d->path);
		return -EINVAL;
	}
	if (offset % d->lbs || len % d->lbs) {
		snprintf(why, why_len, "offset %llu and length %llu must be multiples of "
			 "the logical block size %u of %s", (unsigned long long)offset,
			 (unsigned long long)len, d->lbs, d->path);
		return -EINVAL;
	}
	if (__builtin_add_overflow(offset, len, &end) || end > d->size) {
		snprintf(why, why_len, "LBA %llu + %llu blocks ends past the end of %s "
			 "(%llu blocks of %u bytes)",
			 (unsigned long long)(offset / d->lbs),
			 (unsigned long long)(len / d->lbs), d->path,
			 (unsigned long long)(d->size / d->lbs), d->lbs);
		return -ERANGE;
	}
	return 0;
}

int sp_dev_open_passthru(struct sp_devinfo *d, const char *node, const char *blk,
			 bool write, char *why, size_t len)
{
	struct stat st;
	int fd, ret;

	snprintf(d->path, sizeof(d->path), "%s", node);
	snprintf(d->block_path, sizeof(d->block_path), "%s", blk);
	snprintf(d->name, sizeof(d->name), "%s", blk[0] ? strrchr(blk, '/') + 1 : "");
	d->kind = SP_KIND_CHAR;
	d->dio = true;
	read_queue_limits(d);
	fd = open(node, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, len, "%s: cannot open%s: %s", node,
			 write ? " for writing" : "", strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) == 0)
		d->rdev = st.st_rdev;
	return fd;
}

int sp_file_create(const char *path, uint64_t size)
{
	const size_t chunk = 1 << 20;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	char *buf;
	int ret = 0;

	if (fd < 0)
		return -errno;
	buf = calloc(1, chunk);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	/*
	 * Written for real, as fio lays out its files: reads of holes or
	 * unwritten extents never reach the device and would flatter it.
	 */
	memset(buf, 0xa5, chunk);
	for (uint64_t off = 0; off < size;) {
		size_t n = size - off < chunk ? size - off : chunk;
		ssize_t done = pwrite(fd, buf, n, off);

		if (done < 0) {
			ret = -errno;
			break;
		}
		off += done;
	}
	if (!ret && fsync(fd))
		ret = -errno;
out:
	free(buf);
	close(fd);
	if (ret)
		unlink(path);
	return ret;
}
