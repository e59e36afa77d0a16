// SPDX-License-Identifier: MIT
/* sp-guard's policy text: statements, every error, hostile input. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_spec.h"
#include "../../userspace/guard/policy.h"
#include "tap.h"

static int parse(const char *text, struct policy *p, char *why, size_t n)
{
	memset(p, 0, sizeof(*p));
	p->file = "P";
	return policy_parse(p, text, strlen(text), why, n);
}

/* the error of one bad policy contains want */
static void bad(const char *text, const char *want)
{
	struct policy p;
	char why[256] = "", shown[41];
	int ret = parse(text, &p, why, sizeof(why));

	/* one TAP line: the text's line breaks shown as '|' */
	snprintf(shown, sizeof(shown), "%s", text);
	for (char *c = shown; *c; c++)
		if (*c == '\n')
			*c = '|';
	TAP_CHECK(ret < 0 && strstr(why, want), "refused: \"%s\" -> %s", shown, why);
	policy_stmts_free(&p);
}

int main(void)
{
	struct policy p;
	char why[256];
	int ret;

	ret = parse("# owner\n"
		    "allow uid:0 /dev/nvme0 io:all admin:all\n"
		    "\t allow gid:100   /dev/ng0n1 io:read,0x02 admin:identify  # readers\r\n"
		    "allow cgroup:/db /dev/ng0n1 io:write\n"
		    "guard /dev/nvme1\n"
		    "allow all /dev/nvme1n1 io:flush", &p, why, sizeof(why));
	TAP_CHECK(ret == 0 && p.n_stmts == 5, "five statements, comments and blanks skipped (%d: %s)",
		  p.n_stmts, ret ? why : "");
	TAP_CHECK(p.stmts[0].kind == GUARD_SUBJ_UID && p.stmts[0].id == 0 &&
		  policy_allow_has(&p.stmts[0].allow, GUARD_ADMIN, 0xc0) &&
		  policy_allow_has(&p.stmts[0].allow, GUARD_IO, 0xff), "all means every opcode");
	TAP_CHECK(p.stmts[1].kind == GUARD_SUBJ_GID && p.stmts[1].id == 100 && p.stmts[1].line == 3 &&
		  policy_allow_has(&p.stmts[1].allow, GUARD_IO, 0x02) &&
		  !policy_allow_has(&p.stmts[1].allow, GUARD_IO, 0x01) &&
		  policy_allow_has(&p.stmts[1].allow, GUARD_ADMIN, 0x06),
		  "names and numbers of opcodes, per class, with the line number");
	TAP_CHECK(!strcmp(p.stmts[1].device, "/dev/ng0n1"), "device as written");
	TAP_CHECK(p.stmts[2].kind == GUARD_SUBJ_CGROUP && p.cgroups && p.groups,
		  "a cgroup subject, looked up later; the kinds in use are noted");
	TAP_CHECK(p.stmts[3].guard_only && !strcmp(p.stmts[3].device, "/dev/nvme1"),
		  "guard DEVICE guards without allowing");
	policy_stmts_free(&p);

	bad("", "no rules");
	bad("# only a comment\n\n", "no rules");
	bad("deny uid:0 /dev/nvme0 io:all", "unknown statement 'deny'");
	bad("allow uid:0 /dev/nvme0", "expected: allow SUBJECT DEVICE");
	bad("allow uid:0 /dev/nvme0 io:read admin:all io:write", "expected: allow");
	bad("guard", "expected: guard DEVICE");
	bad("allow martian:1 /dev/nvme0 io:read", "unknown subject 'martian:1'");
	bad("allow user:no-such-user-here /dev/nvme0 io:read", "no user 'no-such-user-here'");
	bad("allow group:no-such-group-here /dev/nvme0 io:read", "no group");
	bad("allow uid:0 /dev/nvme0 io", "is not CLASS:OPCODES");
	bad("allow uid:0 /dev/nvme0 io:", "is not CLASS:OPCODES");
	bad("allow uid:0 /dev/nvme0 vendor:all", "unknown command class 'vendor'");
	bad("allow uid:0 /dev/nvme0 io:teleport", "unknown io opcode 'teleport'");
	bad("allow uid:0 /dev/nvme0 io:256", "unknown io opcode '256'");
	bad("allow all /dev/nvme0 io:read\nallow uid:0 /dev/nvme0 io:nope", "P:2:");
	bad("a b c d e f g h i j k l m n o p q", "more than 16 words");
	{
		/* hostile sizes and bytes */
		size_t big = POLICY_MAX_LINE + 10;
		char *line = malloc(big + 1);

		memset(line, 'a', big);
		line[big] = '\0';
		bad(line, "longer than 4096 bytes");
		free(line);
		line = calloc(1, POLICY_MAX_BYTES + 2);
		memset(line, '\n', POLICY_MAX_BYTES + 1);
		memset(&p, 0, sizeof(p));
		ret = policy_parse(&p, line, POLICY_MAX_BYTES + 1, why, sizeof(why));
		TAP_CHECK(ret == -E2BIG && strstr(why, "larger than"), "a text over 1 MiB: %s", why);
		free(line);
		memset(&p, 0, sizeof(p));
		ret = policy_parse(&p, "allow all /dev/x io:read\0 junk", 30, why, sizeof(why));
		TAP_CHECK(ret == -EINVAL && strstr(why, "NUL"), "a NUL byte: %s", why);
		memset(&p, 0, sizeof(p));
		ret = policy_parse_file(&p, "/nonexistent/policy", why, sizeof(why));
		TAP_CHECK(ret == -ENOENT && strstr(why, "/nonexistent/policy"), "a missing file: %s", why);
		memset(&p, 0, sizeof(p));
		ret = policy_parse_file(&p, "/dev/zero", why, sizeof(why));
		TAP_CHECK(ret == -E2BIG, "a file with no end stops at the bound: %s", why);
	}
	return tap_done();
}
