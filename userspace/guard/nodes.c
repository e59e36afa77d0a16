// SPDX-License-Identifier: MIT
/*
 * sp-guard's devices: the nodes of each controller a policy names (block,
 * generic char and controller nodes), the rules per node, and the policy
 * as it is enforced, in words or JSON.
 */
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
#include "sp_enum.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"

#define CGROUP2_SUPER_MAGIC 0x63677270

/* as the kernel packs dev_t, which the BPF maps are keyed by */
static uint32_t kdev(dev_t d)
{
	return major(d) << 20 | minor(d);
}

static int add_node(struct policy *p, const struct sp_enum_node *nd, bool block)
{
	struct node *n;

	if (!nd->dev)
		return 0;	/* no device node: nothing to guard */
	for (int i = 0; i < p->n_nodes; i++)
		if (p->nodes[i].dev == kdev(nd->dev))
			return 0;
	if (p->n_nodes == MAX_NODES)
		return -ENOSPC;
	n = &p->nodes[p->n_nodes++];
	n->dev = kdev(nd->dev);
	n->block = block;
	snprintf(n->name, sizeof(n->name), "%.31s", nd->name);
	return 0;
}

/* Calls fn on every node of namespace ns: disk, multipath path, partitions
 * (block) and generic node (char). */
static int each_ns_node(const struct sp_enum_ns *ns,
			int (*fn)(const struct sp_enum_node *, bool, void *), void *arg)
{
	int ret = fn(&ns->disk, true, arg);

	if (!ret)
		ret = fn(&ns->path, true, arg);
	for (unsigned i = 0; !ret && i < ns->nr_parts; i++)
		ret = fn(&ns->parts[i], true, arg);
	return ret ? ret : fn(&ns->generic, false, arg);
}

static int add_node_cb(const struct sp_enum_node *nd, bool block, void *arg)
{
	return add_node(arg, nd, block);
}

/*
 * Every node that reaches controller c: its char device, and each
 * namespace's block devices (head, path, partitions) and generic char
 * device. All of them get guarded, so that naming one leaves no way
 * around through another.
 */
static int add_controller(struct policy *p, const struct sp_enum_ctrl *c)
{
	int ret = add_node(p, &c->node, false);

	for (unsigned i = 0; !ret && i < c->nr_ns; i++)
		ret = each_ns_node(&c->ns[i], add_node_cb, p);
	return ret;
}

static int add_rule(struct policy *p, uint32_t dev, const struct stmt *st);

struct resolve {
	struct policy *p;
	const struct stmt *st;
	dev_t dev;
	bool block;
	int found;
};

static int rule_cb(const struct sp_enum_node *nd, bool block, void *arg)
{
	struct resolve *r = arg;

	(void)block;
	return nd->dev ? add_rule(r->p, kdev(nd->dev), r->st) : 0;
}

/*
 * A controller of the enumeration: when the statement's DEVICE is one of
 * its nodes, all its nodes are guarded and the statement's rules go to
 * the node named (a controller) or to every node of the namespace named
 * (nvme0n1, a partition of it and ng0n1 alike). Under native multipath a
 * namespace is reached through several controllers: each one is guarded.
 */
static int resolve_ctrl(const struct sp_enum_ctrl *c, void *arg)
{
	struct resolve *r = arg;
	int m, ret;

	if (c->kind != SP_ENUM_NVME)
		return 0;
	m = sp_enum_match(c, r->dev, r->block);
	if (m == SP_ENUM_NO_MATCH)
		return 0;
	r->found++;
	ret = add_controller(r->p, c);
	if (ret) {
		sp_err("%s:%d: more than %d device nodes", r->p->file, r->st->line, MAX_NODES);
		return ret;
	}
	if (r->st->guard_only)
		return 0;
	if (m == SP_ENUM_CTRL_NODE)
		return add_rule(r->p, kdev(c->node.dev), r->st);
	return each_ns_node(&c->ns[m], rule_cb, r);
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
	char why[PATH_MAX + 128];

	for (int i = 0; i < p->n_stmts; i++) {
		struct stmt *st = &p->stmts[i];
		struct resolve r = { .p = p, .st = st };
		struct stat sb;
		int ret;

		if (stat(st->device, &sb)) {
			ret = -errno;
			sp_err("%s:%d: %s: %s", p->file, st->line, st->device, strerror(-ret));
			return ret;
		}
		if (st->kind == GUARD_SUBJ_CGROUP && !st->guard_only) {
			ret = resolve_cgroup(st, why, sizeof(why));
			if (ret) {
				sp_err("%s:%d: %s", p->file, st->line, why);
				return ret;
			}
		}
		r.dev = sb.st_rdev;
		r.block = S_ISBLK(sb.st_mode);
		ret = S_ISBLK(sb.st_mode) || S_ISCHR(sb.st_mode) ? sp_enum_each(resolve_ctrl, &r) : 0;
		if (ret)
			return ret;
		if (!r.found) {
			sp_err("%s:%d: %s is not an NVMe controller or namespace node "
			       "(/dev/nvmeX, /dev/nvmeXnY or /dev/ngXnY)", p->file, st->line,
			       st->device);
			return -ENODEV;
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
