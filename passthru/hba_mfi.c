// SPDX-License-Identifier: MIT
/*
 * hba_mfi: a polled userspace driver for MFI-firmware SAS/RAID HBAs
 * (the megaraid_sas family; QEMU's megasas-gen2), behind hba.h.
 *
 * The firmware takes 64-byte frames by address: the host writes a
 * frame's bus address to the inbound queue port, the firmware reads the
 * frame (and the scatter list behind it) by DMA, and when it is done
 * writes the frame's context into a reply queue in host memory and
 * advances a producer index there; the host reads up to it and writes
 * back a consumer index. Bring-up is a handshake on the firmware state
 * in the outbound scratch pad (READY, else ask for READY), then an INIT
 * frame naming the reply queue and both indices.
 *
 * No interrupts: the firmware only posts replies while its interrupt
 * mask is open, so the mask is opened and INTx is disabled at the PCI
 * level instead; completions are found by polling the producer index.
 * Internal commands (DCMDs, aborts) use a slot of their own and are
 * waited for on the status byte the firmware writes into their frame.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hba.h"
#include "sp_time.h"

/* registers (32-bit) in the memory BAR */
#define MFI_REG_IDB		0x20	/* inbound doorbell: state requests */
#define MFI_REG_OMSK		0x34	/* outbound interrupt mask */
#define MFI_REG_OSP0		0xb0	/* outbound scratch pad 0: state */
#define MFI_REG_IQPL		0xc0	/* inbound queue port, 64-bit: low */
#define MFI_REG_IQPH		0xc4	/* ... and high half, written first */

#define MFI_STATE_MASK		0xf0000000u
#define MFI_STATE_READY		0xb0000000u
#define MFI_STATE_MAXSGL(s)	(((s) >> 16) & 0xff)
#define MFI_STATE_MAXCMD(s)	((s) & 0xffff)

#define MFI_IDB_ABORT		0x1
#define MFI_IDB_READY		0x2	/* back to READY: drops the queues */
/* the mask that lets gen2 firmware post replies (bits 0 and 2 open) */
#define MFI_OMSK_GEN2_OPEN	(~0x5u)

enum { MFI_CMD_INIT = 0, MFI_CMD_LD_SCSI = 3, MFI_CMD_PD_SCSI = 4,
       MFI_CMD_DCMD = 5, MFI_CMD_ABORT = 6 };

#define MFI_FLAG_SGL64		0x0002
#define MFI_FLAG_SENSE64	0x0004
#define MFI_FLAG_WRITE		0x0008
#define MFI_FLAG_READ		0x0010

#define MFI_STAT_OK		0x00
#define MFI_STAT_DEVICE_NOT_FOUND 0x0c
#define MFI_STAT_SCSI_DONE_WITH_ERROR 0x2d
#define MFI_STAT_SCSI_IO_FAILED	0x2e
#define MFI_STAT_PENDING	0xff	/* what we put there: not answered yet */

#define MFI_DCMD_CTRL_GET_INFO	0x01010000u
#define MFI_DCMD_EVENT_GET_INFO	0x01040100u
#define MFI_DCMD_EVENT_WAIT	0x01040500u
#define MFI_EVT_CLASS_DEAD	4	/* the highest class: fatal events only */
#define MFI_EVT_LOCALE_ALL	0xffffu
#define MFI_EVT_DETAIL_SIZE	256u	/* what an event wait writes back */
#define MFI_DCMD_PD_GET_LIST	0x02010000u
#define MFI_DCMD_LD_GET_LIST	0x03010000u

/* Each frame slot: the firmware maps 2 KiB from the frame address (the
 * frame and its chained scatter list), so a slot is that big. */
#define SLOT_SIZE		2048u
#define MFI_MAX_FRAMES		16u	/* a frame and the 15 extra the port can name */
#define SENSE_SIZE		128u
#define NR_SLOTS		256u	/* user commands; one more for internal use */
#define DATA_SIZE		8192u	/* DCMD answers */
/* The firmware refuses a SCSI frame without a scatter entry even when
 * nothing moves (TEST UNIT READY): such frames get one, of this. */
