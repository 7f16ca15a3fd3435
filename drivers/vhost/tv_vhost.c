// SPDX-License-Identifier: GPL-2.0
/*
 * tcm_vhost: the vhost core: ownership, features, the guest memory
 * table, the dirty log, virtqueue set-up ioctls and worker assignment.
 *
 * Everything here runs in the ioctl context of the owning process, with
 * the device mutex held. State a worker reads (memory table, log,
 * features, ring addresses, backend) is changed under the vq mutex of
 * each queue it concerns; device-wide changes visit every vq in index
 * order, one mutex at a time, and free the old state only after the last.
 */
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/nospec.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>

#include "tv.h"
#include "tv_compat.h"

/* Auto workers per device by default: one per CPU, at most this many. */
#define TV_AUTO_WORKERS_MAX	4

static unsigned int tv_auto_workers;
module_param_named(auto_workers, tv_auto_workers, uint, 0644);
MODULE_PARM_DESC(auto_workers,
		 "Workers per device that request queues are spread over when userspace does not attach workers itself (1: one shared worker; default 0: one per online CPU, at most 4)");

/**
 * tv_dev_init() - set up a newly opened device
 * @dev: zeroed device
 *
 * Context: process.
 */
void tv_dev_init(struct tv_dev *dev)
{
	unsigned int i;

	mutex_init(&dev->mutex);
	spin_lock_init(&dev->cmd_lock);
	INIT_LIST_HEAD(&dev->cmds);
	atomic_set(&dev->inflight, 0);
	init_waitqueue_head(&dev->inflight_wq);
	atomic_set(&dev->resets, 0);
	spin_lock_init(&dev->evt_lock);
	INIT_LIST_HEAD(&dev->evt_list);
	for (i = 0; i < TV_MAX_VQS; i++) {
		struct tv_vq *vq = &dev->vqs[i];

		mutex_init(&vq->mutex);
		vq->dev = dev;
		vq->index = i;
		init_llist_head(&vq->done);
		init_llist_head(&vq->submit);
		INIT_WORK(&vq->submit_work, tv_scsi_submit_work);
		init_llist_head(&vq->cmd_free);
		tv_poll_init(&vq->poll, vq);
		if (i == TV_VQ_CTL) {
			tv_work_init(&vq->kick_work, tv_ctl_handle_kick);
			tv_work_init(&vq->done_work, tv_ctl_handle_done);
		} else if (i == TV_VQ_EVT) {
			tv_work_init(&vq->kick_work, tv_evt_handle_kick);
			tv_work_init(&vq->done_work, tv_evt_handle_done);
		} else {
			tv_work_init(&vq->kick_work, tv_scsi_handle_kick);
			tv_work_init(&vq->done_work, tv_scsi_handle_done);
		}
	}
}

/**
 * tv_dev_owned() - has the calling process set itself as the owner?
 * @dev: device
 *
 * Context: process, device mutex held.
 * Return: true when current shares the owner's mm.
 */
bool tv_dev_owned(struct tv_dev *dev)
{
	lockdep_assert_held(&dev->mutex);
	return dev->mm && dev->mm == current->mm;
}

/**
 * tv_vq_kick() - schedule the kick handler of @vq
 * @vq: virtqueue
 *
 * Context: any.
 */
void tv_vq_kick(struct tv_vq *vq)
{
	struct tv_worker *w = READ_ONCE(vq->worker);

	if (w)
		tv_work_queue(w, &vq->kick_work);
}

/* Move @vq to worker @w (or detach it with NULL). */
static void tv_vq_attach(struct tv_vq *vq, struct tv_worker *w)
{
	struct tv_worker *old;

	lockdep_assert_held(&vq->dev->mutex);
	mutex_lock(&vq->mutex);
	old = vq->worker;
	WRITE_ONCE(vq->worker, w);
	mutex_unlock(&vq->mutex);
	if (old == w)
		return;
	if (old) {
		/* Work already queued on @old runs there, under vq->mutex. */
		tv_worker_flush(old);
		old->attached--;
	}
	if (w) {
		w->attached++;
		tv_vq_kick(vq);
		tv_work_queue(w, &vq->done_work);
	}
}

