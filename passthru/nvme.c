// SPDX-License-Identifier: MIT
/*
 * nvme: NVMe commands sent straight to the kernel's NVMe driver through
 * io_uring passthrough (IORING_OP_URING_CMD with NVME_URING_CMD_IO on
 * the namespace's generic char device /dev/ngXnY). The driver keeps the
 * device; the filesystem, page cache, bio splitting and merging and the
 * I/O scheduler are skipped. Rings are SQE128/CQE32: the NVMe command
 * travels in the SQE, the result dword in the CQE.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/nvme_ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvme_spec.h"
#include "sp_enum.h"
#include "uring.h"

struct nvme {
	struct sp_uring u;	/* first: t->priv is read as sp_uring too */
	uint32_t nsid;
	unsigned lba_shift;
	struct iovec *iov;	/* one per buffer, for NVME_URING_CMD_IO_VEC */
	/* over the caller's descriptors (t->fds): each one's namespace */
	struct nvme_ns {
		uint32_t nsid;
		unsigned lba_shift;
	} *ns;
};

/*
 * The namespace path names, by the one enumeration: its generic char
 * node (where commands go) into node and its block device, when it has
 * one, into blk. Under native multipath the block device is the head,
 * and so is the generic node.
 */
static int find_nodes(const char *path, char *node, char *blk, size_t len,
		      char *why, size_t wlen)
{
	struct sp_enum_ctrl *c = malloc(sizeof(*c));
	const struct sp_enum_ns *ns;
	struct stat st;
	int idx, ret = -ENODEV;

	if (!c)
		return -ENOMEM;
	if (stat(path, &st)) {
		ret = -errno;
		snprintf(why, wlen, "%s: %s", path, strerror(-ret));
		goto out;
	}
	if (sp_enum_find(&st, c, &idx) || c->kind != SP_ENUM_NVME || idx < 0) {
		snprintf(why, wlen, "%s is not an NVMe namespace (give /dev/ngXnY "
			 "or /dev/nvmeXnY)", path);
		goto out;
	}
	ns = &c->ns[idx];
	if (S_ISBLK(st.st_mode) && st.st_rdev != ns->disk.dev) {
		/* commands address the whole namespace, never a part of it */
		snprintf(why, wlen, "%s is a partition or path of %s: give /dev/%s%s%s",
			 path, ns->disk.name, ns->disk.name,
			 ns->generic.name[0] ? " or /dev/" : "", ns->generic.name);
		goto out;
	}
	if (!ns->generic.name[0]) {
		snprintf(why, wlen, "%s: this kernel shows no generic char node "
			 "(ngXnY) for the namespace", path);
		goto out;
	}
	if (S_ISCHR(st.st_mode))
		snprintf(node, len, "%s", path);
	else
		snprintf(node, len, "/dev/%s", ns->generic.name);
	blk[0] = '\0';
	if (S_ISBLK(st.st_mode))
		snprintf(blk, len, "%s", path);
	else if (ns->disk.name[0])
		snprintf(blk, len, "/dev/%s", ns->disk.name);
	if (blk[0] && (stat(blk, &st) || !S_ISBLK(st.st_mode)))
		blk[0] = '\0';
	ret = 0;
out:
	free(c);
	return ret;
}

/* Identify through the admin ioctl: used once, at probe time. */
static int identify(int fd, uint32_t nsid, uint32_t cns, void *page)
{
	struct nvme_admin_cmd cmd = {
		.opcode = SP_NVME_ADMIN_IDENTIFY,
		.nsid = nsid,
		.addr = (uint64_t)(uintptr_t)page,
		.data_len = SP_NVME_ID_SIZE,
		.cdw10 = cns,
	};
	int ret = ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd);

	if (ret < 0)
		return -errno;
	return ret ? -EIO : 0;	/* > 0: an NVMe status */
}

