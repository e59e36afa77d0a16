// SPDX-License-Identifier: GPL-2.0
/*
 * guard: which NVMe passthrough commands a caller may send to which
 * device, decided per command at the earliest hook upstream offers.
 *
 * Two ways reach the driver with a raw NVMe command, and both are
 * hooked, or the guard could be walked around:
 *   - io_uring: IORING_OP_URING_CMD (lsm/uring_cmd), the command in the
 *     SQE, which is kernel memory by the time the hook runs;
 *   - ioctl(2): NVME_IOCTL_{ADMIN,IO}{,64}_CMD, NVME_IOCTL_IO64_CMD_VEC
 *     and NVME_IOCTL_SUBMIT_IO (lsm.s/file_ioctl), the command in user
 *     memory: the program is sleepable so that bpf_copy_from_user can
 *     fault the page in, where a non-sleepable read would fail and
 *     would have to deny.
 *
 * Only nodes in `guarded` are judged: the loader puts every node of a
 * controller there (its char device, each namespace's block and generic
 * char device) as soon as the policy names one of them, so that no
 * sibling node is a way around. On a guarded node a command is allowed
 * when a rule for that node and a subject matching the caller (anyone,
 * its effective uid, its effective or a supplementary gid, its cgroup or
 * an ancestor) has the opcode's bit; everything else fails with EPERM
 * before the driver sees it, and is reported through `events`.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "guard.h"

#define EPERM 1
#define EFAULT 14

const volatile __u32 loader_tgid = 0;
const volatile bool use_groups = false;		/* the policy has gid rules */
const volatile bool use_cgroups = false;	/* ... cgroup rules */

__u64 probe_hits = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);		/* dev */
	__type(value, __u32);		/* unused */
} guarded SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct guard_rule_key);
	__type(value, struct guard_allow);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GUARD_PATHS * GUARD_CLASSES);
	__type(key, __u32);
	__type(value, struct guard_counts);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);		/* events the ring buffer had no room for */
} lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Up to 6.x the uring_cmd carried a pointer to the command bytes; later
 * kernels keep the whole SQE instead. */
struct io_uring_cmd___old {
	const void *cmd;
} __attribute__((preserve_access_index));

/* The first bytes every NVMe passthrough structure shares. */
struct nvme_cmd_head {
	__u8 opcode;
	__u8 flags;
	__u16 rsvd;
	__u32 nsid;
};

static __always_inline bool rule_allows(struct guard_rule_key *key, __u32 cls, __u8 opc)
{
	struct guard_allow *a = bpf_map_lookup_elem(&rules, key);

	return a && (a->op[cls & 1][opc >> 6] & (1ULL << (opc & 63)));
}

static __always_inline bool allowed(__u32 dev, __u32 cls, __u8 opc, const struct cred *cred)
{
	struct guard_rule_key key = { .dev = dev, .kind = GUARD_SUBJ_ALL };

	if (rule_allows(&key, cls, opc))
		return true;
	key.kind = GUARD_SUBJ_UID;
	key.id = BPF_CORE_READ(cred, euid.val);
	if (rule_allows(&key, cls, opc))
		return true;
	if (use_groups) {
		struct group_info *gi = BPF_CORE_READ(cred, group_info);
		int n = gi ? BPF_CORE_READ(gi, ngroups) : 0;

		key.kind = GUARD_SUBJ_GID;
		key.id = BPF_CORE_READ(cred, egid.val);
		if (rule_allows(&key, cls, opc))
			return true;
		for (int i = 0; i < GUARD_MAX_GROUPS; i++) {
			kgid_t g;

			if (i >= n)
				break;
			if (bpf_core_read(&g, sizeof(g), &gi->gid[i]))
				break;
			key.id = g.val;
			if (rule_allows(&key, cls, opc))
				return true;
		}
	}
	if (use_cgroups) {
		key.kind = GUARD_SUBJ_CGROUP;
		for (int level = 0; level < GUARD_MAX_CGROUP_DEPTH; level++) {
			key.id = bpf_get_current_ancestor_cgroup_id(level);
			if (!key.id)
				break;
			if (rule_allows(&key, cls, opc))
				return true;
		}
	}
	return false;
}

