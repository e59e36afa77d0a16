#!/usr/bin/env bats
# The layering rule (lib <- passthru <- net <- tools): `make check-layers`
# passes on the tree and names an include that reaches up.
load ../helpers

# A copy of the tracked sources, to plant includes in.
copy_tree() {
	COPY=$BATS_TEST_TMPDIR/tree
	mkdir -p "$COPY"
	(cd "$TOP" && git ls-files -co --exclude-standard -- userspace passthru bpf bench tracing tests |
		cpio -pdm --quiet "$COPY")
}

@test "make check-layers passes on the tree" {
	run make --no-print-directory -C "$TOP" check-layers
	assert_success
	assert_output --regexp 'check-layers: [0-9]+ files, every include within its layer or below'
}

@test "check-layers fails on an engine header including a networking one" {
	copy_tree
	echo '#include "sp_xsk.h"' >>"$COPY/passthru/backend.h"
	run "$COPY/tests/check-layers" --root "$COPY"
	assert_failure 1
	assert_output --partial 'passthru/backend.h:'
	assert_output --partial '#include "sp_xsk.h" (userspace/net/sp_xsk.h, layer net) from layer passthru'
}

@test "check-layers fails on the library including the engine or a BPF header" {
	copy_tree
	echo '#include "backend.h"' >>"$COPY/userspace/lib/sp_log.c"
	echo '#include "iolat.h"' >>"$COPY/userspace/lib/sp_json.c"
	run "$COPY/tests/check-layers" --root "$COPY"
	assert_failure 1
	assert_output --partial '#include "backend.h" (passthru/backend.h, layer passthru) from layer lib'
	assert_output --partial '#include "iolat.h" (bpf/iolat.h, layer bpf) from layer lib'
	assert_output --partial '2 include(s) reach above their layer'
}

@test "check-layers fails on one tool including another's header" {
	copy_tree
	echo '#include "../serve/serve.h"' >>"$COPY/userspace/fetch/main.c"
	run "$COPY/tests/check-layers" --root "$COPY"
	assert_failure 1
	assert_output --partial 'layer userspace/serve) from layer userspace/fetch'
}

@test "check-layers: a header found in no layer is reported, a bad option is usage" {
	copy_tree
	echo '#include "nowhere.h"' >>"$COPY/passthru/psync.c"
	run "$COPY/tests/check-layers" --root "$COPY"
	assert_failure 1
	assert_output --partial 'passthru/psync.c:'
	assert_output --partial '"nowhere.h" is in no layer'
	run "$TOP/tests/check-layers" --bogus
	assert_failure 2
}
