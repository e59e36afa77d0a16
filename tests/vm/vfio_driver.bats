#!/usr/bin/env bats
# Guest suite: the userspace NVMe driver (uring_bench --mode vfio) and
# sp-vfio. Every test leaves the controller bound to nvme (teardown
# returns it), because the other suites need /dev/nvme0n1.

setup() {
	load helpers
	in_guest
	require_bin sp-vfio
	require_bin uring_bench
	if [[ ! -f $BATS_FILE_TMPDIR/addr ]]; then
		[ -d /sys/class/nvme/nvme0 ] || fail "NVMe controller nvme0 missing"
		pci_addr_of /sys/class/nvme/nvme0 >"$BATS_FILE_TMPDIR/addr"
	fi
	BDF=$(cat "$BATS_FILE_TMPDIR/addr")
	[ -d /sys/bus/pci/devices/$BDF/iommu_group ] ||
		fail "$BDF has no IOMMU group (intel_iommu=on, intel-iommu device?)"
}

teardown() {
	[[ -n ${BG:-} ]] && { kill "$BG" 2>/dev/null; wait "$BG" 2>/dev/null; }
	if grep -q " /mnt/sp-vfio " /proc/mounts; then
		umount /mnt/sp-vfio
		dd if=/dev/zero of=/dev/nvme0n1 bs=1M count=4 conv=fsync 2>/dev/null
	fi
	"$SP_BIN/sp-vfio" unbind "$BDF" >/dev/null ||
		echo "teardown: sp-vfio unbind $BDF failed" >&2
	[ -b /dev/nvme0n1 ] || fail "/dev/nvme0n1 did not come back"
}

bind() {
	run "$SP_BIN/sp-vfio" bind "$BDF"
	[ "$status" -eq 0 ] || fail "sp-vfio bind $BDF exited $status: $output"
}

# the group, not the container: /dev/vfio/vfio is opened first, and a
# second process that opens the group in between takes the device
holds_vfio() {
	ls -l "/proc/$1/fd" 2>/dev/null | grep -qE '/dev/vfio/(noiommu-)?[0-9]+$'
}

on_vfio() {
	[ "$(driver)" = vfio-pci ]
}

driver() {
	basename "$(readlink -f "/sys/bus/pci/devices/$BDF/driver")"
}

@test "sp-vfio: bind moves the controller to vfio-pci, unbind brings nvme0n1 back" {
	bind
	assert_output --partial "bound to vfio-pci"
	assert_equal "$(driver)" vfio-pci
	[ ! -e /dev/nvme0n1 ] || fail "/dev/nvme0n1 still there"
	run --separate-stderr "$SP_BIN/sp-vfio" --json status "$BDF"
	assert_equal "$(json .driver)" vfio-pci
	run "$SP_BIN/sp-vfio" unbind "$BDF"
	[ "$status" -eq 0 ] || fail "unbind exited $status: $output"
	assert_equal "$(driver)" nvme
	[ -b /dev/nvme0n1 ] || fail "/dev/nvme0n1 is missing right after unbind"
	read -r sectors </sys/block/nvme0n1/size
	assert_equal "$((sectors * 512))" "$SP_NVME_BYTES"
}

@test "vfio: 20 bring-ups and tear-downs leak nothing; nvme works afterwards" {
	bind
	run --separate-stderr "$SP_BIN/sp-vfio" --json --cycles 20 check "$BDF"
	echo "$output"
	[ "$status" -eq 0 ] || fail "sp-vfio check exited $status: $stderr"
	assert_equal "$(json .ok)" true
	assert_equal "$(json '[.steps[] | select(.ok)] | length')" 5
	json '.steps[0].detail' | grep -q "20 bring-ups" || fail "not 20 cycles"
	"$SP_BIN/sp-vfio" unbind "$BDF" >/dev/null
	roundtrip_check /dev/nvme0n1 64 4
}

@test "vfio: a read into an IOVA never mapped is fenced by the IOMMU" {
	bind
	run --separate-stderr "$SP_BIN/sp-vfio" --json --cycles 1 check "$BDF"
	step=$(jq -c '.steps[] | select(.name == "unmapped-iova")' <<<"$output")
	echo "$step"
	assert_equal "$(jq -r .ok <<<"$step")" true
	jq -r .detail <<<"$step" | grep -q "mapped memory untouched" || fail "memory changed"
	# the controller still answers afterwards
	assert_equal "$(jq -r '.steps[] | select(.name == "after-fault") | .ok' <<<"$output")" true
}

