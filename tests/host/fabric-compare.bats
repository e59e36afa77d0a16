#!/usr/bin/env bats
# bench/fabric-compare without a fabric: its contract (usage errors, one
# line, exit 2), its report of a saved result (data/fabric-compare.json,
# taken in the QEMU fabric testbed) and the summary arithmetic it shares
# with bench/ab-compare (bench/compare-lib.bash).
load ../helpers

FC=$TOP/bench/fabric-compare
DATA=$BATS_TEST_DIRNAME/data/fabric-compare.json

# refused ARGS...: exit 2 with exactly one line naming the cause
refused() {
	run "$FC" "$@"
	assert_failure 2
	[ "${#lines[@]}" -eq 1 ] || fail "$* gave ${#lines[@]} lines: $output"
}

@test "fabric-compare --help shows the paths, the channels, examples and exit codes" {
	run "$FC" --help
	assert_success
	assert_output --partial "rdma-block"
	assert_output --partial "--target-cmd"
	assert_output --partial "Examples:"
	assert_output --partial "Exit status"
	refute_output --partial "set -euo"
}

@test "fabric-compare refuses bad usage with exit 2, one line naming the value" {
	refused --bogus
	assert_output "fabric-compare: unknown option --bogus (see --help)"
	refused -r 0
	assert_output --partial "--reps 0"
	refused -r 101
	refused -n 0
	assert_output --partial "--ios 0"
	refused -n abc
	refused -q 4097
	assert_output --partial "--iodepth 4097"
	refused -j 65
	refused -b 1000
	assert_output --partial "--bs 1000"
	refused -b 2M
	refused --size 6k -b 4k
	assert_output --partial "--size 6k"
	refused -t 2h
	assert_output --partial "--runtime 2h"
	refused -t 3601s
	refused -w randwrite
	assert_output --partial "--force"
	refused -w trim
	refused --port 0
	refused --nsid 0
	refused --addr 10.0.0.256
	assert_output --partial "--addr 10.0.0.256"
	refused --nqn 'not an nqn'
	refused --ssh h --target-cmd ssh
	refused --ssh 'h; rm -rf /'
	refused --nic nosuch0
	assert_output --partial "--nic nosuch0"
	refused warp
	assert_output --partial "unknown path 'warp'"
	refused local local-nvme
	assert_output --partial "named twice"
	refused tcp-nvme
	refused -n
	assert_output --partial "-n needs a value"
	refused --from /nonexistent
	refused --from "$TOP/tests/host/data/ab-compare.json"
	assert_output --partial "no fabric-compare result"
}

@test "fabric-compare outside the testbed needs a way to reach the target" {
	SP_VM_ROLE='' refused --addr 10.0.0.1
	assert_output --partial "--ssh HOST or --target-cmd CMD"
}

@test "fabric-compare --from: every path, median with min-max and ratio, each side's CPU" {
	run "$FC" --from "$DATA"
	assert_success
	assert_output --partial "repetitions interleaved"
	assert_output --partial "emulated machines"
	for p in local-nvme tcp-nvme tcp-block rdma-nvme rdma-block; do
		grep -Eq "^$p +[0-9.]+k? " <<<"$output" || fail "no row for $p"
	done
	assert_output --partial "min-max"
	assert_output --partial "ratio: median / median of local-nvme"
	assert_output --partial "tgt softirq"
	assert_output --partial "fabric paths: the target's window"
	run "$FC" --from "$DATA" --json
	assert_success
	jq -e '.schema == "shortpath.fabric-compare/1" and .paths[0].summary.iops.ratio == 1
		and (.paths[1:] | all(.summary.tgt_ns_per_io.median >= 0))' <<<"$output"
}

@test "compare-lib: median of odd and even counts, min-max, nulls left out, ratios to the first path" {
	source "$TOP/bench/compare-lib.bash"
	doc='{"paths":[
	  {"name":"a","runs":[{"x":300,"y":null,"z":0,"cdf":[[1,50],[3,99]]},{"x":100,"y":null,"z":0,"cdf":[[2,50],[5,99]]},{"x":200,"y":null,"z":0,"cdf":[[3,50],[4,99]]}]},
	  {"name":"b","runs":[{"x":600,"y":7,"z":5,"cdf":[[1,50],[1,99]]},{"x":400,"y":null,"z":5,"cdf":[[3,50],[3,99]]}]}]}'
	run cmp_summarize x y z <<<"$doc"
	assert_success
	s=$output
	# odd count: the middle value; even: the mean of the two middle ones
	assert_equal "$(jq -c '.paths[0].summary.x' <<<"$s")" '{"median":200,"min":100,"max":300,"ratio":1}'
	assert_equal "$(jq -c '.paths[1].summary.x' <<<"$s")" '{"median":500,"min":400,"max":600,"ratio":2.5}'
	# a metric the first path lacks, or whose median there is 0, has no ratio
	assert_equal "$(jq -c '.paths[1].summary.y | [.median, .max, .ratio]' <<<"$s")" '[7,7,null]'
	assert_equal "$(jq -c '.paths[1].summary.z.ratio' <<<"$s")" null
	assert_equal "$(jq -c '.paths[0].summary.y.median' <<<"$s")" null
	# the CDF: the median value at each percentile
	assert_equal "$(jq -c '.paths[0].cdf' <<<"$s")" '[[2,50],[4,99]]'
	assert_equal "$(jq -c '.paths[1].cdf' <<<"$s")" '[[2,50],[2,99]]'
}

@test "compare-lib: figures and cells as the tables print them" {
	source "$TOP/bench/compare-lib.bash"
	run jq -r "$CMP_JQ"'[n(null), n(0.12345), n(12.6), n(1234), n(123456)] | join(" ")' <<<null
	assert_output "- 0.123 13 1.2k 123k"
	run jq -r "$CMP_JQ"'[{ratio: 1.23456} | ratio_cell, ({ratio: null} | ratio_cell)] | join(" ")' <<<null
	assert_output "x1.23 -"
	run jq -r "$CMP_JQ"'["path", "1", "22"] | fmt' <<<null
	assert_output "path                       1          22"
}
