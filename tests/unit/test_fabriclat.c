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

/* A run with the inner moments: the initiator hands each command to
 * the transport 3 us after its start and has the response 4 us before
 * its end; the target's backend takes it 5 us in and is done 8 us
 * before the target's end. */
static void inner_layers(void)
{
	struct fl_side in, tg, p;
	struct fl_join j;
	char why[160], *buf;
	size_t len, bad = 0;
	FILE *f;

	make_run(&in, &tg, 100, 0);
	in.marks = tg.marks = FL_MARK1 | FL_MARK2;
	for (size_t i = 0; i < in.n; i++) {
		in.cmd[i].mark[0] = in.cmd[i].start + 3000;
		in.cmd[i].mark[1] = in.cmd[i].end - 4000;
		tg.cmd[i].mark[0] = tg.cmd[i].start + 5000;
		tg.cmd[i].mark[1] = tg.cmd[i].end - 8000;
	}
	f = open_memstream(&buf, &len);
	TAP_CHECK(f && fl_write(f, &tg) == 0 && fclose(f) == 0 &&
		  fl_parse(buf, len, &p, why, sizeof(why)) == 0 && p.marks == 3 && p.n == tg.n &&
		  !memcmp(p.cmd, tg.cmd, tg.n * sizeof(*tg.cmd)),
		  "a record file with moments is written and read back the same");
	free(buf);
	fl_free(&p);
	TAP_CHECK(fl_join(&in, &tg, &j) == 0 && j.n == 100 && !j.misordered, "every command pairs");
	TAP_CHECK(j.off_lo == 5000000000LL - 7000 && j.off_hi == 5000000000LL + 16000,
		  "the transport's moments bound the offset closer");
	TAP_CHECK(j.pair[0].have == (FL_HAVE_SEND | FL_HAVE_RECV | FL_HAVE_BACKEND) &&
		  j.pair[0].send == 3000 && j.pair[0].receive == 4000 &&
		  j.pair[0].tgt_nvmet == 5000 && j.pair[0].tgt_backend == 17000 &&
		  j.pair[0].tgt_response == 8000, "the exact inner layers");
	for (size_t k = 0; k < j.n; k++) {
		const struct fl_pair *q = &j.pair[k];

		bad += q->send + q->wire_to != q->to_target ||
		       q->tgt_nvmet + q->tgt_backend + q->tgt_response != q->at_target ||
		       q->wire_from + q->receive != q->from_target || q->wire_to < 0 ||
		       q->wire_from < 0;
	}
	TAP_CHECK(!bad, "each splits its window, the wire's parts not below 0");
	fl_join_free(&j);

	/* the target's backend done before it took the command, and an
	 * initiator moment outside its window */
	tg.cmd[0].mark[1] = tg.cmd[0].mark[0] - 1;
	in.cmd[1].mark[0] = in.cmd[1].end + 1;
	tg.cmd[2].mark[1] = 0;
	TAP_CHECK(fl_join(&in, &tg, &j) == 0 && j.n == 100 && j.misordered == 2,
		  "moments out of order are counted");
	bad = 0;
	for (size_t k = 0; k < j.n; k++)
		if (j.pair[k].misordered)
			bad += j.pair[k].have != 0 || (j.pair[k].target != 0 && j.pair[k].init != 1);
	TAP_CHECK(!bad, "and those pairs have no inner layers");
	for (size_t k = 0; k < j.n; k++)
		if (j.pair[k].target == 2)
			TAP_CHECK(j.pair[k].have == (FL_HAVE_SEND | FL_HAVE_RECV),
				  "a target command without its backend's end has no backend split");
	TAP_CHECK(j.off_lo <= j.off_hi, "a moment out of its window does not bound the offset");
	fl_join_free(&j);
	fl_free(&in);
	fl_free(&tg);
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
	BAD("# sp-fabriclat 3 initiator 0\n", "another version");
	BAD("# sp-fabriclat 2 initiator\n", "version 2 without its marks");
	BAD("# sp-fabriclat 2 initiator 4\n", "marks past the two moments");
	BAD("# sp-fabriclat 1 initiator 3\n", "version 1 with marks");
	BAD("# sp-fabriclat 2 target 3\n1 2 1 2 0\n", "version 2 without the moments");
	BAD("# sp-fabriclat 2 target 3\n1 2 1 2 0 1 99999999999999999999\n",
	    "a moment past 2^62");
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
	TAP_CHECK(fl_parse("# sp-fabriclat 1 initiator\n1 2 1 2 0\n", 37, &p, why, sizeof(why)) == 0 &&
		  p.n == 1 && !p.marks && !p.cmd[0].mark[0] && !p.cmd[0].mark[1],
		  "version 1 still reads, without moments");
	fl_free(&p);
	TAP_CHECK(fl_parse("# sp-fabriclat 2 target 3\n1 2 10 20 0 30 5\n", 42, &p, why, sizeof(why)) == 0 &&
		  p.marks == 3 && p.cmd[0].mark[0] == 30 && p.cmd[0].mark[1] == 5,
		  "moments outside their window are read, for merge to report");
	fl_free(&p);
	inner_layers();
	return tap_done();
}
