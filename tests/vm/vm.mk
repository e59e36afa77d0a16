# The QEMU testbed (tests/vm). Included by the top-level Makefile, which
# provides BUILD, BIN and the phony target `all`.
#
#   make vm       fetch the Debian kernel and build the initramfs into
#                 $(BUILD)/vm (cached: nothing is redone when no input
#                 changed)
#   make vmtest   build everything, then boot once and run every
#                 tests/vm/*.bats suite in the guest (TAP on stdout)
#   make vm-clean remove $(BUILD)/vm
#
# Both steps run a cheap check every time and rebuild only on change:
# fetch-kernel compares the kernel package that linux-image-amd64 depends
# on with $(VM_DIR)/kernel/.version, and mkinitramfs compares a manifest
# of its inputs (kernel version, tests/vm/*, $(BIN)/*, the host tools and
# every shared library they need) with $(VM_DIR)/initramfs.inputs. That
# also catches files removed from $(BIN), which timestamps cannot.

VM_DIR    ?= $(BUILD)/vm
VM_KERNEL := $(VM_DIR)/kernel/.version
VM_INITRD := $(VM_DIR)/initramfs.cpio
# every suite in one boot takes about 8 min under TCG here; the limit
# leaves room for a loaded host
VMFLAGS   ?= --timeout 1200

.PHONY: vm vmtest vm-clean vm-force

vm: $(VM_INITRD)

$(VM_KERNEL): tests/vm/fetch-kernel tests/vm/host-deps vm-force
	@tests/vm/fetch-kernel $(VM_DIR)

# $(BIN)/* is an input too, but listed in the manifest only: as a
# prerequisite here it would make `make vm` relink whatever binaries
# happen to be in $(BIN).
$(VM_INITRD): $(VM_KERNEL) $(wildcard tests/vm/*) vm-force
	@tests/vm/mkinitramfs $(VM_DIR) $(BIN)

# The initramfs must see the binaries that `all` builds, also with -j.
ifneq ($(filter vmtest,$(MAKECMDGOALS)),)
$(VM_INITRD): | all
endif

# then a short second boot under icount (about 40 s): pathlen.bats checks
# that instruction counts repeat (it skips itself in the main boot); and
# one with an NVMe multipath subsystem added (mpath.bats, about 40 s),
# which --all leaves out because the added controllers may take nvme0
# from the one the other suites expect there
vmtest: vm all
	@SP_VM_DIR=$(VM_DIR) SP_VM_BIN=$(BIN) tests/vm/run --all $(VMFLAGS)
	@SP_VM_DIR=$(VM_DIR) SP_VM_BIN=$(BIN) SP_VM_NULL_LATENCY_US=500 \
		tests/vm/run --icount pathlen --timeout 300
	@SP_VM_DIR=$(VM_DIR) SP_VM_BIN=$(BIN) tests/vm/run mpath --timeout 600

vm-clean:
	rm -rf $(VM_DIR)

# Always out of date: the recipes above decide themselves whether
# anything changed.
vm-force:
