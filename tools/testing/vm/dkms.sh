#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# DKMS package test, run inside the test VM with no module loaded:
#   tools/testing/vm/run --module none --timeout 1800 -- tools/testing/vm/dkms.sh
#
#   source      scripts/dkms-source copies the sources, and nothing a build
#               left in the repository, to /usr/src/tcm_vhost-VERSION
#   dkms        add, build (every object compiled, for the running kernel),
#               install (tcm_vhost.ko under /lib/modules/KVER/updates/dkms,
#               known to depmod and modinfo), the modprobe.d entry, which
#               makes "modprobe vhost_scsi" fail
#   targetcli   "/vhost create" loads tcm_vhost, the DKMS-installed file
#               (its path and build ID), and not vhost_scsi; a ramdisk LUN
#               goes under it; clearconfig and rmmod tear it all down
#   remove      dkms remove deletes the module and the modprobe.d entry;
#               vhost_scsi loads again
#
# The VM's /usr/src and /lib/modules are the host's, read-only: tmpfs-backed
# overlays make them writable for this run only (the host never sees a
# thing).  Output is TAP: "ok N - name" / "not ok N - name", diagnostics as
# "# ...".  Exits non-zero if any case failed.

set -u

TV_REPO=${TV_REPO:-$(cd "$(dirname "$0")/../../.." && pwd -P)}
# shellcheck source=SCRIPTDIR/lib.sh
. "$TV_REPO/tools/testing/vm/lib.sh"

wwpn=naa.5001405c1b2c3d4e
kver=$(uname -r)
arch=$(uname -m)
work=/tmp/tv-dkms
logdir=${TV_RUN_DIR:-$work}
log=$logdir/dkms.log
ovl=/run/tv-dkms
plan=12

version=$("$TV_REPO/scripts/dkms-source" --version 2>/dev/null)
pkg=tcm_vhost/$version
src=/usr/src/tcm_vhost-$version
dkms_mod=/var/lib/dkms/tcm_vhost
built_ko=$dkms_mod/$version/$kver/$arch/module/tcm_vhost.ko
installed_ko=/lib/modules/$kver/updates/dkms/tcm_vhost.ko
modprobe_conf=/etc/modprobe.d/tcm_vhost-dkms.conf
tpg_dir=$TV_CFS/vhost/$wwpn/tpgt_1

n=0
failed=0

TV_CASE_PREFIX="dkms: "

# result NAME WHY: one case (tv_case of lib.sh).
result() {
	tv_case "$@"
}

# logged WHAT CMD...: runs CMD with its output appended to $log; on failure
# prints "WHAT failed (status N)" and the tail of that output.
logged() {
	local what=$1 rc out
	shift
	echo "\$ $*" >>"$log"
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" >>"$log"
	[ "$rc" -eq 0 ] && return 0
	echo "$what failed (status $rc):"
	printf '%s\n' "$out" | tail -n 25 | sed 's/^/  | /'
	return "$rc"
}

loaded() {
	[ -d "/sys/module/$1" ]
}

in_lsmod() {
	lsmod | awk -v m="$1" '$1 == m { f = 1 } END { exit !f }'
}

# The GNU build ID of a module file, and of the module loaded as $1 (its
# note in sysfs: 12-byte header, "GNU\0", then the ID).
file_build_id() {
	readelf -n "$1" 2>/dev/null | sed -n 's/^ *Build ID: *//p' | head -n 1
}

loaded_build_id() {
	od -An -v -tx1 "/sys/module/$1/notes/.note.gnu.build-id" 2>/dev/null |
		tr -d ' \n' | cut -c33-
}

dkms_state() {
	dkms status "$pkg" -k "$kver" 2>/dev/null
}

# ---------------------------------------------------------------------------

setup() {
	local d
	# Never on a real machine: the overlays would hide its /usr/src.
	if [ "$(hostname)" != tv-vm ] || [ -z "${TV_RUN_DIR:-}" ]; then
		echo "not in the test VM (run it through tools/testing/vm/run)"
		return
	fi
	[ -n "$version" ] || { echo "scripts/dkms-source --version printed nothing"; return; }
	command -v dkms >/dev/null || { echo "dkms is not installed (scripts/setup-deps)"; return; }
	modprobe overlay || { echo "cannot load overlay"; return; }
	for d in /usr/src "/lib/modules/$kver"; do
		if ! mkdir -p "$ovl$d/upper" "$ovl$d/work" ||
			! mount -t overlay overlay \
				-o "lowerdir=$d,upperdir=$ovl$d/upper,workdir=$ovl$d/work" "$d"; then
			echo "cannot mount an overlay on $d"
			return
		fi
		touch "$d/.tv-dkms-writable" && rm "$d/.tv-dkms-writable" ||
			echo "$d is not writable through its overlay"
	done
	mkdir -p /var/lib/dkms || echo "cannot create /var/lib/dkms"
	[ -e "$src" ] && echo "$src exists before the test"
	[ -e "$dkms_mod" ] && echo "$dkms_mod exists before the test"
	[ -e "$modprobe_conf" ] && echo "$modprobe_conf exists before the test"
}

