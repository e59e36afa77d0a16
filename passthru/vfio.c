// SPDX-License-Identifier: MIT
/*
 * vfio: a small polled NVMe driver in userspace, over VFIO (type1
 * container and group). The controller is detached from the kernel
 * (bound to vfio-pci, see sp-vfio) and driven from here: BAR0 mapped
 * into the process, queues and buffers in our memory, mapped for the
 * device through the IOMMU, completions found by polling the phase tag.
 * No syscall and no interrupt per I/O: the path SPDK takes, as the
 * far end of every comparison.
 *
 * One controller per process, shared by every target (job) that opens
 * it; each target gets its own I/O queue pair, so jobs never share a
 * lock on the I/O path. The admin queue, queue IDs and resets are under
 * the controller's lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "iova.h"
#include "nvme_spec.h"
#include "sp_time.h"
#include "sp_pci.h"
#include "vfio.h"
#include "vfio_pci.h"

#define PAGE		4096u		/* CC.MPS: the controller's page size */
#define HUGE_2M		(2ULL << 20)
#define ADMIN_QSIZE	32
#define NR_IOQ_WANTED	64
/* One PRP list page per command: 512 entries beyond the first page. */
#define MAX_XFER	(2u << 20)
/* Commands the device has not answered by then are given up on; long,
 * because an emulated controller under TCG can be slow. */
#define CMD_TIMEOUT_NS	(30ULL * 1000000000ULL)

/* Barriers before doorbells and after phase tags: see vfio_pci.h. */
#define wmb_doorbell sp_wmb_doorbell
#define rmb_cqe sp_rmb_dma

struct qpair {
	uint16_t qid, size;
	uint16_t sq_tail, cq_head;
	uint8_t phase;
	unsigned queued;	/* entries written since the last doorbell */
	unsigned gen;		/* controller generation it was created in */
	struct sp_nvme_sqe *sq;
	volatile struct sp_nvme_cqe *cq;
	volatile uint32_t *sq_db, *cq_db;
	uint64_t *prp;		/* one list page per command slot */
	uint64_t prp_iova;
	struct sp_dma mem;
};

struct ctrl {
	char bdf[16];
	unsigned refs;
	struct sp_vfio_pci pci;	/* container, group, device, IOVA space */
	void *bar;		/* BAR0 */
	size_t bar_len;
	uint64_t cap;
	uint32_t to_ms;		/* CAP.TO */
	uint32_t db_stride;	/* bytes between doorbells */
	pthread_mutex_t lock;
	struct qpair admin;
	struct sp_dma scratch;	/* Identify page */
	uint16_t nr_ioq;	/* I/O queue pairs granted */
	uint8_t qid_used[NR_IOQ_WANTED + 1];
	_Atomic unsigned gen;	/* bumped by every reset */
	struct sp_nvme_info info;
	uint32_t max_transfer;
};

struct vtarget {
	struct ctrl *c;
	struct qpair q;
	struct sp_dma bufs;	/* the target's buffer pool, mapped */
	struct sp_io **slot;	/* in flight, by command ID */
	struct sp_io **done;	/* completed, not yet reaped */
	unsigned nr_done, inflight;
	uint32_t nsid;
	unsigned lba_shift;
	uint64_t unmapped;	/* an allocated IOVA page mapped to nothing */
	uint64_t force_iova;	/* for sp_vfio_read_iova */
	bool created;		/* the queue pair exists on the controller */
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctrl *g_ctrl;
/*
 * The probe's reference to g_ctrl, kept until the next ctrl_get of it
 * (the open that follows a probe) takes it over, or the process exits:
 * closing the group between probe and open would let another process
 * take the device in between, and bring the controller up twice.
 */
static struct ctrl *g_probe_hold;
static _Atomic unsigned g_ctrls, g_qpairs;

void sp_vfio_usage(struct sp_vfio_usage *u)
{
	struct sp_vfio_pci_usage pu;

	sp_vfio_pci_usage(&pu);
	u->controllers = atomic_load(&g_ctrls);
	u->queue_pairs = atomic_load(&g_qpairs);
	u->dma_maps = pu.dma_maps;
	u->dma_bytes = pu.dma_bytes;
	u->iova_bytes = pu.iova_bytes;
}

/* ------------------------------------------------------------ registers */

static uint32_t rd32(const struct ctrl *c, uint32_t off)
{
	return *(volatile uint32_t *)((char *)c->bar + off);
}

/* Two 32-bit halves: not every controller takes 64-bit MMIO. */
static uint64_t rd64(const struct ctrl *c, uint32_t off)
{
	return rd32(c, off) | (uint64_t)rd32(c, off + 4) << 32;
}

static void wr32(struct ctrl *c, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)((char *)c->bar + off) = v;
}

