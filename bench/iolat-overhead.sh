#!/usr/bin/env bash
# What tracing costs a QD1 workload: uring_bench IOPS untraced, under
# iolat (system-wide, every layer it can attach), and under a bpftrace
# script of the same coverage (syscalls, io_uring submit/complete, block
# insert/issue/complete histograms). A fourth side, floor, runs
# bench-tp-floor: programs that do nothing on the tracepoints iolat follows,
# which is what any eBPF tracer of those events pays here before doing
# any work. The sides run interleaved, REPS times, on one target; the
# table gives median IOPS, their ratio to the untraced run (below), and
# CPU per I/O (the process's threads plus the tracer's own). Targets:
# iolat costs < 5% of IOPS and less than bpftrace.
#
#   bench/iolat-overhead.sh [--reps N] [--time DUR] [--mode psync|uring]
#                           [--cpus LIST] [--worker-cpus MASK]
#                           [--sides "floor iolat bpftrace"] [TARGET...]
#   bench/iolat-overhead.sh --cleanup   # undo what SIGKILLed runs left
#
# Defaults: --reps 11 --time 2s --mode uring, every side.
#
# Each round runs every side, a different one first each round;
# a side's figure is the median over rounds of its IOPS over the
# untraced run's of the same round, which the machine's drift between
# rounds does not move, with the range that holds the true median at
# 95% confidence (from the rounds' order, whatever their distribution:
# on a shared machine it says whether 3% and 6% differ at all). Every
# TARGET gets its own rounds and table; a summary of all of them ends
# the run. --sides leaves sides out (the untraced one always runs).
#
# Examples:
#   bench/iolat-overhead.sh                      # disk and loop, 11 rounds
#   bench/iolat-overhead.sh --cpus 1 --reps 21   # steadier, longer
#   bench/iolat-overhead.sh --mode psync /dev/nvme0n1
#
# A tracer's cost is a fixed time per I/O (programs run, events
# dispatched), so its share of IOPS depends on how long an I/O takes.
# Without TARGET, two are measured in one invocation:
#   disk  a 1 GiB file on the filesystem of /var/tmp when a disk is
#         under it (a real driver; its device's time is off the CPUs,
#         as a drive's is); skipped, with the reason, when there is none
#   loop  a loop device with direct I/O on a tmpfs file: a read is only
#         CPU work (the loop worker's copy) on this machine's CPUs, the
#         hardest case for any tracer; the floor shows what the events
#         alone cost there
#
# --cpus pins the benchmark (uring_bench --cpus): on a small shared
# machine it steadies the untraced IOPS, which the ratios divide by.
#
# --worker-cpus MASK confines unbound kernel workers (the loop device's
# among them) to the CPUs of a hex MASK for the run, through
# /sys/devices/virtual/workqueue/cpumask, restored on exit; this affects
# every unbound workqueue of the machine meanwhile. Unconfined, a loop
# read's worker runs on the benchmark's CPU (a fast I/O) or on another
# one (a slow one, two cross-CPU wake-ups), a mixture that a tracer's
# own delays shift: confined, each I/O takes one of the two paths.
#
# bpftrace comes from Debian's package (installed when missing).
#
# Everything it creates (files, loop device, tracers, the workqueue mask,
# kernel.bpf_stats_enabled) is undone on exit, Ctrl-C included; after a
# SIGKILL, by the next run of any bench script or by --cleanup.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

REPS=11 TIME=2s MODE=uring CPUS= WORKER_CPUS=
SIDES=(none floor iolat bpftrace)
TARGETS=()
while (($#)); do
	case $1 in
	--reps) REPS=$2; shift 2 ;;
	--time) TIME=$2; shift 2 ;;
	--mode) MODE=$2; shift 2 ;;
	--cpus) CPUS=$2; shift 2 ;;
	--worker-cpus) WORKER_CPUS=$2; shift 2 ;;
	--sides) read -ra SIDES <<<"none ${2//none/}"; shift 2 ;;
	--cleanup) sp_run_reap; exit 0 ;;
	--version) sp_script_version; exit 0 ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "iolat-overhead: unknown option $1" >&2; exit 2 ;;
	*) TARGETS+=("$1"); shift ;;
	esac
done
for side in "${SIDES[@]}"; do
	[[ $side == @(none|floor|iolat|bpftrace) ]] ||
		{ echo "iolat-overhead: unknown side $side (none floor iolat bpftrace)" >&2; exit 2; }
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || { echo "iolat-overhead: --reps takes a count" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "iolat-overhead: needs root (BPF)" >&2; exit 2; }
has_side() {
	[[ " ${SIDES[*]} " == *" $1 "* ]]
}
if has_side bpftrace && ! command -v bpftrace >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q bpftrace >/dev/null ||
		{ echo "iolat-overhead: cannot install bpftrace" >&2; exit 1; }