@test "vfio: data written through VFIO reads back through the kernel block device" {
	bind
	ub 1024 -m vfio -w write -q 16 --verify --verify-seed 11 --offset 8M --size 4M "$BDF"
	assert_equal "$(json .result.syscalls.per_io)" 0
	assert_equal "$(json .target.kind)" pci
	"$SP_BIN/sp-vfio" unbind "$BDF" >/dev/null
	# every block once, sequentially: each header and CRC is checked
	ub 1024 -m uring -w read -q 16 --verify --verify-seed 11 --offset 8M --size 4M /dev/nvme0n1
	assert_equal "$(json .result.verify.blocks_checked)" 1024
}

@test "vfio: a namespace with a filesystem is not written through VFIO without --force" {
	modprobe ext4 || fail "no ext4 module in the testbed"
	mkfs.ext4 -q -F /dev/nvme0n1 >/dev/null
	bind
	# the kernel cannot see the disk now: the signature is read through
	# the userspace driver itself
	run --separate-stderr "$SP_BIN/uring_bench" -m vfio -w randwrite --ios 64 "$BDF"
	local st=$status err=$stderr
	run --separate-stderr "$SP_BIN/sp-io" -m vfio write --lba 0 --pattern 0x55 "$BDF"
	local io_st=$status io_err=$stderr
	run "$SP_BIN/uring_bench" -m vfio -w read --ios 64 "$BDF"
	local rd_st=$status
	"$SP_BIN/sp-vfio" unbind "$BDF" >/dev/null
	# nothing was written: the filesystem is whole
	# the ext4 superblock's magic, 0xef53 at byte 1080
	local fs
	fs=$(dd if=/dev/nvme0n1 bs=1 skip=1080 count=2 2>/dev/null | od -An -tx2 | tr -d ' ')
	bind
	run "$SP_BIN/sp-io" -m vfio write --force --lba 0 --blocks 8 --pattern 0 "$BDF"
	local force_st=$status
	"$SP_BIN/sp-vfio" unbind "$BDF" >/dev/null
	dd if=/dev/zero of=/dev/nvme0n1 bs=1M count=4 conv=fsync 2>/dev/null
	[ "$st" -eq 2 ] || fail "uring_bench wrote to an ext4 namespace: exit $st: $err"
	[[ $err == *"carries a ext4 filesystem/volume signature (read through the vfio driver)"* ]] ||
		fail "uring_bench: $err"
	[ "$io_st" -eq 2 ] || fail "sp-io wrote to an ext4 namespace: exit $io_st: $io_err"
	[[ $io_err == *"refusing to write without --force"* ]] || fail "sp-io: $io_err"
	[ "$rd_st" -eq 0 ] || fail "a read run was refused: exit $rd_st"
	assert_equal "$fs" ef53
	[ "$force_st" -eq 0 ] || fail "sp-io --force: exit $force_st"
}

@test "vfio: data written through the kernel reads back through VFIO" {
	ub 1024 -m uring -w write -q 16 --verify --verify-seed 12 --offset 16M --size 4M /dev/nvme0n1
	sync
	bind
	ub 1024 -m vfio -w read -q 16 --verify --verify-seed 12 --offset 16M --size 4M "$BDF"
	assert_equal "$(json .result.verify.blocks_checked)" 1024
}

@test "vfio: verify at QD1 and QD32 with several queue pairs" {
	bind
	ub 300 -m vfio -w randrw -q 1 -j 2 --verify --size 8M "$BDF"
	assert_equal "$(json .result.errors)" 0
	json .config.setup | grep -q "queue pair" || fail "setup: $(json .config.setup)"
	ub 1000 -m vfio -w randrw -q 32 -j 3 --verify --size 16M "$BDF"
	[ "$(json .result.verify.readback_blocks)" -gt 0 ] || fail "nothing read back"
	# larger transfers: PRP lists
	ub 200 -m vfio -w randrw -b 64k -q 8 -j 2 --verify --size 16M "$BDF"
}

