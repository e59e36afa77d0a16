// SPDX-License-Identifier: MIT
/*
 * sp-io: one command through one backend, and the device's answer in
 * words. The range is checked against the device before anything is
 * issued; a read past the end goes to the device only when asked
 * (--past-end), so that its status (NVMe) or sense (SCSI) can be seen.
 * A write never does.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "scsi_vfio.h"
#include "sp_version.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sp-io [OPTIONS] read|write|write-zeroes|flush DEVICE\n"
"\n"
"Send one command to DEVICE and report the answer: the NVMe status or the\n"
"SCSI sense in words when it fails. The range is checked first: nothing\n"
"past the end of DEVICE is written, or read unless --past-end says so.\n"
"\n"
"  -m, --mode NAME    nvme, sg, vfio, scsi-vfio, uring or psync (default:\n"
"                     what DEVICE is); vfio and scsi-vfio take a PCI address\n"
"                     bound to vfio-pci\n"
"      --target N, --lun N  scsi-vfio: the unit behind the HBA (default the\n"
"                     first disk)\n"
"      --lba N        first logical block (default 0)\n"
"      --offset BYTES or a byte offset\n"
"      --blocks N     logical blocks to move (default 1)\n"
"      --len BYTES    or bytes\n"
"      --out FILE     read: store the data in FILE (default: hex dump of\n"
"                     the first 64 bytes)\n"
"      --in FILE      write: data from FILE\n"
"      --pattern BYTE write: fill with BYTE (default 0)\n"
"      --force        write to a device with a filesystem signature\n"
"      --past-end     read: send a read past the end anyway, to see the\n"
"                     device's own answer (status or sense)\n"
"      --json         one JSON document on stdout\n"
"  -h, --help         this text\n"
"      --version      the version of shortpath it belongs to\n"
"\n"
"Examples:\n"
"  sp-id /dev/ng0n1 && sp-io read --lba 0 --blocks 8 /dev/ng0n1\n"
"  sp-io write --lba 100 --pattern 0xa5 /dev/sg0\n"
"  sp-io read --past-end --lba 999999999 /dev/ng0n1  # see the device refuse it\n"
"  sp-io -m vfio read --lba 0 0000:00:04.0 # through the userspace driver\n"
"\n"
"Exit status: 0 ok, 1 the command failed, 2 bad usage or unusable device.\n");
}

enum { OPT_LBA = 256, OPT_OFFSET, OPT_BLOCKS, OPT_LEN, OPT_OUT, OPT_IN,
       OPT_PATTERN, OPT_FORCE, OPT_PAST_END, OPT_TARGET, OPT_LUN };

/* Largest transfer sp-io moves in one command (the I/O length is 32-bit). */
#define SP_IO_MAX_LEN (1ull << 30)

struct request {
	enum sp_op op;
	const char *path, *mode, *out, *in;
	uint64_t lba, offset, blocks, len;
	bool have_lba, have_offset, have_blocks, have_len, force, json, past_end;
	int target;		/* scsi-vfio: the unit behind the HBA; -1 first disk */
	long long lun;
	uint8_t pattern;
};

