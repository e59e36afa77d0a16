/* SPDX-License-Identifier: MIT */
/* libbpf set-up shared by every loader. */
#ifndef SP_BPF_H
#define SP_BPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Routes libbpf's messages through sp_log (warnings only at debug
 * level, since probing for features produces expected failures) and
 * makes sure tracefs is mounted for tracepoint attachment.
 */
void sp_bpf_init(void);

/*
 * Moves every entry of a hash map out of the kernel: returns an array
 * (*out, free() it) of records of rec_size bytes, each with the key at
 * offset 0 and the value at value_off, and deletes what it copied.
 * Returns the number of records or -errno. For tracers that report and
 * reset per interval.
 */
int sp_bpf_map_drain(int fd, size_t key_size, size_t rec_size, size_t value_off,
		     void **out);

/*
 * found[i] = whether kernel function names[i] is in /proc/kallsyms (the
 * running kernel or a loaded module), so optional fentry/kprobe hooks
 * are asked for only where a target exists. 0 or -errno.
 */
int sp_ksyms_present(const char *const *names, bool *found, unsigned n);

/* *sum = the values of every CPU of a per-CPU array of u64 at key. 0 or -errno. */
int sp_bpf_percpu_sum(int fd, uint32_t key, uint64_t *sum);

struct btf;

/*
 * The running kernel's BTF, loaded on first use and kept for the
 * process (every look-up would otherwise parse all of vmlinux's BTF
 * again), or NULL with errno set.
 */
const struct btf *sp_vmlinux_btf(void);

/*
 * How many arguments the running kernel's tracepoint `name` passes to a
 * BTF tracepoint program (its btf_trace_NAME prototype, less the
 * leading data pointer, in vmlinux's BTF or a loaded module's), or
 * -errno (-ENOENT: no BTF describes it): for tracepoints whose
 * arguments changed between kernels, so the loader keeps the matching
 * program, and for module tracepoints, which have a BTF version only
 * where the kernel has module BTF.
 */
int sp_btf_tp_nargs(const char *name);

#endif
