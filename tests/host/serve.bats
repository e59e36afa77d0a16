#!/usr/bin/env bats
# sp-serve and sp-fetch between two network namespaces: every mode
# serves files of several sizes byte for byte, bad requests get errors
# and the server keeps serving, and nothing is left behind.
load ../helpers

SERVE=$BIN/sp-serve
FETCH=$BIN/sp-fetch

setup_file() {
	[[ $(id -u) -eq 0 ]] || return 0
	source "$TOP/bench/netns.sh"
	export SD
	SD=$(mktemp -d /dev/shm/shortpath-serve.XXXXXX)
	head -c 4096 /dev/urandom >"$SD/f4k"
	head -c 65536 /dev/urandom >"$SD/f64k"
	head -c 1048576 /dev/urandom >"$SD/f1m"
	# not a multiple of the 1 KiB verify block
	head -c 5000003 /dev/urandom >"$SD/f5m"
	sp_netns_up "bats$$" || return 1
	export NS_S NS_C VETH_S VETH_C SRV_IP CLI_IP
}

teardown_file() {
	[[ -n ${SD:-} ]] || return 0
	source "$TOP/bench/netns.sh"
	sp_netns_down
	rm -rf "$SD"
}

setup() {
	require_root
	[[ -n ${NS_S:-} ]] || skip "no namespaces"
}

teardown() {
	stop_server
	loop_teardown
	[[ -n ${RING_DIR:-} ]] && rm -rf "$RING_DIR"
	[[ -n ${NS_C:-} ]] && ip -n "$NS_C" link set dev "$VETH_C" xdpdrv off 2>/dev/null
	# the one-queue pair of the --threads fallback test, had it skipped
	if [[ -e ${SD:-}/bq.tag ]]; then
		ip netns del "sp-srv-$(cat "$SD/bq.tag")" 2>/dev/null
		ip netns del "sp-cli-$(cat "$SD/bq.tag")" 2>/dev/null
		rm -f "$SD/bq.tag"
	fi
	return 0
}

# start_server MODE [ARGS...]: sp-serve in the server namespace; its
# JSON report goes to $SD/srv.json. Returns 1 when it did not come up.
start_server() {
	local mode=$1 files=("$SD/f4k" "$SD/f64k" "$SD/f1m" "$SD/f5m")
	shift
	[[ -n ${SRV_FILE:-} ]] && files=("$SRV_FILE")
	rm -f "$SD/ready" "$SD/srv.json"
	ip netns exec "$NS_S" "$SERVE" -m "$mode" --json --ready "$SD/ready" "$@" \
		"${files[@]}" >"$SD/srv.json" 2>"$SD/srv.err" &
	SRV_PID=$!
	# ready, or ended without being so
	ready_or_gone() { [[ -e $SD/ready ]] || pid_gone "$SRV_PID"; }
	wait_for 5 ready_or_gone && [[ -e $SD/ready ]] && return 0
	return 1
}

stop_server() {
	[[ -n ${SRV_PID:-} ]] || return 0
	kill -INT "$SRV_PID" 2>/dev/null
	wait "$SRV_PID"
	SRV_STATUS=$?
	SRV_PID=
}

fetch() {
	ip netns exec "$NS_C" "$FETCH" -s "$SRV_IP" "$@"
}

# every size, whole files and 4 KiB / 64 KiB ranges, byte-exact;
# serves_all_sizes udp: the same through the xdp mode (file ids)
serves_all_sizes() {
	local f id=0 m=(-m "${1:-tcp}")
	for f in f4k f64k f1m f5m; do
		run fetch "${m[@]}" --id $((id++)) -q -P 4 -n 12 --json "$SD/$f"
		assert_success
		[[ $(jfield .mismatches) == 0 && $(jfield .requests) == 12 ]]
	done
	run fetch "${m[@]}" --id 3 -q -P 8 -n 200 --len 4k --json "$SD/f5m"
	assert_success
	run fetch "${m[@]}" --id 2 -q -P 2 -n 50 --len 64k --json "$SD/f1m"
	assert_success
	stop_server
	[[ $SRV_STATUS -eq 0 ]]
	[[ $(jq .errors.total "$SD/srv.json") == 0 ]]
	# UDP: a sub-request per 64 KiB, and re-requests count too
	[[ $(jq .requests "$SD/srv.json") -ge 298 ]]
}

# start_xdp [ARGS]: the xdp mode on the server's veth, or skip saying why
start_xdp() {
	if ! start_server xdp -i "$VETH_S" "$@"; then
		grep -v "zero-copy AF_XDP refused" "$SD/srv.err" |
			grep -qiE "refused|not supported|operation not permitted" &&
			skip "AF_XDP unavailable: $(head -1 "$SD/srv.err")"
		cat "$SD/srv.err"
		return 1
	fi
}

@test "copy mode serves 4 KiB to 5 MiB byte-exact" {
	start_server copy
	serves_all_sizes
}

@test "sendfile mode serves 4 KiB to 5 MiB byte-exact" {
	start_server sendfile
	serves_all_sizes
}

@test "splice mode serves 4 KiB to 5 MiB byte-exact" {
	start_server splice
	serves_all_sizes
}

