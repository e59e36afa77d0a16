// SPDX-License-Identifier: MIT
/*
 * uring_bench: a storage benchmark across submission paths, in the
 * spirit of fio's t/io_uring. Every path is a backend (passthru/), so
 * the same workload, the same accounting and the same verify mode
 * apply to all of them.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "backend.h"
#include "scsi_vfio.h"
#include "sp_hist.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_rand.h"
#include "sp_version.h"
#include "sp_stats.h"
#include "sp_time.h"
#include "sp_tsc.h"
#include "sp_verify.h"

enum rw {
	RW_READ,
	RW_WRITE,
	RW_RANDREAD,
	RW_RANDWRITE,
	RW_RANDRW,
};

static const char *const rw_names[] = {
	[RW_READ] = "read", [RW_WRITE] = "write", [RW_RANDREAD] = "randread",
	[RW_RANDWRITE] = "randwrite", [RW_RANDRW] = "randrw",
};

struct config {
	const char *path;
	const struct sp_backend *be;
	enum rw rw;
	unsigned rwmix_read;	/* percent of reads in randrw */
	uint64_t bs;
	unsigned depth;
	unsigned submit_batch;
	unsigned reap_batch;
	unsigned jobs;
	cpu_set_t cpus;
	bool pin;
	uint64_t runtime_ns;	/* 0: until ios_per_job */
	uint64_t interval_ns;	/* --interval: a line (or JSON object) this often */
	uint64_t ios_per_job;	/* 0: until runtime */
	uint64_t size;		/* bytes of the range; 0: whole target */
	uint64_t offset;
	bool buffered;
	bool verify;
	uint64_t verify_seed;
	bool force;
	bool json;
	bool quiet;
	bool self_count;	/* syscalls counted by us, not by the kernel */
	bool trace;		/* run iolat on this process, report its breakdown */
	enum { LAT_CLOCK_AUTO, LAT_CLOCK_MONOTONIC, LAT_CLOCK_TSC } clock;	/* --clock */
	unsigned fsync_every;	/* an fsync after this many writes; 0: never */
	struct sp_target_opts topts;
};

/* Per-block state, verify mode only: kept by the one job owning the block. */
struct vblock {
	uint32_t gen;		/* last acknowledged write; 0: none this run */
	uint8_t busy;		/* an I/O on it is in flight */
};

/*
 * What the submission loop reads every pass comes first, together in a
 * few cache lines: the pass's state, then the target's head, then the
 * latency histogram's count and low buckets. The rest is read once.
 */
struct job {
	struct bench *b;
	struct sp_io **free;	/* free I/Os, run_phase's stack */
	struct sp_nop_run *nop_runs;	/* a NOP run's completions, reaped */
	int err;		/* -errno; 0: fine */
	unsigned writes_since_sync;
	struct sp_tsc tsc;		/* mult 0: latency on CLOCK_MONOTONIC */
	_Atomic uint64_t progress_ios;
	_Atomic uint64_t progress_syscalls;
	uint64_t ios_done, issued, errors;	/* main phase: I/Os done, sent, failed */
	uint64_t clock_reads;	/* syscalls too where the clock has no vDSO */
	struct sp_target t;	/* its head: see struct sp_target */
	struct sp_hist lat;
	struct sp_hist lat_rw[2];	/* reads, writes: apart, as fio reports them */
	struct sp_hist dev;		/* device time, where the backend knows it */
	unsigned id;
	int tid;		/* its thread's id, for the per-thread run times */
	pthread_t thread;
	int cpu;		/* -1: not pinned */
	uint64_t first_block;	/* range of this job, in units of bs */
	uint64_t nblocks;
	uint64_t seq_next;
	uint64_t rng;
	struct vblock *vb;
	struct sp_io *ios;
	uint64_t start_ns, end_ns;	/* of the main phase */
	uint64_t reads, writes, bytes;
	uint64_t verified, unverified_reads, verify_pass_blocks;
	uint64_t verify_mismatches;	/* blocks whose check failed, any phase */
	uint64_t flushes;	/* --fsync fsyncs done (not counted as I/Os) */
	uint64_t main_syscalls;	/* self-counted, main phase only */
	char errmsg[320];
};

struct bench {
	/* the jobs read these every pass: on the page of c's start */
	atomic_bool stop;
	atomic_bool abort;
	struct config c;
	json_object *trace;		/* --trace --json: iolat's document */
	struct sp_devinfo dev;
	int write_lock;			/* held for a writing run: one writer at a time */
	struct job *jobs;
	pthread_barrier_t ready, go, main_done, counted;
	struct sp_tsc tsc;		/* mult 0: latency on CLOCK_MONOTONIC */
	pthread_mutex_t lock;
	pthread_cond_t finished;	/* signalled as each job ends its main phase */
	unsigned running;
};

static atomic_bool interrupted;

static void on_signal(int sig)
{
	atomic_store(&interrupted, true);
}

static bool rw_is_random(enum rw rw)
{
	return rw == RW_RANDREAD || rw == RW_RANDWRITE || rw == RW_RANDRW;
}

static bool rw_writes(enum rw rw)
{
	return rw == RW_WRITE || rw == RW_RANDWRITE || rw == RW_RANDRW;
}

