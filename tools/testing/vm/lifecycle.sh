#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Module lifecycle test, run inside the test VM with the module under test
# loaded:
#   tools/testing/vm/run --module tcm_vhost -- tools/testing/vm/lifecycle.sh
#
#   targetcli   creates a ramdisk, a vhost WWPN (with tpg1) and a LUN; "ls"
#               shows them; the TPG's nexus holds the initiator rtslib
#               picked; deleting the target and the ramdisk leaves configfs
#               clean
#   in use      the module cannot be unloaded while a WWPN/TPG exists, nor
#               while /dev/vhost-scsi is open
#   reload      after a full teardown the module unloads, /dev/vhost-scsi
#               goes away, loading it again brings both back and a LUN can
#               be configured and used (endpoint_test's set_and_io)
#   in flight   endpoint_test (which closes the device and clears the
#               endpoint with I/O in flight) passes, then teardown and
#               unload succeed and the kernel log stays clean
#
# TV_MODULE says which module: tcm_vhost (unloaded with rmmod, loaded with
# insmod $TV_KO) or vhost_scsi (modprobe -r / modprobe).  The module is
# loaded again at the end.  Output is TAP: "ok N - name" / "not ok N -
# name", diagnostics as "# ...".  Exits non-zero if any case failed.

set -u

TV_REPO=${TV_REPO:-$(cd "$(dirname "$0")/../../.." && pwd -P)}
# shellcheck source=lib.sh
. "$TV_REPO/tools/testing/vm/lib.sh"

wwpn=naa.5001405c1b2c3d4e
st=$TV_REPO/tools/testing/selftests/vhost_scsi
work=/tmp/tv-lifecycle
logdir=${TV_RUN_DIR:-$work}
mod=${TV_MODULE:-}
bad_dmesg='BUG:|WARNING:|Oops|general protection|kernel BUG|UBSAN|KASAN'
bad_dmesg="$bad_dmesg|list_(add|del) corruption|refcount_t:|Call Trace"
bad_dmesg="$bad_dmesg|blocked for more than|soft lockup"

n=0
failed=0

TV_CASE_PREFIX="lifecycle: "

# result NAME WHY: one case (tv_case of lib.sh).
result() {
	tv_case "$@"
}

# ---------------------------------------------------------------------------
# The module under test.

mod_load() {
	local dep
	case $mod in
	tcm_vhost)
		for dep in $(modinfo -F depends "$TV_KO" | tr ',' ' '); do
			modprobe "$dep" || return
		done
		insmod "$TV_KO"
		;;
	vhost_scsi) modprobe vhost_scsi ;;
	esac
}

mod_unload() {
	case $mod in
	tcm_vhost) rmmod tcm_vhost ;;
	vhost_scsi) modprobe -r vhost_scsi ;;
	esac
}

mod_loaded() {
	[ -d "/sys/module/$mod" ]
}

mod_refcnt() {
	cat "/sys/module/$mod/refcnt" 2>/dev/null || echo "(not loaded)"
}

# The device node (devtmpfs) and the misc device behind it.
dev_present() {
	[ -c /dev/vhost-scsi ] && [ -e /sys/class/misc/vhost-scsi ]
}

dev_absent() {
	[ ! -e /dev/vhost-scsi ] && [ ! -e /sys/class/misc/vhost-scsi ]
}

# Opens /dev/vhost-scsi read-write and closes it again.
dev_opens() {
	(exec 3<>/dev/vhost-scsi) 2>/dev/null
}

# ---------------------------------------------------------------------------
# targetcli.  It wants a writable home and a system D-Bus (ui_backstore asks
# it about user-backed backstores); one start costs ~10 s under TCG.

dbus_pid=

start_dbus() {
	[ -S /run/dbus/system_bus_socket ] && return 0
	mkdir -p /run/dbus
	dbus_pid=$(dbus-daemon --system --fork --print-pid) ||
		echo "# could not start a system D-Bus; targetcli may fail"
}

stop_dbus() {
	[ -n "$dbus_pid" ] || return 0
	kill "$dbus_pid" 2>/dev/null
	rm -f /run/dbus/system_bus_socket /run/dbus/pid
}

