/* SPDX-License-Identifier: MIT */
/*
 * hba: the interface every userspace SCSI HBA driver implements (MFI
 * for megaraid_sas-class controllers, MPI for Fusion-MPT), and the
 * little the SCSI mid-layer (scsi_ml.c) needs from it. A family is one
 * ops table; the HBA itself is a vfio_pci device the caller opened.
 *
 * Life of a command: the caller fills a struct sp_hba_cmd (target, LUN,
 * CDB, direction, a scatter list of IOVAs it mapped through the same
 * vfio_pci device) and calls submit(); the driver writes its frame,
 * stamps t_submit and rings the doorbell. poll() never blocks: it
 * returns the commands the HBA has answered, with SCSI status, sense,
 * residual and host status filled and t_done stamped when the
 * completion was seen. A command stays put while it is in flight.
 *
 * Threads: the driver's functions are called with the HBA's lock held
 * (sp_hba_submit/sp_hba_poll below take it), so a family needs no
 * locking of its own; one HBA serves several jobs, each polling for
 * its own commands through an sp_hba_queue.
 *
 * Every value the HBA returns is hostile: a driver range-checks
 * counts, lengths and the tags/contexts it reads from a reply queue
 * before it uses them, and ignores what does not fit.
 */
#ifndef SP_HBA_H
#define SP_HBA_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vfio_pci.h"

#define SP_HBA_CDB_MAX		32
#define SP_HBA_SENSE_MAX	96

enum sp_hba_dir {
	SP_HBA_DIR_NONE,
	SP_HBA_DIR_FROM_DEV,	/* reads: the device writes our memory */
	SP_HBA_DIR_TO_DEV,	/* writes */
};

/* What happened to a command besides its SCSI status. */
enum sp_hba_host {
	SP_HBA_OK,		/* delivered; look at scsi_status */
	SP_HBA_NO_DEVICE,	/* no such target or LUN */
	SP_HBA_ABORTED,		/* abort() took it back */
	SP_HBA_RESET,		/* failed by a reset of the HBA */
	SP_HBA_TIMEOUT,		/* the mid-layer gave up on it */
	SP_HBA_BAD_REPLY,	/* the HBA answered nonsense */
	SP_HBA_ERROR,		/* any other failure the firmware reported */
};

struct sp_hba_sg {
	uint64_t iova;
	uint32_t len;
};

struct sp_hba_queue;

struct sp_hba_cmd {
	/* set by the caller */
	uint16_t target;
	uint64_t lun;
	uint8_t cdb[SP_HBA_CDB_MAX];
	uint8_t cdb_len;
	uint8_t dir;			/* enum sp_hba_dir */
	const struct sp_hba_sg *sg;
	unsigned nr_sg;
	uint32_t xfer_len;		/* sum of the sg lengths */
	struct sp_hba_queue *q;		/* where poll hands it back */
	void *priv;			/* the caller's */
	/* set by the driver when it completes */
	uint8_t scsi_status;		/* SAM status: 0 GOOD, 2 CHECK CONDITION, ... */
	uint8_t host;			/* enum sp_hba_host */
	uint8_t sense_len;		/* valid bytes in sense */
	uint32_t fw_status;		/* the family's own status code, for messages */
	uint32_t resid;			/* bytes not transferred */
	uint8_t sense[SP_HBA_SENSE_MAX];
	uint64_t t_submit;		/* sp_now_ns() at the doorbell write */
	uint64_t t_done;		/* sp_now_ns() when the completion was seen */
	/* the driver's */
	uint32_t slot;
	bool inflight;
};

/* A unit the firmware exposes. */
struct sp_hba_unit {
	uint16_t target;
	uint64_t lun;
	bool logical;			/* a RAID logical drive (else a physical disk) */
	uint8_t dev_type;		/* SCSI peripheral device type, 0 disk */
	uint64_t blocks;		/* as the firmware reports it; 0 unknown */
};

struct sp_hba;

struct sp_hba_id {
	uint16_t vendor, device;
};