static void wr64(struct ctrl *c, uint32_t off, uint64_t v)
{
	wr32(c, off, (uint32_t)v);
	wr32(c, off + 4, (uint32_t)(v >> 32));
}

/* Polls CSTS until (CSTS & mask) == want, for at most ms. */
static int wait_csts(struct ctrl *c, uint32_t mask, uint32_t want, uint32_t ms)
{
	uint64_t end = sp_now_ns() + (uint64_t)ms * 1000000;
	struct timespec pause = { 0, 1000000 };

	for (;;) {
		uint32_t csts = rd32(c, SP_NVME_REG_CSTS);

		if (csts == 0xffffffff)
			return -ENODEV;	/* the device fell off the bus */
		if ((csts & mask) == want)
			return 0;
		if (sp_now_ns() > end)
			return -ETIMEDOUT;
		nanosleep(&pause, NULL);
	}
}

/* ------------------------------------------------------------ DMA */

static int iova_alloc(struct ctrl *c, uint64_t len, uint64_t align, uint64_t *iova)
{
	return sp_vfio_iova_alloc(&c->pci, len, align, iova);
}

static int iova_free(struct ctrl *c, uint64_t iova, uint64_t len)
{
	return sp_vfio_iova_free(&c->pci, iova, len);
}

static int dma_map(struct ctrl *c, void *va, size_t len, uint64_t align, uint64_t *iova)
{
	return sp_vfio_dma_map(&c->pci, va, len, align, iova);
}

static void dma_unmap(struct ctrl *c, uint64_t iova, size_t len)
{
	sp_vfio_dma_unmap(&c->pci, iova, len);
}

static int dma_alloc(struct ctrl *c, size_t len, struct sp_dma *d)
{
	return sp_vfio_dma_alloc(&c->pci, len, d);
}

static void dma_free(struct ctrl *c, struct sp_dma *d)
{
	sp_vfio_dma_free(&c->pci, d);
}

/* ------------------------------------------------------------ queues */

static uint32_t align_page(uint32_t v)
{
	return (v + PAGE - 1) & ~(PAGE - 1);
}

static int qpair_alloc(struct ctrl *c, struct qpair *q, uint16_t qid, uint16_t size,
		       bool prp_lists)
{
	uint32_t sq_len = align_page(size * sizeof(struct sp_nvme_sqe));
	uint32_t cq_len = align_page(size * sizeof(struct sp_nvme_cqe));
	uint64_t db = SP_NVME_REG_DBS + 2ULL * qid * c->db_stride;
	int ret;

	if (db + c->db_stride + 4 > c->bar_len)
		return -ENOSPC;
	memset(q, 0, sizeof(*q));
	ret = dma_alloc(c, sq_len + cq_len + (prp_lists ? (size_t)size * PAGE : 0), &q->mem);
	if (ret)
		return ret;
	q->qid = qid;
	q->size = size;
	q->phase = 1;
	q->sq = q->mem.va;
	q->cq = (void *)((char *)q->mem.va + sq_len);
	if (prp_lists) {
		q->prp = (void *)((char *)q->mem.va + sq_len + cq_len);
		q->prp_iova = q->mem.iova + sq_len + cq_len;
	}
	q->sq_db = (uint32_t *)((char *)c->bar + db);
	q->cq_db = (uint32_t *)((char *)c->bar + db + c->db_stride);
	return 0;
}

/* Back to empty, as after the controller or the queue was recreated. */
static void qpair_rewind(struct qpair *q)
{
	q->sq_tail = q->cq_head = 0;
	q->phase = 1;
	q->queued = 0;
	memset((void *)q->cq, 0, q->size * sizeof(*q->cq));
}

static uint64_t sq_iova(const struct qpair *q)
{
	return q->mem.iova;
}

static uint64_t cq_iova(const struct qpair *q)
{
	return q->mem.iova + ((char *)q->cq - (char *)q->mem.va);
}

static void ring_sq(struct qpair *q)
{
	if (!q->queued)
		return;
	wmb_doorbell();
	*q->sq_db = q->sq_tail;
	q->queued = 0;
}

/*
 * Consumes up to max new completions, calling fn for each, then tells
 * the controller how far the queue was read. Returns how many.
 */
static unsigned qpair_poll(struct qpair *q, unsigned max,
			   void (*fn)(void *arg, const volatile struct sp_nvme_cqe *),
			   void *arg)
{
	unsigned n = 0;

	while (n < max) {
		const volatile struct sp_nvme_cqe *cqe = &q->cq[q->cq_head];

		if ((cqe->status & 1) != q->phase)
			break;
		rmb_cqe();
		fn(arg, cqe);
		n++;
		if (++q->cq_head == q->size) {
			q->cq_head = 0;
			q->phase ^= 1;
		}
	}
	if (n) {
		/* the entries must have been read before they are handed back */
		wmb_doorbell();
		*q->cq_db = q->cq_head;
	}
	return n;
}

