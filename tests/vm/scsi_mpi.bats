#!/usr/bin/env bats
# Guest suite: the disk behind the emulated LSI SAS 1068 (Fusion-MPT,
# QEMU's mptsas1068), through the kernel's mptsas driver.

setup() {
	load helpers
	in_guest
	MD=$(mpt_disk)
}

@test "mpi: the disk behind mptsas has its serial, size, and sd and sg nodes" {
	[ -n "$MD" ] || fail "no sd disk behind mptsas (have: $(ls /sys/block))"
	[ -b "/dev/$MD" ] || fail "no block device /dev/$MD"
	local sg
	sg=$(ls "/sys/block/$MD/device/scsi_generic")
	[ -c "/dev/$sg" ] || fail "no sg node for $MD"
	run strings "/sys/block/$MD/device/vpd_pg80"
	assert_output --partial "$SP_MPT_SERIAL"
	run blockdev --getsize64 "/dev/$MD"
	assert_output "$SP_MPT_BYTES"
	# the megaraid_sas disk is another one
	[ "$(sas_disk)" != "$MD" ] || fail "sas_disk and mpt_disk are both $MD"
}

@test "mpi: verify randrw through sg and io_uring on the mptsas disk" {
	require_bin uring_bench
	[ -n "$MD" ] || fail "no sd disk behind mptsas"
	local sg
	sg=/dev/$(ls "/sys/block/$MD/device/scsi_generic")
	ub 400 -m sg -w randrw -q 8 --verify --size 8M "$sg"
	assert_equal "$(json .target.serial)" "$SP_MPT_SERIAL"
	[ "$(json .result.verify.readback_blocks)" -gt 0 ] || fail "sg: nothing read back"
	ub 400 -m uring -w randrw -q 8 --verify --size 8M --offset 16M "/dev/$MD"
	[ "$(json .result.verify.readback_blocks)" -gt 0 ] || fail "uring: nothing read back"
}

