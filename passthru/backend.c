// SPDX-License-Identifier: MIT
#include <errno.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"

extern const struct sp_backend sp_backend_psync;
extern const struct sp_backend sp_backend_uring;
extern const struct sp_backend sp_backend_nop;
extern const struct sp_backend sp_backend_nvme;
extern const struct sp_backend sp_backend_sg;
extern const struct sp_backend sp_backend_vfio;
extern const struct sp_backend sp_backend_scsi_vfio;

static const struct sp_backend *const backends[] = {
	&sp_backend_psync,
	&sp_backend_uring,
	&sp_backend_nop,
	&sp_backend_nvme,
	&sp_backend_sg,
	&sp_backend_vfio,
	&sp_backend_scsi_vfio,
};

const struct sp_backend *sp_backend_find(const char *name)
{
	for (unsigned i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

void sp_backend_list(FILE *f)
{
	for (unsigned i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		fprintf(f, "  %-8s %s\n", backends[i]->name, backends[i]->desc);
}

int sp_target_open_fd(const struct sp_target *t)
{
	int flags = (t->o.write ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	int fd;

	if (t->o.direct)
		flags |= O_DIRECT;
	fd = open(t->dev.path, flags);
	return fd < 0 ? -errno : fd;
}

int sp_target_open(struct sp_target *t, const struct sp_backend *be,
		   const struct sp_target_opts *o, const struct sp_devinfo *dev)
{
	int ret;

	memset(t, 0, sizeof(*t));
	t->be = be;
	t->o = *o;
	if (dev)
		t->dev = *dev;
	/* a lent pool is copied: the caller's description need not outlive this call */
	if (o->bufs) {
		t->bufs = *o->bufs;
		t->bufs_lent = true;
		t->o.bufs = NULL;
	}
	if (o->nr_fds) {
		if (!(be->caps & SP_CAP_FILES) || !o->fds || o->nr_fds > UINT16_MAX + 1u) {
			snprintf(t->err, sizeof(t->err), "%s: %s", be->name,
				 !o->fds ? "no descriptors" :
				 !(be->caps & SP_CAP_FILES) ?
				 "opens one path, not the caller's descriptors" :
				 "more descriptors than sp_io.file can name");
			return -EINVAL;
		}
		t->fds = malloc(o->nr_fds * sizeof(*t->fds));
		if (!t->fds)
			return -ENOMEM;
		memcpy(t->fds, o->fds, o->nr_fds * sizeof(*t->fds));
		t->o.fds = NULL;
	}
	ret = t->bufs_lent ? 0 : sp_bufpool_alloc(&t->bufs, o->depth, o->buf_size,
						  o->huge_bufs || (be->caps & SP_CAP_DMA) ?
						  SP_BUF_HUGE : 0);
	if (ret) {
		snprintf(t->err, sizeof(t->err), "cannot allocate %u buffers of "
			 "%u bytes: %s", o->depth, o->buf_size, strerror(-ret));
		free(t->fds);
		t->fds = NULL;
		return ret;
	}
	ret = be->open(t);
	if (ret) {
		if (!t->err[0])
			snprintf(t->err, sizeof(t->err), "%s: %s", be->name,
				 strerror(-ret));
		if (!t->bufs_lent)
			sp_bufpool_free(&t->bufs);
		free(t->fds);
		t->fds = NULL;
	}
	return ret;
}

void sp_target_close(struct sp_target *t)
{
	if (t->be)
		t->be->close(t);
	if (!t->bufs_lent)
		sp_bufpool_free(&t->bufs);
	free(t->fds);
	t->fds = NULL;
	t->be = NULL;
}

/* One read of len bytes at off through t into buffer 0; 0 or -errno. */
static int read_sync(struct sp_target *t, uint64_t off, uint32_t len)
{
	struct sp_io io = { .op = SP_OP_READ, .offset = off, .len = len }, *done;
	int ret = t->be->queue(t, &io);

	if (!ret)
		ret = t->be->submit(t, 1);
	while (ret >= 0 && (ret = t->be->reap(t, &done, 1)) == 0)
		ret = t->be->submit(t, 1);
	if (ret < 0)
		return ret;
	if (io.res < 0)
		return io.res;
	return (uint32_t)io.res == len ? 0 : -EIO;
}

int sp_target_check_signature(struct sp_target *t, bool force, char *why, size_t len)
{
	uint64_t size = t->dev.size, bs = t->o.buf_size, span, first_end, last;
	char what[128], img[64];
	int fd, ret = 0;

	if (force || !t->o.write || t->dev.block_path[0] || t->dev.kind != SP_KIND_PCI)
		return 0;
	if (!bs || !t->bufs.nr || size < bs)
		return 0;
	span = SP_SIG_SPAN / bs * bs;
	if (!span)
		span = bs;
	fd = memfd_create("shortpath-signature", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* a sparse image: what is not read reads as zeros */
	if (ftruncate(fd, (off_t)size)) {
		ret = -errno;
		goto out;
	}
	first_end = size < span ? size / bs * bs : span;
	last = size / bs * bs;
	last = last > span && last - span > first_end ? last - span : first_end;
	for (uint64_t off = 0; off + bs <= size / bs * bs && !ret; off += bs) {
		if (off == first_end)
			off = last;
		if (off + bs > size / bs * bs)
			break;
		ret = read_sync(t, off, (uint32_t)bs);
		if (!ret && pwrite(fd, sp_io_buf(t, &(struct sp_io){ .buf = 0 }), bs, (off_t)off) !=
		    (ssize_t)bs)
			ret = -EIO;
	}
	if (ret) {
		snprintf(why, len, "%s: reading its first blocks for a signature: %s",
			 t->dev.path, strerror(-ret));
		goto out;
	}
	snprintf(img, sizeof(img), "/proc/self/fd/%d", fd);
	ret = sp_dev_probe_signature(img, what, sizeof(what));
	if (ret < 0) {
		snprintf(why, len, "%s: cannot read the image of its first blocks for a signature "
			 "(%s); refusing to write without --force", t->dev.path, strerror(-ret));
	} else if (ret > 0) {
		snprintf(why, len, "%s carries %s (read through the %s driver); "
			 "refusing to write without --force", t->dev.path, what, t->be->name);
		ret = -EEXIST;
	}
out:
	close(fd);
	return ret;
}
