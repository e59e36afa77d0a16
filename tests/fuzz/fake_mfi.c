// SPDX-License-Identifier: MIT
/*
 * A model of an MFI HBA (QEMU's megasas-gen2 as hba_mfi.c drives it)
 * for the fake device: the firmware state in scratch pad 0, frames taken
 * by address from the inbound queue port, internal frames answered in
 * their status byte at once, SCSI frames held until a tick, then
 * answered in their frame and by their context in the reply queue.
 * What it answers is the input's whenever the input says so.
 */
#include <string.h>

#include "fake_dev.h"

#define REG_IDB		0x20
#define REG_OSP0	0xb0
#define REG_IQPL	0xc0
#define REG_IQPH	0xc4
#define STATE_READY	0xb0000000u
#define STATE_OPER	0xc0000000u

enum { CMD_INIT = 0, CMD_LD_SCSI = 3, CMD_PD_SCSI = 4, CMD_DCMD = 5, CMD_ABORT = 6 };

#define MAX_HELD	512

static struct {
	uint32_t state, hi;
	bool up;
	uint64_t rq, pi, ci;
	uint32_t entries, prod;
	uint64_t held[MAX_HELD];	/* frame addresses of SCSI frames not yet answered */
	unsigned nr_held;
	bool mute, sticky;		/* no frame answered (after resets too) */
} d;

static void mute(bool sticky)
{
	d.mute = true;
	d.sticky = sticky;
}

static void reset(void)
{
	memset(&d, 0, sizeof(d));
	/* 64 commands, 16 scatter entries: what QEMU's model offers, about */
	d.state = STATE_READY | 16u << 16 | 64u;
}

static uint32_t rd(uint32_t off)
{
	return fz_reg_or(off == REG_OSP0 ? d.state : 0);
}

static void *frame_at(uint64_t a, size_t len)
{
	void *f = fake_dma(a, len);

	if (!f)
		fake_bug("MFI: a frame at unmapped IOVA 0x%llx (%zu bytes)",
			 (unsigned long long)a, len);
	return f;
}

/* Posts ctx in the reply queue and moves the producer (or what the
 * input says instead). */
static void reply(uint32_t ctx)
{
	uint32_t *rq, *pi;

	if (!d.up)
		return;
	rq = fake_dma(d.rq, (size_t)d.entries * 4);
	pi = fake_dma(d.pi, 4);
	if (!rq || !pi)
		fake_bug("MFI: the reply queue is not mapped");
	rq[d.prod] = fz_or(ctx);
	d.prod = d.prod + 1 == d.entries ? 0 : d.prod + 1;
	*pi = fz_or(d.prod);
}

/* What a DCMD reads: a small healthy answer, mangled as the input says. */
static void dcmd_data(uint8_t *f)
{
	uint32_t opcode, len;
	uint64_t addr;
	uint8_t *p;

	memcpy(&opcode, f + 24, 4);
	memcpy(&addr, f + 40, 8);
	memcpy(&len, f + 48, 4);
	if (f[7] == 0)
		return;
	p = fake_dma(addr, len);
	if (!p)
		fake_bug("MFI: DCMD 0x%08x reads into unmapped 0x%llx+%u", opcode,
			 (unsigned long long)addr, len);
	memset(p, 0, len);
	switch (opcode) {
	case 0x01010000:	/* controller info: the name at 1344 */
		if (len >= 1344 + 9)
			memcpy(p + 1344, "Fake MFI", 9);
		break;
	case 0x03010000:	/* LD list: one drive, target 0 */
		if (len >= 24) {
			p[0] = 1;
			p[8] = 0;
			p[16] = 0x10;
		}
		break;
	case 0x02010000:	/* PD list: one disk, device id 0x100 */
		if (len >= 32) {
			p[4] = 1;
			p[9] = 1;
		}
		break;
	case 0x01040100:	/* event log info: newest sequence number */
		if (len >= 4)
			p[0] = 5;
		break;
	default:
		break;
	}
	fz_mangle(p, len);
}

