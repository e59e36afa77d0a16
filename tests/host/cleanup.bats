#!/usr/bin/env bats
# A bench script killed by SIGKILL cannot clean up after itself: what it
# made (namespaces, files, a loop device, tracers, the workqueue mask,
# servers) is undone by `SCRIPT --cleanup` or by the next run of any
# bench script. Each test kills a script at one point, checks that
# something was left (so the test can fail), cleans up and checks the
# machine is as before.
load ../helpers

WQ=/sys/devices/virtual/workqueue/cpumask

setup() {
	require_root
	KILLED=
}

teardown() {
	[[ -n ${KILLED:-} ]] && kill -KILL "$KILLED" 2>/dev/null
	"$TOP/bench/serve-compare" --cleanup 2>/dev/null || true
	loop_teardown
}


ns_of() { ip netns list | grep -q "^sp-srv-$1\b"; }
runs_of() { compgen -G "/run/shortpath/*.$1" >/dev/null; }
procs_in_ns() { [[ -n $(ip netns pids "sp-srv-$1" 2>/dev/null) ]]; }

# serve-compare started in the background; its PID in KILLED
serve_compare_bg() {
	"$TOP/bench/serve-compare" --no-pin --clients 1 --reps 1 --time 5s --sizes 4k \
		--out "$BATS_TEST_TMPDIR/out" "$@" >"$BATS_TEST_TMPDIR/sc.out" 2>&1 &
	KILLED=$!
}

# serve-compare's leftovers of run $1: none
assert_no_serve_leftovers() {
	! ip netns list | grep -E "^sp-(srv|cli)-$1\b" || fail "namespaces of run $1 left"
	! runs_of "$1" || fail "run state of $1 left"
	! compgen -G "/dev/shm/shortpath-serve.*" >/dev/null ||
		fail "files left: $(ls -d /dev/shm/shortpath-serve.*)"
}

@test "serve-compare SIGKILLed with its namespaces up: --cleanup removes them" {
	serve_compare_bg --modes sendfile
	pid=$KILLED
	wait_for 60 ns_of "$pid" || fail "no namespaces: $(cat "$BATS_TEST_TMPDIR/sc.out")"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	KILLED=
	ns_of "$pid" || fail "nothing was left to clean up"
	run "$TOP/bench/serve-compare" --cleanup
	assert_success
	assert_output --partial "serve-compare.$pid"
	assert_no_serve_leftovers "$pid"
}

@test "a namespace's process that ends before its signal is no failure under set -e" {
	# nginx's master takes its workers with it: a listed worker can be
	# gone by the time its own signal is sent. Modelled exactly: the
	# namespace lists a PID that no longer exists.
	ns=sp-srv-t$$
	ip netns add "$ns"
	gone=$(bash -c 'echo $$')
	run bash -c "set -euo pipefail; source '$TOP/bench/netns.sh'
		ip() { if [[ \$1 == netns && \$2 == pids ]]; then echo $gone; else command ip \"\$@\"; fi; }
		sp_netns_del $ns 2; echo removed"
	ip netns del "$ns" 2>/dev/null || true
	assert_success
	assert_output removed
}

@test "serve-compare SIGKILLed while nginx serves: the next run stops it and removes the rest" {
	command -v nginx >/dev/null || fail "nginx is not installed (make deps installs it)"
	serve_compare_bg --modes nginx
	pid=$KILLED
	wait_for 60 procs_in_ns "$pid" || fail "no server started: $(cat "$BATS_TEST_TMPDIR/sc.out")"
	wait_for 30 pgrep -f "nginx.*shortpath-serve" >/dev/null
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	KILLED=
	pgrep -f "nginx.*shortpath-serve" >/dev/null || fail "nginx did not outlive the script"
	# the next run of a bench script cleans up before it starts
	run "$TOP/bench/serve-compare" --no-pin --clients 1 --time 300ms --sizes 4k \
		--modes copy --out "$BATS_TEST_TMPDIR/out2"
	assert_success
	! pgrep -f "nginx.*shortpath-serve" || fail "nginx still runs"
	assert_no_serve_leftovers "$pid"
}

@test "iolat-overhead.sh SIGKILLed with a tracer attached and workers confined: all undone" {
	loop_setup 64M
	mask=$(cat "$WQ")
	stats=$(sysctl -n kernel.bpf_stats_enabled)
	"$TOP/bench/iolat-overhead.sh" --sides floor --reps 50 --time 1s --worker-cpus 1 \
		"$LOOP_DEV" >"$BATS_TEST_TMPDIR/io.out" 2>&1 &
	KILLED=$!
	pid=$KILLED
	floor_running() { pgrep -P "$pid" -x bench-tp-floor >/dev/null; }
	wait_for 120 floor_running || fail "no tracer started: $(cat "$BATS_TEST_TMPDIR/io.out")"
	tracer=$(pgrep -P "$pid" -x bench-tp-floor)
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	KILLED=
	[[ $(cat "$WQ") != "$mask" ]] || fail "the mask was not changed: nothing to test"
	kill -0 "$tracer" || fail "the tracer did not outlive the script"
	run "$TOP/bench/iolat-overhead.sh" --cleanup
	assert_success
	assert_output --partial "iolat-overhead.$pid"
	assert_equal "$(cat "$WQ")" "$mask"
	assert_equal "$(sysctl -n kernel.bpf_stats_enabled)" "$stats"
	! kill -0 "$tracer" 2>/dev/null || fail "bench-tp-floor $tracer still runs"
	! runs_of "$pid" || fail "run state left"
}

@test "iolat-overhead.sh SIGKILLed while it sets up its own targets: files and devices removed" {
	before_loops=$(losetup -n -O NAME,BACK-FILE | grep -c shortpath-bench || true)
	before_dirs=$(ls -d /var/tmp/shortpath-bench.* /dev/shm/shortpath-bench.* 2>/dev/null | wc -l)
	"$TOP/bench/iolat-overhead.sh" --sides floor --reps 50 --time 1s \
		>"$BATS_TEST_TMPDIR/io.out" 2>&1 &
	KILLED=$!
	pid=$KILLED
	# its first target: the 1 GiB file beside /var/tmp, or the loop device
	has_target() {
		(($(ls -d /var/tmp/shortpath-bench.* /dev/shm/shortpath-bench.* 2>/dev/null |
			wc -l) > before_dirs))
	}
	wait_for 120 has_target || fail "no target made: $(cat "$BATS_TEST_TMPDIR/io.out")"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	KILLED=
	has_target || fail "nothing was left to clean up"
	run "$TOP/bench/iolat-overhead.sh" --cleanup
	assert_success
	assert_equal "$(ls -d /var/tmp/shortpath-bench.* /dev/shm/shortpath-bench.* 2>/dev/null | wc -l)" "$before_dirs"
	assert_equal "$(losetup -n -O NAME,BACK-FILE | grep -c shortpath-bench || true)" "$before_loops"
	! runs_of "$pid" || fail "run state left"
	! pgrep -x bench-tp-floor >/dev/null || fail "a tracer is left"
}
