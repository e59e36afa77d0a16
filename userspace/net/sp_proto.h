/* SPDX-License-Identifier: MIT */
/*
 * Wire protocols of the file server (sp-serve) and its client
 * (sp-fetch), shared with the fuzzer so that the code that is fuzzed is
 * the code that serves.
 *
 * TCP modes speak a subset of HTTP/1.1 so that the same client can
 * fetch from nginx: "GET /NAME HTTP/1.1", an optional
 * "Range: bytes=FIRST-LAST", keep-alive by default. Replies: 200 or 206
 * with Content-Length (and Content-Range), or an error status with a
 * short body: 400 malformed, 404 unknown file, 413 length above the
 * server's limit, 416 range outside the file, 503 too many connections.
 *
 * The AF_XDP mode speaks UDP over IPv4. Every message starts with the
 * 32-byte struct sp_xmsg, all fields little-endian:
 *   REQ   client -> server: file id in aux, offset, length (0: to EOF)
 *   DATA  server -> client: len payload bytes at file offset `offset`,
 *         aux = CRC32C of the payload. Frames split the range at
 *         multiples of the server's frame payload (1-3 blocks of
 *         SP_X_PAYLOAD bytes, as the link's MTU allows) of the file.
 *   LAST  server -> client: a DATA frame that is also the request's
 *         last one (END's job, without a frame of its own); length =
 *         bytes of the whole reply. A one-frame reply is one LAST.
 *   END   server -> client: all DATA frames of the request were sent,
 *         when the last frame could not say so (it was lost on purpose
 *         by --drop-every); offset = end of the range, length = bytes
 *         sent, aux = frames
 *   ERR   server -> client: aux = enum sp_x_err; nothing else is sent
 *   WRITE client -> server: len payload bytes (1..SP_X_PAYLOAD) to write
 *         at `offset` of file id aux, inside the file (files never
 *         grow); length must be 0. Served only with sp-serve --writable.
 *   ACK   server -> client: the WRITE is done and visible to every
 *         later request; offset and length = what was written, aux =
 *         CRC32C of it. A write is idempotent: the client resends it
 *         until acknowledged.
 *   TOKEN server -> client: the REQ named by req_id, offset and length
 *         was not served: its reply would be more than SP_X_AMPLIFY times
 *         the request's frame and it carried no valid token. len =
 *         SP_X_TOKEN_LEN, the token follows: the client sends the request
 *         again with it (and every later one).
 * A REQ may carry a token: len = SP_X_TOKEN_LEN, the token right after
 * the header (padding, if any, after it). The token binds the client's
 * IPv4 address to a key of the server's and a period of time: whoever
 * can receive at the address can have it, and nobody else can make one,
 * so that a request with a forged source (reflection: the reply would
 * flood the address it names) gets at most SP_X_AMPLIFY times its own
 * size sent there.
 * Every reply carries the req_id of its request. UDP gives no delivery
 * guarantee: the client re-requests what it did not get. A one-unit
 * request answered by the XDP hot-block cache gets its one LAST frame
 * (a client completes a request when it has every block; LAST and END
 * only tell it about gaps early).
 * Version 2: LAST, and DATA frames of up to SP_X_MAX_PAYLOAD bytes.
 * Version 3: TOKEN, and REQ with a token.
 */
#ifndef SP_PROTO_H
#define SP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ HTTP */

#define SP_HTTP_MAX_HDR	4096	/* request or response header, bytes */
#define SP_HTTP_MAX_NAME 255

struct sp_http_req {
	char name[SP_HTTP_MAX_NAME + 1];	/* path without the leading '/' */
	bool has_range;
	uint64_t first, last;	/* inclusive; last = UINT64_MAX: open-ended */
	bool suffix;		/* "bytes=-N": the last N bytes, N in last */
	bool head;		/* HEAD: the header of the reply, no body */
	bool close;		/* "Connection: close" */
};

/*
 * Parses the request at the start of buf. Returns the header length
 * (bytes up to and including the blank line), 0 when more bytes are
 * needed, or -EINVAL (malformed), -ENAMETOOLONG, -EMSGSIZE (no end of
 * header within SP_HTTP_MAX_HDR bytes).
 */
int sp_http_parse_req(const char *buf, size_t len, struct sp_http_req *r);

