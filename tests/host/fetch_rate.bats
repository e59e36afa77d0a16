#!/usr/bin/env bats
# sp-fetch --rate: an open-loop load, the way a p99 at a fixed offered
# load is measured. Requests leave on their schedule, never before it,
# and a request's latency counts from when it was due.
load ../helpers

setup() {
	SD=$(mktemp -d)
	head -c 4096 /dev/urandom >"$SD/f4k"
	PORT=$((20000 + RANDOM % 20000))
	rm -f "$SD/ready"
	"$BIN/sp-serve" -m sendfile -a 127.0.0.1 -p "$PORT" --ready "$SD/ready" "$SD/f4k" \
		>/dev/null 2>"$SD/srv.err" &
	SRV=$!
	wait_for 5 test -e "$SD/ready" || fail "sp-serve did not start: $(cat "$SD/srv.err")"
}

teardown() {
	[[ -n ${SRV:-} ]] && { kill -INT "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null; }
	rm -rf "$SD"
	return 0
}

@test "sp-fetch --rate: 100 requests at 200 per second leave on their schedule, byte-exact" {
	run "$BIN/sp-fetch" -m tcp -s 127.0.0.1 -p "$PORT" -P 4 -n 100 --rate 200 --json "$SD/f4k"
	assert_success
	[[ $(jq -r .ok <<<"$output") == true ]]
	[[ $(jq -r .requests <<<"$output") == 100 ]]
	[[ $(jq -r .mismatches <<<"$output") == 0 ]]
	[[ $(jq -r .offered_rps <<<"$output") == 200 ]]
	# the last request is due at 99/200 s: the run cannot end before it
	# (a lower bound only; a loaded machine may take longer)
	(($(jq -r .elapsed_ns <<<"$output") >= 495000000))
	[[ $(jq -r '.latency_ns.p99 > 0' <<<"$output") == true ]]
}

@test "sp-fetch --rate is refused with --bad and for 0, with one line" {
	run "$BIN/sp-fetch" -m udp -s 127.0.0.1 -p "$PORT" --bad malformed --rate 100 "$SD/f4k"
	assert_failure 2
	assert_output --partial "not with --bad"
	run "$BIN/sp-fetch" -m tcp -s 127.0.0.1 -p "$PORT" -n 1 --rate 0 "$SD/f4k"
	assert_failure 2
	assert_output --partial "rate"
	[[ ${#lines[@]} -eq 1 ]]
}
