#!/usr/bin/env bats
# uring_bench on /dev/zram0, a bio-based device, when present and unused.
load ../helpers

setup() {
	require_root
	[[ -b /dev/zram0 ]] || skip "no /dev/zram0 on this kernel"
	ZRAM_WAS=$(cat /sys/block/zram0/disksize)
	if [[ $ZRAM_WAS -ne 0 ]]; then
		skip "/dev/zram0 is already configured (disksize $ZRAM_WAS): not touching it"
	fi
	echo 64M >/sys/block/zram0/disksize || skip "cannot size /dev/zram0"
}

teardown() {
	[[ ${ZRAM_WAS:-x} == 0 ]] && echo 1 >/sys/block/zram0/reset 2>/dev/null || true
}

@test "zram: uring randrw verifies" {
	run --separate-stderr "$UB" --json -w randrw --verify -n 3000 /dev/zram0
	assert_success
	[ "$(jfield .result.ios)" -eq 3000 ]
	[ "$(jfield .result.verify.readback_blocks)" -gt 0 ]
}

@test "zram: psync randrw verifies" {
	run --separate-stderr "$UB" --json -m psync -w randrw --verify -n 2000 /dev/zram0
	assert_success
	[ "$(jfield .result.ios)" -eq 2000 ]
}

@test "zram: SQPOLL with fixed buffers verifies" {
	run --separate-stderr "$UB" --json -w randwrite --verify --sqpoll --fixedbufs -n 2000 /dev/zram0
	assert_success
	[ "$(jfield .result.verify.readback_blocks)" -gt 0 ]
}