static struct tv_worker *tv_dev_new_worker(struct tv_dev *dev)
{
	struct tv_worker *w;
	unsigned int id;

	for (id = 0; id < TV_MAX_WORKERS; id++)
		if (!dev->workers[id])
			break;
	if (id == TV_MAX_WORKERS)
		return ERR_PTR(-ENOSPC);
	w = tv_worker_create(dev, id);
	if (IS_ERR(w))
		return w;
	dev->workers[id] = w;
	dev->nworkers = max(dev->nworkers, id + 1);
	return w;
}

/*
 * Under a QEMU that never attaches workers itself, request queue i runs
 * on auto worker 1 + (i % auto_workers), so queues proceed in parallel.
 * More workers than CPUs buy no parallelism, only wake-ups: by default
 * there are as many as online CPUs (measured on one CPU: 4 queues at
 * QD1 run 5-14 % faster on one shared worker than on four).
 */
static int tv_vq_auto_attach(struct tv_vq *vq)
{
	struct tv_dev *dev = vq->dev;
	unsigned int nauto = READ_ONCE(tv_auto_workers);
	struct tv_worker *w;
	unsigned int id = 0;

	if (!nauto)
		nauto = min_t(unsigned int, num_online_cpus(),
			      TV_AUTO_WORKERS_MAX);
	nauto = clamp_val(nauto, 1, TV_MAX_WORKERS - 1);
	if (vq->worker)
		return 0;
	if (vq->index >= TV_VQ_REQ && nauto > 1)
		id = 1 + (vq->index - TV_VQ_REQ) % nauto;
	while (!dev->workers[id]) {
		w = tv_dev_new_worker(dev);
		if (IS_ERR(w))
			return PTR_ERR(w);
	}
	tv_vq_attach(vq, dev->workers[id]);
	return 0;
}

static long tv_dev_set_owner(struct tv_dev *dev)
{
	struct tv_worker *w;

	if (dev->mm)
		return -EBUSY;
	dev->mm = get_task_mm(current);
	if (!dev->mm)
		return -EINVAL;
	get_task_struct(current);
	dev->owner = current;
	w = tv_dev_new_worker(dev);
	if (IS_ERR(w)) {
		put_task_struct(dev->owner);
		dev->owner = NULL;
		mmput(dev->mm);
		dev->mm = NULL;
		return PTR_ERR(w);
	}
	return 0;
}

typedef void (*tv_vq_fn_t)(struct tv_vq *vq, void *arg);

/* Apply @fn(vq, arg) to every queue under its mutex. */
static void tv_dev_apply(struct tv_dev *dev, tv_vq_fn_t fn, void *arg)
{
	unsigned int i;

	for (i = 0; i < TV_MAX_VQS; i++) {
		mutex_lock(&dev->vqs[i].mutex);
		fn(&dev->vqs[i], arg);
		mutex_unlock(&dev->vqs[i].mutex);
	}
}

static void tv_vq_set_mem(struct tv_vq *vq, void *mem)
{
	vq->mem = mem;
}

static void tv_vq_set_features(struct tv_vq *vq, void *features)
{
	vq->features = *(u64 *)features;
}

static void tv_vq_set_log(struct tv_vq *vq, void *dev)
{
	vq->log_base = ((struct tv_dev *)dev)->log_base;
	vq->log_ctx = ((struct tv_dev *)dev)->log_ctx;
}

/**
 * tv_dev_flush() - wait until every worker ran what was queued so far
 * @dev: device
 *
 * Batched submissions (tv_scsi_submit_work()) queued so far have run too.
 *
 * Context: process, device mutex held.
 */
void tv_dev_flush(struct tv_dev *dev)
{
	unsigned int i;

	lockdep_assert_held(&dev->mutex);
	for (i = 0; i < dev->nworkers; i++)
		if (dev->workers[i])
			tv_worker_flush(dev->workers[i]);
	/* Batches the kick handlers queued before they stopped. */
	for (i = TV_VQ_REQ; i < TV_MAX_VQS; i++)
		flush_work(&dev->vqs[i].submit_work);
}

/**
 * tv_dev_cleanup() - return the device to its state after open
 * @dev: device with no endpoint and no command in flight
 *
 * Context: process, device mutex held.
 */
