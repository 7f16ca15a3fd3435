// SPDX-License-Identifier: GPL-2.0
/*
 * tcm_vhost: worker threads and kick polling.
 *
 * A worker is a kernel thread that adopts the device owner's mm, so that
 * work items can read and write guest memory through the owner's user
 * addresses. Work is queued locklessly (llist) from any context; a work
 * item is on at most one list at a time (TV_WORK_QUEUED), so queueing an
 * already queued item is a no-op and a kick storm costs one run.
 *
 * Kick eventfds are watched with our own wait-queue entry: the eventfd's
 * wake-up calls tv_poll_wakeup() in the signaller's context, which only
 * queues the virtqueue's kick work.
 *
 * Locking: none of its own. The worker table and attachments belong to
 * the device mutex (tv_vhost.c).
 */
#include <linux/cgroup.h>
#include <linux/completion.h>
#include <linux/file.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <uapi/linux/sched/types.h>

#include "tv.h"

static bool tv_batch_workers = true;
module_param_named(batch_workers, tv_batch_workers, bool, 0644);
MODULE_PARM_DESC(batch_workers,
		 "Run workers as SCHED_BATCH: waking one never preempts the running task (default: on)");

/*
 * A worker woken by a kick, or by a completion, would otherwise preempt
 * the thread that woke it (it slept, so the scheduler favours it): the
 * guest's vCPU or initiator in mid-batch, or the kworker in the middle
 * of LIO's completions. Every hand-off then carries one command, and
 * the pipeline settles into a context switch per command. As
 * SCHED_BATCH it runs when the waker yields or its slice ends, and
 * finds the whole batch waiting; on an idle CPU it runs at once anyway.
 */
static void tv_worker_set_policy(struct task_struct *task)
{
	struct sched_attr attr = {
		.size = sizeof(attr),
		.sched_policy = SCHED_BATCH,
	};

	if (tv_batch_workers)
		WARN_ON_ONCE(sched_setattr_nocheck(task, &attr));
}

/**
 * tv_work_init() - prepare a work item
 * @work: item
 * @fn: what it runs
 */
void tv_work_init(struct tv_work *work, tv_work_fn_t fn)
{
	work->flags = 0;
	work->fn = fn;
	work->node.next = NULL;
}

/**
 * tv_work_queue() - run @work on @w soon
 * @w: worker
 * @work: item; queueing it again before it runs is a no-op
 *
 * Context: any, including hard IRQ.
 */
void tv_work_queue(struct tv_worker *w, struct tv_work *work)
{
	if (test_and_set_bit(TV_WORK_QUEUED, &work->flags))
		return;
	/* llist_add() is a full barrier: the worker sees what we wrote. */
	llist_add(&work->node, &w->list);
	wake_up_process(w->task);
}

static int tv_worker_fn(void *data)
{
	struct tv_worker *w = data;
	struct tv_work *work, *next;
	struct llist_node *node;

	kthread_use_mm(w->dev->mm);
	for (;;) {
		/* Set state before looking, so a queue in between wakes us. */
		set_current_state(TASK_IDLE);
		node = llist_del_all(&w->list);
		if (!node) {
			if (kthread_should_stop())
				break;
			schedule();
			continue;
		}
		__set_current_state(TASK_RUNNING);
		node = llist_reverse_order(node);
		llist_for_each_entry_safe(work, next, node, node) {
			clear_bit(TV_WORK_QUEUED, &work->flags);
			/* Clear before running: a queue from now on reruns it. */
			smp_mb__after_atomic();
			work->fn(work);
			cond_resched();
		}
	}
	__set_current_state(TASK_RUNNING);
	kthread_unuse_mm(w->dev->mm);
	return 0;
}

/**
 * tv_worker_create() - start a worker for @dev
 * @dev: device; its owner and mm must be set
 * @id: index in the device's worker table
 *
 * The thread joins the owner's cgroups, so its CPU time is the VM's.
 *
 * Context: process, device mutex held.
 * Return: the worker, or an ERR_PTR.
 */
