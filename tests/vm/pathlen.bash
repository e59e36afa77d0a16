#!/usr/bin/env bash
# Guest side of bench/pathlen: instructions per I/O on every submission
# path, in a guest booted with tests/vm/run --icount (QEMU -icount
# shift=0: the guest clock advances 1 ns per guest instruction, so every
# sched_clock/ktime figure below is an instruction count).
#
#   bash /tests/pathlen.bash [--ios N] [--qd "1 32"] [--rw "randread randwrite"]
#                            [--paths "psync uring ..."] [--size MIB]
#   bash /tests/pathlen.bash --layers [--ios N] [--paths "uring nvme sg"]
#   source /tests/pathlen.bash   (pathlen.bats: the functions only)
#
# --layers: iolat's breakdown of QD1 reads per path instead (pl_layers,
# schema shortpath.pathlen-layers/1). Otherwise prints one JSON document
# (schema shortpath.pathlen/1) on stdout,
# progress on stderr. Each run (path, queue depth, direction) is measured
# by pl_measure (bench/pathlen-lib.bash, in the guest next to the
# binaries): task, kthread and irq per I/O.

PL_BIN=${SP_BIN:-/opt/shortpath/bin}
PL_ALL_PATHS="psync uring uring-fixed sqpoll uring-iopoll nvme nvme-fixed nvme-iopoll sg vfio scsi-vfio"
# shellcheck source=bench/pathlen-lib.bash
source "$PL_BIN/pathlen-lib.bash" || return 2 2>/dev/null || exit 2

# pl_args PATH: uring_bench options and target of a path ("" if unknown)
pl_args() {
	case $1 in
	psync) echo "-m psync /dev/nvme0n1" ;;
	uring) echo "-m uring /dev/nvme0n1" ;;
	uring-fixed) echo "-m uring --fixedbufs --regfiles /dev/nvme0n1" ;;
	sqpoll) echo "-m uring --sqpoll --fixedbufs --regfiles /dev/nvme0n1" ;;
	uring-iopoll) echo "-m uring --iopoll --fixedbufs --regfiles /dev/nvme0n1" ;;
	nvme) echo "-m nvme /dev/ng0n1" ;;
	nvme-fixed) echo "-m nvme --fixedbufs /dev/ng0n1" ;;
	nvme-iopoll) echo "-m nvme --fixedbufs --iopoll /dev/ng0n1" ;;
	sg) echo "-m sg /dev/$(pl_sg)" ;;
	vfio) echo "-m vfio ${PL_VFIO_BDF:-$(pl_bdf)}" ;;
	scsi-vfio) echo "-m scsi-vfio ${PL_VFIO_BDF:-$(pl_hba_bdf)}" ;;
	esac
}

# the sg node of the disk behind megaraid_sas
pl_sg() {
	local b host
	for b in /sys/block/sd*; do
		host=$(readlink -f "$b/device")
		host=${host%/target*}
		[[ $(readlink -f "$host/../driver") == */megaraid_sas ]] || continue
		ls "$b/device/scsi_generic"
		return
	done
}

# the PCI address of the megaraid_sas HBA (the userspace SCSI stack's)
pl_hba_bdf() {
	local d
	for d in /sys/bus/pci/drivers/megaraid_sas/0000:*; do
		[[ -e $d ]] && { basename "$d"; return; }
	done
}

# the PCI address of the NVMe controller
pl_bdf() {
	basename "$(readlink -f /sys/class/nvme/nvme0/device 2>/dev/null || echo /none)"
}
PL_VFIO_BDF=

# pl_run NAME RW QD IOS SIZE_MIB: one measured run of path NAME
pl_run() {
	local args
	args=$(pl_args "$1")
	[[ -n $args ]] || { pl_say "unknown path $1"; return 2; }
	# shellcheck disable=SC2086 # args are words
	pl_measure "$1" "$2" "$3" -- -w "$2" -q "$3" -s "$3" -c "$3" -n "$4" --size "${5}M" $args
}