void tv_dev_cleanup(struct tv_dev *dev)
{
	unsigned int i;

	lockdep_assert_held(&dev->mutex);
	WARN_ON(dev->tpgs);
	for (i = 0; i < TV_MAX_VQS; i++) {
		struct tv_vq *vq = &dev->vqs[i];

		tv_poll_stop(&vq->poll);
		if (vq->worker)
			tv_vq_attach(vq, NULL);
		mutex_lock(&vq->mutex);
		if (vq->kick)
			fput(vq->kick);
		if (vq->call)
			eventfd_ctx_put(vq->call);
		if (vq->err)
			eventfd_ctx_put(vq->err);
		vq->kick = NULL;
		vq->call = NULL;
		vq->err = NULL;
		vq->num = 0;
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		vq->log_used = false;
		vq->last_avail_idx = 0;
		vq->avail_idx = 0;
		vq->broken = false;
		vq->features = 0;
		vq->mem = NULL;
		vq->log_base = NULL;
		vq->log_ctx = NULL;
		kvfree(vq->seg);
		vq->seg = NULL;
		tv_scsi_vq_drain(vq);
		mutex_unlock(&vq->mutex);
	}
	for (i = 0; i < dev->nworkers; i++) {
		if (dev->workers[i])
			tv_worker_destroy(dev->workers[i]);
		dev->workers[i] = NULL;
	}
	dev->nworkers = 0;
	kvfree(dev->mem);
	dev->mem = NULL;
	if (dev->log_ctx)
		eventfd_ctx_put(dev->log_ctx);
	dev->log_ctx = NULL;
	dev->log_base = NULL;
	dev->features = 0;
	dev->backend_features = 0;
	if (dev->mm) {
		mmput(dev->mm);
		dev->mm = NULL;
	}
	if (dev->owner) {
		put_task_struct(dev->owner);
		dev->owner = NULL;
	}
}

static int tv_mem_cmp(const void *a, const void *b)
{
	const struct tv_mem_region *ra = a, *rb = b;

	if (ra->gpa < rb->gpa)
		return -1;
	return ra->gpa > rb->gpa;
}

static long tv_dev_set_mem_table(struct tv_dev *dev,
				 struct vhost_memory __user *m)
{
	struct vhost_memory hdr;
	struct vhost_memory_region r;
	struct tv_mem *mem, *old;
	u32 i;

	if (copy_from_user(&hdr, m, sizeof(hdr)))
		return -EFAULT;
	if (hdr.padding)
		return -EOPNOTSUPP;
	if (hdr.nregions > TV_MAX_MEM_REGIONS)
		return -E2BIG;
	mem = kvzalloc(struct_size(mem, region, hdr.nregions), GFP_KERNEL);
	if (!mem)
		return -ENOMEM;
	for (i = 0; i < hdr.nregions; i++) {
		if (copy_from_user(&r, &m->regions[i], sizeof(r)))
			goto fault;
		/* Reject empty, wrapping and non-user regions. */
		if (!r.memory_size ||
		    r.guest_phys_addr + r.memory_size - 1 < r.guest_phys_addr ||
		    r.userspace_addr + r.memory_size - 1 < r.userspace_addr ||
		    r.userspace_addr != (unsigned long)r.userspace_addr ||
		    !access_ok(u64_to_user_ptr(r.userspace_addr),
			       r.memory_size))
			goto inval;
		mem->region[i].gpa = r.guest_phys_addr;
		mem->region[i].size = r.memory_size;
		mem->region[i].hva = r.userspace_addr;
	}
	mem->nregions = hdr.nregions;
	sort(mem->region, mem->nregions, sizeof(mem->region[0]), tv_mem_cmp,
	     NULL);
	for (i = 1; i < mem->nregions; i++)
		if (mem->region[i].gpa <
		    mem->region[i - 1].gpa + mem->region[i - 1].size)
			goto inval;

	old = dev->mem;
	dev->mem = mem;
	tv_dev_apply(dev, tv_vq_set_mem, mem);
	kvfree(old);
	return 0;

fault:
	kvfree(mem);
	return -EFAULT;
inval:
	kvfree(mem);
	return -EINVAL;
}

