#!/usr/bin/env bats
# Every command the suites call is there: a suite whose tool is missing
# must fail, never pass without checking (tests/deps.sh installs them all).
load ../helpers

@test "every command the test suites and the testbed call is installed" {
	missing=()
	for c in jq pgrep pkill curl nginx fio ip losetup blockdev findmnt mkfs.ext4 sfdisk \
		man lexgrog groff gnuplot bpftool strace cmp cpio git taskset timeout mkfifo \
		truncate sysctl clang pkg-config qemu-system-x86_64 busybox depmod nvme sg_inq; do
		command -v "$c" >/dev/null || missing+=("$c")
	done
	[ ${#missing[@]} -eq 0 ] || fail "missing: ${missing[*]} (make deps installs them)"
}
