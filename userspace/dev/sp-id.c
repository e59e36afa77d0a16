// SPDX-License-Identifier: MIT
/*
 * sp-id: what shortpath's backends learn about a device: identity,
 * geometry, limits, and which passthrough path reaches it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_version.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sp-id [--json] DEVICE...\n"
"\n"
"Print what shortpath learns about each device: an NVMe namespace\n"
"(/dev/ngXnY or /dev/nvmeXnY, through Identify), a SCSI disk (/dev/sgN or\n"
"/dev/sdX, through INQUIRY and READ CAPACITY), a device bound to vfio-pci\n"
"(a PCI address: NVMe through the userspace driver; a SAS/RAID HBA through\n"
"the userspace SCSI stack, BDF[/TARGET[/LUN]]), or any block device or file.\n"
"\n"
"  --json         one JSON document on stdout (an array, one object each)\n"
"  -h, --help     this text\n"
"      --version  the version of shortpath it belongs to\n"
"\n"
"Examples:\n"
"  sp-id /dev/nvme0n1\n"
"  sp-id --json /dev/sda /dev/ng0n1\n"
"\n"
"Exit status: 0 ok, 1 a device could not be identified, 2 bad usage.\n");
}

static json_object *dev_json(const char *path, const struct sp_backend *be,
			     const struct sp_devinfo *d)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "path", json_object_new_string(path));
	json_object_object_add(o, "node", json_object_new_string(d->path));
	json_object_object_add(o, "kind", json_object_new_string(sp_kind_name(d->kind)));
	json_object_object_add(o, "mode", json_object_new_string(be->name));
	json_object_object_add(o, "block_device", d->block_path[0] ?
			       json_object_new_string(d->block_path) : NULL);
	json_object_object_add(o, "model", d->model[0] ? json_object_new_string(d->model) : NULL);
	json_object_object_add(o, "serial", d->serial[0] ? json_object_new_string(d->serial) : NULL);
	json_object_object_add(o, "firmware", d->firmware[0] ?
			       json_object_new_string(d->firmware) : NULL);
	json_object_object_add(o, "nsid", d->nsid ? sp_json_u64(d->nsid) : NULL);
	json_object_object_add(o, "size", sp_json_u64(d->size));
	json_object_object_add(o, "logical_block_size", sp_json_u64(d->lbs));
	json_object_object_add(o, "blocks", sp_json_u64(d->lbs ? d->size / d->lbs : 0));
	json_object_object_add(o, "metadata_size", sp_json_u64(d->ms));
	if (!strcmp(be->name, "nvme")) {
		json_object_object_add(o, "write_zeroes", json_object_new_boolean(d->write_zeroes));
		json_object_object_add(o, "mdts", sp_json_u64(d->mdts));
	}
	json_object_object_add(o, "max_transfer", d->max_transfer ?
			       sp_json_u64(d->max_transfer) : NULL);
	json_object_object_add(o, "io_poll", d->io_poll < 0 ? NULL :
			       json_object_new_boolean(d->io_poll));
	if (!strcmp(be->name, "sg")) {
		json_object *b = json_object_new_object();

		json_object_object_add(b, "node", d->bsg_path[0] ?
				       json_object_new_string(d->bsg_path) : NULL);
		json_object_object_add(b, "uring_cmd", d->bsg_uring < 0 ? NULL :
				       json_object_new_boolean(d->bsg_uring));
		json_object_object_add(b, "probe", d->bsg_why[0] ?
				       json_object_new_string(d->bsg_why) : NULL);
		json_object_object_add(o, "bsg", b);
	}
	if (!strcmp(be->name, "sg"))
		json_object_object_add(o, "flush_command", d->flush_cdb_len ?
				       json_object_new_string(d->flush_cdb_len == 16 ?
				       "SYNCHRONIZE CACHE(16)" : "SYNCHRONIZE CACHE(10)") : NULL);
	return o;
}

static void dev_text(const char *path, const struct sp_backend *be,
		     const struct sp_devinfo *d)
{
	char s1[32], s2[32];

	printf("%s:", path);
	if (!strcmp(be->name, "nvme"))
		printf(" NVMe namespace %u", d->nsid);
	else if (!strcmp(be->name, "sg"))
		printf(" SCSI disk");
	else if (!strcmp(be->name, "scsi-vfio"))
		printf(" SCSI disk behind an HBA on vfio-pci (userspace SCSI stack)");
	else if (!strcmp(be->name, "vfio"))
		printf(" NVMe namespace %u on vfio-pci (userspace driver)", d->nsid);
	else
		printf(" %s", d->kind == SP_KIND_BLOCK ? "block device" : "file");
	printf("\n");
	if (strcmp(d->path, path))
		printf("  node          %s\n", d->path);
	if (d->block_path[0] && strcmp(d->block_path, path))
		printf("  block device  %s\n", d->block_path);
	if (d->model[0])
		printf("  model         %s\n", d->model);
	if (d->serial[0])
		printf("  serial        %s\n", d->serial);
	if (d->firmware[0])
		printf("  firmware      %s\n", d->firmware);
	printf("  size          %s (%llu blocks of %u bytes)\n",
	       sp_fmt_size(d->size, s1, sizeof(s1)),
	       (unsigned long long)(d->lbs ? d->size / d->lbs : 0), d->lbs);
	if (!strcmp(be->name, "nvme")) {
		printf("  metadata      %u bytes per block\n", d->ms);
		printf("  write zeroes  %s\n", d->write_zeroes ? "yes" : "no");
	}
	if (d->max_transfer && !strcmp(be->name, "nvme"))
		printf("  max transfer  %s (MDTS %u; the driver's limit)\n",
		       sp_fmt_size(d->max_transfer, s2, sizeof(s2)), d->mdts);
	else if (d->max_transfer)
		printf("  max transfer  %s\n", sp_fmt_size(d->max_transfer, s2, sizeof(s2)));
	if (d->io_poll >= 0)
		printf("  polled I/O    %s\n", d->io_poll ? "yes" : "no (no poll queues)");
	if (!strcmp(be->name, "sg") || !strcmp(be->name, "scsi-vfio"))
		printf("  flush         %s\n", d->flush_cdb_len == 16 ? "SYNCHRONIZE CACHE(16)" :
		       d->flush_cdb_len == 10 ? "SYNCHRONIZE CACHE(10) ((16) refused)" :
		       "none (SYNCHRONIZE CACHE refused)");
	if (!strcmp(be->name, "sg") && d->bsg_path[0])
		printf("  bsg           %s, io_uring passthrough %s (%s)\n", d->bsg_path,
		       d->bsg_uring == 1 ? "available (no shortpath backend yet)" :
		       d->bsg_uring == 0 ? "not in this kernel" : "unknown", d->bsg_why);
	printf("  path          uring_bench --mode %s\n", be->name);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		SP_OPT_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	json_object *arr = NULL;
	bool json = false;
	const struct sp_opt_common common = { .shortopts = "h", .usage = usage, .json = &json };
	int opt, status = SP_EXIT_OK;

	sp_log_init(argv[0], SP_LOG_NOTICE);
	opterr = 0;	/* one line of our own for a bad option */
	while ((opt = getopt_long(argc, argv, common.shortopts, longopts, NULL)) != -1) {
		if (sp_opt_common(&common, opt, argv))
			return SP_EXIT_USAGE;
	}
	if (optind >= argc) {
		sp_err("no device given; see --help");
		return SP_EXIT_USAGE;
	}
	if (json)
		arr = json_object_new_array();
	for (int i = optind; i < argc; i++) {
		const struct sp_backend *be;
		struct sp_devinfo d;
		char why[512];
		int ret = sp_backend_detect(argv[i], false, &be, &d, why, sizeof(why));

		if (ret) {
			sp_err("%s", why[0] ? why : strerror(-ret));
			status = ret == -ENOENT || ret == -ENOTSUP ? SP_EXIT_USAGE : SP_EXIT_FAIL;
			continue;
		}
		if (json)
			json_object_array_add(arr, dev_json(argv[i], be, &d));
		else
			dev_text(argv[i], be, &d);
	}
	if (json)
		sp_json_print_and_free(arr);
	return status;
}
