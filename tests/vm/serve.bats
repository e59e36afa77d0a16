#!/usr/bin/env bats
# Serving through a NIC: the testbed's two e1000e, joined by a QEMU hub,
# one in a server namespace and one in a client namespace
# (bench/netns.sh with SP_NETNS_NICS). On the host the only link between
# two namespaces is a veth pair, whose receiving side copies every
# zero-copy fragment (skb_orphan_frags_rx -> skb_copy_ubufs): there
# sendzc cannot be zero copy at all. Here its sends leave by DMA from the
# pages they name, which a kprobe on skb_copy_ubufs (tracefs, no BPF)
# confirms, with a veth pair as the control that must show copies.
# Every byte is checked by sp-fetch. Nothing is timed: under TCG a
# throughput is the emulator's.
load helpers

# a transfer that stalls fails its test instead of the whole guest run
BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-180}

NIC_S_MAC=52:54:00:5e:00:01
NIC_C_MAC=52:54:00:5e:00:02
KP_GROUP=spserve
KP_NAME=copy_ubufs

setup() {
	in_guest
	require_bin sp-serve
	require_bin sp-fetch
	SD=$BATS_TEST_TMPDIR
	head -c 4096 /dev/urandom >"$SD/f4k"
	head -c 1048576 /dev/urandom >"$SD/f1m"
	# not a multiple of the 1 KiB verify block
	head -c 3000007 /dev/urandom >"$SD/f3m"
	source "$SP_BIN/netns.sh"
	NS_S= NS_C= SRV_PID=
}

teardown() {
	stop_server
	[[ -n ${NS_S:-} ]] && sp_netns_down
	kprobe_off
	return 0
}

# The interface with this MAC address, in this namespace.
nic_by_mac() {
	local n
	for n in /sys/class/net/*; do
		[[ $(cat "$n/address" 2>/dev/null) == "$1" ]] && { echo "${n##*/}"; return 0; }
	done
	return 1
}

# nics_up: the server and client namespaces around the two NICs.
nics_up() {
	local s c
	# a NIC of the previous test's namespaces may still be on its way back
	wait_for 5 nic_by_mac "$NIC_S_MAC" && wait_for 5 nic_by_mac "$NIC_C_MAC" ||
		fail "the testbed's e1000e NICs ($NIC_S_MAC, $NIC_C_MAC) are not there"
	s=$(nic_by_mac "$NIC_S_MAC") c=$(nic_by_mac "$NIC_C_MAC")
	SP_NETNS_NICS="$s $c" sp_netns_up "nic$$" || fail "namespaces around $s and $c"
}

# kprobe_on: counts the kernel's copies of zero-copy fragments from now.
kprobe_on() {
	local tr=/sys/kernel/tracing
	echo "p:$KP_GROUP/$KP_NAME skb_copy_ubufs" >>"$tr/kprobe_events" ||
		fail "no kprobe on skb_copy_ubufs"
	echo 1 >"$tr/events/$KP_GROUP/$KP_NAME/enable"
}

kprobe_off() {
	local tr=/sys/kernel/tracing
	[[ -e $tr/events/$KP_GROUP/$KP_NAME ]] || return 0
	echo 0 >"$tr/events/$KP_GROUP/$KP_NAME/enable"
	echo "-:$KP_GROUP/$KP_NAME" >>"$tr/kprobe_events"
}

kprobe_hits() {
	awk -v n="$KP_NAME" -v g="$KP_GROUP" '$1 == n || $1 == g "/" n { print $2 }' \
		/sys/kernel/tracing/kprobe_profile
}

