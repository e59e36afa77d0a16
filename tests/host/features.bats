#!/usr/bin/env bats
# sp-features: probing eBPF program types at run time.
load ../helpers

setup() {
	require_root
}

@test "every program type is reported, with a reason when unavailable" {
	run --separate-stderr "$BIN/sp-features" --json
	assert_success
	[ "$(jfield '.features | length')" -eq 7 ]
	jq -e '.features | to_entries | all(.value.supported or (.value.reason | length > 0))' <<<"$output"
}

@test "tracepoints load, attach and fire" {
	run "$BIN/sp-features" --require tracepoint,raw_tracepoint,tp_btf
	assert_success
	assert_line --regexp '^tracepoint +yes$'
	assert_line --regexp '^raw_tracepoint +yes$'
}

@test "a required type that is missing fails with its reason" {
	run --separate-stderr "$BIN/sp-features" --json
	missing=$(jq -r '[.features | to_entries[] | select(.value.supported | not) | .key][0] // empty' <<<"$output")
	[[ -n $missing ]] || skip "every program type works on this kernel"
	run "$BIN/sp-features" --require "$missing"
	assert_failure 1
	assert_output --partial "required program type $missing is unavailable"
}

@test "an unknown program type is a usage error" {
	run "$BIN/sp-features" --require tracepoint,warp
	assert_failure 2
	assert_output --partial "unknown program type 'warp'"
}
