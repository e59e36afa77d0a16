// SPDX-License-Identifier: MIT
#include <math.h>
#include <stdio.h>

#include "sp_json.h"

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

void sp_json_print_line_and_free(json_object *root)
{
	printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(root);
}
