// SPDX-License-Identifier: MIT
/*
 * sp-fabriclat: where an NVMe-oF command's time goes, across the wire.
 * `record` runs on one side (initiator or target) and writes when each
 * command started and ended there, by queue and command id
 * (bpf/fabriclat.bpf.c), with the moments inside that window its
 * kernel has hooks for; `merge` joins an initiator's file with the
 * target's (fabriclat_join.c) into one waterfall per command: the way
 * to the target, the time at the target, the way back, each split by
 * those moments.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "fabriclat.h"
#include "fabriclat.skel.h"
#include "fabriclat_join.h"
#include "sp_bpf.h"
#include "sp_hist.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_stats.h"
#include "sp_stop.h"
#include "sp_time.h"
#include "sp_version.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sp-fabriclat record --side initiator|target [-c CTRL] [-o FILE]\n"
"                           [-d DURATION] [--ready-fd FD]\n"
"       sp-fabriclat merge INITIATOR-FILE TARGET-FILE [--json] [-w N]\n"
"\n"
"Where an NVMe over Fabrics command's time goes. Run `record` on both\n"
"machines around the same workload: it writes, for every command on an I/O\n"
"queue, when it started and ended on that side (initiator: nvme_setup_cmd\n"
"to nvme_complete_rq; target: nvmet_req_init to nvmet_req_complete), until\n"
"DURATION or Ctrl-C, and inside that window two moments where the kernel\n"
"has hooks for them (fentry). `merge` pairs the two files by queue and\n"
"command id and prints per layer the median, p99 and mean:\n"
"  to target    the initiator has the command .. the target has parsed it\n"
"    send       .. handed to the transport (nvme-tcp, nvme-rdma)\n"
"    wire to    .. the target has parsed it\n"
"  at target    the target's own time (its block layer and device included)\n"
"    nvmet      .. the backend takes the command\n"
"    backend    .. its I/O is done (block layer and device, or the file)\n"
"    response   .. the response is posted\n"
"  from target  the target posted the response .. the initiator completed it\n"
"    wire from  .. the response is received (nvme-rdma)\n"
"    receive    .. the command completed\n"
"  fabric       to target + from target: exact, whatever the clocks\n"
"The two machines' clocks differ by an offset the commands bound (a target\n"
"window lies inside its initiator window); the split of the fabric time\n"
"between the two directions rests on the middle of that bound.\n"
"\n"
"  -s, --side SIDE      record: initiator or target\n"
"  -c, --ctrl CTRL      record, initiator: only controller CTRL (nvme3 or 3)\n"
"  -o, --output FILE    record: the record file (default fabriclat-SIDE.txt)\n"
"  -d, --duration TIME  record: stop after TIME (default: at Ctrl-C/SIGTERM)\n"
"      --ready-fd FD    record: write a byte to FD once attached\n"
"  -v, --verbose        record: libbpf's messages (why a hook did not load)\n"
"  -w, --waterfall N    merge: also print the first N commands (default 0)\n"
"      --json           merge: JSON (schema shortpath.fabriclat/1)\n"
"  -h, --help           this text\n"
"      --version        the version of shortpath it belongs to\n"
"\n"
"Examples:\n"
"  target#    sp-fabriclat record --side target -o tgt.txt\n"
"  initiator# sp-fabriclat record --side initiator -c nvme1 -o init.txt -d 20s\n"
"  initiator# uring_bench -m nvme -q 1 -t 10s /dev/ng1n1\n"
"  sp-fabriclat merge init.txt tgt.txt -w 5\n"
"\n"
"Exit status: 0 ok, 1 failure, 2 usage or a tracepoint that is missing.\n");
}

/* Commands started and not yet ended, by queue and command id. */
#define OPEN_SLOTS 65536u
struct open_cmd {
	uint64_t key;		/* qid << 16 | cid, + 1; 0: free */
	uint64_t start;
	uint64_t mark[2];	/* the first of each inner moment; 0: none yet */
};

