// SPDX-License-Identifier: MIT
/*
 * psync: pread(2)/pwrite(2), one I/O per syscall, the baseline every
 * other path is measured against. Synchronous: submit() performs the
 * queued I/Os one after another. An I/O with an iovec is one
 * preadv(2)/pwritev(2): consecutive bytes into several places, for the
 * price of one syscall.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend.h"

struct psync {
	int fd;
	unsigned nr_queued, nr_done;
	struct sp_io **queued;
	struct sp_io **done;
};

static int psync_open(struct sp_target *t)
{
	struct psync *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return -ENOMEM;
	ps->queued = calloc(t->o.depth, sizeof(*ps->queued));
	ps->done = calloc(t->o.depth, sizeof(*ps->done));
	if (!ps->queued || !ps->done) {
		free(ps->queued);
		free(ps->done);
		free(ps);
		return -ENOMEM;
	}
	/* the caller's descriptors are used as they are */
	ps->fd = t->fds ? -1 : sp_target_open_fd(t);
	if (!t->fds && ps->fd < 0) {
		int ret = ps->fd;

		free(ps->queued);
		free(ps->done);
		free(ps);
		return ret;
	}
	snprintf(t->setup, sizeof(t->setup), "pread/pwrite%s",
		 t->o.direct ? ", O_DIRECT" : ", buffered");
	t->priv = ps;
	return 0;
}

static int psync_queue(struct sp_target *t, struct sp_io *io)
{
	struct psync *ps = t->priv;

	if (ps->nr_queued + ps->nr_done >= t->o.depth)
		return -EBUSY;
	if (!sp_io_file_ok(t, io))
		return -EINVAL;
	ps->queued[ps->nr_queued++] = io;
	return 0;
}

static int psync_submit(struct sp_target *t, unsigned wait_nr)
{
	struct psync *ps = t->priv;
	unsigned n = ps->nr_queued;

	for (unsigned i = 0; i < n; i++) {
		struct sp_io *io = ps->queued[i];
		void *buf = sp_io_buf(t, io);
		int fd = sp_io_fd(t, io, ps->fd);
		ssize_t r = 0;

		switch (io->op) {
		case SP_OP_READ:
			r = io->nr_iov ? preadv(fd, io->iov, io->nr_iov, io->offset)
				       : pread(fd, buf, io->len, io->offset);
			t->syscalls++;
			break;
		case SP_OP_WRITE:
			r = io->nr_iov ? pwritev(fd, io->iov, io->nr_iov, io->offset)
				       : pwrite(fd, buf, io->len, io->offset);
			t->syscalls++;
			break;
		case SP_OP_FLUSH:
			r = fsync(fd);
			t->syscalls++;
			break;
		case SP_OP_NOP:
			r = 0;
			break;
		default:
			r = -1;
			errno = EOPNOTSUPP;
			break;
		}
		io->res = r < 0 ? -errno : (int32_t)r;
		ps->done[ps->nr_done++] = io;
	}
	ps->nr_queued = 0;
	return n;
}

static int psync_reap(struct sp_target *t, struct sp_io **ios, unsigned max)
{
	struct psync *ps = t->priv;
	unsigned n = ps->nr_done < max ? ps->nr_done : max;

	for (unsigned i = 0; i < n; i++)
		ios[i] = ps->done[i];
	/* keep the rest in order */
	for (unsigned i = n; i < ps->nr_done; i++)
		ps->done[i - n] = ps->done[i];
	ps->nr_done -= n;
	return n;
}

static void psync_close(struct sp_target *t)
{
	struct psync *ps = t->priv;

	if (!ps)
		return;
	if (ps->fd >= 0)
		close(ps->fd);
	free(ps->queued);
	free(ps->done);
	free(ps);
	t->priv = NULL;
}

const struct sp_backend sp_backend_psync = {
	.name = "psync",
	.desc = "pread/pwrite, one syscall per I/O (synchronous; iodepth 1)",
	.caps = SP_CAP_TARGET | SP_CAP_FLUSH | SP_CAP_FILES | SP_CAP_IOV,
	.open = psync_open,
	.queue = psync_queue,
	.submit = psync_submit,
	.reap = psync_reap,
	.close = psync_close,
};
