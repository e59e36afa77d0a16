# shellcheck shell=bash
# Path length per I/O by context: what one uring_bench run costs the CPU
# per I/O, split into the submitting task, kernel threads and work items,
# and interrupts. Sourced by bench/ab-compare (--pathlen) and by the
# guest side of bench/pathlen (tests/vm/pathlen.bash). The figures are
# run time in nanoseconds from the kernel's own clocks (per-task
# schedstat, BPF on the interrupt and work-item tracepoints); in a guest
# booted with QEMU -icount shift=0 (tests/vm/run --icount) the clock
# advances 1 ns per instruction, so they are instruction counts.
#
#   task     the submitting thread's run time (/proc/self/task/TID/schedstat,
#            read by uring_bench at the start and end of its run)
#   kthread  io_uring's threads of the process (SQPOLL, io-wq), the
#            kworkers that ran work items of the I/O path (blk_*, io_*,
#            nvme_*, sg_*, scsi_*, ext4_*, jbd2_*, ... by function,
#            bench-pathlen-irq), whole but for their other items, and the
#            kernel threads whose name matches
#            PL_IO_KTHREADS (an extended regex, e.g. '^jbd2/' for ext4's
#            journal; none unless set)
#   irq      device interrupt handlers, the I/O softirqs (BLOCK,
#            IRQ_POLL, TASKLET, HI) and the I/O path's hrtimer callbacks
#            the timer interrupt ran (null_blk's irqmode=2 completions)
#            (bench-pathlen-irq: BPF on irq_handler_entry/exit,
#            softirq_entry/exit, hrtimer_expire_entry/exit)
# each net of the interrupts it hosted, per I/O. What runs by the clock,
# not by the I/O (the timer interrupt, TIMER/RCU/SCHED softirqs, rcu_*,
# vmstat and other kernel threads) is reported apart as "background"
# and is in no column: its amount follows real time. The idle task is not
# counted: its time is the device wait (real time under sleep=on) and the
# idle loop. uring_bench's main thread, which only waits for the job and
# wakes every 100 ms of guest time, is reported apart ("main").
#
# Needs root (BPF) and PL_BIN: the directory of uring_bench and
# bench-pathlen-irq.

pl_say() { echo "pathlen: $*" >&2; }

# pl_kthreads: "tid run_ns comm" of every kernel thread (PF_KTHREAD)
pl_kthreads() {
	local f
	for f in /proc/[0-9]*/task/[0-9]*/stat; do
		printf '%s\n' "${f%/stat}"
	done | awk '{
		d = $0; line = ""
		if ((getline line < (d "/stat")) <= 0) next
		close(d "/stat")
		comm = line
		sub(/^[^(]*\(/, "", comm); sub(/\) [^)]*$/, "", comm); gsub(/ /, "_", comm)
		sub(/^.*\) /, "", line); split(line, s, " ")
		# s[7] is field 9 of stat: flags; PF_KTHREAD is 0x00200000
		if (int(s[7] / 2097152) % 2 == 0) next
		if ((getline ss < (d "/schedstat")) <= 0) next
		close(d "/schedstat")
		split(ss, r, " "); n = split(d, p, "/")
		print p[n], r[1], comm
	}'
}

# pl_idle_ns: the time every CPU has spent idle (halted) since boot, in
# ns: the tick code's idle and iowait sleep times, exact (ktime), where
# /proc/stat and /proc/uptime round to 10 ms
pl_idle_ns() {
	awk '$1 == ".idle_sleeptime" || $1 == ".iowait_sleeptime:" { s += $(NF - 1) } END { printf "%.0f\n", s }' /proc/timer_list
}