struct recorder {
	struct fl_side side;
	struct open_cmd *open;
	uint64_t unmatched_ends, dropped;
	int err;
};

static struct open_cmd *open_find(struct open_cmd *t, uint64_t key, bool insert)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ULL;

	for (unsigned i = 0; i < OPEN_SLOTS; i++) {
		struct open_cmd *o = &t[((h >> 48) + i) & (OPEN_SLOTS - 1)];

		if (o->key == key || (insert && !o->key))
			return o;
		if (!o->key)
			return NULL;
	}
	return NULL;
}

/* Removes o, moving later entries of its probe run back (linear probing). */
static void open_del(struct open_cmd *t, struct open_cmd *o)
{
	unsigned i = (unsigned)(o - t);

	o->key = 0;
	for (unsigned j = (i + 1) & (OPEN_SLOTS - 1); t[j].key; j = (j + 1) & (OPEN_SLOTS - 1)) {
		struct open_cmd moved = t[j];
		struct open_cmd *n;

		t[j].key = 0;
		n = open_find(t, moved.key, true);
		*n = moved;
	}
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct recorder *r = ctx;
	const struct fabriclat_ev *ev = data;
	uint64_t key;
	struct open_cmd *o;

	if (len < sizeof(*ev))
		return 0;
	key = ((uint64_t)ev->qid << 16 | ev->cid) + 1;
	if (ev->kind == FABRICLAT_START) {
		o = open_find(r->open, key, true);
		if (!o) {
			r->dropped++;
			return 0;
		}
		/* a start while one was open: the first was never seen ending */
		o->key = key;
		o->start = ev->t;
		o->mark[0] = o->mark[1] = 0;
		return 0;
	}
	o = open_find(r->open, key, false);
	if (ev->kind == FABRICLAT_MARK1 || ev->kind == FABRICLAT_MARK2) {
		/* a moment of no open command (before the recorder saw its
		 * start, or of a command outside the window's filter) */
		if (o && !o->mark[ev->kind - FABRICLAT_MARK1] && ev->t <= FL_MAX_NS)
			o->mark[ev->kind - FABRICLAT_MARK1] = ev->t;
		return 0;
	}
	if (!o) {
		r->unmatched_ends++;
		return 0;
	}
	if (ev->t >= o->start && ev->t <= FL_MAX_NS) {
		struct fl_cmd c = { .qid = ev->qid, .cid = ev->cid, .start = o->start,
				    .end = ev->t, .status = ev->status,
				    .mark = { o->mark[0], o->mark[1] } };
		int ret = fl_add(&r->side, &c);

		if (ret)
			r->dropped++;
	}
	open_del(r->open, o);
	return 0;
}

/* A tracepoint's layout for the BPF side; fields: qid, cid, then
 * optional ctrl_id and status. 0, or -errno with why. */
static int layout_of(const char *event, bool ctrl, bool status, struct fabriclat_layout *l,
		     char *why, size_t wlen)
{
	static const char *const name[] = { "qid", "cid", "ctrl_id", "status" };
	int32_t *where[] = { &l->qid_off, &l->cid_off, &l->ctrl_off, &l->status_off };
	uint32_t *sizes[] = { &l->qid_size, &l->cid_size, &l->ctrl_size, &l->status_size };

	*l = (struct fabriclat_layout){ .ctrl_off = -1, .status_off = -1 };
	for (unsigned i = 0; i < 4; i++) {
		int off, size, ret;

		if ((i == 2 && !ctrl) || (i == 3 && !status))
			continue;
		ret = sp_tracepoint_field(event, name[i], &off, &size);
		if (ret) {
			snprintf(why, wlen, "tracepoint %s, field %s: %s", event, name[i],
				 ret == -ENOENT ? "not found (is its module loaded?)" : strerror(-ret));
			return ret;
		}
		if ((size != 2 && size != 4) || off % size || off + size > FABRICLAT_REC_MAX) {
			snprintf(why, wlen, "tracepoint %s: field %s is %d bytes at %d, not 2 or 4 "
				 "aligned bytes within the first %d", event, name[i], size, off,
				 FABRICLAT_REC_MAX);
			return -EINVAL;
		}
		*where[i] = off;
		*sizes[i] = (uint32_t)size;
		if ((uint32_t)(off + size) > l->size)
			l->size = (uint32_t)(off + size);
	}
	return 0;
}

