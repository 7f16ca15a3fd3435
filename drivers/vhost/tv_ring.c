// SPDX-License-Identifier: GPL-2.0
/*
 * tcm_vhost: split virtqueue access.
 *
 * The rings live in the guest, which may rewrite any of it at any time:
 * every index read from them is range-checked before use, every chain
 * walk is bounded, every guest address goes through the memory table.
 * A malformed chain (TV_FETCH_BAD) costs the guest that one buffer; a
 * corrupt ring (TV_FETCH_BROKEN: bad avail index, head out of range,
 * unreadable ring) stops the queue until userspace resets it, and is
 * reported on the error eventfd.
 *
 * Used entries are written as commands complete but the used index is
 * published once per batch (tv_ring_flush()), followed by at most one
 * interrupt.
 *
 * Locking: every function here needs the vq mutex.
 */
#include <linux/uaccess.h>

#include "tv.h"
#include "tv_compat.h"

/* avail->ring[num] and used->ring[num] carry the event-idx fields. */
static inline __virtio16 __user *tv_used_event(struct tv_vq *vq)
{
	return &vq->avail->ring[vq->num];
}

static inline __virtio16 __user *tv_avail_event(struct tv_vq *vq)
{
	return (__virtio16 __user *)&vq->used->ring[vq->num];
}

/**
 * tv_ring_break() - stop a queue whose ring the guest corrupted
 * @vq: virtqueue
 * @why: for the log
 */
void tv_ring_break(struct tv_vq *vq, const char *why)
{
	lockdep_assert_held(&vq->mutex);
	pr_err_ratelimited("tcm_vhost: queue %u stopped: %s\n", vq->index, why);
	vq->broken = true;
	if (vq->err)
		tv_eventfd_signal(vq->err);
}

static enum tv_fetch tv_chain_bad(struct tv_vq *vq, const char *why)
{
	pr_warn_ratelimited("tcm_vhost: queue %u: bad buffer: %s\n",
			    vq->index, why);
	return TV_FETCH_BAD;
}

/* Append guest range @gpa/@len to @chain, as readable or writable. */
static enum tv_fetch tv_chain_add(struct tv_vq *vq, struct tv_chain *chain,
				  u64 gpa, u32 len, bool writable)
{
	unsigned int used = chain->nout + chain->nin;
	int n;

	if (!writable && chain->nin)
		return tv_chain_bad(vq, "readable descriptor after writable");
	n = tv_mem_translate(vq->mem, gpa, len, chain->seg + used,
			     TV_MAX_SEGS - used);
	if (n == -ENOBUFS)
		return tv_chain_bad(vq, "too many segments");
	if (n < 0)
		return tv_chain_bad(vq, "address outside guest memory");
	if (writable) {
		if (chain->in_len + len < chain->in_len)
			return tv_chain_bad(vq, "length overflow");
		chain->nin += n;
		chain->in_len += len;
	} else {
		if (chain->out_len + len < chain->out_len)
			return tv_chain_bad(vq, "length overflow");
		chain->nout += n;
		chain->out_len += len;
	}
	return TV_FETCH_OK;
}

static enum tv_fetch tv_ring_walk_indirect(struct tv_vq *vq,
					   struct tv_chain *chain,
					   const struct vring_desc *d)
{
	u32 len = tv32(vq, d->len);
	u64 gpa = tv64(vq, d->addr);
	struct vring_desc __user *table;
	unsigned int count, seen = 0;
	struct vring_desc e;
	enum tv_fetch ret;
	struct tv_seg seg;
	u16 flags, i = 0;

	if (!tv_vq_has_feature(vq, VIRTIO_RING_F_INDIRECT_DESC))
		return tv_chain_bad(vq, "indirect descriptor not negotiated");
	if (!len || len % sizeof(e) || len / sizeof(e) > TV_MAX_INDIRECT)
		return tv_chain_bad(vq, "bad indirect table length");
	/* Guests allocate the table in one piece; we insist. */
	if (tv_mem_translate(vq->mem, gpa, len, &seg, 1) != 1)
		return tv_chain_bad(vq, "indirect table outside guest memory");
	table = seg.hva;
	count = len / sizeof(e);
	for (;;) {
		if (++seen > count)
			return tv_chain_bad(vq, "indirect descriptor loop");
		if (copy_from_user(&e, table + i, sizeof(e)))
			return tv_chain_bad(vq, "indirect table unreadable");
		flags = tv16(vq, e.flags);
		if (flags & VRING_DESC_F_INDIRECT)
			return tv_chain_bad(vq, "nested indirect table");
		ret = tv_chain_add(vq, chain, tv64(vq, e.addr),
				   tv32(vq, e.len),
				   flags & VRING_DESC_F_WRITE);
		if (ret != TV_FETCH_OK)
			return ret;
		if (!(flags & VRING_DESC_F_NEXT))
			return TV_FETCH_OK;
		i = tv16(vq, e.next);
		if (i >= count)
			return tv_chain_bad(vq, "indirect next out of range");
	}
}

