#!/usr/bin/env bats
# AF_XDP asks for zero copy first and falls back to copy mode with one
# notice. veth (and skb mode everywhere) has no zero-copy AF_XDP, so
# here the fallback is what runs; a NIC whose driver maps the UMEM
# would take the first path.
load ../helpers

setup_file() {
	[[ $(id -u) -eq 0 ]] || return 0
	source "$TOP/bench/netns.sh"
	export SD
	SD=$(mktemp -d /dev/shm/shortpath-zc.XXXXXX)
	head -c 65536 /dev/urandom >"$SD/f64k"
	sp_netns_up "zc$$" || return 1
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
	[[ -n ${SRV_PID:-} ]] && { kill -INT "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; }
	[[ -n ${NS_C:-} ]] && ip -n "$NS_C" link set dev "$VETH_C" xdpdrv off 2>/dev/null
	return 0
}

@test "AF_XDP on veth: zero copy is asked for, refused, said once, and both ends serve in copy mode" {
	rm -f "$SD/ready"
	ip netns exec "$NS_S" "$BIN/sp-serve" -m xdp -i "$VETH_S" --json --ready "$SD/ready" \
		"$SD/f64k" >"$SD/srv.json" 2>"$SD/srv.err" &
	SRV_PID=$!
	wait_for 5 test -e "$SD/ready" || fail "sp-serve -m xdp did not start: $(cat "$SD/srv.err")"
	ip netns exec "$NS_C" "$BIN/sp-fetch" -m xdp -i "$VETH_C" -s "$SRV_IP" -P 4 -n 40 \
		--json "$SD/f64k" >"$SD/cli.json" 2>"$SD/cli.err" || fail "sp-fetch: $(cat "$SD/cli.err")"
	local out
	out=$(cat "$SD/cli.json")
	[[ $(grep -c "zero-copy AF_XDP refused on $VETH_C" "$SD/cli.err") == 1 ]]
	[[ $(jq -r .mismatches <<<"$out") == 0 && $(jq -r .requests <<<"$out") == 40 ]]
	[[ $(jq -r .xdp.zerocopy <<<"$out") == false ]]
	kill -INT "$SRV_PID"
	wait "$SRV_PID"
	SRV_PID=
	[[ $(jq -r .xdp.zerocopy "$SD/srv.json") == false ]]
	# one line, naming the interface and the kernel's reason
	[[ $(grep -c "zero-copy AF_XDP refused on $VETH_S" "$SD/srv.err") == 1 ]]
}
