// SPDX-License-Identifier: MIT
/*
 * sp-features: which eBPF program types load, attach and fire on this
 * kernel. Every tracer in shortpath probes the same way before it picks
 * its hooks; this tool shows the answer to a person (and to tests).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "featprobe.h"
#include "featprobe.skel.h"
#include "sp_bpf.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_version.h"

static const char *const feat_names[SP_FEAT_MAX] = {
	[SP_FEAT_TRACEPOINT] = "tracepoint",
	[SP_FEAT_RAW_TRACEPOINT] = "raw_tracepoint",
	[SP_FEAT_TP_BTF] = "tp_btf",
	[SP_FEAT_FENTRY] = "fentry",
	[SP_FEAT_FEXIT] = "fexit",
	[SP_FEAT_KPROBE] = "kprobe",
	[SP_FEAT_LSM] = "lsm",
};

struct result {
	bool ok;
	char why[160];
};

static struct bpf_program *feat_prog(struct featprobe_bpf *s, enum sp_feature f)
{
	struct bpf_program *progs[SP_FEAT_MAX] = {
		[SP_FEAT_TRACEPOINT] = s->progs.feat_tracepoint,
		[SP_FEAT_RAW_TRACEPOINT] = s->progs.feat_raw_tracepoint,
		[SP_FEAT_TP_BTF] = s->progs.feat_tp_btf,
		[SP_FEAT_FENTRY] = s->progs.feat_fentry,
		[SP_FEAT_FEXIT] = s->progs.feat_fexit,
		[SP_FEAT_KPROBE] = s->progs.feat_kprobe,
		[SP_FEAT_LSM] = s->progs.feat_lsm,
	};

	return progs[f];
}

/* Calls that the programs above hook: getppid, read(2) of a pipe. */
static void trigger(void)
{
	int p[2];
	char c = 'x';

	(void)getppid();
	if (pipe(p))
		return;
	if (write(p[1], &c, 1) == 1 && read(p[0], &c, 1) < 0)
		c = 0;
	close(p[0]);
	close(p[1]);
}

/* Open, set read-only config, load, attach, check: one program only. */
static void probe(enum sp_feature f, struct result *r)
{
	struct featprobe_bpf *skel;
	struct bpf_program *prog, *want;
	struct bpf_link *link = NULL;
	int err;

	memset(r, 0, sizeof(*r));
	skel = featprobe_bpf__open();
	if (!skel) {
		snprintf(r->why, sizeof(r->why), "open: %s", strerror(errno));
		return;
	}
	skel->rodata->target_tgid = getpid();
	want = feat_prog(skel, f);
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, prog == want);
	err = featprobe_bpf__load(skel);
	if (err) {
		snprintf(r->why, sizeof(r->why), "load: %s", strerror(-err));
		goto out;
	}
	link = bpf_program__attach(want);
	if (!link) {
		snprintf(r->why, sizeof(r->why), "attach: %s", strerror(errno));
		goto out;
	}
	trigger();
	if (!skel->bss->hits[f]) {
		snprintf(r->why, sizeof(r->why), "attached but never ran%s",
			 f == SP_FEAT_LSM ? " (bpf is not in the lsm= list)" : "");
		goto out;
	}
	r->ok = true;
out:
	bpf_link__destroy(link);
	featprobe_bpf__destroy(skel);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sp-features [--json] [--require LIST]\n"
"\n"
"Probe which eBPF program types load, attach and run on this kernel:\n"
"tracepoint, raw_tracepoint, tp_btf, fentry, fexit, kprobe, lsm.\n"
"\n"
"  --require LIST  exit 1 unless every listed type works (comma-separated)\n"
"  --json          one JSON document on stdout\n"
"  -v, --verbose   show libbpf's messages\n"
"  -h, --help      this text\n"
"      --version   the version of shortpath it belongs to\n"
"\n"
"Examples:\n"
"  sp-features\n"
"  sp-features --require fentry,kprobe && echo 'fentry and kprobes work'\n"
"\n"
"Exit status: 0 ok, 1 a required type is unavailable or probing failed,\n"
"2 bad usage.\n");
}

static int parse_require(const char *list, bool *req)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int found = -1;

		for (int f = 0; f < SP_FEAT_MAX; f++)
			if (!strcmp(tok, feat_names[f]))
				found = f;
		if (found < 0) {
			sp_err("unknown program type '%s' in --require", tok);
			ret = -EINVAL;
			break;
		}
		req[found] = true;
	}
	free(copy);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "require", required_argument, NULL, 'r' },
		SP_OPT_VERBOSE_LONGOPT,
		SP_OPT_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	bool json = false, req[SP_FEAT_MAX] = { false };
	struct result res[SP_FEAT_MAX];
	const struct sp_opt_common common = { .shortopts = "vh", .usage = usage, .json = &json };
	int opt, status = SP_EXIT_OK;

	sp_log_init(argv[0], SP_LOG_NOTICE);
	opterr = 0;	/* one line of our own for a bad option */
	while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (parse_require(optarg, req))
				return SP_EXIT_USAGE;
			break;
		default:
			if (sp_opt_common(&common, opt, argv))
				return SP_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		sp_err("unexpected argument '%s'; see --help", argv[optind]);
		return SP_EXIT_USAGE;
	}
	sp_bpf_init();
	for (int f = 0; f < SP_FEAT_MAX; f++) {
		probe(f, &res[f]);
		if (req[f] && !res[f].ok)
			status = SP_EXIT_FAIL;
	}
	if (json) {
		json_object *root = json_object_new_object();
		json_object *feats = json_object_new_object();

		for (int f = 0; f < SP_FEAT_MAX; f++) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "supported", json_object_new_boolean(res[f].ok));
			json_object_object_add(o, "reason", res[f].ok ? NULL :
					       json_object_new_string(res[f].why));
			json_object_object_add(feats, feat_names[f], o);
		}
		json_object_object_add(root, "schema", json_object_new_string("shortpath.features/1"));
		sp_json_stamp(root);
		json_object_object_add(root, "features", feats);
		sp_json_print_and_free(root);
	} else {
		for (int f = 0; f < SP_FEAT_MAX; f++)
			printf("%-15s %s%s%s%s\n", feat_names[f], res[f].ok ? "yes" : "no",
			       res[f].ok ? "" : " (", res[f].why, res[f].ok ? "" : ")");
	}
	for (int f = 0; f < SP_FEAT_MAX; f++)
		if (req[f] && !res[f].ok)
			sp_err("required program type %s is unavailable: %s",
			       feat_names[f], res[f].why);
	return status;
}