static enum tv_fetch tv_ring_walk(struct tv_vq *vq, struct tv_chain *chain)
{
	unsigned int seen = 0;
	struct vring_desc d;
	enum tv_fetch ret;
	u16 flags, i = chain->head;

	for (;;) {
		if (++seen > vq->num)
			return tv_chain_bad(vq, "descriptor loop");
		if (copy_from_user(&d, vq->desc + i, sizeof(d))) {
			tv_ring_break(vq, "descriptor table unreadable");
			return TV_FETCH_BROKEN;
		}
		flags = tv16(vq, d.flags);
		if (flags & VRING_DESC_F_INDIRECT) {
			if (flags & VRING_DESC_F_NEXT)
				return tv_chain_bad(vq, "indirect with next");
			return tv_ring_walk_indirect(vq, chain, &d);
		}
		ret = tv_chain_add(vq, chain, tv64(vq, d.addr),
				   tv32(vq, d.len),
				   flags & VRING_DESC_F_WRITE);
		if (ret != TV_FETCH_OK)
			return ret;
		if (!(flags & VRING_DESC_F_NEXT))
			return TV_FETCH_OK;
		i = tv16(vq, d.next);
		if (i >= vq->num)
			return tv_chain_bad(vq, "next out of range");
	}
}

/**
 * tv_ring_fetch() - take the next available buffer
 * @vq: running virtqueue
 * @chain: filled in; @chain->seg must point at TV_MAX_SEGS entries
 *
 * Context: worker, vq mutex held.
 * Return: see enum tv_fetch. With TV_FETCH_BAD, @chain->head is valid
 * and the buffer is consumed: the caller returns it to the guest.
 */
enum tv_fetch tv_ring_fetch(struct tv_vq *vq, struct tv_chain *chain)
{
	__virtio16 v;
	u16 head;

	lockdep_assert_held(&vq->mutex);
	if (vq->broken)
		return TV_FETCH_BROKEN;
	if (vq->last_avail_idx == vq->avail_idx) {
		if (get_user(v, &vq->avail->idx)) {
			tv_ring_break(vq, "avail ring unreadable");
			return TV_FETCH_BROKEN;
		}
		vq->avail_idx = tv16(vq, v);
		if ((u16)(vq->avail_idx - vq->last_avail_idx) > vq->num) {
			tv_ring_break(vq, "avail index ran ahead of the ring");
			return TV_FETCH_BROKEN;
		}
		if (vq->avail_idx == vq->last_avail_idx)
			return TV_FETCH_EMPTY;
		/* Read the entries only after the index that covers them. */
		smp_rmb();
	}
	if (get_user(v, &vq->avail->ring[vq->last_avail_idx & (vq->num - 1)])) {
		tv_ring_break(vq, "avail ring unreadable");
		return TV_FETCH_BROKEN;
	}
	head = tv16(vq, v);
	if (head >= vq->num) {
		tv_ring_break(vq, "avail entry out of range");
		return TV_FETCH_BROKEN;
	}
	vq->last_avail_idx++;
	chain->head = head;
	chain->nout = 0;
	chain->nin = 0;
	chain->out_len = 0;
	chain->in_len = 0;
	return tv_ring_walk(vq, chain);
}

