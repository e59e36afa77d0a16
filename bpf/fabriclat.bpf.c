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
 *
 * Inside each window, fentry programs on the modules' functions stamp
 * two more moments of a command (FABRICLAT_MARK1/2, see fabriclat.h),
 * reading the queue and command id from the modules' structures with
 * CO-RE. Static functions a kernel inlined have no fentry target: the
 * loader asks for those programs only where kallsyms lists the
 * function, and says which moments are lost.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "fabriclat.h"

/* The modules' structures, as far as they are read here; the ___fl
 * names keep them apart from vmlinux.h and CO-RE matches them to the
 * modules' BTF by the name before the suffix. */
struct nvme_common_command___fl {
	__u16 command_id;
} __attribute__((preserve_access_index));

struct nvme_command___fl {
	union {
		struct nvme_common_command___fl common;
	};
} __attribute__((preserve_access_index));

struct nvme_completion___fl {
	__u16 command_id;
} __attribute__((preserve_access_index));

struct nvmet_sq___fl {
	__u16 qid;
} __attribute__((preserve_access_index));

struct nvmet_req___fl {
	struct nvme_command___fl *cmd;
	struct nvmet_sq___fl *sq;
	union {
		struct {
			struct kiocb iocb;
		} f;
	};
} __attribute__((preserve_access_index));

struct nvme_request___fl {
	struct nvme_command___fl *cmd;
} __attribute__((preserve_access_index));

struct nvme_tcp_ctrl___fl;

struct nvme_tcp_queue___fl {
	struct nvme_tcp_ctrl___fl *ctrl;
} __attribute__((preserve_access_index));

struct nvme_ctrl___fl {
	int instance;
} __attribute__((preserve_access_index));

struct nvme_tcp_ctrl___fl {
	struct nvme_tcp_queue___fl *queues;
	struct nvme_ctrl___fl ctrl;
} __attribute__((preserve_access_index));

struct nvme_tcp_request___fl {
	struct nvme_request___fl req;
	struct nvme_tcp_queue___fl *queue;
} __attribute__((preserve_access_index));

struct nvme_rdma_ctrl___fl;

struct nvme_rdma_queue___fl {
	struct nvme_rdma_ctrl___fl *ctrl;
} __attribute__((preserve_access_index));

struct nvme_rdma_ctrl___fl {
	struct nvme_rdma_queue___fl *queues;
	struct nvme_ctrl___fl ctrl;
} __attribute__((preserve_access_index));

struct ib_cqe___fl {
	void *done;
} __attribute__((preserve_access_index));

struct nvme_rdma_qe___fl {
	struct ib_cqe___fl cqe;		/* only its offset is used */
	void *data;
} __attribute__((preserve_access_index));

struct ib_qp___fl {
	void *qp_context;
} __attribute__((preserve_access_index));

struct ib_wc___fl {
	struct ib_cqe___fl *wr_cqe;
	struct ib_qp___fl *qp;
} __attribute__((preserve_access_index));

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

/* One inner moment of the command qid/cid (the admin queue's skipped). */
static __always_inline int mark(__u32 qid, __u16 cid, __u8 kind)
{
	struct fabriclat_ev *ev;

	if (!qid)
		return 0;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&lost, 1);
		return 0;
	}
	ev->t = bpf_ktime_get_ns();
	ev->qid = qid;
	ev->cid = cid;
	ev->status = 0;
	ev->kind = kind;
	__builtin_memset(ev->pad, 0, sizeof(ev->pad));
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

/* The target: nvmet names a command as its nvmet_req_init tracepoint
 * does, by the submission queue's id and the command's id. */
static __always_inline int target_mark(struct nvmet_req___fl *req, __u8 kind)
{
	return mark(BPF_CORE_READ(req, sq, qid), BPF_CORE_READ(req, cmd, common.command_id), kind);
}

/* the block device backend takes the command (it builds and submits
 * its bios next) */
SEC("fentry/nvmet_bdev_execute_rw")
int BPF_PROG(fabriclat_bdev_submit, struct nvmet_req___fl *req)
{
	return target_mark(req, FABRICLAT_MARK1);
}

