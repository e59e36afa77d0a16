// SPDX-License-Identifier: MIT
/*
 * sp-vfio check: the userspace NVMe driver against a controller bound to
 * vfio-pci: bring-up and tear-down cycles with nothing left behind (IOVA
 * space, DMA mappings, queue pairs, file descriptors, memory), a read
 * into an IOVA never mapped (the IOMMU fence), a read past the end (a
 * decoded status), and a controller reset followed by a read. The same
 * for a SAS/RAID HBA through the userspace SCSI stack (scsi-vfio).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "nvme_spec.h"
#include "sp_json.h"
#include "sp_log.h"
#include "sp_opts.h"
#include "sp_pci.h"
#include "sp_time.h"
#include "sp_version.h"
#include "scsi_vfio.h"
#include "vfio.h"
#include "vfio_check.h"



static unsigned count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static long long rss_kib(void)
{
	char line[256];
	long long v = -1;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/* /dev/kmsg positioned at its end, or -errno. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd < 0 ? -errno : fd;
}

/* Whether the kernel reports an IOMMU fault at iova (DMAR, AMD-Vi and
 * SMMU all print "fault addr" or "address" with the IOVA in hex)
 * within a second. */
static bool kmsg_fault(int fd, uint64_t iova)
{
	char rec[1024], a[48], b[48];

	if (fd < 0)
		return false;
	snprintf(a, sizeof(a), "fault addr 0x%llx", (unsigned long long)iova);
	snprintf(b, sizeof(b), "address=0x%llx", (unsigned long long)iova);
	for (int waited = 0; waited < 1000; waited += 50) {
		ssize_t n;

		while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
			if (n <= 0)
				continue;	/* records overwritten: go on */
			rec[n] = '\0';
			if (strstr(rec, a) || strstr(rec, b))
				return true;
		}
		sp_sleep_ms(50);
	}
	return false;
}

static bool memchk(const void *p, uint8_t v, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != v)
			return false;
	return true;
}

/* One I/O through the backend, waited for. */
static int one_io(struct sp_target *t, enum sp_op op, uint64_t off, uint32_t len,
		  uint32_t *status)
{
	struct sp_io io = { .op = op, .offset = off, .len = len }, *done;
	int ret;

	ret = t->be->queue(t, &io);
	if (!ret)
		ret = t->be->submit(t, 1);
	while (!ret && (ret = t->be->reap(t, &done, 1)) == 0)
		ret = t->be->submit(t, 1);
	if (ret < 0)
		return ret;
	*status = io.status;
	return io.res < 0 ? io.res : 0;
}

/* --json, for the steps as they are taken */
static bool opt_json;

struct check {
	json_object *steps;
	unsigned failed;
};

static void step(struct check *ck, bool ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void step(struct check *ck, bool ok, const char *name, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	ck->failed += !ok;
	if (opt_json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "ok", json_object_new_boolean(ok));
		json_object_object_add(o, "detail", json_object_new_string(detail));
		json_object_array_add(ck->steps, o);
	} else {
		printf("%-4s %-18s %s\n", ok ? "ok" : "FAIL", name, detail);
	}
}

/* What is left of the driver's resources after a tear-down, in words;
 * empty when nothing is. */
static void leftovers(bool scsi, char *out, size_t len)
{
	struct sp_vfio_pci_usage pu;
	struct sp_vfio_usage u;

	out[0] = '\0';
	sp_vfio_pci_usage(&pu);
	if (scsi) {
		if (pu.devices || pu.dma_maps || pu.iova_bytes)
			snprintf(out, len, "%u devices, %u DMA maps, %llu IOVA bytes",
				 pu.devices, pu.dma_maps, (unsigned long long)pu.iova_bytes);
		return;
	}
	sp_vfio_usage(&u);
	if (u.controllers || u.queue_pairs || u.dma_maps || u.iova_bytes)
		snprintf(out, len, "%u controllers, %u queue pairs, %u DMA maps, %llu IOVA "
			 "bytes", u.controllers, u.queue_pairs, u.dma_maps,
			 (unsigned long long)u.iova_bytes);
}

static const char *status_words(bool scsi, uint32_t status, char *buf, size_t len)
{
	return scsi ? sp_scsi_ml_status_str(status, buf, len) :
		      sp_nvme_status_str(status, buf, len);
}

/* How long the timeout step lets a command go unanswered. */
#define CHECK_TIMEOUT_MS	1000u

/*
 * A command the HBA holds without answering (the family's submit_held),
 * through the I/O path's own timeout: it must end, aborted and (when
 * the abort does not bring it back) with the HBA reset, as ETIMEDOUT
 * with its status in words, and the HBA must serve a read afterwards.
 * An HBA that answers the request has nothing to time out: said so.
 */
