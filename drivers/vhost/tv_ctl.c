// SPDX-License-Identifier: GPL-2.0
/*
 * tcm_vhost: the control queue (task management, asynchronous
 * notification) and the event queue (LUN hot-plug, missed events).
 *
 * A task management function becomes an LIO TMR (target_submit_tmr());
 * LIO answers through ->queue_tm_rsp() in any context, which puts it on
 * the control queue's done list, like request completions.
 *
 * Events are queued on the device (at most TV_MAX_EVTS) and delivered
 * whenever the guest has posted event buffers; beyond the limit, or
 * when the guest did not negotiate hot-plug for them, they are dropped
 * and the next event carries VIRTIO_SCSI_T_EVENTS_MISSED.
 *
 * Locking: the control and event handlers hold their vq mutex;
 * tv_dev.evt_lock (a spinlock, innermost) guards the pending events.
 */
#include <linux/slab.h>
#include <target/target_core_base.h>
#include <target/target_core_fabric.h>

#include "tv.h"

#define TV_MAX_EVTS	64

/**
 * struct tv_tmf - a task management function in flight
 * @se_cmd: LIO's TMR command (unused by a set-wide parent)
 * @vq: the control queue
 * @done_node: on the control queue's done list
 * @parent: for one ABORT TASK of a set-wide function, that function
 * @pending: for a set-wide parent, its children plus one
 * @sess: the nexus the function applies to
 * @subtype: VIRTIO_SCSI_T_TMF_*
 * @head: descriptor chain to return (not for a child)
 * @resp: where the one-byte response goes (not for a child)
 * @response: the virtio-scsi response
 */
struct tv_tmf {
	struct se_cmd se_cmd;
	struct tv_vq *vq;
	struct llist_node done_node;
	struct tv_tmf *parent;
	atomic_t pending;
	struct se_session *sess;
	u32 subtype;
	u16 head;
	struct tv_seg resp;
	u8 response;
};

static void tv_ctl_respond(struct tv_vq *vq, const struct tv_chain *chain,
			   const void *resp, size_t len)
{
	tv_ring_respond(vq, chain->seg + chain->nout, chain->nin, chain->head,
			resp, len, 0);
}

/*
 * A reset counts from its allocation to its free, which follows its
 * response: LIO aborts the commands it covers before it answers.
 */
static bool tv_tmf_is_reset(u32 subtype)
{
	return subtype == VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET ||
	       subtype == VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET;
}

static struct tv_tmf *tv_tmf_alloc(struct tv_vq *vq, struct se_session *sess,
				   u32 subtype)
{
	struct tv_tmf *tmf = kzalloc(sizeof(*tmf), GFP_KERNEL);

	if (!tmf)
		return NULL;
	tmf->vq = vq;
	tmf->sess = sess;
	tmf->subtype = subtype;
	tmf->response = VIRTIO_SCSI_S_FUNCTION_COMPLETE;
	atomic_set(&tmf->pending, 1);
	atomic_inc(&vq->dev->inflight);
	if (tv_tmf_is_reset(subtype))
		atomic_inc(&vq->dev->resets);
	return tmf;
}

static void tv_tmf_free(struct tv_tmf *tmf)
{
	struct tv_dev *dev = tmf->vq->dev;

	if (tv_tmf_is_reset(tmf->subtype))
		atomic_dec(&dev->resets);
	kfree(tmf);
	tv_dev_put_inflight(dev);
}

/* Queue @tmf for its response in the worker. */
static void tv_tmf_done(struct tv_tmf *tmf)
{
	struct tv_vq *vq = tmf->vq;

	llist_add(&tmf->done_node, &vq->done);
	tv_work_queue(READ_ONCE(vq->worker), &vq->done_work);
}

/* Submit one LIO TMR for @tmf; on failure, @tmf is freed. */
static int tv_tmf_submit(struct tv_tmf *tmf, u64 lun, int type, u64 tag)
{
	int ret;

	ret = target_submit_tmr(&tmf->se_cmd, tmf->sess, NULL, lun, tmf, type,
				GFP_KERNEL, tag, TARGET_SCF_ACK_KREF);
	if (ret)
		tv_tmf_free(tmf);
	return ret;
}

/*
 * ABORT TASK SET and I_T NEXUS RESET, which LIO leaves to the fabric:
 * one LIO ABORT TASK per command of the nexus (on the LUN, or on all),
 * and the answer once every one of them has finished.
 */
