// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for sp-guard's policy parser (userspace/guard/policy.c):
 * any text must be parsed or refused with a reason, never crash, and what
 * is accepted must hold only what the grammar allows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../userspace/guard/policy.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy p = { .file = "fuzz" };
	char why[256] = "";
	int ret = policy_parse(&p, (const char *)data, size, why, sizeof(why));

	if (ret) {
		CHECK(why[0] && !p.stmts && !p.n_stmts);
		return 0;
	}
	CHECK(p.n_stmts > 0);
	for (int i = 0; i < p.n_stmts; i++) {
		const struct stmt *st = &p.stmts[i];

		CHECK(st->line >= 1 && st->device[0]);
		CHECK(st->kind <= GUARD_SUBJ_CGROUP);
		CHECK(memchr(st->device, '\0', sizeof(st->device)));
		CHECK(!strchr(st->device, ' ') && !strchr(st->device, '#'));
	}
	policy_stmts_free(&p);
	return 0;
}
