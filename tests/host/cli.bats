#!/usr/bin/env bats
# Command-line contract of the tools: help, usage errors, exit codes.
load ../helpers

@test "uring_bench --help shows options, examples and exit codes" {
	run "$UB" --help
	assert_success
	assert_output --partial "Usage: uring_bench"
	assert_output --partial "Examples:"
	assert_output --partial "--json"
	assert_output --partial "Exit status"
}

@test "sp-features --help shows examples" {
	run "$BIN/sp-features" --help
	assert_success
	assert_output --partial "Examples:"
}

@test "unknown option is a usage error (2)" {
	run "$UB" --no-such-option /tmp/x
	assert_failure 2
}

# One line naming the option, not getopt's line and then ours.
@test "every tool reports a bad option in one line that names it" {
	for tool in uring_bench iolat sp-features sp-cost sp-fabriclat sp-id sp-io sp-fetch sp-serve sp-guard sp-vfio bench-pt-cost bench-tp-floor; do
		run "$BIN/$tool" --no-such-option=1
		assert_failure 2
		[ "${#lines[@]}" -eq 1 ] || fail "$tool printed ${#lines[@]} lines: $output"
		assert_output "$tool: error: unknown option '--no-such-option'; see --help"
	done
	run "$UB" --bs
	assert_output "uring_bench: error: option '--bs' needs a value; see --help"
	run "$UB" -q
	assert_output "uring_bench: error: option '-q' needs a value; see --help"
	run "$UB" -Z
	assert_output "uring_bench: error: unknown option '-Z'; see --help"
}

@test "unknown mode names the mode" {
	run "$UB" -m warp /tmp/x
	assert_failure 2
	assert_output --partial "unknown mode 'warp'"
}

@test "unknown --rw lists the patterns" {
	run "$UB" -w sideways /tmp/x
	assert_failure 2
	assert_output --partial "randrw"
}

@test "a target-less mode refuses a target, a target mode needs one" {
	run "$UB" -m nop /tmp/x
	assert_failure 2
	assert_output --partial "takes no target"
	run "$UB" -m uring
	assert_failure 2
	assert_output --partial "needs a TARGET"
}

@test "ring options are refused for psync" {
	run "$UB" -m psync --sqpoll /tmp/x
	assert_failure 2
	assert_output --partial "io_uring mode"
}

@test "--sq-cpu without --sqpoll is refused" {
	run "$UB" --sq-cpu 0 /tmp/x
	assert_failure 2
	assert_output --partial "--sq-cpu needs --sqpoll"
}

@test "malformed values are named" {
	run "$UB" --bs 4q /tmp/x
	assert_failure 2
	assert_output --partial "invalid --bs '4q'"
	run "$UB" --iodepth 0 /tmp/x
	assert_failure 2
	assert_output --partial "out of range"
	run "$UB" --runtime soon /tmp/x
	assert_failure 2
}

@test "psync says it ignores iodepth" {
	tmpfs_file
	run "$UB" -m psync -q 8 -n 10 --size 1M "$F"
	tmpfs_teardown
	assert_success
	assert_output --partial "iodepth 8 ignored"
}

@test "sp-id describes a file, in text and JSON" {
	tmpfs_file
	"$UB" -n 1 --size 2M "$F" >/dev/null
	run "$BIN/sp-id" "$F"
	assert_success
	assert_output --partial "2MiB (4096 blocks of 512 bytes)"
	run --separate-stderr "$BIN/sp-id" --json "$F"
	assert_success
	[ "$(jfield '.[0].size')" -eq $((2 << 20)) ]
	[ "$(jfield '.[0].mode')" = uring ]
	tmpfs_teardown
}

@test "sp-io writes and reads one block of a file" {
	tmpfs_file
	"$UB" -n 1 --size 1M "$F" >/dev/null
	run "$BIN/sp-io" write --lba 9 --pattern 0x3c "$F"
	assert_success
	[ "$(od -v -An -tx1 -j $((9 * 512)) -N 512 "$F" | tr -s ' \n' '\n' | sort -u | grep -v '^$')" = 3c ]
	run "$BIN/sp-io" read --lba 9 --out "$TMPF_DIR/back" "$F"
	assert_success
	cmp "$TMPF_DIR/back" <(dd if="$F" bs=512 skip=9 count=1 status=none)
	tmpfs_teardown
}