static void tv_tmf_abort_set(struct tv_tmf *parent, u64 lun, bool all_luns)
{
	unsigned int flags = all_luns ? TV_TASK_ANY_LUN : 0;
	struct tv_dev *dev = parent->vq->dev;
	struct tv_task *tasks = NULL;
	unsigned int i, n, max;
	struct tv_tmf *child;

	max = tv_scsi_find_tasks(dev, parent->sess, lun, 0, flags, NULL, 0);
	if (max) {
		tasks = kmalloc_array(max, sizeof(*tasks), GFP_KERNEL);
		if (!tasks)
			max = 0;
	}
	n = min(max, tv_scsi_find_tasks(dev, parent->sess, lun, 0, flags,
					tasks, max));
	for (i = 0; i < n; i++) {
		child = tv_tmf_alloc(parent->vq, parent->sess,
				     VIRTIO_SCSI_T_TMF_ABORT_TASK);
		if (!child) {
			parent->response = VIRTIO_SCSI_S_BUSY;
			break;
		}
		child->parent = parent;
		atomic_inc(&parent->pending);
		if (tv_tmf_submit(child, tasks[i].lun, TMR_ABORT_TASK,
				  tasks[i].tag)) {
			atomic_dec(&parent->pending);
			parent->response = VIRTIO_SCSI_S_BUSY;
			break;
		}
	}
	kfree(tasks);
	if (atomic_dec_and_test(&parent->pending))
		tv_tmf_done(parent);
}

/* Answer QUERY TASK and QUERY TASK SET from the commands in flight. */
static u8 tv_tmf_query(struct tv_vq *vq, struct se_session *sess, u32 subtype,
		       u64 lun, u64 tag)
{
	unsigned int flags = 0;

	if (subtype == VIRTIO_SCSI_T_TMF_QUERY_TASK)
		flags |= TV_TASK_BY_TAG;
	return tv_scsi_find_tasks(vq->dev, sess, lun, tag, flags, NULL, 0) ?
	       VIRTIO_SCSI_S_FUNCTION_SUCCEEDED :
	       VIRTIO_SCSI_S_FUNCTION_COMPLETE;
}

static void tv_ctl_tmf(struct tv_vq *vq, const struct tv_chain *chain)
{
	struct virtio_scsi_ctrl_tmf_req req;
	struct virtio_scsi_ctrl_tmf_resp resp = {
		.response = VIRTIO_SCSI_S_FUNCTION_REJECTED,
	};
	struct tv_tpg *tpg;
	struct tv_tmf *tmf;
	u32 subtype;
	u64 lun, tag;

	if (chain->in_len < sizeof(resp)) {
		tv_ring_add_used(vq, chain->head, 0);
		return;
	}
	if (tv_segs_copy_from(chain->seg, chain->nout, 0, &req, sizeof(req)) !=
	    sizeof(req)) {
		resp.response = VIRTIO_SCSI_S_FAILURE;
		goto respond;
	}
	tpg = tv_scsi_lookup_tpg(vq, req.lun, &lun);
	if (!tpg) {
		resp.response = VIRTIO_SCSI_S_BAD_TARGET;
		goto respond;
	}
	subtype = tv32(vq, req.subtype);
	tag = tv64(vq, req.tag);
	switch (subtype) {
	case VIRTIO_SCSI_T_TMF_QUERY_TASK:
	case VIRTIO_SCSI_T_TMF_QUERY_TASK_SET:
		resp.response = tv_tmf_query(vq, tpg->se_sess, subtype, lun,
					     tag);
		goto respond;
	case VIRTIO_SCSI_T_TMF_ABORT_TASK:
	case VIRTIO_SCSI_T_TMF_ABORT_TASK_SET:
	case VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET:
	case VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET:
		break;
	default:
		/* CLEAR ACA: LIO has no ACA. CLEAR TASK SET: not ours alone. */
		goto respond;
	}

	tmf = tv_tmf_alloc(vq, tpg->se_sess, subtype);
	if (!tmf) {
		resp.response = VIRTIO_SCSI_S_BUSY;
		goto respond;
	}
	tmf->head = chain->head;
	/* in_len >= 1, so the first writable segment is not empty. */
	tmf->resp = chain->seg[chain->nout];
	switch (subtype) {
	case VIRTIO_SCSI_T_TMF_ABORT_TASK_SET:
		tv_tmf_abort_set(tmf, lun, false);
		return;
	case VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET:
		tv_tmf_abort_set(tmf, lun, true);
		return;
	}
	if (!tv_tmf_submit(tmf, lun, subtype == VIRTIO_SCSI_T_TMF_ABORT_TASK ?
			   TMR_ABORT_TASK : TMR_LUN_RESET, tag))
		return;
	resp.response = VIRTIO_SCSI_S_BUSY;
respond:
	tv_ctl_respond(vq, chain, &resp, sizeof(resp));
}