static void job_fail(struct job *j, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void job_fail(struct job *j, int err, const char *fmt, ...)
{
	va_list ap;

	if (j->err)
		return;
	j->err = err ? err : -EIO;
	va_start(ap, fmt);
	vsnprintf(j->errmsg, sizeof(j->errmsg), fmt, ap);
	va_end(ap);
	atomic_store(&j->b->stop, true);
}

/*
 * Picks the next block for the main phase. In verify mode a block with
 * an I/O in flight is skipped, so that no read races a write to the
 * same block (the result would be undefined, and so the check).
 */
static bool pick_block(struct job *j, uint64_t *blk)
{
	const struct config *c = &j->b->c;
	uint64_t b;

	if (rw_is_random(c->rw)) {
		b = sp_rand_below(&j->rng, j->nblocks);
	} else {
		b = j->seq_next++;
		if (j->seq_next == j->nblocks)
			j->seq_next = 0;
	}

	if (!j->vb) {
		*blk = b;
		return true;
	}
	for (uint64_t tries = 0; tries < j->nblocks; tries++) {
		if (!j->vb[b].busy) {
			*blk = b;
			return true;
		}
		b = (b + 1) % j->nblocks;
	}
	return false;
}

static enum sp_op pick_op(struct job *j)
{
	switch (j->b->c.rw) {
	case RW_READ:
	case RW_RANDREAD:
		return SP_OP_READ;
	case RW_WRITE:
	case RW_RANDWRITE:
		return SP_OP_WRITE;
	case RW_RANDRW:
		break;
	}
	return sp_rand_below(&j->rng, 100) < j->b->c.rwmix_read ? SP_OP_READ : SP_OP_WRITE;
}

enum phase { PHASE_MAIN, PHASE_VERIFY };

/*
 * -n's I/Os are all issued, and no --fsync is owed: after the last
 * writes the fsync that follows them is still issued, so that -n N
 * --fsync 1 is N writes each followed by an fsync.
 */
static bool budget_spent(const struct job *j, uint64_t issued)
{
	const struct config *c = &j->b->c;

	return c->ios_per_job && issued >= c->ios_per_job &&
	       !(c->fsync_every && j->writes_since_sync >= c->fsync_every);
}

/* Prepares io for the next I/O of the phase; false when there is none. */
static bool prep_io(struct job *j, enum phase phase, struct sp_io *io)
{
	const struct config *c = &j->b->c;
	uint64_t blk;

	if (phase == PHASE_VERIFY) {
		/* read back every block written, in order */
		while (j->seq_next < j->nblocks && !j->vb[j->seq_next].gen)
			j->seq_next++;
		if (j->seq_next >= j->nblocks)
			return false;
		blk = j->seq_next++;
		io->op = SP_OP_READ;
	} else {
		if (c->fsync_every && j->writes_since_sync >= c->fsync_every) {
			j->writes_since_sync = 0;
			io->op = SP_OP_FLUSH;
			io->offset = 0;
			io->len = 0;
			return true;
		}
		/* a NOP goes nowhere: no block to draw for it */
		if (!(c->be->caps & SP_CAP_TARGET)) {
			io->op = SP_OP_NOP;
			io->offset = 0;
			io->len = c->bs;
			io->tag = 0;
			return true;
		}
		if (!pick_block(j, &blk))
			return false;
		io->op = pick_op(j);
		if (io->op == SP_OP_WRITE)
			j->writes_since_sync++;
	}
	io->offset = c->offset + (j->first_block + blk) * c->bs;
	io->len = c->bs;
	io->tag = blk;
	if (j->vb) {
		j->vb[blk].busy = 1;
		if (io->op == SP_OP_WRITE)
			sp_verify_fill(sp_io_buf(&j->t, io), c->bs, io->offset,
				       c->verify_seed, j->vb[blk].gen + 1);
	}
	return true;
}

static uint32_t b_lbs(const struct job *j)
{
	return j->b->dev.lbs ? j->b->dev.lbs : 512;
}

/*
 * Accounts a completed I/O; true when its latency is to be recorded
 * (the caller records the I/Os of one pass together: they share it).
 */
static __attribute__((noinline)) bool complete_io(struct job *j, enum phase phase,
						  struct sp_io *io)
{
	const struct config *c = &j->b->c;
	const char *what = io->op == SP_OP_WRITE ? "write" : "read";

	if (io->op == SP_OP_FLUSH) {
		if (io->res < 0)
			job_fail(j, io->res, "fsync failed: %s", strerror(-io->res));
		else
			j->flushes++;
		return false;
	}
	if (phase == PHASE_MAIN && (io->res < 0 ||
	    (io->op != SP_OP_NOP && (uint32_t)io->res != io->len)))
		j->errors++;
	if (io->res < 0) {
		if (io->res == -EOPNOTSUPP && c->topts.iopoll)
			job_fail(j, io->res, "--iopoll: %s cannot complete polled "
				 "I/O (%s): use a device with poll queues",
				 c->path, strerror(-io->res));
		else if (io->res == -EIO && io->status && c->be->status_str) {
			char st[160];

			job_fail(j, io->res, "%s of %u bytes at offset %llu (LBA %llu) "
				 "failed: %s", what, io->len, (unsigned long long)io->offset,
				 (unsigned long long)(io->offset / b_lbs(j)),
				 c->be->status_str(io->status, st, sizeof(st)));
		} else if (io->res == -EINTR && c->be->status_str)
			/* the kernel ends a passthrough command it cancelled
			 * (controller reset, a fabric path lost) with EINTR and
			 * no device status; it is not retried on another path */
			job_fail(j, io->res, "%s of %u bytes at offset %llu failed: "
				 "cancelled by the host (controller reset or path "
				 "lost; EINTR)", what, io->len,
				 (unsigned long long)io->offset);
		else
			job_fail(j, io->res, "%s of %u bytes at offset %llu failed: %s",
				 what, io->len, (unsigned long long)io->offset,
				 strerror(-io->res));
		return false;
	}
	if (io->op != SP_OP_NOP && (uint32_t)io->res != io->len) {
		job_fail(j, -EIO, "short %s at offset %llu: %d of %u bytes",
			 what, (unsigned long long)io->offset, io->res, io->len);
		return false;
	}
	if (j->vb) {
		struct vblock *v = &j->vb[io->tag];

		v->busy = 0;
		if (io->op == SP_OP_WRITE) {
			v->gen++;
		} else if (phase == PHASE_VERIFY || !rw_writes(c->rw) || v->gen) {
			/* A read-only run checks data written by an earlier run,
			 * whatever its generation; otherwise the exact one. */
			uint32_t expect = phase == PHASE_MAIN && !rw_writes(c->rw)
					  ? SP_VERIFY_GEN_ANY : v->gen;
			const void *buf = sp_io_buf(&j->t, io);
			enum sp_verify_result r = sp_verify_check(buf, io->len,
						io->offset, c->verify_seed, expect);
			char msg[256];

			if (r != SP_VERIFY_OK) {
				j->verify_mismatches++;
				if (phase == PHASE_MAIN)
					j->errors++;
				job_fail(j, -EILSEQ, "verify failed: %s",
					 sp_verify_describe(r, buf, io->offset,
							    expect, msg, sizeof(msg)));
				return false;
			}
			j->verified++;
		} else {
			j->unverified_reads++;	/* never written in this mixed run */
		}
	}
	if (phase == PHASE_VERIFY) {
		j->verify_pass_blocks++;
		return false;
	}
	j->ios_done++;
	if (io->op == SP_OP_WRITE)
		j->writes++;
	else if (io->op == SP_OP_READ)
		j->reads++;
	j->bytes += io->op == SP_OP_NOP ? 0 : io->len;
	if (io->dev_ns)
		sp_hist_add_n(&j->dev, io->dev_ns, 1);
	return true;
}

/*
 * complete_io for the common case, inline in the loop: a main-phase
 * read, write or NOP that did all it was asked, with nothing to verify
 * (fast: the caller's word that the phase is the main one without verify).
 */
static inline bool complete_io_fast(struct job *j, bool fast, enum phase phase,
				    struct sp_io *io)
{
	if (!fast || io->res < 0)
		return complete_io(j, phase, io);
	switch (io->op) {
	case SP_OP_NOP:
		break;
	case SP_OP_READ:
	case SP_OP_WRITE:
		if ((uint32_t)io->res != io->len)
			return complete_io(j, phase, io);
		if (io->op == SP_OP_WRITE)
			j->writes++;
		else
			j->reads++;
		j->bytes += io->len;
		if (io->dev_ns)
			sp_hist_add_n(&j->dev, io->dev_ns, 1);
		break;
	default:
		return complete_io(j, phase, io);
	}
	j->ios_done++;
	return true;
}

/*
 * The clock of I/O latencies: the TSC's ticks where --clock picked it
 * (one instruction a read), CLOCK_MONOTONIC's nanoseconds otherwise.
 */
static inline uint64_t job_clock(const struct job *j)
{
	return j->tsc.mult ? sp_tsc_read() : sp_now_ns();
}

/* An interval of job_clock, in nanoseconds. */
static inline uint64_t job_clock_ns(const struct job *j, uint64_t start, uint64_t end)
{
	uint64_t d = end > start ? end - start : 0;

	return j->tsc.mult ? sp_tsc_ns(&j->tsc, d) : d;
}

/* I/Os that completed together and started together: one latency */
struct lat_run {
	uint64_t start_ns;
	unsigned n;
	uint8_t op;
};

static void lat_run_flush(struct job *j, struct lat_run *r, uint64_t now)
{
	uint64_t lat;

	if (!r->n)
		return;
	lat = job_clock_ns(j, r->start_ns, now);
	sp_hist_add_n(&j->lat, lat, r->n);
	if (r->op == SP_OP_READ || r->op == SP_OP_WRITE)
		sp_hist_add_n(&j->lat_rw[r->op == SP_OP_WRITE], lat, r->n);
	r->n = 0;
}

/*
 * Accounts the n I/Os reaped at now. The I/Os queued in one pass share
 * their start time and those reaped together their end: a run of them
 * is one histogram update, not one each (t/io_uring's per-batch
 * accounting, kept exact).
 */
static inline void complete_pass(struct job *j, enum phase phase, struct sp_io **done,
				 unsigned n, uint64_t now)
{
	const bool fast = phase == PHASE_MAIN && !j->vb;
	struct lat_run run = { .op = SP_OP_NOP };

	for (unsigned i = 0; i < n; i++) {
		struct sp_io *io = done[i];

		if (!complete_io_fast(j, fast, phase, io))
			continue;
		if (run.n && (run.start_ns != io->start_ns || run.op != io->op))
			lat_run_flush(j, &run, now);
		run.start_ns = io->start_ns;
		run.op = io->op;
		run.n++;
	}
	lat_run_flush(j, &run, now);
}

/* The NOPs a main-phase NOP pass reaped, as runs of one start time. */
static void complete_nops(struct job *j, const struct sp_nop_run *runs, unsigned nr,
			  uint64_t now)
{
	for (const struct sp_nop_run *r = runs, *end = runs + nr; r < end; r++) {
		struct lat_run run = { .start_ns = r->tag, .n = r->n, .op = SP_OP_NOP };

		if (r->res < 0) {
			j->errors += r->n;
			job_fail(j, r->res, "%u NOPs failed: %s", r->n, strerror(-r->res));
			continue;
		}
		lat_run_flush(j, &run, now);
		j->ios_done += r->n;
	}
}

/*
 * The submission loop of one job: keep depth I/Os in flight.
 *
 * Free I/Os are a stack of pointers (j->free[0..nr_free)). A pass
 * prepares the top ones where they lie and hands them to the backend
 * from there; reap() writes the completed ones straight back above the
 * new top, so a completion is handled where it lands and freeing it is
 * counting it.
 * What the loop does per I/O is all a NOP run measures of the
 * benchmark itself, so what holds for a whole pass (the phase, verify,
 * the limit on I/Os) is decided once per pass. A NOP has no state but
 * its start time and its result: a NOP pass queues a count, tagged
 * with the pass's start time, and reaps runs of one tag (queue_nops,
 * reap_nops), touching no sp_io; the stack then only counts. Queuing
 * NOPs is storing that tag, so a NOP pass reads the clock once: the
 * time of the last reap starts the next pass, whose NOPs are queued at
 * once, and the reaped runs are accounted only then, while the new
 * NOPs wait in the ring for their submit (work they do wait for).
 */
static void run_phase(struct job *j, enum phase phase)
{
	const struct config *c = &j->b->c;
	struct sp_target *t = &j->t;
	const struct sp_backend *be = t->be;
	struct sp_io **free = j->free;
	unsigned nr_free = c->depth, inflight = 0;
	uint64_t issued = 0;
	/* NOPs without state: a count, not I/Os (see above) */
	const bool nop = phase == PHASE_MAIN && be->queue_nops && be->reap_nops;
	/* a NOP pass's reaped runs, not yet accounted, and their end time */
	unsigned nr_runs = 0;
	uint64_t reaped_at = 0;

	j->seq_next = 0;
	for (;;) {
		bool more = !j->err && !atomic_load_explicit(&j->b->stop, memory_order_relaxed);
		unsigned n = nr_free < c->submit_batch ? nr_free : c->submit_batch;
		unsigned total, wait_nr, i, queued = 0, flushes = 0;
		uint64_t now;
		struct sp_io **pass;
		int ret;

		if (nop && reaped_at) {
			now = reaped_at;
		} else {
			now = job_clock(j);
			j->clock_reads += phase == PHASE_MAIN;
		}
		if (phase == PHASE_MAIN) {
			/*
			 * No more than --ios asks for. A --fsync fsync is not
			 * one of those I/Os, so a pass with one may fall short
			 * and the next pass makes up for it; after the last
			 * writes the fsync they are owed still goes out, so
			 * that -n N --fsync 1 is N writes each followed by one.
			 */
			if (c->ios_per_job && n > c->ios_per_job - issued)
				n = c->ios_per_job - issued;
			if (!n && nr_free && !budget_spent(j, issued))
				n = 1;
		} else {
			more = !j->err && !atomic_load(&j->b->abort);
		}
		if (!more || !n) {
			more = false;
			n = 0;
		}
		pass = free + nr_free - n;
		if (nop && n) {
			queued = (unsigned)be->queue_nops(t, n, now);
			if (queued < n) {
				/* the ring holds depth: only a backend bug gets here */
				job_fail(j, -EBUSY, "queueing a NOP: the ring is full");
				more = false;
				n = queued;
			}
		}
		if (nr_runs) {
			/* a failed NOP ends the job at the next pass; the NOPs
			 * just queued go out and are reaped as the rest are */
			complete_nops(j, j->nop_runs, nr_runs, reaped_at);
			nr_runs = 0;
			atomic_store_explicit(&j->progress_ios, j->ios_done,
					      memory_order_relaxed);
		}
		for (i = 0; !nop && i < n; i++) {
			struct sp_io *io = pass[i];

			if (!prep_io(j, phase, io)) {
				more = false;
				n = i;
				break;
			}
			io->start_ns = now;
			flushes += io->op == SP_OP_FLUSH;
		}
		for (; queued < n; queued++) {
			ret = be->queue(t, pass[queued]);
			if (ret) {
				job_fail(j, ret, "queueing an I/O: %s", strerror(-ret));
				more = false;
				/* not sent, not issued */
				for (i = queued; i < n; i++)
					flushes -= pass[i]->op == SP_OP_FLUSH;
				break;
			}
		}
		/* off the stack (their slots take completions); one that could
		 * not be queued is lost with the job, which has failed */
		nr_free -= n;
		issued += queued - flushes;
		if (phase == PHASE_MAIN) {
			j->issued = issued;
			if (budget_spent(j, issued))
				more = false;
		}
		total = inflight + queued;
		if (!total)
			break;
		/* Wait only when the queue is full or nothing else will come. */
		wait_nr = 0;
		if (total >= c->depth || !more)
			wait_nr = c->reap_batch < total ? c->reap_batch : total;
		ret = be->submit(t, wait_nr);
		if (ret < 0) {
			job_fail(j, ret, "submitting I/O: %s", strerror(-ret));
			/* what is in flight cannot be reaped reliably now */
			break;
		}
		inflight = total;
		ret = nop ? be->reap_nops(t, j->nop_runs, c->depth, total, &nr_runs)
			  : be->reap(t, free + nr_free, total);
		now = job_clock(j);
		j->clock_reads += phase == PHASE_MAIN;
		/* a NOP reap's runs are accounted in the next pass, which starts now */
		if (nop)
			reaped_at = now;
		if (ret > 0) {
			if (!nop) {
				complete_pass(j, phase, free + nr_free, (unsigned)ret, now);
				atomic_store_explicit(&j->progress_ios, j->ios_done,
						      memory_order_relaxed);
			}
			nr_free += ret;
			inflight -= ret;
		}
		atomic_store_explicit(&j->progress_syscalls, t->syscalls,
				      memory_order_relaxed);
	}
}

static int job_setup(struct job *j)
{
	struct bench *b = j->b;
	const struct config *c = &b->c;
	int ret;

	if (j->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(j->cpu, &set);
		ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (ret) {
			job_fail(j, -ret, "pinning job %u to CPU %d: %s", j->id,
				 j->cpu, strerror(ret));
			return -ret;
		}
	}
	j->ios = calloc(c->depth, sizeof(*j->ios));
	j->free = calloc(c->depth, sizeof(*j->free));
	j->nop_runs = calloc(c->depth, sizeof(*j->nop_runs));
	if (!j->ios || !j->free || !j->nop_runs) {
		job_fail(j, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < c->depth; i++) {
		struct sp_io *io = &j->ios[i];

		io->buf = i;
		/* a NOP goes nowhere: these stay as they are for the whole run */
		io->op = SP_OP_NOP;
		io->len = c->bs;
		/* the lowest index on top, so I/Os go out in index order */
		j->free[c->depth - 1 - i] = io;
	}
	if (c->verify) {
		j->vb = calloc(j->nblocks, sizeof(*j->vb));
		if (!j->vb) {
			job_fail(j, -ENOMEM, "out of memory for verify state of "
				 "%llu blocks", (unsigned long long)j->nblocks);
			return -ENOMEM;
		}
	}
	sp_hist_init(&j->lat);
	sp_hist_init(&j->lat_rw[0]);
	sp_hist_init(&j->lat_rw[1]);
	sp_hist_init(&j->dev);
	/* The ring is created by the thread that submits to it, as
	 * SINGLE_ISSUER and DEFER_TASKRUN require. */
	ret = sp_target_open(&j->t, c->be, &c->topts, c->be->caps & SP_CAP_TARGET ?
			     &b->dev : NULL);
	if (ret) {
		if (ret == -EACCES || ret == -EPERM)
			job_fail(j, ret, "%s: %s", c->path, j->t.err);
		else
			job_fail(j, ret, "%s", j->t.err);
		return ret;
	}
	/* a device the kernel no longer drives: its signature is read
	 * through our own driver, once, before any job writes */
	if (j->id == 0) {
		char why[512];

		ret = sp_target_check_signature(&j->t, c->force, why, sizeof(why));
		if (ret) {
			job_fail(j, ret, "%s", why);
			return ret;
		}
	}
	return 0;
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct bench *b = j->b;

	j->tid = (int)syscall(SYS_gettid);
	job_setup(j);
	pthread_barrier_wait(&b->ready);
	pthread_barrier_wait(&b->go);
	j->start_ns = sp_now_ns();
	if (!atomic_load(&b->abort))
		run_phase(j, PHASE_MAIN);
	j->end_ns = sp_now_ns();
	j->main_syscalls = j->t.syscalls;
	pthread_mutex_lock(&b->lock);
	b->running--;
	pthread_cond_signal(&b->finished);
	pthread_mutex_unlock(&b->lock);
	pthread_barrier_wait(&b->main_done);
	/*
	 * Stay until main has read every thread's run time: woken from
	 * main_done, a job may run before main (6.12's EEVDF scheduler
	 * does) and would otherwise end unseen.
	 */
	pthread_barrier_wait(&b->counted);
	if (!atomic_load(&b->abort) && j->vb && rw_writes(b->c.rw) && !j->err)
		run_phase(j, PHASE_VERIFY);
	if (j->t.be)
		sp_target_close(&j->t);
	free(j->ios);
	free(j->free);
	free(j->nop_runs);
	free(j->vb);
	return NULL;
}

/* ------------------------------------------------------------ reporting */

struct totals {
	uint64_t ios, reads, writes, bytes, verified, unverified, pass_blocks;
	uint64_t issued, errors, mismatches;
	uint64_t self_syscalls, clock_reads, flushes;
	struct sp_hist lat, lat_rw[2], dev;
	struct sp_usage use;
	const char *syscall_source;
	/* every thread's scheduler run time at the start and end of the run */
#define MAX_THREADS 128
	struct sp_task_time th0[MAX_THREADS], th1[MAX_THREADS];
	int nth0, nth1;
};

/*
 * result.cpu.threads: each thread's run time over the run (ns, exact,
 * from schedstat), with its role: "job" a submitting thread, "main" the
 * thread that waits for the jobs, "io" one io_uring made (iou-sqp-*,
 * iou-wrk-*). Threads that ended before the run did are not in it.
 */
static json_object *threads_json(const struct bench *b, const struct totals *tt)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < tt->nth1; i++) {
		const struct sp_task_time *t = &tt->th1[i];
		uint64_t before = 0;
		const char *role = "io";
		json_object *o = json_object_new_object();

		for (int k = 0; k < tt->nth0; k++)
			if (tt->th0[k].tid == t->tid)
				before = tt->th0[k].run_ns;
		if (t->tid == getpid())
			role = "main";
		for (unsigned k = 0; k < b->c.jobs; k++)
			if (b->jobs[k].tid == t->tid)
				role = "job";
		json_object_object_add(o, "tid", json_object_new_int(t->tid));
		json_object_object_add(o, "comm", json_object_new_string(t->comm));
		json_object_object_add(o, "role", json_object_new_string(role));
		json_object_object_add(o, "run_ns", sp_json_u64(t->run_ns - before));
		json_object_array_add(a, o);
	}
	return a;
}

