#!/usr/bin/env bats
# Guest suite: sp-guard, the BPF LSM guard on NVMe passthrough commands,
# on both ways in (io_uring uring_cmd and the NVMe ioctls). Other uids
# run through setpriv with CAP_SYS_ADMIN kept, because the 6.1 NVMe
# driver asks every passthrough caller for it (later kernels ask only
# for the device's file permissions): the guard refuses before the
# driver's own check would ever be reached.
#
# The policy: root owns the controller (everything); group 100 may read
# the namespace and identify it (what a tool needs to learn the block
# size), nothing else; uid 1001 (group 1001) has no rule at all.

setup() {
	load helpers
	in_guest
	require_bin sp-guard
	require_bin bench-pt-cost
	command -v setpriv >/dev/null || fail "no setpriv in the guest (tests/vm/mkinitramfs)"
	POLICY=$BATS_TEST_TMPDIR/policy
	cat >"$POLICY" <<-'EOF'
	# the owner
	allow uid:0   /dev/nvme0  io:all admin:all
	allow uid:0   /dev/ng0n1  io:all admin:all
	# readers
	allow gid:100 /dev/ng0n1  io:read admin:identify
	EOF
	GUARD_PID=
}

teardown() {
	if [[ -n ${GUARD_PID:-} ]]; then
		kill -TERM "$GUARD_PID" 2>/dev/null || true
		wait "$GUARD_PID" 2>/dev/null || true
	fi
	[[ -n ${CG:-} ]] && rmdir "$CG" 2>/dev/null || true
	[[ -n ${CG_MOUNTED:-} ]] && umount /sys/fs/cgroup 2>/dev/null || true
}

# reader / stranger CMD...: run CMD as uid 1000 in group 100, or as uid
# 1001 in group 1001, keeping what the 6.1 driver and the 0600 nodes ask.
as_uid() {
	local uid=$1 gid=$2
	shift 2
	setpriv --reuid "$uid" --regid "$gid" --clear-groups \
		--inh-caps +sys_admin,+dac_override --ambient-caps +sys_admin,+dac_override -- "$@"
}
reader() { as_uid 1000 100 "$@"; }
stranger() { as_uid 1001 1001 "$@"; }

guard_start() {
	"$SP_BIN/sp-guard" --json "$@" "$POLICY" >"$BATS_TEST_TMPDIR/guard.out" \
		2>"$BATS_TEST_TMPDIR/guard.err" 3>&- &
	GUARD_PID=$!
	wait_for 60 grep -q guarding "$BATS_TEST_TMPDIR/guard.err" ||
		fail "sp-guard did not start: $(cat "$BATS_TEST_TMPDIR/guard.err")"
}

# Stops the guard with SIGNAL (default INT); SUMMARY gets its last line.
guard_stop() {
	kill "-${1:-INT}" "$GUARD_PID"
	wait "$GUARD_PID" || fail "sp-guard exited $? on SIG${1:-INT}: $(cat "$BATS_TEST_TMPDIR/guard.err")"
	GUARD_PID=
	SUMMARY=$(tail -n 1 "$BATS_TEST_TMPDIR/guard.out")
	jq -e '.event == "summary"' <<<"$SUMMARY" >/dev/null || fail "no summary: $SUMMARY"
}

# summary FILTER: the filter on the summary (json: a plain path is
# answered without starting jq again)
summary() { local output=$SUMMARY; json "$1"; }

# Fails unless CMD... fails with EPERM ("Operation not permitted").
refused() {
	run "$@"
	[ "$status" -ne 0 ] || fail "$* succeeded under the guard"
	[[ $output == *"Operation not permitted"* ]] || fail "$* failed otherwise: $output"
}

guard_programs() {
	bpftool prog show | grep -cE 'name guard_(uring_cmd|file_ioctl|ioctl_compat)' || true
}

@test "guard: --check guards every node of the controller and maps ng0n1 rules to nvme0n1" {
	run --separate-stderr "$SP_BIN/sp-guard" --check --json "$POLICY"
	assert_success
	assert_equal "$(json '[.guarded[].device] | sort | join(" ")')" "ng0n1 nvme0 nvme0n1"
	assert_equal "$(json '[.rules[] | select(.subject == "gid:100") | .device] | sort | join(" ")')" \
		"ng0n1 nvme0n1"
	assert_equal "$(json '[.rules[] | select(.subject == "gid:100" and .device == "nvme0n1") |
		.io, .admin] | tostring')" "[[2],[6]]"
}