@test "--threads 2: every TCP mode serves byte-exact from two loops; the per-address limit holds across them" {
	local mode
	for mode in copy sendfile splice sendzc; do
		if [[ $mode == sendzc ]]; then start_sendzc --threads 2; else start_server "$mode" --threads 2; fi
		# 32 connections: the kernel's hash leaves neither socket without one
		run fetch -m tcp -q -P 32 -n 400 --len 4k --json "$SD/f1m"
		assert_success
		[[ $(jfield .requests) == 400 && $(jfield .mismatches) == 0 ]]
		stop_server
		[[ $SRV_STATUS -eq 0 ]] || fail "$mode: sp-serve exited $SRV_STATUS"
		jq -e '.threads == 2 and (.thread_requests | length == 2 and all(. > 0) and add == 400)' \
			"$SD/srv.json" || fail "$mode: $(jq -c '{threads, thread_requests}' "$SD/srv.json")"
	done
	# 16 connections held from one address against a limit of 4 for it
	# in all: the kernel spreads them over both loops, which share counts.
	# Held until the 12 refusals are in (a loaded machine is slow to make
	# them), 10 s at most.
	start_server sendfile --threads 2 --max-conns-per-addr 4
	run ip netns exec "$NS_C" perl "$TOP/tests/host/serve-abuse.pl" hold "$CLI_IP" "$SRV_IP" 7878 16 10 until=12
	assert_success
	assert_output "opened 16 closed 12"
	stop_server
	jq -e '.refused_by.per_addr == 12 and .connections == 4' "$SD/srv.json" ||
		fail "$(jq -c '{connections, refused_by}' "$SD/srv.json")"
	run "$SERVE" -m xdp -i lo --threads 2 --writable "$SD/f4k"
	assert_failure 2
	assert_output --partial "--writable runs one loop"
}

# start_sendzc [ARGS]: the sendzc mode, or skip when the kernel has none
start_sendzc() {
	if ! start_server sendzc "$@"; then
		grep -q "no IORING_OP_SEND_ZC" "$SD/srv.err" && skip "$(cat "$SD/srv.err")"
		cat "$SD/srv.err"
		return 1
	fi
}

@test "sendzc mode serves 4 KiB to 5 MiB byte-exact straight from the page cache" {
	start_sendzc --chunk 64k
	serves_all_sizes
	[[ $(jq -r .sendzc_source "$SD/srv.json") == page-cache ]]
	# one notification per send: zero-copy, or copied on the way (veth);
	# f5m alone takes 77 sends of 64 KiB
	[[ $(jq '.sendzc_notifications | .zerocopy + .copied + .unreported' "$SD/srv.json") -ge 77 ]]
}

@test "sendzc mode from registered buffers serves 4 KiB to 5 MiB byte-exact, buffers freed by notifications" {
	# 16 KiB buffers: a 5 MiB file recycles each of them 160 times
	start_sendzc --zc-source buffers --chunk 16k
	serves_all_sizes
	[[ $(jq -r .sendzc_source "$SD/srv.json") == buffers ]]
	[[ $(jq '.sendzc_notifications | .zerocopy + .copied + .unreported' "$SD/srv.json") -ge 320 ]]
}

@test "xdp --passthru refuses a file that is no NVMe namespace or SCSI disk, and leaves nothing attached" {
	run ip netns exec "$NS_S" "$SERVE" -m xdp -i "$VETH_S" --passthru "$SD/f4k"
	[[ $status -eq 1 ]]
	[[ $output == *"not an NVMe namespace or a SCSI disk"* ]]
	! ip -n "$NS_S" link show dev "$VETH_S" | grep -q xdp
	# for the xdp mode only, and not with writes (they bypass it)
	run "$SERVE" -m sendfile --passthru "$SD/f4k"
	[[ $status -eq 2 ]]
	run "$SERVE" -m xdp -i "$VETH_S" --passthru --writable "$SD/f4k"
	[[ $status -eq 2 ]]
	[[ $output == *"--writable and --passthru"* ]]
}

@test "splice mode listens on IPv6 loopback and serves byte-exact; xdp refuses an IPv6 --addr" {
	start_server splice -a ::1
	run ip netns exec "$NS_S" "$FETCH" -s ::1 -q -P 4 -n 12 --json "$SD/f1m"
	assert_success
	[[ $(jfield .mismatches) == 0 && $(jfield .requests) == 12 ]]
	run ip netns exec "$NS_S" "$FETCH" -s ::1 -q -P 2 -n 50 --len 64k --json "$SD/f5m"
	assert_success
	[[ $(jfield .mismatches) == 0 ]]
	stop_server
	[[ $SRV_STATUS -eq 0 ]]
	[[ $(jq .errors.total "$SD/srv.json") == 0 ]]
	run "$SERVE" -m xdp -i lo -a ::1 "$SD/f4k"
	assert_failure 2
	assert_output --partial "--addr: '::1' has no IPv4 address"
	run "$SERVE" -m copy -a no-such-host.invalid "$SD/f4k"
	assert_failure 2
	assert_output --partial "--addr: cannot resolve 'no-such-host.invalid'"
}