#define NODATA_SIZE		512u
#define LD_LIST_SIZE		(8 + 64 * 16)	/* the firmware refuses more */
#define PD_ENTRY		24u
#define CTRL_INFO_SIZE		0x800
#define STATE_TIMEOUT_MS	10000
#define INTERNAL_TIMEOUT_MS	30000

struct mfi_hdr {
	uint8_t cmd, sense_len, cmd_status, scsi_status;
	uint8_t target, lun, cdb_len, sge_count;
	uint64_t context;
	uint16_t flags, timeout;
	uint32_t data_len;
} __attribute__((packed));

struct mfi_sg64 {
	uint64_t addr;
	uint32_t len;
} __attribute__((packed));

/* LD/PD SCSI pass-through frame */
struct mfi_pass {
	struct mfi_hdr h;
	uint32_t sense_lo, sense_hi;
	uint8_t cdb[16];
	struct mfi_sg64 sgl[];
} __attribute__((packed));

struct mfi_dcmd {
	struct mfi_hdr h;
	uint32_t opcode;
	uint8_t mbox[12];
	struct mfi_sg64 sgl[];
} __attribute__((packed));

struct mfi_init {
	struct mfi_hdr h;
	uint32_t qinfo_lo, qinfo_hi;
	uint32_t old_lo, old_hi;
	uint32_t rsvd[6];
} __attribute__((packed));

struct mfi_abort {
	struct mfi_hdr h;
	uint64_t abort_context;
	uint32_t abort_lo, abort_hi;
	uint32_t rsvd[6];
} __attribute__((packed));

struct mfi_qinfo {
	uint32_t flags, entries;
	uint32_t rq_lo, rq_hi, pi_lo, pi_hi, ci_lo, ci_hi;
} __attribute__((packed));

_Static_assert(sizeof(struct mfi_hdr) == 24, "MFI frame header");
_Static_assert(sizeof(struct mfi_pass) == 48, "MFI pass-through frame");
_Static_assert(sizeof(struct mfi_dcmd) == 40, "MFI DCMD frame");
_Static_assert(sizeof(struct mfi_init) == 64, "MFI init frame");
_Static_assert(MFI_MAX_FRAMES * 64 <= SLOT_SIZE, "a slot holds the frames the port can name");

struct mfi {
	void *bar;
	struct sp_dma mem;
	uint8_t *frames;		/* NR_SLOTS + 1 slots */
	uint64_t frames_iova;
	uint8_t *sense;
	uint64_t sense_iova;
	volatile uint32_t *rq;		/* reply queue: contexts */
	uint64_t rq_iova;
	volatile uint32_t *pi, *ci;	/* producer (firmware's), consumer (ours) */
	uint64_t pi_iova, ci_iova;
	struct mfi_qinfo *qinfo;
	uint64_t qinfo_iova;
	uint8_t *data;
	uint64_t data_iova;
	uint64_t nodata_iova;		/* the one scatter entry of commands without data */
	uint32_t rq_entries;		/* the firmware wraps its producer here */
	uint32_t cons;
	unsigned nr_slots, max_sge;
	struct sp_hba_cmd *slot[NR_SLOTS];
	uint16_t seq[NR_SLOTS + 1];	/* in the context: stale replies are told apart */
	uint16_t free[NR_SLOTS];
	unsigned nr_free;
	struct sp_hba_cmd *failed[NR_SLOTS];	/* completed by a reset, not yet polled */
	unsigned nr_failed;
};

static uint32_t rd(struct mfi *m, uint32_t off)
{
	return sp_mmio_rd32(m->bar, off);
}

static void wr(struct mfi *m, uint32_t off, uint32_t v)
{
	sp_mmio_wr32(m->bar, off, v);
}

