// SPDX-License-Identifier: GPL-2.0
/*
 * tcm_vhost: the virtio-scsi request path.
 *
 * Life of a request:
 *  1. The guest adds a descriptor chain to a request queue and kicks;
 *     the kick eventfd's wake-up queues the queue's kick work.
 *  2. tv_scsi_handle_kick() (worker, vq mutex) fetches chains. For each,
 *     tv_scsi_parse() reads the header, decodes the LUN to a bound TPG
 *     and sizes the data; its verdict is: submit, respond with an error
 *     now, or drop the buffer (no room even for a response).
 *  3. tv_scsi_submit() pins the guest's data pages and builds the se_cmd
 *     scatterlist on them (zero copy), then hands it to LIO the way the
 *     submit_mode parameter says (see enum tv_submit_mode): at once in
 *     the worker, or batched on the queue's submit list, which
 *     tv_scsi_submit_work() runs from a kworker after the fetch loop.
 *  4. LIO completes: ->queue_status() (any context) puts the command on
 *     the queue's done list and queues the done work.
 *  5. tv_scsi_handle_done() (worker, vq mutex) writes every response on
 *     the list, publishes the used index once, signals once, unpins the
 *     data, then hands each command back to LIO, whose ->release_cmd()
 *     (any context) puts it back in the queue's cache.
 * A command LIO aborts (->aborted_task()) reaches step 5 through
 * ->release_cmd() instead, and answers VIRTIO_SCSI_S_ABORTED, or
 * VIRTIO_SCSI_S_RESET while a LUN or I_T nexus reset runs: Linux
 * retries a command a reset cancelled, and fails an aborted one.
 *
 * Locking: the kick and done handlers hold the vq mutex; the LIO
 * callbacks take no lock (llist + work queueing), so they may run in
 * a backend's interrupt context; dev->cmd_lock is only taken by the
 * worker and by task management, in process context.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <scsi/scsi_common.h>
#include <scsi/scsi_proto.h>
#include <target/target_core_base.h>
#include <target/target_core_fabric.h>

#include "tv.h"
#include "tv_compat.h"

/* Scatterlist entries and writable segments kept inside the command. */
#define TV_INLINE_SGS	4
#define TV_INLINE_IN	4
/* Largest data transfer per command, in pages (8 MiB). */
#define TV_MAX_DATA_PAGES	2048
/* Pages pinned per pin_user_pages_fast() call. */
#define TV_PIN_BATCH	16

/**
 * struct tv_cmd - one virtio-scsi command in flight
 * @se_cmd: LIO's command; its sense buffer is @sense
 * @vq: request queue it came from
 * @done_node: on @vq's done list, or its free list once freed
 * @node: on the device's command list (task management), once submitted
 * @head: descriptor chain to return
 * @response: virtio-scsi response to report (ABORTED until LIO answers)
 * @responded: the response is written; ->release_cmd() may free
 * @dir: data direction
 * @sgl: data scatterlist, on pinned guest pages
 * @prot_sgl: protection information scatterlist
 * @in: the chain's writable segments: response, then data-in
 * @nsg: entries in @sgl
 * @nprot: entries in @prot_sgl
 * @nin: entries in @in
 * @released: LIO let go without ->queue_status(); respond, then free
 * @sense: sense data LIO fills in
 * @inline_sg: room for a small @sgl
 * @inline_in: room for a small @in
 */
struct tv_cmd {
	struct se_cmd se_cmd;
	struct tv_vq *vq;
	struct llist_node done_node;
	struct list_head node;
	u16 head;
	u8 response;
	bool responded;
	enum dma_data_direction dir;
	struct scatterlist *sgl;
	struct scatterlist *prot_sgl;
	struct tv_seg *in;
	unsigned int nsg;
	unsigned int nprot;
	unsigned int nin;
	bool released;
	unsigned char sense[TRANSPORT_SENSE_BUFFER];
	struct scatterlist inline_sg[TV_INLINE_SGS];
	struct tv_seg inline_in[TV_INLINE_IN];
};

/**
 * enum tv_verdict - what to do with a parsed request
 * @TV_SUBMIT: hand it to LIO
 * @TV_RESPOND: write the prepared response now
 * @TV_DROP: return the buffer empty: there is no room for a response
 */
enum tv_verdict {
	TV_SUBMIT,
	TV_RESPOND,
	TV_DROP,
};

/* A parsed request header. */
struct tv_req {
	struct virtio_scsi_cmd_resp resp;
	struct tv_tpg *tpg;
	u64 lun;
	u64 tag;
	int task_attr;
	u8 cdb[VIRTIO_SCSI_CDB_SIZE];
	size_t hdr_len;
	u32 pi_len;
	u32 data_len;
	enum dma_data_direction dir;
};

