// SPDX-License-Identifier: MIT
/*
 * vfio_pci: the device-independent half of every userspace PCI driver
 * here (see vfio_pci.h). The device is detached from the kernel (bound
 * to vfio-pci, see sp-vfio); what it may reach by DMA is exactly what
 * was mapped through its container, nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sp_pci.h"
#include "sp_sysfs.h"
#include "vfio_pci.h"

/* Below this, IOVAs are never handed out: a zeroed address field (PRP,
 * SGL) then faults instead of reaching memory. */
#define IOVA_FLOOR	0x100000ULL

static _Atomic unsigned g_devices, g_maps;
static _Atomic uint64_t g_map_bytes, g_iova_bytes;

void sp_vfio_pci_usage(struct sp_vfio_pci_usage *u)
{
	u->devices = atomic_load(&g_devices);
	u->dma_maps = atomic_load(&g_maps);
	u->dma_bytes = atomic_load(&g_map_bytes);
	u->iova_bytes = atomic_load(&g_iova_bytes);
}

int sp_vfio_parse_bdf(const char *s, char *out, size_t len)
{
	return sp_pci_parse_bdf(s, out, len);
}

/* ------------------------------------------------------------ IOVA, DMA */

int sp_vfio_iova_alloc(struct sp_vfio_pci *p, uint64_t len, uint64_t align, uint64_t *iova)
{
	int ret;

	pthread_mutex_lock(&p->iova_lock);
	ret = sp_iova_alloc(&p->iova, len, align, iova);
	pthread_mutex_unlock(&p->iova_lock);
	if (!ret)
		atomic_fetch_add(&g_iova_bytes, len);
	return ret;
}

int sp_vfio_iova_free(struct sp_vfio_pci *p, uint64_t iova, uint64_t len)
{
	int ret;

	pthread_mutex_lock(&p->iova_lock);
	ret = sp_iova_free(&p->iova, iova, len);
	pthread_mutex_unlock(&p->iova_lock);
	if (!ret)
		atomic_fetch_sub(&g_iova_bytes, len);
	return ret;
}

int sp_vfio_dma_map(struct sp_vfio_pci *p, void *va, size_t len, uint64_t align,
		    uint64_t *iova)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uint64_t)(uintptr_t)va,
		.size = len,
	};
	int ret = sp_vfio_iova_alloc(p, len, align, iova);

	if (ret)
		return ret;
	map.iova = *iova;
	/* type1 pins the pages here, for as long as the mapping lives */
	if (ioctl(p->container, VFIO_IOMMU_MAP_DMA, &map)) {
		ret = -errno;
		sp_vfio_iova_free(p, *iova, len);
		return ret;
	}
	atomic_fetch_add(&g_maps, 1);
	atomic_fetch_add(&g_map_bytes, len);
	return 0;
}

void sp_vfio_dma_unmap(struct sp_vfio_pci *p, uint64_t iova, size_t len)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = len,
	};

	if (ioctl(p->container, VFIO_IOMMU_UNMAP_DMA, &unmap) == 0) {
		atomic_fetch_sub(&g_maps, 1);
		atomic_fetch_sub(&g_map_bytes, len);
	}
	sp_vfio_iova_free(p, iova, len);
}