static int nvme_probe(const char *path, bool write, struct sp_devinfo *d,
		      char *why, size_t len)
{
	char node[PATH_MAX], blk[PATH_MAX];
	struct sp_nvme_info info = { 0 };
	void *page = NULL;
	int fd, ret;

	memset(d, 0, sizeof(*d));
	ret = find_nodes(path, node, blk, sizeof(node), why, len);
	if (ret)
		return ret;
	fd = sp_dev_open_passthru(d, node, blk, write, why, len);
	if (fd < 0)
		return fd;
	ret = ioctl(fd, NVME_IOCTL_ID);
	if (ret <= 0) {
		ret = ret < 0 ? -errno : -ENODEV;
		snprintf(why, len, "%s: no namespace ID: %s", node, strerror(-ret));
		goto out;
	}
	info.nsid = ret;
	if (posix_memalign(&page, 4096, SP_NVME_ID_SIZE)) {
		ret = -ENOMEM;
		goto out;
	}
	ret = identify(fd, 0, SP_NVME_CNS_CTRL, page);
	if (!ret) {
		sp_nvme_parse_id_ctrl(page, &info);
		ret = identify(fd, info.nsid, SP_NVME_CNS_NS, page);
	}
	if (!ret)
		ret = sp_nvme_parse_id_ns(page, &info);
	if (ret) {
		snprintf(why, len, "%s: Identify failed: %s", node, ret == -EPROTO ?
			 "malformed LBA format" : strerror(-ret));
		goto out;
	}
	d->nsid = info.nsid;
	d->lbs = info.lba_size;
	d->mem_align = 4;	/* NVMe PRPs need dword alignment */
	d->size = info.nsze * info.lba_size;
	d->ms = info.ms;
	d->write_zeroes = info.oncs & SP_NVME_ONCS_WRITE_ZEROES;
	d->mdts = info.mdts;
	snprintf(d->model, sizeof(d->model), "%s", info.model);
	snprintf(d->serial, sizeof(d->serial), "%s", info.serial);
	snprintf(d->firmware, sizeof(d->firmware), "%s", info.firmware);
	/* The block queue's limit (read already) folds MDTS in with the
	 * driver's own; without a block node, MDTS in 4 KiB pages. */
	if (!d->max_transfer && info.mdts)
		d->max_transfer = 4096u << info.mdts;
	ret = 0;
out:
	free(page);
	close(fd);
	return ret;
}

static void nvme_complete(struct sp_io *io, const struct io_uring_cqe *cqe)
{
	/* res: 0 success, > 0 an NVMe status, < 0 an errno */
	if (cqe->res > 0) {
		io->status = cqe->res;
		io->res = -EIO;
	} else if (cqe->res < 0) {
		io->res = cqe->res;
	} else {
		io->res = io->op == SP_OP_FLUSH ? 0 : (int32_t)io->len;
	}
}

static int nvme_queue(struct sp_target *t, struct sp_io *io);
static void nvme_close(struct sp_target *t);

/*
 * One read of the first block, sent exactly as the run will send its
 * I/Os (fixed buffers, vectored, polled): a kernel that lacks one of
 * those features refuses it here, where the refusal can be named.
 */
static int nvme_try_io(struct sp_target *t)
{
	struct nvme *n = t->priv;
	struct sp_io io = { .op = SP_OP_READ, .len = 1u << n->lba_shift }, *done;
	char status[160];
	int ret;

	ret = nvme_queue(t, &io);
	if (!ret)
		ret = sp_uring_submit(t, 1);
	while (ret >= 0 && (ret = sp_uring_reap(t, &done, 1)) == 0)
		ret = sp_uring_submit(t, 1);
	t->syscalls = 0;
	if (ret < 0)
		io.res = ret;
	if (io.res >= 0)
		return 0;
	if (io.res == -EIO && io.status) {
		snprintf(t->err, sizeof(t->err), "%s: first read refused: %s", t->dev.path,
			 sp_nvme_status_str(io.status, status, sizeof(status)));
		return -EIO;
	}
	if (io.res == -EOPNOTSUPP || io.res == -EINVAL || io.res == -ENOTTY) {
		snprintf(t->err, sizeof(t->err), "this kernel refused NVMe passthrough as "
			 "set up (NVME_URING_CMD_IO%s%s%s): %s",
			 n->iov ? "_VEC" : "", t->o.fixed_bufs ? ", IORING_URING_CMD_FIXED" : "",
			 t->o.iopoll ? ", IOPOLL" : "", strerror(-io.res));
		return -EOPNOTSUPP;
	}
	snprintf(t->err, sizeof(t->err), "%s: first read failed: %s", t->dev.path,
		 strerror(-io.res));
	return io.res;
}

