// SPDX-License-Identifier: MIT
/*
 * sp-fetch: the verifying client of sp-serve (and of any HTTP server
 * that honours Range, such as nginx). Every byte received is checked
 * against the local source file: a CRC32C per SP_X_PAYLOAD-byte block
 * of the file is computed once, and the CRC of each received block must
 * match it. Nothing received is stored, so a 64 MiB file costs one
 * table of 64 Ki CRCs.
 *
 * This file parses the options, runs the mode asked for and reports;
 * fetch.h says where each mode and what they share live.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_addr.h"
#include "sp_hist.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_proto.h"
#include "sp_rand.h"
#include "sp_stats.h"
#include "sp_version.h"
#include "sp_xsk.h"
#include "fetch.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sp-fetch [OPTIONS] FILE\n"
"\n"
"Fetch FILE (the local copy of what the server serves) many times, in\n"
"parallel, and check every byte received against it.\n"
"\n"
"  -m, --mode tcp|udp|xdp tcp: HTTP/1.1 (sp-serve's TCP modes, nginx);\n"
"                        udp: sp-serve's xdp mode through a kernel UDP socket;\n"
"                        xdp: the same protocol through an AF_XDP socket\n"
"                        on -i IFACE (default tcp)\n"
"  -i, --iface IFACE     xdp: the interface that reaches the server; an XDP\n"
"                        program on it takes the replies and passes the rest\n"
"      --xdp-mode M      xdp: native or skb (default: native, else skb)\n"
"      --threads N       xdp: N threads, each with its own AF_XDP socket on\n"
"                        its own receive queue of IFACE, pinned to a CPU\n"
"                        that queue's replies arrive on, each with -P in\n"
"                        flight; totals summed (default 1; at most the\n"
"                        interface's queues)\n"
"  -s, --server HOST     server: IPv4 or IPv6 address, or host name (default\n"
"                        127.0.0.1; -m xdp: IPv4)\n"
"  -p, --port N          server port (default 7878)\n"
"      --name NAME       tcp: name on the server (default: base name of FILE)\n"
"      --id N            udp: file id on the server (default 0)\n"
"  -P, --parallel N      connections (tcp) or requests in flight (udp) (default 4)\n"
"  -n, --requests N      requests in all (default 100)\n"
"  -t, --time DURATION   run this long instead\n"
"      --rate N          offer N requests per second in all, whatever the\n"
"                        replies do (open loop); a request's latency counts\n"
"                        from when it was due, so queueing shows in p99\n"
"      --len BYTES       fetch ranges of BYTES at random offsets that are\n"
"                        multiples of 1 KiB (default: the whole file)\n"
"      --sequential      with --len: the ranges in file order instead, from\n"
"                        the start again after the end (each thread its own\n"
"                        pass); -n 2048 --len 1k reads a 1 MiB file twice\n"
"      --chunk BYTES     udp: longest single request (default and most 64k)\n"
"      --timeout DURATION udp: re-request what is missing after this much\n"
"                        silence (default 20ms)\n"
"      --server-pid PID  also report the CPU time of PID (repeatable)\n"
"      --bad KIND        send one bad request instead (malformed, nofile,\n"
"                        range, toobig) and check the server's error reply\n"
"      --fresh UNITS     udp, against sp-serve --writable: a writer rewrites\n"
"                        the first UNITS KiB of FILE, one KiB unit at a time,\n"
"                        with numbered versions, while -P readers fetch\n"
"                        units; fails if a reader gets a version older than\n"
"                        the last one acknowledged before it asked, or a\n"
"                        unit that is no version at all. FILE is changed.\n"
"      --json            one JSON document on stdout\n"
"  -q, --quiet           no progress line, no notices (errors only)\n"
"  -h, --help            this text\n"
"      --version         the version of shortpath it belongs to\n"
"\n"
"Examples:\n"
"  sp-fetch -s 10.0.0.1 -P 8 -n 1000 /srv/a.bin\n"
"  sp-fetch -m udp -s 10.0.0.1 --len 4k -t 5s --json /srv/a.bin\n"
"  sp-fetch -s 10.0.0.1 --bad nofile /srv/a.bin\n"
"  sp-fetch -m udp -s 10.0.0.1 --fresh 16 -P 8 -t 3s /srv/a.bin\n"
"  sp-fetch -m xdp -i veth1 -s 10.0.0.1 --len 4k -P 16 -t 5s /srv/a.bin\n"
"  sp-fetch -m xdp -i veth1 --threads 2 -s 10.0.0.1 --len 1k -t 5s /srv/a.bin\n"
"\n"
"Exit status: 0 every byte matched (or --bad got its error), 1 a mismatch,\n"
"a loss, an error reply or a network failure, 2 bad usage.\n");
}

static const char *const bad_names[] = {
	[BAD_MALFORMED] = "malformed", [BAD_NOFILE] = "nofile",
	[BAD_RANGE] = "range", [BAD_TOOBIG] = "toobig",
};

static void on_signal(int sig)
{
	atomic_store(&sp_fetch_interrupted, true);
}

static const char *mode_name(const struct client *c)
{
	return c->xdp ? "xdp" : c->udp ? "udp" : "tcp";
}

static json_object *drops_json(const struct sp_xsk_drops *d)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "rx_dropped", sp_json_u64(d->rx_dropped));
	json_object_object_add(o, "rx_ring_full", sp_json_u64(d->rx_ring_full));
	json_object_object_add(o, "rx_fill_ring_empty", sp_json_u64(d->rx_fill_empty));
	json_object_object_add(o, "rx_invalid", sp_json_u64(d->rx_invalid));
	json_object_object_add(o, "tx_invalid", sp_json_u64(d->tx_invalid));
	json_object_object_add(o, "tx_ring_empty", sp_json_u64(d->tx_ring_empty));
	return o;
}

static void report(struct client *c, const struct sp_usage *u, const uint64_t *srv_ns)
{
	double secs = u->wall_ns / 1e9, gib = c->bytes / 1073741824.0;
	uint64_t cpu = u->user_ns + u->sys_ns;
	char addr[80];

	if (c->json) {
		json_object *root = json_object_new_object();
		json_object *cj = json_object_new_object();

		json_object_object_add(root, "schema", json_object_new_string("shortpath.sp-fetch/1"));
		sp_json_stamp(root);
		json_object_object_add(root, "mode", json_object_new_string(mode_name(c)));
		json_object_object_add(root, "server", json_object_new_string(c->server));
		json_object_object_add(root, "file", json_object_new_string(c->path));
		json_object_object_add(root, "size", sp_json_u64(c->size));
		json_object_object_add(root, "range_len", sp_json_u64(c->len && c->len < c->size ? c->len : c->size));
		json_object_object_add(root, "parallel", sp_json_u64(c->parallel));
		json_object_object_add(root, "offered_rps", c->rate ? sp_json_u64(c->rate) : NULL);
		json_object_object_add(root, "ok", json_object_new_boolean(!c->fail[0]));
		json_object_object_add(root, "failure", c->fail[0] ? json_object_new_string(c->fail) : NULL);
		json_object_object_add(root, "requests", sp_json_u64(c->done));
		json_object_object_add(root, "bytes", sp_json_u64(c->bytes));
		json_object_object_add(root, "errors", sp_json_u64(c->errors));
		json_object_object_add(root, "mismatches", sp_json_u64(c->mismatches));
		json_object_object_add(root, "lost", sp_json_u64(c->lost));
		json_object_object_add(root, "retransmits", sp_json_u64(c->retransmits));
		json_object_object_add(root, "busy_replies", sp_json_u64(c->busy));
		if (c->udp)
			json_object_object_add(root, "token_replies", sp_json_u64(c->tokens));
		if (c->fresh) {
			json_object *fj = json_object_new_object();

			json_object_object_add(fj, "units", sp_json_u64(c->fresh));
			json_object_object_add(fj, "writes", sp_json_u64(c->writes));
			json_object_object_add(fj, "stale", sp_json_u64(c->stale));
			json_object_object_add(root, "fresh", fj);
		}
		if (c->xdp) {
			json_object *xj = json_object_new_object();
			json_object *tj = json_object_new_array();

			json_object_object_add(xj, "attach", json_object_new_string(c->xdp_attach));
			json_object_object_add(xj, "zerocopy", json_object_new_boolean(c->xdp_zerocopy));
			json_object_object_add(xj, "frames_tx", sp_json_u64(c->frames_tx));
			json_object_object_add(xj, "frames_rx", sp_json_u64(c->frames_rx));
			json_object_object_add(xj, "csum_errors", sp_json_u64(c->csum_errors));
			json_object_object_add(xj, "queues", sp_json_u64(c->queues));
			json_object_object_add(xj, "threads", sp_json_u64(c->threads));
			json_object_object_add(xj, "misrouted", sp_json_u64(c->misrouted));
			for (unsigned t = 0; t < c->threads; t++)
				json_object_array_add(tj, sp_json_u64(c->thread_done[t]));
			json_object_object_add(xj, "thread_requests", tj);
			json_object_object_add(xj, "kernel_drops", drops_json(&c->xsk_drops));
			json_object_object_add(root, "xdp", xj);
		}
		json_object_object_add(root, "elapsed_ns", sp_json_u64(u->wall_ns));
		json_object_object_add(root, "mib_s", sp_json_dbl(secs > 0 ? c->bytes / secs / 1048576.0 : 0));
		json_object_object_add(root, "rps", sp_json_dbl(secs > 0 ? c->done / secs : 0));
		json_object_object_add(root, "latency_ns", sp_json_hist(&c->lat));
		json_object_object_add(cj, "client_ns_per_gib", sp_json_dbl(gib > 0 ? cpu / gib : 0));
		json_object_object_add(cj, "server_ns_per_gib",
				       srv_ns ? sp_json_dbl(gib > 0 ? *srv_ns / gib : 0) : NULL);
		json_object_object_add(root, "cpu", cj);
		sp_json_print_and_free(root);
		return;
	}
	printf("%s %s %s: %llu requests, %.1f MiB in %.2f s: %.1f MiB/s, %.0f req/s\n",
	       mode_name(c), sp_addr_str(&c->sa, addr, sizeof(addr)),
	       c->path, (unsigned long long)c->done, c->bytes / 1048576.0, secs,
	       secs > 0 ? c->bytes / secs / 1048576.0 : 0, secs > 0 ? c->done / secs : 0);
	if (c->rate)
		printf("  offered     %llu req/s (open loop: latency from when each was due)\n",
		       (unsigned long long)c->rate);
	printf("  latency us  p50 %.1f  p99 %.1f  max %.1f\n",
	       sp_hist_percentile(&c->lat, 50) / 1e3, sp_hist_percentile(&c->lat, 99) / 1e3,
	       c->lat.max / 1e3);
	printf("  CPU ms/GiB  client %.1f", gib > 0 ? cpu / gib / 1e6 : 0);
	if (srv_ns)
		printf("  server %.1f", gib > 0 ? *srv_ns / gib / 1e6 : 0);
	printf("\n  checked     %llu bytes: %llu mismatches, %llu error replies, "
	       "%llu lost, %llu re-requests\n", (unsigned long long)c->bytes,
	       (unsigned long long)c->mismatches, (unsigned long long)c->errors,
	       (unsigned long long)c->lost, (unsigned long long)c->retransmits);
	if (c->xdp) {
		const struct sp_xsk_drops *d = &c->xsk_drops;

		printf("  AF_XDP      %s on %s, %u queue%s, %u thread%s: %llu frames sent, %llu received, "
		       "%llu bad UDP checksums, %llu misrouted\n",
		       c->xdp_attach, c->ifname, c->queues, c->queues > 1 ? "s" : "",
		       c->threads, c->threads > 1 ? "s" : "", (unsigned long long)c->frames_tx,
		       (unsigned long long)c->frames_rx, (unsigned long long)c->csum_errors,
		       (unsigned long long)c->misrouted);
		/*
		 * tx_ring_empty counts wake-ups that found nothing to send, a
		 * normal event on every run: it is printed beside real drops,
		 * never on its own.
		 */
		if (d->rx_dropped || d->rx_invalid || d->rx_ring_full || d->rx_fill_empty ||
		    d->tx_invalid)
			printf("  kernel      dropped %llu (RX ring full %llu, fill ring empty %llu), "
			       "invalid RX %llu, invalid TX %llu, TX ring found empty %llu\n",
			       (unsigned long long)d->rx_dropped, (unsigned long long)d->rx_ring_full,
			       (unsigned long long)d->rx_fill_empty, (unsigned long long)d->rx_invalid,
			       (unsigned long long)d->tx_invalid, (unsigned long long)d->tx_ring_empty);
		if (c->threads > 1) {
			printf("  threads    ");
			for (unsigned t = 0; t < c->threads; t++)
				printf(" %llu", (unsigned long long)c->thread_done[t]);
			printf(" requests\n");
		}
	}
	if (c->fresh)
		printf("  fresh       %llu acknowledged writes over %u units, %llu stale reads\n",
		       (unsigned long long)c->writes, c->fresh, (unsigned long long)c->stale);
}

