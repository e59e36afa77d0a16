#!/usr/bin/env bats
# uring_bench on a temporary file: every mode does exactly what was asked.
load ../helpers

setup() {
	tmpfs_file
}

teardown() {
	tmpfs_teardown
}

@test "a missing file is created at the requested size, with data" {
	run "$UB" -n 10 --size 8M "$F"
	assert_success
	[ "$(stat -c %s "$F")" -eq $((8 << 20)) ]
	# laid out for real: no holes
	[ "$(stat -c %b "$F")" -gt 0 ]
	[ "$(od -An -tx1 -N4 "$F" | tr -d ' ')" = "a5a5a5a5" ]
}

@test "a missing file without --size is an error (2), nothing created" {
	run "$UB" -n 10 "$F"
	assert_failure 2
	assert_output --partial "no such file or device (give --size"
	[ ! -e "$F" ]
}

run_mode() {
	run --separate-stderr "$UB" --json -n 500 --size 16M "$@" "$F"
	assert_success
	[ "$(jfield .status)" = ok ]
	[ "$(jfield .result.ios)" -eq 500 ]
	[ "$(jfield .result.bytes)" -eq $((500 * 4096)) ]
}

@test "psync does exactly the I/Os asked" {
	run_mode -m psync
	[ "$(jfield .result.reads)" -eq 500 ]
	[ "$(jfield .config.iodepth)" -eq 1 ]
}

@test "uring does exactly the I/Os asked" {
	run_mode -m uring -q 16
	[ "$(jfield .result.reads)" -eq 500 ]
}

@test "uring with registered file and fixed buffers" {
	run_mode -m uring --fixedbufs --regfiles
	[[ $(jfield .config.setup) == *"fixed buffers, registered file"* ]]
}

@test "uring with SQPOLL reports the SQPOLL ring" {
	run_mode -m uring --sqpoll --sq-idle 10
	[[ $(jfield .config.setup) == *SQPOLL* ]]
}

@test "buffered I/O through the page cache" {
	run_mode -m uring --buffered -w read
	[ "$(jfield .config.direct)" = false ]
}

@test "nop completes the I/Os asked and moves no bytes" {
	run --separate-stderr "$UB" -m nop --json -n 5000 -q 64 -s 16 -c 16
	assert_success
	[ "$(jfield .result.ios)" -eq 5000 ]
	[ "$(jfield .result.bytes)" -eq 0 ]
}

@test "nop: every NOP's latency is recorded, whatever the batches and the ring's wrap" {
	# passes of 3 into a ring of 7 reaped 2 at a time: completions of
	# several passes come back together and runs cross the ring's end
	run --separate-stderr "$UB" -m nop --json -n 10001 -q 7 -s 3 -c 2
	assert_success
	jq -e '.result.ios == 10001 and .result.errors == 0 and
	       ([.result.latency_ns.bins[][2]] | add) == 10001 and
	       .result.latency_ns.min > 0' <<<"$output"
}

@test "nop: the NOPs' summed latency is the time they were queued, one clock read a pass" {
	# NOPs complete in their submit, so a pass's are all in the ring
	# from their queueing to their reap and the passes follow each other:
	# summed latency over wall time is the NOPs a pass holds (Little's
	# law), exactly when no time between passes is left out
	local a want
	for a in "32 32 32 32" "7 3 2 3" "1 1 1 1"; do
		set -- $a
		want=$4
		run --separate-stderr "$UB" -m nop --json -n 100000 -q "$1" -s "$2" -c "$3"
		assert_success
		jq -e --argjson w "$want" '.result | (.latency_ns.mean * .ios / .elapsed_ns) as $l |
			($l > 0.98 * $w and $l < 1.01 * $w)' <<<"$output" >/dev/null ||
			fail "-q $1 -s $2 -c $3: latency over wall time $(jq '.result | .latency_ns.mean * .ios / .elapsed_ns' <<<"$output"), not $want"
		# one read a pass, and the first pass's before it
		jq -e '.result | .syscalls.clock_reads == (.ios / ('"$2"') | ceil) + 1' <<<"$output" >/dev/null ||
			fail "-q $1 -s $2 -c $3: $(jq .result.syscalls.clock_reads <<<"$output") clock reads for $(jq .result.ios <<<"$output") NOPs"
	done
}

# lat_vs_wall ARGS...: a QD1 psync run's summed latency over its wall time
lat_vs_wall() {
	run --separate-stderr "$UB" --json -m psync -n 20000 --size 16M "$@" "$F"
	assert_success
	jq -r '.result | .latency_ns.mean * .ios / .elapsed_ns' <<<"$output"
}