static uint32_t fw_state(struct mfi *m)
{
	return rd(m, MFI_REG_OSP0);
}

static void *slot_frame(struct mfi *m, unsigned s)
{
	return m->frames + (size_t)s * SLOT_SIZE;
}

static uint64_t slot_iova(struct mfi *m, unsigned s)
{
	return m->frames_iova + (uint64_t)s * SLOT_SIZE;
}

static unsigned internal_slot(struct mfi *m)
{
	return m->nr_slots;
}

static void pause_ms(unsigned ms)
{
	sp_dev_pause_ns((uint64_t)ms * 1000000);
}

/*
 * Hands a frame to the firmware. The frame (and its scatter list) must
 * be in memory before the address write reaches the device, which then
 * reads it by DMA: hence the barrier. The 64-bit port takes the high
 * half first; the low half carries the count of extra 64-byte frames
 * and bit 0.
 */
static void post_frame(struct mfi *m, unsigned s, unsigned extra)
{
	uint64_t a = slot_iova(m, s);

	sp_wmb_doorbell();
	wr(m, MFI_REG_IQPH, (uint32_t)(a >> 32));
	wr(m, MFI_REG_IQPL, (uint32_t)a | extra << 1 | 1);	/* extra < MFI_MAX_FRAMES */
}

/* Waits for the firmware state to be want; the state, or 0 on timeout. */
static uint32_t wait_state(struct mfi *m, uint32_t want, unsigned ms)
{
	uint64_t end = sp_dev_now_ns() + (uint64_t)ms * 1000000;

	for (;;) {
		uint32_t st = fw_state(m);

		if ((st & MFI_STATE_MASK) == want)
			return st;
		if (st == 0xffffffff || sp_dev_now_ns() > end)
			return 0;
		pause_ms(1);
	}
}

/* A frame in the internal slot, waited for on its status byte. */
static int internal_cmd(struct mfi *m, unsigned extra)
{
	unsigned s = internal_slot(m);
	volatile struct mfi_hdr *h = slot_frame(m, s);
	uint64_t end = sp_dev_now_ns() + (uint64_t)INTERNAL_TIMEOUT_MS * 1000000;

	h->cmd_status = MFI_STAT_PENDING;
	h->context = (uint32_t)++m->seq[s] << 16 | s;
	post_frame(m, s, extra);
	while (h->cmd_status == MFI_STAT_PENDING) {
		if (sp_dev_now_ns() > end)
			return -ETIMEDOUT;
		__asm__ __volatile__("" ::: "memory");
	}
	sp_rmb_dma();
	return h->cmd_status == MFI_STAT_OK ? 0 : -EIO;
}

/* A DCMD reading len bytes into m->data; -EIO with *st set on refusal. */
static int dcmd(struct mfi *m, uint32_t opcode, uint32_t len, uint8_t *st)
{
	struct mfi_dcmd *f = slot_frame(m, internal_slot(m));
	int ret;

	memset(f, 0, sizeof(*f) + sizeof(f->sgl[0]));
	memset(m->data, 0, len);
	f->h.cmd = MFI_CMD_DCMD;
	f->h.sge_count = 1;
	f->h.flags = MFI_FLAG_SGL64 | MFI_FLAG_READ;
	f->h.data_len = len;
	f->opcode = opcode;
	f->sgl[0].addr = m->data_iova;
	f->sgl[0].len = len;
	ret = internal_cmd(m, 0);
	if (st)
		*st = f->h.cmd_status;
	return ret;
}

