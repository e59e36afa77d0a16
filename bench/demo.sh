#!/usr/bin/env bash
# make demo: every submission path at QD1 and QD32 on an embedded
# default target, one table; then the A/B against the VFIO userspace
# driver (bench/ab-compare), in the QEMU testbed's guest on its emulated
# NVMe (about a minute), or on a real controller named with --ab; then
# the same for the SCSI disk behind the guest's MegaRAID HBA (kernel
# block, sg and the userspace SCSI driver: the seed paper's comparison).
# Usage: bench/demo.sh [--runtime 2s] [--ab NVME_DEV|BDF | --no-ab] [TARGET]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

runtime=2s
target=
ab=true
ab_dev=
while [[ $# -gt 0 ]]; do
	case $1 in
	--runtime) runtime=$2; shift 2 ;;
	--ab) ab_dev=$2; shift 2 ;;
	--no-ab) ab=false; shift ;;
	--version) sp_script_version; exit 0 ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "demo: unknown option $1" >&2; exit 2 ;;
	*) target=$1; shift ;;
	esac
done

trap 'drop_default_target; sp_run_end' EXIT
trap 'exit 130' INT TERM
sp_run_begin demo
if [[ -n $target ]]; then
	TARGET=$target
	TARGET_DESC=$target
else
	make_default_target 256M
fi

echo "shortpath demo: 4 KiB random reads, $runtime per run, on $TARGET_DESC"
echo "CPU per I/O counts every thread of the process (SQPOLL and io-wq too)."
echo
fmt="%-26s %4s %10s %9s %9s %10s %9s %8s\n"
printf "$fmt" path QD IOPS "p50 us" "p99 us" "CPU/IO us" "sysc/IO" "csw/IO"
rows=(
	"psync|-m psync"
	"io_uring|-m uring"
	"io_uring fixed+regfile|-m uring --fixedbufs --regfiles"
	"io_uring SQPOLL|-m uring --sqpoll --fixedbufs --regfiles"
	"io_uring NOP (ring only)|-m nop"
)
for row in "${rows[@]}"; do
	name=${row%%|*}
	args=${row#*|}
	for qd in 1 32; do
		[[ $name == psync && $qd -ne 1 ]] && continue
		tgt=$TARGET
		[[ $args == *nop* ]] && tgt=
		# shellcheck disable=SC2086
		out=$("$UB" --json -w randread -q "$qd" -t "$runtime" $args $tgt)
		printf "$fmt" "$name" "$qd" \
			"$(jget "$out" '.result.iops | floor')" \
			"$(jget "$out" '.result.latency_ns.p50 / 1000 | . * 10 | round / 10')" \
			"$(jget "$out" '.result.latency_ns.p99 / 1000 | . * 10 | round / 10')" \
			"$(jget "$out" '.result.cpu.ns_per_io / 1000 | . * 1000 | round / 1000')" \
			"$(jget "$out" '.result.syscalls.per_io | . * 1000 | round / 1000')" \
			"$(jget "$out" '(.result.ctx_switches.voluntary_per_io + .result.ctx_switches.involuntary_per_io) | . * 1000 | round / 1000')"
	done
done
echo
echo "Ring set-up obtained: $(jget "$("$UB" --json -m nop -n 1)" .config.setup)"

# Serving: the same files by read/write, sendfile, io_uring send_zc,
# AF_XDP and nginx (bench/serve-compare, short settings).
echo
if [[ $(id -u) -ne 0 ]]; then
	echo "Serving comparison skipped: it needs root for its network namespaces."
else
	modes="copy sendfile splice sendzc xdp"
	command -v nginx >/dev/null && modes+=" nginx"
	"$TOP/bench/serve-compare" --time 1s --sizes "4k 1m" --modes "$modes" ||
		echo "Serving comparison failed (see above)."
fi

$ab || exit 0
echo
echo "A/B: kernel block (io_uring) vs NVMe passthrough vs the VFIO userspace driver"
ab_png=$TOP/build/ab-compare.png
if [[ -n $ab_dev ]]; then
	# a real controller: moved to vfio-pci and back by ab-compare itself
	"$TOP/bench/ab-compare" -q 1 --plot "$ab_png" "$ab_dev" uring nvme nvme-fixed vfio
	exit
fi
if ! make -C "$TOP" --no-print-directory vm >"$TOP/build/demo-vm.log" 2>&1; then
	echo "skipped: the QEMU testbed could not be prepared (build/demo-vm.log);"
	echo "name a spare NVMe controller with --ab to run it on real hardware"
	exit 0
fi
# Path length: instructions per I/O under QEMU icount (bench/pathlen,
# one short boot, QD1 reads; bench/pathlen alone checks 3 boots)
echo "Path length: instructions per I/O by context, QEMU -icount (one boot, QD1 reads)"
"$TOP/bench/pathlen" --boots 1 --ios 300 --no-rtt --qd 1 --rw randread \
	--paths "psync uring uring-fixed nvme nvme-fixed sg" \
	--json "$TOP/build/pathlen-demo.json" --plot "" 2>/dev/null ||
	echo "path length failed (see bench/pathlen --boots 1 --no-rtt)"
echo
ab_json=$TOP/build/ab-compare.json
# guest stdout and stderr arrive together: the JSON is cut out of it
if "$TOP/tests/vm/run" -- bash -c 'ab-compare --json -r 3 -t 1s -q 1 /dev/nvme0n1 uring nvme vfio 2>/tmp/err ||
		{ cat /tmp/err; exit 1; }' 2>/dev/null | sed -n '/^{$/,/^}$/p' >"$ab_json" &&
   [[ -s $ab_json ]]; then
	"$TOP/bench/ab-compare" --from "$ab_json" --plot "$ab_png"
	echo "(JSON: $ab_json)"
else
	echo "the A/B in the guest failed; see tests/vm/run -- ab-compare /dev/nvme0n1"
	exit 1
fi

# The seed paper's comparison: the disk behind the MegaRAID (MFI) HBA
# through the kernel's SCSI stack (block, sg) and through the userspace
# SCSI driver over VFIO, QD1 random reads
echo
echo "A/B: the SCSI disk behind the emulated MegaRAID HBA: kernel block, sg, userspace driver (scsi-vfio)"
scsi_json=$TOP/build/ab-compare-scsi.json
scsi_png=$TOP/build/ab-compare-scsi.png
if "$TOP/tests/vm/run" -- bash -c 'd=$(sp-vfio --json status | jq -r "[.[] | select(.driver == \"megaraid_sas\")][0].namespaces[0].name // empty")
		[ -n "$d" ] || { echo "no disk behind megaraid_sas"; exit 1; }
		ab-compare --json -r 3 -n 1000 -q 1 "/dev/$d" uring sg scsi-vfio 2>/tmp/err ||
		{ cat /tmp/err; exit 1; }' 2>/dev/null | sed -n '/^{$/,/^}$/p' >"$scsi_json" &&
   [[ -s $scsi_json ]]; then
	"$TOP/bench/ab-compare" --from "$scsi_json" --plot "$scsi_png"
	echo "(JSON: $scsi_json)"
else
	echo "the SCSI A/B in the guest failed; see tests/vm/run -- ab-compare /dev/sdX"
	exit 1
fi
