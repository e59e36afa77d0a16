// SPDX-License-Identifier: MIT
/*
 * scsi-vfio: the backend over the userspace SCSI stack: an HBA bound to
 * vfio-pci driven by its family's driver (hba.h), commands built by the
 * mid-layer (scsi_ml.h). Each target (job) polls for its own
 * completions; the buffer pool is mapped once for the HBA
 * (VFIO_IOMMU_MAP_DMA) and every I/O is a frame and a doorbell write:
 * no syscall, no interrupt.
 *
 * Path: "BDF[/TARGET[/LUN]]"; without a target, the first disk found.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scsi_vfio.h"
#include "sp_time.h"

struct slot {
	struct sp_hba_cmd cmd;
	struct sp_hba_sg sg;
	struct sp_io *io;
};

struct starget {
	struct sp_hba *h;
	struct sp_scsi_lu lu;
	struct sp_hba_queue q;
	struct slot *slots;		/* by buffer index; one more for read_iova */
	unsigned nslots;
	struct sp_io **done;
	unsigned nr_done, inflight;
	uint64_t bufs_iova;
	size_t bufs_len;
	uint64_t unmapped;
	unsigned lbs_shift;
	uint64_t timeout_ns;		/* a command unanswered this long is aborted */
};

/* The probe's reference, kept until the open that follows takes the HBA
 * (closing it between the two would let another process take it). */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sp_hba *g_probe_hold;

static void probe_release(void)
{
	pthread_mutex_lock(&g_lock);
	if (g_probe_hold) {
		sp_scsi_ml_put(g_probe_hold);
		g_probe_hold = NULL;
	}
	pthread_mutex_unlock(&g_lock);
}

