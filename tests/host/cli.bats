#!/usr/bin/env bats
# Command-line contract of the tools: help, usage errors, exit codes.
load ../helpers

@test "uring_bench --help shows options, examples and exit codes" {
	run "$UB" --help
	assert_success
	assert_output --partial "Usage: uring_bench"
	assert_output --partial "Examples:"
	assert_output --partial "--json"
	assert_output --partial "Exit status"
}

@test "sp-features --help shows examples" {
	run "$BIN/sp-features" --help
	assert_success
	assert_output --partial "Examples:"
}

@test "unknown option is a usage error (2)" {
	run "$UB" --no-such-option /tmp/x
	assert_failure 2
}

@test "unknown mode names the mode" {
	run "$UB" -m warp /tmp/x
	assert_failure 2
	assert_output --partial "unknown mode 'warp'"
}

@test "unknown --rw lists the patterns" {
	run "$UB" -w sideways /tmp/x
	assert_failure 2
	assert_output --partial "randrw"
}

@test "a target-less mode refuses a target, a target mode needs one" {
	run "$UB" -m nop /tmp/x
	assert_failure 2
	assert_output --partial "takes no target"
	run "$UB" -m uring
	assert_failure 2
	assert_output --partial "needs a TARGET"
}

@test "ring options are refused for psync" {
	run "$UB" -m psync --sqpoll /tmp/x
	assert_failure 2
	assert_output --partial "io_uring mode"
}

@test "--sq-cpu without --sqpoll is refused" {
	run "$UB" --sq-cpu 0 /tmp/x
	assert_failure 2
	assert_output --partial "--sq-cpu needs --sqpoll"
}

@test "malformed values are named" {
	run "$UB" --bs 4q /tmp/x
	assert_failure 2
	assert_output --partial "invalid --bs '4q'"
	run "$UB" --iodepth 0 /tmp/x
	assert_failure 2
	assert_output --partial "out of range"
	run "$UB" --runtime soon /tmp/x
	assert_failure 2
}

@test "psync says it ignores iodepth" {
	tmpfs_file
	run "$UB" -m psync -q 8 -n 10 --size 1M "$F"
	tmpfs_teardown
	assert_success
	assert_output --partial "iodepth 8 ignored"
}