struct sp_hba_ops {
	const char *name;		/* "mfi", "mpi" */
	const char *desc;
	/* PCI IDs the family drives, ended by { 0, 0 } */
	const struct sp_hba_id *ids;
	/*
	 * Brings the HBA (h->pci opened, nothing else) to operational:
	 * maps its BARs, allocates its DMA memory with sp_vfio_dma_alloc,
	 * sets h->max_cmds, h->max_sg, h->max_xfer, h->model, h->firmware.
	 * One line in why on failure; tear_down is called after a failure.
	 */
	int (*bring_up)(struct sp_hba *h, char *why, size_t len);
	/* Quiesces the HBA and frees everything bring_up allocated. */
	void (*tear_down)(struct sp_hba *h);
	/* Up to max units the firmware exposes; returns how many, or -errno. */
	int (*list)(struct sp_hba *h, struct sp_hba_unit *u, unsigned max);
	/* Sends cmd; -EBUSY when no slot is free, -EINVAL when it cannot
	 * be expressed (too many sg entries, CDB too long). */
	int (*submit)(struct sp_hba *h, struct sp_hba_cmd *cmd);
	/* Never blocks: up to max commands completed since the last call. */
	int (*poll)(struct sp_hba *h, struct sp_hba_cmd **done, unsigned max);
	/* Asks the HBA to abort cmd; it completes (ABORTED or otherwise)
	 * through poll. -EOPNOTSUPP: reset instead. */
	int (*abort)(struct sp_hba *h, struct sp_hba_cmd *cmd);
	/* Resets the HBA back to operational; every command in flight
	 * comes back through poll with host SP_HBA_RESET. */
	int (*reset)(struct sp_hba *h);
	/*
	 * For the timeout test: sends cmd (target, LUN, queue and one
	 * scatter entry of at least 512 bytes the HBA may write; no CDB)
	 * as a request the firmware keeps without answering, so that the
	 * mid-layer's timeout path (abort, then reset) can be seen working
	 * on a command the device really holds. held_desc says which
	 * request. If the HBA does answer, cmd completes like any other.
	 * NULL: the family has no such request.
	 */
	int (*submit_held)(struct sp_hba *h, struct sp_hba_cmd *cmd);
	const char *held_desc;
};

/* What the error path did, for messages and the checks. */
struct sp_hba_stats {
	unsigned long timeouts;		/* commands the mid-layer gave up on */
	unsigned long aborts;		/* abort requests sent */
	unsigned long aborts_answered;	/* ... that the HBA took (0 from abort()) */
	unsigned long resets;		/* HBA resets */
	unsigned long resets_failed;
};

struct sp_hba {
	const struct sp_hba_ops *ops;
	struct sp_vfio_pci pci;
	pthread_mutex_t lock;		/* held around every op */
	unsigned max_cmds;		/* commands in flight at most */
	unsigned max_sg;		/* scatter entries per command */
	uint32_t max_xfer;		/* bytes per command */
	unsigned inflight;
	struct sp_hba_stats stats;	/* under lock */
	char model[64];
	char firmware[32];
	void *priv;			/* the family's */
};

/* Completed commands of one job, handed over by whoever polled. */
struct sp_hba_queue {
	struct sp_hba_cmd **done;
	unsigned nr, cap;
};

/* The family that drives vendor:device; NULL if none. */
const struct sp_hba_ops *sp_hba_match(uint16_t vendor, uint16_t device);

/* Opens the vfio_pci device at bdf, matches a family, brings it up. */
int sp_hba_open(struct sp_hba *h, const char *bdf, char *why, size_t len);
void sp_hba_close(struct sp_hba *h);

int sp_hba_queue_init(struct sp_hba_queue *q, unsigned cap);
void sp_hba_queue_free(struct sp_hba_queue *q);

/* Locked wrappers of the ops; poll routes each completion to its
 * command's queue and returns up to max of q's own. */
int sp_hba_submit(struct sp_hba *h, struct sp_hba_cmd *cmd);
int sp_hba_poll(struct sp_hba *h, struct sp_hba_queue *q, struct sp_hba_cmd **done,
		unsigned max);
/* Routes every completion the HBA has to its command's queue. */
void sp_hba_drain(struct sp_hba *h);
int sp_hba_abort(struct sp_hba *h, struct sp_hba_cmd *cmd);
int sp_hba_reset(struct sp_hba *h);
/* The family's submit_held (see above); -EOPNOTSUPP without one. */
int sp_hba_submit_held(struct sp_hba *h, struct sp_hba_cmd *cmd);
/* A copy of the counters, taken under the lock. */
struct sp_hba_stats sp_hba_get_stats(struct sp_hba *h);
int sp_hba_list(struct sp_hba *h, struct sp_hba_unit *u, unsigned max);

/* Words for a host status. */
const char *sp_hba_host_str(unsigned host);

/* For the families, under h->lock, just before the doorbell: cmd now
 * holds slot, is in flight with no result yet, and its clock starts. */
void sp_hba_cmd_start(struct sp_hba *h, struct sp_hba_cmd *cmd, unsigned slot);

extern const struct sp_hba_ops sp_hba_mfi;
extern const struct sp_hba_ops sp_hba_mpi;

#endif
