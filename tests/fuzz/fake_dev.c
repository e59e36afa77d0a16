// SPDX-License-Identifier: MIT
/*
 * The fake PCI device and the session that drives an HBA driver against
 * it (see fake_dev.h). Replaces passthru/vfio_pci.c in the binaries
 * built with -DSP_VFIO_FAKE.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_dev.h"
#include "hba.h"
#include "vfio_pci.h"

/* ------------------------------------------------------------ input */

static const uint8_t *in, *script, *regs;
static size_t in_len, in_pos, script_len, script_pos, regs_len, regs_pos;

/* The session's own decisions come from a script of their own, so that
 * what the device answers does not shift them. */
static uint8_t sc_u8(void)
{
	return script_pos < script_len ? script[script_pos++] : 0;
}

bool fz_left(void)
{
	return in_pos < in_len;
}

uint8_t fz_u8(void)
{
	return in_pos < in_len ? in[in_pos++] : 0;
}

uint16_t fz_u16(void)
{
	return (uint16_t)(fz_u8() | fz_u8() << 8);
}

uint32_t fz_u32(void)
{
	return (uint32_t)fz_u16() | (uint32_t)fz_u16() << 16;
}

/* One control byte in eight (0xe0 and up) turns an answer hostile. */
bool fz_hostile(void)
{
	return fz_u8() >= 0xe0;
}

uint32_t fz_or(uint32_t def)
{
	return fz_hostile() ? fz_u32() : def;
}

/* Register reads have a stream of their own: a bring-up polls many of
 * them and would otherwise use up the input before the first reply. */
static uint8_t reg_u8(void)
{
	return regs_pos < regs_len ? regs[regs_pos++] : 0;
}

uint32_t fz_reg_or(uint32_t def)
{
	if (reg_u8() < 0xe0)
		return def;
	return (uint32_t)reg_u8() | (uint32_t)reg_u8() << 8 | (uint32_t)reg_u8() << 16 |
	       (uint32_t)reg_u8() << 24;
}

void fz_mangle(void *p, size_t len)
{
	uint8_t *b = p;

	while (len && fz_hostile()) {
		size_t off = fz_u16() % len, n = fz_u8() % 16 + 1;

		for (size_t i = 0; i < n && off + i < len; i++)
			b[off + i] = fz_u8();
	}
}

/* ------------------------------------------------------------ clock */

/* Virtual time: every look at the clock moves it 1 ms, every pause by
 * its length, so that a driver's 30 s time-out passes in microseconds;
 * a session longer than any sum of time-outs is a driver that waits
 * forever. */
#define FAKE_TIME_LIMIT_NS	(3600ULL * 1000000000ULL)
static uint64_t fake_now;

static void check_time(void)
{
	if (fake_now > FAKE_TIME_LIMIT_NS)
		fake_bug("the driver has waited for an hour of device time");
}

uint64_t sp_fake_now_ns(void)
{
	fake_now += 1000000;
	check_time();
	return fake_now;
}

void sp_fake_pause_ns(uint64_t ns)
{
	fake_now += ns < FAKE_TIME_LIMIT_NS ? ns : FAKE_TIME_LIMIT_NS;
	check_time();
}

