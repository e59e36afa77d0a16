#!/usr/bin/env bats
# bench/fabric-setup without a fabric: its usage contract. Every refusal
# here happens before anything is loaded or created (the suite checks
# that no state file appears); the set-up itself runs between two
# guests in tests/vm/fabric.bats.
load ../helpers

FS=$TOP/bench/fabric-setup

setup() {
	export SP_FABRIC_STATE=$BATS_TEST_TMPDIR/state
}

teardown() {
	[[ ! -e $SP_FABRIC_STATE/state ]] || fail "a refused run left $SP_FABRIC_STATE/state"
}

@test "fabric-setup --help shows the commands, examples and exit codes" {
	run "$FS" --help
	assert_success
	assert_output --partial "initiator --addr"
	assert_output --partial "Examples:"
	assert_output --partial "Exit status"
}

@test "fabric-setup refuses bad usage with exit 2 and one line naming the value" {
	run --separate-stderr "$FS"
	assert_failure 2
	run --separate-stderr "$FS" frobnicate
	assert_failure 2
	assert_equal "$stderr" "fabric-setup: unknown command frobnicate (target, initiator, teardown, port, status; see --help)"
	run --separate-stderr "$FS" target --port 70000
	assert_failure 2
	assert_equal "$stderr" "fabric-setup: --port: 1-65535, not 70000"
	run --separate-stderr "$FS" initiator --transport fc --addr 10.0.0.1
	assert_failure 2
	assert_equal "$stderr" "fabric-setup: --transport: tcp or rdma, not fc"
	run --separate-stderr "$FS" target --nqn 'not an nqn'
	assert_failure 2
	run --separate-stderr "$FS" target --second relative/file
	assert_failure 2
	run --separate-stderr "$FS" initiator --addr 10.0.0.300
	assert_failure 2
	[[ $stderr == *"not an IPv4 address: 10.0.0.300"* ]] || fail "$stderr"
	run --separate-stderr "$FS" port sideways tcp
	assert_failure 2
}

@test "fabric-setup refuses a missing NIC before touching anything" {
	[[ $(id -u) == 0 ]] || skip "needs root"
	run --separate-stderr "$FS" target --nic sp-no-such-nic
	assert_failure 2
	assert_equal "$stderr" "fabric-setup: no NIC sp-no-such-nic (see ip -br link)"
}

@test "fabric-setup status and teardown with nothing set up" {
	run "$FS" status
	assert_success
	assert_output "nothing set up"
	run "$FS" status --json
	assert_success
	assert_output '{"state":[]}'
	[[ $(id -u) == 0 ]] || skip "teardown needs root"
	run "$FS" teardown
	assert_success
}
