#!/usr/bin/env bats
# Path length under icount: the same run twice in one boot gives the
# same instruction counts per I/O (within 1%, the tolerance of
# bench/pathlen across boots). Needs a guest booted with
#   SP_VM_NULL_LATENCY_US=500 tests/vm/run --icount pathlen
# (what `make vmtest` does after the main boot); skipped in other boots.
# Repeatability of an instruction count is not a speed: nothing here
# depends on how fast the host is.

load helpers

setup() {
	in_guest
	[[ ${SP_VM_ICOUNT:-0} == 1 ]] || skip "needs tests/vm/run --icount (make vmtest boots it)"
	require_bin uring_bench
	require_bin bench-pathlen-irq
	source /tests/pathlen.bash
}

# twice PATH RW QD: a warm-up run (the first run of a path in a boot pays
# for first-time work: faults, allocations), then two runs compared on
# task, kthread, irq and total
twice() {
	local a b f va vb tot
	pl_run "$1" "$2" "$3" 100 64 >/dev/null || fail "warm-up $1 run failed"
	a=$(pl_run "$1" "$2" "$3" 300 64) || fail "first $1 run failed"
	b=$(pl_run "$1" "$2" "$3" 300 64) || fail "second $1 run failed"
	tot=$(jq .total <<<"$a")
	[[ $(jq '.total > 0' <<<"$a") == true ]] || fail "$1: no instructions counted: $a"
	for f in task kthread irq total; do
		va=$(jq ".$f" <<<"$a")
		vb=$(jq ".$f" <<<"$b")
		jq -en --argjson a "$va" --argjson b "$vb" --argjson t "$tot" \
			'(($a - $b) | fabs) <= 0.01 * $t' >/dev/null ||
			fail "$1 $2 QD$3: $f per I/O $va then $vb (total $tot): more than 1% apart"
	done
}

@test "pathlen: io_uring QD1 reads repeat within 1%" {
	twice uring randread 1
}

@test "pathlen: NVMe passthrough QD1 writes repeat within 1%" {
	twice nvme randwrite 1
}

@test "pathlen: the split has interrupt work for an interrupt-driven path" {
	local r
	r=$(pl_run psync randread 1 100 64) || fail "psync run failed"
	jq -e '.irq > 0 and .task > 0 and .detail.hardirqs_per_io >= 0.99' <<<"$r" >/dev/null ||
		fail "no interrupt per psync I/O: $r"
}

# iolat's layers of an NVMe passthrough QD1 read, in instructions, add up
# to the untraced path length within what iolat itself adds to the path
# (pl_layers measures it); the layers before the device wait repeat
# within 1%. The device and completion layers hold the timer ticks that
# fell into the wait (their number follows host time), so the sum is
# held to 5% only. No floor run: the check does not need it.
@test "pathlen: iolat's layers add up to the path length, repeatably" {
	require_bin iolat
	local a b
	a=$(PL_FLOOR=0 pl_layers nvme 150) || fail "first pl_layers run failed"
	b=$(PL_FLOOR=0 pl_layers nvme 150) || fail "second pl_layers run failed"
	for r in "$a" "$b"; do
		jq -e '.within and .iolat_cost > 0 and (.layers | length) >= 4' <<<"$r" >/dev/null ||
			fail "layers $(jq -c '[.layers[] | "\(.layer)=\(.per_io)"]' <<<"$r") sum $(jq .layer_sum <<<"$r"), untraced path $(jq .untraced <<<"$r"): more than iolat's cost $(jq .iolat_cost <<<"$r") apart"
	done
	jq -en --argjson a "$a" --argjson b "$b" '
		def before(x): [x.layers[] | select(.layer == "uring_submit" or .layer == "driver") | .per_io];
		(before($a) | length) == 2 and
		([before($a), before($b)] | transpose | all(((.[0] - .[1]) | fabs) <= 0.01 * .[0])) and
		(($a.layer_sum - $b.layer_sum) | fabs) <= 0.05 * $a.untraced' >/dev/null ||
		fail "layers $(jq -c '[.layers[] | "\(.layer)=\(.per_io)"]' <<<"$a") then $(jq -c '[.layers[] | "\(.layer)=\(.per_io)"]' <<<"$b"): submission layers more than 1% or sum more than 5% apart"
}
