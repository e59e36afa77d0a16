#!/usr/bin/env bats
# Guest suite: the SAS disk behind the emulated LSI MegaRAID SAS HBA.

setup() {
	load helpers
	in_guest
	SD=$(sas_disk)
}

@test "scsi: a SCSI host adapter is driven by megaraid_sas" {
	local h found=
	for h in /sys/class/scsi_host/host*; do
		[ -e "$h" ] || continue
		read -r name <"$h/proc_name"
		[ "$name" = megaraid_sas ] || continue
		run readlink -f "$(readlink -f "$h/device")/../driver"
		assert_output --regexp '/megaraid_sas$'
		found=$h
	done
	[ -n "$found" ] || fail "no SCSI host with proc_name megaraid_sas"
}

# tests/vm/init: QEMU's model maps 2 KiB per 1 KiB frame, which fails
# behind a translating IOMMU when a frame ends a page (the command then
# comes back BUSY); the kernel's driver gets an untranslated domain.
@test "scsi: megaraid_sas drives the HBA through an identity IOMMU domain" {
	local h pci
	for h in /sys/class/scsi_host/host*; do
		read -r name <"$h/proc_name"
		[ "$name" = megaraid_sas ] || continue
		pci=$(readlink -f "$h/device/..")
		run cat "$pci/iommu_group/type"
		assert_success
		assert_output identity
		return 0
	done
	fail "no SCSI host with proc_name megaraid_sas"
}

@test "scsi: the SAS disk has a /dev/sd* block node" {
	[ -n "$SD" ] || fail "no sd disk behind megaraid_sas (have: $(ls /sys/block))"
	[ -b "/dev/$SD" ] || fail "no block device /dev/$SD"
}

@test "scsi: the SAS disk has a /dev/sg* node" {
	[ -n "$SD" ] || fail "no sd disk behind megaraid_sas"
	local sg
	sg=$(ls "/sys/block/$SD/device/scsi_generic")
	[[ $sg == sg[0-9]* ]] || fail "no scsi_generic node for $SD"
	[ -c "/dev/$sg" ] || fail "no character device /dev/$sg"
}

@test "scsi: SAS disk size equals the scratch image size" {
	[ -n "$SD" ] || fail "no sd disk behind megaraid_sas"
	read -r sectors <"/sys/block/$SD/size"
	assert_equal "$((sectors * 512))" "$SP_SAS_BYTES"
	run blockdev --getsize64 "/dev/$SD"
	assert_output "$SP_SAS_BYTES"
}

@test "scsi: SAS disk identifies as QEMU's with the serial it was given" {
	[ -n "$SD" ] || fail "no sd disk behind megaraid_sas"
	run cat "/sys/block/$SD/device/vendor"
	assert_output --regexp '^QEMU'
	run strings "/sys/block/$SD/device/vpd_pg80"
	assert_output --partial "$SP_SAS_SERIAL"
}

@test "scsi: data written to the SAS disk reads back unchanged" {
	[ -n "$SD" ] || fail "no sd disk behind megaraid_sas"
	roundtrip_check "/dev/$SD" 8 4
}
