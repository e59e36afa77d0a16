#!/usr/bin/env bash
# Guest side of bench/pathlen: instructions per I/O on every submission
# path, in a guest booted with tests/vm/run --icount (QEMU -icount
# shift=0: the guest clock advances 1 ns per guest instruction, so every
# sched_clock/ktime figure below is an instruction count).
#
#   bash /tests/pathlen.bash [--ios N] [--qd "1 32"] [--rw "randread randwrite"]
#                            [--paths "psync uring ..."] [--size MIB]
#   bash /tests/pathlen.bash --layers [--ios N] [--paths "uring nvme sg"]
#   bash /tests/pathlen.bash --aios [--ios N]
#   source /tests/pathlen.bash   (pathlen.bats: the functions only)
#
# --layers: iolat's breakdown of QD1 reads per path instead (pl_layers,
# schema shortpath.pathlen-layers/1). --aios: iolat's AIOS breakdown of
# ext4's read and write + fsync (pl_aios, schema shortpath.pathlen-aios/1).
# Otherwise prints one JSON document
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

# pl_with TOOL ARGS... -- CMD ARGS: one measured run (pl_run, pl_aios_run)
# while a tracer (started with --ready-fd 3) is attached; the tracer's
# stdout goes to the file $PL_WITH_OUT (or nowhere)
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
	"$@" || rc=1
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
		floor=$(pl_with "$PL_BIN/bench-tp-floor" -- pl_run "$name" randread 1 "$ios" 64) || return 1
	fi
	iol=$(mktemp)
	traced=$(PL_WITH_OUT=$iol pl_with "$PL_BIN/iolat" --json -c uring_bench -- pl_run "$name" randread 1 "$ios" 64) ||
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

# ---------------------------------------------------------------- --aios
# ext4's read through the page cache and write + fsync with the journal,
# as the AIOS paper breaks them down, in instructions. The disk is a
# null_blk device made through configfs: memory-backed (ext4 needs its
# blocks back; QEMU's null-co disk that bench/pathlen reads drops them),
# with a volatile write cache (so a journal commit carries a flush and
# FUA), completing each request from an hrtimer PL_AIOS_US of guest time
# after it was queued (irqmode=2). With the timer the submitter is always
# asleep before its completion and the wait is idle time; QEMU's
# file-backed disks answer sometimes before that and sometimes after,
# two kernel paths mixed by host timing.
PL_AIOS_US=500
PL_AIOS_DEV='' PL_AIOS_MNT='' PL_AIOS_NB='' PL_AIOS_MOD=0 PL_AIOS_WB=''
AIOS_BIN=$PL_BIN
# shellcheck source=bench/aios-lib.bash
source "$PL_BIN/aios-lib.bash" || return 2 2>/dev/null || exit 2

# the write + fsync workload: 4 KiB writes in order into a sparse file,
# each followed by fsync(). Every write fills a hole, so every fsync
# allocates a block and commits a journal transaction. Overwrites commit
# only when the file's mtime changed since the last commit, which follows
# the coarse clock and so host time: a share of commits that varies
# between boots.
PL_AIOS_WRITE=(-m psync -w write --buffered --fsync 1)

# pl_aios_up: the null_blk disk, ext4 on it, the file to read; undone by
# pl_aios_down
pl_aios_up() {
	local a
	if [[ ! -d /sys/module/null_blk ]]; then
		modprobe null_blk nr_devices=0 || return 1
		PL_AIOS_MOD=1
	fi
	grep -q ' /sys/kernel/config configfs ' /proc/mounts ||
		mount -t configfs none /sys/kernel/config || return 1
	PL_AIOS_NB=/sys/kernel/config/nullb/spaios
	mkdir "$PL_AIOS_NB" || { PL_AIOS_NB=; return 1; }
	for a in size=512 blocksize=4096 memory_backed=1 cache_size=16 irqmode=2 \
		completion_nsec=$((PL_AIOS_US * 1000)) hw_queue_depth=64 power=1; do
		echo "${a#*=}" >"$PL_AIOS_NB/${a%%=*}" || { pl_say "null_blk: cannot set $a"; return 1; }
	done
	# named after the configfs directory on newer kernels, nullbINDEX before
	for a in spaios "nullb$(cat "$PL_AIOS_NB/index")"; do
		[[ -e /sys/block/$a ]] && PL_AIOS_DEV=/dev/$a
	done
	[[ -b $PL_AIOS_DEV ]] || { pl_say "null_blk: no disk ${PL_AIOS_DEV:-under /sys/block}"; return 1; }
	PL_AIOS_MNT=$(mktemp -d)
	# a journal that never fills in one boot's runs (about 6 blocks a
	# commit, 2 000 commits): once it does, jbd2 checkpoints, and a run
	# would pay for that or not by its place in the sequence
	aios_mount "$PL_AIOS_DEV" "$PL_AIOS_MNT" -J size=128 ||
		{ pl_say "ext4 on $PL_AIOS_DEV failed"; return 1; }
	aios_read_file "$PL_AIOS_MNT/r" 16 || return 1
	# no periodic writeback: the flusher wakes by the clock (every 5 s of
	# guest time, which follows host time while idle) and would write the
	# journal's checkpointed metadata in the middle of a run
	PL_AIOS_WB=$(cat /proc/sys/vm/dirty_writeback_centisecs)
	echo 0 >/proc/sys/vm/dirty_writeback_centisecs
}

