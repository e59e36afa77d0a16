// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for what devices return: NVMe Identify Controller and
 * Namespace pages, SCSI INQUIRY, READ CAPACITY(16), the Unit Serial
 * Number VPD page, sense data, and the words made of statuses. A device
 * is outside input like a network request: besides memory errors it
 * checks that every accepted value is one the callers can use (a block
 * size that is a power of two, a byte size that does not overflow,
 * strings that are printable and terminated).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_spec.h"
#include "scsi_spec.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void check_text(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	CHECK(n < size);
	for (size_t i = 0; i < n; i++)
		CHECK(s[i] >= 0x20 && s[i] < 0x7f);
}

/* The input laid over a zeroed buffer of len bytes, as a short DMA leaves it. */
static void *page_of(const uint8_t *data, size_t size, size_t len)
{
	uint8_t *p = calloc(1, len);

	if (p)
		memcpy(p, data, size < len ? size : len);
	return p;
}

static void nvme(const uint8_t *data, size_t size)
{
	uint8_t *page = page_of(data, size, SP_NVME_ID_SIZE);
	struct sp_nvme_info info;
	char buf[160];

	if (!page)
		return;
	memset(&info, 0, sizeof(info));
	sp_nvme_parse_id_ctrl(page, &info);
	check_text(info.model, sizeof(info.model));
	check_text(info.serial, sizeof(info.serial));
	check_text(info.firmware, sizeof(info.firmware));
	if (sp_nvme_parse_id_ns(page, &info) == 0) {
		CHECK(info.lba_size >= 512 && !(info.lba_size & (info.lba_size - 1)));
		CHECK(info.flbas_index < info.nlbaf);
		CHECK(!info.nsze || info.nsze <= UINT64_MAX / info.lba_size);
	}
	if (size >= 2) {
		sp_nvme_status_str((uint16_t)(data[0] | data[1] << 8), buf, sizeof(buf));
		check_text(buf, sizeof(buf));
	}
	free(page);
}

static void scsi(const uint8_t *data, size_t size)
{
	uint8_t *page = page_of(data, size, 96);
	struct sp_scsi_inquiry inq;
	struct sp_scsi_sense sense;
	uint64_t blocks;
	uint32_t blen;
	char buf[192];

	if (!page)
		return;
	sp_scsi_parse_inquiry(page, &inq);
	check_text(inq.vendor, sizeof(inq.vendor));
	check_text(inq.product, sizeof(inq.product));
	check_text(inq.revision, sizeof(inq.revision));
	if (sp_scsi_parse_read_capacity16(page, &blocks, &blen) == 0) {
		CHECK(blen >= 512 && !(blen & (blen - 1)));
		CHECK(blocks && blocks <= UINT64_MAX / blen);
	}
	free(page);
	/* variable-length data: the exact size, so a read past it is caught */
	if (sp_scsi_parse_vpd_serial(data, size, buf, 32) == 0)
		check_text(buf, 32);
	if (sp_scsi_parse_sense(data, size, &sense) == 0) {
		CHECK(sense.key <= 0xf);
		sp_scsi_sense_str(sense.key, sense.asc, sense.ascq, buf, sizeof(buf));
		check_text(buf, sizeof(buf));
	}
	if (size)
		check_text(sp_scsi_status_str(data[0]), 64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the first byte picks the protocol, so one corpus grows both */
	if (!size)
		return 0;
	if (data[0] & 1)
		nvme(data + 1, size - 1);
	else
		scsi(data + 1, size - 1);
	return 0;
}
