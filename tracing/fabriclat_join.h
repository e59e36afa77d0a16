/* SPDX-License-Identifier: MIT */
/*
 * sp-fabriclat's records and their join: the NVMe commands one side of
 * a fabric saw (queue id, command id, start and end on that side's
 * clock), and the pairing of an initiator's commands with the target's
 * by queue and command id, with the offset between the two clocks
 * bounded by the commands themselves (a command's target window lies
 * inside its initiator window).
 */
#ifndef FABRICLAT_JOIN_H
#define FABRICLAT_JOIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FL_MAX_CMDS (1u << 24)	/* records a file may hold */
/* A time in a record: below 2^62 ns (146 years of uptime), so that the
 * join's sums and differences of two stay within int64_t. */
#define FL_MAX_NS ((1ULL << 62) - 1)

/*
 * Two moments inside a side's window, 0 where unseen. The initiator:
 * mark[0] the command handed to the transport, mark[1] its response
 * received. The target: mark[0] the backend takes it, mark[1] the
 * backend's I/O done.
 */
enum { FL_MARK1 = 1, FL_MARK2 = 2 };

struct fl_cmd {
	uint64_t start, end;	/* ns, the side's CLOCK_MONOTONIC */
	uint64_t mark[2];	/* ns, same clock; 0: not seen */
	uint32_t qid;
	uint16_t cid;
	uint16_t status;
};

struct fl_side {
	char role[16];		/* "initiator" or "target" */
	unsigned version;	/* of the record file read: 1 (no moments) or 2 */
	unsigned marks;		/* FL_MARK1|FL_MARK2: the moments that were hooked */
	struct fl_cmd *cmd;
	size_t n, cap;
};

/* Appends one command; 0 or -ENOMEM / -E2BIG past FL_MAX_CMDS. */
int fl_add(struct fl_side *s, const struct fl_cmd *c);
void fl_free(struct fl_side *s);
/* The record file: a header line "# sp-fabriclat 2 ROLE MARKS" (MARKS
 * the bits of fl_side.marks, 0 to 3), then "QID CID START END STATUS
 * MARK1 MARK2" a line. fl_parse also takes version 1: "# sp-fabriclat 1
 * ROLE", then "QID CID START END STATUS", without marks. */
int fl_write(FILE *f, const struct fl_side *s);
/* Parses len bytes of a record file (hostile: every number is checked);
 * 0, or -EINVAL with the line and cause in why. */
int fl_parse(const char *text, size_t len, struct fl_side *s, char *why, size_t wlen);

/* Which inner layers a pair has (both of their moments seen, in order). */
enum { FL_HAVE_SEND = 1, FL_HAVE_RECV = 2, FL_HAVE_BACKEND = 4 };

/* One command seen on both sides; times in ns. */
struct fl_pair {
	size_t init, target;	/* indexes into the two sides */
	int64_t to_target;	/* initiator start .. target start (estimated split) */
	int64_t at_target;	/* target start .. end (exact) */
	int64_t from_target;	/* target end .. initiator end (estimated split) */
	int64_t total;		/* initiator start .. end (exact) */
	/* to_target = send + wire_to (FL_HAVE_SEND) */
	int64_t send;		/* initiator start .. handed to the transport (exact) */
	int64_t wire_to;	/* .. the target has parsed it (estimated split) */
	/* at_target = tgt_nvmet + tgt_backend + tgt_response (FL_HAVE_BACKEND) */
	int64_t tgt_nvmet;	/* target start .. the backend takes it */
	int64_t tgt_backend;	/* .. the backend's I/O done (block layer and device) */
	int64_t tgt_response;	/* .. the response posted */
	/* from_target = wire_from + receive (FL_HAVE_RECV) */
	int64_t wire_from;	/* target end .. the initiator received the response */
	int64_t receive;	/* .. the command completed (exact) */
	unsigned have;		/* FL_HAVE_* */
	/* a side saw a moment outside its window or out of order: the
	 * pair's inner layers would not add up to its windows, and have is 0 */
	int misordered;
};

struct fl_join {
	struct fl_pair *pair;
	size_t n;
	size_t misordered;	/* pairs with misordered set */
	size_t init_alone, target_alone;	/* commands with no partner */
	int64_t off;		/* target clock + off = initiator clock */
	int64_t off_lo, off_hi;	/* what every pair allows; lo > hi: they disagree */
};

/* Pairs init's commands with target's; 0 or -ENOMEM. */
int fl_join(const struct fl_side *init, const struct fl_side *target, struct fl_join *j);
void fl_join_free(struct fl_join *j);

#endif
