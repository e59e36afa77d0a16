// SPDX-License-Identifier: MIT
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_bpf.h"
#include "sp_log.h"
#include "sp_stats.h"

/* A verifier log is one message of many lines: each gets its own, whole. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg, *line, *save = NULL;

	if (!sp_log_enabled(SP_LOG_DEBUG))
		return 0;
	if (vasprintf(&msg, fmt, ap) < 0)
		return 0;
	/* most of libbpf's messages name it already; the verifier's do not */
	for (line = strtok_r(msg, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		sp_dbg("libbpf: %s", strncmp(line, "libbpf: ", 8) ? line : line + 8);
	free(msg);
	return 0;
}

void sp_bpf_init(void)
{
	libbpf_set_print(libbpf_print);
	if (!sp_tracefs_path())
		sp_dbg("tracefs is not mounted: tracepoints will not attach");
}

int sp_bpf_map_drain(int fd, size_t key_size, size_t rec_size, size_t value_off,
		     void **out)
{
	char *recs = NULL, *keys = malloc(2 * key_size);
	char *cur = keys, *next = keys + key_size;
	bool first = true;
	int n = 0;

	*out = NULL;
	if (!keys)
		return -ENOMEM;
	while (bpf_map_get_next_key(fd, first ? NULL : cur, next) == 0) {
		char *grown = realloc(recs, (n + 1) * rec_size), *swap;

		if (!grown)
			break;
		recs = grown;
		memcpy(recs + n * rec_size, next, key_size);
		/* an entry deleted meanwhile is skipped, not copied */
		if (bpf_map_lookup_elem(fd, next, recs + n * rec_size + value_off) == 0)
			n++;
		swap = cur;
		cur = next;
		next = swap;
		first = false;
	}
	for (int i = 0; i < n; i++)
		bpf_map_delete_elem(fd, recs + i * rec_size);
	free(keys);
	*out = recs;
	return n;
}

int sp_ksyms_present(const char *const *names, bool *found, unsigned n)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	char line[512], sym[256], type;

	for (unsigned i = 0; i < n; i++)
		found[i] = false;
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* "ffffffff816b8230 T vfs_read" or "... t nvme_queue_rq\t[nvme]" */
		if (sscanf(line, "%*s %c %255s", &type, sym) != 2 || (type != 't' && type != 'T'))
			continue;
		for (unsigned i = 0; i < n; i++)
			if (!found[i] && !strcmp(sym, names[i]))
				found[i] = true;
	}
	fclose(f);
	return 0;
}

int sp_bpf_percpu_sum(int fd, uint32_t key, uint64_t *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *v;
	int ret;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	ret = bpf_map_lookup_elem(fd, &key, v);
	if (ret) {
		ret = -errno;
		goto out;
	}
	*sum = 0;
	for (int i = 0; i < ncpu; i++)
		*sum += v[i];
out:
	free(v);
	return ret;
}

const struct btf *sp_vmlinux_btf(void)
{
	static struct btf *btf;

	if (!btf)
		btf = btf__load_vmlinux_btf();
	return btf;
}

/*
 * The loaded modules' BTF, each split on vmlinux's, read on first use
 * and kept for the process; NULL-terminated.
 */
static struct btf *const *module_btfs(void)
{
	static struct btf **btfs;
	struct btf *vmlinux = (struct btf *)sp_vmlinux_btf();
	struct dirent *d;
	size_t n = 0;
	DIR *dir;

	if (btfs || !vmlinux)
		return btfs;
	dir = opendir("/sys/kernel/btf");
	if (!dir)
		return NULL;
	btfs = calloc(1, sizeof(*btfs));
	while (btfs && (d = readdir(dir))) {
		char path[300];
		struct btf *b, **grown;

		if (d->d_name[0] == '.' || !strcmp(d->d_name, "vmlinux"))
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/btf/%s", d->d_name);
		b = btf__parse_split(path, vmlinux);
		if (!b)
			continue;
		grown = realloc(btfs, (n + 2) * sizeof(*btfs));
		if (!grown) {
			btf__free(b);
			break;
		}
		btfs = grown;
		btfs[n++] = b;
		btfs[n] = NULL;
	}
	closedir(dir);
	return btfs;
}

/* prototype (void *data, args...) of typedef `id`: how many args, or -EINVAL */
static int tp_proto_nargs(const struct btf *btf, int id)
{
	const struct btf_type *t;

	/* typedef -> pointer -> prototype */
	t = btf__type_by_id(btf, btf__type_by_id(btf, id)->type);
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type);
	return t && btf_is_func_proto(t) && btf_vlen(t) > 0 ? btf_vlen(t) - 1 : -EINVAL;
}

int sp_btf_tp_nargs(const char *name)
{
	const struct btf *btf = sp_vmlinux_btf();
	struct btf *const *mods;
	char typedef_name[128];
	int id;

	if (!btf)
		return -errno;
	snprintf(typedef_name, sizeof(typedef_name), "btf_trace_%s", name);
	id = btf__find_by_name_kind(btf, typedef_name, BTF_KIND_TYPEDEF);
	if (id > 0)
		return tp_proto_nargs(btf, id);
	/* a module's tracepoint (nvme, scsi): in that module's BTF */
	mods = module_btfs();
	for (int i = 0; mods && mods[i]; i++) {
		id = btf__find_by_name_kind(mods[i], typedef_name, BTF_KIND_TYPEDEF);
		if (id > 0)
			return tp_proto_nargs(mods[i], id);
	}
	return -ENOENT;
}
