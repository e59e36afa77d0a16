// SPDX-License-Identifier: MIT
/*
 * bench-pt-cost: one NVMe passthrough command, N times, through one of the
 * ways into the driver (io_uring uring_cmd, the NVMe ioctls), one at a
 * time, and the wall time per command. Small on purpose: it is how the
 * cost that a hook on a path adds (sp-guard's, bench/guard-cost.sh) is
 * measured, and how a test sends exactly one command of a given kind
 * through a given path and sees what the kernel answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/nvme_ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "nvme_spec.h"
#include "ring.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_version.h"
#include "sp_time.h"
#include "uring.h"

enum pt_path { PT_URING, PT_IOCTL, PT_IOCTL64, PT_SUBMIT_IO, PT_SUBMIT_IO32, PT_UNKNOWN,
	       PT_PATHS };
static const char *const pt_path_names[PT_PATHS] = {
	"uring", "ioctl", "ioctl64", "submit-io", "submit-io32", "unknown-ioctl",
};

/*
 * NVME_IOCTL_SUBMIT_IO32: the 32-bit layout of nvme_user_io (44 bytes,
 * 64-bit fields 4-aligned), which the x86-64 kernel also takes from
 * 64-bit callers. And an 'N' ioctl no kernel defines, which a guard must
 * refuse rather than let through unjudged.
 */
struct nvme_user_io32 {
	uint8_t opcode, flags;
	uint16_t control, nblocks, rsvd;
	uint64_t metadata, addr, slba;
	uint32_t dsmgmt, reftag;
	uint16_t apptag, appmask;
} __attribute__((packed, aligned(4)));
_Static_assert(sizeof(struct nvme_user_io32) == 44, "nvme_user_io32 is 44 bytes");
#define PT_NVME_IOCTL_SUBMIT_IO32 _IOW('N', 0x42, struct nvme_user_io32)
#define PT_NVME_IOCTL_UNKNOWN _IOWR('N', 0x7e, struct nvme_passthru_cmd)

struct config {
	const char *dev;
	enum pt_path path;
	bool identify;		/* admin Identify Controller; else a read */
	uint64_t n, lba, nsid;
	bool json;
};

/* The fields every passthrough structure shares, in their order. */
struct cmd {
	uint8_t opcode;
	uint32_t nsid;
	uint32_t cdw10, cdw11, cdw12;
	void *buf;
};

struct runner {
	int fd;
	struct io_uring ring;
	bool ring_up;
};

/* One command; 0, an NVMe status (> 0) or -errno. */
static int send_one(struct runner *r, const struct config *c, const struct cmd *k)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int ret;

	switch (c->path) {
	case PT_URING: {
		struct nvme_uring_cmd *u;

		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe)
			return -EBUSY;
		sp_uring_prep_cmd(sqe, r->fd, c->identify ? NVME_URING_CMD_ADMIN : NVME_URING_CMD_IO);
		u = (struct nvme_uring_cmd *)sqe->cmd;
		u->opcode = k->opcode;
		u->nsid = k->nsid;
		u->addr = (uint64_t)(uintptr_t)k->buf;
		u->data_len = SP_NVME_ID_SIZE;
		u->cdw10 = k->cdw10;
		u->cdw11 = k->cdw11;
		u->cdw12 = k->cdw12;
		ret = io_uring_submit_and_wait(&r->ring, 1);
		if (ret < 0)
			return ret;
		ret = io_uring_peek_cqe(&r->ring, &cqe);
		if (ret)
			return ret;
		ret = cqe->res;
		io_uring_cqe_seen(&r->ring, cqe);
		return ret;
	}
	case PT_IOCTL: {
		struct nvme_passthru_cmd p = {
			.opcode = k->opcode, .nsid = k->nsid, .addr = (uint64_t)(uintptr_t)k->buf,
			.data_len = SP_NVME_ID_SIZE, .cdw10 = k->cdw10, .cdw11 = k->cdw11,
			.cdw12 = k->cdw12,
		};

		ret = ioctl(r->fd, c->identify ? NVME_IOCTL_ADMIN_CMD : NVME_IOCTL_IO_CMD, &p);
		return ret < 0 ? -errno : ret;
	}
	case PT_IOCTL64: {
		struct nvme_passthru_cmd64 p = {
			.opcode = k->opcode, .nsid = k->nsid, .addr = (uint64_t)(uintptr_t)k->buf,
			.data_len = SP_NVME_ID_SIZE, .cdw10 = k->cdw10, .cdw11 = k->cdw11,
			.cdw12 = k->cdw12,
		};

		ret = ioctl(r->fd, c->identify ? NVME_IOCTL_ADMIN64_CMD : NVME_IOCTL_IO64_CMD, &p);
		return ret < 0 ? -errno : ret;
	}
	case PT_SUBMIT_IO: {
		struct nvme_user_io io = {
			.opcode = k->opcode, .nblocks = 0, .addr = (uint64_t)(uintptr_t)k->buf,
			.slba = c->lba,
		};

		ret = ioctl(r->fd, NVME_IOCTL_SUBMIT_IO, &io);
		return ret < 0 ? -errno : ret;
	}
	case PT_SUBMIT_IO32: {
		struct nvme_user_io32 io = {
			.opcode = k->opcode, .nblocks = 0, .addr = (uint64_t)(uintptr_t)k->buf,
			.slba = c->lba,
		};

		ret = ioctl(r->fd, PT_NVME_IOCTL_SUBMIT_IO32, &io);
		return ret < 0 ? -errno : ret;
	}
	case PT_UNKNOWN: {
		struct nvme_passthru_cmd p = { .opcode = k->opcode, .nsid = k->nsid };

		ret = ioctl(r->fd, PT_NVME_IOCTL_UNKNOWN, &p);
		return ret < 0 ? -errno : ret;
	}
	default:
		return -EINVAL;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: bench-pt-cost [OPTIONS] read|identify DEVICE\n"
