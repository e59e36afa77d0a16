#!/usr/bin/env bats
# Guest suite, two guests (tests/vm/run --fabric): sp-fabriclat records
# NVMe/TCP commands on the initiator and on the target and joins them
# into one waterfall per command. The target exports its scratch NVMe
# namespace through nvmet on TCP (configfs, set up here); the initiator
# connects through /dev/nvme-fabrics.
# vm-needs: fabric

NQN=nqn.2026-12.io.shortpath:fabriclat

setup_file() {
	load helpers
	load fabric
	[[ ${SP_VM_ROLE:-} == initiator ]] || return 0
	on_target "set -e
		modprobe nvmet-tcp
		grep -q ' /sys/kernel/config ' /proc/mounts || mount -t configfs none /sys/kernel/config
		cd /sys/kernel/config/nvmet
		mkdir -p subsystems/$NQN/namespaces/1 ports/77
		echo 1 > subsystems/$NQN/attr_allow_any_host
		echo -n /dev/nvme0n1 > subsystems/$NQN/namespaces/1/device_path
		echo 1 > subsystems/$NQN/namespaces/1/enable
		echo tcp > ports/77/addr_trtype
		echo ipv4 > ports/77/addr_adrfam
		echo $SP_FABRIC_TARGET_IP > ports/77/addr_traddr
		echo 4477 > ports/77/addr_trsvcid
		ln -sfn /sys/kernel/config/nvmet/subsystems/$NQN ports/77/subsystems/$NQN" >&3 ||
		return 1
	modprobe nvme-tcp
	echo "transport=tcp,traddr=$SP_FABRIC_TARGET_IP,trsvcid=4477,nqn=$NQN" >/dev/nvme-fabrics
}

# the controller and the export, gone (the next suite may export again)
teardown_file() {
	load helpers
	load fabric
	[[ ${SP_VM_ROLE:-} == initiator ]] || return 0
	local c
	for c in /sys/class/nvme/nvme*; do
		[[ $(cat "$c/subsysnqn" 2>/dev/null) == "$NQN" ]] && echo 1 >"$c/delete_controller"
	done
	on_target "cd /sys/kernel/config/nvmet
		rm -f ports/77/subsystems/$NQN; rmdir ports/77
		echo 0 > subsystems/$NQN/namespaces/1/enable; rmdir subsystems/$NQN/namespaces/1
		rmdir subsystems/$NQN" >/dev/null
}

setup() {
	load helpers
	load fabric
	in_guest
	[[ ${SP_VM_ROLE:-} == initiator ]] || fail "not the fabric's initiator (tests/vm/run --fabric)"
	CTRL= NG= BLK=
	wait_for 20 find_fabric_nodes || fail "no namespace of $NQN on the initiator"
}