enum { OPT_NAME = 256, OPT_ID, OPT_LEN, OPT_CHUNK, OPT_TIMEOUT, OPT_PID,
       OPT_BAD, OPT_FRESH, OPT_XDP_MODE, OPT_THREADS, OPT_RATE, OPT_SEQUENTIAL };

static int parse_args(int argc, char **argv, struct client *c)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "iface", required_argument, NULL, 'i' },
		{ "xdp-mode", required_argument, NULL, OPT_XDP_MODE },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "server", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "id", required_argument, NULL, OPT_ID },
		{ "parallel", required_argument, NULL, 'P' },
		{ "requests", required_argument, NULL, 'n' },
		{ "time", required_argument, NULL, 't' },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "len", required_argument, NULL, OPT_LEN },
		{ "sequential", no_argument, NULL, OPT_SEQUENTIAL },
		{ "chunk", required_argument, NULL, OPT_CHUNK },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "server-pid", required_argument, NULL, OPT_PID },
		{ "bad", required_argument, NULL, OPT_BAD },
		{ "fresh", required_argument, NULL, OPT_FRESH },
		SP_OPT_QUIET_LONGOPT,
		SP_OPT_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *host = "127.0.0.1";
	uint16_t port = 7878;
	const struct sp_opt_common common = { .shortopts = "m:i:s:p:P:n:t:qh", .usage = usage,
					      .json = &c->json, .quiet = &c->quiet };
	char why[160];
	uint64_t v;
	int opt, ret;

	c->parallel = 4;
	c->threads = 1;
	c->requests = 100;
	c->chunk = UDP_MAX_FRAMES * BLK;
	c->timeout_ns = 20000000;
	opterr = 0;	/* one line of our own for a bad option */
	while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (strcmp(optarg, "tcp") && strcmp(optarg, "udp") && strcmp(optarg, "xdp"))
				goto bad;
			c->xdp = !strcmp(optarg, "xdp");
			c->udp = c->xdp || !strcmp(optarg, "udp");
			break;
		case 'i': c->ifname = optarg; break;
		case OPT_XDP_MODE:
			if (strcmp(optarg, "native") && strcmp(optarg, "skb"))
				goto bad;
			c->xdp_mode = optarg;
			break;
		case OPT_THREADS:
			if (sp_parse_u64(optarg, 1, SP_XSK_MAX_QUEUES, &v))
				goto bad;
			c->threads = v;
			break;
		case 's': host = optarg; break;
		case 'p':
			if (sp_parse_u64(optarg, 1, 65535, &v))
				goto bad;
			port = v;
			break;
		case OPT_NAME: c->name = optarg; break;
		case OPT_ID:
			if (sp_parse_u64(optarg, 0, UINT32_MAX, &v))
				goto bad;
			c->id = v;
			break;
		case 'P':
			if (sp_parse_u64(optarg, 1, 1024, &v))
				goto bad;
			c->parallel = v;
			break;
		case 'n':
			if (sp_parse_u64(optarg, 1, UINT64_MAX, &c->requests))
				goto bad;
			break;
		case 't':
			if (sp_parse_duration(optarg, &c->run_ns) || !c->run_ns)
				goto bad;
			break;
		case OPT_RATE:
			if (sp_parse_u64(optarg, 1, 100000000, &c->rate))
				goto bad;
			break;
		case OPT_LEN:
			if (sp_parse_size(optarg, &c->len) || !c->len || c->len % BLK)
				goto bad;
			break;
		case OPT_SEQUENTIAL:
			c->sequential = true;
			break;
		case OPT_CHUNK:
			if (sp_parse_size(optarg, &c->chunk) || !c->chunk ||
			    c->chunk % BLK || c->chunk > UDP_MAX_FRAMES * BLK)
				goto bad;
			break;
		case OPT_TIMEOUT:
			if (sp_parse_duration(optarg, &c->timeout_ns) || !c->timeout_ns)
				goto bad;
			break;
		case OPT_PID:
			if (c->nr_pids == MAX_PIDS || sp_parse_u64(optarg, 1, INT32_MAX, &v))
				goto bad;
			c->pids[c->nr_pids++] = v;
			break;
		case OPT_BAD:
			for (c->bad = BAD_MALFORMED; c->bad <= BAD_TOOBIG; c->bad++)
				if (!strcmp(optarg, bad_names[c->bad]))
					break;
			if (c->bad > BAD_TOOBIG)
				goto bad;
			break;
		case OPT_FRESH:
			if (sp_parse_u64(optarg, 1, 1 << 20, &v))
				goto bad;
			c->fresh = v;
			break;
		default:
			if (sp_opt_common(&common, opt, argv))
				return -EINVAL;
		}
		continue;