/* READY, then INIT with our reply queue, then replies opened. */
static int mfi_init_queue(struct sp_hba *h, char *why, size_t len)
{
	struct mfi *m = h->priv;
	struct mfi_init *f = slot_frame(m, internal_slot(m));
	uint32_t st = fw_state(m);
	int ret;

	if ((st & MFI_STATE_MASK) != MFI_STATE_READY) {
		/* operational (a previous owner), faulted or mid-way: ask for READY */
		wr(m, MFI_REG_IDB, MFI_IDB_ABORT | MFI_IDB_READY);
		st = wait_state(m, MFI_STATE_READY, STATE_TIMEOUT_MS);
		if (!st) {
			snprintf(why, len, "%s: the MFI firmware did not become READY "
				 "(state 0x%08x)", h->pci.bdf, fw_state(m));
			return -ETIMEDOUT;
		}
	}
	m->cons = 0;
	*m->pi = 0;
	*m->ci = 0;
	memset((void *)m->rq, 0xff, m->rq_entries * sizeof(uint32_t));
	memset(m->qinfo, 0, sizeof(*m->qinfo));
	m->qinfo->entries = m->rq_entries;
	m->qinfo->rq_lo = (uint32_t)m->rq_iova;
	m->qinfo->rq_hi = (uint32_t)(m->rq_iova >> 32);
	m->qinfo->pi_lo = (uint32_t)m->pi_iova;
	m->qinfo->pi_hi = (uint32_t)(m->pi_iova >> 32);
	m->qinfo->ci_lo = (uint32_t)m->ci_iova;
	m->qinfo->ci_hi = (uint32_t)(m->ci_iova >> 32);
	memset(f, 0, sizeof(*f));
	f->h.cmd = MFI_CMD_INIT;
	f->h.data_len = sizeof(*m->qinfo);
	f->qinfo_lo = (uint32_t)m->qinfo_iova;
	f->qinfo_hi = (uint32_t)(m->qinfo_iova >> 32);
	ret = internal_cmd(m, 0);
	if (ret) {
		snprintf(why, len, "%s: the MFI INIT frame failed: %s (status 0x%02x)",
			 h->pci.bdf, strerror(-ret), f->h.cmd_status);
		return ret;
	}
	/* replies are posted only while the mask is open; INTx stays off */
	sp_vfio_pci_command(&h->pci, 0x400, 0);
	wr(m, MFI_REG_OMSK, MFI_OMSK_GEN2_OPEN);
	return 0;
}

static int mfi_bring_up(struct sp_hba *h, char *why, size_t len)
{
	struct mfi *m;
	uint32_t st;
	size_t off, total;
	uint8_t cst = 0;
	int ret;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	h->priv = m;
	/* gen2 parts: the registers are in BAR 1 (BAR 0 is I/O ports) */
	m->bar = sp_vfio_pci_bar(&h->pci, 1, 0x1000);
	if (!m->bar)
		m->bar = sp_vfio_pci_bar(&h->pci, 0, 0x1000);
	if (!m->bar) {
		snprintf(why, len, "%s: no mappable memory BAR with the MFI registers",
			 h->pci.bdf);
		return -ENODEV;
	}
	st = fw_state(m);
	if (st == 0xffffffff) {
		snprintf(why, len, "%s: the HBA does not answer", h->pci.bdf);
		return -ENODEV;
	}
	/* the firmware's own limits, range-checked before use */
	m->rq_entries = MFI_STATE_MAXCMD(st);
	if (m->rq_entries < 8) {
		snprintf(why, len, "%s: the firmware offers %u commands (state 0x%08x)",
			 h->pci.bdf, m->rq_entries, st);
		return -EPROTO;
	}
	m->nr_slots = m->rq_entries - 2 < NR_SLOTS ? m->rq_entries - 2 : NR_SLOTS;
	m->max_sge = MFI_STATE_MAXSGL(st);
	/* the queue port names at most 15 extra 64-byte frames: a scatter
	 * list longer than those hold would be fetched cut short */
	if (m->max_sge > (MFI_MAX_FRAMES * 64 - sizeof(struct mfi_pass)) / sizeof(struct mfi_sg64))
		m->max_sge = (MFI_MAX_FRAMES * 64 - sizeof(struct mfi_pass)) / sizeof(struct mfi_sg64);
	if (!m->max_sge)
		m->max_sge = 1;
	total = (size_t)(m->nr_slots + 1) * SLOT_SIZE + (size_t)m->nr_slots * SENSE_SIZE +
		((m->rq_entries * 4 + 63) & ~63u) + 64 + 64 + 64 + DATA_SIZE + NODATA_SIZE;
	ret = sp_vfio_dma_alloc(&h->pci, total, &m->mem);
	if (ret) {
		snprintf(why, len, "%s: DMA memory for the MFI frames: %s", h->pci.bdf,
			 strerror(-ret));
		return ret;
	}
	off = 0;
#define CARVE(p_, io_, size_) do { \
		(p_) = (void *)((uint8_t *)m->mem.va + off); (io_) = m->mem.iova + off; \
		off += (size_); } while (0)
	CARVE(m->frames, m->frames_iova, (size_t)(m->nr_slots + 1) * SLOT_SIZE);
	CARVE(m->sense, m->sense_iova, (size_t)m->nr_slots * SENSE_SIZE);
	CARVE(m->rq, m->rq_iova, (m->rq_entries * 4 + 63) & ~63u);
	CARVE(m->pi, m->pi_iova, 32);
	CARVE(m->ci, m->ci_iova, 32);
	CARVE(m->qinfo, m->qinfo_iova, 64);
	CARVE(m->data, m->data_iova, DATA_SIZE);
	{
		void *nodata;

		CARVE(nodata, m->nodata_iova, NODATA_SIZE);
		(void)nodata;
	}
