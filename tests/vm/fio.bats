#!/usr/bin/env bats
# Guest suite: Debian's fio beside uring_bench on the same devices:
# fio's io_uring_cmd engine beside --mode nvme, fio's sg engine beside
# --mode sg. Both verify their own data, read each other's, and are
# counted the same way (sp-cost: the kernel's syscall and context-switch
# counters over the whole process), per I/O by difference of two run
# lengths so that start-up cost cancels out.

setup_file() {
	# scsi_debug for the sg side: a target fio's 10-byte CDBs also work on
	modprobe scsi_debug dev_size_mb=64 2>/dev/null || true
}

teardown_file() {
	timeout 30 modprobe -r scsi_debug 2>/dev/null || true
}

setup() {
	load helpers
	in_guest
	require_bin uring_bench
	require_bin sp-cost
	require_bin sp-io
	command -v fio >/dev/null || fail "fio missing from the testbed"
	DBG=
	for m in /sys/block/sd*/device/model; do
		grep -q scsi_debug "$m" 2>/dev/null && DBG=$(basename "$(dirname "$(dirname "$m")")")
	done
	[ -n "$DBG" ] || skip "scsi_debug did not load"
	DBG_SG=/dev/$(ls "/sys/block/$DBG/device/scsi_generic")
}

FIO_NVME=(--filename=/dev/ng0n1 --ioengine=io_uring_cmd --cmd_type=nvme)
# Every run is bounded: a hang fails its test, not the whole guest run.

@test "fio: io_uring_cmd writes and verifies its own data on the namespace" {
	run timeout 120 fio --name=v "${FIO_NVME[@]}" --rw=randwrite --bs=4k --iodepth=16 \
		--size=8M --offset=80M --verify=crc32c --do_verify=1 --output-format=terse
	assert_success
}

@test "fio: sg writes and verifies its own data" {
	run timeout 120 fio --name=v --filename="$DBG_SG" --ioengine=sg --rw=randwrite --bs=4k \
		--iodepth=16 --size=8M --offset=8M --verify=crc32c --do_verify=1 --output-format=terse
	assert_success
}

# fio writes a pattern, sp-io reads it; sp-io writes one, fio checks it.
agree() {	# DEVICE-FOR-SP-IO FIO-ARGS...
	local dev=$1
	shift
	run timeout 120 fio --name=w "$@" --rw=write --bs=4k --size=64k --offset=2M \
		--verify=pattern --verify_pattern=0x5a --do_verify=0 --output-format=terse
	assert_success
	run "$SP_BIN/sp-io" read --offset 2M --len 64k --out "$BATS_TEST_TMPDIR/ours" "$dev"
	assert_success
	head -c 65536 /dev/zero | tr '\0' 'Z' | cmp - "$BATS_TEST_TMPDIR/ours"
	run "$SP_BIN/sp-io" write --offset 3M --len 64k --pattern 0x3c "$dev"
	assert_success
	run timeout 120 fio --name=r "$@" --rw=read --bs=4k --size=64k --offset=3M \
		--verify=pattern --verify_pattern=0x3c --verify_only=1 --output-format=terse
	assert_success
}

@test "fio and shortpath read each other's data: NVMe passthrough" {
	agree /dev/ng0n1 "${FIO_NVME[@]}"
}

@test "fio and shortpath read each other's data: sg" {
	agree "$DBG_SG" --filename="$DBG_SG" --ioengine=sg
}

# per_io COST1 COST2 N FIELD: (field of run 2 - field of run 1) / N
per_io() {
	jq -n --slurpfile a "$1" --slurpfile b "$2" \
		"((\$b[0].$4 - \$a[0].$4) / $3 * 1000 | round) / 1000"
}

