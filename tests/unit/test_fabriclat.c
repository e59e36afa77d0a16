// SPDX-License-Identifier: MIT
/* sp-fabriclat's record files and the join of an initiator's commands
 * with a target's, on clocks that differ by an unknown offset. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../tracing/fabriclat_join.h"
#include "tap.h"

/* A run: n commands on 2 queues reusing 4 command ids, each taking
 * 10 us to reach the target, 30 us there and 20 us back; the target's
 * clock is 5 s behind. */
static void make_run(struct fl_side *in, struct fl_side *tg, unsigned n, unsigned skip_first)
{
	memset(in, 0, sizeof(*in));
	memset(tg, 0, sizeof(*tg));
	strcpy(in->role, "initiator");
	strcpy(tg->role, "target");
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = 10000000000ULL + i * 100000ULL;
		struct fl_cmd a = { .qid = 1 + i % 2, .cid = (uint16_t)(i % 4), .start = t0,
				    .end = t0 + 60000 };
		struct fl_cmd b = { .qid = a.qid, .cid = a.cid, .start = t0 + 10000 - 5000000000ULL,
				    .end = t0 + 40000 - 5000000000ULL };

		fl_add(in, &a);
		if (i >= skip_first)
			fl_add(tg, &b);
	}
}

int main(void)
{
	struct fl_side in, tg, p;
	struct fl_join j;
	char why[160], *buf;
	size_t len;
	FILE *f;

	make_run(&in, &tg, 200, 0);
	TAP_CHECK(fl_join(&in, &tg, &j) == 0 && j.n == 200 && !j.init_alone && !j.target_alone,
		  "every command pairs");
	TAP_CHECK(j.off_lo <= j.off_hi && j.off_lo == 5000000000LL - 10000 &&
		  j.off_hi == 5000000000LL + 20000, "the offset is bounded by the commands");
	TAP_CHECK(j.pair[0].at_target == 30000 && j.pair[0].total == 60000,
		  "time at the target and in all are exact");
	TAP_CHECK(j.pair[0].to_target + j.pair[0].from_target == 30000,
		  "the two directions add up to the fabric time");
	fl_join_free(&j);
	fl_free(&in);
	fl_free(&tg);

	make_run(&in, &tg, 200, 3);
	TAP_CHECK(fl_join(&in, &tg, &j) == 0 && j.n == 197 && j.init_alone == 3 &&
		  !j.target_alone, "a target that started late: its first commands pair with the right ones");
	TAP_CHECK(j.n && j.off_lo <= j.off_hi, "and the clocks still agree");
	fl_join_free(&j);

	f = open_memstream(&buf, &len);
	TAP_CHECK(f && fl_write(f, &in) == 0 && fclose(f) == 0, "a record file is written");
	TAP_CHECK(fl_parse(buf, len, &p, why, sizeof(why)) == 0 && p.n == in.n &&
		  !strcmp(p.role, "initiator") && !memcmp(p.cmd, in.cmd, in.n * sizeof(*in.cmd)),
		  "and read back the same");
	free(buf);
	fl_free(&p);
	fl_free(&in);
	fl_free(&tg);

#define BAD(text, what) \
	TAP_CHECK(fl_parse(text, strlen(text), &p, why, sizeof(why)) == -EINVAL, what ": %s", why)
	BAD("", "an empty file");
	BAD("# sp-fabriclat 2 initiator\n", "another version");
	BAD("# sp-fabriclat 1 bystander\n", "another role");
	BAD("# sp-fabriclat 1 target\n1 2 3\n", "a short line");
	BAD("# sp-fabriclat 1 target\n1 2 30 20 0\n", "an end before its start");
	BAD("# sp-fabriclat 1 target\n1 65536 1 2 0\n", "a command id past 16 bits");
	BAD("# sp-fabriclat 1 target\n1 2 1 99999999999999999999 0\n", "a time past 2^62");
	BAD("# sp-fabriclat 1 target\n1 2 1 2 0 7\n", "a sixth number");
	BAD("# sp-fabriclat 1 target\n-1 2 1 2 0\n", "a negative queue");
	BAD("# sp-fabriclat 1 target\n1  2 1 2 0\n", "two spaces");
	TAP_CHECK(fl_parse("# sp-fabriclat 1 target\n1 2 1 2 0", 33, &p, why, sizeof(why)) == 0 &&
		  p.n == 1 && p.cmd[0].end == 2, "the last line may lack its newline");
	fl_free(&p);
	return tap_done();
}