/* the last bio of the command completed: the parent bio's end_io,
 * whose bi_private is the nvmet_req */
SEC("fentry/nvmet_bio_done")
int BPF_PROG(fabriclat_bdev_done, struct bio *bio)
{
	return target_mark(BPF_CORE_READ(bio, bi_private), FABRICLAT_MARK2);
}

SEC("fentry/nvmet_file_execute_rw")
int BPF_PROG(fabriclat_file_submit, struct nvmet_req___fl *req)
{
	return target_mark(req, FABRICLAT_MARK1);
}

/* the kiocb is req->f.iocb */
SEC("fentry/nvmet_file_io_done")
int BPF_PROG(fabriclat_file_done, struct kiocb *iocb)
{
	struct nvmet_req___fl *req;

	req = (void *)((char *)iocb - bpf_core_field_offset(struct nvmet_req___fl, f.iocb));
	return target_mark(req, FABRICLAT_MARK2);
}

/* The initiator names a command by its I/O queue's number (1 + the
 * index in the controller's queue array, as the target counts) and the
 * command id the driver put in the command. */

/* The number of queue q (of type qtype: each transport has its own):
 * its index in its controller's queue array; 0 (the admin queue's
 * number, which mark() skips) for another controller than the one
 * asked for. */
#define queue_qid(q, qtype) ({							\
	qtype *q_ = (q);							\
	unsigned long base_ = (unsigned long)BPF_CORE_READ(q_, ctrl, queues);	\
	want_ctrl >= 0 && BPF_CORE_READ(q_, ctrl, ctrl.instance) != want_ctrl ?	\
		0 : (__u32)(((unsigned long)q_ - base_) / bpf_core_type_size(qtype));	\
})
#define tcp_qid(q) queue_qid(q, struct nvme_tcp_queue___fl)
#define rdma_qid(q) queue_qid(q, struct nvme_rdma_queue___fl)

/* nvme-tcp: the command's PDU goes to the socket (each call sends what
 * the socket takes of it; the recorder keeps the first) */
SEC("fentry/nvme_tcp_try_send_cmd_pdu")
int BPF_PROG(fabriclat_tcp_send, struct nvme_tcp_request___fl *req)
{
	return mark(tcp_qid(BPF_CORE_READ(req, queue)),
		    BPF_CORE_READ(req, req.cmd, common.command_id), FABRICLAT_MARK1);
}

/* nvme-rdma: the command's send is posted; qe->data is the command */
SEC("fentry/nvme_rdma_post_send")
int BPF_PROG(fabriclat_rdma_send, struct nvme_rdma_queue___fl *q, struct nvme_rdma_qe___fl *qe)
{
	struct nvme_command___fl *cmd = BPF_CORE_READ(qe, data);
	__u64 qaddr = 0;

	/* the queue's address as a number: the verifier refuses to divide
	 * the pointer argument it typed, which rdma_qid does */
	if (bpf_get_func_arg(ctx, 0, &qaddr))
		return 0;
	return mark(rdma_qid((void *)qaddr), BPF_CORE_READ(cmd, common.command_id),
		    FABRICLAT_MARK1);
}

/* nvme-rdma: the response arrived (the receive's completion); the
 * work request's cqe is the one of a receive qe, whose data is the
 * response, and the queue pair's context the queue */
SEC("fentry/nvme_rdma_recv_done")
int BPF_PROG(fabriclat_rdma_recv, void *cq, struct ib_wc___fl *wc)
{
	struct nvme_rdma_qe___fl *qe;
	struct nvme_completion___fl *cqe;

	qe = (void *)((char *)BPF_CORE_READ(wc, wr_cqe) -
		      bpf_core_field_offset(struct nvme_rdma_qe___fl, cqe));
	cqe = BPF_CORE_READ(qe, data);
	return mark(rdma_qid(BPF_CORE_READ(wc, qp, qp_context)),
		    BPF_CORE_READ(cqe, command_id), FABRICLAT_MARK2);
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
