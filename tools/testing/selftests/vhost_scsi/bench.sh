#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vs_bench matrix inside the test VM (root, LIO loaded, no other vhost
# targets configured).
#
#   bench.sh [--quick|--scaling] [--workers] [--rounds N] [--ios N] [--ramp N]
#       the matrix (--quick: only the rows the targets name; --scaling:
#       QD32 reads on 1 and 4 queues; --workers: a worker per request
#       queue where the module has VHOST_NEW_WORKER) against
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
WORKERS=
TV_KO=${TV_KO:-$repo/tcm_vhost.ko}
OUT=$(mktemp -d /tmp/vs_bench.XXXXXX)

usage() {
	sed -n '4,19p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--ab) AB=1; shift ;;
	--quick) SET=--quick; shift ;;
	--scaling) SET=--scaling; shift ;;
	--workers) WORKERS=--workers; shift ;;
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
	# shellcheck disable=SC2086 # WORKERS: empty or one word
	TV_MODULE=$m "$OUT/vs_bench" "$SET" $WORKERS --ios "$IOS" --ramp "$RAMP" |
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

# Medians per configuration and module, side by side.  In -icount mode
# (TV_BENCH_ICOUNT=1, set by scripts/bench) guest time is instructions
# x 2 ns, so instructions per I/O = 5e8 / IOPS.  spread is the widest
# (max - min) / median of IOPS over the rounds, either module.  Then, per
# module, what 4 queues deliver over 1 (scaling; only wall-clock runs
# with several vCPUs can show it).
awk -v ab=$AB -v icount="${TV_BENCH_ICOUNT:-0}" '
function sorted(list, a,   n, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n
}
function med(list,   n, a) {
	n = sorted(list, a)
	if (n == 0) return 0
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function spread(list,   n, a, m) {
	n = sorted(list, a)
	m = med(list)
	return n && m ? (a[n] - a[1]) / m : 0
}
function kinstr(iops) {
	return icount && iops ? sprintf("%.1f", 5e5 / iops) : "-"
}
/^bench / {
	delete kv
	for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
	c = kv["backstore"] " " kv["rw"] " qd" kv["qd"] " q" kv["queues"]
	if (!(c in seen)) { seen[c] = 1; order[++nc] = c }
	m = kv["module"]
	iops[c, m] = iops[c, m] " " kv["iops"]
	mean[c, m] = mean[c, m] " " kv["lat_mean_us"]
	p99[c, m] = p99[c, m] " " kv["lat_p99_us"]
	gap[c, m] = gap[c, m] " " kv["max_gap_us"]
	cs[c, m] = cs[c, m] " " kv["cs_per_io"]
	mods[m] = 1
	if (kv["queues"] > 1)
		wk[m] = wk[m] == "" || wk[m] == kv["workers"] ? kv["workers"] : "mixed"
}
END {
	if (ab) {
		printf "%-20s %9s %9s %6s %7s %7s %13s %13s %6s %6s %6s\n",
		       "config", "iops_tcm", "iops_vs", "ratio", "ki/io_t",
		       "ki/io_v", "mean/p99_tcm", "mean/p99_vs", "cs_t",
		       "cs_v", "spread"
		for (i = 1; i <= nc; i++) {
			c = order[i]
			a = med(iops[c, "tcm_vhost"]); b = med(iops[c, "vhost_scsi"])
			sp = spread(iops[c, "tcm_vhost"])
			if (spread(iops[c, "vhost_scsi"]) > sp)
				sp = spread(iops[c, "vhost_scsi"])
			printf "%-20s %9.0f %9.0f %6.2f %7s %7s %6.0f/%-6.0f %6.0f/%-6.0f %6.3f %6.3f %5.1f%%\n",
			       c, a, b, b ? a / b : 0, kinstr(a), kinstr(b),
			       med(mean[c, "tcm_vhost"]), med(p99[c, "tcm_vhost"]),
			       med(mean[c, "vhost_scsi"]), med(p99[c, "vhost_scsi"]),
			       med(cs[c, "tcm_vhost"]), med(cs[c, "vhost_scsi"]),
			       100 * sp
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
	line = ""
	for (m in wk) {
		w = "its own placement (no worker ioctls, or not asked)"
		if (wk[m] == "per-queue")
			w = "a worker per queue (VHOST_NEW_WORKER)"
		line = line sprintf("  %s: %s", m, w)
	}
	if (line != "")
		printf "\nworkers of the 4-queue rows:%s\n", line
	printf "\nscaling (iops with 4 queues / with 1):\n"
	for (i = 1; i <= nc; i++) {
		c = order[i]
		if (c !~ / q4$/)
			continue
		c1 = c
		sub(/ q4$/, " q1", c1)
		if (!(c1 in seen))
			continue
		line = sprintf("  %-18s", substr(c, 1, length(c) - 3))
		for (m in mods)
			line = line sprintf("  %s %.2f", m,
					    med(iops[c1, m]) ? med(iops[c, m]) / med(iops[c1, m]) : 0)
		print line
	}
}' "$OUT/results"
echo "# raw results: $OUT/results" >&2