static int parse(int argc, char **argv, struct request *r)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "lba", required_argument, NULL, OPT_LBA },
		{ "offset", required_argument, NULL, OPT_OFFSET },
		{ "blocks", required_argument, NULL, OPT_BLOCKS },
		{ "len", required_argument, NULL, OPT_LEN },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "in", required_argument, NULL, OPT_IN },
		{ "pattern", required_argument, NULL, OPT_PATTERN },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "past-end", no_argument, NULL, OPT_PAST_END },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "lun", required_argument, NULL, OPT_LUN },
		SP_OPT_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const struct sp_opt_common common = { .shortopts = "m:h", .usage = usage, .json = &r->json };
	uint64_t v;
	int opt;

	memset(r, 0, sizeof(*r));
	r->target = -1;
	r->lun = -1;
	opterr = 0;	/* one line of our own for a bad option */
	while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'm': r->mode = optarg; break;
		case OPT_TARGET:
		case OPT_LUN: {
			uint64_t v;

			if (sp_parse_u64(optarg, 0, opt == OPT_TARGET ? 0xffff : 0x3fff, &v)) {
				sp_opt_bad_value(longopts, opt, optarg);
				return -EINVAL;
			}
			if (opt == OPT_TARGET)
				r->target = (int)v;
			else
				r->lun = (long long)v;
			break;
		}
		case OPT_LBA:
			if (sp_parse_u64(optarg, 0, UINT64_MAX, &r->lba))
				goto bad;
			r->have_lba = true;
			break;
		case OPT_OFFSET:
			if (sp_parse_size(optarg, &r->offset))
				goto bad;
			r->have_offset = true;
			break;
		case OPT_BLOCKS:
			if (sp_parse_u64(optarg, 1, 1 << 20, &r->blocks))
				goto bad;
			r->have_blocks = true;
			break;
		case OPT_LEN:
			if (sp_parse_size(optarg, &r->len) || !r->len || r->len > SP_IO_MAX_LEN)
				goto bad;
			r->have_len = true;
			break;
		case OPT_OUT: r->out = optarg; break;
		case OPT_IN: r->in = optarg; break;
		case OPT_PATTERN:
			if (sp_parse_u64(optarg, 0, 255, &v))
				goto bad;
			r->pattern = v;
			break;
		case OPT_FORCE: r->force = true; break;
		case OPT_PAST_END: r->past_end = true; break;
		default:
			if (sp_opt_common(&common, opt, argv))
				return -EINVAL;
		}
		continue;
bad:
		sp_err("invalid value '%s'; see --help", optarg);
		return -EINVAL;
	}
	if (argc - optind != 2) {
		sp_err("give an operation and a device; see --help");
		return -EINVAL;
	}
	if (!strcmp(argv[optind], "read"))
		r->op = SP_OP_READ;
	else if (!strcmp(argv[optind], "write"))
		r->op = SP_OP_WRITE;
	else if (!strcmp(argv[optind], "flush"))
		r->op = SP_OP_FLUSH;
	else if (!strcmp(argv[optind], "write-zeroes"))
		r->op = SP_OP_WRITE_ZEROES;
	else {
		sp_err("unknown operation '%s': read, write, write-zeroes or flush",
		       argv[optind]);
		return -EINVAL;
	}
	r->path = argv[optind + 1];
	if ((r->have_lba && r->have_offset) || (r->have_blocks && r->have_len)) {
		sp_err("give --lba or --offset, --blocks or --len, not both");
		return -EINVAL;
	}
	if ((r->out && r->op != SP_OP_READ) || (r->in && r->op != SP_OP_WRITE)) {
		sp_err("--out goes with read, --in with write");
		return -EINVAL;
	}
	if (r->past_end && r->op != SP_OP_READ) {
		sp_err("--past-end goes with read: nothing is written past the end");
		return -EINVAL;
	}
	return 0;
}

/*
 * The byte range of the request on d, checked before anything is issued:
 * an LBA or length whose product overflows is refused whatever was asked
 * (it would wrap to a small offset), so is a range past the end unless
 * the request is a read with --past-end. 0 or -errno with why set.
 */
static int request_range(const struct request *r, const struct sp_devinfo *d,
			 uint64_t *offset, uint64_t *len, char *why, size_t n)
{
	uint64_t blocks = r->have_blocks ? r->blocks : 1;
	int ret;

	if (!d->lbs) {
		snprintf(why, n, "%s has no logical blocks to address", d->path);
		return -EINVAL;
	}
	*offset = r->offset;
	if (!r->have_offset && __builtin_mul_overflow(r->lba, (uint64_t)d->lbs, offset)) {
		snprintf(why, n, "--lba %llu is past the end of %s (%llu blocks of %u bytes)",
			 (unsigned long long)r->lba, d->path,
			 (unsigned long long)(d->size / d->lbs), d->lbs);
		return -ERANGE;
	}
	*len = r->have_len ? r->len : blocks * d->lbs;
	if (r->op == SP_OP_FLUSH) {
		*len = 0;
		return 0;
	}
	if (*len > SP_IO_MAX_LEN) {
		snprintf(why, n, "--blocks %llu is %llu bytes on %s: at most %llu bytes in "
			 "one command", (unsigned long long)blocks,
			 (unsigned long long)*len, d->path, (unsigned long long)SP_IO_MAX_LEN);
		return -ERANGE;
	}
	ret = sp_dev_check_range(d, *offset, *len, why, n);
	if (ret == -ERANGE && r->op == SP_OP_READ && r->past_end)
		return 0;
	if (ret == -ERANGE && r->op == SP_OP_READ) {
		size_t used = strlen(why);

		snprintf(why + used, n - used, " (--past-end sends the read anyway)");
	}
	return ret;
}

