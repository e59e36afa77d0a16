#!/usr/bin/env bats
# Cost accounting: syscalls, CPU and context switches per I/O.
load ../helpers

setup() {
	tmpfs_file
	"$UB" -n 1 --size 16M "$F" >/dev/null
}

teardown() {
	tmpfs_teardown
}

@test "psync makes one syscall per I/O, counted by the kernel" {
	require_root
	run --separate-stderr "$UB" --json --syscalls kernel -m psync -n 20000 "$F"
	assert_success
	[[ $(jfield .result.syscalls.source) == kernel-counted* ]]
	jq -e '.result.syscalls.per_io >= 1.0 and .result.syscalls.per_io < 1.01' <<<"$output"
	[ "$(jfield .result.syscalls.self_counted)" -eq 20000 ]
}

@test "self-counted and kernel-counted syscalls agree for io_uring" {
	require_root
	for args in "-q 1" "-q 32" "-q 32 -s 8 -c 8"; do
		run --separate-stderr "$UB" --json --syscalls kernel -m uring $args -n 20000 "$F"
		assert_success
		kern=$(jfield .result.syscalls.total)
		self=$(jfield .result.syscalls.self_counted)
		# the kernel also counts the main thread's few waits
		[ "$kern" -ge "$self" ]
		[ "$kern" -le $((self + self / 50 + 50)) ]
	done
}

@test "batching cuts syscalls per I/O" {
	run --separate-stderr "$UB" --json -m uring -q 1 -n 20000 "$F"
	qd1=$(jfield .result.syscalls.per_io)
	run --separate-stderr "$UB" --json -m uring -q 64 -s 32 -c 32 -n 20000 "$F"
	qd64=$(jfield .result.syscalls.per_io)
	jq -ne "$qd64 * 4 < $qd1"
}

@test "SQPOLL CPU is charged to the run" {
	# The SQPOLL thread does the submitting while the job thread sleeps
	# until 32 completions are in. Its run time (schedstat, per thread)
	# must be in the run's CPU total (rusage of the whole process): were
	# it missed, the total would fall short of the threads' sum. Both
	# come from the same kernel in the same run, so a loaded machine
	# moves them together; rusage is tick-sampled, hence the slack.
	run --separate-stderr "$UB" --json -m nop --sqpoll --sq-idle 2000 -q 32 -s 32 -c 32 -t 1s
	assert_success
	jq -e '[.result.cpu.threads[] | select(.role == "io") | .run_ns] | length == 1 and .[0] > 0' <<<"$output"
	jq -e '(.result.cpu.user_ns + .result.cpu.sys_ns) >
	       0.9 * ([.result.cpu.threads[].run_ns] | add) - 20000000' <<<"$output"
	jq -e '.result.syscalls.per_io < 0.1' <<<"$output"
}

@test "syscalls are self-counted unless the kernel count is asked for" {
	run --separate-stderr "$UB" --json -m psync -n 1000 "$F"
	assert_success
	[ "$(jfield .result.syscalls.source)" = self-counted ]
	[ "$(jfield .result.syscalls.total)" -eq 1000 ]
}

@test "context switches are reported per I/O" {
	run --separate-stderr "$UB" --json -m psync -n 2000 "$F"
	assert_success
	jq -e '.result.ctx_switches.voluntary_per_io >= 0 and
	       (.result.ctx_switches | has("involuntary_per_io"))' <<<"$output"
}

@test "sp-cost counts a command's syscalls by the kernel" {
	require_root
	run "$BIN/sp-cost" --json --output "$TMPF_DIR/a" -- dd if=/dev/zero of=/dev/null bs=4k count=1000 status=none
	assert_success
	run "$BIN/sp-cost" --json --output "$TMPF_DIR/b" -- dd if=/dev/zero of=/dev/null bs=4k count=3000 status=none
	assert_success
	# 2000 more blocks: one read and one write each
	d=$(jq -n --slurpfile a "$TMPF_DIR/a" --slurpfile b "$TMPF_DIR/b" '$b[0].syscalls - $a[0].syscalls')
	[ "$d" -ge 4000 ] && [ "$d" -le 4010 ]
}

@test "sp-cost passes the command's exit status through" {
	require_root
	run "$BIN/sp-cost" -- sh -c 'exit 3'
	assert_failure 3
	assert_output --partial "syscalls"
	run "$BIN/sp-cost"
	assert_failure 2
}

@test "sp-cost counts extra tracepoints: tmpfs O_DIRECT reads all go to io-wq here" {
	require_root
	"$UB" -n 1 --size 16M "$F" >/dev/null
	run "$BIN/sp-cost" --json --output "$TMPF_DIR/c" -e io_uring:io_uring_submit_req -- \
		"$UB" --quiet -n 500 "$F"
	assert_success
	[ "$(jq '.events["io_uring:io_uring_submit_req"]' "$TMPF_DIR/c")" -eq 500 ]
	run "$BIN/sp-cost" -e nosuch:event -- true
	assert_failure 2
}
