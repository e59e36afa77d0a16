// SPDX-License-Identifier: GPL-2.0
/*
 * iolat: follows each I/O through the layers it crosses and sends one
 * record per I/O (and one per block request) to user space, which
 * turns the time stamps into per-layer latencies.
 *
 * An I/O is a read/write/fsync-family syscall on a regular file or a
 * block device, or one io_uring request. A syscall's record lives in
 * its thread's task storage (`active`), keyed by the thread id; an
 * io_uring request's in a slot of `io_slots`, keyed by the io_kiocb's
 * address (kernel addresses never collide with thread ids). `active`
 * also says which
 * I/O a thread is working for right now, so the events that happen in
 * that thread (VFS, filesystem, bio queued, request issued) land in the
 * right record; a block request carries its owner from its first bio
 * to its completion, which usually runs in interrupt context or in a
 * kworker, so the time is still charged to the task that submitted it.
 *
 * Cost: every map update is a lock, an allocation and a copy, and they
 * were most of what tracing cost a QD1 workload. So a syscall I/O's
 * record never leaves its task, and io_uring and block requests live
 * in fixed tables of slots claimed with one compare-and-swap; a
 * syscall's request hands its completion over to the syscall's exit
 * through its slot instead of through a map keyed by the thread.
 *
 * Always available: tracepoints (syscalls, io_uring, block, nvme, scsi,
 * ext4, jbd2). Optional, chosen by the loader at run time: fentry or
 * kprobe hooks for VFS, filesystem, page cache, io-wq and queue_rq.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "iolat.h"

#define REQ_OP_MASK 0xff
#define S_IFMT 0170000
#define S_IFREG 0100000
#define S_IFBLK 0060000
/* a driver/device stamp left on this CPU is used only this soon after */
#define STASH_NS 1000000ULL

const volatile __u32 filter_tgid = 0;	/* 0: every process */
const volatile __u32 self_tgid = 0;	/* iolat itself: its own output is no workload */
const volatile __u64 filter_cgid = 0;	/* 0: every cgroup */
const volatile char filter_comm[16] = {};	/* "": every command */
const volatile __u32 filter_dev = 0;	/* 0: every disk */
const volatile __u64 min_ns = 0;	/* only I/Os at least this slow */
const volatile bool want_syscalls = true;
const volatile bool busy_clock = false;	/* stamps leave out the CPU's idle time */

/*
 * The tick code's record of each CPU's idle time (idle_sleeptime and
 * iowait_sleeptime of tick_cpu_sched, stopped at every interrupt's entry
 * and restarted at its exit while the CPU idles). A stamp is never taken
 * in the idle task outside an interrupt, so at a stamp the CPU is not
 * idle and the two sums are current. The per-CPU variable is found
 * through /proc/kallsyms by the loader, only for --busy-clock: a typed
 * ksym would have to resolve at load time on every kernel, and a static
 * per-CPU variable does not where kallsyms lacks data symbols.
 */
const volatile __u64 tick_sched_off = 0;	/* tick_cpu_sched's per-CPU offset */
const volatile __u64 per_cpu_offset_addr = 0;	/* &__per_cpu_offset[0] */

static __always_inline __u64 idle_ns(void)
{
	__u64 base = 0, idle = 0, iowait = 0, ts;
	__u32 cpu;

	if (!busy_clock)
		return 0;
	cpu = bpf_get_smp_processor_id();
	bpf_probe_read_kernel(&base, sizeof(base), (void *)(per_cpu_offset_addr + cpu * sizeof(__u64)));
	ts = tick_sched_off + base;
	bpf_probe_read_kernel(&idle, sizeof(idle),
			      (void *)(ts + bpf_core_field_offset(struct tick_sched, idle_sleeptime)));
	bpf_probe_read_kernel(&iowait, sizeof(iowait),
			      (void *)(ts + bpf_core_field_offset(struct tick_sched, iowait_sleeptime)));
	return idle + iowait;
}

static __always_inline __u64 clock_ns(void)
{
	return bpf_ktime_get_ns() - idle_ns();
}

/* x86_64 and arm64 numbers of the syscalls an I/O can be */
#if defined(__TARGET_ARCH_x86)
enum { NR_read = 0, NR_write = 1, NR_pread64 = 17, NR_pwrite64 = 18, NR_readv = 19,
       NR_writev = 20, NR_fsync = 74, NR_fdatasync = 75, NR_preadv = 295,
       NR_pwritev = 296, NR_preadv2 = 327, NR_pwritev2 = 328 };
#elif defined(__TARGET_ARCH_arm64)
enum { NR_read = 63, NR_write = 64, NR_pread64 = 67, NR_pwrite64 = 68, NR_readv = 65,
       NR_writev = 66, NR_fsync = 82, NR_fdatasync = 83, NR_preadv = 69,
       NR_pwritev = 70, NR_preadv2 = 286, NR_pwritev2 = 287 };
#endif
#define NR_io_uring_enter 426

/*
 * A request's slot, from its insert or issue to its completion (or, for
 * a syscall's request, to the syscall's exit). See SLOT_TABLE.
 */
struct rq_state {
	__u64 tag;		/* the request's address, 0: free */
	__u64 t_claim;
	__u64 owner;		/* key of the I/O it serves, 0 when none */
	__u32 link;		/* enum rq_link */
	__u32 tgid, tid;	/* who it is charged to */
	__u32 dev, op;
	__u64 t_bio, t_getrq, t_insert, t_driver, t_device, t_dev_done, t_done;
	char comm[16];
};

/*
 * The hand-over between a syscall's request and the syscall: the task
 * links the request to its I/O (LINKED); whichever of completion and
 * exit (or the next request of the same I/O, which DETACHES the one
 * before) comes second emits it and frees the slot. The two race on
 * other CPUs, so the state only moves by compare-and-swap.
 */
enum rq_link {
	RQ_ALONE,	/* no syscall waits for it: its completion emits it */
	RQ_LINKED,	/* its syscall's exit will take it into the I/O's record */
	RQ_DONE,	/* completed while linked: the exit takes it */
	RQ_DETACHED,	/* its syscall no longer waits: the completion emits it */
};

#define RQ_SLOTS	16384	/* requests in flight at once, system-wide */
#define IO_SLOTS	16384	/* io_uring requests in flight at once */
/*
 * Requests one syscall follows at once: an fsync has its data write and
 * the bitmap reads mballoc prefetches without waiting for them; the one
 * that completes last before the syscall ends is the one it waited for.
 */
#define RQ_LINKS	4
#define SLOT_PROBES	4
/* a slot held this long belongs to a request that was dropped unseen */
#define SLOT_STALE_NS	(30ULL * 1000000000ULL)

struct bio_state {
	__u64 owner;
	__u64 t, t_getrq;
	__u32 tgid, tid;
	char comm[16];
};

