// SPDX-License-Identifier: MIT
/*
 * What every sp-serve mode shares: the files, opened once before any
 * mode starts (so a mode never fails on a path), found by name, and the
 * report of a run. It calls no mode.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devinfo.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_stats.h"
#include "serve.h"

const char *const sp_serve_modes[MODE_XDP + 1] = {
	[MODE_COPY] = "copy", [MODE_SENDFILE] = "sendfile",
	[MODE_SPLICE] = "splice", [MODE_SENDZC] = "sendzc", [MODE_XDP] = "xdp",
};

/* Regular files and block devices (read-write only with --writable). */
int sp_serve_open(struct server *s, char **paths, int n)
{
	s->files = calloc(n, sizeof(*s->files));
	if (!s->files)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct served_file *f = &s->files[s->nr_files];
		struct sp_devinfo d;
		char *dup = strdup(paths[i]);
		int ret;

		if (!dup)
			return -ENOMEM;
		snprintf(f->name, sizeof(f->name), "%s", basename(dup));
		free(dup);
		f->path = paths[i];
		ret = sp_dev_probe(paths[i], false, &d);
		if (ret || (d.kind != SP_KIND_FILE && d.kind != SP_KIND_BLOCK)) {
			sp_err("%s: %s", paths[i],
			       ret ? strerror(-ret) : "not a regular file or block device");
			return ret ? ret : -EINVAL;
		}
		f->write_lock = -1;
		/* the network may write only where uring_bench and sp-io may:
		 * never to a mounted device, to a signature only with --force,
		 * and not while another writer holds the target */
		if (s->writable) {
			char why[PATH_MAX + 128];

			ret = sp_dev_check_writable(&d, s->force, why, sizeof(why));
			if (!ret)
				ret = sp_dev_lock_write(&d, &f->write_lock, why, sizeof(why));
			if (ret) {
				sp_err("--writable: %s", why);
				return ret;
			}
		}
		f->size = d.size;
		f->lbs = d.lbs;
		f->dio = d.dio;
		f->backed = d.block_path[0];
		f->fd = open(paths[i], (s->writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (f->fd < 0) {
			sp_err("%s: %s", paths[i], strerror(errno));
			return -errno;
		}
		s->nr_files++;
		if (s->mode == MODE_SENDZC && !s->zc_buffers && f->size) {
			/*
			 * Not registered: io_uring pins registered buffers for
			 * writing and for the long term, which a read-only
			 * file mapping (or any file outside tmpfs) refuses.
			 */
			f->map = mmap(NULL, f->size, PROT_READ, MAP_SHARED, f->fd, 0);
			if (f->map == MAP_FAILED) {
				int err = errno;

				f->map = NULL;
				sp_err("%s: mapping it for sendzc: %s; --zc-source buffers reads it instead",
				       paths[i], strerror(err));
				return -err;
			}
		}
		for (int j = 0; j < i; j++)
			if (!strcmp(s->files[j].name, f->name)) {
				sp_err("%s: two files named '%s'", paths[i], f->name);
				return -EINVAL;
			}
	}
	return 0;
}

const struct served_file *sp_serve_lookup(const struct server *s,
					  const char *name)
{
	for (unsigned i = 0; i < s->nr_files; i++)
		if (!strcmp(s->files[i].name, name))
			return &s->files[i];
	return NULL;
}

void sp_serve_close(struct server *s)
{
	for (unsigned i = 0; i < s->nr_files; i++) {
		/* pages a send still holds stay pinned by the kernel */
		if (s->files[i].map)
			munmap(s->files[i].map, s->files[i].size);
		close(s->files[i].fd);
	}
	free(s->files);
	s->files = NULL;
	s->nr_files = 0;
}

int sp_serve_nth_cpu(unsigned n)
{
	cpu_set_t set;
	unsigned count;

	if (sched_getaffinity(0, sizeof(set), &set) || !(count = CPU_COUNT(&set)))
		return -1;
	n %= count;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set) && !n--)
			return cpu;
	return -1;
}