bad:
		sp_opt_bad_value(longopts, opt, optarg);
		return -EINVAL;
	}
	if (c->quiet)
		sp_log_set_level(SP_LOG_WARN);	/* and no progress */
	if (optind != argc - 1) {
		sp_err("one FILE expected (the source to check against); see --help");
		return -EINVAL;
	}
	c->path = argv[optind];
	/* AF_XDP builds IPv4 frames itself: its server is resolved as IPv4 */
	ret = sp_addr_resolve(host, port, c->xdp, &c->sa, &c->salen, why, sizeof(why));
	if (ret) {
		sp_err("--server: %s", why);
		return -EINVAL;
	}
	sp_addr_host(&c->sa, c->server, sizeof(c->server));
	if ((c->fresh || c->bad) && c->xdp) {
		sp_err("--fresh and --bad use a kernel UDP socket: --mode udp");
		return -EINVAL;
	}
	if (c->fresh && !c->udp) {
		sp_err("--fresh needs --mode udp");
		return -EINVAL;
	}
	if (c->rate && (c->bad || c->fresh)) {
		sp_err("--rate paces fetches: not with %s", c->bad ? "--bad" : "--fresh");
		return -EINVAL;
	}
	if (c->rate && c->rate < c->threads) {
		sp_err("--rate %llu is below --threads %u: each thread needs a request per second",
		       (unsigned long long)c->rate, c->threads);
		return -EINVAL;
	}
	if (c->sequential && !c->len) {
		sp_err("--sequential orders ranges: it needs --len");
		return -EINVAL;
	}
	if (c->threads > 1 && !c->xdp) {
		sp_err("--threads is for --mode xdp (run several clients for the others)");
		return -EINVAL;
	}
	/* a request's slot number, 10 bits of its id, also names its thread */
	if (c->threads * c->parallel > 1024) {
		sp_err("--threads times --parallel is at most 1024");
		return -EINVAL;
	}
	if (c->xdp != !!c->ifname) {
		sp_err(c->xdp ? "--mode xdp needs --iface" : "--iface is for --mode xdp");
		return -EINVAL;
	}
	if (!c->name)
		c->name = basename(argv[optind]);
	return 0;
}

