/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vs_lib: a userspace virtio-scsi initiator for /dev/vhost-scsi, and the
 * LIO configfs plumbing the tests and the benchmark need.
 *
 * A process that opens /dev/vhost-scsi is its own guest: it declares part
 * of its address space as "guest memory" (VHOST_SET_MEM_TABLE), lays out
 * split virtqueues in it and talks virtio-scsi to the device.  Guest
 * physical addresses (GPA) never equal the process's own addresses, so a
 * device that forgets to translate is caught by data checks.
 */
#ifndef VS_LIB_H
#define VS_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_scsi.h>

#define VS_DEV_PATH		"/dev/vhost-scsi"
#define VS_TARGET_DIR		"/sys/kernel/config/target"

/* Virtqueue layout fixed by the virtio-scsi spec. */
#define VS_VQ_CTL		0
#define VS_VQ_EVT		1
#define VS_VQ_REQ		2
#define VS_MAX_REQ_VQS		8
#define VS_MAX_VQS		(VS_VQ_REQ + VS_MAX_REQ_VQS)

/* Guest-physical address of the first byte of guest memory. */
#define VS_GPA_BASE		0x100000ULL
#define VS_PAGE			4096UL
#define VS_CANARY_BYTE		0xc5

/* Wait this long for any single completion before failing (ms). */
#define VS_TIMEOUT_MS		5000

#define VS_BLOCK		512

/* Features the library acks unless told otherwise. */
#define VS_F_DEFAULT	((1ULL << VIRTIO_F_VERSION_1) |			\
			 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |	\
			 (1ULL << VIRTIO_RING_F_EVENT_IDX))

/* SCSI status codes (SAM) the tests look at. */
#define VS_SAM_GOOD		0x00
#define VS_SAM_CHECK_COND	0x02
#define VS_SAM_RESV_CONFLICT	0x18

/* Sense keys. */
#define VS_SK_ILLEGAL_REQUEST	0x05
#define VS_SK_UNIT_ATTENTION	0x06

/* Errors of the wait helpers beyond the usual errno values. */
#define VS_ENOIRQ		10001	/* used ring advanced, no call signal */

struct vs_opts {
	unsigned int nreq;		/* request queues to set up */
	unsigned int vq_size;		/* descriptors per ring */
	size_t mem_size;		/* bytes of guest memory */
	bool two_regions;		/* split memory into two table entries */
	uint64_t features;		/* features to ack */
	bool indirect;			/* commands use indirect tables */
};

struct vs_region {
	uint8_t *hva;
	uint64_t gpa;
	size_t size;
};

struct vs_vq {
	struct vs_dev *dev;
	unsigned int index;
	unsigned int num;
	bool ready;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	int kick_fd, call_fd, err_fd;
	uint16_t avail_idx;		/* next avail index we publish */
	uint16_t kicked_idx;		/* avail index at the last kick decision */
	uint16_t last_used;		/* next used entry we consume */
	uint16_t free_head;
	uint16_t num_free;
	void **cookie;			/* per head: what the chain carries */
	unsigned long kicks, kicks_suppressed, irqs;
};

struct vs_cmd;

struct vs_dev {
	int fd;
	struct vs_opts opts;
	uint64_t features;		/* acked */
	uint8_t *map;			/* whole mapping, guards included */
	size_t map_size;
	struct vs_region reg[2];
	unsigned int nregions;
	/*
	 * Extra table entries the library never touches (read-only or
	 * unmapped backing, for hostile tests); owned by the caller, sent
	 * with the next vs_set_mem_table().
	 */
	struct vs_region extra[4];
	unsigned int nextra;
	uint64_t brk;			/* bump allocator: next free GPA */
	uint64_t gpa_end;		/* first GPA past guest memory */
	uint8_t *guard[3];		/* canary pages outside the table */
	unsigned int nguard;
	struct vs_vq vq[VS_MAX_VQS];
	char wwpn[224];
	bool endpoint;
	uint64_t next_tag;
	struct vs_cmd *scratch;		/* for vs_capacity()/vs_verify_rw() */
	uint64_t scratch_gpa;
};

/* ---- guest memory and device -------------------------------------- */

void vs_opts_init(struct vs_opts *o);
/* mmap + mlock guest memory, no device yet. */
int vs_mem_init(struct vs_dev *d, const struct vs_opts *o);
/* Open + SET_OWNER + GET/SET_FEATURES + SET_MEM_TABLE + rings. */
int vs_dev_open(struct vs_dev *d, const struct vs_opts *o);
int vs_dev_set_endpoint(struct vs_dev *d, const char *wwpn);
int vs_dev_clear_endpoint(struct vs_dev *d);
/* Full device reset as a VMM does it: clear endpoint, rings back to 0. */
int vs_dev_reset(struct vs_dev *d);
void vs_dev_close(struct vs_dev *d);
/* Open + endpoint in one go; returns 0 or -errno. */
int vs_dev_start(struct vs_dev *d, const struct vs_opts *o, const char *wwpn);

