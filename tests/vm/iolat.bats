#!/usr/bin/env bats
# Guest suite: iolat where the kernel allows everything (fentry,
# kprobes, NVMe and SCSI drivers, ext4 with a journal): the block path,
# the passthrough paths and the AIOS-style read()/write()+fsync() paths.

setup() {
	load helpers
	in_guest
	require_bin iolat
	require_bin uring_bench
}

teardown() {
	if grep -q " /mnt/sp-iolat " /proc/mounts; then
		umount /mnt/sp-iolat
		# leave the namespace as the other suites expect it: no filesystem
		dd if=/dev/zero of=/dev/nvme0n1 bs=1M count=2 conv=notrunc status=none
	fi
}

# trace N MODE NODE: iolat --json -F on nvme0n1 while uring_bench reads
trace() {
	local n=$1 mode=$2 node=$3
	mkfifo "$BATS_TEST_TMPDIR/ready"
	timeout 120 "$SP_BIN/iolat" --ready-fd 3 --json -F -d nvme0n1 4 1 \
		3>"$BATS_TEST_TMPDIR/ready" >"$BATS_TEST_TMPDIR/out" &
	local pid=$!
	read -r -n 1 -t 100 _ <"$BATS_TEST_TMPDIR/ready" || fail "iolat did not start"
	"$SP_BIN/uring_bench" --quiet -m "$mode" -q 8 -n "$n" "$node" >/dev/null ||
		fail "uring_bench -m $mode failed"
	wait "$pid" || fail "iolat failed"
	output=$(cat "$BATS_TEST_TMPDIR/out")
}

# ub_trace ARGS: uring_bench --trace --json; $output is the trace document
ub_trace() {
	run --separate-stderr timeout 120 "$SP_BIN/uring_bench" --quiet --trace --json "$@"
	[ "$status" -eq 0 ] || fail "uring_bench --trace $* exited $status: $stderr"
	[[ $stderr != *"layers unavailable"* ]] || fail "layers refused in the guest: $stderr"
	output=$(jq -c .trace <<<"$output")
}

# driver_min N: how many of N requests must get their driver events.
# With the driver modules' BTF (Debian's kernel has it) their
# tracepoints give the request, so all of them; else they are matched
# on their CPU, and TCG sometimes stretches a gap past the 1 ms iolat
# allows.
driver_min() {
	if [[ -e /sys/kernel/btf/nvme_core && -e /sys/kernel/btf/scsi_mod ]]; then
		echo "$1"
	else
		echo $(($1 * 97 / 100))
	fi
}