int sp_serve_threads(unsigned n, void *(*fn)(void *), void *args, size_t size,
		     atomic_bool *stop)
{
	pthread_t *tids = calloc(n, sizeof(*tids));
	unsigned started = 0;
	int ret = 0;

	if (!tids)
		return -ENOMEM;
	for (; started < n; started++) {
		int cpu = sp_serve_nth_cpu(started);
		pthread_attr_t attr;

		pthread_attr_init(&attr);
		if (cpu >= 0) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		}
		ret = -pthread_create(&tids[started], &attr, fn, (char *)args + started * size);
		pthread_attr_destroy(&attr);
		if (ret) {
			sp_err("starting thread %u: %s", started, strerror(-ret));
			atomic_store(stop, true);
			break;
		}
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	return ret;
}

void sp_serve_stats_add(struct serve_stats *d, const struct serve_stats *a)
{
#define ADD(f) (d->f += a->f)
	ADD(connections); ADD(refused); ADD(requests); ADD(bytes);
	ADD(refused_full); ADD(refused_per_addr);
	ADD(timeouts_header); ADD(timeouts_idle); ADD(timeouts_send);
	ADD(errors); ADD(err_malformed); ADD(err_nofile); ADD(err_range);
	ADD(err_toobig); ADD(err_busy);
	ADD(zc_sent); ADD(zc_copied); ADD(zc_unreported);
	ADD(frames_tx); ADD(frames_rx); ADD(busy_polls); ADD(sleeps); ADD(dropped);
	ADD(frames_seen); ADD(token_replies);
	ADD(cache.hits); ADD(cache.misses); ADD(cache.stale); ADD(cache.torn);
	ADD(cache.noroom); ADD(cache.bypasses); ADD(cache.admissions);
	ADD(cache.deferred); ADD(cache.raced); ADD(cache.evictions);
	ADD(cache.invalidations); ADD(cache.entries);
	ADD(writes); ADD(write_bytes); ADD(sync_reads); ADD(passthru_reads);
#undef ADD
	sp_hist_merge(&d->lat, &a->lat);
}

void sp_serve_ready(struct server *s)
{
	if (s->ready_path) {
		int fd = open(s->ready_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd >= 0)
			close(fd);
	}
	sp_info("serving %u file(s) in %s mode", s->nr_files, sp_serve_modes[s->mode]);
}

static json_object *cache_json(const struct server *s)
{
	const struct cache_stats *c = &s->st.cache;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "enabled", json_object_new_boolean(s->cache));
	json_object_object_add(o, "max_entries", sp_json_u64(s->cache ? s->cache_entries : 0));
	json_object_object_add(o, "admit_at_miss", sp_json_u64(s->cache_admit));
	json_object_object_add(o, "hits", sp_json_u64(c->hits));
	json_object_object_add(o, "misses", sp_json_u64(c->misses));
	json_object_object_add(o, "stale", sp_json_u64(c->stale));
	json_object_object_add(o, "torn", sp_json_u64(c->torn));
	json_object_object_add(o, "noroom", sp_json_u64(c->noroom));
	json_object_object_add(o, "bypasses", sp_json_u64(c->bypasses));
	json_object_object_add(o, "admissions", sp_json_u64(c->admissions));
	json_object_object_add(o, "deferred", sp_json_u64(c->deferred));
	json_object_object_add(o, "raced", sp_json_u64(c->raced));
	json_object_object_add(o, "invalidations", sp_json_u64(c->invalidations));
	json_object_object_add(o, "evictions", sp_json_u64(c->evictions));
	json_object_object_add(o, "entries", sp_json_u64(c->entries));
	return o;
}

