// SPDX-License-Identifier: MIT
/*
 * The join of an initiator's and a target's command records (see
 * fabriclat_join.h). Both sides name a command by queue id and command
 * id, which the initiator reuses once the command is done, so a key
 * occurs many times in a run. The clocks of the two machines differ by
 * an unknown offset, but each command bounds it: the target's window
 * [ts, te] lies inside the initiator's [is, ie] on the initiator's
 * clock, so is - ts <= off <= ie - te. The join first pairs keys that
 * both sides saw equally often, in order, to estimate the offset (the
 * median of each pair's midpoint), then pairs every target command
 * with the nearest unpaired initiator command of its key once shifted,
 * and finally bounds the offset by every pair it kept.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fabriclat_join.h"

int fl_add(struct fl_side *s, const struct fl_cmd *c)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		struct fl_cmd *p;

		if (cap > FL_MAX_CMDS)
			cap = FL_MAX_CMDS;
		if (s->n >= cap)
			return -E2BIG;
		p = realloc(s->cmd, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->cmd = p;
		s->cap = cap;
	}
	s->cmd[s->n++] = *c;
	return 0;
}

void fl_free(struct fl_side *s)
{
	free(s->cmd);
	memset(s, 0, sizeof(*s));
}

int fl_write(FILE *f, const struct fl_side *s)
{
	fprintf(f, "# sp-fabriclat 2 %s %u\n", s->role, s->marks & (FL_MARK1 | FL_MARK2));
	for (size_t i = 0; i < s->n; i++)
		fprintf(f, "%" PRIu32 " %u %" PRIu64 " %" PRIu64 " %u %" PRIu64 " %" PRIu64 "\n",
			s->cmd[i].qid, s->cmd[i].cid, s->cmd[i].start, s->cmd[i].end,
			s->cmd[i].status, s->cmd[i].mark[0], s->cmd[i].mark[1]);
	return ferror(f) ? -EIO : 0;
}

/* A decimal number of at most max at *p, then one space or the line's end. */
static int number(const char **p, const char *end, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *q = *p;

	if (q == end || *q < '0' || *q > '9')
		return -EINVAL;
	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		if (v > (max - (uint64_t)(*q - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*q - '0');
	}
	if (q < end && *q != ' ')
		return -EINVAL;
	*p = q < end ? q + 1 : q;
	*out = v;
	return 0;
}

/* The header line: version 1 "# sp-fabriclat 1 ROLE", version 2
 * "# sp-fabriclat 2 ROLE MARKS"; 0, or -EINVAL. */
static int header(const char *p, const char *e, struct fl_side *s, unsigned *version)
{
	static const char head[] = "# sp-fabriclat ";
	size_t n = (size_t)(e - p), rl;
	const char *r;

	if (n < sizeof(head) + 1 || memcmp(p, head, sizeof(head) - 1) ||
	    (p[sizeof(head) - 1] != '1' && p[sizeof(head) - 1] != '2') || p[sizeof(head)] != ' ')
		return -EINVAL;
	*version = (unsigned)(p[sizeof(head) - 1] - '0');
	s->version = *version;
	r = p + sizeof(head) + 1;
	if (e - r >= 9 && !memcmp(r, "initiator", 9))
		rl = 9;
	else if (e - r >= 6 && !memcmp(r, "target", 6))
		rl = 6;
	else
		return -EINVAL;
	memcpy(s->role, r, rl);
	s->role[rl] = 0;
	r += rl;
	if (*version == 1)
		return r == e ? 0 : -EINVAL;
	if (e - r != 2 || r[0] != ' ' || r[1] < '0' || r[1] > '3')
		return -EINVAL;
	s->marks = (unsigned)(r[1] - '0');
	return 0;
}

int fl_parse(const char *text, size_t len, struct fl_side *s, char *why, size_t wlen)
{
	const char *p = text, *end = text + len;
	unsigned line = 0, version = 0;

	memset(s, 0, sizeof(*s));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
		uint64_t v[7] = { 0 };
		struct fl_cmd c;
		int ret = 0;

		line++;
		if (line == 1) {
			if (header(p, e, s, &version)) {
				snprintf(why, wlen, "line 1: not an sp-fabriclat record file "
					 "(\"# sp-fabriclat 2 initiator|target 0-3\" or "
					 "\"# sp-fabriclat 1 initiator|target\")");
				goto bad;
			}
		} else if (e > p) {
			const char *q = p;
			static const uint64_t max[7] = { UINT32_MAX, UINT16_MAX, FL_MAX_NS,
							 FL_MAX_NS, UINT16_MAX, FL_MAX_NS,
							 FL_MAX_NS };
			unsigned nf = version == 1 ? 5 : 7;

			for (unsigned i = 0; i < nf && !ret; i++)
				ret = number(&q, e, max[i], &v[i]);
			if (ret || q != e) {
				snprintf(why, wlen, "line %u: not \"QID CID START END STATUS%s\" "
					 "in range", line, version == 1 ? "" : " MARK1 MARK2");
				goto bad;
			}
			if (v[3] < v[2]) {
				snprintf(why, wlen, "line %u: the command ends before it starts", line);
				goto bad;
			}
			/* a moment outside the window is kept: merge reports it */
			c = (struct fl_cmd){ .qid = (uint32_t)v[0], .cid = (uint16_t)v[1],
					     .start = v[2], .end = v[3], .status = (uint16_t)v[4],
					     .mark = { v[5], v[6] } };
			ret = fl_add(s, &c);
			if (ret) {
				snprintf(why, wlen, "line %u: %s", line,
					 ret == -E2BIG ? "more commands than a file may hold" :
					 strerror(-ret));
				fl_free(s);
				return ret;
			}
		}
		p = nl ? nl + 1 : end;
	}
	if (!line) {
		snprintf(why, wlen, "empty: not an sp-fabriclat record file");
		return -EINVAL;
	}
	return 0;
bad:
	fl_free(s);
	return -EINVAL;
}

