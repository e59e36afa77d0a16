# Shared set-up for the host BATS suites.
bats_require_minimum_version 1.5.0
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BIN=${BIN:-$TOP/build/bin}
UB=$BIN/uring_bench
# shellcheck source=tests/wait.bash
source "$TOP/tests/wait.bash"

require_root() {
	[[ $(id -u) -eq 0 ]] || skip "needs root"
}

# Field of the JSON document on stdout of the last `run --separate-stderr`.
jfield() {
	jq -r "$1" <<<"$output"
}

# A loop device with direct I/O on a tmpfs file; echoes the device.
# Removed by loop_teardown (call it from teardown).
loop_setup() {
	local size=${1:-64M}
	require_root
	[[ -e /dev/loop-control ]] || skip "no loop devices on this kernel"
	LOOP_DIR=$(mktemp -d /dev/shm/shortpath-test.XXXXXX)
	truncate -s "$size" "$LOOP_DIR/backing"
	LOOP_DEV=$(losetup --direct-io=on --find --show "$LOOP_DIR/backing") ||
		skip "losetup failed"
}

loop_teardown() {
	[[ -n ${LOOP_MNT:-} ]] && { umount "$LOOP_MNT" 2>/dev/null || true; rmdir "$LOOP_MNT"; }
	[[ -n ${LOOP_DEV:-} ]] && losetup -d "$LOOP_DEV" 2>/dev/null || true
	[[ -n ${LOOP_DIR:-} ]] && rm -rf "$LOOP_DIR"
	LOOP_DEV= LOOP_DIR= LOOP_MNT=
}

# Sets F to a (not yet existing) target file on tmpfs (O_DIRECT works
# on tmpfs since Linux 6.6). Removed by tmpfs_teardown.
tmpfs_file() {
	TMPF_DIR=$(mktemp -d /dev/shm/shortpath-test.XXXXXX)
	F=$TMPF_DIR/target
}

# writer_holds PATH: a writing run holds PATH: an OFD write lock on a
# file (/proc/locks), an exclusive claim on a block device (an O_EXCL
# open fails with EBUSY)
writer_holds() {
	local ino
	if [[ -b $1 ]]; then
		perl -MFcntl -e 'exit(sysopen(my $f, $ARGV[0], O_RDONLY | O_EXCL) ? 1 : $!{EBUSY} ? 0 : 1)' "$1"
	else
		ino=$(stat -c %i "$1" 2>/dev/null) &&
			grep -q "OFDLCK *ADVISORY *WRITE .*:$ino " /proc/locks
	fi
}

# wait_writer PATH: until a writing run holds PATH, 10 s at most. A run
# takes it during its set-up, which a loaded machine may stretch past
# any fixed wait.
wait_writer() {
	wait_for 10 writer_holds "$1" && return 0
	echo "no writing run took $1 within 10 s" >&2
	return 1
}

tmpfs_teardown() {
	[[ -n ${TMPF_DIR:-} ]] && rm -rf "$TMPF_DIR"
	TMPF_DIR=
}