pl_aios_down() {
	[[ -z $PL_AIOS_WB ]] || echo "$PL_AIOS_WB" >/proc/sys/vm/dirty_writeback_centisecs
	PL_AIOS_WB=
	if [[ -n $PL_AIOS_MNT ]]; then
		umount "$PL_AIOS_MNT" 2>/dev/null
		rmdir "$PL_AIOS_MNT"
	fi
	PL_AIOS_MNT=
	if [[ -n $PL_AIOS_NB ]]; then
		echo 0 >"$PL_AIOS_NB/power" 2>/dev/null
		rmdir "$PL_AIOS_NB"
	fi
	PL_AIOS_NB=
	((PL_AIOS_MOD == 0)) || rmmod null_blk
	PL_AIOS_MOD=0
}

# pl_aios_stat: "reads writes flushes commits" so far: the disk's
# requests (/sys/block/DEV/stat) and the journal's transactions
pl_aios_stat() {
	local d=${PL_AIOS_DEV#/dev/}
	echo "$(awk '{ print $1, $5, $16 }' "/sys/block/$d/stat") $(awk '{ print $1; exit }' /proc/fs/jbd2/"$d"-*/info)"
}

# pl_aios_run read|write IOS: one measured run (pl_measure) of IOS reads
# from a cold page cache, or IOS writes each followed by fsync() into a
# new sparse file; adds "device": the disk's requests and the journal's
# commits per operation
pl_aios_run() {
	local kind=$1 n=$2 s0 s1 m
	if [[ $kind == read ]]; then
		aios_cold
	else
		rm -f "$PL_AIOS_MNT/w"
		truncate -s 64M "$PL_AIOS_MNT/w"
		aios_cold
	fi
	s0=$(pl_aios_stat)
	if [[ $kind == read ]]; then
		m=$(pl_measure aios-read read 1 -- "${AIOS_READ[@]}" --size 16M -n "$n" "$PL_AIOS_MNT/r") || return 1
	else
		m=$(pl_measure aios-write write+fsync 1 -- "${PL_AIOS_WRITE[@]}" --size 64M -n "$n" "$PL_AIOS_MNT/w") || return 1
	fi
	s1=$(pl_aios_stat)
	jq -M -c --arg s0 "$s0" --arg s1 "$s1" '
		($s0 | split(" ") | map(tonumber)) as $a | ($s1 | split(" ") | map(tonumber)) as $b
		| def per(i): ((($b[i] - $a[i]) / .ios) * 1000 | round) / 1000;
		. + {device: {reads: per(0), writes: per(1), flushes: per(2), commits: per(3)}}' <<<"$m"
}

# pl_aios read|write IOS: iolat's AIOS layers of one operation in
# instructions, beside its path length by context. After a warm-up run,
# three runs: untraced (the contexts), under bench-tp-floor (the
# events' dispatch alone) and under iolat -A --busy-clock -e (its layers
# leave out the CPU's idle time, so under icount each is the
# instructions run between its moments, in whatever context). The
# layers are summed over the run's own I/Os (a read() or write() that
# crossed ext4, every fsync()), not the dynamic loader's reads or the
# JSON uring_bench writes at its end. What ran inside the layers and is
# in no column of the untraced path length is shown apart ("other"): the
# timer interrupt (ticks, and the interrupt's own hrtimer code around each
# null_blk completion, whose callback alone is in the irq column) with
# its softirqs, and iolat's reader. The check: the layers less that add
# up to the untraced path length within iolat's measured cost on it.
# PL_FLOOR=0: no floor run. ext4's journal thread counts as the I/O
# path's (PL_IO_KTHREADS).
pl_aios() {
	local kind=$1 ios=$2 plain floor traced iol rc=0
	local PL_IO_KTHREADS='^jbd2/'
	# as long as the runs: a write run's blocks are then ones an earlier
	# run wrote and freed (the allocator's goal), which null_blk already
	# backs with memory; blocks written for the first time cost it a page
	# (the first 500-write run after a 100-write warm-up: 6 % more)
	pl_aios_run "$kind" "$ios" >/dev/null || { pl_say "aios $kind warm-up failed"; return 1; }
	plain=$(pl_aios_run "$kind" "$ios") || return 1
	floor=$plain
	if [[ ${PL_FLOOR:-1} == 1 ]]; then
		floor=$(pl_with "$PL_BIN/bench-tp-floor" -- pl_aios_run "$kind" "$ios") || return 1
	fi
	iol=$(mktemp)
	traced=$(PL_WITH_OUT=$iol pl_with "$PL_BIN/iolat" -A --busy-clock -e --json -c uring_bench -- \
		pl_aios_run "$kind" "$ios") || { rm -f "$iol"; return 1; }
	jq -M -c -n --arg kind "$kind" --argjson p "$plain" --argjson f "$floor" \
		--argjson t "$traced" --slurpfile iolat "$iol" '
		def r: (. * 10 | round) / 10;
		($t.ios) as $n | $iolat[0] as $iol
		| (if $kind == "read" then ["read"] else ["write", "fsync"] end) as $paths
		# iolat'"'"'s layers grouped as its -A does
		| def group: . as $k | {syscall: "syscall_vfs", vfs: "syscall_vfs", uring_submit: "io_uring",
			io_wq: "io_uring", task_work: "io_uring", filesystem: "filesystem",
			page_cache: "page_cache", block: "block", request: "block", block_queue: "block",
			driver: "driver_device", device: "driver_device", driver_done: "driver_device",
			journal: "journal"} | .[$k] // "completion";
		def order: . as $g | ["syscall_vfs", "io_uring", "filesystem", "page_cache", "block",
			"driver_device", "journal", "completion"] | index($g);
		[$iol.events[] | select(.path as $bp | $paths | index($bp))
			| select(.path == "fsync" or .layers_ns.filesystem != null)] as $ev
		| [$paths[] as $bp | [$ev[] | select(.path == $bp)] as $e
			| {path: $bp, n: ($e | length)}] as $counts
		| [$paths[] as $bp | [$ev | to_entries[] | select(.value.path == $bp) | .key as $i
				| .value.layers_ns | to_entries[] | {i: $i, g: (.key | group), ns: .value}]
			| group_by(.g)[] | .[0].g as $g
			| {path: $bp, layer: $g, count: (map(.i) | unique | length),
			   per_io: (map(.ns) | add / $n | r), o: ($g | order)}]
			| sort_by(.path != "write", .o) | map(del(.o)) as $rows
		| ($rows | map(.per_io) | add) as $sum
		# inside the layers, not in the untraced path length: the timer
		# interrupt (the tick, and around each null_blk completion the
		# interrupt'"'"'s own hrtimer code) with its softirqs, and iolat'"'"'s reader
		| ($t.detail | .background | .timer_irq + .softirq) as $clock
		| ($clock + $t.detail.watched_ns / $n) as $other
		| ($t.total - $p.total) as $cost
		| {kind: $kind, ios: $n, iolat_clock: $iol.clock,
		   task: $p.task, kthread: $p.kthread, irq: $p.irq, total: $p.total,
		   device: $p.device,
		   detail: ($p.detail | {io_threads, work_items, kworkers, io_kthreads, hardirq, softirq, io_hrtimers,
			hardirqs_per_io, ctxsw_per_io, works}),
		   untraced: ($p.total | r), floor: ($f.total - $p.total | r), traced: ($t.total | r),
		   iolat_cost: ($cost | r), other: ($other | r), clock: ($clock | r),
		   iolat_reader: ($t.detail.watched_ns / $n | r),
		   counts: $counts, background: $t.detail.background, kthreads: $p.detail.kthreads,
		   layers: $rows, layer_sum: ($sum | r), diff: ($sum - $other - $p.total | r),
		   within: ((($sum - $other - $p.total) | fabs) <= ([$cost, 0] | max))}' || rc=1
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
	local p qd rw rows=() out fails=0 layers=false aios=false
	while [[ $# -gt 0 ]]; do
		case $1 in
		--layers) layers=true; shift ;;
		--aios) aios=true; shift ;;
		--ios) ios=$2; shift 2 ;;
		--qd) qds=$2; shift 2 ;;
		--rw) rws=$2; shift 2 ;;
		--paths) paths=$2; shift 2 ;;
		--size) size=$2; shift 2 ;;
		*) pl_say "unknown option $1"; return 2 ;;
		esac
	done
	[[ ${SP_VM_ICOUNT:-0} == 1 ]] || pl_say "warning: not booted with --icount: figures are nanoseconds, not instructions"
	if $aios; then
		trap pl_aios_down EXIT
		trap 'exit 1' INT TERM
		pl_aios_up || { pl_say "the AIOS disk could not be set up"; return 1; }
		for p in read write; do
			pl_say "aios: $p"
			if out=$(pl_aios "$p" "$ios"); then rows+=("$out"); else fails=$((fails + 1)); fi
		done
		printf '%s\n' "${rows[@]}" | jq -M -c -s --arg kver "$(uname -r)" --argjson ios "$ios" \
			--argjson fails "$fails" --argjson us "$PL_AIOS_US" '{schema: "shortpath.pathlen-aios/1",
			kernel: $kver, ios_per_run: $ios, device_latency_us: $us, failed_runs: $fails, rows: .}'
		((fails == 0))
		return
	fi
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
