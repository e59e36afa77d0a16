// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sp_opts.h"
#include "sp_sysfs.h"

static char sysfs_root[PATH_MAX];

void sp_sysfs_set_root(const char *root)
{
	snprintf(sysfs_root, sizeof(sysfs_root), "%s", root ? root : "");
}

int sp_sysfs_path(char *out, size_t len, const char *fmt, ...)
{
	size_t n = strlen(sysfs_root);
	va_list ap;
	int m;

	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(out, sysfs_root, n);
	va_start(ap, fmt);
	m = vsnprintf(out + n, len - n, fmt, ap);
	va_end(ap);
	return m < 0 || (size_t)m >= len - n ? -ENAMETOOLONG : 0;
}

int sp_sysfs_read_devnum(const char *path, dev_t *dev)
{
	char text[32];
	unsigned ma, mi;
	int ret = sp_read_text_file(path, text, sizeof(text));

	if (ret)
		return ret;
	if (sscanf(text, "%u:%u", &ma, &mi) != 2)
		return -EIO;
	*dev = makedev(ma, mi);
	return 0;
}

int sp_dev_kernel_name(const struct stat *st, char *name, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	if (sp_sysfs_path(path, sizeof(path), "/sys/dev/%s/%u:%u",
			  S_ISBLK(st->st_mode) ? "block" : "char",
			  major(st->st_rdev), minor(st->st_rdev)))
		return -ENODEV;
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -ENODEV;
	link[n] = '\0';
	snprintf(name, len, "%s", strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
	return 0;
}

bool sp_mount_point(dev_t dev, char *where, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char mnt[PATH_MAX];

		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &maj, &min, mnt) != 3)
			continue;
		if (makedev(maj, min) != dev)
			continue;
		snprintf(where, len, "%s", mnt);
		found = true;
	}
	fclose(f);
	return found;
}

int sp_blk_without_iostats(char *first, size_t len)
{
	DIR *dir = opendir("/sys/block");
	struct dirent *de;
	int n = 0;

	if (!dir)
		return -errno;
	if (len)
		first[0] = 0;
	while ((de = readdir(dir))) {
		char path[300];
		FILE *f;
		int on = 1;

		if (de->d_name[0] == '.')
			continue;
		/* bio-based disks (zram, dm) have no requests, whatever they say */
		snprintf(path, sizeof(path), "/sys/block/%s/mq", de->d_name);
		if (access(path, F_OK))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/queue/iostats", de->d_name);
		f = fopen(path, "r");
		/* gone since readdir */
		if (!f)
			continue;
		if (fscanf(f, "%d", &on) == 1 && !on && n++ == 0 && len)
			snprintf(first, len, "%s", de->d_name);
		fclose(f);
	}
	closedir(dir);
	return n;
}