struct admin_result {
	bool done;
	uint16_t cid, status;
	uint32_t result;
};

static void admin_cqe(void *arg, const volatile struct sp_nvme_cqe *cqe)
{
	struct admin_result *r = arg;

	if (cqe->cid != r->cid)
		return;		/* a late answer to a command given up on */
	r->done = true;
	r->status = cqe->status >> 1;
	r->result = cqe->result;
}

static int ctrl_reset_locked(struct ctrl *c);

/* One admin command, synchronously; caller holds c->lock. -EIO with
 * *status set when the controller refused it. */
static int admin_cmd(struct ctrl *c, struct sp_nvme_sqe *cmd, uint32_t *result,
		     uint16_t *status)
{
	struct qpair *q = &c->admin;
	struct admin_result r = { .cid = q->sq_tail };
	uint64_t end = sp_now_ns() + CMD_TIMEOUT_NS;

	cmd->cid = r.cid;
	q->sq[q->sq_tail] = *cmd;
	q->sq_tail = (q->sq_tail + 1) % q->size;
	q->queued++;
	ring_sq(q);
	while (!r.done) {
		if (!qpair_poll(q, q->size, admin_cqe, &r) && sp_now_ns() > end) {
			/* the admin queue is stuck: start the controller over */
			ctrl_reset_locked(c);
			return -ETIMEDOUT;
		}
	}
	if (status)
		*status = r.status;
	if (result)
		*result = r.result;
	return r.status ? -EIO : 0;
}

static int create_io_queues(struct ctrl *c, struct qpair *q, uint16_t *status)
{
	struct sp_nvme_sqe cq = {
		.opcode = SP_NVME_ADMIN_CREATE_CQ,
		.prp1 = cq_iova(q),
		.cdw10 = q->qid | (uint32_t)(q->size - 1) << 16,
		.cdw11 = 1,	/* physically contiguous, no interrupts: polled */
	};
	struct sp_nvme_sqe sq = {
		.opcode = SP_NVME_ADMIN_CREATE_SQ,
		.prp1 = sq_iova(q),
		.cdw10 = q->qid | (uint32_t)(q->size - 1) << 16,
		.cdw11 = 1 | (uint32_t)q->qid << 16,	/* contiguous, its CQ */
	};
	int ret;

	qpair_rewind(q);
	ret = admin_cmd(c, &cq, NULL, status);
	if (ret)
		return ret;
	ret = admin_cmd(c, &sq, NULL, status);
	if (ret) {
		struct sp_nvme_sqe del = { .opcode = SP_NVME_ADMIN_DELETE_CQ, .cdw10 = q->qid };

		admin_cmd(c, &del, NULL, NULL);
		return ret;
	}
	q->gen = atomic_load(&c->gen);
	return 0;
}

static void delete_io_queues(struct ctrl *c, struct qpair *q)
{
	struct sp_nvme_sqe sq = { .opcode = SP_NVME_ADMIN_DELETE_SQ, .cdw10 = q->qid };
	struct sp_nvme_sqe cq = { .opcode = SP_NVME_ADMIN_DELETE_CQ, .cdw10 = q->qid };

	/* after a reset the queues are gone already */
	if (q->gen != atomic_load(&c->gen))
		return;
	admin_cmd(c, &sq, NULL, NULL);
	admin_cmd(c, &cq, NULL, NULL);
}

/* ------------------------------------------------------------ controller */

/* Disable, program the admin queue, enable: CC.EN 0 -> 1. */
static int ctrl_enable(struct ctrl *c)
{
	int ret;

	if (rd32(c, SP_NVME_REG_CC) & SP_NVME_CC_EN)
		wr32(c, SP_NVME_REG_CC, rd32(c, SP_NVME_REG_CC) & ~SP_NVME_CC_EN);
	ret = wait_csts(c, SP_NVME_CSTS_RDY, 0, c->to_ms);
	if (ret)
		return ret;
	qpair_rewind(&c->admin);
	wr32(c, SP_NVME_REG_AQA, (ADMIN_QSIZE - 1) | (ADMIN_QSIZE - 1) << 16);
	wr64(c, SP_NVME_REG_ASQ, sq_iova(&c->admin));
	wr64(c, SP_NVME_REG_ACQ, cq_iova(&c->admin));
	wr32(c, SP_NVME_REG_CC, SP_NVME_CC_MPS(12) | SP_NVME_CC_IOSQES |
	     SP_NVME_CC_IOCQES | SP_NVME_CC_EN);	/* CSS 0: NVM command set */
	ret = wait_csts(c, SP_NVME_CSTS_RDY | SP_NVME_CSTS_CFS, SP_NVME_CSTS_RDY, c->to_ms);
	if (ret == -ETIMEDOUT && (rd32(c, SP_NVME_REG_CSTS) & SP_NVME_CSTS_CFS))
		ret = -EIO;	/* controller fatal status */
	return ret;
}

