#!/usr/bin/env bash
# What tracing costs a QD1 workload: uring_bench IOPS untraced, under
# iolat (system-wide, every layer it can attach), and under a bpftrace
# script of the same coverage (syscalls, io_uring submit/complete, block
# insert/issue/complete histograms). The three run interleaved, REPS
# times, on one target; the table gives medians (min-max) and the
# ratio to the untraced run. Targets (issue 5): iolat costs < 5% of
# IOPS and less than bpftrace.
#
#   bench/iolat-overhead.sh [--reps N] [--time DUR] [--mode psync|uring] [TARGET]
#
# Without TARGET: a loop device with direct I/O on a tmpfs file. bpftrace
# comes from Debian's package (installed when missing).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

REPS=5 TIME=3s MODE=psync TARGET_ARG=
while (($#)); do
	case $1 in
	--reps) REPS=$2; shift 2 ;;
	--time) TIME=$2; shift 2 ;;
	--mode) MODE=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "iolat-overhead: unknown option $1" >&2; exit 2 ;;
	*) TARGET_ARG=$1; shift ;;
	esac
done
[[ $(id -u) -eq 0 ]] || { echo "iolat-overhead: needs root (BPF)" >&2; exit 2; }
if ! command -v bpftrace >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q bpftrace >/dev/null ||
		{ echo "iolat-overhead: cannot install bpftrace" >&2; exit 1; }
fi

WORK=$(mktemp -d)
TRACER=
cleanup() {
	[[ -n $TRACER ]] && kill -INT "$TRACER" 2>/dev/null && wait "$TRACER" 2>/dev/null
	drop_default_target
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n $TARGET_ARG ]]; then
	TARGET=$TARGET_ARG TARGET_DESC=$TARGET_ARG
else
	make_default_target 256M
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

# start_tracer NAME: starts it in the background, returns once attached
start_tracer() {
	rm -f "$WORK/ready"
	mkfifo "$WORK/ready"
	case $1 in
	iolat)
		"$BIN/iolat" --ready-fd 3 3>"$WORK/ready" >/dev/null 2>"$WORK/tracer.err" &
		TRACER=$!
		read -r -n 1 -t 120 _ <"$WORK/ready" ;;
	bpftrace)
		bpftrace "$WORK/same.bt" >"$WORK/ready" 2>"$WORK/tracer.err" &
		TRACER=$!
		read -r -t 120 _ <"$WORK/ready" ;;
	esac || { echo "iolat-overhead: $1 did not start:" >&2; cat "$WORK/tracer.err" >&2; exit 1; }
}

stop_tracer() {
	kill -INT "$TRACER" 2>/dev/null || true
	wait "$TRACER" 2>/dev/null || true
	TRACER=
}

run_one() {
	"$UB" --quiet --json -m "$MODE" -q 1 -w randread -t "$TIME" "$TARGET" | jq -r .result.iops
}

declare -A IOPS
SIDES=(none iolat bpftrace)
echo "iolat-overhead: $MODE randread 4k QD1 on $TARGET_DESC, $REPS x $TIME per side, interleaved" >&2
for ((r = 1; r <= REPS; r++)); do
	for side in "${SIDES[@]}"; do
		[[ $side != none ]] && start_tracer "$side"
		IOPS[$side]+="$(run_one) "
		[[ $side != none ]] && stop_tracer
		printf '  rep %d/%d %-9s %s\n' "$r" "$REPS" "$side" "${IOPS[$side]##* }" >&2
	done
done

stats() { # values... -> "median min max"
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.0f %.0f %.0f\n", m, v[1], v[NR] }'
}
read -r base _ _ <<<"$(stats ${IOPS[none]})"
printf '\n%-10s %12s %22s %10s\n' tracing "IOPS (median)" "min-max" "vs none"
for side in "${SIDES[@]}"; do
	read -r med lo hi <<<"$(stats ${IOPS[$side]})"
	printf '%-10s %12s %22s %9.3f\n' "$side" "$med" "$lo-$hi" "$(awk -v a="$med" -v b="$base" 'BEGIN { print a / b }')"
	eval "MED_$side=$med"
done
# shellcheck disable=SC2154
printf '\niolat costs %.1f%% of IOPS, bpftrace %.1f%% (target: iolat < 5%% and below bpftrace)\n' \
	"$(awk -v a="$MED_iolat" -v b="$base" 'BEGIN { print (1 - a / b) * 100 }')" \
	"$(awk -v a="$MED_bpftrace" -v b="$base" 'BEGIN { print (1 - a / b) * 100 }')"
