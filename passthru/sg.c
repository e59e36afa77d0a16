// SPDX-License-Identifier: MIT
/*
 * sg: SCSI commands (READ(16), WRITE(16), SYNCHRONIZE CACHE(16)) sent to
 * the kernel's SCSI midlayer and HBA driver through the sg driver's
 * asynchronous v3 interface, driven by io_uring: an IORING_OP_WRITE of
 * an sg_io_hdr queues a command, an IORING_OP_READ of an sg_io_hdr
 * collects whichever command completed next (matched back to its I/O by
 * usr_ptr; pack_id carries the slot for debugging).
 *
 * How far io_uring helps: sg has no FMODE_NOWAIT, and io_uring would
 * hand every request on such a file to an io-wq worker; but it trusts
 * O_NONBLOCK files to not block, so on the O_NONBLOCK fd opened here
 * the queuing WRITE runs inline (sg_write does not sleep) and a READ
 * with no answer yet returns EAGAIN and is parked on poll until sg
 * signals one. Measured in the guest (sp-cost -e
 * io_uring:io_uring_queue_async_work): no request goes to io-wq.
 *
 * The protocol side (CDBs, sense) is in scsi_spec.h, independent of the
 * transport, so a bsg uring_cmd transport (Linux 7.1 on) can sit beside
 * this one.
 */
#include <errno.h>
#include <fcntl.h>
#include <scsi/sg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "scsi_spec.h"
#include "sp_enum.h"
#include "uring.h"

#define SG_TIMEOUT_MS 60000

/* user_data: what a CQE completes, and which slot */
#define UD_WRITE (1ULL << 62)
#define UD_READ (2ULL << 62)
#define UD_SLOT(ud) ((ud) & ((1ULL << 62) - 1))

/* io->status: kind in bits 31:24, detail below */
enum {
	SG_ST_SENSE = 0,	/* key << 16 | asc << 8 | ascq */
	SG_ST_SCSI = 1,		/* SCSI status byte, no sense data */
	SG_ST_HOST = 2,		/* host_status */
	SG_ST_DRIVER = 3,	/* driver_status */
};

struct sg_slot {
	struct sg_io_hdr hdr;
	uint8_t cdb[SP_SCSI_CDB16];
	uint8_t sense[SP_SCSI_SENSE_MAX];
	struct sp_io *io;
};

struct sg {
	struct sp_uring u;	/* first: t->priv is read as sp_uring too */
	unsigned lba_shift;
	unsigned nslots;
	struct sg_slot *slots;		/* one per buffer: the command */
	struct sg_io_hdr *rhdr;		/* one per posted read: the answer */
	unsigned *free_reads;
	unsigned nr_free_reads;
	unsigned cmds_pending, reads_pending;
	unsigned write_flags;	/* IOSQE_CQE_SKIP_SUCCESS when the kernel has it */
};

/* First directory entry under dir, e.g. the sgN of an sd device. */
static int first_entry(const char *dir, const char *prefix, char *out, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int ret = -ENOENT;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && !strncmp(e->d_name, prefix, strlen(prefix))) {
			snprintf(out, len, "%s", e->d_name);
			ret = 0;
			break;
		}
	closedir(d);
	return ret;
}

static void read_vpd_serial(const char *path, char *out, size_t len)
{
	uint8_t page[68];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	n = read(fd, page, sizeof(page));
	close(fd);
	if (n > 0)
		sp_scsi_parse_vpd_serial(page, n, out, len);
}

/*
 * Whether the bsg node takes IORING_OP_URING_CMD (Linux 7.1 on): a
 * command with an unknown cmd_op is sent; a kernel without a bsg
 * uring_cmd handler refuses the opcode itself with EOPNOTSUPP, one with
 * it rejects the command (EINVAL). Nothing reaches the device.
 */
