// SPDX-License-Identifier: GPL-2.0
/*
 * tcm_vhost: the configfs face of the LIO fabric "vhost" - WWPN and TPG
 * groups, the TPG attributes "nexus", "capacity_changed" and
 * "attrib/fabric_prot_type", and the hooks LIO calls when a LUN is linked
 * into or unlinked from a TPG.
 *
 * Locking (outermost first, see also tv_target.h):
 *   tv_tpg_list_lock  guards tv_tpg_list: make_tpg adds a TPG, drop_tpg
 *                     removes it before tearing it down.
 *   tv_tpg.lock       guards tpg->lun_count (here) and tpg->se_sess,
 *                     tpg->nexus_name (tv_fabric.c), tpg->dev (vhost
 *                     side).  The LUN hooks call tv_evt_lun_changed()
 *                     under it.
 *   se_tpg.tpg_lun_mutex  (LIO's, guards the TPG's LUN list) nests inside
 *                     tv_tpg.lock, as when LIO maps LUNs for a new nexus.
 *   tpg->fabric_prot_type is a lone word, written and read with
 *   WRITE_ONCE()/READ_ONCE().
 * configfs itself serialises the creation and removal of one item, and
 * keeps a TPG's item alive while an attribute of it is being accessed.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/configfs.h>
#include <linux/ctype.h>
#include <linux/err.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <scsi/scsi_proto.h>
#include <target/target_core_base.h>
#include <target/target_core_fabric.h>

#include "tv_compat.h"
#include "tv_fabric.h"

/* "naa." names carry a 64-bit NAA identifier (NAA 2, 5 or 6 short form). */
#define TV_NAA_HEX_DIGITS	16

/* ---- names ---- */

/* True if @s is non-empty and made of printable, non-blank characters. */
static bool tv_name_tail_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isgraph(*s))
			return false;
	return true;
}

/*
 * Validate a port name (a WWPN or an initiator name) and return the SCSI
 * protocol identifier its prefix stands for, or -EINVAL.
 */
static int tv_name_proto_id(const char *name)
{
	const char *tail;
	size_t n;

	if (strnlen(name, TV_NAMELEN) >= TV_NAMELEN)
		return -EINVAL;

	n = str_has_prefix(name, "naa.");
	if (n) {
		tail = name + n;
		if (strlen(tail) != TV_NAA_HEX_DIGITS)
			return -EINVAL;
		for (; *tail; tail++)
			if (!isxdigit(*tail))
				return -EINVAL;
		return SCSI_PROTOCOL_SAS;
	}

	n = str_has_prefix(name, "fc.");
	if (n)
		return tv_name_tail_ok(name + n) ? SCSI_PROTOCOL_FCP : -EINVAL;

	n = str_has_prefix(name, "iqn.");
	if (n)
		return tv_name_tail_ok(name + n) ? SCSI_PROTOCOL_ISCSI : -EINVAL;

	return -EINVAL;
}

/*
 * Parse "tpgt_<N>", N in canonical decimal (no sign, no leading zero) and
 * below TV_MAX_TARGETS.  Canonical form makes the tag unique per WWPN,
 * as configfs already makes the directory name unique.
 */
static int tv_parse_tpgt(const char *name, u16 *tpgt)
{
	const char *num;
	unsigned int val;
	size_t n;

	n = str_has_prefix(name, "tpgt_");
	if (!n)
		return -EINVAL;
	num = name + n;
	if (!isdigit(num[0]) || (num[0] == '0' && num[1]))
		return -EINVAL;
	if (kstrtouint(num, 10, &val) || val >= TV_MAX_TARGETS)
		return -EINVAL;
	*tpgt = val;
	return 0;
}

/* ---- WWPNs: target/vhost/<name> ---- */

/**
 * tv_make_tport() - create a WWPN (fabric_make_wwn)
 * @tf: the fabric's configfs state (unused)
 * @group: the parent group, target/vhost (unused)
 * @name: the directory name: "naa." and 16 hex digits, "fc.<x>" or
 *	"iqn.<x>"
 *
 * Context: process context, configfs mkdir.
 * Return: the new WWPN's se_wwn, ERR_PTR(-EINVAL) for a bad name or
 * ERR_PTR(-ENOMEM).
 */
struct se_wwn *tv_make_tport(struct target_fabric_configfs *tf,
			     struct config_group *group, const char *name)
{
	struct tv_tport *tport;
	int proto_id;

	proto_id = tv_name_proto_id(name);
	if (proto_id < 0) {
		pr_err("invalid WWPN \"%s\": want naa.<16 hex digits>, fc.<id> or iqn.<id>\n",
		       name);
		return ERR_PTR(proto_id);
	}

	tport = kzalloc(sizeof(*tport), GFP_KERNEL);
	if (!tport)
		return ERR_PTR(-ENOMEM);
	tport->proto_id = proto_id;
	strscpy(tport->name, name, sizeof(tport->name));
	return &tport->se_wwn;
}

