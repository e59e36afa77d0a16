#!/usr/bin/env bats
# iolat: per-I/O layer breakdown, block histograms, punt report (host:
# tracepoints only; fentry and kprobes are refused here).
load ../helpers

setup() {
	loop_setup 64M
	DISK=${LOOP_DEV#/dev/}
}

teardown() {
	# an iolat a failed test left running would skew the next ones
	if [ -n "${IOLAT_PID:-}" ] && kill -INT "$IOLAT_PID" 2>/dev/null; then
		wait "$IOLAT_PID" || true
	fi
	# the iostats test turns them off; the loop device is reused
	[ -n "${DISK:-}" ] && echo 1 >"/sys/block/$DISK/queue/iostats" 2>/dev/null
	loop_teardown
	tmpfs_teardown
}

# iolat_bg ARGS: starts iolat in the background (pid in $IOLAT_PID,
# stdout in $LOOP_DIR/out) and returns once its programs are attached.
iolat_bg() {
	rm -f "$LOOP_DIR/ready"
	mkfifo "$LOOP_DIR/ready"
	"$BIN/iolat" --ready-fd 3 "$@" 3>"$LOOP_DIR/ready" >"$LOOP_DIR/out" 2>"$LOOP_DIR/err" &
	IOLAT_PID=$!
	read -r -n 1 -t 60 _ <"$LOOP_DIR/ready" || { cat "$LOOP_DIR/err"; return 1; }
}

# iolat_wait: waits for it to end; its stdout is in $output
iolat_wait() {
	wait "$IOLAT_PID" || { cat "$LOOP_DIR/err"; return 1; }
	output=$(cat "$LOOP_DIR/out")
}

# Runs iolat ARGS for one 3 s interval while uring_bench does N reads
# of the loop device; iolat's stdout ends up in $output.
trace_reads() {
	local n=$1
	shift
	iolat_bg "$@" 3 1
	"$UB" --quiet -m uring -w randread -q 8 -n "$n" "$LOOP_DEV" >/dev/null
	iolat_wait
}

# uring_bench --trace --json ARGS: $output is the trace document
ub_trace() {
	run --separate-stderr "$UB" --quiet --trace --json "$@"
	[ "$status" -eq 0 ] || { echo "exit $status: $stderr"; return 1; }
	output=$(jq -c .trace <<<"$output")
	[ "$output" != null ] || { echo "no trace: $stderr"; return 1; }
}

# the breakdown row of path $1
row() {
	jq -c --arg p "$1" '[.breakdown[] | select(.path == $p)][0]' <<<"$output"
}

@test "iolat: every read of the traced disk is counted once per layer" {
	trace_reads 2000 --json -F -d "$DISK"
	[ "$(jfield '.unit')" = us ]
	[ "$(jfield '[.histograms[] | select(.layer == "device" and .op == "read")][0].count')" -eq 2000 ]
	[ "$(jfield '[.histograms[] | select(.layer == "block_total" and .op == "read")][0].count')" -eq 2000 ]
	# the buckets add up to the count, in every histogram
	jq -e '[.histograms[] | ([.buckets[].count] | add) == .count] | all' <<<"$output"
	# another disk's I/O is filtered out
	[ "$(jfield '[.histograms[] | select(.op != "read")] | length')" -eq 0 ]
}

@test "iolat: per-disk split names the disk" {
	trace_reads 500 --json -D -d "$DISK"
	[ "$(jfield '[.histograms[] | select(.layer == "device")][0].disk')" = "$DISK" ]
}

@test "iolat: text output in bpftrace's layout" {
	trace_reads 1000 -d "$DISK"
	assert_output --partial "@device_us: driver + device (issue -> complete), 1000 I/Os"
	assert_output --regexp '\[[0-9]+K?, [0-9]+K?\) +[0-9]+ \|@+ *\|'
	assert_output --partial "io_uring read: 1000 I/Os"
	assert_output --regexp 'end to end +1000 .* 100\.0%'
}

@test "iolat: milliseconds on request" {
	trace_reads 200 --json -m -d "$DISK"
	[ "$(jfield '.unit')" = ms ]
}

@test "iolat: -Q counts the kernel queue in the device time" {
	trace_reads 500 --json -Q -d "$DISK"
	dev=$(jfield '[.histograms[] | select(.layer == "device")][0].mean')
	tot=$(jfield '[.histograms[] | select(.layer == "block_total")][0].mean')
	[ "$dev" = "$tot" ]
}

@test "iolat: finer and linear buckets" {
	trace_reads 300 --json -B log2:2 -d "$DISK"
	# 4 buckets per power of two: [8, 10) is one of them
	jq -e '[.histograms[].buckets[] | select(.low >= 8) | (.high - .low) * 4 <= .low] | all' <<<"$output"
	trace_reads 300 --json -B linear:0,1000,50 -d "$DISK"
	jq -e '[.histograms[].buckets[] | select(.high < 1000) | .high - .low == 50] | all' <<<"$output"
	trace_reads 100 -B linear:0,100,25 -d "$DISK"
	assert_output --regexp '\[100, \.\.\.\) +[0-9]+ \||\[[0-9]+, [0-9]+\) +[0-9]+ \|'
}

@test "iolat: psync reads break down into layers that add up to end to end" {
	ub_trace -m psync -n 500 "$LOOP_DEV"
	r=$(row read)
	[ "$(jq .e2e.count <<<"$r")" -eq 500 ]
	# every layer of a block read is there once per I/O
	# (a loop device has no scheduler: requests are issued, never inserted),
	# except where the request was issued by another task (kblockd, when
	# the driver was busy): iolat counts those, and they must be rare
	untied=$(jfield '.counters.requests_untied')
	[ "$untied" -le 5 ]
	for l in syscall block; do
		[ "$(jq --arg l $l '[.layers[] | select(.layer == $l)][0].count' <<<"$r")" -eq 500 ]
	done
	# the request moment: the request's own allocation stamp (iostats)
	for l in request device completion; do
		[ "$(jq --arg l $l '[.layers[] | select(.layer == $l)][0].count' <<<"$r")" -eq $((500 - untied)) ]
	done
	# shares add up to 1, layer means to the end-to-end mean (rounding aside)
	# (shares are printed to 3 decimals)
	jq -e '([.layers[].share] | add) as $s | $s > 0.99 and $s < 1.01' <<<"$r"
	jq -e '(([.layers[] | .mean_us * .count] | add) / .e2e.count) as $m |
	       ($m - .e2e.mean_us | fabs) < 0.01 * .e2e.mean_us' <<<"$r"
}

@test "iolat: a disk with queue/iostats off still has its request moment (block_getrq)" {
	# blk-mq does not stamp such a disk's requests: iolat follows the
	# tracepoint instead, or every read would lose its request layer
	echo 0 >"/sys/block/$DISK/queue/iostats"
	ub_trace -m psync -n 300 "$LOOP_DEV"
	r=$(row read)
	untied=$(jfield '.counters.requests_untied')
	[ "$(jq '[.layers[] | select(.layer == "request")][0].count' <<<"$r")" -eq $((300 - untied)) ]
}

@test "iolat: io_uring reads of a loop device are charged to the submitter" {
	ub_trace -m uring -q 8 -n 2000 "$LOOP_DEV"
	r=$(row uring_read)
	[ "$(jq .e2e.count <<<"$r")" -eq 2000 ]
	[ "$(jq '[.layers[] | select(.layer == "uring_submit")][0].count' <<<"$r")" -eq 2000 ]
	# requests another task issued are counted, not tied (see the psync test)
	untied=$(jfield '.counters.requests_untied')
	[ "$untied" -le 20 ]
	[ "$(jq '[.layers[] | select(.layer == "device")][0].count' <<<"$r")" -eq $((2000 - untied)) ]
	# completions run in interrupt/kworker context, yet the requests are ours
	[ "$(jfield '[.histograms[] | select(.layer == "device")][0].count')" -eq 2000 ]
	[ "$(jfield '.io_uring[0].comm')" = uring_bench ]
	[ "$(jfield '.io_uring[0].submitted')" -eq 2000 ]
}

@test "iolat: each I/O's layers add up to its end-to-end time (--events)" {
	iolat_bg --json -e -c uring_bench 3 1
	"$UB" --quiet -m psync -n 300 "$LOOP_DEV" >/dev/null
	iolat_wait
	# 300 reads of one block request each (besides the reads of the
	# loader and of blkid when uring_bench starts)
	[ "$(jfield '[.events[] | select(.path == "read" and .requests == 1)] | length')" -ge 300 ]
	jq -e '[.events[] | ([.layers_ns[]] | add) == .e2e_ns] | all' <<<"$output"
	jq -e '[.events[] | .comm == "uring_bench"] | all' <<<"$output"
}

@test "iolat: write() and fsync() are separate paths" {
	tmpfs_file
	ub_trace -m psync -w write --buffered --fsync 1 -n 100 --size 4M "$F"
	tmpfs_teardown
	[ "$(jq .e2e.count <<<"$(row write)")" -eq 100 ]
	[ "$(jq .e2e.count <<<"$(row fsync)")" -ge 99 ]
}

@test "iolat: io_uring punts per process: every tmpfs O_DIRECT read goes to io-wq here, and what it costs" {
	tmpfs_file
	"$UB" -n 1 --size 16M "$F" >/dev/null
	ub_trace -m uring -n 1000 "$F"
	tmpfs_teardown
	entry=$(jq -c '[.io_uring[] | select(.comm == "uring_bench")][0]' <<<"$output")
	[ "$(jq .submitted <<<"$entry")" -eq 1000 ]
	# the host kernel punts tmpfs reads (the reason iolat reports punts)
	[ "$(jq .punted <<<"$entry")" -eq 1000 ]
	jq -e '.punted_mean_us > 0 and .iowq_us > 0' <<<"$entry"
	[ "$(jq '[.layers[] | select(.layer == "io_wq")][0].count' <<<"$(row uring_read)")" -eq 1000 ]
}

@test "iolat: perf counters on its tracepoints still count while it runs" {
	tmpfs_file
	"$UB" -n 1 --size 16M "$F" >/dev/null
	iolat_bg
	run "$BIN/sp-cost" --json --output "$TMPF_DIR/c" -e io_uring:io_uring_submit_req -- \
		"$UB" --quiet -n 500 "$F"
	kill -INT "$IOLAT_PID"
	iolat_wait
	[ "$(jq '.events["io_uring:io_uring_submit_req"]' "$TMPF_DIR/c")" -eq 500 ]
	tmpfs_teardown
}

@test "iolat: layers the kernel refuses are named once, with the reason" {
	if "$BIN/sp-features" --json 2>/dev/null | jq -e '.features.fentry.supported' >/dev/null; then
		skip "this kernel allows fentry: nothing is refused"
	fi
	ub_trace -m psync -n 10 "$LOOP_DEV"
	jq -e '.unavailable | index("VFS") and index("page cache")' <<<"$output"
	run "$BIN/iolat" 1 1
	assert_success
	[ "$(grep -c 'layers unavailable: VFS, filesystem, page cache' <<<"$output")" -eq 1 ]
	assert_output --regexp 'fentry refused \([^)]+\)'
}

@test "iolat: a stop right after it says ready still gets the report" {
	# the ready byte is held back until the SIGINT has landed
	run --separate-stderr perl "$TOP/tests/host/stop-at-ready.pl" INT "$BIN/iolat" --json --ready-fd 3
	assert_success
	[ "$(jq .interval <<<"$output")" -eq 0 ] || { echo "stdout: '$output' stderr: $stderr"; false; }
}

@test "iolat: filters: comm, pid, minimum latency, operation" {
	trace_reads 300 --json -c no-such-comm
	[ "$(jfield '.breakdown | length')" -eq 0 ]
	[ "$(jfield '.histograms | length')" -eq 0 ]
	trace_reads 300 --json -c uring_bench -M 10000000
	[ "$(jfield '.breakdown | length')" -eq 0 ]
	trace_reads 300 --json -c uring_bench -o write
	[ "$(jfield '.breakdown | length')" -eq 0 ] || { jq -c .breakdown <<<"$output"; false; }
	trace_reads 300 --json -c uring_bench -o read
	[ "$(jq .e2e.count <<<"$(row uring_read)")" -eq 300 ]
}

@test "iolat: per-process breakdown and an SVG picture" {
	run "$UB" --quiet --trace -m psync -n 200 "$LOOP_DEV"
	assert_success
	assert_output --partial "Where the time went (iolat on this run)"
	assert_output --partial "read(): 200 I/Os"
	# a run that ends by itself does not tell the user to press Ctrl-C
	refute_output --partial "Ctrl-C"
	trace_reads 200 --json -P -c uring_bench --svg "$LOOP_DIR/b.svg"
	[ "$(jq -r .comm <<<"$(row uring_read)")" = uring_bench ]
	grep -q '^<svg xmlns' "$LOOP_DIR/b.svg"
	grep -q 'io_uring read (uring_bench' "$LOOP_DIR/b.svg"
	[ "$(grep -c '<rect x=' "$LOOP_DIR/b.svg")" -ge 4 ]
	tail -1 "$LOOP_DIR/b.svg" | grep -q '</svg>'
}

@test "iolat: per-layer histograms (-L) of io_uring reads, with the picture" {
	trace_reads 200 -B log2:2 -L --svg "$LOOP_DIR/b.svg"
	assert_output --partial "@uring_read_uring_submit_us"
	assert_output --partial "@uring_read_device_us"
	tail -1 "$LOOP_DIR/b.svg" | grep -q '</svg>'
}

@test "iolat: its own output is no workload" {
	iolat_bg -P 1 3
	iolat_wait
	! grep -q "(pid $IOLAT_PID)" <<<"$output" || fail "iolat reported itself: $output"
}

@test "iolat: intervals stream one JSON object a line, with index and time; -T stamps text" {
	iolat_bg --json 1 2
	iolat_wait
	[ "$(wc -l <<<"$output")" -eq 2 ]
	jq -e -s 'length == 2 and .[0].interval == 0 and .[1].interval == 1 and
		(.[1].time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$"))' <<<"$output"
	iolat_bg -T 1 2
	iolat_wait
	grep -Eq '^=== interval 1 at [0-9]{2}:[0-9]{2}:[0-9]{2} ===$' <<<"$output"
	grep -Eq '^=== interval 2 at [0-9]{2}:[0-9]{2}:[0-9]{2} ===$' <<<"$output"
}

@test "iolat: -m gives means in milliseconds, not rounded to 0" {
	trace_reads 300 -m
	assert_output --regexp '@device_ms: .* mean [0-9]+\.[0-9]{3} ms'
	refute_output --regexp 'mean 0\.0 ms'
}

@test "iolat --cgroup: only I/O of tasks in that cgroup" {
	cg2=$(findmnt -n -t cgroup2 -o TARGET | head -1)
	[[ -n $cg2 ]] || fail "no cgroup2 hierarchy mounted"
	cg=$cg2/shortpath-iolat-$$
	mkdir "$cg"
	iolat_bg --json -P --cgroup "$cg" 3 1
	# one reader inside the cgroup, one outside
	bash -c 'echo $$ >"$1/cgroup.procs"; echo $$ >"$4"; exec "$2" --quiet -m psync -n 150 "$3"' _ \
		"$cg" "$UB" "$LOOP_DEV" "$LOOP_DIR/inner" >/dev/null
	"$UB" --quiet -m psync -n 70 "$LOOP_DEV" >/dev/null
	iolat_wait
	rmdir "$cg"
	inner=$(cat "$LOOP_DIR/inner")
	# every I/O seen is the inner reader's: its 150 reads and what it reads besides
	[ "$(jq --argjson p "$inner" '[.breakdown[] | select(.pid != $p)] | length' <<<"$output")" -eq 0 ]
	[ "$(jq '[.breakdown[] | select(.path == "read") | .e2e.count] | add' <<<"$output")" -ge 150 ]
	run "$BIN/iolat" --cgroup /nonexistent 1 1
	assert_failure 2
	assert_output --partial "--cgroup: /nonexistent is not a cgroup directory"
}

@test "iolat --metrics: per-layer histograms for Prometheus, counting a known workload" {
	command -v curl >/dev/null || fail "curl is not installed (make deps installs it)"
	port=$((20000 + RANDOM % 20000))
	iolat_bg --metrics "127.0.0.1:$port" -c uring_bench
	"$UB" --quiet -m uring -w randread -q 4 -n 1000 "$LOOP_DEV" >/dev/null
	run curl -sf "http://127.0.0.1:$port/metrics"
	assert_success
	assert_output --partial '# TYPE iolat_io_seconds histogram'
	count=$(awk '/^iolat_io_seconds_count\{path="uring_read"/ { print $2 }' <<<"$output")
	inf=$(awk '/^iolat_io_seconds_bucket\{path="uring_read",le="\+Inf"/ { print $2 }' <<<"$output")
	# every read but those a CPU may still hold in its batch (8 records)
	[[ $count -le 1000 && $count -ge 984 ]] || fail "count $count of 1000: $output"
	[ "$inf" -eq "$count" ]
	# cumulative buckets never decrease, per series
	awk '/_bucket\{/ { split($1, a, ",le="); if (a[1] == prev && $2 < last) bad = 1; prev = a[1]; last = $2 }
		END { exit bad }' <<<"$output" || fail "a bucket count decreased"
	grep -q '^iolat_layer_seconds_count{path="uring_read",layer="device"}' <<<"$output"
	run curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/other"
	assert_output 404
	kill -INT "$IOLAT_PID"
	iolat_wait
	assert_output --partial "io_uring read: 1000 I/Os"
	run "$BIN/iolat" --metrics 127.0.0.1:0 1 1
	assert_failure 2
	assert_output --partial "--metrics"
}

@test "iolat: bad usage is refused (2)" {
	run "$BIN/iolat" --svg /nonexistent/x.svg 1 1
	assert_failure 2
	assert_output --partial "--svg: cannot write /nonexistent/x.svg"
	run "$BIN/iolat" -d no-such-disk 1 1
	assert_failure 2
	assert_output --partial "no block device /dev/no-such-disk"
	run "$BIN/iolat" -p 999999999 1 1
	assert_failure 2
	assert_output --partial "no process 999999999"
	run "$BIN/iolat" -B log2:9 1 1
	assert_failure 2
	run "$BIN/iolat" -o sideways 1 1
	assert_failure 2
	run "$BIN/iolat" 0
	assert_failure 2
	run "$BIN/iolat" --help
	assert_success
	assert_output --partial "Examples:"
}

@test "iolat: SIGINT ends it cleanly and leaves no program attached" {
	command -v bpftool >/dev/null || skip "bpftool not installed"
	# its programs are the ones that appear with it (another iolat may run)
	iolat_ids() {
		bpftool prog show --json | jq -c '[.[] | select(.name // "" | startswith("iolat_")) | .id]'
	}
	before=$(iolat_ids)
	iolat_bg
	ids=$(jq -c --argjson b "$before" '. - $b' <<<"$(iolat_ids)")
	[ "$(jq length <<<"$ids")" -gt 5 ]
	kill -INT "$IOLAT_PID"
	iolat_wait
	# no link holds any of its programs any more
	[ "$(bpftool link show --json | jq --argjson ids "$ids" \
		'[.[] | select(.prog_id as $p | $ids | index($p))] | length')" -eq 0 ]
	# and they are gone, after the RCU grace period the kernel frees them in
	freed() {
		[ "$(jq --argjson now "$(iolat_ids)" '. - (. - $now) | length' <<<"$ids")" -eq 0 ]
	}
	wait_for 5 freed || fail "iolat's programs still loaded 5 s after it ended"
}

@test "iolat --pid ends when the traced process exits, also by SIGKILL" {
	sleep 600 &
	victim=$!
	iolat_bg --pid "$victim"
	kill -KILL "$victim"
	wait "$victim" 2>/dev/null || true
	# the loop looks at the process every 100 ms
	wait_for 5 pid_gone "$IOLAT_PID" || fail "iolat still runs after its process died"
	iolat_wait
	grep -q "process $victim exited: the trace ends" "$LOOP_DIR/err"
}

@test "uring_bench --trace killed by SIGKILL leaves no iolat behind" {
	"$UB" --quiet --trace -m uring -q 1 -t 60s "$LOOP_DEV" >/dev/null 2>&1 &
	ub=$!
	# wait until its iolat runs (a child of uring_bench)
	wait_for 20 pgrep -P "$ub" -x iolat >/dev/null || fail "uring_bench started no iolat"
	tracer=$(pgrep -P "$ub" -x iolat)
	kill -KILL "$ub"
	wait "$ub" 2>/dev/null || true
	wait_for 5 pid_gone "$tracer" || fail "iolat $tracer outlived uring_bench"
}

@test "bench-tp-floor: empty programs on iolat's tracepoints, attached and gone after SIGINT" {
	command -v bpftool >/dev/null || skip "bpftool not installed"
	rm -f "$LOOP_DIR/ready"
	mkfifo "$LOOP_DIR/ready"
	"$BIN/bench-tp-floor" --json --ready-fd 3 3>"$LOOP_DIR/ready" >"$LOOP_DIR/out" 2>"$LOOP_DIR/err" &
	pid=$!
	read -r -n 1 -t 60 _ <"$LOOP_DIR/ready" || { cat "$LOOP_DIR/err"; false; }
	# the per-I/O tracepoints of every path iolat follows are there
	for tp in sys_enter sys_exit io_uring_complete block_bio_queue block_rq_issue \
		block_rq_complete; do
		jq -e --arg tp "$tp" 'index($tp) != null' "$LOOP_DIR/out" >/dev/null
	done
	ids=$(bpftool prog show --json | jq -c '[.[] | select(.name // "" | startswith("floor_")) | .id]')
	[ "$(jq length <<<"$ids")" -eq "$(jq length "$LOOP_DIR/out")" ]
	kill -INT "$pid"
	wait "$pid"
	[ "$(bpftool link show --json | jq --argjson ids "$ids" \
		'[.[] | select(.prog_id as $p | $ids | index($p))] | length')" -eq 0 ]
	run "$BIN/bench-tp-floor" --bogus
	assert_failure 2
	run "$BIN/bench-tp-floor" extra
	assert_failure 2
	run "$BIN/bench-tp-floor" --help
	assert_success
	assert_output --partial "Examples:"
}

@test "iolat-overhead.sh: each side on a given target, its table and summary; workers' mask restored" {
	command -v bpftool >/dev/null || skip "bpftool not installed"
	wq=/sys/devices/virtual/workqueue/cpumask
	mask=$(cat "$wq")
	run --separate-stderr "$TOP/bench/iolat-overhead.sh" --sides "floor iolat" --reps 2 \
		--time 300ms --worker-cpus 1 "$LOOP_DEV"
	[ "$status" -eq 0 ] || { echo "exit $status: $stderr"; false; }
	# a row per side, with IOPS and its ratio to the untraced run (any
	# value: 300 ms runs on a loaded machine vary both ways), and iolat's
	# programs' own time
	for side in none floor iolat; do
		grep -Eq "^$side +[1-9][0-9]* +[0-9]+\.[0-9]{3} " <<<"$output" || { echo "$output"; false; }
	done
	grep -Eq '^iolat costs -?[0-9.]+% of IOPS \(95% CI .*\), its programs [1-9][0-9]* ns per I/O$' \
		<<<"$output"
	grep -Eq "^1 +[1-9][0-9]* .*$LOOP_DEV\$" <<<"$output"
	assert_equal "$(cat "$wq")" "$mask"
	# the tracers' programs are freed after an RCU grace period
	left() {
		bpftool prog show --json | jq '[.[] | select(.name // "" |
			startswith("iolat_") or startswith("floor_"))] | length'
	}
	none_left() { [ "$(left)" -eq 0 ]; }
	wait_for 5 none_left || fail "$(left) tracer programs still loaded 5 s after the runs"
	run "$TOP/bench/iolat-overhead.sh" --sides "iolat dtrace" "$LOOP_DEV"
	assert_failure 2
	run "$TOP/bench/iolat-overhead.sh" --reps 0 "$LOOP_DEV"
	assert_failure 2
}
