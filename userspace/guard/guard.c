// SPDX-License-Identifier: MIT
/*
 * sp-guard: which NVMe passthrough commands a uid, a group or a cgroup
 * may send to which device, enforced by the BPF LSM programs of
 * bpf/guard.bpf.c on both ways in (io_uring uring_cmd and ioctl), from
 * a small policy file. Shows each refusal as it happens and the counts
 * when it is stopped; stopping it removes every program.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <linux/nvme_ioctl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "guard.skel.h"
#include "nvme_spec.h"
#include "sp_bpf.h"
#include "sp_sysfs.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"

_Static_assert(GUARD_NVME_IOCTL_ADMIN_CMD == NVME_IOCTL_ADMIN_CMD, "nvme_ioctl.h");
_Static_assert(GUARD_NVME_IOCTL_SUBMIT_IO == NVME_IOCTL_SUBMIT_IO, "nvme_ioctl.h");
_Static_assert(GUARD_NVME_IOCTL_IO_CMD == NVME_IOCTL_IO_CMD, "nvme_ioctl.h");
_Static_assert(GUARD_NVME_IOCTL_ADMIN64_CMD == NVME_IOCTL_ADMIN64_CMD, "nvme_ioctl.h");
_Static_assert(GUARD_NVME_IOCTL_IO64_CMD == NVME_IOCTL_IO64_CMD, "nvme_ioctl.h");
_Static_assert(GUARD_NVME_URING_CMD_IO == NVME_URING_CMD_IO, "nvme_ioctl.h");
_Static_assert(GUARD_NVME_URING_CMD_ADMIN_VEC == NVME_URING_CMD_ADMIN_VEC, "nvme_ioctl.h");

#define CGROUP2_SUPER_MAGIC 0x63677270
#define MAX_NODES 256

static const char *const path_names[GUARD_PATHS] = { "io_uring", "ioctl" };
static const char *const class_names[GUARD_CLASSES] = { "io", "admin" };

/* One line of the policy, before its device and cgroup are looked up. */
struct stmt {
	int line;
	bool guard_only;	/* "guard DEVICE" */
	enum guard_subject kind;
	uint64_t id;
	char subject[96];	/* as written: "uid:1000", "cgroup:/db" */
	char device[PATH_MAX];
	struct guard_allow allow;
};

/* A device node of a guarded controller. */
struct node {
	uint32_t dev;		/* kernel dev_t */
	char name[32];		/* "nvme0", "nvme0n1", "ng0n1" */
	bool block;
};

struct rule {
	struct guard_rule_key key;
	struct guard_allow allow;
	const struct stmt *from;
};

struct policy {
	const char *file;
	struct stmt *stmts;
	int n_stmts;
	bool groups, cgroups;	/* subject kinds in use */
	/* after resolve() */
	struct node nodes[MAX_NODES];
	int n_nodes;
	struct rule *rules;
	int n_rules;
};

struct config {
	const char *policy;
	bool check, json, stats;
};

/* ------------------------------------------------------------ policy text */

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

static void allow_set(struct guard_allow *a, int cls, unsigned op)
{
	a->op[cls][op >> 6] |= 1ULL << (op & 63);
}

static bool allow_has(const struct guard_allow *a, int cls, unsigned op)
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
				 "0-255, or all)", class_names[cls], tok);
			return -EINVAL;
		}
		allow_set(&st->allow, cls, op);
	}
	return 0;
}

static int parse_line(char *line, struct stmt *st, char *why, size_t len)
{
	char *words[16], *save = NULL, *w;
	int n = 0, ret;

	for (w = strtok_r(line, " \t", &save); w && n < 16; w = strtok_r(NULL, " \t", &save))
		words[n++] = w;
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

/* Reads the policy's syntax; devices and cgroups are looked up later. */
static int policy_read(struct policy *p, const char *file)
{
	char *line = NULL, why[256];
	size_t cap = 0;
	int lineno = 0, ret = 0;
	FILE *f = fopen(file, "r");

	memset(p, 0, sizeof(*p));
	p->file = file;
	if (!f) {
		ret = -errno;
		sp_err("cannot read the policy %s: %s", file, strerror(-ret));
		return ret;
	}
	while (getline(&line, &cap, f) > 0) {
		char *s = line, *hash = strchr(line, '#'), *end;
		struct stmt *grown;

		lineno++;
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
			break;
		}
		p->stmts = grown;
		memset(&p->stmts[p->n_stmts], 0, sizeof(*p->stmts));
		p->stmts[p->n_stmts].line = lineno;
		ret = parse_line(s, &p->stmts[p->n_stmts], why, sizeof(why));
		if (ret) {
			sp_err("%s:%d: %s", file, lineno, why);
			break;
		}
		p->groups |= p->stmts[p->n_stmts].kind == GUARD_SUBJ_GID;
		p->cgroups |= p->stmts[p->n_stmts].kind == GUARD_SUBJ_CGROUP;
		p->n_stmts++;
	}
	free(line);
	fclose(f);
	if (!ret && !p->n_stmts) {
		sp_err("%s: no rules (see --help for the format)", file);
		ret = -EINVAL;
	}
	return ret;
}

