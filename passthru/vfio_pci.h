/* SPDX-License-Identifier: MIT */
/*
 * vfio_pci: what every userspace PCI driver over VFIO needs, whatever
 * the device speaks (NVMe, MFI, MPI): the type1 container and the
 * device's group with the refusals that keep a device in use by the
 * kernel untouched, the IOVA ranges the IOMMU accepts, BARs mapped by
 * index, config space and the PCI command register, and DMA memory
 * mapped for the device through an IOVA allocator with its own lock.
 *
 * Every function returns 0 or a negative errno; the ones that can fail
 * for a reason the user must act on leave one line in why.
 */
#ifndef SP_VFIO_PCI_H
#define SP_VFIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iova.h"
#include "sp_time.h"

#define SP_VFIO_PAGE	4096u
#define SP_VFIO_HUGE_2M	(2ULL << 20)
#define SP_VFIO_NR_BARS	6

/* PCI command register bits */
#define SP_PCI_CMD_IO		0x1
#define SP_PCI_CMD_MEMORY	0x2
#define SP_PCI_CMD_MASTER	0x4

struct sp_vfio_pci {
	char bdf[16];
	int container, group, device;
	uint64_t cfg_off;	/* config space in the device fd */
	struct {
		void *va;
		size_t len;
	} bar[SP_VFIO_NR_BARS];
	struct sp_iova iova;
	/*
	 * The IOVA allocator's own lock: jobs map and unmap at once, and
	 * drivers unmap with their controller lock held, so it is a
	 * separate, innermost lock.
	 */
	pthread_mutex_t iova_lock;
	bool iova_ready;
	bool counted;		/* in the usage counters */
};

/* Memory the device may read and write (zeroed when allocated here). */
struct sp_dma {
	void *va;
	uint64_t iova;
	size_t len;
	bool ours;		/* allocated by sp_vfio_dma_alloc (else: mapped only) */
};

/* Process-wide resources held right now, every driver together. */
struct sp_vfio_pci_usage {
	unsigned devices;	/* sp_vfio_pci_open without close */
	unsigned dma_maps;	/* VFIO_IOMMU_MAP_DMA without UNMAP */
	uint64_t dma_bytes;
	uint64_t iova_bytes;	/* IOVA space allocated */
};

void sp_vfio_pci_usage(struct sp_vfio_pci_usage *u);

/* "0000:00:04.0" or "00:04.0" into the full form (out: 13+ bytes);
 * -ENODEV when s is no PCI address. */
int sp_vfio_parse_bdf(const char *s, char *out, size_t len);

/*
 * Opens the device at bdf (full form) bound to vfio-pci: container,
 * group (viable, not open elsewhere), type1v2 IOMMU, IOVA ranges,
 * device fd; enables memory decoding and bus mastering. Refuses a
 * device without an IOMMU group or bound to another driver. On failure
 * p is closed again (sp_vfio_pci_close is harmless on it).
 */
int sp_vfio_pci_open(struct sp_vfio_pci *p, const char *bdf, char *why, size_t len);
/* Bus mastering off, BARs unmapped, fds closed; the caller has freed
 * its DMA memory first. */
void sp_vfio_pci_close(struct sp_vfio_pci *p);

/* Maps BAR idx (at least min_len bytes) once; NULL with errno set:
 * ENODEV when the BAR is missing, too small or cannot be mmapped. */
void *sp_vfio_pci_bar(struct sp_vfio_pci *p, unsigned idx, size_t min_len);
static inline size_t sp_vfio_pci_bar_len(const struct sp_vfio_pci *p, unsigned idx)
{
	return idx < SP_VFIO_NR_BARS ? p->bar[idx].len : 0;
}

int sp_vfio_pci_cfg_read(struct sp_vfio_pci *p, uint32_t off, void *buf, size_t len);
int sp_vfio_pci_cfg_write(struct sp_vfio_pci *p, uint32_t off, const void *buf, size_t len);
int sp_vfio_pci_command(struct sp_vfio_pci *p, uint16_t set, uint16_t clear);
/* Vendor and device ID from config space. */
int sp_vfio_pci_ids(struct sp_vfio_pci *p, uint16_t *vendor, uint16_t *device);

