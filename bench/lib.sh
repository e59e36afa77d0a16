# Shared by the benchmark scripts: the embedded default target.
# shellcheck shell=bash

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$TOP/build/bin}
UB=$BIN/uring_bench

# make_default_target SIZE: sets TARGET to a loop device with direct I/O
# on a tmpfs file (root), or to a tmpfs file when loop devices are not
# available; TARGET_DESC says which. drop_default_target removes it.
make_default_target() {
	local size=$1
	DEFAULT_DIR=$(mktemp -d /dev/shm/shortpath-bench.XXXXXX)
	sp_run_record path "$DEFAULT_DIR"
	truncate -s "$size" "$DEFAULT_DIR/backing"
	if [[ $(id -u) -eq 0 && -e /dev/loop-control ]] &&
	   DEFAULT_LOOP=$(losetup --direct-io=on --find --show "$DEFAULT_DIR/backing" 2>/dev/null); then
		sp_run_record loop "$DEFAULT_LOOP" "$DEFAULT_DIR/backing"
		TARGET=$DEFAULT_LOOP
		TARGET_DESC="$TARGET: loop device, direct I/O on a $size tmpfs file"
		# laid out with data, so reads are not of holes
		dd if=/dev/urandom of="$TARGET" bs=1M count=$(( $(blockdev --getsize64 "$TARGET") >> 20 )) \
			oflag=direct status=none
	else
		DEFAULT_LOOP=
		rm -f "$DEFAULT_DIR/backing"
		TARGET=$DEFAULT_DIR/file
		"$UB" --quiet -n 1 --size "$size" "$TARGET" >/dev/null
		TARGET_DESC="$TARGET: $size tmpfs file (no loop devices here)"
	fi
}