@test "vfio: huge pages for the buffers when the system has them; MDTS respected" {
	bind
	echo 16 >/proc/sys/vm/nr_hugepages
	ub 200 -m vfio -w randrw -q 8 --verify --size 8M "$BDF"
	pages=$(json .config.setup)
	echo 0 >/proc/sys/vm/nr_hugepages
	[[ $pages == *"huge-page buffers"* ]] || fail "no huge pages: $pages"
	ub 200 -m vfio -w randrw -q 8 --verify --size 8M "$BDF"
	[[ $(json .config.setup) == *"pinned 4 KiB-page buffers"* ]] || fail "$(json .config.setup)"
	max=$("$SP_BIN/uring_bench" -m vfio --json -n 1 "$BDF" | jq -r .target.max_transfer)
	[ "$max" -gt 0 ] || fail "no transfer limit reported"
	run --separate-stderr "$SP_BIN/uring_bench" -m vfio -n 1 -b $((max * 2)) "$BDF"
	[ "$status" -eq 2 ] || fail "a transfer above MDTS: exit $status"
	[[ $stderr == *"exceeds the largest transfer"* ]] || fail "$stderr"
	ub 50 -m vfio -w randrw -b "$max" -q 2 --verify --size 16M "$BDF"
}

@test "vfio: an LBA out of range gives the decoded status and exit 1" {
	bind
	blocks=$((SP_NVME_BYTES / 512))
	run --separate-stderr "$SP_BIN/sp-io" -m vfio read --past-end --lba "$blocks" "$BDF"
	[ "$status" -eq 1 ] || fail "sp-io exited $status: $stderr"
	[[ $stderr == *"LBA Out of Range (SCT 0x0, SC 0x80"* ]] || fail "no decoded status: $stderr"
	run "$SP_BIN/sp-io" -m vfio read --lba 0 "$BDF"
	[ "$status" -eq 0 ] || fail "read of LBA 0 afterwards: $output"
}

@test "vfio: unknown BDF, device in use, device still on nvme: exit 2, one line" {
	run --separate-stderr "$SP_BIN/uring_bench" -m vfio -n 1 0000:00:1f.6
	[ "$status" -eq 2 ] || fail "unknown BDF: exit $status"
	[[ $stderr == *"no such PCI device"* ]] || fail "unknown BDF: $stderr"
	assert_equal "$(wc -l <<<"$stderr")" 1
	run --separate-stderr "$SP_BIN/uring_bench" -m vfio -n 1 "$BDF"
	[ "$status" -eq 2 ] || fail "bound to nvme: exit $status"
	[[ $stderr == *"not vfio-pci: run sp-vfio bind"* ]] || fail "bound to nvme: $stderr"
	bind
	"$SP_BIN/uring_bench" -m vfio -q 1 -t 60s --quiet "$BDF" >/dev/null 2>"$BATS_TEST_TMPDIR/bg.err" &
	BG=$!
	wait_for 20 holds_vfio "$BG" || fail "first run did not start"
	run --separate-stderr "$SP_BIN/uring_bench" -m vfio -n 1 "$BDF"
	# the first run must hold the group from its probe on: when the probe
	# closed it before the open, a second run could take the device in
	# between (seen three times); say whether the first had ended, and why
	[ "$status" -eq 2 ] || fail "device in use: exit $status; first run $(kill -0 "$BG" 2>/dev/null &&
		echo "still running" || echo "ended: $(cat "$BATS_TEST_TMPDIR/bg.err")")"
	[[ $stderr == *"in use"* ]] || fail "device in use: $stderr"
	run --separate-stderr "$SP_BIN/sp-vfio" unbind "$BDF"
	[ "$status" -eq 2 ] || fail "unbind while in use: exit $status"
	[[ $stderr == *"in use"*"PID $BG"* ]] || fail "unbind while in use: $stderr"
	assert_equal "$(driver)" vfio-pci
}

