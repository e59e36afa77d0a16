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