@test "guard: allowed reads pass on io_uring and on every ioctl" {
	guard_start
	run reader "$SP_BIN/bench-pt-cost" -p uring -n 3 read /dev/ng0n1
	assert_success
	for p in ioctl ioctl64 submit-io; do
		run reader "$SP_BIN/bench-pt-cost" -p "$p" read /dev/nvme0n1
		assert_success
	done
	run reader "$SP_BIN/sp-io" read --lba 8 --blocks 8 /dev/ng0n1
	assert_success
	run reader nvme read /dev/nvme0n1 --start-block=0 --block-count=0 --data-size=512 \
		--data="$BATS_TEST_TMPDIR/read.bin"
	assert_success
	guard_stop
	[ "$(summary .denied)" -eq 0 ] || fail "reads were denied: $SUMMARY"
	[ "$(summary '.by_path.io_uring.io.checked')" -ge 4 ]
	[ "$(summary '.by_path.ioctl.io.checked')" -ge 4 ]
}

@test "guard: a write without the right is refused on io_uring and on the ioctls, the owner's passes" {
	head -c 512 /dev/urandom >"$BATS_TEST_TMPDIR/block"
	guard_start
	# io_uring: sp-io identifies through the ioctl (allowed), then writes
	refused reader "$SP_BIN/sp-io" write --lba 16 --pattern 0x5a /dev/ng0n1
	# ioctl: nvme-cli's write and a raw NVME_IOCTL_IO_CMD write
	refused reader nvme write /dev/nvme0n1 --start-block=16 --block-count=0 --data-size=512 \
		--data="$BATS_TEST_TMPDIR/block"
	refused reader nvme io-passthru /dev/ng0n1 --opcode=1 --namespace-id=1 --data-len=512 \
		--write --input-file="$BATS_TEST_TMPDIR/block" --cdw10=16
	run "$SP_BIN/sp-io" write --lba 16 --pattern 0x5a /dev/ng0n1
	assert_success
	guard_stop
	[ "$(summary .denied)" -eq 3 ] || fail "3 writes refused, guard counted: $SUMMARY"
	[ "$(summary '.by_path.io_uring.io.denied')" -eq 1 ]
	[ "$(summary '.by_path.ioctl.io.denied')" -eq 2 ]
	[ "$(summary '[.denials[] | select(.uid == 1000 and .opcode_name == "write") | .count] | add')" -eq 3 ]
	# and the live events say who, what and where
	run jq -r 'select(.event == "deny") | "\(.uid) \(.path) \(.class) \(.opcode_name) \(.device)"' \
		"$BATS_TEST_TMPDIR/guard.out"
	assert_line "1000 io_uring io write ng0n1"
	assert_line "1000 ioctl io write nvme0n1"
	assert_line "1000 ioctl io write ng0n1"
}

@test "guard: admin Identify is refused through the ioctls and the io_uring admin command" {
	guard_start
	refused stranger nvme id-ctrl /dev/nvme0
	refused stranger "$SP_BIN/bench-pt-cost" -p ioctl64 identify /dev/ng0n1
	refused stranger "$SP_BIN/bench-pt-cost" -p uring identify /dev/nvme0
	# readers may identify the namespace node, not the controller
	run reader "$SP_BIN/bench-pt-cost" -p ioctl identify /dev/ng0n1
	assert_success
	refused reader "$SP_BIN/bench-pt-cost" -p uring identify /dev/nvme0
	run "$SP_BIN/bench-pt-cost" -p uring identify /dev/nvme0
	assert_success
	guard_stop
	[ "$(summary .denied)" -eq 4 ] || fail "4 Identify refused, guard counted: $SUMMARY"
	[ "$(summary '.by_path.io_uring.admin.denied')" -eq 2 ]
	[ "$(summary '.by_path.ioctl.admin.denied')" -eq 2 ]
	[ "$(summary '[.denials[] | select(.opcode_name == "identify") | .count] | add')" -eq 4 ]
}

@test "guard: SQPOLL and polled submissions are judged like any other" {
	require_bin uring_bench
	guard_start
	# set-up (Identify, one proving read) is allowed; every write is not
	run reader "$SP_BIN/uring_bench" -m nvme --sqpoll -w write -q 4 -n 8 /dev/ng0n1
	assert_failure
	run reader "$SP_BIN/uring_bench" -m nvme --iopoll -w write -q 4 -n 8 /dev/ng0n1
	assert_failure
	run reader "$SP_BIN/uring_bench" -m nvme --sqpoll --iopoll -w randread -q 4 -n 64 /dev/ng0n1
	assert_success
	guard_stop
	[ "$(summary '.by_path.io_uring.io.denied')" -ge 2 ] || fail "$SUMMARY"
	[ "$(summary '[.denials[] | select(.opcode_name != "write")] | length')" -eq 0 ] ||
		fail "something else than writes was refused: $SUMMARY"
	# the SQPOLL thread submits for the reader, and is seen as such
	run jq -r 'select(.event == "deny") | "\(.uid) \(.comm)"' "$BATS_TEST_TMPDIR/guard.out"
	assert_line --regexp '^1000 iou-sqp-[0-9]+$'
}

