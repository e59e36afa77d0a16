#!/usr/bin/env bats
# Guest suite: the device enumeration under native NVMe multipath. The
# testbed adds a subsystem with two controllers (serials spmp0, spmp1)
# sharing namespace 1: the guest has one head disk nvmeSn1 and its
# generic node ngSn1 (S: the subsystem's instance, which is the first
# controller's number) and a hidden path nvmeScCn1 per controller. The
# second controller's own number names none of these nodes.
# vm-needs: nvme-multipath

setup() {
	load helpers
	in_guest
	[[ ${SP_VM_MPATH:-0} == 1 ]] || fail "the testbed did not add the multipath subsystem"
	[[ $(cat /sys/module/nvme_core/parameters/multipath 2>/dev/null) == Y ]] ||
		skip "this kernel's nvme driver has native multipath off"
	local c
	A= B=
	for c in /sys/class/nvme/nvme*; do
		case $(cat "$c/serial" 2>/dev/null) in
		spmp0) A=${c##*/} ;;
		spmp1) B=${c##*/} ;;
		esac
	done
	[[ -n $A && -n $B ]] || fail "controllers spmp0/spmp1 not found"
	# the head: the disk whose multipath/ lists a path of controller A
	HEAD=
	wait_for 10 find_head || fail "no multipath head for $A"
}

find_head() {
	local d
	for d in /sys/block/nvme*n*; do
		[[ -d $d/multipath ]] || continue
		compgen -G "$d/multipath/nvme*c${A#nvme}n*" >/dev/null && HEAD=${d##*/} && return 0
	done
	return 1
}

@test "mpath: the guard named the second controller guards the shared head, its generic node and both controllers' nodes" {
	require_bin sp-guard
	[[ $HEAD != "nvme${B#nvme}n1" ]] || skip "the head carries the second controller's number"
	printf 'allow uid:0 /dev/%s io:all admin:all\n' "$B" >"$BATS_TEST_TMPDIR/policy"
	run --separate-stderr "$SP_BIN/sp-guard" --check --json "$BATS_TEST_TMPDIR/policy"
	assert_success
	local guarded
	guarded=$(json '[.guarded[].device] | join(" ")')
	for n in "$B" "$HEAD" "ng${HEAD#nvme}"; do
		[[ " $guarded " == *" $n "* ]] || fail "$n not guarded: $guarded"
	done
	assert_equal "$(json '[.rules[].device] | join(" ")')" "$B"
}

@test "mpath: a rule on the head reaches it through both controllers" {
	require_bin sp-guard
	printf 'allow uid:0 /dev/%s io:read\n' "ng${HEAD#nvme}" >"$BATS_TEST_TMPDIR/policy"
	run --separate-stderr "$SP_BIN/sp-guard" --check --json "$BATS_TEST_TMPDIR/policy"
	assert_success
	local guarded
	guarded=$(json '[.guarded[].device] | join(" ")')
	for n in "$A" "$B" "$HEAD"; do
		[[ " $guarded " == *" $n "* ]] || fail "$n not guarded: $guarded"
	done
	assert_equal "$(json '[.rules[].device] | sort | join(" ")')" "$HEAD ng${HEAD#nvme}"
}

@test "mpath: sp-vfio status shows the head under each controller's PCI function" {
	require_bin sp-vfio
	local bdf c
	for c in "$A" "$B"; do
		bdf=$(pci_addr_of "/sys/class/nvme/$c")
		run --separate-stderr "$SP_BIN/sp-vfio" status --json "$bdf"
		assert_success
		assert_equal "$(json '.controller')" "$c"
		assert_equal "$(json '[.namespaces[].name] | join(" ")')" "$HEAD"
	done
}

@test "mpath: passthrough through the head's block node goes to its generic node" {
	require_bin sp-io
	run --separate-stderr "$SP_BIN/sp-io" read --json -m nvme --lba 0 --blocks 1 "/dev/$HEAD"
	assert_success
	assert_equal "$(json '.node')" "/dev/ng${HEAD#nvme}"
	assert_equal "$(json '.status')" "ok"
	run --separate-stderr "$SP_BIN/sp-io" read -m nvme --lba 0 --blocks 1 "/dev/ng${HEAD#nvme}"
	assert_success
}
