// SPDX-License-Identifier: MIT
/*
 * sp-guard's devices: the nodes of each controller a policy names (block,
 * generic char and controller nodes), the rules per node, and the policy
 * as it is enforced, in words or JSON.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "nodes.h"
#include "nvme_spec.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_sysfs.h"

#define CGROUP2_SUPER_MAGIC 0x63677270

static int read_devnum(const char *sysdir, const char *name, uint32_t *dev)
{
	char path[PATH_MAX];
	dev_t d;
	int ret;

	snprintf(path, sizeof(path), "%s/%s/dev", sysdir, name);
	ret = sp_sysfs_read_devnum(path, &d);
	if (ret)
		return ret;
	/* as the kernel packs dev_t, which the BPF maps are keyed by */
	*dev = major(d) << 20 | minor(d);
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
int policy_resolve(struct policy *p)
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

void policy_free(struct policy *p)
{
	free(p->stmts);
	free(p->rules);
}

const char *node_name(const struct policy *p, uint32_t dev, char *buf, size_t len)
{
	for (int i = 0; i < p->n_nodes; i++)
		if (p->nodes[i].dev == dev)
			return p->nodes[i].name;
	snprintf(buf, len, "%u:%u", dev >> 20, dev & 0xfffff);
	return buf;
}

const char *opcode_str(int cls, unsigned op, char *buf, size_t len)
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
		n += policy_allow_has(a, cls, op);
	if (n == 256 || !n) {
		snprintf(buf, len, "%s", n ? "all" : "-");
		return;
	}
	buf[0] = '\0';
	for (unsigned op = 0; op < 256 && off < len; op++) {
		const char *name;
		char num[8];

		if (!policy_allow_has(a, cls, op))
			continue;
		name = sp_nvme_opcode_name(cls == GUARD_ADMIN, op);
		if (!name) {
			snprintf(num, sizeof(num), "0x%02x", op);
			name = num;
		}
		off += snprintf(buf + off, len - off, "%s%s", off ? "," : "", name);
	}
}

void policy_print(const struct policy *p, bool json)
{
	char buf[2048];

	if (json) {
		json_object *root = json_object_new_object();
		json_object *nodes = json_object_new_array(), *rules = json_object_new_array();

		json_object_object_add(root, "schema", json_object_new_string("shortpath.guard-policy/1"));
		sp_json_stamp(root);
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
					if (policy_allow_has(&r->allow, c, op))
						json_object_array_add(ops, json_object_new_int(op));
				json_object_object_add(o, policy_class_names[c], ops);
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
