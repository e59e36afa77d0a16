/* SPDX-License-Identifier: MIT */
/*
 * scsi_ml: a small SCSI mid-layer in userspace over an HBA driven by
 * hba.h: the HBA shared by every job of a process, discovery (the
 * units the firmware lists, REPORT LUNS, INQUIRY, the serial number
 * VPD page), READ CAPACITY (16, else 10), TEST UNIT READY past UNIT
 * ATTENTION, READ/WRITE (10 when the LBA range allows, else 16),
 * SYNCHRONIZE CACHE (16, else 10), sense decoding into what to do
 * (done, retry, fail with which errno), and the timeout path: abort the
 * command, and if that does not bring it back, reset the HBA and fail
 * everything that was in flight with -ETIMEDOUT.
 *
 * CDBs and sense come from scsi_spec.c, shared with the sg backend.
 */
#ifndef SP_SCSI_ML_H
#define SP_SCSI_ML_H

#include <stdbool.h>
#include <stdint.h>

#include "hba.h"
#include "scsi_spec.h"

/* Long, because an emulated HBA under TCG can be slow. */
#define SP_SCSI_ML_TIMEOUT_MS	30000u

struct sp_scsi_lu {
	uint16_t target;
	uint64_t lun;
	bool logical;
	uint8_t dev_type;
	uint64_t blocks;
	uint32_t block_len;
	bool rw16;			/* the LBA range needs READ/WRITE(16) */
	uint8_t flush_cdb_len;		/* 16 or 10; 0: SYNCHRONIZE CACHE refused */
	struct sp_scsi_inquiry inq;
	char serial[32];
};

/* The HBA at bdf, brought up on first use and shared in the process;
 * every get has its put. */
int sp_scsi_ml_get(const char *bdf, struct sp_hba **h, char *why, size_t len);
void sp_scsi_ml_put(struct sp_hba *h);

/*
 * Units the HBA exposes, up to max, each looked at with INQUIRY (and
 * REPORT LUNS on the physical ones); returns how many or -errno.
 */
int sp_scsi_ml_scan(struct sp_hba *h, struct sp_scsi_lu *lu, unsigned max);

/*
 * Makes lu ready for I/O: TEST UNIT READY (through UNIT ATTENTION),
 * INQUIRY, serial number, capacity, the READ/WRITE and SYNCHRONIZE
 * CACHE forms it takes. One line in why on failure.
 */
int sp_scsi_ml_open_lu(struct sp_hba *h, uint16_t target, uint64_t lun,
		       struct sp_scsi_lu *lu, char *why, size_t len);

/* READ/WRITE(10 or 16) for blocks at lba; returns the CDB length. */
unsigned sp_scsi_ml_rw_cdb(const struct sp_scsi_lu *lu, bool write, uint64_t lba,
			   uint32_t blocks, uint8_t *cdb);

/* What a completed command means. */
enum sp_scsi_verdict {
	SP_SCSI_DONE,		/* GOOD (or recovered) */
	SP_SCSI_RETRY,		/* UNIT ATTENTION, BUSY, TASK SET FULL, NOT READY becoming ready */
	SP_SCSI_FAIL,		/* *err and *status say why */
};

/* err: -EIO (status: packed sense or SCSI status), -ENXIO (no device),
 * -ETIMEDOUT, -ECANCELED (aborted or reset). */
enum sp_scsi_verdict sp_scsi_ml_verdict(const struct sp_hba_cmd *c, int *err,
					uint32_t *status);

/*
 * One command to completion with retries, data in the mid-layer's own
 * DMA buffer (at most 64 KiB; copied in/out of buf). Returns 0, or the
 * verdict's err with *status; the command's residual in *resid.
 */
int sp_scsi_ml_exec(struct sp_hba *h, uint16_t target, uint64_t lun,
		    const uint8_t *cdb, unsigned cdb_len, int dir, void *buf,
		    uint32_t len, uint32_t *status, uint32_t *resid);

/*
 * The timeout path for a command of q that has been in flight too long:
 * abort it, wait a little for it to come back, else reset the HBA; the
 * command (and whatever the reset took) completes with host TIMEOUT or
 * RESET through q. 0 or -errno from the reset.
 */
int sp_scsi_ml_timeout(struct sp_hba *h, struct sp_hba_queue *q, struct sp_hba_cmd *c);

/* Words for a status as sp_scsi_ml_verdict packs it. */
const char *sp_scsi_ml_status_str(uint32_t status, char *buf, size_t len);

#endif
