/* SPDX-License-Identifier: MIT */
/*
 * The backend interface: every program opens its target through it and
 * never cares which path is underneath (fio's ioengines and xNVMe's
 * backends, smaller).
 *
 * Life of an I/O: the caller fills a struct sp_io (op, offset, len,
 * buffer index; no two I/Os in flight share a buffer) and hands it to
 * queue(); submit() pushes everything
 * queued to the kernel (or device) and may wait for wait_nr
 * completions in the same call; reap() never blocks and returns the
 * I/Os that have completed, with res set to the bytes transferred or a
 * negative errno. An sp_io must stay put while it is in flight.
 *
 * The target owns its I/O buffers (one pool of depth buffers), so that
 * a backend can register them with io_uring or map them for DMA.
 *
 * One ring, many files: a backend with SP_CAP_FILES also opens over the
 * caller's descriptors (sp_target_opts.fds) instead of a path, and
 * sp_io.file says which one an I/O is for; a server reading many files
 * then needs one target, so one ring, not one per file. A backend with
 * SP_CAP_IOV also takes an I/O scattered over the caller's memory
 * (sp_io.iov) in one syscall: a read of consecutive bytes into several
 * frames, say.
 *
 * Every function returns 0 (or a count) or a negative errno; open()
 * may also leave one line of explanation in t->err.
 */
#ifndef SP_BACKEND_H
#define SP_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "buf.h"
#include "devinfo.h"

enum sp_op {
	SP_OP_READ,
	SP_OP_WRITE,
	SP_OP_FLUSH,
	SP_OP_NOP,
	SP_OP_WRITE_ZEROES,
};

struct sp_io {
	uint64_t offset;	/* bytes */
	uint32_t len;		/* bytes */
	uint16_t buf;		/* index into the target's buffer pool */
	uint8_t op;		/* enum sp_op */
	uint8_t nr_iov;		/* > 0: into iov, not buf (SP_CAP_IOV only) */
	int32_t res;		/* completion: bytes done or -errno */
	uint32_t status;	/* protocol status when res is -EIO (NVMe, SCSI) */
	uint16_t file;		/* index into sp_target_opts.fds; 0 without them */
	const struct iovec *iov;	/* len is their sum; must stay put in flight */
	uint64_t start_ns;	/* the caller's */
	/* device time, doorbell write (vfio: queue entry) to completion
	 * seen, when the backend drives the device itself (scsi-vfio,
	 * vfio); 0 unknown */
	uint64_t dev_ns;
	uint64_t tag;		/* the caller's */
};

struct sp_target_opts {
	bool write;		/* open for writing */
	bool direct;		/* O_DIRECT (block/file backends) */
	unsigned depth;		/* most I/Os in flight; one buffer each */
	uint32_t buf_size;
	bool fixed_bufs;	/* register the buffer pool with the ring */
	bool reg_files;		/* register the target's fd with the ring */
	bool vectored;		/* iovec-based commands (readv/writev, IO_VEC) */
	bool sqpoll;
	unsigned sq_idle_ms;
	int sq_cpu;		/* -1: SQPOLL thread not pinned */
	bool iopoll;
	bool no_modern;		/* skip COOP_TASKRUN/SINGLE_ISSUER/DEFER_TASKRUN */
	bool huge_bufs;		/* try huge pages for the buffer pool */
	/*
	 * The caller's buffers instead of a pool of the target's own (an
	 * AF_XDP UMEM): sp_io.buf indexes them; the target never frees them.
	 * Read by sp_target_open only (it keeps a copy).
	 */
	const struct sp_bufpool *bufs;
	/*
	 * The caller's open descriptors instead of the device's path
	 * (SP_CAP_FILES only): the target reads and writes them, sp_io.file
	 * indexing them, and never closes them; reg_files registers them
	 * all. The array is copied by sp_target_open.
	 */
	const int *fds;
	unsigned nr_fds;
};

struct sp_target {
	/*
	 * What every I/O reads first, in the first cache lines, next to
	 * the caller's own fields before it; dev (two paths) comes last.
	 */
	const struct sp_backend *be;
	void *priv;
	uint64_t syscalls;	/* syscalls the backend made for I/O */
	struct sp_target_opts o;
	int *fds;		/* a copy of o.fds (o.fds is cleared); NULL without */
	struct sp_bufpool bufs;
	bool bufs_lent;		/* bufs is the caller's (o.bufs): not freed */
	char setup[192];	/* what was set up, in words */
	char err[256];		/* why open() failed, in words */
	struct sp_devinfo dev;
};

