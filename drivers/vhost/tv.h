/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tcm_vhost: the vhost side: device, virtqueues, workers, guest memory.
 *
 * Locking, outermost first (the fabric side's locks are in tv_target.h):
 *   tv_tpg_list_lock   binding of TPGs to devices;
 *   tv_dev.mutex       owner, mm, features, log, workers, endpoint;
 *   tv_tpg.lock        a TPG's nexus and device pointer;
 *   tv_vq.mutex        one virtqueue's ring state, its backend pointer
 *                      and the device memory table as that queue sees it.
 * A worker runs one work item at a time and takes only vq mutexes.
 * Memory-table and feature changes take every vq mutex in index order.
 */
#ifndef TV_H
#define TV_H

#include <linux/atomic.h>
#include <linux/llist.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/uio.h>
#include <linux/virtio_byteorder.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_scsi.h>
#include <linux/workqueue.h>
#include <uapi/linux/tcm_vhost.h>

#include "tv_target.h"

/* The virtio spec's name for a task management success (0). */
#ifndef VIRTIO_SCSI_S_FUNCTION_COMPLETE
#define VIRTIO_SCSI_S_FUNCTION_COMPLETE	VIRTIO_SCSI_S_OK
#endif

/* Queue 0 is control, 1 is event, 2.. are requests. */
#define TV_VQ_CTL		0
#define TV_VQ_EVT		1
#define TV_VQ_REQ		2
#define TV_MAX_REQ_VQS		128
#define TV_MAX_VQS		(TV_VQ_REQ + TV_MAX_REQ_VQS)
#define TV_MAX_WORKERS		TV_MAX_VQS
/* Largest split ring the virtio spec allows. */
#define TV_MAX_RING		32768
/* Guest memory regions (QEMU uses a handful; vhost.ko defaults to 64). */
#define TV_MAX_MEM_REGIONS	509
/* Segments one descriptor chain may become, after region splits. */
#define TV_MAX_SEGS		1024
/* Entries of one indirect descriptor table. */
#define TV_MAX_INDIRECT		1024
/* Kick handler budget before it yields to other work. */
#define TV_KICK_BUDGET		64

#define TV_FEATURES	((1ULL << VIRTIO_F_NOTIFY_ON_EMPTY) |		\
			 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |	\
			 (1ULL << VIRTIO_RING_F_EVENT_IDX) |		\
			 (1ULL << VHOST_F_LOG_ALL) |			\
			 (1ULL << VIRTIO_F_ANY_LAYOUT) |		\
			 (1ULL << VIRTIO_F_VERSION_1) |			\
			 (1ULL << VIRTIO_SCSI_F_HOTPLUG) |		\
			 (1ULL << VIRTIO_SCSI_F_CHANGE) |		\
			 (1ULL << VIRTIO_SCSI_F_T10_PI))

struct tv_dev;
struct tv_vq;
struct tv_work;
struct tv_worker;

typedef void (*tv_work_fn_t)(struct tv_work *work);

/**
 * struct tv_work - an item a worker runs
 * @node: on the worker's list while queued
 * @flags: TV_WORK_QUEUED while on the list
 * @fn: what to run, in the worker, with the owner's mm
 */
struct tv_work {
	struct llist_node node;
	unsigned long flags;
	tv_work_fn_t fn;
};

#define TV_WORK_QUEUED	0

/**
 * struct tv_seg - a guest buffer piece, contiguous for guest and host
 * @gpa: guest physical address
 * @hva: the owner's user address backing it
 * @len: bytes
 */
struct tv_seg {
	u64 gpa;
	void __user *hva;
	u32 len;
};

/**
 * struct tv_seg_iter - walks a byte range of a segment array
 * @seg: next segment
 * @n: segments left
 * @skip: bytes still to skip
 * @left: bytes of the range still to walk
 */
struct tv_seg_iter {
	const struct tv_seg *seg;
	unsigned int n;
	size_t skip;
	size_t left;
};

static inline void tv_seg_iter_init(struct tv_seg_iter *it,
				    const struct tv_seg *seg, unsigned int n,
				    size_t skip, size_t len)
{
	it->seg = seg;
	it->n = n;
	it->skip = skip;
	it->left = len;
}

/* The next piece of the range: its segment, offset in it and length. */
static inline bool tv_seg_iter_next(struct tv_seg_iter *it,
				    const struct tv_seg **seg, size_t *off,
				    size_t *len)
{
	const struct tv_seg *s;

	while (it->n && it->left) {
		s = it->seg++;
		it->n--;
		if (it->skip >= s->len) {
			it->skip -= s->len;
			continue;
		}
		*seg = s;
		*off = it->skip;
		*len = min_t(size_t, s->len - it->skip, it->left);
		it->skip = 0;
		it->left -= *len;
		return true;
	}
	return false;
}