/* Build the VHOST_SET_MEM_TABLE argument; caller frees. */
struct vhost_memory *vs_mem_table(const struct vs_dev *d);
int vs_set_mem_table(struct vs_dev *d);
int vs_vq_setup(struct vs_dev *d, unsigned int index);
/* Rewind a ring to its pristine state (endpoint must be cleared). */
int vs_vq_reset(struct vs_dev *d, unsigned int index);

uint64_t vs_alloc(struct vs_dev *d, size_t size, size_t align);
/* Allocate @size bytes that straddle the region boundary (two regions). */
uint64_t vs_alloc_straddle(struct vs_dev *d, size_t size);
void *vs_gpa(const struct vs_dev *d, uint64_t gpa);
void vs_fill(struct vs_dev *d, uint64_t gpa, size_t len, uint32_t seed);
/* Returns the offset of the first mismatch, or -1 if all bytes match. */
long vs_check(struct vs_dev *d, uint64_t gpa, size_t len, uint32_t seed);
void vs_pattern(void *buf, size_t len, uint32_t seed);
/* Canary helpers: pages outside the memory table, and guest bytes. */
bool vs_guards_intact(const struct vs_dev *d);
bool vs_bytes_are(const void *p, size_t len, uint8_t val);

/* ---- virtqueue mechanics ------------------------------------------ */

struct vs_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;			/* device-writable */
};

static inline struct vs_vq *vs_req_vq(struct vs_dev *d, unsigned int q)
{
	return &d->vq[VS_VQ_REQ + q];
}

/*
 * Post a chain: direct descriptors, or one INDIRECT descriptor pointing at
 * a table at @table_gpa (room for @n entries).  Returns the head or -ENOSPC.
 */
int vs_vq_add(struct vs_vq *vq, const struct vs_seg *segs, unsigned int n,
	      uint64_t table_gpa, void *cookie);
/* Notify the device if the ring's suppression state asks for it. */
bool vs_vq_kick(struct vs_vq *vq);
void vs_vq_kick_force(struct vs_vq *vq);
/* Consume one used entry: returns the head, or -EAGAIN if none. */
int vs_vq_get_used(struct vs_vq *vq, uint32_t *len, void **cookie);
uint16_t vs_vq_used_idx(const struct vs_vq *vq);
/*
 * Wait until the used ring has an unconsumed entry, via the call eventfd.
 * 0, -ETIMEDOUT, or -VS_ENOIRQ if entries arrived without a signal.
 */
int vs_vq_wait(struct vs_vq *vq, int timeout_ms);
/* Wait for used entries by polling memory only (no eventfd). */
int vs_vq_poll_used(struct vs_vq *vq, uint16_t want_idx, int timeout_ms);
/* Non-blocking: drain the call eventfd, return its counter (0 if none). */
uint64_t vs_vq_take_signal(struct vs_vq *vq);
uint64_t vs_vq_take_error(struct vs_vq *vq);
/* Ask for interrupts (EVENT_IDX: used_event, else clear NO_INTERRUPT). */
void vs_vq_enable_cb(struct vs_vq *vq);
void vs_vq_disable_cb(struct vs_vq *vq);
void vs_vq_set_used_event(struct vs_vq *vq, uint16_t idx);
/* Is the device asking to be kicked for the next buffer? */
bool vs_vq_notify_enabled(const struct vs_vq *vq);

/* Raw helpers for hostile chains: no validation on purpose. */
int vs_vq_take_desc(struct vs_vq *vq);
void vs_vq_raw_desc(struct vs_vq *vq, unsigned int i, uint64_t gpa,
		    uint32_t len, uint16_t flags, uint16_t next);
void vs_vq_raw_publish(struct vs_vq *vq, uint16_t head);
void vs_vq_raw_avail_idx(struct vs_vq *vq, uint16_t idx);
static inline bool vs_has(const struct vs_dev *d, unsigned int bit)
{
	return d->features & (1ULL << bit);
}

/* ---- virtio-scsi commands ------------------------------------------ */

enum vs_dir { VS_NONE, VS_TO_DEV, VS_FROM_DEV };

