/* SPDX-License-Identifier: MIT */
/*
 * The NVMe protocol as shortpath speaks it: opcodes, Identify parsing and
 * status decoding. Shared by every NVMe path (io_uring passthrough,
 * VFIO), so a status is put into words in one place only.
 */
#ifndef SP_NVME_SPEC_H
#define SP_NVME_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sp_nvme_io_opc {
	SP_NVME_CMD_FLUSH = 0x00,
	SP_NVME_CMD_WRITE = 0x01,
	SP_NVME_CMD_READ = 0x02,
	SP_NVME_CMD_WRITE_ZEROES = 0x08,
};

enum sp_nvme_admin_opc {
	SP_NVME_ADMIN_DELETE_SQ = 0x00,
	SP_NVME_ADMIN_CREATE_SQ = 0x01,
	SP_NVME_ADMIN_DELETE_CQ = 0x04,
	SP_NVME_ADMIN_CREATE_CQ = 0x05,
	SP_NVME_ADMIN_IDENTIFY = 0x06,
	SP_NVME_ADMIN_SET_FEATURES = 0x09,
};

#define SP_NVME_FEAT_NUM_QUEUES 0x07

/*
 * Controller registers (BAR0), for a driver that owns the controller
 * (VFIO). Offsets and fields as in the NVMe base specification, 3.1.
 */
enum sp_nvme_reg {
	SP_NVME_REG_CAP = 0x00,		/* 64 bit */
	SP_NVME_REG_VS = 0x08,
	SP_NVME_REG_CC = 0x14,
	SP_NVME_REG_CSTS = 0x1c,
	SP_NVME_REG_AQA = 0x24,
	SP_NVME_REG_ASQ = 0x28,		/* 64 bit */
	SP_NVME_REG_ACQ = 0x30,		/* 64 bit */
	SP_NVME_REG_DBS = 0x1000,	/* doorbells, CAP.DSTRD apart */
};

#define SP_NVME_CAP_MQES(cap)	((uint32_t)((cap) & 0xffff))	/* 0-based */
#define SP_NVME_CAP_TO_MS(cap)	((uint32_t)(((cap) >> 24) & 0xff) * 500)
#define SP_NVME_CAP_DSTRD(cap)	((uint32_t)(((cap) >> 32) & 0xf))
#define SP_NVME_CAP_CSS_NVM(cap) (((cap) >> 37) & 1)
#define SP_NVME_CAP_MPSMIN(cap)	((uint32_t)(((cap) >> 48) & 0xf))

#define SP_NVME_CC_EN		(1u << 0)
#define SP_NVME_CC_MPS(shift)	((uint32_t)((shift) - 12) << 7)
#define SP_NVME_CC_SHN_NORMAL	(1u << 14)
#define SP_NVME_CC_SHN_MASK	(3u << 14)
#define SP_NVME_CC_IOSQES	(6u << 16)	/* 64-byte SQ entries */
#define SP_NVME_CC_IOCQES	(4u << 20)	/* 16-byte CQ entries */

#define SP_NVME_CSTS_RDY	(1u << 0)
#define SP_NVME_CSTS_CFS	(1u << 1)
#define SP_NVME_CSTS_SHST_MASK	(3u << 2)
#define SP_NVME_CSTS_SHST_DONE	(2u << 2)

/* Submission queue entry (64 bytes), little endian like the device. */
struct sp_nvme_sqe {
	uint8_t opcode;
	uint8_t flags;		/* FUSE 1:0, PSDT 7:6 (0: PRPs) */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

/* Completion queue entry (16 bytes). */
struct sp_nvme_cqe {
	uint32_t result;	/* dword 0 */
	uint32_t rsvd;
	uint16_t sq_head;
	uint16_t sq_id;
	uint16_t cid;
	uint16_t status;	/* bit 0: phase tag; 15:1 the status field */
};

_Static_assert(sizeof(struct sp_nvme_sqe) == 64, "NVMe SQ entry is 64 bytes");
_Static_assert(sizeof(struct sp_nvme_cqe) == 16, "NVMe CQ entry is 16 bytes");

enum sp_nvme_cns {
	SP_NVME_CNS_NS = 0x00,
	SP_NVME_CNS_CTRL = 0x01,
};

#define SP_NVME_ID_SIZE 4096
#define SP_NVME_ONCS_WRITE_ZEROES (1u << 3)

/* What a controller and one of its namespaces say about themselves. */
struct sp_nvme_info {
	char model[41];
	char serial[21];
	char firmware[9];
	uint16_t vid;
	uint8_t mdts;		/* log2 of max transfer in min pages; 0: none */
	uint16_t oncs;		/* optional NVM commands */
	uint8_t vwc;		/* volatile write cache present */
	uint32_t nsid;
	uint64_t nsze;		/* namespace size in logical blocks */
	uint32_t lba_size;	/* bytes of data per logical block */
	uint16_t ms;		/* metadata bytes per logical block */
	uint8_t nlbaf;		/* number of LBA formats (0-based count + 1) */
	uint8_t flbas_index;	/* LBA format in use */
};

/*
 * Opcode and CDW10-12 of the NVM command for a backend op (enum sp_op):
 * the starting LBA and the 0-based count of nlb (>= 1) blocks where the
 * command has them. -EOPNOTSUPP for an op NVMe has no command for.
 */
int sp_nvme_io_cmd(unsigned op, uint64_t slba, uint32_t nlb, uint8_t *opcode,
		   uint32_t *cdw10, uint32_t *cdw11, uint32_t *cdw12);

/* Parse the 4 KiB Identify Controller / Identify Namespace pages. */
void sp_nvme_parse_id_ctrl(const void *page, struct sp_nvme_info *info);
int sp_nvme_parse_id_ns(const void *page, struct sp_nvme_info *info);

/*
 * status: the 15-bit status field as the kernel reports it (completion
 * dword 3 bits 31:17, i.e. SC in bits 7:0, SCT in 10:8, DNR in 14).
 * Writes e.g. "LBA Out of Range (SCT 0x0, SC 0x80)" into buf.
 */
const char *sp_nvme_status_str(uint16_t status, char *buf, size_t len);

/*
 * Short names of NVMe opcodes, NVM command set (io) or admin, as a
 * policy or a report spells them: "read", "write-zeroes", "identify",
 * "format", "sanitize". NULL when the opcode has no name here.
 */
const char *sp_nvme_opcode_name(bool admin, uint8_t opcode);
/* The opcode of such a name, or of a number ("2", "0x84"); -EINVAL. */
int sp_nvme_opcode_parse(bool admin, const char *s);
/* Every name of a class, space-separated, for help texts. */
void sp_nvme_opcode_list(bool admin, char *buf, size_t len);

#endif
