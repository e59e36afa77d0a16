#!/usr/bin/env bats
# make install / uninstall under DESTDIR: the tools, their man pages,
# bash completion and the docs, and nothing left after uninstall.
load ../helpers

setup() {
	DEST=$BATS_TEST_TMPDIR/root
}

@test "make install puts every tool, its completion and the docs under DESTDIR; uninstall removes them" {
	run make --no-print-directory -C "$TOP" install DESTDIR="$DEST" PREFIX=/usr
	assert_success
	for t in uring_bench sp-cost sp-id sp-io sp-serve sp-fetch; do
		[ -x "$DEST/usr/bin/$t" ] || fail "$t not in bin"
	done
	for t in iolat sp-features sp-guard sp-vfio; do
		[ -x "$DEST/usr/sbin/$t" ] || fail "$t not in sbin"
	done
	# an installed tool runs from there and says its version
	run "$DEST/usr/bin/uring_bench" --version
	assert_success
	assert_output --regexp '^uring_bench \(shortpath\) [0-9a-f]'
	[ -f "$DEST/usr/share/doc/shortpath/LICENSE" ]
	[ -f "$DEST/usr/share/doc/shortpath/README.md" ]
	# completion: generated from --help, so it offers what the tool takes
	bash -n "$DEST/usr/share/bash-completion/completions/shortpath"
	run bash -c "source '$DEST/usr/share/bash-completion/completions/uring_bench'
		COMP_WORDS=(uring_bench --fixed); COMP_CWORD=1; _sp_uring_bench; echo \"\${COMPREPLY[*]}\""
	assert_output "--fixedbufs"
	bench_leak=$(find "$DEST" -name 'bench-*')
	[ -z "$bench_leak" ] || fail "bench helpers were installed: $bench_leak"
	run make --no-print-directory -C "$TOP" uninstall DESTDIR="$DEST" PREFIX=/usr
	assert_success
	left=$(find "$DEST" -type f -o -type l)
	[ -z "$left" ] || fail "left after uninstall: $left"
}
