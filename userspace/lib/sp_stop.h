/* SPDX-License-Identifier: MIT */
/*
 * Running until told to stop: SIGINT or SIGTERM ends the wait, and one
 * that arrives before the wait is not lost (the signals stay blocked
 * until sigsuspend takes them). For tools that attach something and hold
 * it until a wrapper or Ctrl-C says enough.
 */
#ifndef SP_STOP_H
#define SP_STOP_H

#include <stdbool.h>

/* Blocks SIGINT and SIGTERM and routes them to the stop flag. */
void sp_stop_block(void);
/* Routes SIGINT and SIGTERM to the stop flag without blocking them, for
 * a loop that polls sp_stop_requested() between waits of its own (a
 * signal then ends the wait under way with EINTR). */
void sp_stop_catch(void);
/* Whether SIGINT or SIGTERM came. */
bool sp_stop_requested(void);
/* Waits until one comes (at once when one came already), then restores
 * the signal mask sp_stop_block found. */
void sp_stop_wait(void);
/*
 * --ready-fd: one byte on fd ("ready") and the fd closed, so that a
 * wrapper waiting on it starts its work; nothing when fd < 0. A failed
 * write is a warning: the wrapper sees the end of the pipe all the same.
 */
void sp_ready_say(int fd);

#endif