fi

WORK=$(mktemp -d)
TRACER= TRACER_PROGS=
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
WQ_MASK=/sys/devices/virtual/workqueue/cpumask
WQ_WAS=
cleanup() {
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS" 2>/dev/null || true
	[[ -n $WQ_WAS ]] && echo "$WQ_WAS" >"$WQ_MASK" 2>/dev/null
	[[ -n $TRACER ]] && stop_tracer
	drop_default_target
	drop_disk_target
	rm -rf "$WORK"
	sp_run_end
}
trap cleanup EXIT
trap 'exit 130' INT TERM
sp_run_begin iolat-overhead
sp_run_record path "$WORK"
sp_run_record sysctl kernel.bpf_stats_enabled "$STATS_WAS"

if [[ -n $WORKER_CPUS ]]; then
	WQ_WAS=$(cat "$WQ_MASK" 2>/dev/null) && sp_run_record write "$WQ_MASK" "$WQ_WAS" &&
		echo "$WORKER_CPUS" >"$WQ_MASK" 2>/dev/null ||
		{ echo "iolat-overhead: cannot confine unbound workers to CPUs $WORKER_CPUS ($WQ_MASK)" >&2; exit 1; }
fi

# The same coverage as iolat's always-on part, in bpftrace's language.
cat >"$WORK/same.bt" <<'EOF'
tracepoint:syscalls:sys_enter_read, tracepoint:syscalls:sys_enter_pread64,
tracepoint:syscalls:sys_enter_write, tracepoint:syscalls:sys_enter_pwrite64,
tracepoint:syscalls:sys_enter_fsync, tracepoint:syscalls:sys_enter_fdatasync,
tracepoint:syscalls:sys_enter_io_uring_enter { @sys[tid] = nsecs; }
tracepoint:syscalls:sys_exit_read, tracepoint:syscalls:sys_exit_pread64,
tracepoint:syscalls:sys_exit_write, tracepoint:syscalls:sys_exit_pwrite64,
tracepoint:syscalls:sys_exit_fsync, tracepoint:syscalls:sys_exit_fdatasync,
tracepoint:syscalls:sys_exit_io_uring_enter /@sys[tid]/ {
	@syscall_us[comm] = hist((nsecs - @sys[tid]) / 1000); delete(@sys[tid]);
}
tracepoint:io_uring:io_uring_submit_req { @ur[args->req] = nsecs; }
tracepoint:io_uring:io_uring_complete /@ur[args->req]/ {
	@uring_us = hist((nsecs - @ur[args->req]) / 1000); delete(@ur[args->req]);
}
tracepoint:block:block_rq_insert { @ins[args->dev, args->sector] = nsecs; }
tracepoint:block:block_rq_issue {
	if (@ins[args->dev, args->sector]) {
		@queue_us = hist((nsecs - @ins[args->dev, args->sector]) / 1000);
		delete(@ins[args->dev, args->sector]);
	}
	@iss[args->dev, args->sector] = nsecs;
}
tracepoint:block:block_rq_complete /@iss[args->dev, args->sector]/ {
	@device_us = hist((nsecs - @iss[args->dev, args->sector]) / 1000);
	delete(@iss[args->dev, args->sector]);
}
BEGIN { printf("ready\n"); }
EOF
# 6.1 names the submit tracepoint io_uring_submit_sqe
[[ -e /sys/kernel/tracing/events/io_uring/io_uring_submit_req ]] ||
	sed -i 's/io_uring_submit_req/io_uring_submit_sqe/' "$WORK/same.bt"

prog_ids() {
	bpftool prog show --json 2>/dev/null | jq -r '.[].id' | sort
}

# ns the tracer's programs have run so far
bpf_ns() {
	bpftool prog show --json 2>/dev/null |
		jq --argjson ids "[${TRACER_PROGS}]" '[.[] | select(.id as $i | $ids | index($i)) | .run_time_ns // 0] | add // 0'
}

# start_tracer NAME: starts it in the background, returns once attached
start_tracer() {
	prog_ids >"$WORK/before"
	rm -f "$WORK/ready"
	mkfifo "$WORK/ready"
	case $1 in
	iolat | floor)
		local tool=iolat
		[[ $1 == floor ]] && tool=bench-tp-floor
		"$BIN/$tool" --ready-fd 3 3>"$WORK/ready" >/dev/null 2>"$WORK/tracer.err" &
		TRACER=$!
		sp_run_record_pid "$TRACER"
		read -r -n 1 -t 120 _ <"$WORK/ready" ;;
	bpftrace)
		# into a file: a pipe closed after "ready" would kill it with SIGPIPE
		bpftrace "$WORK/same.bt" >"$WORK/bt.out" 2>"$WORK/tracer.err" &
		TRACER=$!
		sp_run_record_pid "$TRACER"
		# compiling and attaching takes bpftrace minutes on a loaded machine
		for ((i = 0; i < 3000; i++)); do
			grep -q '^ready' "$WORK/bt.out" 2>/dev/null && break
			kill -0 "$TRACER" 2>/dev/null || break
			sleep 0.1
		done
		grep -q '^ready' "$WORK/bt.out" ;;
	esac || { echo "iolat-overhead: $1 did not start:" >&2; cat "$WORK/tracer.err" >&2; exit 1; }
	# the programs that appeared are the tracer's
	TRACER_PROGS=$(prog_ids | comm -13 "$WORK/before" - | paste -sd, -)
}

