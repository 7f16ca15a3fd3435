#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# End-to-end test, run inside the test VM:
#   tools/testing/vm/run --module tcm_vhost -- tools/testing/vm/guest-e2e.sh
#
# Each case exports one LUN on a vhost target port through configfs, boots
# a nested guest (tools/testing/vm/l2-init) with -device vhost-scsi-pci on
# that port, and checks from both sides what went through the module under
# test: the size the guest sees, data the VM seeded and the guest reads,
# data the guest writes and reads back (and, with fileio, that it reached
# the backing file), fio's crc32c verification, and that every request
# queue completed I/O.  Then it tears the configuration down.
#
# Output is TAP: "ok N - name" / "not ok N - name", diagnostics as "# ...".
# TV_E2E_CASES="1 3" runs a subset.  Exits non-zero if any case failed.

set -u
. "$TV_REPO/tools/testing/vm/lib.sh"
. "$TV_REPO/tools/testing/vm/l2.sh"

wwpn=naa.5001405c1b2c3d4e
initiator=naa.5001405c1b2c3d4f
size_mb=64
work=/tmp/tv-e2e
logdir=${TV_RUN_DIR:-$work}
mib=1048576

# number  backstore  queues
cases="1 rd_mcp 1
2 rd_mcp 4
3 fileio 1
4 fileio 4"

# A case takes 20-40 s (KVM) or about 2 min (TCG): a guest that takes much
# longer is stuck.
export TV_L2_TIMEOUT=${TV_L2_TIMEOUT:-$([ "$(tv_l2_accel)" = kvm ] && echo 150 || echo 400)}

mkdir -p "$work"
failed=0

diag() {
	sed 's/^/# /'
}

# sha256 of LEN bytes at OFFSET of FILE (both multiples of 64 KiB).
file_sha() {
	dd if="$1" bs=64k skip=$(($2 / 65536)) count=$(($3 / 65536)) 2>/dev/null |
		sha256sum | cut -d' ' -f1
}

# Runs one case; prints the reasons for failure on stdout, one a line.
run_case() {
	local bs=$1 nq=$2 log=$3 expect_read img='' got want
	case $bs in
	rd_mcp)
		tv_target_rd disk0 "$size_mb" || { echo "cannot create the ramdisk"; return; }
		expect_read=$(head -c $mib /dev/zero | sha256sum | cut -d' ' -f1)
		;;
	fileio)
		# A fresh file whose first MiB is random: the guest must read
		# exactly that.
		img=$work/disk0.img
		rm -f "$img"
		head -c $mib /dev/urandom >"$img"
		tv_target_fileio disk0 "$img" "${size_mb}M" || { echo "cannot create the fileio backstore"; return; }
		expect_read=$(file_sha "$img" 0 $mib)
		;;
	esac
	tv_vhost_wwpn "$wwpn" 1 &&
		tv_vhost_lun "$wwpn" 1 0 disk0 &&
		tv_vhost_nexus "$wwpn" 1 "$initiator" ||
		{ echo "cannot configure the vhost target port"; return; }

	# One vCPU per queue: virtio-scsi uses min(queues, CPUs) queues,
	# and fio runs one job per CPU.
	# loglevel=5: the guest's warnings, oopses and SCSI error handling
	# reach its console, hence the log.
	tv_l2_boot "$wwpn" "$nq" "$nq" "$log" loglevel=5 ||
		echo "the guest did not end cleanly (status $?)"
	grep -q '^TVL2 end' "$log" || echo "the guest did not finish its checks"

	got=$(tv_l2_get size "$log")
	[ "$got" = $((size_mb * mib)) ] || echo "guest saw size '$got', expected $((size_mb * mib))"
	got=$(tv_l2_get read_sha "$log")
	[ "$got" = "$expect_read" ] || echo "guest read '$got' from the first MiB, expected $expect_read"
	[ "$(tv_l2_get pattern "$log")" = ok ] || echo "data written by the guest did not read back"
	got=$(tv_l2_get fio "$log")
	case $got in
	ok) ;;
	unavailable) echo "# fio could not run in the guest (no 9p): dd checks only" >&2 ;;
	*) echo "fio verification: '$got'" ;;
	esac
	got=$(tv_l2_get queues "$log")
	[ "$got" = "$nq" ] || echo "guest has '$got' request queues, expected $nq"
	got=$(tv_l2_get queues_used "$log")
	[ "$got" = "$nq" ] || echo "'$got' of $nq request queues completed I/O"
	if [ -n "$img" ]; then
		want=$(tv_l2_get pattern_sha "$log")
		got=$(file_sha "$img" $mib $mib)
		[ -n "$want" ] && [ "$got" = "$want" ] ||
			echo "the backing file does not hold what the guest wrote"
	fi

	tv_target_clear || echo "teardown failed"
	[ -z "$img" ] || rm -f "$img"
}

main() {
	local n bs nq name log start problems took
	echo "TAP version 13"
	echo "1..$(echo "$cases" | wc -l)"
	echo "# vhost module: ${TV_MODULE:-?}, nested guest accelerator: $(tv_l2_accel)"
	tv_l2_initrd || { echo "Bail out! cannot build the L2 initramfs"; exit 1; }
	tv_target_clear || { echo "Bail out! cannot clear the target configuration"; exit 1; }

	while read -r n bs nq; do
		name="$bs backstore, $nq request queue$([ "$nq" -gt 1 ] && echo s)"
		if [ -n "${TV_E2E_CASES:-}" ] && ! echo " $TV_E2E_CASES " | grep -q " $n "; then
			echo "ok $n - $name # SKIP not selected"
			continue
		fi
		log=$logdir/e2e-$n.log
		start=$(date +%s)
		problems=$(run_case "$bs" "$nq" "$log")
		took=$(($(date +%s) - start))
		# tv_l2_boot boots a guest that vanished silently once more.
		if [ -f "$log.first-try" ]; then
			echo "# $name: the first guest stopped without a trace and was booted again; its last lines:"
			tail -n 5 "$log.first-try" | diag
		fi
		if [ -z "$problems" ]; then
			echo "ok $n - $name"
			echo "# took ${took}s; guest console: $log"
		else
			echo "not ok $n - $name"
			echo "$problems" | diag
			echo "# took ${took}s; guest console ($log):"
			tail -n 40 "$log" | diag
			failed=$((failed + 1))
			# Leave a clean slate for the next case whatever happened.
			tv_target_clear >/dev/null 2>&1
		fi
	done <<-EOF
	$cases
	EOF
	[ "$failed" -eq 0 ]
}

# The whole file is read before main runs: editing it cannot derail a run.
main
