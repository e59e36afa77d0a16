#!/usr/bin/env bash
# passthru-report.sh: every path to an NVMe namespace and a SCSI disk,
# side by side, in the figures that do not depend on how fast the
# machine is: syscalls and context switches per I/O (and IOPS, which
# under QEMU/TCG are emulation speed, not device speed).
#
# Usage: bench/passthru-report.sh [--ios N] [--qd N] [--nvme DEV] [--scsi DEV]
# Defaults: --ios 4000 --qd 16, /dev/nvme0n1 and the first sd disk with an
# sg node. Reads only: nothing is written.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
UB=${UB:-$(command -v uring_bench || echo "$here/../build/bin/uring_bench")}

ios=4000 qd=16 nvme=/dev/nvme0n1 scsi=
while [[ $# -gt 0 ]]; do
	case $1 in
	--ios) ios=$2; shift 2 ;;
	--qd) qd=$2; shift 2 ;;
	--nvme) nvme=$2; shift 2 ;;
	--scsi) scsi=$2; shift 2 ;;
	--version) . "$(dirname "$0")/lib.sh" && sp_script_version; exit 0 ;;
	-h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "passthru-report: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
if [[ -z $scsi ]]; then
	for b in /sys/block/sd*; do
		[[ -d $b/device/scsi_generic ]] && { scsi=/dev/${b##*/}; break; }
	done
fi
ng=$nvme
[[ $nvme == /dev/nvme* ]] && ng=/dev/ng${nvme#/dev/nvme}

fmt="%-36s %4s %8s %9s %9s %9s\n"
printf "$fmt" path QD IOPS "sysc/IO" "csw/IO" "CPU us/IO"
row() {	# NAME DEVICE ARGS...
	local name=$1 dev=$2 out
	shift 2
	if [[ ! -e $dev ]]; then
		printf "%-36s %s\n" "$name" "skipped: no $dev"
		return
	fi
	if ! out=$("$UB" --json --quiet -w randread -n "$ios" "$@" "$dev" 2>&1); then
		printf "%-36s %s\n" "$name" "failed: $(tail -1 <<<"$out")"
		return
	fi
	# one jq for the row: it takes longer to start than a QD1 run lasts
	# under emulation
	local -a f
	mapfile -t f < <(jq -r '.config.iodepth, (.result.iops | floor), .result.syscalls.per_io,
		((.result.ctx_switches.voluntary_per_io + .result.ctx_switches.involuntary_per_io) * 1000 | round / 1000),
		(.result.cpu.ns_per_io / 1000 | . * 10 | round / 10)' <<<"$out")
	printf "$fmt" "$name" "${f[@]}"
}

for q in 1 "$qd"; do
	[[ $q -eq 1 ]] && row "NVMe block psync" "$nvme" -m psync
	row "NVMe block io_uring" "$nvme" -m uring -q "$q"
	row "NVMe passthrough" "$ng" -m nvme -q "$q"
	row "NVMe passthrough fixed buffers" "$ng" -m nvme -q "$q" --fixedbufs --regfiles
	row "NVMe passthrough vectored" "$ng" -m nvme -q "$q" --vectored
	row "NVMe passthrough SQPOLL" "$ng" -m nvme -q "$q" --sqpoll --fixedbufs --regfiles
	row "NVMe passthrough IOPOLL" "$ng" -m nvme -q "$q" --iopoll --fixedbufs
	if [[ -n $scsi ]]; then
		row "SCSI block io_uring" "$scsi" -m uring -q "$q"
		row "SCSI sg via io_uring" "$scsi" -m sg -q "$q"
		row "SCSI sg via io_uring, SQPOLL" "$scsi" -m sg -q "$q" --sqpoll --regfiles
	fi
done