static struct kmem_cache *tv_cmd_cache;
static struct workqueue_struct *tv_submit_wq;

/**
 * enum tv_submit_mode - how commands reach LIO (module parameter)
 * @TV_SUBMIT_DIRECT: target_submit() in the worker, per command. Best
 *	where LIO can also complete in the caller's context (7.x): a
 *	synchronous backend then finishes the command without any thread
 *	hand-off.
 * @TV_SUBMIT_BATCH: the fetch loop collects its commands, then one work
 *	item on a bound workqueue submits them all. Where LIO always
 *	completes on its completion workqueue (before 7.x), that workqueue
 *	shares the kworker pool, so the completions run after the batch in
 *	the same kworker instead of preempting the worker per command.
 * @TV_SUBMIT_LIO: LIO's own submission workqueue, per command.
 */
enum tv_submit_mode {
	TV_SUBMIT_DIRECT,
	TV_SUBMIT_BATCH,
	TV_SUBMIT_LIO,
};

static const char * const tv_submit_names[] = {
	[TV_SUBMIT_DIRECT] = "direct",
	[TV_SUBMIT_BATCH] = "batch",
	[TV_SUBMIT_LIO] = "lio",
};

static int tv_submit_mode = TV_FABRIC_HAS_COMPL_TYPE ? TV_SUBMIT_DIRECT :
			    TV_SUBMIT_BATCH;

static int tv_submit_mode_set(const char *val, const struct kernel_param *kp)
{
	int mode = sysfs_match_string(tv_submit_names, val);

	if (mode < 0)
		return mode;
	WRITE_ONCE(tv_submit_mode, mode);
	return 0;
}

static int tv_submit_mode_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n",
			  tv_submit_names[READ_ONCE(tv_submit_mode)]);
}

static const struct kernel_param_ops tv_submit_mode_ops = {
	.set = tv_submit_mode_set,
	.get = tv_submit_mode_get,
};
module_param_cb(submit_mode, &tv_submit_mode_ops, NULL, 0644);
MODULE_PARM_DESC(submit_mode,
		 "How commands reach LIO: direct, batch or lio (default: direct where LIO completes in the caller's context, else batch)");

/**
 * tv_scsi_init() - create the command slab and the submission workqueue
 *
 * Return: 0 or -ENOMEM.
 */
int tv_scsi_init(void)
{
	tv_cmd_cache = KMEM_CACHE(tv_cmd, 0);
	if (!tv_cmd_cache)
		return -ENOMEM;
	/* Bound (per-CPU): it must share the pool of LIO's completions. */
	tv_submit_wq = alloc_workqueue("tv_submit", WQ_MEM_RECLAIM | TV_WQ_PERCPU, 0);
	if (!tv_submit_wq) {
		kmem_cache_destroy(tv_cmd_cache);
		tv_cmd_cache = NULL;
		return -ENOMEM;
	}
	return 0;
}

/**
 * tv_scsi_vq_drain() - return a queue's cached commands to the slab
 * @vq: a queue with no command in flight
 *
 * Context: process, vq mutex held.
 */
void tv_scsi_vq_drain(struct tv_vq *vq)
{
	struct llist_node *node = llist_del_all(&vq->cmd_free), *next;

	lockdep_assert_held(&vq->mutex);
	while (node || vq->cmd_cache) {
		if (!node) {
			node = vq->cmd_cache;
			vq->cmd_cache = NULL;
		}
		next = node->next;
		kmem_cache_free(tv_cmd_cache,
				container_of(node, struct tv_cmd, done_node));
		node = next;
	}
}

/*
 * A command, from the queue's own cache when it can: commands freed by
 * completions come back here, so steady-state I/O never hits the slab.
 */
static struct tv_cmd *tv_cmd_get(struct tv_vq *vq)
{
	struct llist_node *node;
	struct tv_cmd *cmd;

	lockdep_assert_held(&vq->mutex);
	if (!vq->cmd_cache)
		vq->cmd_cache = llist_del_all(&vq->cmd_free);
	node = vq->cmd_cache;
	if (!node)
		return kmem_cache_zalloc(tv_cmd_cache, GFP_KERNEL);
	vq->cmd_cache = node->next;
	cmd = container_of(node, struct tv_cmd, done_node);
	/* The buffers after @sense are written before they are read. */
	memset(cmd, 0, offsetof(struct tv_cmd, sense));
	return cmd;
}

/** tv_scsi_exit() - undo tv_scsi_init(); every device is closed */
void tv_scsi_exit(void)
{
	destroy_workqueue(tv_submit_wq);
	kmem_cache_destroy(tv_cmd_cache);
}

