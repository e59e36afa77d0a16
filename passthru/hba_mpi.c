// SPDX-License-Identifier: MIT
/*
 * hba_mpi: a polled userspace driver for Fusion-MPT (MPI 1.5) SAS HBAs
 * (the mptsas family: SAS1064/1068 and their E parts; QEMU's
 * mptsas1068), behind hba.h.
 *
 * The IOC (I/O controller) is driven through a few 32-bit registers:
 * the doorbell, which shows the IOC's state and carries the handshake
 * (a request written to it word by word, the reply read back from it in
 * 16-bit halves, each step paced by the doorbell bit of the interrupt
 * status register); the Request FIFO, which takes the bus address of a
 * request frame in host memory; and the Reply FIFO, which is two FIFOs
 * at one address: writes give the IOC empty reply frames (the Reply
 * Free FIFO), reads take completions (the Reply Post FIFO, all ones
 * when empty). A completion is either the request's context itself
 * (a "turbo" reply: it went well) or, with the top bit set, the address
 * of one of our reply frames, which the IOC filled with what happened
 * (status, sense, residual); the frame is ours again until we hand it
 * back through the Reply Free FIFO.
 *
 * Bring-up: message-unit reset unless READY, IOC_FACTS (limits),
 * IOC_INIT (reply frame size, the high 32 bits every frame and sense
 * address shares), wait for OPERATIONAL, post the reply frames,
 * PORT_FACTS and PORT_ENABLE. Then SCSI_IO requests go through the
 * Request FIFO, with the scatter list inside the frame.
 *
 * No interrupts: both interrupt sources are masked and INTx is off;
 * completions are found by reading the Reply Post FIFO. Commands of our
 * own (INQUIRY while probing targets, task management) use slots of
 * their own and are waited for by reaping the FIFO, which files other
 * commands' completions for the next poll.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hba.h"
#include "sp_time.h"

/* registers (32-bit) in the memory BAR */
#define MPI_REG_DOORBELL	0x00
#define MPI_REG_WRSEQ		0x04	/* diagnostic write sequence */
#define MPI_REG_DIAG		0x08
#define MPI_REG_HIS		0x30	/* host interrupt status */
#define MPI_REG_HIM		0x34	/* host interrupt mask */
#define MPI_REG_REQ_FIFO	0x40
#define MPI_REG_REPLY_FIFO	0x44	/* read: Reply Post; write: Reply Free */
#define MPI_REGS_LEN		0x48

#define MPI_STATE_MASK		0xf0000000u
#define MPI_STATE_RESET		0x00000000u
#define MPI_STATE_READY		0x10000000u
#define MPI_STATE_OPERATIONAL	0x20000000u
#define MPI_STATE_FAULT		0x40000000u
#define MPI_DB_ACTIVE		0x08000000u	/* a handshake is under way */
#define MPI_DB_FUNC_SHIFT	24
#define MPI_DB_DWORDS_SHIFT	16
#define MPI_DB_DATA		0x0000ffffu

#define MPI_HIS_DOORBELL	0x00000001u	/* the IOC has a doorbell word for us / took ours */
#define MPI_HIS_IOP_BUSY	0x80000000u	/* the IOC has not read our doorbell word yet */
#define MPI_HIM_ALL		0x00000009u	/* doorbell and reply interrupts masked */

#define MPI_DIAG_RESET_ADAPTER	0x00000004u
static const uint32_t wrseq_keys[] = { 0x0, 0x4, 0xb, 0x2, 0x7, 0xd };

#define MPI_ADDRESS_REPLY	0x80000000u
#define MPI_REPLY_EMPTY		0xffffffffu

enum {
	MPI_FN_SCSI_IO = 0x00, MPI_FN_TASK_MGMT = 0x01, MPI_FN_IOC_INIT = 0x02,
	MPI_FN_IOC_FACTS = 0x03, MPI_FN_PORT_FACTS = 0x05, MPI_FN_PORT_ENABLE = 0x06,
	MPI_FN_EVENT_ACK = 0x08,
	MPI_FN_MSG_UNIT_RESET = 0x40, MPI_FN_HANDSHAKE = 0x42,
};

#define MPI_WHOINIT_HOST_DRIVER	0x04

#define MPI_SGE_LAST		0x80000000u
#define MPI_SGE_END_OF_BUFFER	0x40000000u
#define MPI_SGE_SIMPLE		0x10000000u
#define MPI_SGE_HOST_TO_IOC	0x04000000u
#define MPI_SGE_64BIT		0x02000000u
#define MPI_SGE_END_OF_LIST	0x01000000u
#define MPI_SGE_LEN_MAX		0x00ffffffu

#define MPI_IO_CTL_WRITE	0x01000000u
#define MPI_IO_CTL_READ		0x02000000u
#define MPI_IO_CTL_SIMPLEQ	0x00000000u
#define MPI_IO_MSGF_SENSE64	0x01

#define MPI_TM_ABORT_TASK	0x01

enum {
	MPI_IOCS_SUCCESS = 0x00, MPI_IOCS_SCSI_RECOVERED = 0x40,
	MPI_IOCS_SCSI_INVALID_BUS = 0x41, MPI_IOCS_SCSI_INVALID_TARGET = 0x42,
	MPI_IOCS_SCSI_NOT_THERE = 0x43, MPI_IOCS_SCSI_UNDERRUN = 0x45,
	MPI_IOCS_SCSI_TERMINATED = 0x48, MPI_IOCS_SCSI_IOC_TERMINATED = 0x4b,
	MPI_IOCS_SCSI_EXT_TERMINATED = 0x4c,
};
#define MPI_IOCS_MASK		0x7fff
#define MPI_STATE_AUTOSENSE	0x01	/* SCSIState: sense was written */
#define MPI_STATE_NO_STATUS	0x04

struct mpi_hdr {			/* the start of every request */
	uint8_t f0, f1, chain_offset, function;
	uint8_t f4, f5, f6, msg_flags;
	uint32_t context;
} __attribute__((packed));

