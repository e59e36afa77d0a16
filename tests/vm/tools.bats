#!/usr/bin/env bats
# Guest suite: sp-id and sp-io on the NVMe namespace and the SAS disk,
# including the device's own answer to a command past its end.

setup() {
	load helpers
	in_guest
	require_bin sp-id
	require_bin sp-io
	SD=$(sas_disk)
	[ -n "$SD" ] || fail "no sd disk behind megaraid_sas"
}

@test "sp-id: the NVMe namespace, from Identify" {
	run --separate-stderr "$SP_BIN/sp-id" --json /dev/nvme0n1
	assert_success
	assert_equal "$(json '.[0].node')" /dev/ng0n1
	assert_equal "$(json '.[0].mode')" nvme
	assert_equal "$(json '.[0].nsid')" 1
	assert_equal "$(json '.[0].serial')" "$SP_NVME_SERIAL"
	assert_equal "$(json '.[0].size')" "$SP_NVME_BYTES"
	assert_equal "$(json '.[0].model')" "$(cat /sys/class/nvme/nvme0/model | sed 's/ *$//')"
}

@test "sp-id: the SAS disk, from INQUIRY and READ CAPACITY(16)" {
	run --separate-stderr "$SP_BIN/sp-id" --json "/dev/$SD"
	assert_success
	assert_equal "$(json '.[0].mode')" sg
	assert_equal "$(json '.[0].serial')" "$SP_SAS_SERIAL"
	assert_equal "$(json '.[0].size')" "$SP_SAS_BYTES"
	assert_equal "$(json '.[0].blocks')" $((SP_SAS_BYTES / 512))
	[[ $(json '.[0].flush_command') == "SYNCHRONIZE CACHE"* ]] || fail "no flush command found"
}

@test "sp-io: NVMe read past the end gets the decoded status, exit 1" {
	run "$SP_BIN/sp-io" read --past-end --lba $((SP_NVME_BYTES / 512)) /dev/ng0n1
	assert_equal "$status" 1
	assert_output --partial "LBA Out of Range (SCT 0x0, SC 0x80"
}

@test "sp-io: SCSI read past the end gets the decoded sense, exit 1" {
	run "$SP_BIN/sp-io" read --past-end --lba $((SP_SAS_BYTES / 512)) "/dev/$SD"
	assert_equal "$status" 1
	assert_output --partial "ILLEGAL REQUEST: Logical block address out of range (ASC 0x21, ASCQ 0x00)"
}

@test "sp-io: past the end is refused before it reaches either device, unless a read asks" {
	for dev in /dev/ng0n1 "/dev/$SD"; do
		bytes=$SP_NVME_BYTES
		[[ $dev == /dev/ng* ]] || bytes=$SP_SAS_BYTES
		run "$SP_BIN/sp-io" write --lba $((bytes / 512)) --pattern 0x99 "$dev"
		assert_equal "$status" 2
		assert_output --partial "past the end of"
		run "$SP_BIN/sp-io" write --lba 36028797018963968 --pattern 0x99 "$dev"
		assert_equal "$status" 2
		run "$SP_BIN/sp-io" read --lba $((bytes / 512)) "$dev"
		assert_equal "$status" 2
		assert_output --partial "--past-end sends the read anyway"
		# LBA 0 is untouched by the wrapped LBA above
		run "$SP_BIN/sp-io" read --lba 0 --out "$BATS_TEST_TMPDIR/lba0" "$dev"
		assert_success
		[[ $(tr -cd '\231' <"$BATS_TEST_TMPDIR/lba0" | wc -c) -lt 512 ]] ||
			fail "LBA 0 of $dev holds the pattern of the refused write"
	done
}