# Every source file the Kbuild file names, relative to the top.
kbuild_sources() {
	sed -n 's/\\$//; s/^\(tcm_vhost-y *:= *\)\{0,1\}[[:space:]]*\([^[:space:]]*\.o\).*/\2/p' \
		"$TV_REPO/Kbuild" | sed 's/\.o$/.c/'
}

case_source() {
	local out f junk
	out=$(logged "scripts/dkms-source" "$TV_REPO/scripts/dkms-source") || { echo "$out"; return; }
	[ "$(tail -n 1 "$log")" = "$src" ] || echo "scripts/dkms-source did not print $src"
	[ -d "$src" ] || { echo "$src does not exist"; return; }
	for f in Kbuild Kconfig Makefile dkms.conf include/uapi/linux/tcm_vhost.h \
		scripts/tcm_vhost-modprobe.conf $(kbuild_sources); do
		cmp -s "$TV_REPO/$f" "$src/$f" || echo "$src/$f is missing or differs from the repository's"
	done
	[ -n "$(kbuild_sources)" ] || echo "no sources found in Kbuild"
	[ -x "$src/scripts/dkms-modprobe" ] || echo "$src/scripts/dkms-modprobe is missing or not executable"
	junk=$(find "$src" -type f \( -name '*.o' -o -name '*.ko' -o -name '*.cmd' -o -name '*.mod' \
		-o -name '*.mod.c' -o -name Module.symvers -o -name modules.order \))
	[ -z "$junk" ] || echo "build outputs copied: $junk"
}

case_add() {
	local out
	out=$(logged "dkms add $pkg" dkms add "$pkg") || { echo "$out"; return; }
	[ "$(readlink -f "$dkms_mod/$version/source")" = "$src" ] ||
		echo "$dkms_mod/$version/source does not lead to $src"
	dkms status "$pkg" | grep -q ': added$' || echo "dkms status: '$(dkms status "$pkg")', not added"
}

case_build() {
	local out f o vm
	out=$(logged "dkms build $pkg -k $kver" timeout -k 10 1500 dkms build "$pkg" -k "$kver") ||
		{ echo "$out"; tail -n 30 "$dkms_mod/$version/build/make.log" 2>/dev/null | sed 's/^/  | /'; return; }
	dkms_state | grep -q ': built$' || echo "dkms status: '$(dkms_state)', not built"
	[ -f "$built_ko" ] || { echo "no $built_ko"; return; }
	# Built here, from the copied sources: kbuild compiled every object.
	for f in $(kbuild_sources); do
		o=${f%.c}.o
		grep -qE "CC \[M\] +$dkms_mod/$version/build/$o\$" \
			"$dkms_mod/$version/$kver/$arch/log/make.log" 2>/dev/null ||
			echo "make.log does not show $o compiled"
	done
	vm=$(modinfo -F vermagic "$built_ko")
	case $vm in
	"$kver "*) ;;
	*) echo "vermagic of $built_ko is '$vm', not for $kver" ;;
	esac
}

case_install() {
	local out path
	out=$(logged "dkms install $pkg -k $kver" dkms install "$pkg" -k "$kver") || { echo "$out"; return; }
	dkms_state | grep -q ': installed$' || echo "dkms status: '$(dkms_state)', not installed"
	[ -f "$installed_ko" ] || { echo "no $installed_ko"; return; }
	cmp -s "$built_ko" "$installed_ko" || echo "$installed_ko is not the module DKMS built ($built_ko)"
	grep -q '^updates/dkms/tcm_vhost\.ko:' "/lib/modules/$kver/modules.dep" ||
		echo "modules.dep does not list updates/dkms/tcm_vhost.ko"
	path=$(modinfo -n tcm_vhost 2>&1)
	[ "$path" = "$installed_ko" ] || echo "modinfo -n tcm_vhost: $path"
}

