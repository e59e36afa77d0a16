# shellcheck shell=bash
# The ext4 workload of the AIOS breakdown (Lee et al., ATC '19): a scratch
# ext4, a file to read from a cold page cache, and uring_bench's options
# for 4 KiB buffered reads and for 4 KiB writes each followed by fsync().
# Sourced by bench/aios-breakdown.sh (timed, under iolat -A) and by the
# guest side of bench/pathlen --aios (tests/vm/pathlen.bash: the same
# paths in instructions). Needs root, mkfs.ext4 and AIOS_BIN: the
# directory of uring_bench.

# 4 KiB reads through the page cache, at offsets uring_bench draws from
# its fixed seed (the same in every run)
# shellcheck disable=SC2034 # used by the scripts that source this
AIOS_READ=(-m psync -w randread --buffered)

# aios_mount DEV MNT [MKFS_OPTION...]: a fresh ext4 on DEV (overwritten),
# mounted on MNT. The inode tables and the journal are written by mkfs:
# with lazy initialisation a kernel thread (ext4lazyinit) writes them
# after the mount, in the middle of what is measured.
aios_mount() {
	local dev=$1 mnt=$2
	shift 2
	modprobe ext4 2>/dev/null || true
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$@" "$dev" >/dev/null || return 1
	mount "$dev" "$mnt"
}

# aios_read_file FILE MIB: FILE (MIB MiB) written for real by uring_bench
# and on the device, none of it in the page cache
aios_read_file() {
	[[ -e $1 ]] || "$AIOS_BIN/uring_bench" --quiet -m psync -w write --buffered \
		--size "$2M" -n $(($2 * 256)) "$1" >/dev/null || return 1
	aios_cold
}

# aios_cold: the page cache (data and metadata) written back and dropped
aios_cold() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}