/* ------------------------------------------------------------ devices */

static int read_devnum(const char *sysdir, const char *name, uint32_t *dev)
{
	char path[PATH_MAX], text[32];
	unsigned ma, mi;
	int ret;

	snprintf(path, sizeof(path), "%s/%s/dev", sysdir, name);
	ret = sp_read_text_file(path, text, sizeof(text));
	if (ret)
		return ret;
	if (sscanf(text, "%u:%u", &ma, &mi) != 2)
		return -EIO;
	*dev = ma << 20 | mi;
	return 0;
}

static int add_node(struct policy *p, const char *sysdir, const char *name, bool block)
{
	struct node *n;
	uint32_t dev;

	if (read_devnum(sysdir, name, &dev))
		return 0;	/* no device node: nothing to guard */
	for (int i = 0; i < p->n_nodes; i++)
		if (p->nodes[i].dev == dev)
			return 0;
	if (p->n_nodes == MAX_NODES)
		return -ENOSPC;
	n = &p->nodes[p->n_nodes++];
	n->dev = dev;
	n->block = block;
	snprintf(n->name, sizeof(n->name), "%s", name);
	return 0;
}

/* Whether name is prefix followed by a digit ("nvme0n" + "1..."). */
static bool starts_ns(const char *name, const char *prefix)
{
	size_t l = strlen(prefix);

	return !strncmp(name, prefix, l) && isdigit((unsigned char)name[l]);
}

/*
 * Every node that reaches controller ctrl (its number): the controller's
 * char device, and each namespace's block devices (with partitions) and
 * generic char device. All of them get guarded, so that naming one
 * leaves no way around through another.
 */
static int add_controller(struct policy *p, unsigned ctrl)
{
	static const struct { const char *dir, *fmt; bool block; } where[] = {
		{ "/sys/class/block", "nvme%un", true },
		{ "/sys/class/nvme-generic", "ng%un", false },
	};
	char name[32];
	int ret;

	snprintf(name, sizeof(name), "nvme%u", ctrl);
	ret = add_node(p, "/sys/class/nvme", name, false);
	for (size_t w = 0; !ret && w < sizeof(where) / sizeof(where[0]); w++) {
		DIR *d = opendir(where[w].dir);
		struct dirent *de;
		char prefix[32];

		if (!d)
			continue;
		snprintf(prefix, sizeof(prefix), where[w].fmt, ctrl);
		while (!ret && (de = readdir(d)))
			if (starts_ns(de->d_name, prefix))
				ret = add_node(p, where[w].dir, de->d_name, where[w].block);
		closedir(d);
	}
	return ret;
}

/*
 * What a policy's DEVICE names: a controller (nvme0) or a namespace
 * (nvme0n1, its partitions, or ng0n1, all the same namespace). Sets
 * *ctrl and ns ("0n1", or "" for the controller).
 */
