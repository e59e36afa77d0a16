#!/usr/bin/env bats
# Guest suite: iolat on the NVMe namespace, for the block path and the
# passthrough path (passthrough commands are block requests too).

setup() {
	load helpers
	in_guest
	require_bin iolat
	require_bin uring_bench
}

# trace N MODE NODE: iolat --json -F on nvme0n1 while uring_bench reads
trace() {
	local n=$1 mode=$2 node=$3
	timeout 60 "$SP_BIN/iolat" --json -F -d nvme0n1 4 1 >"$BATS_TEST_TMPDIR/out" &
	local pid=$!
	sleep 1.5
	"$SP_BIN/uring_bench" --quiet -m "$mode" -q 8 -n "$n" "$node" >/dev/null ||
		fail "uring_bench -m $mode failed"
	wait "$pid" || fail "iolat failed"
	output=$(cat "$BATS_TEST_TMPDIR/out")
}

@test "iolat: block reads of nvme0n1 are all seen" {
	trace 1000 uring /dev/nvme0n1
	assert_equal "$(jq '[.histograms[] | select(.layer == "device" and .op == "read")][0].count' <<<"$output")" 1000
}

@test "iolat: NVMe passthrough reads are block requests too, as driver commands" {
	trace 1000 nvme /dev/ng0n1
	# REQ_OP_DRV_IN, not read: 1000 plus the one read the backend sends
	# at set-up to prove the path
	assert_equal "$(jq '[.histograms[] | select(.layer == "device" and .op == "drv_in")][0].count' <<<"$output")" 1001
	assert_equal "$(jq '[.histograms[] | select(.op == "read")] | length' <<<"$output")" 0
}

@test "iolat: block reads of nvme0n1 through io_uring are not punted to io-wq" {
	trace 1000 uring /dev/nvme0n1
	entry=$(jq -c '[.io_uring[] | select(.comm == "uring_bench")][0]' <<<"$output")
	assert_equal "$(jq .submitted <<<"$entry")" 1000
	assert_equal "$(jq .punted <<<"$entry")" 0
}