int sp_scsi_vfio_path(char *out, size_t len, const char *bdf, int target, long long lun)
{
	int n;

	if (target < 0)
		n = snprintf(out, len, "%s", bdf);
	else if (lun < 0)
		n = snprintf(out, len, "%s/%d", bdf, target);
	else
		n = snprintf(out, len, "%s/%d/%lld", bdf, target, lun);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* BDF and the unit out of the path; target -1: the first disk. */
static int parse_path(const char *path, char *bdf, size_t blen, int *target, long long *lun,
		      char *why, size_t len)
{
	char tmp[64], *slash, *end;

	snprintf(tmp, sizeof(tmp), "%s", path);
	*target = -1;
	*lun = 0;
	slash = strchr(tmp, '/');
	if (slash) {
		*slash++ = 0;
		*target = (int)strtol(slash, &end, 0);
		if (end == slash || *target < 0 || *target > 0xffff ||
		    (*end && *end != '/')) {
			snprintf(why, len, "'%s': the target after the PCI address must be "
				 "a number (BDF/TARGET[/LUN])", path);
			return -EINVAL;
		}
		if (*end == '/') {
			char *l = end + 1;

			*lun = strtoll(l, &end, 0);
			if (end == l || *end || *lun < 0 || *lun > 0x3fff) {
				snprintf(why, len, "'%s': the LUN must be a number 0-16383", path);
				return -EINVAL;
			}
		}
	}
	if (sp_vfio_parse_bdf(tmp, bdf, blen)) {
		snprintf(why, len, "'%s' is not a PCI address (DDDD:BB:DD.F, e.g. "
			 "0000:00:05.0), optionally with /TARGET[/LUN]", path);
		return -ENODEV;
	}
	return 0;
}

/* The HBA and the unit the path names, ready for I/O. */
static int get_unit(const char *path, struct sp_hba **hp, struct sp_scsi_lu *lu,
		    char *why, size_t len)
{
	char bdf[16];
	int target, ret;
	long long lun;
	struct sp_hba *h;

	ret = parse_path(path, bdf, sizeof(bdf), &target, &lun, why, len);
	if (ret)
		return ret;
	ret = sp_scsi_ml_get(bdf, &h, why, len);
	if (ret)
		return ret;
	if (target < 0) {
		struct sp_scsi_lu found[32];
		int n = sp_scsi_ml_scan(h, found, 32);

		for (int i = 0; i < n && target < 0; i++)
			if (found[i].dev_type == 0) {
				target = found[i].target;
				lun = (long long)found[i].lun;
			}
		if (target < 0) {
			snprintf(why, len, "%s: the HBA exposes no disk%s", bdf,
				 n < 0 ? " (listing its units failed)" : "");
			sp_scsi_ml_put(h);
			return n < 0 ? n : -ENODEV;
		}
	}
	ret = sp_scsi_ml_open_lu(h, (uint16_t)target, (uint64_t)lun, lu, why, len);
	if (ret) {
		sp_scsi_ml_put(h);
		return ret;
	}
	*hp = h;
	return 0;
}

static int sv_probe(const char *path, bool write, struct sp_devinfo *d, char *why, size_t len)
{
	struct sp_scsi_lu lu;
	struct sp_hba *h;
	int ret;

	(void)write;
	memset(d, 0, sizeof(*d));
	ret = get_unit(path, &h, &lu, why, len);
	if (ret)
		return ret;
	snprintf(d->path, sizeof(d->path), "%s/%u/%llu", h->pci.bdf, lu.target,
		 (unsigned long long)lu.lun);
	d->kind = SP_KIND_PCI;
	d->lbs = lu.block_len;
	d->mem_align = 4;
	d->dio = true;
	d->io_poll = 1;
	d->size = lu.blocks * lu.block_len;
	d->max_transfer = h->max_xfer;
	d->flush_cdb_len = lu.flush_cdb_len;
	snprintf(d->model, sizeof(d->model), "%s %s", lu.inq.vendor, lu.inq.product);
	snprintf(d->serial, sizeof(d->serial), "%s", lu.serial);
	snprintf(d->firmware, sizeof(d->firmware), "%s", lu.inq.revision);
	pthread_mutex_lock(&g_lock);
	if (g_probe_hold)
		sp_scsi_ml_put(g_probe_hold);
	g_probe_hold = h;
	pthread_mutex_unlock(&g_lock);
	{
		static bool registered;

		if (!registered) {
			registered = true;
			atexit(probe_release);
		}
	}
	return 0;
}

static void sv_close(struct sp_target *t);

static int sv_open(struct sp_target *t)
{
	struct starget *v;
	int ret;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->priv = v;
	ret = get_unit(t->dev.path, &v->h, &v->lu, t->err, sizeof(t->err));
	if (ret) {
		free(v);
		t->priv = NULL;
		return ret;
	}
	probe_release();	/* the open's own reference holds the HBA now */
	v->lbs_shift = __builtin_ctz(v->lu.block_len);
	v->timeout_ns = (uint64_t)SP_SCSI_ML_TIMEOUT_MS * 1000000;
	if (t->o.depth > v->h->max_cmds) {
		snprintf(t->err, sizeof(t->err), "%s: iodepth %u is more than the HBA "
			 "takes (%u commands)", v->h->pci.bdf, t->o.depth, v->h->max_cmds);
		ret = -EINVAL;
		goto fail;
	}
	v->nslots = t->bufs.nr + 1;
	v->slots = calloc(v->nslots, sizeof(*v->slots));
	v->done = calloc(v->nslots, sizeof(*v->done));
	ret = v->slots && v->done ? sp_hba_queue_init(&v->q, v->nslots) : -ENOMEM;
	if (ret)
		goto fail;
	ret = sp_vfio_dma_map(&v->h->pci, t->bufs.base, t->bufs.map_len,
			      t->bufs.huge ? SP_VFIO_HUGE_2M : SP_VFIO_PAGE, &v->bufs_iova);
	if (ret) {
		snprintf(t->err, sizeof(t->err), "%s: VFIO_IOMMU_MAP_DMA of %zu bytes of "
			 "buffers: %s", v->h->pci.bdf, t->bufs.map_len, strerror(-ret));
		goto fail;
	}
	v->bufs_len = t->bufs.map_len;
	if (sp_vfio_iova_alloc(&v->h->pci, SP_VFIO_PAGE, SP_VFIO_PAGE, &v->unmapped))
		v->unmapped = 0;
	snprintf(t->setup, sizeof(t->setup), "VFIO SCSI %s (%s) target %u LUN %llu, "
		 "polled, %s buffers, no syscalls or interrupts per I/O", v->h->pci.bdf,
		 v->h->ops->name, v->lu.target, (unsigned long long)v->lu.lun,
		 t->bufs.huge ? "huge-page" : "pinned 4 KiB-page");
	return 0;
fail:
	sv_close(t);
	return ret;
}

static void sv_close(struct sp_target *t)
{
	struct starget *v = t->priv;

	if (!v)
		return;
	if (v->h) {
		/* nothing of ours may stay in flight into memory about to go */
		for (unsigned i = 0; i < v->nslots && v->inflight; i++)
			if (v->slots[i].cmd.inflight)
				sp_scsi_ml_timeout(v->h, &v->q, &v->slots[i].cmd);
		if (v->bufs_len)
			sp_vfio_dma_unmap(&v->h->pci, v->bufs_iova, v->bufs_len);
		if (v->unmapped)
			sp_vfio_iova_free(&v->h->pci, v->unmapped, SP_VFIO_PAGE);
		sp_scsi_ml_put(v->h);
	}
	sp_hba_queue_free(&v->q);
	free(v->slots);
	free(v->done);
	free(v);
	t->priv = NULL;
}

/* Slot s's command, addressed to the unit and blank; NULL while busy. */
static struct sp_hba_cmd *slot_cmd(struct starget *v, unsigned s)
{
	struct slot *sl = &v->slots[s];
	struct sp_hba_cmd *c = &sl->cmd;

	if (sl->io)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->target = v->lu.target;
	c->lun = v->lu.lun;
	c->q = &v->q;
	c->priv = sl;
	return c;
}

static int queue_at(struct sp_target *t, struct sp_io *io, uint64_t iova, unsigned s)
{
	struct starget *v = t->priv;
	struct slot *sl = &v->slots[s];
	struct sp_hba_cmd *c = slot_cmd(v, s);
	uint64_t lba = io->offset >> v->lbs_shift;
	int ret;

	if (!c)
		return -EBUSY;
	switch (io->op) {
	case SP_OP_READ:
	case SP_OP_WRITE:
		if (!io->len || io->len > v->h->max_xfer ||
		    (io->len & (v->lu.block_len - 1)) || (io->offset & (v->lu.block_len - 1)))
			return -EINVAL;
		c->cdb_len = (uint8_t)sp_scsi_ml_rw_cdb(&v->lu, io->op == SP_OP_WRITE, lba,
							io->len >> v->lbs_shift, c->cdb);
		c->dir = io->op == SP_OP_WRITE ? SP_HBA_DIR_TO_DEV : SP_HBA_DIR_FROM_DEV;
		sl->sg.iova = iova;
		sl->sg.len = io->len;
		c->sg = &sl->sg;
		c->nr_sg = 1;
		c->xfer_len = io->len;
		break;
	case SP_OP_FLUSH:
		if (v->lu.flush_cdb_len == 10)
			sp_scsi_cdb_sync_cache10(c->cdb);
		else
			sp_scsi_cdb_sync_cache16(c->cdb);
		c->cdb_len = v->lu.flush_cdb_len == 10 ? 10 : 16;
		c->dir = SP_HBA_DIR_NONE;
		break;
	default:
		return -EOPNOTSUPP;
	}
	ret = sp_hba_submit(v->h, c);
	if (ret)
		return ret;
	sl->io = io;
	io->dev_ns = 0;
	v->inflight++;
	return 0;
}

static int sv_queue(struct sp_target *t, struct sp_io *io)
{
	struct starget *v = t->priv;

	if (io->buf >= t->bufs.nr)
		return -EINVAL;
	return queue_at(t, io, v->bufs_iova + ((char *)sp_io_buf(t, io) - (char *)t->bufs.base),
			io->buf);
}

static void complete(struct starget *v, struct sp_hba_cmd *c)
{
	struct slot *sl = c->priv;
	struct sp_io *io = sl->io;
	uint32_t st;
	int err;

	if (!io)
		return;
	sl->io = NULL;
	v->inflight--;
	io->dev_ns = c->t_done > c->t_submit ? c->t_done - c->t_submit : 0;
	io->status = 0;
	if (sp_scsi_ml_verdict(c, &err, &st) == SP_SCSI_DONE) {
		io->res = io->op == SP_OP_FLUSH ? 0 : (int32_t)(io->len - (c->resid > io->len ?
								     io->len : c->resid));
	} else {
		/* the I/O path does not retry: the caller sees what SCSI said */
		io->res = err ? err : -EIO;
		io->status = st;
	}
	v->done[v->nr_done++] = io;
}

static void poll_once(struct starget *v)
{
	struct sp_hba_cmd *got[32];
	int n;

	while ((n = sp_hba_poll(v->h, &v->q, got, 32)) > 0)
		for (int i = 0; i < n; i++)
			complete(v, got[i]);
}

static int sv_submit(struct sp_target *t, unsigned wait_nr)
{
	struct starget *v = t->priv;
	uint64_t since = 0;

	/* queue() rang the doorbell already; here we only wait */
	while (v->nr_done < wait_nr && v->inflight) {
		unsigned before = v->nr_done;

		poll_once(v);
		if (v->nr_done != before) {
			since = 0;
			continue;
		}
		if (!since) {
			since = sp_now_ns();
		} else if (sp_now_ns() - since > v->timeout_ns) {
			/* the oldest command in flight: abort, else reset */
			for (unsigned i = 0; i < v->nslots; i++)
				if (v->slots[i].io && v->slots[i].cmd.inflight) {
					sp_scsi_ml_timeout(v->h, &v->q, &v->slots[i].cmd);
					break;
				}
			since = 0;
		}
	}
	return 0;
}

static int sv_reap(struct sp_target *t, struct sp_io **ios, unsigned max)
{
	struct starget *v = t->priv;
	unsigned n;

	if (v->inflight)
		poll_once(v);
	n = v->nr_done < max ? v->nr_done : max;
	memcpy(ios, v->done, n * sizeof(*ios));
	memmove(v->done, v->done + n, (v->nr_done - n) * sizeof(*ios));
	v->nr_done -= n;
	return n;
}

struct sp_hba *sp_scsi_vfio_hba(struct sp_target *t)
{
	return ((struct starget *)t->priv)->h;
}

const struct sp_scsi_lu *sp_scsi_vfio_lu(struct sp_target *t)
{
	return &((struct starget *)t->priv)->lu;
}

uint64_t sp_scsi_vfio_unmapped_iova(struct sp_target *t)
{
	return ((struct starget *)t->priv)->unmapped;
}

int sp_scsi_vfio_read_iova(struct sp_target *t, uint64_t iova, uint64_t off,
			   uint32_t len, uint32_t *status)
{
	struct starget *v = t->priv;
	struct sp_io io = { .op = SP_OP_READ, .offset = off, .len = len }, *done;
	int ret;

	ret = queue_at(t, &io, iova, v->nslots - 1);
	if (!ret)
		ret = sv_submit(t, 1);
	while (!ret && (ret = sv_reap(t, &done, 1)) == 0)
		ret = sv_submit(t, 1);
	if (ret < 0)
		return ret;
	*status = io.status;
	return io.res < 0 ? io.res : 0;
}

int sp_scsi_vfio_abort_one(struct sp_target *t, uint64_t off, uint32_t len,
			   unsigned *host, int *abort_ret)
{
	struct starget *v = t->priv;
	struct sp_io io = { .op = SP_OP_READ, .offset = off, .len = len }, *done;
	struct sp_hba_cmd *c = &v->slots[v->nslots - 1].cmd;
	int ret;

	if (len > t->bufs.buf_size)
		return -EINVAL;
	ret = queue_at(t, &io, v->bufs_iova, v->nslots - 1);
	if (ret)
		return ret;
	/* the firmware may have finished it already: then there is nothing
	 * to abort, and that is an answer too */
	*abort_ret = sp_hba_abort(v->h, c);
	ret = sv_submit(t, 1);
	while (!ret && (ret = sv_reap(t, &done, 1)) == 0)
		ret = sv_submit(t, 1);
	if (ret < 0)
		return ret;
	*host = c->host;
	return 0;
}

int sp_scsi_vfio_timeout_one(struct sp_target *t, unsigned timeout_ms, int *res,
			     uint32_t *status)
{
	struct starget *v = t->priv;
	struct slot *sl = &v->slots[v->nslots - 1];
	struct sp_hba_cmd *c = slot_cmd(v, v->nslots - 1);
	struct sp_io io = { .op = SP_OP_READ }, *done;
	uint64_t saved = v->timeout_ns;
	int ret;

	if (!c)
		return -EBUSY;
	c->dir = SP_HBA_DIR_FROM_DEV;
	/* the first buffer, for whatever the HBA would write back */
	sl->sg.iova = v->bufs_iova;
	sl->sg.len = t->bufs.buf_size;
	c->sg = &sl->sg;
	c->nr_sg = 1;
	ret = sp_hba_submit_held(v->h, c);
	if (ret)
		return ret;
	sl->io = &io;
	v->inflight++;
	/* the I/O path's own wait, with a shorter patience */
	v->timeout_ns = (uint64_t)timeout_ms * 1000000;
	ret = sv_submit(t, 1);
	while (!ret && (ret = sv_reap(t, &done, 1)) == 0)
		ret = sv_submit(t, 1);
	v->timeout_ns = saved;
	if (ret < 0)
		return ret;
	*res = io.res;
	*status = io.status;
	return 0;
}

static const char *sv_status(uint32_t status, char *buf, size_t len)
{
	return sp_scsi_ml_status_str(status, buf, len);
}

const struct sp_backend sp_backend_scsi_vfio = {
	.name = "scsi-vfio",
	.desc = "userspace SCSI HBA driver over VFIO, polled (PCI address[/target[/lun]]; "
		"see sp-vfio bind)",
	.caps = SP_CAP_TARGET | SP_CAP_FLUSH | SP_CAP_DMA,
	.probe = sv_probe,
	.status_str = sv_status,
	.open = sv_open,
	.queue = sv_queue,
	.submit = sv_submit,
	.reap = sv_reap,
	.close = sv_close,
};
