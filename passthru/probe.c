// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"

int sp_backend_detect(const char *path, bool write, const struct sp_backend **be,
		      struct sp_devinfo *d, char *why, size_t len)
{
	static const char *const passthru[] = { "nvme", "sg" };
	int ret;

	/* The passthrough backends know their devices; else a plain path. */
	for (unsigned i = 0; i < sizeof(passthru) / sizeof(passthru[0]); i++) {
		const struct sp_backend *b = sp_backend_find(passthru[i]);

		why[0] = '\0';
		ret = b->probe(path, write, d, why, len);
		if (ret != -ENODEV) {
			*be = b;
			if (ret && !why[0])
				snprintf(why, len, "%s: %s", path, strerror(-ret));
			return ret;
		}
	}
	*be = sp_backend_find("uring");
	why[0] = '\0';
	ret = sp_dev_probe(path, write, d);
	/* /dev/null, a tty: no blocks to address, nothing a backend can use */
	if (!ret && d->kind == SP_KIND_CHAR) {
		snprintf(why, len, "%s: a character device that is neither an NVMe "
			 "generic node nor a SCSI generic node", path);
		return -ENOTSUP;
	}
	if (ret == -ENOTSUP)
		snprintf(why, len, "%s: not a file, block device or passthrough node", path);
	else if (ret)
		snprintf(why, len, "%s: %s", path, strerror(-ret));
	return ret;
}
