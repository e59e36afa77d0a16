#!/usr/bin/env bats
# Guest suite: bench/fabric-compare on the initiator of the two-guest
# testbed (`tests/vm/run --fabric`, implied by the line below). The
# target exports its NVMe namespace with bench/fabric-setup; the run
# compares it read on the target itself (through the testbed's command
# agent) with NVMe/TCP and NVMe/RDMA, passthrough and block, and must
# leave nothing connected. Structure only: TCG timings say nothing.
# vm-needs: fabric

setup_file() {
	load fabric
	export SP_BIN=${SP_BIN:-/opt/shortpath/bin}
	[[ -x $SP_BIN/fabric-compare ]] || return 0
	on_target ". /tests/fabric.bash; fabric_export --second none --json" \
		>"$BATS_FILE_TMPDIR/target.json" 2>&1 || {
		echo "# the target's set-up failed: $(cat "$BATS_FILE_TMPDIR/target.json")" >&3
		return 1
	}
}

teardown_file() {
	load fabric
	on_target "fabric-setup teardown" || true
}

setup() {
	load helpers
	load fabric
	in_guest
	[[ ${SP_VM_ROLE:-} == initiator ]] || fail "not the fabric testbed's initiator (tests/vm/run fabric)"
	require_bin fabric-compare
	require_bin uring_bench
}

# nothing_connected: no controller of the subsystem is left on the initiator
nothing_connected() {
	local c
	for c in /sys/class/nvme/nvme*; do
		[[ -e $c/subsysnqn ]] || continue
		[[ $(cat "$c/subsysnqn") != nqn.2026-12.io.shortpath:fabric ]] || fail "${c##*/} still connected"
	done
}

@test "fabric-compare: local, TCP and RDMA, passthrough and block, interleaved, with each side's CPU per I/O" {
	run --separate-stderr "$SP_BIN/fabric-compare" --json -n 100 -r 2 --size 8M
	[[ $status == 0 ]] || fail "fabric-compare exited $status: $stderr"
	local j=$output
	jq -e . <<<"$j" >/dev/null || fail "not JSON: $j"
	assert_equal "$(jq -r .schema <<<"$j")" shortpath.fabric-compare/1
	assert_equal "$(jq -r '[.paths[].name] | join(" ")' <<<"$j")" "local-nvme tcp-nvme tcp-block rdma-nvme rdma-block"
	# every path ran twice, 100 I/Os each, in the order asked
	assert_equal "$(jq -r '[.paths[] | .runs | length] | join(" ")' <<<"$j")" "2 2 2 2 2"
	assert_equal "$(jq -r '[.paths[].runs[].ios] | unique | join(" ")' <<<"$j")" 100
	# the target's window held at least the run's 100 x 4 KiB
	jq -e '[.paths[1:][].runs[].tgt_sectors] | all(. >= 800)' <<<"$j" >/dev/null || fail "target windows: $j"
	assert_equal "$(jq -r '[.paths[].runs[].rep] | join(" ")' <<<"$j")" "1 2 1 2 1 2 1 2 1 2"
	# the nodes: the target's own for local, the initiator's fabric nodes
	jq -e '.paths[0].runs | all(.node | test("^/dev/ng[0-9]+n1$"))' <<<"$j" >/dev/null || fail "local node: $j"
	jq -e '[.paths[1,3].runs[].node] | all(test("^/dev/ng[0-9]+n1$"))' <<<"$j" >/dev/null || fail "passthrough nodes"
	jq -e '[.paths[2,4].runs[].node] | all(test("^/dev/nvme[0-9]+n1$"))' <<<"$j" >/dev/null || fail "block nodes"
	# each side's CPU per I/O: present and not negative where it applies;
	# the local path ran on the target, so it has no initiator figure
	jq -e '[.paths[].runs[] | .tgt_ns_per_io, .tgt_user_ns_per_io, .tgt_sys_ns_per_io,
		.tgt_irq_ns_per_io, .tgt_softirq_ns_per_io, .cpu_ns_per_io] | all(. != null and . >= 0)' <<<"$j" >/dev/null ||
		fail "a target CPU figure is missing or negative"
	jq -e '[.paths[1:][].runs[].init_ns_per_io] | all(. != null and . >= 0)' <<<"$j" >/dev/null ||
		fail "an initiator CPU figure is missing or negative"
	jq -e '.paths[0].runs | all(.init_ns_per_io == null)' <<<"$j" >/dev/null || fail "local has an initiator figure"
	jq -e '.paths[0].summary.iops.ratio == 1' <<<"$j" >/dev/null || fail "no ratio to the first path"
	nothing_connected
	# the saved result prints as a table
	printf '%s\n' "$j" >"$BATS_TEST_TMPDIR/fc.json"
	run "$SP_BIN/fabric-compare" --from "$BATS_TEST_TMPDIR/fc.json"
	assert_success
	assert_output --partial "rdma-block"
	assert_output --partial "tgt softirq"
}

@test "fabric-compare: refuses to run over a connection it did not make, and leaves it" {
	local j ctrl
	j=$("$SP_BIN/fabric-setup" initiator --addr "$SP_FABRIC_TARGET_IP" --transport tcp --json) ||
		fail "connect failed"
	ctrl=$(jq -r .controller <<<"$j")
	run --separate-stderr "$SP_BIN/fabric-compare" -n 10 -r 1
	[[ -e /sys/class/nvme/$ctrl ]] || fail "$ctrl was disconnected"
	"$SP_BIN/fabric-setup" teardown
	assert_equal "$status" 2
	[[ $stderr == *"already connected"* ]] || fail "no reason: $stderr"
	assert_equal "$(grep -c . <<<"$stderr")" 1
	nothing_connected
}

@test "fabric-compare: what a SIGKILLed run left connected, --cleanup disconnects" {
	local pid i d c=
	"$SP_BIN/fabric-compare" --json -n 100 -r 1 tcp-nvme tcp-block >/dev/null 2>&1 &
	pid=$!
	for ((i = 0; i < 300; i++)); do
		for d in /sys/class/nvme/nvme*; do
			[[ -e $d/subsysnqn && $(cat "$d/subsysnqn") == nqn.2026-12.io.shortpath:fabric ]] && c=${d##*/}
		done
		[[ -z $c ]] || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" || true
	[[ -n $c ]] || fail "no connection appeared within 30 s"
	[[ -e /sys/class/nvme/$c ]] || skip "the run had already disconnected"
	# its uring_bench and target reading end by themselves (100 I/Os)
	sleep 3
	run "$SP_BIN/fabric-compare" --cleanup
	assert_success
	nothing_connected
	[[ -z $(compgen -G "/run/shortpath/fabric-compare.*") ]] || fail "run state left: $(ls /run/shortpath)"
}