/**
 * struct tv_chain - one descriptor chain, as fetched from the avail ring
 * @head: descriptor index to return in the used ring
 * @nout: device-readable segments, first in @seg
 * @nin: device-writable segments, after them
 * @out_len: bytes readable
 * @in_len: bytes writable
 * @seg: the queue's scratch array of TV_MAX_SEGS segments
 */
struct tv_chain {
	u16 head;
	unsigned int nout;
	unsigned int nin;
	u32 out_len;
	u32 in_len;
	struct tv_seg *seg;
};

/**
 * struct tv_worker - a kernel thread that runs work with the owner's mm
 * @task: the thread
 * @list: queued work
 * @dev: owning device
 * @id: index in the device's worker table
 * @attached: virtqueues attached (guarded by the device mutex)
 */
struct tv_worker {
	struct task_struct *task;
	struct llist_head list;
	struct tv_dev *dev;
	unsigned int id;
	unsigned int attached;
};

/**
 * struct tv_poll - wakes a virtqueue when its kick eventfd fires
 * @table: poll table handed to vfs_poll()
 * @wqh: the eventfd's wait queue while registered
 * @wait: our entry on it
 * @vq: virtqueue to kick
 */
struct tv_poll {
	poll_table table;
	wait_queue_head_t *wqh;
	wait_queue_entry_t wait;
	struct tv_vq *vq;
};

/**
 * struct tv_mem_region - one guest memory region
 * @gpa: guest physical start
 * @size: bytes
 * @hva: owner's user address of @gpa
 */
struct tv_mem_region {
	u64 gpa;
	u64 size;
	u64 hva;
};

/**
 * struct tv_mem - the guest memory table (VHOST_SET_MEM_TABLE)
 * @nregions: entries in @region
 * @region: sorted by @gpa, non-overlapping
 */
struct tv_mem {
	unsigned int nregions;
	struct tv_mem_region region[];
};

/**
 * struct tv_vq - one split virtqueue
 * @mutex: guards all fields but those marked otherwise
 * @dev: owning device
 * @index: queue index
 * @num: ring size, 0 until set
 * @desc: descriptor table (owner's user address)
 * @avail: available ring
 * @used: used ring
 * @log_used: log writes to the used ring (VHOST_VRING_F_LOG)
 * @log_addr: guest physical address of the used ring, for the log
 * @log_base: the device's dirty bitmap, as this queue sees it
 * @log_ctx: the device's log eventfd, as this queue sees it
 * @last_avail_idx: next avail entry to fetch
 * @avail_idx: avail->idx as last read
 * @last_used_idx: next used entry to fill, published by tv_ring_flush()
 * @published_used_idx: used->idx as last written
 * @signalled_used: used index at the last signal (event-idx)
 * @signalled_used_valid: @signalled_used means something
 * @broken: the ring is corrupt; stay stopped until reset
 * @features: device features as this queue sees them
 * @mem: memory table as this queue sees it
 * @backend: TPGs bound by SET_ENDPOINT (NULL: queue stopped)
 * @kick: kick eventfd file
 * @call: call eventfd
 * @err: error eventfd
 * @poll: registration on @kick
 * @worker: the worker that runs this queue (READ_ONCE outside @mutex)
 * @kick_work: handles a kick
 * @done_work: writes responses of completed commands
 * @done: completed commands awaiting @done_work (lockless)
 * @submit: prepared commands awaiting @submit_work (lockless)
 * @submit_work: hands @submit to LIO from a kworker (batched submission)
 * @seg: TV_MAX_SEGS scratch segments for the chain being parsed
 * @cmd_free: freed commands, pushed from any context (lockless)
 * @cmd_cache: freed commands taken over by the kick handler
 */
struct tv_vq {
	struct mutex mutex;	/* see above */
	struct tv_dev *dev;
	unsigned int index;
	unsigned int num;
	struct vring_desc __user *desc;
	struct vring_avail __user *avail;
	struct vring_used __user *used;
	bool log_used;
	u64 log_addr;
	void __user *log_base;
	struct eventfd_ctx *log_ctx;
	u16 last_avail_idx;
	u16 avail_idx;
	u16 last_used_idx;
	u16 published_used_idx;
	u16 signalled_used;
	bool signalled_used_valid;
	bool broken;
	u64 features;
	struct tv_mem *mem;
	struct tv_tpg **backend;
	struct file *kick;
	struct eventfd_ctx *call;
	struct eventfd_ctx *err;
	struct tv_poll poll;
	struct tv_worker *worker;
	struct tv_work kick_work;
	struct tv_work done_work;
	struct llist_head done;
	struct llist_head submit;
	struct work_struct submit_work;
	struct tv_seg *seg;
	struct llist_head cmd_free;
	struct llist_node *cmd_cache;
};