case_modprobe_conf() {
	local line out
	# Every line of the entry make install ships, and modprobe reads them.
	if [ -f "$modprobe_conf" ]; then
		while IFS= read -r line; do
			case $line in '#'* | '') continue ;; esac
			grep -qxF "$line" "$modprobe_conf" || echo "$modprobe_conf lacks '$line'"
		done <"$TV_REPO/scripts/tcm_vhost-modprobe.conf"
	else
		echo "no $modprobe_conf"
	fi
	modprobe -c | grep -qx 'blacklist vhost_scsi' || echo "modprobe -c shows no 'blacklist vhost_scsi'"
	loaded vhost_scsi && { echo "vhost_scsi is loaded already"; return; }
	if out=$(modprobe vhost_scsi 2>&1); then
		echo "modprobe vhost_scsi succeeded"
	fi
	echo "\$ modprobe vhost_scsi: ${out:-(no output)}" >>"$log"
	if loaded vhost_scsi; then
		echo "vhost_scsi got loaded"
		rmmod vhost_scsi
	fi
}

case_vhost_create() {
	local out
	loaded tcm_vhost && { echo "tcm_vhost is loaded before targetcli ran"; return; }
	loaded vhost_scsi && { echo "vhost_scsi is loaded before targetcli ran"; return; }
	[ ! -e "$TV_CFS/vhost" ] || { echo "the LIO fabric vhost exists before targetcli ran"; return; }
	out=$(logged "targetcli /vhost create $wwpn" timeout -k 5 180 targetcli /vhost create "$wwpn") ||
		echo "$out"
	[ -d "$tpg_dir" ] || echo "no $tpg_dir"
	in_lsmod tcm_vhost || echo "lsmod does not show tcm_vhost"
	! in_lsmod vhost_scsi || echo "lsmod shows vhost_scsi"
	[ -c /dev/vhost-scsi ] || echo "no /dev/vhost-scsi"
	echo "\$ lsmod" >>"$log"
	lsmod >>"$log"
}

case_which_module() {
	local path want got
	loaded tcm_vhost || { echo "tcm_vhost is not loaded"; return; }
	path=$(modinfo -n tcm_vhost 2>&1)
	[ "$path" = "$installed_ko" ] || echo "modinfo -n tcm_vhost: $path, not $installed_ko"
	want=$(file_build_id "$installed_ko")
	got=$(loaded_build_id tcm_vhost)
	[ -n "$want" ] || { echo "$installed_ko has no build ID"; return; }
	[ "$got" = "$want" ] ||
		echo "the loaded tcm_vhost has build ID '$got', $installed_ko has $want"
}

case_lun() {
	local out so lun
	loaded tcm_vhost || { echo "tcm_vhost is not loaded"; return; }
	out=$(logged "targetcli /backstores/ramdisk create r0 64M" \
		timeout -k 5 180 targetcli /backstores/ramdisk create r0 64M) || echo "$out"
	out=$(logged "targetcli /vhost/$wwpn/tpg1/luns create /backstores/ramdisk/r0" \
		timeout -k 5 180 targetcli "/vhost/$wwpn/tpg1/luns" create /backstores/ramdisk/r0) ||
		echo "$out"
	so=$(find "$TV_CFS/core" -mindepth 2 -maxdepth 2 -type d -path '*/rd_mcp_*/r0' 2>/dev/null)
	[ -n "$so" ] || { echo "no ramdisk r0 under $TV_CFS/core"; return; }
	lun=$(find "$tpg_dir/lun/lun_0" -maxdepth 1 -type l -exec readlink -f {} \; 2>/dev/null)
	[ "$lun" = "$so" ] || echo "$tpg_dir/lun/lun_0 links to '$lun', not $so"
}

case_teardown() {
	local out left
	out=$(logged "targetcli clearconfig" timeout -k 5 180 targetcli clearconfig confirm=True) ||
		echo "$out"
	left=$(find "$TV_CFS/vhost" -mindepth 1 -maxdepth 1 -type d ! -name discovery_auth 2>/dev/null)
	[ -z "$left" ] || echo "vhost target ports left after clearconfig: $left"
	left=$(find "$TV_CFS/core" -mindepth 1 -maxdepth 1 -name 'rd_mcp_*' 2>/dev/null)
	[ -z "$left" ] || echo "ramdisk HBAs left after clearconfig: $left"
	# The fabric directory holds the module; dropping it lets it go.
	[ ! -d "$TV_CFS/vhost" ] || rmdir "$TV_CFS/vhost" || echo "cannot remove $TV_CFS/vhost"
	out=$(logged "rmmod tcm_vhost" rmmod tcm_vhost) || echo "$out"
	! loaded tcm_vhost || echo "/sys/module/tcm_vhost is still there"
	[ ! -e /dev/vhost-scsi ] || echo "/dev/vhost-scsi is still there"
}