struct mpi_reply_hdr {			/* ... and of every reply */
	uint8_t f0, f1, msg_length, function;
	uint8_t f4, f5, f6, msg_flags;
	uint32_t context;
	uint16_t f12;
	uint16_t ioc_status;
	uint32_t log_info;
} __attribute__((packed));

struct mpi_sge64 {
	uint32_t flags_len;
	uint32_t addr_lo, addr_hi;
} __attribute__((packed));

struct mpi_ioc_facts_reply {
	uint16_t msg_version;
	uint8_t msg_length, function;
	uint16_t header_version;
	uint8_t ioc_number, msg_flags;
	uint32_t context;
	uint16_t ioc_exceptions, ioc_status;
	uint32_t log_info;
	uint8_t max_chain_depth, who_init, block_size, flags;
	uint16_t reply_queue_depth, request_frame_size;	/* frame size in 32-bit words */
	uint16_t fw_version_old, product_id;
	uint32_t cur_host_mfa_high;
	uint16_t global_credits;
	uint8_t number_of_ports, event_state;
	uint32_t cur_sense_high;
	uint16_t cur_reply_frame_size;
	uint8_t max_devices, max_buses;
	uint32_t fw_image_size, capabilities;
	uint8_t fw_dev, fw_unit, fw_minor, fw_major;
	uint16_t hi_pri_queue_depth, rsvd;
	struct mpi_sge64 host_page_buffer;
	uint32_t reply_fifo_host_signal;
} __attribute__((packed));

struct mpi_ioc_init {
	uint8_t who_init, rsvd, chain_offset, function;
	uint8_t flags, max_devices, max_buses, msg_flags;
	uint32_t context;
	uint16_t reply_frame_size, rsvd1;
	uint32_t host_mfa_high, sense_high, reply_fifo_host_signal;
	struct mpi_sge64 host_page_buffer;
	uint16_t msg_version, header_version;
} __attribute__((packed));

struct mpi_port_msg {			/* PORT_FACTS and PORT_ENABLE */
	uint8_t rsvd[2], chain_offset, function;
	uint8_t rsvd1[2], port, msg_flags;
	uint32_t context;
} __attribute__((packed));

struct mpi_port_facts_reply {
	struct mpi_reply_hdr h;
	uint8_t rsvd, port_type;
	uint16_t max_devices, port_scsi_id, protocol_flags;
	uint16_t max_posted_cmd_buffers, max_persistent_ids, max_lan_buckets;
	uint8_t max_initiators, rsvd1;
	uint32_t rsvd2;
} __attribute__((packed));

struct mpi_scsi_io {
	uint8_t target, bus, chain_offset, function;
	uint8_t cdb_len, sense_len, rsvd, msg_flags;
	uint32_t context;
	uint8_t lun[8];
	uint32_t control;
	uint8_t cdb[16];
	uint32_t data_len;
	uint32_t sense_lo;
	struct mpi_sge64 sgl[];
} __attribute__((packed));

struct mpi_scsi_io_reply {
	uint8_t target, bus, msg_length, function;
	uint8_t cdb_len, sense_len, rsvd, msg_flags;
	uint32_t context;
	uint8_t scsi_status, scsi_state;
	uint16_t ioc_status;
	uint32_t log_info, transfer_count, sense_count, response_info;
	uint16_t task_tag, rsvd1;
} __attribute__((packed));

struct mpi_task_mgmt {
	uint8_t target, bus, chain_offset, function;
	uint8_t rsvd, task_type, rsvd1, msg_flags;
	uint32_t context;
	uint8_t lun[8];
	uint32_t rsvd2[7];
	uint32_t task_context;
} __attribute__((packed));

struct mpi_task_mgmt_reply {
	uint8_t target, bus, msg_length, function;
	uint8_t response_code, task_type, rsvd, msg_flags;
	uint32_t context;
	uint16_t rsvd1, ioc_status;
	uint32_t log_info, termination_count;
} __attribute__((packed));

_Static_assert(sizeof(struct mpi_ioc_facts_reply) == 0x50, "IOC_FACTS reply");
_Static_assert(sizeof(struct mpi_ioc_init) == 0x2c, "IOC_INIT");
_Static_assert(sizeof(struct mpi_port_facts_reply) == 0x28, "PORT_FACTS reply");
_Static_assert(sizeof(struct mpi_scsi_io) == 0x30, "SCSI_IO request");
_Static_assert(sizeof(struct mpi_scsi_io_reply) == 0x24, "SCSI_IO reply");
_Static_assert(sizeof(struct mpi_task_mgmt) == 0x34, "task management request");

#define NR_SLOTS		256u	/* user commands at most; the IOC's credits decide */
#define NR_REPLIES		256u
#define REPLY_SIZE		128u	/* bytes per reply frame (IOC_INIT) */
#define SENSE_SIZE		SP_HBA_SENSE_MAX
#define DATA_SIZE		4096u	/* what our own commands read */
#define FRAME_MIN		128u
#define FRAME_MAX		512u	/* the IOC may offer more; the scatter list needs no more */
#define MAX_TARGETS		128u	/* probed on bus 0 at most */
#define STATE_TIMEOUT_MS	10000
#define HANDSHAKE_TIMEOUT_MS	10000
#define INTERNAL_TIMEOUT_MS	30000

struct mpi {
	void *bar;
	struct sp_dma mem;
	uint8_t *frames;		/* request frames: nr_slots + 2 */
	uint64_t frames_iova;
	uint8_t *replies;		/* reply frames */
	uint64_t replies_iova;
	uint8_t *sense;			/* one sense buffer per slot */
	uint64_t sense_iova;
	uint8_t *data;			/* for our own commands */
	uint64_t data_iova;
	uint32_t frame_size;		/* bytes per request frame, as the IOC reads it */
	unsigned nr_slots;		/* user commands; then the internal I/O and TM slots */
	unsigned nr_replies;
	unsigned max_sge;
	unsigned max_targets;
	uint8_t max_devices, max_buses;	/* IOC_FACTS, given back in IOC_INIT */
	uint16_t msg_version, header_version;
	bool posted[NR_REPLIES];	/* the IOC holds this reply frame */
	struct sp_hba_cmd *slot[NR_SLOTS];
	uint16_t seq[NR_SLOTS + 2];	/* in the context: stale replies are told apart */
	uint16_t free[NR_SLOTS];
	unsigned nr_free;
	/* completions seen but not yet polled: a ring, never fuller than
	 * the commands that were in flight */
	struct sp_hba_cmd *ready[NR_SLOTS];
	unsigned ready_head, ready_nr;
	/* our own commands: answered yet, and how */
	bool int_done[2];
	uint16_t int_ioc_status[2];
	uint8_t int_scsi_status, int_tm_response;
};