@test "sp-io and sp-id refuse what they cannot use" {
	run "$BIN/sp-io" read /nonexistent
	assert_failure 2
	run "$BIN/sp-io" frobnicate /dev/null
	assert_failure 2
	assert_output --partial "unknown operation"
	run "$BIN/sp-id"
	assert_failure 2
	run "$BIN/sp-io" --help
	assert_success
	assert_output --partial "Examples:"
}

@test "uring_bench takes fio's spellings" {
	tmpfs_file
	run --separate-stderr "$UB" --ioengine=io_uring --rw=randread --bs=4k --iodepth=8 \
		--numjobs=2 --direct=1 --registerfiles --fixedbufs=1 --sqthread_poll=0 \
		--size 4M --ios 100 --filename="$F" --output-format=json
	assert_success
	[ "$(jfield .config.mode)" = uring ]
	[ "$(jfield .config.jobs)" -eq 2 ]
	[ "$(jfield .result.ios)" -eq 200 ]
	run --separate-stderr "$UB" --ioengine=psync --rwmixread=70 --rw=randrw --direct=0 \
		--ios 100 --output-format=json "$F"
	assert_success
	[ "$(jfield .config.mode)" = psync ]
	run "$UB" --ioengine=libaio "$F"
	assert_failure 2
	assert_output --partial "--ioengine 'libaio' has no mode here"
	run "$UB" --hipri=2 "$F"
	assert_failure 2
	assert_output --partial "invalid --hipri '2': 0 or 1"
	run "$UB" --filename="$F" "$F"
	assert_failure 2
	assert_output --partial "the target is given twice"
	tmpfs_teardown
}

@test "uring_bench JSON: version, time, histogram bins, and reads and writes apart" {
	tmpfs_file
	run --separate-stderr "$UB" --json -w randrw -M 70 --size 4M -n 2000 "$F"
	assert_success
	[[ $(jfield .version) != null && $(jfield .version) != unknown ]]
	[[ $(jfield .time) =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]]
	# the bins add up to the I/Os, and each split histogram to its I/Os
	[ "$(jq '[.result.latency_ns.bins[][2]] | add' <<<"$output")" -eq 2000 ]
	[ "$(jq '.result.read.ios + .result.write.ios' <<<"$output")" -eq 2000 ]
	[ "$(jq '[.result.read.latency_ns.bins[][2]] | add' <<<"$output")" -eq "$(jfield .result.read.ios)" ]
	[ "$(jfield .result.read.ios)" -eq "$(jfield .result.reads)" ]
	run "$UB" -w randrw -M 70 -n 2000 "$F"
	assert_success
	assert_output --regexp '    read      min [0-9.]+  mean'
	assert_output --regexp '    write     min [0-9.]+  mean'
	tmpfs_teardown
}

@test "uring_bench --interval streams a line per interval; with --json, NDJSON" {
	tmpfs_file
	run --separate-stderr "$UB" --interval 200ms -t 1100ms --size 4M "$F"
	assert_success
	[ "$(grep -c '^interval ' <<<"$output")" -ge 4 ]
	assert_output --regexp 'interval +0 +0\.[0-9]+ s +[0-9]+ I/Os +[0-9]+ IOPS'
	run --separate-stderr "$UB" --interval 200ms -t 1100ms --json "$F"
	assert_success
	# every line one document: the intervals, then the result
	jq -e -s '(.[:-1] | all(.schema == "shortpath.uring_bench.interval/1")) and
		(.[-1].schema == "shortpath.uring_bench/1") and length >= 5 and
		([.[:-1][].interval] == [range(0; length - 1)])' <<<"$output"
	run "$UB" --interval 10ms "$F"
	assert_failure 2
	assert_output --partial "invalid --interval '10ms'"
	tmpfs_teardown
}

