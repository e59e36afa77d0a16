#!/usr/bin/env bats
# Guest suite: SCSI passthrough (uring_bench --mode sg: the sg v3
# asynchronous interface driven by io_uring) on the megaraid_sas disk
# and on scsi_debug. Correctness and accounting only.

setup() {
	load helpers
	in_guest
	require_bin uring_bench
	SD=$(sas_disk)
	[ -n "$SD" ] || fail "no sd disk behind megaraid_sas"
	SG=/dev/$(ls "/sys/block/$SD/device/scsi_generic")
}

teardown() {
	if [[ -n ${DEBUG_LOADED:-} ]]; then
		modprobe -r scsi_debug 2>/dev/null || true
	fi
}


@test "sg: the disk is identified from its sd and its sg node" {
	for node in "/dev/$SD" "$SG"; do
		ub 10 -m sg "$node"
		assert_equal "$(json .target.node)" "$SG"
		assert_equal "$(json .target.size)" "$SP_SAS_BYTES"
		assert_equal "$(json .target.model)" "QEMU QEMU HARDDISK"
		assert_equal "$(json .target.serial)" "$SP_SAS_SERIAL"
	done
}

@test "sg: verify at QD1 and QD16, with and without SQPOLL and a registered file" {
	for qd in 1 16; do
		for extra in "" "--sqpoll" "--regfiles" "--sqpoll --regfiles"; do
			# shellcheck disable=SC2086
			ub 200 -m sg -w randrw -q "$qd" --verify --size 8M $extra "$SG"
			[ "$(json .result.verify.readback_blocks)" -gt 0 ] ||
				fail "qd $qd $extra: nothing read back"
		done
	done
}

@test "sg: data written through sg reads back through the block device, and back" {
	ub 1024 -m sg -w write --verify --verify-seed 31 --size 4M --offset 16M "$SG"
	ub 1024 -m uring -w read --verify --verify-seed 31 --size 4M --offset 16M "/dev/$SD"
	assert_equal "$(json .result.verify.blocks_checked)" 1024
	ub 512 -m uring -w write --verify --verify-seed 32 --bs 8k --size 4M --offset 24M "/dev/$SD"
	ub 512 -m sg -w read --verify --verify-seed 32 --bs 8k --size 4M --offset 24M "$SG"
	assert_equal "$(json .result.verify.blocks_checked)" 512
}

@test "sg: one SCSI command per I/O and one syscall per I/O at QD1" {
	ub 500 -m sg -q 1 "$SG"
	jq -e '.result.syscalls.self_counted == 500' <<<"$output" >/dev/null ||
		fail "syscalls: $(json .result.syscalls.self_counted)"
}

@test "sg: options that do not apply are refused (2) with the reason" {
	run "$SP_BIN/uring_bench" -m sg --fixedbufs -n 1 "$SG"
	assert_equal "$status" 2
	assert_output --partial "registered buffers do not apply"
	run "$SP_BIN/uring_bench" -m sg --iopoll -n 1 "$SG"
	assert_equal "$status" 2
	assert_output --partial "no polled completions"
	run "$SP_BIN/uring_bench" -m sg -n 1 /dev/nvme0n1
	assert_equal "$status" 2
	assert_output --partial "not a SCSI disk"
}

@test "sg: a medium error is reported with its sense, and nothing else is lost" {
	# scsi_debug fails reads of LBAs 4096..4103 with MEDIUM ERROR 11/00
	modprobe scsi_debug dev_size_mb=8 opts=2 medium_error_start=4096 medium_error_count=8 ||
		skip "scsi_debug cannot be loaded"
	DEBUG_LOADED=1
	dbg=
	wait_for 10 bash -c 'grep -l scsi_debug /sys/block/sd*/device/model >/dev/null 2>&1'
	for m in /sys/block/sd*/device/model; do
		grep -q scsi_debug "$m" && dbg=$(basename "$(dirname "$(dirname "$m")")")
	done
	[ -n "$dbg" ] || fail "scsi_debug disk did not appear"
	run --separate-stderr "$SP_BIN/uring_bench" --json --quiet -m sg -w read -q 8 \
		--bs 4k -n 1024 "/dev/$dbg"
	assert_equal "$status" 1
	[[ $stderr == *"at offset 2097152 (LBA 4096) failed: MEDIUM ERROR: Unrecovered read error (ASC 0x11, ASCQ 0x00)"* ]] ||
		fail "stderr: $stderr"
	assert_equal "$(json .status)" failed
	assert_equal "$(json .result.errors)" 1
	# every I/O sent is accounted for: completed or failed
	assert_equal "$(json '.result.ios + .result.errors')" "$(json .result.issued)"
}

@test "sg: io_uring hands no request to io-wq (O_NONBLOCK: inline writes, poll-armed reads)" {
	require_bin sp-cost
	run "$SP_BIN/sp-cost" --json --output "$BATS_TEST_TMPDIR/cost" \
		-e io_uring:io_uring_queue_async_work -e io_uring:io_uring_create -- \
		"$SP_BIN/uring_bench" --quiet -m sg -q 16 -n 1000 "$SG"
	assert_success
	cost=$(cat "$BATS_TEST_TMPDIR/cost")
	# the counters do count: the rings the run created (the bsg probe's
	# and the job's) were seen
	[ "$(jq '.events["io_uring:io_uring_create"]' <<<"$cost")" -ge 1 ] || fail "$cost"
	assert_equal "$(jq '.events["io_uring:io_uring_queue_async_work"]' <<<"$cost")" 0
}

@test "sg: two jobs, each with its own fd and ring, verify their halves" {
	ub 400 -m sg -j 2 -q 8 -w randrw --verify --size 8M "$SG"
	assert_equal "$(json .result.ios)" 800
	[ "$(json .result.verify.readback_blocks)" -gt 0 ] || fail "nothing read back"
}
