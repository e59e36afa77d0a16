/* SPDX-License-Identifier: MIT */
/* JSON output through json-c, the same way in every tool. */
#ifndef SP_JSON_H
#define SP_JSON_H

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>

#include "sp_hist.h"

/*
 * A tool's top-level document: {"schema": SCHEMA, "version": the build's
 * version, "time": now in UTC, ISO 8601}.
 */
json_object *sp_json_doc(const char *schema);
/* Adds "version" and "time" (as sp_json_doc has them) to a document. */
void sp_json_stamp(json_object *doc);
/* The non-empty buckets of a histogram: [[low, high, count], ...] (high
 * exclusive), so a reader can draw it or compute its own percentiles. */
json_object *sp_json_hist_bins(const struct sp_hist *h);

/* A double rounded to three decimals: stable, readable output. */
json_object *sp_json_dbl(double v);
json_object *sp_json_u64(uint64_t v);
/* Prints the document pretty on stdout (or f) and frees it. */
void sp_json_print_and_free(json_object *root);
void sp_json_fprint_and_free(FILE *f, json_object *root);
/* One document per line (JSON Lines), for tools that stream events. */
void sp_json_print_line_and_free(json_object *root);

/* The percentiles every tool reports, and their JSON names. */
#define SP_JSON_NR_PCTS 5
extern const double sp_json_pcts[SP_JSON_NR_PCTS];
extern const char *const sp_json_pct_names[SP_JSON_NR_PCTS];
/* {min, mean, p50, p90, p99, p99.9, p99.99, max} of a histogram. */
json_object *sp_json_hist(const struct sp_hist *h);

#endif