/**
 * tv_scsi_decode_lun() - decode a virtio-scsi LUN address
 * @lun: the 8 bytes from the guest
 * @target: the target (TPG tag) addressed
 * @unpacked: the LUN within it
 *
 * Byte 0 is 1, byte 1 the target, bytes 2-3 a flat-space (0x40) or
 * peripheral (0x00) single-level LUN, bytes 4-7 zero.
 *
 * Return: false for any other form.
 */
bool tv_scsi_decode_lun(const u8 lun[8], u16 *target, u64 *unpacked)
{
	if (lun[0] != 1 || lun[4] || lun[5] || lun[6] || lun[7])
		return false;
	switch (lun[2] >> 6) {
	case 0:
		if (lun[2])
			return false;
		*unpacked = lun[3];
		break;
	case 1:
		*unpacked = ((lun[2] & 0x3f) << 8) | lun[3];
		break;
	default:
		return false;
	}
	*target = lun[1];
	return true;
}

/**
 * tv_scsi_lookup_tpg() - the bound TPG with a nexus that @lun addresses
 * @vq: running queue
 * @lun: LUN address from the guest
 * @unpacked: the LUN within the TPG
 *
 * Context: vq mutex held; the TPG stays bound while it is.
 * Return: the TPG, or NULL: answer VIRTIO_SCSI_S_BAD_TARGET.
 */
struct tv_tpg *tv_scsi_lookup_tpg(struct tv_vq *vq, const u8 lun[8],
				  u64 *unpacked)
{
	struct tv_tpg *tpg;
	u16 target;

	lockdep_assert_held(&vq->mutex);
	if (!vq->backend || !tv_scsi_decode_lun(lun, &target, unpacked))
		return NULL;
	tpg = vq->backend[target];
	if (!tpg || !tpg->se_sess)
		return NULL;
	return tpg;
}

/* The one response writer of request queues: error and success paths. */
static void tv_scsi_write_resp(struct tv_vq *vq, const struct tv_seg *in,
			       unsigned int nin, u16 head,
			       const struct virtio_scsi_cmd_resp *resp,
			       u32 data_in)
{
	/*
	 * The usual layout, the whole response in the first segment, takes
	 * one copy of a constant size (no run-time usercopy checks).
	 */
	if (nin && in[0].len >= sizeof(*resp) &&
	    !copy_to_user(in[0].hva, resp, sizeof(*resp))) {
		tv_log_write(vq, in[0].gpa, sizeof(*resp));
		tv_ring_add_used(vq, head, sizeof(*resp) + data_in);
		return;
	}
	tv_ring_respond(vq, in, nin, head, resp, sizeof(*resp), data_in);
}

/* Read the request header; the usual layout takes one constant copy. */
static bool tv_scsi_read_hdr(const struct tv_chain *chain, bool pi, void *h)
{
	size_t len = pi ? sizeof(struct virtio_scsi_cmd_req_pi) :
			  sizeof(struct virtio_scsi_cmd_req);

	if (chain->out_len < len)
		return false;
	if (chain->seg[0].len >= len) {
		if (pi)
			return !copy_from_user(h, chain->seg[0].hva,
					       sizeof(struct virtio_scsi_cmd_req_pi));
		return !copy_from_user(h, chain->seg[0].hva,
				       sizeof(struct virtio_scsi_cmd_req));
	}
	return tv_segs_copy_from(chain->seg, chain->nout, 0, h, len) == len;
}

/* Fill @resp with CHECK CONDITION and fixed-format sense. */
static enum tv_verdict tv_scsi_check(const struct tv_vq *vq,
				     struct tv_req *req, u8 key, u8 asc)
{
	memset(&req->resp, 0, sizeof(req->resp));
	req->resp.status = SAM_STAT_CHECK_CONDITION;
	req->resp.sense[0] = 0x70;
	req->resp.sense[2] = key;
	req->resp.sense[7] = 10;
	req->resp.sense[12] = asc;
	req->resp.sense_len = tv_cpu32(vq, 18);
	return TV_RESPOND;
}

static enum tv_verdict tv_scsi_fail(struct tv_req *req, u8 response)
{
	memset(&req->resp, 0, sizeof(req->resp));
	req->resp.response = response;
	return TV_RESPOND;
}

static int tv_scsi_task_attr(u8 attr)
{
	switch (attr) {
	case VIRTIO_SCSI_S_SIMPLE:
		return TCM_SIMPLE_TAG;
	case VIRTIO_SCSI_S_ORDERED:
		return TCM_ORDERED_TAG;
	case VIRTIO_SCSI_S_HEAD:
		return TCM_HEAD_TAG;
	case VIRTIO_SCSI_S_ACA:
		return TCM_ACA_TAG;
	}
	return -1;
}