#undef CARVE
	for (unsigned i = 0; i < m->nr_slots; i++)
		m->free[i] = (uint16_t)(m->nr_slots - 1 - i);
	m->nr_free = m->nr_slots;
	ret = mfi_init_queue(h, why, len);
	if (ret)
		return ret;
	ret = dcmd(m, MFI_DCMD_CTRL_GET_INFO, CTRL_INFO_SIZE, &cst);
	if (ret) {
		snprintf(why, len, "%s: controller info (DCMD): %s (status 0x%02x)",
			 h->pci.bdf, strerror(-ret), cst);
		return ret;
	}
	{
		/* the product name, 80 bytes at 1344 in the info page:
		 * printable characters only */
		const uint8_t *name = m->data + 1344;
		unsigned n = 0;

		for (unsigned i = 0; i < 80 && n + 1 < sizeof(h->model) && name[i]; i++)
			if (name[i] >= 0x20 && name[i] < 0x7f)
				h->model[n++] = (char)name[i];
		h->model[n] = 0;
	}
	h->max_cmds = m->nr_slots;
	h->max_sg = m->max_sge;
	/* what one scatter entry of the backend carries; the firmware's own
	 * limit (max_request_size, in sectors) is larger */
	h->max_xfer = 1u << 24;
	snprintf(h->firmware, sizeof(h->firmware), "MFI");
	return 0;
}

static void mfi_tear_down(struct sp_hba *h)
{
	struct mfi *m = h->priv;

	if (!m)
		return;
	if (m->bar && m->mem.va) {
		/* back to READY: the firmware forgets our queue and frames
		 * before their memory goes */
		wr(m, MFI_REG_IDB, MFI_IDB_ABORT | MFI_IDB_READY);
		wait_state(m, MFI_STATE_READY, STATE_TIMEOUT_MS);
	}
	sp_vfio_dma_free(&h->pci, &m->mem);
	free(m);
	h->priv = NULL;
}

