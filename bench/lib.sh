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
	truncate -s "$size" "$DEFAULT_DIR/backing"
	if [[ $(id -u) -eq 0 && -e /dev/loop-control ]] &&
	   DEFAULT_LOOP=$(losetup --direct-io=on --find --show "$DEFAULT_DIR/backing" 2>/dev/null); then
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
