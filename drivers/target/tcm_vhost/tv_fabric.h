/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tcm_vhost: declarations private to the LIO fabric side
 * (tv_fabric.c: fabric ops and nexus management;
 *  tv_configfs.c: configfs groups, attributes and LUN link hooks).
 */
#ifndef TV_FABRIC_H
#define TV_FABRIC_H

#include <linux/configfs.h>
#include <target/target_core_base.h>
#include <target/target_core_fabric.h>

#include "tv_target.h"

static inline struct tv_tport *tv_tport_from_wwn(struct se_wwn *wwn)
{
	return container_of(wwn, struct tv_tport, se_wwn);
}

static inline struct tv_tpg *tv_tpg_from_se(struct se_portal_group *se_tpg)
{
	return container_of(se_tpg, struct tv_tpg, se_tpg);
}

/* tv_fabric.c */
int tv_nexus_create(struct tv_tpg *tpg, const char *name);
int tv_nexus_drop(struct tv_tpg *tpg);
void tv_nexus_release(struct tv_tpg *tpg);

/* tv_configfs.c */
struct se_wwn *tv_make_tport(struct target_fabric_configfs *tf,
			     struct config_group *group, const char *name);
void tv_drop_tport(struct se_wwn *wwn);
struct se_portal_group *tv_make_tpg(struct se_wwn *wwn, const char *name);
void tv_drop_tpg(struct se_portal_group *se_tpg);
int tv_port_link(struct se_portal_group *se_tpg, struct se_lun *lun);
void tv_port_unlink(struct se_portal_group *se_tpg, struct se_lun *lun);

extern struct configfs_attribute *tv_tpg_attrs[];
extern struct configfs_attribute *tv_tpg_attrib_attrs[];

#endif /* TV_FABRIC_H */
