# shortpath — top-level build.
#
#   make            build every tool into build/
#   make deps       install what is missing from Debian's packages
#   make demo       deps + build + run the demo on an embedded target
#   make test       deps + build + host suites + guest suites
#   make V=1        show the full commands
#   make install    tools, man pages, bash completion and docs under
#                   $(DESTDIR)$(PREFIX) (default /usr/local); make uninstall
#
# Everything goes to build/; the source tree is never written to.

.DELETE_ON_ERROR:
# Objects and skeletons are kept: they are not throw-away intermediates.
.SECONDARY:
.SUFFIXES:
.DEFAULT_GOAL := all

BUILD    := build
BIN      := $(BUILD)/bin
OBJ      := $(BUILD)/obj
BPFOUT   := $(BUILD)/bpf

CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool
PKGS     := libbpf libxdp liburing json-c blkid libelf zlib libisal

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# pkg-config is queried lazily so that `make deps` works before the
# packages it installs are there.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation \
	    -D_GNU_SOURCE -pthread
CPPFLAGS += -Iuserspace/lib -Ipassthru -Iuserspace/net -Ibpf -I$(BPFOUT) $(PKG_CFLAGS)
# libsgutils2 (sg3-utils) ships no pkg-config file
LDLIBS   += $(PKG_LIBS) -lsgutils2 -lpthread -lm

ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -I$(BPFOUT) -Ibpf

