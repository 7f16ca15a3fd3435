#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# LUN hot-plug, end to end, run inside the test VM:
#   tools/testing/vm/run --module tcm_vhost [--kernel 7.3] -- tools/testing/vm/hotplug-e2e.sh
#
# Debian 12's QEMU (7.2) never offers VIRTIO_SCSI_F_HOTPLUG, so this runs
# QEMU 11.1 from the trixie root (scripts/setup-trixie) with chroot, after
# bind-mounting /dev, /proc and /sys into it and putting a tmpfs on its
# /tmp.  The nested guest (tools/testing/vm/hotplug-l2-init) starts on a
# vhost target port with one LUN and -device vhost-scsi-pci,...,hotplug=on;
# while it runs, a second LUN is linked into the port in configfs, then
# unlinked.  The guest never rescans: it only watches its SCSI disks.
#
#   1  LUN link adds a disk         (of the second LUN's size)
#   2  LUN unlink removes the disk
#   3  I/O still works on LUN 0     (a random MiB written, read back)
#   4  the new disk is LUN 1        (its SCSI address in the guest ends in
#                                    :1; a Linux guest takes the event's LUN
#                                    bytes 2-3 as the LUN number, unmasked,
#                                    so an event that sets the flat-space
#                                    0x40 bit on LUN 1 yields LUN 16385)
#
# The nested guest runs under KVM on QEMU's emulated SVM, which now and
# then loses a guest without a word (see tv_l2_boot in l2.sh): a guest
# that vanished or froze without printing any sign of trouble is booted
# once more, from scratch (LUN 1 unlinked again first), and the output
# says so; the first guest's log is kept as hotplug-l2.log.first-try.
# TV_L2_RETRY=0: never.  The results are those of the last boot.
#
# Output is TAP.  Knobs: TV_HP_L2_KVER (the nested guest's kernel: a
# release in /boot or in the trixie root's /boot; default the newest
# Debian 12 6.1 kernel), TV_HP_WORKERS=0 (no worker_per_virtqueue=on),
# TV_HP_QUEUES (request queues, default 2), TV_L2_ACCEL=tcg (see l2.sh).

set -u
# shellcheck source=SCRIPTDIR/lib.sh
. "$TV_REPO/tools/testing/vm/lib.sh"
# shellcheck source=SCRIPTDIR/l2.sh
. "$TV_REPO/tools/testing/vm/l2.sh"
# shellcheck source=SCRIPTDIR/../../../scripts/trixie.sh
. "$TV_REPO/scripts/trixie.sh"

T=$TV_TRIXIE
wwpn=naa.5001405c1b2c3d4e
initiator=naa.5001405c1b2c3d4f
lun1_dir=$TV_CFS/vhost/$wwpn/tpgt_1/lun/lun_1
logdir=${TV_RUN_DIR:-/tmp}
# The guest's console goes to a local tmpfs (the trixie root's /tmp, see
# chroot_mounts) while it runs, and is kept in $logdir at the end: polling
# a file that grows on the repository's 9p share now and then reads ENODATA.
log=$T/tmp/hotplug-l2.log
nq=${TV_HP_QUEUES:-2}
accel=$(tv_l2_accel)
# How long the guest may take to boot, and to see one hot-plug event.
if [ "$accel" = kvm ]; then boot_s=120 event_s=60; else boot_s=400 event_s=120; fi
names=("" "LUN link adds a disk" "LUN unlink removes the disk"
	"I/O still works on LUN 0" "the new disk is LUN 1")

mounted=()
qemu_pid=

diag() {
	sed 's/^/# /'
}

bail() {
	echo "Bail out! $*"
	exit 1
}

stop_guest() {
	[ -n "$qemu_pid" ] || return 0
	kill "$qemu_pid" 2>/dev/null
	wait "$qemu_pid" 2>/dev/null
	qemu_pid=
}

cleanup() {
	local i
	stop_guest
	[ -f "$log" ] && [ "$logdir" != "$T/tmp" ] && cp "$log" "$logdir/"
	tv_target_clear >/dev/null 2>&1
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -R "${mounted[$i]}" 2>/dev/null || umount -R -l "${mounted[$i]}" 2>/dev/null
	done
}
trap cleanup EXIT

# The kernel the nested guest boots: sets l2_kver, l2_image and l2_root
# (where its modules are: "" for this machine's, else the trixie root).
pick_l2_kernel() {
	local k
	l2_kver=${TV_HP_L2_KVER:-}
	if [ -z "$l2_kver" ]; then
		for k in $(ls /lib/modules | grep -E '^6\.1\.[0-9].*-amd64$' | sort -V); do
			[ -e "/boot/vmlinuz-$k" ] && l2_kver=$k
		done
	fi
	[ -n "$l2_kver" ] || return 1
	if [ -e "/boot/vmlinuz-$l2_kver" ]; then
		l2_image=/boot/vmlinuz-$l2_kver l2_root=
	else
		l2_image=$T/boot/vmlinuz-$l2_kver l2_root=$T
	fi
	[ -r "$l2_image" ]
}

