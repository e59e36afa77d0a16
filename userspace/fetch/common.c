// SPDX-License-Identifier: MIT
/*
 * What every mode of sp-fetch uses: the source's CRC table that every
 * received byte is checked against, the choice of the next range, the
 * run's end, its first failure, the progress line, and the sockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devinfo.h"
#include "sp_rand.h"
#include "sp_time.h"
#include "sp_verify.h"
#include "fetch.h"

atomic_bool sp_fetch_interrupted;
atomic_bool sp_fetch_failed_any;

void sp_fetch_fail(struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (c->fail[0])
		return;
	va_start(ap, fmt);
	vsnprintf(c->fail, sizeof(c->fail), fmt, ap);
	va_end(ap);
	atomic_store(&sp_fetch_failed_any, true);
}

/*
 * A CRC32C per BLK bytes of the file, computed once: nothing received is
 * stored, so a 64 MiB file costs one table of 64 Ki CRCs.
 */
int sp_fetch_load_source(struct client *c)
{
	size_t bufsz = 1 << 20;
	char *buf = malloc(bufsz);
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);
	struct sp_devinfo d;
	int ret = 0;

	if (fd < 0 || !buf) {
		ret = buf ? -errno : -ENOMEM;
		goto out;
	}
	/* a block device's size is not in st_size */
	ret = sp_dev_probe(c->path, false, &d);
	if (ret)
		goto out;
	c->size = d.size;
	if (!c->size) {
		ret = -ENODATA;
		goto out;
	}
	c->crcs = calloc((c->size + BLK - 1) / BLK, sizeof(*c->crcs));
	if (!c->crcs) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint64_t off = 0; off < c->size;) {
		ssize_t n = pread(fd, buf, bufsz, off);

		if (n <= 0) {
			ret = n ? -errno : -EIO;
			goto out;
		}
		sp_crc32c_blocks(buf, n, BLK, &c->crcs[off / BLK]);
		off += n;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

void sp_fetch_next_range(struct client *c, uint64_t *off, uint64_t *len)
{
	if (!c->len || c->len >= c->size) {
		*off = 0;
		*len = c->size;
		return;
	}
	if (c->sequential) {
		/* the next whole range in file order, from the start again
		 * after the last one that fits */
		if (c->next_off > c->size - c->len)
			c->next_off = 0;
		*off = c->next_off;
		c->next_off += c->len;
	} else {
		*off = sp_rand_next(&c->rng) % ((c->size - c->len) / BLK + 1) * BLK;
	}
	*len = c->len;
}

/* one clock read per pass of a loop, not one per slot: they add up */
bool sp_fetch_more_at(struct client *c, uint64_t now)
{
	if (atomic_load(&sp_fetch_interrupted) || atomic_load(&sp_fetch_failed_any))
		return false;
	if (c->run_ns)
		return now - c->start_ns < c->run_ns;
	return c->issued < c->requests;
}

bool sp_fetch_more(struct client *c)
{
	if (atomic_load(&sp_fetch_interrupted) || atomic_load(&sp_fetch_failed_any))
		return false;
	if (c->run_ns)
		return sp_now_ns() - c->start_ns < c->run_ns;
	return c->issued < c->requests;
}

uint64_t sp_fetch_due_ns(const struct client *c, uint64_t n)
{
	/* n / rate seconds, split so that n * 1e9 cannot overflow */
	return c->start_ns + n / c->rate * 1000000000ULL +
	       n % c->rate * 1000000000ULL / c->rate;
}

void sp_fetch_progress(struct client *c, bool last)
{
	static uint64_t next;
	uint64_t now;

	if (!c->progress)
		return;
	now = sp_now_ns();
	if (!last && now < next)
		return;
	next = now + 500000000ULL;
	fprintf(stderr, "\r%llu requests, %.1f MiB, %llu errors  ",
		(unsigned long long)c->done, c->bytes / 1048576.0,
		(unsigned long long)(c->errors + c->mismatches));
	if (last)
		fputc('\n', stderr);
}

int sp_fetch_tcp_connect(const struct client *c)
{
	int fd = socket(c->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&c->sa, c->salen)) {
		int err = -errno;

		close(fd);
		return err;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

int sp_fetch_udp_socket(const struct client *c)
{
	int fd = socket(c->sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int sz = 32 << 20;

	if (fd < 0)
		return -errno;
	/* a burst of frames must not overflow the socket (FORCE: root only) */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (connect(fd, (struct sockaddr *)&c->sa, c->salen)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}
