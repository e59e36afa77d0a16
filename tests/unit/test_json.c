// SPDX-License-Identifier: MIT
/* JSON helpers: a tool's document header and histogram bins. */
#include <string.h>

#include "sp_json.h"
#include "sp_version.h"
#include "tap.h"

int main(void)
{
	json_object *doc = sp_json_doc("shortpath.test/1"), *v, *bins;
	struct sp_hist h;
	uint64_t total = 0;
	bool ordered = true;

	TAP_CHECK(json_object_object_get_ex(doc, "schema", &v) &&
		  !strcmp(json_object_get_string(v), "shortpath.test/1"), "schema");
	TAP_CHECK(json_object_object_get_ex(doc, "version", &v) &&
		  !strcmp(json_object_get_string(v), sp_version()), "version: %s", sp_version());
	TAP_CHECK(json_object_object_get_ex(doc, "time", &v) &&
		  strlen(json_object_get_string(v)) == 20 &&
		  json_object_get_string(v)[10] == 'T', "time in ISO 8601 UTC: %s",
		  json_object_get_string(v));
	json_object_put(doc);

	sp_hist_init(&h);
	for (uint64_t x = 1; x < 1000000; x = x * 3 + 1)
		sp_hist_add(&h, x);
	sp_hist_add(&h, 7);
	bins = sp_json_hist_bins(&h);
	for (size_t i = 0; i < json_object_array_length(bins); i++) {
		json_object *b = json_object_array_get_idx(bins, i);
		uint64_t lo = json_object_get_uint64(json_object_array_get_idx(b, 0));
		uint64_t hi = json_object_get_uint64(json_object_array_get_idx(b, 1));

		total += json_object_get_uint64(json_object_array_get_idx(b, 2));
		if (hi <= lo || (i && lo < json_object_get_uint64(json_object_array_get_idx(
				json_object_array_get_idx(bins, i - 1), 1))))
			ordered = false;
	}
	TAP_CHECK(total == h.count, "bins hold every value (%llu of %llu)",
		  (unsigned long long)total, (unsigned long long)h.count);
	TAP_CHECK(ordered, "bins ascend and do not overlap");
	json_object_put(bins);
	return tap_done();
}
