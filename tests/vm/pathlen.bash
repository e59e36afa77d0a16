#!/usr/bin/env bash
# Guest side of bench/pathlen: instructions per I/O on every submission
# path, in a guest booted with tests/vm/run --icount (QEMU -icount
# shift=0: the guest clock advances 1 ns per guest instruction, so every
# sched_clock/ktime figure below is an instruction count).
#
#   bash /tests/pathlen.bash [--ios N] [--qd "1 32"] [--rw "randread randwrite"]
#                            [--paths "psync uring ..."] [--size MIB]
#   bash /tests/pathlen.bash --layers [--ios N] [--paths "uring nvme sg"]
#   source /tests/pathlen.bash   (pathlen.bats: the functions only)
#
# --layers: iolat's breakdown of QD1 reads per path instead (pl_layers,
# schema shortpath.pathlen-layers/1). Otherwise prints one JSON document
# (schema shortpath.pathlen/1) on stdout,
# progress on stderr. For each run (path, queue depth, direction):
#   task     the submitting thread's run time (/proc/self/task/TID/schedstat,
#            read by uring_bench at the start and end of its run)
#   kthread  io_uring's threads of the process (SQPOLL, io-wq), and the
#            work items kworkers ran for the I/O path (blk_*, io_*, nvme_*,
#            sg_*, scsi_*, ... by function, bench-pathlen-irq)
#   irq      device interrupt handlers and the I/O softirqs (BLOCK,
#            IRQ_POLL, TASKLET, HI) (bench-pathlen-irq: BPF on
#            irq_handler_entry/exit and softirq_entry/exit)
# each net of the interrupts it hosted, per I/O. What runs by the clock,
# not by the I/O (the timer interrupt, TIMER/RCU/SCHED softirqs, rcu_*,
# vmstat and other kernel threads) is reported apart as "background"
# and is in no column: its amount follows real time. The idle task is not
# counted: its time is the device wait (real time under sleep=on) and the
# idle loop. uring_bench's main thread, which only waits for the job and
# wakes every 100 ms of guest time, is reported apart ("main").

PL_BIN=${SP_BIN:-/opt/shortpath/bin}
PL_ALL_PATHS="psync uring uring-fixed sqpoll uring-iopoll nvme nvme-fixed nvme-iopoll sg vfio scsi-vfio"

pl_say() { echo "pathlen: $*" >&2; }

# pl_args PATH: uring_bench options and target of a path ("" if unknown)
pl_args() {
	case $1 in
	psync) echo "-m psync /dev/nvme0n1" ;;
	uring) echo "-m uring /dev/nvme0n1" ;;
	uring-fixed) echo "-m uring --fixedbufs --regfiles /dev/nvme0n1" ;;
	sqpoll) echo "-m uring --sqpoll --fixedbufs --regfiles /dev/nvme0n1" ;;
	uring-iopoll) echo "-m uring --iopoll --fixedbufs --regfiles /dev/nvme0n1" ;;
	nvme) echo "-m nvme /dev/ng0n1" ;;
	nvme-fixed) echo "-m nvme --fixedbufs /dev/ng0n1" ;;
	nvme-iopoll) echo "-m nvme --fixedbufs --iopoll /dev/ng0n1" ;;
	sg) echo "-m sg /dev/$(pl_sg)" ;;
	vfio) echo "-m vfio ${PL_VFIO_BDF:-$(pl_bdf)}" ;;
	scsi-vfio) echo "-m scsi-vfio ${PL_VFIO_BDF:-$(pl_hba_bdf)}" ;;
	esac
}

# the sg node of the disk behind megaraid_sas
pl_sg() {
	local b host
	for b in /sys/block/sd*; do
		host=$(readlink -f "$b/device")
		host=${host%/target*}
		[[ $(readlink -f "$host/../driver") == */megaraid_sas ]] || continue
		ls "$b/device/scsi_generic"
		return
	done
}

# the PCI address of the megaraid_sas HBA (the userspace SCSI stack's)
pl_hba_bdf() {
	local d
	for d in /sys/bus/pci/drivers/megaraid_sas/0000:*; do
		[[ -e $d ]] && { basename "$d"; return; }
	done
}

# the PCI address of the NVMe controller
pl_bdf() {
	basename "$(readlink -f /sys/class/nvme/nvme0/device 2>/dev/null || echo /none)"
}
PL_VFIO_BDF=

