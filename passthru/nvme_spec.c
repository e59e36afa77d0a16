// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "nvme_spec.h"
#include "sp_opts.h"

static uint16_t get16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

int sp_nvme_io_cmd(unsigned op, uint64_t slba, uint32_t nlb, uint8_t *opcode,
		   uint32_t *cdw10, uint32_t *cdw11, uint32_t *cdw12)
{
	switch (op) {
	case SP_OP_READ:
		*opcode = SP_NVME_CMD_READ;
		break;
	case SP_OP_WRITE:
		*opcode = SP_NVME_CMD_WRITE;
		break;
	case SP_OP_WRITE_ZEROES:
		*opcode = SP_NVME_CMD_WRITE_ZEROES;
		break;
	case SP_OP_FLUSH:
		*opcode = SP_NVME_CMD_FLUSH;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
	*cdw10 = (uint32_t)slba;
	*cdw11 = (uint32_t)(slba >> 32);
	*cdw12 = nlb - 1;
	return 0;
}

void sp_nvme_parse_id_ctrl(const void *page, struct sp_nvme_info *info)
{
	const uint8_t *p = page;

	info->vid = get16(p + 0);
	sp_copy_trimmed(info->serial, p + 4, 20);
	sp_copy_trimmed(info->model, p + 24, 40);
	sp_copy_trimmed(info->firmware, p + 64, 8);
	info->mdts = p[77];
	info->oncs = get16(p + 520);
	info->vwc = p[525] & 1;
}

int sp_nvme_parse_id_ns(const void *page, struct sp_nvme_info *info)
{
	const uint8_t *p = page;
	uint8_t flbas = p[26];
	uint32_t lbaf;
	unsigned idx;

	info->nsze = get64(p + 0);
	info->nlbaf = p[25] + 1;
	/* bits 3:0, and 6:5 as the upper bits when there are > 16 formats */
	idx = (flbas & 0xf) | (info->nlbaf > 16 ? ((flbas >> 5) & 3) << 4 : 0);
	if (idx >= info->nlbaf)
		return -EPROTO;
	info->flbas_index = idx;
	lbaf = get32(p + 128 + 4 * idx);
	info->ms = lbaf & 0xffff;
	if (((lbaf >> 16) & 0xff) < 9 || ((lbaf >> 16) & 0xff) > 31)
		return -EPROTO;
	info->lba_size = 1u << ((lbaf >> 16) & 0xff);
	/* a device is outside input: its size must fit in bytes */
	if (info->nsze > UINT64_MAX >> ((lbaf >> 16) & 0xff))
		return -EPROTO;
	return 0;
}

struct status_name {
	uint8_t sct, sc;
	const char *name;
};

static const struct status_name status_names[] = {
	/* Generic Command Status */
	{ 0, 0x00, "Successful Completion" },
	{ 0, 0x01, "Invalid Command Opcode" },
	{ 0, 0x02, "Invalid Field in Command" },
	{ 0, 0x03, "Command ID Conflict" },
	{ 0, 0x04, "Data Transfer Error" },
	{ 0, 0x05, "Commands Aborted due to Power Loss Notification" },
	{ 0, 0x06, "Internal Error" },
	{ 0, 0x07, "Command Abort Requested" },
	{ 0, 0x08, "Command Aborted due to SQ Deletion" },
	{ 0, 0x09, "Command Aborted due to Failed Fused Command" },
	{ 0, 0x0a, "Command Aborted due to Missing Fused Command" },
	{ 0, 0x0b, "Invalid Namespace or Format" },
	{ 0, 0x0c, "Command Sequence Error" },
	{ 0, 0x0d, "Invalid SGL Segment Descriptor" },
	{ 0, 0x0e, "Invalid Number of SGL Descriptors" },
	{ 0, 0x0f, "Data SGL Length Invalid" },
	{ 0, 0x10, "Metadata SGL Length Invalid" },
	{ 0, 0x11, "SGL Descriptor Type Invalid" },
	{ 0, 0x12, "Invalid Use of Controller Memory Buffer" },
	{ 0, 0x13, "PRP Offset Invalid" },
	{ 0, 0x14, "Atomic Write Unit Exceeded" },
	{ 0, 0x15, "Operation Denied" },
	{ 0, 0x16, "SGL Offset Invalid" },
	{ 0, 0x18, "Host Identifier Inconsistent Format" },
	{ 0, 0x19, "Keep Alive Timer Expired" },
	{ 0, 0x1a, "Keep Alive Timeout Invalid" },
	{ 0, 0x1b, "Command Aborted due to Preempt and Abort" },
	{ 0, 0x1c, "Sanitize Failed" },
	{ 0, 0x1d, "Sanitize In Progress" },
	{ 0, 0x1e, "SGL Data Block Granularity Invalid" },
	{ 0, 0x1f, "Command Not Supported for Queue in CMB" },
	{ 0, 0x20, "Namespace is Write Protected" },
	{ 0, 0x21, "Command Interrupted" },
	{ 0, 0x22, "Transient Transport Error" },
	{ 0, 0x80, "LBA Out of Range" },
	{ 0, 0x81, "Capacity Exceeded" },
	{ 0, 0x82, "Namespace Not Ready" },
	{ 0, 0x83, "Reservation Conflict" },
	{ 0, 0x84, "Format In Progress" },
	/* Command Specific Status */
	{ 1, 0x00, "Completion Queue Invalid" },
	{ 1, 0x01, "Invalid Queue Identifier" },
	{ 1, 0x02, "Invalid Queue Size" },
	{ 1, 0x03, "Abort Command Limit Exceeded" },
	{ 1, 0x05, "Asynchronous Event Request Limit Exceeded" },
	{ 1, 0x06, "Invalid Firmware Slot" },
	{ 1, 0x07, "Invalid Firmware Image" },
	{ 1, 0x08, "Invalid Interrupt Vector" },
	{ 1, 0x09, "Invalid Log Page" },
	{ 1, 0x0a, "Invalid Format" },
	{ 1, 0x0b, "Firmware Activation Requires Conventional Reset" },
	{ 1, 0x0c, "Invalid Queue Deletion" },
	{ 1, 0x0d, "Feature Identifier Not Saveable" },
	{ 1, 0x0e, "Feature Not Changeable" },
	{ 1, 0x0f, "Feature Not Namespace Specific" },
	{ 1, 0x14, "Overlapping Range" },
	{ 1, 0x15, "Namespace Insufficient Capacity" },
	{ 1, 0x16, "Namespace Identifier Unavailable" },
	{ 1, 0x18, "Namespace Already Attached" },
	{ 1, 0x19, "Namespace Is Private" },
	{ 1, 0x1a, "Namespace Not Attached" },
	{ 1, 0x1b, "Thin Provisioning Not Supported" },
	{ 1, 0x1c, "Controller List Invalid" },
	{ 1, 0x80, "Conflicting Attributes" },
	{ 1, 0x81, "Invalid Protection Information" },
	{ 1, 0x82, "Attempted Write to Read Only Range" },
	{ 1, 0x83, "Command Size Limit Exceeded" },
	/* Media and Data Integrity Errors */
	{ 2, 0x80, "Write Fault" },
	{ 2, 0x81, "Unrecovered Read Error" },
	{ 2, 0x82, "End-to-end Guard Check Error" },
	{ 2, 0x83, "End-to-end Application Tag Check Error" },
	{ 2, 0x84, "End-to-end Reference Tag Check Error" },
	{ 2, 0x85, "Compare Failure" },
	{ 2, 0x86, "Access Denied" },
	{ 2, 0x87, "Deallocated or Unwritten Logical Block" },
	/* Path Related Status */
	{ 3, 0x00, "Internal Path Error" },
	{ 3, 0x01, "Asymmetric Access Persistent Loss" },
	{ 3, 0x02, "Asymmetric Access Inaccessible" },
	{ 3, 0x03, "Asymmetric Access Transition" },
	{ 3, 0x60, "Controller Pathing Error" },
	{ 3, 0x70, "Host Pathing Error" },
	{ 3, 0x71, "Command Aborted By Host" },
};

const char *sp_nvme_status_str(uint16_t status, char *buf, size_t len)
{
	static const char *const sct_names[8] = {
		"Generic", "Command Specific", "Media and Data Integrity",
		"Path Related", "Reserved", "Reserved", "Reserved", "Vendor Specific",
	};
	uint8_t sc = status & 0xff, sct = (status >> 8) & 0x7;
	const char *name = NULL;

	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (status_names[i].sct == sct && status_names[i].sc == sc)
			name = status_names[i].name;
	if (name)
		snprintf(buf, len, "%s (SCT 0x%x, SC 0x%02x%s)", name, sct, sc,
			 status & 0x4000 ? ", do not retry" : "");
	else
		snprintf(buf, len, "unknown %s status (SCT 0x%x, SC 0x%02x%s)",
			 sct_names[sct], sct, sc, status & 0x4000 ? ", do not retry" : "");
	return buf;
}

struct opcode_name {
	bool admin;
	uint8_t opcode;
	const char *name;
};

/* NVM Express Base 2.0 and NVM Command Set 1.0, figure "Opcodes". */
static const struct opcode_name opcode_names[] = {
	{ false, 0x00, "flush" },
	{ false, 0x01, "write" },
	{ false, 0x02, "read" },
	{ false, 0x04, "write-uncorrectable" },
	{ false, 0x05, "compare" },
	{ false, 0x08, "write-zeroes" },
	{ false, 0x09, "dsm" },
	{ false, 0x0c, "verify" },
	{ false, 0x0d, "resv-register" },
	{ false, 0x0e, "resv-report" },
	{ false, 0x11, "resv-acquire" },
	{ false, 0x15, "resv-release" },
	{ false, 0x19, "copy" },
	{ false, 0x79, "zone-mgmt-send" },
	{ false, 0x7a, "zone-mgmt-recv" },
	{ false, 0x7d, "zone-append" },
	{ true, 0x00, "delete-sq" },
	{ true, 0x01, "create-sq" },
	{ true, 0x02, "get-log-page" },
	{ true, 0x04, "delete-cq" },
	{ true, 0x05, "create-cq" },
	{ true, 0x06, "identify" },
	{ true, 0x08, "abort" },
	{ true, 0x09, "set-features" },
	{ true, 0x0a, "get-features" },
	{ true, 0x0c, "async-event" },
	{ true, 0x0d, "ns-mgmt" },
	{ true, 0x10, "fw-commit" },
	{ true, 0x11, "fw-download" },
	{ true, 0x14, "self-test" },
	{ true, 0x15, "ns-attach" },
	{ true, 0x18, "keep-alive" },
	{ true, 0x19, "directive-send" },
	{ true, 0x1a, "directive-recv" },
	{ true, 0x1c, "virt-mgmt" },
	{ true, 0x1d, "mi-send" },
	{ true, 0x1e, "mi-recv" },
	{ true, 0x7c, "doorbell-buffer-config" },
	{ true, 0x80, "format" },
	{ true, 0x81, "security-send" },
	{ true, 0x82, "security-recv" },
	{ true, 0x84, "sanitize" },
	{ true, 0x86, "get-lba-status" },
};

#define N_OPCODE_NAMES (sizeof(opcode_names) / sizeof(opcode_names[0]))

const char *sp_nvme_opcode_name(bool admin, uint8_t opcode)
{
	for (size_t i = 0; i < N_OPCODE_NAMES; i++)
		if (opcode_names[i].admin == admin && opcode_names[i].opcode == opcode)
			return opcode_names[i].name;
	return NULL;
}

int sp_nvme_opcode_parse(bool admin, const char *s)
{
	uint64_t v;

	for (size_t i = 0; i < N_OPCODE_NAMES; i++)
		if (opcode_names[i].admin == admin && !strcmp(opcode_names[i].name, s))
			return opcode_names[i].opcode;
	if (sp_parse_u64(s, 0, 0xff, &v))
		return -EINVAL;
	return (int)v;
}

void sp_nvme_opcode_list(bool admin, char *buf, size_t len)
{
	size_t off = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < N_OPCODE_NAMES && off < len; i++) {
		if (opcode_names[i].admin != admin)
			continue;
		off += snprintf(buf + off, len - off, "%s%s", off ? " " : "",
				opcode_names[i].name);
	}
}
