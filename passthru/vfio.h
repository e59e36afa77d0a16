/* SPDX-License-Identifier: MIT */
/*
 * The VFIO NVMe driver's controller-level interface, beside the backend
 * ops (sp_backend_vfio): what sp-vfio needs to check a controller for
 * leaks and to prove that the IOMMU fences the device in.
 */
#ifndef SP_VFIO_H
#define SP_VFIO_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "vfio_pci.h"

/* Process-wide resources the driver holds right now; all zero when no
 * controller is open. */
struct sp_vfio_usage {
	unsigned controllers;	/* brought up, not torn down */
	unsigned queue_pairs;	/* I/O queue pairs created */
	unsigned dma_maps;	/* VFIO_IOMMU_MAP_DMA without UNMAP */
	uint64_t dma_bytes;
	uint64_t iova_bytes;	/* IOVA space allocated */
};

void sp_vfio_usage(struct sp_vfio_usage *u);

/* sp_vfio_parse_bdf: see vfio_pci.h */

/*
 * Reads len bytes at byte offset off of an open vfio target into the
 * device address iova, which need not be mapped: a DMA the IOMMU
 * blocks must come back as an error completion. Returns 0, or -EIO with
 * *status set (the NVMe status field), or another -errno.
 */
int sp_vfio_read_iova(struct sp_target *t, uint64_t iova, uint64_t off,
		      uint32_t len, uint32_t *status);
/* An IOVA inside the target's container that is allocated but mapped to
 * nothing (for sp_vfio_read_iova); 0 when there is none. */
uint64_t sp_vfio_unmapped_iova(struct sp_target *t);

/* Resets the target's controller (CC.EN 0 then 1) and recreates its
 * queues, as after a command timeout; 0 or -errno. */
int sp_vfio_reset(struct sp_target *t);

#endif
