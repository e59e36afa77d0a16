#!/usr/bin/env bats
# Guest suite: uring_bench with verify mode on the testbed's NVMe
# namespace and SAS disk. Checks correctness and I/O accounting only:
# timings under TCG are not device timings.

setup() {
	load helpers
	in_guest
	require_bin uring_bench
	NVME=/dev/nvme0n1
	[ -b "$NVME" ] || fail "no $NVME"
	SD=$(sas_disk)
	[ -n "$SD" ] || fail "no sd disk behind megaraid_sas"
	SAS=/dev/$SD
}


@test "uring_bench: uring randwrite with verify on NVMe" {
	ub 2000 --mode uring --rw randwrite --bs 4k --iodepth 8 --verify "$NVME"
	assert_equal "$(json .result.writes)" 2000
	assert_equal "$(json .config.verify)" true
	[ "$(json .result.verify.readback_blocks)" -gt 0 ] || fail "no block read back"
	assert_equal "$(json .target.size)" "$SP_NVME_BYTES"
}

@test "uring_bench: psync randwrite with verify on NVMe" {
	ub 1000 --mode psync --rw randwrite --bs 4k --verify "$NVME"
	assert_equal "$(json .result.writes)" 1000
	[ "$(json .result.verify.readback_blocks)" -gt 0 ] || fail "no block read back"
}

@test "uring_bench: NVMe write pass, then a read verify pass" {
	# 2048 sequential 4k writes cover the 8 MiB range exactly once ...
	ub 2048 --mode uring --rw write --bs 4k --iodepth 8 --size 8M --offset 64M --verify-seed 7 --verify "$NVME"
	# ... so a separate read run can check every block it reads.
	ub 2000 --mode uring --rw randread --bs 4k --iodepth 8 --size 8M --offset 64M --verify-seed 7 --verify "$NVME"
	assert_equal "$(json .result.reads)" 2000
	assert_equal "$(json .result.verify.blocks_checked)" 2000
	ub 500 --mode psync --rw read --bs 4k --size 8M --offset 64M --verify-seed 7 --verify "$NVME"
	assert_equal "$(json .result.verify.blocks_checked)" 500
}

@test "uring_bench: read verify fails on data written with another seed" {
	ub 256 --mode uring --rw write --bs 4k --size 1M --offset 96M --verify-seed 3 --verify "$NVME"
	run --separate-stderr "$SP_BIN/uring_bench" --json --quiet --ios 16 --mode uring --rw read \
		--bs 4k --size 1M --offset 96M --verify-seed 4 --verify "$NVME"
	assert_equal "$status" 1
}

@test "uring_bench: polled I/O (--iopoll) on the NVMe poll queues" {
	ub 1000 --mode uring --rw randread --bs 4k --iodepth 8 --iopoll "$NVME"
	assert_equal "$(json .config.iopoll)" true
}

@test "uring_bench: SQPOLL with registered files and buffers on NVMe" {
	ub 1000 --mode uring --rw randwrite --bs 4k --iodepth 8 --sqpoll --fixedbufs --regfiles --verify "$NVME"
	assert_equal "$(json .config.sqpoll)" true
}

@test "uring_bench: uring randwrite with verify on the SAS disk" {
	ub 2000 --mode uring --rw randwrite --bs 4k --iodepth 8 --verify "$SAS"
	assert_equal "$(json .result.writes)" 2000
	assert_equal "$(json .target.size)" "$SP_SAS_BYTES"
}

@test "uring_bench: psync randwrite with verify on the SAS disk" {
	ub 1000 --mode psync --rw randwrite --bs 4k --verify "$SAS"
	assert_equal "$(json .result.writes)" 1000
}

@test "uring_bench: SAS write pass, then a read verify pass" {
	ub 2048 --mode psync --rw write --bs 4k --size 8M --offset 32M --verify-seed 9 --verify "$SAS"
	ub 2000 --mode uring --rw randread --bs 4k --iodepth 8 --size 8M --offset 32M --verify-seed 9 --verify "$SAS"
	assert_equal "$(json .result.verify.blocks_checked)" 2000
}