# make_disk_target SIZE: sets TARGET to a SIZE file, written, on the
# filesystem that holds /var/tmp when a block device that is not a loop
# or zram device is under it: a real driver, and its device's time off
# the CPUs. Returns 1 (TARGET_DESC says why) when there is none.
make_disk_target() {
	local size=$1 src dev
	src=$(df --output=source /var/tmp 2>/dev/null | tail -n 1)
	dev=${src#/dev/}
	if [[ $src != /dev/* || ! -b $src ]]; then
		TARGET_DESC="/var/tmp is on ${src:-nothing}, not a block device"
		return 1
	fi
	case $dev in
	loop* | zram* | ram*)
		TARGET_DESC="/var/tmp is on $src, not a disk"
		return 1 ;;
	esac
	DISK_DIR=$(mktemp -d /var/tmp/shortpath-bench.XXXXXX)
	sp_run_record path "$DISK_DIR"
	TARGET=$DISK_DIR/file
	if ! "$UB" --quiet -n 1 --size "$size" "$TARGET" >/dev/null; then
		TARGET_DESC="cannot write a $size file on $src"
		rm -rf "$DISK_DIR"
		DISK_DIR=
		return 1
	fi
	TARGET_DESC="$TARGET: $size file on $src ($(findmnt -n -o FSTYPE --target /var/tmp))"
}

drop_disk_target() {
	[[ -n ${DISK_DIR:-} ]] && rm -rf "$DISK_DIR"
	DISK_DIR=
}

drop_default_target() {
	[[ -n ${DEFAULT_LOOP:-} ]] && losetup -d "$DEFAULT_LOOP" 2>/dev/null
	[[ -n ${DEFAULT_DIR:-} ]] && rm -rf "$DEFAULT_DIR"
	DEFAULT_LOOP= DEFAULT_DIR=
}

# jq over a JSON document held in a variable
jget() {
	jq -r "$2" <<<"$1"
}

# ---------------------------------------------------------------- run state
# What a script creates (namespaces, loop devices, files, processes,
# sysfs and sysctl settings, fabric connections) is written down in its run directory before
# or as it is made, and undone in reverse order on exit. A run killed by
# SIGKILL cannot clean up: the next run of any bench script does it for
# it (sp_run_begin), and so does SCRIPT --cleanup (sp_run_reap).
#   $SP_RUNS/NAME.PID/owner   PID and start time of the script
#   $SP_RUNS/NAME.PID/undo    one tab-separated record a line
SP_RUNS=${SP_RUNS:-/run/shortpath}
SP_RUN_DIR=

# start time of PID in clock ticks since boot (field 22 of /proc/PID/stat;
# the command name before it may hold spaces and parentheses)
sp_pid_start() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	set -- $stat
	echo "${20}"
}

# whether PID is still the process that started at START
sp_pid_alive() {
	[[ $(sp_pid_start "$1" 2>/dev/null) == "$2" ]]
}

# sp_run_begin NAME: undoes what dead runs left, then opens this run's
# directory. Without a writable $SP_RUNS records are not kept (a notice).
sp_run_begin() {
	sp_run_reap quiet
	SP_RUN_DIR=$SP_RUNS/$1.$$
	if ! mkdir -p "$SP_RUN_DIR" 2>/dev/null; then
		echo "$1: cannot keep run state in $SP_RUNS: a SIGKILLed run will leave its resources behind" >&2
		SP_RUN_DIR=
		return 0
	fi
	printf '%s\t%s\n' "$$" "$(sp_pid_start $$)" >"$SP_RUN_DIR/owner"
	: >"$SP_RUN_DIR/undo"
}

# sp_run_record KIND ARG...: what to undo (see sp_run_undo_one)
sp_run_record() {
	[[ -n $SP_RUN_DIR ]] || return 0
	local IFS=$'\t'
	printf '%s\n' "$*" >>"$SP_RUN_DIR/undo"
}

# sp_run_record_pid PID: a process this run started outside a namespace
sp_run_record_pid() {
	sp_run_record pid "$1" "$(sp_pid_start "$1")"
}

sp_run_undo_one() {
	local kind=$1 a=${2:-} b=${3:-} pid
	case $kind in
	path) rm -rf -- "$a" ;;
	loop)	# only while it is still backed by the run's file
		[[ $(losetup -n -O BACK-FILE "$a" 2>/dev/null) == *"$b"* ]] && losetup -d "$a" ;;
	netns)
		declare -F sp_netns_del >/dev/null || source "$TOP/bench/netns.sh"
		sp_netns_del "$a" 20 ;;
	pid)
		sp_pid_alive "$a" "$b" || return 0
		kill -TERM "$a" 2>/dev/null || true
		for _ in $(seq 20); do
			sp_pid_alive "$a" "$b" || return 0
			sleep 0.1
		done
		kill -KILL "$a" 2>/dev/null || true ;;
	write) printf '%s\n' "$b" >"$a" 2>/dev/null ;;
	fabric)	# NVMe over Fabrics connections bench/fabric-setup made with
		# its state in DIR (SP_FABRIC_STATE): only those are removed
		SP_FABRIC_STATE=$a "$(dirname "${BASH_SOURCE[0]}")/fabric-setup" teardown >/dev/null 2>&1 ;;
	sysctl) sysctl -qw "$a=$b" 2>/dev/null ;;
	esac
	return 0
}

# sp_run_undo DIR: every record of DIR, last first, then DIR itself
sp_run_undo() {
	local dir=$1 line
	local -a f
	if [[ -f $dir/undo ]]; then
		while IFS= read -r line; do
			IFS=$'\t' read -r -a f <<<"$line"
			((${#f[@]})) && sp_run_undo_one "${f[@]}"
		done < <(tac "$dir/undo")
	fi
	rm -rf -- "$dir"
}

# sp_run_end: undoes this run's records (from the EXIT trap)
sp_run_end() {
	[[ -n $SP_RUN_DIR ]] || return 0
	sp_run_undo "$SP_RUN_DIR"
	SP_RUN_DIR=
}

# sp_run_reap [quiet]: undoes what runs no longer alive left behind
sp_run_reap() {
	local dir pid start n=0
	for dir in "$SP_RUNS"/*.*; do
		[[ -d $dir ]] || continue
		IFS=$'\t' read -r pid start <"$dir/owner" 2>/dev/null || { pid=; start=; }
		[[ -n $pid ]] && sp_pid_alive "$pid" "$start" && continue
		[[ ${1:-} == quiet ]] ||
			echo "cleanup: undoing what ${dir##*/} left ($(wc -l <"$dir/undo" 2>/dev/null || echo 0) records)" >&2
		sp_run_undo "$dir"
		n=$((n + 1))
	done
	[[ ${1:-} == quiet ]] || echo "cleanup: $n dead run(s) cleaned up" >&2
	return 0
}

# sp_script_version: "SCRIPT (shortpath) VERSION" for --version: the
# version of the binaries it runs, else of the checkout it sits in.
sp_script_version() {
	local v=
	[[ -x $UB ]] && v=$("$UB" --version 2>/dev/null | awk '{ print $3 }')
	[[ -n $v ]] || v=$(git -C "$TOP" describe --always --dirty --tags 2>/dev/null) ||
		v=$(cat "$TOP/VERSION" 2>/dev/null) || v=unknown
	echo "$(basename "$0") (shortpath) $v"
}