static uint32_t rd(struct mpi *m, uint32_t off)
{
	return sp_mmio_rd32(m->bar, off);
}

static void wr(struct mpi *m, uint32_t off, uint32_t v)
{
	sp_mmio_wr32(m->bar, off, v);
}

static uint32_t ioc_state(struct mpi *m)
{
	return rd(m, MPI_REG_DOORBELL) & MPI_STATE_MASK;
}

static void pause_us(unsigned us)
{
	sp_dev_pause_ns((uint64_t)us * 1000);
}

static uint64_t deadline(unsigned ms)
{
	return sp_dev_now_ns() + (uint64_t)ms * 1000000;
}

static unsigned int_slot(struct mpi *m)	/* INQUIRY and the like */
{
	return m->nr_slots;
}

static unsigned tm_slot(struct mpi *m)		/* task management */
{
	return m->nr_slots + 1;
}

static void *slot_frame(struct mpi *m, unsigned s)
{
	return m->frames + (size_t)s * m->frame_size;
}

static uint32_t slot_iova_lo(struct mpi *m, unsigned s)
{
	return (uint32_t)(m->frames_iova + (uint64_t)s * m->frame_size);
}

/* Contexts keep bit 31 clear: a turbo reply is the context itself. */
static uint32_t next_context(struct mpi *m, unsigned s)
{
	m->seq[s] = (m->seq[s] + 1) & 0x7fff;
	return (uint32_t)m->seq[s] << 16 | s;
}

/* Waits until the IOC is in state want; the state seen last, or ~0 on
 * timeout (also for a device that reads as all ones). */
static uint32_t wait_state(struct mpi *m, uint32_t want, unsigned ms)
{
	uint64_t end = deadline(ms);

	for (;;) {
		uint32_t db = rd(m, MPI_REG_DOORBELL);

		if ((db & MPI_STATE_MASK) == want && db != 0xffffffff)
			return db & MPI_STATE_MASK;
		if (sp_dev_now_ns() > end)
			return 0xffffffff;
		pause_us(1000);
	}
}

/* Waits for the HIS bits in mask to be set (want true) or clear. */
static int wait_his(struct mpi *m, uint32_t mask, bool want, uint64_t end)
{
	for (;;) {
		uint32_t his = rd(m, MPI_REG_HIS);

		if (his == 0xffffffff)
			return -ENODEV;
		if (!!(his & mask) == want)
			return 0;
		if (sp_dev_now_ns() > end)
			return -ETIMEDOUT;
		pause_us(10);
	}
}

/*
 * A request through the doorbell and its reply back through it: the
 * IOC takes the request's length in dwords with the HANDSHAKE function,
 * signals (doorbell bit of HIS, which we clear each time) that it is
 * ready, takes the dwords one by one, and then offers the reply 16 bits
 * per doorbell read, each one signalled the same way. The reply says
 * its own length (in dwords, third byte): we read that much, keep what
 * fits in rep, and drop the rest.
 */
static int handshake(struct mpi *m, const void *req, unsigned req_len, void *rep,
		     unsigned rep_len)
{
	const uint32_t *w = req;
	uint16_t *r = rep;
	unsigned words, i;
	uint64_t end = deadline(HANDSHAKE_TIMEOUT_MS);
	int ret;

	if (req_len % 4 || rep_len < sizeof(struct mpi_reply_hdr) || rep_len % 2)
		return -EINVAL;
	if (rd(m, MPI_REG_DOORBELL) & MPI_DB_ACTIVE)
		return -EBUSY;
	memset(rep, 0, rep_len);
	wr(m, MPI_REG_HIS, 0);
	wr(m, MPI_REG_DOORBELL, (uint32_t)MPI_FN_HANDSHAKE << MPI_DB_FUNC_SHIFT |
	   (req_len / 4) << MPI_DB_DWORDS_SHIFT);
	ret = wait_his(m, MPI_HIS_DOORBELL, true, end);
	if (ret)
		return ret;
	wr(m, MPI_REG_HIS, 0);
	ret = wait_his(m, MPI_HIS_IOP_BUSY, false, end);
	for (i = 0; !ret && i < req_len / 4; i++) {
		wr(m, MPI_REG_DOORBELL, w[i]);
		ret = wait_his(m, MPI_HIS_IOP_BUSY, false, end);
	}
	if (ret)
		return ret;
	/* two halves first: the reply header's length byte is in the second */
	words = 2;
	for (i = 0; i < words; i++) {
		uint16_t v;

		ret = wait_his(m, MPI_HIS_DOORBELL, true, end);
		if (ret)
			return ret;
		v = (uint16_t)(rd(m, MPI_REG_DOORBELL) & MPI_DB_DATA);
		wr(m, MPI_REG_HIS, 0);
		if (i < rep_len / 2)
			r[i] = v;
		if (i == 1) {
			/* hostile: at least a header, at most what a doorbell reply holds */
			words = (v & 0xff) * 2;
			if (words < sizeof(struct mpi_reply_hdr) / 2 || words > 256)
				return -EPROTO;
		}
	}
	return 0;
}

/* A handshake whose reply must name function fn and say SUCCESS. */
static int handshake_ok(struct mpi *m, const void *req, unsigned req_len, void *rep,
			unsigned rep_len, uint8_t fn, uint16_t *ioc_status)
{
	const struct mpi_reply_hdr *h = rep;
	int ret = handshake(m, req, req_len, rep, rep_len);

	if (ret)
		return ret;
	*ioc_status = h->ioc_status & MPI_IOCS_MASK;
	if (h->function != fn)
		return -EPROTO;
	return *ioc_status == MPI_IOCS_SUCCESS ? 0 : -EIO;
}