# tcli LOG ARGS...: runs targetcli ARGS, its output appended to LOG.  The
# status is checked, but never trusted alone: configfs is looked at too.
tcli() {
	local log=$1 rc
	shift
	echo "\$ targetcli $*" >>"$log"
	timeout -k 5 120 targetcli "$@" >>"$log" 2>&1
	rc=$?
	[ "$rc" -eq 0 ] || echo "(status $rc)" >>"$log"
	return "$rc"
}

# The configfs objects of case 1.
rd_dir() {
	find "$TV_CFS/core" -mindepth 2 -maxdepth 2 -type d -path "*/rd_mcp_*/r0" 2>/dev/null
}

tpg_dir=$TV_CFS/vhost/$wwpn/tpgt_1

targetcli_create() {
	local log=$1
	tcli "$log" /backstores/ramdisk create r0 64M ||
		echo "targetcli /backstores/ramdisk create r0 64M failed"
	tcli "$log" /vhost create "$wwpn" ||
		echo "targetcli /vhost create $wwpn failed"
	tcli "$log" "/vhost/$wwpn/tpg1/luns" create /backstores/ramdisk/r0 ||
		echo "targetcli /vhost/$wwpn/tpg1/luns create /backstores/ramdisk/r0 failed"
	[ -n "$(rd_dir)" ] || echo "no ramdisk r0 under $TV_CFS/core"
	[ -d "$tpg_dir" ] || echo "no $tpg_dir"
	[ "$(find "$tpg_dir/lun/lun_0" -maxdepth 1 -type l -exec readlink -f {} \; 2>/dev/null)" = \
		"$(rd_dir)" ] ||
		echo "$tpg_dir/lun/lun_0 does not link to the ramdisk r0"
}

targetcli_ls() {
	local log=$1 out=$2
	tcli "$log" ls || { echo "targetcli ls failed"; return; }
	sed -n '/^\$ targetcli ls$/,$p' "$log" >"$out"
	grep -q "o- $wwpn " "$out" || echo "targetcli ls does not show $wwpn"
	grep -Eq 'o- tpg1 ' "$out" || echo "targetcli ls does not show tpg1"
	grep -Eq 'o- lun0 .*ramdisk/r0' "$out" ||
		echo "targetcli ls does not show lun0 on ramdisk/r0"
}

targetcli_nexus() {
	local out=$1 nexus
	nexus=$(cat "$tpg_dir/nexus" 2>/dev/null)
	case $nexus in
	naa.[0-9a-f]*) ;;
	*) echo "$tpg_dir/nexus holds '$nexus', not an naa. initiator name"; return ;;
	esac
	# The TPG's line in "targetcli ls" shows the nexus rtslib set.
	grep -E 'o- tpg1 ' "$out" | grep -qF "$nexus" ||
		echo "the nexus $nexus is not the one targetcli shows: $(grep -E 'o- tpg1 ' "$out")"
}

targetcli_delete() {
	local log=$1 left
	tcli "$log" /vhost delete "$wwpn" || echo "targetcli /vhost delete $wwpn failed"
	tcli "$log" /backstores/ramdisk delete r0 || echo "targetcli /backstores/ramdisk delete r0 failed"
	[ ! -e "$TV_CFS/vhost/$wwpn" ] || echo "$TV_CFS/vhost/$wwpn is still there"
	[ -z "$(rd_dir)" ] || echo "the ramdisk is still there: $(rd_dir)"
	# targetcli gives every backstore its own HBA and removes it with it.
	[ -z "$(find "$TV_CFS/core" -mindepth 1 -maxdepth 1 -name 'rd_mcp_*' 2>/dev/null)" ] ||
		echo "HBAs left behind: $(find "$TV_CFS/core" -mindepth 1 -maxdepth 1 -name 'rd_mcp_*')"
	# discovery_auth: a group LIO gives every fabric, no target port.
	left=$(find "$TV_CFS/vhost" -mindepth 1 -maxdepth 1 -type d ! -name discovery_auth 2>/dev/null)
	[ -z "$left" ] || echo "vhost target ports left behind: $left"
}

# ---------------------------------------------------------------------------
# Unloading and loading.