static void check_timeout(struct check *ck, struct sp_target *t)
{
	struct sp_hba *h = sp_scsi_vfio_hba(t);
	struct sp_hba_stats s0 = sp_hba_get_stats(h), s1;
	uint64_t t0 = sp_now_ns(), el;
	uint32_t status = 0, rd_status = 0;
	char words[160], how[160];
	int res = 0, ret, rd;

	ret = sp_scsi_vfio_timeout_one(t, CHECK_TIMEOUT_MS, &res, &status);
	el = sp_now_ns() - t0;
	s1 = sp_hba_get_stats(h);
	if (ret == -EOPNOTSUPP) {
		step(ck, true, "timeout", "the %s family has no request its firmware "
		     "holds: not tested", h->ops->name);
		return;
	}
	rd = ret ? ret : one_io(t, SP_OP_READ, 12288, 4096, &rd_status);
	if (ret) {
		step(ck, false, "timeout", "%s: %s", h->ops->held_desc, strerror(-ret));
		return;
	}
	if (res != -ETIMEDOUT) {
		/* a real HBA may answer it: then nothing timed out */
		step(ck, !rd, "timeout", "%s: answered (%s) after %.1f s, nothing to time "
		     "out; a read afterwards: %s", h->ops->held_desc,
		     res < 0 ? strerror(-res) : "ok", el / 1e9, rd ? strerror(-rd) : "ok");
		return;
	}
	snprintf(how, sizeof(how), "abort %s, %s",
		 s1.aborts == s0.aborts ? "not sent" :
		 s1.aborts_answered > s0.aborts_answered ?
		 "taken by the HBA but the command stayed" : "not answered",
		 s1.resets == s0.resets ? "no reset" :
		 s1.resets_failed > s0.resets_failed ? "the HBA reset FAILED" :
		 "the HBA reset");
	step(ck, !rd && s1.timeouts > s0.timeouts && s1.resets_failed == s0.resets_failed,
	     "timeout", "%s: unanswered for %u ms, then %s; it ended after %.1f s with "
	     "ETIMEDOUT (%s); a read afterwards: %s", h->ops->held_desc, CHECK_TIMEOUT_MS,
	     how, el / 1e9, sp_scsi_ml_status_str(status, words, sizeof(words)),
	     rd ? strerror(-rd) : "ok");
}