/*
 * A bio an I/O of this task queued, until its request is first seen.
 * That happens in this task: at once without a plug, or when the task
 * flushes its plug (at the plug's end or when it sleeps). The owner is
 * kept because io_uring flushes one plug for a whole batch of requests.
 */
struct bio_note {
	struct bio *bio;	/* NULL: free */
	__u64 owner, t, t_getrq;
};

/*
 * Notes per task: a plug usually holds one or two bios of an I/O. A
 * note whose bio never got a request (merged, or a bio-based device
 * such as zram) is taken back after BIO_NOTE_STALE_NS; with every note
 * in use the bio goes to the `bios` map instead.
 */
#define BIO_NOTES		4
#define BIO_NOTE_STALE_NS	1000000ULL

/* per CPU: what a driver tracepoint without a request pointer refers to */
struct cpu_state {
	struct request *last_issued;
	__u64 driver_t;		/* queue_rq / nvme_setup_cmd, for the next issue */
	__u64 driver_rq;	/* the request driver_t is for, 0 if unknown */
	__u64 dev_done_t;	/* nvme_complete_rq / scsi done, for the next complete */
	__u64 key;		/* see addr_key() */
};

struct journal {
	__u64 start, end;
};

/* An io_uring request's record, from submission to CQE. See SLOT_TABLE. */
struct io_slot {
	__u64 tag;		/* the io_kiocb's address, 0: free */
	__u64 t_claim;
	struct iolat_event ev;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, IO_SLOTS);
	__type(key, __u32);
	__type(value, struct io_slot);
} io_slots SEC(".maps");

/* per task, freed with it */
struct task_io {
	__u64 owner;		/* key of the I/O it works for now, or 0: its
				 * thread id while in a read/write/fsync (the
				 * record is `ev`), else an io_kiocb's address */
	__u64 enter_ns;		/* in io_uring_enter since, or 0 */
	struct bio_note notes[BIO_NOTES];
	/* requests linked to its syscall I/O (0: none) and their slots */
	__u64 rq[RQ_LINKS];
	__u32 rq_idx[RQ_LINKS];
	__u32 rq_next;		/* the link given up when all are taken */
	/*
	 * Links in use, which rq[] also tells: kept so that every data
	 * syscall's entry and exit test one word instead of walking rq[]
	 * (the walk cost the entry about 100 ns per I/O).
	 */
	__u32 nr_linked;
	/*
	 * Its io_uring counts, moved into punts/enters (per process) when
	 * it exits or user space runs iolat_flush: the hot paths add here,
	 * to a line the task owns, instead of looking up a shared hash.
	 */
	__u64 submitted, punted, enter_calls, enter_ns_sum;
	struct iolat_event ev;	/* its syscall I/O */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_io);
} active SEC(".maps");

/*
 * LRU: a bio that is merged into another request, or goes to a bio-based
 * device (zram, dm), never shows up again; the LRU recycles its entry.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct bio *);
	__type(value, struct bio_state);
} bios SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RQ_SLOTS);
	__type(key, __u32);
	__type(value, struct rq_state);
} rq_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_state);
} cpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct journal);
} journal SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

__u64 counters[IOLAT_CNT_N] = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);		/* tgid of the submitting process */
	__type(value, struct iolat_punts);
} punts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);		/* tgid */
	__type(value, struct iolat_enter);
} enters SEC(".maps");

/*
 * The current task's name, read through BTF: two loads, where
 * bpf_get_current_comm cost 80 ns per call here (a helper call and a
 * byte-wise copy). Not where the same copy also takes a name from map
 * memory (clang would merge the two, which the verifier refuses):
 * those are the rare requests nobody owns, which keep the helper.
 */
static __always_inline void current_comm(char *dst)
{
	__builtin_memcpy(dst, bpf_get_current_task_btf()->comm, TASK_COMM_LEN);
}

