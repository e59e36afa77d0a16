// SPDX-License-Identifier: MIT
/*
 * The userspace HBA drivers (MFI, MPI) against the fake device of the
 * fuzz targets (tests/fuzz/fake_dev.c): a healthy HBA brings up, lists
 * its disk and completes every command once; and the hostile answers
 * the fuzzers found, each kept here as the input that showed it.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../fuzz/fake_dev.h"
#include "tap.h"

static void healthy(const struct fake_model *m)
{
	struct fake_stats st;

	fake_session(m, NULL, 0, NULL, 0, &st);
	TAP_CHECK(st.open_ret == 0, "%s: a healthy HBA comes up (%d)", m->name, st.open_ret);
	TAP_CHECK(st.units >= 1, "%s: it lists its disk (%u units)", m->name, st.units);
	TAP_CHECK(st.submitted == 1 && st.completed == 1,
		  "%s: the I/O sent completes once (%u sent, %u back)", m->name,
		  st.submitted, st.completed);
}

/* Several rounds of eight I/Os, an abort and a reset on a healthy HBA:
 * every command comes back exactly once (the fake device aborts if not). */
static void busy(const struct fake_model *m)
{
	/* rounds-1, then per round: how many, the commands (kind, lba,
	 * unit), polls, what then (0 abort, 1 reset) */
	uint8_t in[256];
	struct fake_stats st;
	size_t n = 0;

	memset(in, 0, sizeof(in));
	in[n++] = 2;				/* three rounds */
	for (unsigned r = 0; r < 3; r++) {
		in[n++] = 7;			/* eight I/Os */
		for (unsigned k = 0; k < 8; k++) {
			in[n++] = (uint8_t)k;	/* TUR, write, read, read in two */
			in[n++] = (uint8_t)k;
			in[n++] = 0;
		}
		in[n++] = 0;			/* one poll */
		in[n++] = (uint8_t)r;		/* abort, reset, nothing */
	}
	fake_session(m, in, n, NULL, 0, &st);
	TAP_CHECK(st.open_ret == 0 && st.submitted == 24 && st.completed == st.submitted,
		  "%s: 24 I/Os, an abort and a reset: each comes back once (%u sent, %u back)",
		  m->name, st.submitted, st.completed);
}

/* A session in a child: the fake device aborts it on a driver bug. */
static bool survives(const struct fake_model *m, const struct fake_knobs *k,
		     const uint8_t *script, size_t script_len)
{
	struct fake_stats st;
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		fake_knobs = *k;
		fake_session(m, script, script_len, NULL, 0, &st);
		_exit(0);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

/*
 * An IOC that stops answering, with facts that name no device limit (so
 * 128 targets): the I/O never comes back, so the session resets the HBA.
 * The reset's TEST UNIT READY sweep waited the full 30 s time-out on
 * every target, over an hour with the HBA's lock held; it now stops at
 * the first target that times out.
 */
static void mute_ioc_reset(void)
{
	struct fake_knobs k = { .dead_after_list = true, .any_devices = true };
	uint8_t script[] = { 0, 0, 1, 0, 0, 0, 2 };

	TAP_CHECK(survives(&fake_mpi, &k, script, sizeof(script)),
		  "mpi: a reset of an IOC that answers nothing ends within the time-outs");
	TAP_CHECK(survives(&fake_mfi, &k, script, sizeof(script)),
		  "mfi: a reset of firmware that answers nothing ends within the time-outs");
}

int main(void)
{
	healthy(&fake_mfi);
	healthy(&fake_mpi);
	busy(&fake_mfi);
	busy(&fake_mpi);
	mute_ioc_reset();
	return tap_done();
}
