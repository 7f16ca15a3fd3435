# SPDX-License-Identifier: GPL-2.0
#
# The nested (L2) guest, for scripts running inside the test VM (POSIX sh;
# source it after lib.sh).  The L2 guest boots the same Debian kernel with
# a small busybox initramfs (tools/testing/vm/l2-init), under a second QEMU
# with -device vhost-scsi-pci: its disk is served by the vhost module under
# test, through /dev/vhost-scsi.
#
#   tv_l2_initrd                 builds the initramfs (once per VM boot)
#   tv_l2_boot WWPN QUEUES CPUS LOG [KERNEL_ARGS...]
#                                boots the guest on vhost WWPN with QUEUES
#                                request queues and CPUS vCPUs; its console
#                                goes to LOG (and to stdout as well when
#                                TV_L2_STREAM=1); returns QEMU's status,
#                                124 on timeout (TV_L2_TIMEOUT, default 300 s);
#                                TV_L2_QEMU_ARGS adds QEMU arguments; a guest
#                                that vanished silently is booted once more
#                                (see tv_l2_boot below)
#   tv_l2_get KEY LOG            prints KEY's value from the guest's
#                                "TVL2 key=value" lines
#   tv_l2_accel                  prints the accelerator the guest will use
#
# The accelerator: the test VM runs QEMU's "max" CPU under TCG, which
# emulates AMD SVM with nested paging, so kvm_amd loads inside it and the
# L2 guest runs under KVM there: a guest run takes 20-40 s instead of
# about 4 minutes with TCG inside TCG, and the vhost device is driven the
# way real hosts drive it (KVM ioeventfd kicks, irqfd interrupts).
# TV_L2_ACCEL=tcg forces TCG; without a usable /dev/kvm TCG is used anyway.

TV_L2_DIR=${TV_L2_DIR:-/tmp/tv-l2}
TV_L2_INITRD=$TV_L2_DIR/initrd.cpio

tv_l2_initrd() {
	[ -s "$TV_L2_INITRD" ] && return 0
	_kver=$(uname -r)
	_root=$TV_L2_DIR/root
	rm -rf "$_root" && mkdir -p "$_root/bin" "$_root/mods" "$_root/dev" \
		"$_root/proc" "$_root/sys" "$_root/tmp" || return
	cp /bin/busybox "$_root/bin/busybox" &&
		cp "$TV_REPO/tools/testing/vm/l2-init" "$_root/init" &&
		chmod 0755 "$_root/init" &&
		mknod -m 0600 "$_root/dev/console" c 5 1 || return
	# Everything the initiator side needs, in load order (modules that
	# are built in show up as "builtin" and are skipped).
	: >"$_root/mods/order"
	for _f in $(for _m in virtio_pci virtio_scsi sd_mod 9pnet_virtio 9p; do
		modprobe -S "$_kver" --show-depends "$_m"
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
		_b=${_f##*/}
		case $_f in
		*.ko.xz) xz -dc "$_f" >"$_root/mods/${_b%.xz}"; _b=${_b%.xz} ;;
		*.ko.zst) zstd -qdc "$_f" >"$_root/mods/${_b%.zst}"; _b=${_b%.zst} ;;
		*) cp "$_f" "$_root/mods/$_b" ;;
		esac || return
		echo "$_b" >>"$_root/mods/order"
	done
	# Uncompressed: unpacking costs the nested guest nothing that way.
	(cd "$_root" && find . | cpio -o -H newc --quiet) >"$TV_L2_INITRD.tmp" &&
		mv "$TV_L2_INITRD.tmp" "$TV_L2_INITRD"
}

tv_l2_accel() {
	if [ -n "${TV_L2_ACCEL:-}" ]; then
		echo "$TV_L2_ACCEL"
	elif [ -c /dev/kvm ] || modprobe -q kvm_amd 2>/dev/null || modprobe -q kvm_intel 2>/dev/null; then
		[ -c /dev/kvm ] && echo kvm || echo tcg
	else
		echo tcg
	fi
}

