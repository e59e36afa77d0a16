/* SPDX-License-Identifier: MIT */
/* Power-of-two histograms as bpftrace prints them, for every tracer. */
#ifndef SP_LOG2HIST_H
#define SP_LOG2HIST_H

#include <stdint.h>
#include <stdio.h>

/*
 * slots[k] counts values in [2^k, 2^(k+1)); slots[0] counts [0, 2).
 * Prints the non-empty range as
 *   [4, 8)            123 |@@@@@@@@@@@@@                          |
 */
void sp_log2_hist_print(FILE *f, const uint64_t *slots, unsigned nslots);

#endif