struct sp_http_resp {
	int status;
	uint64_t content_length;
	bool has_range;
	uint64_t range_first, range_last, range_total;
	bool close;
};

/* Same return convention as sp_http_parse_req, for a reply. */
int sp_http_parse_resp(const char *buf, size_t len, struct sp_http_resp *r);

/*
 * The bytes a request asks of a file of size bytes: *first and *len, or
 * 416 when the range starts past the end (or asks a suffix of nothing).
 */
int sp_http_resolve_range(const struct sp_http_req *r, uint64_t size, uint64_t *first,
			  uint64_t *len);

/* A request for [off, off + len) of name (len 0: the whole file). */
int sp_http_fmt_req(char *buf, size_t size, const char *name, uint64_t off,
		    uint64_t len);
/* Header of a 200/206 reply; a partial reply says which part. */
int sp_http_fmt_ok(char *buf, size_t size, bool partial, uint64_t first,
		   uint64_t len, uint64_t total);
/* A complete error reply (header and a one-line body). */
int sp_http_fmt_err(char *buf, size_t size, int status);
const char *sp_http_reason(int status);

/* ------------------------------------------------------------ UDP (AF_XDP) */

#define SP_X_MAGIC	0x58505053u	/* "SPPX" */
#define SP_X_VERSION	3
#define SP_X_PAYLOAD	1024u	/* a block: the unit of CRCs, WRITEs and the cache */
/* most DATA bytes per frame: three blocks fill a 4 KiB AF_XDP frame */
#define SP_X_MAX_PAYLOAD (3 * SP_X_PAYLOAD)

enum sp_x_type {
	SP_X_REQ = 1,
	SP_X_DATA = 2,
	SP_X_END = 3,
	SP_X_ERR = 4,
	SP_X_WRITE = 5,
	SP_X_ACK = 6,
	SP_X_LAST = 7,
	SP_X_TOKEN = 8,
};

enum sp_x_err {
	SP_XE_MALFORMED = 1,
	SP_XE_NOFILE = 2,
	SP_XE_RANGE = 3,	/* offset past the end */
	SP_XE_TOOBIG = 4,	/* length above the server's limit */
	SP_XE_BUSY = 5,		/* too many requests in flight */
	SP_XE_IO = 6,		/* the server could not read or write the file */
	SP_XE_RDONLY = 7,	/* a WRITE to a server without --writable */
};

struct sp_xmsg {
	uint32_t magic;
	uint8_t version;
	uint8_t type;
	uint16_t len;		/* DATA: payload bytes that follow */
	uint32_t req_id;
	uint32_t aux;
	uint64_t offset;
	uint64_t length;
} __attribute__((packed));

_Static_assert(sizeof(struct sp_xmsg) == 32, "wire layout");

/* Host-order view of a message, as parsed. */
struct sp_xinfo {
	enum sp_x_type type;
	uint16_t len;
	uint32_t req_id, aux;
	uint64_t offset, length;
	const uint8_t *payload;	/* DATA, LAST and WRITE; TOKEN and REQ: the token */
};

/* Parses one UDP payload; 0 or -EINVAL (req_id is still set when the
 * header was readable, so an error reply can name the request). */
int sp_x_parse(const void *buf, size_t len, struct sp_xinfo *m);
/* Writes the 32-byte header into buf (which holds at least that). */
void sp_x_fill(void *buf, enum sp_x_type type, uint16_t len, uint32_t req_id,
	       uint32_t aux, uint64_t offset, uint64_t length);
const char *sp_x_err_str(uint32_t err);
/*
 * The HTTP status the TCP modes answer where the UDP protocol answers
 * err (the same refusal on the other transport), 0 where HTTP has none
 * (SP_XE_RDONLY: nothing is written over HTTP).
 */
int sp_x_err_http_status(uint32_t err);

/*
 * A one-unit request, one whole block or less at a block boundary, is
 * what the XDP hot-block cache answers by turning the request's frame
 * into the reply in place (bpf/xsk_redirect.bpf.c tests the same).
 * On veth and in generic XDP a received frame has little room to grow,
 * so such a request is sent padded with zeros to its reply's size;
 * sp_x_req_size is the bytes a REQ for [off, off + len) is sent as.
 */
