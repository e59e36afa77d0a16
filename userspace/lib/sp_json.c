// SPDX-License-Identifier: MIT
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "sp_json.h"
#include "sp_version.h"

const double sp_json_pcts[SP_JSON_NR_PCTS] = { 50, 90, 99, 99.9, 99.99 };
const char *const sp_json_pct_names[SP_JSON_NR_PCTS] = {
	"p50", "p90", "p99", "p99.9", "p99.99",
};

json_object *sp_json_dbl(double v)
{
	char text[64];

	/* Serialised as written here, not with 17 significant digits. */
	snprintf(text, sizeof(text), "%.3f", v);
	return json_object_new_double_s(round(v * 1000.0) / 1000.0, text);
}

json_object *sp_json_u64(uint64_t v)
{
	return json_object_new_uint64(v);
}

void sp_json_fprint_and_free(FILE *f, json_object *root)
{
	fprintf(f, "%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							   JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(f);
	json_object_put(root);
}

void sp_json_print_and_free(json_object *root)
{
	sp_json_fprint_and_free(stdout, root);
}

void sp_json_stamp(json_object *doc)
{
	time_t now = time(NULL);
	struct tm tm;
	char when[32];

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(doc, "version", json_object_new_string(sp_version()));
	json_object_object_add(doc, "time", json_object_new_string(when));
}

json_object *sp_json_doc(const char *schema)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "schema", json_object_new_string(schema));
	sp_json_stamp(o);
	return o;
}

json_object *sp_json_hist_bins(const struct sp_hist *h)
{
	json_object *arr = json_object_new_array();

	for (unsigned i = 0; i < SP_HIST_BUCKETS; i++) {
		json_object *b;

		if (!h->buckets[i])
			continue;
		b = json_object_new_array();
		json_object_array_add(b, sp_json_u64(sp_hist_bucket_low(i)));
		json_object_array_add(b, sp_json_u64(sp_hist_bucket_low(i) + sp_hist_bucket_width(i)));
		json_object_array_add(b, sp_json_u64(h->buckets[i]));
		json_object_array_add(arr, b);
	}
	return arr;
}

json_object *sp_json_hist(const struct sp_hist *h)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "min", sp_json_u64(h->count ? h->min : 0));
	json_object_object_add(o, "mean", sp_json_dbl(sp_hist_mean(h)));
	for (unsigned i = 0; i < SP_JSON_NR_PCTS; i++)
		json_object_object_add(o, sp_json_pct_names[i],
				       sp_json_u64(sp_hist_percentile(h, sp_json_pcts[i])));
	json_object_object_add(o, "max", sp_json_u64(h->max));
	return o;
}

void sp_json_print_line_and_free(json_object *root)
{
	printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(root);
}
