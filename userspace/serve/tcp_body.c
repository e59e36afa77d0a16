// SPDX-License-Identifier: MIT
/*
 * How a body reaches the socket in sp-serve's TCP modes: copy (pread
 * into a buffer, send), sendfile, splice through a pipe; sendzc hands it
 * to io_uring (sendzc.c). Each call sends at most TURN_BYTES, so that one
 * large reply does not hold the loop from the other connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp_conn.h"

/* Pushes the body; 0 when blocked or done, -errno on failure. */
int tcp_body_push(struct tcp *t, struct conn *c, unsigned ci)
{
	struct server *s = t->s;
	uint64_t turn = 0;	/* sent in this turn, see TURN_BYTES */
	ssize_t n;

	switch (s->mode) {
	case MODE_COPY: {
		char *buf = sp_bufpool_get(&t->pool, ci);

		while ((c->left || c->buf_off < c->buf_len) && turn < TURN_BYTES) {
			if (c->buf_off == c->buf_len) {
				size_t want = c->left < t->pool.buf_size ? c->left : t->pool.buf_size;

				n = pread(c->file->fd, buf, want, c->off);
				if (n <= 0)
					return n ? -errno : -EIO;
				c->buf_len = n;
				c->buf_off = 0;
				c->off += n;
				c->left -= n;
			}
			n = send(c->fd, buf + c->buf_off, c->buf_len - c->buf_off,
				 MSG_NOSIGNAL);
			if (n < 0)
				return errno == EAGAIN ? 0 : -errno;
			c->buf_off += n;
			s->st.bytes += n;
			turn += n;
		}
		return 0;
	}
	case MODE_SENDFILE:
		while (c->left && turn < TURN_BYTES) {
			off_t off = c->off;

			n = sendfile(c->fd, c->file->fd, &off,
				     c->left < TURN_BYTES - turn ? c->left : TURN_BYTES - turn);
			if (n < 0)
				return errno == EAGAIN ? 0 : -errno;
			if (n == 0)
				return -EIO;	/* the file shrank */
			c->off += n;
			c->left -= n;
			s->st.bytes += n;
			turn += n;
		}
		return 0;
	case MODE_SPLICE:
		while ((c->left || c->piped) && turn < TURN_BYTES) {
			if (!c->piped) {
				loff_t off = c->off;

				n = splice(c->file->fd, &off, c->pipe[1], NULL,
					   c->left < s->pipe_size ? c->left : s->pipe_size,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
				if (n <= 0)
					return n ? -errno : -EIO;
				c->piped = n;
				c->off += n;
				c->left -= n;
			}
			n = splice(c->pipe[0], NULL, c->fd, NULL, c->piped,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK |
				   (c->left ? SPLICE_F_MORE : 0));
			if (n < 0)
				return errno == EAGAIN ? 0 : -errno;
			c->piped -= n;
			s->st.bytes += n;
			turn += n;
		}
		return 0;
	case MODE_SENDZC:
		return sendzc_submit(t, c, ci);
	case MODE_XDP:
		break;
	}
	return -EINVAL;
}

bool tcp_body_done(const struct tcp *t, const struct conn *c)
{
	if (c->left)
		return false;
	switch (t->s->mode) {
	case MODE_COPY: return c->buf_off == c->buf_len;
	case MODE_SPLICE: return !c->piped;
	case MODE_SENDZC: return c->zc_sent == c->zc_read;
	default: return true;
	}
}

