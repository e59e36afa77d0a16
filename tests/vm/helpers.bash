# Helpers shared by the guest suites (tests/vm/*.bats); `load helpers`.
# These suites run inside the QEMU guest only (tests/vm/run), where the
# testbed guarantees an NVMe controller (nvme0, namespace nvme0n1) and a
# SAS disk behind megaraid_sas and one behind mptsas, and exports their
# sizes (SP_NVME_BYTES, SP_SAS_BYTES, SP_MPT_BYTES) and the directory of
# the project's binaries (SP_BIN).

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
bats_require_minimum_version 1.5.0  # run --separate-stderr

SP_BIN=${SP_BIN:-/opt/shortpath/bin}

# Skip on a host (these suites are for the guest only), but fail in a
# guest that lacks what the testbed promises.
in_guest() {
	[[ -f /etc/sp-vm/kver ]] || skip "guest-only suite: run it with tests/vm/run"
	[[ -n ${SP_NVME_BYTES:-} && -n ${SP_SAS_BYTES:-} ]] ||
		fail "testbed environment missing (SP_NVME_BYTES, SP_SAS_BYTES)"
}

# Skip when one of the project's binaries was not built.
require_bin() {
	[[ -x $SP_BIN/$1 ]] || skip "$1 is not built ($SP_BIN/$1 missing)"
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds.
wait_for() {
	local tries=$(($1 * 10))
	shift
	while ! "$@"; do
		((tries-- > 0)) || return 1
		sleep 0.1
	done
}

# The PCI address (0000:00:02.0) of the device behind a sysfs class node.
pci_addr_of() {
	basename "$(readlink -f "$1/device")"
}

# The first sd block device (sda) behind an HBA bound to DRIVER (the
# PCI device is an ancestor of the disk in sysfs, however deep the
# driver's transport nests it); empty when there is none. The testbed
# has one HBA per driver, so a disk is found by its driver, never by name.
hba_disk() {
	local b path d
	for b in /sys/block/sd*; do
		[[ -e $b ]] || continue
		path=$(readlink -f "$b/device")
		for d in /sys/bus/pci/drivers/"$1"/0000:*; do
			[[ -e $d && $path == */"${d##*/}"/* ]] || continue
			echo "${b##*/}"
			return 0
		done
	done
	return 0
}

# The disk behind megaraid_sas, and the one behind mptsas (spmpt0).
sas_disk() { hba_disk megaraid_sas; }
mpt_disk() { hba_disk mptsas; }

# Write COUNT MiB of random data at MiB offset SEEK of block device DEV,
# drop the caches, read it back and compare.
roundtrip_check() {
	local dev=$1 seek=$2 count=$3
	head -c $((count * 1024 * 1024)) /dev/urandom >"$BATS_TEST_TMPDIR/pattern"
	dd if="$BATS_TEST_TMPDIR/pattern" of="$dev" bs=1M seek="$seek" conv=fsync 2>/dev/null ||
		fail "writing $count MiB to $dev failed"
	blockdev --flushbufs "$dev"
	echo 3 >/proc/sys/vm/drop_caches
	dd if="$dev" of="$BATS_TEST_TMPDIR/readback" bs=1M skip="$seek" count="$count" 2>/dev/null ||
		fail "reading $count MiB from $dev failed"
	cmp "$BATS_TEST_TMPDIR/pattern" "$BATS_TEST_TMPDIR/readback" ||
		fail "$dev returned other data than written at $seek MiB"
}

# json FILTER: apply a jq filter to $output (raw output).
json() {
	jq -er "$1" <<<"$output"
}

# steps_ok STEP...: each named step of an sp-vfio check report ($output)
# passed
steps_ok() {
	local s
	for s in "$@"; do
		json ".steps[] | select(.name == \"$s\") | .ok" >/dev/null || fail "step $s not ok: $output"
	done
}

# ub N ARGS...: run uring_bench --json --quiet --ios N ARGS; fail unless it
# exits 0, prints valid JSON and did exactly N I/Os per job. $output keeps
# the JSON.
ub() {
	local n=$1
	shift
	run --separate-stderr "$SP_BIN/uring_bench" --json --quiet --ios "$n" "$@"
	[ "$status" -eq 0 ] || fail "uring_bench $* exited $status: $stderr"
	json . >/dev/null || fail "uring_bench $* printed no valid JSON: $output"
	assert_equal "$(json .result.ios)" "$((n * $(json .config.jobs)))"
}
