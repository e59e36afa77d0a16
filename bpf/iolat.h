/* SPDX-License-Identifier: MIT */
/* Shared by bpf/iolat.bpf.c and tracing/iolat.c. */
#ifndef SP_IOLAT_H
#define SP_IOLAT_H

/*
 * The moments one I/O passes, in the order it passes them. Each I/O
 * record carries a time stamp (ns, CLOCK_MONOTONIC) for every moment it
 * was seen at, 0 for the others. Layer i is the time from moment i to
 * the next moment present, so the layers of one I/O add up to its end
 * to end latency by construction.
 */
enum iolat_ms {
	MS_START,	/* syscall entry, or io_uring submission of the request */
	MS_PUNT,	/* io_uring handed the request to an io-wq worker */
	MS_VFS,		/* vfs_read/vfs_write entered (fentry/kprobe) */
	MS_FS,		/* the file's read_iter/write_iter, or ext4 fsync */
	MS_PAGECACHE,	/* filemap_read / generic_perform_write */
	MS_BIO,		/* first bio of this I/O queued (block_bio_queue) */
	MS_GETRQ,	/* a request allocated for it (block_getrq) */
	MS_INSERT,	/* its request inserted into the queue / scheduler */
	MS_DRIVER,	/* handed to the driver: queue_rq, nvme_setup_cmd, issue */
	MS_DEVICE,	/* started on the device (block_rq_issue, scsi dispatch) */
	MS_DEV_DONE,	/* device completion seen by the driver (nvme/scsi) */
	MS_BLK_DONE,	/* block request completed (block_rq_complete) */
	MS_JOURNAL,	/* jbd2 commit began (fsync) */
	MS_JOURNAL_END,	/* jbd2 commit ended (fsync) */
	MS_TASK_WORK,	/* completion queued as io_uring task work */
	MS_END,		/* syscall exit, or CQE posted */
	MS_N,
};

enum iolat_kind {
	IOLAT_SYSCALL,	/* read/write/pread64/... or fsync/fdatasync */
	IOLAT_URING,	/* one io_uring request */
	IOLAT_REQUEST,	/* one block request, whoever issued it */
};

struct iolat_event {
	__u64 t[MS_N];
	__u32 kind;
	__u32 tgid;		/* of the submitting task */
	__u32 tid;
	__u32 dev;		/* major << 20 | minor of the (last) block request */
	__u32 op;		/* syscall nr, io_uring opcode, or REQ_OP_* */
	__u32 nr_requests;	/* block requests that served this I/O */
	__s64 res;		/* syscall return or CQE res */
	char comm[16];		/* of the submitting task */
	/*
	 * The last block request of an I/O travels in its record (moments
	 * MS_GETRQ..MS_BLK_DONE, dev, and these) instead of a record of
	 * its own: one ring buffer write per I/O, not two.
	 */
	__u64 rq_t_bio;
	__u32 rq_op;		/* REQ_OP_* of that request */
	__u32 rq_in;		/* 1: the record carries that request */
};

/*
 * Records a CPU holds back while it ends I/Os densely (see emit()); a
 * ring buffer sample is 1..IOLAT_BATCH records.
 */
#define IOLAT_BATCH 8

struct iolat_batch {
	__u64 t_last;		/* the CPU's last record's end */
	__u16 n;		/* records held in ev[] */
	__u16 busy;		/* a program is batching on this CPU now */
	__u32 pad;
	struct iolat_event ev[IOLAT_BATCH];
};

/* io_uring requests of one process, and how many went to io-wq */
struct iolat_punts {
	__u64 submitted;
	__u64 punted;
	char comm[16];
};

/* global counters (the `counters` array of the BPF object) */
enum iolat_counter {
	IOLAT_CNT_LOST,		/* records the ring buffer had no room for */
	IOLAT_CNT_SPLIT,	/* bios split */
	IOLAT_CNT_BACKMERGE,	/* bios merged into a request */
	IOLAT_CNT_FRONTMERGE,
	IOLAT_CNT_NOSLOT,	/* requests not followed: every slot of theirs busy */
	IOLAT_CNT_STALE,	/* slots taken back from requests never completed */
	/*
	 * I/Os that queued a bio but ended without their request: it was
	 * issued from another task (the driver was busy and kblockd
	 * dispatched it later) or its completion was not seen, so the
	 * record lacks the request's layers
	 */
	IOLAT_CNT_UNTIED,
	IOLAT_CNT_N,
};

/* io_uring_enter, per process: how often and for how long */
struct iolat_enter {
	__u64 calls;
	__u64 ns;
};

#endif