/**
 * tv_drop_tport() - free a WWPN (fabric_drop_wwn)
 * @wwn: the WWPN's se_wwn
 *
 * Context: process context, configfs release of the WWPN's item; its
 * TPGs are all gone (configfs refuses to remove a non-empty group).
 */
void tv_drop_tport(struct se_wwn *wwn)
{
	kfree(tv_tport_from_wwn(wwn));
}

/* ---- TPGs: target/vhost/<wwpn>/tpgt_<N> ---- */

/**
 * tv_make_tpg() - create a TPG (fabric_make_tpg)
 * @wwn: the owning WWPN
 * @name: the directory name, "tpgt_<N>" with 0 <= N < TV_MAX_TARGETS
 *
 * Registers the TPG with LIO and publishes it on tv_tpg_list, where the
 * vhost side looks it up.  configfs finishes setting up the TPG's item
 * after this returns; until then target_depend_item() on it fails, so
 * the vhost side cannot bind a half-made TPG.
 *
 * Context: process context, configfs mkdir; takes tv_tpg_list_lock.
 * Return: the TPG's se_portal_group, ERR_PTR(-EINVAL) for a bad name,
 * ERR_PTR(-ENOMEM) or the error of core_tpg_register().
 */
struct se_portal_group *tv_make_tpg(struct se_wwn *wwn, const char *name)
{
	struct tv_tport *tport = tv_tport_from_wwn(wwn);
	struct tv_tpg *tpg;
	u16 tpgt;
	int ret;

	ret = tv_parse_tpgt(name, &tpgt);
	if (ret) {
		pr_err("%s: invalid TPG \"%s\": want tpgt_<0..%u>\n",
		       tport->name, name, TV_MAX_TARGETS - 1);
		return ERR_PTR(ret);
	}

	tpg = kzalloc(sizeof(*tpg), GFP_KERNEL);
	if (!tpg)
		return ERR_PTR(-ENOMEM);
	tpg->tpgt = tpgt;
	tpg->tport = tport;
	INIT_LIST_HEAD(&tpg->node);
	mutex_init(&tpg->lock);

	ret = core_tpg_register(&tport->se_wwn, &tpg->se_tpg, tport->proto_id);
	if (ret)
		goto free_tpg;

	mutex_lock(&tv_tpg_list_lock);
	list_add_tail(&tpg->node, &tv_tpg_list);
	mutex_unlock(&tv_tpg_list_lock);
	return &tpg->se_tpg;

free_tpg:
	mutex_destroy(&tpg->lock);
	kfree(tpg);
	return ERR_PTR(ret);
}

/**
 * tv_drop_tpg() - tear down a TPG (fabric_drop_tpg)
 * @se_tpg: the TPG's se_portal_group
 *
 * Unpublishes the TPG, drops its nexus if any, deregisters it from LIO
 * and frees it.  A TPG bound to a vhost device never gets here: the
 * vhost side holds target_depend_item() on it while bound.
 *
 * Context: process context, configfs release of the TPG's item; takes
 * tv_tpg_list_lock, then tpg->lock; may sleep.
 */
void tv_drop_tpg(struct se_portal_group *se_tpg)
{
	struct tv_tpg *tpg = tv_tpg_from_se(se_tpg);

	mutex_lock(&tv_tpg_list_lock);
	list_del_init(&tpg->node);
	mutex_unlock(&tv_tpg_list_lock);

	tv_nexus_release(tpg);
	core_tpg_deregister(se_tpg);
	mutex_destroy(&tpg->lock);
	kfree(tpg);
}

/* ---- LUN link hooks ---- */

/**
 * tv_port_link() - a LUN was linked into a TPG (fabric_post_link)
 * @se_tpg: the TPG
 * @lun: the new LUN, already live in LIO
 *
 * Counts the LUN and tells the vhost side, which may send a hot-plug
 * event to the guest.
 *
 * Context: process context, configfs symlink; takes tpg->lock.
 * Return: 0 (LIO ignores the value).
 */
int tv_port_link(struct se_portal_group *se_tpg, struct se_lun *lun)
{
	struct tv_tpg *tpg = tv_tpg_from_se(se_tpg);

	if (lun->unpacked_lun >= TV_MAX_LUNS)
		pr_warn("%s tpgt_%u: LUN %llu is beyond the %u a guest can address\n",
			tpg->tport->name, tpg->tpgt, lun->unpacked_lun,
			TV_MAX_LUNS);

	mutex_lock(&tpg->lock);
	tpg->lun_count++;
	tv_evt_lun_changed(tpg, lun, true);
	mutex_unlock(&tpg->lock);
	return 0;
}

/**
 * tv_port_unlink() - a LUN is about to be unlinked (fabric_pre_unlink)
 * @se_tpg: the TPG
 * @lun: the LUN, still live in LIO
 *
 * Context: process context, configfs unlink; takes tpg->lock.
 */
void tv_port_unlink(struct se_portal_group *se_tpg, struct se_lun *lun)
{
	struct tv_tpg *tpg = tv_tpg_from_se(se_tpg);

	mutex_lock(&tpg->lock);
	tpg->lun_count--;
	tv_evt_lun_changed(tpg, lun, false);
	mutex_unlock(&tpg->lock);
}