/* IOVA space only, mapped to nothing: a DMA there must be fenced. */
int sp_vfio_iova_alloc(struct sp_vfio_pci *p, uint64_t len, uint64_t align, uint64_t *iova);
int sp_vfio_iova_free(struct sp_vfio_pci *p, uint64_t iova, uint64_t len);

/* Maps the caller's memory [va, va+len) for the device at a fresh IOVA. */
int sp_vfio_dma_map(struct sp_vfio_pci *p, void *va, size_t len, uint64_t align,
		    uint64_t *iova);
void sp_vfio_dma_unmap(struct sp_vfio_pci *p, uint64_t iova, size_t len);
/* Zeroed memory, huge pages when len is 2 MiB or more and the system
 * has them, mapped; freed (unmapped, released) by sp_vfio_dma_free. */
int sp_vfio_dma_alloc(struct sp_vfio_pci *p, size_t len, struct sp_dma *d);
void sp_vfio_dma_free(struct sp_vfio_pci *p, struct sp_dma *d);

/*
 * Barriers for drivers. The device reads what we wrote to memory once
 * it sees a doorbell (MMIO) write, so those stores must reach memory
 * first: x86 keeps stores in order, also against uncached MMIO, so only
 * the compiler must be stopped; arm64 needs a store barrier that covers
 * the device.
 */
static inline void sp_wmb_doorbell(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("" ::: "memory");
#elif defined(__aarch64__)
	__asm__ __volatile__("dsb st" ::: "memory");
#else
	__sync_synchronize();
#endif
}

/* After seeing that the device wrote an entry (phase tag, producer
 * index): the rest of the entry is read after it. */
static inline void sp_rmb_dma(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("" ::: "memory");
#elif defined(__aarch64__)
	__asm__ __volatile__("dmb oshld" ::: "memory");
#else
	__sync_synchronize();
#endif
}

/*
 * The test seam. Built with -DSP_VFIO_FAKE (the HBA fuzz targets and
 * their unit test, never the tools), every register access, the clock
 * the drivers' time-outs run on and their pauses go to a fake device
 * (tests/fuzz/fake_dev.c), which also provides the functions above: the
 * test plays the device, deciding every register read and every reply,
 * and time-outs pass in virtual time instead of seconds. Otherwise these
 * are the plain MMIO accessors, the monotonic clock and nanosleep.
 */
#ifdef SP_VFIO_FAKE
uint32_t sp_fake_mmio_rd32(const void *bar, uint32_t off);
void sp_fake_mmio_wr32(void *bar, uint32_t off, uint32_t v);
uint64_t sp_fake_now_ns(void);
void sp_fake_pause_ns(uint64_t ns);
#endif

static inline uint32_t sp_mmio_rd32(const void *bar, uint32_t off)
{
#ifdef SP_VFIO_FAKE
	return sp_fake_mmio_rd32(bar, off);
#else
	return *(const volatile uint32_t *)((const char *)bar + off);
#endif
}

static inline void sp_mmio_wr32(void *bar, uint32_t off, uint32_t v)
{
#ifdef SP_VFIO_FAKE
	sp_fake_mmio_wr32(bar, off, v);
#else
	*(volatile uint32_t *)((char *)bar + off) = v;
#endif
}

/* The clock of a driver's time-outs and device-time stamps. */
static inline uint64_t sp_dev_now_ns(void)
{
#ifdef SP_VFIO_FAKE
	return sp_fake_now_ns();
#else
	return sp_now_ns();
#endif
}

/* A driver's pause while it waits for its device. */
static inline void sp_dev_pause_ns(uint64_t ns)
{
#ifdef SP_VFIO_FAKE
	sp_fake_pause_ns(ns);
#else
	struct timespec ts = sp_ns_to_timespec(ns);

	nanosleep(&ts, NULL);
#endif
}

#endif