/* Message-unit reset (the IOC drops its FIFOs and our frames) back to
 * READY; a diagnostic adapter reset when that does not do it. */
static int ioc_reset(struct mpi *m)
{
	wr(m, MPI_REG_DOORBELL, (uint32_t)MPI_FN_MSG_UNIT_RESET << MPI_DB_FUNC_SHIFT);
	if (wait_state(m, MPI_STATE_READY, STATE_TIMEOUT_MS) == MPI_STATE_READY)
		return 0;
	/* the write sequence unlocks the diagnostic register */
	for (unsigned i = 0; i < sizeof(wrseq_keys) / sizeof(wrseq_keys[0]); i++)
		wr(m, MPI_REG_WRSEQ, wrseq_keys[i]);
	wr(m, MPI_REG_DIAG, MPI_DIAG_RESET_ADAPTER);
	pause_us(50000);
	return wait_state(m, MPI_STATE_READY, STATE_TIMEOUT_MS) == MPI_STATE_READY ? 0 : -ETIMEDOUT;
}

/* Gives reply frame i to the IOC. */
static void post_reply_frame(struct mpi *m, unsigned i)
{
	m->posted[i] = true;
	wr(m, MPI_REG_REPLY_FIFO, (uint32_t)(m->replies_iova + (uint64_t)i * REPLY_SIZE));
}

/*
 * Hands the request frame of slot s to the IOC, which then reads it
 * (and its scatter list) by DMA: every store to the frame must be in
 * memory before the FIFO write reaches the device, hence the barrier.
 * The IOC forms the frame's address from these low 32 bits and the
 * high half given in IOC_INIT.
 */
static void post_request(struct mpi *m, unsigned s)
{
	sp_wmb_doorbell();
	wr(m, MPI_REG_REQ_FIFO, slot_iova_lo(m, s));
}

static void ready_push(struct mpi *m, struct sp_hba_cmd *c)
{
	m->ready[(m->ready_head + m->ready_nr) % NR_SLOTS] = c;
	m->ready_nr++;
}

/* A user command's end: slot freed, the command filed for poll. */
static void finish(struct sp_hba *h, unsigned s, uint64_t now)
{
	struct mpi *m = h->priv;
	struct sp_hba_cmd *c = m->slot[s];

	m->slot[s] = NULL;
	m->free[m->nr_free++] = (uint16_t)s;
	h->inflight--;
	c->inflight = false;
	c->t_done = now;
	ready_push(m, c);
}

/* What an address reply to a SCSI_IO says, into c. */
static void io_reply(struct mpi *m, unsigned s, struct sp_hba_cmd *c,
		     const struct mpi_scsi_io_reply *r)
{
	uint16_t st = r->ioc_status & MPI_IOCS_MASK;

	c->fw_status = st;
	c->scsi_status = r->scsi_status;
	c->host = SP_HBA_OK;
	switch (st) {
	case MPI_IOCS_SUCCESS:
	case MPI_IOCS_SCSI_RECOVERED:
	case MPI_IOCS_SCSI_UNDERRUN:
		if (r->scsi_state & MPI_STATE_NO_STATUS)
			c->host = SP_HBA_ERROR;
		break;
	case MPI_IOCS_SCSI_INVALID_BUS:
	case MPI_IOCS_SCSI_INVALID_TARGET:
	case MPI_IOCS_SCSI_NOT_THERE:
		c->host = SP_HBA_NO_DEVICE;
		break;
	case MPI_IOCS_SCSI_TERMINATED:
	case MPI_IOCS_SCSI_IOC_TERMINATED:
	case MPI_IOCS_SCSI_EXT_TERMINATED:
		c->host = SP_HBA_ABORTED;
		break;
	default:
		c->host = SP_HBA_ERROR;
		break;
	}
	if (c->host != SP_HBA_OK) {
		c->scsi_status = 0;
		c->resid = c->xfer_len;
		return;
	}
	/* hostile: never more moved than asked for */
	c->resid = r->transfer_count < c->xfer_len ? c->xfer_len - r->transfer_count : 0;
	if (c->scsi_status && (r->scsi_state & MPI_STATE_AUTOSENSE)) {
		uint32_t n = r->sense_count;

		if (n > SENSE_SIZE)
			n = SENSE_SIZE;
		memcpy(c->sense, m->sense + (size_t)s * SENSE_SIZE, n);
		c->sense_len = (uint8_t)n;
	}
}

/* A reply (NULL: turbo, all went well) to our own command in slot s. */
static void internal_reply(struct mpi *m, unsigned s, const void *frame)
{
	unsigned k = s == int_slot(m) ? 0 : 1;

	m->int_done[k] = true;
	m->int_ioc_status[k] = MPI_IOCS_SUCCESS;
	if (k == 0)
		m->int_scsi_status = 0;
	if (!frame)
		return;
	if (k == 0) {
		const struct mpi_scsi_io_reply *r = frame;

		m->int_ioc_status[0] = r->ioc_status & MPI_IOCS_MASK;
		m->int_scsi_status = r->scsi_status;
	} else {
		const struct mpi_task_mgmt_reply *r = frame;

		m->int_ioc_status[1] = r->ioc_status & MPI_IOCS_MASK;
		m->int_tm_response = r->response_code;
	}
}

/* The slot a context names, if it is in flight in this use; else -1. */
static int context_slot(struct sp_hba *h, uint32_t ctx)
{
	struct mpi *m = h->priv;
	unsigned s = ctx & 0xffff;

	if (s > tm_slot(m) || (ctx >> 16) != m->seq[s])
		return -1;
	if (s < m->nr_slots && !m->slot[s])
		return -1;
	return (int)s;
}

