#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vs_bench matrix inside the test VM (root, LIO loaded, no other vhost
# targets configured).
#
#   bench.sh [--quick] [--rounds N] [--ios N] [--ramp N]
#       the matrix (--quick: only the rows the targets name) against
#       the module loaded now, N rounds
#   bench.sh --ab [--rounds N] ...
#       alternate rounds between tcm_vhost ($TV_KO, default the repo's
#       tcm_vhost.ko, via insmod) and the in-tree vhost_scsi (modprobe):
#       A B A B..., then a side-by-side table of medians with ratios
#       tcm_vhost / vhost_scsi.  The module loaded at the start is loaded
#       again at the end.
#
# Numbers under TCG are only good for comparing two modules in one run.

set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
T=/sys/kernel/config/target
AB=0
SET=--matrix
ROUNDS=2
IOS=20000
RAMP=2000
TV_KO=${TV_KO:-$repo/tcm_vhost.ko}
OUT=$(mktemp -d /tmp/vs_bench.XXXXXX)

usage() {
	sed -n '4,17p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--ab) AB=1; shift ;;
	--quick) SET=--quick; shift ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--ios) IOS=$2; shift 2 ;;
	--ramp) RAMP=$2; shift 2 ;;
	*) usage ;;
	esac
done

die() { echo "bench.sh: $*" >&2; exit 1; }

loaded() {
	if [ -d /sys/module/tcm_vhost ]; then echo tcm_vhost
	elif [ -d /sys/module/vhost_scsi ]; then echo vhost_scsi
	else echo none; fi
}

unload() {
	local m=$1 other
	if [ -d $T/vhost ]; then
		other=$(ls $T/vhost | grep -v -e '^discovery_auth$' -e '^version$')
		[ -z "$other" ] || die "vhost targets still configured: $other"
		# The fabric directory holds a reference on the module.
		rmdir $T/vhost || die "cannot remove $T/vhost"
	fi
	rmmod "$m" || die "cannot unload $m"
}

load() {
	case $1 in
	tcm_vhost)
		[ -f "$TV_KO" ] || die "no $TV_KO (set TV_KO)"
		insmod "$TV_KO" || die "insmod $TV_KO failed" ;;
	vhost_scsi)
		modprobe vhost_scsi || die "modprobe vhost_scsi failed" ;;
	esac
}

switch_to() {
	local cur
	cur=$(loaded)
	[ "$cur" = "$1" ] && return
	[ "$cur" = none ] || unload "$cur"
	load "$1"
}

# Run from tmpfs with locked memory: no 9p traffic while measuring.
if [ ! -x "$here/vs_bench" ] || [ "$here/vs_bench.c" -nt "$here/vs_bench" ] ||
   [ "$here/vs_lib.c" -nt "$here/vs_bench" ]; then
	make -s -C "$here" vs_bench >&2 || die "build failed"
fi
cp "$here/vs_bench" "$OUT/vs_bench" || die "cannot copy vs_bench"

run_matrix() {
	local m=$1 r=$2
	echo "# round $r: $m" >&2
	TV_MODULE=$m "$OUT/vs_bench" "$SET" --ios "$IOS" --ramp "$RAMP" |
		sed "s/\$/ round=$r/" | tee -a "$OUT/results"
	[ "${PIPESTATUS[0]}" -eq 0 ] || die "vs_bench failed on $m"
}

start=$(loaded)
[ "$start" != none ] || die "no vhost-scsi module loaded"
if [ $AB -eq 1 ]; then
	mods=("$start")
	if [ "$start" = tcm_vhost ]; then mods+=(vhost_scsi)
	else mods+=(tcm_vhost); fi
else
	mods=("$start")
fi

for r in $(seq 1 "$ROUNDS"); do
	for m in "${mods[@]}"; do
		switch_to "$m"
		run_matrix "$m" "$r"
	done
done
switch_to "$start"

# Medians per configuration and module, side by side.
awk -v ab=$AB '
function med(list,   n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	if (n == 0) return 0
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^bench / {
	delete kv
	for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
	c = kv["backstore"] " " kv["rw"] " qd" kv["qd"] " q" kv["queues"]
	if (!(c in seen)) { seen[c] = 1; order[++nc] = c }
	iops[c, kv["module"]] = iops[c, kv["module"]] " " kv["iops"]
	p99[c, kv["module"]] = p99[c, kv["module"]] " " kv["lat_p99_us"]
	gap[c, kv["module"]] = gap[c, kv["module"]] " " kv["max_gap_us"]
	mods[kv["module"]] = 1
}
END {
	if (ab) {
		printf "%-22s %12s %12s %7s %10s %10s %7s\n", "config",
		       "tcm_vhost", "vhost_scsi", "ratio", "p99_tcm", "p99_vs",
		       "ratio"
		for (i = 1; i <= nc; i++) {
			c = order[i]
			a = med(iops[c, "tcm_vhost"]); b = med(iops[c, "vhost_scsi"])
			pa = med(p99[c, "tcm_vhost"]); pb = med(p99[c, "vhost_scsi"])
			printf "%-22s %12.1f %12.1f %7.2f %10.1f %10.1f %7.2f\n",
			       c, a, b, b ? a / b : 0, pa, pb, pb ? pa / pb : 0
		}
	} else {
		for (m in mods) mod = m
		printf "%-22s %12s %12s %12s   (%s, medians)\n", "config",
		       "iops", "p99_us", "max_gap_us", mod
		for (i = 1; i <= nc; i++) {
			c = order[i]
			printf "%-22s %12.1f %12.1f %12.1f\n", c,
			       med(iops[c, mod]), med(p99[c, mod]),
			       med(gap[c, mod])
		}
	}
}' "$OUT/results"
echo "# raw results: $OUT/results" >&2
