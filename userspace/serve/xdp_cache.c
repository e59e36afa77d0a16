// SPDX-License-Identifier: MIT
/*
 * sp-serve's hot-block cache (--cache): the XDP program answers requests
 * for single cached units (see bpf/xsk_redirect.h) itself. The xdp loop
 * fills the cache: a unit read for a one-unit request is admitted on its
 * --cache-admit'th miss, with the generation its slot had when the
 * request arrived, and only if the slot still has it. A WRITE bumps the
 * generation of every unit it touches and deletes their entries before
 * the write and bumps them again after it, then acknowledges: whatever
 * was read before, during or for an entry from before the write is never
 * served after the ACK.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <string.h>

#include "sp_bpf.h"
#include "sp_log.h"
#include "xdp.h"

static __u64 *gen_slot(struct xdp *x, uint32_t file, uint64_t unit)
{
	return &x->xsk->gens[xc_slot(file, unit)];
}

uint64_t xdp_cache_gen(struct xdp *x, uint32_t file, uint64_t unit)
{
	return __atomic_load_n(gen_slot(x, file, unit), __ATOMIC_ACQUIRE);
}

/* Whether this miss of the unit is the --cache-admit'th. */
static bool admit_now(struct xdp *x, uint32_t file, uint64_t unit)
{
	uint64_t tag = (unit << 20 ^ file) + 1;
	struct seen *e = &x->seen[(tag * 0x9E3779B97F4A7C15ULL) >> 52 & (SEEN_SLOTS - 1)];

	if (e->tag != tag) {
		e->tag = tag;
		e->misses = 0;
	}
	if (++e->misses < x->s->cache_admit)
		return false;
	e->tag = 0;
	return true;
}

void xdp_cache_admit(struct xdp *x, const struct xreq *r, const uint8_t *data,
		     uint16_t len, uint32_t crc)
{
	struct cache_stats *cs = &x->s->st.cache;
	uint32_t file = r->f - x->s->files;
	uint64_t unit = r->first / XC_UNIT;
	struct xc_val *v = &x->val;
	int ret;

	if (!admit_now(x, file, unit)) {
		cs->deferred++;
		return;
	}
	/* the data may predate a write acknowledged since the request came */
	if (__atomic_load_n(gen_slot(x, file, unit), __ATOMIC_ACQUIRE) != r->gen) {
		cs->raced++;
		return;
	}
	v->gen = r->gen;
	v->key = (struct xc_key){ .file = file, .unit = unit };
	v->crc = crc;
	v->len = len;
	v->sum = sp_inet_fold(sp_inet_sum(0, data, len));
	memcpy(v->data, data, len);
	ret = bpf_map_update_elem(x->xsk->cache_fd, &v->key, v, BPF_NOEXIST);
	if (!ret)
		cs->admissions++;
	else if (ret != -EEXIST)
		sp_dbg("xdp: admitting a unit: %s", strerror(-ret));
}

void xdp_cache_bump(struct xdp *x, uint32_t file, uint64_t first, uint64_t last)
{
	for (uint64_t u = first; u <= last; u++)
		__atomic_fetch_add(gen_slot(x, file, u), 1, __ATOMIC_SEQ_CST);
}

void xdp_cache_invalidate(struct xdp *x, uint32_t file, uint64_t first, uint64_t last)
{
	xdp_cache_bump(x, file, first, last);
	for (uint64_t u = first; u <= last; u++) {
		struct xc_key key = { .file = file, .unit = u };

		if (!bpf_map_delete_elem(x->xsk->cache_fd, &key))
			x->s->st.cache.invalidations++;
	}
}

void xdp_cache_stats(struct xdp *x)
{
	struct cache_stats *cs = &x->s->st.cache;
	uint64_t v[XC_NR_STATS] = { 0 };
	struct xc_key key, next;
	void *prev = NULL;

	for (uint32_t k = 0; k < XC_NR_STATS; k++)
		if (sp_bpf_percpu_sum(x->xsk->stats_fd, k, &v[k]))
			return;
	cs->hits = v[XC_HIT];
	cs->misses = v[XC_MISS];
	cs->stale = v[XC_STALE];
	cs->torn = v[XC_TORN];
	cs->noroom = v[XC_NOROOM];
	cs->bypasses = v[XC_BYPASS];
	while (!bpf_map_get_next_key(x->xsk->cache_fd, prev, &next)) {
		cs->entries++;
		key = next;
		prev = &key;
	}
	/* the LRU evicts silently: whatever was admitted and is gone */
	if (cs->admissions > cs->invalidations + cs->entries)
		cs->evictions = cs->admissions - cs->invalidations - cs->entries;
}