/*
 * Over the caller's descriptors (namespaces of /dev/ngXnY): the
 * namespace ID and block size of each, which its commands carry.
 */
static int nvme_learn_ns(struct sp_target *t, struct nvme *n)
{
	struct sp_nvme_info info;
	void *page = NULL;
	int ret = 0;

	n->ns = calloc(t->o.nr_fds, sizeof(*n->ns));
	if (!n->ns || posix_memalign(&page, 4096, SP_NVME_ID_SIZE)) {
		free(page);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < t->o.nr_fds && !ret; i++) {
		memset(&info, 0, sizeof(info));
		ret = ioctl(t->fds[i], NVME_IOCTL_ID);
		if (ret <= 0) {
			ret = ret < 0 ? -errno : -ENODEV;
			snprintf(t->err, sizeof(t->err), "descriptor %u: no NVMe namespace "
				 "ID: %s", i, strerror(-ret));
			break;
		}
		info.nsid = ret;
		ret = identify(t->fds[i], info.nsid, SP_NVME_CNS_NS, page);
		if (!ret)
			ret = sp_nvme_parse_id_ns(page, &info);
		if (!ret && info.ms)
			ret = -EOPNOTSUPP;
		if (ret) {
			snprintf(t->err, sizeof(t->err), "descriptor %u (nsid %u): %s", i,
				 info.nsid, ret == -EOPNOTSUPP ? "an LBA format with metadata "
				 "is not supported" : strerror(-ret));
			break;
		}
		n->ns[i] = (struct nvme_ns){ info.nsid, __builtin_ctz(info.lba_size) };
	}
	free(page);
	return ret;
}