static int classify(const char *path, unsigned *ctrl, char *ns, size_t len,
		    char *why, size_t wlen)
{
	char name[64], sys[128];
	struct stat st;
	unsigned c, n;
	int used = 0;

	if (stat(path, &st)) {
		snprintf(why, wlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if ((S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) &&
	    !sp_dev_kernel_name(&st, name, sizeof(name))) {
		snprintf(sys, sizeof(sys), "/sys/class/nvme/%s", name);
		if (S_ISCHR(st.st_mode) && !access(sys, F_OK) &&
		    sscanf(name, "nvme%u%n", &c, &used) == 1 && !name[used]) {
			*ctrl = c;
			ns[0] = '\0';
			return 0;
		}
		snprintf(sys, sizeof(sys), "/sys/class/nvme-generic/%s", name);
		if ((S_ISCHR(st.st_mode) && !access(sys, F_OK) &&
		     sscanf(name, "ng%un%u%n", &c, &n, &used) == 2 && !name[used]) ||
		    (S_ISBLK(st.st_mode) &&
		     sscanf(name, "nvme%un%u%n", &c, &n, &used) == 2 &&
		     (!name[used] || name[used] == 'p'))) {
			*ctrl = c;
			snprintf(ns, len, "%un%u", c, n);
			return 0;
		}
	}
	snprintf(why, wlen, "%s is not an NVMe controller or namespace node "
		 "(/dev/nvmeX, /dev/nvmeXnY or /dev/ngXnY)", path);
	return -ENODEV;
}

/* Whether node belongs to namespace ns ("0n1"), or to the controller. */
static bool node_is(const struct node *nd, unsigned ctrl, const char *ns)
{
	char want[40];
	size_t l;

	if (!ns[0]) {
		snprintf(want, sizeof(want), "nvme%u", ctrl);
		return !strcmp(nd->name, want);
	}
	snprintf(want, sizeof(want), nd->block ? "nvme%s" : "ng%s", ns);
	l = strlen(want);
	return !strncmp(nd->name, want, l) &&
	       (!nd->name[l] || (nd->block && nd->name[l] == 'p'));
}

static int add_rule(struct policy *p, uint32_t dev, const struct stmt *st)
{
	struct guard_rule_key key = { .dev = dev, .kind = st->kind, .id = st->id };
	struct rule *grown;

	for (int i = 0; i < p->n_rules; i++) {
		struct rule *r = &p->rules[i];

		if (!memcmp(&r->key, &key, sizeof(key))) {
			for (int c = 0; c < GUARD_CLASSES; c++)
				for (int w = 0; w < 4; w++)
					r->allow.op[c][w] |= st->allow.op[c][w];
			return 0;
		}
	}
	grown = realloc(p->rules, (p->n_rules + 1) * sizeof(*p->rules));
	if (!grown)
		return -ENOMEM;
	p->rules = grown;
	p->rules[p->n_rules++] = (struct rule){ .key = key, .allow = st->allow, .from = st };
	return 0;
}

static int resolve_cgroup(struct stmt *st, char *why, size_t len)
{
	const char *rel = st->subject + 7;
	char path[PATH_MAX];
	struct statfs sfs;
	struct stat sb;

	/* cgroup:/db and cgroup:/sys/fs/cgroup/db are the same cgroup */
	if (!strncmp(rel, "/sys/fs/cgroup", 14))
		snprintf(path, sizeof(path), "%s", rel);
	else
		snprintf(path, sizeof(path), "/sys/fs/cgroup%s%s", rel[0] == '/' ? "" : "/", rel);
	if (stat(path, &sb) || !S_ISDIR(sb.st_mode) || statfs(path, &sfs) ||
	    sfs.f_type != CGROUP2_SUPER_MAGIC) {
		snprintf(why, len, "%s is not a cgroup v2 directory", path);
		return -ENOENT;
	}
	st->id = sb.st_ino;	/* a cgroup v2 id is its directory's inode number */
	return 0;
}

/* Looks up every device and cgroup of the policy and builds the rules. */
static int policy_resolve(struct policy *p)
{
	char why[PATH_MAX + 128], ns[32];

	for (int i = 0; i < p->n_stmts; i++) {
		struct stmt *st = &p->stmts[i];
		unsigned ctrl = 0;
		int ret;

		ret = classify(st->device, &ctrl, ns, sizeof(ns), why, sizeof(why));
		if (!ret && st->kind == GUARD_SUBJ_CGROUP && !st->guard_only)
			ret = resolve_cgroup(st, why, sizeof(why));
		if (ret) {
			sp_err("%s:%d: %s", p->file, st->line, why);
			return ret;
		}
		ret = add_controller(p, ctrl);
		if (ret) {
			sp_err("%s:%d: more than %d device nodes", p->file, st->line, MAX_NODES);
			return ret;
		}
		for (int n = 0; !st->guard_only && n < p->n_nodes; n++) {
			if (!node_is(&p->nodes[n], ctrl, ns))
				continue;
			ret = add_rule(p, p->nodes[n].dev, st);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static void policy_free(struct policy *p)
{
	free(p->stmts);
	free(p->rules);
}

static const char *node_name(const struct policy *p, uint32_t dev, char *buf, size_t len)
{
	for (int i = 0; i < p->n_nodes; i++)
		if (p->nodes[i].dev == dev)
			return p->nodes[i].name;
	snprintf(buf, len, "%u:%u", dev >> 20, dev & 0xfffff);
	return buf;
}

static const char *opcode_str(int cls, unsigned op, char *buf, size_t len)
{
	const char *name = sp_nvme_opcode_name(cls == GUARD_ADMIN, op);

	snprintf(buf, len, "0x%02x%s%s", op, name ? " " : "", name ? name : "");
	return buf;
}

/* "read,write" or "all" or "-": what an allow set grants in a class. */
static void grant_str(const struct guard_allow *a, int cls, char *buf, size_t len)
{
	size_t off = 0;
	int n = 0;

	for (unsigned op = 0; op < 256; op++)
		n += allow_has(a, cls, op);
	if (n == 256 || !n) {
		snprintf(buf, len, "%s", n ? "all" : "-");
		return;
	}
	buf[0] = '\0';
	for (unsigned op = 0; op < 256 && off < len; op++) {
		const char *name;
		char num[8];

		if (!allow_has(a, cls, op))
			continue;
		name = sp_nvme_opcode_name(cls == GUARD_ADMIN, op);
		if (!name) {
			snprintf(num, sizeof(num), "0x%02x", op);
			name = num;
		}
		off += snprintf(buf + off, len - off, "%s%s", off ? "," : "", name);
	}
}

static void policy_print(const struct policy *p, bool json)
{
	char buf[2048];

	if (json) {
		json_object *root = json_object_new_object();
		json_object *nodes = json_object_new_array(), *rules = json_object_new_array();

		json_object_object_add(root, "schema", json_object_new_string("shortpath.guard-policy/1"));
		for (int i = 0; i < p->n_nodes; i++) {
			json_object *o = json_object_new_object();

			snprintf(buf, sizeof(buf), "%u:%u", p->nodes[i].dev >> 20,
				 p->nodes[i].dev & 0xfffff);
			json_object_object_add(o, "device", json_object_new_string(p->nodes[i].name));
			json_object_object_add(o, "dev", json_object_new_string(buf));
			json_object_array_add(nodes, o);
		}
		for (int i = 0; i < p->n_rules; i++) {
			const struct rule *r = &p->rules[i];
			json_object *o = json_object_new_object();

			json_object_object_add(o, "device", json_object_new_string(
				node_name(p, r->key.dev, buf, sizeof(buf))));
			json_object_object_add(o, "subject", json_object_new_string(r->from->subject));
			for (int c = 0; c < GUARD_CLASSES; c++) {
				json_object *ops = json_object_new_array();

				for (unsigned op = 0; op < 256; op++)
					if (allow_has(&r->allow, c, op))
						json_object_array_add(ops, json_object_new_int(op));
				json_object_object_add(o, class_names[c], ops);
			}
			json_object_array_add(rules, o);
		}
		json_object_object_add(root, "guarded", nodes);
		json_object_object_add(root, "rules", rules);
		sp_json_print_and_free(root);
		return;
	}
	printf("guarded nodes:");
	for (int i = 0; i < p->n_nodes; i++)
		printf(" %s", p->nodes[i].name);
	printf("\n%-10s %-24s %-24s %s\n", "DEVICE", "SUBJECT", "IO", "ADMIN");
	for (int i = 0; i < p->n_rules; i++) {
		const struct rule *r = &p->rules[i];
		char io[1024], admin[1024];

		grant_str(&r->allow, GUARD_IO, io, sizeof(io));
		grant_str(&r->allow, GUARD_ADMIN, admin, sizeof(admin));
		printf("%-10s %-24s %-24s %s\n", node_name(p, r->key.dev, buf, sizeof(buf)),
		       r->from->subject, io, admin);
	}
	printf("anything else sent to a guarded node is refused (EPERM)\n");
}

/* ------------------------------------------------------------ denials */

struct tally {
	uint32_t uid, dev;
	uint8_t path, class, opcode;
	uint64_t count;
};

struct monitor {
	const struct config *c;
	const struct policy *p;
	struct tally *t;
	int n;
	uint64_t events;
};

static void tally_add(struct monitor *m, const struct guard_event *e)
{
	struct tally *grown;

	m->events++;
	for (int i = 0; i < m->n; i++) {
		struct tally *t = &m->t[i];

		if (t->uid == e->uid && t->dev == e->dev && t->path == e->path &&
		    t->class == e->class && t->opcode == e->opcode) {
			t->count++;
			return;
		}
	}
	grown = realloc(m->t, (m->n + 1) * sizeof(*m->t));
	if (!grown)
		return;
	m->t = grown;
	m->t[m->n++] = (struct tally){ .uid = e->uid, .dev = e->dev, .path = e->path,
				       .class = e->class, .opcode = e->opcode, .count = 1 };
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct monitor *m = ctx;
	const struct guard_event *e = data;
	char dbuf[32], obuf[64], comm[17];
	unsigned path = e->path % GUARD_PATHS, cls = e->class % GUARD_CLASSES;

	if (size < sizeof(*e))
		return 0;
	tally_add(m, e);
	snprintf(comm, sizeof(comm), "%.16s", e->comm);
	if (m->c->json) {
		json_object *o = json_object_new_object();
		const char *name = sp_nvme_opcode_name(cls == GUARD_ADMIN, e->opcode);

		snprintf(dbuf, sizeof(dbuf), "0x%08x", e->cmd);
		json_object_object_add(o, "event", json_object_new_string("deny"));
		json_object_object_add(o, "ts_ns", sp_json_u64(e->ts_ns));
		json_object_object_add(o, "pid", sp_json_u64(e->pid));
		json_object_object_add(o, "tid", sp_json_u64(e->tid));
		json_object_object_add(o, "comm", json_object_new_string(comm));
		json_object_object_add(o, "uid", sp_json_u64(e->uid));
		json_object_object_add(o, "gid", sp_json_u64(e->gid));
		json_object_object_add(o, "cgroup", sp_json_u64(e->cgroup));
		json_object_object_add(o, "path", json_object_new_string(path_names[path]));
		json_object_object_add(o, "cmd", json_object_new_string(dbuf));
		json_object_object_add(o, "device", json_object_new_string(
			node_name(m->p, e->dev, dbuf, sizeof(dbuf))));
		json_object_object_add(o, "class", json_object_new_string(class_names[cls]));
		json_object_object_add(o, "opcode", json_object_new_int(e->opcode));
		json_object_object_add(o, "opcode_name", name ? json_object_new_string(name) : NULL);
		json_object_object_add(o, "nsid", sp_json_u64(e->nsid));
		sp_json_print_line_and_free(o);
		return 0;
	}
	{
		time_t now = time(NULL);
		struct tm tm;
		char hms[16];

		localtime_r(&now, &tm);
		strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
		printf("%-8s %-7u %-16s %-6u %-8s %-8s %-5s %s\n", hms, e->pid, comm, e->uid,
		       node_name(m->p, e->dev, dbuf, sizeof(dbuf)), path_names[path],
		       class_names[cls], opcode_str(cls, e->opcode, obuf, sizeof(obuf)));
		fflush(stdout);
	}
	return 0;
}

/* Sums of the per-CPU counters: [path][class], and lost events. */
static int read_counts(struct guard_bpf *skel, struct guard_counts sum[GUARD_PATHS][GUARD_CLASSES],
		       uint64_t *lost)
{
	int ncpu = libbpf_num_possible_cpus();
	struct guard_counts *per;
	uint64_t *l;
	uint32_t zero = 0;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	per = calloc(ncpu, sizeof(*per));
	l = calloc(ncpu, sizeof(*l));
	if (!per || !l) {
		free(per);
		free(l);
		return -ENOMEM;
	}
	memset(sum, 0, sizeof(struct guard_counts) * GUARD_PATHS * GUARD_CLASSES);
	for (uint32_t k = 0; k < GUARD_PATHS * GUARD_CLASSES; k++) {
		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &k, per))
			continue;
		for (int i = 0; i < ncpu; i++) {
			sum[k / GUARD_CLASSES][k % GUARD_CLASSES].checked += per[i].checked;
			sum[k / GUARD_CLASSES][k % GUARD_CLASSES].denied += per[i].denied;
		}
	}
	*lost = 0;
	if (!bpf_map_lookup_elem(bpf_map__fd(skel->maps.lost), &zero, l))
		for (int i = 0; i < ncpu; i++)
			*lost += l[i];
	free(per);
	free(l);
	return 0;
}

static void summary(struct guard_bpf *skel, const struct monitor *m)
{
	struct guard_counts sum[GUARD_PATHS][GUARD_CLASSES];
	uint64_t lost = 0, checked = 0, denied = 0;
	struct bpf_program *prog;
	char dbuf[32], obuf[64];

	if (read_counts(skel, sum, &lost))
		memset(sum, 0, sizeof(sum));
	for (int p = 0; p < GUARD_PATHS; p++)
		for (int c = 0; c < GUARD_CLASSES; c++) {
			checked += sum[p][c].checked;
			denied += sum[p][c].denied;
		}
	if (m->c->json) {
		json_object *root = json_object_new_object();
		json_object *by = json_object_new_object(), *arr = json_object_new_array();

		json_object_object_add(root, "event", json_object_new_string("summary"));
		json_object_object_add(root, "schema", json_object_new_string("shortpath.guard/1"));
		json_object_object_add(root, "checked", sp_json_u64(checked));
		json_object_object_add(root, "denied", sp_json_u64(denied));
		json_object_object_add(root, "lost_events", sp_json_u64(lost));
		for (int p = 0; p < GUARD_PATHS; p++) {
			json_object *po = json_object_new_object();

			for (int c = 0; c < GUARD_CLASSES; c++) {
				json_object *co = json_object_new_object();

				json_object_object_add(co, "checked", sp_json_u64(sum[p][c].checked));
				json_object_object_add(co, "denied", sp_json_u64(sum[p][c].denied));
				json_object_object_add(po, class_names[c], co);
			}
			json_object_object_add(by, path_names[p], po);
		}
		json_object_object_add(root, "by_path", by);
		for (int i = 0; i < m->n; i++) {
			const struct tally *t = &m->t[i];
			const char *name = sp_nvme_opcode_name(t->class == GUARD_ADMIN, t->opcode);
			json_object *o = json_object_new_object();

			json_object_object_add(o, "uid", sp_json_u64(t->uid));
			json_object_object_add(o, "device", json_object_new_string(
				node_name(m->p, t->dev, dbuf, sizeof(dbuf))));
			json_object_object_add(o, "path", json_object_new_string(path_names[t->path % GUARD_PATHS]));
			json_object_object_add(o, "class", json_object_new_string(class_names[t->class % GUARD_CLASSES]));
			json_object_object_add(o, "opcode", json_object_new_int(t->opcode));
			json_object_object_add(o, "opcode_name", name ? json_object_new_string(name) : NULL);
			json_object_object_add(o, "count", sp_json_u64(t->count));
			json_object_array_add(arr, o);
		}
		json_object_object_add(root, "denials", arr);
		if (m->c->stats) {
			arr = json_object_new_array();
			bpf_object__for_each_program(prog, skel->obj) {
				struct bpf_prog_info info = {};
				__u32 len = sizeof(info);
				json_object *o;

				if (bpf_program__fd(prog) < 0 ||
				    bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
					continue;
				o = json_object_new_object();
				json_object_object_add(o, "name", json_object_new_string(bpf_program__name(prog)));
				json_object_object_add(o, "runs", sp_json_u64(info.run_cnt));
				json_object_object_add(o, "run_ns", sp_json_u64(info.run_time_ns));
				json_object_object_add(o, "ns_per_run", sp_json_dbl(info.run_cnt ?
					(double)info.run_time_ns / info.run_cnt : 0));
				json_object_array_add(arr, o);
			}
			json_object_object_add(root, "programs", arr);
		}
		sp_json_print_line_and_free(root);
		return;
	}
	printf("\n%llu of %llu passthrough commands to guarded nodes denied",
	       (unsigned long long)denied, (unsigned long long)checked);
	for (int p = 0; p < GUARD_PATHS; p++)
		printf("%s%s %llu/%llu", p ? ", " : " (", path_names[p],
		       (unsigned long long)(sum[p][0].denied + sum[p][1].denied),
		       (unsigned long long)(sum[p][0].checked + sum[p][1].checked));
	printf(")\n");
	if (lost)
		printf("%llu denials not shown: the event ring was full\n", (unsigned long long)lost);
	if (m->n) {
		printf("%8s %-6s %-8s %-8s %-5s %s\n", "COUNT", "UID", "DEVICE", "PATH", "CLASS", "OPCODE");
		for (int i = 0; i < m->n; i++) {
			const struct tally *t = &m->t[i];

			printf("%8llu %-6u %-8s %-8s %-5s %s\n", (unsigned long long)t->count, t->uid,
			       node_name(m->p, t->dev, dbuf, sizeof(dbuf)),
			       path_names[t->path % GUARD_PATHS], class_names[t->class % GUARD_CLASSES],
			       opcode_str(t->class % GUARD_CLASSES, t->opcode, obuf, sizeof(obuf)));
		}
	}
	if (m->c->stats) {
		bpf_object__for_each_program(prog, skel->obj) {
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);

			if (bpf_program__fd(prog) < 0 ||
			    bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
				continue;
			printf("%-20s %llu runs, %.0f ns per run\n", bpf_program__name(prog),
			       (unsigned long long)info.run_cnt,
			       info.run_cnt ? (double)info.run_time_ns / info.run_cnt : 0.0);
		}
	}
	fflush(stdout);
}

/* ------------------------------------------------------------ main */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

/* Words of list, indented, in lines of at most 76 columns. */
static void wrap(char *list, char *out, size_t len)
{
	char *save = NULL, *w;
	size_t off = 0, col = 0;

	out[0] = '\0';
	for (w = strtok_r(list, " ", &save); w && off < len; w = strtok_r(NULL, " ", &save)) {
		if (col && col + 1 + strlen(w) > 76) {
			off += snprintf(out + off, len - off, "\n        ");
			col = 8;
		} else if (col) {
			off += snprintf(out + off, len - off, " ");
			col++;
		} else {
			col = 9;
		}
		off += snprintf(out + off, len - off, "%s", w);
		col += strlen(w);
	}
}

static void usage(FILE *f)
{
	char list[1024], io[1200], admin[1200];

	sp_nvme_opcode_list(false, list, sizeof(list));
	wrap(list, io, sizeof(io));
	sp_nvme_opcode_list(true, list, sizeof(list));
	wrap(list, admin, sizeof(admin));
	fprintf(f,
"Usage: sp-guard [OPTIONS] POLICY\n"
"\n"
"Enforce POLICY on NVMe passthrough commands (io_uring uring_cmd and the\n"
"NVMe ioctls) with BPF LSM programs until SIGINT or SIGTERM, showing every\n"
"refused command as it happens and the counts at the end. Stopping it\n"
"removes the programs: everything is allowed again.\n"
"\n"
"POLICY is a text file, one statement a line, '#' starts a comment:\n"
"  allow SUBJECT DEVICE CLASS:OPCODES [CLASS:OPCODES]\n"
"  guard DEVICE\n"
"SUBJECT: all, uid:N, user:NAME, gid:N, group:NAME (effective or\n"
"supplementary), cgroup:PATH (that cgroup v2 and everything below it).\n"
"DEVICE: /dev/nvmeX (controller) or /dev/nvmeXnY, /dev/ngXnY (namespace:\n"
"either names both). Every node of a controller named anywhere is\n"
"guarded; on a guarded node whatever no rule allows is refused (EPERM).\n"
"CLASS: io or admin; OPCODES: comma-separated names, numbers, or all.\n"
"  io:    %s\n"
"  admin: %s\n"
"\n"
"  -c, --check     check POLICY and show what it allows; load nothing\n"
"      --stats     also count the programs' run time (kernel.bpf_stats)\n"
"      --json      one JSON document a line: each denial, then a summary\n"
"  -v, --verbose   libbpf's messages\n"
"  -h, --help      this text\n"
"\n"
"Example policy:\n"
"  allow uid:0     /dev/nvme0   io:all admin:all   # the owner\n"
"  allow uid:0     /dev/ng0n1   io:all\n"
"  allow group:disk /dev/ng0n1  io:read,flush admin:identify\n"
"Examples:\n"
"  sp-guard --check /etc/shortpath/guard.policy\n"
"  sp-guard /etc/shortpath/guard.policy            # Ctrl-C to remove\n"
"  sp-guard --json guard.policy > denials.jsonl &\n"
"\n"
"Exit status: 0 ok, 1 runtime failure, 2 bad usage or policy, or no BPF\n"
"LSM on this kernel (one line says which).\n", io, admin);
}

static int parse(int argc, char **argv, struct config *c)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "stats", no_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'J' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(c, 0, sizeof(*c));
	while ((opt = getopt_long(argc, argv, "cvh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': c->check = true; break;
		case 'S': c->stats = true; break;
		case 'J': c->json = true; break;
		case 'v': sp_log_set_level(SP_LOG_DEBUG); break;
		case 'h':
			usage(stdout);
			exit(SP_EXIT_OK);
		default:
			sp_err("bad usage; see --help");
			return -EINVAL;
		}
	}
	if (optind >= argc) {
		sp_err("no POLICY file; see --help");
		return -EINVAL;
	}
	c->policy = argv[optind++];
	if (optind < argc) {
		sp_err("unexpected argument '%s'; see --help", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Whether this kernel has an LSM hook (bpf_lsm_NAME in its BTF). */
static bool have_lsm_hook(const char *name)
{
	const struct btf *btf = sp_vmlinux_btf();
	char fn[64];

	if (!btf)
		return false;
	snprintf(fn, sizeof(fn), "bpf_lsm_%s", name);
	return btf__find_by_name_kind(btf, fn, BTF_KIND_FUNC) > 0;
}

static int fill_maps(struct guard_bpf *skel, const struct policy *p)
{
	uint32_t one = 1;

	for (int i = 0; i < p->n_nodes; i++)
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.guarded), &p->nodes[i].dev, &one, BPF_ANY))
			return -errno;
	for (int i = 0; i < p->n_rules; i++)
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.rules), &p->rules[i].key,
					&p->rules[i].allow, BPF_ANY))
			return -errno;
	return 0;
}

/* Whether the attached programs run: bpf must be in the lsm= list too. */
static bool programs_run(struct guard_bpf *skel)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	(void)!ioctl(fd, GUARD_PROBE_IOCTL, 0);
	close(fd);
	return skel->bss->probe_hits > 0;
}

