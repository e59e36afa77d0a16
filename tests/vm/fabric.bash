# The fabric testbed's two guests (tests/vm/run --fabric): the target and
# the initiator, each with a third e1000e NIC on a wire of their own (a
# QEMU socket netdev between the two QEMU processes, on the host's
# loopback). Sourced by the run scripts tests/vm/run writes and by
# tests/vm/fabric.bats (`load fabric`); run as `bash fabric.bash agent`
# it is the target's command agent (one command a connection).
#
# The agent lets a suite on the initiator run a command on the target
# (write data locally there, remove an nvmet port). It exists only in the
# testbed, where the wire reaches nothing but the two guests.
# shellcheck shell=bash disable=SC2034 # the MACs are for the run scripts

SP_FABRIC_TARGET_IP=${SP_FABRIC_TARGET_IP:-10.78.0.1}
SP_FABRIC_INITIATOR_IP=${SP_FABRIC_INITIATOR_IP:-10.78.0.2}
SP_FABRIC_TARGET_MAC=52:54:00:5f:00:01
SP_FABRIC_INITIATOR_MAC=52:54:00:5f:00:02
SP_FABRIC_AGENT_PORT=${SP_FABRIC_AGENT_PORT:-7070}

# fabric_nic MAC: the name of the interface with that MAC
fabric_nic() {
	local n
	for n in /sys/class/net/*; do
		[[ $(cat "$n/address" 2>/dev/null) == "$1" ]] && { echo "${n##*/}"; return 0; }
	done
	return 1
}

# fabric_nic_up MAC ADDR/PREFIX: addresses the fabric NIC and waits (at
# most 20 s) for its link
fabric_nic_up() {
	local nic i
	nic=$(fabric_nic "$1") || { echo "fabric: no NIC with MAC $1" >&2; return 1; }
	ip addr add "$2" dev "$nic" && ip link set "$nic" up || return 1
	for ((i = 0; i < 200; i++)); do
		[[ $(cat "/sys/class/net/$nic/carrier" 2>/dev/null) == 1 ]] && return 0
		sleep 0.1
	done
	echo "fabric: no carrier on $nic after 20 s" >&2
	return 1
}

# fabric_agent_serve: serves commands until one of them asks to stop
# (fabric_target_quit), then returns
fabric_agent_serve() {
	local quit=/run/sp-fabric-quit pid
	rm -f "$quit"
	nc -ll -p "$SP_FABRIC_AGENT_PORT" -e /usr/bin/bash "${BASH_SOURCE[0]}" agent &
	pid=$!
	while [[ ! -e $quit ]] && kill -0 "$pid" 2>/dev/null; do sleep 0.3; done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[[ -e $quit ]]
}

# on_target COMMAND-STRING: runs it on the target (bash -c, output with
# stderr on stdout) and returns its status; 255 when the agent is not
# reachable or the connection ends without a status
on_target() {
	local fd line rc=255
	exec {fd}<>"/dev/tcp/$SP_FABRIC_TARGET_IP/$SP_FABRIC_AGENT_PORT" || {
		echo "fabric: the target's agent ($SP_FABRIC_TARGET_IP:$SP_FABRIC_AGENT_PORT) is not reachable" >&2
		return 255
	}
	printf '%s\n' "${1//$'\n'/; }" >&"$fd"
	while IFS= read -r line <&"$fd"; do
		if [[ $line == "SP-FABRIC-RC "* ]]; then
			rc=${line#SP-FABRIC-RC }
		else
			printf '%s\n' "$line"
		fi
	done
	exec {fd}<&-
	[[ $rc =~ ^[0-9]+$ ]] || rc=255
	return "$rc"
}

# fabric_export [ARG...]: on the target, bench/fabric-setup target on
# its fabric NIC with these arguments added (the suites' set-up)
fabric_export() {
	local nic
	nic=$(fabric_nic "$SP_FABRIC_TARGET_MAC") || { echo "fabric: no NIC with MAC $SP_FABRIC_TARGET_MAC" >&2; return 1; }
	fabric-setup target --nic "$nic" "$@"
}

# fabric_wait_target SECONDS: waits until the target's agent answers
# (the two guests boot independently; the target may come up later)
fabric_wait_target() {
	local end=$((SECONDS + $1))
	while ((SECONDS < end)); do
		# busybox's timeout kills the command it ran in its own place,
		# and the shell reports that as "Terminated" on its own stderr:
		# the group's redirection drops that line
		{ (timeout 5 bash -c "exec 3<>/dev/tcp/$SP_FABRIC_TARGET_IP/$SP_FABRIC_AGENT_PORT"); } 2>/dev/null && return 0
		sleep 1
	done
	echo "fabric: the target's agent ($SP_FABRIC_TARGET_IP:$SP_FABRIC_AGENT_PORT) did not answer within $1 s" >&2
	return 1
}

# fabric_target_quit: tells the target it may tear down and power off
fabric_target_quit() {
	on_target 'touch /run/sp-fabric-quit' >/dev/null 2>&1
}

if [[ ${BASH_SOURCE[0]} == "$0" && ${1:-} == agent ]]; then
	export PATH=/opt/shortpath/bin:/usr/sbin:/usr/bin HOME=/root
	IFS= read -r cmd || exit 0
	(cd /tests 2>/dev/null || cd /; bash -c "$cmd") </dev/null 2>&1
	echo "SP-FABRIC-RC $?"
fi
