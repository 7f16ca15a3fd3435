# SPDX-License-Identifier: GPL-2.0
#
# LIO configuration helpers for scripts running inside the test VM
# (POSIX sh; source it: . "$TV_REPO/tools/testing/vm/lib.sh").
#
# Plain configfs writes, no targetcli: a targetcli start costs ~10 s under
# TCG.  The layout is the one the in-tree vhost_scsi fabric and tcm_vhost
# share: /sys/kernel/config/target/vhost/WWPN/tpgt_N/{lun/lun_M,nexus}.
#
#   tv_target_rd NAME SIZE_MB          ramdisk backstore (rd_mcp)
#   tv_target_nullio NAME SIZE_MB      rd_mcp with rd_nullio=1 (no data kept)
#   tv_target_fileio NAME PATH SIZE    fileio backstore on PATH (created or
#                                      grown to SIZE: bytes, or K/M/G suffix)
#   tv_backstore NAME                  prints the configfs dir of backstore NAME
#   tv_vhost_wwpn WWPN TPGT            vhost target port and its TPG
#   tv_vhost_lun WWPN TPGT LUN BACKSTORE   exports backstore NAME as LUN
#   tv_vhost_nexus WWPN TPGT INITIATOR_WWPN   creates the I_T nexus
#   tv_target_tree                     prints the current configuration
#   tv_target_clear                    tears everything down, in order
#   tv_case NAME WHY                   one TAP case (see there)
#
# Every function returns non-zero (with a message on stderr) on failure.

TV_CFS=/sys/kernel/config/target

tv_err() {
	echo "tv lib: $*" >&2
	return 1
}

# Sizes: plain bytes or a K/M/G suffix (powers of 1024).
tv_bytes() {
	case $1 in
	*[Kk]) echo $((${1%?} * 1024)) ;;
	*[Mm]) echo $((${1%?} * 1024 * 1024)) ;;
	*[Gg]) echo $((${1%?} * 1024 * 1024 * 1024)) ;;
	*[!0-9]* | '') tv_err "bad size '$1'" ;;
	*) echo "$1" ;;
	esac
}

# The first free HBA directory core/PLUGIN_N (one HBA per backstore, as
# targetcli does).
tv_new_hba() {
	_n=0
	while [ -e "$TV_CFS/core/$1_$_n" ]; do
		_n=$((_n + 1))
	done
	mkdir "$TV_CFS/core/$1_$_n" || tv_err "cannot create HBA $1_$_n" || return
	echo "$TV_CFS/core/$1_$_n"
}

tv_backstore() {
	for _so in "$TV_CFS"/core/*/"$1"; do
		[ -f "$_so/control" ] && { echo "$_so"; return 0; }
	done
	tv_err "no backstore named '$1'"
}

# Creates storage object NAME on a new HBA of PLUGIN, writes CONTROL to its
# control file and enables it.
tv_new_backstore() {
	[ -e "$TV_CFS/core" ] || modprobe target_core_mod || return
	tv_backstore "$2" >/dev/null 2>&1 && { tv_err "backstore '$2' exists"; return; }
	_hba=$(tv_new_hba "$1") || return
	mkdir "$_hba/$2" &&
		echo "$3" >"$_hba/$2/control" &&
		echo 1 >"$_hba/$2/enable" ||
		tv_err "cannot create $1 backstore '$2' ($3)"
}

tv_target_rd() {
	[ $# -eq 2 ] || tv_err "usage: tv_target_rd NAME SIZE_MB" || return
	tv_new_backstore rd_mcp "$1" "rd_pages=$(($2 * 256))"
}

tv_target_nullio() {
	[ $# -eq 2 ] || tv_err "usage: tv_target_nullio NAME SIZE_MB" || return
	tv_new_backstore rd_mcp "$1" "rd_pages=$(($2 * 256)),rd_nullio=1"
}

tv_target_fileio() {
	[ $# -eq 3 ] || tv_err "usage: tv_target_fileio NAME PATH SIZE" || return
	_size=$(tv_bytes "$3") || return
	# Keep existing contents; only grow the file to the size asked for.
	if [ ! -f "$2" ] || [ "$(stat -c %s "$2")" -lt "$_size" ]; then
		truncate -s "$_size" "$2" || tv_err "cannot create $2" || return
	fi
	tv_new_backstore fileio "$1" "fd_dev_name=$2,fd_dev_size=$_size"
}

tv_vhost_wwpn() {
	[ $# -eq 2 ] || tv_err "usage: tv_vhost_wwpn WWPN TPGT" || return
	mkdir -p "$TV_CFS/vhost/$1/tpgt_$2" ||
		tv_err "cannot create vhost/$1/tpgt_$2 (is a vhost fabric module loaded?)"
}

tv_vhost_lun() {
	[ $# -eq 4 ] || tv_err "usage: tv_vhost_lun WWPN TPGT LUN BACKSTORE" || return
	_so=$(tv_backstore "$4") || return
	_lun=$TV_CFS/vhost/$1/tpgt_$2/lun/lun_$3
	mkdir "$_lun" && ln -s "$_so" "$_lun/$4" ||
		tv_err "cannot export '$4' as LUN $3 of vhost/$1/tpgt_$2"
}

tv_vhost_nexus() {
	[ $# -eq 3 ] || tv_err "usage: tv_vhost_nexus WWPN TPGT INITIATOR_WWPN" || return
	echo "$3" >"$TV_CFS/vhost/$1/tpgt_$2/nexus" ||
		tv_err "cannot create the nexus of vhost/$1/tpgt_$2 for $3"
}

tv_target_tree() {
	[ -d "$TV_CFS" ] || return 0
	for _so in "$TV_CFS"/core/*_[0-9]*/*/; do
		[ -f "$_so/control" ] || continue
		_so=${_so%/}
		echo "backstore ${_so#"$TV_CFS/core/"}: $(head -n 1 "$_so/info" 2>/dev/null)"
	done
	for _tpg in "$TV_CFS"/*/*/tpgt_*/; do
		[ -d "$_tpg" ] || continue
		_tpg=${_tpg%/}
		echo "tpg ${_tpg#"$TV_CFS/"}: nexus $(cat "$_tpg/nexus" 2>/dev/null || echo none)"
		for _lun in "$_tpg"/lun/lun_*/; do
			[ -d "$_lun" ] || continue
			for _l in "$_lun"*; do
				[ -L "$_l" ] || continue
				_to=$(readlink -f "$_l")
				echo "  $(basename "$_lun") -> ${_to#"$TV_CFS/core/"}"
			done
		done
	done
}