static int probe_bsg_uring(const char *node, char *why, size_t len)
{
	struct sp_ring_info info;
	struct sp_ring_opts ro = { .entries = 1, .sq_cpu = -1, .big_sqe = true,
				   .big_cqe = true, .no_modern = true };
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int fd, ret;

	fd = open(node, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "%s", strerror(errno));
		return -1;
	}
	ret = sp_ring_init(&ring, &ro, &info);
	if (ret) {
		snprintf(why, len, "no SQE128 rings: %s", strerror(-ret));
		close(fd);
		return 0;
	}
	sqe = io_uring_get_sqe(&ring);
	if (!sqe) {
		io_uring_queue_exit(&ring);
		close(fd);
		return -1;
	}
	sp_uring_prep_cmd(sqe, fd, 0xffff);	/* no such command */
	ret = io_uring_submit_and_wait(&ring, 1);
	if (ret >= 0)
		ret = io_uring_wait_cqe(&ring, &cqe);
	if (ret >= 0) {
		ret = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	close(fd);
	snprintf(why, len, "%s", strerror(-ret));
	return ret == -EOPNOTSUPP ? 0 : 1;
}

/* One synchronous command through SG_IO: used at probe time only. */
static int sg_sync(int fd, const uint8_t *cdb, unsigned cdb_len, void *buf,
		   unsigned len, char *why, size_t wlen)
{
	uint8_t sense[SP_SCSI_SENSE_MAX];
	struct sg_io_hdr h = {
		.interface_id = 'S',
		.dxfer_direction = len ? SG_DXFER_FROM_DEV : SG_DXFER_NONE,
		.cmd_len = cdb_len,
		.mx_sb_len = sizeof(sense),
		.dxfer_len = len,
		.dxferp = buf,
		.cmdp = (unsigned char *)cdb,
		.sbp = sense,
		.timeout = SG_TIMEOUT_MS,
	};
	struct sp_scsi_sense s;
	char text[128];

	if (ioctl(fd, SG_IO, &h) < 0)
		return -errno;
	if ((h.info & SG_INFO_OK_MASK) == SG_INFO_OK)
		return 0;
	if (h.sb_len_wr && !sp_scsi_parse_sense(sense, h.sb_len_wr, &s))
		snprintf(why, wlen, "command 0x%02x failed: %s", cdb[0],
			 sp_scsi_sense_str(s.key, s.asc, s.ascq, text, sizeof(text)));
	else
		snprintf(why, wlen, "command 0x%02x failed: status %s, host 0x%x, "
			 "driver 0x%x", cdb[0], sp_scsi_status_str(h.status),
			 h.host_status, h.driver_status);
	return -EIO;
}

/*
 * The SCSI disk path names, by the one enumeration: its sg node (where
 * commands go) into node, its block device (or "") into blk. A partition
 * is no disk: commands address the whole device.
 */
static int find_nodes(const struct stat *st, const char *path, char *node, char *blk,
		      size_t len)
{
	struct sp_enum_ctrl *c = malloc(sizeof(*c));
	const struct sp_enum_ns *ns;
	int idx, ret = -ENODEV;

	if (!c)
		return -ENOMEM;
	if (sp_enum_find(st, c, &idx) || c->kind != SP_ENUM_SCSI || idx < 0)
		goto out;
	ns = &c->ns[idx];
	if (!ns->generic.name[0] || (S_ISBLK(st->st_mode) && st->st_rdev != ns->disk.dev))
		goto out;
	if (S_ISCHR(st->st_mode))
		snprintf(node, len, "%s", path);
	else
		snprintf(node, len, "/dev/%s", ns->generic.name);
	blk[0] = '\0';
	if (S_ISBLK(st->st_mode))
		snprintf(blk, len, "%s", path);
	else if (ns->disk.name[0])
		snprintf(blk, len, "/dev/%s", ns->disk.name);
	ret = 0;
out:
	free(c);
	return ret;
}

