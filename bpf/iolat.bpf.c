// SPDX-License-Identifier: GPL-2.0
/*
 * iolat: per-layer latency of block requests, from the block layer's
 * tracepoints (tp_btf, which every kernel here accepts): time queued
 * (insert -> issue), time in driver and device (issue -> complete), and
 * the block layer end to end. A request that is issued without being
 * inserted (no I/O scheduler, direct issue) starts at its issue.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "iolat.h"

#define REQ_OP_MASK 0xff

const volatile bool per_disk = false;
const volatile bool per_op = false;
const volatile bool in_ms = false;
const volatile __u32 filter_dev = 0;	/* 0: every disk */

struct stamps {
	__u64 insert;
	__u64 issue;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct request *);
	__type(value, struct stamps);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct iolat_key);
	__type(value, struct iolat_hist);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);		/* tgid of the submitting process */
	__type(value, struct iolat_punts);
} punts SEC(".maps");

static __always_inline __u32 rq_dev(struct request *rq)
{
	struct gendisk *disk = BPF_CORE_READ(rq, q, disk);

	if (!disk)
		return 0;
	return (__u32)BPF_CORE_READ(disk, major) << 20 | BPF_CORE_READ(disk, first_minor);
}

static __always_inline bool wanted(struct request *rq)
{
	return !filter_dev || rq_dev(rq) == filter_dev;
}

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 slot = 0;

	/* bounded loop: the verifier sees at most IOLAT_SLOTS steps */
	for (int i = 0; i < IOLAT_SLOTS - 1; i++) {
		if (v < 2)
			break;
		v >>= 1;
		slot++;
	}
	return slot;
}

static __always_inline void account(struct request *rq, __u32 layer, __u64 ns)
{
	static const struct iolat_hist zero;
	struct iolat_key key = {
		.layer = layer,
		.dev = per_disk ? rq_dev(rq) : 0,
		.op = per_op ? (BPF_CORE_READ(rq, cmd_flags) & REQ_OP_MASK) : ~0u,
	};
	struct iolat_hist *h;
	__u64 v = in_ms ? ns / 1000000 : ns / 1000;
	__u32 slot = log2_slot(v);

	h = bpf_map_lookup_elem(&hists, &key);
	if (!h) {
		bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &key);
		if (!h)
			return;
	}
	if (slot < IOLAT_SLOTS)
		__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum, v);
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(iolat_insert, struct request *rq)
{
	struct stamps s = { .insert = bpf_ktime_get_ns() };

	if (wanted(rq))
		bpf_map_update_elem(&inflight, &rq, &s, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(iolat_issue, struct request *rq)
{
	struct stamps *s, fresh = { 0 };
	__u64 now = bpf_ktime_get_ns();

	if (!wanted(rq))
		return 0;
	s = bpf_map_lookup_elem(&inflight, &rq);
	if (!s) {
		fresh.issue = now;
		bpf_map_update_elem(&inflight, &rq, &fresh, BPF_ANY);
		return 0;
	}
	s->issue = now;
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(iolat_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	struct stamps *s = bpf_map_lookup_elem(&inflight, &rq);
	__u64 now = bpf_ktime_get_ns();

	if (!s)
		return 0;
	if (s->issue) {
		if (s->insert)
			account(rq, IOLAT_BLK_QUEUE, s->issue - s->insert);
		account(rq, IOLAT_DEVICE, now - s->issue);
		account(rq, IOLAT_BLK_TOTAL, now - (s->insert ? s->insert : s->issue));
	}
	bpf_map_delete_elem(&inflight, &rq);
	return 0;
}

/*
 * io_uring hand-offs to io-wq. Both events fire in the submitting task,
 * so the current task is the one to blame. The submit tracepoint was
 * renamed (io_uring_submit_sqe up to 6.x, io_uring_submit_req after):
 * the loader keeps whichever this kernel has.
 */
static __always_inline struct iolat_punts *punt_entry(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct iolat_punts *p = bpf_map_lookup_elem(&punts, &tgid), zero = {};

	if (p)
		return p;
	bpf_get_current_comm(zero.comm, sizeof(zero.comm));
	bpf_map_update_elem(&punts, &tgid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&punts, &tgid);
}

static __always_inline int count_submit(void)
{
	struct iolat_punts *p = punt_entry();

	if (p)
		__sync_fetch_and_add(&p->submitted, 1);
	return 0;
}

SEC("tracepoint/io_uring/io_uring_submit_req")
int iolat_submit_req(void *ctx)
{
	return count_submit();
}

SEC("tracepoint/io_uring/io_uring_submit_sqe")
int iolat_submit_sqe(void *ctx)
{
	return count_submit();
}

SEC("tracepoint/io_uring/io_uring_queue_async_work")
int iolat_punt(void *ctx)
{
	struct iolat_punts *p = punt_entry();

	if (p)
		__sync_fetch_and_add(&p->punted, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
