// SPDX-License-Identifier: GPL-2.0
/*
 * One tiny program per attach type. sp-features loads them one at a
 * time, triggers each from its own process and checks that it fired,
 * so "supported" means "loads, attaches and runs here".
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "featprobe.h"

const volatile __u32 target_tgid = 0;

__u64 hits[SP_FEAT_MAX] = {};

static __always_inline void hit(enum sp_feature f)
{
	if ((bpf_get_current_pid_tgid() >> 32) == target_tgid)
		__sync_fetch_and_add(&hits[f], 1);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int feat_tracepoint(void *ctx)
{
	hit(SP_FEAT_TRACEPOINT);
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int feat_raw_tracepoint(void *ctx)
{
	hit(SP_FEAT_RAW_TRACEPOINT);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(feat_tp_btf, struct pt_regs *regs, long id)
{
	hit(SP_FEAT_TP_BTF);
	return 0;
}

SEC("fentry/vfs_read")
int BPF_PROG(feat_fentry, struct file *file)
{
	hit(SP_FEAT_FENTRY);
	return 0;
}

SEC("fexit/vfs_read")
int BPF_PROG(feat_fexit, struct file *file, char *buf, size_t count,
	     loff_t *pos, ssize_t ret)
{
	hit(SP_FEAT_FEXIT);
	return 0;
}

SEC("kprobe/vfs_read")
int BPF_KPROBE(feat_kprobe, struct file *file)
{
	hit(SP_FEAT_KPROBE);
	return 0;
}

SEC("lsm/file_permission")
int BPF_PROG(feat_lsm, struct file *file, int mask, int ret)
{
	hit(SP_FEAT_LSM);
	return ret;	/* never changes a decision */
}

char LICENSE[] SEC("license") = "GPL";
