/* SPDX-License-Identifier: MIT */
/* sp-vfio check (vfio_check.c). */
#ifndef SP_VFIO_CHECK_H
#define SP_VFIO_CHECK_H

#include <stdbool.h>

/* Runs the check on the controller at arg; an exit status (0, 1, 2). */
int sp_vfio_cmd_check(const char *arg, unsigned cycles, bool json);

#endif