bool sp_x_req_one_unit(uint64_t off, uint64_t len);
size_t sp_x_req_size(uint64_t off, uint64_t len, bool token);
/*
 * Writes a REQ of size bytes (sp_x_req_size) into buf: the header, the
 * token when there is one (NULL: none), zeros to size.
 */
void sp_x_fill_req(void *buf, size_t size, uint32_t req_id, uint32_t file, uint64_t off,
		   uint64_t len, const uint8_t *token);

/*
 * Address validation. An unverified source gets at most SP_X_AMPLIFY
 * times the bytes of the frame it sent (QUIC's bound, RFC 9000 8.1):
 * an error, a TOKEN, or data that fits. The token: the period it was
 * made in (8 bytes, little-endian), then SipHash-2-4 under the server's
 * key of the address and that period (8 bytes). A token is good in its
 * period and the next: SP_X_TOKEN_PERIOD_S to twice that.
 */
#define SP_X_TOKEN_LEN		16
#define SP_X_AMPLIFY		3
#define SP_X_TOKEN_PERIOD_S	60
#define SP_X_TOKEN_KEY_LEN	16

/* The token of IPv4 address ip (network order) in period. */
void sp_x_token_make(const uint8_t key[SP_X_TOKEN_KEY_LEN], uint32_t ip, uint64_t period,
		     uint8_t token[SP_X_TOKEN_LEN]);
/* Whether token is ip's, made in period now or the one before. */
bool sp_x_token_ok(const uint8_t key[SP_X_TOKEN_KEY_LEN], uint32_t ip, uint64_t now,
		   const uint8_t token[SP_X_TOKEN_LEN]);
/*
 * Bytes of frames (headers included) a REQ for len bytes at off is
 * answered with when a frame carries payload bytes (sp_x_payload_for_mtu),
 * an END included; and whether they may go to a source not yet
 * verified that sent a frame of req_frame bytes.
 */
uint64_t sp_x_reply_bytes(uint64_t off, uint64_t len, unsigned payload);
bool sp_x_unverified_ok(size_t req_frame, uint64_t reply_bytes);

/*
 * Ethernet + IPv4 + UDP framing for the AF_XDP side, which has no
 * kernel stack to do it. Options in the IP header are accepted on
 * receive and never sent.
 */
#define SP_X_HDRS	(14 + 20 + 8)	/* Ethernet, IPv4, UDP */

/* The DATA payload a link of this MTU carries: whole blocks, 1 to 3. */
unsigned sp_x_payload_for_mtu(unsigned mtu);

struct sp_udp_addr {
	uint8_t mac[6];
	uint32_t ip;		/* network order */
	uint16_t port;		/* network order */
};

/* Finds the UDP payload of a frame for dst_port (network order). 0, or
 * -EINVAL (not IPv4/UDP, truncated, bad lengths) / -ENOENT (another port). */
int sp_udp_parse(const void *frame, size_t len, uint16_t dst_port,
		 struct sp_udp_addr *src, struct sp_udp_addr *dst,
		 const uint8_t **payload, size_t *plen);
/* Writes SP_X_HDRS bytes of headers for plen bytes of payload. The UDP
 * checksum is left 0 (optional on IPv4). */
void sp_udp_fill(void *frame, const struct sp_udp_addr *src,
		 const struct sp_udp_addr *dst, size_t plen);

/*
 * The UDP checksum of a frame laid out by sp_udp_fill (plain 20-byte IP
 * header): set computes it from the headers, the pseudo-header and
 * psum, the sp_inet_sum of the payload, which the caller may know
 * without reading it (zero padding adds nothing); ok checks a received
 * frame, whatever its IP options (true when the sender left it 0).
 */
void sp_udp_csum_set(void *frame, uint32_t psum);
bool sp_udp_csum_ok(const void *frame, size_t len);

/*
 * The Internet checksum (RFC 1071): sum continues a running sum over
 * len bytes taken as big-endian 16-bit words, an odd last byte padded
 * with zero. sp_inet_fold folds it to 16 bits (not inverted).
 */
uint32_t sp_inet_sum(uint32_t sum, const void *buf, size_t len);
uint16_t sp_inet_fold(uint32_t sum);

#endif
