/* SPDX-License-Identifier: MIT */
/* Shared by bpf/featprobe.bpf.c and tracing/featprobe.c. */
#ifndef SP_FEATPROBE_H
#define SP_FEATPROBE_H

enum sp_feature {
	SP_FEAT_TRACEPOINT,
	SP_FEAT_RAW_TRACEPOINT,
	SP_FEAT_TP_BTF,
	SP_FEAT_FENTRY,
	SP_FEAT_FEXIT,
	SP_FEAT_KPROBE,
	SP_FEAT_LSM,
	SP_FEAT_MAX,
};

#endif