static int mfi_list(struct sp_hba *h, struct sp_hba_unit *u, unsigned max)
{
	struct mfi *m = h->priv;
	unsigned n = 0;
	uint32_t count;
	int ret;

	ret = dcmd(m, MFI_DCMD_LD_GET_LIST, LD_LIST_SIZE, NULL);
	if (ret)
		return ret;
	memcpy(&count, m->data, 4);
	if (count > 64)
		count = 64;	/* hostile: no more than the list holds */
	for (uint32_t i = 0; i < count && n < max; i++) {
		const uint8_t *e = m->data + 8 + i * 16;
		uint64_t size;

		memcpy(&size, e + 8, 8);
		u[n++] = (struct sp_hba_unit){ .target = e[0], .lun = 0, .logical = true,
					       .dev_type = 0, .blocks = size };
	}
	ret = dcmd(m, MFI_DCMD_PD_GET_LIST, DATA_SIZE, NULL);
	if (ret)
		return n ? (int)n : ret;
	memcpy(&count, m->data + 4, 4);
	if (count > (DATA_SIZE - 8) / PD_ENTRY)
		count = (DATA_SIZE - 8) / PD_ENTRY;
	for (uint32_t i = 0; i < count && n < max; i++) {
		const uint8_t *e = m->data + 8 + i * PD_ENTRY;
		uint16_t id;

		memcpy(&id, e, 2);
		u[n++] = (struct sp_hba_unit){ .target = id >> 8, .lun = id & 0xff,
					       .logical = false, .dev_type = e[6] & 0x1f };
	}
	return n;
}

static int mfi_submit(struct sp_hba *h, struct sp_hba_cmd *c)
{
	struct mfi *m = h->priv;
	struct mfi_pass *f;
	unsigned s, extra;

	if (c->cdb_len > 16 || c->nr_sg > m->max_sge || c->target > 0xff || c->lun > 0xff)
		return -EINVAL;
	/* commands a reset completed are polled before slots are reused, so
	 * that failed[] never holds more than the slots there are */
	if (!m->nr_free || m->nr_failed)
		return -EBUSY;
	s = m->free[--m->nr_free];
	f = slot_frame(m, s);
	memset(f, 0, sizeof(*f));
	/* logical drives are targets below 64 at LUN 0; the rest goes to
	 * physical disks by pass-through */
	f->h.cmd = c->target < 64 && c->lun == 0 ? MFI_CMD_LD_SCSI : MFI_CMD_PD_SCSI;
	f->h.sense_len = SENSE_SIZE;
	f->h.cmd_status = MFI_STAT_PENDING;
	f->h.target = (uint8_t)c->target;
	f->h.lun = (uint8_t)c->lun;
	f->h.cdb_len = c->cdb_len;
	f->h.sge_count = (uint8_t)c->nr_sg;
	f->h.context = (uint32_t)++m->seq[s] << 16 | s;
	f->h.flags = MFI_FLAG_SGL64 | MFI_FLAG_SENSE64 |
		     (c->dir == SP_HBA_DIR_TO_DEV ? MFI_FLAG_WRITE :
		      c->dir == SP_HBA_DIR_FROM_DEV ? MFI_FLAG_READ : 0);
	f->h.data_len = c->xfer_len;
	f->sense_lo = (uint32_t)(m->sense_iova + s * SENSE_SIZE);
	f->sense_hi = (uint32_t)((m->sense_iova + s * SENSE_SIZE) >> 32);
	memcpy(f->cdb, c->cdb, c->cdb_len);
	for (unsigned i = 0; i < c->nr_sg; i++) {
		f->sgl[i].addr = c->sg[i].iova;
		f->sgl[i].len = c->sg[i].len;
	}
	if (!c->nr_sg) {
		f->h.sge_count = 1;
		f->sgl[0].addr = m->nodata_iova;
		f->sgl[0].len = NODATA_SIZE;
	}
	extra = (sizeof(*f) + f->h.sge_count * sizeof(f->sgl[0]) + 63) / 64 - 1;
	m->slot[s] = c;
	sp_hba_cmd_start(h, c, s);
	post_frame(m, s, extra);
	return 0;
}

