// SPDX-License-Identifier: MIT
/* NVMe protocol helpers: Identify parsing and status words. */
#include <errno.h>
#include <string.h>

#include "backend.h"
#include "nvme_spec.h"
#include "tap.h"

int main(void)
{
	static unsigned char ctrl[SP_NVME_ID_SIZE], ns[SP_NVME_ID_SIZE];
	struct sp_nvme_info info = { 0 };
	char buf[160];

	memcpy(ctrl + 4, "SERIAL-1            ", 20);
	memcpy(ctrl + 24, "QEMU NVMe Ctrl                          ", 40);
	memcpy(ctrl + 64, "8.0.0   ", 8);
	ctrl[77] = 7;				/* MDTS */
	ctrl[520] = SP_NVME_ONCS_WRITE_ZEROES;	/* ONCS */
	ctrl[525] = 1;				/* VWC */
	sp_nvme_parse_id_ctrl(ctrl, &info);
	TAP_CHECK(!strcmp(info.serial, "SERIAL-1") && !strcmp(info.model, "QEMU NVMe Ctrl") &&
		  !strcmp(info.firmware, "8.0.0"), "identify strings lose their padding");
	TAP_CHECK(info.mdts == 7 && (info.oncs & SP_NVME_ONCS_WRITE_ZEROES) && info.vwc,
		  "MDTS, ONCS and VWC are read");

	ns[0] = 0x00; ns[1] = 0x00; ns[2] = 0x04;	/* NSZE 0x40000 */
	ns[25] = 1;					/* two formats */
	ns[26] = 1;					/* format 1 in use */
	ns[128 + 2] = 9;				/* LBAF0: 512 B */
	ns[132 + 2] = 12;				/* LBAF1: 4 KiB */
	ns[132 + 0] = 8;				/* LBAF1: 8 B metadata */
	TAP_CHECK(sp_nvme_parse_id_ns(ns, &info) == 0, "namespace parses");
	TAP_CHECK(info.nsze == 0x40000 && info.lba_size == 4096 && info.ms == 8 &&
		  info.flbas_index == 1, "size, LBA size and metadata of the format in use");
	memset(ns, 0xff, 8);	/* NSZE 2^64 - 1 blocks of 4 KiB: no byte size */
	TAP_CHECK(sp_nvme_parse_id_ns(ns, &info) == -EPROTO,
		  "a namespace whose size overflows 64-bit bytes is refused");
	memset(ns, 0, 8);
	ns[7] = 0x00; ns[6] = 0x10;	/* 2^52 blocks of 4 KiB = 2^64 bytes */
	TAP_CHECK(sp_nvme_parse_id_ns(ns, &info) == -EPROTO, "2^52 x 4 KiB overflows too");
	ns[6] = 0x0f; ns[5] = 0xff;	/* just below: fits */
	TAP_CHECK(sp_nvme_parse_id_ns(ns, &info) == 0, "just under 2^64 bytes parses");
	memset(ns, 0, 8);
	ns[2] = 0x04;
	memcpy(ctrl + 24, "Evil\x1b[2J\x07Model\0hidden                   ", 40);
	sp_nvme_parse_id_ctrl(ctrl, &info);
	TAP_CHECK(!strcmp(info.model, "Evil?[2J?Model"),
		  "control bytes of a model string are not printed, it ends at NUL: %s", info.model);
	ns[26] = 5;	/* index beyond the formats */
	TAP_CHECK(sp_nvme_parse_id_ns(ns, &info) != 0, "a format index past NLBAF is refused");

	sp_nvme_status_str(0x0080, buf, sizeof(buf));
	TAP_CHECK(strstr(buf, "LBA Out of Range") && strstr(buf, "SC 0x80"), "%s", buf);
	sp_nvme_status_str(0x4002, buf, sizeof(buf));
	TAP_CHECK(strstr(buf, "Invalid Field in Command") && strstr(buf, "do not retry"),
		  "%s", buf);
	sp_nvme_status_str(0x0281, buf, sizeof(buf));
	TAP_CHECK(strstr(buf, "Unrecovered Read Error") != NULL, "%s", buf);
	sp_nvme_status_str(0x07c3, buf, sizeof(buf));
	TAP_CHECK(strstr(buf, "unknown Vendor Specific status") != NULL, "%s", buf);

	TAP_CHECK(!strcmp(sp_nvme_opcode_name(false, 0x01), "write") &&
		  !strcmp(sp_nvme_opcode_name(true, 0x84), "sanitize") &&
		  sp_nvme_opcode_name(true, 0x03) == NULL, "opcode names by class");
	TAP_CHECK(sp_nvme_opcode_parse(true, "format") == 0x80 &&
		  sp_nvme_opcode_parse(false, "0x02") == 0x02 &&
		  sp_nvme_opcode_parse(false, "identify") < 0 &&
		  sp_nvme_opcode_parse(true, "256") < 0, "opcodes parse from names and numbers");
	{
		uint32_t c10 = 0, c11 = 0, c12 = 0;
		uint8_t opc = 0xff;
		int r = sp_nvme_io_cmd(SP_OP_WRITE, 0x123456789ULL, 8, &opc, &c10, &c11, &c12);

		TAP_CHECK(r == 0 && opc == SP_NVME_CMD_WRITE && c10 == 0x23456789 && c11 == 1 &&
			  c12 == 7, "write: SLBA split over CDW10/11, 0-based count in CDW12");
		c10 = c12 = 0xdead;
		r = sp_nvme_io_cmd(SP_OP_FLUSH, 5, 1, &opc, &c10, &c11, &c12);
		TAP_CHECK(r == 0 && opc == SP_NVME_CMD_FLUSH && c10 == 0xdead, "flush takes no range");
		r = sp_nvme_io_cmd(SP_OP_NOP, 0, 1, &opc, &c10, &c11, &c12);
		TAP_CHECK(r == -EOPNOTSUPP, "no NVMe command for a NOP");
	}
	return tap_done();
}
