#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the vhost-scsi selftests (inside the test VM: needs root, the module
# under test loaded and LIO's configfs).  Each binary prints its own TAP;
# after each one this script adds two cases of its own:
#   dmesg.<binary>    no BUG/WARNING/Oops/GPF/... in the kernel log
#   cleanup.<binary>  the tests left no LIO objects behind
# Usage: run_tests.sh [binary...]      (default: all of them)
# Exit status: 0 if every case passed or skipped.

cd "$(dirname "$0")" || exit 1
TESTS=(abi_test endpoint_test io_test notify_test ctrl_test tmf_test
       event_test log_test pr_test hostile_test)
[ $# -gt 0 ] && TESTS=("$@")
T=/sys/kernel/config/target
TMO=${VS_TEST_TIMEOUT:-1800}

if [ -z "$TV_MODULE" ]; then
	if [ -d /sys/module/tcm_vhost ]; then TV_MODULE=tcm_vhost
	elif [ -d /sys/module/vhost_scsi ]; then TV_MODULE=vhost_scsi; fi
fi
export TV_MODULE

for t in "${TESTS[@]}"; do
	if [ ! -x "$t" ] || [ "$t.c" -nt "$t" ] || [ vs_lib.c -nt "$t" ]; then
		make -s "${TESTS[@]}" >&2 || { echo "Bail out! build failed"; exit 1; }
		break
	fi
done

n=0
failed=0
case_ok() { n=$((n + 1)); echo "ok $n $1"; }
case_fail() { n=$((n + 1)); failed=1; echo "not ok $n $1"; }

# Remove LIO objects a crashed test left behind (our names only); print
# what was found.
sweep() {
	local w tpg lun l d hba
	for w in "$T"/vhost/naa.5001405e*; do
		[ -d "$w" ] || continue
		echo "$w"
		for tpg in "$w"/tpgt_*; do
			[ -d "$tpg" ] || continue
			for lun in "$tpg"/lun/lun_*; do
				[ -d "$lun" ] || continue
				for l in "$lun"/*; do
					[ -L "$l" ] && rm -f "$l"
				done
				rmdir "$lun"
			done
			echo NULL > "$tpg/nexus" 2>/dev/null
			rmdir "$tpg"
		done
		rmdir "$w"
	done
	for d in "$T"/core/*/vst*; do
		[ -d "$d" ] || continue
		echo "$d"
		rmdir "$d"
		hba=$(dirname "$d")
		rmdir "$hba" 2>/dev/null
	done
	rm -f /tmp/vst*.img
	# null_blk disks of tmf_test (after the backstores that held them).
	for d in /sys/kernel/config/nullb/vst*; do
		[ -d "$d" ] || continue
		echo "$d"
		echo 0 > "$d/power" 2>/dev/null
		rmdir "$d"
	done
}

bad_dmesg='BUG:|WARNING:|Oops|general protection|kernel BUG|UBSAN|KASAN|'
bad_dmesg+='list_(add|del) corruption|refcount_t:|hung_task|soft lockup|'
bad_dmesg+='Call Trace'

echo "# module under test: ${TV_MODULE:-unknown} ($(uname -r))"
for t in "${TESTS[@]}"; do
	mark="vs_selftest_mark_${t}_$$_$RANDOM"
	echo "$mark" > /dev/kmsg 2>/dev/null
	timeout -k 10 "$TMO" "./$t"
	rc=$?
	[ $rc -eq 0 ] || failed=1
	[ $rc -eq 124 ] || [ $rc -eq 137 ] && case_fail "$t timed out"
	# The kernel log since this binary started.
	log=$(dmesg | sed -n "/$mark/,\$p")
	bad=$(echo "$log" | grep -E "$bad_dmesg")
	if [ -n "$bad" ]; then
		echo "$log" | grep -E -A 12 "$bad_dmesg" | head -60 | sed 's/^/# /'
		case_fail "dmesg.$t"
	else
		case_ok "dmesg.$t"
	fi
	left=$(sweep 2>&1)
	if [ -n "$left" ]; then
		echo "$left" | sed 's/^/# left behind: /'
		case_fail "cleanup.$t"
	else
		case_ok "cleanup.$t"
	fi
done
exit $failed
