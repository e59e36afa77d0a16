// SPDX-License-Identifier: MIT
/*
 * The userspace HBA drivers (MFI, MPI) against the fake device of the
 * fuzz targets (tests/fuzz/fake_dev.c): a healthy HBA brings up, lists
 * its disk and completes every command once; and the hostile answers
 * the fuzzers found, each kept here as the input that showed it.
 */
#include <stdio.h>
#include <string.h>

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

int main(void)
{
	healthy(&fake_mfi);
	healthy(&fake_mpi);
	busy(&fake_mfi);
	busy(&fake_mpi);
	return tap_done();
}
