#!/usr/bin/env bats
# Guest suite: shortpath's answers checked against tools nobody here
# wrote: nvme-cli for NVMe, sg3_utils for SCSI.

setup() {
	load helpers
	in_guest
	require_bin sp-id
	require_bin sp-io
	command -v nvme >/dev/null || fail "nvme-cli missing from the testbed"
	command -v sg_readcap >/dev/null || fail "sg3_utils missing from the testbed"
	SD=$(sas_disk)
	SG=/dev/$(ls "/sys/block/$SD/device/scsi_generic")
}

@test "crosscheck: Identify as nvme-cli reads it" {
	run --separate-stderr "$SP_BIN/sp-id" --json /dev/ng0n1
	assert_success
	ours=$output
	ns=$(nvme id-ns /dev/nvme0n1 -o json)
	ctrl=$(nvme id-ctrl /dev/nvme0 -o json)
	flbas=$(jq '.flbas % 16' <<<"$ns")
	lbads=$(jq ".lbafs[$flbas].ds" <<<"$ns")
	assert_equal "$(jq '.[0].blocks' <<<"$ours")" "$(jq .nsze <<<"$ns")"
	assert_equal "$(jq '.[0].logical_block_size' <<<"$ours")" $((1 << lbads))
	assert_equal "$(jq -r '.[0].serial' <<<"$ours")" "$(jq -r .sn <<<"$ctrl" | sed 's/ *$//')"
	assert_equal "$(jq -r '.[0].model' <<<"$ours")" "$(jq -r .mn <<<"$ctrl" | sed 's/ *$//')"
	assert_equal "$(jq -r '.[0].firmware' <<<"$ours")" "$(jq -r .fr <<<"$ctrl" | sed 's/ *$//')"
}

@test "crosscheck: NVMe data both ways between sp-io and nvme read/write" {
	run "$SP_BIN/sp-io" write --lba 300 --blocks 8 --pattern 0x96 /dev/ng0n1
	assert_success
	nvme read /dev/ng0n1 -s 300 -c 7 -z 4096 -d "$BATS_TEST_TMPDIR/theirs" >/dev/null 2>&1 ||
		fail "nvme read failed"
	head -c 4096 /dev/zero | tr '\0' '\226' >"$BATS_TEST_TMPDIR/want"
	cmp "$BATS_TEST_TMPDIR/theirs" "$BATS_TEST_TMPDIR/want"
	head -c 4096 /dev/urandom >"$BATS_TEST_TMPDIR/data"
	nvme write /dev/ng0n1 -s 400 -c 7 -z 4096 -d "$BATS_TEST_TMPDIR/data" >/dev/null 2>&1 ||
		fail "nvme write failed"
	run "$SP_BIN/sp-io" read --lba 400 --blocks 8 --out "$BATS_TEST_TMPDIR/ours" /dev/ng0n1
	assert_success
	cmp "$BATS_TEST_TMPDIR/ours" "$BATS_TEST_TMPDIR/data"
}

@test "crosscheck: READ CAPACITY and INQUIRY as sg3_utils read them" {
	run --separate-stderr "$SP_BIN/sp-id" --json "$SG"
	assert_success
	ours=$output
	cap=$(sg_readcap -16 -b "$SG")	# brief: "0xBLOCKS 0xBLOCK_LENGTH"
	read -r blocks blen <<<"$cap"
	assert_equal "$(jq '.[0].blocks' <<<"$ours")" $((blocks))
	assert_equal "$(jq '.[0].logical_block_size' <<<"$ours")" $((blen))
	vendor=$(sg_inq "$SG" | sed -n 's/^ *Vendor identification: *//p' | sed 's/ *$//')
	product=$(sg_inq "$SG" | sed -n 's/^ *Product identification: *//p' | sed 's/ *$//')
	assert_equal "$(jq -r '.[0].model' <<<"$ours")" "$vendor $product"
}

@test "crosscheck: SCSI data both ways between sp-io and sg_dd" {
	run "$SP_BIN/sp-io" write --lba 500 --blocks 16 --pattern 0x69 "$SG"
	assert_success
	sg_dd if="$SG" of="$BATS_TEST_TMPDIR/theirs" bs=512 skip=500 count=16 2>/dev/null ||
		fail "sg_dd read failed"
	head -c 8192 /dev/zero | tr '\0' 'i' >"$BATS_TEST_TMPDIR/want"
	cmp "$BATS_TEST_TMPDIR/theirs" "$BATS_TEST_TMPDIR/want"
	head -c 8192 /dev/urandom >"$BATS_TEST_TMPDIR/data"
	sg_dd if="$BATS_TEST_TMPDIR/data" of="$SG" bs=512 seek=600 count=16 2>/dev/null ||
		fail "sg_dd write failed"
	run "$SP_BIN/sp-io" read --lba 600 --blocks 16 --out "$BATS_TEST_TMPDIR/ours" "$SG"
	assert_success
	cmp "$BATS_TEST_TMPDIR/ours" "$BATS_TEST_TMPDIR/data"
}

@test "crosscheck: uring_bench nvme-mode verify data is what nvme-cli reads" {
	require_bin uring_bench
	ub 64 -m nvme -w write --verify --verify-seed 41 --bs 4k --size 256k --offset 1M /dev/ng0n1
	# block 5 of the range: its header names its own offset
	nvme read /dev/ng0n1 -s $(((1048576 + 5 * 4096) / 512)) -c 7 -z 4096 \
		-d "$BATS_TEST_TMPDIR/blk" >/dev/null 2>&1 || fail "nvme read failed"
	assert_equal "$(head -c 4 "$BATS_TEST_TMPDIR/blk")" SPVF
	off=$(od -An -tu8 -j 8 -N 8 "$BATS_TEST_TMPDIR/blk" | tr -d ' ')
	assert_equal "$off" $((1048576 + 5 * 4096))
}