/* ---- TPG attribute: nexus ---- */

static struct tv_tpg *tv_tpg_from_item(struct config_item *item)
{
	return tv_tpg_from_se(container_of(to_config_group(item),
					   struct se_portal_group, tpg_group));
}

/* The initiator name, or an empty line when there is no nexus. */
static ssize_t tv_tpg_nexus_show(struct config_item *item, char *page)
{
	struct tv_tpg *tpg = tv_tpg_from_item(item);
	ssize_t len;

	mutex_lock(&tpg->lock);
	len = sysfs_emit(page, "%s\n", tpg->nexus_name);
	mutex_unlock(&tpg->lock);
	return len;
}

/* An initiator name creates the nexus, "NULL" drops it. */
static ssize_t tv_tpg_nexus_store(struct config_item *item, const char *page,
				  size_t count)
{
	struct tv_tpg *tpg = tv_tpg_from_item(item);
	char name[TV_NAMELEN];
	size_t len = count;
	int ret;

	if (len && page[len - 1] == '\n')
		len--;
	if (len >= TV_NAMELEN)
		return -EINVAL;
	memcpy(name, page, len);
	name[len] = '\0';
	/* An embedded NUL would make the name mean less than was written. */
	if (strlen(name) != len)
		return -EINVAL;

	if (!strcmp(name, "NULL")) {
		ret = tv_nexus_drop(tpg);
	} else if (tv_name_proto_id(name) < 0) {
		pr_err("%s tpgt_%u: invalid initiator name \"%s\"\n",
		       tpg->tport->name, tpg->tpgt, name);
		ret = -EINVAL;
	} else {
		ret = tv_nexus_create(tpg, name);
	}
	return ret ? ret : count;
}

CONFIGFS_ATTR(tv_tpg_, nexus);

/*
 * LIO tells no fabric when a backstore's size changes (a grown block
 * device under iblock, say), so the administrator does: writing a LUN
 * number sends the guest a parameter change event, CAPACITY DATA HAS
 * CHANGED, and a Linux guest rereads the capacity. Without a guest, or
 * if it did not negotiate VIRTIO_SCSI_F_CHANGE, nothing is sent.
 */
static ssize_t tv_tpg_capacity_changed_store(struct config_item *item,
					     const char *page, size_t count)
{
	struct tv_tpg *tpg = tv_tpg_from_item(item);
	struct se_portal_group *se_tpg = &tpg->se_tpg;
	struct se_lun *lun;
	u64 unpacked;
	int ret;

	ret = kstrtou64(page, 0, &unpacked);
	if (ret)
		return ret;
	ret = -ENODEV;
	mutex_lock(&tpg->lock);
	mutex_lock(&se_tpg->tpg_lun_mutex);
	hlist_for_each_entry(lun, &se_tpg->tpg_lun_hlist, link) {
		if (lun->unpacked_lun == unpacked) {
			tv_evt_param_changed(tpg, lun, 0x2a, 0x09);
			ret = 0;
			break;
		}
	}
	mutex_unlock(&se_tpg->tpg_lun_mutex);
	mutex_unlock(&tpg->lock);
	return ret ? ret : count;
}

CONFIGFS_ATTR_WO(tv_tpg_, capacity_changed);

struct configfs_attribute *tv_tpg_attrs[] = {
	&tv_tpg_attr_nexus,
	&tv_tpg_attr_capacity_changed,
	NULL,
};

/* ---- TPG attrib/ attribute: fabric_prot_type ---- */

static struct tv_tpg *tv_tpg_from_attrib_item(struct config_item *item)
{
	return tv_tpg_from_se(container_of(to_config_group(item),
					   struct se_portal_group,
					   tpg_attrib_group));
}

static ssize_t tv_tpg_attrib_fabric_prot_type_show(struct config_item *item,
						   char *page)
{
	struct tv_tpg *tpg = tv_tpg_from_attrib_item(item);

	return sysfs_emit(page, "%u\n", READ_ONCE(tpg->fabric_prot_type));
}

/*
 * The T10-PI type the fabric emulates for backends without PI: 0 (none),
 * 1 or 3.  LIO samples it when a nexus is registered and remembers it in
 * the initiator's node ACL, so a change reaches only initiators that have
 * no type recorded yet.
 */
static ssize_t tv_tpg_attrib_fabric_prot_type_store(struct config_item *item,
						    const char *page,
						    size_t count)
{
	struct tv_tpg *tpg = tv_tpg_from_attrib_item(item);
	u32 val;
	int ret;

	ret = kstrtou32(page, 0, &val);
	if (ret)
		return ret;
	if (val != 0 && val != 1 && val != 3)
		return -EINVAL;

	WRITE_ONCE(tpg->fabric_prot_type, val);
	return count;
}

CONFIGFS_ATTR(tv_tpg_attrib_, fabric_prot_type);

struct configfs_attribute *tv_tpg_attrib_attrs[] = {
	&tv_tpg_attrib_attr_fabric_prot_type,
	NULL,
};
