// SPDX-License-Identifier: MIT
/*
 * The ring set-up and the NOP backend's own submission: a CQ sized as
 * asked (CQSIZE) or the kernel's default; NOPs queued as a tagged
 * count, submitted with one io_uring_enter per pass (nop_submit) and
 * reaped as runs of one tag, across the ring's wrap and a few runs at
 * a time; a submit that waits for completions already there makes no
 * system call. A ring without an SQ array (NO_SQARRAY, where the kernel
 * has it) keeps its head, tail and mask as the kernel set them and
 * runs liburing's own queueing across its wrap.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

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

#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif

static void no_sqarray(void)
{
	struct sp_ring_opts o = { .entries = 8, .sq_cpu = -1 };
	struct sp_ring_info info;
	struct io_uring ring;
	bool ok = true;
	char flags[160];
	int ret = sp_ring_init(&ring, &o, &info);

	TAP_CHECK(ret == 0, "a ring of 8: %s", strerror(-ret));
	if (ret)
		return;
	sp_ring_flags_str(info.flags | info.refused, flags, sizeof(flags));
	TAP_CHECK(strstr(flags, "NO_SQARRAY") != NULL,
		  "NO_SQARRAY is asked for, obtained or refused: %s", flags);
	if (!(info.flags & IORING_SETUP_NO_SQARRAY)) {
		struct utsname u;

		uname(&u);
		printf("# this kernel (%s) refuses NO_SQARRAY: the SQ array is used\n", u.release);
	}
	/* an SQ array filled at offset 0 would have overwritten these */
	TAP_CHECK(*ring.sq.khead == 0 && *ring.sq.ktail == 0 && *ring.sq.kring_mask == 7 &&
			  *ring.sq.kring_entries == 8,
		  "head 0, tail 0, mask 7, 8 entries as the kernel set them (%u %u %u %u)",
		  *ring.sq.khead, *ring.sq.ktail, *ring.sq.kring_mask, *ring.sq.kring_entries);
	/* 5 passes of 5 through liburing's get_sqe and submit: across the wrap */
	for (unsigned p = 0; p < 5 && ok; p++) {
		struct io_uring_cqe *cqe;

		for (unsigned i = 0; i < 5; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			io_uring_prep_nop(sqe);
			io_uring_sqe_set_data64(sqe, p * 10 + i);
		}
		ok = io_uring_submit_and_wait(&ring, 5) == 5;
		for (unsigned i = 0; i < 5 && ok; i++) {
			ok = !io_uring_peek_cqe(&ring, &cqe) && cqe->user_data == p * 10 + i &&
			     cqe->res == 0;
			io_uring_cqe_seen(&ring, cqe);
		}
	}
	TAP_CHECK(ok, "25 NOPs through a ring of 8, each completing with its own user_data");
	io_uring_queue_exit(&ring);

	o.no_modern = true;
	ret = sp_ring_init(&ring, &o, &info);
	TAP_CHECK(ret == 0 && !(info.flags & IORING_SETUP_NO_SQARRAY),
		  "--no-modern-flags: a plain ring, with its SQ array (%d)", ret);
	if (ret == 0)
		io_uring_queue_exit(&ring);
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
	no_sqarray();
	nop_backend();
	return tap_done();
}