static void tv_ctl_an(struct tv_vq *vq, const struct tv_chain *chain)
{
	struct virtio_scsi_ctrl_an_req req;
	struct virtio_scsi_ctrl_an_resp resp = {};
	u64 lun;

	if (tv_segs_copy_from(chain->seg, chain->nout, 0, &req, sizeof(req)) !=
	    sizeof(req))
		resp.response = VIRTIO_SCSI_S_FAILURE;
	else if (!tv_scsi_lookup_tpg(vq, req.lun, &lun))
		resp.response = VIRTIO_SCSI_S_BAD_TARGET;
	else	/* We report no asynchronous events: say so honestly. */
		resp.response = VIRTIO_SCSI_S_OK;
	tv_ctl_respond(vq, chain, &resp, sizeof(resp));
}

static void tv_ctl_handle_req(struct tv_vq *vq, const struct tv_chain *chain)
{
	u8 failure = VIRTIO_SCSI_S_FAILURE;
	__virtio32 type;

	if (tv_segs_copy_from(chain->seg, chain->nout, 0, &type,
			      sizeof(type)) != sizeof(type)) {
		tv_ctl_respond(vq, chain, &failure, sizeof(failure));
		return;
	}
	switch (tv32(vq, type)) {
	case VIRTIO_SCSI_T_TMF:
		tv_ctl_tmf(vq, chain);
		break;
	case VIRTIO_SCSI_T_AN_QUERY:
	case VIRTIO_SCSI_T_AN_SUBSCRIBE:
		tv_ctl_an(vq, chain);
		break;
	default:
		tv_ctl_respond(vq, chain, &failure, sizeof(failure));
		break;
	}
}

/**
 * tv_ctl_handle_kick() - serve the control queue's new buffers
 * @work: the control queue's kick work
 *
 * Context: worker.
 */
void tv_ctl_handle_kick(struct tv_work *work)
{
	tv_ring_serve(container_of(work, struct tv_vq, kick_work),
		      tv_ctl_handle_req);
}

static u8 tv_tmf_response(struct se_cmd *se_cmd)
{
	switch (se_cmd->se_tmr_req->response) {
	case TMR_FUNCTION_COMPLETE:
	case TMR_TASK_DOES_NOT_EXIST:	/* nothing left to abort */
		return VIRTIO_SCSI_S_FUNCTION_COMPLETE;
	case TMR_LUN_DOES_NOT_EXIST:
		return VIRTIO_SCSI_S_INCORRECT_LUN;
	}
	return VIRTIO_SCSI_S_FUNCTION_REJECTED;
}

/**
 * tv_ctl_queue_tm_rsp() - LIO finished a task management function
 * @se_cmd: the TMR command
 *
 * Context: any.
 */
void tv_ctl_queue_tm_rsp(struct se_cmd *se_cmd)
{
	struct tv_tmf *tmf = container_of(se_cmd, struct tv_tmf, se_cmd);

	tmf->response = tv_tmf_response(se_cmd);
	tv_tmf_done(tmf);
}

/* A set-wide function is over: the I_T nexus reset's unit attention. */
static void tv_tmf_finish_set(struct tv_tmf *tmf)
{
	if (tmf->subtype == VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET &&
	    tmf->response == VIRTIO_SCSI_S_FUNCTION_COMPLETE)
		core_allocate_nexus_loss_ua(tmf->sess->se_node_acl);
}

/*
 * The guest may take a TMF's answer to mean that every command it
 * aborted has been answered. LIO queued those completions before the
 * TMF's, but on the request queues' workers: write them out first.
 * Request vq mutexes nest inside the control vq's (no handler of a
 * request queue takes the control queue's).
 */
static void tv_ctl_drain_requests(struct tv_dev *dev)
{
	unsigned int i;

	/* The mutex also waits out a worker that is writing them now. */
	for (i = TV_VQ_REQ; i < TV_MAX_VQS; i++)
		if (READ_ONCE(dev->vqs[i].num))
			tv_scsi_drain_done(&dev->vqs[i]);
}

/**
 * tv_ctl_handle_done() - write responses of finished TMFs
 * @work: the control queue's done work
 *
 * A child ABORT TASK only counts down its parent; a set-wide parent
 * answers when the last child is done and was never given to LIO.
 *
 * Context: worker.
 */