# ---------------------------------------------------------------- sources
# Three layers, each an archive of its own, linked top down:
#   userspace/lib   support library; includes nothing else of ours
#   passthru        the I/O engine; includes only userspace/lib
#   userspace/net   serving protocols and AF_XDP; lib and passthru
# Tools sit on top, one directory (or file) each. `make check-layers`
# fails on an include that reaches up.
LIB_SRCS    := $(wildcard userspace/lib/*.c)
ENGINE_SRCS := $(wildcard passthru/*.c)
NET_SRCS    := $(wildcard userspace/net/*.c)
LIB_A       := $(BUILD)/lib/libsp.a
ENGINE_A    := $(BUILD)/lib/libsp-passthru.a
NET_A       := $(BUILD)/lib/libsp-net.a
ARCHIVES    := $(NET_A) $(ENGINE_A) $(LIB_A)

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BPFOUT)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(BPFOUT)/%.skel.h,$(BPF_SRCS))

# Installed tools are sp-* or keep the name their users know (uring_bench,
# iolat); bench-* are helpers that only the bench/ scripts run.
# tool name := its sources
TOOLS     := uring_bench iolat sp-features sp-cost sp-fabriclat sp-id sp-io sp-vfio sp-serve sp-fetch sp-guard \
	     bench-pt-cost bench-tp-floor bench-pathlen-irq
uring_bench_SRCS    := bench/uring_bench.c
iolat_SRCS          := tracing/iolat.c
sp-features_SRCS    := tracing/featprobe.c
sp-cost_SRCS        := tracing/cost.c
sp-fabriclat_SRCS   := tracing/fabriclat.c tracing/fabriclat_join.c
sp-id_SRCS          := userspace/dev/sp-id.c
sp-io_SRCS          := userspace/dev/sp-io.c
sp-vfio_SRCS        := userspace/dev/sp-vfio.c userspace/dev/vfio_check.c
sp-serve_SRCS       := $(wildcard userspace/serve/*.c)
sp-fetch_SRCS       := $(wildcard userspace/fetch/*.c)
sp-guard_SRCS       := $(wildcard userspace/guard/*.c)
bench-pt-cost_SRCS  := bench/pt_cost.c
bench-tp-floor_SRCS := bench/tp_floor.c
bench-pathlen-irq_SRCS := bench/pathlen_irq.c
TOOL_BINS := $(addprefix $(BIN)/,$(TOOLS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

# libFuzzer targets: clang, sanitizers, built straight from the sources
FUZZ_BINS := $(BUILD)/fuzz/fuzz_proto $(BUILD)/fuzz/fuzz_spec $(BUILD)/fuzz/fuzz_policy \
	     $(BUILD)/fuzz/fuzz_fabriclat $(BUILD)/fuzz/fuzz_hba_mfi $(BUILD)/fuzz/fuzz_hba_mpi
fuzz_proto_SRCS := tests/fuzz/fuzz_proto.c userspace/net/sp_proto.c userspace/lib/sp_siphash.c
fuzz_policy_SRCS := tests/fuzz/fuzz_policy.c userspace/guard/policy.c passthru/nvme_spec.c \
		   userspace/lib/sp_opts.c userspace/lib/sp_log.c userspace/lib/sp_version.c
fuzz_fabriclat_SRCS := tests/fuzz/fuzz_fabriclat.c tracing/fabriclat_join.c \
		   userspace/lib/sp_stats.c userspace/lib/sp_opts.c userspace/lib/sp_log.c \
		   userspace/lib/sp_version.c
# the HBA drivers against a fake device (tests/fuzz/fake_dev.c stands in
# for vfio_pci.c); the same sources make tests/unit/test_hba_fake.c
HBA_FAKE_SRCS   := tests/fuzz/fake_dev.c tests/fuzz/fake_mfi.c tests/fuzz/fake_mpi.c \
		   passthru/hba.c passthru/hba_mfi.c passthru/hba_mpi.c
# one target source, a binary per family
fuzz_hba_mfi_SRCS := tests/fuzz/fuzz_hba.c $(HBA_FAKE_SRCS)
fuzz_hba_mpi_SRCS := tests/fuzz/fuzz_hba.c $(HBA_FAKE_SRCS)
$(BUILD)/fuzz/fuzz_hba_%: FUZZ_DEFS = -DSP_VFIO_FAKE -Itests/fuzz -DFAKE_MODEL=$(patsubst fuzz_hba_%,fake_%,$(@F))
fuzz_spec_SRCS  := tests/fuzz/fuzz_spec.c passthru/nvme_spec.c passthru/scsi_spec.c \
		   userspace/lib/sp_opts.c userspace/lib/sp_log.c userspace/lib/sp_version.c

.PHONY: all deps demo test test-host clean check-layers install uninstall FORCE
all: $(TOOL_BINS) $(UNIT_BINS) $(FUZZ_BINS)

# ---------------------------------------------------------------- BPF
$(BPFOUT)/vmlinux.h: | $(BPFOUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BPFOUT)/%.bpf.o: bpf/%.bpf.c $(BPFOUT)/vmlinux.h $(wildcard bpf/*.h) | $(BPFOUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# iolat claims its request slots with compare-and-swap (BPF atomics, v3)
$(BPFOUT)/iolat.bpf.o: BPF_CFLAGS += -mcpu=v3

$(BPFOUT)/%.skel.h: $(BPFOUT)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# ---------------------------------------------------------------- C
# A userspace file that includes a skeleton depends on it.
$(OBJ)/tracing/featprobe.o: $(BPFOUT)/featprobe.skel.h
$(OBJ)/tracing/iolat.o: $(BPFOUT)/iolat.skel.h
$(OBJ)/tracing/fabriclat.o: $(BPFOUT)/fabriclat.skel.h
# the one loader of xsk_redirect, shared by sp-serve and sp-fetch
$(OBJ)/userspace/net/sp_xsk.o: $(BPFOUT)/xsk_redirect.skel.h
$(OBJ)/userspace/guard/guard.o: $(BPFOUT)/guard.skel.h
$(OBJ)/bench/tp_floor.o: $(BPFOUT)/tp_floor.skel.h
$(OBJ)/bench/pathlen_irq.o: $(BPFOUT)/pathlen.skel.h

$(OBJ)/%.o: %.c | $(SKELS)
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

objs_of = $(patsubst %.c,$(OBJ)/%.o,$(1))

# The version every tool reports: git describe of this tree, or the
# VERSION file a release tarball carries. Only sp_version.o is rebuilt
# when it changes (a stamp file holds the last one).
SP_VERSION := $(shell git -C $(CURDIR) describe --always --dirty --tags 2>/dev/null || \
		cat VERSION 2>/dev/null || echo unknown)
$(OBJ)/userspace/lib/sp_version.o: CPPFLAGS += -DSP_VERSION='"$(SP_VERSION)"'
$(OBJ)/userspace/lib/sp_version.o: $(BUILD)/version.stamp
$(BUILD)/version.stamp: FORCE
	@mkdir -p $(@D)
	@[ "$$(cat $@ 2>/dev/null)" = "$(SP_VERSION)" ] || echo "$(SP_VERSION)" >$@
FORCE:

$(LIB_A): $(call objs_of,$(LIB_SRCS))
$(ENGINE_A): $(call objs_of,$(ENGINE_SRCS))
$(NET_A): $(call objs_of,$(NET_SRCS))
$(ARCHIVES):
	@mkdir -p $(@D)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

.SECONDEXPANSION:
$(BIN)/%: $$(call objs_of,$$($$*_SRCS)) $(ARCHIVES) | $(BIN)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# the guard's policy parser lives with its tool, and its test links it
$(BUILD)/tests/test_guard_policy: $(OBJ)/tests/unit/test_guard_policy.o \
		$(OBJ)/userspace/guard/policy.o $(ARCHIVES)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# so does sp-fabriclat's record join
$(BUILD)/tests/test_fabriclat: $(OBJ)/tests/unit/test_fabriclat.o \
		$(OBJ)/tracing/fabriclat_join.o $(ARCHIVES)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# the HBA drivers built again against the fake device, not vfio_pci.c
$(BUILD)/tests/test_hba_fake: tests/unit/test_hba_fake.c $(HBA_FAKE_SRCS) \
		$(wildcard passthru/*.h tests/fuzz/*.h tests/unit/*.h) $(LIB_A)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -DSP_VFIO_FAKE -Itests/fuzz $(LDFLAGS) \
		$(filter %.c,$^) $(LIB_A) $(LDLIBS) -o $@

$(BUILD)/tests/%: $(OBJ)/tests/unit/%.o $(ARCHIVES)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/fuzz/%: $$(%_SRCS) $$(wildcard userspace/lib/*.h passthru/*.h userspace/net/*.h userspace/guard/*.h tests/fuzz/*.h)
	@mkdir -p $(@D)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) -g -O1 -Wall -Werror -D_GNU_SOURCE $(FUZZ_DEFS) -Iuserspace/lib -Ipassthru -Iuserspace/net -Ibpf $(PKG_CFLAGS) \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		$(filter %.c,$^) -lsgutils2 -o $@

$(BUILD) $(BIN) $(BPFOUT):
	$(Q)mkdir -p $@

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- set-up
deps:
	$(Q)tests/deps.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/demo.sh

# Host suites first, then the guest suites (tests/vm).
test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/run

-include tests/vm/vm.mk

# No file includes a header from a layer above its own (see tests/check-layers).
check-layers:
	$(Q)tests/check-layers

# ---------------------------------------------------------------- install
# Section 8 (sbin) for the tools that only root can use (BPF, VFIO, the
# LSM guard); section 1 (bin) for the others. bench-* helpers and the
# bench/ scripts are for a checkout and are not installed. The eBPF
# programs are embedded in the binaries (skeletons): nothing else to ship.
PREFIX     ?= /usr/local
SBIN_TOOLS := iolat sp-features sp-fabriclat sp-guard sp-vfio
BIN_TOOLS  := uring_bench sp-cost sp-id sp-io sp-serve sp-fetch
INST_TOOLS := $(BIN_TOOLS) $(SBIN_TOOLS)
# every tool's man page sits beside its code: NAME.1 or NAME.8
MAN_PAGES  := $(foreach t,$(INST_TOOLS),$(wildcard */$(t).[18] userspace/*/$(t).[18]))
DOC_FILES  := README.md LICENSE $(wildcard bench/README.md tracing/README.md passthru/README.md \
	      userspace/*/README.md tests/vm/README.md)
