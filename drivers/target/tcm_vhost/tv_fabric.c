// SPDX-License-Identifier: GPL-2.0
/*
 * tcm_vhost: the LIO fabric "vhost" - the fabric ops template, the
 * command callbacks LIO makes into the fabric, and the I_T nexus.
 *
 * Locking (outermost first, see also tv_target.h):
 *   tv_tpg_list_lock  guards tv_tpg_list; taken by make/drop tpg (in
 *                     tv_configfs.c) and by the vhost side to bind TPGs.
 *   tv_tpg.lock       guards tpg->se_sess and tpg->nexus_name here (and
 *                     tpg->dev, tpg->lun_count elsewhere).  A nexus is
 *                     created (target_setup_session()) and detached under
 *                     it; a detached session is drained and freed only
 *                     after the lock is dropped, so waiting for commands
 *                     never blocks the vhost side on tpg->lock.
 * The command callbacks take no lock here: they forward to the vhost
 * side, which owns every command.
 */

#include <linux/err.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/string.h>
#include <target/target_core_base.h>
#include <target/target_core_fabric.h>

#include "tv_compat.h"
#include "tv_fabric.h"

/* Guards tv_tpg_list and TPG binding; see the locking notes above. */
DEFINE_MUTEX(tv_tpg_list_lock);
LIST_HEAD(tv_tpg_list);

/* ---- TPG and session properties ---- */

static char *tv_tpg_get_wwn(struct se_portal_group *se_tpg)
{
	return tv_tpg_from_se(se_tpg)->tport->name;
}

static u16 tv_tpg_get_tag(struct se_portal_group *se_tpg)
{
	return tv_tpg_from_se(se_tpg)->tpgt;
}

/*
 * Demo mode: any initiator name written to "nexus" gets a dynamic node
 * ACL, kept (cached) after its session ends so that explicit settings
 * made through it survive a nexus re-creation.
 */
static int tv_tpg_check_true(struct se_portal_group *se_tpg)
{
	return 1;
}

static int tv_tpg_check_prot_fabric_only(struct se_portal_group *se_tpg)
{
	return READ_ONCE(tv_tpg_from_se(se_tpg)->fabric_prot_type);
}

#if TV_FABRIC_NEEDS_TRIVIAL_OPS
static int tv_tpg_check_false(struct se_portal_group *se_tpg)
{
	return 0;
}

static u32 tv_tpg_get_inst_index(struct se_portal_group *se_tpg)
{
	return 1;
}

static u32 tv_sess_get_index(struct se_session *se_sess)
{
	return 0;
}

static void tv_set_default_node_attributes(struct se_node_acl *nacl)
{
}

static int tv_get_cmd_state(struct se_cmd *se_cmd)
{
	return 0;
}
#endif /* TV_FABRIC_NEEDS_TRIVIAL_OPS */

/* ---- command callbacks: all forwarded to the vhost side ---- */

/*
 * LIO's last touch of a command: it calls this after queue_data_in,
 * queue_status or queue_tm_rsp (or after aborted_task) and never looks at
 * the command again.  Every kernel we build for requires the callback and
 * calls it unconditionally.  A command submitted with TARGET_SCF_ACK_KREF
 * holds a reference for this moment, dropped here, so that release_cmd
 * cannot run while LIO still uses the command.  After an abort without
 * TAS, LIO has already dropped that reference itself and the one dropped
 * here is the submitter's.  Without ACK_KREF there is nothing to drop.
 * Returns 1 if the command was released here.
 */
static int tv_check_stop_free(struct se_cmd *se_cmd)
{
	if (se_cmd->se_cmd_flags & SCF_ACK_KREF)
		return target_put_sess_cmd(se_cmd);
	return 0;
}

/*
 * The data is already in place: the scatterlist maps the guest's pages
 * (zero-copy), so a WRITE can execute at once.
 */
static int tv_write_pending(struct se_cmd *se_cmd)
{
	target_execute_cmd(se_cmd);
	return 0;
}

static int tv_queue_status(struct se_cmd *se_cmd)
{
	return tv_scsi_queue_status(se_cmd);
}

/* ---- the I_T nexus ---- */

/*
 * Unhook the nexus from @tpg; the caller frees it with tv_nexus_free()
 * once tpg->lock is dropped.
 */
static struct se_session *tv_nexus_detach(struct tv_tpg *tpg)
{
	struct se_session *se_sess = tpg->se_sess;

	lockdep_assert_held(&tpg->lock);

	tpg->se_sess = NULL;
	tpg->nexus_name[0] = '\0';
	return se_sess;
}

/*
 * Wait for any command still holding the session (there should be none:
 * a nexus is only detached while no device is bound), then free it.
 */
static void tv_nexus_free(struct se_session *se_sess)
{
	target_stop_session(se_sess);
	target_wait_for_sess_cmds(se_sess);
	target_remove_session(se_sess);
}

/**
 * tv_nexus_create() - create the I_T nexus of a TPG
 * @tpg: the TPG
 * @name: initiator port name, already validated and NUL-terminated,
 *	shorter than TV_NAMELEN
 *
 * Registers a demo-mode session with no tag pool (the vhost side
 * allocates its own commands) and T10-PI passed through both ways.
 *
 * Context: process context; takes and releases tpg->lock.
 * Return: 0, -EEXIST if the TPG already has a nexus, or the error of
 * target_setup_session().
 */
