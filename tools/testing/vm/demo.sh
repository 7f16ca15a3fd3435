#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo behind `make run`, run inside the test VM:
#   tools/testing/vm/run --module tcm_vhost -- tools/testing/vm/demo.sh
#
# It exports a ramdisk through the vhost fabric of the loaded module, boots
# a nested guest on it, lets the guest write and read data (checked with
# sha256 and fio's crc32c), and shows LIO's counters for that LUN.

set -u
. "$TV_REPO/tools/testing/vm/lib.sh"
. "$TV_REPO/tools/testing/vm/l2.sh"

wwpn=naa.5001405c1b2c3d4e
initiator=naa.5001405c1b2c3d4f
log=${TV_RUN_DIR:-/tmp}/demo-guest.log

step() {
	printf '\n=== %s\n' "$*"
}

fail() {
	printf '\nDEMO FAILED: %s\n' "$*"
	exit 1
}

# check DESCRIPTION ACTUAL EXPECTED
check() {
	if [ "$2" = "$3" ]; then
		echo "  [ok]   $1"
	else
		echo "  [FAIL] $1: got '$2', expected '$3'"
		ok=
	fi
}

main() {
	local accel start stats
	step "1. The module under test: $TV_MODULE"
	case $TV_MODULE in
	tcm_vhost) echo "tcm_vhost.ko from $TV_KO is loaded:" ;;
	vhost_scsi) echo "The in-tree vhost_scsi (the reference) is loaded:" ;;
	*) fail "load tcm_vhost or vhost_scsi (--module)" ;;
	esac
	lsmod | grep -E "^($TV_MODULE|target_core_mod) "
	[ -c /dev/vhost-scsi ] || fail "/dev/vhost-scsi does not exist"
	echo "It provides /dev/vhost-scsi (what QEMU opens) and the LIO fabric 'vhost'."

	step "2. A 64 MiB ramdisk, exported on vhost target port $wwpn"
	echo "Plain configfs writes under /sys/kernel/config/target (what targetcli does):"
	tv_target_rd disk0 64 || fail "cannot create the ramdisk backstore"
	tv_vhost_wwpn "$wwpn" 1 &&
		tv_vhost_lun "$wwpn" 1 0 disk0 &&
		tv_vhost_nexus "$wwpn" 1 "$initiator" || fail "cannot configure the target port"
	tv_target_tree | sed 's/^/  /'

	step "3. A guest with -device vhost-scsi-pci,wwpn=$wwpn (its console follows)"
	accel=$(tv_l2_accel)
	echo "The guest's QEMU runs with -accel $accel inside this VM; the guest's"
	echo "virtio-scsi queues are served by $TV_MODULE, with no QEMU in the data path."
	echo
	start=$(date +%s)
	TV_L2_STREAM=1 tv_l2_boot "$wwpn" 2 2 "$log" | grep -v '^TVL2 ' | sed 's/^guest: //; s/^/  guest | /'
	echo "(guest run: $(($(date +%s) - start)) s)"

	step "4. What LIO counted on that LUN"
	stats=$(tv_backstore disk0)/statistics/scsi_lu
	echo "  SCSI commands: $(cat "$stats/num_cmds")"
	echo "  MiB read:      $(cat "$stats/read_mbytes")"
	echo "  MiB written:   $(cat "$stats/write_mbytes")"

	step "5. Results"
	ok=1
	check "the guest saw a 64 MiB disk" "$(tv_l2_get size "$log")" $((64 * 1048576))
	check "a random MiB written by the guest read back identical" "$(tv_l2_get pattern "$log")" ok
	check "fio wrote and verified (crc32c) 2 x 8 MiB" "$(tv_l2_get fio "$log")" ok
	check "both request queues completed I/O" "$(tv_l2_get queues_used "$log")" 2

	tv_target_clear || fail "teardown failed"
	echo "  [ok]   configuration torn down"
	[ -n "$ok" ] || fail "see above; guest console: $log"
	printf '\nDemo passed: a guest did its I/O through %s.\n' "$TV_MODULE"
}

# The whole file is read before main runs: editing it cannot derail a run.
main