COMPLETION := $(BUILD)/share/bash-completion/shortpath

$(COMPLETION): $(addprefix $(BIN)/,$(INST_TOOLS)) userspace/gen-completion
	@mkdir -p $(@D)
	$(call msg,GEN,$@)
	$(Q)userspace/gen-completion $(BIN) $(INST_TOOLS) >$@

install: all $(COMPLETION)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/doc/shortpath
	install -m 755 $(addprefix $(BIN)/,$(BIN_TOOLS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(addprefix $(BIN)/,$(SBIN_TOOLS)) $(DESTDIR)$(PREFIX)/sbin/
	$(foreach m,$(MAN_PAGES),install -m 644 $(m) $(DESTDIR)$(PREFIX)/share/man/man$(subst .,,$(suffix $(m)))/;)
	install -m 644 $(COMPLETION) $(DESTDIR)$(PREFIX)/share/bash-completion/completions/shortpath
	$(foreach t,$(INST_TOOLS),ln -sf shortpath $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$(t);)
	$(foreach d,$(DOC_FILES),install -D -m 644 $(d) $(DESTDIR)$(PREFIX)/share/doc/shortpath/$(d);)

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(BIN_TOOLS)) \
	      $(addprefix $(DESTDIR)$(PREFIX)/sbin/,$(SBIN_TOOLS)) \
	      $(foreach m,$(MAN_PAGES),$(DESTDIR)$(PREFIX)/share/man/man$(subst .,,$(suffix $(m)))/$(notdir $(m))) \
	      $(DESTDIR)$(PREFIX)/share/bash-completion/completions/shortpath \
	      $(addprefix $(DESTDIR)$(PREFIX)/share/bash-completion/completions/,$(INST_TOOLS))
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/shortpath

clean:
	rm -rf $(BUILD)

test-host: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/run --host
