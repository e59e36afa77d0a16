#!/usr/bin/env bats
# Verify mode: no run may report success on corrupted data.
load ../helpers

setup() {
	tmpfs_file
}

teardown() {
	tmpfs_teardown
}

@test "written blocks are read back and checked after the run" {
	run --separate-stderr "$UB" --json -w write --verify --size 4M -n 1024 "$F"
	assert_success
	[ "$(jfield .result.verify.readback_blocks)" -eq 1024 ]
	[ "$(jfield .result.verify.blocks_checked)" -eq 1024 ]
}

@test "a read run checks every block written by an earlier run" {
	"$UB" -w write --verify --size 4M -n 1024 "$F"
	run --separate-stderr "$UB" --json -w randread --verify -n 3000 "$F"
	assert_success
	[ "$(jfield .result.verify.blocks_checked)" -eq 3000 ]
}

@test "one flipped byte fails the run with its offset" {
	"$UB" -w write --verify --size 4M -n 1024 "$F"
	printf '\x55' | dd of="$F" bs=1 seek=$((300 * 4096 + 777)) conv=notrunc status=none
	run "$UB" -w read --verify -n 1024 "$F"
	assert_failure 1
	assert_output --partial "offset 1228800: checksum mismatch"
}

@test "a failed verify is reported as failed in the summary and the JSON" {
	"$UB" -w write --verify --size 4M -n 1024 "$F"
	printf 'XXXX' | dd of="$F" bs=1 seek=8192 conv=notrunc status=none
	run "$UB" -w read --verify -n 1024 "$F"
	assert_failure 1
	refute_output --partial "0 errors"
	assert_output --partial "a block failed its check"
	run --separate-stderr "$UB" --json -w read --verify -n 1024 "$F"
	assert_failure 1
	[ "$(jfield .status)" = failed ]
	[ "$(jfield .result.errors)" -ge 1 ]
	[ "$(jfield .result.verify.mismatches)" -ge 1 ]
}

@test "a block at the wrong place is caught" {
	"$UB" -w write --verify --size 4M -n 1024 "$F"
	dd if="$F" of="$F" bs=4096 skip=5 seek=9 count=1 conv=notrunc status=none
	run "$UB" -w read --verify -n 1024 "$F"
	assert_failure 1
	assert_output --partial "offset 36864: block belongs at offset 20480"
}

@test "data of another run's seed is told apart" {
	"$UB" -w write --verify --verify-seed 11 --size 4M -n 1024 "$F"
	run "$UB" -w read --verify -n 10 "$F"
	assert_failure 1
	assert_output --partial "seed 11"
	run "$UB" -w read --verify --verify-seed 11 -n 1024 "$F"
	assert_success
}

@test "never-written blocks fail a read verify" {
	run "$UB" -w read --verify -n 10 --size 1M "$F"
	assert_failure 1
	assert_output --partial "no verify header"
}

@test "randrw with several jobs verifies inline and afterwards" {
	run --separate-stderr "$UB" --json -w randrw -j 2 -q 8 --verify --size 2M -n 4000 "$F"
	assert_success
	[ "$(jfield .result.verify.readback_blocks)" -gt 0 ]
	[ "$(jfield .result.verify.blocks_checked)" -gt "$(jfield .result.verify.readback_blocks)" ]
}

@test "psync verifies as well" {
	run "$UB" -m psync -w randwrite --verify --size 1M -n 2000 "$F"
	assert_success
	assert_output --partial "0 errors"
}

@test "the verify depth never exceeds the blocks of a job" {
	run --separate-stderr "$UB" --json -w randwrite -q 64 --verify --size 64k -n 500 "$F"
	assert_success
	[ "$(jfield .config.iodepth)" -eq 16 ]
}
