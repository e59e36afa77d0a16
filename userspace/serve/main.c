// SPDX-License-Identifier: MIT
/*
 * sp-serve: the same files served five ways, so that what each copy
 * costs can be measured (sp-fetch is the client, bench/serve-compare
 * the harness). TCP modes speak the HTTP/1.1 subset of sp_proto.h and
 * run one epoll loop; they differ only in how a body reaches the socket.
 * The xdp mode speaks the UDP protocol of sp_proto.h over AF_XDP.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_addr.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_stats.h"
#include "sp_version.h"
#include "serve.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sp-serve -m MODE [OPTIONS] FILE...\n"
"\n"
"Serve FILEs (each under its base name; over UDP as id 0, 1, ... in the\n"
"order given) until SIGINT or SIGTERM, then print what was served. A FILE\n"
"may be a block device; nothing is ever written but with --writable.\n"
"\n"
"  -m, --mode MODE       (required) one of:\n"
"                        copy      read(2) into a buffer, write(2) to the socket\n"
"                        sendfile  sendfile(2) from the page cache\n"
"                        splice    file -> pipe -> socket with splice(2)\n"
"                        sendzc    io_uring IORING_OP_SEND_ZC straight from the\n"
"                                  page cache (a shared read-only mapping of\n"
"                                  the file), or with --zc-source buffers\n"
"                                  from registered buffers read into first\n"
"                        xdp       UDP over AF_XDP (needs --ifname)\n"
"  -a, --addr HOST       TCP address or host name to listen on, IPv4 or IPv6\n"
"                        (\"::\" or \"[::1]\"; default 0.0.0.0); xdp: IPv4 only\n"
"  -p, --port N          TCP or UDP port (default 7878)\n"
"  -i, --ifname IFACE    xdp: interface to attach to (a socket on each queue)\n"
"      --xdp-mode M      xdp: native or skb (default: native, else skb)\n"
"      --busy-poll TIME  xdp: keep polling this long after the last work\n"
"                        before sleeping in poll(2); 0: sleep at once\n"
"                        (default 200us, 0 on two CPUs or fewer, where\n"
"                        spinning takes the CPU the rest of the path needs)\n"
"  -T, --threads N       N loops, each pinned to its own CPU. TCP: each with\n"
"                        its own listening socket (SO_REUSEPORT: the kernel\n"
"                        spreads connections over them), --max-conns split\n"
"                        between them; xdp: each serving the queues t, t+N,\n"
"                        ... with its own rings, at most one per queue\n"
"                        (default 1, at most 64)\n"
"      --max-conns N     TCP connections at once; more get 503 (default 64)\n"
"      --max-conns-per-addr N\n"
"                        TCP connections one client address may hold; more\n"
"                        get 503 (default: half of --max-conns)\n"
"      --header-timeout TIME\n"
"                        TCP: close a connection whose request header is not\n"
"                        whole this long after it connected or the header's\n"
"                        first byte came (default 10s; 0: never)\n"
"      --idle-timeout TIME\n"
"                        TCP: close a kept-alive connection that asks nothing\n"
"                        for this long (default 30s; 0: never)\n"
"      --send-timeout TIME\n"
"                        TCP: close a connection whose reply the client took\n"
"                        no byte of for this long (default 30s; 0: never)\n"
"      --max-inflight N  xdp: requests in flight; more get BUSY (default 64)\n"
"      --max-len BYTES   longest range one request may ask for; longer\n"
"                        requests get an error (default 1G)\n"
"      --chunk BYTES     copy and sendzc: bytes per read and send (default\n"
"                        64k; sendzc from the page cache: 256k)\n"
"      --zc-source SRC   sendzc: page-cache (default) or buffers\n"
"      --cache           xdp: answer one-KiB requests of hot units in XDP,\n"
"                        from a BPF map (the hot-block cache; default off)\n"
"      --no-cache        xdp: every request goes to the AF_XDP socket\n"
"      --cache-entries N xdp: units the cache holds, LRU (default 8192)\n"
"      --cache-admit N   xdp: a unit is cached at its Nth miss (default 2)\n"
"      --writable        xdp: serve WRITE requests (files opened read-write);\n"
"                        a write invalidates its units before it is acknowledged;\n"
"                        never a mounted device, one writer at a time\n"
"      --force           with --writable: a device with a filesystem, RAID or\n"
"                        partition signature too\n"
"      --passthru        xdp: read an NVMe namespace or SCSI disk FILE with\n"
"                        NVMe/SCSI commands (io_uring passthrough, the UMEM\n"
"                        as registered buffers) instead of O_DIRECT\n"
"      --drop-every N    xdp, for tests: drop every Nth data frame so that\n"
"                        the client's recovery is exercised\n"
"      --ready FILE      create FILE once serving (for scripts)\n"
"      --json            at exit, print counters as JSON on stdout\n"
"  -v, --verbose         say more on stderr\n"
"  -h, --help            this text\n"
"      --version         the version of shortpath it belongs to\n"
"\n"
"Examples:\n"
"  sp-serve -m sendfile /srv/a.bin /srv/b.bin\n"
"  sp-fetch -m tcp -s 10.0.0.1 -n 1000 /srv/a.bin\n"
"  sp-serve -m xdp -i veth0 --json /srv/a.bin\n"
"  sp-serve -m xdp -i veth0 --cache --writable /srv/a.bin\n"
"  sp-serve -m xdp -i veth0 --passthru /dev/nvme0n1\n"
"\n"
"Exit status: 0 ok, 1 set-up failed, 2 bad usage.\n");
}

static atomic_bool stop;

static void on_signal(int sig)
{
	atomic_store(&stop, true);
}

enum { OPT_XDP_MODE = 256, OPT_BUSY_POLL, OPT_MAX_CONNS, OPT_MAX_INFLIGHT, OPT_MAX_LEN,
       OPT_CHUNK, OPT_DROP, OPT_READY, OPT_CACHE, OPT_NO_CACHE, OPT_PASSTHRU,
       OPT_CACHE_ENTRIES, OPT_CACHE_ADMIT, OPT_WRITABLE, OPT_ZC_SOURCE, OPT_FORCE,
       OPT_PER_ADDR, OPT_HDR_TIMEOUT, OPT_IDLE_TIMEOUT, OPT_SEND_TIMEOUT };

#define SHORTOPTS "m:a:p:i:T:vh"

/* A time-out: "0" (none) or a duration up to a day. */
static int parse_timeout(const char *arg, uint64_t *ns)
{
	if (!strcmp(arg, "0")) {
		*ns = 0;
		return 0;
	}
	if (sp_parse_duration(arg, ns) || !*ns || *ns > 86400 * 1000000000ull)
		return -EINVAL;
	return 0;
}

