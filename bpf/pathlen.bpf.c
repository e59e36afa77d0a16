// SPDX-License-Identifier: GPL-2.0
/*
 * pathlen: interrupt, softirq and workqueue time for bench/pathlen. The
 * guest kernel has no IRQ_TIME_ACCOUNTING, so interrupt work is
 * otherwise folded into whichever task it interrupted (the idle task,
 * when the CPU waited for the device). Under QEMU -icount shift=0 a
 * nanosecond of bpf_ktime_get_ns() is one guest instruction, so these
 * sums are instruction counts.
 *
 * Windows: irq_handler_entry..exit (a device handler, not the generic
 * entry code around it), local_timer_entry..exit (the tick and
 * hrtimers), softirq_entry..exit by vector, and
 * workqueue_execute_start..end by work function and kworker (what each
 * kworker did),
 * and hrtimer_expire_entry..exit by callback for the hrtimers the timer
 * interrupt runs (a device that completes from a timer, as null_blk's
 * irqmode=2 does, finishes its I/O there, inside the timer's window).
 * An interrupt inside a softirq or a work item is taken out of it;
 * by_tid holds the interrupt time each task hosted, so its own run time
 * can be told from the interrupts it was hit by.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "pathlen.h"

struct cpu_state {
	__u64 hard_start;	/* 0: no device handler running */
	__u64 timer_start;	/* 0: no timer interrupt running */
	__u64 soft_start;	/* 0: no softirq running */
	__u64 soft_nested;	/* interrupts inside the running softirq */
	__u32 soft_vec;
	__u64 work_start;	/* 0: no work item running */
	__u64 work_irq;		/* interrupts and softirqs inside it */
	__u64 work_fn;		/* its function */
	__u64 hrt_start;	/* 0: no hrtimer callback of the timer interrupt running */
	__u64 hrt_fn;		/* its function */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_state);
} state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pathlen_irq);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PATHLEN_MAX_TIDS);
	__type(key, __u32);
	__type(value, __u64);
} by_tid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PATHLEN_MAX_WORKS);
	__type(key, struct pathlen_work_key);	/* the work function's address, the kworker */
	__type(value, struct pathlen_work);
} works SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PATHLEN_MAX_WORKS);
	__type(key, __u64);	/* the hrtimer callback's address */
	__type(value, struct pathlen_work);
} hrtimers SEC(".maps");

static void charge_tid(__u64 ns)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *v = bpf_map_lookup_elem(&by_tid, &tid);

	if (v)
		__sync_fetch_and_add(v, ns);
	else
		bpf_map_update_elem(&by_tid, &tid, &ns, BPF_NOEXIST);
}

static struct cpu_state *cpu_state(void)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&state, &k);
}

static struct pathlen_irq *cpu_totals(void)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&totals, &k);
}

/* a hard interrupt of d ns ended: whom it interrupted pays */
static void hard_done(struct cpu_state *s, __u64 d)
{
	if (s->soft_start) {
		s->soft_nested += d;	/* charged with its softirq */
		return;
	}
	if (s->work_start)
		s->work_irq += d;
	charge_tid(d);
}

