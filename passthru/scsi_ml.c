// SPDX-License-Identifier: MIT
/*
 * scsi_ml: the userspace SCSI mid-layer (see scsi_ml.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scsi_ml.h"
#include "sp_time.h"

#define BOUNCE_SIZE	(64u << 10)
#define MAX_RETRIES	5
/* how long an aborted command may take to come back before the reset */
#define ABORT_WAIT_MS	2000u

/* status packing, as the sg backend's: kind in the top byte */
#define ST_SENSE	0u
#define ST_SCSI		1u
#define ST_HOST		2u

struct ml {
	struct sp_hba h;
	unsigned refs;
	pthread_mutex_t lock;		/* the bounce buffer, synchronous commands */
	struct sp_dma bounce;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ml *g_ml;

int sp_scsi_ml_get(const char *bdf, struct sp_hba **h, char *why, size_t len)
{
	char full[16];
	struct ml *m;
	int ret;

	if (sp_vfio_parse_bdf(bdf, full, sizeof(full))) {
		snprintf(why, len, "'%s' is not a PCI address (DDDD:BB:DD.F, e.g. "
			 "0000:00:05.0)", bdf);
		return -ENODEV;
	}
	pthread_mutex_lock(&g_lock);
	if (g_ml) {
		ret = strcmp(g_ml->h.pci.bdf, full) ? -EBUSY : 0;
		if (ret)
			snprintf(why, len, "one HBA per process: %s is open", g_ml->h.pci.bdf);
		else
			g_ml->refs++;
		*h = &g_ml->h;
		pthread_mutex_unlock(&g_lock);
		return ret;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		pthread_mutex_unlock(&g_lock);
		return -ENOMEM;
	}
	ret = sp_hba_open(&m->h, full, why, len);
	if (!ret) {
		ret = sp_vfio_dma_alloc(&m->h.pci, BOUNCE_SIZE, &m->bounce);
		if (ret) {
			snprintf(why, len, "%s: DMA memory for the mid-layer: %s", full,
				 strerror(-ret));
			sp_hba_close(&m->h);
		}
	}
	if (ret) {
		free(m);
		pthread_mutex_unlock(&g_lock);
		return ret;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->refs = 1;
	g_ml = m;
	*h = &m->h;
	pthread_mutex_unlock(&g_lock);
	return 0;
}

void sp_scsi_ml_put(struct sp_hba *h)
{
	struct ml *m = (struct ml *)h;

	pthread_mutex_lock(&g_lock);
	if (--m->refs == 0) {
		g_ml = NULL;
		sp_vfio_dma_free(&m->h.pci, &m->bounce);
		sp_hba_close(&m->h);
		pthread_mutex_destroy(&m->lock);
		free(m);
	}
	pthread_mutex_unlock(&g_lock);
}

enum sp_scsi_verdict sp_scsi_ml_verdict(const struct sp_hba_cmd *c, int *err,
					uint32_t *status)
{
	struct sp_scsi_sense s;

	*err = 0;
	*status = 0;
	switch (c->host) {
	case SP_HBA_OK:
		break;
	case SP_HBA_NO_DEVICE:
		*err = -ENXIO;
		*status = ST_HOST << 24 | c->host;
		return SP_SCSI_FAIL;
	case SP_HBA_TIMEOUT:
	case SP_HBA_RESET:	/* the reset after someone's timeout took it */
		*err = -ETIMEDOUT;
		*status = ST_HOST << 24 | c->host;
		return SP_SCSI_FAIL;
	case SP_HBA_ABORTED:
		*err = -ECANCELED;
		*status = ST_HOST << 24 | c->host;
		return SP_SCSI_FAIL;
	default:
		*err = -EIO;
		*status = ST_HOST << 24 | c->host;
		return SP_SCSI_FAIL;
	}
	switch (c->scsi_status) {
	case SP_SCSI_STATUS_GOOD:
		return SP_SCSI_DONE;
	case SP_SCSI_STATUS_BUSY:
	case SP_SCSI_STATUS_TASK_SET_FULL:
		*err = -EBUSY;
		*status = ST_SCSI << 24 | c->scsi_status;
		return SP_SCSI_RETRY;
	case SP_SCSI_STATUS_CHECK_CONDITION:
		break;
	default:
		*err = -EIO;
		*status = ST_SCSI << 24 | c->scsi_status;
		return SP_SCSI_FAIL;
	}
	if (sp_scsi_parse_sense(c->sense, c->sense_len, &s)) {
		*err = -EIO;
		*status = ST_SCSI << 24 | c->scsi_status;
		return SP_SCSI_FAIL;
	}
	*status = ST_SENSE << 24 | sp_scsi_sense_pack(&s);
	switch (s.key) {
	case 0x0:	/* NO SENSE */
	case 0x1:	/* RECOVERED ERROR: done, with a remark */
		*status = 0;
		return SP_SCSI_DONE;
	case 0x6:	/* UNIT ATTENTION: the unit says something changed; again */
		*err = -EAGAIN;
		return SP_SCSI_RETRY;
	case 0x2:	/* NOT READY: retried while it says it is becoming ready */
		*err = -EIO;
		return s.asc == 0x04 && s.ascq == 0x01 ? SP_SCSI_RETRY : SP_SCSI_FAIL;
	case 0xb:	/* ABORTED COMMAND: the target gave up on it; again */
		*err = -EIO;
		return SP_SCSI_RETRY;
	default:
		*err = -EIO;
		return SP_SCSI_FAIL;
	}
}

const char *sp_scsi_ml_status_str(uint32_t status, char *buf, size_t len)
{
	uint32_t v = status & 0xffffff;

	switch (status >> 24) {
	case ST_SENSE:
		return sp_scsi_sense_str(v >> 16, (v >> 8) & 0xff, v & 0xff, buf, len);
	case ST_SCSI:
		snprintf(buf, len, "SCSI status %s (0x%02x), no sense data",
			 sp_scsi_status_str((uint8_t)v), v);
		return buf;
	case ST_HOST:
		snprintf(buf, len, "HBA: %s", sp_hba_host_str(v));
		return buf;
	}
	snprintf(buf, len, "status 0x%x", status);
	return buf;
}

static void pause_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

int sp_scsi_ml_timeout(struct sp_hba *h, struct sp_hba_queue *q, struct sp_hba_cmd *c)
{
	uint64_t end;
	int ret = 0;

	if (!c->inflight)
		return 0;
	pthread_mutex_lock(&h->lock);
	h->stats.timeouts++;
	pthread_mutex_unlock(&h->lock);
	if (sp_hba_abort(h, c) == 0) {
		end = sp_now_ns() + (uint64_t)ABORT_WAIT_MS * 1000000;
		while (c->inflight && sp_now_ns() < end) {
			/* completions land in their queues, ours stays for the caller */
			sp_hba_drain(h);
			if (c->inflight)
				pause_ms(1);
		}
	}
	if (c->inflight)
		ret = sp_hba_reset(h);
	/* whatever way it came back, it timed out */
	c->host = SP_HBA_TIMEOUT;
	c->resid = c->xfer_len;
	(void)q;
	return ret;
}

/* One submission and wait; c completes (host TIMEOUT when it did not). */
static int run_once(struct sp_hba *h, struct sp_hba_cmd *c)
{
	struct sp_hba_queue q;
	struct sp_hba_cmd *done[4];
	uint64_t end;
	int ret;

	ret = sp_hba_queue_init(&q, h->max_cmds + 1);
	if (ret)
		return ret;
	c->q = &q;
	for (;;) {
		ret = sp_hba_submit(h, c);
		if (ret != -EBUSY)
			break;
		sp_hba_poll(h, &q, done, 4);	/* a full HBA: others' commands drain */
		pause_ms(1);
	}
	if (ret) {
		sp_hba_queue_free(&q);
		return ret;
	}
	end = sp_now_ns() + (uint64_t)SP_SCSI_ML_TIMEOUT_MS * 1000000;
	for (;;) {
		int n = sp_hba_poll(h, &q, done, 4);
		bool ours = false;

		for (int i = 0; i < n; i++)
			ours |= done[i] == c;
		if (ours)
			break;
		if (sp_now_ns() > end) {
			ret = sp_scsi_ml_timeout(h, &q, c);
			break;
		}
	}
	sp_hba_queue_free(&q);
	return ret;
}

int sp_scsi_ml_exec(struct sp_hba *h, uint16_t target, uint64_t lun,
		    const uint8_t *cdb, unsigned cdb_len, int dir, void *buf,
		    uint32_t len, uint32_t *status, uint32_t *resid)
{
	struct ml *m = (struct ml *)h;
	struct sp_hba_cmd c;
	struct sp_hba_sg sg;
	uint32_t st = 0;
	int err = 0, ret;

	if (len > BOUNCE_SIZE || cdb_len > SP_HBA_CDB_MAX || !cdb_len)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	for (unsigned attempt = 0; attempt <= MAX_RETRIES; attempt++) {
		memset(&c, 0, sizeof(c));
		c.target = target;
		c.lun = lun;
		memcpy(c.cdb, cdb, cdb_len);
		c.cdb_len = (uint8_t)cdb_len;
		c.dir = (uint8_t)(len ? dir : SP_HBA_DIR_NONE);
		sg.iova = m->bounce.iova;
		sg.len = len;
		c.sg = &sg;
		c.nr_sg = len ? 1 : 0;
		c.xfer_len = len;
		if (dir == SP_HBA_DIR_TO_DEV && len)
			memcpy(m->bounce.va, buf, len);
		else if (len)
			memset(m->bounce.va, 0, len);
		ret = run_once(h, &c);
		if (ret) {
			err = ret;
			break;
		}
		switch (sp_scsi_ml_verdict(&c, &err, &st)) {
		case SP_SCSI_DONE:
			err = 0;
			break;
		case SP_SCSI_RETRY:
			if (attempt < MAX_RETRIES) {
				if (err == -EBUSY || st >> 24 == ST_SENSE)
					pause_ms(attempt * 10);
				continue;
			}
			break;
		case SP_SCSI_FAIL:
			break;
		}
		break;
	}
	if (!err && dir == SP_HBA_DIR_FROM_DEV && len)
		memcpy(buf, m->bounce.va, len);
	pthread_mutex_unlock(&m->lock);
	if (status)
		*status = st;
	if (resid)
		*resid = c.resid > len ? len : c.resid;
	return err;
}

unsigned sp_scsi_ml_rw_cdb(const struct sp_scsi_lu *lu, bool write, uint64_t lba,
			   uint32_t blocks, uint8_t *cdb)
{
	if (!lu->rw16 && lba + blocks <= 0xffffffffULL && blocks <= 0xffff) {
		memset(cdb, 0, 10);
		cdb[0] = write ? 0x2a : 0x28;
		cdb[2] = (uint8_t)(lba >> 24);
		cdb[3] = (uint8_t)(lba >> 16);
		cdb[4] = (uint8_t)(lba >> 8);
		cdb[5] = (uint8_t)lba;
		cdb[7] = (uint8_t)(blocks >> 8);
		cdb[8] = (uint8_t)blocks;
		return 10;
	}
	if (write)
		sp_scsi_cdb_write16(cdb, lba, blocks);
	else
		sp_scsi_cdb_read16(cdb, lba, blocks);
	return 16;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int inquiry(struct sp_hba *h, uint16_t t, uint64_t lun, struct sp_scsi_inquiry *inq)
{
	uint8_t cdb[6], buf[96];
	uint32_t st;
	int ret;

	sp_scsi_cdb_inquiry(cdb, sizeof(buf));
	ret = sp_scsi_ml_exec(h, t, lun, cdb, 6, SP_HBA_DIR_FROM_DEV, buf, sizeof(buf),
			      &st, NULL);
	if (!ret)
		sp_scsi_parse_inquiry(buf, inq);
	return ret;
}

int sp_scsi_ml_scan(struct sp_hba *h, struct sp_scsi_lu *lu, unsigned max)
{
	struct sp_hba_unit u[64];
	unsigned n = 0;
	int nu = sp_hba_list(h, u, 64);

	if (nu < 0)
		return nu;
	for (int i = 0; i < nu && n < max; i++) {
		bool seen = false;

		for (unsigned j = 0; j < n; j++)
			seen |= lu[j].target == u[i].target && lu[j].lun == u[i].lun;
		if (seen)
			continue;	/* a disk both as a logical drive and a PD */
		memset(&lu[n], 0, sizeof(lu[n]));
		lu[n].target = u[i].target;
		lu[n].lun = u[i].lun;
		lu[n].logical = u[i].logical;
		lu[n].blocks = u[i].blocks;
		if (inquiry(h, u[i].target, u[i].lun, &lu[n].inq))
			continue;
		if ((lu[n].inq.peripheral_type & 0xe0) != 0)
			continue;	/* no unit connected at this LUN */
		lu[n].dev_type = lu[n].inq.peripheral_type & 0x1f;
		n++;
		if (!u[i].logical) {
			/* REPORT LUNS: the other LUNs of a physical target */
			uint8_t cdb[12] = { 0xa0 }, buf[8 + 8 * 16];
			uint32_t st, cnt;

			cdb[6] = 0;
			cdb[9] = sizeof(buf);
			if (sp_scsi_ml_exec(h, u[i].target, 0, cdb, 12, SP_HBA_DIR_FROM_DEV,
					    buf, sizeof(buf), &st, NULL))
				continue;
			cnt = be32(buf) / 8;
			if (cnt > 16)
				cnt = 16;	/* no more than we asked room for */
			for (uint32_t k = 0; k < cnt && n < max; k++) {
				uint64_t l = (uint64_t)buf[8 + k * 8] << 8 | buf[9 + k * 8];
				bool dup = false;

				l &= 0x3fff;	/* peripheral/flat addressing */
				for (unsigned j = 0; j < n; j++)
					dup |= lu[j].target == u[i].target && lu[j].lun == l;
				if (dup)
					continue;
				memset(&lu[n], 0, sizeof(lu[n]));
				lu[n].target = u[i].target;
				lu[n].lun = l;
				if (inquiry(h, u[i].target, l, &lu[n].inq) ||
				    (lu[n].inq.peripheral_type & 0xe0))
					continue;
				lu[n].dev_type = lu[n].inq.peripheral_type & 0x1f;
				n++;
			}
		}
	}
	return n;
}

int sp_scsi_ml_open_lu(struct sp_hba *h, uint16_t target, uint64_t lun,
		       struct sp_scsi_lu *lu, char *why, size_t len)
{
	uint8_t cdb[16], buf[64];
	uint32_t st = 0;
	char s[160];
	int ret;

	memset(lu, 0, sizeof(*lu));
	lu->target = target;
	lu->lun = lun;
	/* TEST UNIT READY: exec retries through UNIT ATTENTION (power on,
	 * reset) and NOT READY becoming ready */
	memset(cdb, 0, 6);
	ret = sp_scsi_ml_exec(h, target, lun, cdb, 6, SP_HBA_DIR_NONE, NULL, 0, &st, NULL);
	if (ret) {
		snprintf(why, len, "%s target %u LUN %llu: TEST UNIT READY: %s", h->pci.bdf,
			 target, (unsigned long long)lun, ret == -EIO || st ?
			 sp_scsi_ml_status_str(st, s, sizeof(s)) : strerror(-ret));
		return ret;
	}
	ret = inquiry(h, target, lun, &lu->inq);
	if (ret) {
		snprintf(why, len, "%s target %u LUN %llu: INQUIRY: %s", h->pci.bdf, target,
			 (unsigned long long)lun, strerror(-ret));
		return ret;
	}
	lu->dev_type = lu->inq.peripheral_type & 0x1f;
	if (lu->dev_type != 0) {
		snprintf(why, len, "%s target %u LUN %llu is no disk (device type 0x%02x)",
			 h->pci.bdf, target, (unsigned long long)lun, lu->dev_type);
		return -ENOTBLK;
	}
	/* the serial number page, when there is one */
	memset(cdb, 0, 6);
	cdb[0] = 0x12;
	cdb[1] = 1;
	cdb[2] = 0x80;
	cdb[4] = sizeof(buf);
	if (!sp_scsi_ml_exec(h, target, lun, cdb, 6, SP_HBA_DIR_FROM_DEV, buf, sizeof(buf),
			     &st, NULL))
		sp_scsi_parse_vpd_serial(buf, sizeof(buf), lu->serial, sizeof(lu->serial));
	/* READ CAPACITY(16), else (10) */
	sp_scsi_cdb_read_capacity16(cdb, SP_SCSI_READCAP16_LEN);
	ret = sp_scsi_ml_exec(h, target, lun, cdb, 16, SP_HBA_DIR_FROM_DEV, buf,
			      SP_SCSI_READCAP16_LEN, &st, NULL);
	if (!ret)
		ret = sp_scsi_parse_read_capacity16(buf, &lu->blocks, &lu->block_len);
	if (ret) {
		memset(cdb, 0, 10);
		cdb[0] = 0x25;
		ret = sp_scsi_ml_exec(h, target, lun, cdb, 10, SP_HBA_DIR_FROM_DEV, buf, 8,
				      &st, NULL);
		if (!ret) {
			uint32_t last = be32(buf), bl = be32(buf + 4);

			if (bl < 512 || (bl & (bl - 1)) || last == 0xffffffff)
				ret = -EPROTO;	/* hostile or beyond (10): refuse */
			lu->blocks = (uint64_t)last + 1;
			lu->block_len = bl;
		}
	}
	if (ret) {
		snprintf(why, len, "%s target %u LUN %llu: READ CAPACITY: %s", h->pci.bdf,
			 target, (unsigned long long)lun, ret == -EIO ?
			 sp_scsi_ml_status_str(st, s, sizeof(s)) : strerror(-ret));
		return ret;
	}
	lu->rw16 = lu->blocks > 0xffffffffULL;
	/* SYNCHRONIZE CACHE(16), else (10) */
	sp_scsi_cdb_sync_cache16(cdb);
	if (!sp_scsi_ml_exec(h, target, lun, cdb, 16, SP_HBA_DIR_NONE, NULL, 0, &st, NULL)) {
		lu->flush_cdb_len = 16;
	} else {
		sp_scsi_cdb_sync_cache10(cdb);
		if (!sp_scsi_ml_exec(h, target, lun, cdb, 10, SP_HBA_DIR_NONE, NULL, 0, &st, NULL))
			lu->flush_cdb_len = 10;
	}
	return 0;
}
