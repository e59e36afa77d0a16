// SPDX-License-Identifier: MIT
/*
 * Parsers and encoders of the serving protocols (see sp_proto.h). The
 * parsers take untrusted bytes from the network: they never read past
 * len, never write past their output, and refuse rather than guess.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sp_proto.h"
#include "sp_siphash.h"

/* ------------------------------------------------------------ HTTP */

/* Decimal number in [s, e) without sign or spaces; 0 or -EINVAL. */
static int parse_dec(const char *s, const char *e, uint64_t *out)
{
	uint64_t v = 0;

	if (s >= e || e - s > 20)
		return -EINVAL;
	for (; s < e; s++) {
		unsigned d = (unsigned char)*s - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static const char *trim_left(const char *s, const char *e)
{
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

static const char *trim_right(const char *s, const char *e)
{
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	return e;
}

/* Header length including the final CRLF CRLF; 0 when incomplete. */
static int header_end(const char *buf, size_t len)
{
	size_t n = len < SP_HTTP_MAX_HDR ? len : SP_HTTP_MAX_HDR;
	const char *p = memmem(buf, n, "\r\n\r\n", 4);

	if (p)
		return p - buf + 4;
	return len >= SP_HTTP_MAX_HDR ? -EMSGSIZE : 0;
}

static bool token_is(const char *s, const char *e, const char *tok)
{
	size_t n = strlen(tok);

	return (size_t)(e - s) == n && !strncasecmp(s, tok, n);
}

/*
 * Calls fn for every "Name: value" line between the first line and the
 * blank line, with the value trimmed; stops at the first error.
 */
typedef int (*header_fn)(const char *name, const char *ne, const char *val,
			 const char *ve, void *arg);

static int for_each_header(const char *p, const char *end, header_fn fn,
			   void *arg)
{
	while (p < end) {
		const char *eol = memmem(p, end - p, "\r\n", 2);
		const char *colon;
		int ret;

		if (!eol)
			return -EINVAL;
		if (eol == p)		/* the blank line */
			return 0;
		colon = memchr(p, ':', eol - p);
		if (!colon || colon == p)
			return -EINVAL;
		for (const char *c = p; c < colon; c++)
			if (*c <= ' ' || *c >= 127)
				return -EINVAL;
		ret = fn(p, colon, trim_left(colon + 1, eol),
			 trim_right(colon + 1, eol), arg);
		if (ret)
			return ret;
		p = eol + 2;
	}
	return -EINVAL;
}

static int parse_range(const char *v, const char *ve, uint64_t *first,
		       uint64_t *last, bool *suffix)
{
	const char *dash;

	if (ve - v < 6 || strncasecmp(v, "bytes=", 6))
		return -EINVAL;
	v += 6;
	dash = memchr(v, '-', ve - v);
	/* one range only */
	if (!dash || memchr(v, ',', ve - v))
		return -EINVAL;
	if (dash == v) {
		/* "-N": the last N bytes (N > 0) */
		*first = 0;
		*suffix = true;
		return parse_dec(dash + 1, ve, last) || !*last ? -EINVAL : 0;
	}
	if (parse_dec(v, dash, first))
		return -EINVAL;
	if (dash + 1 == ve) {
		*last = UINT64_MAX;
		return 0;
	}
	if (parse_dec(dash + 1, ve, last) || *last < *first)
		return -EINVAL;
	return 0;
}

static int req_header(const char *n, const char *ne, const char *v,
		      const char *ve, void *arg)
{
	struct sp_http_req *r = arg;

	if (token_is(n, ne, "range")) {
		if (r->has_range)
			return -EINVAL;
		r->has_range = true;
		return parse_range(v, ve, &r->first, &r->last, &r->suffix);
	}
	if (token_is(n, ne, "connection")) {
		if (token_is(v, ve, "close"))
			r->close = true;
		else if (token_is(v, ve, "keep-alive"))
			r->close = false;
	}
	return 0;
}

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int sp_http_parse_req(const char *buf, size_t len, struct sp_http_req *r)
{
	int hlen = header_end(buf, len);
	const char *end, *p, *sp1, *sp2, *eol;
	size_t nlen;
	int ret;

	if (hlen <= 0)
		return hlen;
	memset(r, 0, sizeof(*r));
	end = buf + hlen;
	eol = memmem(buf, hlen, "\r\n", 2);	/* found: hlen >= 4 */
	if (eol - buf >= 4 && !memcmp(buf, "GET ", 4)) {
		sp1 = buf + 3;
	} else if (eol - buf >= 5 && !memcmp(buf, "HEAD ", 5)) {
		sp1 = buf + 4;
		r->head = true;
	} else {
		return -EINVAL;
	}
	sp2 = memchr(sp1 + 1, ' ', eol - sp1 - 1);
	if (!sp2 || sp1[1] != '/')
		return -EINVAL;
	if (token_is(sp2 + 1, eol, "HTTP/1.0"))
		r->close = true;
	else if (!token_is(sp2 + 1, eol, "HTTP/1.1"))
		return -EINVAL;
	p = sp1 + 2;
	nlen = sp2 - p;
	if (!nlen)
		return -EINVAL;
	if (nlen > SP_HTTP_MAX_NAME)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < nlen; i++)
		if (!name_char_ok(p[i]))
			return -EINVAL;
	/* "." and ".." are names of directories, never of served files */
	if (p[0] == '.' && (nlen == 1 || (nlen == 2 && p[1] == '.')))
		return -EINVAL;
	memcpy(r->name, p, nlen);
	r->name[nlen] = '\0';
	ret = for_each_header(eol + 2, end, req_header, r);
	return ret ? ret : hlen;
}

static int resp_header(const char *n, const char *ne, const char *v,
		       const char *ve, void *arg)
{
	struct sp_http_resp *r = arg;

	if (token_is(n, ne, "content-length"))
		return parse_dec(v, ve, &r->content_length);
	if (token_is(n, ne, "content-range")) {
		const char *dash, *slash;

		if (ve - v < 6 || strncasecmp(v, "bytes ", 6))
			return -EINVAL;
		v += 6;
		dash = memchr(v, '-', ve - v);
		slash = dash ? memchr(dash, '/', ve - dash) : NULL;
		if (!slash || parse_dec(v, dash, &r->range_first) ||
		    parse_dec(dash + 1, slash, &r->range_last) ||
		    parse_dec(slash + 1, ve, &r->range_total) ||
		    r->range_last < r->range_first)
			return -EINVAL;
		r->has_range = true;
		return 0;
	}
	if (token_is(n, ne, "connection") && token_is(v, ve, "close"))
		r->close = true;
	return 0;
}

int sp_http_parse_resp(const char *buf, size_t len, struct sp_http_resp *r)
{
	int hlen = header_end(buf, len);
	const char *eol;
	uint64_t status;
	int ret;

	if (hlen <= 0)
		return hlen;
	memset(r, 0, sizeof(*r));
	eol = memmem(buf, hlen, "\r\n", 2);
	/* "HTTP/1.1 200 ..." */
	if (eol - buf < 12 || memcmp(buf, "HTTP/1.", 7) ||
	    (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ' ||
	    (eol - buf > 12 && buf[12] != ' ') ||
	    parse_dec(buf + 9, buf + 12, &status) || status < 100)
		return -EINVAL;
	r->status = status;
	r->close = buf[7] == '0';
	r->content_length = UINT64_MAX;
	ret = for_each_header(eol + 2, buf + hlen, resp_header, r);
	if (ret)
		return ret;
	return r->content_length == UINT64_MAX ? -EINVAL : hlen;
}

/*
 * The Date header's value (RFC 9110's IMF-fixdate), made once a second:
 * a server answering 100 k requests a second formats it 1 time in 100 k.
 */
static const char *http_date(void)
{
	static __thread char text[40];
	static __thread time_t made;
	time_t now = time(NULL);

	if (now != made) {
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		made = now;
	}
	return text;
}

/* snprintf that reports truncation as -ENOSPC. */
static int fmt_check(int n, size_t size)
{
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

int sp_http_resolve_range(const struct sp_http_req *r, uint64_t size, uint64_t *first,
			  uint64_t *len)
{
	*first = 0;
	*len = size;
	if (!r->has_range)
		return 0;
	if (r->suffix) {
		if (!size)
			return 416;
		*len = r->last < size ? r->last : size;
		*first = size - *len;
		return 0;
	}
	if (r->first >= size)
		return 416;
	*first = r->first;
	*len = (r->last >= size ? size - 1 : r->last) - r->first + 1;
	return 0;
}

int sp_http_fmt_req(char *buf, size_t size, const char *name, uint64_t off,
		    uint64_t len)
{
	char range[64] = "";

	if (len)
		snprintf(range, sizeof(range), "Range: bytes=%llu-%llu\r\n",
			 (unsigned long long)off,
			 (unsigned long long)(off + len - 1));
	return fmt_check(snprintf(buf, size,
				  "GET /%s HTTP/1.1\r\nHost: shortpath\r\n%s\r\n",
				  name, range), size);
}

int sp_http_fmt_ok(char *buf, size_t size, bool partial, uint64_t first,
		   uint64_t len, uint64_t total)
{
	char range[96] = "";

	if (partial)
		snprintf(range, sizeof(range), "Content-Range: bytes %llu-%llu/%llu\r\n",
			 (unsigned long long)first,
			 (unsigned long long)(first + len - 1),
			 (unsigned long long)total);
	return fmt_check(snprintf(buf, size,
				  "HTTP/1.1 %s\r\nServer: sp-serve\r\nDate: %s\r\n"
				  "Content-Type: application/octet-stream\r\n"
				  "Accept-Ranges: bytes\r\n"
				  "Content-Length: %llu\r\n%s\r\n",
				  partial ? "206 Partial Content" : "200 OK", http_date(),
				  (unsigned long long)len, range), size);
}

const char *sp_http_reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 413: return "Content Too Large";
	case 416: return "Range Not Satisfiable";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

int sp_http_fmt_err(char *buf, size_t size, int status)
{
	const char *why = sp_http_reason(status);

	return fmt_check(snprintf(buf, size,
				  "HTTP/1.1 %d %s\r\nServer: sp-serve\r\n"
				  "Content-Length: %zu\r\n\r\n%s\n",
				  status, why, strlen(why) + 1, why), size);
}

/* ------------------------------------------------------------ UDP */

int sp_x_parse(const void *buf, size_t len, struct sp_xinfo *m)
{
	struct sp_xmsg h;

	memset(m, 0, sizeof(*m));
	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, buf, sizeof(h));
	if (le32toh(h.magic) != SP_X_MAGIC || h.version != SP_X_VERSION)
		return -EINVAL;
	m->req_id = le32toh(h.req_id);
	m->type = h.type;
	m->len = le16toh(h.len);
	m->aux = le32toh(h.aux);
	m->offset = le64toh(h.offset);
	m->length = le64toh(h.length);
	switch (h.type) {
	case SP_X_DATA:
	case SP_X_LAST:
		if (!m->len || m->len > SP_X_MAX_PAYLOAD || len - sizeof(h) < m->len ||
		    m->offset > UINT64_MAX - m->len)
			return -EINVAL;
		m->payload = (const uint8_t *)buf + sizeof(h);
		return 0;
	case SP_X_WRITE:
		if (!m->len || m->len > SP_X_PAYLOAD || len - sizeof(h) < m->len ||
		    m->offset > UINT64_MAX - m->len || m->length)
			return -EINVAL;
		m->payload = (const uint8_t *)buf + sizeof(h);
		return 0;
	case SP_X_REQ:
		if (m->length && m->offset > UINT64_MAX - m->length)
			return -EINVAL;
		if (!m->len)
			return 0;
		/* a token, then padding if any */
		if (m->len != SP_X_TOKEN_LEN || len - sizeof(h) < m->len)
			return -EINVAL;
		m->payload = (const uint8_t *)buf + sizeof(h);
		return 0;
	case SP_X_TOKEN:
		if (m->len != SP_X_TOKEN_LEN || len - sizeof(h) < m->len)
			return -EINVAL;
		m->payload = (const uint8_t *)buf + sizeof(h);
		return 0;
	case SP_X_END:
	case SP_X_ERR:
	case SP_X_ACK:
		return m->len ? -EINVAL : 0;
	}
	return -EINVAL;
}

void sp_x_fill(void *buf, enum sp_x_type type, uint16_t len, uint32_t req_id,
	       uint32_t aux, uint64_t offset, uint64_t length)
{
	struct sp_xmsg h = {
		.magic = htole32(SP_X_MAGIC),
		.version = SP_X_VERSION,
		.type = type,
		.len = htole16(len),
		.req_id = htole32(req_id),
		.aux = htole32(aux),
		.offset = htole64(offset),
		.length = htole64(length),
	};

	memcpy(buf, &h, sizeof(h));
}

const char *sp_x_err_str(uint32_t err)
{
	switch (err) {
	case SP_XE_MALFORMED: return "malformed request";
	case SP_XE_NOFILE: return "unknown file";
	case SP_XE_RANGE: return "offset past the end of the file";
	case SP_XE_TOOBIG: return "length above the server's limit";
	case SP_XE_BUSY: return "too many requests in flight";
	case SP_XE_IO: return "the server could not read or write the file";
	case SP_XE_RDONLY: return "the server does not take writes (no --writable)";
	default: return "unknown error";
	}
}

int sp_x_err_http_status(uint32_t err)
{
	switch (err) {
	case SP_XE_MALFORMED: return 400;
	case SP_XE_NOFILE: return 404;
	case SP_XE_RANGE: return 416;
	case SP_XE_TOOBIG: return 413;
	case SP_XE_BUSY: return 503;
	case SP_XE_IO: return 500;
	default: return 0;
	}
}

bool sp_x_req_one_unit(uint64_t off, uint64_t len)
{
	return len && len <= SP_X_PAYLOAD && off % SP_X_PAYLOAD == 0;
}

size_t sp_x_req_size(uint64_t off, uint64_t len, bool token)
{
	/* the padding has room for the token */
	if (sp_x_req_one_unit(off, len))
		return sizeof(struct sp_xmsg) + SP_X_PAYLOAD;
	return sizeof(struct sp_xmsg) + (token ? SP_X_TOKEN_LEN : 0);
}

void sp_x_fill_req(void *buf, size_t size, uint32_t req_id, uint32_t file, uint64_t off,
		   uint64_t len, const uint8_t *token)
{
	uint8_t *p = buf;

	memset(p, 0, size);
	sp_x_fill(p, SP_X_REQ, token ? SP_X_TOKEN_LEN : 0, req_id, file, off, len);
	if (token)
		memcpy(p + sizeof(struct sp_xmsg), token, SP_X_TOKEN_LEN);
}

static uint64_t token_mac(const uint8_t key[SP_X_TOKEN_KEY_LEN], uint32_t ip, uint64_t period)
{
	uint8_t msg[12];
	uint64_t le = htole64(period);

	memcpy(msg, &ip, 4);
	memcpy(msg + 4, &le, 8);
	return sp_siphash24(key, msg, sizeof(msg));
}

void sp_x_token_make(const uint8_t key[SP_X_TOKEN_KEY_LEN], uint32_t ip, uint64_t period,
		     uint8_t token[SP_X_TOKEN_LEN])
{
	uint64_t p = htole64(period), mac = htole64(token_mac(key, ip, period));

	memcpy(token, &p, 8);
	memcpy(token + 8, &mac, 8);
}

bool sp_x_token_ok(const uint8_t key[SP_X_TOKEN_KEY_LEN], uint32_t ip, uint64_t now,
		   const uint8_t token[SP_X_TOKEN_LEN])
{
	uint64_t period, mac;

	memcpy(&period, token, 8);
	memcpy(&mac, token + 8, 8);
	period = le64toh(period);
	/* its period or the one before: a token made just before a turn still works */
	if (period != now && (now == 0 || period != now - 1))
		return false;
	return le64toh(mac) == token_mac(key, ip, period);
}

uint64_t sp_x_reply_bytes(uint64_t off, uint64_t len, unsigned payload)
{
	uint64_t frames;

	if (!len || !payload)
		return SP_X_HDRS + sizeof(struct sp_xmsg);
	/* no reply is that long: counted as too long for anyone unverified */
	if (len > 1ull << 48 || off > UINT64_MAX - len)
		return UINT64_MAX;
	/* frames end at multiples of payload in the file; plus an END */
	frames = (off + len - 1) / payload - off / payload + 1;
	return len + (frames + 1) * (SP_X_HDRS + sizeof(struct sp_xmsg));
}

bool sp_x_unverified_ok(size_t req_frame, uint64_t reply_bytes)
{
	return reply_bytes <= (uint64_t)SP_X_AMPLIFY * req_frame;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)p[0] << 8 | p[1];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/*
 * Eight bytes at a time in host order: a one's complement sum does not
 * care about the order of the words, and the sum of byte-swapped words
 * is the byte-swapped sum (RFC 1071, 2.B), so it is swapped once at the
 * end. The AF_XDP client checks every frame it receives with it.
 */
uint32_t sp_inet_sum(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t s = 0, carry = 0;
	uint32_t h;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		s += w;
		carry += s < w;
	}
	/* fold the 64-bit sum and its carries to 16 bits, host order */
	s = (s & 0xffffffff) + (s >> 32) + carry;
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	h = (uint32_t)s;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	h = (h >> 8 | h << 8) & 0xffff;
#endif
	for (; i + 1 < len; i += 2)
		h += get16(p + i);
	if (i < len)
		h += (uint32_t)p[i] << 8;
	s = (uint64_t)h + sum;
	return (uint32_t)((s & 0xffffffff) + (s >> 32));
}

uint16_t sp_inet_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	return ~sp_inet_fold(sp_inet_sum(0, p, len)) & 0xffff;
}

int sp_udp_parse(const void *frame, size_t len, uint16_t dst_port,
		 struct sp_udp_addr *src, struct sp_udp_addr *dst,
		 const uint8_t **payload, size_t *plen)
{
	const uint8_t *p = frame, *ip, *udp;
	size_t ihl, tot, ulen;

	if (len < SP_X_HDRS || get16(p + 12) != 0x0800)
		return -EINVAL;
	ip = p + 14;
	ihl = (ip[0] & 0x0f) * 4u;
	if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != 17 /* UDP */)
		return -EINVAL;
	/* fragments are not reassembled: requests fit one frame */
	if (get16(ip + 6) & 0x3fff)
		return -EINVAL;
	tot = get16(ip + 2);
	if (tot < ihl + 8 || 14 + tot > len)
		return -EINVAL;
	udp = ip + ihl;
	ulen = get16(udp + 4);
	if (ulen < 8 || ulen > tot - ihl)
		return -EINVAL;
	if (memcmp(udp + 2, &dst_port, 2))
		return -ENOENT;
	memcpy(src->mac, p + 6, 6);
	memcpy(dst->mac, p, 6);
	memcpy(&src->ip, ip + 12, 4);
	memcpy(&dst->ip, ip + 16, 4);
	memcpy(&src->port, udp, 2);
	memcpy(&dst->port, udp + 2, 2);
	*payload = udp + 8;
	*plen = ulen - 8;
	return 0;
}

void sp_udp_fill(void *frame, const struct sp_udp_addr *src,
		 const struct sp_udp_addr *dst, size_t plen)
{
	uint8_t *p = frame, *ip = p + 14, *udp = ip + 20;

	memcpy(p, dst->mac, 6);
	memcpy(p + 6, src->mac, 6);
	put16(p + 12, 0x0800);
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, 20 + 8 + plen);
	put16(ip + 4, 0);
	put16(ip + 6, 0x4000);	/* DF */
	ip[8] = 64;
	ip[9] = 17;
	put16(ip + 10, 0);
	memcpy(ip + 12, &src->ip, 4);
	memcpy(ip + 16, &dst->ip, 4);
	put16(ip + 10, ip_csum(ip, 20));
	memcpy(udp, &src->port, 2);
	memcpy(udp + 2, &dst->port, 2);
	put16(udp + 4, 8 + plen);
	put16(udp + 6, 0);
}

/* Pseudo-header and UDP header: what a UDP checksum covers besides data. */
static uint32_t udp_head_sum(const uint8_t *ip, const uint8_t *udp)
{
	uint32_t s = sp_inet_sum(0, ip + 12, 8);

	s += 17 + get16(udp + 4);
	return sp_inet_sum(s, udp, 6);	/* not the checksum field */
}