struct vs_cmd {
	/* Request */
	uint8_t lun[8];
	uint8_t cdb[VIRTIO_SCSI_CDB_SIZE];
	enum vs_dir dir;
	uint64_t data_gpa;
	uint32_t data_len;
	unsigned int nsegs;		/* split data into this many descriptors */
	unsigned int hdr_split;		/* split the request header in pieces */
	unsigned int resp_split;	/* ...and the response header */
	bool indirect;
	uint8_t task_attr;
	/* Guest memory owned by the command (vs_cmd_init) */
	uint64_t req_gpa, resp_gpa, table_gpa;
	unsigned int table_max;
	/* Result */
	struct virtio_scsi_cmd_resp resp;
	uint32_t used_len;
	uint64_t tag;
	bool done;
	int head;
	uint64_t t_submit, t_done;	/* CLOCK_MONOTONIC ns */
	void *priv;
};

void vs_lun(uint8_t lun[8], unsigned int target, unsigned int lun_id);
int vs_cmd_init(struct vs_dev *d, struct vs_cmd *c, unsigned int max_segs);
/* Post a command on request queue @q (no kick). */
int vs_cmd_submit(struct vs_dev *d, unsigned int q, struct vs_cmd *c);
/* Collect completions of queue @q; returns how many, or -errno. */
int vs_reap(struct vs_dev *d, unsigned int q, int timeout_ms);
/* Submit, kick and wait for this one command. */
int vs_cmd_run(struct vs_dev *d, unsigned int q, struct vs_cmd *c,
	       int timeout_ms);

/* A command in one call: returns 0 (see c->resp) or -errno. */
int vs_scsi(struct vs_dev *d, unsigned int q, struct vs_cmd *c,
	    unsigned int target, unsigned int lun, const uint8_t *cdb,
	    unsigned int cdb_len, enum vs_dir dir, uint64_t gpa, uint32_t len);
/* READ/WRITE(6/10/16) of @blocks at @lba; @op_size is 6, 10 or 16. */
int vs_rw(struct vs_dev *d, unsigned int q, struct vs_cmd *c,
	  unsigned int target, unsigned int lun, bool write, int op_size,
	  uint64_t lba, uint32_t blocks, uint64_t gpa);
/* True if the command completed with response OK and GOOD status. */
bool vs_good(const struct vs_cmd *c);
/* Was this a CHECK CONDITION with UNIT ATTENTION (worth one retry)? */
bool vs_is_ua(const struct vs_cmd *c);

/*
 * Quick probes used to tell "the device still works": both retry a unit
 * attention.  vs_capacity() returns the number of blocks or -errno, or
 * -EIO for a bad status; vs_verify_rw() writes @blocks (<= 64) of a
 * pattern at @lba, reads them back and returns 0, -errno, -EIO for a bad
 * status or -EILSEQ for wrong data.
 */
int64_t vs_capacity(struct vs_dev *d, unsigned int q, unsigned int target,
		    unsigned int lun);
/*
 * Consume pending unit attentions (e.g. REPORTED LUNS DATA HAS CHANGED
 * after LUNs were added) with TEST UNIT READY, as an initiator does when
 * it scans.  0 once the LUN answers GOOD, else -EIO or -errno.
 */
int vs_clear_ua(struct vs_dev *d, unsigned int q, unsigned int target,
		unsigned int lun);
int vs_verify_rw(struct vs_dev *d, unsigned int q, unsigned int target,
		 unsigned int lun, uint64_t lba, uint32_t blocks,
		 uint32_t seed);

unsigned int vs_cdb_rw(uint8_t *cdb, bool write, int op_size, uint64_t lba,
		       uint32_t blocks);
unsigned int vs_cdb_inquiry(uint8_t *cdb, bool evpd, uint8_t page,
			    uint16_t alloc);
unsigned int vs_cdb_read_cap10(uint8_t *cdb);
unsigned int vs_cdb_read_cap16(uint8_t *cdb, uint32_t alloc);
unsigned int vs_cdb_report_luns(uint8_t *cdb, uint32_t alloc);
unsigned int vs_cdb_tur(uint8_t *cdb);
unsigned int vs_cdb_pr_in(uint8_t *cdb, uint8_t sa, uint16_t alloc);
unsigned int vs_cdb_pr_out(uint8_t *cdb, uint8_t sa, uint8_t type,
			   uint32_t len);
/* Parse fixed or descriptor sense; false if there is none. */
bool vs_sense(const struct vs_cmd *c, uint8_t *key, uint8_t *asc,
	      uint8_t *ascq);

static inline uint16_t vs_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t vs_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t vs_be64(const uint8_t *p)
{
	return (uint64_t)vs_be32(p) << 32 | vs_be32(p + 4);
}

void vs_put_be16(uint8_t *p, uint16_t v);
void vs_put_be32(uint8_t *p, uint32_t v);
void vs_put_be64(uint8_t *p, uint64_t v);

/* ---- control and event queues -------------------------------------- */

