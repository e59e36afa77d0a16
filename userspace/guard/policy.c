// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvme_spec.h"
#include "policy.h"
#include "sp_opts.h"

const char *const policy_class_names[GUARD_CLASSES] = { "io", "admin" };

static int parse_subject(const char *s, struct stmt *st, char *why, size_t len)
{
	uint64_t v;

	snprintf(st->subject, sizeof(st->subject), "%s", s);
	if (!strcmp(s, "all")) {
		st->kind = GUARD_SUBJ_ALL;
		st->id = 0;
	} else if (!strncmp(s, "uid:", 4) || !strncmp(s, "user:", 5)) {
		const char *v_s = strchr(s, ':') + 1;
		struct passwd *pw;

		st->kind = GUARD_SUBJ_UID;
		if (!sp_parse_u64(v_s, 0, UINT32_MAX - 1, &v)) {
			st->id = v;
		} else if ((pw = getpwnam(v_s))) {
			st->id = pw->pw_uid;
		} else {
			snprintf(why, len, "no user '%s'", v_s);
			return -EINVAL;
		}
	} else if (!strncmp(s, "gid:", 4) || !strncmp(s, "group:", 6)) {
		const char *v_s = strchr(s, ':') + 1;
		struct group *gr;

		st->kind = GUARD_SUBJ_GID;
		if (!sp_parse_u64(v_s, 0, UINT32_MAX - 1, &v)) {
			st->id = v;
		} else if ((gr = getgrnam(v_s))) {
			st->id = gr->gr_gid;
		} else {
			snprintf(why, len, "no group '%s'", v_s);
			return -EINVAL;
		}
	} else if (!strncmp(s, "cgroup:", 7) && s[7]) {
		st->kind = GUARD_SUBJ_CGROUP;	/* id when resolved */
	} else {
		snprintf(why, len, "unknown subject '%s' (all, uid:N, user:NAME, gid:N, "
			 "group:NAME or cgroup:PATH)", s);
		return -EINVAL;
	}
	return 0;
}

void policy_allow_set(struct guard_allow *a, int cls, unsigned op)
{
	a->op[cls][op >> 6] |= 1ULL << (op & 63);
}

bool policy_allow_has(const struct guard_allow *a, int cls, unsigned op)
{
	return a->op[cls][op >> 6] & (1ULL << (op & 63));
}

/* "io:read,write" or "admin:all" into st->allow. */
static int parse_grant(char *s, struct stmt *st, char *why, size_t len)
{
	char *colon = strchr(s, ':'), *save = NULL, *tok;
	int cls;

	if (!colon || colon[1] == '\0') {
		snprintf(why, len, "'%s' is not CLASS:OPCODES (io:read,write or admin:identify)", s);
		return -EINVAL;
	}
	*colon = '\0';
	if (!strcmp(s, "io")) {
		cls = GUARD_IO;
	} else if (!strcmp(s, "admin")) {
		cls = GUARD_ADMIN;
	} else {
		snprintf(why, len, "unknown command class '%s' (io or admin)", s);
		return -EINVAL;
	}
	for (tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int op;

		if (!strcmp(tok, "all")) {
			memset(st->allow.op[cls], 0xff, sizeof(st->allow.op[cls]));
			continue;
		}
		op = sp_nvme_opcode_parse(cls == GUARD_ADMIN, tok);
		if (op < 0) {
			snprintf(why, len, "unknown %s opcode '%s' (a name from --help, a number "
				 "0-255, or all)", policy_class_names[cls], tok);
			return -EINVAL;
		}
		policy_allow_set(&st->allow, cls, op);
	}
	return 0;
}

static int parse_line(char *line, struct stmt *st, char *why, size_t len)
{
	char *words[POLICY_MAX_WORDS], *save = NULL, *w;
	int n = 0, ret;

	for (w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == POLICY_MAX_WORDS) {
			snprintf(why, len, "more than %d words", POLICY_MAX_WORDS);
			return -EINVAL;
		}
		words[n++] = w;
	}
	if (!strcmp(words[0], "guard")) {
		if (n != 2) {
			snprintf(why, len, "expected: guard DEVICE");
			return -EINVAL;
		}
		st->guard_only = true;
		snprintf(st->device, sizeof(st->device), "%s", words[1]);
		return 0;
	}
	if (strcmp(words[0], "allow")) {
		snprintf(why, len, "unknown statement '%s' (allow or guard)", words[0]);
		return -EINVAL;
	}
	if (n < 4 || n > 5) {
		snprintf(why, len, "expected: allow SUBJECT DEVICE CLASS:OPCODES [CLASS:OPCODES]");
		return -EINVAL;
	}
	ret = parse_subject(words[1], st, why, len);
	if (ret)
		return ret;
	snprintf(st->device, sizeof(st->device), "%s", words[2]);
	for (int i = 3; i < n; i++) {
		ret = parse_grant(words[i], st, why, len);
		if (ret)
			return ret;
	}
	return 0;
}