/**
 * tv_mem_translate() - map a guest range to host user segments
 * @mem: memory table
 * @gpa: guest physical address
 * @len: bytes, 0 allowed
 * @seg: where to store the segments
 * @max: room in @seg
 *
 * A range crossing adjacent regions becomes several segments.
 *
 * Return: segments used, -EFAULT when part of the range is not guest
 * memory or wraps, -ENOBUFS when @max is too small.
 */
int tv_mem_translate(const struct tv_mem *mem, u64 gpa, u32 len,
		     struct tv_seg *seg, unsigned int max)
{
	const struct tv_mem_region *r;
	unsigned int n = 0, lo, hi, mid;
	u64 off, piece;

	if (gpa + len < gpa)
		return -EFAULT;
	while (len) {
		/* Binary search for the region holding @gpa. */
		lo = 0;
		hi = mem->nregions;
		r = NULL;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (gpa < mem->region[mid].gpa) {
				hi = mid;
			} else if (gpa - mem->region[mid].gpa >=
				   mem->region[mid].size) {
				lo = mid + 1;
			} else {
				r = &mem->region[mid];
				break;
			}
		}
		if (!r)
			return -EFAULT;
		if (n == max)
			return -ENOBUFS;
		off = gpa - r->gpa;
		piece = min_t(u64, len, r->size - off);
		seg[n].gpa = gpa;
		seg[n].hva = u64_to_user_ptr(r->hva + off);
		seg[n].len = piece;
		n++;
		gpa += piece;
		len -= piece;
	}
	return n;
}

/**
 * __tv_log_write() - mark guest pages written, for live migration
 * @vq: virtqueue whose worker wrote them (for the log and features)
 * @gpa: first guest physical byte written
 * @len: bytes written
 *
 * The bitmap lives in the owner's memory; bits are set atomically since
 * userspace harvests them concurrently. Failure to log is reported on
 * the error eventfd rather than silently corrupting a migration.
 *
 * Context: worker, vq mutex held.
 */
void __tv_log_write(struct tv_vq *vq, u64 gpa, u64 len)
{
	unsigned long addr, cur = 0;
	struct page *page = NULL;
	u64 pfn, last;
	void *kaddr = NULL;

	lockdep_assert_held(&vq->mutex);
	if (!len || !tv_vq_has_feature(vq, VHOST_F_LOG_ALL))
		return;
	last = (gpa + len - 1) >> PAGE_SHIFT;
	for (pfn = gpa >> PAGE_SHIFT; pfn <= last; pfn++) {
		addr = (unsigned long)vq->log_base + pfn / 8;
		if (!page || (addr & PAGE_MASK) != cur) {
			if (page) {
				kunmap_local(kaddr);
				unpin_user_pages_dirty_lock(&page, 1, true);
			}
			cur = addr & PAGE_MASK;
			if (pin_user_pages_fast(cur, 1, FOLL_WRITE, &page) != 1) {
				page = NULL;
				if (vq->err)
					tv_eventfd_signal(vq->err);
				return;
			}
			kaddr = kmap_local_page(page);
		}
		set_bit(offset_in_page(addr) * 8 + pfn % 8, kaddr);
	}
	kunmap_local(kaddr);
	unpin_user_pages_dirty_lock(&page, 1, true);
	if (vq->log_ctx)
		tv_eventfd_signal(vq->log_ctx);
}

static long tv_dev_set_log_fd(struct tv_dev *dev, int __user *argp)
{
	struct eventfd_ctx *ctx = NULL, *old;
	int fd;

	if (get_user(fd, argp))
		return -EFAULT;
	if (fd != VHOST_FILE_UNBIND) {
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
	}
	old = dev->log_ctx;
	dev->log_ctx = ctx;
	tv_dev_apply(dev, tv_vq_set_log, dev);
	if (old)
		eventfd_ctx_put(old);
	return 0;
}