static int nvme_open(struct sp_target *t)
{
	struct nvme *n;
	int ret;

	if (t->dev.ms) {
		snprintf(t->err, sizeof(t->err), "%s: LBA format with %u metadata "
			 "bytes per block is not supported", t->dev.path, t->dev.ms);
		return -EOPNOTSUPP;
	}
	if (t->o.vectored && t->o.fixed_bufs) {
		snprintf(t->err, sizeof(t->err), "--vectored with --fixedbufs: "
			 "vectored passthrough cannot use registered buffers here");
		return -EOPNOTSUPP;
	}
	if (t->o.iopoll && t->dev.io_poll == 0) {
		snprintf(t->err, sizeof(t->err), "--iopoll: %s has no poll queues "
			 "(PCIe: load nvme with poll_queues=N; fabrics: "
			 "nvme connect --nr-poll-queues=N)", t->dev.path);
		return -EOPNOTSUPP;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	if (t->o.vectored) {
		n->iov = calloc(t->bufs.nr, sizeof(*n->iov));
		if (!n->iov) {
			free(n);
			return -ENOMEM;
		}
		sp_bufpool_iovecs(&t->bufs, n->iov);
	}
	n->u.complete = nvme_complete;
	if (t->fds) {
		/* the caller's namespaces, one ring for all; the first gives the target's */
		n->u.fd = -1;
		ret = nvme_learn_ns(t, n);
		if (!ret) {
			n->nsid = n->ns[0].nsid;
			n->lba_shift = n->ns[0].lba_shift;
		}
	} else {
		n->nsid = t->dev.nsid;
		n->lba_shift = __builtin_ctz(t->dev.lbs);
		n->u.fd = open(t->dev.path, (t->o.write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		ret = n->u.fd < 0 ? -errno : 0;
	}
	if (!ret)
		ret = sp_uring_setup(t, &n->u, true, 1);
	if (ret) {
		if (n->u.fd >= 0)
			close(n->u.fd);
		free(n->iov);
		free(n->ns);
		free(n);
		return ret;
	}
	{
		char ring[sizeof(t->setup)];

		snprintf(ring, sizeof(ring), "%s", t->setup);
		snprintf(t->setup, sizeof(t->setup), "NVMe uring_cmd%s nsid %u%s, %s",
			 n->iov ? " (vectored)" : "", n->nsid,
			 t->fds && t->o.nr_fds > 1 ? " and more" : "", ring);
	}
	t->priv = n;
	ret = nvme_try_io(t);
	if (ret)
		nvme_close(t);
	return ret;
}

static int nvme_queue(struct sp_target *t, struct sp_io *io)
{
	struct nvme *n = t->priv;
	struct io_uring_sqe *sqe;
	struct nvme_uring_cmd *cmd;
	uint32_t nsid = n->nsid;
	unsigned shift = n->lba_shift;
	int fd = n->u.sqe_fd, ret;

	if (!sp_io_file_ok(t, io))
		return -EINVAL;
	if (t->fds) {
		nsid = n->ns[io->file].nsid;
		shift = n->ns[io->file].lba_shift;
		fd = n->u.sqe_flags ? io->file : t->fds[io->file];
	}
	sqe = sp_uring_sqe(t, &n->u, io);
	if (!sqe)
		return -EBUSY;
	sp_uring_prep_cmd(sqe, fd, NVME_URING_CMD_IO);
	sqe->flags = n->u.sqe_flags;
	sqe->user_data = (uint64_t)(uintptr_t)io;
	cmd = (struct nvme_uring_cmd *)sqe->cmd;
	cmd->nsid = nsid;
	ret = sp_nvme_io_cmd(io->op, io->offset >> shift, io->len >> shift, &cmd->opcode,
			     &cmd->cdw10, &cmd->cdw11, &cmd->cdw12);
	if (ret)
		return ret;
	if (io->op == SP_OP_READ || io->op == SP_OP_WRITE) {
		if (n->iov) {
			/* one segment: the point is the vectored path's cost */
			n->iov[io->buf].iov_len = io->len;
			sqe->cmd_op = NVME_URING_CMD_IO_VEC;
			cmd->addr = (uint64_t)(uintptr_t)&n->iov[io->buf];
			cmd->data_len = 1;	/* number of iovecs */
		} else {
			cmd->addr = (uint64_t)(uintptr_t)sp_io_buf(t, io);
			cmd->data_len = io->len;
		}
		if (t->o.fixed_bufs) {
			sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
			sqe->buf_index = io->buf;
		}
	}
	return 0;
}

static void nvme_close(struct sp_target *t)
{
	struct nvme *n = t->priv;

	if (n) {
		free(n->iov);
		free(n->ns);
	}
	sp_uring_close(t);	/* frees n */
}

static const char *nvme_status(uint32_t status, char *buf, size_t len)
{
	return sp_nvme_status_str(status, buf, len);
}

const struct sp_backend sp_backend_nvme = {
	.name = "nvme",
	.desc = "NVMe passthrough: io_uring uring_cmd on /dev/ngXnY (kernel driver)",
	.caps = SP_CAP_TARGET | SP_CAP_RING | SP_CAP_FLUSH | SP_CAP_VECTORED | SP_CAP_FILES,
	.probe = nvme_probe,
	.status_str = nvme_status,
	.open = nvme_open,
	.queue = nvme_queue,
	.submit = sp_uring_submit,
	.reap = sp_uring_reap,
	.close = nvme_close,
};