static void frame(uint64_t a, unsigned extra)
{
	uint8_t *f = frame_at(a, 64 * (extra + 1));
	uint64_t ctx;

	if (!d.mute && fz_hostile() && fz_u8() < 0x20)
		mute(fz_u8() & 1);
	if (d.mute)
		return;

	memcpy(&ctx, f + 8, 8);
	switch (f[0]) {
	case CMD_INIT: {
		uint32_t q[8];
		uint64_t qa = (uint64_t)(f[24] | f[25] << 8 | f[26] << 16 | (uint32_t)f[27] << 24) |
			      (uint64_t)(f[28] | f[29] << 8 | f[30] << 16 | (uint32_t)f[31] << 24) << 32;

		memcpy(q, frame_at(qa, 32), 32);
		d.entries = q[1];
		d.rq = q[2] | (uint64_t)q[3] << 32;
		d.pi = q[4] | (uint64_t)q[5] << 32;
		d.ci = q[6] | (uint64_t)q[7] << 32;
		if (!d.entries || !fake_dma(d.rq, (size_t)d.entries * 4) || !fake_dma(d.pi, 4) ||
		    !fake_dma(d.ci, 4))
			fake_bug("MFI: INIT names an unmapped reply queue");
		d.prod = 0;
		d.up = true;
		d.state = (d.state & ~0xf0000000u) | STATE_OPER;
		f[2] = (uint8_t)fz_or(0);
		break;
	}
	case CMD_DCMD: {
		uint32_t opcode;

		memcpy(&opcode, f + 24, 4);
		/* an event wait is held: answered by no healthy firmware here */
		if (opcode == 0x01040500 && !fz_hostile())
			goto hold;
		dcmd_data(f);
		f[2] = (uint8_t)fz_or(0);
		break;
	}
	case CMD_ABORT: {
		uint64_t victim;

		memcpy(&victim, f + 24, 8);
		f[2] = (uint8_t)fz_or(0);
		/* the aborted frame completes, failed, when it is held */
		for (unsigned i = 0; i < d.nr_held; i++) {
			uint8_t *v = frame_at(d.held[i], 64);
			uint64_t vctx;

			memcpy(&vctx, v + 8, 8);
			if (vctx == victim && !fz_hostile()) {
				v[2] = 0x2e;
				d.held[i] = d.held[--d.nr_held];
				reply((uint32_t)vctx);
				break;
			}
		}
		break;
	}
	case CMD_LD_SCSI:
	case CMD_PD_SCSI:
		/* the scatter list must lie inside the frames posted */
		if (48 + f[7] * 12u > 64 * (extra + 1))
			fake_bug("MFI: %u scatter entries in %u frames", f[7], extra + 1);
		for (unsigned i = 0; i < f[7]; i++) {
			uint64_t sa;
			uint32_t sl;

			memcpy(&sa, f + 48 + i * 12, 8);
			memcpy(&sl, f + 56 + i * 12, 4);
			if (!fake_dma(sa, sl))
				fake_bug("MFI: scatter entry %u at unmapped 0x%llx+%u", i,
					 (unsigned long long)sa, sl);
		}
		goto hold;
	default:
		f[2] = (uint8_t)fz_or(0x01);	/* invalid command */
		break;
	}
	if (!fz_hostile())
		reply((uint32_t)ctx);	/* QEMU posts internal frames' contexts too */
	return;
hold:
	if (d.nr_held < MAX_HELD)
		d.held[d.nr_held++] = a;
}

static void wr(uint32_t off, uint32_t v)
{
	switch (off) {
	case REG_IDB:
		if (v & 0x2) {		/* back to READY: frames and queue dropped */
			d.up = false;
			d.mute = d.sticky;
			d.nr_held = 0;
			d.state = (d.state & ~0xf0000000u) | STATE_READY;
		}
		break;
	case REG_IQPH:
		d.hi = v;
		break;
	case REG_IQPL:
		frame((uint64_t)d.hi << 32 | (v & ~0x3fu), (v >> 1) & 0xf);
		break;
	default:
		break;
	}
}

/* Answers the held SCSI frames the input lets go (all of them when it
 * is out), with status, sense and a stray context now and then. */
static void tick(void)
{
	if (d.mute)
		return;
	for (unsigned i = 0; i < d.nr_held;) {
		uint8_t *f = frame_at(d.held[i], 64);
		uint64_t ctx;

		if (fz_hostile()) {	/* keep this one a while */
			i++;
			continue;
		}
		memcpy(&ctx, f + 8, 8);
		f[2] = 0;
		f[3] = 0;
		if (fz_hostile()) {
			/* the statuses the driver tells apart, or any byte */
			static const uint8_t st[] = { 0x2d, 0x2d, 0x0c, 0x2e, 0xff, 0x03 };
			uint8_t pick = fz_u8();

			f[2] = pick < 0xc0 ? st[pick % sizeof(st)] : fz_u8();
			f[3] = f[2] == 0x2d && pick < 0x80 ? 0x02 : fz_u8();
			f[1] = (uint8_t)fz_or(f[1]);
		}
		if (f[2] == 0x2d) {	/* SCSI error: sense */
			uint64_t sa = f[24] | f[25] << 8 | f[26] << 16 | (uint64_t)f[27] << 24 |
				      (uint64_t)(f[28] | f[29] << 8 | f[30] << 16 |
						 (uint32_t)f[31] << 24) << 32;
			uint8_t *s = fake_dma(sa, 128);

			if (!s)
				fake_bug("MFI: sense buffer at unmapped 0x%llx",
					 (unsigned long long)sa);
			memset(s, 0, 128);
			s[0] = 0x70;
			s[2] = 0x05;
			s[7] = 10;
			s[12] = 0x21;
			fz_mangle(s, 128);
		}
		d.held[i] = d.held[--d.nr_held];
		reply((uint32_t)ctx);
	}
	if (fz_hostile())
		reply(fz_u32());	/* a context nobody sent */
}

const struct fake_model fake_mfi = {
	.name = "mfi",
	.vendor = 0x1000,
	.device = 0x0079,
	.bar = 1,
	.reset = reset,
	.rd = rd,
	.wr = wr,
	.tick = tick,
	.mute = mute,
};