@test "sp-serve refuses an unknown --zc-source with exit 2" {
	run "$SERVE" -m sendzc --zc-source disk "$SD/f4k"
	[[ $status -eq 2 ]]
	[[ $output == *"invalid --zc-source 'disk'"* ]]
}

@test "xdp mode serves 4 KiB to 5 MiB byte-exact over AF_XDP, then detaches" {
	start_xdp
	serves_all_sizes udp
	[[ $(jq -r .xdp.attach "$SD/srv.json") =~ ^(native|skb)$ ]]
	[[ $(jq .xdp.frames_tx "$SD/srv.json") -gt 5000 ]]
	# the program is gone from the interface and from the kernel
	run ip -n "$NS_S" link show "$VETH_S"
	refute_output --partial "prog/xdp"
	run bpftool prog show name xsk_redirect
	assert_output ""
}

@test "xdp mode: lost frames are re-requested, counted, and the data still matches" {
	start_xdp --drop-every 97
	run fetch -m udp --id 3 -q -P 4 -n 6 --json "$SD/f5m"
	assert_success
	[[ $(jfield .retransmits) -gt 0 && $(jfield .mismatches) == 0 && $(jfield .lost) == 0 ]]
	stop_server
	[[ $(jq .xdp.dropped "$SD/srv.json") -gt 0 ]]
}

@test "xdp mode: above --max-inflight the server answers BUSY and the client asks again" {
	start_xdp --max-inflight 2
	run fetch -m udp --id 0 -q -P 16 -n 300 --json "$SD/f4k"
	assert_success
	[[ $(jfield .busy_replies) -gt 0 && $(jfield .requests) == 300 ]]
	stop_server
	[[ $(jq .errors.busy "$SD/srv.json") -gt 0 ]]
}

@test "xdp mode: bad requests get error messages; serving goes on" {
	start_xdp --max-len 2m
	for kind in malformed nofile range toobig; do
		run fetch -m udp --id 3 --bad "$kind" "$SD/f5m"
		assert_success
	done
	run fetch -m udp --id 2 -q -n 20 "$SD/f1m"
	assert_success
	stop_server
	run jq -c .errors "$SD/srv.json"
	assert_output '{"total":4,"malformed":1,"nofile":1,"range":1,"toobig":1,"busy":0}'
}

@test "a block device is served too: sendfile and xdp (O_DIRECT into the UMEM) from a loop device" {
	loop_setup 8M
	dd if=/dev/urandom of="$LOOP_DEV" bs=1M count=8 oflag=direct status=none
	SRV_FILE=$LOOP_DEV
	start_server sendfile
	run fetch -q -P 4 -n 8 --json "$LOOP_DEV"
	assert_success
	run fetch -q -P 4 -n 200 --len 4k --json "$LOOP_DEV"
	assert_success
	stop_server
	start_xdp
	run fetch -m udp -q -P 4 -n 4 --json "$LOOP_DEV"
	assert_success
	[[ $(jfield .mismatches) == 0 && $(jfield .bytes) == $((4 * 8 << 20)) ]]
	stop_server
	[[ $(jq .xdp.direct_io "$SD/srv.json") == true ]]
}

@test "xdp mode: files on a disk share one ring (registered files), a tmpfs file is read in the loop; each byte-exact" {
	local d f id=0
	# on the disk's filesystem (O_DIRECT, non-blocking reads); teardown removes it
	d=$(mktemp -d /tmp/shortpath-ring.XXXXXX)
	RING_DIR=$d
	head -c 65536 /dev/urandom >"$d/a"
	head -c 1048576 /dev/urandom >"$d/b"
	# the files are ids 0, 1 (disk) and 2 (tmpfs)
	SRV_FILE=$SD/f64k start_xdp -v "$d/a" "$d/b"
	for f in "$d/a" "$d/b" "$SD/f64k"; do
		run fetch -m udp --id $((id++)) -q -P 4 -n 8 --len 4k --json "$f"
		assert_success
		[[ $(jfield .mismatches) == 0 && $(jfield .requests) == 8 ]]
	done
	stop_server
	[[ $SRV_STATUS -eq 0 ]]
	grep -q "2 file(s) read through uring: .*registered files" "$SD/srv.err" ||
		fail "not one ring for both disk files: $(cat "$SD/srv.err")"
	grep -q "1 file(s) read through psync" "$SD/srv.err"
	(($(jq .xdp.sync_reads "$SD/srv.json") > 0))
}

# start_cache [ARGS]: the xdp mode with the hot-block cache; the client's
# veth gets an XDP program, without which it drops the XDP_TX replies
start_cache() {
	source "$TOP/bench/netns.sh"
	sp_netns_peer_xdp "$TOP/build/bpf/xsk_redirect.bpf.o" ||
		skip "no native XDP on the client's veth"
	start_xdp --cache "$@"
}

# cache FIELD: a field of the cache counters in the server's report
cache() {
	jq ".xdp.cache.$1" "$SD/srv.json"
}

udp_csum_errors() {
	ip netns exec "$NS_C" awk '/^Udp: [0-9]/ { print $8 }' /proc/net/snmp
}

