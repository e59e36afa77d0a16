// SPDX-License-Identifier: MIT
/*
 * A model of a Fusion-MPT IOC (QEMU's mptsas1068 as hba_mpi.c drives
 * it) for the fake device: the doorbell with its state and handshake
 * (request dwords in, reply 16 bits at a time out, paced by the
 * doorbell bit of the interrupt status), the Request FIFO, the Reply
 * Free FIFO and the Reply Post FIFO. Requests are answered when the
 * driver reads the Reply Post FIFO and finds it empty: by turbo reply,
 * by an address reply in one of the frames the driver handed over, or
 * not yet. What it answers is the input's whenever the input says so.
 */
#include <string.h>

#include "fake_dev.h"

#define REG_DOORBELL	0x00
#define REG_DIAG	0x08
#define REG_HIS		0x30
#define REG_REQ_FIFO	0x40
#define REG_REPLY_FIFO	0x44

#define ST_RESET	0x00000000u
#define ST_READY	0x10000000u
#define ST_OPER		0x20000000u
#define DB_ACTIVE	0x08000000u
#define HIS_DOORBELL	0x1u

enum { FN_SCSI_IO = 0x00, FN_TASK_MGMT = 0x01, FN_IOC_INIT = 0x02, FN_IOC_FACTS = 0x03,
       FN_PORT_FACTS = 0x05, FN_PORT_ENABLE = 0x06, FN_EVENT_ACK = 0x08,
       FN_MSG_UNIT_RESET = 0x40, FN_HANDSHAKE = 0x42 };

#define MAX_Q		1024

enum phase { IDLE, REQ_ACK, REQ, REPLY };

static struct {
	uint32_t state;
	enum phase phase;
	uint32_t req[64];
	unsigned req_n, req_want;
	uint16_t rep[256];
	unsigned rep_n, rep_pos;
	uint32_t mfa_high, sense_high;
	uint32_t free_q[MAX_Q];		/* reply frames the driver handed over */
	unsigned free_head, free_nr;
	uint32_t post_q[MAX_Q];		/* what the Reply Post FIFO reads next */
	unsigned post_head, post_nr;
	uint32_t held[MAX_Q];		/* low halves of request frames not answered */
	unsigned nr_held;
	bool mute, sticky;		/* no request answered (after resets too) */
} d;

static void mute(bool sticky)
{
	d.mute = true;
	d.sticky = sticky;
}

static void reset(void)
{
	memset(&d, 0, sizeof(d));
	d.state = ST_READY;
}

static void q_push(uint32_t *q, unsigned *head, unsigned *nr, uint32_t v)
{
	if (*nr < MAX_Q)
		q[(*head + (*nr)++) % MAX_Q] = v;
}

static uint32_t q_pop(uint32_t *q, unsigned *head, unsigned *nr)
{
	uint32_t v = q[*head];

	*head = (*head + 1) % MAX_Q;
	(*nr)--;
	return v;
}

static void drop_all(void)
{
	d.mute = d.sticky;
	d.free_nr = d.post_nr = d.nr_held = 0;
	d.phase = IDLE;
}

static uint8_t *req_frame(uint32_t lo, size_t len)
{
	uint8_t *f = fake_dma((uint64_t)d.mfa_high << 32 | lo, len);

	if (!f)
		fake_bug("MPI: a request frame at unmapped 0x%x:%08x", d.mfa_high, lo);
	return f;
}

/* The handshake's reply to the request in d.req: healthy, then mangled. */
static void handshake_reply(void)
{
	uint8_t r[128], fn = (uint8_t)(d.req[0] >> 24);
	unsigned len = 20;

	memset(r, 0, sizeof(r));
	r[3] = fn;
	memcpy(r + 8, &d.req[2], 4);		/* context */
	switch (fn) {
	case FN_IOC_FACTS:
		len = 0x50;
		r[0x14] = 0;			/* max chain depth ... */
		r[0x18] = 64;			/* reply queue depth */
		r[0x1a] = 32;			/* request frame size: 128 bytes */
		r[0x24] = 64;			/* global credits */
		r[0x26] = 1;			/* ports */
		r[0x2e] = fake_knobs.any_devices ? 0 : 8;	/* max devices */
		r[0x2f] = 1;			/* max buses */
		break;
	case FN_IOC_INIT:
		d.mfa_high = d.req[4];
		d.sense_high = d.req[5];
		d.state = ST_OPER;
		break;
	case FN_PORT_FACTS:
		len = 0x28;
		r[0x16] = fake_knobs.any_devices ? 0 : 4;	/* max devices */
		break;
	default:
		break;
	}
	r[2] = (uint8_t)(len / 4);
	fz_mangle(r, sizeof(r));
	/* what the header says is what the IOC offers, within its buffer */
	d.rep_n = r[2] * 2u;
	if (d.rep_n > sizeof(r) / 2)
		d.rep_n = sizeof(r) / 2;
	memcpy(d.rep, r, d.rep_n * 2);
	d.rep_pos = 0;
	d.phase = d.rep_n ? REPLY : IDLE;
}