static double per_io(uint64_t v, uint64_t ios)
{
	return ios ? (double)v / (double)ios : 0.0;
}

static void print_json(const struct bench *b, const struct totals *tt, int status,
		       const char *error)
{
	const struct config *c = &b->c;
	const struct sp_usage *u = &tt->use;
	double secs = u->wall_ns / 1e9;
	json_object *root = sp_json_doc("shortpath.uring_bench/1");
	json_object *tgt = json_object_new_object();
	json_object *cfg = json_object_new_object();
	json_object *res = json_object_new_object();
	json_object *cpu = json_object_new_object();
	json_object *sys = json_object_new_object();
	json_object *csw = json_object_new_object();
	json_object *ver = json_object_new_object();
	json_object *jobs = json_object_new_array();
	json_object *lat;

	json_object_object_add(tgt, "path", c->path ? json_object_new_string(c->path) : NULL);
	json_object_object_add(tgt, "node", b->dev.path[0] ? json_object_new_string(b->dev.path) : NULL);
	json_object_object_add(tgt, "kind", json_object_new_string(sp_kind_name(b->dev.kind)));
	if (b->dev.model[0]) {
		json_object_object_add(tgt, "model", json_object_new_string(b->dev.model));
		json_object_object_add(tgt, "serial", json_object_new_string(b->dev.serial));
		json_object_object_add(tgt, "firmware", json_object_new_string(b->dev.firmware));
	}
	if (b->dev.max_transfer)
		json_object_object_add(tgt, "max_transfer", sp_json_u64(b->dev.max_transfer));
	json_object_object_add(tgt, "size", sp_json_u64(b->dev.size));
	json_object_object_add(tgt, "logical_block_size", sp_json_u64(b->dev.lbs));
	json_object_object_add(root, "target", tgt);

	json_object_object_add(cfg, "mode", json_object_new_string(c->be->name));
	json_object_object_add(cfg, "rw", json_object_new_string(rw_names[c->rw]));
	json_object_object_add(cfg, "rwmix_read", sp_json_u64(c->rwmix_read));
	json_object_object_add(cfg, "bs", sp_json_u64(c->bs));
	json_object_object_add(cfg, "iodepth", sp_json_u64(c->depth));
	json_object_object_add(cfg, "submit_batch", sp_json_u64(c->submit_batch));
	json_object_object_add(cfg, "reap_batch", sp_json_u64(c->reap_batch));
	json_object_object_add(cfg, "jobs", sp_json_u64(c->jobs));
	json_object_object_add(cfg, "offset", sp_json_u64(c->offset));
	json_object_object_add(cfg, "size", sp_json_u64(c->size));
	json_object_object_add(cfg, "runtime_ns", sp_json_u64(c->runtime_ns));
	json_object_object_add(cfg, "ios_per_job", sp_json_u64(c->ios_per_job));
	json_object_object_add(cfg, "direct", json_object_new_boolean(c->topts.direct));
	json_object_object_add(cfg, "fixedbufs", json_object_new_boolean(c->topts.fixed_bufs));
	json_object_object_add(cfg, "regfiles", json_object_new_boolean(c->topts.reg_files));
	json_object_object_add(cfg, "vectored", json_object_new_boolean(c->topts.vectored));
	json_object_object_add(cfg, "sqpoll", json_object_new_boolean(c->topts.sqpoll));
	json_object_object_add(cfg, "iopoll", json_object_new_boolean(c->topts.iopoll));
	json_object_object_add(cfg, "verify", json_object_new_boolean(c->verify));
	json_object_object_add(cfg, "clock", json_object_new_string(b->tsc.mult ? "tsc" : "monotonic"));
	json_object_object_add(cfg, "clock_hz", b->tsc.mult ? sp_json_u64(b->tsc.hz) : NULL);
	json_object_object_add(cfg, "setup", b->jobs && b->jobs[0].t.setup[0] ?
			       json_object_new_string(b->jobs[0].t.setup) : NULL);
	json_object_object_add(root, "config", cfg);

	json_object_object_add(res, "ios", sp_json_u64(tt->ios));
	json_object_object_add(res, "issued", sp_json_u64(tt->issued));
	json_object_object_add(res, "errors", sp_json_u64(tt->errors));
	json_object_object_add(res, "flushes", sp_json_u64(tt->flushes));
	json_object_object_add(res, "reads", sp_json_u64(tt->reads));
	json_object_object_add(res, "writes", sp_json_u64(tt->writes));
	json_object_object_add(res, "bytes", sp_json_u64(tt->bytes));
	json_object_object_add(res, "elapsed_ns", sp_json_u64(u->wall_ns));
	json_object_object_add(res, "iops", sp_json_dbl(secs > 0 ? tt->ios / secs : 0));
	json_object_object_add(res, "mib_s", sp_json_dbl(secs > 0 ? tt->bytes / secs / 1048576.0 : 0));
	lat = sp_json_hist(&tt->lat);
	json_object_object_add(lat, "bins", sp_json_hist_bins(&tt->lat));
	json_object_object_add(res, "latency_ns", lat);
	/* doorbell to completion seen, beside end-to-end: only where the
	 * backend drives the device itself */
	if (tt->dev.count) {
		lat = sp_json_hist(&tt->dev);
		json_object_object_add(lat, "bins", sp_json_hist_bins(&tt->dev));
		json_object_object_add(res, "device_latency_ns", lat);
	} else {
		json_object_object_add(res, "device_latency_ns", NULL);
	}
	for (int w = 0; w < 2; w++) {
		json_object *o;

		if (!tt->lat_rw[w].count)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "ios", sp_json_u64(tt->lat_rw[w].count));
		json_object_object_add(o, "iops", sp_json_dbl(secs > 0 ? tt->lat_rw[w].count / secs : 0));
		lat = sp_json_hist(&tt->lat_rw[w]);
		json_object_object_add(lat, "bins", sp_json_hist_bins(&tt->lat_rw[w]));
		json_object_object_add(o, "latency_ns", lat);
		json_object_object_add(res, w ? "write" : "read", o);
	}
	json_object_object_add(cpu, "user_ns", sp_json_u64(u->user_ns));
	json_object_object_add(cpu, "sys_ns", sp_json_u64(u->sys_ns));
	json_object_object_add(cpu, "user_ns_per_io", sp_json_dbl(per_io(u->user_ns, tt->ios)));
	json_object_object_add(cpu, "sys_ns_per_io", sp_json_dbl(per_io(u->sys_ns, tt->ios)));
	json_object_object_add(cpu, "ns_per_io", sp_json_dbl(per_io(u->user_ns + u->sys_ns, tt->ios)));
	json_object_object_add(cpu, "threads", threads_json(b, tt));
	json_object_object_add(res, "cpu", cpu);
	json_object_object_add(sys, "total", sp_json_u64(u->syscalls));
	json_object_object_add(sys, "per_io", sp_json_dbl(per_io(u->syscalls, tt->ios)));
	json_object_object_add(sys, "self_counted", sp_json_u64(tt->self_syscalls));
	json_object_object_add(sys, "clock_reads", sp_json_u64(tt->clock_reads));
	json_object_object_add(sys, "source", json_object_new_string(tt->syscall_source));
	json_object_object_add(res, "syscalls", sys);
	json_object_object_add(csw, "voluntary", sp_json_u64(u->vol_csw));
	json_object_object_add(csw, "involuntary", sp_json_u64(u->invol_csw));
	json_object_object_add(csw, "voluntary_per_io", sp_json_dbl(per_io(u->vol_csw, tt->ios)));
	json_object_object_add(csw, "involuntary_per_io", sp_json_dbl(per_io(u->invol_csw, tt->ios)));
	json_object_object_add(res, "ctx_switches", csw);
	json_object_object_add(ver, "enabled", json_object_new_boolean(c->verify));
	json_object_object_add(ver, "blocks_checked", sp_json_u64(tt->verified));
	json_object_object_add(ver, "reads_unchecked", sp_json_u64(tt->unverified));
	json_object_object_add(ver, "readback_blocks", sp_json_u64(tt->pass_blocks));
	json_object_object_add(ver, "mismatches", sp_json_u64(tt->mismatches));
	json_object_object_add(res, "verify", ver);
	json_object_object_add(root, "result", res);

	for (unsigned i = 0; b->jobs && i < c->jobs; i++) {
		const struct job *j = &b->jobs[i];
		json_object *jo = json_object_new_object();

		json_object_object_add(jo, "id", sp_json_u64(j->id));
		json_object_object_add(jo, "cpu", json_object_new_int(j->cpu));
		json_object_object_add(jo, "ios", sp_json_u64(j->ios_done));
		json_object_object_add(jo, "iops", sp_json_dbl(secs > 0 ? j->ios_done / secs : 0));
		json_object_object_add(jo, "latency_ns", sp_json_hist(&j->lat));
		json_object_array_add(jobs, jo);
	}
	json_object_object_add(root, "jobs", jobs);
	if (b->trace)
		json_object_object_add(root, "trace", json_object_get(b->trace));
	json_object_object_add(root, "status", json_object_new_string(status ? "failed" : "ok"));
	json_object_object_add(root, "error", error ? json_object_new_string(error) : NULL);
	/* with --interval the stream stays one object a line */
	if (c->interval_ns)
		sp_json_print_line_and_free(root);
	else
		sp_json_print_and_free(root);
}

