# Helpers shared by the guest suites (tests/vm/*.bats); `load helpers`.
# These suites run inside the QEMU guest only (tests/vm/run), where the
# testbed guarantees an NVMe controller (nvme0, namespace nvme0n1) and a
# SAS disk behind megaraid_sas and one behind mptsas, and exports their
# sizes (SP_NVME_BYTES, SP_SAS_BYTES, SP_MPT_BYTES) and the directory of
# the project's binaries (SP_BIN).

# bats-support and bats-assert, sourced file by file: their load.bash
# runs dirname once per file, and under TCG those 15 fork+execs cost
# about 0.3 s for every test. Their files only define functions.
for _sp_lib in /usr/lib/bats/bats-support/src/*.bash /usr/lib/bats/bats-assert/src/*.bash; do
	# shellcheck disable=SC1090
	source "$_sp_lib" || exit 1
done
unset _sp_lib
declare -F assert_output fail >/dev/null ||
	{ echo "bats-assert or bats-support not found in /usr/lib/bats" >&2; exit 1; }
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

# wait_for SECONDS COMMAND..., pid_gone PID
# shellcheck source=tests/wait.bash
source "$BATS_TEST_DIRNAME/wait.bash"

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

# json FILTER: apply a jq filter to $output (raw output, jq -e's status).
# jq 1.6 compiles its builtins at every start, 0.2 s under TCG, and a
# test asks one output for many fields: so one jq run turns the output
# into a bash table of its scalars by path (json_table), and a plain
# path (.a.b[0].c) is answered from it. Any other filter goes to jq.
json() {
	local t=${BATS_TEST_TMPDIR:-}/.json-table src=
	if [[ -n ${BATS_TEST_TMPDIR:-} && $1 =~ ^(\.[A-Za-z_][A-Za-z0-9_]*|\[[0-9]+\])+$ ]]; then
		[[ -f $t.src ]] && IFS= read -r -d '' src <"$t.src"
		if [[ ! -f $t || $src != "$output" ]]; then
			json_table <<<"$output" >"$t" 2>/dev/null || : >"$t"
			printf '%s' "$output" >"$t.src"
		fi
		local -A SP_JSON=()
		# shellcheck disable=SC1090
		source "$t"
		# "1value" or "0value": the leading digit says whether jq -e
		# would call it true (anything but false and null)
		if [[ -n ${SP_JSON[$1]+set} ]]; then
			printf '%s\n' "${SP_JSON[$1]:1}"
			[[ ${SP_JSON[$1]:0:1} == 1 ]]
			return
		fi
	fi
	jq -er "$1" <<<"$output"
}

# json_file FILE FILTER: json FILTER on the JSON in FILE
json_file() {
	local output
	IFS= read -r -d '' output <"$1" || true
	json "$2"
}

# json_table: stdin, one JSON value, as a bash assignment to SP_JSON of
# its scalars keyed by path as jq writes it (.jobs[0].ios); nothing for
# anything else (several values, not JSON). Keys that are not plain
# names are left out: json sends their filters to jq.
json_table() {
	jq -rs 'select(length == 1) | .[0] as $d |
		[$d | paths(scalars) as $p
		 | select(all($p[]; type == "number" or test("^[A-Za-z_][A-Za-z0-9_]*$")))
		 | ($p | map(if type == "number" then "[\(.)]" else ".\(.)" end) | join("")) as $k
		 | ($d | getpath($p)) as $v
		 | "[\($k | @sh)]=\((if $v == false or $v == null then "0" else "1" end) + "\($v)" | @sh)"]
		| "SP_JSON=(" + join(" ") + ")"'
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