int sp_vfio_cmd_check(const char *arg, unsigned cycles, bool json)
{
	const struct sp_backend *be;
	struct sp_pci_info pi;
	bool scsi;
	char left[160];
	struct sp_target_opts o = { .write = false, .direct = true, .depth = 8, .buf_size = 8192 };
	struct check ck = { .steps = json_object_new_array() };
	struct sp_devinfo d;
	struct sp_target t;
	unsigned fds0 = 0, bad_cycle = 0;
	long long rss0 = 0, rss1 = 0;
	char why[320], st[160], bdf[16];
	uint32_t status;
	int ret;

	opt_json = json;
	if (sp_vfio_parse_bdf(arg, bdf, sizeof(bdf))) {
		json_object_put(ck.steps);
		sp_err("'%s' is not a PCI address (DDDD:BB:DD.F, e.g. 0000:00:04.0)", arg);
		return SP_EXIT_USAGE;
	}
	/* an NVMe controller, or a SAS/RAID HBA through the SCSI stack */
	scsi = !sp_pci_info(bdf, &pi) && sp_pci_is_scsi_hba_class(pi.class);
	be = sp_backend_find(scsi ? "scsi-vfio" : "vfio");
	why[0] = '\0';
	ret = be->probe(bdf, false, &d, why, sizeof(why));
	if (ret) {
		json_object_put(ck.steps);
		sp_err("%s", why[0] ? why : strerror(-ret));
		return SP_EXIT_USAGE;
	}
	for (unsigned i = 0; i < cycles; i++) {
		ret = sp_target_open(&t, be, &o, &d);
		if (ret) {
			step(&ck, false, "bring-up", "cycle %u: %s", i + 1, t.err);
			break;
		}
		ret = one_io(&t, SP_OP_READ, 0, 8192, &status);
		sp_target_close(&t);
		leftovers(scsi, left, sizeof(left));
		if (ret || left[0]) {
			step(&ck, false, "bring-up", "cycle %u: read %s; left behind: %s",
			     i + 1, ret ? strerror(-ret) : "ok", left[0] ? left : "nothing");
			bad_cycle = i + 1;
			break;
		}
		/* the first cycle sets up the C library's own state */
		if (i == 0) {
			fds0 = count_fds();
			rss0 = rss_kib();
		} else if (count_fds() != fds0) {
			step(&ck, false, "bring-up", "cycle %u: %u file descriptors open, "
			     "%u after the first", i + 1, count_fds(), fds0);
			bad_cycle = i + 1;
			break;
		}
	}
	rss1 = rss_kib();
	if (!bad_cycle && !ret)
		step(&ck, rss1 - rss0 < 1024, "bring-up", "%u bring-ups and tear-downs "
		     "(each with a read): no IOVA space, DMA map or descriptor left; "
		     "RSS %+lld KiB after the first", cycles, rss1 - rss0);
	if (ck.failed)
		goto out;

	ret = sp_target_open(&t, be, &o, &d);
	if (ret) {
		step(&ck, false, "open", "%s", t.err);
		goto out;
	}
	{
		uint64_t iova = scsi ? sp_scsi_vfio_unmapped_iova(&t) : sp_vfio_unmapped_iova(&t);
		int kmsg = kmsg_open();
		bool fault, intact;

		/* every byte the device may reach through the IOMMU, marked */
		memset(t.bufs.base, 0xa5, t.bufs.map_len);
		status = 0;
		ret = scsi ? sp_scsi_vfio_read_iova(&t, iova, 0, 4096, &status) :
			     sp_vfio_read_iova(&t, iova, 0, 4096, &status);
		fault = kmsg_fault(kmsg, iova);
		intact = memchk(t.bufs.base, 0xa5, t.bufs.map_len);
		if (kmsg >= 0)
			close(kmsg);
		/*
		 * A controller answers a blocked DMA with an error status, or
		 * (QEMU's emulated one) drops the data and reports success:
		 * either way the IOMMU must have refused it, and nothing of
		 * ours may have changed.
		 */
		step(&ck, intact && ret != 0 ? ret == -EIO : intact && fault, "unmapped-iova",
		     "read into IOVA 0x%llx (never mapped): %s%s; IOMMU fault %s; "
		     "mapped memory %s", (unsigned long long)iova,
		     ret == 0 ? "completed without error status" :
		     ret == -EIO ? "failed as an I/O error, " : strerror(-ret),
		     ret == -EIO ? status_words(scsi, status, st, sizeof(st)) : "",
		     fault ? "logged by the kernel" : kmsg < 0 ? "unknown (no /dev/kmsg)" :
		     "not logged", intact ? "untouched" : "CHANGED");
	}
	ret = one_io(&t, SP_OP_READ, 0, 4096, &status);
	step(&ck, !ret, "after-fault", "a normal read afterwards: %s",
	     ret ? strerror(-ret) : "ok");
	ret = one_io(&t, SP_OP_READ, d.size, 4096, &status);
	/* NVMe: LBA Out of Range; SCSI: ILLEGAL REQUEST, LBA out of range */
	step(&ck, ret == -EIO && (scsi ? (status & 0xffff00) == 0x052100 :
				  (status & 0x7ff) == 0x80), "lba-out-of-range",
	     "read at LBA %llu: %s", (unsigned long long)(d.size / d.lbs),
	     ret == -EIO ? status_words(scsi, status, st, sizeof(st)) :
	     ret ? strerror(-ret) : "succeeded");
	if (scsi) {
		unsigned host = 0;
		int aret = 0;

		/* an abort on the wire: the command comes back, aborted or done,
		 * and the HBA goes on */
		ret = sp_scsi_vfio_abort_one(&t, 0, 8192, &host, &aret);
		if (!ret)
			ret = one_io(&t, SP_OP_READ, 8192, 4096, &status);
		step(&ck, !ret && (host == SP_HBA_ABORTED || host == SP_HBA_OK), "abort",
		     "a read aborted after its doorbell came back %s (abort %s); a read "
		     "afterwards: %s", sp_hba_host_str(host),
		     aret ? strerror(-aret) : "accepted", ret ? strerror(-ret) : "ok");
		check_timeout(&ck, &t);
	}
	ret = scsi ? sp_hba_reset(sp_scsi_vfio_hba(&t)) : sp_vfio_reset(&t);
	if (!ret)
		ret = one_io(&t, SP_OP_READ, 4096, 4096, &status);
	step(&ck, !ret, "reset",
	     scsi ? "HBA reset (READY, INIT again), read: %s" :
	     "controller reset, queue pair recreated, read: %s",
	     ret ? strerror(-ret) : "ok");
	sp_target_close(&t);
out:
	if (opt_json) {
		json_object *root = json_object_new_object();

		json_object_object_add(root, "schema", json_object_new_string("shortpath.sp-vfio-check/1"));
		sp_json_stamp(root);
		json_object_object_add(root, "bdf", json_object_new_string(bdf));
		json_object_object_add(root, "cycles", sp_json_u64(cycles));
		json_object_object_add(root, "steps", ck.steps);
		json_object_object_add(root, "ok", json_object_new_boolean(!ck.failed));
		sp_json_print_and_free(root);
	} else {
		json_object_put(ck.steps);
	}
	return ck.failed ? SP_EXIT_FAIL : SP_EXIT_OK;
}