case_remove() {
	local out path
	out=$(logged "dkms remove $pkg --all" dkms remove "$pkg" --all) || echo "$out"
	[ ! -e "$installed_ko" ] || echo "$installed_ko is still there"
	[ ! -e "$modprobe_conf" ] || echo "$modprobe_conf is still there"
	[ ! -e "$dkms_mod" ] || echo "$dkms_mod is still there"
	[ -z "$(dkms status tcm_vhost 2>/dev/null)" ] || echo "dkms status: $(dkms status tcm_vhost)"
	! grep -q 'tcm_vhost\.ko' "/lib/modules/$kver/modules.dep" ||
		echo "modules.dep still lists $(grep -o '^[^:]*tcm_vhost\.ko' "/lib/modules/$kver/modules.dep")"
	# The in-tree vhost_scsi answers to the alias tcm_vhost again.
	path=$(modinfo -n tcm_vhost 2>&1)
	case $path in
	*/updates/*) echo "modinfo -n tcm_vhost still finds $path" ;;
	esac
	modprobe -c | grep -q 'vhost_scsi /bin/false' && echo "modprobe -c still has the entry"
}

case_vhost_scsi_back() {
	local out
	loaded tcm_vhost && { echo "tcm_vhost is loaded"; return; }
	out=$(logged "modprobe vhost_scsi" modprobe vhost_scsi) || { echo "$out"; return; }
	loaded vhost_scsi || { echo "vhost_scsi is not loaded"; return; }
	out=$(logged "modprobe -r vhost_scsi" modprobe -r vhost_scsi) || echo "$out"
}

# Whatever a failed case left behind, so the VM powers off clean.
cleanup() {
	tv_target_clear >/dev/null 2>&1
	loaded tcm_vhost && rmmod tcm_vhost 2>/dev/null
	[ -e "$dkms_mod" ] && dkms remove "$pkg" --all >/dev/null 2>&1
}

# ---------------------------------------------------------------------------

main() {
	local why t0=$SECONDS t1 t_build
	mkdir -p "$work" "$logdir"
	: >"$log"
	export HOME=${HOME:-/root} TARGETCLI_HOME=$work/targetcli
	mkdir -p /run/dbus
	[ -S /run/dbus/system_bus_socket ] || dbus-daemon --system --fork ||
		echo "# could not start a system D-Bus; targetcli may fail"
	echo "1..$plan"
	echo "# DKMS package $pkg on $(uname -r); commands and output: $log"

	why=$(setup)
	result "writable /usr/src and /lib/modules/$kver (overlays on tmpfs)" "$why"
	if [ -n "$why" ]; then
		echo "Bail out! cannot set up"
		exit 1
	fi
	[ -e "$TV_REPO/tcm_vhost.ko" ] &&
		echo "# the repository holds a tcm_vhost.ko (build ID $(file_build_id "$TV_REPO/tcm_vhost.ko")): it must not be the one installed"

	result "scripts/dkms-source copies the sources only to $src" "$(case_source)"
	result "dkms add $pkg" "$(case_add)"
	t1=$SECONDS
	result "dkms build $pkg for $kver: every object compiled" "$(case_build)"
	t_build=$((SECONDS - t1))
	result "dkms install: $installed_ko" "$(case_install)"
	result "modprobe.d entry installed, modprobe vhost_scsi refused" "$(case_modprobe_conf)"
	result "targetcli /vhost create $wwpn loads tcm_vhost, not vhost_scsi" "$(case_vhost_create)"
	result "the loaded tcm_vhost is the DKMS-installed file" "$(case_which_module)"
	loaded tcm_vhost &&
		echo "# loaded: $(modinfo -n tcm_vhost) (build ID $(loaded_build_id tcm_vhost))"
	result "targetcli: a ramdisk LUN under $wwpn/tpg1" "$(case_lun)"
	result "teardown: targetcli clearconfig, rmmod tcm_vhost" "$(case_teardown)"
	result "dkms remove: module and modprobe.d entry gone" "$(case_remove)"
	result "vhost_scsi loads again after dkms remove" "$(case_vhost_scsi_back)"

	cleanup
	[ "$n" -eq "$plan" ] || { echo "# ran $n cases, planned $plan"; failed=1; }
	echo "# dkms: $((SECONDS - t0)) s (dkms build ${t_build} s)"
	exit "$failed"
}

main "$@"
