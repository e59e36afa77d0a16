// SPDX-License-Identifier: MIT
/* Prometheus exposition of a histogram, and the endpoint's address rules. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_metrics.h"
#include "tap.h"

int main(void)
{
	struct sp_metrics m;
	struct sp_hist h;
	char *text = NULL, why[128], *line, *save;
	size_t len = 0;
	unsigned long long last = 0, v, inf = 0, n_le = 0;
	bool monotone = true;
	FILE *f;

	sp_hist_init(&h);
	for (uint64_t ns = 500; ns < 20000000000ULL; ns = ns * 3 / 2)
		sp_hist_add(&h, ns);
	sp_hist_add(&h, 999);		/* just under 1 us: counted at le="1e-06" */
	f = open_memstream(&text, &len);
	sp_metrics_hist(f, "x_seconds", "path=\"read\"", &h);
	fclose(f);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "x_seconds_bucket{path=\"read\",le=\"+Inf\"} %llu", &v) == 1)
			inf = v;
		else if (strstr(line, "_bucket{") && sscanf(strrchr(line, ' '), "%llu", &v) == 1) {
			if (v < last)
				monotone = false;
			if (!n_le++)
				TAP_CHECK(v == 3, "le=1us holds the values up to 1 us (%llu)", v);
			last = v;
		}
	}
	TAP_CHECK(n_le == 22, "22 finite bounds, 1 us to 10 s (%llu)", n_le);
	TAP_CHECK(monotone, "cumulative counts never decrease");
	TAP_CHECK(inf == h.count && last < inf, "+Inf is the count (%llu of %llu), 10 s is not",
		  inf, (unsigned long long)h.count);
	free(text);

	TAP_CHECK(sp_metrics_listen(&m, "127.0.0.1", why, sizeof(why)) == -EINVAL,
		  "no port: %s", why);
	TAP_CHECK(sp_metrics_listen(&m, "127.0.0.1:99999", why, sizeof(why)) == -EINVAL,
		  "port out of range: %s", why);
	TAP_CHECK(sp_metrics_listen(&m, "127.0.0.1:0", why, sizeof(why)) == -EINVAL,
		  "port 0: %s", why);
	TAP_CHECK(sp_metrics_listen(&m, "[::1]:0x50", why, sizeof(why)) == -EINVAL,
		  "a port that is no number: %s", why);
	return tap_done();
}
