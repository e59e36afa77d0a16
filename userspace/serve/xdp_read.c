// SPDX-License-Identifier: MIT
/*
 * sp-serve's xdp mode, file reads into frames, every one through the
 * backend interface. The UMEM is the targets' buffer pool, registered
 * with their rings as fixed buffers, so a file block is read (O_DIRECT
 * where the file allows it) straight into the UMEM frame it is then
 * transmitted from. A frame carries the file bytes up to the next
 * x->payload boundary; the read starts at the DIO_ALIGN boundary below,
 * so that O_DIRECT takes it, and the headers are written over the
 * leading bytes later (xdp_frames.c). Writes (--writable) go through
 * a psync target too, from the request's frame (sp_io.iov).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sp_log.h"
#include "xdp.h"

/*
 * A free TX frame for request i's next payload (up to the next multiple
 * of x->payload in the file): its fmeta set, the request moved past it.
 */
static unsigned take_frame(struct xdp *x, unsigned i)
{
	struct xreq *r = &x->reqs[i];
	uint64_t pend = (r->next / x->payload + 1) * x->payload;
	unsigned fi = x->free_tx[--x->nr_free_tx] / FRAME;

	if (pend > r->end)
		pend = r->end;
	x->meta[fi] = (struct fmeta){ .req = i, .lead = r->next % DIO_ALIGN,
				      .plen = pend - r->next, .off = r->next };
	r->reads++;
	x->reads++;
	r->next = pend;
	return fi;
}

/* What a direct or passthrough read of frame fi covers: whole DIO_ALIGN units. */
static inline uint32_t aligned_len(const struct fmeta *m)
{
	return (m->lead + m->plen + DIO_ALIGN - 1) / DIO_ALIGN * DIO_ALIGN;
}

/*
 * A request's next frames from a file read in the loop, with one preadv
 * (the psync target's iovec read) for as many frames as are free (up to
 * SYNC_FRAMES): each frame gets exactly its payload, where an io_uring
 * read would have put it. A 4 KiB request is two frames: one syscall
 * instead of two.
 */
#define SYNC_FRAMES	16u

static void sync_reads(struct xdp *x, unsigned i)
{
	struct xreq *r = &x->reqs[i];
	struct sp_target *t = &x->rd[RD_PSYNC].t;
	struct iovec iov[SYNC_FRAMES];
	struct sp_io io = { .op = SP_OP_READ, .offset = r->next, .file = x->fidx[r->f - x->s->files],
			    .iov = iov }, *done;
	unsigned fis[SYNC_FRAMES];
	int64_t got;
	int err;

	while (io.nr_iov < SYNC_FRAMES && r->next < r->end && x->nr_free_tx) {
		unsigned fi = take_frame(x, i);
		const struct fmeta *m = &x->meta[fi];

		iov[io.nr_iov] = (struct iovec){ (char *)sp_bufpool_get(&t->bufs, fi) + m->lead,
						 m->plen };
		io.len += m->plen;
		fis[io.nr_iov++] = fi;
	}
	err = t->be->queue(t, &io);
	if (!err && (err = t->be->submit(t, 0)) >= 0)
		err = t->be->reap(t, &done, 1) == 1 ? 0 : -EIO;
	got = err ? err : io.res;
	err = got < 0 ? (int)got : 0;
	x->s->st.sync_reads++;
	for (unsigned k = 0; k < io.nr_iov; k++) {
		const struct fmeta *m = &x->meta[fis[k]];
		size_t part = got < 0 ? 0 : (size_t)got < iov[k].iov_len ? (size_t)got : iov[k].iov_len;

		if (got >= 0)
			got -= part;
		/* xdp_read_done counts the lead as read, as an aligned read has it */
		xdp_read_done(x, fis[k], err ? err : (int)(m->lead + part));
	}
}

/*
 * A request's next frames as reads of whole DIO_ALIGN units, each into
 * its frame (a passthrough target's device blocks are no larger),
 * queued on its reader; submitted once every request had its turn.
 */