static int sg_probe(const char *path, bool write, struct sp_devinfo *d,
		    char *why, size_t len)
{
	char sys[PATH_MAX], node[PATH_MAX], blk[PATH_MAX], err[256];
	uint8_t cdb[16], buf[64];
	struct sp_scsi_inquiry inq;
	struct stat st;
	uint64_t blocks;
	uint32_t block_len;
	int fd, ret;

	memset(d, 0, sizeof(*d));
	if (stat(path, &st))
		return -errno;
	ret = find_nodes(&st, path, node, blk, sizeof(node));
	if (ret)
		goto not_scsi;
	fd = sp_dev_open_passthru(d, node, blk, write, why, len);
	if (fd < 0)
		return fd;
	err[0] = '\0';
	sp_scsi_cdb_inquiry(cdb, SP_SCSI_INQUIRY_LEN);
	ret = sg_sync(fd, cdb, 6, buf, SP_SCSI_INQUIRY_LEN, err, sizeof(err));
	if (ret)
		goto fail;
	sp_scsi_parse_inquiry(buf, &inq);
	if (inq.peripheral_type != 0) {
		snprintf(why, len, "%s is a SCSI device of type 0x%x, not a disk",
			 node, inq.peripheral_type);
		ret = -ENODEV;
		goto out;
	}
	sp_scsi_cdb_read_capacity16(cdb, SP_SCSI_READCAP16_LEN);
	ret = sg_sync(fd, cdb, 16, buf, SP_SCSI_READCAP16_LEN, err, sizeof(err));
	if (!ret && sp_scsi_parse_read_capacity16(buf, &blocks, &block_len)) {
		snprintf(err, sizeof(err), "READ CAPACITY(16): bad block length");
		ret = -EPROTO;
	}
	if (ret)
		goto fail;
	/* Some targets (QEMU's megasas logical drives) fail SYNCHRONIZE
	 * CACHE(16) but take (10): find out once, here. */
	sp_scsi_cdb_sync_cache16(cdb);
	d->flush_cdb_len = 16;
	if (sg_sync(fd, cdb, 16, NULL, 0, err, sizeof(err))) {
		sp_scsi_cdb_sync_cache10(cdb);
		d->flush_cdb_len = sg_sync(fd, cdb, 10, NULL, 0, err, sizeof(err)) ? 0 : 10;
	}
	err[0] = '\0';
	d->bsg_uring = -1;
	{
		char bsg[64];

		snprintf(sys, sizeof(sys), "/sys/class/scsi_generic/%s/device/bsg",
			 strrchr(node, '/') + 1);
		if (!first_entry(sys, "", bsg, sizeof(bsg))) {
			snprintf(d->bsg_path, sizeof(d->bsg_path), "/dev/bsg/%s", bsg);
			d->bsg_uring = probe_bsg_uring(d->bsg_path, d->bsg_why,
						       sizeof(d->bsg_why));
		}
	}
	snprintf(d->model, sizeof(d->model), "%s %s", inq.vendor, inq.product);
	snprintf(d->firmware, sizeof(d->firmware), "%s", inq.revision);
	d->lbs = block_len;
	d->size = blocks * block_len;
	d->mem_align = 4096;
	if (d->name[0]) {
		/* Unit Serial Number VPD page: 4 header bytes, then ASCII */
		snprintf(sys, sizeof(sys), "/sys/block/%s/device/vpd_pg80", d->name);
		read_vpd_serial(sys, d->serial, sizeof(d->serial));
	}
	ret = 0;
	goto out;
fail:
	snprintf(why, len, "%s: %s", node, err[0] ? err : strerror(-ret));
out:
	close(fd);
	return ret;
not_scsi:
	snprintf(why, len, "%s is not a SCSI disk (give /dev/sgN or /dev/sdX)", path);
	return -ENODEV;
}

static void post_read(struct sp_target *t, struct sg *s)
{
	struct io_uring_sqe *sqe;
	unsigned r;

	if (!s->nr_free_reads)
		return;
	sqe = io_uring_get_sqe(&s->u.ring);
	if (!sqe)
		return;		/* retried after the next reap */
	r = s->free_reads[--s->nr_free_reads];
	io_uring_prep_read(sqe, s->u.sqe_fd, &s->rhdr[r], sizeof(s->rhdr[r]), 0);
	sqe->flags |= s->u.sqe_flags;
	io_uring_sqe_set_data64(sqe, UD_READ | r);
	s->u.queued++;
	s->reads_pending++;
}