# start_server MODE [ARGS...]: sp-serve in the server namespace; its JSON
# report goes to $SD/srv.json.
start_server() {
	local mode=$1
	shift
	rm -f "$SD/ready"
	ip netns exec "$NS_S" "$SP_BIN/sp-serve" -m "$mode" --json --ready "$SD/ready" "$@" \
		"$SD/f4k" "$SD/f1m" "$SD/f3m" >"$SD/srv.json" 2>"$SD/srv.err" &
	SRV_PID=$!
	wait_for 10 test -e "$SD/ready" || fail "sp-serve -m $mode did not come up: $(cat "$SD/srv.err")"
}

stop_server() {
	[[ -n ${SRV_PID:-} ]] || return 0
	kill -INT "$SRV_PID" 2>/dev/null
	wait "$SRV_PID"
	SRV_STATUS=$?
	SRV_PID=
}

# fetch_all: every file whole, in parallel, then 4 KiB ranges; byte-exact.
fetch_all() {
	local f id=0
	for f in f4k f1m f3m; do
		run ip netns exec "$NS_C" "$SP_BIN/sp-fetch" -s "$SRV_IP" --id $((id++)) -q -P 2 -n 4 \
			--json "$SD/$f"
		assert_success
		[[ $(json .mismatches) == 0 && $(json .requests) == 4 ]] ||
			fail "$f: $(json '{requests, mismatches}' | tr -d '\n')"
	done
	run ip netns exec "$NS_C" "$SP_BIN/sp-fetch" -s "$SRV_IP" --id 2 -q -P 4 -n 64 --len 4k \
		--json "$SD/f3m"
	assert_success
	[[ $(json .mismatches) == 0 ]]
	stop_server
	[[ $SRV_STATUS -eq 0 ]] || fail "sp-serve exited $SRV_STATUS: $(cat "$SD/srv.err")"
	[[ $(srv .errors.total) == 0 ]]
}

# srv FILTER: json FILTER on the server's JSON report
srv() { json_file "$SD/srv.json" "$1"; }

# sendzc_sends: notifications the server had, whatever they said
sendzc_sends() {
	jq '.sendzc_notifications | .zerocopy + .copied + .unreported' "$SD/srv.json"
}

@test "the testbed's NICs carry TCP between two namespaces, every serving mode byte-exact" {
	nics_up
	for mode in copy sendfile splice; do
		start_server "$mode"
		fetch_all
	done
}

@test "sendzc through a NIC: byte-exact, nothing copied at delivery, nearly every send zero copy" {
	nics_up
	kprobe_on
	local before
	before=$(kprobe_hits)
	start_server sendzc --chunk 64k
	fetch_all
	# 3 MiB in 64 KiB sends, four times over, and the rest
	[[ $(sendzc_sends) -ge 180 ]] || fail "only $(sendzc_sends) sendzc notifications"
	# nothing copied at delivery: the NIC took page references
	assert_equal "$(($(kprobe_hits) - before))" 0
	# and nearly every send went zero copy; a kernel may still copy a
	# short send into the skb as it builds it (6.12 did for 3 of ~200)
	local copied sends
	copied=$(srv .sendzc_notifications.copied)
	sends=$(sendzc_sends)
	((copied * 20 <= sends)) || fail "$copied of $sends sends were copied"
}

@test "sendzc from registered buffers through a NIC: byte-exact, nothing copied at delivery, nearly every send zero copy" {
	nics_up
	kprobe_on
	local before copied sends
	before=$(kprobe_hits)
	start_server sendzc --zc-source buffers --chunk 16k
	fetch_all
	sends=$(sendzc_sends)
	((sends >= 700)) || fail "only $sends sendzc notifications"
	assert_equal "$(($(kprobe_hits) - before))" 0
	# as from user memory: 6.12 once reported a few of ~770 sends copied
	# as it built their skbs
	copied=$(srv .sendzc_notifications.copied)
	((copied * 20 <= sends)) || fail "$copied of $sends sends were copied"
}

@test "control: over a veth pair the kernel copies sendzc's sends, and the probe sees it" {
	sp_netns_up "veth$$" || fail "no veth namespace pair"
	kprobe_on
	local before
	before=$(kprobe_hits)
	start_server sendzc --chunk 64k
	fetch_all
	(($(kprobe_hits) - before >= 180)) || fail "only $(($(kprobe_hits) - before)) copies seen"
}

