# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of tcm_vhost.ko, plus the project's entry points.
#   make            build tcm_vhost.ko against KDIR
#   make run        the demo: a guest doing I/O through tcm_vhost in a test VM
#   make check      every test (static checks, selftests and guests in the VM)
#                   on Debian 12's 6.1 and the trixie-backports 7.3 kernel
#                   (KERNELS="6.1 6.12 7.3" to choose; kernels after the
#                   first run one of the four guest e2e cases); ends with one line
#                   "RELEASE: N passed, N failed, N skipped" per kernel and
#                   the total "N passed, N failed, N skipped" last
#   make check-all  the same on all three kernels: 6.1, 6.12 and 7.3, plus
#                   the DKMS package test (tools/testing/vm/dkms.sh)
#   make bench      tcm_vhost against the in-tree vhost_scsi, side by side:
#                   the -icount table on 6.1 and on 7.3 (BENCH_KERNELS),
#                   then the wall-clock scaling table (1 vs 4 queues)
#   make install    modules_install + depmod + modprobe.d entry (real hosts)
#   make kernels    tcm_vhost.ko for Debian 12's 6.1 and, in the trixie root
#                   of scripts/setup-trixie, for 6.12 and 7.x: W=1 and sparse,
#                   any warning fails; each into build/KVER/ (one kernel:
#                   scripts/build-kernel KVER, e.g. 6.12 or 7.3)

# The running kernel if its headers are installed, else the newest Debian one.
KVER ?= $(shell k=$$(uname -r); [ -d /lib/modules/$$k/build ] && echo $$k || \
	  ls /lib/modules 2>/dev/null | grep -- '-amd64$$' | sort -V | tail -1)
KDIR ?= /lib/modules/$(KVER)/build
PWD  := $(shell pwd)

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(PWD) modules

clean:
	$(MAKE) -C $(KDIR) M=$(PWD) clean
	$(MAKE) -C tools/testing/selftests/vhost_scsi clean

install: modules
	$(MAKE) -C $(KDIR) M=$(PWD) modules_install
	install -D -m 0644 scripts/tcm_vhost-modprobe.conf \
		$(DESTDIR)/etc/modprobe.d/tcm_vhost.conf
	depmod -a $(KVER)

selftests:
	$(MAKE) -C tools/testing/selftests/vhost_scsi

deps:
	scripts/setup-deps

run:
	scripts/run-demo

# The kernels make check tests (see scripts/check), and make check-all.
KERNELS ?= 6.1 7.3
KERNELS_ALL ?= 6.1 6.12 7.3

check:
	scripts/check $(KERNELS)

check-all:
	TV_CHECK_ALL=1 scripts/check $(KERNELS_ALL)

bench:
	scripts/bench

kernels:
	scripts/build-kernel --strict --sparse all

.PHONY: all modules clean install selftests deps run check check-all bench kernels
