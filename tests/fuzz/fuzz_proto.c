// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for every parser of sp_proto.c: the HTTP request and
 * reply parsers, the UDP message parser and the Ethernet/IPv4/UDP frame
 * parser (REQ with and without a token, DATA, LAST, END, ERR, WRITE, ACK,
 * TOKEN), and the address tokens and reply bounds of unverified sources.
 * Besides memory errors (AddressSanitizer) it checks that what
 * a parser accepts is consistent, and that an accepted request survives
 * a format-and-parse round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sp_proto.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void http_req(const char *buf, size_t len)
{
	struct sp_http_req r, r2;
	char out[1024];
	int h = sp_http_parse_req(buf, len, &r);

	if (h <= 0)
		return;
	CHECK((size_t)h <= len && h >= 4 && !memcmp(buf + h - 4, "\r\n\r\n", 4));
	CHECK(r.name[0] && strlen(r.name) <= SP_HTTP_MAX_NAME);
	CHECK(!strchr(r.name, '/'));
	/* HEAD and suffix ranges have no GET form to round-trip through */
	if (r.suffix) {
		CHECK(r.has_range && r.first == 0 && r.last > 0);
		return;
	}
	if (r.head)
		return;
	if (r.has_range) {
		CHECK(r.first <= r.last);
		if (r.last == UINT64_MAX)
			return;
	}
	h = sp_http_fmt_req(out, sizeof(out), r.name, r.first,
			    r.has_range ? r.last - r.first + 1 : 0);
	CHECK(h > 0);
	CHECK(sp_http_parse_req(out, h, &r2) == h);
	CHECK(!strcmp(r.name, r2.name) && r.has_range == r2.has_range);
	CHECK(!r.has_range || (r.first == r2.first && r.last == r2.last));
}

static void http_resp(const char *buf, size_t len)
{
	struct sp_http_resp r;
	int h = sp_http_parse_resp(buf, len, &r);

	if (h <= 0)
		return;
	CHECK((size_t)h <= len && r.status >= 100 && r.status <= 999);
	CHECK(r.content_length != UINT64_MAX);
	CHECK(!r.has_range || r.range_first <= r.range_last);
}

static void xmsg(const uint8_t *buf, size_t len)
{
	struct sp_xinfo m;
	uint8_t out[sizeof(struct sp_xmsg)];

	if (sp_x_parse(buf, len, &m))
		return;
	CHECK(m.type >= SP_X_REQ && m.type <= SP_X_TOKEN);
	if (m.type == SP_X_DATA || m.type == SP_X_LAST || m.type == SP_X_WRITE) {
		CHECK(m.len && sizeof(struct sp_xmsg) + m.len <= len);
		CHECK(m.len <= (m.type == SP_X_WRITE ? SP_X_PAYLOAD : SP_X_MAX_PAYLOAD));
		CHECK(m.payload == buf + sizeof(struct sp_xmsg));
		CHECK(m.type != SP_X_WRITE || !m.length);
		return;
	}
	if (m.type == SP_X_TOKEN || (m.type == SP_X_REQ && m.len)) {
		uint8_t req[sizeof(struct sp_xmsg) + SP_X_TOKEN_LEN];

		CHECK(m.len == SP_X_TOKEN_LEN && sizeof(struct sp_xmsg) + m.len <= len);
		CHECK(m.payload == buf + sizeof(struct sp_xmsg));
		if (m.type == SP_X_REQ) {
			/* a REQ with its token is rebuilt byte for byte */
			sp_x_fill_req(req, sizeof(req), m.req_id, m.aux, m.offset, m.length,
				      m.payload);
			CHECK(!memcmp(req, buf, sizeof(req)));
		}
		return;
	}
	CHECK(!m.payload && !m.len);
	sp_x_fill(out, m.type, m.len, m.req_id, m.aux, m.offset, m.length);
	CHECK(!memcmp(out, buf, sizeof(out)));
}

/*
 * Address tokens: the input is a key, an address, a period and a token;
 * a token made for them is good, one for the next address is not (a
 * 64-bit MAC colliding on fuzzer input would be news), and whatever the
 * bytes, checking one never fails otherwise. The reply bound: never less
 * than the bytes asked for, and a request's frame always covers itself.
 */
static void tokens(const uint8_t *buf, size_t len)
{
	uint8_t key[SP_X_TOKEN_KEY_LEN], tok[SP_X_TOKEN_LEN];
	uint64_t period, off, n, reply;
	uint32_t ip;

	if (len < sizeof(key) + 4 + 8 + SP_X_TOKEN_LEN)
		return;
	memcpy(key, buf, sizeof(key));
	memcpy(&ip, buf + 16, 4);
	memcpy(&period, buf + 20, 8);
	sp_x_token_ok(key, ip, period, buf + 28);
	sp_x_token_make(key, ip, period, tok);
	CHECK(sp_x_token_ok(key, ip, period, tok));
	CHECK(period == UINT64_MAX || sp_x_token_ok(key, ip, period + 1, tok));
	CHECK(!sp_x_token_ok(key, ip + 1, period, tok));
	memcpy(&off, buf + 28, 8);
	memcpy(&n, buf + 36, 8);
	reply = sp_x_reply_bytes(off, n, sp_x_payload_for_mtu(buf[0] * 64u));
	CHECK(reply >= n && reply > sizeof(struct sp_xmsg));
	CHECK(sp_x_unverified_ok(SP_X_HDRS + sizeof(struct sp_xmsg), SP_X_HDRS + sizeof(struct sp_xmsg)));
}

static void frame(const uint8_t *buf, size_t len)
{
	struct sp_udp_addr src, dst;
	const uint8_t *p;
	uint16_t port;
	size_t plen;

	/* the first two bytes choose the port the parser looks for */
	if (len < 2)
		return;
	memcpy(&port, buf, 2);
	if (sp_udp_parse(buf + 2, len - 2, port, &src, &dst, &p, &plen))
		return;
	CHECK(p >= buf + 2 + SP_X_HDRS && p + plen <= buf + len);
	sp_udp_csum_ok(buf + 2, len - 2);
	/* a checksum set over a plain header is one the checker accepts */
	if (p == buf + 2 + SP_X_HDRS && len - 2 <= 4096) {
		uint8_t copy[4096];

		memcpy(copy, buf + 2, len - 2);
		sp_udp_csum_set(copy, sp_inet_sum(0, p, plen));
		CHECK(sp_udp_csum_ok(copy, len - 2));
	}
}

/* The running Internet checksum: any split of the bytes at an even
 * offset gives the same sum as one pass. */
static void inet_sum(const uint8_t *buf, size_t len)
{
	size_t cut = len / 2 & ~(size_t)1;

	CHECK(sp_inet_fold(sp_inet_sum(0, buf, len)) ==
	      sp_inet_fold(sp_inet_sum(sp_inet_sum(0, buf, cut), buf + cut, len - cut)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	http_req((const char *)data, size);
	http_resp((const char *)data, size);
	xmsg(data, size);
	tokens(data, size);
	frame(data, size);
	inet_sum(data, size);
	return 0;
}
