# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The Debian 13 (trixie) root that scripts/setup-trixie builds and
# scripts/build-kernel builds in: gcc-14, the trixie 6.12 and
# trixie-backports 7.x kernels with their headers, QEMU from
# trixie-backports.  Source it from bash after lib.sh; it is not a program.
#
#   TV_TRIXIE          the root (default /var/cache/tcm_vhost/trixie)
#   TV_TRIXIE_LOCK     flock(1) file: setup-trixie holds it exclusively,
#                      users of the root hold it shared
#   tv_private_mounts  re-runs the calling script in its own mount
#                      namespace, so that nothing it mounts is ever seen
#                      outside it, and all of it vanishes when it exits
#   tv_chroot_mount ROOT [DIR...]
#                      /proc, /sys and /dev in ROOT, and each DIR
#                      bind-mounted at the same path inside; the mounts are
#                      undone by tv_chroot_umount, which an EXIT trap runs
#   tv_trixie_kernels  prints the kernel releases the root has headers for

TV_TRIXIE=${TV_TRIXIE:-/var/cache/tcm_vhost/trixie}
TV_TRIXIE_LOCK=${TV_TRIXIE_LOCK:-$(dirname "$TV_TRIXIE")/.trixie.lock}
export TV_TRIXIE TV_TRIXIE_LOCK

tv_private_mounts() {
	if [ -z "${TV_PRIVATE_MOUNTS:-}" ]; then
		command -v unshare >/dev/null || tv_die "unshare(1) (util-linux) is missing"
		TV_PRIVATE_MOUNTS=1 exec unshare --mount --propagation private -- "$0" "$@"
	fi
}

# Mount points made by tv_chroot_mount, innermost last.
tv_chroot_mounted=()

tv_chroot_umount() {
	local i
	for ((i = ${#tv_chroot_mounted[@]} - 1; i >= 0; i--)); do
		umount -R "${tv_chroot_mounted[$i]}" 2>/dev/null ||
			umount -R -l "${tv_chroot_mounted[$i]}" 2>/dev/null ||
			tv_msg "warning: could not unmount ${tv_chroot_mounted[$i]}"
	done
	tv_chroot_mounted=()
}

tv_chroot_mount() {
	local root=$1 d
	shift
	[ -n "${TV_PRIVATE_MOUNTS:-}" ] || tv_die "tv_chroot_mount outside tv_private_mounts"
	trap tv_chroot_umount EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	mkdir -p "$root/proc" "$root/sys" "$root/dev"
	mount -t proc proc "$root/proc" || tv_die "cannot mount /proc in $root"
	tv_chroot_mounted+=("$root/proc")
	mount --rbind /sys "$root/sys" || tv_die "cannot bind /sys into $root"
	tv_chroot_mounted+=("$root/sys")
	mount --rbind /dev "$root/dev" || tv_die "cannot bind /dev into $root"
	tv_chroot_mounted+=("$root/dev")
	for d in "$@"; do
		mkdir -p "$root$d"
		mount --bind "$d" "$root$d" || tv_die "cannot bind $d into $root"
		tv_chroot_mounted+=("$root$d")
	done
}

# (build is an absolute symlink, meaningful inside the root only: look at
# what it points to from outside.)
tv_trixie_kernels() {
	local d k
	for d in "$TV_TRIXIE"/usr/lib/modules/*/; do
		k=$(basename "$d")
		[ -e "$TV_TRIXIE/usr/src/linux-headers-$k/Makefile" ] && echo "$k"
	done | sort -V
}