@test "xdp cache: one-KiB units are answered in XDP, byte-exact, after their second miss" {
	local csum0
	start_cache
	csum0=$(udp_csum_errors)
	# f64k: 64 units, each asked for about 40 times
	run fetch -m udp --id 1 -q -P 4 -n 2500 --len 1k --json "$SD/f64k"
	assert_success
	[[ $(jfield .mismatches) == 0 && $(jfield .requests) == 2500 ]]
	# longer requests are not cacheable: they pass by the cache
	run fetch -m udp --id 1 -q -P 4 -n 50 --len 4k --json "$SD/f64k"
	assert_success
	stop_server
	[[ $(cache enabled) == true && $(cache admissions) == 64 && $(cache entries) == 64 ]]
	# every unit missed twice (deferred, then admitted), the rest were hits
	[[ $(cache deferred) -ge 64 && $(cache misses) -ge 128 ]]
	[[ $(( $(cache hits) + $(cache misses) )) -ge 2500 ]]
	[[ $(cache hits) -ge 2000 && $(cache bypasses) -ge 50 ]]
	# the kernel checked the UDP checksums XDP wrote
	[[ $(udp_csum_errors) == "$csum0" ]]
	[[ $(cache stale) == 0 && $(cache evictions) == 0 ]]
}

@test "sp-fetch --sequential: each KiB of a file twice in order fills the cache exactly, then every request hits" {
	start_cache
	# f64k: 64 units; 128 requests in file order miss each unit twice
	run fetch -m udp --id 1 -q -P 4 -n 128 --len 1k --sequential --json "$SD/f64k"
	assert_success
	[[ $(jfield .requests) == 128 && $(jfield .bytes) == 131072 && $(jfield .mismatches) == 0 ]]
	local again=$(jfield .retransmits)
	run fetch -m udp --id 1 -q -P 4 -n 640 --len 1k --sequential --json "$SD/f64k"
	assert_success
	stop_server
	# a request asked again (a lost frame) may miss once more
	[[ $(cache admissions) == 64 && $(cache misses) -ge 128 && $(cache misses) -le $((128 + again)) ]]
	[[ $(cache hits) -ge 640 ]]
	# ordering ranges needs ranges
	run fetch -m udp --id 1 -q -n 4 --sequential "$SD/f64k"
	assert_failure 2
	assert_output --partial "--sequential orders ranges: it needs --len"
}

@test "xdp cache: generic (skb) XDP answers too, without help from the peer" {
	start_xdp --cache --xdp-mode skb --cache-admit 1
	run fetch -m udp --id 1 -q -P 4 -n 1000 --len 1k --json "$SD/f64k"
	assert_success
	[[ $(jfield .mismatches) == 0 ]]
	stop_server
	[[ $(jq -r .xdp.attach "$SD/srv.json") == skb && $(cache hits) -ge 800 ]]
	[[ $(cache admissions) == 64 && $(cache deferred) == 0 ]]
}

@test "xdp cache: a cache smaller than the hot set evicts, and stays byte-exact" {
	start_cache --cache-entries 16 --cache-admit 1
	run fetch -m udp --id 2 -q -P 4 -n 3000 --len 1k --json "$SD/f1m"
	assert_success
	[[ $(jfield .mismatches) == 0 ]]
	stop_server
	[[ $(cache entries) -le 16 && $(cache evictions) -gt 0 ]]
	[[ $(( $(cache admissions) - $(cache evictions) )) == $(cache entries) ]]
	[[ $(cache hits) -gt 0 ]]
}

@test "xdp cache: --no-cache sends every request to the socket" {
	start_xdp --no-cache
	run fetch -m udp --id 1 -q -P 4 -n 300 --len 1k --json "$SD/f64k"
	assert_success
	stop_server
	[[ $(cache enabled) == false && $(cache hits) == 0 && $(cache admissions) == 0 ]]
	[[ $(jq .requests "$SD/srv.json") -ge 300 ]]
}

@test "xdp cache: writes and reads at once; no reader ever gets data older than the last acknowledged write" {
	local f=$SD/fw
	head -c 65536 /dev/urandom >"$f"
	SRV_FILE=$f
	start_cache --writable
	run fetch -m udp --id 0 -q -P 8 -t 3s --fresh 16 --json "$f"
	assert_success
	[[ $(jfield .fresh.stale) == 0 && $(jfield .mismatches) == 0 ]]
	[[ $(jfield .fresh.writes) -gt 100 && $(jfield .requests) -gt 1000 ]]
	stop_server
	# the cache was in the way: it answered, and writes invalidated it
	[[ $(cache hits) -gt 100 && $(cache invalidations) -gt 50 ]]
	# a write resent after a lost or late ACK is done twice
	[[ $(jq .xdp.writes "$SD/srv.json") -ge $(jfield .fresh.writes) ]]
}

@test "xdp cache: a write to a server without --writable is refused; the program and maps are gone after" {
	local f=$SD/fw2
	head -c 16384 /dev/urandom >"$f"
	cp "$f" "$f.orig"
	SRV_FILE=$f
	start_cache
	run fetch -m udp --id 0 -q --fresh 4 -n 10 "$f"
	assert_failure 1
	assert_output --partial "does not take writes"
	cmp "$f" "$f.orig"
	stop_server
	run ip -n "$NS_S" link show "$VETH_S"
	refute_output --partial "prog/xdp"
	run bpftool prog show name xsk_redirect
	assert_output ""
	# maps are freed by a deferred kernel work item: give it a moment
	no_cache_map() { [[ -z $(bpftool map show name cache) ]]; }
	wait_for 2 no_cache_map || true
	run bpftool map show name cache
	assert_output ""
}

