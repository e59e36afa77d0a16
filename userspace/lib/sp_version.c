// SPDX-License-Identifier: MIT
#include "sp_version.h"

#ifndef SP_VERSION
#define SP_VERSION "unknown"
#endif

const char *sp_version(void)
{
	return SP_VERSION;
}

void sp_version_print(FILE *f, const char *name)
{
	fprintf(f, "%s (shortpath) %s\n", name, SP_VERSION);
}
