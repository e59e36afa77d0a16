/* SPDX-License-Identifier: MIT */
/*
 * SCSI as shortpath speaks it: the CDBs it sends (INQUIRY, READ
 * CAPACITY(16), READ(16), WRITE(16), SYNCHRONIZE CACHE(16)), parsing of
 * their answers, and sense data put into words. Transport-neutral: the
 * sg backend uses it today, a bsg one would use it unchanged.
 */
#ifndef SP_SCSI_SPEC_H
#define SP_SCSI_SPEC_H

#include <stddef.h>
#include <stdint.h>

#define SP_SCSI_CDB16 16
#define SP_SCSI_SENSE_MAX 64
#define SP_SCSI_INQUIRY_LEN 36
#define SP_SCSI_READCAP16_LEN 32

/* SCSI status byte values */
#define SP_SCSI_STATUS_GOOD 0x00
#define SP_SCSI_STATUS_CHECK_CONDITION 0x02
#define SP_SCSI_STATUS_BUSY 0x08
#define SP_SCSI_STATUS_RESERVATION_CONFLICT 0x18
#define SP_SCSI_STATUS_TASK_SET_FULL 0x28

void sp_scsi_cdb_inquiry(uint8_t cdb[6], uint8_t alloc_len);
void sp_scsi_cdb_read_capacity16(uint8_t cdb[16], uint32_t alloc_len);
void sp_scsi_cdb_read16(uint8_t cdb[16], uint64_t lba, uint32_t blocks);
void sp_scsi_cdb_write16(uint8_t cdb[16], uint64_t lba, uint32_t blocks);
void sp_scsi_cdb_sync_cache16(uint8_t cdb[16]);
void sp_scsi_cdb_sync_cache10(uint8_t cdb[10]);

struct sp_scsi_inquiry {
	uint8_t peripheral_type;	/* 0x00: direct-access block device */
	char vendor[9];
	char product[17];
	char revision[5];
};

void sp_scsi_parse_inquiry(const uint8_t *buf, struct sp_scsi_inquiry *inq);
/*
 * Returns -EPROTO for a block length that is not a power of two >= 512,
 * and for a capacity whose block count or byte size overflows 64 bits.
 */
int sp_scsi_parse_read_capacity16(const uint8_t *buf, uint64_t *blocks,
				  uint32_t *block_len);

/*
 * The serial number of a Unit Serial Number VPD page (0x80) of len bytes,
 * as far as the page's own length and len both allow, into out (printable
 * ASCII, padding trimmed). -EPROTO when buf is no such page.
 */
int sp_scsi_parse_vpd_serial(const uint8_t *buf, size_t len, char *out, size_t out_len);

/* Key, ASC and ASCQ from fixed (0x70/0x71) or descriptor (0x72/0x73)
 * sense data; -EINVAL when there is none to decode. */
struct sp_scsi_sense {
	uint8_t key, asc, ascq;
	uint8_t deferred;
};

int sp_scsi_parse_sense(const uint8_t *sb, size_t len, struct sp_scsi_sense *s);
/* Packs a sense into 24 bits (key, asc, ascq) for struct sp_io's status. */
static inline uint32_t sp_scsi_sense_pack(const struct sp_scsi_sense *s)
{
	return (uint32_t)s->key << 16 | (uint32_t)s->asc << 8 | s->ascq;
}

const char *sp_scsi_sense_key_str(uint8_t key);
/* "MEDIUM ERROR: Unrecovered read error (ASC 0x11, ASCQ 0x00)" */
const char *sp_scsi_sense_str(uint8_t key, uint8_t asc, uint8_t ascq,
			      char *buf, size_t len);
const char *sp_scsi_status_str(uint8_t status);

#endif