# One boot, no retry; same arguments as tv_l2_boot.
tv_l2_boot_once() {
	_wwpn=$1 _nq=$2 _cpus=$3 _log=$4
	shift 4
	# The guest's console is its only output.  /dev/vhost-scsi belongs to
	# whichever vhost module is loaded.  The guest gets the test VM's
	# root read-only over 9p, to run fio from it.  LOG.qemu gets a trace
	# line when the guest powers off; a guest reset (a triple fault, a
	# panic) under -no-reboot ends QEMU without one.
	set -- timeout -k 5 "${TV_L2_TIMEOUT:-300}" \
		qemu-system-x86_64 -accel "$(tv_l2_accel)" -m 512 -smp "$_cpus" \
		-nodefaults -display none -no-reboot \
		-kernel "/boot/vmlinuz-$(uname -r)" -initrd "$TV_L2_INITRD" \
		-append "console=ttyS0 quiet panic=-1 mitigations=off $*" \
		-serial stdio \
		-device "vhost-scsi-pci,wwpn=$_wwpn,num_queues=$_nq" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-trace qemu_system_shutdown_request -D "$_log.qemu" \
		${TV_L2_QEMU_ARGS:-} # word splitting wanted: a list of arguments
	if [ "${TV_L2_STREAM:-0}" = 1 ]; then
		# The exit status of QEMU, not of tee.
		{ "$@" </dev/null 2>&1; echo $? >"$_log.rc"; } | tee "$_log"
	else
		"$@" </dev/null >"$_log" 2>&1
		echo $? >"$_log.rc"
	fi
	_rc=$(cat "$_log.rc")
	rm -f "$_log.rc"
	return "$_rc"
}

# True if the guest of LOG stopped short of its end without printing any
# sign of trouble (no panic, oops, I/O error, SCSI error handling, failed
# check): it vanished (QEMU exited) or froze (timeout) silently.
tv_l2_vanished() {
	! grep -q '^TVL2 end' "$1" &&
		! grep -qE 'panic|BUG|Oops|Call Trace|I/O error|abort|reset|timing out|=(bad|fail|none)' "$1"
}

# Nested KVM on QEMU's emulated SVM rarely (a few runs in a hundred, always
# with several vCPUs and under heavy host load) loses a guest that way,
# with the in-tree module as with ours.  Such a boot is retried once,
# saying so on stderr and keeping the first log as LOG.first-try; a guest
# that reported anything at all is never retried.  TV_L2_RETRY=0: never.
tv_l2_boot() {
	[ $# -ge 4 ] || tv_err "usage: tv_l2_boot WWPN QUEUES CPUS LOG [KERNEL_ARGS...]" || return
	tv_l2_initrd || tv_err "cannot build the L2 initramfs" || return
	rm -f "$4.first-try"
	tv_l2_boot_once "$@"
	_rc=$?
	if [ "${TV_L2_RETRY:-1}" = 1 ] && [ "$(tv_l2_accel)" = kvm ] && tv_l2_vanished "$4"; then
		if [ "$_rc" = 124 ]; then
			_how="froze (timeout)"
		elif grep -q qemu_system_shutdown_request "$4.qemu" 2>/dev/null; then
			_how="powered off early"
		else
			_how="reset itself (triple fault?)"
		fi
		echo "tv_l2_boot: the nested guest $_how without a trace; booting it once more" >&2
		mv -f "$4" "$4.first-try"
		mv -f "$4.qemu" "$4.first-try.qemu" 2>/dev/null
		tv_l2_boot_once "$@"
		_rc=$?
	fi
	return "$_rc"
}

tv_l2_get() {
	# Keys are matched as whole words; the last value wins.
	sed -n "s/\r//; s/^TVL2 .*\<$1=\([^ ]*\).*/\1/p" "$2" | tail -n 1
}