# A LUN with a nexus on $wwpn/tpgt_1, by configfs.
configure_lun() {
	tv_target_rd lc0 16 &&
		tv_vhost_wwpn "$wwpn" 1 &&
		tv_vhost_lun "$wwpn" 1 0 lc0 &&
		tv_vhost_nexus "$wwpn" 1 naa.5001405c1b2c3d4f
}

# unload_refused WHAT: the module must refuse to go, and stay.
unload_refused() {
	local out
	if out=$(mod_unload 2>&1); then
		echo "unloading $mod succeeded $1"
		return
	fi
	echo "$out" | grep -qi 'in use' || echo "unloading failed, but not as in use: $out"
	mod_loaded || echo "/sys/module/$mod is gone"
	dev_present || echo "/dev/vhost-scsi is gone"
}

refused_with_tpg() {
	configure_lun 2>&1 || { echo "cannot configure a LUN"; return; }
	unload_refused "with $tpg_dir configured (refcnt $(mod_refcnt))"
	[ -d "$tpg_dir/lun/lun_0" ] || echo "the LUN is gone"
	tv_target_clear 2>&1 || echo "teardown failed"
}

refused_while_open() {
	local t=$TV_CFS/vhost
	tv_target_clear 2>&1 || echo "teardown failed"
	[ ! -e "$t" ] || { echo "$t is still there after teardown"; return; }
	exec 3<>/dev/vhost-scsi || { echo "cannot open /dev/vhost-scsi"; return; }
	unload_refused "with /dev/vhost-scsi open (refcnt $(mod_refcnt))"
	exec 3<&-
}

# Full teardown (tv_target_clear also drops the vhost fabric directory,
# which holds the module), then the module must unload.
unload_after_teardown() {
	local out
	tv_target_clear 2>&1 || echo "teardown failed"
	[ ! -e "$TV_CFS/vhost" ] && [ ! -e "$TV_CFS/core/rd_mcp_0" ] ||
		echo "left behind after teardown: $(tv_target_tree)"
	out=$(mod_unload 2>&1) ||
		{ echo "unloading $mod failed (refcnt $(mod_refcnt)): $out"; return; }
	! mod_loaded || echo "/sys/module/$mod is still there"
}

dev_gone() {
	mod_loaded && { echo "$mod is loaded"; return; }
	dev_absent || echo "/dev/vhost-scsi or /sys/class/misc/vhost-scsi is still there"
}

reload() {
	local out
	out=$(mod_load 2>&1) || { echo "loading $mod failed: $out"; return; }
	mod_loaded || echo "/sys/module/$mod is missing"
	dev_present || { echo "/dev/vhost-scsi did not come back"; return; }
	dev_opens || echo "cannot open /dev/vhost-scsi"
	configure_lun 2>&1 || echo "cannot configure a LUN after the reload"
	tv_target_clear 2>&1 || echo "teardown failed"
}

# ---------------------------------------------------------------------------
# endpoint_test: set_and_io does I/O through a LUN; close_with_io_in_flight
# and clear_with_io_in_flight close the device or clear the endpoint while
# writes are in flight.  The 6.1 kselftest harness cannot pick one test, so
# the whole binary runs (~20 s under TCG).  Its TAP goes to a log, shown
# behind "#   | " on failure so that no counter takes its lines for ours.

ep_log=$logdir/lifecycle-endpoint_test.log
ep_rc=

run_endpoint_test() {
	local t0=$SECONDS
	if [ ! -x "$st/endpoint_test" ] || [ "$st/endpoint_test.c" -nt "$st/endpoint_test" ] ||
		[ "$st/vs_lib.c" -nt "$st/endpoint_test" ]; then
		make -s -C "$st" endpoint_test >"$ep_log" 2>&1
	fi
	(cd "$st" && TV_MODULE=$mod timeout -k 10 300 ./endpoint_test) >>"$ep_log" 2>&1
	ep_rc=$?
	t_endpoint=$((SECONDS - t0))
}

# ep_case_ok NAME: test ep.NAME reported "ok".  The 6.1 harness prints a
# skipped test (the in-tree module's known failures) nameless, "ok N #
# SKIP ...": results go by the "RUN" line before them.
ep_case_ok() {
	awk -v t="ep.$1" '
		$1 == "#" && $2 == "RUN" { run = $3; next }
		/^(not ok|ok) [0-9]+/ {
			if (run == t || $3 == t) { found = 1; good = ($1 == "ok") }
			run = ""
		}
		END { exit !(found && good) }' "$ep_log"
}

