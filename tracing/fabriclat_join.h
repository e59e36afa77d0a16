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

struct fl_cmd {
	uint64_t start, end;	/* ns, the side's CLOCK_MONOTONIC */
	uint32_t qid;
	uint16_t cid;
	uint16_t status;
};

struct fl_side {
	char role[16];		/* "initiator" or "target" */
	struct fl_cmd *cmd;
	size_t n, cap;
};

/* Appends one command; 0 or -ENOMEM / -E2BIG past FL_MAX_CMDS. */
int fl_add(struct fl_side *s, const struct fl_cmd *c);
void fl_free(struct fl_side *s);
/* The record file: a header line "# sp-fabriclat 1 ROLE", then
 * "QID CID START END STATUS" a line. */
int fl_write(FILE *f, const struct fl_side *s);
/* Parses len bytes of a record file (hostile: every number is checked);
 * 0, or -EINVAL with the line and cause in why. */
int fl_parse(const char *text, size_t len, struct fl_side *s, char *why, size_t wlen);

/* One command seen on both sides; times in ns relative to the initiator's start. */
struct fl_pair {
	size_t init, target;	/* indexes into the two sides */
	int64_t to_target;	/* initiator start .. target start (estimated split) */
	int64_t at_target;	/* target start .. end (exact) */
	int64_t from_target;	/* target end .. initiator end (estimated split) */
	int64_t total;		/* initiator start .. end (exact) */
};

struct fl_join {
	struct fl_pair *pair;
	size_t n;
	size_t init_alone, target_alone;	/* commands with no partner */
	int64_t off;		/* target clock + off = initiator clock */
	int64_t off_lo, off_hi;	/* what every pair allows; lo > hi: they disagree */
};

/* Pairs init's commands with target's; 0 or -ENOMEM. */
int fl_join(const struct fl_side *init, const struct fl_side *target, struct fl_join *j);
void fl_join_free(struct fl_join *j);

#endif