static void hexdump(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		printf("  %04zx ", i);
		for (size_t k = i; k < i + 16 && k < n; k++)
			printf(" %02x", p[k]);
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	struct sp_target_opts o = { .depth = 1, .direct = true, .sq_cpu = -1 };
	const struct sp_backend *be;
	struct sp_target t;
	struct sp_devinfo d;
	struct request r;
	struct sp_io io = { 0 }, *done;
	char why[512], status_text[192] = "";
	int ret, status = SP_EXIT_OK;
	uint64_t offset, len;
	int lock_fd = -1;
	void *buf;

	sp_log_init(argv[0], SP_LOG_NOTICE);
	if (parse(argc, argv, &r))
		return SP_EXIT_USAGE;
	if (r.target >= 0 || r.lun >= 0) {
		static char unit_path[96];

		if (!r.mode || strcmp(r.mode, "scsi-vfio") || r.target < 0 ||
		    sp_scsi_vfio_path(unit_path, sizeof(unit_path), r.path, r.target, r.lun)) {
			sp_err("--target and --lun choose a unit behind an HBA: with -m "
			       "scsi-vfio and a PCI address, --lun only with --target");
			return SP_EXIT_USAGE;
		}
		r.path = unit_path;
	}
	why[0] = '\0';
	if (r.mode) {
		/* a named mode probes the path its own way (vfio: a PCI address) */
		be = sp_backend_find(r.mode);
		if (!be || !(be->caps & SP_CAP_TARGET)) {
			sp_err("unknown mode '%s': nvme, sg, vfio, scsi-vfio, uring or psync", r.mode);
			return SP_EXIT_USAGE;
		}
		ret = be->probe ? be->probe(r.path, r.op != SP_OP_READ, &d, why, sizeof(why))
				: sp_dev_probe(r.path, r.op != SP_OP_READ, &d);
		if (ret && !why[0])
			snprintf(why, sizeof(why), "%s: %s", r.path, strerror(-ret));
	} else {
		ret = sp_backend_detect(r.path, r.op != SP_OP_READ, &be, &d, why, sizeof(why));
	}
	if (ret) {
		sp_err("%s", why[0] ? why : strerror(-ret));
		return SP_EXIT_USAGE;
	}
	ret = request_range(&r, &d, &offset, &len, why, sizeof(why));
	if (ret) {
		sp_err("%s", why);
		return SP_EXIT_USAGE;
	}
	io.offset = offset;
	io.len = len;
	if (d.max_transfer && io.len > d.max_transfer && r.op != SP_OP_WRITE_ZEROES) {
		char s1[32], s2[32];

		sp_err("%s exceeds the largest transfer %s accepts (%s)",
		       sp_fmt_size(io.len, s1, sizeof(s1)), d.path,
		       sp_fmt_size(d.max_transfer, s2, sizeof(s2)));
		return SP_EXIT_USAGE;
	}
	if (r.op == SP_OP_WRITE_ZEROES && strcmp(be->name, "nvme") && strcmp(be->name, "vfio")) {
		sp_err("write-zeroes is an NVMe command: %s is reached through %s",
		       r.path, be->name);
		return SP_EXIT_USAGE;
	}
	if (r.op == SP_OP_WRITE_ZEROES && !d.write_zeroes) {
		sp_err("%s: the controller has no Write Zeroes command (ONCS bit 3 "
		       "clear)", d.path);
		return SP_EXIT_USAGE;
	}
	if (r.op == SP_OP_WRITE || r.op == SP_OP_WRITE_ZEROES) {
		ret = sp_dev_check_writable(&d, r.force, why, sizeof(why));
		/* held until exit: one writer at a time */
		if (!ret)
			ret = sp_dev_lock_write(&d, &lock_fd, why, sizeof(why));
		if (ret) {
			sp_err("%s", why);
			return SP_EXIT_USAGE;
		}
	}
	o.write = r.op != SP_OP_READ;
	o.buf_size = io.len ? io.len : d.lbs;
	ret = sp_target_open(&t, be, &o, &d);
	if (ret) {
		sp_err("%s", t.err);
		return ret == -EOPNOTSUPP || ret == -EINVAL || ret == -EACCES ? SP_EXIT_USAGE
									: SP_EXIT_FAIL;
	}
	if (o.write) {
		/* a PCI device on vfio-pci: its signature through our driver */
		ret = sp_target_check_signature(&t, r.force, why, sizeof(why));
		if (ret) {
			sp_err("%s", why);
			sp_target_close(&t);
			return ret == -EEXIST ? SP_EXIT_USAGE : SP_EXIT_FAIL;
		}
	}
	buf = sp_io_buf(&t, &io);
	memset(buf, r.pattern, o.buf_size);
	if (r.in) {
		int fd = open(r.in, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, io.len);

		if (fd >= 0)
			close(fd);
		if (n < 0) {
			sp_err("cannot read %s: %s", r.in, strerror(errno));
			sp_target_close(&t);
			return SP_EXIT_USAGE;
		}
	}
	io.op = r.op;
	ret = be->queue(&t, &io);
	if (!ret)
		ret = be->submit(&t, 1);
	while (ret >= 0 && (ret = be->reap(&t, &done, 1)) == 0)
		ret = be->submit(&t, 1);
	if (ret < 0) {
		snprintf(status_text, sizeof(status_text), "%s", strerror(-ret));
		status = SP_EXIT_FAIL;
	} else if (io.res < 0) {
		if (io.res == -EIO && io.status && be->status_str)
			be->status_str(io.status, status_text, sizeof(status_text));
		else
			snprintf(status_text, sizeof(status_text), "%s", strerror(-io.res));
		status = SP_EXIT_FAIL;
	} else if (r.op != SP_OP_WRITE_ZEROES && (uint32_t)io.res != io.len) {
		snprintf(status_text, sizeof(status_text), "short transfer: %d of %u bytes",
			 io.res, io.len);
		status = SP_EXIT_FAIL;
	}
	if (!status && r.out) {
		FILE *f = fopen(r.out, "we");

		if (!f || fwrite(buf, 1, io.len, f) != io.len || fclose(f)) {
			sp_err("cannot write %s: %s", r.out, strerror(errno));
			status = SP_EXIT_FAIL;
		}
	}
	if (r.json) {
		json_object *j = sp_json_doc("shortpath.sp-io/1");

		json_object_object_add(j, "op", json_object_new_string(argv[optind]));
		json_object_object_add(j, "node", json_object_new_string(d.path));
		json_object_object_add(j, "mode", json_object_new_string(be->name));
		json_object_object_add(j, "offset", sp_json_u64(io.offset));
		json_object_object_add(j, "lba", sp_json_u64(io.offset / d.lbs));
		json_object_object_add(j, "len", sp_json_u64(io.len));
		json_object_object_add(j, "status", json_object_new_string(status ? "failed" : "ok"));
		json_object_object_add(j, "error", status ? json_object_new_string(status_text) : NULL);
		sp_json_print_and_free(j);
	} else if (!status) {
		printf("%s of %u bytes at LBA %llu of %s (%s): ok\n", argv[optind], io.len,
		       (unsigned long long)(io.offset / d.lbs), d.path, be->name);
		if (r.op == SP_OP_READ && !r.out)
			hexdump(buf, io.len < 64 ? io.len : 64);
	}
	if (status)
		sp_err("%s of %u bytes at LBA %llu of %s failed: %s", argv[optind], io.len,
		       (unsigned long long)(io.offset / d.lbs), d.path, status_text);
	sp_target_close(&t);
	return status;
}
