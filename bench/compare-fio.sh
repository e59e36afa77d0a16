#!/usr/bin/env bash
# compare-fio.sh: uring_bench against fio, same target, same workload,
# side by side in one run, for every path fio also has.
#
# Usage: bench/compare-fio.sh [--runtime 5s] [--qd 32] [--bs 4k] [--reps 2]
#                             [--rw randread] [TARGET]
#
# Both tools are timed the same way: the user+system CPU of the whole
# process and all its threads (bash's `time`, i.e. wait4's rusage), so
# fio's and uring_bench's own accounting never enter the comparison.
# Repetitions alternate fio and uring_bench; each cell is the median.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

runtime=5 qd=32 bs=4k reps=2 rw=randread target=
while [[ $# -gt 0 ]]; do
	case $1 in
	--runtime) runtime=${2%s}; shift 2 ;;
	--qd) qd=$2; shift 2 ;;
	--bs) bs=$2; shift 2 ;;
	--reps) reps=$2; shift 2 ;;
	--rw) rw=$2; shift 2 ;;
	--version) sp_script_version; exit 0 ;;
	-h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "compare-fio: unknown option $1" >&2; exit 2 ;;
	*) target=$1; shift ;;
	esac
done
command -v fio >/dev/null || { echo "compare-fio: fio is not installed (make deps)" >&2; exit 2; }
[[ $rw == randread || $rw == read ]] ||
	{ echo "compare-fio: only read workloads (the target is not scratch)" >&2; exit 2; }

trap drop_default_target EXIT
trap 'exit 130' INT TERM
if [[ -n $target ]]; then
	TARGET=$target TARGET_DESC=$target
else
	make_default_target 1G
fi

# Runs "$@" and sets CPU_S to its user+sys seconds, OUT to its stdout.
timed() {
	local t
	t=$( { TIMEFORMAT='%U %S'; time "$@" >"$tmp/out" 2>"$tmp/err"; } 2>&1 ) ||
		{ cat "$tmp/err" >&2; return 1; }
	CPU_S=$(awk '{print $1 + $2}' <<<"$t")
	OUT=$(cat "$tmp/out")
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; drop_default_target' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# name | fio options | uring_bench options
rows=(
	"psync|--ioengine=psync --iodepth=1|-m psync"
	"io_uring|--ioengine=io_uring --iodepth=$qd --iodepth_batch_submit=$qd --iodepth_batch_complete_min=1|-m uring -q $qd -s $qd -c 1"
	"io_uring fixedbufs+registerfiles|--ioengine=io_uring --iodepth=$qd --iodepth_batch_submit=$qd --iodepth_batch_complete_min=1 --fixedbufs --registerfiles|-m uring -q $qd -s $qd -c 1 --fixedbufs --regfiles"
	"io_uring sqthread_poll|--ioengine=io_uring --iodepth=$qd --iodepth_batch_submit=$qd --iodepth_batch_complete_min=1 --sqthread_poll=1|-m uring -q $qd -s $qd -c 1 --sqpoll"
)

echo "uring_bench vs fio $(fio --version): $rw bs=$bs, ${runtime}s per run, $reps alternating repetitions (median)"
echo "target: $TARGET_DESC"
echo "CPU/IO: user+sys of the whole process, all threads, per I/O"
echo
fmt="%-33s %9s %9s %6s | %8s %8s | %8s %8s %6s\n"
printf "$fmt" "mode" "fio IOPS" "ub IOPS" "ratio" "fio p99" "ub p99" "fio CPU" "ub CPU" "ratio"
printf "$fmt" "" "" "" "ub/fio" "us" "us" "us/IO" "us/IO" "ub/fio"
for row in "${rows[@]}"; do
	IFS='|' read -r name fopts uopts <<<"$row"
	: >"$tmp/fio" ; : >"$tmp/ub"
	for ((r = 0; r < reps; r++)); do
		# shellcheck disable=SC2086
		timed fio --name=cmp --filename="$TARGET" --rw="$rw" --bs="$bs" --direct=1 \
			--time_based --runtime="$runtime" --lat_percentiles=1 \
			--output-format=json $fopts
		ios=$(jget "$OUT" '.jobs[0].read.total_ios')
		echo "$(jget "$OUT" '.jobs[0].read.iops') $(jget "$OUT" '.jobs[0].read.lat_ns.percentile["99.000000"]') $(awk -v c="$CPU_S" -v n="$ios" 'BEGIN {print c * 1e6 / n}')" >>"$tmp/fio"
		# shellcheck disable=SC2086
		timed "$UB" --json -w "$rw" -b "$bs" -t "${runtime}s" $uopts "$TARGET"
		ios=$(jget "$OUT" '.result.ios')
		echo "$(jget "$OUT" '.result.iops') $(jget "$OUT" '.result.latency_ns.p99') $(awk -v c="$CPU_S" -v n="$ios" 'BEGIN {print c * 1e6 / n}')" >>"$tmp/ub"
	done
	fi=$(cut -d' ' -f1 "$tmp/fio" | median); ui=$(cut -d' ' -f1 "$tmp/ub" | median)
	fp=$(cut -d' ' -f2 "$tmp/fio" | median); up=$(cut -d' ' -f2 "$tmp/ub" | median)
	fc=$(cut -d' ' -f3 "$tmp/fio" | median); uc=$(cut -d' ' -f3 "$tmp/ub" | median)
	printf "$fmt" "$name" "$(printf %.0f "$fi")" "$(printf %.0f "$ui")" \
		"$(awk -v a="$ui" -v b="$fi" 'BEGIN {printf "%.2f", a / b}')" \
		"$(awk -v v="$fp" 'BEGIN {printf "%.1f", v / 1000}')" \
		"$(awk -v v="$up" 'BEGIN {printf "%.1f", v / 1000}')" \
		"$(printf %.2f "$fc")" "$(printf %.2f "$uc")" \
		"$(awk -v a="$uc" -v b="$fc" 'BEGIN {printf "%.2f", a / b}')"
done
