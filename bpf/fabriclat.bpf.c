// SPDX-License-Identifier: GPL-2.0
/*
 * fabriclat: when each NVMe command starts and ends on one side of a
 * fabric, keyed by queue id and command id, the two numbers both sides
 * see (sp-fabriclat joins the sides on them). The initiator's window is
 * nvme_setup_cmd .. nvme_complete_rq (the driver has the command ..
 * its completion), the target's nvmet_req_init .. nvmet_req_complete
 * (the capsule is parsed .. the response is posted). Both are classic
 * tracepoints of modules, whose record layout varies between kernels:
 * the loader reads each format file and gives the field offsets here.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "fabriclat.h"

const volatile struct fabriclat_layout start_layout = { .ctrl_off = -1, .status_off = -1 };
const volatile struct fabriclat_layout end_layout = { .ctrl_off = -1, .status_off = -1 };
const volatile int want_ctrl = -1;	/* initiator: only this controller */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[FABRICLAT_REC_MAX + 8]);
} scratch SEC(".maps");

__u64 lost = 0;

/* A field of the copied record; off was checked by the loader to lie
 * within size, and is bounded here again for the verifier. */
static __always_inline __u32 field(const __u8 *rec, __s32 off, unsigned len)
{
	__u32 v = 0;

	if (off < 0 || off > FABRICLAT_REC_MAX - 4)
		return 0;
	if (len == 2)
		v = *(const __u16 *)(rec + off);
	else
		v = *(const __u32 *)(rec + off);
	return v;
}

static __always_inline int record(void *ctx, const volatile struct fabriclat_layout *l,
				  __u8 kind)
{
	__u32 zero = 0, size = l->size;
	struct fabriclat_ev *ev;
	__u8 *rec;
	__u32 qid;

	rec = bpf_map_lookup_elem(&scratch, &zero);
	if (!rec || !size || size > FABRICLAT_REC_MAX)
		return 0;
	if (bpf_probe_read_kernel(rec, size, ctx))
		return 0;
	qid = field(rec, l->qid_off, l->qid_size);
	/* the admin queue carries no data: I/O queues only */
	if (!qid)
		return 0;
	if (want_ctrl >= 0 && l->ctrl_off >= 0 && (int)field(rec, l->ctrl_off, l->ctrl_size) != want_ctrl)
		return 0;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&lost, 1);
		return 0;
	}
	ev->t = bpf_ktime_get_ns();
	ev->qid = qid;
	ev->cid = (__u16)field(rec, l->cid_off, l->cid_size);
	ev->status = l->status_off >= 0 ? (__u16)field(rec, l->status_off, l->status_size) : 0;
	ev->kind = kind;
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

SEC("tracepoint")
int fabriclat_start(void *ctx)
{
	return record(ctx, &start_layout, FABRICLAT_START);
}

SEC("tracepoint")
int fabriclat_end(void *ctx)
{
	return record(ctx, &end_layout, FABRICLAT_END);
}

char LICENSE[] SEC("license") = "GPL";