int policy_parse(struct policy *p, const char *text, size_t len, char *why, size_t n)
{
	const char *name = p->file ? p->file : "policy";
	char line[POLICY_MAX_LINE + 1], err[200];
	size_t pos = 0;
	int lineno = 0, ret = 0;

	p->stmts = NULL;
	p->n_stmts = 0;
	if (len > POLICY_MAX_BYTES) {
		snprintf(why, n, "%s: larger than %u bytes: not a policy", name, POLICY_MAX_BYTES);
		return -E2BIG;
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = (nl ? (size_t)(nl - text) : len) - pos;
		char *s = line, *hash, *end;
		struct stmt *grown;

		lineno++;
		if (l > POLICY_MAX_LINE) {
			snprintf(why, n, "%s:%d: longer than %u bytes", name, lineno, POLICY_MAX_LINE);
			ret = -E2BIG;
			break;
		}
		memcpy(line, text + pos, l);
		line[l] = '\0';
		pos += l + 1;
		if (strlen(line) != l) {
			snprintf(why, n, "%s:%d: a NUL byte: not a text file", name, lineno);
			ret = -EINVAL;
			break;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		while (isspace((unsigned char)*s))
			s++;
		end = s + strlen(s);
		while (end > s && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (!*s)
			continue;
		grown = realloc(p->stmts, (p->n_stmts + 1) * sizeof(*p->stmts));
		if (!grown) {
			ret = -ENOMEM;
			snprintf(why, n, "%s: out of memory", name);
			break;
		}
		p->stmts = grown;
		memset(&p->stmts[p->n_stmts], 0, sizeof(*p->stmts));
		p->stmts[p->n_stmts].line = lineno;
		ret = parse_line(s, &p->stmts[p->n_stmts], err, sizeof(err));
		if (ret) {
			snprintf(why, n, "%s:%d: %s", name, lineno, err);
			break;
		}
		p->groups |= p->stmts[p->n_stmts].kind == GUARD_SUBJ_GID;
		p->cgroups |= p->stmts[p->n_stmts].kind == GUARD_SUBJ_CGROUP;
		p->n_stmts++;
	}
	if (!ret && !p->n_stmts) {
		snprintf(why, n, "%s: no rules (see --help for the format)", name);
		ret = -EINVAL;
	}
	if (ret)
		policy_stmts_free(p);
	return ret;
}

int policy_parse_file(struct policy *p, const char *file, char *why, size_t n)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC), ret;
	size_t cap = 0, len = 0;
	char *buf = NULL;

	if (fd < 0) {
		ret = -errno;
		snprintf(why, n, "cannot read the policy %s: %s", file, strerror(-ret));
		return ret;
	}
	/* read to a bound, whatever the file is (/dev/zero has no end) */
	for (;;) {
		ssize_t r;

		if (len == cap) {
			char *g;

			if (cap > POLICY_MAX_BYTES) {
				snprintf(why, n, "%s: larger than %u bytes: not a policy", file,
					 POLICY_MAX_BYTES);
				ret = -E2BIG;
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			g = realloc(buf, cap + 1);
			if (!g) {
				snprintf(why, n, "%s: out of memory", file);
				ret = -ENOMEM;
				goto out;
			}
			buf = g;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			snprintf(why, n, "cannot read the policy %s: %s", file, strerror(-ret));
			goto out;
		}
		if (!r)
			break;
		len += r;
	}
	p->file = file;
	ret = policy_parse(p, buf, len, why, n);
out:
	free(buf);
	close(fd);
	return ret;
}

void policy_stmts_free(struct policy *p)
{
	free(p->stmts);
	p->stmts = NULL;
	p->n_stmts = 0;
}
