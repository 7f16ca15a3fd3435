#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Task management from a real Linux guest, run inside the test VM:
#   tools/testing/vm/run --module tcm_vhost --timeout 900 -- tools/testing/vm/guest-reset.sh
#
# A nested guest (tools/testing/vm/l2-init, tv.mode=reset) runs three
# resets on its virtio-scsi disk, each while a fio of its own (random 4 KiB
# writes at queue depth 16, then crc32c verification) has requests at the
# device:
#   sg_reset -d   SG_SCSI_RESET_DEVICE: virtio_scsi's device reset handler
#                 sends VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET on the control
#                 queue and logs "device reset"; it succeeds only if the
#                 device answers FUNCTION COMPLETE (or SUCCEEDED).  Any other
#                 answer makes the SCSI layer escalate to target, bus and
#                 host reset, which virtio_scsi has no handlers for, and
#                 the ioctl fails with EIO.
#   sg_reset -t   SG_SCSI_RESET_TARGET: virtio_scsi (6.1, and mainline)
#                 has no eh_target_reset_handler, nor bus or host reset
#                 handlers, so scsi_ioctl_reset() escalates through three
#                 missing handlers and returns EIO at once: nothing reaches
#                 the device, whatever it is.  So the right outcome for a
#                 correct device is a fast EIO ("may not be available"),
#                 no "device reset" in the guest's log and no reset in LIO;
#                 a guest kernel that grows a target reset handler makes
#                 case 5 fail, and then it must be revisited.
#   sg_reset -d   once more: a reset must not leave the LUN unusable for
#                 the next one.
#
# The LUN is an iblock backstore on a memory-backed null_blk device whose
# requests take 100 ms: a ramdisk runs each command to completion inside
# the submission call, so a LUN reset would almost never find one in LIO
# to abort.  With 20 ms, where getting a request there under nested KVM
# takes longer, one run in seven aborted none.  Here a reset nearly
# always finds some, and the device must answer those
# commands in a way the guest retries (virtio-scsi: VIRTIO_SCSI_S_RESET
# for a request cancelled by a reset, which Linux turns into DID_RESET and
# retries; VIRTIO_SCSI_S_ABORTED becomes DID_ABORT, an I/O error) or
# complete them: case 6, fio's verification, fails otherwise (and case 4
# shows the guest's I/O errors).  The in-tree vhost_scsi of 6.1 passes
# (--module vhost_scsi): it sends LOGICAL UNIT RESET to LIO, and its empty
# ->aborted_task() lets an aborted command be answered like a completed
# one, VIRTIO_SCSI_S_OK with status GOOD, after iblock has finished it.
#
#   1  fio runs, with requests at the device at each reset
#   2  sg_reset -d completes: status 0 within the bound, both times
#   3  LIO performed both LUN resets: its statistics/scsi_lu/resets of
#      the backstore went up by 2, and the guest got the unit attention
#      LIO sets after each (29h/03h, which Linux logs as "Power-on or
#      device reset occurred").  A device that answered FUNCTION REJECTED
#      without asking LIO fails it (and case 2).
#   4  the guest logged one "device reset" per sg_reset -d and no other
#      error handling (aborts, timeouts, I/O errors, host resets)
#   5  sg_reset -t fails with EIO and sends nothing
#   6  each fio passes: no I/O error, crc32c verification after the reset
#   7  the disk still works: a MiB written and read back
#
# Output is TAP.  Knobs: TV_RESET_LATENCY_MS (null_blk completion time,
# default 100), TV_RESET_FIO_SIZE (per fio, default 8M), TV_L2_ACCEL=tcg (l2.sh).

set -u
. "$TV_REPO/tools/testing/vm/lib.sh"
. "$TV_REPO/tools/testing/vm/l2.sh"

wwpn=naa.5001405c1b2c3d4e
initiator=naa.5001405c1b2c3d4f
logdir=${TV_RUN_DIR:-/tmp}
log=$logdir/reset-l2.log
latency_ms=${TV_RESET_LATENCY_MS:-100}
fio_size=${TV_RESET_FIO_SIZE:-8M}
accel=$(tv_l2_accel)
# The bound on each sg_reset, starting it over 9p included (the guest
# reports that cost too).  A LUN reset waits for the commands it aborts
# (100 ms each, in parallel) and one control queue round trip; a target
# reset never leaves the guest.  Under nested KVM inside TCG on a loaded
# machine either can take many seconds (20 s seen): the bound is twice
# the guest's SCSI command timeout.  The guest stops waiting at 120 s.
reset_max_ms=60000
# The guest boots in 20-40 s (KVM) or about 4 min (TCG); the three fio
# runs add 30-120 s.
export TV_L2_TIMEOUT=${TV_L2_TIMEOUT:-$([ "$accel" = kvm ] && echo 420 || echo 840)}

