// SPDX-License-Identifier: GPL-2.0
/*
 * tp_floor: BTF tracepoint programs that do nothing, on the tracepoints
 * iolat follows on every I/O. What they cost is what any eBPF tracer of
 * the same events pays before its first instruction of work (the
 * tracepoint's call into BPF, and for sys_enter/sys_exit the syscall
 * slow path every task is put on): bench/iolat-overhead.sh measures it
 * beside iolat, so iolat's own share can be told from the floor.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define NOTHING_ON(tp) \
	SEC("tp_btf/" #tp) int BPF_PROG(floor_##tp) { return 0; }

NOTHING_ON(sys_enter)
NOTHING_ON(sys_exit)
NOTHING_ON(io_uring_submit_req)
NOTHING_ON(io_uring_submit_sqe)
NOTHING_ON(io_uring_queue_async_work)
NOTHING_ON(io_uring_task_add)
NOTHING_ON(io_uring_complete)
NOTHING_ON(block_bio_queue)
NOTHING_ON(block_getrq)
NOTHING_ON(block_split)
NOTHING_ON(block_bio_backmerge)
NOTHING_ON(block_bio_frontmerge)
NOTHING_ON(block_rq_insert)
NOTHING_ON(block_rq_issue)
NOTHING_ON(block_rq_complete)

char LICENSE[] SEC("license") = "GPL";
