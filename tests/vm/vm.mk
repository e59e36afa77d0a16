# The QEMU testbed (tests/vm). Included by the top-level Makefile, which
# provides BUILD, BIN and the phony target `all`.
#
#   make vm       for every kernel series in tests/vm/kernels (6.1 and
#                 6.12): fetch the Debian kernel and build the initramfs
#                 into $(BUILD)/vm/SERIES (cached: nothing is redone when
#                 no input changed)
#   make vmtest   build everything, then run every tests/vm/*.bats suite
#                 on each kernel, the kernels in parallel (one QEMU each),
#                 TAP on stdout with the series in each test's name
#   make vm-clean remove $(BUILD)/vm
#
# Both preparation steps run a cheap check every time and rebuild only
# on change: fetch-kernel compares the kernel package a series resolves
# to with $(VM_DIR)/SERIES/kernel/.version, and mkinitramfs compares a
# manifest of its inputs (kernel version, tests/vm/*, $(BIN)/*, the host
# tools and every shared library they need) with
# $(VM_DIR)/SERIES/initramfs.inputs. That also catches files removed
# from $(BIN), which timestamps cannot. The kernels are prepared one
# after the other: host-deps may run apt-get, which allows one at a time.

VM_DIR     ?= $(BUILD)/vm
VM_KERNELS := $(shell sed -e 's/\#.*//' tests/vm/kernels)
# every suite in one boot takes about 10 min under TCG here, each kernel
# on a core of its own; the limit leaves room for a loaded host
VMFLAGS    ?= --timeout 1500

.PHONY: vm vmtest vm-clean

# The kernels one after the other (apt may update its lists, which
# takes a lock); their initramfs side by side (each is a shell loop of
# some thousand processes, about 15 s).
vm:
	@for k in $(VM_KERNELS); do \
		tests/vm/fetch-kernel $(VM_DIR)/$$k $$k || exit 1; \
	done
	@pids=; for k in $(VM_KERNELS); do \
		tests/vm/mkinitramfs $(VM_DIR)/$$k $(BIN) & pids="$$pids $$!"; \
	done; rc=0; for p in $$pids; do wait $$p || rc=1; done; exit $$rc

# The initramfs must see the binaries that `all` builds, also with -j.
ifneq ($(filter vmtest,$(MAKECMDGOALS)),)
vm: | all
endif

# After each kernel's main boot comes one with an NVMe multipath
# subsystem added (mpath.bats, about 40 s), which --all leaves out
# because the added controllers may take nvme0 from the one the other
# suites expect. The first kernel also boots under icount (pathlen.bats
# checks that instruction counts repeat, about 3 min), the last is the
# initiator of the two-guest fabric boot (about 5 min) with the first as
# its target. VM_FULL=1 gives every kernel both boots.
VM_FULL ?= 0
vmtest: vm all
	@SP_VM_FULL=$(VM_FULL) SP_VM_DIR=$(VM_DIR) SP_VM_BIN=$(BIN) tests/vm/test-kernels $(VMFLAGS) -- $(VM_KERNELS)

vm-clean:
	rm -rf $(VM_DIR)