stop_tracer() {
	kill -INT "$TRACER" 2>/dev/null || true
	# bpftrace has been seen to miss a SIGINT: it gets 10 s, then KILL
	for ((i = 0; i < 100; i++)); do
		kill -0 "$TRACER" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$TRACER" 2>/dev/null || true
	wait "$TRACER" 2>/dev/null || true
	TRACER= TRACER_PROGS=
}

# CPU time (ns) a process has used so far, all threads
cpu_ns() {
	awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) * 1e9 / hz }' "/proc/$1/stat"
}

# run_one: "IOPS CPU-ns-per-I/O BPF-ns-per-I/O" of one run; CPU counts
# the benchmark's threads and the tracer's
run_one() {
	local out t0=0 t1=0 b0=0 b1=0
	[[ -n $TRACER ]] && t0=$(cpu_ns "$TRACER") b0=$(bpf_ns)
	out=$("$UB" --quiet --json -m "$MODE" -q 1 -w randread -t "$TIME" ${CPUS:+--cpus "$CPUS"} "$TARGET") ||
		return 1
	[[ -n $TRACER ]] && t1=$(cpu_ns "$TRACER") b1=$(bpf_ns)
	jq -r --argjson tr "$((${t1%.*} - ${t0%.*}))" --argjson bpf "$((b1 - b0))" \
		'"\(.result.iops) \(.result.cpu.ns_per_io + $tr / .result.ios) \($bpf / .result.ios)"' <<<"$out"
}

# stats [-f FMT] values... -> "median min max ci_lo ci_hi": the last two
# bound the median with at least 95% confidence whatever the values'
# distribution (order statistics: the median lies between the k-th
# smallest and the k-th largest of n values unless k or more fall on
# one side, which binomial(n, 1/2) makes rare); below 9 values, min and
# max.
stats() {
	local fmt=%.0f
	[[ $1 == -f ]] && { fmt=$2; shift 2; }
	printf '%s\n' "$@" | sort -g | awk -v f="$fmt" '{ v[NR] = $1 } END {
		n = NR
		m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		k = 1; p = 0; c = 1
		for (i = 0; i < n; i++) {
			p += c / 2 ^ n	# P(binomial <= i)
			if (p > 0.025)
				break
			k = i + 1
			c = c * (n - i) / (i + 1)
		}
		if (k > n - k + 1)
			k = 1
		printf f " " f " " f " " f " " f "\n", m, v[1], v[n], v[k], v[n - k + 1] }'
}

# percent of IOPS lost, from a ratio to the untraced run
lost() {
	awk -v r="$1" 'BEGIN { printf "%.1f", (1 - r) * 100 }'
}

SUMMARY=()

