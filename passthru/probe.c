// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "sp_pci.h"
#include "vfio_pci.h"

int sp_backend_detect(const char *path, bool write, const struct sp_backend **be,
		      struct sp_devinfo *d, char *why, size_t len)
{
	static const char *const passthru[] = { "nvme", "sg" };
	char bdf[64], full[16], *slash;
	struct sp_pci_info pi;
	int ret;

	/* A PCI address (BDF, or BDF/TARGET[/LUN] for an HBA) that is no
	 * file: the userspace driver of its class. */
	snprintf(bdf, sizeof(bdf), "%s", path);
	slash = strchr(bdf, '/');
	if (slash && slash != bdf)
		*slash = '\0';
	if (!strchr(path, '/') || (slash && slash != bdf)) {
		if (!sp_vfio_parse_bdf(bdf, full, sizeof(full)) && !sp_pci_info(full, &pi) &&
		    (sp_pci_is_nvme_class(pi.class) || sp_pci_is_scsi_hba_class(pi.class))) {
			*be = sp_backend_find(sp_pci_is_nvme_class(pi.class) ? "vfio" : "scsi-vfio");
			why[0] = '\0';
			ret = (*be)->probe(path, write, d, why, len);
			if (ret && !why[0])
				snprintf(why, len, "%s: %s", path, strerror(-ret));
			return ret;
		}
	}

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