/* The inner moments' hooks: fentry on module functions. */
enum { H_BDEV_SUBMIT, H_BDEV_DONE, H_FILE_SUBMIT, H_FILE_DONE, H_TCP_SEND, H_RDMA_SEND,
       H_RDMA_RECV, H_N };
static const struct {
	const char *func;
	bool target;		/* a hook of the target's side */
	const char *transport;	/* initiator: the controller's transport, else NULL */
	unsigned mark;		/* FL_MARK1 or FL_MARK2 */
} hook[H_N] = {
	[H_BDEV_SUBMIT] = { "nvmet_bdev_execute_rw", true, NULL, FL_MARK1 },
	[H_BDEV_DONE] = { "nvmet_bio_done", true, NULL, FL_MARK2 },
	[H_FILE_SUBMIT] = { "nvmet_file_execute_rw", true, NULL, FL_MARK1 },
	[H_FILE_DONE] = { "nvmet_file_io_done", true, NULL, FL_MARK2 },
	[H_TCP_SEND] = { "nvme_tcp_try_send_cmd_pdu", false, "tcp", FL_MARK1 },
	[H_RDMA_SEND] = { "nvme_rdma_post_send", false, "rdma", FL_MARK1 },
	[H_RDMA_RECV] = { "nvme_rdma_recv_done", false, "rdma", FL_MARK2 },
};

static struct bpf_program *hook_prog(struct fabriclat_bpf *skel, unsigned h)
{
	struct bpf_program *p[H_N] = {
		skel->progs.fabriclat_bdev_submit, skel->progs.fabriclat_bdev_done,
		skel->progs.fabriclat_file_submit, skel->progs.fabriclat_file_done,
		skel->progs.fabriclat_tcp_send, skel->progs.fabriclat_rdma_send,
		skel->progs.fabriclat_rdma_recv,
	};

	return p[h];
}

/* The transport of controller nvmeN ("tcp", "rdma", "loop"), or "" if
 * not known (no -c, or no such file): then every transport's hooks. */