struct tv_worker *tv_worker_create(struct tv_dev *dev, unsigned int id)
{
	struct task_struct *task;
	struct tv_worker *w;
	int ret;

	lockdep_assert_held(&dev->mutex);
	w = kvzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);
	if (!w)
		return ERR_PTR(-ENOMEM);
	w->dev = dev;
	w->id = id;
	init_llist_head(&w->list);

	task = kthread_create(tv_worker_fn, w, "tv-%d-%u", dev->owner->pid, id);
	if (IS_ERR(task)) {
		ret = PTR_ERR(task);
		goto free_worker;
	}
	ret = cgroup_attach_task_all(dev->owner, task);
	if (ret)
		goto stop_task;
	tv_worker_set_policy(task);
	w->task = task;
	wake_up_process(task);
	return w;

stop_task:
	kthread_stop(task);
free_worker:
	kvfree(w);
	return ERR_PTR(ret);
}

/**
 * tv_worker_destroy() - stop a worker after it ran all queued work
 * @w: worker, with no virtqueue attached any more
 *
 * Context: process.
 */
void tv_worker_destroy(struct tv_worker *w)
{
	WARN_ON(w->attached);
	tv_worker_flush(w);
	kthread_stop(w->task);
	WARN_ON(!llist_empty(&w->list));
	kvfree(w);
}

struct tv_flush {
	struct tv_work work;
	struct completion done;
};

static void tv_flush_fn(struct tv_work *work)
{
	struct tv_flush *f = container_of(work, struct tv_flush, work);

	complete(&f->done);
}

/**
 * tv_worker_flush() - wait until everything queued on @w so far has run
 * @w: worker
 *
 * Context: process; not from @w itself.
 */
void tv_worker_flush(struct tv_worker *w)
{
	struct tv_flush f;

	tv_work_init(&f.work, tv_flush_fn);
	init_completion(&f.done);
	tv_work_queue(w, &f.work);
	wait_for_completion(&f.done);
}

static int tv_poll_wakeup(wait_queue_entry_t *wait, unsigned int mode,
			  int sync, void *key)
{
	struct tv_poll *poll = container_of(wait, struct tv_poll, wait);

	if (key_to_poll(key) & EPOLLIN)
		tv_vq_kick(poll->vq);
	return 0;
}

static void tv_poll_queue_proc(struct file *file, wait_queue_head_t *wqh,
			       poll_table *pt)
{
	struct tv_poll *poll = container_of(pt, struct tv_poll, table);

	poll->wqh = wqh;
	add_wait_queue(wqh, &poll->wait);
}

/**
 * tv_poll_init() - prepare kick polling for @vq
 * @poll: the poll state
 * @vq: virtqueue its wake-ups kick
 */
void tv_poll_init(struct tv_poll *poll, struct tv_vq *vq)
{
	init_poll_funcptr(&poll->table, tv_poll_queue_proc);
	init_waitqueue_func_entry(&poll->wait, tv_poll_wakeup);
	poll->wqh = NULL;
	poll->vq = vq;
}

/**
 * tv_poll_start() - watch @file, and kick now if it is already readable
 * @poll: stopped poll state
 * @file: the kick eventfd
 *
 * Context: process, vq mutex held.
 * Return: 0, or -EINVAL when @file cannot be polled.
 */
int tv_poll_start(struct tv_poll *poll, struct file *file)
{
	__poll_t mask;

	mask = vfs_poll(file, &poll->table);
	if (!poll->wqh)
		return -EINVAL;
	if (mask & EPOLLERR) {
		tv_poll_stop(poll);
		return -EINVAL;
	}
	if (mask & EPOLLIN)
		tv_vq_kick(poll->vq);
	return 0;
}

/**
 * tv_poll_stop() - stop watching; idempotent
 * @poll: poll state
 *
 * Context: process.
 */
void tv_poll_stop(struct tv_poll *poll)
{
	if (poll->wqh) {
		remove_wait_queue(poll->wqh, &poll->wait);
		poll->wqh = NULL;
	}
}
