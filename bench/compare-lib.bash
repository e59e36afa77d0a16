# shellcheck shell=bash
# What the interleaved comparisons (bench/ab-compare, bench/fabric-compare)
# share: the summary of their repetitions (median [min-max] of every
# metric per path, and the ratio of each median to the first path's) and
# the jq definitions their tables are printed with. Sourced; needs jq.

# jq definitions for the summary and the tables:
#   med      the median of an array, nulls left out (null when none is left)
#   n(v)     a figure in a few characters: 1.234, 56, 7.8k, 910k; "-" for none
#   us(v)    nanoseconds to microseconds (null stays null)
#   scale    a summary cell ({median, min, max}) in microseconds
#   fmt      a row of cells: the first 16 wide, left-aligned; the others
#            12 wide, right-aligned
#   ratio_cell  a summary cell's ratio as "x1.23", "-" for none
CMP_JQ='
def med: map(select(. != null)) | sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def n(v): if v == null then "-" elif v >= 100000 then "\(v / 1000 | round)k"
	elif v >= 1000 then "\(v / 100 | round / 10)k" elif v >= 10 then "\(v | round)"
	else "\(v * 1000 | round / 1000)" end;
def us(v): if v == null then null else v / 1000 end;
def scale: .median |= us(.) | .min |= us(.) | .max |= us(.);
def fmt: map(tostring) | "\(.[0] | . + " " * (16 - length))" +
	(.[1:] | map(" " * (12 - length) + .) | join(""));
def ratio_cell: if .ratio == null then "-" else "x\(.ratio * 100 | round / 100)" end;
'

# cmp_json_list WORD...: the words as a JSON array of strings (in bash:
# jq takes 0.2 s to start under emulation; words here are names)
cmp_json_list() {
	local w out=
	for w in "$@"; do
		w=${w//\\/\\\\}
		w=${w//\"/\\\"}
		out+=${out:+,}\"$w\"
	done
	printf '[%s]\n' "$out"
}

# cmp_summarize METRIC...: reads a document whose .paths[] each hold
# .runs[] (objects with the metrics, and .cdf: [value, percentile] pairs
# in the same order in every run); writes it back with, per path,
# .summary.METRIC = {median, min, max, ratio} over its runs (ratio: this
# median / the first path's; null when either is missing or the first
# is 0) and .cdf: the median value at each percentile.
cmp_summarize() {
	jq --argjson metrics "$(cmp_json_list "$@")" "$CMP_JQ"'
	.paths |= (map(. as $p | .summary = ($metrics | map(. as $m |
		{ key: $m, value: { median: ([$p.runs[][$m]] | med),
				    min: ([$p.runs[][$m]] | min),
				    max: ([$p.runs[][$m]] | max) } }) | from_entries)
		| .cdf = ([.runs[].cdf] | transpose | map([(map(.[0]) | med), .[0][1]])))
		| .[0].summary as $first
		| map(.summary |= with_entries(.value.ratio =
			(if ($first[.key].median // 0) == 0 or .value.median == null then null
			 else .value.median / $first[.key].median end))))'
}