"\n"
"Send one NVMe passthrough command N times, one at a time, and report how\n"
"many succeeded, the first failure in words, and the wall time per\n"
"command. read: one logical block (up to 4 KiB) at --lba of the\n"
"namespace; identify: admin Identify Controller.\n"
"\n"
"  -p, --path NAME  uring (IORING_OP_URING_CMD), ioctl (NVME_IOCTL_IO_CMD or\n"
"                   _ADMIN_CMD), ioctl64 (the 64-bit result variants) or\n"
"                   submit-io (NVME_IOCTL_SUBMIT_IO, read only), submit-io32\n"
"                   (its 32-bit layout, which x86-64 kernels take too),\n"
"                   unknown-ioctl (an 'N' ioctl no kernel defines); default uring\n"
"  -n, --count N    commands to send (default 1)\n"
"      --lba N      read: logical block (default 0)\n"
"      --nsid N     read: namespace (default: DEVICE's, else 1)\n"
"      --json       one JSON document on stdout\n"
"  -h, --help       this text\n"
"      --version    the version of shortpath it belongs to\n"
"\n"
"DEVICE: /dev/ngXnY for read and for ioctl identify; io_uring admin\n"
"commands go to the controller, /dev/nvmeX.\n"
"\n"
"Examples:\n"
"  bench-pt-cost -p ioctl -n 10000 read /dev/ng0n1\n"
"  bench-pt-cost -p uring identify /dev/nvme0\n"
"\n"
"Exit status: 0 every command succeeded, 1 one failed (the first failure\n"
"is reported), 2 bad usage or unusable device.\n");
}

static int parse(int argc, char **argv, struct config *c)
{
	enum { OPT_LBA = 256, OPT_NSID };
	static const struct option longopts[] = {
		{ "path", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' },
		{ "lba", required_argument, NULL, OPT_LBA },
		{ "nsid", required_argument, NULL, OPT_NSID },
		SP_OPT_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const struct sp_opt_common common = { .shortopts = "p:n:h", .usage = usage, .json = &c->json };
	int opt;

	memset(c, 0, sizeof(*c));
	c->n = 1;
	opterr = 0;	/* one line of our own for a bad option */
	while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': {
			int i;

			for (i = 0; i < PT_PATHS && strcmp(optarg, pt_path_names[i]); i++)
				;
			if (i == PT_PATHS) {
				sp_err("unknown path '%s' (uring, ioctl, ioctl64, submit-io, "
				       "submit-io32 or unknown-ioctl)", optarg);
				return -EINVAL;
			}
			c->path = i;
			break;
		}
		case 'n':
			if (sp_parse_u64(optarg, 1, 1ULL << 40, &c->n)) {
				sp_err("--count must be a positive number");
				return -EINVAL;
			}
			break;
		case OPT_LBA:
			if (sp_parse_u64(optarg, 0, UINT64_MAX, &c->lba)) {
				sp_err("--lba must be a number");
				return -EINVAL;
			}
			break;
		case OPT_NSID:
			if (sp_parse_u64(optarg, 1, UINT32_MAX - 1, &c->nsid)) {
				sp_err("--nsid must be 1 to 4294967294");
				return -EINVAL;
			}
			break;
		default:
			if (sp_opt_common(&common, opt, argv))
				return -EINVAL;
		}
	}
	if (argc - optind != 2) {
		sp_err("expected read|identify DEVICE; see --help");
		return -EINVAL;
	}
	if (!strcmp(argv[optind], "identify")) {
		c->identify = true;
	} else if (strcmp(argv[optind], "read")) {
		sp_err("unknown command '%s' (read or identify)", argv[optind]);
		return -EINVAL;
	}
	if (c->identify && (c->path == PT_SUBMIT_IO || c->path == PT_SUBMIT_IO32)) {
		sp_err("NVME_IOCTL_SUBMIT_IO carries reads and writes only");
		return -EINVAL;
	}
	c->dev = argv[optind + 1];
	return 0;
}