# fetch_xdp ARGS: sp-fetch's AF_XDP client on the client's veth
fetch_xdp() {
	fetch -m xdp -i "$VETH_C" "$@"
}

# no_xdp_left: neither veth has a program, and the kernel has none left
no_xdp_left() {
	run ip -n "$NS_S" link show "$VETH_S"
	refute_output --partial "prog/xdp"
	run ip -n "$NS_C" link show "$VETH_C"
	refute_output --partial "prog/xdp"
	run bpftool prog show name xsk_redirect
	assert_output ""
}

# skip_no_xsk: the first AF_XDP fetch failed to set up: skip saying why
# skip_no_xsk: skip when the kernel has no AF_XDP for the client; a busy
# queue is not that (sp-fetch waits for a closed socket's pool to go)
skip_no_xsk() {
	[[ $status -ne 0 && $output =~ (AF_XDP|attaching|link-layer) &&
		! $output =~ "resource busy" ]] &&
		skip "AF_XDP client unavailable: $(grep -m1 sp-fetch <<<"$output")"
	return 0
}

@test "xdp client: AF_XDP fetches 4 KiB to 5 MiB byte-exact, checksums checked; no program left after" {
	local f id=0
	start_xdp
	for f in f4k f64k f1m f5m; do
		run fetch_xdp --id $((id++)) -q -P 4 -n 12 --json "$SD/$f"
		skip_no_xsk
		assert_success
		[[ $(jfield .mismatches) == 0 && $(jfield .requests) == 12 && $(jfield .mode) == xdp ]]
		[[ $(jfield .xdp.csum_errors) == 0 && $(jfield .xdp.frames_rx) -gt 0 ]]
		# what the kernel dropped on the sockets, counted (XDP_STATISTICS)
		[[ $(jfield '.xdp.kernel_drops | [.rx_dropped, .rx_ring_full, .rx_fill_ring_empty, .rx_invalid, .tx_invalid, .tx_ring_empty] | map(type) | unique | tojson') == '["number"]' ]]
	done
	run fetch_xdp --id 3 -q -P 8 -n 200 --len 4k --json "$SD/f5m"
	assert_success
	run fetch_xdp --id 2 -q -P 2 -n 50 --len 64k --json "$SD/f1m"
	assert_success
	[[ $(jfield .bytes) == $((50 * 65536)) ]]
	stop_server
	[[ $SRV_STATUS -eq 0 && $(jq .errors.total "$SD/srv.json") == 0 ]]
	no_xdp_left
}

@test "xdp mode: 3 KiB frames at MTU 3132, and a 4 KiB reply is two frames, the last flagged LAST" {
	[[ $(ip -n "$NS_S" -o link show "$VETH_S") == *"mtu 3132"* ]] ||
		skip "the veth pair kept MTU 1500"
	start_xdp
	run fetch -m udp --id 0 -q -P 4 -n 500 --json "$SD/f4k"
	assert_success
	stop_server
	[[ $(jq .xdp.frame_payload "$SD/srv.json") == 3072 ]]
	# no END frames: the second DATA frame ends each reply; and one
	# TOKEN frame for each request sent before the client had its token
	[[ $(jq .xdp.frames_tx "$SD/srv.json") == \
		$((2 * $(jq .requests "$SD/srv.json") + $(jq .xdp.token_replies "$SD/srv.json"))) ]]
	[[ $(jq .xdp.token_replies "$SD/srv.json") -ge 1 && $(jq .xdp.token_replies "$SD/srv.json") -le 4 ]]
}

@test "xdp client: lost frames are re-requested, counted, and the data still matches" {
	start_xdp --drop-every 97
	run fetch_xdp --id 3 -q -P 4 -n 6 --json "$SD/f5m"
	skip_no_xsk
	assert_success
	[[ $(jfield .retransmits) -gt 0 && $(jfield .mismatches) == 0 && $(jfield .lost) == 0 ]]
	run fetch_xdp --id 0 -q -P 8 -n 2000 --json "$SD/f4k"
	assert_success
	[[ $(jfield .retransmits) -gt 0 && $(jfield .requests) == 2000 ]]
	stop_server
	[[ $(jq .xdp.dropped "$SD/srv.json") -gt 0 ]]
}

@test "xdp client: cache hits come back through AF_XDP with correct UDP checksums" {
	# the client's own program gives its veth the NAPI that XDP_TX needs
	start_xdp --cache
	run fetch_xdp --id 1 -q -P 4 -n 2500 --len 1k --json "$SD/f64k"
	skip_no_xsk
	assert_success
	[[ $(jfield .mismatches) == 0 && $(jfield .requests) == 2500 ]]
	# every hit carries a UDP checksum from XDP, checked by the client
	[[ $(jfield .xdp.csum_errors) == 0 ]]
	stop_server
	[[ $(cache hits) -ge 2000 && $(cache admissions) == 64 ]]
	no_xdp_left
}