@test "sp-vfio: refuses a mounted namespace, an open one, and a non-NVMe device" {
	require_bin sp-vfio
	modprobe ext4 || fail "no ext4 module in the testbed"
	mkfs.ext4 -q -F /dev/nvme0n1 >/dev/null
	mkdir -p /mnt/sp-vfio
	mount /dev/nvme0n1 /mnt/sp-vfio || fail "cannot mount the namespace"
	run --separate-stderr "$SP_BIN/sp-vfio" bind "$BDF"
	[ "$status" -eq 2 ] || fail "mounted: exit $status"
	[[ $stderr == *"nvme0n1 is mounted on /mnt/sp-vfio"* ]] || fail "mounted: $stderr"
	assert_equal "$(wc -l <<<"$stderr")" 1
	umount /mnt/sp-vfio
	dd if=/dev/zero of=/dev/nvme0n1 bs=1M count=4 conv=fsync 2>/dev/null
	sleep 600 </dev/nvme0n1 &
	BG=$!
	run --separate-stderr "$SP_BIN/sp-vfio" bind "$BDF"
	[ "$status" -eq 2 ] || fail "open: exit $status"
	[[ $stderr == *"nvme0n1 is open by PID $BG (sleep)"* ]] || fail "open: $stderr"
	kill "$BG"
	wait "$BG" 2>/dev/null || true
	BG=
	assert_equal "$(driver)" nvme
	# SAS/RAID HBAs are sp-vfio's too (scsi_vfio.bats); a NIC is neither
	nic=$(ls /sys/bus/pci/drivers/e1000e | grep : | head -1)
	run --separate-stderr "$SP_BIN/sp-vfio" bind "$nic"
	[ "$status" -eq 2 ] || fail "non-NVMe: exit $status"
	[[ $stderr == *"neither an NVMe controller nor a SCSI HBA"* ]] || fail "non-NVMe: $stderr"
}

@test "sp-vfio: a signal during bind leaves the controller with one driver" {
	# SIGTERM lands before, during or after the move: the move is then
	# not started, undone, or complete; never half-way
	"$SP_BIN/sp-vfio" bind "$BDF" >/dev/null 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	sleep 0.3
	kill -TERM "$pid" 2>/dev/null || true
	rc=0
	wait "$pid" || rc=$?
	echo "bind exited $rc: $(cat "$BATS_TEST_TMPDIR/err")"
	if [ "$rc" -eq 0 ]; then
		assert_equal "$(driver)" vfio-pci
	else
		assert_equal "$(driver)" nvme
		wait_for 30 test -b /dev/nvme0n1 || fail "/dev/nvme0n1 did not come back"
	fi
}

@test "ab-compare: kernel vs VFIO interleaved, structural figures, device time on every row, nvme back at the end" {
	[[ -x $SP_BIN/ab-compare ]] || skip "ab-compare is not in the initramfs"
	run --separate-stderr "$SP_BIN/ab-compare" --json -r 2 -n 200 -q 4 /dev/nvme0n1 uring nvme vfio
	[ "$status" -eq 0 ] || fail "ab-compare exited $status: $stderr"
	assert_equal "$(json '.paths | map(.name) | join(",")')" uring,nvme,vfio
	assert_equal "$(json '[.paths[].runs | length] | join(",")')" 2,2,2
	assert_equal "$(json .emulated)" true
	assert_equal "$(json '.paths[2].summary.syscalls_per_io.median')" 0
	assert_equal "$(json '.paths[2].summary.irqs_per_io.median')" 0
	# device time on every row: the driver's own for vfio, iolat's for the kernel paths
	json '[.paths[].summary.dev_p50_ns.median | . != null and . > 0] | all' >/dev/null ||
		fail "a path without device time: $output"
	assert_equal "$(json '[.paths[].dev_time] | join(",")')" iolat,iolat,driver
	[ "$(json '.paths[0].summary.irqs_per_io.median')" != 0 ] || fail "no interrupts counted for uring"
	assert_equal "$(json '.paths[0].summary.iops.ratio')" 1
	assert_equal "$(driver)" nvme
	[ -b /dev/nvme0n1 ] || fail "/dev/nvme0n1 not back"
}

@test "ab-compare: stopped half-way, it returns the controller to nvme" {
	[[ -x $SP_BIN/ab-compare ]] || skip "ab-compare is not in the initramfs"
	"$SP_BIN/ab-compare" --json -r 50 -t 1s /dev/nvme0n1 uring vfio >/dev/null 2>&1 &
	pid=$!
	wait_for 60 on_vfio || fail "ab-compare never bound vfio-pci"
	kill -TERM "$pid"
	wait "$pid" || true
	assert_equal "$(driver)" nvme
	wait_for 30 test -b /dev/nvme0n1 || fail "/dev/nvme0n1 not back"
}
