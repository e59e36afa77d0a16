// SPDX-License-Identifier: MIT
/* SCSI protocol helpers: CDBs, INQUIRY/READ CAPACITY parsing, sense. */
#include <errno.h>
#include <string.h>

#include "scsi_spec.h"
#include "tap.h"

int main(void)
{
	uint8_t cdb[16], buf[64];
	struct sp_scsi_inquiry inq;
	struct sp_scsi_sense s;
	uint64_t blocks;
	uint32_t blen;
	char text[160];

	sp_scsi_cdb_read16(cdb, 0x0102030405060708ULL, 0x11223344);
	TAP_CHECK(cdb[0] == 0x88 && cdb[2] == 0x01 && cdb[9] == 0x08 &&
		  cdb[10] == 0x11 && cdb[13] == 0x44 && cdb[15] == 0,
		  "READ(16): opcode, big-endian LBA and length");
	sp_scsi_cdb_write16(cdb, 7, 8);
	TAP_CHECK(cdb[0] == 0x8a && cdb[9] == 7 && cdb[13] == 8, "WRITE(16)");
	sp_scsi_cdb_sync_cache16(cdb);
	TAP_CHECK(cdb[0] == 0x91 && cdb[13] == 0, "SYNCHRONIZE CACHE(16) covers the medium");
	sp_scsi_cdb_read_capacity16(cdb, 32);
	TAP_CHECK(cdb[0] == 0x9e && cdb[1] == 0x10 && cdb[13] == 32, "READ CAPACITY(16)");

	memset(buf, ' ', sizeof(buf));
	buf[0] = 0x00;
	memcpy(buf + 8, "QEMU    ", 8);
	memcpy(buf + 16, "QEMU HARDDISK   ", 16);
	memcpy(buf + 32, "2.5+", 4);
	sp_scsi_parse_inquiry(buf, &inq);
	TAP_CHECK(inq.peripheral_type == 0 && !strcmp(inq.vendor, "QEMU") &&
		  !strcmp(inq.product, "QEMU HARDDISK") && !strcmp(inq.revision, "2.5+"),
		  "INQUIRY strings");

	memset(buf, 0, sizeof(buf));
	buf[7] = 0xff;			/* last LBA 255 */
	buf[10] = 0x10;			/* 4096-byte blocks */
	TAP_CHECK(!sp_scsi_parse_read_capacity16(buf, &blocks, &blen) &&
		  blocks == 256 && blen == 4096, "READ CAPACITY(16): blocks and length");
	buf[10] = 0;
	buf[11] = 100;
	TAP_CHECK(sp_scsi_parse_read_capacity16(buf, &blocks, &blen) != 0,
		  "a block length that is not a power of two is refused");

	memset(buf, 0, sizeof(buf));
	buf[0] = 0x70;
	buf[2] = 0x03;
	buf[7] = 10;
	buf[12] = 0x11;
	TAP_CHECK(!sp_scsi_parse_sense(buf, 18, &s) && s.key == 3 && s.asc == 0x11 &&
		  s.ascq == 0, "fixed-format sense");
	memset(buf, 0, sizeof(buf));
	buf[0] = 0x72;
	buf[1] = 0x05;
	buf[2] = 0x21;
	TAP_CHECK(!sp_scsi_parse_sense(buf, 8, &s) && s.key == 5 && s.asc == 0x21,
		  "descriptor-format sense");
	buf[0] = 0x00;
	TAP_CHECK(sp_scsi_parse_sense(buf, 8, &s) != 0, "no sense data is refused");
	sp_scsi_sense_str(3, 0x11, 0, text, sizeof(text));
	TAP_CHECK(!strcmp(text, "MEDIUM ERROR: Unrecovered read error (ASC 0x11, ASCQ 0x00)"),
		  "%s", text);
	sp_scsi_sense_str(5, 0x21, 0, text, sizeof(text));
	TAP_CHECK(strstr(text, "ILLEGAL REQUEST: Logical block address out of range") != NULL,
		  "%s", text);
	sp_scsi_sense_str(6, 0x99, 0x42, text, sizeof(text));
	TAP_CHECK(!strcmp(text, "UNIT ATTENTION: ASC 0x99, ASCQ 0x42"), "%s", text);
	/* beyond the own table: T10's, through libsgutils2 */
	sp_scsi_sense_str(6, 0x3f, 0x0e, text, sizeof(text));
	TAP_CHECK(!strcmp(text, "UNIT ATTENTION: Reported luns data has changed "
			  "(ASC 0x3f, ASCQ 0x0e)"), "%s", text);
	{
		static const uint8_t page[] = { 0, 0x80, 0, 10, ' ', ' ', 'S', 'N', '1',
						'2', '\n', ' ', ' ', ' ', 'X', 'Y' };
		uint8_t rc[32] = { 0 };
		char sn[8];
		uint64_t blocks;
		uint32_t blen;

		TAP_CHECK(!sp_scsi_parse_vpd_serial(page, sizeof(page), text, sizeof(text)) &&
			  !strcmp(text, "SN12?"), "VPD serial: page length kept, padding "
			  "trimmed, control bytes not printed: '%s'", text);
		TAP_CHECK(!sp_scsi_parse_vpd_serial(page, 7, text, sizeof(text)) &&
			  !strcmp(text, "S"), "VPD serial: a short read bounds the copy: '%s'", text);
		TAP_CHECK(!sp_scsi_parse_vpd_serial(page, sizeof(page), sn, 3) &&
			  !strcmp(sn, "SN"), "VPD serial: bounded by the output: '%s'", sn);
		TAP_CHECK(sp_scsi_parse_vpd_serial(page, 3, text, sizeof(text)) == -EPROTO &&
			  !text[0], "VPD serial: no header, nothing");
		memset(rc, 0xff, 8);
		rc[10] = 2;	/* 512-byte blocks */
		TAP_CHECK(sp_scsi_parse_read_capacity16(rc, &blocks, &blen) == -EPROTO,
			  "READ CAPACITY: last LBA 2^64-1 is refused (the count wraps to 0)");
		rc[0] = 0x00; rc[1] = 0x80;	/* 2^55 blocks of 512: 2^64 bytes */
		memset(rc + 2, 0, 6);
		rc[7] = 0xff; rc[6] = 0xff; rc[5] = 0xff; rc[4] = 0xff;
		rc[3] = 0xff; rc[2] = 0xff; rc[1] = 0x7f;
		TAP_CHECK(sp_scsi_parse_read_capacity16(rc, &blocks, &blen) == -EPROTO,
			  "READ CAPACITY: 2^55 blocks of 512 bytes overflow");
		rc[1] = 0x3f;
		TAP_CHECK(sp_scsi_parse_read_capacity16(rc, &blocks, &blen) == 0 &&
			  blocks == 1ull << 54 && blen == 512, "READ CAPACITY: 2^54 blocks fit");
	}
	return tap_done();
}