/* Bytes of canary the control helpers keep after each response buffer. */
#define VS_CTL_CANARY	256

/*
 * Post @req (device-readable) and a @resp_len-byte device-writable buffer
 * on the control queue and wait for the answer, copied to @resp.
 * Returns 0, -ETIMEDOUT, -EOVERFLOW if the device wrote past the buffer
 * (checked even on timeout), or -errno.
 */
int vs_ctl_run(struct vs_dev *d, const void *req, uint32_t req_len,
	       void *resp, uint32_t resp_len, int timeout_ms);
/*
 * Send a TMF (subtype VIRTIO_SCSI_T_TMF_*) and wait for its one-byte
 * response: returns the response code, or -errno as vs_ctl_run().
 */
int vs_tmf(struct vs_dev *d, unsigned int target, unsigned int lun,
	   uint32_t subtype, uint64_t tag, int timeout_ms);
/* Post @n event buffers of struct virtio_scsi_event on queue 1. */
int vs_evt_post(struct vs_dev *d, unsigned int n);
/* Wait for the next event; 0 and *ev filled, or -ETIMEDOUT. */
int vs_evt_wait(struct vs_dev *d, struct virtio_scsi_event *ev,
		int timeout_ms);

/* ---- LIO configuration through configfs ----------------------------- */

#define VS_LIO_MAX	64
#define VS_PATH		512	/* configfs path buffers */

enum vs_lio_kind { VS_LIO_DIR, VS_LIO_LINK, VS_LIO_NEXUS };

struct vs_lio {
	unsigned int id;		/* unique per object in this process */
	unsigned int nbs;		/* backstores made so far */
	unsigned int nwwpn;
	unsigned int n;
	struct {
		enum vs_lio_kind kind;
		char path[VS_PATH];
	} obj[VS_LIO_MAX];
};

/* Is the target core and the vhost fabric usable?  0, or -errno. */
int vs_lio_available(void);
void vs_lio_init(struct vs_lio *l);
/* rd_mcp backstore of @pages 4 KiB pages; fills @path (VS_PATH bytes). */
int vs_lio_rd(struct vs_lio *l, unsigned int pages, bool nullio, char *path);
int vs_lio_fileio(struct vs_lio *l, const char *file, uint64_t size,
		  char *path);
/* New WWPN naa.5001405e...; fills @wwpn (>= 32 bytes). */
int vs_lio_wwpn(struct vs_lio *l, char *wwpn);
int vs_lio_tpg(struct vs_lio *l, const char *wwpn, unsigned int tpgt);
int vs_lio_lun(struct vs_lio *l, const char *wwpn, unsigned int tpgt,
	       unsigned int lun, const char *backstore);
/* Remove a LUN made by vs_lio_lun (hot-unplug). */
int vs_lio_unlun(struct vs_lio *l, const char *wwpn, unsigned int tpgt,
		 unsigned int lun);
/* Nexus: @initiator NULL picks a unique naa. name. */
int vs_lio_nexus(struct vs_lio *l, const char *wwpn, unsigned int tpgt,
		 const char *initiator);
/* Tear down everything, newest first; returns the first error. */
int vs_lio_destroy(struct vs_lio *l);
/* A whole target in one call: WWPN + tpgt_1 + nexus + LUN 0 on @bs. */
int vs_lio_simple(struct vs_lio *l, const char *bs, char *wwpn);

/*
 * LIO writes persistent reservation state under <dbroot>/pr even without
 * APTPL, and fails PR OUT if it cannot.  Make sure that directory is
 * writable, moving dbroot to /tmp if needed (only possible while no
 * backstore exists).  0, or -errno.
 */
int vs_lio_pr_storage(void);

int vs_write_file(const char *path, const char *val);
int vs_read_file(const char *path, char *buf, size_t len);

/* A ready-made target: backstore, WWPN/tpgt_1/nexus/LUN 0, open device. */
struct vs_target {
	struct vs_lio lio;
	char bs[VS_PATH];
	char wwpn[32];
	struct vs_dev d;
};

/* rd_mcp of @pages pages; device opened with @o, endpoint set, LUN ready. */
int vs_target_start(struct vs_target *t, unsigned int pages,
		    const struct vs_opts *o);
/* Close the device, then tear the LIO objects down. */
int vs_target_stop(struct vs_target *t);

/* ---- misc ----------------------------------------------------------- */

uint64_t vs_now_ns(void);
void vs_sleep_ms(unsigned int ms);
/* The module under test, from TV_MODULE (the VM runner exports it). */
const char *vs_module(void);
bool vs_module_is(const char *name);
/* Why /dev/vhost-scsi cannot be tested here, or NULL if it can. */
const char *vs_skip_reason(void);

#endif /* VS_LIB_H */