n=0
failed=0
nullb_loaded=

diag() {
	sed 's/^/# /'
}

# check NAME PROBLEMS [INFO]: one TAP case; PROBLEMS (one a line) make it
# fail; INFO is a diagnostic line either way.
check() {
	n=$((n + 1))
	if [ -z "$2" ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		echo "$2" | diag
		failed=$((failed + 1))
	fi
	[ -z "${3:-}" ] || echo "# $3"
}

# add PROBLEM: one more reason for the current case to fail.
add() {
	p="$p${p:+$'\n'}$*"
}

bail() {
	echo "Bail out! $*"
	exit 1
}

cleanup() {
	tv_target_clear >/dev/null 2>&1
	[ -n "$nullb_loaded" ] && modprobe -r null_blk 2>/dev/null
}
trap cleanup EXIT

# The LIO counter of LUN resets of backstore disk0 (scsiLuInResets).
lu_resets() {
	cat "$(tv_backstore disk0)/statistics/scsi_lu/resets" 2>/dev/null
}

# A value the guest reported, or "none".
g() {
	local v
	v=$(tv_l2_get "$1" "$log")
	echo "${v:-none}"
}

setup() {
	# One 1 GiB device that keeps its data, completing every request
	# latency_ms after it was queued (a timer, as a disk's interrupt would).
	modprobe null_blk nr_devices=1 gb=1 bs=512 memory_backed=1 \
		queue_mode=2 irqmode=2 completion_nsec=$((latency_ms * 1000000)) ||
		bail "cannot load null_blk"
	nullb_loaded=1
	udevadm settle 2>/dev/null
	local i=0
	while [ ! -b /dev/nullb0 ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -b /dev/nullb0 ] || bail "null_blk made no /dev/nullb0"
	tv_new_backstore iblock disk0 "udev_path=/dev/nullb0" &&
		tv_vhost_wwpn "$wwpn" 1 &&
		tv_vhost_lun "$wwpn" 1 0 disk0 &&
		tv_vhost_nexus "$wwpn" 1 "$initiator" ||
		bail "cannot configure the vhost target port"
}

main() {
	local start rc resets0 resets1 p k ms busy ua devlines errs

	echo "TAP version 13"
	echo "1..7"
	echo "# vhost module: ${TV_MODULE:-?}, nested guest accelerator: $accel, backstore: iblock on null_blk (${latency_ms} ms a request)"
	tv_l2_initrd || bail "cannot build the L2 initramfs"
	tv_target_clear || bail "cannot clear the target configuration"
	setup
	resets0=$(lu_resets)
	[ -n "$resets0" ] || bail "no statistics/scsi_lu/resets for the backstore"

	# One queue and one vCPU: nested KVM is most reliable that way, and
	# a single queue keeps the control queue's ordering question simple.
	# loglevel=5 keeps the console to warnings and worse; the guest
	# prints its SCSI log lines itself.
	start=$(date +%s)
	tv_l2_boot "$wwpn" 1 1 "$log" loglevel=5 tv.mode=reset "tv.fio_size=$fio_size"
	rc=$?
	echo "# the guest ran $(($(date +%s) - start))s (status $rc); its console: $log"
	if [ -f "$log.first-try" ]; then
		echo "# the first guest stopped without a trace and was booted again; its last lines:"
		tail -n 5 "$log.first-try" | diag
	fi
	resets1=$(lu_resets)
	grep -E '^guest: (sg_reset|fio around)' "$log" | tr -d '\r' | diag

	# 1: the resets hit I/O.
	p=''
	grep -q '^TVL2 end' "$log" || add "the guest did not finish (status $rc)"
	[ "$(g disk)" = sda ] || add "the guest found no disk"
	[ "$(g fio)" = unavailable ] && add "fio or sg_reset unreachable over 9p"
	for k in reset_d1 reset_t reset_d2; do
		busy=$(g "${k}_inflight")
		case $busy in
		'' | none | *[!0-9]*) add "$k: never ran" ;;
		0) add "$k: no request at the device while sg_reset ran (fio over, or not started in 2 min?)" ;;
		esac
	done
	check "fio runs on the disk, with requests at the device at each reset" "$p" \
		"most requests at the device during -d, -t, -d: $(g reset_d1_inflight), $(g reset_t_inflight), $(g reset_d2_inflight)"

	# 2: sg_reset -d, twice.
	p=''
	for k in reset_d1 reset_d2; do
		rc=$(g "${k}_rc")
		ms=$(g "${k}_ms")
		if [ "$rc" = 124 ]; then
			add "$k: sg_reset -d still running after ${ms} ms (the TMF was never answered?)"
		elif [ "$rc" != 0 ]; then
			add "$k: sg_reset -d exit status '$rc' (EIO: the LUN reset was not answered FUNCTION COMPLETE)"
		elif [ "$ms" -gt "$reset_max_ms" ]; then
			add "$k: sg_reset -d took ${ms} ms, more than ${reset_max_ms}"
		fi
	done
	check "sg_reset -d completes, twice, under I/O" "$p" \
		"sg_reset -d took $(g reset_d1_ms) ms, $(g reset_d2_ms) ms (without a reset: $(g reset_d1_base_ms) ms, $(g reset_d2_base_ms) ms)"

	# 3: the LUN resets reached LIO: two, and no more (-t must add none);
	# LIO's unit attention after each made it back to the guest.
	p=''
	if [ "$((resets1 - resets0))" != 2 ]; then
		add "LIO counted $((resets1 - resets0)) LUN reset(s) on the backstore ($resets0 -> $resets1), expected 2"
	fi
	ua=$(grep -c '^guest: dmesg| .*Power-on or device reset occurred' "$log")
	[ "$ua" = 2 ] ||
		add "the guest got $ua unit attention(s) for a reset, expected 2 (one per LUN reset)"
	check "LIO performed both LUN resets" "$p" \
		"LIO's scsi_lu/resets: $resets0 -> $resets1; unit attentions in the guest: $ua"

	# 4: the guest's SCSI log.
	p=''
	devlines=$(grep -c '^guest: dmesg| .*: device reset[[:space:]]*$' "$log")
	[ "$devlines" = 2 ] ||
		add "the guest logged $devlines \"device reset\" line(s), expected 2 (one per sg_reset -d)"
	[ "$(g reset_d1_devreset)" = 1 ] && [ "$(g reset_d2_devreset)" = 1 ] ||
		add "\"device reset\" lines during each sg_reset -d: $(g reset_d1_devreset), $(g reset_d2_devreset) (expected 1, 1)"
	# Aborts and "timing out" mean commands timed out; "FAILED", "I/O
	# error" and "critical" that a command failed; host or bus resets
	# that the error handler escalated.
	errs=$(grep '^guest: dmesg| ' "$log" | tr -d '\r' |
		grep -Ei 'abort|timing out|FAILED|I/O error|critical|host reset|bus reset|offline|rejecting')
	[ -z "$errs" ] ||
		add "the guest's SCSI error handling went further ($(echo "$errs" | wc -l) lines; the first ones):" \
			"$(echo "$errs" | head -n 4)"
	check "the guest logged one device reset per sg_reset -d, and no other error handling" "$p"
	grep '^guest: dmesg| .*device reset' "$log" | tr -d '\r' | diag

	# 5: sg_reset -t: EIO from the guest's SCSI layer, nothing sent.
	p=''
	rc=$(g reset_t_rc)
	ms=$(g reset_t_ms)
	[ "$rc" = 1 ] || add "sg_reset -t exit status '$rc', expected 1 (EIO)"
	grep -q '^guest: sg_reset -t| .*may not be available' "$log" ||
		add "sg_reset -t did not report EIO (\"may not be available\")"
	[ "$ms" != none ] && [ "$ms" -le "$reset_max_ms" ] ||
		add "sg_reset -t took '$ms' ms, more than $reset_max_ms"
	[ "$(g reset_t_devreset)" = 0 ] ||
		add "the guest logged '$(g reset_t_devreset)' device reset(s) during sg_reset -t, expected 0"
	check "sg_reset -t fails with EIO in the guest, sending nothing (virtio_scsi has no target reset handler)" "$p" \
		"sg_reset -t took $ms ms (without a reset: $(g reset_t_base_ms) ms)"

	# 6: data integrity across each reset.
	p=''
	for k in reset_d1 reset_t reset_d2; do
		[ "$(g "${k}_fio")" = ok ] || add "$k: fio '$(g "${k}_fio")'"
	done
	check "fio around each reset: no I/O error, crc32c verification passes" "$p"
	[ -z "$p" ] || grep -E '^guest: fio -[dt]\| .*(err=|verify)' "$log" | tr -d '\r' |
		awk '!seen[$0]++' | diag

	# 7: the disk afterwards.
	p=''
	[ "$(g pattern)" = ok ] || add "a MiB written after the resets read back as '$(g pattern)'"
	check "the disk still works after the resets" "$p"

	if [ "$failed" -ne 0 ]; then
		echo "# last lines of the guest's console:"
		tail -n 30 "$log" | tr -d '\r' | diag
	fi
	[ "$failed" -eq 0 ]
}

# The whole file is read before main runs: editing it cannot derail a run.
main