# Tears down one TPG: LUNs first (a LUN holds a reference on its backstore
# and on the TPG), then ACLs and portals (other fabrics), then the I_T nexus
# (vhost and loopback drop it when "NULL" is written; it fails while a
# vhost device still has the endpoint set), then the TPG itself.
tv_clear_tpg() {
	_t=$1
	[ -f "$_t/enable" ] && echo 0 >"$_t/enable" 2>/dev/null
	for _lun in "$_t"/lun/lun_*; do
		[ -d "$_lun" ] || continue
		for _l in "$_lun"/*; do
			[ -L "$_l" ] && rm -f "$_l"
		done
		rmdir "$_lun"
	done
	for _acl in "$_t"/acls/*; do
		[ -d "$_acl" ] || continue
		for _m in "$_acl"/lun_*; do
			[ -d "$_m" ] || continue
			for _l in "$_m"/*; do
				[ -L "$_l" ] && rm -f "$_l"
			done
			rmdir "$_m"
		done
		rmdir "$_acl"
	done
	for _np in "$_t"/np/*; do
		[ -d "$_np" ] && rmdir "$_np"
	done
	if [ -f "$_t/nexus" ] && [ -n "$(cat "$_t/nexus" 2>/dev/null)" ]; then
		echo NULL >"$_t/nexus" || tv_err "cannot drop the nexus of $_t"
	fi
	rmdir "$_t"
}

tv_target_clear() {
	[ -d "$TV_CFS" ] || return 0
	for _fab in "$TV_CFS"/*; do
		[ -d "$_fab" ] && [ "${_fab##*/}" != core ] || continue
		for _wwn in "$_fab"/*; do
			[ -d "$_wwn" ] || continue
			# A fabric's default group (iscsi) is no target port.
			[ "${_wwn##*/}" = discovery_auth ] && continue
			for _tpg in "$_wwn"/tpgt_*; do
				[ -d "$_tpg" ] && tv_clear_tpg "$_tpg"
			done
			rmdir "$_wwn"
		done
		# Dropping the fabric directory lets its module be unloaded;
		# the fabric comes back with the next mkdir.
		rmdir "$_fab" 2>/dev/null
	done
	for _hba in "$TV_CFS"/core/*_[0-9]*; do
		[ -d "$_hba" ] || continue
		for _so in "$_hba"/*; do
			[ -f "$_so/control" ] || continue
			for _gp in "$_so"/alua/*; do
				[ -d "$_gp" ] && [ "${_gp##*/}" != default_tg_pt_gp ] && rmdir "$_gp"
			done
			rmdir "$_so"
		done
		rmdir "$_hba"
	done
	# Whatever is left is a failure to tear down.
	_left=$(find "$TV_CFS"/*/ -maxdepth 2 -name 'tpgt_*' 2>/dev/null)
	_left="$_left$(find "$TV_CFS/core" -maxdepth 1 -name '*_[0-9]*' 2>/dev/null)"
	[ -z "$_left" ] || tv_err "left behind after teardown: $_left"
}

# tv_case NAME WHY: one TAP case, "ok" when WHY (the reasons for failure,
# one a line) is empty, else "not ok" with WHY as diagnostics.  Counts in
# n and failed (set both to 0 first); NAME is prefixed by TV_CASE_PREFIX.
tv_case() {
	n=$((n + 1))
	if [ -z "$2" ]; then
		echo "ok $n - ${TV_CASE_PREFIX:-}$1"
	else
		failed=1
		echo "not ok $n - ${TV_CASE_PREFIX:-}$1"
		printf '%s\n' "$2" | sed 's/^/#   /'
	fi
}
