// SPDX-License-Identifier: MIT
/* sp_stop: a SIGTERM sent before the wait ends it; the ready byte. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sp_stop.h"
#include "tap.h"

/* The child's exit status, or -1 when it had to be killed after 10 s. */
static int child_status(pid_t pid)
{
	int status = -1;

	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int main(void)
{
	int fds[2];
	char b = 0;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		sp_stop_block();
		kill(getpid(), SIGTERM);	/* before the wait: kept, not lost */
		if (sp_stop_requested())
			_exit(3);		/* delivered while blocked? */
		sp_stop_wait();
		_exit(sp_stop_requested() ? 0 : 4);
	}
	TAP_CHECK(child_status(pid) == 0, "a SIGTERM before the wait ends the wait");

	if (pipe(fds))
		return 1;
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		sp_stop_block();
		sp_ready_say(fds[1]);
		sp_stop_wait();
		_exit(0);
	}
	close(fds[1]);
	TAP_CHECK(read(fds[0], &b, 1) == 1 && b == '1', "the ready byte comes");
	kill(pid, SIGINT);
	TAP_CHECK(child_status(pid) == 0, "SIGINT after ready ends the wait");
	TAP_CHECK(read(fds[0], &b, 1) == 0, "and the ready fd was closed");

	/* a polling loop: the signal is caught as it comes, not held */
	pid = fork();
	if (pid == 0) {
		sp_stop_catch();
		for (int i = 0; i < 1000 && !sp_stop_requested(); i++)
			usleep(10000);
		_exit(sp_stop_requested() ? 0 : 5);
	}
	usleep(50000);
	kill(pid, SIGINT);
	TAP_CHECK(child_status(pid) == 0, "sp_stop_catch: a loop polling the flag sees SIGINT");
	return tap_done();
}
