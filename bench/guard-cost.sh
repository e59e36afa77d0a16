#!/usr/bin/env bash
# guard-cost.sh: what sp-guard adds to each NVMe passthrough command. The
# same one-at-a-time read is sent through io_uring and through the ioctl,
# in rounds that alternate guard off and guard on (an allowing policy, so
# every command runs the whole decision), in one invocation; the report
# gives the median wall time per command on both sides, the difference,
# the median ratio and its spread over the rounds. A last round with
# sp-guard --stats gives the programs' own run
# time per call from the kernel's BPF statistics (kept out of the timed
# rounds: the statistics cost time of their own). Under QEMU/TCG the
# nanoseconds are emulation speed: compare the sides.
#
# Usage: bench/guard-cost.sh [--count N] [--rounds N] [--ns /dev/ngXnY]
# Defaults: --count 1000 --rounds 7 --ns /dev/ng0n1. Needs root and BPF
# LSM; reads only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin() { command -v "$1" 2>/dev/null || echo "$here/../build/bin/$1"; }
PT=$(bin bench-pt-cost)
GUARD=$(bin sp-guard)

count=1000 rounds=7 ns=/dev/ng0n1
while [[ $# -gt 0 ]]; do
	case $1 in
	--count) count=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--ns) ns=$2; shift 2 ;;
	--version) . "$(dirname "$0")/lib.sh" && sp_script_version; exit 0 ;;
	-h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "guard-cost: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
[[ -c $ns ]] || { echo "guard-cost: no NVMe generic node $ns" >&2; exit 2; }

work=$(mktemp -d)
gpid=
# SIGTERM: an asynchronous job ignores SIGINT until sp-guard installs
# its handler, and a Ctrl-C during its start-up would wait forever
cleanup() {
	[[ -n $gpid ]] && { kill -TERM "$gpid" 2>/dev/null || true; wait "$gpid" 2>/dev/null || true; }
	rm -rf "$work"
}
trap cleanup EXIT
printf 'allow uid:%s %s io:all admin:all\n' "$(id -u)" "$ns" >"$work/policy"

guard_on() {	# [--stats]
	"$GUARD" --json "$@" "$work/policy" >"$work/guard.out" 2>"$work/guard.err" &
	gpid=$!
	for _ in $(seq 100); do
		grep -q guarding "$work/guard.err" 2>/dev/null && return 0
		kill -0 "$gpid" 2>/dev/null || break
		sleep 0.1
	done
	echo "guard-cost: sp-guard did not start: $(cat "$work/guard.err")" >&2
	gpid=
	exit 1
}
guard_off() {
	kill -INT "$gpid"
	wait "$gpid"
	gpid=
	tail -n 1 "$work/guard.out" >>"$work/summaries"
}
# ns per command of one run
run() {	# PATH
	"$PT" --json -p "$1" -n "$count" read "$ns" | jq -r .ns_per_cmd
}

declare -A vals=()	# PATH.SIDE -> "v1 v2 ..." ns per command, one per round
for ((r = 0; r < rounds; r++)); do
	for side in off on; do
		[[ $side == on ]] && guard_on
		for p in uring ioctl; do
			vals[$p.$side]+="$(run "$p") "
		done
		[[ $side == on ]] && guard_off
	done
done
guard_on --stats
for p in uring ioctl; do run "$p" >/dev/null; done
guard_off

# Medians over the rounds, and the spread of the per-round ratio: one
# round is an off run and the on run right after it.
echo "guard-cost: $count reads of one block at QD1 on $ns, $rounds rounds of guard off, then on"
fmt="%-8s %12s %12s %10s %7s %17s\n"
printf "$fmt" path "off ns/cmd" "on ns/cmd" "added ns" ratio "ratio min..max"
for p in uring ioctl; do
	jq -rn --arg off "${vals[$p.off]}" --arg on "${vals[$p.on]}" --arg p "$p" '
		def nums: [splits(" +") | select(length > 0) | tonumber];
		def median: sort | if length % 2 == 1 then .[length / 2 | floor]
			else (.[length / 2 - 1] + .[length / 2]) / 2 end;
		($off | nums) as $a | ($on | nums) as $b |
		[range($a | length) | $b[.] / $a[.]] as $r |
		[$p, ($a | median | round), ($b | median | round),
		 (($b | median) - ($a | median) | round),
		 ($r | median * 1000 | round / 1000),
		 "\($r | min * 1000 | round / 1000)..\($r | max * 1000 | round / 1000)"] | @tsv' |
	while IFS=$'\t' read -r name off on added ratio spread; do
		printf "$fmt" "$name" "$off" "$on" "$added" "$ratio" "$spread"
	done
done
echo "guard programs, from the kernel's BPF run-time statistics (one more round, every"
echo "call of the hook counted, also other processes' ioctls):"
jq -rs '[.[] | (.programs // [])[]] | group_by(.name)[] |
	{name: .[0].name, runs: (map(.runs) | add), ns: (map(.run_ns) | add)} | select(.runs > 0) |
	"  \(.name): \(.runs) runs, \(if .runs > 0 then (.ns / .runs | floor) else 0 end) ns per run"' \
	"$work/summaries"