/*
 * The direction a READ or WRITE family CDB moves data in, DMA_NONE for
 * other opcodes. LIO's block backends read or write the medium according
 * to the direction we pass, not the CDB: a READ whose buffer the guest
 * marked device-readable would be written to the medium, past any
 * Write Exclusive reservation.
 */
static enum dma_data_direction tv_scsi_rw_dir(const u8 *cdb)
{
	switch (cdb[0]) {
	case READ_6:
	case READ_10:
	case READ_12:
	case READ_16:
		return DMA_FROM_DEVICE;
	case WRITE_6:
	case WRITE_10:
	case WRITE_12:
	case WRITE_16:
	case WRITE_VERIFY:
	case WRITE_VERIFY_12:
	case WRITE_VERIFY_16:
	case WRITE_SAME:
	case WRITE_SAME_16:
	case COMPARE_AND_WRITE:
		return DMA_TO_DEVICE;
	case VARIABLE_LENGTH_CMD:
		switch ((cdb[8] << 8) | cdb[9]) {
		case READ_32:
			return DMA_FROM_DEVICE;
		case WRITE_32:
		case WRITE_SAME_32:
			return DMA_TO_DEVICE;
		}
	}
	return DMA_NONE;
}

static enum tv_verdict tv_scsi_parse(struct tv_vq *vq,
				     const struct tv_chain *chain,
				     struct tv_req *req)
{
	bool pi = tv_vq_has_feature(vq, VIRTIO_SCSI_F_T10_PI);
	union {
		struct virtio_scsi_cmd_req plain;
		struct virtio_scsi_cmd_req_pi pi;
	} h;
	u32 out, in, pi_out = 0, pi_in = 0;
	u8 attr, *lun, *cdb;

	/* Without room for a response, the guest cannot be told anything. */
	if (chain->in_len < sizeof(req->resp))
		return TV_DROP;
	req->hdr_len = pi ? sizeof(h.pi) : sizeof(h.plain);
	if (!tv_scsi_read_hdr(chain, pi, &h))
		return tv_scsi_fail(req, VIRTIO_SCSI_S_FAILURE);
	if (pi) {
		lun = h.pi.lun;
		req->tag = tv64(vq, h.pi.tag);
		attr = h.pi.task_attr;
		cdb = h.pi.cdb;
		pi_out = tv32(vq, h.pi.pi_bytesout);
		pi_in = tv32(vq, h.pi.pi_bytesin);
	} else {
		lun = h.plain.lun;
		req->tag = tv64(vq, h.plain.tag);
		attr = h.plain.task_attr;
		cdb = h.plain.cdb;
	}

	req->tpg = tv_scsi_lookup_tpg(vq, lun, &req->lun);
	if (!req->tpg)
		return tv_scsi_fail(req, VIRTIO_SCSI_S_BAD_TARGET);
	req->task_attr = tv_scsi_task_attr(attr);
	if (req->task_attr < 0)
		return tv_scsi_fail(req, VIRTIO_SCSI_S_FAILURE);
	/* LIO copies scsi_command_size() bytes: never past our 32. */
	if (scsi_command_size(cdb) > VIRTIO_SCSI_CDB_SIZE)
		return tv_scsi_check(vq, req, ILLEGAL_REQUEST, 0x24);
	memcpy(req->cdb, cdb, sizeof(req->cdb));

	out = chain->out_len - req->hdr_len;
	in = chain->in_len - sizeof(req->resp);
	if (out && in)	/* bidirectional commands are not supported */
		return tv_scsi_fail(req, VIRTIO_SCSI_S_FAILURE);
	if (pi_out > out || pi_in > in || (pi_out && pi_in))
		return tv_scsi_fail(req, VIRTIO_SCSI_S_FAILURE);
	req->dir = out ? DMA_TO_DEVICE : in ? DMA_FROM_DEVICE : DMA_NONE;
	if (req->dir != DMA_NONE && tv_scsi_rw_dir(cdb) != DMA_NONE &&
	    req->dir != tv_scsi_rw_dir(cdb))
		return tv_scsi_fail(req, VIRTIO_SCSI_S_FAILURE);
	req->pi_len = pi_out + pi_in;
	req->data_len = out + in - req->pi_len;
	if (out + in > (u64)TV_MAX_DATA_PAGES * PAGE_SIZE)
		return tv_scsi_check(vq, req, ILLEGAL_REQUEST, 0x24);
	return TV_SUBMIT;
}

