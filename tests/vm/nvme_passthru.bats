#!/usr/bin/env bats
# Guest suite: NVMe passthrough (uring_bench --mode nvme, io_uring
# uring_cmd on /dev/ng0n1). Correctness and accounting only.

setup() {
	load helpers
	in_guest
	require_bin uring_bench
	[ -c /dev/ng0n1 ] || fail "no /dev/ng0n1"
}


@test "nvme passthrough: the namespace is identified from either node" {
	for node in /dev/ng0n1 /dev/nvme0n1; do
		ub 10 -m nvme "$node"
		assert_equal "$(json .target.path)" "$node"
		assert_equal "$(json .target.node)" /dev/ng0n1
		assert_equal "$(json .target.size)" "$SP_NVME_BYTES"
		assert_equal "$(json .target.logical_block_size)" 512
		[[ $(json .config.setup) == *"uring_cmd nsid 1"*SQE128*CQE32* ]] ||
			fail "setup: $(json .config.setup)"
	done
}

@test "nvme passthrough: verify at QD1 and QD32, fixed buffers, SQPOLL and IOPOLL on and off" {
	for qd in 1 32; do
		for extra in "" "--fixedbufs" "--sqpoll" "--iopoll" "--fixedbufs --regfiles --sqpoll"; do
			# shellcheck disable=SC2086
			ub 256 -m nvme -w randrw -q "$qd" --verify --size 16M $extra /dev/ng0n1
			[ "$(json .result.verify.readback_blocks)" -gt 0 ] ||
				fail "qd $qd $extra: nothing read back"
		done
	done
}

@test "nvme passthrough: vectored commands (NVME_URING_CMD_IO_VEC) verify" {
	ub 800 -m nvme --vectored -w randrw --verify --size 8M /dev/ng0n1
	[[ $(json .config.setup) == *vectored* ]] || fail "setup: $(json .config.setup)"
	assert_equal "$(json .config.vectored)" true
	run "$SP_BIN/uring_bench" -m nvme --vectored --fixedbufs -n 1 /dev/ng0n1
	assert_equal "$status" 2
	run "$SP_BIN/uring_bench" -m uring --vectored -n 1 /dev/nvme0n1
	assert_equal "$status" 2
}

@test "nvme passthrough: data written by passthrough reads back through the block device" {
	ub 2048 -m nvme -w write --verify --verify-seed 21 --bs 4k --size 8M --offset 40M /dev/ng0n1
	ub 2048 -m uring -w read --verify --verify-seed 21 --bs 4k --size 8M --offset 40M /dev/nvme0n1
	assert_equal "$(json .result.verify.blocks_checked)" 2048
}

@test "nvme passthrough: data written through the block device reads back by passthrough" {
	ub 1024 -m uring -w write --verify --verify-seed 22 --bs 8k --size 8M --offset 56M /dev/nvme0n1
	ub 1024 -m nvme -w read --verify --verify-seed 22 --bs 8k --size 8M --offset 56M --fixedbufs /dev/ng0n1
	assert_equal "$(json .result.verify.blocks_checked)" 1024
}

@test "nvme passthrough: transfers above the device limit are refused (2)" {
	run "$SP_BIN/uring_bench" -m nvme --bs 64m -n 1 /dev/ng0n1
	assert_equal "$status" 2
	assert_output --partial "exceeds the largest transfer"
}

@test "nvme passthrough: a non-NVMe device is refused (2)" {
	run "$SP_BIN/uring_bench" -m nvme -n 1 "/dev/$(sas_disk)"
	assert_equal "$status" 2
	assert_output --partial "is not an NVMe namespace"
}

@test "nvme passthrough: a namespace with a signature is not written" {
	# a swap signature, as mkswap writes it: version 1 at 1024, magic at 4086
	printf '\x01\x00\x00\x00\xff\x03\x00\x00' | dd of=/dev/nvme0n1 bs=1 seek=1024 conv=notrunc status=none
	printf 'SWAPSPACE2' | dd of=/dev/nvme0n1 bs=1 seek=4086 conv=notrunc status=none
	sync
	before=$(dd if=/dev/nvme0n1 bs=1M count=1 iflag=direct status=none | md5sum)
	run "$SP_BIN/uring_bench" -m nvme -w write -n 100 /dev/ng0n1
	after=$(dd if=/dev/nvme0n1 bs=1M count=1 iflag=direct status=none | md5sum)
	dd if=/dev/zero of=/dev/nvme0n1 bs=4096 count=1 conv=notrunc status=none
	assert_equal "$status" 2
	assert_output --partial "swap"
	assert_equal "$after" "$before"
}

@test "nvme passthrough: self-counted syscalls agree with the kernel's count" {
	# The kernel also counts the clock reads when they are syscalls.
	for extra in "-q 1" "-q 32" "-q 32 --fixedbufs"; do
		# shellcheck disable=SC2086
		ub 2000 -m nvme --syscalls kernel $extra /dev/ng0n1
		kern=$(json .result.syscalls.total)
		self=$(json .result.syscalls.self_counted)
		# without a vDSO clock (hpet under TCG) every clock read is a syscall
		clk=$(json .result.syscalls.clock_reads)
		[ "$kern" -ge "$self" ] || fail "$extra: kernel $kern < self $self"
		# the kernel's window also holds the run's set-up and tear-down
		# (ring, registered buffers and ring fd, mmaps, threads): about 50
		# calls, a few more with --fixedbufs, whatever the I/O count
		[ "$kern" -le $((self + clk + self / 50 + 80)) ] ||
			fail "$extra: kernel $kern > self $self + clock reads $clk"
	done
}

@test "nvme passthrough: a mounted namespace is not written, even with --force" {
	modprobe ext4 || fail "no ext4 module in the testbed"
	mkfs.ext4 -q -F /dev/nvme0n1
	mkdir -p /mnt/sp-ns
	mount /dev/nvme0n1 /mnt/sp-ns || fail "cannot mount the namespace"
	run "$SP_BIN/uring_bench" -m nvme -w write --force -n 10 /dev/ng0n1
	umount /mnt/sp-ns
	dd if=/dev/zero of=/dev/nvme0n1 bs=1M count=2 conv=notrunc status=none
	assert_equal "$status" 2
	assert_output --partial "is mounted on /mnt/sp-ns"
}

@test "nvme passthrough: two jobs, each with its own ring, verify their halves" {
	ub 500 -m nvme -j 2 -q 8 -w randrw --verify --size 16M /dev/ng0n1
	assert_equal "$(json .result.ios)" 1000
	assert_equal "$(json '.jobs | length')" 2
	[ "$(json .result.verify.readback_blocks)" -gt 0 ] || fail "nothing read back"
}