static const char *fmt_us(uint64_t ns, char *buf, size_t len)
{
	double us = ns / 1000.0;

	snprintf(buf, len, us < 10 ? "%.2f" : us < 1000 ? "%.1f" : "%.0f", us);
	return buf;
}

static const char *fmt_count(double v, char *buf, size_t len)
{
	if (v >= 1e6)
		snprintf(buf, len, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}

/* "  LABEL min .. mean .. p50 .. max .." of a latency histogram, in us */
static void print_latency(const char *label, const struct sp_hist *h)
{
	char s1[32], s2[32];

	printf("  %s min %s  mean %s", label, fmt_us(h->count ? h->min : 0, s1, sizeof(s1)),
	       fmt_us((uint64_t)sp_hist_mean(h), s2, sizeof(s2)));
	for (unsigned i = 0; i < SP_JSON_NR_PCTS; i++)
		printf("  %s %s", sp_json_pct_names[i],
		       fmt_us(sp_hist_percentile(h, sp_json_pcts[i]), s1, sizeof(s1)));
	printf("  max %s\n", fmt_us(h->max, s1, sizeof(s1)));
}

static void print_text(const struct bench *b, const struct totals *tt)
{
	const struct config *c = &b->c;
	const struct sp_usage *u = &tt->use;
	double secs = u->wall_ns / 1e9;
	char s1[32], s2[32];

	printf("%s %s bs=%s iodepth=%u jobs=%u on %s", c->be->name, rw_names[c->rw],
	       sp_fmt_size(c->bs, s1, sizeof(s1)), c->depth, c->jobs,
	       c->path ? c->path : "(no target)");
	if (c->be->caps & SP_CAP_TARGET)
		printf(" (%s, %s, lbs %u, %s)", sp_kind_name(b->dev.kind),
		       sp_fmt_size(b->dev.size, s2, sizeof(s2)), b->dev.lbs,
		       b->dev.kind == SP_KIND_CHAR ? "passthrough" :
		       b->dev.kind == SP_KIND_PCI ? "userspace driver" :
		       c->topts.direct ? "O_DIRECT" : "buffered");
	printf("\n  setup       %s\n", b->jobs[0].t.setup);
	if (b->tsc.mult)
		printf("  clock       tsc at %.2f MHz (latencies)\n", b->tsc.hz / 1e6);
	printf("  I/Os        %llu in %.2f s: %s IOPS, %.1f MiB/s\n",
	       (unsigned long long)tt->ios, secs,
	       fmt_count(secs > 0 ? tt->ios / secs : 0, s1, sizeof(s1)),
	       secs > 0 ? tt->bytes / secs / 1048576.0 : 0);
	print_latency("latency us ", &tt->lat);
	if (tt->dev.count)
		print_latency("device us  ", &tt->dev);
	/* a mixed workload: reads and writes apart too */
	if (tt->lat_rw[0].count && tt->lat_rw[1].count) {
		print_latency("  read     ", &tt->lat_rw[0]);
		print_latency("  write    ", &tt->lat_rw[1]);
	}
	printf("  CPU/IO us   user %.3f  sys %.3f  total %.3f (all threads)\n",
	       per_io(u->user_ns, tt->ios) / 1000.0, per_io(u->sys_ns, tt->ios) / 1000.0,
	       per_io(u->user_ns + u->sys_ns, tt->ios) / 1000.0);
	printf("  syscalls/IO %.3f (%s)\n", per_io(u->syscalls, tt->ios), tt->syscall_source);
	printf("  ctxsw/IO    voluntary %.3f  involuntary %.3f\n",
	       per_io(u->vol_csw, tt->ios), per_io(u->invol_csw, tt->ios));
	if (c->verify)
		printf("  verify      %llu blocks checked, %llu read back after the "
		       "run, %s\n", (unsigned long long)tt->verified,
		       (unsigned long long)tt->pass_blocks,
		       tt->mismatches ? "a block failed its check: the run failed (the "
					"error line says which and why)"
				      : tt->errors ? "the run failed" : "0 errors");
	if (tt->errors)
		printf("  errors      %llu I/Os failed or returned wrong data\n",
		       (unsigned long long)tt->errors);
}

/* ------------------------------------------------------------ options */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: uring_bench [OPTIONS] TARGET\n"
"       uring_bench --mode nop [OPTIONS]\n"
"\n"
"Benchmark one submission path on a file or block device.\n"
"\n"
"Path:\n"
"  -m, --mode NAME         backend (default uring):\n");
	sp_backend_list(f);
	fprintf(f,
"      --target N, --lun N scsi-vfio: the unit behind the HBA (default the\n"
"                          first disk the firmware lists)\n"
"      --fixedbufs         register the I/O buffers (READ/WRITE_FIXED)\n"
"      --regfiles          register the target's file descriptor\n"
"      --vectored          nvme: iovec commands (NVME_URING_CMD_IO_VEC)\n"
"      --sqpoll            kernel thread polls the submission queue\n"
"      --sq-idle MS        SQPOLL idle time before it sleeps (default 1000)\n"
"      --sq-cpu N          pin the SQPOLL thread to CPU N\n"
"      --iopoll            polled completions (needs a device with poll queues)\n"
"      --no-modern-flags   do not try COOP_TASKRUN/SINGLE_ISSUER/DEFER_TASKRUN/\n"
"                          NO_SQARRAY\n"
"      --buffered          go through the page cache (default: O_DIRECT)\n"
"Workload:\n"
"  -w, --rw PATTERN        read|write|randread|randwrite|randrw (default randread)\n"
"  -M, --rwmix-read PCT    share of reads in randrw (default 50)\n"
"  -b, --bs SIZE           block size (default 4k)\n"
"  -q, --iodepth N         I/Os in flight per job (default 32; psync: 1)\n"
"  -s, --submit-batch N    most I/Os prepared per submit (default iodepth)\n"
"  -c, --reap-batch N      completions to wait for when the queue is full (default 1)\n"
"  -j, --jobs N            threads, each with its own ring and buffers (default 1)\n"
"      --cpus LIST         pin job i to the i-th CPU of LIST (e.g. 0-1)\n"
"  -t, --runtime DURATION  e.g. 10s, 500ms (default 5s unless --ios)\n"
"  -n, --ios N             I/Os per job, then stop\n"
"      --size SIZE         bytes of the target to use (default all; creates a\n"
"                          missing file of this size)\n"
"      --offset SIZE       start of the range (default 0)\n"
"Checks:\n"
"      --verify            writes carry a checked header; reads check it; after\n"
"                          a writing run every written block is read back\n"
"      --verify-seed N     seed of the pattern (default 1); reads of another run's\n"
"                          data need that run's seed. Generations (which write\n"
"                          of a block is the latest) are counted per run: a\n"
"                          read-only run accepts any generation\n"
"      --force             write to a device with a filesystem/partition signature\n"
"      --fsync N           after every N writes an fsync (psync: fsync(2), uring:\n"
"                          IORING_OP_FSYNC); counted apart, as flushes\n"
"      --trace             run iolat on this process during the run and print its\n"
"                          per-layer breakdown after the results (JSON: \"trace\")\n"
"Output:\n"
"      --json              one JSON document on stdout (schema in README.md)\n"
"      --quiet             no progress line\n"
"      --interval DUR      a line every DUR (at least 100ms) on stdout: I/Os,\n"
"                          IOPS, MiB/s, I/Os per syscall; with --json one JSON\n"
"                          object a line (NDJSON), the final document last\n"
"      --clock WHICH       of latencies: monotonic (CLOCK_MONOTONIC), tsc (the\n"
"                          CPU's time-stamp counter, one instruction a read;\n"
"                          needs an invariant counter, and each job on one CPU\n"
"                          unless the kernel keeps the counters in step) or\n"
"                          auto (default: tsc where the kernel has it among its\n"
"                          clocksources, monotonic elsewhere)\n"
"      --syscalls HOW      self: counted by uring_bench at no cost (default);\n"
"                          kernel: by a perf counter on raw_syscalls:sys_enter,\n"
"                          exact but it slows every syscall of the process\n"
"  -v, --verbose           more messages\n"
"  -h, --help              this text\n"
"      --version           the version of shortpath it belongs to\n"
"fio's spellings are taken too: --filename, --numjobs, --rwmixread,\n"
"--ioengine psync|sync|io_uring|io_uring_cmd|sg|null, --direct=0|1,\n"
"--registerfiles, --fixedbufs, --sqthread_poll, --hipri (IOPOLL),\n"
"--output-format json|normal (=0/=1 after a boolean, as fio allows).\n"
"\n"
"Examples:\n"
"  uring_bench --size 256M /tmp/f                  # randread 4k QD32 on a new file\n"
"  uring_bench -m psync -w randread -t 10s /dev/loop0\n"
"  uring_bench -w randwrite -q 64 --fixedbufs --regfiles --sqpoll --sq-cpu 1 /dev/zram0\n"
"  uring_bench -w randrw -M 70 --verify -n 100000 /dev/loop0\n"
"  uring_bench -m nop -q 128 -s 32 -c 32 --json\n"
"  taskset -c 1 uring_bench -m nop -q 32 -s 32 -c 32 --clock tsc -t 3s\n"
"  uring_bench --ioengine=io_uring --rw=randread --bs=4k --iodepth=32 \\\n"
"      --numjobs=2 --direct=1 --runtime=10 --filename=/dev/loop0 --output-format=json\n"
"  uring_bench --trace -m psync -w write --buffered --fsync 1 -n 200 /tmp/f\n"
"  uring_bench -m vfio -j 2 -q 32 -w randrw --verify -n 10000 0000:00:04.0\n"
"                                                  # after sp-vfio bind 0000:00:04.0\n"
"\n"
"Exit status: 0 success, 1 I/O or runtime failure (including verify errors),\n"
"2 bad usage or unusable target (nothing written).\n");
}