static long tv_dev_set_features(struct tv_dev *dev, u64 __user *argp)
{
	u64 features;

	if (copy_from_user(&features, argp, sizeof(features)))
		return -EFAULT;
	if (features & ~TV_FEATURES)
		return -EOPNOTSUPP;
	if ((features & (1ULL << VHOST_F_LOG_ALL)) && !dev->log_base)
		return -EFAULT;
	dev->features = features;
	tv_dev_apply(dev, tv_vq_set_features, &features);
	return 0;
}

/**
 * tv_dev_ioctl() - device-wide vhost ioctls
 * @dev: device
 * @cmd: ioctl
 * @argp: its user argument
 *
 * Context: process, device mutex held.
 * Return: 0 or a negative errno; -ENOIOCTLCMD for other ioctls.
 */
long tv_dev_ioctl(struct tv_dev *dev, unsigned int cmd, void __user *argp)
{
	u64 features = TV_FEATURES;
	u64 log, backend;

	lockdep_assert_held(&dev->mutex);
	switch (cmd) {
	case VHOST_GET_FEATURES:
		return copy_to_user(argp, &features, sizeof(features)) ?
			-EFAULT : 0;
	case VHOST_SET_OWNER:
		return tv_dev_set_owner(dev);
	}
	if (!tv_dev_owned(dev))
		return -EPERM;

	switch (cmd) {
	case VHOST_SET_FEATURES:
		return tv_dev_set_features(dev, argp);
	case VHOST_GET_BACKEND_FEATURES:
		/* No IOTLB: userspace hands us its addresses directly. */
		backend = 0;
		return copy_to_user(argp, &backend, sizeof(backend)) ?
			-EFAULT : 0;
	case VHOST_SET_BACKEND_FEATURES:
		if (copy_from_user(&backend, argp, sizeof(backend)))
			return -EFAULT;
		return backend ? -EOPNOTSUPP : 0;
	case VHOST_SET_MEM_TABLE:
		return tv_dev_set_mem_table(dev, argp);
	case VHOST_SET_LOG_BASE:
		if (copy_from_user(&log, argp, sizeof(log)))
			return -EFAULT;
		if (log != (unsigned long)log)
			return -EFAULT;
		dev->log_base = u64_to_user_ptr(log);
		tv_dev_apply(dev, tv_vq_set_log, dev);
		return 0;
	case VHOST_SET_LOG_FD:
		return tv_dev_set_log_fd(dev, argp);
	}
	return -ENOIOCTLCMD;
}

/* Each ring of a queue of @n entries lies in user memory. */
static bool tv_rings_ok(const void __user *desc, const void __user *avail,
			const void __user *used, size_t n)
{
	return access_ok(desc, n * sizeof(struct vring_desc)) &&
	       access_ok(avail, sizeof(struct vring_avail) + (n + 1) * 2) &&
	       access_ok(used, sizeof(struct vring_used) +
			 n * sizeof(struct vring_used_elem) + 2);
}

/**
 * tv_vq_ready() - is @vq fully described, so that it may start?
 * @vq: virtqueue
 *
 * Context: vq mutex held.
 * Return: true when size, all three ring addresses and memory are set.
 */
bool tv_vq_ready(struct tv_vq *vq)
{
	lockdep_assert_held(&vq->mutex);
	return vq->num && vq->desc && vq->avail && vq->used && vq->mem;
}

/**
 * tv_vq_set_backend() - start or stop serving @vq
 * @vq: virtqueue, ready when @backend is not NULL
 * @backend: TPG table to serve from, or NULL to stop
 *
 * Starting reads the used index the guest last saw, so a queue resumes
 * where it left off (after migration, say).
 *
 * Context: process, vq mutex held.
 * Return: 0, -ENOMEM, or -EFAULT when the used ring is unreadable.
 */
int tv_vq_set_backend(struct tv_vq *vq, struct tv_tpg **backend)
{
	__virtio16 used_idx;

	lockdep_assert_held(&vq->mutex);
	vq->backend = NULL;
	if (!backend)
		return 0;
	/* The size may have grown since the addresses were checked. */
	if (!tv_rings_ok(vq->desc, vq->avail, vq->used, vq->num))
		return -EFAULT;
	if (!vq->seg) {
		vq->seg = kvmalloc_array(TV_MAX_SEGS, sizeof(*vq->seg),
					 GFP_KERNEL_ACCOUNT);
		if (!vq->seg)
			return -ENOMEM;
	}
	if (get_user(used_idx, &vq->used->idx))
		return -EFAULT;
	vq->last_used_idx = tv16(vq, used_idx);
	vq->published_used_idx = vq->last_used_idx;
	vq->signalled_used_valid = false;
	vq->backend = backend;
	tv_vq_kick(vq);
	return 0;
}

