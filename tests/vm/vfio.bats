#!/usr/bin/env bats
# Guest suite: hand the NVMe controller to vfio-pci and back to nvme.
# Every test leaves the controller bound to nvme (teardown restores it),
# because the other suites need /dev/nvme0n1.

setup() {
	load helpers
	in_guest
	[ -d /sys/class/nvme/nvme0 ] || restore_nvme ||
		fail "NVMe controller nvme0 missing"
	ADDR=$(pci_addr_of /sys/class/nvme/nvme0)
	DEV=/sys/bus/pci/devices/$ADDR
	[ -d "$DEV" ] || fail "no PCI device $DEV for nvme0"
	echo "$ADDR" >"$BATS_FILE_TMPDIR/addr"
}

teardown() {
	restore_nvme
}

driver_of() {
	local d
	d=$(readlink -f "/sys/bus/pci/devices/$1/driver" 2>/dev/null) || return 0
	[ -e "/sys/bus/pci/devices/$1/driver" ] && echo "${d##*/}"
	return 0
}

# Unbind from whatever driver, clear driver_override, let nvme take the
# controller again and wait for the namespace.
restore_nvme() {
	local addr
	addr=$(cat "$BATS_FILE_TMPDIR/addr" 2>/dev/null) || addr=${ADDR:-}
	[ -n "$addr" ] || return 0
	local dev=/sys/bus/pci/devices/$addr drv
	drv=$(driver_of "$addr")
	if [ "$drv" != nvme ]; then
		[ -n "$drv" ] && echo "$addr" >"/sys/bus/pci/drivers/$drv/unbind"
		echo >"$dev/driver_override"
		echo "$addr" >/sys/bus/pci/drivers_probe
	fi
	wait_for 30 test -b /dev/nvme0n1 || {
		echo "restore: /dev/nvme0n1 did not come back (driver: $(driver_of "$addr"))" >&2
		return 1
	}
}

bind_vfio() {
	echo vfio-pci >"$DEV/driver_override"
	echo "$ADDR" >/sys/bus/pci/drivers/nvme/unbind
	echo "$ADDR" >/sys/bus/pci/drivers_probe
}

@test "vfio: the NVMe controller is in an IOMMU group" {
	[ -e "$DEV/iommu_group" ] || fail "$ADDR has no IOMMU group (intel_iommu=on, intel-iommu device?)"
	group=$(basename "$(readlink -f "$DEV/iommu_group")")
	[ -e "/sys/kernel/iommu_groups/$group/devices/$ADDR" ] ||
		fail "$ADDR is not listed in IOMMU group $group"
	[ -c /dev/vfio/vfio ] || fail "no /dev/vfio/vfio (vfio module not loaded)"
}

@test "vfio: unbind from nvme, bind to vfio-pci via driver_override" {
	group=$(basename "$(readlink -f "$DEV/iommu_group")")
	[ ! -e "/dev/vfio/$group" ] || fail "/dev/vfio/$group exists before the bind"
	bind_vfio
	assert_equal "$(driver_of "$ADDR")" vfio-pci
	wait_for 10 test -c "/dev/vfio/$group" || fail "/dev/vfio/$group did not appear"
	[ ! -e /sys/class/nvme/nvme0 ] || fail "nvme0 still present while bound to vfio-pci"
	[ ! -e /dev/nvme0n1 ] || fail "/dev/nvme0n1 still present while bound to vfio-pci"
	# The group is viable: it opens (EBUSY/EPERM here would mean it is not).
	exec {fd}<>"/dev/vfio/$group" || fail "cannot open /dev/vfio/$group"
	exec {fd}>&-
}

@test "vfio: rebinding to nvme brings the namespace back" {
	bind_vfio
	assert_equal "$(driver_of "$ADDR")" vfio-pci
	echo "$ADDR" >/sys/bus/pci/drivers/vfio-pci/unbind
	echo >"$DEV/driver_override"
	run cat "$DEV/driver_override"
	assert_output "(null)"
	echo "$ADDR" >/sys/bus/pci/drivers_probe
	assert_equal "$(driver_of "$ADDR")" nvme
	wait_for 30 test -b /dev/nvme0n1 || fail "/dev/nvme0n1 did not reappear"
	read -r sectors </sys/block/nvme0n1/size
	assert_equal "$((sectors * 512))" "$SP_NVME_BYTES"
	[ -c /dev/ng0n1 ] || fail "/dev/ng0n1 did not reappear"
}