static const char *result_str(int res, char *buf, size_t len)
{
	if (res < 0)
		return strerror(-res);
	return sp_nvme_status_str(res, buf, len);
}

int main(int argc, char **argv)
{
	struct runner r = { .fd = -1 };
	struct config c;
	struct cmd k = { 0 };
	uint64_t ok = 0, failed = 0, t0, ns;
	int first_err = 0, ret, status = SP_EXIT_OK;
	char why[160];

	sp_log_init(argv[0], SP_LOG_NOTICE);
	if (parse(argc, argv, &c))
		return SP_EXIT_USAGE;
	/* O_RDONLY is what the NVMe driver asks of passthrough */
	r.fd = open(c.dev, O_RDONLY | O_CLOEXEC);
	if (r.fd < 0) {
		sp_err("cannot open %s: %s", c.dev, strerror(errno));
		return SP_EXIT_USAGE;
	}
	if (posix_memalign(&k.buf, 4096, SP_NVME_ID_SIZE)) {
		sp_err("out of memory");
		status = SP_EXIT_FAIL;
		goto out;
	}
	if (c.identify) {
		k.opcode = SP_NVME_ADMIN_IDENTIFY;
		k.cdw10 = SP_NVME_CNS_CTRL;
	} else {
		k.opcode = SP_NVME_CMD_READ;
		if (!c.nsid) {
			ret = ioctl(r.fd, NVME_IOCTL_ID);
			c.nsid = ret > 0 ? (uint64_t)ret : 1;
		}
		k.nsid = c.nsid;
		k.cdw10 = (uint32_t)c.lba;
		k.cdw11 = (uint32_t)(c.lba >> 32);
		k.cdw12 = 0;	/* one block, 0-based */
	}
	if (c.path == PT_URING) {
		/* the plain flags only: this measures the command's cost, not
		 * what the modern set-up flags save */
		struct sp_ring_opts ro = { .entries = 4, .sq_cpu = -1, .big_sqe = true,
					   .big_cqe = true, .no_modern = true };
		struct sp_ring_info ri;

		ret = sp_ring_init(&r.ring, &ro, &ri);
		if (ret) {
			sp_err("cannot set up an SQE128/CQE32 ring: %s", strerror(-ret));
			status = SP_EXIT_USAGE;
			goto out;
		}
		r.ring_up = true;
	}
	t0 = sp_now_ns();
	for (uint64_t i = 0; i < c.n; i++) {
		ret = send_one(&r, &c, &k);
		if (!ret) {
			ok++;
		} else {
			if (!failed)
				first_err = ret;
			failed++;
		}
	}
	ns = sp_now_ns() - t0;
	if (c.json) {
		json_object *root = json_object_new_object();

		json_object_object_add(root, "schema", json_object_new_string("shortpath.pt_cost/1"));
		sp_json_stamp(root);
		json_object_object_add(root, "device", json_object_new_string(c.dev));
		json_object_object_add(root, "path", json_object_new_string(pt_path_names[c.path]));
		json_object_object_add(root, "command", json_object_new_string(c.identify ? "identify" : "read"));
		json_object_object_add(root, "count", sp_json_u64(c.n));
		json_object_object_add(root, "ok", sp_json_u64(ok));
		json_object_object_add(root, "failed", sp_json_u64(failed));
		json_object_object_add(root, "first_error", failed ?
			json_object_new_string(result_str(first_err, why, sizeof(why))) : NULL);
		json_object_object_add(root, "errno", json_object_new_int(first_err < 0 ? -first_err : 0));
		json_object_object_add(root, "ns_per_cmd", sp_json_dbl((double)ns / c.n));
		sp_json_print_and_free(root);
	} else {
		printf("%llu %s via %s on %s: %llu ok, %llu failed; %.0f ns per command (wall)\n",
		       (unsigned long long)c.n, c.identify ? "identify" : "read",
		       pt_path_names[c.path], c.dev, (unsigned long long)ok,
		       (unsigned long long)failed, (double)ns / c.n);
	}
	if (failed) {
		sp_err("%s via %s on %s failed: %s", c.identify ? "identify" : "read",
		       pt_path_names[c.path], c.dev, result_str(first_err, why, sizeof(why)));
		status = SP_EXIT_FAIL;
	}
out:
	if (r.ring_up)
		io_uring_queue_exit(&r.ring);
	free(k.buf);
	close(r.fd);
	return status;
}
