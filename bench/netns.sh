# Two network namespaces joined by a veth pair (or by two NICs wired to
# each other, see sp_netns_move_nics), for the serving tools:
# the server side (NS_S, VETH_S, SRV_IP) and the client side (NS_C,
# VETH_C, CLI_IP). Names carry a tag (default: the shell's PID), so
# that runs side by side do not collide. Sourced by bench/serve-compare,
# bench/demo.sh, tests/host/serve.bats and tests/vm/serve.bats.
# shellcheck shell=bash

# sp_netns_up [TAG]: creates the pair; 0 or 1 (with the cause on stderr).
# Each end has SP_NETNS_QUEUES receive and transmit queues (default 2,
# one per CPU here: AF_XDP sockets and client threads take one each;
# refused, one with a notice).
# The MTU is SP_NETNS_MTU (default 3132: the xdp mode's DATA frames then
# carry 3 KiB, so a 4 KiB reply is two frames; still within what veth
# allows under an XDP program without multi-buffer support). Refused, it
# stays at 1500 with a notice, and the xdp mode sends 1 KiB frames.
sp_netns_up() {
	local tag=${1:-$$}
	NS_S=sp-srv-$tag NS_C=sp-cli-$tag
	VETH_S=sps$tag VETH_C=spc$tag
	SRV_IP=10.77.0.1 CLI_IP=10.77.0.2
	VETH_S=${VETH_S:0:15} VETH_C=${VETH_C:0:15}
	local q=${SP_NETNS_QUEUES:-2} nics
	read -r -a nics <<<"${SP_NETNS_NICS:-}"
	# a bench script's run state: removed by a later run if this one is killed
	if declare -F sp_run_record >/dev/null; then
		sp_run_record netns "$NS_S"
		sp_run_record netns "$NS_C"
	fi
	ip netns add "$NS_S" && ip netns add "$NS_C" || {
		echo "netns: could not create $NS_S/$NS_C" >&2
		sp_netns_down
		return 1
	}
	if ((${#nics[@]})); then
		sp_netns_move_nics "${nics[@]}" || { sp_netns_down; return 1; }
	else
		ip link add "$VETH_S" numtxqueues "$q" numrxqueues "$q" netns "$NS_S" type veth \
			peer name "$VETH_C" numtxqueues "$q" numrxqueues "$q" netns "$NS_C" 2>/dev/null || {
			[[ $q == 1 ]] || echo "netns: a veth pair with $q queues refused; one queue" >&2
			ip link add "$VETH_S" netns "$NS_S" type veth peer name "$VETH_C" netns "$NS_C"
		}
	fi &&
	ip -n "$NS_S" addr add "$SRV_IP/24" dev "$VETH_S" &&
	ip -n "$NS_C" addr add "$CLI_IP/24" dev "$VETH_C" &&
	sp_netns_set_mtu &&
	ip -n "$NS_S" link set lo up && ip -n "$NS_C" link set lo up &&
	ip -n "$NS_S" link set "$VETH_S" up && ip -n "$NS_C" link set "$VETH_C" up || {
		echo "netns: could not build the namespace pair $NS_S/$NS_C" >&2
		sp_netns_down
		return 1
	}
	if ((${#nics[@]})) && ! sp_netns_wait_carrier; then
		echo "netns: no link between $VETH_S and $VETH_C after 10 s" >&2
		sp_netns_down
		return 1
	fi
	return 0
}

# The MTU (SP_NETNS_MTU), set while the links are down: a NIC resets
# itself for a new MTU once up, and its link drops for a while. A refusal
# leaves 1500 with a notice, not a failure.
sp_netns_set_mtu() {
	local mtu=${SP_NETNS_MTU:-3132}
	[[ $mtu == 1500 ]] && return 0
	ip -n "$NS_S" link set "$VETH_S" mtu "$mtu" 2>/dev/null &&
	ip -n "$NS_C" link set "$VETH_C" mtu "$mtu" 2>/dev/null || {
		echo "netns: MTU $mtu refused on the veth pair; staying at 1500" >&2
		ip -n "$NS_S" link set "$VETH_S" mtu 1500 2>/dev/null
		ip -n "$NS_C" link set "$VETH_C" mtu 1500 2>/dev/null
	}
	return 0
}

# With SP_NETNS_NICS="NIC_S NIC_C", two existing interfaces wired to each
# other (the QEMU testbed's NICs) take the veth pair's place: moved into
# the namespaces under their own names (VETH_S, VETH_C), and back to the
# first namespace when those are removed. A namespace is removed in the
# background: a NIC still on its way back is waited for.
sp_netns_move_nics() {
	local nic
	(($# == 2)) || { echo "netns: SP_NETNS_NICS needs two interfaces, not '$*'" >&2; return 1; }
	for nic in "$@"; do
		for _ in $(seq 50); do
			[[ -e /sys/class/net/$nic ]] && break
			sleep 0.1
		done
	done
	VETH_S=$1 VETH_C=$2
	ip link set dev "$VETH_S" netns "$NS_S" && ip link set dev "$VETH_C" netns "$NS_C" || {
		echo "netns: could not move $VETH_S and $VETH_C into $NS_S/$NS_C" >&2
		return 1
	}
}

# A NIC's link comes up a while after it is set up (a veth's at once).
sp_netns_wait_carrier() {
	for _ in $(seq 100); do
		ip -n "$NS_S" -o link show dev "$VETH_S" | grep -q LOWER_UP &&
			ip -n "$NS_C" -o link show dev "$VETH_C" | grep -q LOWER_UP && return 0
		sleep 0.1
	done
	return 1
}

# sp_netns_peer_xdp OBJECT: attaches the xdp_pass program of OBJECT
# (build/bpf/xsk_redirect.bpf.o) to the client's veth in native mode. A
# veth receives the XDP_TX frames of its peer (the hot-block cache's
# replies) only while it has an XDP program of its own. 0 or 1.
sp_netns_peer_xdp() {
	ip -n "$NS_C" link set dev "$VETH_C" xdpdrv object "$1" program xdp_pass
}

# sp_netns_down: kills what still runs inside, removes both namespaces
# (the veth pair goes with them, and so do XDP programs attached to it;
# NICs go back to the first namespace).
sp_netns_down() {
	local ns
	for ns in ${NS_S:-} ${NS_C:-}; do
		sp_netns_del "$ns"
	done
	return 0
}

# sp_netns_del NS [TENTHS]: what runs inside gets SIGTERM, TENTHS tenths
# of a second (default 10) to end, then SIGKILL; then NS is removed.
sp_netns_del() {
	local ns=$1 tenths=${2:-10} pid i
	[[ -e /run/netns/$ns ]] || return 0
	# a listed process may end before its signal (nginx's master takes its
	# workers with it): a failed kill is no failure, under set -e either
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for ((i = 0; i < tenths; i++)); do
		[[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && break
		sleep 0.1
	done
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		kill -KILL "$pid" 2>/dev/null || true
	done
	ip netns del "$ns" 2>/dev/null || true
	return 0
}
