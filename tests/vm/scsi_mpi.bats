#!/usr/bin/env bats
# Guest suite: the disk behind the emulated LSI SAS 1068 (Fusion-MPT,
# QEMU's mptsas1068), through the kernel's mptsas driver, then through
# the userspace SCSI stack with the MPI driver (scsi-vfio).

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

# The 1068 handed to vfio-pci and driven by the userspace SCSI stack
# (scsi-vfio over the MPI driver). Every test below leaves the HBA with
# mptsas (teardown restores it).

mpt_addr() {
	local d
	for d in /sys/bus/pci/drivers/mptsas/0000:*; do
		[[ -e $d ]] && { basename "$d"; return 0; }
	done
	cat "$BATS_FILE_TMPDIR/mpt_addr" 2>/dev/null
}

vfio_setup() {
	require_bin sp-vfio
	ADDR=$(mpt_addr)
	[ -n "$ADDR" ] || skip "no HBA driven by mptsas"
	echo "$ADDR" >"$BATS_FILE_TMPDIR/mpt_addr"
	BOUND=1
	run "$SP_BIN/sp-vfio" bind "$ADDR"
	[ "$status" -eq 0 ] || fail "sp-vfio bind $ADDR: $output"
	[[ $(readlink -f "/sys/bus/pci/devices/$ADDR/driver") == */vfio-pci ]] ||
		fail "$ADDR is not with vfio-pci after bind"
}

teardown() {
	[[ -n ${BOUND:-} ]] || return 0
	"$SP_BIN/sp-vfio" unbind "$ADDR" >/dev/null 2>&1 || true
	wait_for 30 test -n "$(mpt_disk)" || echo "teardown: the mptsas disk did not come back" >&2
}

@test "mpi scsi-vfio: verify randrw at QD1 and QD32, no syscalls per I/O, device time" {
	vfio_setup
	ub 300 -m scsi-vfio -w randrw -q 1 --verify "$ADDR"
	assert_equal "$(json .result.errors)" 0
	assert_equal "$(json .result.syscalls.per_io)" 0
	json '.result.device_latency_ns.p50 > 0' >/dev/null || fail "no device time: $output"
	assert_equal "$(json .target.serial)" "$SP_MPT_SERIAL"
	assert_equal "$(json .target.size)" "$SP_MPT_BYTES"
	ub 1000 -m scsi-vfio -w randrw -q 32 --verify "$ADDR"
	assert_equal "$(json .result.errors)" 0
	[ "$(json .result.verify.readback_blocks)" -gt 0 ] || fail "nothing read back"
}

@test "mpi scsi-vfio: written through the userspace stack, read back through sg after rebinding, and the other way" {
	local blocks=16 sd sg
	sd=$(mpt_disk)
	[ -n "$sd" ] || fail "no sd disk behind mptsas"
	head -c $((blocks * 512)) /dev/urandom >"$BATS_TEST_TMPDIR/k"
	dd if="$BATS_TEST_TMPDIR/k" of="/dev/$sd" bs=512 seek=2048 oflag=direct conv=fsync 2>/dev/null ||
		fail "writing through /dev/$sd failed"
	vfio_setup
	run "$SP_BIN/sp-io" -m scsi-vfio read --lba 2048 --blocks $blocks --out "$BATS_TEST_TMPDIR/u" "$ADDR"
	[ "$status" -eq 0 ] || fail "sp-io read through scsi-vfio: $output"
	cmp "$BATS_TEST_TMPDIR/k" "$BATS_TEST_TMPDIR/u" || fail "scsi-vfio read other data than the kernel wrote"
	head -c $((blocks * 512)) /dev/urandom >"$BATS_TEST_TMPDIR/w"
	run "$SP_BIN/sp-io" -m scsi-vfio write --lba 6144 --blocks $blocks --in "$BATS_TEST_TMPDIR/w" "$ADDR"
	[ "$status" -eq 0 ] || fail "sp-io write through scsi-vfio: $output"
	run "$SP_BIN/sp-vfio" unbind "$ADDR"
	[ "$status" -eq 0 ] || fail "sp-vfio unbind: $output"
	wait_for 30 test -n "$(mpt_disk)" || fail "the mptsas disk did not come back"
	sd=$(mpt_disk)
	wait_for 10 test -d "/sys/block/$sd/device/scsi_generic" || fail "no sg node for $sd"
	sg=$(ls "/sys/block/$sd/device/scsi_generic")
	wait_for 10 test -c "/dev/$sg" || fail "/dev/$sg did not appear"
	sg_dd if="/dev/$sg" of="$BATS_TEST_TMPDIR/g" bs=512 skip=6144 count=$blocks >/dev/null 2>&1 ||
		fail "reading through /dev/$sg failed"
	cmp "$BATS_TEST_TMPDIR/w" "$BATS_TEST_TMPDIR/g" || fail "sg read other data than scsi-vfio wrote"
}

