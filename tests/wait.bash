# Waiting for an event, shared by the host suites (tests/helpers.bash)
# and the guest suites (tests/vm/helpers.bash; tests/vm/mkinitramfs puts
# this file beside them in the guest). What a test waits for is the
# event itself, never a fixed time a loaded machine may overrun.

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it
# succeeds (0) or SECONDS have passed (1)
wait_for() {
	local tries=$(($1 * 10))
	shift
	while ! "$@"; do
		((tries-- > 0)) || return 1
		sleep 0.1
	done
}

# pid_gone PID: the process has ended
pid_gone() {
	! kill -0 "$1" 2>/dev/null
}