/*
 * The reset path: every queue goes with CC.EN = 0, and with it every
 * command in flight. The generation tells the targets that their queue
 * pairs are gone; each recreates its own.
 */
static int ctrl_reset_locked(struct ctrl *c)
{
	atomic_fetch_add(&c->gen, 1);
	return ctrl_enable(c);
}

static int identify(struct ctrl *c, uint32_t nsid, uint32_t cns)
{
	struct sp_nvme_sqe cmd = {
		.opcode = SP_NVME_ADMIN_IDENTIFY,
		.nsid = nsid,
		.prp1 = c->scratch.iova,
		.cdw10 = cns,
	};

	return admin_cmd(c, &cmd, NULL, NULL);
}

/* Shutdown notification, then disabled: the way the kernel driver
 * leaves a controller, so that it finds a clean one. */
static void ctrl_shutdown(struct ctrl *c)
{
	uint32_t cc = rd32(c, SP_NVME_REG_CC);

	if (cc == 0xffffffff || !(cc & SP_NVME_CC_EN))
		return;
	wr32(c, SP_NVME_REG_CC, (cc & ~SP_NVME_CC_SHN_MASK) | SP_NVME_CC_SHN_NORMAL);
	wait_csts(c, SP_NVME_CSTS_SHST_MASK, SP_NVME_CSTS_SHST_DONE,
		  c->to_ms > 10000 ? c->to_ms : 10000);
	wr32(c, SP_NVME_REG_CC, rd32(c, SP_NVME_REG_CC) & ~(SP_NVME_CC_EN | SP_NVME_CC_SHN_MASK));
	wait_csts(c, SP_NVME_CSTS_RDY, 0, c->to_ms);
}

static int vfio_attach(struct ctrl *c, char *why, size_t len)
{
	int ret = sp_vfio_pci_open(&c->pci, c->bdf, why, len);

	if (ret)
		return ret;
	c->bar = sp_vfio_pci_bar(&c->pci, 0, 0x2000);
	if (!c->bar) {
		snprintf(why, len, "%s: BAR0 cannot be mapped (is it an NVMe controller?)",
			 c->bdf);
		return -ENODEV;
	}
	c->bar_len = sp_vfio_pci_bar_len(&c->pci, 0);
	return 0;
}

