// SPDX-License-Identifier: MIT
#include <errno.h>
#include "sp_log.h"
#include "serve.h"

int sp_serve_xdp(struct server *s, atomic_bool *stop)
{
	sp_err("xdp mode: not built yet");
	return -EOPNOTSUPP;
}