static void finish(struct sp_hba *h, unsigned s, uint64_t now)
{
	struct mfi *m = h->priv;
	struct sp_hba_cmd *c = m->slot[s];
	const struct mfi_pass *f = slot_frame(m, s);
	uint8_t st = f->h.cmd_status;

	m->slot[s] = NULL;
	m->free[m->nr_free++] = (uint16_t)s;
	h->inflight--;
	c->inflight = false;
	c->t_done = now;
	c->fw_status = st;
	c->scsi_status = f->h.scsi_status;
	switch (st) {
	case MFI_STAT_OK:
		c->scsi_status = 0;
		break;
	case MFI_STAT_SCSI_DONE_WITH_ERROR:
		if (c->scsi_status == 0x02) {
			unsigned n = f->h.sense_len;

			/* the firmware says how much sense it wrote: at most ours */
			if (n > SENSE_SIZE)
				n = SENSE_SIZE;
			if (n > SP_HBA_SENSE_MAX)
				n = SP_HBA_SENSE_MAX;
			memcpy(c->sense, m->sense + (size_t)s * SENSE_SIZE, n);
			c->sense_len = (uint8_t)n;
		}
		break;
	case MFI_STAT_DEVICE_NOT_FOUND:
		c->host = SP_HBA_NO_DEVICE;
		break;
	case MFI_STAT_SCSI_IO_FAILED:
		c->host = SP_HBA_ABORTED;
		break;
	case MFI_STAT_PENDING:
		c->host = SP_HBA_BAD_REPLY;
		break;
	default:
		c->host = SP_HBA_ERROR;
		break;
	}
	if (c->host != SP_HBA_OK || c->scsi_status)
		c->resid = c->xfer_len;
}

static int mfi_poll(struct sp_hba *h, struct sp_hba_cmd **done, unsigned max)
{
	struct mfi *m = h->priv;
	unsigned n = 0;
	uint32_t prod;
	uint64_t now = 0;

	while (m->nr_failed && n < max)
		done[n++] = m->failed[--m->nr_failed];
	prod = *m->pi;
	if (prod >= m->rq_entries || prod == m->cons)
		return n;	/* nothing new, or a producer index out of range */
	sp_rmb_dma();
	while (m->cons != prod && n < max) {
		uint32_t ctx = m->rq[m->cons];
		unsigned s = ctx & 0xffff;

		m->cons = m->cons + 1 == m->rq_entries ? 0 : m->cons + 1;
		/* hostile: a slot we have in flight, in its current use */
		if (s >= m->nr_slots || !m->slot[s] || (ctx >> 16) != m->seq[s])
			continue;
		if (!now)
			now = sp_dev_now_ns();
		done[n++] = m->slot[s];
		finish(h, s, now);
	}
	/* the entries were read before the firmware may reuse them */
	sp_wmb_doorbell();
	*m->ci = m->cons;
	return n;
}

/*
 * The request the firmware holds: a DCMD EVENT_WAIT (the asynchronous
 * event notification the kernel's driver keeps posted) for the next
 * event of the fatal class after the newest one logged, which the
 * firmware answers only when such an event happens. QEMU's megasas
 * keeps it until an event, never aborts it (it does not abort internal
 * commands) and forgets it on a reset.
 */