/*
 * Empties the Reply Post FIFO: user commands go to the ready ring,
 * answers to our own commands to their flags. A reply frame address
 * must be one of ours that the IOC holds; anything else is dropped.
 * Each FIFO read pops an entry, so every one is dealt with here; no
 * more entries are read than the IOC can hold replies for, so a device
 * that never reads empty cannot keep us here.
 */
static void reap(struct sp_hba *h)
{
	struct mpi *m = h->priv;
	uint64_t now = 0;

	for (unsigned n = 0; n < m->nr_replies + m->nr_slots + 2; n++) {
		uint32_t v = rd(m, MPI_REG_REPLY_FIFO);
		const struct mpi_reply_hdr *f = NULL;
		unsigned fi = 0;
		int s;

		if (v == MPI_REPLY_EMPTY)
			break;
		if (!now)
			now = sp_dev_now_ns();
		if (v & MPI_ADDRESS_REPLY) {
			uint32_t lo = v << 1, base = (uint32_t)m->replies_iova;

			if (lo < base || (lo - base) % REPLY_SIZE ||
			    (fi = (lo - base) / REPLY_SIZE) >= m->nr_replies || !m->posted[fi])
				continue;
			m->posted[fi] = false;
			f = (const void *)(m->replies + (size_t)fi * REPLY_SIZE);
			/* the frame's contents are read after its address */
			sp_rmb_dma();
			s = context_slot(h, f->context);
		} else {
			s = context_slot(h, v);
		}
		if (s >= 0 && (unsigned)s >= m->nr_slots) {
			internal_reply(m, (unsigned)s, f);
		} else if (s >= 0) {
			struct sp_hba_cmd *c = m->slot[s];

			c->host = SP_HBA_OK;
			c->scsi_status = 0;
			c->resid = 0;
			c->fw_status = 0;
			if (f && f->function == MPI_FN_SCSI_IO)
				io_reply(m, (unsigned)s, c, (const void *)f);
			else if (f && f->function ==
				 ((const struct mpi_hdr *)slot_frame(m, (unsigned)s))->function) {
				/* an answer to another request we sent (submit_held) */
				c->fw_status = f->ioc_status & MPI_IOCS_MASK;
				c->host = c->fw_status == MPI_IOCS_SUCCESS ? SP_HBA_OK : SP_HBA_ERROR;
			} else if (f) {
				c->host = SP_HBA_BAD_REPLY;
				c->resid = c->xfer_len;
			}
			finish(h, (unsigned)s, now);
		}
		if (f) {
			/* the frame was read before the IOC may fill it again */
			sp_rmb_dma();
			post_reply_frame(m, fi);
		}
	}
}

static void fill_lun(uint8_t lun8[8], uint64_t lun)
{
	memset(lun8, 0, 8);
	lun8[1] = (uint8_t)lun;		/* single-level, peripheral addressing */
}

/* The SCSI_IO frame for slot s, its scatter list inside the frame. */
static void build_io(struct mpi *m, unsigned s, uint16_t target, uint64_t lun,
		     const uint8_t *cdb, unsigned cdb_len, unsigned dir,
		     const struct sp_hba_sg *sg, unsigned nr_sg, uint32_t xfer_len)
{
	struct mpi_scsi_io *f = slot_frame(m, s);
	uint32_t dflag = dir == SP_HBA_DIR_TO_DEV ? MPI_SGE_HOST_TO_IOC : 0;

	memset(f, 0, sizeof(*f) + (nr_sg ? nr_sg : 1) * sizeof(f->sgl[0]));
	f->target = (uint8_t)target;
	f->function = MPI_FN_SCSI_IO;
	f->cdb_len = (uint8_t)cdb_len;
	f->sense_len = SENSE_SIZE;
	f->msg_flags = MPI_IO_MSGF_SENSE64;
	f->context = next_context(m, s);
	fill_lun(f->lun, lun);
	f->control = MPI_IO_CTL_SIMPLEQ | (dir == SP_HBA_DIR_TO_DEV ? MPI_IO_CTL_WRITE :
					   dir == SP_HBA_DIR_FROM_DEV ? MPI_IO_CTL_READ : 0);
	memcpy(f->cdb, cdb, cdb_len);
	f->data_len = xfer_len;
	f->sense_lo = (uint32_t)(m->sense_iova + (uint64_t)s * SENSE_SIZE);
	for (unsigned i = 0; i < nr_sg; i++) {
		f->sgl[i].flags_len = MPI_SGE_SIMPLE | MPI_SGE_64BIT | dflag | sg[i].len;
		f->sgl[i].addr_lo = (uint32_t)sg[i].iova;
		f->sgl[i].addr_hi = (uint32_t)(sg[i].iova >> 32);
	}
	if (!nr_sg)	/* no data: one empty element ends the list */
		f->sgl[0].flags_len = MPI_SGE_SIMPLE | MPI_SGE_64BIT;
	f->sgl[nr_sg ? nr_sg - 1 : 0].flags_len |= MPI_SGE_LAST | MPI_SGE_END_OF_BUFFER |
						  MPI_SGE_END_OF_LIST;
}

/* Waits (reaping) for our own command k (0 I/O, 1 TM) to be answered. */
static int wait_internal(struct sp_hba *h, unsigned k)
{
	struct mpi *m = h->priv;
	uint64_t end = deadline(INTERNAL_TIMEOUT_MS);

	while (!m->int_done[k]) {
		reap(h);
		if (m->int_done[k])
			break;
		if (ioc_state(m) == MPI_STATE_FAULT || sp_dev_now_ns() > end)
			return -ETIMEDOUT;
		pause_us(20);
	}
	return 0;
}

/* A SCSI command of our own reading up to len bytes (maybe 0) into m->data;
 * 0 GOOD, -EIO otherwise (ioc and scsi status set). */