SEC("tp_btf/irq_handler_entry")
int BPF_PROG(pl_hard_entry)
{
	struct cpu_state *s = cpu_state();

	if (s)
		s->hard_start = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/irq_handler_exit")
int BPF_PROG(pl_hard_exit)
{
	__u64 now = bpf_ktime_get_ns(), d;
	struct cpu_state *s = cpu_state();
	struct pathlen_irq *t = cpu_totals();

	if (!s || !t || !s->hard_start)
		return 0;
	d = now - s->hard_start;
	s->hard_start = 0;
	t->hardirq_ns += d;
	t->hardirq_n++;
	hard_done(s, d);
	return 0;
}

SEC("tp_btf/local_timer_entry")
int BPF_PROG(pl_timer_entry)
{
	struct cpu_state *s = cpu_state();

	if (s)
		s->timer_start = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/local_timer_exit")
int BPF_PROG(pl_timer_exit)
{
	__u64 now = bpf_ktime_get_ns(), d;
	struct cpu_state *s = cpu_state();
	struct pathlen_irq *t = cpu_totals();

	if (!s || !t || !s->timer_start)
		return 0;
	d = now - s->timer_start;
	s->timer_start = 0;
	t->timer_ns += d;
	t->timer_n++;
	hard_done(s, d);
	return 0;
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(pl_soft_entry, unsigned int vec)
{
	struct cpu_state *s = cpu_state();

	if (s) {
		s->soft_start = bpf_ktime_get_ns();
		s->soft_nested = 0;
		s->soft_vec = vec;
	}
	return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(pl_soft_exit, unsigned int vec)
{
	__u64 now = bpf_ktime_get_ns(), d;
	struct cpu_state *s = cpu_state();
	struct pathlen_irq *t = cpu_totals();

	if (!s || !t || !s->soft_start)
		return 0;
	d = now - s->soft_start;
	s->soft_start = 0;
	if (vec < PATHLEN_NR_SOFTIRQS) {
		t->softirq_ns[vec] += d - s->soft_nested;
		t->softirq_n[vec]++;
	}
	if (s->work_start)
		s->work_irq += d;
	charge_tid(d);	/* the nested interrupts included */
	return 0;
}

SEC("tp_btf/workqueue_execute_start")
int BPF_PROG(pl_work_start, struct work_struct *work)
{
	struct cpu_state *s = cpu_state();

	if (s) {
		s->work_fn = (__u64)BPF_CORE_READ(work, func);
		s->work_irq = 0;
		s->work_start = bpf_ktime_get_ns();
	}
	return 0;
}

SEC("tp_btf/workqueue_execute_end")
int BPF_PROG(pl_work_end)
{
	__u64 now = bpf_ktime_get_ns();
	struct pathlen_work_key key = { 0 };
	struct cpu_state *s = cpu_state();
	struct pathlen_work *w, init = { 0 };

	if (!s || !s->work_start)
		return 0;
	key.fn = s->work_fn;
	key.tid = (__u32)bpf_get_current_pid_tgid();
	init.ns = now - s->work_start - s->work_irq;
	init.n = 1;
	s->work_start = 0;
	w = bpf_map_lookup_elem(&works, &key);
	if (w) {
		__sync_fetch_and_add(&w->ns, init.ns);
		__sync_fetch_and_add(&w->n, 1);
	} else {
		bpf_map_update_elem(&works, &key, &init, BPF_NOEXIST);
	}
	return 0;
}

/*
 * Only the callbacks run inside the timer interrupt's window: those are
 * part of timer_ns, and the report takes the ones of the I/O path out of
 * it. Softirq-mode hrtimers are in the HRTIMER softirq already.
 */
SEC("tp_btf/hrtimer_expire_entry")
int BPF_PROG(pl_hrtimer_entry, struct hrtimer *timer)
{
	struct cpu_state *s = cpu_state();

	if (s && s->timer_start) {
		s->hrt_fn = (__u64)timer->function;
		s->hrt_start = bpf_ktime_get_ns();
	}
	return 0;
}

SEC("tp_btf/hrtimer_expire_exit")
int BPF_PROG(pl_hrtimer_exit)
{
	__u64 now = bpf_ktime_get_ns(), key;
	struct cpu_state *s = cpu_state();
	struct pathlen_work *w, init = { 0 };

	if (!s || !s->hrt_start)
		return 0;
	key = s->hrt_fn;
	init.ns = now - s->hrt_start;
	init.n = 1;
	s->hrt_start = 0;
	w = bpf_map_lookup_elem(&hrtimers, &key);
	if (w) {
		__sync_fetch_and_add(&w->ns, init.ns);
		__sync_fetch_and_add(&w->n, 1);
	} else {
		bpf_map_update_elem(&hrtimers, &key, &init, BPF_NOEXIST);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