void tv_ctl_handle_done(struct tv_work *work)
{
	struct tv_vq *vq = container_of(work, struct tv_vq, done_work);
	struct tv_tmf *tmf, *next, *parent;
	struct llist_node *list;
	bool set_wide;

	mutex_lock(&vq->mutex);
	list = llist_reverse_order(llist_del_all(&vq->done));
	if (list)
		tv_ctl_drain_requests(vq->dev);
	llist_for_each_entry_safe(tmf, next, list, done_node) {
		parent = tmf->parent;
		set_wide = tmf->subtype == VIRTIO_SCSI_T_TMF_ABORT_TASK_SET ||
			   tmf->subtype == VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET;
		if (!parent) {
			if (set_wide)
				tv_tmf_finish_set(tmf);
			tv_ring_respond(vq, &tmf->resp, 1, tmf->head,
					&tmf->response, sizeof(tmf->response),
					0);
		}
		if (set_wide)
			tv_tmf_free(tmf);
		else
			transport_generic_free_cmd(&tmf->se_cmd, 0);
		if (parent && atomic_dec_and_test(&parent->pending))
			tv_tmf_done(parent);
	}
	tv_ring_flush(vq);
	mutex_unlock(&vq->mutex);
}

/**
 * tv_ctl_release_tmf() - LIO dropped its last reference to a TMF
 * @se_cmd: the TMR command
 *
 * Context: any.
 */
void tv_ctl_release_tmf(struct se_cmd *se_cmd)
{
	tv_tmf_free(container_of(se_cmd, struct tv_tmf, se_cmd));
}

/**
 * tv_evt_queue() - queue an event for the guest
 * @dev: device
 * @event: VIRTIO_SCSI_T_*
 * @reason: VIRTIO_SCSI_EVT_*
 * @lun: LUN address the event concerns
 *
 * Context: process.
 */
void tv_evt_queue(struct tv_dev *dev, u32 event, u32 reason, const u8 lun[8])
{
	struct tv_evt *evt = kzalloc(sizeof(*evt), GFP_KERNEL);

	spin_lock(&dev->evt_lock);
	if (!evt || dev->evt_count >= TV_MAX_EVTS) {
		dev->events_missed = true;
		kfree(evt);
	} else {
		evt->event = event;
		evt->reason = reason;
		memcpy(evt->lun, lun, sizeof(evt->lun));
		list_add_tail(&evt->node, &dev->evt_list);
		dev->evt_count++;
	}
	spin_unlock(&dev->evt_lock);
	tv_vq_kick(&dev->vqs[TV_VQ_EVT]);
}

/*
 * The event's LUN address: peripheral addressing below 256, flat space
 * above. Guests (Linux up to at least 6.x) take bytes 2-3 as the LUN
 * without masking the addressing method, as the in-tree module has
 * always sent it.
 */
static void tv_evt_lun_addr(const struct tv_tpg *tpg, u64 unpacked, u8 addr[8])
{
	memset(addr, 0, 8);
	addr[0] = 1;
	addr[1] = tpg->tpgt;
	addr[2] = unpacked < 256 ? 0 : 0x40 | ((unpacked >> 8) & 0x3f);
	addr[3] = unpacked & 0xff;
}

/**
 * tv_evt_lun_changed() - a LUN was linked into or unlinked from a TPG
 * @tpg: the TPG
 * @lun: the LUN
 * @added: linked (true) or about to be unlinked
 *
 * Context: process, tpg->lock held (so tpg->dev stays valid).
 */
void tv_evt_lun_changed(struct tv_tpg *tpg, struct se_lun *lun, bool added)
{
	u8 addr[8];

	lockdep_assert_held(&tpg->lock);
	if (!tpg->dev || lun->unpacked_lun >= TV_MAX_LUNS)
		return;
	tv_evt_lun_addr(tpg, lun->unpacked_lun, addr);
	tv_evt_queue(tpg->dev, VIRTIO_SCSI_T_TRANSPORT_RESET,
		     added ? VIRTIO_SCSI_EVT_RESET_RESCAN :
			     VIRTIO_SCSI_EVT_RESET_REMOVED, addr);
}

/**
 * tv_evt_param_changed() - a LUN's parameters changed (capacity, ...)
 * @tpg: the TPG
 * @lun: the LUN
 * @asc: additional sense code of the change (0x2a: parameters changed)
 * @ascq: its qualifier (0x09: capacity data has changed)
 *
 * Sends VIRTIO_SCSI_T_PARAM_CHANGE to a guest that negotiated
 * VIRTIO_SCSI_F_CHANGE; a Linux guest then rereads the capacity.
 *
 * Context: process, tpg->lock held (so tpg->dev stays valid).
 */
