// SPDX-License-Identifier: MIT
/* The options every tool shares (sp_opt_common): --help, --version,
 * --json, --quiet, -v, and one line with exit 2 for anything else. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sp_log.h"
#include "sp_opts.h"
#include "tap.h"

static bool json, quiet;

static void usage(FILE *f)
{
	fprintf(f, "usage: tool\n");
}

static const struct sp_opt_common common = {
	.shortopts = "vb:h", .usage = usage, .json = &json, .quiet = &quiet,
};

/*
 * Runs getopt_long over args as a tool's main would, in a child process,
 * every option that is not -b going to sp_opt_common: the child's exit
 * status (sp_opt_common's exit, or 2 after a refusal, or 100 + the flags
 * --json, --quiet and -v left: 1, 2, 4), and what it wrote on stdout and
 * stderr into out.
 */
static int run(const char *args, char *out, size_t len)
{
	static const struct option longopts[] = {
		{ "bs", required_argument, NULL, 'b' },
		SP_OPT_COMMON_LONGOPTS,
		SP_OPT_VERBOSE_LONGOPT,
		SP_OPT_QUIET_LONGOPT,
		{ NULL, 0, NULL, 0 },
	};
	char buf[256], *argv[16];
	int argc = 0, opt, status = -1;
	FILE *cap = tmpfile();
	size_t n;
	pid_t pid;

	snprintf(buf, sizeof(buf), "tool %s", args);
	for (char *s = strtok(buf, " "); s && argc < 15; s = strtok(NULL, " "))
		argv[argc++] = s;
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		dup2(fileno(cap), 1);
		dup2(fileno(cap), 2);
		optind = 0;	/* a fresh scan */
		opterr = 0;
		while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1)
			if (opt != 'b' && sp_opt_common(&common, opt, argv))
				_exit(2);
		fflush(stdout);
		_exit(100 + json + 2 * quiet + 4 * sp_log_enabled(SP_LOG_DEBUG));
	}
	waitpid(pid, &status, 0);
	rewind(cap);
	n = fread(out, 1, len - 1, cap);
	out[n] = '\0';
	fclose(cap);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

int main(void)
{
	char out[1024];

	sp_log_init("tool", SP_LOG_NOTICE);
	TAP_CHECK(run("--help", out, sizeof(out)) == 0 && !strcmp(out, "usage: tool\n"),
		  "--help prints the usage on stdout, exit 0");
	TAP_CHECK(run("-h --bogus", out, sizeof(out)) == 0 && !strcmp(out, "usage: tool\n"),
		  "-h too, before anything else is looked at");
	TAP_CHECK(run("--version", out, sizeof(out)) == 0 && strstr(out, "tool (shortpath) ") &&
		  lines(out) == 1, "--version: 'NAME (shortpath) VERSION', exit 0");
	TAP_CHECK(run("--bs 4k", out, sizeof(out)) == 100 && !out[0], "no flags by default");
	TAP_CHECK(run("--json --bs 4k", out, sizeof(out)) == 101 && !out[0],
		  "--json sets the flag and parsing goes on");
	TAP_CHECK(run("--quiet", out, sizeof(out)) == 102, "--quiet sets its flag");
	TAP_CHECK(run("-v", out, sizeof(out)) == 104, "-v: debug lines");
	TAP_CHECK(run("--verbose --json", out, sizeof(out)) == 105, "--verbose too");
	TAP_CHECK(run("--bogus", out, sizeof(out)) == 2 && lines(out) == 1 &&
		  strstr(out, "unknown option '--bogus'") && strstr(out, "tool: "),
		  "unknown long option: one line naming it, exit 2");
	TAP_CHECK(run("-x", out, sizeof(out)) == 2 && lines(out) == 1 &&
		  strstr(out, "unknown option '-x'"), "unknown short option: one line, exit 2");
	TAP_CHECK(run("--bs", out, sizeof(out)) == 2 && lines(out) == 1 &&
		  strstr(out, "option '--bs' needs a value"), "a missing value: one line, exit 2");
	TAP_CHECK(run("-b", out, sizeof(out)) == 2 && strstr(out, "option '-b' needs a value"),
		  "a missing short value too");
	{
		const struct sp_opt_common bare = { .shortopts = "" };
		char *argv[] = { "tool", "--json", NULL };
		int save = dup(2), null = open("/dev/null", O_WRONLY);

		optind = 2;
		optopt = 0;
		fflush(stderr);
		dup2(null, 2);
		TAP_CHECK(sp_opt_common(&bare, SP_OPT_JSON, argv) == -EINVAL &&
			  sp_opt_common(&bare, 'q', argv) == -EINVAL,
			  "a tool without --json or --quiet refuses them");
		dup2(save, 2);
		close(save);
		close(null);
	}
	return tap_done();
}
