// SPDX-License-Identifier: MIT
/* The serving protocols: HTTP subset and UDP messages (sp_proto.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "sp_proto.h"
#include "sp_verify.h"
#include "tap.h"

#define S(x) x, sizeof(x) - 1

int main(void)
{
	struct sp_http_req r;
	struct sp_http_resp p;
	struct sp_xinfo m;
	char buf[512];
	uint8_t frame[128], msg[64];
	int n;

	n = sp_http_parse_req(S("GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n"), &r);
	TAP_CHECK(n == 32 && !strcmp(r.name, "a.bin") && !r.has_range && !r.close,
		  "plain GET");
	TAP_CHECK(sp_http_parse_req(S("GET /a.bin HTTP/1.1\r\nHost: x\r\n"), &r) == 0,
		  "incomplete header asks for more");
	n = sp_http_parse_req(S("GET /f HTTP/1.1\r\nrange:  bytes=10-19 \r\n\r\n"), &r);
	TAP_CHECK(n > 0 && r.has_range && r.first == 10 && r.last == 19, "Range, any case");
	n = sp_http_parse_req(S("GET /f HTTP/1.0\r\nRange: bytes=5-\r\n\r\n"), &r);
	TAP_CHECK(n > 0 && r.last == UINT64_MAX && r.close, "open range, HTTP/1.0 closes");
	TAP_CHECK(sp_http_parse_req(S("GET /../etc HTTP/1.1\r\n\r\n"), &r) == -EINVAL,
		  "no slash in names");
	TAP_CHECK(sp_http_parse_req(S("GET /.. HTTP/1.1\r\n\r\n"), &r) == -EINVAL, "'..' refused");
	TAP_CHECK(sp_http_parse_req(S("GET /f HTTP/1.1\r\nRange: bytes=9-3\r\n\r\n"), &r) == -EINVAL,
		  "backwards range refused");
	TAP_CHECK(sp_http_parse_req(S("GET /f HTTP/1.1\r\nRange: bytes=-3\r\n\r\n"), &r) > 0 &&
		  r.suffix && r.last == 3, "a suffix range is taken");
	TAP_CHECK(sp_http_parse_req(S("GET /f HTTP/1.1\r\nRange: bytes=99999999999999999999999-\r\n\r\n"), &r) == -EINVAL,
		  "overflowing number refused");
	TAP_CHECK(sp_http_parse_req(S("PUT /f HTTP/1.1\r\n\r\n"), &r) == -EINVAL, "only GET");
	memset(buf, 'a', sizeof(buf));
	TAP_CHECK(sp_http_parse_req(buf, sizeof(buf), &r) == 0, "no end yet: more");

	{
		uint64_t f, l;

		TAP_CHECK(sp_http_parse_req(S("HEAD /f4k HTTP/1.1\r\n\r\n"), &r) > 0 && r.head &&
			  !strcmp(r.name, "f4k"), "HEAD is a request for the header");
		TAP_CHECK(sp_http_parse_req(S("GET /f HTTP/1.1\r\nRange: bytes=-100\r\n\r\n"), &r) > 0 &&
			  r.suffix && r.last == 100, "a suffix range: the last 100 bytes");
		TAP_CHECK(sp_http_resolve_range(&r, 4096, &f, &l) == 0 && f == 3996 && l == 100,
			  "resolved against 4096 bytes: 3996 + 100");
		TAP_CHECK(sp_http_resolve_range(&r, 60, &f, &l) == 0 && f == 0 && l == 60,
			  "a suffix longer than the file is the whole file");
		TAP_CHECK(sp_http_resolve_range(&r, 0, &f, &l) == 416, "a suffix of nothing: 416");
		TAP_CHECK(sp_http_parse_req(S("GET /f HTTP/1.1\r\nRange: bytes=-0\r\n\r\n"), &r) ==
			  -EINVAL, "bytes=-0 is malformed");
		TAP_CHECK(sp_http_parse_req(S("PUT /f HTTP/1.1\r\n\r\n"), &r) == -EINVAL,
			  "other methods are malformed");
	}
	n = sp_http_fmt_ok(buf, sizeof(buf), true, 100, 50, 1000);
	TAP_CHECK(n > 0 && sp_http_parse_resp(buf, n, &p) == n && p.status == 206 &&
		  p.content_length == 50 && p.has_range && p.range_first == 100 &&
		  p.range_last == 149 && p.range_total == 1000, "206 round trip");
	buf[n] = '\0';
	TAP_CHECK(strstr(buf, "\r\nContent-Type: application/octet-stream\r\n") &&
		  strstr(buf, "\r\nAccept-Ranges: bytes\r\n") && strstr(buf, " GMT\r\n") &&
		  strstr(buf, "\r\nDate: "), "a reply names its type and date");
	n = sp_http_fmt_err(buf, sizeof(buf), 404);
	TAP_CHECK(n > 0 && sp_http_parse_resp(buf, n, &p) > 0 && p.status == 404,
		  "error reply parses");
	TAP_CHECK(sp_http_parse_resp(S("HTTP/1.1 200 OK\r\n\r\n"), &p) == -EINVAL,
		  "a reply needs Content-Length");

	sp_x_fill(msg, SP_X_REQ, 0, 7, 3, 4096, 8192);
	TAP_CHECK(!sp_x_parse(msg, 32, &m) && m.type == SP_X_REQ && m.req_id == 7 &&
		  m.aux == 3 && m.offset == 4096 && m.length == 8192, "REQ round trip");
	TAP_CHECK(sp_x_parse(msg, 31, &m) == -EINVAL, "short message refused");
	sp_x_fill(msg, SP_X_DATA, 32, 9, 0, 0, 0);
	TAP_CHECK(sp_x_parse(msg, 40, &m) == -EINVAL && m.req_id == 9,
		  "DATA longer than the datagram refused, req_id kept");
	TAP_CHECK(!sp_x_parse(msg, 64, &m) && m.payload == msg + 32, "DATA payload");
	static uint8_t big[32 + SP_X_MAX_PAYLOAD + 1];
	sp_x_fill(big, SP_X_LAST, SP_X_MAX_PAYLOAD, 9, 0, 3072, 4096);
	TAP_CHECK(!sp_x_parse(big, sizeof(big), &m) && m.type == SP_X_LAST &&
		  m.len == SP_X_MAX_PAYLOAD && m.length == 4096, "LAST of three blocks round trip");
	sp_x_fill(big, SP_X_DATA, SP_X_MAX_PAYLOAD + 1, 9, 0, 0, 0);
	TAP_CHECK(sp_x_parse(big, sizeof(big), &m) == -EINVAL, "DATA above three blocks refused");
	sp_x_fill(big, SP_X_WRITE, 2 * SP_X_PAYLOAD, 9, 0, 0, 0);
	TAP_CHECK(sp_x_parse(big, sizeof(big), &m) == -EINVAL, "WRITE above one block refused");
	TAP_CHECK(sp_x_payload_for_mtu(1500) == 1024 && sp_x_payload_for_mtu(3132) == 3072 &&
		  sp_x_payload_for_mtu(3131) == 2048 && sp_x_payload_for_mtu(9000) == 3072 &&
		  sp_x_payload_for_mtu(68) == 1024, "frame payload for an MTU");

	sp_x_fill(msg, SP_X_WRITE, 16, 11, 2, 1024, 0);
	TAP_CHECK(!sp_x_parse(msg, 48, &m) && m.type == SP_X_WRITE && m.len == 16 &&
		  m.aux == 2 && m.offset == 1024 && m.payload == msg + 32, "WRITE round trip");
	TAP_CHECK(sp_x_parse(msg, 40, &m) == -EINVAL, "WRITE longer than the datagram refused");
	sp_x_fill(msg, SP_X_WRITE, 0, 11, 2, 1024, 0);
	TAP_CHECK(sp_x_parse(msg, 48, &m) == -EINVAL, "empty WRITE refused");
	sp_x_fill(msg, SP_X_WRITE, 16, 11, 2, 1024, 5);
	TAP_CHECK(sp_x_parse(msg, 48, &m) == -EINVAL, "WRITE with a length refused");
	sp_x_fill(msg, SP_X_WRITE, 16, 11, 2, UINT64_MAX - 3, 0);
	TAP_CHECK(sp_x_parse(msg, 48, &m) == -EINVAL, "WRITE past 2^64 refused");
	sp_x_fill(msg, SP_X_ACK, 0, 11, 0xabcd, 1024, 16);
	TAP_CHECK(!sp_x_parse(msg, 32, &m) && m.type == SP_X_ACK && m.aux == 0xabcd &&
		  m.length == 16, "ACK round trip");
	sp_x_fill(msg, SP_X_REQ, 0, 12, 0, 0, 1024);
	TAP_CHECK(!sp_x_parse(msg, 64, &m) && m.type == SP_X_REQ, "padded REQ accepted");
	TAP_CHECK(sp_x_req_one_unit(0, 1024) && sp_x_req_one_unit(4096, 1) &&
		  !sp_x_req_one_unit(0, 0) && !sp_x_req_one_unit(0, 1025) &&
		  !sp_x_req_one_unit(512, 512), "one-unit requests: a block or less, aligned");
	TAP_CHECK(sp_x_req_size(2048, 1024, false) == 32 + SP_X_PAYLOAD && sp_x_req_size(0, 0, false) == 32 &&
		  sp_x_req_size(0, 4096, false) == 32 && sp_x_req_size(100, 10, false) == 32,
		  "only a one-unit REQ is padded to its reply's size");
	/* address tokens (version 3) */
	{
		uint8_t key[SP_X_TOKEN_KEY_LEN] = { 1, 2, 3 }, key2[SP_X_TOKEN_KEY_LEN] = { 1, 2, 4 };
		uint8_t tok[SP_X_TOKEN_LEN], req[32 + SP_X_PAYLOAD];
		uint32_t ip = 0x0300a8c0;	/* 192.168.0.3, network order */

		TAP_CHECK(sp_x_req_size(0, 4096, true) == 32 + SP_X_TOKEN_LEN &&
			  sp_x_req_size(1024, 1024, true) == 32 + SP_X_PAYLOAD,
			  "a token makes a REQ 16 bytes longer, unless it is padded already");
		sp_x_token_make(key, ip, 1000, tok);
		TAP_CHECK(sp_x_token_ok(key, ip, 1000, tok) && sp_x_token_ok(key, ip, 1001, tok),
			  "a token is good in its period and the next");
		TAP_CHECK(!sp_x_token_ok(key, ip, 1002, tok) && !sp_x_token_ok(key, ip, 999, tok),
			  "... and in no other");
		TAP_CHECK(!sp_x_token_ok(key, ip ^ 0x01000000, 1000, tok) &&
			  !sp_x_token_ok(key2, ip, 1000, tok), "another address or key: refused");
		tok[12] ^= 0x10;
		TAP_CHECK(!sp_x_token_ok(key, ip, 1000, tok), "a changed bit: refused");
		tok[12] ^= 0x10;
		sp_x_token_make(key, ip, UINT64_MAX, tok);
		TAP_CHECK(!sp_x_token_ok(key, ip, 0, tok), "period 0 takes no token of the period before it");
		sp_x_token_make(key, ip, 1000, tok);
		sp_x_fill_req(req, 48, 13, 2, 8192, 4096, tok);
		TAP_CHECK(!sp_x_parse(req, 48, &m) && m.type == SP_X_REQ && m.len == SP_X_TOKEN_LEN &&
			  m.payload == req + 32 && !memcmp(m.payload, tok, SP_X_TOKEN_LEN) &&
			  m.req_id == 13 && m.aux == 2 && m.offset == 8192 && m.length == 4096,
			  "REQ with a token round trip");
		TAP_CHECK(sp_x_parse(req, 40, &m) == -EINVAL, "a token cut short refused");
		sp_x_fill_req(req, sizeof(req), 14, 0, 1024, 1024, tok);
		TAP_CHECK(!sp_x_parse(req, sizeof(req), &m) && m.payload == req + 32 &&
			  !req[48] && !req[sizeof(req) - 1], "a padded REQ carries its token in the padding");
		sp_x_fill(req, SP_X_REQ, 5, 15, 0, 0, 0);
		TAP_CHECK(sp_x_parse(req, 64, &m) == -EINVAL, "a REQ with another len refused");
		sp_x_fill(req, SP_X_TOKEN, SP_X_TOKEN_LEN, 16, 0, 4096, 8192);
		TAP_CHECK(!sp_x_parse(req, 48, &m) && m.type == SP_X_TOKEN && m.payload == req + 32 &&
			  m.offset == 4096 && m.length == 8192, "TOKEN round trip");
		sp_x_fill(req, SP_X_TOKEN, 0, 16, 0, 4096, 8192);
		TAP_CHECK(sp_x_parse(req, 48, &m) == -EINVAL, "TOKEN without one refused");
		/* 4 KiB at 3 KiB a frame: two frames and an END, 74 bytes of headers each */
		TAP_CHECK(sp_x_reply_bytes(0, 4096, 3072) == 4096 + 3 * 74 &&
			  sp_x_reply_bytes(2048, 2048, 1024) == 2048 + 3 * 74 &&
			  sp_x_reply_bytes(UINT64_MAX, 2, 1024) == UINT64_MAX,
			  "reply bytes of a request");
		TAP_CHECK(sp_x_unverified_ok(74, 222) && !sp_x_unverified_ok(74, 223) &&
			  sp_x_unverified_ok(14 + 20 + 8 + 32 + SP_X_PAYLOAD,
					     sp_x_reply_bytes(1024, 1024, 3072)) &&
			  !sp_x_unverified_ok(74, sp_x_reply_bytes(0, 1024, 1024)),
			  "unverified: 3x the request, so a padded one-unit request needs no token");
	}
	TAP_CHECK(sp_x_err_http_status(SP_XE_MALFORMED) == 400 &&
		  sp_x_err_http_status(SP_XE_NOFILE) == 404 &&
		  sp_x_err_http_status(SP_XE_RANGE) == 416 &&
		  sp_x_err_http_status(SP_XE_TOOBIG) == 413 &&
		  sp_x_err_http_status(SP_XE_BUSY) == 503 &&
		  sp_x_err_http_status(SP_XE_IO) == 500 &&
		  sp_x_err_http_status(SP_XE_RDONLY) == 0 && sp_x_err_http_status(99) == 0,
		  "UDP errors and their HTTP statuses");
	bool all = true;
	for (uint32_t e = SP_XE_MALFORMED; e <= SP_XE_IO; e++) {
		int st = sp_x_err_http_status(e);

		n = sp_http_fmt_err(buf, sizeof(buf), st);
		all = all && n > 0 && sp_http_parse_resp(buf, n, &p) > 0 && p.status == st;
	}
	TAP_CHECK(all, "every mapped status is an error reply that parses back");
	/* RFC 1071's example: 0001 f203 f4f5 f6f7 sums to ddf2 */
	static const uint8_t rfc[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	TAP_CHECK(sp_inet_fold(sp_inet_sum(0, rfc, sizeof(rfc))) == 0xddf2, "RFC 1071 sum");
	TAP_CHECK(sp_inet_fold(sp_inet_sum(0, rfc, 3)) == (0x0001 + 0xf200), "odd byte padded");

	struct sp_udp_addr a = { { 1, 2, 3, 4, 5, 6 }, htonl(0x0a000001), htons(7878) };
	struct sp_udp_addr b = { { 6, 5, 4, 3, 2, 1 }, htonl(0x0a000002), htons(5555) };
	struct sp_udp_addr ps, pd;
	const uint8_t *pl;
	size_t plen;

	sp_udp_fill(frame, &a, &b, 32);
	TAP_CHECK(!sp_udp_parse(frame, SP_X_HDRS + 32, htons(5555), &ps, &pd, &pl, &plen) &&
		  plen == 32 && pl == frame + SP_X_HDRS && ps.ip == a.ip && pd.port == b.port &&
		  !memcmp(ps.mac, a.mac, 6), "UDP frame round trip");
	TAP_CHECK(sp_udp_parse(frame, SP_X_HDRS + 32, htons(1), &ps, &pd, &pl, &plen) == -ENOENT,
		  "other port: not ours");
	TAP_CHECK(sp_udp_parse(frame, SP_X_HDRS + 16, htons(5555), &ps, &pd, &pl, &plen) == -EINVAL,
		  "truncated frame refused");
	TAP_CHECK(sp_udp_csum_ok(frame, SP_X_HDRS + 32), "no UDP checksum: accepted");
	memset(frame + SP_X_HDRS, 0, 32);
	sp_x_fill(frame + SP_X_HDRS, SP_X_REQ, 0, 1, 2, 3, 4);
	sp_udp_csum_set(frame, sp_inet_sum(0, frame + SP_X_HDRS, 32));
	TAP_CHECK(frame[SP_X_HDRS - 2] | frame[SP_X_HDRS - 1], "UDP checksum set");
	TAP_CHECK(sp_udp_csum_ok(frame, SP_X_HDRS + 32), "UDP checksum verifies");
	frame[SP_X_HDRS + 9] ^= 0x40;
	TAP_CHECK(!sp_udp_csum_ok(frame, SP_X_HDRS + 32), "a flipped bit fails it");
	return tap_done();
}