int sp_vfio_dma_alloc(struct sp_vfio_pci *p, size_t len, struct sp_dma *d)
{
	uint64_t align = SP_VFIO_PAGE;
	void *va = MAP_FAILED;
	int ret;

	len = (len + SP_VFIO_PAGE - 1) & ~(size_t)(SP_VFIO_PAGE - 1);
	if (len >= SP_VFIO_HUGE_2M) {
		size_t hlen = (len + SP_VFIO_HUGE_2M - 1) & ~(SP_VFIO_HUGE_2M - 1);

		va = mmap(NULL, hlen, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (va != MAP_FAILED) {
			len = hlen;
			align = SP_VFIO_HUGE_2M;
		}
	}
	if (va == MAP_FAILED)
		va = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (va == MAP_FAILED)
		return -errno;
	ret = sp_vfio_dma_map(p, va, len, align, &d->iova);
	if (ret) {
		munmap(va, len);
		return ret;
	}
	d->va = va;
	d->len = len;
	d->ours = true;
	return 0;
}

void sp_vfio_dma_free(struct sp_vfio_pci *p, struct sp_dma *d)
{
	if (!d->va)
		return;
	sp_vfio_dma_unmap(p, d->iova, d->len);
	if (d->ours)
		munmap(d->va, d->len);
	memset(d, 0, sizeof(*d));
}

/* ------------------------------------------------------------ config space */

int sp_vfio_pci_cfg_read(struct sp_vfio_pci *p, uint32_t off, void *buf, size_t len)
{
	return pread(p->device, buf, len, p->cfg_off + off) == (ssize_t)len ? 0 : -EIO;
}

int sp_vfio_pci_cfg_write(struct sp_vfio_pci *p, uint32_t off, const void *buf, size_t len)
{
	return pwrite(p->device, buf, len, p->cfg_off + off) == (ssize_t)len ? 0 : -EIO;
}

int sp_vfio_pci_command(struct sp_vfio_pci *p, uint16_t set, uint16_t clear)
{
	uint16_t cmd;
	int ret = sp_vfio_pci_cfg_read(p, 4, &cmd, sizeof(cmd));

	if (ret)
		return ret;
	cmd = (cmd | set) & ~clear;
	return sp_vfio_pci_cfg_write(p, 4, &cmd, sizeof(cmd));
}

int sp_vfio_pci_ids(struct sp_vfio_pci *p, uint16_t *vendor, uint16_t *device)
{
	uint16_t id[2];
	int ret = sp_vfio_pci_cfg_read(p, 0, id, sizeof(id));

	if (!ret) {
		*vendor = id[0];
		*device = id[1];
	}
	return ret;
}

void *sp_vfio_pci_bar(struct sp_vfio_pci *p, unsigned idx, size_t min_len)
{
	struct vfio_region_info r = { .argsz = sizeof(r), .index = idx };
	void *va;

	if (idx >= SP_VFIO_NR_BARS || idx > VFIO_PCI_BAR5_REGION_INDEX) {
		errno = ENODEV;
		return NULL;
	}
	if (p->bar[idx].va)
		return p->bar[idx].len >= min_len ? p->bar[idx].va : (errno = ENODEV, NULL);
	if (ioctl(p->device, VFIO_DEVICE_GET_REGION_INFO, &r) ||
	    !(r.flags & VFIO_REGION_INFO_FLAG_MMAP) || r.size < min_len || !r.size) {
		errno = ENODEV;
		return NULL;
	}
	va = mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, p->device, r.offset);
	if (va == MAP_FAILED)
		return NULL;
	p->bar[idx].va = va;
	p->bar[idx].len = r.size;
	return va;
}

/* ------------------------------------------------------------ open, close */

/* The IOVA ranges the IOMMU accepts, from the type1 capability chain. */
static int iommu_ranges(struct sp_vfio_pci *p)
{
	struct vfio_iommu_type1_info *info;
	struct sp_iova_extent fallback[] = {
		/* without the capability: below the x86 MSI window, and above */
		{ IOVA_FLOOR, 0xfee00000ULL }, { 0x100000000ULL, 1ULL << 39 },
	};
	struct sp_iova_extent *ext = NULL;
	unsigned nr = 0;
	uint32_t argsz = sizeof(*info);
	int ret;

	info = calloc(1, argsz);
	if (!info)
		return -ENOMEM;
	info->argsz = argsz;
	if (ioctl(p->container, VFIO_IOMMU_GET_INFO, info)) {
		ret = -errno;
		free(info);
		return ret;
	}
	if (info->argsz > argsz) {
		struct vfio_iommu_type1_info *bigger = realloc(info, info->argsz);

		if (!bigger) {
			free(info);
			return -ENOMEM;
		}
		info = bigger;
		argsz = info->argsz;
		memset(info, 0, argsz);
		info->argsz = argsz;
		if (ioctl(p->container, VFIO_IOMMU_GET_INFO, info)) {
			ret = -errno;
			free(info);
			return ret;
		}
	}
	if (info->flags & VFIO_IOMMU_INFO_CAPS) {
		uint32_t off = info->cap_offset;

		while (off && off + sizeof(struct vfio_info_cap_header) <= argsz) {
			struct vfio_info_cap_header *h = (void *)((char *)info + off);

			if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
				struct vfio_iommu_type1_info_cap_iova_range *r = (void *)h;

				ext = calloc(r->nr_iovas ? r->nr_iovas : 1, sizeof(*ext));
				if (!ext) {
					free(info);
					return -ENOMEM;
				}
				for (uint32_t i = 0; i < r->nr_iovas; i++) {
					/* the kernel's ends are inclusive */
					uint64_t s = r->iova_ranges[i].start, e = r->iova_ranges[i].end;

					if (e < IOVA_FLOOR)
						continue;
					ext[nr].start = s < IOVA_FLOOR ? IOVA_FLOOR : s;
					ext[nr].end = e == UINT64_MAX ? e : e + 1;
					nr++;
				}
				break;
			}
			off = h->next;
		}
	}
	free(info);
	ret = ext ? sp_iova_init(&p->iova, ext, nr) : sp_iova_init(&p->iova, fallback, 2);
	free(ext);
	return ret;
}