@test "mpi scsi-vfio: an LBA out of range comes back as decoded sense, exit 1" {
	vfio_setup
	run --separate-stderr "$SP_BIN/sp-io" -m scsi-vfio read --past-end --lba $((SP_MPT_BYTES / 512)) "$ADDR"
	[ "$status" -eq 1 ] || fail "exit $status: $output $stderr"
	[[ $stderr == *"ILLEGAL REQUEST"* && $stderr == *"out of range"* ]] ||
		fail "not the decoded sense: $stderr"
}

@test "mpi scsi-vfio: 20 bring-ups with nothing left behind; fenced DMA; abort and reset recover" {
	vfio_setup
	run "$SP_BIN/sp-vfio" --json --cycles 20 check "$ADDR"
	[ "$status" -eq 0 ] || fail "sp-vfio check: $output"
	steps_ok bring-up unmapped-iova after-fault lba-out-of-range abort reset
}

@test "mpi scsi-vfio: a request the IOC never answers is timed out, the HBA reset, ETIMEDOUT in words" {
	vfio_setup
	run "$SP_BIN/sp-vfio" --json --cycles 1 check "$ADDR"
	[ "$status" -eq 0 ] || fail "sp-vfio check: $output"
	local d
	d=$(json '.steps[] | select(.name == "timeout") | .detail')
	json '.steps[] | select(.name == "timeout") | .ok' >/dev/null || fail "timeout step: $d"
	# QEMU's IOC faults on the request: the abort is not answered either,
	# so the HBA is reset
	[[ $d == *"EVENT_ACK"*"unanswered for 1000 ms"*"abort not answered, the HBA reset"* ]] ||
		fail "not aborted and reset: $d"
	[[ $d == *"ETIMEDOUT (HBA: timed out)"* ]] || fail "not ETIMEDOUT in words: $d"
	[[ $d == *"a read afterwards: ok" ]] || fail "the HBA did not serve a read afterwards: $d"
}

@test "mpi: sp-vfio finds the disk under the SAS transport; an open disk keeps the HBA with mptsas" {
	require_bin sp-vfio
	ADDR=$(mpt_addr)
	[ -n "$ADDR" ] || skip "no HBA driven by mptsas"
	[ -n "$MD" ] || fail "no sd disk behind mptsas"
	# hostN/port-*/end_device-*/target*/H:C:T:L: found however deep
	run "$SP_BIN/sp-vfio" --json status "$ADDR"
	[ "$status" -eq 0 ] || fail "sp-vfio status: $output"
	assert_equal "$(json '.namespaces | map(.name) | join(",")')" "$MD"
	sleep 600 <"/dev/$MD" &
	local bg=$!
	run "$SP_BIN/sp-vfio" bind "$ADDR"
	kill "$bg"
	wait "$bg" 2>/dev/null || true
	[ "$status" -eq 2 ] || fail "bind of an HBA with an open disk: exit $status: $output"
	assert_output --partial "open by PID $bg"
	[[ $(readlink -f "/sys/bus/pci/devices/$ADDR/driver") == */mptsas ]] ||
		fail "the HBA left mptsas"
}

@test "mpi: ab-compare runs kernel block, sg and scsi-vfio on the mptsas disk, the HBA back with mptsas" {
	[ -n "$MD" ] || fail "no sd disk behind mptsas"
	ADDR=$(mpt_addr)
	run --separate-stderr "$SP_BIN/ab-compare" --json -r 1 -n 100 -q 1 "/dev/$MD"
	[ "$status" -eq 0 ] || fail "ab-compare exited $status: $stderr"
	assert_equal "$(json '.paths | map(.name) | join(",")')" uring,sg,scsi-vfio
	assert_equal "$(json '.paths[2].summary.syscalls_per_io.median')" 0
	assert_equal "$(json '[.paths[].dev_time] | join(",")')" iolat,iolat,driver
	[[ $(readlink -f "/sys/bus/pci/devices/$ADDR/driver") == */mptsas ]] ||
		fail "the HBA is not back with mptsas"
	wait_for 30 test -n "$(mpt_disk)" || fail "the mptsas disk did not come back"
}
