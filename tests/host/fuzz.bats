#!/usr/bin/env bats
# What a device returns is outside input: the parsers of NVMe Identify,
# SCSI INQUIRY, READ CAPACITY, VPD and sense data under libFuzzer
# (AddressSanitizer, UndefinedBehaviorSanitizer), for a bounded time.
load ../helpers

@test "the fuzzer finds nothing in the NVMe and SCSI device-data parsers in 15 s" {
	local fz=$TOP/build/fuzz/fuzz_spec corpus
	[[ -x $fz ]] || fail "build/fuzz/fuzz_spec not built (make all builds it)"
	corpus=$BATS_TEST_TMPDIR/corpus
	mkdir -p "$corpus"
	# seeds: a fixed-format sense (SCSI side) and an Identify page's start (NVMe)
	printf '\x00\x70\x00\x05\x00\x00\x00\x00\x0a\x00\x00\x00\x00\x21\x00' >"$corpus/sense"
	printf '\x01\x00\x00\x04\x00\x00\x00\x00\x00' >"$corpus/idns"
	run timeout 120 "$fz" -max_total_time=15 -rss_limit_mb=1024 \
		-artifact_prefix="$corpus/" "$corpus"
	assert_success
	assert_output --partial "Done"
}
