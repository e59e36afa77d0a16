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