static void queue_reads(struct xdp *x, unsigned i, struct reader *rd)
{
	struct xreq *r = &x->reqs[i];
	struct sp_target *t = &rd->t;
	uint16_t file = x->fidx[r->f - x->s->files];

	while (!r->failed && r->next < r->end && x->nr_free_tx) {
		unsigned fi = take_frame(x, i);
		const struct fmeta *m = &x->meta[fi];
		struct sp_io *io = &x->pio[fi];
		int ret;

		*io = (struct sp_io){ .op = SP_OP_READ, .offset = m->off - m->lead,
				      .len = aligned_len(m), .buf = fi, .file = file, .tag = fi };
		ret = t->be->queue(t, io);
		if (ret) {
			/* no room cannot happen (as many entries as frames): a bad command */
			xdp_read_done(x, fi, ret);
			continue;
		}
		rd->inflight++;
		rd->queued++;
		if (rd->passthru)
			x->s->st.passthru_reads++;
	}
}

int xdp_submit_reads(struct xdp *x)
{
	unsigned n = 0;

	for (unsigned i = 0; i < x->s->max_inflight && x->nr_free_tx; i++) {
		struct xreq *r = &x->reqs[i];
		unsigned via;

		if (!r->used)
			continue;
		via = x->via[r->f - x->s->files];
		if (via == RD_PSYNC) {
			while (!r->failed && r->next < r->end && x->nr_free_tx)
				sync_reads(x, i);
			continue;
		}
		queue_reads(x, i, &x->rd[via]);
	}
	for (unsigned k = RD_URING; k < RD_PASSTHRU + x->s->nr_files; k++) {
		struct reader *rd = &x->rd[k];
		int ret;

		if (!rd->queued)
			continue;
		ret = rd->t.be->submit(&rd->t, 0);
		if (ret < 0 && !rd->passthru)
			return ret;
		if (ret < 0)
			sp_dbg("xdp: passthrough submit: %s", strerror(-ret));
		else
			n += ret;
		rd->queued = 0;
	}
	return n;
}

unsigned xdp_reap_reads(struct xdp *x)
{
	unsigned n = 0;

	for (unsigned k = RD_URING; x->reads && k < RD_PASSTHRU + x->s->nr_files; k++) {
		struct reader *rd = &x->rd[k];
		struct sp_io *done[BATCH];
		int got;

		while (rd->inflight && (got = rd->t.be->reap(&rd->t, done, BATCH)) > 0) {
			rd->inflight -= got;
			for (int j = 0; j < got; j++)
				xdp_read_done(x, done[j]->tag, done[j]->res);
			n += got;
		}
	}
	return n;
}

bool xdp_wait_reads(struct xdp *x)
{
	struct reader *rd = &x->rd[RD_URING];

	for (unsigned k = RD_PASSTHRU; k < RD_PASSTHRU + x->s->nr_files; k++)
		if (x->rd[k].inflight)
			return false;
	/* only the uring target's reads to wait for: wait on its ring */
	if (rd->inflight)
		rd->t.be->submit(&rd->t, 1);
	return true;
}

/* ------------------------------------------------------------ set-up */

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
 * Opens reader k with backend be over the UMEM (frame i from DATA_OFF
 * on is buffer i) and, unless fds is NULL, over nr of the caller's
 * descriptors, registered with its ring where it has one.
 */
static int reader_open(struct xdp *x, unsigned k, const struct sp_backend *be,
		       const struct sp_devinfo *d, const int *fds, unsigned nr)
{
	struct sp_bufpool frames = x->xsk->mem;
	struct sp_target_opts o = {
		.depth = NR_TX, .buf_size = FRAME - DATA_OFF, .fixed_bufs = true,
		.no_modern = true, .bufs = &frames, .sq_cpu = -1,
		/* registered: no file look-up per read */
		.reg_files = fds && (be->caps & SP_CAP_RING),
		.fds = fds, .nr_fds = fds ? nr : 0,
	};
	int ret;

	frames.base = (char *)frames.base + DATA_OFF;
	frames.buf_size = FRAME - DATA_OFF;
	frames.stride = FRAME;
	frames.nr = NR_FRAMES;
	ret = sp_target_open(&x->rd[k].t, be, &o, d);
	if (ret)
		return ret;
	x->rd[k].open = true;
	x->rd[k].passthru = k >= RD_PASSTHRU;
	return 0;
}

