#!/usr/bin/env bats
# sp-guard on a host: the policy language, and the one-line refusal where
# BPF LSM is unavailable. Enforcement itself is tested in the guest
# (tests/vm/guard.bats), whose kernel is booted with bpf in lsm=.
load ../helpers

setup() {
	POLICY=$BATS_TEST_TMPDIR/policy
}

policy() {
	printf '%s\n' "$@" >"$POLICY"
}

@test "sp-guard: without BPF LSM it says so in one line and exits 2" {
	require_root
	run --separate-stderr "$BIN/sp-features" --json
	[[ $(jfield '.features.lsm.supported') == false ]] ||
		skip "BPF LSM works on this kernel: tests/vm/guard.bats covers enforcement"
	policy "allow uid:0 /dev/nvme0 io:all admin:all"
	run --separate-stderr "$BIN/sp-guard" "$POLICY"
	assert_failure 2
	[ -z "$output" ] || fail "stdout is not empty: $output"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "more than one line: $stderr"
	[[ $stderr == "sp-guard: error: BPF LSM unavailable: "* ]] || fail "$stderr"
	if command -v bpftool >/dev/null; then
		run bpftool prog show
		refute_output --partial guard_
	fi
}

@test "sp-guard: policy errors name the file and line, exit 2" {
	policy "# comment" "" "allow everyone /dev/nvme0 io:read"
	run "$BIN/sp-guard" --check "$POLICY"
	assert_failure 2
	assert_output --partial "policy:3: unknown subject 'everyone'"
	policy "allow all /dev/nvme0 io:reed"
	run "$BIN/sp-guard" --check "$POLICY"
	assert_failure 2
	assert_output --partial "policy:1: unknown io opcode 'reed'"
	policy "allow all /dev/nvme0 admin:read"
	run "$BIN/sp-guard" --check "$POLICY"
	assert_failure 2
	assert_output --partial "unknown admin opcode 'read'"
	policy "allow all /dev/nvme0 vendor:0xc0"
	run "$BIN/sp-guard" --check "$POLICY"
	assert_failure 2
	assert_output --partial "unknown command class 'vendor'"
	policy "deny all /dev/nvme0"
	run "$BIN/sp-guard" --check "$POLICY"
	assert_failure 2
	assert_output --partial "unknown statement 'deny'"
	policy "allow uid:0 /dev/nvme0"
	run "$BIN/sp-guard" --check "$POLICY"
	assert_failure 2
	assert_output --partial "expected: allow SUBJECT DEVICE"
	policy "# nothing"
	run "$BIN/sp-guard" --check "$POLICY"
	assert_failure 2
	assert_output --partial "no rules"
	run "$BIN/sp-guard" --check "$BATS_TEST_TMPDIR/missing"
	assert_failure 2
	assert_output --partial "cannot read the policy"
}

@test "sp-guard: a device that is not an NVMe node is refused" {
	policy "allow uid:0 /dev/null io:read"
	run "$BIN/sp-guard" --check "$POLICY"
	assert_failure 2
	assert_output --partial "/dev/null is not an NVMe controller or namespace node"
	policy "guard /dev/no-such-nvme"
	run "$BIN/sp-guard" --check "$POLICY"
	assert_failure 2
	assert_output --partial "/dev/no-such-nvme: No such file or directory"
}

@test "sp-guard: --help lists opcodes and examples; usage errors exit 2" {
	run "$BIN/sp-guard" --help
	assert_success
	assert_output --partial "sanitize"
	assert_output --partial "Examples:"
	run "$BIN/sp-guard"
	assert_failure 2
	run "$BIN/sp-guard" --bogus "$POLICY"
	assert_failure 2
}

@test "bench-pt-cost: usage errors exit 2" {
	run "$BIN/bench-pt-cost" -p carrier-pigeon read /dev/null
	assert_failure 2
	assert_output --partial "unknown path 'carrier-pigeon'"
	run "$BIN/bench-pt-cost" -p submit-io identify /dev/null
	assert_failure 2
	run "$BIN/bench-pt-cost" read "$BATS_TEST_TMPDIR/missing"
	assert_failure 2
	assert_output --partial "cannot open"
	run "$BIN/bench-pt-cost" -p ioctl read /dev/null
	assert_failure 1
	assert_output --partial "Inappropriate ioctl for device"
}

@test "sp-guard: a policy file with no end is refused at its bound, not read into memory" {
	run timeout 20 "$BIN/sp-guard" --check /dev/zero
	assert_failure 2
	assert_output --partial "/dev/zero: larger than 1048576 bytes: not a policy"
}

@test "the fuzzer finds nothing in the guard's policy parser in 6 s" {
	local fz=$TOP/build/fuzz/fuzz_policy corpus
	[[ -x $fz ]] || fail "build/fuzz/fuzz_policy not built (make all builds it)"
	corpus=$BATS_TEST_TMPDIR/corpus
	mkdir -p "$corpus"
	printf 'allow uid:0 /dev/nvme0 io:all admin:identify\nguard /dev/ng0n1\n' >"$corpus/seed"
	run timeout 60 "$fz" -max_total_time=6 -rss_limit_mb=1024 -artifact_prefix="$corpus/" "$corpus"
	assert_success
	assert_output --partial "Done"
}