# pl_with TOOL ARGS... -- pl_run ARGS: one pl_run while a tracer (started
# with --ready-fd 3) is attached; the tracer's stdout goes to the file
# $PL_WITH_OUT (or nowhere)
PL_WITH_OUT=/dev/null
pl_with() {
	local tool=() t rc=0
	while [[ $1 != -- ]]; do tool+=("$1"); shift; done
	shift
	t=$(mktemp -d)
	mkfifo "$t/ready"
	"${tool[@]}" --ready-fd 3 3>"$t/ready" >"$PL_WITH_OUT" 2>"$t/err" &
	PL_WATCH_PID=$!
	if ! read -r -n 1 _ <"$t/ready"; then
		pl_say "${tool[0]##*/} did not start:"; cat "$t/err" >&2
		PL_WATCH_PID=; rm -rf "$t"; return 1
	fi
	pl_run "$@" || rc=1
	kill -INT "$PL_WATCH_PID"
	wait "$PL_WATCH_PID" || { pl_say "${tool[0]##*/} failed:"; cat "$t/err" >&2; rc=1; }
	PL_WATCH_PID=
	rm -rf "$t"
	return "$rc"
}

# pl_layers PATH IOS: iolat's breakdown of QD1 reads on PATH in
# instructions. Three runs after a warm-up: untraced, under bench-tp-floor
# (the events' dispatch alone) and under iolat. iolat's layers run from
# moment to moment of each I/O, so its device layer holds the wait too:
# the CPU's idle time over the run is taken out of it, and so is what ran
# on the CPU instead of idling there without being part of the I/O (the
# timer interrupt and its softirqs, iolat's own reader). The layers' sum
# is then checked against the untraced path length: it may differ from it
# by at most iolat's measured cost on the path. sg is followed only in
# part (iolat sees the read that collects a command, not the write that
# queues it): its sum is shown, not checked. PL_FLOOR=0: no floor run.
pl_layers() {
	local name=$1 ios=$2 plain floor traced iol rc=0
	pl_run "$name" randread 1 100 64 >/dev/null || { pl_say "$name warm-up failed"; return 1; }
	plain=$(pl_run "$name" randread 1 "$ios" 64) || return 1
	floor=$plain
	if [[ ${PL_FLOOR:-1} == 1 ]]; then
		floor=$(pl_with "$PL_BIN/bench-tp-floor" -- "$name" randread 1 "$ios" 64) || return 1
	fi
	iol=$(mktemp)
	traced=$(PL_WITH_OUT=$iol pl_with "$PL_BIN/iolat" --json -c uring_bench -- "$name" randread 1 "$ios" 64) ||
		{ rm -f "$iol"; return 1; }
	jq -M -c -n --arg path "$name" --argjson p "$plain" --argjson f "$floor" \
		--argjson t "$traced" --slurpfile iolat "$iol" '
		def r: (. * 10 | round) / 10;
		($t.ios) as $n | $iolat[0] as $iol
		# every io_uring path iolat saw uring_bench take, weighted by count
		# (not the one command a mode sends when it starts)
		| [$iol.breakdown[] | select((.path | test("^uring_")) and .e2e.count * 2 >= $n)] as $bd
		| ($t.detail.idle_ns / $n) as $idle
		| ($t.detail.watched_ns / $n) as $reader
		| ($t.detail.background | .timer_irq + .softirq) as $clock
		| [$bd[] | .path as $bp | .layers[]
			| {path: $bp, layer, count, per_io: (.mean_us * .count * 1000 / $n)}] as $raw
		# the wait is in the device layer; on sg, in the collecting read
		| ([$raw | to_entries[] | select(.value.layer == "device") | .key] | first
			// ($raw | to_entries | max_by(.value.per_io) | .key)) as $w
		| [$raw | to_entries[] | .value + {per_io: (.value.per_io
			- (if .key == $w then $idle + $clock + $reader else 0 end) | r), wait: (.key == $w)}] as $rows
		| ($rows | map(.per_io) | add) as $sum
		| ($t.total - $p.total) as $cost
		| ($path != "sg") as $checked
		| {path: $path, ios: $n, untraced: ($p.total | r),
		   floor: ($f.total - $p.total | r), traced: ($t.total | r), iolat_cost: ($cost | r),
		   iolat_reader: ($reader | r), clock: ($clock | r), idle: ($idle | r),
		   layers: $rows, layer_sum: ($sum | r), diff: ($sum - $p.total | r), checked: $checked,
		   within: ((($sum - $p.total) | fabs) <= ([$cost, 0] | max))}' || rc=1
	rm -f "$iol"
	return "$rc"
}

# pl_vfio on|hba|off: the NVMe controller (on) or the megaraid_sas HBA
# (hba) to vfio-pci, and back
pl_vfio() {
	if [[ $1 == on || $1 == hba ]]; then
		if [[ $1 == hba ]]; then PL_VFIO_BDF=$(pl_hba_bdf); else PL_VFIO_BDF=$(pl_bdf); fi
		[[ -n $PL_VFIO_BDF ]] || return 1
		"$PL_BIN/sp-vfio" bind "$PL_VFIO_BDF" >/dev/null
	else
		[[ -z $PL_VFIO_BDF ]] || "$PL_BIN/sp-vfio" unbind "$PL_VFIO_BDF" >/dev/null
		PL_VFIO_BDF=
	fi
}

pl_main() {
	local ios=2000 qds="1 32" rws="randread randwrite" paths=$PL_ALL_PATHS size=64
	local p qd rw rows=() out fails=0 layers=false
	while [[ $# -gt 0 ]]; do
		case $1 in
		--layers) layers=true; shift ;;
		--ios) ios=$2; shift 2 ;;
		--qd) qds=$2; shift 2 ;;
		--rw) rws=$2; shift 2 ;;
		--paths) paths=$2; shift 2 ;;
		--size) size=$2; shift 2 ;;
		*) pl_say "unknown option $1"; return 2 ;;
		esac
	done
	[[ ${SP_VM_ICOUNT:-0} == 1 ]] || pl_say "warning: not booted with --icount: figures are nanoseconds, not instructions"
	if $layers; then
		[[ $paths == "$PL_ALL_PATHS" ]] && paths="uring nvme sg"
		for p in $paths; do
			pl_say "$p: iolat's layers"
			if out=$(pl_layers "$p" "$ios"); then rows+=("$out"); else fails=$((fails + 1)); fi
		done
		printf '%s\n' "${rows[@]}" | jq -M -c -s --arg kver "$(uname -r)" --argjson ios "$ios" \
			--argjson fails "$fails" '{schema: "shortpath.pathlen-layers/1", kernel: $kver,
			ios_per_run: $ios, failed_runs: $fails, rows: .}'
		((fails == 0))
		return
	fi
	# the write runs leave data behind: the same offsets every boot
	for p in $paths; do
		if [[ $p == vfio || $p == scsi-vfio ]]; then
			pl_vfio "$([[ $p == vfio ]] && echo on || echo hba)" ||
				{ pl_say "sp-vfio bind failed"; fails=$((fails + 1)); continue; }
		fi
		for qd in $qds; do
			[[ $p == psync && $qd != 1 ]] && continue
			for rw in $rws; do
				pl_say "$p $rw QD$qd"
				if out=$(pl_run "$p" "$rw" "$qd" "$ios" "$size"); then
					rows+=("$out")
				else
					fails=$((fails + 1))
				fi
			done
		done
		[[ $p == vfio || $p == scsi-vfio ]] && pl_vfio off
	done
	printf '%s\n' "${rows[@]}" | jq -M -c -s --arg kver "$(uname -r)" --argjson ios "$ios" \
		--argjson icount "${SP_VM_ICOUNT:-0}" --argjson fails "$fails" '
		{schema: "shortpath.pathlen/1", kernel: $kver, icount: ($icount == 1),
		 unit: (if $icount == 1 then "instructions" else "ns" end),
		 ios_per_run: $ios, failed_runs: $fails, rows: .}'
	((fails == 0))
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -uo pipefail
	pl_main "$@"
fi