void sp_udp_csum_set(void *frame, uint32_t psum)
{
	uint8_t *ip = (uint8_t *)frame + 14, *udp = ip + 20;
	uint16_t c = ~sp_inet_fold(sp_inet_fold(udp_head_sum(ip, udp)) + sp_inet_fold(psum)) & 0xffff;

	put16(udp + 6, c ? c : 0xffff);
}

unsigned sp_x_payload_for_mtu(unsigned mtu)
{
	unsigned room = mtu > 20 + 8 + sizeof(struct sp_xmsg) ?
			mtu - 20 - 8 - sizeof(struct sp_xmsg) : 0;
	unsigned blocks = room / SP_X_PAYLOAD;

	if (blocks < 1)
		blocks = 1;
	if (blocks > SP_X_MAX_PAYLOAD / SP_X_PAYLOAD)
		blocks = SP_X_MAX_PAYLOAD / SP_X_PAYLOAD;
	return blocks * SP_X_PAYLOAD;
}

bool sp_udp_csum_ok(const void *frame, size_t len)
{
	const uint8_t *ip = (const uint8_t *)frame + 14, *udp;
	size_t ihl, ulen;
	uint32_t s;

	if (len < SP_X_HDRS)
		return false;
	ihl = (ip[0] & 0x0f) * 4u;
	if (len < 14 + ihl + 8)
		return false;
	udp = ip + ihl;
	if (!get16(udp + 6))
		return true;
	ulen = get16(udp + 4);
	if (ulen < 8 || 14 + ihl + ulen > len)
		return false;
	s = sp_inet_fold(udp_head_sum(ip, udp)) + get16(udp + 6);
	s = sp_inet_fold(sp_inet_sum(s, udp + 8, ulen - 8));
	return s == 0xffff;
}