# side_by_side NAME N UB-ARGS -- FIO-ARGS: costs per I/O of both tools.
# Under TCG the clocksource is hpet, so every clock read is a syscall:
# fio reads the clock several times per I/O, uring_bench twice per batch.
# fio is measured twice, as it comes and with --gtod_reduce=1 (fewer
# clock reads), so the syscalls of the I/O path itself can be told apart.
side_by_side() {
	local name=$1 n=$2 ub=() fio=()
	shift 2
	while [[ $1 != -- ]]; do ub+=("$1"); shift; done
	shift
	fio=("$@")
	for k in 1 2; do
		timeout -k 10 120 sp-cost --json --output "$BATS_TEST_TMPDIR/ub$k" -- "$SP_BIN/uring_bench" --quiet \
			-w randread -q 16 -s 16 -c 1 -n $((k * n)) "${ub[@]}" >/dev/null ||
			fail "uring_bench ${ub[*]} failed"
		for g in 0 1; do
			local rc=0
			timeout -k 10 120 sp-cost --json --output "$BATS_TEST_TMPDIR/fio$g$k" -- fio --name=c "${fio[@]}" \
				--rw=randread --bs=4k --iodepth=16 --iodepth_batch_submit=16 \
				--iodepth_batch_complete_min=1 --size=32M --number_ios=$((k * n)) \
				--gtod_reduce=$g --output-format=terse >/dev/null || rc=$?
			# a fio that hangs is fio's problem: say so, do not fail shortpath
			[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || skip "fio ${fio[*]} did not finish in 120 s"
			[ "$rc" -eq 0 ] || fail "fio ${fio[*]} failed ($rc)"
		done
	done
	UB_SYS=$(per_io "$BATS_TEST_TMPDIR/ub1" "$BATS_TEST_TMPDIR/ub2" "$n" syscalls)
	UB_CSW=$(per_io "$BATS_TEST_TMPDIR/ub1" "$BATS_TEST_TMPDIR/ub2" "$n" ctx_switches)
	FIO_SYS=$(per_io "$BATS_TEST_TMPDIR/fio01" "$BATS_TEST_TMPDIR/fio02" "$n" syscalls)
	FIO_CSW=$(per_io "$BATS_TEST_TMPDIR/fio01" "$BATS_TEST_TMPDIR/fio02" "$n" ctx_switches)
	FIOR_SYS=$(per_io "$BATS_TEST_TMPDIR/fio11" "$BATS_TEST_TMPDIR/fio12" "$n" syscalls)
	FIOR_CSW=$(per_io "$BATS_TEST_TMPDIR/fio11" "$BATS_TEST_TMPDIR/fio12" "$n" ctx_switches)
	printf '# %-20s per I/O   syscalls: uring_bench %6s  fio %6s  fio gtod_reduce %6s   ctx switches: uring_bench %6s  fio %6s  fio gtod_reduce %6s\n' \
		"$name" "$UB_SYS" "$FIO_SYS" "$FIOR_SYS" "$UB_CSW" "$FIO_CSW" "$FIOR_CSW" >&3
	# fio's own start-up varies (it calibrates its clock with a number of
	# clock reads that changes from run to run, each a syscall under
	# hpet), so its differences are shown, not held to a bound.
	for v in "$UB_SYS" "$UB_CSW"; do
		# differences of two runs: a little noise either side of zero
		jq -ne "$v > -0.05 and $v < 50" >/dev/null || fail "$name: implausible cost $v per I/O"
	done
}

@test "fio beside uring_bench: NVMe passthrough, syscalls and context switches per I/O" {
	side_by_side "nvme / io_uring_cmd" 2000 -m nvme /dev/ng0n1 -- "${FIO_NVME[@]}"
	# both submit 16 at a time: neither needs a syscall per I/O
	jq -ne "$UB_SYS < 1" >/dev/null || fail "uring_bench: $UB_SYS syscalls/IO"
}

@test "fio beside uring_bench: SCSI sg, syscalls and context switches per I/O" {
	side_by_side "sg / sg" 2000 -m sg "$DBG_SG" -- --filename="$DBG_SG" --ioengine=sg
}
