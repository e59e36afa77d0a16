/* SPDX-License-Identifier: MIT */
/* Shared by bpf/guard.bpf.c and userspace/guard/guard.c. */
#ifndef SP_GUARD_H
#define SP_GUARD_H

/*
 * The NVMe passthrough ABI (include/uapi/linux/nvme_ioctl.h), spelled out
 * because the BPF side cannot include UAPI headers next to vmlinux.h;
 * sp-guard checks at compile time that they match the system's.
 * _IOC(dir, 'N', nr, size): dir << 30 | size << 16 | 'N' << 8 | nr.
 */
#define GUARD_IOC(dir, nr, size) ((dir) << 30 | (size) << 16 | 'N' << 8 | (nr))
#define GUARD_NVME_IOCTL_ADMIN_CMD	GUARD_IOC(3u, 0x41, 72)	/* nvme_passthru_cmd */
#define GUARD_NVME_IOCTL_SUBMIT_IO	GUARD_IOC(1u, 0x42, 48)	/* nvme_user_io */
/* its 32-bit layout (44 bytes), taken from 64-bit callers on x86-64 too */
#define GUARD_NVME_IOCTL_SUBMIT_IO32	GUARD_IOC(1u, 0x42, 44)
/* controller management without a command: the kernel asks CAP_SYS_ADMIN */
#define GUARD_NVME_IOCTL_ID		GUARD_IOC(0u, 0x40, 0)
#define GUARD_NVME_IOCTL_RESET		GUARD_IOC(0u, 0x44, 0)
#define GUARD_NVME_IOCTL_SUBSYS_RESET	GUARD_IOC(0u, 0x45, 0)
#define GUARD_NVME_IOCTL_RESCAN		GUARD_IOC(0u, 0x46, 0)
#define GUARD_NVME_IOCTL_IO_CMD		GUARD_IOC(3u, 0x43, 72)
#define GUARD_NVME_IOCTL_ADMIN64_CMD	GUARD_IOC(3u, 0x47, 80)	/* nvme_passthru_cmd64 */
#define GUARD_NVME_IOCTL_IO64_CMD	GUARD_IOC(3u, 0x48, 80)
#define GUARD_NVME_IOCTL_IO64_CMD_VEC	GUARD_IOC(3u, 0x49, 80)
#define GUARD_NVME_URING_CMD_IO		GUARD_IOC(3u, 0x80, 72)	/* nvme_uring_cmd */
#define GUARD_NVME_URING_CMD_IO_VEC	GUARD_IOC(3u, 0x81, 72)
#define GUARD_NVME_URING_CMD_ADMIN	GUARD_IOC(3u, 0x82, 72)
#define GUARD_NVME_URING_CMD_ADMIN_VEC	GUARD_IOC(3u, 0x83, 72)
/* No driver answers it: sp-guard issues it on /dev/null to see whether
 * the attached programs actually run (bpf in the lsm= list). */
#define GUARD_PROBE_IOCTL		GUARD_IOC(0u, 0xfe, 0)

enum guard_class {
	GUARD_IO,		/* NVM command set: read, write, flush, ... */
	GUARD_ADMIN,		/* admin queue: identify, format, sanitize, ... */
	GUARD_CLASSES,
};

enum guard_path {
	GUARD_PATH_URING,	/* IORING_OP_URING_CMD */
	GUARD_PATH_IOCTL,	/* ioctl(2), native or compat */
	GUARD_PATHS,
};

enum guard_subject {
	GUARD_SUBJ_ALL,		/* id 0: every caller */
	GUARD_SUBJ_UID,		/* effective uid */
	GUARD_SUBJ_GID,		/* effective or supplementary gid */
	GUARD_SUBJ_CGROUP,	/* cgroup v2 id: the caller's cgroup or an ancestor */
};

/* How many supplementary groups and cgroup levels are looked at. */
#define GUARD_MAX_GROUPS	16
#define GUARD_MAX_CGROUP_DEPTH	16

/* dev: the kernel's dev_t (major << 20 | minor) of the node a command is
 * sent through. */
struct guard_rule_key {
	__u32 dev;
	__u32 kind;		/* enum guard_subject */
	__u64 id;
};

/* One bit per opcode: allowed when any rule matching the caller has it. */
struct guard_allow {
	__u64 op[GUARD_CLASSES][4];
};

struct guard_counts {
	__u64 checked;		/* commands to a guarded node */
	__u64 denied;
};

/* Index of the per-CPU counters: path * GUARD_CLASSES + class; and one
 * slot for events the ring buffer had no room for. */
#define GUARD_STAT_LOST		(GUARD_PATHS * GUARD_CLASSES)
#define GUARD_STATS		(GUARD_STAT_LOST + 1)

struct guard_event {
	__u64 ts_ns;		/* CLOCK_MONOTONIC */
	__u64 cgroup;
	__u32 pid;		/* tgid */
	__u32 tid;
	__u32 uid;		/* effective */
	__u32 gid;
	__u32 dev;
	__u32 nsid;		/* as the command asked */
	__u32 cmd;		/* the ioctl number or the uring_cmd op */
	__u8 path;		/* enum guard_path */
	__u8 class;		/* enum guard_class */
	__u8 opcode;
	__u8 pad;
	char comm[16];
};

#endif