# measure NAME: every side REPS times on $TARGET, its table, and one
# line for the summary
measure() {
	local name=$1 r first side res iops cpu med rmed rlo rhi rclo rchi cmed cbase
	local -A IOPS=() CPU=() BPF=() RATIO=() got=() MED=() RMED=() RCI=()
	local order=()

	echo "iolat-overhead: $MODE randread 4k QD1 on $TARGET_DESC, $REPS x $TIME per side, interleaved" \
		"${CPUS:+(benchmark on CPUs $CPUS)}${WORKER_CPUS:+ (unbound workers on CPU mask $WORKER_CPUS)}" >&2
	for ((r = 1; r <= REPS; r++)); do
		# each side in turn goes first: a drift of the machine's speed
		# within a round then favours no side
		first=$((r % ${#SIDES[@]}))
		order=("${SIDES[@]:first}" "${SIDES[@]:0:first}")
		got=()
		for side in "${order[@]}"; do
			[[ $side != none ]] && start_tracer "$side"
			res=$(run_one) || exit 1
			read -r iops cpu _ <<<"$res"
			got[$side]=$iops
			IOPS[$side]+="$iops "
			CPU[$side]+="$cpu "
			[[ $side != none ]] && stop_tracer
			printf '  %s rep %d/%d %-9s %8.0f IOPS %8.0f ns CPU/IO\n' "$name" "$r" "$REPS" \
				"$side" "$iops" "$cpu" >&2
		done
		# a traced run against the untraced run of its own round: the
		# machine's speed moves by more than the cost between rounds
		for side in "${SIDES[@]}"; do
			RATIO[$side]+="$(awk -v a="${got[$side]}" -v b="${got[none]}" 'BEGIN { print a / b }') "
		done
	done
	# The programs' own run time (kernel.bpf_stats_enabled), exact
	# whatever else the machine does, in one more round per tracer: the
	# stats cost a clock read or two per program run, so they stay off
	# above.
	BPF[none]=0 BPF[floor]=0
	if sysctl -qw kernel.bpf_stats_enabled=1 2>/dev/null; then
		for side in iolat bpftrace; do
			has_side "$side" || continue
			start_tracer "$side"
			res=$(run_one) || exit 1
			read -r _ _ BPF[$side] <<<"$res"
			stop_tracer
		done
		sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	fi

	read -r cbase _ _ <<<"$(stats ${CPU[none]})"
	printf '\n%s: %s\n' "$name" "$TARGET_DESC"
	printf '%-10s %11s %8s %14s %12s   %9s %8s   %9s\n' tracing "IOPS median" "vs none" \
		"(95% CI)" "(per round)" "CPU ns/IO" "vs none" "BPF ns/IO"
	for side in "${SIDES[@]}"; do
		read -r med _ _ <<<"$(stats ${IOPS[$side]})"
		read -r rmed rlo rhi rclo rchi <<<"$(stats -f %.3f ${RATIO[$side]})"
		read -r cmed _ _ <<<"$(stats ${CPU[$side]})"
		BPF[$side]=$(printf '%.0f' "${BPF[$side]:-0}")
		MED[$side]=$med RMED[$side]=$rmed RCI[$side]="$(lost "$rchi")..$(lost "$rclo")"
		printf '%-10s %11s %8s %14s %12s   %9s %8.3f   %9s\n' "$side" "$med" "$rmed" \
			"$rclo..$rchi" "$rlo..$rhi" \
			"$cmed" "$(awk -v a="$cmed" -v b="$cbase" 'BEGIN { print a / b }')" "${BPF[$side]}"
	done
	echo
	has_side iolat && printf 'iolat costs %s%% of IOPS (95%% CI %s%%), its programs %s ns per I/O\n' \
		"$(lost "${RMED[iolat]}")" "${RCI[iolat]}" "${BPF[iolat]}"
	has_side bpftrace && printf 'bpftrace costs %s%% of IOPS (95%% CI %s%%), its programs %s ns per I/O\n' \
		"$(lost "${RMED[bpftrace]}")" "${RCI[bpftrace]}" "${BPF[bpftrace]}"
	has_side floor && printf 'floor: empty programs on the same tracepoints (bench-tp-floor) cost %s%% of IOPS\n' \
		"$(lost "${RMED[floor]}")"
	echo
	summary_cell() {
		if has_side "$1"; then echo "$(lost "${RMED[$1]}")%"; else echo -; fi
	}
	SUMMARY+=("$(printf '%-6s %8s %7s  %7s %-13s %7s %9s %7s   %s' "$name" "${MED[none]}" \
		"$(awk -v i="${MED[none]}" 'BEGIN { printf "%.1f", i ? 1e6 / i : 0 }')" \
		"$(summary_cell iolat)" "${RCI[iolat]:+(${RCI[iolat]}%)}" \
		"$(summary_cell floor)" "$(summary_cell bpftrace)" \
		"${BPF[iolat]:--}" "$TARGET_DESC")")
}

if ((${#TARGETS[@]})); then
	i=0
	for TARGET in "${TARGETS[@]}"; do
		TARGET_DESC=$TARGET
		measure "$((++i))"
	done
else
	if make_disk_target 1G; then
		measure disk
		drop_disk_target
	else
		echo "iolat-overhead: no disk target: $TARGET_DESC" >&2
		SUMMARY+=("$(printf '%-6s %s' disk "skipped: $TARGET_DESC")")
	fi
	make_default_target 256M
	measure loop
	drop_default_target
fi

printf '%-6s %8s %7s  %7s %-13s %7s %9s %7s\n' target IOPS us/IO iolat "(95% CI)" floor bpftrace "BPF ns"
printf '%s\n' "${SUMMARY[@]}"
echo "(target: iolat < 5% of IOPS and below bpftrace. IOPS: the untraced median; iolat, floor," \
	"bpftrace: IOPS lost, the median over rounds of a run's IOPS over the untraced run of its" \
	"round, with the range that holds the true median at 95% confidence; floor: empty programs" \
	"on iolat's tracepoints (bench-tp-floor), what any eBPF tracer of these events pays before its" \
	"first instruction. BPF ns: iolat's programs' own run time per" \
	"I/O, from one more run with kernel.bpf_stats_enabled)"