int main(int argc, char **argv)
{
	struct client c = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct sp_usage u0, u1, d;
	uint64_t srv0 = 0, srv1 = 0;
	bool have_srv = true;
	int ret;

	sp_log_init("sp-fetch", SP_LOG_NOTICE);
	if (parse_args(argc, argv, &c))
		return SP_EXIT_USAGE;
	ret = sp_fetch_load_source(&c);
	if (ret) {
		sp_err("%s: %s", c.path, ret == -ENODATA ? "empty file" : strerror(-ret));
		return SP_EXIT_USAGE;
	}
	if ((uint64_t)c.fresh * BLK > c.size) {
		sp_err("--fresh %u: %s has fewer KiB units", c.fresh, c.path);
		free(c.crcs);
		return SP_EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	if (c.bad) {
		char got[128] = "nothing";

		ret = sp_fetch_bad(&c, got, sizeof(got));
		free(c.crcs);
		if (ret == -EPROTO)
			sp_err("--bad %s: the server answered %s", bad_names[c.bad], got);
		else if (ret)
			sp_err("--bad %s: %s", bad_names[c.bad], strerror(-ret));
		else if (!c.quiet)
			printf("--bad %s: the server answered %s\n", bad_names[c.bad], got);
		return ret ? SP_EXIT_FAIL : SP_EXIT_OK;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	c.progress = !c.quiet && !c.json && isatty(STDERR_FILENO);
	c.rng = sp_rand_stream(getpid(), 0);
	sp_hist_init(&c.lat);
	for (unsigned i = 0; i < c.nr_pids; i++) {
		uint64_t ns;

		have_srv = have_srv && !sp_proc_cpu_ns(c.pids[i], &ns);
		srv0 += ns;
	}
	sp_usage_snapshot(&u0, NULL);
	c.start_ns = u0.wall_ns;
	if (c.fresh)
		ret = sp_fetch_fresh(&c);
	else if (c.xdp)
		ret = sp_fetch_xdp(&c);
	else if (c.udp)
		ret = sp_fetch_udp(&c);
	else
		ret = sp_fetch_tcp(&c);
	sp_usage_snapshot(&u1, NULL);
	sp_usage_delta(&u0, &u1, &d);
	for (unsigned i = 0; i < c.nr_pids; i++) {
		uint64_t ns;

		have_srv = have_srv && !sp_proc_cpu_ns(c.pids[i], &ns);
		srv1 += ns;
	}
	srv1 -= srv0;
	sp_fetch_progress(&c, true);
	if (!c.fail[0] && ret)
		sp_fetch_fail(&c, "%s", strerror(-ret));
	if (!c.fail[0] && atomic_load(&sp_fetch_interrupted))
		sp_fetch_fail(&c, "interrupted");
	report(&c, &d, c.nr_pids && have_srv ? &srv1 : NULL);
	if (c.fail[0])
		sp_err("%s", c.fail);
	free(c.crcs);
	return c.fail[0] ? SP_EXIT_FAIL : SP_EXIT_OK;
}
