#!/usr/bin/env bash
# Install what shortpath needs from Debian's packages, and nothing else.
# Idempotent: packages already present are left alone, and `apt-get
# update` runs only when something is missing.
set -euo pipefail

pkgs=(
	# build
	make gcc clang llvm pkg-config bpftool
	# libFuzzer and the sanitizers (only recommended by clang, so asked for)
	libclang-rt-14-dev
	libbpf-dev liburing-dev libxdp-dev libelf-dev zlib1g-dev
	libjson-c-dev libblkid-dev libisal-dev libsgutils2-dev
	# tests and benchmarks
	bats bats-assert bats-support fio jq util-linux fdisk e2fsprogs strace iproute2 procps curl
	nginx gnuplot-nox
	# tests/host/serve-abuse.pl (Time::HiRes is in perl, not perl-base)
	perl
	# man pages: formatted and checked by tests/host/man.bats
	man-db groff-base
	# QEMU testbed (tests/vm)
	qemu-system-x86 busybox-static cpio kmod nvme-cli sg3-utils
)

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "deps: missing packages: ${missing[*]}; run 'make deps' as root" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
