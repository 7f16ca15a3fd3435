/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tcm_vhost: the LIO fabric "vhost" as seen by the vhost side.
 *
 * configfs layout (what targetcli drives):
 *   /sys/kernel/config/target/vhost/naa.<16 hex>/       a struct tv_tport
 *   .../tpgt_<N>/                                       a struct tv_tpg
 *   .../tpgt_<N>/nexus                                  the I_T nexus
 *   .../tpgt_<N>/lun/lun_<M>/                           LUNs (LIO's)
 *
 * Locking, outermost first:
 *   tv_tpg_list_lock  guards tv_tpg_list and every tpg->dev binding change
 *                     (SET/CLEAR_ENDPOINT take it, so do make/drop tpg);
 *   tv_dev.mutex      (vhost side) device state;
 *   tv_tpg.lock       guards the tpg fields marked below;
 *   tv_vq.mutex       (vhost side) one virtqueue.
 * The fabric's LUN link/unlink hooks hold tpg->lock and call into the
 * vhost side, which may only take virtqueue mutexes from there.
 */
#ifndef TV_TARGET_H
#define TV_TARGET_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <target/target_core_base.h>

#define TV_NAMELEN	256
/* virtio-scsi addresses 256 targets (lun[1]); a target is a TPG tag. */
#define TV_MAX_TARGETS	256
/* Single-level flat LUNs: 14 bits. */
#define TV_MAX_LUNS	16384

struct tv_dev;

/**
 * struct tv_tport - a vhost WWPN (configfs vhost/naa.XXXX)
 * @proto_id: SCSI protocol identifier derived from the name prefix
 * @name: the WWPN as written in configfs, e.g. "naa.5001405c1b2c3d4e"
 * @se_wwn: LIO's handle
 */
struct tv_tport {
	u8 proto_id;
	char name[TV_NAMELEN];
	struct se_wwn se_wwn;
};

/**
 * struct tv_tpg - a target portal group (configfs .../tpgt_N)
 * @tpgt: the tag N; the guest addresses it as target N (lun[1])
 * @tport: owning WWPN
 * @se_tpg: LIO's handle
 * @node: on tv_tpg_list
 * @lock: guards @se_sess, @nexus_name, @dev, @lun_count
 * @se_sess: the I_T nexus session, or NULL when none is set
 * @nexus_name: initiator port name of @se_sess
 * @dev: device bound by VHOST_SCSI_SET_ENDPOINT, or NULL
 * @lun_count: LUNs linked into this TPG
 * @fabric_prot_type: T10-PI type the fabric emulates (attrib)
 */
struct tv_tpg {
	u16 tpgt;
	struct tv_tport *tport;
	struct se_portal_group se_tpg;
	struct list_head node;
	struct mutex lock;	/* see above */
	struct se_session *se_sess;
	char nexus_name[TV_NAMELEN];
	struct tv_dev *dev;
	int lun_count;
	u32 fabric_prot_type;
};

extern struct mutex tv_tpg_list_lock;
extern struct list_head tv_tpg_list;

int tv_fabric_register(void);
void tv_fabric_unregister(void);

/* Implemented by the vhost side (drivers/vhost/), called by fabric ops. */
int tv_scsi_queue_status(struct se_cmd *se_cmd);
void tv_scsi_aborted_task(struct se_cmd *se_cmd);
void tv_scsi_release_cmd(struct se_cmd *se_cmd);
void tv_ctl_queue_tm_rsp(struct se_cmd *se_cmd);
void tv_evt_lun_changed(struct tv_tpg *tpg, struct se_lun *lun, bool added);
void tv_evt_param_changed(struct tv_tpg *tpg, struct se_lun *lun, u8 asc,
			  u8 ascq);

#endif /* TV_TARGET_H */
