#!/usr/bin/env bats
# iolat: block-layer latency per layer, from tracepoints.
load ../helpers

setup() {
	loop_setup 64M
	DISK=${LOOP_DEV#/dev/}
}

teardown() {
	loop_teardown
}

# Runs iolat ARGS for one 3 s interval while uring_bench does N reads
# of the loop device; iolat's stdout ends up in $output.
trace_reads() {
	local n=$1
	shift
	"$BIN/iolat" "$@" 3 1 >"$LOOP_DIR/out" 2>"$LOOP_DIR/err" &
	local pid=$!
	sleep 1
	"$UB" --quiet -m uring -w randread -q 8 -n "$n" "$LOOP_DEV" >/dev/null
	wait "$pid" || { cat "$LOOP_DIR/err"; return 1; }
	output=$(cat "$LOOP_DIR/out")
}

@test "iolat: every read of the traced disk is counted once per layer" {
	trace_reads 2000 --json -F -d "$DISK"
	[ "$(jfield '.unit')" = us ]
	[ "$(jfield '[.histograms[] | select(.layer == "device" and .op == "read")][0].count')" -eq 2000 ]
	[ "$(jfield '[.histograms[] | select(.layer == "block_total" and .op == "read")][0].count')" -eq 2000 ]
	# the buckets add up to the count, in every histogram
	jq -e '[.histograms[] | ([.buckets[].count] | add) == .count] | all' <<<"$output"
	# another disk's I/O is filtered out
	[ "$(jfield '[.histograms[] | select(.op != "read")] | length')" -eq 0 ]
}

@test "iolat: per-disk split names the disk" {
	trace_reads 500 --json -D -d "$DISK"
	[ "$(jfield '[.histograms[] | select(.layer == "device")][0].disk')" = "$DISK" ]
}

@test "iolat: text output in bpftrace's layout" {
	trace_reads 1000 -d "$DISK"
	assert_output --partial "@device_us: driver + device (issue -> complete), 1000 I/Os"
	assert_output --regexp '\[[0-9]+K?, [0-9]+K?\) +[0-9]+ \|@+ *\|'
}

@test "iolat: milliseconds on request" {
	trace_reads 200 --json -m -d "$DISK"
	[ "$(jfield '.unit')" = ms ]
}

@test "iolat: bad usage is refused (2)" {
	run "$BIN/iolat" -d no-such-disk 1 1
	assert_failure 2
	assert_output --partial "no block device /dev/no-such-disk"
	run "$BIN/iolat" 0
	assert_failure 2
	run "$BIN/iolat" --help
	assert_success
	assert_output --partial "Examples:"
}

@test "iolat: io_uring punts per process: every tmpfs O_DIRECT read goes to io-wq here" {
	tmpfs_file
	"$UB" -n 1 --size 16M "$F" >/dev/null
	"$BIN/iolat" --json 3 1 >"$LOOP_DIR/out" 2>"$LOOP_DIR/err" &
	pid=$!
	sleep 1
	"$UB" --quiet -m uring -n 1000 "$F" >/dev/null
	wait "$pid"
	output=$(cat "$LOOP_DIR/out")
	tmpfs_teardown
	entry=$(jq -c '[.io_uring[] | select(.comm == "uring_bench")][0]' <<<"$output")
	[ "$(jq .submitted <<<"$entry")" -eq 1000 ]
	# the host kernel punts tmpfs reads (the reason iolat reports punts)
	[ "$(jq .punted <<<"$entry")" -eq 1000 ]
}
