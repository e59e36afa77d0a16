// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<scsi/sg_lib.h>)
#include <stdbool.h>
#include <scsi/sg_lib.h>
#define SP_HAVE_SGUTILS 1
#endif
#endif
#ifndef SP_HAVE_SGUTILS
#define SP_HAVE_SGUTILS 0
#endif

#include "scsi_spec.h"
#include "sp_opts.h"

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void sp_scsi_cdb_inquiry(uint8_t cdb[6], uint8_t alloc_len)
{
	memset(cdb, 0, 6);
	cdb[0] = 0x12;
	cdb[4] = alloc_len;
}

void sp_scsi_cdb_read_capacity16(uint8_t cdb[16], uint32_t alloc_len)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x9e;		/* SERVICE ACTION IN(16) */
	cdb[1] = 0x10;		/* READ CAPACITY(16) */
	put_be32(cdb + 10, alloc_len);
}

static void cdb_rw16(uint8_t cdb[16], uint8_t opcode, uint64_t lba, uint32_t blocks)
{
	memset(cdb, 0, 16);
	cdb[0] = opcode;
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, blocks);
}

void sp_scsi_cdb_read16(uint8_t cdb[16], uint64_t lba, uint32_t blocks)
{
	cdb_rw16(cdb, 0x88, lba, blocks);
}

void sp_scsi_cdb_write16(uint8_t cdb[16], uint64_t lba, uint32_t blocks)
{
	cdb_rw16(cdb, 0x8a, lba, blocks);
}

void sp_scsi_cdb_sync_cache16(uint8_t cdb[16])
{
	/* LBA 0, 0 blocks: the whole medium */
	cdb_rw16(cdb, 0x91, 0, 0);
}

void sp_scsi_cdb_sync_cache10(uint8_t cdb[10])
{
	memset(cdb, 0, 10);
	cdb[0] = 0x35;
}

void sp_scsi_parse_inquiry(const uint8_t *buf, struct sp_scsi_inquiry *inq)
{
	inq->peripheral_type = buf[0] & 0x1f;
	sp_copy_trimmed(inq->vendor, buf + 8, 8);
	sp_copy_trimmed(inq->product, buf + 16, 16);
	sp_copy_trimmed(inq->revision, buf + 32, 4);
}

int sp_scsi_parse_read_capacity16(const uint8_t *buf, uint64_t *blocks,
				  uint32_t *block_len)
{
	uint64_t last = (uint64_t)get_be32(buf) << 32 | get_be32(buf + 4);
	uint32_t len = get_be32(buf + 8);

	if (len < 512 || (len & (len - 1)))
		return -EPROTO;
	/* a device is outside input: its size must fit in bytes */
	if (last == UINT64_MAX || last + 1 > UINT64_MAX / len)
		return -EPROTO;
	*blocks = last + 1;
	*block_len = len;
	return 0;
}

int sp_scsi_parse_vpd_serial(const uint8_t *buf, size_t len, char *out, size_t out_len)
{
	size_t n;

	if (!out_len)
		return -EINVAL;
	out[0] = '\0';
	/* 4 header bytes: peripheral, page code, page length (big endian) */
	if (len < 4 || buf[1] != 0x80)
		return -EPROTO;
	n = (size_t)buf[2] << 8 | buf[3];
	if (n > len - 4)
		n = len - 4;
	buf += 4;
	/* some devices pad at the front too */
	while (n && *buf == ' ') {
		buf++;
		n--;
	}
	if (n > out_len - 1)
		n = out_len - 1;
	sp_copy_trimmed(out, buf, n);
	return 0;
}

int sp_scsi_parse_sense(const uint8_t *sb, size_t len, struct sp_scsi_sense *s)
{
	uint8_t code;

	memset(s, 0, sizeof(*s));
	if (len < 1)
		return -EINVAL;
	code = sb[0] & 0x7f;
	switch (code) {
	case 0x70:
	case 0x71:
		if (len < 3)
			return -EINVAL;
		s->key = sb[2] & 0xf;
		/* ASC/ASCQ are there when the additional length covers them */
		if (len >= 14 && sb[7] >= 6) {
			s->asc = sb[12];
			s->ascq = sb[13];
		}
		s->deferred = code == 0x71;
		return 0;
	case 0x72:
	case 0x73:
		if (len < 4)
			return -EINVAL;
		s->key = sb[1] & 0xf;
		s->asc = sb[2];
		s->ascq = sb[3];
		s->deferred = code == 0x73;
		return 0;
	}
	return -EINVAL;
}