static void ctrl_free(struct ctrl *c)
{
	if (c->bar && c->admin.mem.va)
		ctrl_shutdown(c);
	dma_free(c, &c->scratch);
	dma_free(c, &c->admin.mem);
	sp_vfio_pci_close(&c->pci);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static int ctrl_bring_up(struct ctrl *c, char *why, size_t len)
{
	struct sp_nvme_sqe nq = {
		.opcode = SP_NVME_ADMIN_SET_FEATURES,
		.cdw10 = SP_NVME_FEAT_NUM_QUEUES,
		.cdw11 = (NR_IOQ_WANTED - 1) | (NR_IOQ_WANTED - 1) << 16,
	};
	uint32_t granted;
	uint16_t status = 0;
	char st[160];
	int ret;

	c->cap = rd64(c, SP_NVME_REG_CAP);
	if (c->cap == UINT64_MAX) {
		snprintf(why, len, "%s: the controller does not answer", c->bdf);
		return -ENODEV;
	}
	c->to_ms = SP_NVME_CAP_TO_MS(c->cap);
	if (!c->to_ms)
		c->to_ms = 500;
	c->db_stride = 4u << SP_NVME_CAP_DSTRD(c->cap);
	if (!SP_NVME_CAP_CSS_NVM(c->cap) || SP_NVME_CAP_MPSMIN(c->cap) > 0) {
		snprintf(why, len, "%s: the controller lacks the NVM command set or "
			 "4 KiB pages", c->bdf);
		return -EOPNOTSUPP;
	}
	ret = qpair_alloc(c, &c->admin, 0, ADMIN_QSIZE, false);
	if (!ret)
		ret = dma_alloc(c, PAGE, &c->scratch);
	if (ret) {
		snprintf(why, len, "%s: DMA memory for the admin queue: %s", c->bdf,
			 strerror(-ret));
		return ret;
	}
	ret = ctrl_enable(c);
	if (ret) {
		snprintf(why, len, "%s: the controller did not become ready within "
			 "%u ms (CAP.TO): %s", c->bdf, c->to_ms, strerror(-ret));
		return ret;
	}
	ret = identify(c, 0, SP_NVME_CNS_CTRL);
	if (!ret) {
		sp_nvme_parse_id_ctrl(c->scratch.va, &c->info);
		c->info.nsid = 1;
		ret = identify(c, c->info.nsid, SP_NVME_CNS_NS);
	}
	if (!ret)
		ret = sp_nvme_parse_id_ns(c->scratch.va, &c->info);
	if (!ret && !c->info.nsze)
		ret = -ENXIO;
	if (ret) {
		snprintf(why, len, "%s: Identify failed: %s", c->bdf,
			 ret == -EPROTO ? "malformed LBA format" :
			 ret == -ENXIO ? "namespace 1 is not active" : strerror(-ret));
		return ret;
	}
	ret = admin_cmd(c, &nq, &granted, &status);
	if (ret) {
		snprintf(why, len, "%s: Set Features (Number of Queues): %s", c->bdf,
			 ret == -EIO ? sp_nvme_status_str(status, st, sizeof(st)) : strerror(-ret));
		return ret;
	}
	/* 0-based counts of submission and completion queues granted */
	c->nr_ioq = ((granted & 0xffff) < (granted >> 16) ? (granted & 0xffff) : (granted >> 16)) + 1;
	if (c->nr_ioq > NR_IOQ_WANTED)
		c->nr_ioq = NR_IOQ_WANTED;
	c->max_transfer = MAX_XFER;
	/* MDTS is in units of the minimum page size, 4 KiB here */
	if (c->info.mdts && c->info.mdts < 20 && (PAGE << c->info.mdts) < c->max_transfer)
		c->max_transfer = PAGE << c->info.mdts;
	return 0;
}

/* g_lock held */
static void ctrl_unref_locked(struct ctrl *c)
{
	if (--c->refs == 0) {
		g_ctrl = NULL;
		ctrl_free(c);
		atomic_fetch_sub(&g_ctrls, 1);
	}
}

static void ctrl_put(struct ctrl *c)
{
	pthread_mutex_lock(&g_lock);
	ctrl_unref_locked(c);
	pthread_mutex_unlock(&g_lock);
}

static void probe_hold_release(void)
{
	pthread_mutex_lock(&g_lock);
	if (g_probe_hold) {
		struct ctrl *c = g_probe_hold;

		g_probe_hold = NULL;
		ctrl_unref_locked(c);
	}
	pthread_mutex_unlock(&g_lock);
}

static void probe_hold_at_exit(void)
{
	atexit(probe_hold_release);
}

/*
 * The probe's reference, from its ctrl_get, stays with the process (see
 * g_probe_hold); that ctrl_get took over any earlier one.
 */
static void probe_hold(struct ctrl *c)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, probe_hold_at_exit);
	pthread_mutex_lock(&g_lock);
	g_probe_hold = c;
	pthread_mutex_unlock(&g_lock);
}

/* The controller at bdf, brought up on first use; one per process. */
static int ctrl_get(const char *path, struct ctrl **out, char *why, size_t len)
{
	char bdf[16];
	struct ctrl *c;
	int ret;

	if (sp_vfio_parse_bdf(path, bdf, sizeof(bdf))) {
		snprintf(why, len, "'%s' is not a PCI address (DDDD:BB:DD.F, e.g. "
			 "0000:00:04.0)", path);
		return -ENODEV;
	}
	pthread_mutex_lock(&g_lock);
	/* a probed controller nothing opened gives way to another one */
	if (g_ctrl && g_ctrl == g_probe_hold && g_ctrl->refs == 1 && strcmp(g_ctrl->bdf, bdf)) {
		g_probe_hold = NULL;
		ctrl_unref_locked(g_ctrl);
	}
	if (g_ctrl) {
		ret = strcmp(g_ctrl->bdf, bdf) ? -EBUSY : 0;
		if (ret)
			snprintf(why, len, "one controller per process: %s is open", g_ctrl->bdf);
		else if (g_probe_hold == g_ctrl)
			g_probe_hold = NULL;	/* the probe's reference is the caller's now */
		else
			g_ctrl->refs++;
		*out = g_ctrl;
		pthread_mutex_unlock(&g_lock);
		return ret;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		pthread_mutex_unlock(&g_lock);
		return -ENOMEM;
	}
	snprintf(c->bdf, sizeof(c->bdf), "%s", bdf);
	c->pci.container = c->pci.group = c->pci.device = -1;
	pthread_mutex_init(&c->lock, NULL);
	ret = vfio_attach(c, why, len);
	if (!ret)
		ret = ctrl_bring_up(c, why, len);
	if (ret) {
		ctrl_free(c);
		pthread_mutex_unlock(&g_lock);
		return ret;
	}
	c->refs = 1;
	g_ctrl = c;
	atomic_fetch_add(&g_ctrls, 1);
	*out = c;
	pthread_mutex_unlock(&g_lock);
	return 0;
}

