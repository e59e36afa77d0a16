#!/usr/bin/env bats
# The man pages: every installed tool has one beside its code, it
# formats without a warning, its OPTIONS section lists exactly the long
# options of the tool's --help (so the two cannot drift apart silently),
# its NAME line and section are right, and make install puts it in
# share/man/manN.
load ../helpers

# page => tool; the suffix is the section (1: any user, 8: root tools)
PAGES=(
	bench/uring_bench.1
	tracing/sp-cost.1
	userspace/dev/sp-id.1
	userspace/dev/sp-io.1
	userspace/serve/sp-serve.1
	userspace/fetch/sp-fetch.1
	tracing/iolat.8
	tracing/sp-fabriclat.8
	tracing/sp-features.8
	userspace/dev/sp-vfio.8
	userspace/guard/sp-guard.8
)

# The pages list --version for these four ahead of the tools: main is
# giving them --version. Until a tool's --help shows it, that one option
# (and only that one) may be in the page and not in --help; once --help
# has it, no difference at all is allowed.
VERSION_AHEAD=" "

tool_of() {
	local base=${1##*/}
	echo "${base%.*}"
}

# A missing formatter fails the suite instead of skipping it: a check
# that cannot run has not passed.
setup() {
	local t
	for t in man lexgrog; do
		command -v "$t" >/dev/null || fail "$t is not installed (package man-db; run make deps)"
	done
	command -v groff >/dev/null || fail "groff is not installed (package groff-base; run make deps)"
}

# Long options named in TEXT on stdin, one a line, sorted. "TOOL --opt"
# where TOOL is another program (sp-serve --writable in sp-fetch's text,
# uring_bench --mode in sp-vfio's) names that program's option, not
# this one's, and is left out. $1: the tool whose text it is.
long_opts() {
	SELF=$1 perl -ne '
		s/(?<![\w-])(uring_bench|iolat|sp-[a-z]+|fio)( +--[\w-]+)/$1 eq $ENV{SELF} ? "$1$2" : $1/ge;
		print "$1\n" while /(?<![\w-])(--[A-Za-z0-9][\w-]*)/g' | sort -u
}

# The tool's options: its --help up to its examples (an example may
# show another program's options, as sp-cost's does fio's).
help_opts() {
	"$BIN/$1" --help | sed '/^Examples\{0,1\}:/,$d' | long_opts "$1"
}

# The page's options: its OPTIONS section, roff escapes removed.
page_opts() {
	sed -n '/^\.SH OPTIONS/,/^\.SH /p' "$TOP/$1" | sed '/^\.SH /d; /^\.\\"/d' |
		sed -E 's/\\-/-/g; s/\\f[BIRP]//g; s/\\&//g; s/\\%//g' | long_opts "$2"
}

@test "every man page formats without a warning" {
	local p errs=""
	for p in "${PAGES[@]}"; do
		[ -f "$TOP/$p" ] || { errs+="$p: missing"$'\n'; continue; }
		run --separate-stderr env MANWIDTH=80 man --warnings -l "$TOP/$p"
		[ "$status" -eq 0 ] || errs+="$p: man exited $status"$'\n'
		[ -z "$stderr" ] || errs+="$p: $stderr"$'\n'
		[ -n "$output" ] || errs+="$p: formats to nothing"$'\n'
	done
	[ -z "$errs" ] || fail "$errs"
}

@test "every man page's OPTIONS are the long options of the tool's --help" {
	local p t errs="" help page extra missing
	for p in "${PAGES[@]}"; do
		t=$(tool_of "$p")
		[ -x "$BIN/$t" ] || { errs+="$t: not built ($BIN/$t)"$'\n'; continue; }
		help=$(help_opts "$t")
		[ -n "$help" ] || { errs+="$t: no long option in --help"$'\n'; continue; }
		page=$(page_opts "$p" "$t")
		# listed ahead of the tool: see VERSION_AHEAD
		if [[ $VERSION_AHEAD == *" $t "* ]] && ! grep -qx -- --version <<<"$help"; then
			help=$(printf '%s\n--version\n' "$help" | sort -u)
		fi
		extra=$(comm -13 <(echo "$help") <(echo "$page") | paste -sd' ')
		missing=$(comm -23 <(echo "$help") <(echo "$page") | paste -sd' ')
		[ -z "$missing" ] || errs+="$p: in $t --help, not in the page: $missing"$'\n'
		[ -z "$extra" ] || errs+="$p: in the page, not in $t --help: $extra"$'\n'
	done
	[ -z "$errs" ] || fail "$errs"
}

@test "every man page names its tool and has the section of its file name" {
	local p t sec errs="" th title thsec name
	for p in "${PAGES[@]}"; do
		t=$(tool_of "$p")
		sec=${p##*.}
		th=$(grep -m1 '^\.TH ' "$TOP/$p" | sed 's/\\-/-/g')
		read -r _ title thsec _ <<<"$th"
		[ "$title" = "${t^^}" ] || errs+="$p: .TH title '$title', expected '${t^^}'"$'\n'
		[ "$thsec" = "$sec" ] || errs+="$p: .TH section '$thsec', file suffix $sec"$'\n'
		# the NAME line as whatis(1) and apropos(1) read it
		name=$(lexgrog "$TOP/$p" 2>&1)
		[[ $name == *": \"$t - "?* ]] || errs+="$p: NAME line: $name"$'\n'
	done
	[ -z "$errs" ] || fail "$errs"
}

@test "the section of each page is where make install puts its tool: 1 bin, 8 sbin" {
	local p t sec errs=""
	for p in "${PAGES[@]}"; do
		t=$(tool_of "$p")
		sec=${p##*.}
		case $sec in
		1) grep -Eq "^BIN_TOOLS *:=.*[[:space:]]$t([[:space:]]|$)" "$TOP/Makefile" ||
			errs+="$t: section 1 page, but not in BIN_TOOLS"$'\n' ;;
		8) grep -Eq "^SBIN_TOOLS *:=.*[[:space:]]$t([[:space:]]|$)" "$TOP/Makefile" ||
			errs+="$t: section 8 page, but not in SBIN_TOOLS"$'\n' ;;
		esac
	done
	[ -z "$errs" ] || fail "$errs"
}

@test "make install puts the eleven pages in share/man/man1 and man8; uninstall removes them" {
	local DEST=$BATS_TEST_TMPDIR/root p t sec want got
	run make --no-print-directory -C "$TOP" install DESTDIR="$DEST" PREFIX=/usr
	assert_success
	for p in "${PAGES[@]}"; do
		t=$(tool_of "$p")
		sec=${p##*.}
		cmp "$TOP/$p" "$DEST/usr/share/man/man$sec/$t.$sec" ||
			fail "$p not installed as share/man/man$sec/$t.$sec"
		# the installed page is the one man finds for the tool
		run --separate-stderr env MANPATH="$DEST/usr/share/man" MANWIDTH=80 man "$sec" "$t"
		assert_success
		[[ $output == *"$t"* ]] || fail "man $sec $t under DESTDIR shows: ${output:0:200}"
	done
	want=$(for p in "${PAGES[@]}"; do echo "man${p##*.}/${p##*/}"; done | sort)
	got=$(cd "$DEST/usr/share/man" && find . -type f | sed 's|^\./||' | sort)
	[ "$want" = "$got" ] || fail "installed pages differ: $(diff <(echo "$want") <(echo "$got"))"
	run make --no-print-directory -C "$TOP" uninstall DESTDIR="$DEST" PREFIX=/usr
	assert_success
	got=$(find "$DEST/usr/share/man" -type f 2>/dev/null)
	[ -z "$got" ] || fail "left after uninstall: $got"
}
