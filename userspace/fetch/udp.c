// SPDX-License-Identifier: MIT
/*
 * sp-fetch -m udp: sp-serve's xdp mode through a kernel UDP socket. The
 * protocol is xproto.c's; this is its transport. Requests are queued
 * and go out together with sendmmsg(2), one system call for every
 * request a pass of the engine's loop issues; replies come in batches
 * through recvmmsg(2).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sp_proto.h"
#include "sp_time.h"
#include "fetch.h"

#define OUT_BATCH 64
#define OUT_MAX (sizeof(struct sp_xmsg) + BLK)	/* a padded one-unit request */
#define IN_BATCH 32
#define IN_FRAME 4096

struct kudp {
	struct fetch_transport t;	/* first: the engine hands it back */
	int fd;
	struct mmsghdr out[OUT_BATCH];	/* requests not yet sent */
	struct iovec out_iov[OUT_BATCH];
	uint8_t out_buf[OUT_BATCH][OUT_MAX];
	unsigned nr_out;
	struct mmsghdr in[IN_BATCH];
	struct iovec in_iov[IN_BATCH];
	char (*in_buf)[IN_FRAME];
};

static int kudp_flush(struct fetch_transport *t)
{
	struct kudp *k = (struct kudp *)t;
	unsigned done = 0;

	while (done < k->nr_out) {
		int n = sendmmsg(k->fd, k->out + done, k->nr_out - done, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			k->nr_out = 0;
			return -errno;
		}
		done += n;
	}
	k->nr_out = 0;
	return 0;
}

static int kudp_send(struct fetch_transport *t, uint32_t req_id, uint32_t id, uint64_t off,
		     uint64_t len, size_t size, const uint8_t *token)
{
	struct kudp *k = (struct kudp *)t;
	uint8_t *msg;
	int ret;

	if (k->nr_out == OUT_BATCH && (ret = kudp_flush(t)))
		return ret;
	msg = k->out_buf[k->nr_out];
	sp_x_fill_req(msg, size, req_id, id, off, len, token);
	k->out_iov[k->nr_out] = (struct iovec){ msg, size };
	k->out[k->nr_out] = (struct mmsghdr){
		.msg_hdr = { .msg_iov = &k->out_iov[k->nr_out], .msg_iovlen = 1 } };
	k->nr_out++;
	return 0;
}

static int kudp_wait(struct fetch_transport *t, uint64_t timeout_ns)
{
	struct pollfd pfd = { .fd = ((struct kudp *)t)->fd, .events = POLLIN };
	struct timespec ts = sp_ns_to_timespec(timeout_ns);

	return ppoll(&pfd, 1, &ts, NULL);
}

static int kudp_recv(struct fetch_transport *t, struct fetch_udp *u)
{
	struct kudp *k = (struct kudp *)t;
	int n;

	for (unsigned i = 0; i < IN_BATCH; i++) {
		k->in_iov[i] = (struct iovec){ k->in_buf[i], IN_FRAME };
		k->in[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &k->in_iov[i],
							  .msg_iovlen = 1 } };
	}
	n = recvmmsg(k->fd, k->in, IN_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	sp_fetch_udp_clock(u);
	for (int i = 0; i < n; i++)
		sp_fetch_udp_reply(u, (uint8_t *)k->in_buf[i], k->in[i].msg_len);
	return n;
}

int sp_fetch_udp(struct client *c)
{
	struct kudp *k = calloc(1, sizeof(*k));	/* the send batch is large */
	int ret = 0;

	if (!k || !(k->in_buf = malloc(IN_BATCH * IN_FRAME))) {
		ret = -ENOMEM;
		goto out;
	}
	k->t = (struct fetch_transport){ .send = kudp_send, .flush = kudp_flush,
					 .wait = kudp_wait, .recv = kudp_recv };
	k->fd = sp_fetch_udp_socket(c);
	if (k->fd < 0) {
		ret = k->fd;
		sp_fetch_fail(c, "UDP socket to %s: %s", c->server, strerror(-ret));
		goto out;
	}
	ret = sp_fetch_udp_run(c, &k->t);
	close(k->fd);
out:
	if (k)
		free(k->in_buf);
	free(k);
	return c->fail[0] ? -EIO : ret;
}