@test "sp-io: a block written by passthrough is read back through the block device" {
	for dev in /dev/ng0n1 "/dev/$SD"; do
		run "$SP_BIN/sp-io" write --lba 77 --blocks 8 --pattern 0xc3 "$dev"
		assert_success
		blk=$(json_block_of "$dev")
		got=$(dd if="$blk" bs=512 skip=77 count=8 iflag=direct status=none | od -v -An -tx1 | tr -s ' \n' '\n' | sort -u | grep -v '^$')
		assert_equal "$got" c3
		run "$SP_BIN/sp-io" read --lba 77 --blocks 8 --out "$BATS_TEST_TMPDIR/back" "$dev"
		assert_success
		cmp "$BATS_TEST_TMPDIR/back" <(dd if="$blk" bs=512 skip=77 count=8 iflag=direct status=none)
	done
}

@test "sp-io: flush succeeds on both" {
	run "$SP_BIN/sp-io" flush /dev/ng0n1
	assert_success
	run "$SP_BIN/sp-io" flush "/dev/$SD"
	assert_success
}

@test "sp-io and sp-id: a missing device is a usage error (2)" {
	run "$SP_BIN/sp-io" read /dev/nvme9n9
	assert_equal "$status" 2
	run "$SP_BIN/sp-id" /dev/nvme9n9
	assert_equal "$status" 2
}

# The block device holding the same data as a passthrough node.
json_block_of() {
	"$SP_BIN/sp-id" --json "$1" | jq -r '.[0].block_device'
}

@test "passthru-report: every path, with syscalls and context switches per I/O" {
	command -v passthru-report.sh >/dev/null || skip "passthru-report.sh not in the testbed"
	run passthru-report.sh --ios 160
	assert_success
	for path in "NVMe block io_uring" "NVMe passthrough fixed buffers" "NVMe passthrough SQPOLL" \
		    "NVMe passthrough IOPOLL" "NVMe passthrough vectored" "SCSI sg via io_uring"; do
		assert_line --regexp "^$path +1 "
		assert_line --regexp "^$path +16 "
	done
	refute_output --partial "failed:"
	# batching: at QD16 passthrough makes well under one syscall per I/O
	sysc=$(awk '/^NVMe passthrough +16 /{print $5}' <<<"$output")
	jq -ne "$sysc < 0.5" >/dev/null || fail "NVMe passthrough QD16: $sysc syscalls/IO"
}

@test "sp-io: NVMe Write Zeroes clears the blocks" {
	run "$SP_BIN/sp-io" write --lba 900 --blocks 16 --pattern 0xee /dev/ng0n1
	assert_success
	run "$SP_BIN/sp-io" write-zeroes --lba 900 --blocks 16 /dev/ng0n1
	assert_success
	run "$SP_BIN/sp-io" read --lba 900 --blocks 16 --out "$BATS_TEST_TMPDIR/z" /dev/ng0n1
	assert_success
	head -c 8192 /dev/zero | cmp - "$BATS_TEST_TMPDIR/z"
	run "$SP_BIN/sp-io" write-zeroes --lba 900 "/dev/$SD"
	assert_equal "$status" 2
	assert_output --partial "write-zeroes is an NVMe command"
}

@test "sp-id: the bsg node is found and probed for io_uring passthrough at run time" {
	run --separate-stderr "$SP_BIN/sp-id" --json "/dev/$SD"
	assert_success
	bsg=$(json '.[0].bsg.node')
	[ -c "$bsg" ] || fail "no bsg node: $bsg"
	# Debian's 6.1 has no bsg uring_cmd handler; a later kernel may
	uring=$(jq -r '.[0].bsg.uring_cmd' <<<"$output")
	[[ $uring == true || $uring == false ]] || fail "bsg probe gave no answer"
	[[ $uring == true ]] || assert_equal "$(json '.[0].bsg.probe')" "Operation not supported"
}

@test "sp-io: a transfer above the device's limit is refused (2) before it is sent" {
	run "$SP_BIN/sp-io" read --blocks 65536 /dev/ng0n1
	assert_equal "$status" 2
	assert_output --partial "exceeds the largest transfer"
	run --separate-stderr "$SP_BIN/sp-id" --json /dev/ng0n1
	[ "$(json '.[0].mdts')" -ge 0 ] || fail "no MDTS"
}
