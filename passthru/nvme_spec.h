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
	SP_NVME_ADMIN_IDENTIFY = 0x06,
};

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
