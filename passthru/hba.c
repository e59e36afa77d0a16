// SPDX-License-Identifier: MIT
/*
 * hba: the families, and the locking and routing every family shares
 * (see hba.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hba.h"
#include "sp_time.h"

static const struct sp_hba_ops *const families[] = {
	&sp_hba_mfi,
	&sp_hba_mpi,
	NULL,
};

const struct sp_hba_ops *sp_hba_match(uint16_t vendor, uint16_t device)
{
	for (unsigned i = 0; families[i]; i++)
		for (unsigned j = 0; families[i]->ids[j].vendor; j++)
			if (families[i]->ids[j].vendor == vendor &&
			    families[i]->ids[j].device == device)
				return families[i];
	return NULL;
}

int sp_hba_open(struct sp_hba *h, const char *bdf, char *why, size_t len)
{
	uint16_t vendor = 0, device = 0;
	int ret;

	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	ret = sp_vfio_pci_open(&h->pci, bdf, why, len);
	if (ret)
		goto fail;
	ret = sp_vfio_pci_ids(&h->pci, &vendor, &device);
	if (!ret && !(h->ops = sp_hba_match(vendor, device))) {
		snprintf(why, len, "%s: %04x:%04x is no SCSI HBA a driver here knows",
			 bdf, vendor, device);
		ret = -ENODEV;
	}
	if (ret)
		goto fail;
	ret = h->ops->bring_up(h, why, len);
	if (ret) {
		h->ops->tear_down(h);
		goto fail;
	}
	return 0;
fail:
	sp_vfio_pci_close(&h->pci);
	pthread_mutex_destroy(&h->lock);
	h->ops = NULL;
	return ret;
}

void sp_hba_close(struct sp_hba *h)
{
	if (!h->ops)
		return;
	h->ops->tear_down(h);
	sp_vfio_pci_close(&h->pci);
	pthread_mutex_destroy(&h->lock);
	h->ops = NULL;
}

int sp_hba_queue_init(struct sp_hba_queue *q, unsigned cap)
{
	q->done = calloc(cap ? cap : 1, sizeof(*q->done));
	q->nr = 0;
	q->cap = cap;
	return q->done ? 0 : -ENOMEM;
}

void sp_hba_queue_free(struct sp_hba_queue *q)
{
	free(q->done);
	memset(q, 0, sizeof(*q));
}

int sp_hba_submit(struct sp_hba *h, struct sp_hba_cmd *cmd)
{
	int ret;

	if (cmd->cdb_len == 0 || cmd->cdb_len > SP_HBA_CDB_MAX)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	ret = h->ops->submit(h, cmd);
	pthread_mutex_unlock(&h->lock);
	return ret;
}

/* Drains the HBA's completions into the queues of their commands
 * (h->lock held); a queue is never fuller than its commands in flight. */
static void drain_locked(struct sp_hba *h)
{
	struct sp_hba_cmd *got[32];
	int n;

	while ((n = h->ops->poll(h, got, 32)) > 0)
		for (int i = 0; i < n; i++) {
			struct sp_hba_queue *q = got[i]->q;

			if (q && q->nr < q->cap)
				q->done[q->nr++] = got[i];
		}
}

void sp_hba_drain(struct sp_hba *h)
{
	pthread_mutex_lock(&h->lock);
	drain_locked(h);
	pthread_mutex_unlock(&h->lock);
}

int sp_hba_poll(struct sp_hba *h, struct sp_hba_queue *q, struct sp_hba_cmd **done,
		unsigned max)
{
	unsigned n;

	pthread_mutex_lock(&h->lock);
	drain_locked(h);
	n = q->nr < max ? q->nr : max;
	memcpy(done, q->done, n * sizeof(*done));
	memmove(q->done, q->done + n, (q->nr - n) * sizeof(*done));
	q->nr -= n;
	pthread_mutex_unlock(&h->lock);
	return n;
}

int sp_hba_abort(struct sp_hba *h, struct sp_hba_cmd *cmd)
{
	int ret;

	pthread_mutex_lock(&h->lock);
	ret = cmd->inflight ? h->ops->abort(h, cmd) : -ENOENT;
	if (ret != -ENOENT) {
		h->stats.aborts++;
		h->stats.aborts_answered += !ret;
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

int sp_hba_reset(struct sp_hba *h)
{
	int ret;

	pthread_mutex_lock(&h->lock);
	ret = h->ops->reset(h);
	h->stats.resets++;
	h->stats.resets_failed += ret != 0;
	drain_locked(h);
	pthread_mutex_unlock(&h->lock);
	return ret;
}

void sp_hba_cmd_start(struct sp_hba *h, struct sp_hba_cmd *c, unsigned slot)
{
	c->slot = slot;
	c->inflight = true;
	c->host = SP_HBA_OK;
	c->scsi_status = 0;
	c->sense_len = 0;
	c->resid = 0;
	h->inflight++;
	c->t_submit = sp_dev_now_ns();
}

int sp_hba_submit_held(struct sp_hba *h, struct sp_hba_cmd *cmd)
{
	int ret;

	if (!h->ops->submit_held)
		return -EOPNOTSUPP;
	if (cmd->nr_sg != 1 || cmd->sg[0].len < 512)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	ret = h->ops->submit_held(h, cmd);
	pthread_mutex_unlock(&h->lock);
	return ret;
}

struct sp_hba_stats sp_hba_get_stats(struct sp_hba *h)
{
	struct sp_hba_stats s;

	pthread_mutex_lock(&h->lock);
	s = h->stats;
	pthread_mutex_unlock(&h->lock);
	return s;
}

int sp_hba_list(struct sp_hba *h, struct sp_hba_unit *u, unsigned max)
{
	int ret;

	pthread_mutex_lock(&h->lock);
	ret = h->ops->list(h, u, max);
	pthread_mutex_unlock(&h->lock);
	return ret;
}

const char *sp_hba_host_str(unsigned host)
{
	static const char *const s[] = {
		[SP_HBA_OK] = "ok",
		[SP_HBA_NO_DEVICE] = "no such target or LUN",
		[SP_HBA_ABORTED] = "aborted",
		[SP_HBA_RESET] = "failed by an HBA reset",
		[SP_HBA_TIMEOUT] = "timed out",
		[SP_HBA_BAD_REPLY] = "malformed reply from the HBA",
		[SP_HBA_ERROR] = "HBA error",
	};

	return host < sizeof(s) / sizeof(s[0]) && s[host] ? s[host] : "unknown host status";
}
