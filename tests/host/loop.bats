#!/usr/bin/env bats
# uring_bench on a loop device (direct I/O on a tmpfs file): every mode,
# with verify, on a real block device.
load ../helpers

setup() {
	loop_setup 32M
}

teardown() {
	loop_teardown
}

verify_mode() {
	run --separate-stderr "$UB" --json -w randrw -M 60 --verify -n 3000 "$@" "$LOOP_DEV"
	assert_success
	[ "$(jfield .target.kind)" = block ]
	[ "$(jfield .result.ios)" -eq $((3000 * $(jfield .config.jobs))) ]
	[ "$(jfield .result.verify.readback_blocks)" -gt 0 ]
	[ "$(jfield .result.writes)" -gt 0 ]
}

@test "loop: psync randrw verifies" {
	verify_mode -m psync
}

@test "loop: uring randrw verifies" {
	verify_mode -m uring -q 32
}

@test "loop: uring with fixed buffers and registered file verifies" {
	verify_mode -m uring --fixedbufs --regfiles
	[[ $(jfield .config.setup) == *"fixed buffers"* ]]
}

@test "loop: SQPOLL pinned to CPU 0 verifies" {
	verify_mode -m uring --sqpoll --sq-cpu 0 --fixedbufs
	[[ $(jfield .config.setup) == *SQPOLL*SQ_AFF* ]] ||
		[[ $(jfield .config.setup) == *SQ_AFF* ]]
}

@test "loop: two jobs on disjoint halves verify" {
	verify_mode -m uring -j 2 -q 16
	[ "$(jfield '.jobs | length')" -eq 2 ]
}

@test "loop: size of the device is read from the kernel" {
	run --separate-stderr "$UB" --json -n 10 "$LOOP_DEV"
	assert_success
	[ "$(jfield .target.size)" -eq $((32 << 20)) ]
	[ "$(jfield .target.logical_block_size)" -eq 512 ]
}

@test "loop: the data written reaches the backing file" {
	"$UB" -w write --verify --bs 64k -n 512 "$LOOP_DEV"
	[ "$(od -An -c -j $((511 * 65536)) -N4 "$LOOP_DIR/backing" | tr -d ' ')" = SPVF ]
}