void sp_serve_report(const struct server *s, const struct sp_usage *u)
{
	const struct serve_stats *st = &s->st;
	double gib = st->bytes / 1073741824.0;
	uint64_t cpu = u->user_ns + u->sys_ns;

	if (s->json) {
		json_object *root = json_object_new_object();
		json_object *err = json_object_new_object();
		json_object *lat = json_object_new_object();
		json_object *x = json_object_new_object();

		json_object_object_add(root, "schema", json_object_new_string("shortpath.sp-serve/1"));
		sp_json_stamp(root);
		json_object_object_add(root, "mode", json_object_new_string(sp_serve_modes[s->mode]));
		json_object_object_add(root, "files", sp_json_u64(s->nr_files));
		{
			json_object *tr = json_object_new_array();

			json_object_object_add(root, "threads", sp_json_u64(s->threads));
			for (unsigned i = 0; i < s->threads && i < SERVE_MAX_THREADS; i++)
				json_object_array_add(tr, sp_json_u64(s->thread_requests[i]));
			json_object_object_add(root, "thread_requests", tr);
		}
		json_object_object_add(root, "connections", sp_json_u64(st->connections));
		json_object_object_add(root, "refused", sp_json_u64(st->refused));
		if (s->mode != MODE_XDP) {
			json_object *r = json_object_new_object(), *to = json_object_new_object();
			json_object *lim = json_object_new_object();

			json_object_object_add(r, "full", sp_json_u64(st->refused_full));
			json_object_object_add(r, "per_addr", sp_json_u64(st->refused_per_addr));
			json_object_object_add(root, "refused_by", r);
			json_object_object_add(to, "header", sp_json_u64(st->timeouts_header));
			json_object_object_add(to, "idle", sp_json_u64(st->timeouts_idle));
			json_object_object_add(to, "send", sp_json_u64(st->timeouts_send));
			json_object_object_add(root, "timeouts", to);
			json_object_object_add(lim, "max_conns", sp_json_u64(s->max_conns));
			json_object_object_add(lim, "max_conns_per_addr", sp_json_u64(s->max_conns_per_addr));
			json_object_object_add(lim, "header_timeout_ns", sp_json_u64(s->header_timeout_ns));
			json_object_object_add(lim, "idle_timeout_ns", sp_json_u64(s->idle_timeout_ns));
			json_object_object_add(lim, "send_timeout_ns", sp_json_u64(s->send_timeout_ns));
			json_object_object_add(root, "limits", lim);
		}
		json_object_object_add(root, "requests", sp_json_u64(st->requests));
		json_object_object_add(root, "bytes", sp_json_u64(st->bytes));
		json_object_object_add(err, "total", sp_json_u64(st->errors));
		json_object_object_add(err, "malformed", sp_json_u64(st->err_malformed));
		json_object_object_add(err, "nofile", sp_json_u64(st->err_nofile));
		json_object_object_add(err, "range", sp_json_u64(st->err_range));
		json_object_object_add(err, "toobig", sp_json_u64(st->err_toobig));
		json_object_object_add(err, "busy", sp_json_u64(st->err_busy));
		json_object_object_add(root, "errors", err);
		json_object_object_add(lat, "p50", sp_json_u64(sp_hist_percentile(&st->lat, 50)));
		json_object_object_add(lat, "p99", sp_json_u64(sp_hist_percentile(&st->lat, 99)));
		json_object_object_add(root, "service_ns", lat);
		json_object_object_add(root, "cpu_ns", sp_json_u64(cpu));
		json_object_object_add(root, "cpu_ns_per_gib", sp_json_dbl(gib > 0 ? cpu / gib : 0));
		json_object_object_add(root, "elapsed_ns", sp_json_u64(u->wall_ns));
		if (s->mode == MODE_SENDZC) {
			json_object_object_add(x, "zerocopy", sp_json_u64(st->zc_sent));
			json_object_object_add(x, "copied", sp_json_u64(st->zc_copied));
			json_object_object_add(x, "unreported", sp_json_u64(st->zc_unreported));
			json_object_object_add(root, "sendzc_notifications", x);
			json_object_object_add(root, "sendzc_source", json_object_new_string(
						s->zc_buffers ? "buffers" : "page-cache"));
		} else if (s->mode == MODE_XDP) {
			json_object_object_add(x, "frames_tx", sp_json_u64(st->frames_tx));
			json_object_object_add(x, "frames_rx", sp_json_u64(st->frames_rx));
			json_object_object_add(x, "busy_polls", sp_json_u64(st->busy_polls));
			json_object_object_add(x, "sleeps", sp_json_u64(st->sleeps));
			json_object_object_add(x, "dropped", sp_json_u64(st->dropped));
			json_object_object_add(x, "token_replies", sp_json_u64(st->token_replies));
			json_object_object_add(x, "busy_poll_ns", sp_json_u64(s->busy_poll_ns));
			json_object_object_add(x, "attach", json_object_new_string(st->xdp_attach));
			json_object_object_add(x, "zerocopy", json_object_new_boolean(st->xdp_zerocopy));
			json_object_object_add(x, "frame_payload", sp_json_u64(st->frame_payload));
			json_object_object_add(x, "queues", sp_json_u64(st->xdp_queues));
			json_object_object_add(x, "direct_io", json_object_new_boolean(st->direct_io));
			json_object_object_add(x, "sync_reads", sp_json_u64(st->sync_reads));
			json_object_object_add(x, "passthru_reads", sp_json_u64(st->passthru_reads));
			json_object_object_add(x, "passthru_backend", st->passthru_backend[0] ?
					       json_object_new_string(st->passthru_backend) : NULL);
			json_object_object_add(x, "cache", cache_json(s));
			json_object_object_add(x, "writes", sp_json_u64(st->writes));
			json_object_object_add(x, "write_bytes", sp_json_u64(st->write_bytes));
			json_object_object_add(root, "xdp", x);
		} else {
			json_object_put(x);
		}
		sp_json_print_and_free(root);
		return;
	}
	fprintf(stderr, "%s: %s mode: %llu requests, %llu bytes, %llu errors "
		"(malformed %llu, unknown file %llu, range %llu, too big %llu, busy %llu), "
		"%llu refused connections, CPU %.1f ms/GiB\n",
		sp_prog(), sp_serve_modes[s->mode], (unsigned long long)st->requests,
		(unsigned long long)st->bytes, (unsigned long long)st->errors,
		(unsigned long long)st->err_malformed, (unsigned long long)st->err_nofile,
		(unsigned long long)st->err_range, (unsigned long long)st->err_toobig,
		(unsigned long long)st->err_busy, (unsigned long long)st->refused,
		gib > 0 ? cpu / gib / 1e6 : 0.0);
	if (s->mode != MODE_XDP)
		fprintf(stderr, "%s: refused: %llu with the table full, %llu above --max-conns-per-addr; "
			"timed out: %llu in a header, %llu idle, %llu sending\n", sp_prog(),
			(unsigned long long)st->refused_full, (unsigned long long)st->refused_per_addr,
			(unsigned long long)st->timeouts_header, (unsigned long long)st->timeouts_idle,
			(unsigned long long)st->timeouts_send);
	if (s->mode == MODE_SENDZC)
		fprintf(stderr, "%s: sendzc notifications: %llu zero-copy, %llu copied by the kernel, "
			"%llu not saying which\n", sp_prog(), (unsigned long long)st->zc_sent,
			(unsigned long long)st->zc_copied, (unsigned long long)st->zc_unreported);
	if (s->mode == MODE_XDP && s->cache) {
		const struct cache_stats *c = &s->st.cache;

		fprintf(stderr, "%s: cache: %llu hits in XDP, %llu misses (%llu stale, %llu torn), "
			"%llu bypasses; %llu admitted, %llu deferred, %llu raced a write, "
			"%llu invalidated, %llu evicted, %llu left\n", sp_prog(),
			(unsigned long long)c->hits, (unsigned long long)c->misses,
			(unsigned long long)c->stale, (unsigned long long)c->torn,
			(unsigned long long)c->bypasses, (unsigned long long)c->admissions,
			(unsigned long long)c->deferred, (unsigned long long)c->raced,
			(unsigned long long)c->invalidations, (unsigned long long)c->evictions,
			(unsigned long long)c->entries);
	}
	if (s->writable)
		fprintf(stderr, "%s: %llu writes, %llu bytes written\n", sp_prog(),
			(unsigned long long)s->st.writes, (unsigned long long)s->st.write_bytes);
}