/* Sorting indexes by key, then start. */
static const struct fl_cmd *sort_base;

static int by_key(const void *a, const void *b)
{
	const struct fl_cmd *x = &sort_base[*(const size_t *)a], *y = &sort_base[*(const size_t *)b];

	if (x->qid != y->qid)
		return x->qid < y->qid ? -1 : 1;
	if (x->cid != y->cid)
		return x->cid < y->cid ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

static size_t *sorted(const struct fl_side *s)
{
	size_t *ix = malloc((s->n ? s->n : 1) * sizeof(*ix));

	if (!ix)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		ix[i] = i;
	sort_base = s->cmd;
	qsort(ix, s->n, sizeof(*ix), by_key);
	return ix;
}

static int same_key(const struct fl_cmd *a, const struct fl_cmd *b)
{
	return a->qid == b->qid && a->cid == b->cid;
}

static int by_key_lt(const struct fl_cmd *a, const struct fl_cmd *b)
{
	return a->qid != b->qid ? a->qid < b->qid : a->cid < b->cid;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The midpoint of what one pair allows of the offset. */
static int64_t mid_off(const struct fl_cmd *i, const struct fl_cmd *t)
{
	return ((int64_t)i->start - (int64_t)t->start) / 2 + ((int64_t)i->end - (int64_t)t->end) / 2;
}

/* Whether mark k of c was seen, inside c's window. */
static int in_window(const struct fl_cmd *c, unsigned k)
{
	return c->mark[k] && c->mark[k] >= c->start && c->mark[k] <= c->end;
}

/* The inner layers of p from the moments its two commands saw. Each
 * splits one of the windows, and is computed as the window less its
 * other parts, so they add up by construction when every moment lies
 * in its window in order; a moment that does not is misordered. */
static void inner(struct fl_pair *p, const struct fl_cmd *x, const struct fl_cmd *y)
{
	p->have = 0;
	p->misordered = (x->mark[0] && !in_window(x, 0)) || (x->mark[1] && !in_window(x, 1)) ||
			(x->mark[0] && x->mark[1] && x->mark[1] < x->mark[0]) ||
			(y->mark[0] && !in_window(y, 0)) || (y->mark[1] && !in_window(y, 1)) ||
			(y->mark[0] && y->mark[1] && y->mark[1] < y->mark[0]);
	if (p->misordered)
		return;
	if (x->mark[0]) {
		p->send = (int64_t)(x->mark[0] - x->start);
		p->wire_to = p->to_target - p->send;
		p->have |= FL_HAVE_SEND;
	}
	if (x->mark[1]) {
		p->receive = (int64_t)(x->end - x->mark[1]);
		p->wire_from = p->from_target - p->receive;
		p->have |= FL_HAVE_RECV;
	}
	if (y->mark[0] && y->mark[1]) {
		p->tgt_nvmet = (int64_t)(y->mark[0] - y->start);
		p->tgt_response = (int64_t)(y->end - y->mark[1]);
		p->tgt_backend = p->at_target - p->tgt_nvmet - p->tgt_response;
		p->have |= FL_HAVE_BACKEND;
	}
}

int fl_join(const struct fl_side *init, const struct fl_side *target, struct fl_join *j)
{
	size_t *ii = sorted(init), *ti = sorted(target), a = 0, b = 0, nm = 0;
	int64_t *mids = malloc(((init->n < target->n ? init->n : target->n) + 1) * sizeof(*mids));
	char *used = calloc(init->n + 1, 1);
	int ret = -ENOMEM;

	memset(j, 0, sizeof(*j));
	j->pair = malloc((target->n + 1) * sizeof(*j->pair));
	if (!ii || !ti || !mids || !used || !j->pair)
		goto out;
	/* 1: keys seen as often on both sides, paired in order: the offset */
	while (a < init->n && b < target->n) {
		const struct fl_cmd *x = &init->cmd[ii[a]], *y = &target->cmd[ti[b]];
		size_t ea = a, eb = b;
		int c;

		c = by_key_lt(x, y) ? -1 : by_key_lt(y, x) ? 1 : 0;
		if (c < 0) {
			a++;
			continue;
		}
		if (c > 0) {
			b++;
			continue;
		}
		while (ea < init->n && same_key(&init->cmd[ii[ea]], x))
			ea++;
		while (eb < target->n && same_key(&target->cmd[ti[eb]], y))
			eb++;
		if (ea - a == eb - b)
			for (size_t k = 0; k < ea - a; k++)
				mids[nm++] = mid_off(&init->cmd[ii[a + k]], &target->cmd[ti[b + k]]);
		a = ea;
		b = eb;
	}
	if (nm) {
		qsort(mids, nm, sizeof(*mids), cmp_i64);
		j->off = mids[nm / 2];
	}
	/* 2: each target command with the nearest free initiator command of
	 * its key, once shifted, that can hold it */
	a = 0;
	for (b = 0; b < target->n; b++) {
		const struct fl_cmd *y = &target->cmd[ti[b]];
		int64_t ymid = (int64_t)(y->start / 2 + y->end / 2) + j->off;
		uint64_t best_d = UINT64_MAX;
		size_t best = SIZE_MAX, k;

		while (a < init->n && by_key_lt(&init->cmd[ii[a]], y))
			a++;
		for (k = a; k < init->n && same_key(&init->cmd[ii[k]], y); k++) {
			const struct fl_cmd *x = &init->cmd[ii[k]];
			int64_t xmid = (int64_t)(x->start / 2 + x->end / 2);
			uint64_t d = xmid > ymid ? (uint64_t)xmid - (uint64_t)ymid :
						   (uint64_t)ymid - (uint64_t)xmid;

			if (used[ii[k]] || x->end - x->start < y->end - y->start)
				continue;
			if (d < best_d) {
				best_d = d;
				best = k;
			}
		}
		if (best == SIZE_MAX) {
			j->target_alone++;
			continue;
		}
		used[ii[best]] = 1;
		j->pair[j->n++] = (struct fl_pair){ .init = ii[best], .target = ti[b] };
	}
	j->init_alone = init->n - j->n;
	/* 3: the offset every kept pair allows, and the times on it */
	j->off_lo = INT64_MIN;
	j->off_hi = INT64_MAX;
	for (size_t k = 0; k < j->n; k++) {
		const struct fl_cmd *x = &init->cmd[j->pair[k].init], *y = &target->cmd[j->pair[k].target];
		/* the target starts after the command left the initiator and
		 * ends before the response arrived there: tighter bounds where
		 * the transport's moments were seen */
		uint64_t sent = in_window(x, 0) ? x->mark[0] : x->start;
		uint64_t recvd = in_window(x, 1) && x->mark[1] >= sent ? x->mark[1] : x->end;
		int64_t lo = (int64_t)sent - (int64_t)y->start, hi = (int64_t)recvd - (int64_t)y->end;

		if (lo > j->off_lo)
			j->off_lo = lo;
		if (hi < j->off_hi)
			j->off_hi = hi;
	}
	if (j->n && j->off_lo <= j->off_hi)
		j->off = j->off_lo / 2 + j->off_hi / 2;
	for (size_t k = 0; k < j->n; k++) {
		struct fl_pair *p = &j->pair[k];
		const struct fl_cmd *x = &init->cmd[p->init], *y = &target->cmd[p->target];

		p->total = (int64_t)(x->end - x->start);
		p->at_target = (int64_t)(y->end - y->start);
		p->to_target = (int64_t)y->start + j->off - (int64_t)x->start;
		p->from_target = (int64_t)x->end - ((int64_t)y->end + j->off);
		inner(p, x, y);
		j->misordered += p->misordered != 0;
	}
	ret = 0;
out:
	free(ii);
	free(ti);
	free(mids);
	free(used);
	if (ret)
		fl_join_free(j);
	return ret;
}

void fl_join_free(struct fl_join *j)
{
	free(j->pair);
	memset(j, 0, sizeof(*j));
}
