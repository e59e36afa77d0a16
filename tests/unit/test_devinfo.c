// SPDX-License-Identifier: MIT
/* Range checks of a target: overflow never wraps into a valid offset;
 * the write lock; the signature probe tells empty from unreadable. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devinfo.h"
#include "tap.h"

int main(void)
{
	struct sp_devinfo d = { .lbs = 512, .size = 4 << 20 };
	char why[256];
	int ret;

	snprintf(d.path, sizeof(d.path), "/dev/x");
	ret = sp_dev_check_range(&d, 0, 4 << 20, why, sizeof(why));
	TAP_CHECK(ret == 0, "the whole device is a valid range");
	ret = sp_dev_check_range(&d, 4 << 20, 512, why, sizeof(why));
	TAP_CHECK(ret == -ERANGE && strstr(why, "LBA 8192 + 1 blocks"),
		  "one block past the end: %s", why);
	ret = sp_dev_check_range(&d, UINT64_MAX - 511, 1024, why, sizeof(why));
	TAP_CHECK(ret == -ERANGE, "offset + length overflowing is past the end");
	ret = sp_dev_check_range(&d, 100, 512, why, sizeof(why));
	TAP_CHECK(ret == -EINVAL && strstr(why, "multiples"), "unaligned offset: %s", why);
	ret = sp_dev_check_range(&d, 0, 0, why, sizeof(why));
	TAP_CHECK(ret == 0, "an empty range at the start is inside");

	d.lbs = 0;
	ret = sp_dev_check_range(&d, 0, 512, why, sizeof(why));
	TAP_CHECK(ret == -EINVAL, "no block size (a char device): refused, no division");
	{
		/* OFD locks conflict between open files, even in one process */
		struct sp_devinfo f = { .kind = SP_KIND_FILE };
		char tmpl[] = "/tmp/sp-lock-XXXXXX";
		int fd0 = mkstemp(tmpl), a, b, c;

		snprintf(f.path, sizeof(f.path), "%s", tmpl);
		ret = sp_dev_lock_write(&f, &a, why, sizeof(why));
		TAP_CHECK(fd0 >= 0 && ret == 0 && a >= 0, "a first writer takes the lock");
		ret = sp_dev_lock_write(&f, &b, why, sizeof(why));
		TAP_CHECK(ret == -EBUSY && b == -1 && strstr(why, "one writer at a time"),
			  "a second is refused: %s", why);
		close(a);
		ret = sp_dev_lock_write(&f, &c, why, sizeof(why));
		TAP_CHECK(ret == 0, "the lock goes with the first writer's descriptor");
		close(c);
		f.kind = SP_KIND_PCI;
		ret = sp_dev_lock_write(&f, &c, why, sizeof(why));
		TAP_CHECK(ret == 0 && c == -1,
			  "a PCI function needs no lock (VFIO groups are exclusive)");
		unlink(tmpl);
		close(fd0);
	}
	{
		/* an image: zeros, then a DOS partition table, then unreadable */
		char tmpl[] = "/tmp/sp-sig-XXXXXX", what[128];
		int fd = mkstemp(tmpl);
		unsigned char mbr[512] = { 0 };

		TAP_CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0, "a 1 MiB image");
		ret = sp_dev_probe_signature(tmpl, what, sizeof(what));
		TAP_CHECK(ret == 0, "zeros carry no signature (%d)", ret);
		/* one Linux partition from sector 1, and the boot signature */
		mbr[446 + 4] = 0x83;
		mbr[446 + 8] = 1;
		mbr[446 + 12] = 100;
		mbr[510] = 0x55;
		mbr[511] = 0xaa;
		TAP_CHECK(pwrite(fd, mbr, sizeof(mbr), 0) == (ssize_t)sizeof(mbr), "an MBR written");
		ret = sp_dev_probe_signature(tmpl, what, sizeof(what));
		TAP_CHECK(ret == 1 && strstr(what, "dos"), "a partition table is found: %s", what);
		close(fd);
		unlink(tmpl);
		ret = sp_dev_probe_signature(tmpl, what, sizeof(what));
		TAP_CHECK(ret < 0, "a path that cannot be read is an error, not empty (%d)", ret);
	}
	return tap_done();
}
