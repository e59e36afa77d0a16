# shortpath — top-level build.
#
#   make            build every tool into build/
#   make deps       install what is missing from Debian's packages
#   make demo       deps + build + run the demo on an embedded target
#   make test       deps + build + host suites + guest suites
#   make V=1        show the full commands
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
PKGS     := libbpf libxdp liburing json-c blkid libelf zlib

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
CPPFLAGS += -Iuserspace -Ipassthru -Ibpf -I$(BPFOUT) $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lpthread -lm

ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -I$(BPFOUT) -Ibpf

# ---------------------------------------------------------------- sources
LIB_SRCS  := $(wildcard userspace/sp_*.c) $(wildcard passthru/*.c)
LIB_OBJS  := $(patsubst %.c,$(OBJ)/%.o,$(LIB_SRCS))
LIB       := $(BUILD)/libshortpath.a

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BPFOUT)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(BPFOUT)/%.skel.h,$(BPF_SRCS))

# tool name := main source
TOOLS     := uring_bench sp-features sp-id sp-io sp-cost iolat sp-serve sp-fetch sp-guard pt_cost sp-vfio \
	     tp_floor
uring_bench_SRC := bench/uring_bench.c
sp-features_SRC := tracing/featprobe.c
sp-id_SRC := userspace/sp-id.c
sp-io_SRC := userspace/sp-io.c
sp-cost_SRC := userspace/sp-cost.c
iolat_SRC := tracing/iolat.c
sp-serve_SRC := userspace/sp-serve.c
sp-fetch_SRC := userspace/sp-fetch.c
sp-guard_SRC := userspace/sp-guard.c
pt_cost_SRC := bench/pt_cost.c
tp_floor_SRC := bench/tp_floor.c
sp-vfio_SRC := userspace/sp-vfio.c
TOOL_BINS := $(addprefix $(BIN)/,$(TOOLS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

# libFuzzer targets: clang, sanitizers, built straight from the sources
FUZZ_BINS := $(BUILD)/fuzz/fuzz_proto
fuzz_proto_SRCS := tests/fuzz/fuzz_proto.c userspace/sp_proto.c

.PHONY: all deps demo test test-host clean
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
# sp-serve's AF_XDP loop is its own file, linked in beside the main one.
$(BIN)/sp-serve: $(OBJ)/userspace/serve_xdp.o
$(BIN)/sp-serve: LDLIBS = $(LIB) $(PKG_LIBS) -lpthread -lm
# the one loader of xsk_redirect, shared by sp-serve and sp-fetch
$(OBJ)/userspace/sp_xsk.o: $(BPFOUT)/xsk_redirect.skel.h
$(OBJ)/userspace/sp-guard.o: $(BPFOUT)/guard.skel.h
$(OBJ)/bench/tp_floor.o: $(BPFOUT)/tp_floor.skel.h

$(OBJ)/%.o: %.c | $(SKELS)
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

.SECONDEXPANSION:
$(BIN)/%: $(OBJ)/$$(basename $$(%_SRC)).o $(LIB) | $(BIN)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(OBJ)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/fuzz/%: $$(%_SRCS) userspace/sp_proto.h
	@mkdir -p $(@D)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) -g -O1 -Wall -Werror -D_GNU_SOURCE -Iuserspace \
		-fsanitize=fuzzer,address,undefined $(filter %.c,$^) -o $@

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

clean:
	rm -rf $(BUILD)

test-host: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/run --host