# The guest's initramfs, in the trixie root's /tmp (QEMU runs in there).
build_l2_initrd() {
	local root=$T/tmp/l2root f b
	mkdir -p "$root/bin" "$root/mods" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" &&
		cp /bin/busybox "$root/bin/busybox" &&
		install -m 0755 "$TV_REPO/tools/testing/vm/hotplug-l2-init" "$root/init" &&
		mknod -m 0600 "$root/dev/console" c 5 1 || return 1
	: >"$root/mods/order"
	for f in $(for m in virtio_pci virtio_scsi sd_mod; do
		modprobe ${l2_root:+-d "$l2_root"} -S "$l2_kver" --show-depends "$m"
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
		b=${f##*/}
		case $f in
		*.ko.xz) xz -dc "$f" >"$root/mods/${b%.xz}"; b=${b%.xz} ;;
		*.ko.zst) zstd -qdc "$f" >"$root/mods/${b%.zst}"; b=${b%.zst} ;;
		*) cp "$f" "$root/mods/$b" ;;
		esac || return 1
		echo "$b" >>"$root/mods/order"
	done
	(cd "$root" && find . | cpio -o -H newc --quiet) >"$T/tmp/l2-initrd" &&
		cp "$l2_image" "$T/tmp/l2-vmlinuz"
}

chroot_mounts() {
	mount -t tmpfs -o mode=1777 tmpfs "$T/tmp" && mounted+=("$T/tmp") &&
		mount -t proc proc "$T/proc" && mounted+=("$T/proc") &&
		mount --rbind /sys "$T/sys" && mounted+=("$T/sys") &&
		mount --rbind /dev "$T/dev" && mounted+=("$T/dev")
}

# Starts QEMU 11.1 in the background with the device options $1.
start_guest() {
	: >"$log"
	timeout -k 5 $((boot_s + 3 * event_s + 60)) \
		chroot "$T" qemu-system-x86_64 -accel "$accel" -m 512 -smp "$nq" \
		-nodefaults -display none -no-reboot \
		-kernel /tmp/l2-vmlinuz -initrd /tmp/l2-initrd \
		-append "console=ttyS0 quiet panic=-1 mitigations=off loglevel=5 tv.watch=$((3 * event_s))" \
		-serial stdio \
		-device "vhost-scsi-pci,wwpn=$wwpn,hotplug=on,num_queues=$nq$1" \
		</dev/null >"$log" 2>&1 &
	qemu_pid=$!
}

# Waits up to $2 seconds for a line of the guest's log, from line $3 on,
# matching the extended regex $1; prints it.  Fails early if QEMU ended.
wait_line() {
	local end=$(($(date +%s) + $2)) l
	while :; do
		l=$(tail -n "+${3:-1}" "$log" 2>/dev/null | tr -d '\r' | grep -E -m 1 "$1")
		[ -n "$l" ] && { echo "$l"; return 0; }
		kill -0 "$qemu_pid" 2>/dev/null || return 1
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.5
	done
}

lines() {
	wc -l <"$log"
}

# LUN 1 gone from the target port (before a second boot); true if so.
unlink_lun1() {
	[ -d "$lun1_dir" ] || return 0
	rm -f "$lun1_dir/disk1" && rmdir "$lun1_dir"
}

