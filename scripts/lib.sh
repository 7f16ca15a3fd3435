# SPDX-License-Identifier: GPL-2.0
#
# Settings and helpers shared by the host-side scripts (scripts/*,
# tools/testing/vm/run).  Source it from bash; it is not a program.
#
#   TV_REPO        absolute path of the repository (this file's ../)
#   TV_SRC_CACHE   files extracted once from /usr/src/linux-source-6.1.tar.xz
#                  by scripts/setup-deps (checkpatch.pl and its data files,
#                  kselftest_harness.h, kselftest.h), laid out as in the
#                  kernel tree: $TV_SRC_CACHE/scripts/checkpatch.pl, ...
#   tv_default_kver  prints the kernel the test VM boots and `make` builds for

TV_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
TV_SRC_CACHE=${TV_SRC_CACHE:-/var/cache/tcm_vhost/linux-source-6.1}
export TV_REPO TV_SRC_CACHE

# The newest Debian 6.1 kernel that has modules, headers and a bootable
# image on this machine: the module is built for it and the VM boots it, so
# both always agree on the kernel version.  Prints nothing if there is none.
tv_default_kver() {
	local k best=
	for k in $(ls /lib/modules 2>/dev/null | grep -E '^6\.1\.[0-9].*-amd64$' | sort -V); do
		[ -e "/boot/vmlinuz-$k" ] && [ -d "/lib/modules/$k/build" ] && best=$k
	done
	# Without headers the VM can still boot the newest image.
	if [ -z "$best" ]; then
		for k in $(ls /lib/modules 2>/dev/null | grep -E '^6\.1\.[0-9].*-amd64$' | sort -V); do
			[ -e "/boot/vmlinuz-$k" ] && best=$k
		done
	fi
	printf '%s\n' "$best"
}

# Messages from the scripts themselves go to stderr, prefixed by the name of
# the calling program, so they never mix with a test's own output on stdout.
tv_msg() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
}

tv_die() {
	tv_msg "error: $*"
	exit 1
}