# layers PATH: LC[LAYER] = the I/Os of PATH that crossed LAYER, for
# every layer in $output's breakdown (one jq: it starts slowly under TCG)
layers() {
	declare -gA LC=()
	local l n
	while read -r l n; do
		LC[$l]=$n
	done < <(jq -r --arg p "$1" '[.breakdown[] | select(.path == $p) | .layers[]]
		| group_by(.layer)[] | "\(.[0].layer) \(map(.count) | add)"' <<<"$output")
}

# lc LAYER: from the last `layers`, 0 for a layer nobody crossed
lc() { echo "${LC[$1]:-0}"; }

@test "iolat: block reads of nvme0n1 are all seen" {
	trace 1000 uring /dev/nvme0n1
	assert_equal "$(jq '[.histograms[] | select(.layer == "device" and .op == "read")][0].count' <<<"$output")" 1000
}

@test "iolat: NVMe passthrough reads are block requests too, as driver commands" {
	trace 1000 nvme /dev/ng0n1
	# REQ_OP_DRV_IN, not read: 1000 plus the one read the backend sends
	# at set-up to prove the path
	assert_equal "$(jq '[.histograms[] | select(.layer == "device" and .op == "drv_in")][0].count' <<<"$output")" 1001
	assert_equal "$(jq '[.histograms[] | select(.op == "read")] | length' <<<"$output")" 0
}

@test "iolat: block reads of nvme0n1 through io_uring are not punted to io-wq" {
	trace 1000 uring /dev/nvme0n1
	entry=$(jq -c '[.io_uring[] | select(.comm == "uring_bench")][0]' <<<"$output")
	assert_equal "$(jq .submitted <<<"$entry")" 1000
	assert_equal "$(jq .punted <<<"$entry")" 0
}

@test "iolat: with fentry, a psync read of the block device crosses VFS, bdev file, block, NVMe driver, device" {
	ub_trace -m psync -n 300 /dev/nvme0n1
	assert_equal "$(jq '.unavailable | length' <<<"$output")" 0
	layers read
	for l in syscall vfs filesystem block device completion; do
		assert_equal "$(lc $l)" 300
	done
	local min
	min=$(driver_min 300)
	[ "$(lc driver)" -ge "$min" ] || fail "driver: $(lc driver)"
	[ "$(lc driver_done)" -ge "$min" ] || fail "driver_done: $(lc driver_done)"
	# every layer of the driver appears in the request histograms too
	[ "$(jq '[.histograms[] | select(.layer == "driver")][0].count' <<<"$output")" -ge "$min" ]
}

@test "iolat: with kprobes instead of fentry, the same layers but the passthrough owner" {
	run --separate-stderr env SP_IOLAT_NO_FENTRY=1 timeout 120 "$SP_BIN/uring_bench" \
		--quiet --trace --json -m psync -n 300 /dev/nvme0n1
	assert_success
	# the kprobe programs load and attach; the one hook that needs fentry says so
	[[ $stderr == *"layers unavailable: passthrough owner: fentry refused"* ]] || fail "$stderr"
	output=$(jq -c .trace <<<"$output")
	assert_equal "$(jq -c .unavailable <<<"$output")" '["passthrough owner"]'
	layers read
	for l in syscall vfs filesystem block device completion; do
		assert_equal "$(lc $l)" 300
	done
	# nvme_queue_rq's kprobe names its request (bd->rq) as the fentry does
	assert_equal "$(lc driver)" 300
}

@test "iolat: NVMe passthrough shows driver and device layers and no bio, VFS or filesystem layer" {
	ub_trace -m nvme -q 4 -n 400 /dev/ng0n1
	layers uring_cmd
	assert_equal "$(jq '[.breakdown[] | select(.path == "uring_cmd")][0].e2e.count' <<<"$output")" 400
	for l in uring_submit device; do
		assert_equal "$(lc $l)" 400
	done
	local min
	min=$(driver_min 400)
	[ "$(lc driver)" -ge "$min" ] || fail "driver: $(lc driver)"
	[ "$(lc driver_done)" -ge "$min" ] || fail "driver_done: $(lc driver_done)"
	for l in vfs filesystem page_cache block; do
		assert_equal "$(lc $l)" 0
	done
}

@test "iolat: SCSI passthrough (sg) reaches the HBA: scsi dispatch splits driver from device" {
	local sd sg
	sd=$(sas_disk)
	[ -n "$sd" ] || skip "no megaraid_sas disk"
	sg=$(basename /sys/block/"$sd"/device/scsi_generic/sg*)
	ub_trace -m sg -q 4 -n 300 "/dev/$sg"
	# the sg commands are block requests of the disk's queue, without a
	# bio, and every one reaches the HBA (scsi_dispatch_cmd_start) and
	# comes back from it (scsi_dispatch_cmd_done)
	local min n
	min=$(driver_min 300)
	assert_equal "$(jq '[.histograms[] | select(.layer == "device")][0].count' <<<"$output")" 300
	for l in driver driver_done; do
		n=$(jq --arg l $l '[.histograms[] | select(.layer == $l)][0].count' <<<"$output")
		[ "$n" -ge "$min" ] || fail "scsi $l layer: $n of 300"
	done
}

@test "iolat: ext4 read() through the page cache, and write()+fsync() with the journal (AIOS paths)" {
	modprobe ext4 || fail "no ext4 module in the testbed"
	mkfs.ext4 -q -F /dev/nvme0n1
	mkdir -p /mnt/sp-iolat
	mount /dev/nvme0n1 /mnt/sp-iolat || fail "cannot mount the namespace"
	f=/mnt/sp-iolat/data
	"$SP_BIN/uring_bench" --quiet -m psync -w write --buffered --size 8M -n 2048 "$f" >/dev/null
	sync
	echo 3 >/proc/sys/vm/drop_caches
	ub_trace -m psync -w randread --buffered --size 8M -n 300 "$f"
	layers read
	for l in syscall vfs filesystem page_cache; do
		assert_equal "$(lc $l)" 300
	done
	# cold cache: some reads wait for the device
	[ "$(lc device)" -gt 0 ] || fail "no read went to the device"
	# fsync() after each write: the ones that find something to commit
	# (a new mtime, at the kernel's timestamp granularity) wait for jbd2
	rm -f "$f"
	commits() { awk 'NR == 1 { print $1 }' /proc/fs/jbd2/nvme0n1-*/info; }
	local before after
	before=$(commits)
	ub_trace -m psync -w randwrite --buffered --fsync 1 --size 64M -n 100 "$f"
	after=$(commits)
	layers write
	for l in vfs filesystem page_cache; do
		assert_equal "$(lc $l)" 100
	done
	# an fsync after each write, the last one's too
	layers fsync
	assert_equal "$(lc filesystem)" 100
	# one journal layer per commit the fsyncs caused (the file's creation
	# may add one)
	local j=$(lc journal) n=$((after - before))
	[ "$j" -ge $((n - 2)) ] && [ "$j" -le "$n" ] && [ "$j" -gt 0 ] ||
		fail "journal layer in $j fsyncs, $n commits"
	[ "$(lc device)" -ge 50 ] || fail "device: $(lc device)"
}