static int internal_io(struct sp_hba *h, uint16_t target, uint64_t lun, const uint8_t *cdb,
		       unsigned cdb_len, uint32_t len, uint16_t *ioc, uint8_t *scsi)
{
	struct mpi *m = h->priv;
	struct sp_hba_sg sg = { m->data_iova, len };
	int ret;

	memset(m->data, 0, len);
	build_io(m, int_slot(m), target, lun, cdb, cdb_len,
		 len ? SP_HBA_DIR_FROM_DEV : SP_HBA_DIR_NONE, &sg, len ? 1 : 0, len);
	m->int_done[0] = false;
	post_request(m, int_slot(m));
	ret = wait_internal(h, 0);
	if (ret) {
		/* the slot's context goes stale: a late answer is ignored */
		next_context(m, int_slot(m));
		return ret;
	}
	*ioc = m->int_ioc_status[0];
	*scsi = m->int_scsi_status;
	return *ioc <= MPI_IOCS_SCSI_RECOVERED || *ioc == MPI_IOCS_SCSI_UNDERRUN ?
	       (*scsi ? -EIO : 0) : -EIO;
}

/* IOC_INIT, OPERATIONAL, reply frames posted, port 0 enabled. */
static int ioc_init(struct sp_hba *h, char *why, size_t len)
{
	struct mpi *m = h->priv;
	struct mpi_ioc_init init;
	struct mpi_port_msg pe;
	uint8_t rep[64];
	uint16_t st = 0;
	int ret;

	memset(&init, 0, sizeof(init));
	init.who_init = MPI_WHOINIT_HOST_DRIVER;
	init.function = MPI_FN_IOC_INIT;
	init.max_devices = m->max_devices;
	init.max_buses = m->max_buses;
	init.reply_frame_size = REPLY_SIZE;
	init.host_mfa_high = (uint32_t)(m->frames_iova >> 32);
	init.sense_high = (uint32_t)(m->sense_iova >> 32);
	init.msg_version = m->msg_version;
	init.header_version = m->header_version;
	ret = handshake_ok(m, &init, sizeof(init), rep, sizeof(rep), MPI_FN_IOC_INIT, &st);
	if (ret) {
		snprintf(why, len, "%s: IOC_INIT: %s (IOCStatus 0x%04x)", h->pci.bdf,
			 strerror(-ret), st);
		return ret;
	}
	if (wait_state(m, MPI_STATE_OPERATIONAL, STATE_TIMEOUT_MS) != MPI_STATE_OPERATIONAL) {
		snprintf(why, len, "%s: the IOC did not become OPERATIONAL after IOC_INIT "
			 "(doorbell 0x%08x)", h->pci.bdf, rd(m, MPI_REG_DOORBELL));
		return -ETIMEDOUT;
	}
	for (unsigned i = 0; i < m->nr_replies; i++)
		post_reply_frame(m, i);
	memset(&pe, 0, sizeof(pe));
	pe.function = MPI_FN_PORT_ENABLE;
	ret = handshake_ok(m, &pe, sizeof(pe), rep, sizeof(rep), MPI_FN_PORT_ENABLE, &st);
	if (ret) {
		snprintf(why, len, "%s: PORT_ENABLE: %s (IOCStatus 0x%04x)", h->pci.bdf,
			 strerror(-ret), st);
		return ret;
	}
	return 0;
}

static const char *product(uint16_t device)
{
	switch (device) {
	case 0x0050: return "LSI SAS1064";
	case 0x0054: return "LSI SAS1068";
	case 0x0056: return "LSI SAS1064E";
	case 0x0058: return "LSI SAS1068E";
	default: return "LSI Fusion-MPT SAS";
	}
}

static int mpi_bring_up(struct sp_hba *h, char *why, size_t len)
{
	struct mpi_ioc_facts_reply facts;
	struct mpi_port_facts_reply pf;
	struct mpi_hdr req;
	struct mpi_port_msg pfreq;
	struct mpi *m;
	uint16_t vendor = 0, device = 0, st = 0;
	uint32_t db;
	size_t off, total;
	unsigned credits;
	int ret;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	h->priv = m;
	/* the registers: BAR 1 (BAR 0 is the same in I/O space) */
	m->bar = sp_vfio_pci_bar(&h->pci, 1, MPI_REGS_LEN);
	if (!m->bar) {
		snprintf(why, len, "%s: no mappable memory BAR 1 with the MPI registers",
			 h->pci.bdf);
		return -ENODEV;
	}
	db = rd(m, MPI_REG_DOORBELL);
	if (db == 0xffffffff) {
		snprintf(why, len, "%s: the IOC does not answer", h->pci.bdf);
		return -ENODEV;
	}
	/* no interrupts: completions are polled; INTx off at the PCI level */
	wr(m, MPI_REG_HIM, MPI_HIM_ALL);
	sp_vfio_pci_command(&h->pci, 0x400, 0);
	/* a previous owner's IOC (OPERATIONAL), a fault or a handshake left
	 * half-way: back to READY first */
	if ((db & MPI_STATE_MASK) == MPI_STATE_RESET)
		wait_state(m, MPI_STATE_READY, STATE_TIMEOUT_MS);
	if (ioc_state(m) != MPI_STATE_READY || (rd(m, MPI_REG_DOORBELL) & MPI_DB_ACTIVE)) {
		ret = ioc_reset(m);
		if (ret) {
			snprintf(why, len, "%s: the IOC did not become READY (doorbell 0x%08x)",
				 h->pci.bdf, rd(m, MPI_REG_DOORBELL));
			return ret;
		}
		wr(m, MPI_REG_HIM, MPI_HIM_ALL);
	}
	memset(&req, 0, sizeof(req));
	req.function = MPI_FN_IOC_FACTS;
	ret = handshake_ok(m, &req, sizeof(req), &facts, sizeof(facts), MPI_FN_IOC_FACTS, &st);
	if (ret) {
		snprintf(why, len, "%s: IOC_FACTS: %s (IOCStatus 0x%04x)", h->pci.bdf,
			 strerror(-ret), st);
		return ret;
	}
	/* the IOC's limits, range-checked before use: credits are request
	 * frames it queues, the reply queue depth the replies it holds;
	 * every command may need a reply frame, ours included */
	credits = facts.global_credits < facts.reply_queue_depth ? facts.global_credits :
		  facts.reply_queue_depth;
	if (credits > NR_REPLIES)
		credits = NR_REPLIES;
	if (credits < 8 || facts.request_frame_size * 4u < FRAME_MIN) {
		snprintf(why, len, "%s: the IOC offers %u credits, %u reply queue entries, "
			 "%u-byte frames", h->pci.bdf, facts.global_credits,
			 facts.reply_queue_depth, facts.request_frame_size * 4u);
		return -EPROTO;
	}
	m->nr_replies = credits;
	m->nr_slots = credits - 2 < NR_SLOTS ? credits - 2 : NR_SLOTS;
	m->frame_size = facts.request_frame_size * 4u > FRAME_MAX ? FRAME_MAX :
			facts.request_frame_size * 4u;
	m->max_sge = (m->frame_size - sizeof(struct mpi_scsi_io)) / sizeof(struct mpi_sge64);
	m->max_devices = facts.max_devices;
	m->max_buses = facts.max_buses ? facts.max_buses : 1;
	m->msg_version = facts.msg_version;
	m->header_version = facts.header_version;
	m->max_targets = facts.max_devices ? facts.max_devices : 256;

	/* request frames, reply frames, sense and our data in one mapping,
	 * inside one 4 GiB window: the IOC takes a single high half for
	 * frames, another for sense */
	total = (size_t)(m->nr_slots + 2) * m->frame_size + (size_t)m->nr_replies * REPLY_SIZE +
		(size_t)(m->nr_slots + 1) * SENSE_SIZE + DATA_SIZE;
	ret = sp_vfio_dma_alloc(&h->pci, total, &m->mem);
	if (ret) {
		snprintf(why, len, "%s: DMA memory for the MPI frames: %s", h->pci.bdf,
			 strerror(-ret));
		return ret;
	}
	if ((m->mem.iova >> 32) != ((m->mem.iova + total - 1) >> 32)) {
		snprintf(why, len, "%s: the frames' IOVA range crosses a 4 GiB boundary",
			 h->pci.bdf);
		return -ERANGE;
	}
	off = 0;
#define CARVE(p_, io_, size_) do { \
		(p_) = (void *)((uint8_t *)m->mem.va + off); (io_) = m->mem.iova + off; \
		off += (size_); } while (0)
	CARVE(m->frames, m->frames_iova, (size_t)(m->nr_slots + 2) * m->frame_size);
	CARVE(m->replies, m->replies_iova, (size_t)m->nr_replies * REPLY_SIZE);
	CARVE(m->sense, m->sense_iova, (size_t)(m->nr_slots + 1) * SENSE_SIZE);
	CARVE(m->data, m->data_iova, DATA_SIZE);
