/* SPDX-License-Identifier: MIT */
/*
 * A Prometheus / OpenMetrics scrape endpoint for a tool's continuous
 * mode: GET /metrics answered from the tool's own loop, one connection at
 * a time, never blocking it for long (a client that sends nothing within
 * 200 ms is dropped).
 */
#ifndef SP_METRICS_H
#define SP_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "sp_hist.h"

struct sp_metrics {
	int fd;			/* listening socket, -1 when closed */
	uint64_t scrapes;	/* answered with 200 */
	uint64_t refused;	/* anything else: 404, 405, malformed, too slow */
};

/*
 * Listens on "HOST:PORT", "[V6]:PORT" or ":PORT" (every address). 0, or
 * -errno with why naming the address.
 */
int sp_metrics_listen(struct sp_metrics *m, const char *hostport, char *why, size_t n);
/* Answers every scrape waiting now; fill writes the exposition to f. */
void sp_metrics_serve(struct sp_metrics *m, void (*fill)(FILE *f, void *arg), void *arg);
void sp_metrics_close(struct sp_metrics *m);

/*
 * A Prometheus histogram of h (values in ns) in seconds: NAME_bucket with
 * cumulative counts at fixed bounds from 1 us to 10 s and +Inf, NAME_sum
 * and NAME_count, each with labels (`path="read"`, or "" for none). A
 * value is counted below a bound when its whole HdrHistogram bucket is,
 * so a count is exact to within one bucket (1/64 of the bound).
 */
void sp_metrics_hist(FILE *f, const char *name, const char *labels, const struct sp_hist *h);

#endif