@test "sp-fetch names the option of a bad value, and resolves host names" {
	run "$BIN/sp-fetch" --len 3x /etc/hostname
	assert_failure 2
	assert_output "sp-fetch: error: invalid --len '3x'; see --help"
	run "$BIN/sp-fetch" -P 0 /etc/hostname
	assert_output "sp-fetch: error: invalid --parallel '0'; see --help"
	run "$BIN/sp-fetch" -s no-such-host.invalid /etc/hostname
	assert_failure 2
	assert_output --partial "--server: cannot resolve 'no-such-host.invalid'"
	run "$BIN/sp-fetch" -m xdp -i lo -s ::1 /etc/hostname
	assert_failure 2
	assert_output --partial "this mode is IPv4 only"
	# a name resolves: nothing listens on the port, so the fetch itself fails (1)
	run "$BIN/sp-fetch" -s localhost -p 9 -n 1 /etc/hostname
	assert_failure 1
	assert_output --partial "127.0.0.1"
}

@test "every bench script answers --version, and --help prints its text, not its code" {
	for s in aios-breakdown.sh compare-fio.sh demo.sh guard-cost.sh iolat-overhead.sh \
		passthru-report.sh ab-compare serve-compare fabric-setup fabric-compare nop-compare; do
		run "$TOP/bench/$s" --version
		assert_success
		assert_output --regexp "^$s \\(shortpath\\) [0-9a-f]"
	done
	run "$TOP/bench/demo.sh" --help
	assert_success
	refute_output --partial "set -euo"
	assert_output --partial "Usage: bench/demo.sh"
}

@test "bench/nop-compare: refuses without a t/io_uring binary, in one line, and reports rounds and ratios" {
	run "$TOP/bench/nop-compare"
	assert_failure 2
	assert_output "nop-compare: --tio PATH is required: the t/io_uring binary to compare with (built from fio's source)"
	run "$TOP/bench/nop-compare" --tio "$BATS_TEST_TMPDIR/none"
	assert_failure 2
	assert_output --partial "no such executable"
	# a stand-in that prints what t/io_uring prints once a second
	cat >"$BATS_TEST_TMPDIR/tio" <<-'EOF'
		#!/bin/sh
		echo "IOPS=1.50M, IOS/call=32/32"
		echo "IOPS=900.00K, IOS/call=32/32"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/tio"
	run --separate-stderr "$TOP/bench/nop-compare" --tio "$BATS_TEST_TMPDIR/tio" \
		--before "$BIN/uring_bench" --rounds 2 --time 1 --json
	assert_success
	# shape only: no rate or ratio is asserted
	jq -e '.schema == "shortpath.nop-compare/1" and (.rounds | length == 6) and
		([.rounds[] | select(.binary == "t_io_uring") | .nops_per_s] == [1200000, 1200000]) and
		([.ratios[] | "\(.of)/\(.to)"] == ["uring_bench/t_io_uring", "uring_bench/before"]) and
		(.config.clocks.uring_bench | IN("tsc", "monotonic")) and .config.clocks.t_io_uring == "tsc" and
		all(.ratios[]; .min <= .median and .median <= .max)' <<<"$output"
}

@test "every JSON document names its schema, the version and its time" {
	run --separate-stderr "$BIN/sp-features" --json
	jq -e '.schema == "shortpath.features/1" and (.version | length > 0) and (.time | test("Z$"))' <<<"$output"
	run --separate-stderr "$BIN/sp-cost" --json -- true
	jq -e '.schema == "shortpath.cost/1" and (.version | length > 0) and (.time | test("Z$"))' <<<"$output"
}

@test "tests/vm/run: a fabric target on another kernel is checked before anything boots" {
	run "$TOP/tests/vm/run" --target-kernel 6.12 -- true
	assert_failure 2
	assert_output --partial "--target-kernel needs --fabric"
	run "$TOP/tests/vm/run" --fabric --target-kernel 5.10 -- true
	assert_failure 2
	assert_output --partial "--target-kernel must be one of: 6.1 6.12"
	run "$TOP/tests/vm/run" --fabric --target-kernel -- true
	assert_failure 2
	assert_output --partial "--target-kernel needs a value"
}

@test "tests/vm/run: --smp takes 1 to 8 vCPUs, checked before anything boots" {
	for n in 0 9 two -1; do
		run "$TOP/tests/vm/run" --smp "$n" -- true
		assert_failure 2
	done
	run "$TOP/tests/vm/run" --smp 9 -- true
	assert_output "vm: --smp must be 1 to 8, not 9 (see tests/vm/run --help)"
	run "$TOP/tests/vm/run" --help
	assert_output --partial "--smp N"
}