int tv_nexus_create(struct tv_tpg *tpg, const char *name)
{
	struct se_session *se_sess;
	int ret = 0;

	mutex_lock(&tpg->lock);
	if (tpg->se_sess) {
		ret = -EEXIST;
		goto unlock;
	}
	se_sess = target_setup_session(&tpg->se_tpg, 0, 0,
				       TARGET_PROT_DIN_PASS |
				       TARGET_PROT_DOUT_PASS,
				       name, tpg, NULL);
	if (IS_ERR(se_sess)) {
		ret = PTR_ERR(se_sess);
		goto unlock;
	}
	strscpy(tpg->nexus_name, name, sizeof(tpg->nexus_name));
	tpg->se_sess = se_sess;
unlock:
	mutex_unlock(&tpg->lock);
	return ret;
}

/**
 * tv_nexus_drop() - drop the I_T nexus of a TPG on request
 * @tpg: the TPG
 *
 * Context: process context; takes and releases tpg->lock, then may sleep
 * until the session's commands are gone.
 * Return: 0, -ENODEV if there is no nexus, -EBUSY while a vhost device
 * is bound to the TPG.
 */
int tv_nexus_drop(struct tv_tpg *tpg)
{
	struct se_session *se_sess;

	mutex_lock(&tpg->lock);
	if (!tpg->se_sess) {
		mutex_unlock(&tpg->lock);
		return -ENODEV;
	}
	if (tpg->dev) {
		mutex_unlock(&tpg->lock);
		return -EBUSY;
	}
	se_sess = tv_nexus_detach(tpg);
	mutex_unlock(&tpg->lock);

	tv_nexus_free(se_sess);
	return 0;
}

/**
 * tv_nexus_release() - drop the I_T nexus of a TPG being removed
 * @tpg: the TPG, already off tv_tpg_list
 *
 * Unlike tv_nexus_drop(), having no nexus is fine.  No device can be
 * bound here: the vhost side pins a bound TPG's configfs item.
 *
 * Context: process context; takes and releases tpg->lock, may sleep.
 */
void tv_nexus_release(struct tv_tpg *tpg)
{
	struct se_session *se_sess;

	mutex_lock(&tpg->lock);
	WARN_ON_ONCE(tpg->dev);
	se_sess = tv_nexus_detach(tpg);
	mutex_unlock(&tpg->lock);

	if (se_sess)
		tv_nexus_free(se_sess);
}

/* ---- the template ---- */

static const struct target_core_fabric_ops tv_fabric_ops = {
	.module				= THIS_MODULE,
	.fabric_name			= "vhost",
	/* node_acl_size 0: plain se_node_acl; max_data_sg_nents 0: no cap */

	.tpg_get_wwn			= tv_tpg_get_wwn,
	.tpg_get_tag			= tv_tpg_get_tag,
	.tpg_check_demo_mode		= tv_tpg_check_true,
	.tpg_check_demo_mode_cache	= tv_tpg_check_true,
	.tpg_check_prot_fabric_only	= tv_tpg_check_prot_fabric_only,
	/* tpg_check_demo_mode_login_only NULL: logins see the LUNs */
#if TV_FABRIC_NEEDS_TRIVIAL_OPS
	.tpg_check_demo_mode_write_protect = tv_tpg_check_false,
	.tpg_check_prod_mode_write_protect = tv_tpg_check_false,
	.tpg_get_inst_index		= tv_tpg_get_inst_index,
	.sess_get_index			= tv_sess_get_index,
	.set_default_node_attributes	= tv_set_default_node_attributes,
	.get_cmd_state			= tv_get_cmd_state,
#endif

	.check_stop_free		= tv_check_stop_free,
	.release_cmd			= tv_scsi_release_cmd,
	.write_pending			= tv_write_pending,
	.queue_data_in			= tv_queue_status,
	.queue_status			= tv_queue_status,
	.queue_tm_rsp			= tv_ctl_queue_tm_rsp,
	.aborted_task			= tv_scsi_aborted_task,

	.fabric_make_wwn		= tv_make_tport,
	.fabric_drop_wwn		= tv_drop_tport,
	.fabric_make_tpg		= tv_make_tpg,
	.fabric_drop_tpg		= tv_drop_tpg,
	.fabric_post_link		= tv_port_link,
	.fabric_pre_unlink		= tv_port_unlink,

	.tfc_tpg_base_attrs		= tv_tpg_attrs,
	.tfc_tpg_attrib_attrs		= tv_tpg_attrib_attrs,

#if TV_FABRIC_HAS_SUBMIT_TYPE
	/*
	 * The vhost side submits from its own worker thread, which may
	 * sleep: let target_submit() run the command there instead of
	 * bouncing it through LIO's submission workqueue.
	 */
	.default_submit_type		= TARGET_DIRECT_SUBMIT,
	.direct_submit_supp		= 1,
#endif
#if TV_FABRIC_HAS_COMPL_TYPE
	/*
	 * Complete successful commands in the backend's context: for a
	 * synchronous backend that is our worker, so a command never
	 * leaves it. tv_scsi_queue_status(), tv_scsi_release_cmd() and
	 * tv_check_stop_free() only queue work, so any context (even a
	 * block driver's hard IRQ) is fine; failures LIO still defers.
	 */
	.default_compl_type		= TARGET_DIRECT_COMPL,
	.direct_compl_supp		= 1,
#endif
};

/**
 * tv_fabric_register() - register the "vhost" fabric with LIO
 *
 * After this, configfs target/vhost/ accepts WWPNs and TPGs.
 *
 * Context: process context, module init.
 * Return: 0 or the error of target_register_template().
 */
int tv_fabric_register(void)
{
	return target_register_template(&tv_fabric_ops);
}

/**
 * tv_fabric_unregister() - unregister the "vhost" fabric from LIO
 *
 * Context: process context, module exit.  configfs pins the module
 * while target/vhost/ exists, so no WWPN or TPG is left here.
 */
void tv_fabric_unregister(void)
{
	target_unregister_template(&tv_fabric_ops);
}