static __always_inline void report(__u32 path, __u32 cls, __u32 dev, __u32 cmd,
				   const struct nvme_cmd_head *h, const struct cred *cred)
{
	struct guard_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u64 id = bpf_get_current_pid_tgid();

	if (!e) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);

		if (n)
			__sync_fetch_and_add(n, 1);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup = bpf_get_current_cgroup_id();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->uid = BPF_CORE_READ(cred, euid.val);
	e->gid = BPF_CORE_READ(cred, egid.val);
	e->dev = dev;
	e->nsid = h->nsid;
	e->cmd = cmd;
	e->path = path;
	e->class = cls;
	e->opcode = h->opcode;
	e->pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

/* 0 or -EPERM for a command to a guarded node, counted either way. */
static __always_inline int judge(__u32 path, __u32 cls, __u32 dev, __u32 cmd,
				 const struct nvme_cmd_head *h)
{
	/* the subjective credentials: an io_uring personality or an
	 * override_creds() is what the driver will act for */
	const struct cred *cred = bpf_get_current_task_btf()->cred;
	__u32 slot = (path & 1) * GUARD_CLASSES + (cls & 1);
	struct guard_counts *c = bpf_map_lookup_elem(&stats, &slot);
	bool ok = allowed(dev, cls, h->opcode, cred);

	/* atomic even per CPU: these programs run with migration disabled,
	 * not preemption, so another task may run them on this CPU meanwhile */
	if (c) {
		__sync_fetch_and_add(&c->checked, 1);
		if (!ok)
			__sync_fetch_and_add(&c->denied, 1);
	}
	if (ok)
		return 0;
	report(path, cls, dev, cmd, h, cred);
	return -EPERM;
}

static __always_inline __u32 file_dev(struct file *file)
{
	return BPF_CORE_READ(file, f_inode, i_rdev);
}

static __always_inline bool is_guarded(__u32 dev)
{
	return bpf_map_lookup_elem(&guarded, &dev) != NULL;
}

SEC("lsm/uring_cmd")
int BPF_PROG(guard_uring_cmd, struct io_uring_cmd *ioucmd, int ret)
{
	struct nvme_cmd_head h;
	const void *cmd;
	__u32 op, cls, dev;

	if (ret)
		return ret;
	op = BPF_CORE_READ(ioucmd, cmd_op);
	switch (op) {
	case GUARD_NVME_URING_CMD_IO:
	case GUARD_NVME_URING_CMD_IO_VEC:
		cls = GUARD_IO;
		break;
	case GUARD_NVME_URING_CMD_ADMIN:
	case GUARD_NVME_URING_CMD_ADMIN_VEC:
		cls = GUARD_ADMIN;
		break;
	default:
		return 0;	/* not NVMe: sockets, ublk, ... */
	}
	dev = file_dev(BPF_CORE_READ(ioucmd, file));
	if (!is_guarded(dev))
		return 0;
	if (bpf_core_field_exists(struct io_uring_cmd___old, cmd))
		cmd = BPF_CORE_READ((struct io_uring_cmd___old *)ioucmd, cmd);
	else
		cmd = (const void *)BPF_CORE_READ(ioucmd, sqe) +
		      __builtin_offsetof(struct io_uring_sqe, cmd);
	if (bpf_probe_read_kernel(&h, sizeof(h), cmd))
		return -EFAULT;
	return judge(GUARD_PATH_URING, cls, dev, op, &h);
}

#define GUARD_UNKNOWN_IOCTL (-2)

/*
 * The class of an NVMe ioctl, after the kernel's own switch (nvme_ioctl,
 * nvme_ns_ioctl, nvme_ctrl_ioctl): -1 for what is not a command (any
 * other ioctl; the NSID query; reset and rescan, which carry no command
 * and need CAP_SYS_ADMIN), GUARD_UNKNOWN_IOCTL for an 'N' ioctl no
 * kernel defines here: refused on a guarded node rather than let through
 * unjudged should a later kernel give it a meaning.
 */