#undef CARVE
	for (unsigned i = 0; i < m->nr_slots; i++)
		m->free[i] = (uint16_t)(m->nr_slots - 1 - i);
	m->nr_free = m->nr_slots;
	ret = ioc_init(h, why, len);
	if (ret)
		return ret;
	/* port 0's own limit on the devices behind it */
	memset(&pfreq, 0, sizeof(pfreq));
	pfreq.function = MPI_FN_PORT_FACTS;
	if (!handshake_ok(m, &pfreq, sizeof(pfreq), &pf, sizeof(pf), MPI_FN_PORT_FACTS, &st) &&
	    pf.max_devices && pf.max_devices < m->max_targets)
		m->max_targets = pf.max_devices;
	if (m->max_targets > MAX_TARGETS)
		m->max_targets = MAX_TARGETS;

	sp_vfio_pci_ids(&h->pci, &vendor, &device);
	snprintf(h->model, sizeof(h->model), "%s", product(device));
	snprintf(h->firmware, sizeof(h->firmware), "MPI %u.%02u fw %u.%u.%u.%u",
		 (unsigned)facts.msg_version >> 8, facts.msg_version & 0xffu, facts.fw_major,
		 facts.fw_minor, facts.fw_unit, facts.fw_dev);
	h->max_cmds = m->nr_slots;
	h->max_sg = m->max_sge;
	/* an element's length has 24 bits; the backend moves one element */
	h->max_xfer = 1u << 23;
	return 0;
}

static void mpi_tear_down(struct sp_hba *h)
{
	struct mpi *m = h->priv;

	if (!m)
		return;
	/* the IOC forgets our FIFOs and frames before their memory goes */
	if (m->bar && m->mem.va)
		ioc_reset(m);
	sp_vfio_dma_free(&h->pci, &m->mem);
	free(m);
	h->priv = NULL;
}

/*
 * Targets on bus 0 that answer INQUIRY at LUN 0 with a unit connected;
 * the mid-layer asks them for their other LUNs (REPORT LUNS) itself.
 */
static int mpi_list(struct sp_hba *h, struct sp_hba_unit *u, unsigned max)
{
	struct mpi *m = h->priv;
	unsigned n = 0;

	for (unsigned t = 0; t < m->max_targets && n < max; t++) {
		uint8_t cdb[6] = { 0x12, 0, 0, 0, 36, 0 }, scsi = 0;
		uint16_t ioc = 0;
		int ret = internal_io(h, (uint16_t)t, 0, cdb, 6, 36, &ioc, &scsi);

		if (ret == -ETIMEDOUT)
			return n ? (int)n : ret;
		if (ret || (m->data[0] & 0xe0))
			continue;	/* nobody there, or no unit at LUN 0 */
		u[n++] = (struct sp_hba_unit){ .target = (uint16_t)t, .lun = 0, .logical = false,
					       .dev_type = m->data[0] & 0x1f };
	}
	return (int)n;
}

static int mpi_submit(struct sp_hba *h, struct sp_hba_cmd *c)
{
	struct mpi *m = h->priv;
	unsigned s;

	if (c->cdb_len > 16 || c->nr_sg > m->max_sge || c->target > 0xff || c->lun > 0xff)
		return -EINVAL;
	for (unsigned i = 0; i < c->nr_sg; i++)
		if (!c->sg[i].len || c->sg[i].len > MPI_SGE_LEN_MAX)
			return -EINVAL;
	if (!m->nr_free)
		return -EBUSY;
	s = m->free[--m->nr_free];
	build_io(m, s, c->target, c->lun, c->cdb, c->cdb_len, c->dir, c->sg, c->nr_sg,
		 c->xfer_len);
	m->slot[s] = c;
	sp_hba_cmd_start(h, c, s);
	post_request(m, s);
	return 0;
}