/**
 * tv_dev_put_inflight() - a command or TMF handed to LIO is gone
 * @dev: device
 *
 * Context: any.
 */
void tv_dev_put_inflight(struct tv_dev *dev)
{
	if (atomic_dec_and_test(&dev->inflight))
		wake_up_all(&dev->inflight_wq);
}

static long tv_vring_set_addr(struct tv_vq *vq, struct vhost_vring_addr *a)
{
	void __user *desc = u64_to_user_ptr(a->desc_user_addr);
	void __user *avail = u64_to_user_ptr(a->avail_user_addr);
	void __user *used = u64_to_user_ptr(a->used_user_addr);
	size_t n = vq->num;

	if (a->flags & ~(1U << VHOST_VRING_F_LOG))
		return -EOPNOTSUPP;
	if (!n)
		return -EINVAL;
	if ((unsigned long)desc != a->desc_user_addr ||
	    (unsigned long)avail != a->avail_user_addr ||
	    (unsigned long)used != a->used_user_addr)
		return -EFAULT;
	/* Alignment the virtio spec requires of a split ring. */
	if ((a->desc_user_addr & 15) || (a->avail_user_addr & 1) ||
	    (a->used_user_addr & 3))
		return -EINVAL;
	if (!tv_rings_ok(desc, avail, used, n))
		return -EFAULT;
	/* A running queue may only toggle logging (QEMU does, to migrate). */
	if (vq->backend && (desc != vq->desc || avail != vq->avail ||
			    used != vq->used))
		return -EBUSY;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->log_used = a->flags & (1U << VHOST_VRING_F_LOG);
	vq->log_addr = a->log_guest_addr;
	return 0;
}

static long tv_vring_set_kick(struct tv_vq *vq, int fd)
{
	struct file *file = NULL;
	long ret = 0;

	if (fd != VHOST_FILE_UNBIND) {
		file = eventfd_fget(fd);
		if (IS_ERR(file))
			return PTR_ERR(file);
	}
	tv_poll_stop(&vq->poll);
	if (vq->kick)
		fput(vq->kick);
	vq->kick = file;
	if (file) {
		ret = tv_poll_start(&vq->poll, file);
		if (ret) {
			fput(file);
			vq->kick = NULL;
		}
	}
	return ret;
}

static long tv_vring_set_eventfd(struct eventfd_ctx **slot, int fd)
{
	struct eventfd_ctx *ctx = NULL;

	if (fd != VHOST_FILE_UNBIND) {
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
	}
	if (*slot)
		eventfd_ctx_put(*slot);
	*slot = ctx;
	return 0;
}

static long tv_vring_worker_ioctl(struct tv_dev *dev, unsigned int cmd,
				  void __user *argp)
{
	struct vhost_worker_state state;
	struct vhost_vring_worker vw;
	struct tv_worker *w;

	switch (cmd) {
	case VHOST_NEW_WORKER:
		w = tv_dev_new_worker(dev);
		if (IS_ERR(w))
			return PTR_ERR(w);
		state.worker_id = w->id;
		return copy_to_user(argp, &state, sizeof(state)) ? -EFAULT : 0;
	case VHOST_FREE_WORKER:
		if (copy_from_user(&state, argp, sizeof(state)))
			return -EFAULT;
		if (state.worker_id >= TV_MAX_WORKERS ||
		    !dev->workers[state.worker_id])
			return -ENODEV;
		w = dev->workers[state.worker_id];
		if (w->attached)
			return -EBUSY;
		dev->workers[state.worker_id] = NULL;
		tv_worker_destroy(w);
		return 0;
	}

	if (copy_from_user(&vw, argp, sizeof(vw)))
		return -EFAULT;
	if (vw.index >= TV_MAX_VQS)
		return -ENOBUFS;
	if (cmd == VHOST_GET_VRING_WORKER) {
		w = dev->vqs[vw.index].worker;
		if (!w)
			return -EINVAL;
		vw.worker_id = w->id;
		return copy_to_user(argp, &vw, sizeof(vw)) ? -EFAULT : 0;
	}
	if (vw.worker_id >= TV_MAX_WORKERS || !dev->workers[vw.worker_id])
		return -ENODEV;
	tv_vq_attach(&dev->vqs[vw.index], dev->workers[vw.worker_id]);
	return 0;
}

