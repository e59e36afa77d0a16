#!/usr/bin/env bats
# Guest suite: what this kernel gives the other suites, as the
# project's own run-time probes and notices say it, printed as TAP
# comment lines ("# features: ...") so that every run records, per
# kernel, the features the suites used (tests/vm/README.md, "Features
# per kernel", is made from these lines). Fails only when a probe cannot
# run at all: which features a kernel has is no failure.

setup() {
	load helpers
	in_guest
	require_bin sp-features
	require_bin iolat
	require_bin uring_bench
	require_bin sp-serve
}

note() { printf '# features: %s\n' "$*" >&3; }

@test "features: what this kernel gives the suites (printed)" {
	note "kernel $(uname -r)"

	# bpf.bats, iolat.bats, guard.bats: the program types
	run "$SP_BIN/sp-features"
	[[ -n $output ]] || fail "sp-features printed nothing (status $status)"
	note "eBPF: $(awk '{t = $1; $1 = ""; printf "%s%s %s", (NR > 1 ? ", " : ""), t, $2}' <<<"$output")"

	# iolat.bats: which tracepoints iolat follows, and how
	run --separate-stderr timeout 120 "$SP_BIN/iolat" -v --json -d nvme0n1 1 1
	[ "$status" -eq 0 ] || fail "iolat exited $status: $(grep -v 'debug:' <<<"$stderr" | tail -n 3)"
	while IFS= read -r l; do
		note "iolat: ${l#iolat: debug: }"
	done < <(grep -E '^iolat: debug: (io_uring|nvme|scsi)[:/]' <<<"$stderr")
	while IFS= read -r l; do note "iolat: ${l#iolat: }"; done < <(
		grep -E 'layers unavailable|optional layers' <<<"$stderr")

	# guard.bats: the BPF LSM hooks sp-guard attaches to
	local hooks=() h
	for h in uring_cmd file_ioctl file_ioctl_compat; do
		grep -qw "bpf_lsm_$h" /proc/kallsyms && hooks+=("$h") || hooks+=("no $h")
	done
	note "guard: LSM hooks ${hooks[*]}"

	# nvme_passthru.bats, uring_bench.bats: the io_uring paths
	local m out
	for m in "-m nvme" "-m nvme --fixedbufs" "-m nvme --fixedbufs --iopoll" \
		"-m uring --iopoll" "-m uring --sqpoll --fixedbufs --regfiles"; do
		# shellcheck disable=SC2086 # options are words
		if out=$("$SP_BIN/uring_bench" --quiet -n 64 $m "$([[ $m == *nvme* ]] && echo /dev/ng0n1 || echo /dev/nvme0n1)" 2>&1 >/dev/null); then
			note "io_uring: uring_bench $m: works"
		else
			note "io_uring: uring_bench $m: refused: $(tail -n 1 <<<"$out")"
		fi
	done

	# serve.bats: the zero-copy send's report of copies
	local d=$BATS_TEST_TMPDIR
	head -c 4096 /dev/zero >"$d/f"
	"$SP_BIN/sp-serve" -m sendzc --json --ready "$d/ready" "$d/f" >"$d/srv.json" 2>"$d/srv.err" &
	local pid=$!
	wait_for 20 test -e "$d/ready" || { kill "$pid"; fail "sp-serve -m sendzc did not come up: $(cat "$d/srv.err")"; }
	kill -INT "$pid"
	wait "$pid" || true
	if grep -q 'does not say whether it copied' "$d/srv.err"; then
		note "sendzc: no IORING_SEND_ZC_REPORT_USAGE: copies are not reported"
	else
		note "sendzc: IORING_SEND_ZC_REPORT_USAGE: copied sends are counted"
	fi
}
