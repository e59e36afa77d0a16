// SPDX-License-Identifier: MIT
/*
 * The ring set-up and the NOP backend's own submission: a CQ sized as
 * asked (CQSIZE) or the kernel's default; NOPs queued as a tagged
 * count, submitted with one io_uring_enter per pass (nop_submit) and
 * reaped as runs of one tag, across the ring's wrap and a few runs at
 * a time; a submit that waits for completions already there makes no
 * system call.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "ring.h"
#include "tap.h"

static void cq_sizes(void)
{
	struct sp_ring_opts o = { .entries = 8, .sq_cpu = -1 };
	struct sp_ring_info info;
	struct io_uring ring;
	int ret = sp_ring_init(&ring, &o, &info);

	TAP_CHECK(ret == 0, "a ring of 8: %s", strerror(-ret));
	if (ret == 0) {
		TAP_CHECK(ring.cq.ring_entries == 16 && !(info.flags & IORING_SETUP_CQSIZE),
			  "no CQ size asked: the kernel's, twice the SQ (%u)",
			  ring.cq.ring_entries);
		io_uring_queue_exit(&ring);
	}
	o.cq_entries = 8;
	ret = sp_ring_init(&ring, &o, &info);
	TAP_CHECK(ret == 0, "a ring of 8 with a CQ of 8: %s", strerror(-ret));
	if (ret == 0) {
		TAP_CHECK(ring.cq.ring_entries == 8 && (info.flags & IORING_SETUP_CQSIZE),
			  "CQ size 8 asked: CQSIZE, %u entries", ring.cq.ring_entries);
		io_uring_queue_exit(&ring);
	}
}

/* One pass of n NOPs tagged tag: queued, submitted waiting for n, reaped. */
static bool nop_pass(struct sp_target *t, unsigned n, uint64_t tag, unsigned *runs_out)
{
	struct sp_nop_run runs[8];
	unsigned nr = 0, got = 0;
	int ret = t->be->queue_nops(t, n, tag);

	if (ret != (int)n)
		return false;
	ret = t->be->submit(t, n);
	if (ret != (int)n)
		return false;
	while (got < n) {
		unsigned r = 0;

		ret = t->be->reap_nops(t, runs + nr, 8 - nr, n - got, &r);
		if (ret <= 0)
			return false;
		got += (unsigned)ret;
		nr += r;
	}
	*runs_out = nr;
	return nr == 1 && runs[0].tag == tag && runs[0].n == n && runs[0].res == 0;
}

static void nop_backend(void)
{
	struct sp_target_opts o = { .depth = 8, .buf_size = 4096, .sq_cpu = -1 };
	struct sp_target t;
	int ret = sp_target_open(&t, sp_backend_find("nop"), &o, NULL);
	bool ok = true;
	unsigned runs = 0;
	uint64_t calls;

	TAP_CHECK(ret == 0, "the nop target opens: %s", ret ? t.err : t.setup);
	if (ret)
		return;
	TAP_CHECK(strstr(t.setup, "CQSIZE") != NULL, "its CQ is the SQ's size: %s", t.setup);
	/* passes of 5 in a ring of 8: the third and later cross its end */
	for (unsigned p = 0; p < 7 && ok; p++)
		ok = nop_pass(&t, 5, 1000 + p, &runs);
	TAP_CHECK(ok, "7 passes of 5 NOPs across the ring's wrap: each one run of its tag (last %u runs)",
		  runs);
	TAP_CHECK(t.syscalls == 7, "one system call a pass: %llu for 7",
		  (unsigned long long)t.syscalls);

	/* submitted without waiting, they complete in the submit: the
	 * wait that follows finds them there and does not enter */
	ret = t.be->queue_nops(&t, 3, 7);
	TAP_CHECK(ret == 3, "3 more queued: %d", ret);
	ret = t.be->submit(&t, 0);
	TAP_CHECK(ret == 3, "submitted without waiting: %d", ret);
	calls = t.syscalls;
	ret = t.be->submit(&t, 3);
	TAP_CHECK(ret == 0 && t.syscalls == calls,
		  "a wait for 3 completions already there: no system call (%d, %llu more)",
		  ret, (unsigned long long)(t.syscalls - calls));
	{
		struct sp_nop_run run;
		unsigned nr = 0;

		ret = t.be->reap_nops(&t, &run, 1, 8, &nr);
		TAP_CHECK(ret == 3 && nr == 1 && run.tag == 7 && run.n == 3,
			  "they are reaped as one run: %d NOPs, %u runs", ret, nr);
	}
	/* two passes' completions waiting, room for one run: one at a time */
	{
		struct sp_nop_run run;
		unsigned nr = 0;
		int a, b;

		t.be->queue_nops(&t, 3, 21);
		t.be->submit(&t, 0);
		t.be->queue_nops(&t, 4, 22);
		t.be->submit(&t, 0);
		a = t.be->reap_nops(&t, &run, 1, 8, &nr);
		TAP_CHECK(a == 3 && nr == 1 && run.tag == 21 && run.n == 3,
			  "room for one run: the first pass's 3 (%d, tag %llu)", a,
			  (unsigned long long)run.tag);
		b = t.be->reap_nops(&t, &run, 1, 8, &nr);
		TAP_CHECK(b == 4 && nr == 1 && run.tag == 22 && run.n == 4,
			  "then the second's 4 (%d, tag %llu)", b, (unsigned long long)run.tag);
	}
	/* nothing queued, nothing to wait for: no system call either */
	calls = t.syscalls;
	ret = t.be->submit(&t, 0);
	TAP_CHECK(ret == 0 && t.syscalls == calls, "an empty submit makes no system call");
	sp_target_close(&t);
}

int main(void)
{
	cq_sizes();
	nop_backend();
	return tap_done();
}
