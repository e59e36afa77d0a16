#!/usr/bin/env bats
# What a device returns is outside input: the parsers of NVMe Identify,
# SCSI INQUIRY, READ CAPACITY, VPD and sense data under libFuzzer
# (AddressSanitizer, UndefinedBehaviorSanitizer), for a bounded time.
load ../helpers

@test "the fuzzer finds nothing in the NVMe and SCSI device-data parsers in 8 s" {
	local fz=$TOP/build/fuzz/fuzz_spec corpus
	[[ -x $fz ]] || fail "build/fuzz/fuzz_spec not built (make all builds it)"
	corpus=$BATS_TEST_TMPDIR/corpus
	mkdir -p "$corpus"
	# seeds: a fixed-format sense (SCSI side) and an Identify page's start (NVMe)
	printf '\x00\x70\x00\x05\x00\x00\x00\x00\x0a\x00\x00\x00\x00\x21\x00' >"$corpus/sense"
	printf '\x01\x00\x00\x04\x00\x00\x00\x00\x00' >"$corpus/idns"
	run timeout 120 "$fz" -max_total_time=8 -rss_limit_mb=1024 \
		-artifact_prefix="$corpus/" "$corpus"
	assert_success
	assert_output --partial "Done"
}

# The userspace HBA drivers against a fake device the input plays
# (tests/fuzz/fake_dev.c): every register read and every reply.
hba_fuzz() {
	local fz=$TOP/build/fuzz/fuzz_hba_$1 corpus
	[[ -x $fz ]] || fail "build/fuzz/fuzz_hba_$1 not built (make all builds it)"
	corpus=$BATS_TEST_TMPDIR/corpus
	mkdir -p "$corpus"
	# seeds: a healthy HBA (empty), and one with a short session script
	: >"$corpus/healthy"
	printf '\x08\x02\x07\x01\x02\x00\x03\x01\x00\x01' >"$corpus/busy"
	# -timeout: one session that runs for seconds is a driver that waits forever
	run timeout 120 "$fz" -max_total_time=8 -timeout=10 -rss_limit_mb=1024 -len_control=0 \
		-artifact_prefix="$corpus/" "$corpus"
	assert_success
	assert_output --partial "Done"
}

@test "the fuzzer finds nothing in the MFI HBA driver against a hostile HBA in 8 s" {
	hba_fuzz mfi
}

@test "the fuzzer finds nothing in the MPI HBA driver against a hostile HBA in 8 s" {
	hba_fuzz mpi
}

@test "the fuzzer finds nothing in sp-fabriclat's format and record parsers and its join in 6 s" {
	local fz=$TOP/build/fuzz/fuzz_fabriclat corpus
	[[ -x $fz ]] || fail "build/fuzz/fuzz_fabriclat not built (make all builds it)"
	corpus=$BATS_TEST_TMPDIR/corpus
	mkdir -p "$corpus"
	# seed: a format line, then an initiator's and a target's file
	printf '\tfield:int qid;\toffset:44;\tsize:4;\n\0# sp-fabriclat 1 initiator\n1 2 100 200 0\n1 2 300 400 0\n\0# sp-fabriclat 1 target\n1 2 10 50 0\n1 2 215 240 0\n' \
		>"$corpus/pair"
	run timeout 120 "$fz" -max_total_time=6 -rss_limit_mb=1024 \
		-artifact_prefix="$corpus/" "$corpus"
	assert_success
	assert_output --partial "Done"
}
