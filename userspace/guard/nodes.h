/* SPDX-License-Identifier: MIT */
/* sp-guard's devices and rules: what a parsed policy comes to on this machine. */
#ifndef SP_GUARD_NODES_H
#define SP_GUARD_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* Finds the nodes of every device the statements name and makes the
 * rules per node; 0 or -errno, said on stderr. */
int policy_resolve(struct policy *p);
void policy_free(struct policy *p);
/* "nvme0n1" for a node of the policy, else "MAJ:MIN". */
const char *node_name(const struct policy *p, uint32_t dev, char *buf, size_t len);
/* "read", or the opcode in hex where it has no name. */
const char *opcode_str(int cls, unsigned op, char *buf, size_t len);
/* The policy as enforced (--check), text or JSON. */
void policy_print(const struct policy *p, bool json);

#endif