@test "--clock tsc: refused without an invariant counter or, unsynchronised, unpinned; its latencies add up to the wall time" {
	if ! grep -qw constant_tsc /proc/cpuinfo || ! grep -qw nonstop_tsc /proc/cpuinfo; then
		run "$UB" -m nop -n 10 --clock tsc
		assert_failure 2
		assert_output --partial "invariant time-stamp counter"
		skip "this CPU has no invariant TSC: only the refusal is checked"
	fi
	# not pinned: fine only where the kernel vouches for the counters
	run "$UB" -m nop -n 10 --clock tsc
	if grep -qw tsc /sys/devices/system/clocksource/clocksource0/available_clocksource ||
		(($(nproc) == 1)); then
		assert_success
	else
		assert_failure 2
		assert_output --partial "pin each job to one CPU"
	fi
	run --separate-stderr taskset -c 0 "$UB" -m nop -n 1000 --clock tsc --json
	assert_success
	jq -e '.config.clock == "tsc" and .config.clock_hz > 1e8 and .config.clock_hz < 1e11' <<<"$output"
	run --separate-stderr "$UB" -m nop -n 1000 --clock monotonic --json
	jq -e '.config.clock == "monotonic" and .config.clock_hz == null' <<<"$output"
	# At QD1 an I/O's latency is most of the loop, so latencies summed
	# come to a little less than the wall time on the monotonic clock;
	# ticks taken for nanoseconds, or a wrong rate, would not.
	for clock in monotonic tsc; do
		r=$(lat_vs_wall --clock "$clock" --cpus 0)
		jq -ne "$r > 0.3 and $r < 1.05" || fail "--clock $clock: latencies sum to $r of the wall time"
	done
	run "$UB" -m nop --clock hpet
	assert_failure 2
	assert_output --partial "invalid --clock 'hpet': auto, monotonic or tsc"
}

@test "jobs each do their share, with their own ring" {
	run --separate-stderr "$UB" --json -j 2 -n 300 --size 16M "$F"
	assert_success
	[ "$(jfield .result.ios)" -eq 600 ]
	[ "$(jfield '.jobs | length')" -eq 2 ]
	[ "$(jfield '.jobs[1].ios')" -eq 300 ]
}

@test "jobs are pinned to the CPUs given" {
	run --separate-stderr "$UB" --json -j 2 --cpus 0-1 -n 100 --size 16M "$F"
	assert_success
	[ "$(jfield '.jobs[0].cpu')" -eq 0 ]
	[ "$(jfield '.jobs[1].cpu')" -eq 1 ]
}

@test "randrw honours the mix" {
	run --separate-stderr "$UB" --json -w randrw -M 100 -n 400 --size 16M "$F"
	assert_success
	[ "$(jfield .result.writes)" -eq 0 ]
	run --separate-stderr "$UB" --json -w randrw -M 0 -n 400 --size 16M "$F"
	assert_success
	[ "$(jfield .result.reads)" -eq 0 ]
	run --separate-stderr "$UB" --json -w randrw -M 70 -n 4000 --size 16M "$F"
	assert_success
	reads=$(jfield .result.reads)
	# 70% of 4000 = 2800; binomial sd ~29, allow 6 sd
	[ "$reads" -gt 2620 ] && [ "$reads" -lt 2980 ]
}

@test "sequential write covers the range in order" {
	run "$UB" -w write --verify -n 256 --bs 64k --size 16M "$F"
	assert_success
	# block 255 (last of 16 MiB in 64 KiB blocks) carries a header
	[ "$(od -An -c -j $((255 * 65536)) -N4 "$F" | tr -d ' ')" = "SPVF" ]
}

@test "--runtime stops the run" {
	run --separate-stderr "$UB" --json -t 1s --size 16M "$F"
	assert_success
	ns=$(jfield .result.elapsed_ns)
	[ "$ns" -ge 900000000 ] && [ "$ns" -lt 10000000000 ]
}

@test "latency percentiles are ordered and within min..max" {
	run --separate-stderr "$UB" --json -n 3000 --size 16M "$F"
	assert_success
	jq -e '.result.latency_ns as $l | $l.min <= $l.p50 and $l.p50 <= $l.p90 and
	       $l.p90 <= $l.p99 and $l.p99 <= $l["p99.9"] and $l["p99.9"] <= $l["p99.99"] and
	       $l["p99.99"] <= $l.max and $l.min > 0' <<<"$output"
}

@test "--iopoll on a file that cannot poll is refused (2) with the reason" {
	run "$UB" --iopoll -n 10 --size 1M "$F"
	assert_failure 2
	assert_output --partial "cannot complete polled I/O"
	refute_output --partial "IOPS"
}

@test "a progress line is shown on a terminal" {
	command -v script >/dev/null || skip "script(1) is not installed"
	"$UB" -n 1 --size 16M "$F" >/dev/null
	run script -qec "'$UB' -t 2500ms '$F' >/dev/null" /dev/null
	assert_success
	assert_output --partial "IOPS"
	assert_output --partial "I/Os per syscall"
}

@test "no progress line without a terminal" {
	run --separate-stderr "$UB" -t 1200ms --size 16M "$F"
	assert_success
	[ -z "$stderr" ]
}
