/* SPDX-License-Identifier: MIT */
/* What bpf/fabriclat.bpf.c hands sp-fabriclat: one event per start,
 * inner moment or end of an NVMe command on a queue, named by queue and
 * command id. */
#ifndef FABRICLAT_H
#define FABRICLAT_H

#define FABRICLAT_REC_MAX 256	/* bytes of a tracepoint record looked at */

/*
 * MARK1 and MARK2 are the two moments inside a side's window. The
 * initiator: the command handed to the transport (nvme-tcp: its PDU to
 * the socket; nvme-rdma: the send posted), and its response received
 * (nvme-rdma: the receive completion). The target: the backend takes
 * the command (bdev or file), and the backend I/O completed.
 */
enum fabriclat_kind { FABRICLAT_START = 0, FABRICLAT_END = 1, FABRICLAT_MARK1 = 2,
		      FABRICLAT_MARK2 = 3 };

struct fabriclat_ev {
	__u64 t;		/* bpf_ktime_get_ns() */
	__u32 qid;
	__u16 cid;
	__u16 status;		/* END: the NVMe status field, if the record has one */
	__u8 kind;		/* enum fabriclat_kind */
	__u8 pad[7];
};

/* Where a tracepoint record keeps the fields, from its format file. */
struct fabriclat_layout {
	__u32 size;		/* bytes to copy: the end of the last field used */
	__s32 qid_off, cid_off;
	__s32 ctrl_off;		/* controller instance; -1: not filtered */
	__s32 status_off;	/* -1: none */
	/* each field's size: 2 or 4 bytes (cid is a u16 in one event and
	 * an int in another) */
	__u32 qid_size, cid_size, ctrl_size, status_size;
};

#endif
