#!/usr/bin/env bats
# Guest suite: the device enumeration under native NVMe multipath. The
# testbed adds a subsystem (NQN ending in :mpath) with two controllers
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
	local c ctrls=()
	for c in /sys/class/nvme/nvme*; do
		[[ $(cat "$c/subsysnqn" 2>/dev/null) == *:mpath ]] && ctrls+=("${c##*/}")
	done
	[[ ${#ctrls[@]} == 2 ]] || fail "the subsystem's two controllers not found: ${ctrls[*]}"
	# S: the subsystem's instance; B: a controller whose number is not S
	sub=$(dirname "$(compgen -G "/sys/class/nvme-subsystem/nvme-subsys*/${ctrls[0]}")")
	S=${sub##*nvme-subsys}
	A=${ctrls[0]} B=${ctrls[1]}
	[[ ${B#nvme} != "$S" ]] || { A=${ctrls[1]}; B=${ctrls[0]}; }
	# the head: the subsystem's disk
	HEAD=
	wait_for 10 find_head || fail "no multipath head in $sub"
}

find_head() {
	local d
	d=$(compgen -G "$sub/nvme${S}n*" | head -n 1) || return 1
	HEAD=${d##*/}
	[[ -b /dev/$HEAD ]]
}

# guard_check LINE: sp-guard --check --json on a policy of that one line
guard_check() {
	printf '%s\n' "$1" >"$BATS_TEST_TMPDIR/policy"
	run --separate-stderr "$SP_BIN/sp-guard" --check --json "$BATS_TEST_TMPDIR/policy"
	assert_success
}

# assert_guarded NODE...: each is among the nodes guard_check guarded
assert_guarded() {
	local guarded n
	guarded=$(json '[.guarded[].device] | join(" ")')
	for n in "$@"; do
		[[ " $guarded " == *" $n "* ]] || fail "$n not guarded: $guarded"
	done
}

@test "mpath: the guard named the second controller guards the shared head and its generic node" {
	require_bin sp-guard
	assert_equal "$HEAD" "nvme${S}n1"
	guard_check "allow uid:0 /dev/$B io:all admin:all"
	assert_guarded "$B" "$HEAD" "ng${HEAD#nvme}"
	assert_equal "$(json '[.rules[].device] | join(" ")')" "$B"
}

@test "mpath: a rule on the head reaches it through both controllers" {
	require_bin sp-guard
	guard_check "allow uid:0 /dev/ng${HEAD#nvme} io:read"
	assert_guarded "$A" "$B" "$HEAD"
	assert_equal "$(json '[.rules[].device] | sort | join(" ")')" "ng${HEAD#nvme} $HEAD"
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