/* Pages spanned by @len bytes of @seg after @skip bytes. */
static unsigned int tv_count_pages(const struct tv_seg *seg, unsigned int n,
				   size_t skip, size_t len)
{
	unsigned int pages = 0;
	struct tv_seg_iter it;
	const struct tv_seg *s;
	size_t off, piece;

	tv_seg_iter_init(&it, seg, n, skip, len);
	while (tv_seg_iter_next(&it, &s, &off, &piece))
		pages += DIV_ROUND_UP(offset_in_page((unsigned long)s->hva + off) +
				      piece, PAGE_SIZE);
	return pages;
}

static void tv_unpin_sgl(struct scatterlist *sgl, unsigned int nsg,
			 bool dirty)
{
	struct page *pages[TV_PIN_BATCH];
	struct scatterlist *sg;
	unsigned int i, n = 0;

	if (nsg == 1) {		/* the common small I/O */
		pages[0] = sg_page(sgl);
		if (pages[0])
			unpin_user_pages_dirty_lock(pages, 1, dirty);
		return;
	}
	for_each_sg(sgl, sg, nsg, i) {
		if (!sg_page(sg))
			break;
		pages[n++] = sg_page(sg);
		if (n == TV_PIN_BATCH) {
			unpin_user_pages_dirty_lock(pages, n, dirty);
			n = 0;
		}
	}
	if (n)
		unpin_user_pages_dirty_lock(pages, n, dirty);
}

/* tv_pin_sgl() for data within one page: no iteration, no batching. */
static int tv_pin_one(const struct tv_seg *seg, unsigned int n, size_t skip,
		      size_t len, struct scatterlist *sg,
		      struct scatterlist **sglp, unsigned int *nsgp)
{
	unsigned long addr;
	struct page *page;

