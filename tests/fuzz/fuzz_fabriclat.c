// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for sp-fabriclat's inputs: the tracepoint format text
 * it takes field offsets from (sp_tp_format_field) and the two record
 * files `merge` parses and joins (tracing/fabriclat_join.c). The input is
 * up to three parts separated by NUL bytes: format text, the initiator's
 * file, the target's. Nothing may crash; what is accepted must join with
 * the join's own sums holding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tracing/fabriclat_join.h"
#include "sp_stats.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *part[3] = { "", "", "" }, *p = (const char *)data, *end = p + size;
	size_t len[3] = { 0, 0, 0 };
	struct fl_side in, tg;
	struct fl_join j;
	char why[160], *fmt;
	int off = -1, sz = -1;
	size_t misordered = 0;

	for (unsigned i = 0; i < 3 && p <= end; i++) {
		const char *z = memchr(p, 0, (size_t)(end - p));

		part[i] = p;
		len[i] = (size_t)((z ? z : end) - p);
		p = z ? z + 1 : end + 1;
	}
	fmt = strndup(part[0], len[0]);
	if (fmt && !sp_tp_format_field(fmt, "qid", &off, &sz))
		CHECK(off >= 0 && off <= 65535 && sz > 0 && sz <= 65535);
	free(fmt);
	if (fl_parse(part[1], len[1], &in, why, sizeof(why))) {
		CHECK(why[0] && !in.cmd && !in.n);
		return 0;
	}
	if (fl_parse(part[2], len[2], &tg, why, sizeof(why))) {
		CHECK(why[0] && !tg.cmd);
		fl_free(&in);
		return 0;
	}
	CHECK(!fl_join(&in, &tg, &j));
	CHECK(j.n <= in.n && j.n <= tg.n && j.n + j.init_alone == in.n &&
	      j.n + j.target_alone == tg.n);
	for (size_t k = 0; k < j.n; k++) {
		const struct fl_pair *q = &j.pair[k];

		CHECK(q->init < in.n && q->target < tg.n);
		CHECK(q->at_target <= q->total);
		CHECK(q->to_target + q->at_target + q->from_target == q->total);
		misordered += q->misordered != 0;
		CHECK(!q->misordered || !q->have);
		/* each inner layer splits its window; the exact ones are not
		 * below 0 */
		if (q->have & FL_HAVE_SEND)
			CHECK(q->send >= 0 && q->send + q->wire_to == q->to_target);
		if (q->have & FL_HAVE_RECV)
			CHECK(q->receive >= 0 && q->wire_from + q->receive == q->from_target);
		if (q->have & FL_HAVE_BACKEND)
			CHECK(q->tgt_nvmet >= 0 && q->tgt_backend >= 0 && q->tgt_response >= 0 &&
			      q->tgt_nvmet + q->tgt_backend + q->tgt_response == q->at_target);
	}
	CHECK(misordered == j.misordered);
	fl_join_free(&j);
	fl_free(&in);
	fl_free(&tg);
	return 0;
}
