/* SPDX-License-Identifier: MIT */
/* Minimal TAP producer for the C unit tests (counted like BATS output). */
#ifndef SP_TAP_H
#define SP_TAP_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

/* cond is evaluated once: a check may call what it checks */
#define TAP_CHECK(cond, ...)                                              \
	do {                                                              \
		bool tap_ok_ = (cond);                                    \
		tap_n++;                                                  \
		if (tap_ok_) {                                            \
			printf("ok %d - ", tap_n);                        \
		} else {                                                  \
			tap_failed++;                                     \
			printf("not ok %d - ", tap_n);                    \
		}                                                         \
		printf(__VA_ARGS__);                                      \
		printf("\n");                                             \
		if (!tap_ok_)                                             \
			printf("#   failed at %s:%d: %s\n", __FILE__,       \
			       __LINE__, #cond);                          \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