const char *sp_scsi_sense_key_str(uint8_t key)
{
	static const char *const keys[16] = {
		"NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR",
		"HARDWARE ERROR", "ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT",
		"BLANK CHECK", "VENDOR SPECIFIC", "COPY ABORTED", "ABORTED COMMAND",
		"RESERVED (0xC)", "VOLUME OVERFLOW", "MISCOMPARE", "COMPLETED",
	};

	return keys[key & 0xf];
}

static const struct {
	uint8_t asc, ascq;
	const char *text;
} asc_names[] = {
	{ 0x00, 0x00, "No additional sense information" },
	{ 0x00, 0x06, "I/O process terminated" },
	{ 0x03, 0x00, "Peripheral device write fault" },
	{ 0x04, 0x00, "Logical unit not ready, cause not reportable" },
	{ 0x04, 0x01, "Logical unit is in process of becoming ready" },
	{ 0x04, 0x02, "Logical unit not ready, initializing command required" },
	{ 0x04, 0x03, "Logical unit not ready, manual intervention required" },
	{ 0x04, 0x04, "Logical unit not ready, format in progress" },
	{ 0x08, 0x00, "Logical unit communication failure" },
	{ 0x0c, 0x00, "Write error" },
	{ 0x0c, 0x02, "Write error - auto reallocation failed" },
	{ 0x10, 0x01, "Logical block guard check failed" },
	{ 0x10, 0x02, "Logical block application tag check failed" },
	{ 0x10, 0x03, "Logical block reference tag check failed" },
	{ 0x11, 0x00, "Unrecovered read error" },
	{ 0x11, 0x04, "Unrecovered read error - auto reallocate failed" },
	{ 0x14, 0x01, "Record not found" },
	{ 0x1a, 0x00, "Parameter list length error" },
	{ 0x20, 0x00, "Invalid command operation code" },
	{ 0x21, 0x00, "Logical block address out of range" },
	{ 0x24, 0x00, "Invalid field in CDB" },
	{ 0x25, 0x00, "Logical unit not supported" },
	{ 0x26, 0x00, "Invalid field in parameter list" },
	{ 0x27, 0x00, "Write protected" },
	{ 0x28, 0x00, "Not ready to ready change, medium may have changed" },
	{ 0x29, 0x00, "Power on, reset, or bus device reset occurred" },
	{ 0x29, 0x01, "Power on occurred" },
	{ 0x2a, 0x01, "Mode parameters changed" },
	{ 0x2a, 0x09, "Capacity data has changed" },
	{ 0x31, 0x00, "Medium format corrupted" },
	{ 0x3a, 0x00, "Medium not present" },
	{ 0x3f, 0x0e, "Reported luns data has changed" },
	{ 0x44, 0x00, "Internal target failure" },
	{ 0x47, 0x00, "SCSI parity error" },
	{ 0x4b, 0x00, "Data phase error" },
	{ 0x4e, 0x00, "Overlapped commands attempted" },
	{ 0x5d, 0x00, "Failure prediction threshold exceeded" },
};

const char *sp_scsi_sense_str(uint8_t key, uint8_t asc, uint8_t ascq,
			      char *buf, size_t len)
{
	const char *text = NULL;

	for (size_t i = 0; i < sizeof(asc_names) / sizeof(asc_names[0]); i++)
		if (asc_names[i].asc == asc && asc_names[i].ascq == ascq)
			text = asc_names[i].text;
#if SP_HAVE_SGUTILS
	/* T10's whole table, as sg3_utils carries it, for what ours lacks */
	char t10[128];
	const char *prefix = "Additional sense: ";

	if (!text && sg_get_asc_ascq_str(asc, ascq, sizeof(t10), t10) &&
	    !strncmp(t10, prefix, strlen(prefix)))
		text = t10 + strlen(prefix);
#endif
	if (text)
		snprintf(buf, len, "%s: %s (ASC 0x%02x, ASCQ 0x%02x)",
			 sp_scsi_sense_key_str(key), text, asc, ascq);
	else
		snprintf(buf, len, "%s: ASC 0x%02x, ASCQ 0x%02x",
			 sp_scsi_sense_key_str(key), asc, ascq);
	return buf;
}

const char *sp_scsi_status_str(uint8_t status)
{
	switch (status) {
	case 0x00: return "GOOD";
	case 0x02: return "CHECK CONDITION";
	case 0x04: return "CONDITION MET";
	case 0x08: return "BUSY";
	case 0x18: return "RESERVATION CONFLICT";
	case 0x28: return "TASK SET FULL";
	case 0x30: return "ACA ACTIVE";
	case 0x40: return "TASK ABORTED";
	}
	return "unknown SCSI status";
}