@test "xdp client: Ctrl-C and SIGKILL leave no XDP program on the interface" {
	local pid rc=0
	start_xdp
	ip netns exec "$NS_C" "$FETCH" -m xdp -i "$VETH_C" -s "$SRV_IP" -q -t 30s \
		"$SD/f4k" >"$SD/cli.out" 2>&1 &
	pid=$!
	xdp_on() { ip -n "$NS_C" link show "$VETH_C" | grep -q prog/xdp; }
	on_or_gone() { xdp_on || pid_gone "$pid"; }
	wait_for 5 on_or_gone || true
	xdp_on ||
		skip "AF_XDP client unavailable: $(head -1 "$SD/cli.out")"
	kill -INT "$pid"
	wait "$pid" || rc=$?
	[[ $rc -eq 1 ]]
	grep -q interrupted "$SD/cli.out"
	run ip -n "$NS_C" link show "$VETH_C"
	refute_output --partial "prog/xdp"
	# attached through a BPF link: even a killed client leaves nothing
	ip netns exec "$NS_C" "$FETCH" -m xdp -i "$VETH_C" -s "$SRV_IP" -q -t 30s \
		"$SD/f4k" >/dev/null 2>&1 &
	pid=$!
	wait_for 10 xdp_on || fail "a second client attached no XDP program within 10 s"
	kill -KILL "$pid"
	wait "$pid" || true
	xdp_off() { ! xdp_on; }
	wait_for 2 xdp_off || true
	run ip -n "$NS_C" link show "$VETH_C"
	refute_output --partial "prog/xdp"
	stop_server
}

# two_queues: skip unless both veths have two queues (bench/netns.sh)
two_queues() {
	[[ $(ip -n "$NS_C" -d link show "$VETH_C") == *"numrxqueues 2 "* ]] ||
		skip "the veth pair has one queue (SP_NETNS_QUEUES, or refused)"
}

@test "xdp client: 2 threads on 2 queues fetch byte-exact, both served by the one server loop; nothing left" {
	local f id=0
	two_queues
	start_xdp
	for f in f4k f64k f1m f5m; do
		run fetch_xdp --threads 2 --id $((id++)) -q -P 4 -n 12 --json "$SD/$f"
		skip_no_xsk
		assert_success
		[[ $(jfield .mismatches) == 0 && $(jfield .requests) == 12 && $(jfield .lost) == 0 ]]
		[[ $(jfield .xdp.threads) == 2 && $(jfield .xdp.queues) == 2 ]]
		[[ $(jfield .xdp.csum_errors) == 0 ]]
	done
	run fetch_xdp --threads 2 --id 3 -q -P 8 -n 400 --len 4k --json "$SD/f5m"
	assert_success
	[[ $(jfield .bytes) == $((400 * 4096)) ]]
	# each thread fetched its share, each through its own queue
	[[ $(jfield '.xdp.thread_requests[0]') == 200 && $(jfield '.xdp.thread_requests[1]') == 200 ]]
	stop_server
	[[ $SRV_STATUS -eq 0 && $(jq .errors.total "$SD/srv.json") == 0 ]]
	[[ $(jq .xdp.queues "$SD/srv.json") == 2 ]]
	no_xdp_left
}

@test "--rate paces the UDP and AF_XDP clients (2 threads share it): on schedule, byte-exact" {
	two_queues
	start_xdp
	# the last of 100 requests at 200/s is due at 99/200 s: no run ends
	# before it (a lower bound only; a loaded machine may take longer)
	run fetch -m udp --id 0 -q -P 4 -n 100 --rate 200 --json "$SD/f4k"
	assert_success
	[[ $(jfield .requests) == 100 && $(jfield .mismatches) == 0 && $(jfield .offered_rps) == 200 ]]
	(($(jfield .elapsed_ns) >= 495000000))
	run fetch_xdp --threads 2 --id 1 -q -P 4 -n 100 --len 4k --rate 200 --json "$SD/f64k"
	skip_no_xsk
	assert_success
	[[ $(jfield .requests) == 100 && $(jfield .mismatches) == 0 ]]
	# each thread offers 100/s for its 50 requests: due until 49/100 s
	(($(jfield .elapsed_ns) >= 490000000))
	run fetch_xdp --threads 2 --id 1 -q -n 10 --rate 1 "$SD/f64k"
	assert_failure 2
	assert_output --partial "--rate 1 is below --threads 2"
	stop_server
	[[ $SRV_STATUS -eq 0 && $(jq .errors.total "$SD/srv.json") == 0 ]]
}

@test "xdp server --threads 2: a loop per queue, both serve, byte-exact to 2 client threads; nothing left" {
	two_queues
	start_xdp --threads 2
	run fetch_xdp --threads 2 --id 3 -q -P 8 -n 400 --len 4k --json "$SD/f5m"
	skip_no_xsk
	assert_success
	[[ $(jfield .requests) == 400 && $(jfield .mismatches) == 0 && $(jfield .lost) == 0 ]]
	run fetch -m udp --id 2 -q -P 4 -n 20 --json "$SD/f1m"
	assert_success
	[[ $(jfield .mismatches) == 0 ]]
	stop_server
	[[ $SRV_STATUS -eq 0 && $(jq .errors.total "$SD/srv.json") == 0 ]]
	# each client thread sends on its own queue, each queue has its loop
	jq -e '.requests as $r | .threads == 2 and (.thread_requests | length == 2 and all(. > 0) and add == $r)' \
		"$SD/srv.json" || fail "$(jq -c '{threads, thread_requests, requests}' "$SD/srv.json")"
	no_xdp_left
}