# pl_pid_ns PID: the run time of every thread of PID so far (0: none)
PL_WATCH_PID=
pl_pid_ns() {
	[[ -n $1 ]] || { echo 0; return; }
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# pl_measure NAME RW QD -- UB_ARGS...: one run of uring_bench UB_ARGS
# (the workload, its limit and the target; --json --quiet are added)
# measured by context; one JSON object on stdout, per I/O: task,
# kthread, irq, total, and their detail
pl_measure() {
	local name=$1 rw=$2 qd=$3 tmp rc=0 pid i0 i1 w0 w1
	shift 3
	[[ ${1:-} == -- ]] && shift
	tmp=$(mktemp -d)
	sleep 0.2	# the previous run's ring teardown (a kworker) ends first
	pl_kthreads >"$tmp/k0"
	mkfifo "$tmp/ready"
	"$PL_BIN/bench-pathlen-irq" --ready-fd 3 3>"$tmp/ready" >"$tmp/irq" 2>"$tmp/irq.err" &
	pid=$!
	read -r -n 1 _ <"$tmp/ready" || { cat "$tmp/irq.err" >&2; rm -rf "$tmp"; return 1; }
	w0=$(pl_pid_ns "$PL_WATCH_PID")
	i0=$(pl_idle_ns)
	"$PL_BIN/uring_bench" --json --quiet "$@" >"$tmp/ub" 2>"$tmp/ub.err" || rc=$?
	i1=$(pl_idle_ns)
	w1=$(pl_pid_ns "$PL_WATCH_PID")
	kill -INT "$pid"
	wait "$pid" || rc=1
	pl_kthreads >"$tmp/k1"
	if ((rc)); then
		pl_say "$name $rw QD$qd failed:"; cat "$tmp/ub.err" >&2
		rm -rf "$tmp"
		return 1
	fi
	jq -M -c -n --arg path "$name" --arg rw "$rw" --argjson qd "$qd" \
		--slurpfile ub "$tmp/ub" --slurpfile irq "$tmp/irq" \
		--rawfile k0 "$tmp/k0" --rawfile k1 "$tmp/k1" \
		--argjson idle "$((i1 - i0))" --argjson watched "$((w1 - w0))" \
		--arg iokt "${PL_IO_KTHREADS:-}" '
		def kt(s): s | split("\n") | map(select(length > 0) | split(" ")
			| {key: .[0], value: (.[1] | tonumber)}) | from_entries;
		def comms(s): s | split("\n") | map(select(length > 0) | split(" ")
			| {key: .[0], value: (.[2] // "")}) | from_entries;
		def sum(f): reduce f as $x (0; . + $x);
		($ub[0].result) as $r | ($irq[0]) as $q | ($r.ios) as $n
		| (kt($k0)) as $a | (kt($k1)) as $b | (comms($k1)) as $cm
		| def net(tid; ns): [ns - ($q.by_tid[tid | tostring] // 0), 0] | max;
		# work items and softirqs of the I/O path; the rest is background
		# (io_ring_exit_work tears a ring down once; a previous run may land
		# here; blk_mq_timeout_work is the request time-out scan, which
		# fires when a timer set tens of seconds earlier expires, in one
		# run and not the next, and whose kworker costs ~60 k instructions)
		def io_work: test("^(blk_|bio_|io_|nvme_|scsi_|sg_|megasas_|iomap_|vfio_|dio_|aio_|ext4_|jbd2_|null_)")
			and (test("^(io_ring_exit_work|blk_mq_timeout_work)$") | not);
		def io_soft: . == "HI" or . == "BLOCK" or . == "IRQ_POLL" or . == "TASKLET";
		sum($r.cpu.threads[] | select(.role == "job") | net(.tid; .run_ns)) as $task
		| sum($r.cpu.threads[] | select(.role == "main") | net(.tid; .run_ns)) as $main
		| sum($r.cpu.threads[] | select(.role == "io") | net(.tid; .run_ns)) as $iot
		| sum($q.works[] | select(.fn | io_work) | .ns) as $iowork
		| sum($q.softirq | to_entries[] | select(.key | io_soft) | .value.ns) as $iosoft
		| sum($q.softirq | to_entries[] | select(.key | io_soft | not) | .value.ns) as $bgsoft
		| sum($q.works[] | select(.fn | io_work | not) | .ns) as $bgwork
		# the kworkers that ran work items of the I/O path count whole (the
		# wake-up, switch and worker loop around each item too), less the
		# other items they ran
		| ([$q.works[] | select(.fn | io_work) | .tid | tostring] | unique) as $iotids
		| sum($iotids[] as $k | [net($k; ($b[$k] // 0) - ($a[$k] // 0))
			- sum($q.works[] | select((.tid | tostring) == $k and (.fn | io_work | not)) | .ns),
			sum($q.works[] | select((.tid | tostring) == $k and (.fn | io_work)) | .ns)] | max) as $iokw
		| sum($b | to_entries[] | net(.key; .value - ($a[.key] // 0))) as $allkt
		# kernel threads of the I/O path by name (a journal thread)
		| sum($b | to_entries[] | select($iokt != "" and ($cm[.key] | test($iokt)))
			| net(.key; .value - ($a[.key] // 0))) as $iokth
		# completions a device ran from an hrtimer inside the timer interrupt
		| sum(($q.hrtimers // [])[] | select(.fn | io_work) | .ns) as $iohrt
		| def per(x): (x / $n * 10 | round) / 10;
		{path: $path, rw: $rw, qd: $qd, ios: $n,
		 task: per($task), kthread: per($iot + $iokw + $iokth),
		 irq: per($q.hardirq_ns + $iosoft + $iohrt),
		 total: per($task + $iot + $iokw + $iokth + $q.hardirq_ns + $iosoft + $iohrt),
		 rtt_min: $r.latency_ns.min, rtt_p50: $r.latency_ns.p50,
		 detail: {io_threads: per($iot), work_items: per($iowork), kworkers: per($iokw),
			  io_kthreads: per($iokth),
			  hardirq: per($q.hardirq_ns), softirq: per($iosoft), io_hrtimers: per($iohrt),
			  hardirqs_per_io: ($q.hardirq_n / $n),
			  ctxsw_per_io: (($r.ctx_switches.voluntary + $r.ctx_switches.involuntary) / $n),
			  main: per($main),
			  idle_ns: $idle, watched_ns: $watched,
			  background: {timer_irq: per($q.timer_ns - $iohrt), softirq: per($bgsoft),
				       work_items: per($bgwork),
				       kernel_threads: per([$allkt - $iokw - $bgwork - $iokth, 0] | max)},
			  works: [$q.works | group_by(.fn)[] | {fn: .[0].fn, per_io: per(map(.ns) | add),
				  n: (map(.n) | add)}] | sort_by(-.per_io) | .[:6],
			  kthreads: [$b | to_entries[] | {comm: ($cm[.key] // "?" | sub("[0-9]+"; "N")),
					ns: net(.key; .value - ($a[.key] // 0))} | select(.ns > 0)]
				| group_by(.comm) | map({comm: .[0].comm, per_io: per(map(.ns) | add)})
				| sort_by(-.per_io) | .[:8],
			  threads: [$r.cpu.threads[] | {comm, role, per_io: per(.run_ns)}]},
		 setup: $ub[0].config.setup}' || rc=1
	rm -rf "$tmp"
	return "$rc"
}