static __always_inline int ioctl_class(unsigned int cmd)
{
	switch (cmd) {
	case GUARD_NVME_IOCTL_IO_CMD:
	case GUARD_NVME_IOCTL_IO64_CMD:
	case GUARD_NVME_IOCTL_IO64_CMD_VEC:
	case GUARD_NVME_IOCTL_SUBMIT_IO:
	case GUARD_NVME_IOCTL_SUBMIT_IO32:
		return GUARD_IO;
	case GUARD_NVME_IOCTL_ADMIN_CMD:
	case GUARD_NVME_IOCTL_ADMIN64_CMD:
		return GUARD_ADMIN;
	case GUARD_NVME_IOCTL_ID:
	case GUARD_NVME_IOCTL_RESET:
	case GUARD_NVME_IOCTL_SUBSYS_RESET:
	case GUARD_NVME_IOCTL_RESCAN:
		return -1;
	}
	return ((cmd >> 8) & 0xff) == 'N' ? GUARD_UNKNOWN_IOCTL : -1;
}

/* An unknown NVMe ioctl on a guarded node: counted, reported, refused. */
static __always_inline int deny_unknown(__u32 dev, __u32 cmd)
{
	const struct cred *cred = bpf_get_current_task_btf()->cred;
	struct nvme_cmd_head h = {};
	__u32 slot = GUARD_PATH_IOCTL * GUARD_CLASSES + GUARD_ADMIN;
	struct guard_counts *c = bpf_map_lookup_elem(&stats, &slot);

	if (c) {
		__sync_fetch_and_add(&c->checked, 1);
		__sync_fetch_and_add(&c->denied, 1);
	}
	report(GUARD_PATH_IOCTL, GUARD_ADMIN, dev, cmd, &h, cred);
	return -EPERM;
}

/* Whether cmd is an NVMe passthrough ioctl on a guarded node. */
static __always_inline bool guarded_ioctl(struct file *file, unsigned int cmd,
					  int *cls, __u32 *dev)
{
	*cls = ioctl_class(cmd);
	if (*cls == -1)
		return false;
	*dev = file_dev(file);
	return is_guarded(*dev);
}

SEC("lsm.s/file_ioctl")
int BPF_PROG(guard_file_ioctl, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	struct nvme_cmd_head h;
	int cls;
	__u32 dev;

	if (ret)
		return ret;
	if (cmd == GUARD_PROBE_IOCTL) {
		if ((bpf_get_current_pid_tgid() >> 32) == loader_tgid)
			__sync_fetch_and_add(&probe_hits, 1);
		return 0;
	}
	if (!guarded_ioctl(file, cmd, &cls, &dev))
		return 0;
	if (cls == GUARD_UNKNOWN_IOCTL)
		return deny_unknown(dev, cmd);
	/* Every structure starts with the opcode and the namespace. The
	 * driver will copy the command again after this: what a second
	 * thread writes there in between is not seen here (see README). */
	if (bpf_copy_from_user(&h, sizeof(h), (const void *)arg))
		return -EFAULT;	/* the driver's copy would fail the same way */
	return judge(GUARD_PATH_IOCTL, cls, dev, cmd, &h);
}

/*
 * 32-bit callers on kernels that give their ioctls a hook of their own
 * (file_ioctl_compat, 6.8 on); the loader keeps it only where the hook
 * exists. Not sleepable, so that it loads wherever the hook does: a
 * command that cannot be read without a page fault is refused.
 */
SEC("lsm/file_ioctl_compat")
int BPF_PROG(guard_ioctl_compat, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	struct nvme_cmd_head h;
	int cls;
	__u32 dev;

	if (ret || !guarded_ioctl(file, cmd, &cls, &dev))
		return ret;
	if (cls == GUARD_UNKNOWN_IOCTL)
		return deny_unknown(dev, cmd);
	if (bpf_probe_read_user(&h, sizeof(h), (const void *)arg))
		return -EPERM;
	return judge(GUARD_PATH_IOCTL, cls, dev, cmd, &h);
}

char LICENSE[] SEC("license") = "GPL";