@test "xdp client: cache hits through 2 threads, byte-exact with their checksums; Ctrl-C cleans up" {
	local pid rc=0
	two_queues
	start_xdp --cache
	run fetch_xdp --threads 2 --id 1 -q -P 4 -n 4000 --len 1k --json "$SD/f64k"
	skip_no_xsk
	assert_success
	[[ $(jfield .mismatches) == 0 && $(jfield .requests) == 4000 && $(jfield .xdp.csum_errors) == 0 ]]
	ip netns exec "$NS_C" "$FETCH" -m xdp -i "$VETH_C" --threads 2 -s "$SRV_IP" -q -t 30s \
		"$SD/f4k" >"$SD/cli.out" 2>&1 &
	pid=$!
	sleep 1
	kill -INT "$pid"
	wait "$pid" || rc=$?
	[[ $rc -eq 1 ]]
	grep -q interrupted "$SD/cli.out"
	stop_server
	[[ $(cache hits) -ge 3000 ]]
	no_xdp_left
}

@test "xdp client: --threads beyond the queues falls back with a notice; --threads needs -m xdp" {
	local ns_s=$NS_S ns_c=$NS_C veth_s=$VETH_S veth_c=$VETH_C
	run fetch -m udp --threads 2 "$SD/f4k"
	[[ $status -eq 2 && $output == *"--mode xdp"* ]]
	# a one-queue pair of its own, put back whatever happens
	source "$TOP/bench/netns.sh"
	echo "bq$$" >"$SD/bq.tag"
	SP_NETNS_QUEUES=1 sp_netns_up "bq$$" || skip "no second namespace pair"
	local ok=0
	if start_xdp; then
		fetch_xdp --threads 2 --id 0 -n 20 -P 4 --json "$SD/f4k" >"$SD/cli.json" \
			2>"$SD/cli.err" &&
			grep -q "1 thread, not 2" "$SD/cli.err" &&
			[[ $(jq .xdp.threads "$SD/cli.json") == 1 && $(jq .mismatches "$SD/cli.json") == 0 &&
			   $(jq .requests "$SD/cli.json") == 20 ]] && ok=1
		stop_server
		[[ $(jq .xdp.queues "$SD/srv.json") == 1 ]] || ok=0
	fi
	sp_netns_down
	NS_S=$ns_s NS_C=$ns_c VETH_S=$veth_s VETH_C=$veth_c
	[[ $ok == 1 ]]
}

@test "malformed, unknown, out-of-range and oversized requests get errors; serving goes on" {
	start_server sendfile --max-len 2m
	for kind in malformed nofile range toobig; do
		run fetch --bad "$kind" "$SD/f5m"
		assert_success
	done
	# raw garbage, then a header that never ends
	run ip netns exec "$NS_C" bash -c "exec 3<>/dev/tcp/$SRV_IP/7878;
		printf 'GET /\0\1 HTTP/1.1\r\n\r\n' >&3; head -c 12 <&3"
	assert_output "HTTP/1.1 400"
	run ip netns exec "$NS_C" bash -c "exec 3<>/dev/tcp/$SRV_IP/7878;
		head -c 5000 /dev/zero | tr '\0' a >&3; head -c 12 <&3"
	assert_output "HTTP/1.1 400"
	run fetch -q -n 20 "$SD/f1m"
	assert_success
	stop_server
	[[ $SRV_STATUS -eq 0 ]]
	run jq -c .errors "$SD/srv.json"
	assert_output '{"total":6,"malformed":3,"nofile":1,"range":1,"toobig":1,"busy":0}'
}

@test "connections above --max-conns get 503 and are counted" {
	start_server copy --max-conns 1
	run ip netns exec "$NS_C" bash -c "exec 3<>/dev/tcp/$SRV_IP/7878; sleep 0.2;
		exec 4<>/dev/tcp/$SRV_IP/7878; head -c 12 <&4"
	assert_output "HTTP/1.1 503"
	stop_server
	[[ $(jq .refused "$SD/srv.json") == 1 ]]
}

