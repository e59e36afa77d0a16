#!/usr/bin/env bats
# bench/ab-compare without a device: its contract and its report of a
# saved result (data/ab-compare.json, taken in the QEMU testbed).
load ../helpers

AB=$TOP/bench/ab-compare
DATA=$BATS_TEST_DIRNAME/data/ab-compare.json

@test "ab-compare --help shows the paths, an example and exit codes" {
	run "$AB" --help
	assert_success
	assert_output --partial "nvme-sqpoll"
	assert_output --partial "Example:"
	assert_output --partial "Exit status"
}

@test "ab-compare refuses bad usage with exit 2 and changes nothing" {
	run "$AB"
	assert_failure 2
	run "$AB" /dev/nvme0n1 uring warp
	assert_failure 2
	run "$AB" -w randwrite /dev/nvme0n1 uring vfio
	assert_failure 2
	assert_output --partial "--force"
	run "$AB" --from /nonexistent
	assert_failure 2
}

@test "ab-compare --from: medians with min-max, ratios, the emulation note" {
	run "$AB" --from "$DATA"
	assert_success
	assert_output --partial "3 repetitions interleaved"
	assert_output --partial "emulated controller"
	assert_output --regexp "vfio +[0-9.]+k?"
	assert_output --partial "min-max"
	assert_output --partial "ratio: median / median of uring"
	run "$AB" --from "$DATA" --json
	assert_success
	[ "$(jq -r '.paths[0].summary.iops.ratio' <<<"$output")" = 1 ]
}

@test "ab-compare --plot draws a PNG with gnuplot" {
	command -v gnuplot >/dev/null || skip "no gnuplot (make deps installs gnuplot-nox)"
	out=$BATS_TEST_TMPDIR/ab.png
	run "$AB" --from "$DATA" --plot "$out"
	assert_success
	[ "$(head -c 4 "$out" | tail -c 3)" = PNG ] || fail "not a PNG"
}