static int parse_args(int argc, char **argv, struct server *s)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "ifname", required_argument, NULL, 'i' },
		{ "xdp-mode", required_argument, NULL, OPT_XDP_MODE },
		{ "busy-poll", required_argument, NULL, OPT_BUSY_POLL },
		{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
		{ "max-conns-per-addr", required_argument, NULL, OPT_PER_ADDR },
		{ "header-timeout", required_argument, NULL, OPT_HDR_TIMEOUT },
		{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
		{ "send-timeout", required_argument, NULL, OPT_SEND_TIMEOUT },
		{ "threads", required_argument, NULL, 'T' },
		{ "max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT },
		{ "max-len", required_argument, NULL, OPT_MAX_LEN },
		{ "chunk", required_argument, NULL, OPT_CHUNK },
		{ "zc-source", required_argument, NULL, OPT_ZC_SOURCE },
		{ "drop-every", required_argument, NULL, OPT_DROP },
		{ "cache", no_argument, NULL, OPT_CACHE },
		{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
		{ "cache-entries", required_argument, NULL, OPT_CACHE_ENTRIES },
		{ "cache-admit", required_argument, NULL, OPT_CACHE_ADMIT },
		{ "writable", no_argument, NULL, OPT_WRITABLE },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "passthru", no_argument, NULL, OPT_PASSTHRU },
		{ "ready", required_argument, NULL, OPT_READY },
		SP_OPT_VERBOSE_LONGOPT,
		SP_OPT_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *mode = NULL, *host = "0.0.0.0";
	char why[160];
	const struct sp_opt_common common = { .shortopts = SHORTOPTS, .usage = usage,
					      .json = &s->json };
	uint64_t v;
	int opt;

	s->port = 7878;
	s->threads = 1;
	s->max_conns = 64;
	s->max_inflight = 64;
	s->header_timeout_ns = 10 * 1000000000ull;
	s->idle_timeout_ns = 30 * 1000000000ull;
	s->send_timeout_ns = 30 * 1000000000ull;
	s->max_len = 1ULL << 30;
	s->chunk = 0;	/* the mode's default, below */
	s->pipe_size = 1 << 20;
	s->busy_poll_ns = sysconf(_SC_NPROCESSORS_ONLN) > 2 ? 200000 : 0;
	s->cache_entries = 8192;
	s->cache_admit = 2;
	opterr = 0;	/* one line of our own for a bad option */
	while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'm': mode = optarg; break;
		case 'a': host = optarg; break;
		case 'p':
			if (sp_parse_u64(optarg, 1, 65535, &v))
				goto bad;
			s->port = v;
			break;
		case 'i': s->ifname = optarg; break;
		case OPT_XDP_MODE:
			if (strcmp(optarg, "native") && strcmp(optarg, "skb"))
				goto bad;
			s->xdp_mode = optarg;
			break;
		case OPT_BUSY_POLL:
			/* "0" is a duration of nothing, not an error */
			if (strcmp(optarg, "0") && sp_parse_duration(optarg, &s->busy_poll_ns))
				goto bad;
			if (!strcmp(optarg, "0"))
				s->busy_poll_ns = 0;
			break;
		case OPT_MAX_CONNS:
			if (sp_parse_u64(optarg, 1, 65536, &v))
				goto bad;
			s->max_conns = v;
			break;
		case 'T':
			if (sp_parse_u64(optarg, 1, SERVE_MAX_THREADS, &v))
				goto bad;
			s->threads = v;
			break;
		case OPT_PER_ADDR:
			if (sp_parse_u64(optarg, 1, 65536, &v))
				goto bad;
			s->max_conns_per_addr = v;
			break;
		case OPT_HDR_TIMEOUT:
			if (parse_timeout(optarg, &s->header_timeout_ns))
				goto bad;
			break;
		case OPT_IDLE_TIMEOUT:
			if (parse_timeout(optarg, &s->idle_timeout_ns))
				goto bad;
			break;
		case OPT_SEND_TIMEOUT:
			if (parse_timeout(optarg, &s->send_timeout_ns))
				goto bad;
			break;
		case OPT_MAX_INFLIGHT:
			if (sp_parse_u64(optarg, 1, 1024, &v))
				goto bad;
			s->max_inflight = v;
			break;
		case OPT_MAX_LEN:
			if (sp_parse_size(optarg, &s->max_len) || !s->max_len)
				goto bad;
			break;
		case OPT_ZC_SOURCE:
			if (strcmp(optarg, "page-cache") && strcmp(optarg, "buffers"))
				goto bad;
			s->zc_buffers = !strcmp(optarg, "buffers");
			break;
		case OPT_CHUNK:
			if (sp_parse_size(optarg, &s->chunk) || s->chunk < 4096 ||
			    s->chunk > (16u << 20) || s->chunk % 4096)
				goto bad;
			break;
		case OPT_DROP:
			if (sp_parse_u64(optarg, 2, UINT32_MAX, &v))
				goto bad;
			s->drop_every = v;
			break;
		case OPT_CACHE: s->cache = true; break;
		case OPT_NO_CACHE: s->cache = false; break;
		case OPT_CACHE_ENTRIES:
			if (sp_parse_u64(optarg, 1, 1 << 20, &v))
				goto bad;
			s->cache_entries = v;
			break;
		case OPT_CACHE_ADMIT:
			if (sp_parse_u64(optarg, 1, 1000, &v))
				goto bad;
			s->cache_admit = v;
			break;
		case OPT_WRITABLE: s->writable = true; break;
		case OPT_FORCE: s->force = true; break;
		case OPT_PASSTHRU: s->passthru = true; break;
		case OPT_READY: s->ready_path = optarg; break;
		default:
			if (sp_opt_common(&common, opt, argv))
				return -EINVAL;
		}
		continue;
bad:
		sp_opt_bad_value(longopts, opt, optarg);
		return -EINVAL;
	}
	if (!mode) {
		sp_err("--mode is required: copy, sendfile, splice, sendzc or xdp");
		return -EINVAL;
	}
	for (s->mode = 0; s->mode <= MODE_XDP; s->mode++)
		if (!strcmp(mode, sp_serve_modes[s->mode]))
			break;
	if (s->mode > MODE_XDP) {
		sp_err("unknown mode '%s': copy, sendfile, splice, sendzc or xdp", mode);
		return -EINVAL;
	}
	/* AF_XDP builds IPv4 frames itself, as sp-fetch's xdp mode does */
	if (sp_addr_resolve(host, s->port, s->mode == MODE_XDP, &s->addr, &s->addr_len,
			    why, sizeof(why))) {
		sp_err("--addr: %s", why);
		return -EINVAL;
	}
	if (s->writable && s->passthru) {
		/* a write goes through the page cache, a passthrough read past it */
		sp_err("--writable and --passthru do not go together");
		return -EINVAL;
	}
	if (s->force && !s->writable) {
		sp_err("--force goes with --writable");
		return -EINVAL;
	}
	if (s->mode != MODE_XDP && (s->cache || s->writable || s->passthru)) {
		sp_err("--cache, --writable and --passthru are for the xdp mode");
		return -EINVAL;
	}
	if (s->mode == MODE_XDP && s->threads > 1 && s->writable) {
		/* one loop keeps each write and the cache's invalidation in order */
		sp_err("--writable runs one loop: not with --threads %u", s->threads);
		return -EINVAL;
	}
	if (s->mode != MODE_XDP && s->threads > s->max_conns) {
		sp_err("--threads %u is more than --max-conns %u: a thread needs a connection",
		       s->threads, s->max_conns);
		return -EINVAL;
	}
	if (!s->max_conns_per_addr)
		s->max_conns_per_addr = (s->max_conns + 1) / 2;
	if (!s->chunk)
		s->chunk = s->mode == MODE_SENDZC && !s->zc_buffers ? 256 << 10 : 64 << 10;
	if (s->mode == MODE_XDP && !s->ifname) {
		sp_err("xdp mode needs --ifname");
		return -EINVAL;
	}
	if (optind >= argc) {
		sp_err("no FILE to serve; see --help");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct server s = { 0 };
	struct sp_usage u0, u1, d;
	struct sigaction sa = { .sa_handler = on_signal };
	int ret;

	sp_log_init("sp-serve", SP_LOG_NOTICE);
	if (parse_args(argc, argv, &s))
		return SP_EXIT_USAGE;
	sp_hist_init(&s.st.lat);
	ret = sp_serve_open(&s, argv + optind, argc - optind);
	if (ret) {
		ret = SP_EXIT_USAGE;
		goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sp_usage_snapshot(&u0, NULL);
	ret = s.mode == MODE_XDP ? sp_serve_xdp(&s, &stop) : sp_serve_tcp(&s, &stop);
	sp_usage_snapshot(&u1, NULL);
	sp_usage_delta(&u0, &u1, &d);
	if (ret) {
		ret = SP_EXIT_FAIL;
		goto out;
	}
	sp_serve_report(&s, &d);
out:
	sp_serve_close(&s);
	if (s.ready_path)
		unlink(s.ready_path);
	return ret;
}