static int mpi_poll(struct sp_hba *h, struct sp_hba_cmd **done, unsigned max)
{
	struct mpi *m = h->priv;
	unsigned n = 0;

	reap(h);
	while (m->ready_nr && n < max) {
		done[n++] = m->ready[m->ready_head];
		m->ready_head = (m->ready_head + 1) % NR_SLOTS;
		m->ready_nr--;
	}
	return (int)n;
}

/*
 * The request the IOC does not answer: an EVENT_ACK for no event. QEMU's
 * 1068 does not implement the function: it faults without a reply (and
 * takes no further request until a reset). A real IOC answers it, with
 * an error status.
 */
static int mpi_submit_held(struct sp_hba *h, struct sp_hba_cmd *c)
{
	struct mpi *m = h->priv;
	struct mpi_hdr *f;
	unsigned s;

	if (c->target > 0xff || c->lun > 0xff)
		return -EINVAL;
	if (!m->nr_free)
		return -EBUSY;
	s = m->free[--m->nr_free];
	f = slot_frame(m, s);
	/* EventAck: the header, then Event and EventContext, both 0 */
	memset(f, 0, sizeof(*f) + 8);
	f->function = MPI_FN_EVENT_ACK;
	f->context = next_context(m, s);
	m->slot[s] = c;
	c->xfer_len = 0;
	sp_hba_cmd_start(h, c, s);
	post_request(m, s);
	return 0;
}

/*
 * ABORT TASK through the Request FIFO, naming the command's context;
 * waited for. The command itself then completes through poll: aborted
 * (TERMINATED), or done if it finished first.
 */
static int mpi_abort(struct sp_hba *h, struct sp_hba_cmd *c)
{
	struct mpi *m = h->priv;
	struct mpi_task_mgmt *f = slot_frame(m, tm_slot(m));
	const struct mpi_scsi_io *victim;
	int ret;

	if (c->slot >= m->nr_slots || m->slot[c->slot] != c)
		return -ENOENT;
	victim = slot_frame(m, c->slot);
	memset(f, 0, sizeof(*f));
	f->target = victim->target;
	f->function = MPI_FN_TASK_MGMT;
	f->task_type = MPI_TM_ABORT_TASK;
	f->context = next_context(m, tm_slot(m));
	memcpy(f->lun, victim->lun, 8);
	f->task_context = victim->context;
	m->int_done[1] = false;
	post_request(m, tm_slot(m));
	ret = wait_internal(h, 1);
	if (ret) {
		next_context(m, tm_slot(m));
		return ret;
	}
	return m->int_ioc_status[1] == MPI_IOCS_SUCCESS && m->int_tm_response == 0 ? 0 : -EIO;
}

/*
 * Message-unit reset (a diagnostic reset if that fails), which drops
 * every request and reply frame the IOC held, then IOC_INIT and the
 * rest again; the commands in flight complete with host RESET.
 */
static int mpi_reset(struct sp_hba *h)
{
	struct mpi *m = h->priv;
	char why[160];
	int ret;

	reap(h);	/* what completed before the reset counts */
	ret = ioc_reset(m);
	wr(m, MPI_REG_HIM, MPI_HIM_ALL);
	for (unsigned s = 0; s < m->nr_slots; s++) {
		struct sp_hba_cmd *c = m->slot[s];

		if (!c)
			continue;
		c->host = SP_HBA_RESET;
		c->scsi_status = 0;
		c->resid = c->xfer_len;
		next_context(m, s);
		finish(h, s, sp_dev_now_ns());
	}
	memset(m->posted, 0, sizeof(m->posted));
	if (ret)
		return ret;
	ret = ioc_init(h, why, sizeof(why));
	if (ret)
		return ret;
	/*
	 * The reset reached the disks too: each answers its next command
	 * with UNIT ATTENTION (power on or reset). As the kernel's error
	 * handler does after a host reset, TEST UNIT READY (LUN 0 of every
	 * target on bus 0) takes that answer here, so the I/O path, which
	 * does not retry, finds the disks ready. An IOC that lets one of
	 * them time out answers nothing: the sweep stops there rather than
	 * wait the full time-out on each of up to 128 targets, the HBA's
	 * lock held.
	 */
	for (unsigned t = 0; t < m->max_targets; t++) {
		uint8_t cdb[6] = { 0 }, scsi = 0;
		uint16_t ioc = 0;
		int r = 0;

		for (unsigned tries = 0; tries < 3; tries++)
			if ((r = internal_io(h, (uint16_t)t, 0, cdb, 6, 0, &ioc, &scsi)) != -EIO ||
			    scsi != 0x02)
				break;	/* ready, nobody there, or another answer */
		if (r == -ETIMEDOUT)
			return r;
	}
	return 0;
}

static const struct sp_hba_id mpi_ids[] = {
	{ 0x1000, 0x0050 },	/* SAS1064 */
	{ 0x1000, 0x0054 },	/* SAS1068 (QEMU's mptsas1068) */
	{ 0x1000, 0x0056 },	/* SAS1064E */
	{ 0x1000, 0x0058 },	/* SAS1068E */
	{ 0, 0 },
};

const struct sp_hba_ops sp_hba_mpi = {
	.name = "mpi",
	.desc = "Fusion-MPT MPI 1.5 (mptsas family), polled Reply Post FIFO",
	.ids = mpi_ids,
	.bring_up = mpi_bring_up,
	.tear_down = mpi_tear_down,
	.list = mpi_list,
	.submit = mpi_submit,
	.poll = mpi_poll,
	.abort = mpi_abort,
	.reset = mpi_reset,
	.submit_held = mpi_submit_held,
	.held_desc = "an EVENT_ACK for no event, which QEMU's 1068 does not implement "
		     "(its IOC faults without answering; a real IOC answers it)",
};