static __always_inline bool task_wanted(void)
{
	char comm[16];
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (tgid == self_tgid)
		return false;
	if (filter_tgid && tgid != filter_tgid)
		return false;
	if (filter_cgid && bpf_get_current_cgroup_id() != filter_cgid)
		return false;
	if (!filter_comm[0])
		return true;
	current_comm(comm);
	for (int i = 0; i < 16; i++) {
		if (comm[i] != filter_comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

/* tp_btf programs only: their request is a BTF pointer, read directly
 * (a probe read per field costs a helper call each) */
static __always_inline __u32 rq_dev(struct request *rq)
{
	struct gendisk *disk = rq->q->disk;

	if (!disk)
		return 0;
	return (__u32)disk->major << 20 | disk->first_minor;
}

/*
 * The reader polls every 100 ms anyway: waking it for every record would
 * cost a context switch per I/O, so only a filling ring wakes it.
 */
#define WAKEUP_BYTES (4 << 20)

static __always_inline void emit_n(void *recs, __u32 n)
{
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > WAKEUP_BYTES ?
		      BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;

	if (n > IOLAT_BATCH)
		return;
	if (bpf_ringbuf_output(&events, recs, n * sizeof(struct iolat_event), flags))
		__sync_fetch_and_add(&counters[IOLAT_CNT_LOST], n);
}

/*
 * A ring buffer write costs about as much for one record as for eight:
 * while a CPU ends I/Os densely, their records go out in batches, and
 * an I/O after a quiet spell goes out at once with what is pending, so
 * a slow stream is never held back. A program that interrupts another
 * one's batching on the same CPU (a completion in an interrupt) writes
 * straight to the ring. User space takes what is left in the batches
 * after it has detached the programs.
 */
#define BATCH_GAP_NS	100000ULL

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct iolat_batch);
} batch SEC(".maps");

/* busy is only ever seen by this CPU: no atomics, but no reordering either */
static __always_inline void batch_busy(struct iolat_batch *b, __u16 busy)
{
	asm volatile("" ::: "memory");
	*(volatile __u16 *)&b->busy = busy;
	asm volatile("" ::: "memory");
}

static __always_inline void emit(struct iolat_event *e)
{
	__u32 zero = 0, n;
	struct iolat_batch *b = bpf_map_lookup_elem(&batch, &zero);
	__u64 now;
	bool dense;

	if (!b || *(volatile __u16 *)&b->busy) {
		emit_n(e, 1);
		return;
	}
	batch_busy(b, 1);
	now = e->t[MS_END] ? e->t[MS_END] : e->t[MS_BLK_DONE];
	dense = now - b->t_last < BATCH_GAP_NS;
	b->t_last = now;
	n = b->n;
	if (!dense && !n) {
		emit_n(e, 1);
		batch_busy(b, 0);
		return;
	}
	if (n >= IOLAT_BATCH)
		n = 0;
	__builtin_memcpy(&b->ev[n], e, sizeof(*e));
	n++;
	if (n == IOLAT_BATCH || !dense) {
		emit_n(b->ev, n);
		n = 0;
	}
	b->n = n;
	batch_busy(b, 0);
}

static __always_inline struct task_io *task_io(bool create)
{
	return bpf_task_storage_get(&active, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline void active_set(__u64 key)
{
	struct task_io *a = task_io(key != 0);

	if (a)
		a->owner = key;
}

static __always_inline bool is_syscall_key(__u64 key)
{
	return key && key == (__u32)key;
}

/*
 * A table of slots for things in flight that are known by an address
 * (requests, io_uring requests): a hash map would do, but every update
 * is a lock, an allocation and a copy. A slot is claimed by swapping
 * its tag from 0 to the address, at one of SLOT_PROBES places after
 * the address's hash, and freed by swapping it back; one held past
 * SLOT_STALE_NS belongs to something dropped unseen and is taken back.
 */
#define SLOT_TABLE(name, type, map, n)						\
static __always_inline type *name##_slot(__u32 idx)				\
{										\
	idx &= (n) - 1;								\
	return bpf_map_lookup_elem(&map, &idx);					\
}										\
										\
static __always_inline type *name##_find(__u64 tag, __u32 *idx)		\
{										\
	__u32 h = slot_hash(tag);						\
										\
	for (int i = 0; i < SLOT_PROBES; i++) {					\
		type *sl = name##_slot(h + i);					\
										\
		if (sl && sl->tag == tag) {					\
			*idx = (h + i) & ((n) - 1);				\
			return sl;						\
		}								\
	}									\
	return NULL;								\
}										\
										\
static __always_inline type *name##_claim(__u64 tag, __u64 now, __u32 *idx)	\
{										\
	__u32 h = slot_hash(tag);						\
										\
	for (int i = 0; i < SLOT_PROBES; i++) {					\
		type *sl = name##_slot(h + i);					\
		__u64 old;							\
										\
		if (!sl)							\
			continue;						\
		old = sl->tag;							\
		if (old && old != tag && now - sl->t_claim < SLOT_STALE_NS)	\
			continue;						\
		if (__sync_val_compare_and_swap(&sl->tag, old, tag) != old)	\
			continue;						\
		if (old && old != tag)						\
			__sync_fetch_and_add(&counters[IOLAT_CNT_STALE], 1);	\
		sl->t_claim = now;						\
		*idx = (h + i) & ((n) - 1);					\
		return sl;							\
	}									\
	__sync_fetch_and_add(&counters[IOLAT_CNT_NOSLOT], 1);			\
	return NULL;								\
}										\
										\
/* everything read from the slot was read before */				\
static __always_inline void name##_free(type *sl)				\
{										\
	__sync_lock_test_and_set(&sl->tag, 0);					\
}

static __always_inline __u32 slot_hash(__u64 addr)
{
	/* requests sit in arrays a few hundred bytes apart: mix the bits */
	return (addr * 0x9E3779B97F4A7C15ULL) >> 40;
}

SLOT_TABLE(rq, struct rq_state, rq_slots, RQ_SLOTS)
SLOT_TABLE(io, struct io_slot, io_slots, IO_SLOTS)

/* An io_uring request's record, or NULL when it is not followed. */
static __always_inline struct iolat_event *uring_io(__u64 key)
{
	__u32 idx;
	struct io_slot *sl = io_find(key, &idx);

	return sl ? &sl->ev : NULL;
}

/* The record of I/O `owner`, seen from task `a` (the current one). */
static __always_inline struct iolat_event *io_of(struct task_io *a, __u64 owner)
{
	if (!owner)
		return NULL;
	/* a syscall I/O is only ever touched from its own thread */
	if (is_syscall_key(owner))
		return a && a->owner == owner ? &a->ev : NULL;
	return uring_io(owner);
}

static __always_inline struct iolat_event *current_io(void)
{
	struct task_io *a = task_io(false);

	return a ? io_of(a, a->owner) : NULL;
}

/* First time the current thread's I/O reaches moment `ms`. */
static __always_inline int mark(int ms)
{
	struct iolat_event *e = current_io();

	if (e && ms < MS_N && !e->t[ms])
		e->t[ms] = clock_ns();
	return 0;
}

/* A record, built in place where it will live until its I/O ends. */
static __always_inline void record_begin(struct iolat_event *e, __u32 kind, __u32 op,
					 __u64 pid_tgid, __u64 now)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->tgid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->op = op;
	current_comm(e->comm);
	e->t[MS_START] = now;
}

/* An io_uring request of task `a` begins: its record is built in its slot. */
static __always_inline void uring_begin(struct task_io *a, __u64 key, __u32 op)
{
	__u64 id = bpf_get_current_pid_tgid(), now = clock_ns();
	struct io_slot *sl;
	__u32 idx;

	/*
	 * A new request: claimed in one pass, without looking for a slot
	 * of its own first. One left by an earlier use of this io_kiocb
	 * whose CQE was not seen is taken if met on the way; one further
	 * down its probes is shadowed by this one and taken back stale.
	 */
	sl = io_claim(key, now, &idx);
	if (!sl) {
		a->owner = 0;
		return;
	}
	record_begin(&sl->ev, IOLAT_URING, op, id, now);
	a->owner = key;
}

/* ---------------------------------------------------------- request slots */

static __always_inline struct cpu_state *this_cpu(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cpu, &zero);
}

/*
 * A kernel pointer as a number to hash: the verifier allows no
 * arithmetic on a pointer, but what comes back out of map memory is a
 * plain number.
 */
static __always_inline __u64 addr_key(struct cpu_state *c, const void *p)
{
	*(volatile __u64 *)&c->key = (__u64)p;
	return *(volatile __u64 *)&c->key;
}


/* A block request's moments after its bio, MS_GETRQ to MS_BLK_DONE, into t[]. */
static __always_inline void request_moments(__u64 *t, const struct rq_state *st)
{
	t[MS_GETRQ] = st->t_getrq;
	t[MS_INSERT] = st->t_insert;
	t[MS_DRIVER] = st->t_driver;
	t[MS_DEVICE] = st->t_device;
	t[MS_DEV_DONE] = st->t_dev_done;
	t[MS_BLK_DONE] = st->t_done;
}

/* A completed request as a record of its own, and its slot freed. */
static __always_inline void rq_emit_alone(struct rq_state *st)
{
	struct iolat_event r = { .kind = IOLAT_REQUEST, .nr_requests = 1 };
	__u64 first;

	r.t[MS_BIO] = st->t_bio;
	request_moments(r.t, st);
	r.dev = st->dev;
	r.op = st->op;
	r.tgid = st->tgid;
	r.tid = st->tid;
	__builtin_memcpy(r.comm, st->comm, sizeof(r.comm));
	rq_free(st);
	first = r.t[MS_BIO] ? r.t[MS_BIO] : r.t[MS_INSERT] ? r.t[MS_INSERT] :
		r.t[MS_DRIVER] ? r.t[MS_DRIVER] : r.t[MS_DEVICE];
	if (first && r.t[MS_BLK_DONE] - first >= min_ns)
		emit(&r);
}

/* A completed request's moments into its I/O's record. */
static __always_inline void rq_into(struct iolat_event *e, const struct rq_state *st)
{
	if (st->t_bio && (!e->t[MS_BIO] || st->t_bio < e->t[MS_BIO]))
		e->t[MS_BIO] = st->t_bio;
	e->rq_t_bio = st->t_bio;
	request_moments(e->t, st);
	e->dev = st->dev;
	e->rq_op = st->op;
	e->rq_in = 1;
}

/*
 * The syscall stops following its link i. A request still in flight is
 * left to its completion, which emits it; a completed one is returned,
 * still in its slot, for the caller to take or emit.
 */
static __always_inline struct rq_state *rq_unlink(struct task_io *a, __u32 i)
{
	struct rq_state *st;
	__u64 rq;

	if (i >= RQ_LINKS || !a->rq[i])
		return NULL;
	rq = a->rq[i];
	a->rq[i] = 0;
	a->nr_linked--;
	st = rq_slot(a->rq_idx[i]);
	if (!st || st->tag != rq)
		return NULL;
	if (__sync_val_compare_and_swap(&st->link, RQ_LINKED, RQ_DETACHED) == RQ_LINKED)
		return NULL;
	return st;	/* RQ_DONE: its completion has been and gone */
}

/*
 * The syscall ends (into: its record) or is abandoned (into: NULL): the
 * request of its that completed last goes into the record, the others
 * out on their own.
 */
static __always_inline void rq_unlink_all(struct task_io *a, struct iolat_event *into)
{
	struct rq_state *last = NULL;

	for (__u32 i = 0; i < RQ_LINKS; i++) {
		struct rq_state *st = rq_unlink(a, i);

		if (!st)
			continue;
		if (!into) {
			rq_emit_alone(st);
		} else if (!last) {
			last = st;
		} else if (st->t_done > last->t_done) {
			rq_emit_alone(last);
			last = st;
		} else {
			rq_emit_alone(st);
		}
	}
	if (last && into) {
		rq_into(into, last);
		rq_free(last);
	}
}

/* Request `key` in slot `idx` is one the current syscall waits for. */
static __always_inline void rq_link(struct task_io *a, __u64 key, __u32 idx)
{
	__u32 i;

	for (i = 0; i < RQ_LINKS; i++)
		if (!a->rq[i])
			break;
	if (i >= RQ_LINKS) {
		struct rq_state *st;

		i = a->rq_next++ % RQ_LINKS;
		st = rq_unlink(a, i);
		if (st)
			rq_emit_alone(st);
	}
	if (i < RQ_LINKS) {
		a->rq[i] = key;
		a->rq_idx[i] = idx;
		a->nr_linked++;
	}
}

/* ---------------------------------------------------------- syscalls */

static __always_inline bool is_data_syscall(long id)
{
	switch (id) {
	case NR_read: case NR_write: case NR_pread64: case NR_pwrite64:
	case NR_readv: case NR_writev: case NR_preadv: case NR_pwritev:
	case NR_preadv2: case NR_pwritev2: case NR_fsync: case NR_fdatasync:
		return true;
	}
	return false;
}

/* Regular files and block devices only: not pipes, sockets, terminals. */
static __always_inline bool fd_is_storage(long fd)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *f = NULL;
	umode_t mode;

	if (fd < 0 || !fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return false;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (!f)
		return false;
	mode = BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT;
	if (mode == S_IFBLK)
		return true;
	if (mode != S_IFREG)
		return false;
	/* files of proc, sysfs and the like are not storage */
	switch (BPF_CORE_READ(f, f_inode, i_sb, s_magic)) {
	case 0x9fa0:		/* proc */
	case 0x62656572:	/* sysfs */
	case 0x64626720:	/* debugfs */
	case 0x74726163:	/* tracefs */
	case 0x63677270:	/* cgroup2 */
	case 0x27e0eb:		/* cgroup */
	case 0x73636673:	/* securityfs */
	case 0xcafe4a11:	/* bpffs */
		return false;
	}
	return true;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(iolat_sys_enter, struct pt_regs *regs, long id)
{
	struct task_io *a;
	__u64 pid_tgid;

	if (id == NR_io_uring_enter) {
		if (!task_wanted())
			return 0;
		a = task_io(true);
		if (a)
			a->enter_ns = clock_ns();
		return 0;
	}
	if (!want_syscalls || !is_data_syscall(id) || !task_wanted())
		return 0;
	a = task_io(true);
	if (!a)
		return 0;
	/* a request a killed syscall left linked is its completion's now */
	if (a->nr_linked)
		rq_unlink_all(a, NULL);
	/*
	 * Built in place: whether the fd is storage is asked at exit, and
	 * only if no block request answered, so the I/O path does not pay
	 * for it.
	 */
	pid_tgid = bpf_get_current_pid_tgid();
	record_begin(&a->ev, IOLAT_SYSCALL, id, pid_tgid, clock_ns());
	a->owner = (__u32)pid_tgid;
	return 0;
}

/* An I/O that ends with a bio queued but no request of its own: counted. */
static __always_inline void untied_count(const struct iolat_event *e)
{
	if (e->t[MS_BIO] && !e->rq_in)
		__sync_fetch_and_add(&counters[IOLAT_CNT_UNTIED], 1);
}

/*
 * The journal commit an fsync waited for: one that was running while it
 * ran. jbd2 wakes the waiters before its end_commit tracepoint fires, so
 * the end is often not known yet when the fsync returns: the journal
 * layer then runs from the commit's start to the fsync's next moment.
 */
static __always_inline void add_journal(struct iolat_event *e, __u64 now)
{
	__u32 zero = 0;
	struct journal *j = bpf_map_lookup_elem(&journal, &zero);

	if (!j || !j->start || j->start > now || (j->end && j->end < e->t[MS_START]))
		return;
	e->t[MS_JOURNAL] = j->start;
	if (j->end && j->end <= now)
		e->t[MS_JOURNAL_END] = j->end;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(iolat_sys_exit, struct pt_regs *regs, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct task_io *a = task_io(false);
	struct iolat_event *e;
	__u64 now;

	/* most syscalls of the system end here, after one lookup */
	if (!a)
		return 0;
	if (a->enter_ns) {
		/* atomic: iolat_flush may be taking the counts from another CPU */
		__sync_fetch_and_add(&a->enter_calls, 1);
		__sync_fetch_and_add(&a->enter_ns_sum, clock_ns() - a->enter_ns);
		a->enter_ns = 0;
		/* the requests it submitted are no longer this thread's work */
		a->owner = 0;
		return 0;
	}
	/* a syscall I/O is keyed by its thread id; io_uring's by a pointer */
	if (a->owner != tid)
		return 0;
	a->owner = 0;
	e = &a->ev;
	if (a->nr_linked)
		rq_unlink_all(a, e);
	/* x86 and arm64 keep the first argument in pt_regs at exit */
	if (!e->nr_requests && !fd_is_storage(PT_REGS_PARM1_CORE(regs)))
		return 0;
	now = clock_ns();
	if (e->op == NR_fsync || e->op == NR_fdatasync)
		add_journal(e, now);
	e->t[MS_END] = now;
	e->res = ret;
	untied_count(e);
	if (now - e->t[MS_START] >= min_ns)
		emit(e);
	return 0;
}

/*
 * What a classic tracepoint program returns: 0 would also keep the
 * event from every perf counter on it (perf_trace_run_bpf_submit), so
 * `perf stat -e` or sp-cost -e would count nothing while iolat runs.
 */
#define TP_PASS 1

/* ---------------------------------------------------------- io_uring */

/*
 * Moves the io_uring counts of `task` (its storage: `a`) into its
 * process's entries. The task may be adding to them on another CPU:
 * each is taken with xchg.
 */
static __always_inline void task_counts_move(struct task_struct *task, struct task_io *a)
{
	__u32 tgid = task->tgid;
	__u64 sub = __sync_lock_test_and_set(&a->submitted, 0);
	__u64 pun = __sync_lock_test_and_set(&a->punted, 0);
	__u64 calls = __sync_lock_test_and_set(&a->enter_calls, 0);
	__u64 ns = __sync_lock_test_and_set(&a->enter_ns_sum, 0);

	if (sub || pun) {
		struct iolat_punts *p = bpf_map_lookup_elem(&punts, &tgid), zero = {};

		if (!p) {
			__builtin_memcpy(zero.comm, task->group_leader->comm, sizeof(zero.comm));
			bpf_map_update_elem(&punts, &tgid, &zero, BPF_NOEXIST);
			p = bpf_map_lookup_elem(&punts, &tgid);
		}
		if (p) {
			__sync_fetch_and_add(&p->submitted, sub);
			__sync_fetch_and_add(&p->punted, pun);
		}
	}
	if (calls) {
		struct iolat_enter *en = bpf_map_lookup_elem(&enters, &tgid), zero = {};

		if (!en) {
			bpf_map_update_elem(&enters, &tgid, &zero, BPF_NOEXIST);
			en = bpf_map_lookup_elem(&enters, &tgid);
		}
		if (en) {
			__sync_fetch_and_add(&en->calls, calls);
			__sync_fetch_and_add(&en->ns, ns);
		}
	}
}

/* Run by user space before it reads punts and enters: every task's counts. */
SEC("iter/task")
int iolat_flush(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct task_io *a;

	if (!task)
		return 0;
	a = bpf_task_storage_get(&active, task, 0, 0);
	if (a)
		task_counts_move(task, a);
	return 0;
}

/* A task's counts outlive it in its process's entries. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(iolat_task_exit, struct task_struct *task)
{
	struct task_io *a = bpf_task_storage_get(&active, task, 0, 0);

	if (a)
		task_counts_move(task, a);
	return 0;
}

/* REQ_F_CQE_SKIP mirrors IOSQE_CQE_SKIP_SUCCESS (uapi bit 6) */
#define REQ_F_CQE_SKIP_FLAG (1ULL << 6)

/*
 * The io_uring tracepoints are followed as BTF tracepoints, which read
 * the io_kiocb directly: a classic tracepoint program costs a perf
 * record filled in per event on top of the program, and these fire
 * two or three times per request.
 */
static __always_inline int uring_submit(struct io_kiocb *req)
{
	struct cpu_state *c;
	struct task_io *a;

	if (!task_wanted())
		return 0;
	c = this_cpu();
	a = task_io(true);
	if (!c || !a)
		return 0;
	__sync_fetch_and_add(&a->submitted, 1);
	/*
	 * No CQE, no end: not followed (sg's queuing writes are such), and
	 * the block requests it makes are nobody's, not the request
	 * submitted before it.
	 */
	if (req->flags & REQ_F_CQE_SKIP_FLAG) {
		a->owner = 0;
		return 0;
	}
	uring_begin(a, addr_key(c, req), req->opcode);
	return 0;
}

/* The submit tracepoint was renamed after 6.1: the loader keeps the one this kernel has. */
SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(iolat_submit_req, struct io_kiocb *req)
{
	return uring_submit(req);
}

SEC("tp_btf/io_uring_submit_sqe")
int BPF_PROG(iolat_submit_sqe, struct io_kiocb *req)
{
	return uring_submit(req);
}

SEC("tp_btf/io_uring_queue_async_work")
int BPF_PROG(iolat_punt, struct io_kiocb *req)
{
	struct cpu_state *c = this_cpu();
	struct iolat_event *e = c ? uring_io(addr_key(c, req)) : NULL;
	struct task_io *a;

	if (!e)
		return 0;
	if (!e->t[MS_PUNT])
		e->t[MS_PUNT] = clock_ns();
	a = task_io(true);
	if (a)
		__sync_fetch_and_add(&a->punted, 1);
	return 0;
}

SEC("tp_btf/io_uring_task_add")
int BPF_PROG(iolat_task_add, struct io_kiocb *req)
{
	struct cpu_state *c = this_cpu();
	struct iolat_event *e = c ? uring_io(addr_key(c, req)) : NULL;

	if (e && !e->t[MS_TASK_WORK])
		e->t[MS_TASK_WORK] = clock_ns();
	return 0;
}

static __always_inline int uring_complete(void *req, int res)
{
	struct io_slot *sl;
	__u64 now;
	__u32 idx;

	/* auxiliary CQEs come with no request and are nobody's I/O */
	if (!req)
		return 0;
	sl = io_find((__u64)req, &idx);
	if (!sl)
		return 0;
	now = clock_ns();
	sl->ev.t[MS_END] = now;
	sl->ev.res = res;
	untied_count(&sl->ev);
	if (now - sl->ev.t[MS_START] >= min_ns)
		emit(&sl->ev);
	io_free(sl);
	return 0;
}

/*
 * The CQE's arguments changed after 6.1: now one pointer to the CQE,
 * then its fields. The loader keeps the program that matches (the
 * request, an untyped pointer on both, would need a probe read).
 */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(iolat_uring_complete, void *ring, void *req, struct io_uring_cqe *cqe)
{
	return uring_complete(req, cqe->res);
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(iolat_uring_complete_v61, void *ring, void *req, __u64 user_data, int res)
{
	return uring_complete(req, res);
}

/* ---------------------------------------------------------- block */

/* The task's note of `bio`, or NULL. */
static __always_inline struct bio_note *bio_note_of(struct task_io *a, struct bio *bio)
{
	for (int i = 0; i < BIO_NOTES; i++)
		if (a->notes[i].bio == bio)
			return &a->notes[i];
	return NULL;
}

static __always_inline struct bio_note *bio_note_free(struct task_io *a, __u64 now)
{
	for (int i = 0; i < BIO_NOTES; i++)
		if (!a->notes[i].bio || now - a->notes[i].t >= BIO_NOTE_STALE_NS)
			return &a->notes[i];
	return NULL;
}

SEC("tp_btf/block_bio_queue")
int BPF_PROG(iolat_bio_queue, struct bio *bio)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct task_io *a = task_io(false);
	struct iolat_event *e = a ? io_of(a, a->owner) : NULL;
	struct bio_state b = { .t = clock_ns(), .tgid = id >> 32, .tid = (__u32)id };

	if (a && e) {
		struct bio_note *n;

		b.owner = a->owner;
		if (!e->t[MS_BIO])
			e->t[MS_BIO] = b.t;
		/*
		 * Its request is met again in this task: a note in the task
		 * spares the bios map (an LRU, the costly kind: 400 ns per
		 * update here, on every plugged filesystem O_DIRECT read).
		 * A note of a bio at the same address is stale: replaced.
		 */
		n = bio_note_of(a, bio);
		if (!n)
			n = bio_note_free(a, b.t);
		if (n) {
			n->bio = bio;
			n->owner = b.owner;
			n->t = b.t;
			n->t_getrq = 0;
			return 0;
		}
		/* charged to the I/O's submitter, not to an io-wq worker */
		b.tgid = e->tgid;
		b.tid = e->tid;
		__builtin_memcpy(b.comm, e->comm, sizeof(b.comm));
	} else if (filter_tgid || filter_comm[0] || filter_cgid) {
		return 0;
	} else {
		/* who to name for a request no I/O owns (jbd2, writeback) */
		bpf_get_current_comm(b.comm, sizeof(b.comm));
	}
	bpf_map_update_elem(&bios, &bio, &b, BPF_ANY);
	return 0;
}

/*
 * A request is allocated for the bio: the end of plugging and merging.
 * Only where a disk does not stamp its requests (see rq_alloc_ns).
 */
SEC("tp_btf/block_getrq")
int BPF_PROG(iolat_getrq, struct bio *bio)
{
	struct task_io *a = task_io(false);
	struct bio_note *n = a ? bio_note_of(a, bio) : NULL;
	struct bio_state *b;

	if (n) {
		if (!n->t_getrq)
			n->t_getrq = clock_ns();
		return 0;
	}
	b = bpf_map_lookup_elem(&bios, &bio);
	if (b && !b->t_getrq)
		b->t_getrq = clock_ns();
	return 0;
}

SEC("tp_btf/block_split")
int BPF_PROG(iolat_split)
{
	__sync_fetch_and_add(&counters[IOLAT_CNT_SPLIT], 1);
	return 0;
}

SEC("tp_btf/block_bio_backmerge")
int BPF_PROG(iolat_backmerge)
{
	__sync_fetch_and_add(&counters[IOLAT_CNT_BACKMERGE], 1);
	return 0;
}

SEC("tp_btf/block_bio_frontmerge")
int BPF_PROG(iolat_frontmerge)
{
	__sync_fetch_and_add(&counters[IOLAT_CNT_FRONTMERGE], 1);
	return 0;
}

/*
 * When blk-mq allocated the request for its bio, read from the request:
 * it stamps every request for its I/O statistics (queue/iostats, on by
 * default), so the block_getrq tracepoint, one more event per block I/O,
 * is followed only where a disk has them off (the loader decides). In a
 * plug the stamp is the plug's cached clock, which can predate this bio:
 * then the moment is unknown (0), and the bio layer runs on to the next.
 */
static __always_inline __u64 rq_alloc_ns(struct request *rq, __u64 t_bio)
{
	__u64 t = rq->start_time_ns;

	/* busy clock: allocated in this task just before, no idle since */
	if (t && busy_clock)
		t -= idle_ns();

	return t >= t_bio ? t : 0;
}

/*
 * The slot of a request, claimed the first time the block layer shows
 * it to us. Its owner comes from its first bio, or, for passthrough
 * commands (which have no bio of their own making), from the io_uring
 * command it carries or the thread that is issuing it. A request of a
 * syscall issued by that syscall's own thread is linked to it.
 */
static __always_inline struct rq_state *rq_state(struct cpu_state *c, struct request *rq,
					       __u64 now)
{
	struct iolat_event *e = NULL;
	struct bio_state *b = NULL;
	__u64 owner = 0, t_bio = 0, t_getrq = 0;
	struct rq_state *st;
	struct bio_note *note = NULL;
	struct task_io *a;
	struct bio *bio;
	__u64 key = addr_key(c, rq);
	__u32 idx;

	bio = rq->bio;
	a = task_io(false);
	if (bio && a)
		note = bio_note_of(a, bio);
	/*
	 * A request made for a bio this task noted is new: its first sight
	 * (the first program to see it takes the note away), so there is no
	 * slot to look for. Looking costs every probe, each a cache line
	 * that requests cycling through their tags leave cold.
	 */
	if (!note) {
		st = rq_find(key, &idx);
		if (st)
			return st;
	}
	if (filter_dev && rq_dev(rq) != filter_dev)
		return NULL;
	if (note) {
		owner = note->owner;
		t_bio = note->t;
		t_getrq = note->t_getrq;
		note->bio = NULL;
	} else if (bio) {
		b = bpf_map_lookup_elem(&bios, &bio);
		/* not deleted: the LRU recycles it, at no cost here */
		if (b) {
			owner = b->owner;
			t_bio = b->t;
			t_getrq = b->t_getrq;
		}
	}
	if (t_bio && !t_getrq)
		t_getrq = rq_alloc_ns(rq, t_bio);
	if (!owner) {
		/*
		 * An NVMe uring_cmd request carries its io_uring command,
		 * which sits at the start of the io_kiocb, as end_io_data:
		 * that link holds even when a plug issues it later.
		 */
		__u64 cmd = addr_key(c, rq->end_io_data);

		if (cmd && !is_syscall_key(cmd)) {
			e = uring_io(cmd);
			if (e)
				owner = cmd;
		}
	}
	if (!owner && a && a->owner) {
		e = io_of(a, a->owner);
		if (e)
			owner = a->owner;
	}
	if (!owner && !b && (filter_tgid || filter_comm[0] || filter_cgid) && !task_wanted())
		return NULL;

	st = rq_claim(key, now, &idx);
	if (!st)
		return NULL;
	st->owner = owner;
	st->link = RQ_ALONE;
	st->t_bio = t_bio;
	st->t_getrq = t_getrq;
	st->t_insert = st->t_driver = st->t_device = st->t_dev_done = st->t_done = 0;
	st->dev = st->op = 0;
	if (is_syscall_key(owner) && a && a->owner == owner) {
		/* its syscall waits for it, in this thread */
		e = &a->ev;
		st->link = RQ_LINKED;
		rq_link(a, key, idx);
		e->nr_requests++;
	} else if (b) {
		st->tgid = b->tgid;
		st->tid = b->tid;
		__builtin_memcpy(st->comm, b->comm, sizeof(st->comm));
		return st;
	} else if (owner && !e) {
		/*
		 * An io_uring request's: its completion goes into that
		 * record, or, when that is gone, out unnamed.
		 */
		st->tgid = st->tid = 0;
		st->comm[0] = 0;
		return st;
	} else if (!e) {
		/* a request no I/O owns is named after whoever queues it */
		__u64 id = bpf_get_current_pid_tgid();

		st->tgid = id >> 32;
		st->tid = (__u32)id;
		bpf_get_current_comm(st->comm, sizeof(st->comm));
		return st;
	}
	st->tgid = e->tgid;
	st->tid = e->tid;
	__builtin_memcpy(st->comm, e->comm, sizeof(st->comm));
	return st;
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(iolat_insert, struct request *rq)
{
	struct cpu_state *c = this_cpu();
	__u64 now = clock_ns();
	struct rq_state *st = c ? rq_state(c, rq, now) : NULL;

	if (st && !st->t_insert)
		st->t_insert = now;
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(iolat_issue, struct request *rq)
{
	struct cpu_state *c = this_cpu();
	__u64 now = clock_ns();
	struct rq_state *st = c ? rq_state(c, rq, now) : NULL;

	if (!st)
		return 0;
	st->t_device = now;
	/*
	 * queue_rq / nvme_setup_cmd ran just before, on this CPU: for this
	 * request if the stash names it, else if it is recent.
	 */
	if (c->driver_t && c->driver_t <= now &&
	    (c->driver_rq ? c->driver_rq == addr_key(c, rq) : now - c->driver_t < STASH_NS))
		st->t_driver = c->driver_t;
	c->driver_t = c->driver_rq = 0;
	c->last_issued = rq;
	return 0;
}

/* An io_uring request's block request completes: into its record. */
static __always_inline void rq_into_uring(struct iolat_event *e, struct rq_state *st)
{
	/*
	 * The I/O's record carries its last request; a request before it
	 * is sent on its own now, as it is replaced (user space unpacks the
	 * last one the same way).
	 */
	if (e->rq_in) {
		struct iolat_event r = { .kind = IOLAT_REQUEST, .nr_requests = 1 };

		r.tgid = e->tgid;
		r.tid = e->tid;
		__builtin_memcpy(r.comm, e->comm, sizeof(r.comm));
		r.t[MS_BIO] = e->rq_t_bio;
		for (int m = MS_GETRQ; m <= MS_BLK_DONE; m++)
			r.t[m] = e->t[m];
		r.dev = e->dev;
		r.op = e->rq_op;
		emit(&r);
	}
	/* the last request to complete is the one the I/O waited for */
	rq_into(e, st);
	e->nr_requests++;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(iolat_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	struct cpu_state *c = this_cpu();
	struct iolat_event *e;
	struct rq_state *st;
	__u64 now;
	__u32 idx;

	if (!c)
		return 0;
	st = rq_find(addr_key(c, rq), &idx);
	/*
	 * A request the flush machinery runs (data, then a post-flush) is
	 * completed twice; the first completion counts, as it did for a
	 * request that is emitted and freed at once.
	 */
	if (!st || st->link == RQ_DONE)
		return 0;
	now = clock_ns();
	/*
	 * Without the request (classic driver tracepoints) the CPU's last
	 * stamp. Not cleared: a batch of NVMe completions traces every
	 * command before it completes any request, so the whole batch
	 * shares the last stamp. A stale one is older than this request's
	 * issue and is not taken.
	 */
	if (st->t_dev_done < st->t_device || st->t_dev_done > now)
		st->t_dev_done = 0;
	if (!st->t_dev_done && c->dev_done_t && c->dev_done_t >= st->t_device &&
	    c->dev_done_t <= now && now - c->dev_done_t < STASH_NS)
		st->t_dev_done = c->dev_done_t;
	st->t_done = now;
	st->dev = rq_dev(rq);
	st->op = rq->cmd_flags & REQ_OP_MASK;
	/* what was written above is seen by whoever sees RQ_DONE */
	if (st->link == RQ_LINKED &&
	    __sync_val_compare_and_swap(&st->link, RQ_LINKED, RQ_DONE) == RQ_LINKED)
		return 0;
	if (st->link == RQ_ALONE && st->owner && !is_syscall_key(st->owner)) {
		e = uring_io(st->owner);
		if (e) {
			rq_into_uring(e, st);
			rq_free(st);
			return 0;
		}
	}
	rq_emit_alone(st);
	return 0;
}

/* ---------------------------------------------------------- drivers */

/*
 * The driver tracepoints come in two kinds; the loader keeps one. Where
 * the kernel describes the driver's module in BTF, their BTF versions
 * are given the request (the SCSI ones its command, which blk-mq
 * allocates right behind the request), and each moment goes to that
 * request. The classic ones carry no request pointer: a moment is
 * stashed on its CPU for the next issue or completion there, which an
 * event between the two, or a gap past STASH_NS, makes miss.
 */

/*
 * queue_rq's hook comes before nvme_setup_cmd for the same request and
 * its moment is kept; rq is 0 where the caller cannot tell.
 */
static __always_inline int stash_driver(const void *rq)
{
	struct cpu_state *c = this_cpu();
	__u64 key;

	if (!c)
		return 0;
	key = rq ? addr_key(c, rq) : 0;
	if (!c->driver_t || (key && c->driver_rq != key)) {
		c->driver_t = clock_ns();
		c->driver_rq = key;
	}
	return 0;
}

static __always_inline int stash_dev_done(void)
{
	struct cpu_state *c = this_cpu();

	if (c)
		c->dev_done_t = clock_ns();
	return 0;
}

/* The device is done with rq: the driver completes it from now on. */
static __always_inline int rq_dev_done(const void *rq)
{
	struct cpu_state *c = this_cpu();
	struct rq_state *st;
	__u32 idx;

	if (!c || !rq)
		return 0;
	st = rq_find(addr_key(c, rq), &idx);
	/* a retried command completes again: the last one counts */
	if (st)
		st->t_dev_done = clock_ns();
	return 0;
}

/*
 * The request a SCSI command belongs to (blk_mq_rq_from_pdu). 6.12's
 * verifier takes every tp_btf argument as possibly NULL and refuses
 * arithmetic on it before a NULL check.
 */
static __always_inline const void *scsi_cmd_rq(const void *cmd)
{
	if (!cmd)
		return NULL;
	return (const char *)cmd - bpf_core_type_size(struct request);
}

/* SCSI dispatches after block_rq_issue: the command reaches the HBA now. */
static __always_inline void scsi_dispatched(__u64 key)
{
	struct rq_state *st;
	__u32 idx;

	st = rq_find(key, &idx);
	if (st) {
		if (!st->t_driver)
			st->t_driver = st->t_device;
		st->t_device = clock_ns();
	}
}

SEC("tracepoint/nvme/nvme_setup_cmd")
int iolat_nvme_setup(void *ctx)
{
	stash_driver(NULL);
	return TP_PASS;
}

SEC("tp_btf/nvme_setup_cmd")
int BPF_PROG(iolat_nvme_setup_rq, struct request *rq)
{
	return stash_driver(rq);
}

SEC("tracepoint/nvme/nvme_complete_rq")
int iolat_nvme_done(void *ctx)
{
	stash_dev_done();
	return TP_PASS;
}

SEC("tp_btf/nvme_complete_rq")
int BPF_PROG(iolat_nvme_done_rq, struct request *rq)
{
	return rq_dev_done(rq);
}

SEC("tracepoint/scsi/scsi_dispatch_cmd_start")
int iolat_scsi_start(void *ctx)
{
	struct cpu_state *c = this_cpu();

	/* without the command: the request this CPU issued last */
	if (c && c->last_issued)
		scsi_dispatched((__u64)c->last_issued);
	return TP_PASS;
}

SEC("tp_btf/scsi_dispatch_cmd_start")
int BPF_PROG(iolat_scsi_start_rq, void *cmd)
{
	struct cpu_state *c = this_cpu();
	const void *rq = scsi_cmd_rq(cmd);

	if (c && rq)
		scsi_dispatched(addr_key(c, rq));
	return 0;
}

SEC("tracepoint/scsi/scsi_dispatch_cmd_done")
int iolat_scsi_done(void *ctx)
{
	stash_dev_done();
	return TP_PASS;
}

SEC("tp_btf/scsi_dispatch_cmd_done")
int BPF_PROG(iolat_scsi_done_rq, void *cmd)
{
	return rq_dev_done(scsi_cmd_rq(cmd));
}

/* ---------------------------------------------------------- ext4, jbd2 */

SEC("tracepoint/ext4/ext4_sync_file_enter")
int iolat_ext4_sync(void *ctx)
{
	mark(MS_FS);
	return TP_PASS;
}

SEC("tracepoint/jbd2/jbd2_start_commit")
int iolat_jbd2_start(void *ctx)
{
	__u32 zero = 0;
	struct journal *j = bpf_map_lookup_elem(&journal, &zero);

	if (j) {
		j->start = clock_ns();
		j->end = 0;
	}
	return TP_PASS;
}

SEC("tracepoint/jbd2/jbd2_end_commit")
int iolat_jbd2_end(void *ctx)
{
	__u32 zero = 0;
	struct journal *j = bpf_map_lookup_elem(&journal, &zero);

	if (j && j->start)
		j->end = clock_ns();
	return TP_PASS;
}

/* ---------------------------------------------------------- optional hooks */

/*
 * Each optional layer has an fentry and a kprobe version; the loader
 * keeps the fentry ones when the kernel accepts them, else tries the
 * kprobes, else drops the layer and says why.
 */
#define HOOK(name, func, body)						\
	SEC("fentry/" #func) int BPF_PROG(fe_##name) { body; }		\
	SEC("kprobe/" #func) int BPF_KPROBE(kp_##name) { body; }

HOOK(vfs_read, vfs_read, return mark(MS_VFS))
HOOK(vfs_write, vfs_write, return mark(MS_VFS))
HOOK(ext4_read, ext4_file_read_iter, return mark(MS_FS))
HOOK(ext4_write, ext4_file_write_iter, return mark(MS_FS))
HOOK(blkdev_read, blkdev_read_iter, return mark(MS_FS))
HOOK(blkdev_write, blkdev_write_iter, return mark(MS_FS))
HOOK(filemap_read, filemap_read, return mark(MS_PAGECACHE))
HOOK(perform_write, generic_perform_write, return mark(MS_PAGECACHE))

/* queue_rq(hctx, bd): the request is bd->rq */
#define QUEUE_RQ_HOOK(name)						\
	SEC("fentry/" #name) int BPF_PROG(fe_##name, void *hctx,	\
					 const struct blk_mq_queue_data *bd) \
	{ return stash_driver(bd->rq); }				\
	SEC("kprobe/" #name) int BPF_KPROBE(kp_##name, void *hctx,	\
					    const struct blk_mq_queue_data *bd) \
	{ return stash_driver(BPF_CORE_READ(bd, rq)); }

QUEUE_RQ_HOOK(nvme_queue_rq)
QUEUE_RQ_HOOK(scsi_queue_rq)

/* An io-wq worker starts on a request: its block I/O is that request's. */
static __always_inline int iowq_start(void *work)
{
	struct cpu_state *c = this_cpu();
	__u64 key;

	if (!c)
		return 0;
	key = addr_key(c, work) - bpf_core_field_offset(struct io_kiocb, work);
	if (uring_io(key))
		active_set(key);
	return 0;
}

SEC("fentry/io_wq_submit_work")
int BPF_PROG(fe_iowq, struct io_wq_work *work)
{
	return iowq_start(work);
}

SEC("kprobe/io_wq_submit_work")
int BPF_KPROBE(kp_iowq, struct io_wq_work *work)
{
	return iowq_start(work);
}

/*
 * A passthrough request (sg, an NVMe ioctl or uring_cmd) enters the
 * block layer here, in its submitter's context; its bios, if any, were
 * never submitted, so none carries an owner. Its first sight would
 * otherwise be its issue, which
 * runs in a kblockd worker when the queue is run asynchronously, and a
 * pid or comm filter would drop it there.
 */
static __always_inline int passthrough_seen(struct request *rq)
{
	struct cpu_state *c = this_cpu();

	if (c)
		rq_state(c, rq, clock_ns());
	return 0;
}

/* fentry only: rq_state() reads the request directly, which a kprobe cannot */
SEC("fentry/blk_execute_rq_nowait")
int BPF_PROG(fe_exec_rq, struct request *rq)
{
	return passthrough_seen(rq);
}

char LICENSE[] SEC("license") = "GPL";