/* Write a used-ring field and log it for migration. */
static int tv_used_put16(struct tv_vq *vq, __virtio16 __user *p, u16 val)
{
	if (put_user(tv_cpu16(vq, val), p))
		return -EFAULT;
	if (vq->log_used)
		tv_log_write(vq, vq->log_addr +
			     ((void __user *)p - (void __user *)vq->used), 2);
	return 0;
}

/**
 * tv_ring_disable_notify() - ask the guest not to kick while we poll
 * @vq: running virtqueue
 *
 * With event-idx there is nothing to do: the guest kicks only when it
 * passes the avail event we publish in tv_ring_enable_notify().
 */
void tv_ring_disable_notify(struct tv_vq *vq)
{
	lockdep_assert_held(&vq->mutex);
	if (!tv_vq_has_feature(vq, VIRTIO_RING_F_EVENT_IDX))
		tv_used_put16(vq, &vq->used->flags, VRING_USED_F_NO_NOTIFY);
}

/**
 * tv_ring_enable_notify() - ask for kicks again before going idle
 * @vq: running virtqueue
 *
 * Return: true when buffers arrived meanwhile: poll again instead.
 */
bool tv_ring_enable_notify(struct tv_vq *vq)
{
	__virtio16 v;
	int ret;

	lockdep_assert_held(&vq->mutex);
	if (tv_vq_has_feature(vq, VIRTIO_RING_F_EVENT_IDX))
		ret = tv_used_put16(vq, tv_avail_event(vq), vq->last_avail_idx);
	else
		ret = tv_used_put16(vq, &vq->used->flags, 0);
	if (ret) {
		tv_ring_break(vq, "used ring unwritable");
		return false;
	}
	/* Publish the request for kicks before re-reading the index. */
	smp_mb();
	if (get_user(v, &vq->avail->idx)) {
		tv_ring_break(vq, "avail ring unreadable");
		return false;
	}
	return tv16(vq, v) != vq->last_avail_idx;
}

/**
 * tv_ring_add_used() - return a buffer to the guest (not yet published)
 * @vq: virtqueue
 * @head: the chain's head
 * @len: bytes the device wrote into it
 *
 * Return: 0, or -EFAULT when the used ring is unwritable (queue broken).
 */
int tv_ring_add_used(struct tv_vq *vq, u16 head, u32 len)
{
	struct vring_used_elem e;
	u16 slot;

	lockdep_assert_held(&vq->mutex);
	if (vq->broken || !vq->num)
		return -EFAULT;
	slot = vq->last_used_idx & (vq->num - 1);
	e.id = tv_cpu32(vq, head);
	e.len = tv_cpu32(vq, len);
	if (copy_to_user(&vq->used->ring[slot], &e, sizeof(e))) {
		tv_ring_break(vq, "used ring unwritable");
		return -EFAULT;
	}
	if (vq->log_used)
		tv_log_write(vq, vq->log_addr +
			     offsetof(struct vring_used, ring[slot]), sizeof(e));
	vq->last_used_idx++;
	return 0;
}

static bool tv_ring_need_signal(struct tv_vq *vq, u16 new)
{
	__virtio16 v;
	bool valid;
	u16 old;

	if (!tv_vq_has_feature(vq, VIRTIO_RING_F_EVENT_IDX)) {
		if (get_user(v, &vq->avail->flags))
			return true;
		return !(tv16(vq, v) & VRING_AVAIL_F_NO_INTERRUPT);
	}
	valid = vq->signalled_used_valid;
	old = vq->signalled_used;
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (!valid || get_user(v, tv_used_event(vq)))
		return true;
	return vring_need_event(tv16(vq, v), new, old);
}

/**
 * tv_ring_flush() - publish the used entries added so far, and signal
 * @vq: virtqueue
 *
 * One index update and at most one interrupt per batch.
 */
void tv_ring_flush(struct tv_vq *vq)
{
	u16 old = vq->published_used_idx, new = vq->last_used_idx;

	lockdep_assert_held(&vq->mutex);
	if (old == new || vq->broken)
		return;
	/* Entries before the index that exposes them. */
	smp_wmb();
	if (tv_used_put16(vq, &vq->used->idx, new)) {
		tv_ring_break(vq, "used ring unwritable");
		return;
	}
	vq->published_used_idx = new;
	/* The index before reading the guest's interrupt suppression. */
	smp_mb();
	if (vq->call && tv_ring_need_signal(vq, new))
		tv_eventfd_signal(vq->call);
}