	/* One page means one segment: find where the data starts. */
	while (n && skip >= seg->len) {
		skip -= seg->len;
		seg++;
		n--;
	}
	if (WARN_ON_ONCE(!n))
		return -EFAULT;
	addr = (unsigned long)seg->hva + skip;
	if (pin_user_pages_fast(addr & PAGE_MASK, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	sg_init_table(sg, 1);
	sg_set_page(sg, page, len, offset_in_page(addr));
	*sglp = sg;
	*nsgp = 1;
	return 0;
}

/*
 * Pin @len bytes of @seg after @skip into a new scatterlist. Pages are
 * pinned writable whatever the direction: should the CDB contradict the
 * descriptors, LIO can then only ever write the guest's own private RAM.
 */
static int tv_pin_sgl(const struct tv_seg *seg, unsigned int n, size_t skip,
		      size_t len, struct scatterlist *inline_sg,
		      unsigned int ninline, struct scatterlist **sglp,
		      unsigned int *nsgp)
{
	unsigned int npages = tv_count_pages(seg, n, skip, len);
	struct page *pages[TV_PIN_BATCH];
	struct scatterlist *sgl, *sg;
	unsigned long addr, off;
	size_t piece, bytes, soff;
	struct tv_seg_iter it;
	const struct tv_seg *s;
	unsigned int j, want;
	int got;

	*sglp = NULL;
	*nsgp = 0;
	if (!npages)
		return 0;
	if (npages > TV_MAX_DATA_PAGES)
		return -E2BIG;
	if (npages == 1 && ninline)
		return tv_pin_one(seg, n, skip, len, inline_sg, sglp, nsgp);
	sgl = npages <= ninline ? inline_sg :
	      kmalloc_array(npages, sizeof(*sgl), GFP_KERNEL);
	if (!sgl)
		return -ENOMEM;
	sg_init_table(sgl, npages);
	sg = sgl;
	tv_seg_iter_init(&it, seg, n, skip, len);
	while (tv_seg_iter_next(&it, &s, &soff, &piece)) {
		addr = (unsigned long)s->hva + soff;
		while (piece) {
			off = offset_in_page(addr);
			want = min_t(unsigned long, TV_PIN_BATCH,
				     DIV_ROUND_UP(off + piece, PAGE_SIZE));
			got = pin_user_pages_fast(addr & PAGE_MASK, want,
						  FOLL_WRITE, pages);
			if (got != want) {
				if (got > 0)
					unpin_user_pages(pages, got);
				goto unpin;
			}
			for (j = 0; j < want; j++) {
				bytes = min_t(size_t, piece, PAGE_SIZE - off);
				sg_set_page(sg, pages[j], bytes, off);
				sg = sg_next(sg);
				addr += bytes;
				piece -= bytes;
				off = 0;
			}
		}
	}
	*sglp = sgl;
	*nsgp = npages;
	return 0;

unpin:
	tv_unpin_sgl(sgl, npages, false);
	if (sgl != inline_sg)
		kfree(sgl);
	return -EFAULT;
}

/*
 * Let go of what a command holds besides itself: its place on the
 * device's list and the guest pages. Unpinning may sleep (dirtying a
 * page locks it), so this runs in the worker, once the response is
 * written and LIO is done with the data.
 */
static void tv_cmd_put_data(struct tv_cmd *cmd)
{
	struct tv_dev *dev = cmd->vq->dev;
	bool dirty = cmd->dir == DMA_FROM_DEVICE;

	if (!list_empty(&cmd->node)) {
		spin_lock(&dev->cmd_lock);
		list_del_init(&cmd->node);
		spin_unlock(&dev->cmd_lock);
	}
	tv_unpin_sgl(cmd->sgl, cmd->nsg, dirty);
	if (cmd->sgl != cmd->inline_sg)
		kfree(cmd->sgl);
	tv_unpin_sgl(cmd->prot_sgl, cmd->nprot, dirty);
	kfree(cmd->prot_sgl);
	if (cmd->in != cmd->inline_in)
		kfree(cmd->in);
	cmd->sgl = NULL;
	cmd->nsg = 0;
	cmd->prot_sgl = NULL;
	cmd->nprot = 0;
	cmd->in = NULL;
}

/* Back to the queue's cache; any context, after tv_cmd_put_data(). */
static void tv_cmd_put(struct tv_cmd *cmd)
{
	struct tv_dev *dev = cmd->vq->dev;

	/* Cache it before the put: teardown drains after the last put. */
	llist_add(&cmd->done_node, &cmd->vq->cmd_free);
	tv_dev_put_inflight(dev);
}

static void tv_cmd_free(struct tv_cmd *cmd)
{
	tv_cmd_put_data(cmd);
	tv_cmd_put(cmd);
}

/* Build the command for a TV_SUBMIT request; respond now on failure. */
static void tv_scsi_submit(struct tv_vq *vq, const struct tv_chain *chain,
			   struct tv_req *req)
{
	const struct tv_seg *in = chain->seg + chain->nout;
	bool from_dev = req->dir == DMA_FROM_DEVICE;
	const struct tv_seg *data = from_dev ? in : chain->seg;
	unsigned int ndata = from_dev ? chain->nin : chain->nout;
	size_t skip = from_dev ? sizeof(req->resp) : req->hdr_len;
	struct se_cmd *se_cmd;
	struct tv_cmd *cmd;
	int ret;

	cmd = tv_cmd_get(vq);
	if (!cmd)
		goto busy;
	atomic_inc(&vq->dev->inflight);
	INIT_LIST_HEAD(&cmd->node);
	cmd->vq = vq;
	cmd->head = chain->head;
	cmd->response = VIRTIO_SCSI_S_ABORTED;
	cmd->dir = req->dir;
	cmd->in = chain->nin <= TV_INLINE_IN ? cmd->inline_in :
		  kmalloc_array(chain->nin, sizeof(*in), GFP_KERNEL);
	if (!cmd->in)
		goto free_cmd;
	memcpy(cmd->in, in, chain->nin * sizeof(*in));
	cmd->nin = chain->nin;

	/* Protection information comes first in its direction's data. */
	ret = tv_pin_sgl(data, ndata, skip, req->pi_len, NULL, 0,
			 &cmd->prot_sgl, &cmd->nprot);
	if (!ret)
		ret = tv_pin_sgl(data, ndata, skip + req->pi_len,
				 req->data_len, cmd->inline_sg, TV_INLINE_SGS,
				 &cmd->sgl, &cmd->nsg);
	if (ret == -ENOMEM)
		goto free_cmd;
	if (ret) {
		tv_cmd_free(cmd);
		tv_scsi_fail(req, VIRTIO_SCSI_S_FAILURE);
		tv_scsi_write_resp(vq, in, chain->nin, chain->head,
				   &req->resp, 0);
		return;
	}

	se_cmd = &cmd->se_cmd;
	se_cmd->tag = req->tag;
	if (target_init_cmd(se_cmd, req->tpg->se_sess, cmd->sense, req->lun,
			    req->data_len, req->task_attr, req->dir,
			    TARGET_SCF_ACK_KREF))
		goto free_cmd;	/* the session is going away */
	spin_lock(&vq->dev->cmd_lock);
	list_add_tail(&cmd->node, &vq->dev->cmds);
	spin_unlock(&vq->dev->cmd_lock);
	/* On failure LIO has already completed it with CHECK CONDITION. */
	if (target_submit_prep(se_cmd, req->cdb, cmd->sgl, cmd->nsg, NULL, 0,
			       cmd->prot_sgl, cmd->nprot, GFP_KERNEL))
		return;
	switch (READ_ONCE(tv_submit_mode)) {
	case TV_SUBMIT_DIRECT:
		target_submit(se_cmd);
		break;
	case TV_SUBMIT_BATCH:
		/* tv_scsi_handle_kick() queues the batch after the loop. */
		llist_add(&cmd->done_node, &vq->submit);
		break;
	default:
		tv_target_queue_submission(se_cmd);
		break;
	}
	return;

free_cmd:
	tv_cmd_free(cmd);
busy:
	tv_scsi_fail(req, VIRTIO_SCSI_S_BUSY);
	tv_scsi_write_resp(vq, in, chain->nin, chain->head, &req->resp, 0);
}

/**
 * tv_scsi_find_tasks() - list the commands of a nexus still in flight
 * @dev: device
 * @sess: the I_T nexus
 * @lun: only commands for this LUN, unless TV_TASK_ANY_LUN
 * @tag: only commands with this tag, if TV_TASK_BY_TAG
 * @flags: TV_TASK_*
 * @tasks: filled with up to @max of them (may be NULL when @max is 0)
 * @max: room in @tasks
 *
 * A command counts until its response is written.
 *
 * Context: any.
 * Return: how many match, which may exceed @max.
 */
unsigned int tv_scsi_find_tasks(struct tv_dev *dev, struct se_session *sess,
				u64 lun, u64 tag, unsigned int flags,
				struct tv_task *tasks, unsigned int max)
{
	struct tv_cmd *cmd;
	unsigned int n = 0;

	spin_lock(&dev->cmd_lock);
	list_for_each_entry(cmd, &dev->cmds, node) {
		struct se_cmd *se_cmd = &cmd->se_cmd;

		if (se_cmd->se_sess != sess || READ_ONCE(cmd->responded) ||
		    READ_ONCE(cmd->released))
			continue;
		if (!(flags & TV_TASK_ANY_LUN) && se_cmd->orig_fe_lun != lun)
			continue;
		if ((flags & TV_TASK_BY_TAG) && se_cmd->tag != tag)
			continue;
		if (n < max) {
			tasks[n].tag = se_cmd->tag;
			tasks[n].lun = se_cmd->orig_fe_lun;
		}
		n++;
	}
	spin_unlock(&dev->cmd_lock);
	return n;
}

static void tv_scsi_handle_req(struct tv_vq *vq, const struct tv_chain *chain)
{
	struct tv_req req;

	switch (tv_scsi_parse(vq, chain, &req)) {
	case TV_SUBMIT:
		tv_scsi_submit(vq, chain, &req);
		break;
	case TV_RESPOND:
		tv_scsi_write_resp(vq, chain->seg + chain->nout, chain->nin,
				   chain->head, &req.resp, 0);
		break;
	case TV_DROP:
		tv_ring_add_used(vq, chain->head, 0);
		break;
	}
}

/**
 * tv_scsi_handle_kick() - serve a request queue's new buffers
 * @work: the queue's kick work
 *
 * Context: worker.
 */
void tv_scsi_handle_kick(struct tv_work *work)
{
	struct tv_vq *vq = container_of(work, struct tv_vq, kick_work);

	tv_ring_serve(vq, tv_scsi_handle_req);
	if (!llist_empty(&vq->submit))
		queue_work(tv_submit_wq, &vq->submit_work);
}

/**
 * tv_scsi_submit_work() - submit a request queue's batch to LIO
 * @work: the queue's submit work
 *
 * The commands are fully prepared (target_submit_prep()); nothing here
 * touches the queue itself, which teardown keeps alive by flushing this
 * work (tv_dev_flush()).
 *
 * Context: kworker of tv_submit_wq, on the CPU of the kick handler.
 */
void tv_scsi_submit_work(struct work_struct *work)
{
	struct tv_vq *vq = container_of(work, struct tv_vq, submit_work);
	struct llist_node *list = llist_del_all(&vq->submit);
	struct tv_cmd *cmd, *next;

	/* A command may complete, reusing done_node, once submitted. */
	llist_for_each_entry_safe(cmd, next, llist_reverse_order(list),
				  done_node)
		target_submit(&cmd->se_cmd);
}

static void tv_scsi_respond(struct tv_vq *vq, struct tv_cmd *cmd)
{
	struct se_cmd *se_cmd = &cmd->se_cmd;
	struct virtio_scsi_cmd_resp resp = {};
	u32 data_in = 0, sense_len;
	unsigned int i;
	size_t skip;

	resp.response = cmd->response;
	if (cmd->response == VIRTIO_SCSI_S_OK) {
		resp.status = se_cmd->scsi_status;
		sense_len = min_t(u32, se_cmd->scsi_sense_length,
				  VIRTIO_SCSI_SENSE_SIZE);
		memcpy(resp.sense, cmd->sense, sense_len);
		resp.sense_len = tv_cpu32(vq, sense_len);
		if (se_cmd->se_cmd_flags & (SCF_OVERFLOW_BIT | SCF_UNDERFLOW_BIT))
			resp.resid = tv_cpu32(vq, se_cmd->residual_count);
		if (cmd->dir == DMA_FROM_DEVICE)
			data_in = se_cmd->data_length;
	}
	/* The backend wrote data-in pages behind our back: log them. */
	skip = sizeof(resp);
	for (i = 0; i < cmd->nin && cmd->dir == DMA_FROM_DEVICE; i++) {
		if (skip < cmd->in[i].len)
			tv_log_write(vq, cmd->in[i].gpa + skip,
				     cmd->in[i].len - skip);
		skip -= min_t(size_t, skip, cmd->in[i].len);
	}
	tv_scsi_write_resp(vq, cmd->in, cmd->nin, cmd->head, &resp, data_in);
}

static void tv_scsi_done_locked(struct tv_vq *vq)
{
	struct tv_cmd *cmd, *next;
	struct llist_node *list;

	lockdep_assert_held(&vq->mutex);
	list = llist_reverse_order(llist_del_all(&vq->done));
	llist_for_each_entry_safe(cmd, next, list, done_node) {
		tv_scsi_respond(vq, cmd);
		tv_cmd_put_data(cmd);
		if (cmd->released) {
			tv_cmd_put(cmd);
		} else {
			WRITE_ONCE(cmd->responded, true);
			transport_generic_free_cmd(&cmd->se_cmd, 0);
		}
	}
	tv_ring_flush(vq);
}

/**
 * tv_scsi_handle_done() - write responses of completed commands
 * @work: the queue's done work
 *
 * Context: worker.
 */
void tv_scsi_handle_done(struct tv_work *work)
{
	struct tv_vq *vq = container_of(work, struct tv_vq, done_work);

	mutex_lock(&vq->mutex);
	tv_scsi_done_locked(vq);
	mutex_unlock(&vq->mutex);
}

/**
 * tv_scsi_drain_done() - write a request queue's completed commands now
 * @vq: request queue
 *
 * Context: worker of the control queue, its vq mutex held (the request
 * queue's mutex nests inside it).
 */
void tv_scsi_drain_done(struct tv_vq *vq)
{
	mutex_lock_nested(&vq->mutex, SINGLE_DEPTH_NESTING);
	tv_scsi_done_locked(vq);
	mutex_unlock(&vq->mutex);
}

static void tv_scsi_complete(struct tv_cmd *cmd)
{
	struct tv_vq *vq = cmd->vq;

	llist_add(&cmd->done_node, &vq->done);
	tv_work_queue(READ_ONCE(vq->worker), &vq->done_work);
}

/**
 * tv_scsi_queue_status() - LIO has the status (and data) of a command
 * @se_cmd: the command
 *
 * Context: any; LIO's completion context.
 * Return: 0.
 */
int tv_scsi_queue_status(struct se_cmd *se_cmd)
{
	struct tv_cmd *cmd = container_of(se_cmd, struct tv_cmd, se_cmd);

	cmd->response = VIRTIO_SCSI_S_OK;
	tv_scsi_complete(cmd);
	return 0;
}

/**
 * tv_scsi_aborted_task() - LIO aborted a command without a status
 * @se_cmd: the command; ->release_cmd() follows
 *
 * Context: any.
 */
void tv_scsi_aborted_task(struct se_cmd *se_cmd)
{
	struct tv_cmd *cmd = container_of(se_cmd, struct tv_cmd, se_cmd);

	cmd->response = atomic_read(&cmd->vq->dev->resets) ?
			VIRTIO_SCSI_S_RESET : VIRTIO_SCSI_S_ABORTED;
}

/**
 * tv_scsi_release_cmd() - LIO dropped its last reference to a command
 * @se_cmd: a request-queue command or a TMF
 *
 * Context: any.
 */
void tv_scsi_release_cmd(struct se_cmd *se_cmd)
{
	struct tv_cmd *cmd;

	if (se_cmd->se_cmd_flags & SCF_SCSI_TMR_CDB) {
		tv_ctl_release_tmf(se_cmd);
		return;
	}
	cmd = container_of(se_cmd, struct tv_cmd, se_cmd);
	if (cmd->responded) {
		tv_cmd_put(cmd);	/* the done handler put the data */
		return;
	}
	/* Never reported: answer the guest (ABORTED), then free. */
	WRITE_ONCE(cmd->released, true);
	tv_scsi_complete(cmd);
}