# One boot of the guest and the hot-plug steps.  Sets res[1..4] to "ok"
# or the reason of the failure; returns 1 if the guest never came up with
# LUN 0 (res is then unset).  Diagnostics go out as they come.
attempt() {
	local ready l t0 from new_addr= booted
	res=()
	booted=$(date +%s)
	start_guest "$devopts"
	if ! ready=$(wait_line '^TVL2 (ready|disks=none)' "$boot_s") && [ -n "$devopts" ] &&
		! kill -0 "$qemu_pid" 2>/dev/null && grep -qi worker "$log"; then
		echo "# QEMU refused worker_per_virtqueue=on; without it:"
		diag <"$log"
		wait "$qemu_pid"
		devopts=
		start_guest "$devopts"
		ready=$(wait_line '^TVL2 (ready|disks=none)' "$boot_s")
	fi
	case $ready in
	"TVL2 ready"*) echo "# guest up after $(($(date +%s) - booted)) s: ${ready#TVL2 }" ;;
	*) return 1 ;;
	esac
	echo "# device: vhost-scsi-pci,wwpn=$wwpn,hotplug=on,num_queues=$nq$devopts"

	# 1: link LUN 1; the guest must see a second disk of 32 MiB.
	from=$(($(lines) + 1))
	t0=$(date +%s)
	if tv_vhost_lun "$wwpn" 1 1 disk1; then
		if l=$(wait_line '^TVL2 disks=[^ ]*,' "$event_s" "$from"); then
			echo "# after $(($(date +%s) - t0)) s: ${l#TVL2 }"
			new_addr=$(echo "$l" | sed -n 's/.* new=\([0-9]*:[0-9]*:[0-9]*:[0-9]*\):.*/\1/p')
			case $l in
			*new=*:$((32 * 1048576))*) res[1]=ok ;;
			*) res[1]="a disk appeared, not of LUN 1's size" ;;
			esac
		else
			res[1]="no new disk within $event_s s"
		fi
	else
		res[1]="cannot link LUN 1"
	fi

	# 2: unlink it; the guest must be back to one disk.
	from=$(($(lines) + 1))
	t0=$(date +%s)
	if unlink_lun1; then
		if l=$(wait_line '^TVL2 disks=[^, ]* ' "$event_s" "$from"); then
			echo "# after $(($(date +%s) - t0)) s: ${l#TVL2 }"
			res[2]=ok
		else
			res[2]="the disk stayed for $event_s s"
		fi
	else
		res[2]="cannot unlink LUN 1"
	fi

	# 3: the guest then does I/O on LUN 0 and powers off.
	if wait_line '^TVL2 end' "$((3 * event_s + 30))" >/dev/null; then
		wait "$qemu_pid"
		qemu_pid=
	fi
	l=$(tv_l2_get io "$log")
	if [ "$l" = ok ]; then res[3]=ok; else res[3]="io=$l"; fi

	case $new_addr in
	*:1) res[4]=ok ;;
	'') res[4]="no new disk" ;;
	*) res[4]="the guest put it at $new_addr" ;;
	esac
	return 0
}

# True if the guest of this attempt may be booted once more: it stopped
# short of its end without any sign of trouble (tv_l2_vanished), under
# KVM, and this was the first boot.
may_retry() {
	[ "$1" -eq 1 ] && [ "${TV_L2_RETRY:-1}" = 1 ] && [ "$accel" = kvm ] || return 1
	stop_guest
	tv_l2_vanished "$log"
}

# Everything runs from main(), called on the last line: bash has then read
# the whole file, so editing it while a VM runs it cannot derail that run.
main() {
	local try came_up i failed=0
	echo "TAP version 13"
	if [ ! -x "$T/usr/bin/qemu-system-x86_64" ]; then
		echo "1..0 # SKIP no QEMU in the trixie root $T (scripts/setup-trixie)"
		exit 0
	fi
	echo "1..4"
	pick_l2_kernel || bail "no kernel for the nested guest"
	chroot_mounts || bail "cannot mount /tmp, /proc, /sys, /dev in $T"
	build_l2_initrd || bail "cannot build the nested guest's initramfs"
	echo "# nested guest: Linux $l2_kver under $(chroot "$T" qemu-system-x86_64 --version | head -n 1) ($accel), $nq queue(s)"

	tv_target_rd disk0 64 && tv_target_rd disk1 32 || bail "cannot create the ramdisks"
	tv_vhost_wwpn "$wwpn" 1 && tv_vhost_lun "$wwpn" 1 0 disk0 &&
		tv_vhost_nexus "$wwpn" 1 "$initiator" || bail "cannot configure the vhost target port"

	devopts=
	[ "${TV_HP_WORKERS:-1}" = 1 ] && devopts=,worker_per_virtqueue=on
	start=$(date +%s)
	for try in 1 2; do
		attempt
		came_up=$?
		if [ "$came_up" -eq 0 ] && [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
			# Still running although every step is over (a frozen
			# guest, or one that never saw the unplug): end it.
			stop_guest
		fi
		may_retry "$try" || break
		echo "# the nested guest vanished without a trace; booting it once more (its log: $logdir/${log##*/}.first-try)"
		tr -d '\r' <"$log" | tail -n 10 | diag
		cp "$log" "$logdir/${log##*/}.first-try" 2>/dev/null
		unlink_lun1 || bail "cannot unlink LUN 1 for the second boot"
	done
	if [ "$came_up" -ne 0 ]; then
		echo "# the guest did not come up with LUN 0; its log:"
		diag <"$log"
		bail "no guest"
	fi
	for i in 1 2 3 4; do
		if [ "${res[$i]}" = ok ]; then
			echo "ok $i - ${names[$i]}"
		else
			echo "not ok $i - ${names[$i]} # ${res[$i]}"
			failed=$((failed + 1))
		fi
	done

	echo "# the guest's log ($logdir/${log##*/}):"
	tr -d '\r' <"$log" | grep -vE '^TVL2 ' | tail -n 30 | diag
	echo "# took $(($(date +%s) - start)) s"
	[ "$failed" -eq 0 ]
}

main "$@"
exit