/* scsi-vfio: the unit behind the HBA; -1: the first disk */
static int scsi_target = -1;
static long long scsi_lun = -1;

enum {
	OPT_FIXEDBUFS = 256, OPT_REGFILES, OPT_SQPOLL, OPT_SQ_IDLE, OPT_SQ_CPU,
	OPT_IOPOLL, OPT_NO_MODERN, OPT_BUFFERED, OPT_CPUS, OPT_SIZE, OPT_OFFSET,
	OPT_VERIFY, OPT_VERIFY_SEED, OPT_FORCE, OPT_SYSCALLS,
	OPT_VECTORED, OPT_FSYNC, OPT_TRACE, OPT_INTERVAL, OPT_TARGET, OPT_LUN, OPT_CLOCK,
	/* fio's spellings, so that a fio command line mostly just works */
	OPT_FIO_FILENAME, OPT_FIO_IOENGINE, OPT_FIO_DIRECT, OPT_FIO_REGFILES,
	OPT_FIO_SQPOLL, OPT_FIO_HIPRI, OPT_FIO_OUTPUT_FORMAT,
};

/* A fio boolean: "--hipri", "--hipri=1", "--hipri=0"; -EINVAL otherwise. */
static int fio_bool(const char *opt, const char *arg, bool *out)
{
	if (!arg || !strcmp(arg, "1") || !strcmp(arg, "true") || !strcmp(arg, "on")) {
		*out = true;
		return 0;
	}
	if (!strcmp(arg, "0") || !strcmp(arg, "false") || !strcmp(arg, "off")) {
		*out = false;
		return 0;
	}
	sp_err("invalid --%s '%s': 0 or 1", opt, arg);
	return -EINVAL;
}

/* fio's --ioengine NAME as a mode */
static const struct sp_backend *fio_engine(const char *name)
{
	static const char *const map[][2] = {
		{ "psync", "psync" }, { "sync", "psync" }, { "pvsync", "psync" },
		{ "io_uring", "uring" }, { "io_uring_cmd", "nvme" }, { "sg", "sg" },
		{ "null", "nop" },
	};

	for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(name, map[i][0]))
			return sp_backend_find(map[i][1]);
	return NULL;
}

static int bad_value(const char *opt, const char *val, int err)
{
	sp_err("invalid %s '%s': %s", opt, val,
	       err == -ERANGE ? "out of range" : "malformed");
	return -EINVAL;
}

