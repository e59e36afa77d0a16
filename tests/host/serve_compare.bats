#!/usr/bin/env bats
# bench/serve-compare's latency and cost phases: the open-loop rows at a
# fixed offered load and the per-request cost of each server, and the
# AF_XDP cache's hit path with two client threads. What is checked is
# that each phase measured what it says, never how fast. tests/run runs
# this suite before the guests start (see there).
load ../helpers

setup() {
	require_root
	OUT=$(mktemp -d)
}

teardown() {
	rm -rf "$OUT"
	return 0
}

@test "serve-compare --cost --load: p99 at a fixed load and syscalls per request for a TCP mode, nginx and the UDP server" {
	run timeout 300 "$TOP/bench/serve-compare" --sizes 4k --time 1s --clients 1 \
		--modes "sendfile nginx xdp-udp" --load 0.5 --cost --out "$OUT" --json
	assert_success
	# the fixed load is half the best TCP peak, offered to every mode
	jq -e '.fixed_load | map(.mode) == ["sendfile", "nginx", "xdp-udp"]' <<<"$output"
	jq -e '(.results | map(select(.mode == "sendfile" or .mode == "nginx")) | max_by(.rps).rps / 2 | floor) as $o
		| .fixed_load | all(.offered_rps == $o and .p99_us > 0 and .p99_us >= .p50_us)' <<<"$output"
	# every request costs a TCP server at least its recv and its send; the
	# UDP server's syscalls serve a batch of requests each, so how many a
	# request costs it depends on the load (and sp-cost counts the
	# server's whole life, start-up and idle waits included): that figure
	# is the benchmark's, only its presence is checked here
	jq -e '.cost | length == 3 and all(.requests > 0 and .cpu_us_per_req > 0 and .syscalls_per_req > 0)' <<<"$output"
	jq -e '.cost | map(select(.mode != "xdp-udp")) | all(.syscalls_per_req >= 2)' <<<"$output"
	[[ -s $OUT/fixed-load.json && -s $OUT/cost.json ]]
	run pgrep -f "nginx -q -p /dev/shm/shortpath-serve"
	assert_failure
}

@test "serve-compare refuses a --load outside 0..1 with one line" {
	run "$TOP/bench/serve-compare" --load 1.5
	assert_failure 2
	assert_output --partial "bad --load '1.5'"
	[[ ${#lines[@]} -eq 1 ]]
}

@test "serve-compare: the cache's hit path with two AF_XDP client threads completes, replies handed between threads" {
	run "$TOP/bench/serve-compare" --sizes 1m --len 1k --time 1s --modes xdp-cache \
		--clients 2 --out "$BATS_TEST_TMPDIR/sc"
	assert_success
	assert_output --regexp 'xdp-cache +1m +1x2 +[0-9]+'
	refute_output --partial "still missing"
}
