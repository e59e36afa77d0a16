// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "sp_log.h"
#include "sp_stop.h"

static volatile sig_atomic_t stop;
static sigset_t old_mask;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

void sp_stop_catch(void)
{
	struct sigaction sa = { .sa_handler = on_stop };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void sp_stop_block(void)
{
	sigset_t sigs;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, &old_mask);
	sp_stop_catch();
}

bool sp_stop_requested(void)
{
	return stop;
}

void sp_stop_wait(void)
{
	sigset_t wait = old_mask;

	/* a signal between the test of `stop` and a pause() would be
	 * missed: sigsuspend unblocks and waits in one step */
	sigdelset(&wait, SIGINT);
	sigdelset(&wait, SIGTERM);
	while (!stop)
		sigsuspend(&wait);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
}

void sp_ready_say(int fd)
{
	ssize_t n;

	if (fd < 0)
		return;
	/* a stop signal during the write is for the caller's loop, not a
	 * failure to say ready */
	do
		n = write(fd, "1", 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		sp_warn("--ready-fd %d: %s", fd, strerror(errno));
	close(fd);
}