/* --passthru: the backend that speaks to file i's device, with what it learned. */
static int passthru_backend(struct xdp *x, unsigned i, const struct sp_backend **be,
			    struct sp_devinfo *d)
{
	const struct served_file *f = &x->s->files[i];
	char why[256];
	int ret;

	ret = sp_backend_detect(f->path, false, be, d, why, sizeof(why));
	if (ret) {
		sp_err("xdp: --passthru: %s", why);
		return ret;
	}
	if (!strcmp((*be)->name, "uring")) {
		sp_err("xdp: --passthru: %s is not an NVMe namespace or a SCSI disk", f->path);
		return -EINVAL;
	}
	if (d->lbs > DIO_ALIGN) {
		sp_err("xdp: --passthru: %s has %u-byte blocks; frames are read in %u-byte units",
		       f->path, d->lbs, DIO_ALIGN);
		return -EINVAL;
	}
	snprintf(x->s->st.passthru_backend, sizeof(x->s->st.passthru_backend), "%s", (*be)->name);
	return 0;
}

/*
 * --passthru: every file is read with the commands of its device's own
 * passthrough backend, into the UMEM registered as that ring's fixed
 * buffers, where the O_DIRECT path reads too. Every NVMe namespace is
 * read through one nvme target (one ring, their /dev/ngXnY descriptors
 * registered, sp_io.file picking one); a SCSI disk through a target of
 * its own (sg drives one device per target).
 */
static int open_passthru(struct xdp *x)
{
	const struct sp_backend *nvme = sp_backend_find("nvme"), *be;
	int *fds = calloc(x->s->nr_files, sizeof(*fds));
	unsigned nvme_k = 0, nr_nvme = 0;
	struct sp_devinfo d, d_nvme;
	int ret = 0;

	if (!fds)
		return -ENOMEM;
	for (unsigned i = 0; i < x->s->nr_files && !ret; i++) {
		ret = passthru_backend(x, i, &be, &d);
		if (ret)
			break;
		if (be == nvme) {
			x->dfd[i] = open(d.path, O_RDONLY | O_CLOEXEC);
			if (x->dfd[i] < 0) {
				ret = -errno;
				sp_err("xdp: --passthru: %s: %s", d.path, strerror(-ret));
				break;
			}
			if (!nr_nvme) {
				nvme_k = RD_PASSTHRU + i;
				d_nvme = d;
			}
			x->via[i] = nvme_k;
			x->fidx[i] = nr_nvme;
			fds[nr_nvme++] = x->dfd[i];
			continue;
		}
		/* the plain descriptor stays; the sg target opens its node itself */
		x->dfd[i] = x->s->files[i].fd;
		x->via[i] = RD_PASSTHRU + i;
		ret = reader_open(x, RD_PASSTHRU + i, be, &d, NULL, 0);
		if (ret)
			sp_err("xdp: --passthru: %s", x->rd[RD_PASSTHRU + i].t.err);
		else
			sp_info("xdp: %s read through %s: %s", x->s->files[i].path, be->name,
				x->rd[RD_PASSTHRU + i].t.setup);
	}
	if (!ret && nr_nvme) {
		ret = reader_open(x, nvme_k, nvme, &d_nvme, fds, nr_nvme);
		if (ret)
			sp_err("xdp: --passthru: %s", x->rd[nvme_k].t.err);
		else
			sp_info("xdp: %u namespace(s) read through nvme: %s", nr_nvme,
				x->rd[nvme_k].t.setup);
	}
	free(fds);
	return ret;
}

