#!/usr/bin/env bats
# Guest suite: the emulated NVMe controller and its namespace.

setup() {
	load helpers
	in_guest
}

@test "nvme: controller nvme0 exists and is driven by nvme" {
	[ -d /sys/class/nvme/nvme0 ] || fail "no /sys/class/nvme/nvme0"
	run readlink -f /sys/class/nvme/nvme0/device/driver
	assert_success
	assert_output --regexp '/nvme$'
	[ -c /dev/nvme0 ] || fail "no character device /dev/nvme0"
}

@test "nvme: controller reports the serial and model QEMU was given" {
	read -r serial </sys/class/nvme/nvme0/serial
	assert_equal "$serial" "$SP_NVME_SERIAL"
	run cat /sys/class/nvme/nvme0/model
	assert_output --partial "QEMU NVMe"
}

@test "nvme: namespace block device /dev/nvme0n1 exists" {
	[ -b /dev/nvme0n1 ] || fail "no block device /dev/nvme0n1"
	[ -d /sys/class/nvme/nvme0/nvme0n1 ] || fail "nvme0n1 is not a namespace of nvme0"
}

@test "nvme: namespace size equals the scratch image size" {
	read -r sectors </sys/block/nvme0n1/size
	assert_equal "$((sectors * 512))" "$SP_NVME_BYTES"
	run blockdev --getsize64 /dev/nvme0n1
	assert_success
	assert_output "$SP_NVME_BYTES"
	read -r lbs </sys/block/nvme0n1/queue/logical_block_size
	assert_equal "$lbs" 512
}

@test "nvme: generic character device /dev/ng0n1 exists" {
	[ -c /dev/ng0n1 ] || fail "no character device /dev/ng0n1 (NVMe passthrough)"
}

@test "nvme: poll queues are set up (nvme.poll_queues=2)" {
	read -r pq </sys/module/nvme/parameters/poll_queues
	assert_equal "$pq" 2
	read -r io_poll </sys/block/nvme0n1/queue/io_poll
	assert_equal "$io_poll" 1
}

@test "nvme: data written to the namespace reads back unchanged" {
	roundtrip_check /dev/nvme0n1 16 4
}
