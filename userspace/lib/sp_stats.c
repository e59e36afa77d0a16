// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "sp_opts.h"
#include "sp_stats.h"
#include "sp_time.h"

#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif

static bool is_tracefs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && (unsigned long)st.f_type == TRACEFS_MAGIC;
}

const char *sp_tracefs_path(void)
{
	static const char *const paths[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};

	for (unsigned i = 0; i < 2; i++)
		if (is_tracefs(paths[i]))
			return paths[i];
	/* As bpftool does: mount it where it belongs if nobody has. */
	if (mount("tracefs", paths[0], "tracefs", 0, NULL) == 0)
		return paths[0];
	return NULL;
}

static int read_tracepoint_id(const char *tracefs, const char *event)
{
	char path[256];
	long long id;
	int ret;

	snprintf(path, sizeof(path), "%s/events/%s/id", tracefs, event);
	ret = sp_read_int_file(path, &id);
	return ret ? ret : (int)id;
}

int sp_tracepoint_id(const char *event)
{
	const char *tracefs = sp_tracefs_path();

	return tracefs ? read_tracepoint_id(tracefs, event) : -ENOENT;
}

/* The name a declaration gives ("char disk[32]" -> "disk"): [*b, *e). */
static void decl_name(const char *decl, size_t n, const char **b, const char **e)
{
	const char *end = decl + n, *p;

	while (end > decl && end[-1] == ' ')
		end--;
	if (end > decl && end[-1] == ']') {
		while (end > decl && end[-1] != '[')
			end--;
		if (end > decl)
			end--;	/* the '[' */
	}
	while (end > decl && end[-1] == ' ')
		end--;
	p = end;
	while (p > decl && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') ||
			    (p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= '0' && p[-1] <= '9')))
		p--;
	*b = p;
	*e = end;
}

int sp_tp_format_field(const char *text, const char *name, int *off, int *size)
{
	size_t want = strlen(name);
	const char *line = text;

	while (line && *line) {
		const char *nl = strchr(line, '\n'), *f = strstr(line, "field:");
		const char *eol = nl ? nl : line + strlen(line), *semi, *b, *e;
		long o, sz;
		char *endp;

		if (f && f < eol && (semi = memchr(f, ';', (size_t)(eol - f)))) {
			decl_name(f + 6, (size_t)(semi - f - 6), &b, &e);
			if ((size_t)(e - b) == want && !memcmp(b, name, want)) {
				const char *po = strstr(semi, "offset:"), *ps = strstr(semi, "size:");

				if (!po || !ps || po >= eol || ps >= eol)
					return -EINVAL;
				errno = 0;
				o = strtol(po + 7, &endp, 10);
				if (errno || endp == po + 7 || *endp != ';' || o < 0 || o > 65535)
					return -ERANGE;
				sz = strtol(ps + 5, &endp, 10);
				if (errno || endp == ps + 5 || *endp != ';' || sz <= 0 || sz > 65535)
					return -ERANGE;
				*off = (int)o;
				*size = (int)sz;
				return 0;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

int sp_tracepoint_field(const char *event, const char *name, int *off, int *size)
{
	const char *tracefs = sp_tracefs_path();
	char path[512], *text;
	int ret;

	if (!tracefs)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/events/%s/format", tracefs, event);
	text = malloc(16384);
	if (!text)
		return -ENOMEM;
	ret = sp_read_text_file(path, text, 16384);
	if (!ret)
		ret = sp_tp_format_field(text, name, off, size);
	free(text);
	return ret;
}

int sp_syscalls_open(struct sp_syscall_counter *c)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_TRACEPOINT,
		.size = sizeof(attr),
		.inherit = 1,	/* count the threads we are about to create */
		.exclude_hv = 1,
	};
	const char *tracefs = sp_tracefs_path();
	int id, err;

	c->fd = -1;
	if (!tracefs) {
		snprintf(c->why, sizeof(c->why), "tracefs is not mounted and "
			 "cannot be mounted (%s)", strerror(errno));
		return -ENOENT;
	}
	id = read_tracepoint_id(tracefs, "raw_syscalls/sys_enter");
	if (id < 0) {
		snprintf(c->why, sizeof(c->why), "tracepoint raw_syscalls:sys_enter "
			 "not readable: %s", strerror(-id));
		return id;
	}
	attr.config = id;
	c->fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (c->fd < 0) {
		err = -errno;
		snprintf(c->why, sizeof(c->why), "perf_event_open(raw_syscalls:"
			 "sys_enter) refused: %s", strerror(errno));
		return err;
	}
	c->why[0] = '\0';
	return 0;
}

void sp_syscalls_close(struct sp_syscall_counter *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static uint64_t tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000000ULL + (uint64_t)tv->tv_usec * 1000;
}

int sp_usage_snapshot(struct sp_usage *u, const struct sp_syscall_counter *c)
{
	struct rusage ru;

	memset(u, 0, sizeof(*u));
	if (c && c->fd >= 0) {
		uint64_t v;

		if (read(c->fd, &v, sizeof(v)) == sizeof(v))
			u->syscalls = v;
	}
	if (getrusage(RUSAGE_SELF, &ru))
		return -errno;
	u->wall_ns = sp_now_ns();
	u->user_ns = tv_ns(&ru.ru_utime);
	u->sys_ns = tv_ns(&ru.ru_stime);
	u->vol_csw = ru.ru_nvcsw;
	u->invol_csw = ru.ru_nivcsw;
	return 0;
}

void sp_usage_delta(const struct sp_usage *a, const struct sp_usage *b,
		    struct sp_usage *d)
{
	d->wall_ns = b->wall_ns - a->wall_ns;
	d->user_ns = b->user_ns - a->user_ns;
	d->sys_ns = b->sys_ns - a->sys_ns;
	d->vol_csw = b->vol_csw - a->vol_csw;
	d->invol_csw = b->invol_csw - a->invol_csw;
	d->syscalls = b->syscalls - a->syscalls;
}

int sp_proc_cpu_ns(int pid, uint64_t *ns)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long tck = sysconf(_SC_CLK_TCK);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n ? -errno : -EIO;
	buf[n] = '\0';
	/* the command name may hold spaces and parentheses: skip to its end */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2 || tck <= 0)
		return -EIO;
	*ns = (ut + st) * (1000000000ULL / tck);
	return 0;
}

static int read_small(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int sp_task_times(struct sp_task_time *t, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	char path[64], buf[128];
	int n = 0;

	if (!d)
		return -errno;
	while (n < max && (de = readdir(d))) {
		unsigned long long run;
		char *nl;
		int tid = atoi(de->d_name);

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
		if (read_small(path, buf, sizeof(buf)) || sscanf(buf, "%llu", &run) != 1)
			continue;	/* gone meanwhile */
		t[n].tid = tid;
		t[n].run_ns = run;
		snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
		if (read_small(path, buf, sizeof(buf)))
			buf[0] = '\0';
		nl = strchr(buf, '\n');
		if (nl)
			*nl = '\0';
		snprintf(t[n].comm, sizeof(t[n].comm), "%s", buf);
		n++;
	}
	closedir(d);
	return n;
}