static int sg_open(struct sp_target *t)
{
	struct sg *s;
	int ret;

	if (t->o.iopoll) {
		snprintf(t->err, sizeof(t->err), "--iopoll: the sg driver has no "
			 "polled completions");
		return -EOPNOTSUPP;
	}
	if (t->o.fixed_bufs) {
		snprintf(t->err, sizeof(t->err), "--fixedbufs: sg moves data itself "
			 "(dxferp), io_uring's registered buffers do not apply");
		return -EOPNOTSUPP;
	}
	if (t->o.depth > SG_MAX_QUEUE) {
		snprintf(t->err, sizeof(t->err), "sg queues at most %d commands per "
			 "file (SG_MAX_QUEUE)", SG_MAX_QUEUE);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->nslots = t->bufs.nr;
	s->slots = calloc(s->nslots, sizeof(*s->slots));
	s->rhdr = calloc(s->nslots, sizeof(*s->rhdr));
	s->free_reads = calloc(s->nslots, sizeof(*s->free_reads));
	s->lba_shift = __builtin_ctz(t->dev.lbs);
	if (!s->slots || !s->rhdr || !s->free_reads) {
		ret = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < s->nslots; i++)
		s->free_reads[s->nr_free_reads++] = i;
	/* O_NONBLOCK: an empty read returns EAGAIN, and io_uring then waits
	 * on poll instead of parking a worker in sg_read(). */
	/* O_RDWR even to read: every command is queued by write(2). */
	s->u.fd = open(t->dev.path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (s->u.fd < 0) {
		ret = -errno;
		goto fail;
	}
	/* two SQEs per command: the write that queues it, the read that
	 * collects an answer */
	ret = sp_uring_setup(t, &s->u, false, 2);
	if (ret) {
		close(s->u.fd);
		goto fail;
	}
	if (s->u.info.features & IORING_FEAT_CQE_SKIP)
		s->write_flags = IOSQE_CQE_SKIP_SUCCESS;
	{
		char ring[sizeof(t->setup)];

		snprintf(ring, sizeof(ring), "%s", t->setup);
		snprintf(t->setup, sizeof(t->setup), "SCSI sg v3 async%s, %s",
			 s->write_flags ? " (write CQEs skipped)" : "", ring);
	}
	t->priv = s;
	return 0;
fail:
	free(s->slots);
	free(s->rhdr);
	free(s->free_reads);
	free(s);
	return ret;
}

static int sg_queue(struct sp_target *t, struct sp_io *io)
{
	struct sg *s = t->priv;
	struct sg_slot *slot = &s->slots[io->buf];
	struct sg_io_hdr *h = &slot->hdr;
	struct io_uring_sqe *sqe;
	uint64_t lba = io->offset >> s->lba_shift;
	uint32_t blocks = io->len >> s->lba_shift;

	if (io_uring_sq_space_left(&s->u.ring) < 2)
		return -EBUSY;
	memset(h, 0, sizeof(*h));
	switch (io->op) {
	case SP_OP_READ:
		sp_scsi_cdb_read16(slot->cdb, lba, blocks);
		h->dxfer_direction = SG_DXFER_FROM_DEV;
		break;
	case SP_OP_WRITE:
		sp_scsi_cdb_write16(slot->cdb, lba, blocks);
		h->dxfer_direction = SG_DXFER_TO_DEV;
		break;
	case SP_OP_FLUSH:
		if (t->dev.flush_cdb_len == 10)
			sp_scsi_cdb_sync_cache10(slot->cdb);
		else
			sp_scsi_cdb_sync_cache16(slot->cdb);	/* fails as it does */
		h->dxfer_direction = SG_DXFER_NONE;
		break;
	default:
		return -EOPNOTSUPP;
	}
	h->interface_id = 'S';
	h->cmd_len = slot->cdb[0] == 0x35 ? 10 : SP_SCSI_CDB16;
	h->cmdp = slot->cdb;
	h->mx_sb_len = sizeof(slot->sense);
	h->sbp = slot->sense;
	if (h->dxfer_direction != SG_DXFER_NONE) {
		h->dxfer_len = io->len;
		h->dxferp = sp_io_buf(t, io);
		h->flags = SG_FLAG_DIRECT_IO;	/* falls back to copying if refused */
	}
	h->timeout = SG_TIMEOUT_MS;
	h->pack_id = io->buf;
	h->usr_ptr = io;
	slot->io = io;
	sqe = io_uring_get_sqe(&s->u.ring);
	io_uring_prep_write(sqe, s->u.sqe_fd, h, sizeof(*h), 0);
	/* A queued command needs no CQE of its own, only a failed one does:
	 * one CQE per I/O, so waiting for N completions means N answers. */
	sqe->flags |= s->u.sqe_flags | s->write_flags;
	io_uring_sqe_set_data64(sqe, UD_WRITE | io->buf);
	s->u.queued++;
	s->cmds_pending++;
	/* one read per command in flight collects the answers */
	if (s->reads_pending < s->cmds_pending)
		post_read(t, s);
	return 0;
}

static void finish(struct sp_io *io, const struct sg_io_hdr *h)
{
	struct sp_scsi_sense sense;

	if ((h->info & SG_INFO_OK_MASK) == SG_INFO_OK) {
		io->res = io->op == SP_OP_FLUSH ? 0 : (int32_t)(h->dxfer_len - h->resid);
		return;
	}
	io->res = -EIO;
	if (h->sb_len_wr && !sp_scsi_parse_sense(h->sbp, h->sb_len_wr, &sense)) {
		/* RECOVERED ERROR and NO SENSE are successes with a remark */
		if (sense.key == 0x0 || sense.key == 0x1) {
			io->res = io->op == SP_OP_FLUSH ? 0 : (int32_t)(h->dxfer_len - h->resid);
			return;
		}
		io->status = SG_ST_SENSE << 24 | sp_scsi_sense_pack(&sense);
	} else if (h->host_status) {
		io->status = SG_ST_HOST << 24 | h->host_status;
	} else if (h->status) {
		io->status = SG_ST_SCSI << 24 | h->status;
	} else {
		io->status = SG_ST_DRIVER << 24 | h->driver_status;
	}
}

static int sg_reap(struct sp_target *t, struct sp_io **ios, unsigned max)
{
	struct sg *s = t->priv;
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0, n = 0;

	io_uring_for_each_cqe(&s->u.ring, head, cqe) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		unsigned slot = UD_SLOT(ud);

		if (n == max)
			break;
		seen++;
		if (ud & UD_WRITE) {
			/* the command was queued; its answer comes by a read */
			if (cqe->res == (int)sizeof(struct sg_io_hdr))
				continue;
			s->cmds_pending--;
			s->slots[slot].io->res = cqe->res < 0 ? cqe->res : -EIO;
			ios[n++] = s->slots[slot].io;
			continue;
		}
		s->reads_pending--;
		s->free_reads[s->nr_free_reads++] = slot;
		if (cqe->res != (int)sizeof(struct sg_io_hdr))
			continue;	/* interrupted: another read is posted below */
		s->cmds_pending--;
		finish(s->rhdr[slot].usr_ptr, &s->rhdr[slot]);
		ios[n++] = s->rhdr[slot].usr_ptr;
	}
	io_uring_cq_advance(&s->u.ring, seen);
	while (s->reads_pending < s->cmds_pending && s->nr_free_reads)
		post_read(t, s);
	return n;
}

static void sg_close(struct sp_target *t)
{
	struct sg *s = t->priv;

	if (!s)
		return;
	free(s->slots);
	free(s->rhdr);
	free(s->free_reads);
	sp_uring_close(t);	/* frees s itself */
}

static const char *sg_status(uint32_t status, char *buf, size_t len)
{
	uint32_t v = status & 0xffffff;

	switch (status >> 24) {
	case SG_ST_SENSE:
		return sp_scsi_sense_str(v >> 16, (v >> 8) & 0xff, v & 0xff, buf, len);
	case SG_ST_SCSI:
		snprintf(buf, len, "SCSI status %s (0x%02x), no sense data",
			 sp_scsi_status_str(v), v);
		return buf;
	case SG_ST_HOST:
		snprintf(buf, len, "host adapter error 0x%x", v);
		return buf;
	}
	snprintf(buf, len, "sg driver error 0x%x", v);
	return buf;
}

const struct sp_backend sp_backend_sg = {
	.name = "sg",
	.desc = "SCSI passthrough: sg v3 async interface driven by io_uring (/dev/sgN)",
	.caps = SP_CAP_TARGET | SP_CAP_RING | SP_CAP_FLUSH,
	.max_depth = SG_MAX_QUEUE,
	.probe = sg_probe,
	.status_str = sg_status,
	.open = sg_open,
	.queue = sg_queue,
	.submit = sp_uring_submit,
	.reap = sg_reap,
	.close = sg_close,
};
