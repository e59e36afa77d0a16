// SPDX-License-Identifier: MIT
/*
 * How sp-serve's xdp mode reads its files into UMEM frames: io_uring
 * with the UMEM as fixed buffers, O_DIRECT where the file takes it, in
 * the loop where io_uring would punt every read to a worker, or with
 * --passthru as NVMe/SCSI commands through the device's own backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "devinfo.h"
#include "ring.h"
#include "sp_log.h"
#include "xdp.h"

/*
 * Whether io_uring can read fd inline. A file without non-blocking
 * reads (tmpfs, for one) has every io_uring read handed to an io-wq
 * worker, a thread switch per frame; preadv2(RWF_NOWAIT) refuses such
 * a file with EOPNOTSUPP. Such reads are cheaper done in the loop: the
 * same kernel copy from the page cache into the frame.
 */
static bool nowait_reads(int fd)
{
	char buf[DIO_ALIGN] __attribute__((aligned(DIO_ALIGN)));
	struct iovec iov = { buf, sizeof(buf) };

	return !(preadv2(fd, &iov, 1, 0, RWF_NOWAIT) < 0 && errno == EOPNOTSUPP);
}

/*
 * --passthru: file i is read with the commands of its device's own
 * passthrough backend (NVMe uring_cmd on /dev/ngXnY, SCSI through sg),
 * into the UMEM registered as that ring's fixed buffers: buffer j is
 * frame j from DATA_OFF on, where the O_DIRECT path reads too.
 */
static int open_passthru(struct xdp *x, unsigned i)
{
	const struct served_file *f = &x->s->files[i];
	struct sp_bufpool frames = x->xsk.mem;
	struct sp_target_opts o = {
		.depth = NR_FRAMES - NR_RX, .buf_size = FRAME - DATA_OFF, .fixed_bufs = true,
		.no_modern = true, .bufs = &frames,
	};
	const struct sp_backend *be;
	struct sp_devinfo d;
	char why[256];
	int ret;

	ret = sp_backend_detect(f->path, false, &be, &d, why, sizeof(why));
	if (ret) {
		sp_err("xdp: --passthru: %s", why);
		return ret;
	}
	if (!strcmp(be->name, "uring")) {
		sp_err("xdp: --passthru: %s is not an NVMe namespace or a SCSI disk", f->path);
		return -EINVAL;
	}
	if (d.lbs > DIO_ALIGN) {
		sp_err("xdp: --passthru: %s has %u-byte blocks; frames are read in %u-byte units",
		       f->path, d.lbs, DIO_ALIGN);
		return -EINVAL;
	}
	frames.base = (char *)frames.base + DATA_OFF;
	frames.buf_size = FRAME - DATA_OFF;
	frames.stride = FRAME;
	frames.nr = NR_FRAMES;
	x->pt[i] = calloc(1, sizeof(*x->pt[i]));
	if (!x->pt[i])
		return -ENOMEM;
	ret = sp_target_open(x->pt[i], be, &o, &d);
	if (ret) {
		sp_err("xdp: --passthru: %s", x->pt[i]->err);
		free(x->pt[i]);
		x->pt[i] = NULL;
		return ret;
	}
	snprintf(x->s->st.passthru_backend, sizeof(x->s->st.passthru_backend), "%s", be->name);
	sp_info("xdp: %s read through %s: %s", f->path, be->name, x->pt[i]->setup);
	return 0;
}

/* The UMEM, frame by frame, becomes io_uring's fixed buffers. */
int xdp_store_open(struct xdp *x)
{
	struct sp_ring_opts ro = { .entries = RING, .sq_cpu = -1, .no_modern = true };
	struct sp_ring_info info;
	unsigned nr_sync = 0;
	int ret;

	ret = sp_ring_init(&x->ring, &ro, &info);
	if (ret) {
		sp_err("xdp: io_uring set-up: %s", strerror(-ret));
		return ret;
	}
	x->ring_ok = true;
	ret = sp_ring_register_pool(&x->ring, &x->xsk.mem);
	if (ret) {
		sp_err("xdp: registering the UMEM with io_uring: %s", strerror(-ret));
		return ret;
	}
	x->s->st.direct_io = true;
	for (unsigned i = 0; i < x->s->nr_files; i++) {
		const struct served_file *f = &x->s->files[i];

		if (x->s->passthru) {
			/* read by its device's commands; requests keep the plain descriptor */
			x->dfd[i] = f->fd;
			ret = open_passthru(x, i);
			if (ret)
				return ret;
			continue;
		}
		/*
		 * Frames are read at DIO_ALIGN granularity. A file with no
		 * block device under it (tmpfs) is read through the page
		 * cache: its pages are its storage, O_DIRECT would copy from
		 * them all the same, and io_uring hands each such read to an
		 * io-wq worker (4 KiB requests: 25% fewer per second).
		 */
		x->dfd[i] = f->dio && f->backed && f->lbs <= DIO_ALIGN ?
			    open(f->path, O_RDONLY | O_DIRECT | O_CLOEXEC) : -1;
		if (x->dfd[i] < 0) {
			if (f->backed)
				sp_notice("xdp: %s: no O_DIRECT in %u-byte units; reading through the page cache",
					  f->path, DIO_ALIGN);
			x->dfd[i] = f->fd;
			x->s->st.direct_io = false;
		}
		x->sync[i] = !nowait_reads(x->dfd[i]);
		nr_sync += x->sync[i];
	}
	if (nr_sync)
		sp_notice("xdp: %u of %u files have no non-blocking reads (io_uring would hand each read to a worker thread): read in the loop",
			  nr_sync, x->s->nr_files);
	return 0;
}

void xdp_store_close(struct xdp *x)
{
	for (unsigned f = 0; x->pt && x->pt_n && f < x->s->nr_files; f++) {
		struct sp_target *t = x->pt[f];
		struct sp_io *done[BATCH];
		int got;

		while (t && x->pt_n[f] && t->be->submit(t, 1) >= 0 &&
		       (got = t->be->reap(t, done, BATCH)) >= 0) {
			x->pt_n[f] -= got;
			x->reads -= got;
		}
		if (t)
			sp_target_close(t);
		free(t);
	}
	free(x->pt);
	free(x->pt_n);
	free(x->pio);
	while (x->ring_ok && x->reads) {
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(&x->ring, &cqe))
			break;
		io_uring_cqe_seen(&x->ring, cqe);
		x->reads--;
	}
	if (x->ring_ok)
		io_uring_queue_exit(&x->ring);
	for (unsigned i = 0; x->dfd && i < x->s->nr_files; i++)
		if (x->dfd[i] >= 0 && x->dfd[i] != x->s->files[i].fd)
			close(x->dfd[i]);
}