static int parse_args(int argc, char **argv, struct config *c)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "rw", required_argument, NULL, 'w' },
		{ "rwmix-read", required_argument, NULL, 'M' },
		{ "bs", required_argument, NULL, 'b' },
		{ "iodepth", required_argument, NULL, 'q' },
		{ "submit-batch", required_argument, NULL, 's' },
		{ "reap-batch", required_argument, NULL, 'c' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "runtime", required_argument, NULL, 't' },
		{ "ios", required_argument, NULL, 'n' },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "lun", required_argument, NULL, OPT_LUN },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "offset", required_argument, NULL, OPT_OFFSET },
		{ "fixedbufs", optional_argument, NULL, OPT_FIXEDBUFS },
		{ "regfiles", no_argument, NULL, OPT_REGFILES },
		{ "vectored", no_argument, NULL, OPT_VECTORED },
		{ "sqpoll", no_argument, NULL, OPT_SQPOLL },
		{ "sq-idle", required_argument, NULL, OPT_SQ_IDLE },
		{ "sq-cpu", required_argument, NULL, OPT_SQ_CPU },
		{ "iopoll", no_argument, NULL, OPT_IOPOLL },
		{ "no-modern-flags", no_argument, NULL, OPT_NO_MODERN },
		{ "buffered", no_argument, NULL, OPT_BUFFERED },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "verify-seed", required_argument, NULL, OPT_VERIFY_SEED },
		{ "fsync", required_argument, NULL, OPT_FSYNC },
		{ "trace", no_argument, NULL, OPT_TRACE },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "clock", required_argument, NULL, OPT_CLOCK },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "syscalls", required_argument, NULL, OPT_SYSCALLS },
		SP_OPT_VERBOSE_LONGOPT,
		SP_OPT_QUIET_LONGOPT,
		SP_OPT_COMMON_LONGOPTS,
		/* fio's names for the same things */
		{ "numjobs", required_argument, NULL, 'j' },
		{ "rwmixread", required_argument, NULL, 'M' },
		{ "filename", required_argument, NULL, OPT_FIO_FILENAME },
		{ "ioengine", required_argument, NULL, OPT_FIO_IOENGINE },
		{ "direct", optional_argument, NULL, OPT_FIO_DIRECT },
		{ "registerfiles", optional_argument, NULL, OPT_FIO_REGFILES },
		{ "sqthread_poll", optional_argument, NULL, OPT_FIO_SQPOLL },
		{ "hipri", optional_argument, NULL, OPT_FIO_HIPRI },
		{ "output-format", required_argument, NULL, OPT_FIO_OUTPUT_FORMAT },
		{ NULL, 0, NULL, 0 },
	};
	bool depth_set = false, reap_set = false, on;
	uint64_t v;
	const struct sp_opt_common common = { .shortopts = "m:w:M:b:q:s:c:j:t:n:vh", .usage = usage,
					      .json = &c->json, .quiet = &c->quiet };
	int opt, ret;

	memset(c, 0, sizeof(*c));
	c->be = sp_backend_find("uring");
	c->rw = RW_RANDREAD;
	c->rwmix_read = 50;
	c->bs = 4096;
	c->depth = 32;
	c->reap_batch = 1;
	c->jobs = 1;
	c->verify_seed = 1;
	c->self_count = true;
	c->topts.sq_idle_ms = 1000;
	c->topts.sq_cpu = -1;

	opterr = 0;	/* one line of our own for a bad option */
	while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			c->be = sp_backend_find(optarg);
			if (!c->be) {
				sp_err("unknown mode '%s' (see --help)", optarg);
				return -EINVAL;
			}
			break;
		case 'w':
			ret = -1;
			for (unsigned i = 0; i < sizeof(rw_names) / sizeof(rw_names[0]); i++)
				if (!strcmp(optarg, rw_names[i])) {
					c->rw = i;
					ret = 0;
				}
			if (ret) {
				sp_err("unknown --rw '%s': read, write, randread, "
				       "randwrite or randrw", optarg);
				return -EINVAL;
			}
			break;
		case 'M':
			if ((ret = sp_parse_u64(optarg, 0, 100, &v)))
				return bad_value("--rwmix-read", optarg, ret);
			c->rwmix_read = v;
			break;
		case 'b':
			if ((ret = sp_parse_size(optarg, &v)) || !v || v > (1u << 30))
				return bad_value("--bs", optarg, ret ? ret : -ERANGE);
			c->bs = v;
			break;
		case 'q':
			if ((ret = sp_parse_u64(optarg, 1, 4096, &v)))
				return bad_value("--iodepth", optarg, ret);
			c->depth = v;
			depth_set = true;
			break;
		case 's':
			if ((ret = sp_parse_u64(optarg, 1, 4096, &v)))
				return bad_value("--submit-batch", optarg, ret);
			c->submit_batch = v;
			break;
		case 'c':
			if ((ret = sp_parse_u64(optarg, 1, 4096, &v)))
				return bad_value("--reap-batch", optarg, ret);
			c->reap_batch = v;
			reap_set = true;
			break;
		case 'j':
			if ((ret = sp_parse_u64(optarg, 1, 256, &v)))
				return bad_value("--jobs", optarg, ret);
			c->jobs = v;
			break;
		case 't':
			if ((ret = sp_parse_duration(optarg, &v)) || !v)
				return bad_value("--runtime", optarg, ret ? ret : -ERANGE);
			c->runtime_ns = v;
			break;
		case 'n':
			if ((ret = sp_parse_u64(optarg, 1, UINT64_MAX, &v)))
				return bad_value("--ios", optarg, ret);
			c->ios_per_job = v;
			break;
		case OPT_TARGET:
		case OPT_LUN: {
			uint64_t v;

			if (sp_parse_u64(optarg, 0, opt == OPT_TARGET ? 0xffff : 0x3fff, &v)) {
				sp_opt_bad_value(longopts, opt, optarg);
				return -EINVAL;
			}
			if (opt == OPT_TARGET)
				scsi_target = (int)v;
			else
				scsi_lun = (long long)v;
			break;
		}
		case OPT_CLOCK:
			if (!strcmp(optarg, "auto"))
				c->clock = LAT_CLOCK_AUTO;
			else if (!strcmp(optarg, "monotonic"))
				c->clock = LAT_CLOCK_MONOTONIC;
			else if (!strcmp(optarg, "tsc"))
				c->clock = LAT_CLOCK_TSC;
			else {
				sp_err("invalid --clock '%s': auto, monotonic or tsc", optarg);
				return -EINVAL;
			}
			break;
		case OPT_CPUS:
			if ((ret = sp_parse_cpulist(optarg, &c->cpus)))
				return bad_value("--cpus", optarg, ret);
			c->pin = true;
			break;
		case OPT_SIZE:
			if ((ret = sp_parse_size(optarg, &c->size)) || !c->size)
				return bad_value("--size", optarg, ret ? ret : -ERANGE);
			break;
		case OPT_OFFSET:
			if ((ret = sp_parse_size(optarg, &c->offset)))
				return bad_value("--offset", optarg, ret);
			break;
		case OPT_FIXEDBUFS:
			if (fio_bool("fixedbufs", optarg, &c->topts.fixed_bufs))
				return -EINVAL;
			break;
		case OPT_REGFILES: c->topts.reg_files = true; break;
		case OPT_VECTORED: c->topts.vectored = true; break;
		case OPT_SQPOLL: c->topts.sqpoll = true; break;
		case OPT_IOPOLL: c->topts.iopoll = true; break;
		case OPT_NO_MODERN: c->topts.no_modern = true; break;
		case OPT_BUFFERED: c->buffered = true; break;
		case OPT_VERIFY: c->verify = true; break;
		case OPT_FORCE: c->force = true; break;
		case OPT_SYSCALLS:
			if (strcmp(optarg, "kernel") && strcmp(optarg, "self")) {
				sp_err("--syscalls takes 'kernel' or 'self'");
				return -EINVAL;
			}
			c->self_count = !strcmp(optarg, "self");
			break;
		case OPT_SQ_IDLE:
			if ((ret = sp_parse_u64(optarg, 0, 3600000, &v)))
				return bad_value("--sq-idle", optarg, ret);
			c->topts.sq_idle_ms = v;
			break;
		case OPT_SQ_CPU:
			if ((ret = sp_parse_u64(optarg, 0, CPU_SETSIZE - 1, &v)))
				return bad_value("--sq-cpu", optarg, ret);
			c->topts.sq_cpu = v;
			break;
		case OPT_FSYNC: {
			uint64_t v;

			if ((ret = sp_parse_u64(optarg, 1, 1000000, &v)))
				return bad_value("--fsync", optarg, ret);
			c->fsync_every = (unsigned)v;
			break;
		}
		case OPT_TRACE: c->trace = true; break;
		case OPT_INTERVAL:
			if ((ret = sp_parse_duration(optarg, &c->interval_ns)) ||
			    c->interval_ns < 100000000ULL)
				return bad_value("--interval", optarg, ret ? ret : -ERANGE);
			break;
		case OPT_VERIFY_SEED:
			if ((ret = sp_parse_u64(optarg, 0, UINT64_MAX, &c->verify_seed)))
				return bad_value("--verify-seed", optarg, ret);
			break;
		case OPT_FIO_FILENAME:
			c->path = optarg;
			break;
		case OPT_FIO_IOENGINE:
			c->be = fio_engine(optarg);
			if (!c->be) {
				sp_err("--ioengine '%s' has no mode here: psync, sync, io_uring, "
				       "io_uring_cmd, sg or null", optarg);
				return -EINVAL;
			}
			break;
		case OPT_FIO_DIRECT:
			if (fio_bool("direct", optarg, &on))
				return -EINVAL;
			c->buffered = !on;
			break;
		case OPT_FIO_REGFILES:
			if (fio_bool("registerfiles", optarg, &c->topts.reg_files))
				return -EINVAL;
			break;
		case OPT_FIO_SQPOLL:
			if (fio_bool("sqthread_poll", optarg, &c->topts.sqpoll))
				return -EINVAL;
			break;
		case OPT_FIO_HIPRI:
			if (fio_bool("hipri", optarg, &c->topts.iopoll))
				return -EINVAL;
			break;
		case OPT_FIO_OUTPUT_FORMAT:
			if (strcmp(optarg, "json") && strcmp(optarg, "normal")) {
				sp_err("--output-format '%s': json or normal", optarg);
				return -EINVAL;
			}
			c->json = !strcmp(optarg, "json");
			break;
		default:
			if (sp_opt_common(&common, opt, argv))
				return -EINVAL;
		}
	}
	if (optind < argc && c->path) {
		sp_err("the target is given twice: --filename %s and '%s'", c->path,
		       argv[optind]);
		return -EINVAL;
	}
	if (optind < argc)
		c->path = argv[optind++];
	if (optind < argc) {
		sp_err("one target only ('%s' is extra)", argv[optind]);
		return -EINVAL;
	}
	if (scsi_target >= 0 || scsi_lun >= 0) {
		static char unit_path[96];

		if (strcmp(c->be->name, "scsi-vfio") || !c->path || scsi_target < 0) {
			sp_err("--target and --lun choose a unit behind an HBA: with -m "
			       "scsi-vfio and a PCI address, --lun only with --target");
			return -EINVAL;
		}
		if (sp_scsi_vfio_path(unit_path, sizeof(unit_path), c->path, scsi_target,
				      scsi_lun)) {
			sp_err("'%s': too long for a PCI address", c->path);
			return -EINVAL;
		}
		c->path = unit_path;
	}
	if ((c->be->caps & SP_CAP_TARGET) && !c->path) {
		sp_err("mode %s needs a TARGET (a file or block device); see --help",
		       c->be->name);
		return -EINVAL;
	}
	if (!(c->be->caps & SP_CAP_TARGET) && c->path) {
		sp_err("mode %s takes no target ('%s')", c->be->name, c->path);
		return -EINVAL;
	}
	if (!(c->be->caps & SP_CAP_RING) &&
	    (c->topts.fixed_bufs || c->topts.reg_files || c->topts.sqpoll || c->topts.iopoll)) {
		sp_err("--fixedbufs, --regfiles, --sqpoll and --iopoll need an "
		       "io_uring mode, not %s", c->be->name);
		return -EINVAL;
	}
	if (!(c->be->caps & SP_CAP_TARGET) && (c->topts.reg_files || c->topts.iopoll || c->verify)) {
		sp_err("--regfiles, --iopoll and --verify need a target; mode %s has none",
		       c->be->name);
		return -EINVAL;
	}
	if (c->topts.vectored && !(c->be->caps & SP_CAP_VECTORED)) {
		sp_err("--vectored applies to mode nvme, not %s", c->be->name);
		return -EINVAL;
	}
	if (c->fsync_every && (!rw_writes(c->rw) || !(c->be->caps & SP_CAP_FLUSH))) {
		sp_err("--fsync needs a writing workload and a mode that can flush (psync, uring)");
		return -EINVAL;
	}
	if (c->topts.sq_cpu >= 0 && !c->topts.sqpoll) {
		sp_err("--sq-cpu needs --sqpoll");
		return -EINVAL;
	}
	if (!strcmp(c->be->name, "psync")) {
		if (depth_set && c->depth > 1)
			sp_notice("psync is synchronous: iodepth %u ignored, using 1",
				  c->depth);
		c->depth = 1;
	}
	if (c->be->max_depth && c->depth > c->be->max_depth) {
		if (depth_set)
			sp_notice("%s keeps at most %u I/Os in flight: iodepth %u "
				  "lowered to %u", c->be->name, c->be->max_depth,
				  c->depth, c->be->max_depth);
		c->depth = c->be->max_depth;
	}
	if (!c->submit_batch || c->submit_batch > c->depth)
		c->submit_batch = c->depth;
	if (!reap_set || c->reap_batch > c->depth)
		c->reap_batch = reap_set ? c->depth : 1;
	if (c->verify && c->bs < sizeof(struct sp_verify_hdr)) {
		sp_err("--verify needs --bs of at least %zu bytes",
		       sizeof(struct sp_verify_hdr));
		return -EINVAL;
	}
	if (!c->runtime_ns && !c->ios_per_job)
		c->runtime_ns = 5000000000ULL;
	if (c->pin && (unsigned)CPU_COUNT(&c->cpus) < 1) {
		sp_err("--cpus names no CPU");
		return -EINVAL;
	}
	c->topts.direct = !c->buffered;
	c->topts.write = rw_writes(c->rw);
	c->topts.depth = c->depth;
	c->topts.buf_size = c->bs;
	return 0;
}

/* Whether path would land on the filesystem of /dev (a device node). */
static bool on_devfs(const char *path)
{
	char *copy = strdup(path);
	struct stat dir, dev;
	bool ret;

	if (!copy)
		return false;
	ret = stat(dirname(copy), &dir) == 0 && stat("/dev", &dev) == 0 &&
	      dir.st_dev == dev.st_dev;
	free(copy);
	return ret;
}

