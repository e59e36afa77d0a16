/* SPDX-License-Identifier: MIT */
/*
 * The version every tool reports (--version, and in every JSON document):
 * `git describe` of the tree it was built from, or the VERSION file of a
 * release tarball.
 */
#ifndef SP_VERSION_H
#define SP_VERSION_H

#include <stdio.h>

/* The getopt_long value of --version, the same in every tool. */
#define SP_OPT_VERSION 0x7ffe
#define SP_VERSION_LONGOPT { "version", 0, NULL, SP_OPT_VERSION }

const char *sp_version(void);
/* "NAME (shortpath) VERSION" on f, as --version prints it. */
void sp_version_print(FILE *f, const char *name);

#endif