ep_show() {
	echo "$1"
	echo "endpoint_test (status $ep_rc), $ep_log:"
	sed 's/^/  | /' "$ep_log" | tail -n 60
}

io_after_reload() {
	ep_case_ok set_and_io || ep_show "ep.set_and_io did not pass"
}

io_in_flight() {
	local c why=
	for c in close_with_io_in_flight clear_with_io_in_flight; do
		ep_case_ok "$c" || why="${why}ep.$c did not pass
"
	done
	[ "$ep_rc" -eq 0 ] || why="${why}endpoint_test exited with status $ep_rc
"
	[ -z "$why" ] || ep_show "$why"
}

unload_after_io() {
	unload_after_teardown
	mod_loaded && return
	out=$(mod_load 2>&1) || { echo "loading $mod again failed: $out"; return; }
	dev_present || echo "/dev/vhost-scsi did not come back"
}

dmesg_clean() {
	local log bad
	log=$(dmesg | sed -n "/$mark/,\$p")
	bad=$(echo "$log" | grep -E "$bad_dmesg")
	[ -z "$bad" ] || echo "$log" | grep -E -B 2 -A 12 "$bad_dmesg" | head -n 60
}

# ---------------------------------------------------------------------------

main() {
	local tlog=$logdir/lifecycle-targetcli.log ls_out=$work/ls.txt t0=$SECONDS t1

	case $mod in
	tcm_vhost | vhost_scsi) ;;
	*)
		echo "ok 1 - lifecycle # SKIP TV_MODULE is '$mod', not tcm_vhost or vhost_scsi"
		exit 0
		;;
	esac
	mkdir -p "$work" "$logdir"
	: >"$tlog"
	export HOME=${HOME:-/root} TARGETCLI_HOME=$work/targetcli
	mark="tv-lifecycle-start-$$-$RANDOM"
	echo "$mark" >/dev/kmsg
	echo "# lifecycle of $mod ($(uname -r))"

	if ! mod_loaded; then
		echo "Bail out! $mod is not loaded"
		exit 1
	fi
	tv_target_clear || echo "# the configuration found at the start did not tear down cleanly"
	start_dbus

	t1=$SECONDS
	result "targetcli creates ramdisk r0, $wwpn/tpg1 and its LUN" "$(targetcli_create "$tlog")"
	result "targetcli ls shows the WWPN, tpg1 and lun0" "$(targetcli_ls "$tlog" "$ls_out")"
	result "the TPG's nexus holds the initiator targetcli set" "$(targetcli_nexus "$ls_out")"
	result "targetcli delete leaves configfs clean" "$(targetcli_delete "$tlog")"
	t_targetcli=$((SECONDS - t1))
	stop_dbus
	[ "$failed" -eq 0 ] || echo "# targetcli's output: $tlog"

	result "unload refused while a WWPN/TPG is configured" "$(refused_with_tpg)"
	result "unload refused while /dev/vhost-scsi is open" "$(refused_while_open)"
	result "unload after full teardown" "$(unload_after_teardown)"
	result "/dev/vhost-scsi disappears with the module" "$(dev_gone)"
	result "load again: /dev/vhost-scsi back, a LUN configures" "$(reload)"

	t_endpoint=0
	if mod_loaded; then
		run_endpoint_test
		result "I/O after the reload (endpoint_test ep.set_and_io)" "$(io_after_reload)"
		result "endpoint_test with I/O in flight at close and clear" "$(io_in_flight)"
	else
		result "I/O after the reload (endpoint_test ep.set_and_io)" "not run: $mod is not loaded"
		result "endpoint_test with I/O in flight at close and clear" "not run: $mod is not loaded"
	fi
	result "unload after I/O in flight and teardown, load again" "$(unload_after_io)"
	result "kernel log clean" "$(dmesg_clean)"

	mod_loaded || mod_load >/dev/null 2>&1
	echo "# lifecycle: $((SECONDS - t0)) s (targetcli ${t_targetcli} s, endpoint_test ${t_endpoint} s)"
	exit "$failed"
}

main "$@"
