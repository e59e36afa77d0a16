// SPDX-License-Identifier: GPL-2.0
/*
 * sp-serve's xdp mode. Frames for its UDP port go to the AF_XDP socket
 * of their receive queue; everything else (ARP above all, so that
 * clients can find the server) goes on to the kernel stack.
 *
 * With the hot-block cache on, a REQ for one cached unit (see
 * xsk_redirect.h) never reaches the socket: its frame is rewritten into
 * the DATA reply, payload from the cache map, and sent back with
 * XDP_TX. The server admits units and invalidates them on writes; an
 * entry is served only while its generation is the current one of the
 * unit's slot in gens[], which the server bumps before and after every
 * write, so a unit read before a write can never be served after it.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xsk_redirect.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the sp_xmsg fields are little-endian and read as they are"
#endif

#define ETH_P_IP	0x0800
#define ETH_ALEN	6
#define SP_X_MAGIC	0x58505053u	/* sp_proto.h */
#define SP_X_VERSION	3
#define SP_X_TOKEN_LEN	16	/* a REQ may carry the server's address token */
#define SP_X_AMPLIFY	3	/* a reply at most 3x the request: no reflection */
#define SP_X_REQ	1
#define SP_X_LAST	7
#define HDRS		(sizeof(struct ethhdr) + sizeof(struct iphdr) + \
			 sizeof(struct udphdr) + sizeof(struct xmsg))

#define READ_ONCE(x)	(*(const volatile typeof(x) *)&(x))

/* network byte order, set by the loader before load */
const volatile __u16 udp_port = 0;
const volatile bool cache_on = false;

/* struct sp_xmsg of sp_proto.h */
struct xmsg {
	__u32 magic;
	__u8 version;
	__u8 type;
	__u16 len;
	__u32 req_id;
	__u32 aux;
	__u64 offset;
	__u64 length;
} __attribute__((packed));

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

/* max_entries set by the loader (--cache-entries) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, struct xc_key);
	__type(value, struct xc_val);
} cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XC_NR_STATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Written by the server through the mmapped .bss, read here. */
__u64 gens[XC_GEN_SLOTS];

static __always_inline void count(__u32 what)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &what);

	/* XDP runs with bottom halves off: nothing else counts on this CPU */
	if (v)
		*v += 1;
}

/* RFC 1071 sum of n bytes (even) as big-endian words, not folded. */
static __always_inline __u32 sum16(const void *p, int n)
{
	const __u16 *w = p;
	__u32 s = 0;

#pragma unroll
	for (int i = 0; i < n / 2; i++)
		s += bpf_ntohs(w[i]);
	return s;
}

static __always_inline __u16 fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s;
}

/*
 * Turns the request into its DATA reply if the unit is cached and
 * current. Returns XDP_TX, or -1 to let the request go to the socket
 * unchanged (the frame is put back as it was).
 */