@test "guard: the counts of denials equal the attempts" {
	guard_start
	run stranger "$SP_BIN/bench-pt-cost" -p uring -n 25 read /dev/ng0n1
	assert_failure 1
	run stranger "$SP_BIN/bench-pt-cost" -p ioctl -n 17 read /dev/ng0n1
	assert_failure 1
	run stranger "$SP_BIN/bench-pt-cost" -p submit-io -n 5 read /dev/nvme0n1
	assert_failure 1
	guard_stop
	[ "$(summary .denied)" -eq 47 ] || fail "47 attempts, guard counted: $SUMMARY"
	[ "$(summary .lost_events)" -eq 0 ]
	[ "$(summary '.by_path.io_uring.io.denied')" -eq 25 ]
	[ "$(summary '.by_path.ioctl.io.denied')" -eq 22 ]
	[ "$(summary '[.denials[].count] | add')" -eq 47 ]
	[ "$(grep -c '"event":"deny"' "$BATS_TEST_TMPDIR/guard.out")" -eq 47 ]
}

@test "guard: SUBMIT_IO's 32-bit layout is judged, an unknown NVMe ioctl is refused" {
	guard_start
	# the reader passes the guard; the driver then serves the 32-bit layout
	# or, where it takes it from 32-bit callers only, says ENOTTY itself
	run reader "$SP_BIN/bench-pt-cost" -p submit-io32 -n 3 read /dev/nvme0n1
	refute_output --partial "Operation not permitted"
	# a stranger may not, whichever layout carries the read
	run stranger "$SP_BIN/bench-pt-cost" -p submit-io32 -n 4 read /dev/nvme0n1
	assert_failure 1
	assert_output --partial "Operation not permitted"
	# an 'N' ioctl no kernel defines: refused on a guarded node, even for the reader
	run reader "$SP_BIN/bench-pt-cost" -p unknown-ioctl -n 2 read /dev/ng0n1
	assert_failure 1
	assert_output --partial "Operation not permitted"
	guard_stop
	[ "$(summary '.by_path.ioctl.io.denied')" -eq 4 ] || fail "$SUMMARY"
	[ "$(summary '.by_path.ioctl.admin.denied')" -eq 2 ] || fail "$SUMMARY"
	# unguarded, the unknown ioctl reaches the driver, which does not know it
	run "$SP_BIN/bench-pt-cost" -p unknown-ioctl -n 1 read /dev/ng0n1
	assert_failure
	refute_output --partial "Operation not permitted"
}

@test "guard: a cgroup rule covers the processes below that cgroup" {
	if ! grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts; then
		mount -t cgroup2 none /sys/fs/cgroup || skip "cannot mount cgroup v2"
		CG_MOUNTED=1
	fi
	CG=/sys/fs/cgroup/sp-guard-test
	mkdir -p "$CG"
	echo "allow cgroup:/sp-guard-test /dev/ng0n1 io:read" >>"$POLICY"
	guard_start
	run stranger "$SP_BIN/bench-pt-cost" -p ioctl read /dev/ng0n1
	assert_failure 1
	run bash -c 'cg=$1; shift; echo $$ >"$cg/cgroup.procs" && exec "$@"' _ "$CG" \
		setpriv --reuid 1001 --regid 1001 --clear-groups --inh-caps +sys_admin,+dac_override \
		--ambient-caps +sys_admin,+dac_override -- "$SP_BIN/bench-pt-cost" -p ioctl read /dev/ng0n1
	assert_success
	guard_stop
	[ "$(summary .denied)" -eq 1 ]
}

@test "guard: stopped by SIGINT or SIGTERM, no program stays attached and everything passes again" {
	command -v bpftool >/dev/null || fail "no bpftool in the guest (tests/vm/mkinitramfs)"
	for sig in INT TERM; do
		guard_start
		[ "$(guard_programs)" -ge 2 ] || fail "the guard's programs are not loaded"
		refused stranger "$SP_BIN/bench-pt-cost" -p uring identify /dev/nvme0
		guard_stop "$sig"
		[ "$(guard_programs)" -eq 0 ] || fail "programs left after SIG$sig: $(bpftool prog show)"
		run bpftool link show
		refute_output --partial guard_
	done
	run stranger "$SP_BIN/bench-pt-cost" -p uring identify /dev/nvme0
	assert_success
	run stranger nvme id-ctrl /dev/nvme0
	assert_success
	run reader "$SP_BIN/sp-io" write --lba 24 --pattern 0x11 /dev/ng0n1
	assert_success
	run stranger "$SP_BIN/bench-pt-cost" -p ioctl -n 3 read /dev/ng0n1
	assert_success
}

@test "guard: a policy naming no NVMe node is refused and nothing stays loaded" {
	printf 'allow all /dev/null io:read\n' >"$POLICY"
	run "$SP_BIN/sp-guard" "$POLICY"
	assert_failure 2
	assert_output --partial "is not an NVMe controller or namespace node"
	[ "$(guard_programs)" -eq 0 ]
}
