/* SPDX-License-Identifier: MIT */
/*
 * A fake PCI device for the userspace HBA drivers: it stands in for
 * vfio_pci (BARs, config space, DMA memory) when the drivers are built
 * with -DSP_VFIO_FAKE, and a model of the HBA (fake_mfi.c, fake_mpi.c)
 * answers every register access. Every answer the model gives is taken
 * from the input when the input says so ("hostile"), else the model's
 * own, sane one; an empty input is a healthy HBA. fake_session() then
 * drives the driver as the mid-layer does (bring-up, list, I/Os, polls,
 * aborts, resets, tear-down) and aborts on what must never happen: a
 * command completed twice or never, a driver frame naming memory it
 * never mapped, a leak, or a wait that outlasts any time-out.
 */
#ifndef SP_FAKE_DEV_H
#define SP_FAKE_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fake_model {
	const char *name;
	uint16_t vendor, device;
	unsigned bar;			/* the BAR with the registers */
	void (*reset)(void);		/* a new device, power on */
	uint32_t (*rd)(uint32_t off);
	void (*wr)(uint32_t off, uint32_t v);
	void (*tick)(void);		/* between the driver's calls: replies */
	/* the device stops answering requests (through resets too when
	 * sticky), as a faulted firmware does */
	void (*mute)(bool sticky);
};

/* What a unit test sets instead of the input (fuzz targets: zeros). */
struct fake_knobs {
	bool dead_after_list;	/* mute, sticky, once the units are listed */
	bool any_devices;	/* MPI: IOC and port facts say max_devices 0 */
};
extern struct fake_knobs fake_knobs;

/* The input: bytes, then zeros (or the default) once it runs out. */
bool fz_left(void);
uint8_t fz_u8(void);
uint16_t fz_u16(void);
uint32_t fz_u32(void);
/* def unless the next control byte says hostile: then 32 bits of input */
uint32_t fz_or(uint32_t def);
/* the same for a register read, from the register stream */
uint32_t fz_reg_or(uint32_t def);
/* true when the next control byte says hostile (false once input ends) */
bool fz_hostile(void);
/* overwrites some bytes of p (len) with input when it says so */
void fz_mangle(void *p, size_t len);

/* The device's view of DMA memory: NULL unless [iova, iova+len) lies in
 * one mapping. */
void *fake_dma(uint64_t iova, size_t len);
/* A driver bug the device saw: reported and aborted on. */
_Noreturn void fake_bug(const char *fmt, ...);

struct fake_stats {
	int open_ret;			/* sp_hba_open's */
	unsigned units;
	unsigned submitted, completed, aborts, resets;
};

/*
 * One life of an HBA; aborts on a bug. script decides what the session
 * does (rounds, commands, polls, aborts, resets: zeros once it ends),
 * data what the device answers: its first byte (mod 128) says how many
 * of the rest register reads take, the remainder the replies.
 */
void fake_session(const struct fake_model *m, const uint8_t *script, size_t script_len,
		  const uint8_t *data, size_t size, struct fake_stats *st);

extern const struct fake_model fake_mfi, fake_mpi;

#endif
