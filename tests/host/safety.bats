#!/usr/bin/env bats
# Bad input gets one clear line and exit 2, and nothing is written.
load ../helpers

teardown() {
	loop_teardown
	tmpfs_teardown
}

@test "a missing path is refused" {
	run "$UB" /nonexistent/dir/target
	assert_failure 2
	assert_output --partial "no such file or device"
}

@test "a missing device node is never created as a file" {
	run "$UB" --size 1M /dev/shortpath-no-such-device
	assert_failure 2
	assert_output --partial "no such device"
	[ ! -e /dev/shortpath-no-such-device ]
}

@test "a block size that is not a multiple of the logical block size" {
	loop_setup
	run "$UB" --bs 1000 -n 10 "$LOOP_DEV"
	assert_failure 2
	assert_output --partial "not a multiple of the logical block size 512"
}

@test "an offset beyond the end" {
	loop_setup 16M
	run "$UB" --offset 32M -n 10 "$LOOP_DEV"
	assert_failure 2
	assert_output --partial "beyond the end"
	run "$UB" --offset 8M --size 16M -n 10 "$LOOP_DEV"
	assert_failure 2
	assert_output --partial "ends beyond the end"
}

@test "a device without permission" {
	loop_setup
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$UB" -n 10 "$LOOP_DEV"
	assert_failure 2
	assert_output --partial "cannot open for reading: Permission denied"
}

@test "a read-only file is not opened for writing" {
	require_root
	tmpfs_file
	"$UB" -n 1 --size 1M "$F"
	chmod 0444 "$F"
	chmod 0755 "$TMPF_DIR"
	before=$(md5sum <"$F")
	run setpriv --reuid=nobody --regid=nogroup --clear-groups "$UB" -w write -n 10 "$F"
	assert_failure 2
	assert_output --partial "cannot open for writing"
	[ "$(md5sum <"$F")" = "$before" ]
}

@test "a device with a filesystem is not written to, and not changed" {
	loop_setup
	mkfs.ext4 -q "$LOOP_DEV"
	before=$(md5sum <"$LOOP_DEV")
	run "$UB" -w randwrite -n 100 "$LOOP_DEV"
	assert_failure 2
	assert_output --partial "carries a ext4 filesystem/volume signature"
	assert_output --partial "--force"
	[ "$(md5sum <"$LOOP_DEV")" = "$before" ]
	# reading it is fine
	run "$UB" -w randread -n 100 "$LOOP_DEV"
	assert_success
}

@test "a partition table is a signature too" {
	loop_setup
	echo 'label: gpt' | sfdisk -q "$LOOP_DEV" >/dev/null 2>&1 || skip "sfdisk failed"
	run "$UB" -w write -n 10 "$LOOP_DEV"
	assert_failure 2
	assert_output --partial "gpt partition table"
}

@test "--force writes over a signature" {
	loop_setup
	mkfs.ext4 -q "$LOOP_DEV"
	run "$UB" -w randwrite -n 100 --force "$LOOP_DEV"
	assert_success
}

@test "a mounted device is refused even with --force" {
	loop_setup
	mkfs.ext4 -q "$LOOP_DEV"
	LOOP_MNT=$(mktemp -d)
	# read-only: a writable ext4 writes in the background (lazy init)
	mount -o ro "$LOOP_DEV" "$LOOP_MNT" || skip "cannot mount ext4 here"
	before=$(md5sum <"$LOOP_DEV")
	run "$UB" -w randwrite -n 100 --force "$LOOP_DEV"
	assert_failure 2
	assert_output --partial "is mounted on $LOOP_MNT"
	[ "$(md5sum <"$LOOP_DEV")" = "$before" ]
}

@test "--iopoll on a device without poll queues says so" {
	loop_setup
	run "$UB" --iopoll -n 10 "$LOOP_DEV"
	assert_failure 2
	assert_output --partial "cannot poll"
}

# sp-io computes offset = LBA x block size; a product that wraps must
# not turn into a small offset (2^55 x 512 is 0 modulo 2^64).
@test "sp-io: an LBA whose byte offset overflows is refused, nothing written" {
	tmpfs_file
	head -c 4M /dev/zero >"$F"
	for lba in 36028797018963968 18446744073709551615 8192; do
		run "$BIN/sp-io" write --lba "$lba" --pattern 0x77 "$F"
		assert_failure 2
		assert_output --partial "past the end of $F (8192 blocks of 512 bytes)"
	done
	run cmp -n 4194304 "$F" /dev/zero
	assert_success
	[ "$(stat -c %s "$F")" -eq 4194304 ]
}

@test "sp-io: a length that does not fit one command, or runs past the end, is refused" {
	tmpfs_file
	head -c 4M /dev/zero >"$F"
	run "$BIN/sp-io" read --blocks 1048576 "$F"
	assert_failure 2
	assert_output --partial "LBA 0 + 1048576 blocks ends past the end of $F"
	run "$BIN/sp-io" write --offset 4M --pattern 1 "$F"
	assert_failure 2
	assert_output --partial "LBA 8192 + 1 blocks ends past the end"
	[ "$(stat -c %s "$F")" -eq 4194304 ]
	run "$BIN/sp-io" write --past-end --lba 8192 "$F"
	assert_failure 2
	assert_output --partial "--past-end goes with read"
	# the last block is inside; a read past the end is sent when asked
	run "$BIN/sp-io" write --lba 8191 --pattern 0x11 "$F"
	assert_success
	run "$BIN/sp-io" read --past-end --lba 8192 "$F"
	assert_failure 1
	assert_output --partial "short transfer: 0 of 512 bytes"
}

@test "sp-io and sp-id: a character device that is no passthrough node is refused" {
	run "$BIN/sp-io" read /dev/null
	assert_failure 2
	assert_output --partial "/dev/null: a character device that is neither an NVMe generic node nor a SCSI generic node"
	run "$BIN/sp-id" /dev/null
	assert_failure 2
	assert_output --partial "/dev/null: a character device"
	run "$BIN/sp-id" /nonexistent
	assert_failure 2
	assert_output --partial "/nonexistent: No such file or directory"
}

@test "two writers on one target: the second is refused, readers are not" {
	tmpfs_file
	"$UB" --quiet --size 16M -n 1 "$F" >/dev/null
	"$UB" --quiet -w randwrite --verify -t 4s "$F" >/dev/null &
	first=$!
	# the first run holds its lock from its set-up on
	wait_writer "$F"
	run "$UB" -w randwrite --verify -t 1s "$F"
	assert_failure 2
	assert_output --partial "is being written by another shortpath run"
	run "$BIN/sp-io" write --lba 0 --pattern 1 "$F"
	assert_failure 2
	run "$UB" --quiet -w randread -n 100 "$F"
	assert_success
	wait "$first"
	# once the first is done, a writer gets in
	run "$UB" --quiet -w randwrite -n 100 "$F"
	assert_success
}

@test "two writers on one block device: the second is refused" {
	loop_setup 16M
	"$UB" --quiet -w randwrite -t 4s "$LOOP_DEV" >/dev/null &
	first=$!
	wait_writer "$LOOP_DEV"
	run "$UB" -w write -t 1s "$LOOP_DEV"
	assert_failure 2
	assert_output --partial "$LOOP_DEV is in use"
	wait "$first"
}
