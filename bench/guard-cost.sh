#!/usr/bin/env bash
# guard-cost.sh: what sp-guard adds to each NVMe passthrough command. The
# same one-at-a-time read is sent through io_uring and through the ioctl,
# in rounds that alternate guard off and guard on (an allowing policy, so
# every command runs the whole decision), in one invocation; the report
# gives the wall time per command on both sides, the difference, the
# ratio, and the programs' own run time per call from the kernel's BPF
# statistics (kernel.bpf_stats_enabled, switched on by sp-guard --stats).
# Under QEMU/TCG the nanoseconds are emulation speed: compare the sides.
#
# Usage: bench/guard-cost.sh [--count N] [--rounds N] [--ns /dev/ngXnY]
# Defaults: --count 2000 --rounds 3 --ns /dev/ng0n1. Needs root and BPF
# LSM; reads only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin() { command -v "$1" 2>/dev/null || echo "$here/../build/bin/$1"; }
PT=$(bin pt_cost)
GUARD=$(bin sp-guard)

count=2000 rounds=3 ns=/dev/ng0n1
while [[ $# -gt 0 ]]; do
	case $1 in
	--count) count=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--ns) ns=$2; shift 2 ;;
	-h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "guard-cost: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
[[ -c $ns ]] || { echo "guard-cost: no NVMe generic node $ns" >&2; exit 2; }

work=$(mktemp -d)
gpid=
cleanup() {
	[[ -n $gpid ]] && { kill -INT "$gpid" 2>/dev/null || true; wait "$gpid" 2>/dev/null || true; }
	rm -rf "$work"
}
trap cleanup EXIT
printf 'allow uid:%s %s io:all admin:all\n' "$(id -u)" "$ns" >"$work/policy"

guard_on() {
	"$GUARD" --json --stats "$work/policy" >"$work/guard.out" 2>"$work/guard.err" &
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

declare -A sum=()
for ((r = 0; r < rounds; r++)); do
	for side in off on; do
		[[ $side == on ]] && guard_on
		for p in uring ioctl; do
			v=$(run "$p")
			sum[$p.$side]=$(jq -n "${sum[$p.$side]:-0} + $v")
		done
		[[ $side == on ]] && guard_off
	done
done

echo "guard-cost: $count reads of one block at QD1 on $ns, $rounds rounds, guard off/on alternating"
fmt="%-10s %14s %14s %12s %7s\n"
printf "$fmt" path "off ns/cmd" "on ns/cmd" "added ns" ratio
for p in uring ioctl; do
	off=$(jq -n "${sum[$p.off]} / $rounds")
	on=$(jq -n "${sum[$p.on]} / $rounds")
	printf "$fmt" "$p" "$(printf %.0f "$off")" "$(printf %.0f "$on")" \
		"$(printf %.0f "$(jq -n "$on - $off")")" "$(printf %.3f "$(jq -n "$on / $off")")"
done
echo "guard programs, from the kernel's BPF run-time statistics (all rounds):"
jq -rs '[.[].programs[]] | group_by(.name)[] |
	{name: .[0].name, runs: (map(.runs) | add), ns: (map(.run_ns) | add)} |
	"  \(.name): \(.runs) runs, \(if .runs > 0 then (.ns / .runs | floor) else 0 end) ns per run"' \
	"$work/summaries"