/* Checks the target against the workload; nothing is written here. */
static int prepare_target(struct bench *b)
{
	struct config *c = &b->c;
	char why[PATH_MAX + 128], s1[32], s2[32];
	uint64_t end;
	int ret;

	if (!(c->be->caps & SP_CAP_TARGET))
		return 0;
	if (c->be->probe) {
		/* the backend knows its devices: no files created here */
		why[0] = '\0';
		ret = c->be->probe(c->path, c->topts.write, &b->dev, why, sizeof(why));
		if (ret == -ENOENT)
			sp_err("%s: no such device", c->path);
		else if (ret)
			sp_err("%s", why[0] ? why : strerror(-ret));
		if (ret)
			return ret;
		goto check_range;
	}
	ret = sp_dev_probe(c->path, c->topts.write, &b->dev);
	if (ret == -ENOENT && c->size) {
		/* A missing file is created, never a missing device node. */
		if (on_devfs(c->path)) {
			sp_err("%s: no such device", c->path);
			return -ENOENT;
		}
		ret = sp_file_create(c->path, c->offset + c->size);
		if (ret) {
			sp_err("cannot create %s: %s", c->path, strerror(-ret));
			return ret;
		}
		sp_info("created %s (%s)", c->path,
			sp_fmt_size(c->offset + c->size, s1, sizeof(s1)));
		ret = sp_dev_probe(c->path, c->topts.write, &b->dev);
	}
	if (ret == -ENOENT) {
		sp_err("%s: no such file or device (give --size to create a file)",
		       c->path);
		return ret;
	}
	if (ret == -EACCES || ret == -EPERM || ret == -EROFS) {
		sp_err("%s: cannot open for %s: %s", c->path,
		       c->topts.write ? "writing" : "reading", strerror(-ret));
		return ret;
	}
	if (ret == -ENOTSUP || (!ret && b->dev.kind == SP_KIND_CHAR)) {
		sp_err("%s: not a regular file or block device", c->path);
		return -ENOTSUP;
	}
	if (ret) {
		sp_err("%s: %s", c->path, strerror(-ret));
		return ret;
	}
check_range:
	if (c->topts.direct && !b->dev.dio) {
		sp_err("%s: the filesystem does not support O_DIRECT; use --buffered",
		       c->path);
		return -EINVAL;
	}
	if (c->topts.direct && c->bs % b->dev.lbs) {
		sp_err("--bs %llu is not a multiple of the logical block size %u of %s",
		       (unsigned long long)c->bs, b->dev.lbs, c->path);
		return -EINVAL;
	}
	if (c->topts.direct && c->offset % b->dev.lbs) {
		sp_err("--offset %llu is not a multiple of the logical block size %u of %s",
		       (unsigned long long)c->offset, b->dev.lbs, c->path);
		return -EINVAL;
	}
	if (b->dev.max_transfer && c->bs > b->dev.max_transfer) {
		sp_err("--bs %s exceeds the largest transfer %s accepts (%s)",
		       sp_fmt_size(c->bs, s1, sizeof(s1)), c->path,
		       sp_fmt_size(b->dev.max_transfer, s2, sizeof(s2)));
		return -EINVAL;
	}
	if (c->offset >= b->dev.size) {
		sp_err("--offset %s is beyond the end of %s (%s)",
		       sp_fmt_size(c->offset, s1, sizeof(s1)), c->path,
		       sp_fmt_size(b->dev.size, s2, sizeof(s2)));
		return -EINVAL;
	}
	if (!c->size)
		c->size = b->dev.size - c->offset;
	if (__builtin_add_overflow(c->offset, c->size, &end) || end > b->dev.size) {
		sp_err("--offset + --size ends beyond the end of %s (%s)", c->path,
		       sp_fmt_size(b->dev.size, s2, sizeof(s2)));
		return -EINVAL;
	}
	if (c->size / c->bs < 1) {
		sp_err("the range (%s) is smaller than one block (--bs %s)",
		       sp_fmt_size(c->size, s1, sizeof(s1)), sp_fmt_size(c->bs, s2, sizeof(s2)));
		return -EINVAL;
	}
	if (c->verify && c->size / c->bs < c->jobs) {
		sp_err("--verify gives every job its own blocks: %llu blocks for %u jobs",
		       (unsigned long long)(c->size / c->bs), c->jobs);
		return -EINVAL;
	}
	if (c->verify && c->size / c->bs > (1ULL << 30)) {
		sp_err("--verify keeps state per block: %llu blocks is too many; "
		       "limit the range with --size", (unsigned long long)(c->size / c->bs));
		return -EINVAL;
	}
	if (c->topts.write) {
		ret = sp_dev_check_writable(&b->dev, c->force, why, sizeof(why));
		if (!ret)
			ret = sp_dev_lock_write(&b->dev, &b->write_lock, why, sizeof(why));
		if (ret) {
			sp_err("%s", why);
			return ret;
		}
	}
	return 0;
}

/* I/Os done and syscalls made so far, over every job */
static void sample(struct bench *b, const struct sp_syscall_counter *sc, uint64_t *ios,
		   uint64_t *sys)
{
	*ios = *sys = 0;
	for (unsigned i = 0; i < b->c.jobs; i++) {
		*ios += atomic_load_explicit(&b->jobs[i].progress_ios, memory_order_relaxed);
		*sys += atomic_load_explicit(&b->jobs[i].progress_syscalls, memory_order_relaxed);
	}
	if (sc->fd >= 0) {
		uint64_t v;

		if (read(sc->fd, &v, sizeof(v)) == sizeof(v))
			*sys = v;
	}
}

struct interval_state {
	uint64_t n, start_ns, ios, sys, ns;
};

/* --interval: what the last interval did, on stdout */
static void print_interval(struct bench *b, struct interval_state *is,
			   const struct sp_syscall_counter *sc)
{
	uint64_t ios, sys, now = sp_now_ns();
	double dt = (now - is->ns) / 1e9, iops;

	sample(b, sc, &ios, &sys);
	iops = dt > 0 ? (ios - is->ios) / dt : 0;
	if (b->c.json) {
		json_object *o = sp_json_doc("shortpath.uring_bench.interval/1");

		json_object_object_add(o, "interval", sp_json_u64(is->n));
		json_object_object_add(o, "elapsed_ns", sp_json_u64(now - is->start_ns));
		json_object_object_add(o, "ios", sp_json_u64(ios - is->ios));
		json_object_object_add(o, "iops", sp_json_dbl(iops));
		json_object_object_add(o, "mib_s", sp_json_dbl(iops * b->c.bs / 1048576.0));
		json_object_object_add(o, "syscalls", sp_json_u64(sys - is->sys));
		sp_json_print_line_and_free(o);
	} else {
		printf("interval %3llu  %8.2f s  %10llu I/Os %10.0f IOPS %9.1f MiB/s %6.2f I/Os per syscall\n",
		       (unsigned long long)is->n, (now - is->start_ns) / 1e9,
		       (unsigned long long)(ios - is->ios), iops, iops * b->c.bs / 1048576.0,
		       sys > is->sys ? (double)(ios - is->ios) / (sys - is->sys) : 0.0);
		fflush(stdout);
	}
	is->n++;
	is->ios = ios;
	is->sys = sys;
	is->ns = now;
}

static void print_progress(struct bench *b, uint64_t *last_ios, uint64_t *last_sys,
			   uint64_t *last_ns, const struct sp_syscall_counter *sc)
{
	uint64_t ios, sys, now = sp_now_ns();
	double dt = (now - *last_ns) / 1e9;

	sample(b, sc, &ios, &sys);
	if (dt > 0) {
		double iops = (ios - *last_ios) / dt;

		fprintf(stderr, "\r%s: %10.0f IOPS %9.1f MiB/s %6.2f I/Os per syscall ",
			sp_prog(), iops, iops * b->c.bs / 1048576.0,
			sys > *last_sys ? (double)(ios - *last_ios) / (sys - *last_sys) : 0.0);
	}
	*last_ios = ios;
	*last_sys = sys;
	*last_ns = now;
}

/* ------------------------------------------------------------ --trace */

struct tracer {
	pid_t pid;
	int out;		/* memfd holding iolat's stdout */
};

/*
 * Starts iolat on this process (it sits next to uring_bench, or on
 * PATH) and waits until its programs are attached. 0 or -errno; iolat
 * says itself why it could not start.
 */
static int trace_start(struct tracer *tr, bool json)
{
	char self[PATH_MAX], iolat[PATH_MAX + 8], pidarg[16];
	pid_t parent;
	int ready[2], err;
	ssize_t n;
	char byte;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		snprintf(iolat, sizeof(iolat), "%s/iolat", dirname(self));
	}
	if (n <= 0 || access(iolat, X_OK))
		snprintf(iolat, sizeof(iolat), "iolat");
	snprintf(pidarg, sizeof(pidarg), "%d", (int)getpid());
	tr->out = memfd_create("iolat-out", MFD_CLOEXEC);
	if (tr->out < 0)
		return -errno;
	if (pipe2(ready, O_CLOEXEC)) {
		err = -errno;
		goto fail;
	}
	parent = getpid();
	tr->pid = fork();
	if (tr->pid < 0) {
		err = -errno;
		close(ready[0]);
		close(ready[1]);
		goto fail;
	}
	if (!tr->pid) {
		char *argv[] = { iolat, "--pid", pidarg, "--ready-fd", "3",
				 json ? "--json" : NULL, NULL };

		/* iolat ends with this process, even one killed by SIGKILL
		 * (and iolat --pid watches it too); the signal survives exec */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() != parent)
			_exit(127);
		dup2(tr->out, STDOUT_FILENO);
		dup2(ready[1], 3);
		/* dup2 onto itself keeps FD_CLOEXEC: fd 3 must survive exec */
		fcntl(3, F_SETFD, 0);
		execvp(iolat, argv);
		fprintf(stderr, "uring_bench: --trace: cannot run %s: %s\n", iolat,
			strerror(errno));
		_exit(127);
	}
	close(ready[1]);
	/* one byte once attached; EOF if iolat gave up */
	do
		n = read(ready[0], &byte, 1);
	while (n < 0 && errno == EINTR);
	err = n == 1 ? 0 : -ENOTSUP;
	close(ready[0]);
	if (!err)
		return 0;
	waitpid(tr->pid, NULL, 0);
	tr->pid = 0;
fail:
	close(tr->out);
	tr->out = -1;
	return err;
}