static void ctrl_transport(int ctrl, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	buf[0] = 0;
	if (ctrl < 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/nvme/nvme%d/transport", ctrl);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

/* The skeleton opened and loaded with the hooks in use[]; NULL with
 * errno on failure. */
static struct fabriclat_bpf *load_with(const bool use[H_N], bool initiator, int ctrl,
				       const struct fabriclat_layout *ls,
				       const struct fabriclat_layout *le)
{
	struct fabriclat_bpf *skel = fabriclat_bpf__open();
	int ret;

	if (!skel)
		return NULL;
	skel->rodata->start_layout = *ls;
	skel->rodata->end_layout = *le;
	skel->rodata->want_ctrl = initiator ? ctrl : -1;
	for (unsigned h = 0; h < H_N; h++)
		bpf_program__set_autoload(hook_prog(skel, h), use[h]);
	ret = fabriclat_bpf__load(skel);
	if (ret) {
		fabriclat_bpf__destroy(skel);
		errno = -ret;
		return NULL;
	}
	return skel;
}

/* Appends ", " (but first) and a formatted text to buf at *used. */
static void say(char *buf, size_t len, size_t *used, const char *fmt, const char *a,
		const char *b)
{
	if (*used < len)
		*used += (size_t)snprintf(buf + *used, len - *used, "%s", *used ? ", " : "");
	if (*used < len)
		*used += (size_t)snprintf(buf + *used, len - *used, fmt, a, b);
}

/*
 * Opens and loads the skeleton with the inner moments' hooks of this
 * side that the kernel has (a function kallsyms lists: static ones a
 * kernel inlined have no fentry target). A hook that does not load
 * (fentry refused, or a structure its CO-RE reads found no match for)
 * is tried alone to name it, and left out. *marks: the moments hooked;
 * lost: what the user is told is missing, "" if nothing. NULL with
 * errno on failure.
 */
static struct fabriclat_bpf *load(bool initiator, int ctrl, const struct fabriclat_layout *ls,
				  const struct fabriclat_layout *le, unsigned *marks,
				  char *lost, size_t llen)
{
	const char *names[H_N];
	bool present[H_N], want[H_N], one[H_N];
	char transport[16];
	struct fabriclat_bpf *skel;
	size_t used = 0;

	ctrl_transport(initiator ? ctrl : -1, transport, sizeof(transport));
	for (unsigned h = 0; h < H_N; h++)
		names[h] = hook[h].func;
	if (sp_ksyms_present(names, present, H_N))
		memset(present, 0, sizeof(present));
	lost[0] = 0;
	for (unsigned h = 0; h < H_N; h++) {
		want[h] = hook[h].target == !initiator &&
			  (!hook[h].transport || !transport[0] || !strcmp(hook[h].transport, transport));
		if (want[h] && !present[h]) {
			say(lost, llen, &used, "%s%s not in this kernel (inlined, or its module not "
			    "loaded)", hook[h].func, "");
			want[h] = false;
		}
	}
	skel = load_with(want, initiator, ctrl, ls, le);
	if (!skel) {
		for (unsigned h = 0; h < H_N; h++) {
			struct fabriclat_bpf *t;

			if (!want[h])
				continue;
			memset(one, 0, sizeof(one));
			one[h] = true;
			t = load_with(one, initiator, ctrl, ls, le);
			if (t) {
				fabriclat_bpf__destroy(t);
				continue;
			}
			say(lost, llen, &used, "%s did not load (%s)", hook[h].func, strerror(errno));
			want[h] = false;
		}
		skel = load_with(want, initiator, ctrl, ls, le);
		if (!skel)
			return NULL;
	}
	/* a moment counts as hooked where a hook for it loaded */
	*marks = 0;
	for (unsigned h = 0; h < H_N; h++)
		if (want[h])
			*marks |= hook[h].mark;
	return skel;
}

static int record(const char *side, int ctrl, const char *output, uint64_t duration_ns,
		  int ready_fd)
{
	bool initiator = !strcmp(side, "initiator");
	const char *ev_start = initiator ? "nvme/nvme_setup_cmd" : "nvmet/nvmet_req_init";
	const char *ev_end = initiator ? "nvme/nvme_complete_rq" : "nvmet/nvmet_req_complete";
	struct fabriclat_layout ls, le;
	struct fabriclat_bpf *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct bpf_link *l1 = NULL, *l2 = NULL;
	struct recorder r = { 0 };
	char why[256], path[64], lost[256];
	uint64_t end_ns;
	FILE *f = NULL;
	int ret, status = SP_EXIT_FAIL;

	snprintf(r.side.role, sizeof(r.side.role), "%s", side);
	if (!output) {
		snprintf(path, sizeof(path), "fabriclat-%s.txt", side);
		output = path;
	}
	sp_bpf_init();
	if (layout_of(ev_start, initiator, false, &ls, why, sizeof(why)) ||
	    layout_of(ev_end, initiator, true, &le, why, sizeof(why))) {
		sp_err("%s", why);
		return SP_EXIT_USAGE;
	}
	r.open = calloc(OPEN_SLOTS, sizeof(*r.open));
	if (!r.open) {
		sp_err("out of memory");
		goto out;
	}
	skel = load(initiator, ctrl, &ls, &le, &r.side.marks, lost, sizeof(lost));
	if (!skel) {
		sp_err("loading the BPF program: %s", strerror(errno));
		goto out;
	}
	ret = fabriclat_bpf__attach(skel);
	if (ret) {
		sp_err("attaching the inner moments' hooks: %s", strerror(-ret));
		goto out;
	}
	if (lost[0])
		sp_notice("%s layers without their inner moments: %s", side, lost);
	l1 = bpf_program__attach_tracepoint(skel->progs.fabriclat_start, strtok(strdupa(ev_start), "/"),
					    strchr(ev_start, '/') + 1);
	l2 = bpf_program__attach_tracepoint(skel->progs.fabriclat_end, strtok(strdupa(ev_end), "/"),
					    strchr(ev_end, '/') + 1);
	if (!l1 || !l2) {
		sp_err("attaching to %s and %s: %s", ev_start, ev_end, strerror(errno));
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, &r, NULL);
	if (!rb) {
		sp_err("ring buffer: %s", strerror(errno));
		goto out;
	}
	sp_stop_catch();
	sp_ready_say(ready_fd);
	sp_notice("recording %s commands on I/O queues%s; Ctrl-C to stop", side,
		  initiator && ctrl >= 0 ? " of one controller" : "");
	end_ns = duration_ns ? sp_now_ns() + duration_ns : UINT64_MAX;
	while (!sp_stop_requested() && sp_now_ns() < end_ns) {
		ret = ring_buffer__poll(rb, 100);
		if (ret < 0 && ret != -EINTR) {
			sp_err("ring buffer: %s", strerror(-ret));
			goto out;
		}
	}
	ring_buffer__consume(rb);
	f = fopen(output, "we");
	if (!f || fl_write(f, &r.side) || fclose(f)) {
		sp_err("cannot write %s: %s", output, strerror(errno));
		f = NULL;
		goto out;
	}
	f = NULL;
	sp_notice("%zu commands to %s (%" PRIu64 " events lost in the kernel, %" PRIu64
		  " ends without a start, %" PRIu64 " dropped)", r.side.n, output,
		  (uint64_t)skel->bss->lost, r.unmatched_ends, r.dropped);
	status = SP_EXIT_OK;
out:
	ring_buffer__free(rb);
	bpf_link__destroy(l1);
	bpf_link__destroy(l2);
	fabriclat_bpf__destroy(skel);
	fl_free(&r.side);
	free(r.open);
	return status;
}

static int read_side(const char *path, struct fl_side *s)
{
	char why[160], *text;
	FILE *f = fopen(path, "re");
	size_t len = 0, cap = 1 << 20, n;
	int ret;

	if (!f) {
		sp_err("cannot read %s: %s", path, strerror(errno));
		return -errno;
	}
	text = malloc(cap);
	while (text && (n = fread(text + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			char *p = cap < (1u << 30) ? realloc(text, cap * 2) : NULL;

			if (!p) {
				free(text);
				text = NULL;
				break;
			}
			text = p;
			cap *= 2;
		}
	}
	fclose(f);
	if (!text) {
		sp_err("%s: larger than 1 GiB or out of memory", path);
		return -EFBIG;
	}
	ret = fl_parse(text, len, s, why, sizeof(why));
	free(text);
	if (ret)
		sp_err("%s: %s", path, why);
	return ret;
}

/* The layers in waterfall order; the inner ones indented under the
 * window they split, and present where a pair has their moments. */
enum { L_TO, L_SEND, L_WIRE_TO, L_AT, L_T_NVMET, L_T_BACKEND, L_T_RESP, L_FROM, L_WIRE_FROM,
       L_RECV, L_FABRIC, L_TOTAL, L_N };
static const struct {
	const char *name, *key;
	unsigned have;		/* FL_HAVE_*: an inner layer; 0: always there */
	const char *hook;	/* for "not seen": the side and moment it needs */
} layer[L_N] = {
	[L_TO] = { "to target", "to_target", 0, NULL },
	[L_SEND] = { "  send", "send", FL_HAVE_SEND, "the initiator's transport send" },
	[L_WIRE_TO] = { "  wire to", "wire_to_target", FL_HAVE_SEND, NULL },
	[L_AT] = { "at target", "at_target", 0, NULL },
	[L_T_NVMET] = { "  nvmet", "target_nvmet", FL_HAVE_BACKEND,
			"the target's backend submit and completion" },
	[L_T_BACKEND] = { "  backend", "target_backend", FL_HAVE_BACKEND, NULL },
	[L_T_RESP] = { "  response", "target_response", FL_HAVE_BACKEND, NULL },
	[L_FROM] = { "from target", "from_target", 0, NULL },
	[L_WIRE_FROM] = { "  wire from", "wire_from_target", FL_HAVE_RECV, NULL },
	[L_RECV] = { "  receive", "receive", FL_HAVE_RECV, "the initiator's response receive" },
	[L_FABRIC] = { "fabric", "fabric", 0, NULL },
	[L_TOTAL] = { "total", "total", 0, NULL },
};

static void pair_layers(const struct fl_pair *p, int64_t v[L_N])
{
	v[L_TO] = p->to_target;
	v[L_SEND] = p->send;
	v[L_WIRE_TO] = p->wire_to;
	v[L_AT] = p->at_target;
	v[L_T_NVMET] = p->tgt_nvmet;
	v[L_T_BACKEND] = p->tgt_backend;
	v[L_T_RESP] = p->tgt_response;
	v[L_FROM] = p->from_target;
	v[L_WIRE_FROM] = p->wire_from;
	v[L_RECV] = p->receive;
	v[L_FABRIC] = p->total - p->at_target;
	v[L_TOTAL] = p->total;
}

/* Whether p's inner layers add up to the windows they split, each of
 * the exact ones at least 0 (the wire's rest on the clock offset). */
static bool adds_up(const struct fl_pair *p)
{
	if ((p->have & FL_HAVE_SEND) && (p->send < 0 || p->send + p->wire_to != p->to_target))
		return false;
	if ((p->have & FL_HAVE_RECV) &&
	    (p->receive < 0 || p->wire_from + p->receive != p->from_target))
		return false;
	if ((p->have & FL_HAVE_BACKEND) &&
	    (p->tgt_nvmet < 0 || p->tgt_backend < 0 || p->tgt_response < 0 ||
	     p->tgt_nvmet + p->tgt_backend + p->tgt_response != p->at_target))
		return false;
	return !p->misordered;
}

/* Why an inner layer has no command: its moments were not hooked on
 * that side (the record file's header says), or no command passed them. */
static const char *why_not_seen(unsigned have, const struct fl_side *in, const struct fl_side *tg)
{
	unsigned need = have == FL_HAVE_SEND ? FL_MARK1 : FL_MARK2;
	const struct fl_side *s = have == FL_HAVE_BACKEND ? tg : in;

	if (have == FL_HAVE_BACKEND)
		need = FL_MARK1 | FL_MARK2;
	if (s->version == 1)
		return "that side's record file is of version 1, without moments";
	return (s->marks & need) == need ? "hooked, no paired command passed it" :
					   "no hook on that side's kernel";
}

static int merge(const char *ipath, const char *tpath, bool json, unsigned waterfall)
{
	struct fl_side in = { 0 }, tg = { 0 };
	struct fl_join j;
	struct sp_hist *h;
	size_t bad = 0, bad_shown = 0;
	unsigned have_any = 0;
	int status = SP_EXIT_FAIL;

	if (read_side(ipath, &in) || read_side(tpath, &tg))
		goto out_sides;
	if (strcmp(in.role, "initiator") || strcmp(tg.role, "target")) {
		sp_err("merge takes the initiator's file, then the target's (got %s, %s)",
		       in.role, tg.role);
		status = SP_EXIT_USAGE;
		goto out_sides;
	}
	h = calloc(L_N, sizeof(*h));
	if (!h || fl_join(&in, &tg, &j)) {
		sp_err("out of memory");
		free(h);
		goto out_sides;
	}
	for (unsigned l = 0; l < L_N; l++)
		sp_hist_init(&h[l]);
	for (size_t k = 0; k < j.n; k++) {
		const struct fl_pair *p = &j.pair[k];
		int64_t v[L_N];
		bool ok = adds_up(p);

		pair_layers(p, v);
		if (!ok)
			bad++;
		for (unsigned l = 0; l < L_N; l++) {
			if (layer[l].have && (!ok || !(p->have & layer[l].have)))
				continue;
			sp_hist_add(&h[l], v[l] > 0 ? (uint64_t)v[l] : 0);
		}
		if (ok)
			have_any |= p->have;
	}
	if (json) {
		json_object *o = sp_json_doc("shortpath.fabriclat/1"), *ls = json_object_new_object();
		json_object *wf = json_object_new_array(), *un = json_object_new_array();

		json_object_object_add(o, "paired", sp_json_u64(j.n));
		json_object_object_add(o, "initiator_alone", sp_json_u64(j.init_alone));
		json_object_object_add(o, "target_alone", sp_json_u64(j.target_alone));
		json_object_object_add(o, "clocks_agree", json_object_new_boolean(j.n && j.off_lo <= j.off_hi));
		json_object_object_add(o, "not_adding_up", sp_json_u64(bad));
		for (unsigned l = 0; l < L_N; l++) {
			if (layer[l].have && !(have_any & layer[l].have)) {
				json_object_array_add(un, json_object_new_string(layer[l].key));
				continue;
			}
			json_object_object_add(ls, layer[l].key, sp_json_hist(&h[l]));
		}
		json_object_object_add(o, "layers_ns", ls);
		json_object_object_add(o, "unavailable", un);
		for (size_t k = 0; k < j.n && k < waterfall; k++) {
			const struct fl_pair *p = &j.pair[k];
			const struct fl_cmd *c = &in.cmd[p->init];
			json_object *w = json_object_new_object();
			int64_t v[L_N];
			char key[40];

			pair_layers(p, v);
			json_object_object_add(w, "qid", sp_json_u64(c->qid));
			json_object_object_add(w, "cid", sp_json_u64(c->cid));
			for (unsigned l = 0; l < L_N; l++) {
				if (l == L_FABRIC || (layer[l].have && !(p->have & layer[l].have)))
					continue;
				snprintf(key, sizeof(key), "%s_ns", layer[l].key);
				json_object_object_add(w, key, json_object_new_int64(v[l]));
			}
			json_object_object_add(w, "adds_up", json_object_new_boolean(adds_up(p)));
			json_object_array_add(wf, w);
		}
		json_object_object_add(o, "waterfall", wf);
		sp_json_print_and_free(o);
	} else {
		printf("%zu commands paired (%zu on the initiator alone, %zu on the target alone)\n",
		       j.n, j.init_alone, j.target_alone);
		if (j.n && j.off_lo > j.off_hi)
			printf("the pairs disagree on the clocks' offset: the split of the fabric "
			       "time between directions is a guess\n");
		printf("%-12s %10s %10s %10s\n", "layer (us)", "p50", "p99", "mean");
		for (unsigned l = 0; l < L_N; l++) {
			if (layer[l].have && !(have_any & layer[l].have)) {
				if (layer[l].hook)
					printf("%-12s not seen (%s: %s)\n", layer[l].name,
					       layer[l].hook, why_not_seen(layer[l].have, &in, &tg));
				continue;
			}
			printf("%-12s %10.1f %10.1f %10.1f\n", layer[l].name,
			       sp_hist_percentile(&h[l], 50) / 1e3,
			       sp_hist_percentile(&h[l], 99) / 1e3, sp_hist_mean(&h[l]) / 1e3);
		}
		for (size_t k = 0; k < j.n && k < waterfall; k++) {
			const struct fl_pair *p = &j.pair[k];
			const struct fl_cmd *c = &in.cmd[p->init];

			printf("qid %" PRIu32 " cid %u: to target %.1f us", c->qid, c->cid,
			       p->to_target / 1e3);
			if (p->have & FL_HAVE_SEND)
				printf(" (send %.1f, wire %.1f)", p->send / 1e3, p->wire_to / 1e3);
			printf(" | at target %.1f us", p->at_target / 1e3);
			if (p->have & FL_HAVE_BACKEND)
				printf(" (nvmet %.1f, backend %.1f, response %.1f)", p->tgt_nvmet / 1e3,
				       p->tgt_backend / 1e3, p->tgt_response / 1e3);
			printf(" | from target %.1f us", p->from_target / 1e3);
			if (p->have & FL_HAVE_RECV)
				printf(" (wire %.1f, receive %.1f)", p->wire_from / 1e3, p->receive / 1e3);
			printf(" = %.1f us\n", p->total / 1e3);
		}
		if (bad) {
			printf("%zu commands whose inner layers do not add up to their windows "
			       "(a moment outside its window or out of order), left out of the "
			       "inner layers:", bad);
			for (size_t k = 0; k < j.n && bad_shown < 5; k++)
				if (!adds_up(&j.pair[k])) {
					printf(" qid %" PRIu32 " cid %u", in.cmd[j.pair[k].init].qid,
					       in.cmd[j.pair[k].init].cid);
					bad_shown++;
				}
			printf("%s\n", bad > bad_shown ? " ..." : "");
		}
	}
	status = j.n ? SP_EXIT_OK : SP_EXIT_FAIL;
	if (!j.n)
		sp_err("no command of %s pairs with one of %s", ipath, tpath);
	fl_join_free(&j);
	free(h);
out_sides:
	fl_free(&in);
	fl_free(&tg);
	return status;
}

int main(int argc, char **argv)
{
	enum { OPT_READY = 0x100 };
	static const struct option longopts[] = {
		{ "side", required_argument, NULL, 's' },
		{ "ctrl", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "duration", required_argument, NULL, 'd' },
		{ "waterfall", required_argument, NULL, 'w' },
		{ "ready-fd", required_argument, NULL, OPT_READY },
		SP_OPT_VERBOSE_LONGOPT,
		SP_OPT_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *side = NULL, *output = NULL;
	uint64_t duration = 0, v;
	int opt, ctrl = -1, ready_fd = -1;
	unsigned waterfall = 0;
	bool json = false;
	const struct sp_opt_common common = { .shortopts = "hvs:c:o:d:w:", .usage = usage,
					      .json = &json };

	sp_log_init(argv[0], SP_LOG_NOTICE);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (strcmp(optarg, "initiator") && strcmp(optarg, "target")) {
				sp_opt_bad_value(longopts, opt, optarg);
				return SP_EXIT_USAGE;
			}
			side = optarg;
			break;
		case 'c':
			if (sp_parse_u64(optarg + (strncmp(optarg, "nvme", 4) ? 0 : 4), 0, 65535, &v)) {
				sp_opt_bad_value(longopts, opt, optarg);
				return SP_EXIT_USAGE;
			}
			ctrl = (int)v;
			break;
		case 'o':
			output = optarg;
			break;
		case 'd':
			if (sp_parse_duration(optarg, &duration) || !duration) {
				sp_opt_bad_value(longopts, opt, optarg);
				return SP_EXIT_USAGE;
			}
			break;
		case 'w':
			if (sp_parse_u64(optarg, 0, 1000000, &v)) {
				sp_opt_bad_value(longopts, opt, optarg);
				return SP_EXIT_USAGE;
			}
			waterfall = (unsigned)v;
			break;
		case OPT_READY:
			if (sp_parse_u64(optarg, 0, 65535, &v)) {
				sp_opt_bad_value(longopts, opt, optarg);
				return SP_EXIT_USAGE;
			}
			ready_fd = (int)v;
			break;
		default:
			if (sp_opt_common(&common, opt, argv))
				return SP_EXIT_USAGE;
		}
	}
	if (optind < argc && !strcmp(argv[optind], "record") && optind + 1 == argc) {
		if (!side) {
			sp_err("record needs --side initiator|target; see --help");
			return SP_EXIT_USAGE;
		}
		return record(side, ctrl, output, duration, ready_fd);
	}
	if (optind < argc && !strcmp(argv[optind], "merge") && optind + 3 == argc)
		return merge(argv[optind + 1], argv[optind + 2], json, waterfall);
	sp_err("say record or merge INITIATOR-FILE TARGET-FILE; see --help");
	return SP_EXIT_USAGE;
}
