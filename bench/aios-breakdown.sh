#!/usr/bin/env bash
# The read() and write()+fsync() paths of ext4 broken down the way the
# AIOS paper (Lee et al., ATC '19) does: syscall + VFS, filesystem, page
# cache, block layer, driver + device, journal, completion. Makes ext4
# on a scratch block device, runs 4 KiB buffered random reads from a cold
# cache and 4 KiB random writes each followed by fsync(), both under
# iolat -A, and prints the two tables (and an SVG with --svg FILE).
#
#   bench/aios-breakdown.sh [--svg FILE] [-n IOS] DEVICE
#
# DEVICE is overwritten. In the QEMU testbed:
#   tests/vm/run -- aios-breakdown.sh /dev/nvme0n1
set -euo pipefail

BIN=${SP_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bin}
[[ -x $BIN/iolat ]] || BIN=$(dirname "$(command -v iolat)")
AIOS_BIN=$BIN
# beside this script in the source tree and in the guest
# shellcheck source=bench/aios-lib.bash
source "$(dirname "$0")/aios-lib.bash"
SVG= N=500 DEV=
while (($#)); do
	case $1 in
	--svg) SVG=$2; shift 2 ;;
	-n) N=$2; shift 2 ;;
	--version) . "$(dirname "$0")/lib.sh" && sp_script_version; exit 0 ;;
	-h|--help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "aios-breakdown: unknown option $1" >&2; exit 2 ;;
	*) DEV=$1; shift ;;
	esac
done
[[ -b $DEV ]] || { echo "aios-breakdown: '$DEV' is not a block device" >&2; exit 2; }
grep -q "^$DEV " /proc/mounts && { echo "aios-breakdown: $DEV is mounted" >&2; exit 2; }

MNT=$(mktemp -d)
cleanup() {
	umount "$MNT" 2>/dev/null || true
	rmdir "$MNT"
}
trap cleanup EXIT
aios_mount "$DEV" "$MNT"

# the file to read, written and then dropped from the page cache
aios_read_file "$MNT/r" 16

rm -f "${TMPDIR:-/tmp}/aios-ready"
mkfifo "${TMPDIR:-/tmp}/aios-ready"
"$BIN/iolat" -A -c uring_bench ${SVG:+--svg "$SVG"} --ready-fd 3 3>"${TMPDIR:-/tmp}/aios-ready" \
	>"${TMPDIR:-/tmp}/aios-out" &
pid=$!
read -r -n 1 -t 120 _ <"${TMPDIR:-/tmp}/aios-ready"
rm -f "${TMPDIR:-/tmp}/aios-ready"
"$BIN/uring_bench" --quiet "${AIOS_READ[@]}" --size 16M -n "$N" "$MNT/r" >/dev/null
"$BIN/uring_bench" --quiet -m psync -w randwrite --buffered --fsync 1 --size 16M -n "$N" "$MNT/w" >/dev/null
kill -INT "$pid"
wait "$pid"
echo "ext4 on $DEV, 4 KiB, $N random buffered reads (cold cache) and $N random writes each followed by fsync():"
sed -n '/^read()/,$p' "${TMPDIR:-/tmp}/aios-out"
rm -f "${TMPDIR:-/tmp}/aios-out"