/**
 * struct tv_evt - a pending event-queue event
 * @node: on tv_dev.evt_list
 * @event: virtio-scsi event type
 * @reason: event reason
 * @lun: virtio-scsi LUN address
 */
struct tv_evt {
	struct list_head node;
	u32 event;
	u32 reason;
	u8 lun[8];
};

/**
 * struct tv_dev - one open /dev/vhost-scsi
 * @mutex: guards the fields below unless marked otherwise
 * @owner: the task that did VHOST_SET_OWNER
 * @mm: its mm, pinned while we own it
 * @features: acked virtio features
 * @backend_features: acked backend features
 * @mem: current memory table (each vq holds a copy of the pointer)
 * @log_base: user address of the dirty bitmap
 * @log_ctx: eventfd signalled after logging
 * @workers: worker threads, by id
 * @nworkers: highest worker id + 1
 * @vqs: the virtqueues
 * @tpgs: TPGs bound by SET_ENDPOINT, by tag (NULL: no endpoint)
 * @wwpn: the endpoint's WWPN
 * @cmd_lock: guards @cmds (a spinlock, innermost)
 * @cmds: request commands handed to LIO, for task management
 * @inflight: commands and TMFs handed to LIO and not yet freed
 * @inflight_wq: woken when @inflight drops to zero (teardown waits)
 * @resets: LUN and I_T nexus resets in progress; a command LIO aborts
 *	meanwhile was cancelled by a reset
 * @evt_lock: guards @evt_list, @evt_count, @events_missed
 * @evt_list: events waiting for event-queue buffers
 * @evt_count: entries on @evt_list
 * @events_missed: events dropped for lack of buffers, to be reported
 */
struct tv_dev {
	struct mutex mutex;	/* see above */
	struct task_struct *owner;
	struct mm_struct *mm;
	u64 features;
	u64 backend_features;
	struct tv_mem *mem;
	void __user *log_base;
	struct eventfd_ctx *log_ctx;
	struct tv_worker *workers[TV_MAX_WORKERS];
	unsigned int nworkers;
	struct tv_vq vqs[TV_MAX_VQS];
	struct tv_tpg **tpgs;
	char wwpn[TV_NAMELEN];
	spinlock_t cmd_lock;	/* see above */
	struct list_head cmds;
	atomic_t inflight;
	wait_queue_head_t inflight_wq;
	atomic_t resets;
	spinlock_t evt_lock;	/* see above */
	struct list_head evt_list;
	unsigned int evt_count;
	bool events_missed;
};

/* tv_worker.c */
struct tv_worker *tv_worker_create(struct tv_dev *dev, unsigned int id);
void tv_worker_destroy(struct tv_worker *w);
void tv_work_init(struct tv_work *work, tv_work_fn_t fn);
void tv_work_queue(struct tv_worker *w, struct tv_work *work);
void tv_worker_flush(struct tv_worker *w);
void tv_poll_init(struct tv_poll *poll, struct tv_vq *vq);
int tv_poll_start(struct tv_poll *poll, struct file *file);
void tv_poll_stop(struct tv_poll *poll);

/* tv_vhost.c */
void tv_dev_init(struct tv_dev *dev);
long tv_dev_ioctl(struct tv_dev *dev, unsigned int cmd, void __user *argp);
long tv_vring_ioctl(struct tv_dev *dev, unsigned int cmd, void __user *argp);
void tv_dev_cleanup(struct tv_dev *dev);
bool tv_dev_owned(struct tv_dev *dev);
bool tv_vq_ready(struct tv_vq *vq);
void tv_vq_kick(struct tv_vq *vq);
int tv_vq_set_backend(struct tv_vq *vq, struct tv_tpg **backend);
void tv_dev_put_inflight(struct tv_dev *dev);
void tv_dev_flush(struct tv_dev *dev);
int tv_mem_translate(const struct tv_mem *mem, u64 gpa, u32 len,
		     struct tv_seg *seg, unsigned int max);
void __tv_log_write(struct tv_vq *vq, u64 gpa, u64 len);

/* Every write into the guest goes through here: keep the no-log case cheap. */
static inline void tv_log_write(struct tv_vq *vq, u64 gpa, u64 len)
{
	if (unlikely(vq->log_base))
		__tv_log_write(vq, gpa, len);
}

