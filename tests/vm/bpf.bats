#!/usr/bin/env bats
# Guest suite: what eBPF needs in the guest, and the program types that
# the host kernel refuses (fentry, kprobe) loading and attaching here.

setup() {
	load helpers
	in_guest
}

@test "bpf: tracefs and bpffs are mounted" {
	run grep -E '^[^ ]+ /sys/kernel/tracing tracefs ' /proc/mounts
	assert_success
	run grep -E '^[^ ]+ /sys/fs/bpf bpf ' /proc/mounts
	assert_success
}

@test "bpf: kernel BTF is available for CO-RE and fentry" {
	[ -s /sys/kernel/btf/vmlinux ] || fail "no /sys/kernel/btf/vmlinux"
}

@test "bpf: the BPF LSM is active (lsm=...,bpf)" {
	run cat /sys/kernel/security/lsm
	assert_success
	assert_output --regexp '(^|,)bpf(,|$)'
}

@test "bpf: kprobes can be placed on the block layer" {
	[ -e /sys/kernel/tracing/kprobe_events ] || fail "no kprobe_events in tracefs"
	run grep -m1 -E '^blk_mq_start_request( |$)' /sys/kernel/tracing/available_filter_functions
	assert_success
}

@test "bpf: sp-features --require fentry,kprobe succeeds" {
	require_bin sp-features
	run --separate-stderr "$SP_BIN/sp-features" --require fentry,kprobe
	[ "$status" -eq 0 ] || fail "sp-features exited $status: $stderr"$'\n'"$output"
	assert_line --regexp '^fentry:?[[:space:]]+yes'
	assert_line --regexp '^kprobe:?[[:space:]]+yes'
}

@test "bpf: sp-features --json reports fentry and kprobe as supported" {
	require_bin sp-features
	run --separate-stderr "$SP_BIN/sp-features" --json
	assert_success
	run json '[.features.fentry.supported, .features.kprobe.supported] | all'
	assert_success
	assert_output true
}
