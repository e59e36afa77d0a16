/* SPDX-License-Identifier: MIT */
/*
 * sp-guard's policy file: its text into statements (who may send which
 * NVMe command classes and opcodes to which device). Nothing here looks
 * at devices, cgroups or BPF: the loader resolves the statements later.
 * A policy file is outside input: its size and line length are bounded,
 * and tests/fuzz/fuzz_policy.c runs the parser under the sanitizers.
 */
#ifndef SP_GUARD_POLICY_H
#define SP_GUARD_POLICY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <stdint.h>

#include "guard.h"

#define MAX_NODES 256
/* Bounds on the text: a policy is a few dozen short lines. */
#define POLICY_MAX_BYTES	(1u << 20)
#define POLICY_MAX_LINE		4096u
#define POLICY_MAX_WORDS	16

extern const char *const policy_class_names[GUARD_CLASSES];

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


/*
 * Parses the text of a policy (len bytes, need not end in a NUL) into
 * p->stmts, as policy_parse_file does for a file. 0, or -EINVAL / -E2BIG
 * / -ENOMEM with why saying "NAME:LINE: cause" (NAME is p->file).
 */
int policy_parse(struct policy *p, const char *text, size_t len, char *why, size_t n);
/* Reads file (at most POLICY_MAX_BYTES) and parses it. */
int policy_parse_file(struct policy *p, const char *file, char *why, size_t n);
/* Frees what policy_parse allocated. */
void policy_stmts_free(struct policy *p);

void policy_allow_set(struct guard_allow *a, int cls, unsigned op);
bool policy_allow_has(const struct guard_allow *a, int cls, unsigned op);

#endif