/**
 * tv_vring_ioctl() - per-virtqueue vhost ioctls
 * @dev: device
 * @cmd: ioctl
 * @argp: its user argument; every form starts with the queue index
 *
 * Context: process, device mutex held, owner checked.
 * Return: 0 or a negative errno; -ENOIOCTLCMD for other ioctls.
 */
long tv_vring_ioctl(struct tv_dev *dev, unsigned int cmd, void __user *argp)
{
	struct vhost_vring_state s;
	struct vhost_vring_addr a;
	struct vhost_vring_file f;
	struct tv_vq *vq;
	long ret = 0;
	u32 idx;

	lockdep_assert_held(&dev->mutex);
	switch (cmd) {
	case VHOST_NEW_WORKER:
	case VHOST_FREE_WORKER:
	case VHOST_ATTACH_VRING_WORKER:
	case VHOST_GET_VRING_WORKER:
		return tv_vring_worker_ioctl(dev, cmd, argp);
	case VHOST_SET_VRING_NUM:
	case VHOST_SET_VRING_BASE:
	case VHOST_GET_VRING_BASE:
		if (copy_from_user(&s, argp, sizeof(s)))
			return -EFAULT;
		idx = s.index;
		break;
	case VHOST_SET_VRING_ADDR:
		if (copy_from_user(&a, argp, sizeof(a)))
			return -EFAULT;
		idx = a.index;
		break;
	case VHOST_SET_VRING_KICK:
	case VHOST_SET_VRING_CALL:
	case VHOST_SET_VRING_ERR:
		if (copy_from_user(&f, argp, sizeof(f)))
			return -EFAULT;
		idx = f.index;
		break;
	default:
		return -ENOIOCTLCMD;
	}
	if (idx >= TV_MAX_VQS)
		return -ENOBUFS;
	idx = array_index_nospec(idx, TV_MAX_VQS);
	vq = &dev->vqs[idx];

	/* Workers are created here, before the vq mutex (dev mutex only). */
	if (cmd == VHOST_SET_VRING_KICK && f.fd != VHOST_FILE_UNBIND) {
		ret = tv_vq_auto_attach(vq);
		if (ret)
			return ret;
	}

	mutex_lock(&vq->mutex);
	switch (cmd) {
	case VHOST_SET_VRING_NUM:
		if (vq->backend)
			ret = -EBUSY;
		else if (!s.num || s.num > TV_MAX_RING || (s.num & (s.num - 1)))
			ret = -EINVAL;
		else
			vq->num = s.num;
		break;
	case VHOST_SET_VRING_BASE:
		if (vq->backend) {
			ret = -EBUSY;
		} else if (s.num > 0xffff) {
			ret = -EINVAL;
		} else {
			/* A new base is a reset: a broken ring may run again. */
			vq->last_avail_idx = s.num;
			vq->avail_idx = s.num;
			vq->broken = false;
		}
		break;
	case VHOST_GET_VRING_BASE:
		s.num = vq->last_avail_idx;
		if (copy_to_user(argp, &s, sizeof(s)))
			ret = -EFAULT;
		break;
	case VHOST_SET_VRING_ADDR:
		ret = tv_vring_set_addr(vq, &a);
		break;
	case VHOST_SET_VRING_KICK:
		ret = tv_vring_set_kick(vq, f.fd);
		break;
	case VHOST_SET_VRING_CALL:
		ret = tv_vring_set_eventfd(&vq->call, f.fd);
		break;
	case VHOST_SET_VRING_ERR:
		ret = tv_vring_set_eventfd(&vq->err, f.fd);
		break;
	}
	mutex_unlock(&vq->mutex);
	return ret;
}