@test "xdp --passthru: an NVMe namespace read with NVMe commands straight into the UMEM, byte-exact; two files on one ring" {
	local dev=/dev/nvme0n1
	[[ -b $dev ]] || fail "no $dev in the testbed"
	# the whole namespace random, so that every range fetched is checked
	dd if=/dev/urandom of="$dev" bs=1M count=$((SP_NVME_BYTES >> 20)) oflag=direct \
		conv=fsync status=none
	sp_netns_up "pt$$" || fail "no veth namespace pair"
	rm -f "$SD/ready"
	# the namespace again under another name: a second file, on the same ring
	ln -sf "$dev" "$SD/again"
	ip netns exec "$NS_S" "$SP_BIN/sp-serve" -m xdp -i "$VETH_S" --passthru --json -v \
		--ready "$SD/ready" "$dev" "$SD/again" >"$SD/srv.json" 2>"$SD/srv.err" &
	SRV_PID=$!
	wait_for 20 test -e "$SD/ready" || fail "sp-serve --passthru did not come up: $(cat "$SD/srv.err")"
	run ip netns exec "$NS_C" "$SP_BIN/sp-fetch" -m udp --id 0 -s "$SRV_IP" -q -P 4 -n 200 \
		--len 4k --json "$dev"
	assert_success
	[[ $(json .mismatches) == 0 && $(json .requests) == 200 ]]
	run ip netns exec "$NS_C" "$SP_BIN/sp-fetch" -m udp --id 0 -s "$SRV_IP" -q -P 2 -n 20 \
		--len 64k --json "$dev"
	assert_success
	[[ $(json .mismatches) == 0 ]]
	run ip netns exec "$NS_C" "$SP_BIN/sp-fetch" -m udp --id 1 -s "$SRV_IP" -q -P 4 -n 20 \
		--len 4k --json "$dev"
	assert_success
	[[ $(json .mismatches) == 0 && $(json .requests) == 20 ]]
	stop_server
	[[ $SRV_STATUS -eq 0 ]] || fail "sp-serve exited $SRV_STATUS: $(cat "$SD/srv.err")"
	grep -q "2 namespace(s) read through nvme: .*registered files" "$SD/srv.err" ||
		fail "the two files not on one ring: $(cat "$SD/srv.err")"
	# every frame came from an NVMe read command, none from pread or O_DIRECT
	assert_equal "$(srv .xdp.passthru_backend)" nvme
	(($(srv .xdp.passthru_reads) >= 200 * 2 + 20 * 22)) ||
		fail "only $(srv .xdp.passthru_reads) passthrough reads"
	assert_equal "$(srv .xdp.sync_reads)" 0
	assert_equal "$(srv .errors.total)" 0
}

@test "xdp on an e1000e: zero-copy AF_XDP asked for, refused by the driver, said once; copy mode serves byte-exact" {
	nics_up
	start_server xdp -i "$VETH_S"
	run ip netns exec "$NS_C" "$SP_BIN/sp-fetch" -m udp --id 1 -s "$SRV_IP" -q -P 4 -n 8 \
		--json "$SD/f1m"
	assert_success
	[[ $(json .mismatches) == 0 && $(json .requests) == 8 ]]
	stop_server
	[[ $SRV_STATUS -eq 0 ]] || fail "sp-serve exited $SRV_STATUS: $(cat "$SD/srv.err")"
	# e1000e maps no UMEM for DMA: the probe's refusal, in one line
	assert_equal "$(srv .xdp.zerocopy)" false
	assert_equal "$(grep -c "zero-copy AF_XDP refused on $VETH_S" "$SD/srv.err")" 1
	(($(srv .xdp.frames_tx) > 0))
}