static __always_inline int answer(struct xdp_md *ctx, struct xmsg *m)
{
	struct xc_key key = { .file = m->aux, .unit = m->offset / XC_UNIT };
	__u32 slot = xc_slot(key.file, key.unit), crc;
	__u64 gen = READ_ONCE(gens[slot & (XC_GEN_SLOTS - 1)]);
	__u64 length = m->length;
	int old_len, new_len;
	struct xc_val *e;
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *udp;
	void *data, *end;
	__u16 plen, psum;
	__u8 mac[ETH_ALEN];
	__u32 a, s;

	e = bpf_map_lookup_elem(&cache, &key);
	if (!e) {
		count(XC_MISS);
		return -1;
	}
	plen = e->len;
	crc = e->crc;
	psum = e->sum;
	if (length < plen) {
		/* part of a unit: the socket answers it */
		count(XC_BYPASS);
		return -1;
	}
	if (e->gen != gen || !plen || plen > XC_UNIT) {
		count(XC_MISS);
		count(XC_STALE);
		return -1;
	}
	/* the verifier allows no arithmetic on data_end */
	old_len = bpf_xdp_get_buff_len(ctx);
	new_len = HDRS + plen;
	/*
	 * The source of a request may be forged: a reply more than
	 * SP_X_AMPLIFY times its frame is for the socket to judge (an
	 * address token, sp_proto.h). sp-fetch pads one-unit requests to
	 * the reply's size, so its requests are answered here.
	 */
	if (old_len * SP_X_AMPLIFY < new_len) {
		count(XC_BYPASS);
		return -1;
	}
	if (bpf_xdp_adjust_tail(ctx, new_len - old_len)) {
		count(XC_MISS);
		count(XC_NOROOM);
		return -1;
	}
	if (bpf_xdp_store_bytes(ctx, HDRS, e->data, plen))
		goto torn;
	/* the LRU recycles elements at once: was this one reused meanwhile? */
	if (READ_ONCE(e->gen) != gen || READ_ONCE(e->key.unit) != key.unit ||
	    READ_ONCE(e->key.file) != key.file ||
	    READ_ONCE(gens[slot & (XC_GEN_SLOTS - 1)]) != gen)
		goto torn;

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	ip = (void *)(eth + 1);
	udp = (void *)(ip + 1);
	m = (void *)(udp + 1);
	if ((void *)(m + 1) > end)
		goto torn;
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	a = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = a;
	ip->tot_len = bpf_htons(sizeof(*ip) + sizeof(*udp) + sizeof(*m) + plen);
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000);	/* DF, as sp_udp_fill */
	ip->ttl = 64;
	ip->check = 0;
	ip->check = bpf_htons(~fold(sum16(ip, sizeof(*ip))) & 0xffff);
	a = udp->source;
	udp->source = udp->dest;
	udp->dest = a;
	udp->len = bpf_htons(sizeof(*udp) + sizeof(*m) + plen);
	udp->check = 0;
	/* the one frame of the reply: its last */
	m->type = SP_X_LAST;
	m->len = plen;
	m->aux = crc;
	m->length = plen;
	/* pseudo-header, UDP header, message header, payload (from the map) */
	s = sum16(&ip->saddr, 8) + IPPROTO_UDP + bpf_ntohs(udp->len) +
	    sum16(udp, sizeof(*udp)) + sum16(m, sizeof(*m)) + psum;
	s = ~fold(s) & 0xffff;
	udp->check = bpf_htons(s ? s : 0xffff);
	count(XC_HIT);
	return XDP_TX;
torn:
	count(XC_MISS);
	count(XC_TORN);
	/* back to the request as it came; only its tail had changed */
	if (bpf_xdp_adjust_tail(ctx, old_len - new_len))
		return XDP_DROP;
	return -1;
}

SEC("xdp")
int xsk_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	struct xmsg *m;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP || ip->ihl < 5)
		return XDP_PASS;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > end || udp->dest != udp_port)
		return XDP_PASS;
	if (!cache_on)
		goto redirect;
	m = (void *)(udp + 1);
	/* replies are built for a plain header: options go to the socket */
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)) || (void *)(m + 1) > end ||
	    bpf_ntohs(udp->len) < sizeof(*udp) + sizeof(*m) ||
	    m->magic != SP_X_MAGIC || m->version != SP_X_VERSION || m->type != SP_X_REQ ||
	    (m->len && m->len != SP_X_TOKEN_LEN) || m->offset % XC_UNIT || !m->length ||
	    m->length > XC_UNIT) {
		count(XC_BYPASS);
		goto redirect;
	}
	if (answer(ctx, m) == XDP_TX)
		return XDP_TX;
redirect:
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}


/*
 * For the other end of a veth pair (bench/netns.sh attaches it there
 * with ip-link): a veth takes the XDP_TX frames of its peer only when it
 * runs NAPI itself, that is when it has an XDP program. This one lets
 * everything through to its stack.
 */
SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