/* Stops iolat; its report is read from the memfd, text or JSON. */
static void trace_stop(struct tracer *tr, struct bench *b, char **text)
{
	struct stat st;
	int wstatus = 0;
	char *buf;

	*text = NULL;
	if (tr->pid <= 0)
		return;
	kill(tr->pid, SIGINT);
	while (waitpid(tr->pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	tr->pid = 0;
	/* iolat says itself why it failed; an end by a signal it cannot */
	if (WIFSIGNALED(wstatus))
		sp_warn("--trace: iolat ended by signal %d (%s): no breakdown",
			WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
	buf = fstat(tr->out, &st) || !st.st_size ? NULL : calloc(1, st.st_size + 1);
	if (buf && pread(tr->out, buf, st.st_size, 0) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	close(tr->out);
	tr->out = -1;
	if (!buf) {
		if (!WIFSIGNALED(wstatus))
			sp_warn("--trace: iolat printed no report (exit %d)", WEXITSTATUS(wstatus));
		return;
	}
	if (b->c.json) {
		b->trace = json_tokener_parse(buf);
		if (!b->trace)
			sp_warn("--trace: iolat's report is not JSON (%zu bytes)", strlen(buf));
		free(buf);
		return;
	}
	*text = buf;
}

/*
 * --clock: the TSC where it was asked for or, with auto, where the
 * kernel itself keeps the CPUs' counters in step; CLOCK_MONOTONIC
 * elsewhere. Counters not known to agree are read on one CPU only:
 * every job pinned to one (--cpus, or a process allowed one CPU).
 * b->tsc.mult is left nonzero exactly when the TSC is the clock.
 */
static int pick_clock(struct bench *b)
{
	const struct config *c = &b->c;
	char why[160];
	cpu_set_t allowed;
	int ret;

	if (c->clock == LAT_CLOCK_MONOTONIC ||
	    (c->clock == LAT_CLOCK_AUTO && !(sp_tsc_invariant() && sp_tsc_kernel_synced())))
		return 0;
	ret = sp_tsc_init(&b->tsc, 20, why, sizeof(why));
	if (ret) {
		if (c->clock == LAT_CLOCK_AUTO) {
			sp_info("latency clock: monotonic, as %s", why);
			return 0;
		}
		sp_err("--clock tsc: %s", why);
		return ret;
	}
	if (!b->tsc.synced && !c->pin &&
	    (sched_getaffinity(0, sizeof(allowed), &allowed) || CPU_COUNT(&allowed) != 1)) {
		sp_err("--clock tsc: the kernel does not keep the CPUs' time-stamp "
		       "counters in step (tsc is not among its clocksources): pin "
		       "each job to one CPU (--cpus LIST, or taskset -c N)");
		memset(&b->tsc, 0, sizeof(b->tsc));
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct tracer tr = { 0 };
	char *trace_text = NULL;
	struct bench b = { .write_lock = -1 };
	struct config *c = &b.c;
	struct sp_syscall_counter sc = { .fd = -1 };
	struct sp_usage u0, u1;
	struct totals tt = { 0 };
	const char *error = NULL;
	bool progress;
	int ret, status = SP_EXIT_OK;

	sp_log_init(argv[0], SP_LOG_NOTICE);
	if (parse_args(argc, argv, c))
		return SP_EXIT_USAGE;
	if (prepare_target(&b))
		return SP_EXIT_USAGE;

	b.jobs = calloc(c->jobs, sizeof(*b.jobs));
	if (!b.jobs) {
		sp_err("out of memory");
		return SP_EXIT_FAIL;
	}
	{
		uint64_t nblocks = c->be->caps & SP_CAP_TARGET ? c->size / c->bs : 1;

		for (unsigned i = 0; i < c->jobs; i++) {
			struct job *j = &b.jobs[i];

			j->id = i;
			j->b = &b;
			j->cpu = -1;
			j->rng = sp_rand_stream(c->verify_seed, i);
			if (c->pin) {
				/* the (i mod n)-th CPU of the list */
				unsigned want = i % CPU_COUNT(&c->cpus), seen = 0;

				for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
					if (CPU_ISSET(cpu, &c->cpus) && seen++ == want) {
						j->cpu = cpu;
						break;
					}
			}
			if (c->verify) {
				/* disjoint slices: a block has one writer */
				j->first_block = nblocks * i / c->jobs;
				j->nblocks = nblocks * (i + 1) / c->jobs - j->first_block;
			} else {
				j->first_block = 0;
				j->nblocks = nblocks;
			}
		}
		if (c->verify)
			for (unsigned i = 0; i < c->jobs; i++)
				if (b.jobs[i].nblocks < c->depth)
					c->depth = c->topts.depth = b.jobs[i].nblocks;
		if (c->submit_batch > c->depth)
			c->submit_batch = c->depth;
		if (c->reap_batch > c->depth)
			c->reap_batch = c->depth;
	}
	if (pick_clock(&b))
		return SP_EXIT_USAGE;
	/* each job's copy beside the state its loop touches */
	for (unsigned i = 0; i < c->jobs; i++)
		b.jobs[i].tsc = b.tsc;

	if (c->self_count)
		snprintf(sc.why, sizeof(sc.why), "--syscalls self");
	else if (sp_syscalls_open(&sc))
		sp_info("syscalls are self-counted: %s", sc.why);
	pthread_barrier_init(&b.ready, NULL, c->jobs + 1);
	pthread_barrier_init(&b.go, NULL, c->jobs + 1);
	pthread_barrier_init(&b.main_done, NULL, c->jobs + 1);
	pthread_barrier_init(&b.counted, NULL, c->jobs + 1);
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.finished, NULL);
	b.running = c->jobs;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	for (unsigned i = 0; i < c->jobs; i++) {
		ret = pthread_create(&b.jobs[i].thread, NULL, job_main, &b.jobs[i]);
		if (ret) {
			sp_err("cannot start job %u: %s", i, strerror(ret));
			exit(SP_EXIT_FAIL);
		}
	}
	pthread_barrier_wait(&b.ready);
	for (unsigned i = 0; i < c->jobs; i++) {
		struct job *j = &b.jobs[i];

		if (!j->err)
			continue;
		atomic_store(&b.abort, true);
		if (!error) {
			sp_err("%s", j->errmsg);
			error = j->errmsg;
		}
		/* A refused feature, access or write (a signature found
		 * through the driver) is the user's to fix: usage. */
		status = j->err == -EINVAL || j->err == -EOPNOTSUPP ||
			 j->err == -EACCES || j->err == -EPERM || j->err == -EEXIST ? SP_EXIT_USAGE
							       : SP_EXIT_FAIL;
	}
	progress = !c->quiet && !c->json && isatty(STDERR_FILENO);
	/* after the set-up I/O of the jobs, so the trace holds the run's own */
	if (c->trace && !atomic_load(&b.abort) && trace_start(&tr, c->json)) {
		sp_err("--trace: iolat could not trace this run (see above)");
		atomic_store(&b.abort, true);
		status = SP_EXIT_FAIL;
		error = "--trace: iolat could not trace this run";
	}
	sp_usage_snapshot(&u0, &sc);
	tt.nth0 = sp_task_times(tt.th0, MAX_THREADS);
	pthread_barrier_wait(&b.go);

	if (!atomic_load(&b.abort)) {
		uint64_t start = sp_now_ns(), last_ios = 0, last_sys = u0.syscalls;
		uint64_t last_ns = start;
		struct interval_state is = { .start_ns = start, .ns = start,
					     .sys = u0.syscalls };

		/* Wake up every 100 ms to stop on time and show progress,
		 * at once when the jobs are done. */
		pthread_mutex_lock(&b.lock);
		while (b.running) {
			struct timespec ts;
			uint64_t now;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&b.finished, &b.lock, &ts);
			now = sp_now_ns();
			if (atomic_load(&interrupted) ||
			    (c->runtime_ns && now - start >= c->runtime_ns))
				atomic_store(&b.stop, true);
			if (progress && b.running && now - last_ns >= 1000000000ULL)
				print_progress(&b, &last_ios, &last_sys, &last_ns, &sc);
			if (c->interval_ns && b.running && now - is.ns >= c->interval_ns)
				print_interval(&b, &is, &sc);
		}
		pthread_mutex_unlock(&b.lock);
		if (progress)
			fprintf(stderr, "\r%*s\r", 72, "");
	}
	pthread_barrier_wait(&b.main_done);
	tt.nth1 = sp_task_times(tt.th1, MAX_THREADS);
	pthread_barrier_wait(&b.counted);
	sp_usage_snapshot(&u1, &sc);
	trace_stop(&tr, &b, &trace_text);
	for (unsigned i = 0; i < c->jobs; i++)
		pthread_join(b.jobs[i].thread, NULL);
	sp_usage_delta(&u0, &u1, &tt.use);
	/* Wall time is the jobs' own: first start to last end. */
	{
		uint64_t first = UINT64_MAX, last = 0;

		for (unsigned i = 0; i < c->jobs; i++) {
			if (b.jobs[i].start_ns < first)
				first = b.jobs[i].start_ns;
			if (b.jobs[i].end_ns > last)
				last = b.jobs[i].end_ns;
		}
		tt.use.wall_ns = last > first ? last - first : 0;
	}

	sp_hist_init(&tt.lat);
	sp_hist_init(&tt.lat_rw[0]);
	sp_hist_init(&tt.lat_rw[1]);
	sp_hist_init(&tt.dev);
	for (unsigned i = 0; i < c->jobs; i++) {
		struct job *j = &b.jobs[i];

		tt.ios += j->ios_done;
		tt.issued += j->issued;
		tt.errors += j->errors;
		tt.reads += j->reads;
		tt.writes += j->writes;
		tt.bytes += j->bytes;
		tt.verified += j->verified;
		tt.unverified += j->unverified_reads;
		tt.pass_blocks += j->verify_pass_blocks;
		tt.mismatches += j->verify_mismatches;
		tt.self_syscalls += j->main_syscalls;
		tt.clock_reads += j->clock_reads;
		tt.flushes += j->flushes;
		sp_hist_merge(&tt.lat, &j->lat);
		sp_hist_merge(&tt.lat_rw[0], &j->lat_rw[0]);
		sp_hist_merge(&tt.lat_rw[1], &j->lat_rw[1]);
		sp_hist_merge(&tt.dev, &j->dev);
		if (j->err && !error) {
			sp_err("job %u: %s", j->id, j->errmsg);
			error = j->errmsg;
			/* a feature the target lacks is the user's to fix */
			status = j->err == -EOPNOTSUPP ? SP_EXIT_USAGE : SP_EXIT_FAIL;
		}
	}
	if (sc.fd >= 0) {
		tt.syscall_source = "kernel-counted, raw_syscalls:sys_enter";
	} else {
		tt.syscall_source = c->self_count ? "self-counted" :
				    "self-counted: perf counter unavailable";
		tt.use.syscalls = tt.self_syscalls;
	}
	sp_syscalls_close(&sc);
	if (atomic_load(&interrupted))
		sp_notice("interrupted: results cover the I/Os done so far");
	if (c->json)
		print_json(&b, &tt, status, error);
	else if (!atomic_load(&b.abort) && tt.ios)
		print_text(&b, &tt);
	if (trace_text) {
		printf("\nWhere the time went (iolat on this run):\n%s", trace_text);
		free(trace_text);
	}
	json_object_put(b.trace);
	free(b.jobs);
	if (b.write_lock >= 0)
		close(b.write_lock);
	return status;
}