static void unavailable(const char *what, int err)
{
	sp_err("BPF LSM unavailable: %s (%s); needs root and a kernel booted with "
	       "bpf in lsm=", what, strerror(err));
}

int main(int argc, char **argv)
{
	struct ring_buffer *rb = NULL;
	struct monitor m = { 0 };
	struct guard_bpf *skel = NULL;
	struct policy p;
	struct config c;
	struct sigaction sa = { .sa_handler = on_signal };
	int err, stats_fd = -1, status = SP_EXIT_OK;
	unsigned long n_nodes;

	sp_log_init(argv[0], SP_LOG_NOTICE);
	if (parse(argc, argv, &c))
		return SP_EXIT_USAGE;
	if (policy_read(&p, c.policy)) {
		policy_free(&p);
		return SP_EXIT_USAGE;
	}
	if (c.check) {
		status = policy_resolve(&p) ? SP_EXIT_USAGE : SP_EXIT_OK;
		if (!status)
			policy_print(&p, c.json);
		policy_free(&p);
		return status;
	}
	sp_bpf_init();
	skel = guard_bpf__open();
	if (!skel) {
		sp_err("cannot open the BPF programs: %s", strerror(errno));
		status = SP_EXIT_FAIL;
		goto out;
	}
	skel->rodata->loader_tgid = getpid();
	skel->rodata->use_groups = p.groups;
	skel->rodata->use_cgroups = p.cgroups;
	if (!have_lsm_hook("file_ioctl_compat"))
		bpf_program__set_autoload(skel->progs.guard_ioctl_compat, false);
	err = guard_bpf__load(skel);
	if (err) {
		/* verifier rejections (EACCES, EINVAL) are bugs here, not absence */
		if (err == -EPERM || err == -EOPNOTSUPP || err == -ENOTSUP || err == -ENOENT ||
		    err == -ESRCH) {
			unavailable("the kernel refuses LSM programs", -err);
			status = SP_EXIT_USAGE;
		} else {
			sp_err("cannot load the guard programs: %s", strerror(-err));
			status = SP_EXIT_FAIL;
		}
		goto out;
	}
	if (policy_resolve(&p)) {
		status = SP_EXIT_USAGE;
		goto out;
	}
	err = fill_maps(skel, &p);
	if (err) {
		sp_err("cannot store the policy in its maps: %s", strerror(-err));
		status = SP_EXIT_FAIL;
		goto out;
	}
	if (c.stats) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0)
			sp_notice("no run-time statistics: %s", strerror(errno));
	}
	err = guard_bpf__attach(skel);
	if (err) {
		unavailable("the LSM hooks refuse the programs", -err);
		status = SP_EXIT_USAGE;
		goto out;
	}
	if (!programs_run(skel)) {
		unavailable("attached, but the hooks never call them", ENOSYS);
		status = SP_EXIT_USAGE;
		goto out;
	}
	m.c = &c;
	m.p = &p;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, &m, NULL);
	if (!rb) {
		sp_err("cannot read the denial events: %s", strerror(errno));
		status = SP_EXIT_FAIL;
		goto out;
	}
	/* no SA_RESTART: a signal ends the wait at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!bpf_program__autoload(skel->progs.guard_ioctl_compat))
		sp_dbg("no file_ioctl_compat hook: 32-bit callers pass through file_ioctl");
	n_nodes = p.n_nodes;
	sp_notice("guarding %lu device nodes with %d rules; SIGINT or SIGTERM removes the guard",
		  n_nodes, p.n_rules);
	if (!c.json)
		printf("%-8s %-7s %-16s %-6s %-8s %-8s %-5s %s\n", "TIME", "PID", "COMM", "UID",
		       "DEVICE", "PATH", "CLASS", "OPCODE");
	fflush(stdout);
	while (!stop) {
		err = ring_buffer__poll(rb, 500);
		if (err < 0 && err != -EINTR) {
			sp_err("reading denial events: %s", strerror(-err));
			status = SP_EXIT_FAIL;
			break;
		}
	}
	ring_buffer__consume(rb);
	summary(skel, &m);
out:
	ring_buffer__free(rb);
	guard_bpf__destroy(skel);
	if (stats_fd >= 0)
		close(stats_fd);
	free(m.t);
	policy_free(&p);
	return status;
}
