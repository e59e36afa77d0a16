// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for a userspace HBA driver, built once per family
 * with FAKE_MODEL naming its fake (fake_mfi for passthru/hba_mfi.c,
 * fake_mpi for hba_mpi.c): the input plays the HBA (tests/fuzz/fake_*.c
 * over fake_dev.c), which
 * decides every register read and every reply; the driver is brought
 * up, lists its units, sends I/Os, polls, aborts, resets and is torn
 * down. Besides memory errors (ASan, UBSan), the fake device aborts on
 * a command completed twice or never, a frame naming unmapped memory,
 * a leak, or a wait that never ends.
 */
#include <stddef.h>
#include <stdint.h>

#include "fake_dev.h"

#ifndef FAKE_MODEL
#error "FAKE_MODEL names the HBA model: fake_mfi or fake_mpi"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake_stats st;
	size_t n = size ? data[0] % 64 : 0;

	/* the first byte: how long the session's script is; the rest the device's */
	if (n > size - (size > 0))
		n = size - (size > 0);
	fake_session(&FAKE_MODEL, data + (size > 0), n, data + (size > 0) + n,
		     size - (size > 0) - n, &st);
	return 0;
}