void tv_evt_param_changed(struct tv_tpg *tpg, struct se_lun *lun, u8 asc,
			  u8 ascq)
{
	u8 addr[8];

	lockdep_assert_held(&tpg->lock);
	if (!tpg->dev || lun->unpacked_lun >= TV_MAX_LUNS)
		return;
	tv_evt_lun_addr(tpg, lun->unpacked_lun, addr);
	tv_evt_queue(tpg->dev, VIRTIO_SCSI_T_PARAM_CHANGE, asc | ascq << 8,
		     addr);
}

/**
 * tv_evt_drain() - forget pending events (the endpoint is going away)
 * @dev: device
 */
void tv_evt_drain(struct tv_dev *dev)
{
	struct tv_evt *evt, *next;
	LIST_HEAD(list);

	spin_lock(&dev->evt_lock);
	list_splice_init(&dev->evt_list, &list);
	dev->evt_count = 0;
	spin_unlock(&dev->evt_lock);
	list_for_each_entry_safe(evt, next, &list, node)
		kfree(evt);
}

/* Take the next event to deliver; *missed says to flag a loss. */
static struct tv_evt *tv_evt_next(struct tv_vq *vq, bool *missed)
{
	struct tv_dev *dev = vq->dev;
	bool hotplug = tv_vq_has_feature(vq, VIRTIO_SCSI_F_HOTPLUG);
	bool change = tv_vq_has_feature(vq, VIRTIO_SCSI_F_CHANGE);
	struct tv_evt *evt;

	spin_lock(&dev->evt_lock);
	for (;;) {
		evt = list_first_entry_or_null(&dev->evt_list, struct tv_evt,
					       node);
		if (!evt ||
		    (evt->event == VIRTIO_SCSI_T_PARAM_CHANGE ? change : hotplug))
			break;
		/* Not negotiated: the guest cannot take it. */
		list_del(&evt->node);
		dev->evt_count--;
		kfree(evt);
	}
	if (evt) {
		list_del(&evt->node);
		dev->evt_count--;
	}
	*missed = dev->events_missed;
	dev->events_missed = false;
	spin_unlock(&dev->evt_lock);
	return evt;
}

static void tv_evt_requeue(struct tv_dev *dev, struct tv_evt *evt,
			   bool missed)
{
	spin_lock(&dev->evt_lock);
	if (evt) {
		list_add(&evt->node, &dev->evt_list);
		dev->evt_count++;
	}
	dev->events_missed |= missed;
	spin_unlock(&dev->evt_lock);
}

/* Deliver pending events into the buffers the guest posted. */
static void tv_evt_deliver(struct tv_vq *vq)
{
	struct virtio_scsi_event ev;
	struct tv_chain chain;
	enum tv_fetch fetched;
	struct tv_evt *evt;
	bool missed;

	mutex_lock(&vq->mutex);
	if (!vq->backend || vq->broken)
		goto unlock;
	chain.seg = vq->seg;
	for (;;) {
		evt = tv_evt_next(vq, &missed);
		if (!evt && !missed)
			break;
		do {
			fetched = tv_ring_fetch(vq, &chain);
			if (fetched == TV_FETCH_BAD)
				tv_ring_add_used(vq, chain.head, 0);
		} while (fetched == TV_FETCH_BAD);
		if (fetched != TV_FETCH_OK) {
			/* No buffer: keep it until the guest posts one. */
			tv_evt_requeue(vq->dev, evt, missed);
			if (fetched == TV_FETCH_EMPTY &&
			    tv_ring_enable_notify(vq))
				continue;
			break;
		}
		memset(&ev, 0, sizeof(ev));
		ev.event = tv_cpu32(vq, (evt ? evt->event :
					 VIRTIO_SCSI_T_NO_EVENT) |
				    (missed ? VIRTIO_SCSI_T_EVENTS_MISSED : 0));
		if (evt) {
			ev.reason = tv_cpu32(vq, evt->reason);
			memcpy(ev.lun, evt->lun, sizeof(ev.lun));
		}
		kfree(evt);
		tv_ring_respond(vq, chain.seg + chain.nout, chain.nin,
				chain.head, &ev, sizeof(ev), 0);
	}
	tv_ring_flush(vq);
unlock:
	mutex_unlock(&vq->mutex);
}

/**
 * tv_evt_handle_kick() - the guest posted event buffers, or events wait
 * @work: the event queue's kick work
 *
 * Context: worker.
 */
void tv_evt_handle_kick(struct tv_work *work)
{
	tv_evt_deliver(container_of(work, struct tv_vq, kick_work));
}

/**
 * tv_evt_handle_done() - the event queue's done work (after a move)
 * @work: the event queue's done work
 *
 * Context: worker.
 */
void tv_evt_handle_done(struct tv_work *work)
{
	tv_evt_deliver(container_of(work, struct tv_vq, done_work));
}
