// SPDX-License-Identifier: MIT
/*
 * One target over many files (sp_target_opts.fds, sp_io.file): several
 * files read through one target, byte-exact, with psync and with uring
 * (one ring, the files registered); a file index the target does not
 * have refused with -EINVAL; psync's scattered reads (sp_io.iov).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend.h"
#include "tap.h"

#define NFILES	3
#define FSIZE	8192u
#define BS	4096u

static unsigned char content[NFILES][FSIZE];

/* Queues io, submits, and reaps it: its result, or -errno of the interface. */
static int do_io(struct sp_target *t, struct sp_io *io)
{
	struct sp_io *done;
	int ret = t->be->queue(t, io);

	if (ret)
		return ret;
	ret = t->be->submit(t, 1);
	if (ret < 0)
		return ret;
	while ((ret = t->be->reap(t, &done, 1)) == 0)
		t->be->submit(t, 1);
	return ret == 1 && done == io ? io->res : -EIO;
}

/* Reads every file's second block through one target of backend name. */
static void read_all(const char *name, const int *fds, bool reg_files)
{
	struct sp_target_opts o = {
		.depth = 2, .buf_size = BS, .sq_cpu = -1, .reg_files = reg_files,
		.fixed_bufs = reg_files, .fds = fds, .nr_fds = NFILES,
	};
	struct sp_target t;
	int ret = sp_target_open(&t, sp_backend_find(name), &o, NULL);
	bool exact = true;

	TAP_CHECK(ret == 0, "%s over %d descriptors opens: %s", name, NFILES,
		  ret ? t.err : t.setup);
	if (ret)
		return;
	for (unsigned f = 0; f < NFILES; f++) {
		struct sp_io io = { .op = SP_OP_READ, .offset = BS, .len = BS,
				    .buf = f % 2, .file = f };

		ret = do_io(&t, &io);
		exact &= ret == (int)BS && !memcmp(sp_io_buf(&t, &io), content[f] + BS, BS);
	}
	TAP_CHECK(exact, "%s: each file's block read byte-exact through one target", name);
	{
		struct sp_io io = { .op = SP_OP_READ, .len = BS, .file = NFILES };

		TAP_CHECK(t.be->queue(&t, &io) == -EINVAL,
			  "%s: file index %d of %d files refused with EINVAL", name,
			  NFILES, NFILES);
	}
	sp_target_close(&t);
	exact = true;
	for (unsigned f = 0; f < NFILES; f++)
		exact &= fcntl(fds[f], F_GETFD) >= 0;
	TAP_CHECK(exact, "%s: the caller's descriptors stay open after close", name);
}

int main(void)
{
	int fds[NFILES];
	char path[NFILES][32];

	srand(7);
	for (unsigned f = 0; f < NFILES; f++) {
		snprintf(path[f], sizeof(path[f]), "/tmp/sp-files-%u-XXXXXX", f);
		fds[f] = mkstemp(path[f]);
		for (unsigned i = 0; i < FSIZE; i++)
			content[f][i] = rand();
		if (fds[f] < 0 || pwrite(fds[f], content[f], FSIZE, 0) != FSIZE) {
			printf("Bail out! temporary files\n");
			return 1;
		}
		unlink(path[f]);
	}
	read_all("psync", fds, false);
	read_all("uring", fds, false);
	read_all("uring", fds, true);
	{
		/* a backend that opens one path does not take descriptors */
		struct sp_target_opts o = { .depth = 1, .buf_size = BS, .sq_cpu = -1,
					    .fds = fds, .nr_fds = NFILES };
		struct sp_target t;

		TAP_CHECK(sp_target_open(&t, sp_backend_find("sg"), &o, NULL) == -EINVAL,
			  "sg over descriptors refused: %s", t.err);
	}
	{
		/* psync: bytes 100-5099 of file 2 scattered over three pieces */
		struct sp_target_opts o = { .depth = 1, .buf_size = BS, .sq_cpu = -1,
					    .fds = fds, .nr_fds = NFILES };
		static unsigned char a[1000], b[3000], c[1000];
		struct iovec iov[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };
		struct sp_io io = { .op = SP_OP_READ, .offset = 100, .len = 5000, .file = 2,
				    .iov = iov, .nr_iov = 3 };
		struct sp_target t;
		int opened = sp_target_open(&t, sp_backend_find("psync"), &o, NULL);
		int ret = opened ? opened : do_io(&t, &io);

		TAP_CHECK(ret == 5000 && !memcmp(a, content[2] + 100, sizeof(a)) &&
			  !memcmp(b, content[2] + 1100, sizeof(b)) &&
			  !memcmp(c, content[2] + 4100, sizeof(c)),
			  "psync: one read scattered over an iovec, byte-exact (%d)", ret);
		if (!opened)
			sp_target_close(&t);
	}
	for (unsigned f = 0; f < NFILES; f++)
		close(fds[f]);
	return tap_done();
}