/* ------------------------------------------------------------ backend */

static int vfio_probe(const char *path, bool write, struct sp_devinfo *d,
		      char *why, size_t len)
{
	struct ctrl *c;
	int ret;

	memset(d, 0, sizeof(*d));
	ret = ctrl_get(path, &c, why, len);
	if (ret)
		return ret;
	snprintf(d->path, sizeof(d->path), "%s", c->bdf);
	d->kind = SP_KIND_PCI;
	d->nsid = c->info.nsid;
	d->lbs = c->info.lba_size;
	d->mem_align = 4;
	d->dio = true;
	d->io_poll = 1;
	d->size = c->info.nsze * c->info.lba_size;
	d->ms = c->info.ms;
	d->write_zeroes = c->info.oncs & SP_NVME_ONCS_WRITE_ZEROES;
	d->mdts = c->info.mdts;
	d->max_transfer = c->max_transfer;
	snprintf(d->model, sizeof(d->model), "%s", c->info.model);
	snprintf(d->serial, sizeof(d->serial), "%s", c->info.serial);
	snprintf(d->firmware, sizeof(d->firmware), "%s", c->info.firmware);
	probe_hold(c);
	return 0;
}

static void vfio_close(struct sp_target *t);

static int vfio_open(struct sp_target *t)
{
	struct vtarget *v;
	struct ctrl *c;
	uint16_t qid = 0, status = 0;
	char st[160];
	int ret;

	if (t->dev.ms) {
		snprintf(t->err, sizeof(t->err), "%s: LBA format with %u metadata "
			 "bytes per block is not supported", t->dev.path, t->dev.ms);
		return -EOPNOTSUPP;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->priv = v;
	ret = ctrl_get(t->dev.path, &c, t->err, sizeof(t->err));
	if (ret) {
		free(v);
		t->priv = NULL;
		return ret;
	}
	v->c = c;
	v->nsid = c->info.nsid;
	v->lba_shift = __builtin_ctz(c->info.lba_size);
	/* one slot more than the depth: a full queue has one entry empty,
	 * and sp_vfio_read_iova uses the last command ID */
	if (t->o.depth + 2 > SP_NVME_CAP_MQES(c->cap) + 1) {
		snprintf(t->err, sizeof(t->err), "%s: iodepth %u is more than the "
			 "controller's queues hold (%u entries)", c->bdf, t->o.depth,
			 SP_NVME_CAP_MQES(c->cap) + 1);
		ret = -EINVAL;
		goto fail;
	}
	v->slot = calloc(t->o.depth + 2, sizeof(*v->slot));
	v->done = calloc(t->o.depth + 2, sizeof(*v->done));
	if (!v->slot || !v->done) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = dma_map(c, t->bufs.base, t->bufs.map_len, t->bufs.huge ? HUGE_2M : PAGE,
		      &v->bufs.iova);
	if (ret) {
		snprintf(t->err, sizeof(t->err), "%s: VFIO_IOMMU_MAP_DMA of %zu bytes of "
			 "buffers: %s", c->bdf, t->bufs.map_len, strerror(-ret));
		goto fail;
	}
	v->bufs.va = t->bufs.base;
	v->bufs.len = t->bufs.map_len;
	if (iova_alloc(c, PAGE, PAGE, &v->unmapped))
		v->unmapped = 0;
	pthread_mutex_lock(&c->lock);
	for (uint16_t i = 1; i <= c->nr_ioq; i++)
		if (!c->qid_used[i]) {
			qid = i;
			c->qid_used[i] = 1;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	if (!qid) {
		snprintf(t->err, sizeof(t->err), "%s: the controller granted %u I/O "
			 "queue pairs, all in use: use at most %u jobs", c->bdf,
			 c->nr_ioq, c->nr_ioq);
		ret = -EOPNOTSUPP;
		goto fail;
	}
	ret = qpair_alloc(c, &v->q, qid, t->o.depth + 2, true);
	if (ret) {
		v->q.qid = qid;	/* released in vfio_close */
		snprintf(t->err, sizeof(t->err), "%s: memory for I/O queue %u: %s",
			 c->bdf, qid, strerror(-ret));
		goto fail;
	}
	pthread_mutex_lock(&c->lock);
	ret = create_io_queues(c, &v->q, &status);
	pthread_mutex_unlock(&c->lock);
	if (ret) {
		snprintf(t->err, sizeof(t->err), "%s: creating I/O queue pair %u: %s",
			 c->bdf, qid, ret == -EIO ? sp_nvme_status_str(status, st, sizeof(st))
						  : strerror(-ret));
		goto fail;
	}
	v->created = true;
	atomic_fetch_add(&g_qpairs, 1);
	snprintf(t->setup, sizeof(t->setup), "VFIO NVMe %s nsid %u, polled queue "
		 "pair %u of %u (%u entries), %s buffers, no syscalls or interrupts "
		 "per I/O", c->bdf, v->nsid, qid, c->nr_ioq, v->q.size,
		 t->bufs.huge ? "huge-page" : "pinned 4 KiB-page");
	return 0;
fail:
	vfio_close(t);
	return ret;
}

static void vfio_close(struct sp_target *t)
{
	struct vtarget *v = t->priv;
	struct ctrl *c;

	if (!v)
		return;
	c = v->c;
	if (v->q.qid) {
		pthread_mutex_lock(&c->lock);
		if (v->created) {
			/* deleting the SQ aborts what is still in it */
			delete_io_queues(c, &v->q);
			atomic_fetch_sub(&g_qpairs, 1);
		}
		dma_free(c, &v->q.mem);
		c->qid_used[v->q.qid] = 0;
		pthread_mutex_unlock(&c->lock);
	}
	if (v->bufs.va)
		dma_unmap(c, v->bufs.iova, v->bufs.len);
	if (v->unmapped)
		iova_free(c, v->unmapped, PAGE);
	ctrl_put(c);
	free(v->slot);
	free(v->done);
	free(v);
	t->priv = NULL;
}

/* PRP1, PRP2 and, past two pages, the command's PRP list. */
static void set_prps(struct vtarget *v, struct sp_nvme_sqe *cmd, uint16_t cid,
		     uint64_t iova, uint32_t len)
{
	uint32_t first = PAGE - (iova & (PAGE - 1));

	cmd->prp1 = iova;
	if (len <= first)
		return;
	if (len <= first + PAGE) {
		cmd->prp2 = iova + first;
		return;
	}
	{
		uint64_t *list = v->q.prp + (size_t)cid * (PAGE / sizeof(uint64_t));
		unsigned n = 0;

		for (uint64_t a = iova + first; a < iova + len; a += PAGE)
			list[n++] = a;
		cmd->prp2 = v->q.prp_iova + (uint64_t)cid * PAGE;
	}
}

static int vfio_queue(struct sp_target *t, struct sp_io *io)
{
	struct vtarget *v = t->priv;
	struct qpair *q = &v->q;
	uint16_t cid = io->buf;
	uint64_t slba = io->offset >> v->lba_shift;
	struct sp_nvme_sqe *cmd;
	int ret;

	if (v->inflight + 1 >= q->size || cid >= q->size || v->slot[cid])
		return -EBUSY;
	cmd = &q->sq[q->sq_tail];
	memset(cmd, 0, sizeof(*cmd));
	cmd->cid = cid;
	cmd->nsid = v->nsid;
	ret = sp_nvme_io_cmd(io->op, slba, io->len >> v->lba_shift, &cmd->opcode,
			     &cmd->cdw10, &cmd->cdw11, &cmd->cdw12);
	if (ret)
		return ret;
	if (io->op == SP_OP_READ || io->op == SP_OP_WRITE) {
		if (!io->len || io->len > v->c->max_transfer ||
		    (io->len & ((1u << v->lba_shift) - 1)))
			return -EINVAL;
		set_prps(v, cmd, cid, io->buf < t->bufs.nr ? v->bufs.iova +
			 ((char *)sp_io_buf(t, io) - (char *)t->bufs.base) : v->force_iova,
			 io->len);
	}
	q->sq_tail = (q->sq_tail + 1) % q->size;
	q->queued++;
	v->slot[cid] = io;
	v->inflight++;
	/* device time starts with the entry in the queue: the doorbell
	 * that hands it over follows in the same submit (one clock read
	 * here and one at completion, no syscall: the vDSO) */
	io->dev_ns = sp_now_ns();
	return 0;
}

static void io_cqe(void *arg, const volatile struct sp_nvme_cqe *cqe)
{
	struct vtarget *v = arg;
	uint16_t cid = cqe->cid, status = cqe->status >> 1;
	struct sp_io *io;

	if (cid >= v->q.size || !(io = v->slot[cid]))
		return;		/* not ours (a command failed by a reset) */
	v->slot[cid] = NULL;
	v->inflight--;
	io->dev_ns = sp_now_ns() - io->dev_ns;
	if (status) {
		io->status = status;
		io->res = -EIO;
	} else {
		io->res = io->op == SP_OP_FLUSH ? 0 : (int32_t)io->len;
	}
	v->done[v->nr_done++] = io;
}

/* Every command in flight completes with err; the queue is empty. */
static void fail_inflight(struct vtarget *v, int err)
{
	for (unsigned i = 0; i < v->q.size; i++) {
		struct sp_io *io = v->slot[i];

		if (!io)
			continue;
		io->res = err;
		io->dev_ns = 0;		/* never answered: no device time */
		v->slot[i] = NULL;
		v->done[v->nr_done++] = io;
	}
	v->inflight = 0;
}

/*
 * After a timeout (ours, or one another target's reset answered): the
 * controller is reset unless someone did already, the commands in
 * flight fail, and this target's queue pair is created again.
 */
static int recover(struct sp_target *t, bool timed_out)
{
	struct vtarget *v = t->priv;
	struct ctrl *c = v->c;
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	if (timed_out && v->q.gen == atomic_load(&c->gen))
		ret = ctrl_reset_locked(c);
	fail_inflight(v, timed_out ? -ETIMEDOUT : -EIO);
	if (!ret)
		ret = create_io_queues(c, &v->q, NULL);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static int vfio_submit(struct sp_target *t, unsigned wait_nr)
{
	struct vtarget *v = t->priv;
	uint64_t since = 0;

	if (v->q.gen != atomic_load(&v->c->gen)) {
		int ret = recover(t, false);

		if (ret)
			return ret;
	}
	ring_sq(&v->q);
	while (v->nr_done < wait_nr && v->inflight) {
		if (qpair_poll(&v->q, v->q.size, io_cqe, v)) {
			since = 0;
			continue;
		}
		if (v->q.gen != atomic_load_explicit(&v->c->gen, memory_order_relaxed)) {
			/* another job reset the controller: ours will never answer */
			int ret = recover(t, false);

			if (ret)
				return ret;
		} else if (!since) {
			since = sp_now_ns();
		} else if (sp_now_ns() - since > CMD_TIMEOUT_NS) {
			int ret = recover(t, true);

			if (ret)
				return ret;
		}
	}
	return 0;
}

static int vfio_reap(struct sp_target *t, struct sp_io **ios, unsigned max)
{
	struct vtarget *v = t->priv;
	unsigned n;

	if (v->inflight)
		qpair_poll(&v->q, v->q.size, io_cqe, v);
	n = v->nr_done < max ? v->nr_done : max;
	memcpy(ios, v->done, n * sizeof(*ios));
	memmove(v->done, v->done + n, (v->nr_done - n) * sizeof(*ios));
	v->nr_done -= n;
	return n;
}

int sp_vfio_read_iova(struct sp_target *t, uint64_t iova, uint64_t off,
		      uint32_t len, uint32_t *status)
{
	struct vtarget *v = t->priv;
	struct sp_io io = { .op = SP_OP_READ, .offset = off, .len = len,
			    .buf = v->q.size - 1 }, *done;
	int ret;

	v->force_iova = iova;
	ret = vfio_queue(t, &io);
	if (!ret)
		ret = vfio_submit(t, 1);
	while (!ret && (ret = vfio_reap(t, &done, 1)) == 0)
		ret = vfio_submit(t, 1);
	if (ret < 0)
		return ret;
	*status = io.status;
	return io.res < 0 ? io.res : 0;
}

uint64_t sp_vfio_unmapped_iova(struct sp_target *t)
{
	struct vtarget *v = t->priv;

	return v->unmapped;
}

int sp_vfio_reset(struct sp_target *t)
{
	struct vtarget *v = t->priv;
	int ret;

	pthread_mutex_lock(&v->c->lock);
	ret = ctrl_reset_locked(v->c);
	pthread_mutex_unlock(&v->c->lock);
	return ret ? ret : recover(t, false);
}

static const char *vfio_status(uint32_t status, char *buf, size_t len)
{
	return sp_nvme_status_str(status, buf, len);
}

const struct sp_backend sp_backend_vfio = {
	.name = "vfio",
	.desc = "userspace NVMe driver over VFIO, polled (PCI address; see sp-vfio bind)",
	.caps = SP_CAP_TARGET | SP_CAP_FLUSH | SP_CAP_DMA,
	.probe = vfio_probe,
	.status_str = vfio_status,
	.open = vfio_open,
	.queue = vfio_queue,
	.submit = vfio_submit,
	.reap = vfio_reap,
	.close = vfio_close,
};