/**
 * tv_segs_copy_from() - read guest segments into a kernel buffer
 * @seg: segments
 * @n: how many
 * @skip: bytes of the segments to skip first
 * @buf: destination
 * @len: bytes wanted
 *
 * Return: bytes copied; less than @len when the segments are shorter
 * or unreadable.
 */
size_t tv_segs_copy_from(const struct tv_seg *seg, unsigned int n,
			 size_t skip, void *buf, size_t len)
{
	size_t done = 0, off, piece;
	struct tv_seg_iter it;
	const struct tv_seg *s;

	tv_seg_iter_init(&it, seg, n, skip, len);
	while (tv_seg_iter_next(&it, &s, &off, &piece)) {
		if (copy_from_user(buf + done, s->hva + off, piece))
			break;
		done += piece;
	}
	return done;
}

/**
 * tv_segs_copy_to() - write a kernel buffer into guest segments
 * @vq: virtqueue (for the dirty log)
 * @seg: segments
 * @n: how many
 * @skip: bytes of the segments to skip first
 * @buf: source
 * @len: bytes to write
 *
 * Return: bytes written, each logged for migration.
 */
size_t tv_segs_copy_to(struct tv_vq *vq, const struct tv_seg *seg,
		       unsigned int n, size_t skip, const void *buf,
		       size_t len)
{
	size_t done = 0, off, piece;
	struct tv_seg_iter it;
	const struct tv_seg *s;

	tv_seg_iter_init(&it, seg, n, skip, len);
	while (tv_seg_iter_next(&it, &s, &off, &piece)) {
		if (copy_to_user(s->hva + off, buf + done, piece))
			break;
		tv_log_write(vq, s->gpa + off, piece);
		done += piece;
	}
	return done;
}

/**
 * tv_ring_respond() - write a response into a chain and return it
 * @vq: virtqueue
 * @in: the chain's writable segments
 * @nin: how many
 * @head: the chain's head
 * @resp: response, written at the start of @in
 * @len: its size
 * @extra: bytes the device wrote after the response (data-in)
 *
 * Context: vq mutex held.
 */
void tv_ring_respond(struct tv_vq *vq, const struct tv_seg *in,
		     unsigned int nin, u16 head, const void *resp, size_t len,
		     u32 extra)
{
	size_t n = tv_segs_copy_to(vq, in, nin, 0, resp, len);

	tv_ring_add_used(vq, head, n == len ? n + extra : n);
}

/**
 * tv_ring_serve() - the kick handler of control and request queues
 * @vq: virtqueue
 * @handle: serves one well-formed chain; must return it to the guest
 *
 * Lock, check the backend, take at most TV_KICK_BUDGET buffers, publish
 * and signal once, unlock. A malformed chain is returned empty.
 *
 * Context: worker.
 */
void tv_ring_serve(struct tv_vq *vq,
		   void (*handle)(struct tv_vq *vq, const struct tv_chain *c))
{
	struct tv_chain chain;
	unsigned int n;

	mutex_lock(&vq->mutex);
	if (!vq->backend || vq->broken)
		goto unlock;
	chain.seg = vq->seg;
	tv_ring_disable_notify(vq);
	for (n = 0; n < TV_KICK_BUDGET; n++) {
		switch (tv_ring_fetch(vq, &chain)) {
		case TV_FETCH_EMPTY:
			if (!tv_ring_enable_notify(vq))
				goto flush;
			tv_ring_disable_notify(vq);
			break;
		case TV_FETCH_OK:
			handle(vq, &chain);
			break;
		case TV_FETCH_BAD:
			tv_ring_add_used(vq, chain.head, 0);
			break;
		case TV_FETCH_BROKEN:
			goto flush;
		}
	}
	/* Budget spent: let other queues of this worker run, come back. */
	tv_vq_kick(vq);
flush:
	tv_ring_flush(vq);
unlock:
	mutex_unlock(&vq->mutex);
}