_Noreturn void fake_bug(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fake device: driver bug: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

/* ------------------------------------------------------------ vfio_pci */

static const struct fake_model *model;
struct fake_knobs fake_knobs;

#define FAKE_BAR_LEN	0x4000u
#define FAKE_MAPS	16
#define FAKE_IOVA_BASE	0x10000000ULL

static struct {
	void *va;
	uint64_t iova;
	size_t len;
} maps[FAKE_MAPS];
static uint64_t next_iova;
static unsigned nr_maps;

void *fake_dma(uint64_t iova, size_t len)
{
	for (unsigned i = 0; i < FAKE_MAPS; i++)
		if (maps[i].va && iova >= maps[i].iova && len <= maps[i].len &&
		    iova - maps[i].iova <= maps[i].len - len)
			return (char *)maps[i].va + (iova - maps[i].iova);
	return NULL;
}

uint32_t sp_fake_mmio_rd32(const void *bar, uint32_t off)
{
	if (off > FAKE_BAR_LEN - 4 || off % 4)
		fake_bug("register read at 0x%x", off);
	(void)bar;
	return model->rd(off);
}

void sp_fake_mmio_wr32(void *bar, uint32_t off, uint32_t v)
{
	if (off > FAKE_BAR_LEN - 4 || off % 4)
		fake_bug("register write at 0x%x", off);
	(void)bar;
	model->wr(off, v);
}

void sp_vfio_pci_usage(struct sp_vfio_pci_usage *u)
{
	memset(u, 0, sizeof(*u));
	u->dma_maps = nr_maps;
}

int sp_vfio_pci_open(struct sp_vfio_pci *p, const char *bdf, char *why, size_t len)
{
	memset(p, 0, sizeof(*p));
	p->container = p->group = p->device = -1;
	snprintf(p->bdf, sizeof(p->bdf), "%s", bdf);
	(void)why;
	(void)len;
	return 0;
}

void sp_vfio_pci_close(struct sp_vfio_pci *p)
{
	for (unsigned i = 0; i < SP_VFIO_NR_BARS; i++)
		free(p->bar[i].va);
	memset(p, 0, sizeof(*p));
}

void *sp_vfio_pci_bar(struct sp_vfio_pci *p, unsigned idx, size_t min_len)
{
	if (idx != model->bar || min_len > FAKE_BAR_LEN) {
		errno = ENODEV;
		return NULL;
	}
	if (!p->bar[idx].va) {
		p->bar[idx].va = calloc(1, FAKE_BAR_LEN);
		p->bar[idx].len = FAKE_BAR_LEN;
	}
	return p->bar[idx].va;
}

int sp_vfio_pci_cfg_read(struct sp_vfio_pci *p, uint32_t off, void *buf, size_t len)
{
	memset(buf, 0, len);
	return 0;
}

int sp_vfio_pci_cfg_write(struct sp_vfio_pci *p, uint32_t off, const void *buf, size_t len)
{
	return 0;
}

int sp_vfio_pci_command(struct sp_vfio_pci *p, uint16_t set, uint16_t clear)
{
	return 0;
}

int sp_vfio_pci_ids(struct sp_vfio_pci *p, uint16_t *vendor, uint16_t *device)
{
	*vendor = model->vendor;
	*device = model->device;
	return 0;
}

int sp_vfio_dma_map(struct sp_vfio_pci *p, void *va, size_t len, uint64_t align,
		    uint64_t *iova)
{
	for (unsigned i = 0; i < FAKE_MAPS; i++)
		if (!maps[i].va) {
			maps[i].va = va;
			maps[i].len = len;
			maps[i].iova = next_iova;
			*iova = next_iova;
			/* a gap after each: a DMA that runs past its end hits nothing */
			next_iova += (len + (1 << 20) + 0xfffff) & ~0xfffffULL;
			nr_maps++;
			return 0;
		}
	return -ENOSPC;
}

void sp_vfio_dma_unmap(struct sp_vfio_pci *p, uint64_t iova, size_t len)
{
	for (unsigned i = 0; i < FAKE_MAPS; i++)
		if (maps[i].va && maps[i].iova == iova) {
			if (maps[i].len != len)
				fake_bug("unmap of %zu bytes of a %zu-byte mapping", len, maps[i].len);
			memset(&maps[i], 0, sizeof(maps[i]));
			nr_maps--;
			return;
		}
	fake_bug("unmap of IOVA 0x%llx, never mapped", (unsigned long long)iova);
}

int sp_vfio_dma_alloc(struct sp_vfio_pci *p, size_t len, struct sp_dma *d)
{
	void *va;
	int ret;

	len = (len + SP_VFIO_PAGE - 1) & ~(size_t)(SP_VFIO_PAGE - 1);
	va = aligned_alloc(SP_VFIO_PAGE, len);
	if (!va)
		return -ENOMEM;
	memset(va, 0, len);
	ret = sp_vfio_dma_map(p, va, len, SP_VFIO_PAGE, &d->iova);
	if (ret) {
		free(va);
		return ret;
	}
	d->va = va;
	d->len = len;
	d->ours = true;
	return 0;
}

void sp_vfio_dma_free(struct sp_vfio_pci *p, struct sp_dma *d)
{
	if (!d->va)
		return;
	sp_vfio_dma_unmap(p, d->iova, d->len);
	free(d->va);
	memset(d, 0, sizeof(*d));
}

/* ------------------------------------------------------------ session */

#define NR_CMDS		32
#define BUF_LEN		(NR_CMDS * 4096)

static struct sp_hba_cmd cmds[NR_CMDS];
static struct sp_hba_sg sgs[NR_CMDS][2];
static bool out[NR_CMDS];		/* submitted, not yet handed back */
static unsigned nr_out;

static void check_done(struct sp_hba *h, struct sp_hba_cmd **done, int n, unsigned max,
		       struct fake_stats *st)
{
	if (n < 0 || (unsigned)n > max)
		fake_bug("poll returned %d of at most %u", n, max);
	for (int i = 0; i < n; i++) {
		struct sp_hba_cmd *c = done[i];
		ptrdiff_t k = c - cmds;

		if (k < 0 || k >= NR_CMDS || c != &cmds[k])
			fake_bug("poll returned a command never submitted");
		if (!out[k])
			fake_bug("command %td completed twice", k);
		if (c->inflight)
			fake_bug("command %td returned while in flight", k);
		if (c->sense_len > SP_HBA_SENSE_MAX || c->resid > c->xfer_len ||
		    c->host > SP_HBA_ERROR)
			fake_bug("command %td: sense %u, resid %u of %u, host %u", k,
				 c->sense_len, c->resid, c->xfer_len, c->host);
		out[k] = false;
		nr_out--;
		st->completed++;
	}
	if (h->inflight != nr_out)
		fake_bug("the driver counts %u in flight, %u are", h->inflight, nr_out);
}

static void poll_some(struct sp_hba *h, struct sp_hba_queue *q, struct fake_stats *st)
{
	struct sp_hba_cmd *done[NR_CMDS];

	if (model->tick)
		model->tick();
	check_done(h, done, sp_hba_poll(h, q, done, NR_CMDS), NR_CMDS, st);
}

static void submit_one(struct sp_hba *h, struct sp_hba_queue *q, struct sp_dma *buf,
		       unsigned k, const struct sp_hba_unit *u, unsigned nu, struct fake_stats *st)
{
	struct sp_hba_cmd *c = &cmds[k];
	uint8_t kind = sc_u8() % 4;
	uint32_t lba = sc_u8();

	memset(c, 0, sizeof(*c));
	if (nu) {
		c->target = u[sc_u8() % nu].target;
		c->lun = u[0].lun;
	}
	c->q = q;
	c->sg = sgs[k];
	if (kind == 0) {		/* TEST UNIT READY: no data */
		c->cdb_len = 6;
		c->dir = SP_HBA_DIR_NONE;
	} else {			/* READ(10), WRITE(10): 4 KiB in one or two pieces */
		c->cdb[0] = kind == 1 ? 0x2a : 0x28;
		c->cdb[5] = (uint8_t)lba;
		c->cdb[8] = 8;
		c->cdb_len = 10;
		c->dir = kind == 1 ? SP_HBA_DIR_TO_DEV : SP_HBA_DIR_FROM_DEV;
		c->nr_sg = kind == 3 ? 2 : 1;
		sgs[k][0] = (struct sp_hba_sg){ buf->iova + k * 4096, c->nr_sg == 2 ? 2048 : 4096 };
		sgs[k][1] = (struct sp_hba_sg){ buf->iova + k * 4096 + 2048, 2048 };
		c->xfer_len = 4096;
	}
	if (c->nr_sg > h->max_sg)
		c->nr_sg = 1, sgs[k][0].len = 4096;
	if (sp_hba_submit(h, c) == 0) {
		out[k] = true;
		nr_out++;
		st->submitted++;
	}
}

void fake_session(const struct fake_model *m, const uint8_t *sc, size_t sc_len,
		  const uint8_t *data, size_t size, struct fake_stats *st)
{
	struct sp_hba h;
	struct sp_hba_unit u[8];
	struct sp_hba_queue q;
	struct sp_dma buf = { 0 };
	char why[256];
	int n;

	memset(st, 0, sizeof(*st));
	/* the first byte of data: how much of it the register reads take */
	regs = size ? data + 1 : NULL;
	regs_len = size ? data[0] % 128 : 0;
	if (regs_len > size - (size > 0))
		regs_len = size - (size > 0);
	regs_pos = 0;
	in = size ? data + 1 + regs_len : NULL;
	in_len = size ? size - 1 - regs_len : 0;
	in_pos = 0;
	script = sc;
	script_len = sc_len;
	script_pos = 0;
	fake_now = 0;
	model = m;
	next_iova = FAKE_IOVA_BASE;
	memset(out, 0, sizeof(out));
	nr_out = 0;
	m->reset();

	st->open_ret = sp_hba_open(&h, "0000:00:03.0", why, sizeof(why));
	if (st->open_ret) {
		if (nr_maps)
			fake_bug("a failed bring-up left %u mappings", nr_maps);
		return;
	}
	n = sp_hba_list(&h, u, 8);
	if (n > 8)
		fake_bug("list returned %d units of at most 8", n);
	st->units = n > 0 ? (unsigned)n : 0;
	if (fake_knobs.dead_after_list)
		m->mute(true);
	if (sp_hba_queue_init(&q, NR_CMDS) || sp_vfio_dma_alloc(&h.pci, BUF_LEN, &buf))
		abort();

	for (unsigned round = 0, rounds = sc_u8() % 4 + 1; round < rounds; round++) {
		unsigned want = sc_u8() % 8 + 1;

		for (unsigned k = 0; k < NR_CMDS && want; k++)
			if (!out[k]) {
				submit_one(&h, &q, &buf, k, u, st->units, st);
				want--;
			}
		for (unsigned p = 0, polls = sc_u8() % 8 + 1; p < polls; p++)
			poll_some(&h, &q, st);
		switch (sc_u8() % 8) {
		case 0:		/* abort one that is out */
			for (unsigned k = 0; k < NR_CMDS; k++)
				if (out[k]) {
					sp_hba_abort(&h, &cmds[k]);
					st->aborts++;
					break;
				}
			poll_some(&h, &q, st);
			break;
		case 1:
			sp_hba_reset(&h);
			st->resets++;
			poll_some(&h, &q, st);
			break;
		default:
			break;
		}
	}
	/* what is still out comes back from a reset, once */
	for (unsigned polls = 0; nr_out && polls < 4; polls++)
		poll_some(&h, &q, st);
	if (nr_out) {
		int ret = sp_hba_reset(&h);

		st->resets++;
		poll_some(&h, &q, st);
		if (!ret && nr_out)
			fake_bug("%u commands never came back, not even from a reset", nr_out);
	}
	sp_vfio_dma_free(&h.pci, &buf);
	sp_hba_queue_free(&q);
	/* commands still out after a failed reset: their memory stays the
	 * driver's concern; tear-down must not touch them */
	sp_hba_close(&h);
	if (nr_maps)
		fake_bug("tear-down left %u mappings", nr_maps);
}