@test "the fuzzer finds nothing in the protocol parsers in 10 s" {
	local fz=$TOP/build/fuzz/fuzz_proto corpus
	[[ -x $fz ]] || fail "build/fuzz/fuzz_proto not built (make all builds it)"
	corpus=$(mktemp -d)
	printf 'GET /f4k HTTP/1.1\r\nRange: bytes=0-99\r\n\r\n' >"$corpus/req"
	printf 'HTTP/1.1 206 Partial\r\nContent-Length: 1\r\nContent-Range: bytes 0-0/9\r\n\r\n' >"$corpus/resp"
	# UDP: a REQ carrying an address token, and a TOKEN (version 3)
	{ printf 'SPPX\x03\x01\x10\x00\x01\x00\x00\x00\x00\x00\x00\x00'
	  printf '\x00\x10\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00'
	  printf '\x07\x00\x00\x00\x00\x00\x00\x00\xaa\xbb\xcc\xdd\xee\xff\x11\x22'; } >"$corpus/reqtok"
	{ printf 'SPPX\x03\x08\x10\x00\x01\x00\x00\x00\x00\x00\x00\x00'
	  printf '\x00\x10\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00'
	  printf '\x07\x00\x00\x00\x00\x00\x00\x00\xaa\xbb\xcc\xdd\xee\xff\x11\x22'; } >"$corpus/token"
	run timeout 120 "$fz" -max_total_time=10 -rss_limit_mb=1024 \
		-artifact_prefix="$corpus/" "$corpus"
	rm -rf "$corpus"
	assert_success
	assert_output --partial "Done"
}

@test "sp-serve and sp-fetch: --help, usage errors" {
	run "$SERVE" --help
	assert_success
	assert_output --partial "Examples:"
	run "$FETCH" --help
	assert_success
	assert_output --partial "Examples:"
	run "$SERVE" -m warp "$SD/f4k"
	assert_failure 2
	assert_output --partial "unknown mode 'warp'"
	run "$SERVE" -m copy
	assert_failure 2
	run "$SERVE" -m copy "$SD/f4k" "$SD/f4k"
	assert_failure 2
	assert_output --partial "two files named"
	run "$FETCH" --len 1000 "$SD/f4k"
	assert_failure 2
	run "$FETCH" /nonexistent
	assert_failure 2
	run "$FETCH" -m xdp "$SD/f4k"
	assert_failure 2
	assert_output --partial "needs --iface"
	run "$FETCH" -m xdp -i lo --fresh 2 "$SD/f4k"
	assert_failure 2
}

@test "serve-compare removes its namespaces, files and servers on Ctrl-C" {
	local pid
	# an asynchronous job ignores SIGINT; give the harness the default back
	perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV' "$TOP/bench/serve-compare" \
		--time 2s --sizes 4k --modes "sendfile copy" --out "$SD/cmp" >/dev/null 2>&1 &
	pid=$!
	ns_made() { ip netns list | grep -q "sp-srv-$pid"; }
	wait_for 5 ns_made || fail "serve-compare made no namespace"
	sleep 1
	kill -INT "$pid"
	local rc=0
	wait "$pid" || rc=$?
	[[ $rc -eq 130 ]]
	run ip netns list
	refute_output --partial "-$pid"
	run pgrep -f "sp-serve.*shortpath-serve"
	assert_failure
}

@test "HEAD and suffix ranges, as curl asks for them; replies name their type and date" {
	command -v curl >/dev/null || fail "curl is not installed (make deps installs it)"
	start_server sendfile
	url=http://$SRV_IP:7878/f4k
	run ip netns exec "$NS_C" curl -sS -I "$url"
	assert_success
	assert_output --partial "HTTP/1.1 200 OK"
	assert_output --partial "Content-Length: 4096"
	assert_output --partial "Content-Type: application/octet-stream"
	assert_output --regexp "Date: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT"
	ip netns exec "$NS_C" curl -sS -r -100 -o "$BATS_TEST_TMPDIR/tail" "$url"
	cmp "$BATS_TEST_TMPDIR/tail" <(tail -c 100 "$SD/f4k")
	run ip netns exec "$NS_C" curl -sS -r -100000 -o /dev/null -w '%{http_code} %{size_download}' "$url"
	assert_output "206 4096"
	# keep-alive after a HEAD: the next request on the connection is whole
	ip netns exec "$NS_C" curl -sS -o /dev/null -I "$url" --next -o "$BATS_TEST_TMPDIR/again" "$url"
	cmp "$BATS_TEST_TMPDIR/again" "$SD/f4k"
	stop_server
}

@test "sp-serve --writable applies the writer's rules: never a mounted device, a signature only with --force, one writer" {
	loop_setup 16M
	mkfs.ext4 -q "$LOOP_DEV"
	# a signature: refused, exit 2, before anything listens
	run "$SERVE" -m xdp -i "$VETH_S" --writable "$LOOP_DEV"
	assert_failure 2
	assert_output --partial "--writable: $LOOP_DEV carries a ext4"
	# mounted: refused even with --force
	LOOP_MNT=$(mktemp -d)
	mount "$LOOP_DEV" "$LOOP_MNT"
	run "$SERVE" -m xdp -i "$VETH_S" --writable --force "$LOOP_DEV"
	assert_failure 2
	assert_output --partial "is mounted on $LOOP_MNT"
	run "$SERVE" -m copy --force "$SD/f4k"
	assert_failure 2
	assert_output --partial "--force goes with --writable"
	# one writer at a time: a file another run holds for writing
	"$UB" --quiet -w randwrite -t 4s --size 1M "$SD/locked" >/dev/null &
	ub=$!
	wait_writer "$SD/locked"
	run "$SERVE" -m xdp -i "$VETH_S" --writable "$SD/locked"
	assert_failure 2
	assert_output --partial "being written by another shortpath run"
	wait "$ub"
	rm -f "$SD/locked"
}