# CTRL: the TCP controller; NG, BLK: the namespace's generic and block
# nodes (the multipath head's where the kernel has one)
find_fabric_nodes() {
	local c n
	for c in /sys/class/nvme/nvme*; do
		[[ $(cat "$c/subsysnqn" 2>/dev/null) == "$NQN" ]] && CTRL=${c##*/}
	done
	[[ -n $CTRL ]] || return 1
	for n in /sys/block/nvme*n1; do
		[[ $(cat "$n/device/subsysnqn" 2>/dev/null || cat "$n/device/device/subsysnqn" 2>/dev/null) == "$NQN" ]] ||
			[[ -e $n/device/$CTRL || $(readlink -f "$n/device") == */$CTRL ]] || continue
		BLK=/dev/${n##*/}
	done
	[[ -n $BLK ]] || return 1
	NG=/dev/ng${BLK#/dev/nvme}
	[[ -c $NG ]]
}

@test "fabriclat: initiator and target records join into a waterfall per command" {
	local ready=$BATS_TEST_TMPDIR/ready pid ok
	# the target's recorder, detached from the agent's connection
	# (on_target joins lines with "; ": the "&" stays inside one line)
	on_target "rm -f /tmp/fl-t.txt /tmp/fl-t.ready
		setsid sp-fabriclat record --side target -o /tmp/fl-t.txt --ready-fd 3 3>/tmp/fl-t.ready </dev/null >/tmp/fl-t.log 2>&1 & echo \$! > /tmp/fl-t.pid"
	: >"$ready"
	sp-fabriclat record --side initiator -c "$CTRL" -o "$BATS_TEST_TMPDIR/fl-i.txt" \
		--ready-fd 3 3>"$ready" 2>"$BATS_TEST_TMPDIR/fl-i.log" &
	pid=$!
	wait_for 60 test -s "$ready" || fail "the initiator's recorder did not attach: $(cat "$BATS_TEST_TMPDIR/fl-i.log")"
	local until=$((SECONDS + 90))
	while ((SECONDS < until)); do
		on_target "test -s /tmp/fl-t.ready" && { ok=1; break; }
		sleep 0.5
	done
	[[ -n ${ok:-} ]] || fail "the target's recorder did not attach: $(on_target 'cat /tmp/fl-t.log')"

	run uring_bench -m nvme -q 1 -n 200 -b 4k "$NG"
	assert_success
	run uring_bench -m uring -q 8 -n 200 -b 4k "$BLK"
	assert_success

	kill -INT "$pid"
	wait "$pid"
	on_target 'kill -INT $(cat /tmp/fl-t.pid); for i in $(seq 100); do [[ -s /tmp/fl-t.txt ]] && break; sleep 0.1; done'
	on_target 'cat /tmp/fl-t.txt' >"$BATS_TEST_TMPDIR/fl-t.txt"
	run sp-fabriclat merge "$BATS_TEST_TMPDIR/fl-i.txt" "$BATS_TEST_TMPDIR/fl-t.txt" --json -w 1000
	assert_success
	jq -c '{paired, initiator_alone, target_alone, clocks_agree}' <<<"$output" >&3
	cat "$BATS_TEST_TMPDIR/fl-i.log" >&3
	on_target 'cat /tmp/fl-t.log' >&3
	# the 400 reads of both runs, most seen on both sides (the target's
	# record has held 378 to 401 of them, not yet explained); a target
	# command always has its initiator command
	jq -e '.paired >= 300 and .target_alone == 0' <<<"$output"
	jq -e '.clocks_agree' <<<"$output"
	jq -e '.layers_ns.at_target.p50 > 0 and .layers_ns.fabric.p50 > 0' <<<"$output"
	jq -e '.layers_ns.total.min >= .layers_ns.at_target.min' <<<"$output"
	jq -e '[.waterfall[] | .to_target_ns + .at_target_ns + .from_target_ns == .total_ns] | all' <<<"$output"

	# the inner layers: the target's backend split on every kernel
	# (nvmet's bdev hooks exist on both), the transport's send where the
	# initiator's kernel kept nvme_tcp_try_send_cmd_pdu out of line;
	# nvme-tcp has no hook for the response's receive on either
	jq -c '{not_adding_up, unavailable, layers: (.layers_ns | map_values(.p50))}' <<<"$output" >&3
	jq -e '.not_adding_up == 0 and ([.waterfall[] | .adds_up] | all)' <<<"$output"
	jq -e '[.waterfall[] | .target_nvmet_ns > 0 and .target_backend_ns > 0 and
		.target_response_ns > 0 and
		.target_nvmet_ns + .target_backend_ns + .target_response_ns == .at_target_ns] | all' <<<"$output"
	if grep -qw nvme_tcp_try_send_cmd_pdu /proc/kallsyms; then
		jq -e '[.waterfall[] | .send_ns > 0 and .send_ns + .wire_to_target_ns == .to_target_ns] | all' <<<"$output"
	else
		jq -e '.unavailable | index("send")' <<<"$output"
		grep -q 'without their inner moments: nvme_tcp_try_send_cmd_pdu' "$BATS_TEST_TMPDIR/fl-i.log"
	fi
	jq -e '.unavailable | index("receive")' <<<"$output"
	sp-fabriclat merge "$BATS_TEST_TMPDIR/fl-i.txt" "$BATS_TEST_TMPDIR/fl-t.txt" -w 2 >&3
}

@test "fabriclat: merge refuses files in the wrong order and says which" {
	printf '# sp-fabriclat 1 target\n1 2 3 4 0\n' >"$BATS_TEST_TMPDIR/t.txt"
	run sp-fabriclat merge "$BATS_TEST_TMPDIR/t.txt" "$BATS_TEST_TMPDIR/t.txt"
	assert_failure 2
	assert_output --partial "the initiator's file, then the target's"
}