# pl_kthreads: "tid run_ns" of every kernel thread (PF_KTHREAD)
pl_kthreads() {
	local f
	for f in /proc/[0-9]*/task/[0-9]*/stat; do
		printf '%s\n' "${f%/stat}"
	done | awk '{
		d = $0; line = ""
		if ((getline line < (d "/stat")) <= 0) next
		close(d "/stat")
		sub(/^.*\) /, "", line); split(line, s, " ")
		# s[7] is field 9 of stat: flags; PF_KTHREAD is 0x00200000
		if (int(s[7] / 2097152) % 2 == 0) next
		if ((getline ss < (d "/schedstat")) <= 0) next
		close(d "/schedstat")
		split(ss, r, " "); n = split(d, p, "/")
		print p[n], r[1]
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

# pl_run NAME RW QD IOS SIZE_MIB: one measured run; one JSON object on stdout
pl_run() {
	local name=$1 rw=$2 qd=$3 ios=$4 size=$5 args tmp rc=0 pid i0 i1 w0 w1
	args=$(pl_args "$name")
	[[ -n $args ]] || { pl_say "unknown path $name"; return 2; }
	tmp=$(mktemp -d)
	sleep 0.2	# the previous run's ring teardown (a kworker) ends first
	pl_kthreads >"$tmp/k0"
	mkfifo "$tmp/ready"
	"$PL_BIN/bench-pathlen-irq" --ready-fd 3 3>"$tmp/ready" >"$tmp/irq" 2>"$tmp/irq.err" &
	pid=$!
	read -r -n 1 _ <"$tmp/ready" || { cat "$tmp/irq.err" >&2; rm -rf "$tmp"; return 1; }
	w0=$(pl_pid_ns "$PL_WATCH_PID")
	i0=$(pl_idle_ns)
	# shellcheck disable=SC2086 # args are words
	"$PL_BIN/uring_bench" --json --quiet -w "$rw" -q "$qd" -s "$qd" -c "$qd" -n "$ios" --size "${size}M" $args \
		>"$tmp/ub" 2>"$tmp/ub.err" || rc=$?
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
		--argjson idle "$((i1 - i0))" --argjson watched "$((w1 - w0))" '
		def kt(s): s | split("\n") | map(select(length > 0) | split(" ")
			| {key: .[0], value: (.[1] | tonumber)}) | from_entries;
		def sum(f): reduce f as $x (0; . + $x);
		($ub[0].result) as $r | ($irq[0]) as $q | ($r.ios) as $n
		| (kt($k0)) as $a | (kt($k1)) as $b
		| def net(tid; ns): [ns - ($q.by_tid[tid | tostring] // 0), 0] | max;
		# work items and softirqs of the I/O path; the rest is background
		# (io_ring_exit_work tears a ring down once; a previous run may land here)
		def io_work: test("^(blk_|bio_|io_|nvme_|scsi_|sg_|megasas_|iomap_|vfio_|dio_|aio_)")
			and (test("^io_ring_exit_work$") | not);
		def io_soft: . == "HI" or . == "BLOCK" or . == "IRQ_POLL" or . == "TASKLET";
		sum($r.cpu.threads[] | select(.role == "job") | net(.tid; .run_ns)) as $task
		| sum($r.cpu.threads[] | select(.role == "main") | net(.tid; .run_ns)) as $main
		| sum($r.cpu.threads[] | select(.role == "io") | net(.tid; .run_ns)) as $iot
		| sum($q.works[] | select(.fn | io_work) | .ns) as $iowork
		| sum($q.softirq | to_entries[] | select(.key | io_soft) | .value.ns) as $iosoft
		| sum($q.softirq | to_entries[] | select(.key | io_soft | not) | .value.ns) as $bgsoft
		| sum($q.works[] | select(.fn | io_work | not) | .ns) as $bgwork
		| sum($b | to_entries[] | net(.key; .value - ($a[.key] // 0))) as $allkt
		| def per(x): (x / $n * 10 | round) / 10;
		{path: $path, rw: $rw, qd: $qd, ios: $n,
		 task: per($task), kthread: per($iot + $iowork), irq: per($q.hardirq_ns + $iosoft),
		 total: per($task + $iot + $iowork + $q.hardirq_ns + $iosoft),
		 rtt_min: $r.latency_ns.min, rtt_p50: $r.latency_ns.p50,
		 detail: {io_threads: per($iot), work_items: per($iowork),
			  hardirq: per($q.hardirq_ns), softirq: per($iosoft),
			  hardirqs_per_io: ($q.hardirq_n / $n),
			  ctxsw_per_io: (($r.ctx_switches.voluntary + $r.ctx_switches.involuntary) / $n),
			  main: per($main),
			  idle_ns: $idle, watched_ns: $watched,
			  background: {timer_irq: per($q.timer_ns), softirq: per($bgsoft),
				       work_items: per($bgwork),
				       kernel_threads: per([$allkt - $iowork - $bgwork, 0] | max)},
			  works: [$q.works[] | {fn, per_io: per(.ns), n}] | sort_by(-.per_io) | .[:6],
			  threads: [$r.cpu.threads[] | {comm, role, per_io: per(.run_ns)}]},
		 setup: $ub[0].config.setup}' || rc=1
	rm -rf "$tmp"
	return "$rc"
}

# pl_with TOOL ARGS... -- pl_run ARGS: one pl_run while a tracer (started
# with --ready-fd 3) is attached; the tracer's stdout goes to the file
# $PL_WITH_OUT (or nowhere)
PL_WITH_OUT=/dev/null
pl_with() {
	local tool=() t rc=0
	while [[ $1 != -- ]]; do tool+=("$1"); shift; done
	shift
	t=$(mktemp -d)
	mkfifo "$t/ready"
	"${tool[@]}" --ready-fd 3 3>"$t/ready" >"$PL_WITH_OUT" 2>"$t/err" &
	PL_WATCH_PID=$!
	if ! read -r -n 1 _ <"$t/ready"; then
		pl_say "${tool[0]##*/} did not start:"; cat "$t/err" >&2
		PL_WATCH_PID=; rm -rf "$t"; return 1
	fi
	pl_run "$@" || rc=1
	kill -INT "$PL_WATCH_PID"
	wait "$PL_WATCH_PID" || { pl_say "${tool[0]##*/} failed:"; cat "$t/err" >&2; rc=1; }
	PL_WATCH_PID=
	rm -rf "$t"
	return "$rc"
}

# pl_layers PATH IOS: iolat's breakdown of QD1 reads on PATH in
# instructions. Three runs after a warm-up: untraced, under bench-tp-floor
# (the events' dispatch alone) and under iolat. iolat's layers run from
# moment to moment of each I/O, so its device layer holds the wait too:
# the CPU's idle time over the run is taken out of it, and so is what ran
# on the CPU instead of idling there without being part of the I/O (the
# timer interrupt and its softirqs, iolat's own reader). The layers' sum
# is then checked against the untraced path length: it may differ from it
# by at most iolat's measured cost on the path. sg is followed only in
# part (iolat sees the read that collects a command, not the write that
# queues it): its sum is shown, not checked. PL_FLOOR=0: no floor run.
pl_layers() {
	local name=$1 ios=$2 plain floor traced iol rc=0
	pl_run "$name" randread 1 100 64 >/dev/null || { pl_say "$name warm-up failed"; return 1; }
	plain=$(pl_run "$name" randread 1 "$ios" 64) || return 1
	floor=$plain
	if [[ ${PL_FLOOR:-1} == 1 ]]; then
		floor=$(pl_with "$PL_BIN/bench-tp-floor" -- "$name" randread 1 "$ios" 64) || return 1
	fi
	iol=$(mktemp)
	traced=$(PL_WITH_OUT=$iol pl_with "$PL_BIN/iolat" --json -c uring_bench -- "$name" randread 1 "$ios" 64) ||
		{ rm -f "$iol"; return 1; }
	jq -M -c -n --arg path "$name" --argjson p "$plain" --argjson f "$floor" \
		--argjson t "$traced" --slurpfile iolat "$iol" '
		def r: (. * 10 | round) / 10;
		($t.ios) as $n | $iolat[0] as $iol
		# every io_uring path iolat saw uring_bench take, weighted by count
		# (not the one command a mode sends when it starts)
		| [$iol.breakdown[] | select((.path | test("^uring_")) and .e2e.count * 2 >= $n)] as $bd
		| ($t.detail.idle_ns / $n) as $idle
		| ($t.detail.watched_ns / $n) as $reader
		| ($t.detail.background | .timer_irq + .softirq) as $clock
		| [$bd[] | .path as $bp | .layers[]
			| {path: $bp, layer, count, per_io: (.mean_us * .count * 1000 / $n)}] as $raw
		# the wait is in the device layer; on sg, in the collecting read
		| ([$raw | to_entries[] | select(.value.layer == "device") | .key] | first
			// ($raw | to_entries | max_by(.value.per_io) | .key)) as $w
		| [$raw | to_entries[] | .value + {per_io: (.value.per_io
			- (if .key == $w then $idle + $clock + $reader else 0 end) | r), wait: (.key == $w)}] as $rows
		| ($rows | map(.per_io) | add) as $sum
		| ($t.total - $p.total) as $cost
		| ($path != "sg") as $checked
		| {path: $path, ios: $n, untraced: ($p.total | r),
		   floor: ($f.total - $p.total | r), traced: ($t.total | r), iolat_cost: ($cost | r),
		   iolat_reader: ($reader | r), clock: ($clock | r), idle: ($idle | r),
		   layers: $rows, layer_sum: ($sum | r), diff: ($sum - $p.total | r), checked: $checked,
		   within: ((($sum - $p.total) | fabs) <= ([$cost, 0] | max))}' || rc=1
	rm -f "$iol"
	return "$rc"
}

# pl_vfio on|hba|off: the NVMe controller (on) or the megaraid_sas HBA
# (hba) to vfio-pci, and back
pl_vfio() {
	if [[ $1 == on || $1 == hba ]]; then
		if [[ $1 == hba ]]; then PL_VFIO_BDF=$(pl_hba_bdf); else PL_VFIO_BDF=$(pl_bdf); fi
		[[ -n $PL_VFIO_BDF ]] || return 1
		"$PL_BIN/sp-vfio" bind "$PL_VFIO_BDF" >/dev/null
	else
		[[ -z $PL_VFIO_BDF ]] || "$PL_BIN/sp-vfio" unbind "$PL_VFIO_BDF" >/dev/null
		PL_VFIO_BDF=
	fi
}

pl_main() {
	local ios=2000 qds="1 32" rws="randread randwrite" paths=$PL_ALL_PATHS size=64
	local p qd rw rows=() out fails=0 layers=false
	while [[ $# -gt 0 ]]; do
		case $1 in
		--layers) layers=true; shift ;;
		--ios) ios=$2; shift 2 ;;
		--qd) qds=$2; shift 2 ;;
		--rw) rws=$2; shift 2 ;;
		--paths) paths=$2; shift 2 ;;
		--size) size=$2; shift 2 ;;
		*) pl_say "unknown option $1"; return 2 ;;
		esac
	done
	[[ ${SP_VM_ICOUNT:-0} == 1 ]] || pl_say "warning: not booted with --icount: figures are nanoseconds, not instructions"
	if $layers; then
		[[ $paths == "$PL_ALL_PATHS" ]] && paths="uring nvme sg"
		for p in $paths; do
			pl_say "$p: iolat's layers"
			if out=$(pl_layers "$p" "$ios"); then rows+=("$out"); else fails=$((fails + 1)); fi
		done
		printf '%s\n' "${rows[@]}" | jq -M -c -s --arg kver "$(uname -r)" --argjson ios "$ios" \
			--argjson fails "$fails" '{schema: "shortpath.pathlen-layers/1", kernel: $kver,
			ios_per_run: $ios, failed_runs: $fails, rows: .}'
		((fails == 0))
		return
	fi
	# the write runs leave data behind: the same offsets every boot
	for p in $paths; do
		if [[ $p == vfio || $p == scsi-vfio ]]; then
			pl_vfio "$([[ $p == vfio ]] && echo on || echo hba)" ||
				{ pl_say "sp-vfio bind failed"; fails=$((fails + 1)); continue; }
		fi
		for qd in $qds; do
			[[ $p == psync && $qd != 1 ]] && continue
			for rw in $rws; do
				pl_say "$p $rw QD$qd"
				if out=$(pl_run "$p" "$rw" "$qd" "$ios" "$size"); then
					rows+=("$out")
				else
					fails=$((fails + 1))
				fi
			done
		done
		[[ $p == vfio || $p == scsi-vfio ]] && pl_vfio off
	done
	printf '%s\n' "${rows[@]}" | jq -M -c -s --arg kver "$(uname -r)" --argjson ios "$ios" \
		--argjson icount "${SP_VM_ICOUNT:-0}" --argjson fails "$fails" '
		{schema: "shortpath.pathlen/1", kernel: $kver, icount: ($icount == 1),
		 unit: (if $icount == 1 then "instructions" else "ns" end),
		 ios_per_run: $ios, failed_runs: $fails, rows: .}'
	((fails == 0))
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -uo pipefail
	pl_main "$@"
fi
