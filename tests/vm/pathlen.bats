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

teardown() {
	[[ $(type -t pl_aios_down) == function ]] && pl_aios_down
	true
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
# (pl_layers measures it), in each of two runs; the layers before the
# device wait repeat within 1% and the clock's interrupts of the run (a
# timer tick lands in whichever layer runs when it fires: one in 150 I/Os
# moves a layer's mean by several percent). The device and completion
# layers hold what ran during the wait (timer ticks, kernel threads:
# their amount follows host time), so they are not compared between
# runs. No floor run: the check does not need it.
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
		([before($a), before($b)] | transpose
		 | all(((.[0] - .[1]) | fabs) <= 0.01 * .[0] + ([$a.clock, $b.clock] | max)))' >/dev/null ||
		fail "layers $(jq -c '[.layers[] | "\(.layer)=\(.per_io)"]' <<<"$a") then $(jq -c '[.layers[] | "\(.layer)=\(.per_io)"]' <<<"$b") (clock $(jq .clock <<<"$a"), $(jq .clock <<<"$b")): submission layers more than 1% and the clock apart"
}

# The SCSI A/B with its path length on every row (ab-compare --pathlen):
# instructions per I/O, split by context, for the kernel block path, sg
# through megaraid_sas and the userspace driver; the HBA is back with
# megaraid_sas afterwards. The split is structural: the kernel paths take
# an interrupt per I/O, the polled userspace driver none.
@test "pathlen: ab-compare --pathlen gives the SCSI A/B its instructions per I/O by context" {
	local sd doc bdf
	sd=$(sas_disk)
	[ -n "$sd" ] || fail "no disk behind megaraid_sas"
	run --separate-stderr "$SP_BIN/ab-compare" --json --pathlen --no-device-time -r 1 -n 100 -q 1 \
		"/dev/$sd" uring sg scsi-vfio
	[ "$status" -eq 0 ] || fail "ab-compare exited $status: $stderr"
	doc=$output
	assert_equal "$(jq -r .pathlen_unit <<<"$doc")" instructions
	assert_equal "$(jq -c '[.paths[].name]' <<<"$doc")" '["uring","sg","scsi-vfio"]'
	jq -e 'all(.paths[].summary; .path_per_io.median > 0 and .path_task_per_io.median > 0
		and ((.path_task_per_io.median + .path_kthread_per_io.median + .path_irq_per_io.median
		      - .path_per_io.median) | fabs) <= 1)' <<<"$doc" >/dev/null ||
		fail "a row without its path length, or parts that do not add up: $(jq -c '[.paths[] | {name, t: .summary.path_per_io.median, task: .summary.path_task_per_io.median, k: .summary.path_kthread_per_io.median, i: .summary.path_irq_per_io.median}]' <<<"$doc")"
	jq -e 'all(.paths[] | select(.name != "scsi-vfio"); .summary.path_irq_per_io.median > 0) and
		all(.paths[] | select(.name == "scsi-vfio"); .summary | .path_irq_per_io.median < 0.05 * .path_per_io.median)' \
		<<<"$doc" >/dev/null ||
		fail "interrupt work: $(jq -c '[.paths[] | {name, i: .summary.path_irq_per_io.median}]' <<<"$doc")"
	bdf=$(jq -r .device.bdf <<<"$doc")
	[[ $(readlink -f "/sys/bus/pci/devices/$bdf/driver") == */megaraid_sas ]] ||
		fail "$bdf is not back with megaraid_sas"
}

# bench/pathlen --aios on a short run: ext4's read through the page cache
# and write + fsync with the journal on a null_blk disk, in instructions.
# Each operation's rows are there and positive, split by context (the
# write + fsync has kernel-thread work: jbd2 and kworkers; both have the
# device's completions in interrupt context), the disk saw what the path
# implies (a read per read; a journal commit and a flush per fsync), and
# iolat's layers add up to the untraced path length within iolat's
# measured cost. No floor run: the check does not need it.
@test "pathlen: ext4's AIOS rows (read, write + fsync) by context and layer add up within iolat's cost" {
	require_bin iolat
	command -v mkfs.ext4 >/dev/null || fail "no mkfs.ext4 in the guest"
	local r w x
	pl_aios_up || fail "the null_blk disk with ext4 could not be set up"
	r=$(PL_FLOOR=0 pl_aios read 30) || fail "pl_aios read failed"
	w=$(PL_FLOOR=0 pl_aios write 30) || fail "pl_aios write failed"
	for x in "$r" "$w"; do
		jq -e '.task > 0 and .irq > 0 and .total > 0 and .iolat_cost > 0 and .iolat_clock == "busy"
			and (.layers | length) >= 5 and all(.layers[]; .per_io > 0)' <<<"$x" >/dev/null ||
			fail "$(jq -r .kind <<<"$x"): a row missing or not positive: $(jq -c '{task, kthread, irq, total, iolat_cost, layers: [.layers[] | "\(.path) \(.layer)=\(.per_io)"]}' <<<"$x")"
		jq -e .within <<<"$x" >/dev/null ||
			fail "$(jq -r .kind <<<"$x"): layers $(jq .layer_sum <<<"$x") less $(jq .other <<<"$x") not of the I/O, untraced $(jq .untraced <<<"$x"): more than iolat's cost $(jq .iolat_cost <<<"$x") apart"
	done
	assert_equal "$(jq -c '[.layers[].layer]' <<<"$r")" '["syscall_vfs","filesystem","page_cache","block","driver_device","completion"]'
	jq -e '.device.reads >= 0.9 and .device.writes == 0' <<<"$r" >/dev/null ||
		fail "read: the disk saw $(jq -c .device <<<"$r") per read"
	jq -e '.kthread > 0 and .device.commits == 1 and .device.flushes == 1 and .device.writes >= 2
		and ([.layers[] | select(.path == "fsync") | .layer] | index("journal") != null)' <<<"$w" >/dev/null ||
		fail "write + fsync: kthread $(jq .kthread <<<"$w"), the disk saw $(jq -c .device <<<"$w") per operation, fsync layers $(jq -c '[.layers[] | select(.path == "fsync") | .layer]' <<<"$w")"
}
