/* SPDX-License-Identifier: MIT */
/*
 * The scsi-vfio backend's target-level extras, for sp-vfio's checks:
 * the same shape as vfio.h's for NVMe.
 */
#ifndef SP_SCSI_VFIO_H
#define SP_SCSI_VFIO_H

#include <stdint.h>

#include "backend.h"
#include "scsi_ml.h"

/* "BDF", "BDF/TARGET" or "BDF/TARGET/LUN" as the scsi-vfio path. */
int sp_scsi_vfio_path(char *out, size_t len, const char *bdf, int target, long long lun);

/* The HBA and unit of an open scsi-vfio target. */
struct sp_hba *sp_scsi_vfio_hba(struct sp_target *t);
const struct sp_scsi_lu *sp_scsi_vfio_lu(struct sp_target *t);

/*
 * READ(10/16) of len bytes at byte offset off into the device address
 * iova, mapped or not: a DMA the IOMMU blocks must come back as an
 * error. 0, or -errno with *status (as io->status) set.
 */
int sp_scsi_vfio_read_iova(struct sp_target *t, uint64_t iova, uint64_t off,
			   uint32_t len, uint32_t *status);
/*
 * A READ of len bytes at off into the first buffer, aborted right after
 * its doorbell: *abort_ret is what the abort request got (-ENOENT: the
 * command was done already), *host how the command came back. 0 once it
 * came back, else -errno.
 */
int sp_scsi_vfio_abort_one(struct sp_target *t, uint64_t off, uint32_t len,
			   unsigned *host, int *abort_ret);
/*
 * The timeout path on a command the HBA holds without answering (the
 * family's submit_held): sent, then waited for by the I/O path with a
 * patience of timeout_ms, which aborts it and resets the HBA if the
 * abort does not bring it back. 0 once it came back, with *res its
 * result (-ETIMEDOUT when it timed out) and *status the status
 * (sp_backend status_str words); -EOPNOTSUPP when the family has no
 * such request; else -errno.
 */
int sp_scsi_vfio_timeout_one(struct sp_target *t, unsigned timeout_ms, int *res,
			     uint32_t *status);
/* An IOVA allocated for the target and mapped to nothing. */
uint64_t sp_scsi_vfio_unmapped_iova(struct sp_target *t);

#endif