static int attach(struct sp_vfio_pci *p, char *why, size_t len)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	char group[32], drv[64] = "", path[PATH_MAX];
	int ret;

	if (sp_sysfs_path(path, sizeof(path), SP_PCI_DEVS "/%s", p->bdf) || access(path, F_OK)) {
		snprintf(why, len, "%s: no such PCI device (see sp-vfio status)", p->bdf);
		return -ENODEV;
	}
	if (sp_pci_link_name(p->bdf, "iommu_group", group, sizeof(group))) {
		snprintf(why, len, "%s: no IOMMU: the device is in no IOMMU group "
			 "(enable the IOMMU, e.g. intel_iommu=on)", p->bdf);
		return -ENXIO;
	}
	if (sp_pci_link_name(p->bdf, "driver", drv, sizeof(drv)) || strcmp(drv, "vfio-pci")) {
		snprintf(why, len, "%s: in use by %s%s, not vfio-pci: run sp-vfio bind %s",
			 p->bdf, drv[0] ? "the kernel driver " : "no driver",
			 drv[0] ? drv : "", p->bdf);
		return -EBUSY;
	}
	p->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (p->container < 0) {
		ret = -errno;
		snprintf(why, len, "/dev/vfio/vfio: %s (is vfio-pci loaded?)", strerror(-ret));
		return ret;
	}
	if (ioctl(p->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(p->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
		snprintf(why, len, "this kernel's VFIO has no type1v2 IOMMU container");
		return -EOPNOTSUPP;
	}
	snprintf(path, sizeof(path), "/dev/vfio/%s", group);
	p->group = open(path, O_RDWR | O_CLOEXEC);
	if (p->group < 0) {
		ret = -errno;
		if (ret == -EBUSY)
			snprintf(why, len, "%s: in use: VFIO group %s is open in another "
				 "process", p->bdf, group);
		else
			snprintf(why, len, "%s: %s", path, strerror(-ret));
		return ret == -EBUSY ? ret : -ENODEV;
	}
	if (ioctl(p->group, VFIO_GROUP_GET_STATUS, &gs) ||
	    !(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		snprintf(why, len, "%s: IOMMU group %s is not viable: every device in "
			 "it must be bound to vfio-pci", p->bdf, group);
		return -EBUSY;
	}
	if (ioctl(p->group, VFIO_GROUP_SET_CONTAINER, &p->container) ||
	    ioctl(p->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		ret = -errno;
		snprintf(why, len, "%s: cannot set up the IOMMU container: %s", p->bdf,
			 strerror(-ret));
		return ret;
	}
	ret = iommu_ranges(p);
	if (ret) {
		snprintf(why, len, "%s: no usable IOVA range: %s", p->bdf, strerror(-ret));
		return ret;
	}
	p->iova_ready = true;
	p->device = ioctl(p->group, VFIO_GROUP_GET_DEVICE_FD, p->bdf);
	if (p->device < 0) {
		ret = -errno;
		snprintf(why, len, "%s: cannot get the device from VFIO: %s", p->bdf,
			 strerror(-ret));
		return ret == -EBUSY ? ret : -ENODEV;
	}
	if (ioctl(p->device, VFIO_DEVICE_GET_REGION_INFO, &cfg)) {
		ret = -errno;
		snprintf(why, len, "%s: no PCI config space region: %s", p->bdf,
			 strerror(-ret));
		return ret;
	}
	p->cfg_off = cfg.offset;
	/* memory decoding and bus mastering: the device may now do DMA,
	 * confined by the IOMMU to what we map */
	ret = sp_vfio_pci_command(p, SP_PCI_CMD_MEMORY | SP_PCI_CMD_MASTER, 0);
	if (ret)
		snprintf(why, len, "%s: cannot enable bus mastering", p->bdf);
	return ret;
}

int sp_vfio_pci_open(struct sp_vfio_pci *p, const char *bdf, char *why, size_t len)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->container = p->group = p->device = -1;
	pthread_mutex_init(&p->iova_lock, NULL);
	snprintf(p->bdf, sizeof(p->bdf), "%s", bdf);
	ret = attach(p, why, len);
	if (ret) {
		sp_vfio_pci_close(p);
		return ret;
	}
	p->counted = true;
	atomic_fetch_add(&g_devices, 1);
	return 0;
}

void sp_vfio_pci_close(struct sp_vfio_pci *p)
{
	if (p->container < 0 && p->group < 0 && p->device < 0 && !p->iova_ready)
		return;
	if (p->device >= 0)
		sp_vfio_pci_command(p, 0, SP_PCI_CMD_MASTER);
	for (unsigned i = 0; i < SP_VFIO_NR_BARS; i++)
		if (p->bar[i].va)
			munmap(p->bar[i].va, p->bar[i].len);
	if (p->device >= 0)
		close(p->device);
	if (p->group >= 0) {
		ioctl(p->group, VFIO_GROUP_UNSET_CONTAINER, &p->container);
		close(p->group);
	}
	if (p->container >= 0)
		close(p->container);
	if (p->iova_ready)
		sp_iova_destroy(&p->iova);
	pthread_mutex_destroy(&p->iova_lock);
	if (p->counted)
		atomic_fetch_sub(&g_devices, 1);
	memset(p, 0, sizeof(*p));
	p->container = p->group = p->device = -1;
}