/* Capabilities of a backend. */
#define SP_CAP_TARGET	(1u << 0)	/* needs a path */
#define SP_CAP_RING	(1u << 1)	/* io_uring options apply */
#define SP_CAP_FLUSH	(1u << 2)
#define SP_CAP_VECTORED	(1u << 3)	/* takes --vectored */
#define SP_CAP_DMA	(1u << 4)	/* buffers are DMA-mapped: huge pages if any */
#define SP_CAP_FILES	(1u << 5)	/* opens over sp_target_opts.fds */
#define SP_CAP_IOV	(1u << 6)	/* takes sp_io.iov */

/* NOP completions in a row that carry one tag and one result. */
struct sp_nop_run {
	uint64_t tag;
	uint32_t n;
	int32_t res;		/* 0, or the -errno every NOP of the run got */
};

struct sp_backend {
	const char *name;
	const char *desc;
	unsigned caps;
	unsigned max_depth;	/* most I/Os in flight per target; 0: no limit */
	/*
	 * Learns what the target at path is (size, block size, identity),
	 * without writing; NULL: sp_dev_probe(). why gets one line on error.
	 */
	int (*probe)(const char *path, bool write, struct sp_devinfo *d,
		     char *why, size_t len);
	/* Words for io->status; NULL: the backend sets no status. */
	const char *(*status_str)(uint32_t status, char *buf, size_t len);
	int (*open)(struct sp_target *t);
	int (*queue)(struct sp_target *t, struct sp_io *io);
	int (*submit)(struct sp_target *t, unsigned wait_nr);
	int (*reap)(struct sp_target *t, struct sp_io **ios, unsigned max);
	/*
	 * Optional, for a backend whose commands carry no state (nop): a
	 * NOP gives back only its tag and its result, so these take no
	 * sp_io and touch none. queue_nops queues up to n NOPs carrying
	 * tag and returns how many. reap_nops reaps up to max, folded into
	 * at most max_runs runs (consecutive completions with one tag and
	 * one result), sets *nr_runs and returns the NOPs reaped.
	 */
	int (*queue_nops)(struct sp_target *t, unsigned n, uint64_t tag);
	int (*reap_nops)(struct sp_target *t, struct sp_nop_run *runs,
			 unsigned max_runs, unsigned max, unsigned *nr_runs);
	void (*close)(struct sp_target *t);
};

const struct sp_backend *sp_backend_find(const char *name);
/*
 * The backend that speaks to path natively (nvme for an NVMe namespace,
 * sg for a SCSI disk, uring otherwise), with what it learned in d.
 */
int sp_backend_detect(const char *path, bool write, const struct sp_backend **be,
		      struct sp_devinfo *d, char *why, size_t len);
void sp_backend_list(FILE *f);

/* Sets up the buffer pool, then calls be->open(); dev may be NULL for
 * backends without a target. */
int sp_target_open(struct sp_target *t, const struct sp_backend *be,
		   const struct sp_target_opts *o, const struct sp_devinfo *dev);
void sp_target_close(struct sp_target *t);
/*
 * For a target the kernel no longer drives (a PCI device on vfio-pci:
 * no block device to look at), the signature check of
 * sp_dev_check_writable through the target itself, before anything is
 * written: the first and last SP_SIG_SPAN bytes are read with the
 * target's own commands into a sparse image of the device, which
 * libblkid probes. -EEXIST with why filled when a signature is found
 * and !force; 0 otherwise, or when the target has a block device (that
 * check applies instead); -errno when the reads fail.
 */
#define SP_SIG_SPAN (1u << 20)
int sp_target_check_signature(struct sp_target *t, bool force, char *why, size_t len);

static inline void *sp_io_buf(const struct sp_target *t, const struct sp_io *io)
{
	return sp_bufpool_get(&t->bufs, io->buf);
}

/* Opens the target's path for the options' access mode; -errno. */
int sp_target_open_fd(const struct sp_target *t);
/* Whether io->file names one of t's files (inline: checked once per I/O). */
static inline bool sp_io_file_ok(const struct sp_target *t, const struct sp_io *io)
{
	return io->file < (t->fds ? t->o.nr_fds : 1);
}
/* The descriptor io is for: t->fds[io->file], or fd of a one-file target. */
static inline int sp_io_fd(const struct sp_target *t, const struct sp_io *io, int fd)
{
	return t->fds ? t->fds[io->file] : fd;
}

#endif
