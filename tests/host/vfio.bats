#!/usr/bin/env bats
# The VFIO mode's refusals that need no IOMMU to test: this host has
# none, so every PCI device here must be refused with one line, exit 2.
load ../helpers

# A PCI device of this machine that is in no IOMMU group; skips if none.
no_iommu_device() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[[ -e $d && ! -e $d/iommu_group ]] && { basename "$d"; return 0; }
	done
	skip "every PCI device here is behind an IOMMU (or there is none)"
}

@test "sp-vfio --help shows commands, examples and exit codes" {
	run "$BIN/sp-vfio" --help
	assert_success
	assert_output --partial "bind"
	assert_output --partial "Examples:"
	assert_output --partial "Exit status"
}

@test "sp-vfio and uring_bench -m vfio refuse a device without an IOMMU" {
	require_root
	bdf=$(no_iommu_device)
	driver=$(readlink -f "/sys/bus/pci/devices/$bdf/driver" || true)
	for cmd in "$BIN/sp-vfio bind" "$BIN/sp-vfio unbind" "$BIN/sp-vfio check" \
		   "$UB -m vfio -n 1" "$BIN/sp-io -m vfio read"; do
		run --separate-stderr $cmd "$bdf"
		[ "$status" -eq 2 ] || fail "$cmd $bdf: exit $status"
		[[ $stderr == *"no IOMMU"* ]] || fail "$cmd $bdf: $stderr"
		[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "$cmd: more than one line: $stderr"
	done
	assert_equal "$(readlink -f "/sys/bus/pci/devices/$bdf/driver" || true)" "$driver"
}

@test "sp-vfio and uring_bench -m vfio: a malformed or unknown address is exit 2" {
	for a in foo 0000:00:20.0 1:2:3; do
		run --separate-stderr "$BIN/sp-vfio" bind "$a"
		[ "$status" -eq 2 ] || fail "bind $a: exit $status"
		[[ $stderr == *"not a PCI address"* ]] || fail "bind $a: $stderr"
	done
	run --separate-stderr "$UB" -m vfio -n 1 ffff:ff:1f.7
	assert_equal "$status" 2
	[[ $stderr == *"no such PCI device"* ]] || fail "$stderr"
	run --separate-stderr "$BIN/sp-vfio" status ffff:ff:1f.7
	assert_equal "$status" 2
	run --separate-stderr "$BIN/sp-vfio" frobnicate 0000:00:01.0
	assert_equal "$status" 2
}

@test "sp-vfio status --json lists NVMe controllers as an array" {
	run --separate-stderr "$BIN/sp-vfio" --json status
	assert_success
	jq -e 'type == "array"' <<<"$output" >/dev/null
}