/*
 * --writable: one psync target over every file's own descriptor (the
 * one opened for writing); a write is one pwrite from the request's
 * frame, in the loop.
 */
static int writer_open(struct xdp *x)
{
	int *fds = calloc(x->s->nr_files, sizeof(*fds));
	struct sp_target_opts o = {
		.write = true, .depth = 1, .buf_size = 0, .sq_cpu = -1,
		.bufs = &x->xsk->mem, .fds = fds, .nr_fds = x->s->nr_files,
	};
	int ret;

	if (!fds)
		return -ENOMEM;
	for (unsigned i = 0; i < x->s->nr_files; i++)
		fds[i] = x->s->files[i].fd;
	ret = sp_target_open(&x->wr, sp_backend_find("psync"), &o, NULL);
	free(fds);
	if (ret) {
		sp_err("xdp: psync for writes: %s", x->wr.err);
		return ret;
	}
	x->wr_open = true;
	return 0;
}

int xdp_write(struct xdp *x, uint32_t file, const uint8_t *data, uint32_t len, uint64_t off)
{
	struct sp_target *t = &x->wr;
	struct iovec iov = { (void *)data, len };
	struct sp_io io = { .op = SP_OP_WRITE, .offset = off, .len = len, .file = file,
			    .iov = &iov, .nr_iov = 1 }, *done;
	int ret;

	ret = t->be->queue(t, &io);
	if (!ret && (ret = t->be->submit(t, 0)) >= 0)
		ret = t->be->reap(t, &done, 1) == 1 ? io.res : -EIO;
	return ret;
}

int xdp_readers_open(struct xdp *x)
{
	unsigned nr_of[RD_PASSTHRU] = { 0 };
	int ret;

	x->s->st.direct_io = true;
	if (x->s->passthru)
		return open_passthru(x);
	for (unsigned i = 0; i < x->s->nr_files; i++) {
		const struct served_file *f = &x->s->files[i];

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
		x->via[i] = nowait_reads(x->dfd[i]) ? RD_URING : RD_PSYNC;
		x->fidx[i] = i;
		nr_of[x->via[i]]++;
	}
	if (nr_of[RD_PSYNC])
		sp_notice("xdp: %u of %u files have no non-blocking reads (io_uring would hand each read to a worker thread): read in the loop",
			  nr_of[RD_PSYNC], x->s->nr_files);
	if (x->s->writable && (ret = writer_open(x)))
		return ret;
	/* one target over every file, for each way the files are read */
	for (unsigned k = 0; k < RD_PASSTHRU; k++) {
		const char *name = k == RD_PSYNC ? "psync" : "uring";

		if (!nr_of[k])
			continue;
		ret = reader_open(x, k, sp_backend_find(name), NULL, x->dfd, x->s->nr_files);
		if (ret) {
			sp_err("xdp: %s: %s", name, x->rd[k].t.err);
			return ret;
		}
		sp_info("xdp: %u file(s) read through %s: %s", nr_of[k], name, x->rd[k].t.setup);
	}
	return 0;
}

void xdp_readers_close(struct xdp *x)
{
	if (x->wr_open)
		sp_target_close(&x->wr);
	x->wr_open = false;
	for (unsigned k = 0; x->rd && k < RD_PASSTHRU + x->s->nr_files; k++) {
		struct reader *rd = &x->rd[k];
		struct sp_io *done[BATCH];
		int got;

		if (!rd->open)
			continue;
		/* reads in flight target the UMEM: wait for them before it is unmapped */
		while (rd->inflight && rd->t.be->submit(&rd->t, 1) >= 0 &&
		       (got = rd->t.be->reap(&rd->t, done, BATCH)) >= 0) {
			rd->inflight -= got;
			x->reads -= got;
		}
		sp_target_close(&rd->t);
		rd->open = false;
	}
}