static int mfi_submit_held(struct sp_hba *h, struct sp_hba_cmd *c)
{
	struct mfi *m = h->priv;
	struct mfi_dcmd *f;
	uint32_t newest = 0, word;
	unsigned s;

	if (c->target > 0xff || c->lun > 0xff)
		return -EINVAL;
	if (!m->nr_free || m->nr_failed)
		return -EBUSY;
	/* the newest sequence number logged, so that none older answers */
	if (!dcmd(m, MFI_DCMD_EVENT_GET_INFO, 20, NULL))
		memcpy(&newest, m->data, 4);
	s = m->free[--m->nr_free];
	f = slot_frame(m, s);
	memset(f, 0, sizeof(*f) + sizeof(f->sgl[0]));
	f->h.cmd = MFI_CMD_DCMD;
	f->h.cmd_status = MFI_STAT_PENDING;
	f->h.sge_count = 1;
	f->h.context = (uint32_t)++m->seq[s] << 16 | s;
	f->h.flags = MFI_FLAG_SGL64 | MFI_FLAG_READ;
	f->h.data_len = MFI_EVT_DETAIL_SIZE;
	f->opcode = MFI_DCMD_EVENT_WAIT;
	word = newest + 1;
	memcpy(f->mbox, &word, 4);
	word = MFI_EVT_LOCALE_ALL | (uint32_t)MFI_EVT_CLASS_DEAD << 24;
	memcpy(f->mbox + 4, &word, 4);
	f->sgl[0].addr = c->sg[0].iova;
	f->sgl[0].len = MFI_EVT_DETAIL_SIZE;
	m->slot[s] = c;
	c->xfer_len = MFI_EVT_DETAIL_SIZE;
	sp_hba_cmd_start(h, c, s);
	post_frame(m, s, 0);
	return 0;
}

/*
 * An ABORT frame naming the command's frame and context; the firmware
 * then completes the command itself (SCSI_IO_FAILED: host ABORTED)
 * through the reply queue.
 */
static int mfi_abort(struct sp_hba *h, struct sp_hba_cmd *c)
{
	struct mfi *m = h->priv;
	struct mfi_abort *f = slot_frame(m, internal_slot(m));
	const struct mfi_hdr *victim;

	if (c->slot >= m->nr_slots || m->slot[c->slot] != c)
		return -ENOENT;
	victim = slot_frame(m, c->slot);
	memset(f, 0, sizeof(*f));
	f->h.cmd = MFI_CMD_ABORT;
	f->abort_context = victim->context;
	f->abort_lo = (uint32_t)slot_iova(m, c->slot);
	f->abort_hi = (uint32_t)(slot_iova(m, c->slot) >> 32);
	return internal_cmd(m, 0);
}

/*
 * Back to READY (which drops every frame and the reply queue) and INIT
 * again; the commands that were in flight complete with host RESET.
 */
static int mfi_reset(struct sp_hba *h)
{
	struct mfi *m = h->priv;
	char why[160];
	int ret;

	wr(m, MFI_REG_IDB, MFI_IDB_ABORT | MFI_IDB_READY);
	if (!wait_state(m, MFI_STATE_READY, STATE_TIMEOUT_MS))
		return -ETIMEDOUT;
	for (unsigned s = 0; s < m->nr_slots; s++) {
		struct sp_hba_cmd *c = m->slot[s];

		if (!c)
			continue;
		m->slot[s] = NULL;
		m->free[m->nr_free++] = (uint16_t)s;
		h->inflight--;
		c->inflight = false;
		c->host = SP_HBA_RESET;
		c->resid = c->xfer_len;
		c->t_done = sp_dev_now_ns();
		m->failed[m->nr_failed++] = c;
	}
	ret = mfi_init_queue(h, why, sizeof(why));
	return ret;
}

static const struct sp_hba_id mfi_ids[] = {
	{ 0x1000, 0x0079 },	/* SAS2108 (megasas-gen2) */
	{ 0x1000, 0x0078 },	/* SAS1078 gen2 */
	{ 0, 0 },
};

const struct sp_hba_ops sp_hba_mfi = {
	.name = "mfi",
	.desc = "MFI firmware (megaraid_sas gen2 family), polled reply queue",
	.ids = mfi_ids,
	.bring_up = mfi_bring_up,
	.tear_down = mfi_tear_down,
	.list = mfi_list,
	.submit = mfi_submit,
	.poll = mfi_poll,
	.abort = mfi_abort,
	.reset = mfi_reset,
	.submit_held = mfi_submit_held,
	.held_desc = "a DCMD EVENT_WAIT, which the firmware keeps until it logs a fatal event",
};