static inline bool tv_vq_has_feature(const struct tv_vq *vq, unsigned int bit)
{
	return vq->features & (1ULL << bit);
}

/* Ring and header fields are little-endian but for legacy BE guests. */
static inline bool tv_le(const struct tv_vq *vq)
{
	return tv_vq_has_feature(vq, VIRTIO_F_VERSION_1) ||
	       virtio_legacy_is_little_endian();
}

static inline u16 tv16(const struct tv_vq *vq, __virtio16 v)
{
	return __virtio16_to_cpu(tv_le(vq), v);
}

static inline __virtio16 tv_cpu16(const struct tv_vq *vq, u16 v)
{
	return __cpu_to_virtio16(tv_le(vq), v);
}

static inline u32 tv32(const struct tv_vq *vq, __virtio32 v)
{
	return __virtio32_to_cpu(tv_le(vq), v);
}

static inline __virtio32 tv_cpu32(const struct tv_vq *vq, u32 v)
{
	return __cpu_to_virtio32(tv_le(vq), v);
}

static inline u64 tv64(const struct tv_vq *vq, __virtio64 v)
{
	return __virtio64_to_cpu(tv_le(vq), v);
}

/* tv_ring.c */

/**
 * enum tv_fetch - what tv_ring_fetch() found
 * @TV_FETCH_EMPTY: no new buffer
 * @TV_FETCH_OK: a well-formed chain
 * @TV_FETCH_BAD: a malformed chain; its head may still be returned
 * @TV_FETCH_BROKEN: the ring itself is corrupt; stop the queue
 */
enum tv_fetch {
	TV_FETCH_EMPTY,
	TV_FETCH_OK,
	TV_FETCH_BAD,
	TV_FETCH_BROKEN,
};

enum tv_fetch tv_ring_fetch(struct tv_vq *vq, struct tv_chain *chain);
void tv_ring_disable_notify(struct tv_vq *vq);
bool tv_ring_enable_notify(struct tv_vq *vq);
int tv_ring_add_used(struct tv_vq *vq, u16 head, u32 len);
void tv_ring_flush(struct tv_vq *vq);
void tv_ring_break(struct tv_vq *vq, const char *why);
void tv_ring_respond(struct tv_vq *vq, const struct tv_seg *in,
		     unsigned int nin, u16 head, const void *resp, size_t len,
		     u32 extra);
void tv_ring_serve(struct tv_vq *vq,
		   void (*handle)(struct tv_vq *vq, const struct tv_chain *c));
size_t tv_segs_copy_from(const struct tv_seg *seg, unsigned int n,
			 size_t skip, void *buf, size_t len);
size_t tv_segs_copy_to(struct tv_vq *vq, const struct tv_seg *seg,
		       unsigned int n, size_t skip, const void *buf,
		       size_t len);

/* tv_scsi.c */

/**
 * struct tv_task - a command in flight, as task management sees it
 * @tag: the guest's tag
 * @lun: the LUN it addresses
 */
struct tv_task {
	u64 tag;
	u64 lun;
};

/* Filters of tv_scsi_find_tasks(). */
#define TV_TASK_ANY_LUN		BIT(0)
#define TV_TASK_BY_TAG		BIT(1)

unsigned int tv_scsi_find_tasks(struct tv_dev *dev, struct se_session *sess,
				u64 lun, u64 tag, unsigned int flags,
				struct tv_task *tasks, unsigned int max);
void tv_scsi_handle_kick(struct tv_work *work);
void tv_scsi_handle_done(struct tv_work *work);
void tv_scsi_drain_done(struct tv_vq *vq);
void tv_scsi_submit_work(struct work_struct *work);
int tv_scsi_init(void);
void tv_scsi_vq_drain(struct tv_vq *vq);
void tv_scsi_exit(void);
bool tv_scsi_decode_lun(const u8 lun[8], u16 *target, u64 *unpacked);
struct tv_tpg *tv_scsi_lookup_tpg(struct tv_vq *vq, const u8 lun[8],
				  u64 *unpacked);

/* tv_ctl.c */
void tv_ctl_handle_kick(struct tv_work *work);
void tv_ctl_handle_done(struct tv_work *work);
void tv_ctl_release_tmf(struct se_cmd *se_cmd);
void tv_evt_handle_kick(struct tv_work *work);
void tv_evt_handle_done(struct tv_work *work);
void tv_evt_drain(struct tv_dev *dev);
void tv_evt_queue(struct tv_dev *dev, u32 event, u32 reason,
		  const u8 lun[8]);

/* tv_chardev.c */
int tv_chardev_register(void);
void tv_chardev_unregister(void);

#endif /* TV_H */