static uint32_t rd(uint32_t off)
{
	uint32_t v = 0;

	switch (off) {
	case REG_DOORBELL:
		v = d.state | (d.phase != IDLE ? DB_ACTIVE : 0);
		if (d.phase == REPLY && d.rep_pos < d.rep_n) {
			v |= d.rep[d.rep_pos++];
			if (d.rep_pos == d.rep_n)
				d.phase = IDLE;
		}
		break;
	case REG_HIS:
		v = d.phase == REQ_ACK || d.phase == REPLY ? HIS_DOORBELL : 0;
		break;
	case REG_REPLY_FIFO:
		if (fz_hostile())
			return fz_u32();	/* anything at all */
		if (!d.post_nr) {
			/* the device makes progress while the driver looks */
			extern void fake_mpi_progress(void);

			fake_mpi_progress();
		}
		return d.post_nr ? q_pop(d.post_q, &d.post_head, &d.post_nr) : 0xffffffffu;
	default:
		break;
	}
	return fz_reg_or(v);
}

/* Answers held requests the input lets go (all, once it is out). */
void fake_mpi_progress(void);
void fake_mpi_progress(void)
{
	if (!d.mute && fz_hostile() && fz_u8() < 0x20)
		mute(fz_u8() & 1);
	if (d.mute)
		return;
	for (unsigned i = 0; i < d.nr_held;) {
		uint32_t lo = d.held[i], ctx;
		uint8_t *f = req_frame(lo, 48);

		memcpy(&ctx, f + 8, 4);
		if (f[3] == FN_EVENT_ACK || fz_hostile()) {
			i++;		/* unanswered, as QEMU's 1068 does; or not yet */
			continue;
		}
		d.held[i] = d.held[--d.nr_held];
		if (f[3] == FN_SCSI_IO) {
			/* data in: INQUIRY from target 0 is a disk, others absent */
			uint32_t fl, alo, ahi;
			uint8_t *p;

			memcpy(&fl, f + 0x30, 4);
			memcpy(&alo, f + 0x34, 4);
			memcpy(&ahi, f + 0x38, 4);
			if ((fl & 0xffffff) && !(fl & 0x04000000)) {
				p = fake_dma((uint64_t)ahi << 32 | alo, fl & 0xffffff);
				if (!p)
					fake_bug("MPI: data buffer at unmapped 0x%x:%08x", ahi, alo);
				memset(p, 0, fl & 0xffffff);
				if (f[0x18] == 0x12)
					p[0] = f[0] == 0 ? 0x00 : 0x7f;
				fz_mangle(p, fl & 0xffffff);
			}
		}
		if (!fz_hostile()) {
			q_push(d.post_q, &d.post_head, &d.post_nr, fz_or(ctx));	/* turbo */
		} else if (d.free_nr) {
			uint32_t a = q_pop(d.free_q, &d.free_head, &d.free_nr);
			uint8_t *r = fake_dma((uint64_t)d.mfa_high << 32 | a, 128);

			if (!r)
				fake_bug("MPI: a reply frame at unmapped 0x%08x", a);
			memset(r, 0, 128);
			r[2] = 9;
			r[3] = f[3];
			memcpy(r + 8, &ctx, 4);
			if (f[3] == FN_SCSI_IO) {
				uint32_t slo;
				uint8_t *s;

				r[12] = 0x02;	/* CHECK CONDITION, autosense */
				r[13] = 0x01;
				r[0x14] = 18;
				memcpy(&slo, f + 0x2c, 4);
				s = fake_dma((uint64_t)d.sense_high << 32 | slo, 96);
				if (!s)
					fake_bug("MPI: sense buffer at unmapped 0x%x:%08x",
						 d.sense_high, slo);
				memset(s, 0, 96);
				s[0] = 0x70;
				s[2] = 0x05;
				s[7] = 10;
				s[12] = 0x24;
				fz_mangle(s, 96);
			}
			fz_mangle(r, 128);
			q_push(d.post_q, &d.post_head, &d.post_nr, 0x80000000u | a >> 1);
		} else {
			d.held[d.nr_held++] = lo;	/* no reply frame: later */
			break;
		}
	}
}

static void wr(uint32_t off, uint32_t v)
{
	switch (off) {
	case REG_DOORBELL:
		if (d.phase == REQ) {
			if (d.req_n < 64)
				d.req[d.req_n] = v;
			if (++d.req_n >= d.req_want)
				handshake_reply();
			break;
		}
		switch (v >> 24) {
		case FN_MSG_UNIT_RESET:
			drop_all();
			d.state = ST_READY;
			break;
		case FN_HANDSHAKE:
			d.req_want = (v >> 16) & 0xff;
			d.req_n = 0;
			memset(d.req, 0, sizeof(d.req));
			d.phase = REQ_ACK;
			break;
		default:
			break;
		}
		break;
	case REG_HIS:
		if (d.phase == REQ_ACK)
			d.phase = d.req_want ? REQ : IDLE;
		if (d.phase == REQ && !d.req_want)
			handshake_reply();
		break;
	case REG_DIAG:
		if (v & 0x4) {
			drop_all();
			d.state = ST_READY;
		}
		break;
	case REG_REQ_FIFO:
		req_frame(v, 48);
		if (d.nr_held < MAX_Q)
			d.held[d.nr_held++] = v;
		break;
	case REG_REPLY_FIFO:
		if (!fake_dma((uint64_t)d.mfa_high << 32 | v, 128))
			fake_bug("MPI: a free reply frame at unmapped 0x%08x", v);
		q_push(d.free_q, &d.free_head, &d.free_nr, v);
		break;
	default:
		break;
	}
}

const struct fake_model fake_mpi = {
	.name = "mpi",
	.vendor = 0x1000,
	.device = 0x0054,
	.bar = 1,
	.reset = reset,
	.rd = rd,
	.wr = wr,
	.tick = NULL,
	.mute = mute,
};
