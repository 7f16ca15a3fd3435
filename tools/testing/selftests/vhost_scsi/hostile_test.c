// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile guest: broken descriptor chains, addresses outside guest
 * memory, malformed requests.  For each, the device answers with an error
 * or drops the request, never reports success, never writes outside the
 * buffers it was given, and keeps working:
 *  - a per-request error must not stop the queue;
 *  - a broken ring may stop the queue (the in-tree module stops handling
 *    it until the next kick), but a device reset, as a VMM does it, and a
 *    new fd on the same target must both work again.
 * run_tests.sh checks dmesg for oopses and warnings after this binary.
 */
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "vs_test.h"

#define SEED		7	/* pattern at LBA 0..7 */
#define SETTLE_MS	1000
#define TAIL		256	/* canary bytes after every buffer */
#define RESP_LEN	((uint32_t)sizeof(struct virtio_scsi_cmd_resp))
#define REQ_LEN		((uint32_t)sizeof(struct virtio_scsi_cmd_req))
#define XREG_SIZE	(64 * 1024)

#define RO_DESC_WHY \
	"runs a READ whose data buffer is device-readable as a WRITE of that " \
	"buffer (direction comes from the chain layout only)"
#define BAD_TARGET_OVERFLOW_WHY \
	"writes a whole virtio_scsi_cmd_resp into the first response " \
	"descriptor (send_bad_target)"

FIXTURE(hostile) {
	struct vs_target t;
	struct vs_opts o;
	uint64_t ro_gpa, hole_gpa;	/* extra regions, no usable memory */
	void *ro_map, *hole_map;
};

static void hostile_cleanup(FIXTURE_DATA(hostile) *self)
{
	vs_target_stop(&self->t);
	if (self->ro_map)
		munmap(self->ro_map, XREG_SIZE);
	if (self->hole_map)
		munmap(self->hole_map, XREG_SIZE);
}

/*
 * Two more table entries past guest RAM: one backed by a read-only
 * mapping, one by PROT_NONE.  Only the device can try to write there.
 */
static int add_bad_regions(FIXTURE_DATA(hostile) *self)
{
	struct vs_dev *d = &self->t.d;

	self->ro_map = mmap(NULL, XREG_SIZE, PROT_READ,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	self->hole_map = mmap(NULL, XREG_SIZE, PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (self->ro_map == MAP_FAILED || self->hole_map == MAP_FAILED) {
		self->ro_map = self->hole_map = NULL;
		return -ENOMEM;
	}
	self->ro_gpa = d->gpa_end + (16 << 20);
	self->hole_gpa = d->gpa_end + (32 << 20);
	d->extra[0] = (struct vs_region){ self->ro_map, self->ro_gpa,
					  XREG_SIZE };
	d->extra[1] = (struct vs_region){ self->hole_map, self->hole_gpa,
					  XREG_SIZE };
	d->nextra = 2;
	return vs_set_mem_table(d);
}

static int hostile_start(FIXTURE_DATA(hostile) *self)
{
	struct vs_dev *d = &self->t.d;
	int r;

	vs_lio_init(&self->t.lio);
	r = vs_lio_rd(&self->t.lio, 1024, false, self->t.bs);
	if (!r)
		r = vs_lio_simple(&self->t.lio, self->t.bs, self->t.wwpn);
	if (!r)
		r = vs_dev_open(d, &self->o);
	if (!r)
		r = add_bad_regions(self);
	if (!r)
		r = vs_dev_set_endpoint(d, self->t.wwpn);
	if (!r)
		r = vs_verify_rw(d, 0, 1, 0, 0, 8, SEED);
	return r;
}

FIXTURE_SETUP(hostile)
{
	VS_REQUIRE_TARGET();
	vs_opts_init(&self->o);
	VS_SETUP(hostile_start(self), hostile_cleanup(self));
}

FIXTURE_TEARDOWN(hostile)
{
	hostile_cleanup(self);
}

/* ---- building blocks ------------------------------------------------ */

static struct vs_vq *rq(FIXTURE_DATA(hostile) *self)
{
	return vs_req_vq(&self->t.d, 0);
}

/* A buffer of @len bytes followed by TAIL canary bytes, all canary. */
static uint64_t canary_buf(struct vs_dev *d, uint32_t len)
{
	uint64_t gpa = vs_alloc(d, len + TAIL, 16);

	if (gpa)
		memset(vs_gpa(d, gpa), VS_CANARY_BYTE, len + TAIL);
	return gpa;
}

static bool tail_intact(struct vs_dev *d, uint64_t gpa, uint32_t len)
{
	return vs_bytes_are((uint8_t *)vs_gpa(d, gpa) + len, TAIL,
			    VS_CANARY_BYTE);
}

/* A request header for READ(10) of 8 blocks at LBA 0 (or @cdb). */
static uint64_t read_req(struct vs_dev *d, unsigned int target,
			 const uint8_t *cdb)
{
	uint64_t gpa = vs_alloc(d, REQ_LEN, 16);
	struct virtio_scsi_cmd_req *r;

	if (!gpa)
		return 0;
	r = vs_gpa(d, gpa);
	vs_lun(r->lun, target, 0);
	r->tag = 0x4242;
	if (cdb)
		memcpy(r->cdb, cdb, sizeof(r->cdb));
	else
		vs_cdb_rw(r->cdb, false, 10, 0, 8);
	return gpa;
}

/*
 * Take @n free descriptors and lay them out as a chain (NEXT between
 * consecutive ones); @idx gets their indexes for further tampering.
 */
static int chain(struct vs_vq *vq, const struct vs_seg *s, unsigned int n,
		 int *idx)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		idx[i] = vs_vq_take_desc(vq);
		if (idx[i] < 0)
			return idx[i];
	}
	for (i = 0; i < n; i++)
		vs_vq_raw_desc(vq, idx[i], s[i].gpa, s[i].len,
			       (s[i].write ? VRING_DESC_F_WRITE : 0) |
			       (i + 1 < n ? VRING_DESC_F_NEXT : 0),
			       i + 1 < n ? idx[i + 1] : 0);
	return idx[0];
}

/*
 * Let the device chew on what was published, then consume whatever it
 * returned.  Returns the number of used entries, or -EPROTO if the device
 * returned a head that was not outstanding.
 */
static int settle(struct vs_vq *vq)
{
	uint64_t end = vs_now_ns() + SETTLE_MS * 1000000ULL;
	int n = 0, r;

	while (vs_vq_used_idx(vq) == vq->last_used && vs_now_ns() < end)
		vs_sleep_ms(5);
	vs_sleep_ms(100);
	while ((r = vs_vq_get_used(vq, NULL, NULL)) >= 0)
		n++;
	if (vs_vq_take_error(vq))
		fprintf(stderr, "# device signalled the vring error eventfd\n");
	return r == -EAGAIN ? n : r;
}

static bool resp_success(struct vs_dev *d, uint64_t resp)
{
	struct virtio_scsi_cmd_resp *p = vs_gpa(d, resp);

	return p->response == VIRTIO_SCSI_S_OK && p->status == VS_SAM_GOOD;
}

/* READ of LBA 0 on the same queue within @ms: 0, -ETIMEDOUT, ... */
static int probe(struct vs_dev *d, int ms)
{
	uint64_t buf = vs_alloc(d, 4096, VS_PAGE);
	struct vs_cmd c;
	int r;

	if (!buf || vs_cmd_init(d, &c, 4))
		return -ENOMEM;
	vs_lun(c.lun, 1, 0);
	vs_cdb_rw(c.cdb, false, 10, 0, 8);
	c.dir = VS_FROM_DEV;
	c.data_gpa = buf;
	c.data_len = 4096;
	r = vs_cmd_run(d, 0, &c, ms);
	if (r)
		return r;
	if (!vs_good(&c))
		return -EIO;
	return vs_check(d, buf, 4096, SEED) < 0 ? 0 : -EILSEQ;
}

/*
 * After the hostile request: guest memory outside the table untouched;
 * the queue still serving unless @may_stall; then a device reset and a
 * fresh fd both work.
 */
static void still_works(struct __test_metadata *_metadata,
			FIXTURE_DATA(hostile) *self, bool may_stall)
{
	struct vs_dev *d = &self->t.d;
	int r;

	ASSERT_TRUE(vs_guards_intact(d));
	r = probe(d, 2000);
	if (r == -ETIMEDOUT) {
		ASSERT_TRUE(may_stall)
			TH_LOG("queue stopped after a per-request error");
	} else {
		ASSERT_EQ(0, r);
	}
	ASSERT_EQ(0, vs_dev_reset(d));
	ASSERT_EQ(0, vs_verify_rw(d, 0, 1, 0, 0, 8, SEED));
	ASSERT_TRUE(vs_guards_intact(d));
	vs_dev_close(d);
	ASSERT_EQ(0, vs_dev_start(d, &self->o, self->t.wwpn));
	ASSERT_EQ(0, vs_verify_rw(d, 0, 1, 0, 0, 8, SEED));
}

/*
 * The usual READ layout: request, response, data-in.  Returns the head;
 * @idx gets the three descriptor indexes.
 */
static int read_chain(FIXTURE_DATA(hostile) *self, uint64_t *resp,
		      uint64_t data, uint32_t data_len, int *idx)
{
	struct vs_dev *d = &self->t.d;
	struct vs_seg s[3];

	*resp = canary_buf(d, RESP_LEN);
	s[0] = (struct vs_seg){ read_req(d, 1, NULL), REQ_LEN, false };
	s[1] = (struct vs_seg){ *resp, RESP_LEN, true };
	s[2] = (struct vs_seg){ data, data_len, true };
	if (!s[0].gpa || !*resp)
		return -ENOMEM;
	return chain(rq(self), s, 3, idx);
}

/* Publish @head, kick, settle; the request must not have succeeded. */
#define RUN_HOSTILE(head, resp) do {					\
	int __n;							\
	ASSERT_LE(0, (head));						\
	vs_vq_raw_publish(rq(self), (uint16_t)(head));			\
	vs_vq_kick_force(rq(self));					\
	__n = settle(rq(self));				\
	ASSERT_LE(0, __n);						\
	if ((resp) && __n) {						\
		ASSERT_FALSE(resp_success(&self->t.d, (resp)));		\
	}								\
} while (0)

/* ---- broken rings ---------------------------------------------------- */

TEST_F(hostile, desc_loop)
{
	uint64_t resp, data = canary_buf(&self->t.d, 4096);
	int idx[3], head = read_chain(self, &resp, data, 4096, idx);

	ASSERT_LE(0, head);
	/* Make it all device-readable and point the last one back. */
	rq(self)->desc[idx[1]].flags &= ~VRING_DESC_F_WRITE;
	rq(self)->desc[idx[2]].flags = VRING_DESC_F_NEXT;
	rq(self)->desc[idx[2]].next = idx[0];
	RUN_HOSTILE(head, resp);
	still_works(_metadata, self, true);
}

TEST_F(hostile, desc_self_loop)
{
	int i = vs_vq_take_desc(rq(self));
	uint64_t req = read_req(&self->t.d, 1, NULL);

	ASSERT_LE(0, i);
	vs_vq_raw_desc(rq(self), i, req, REQ_LEN, VRING_DESC_F_NEXT, i);
	RUN_HOSTILE(i, 0);
	still_works(_metadata, self, true);
}

TEST_F(hostile, head_out_of_range)
{
	struct vs_vq *vq = rq(self);
	int n;

	vs_vq_raw_publish(vq, (uint16_t)(vq->num + 5));
	vs_vq_kick_force(vq);
	n = settle(vq);
	/* Nothing real was posted: nothing may come back. */
	ASSERT_EQ(0, n);
	still_works(_metadata, self, true);
}

TEST_F(hostile, next_out_of_range)
{
	uint64_t resp, data = canary_buf(&self->t.d, 4096);
	int idx[3], head = read_chain(self, &resp, data, 4096, idx);

	ASSERT_LE(0, head);
	rq(self)->desc[idx[1]].next = 0xffff;
	RUN_HOSTILE(head, resp);
	still_works(_metadata, self, true);
}

TEST_F(hostile, addr_outside_table)
{
	struct vs_dev *d = &self->t.d;
	static const uint64_t bad[] = { 0x1000, VS_GPA_BASE - 512, 0 };
	unsigned int i;

	/* Below guest memory, straddling its start, and above its end. */
	for (i = 0; i < 3; i++) {
		uint64_t resp, gpa = bad[i] ? bad[i] : d->gpa_end + 4096;
		int idx[3], head;

		head = read_chain(self, &resp, gpa, 4096, idx);
		RUN_HOSTILE(head, resp);
		ASSERT_EQ(0, vs_dev_reset(d));
	}
	still_works(_metadata, self, true);
}

TEST_F(hostile, len_wraps_address_space)
{
	uint64_t resp;
	int idx[3], head;

	head = read_chain(self, &resp, 0xfffffffffffff000ULL, 0x2000, idx);
	RUN_HOSTILE(head, resp);
	still_works(_metadata, self, true);
}

TEST_F(hostile, len_beyond_table_end)
{
	struct vs_dev *d = &self->t.d;
	uint64_t resp, data = d->gpa_end - 4096;
	int idx[3], head;

	/* Starts inside guest memory, runs 4 KiB past its end. */
	memset(vs_gpa(d, data), VS_CANARY_BYTE, 4096);
	head = read_chain(self, &resp, data, 8192, idx);
	RUN_HOSTILE(head, resp);
	ASSERT_TRUE(vs_guards_intact(d));
	still_works(_metadata, self, true);
}

TEST_F(hostile, indirect_nested)
{
	struct vs_dev *d = &self->t.d;
	uint64_t t1 = vs_alloc(d, 16, 16), t2 = vs_alloc(d, 32, 16);
	uint64_t resp = canary_buf(d, RESP_LEN);
	struct vring_desc *a = vs_gpa(d, t1), *b = vs_gpa(d, t2);
	int head = vs_vq_take_desc(rq(self));

	ASSERT_LE(0, head);
	b[0] = (struct vring_desc){ read_req(d, 1, NULL), REQ_LEN,
				    VRING_DESC_F_NEXT, 1 };
	b[1] = (struct vring_desc){ resp, RESP_LEN, VRING_DESC_F_WRITE, 0 };
	a[0] = (struct vring_desc){ t2, 32, VRING_DESC_F_INDIRECT, 0 };
	vs_vq_raw_desc(rq(self), head, t1, 16, VRING_DESC_F_INDIRECT, 0);
	RUN_HOSTILE(head, resp);
	still_works(_metadata, self, true);
}

/* An indirect table for a plain READ; @len is what the head claims. */
static int indirect_read(FIXTURE_DATA(hostile) *self, uint64_t *resp,
			 uint64_t table, uint32_t len)
{
	struct vs_dev *d = &self->t.d;
	struct vring_desc *t = vs_gpa(d, table);
	int head = vs_vq_take_desc(rq(self));

	*resp = canary_buf(d, RESP_LEN);
	if (head < 0 || !*resp)
		return -ENOMEM;
	if (t) {
		t[0] = (struct vring_desc){ read_req(d, 1, NULL), REQ_LEN,
					    VRING_DESC_F_NEXT, 1 };
		t[1] = (struct vring_desc){ *resp, RESP_LEN,
					    VRING_DESC_F_WRITE, 0 };
	}
	vs_vq_raw_desc(rq(self), head, table, len, VRING_DESC_F_INDIRECT, 0);
	return head;
}

TEST_F(hostile, indirect_len_not_multiple)
{
	uint64_t resp, table = vs_alloc(&self->t.d, 64, 16);
	int head = indirect_read(self, &resp, table, 40);

	RUN_HOSTILE(head, resp);
	still_works(_metadata, self, true);
}

TEST_F(hostile, indirect_len_zero)
{
	uint64_t resp, table = vs_alloc(&self->t.d, 64, 16);
	int head = indirect_read(self, &resp, table, 0);

	RUN_HOSTILE(head, resp);
	still_works(_metadata, self, true);
}

TEST_F(hostile, indirect_table_outside)
{
	uint64_t resp;
	int head = indirect_read(self, &resp, self->t.d.gpa_end + 8192, 32);

	RUN_HOSTILE(head, resp);
	still_works(_metadata, self, true);
}

TEST_F(hostile, indirect_next_out_of_table)
{
	struct vs_dev *d = &self->t.d;
	uint64_t resp, table = vs_alloc(d, 64, 16);
	struct vring_desc *t = vs_gpa(d, table);
	int head = indirect_read(self, &resp, table, 32);

	t[1].flags |= VRING_DESC_F_NEXT;
	t[1].next = 7;		/* the table has two entries */
	RUN_HOSTILE(head, resp);
	still_works(_metadata, self, true);
}

TEST_F_TIMEOUT(hostile, indirect_too_many_entries, 60)
{
	struct vs_dev *d = &self->t.d;
	const unsigned int n = 2050, seg = 256;
	uint64_t table = vs_alloc(d, n * 16, 16);
	uint64_t data = vs_alloc(d, (n - 2) * seg, 16);
	uint64_t resp = canary_buf(d, RESP_LEN);
	struct vring_desc *t = vs_gpa(d, table);
	uint8_t cdb[16];
	unsigned int i;
	int head = vs_vq_take_desc(rq(self)), used;

	/* More segments than any ring may hold: READ 2048 * 256 bytes. */
	ASSERT_LE(0, head);
	ASSERT_NE(0, data);
	vs_cdb_rw(cdb, false, 10, 0, (n - 2) * seg / VS_BLOCK);
	t[0] = (struct vring_desc){ read_req(d, 1, cdb), REQ_LEN,
				    VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ resp, RESP_LEN,
				    VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 };
	for (i = 2; i < n; i++)
		t[i] = (struct vring_desc){ data + (i - 2) * seg, seg,
					    VRING_DESC_F_WRITE |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0),
					    (uint16_t)(i + 1) };
	vs_vq_raw_desc(rq(self), head, table, n * 16, VRING_DESC_F_INDIRECT,
		       0);
	vs_vq_raw_publish(rq(self), head);
	vs_vq_kick_force(rq(self));
	used = settle(rq(self));
	ASSERT_LE(0, used);
	/* Refusing is fine; claiming success means the data is there. */
	if (used && resp_success(d, resp)) {
		ASSERT_EQ(-1, vs_check(d, data, 8 * VS_BLOCK, SEED));
	}
	ASSERT_TRUE(tail_intact(d, resp, RESP_LEN));
	still_works(_metadata, self, true);
}

TEST_F(hostile, avail_idx_jump)
{
	struct vs_vq *vq = rq(self);

	vs_vq_raw_avail_idx(vq, (uint16_t)(vq->avail_idx + vq->num + 5));
	vs_vq_kick_force(vq);
	ASSERT_EQ(0, settle(vq));
	still_works(_metadata, self, true);
}

TEST_F(hostile, readable_after_writable)
{
	struct vs_dev *d = &self->t.d;
	uint64_t resp = canary_buf(d, RESP_LEN);
	uint64_t data = canary_buf(d, 4096);
	struct vs_seg s[3] = {
		{ read_req(d, 1, NULL), REQ_LEN, false },
		{ resp, RESP_LEN, true },
		{ data, 4096, false },	/* device-readable after writable */
	};
	int idx[3];

	RUN_HOSTILE(chain(rq(self), s, 3, idx), resp);
	ASSERT_TRUE(vs_bytes_are(vs_gpa(d, data), 4096 + TAIL,
				 VS_CANARY_BYTE));
	still_works(_metadata, self, true);
}

TEST_F(hostile, duplicate_head)
{
	struct vs_dev *d = &self->t.d;
	uint64_t resp, data = canary_buf(d, 4096);
	int idx[3], head = read_chain(self, &resp, data, 4096, idx), n;

	/* The same chain twice in the avail ring: one buffer, two users. */
	ASSERT_LE(0, head);
	vs_vq_raw_publish(rq(self), (uint16_t)head);
	vs_vq_raw_publish(rq(self), (uint16_t)head);
	vs_vq_kick_force(rq(self));
	n = settle(rq(self));
	ASSERT_TRUE(n >= 0 || n == -EPROTO);
	ASSERT_TRUE(tail_intact(d, data, 4096));
	still_works(_metadata, self, true);
}

/* ---- malformed requests: the queue must keep going ------------------- */

TEST_F(hostile, short_header)
{
	struct vs_dev *d = &self->t.d;
	uint64_t resp = canary_buf(d, RESP_LEN);
	struct vs_seg s[2] = {
		{ read_req(d, 1, NULL), 20, false },
		{ resp, RESP_LEN, true },
	};
	int idx[2];

	RUN_HOSTILE(chain(rq(self), s, 2, idx), resp);
	ASSERT_TRUE(tail_intact(d, resp, RESP_LEN));
	still_works(_metadata, self, false);
}

TEST_F(hostile, short_response)
{
	struct vs_dev *d = &self->t.d;
	uint64_t resp = canary_buf(d, 8);
	uint8_t cdb[16];
	struct vs_seg s[2] = {
		{ 0, REQ_LEN, false },
		{ resp, 8, true },
	};
	int idx[2];

	vs_cdb_tur(cdb);
	s[0].gpa = read_req(d, 1, cdb);
	RUN_HOSTILE(chain(rq(self), s, 2, idx), 0);
	/* 8 bytes is all the device may write. */
	ASSERT_TRUE(tail_intact(d, resp, 8));
	still_works(_metadata, self, false);
}

TEST_F(hostile, no_response_descriptor)
{
	struct vs_dev *d = &self->t.d;
	uint8_t cdb[16];
	struct vs_seg s[1] = { { 0, REQ_LEN, false } };
	int idx[1];

	vs_cdb_tur(cdb);
	s[0].gpa = read_req(d, 1, cdb);
	RUN_HOSTILE(chain(rq(self), s, 1, idx), 0);
	still_works(_metadata, self, false);
}

TEST_F(hostile, lun_byte0_not_1)
{
	struct vs_dev *d = &self->t.d;
	uint64_t resp, data = canary_buf(d, 4096);
	int idx[3], head = read_chain(self, &resp, data, 4096, idx);
	struct virtio_scsi_cmd_req *r;

	ASSERT_LE(0, head);
	r = vs_gpa(d, rq(self)->desc[idx[0]].addr);
	r->lun[0] = 0;
	RUN_HOSTILE(head, resp);
	ASSERT_TRUE(tail_intact(d, data, 4096));
	still_works(_metadata, self, false);
}

TEST_F(hostile, cdb_length_too_big)
{
	struct vs_dev *d = &self->t.d;
	uint8_t cdb[VIRTIO_SCSI_CDB_SIZE] = { 0x7f };
	uint64_t resp = canary_buf(d, RESP_LEN);
	struct vs_seg s[2] = { { 0, REQ_LEN, false }, { resp, RESP_LEN, true } };
	int idx[2];

	/* VARIABLE LENGTH CDB claiming 8 + 248 bytes, in a 32-byte field. */
	cdb[7] = 248;
	s[0].gpa = read_req(d, 1, cdb);
	RUN_HOSTILE(chain(rq(self), s, 2, idx), resp);
	still_works(_metadata, self, false);
}

TEST_F(hostile, data_in_to_readonly_desc)
{
	struct vs_dev *d = &self->t.d;
	uint64_t resp = canary_buf(d, RESP_LEN);
	uint64_t data = canary_buf(d, 4096);
	/* READ, but the data buffer is marked device-readable. */
	struct vs_seg s[3] = {
		{ read_req(d, 1, NULL), REQ_LEN, false },
		{ data, 4096, false },
		{ resp, RESP_LEN, true },
	};
	int idx[3], n;

	ASSERT_LE(0, chain(rq(self), s, 3, idx));
	vs_vq_raw_publish(rq(self), (uint16_t)idx[0]);
	vs_vq_kick_force(rq(self));
	n = settle(rq(self));
	ASSERT_LE(0, n);
	/* Neither the buffer nor the disk (checked next) may change. */
	VS_KNOWN_BROKEN(vs_bytes_are(vs_gpa(d, data), 4096 + TAIL,
				     VS_CANARY_BYTE) &&
			!(n && resp_success(d, resp)), "vhost_scsi",
			RO_DESC_WHY);
	still_works(_metadata, self, false);
}

TEST_F(hostile, bad_target_split_response)
{
	struct vs_dev *d = &self->t.d;
	uint64_t r1 = canary_buf(d, 8), r2 = canary_buf(d, RESP_LEN);
	uint8_t cdb[16];
	struct vs_seg s[3] = {
		{ 0, REQ_LEN, false },
		{ r1, 8, true },		/* response, first piece */
		{ r2, RESP_LEN - 8, true },	/* ...and the rest */
	};
	struct virtio_scsi_cmd_resp resp;
	int idx[3];

	vs_cdb_tur(cdb);
	s[0].gpa = read_req(d, 9, cdb);		/* no such target */
	RUN_HOSTILE(chain(rq(self), s, 3, idx), 0);
	VS_KNOWN_BROKEN(tail_intact(d, r1, 8), "vhost_scsi",
			BAD_TARGET_OVERFLOW_WHY);
	ASSERT_TRUE(tail_intact(d, r2, RESP_LEN - 8));
	memcpy(&resp, vs_gpa(d, r1), 8);
	memcpy((uint8_t *)&resp + 8, vs_gpa(d, r2), RESP_LEN - 8);
	ASSERT_EQ(VIRTIO_SCSI_S_BAD_TARGET, resp.response);
	still_works(_metadata, self, false);
}

/* ---- guest memory the device cannot write --------------------------- */

TEST_F(hostile, data_in_to_readonly_memory)
{
	uint64_t resp;
	int idx[3], head = read_chain(self, &resp, self->ro_gpa, 4096, idx);

	RUN_HOSTILE(head, resp);
	ASSERT_TRUE(vs_bytes_are(self->ro_map, XREG_SIZE, 0));
	still_works(_metadata, self, false);
}

TEST_F(hostile, data_in_to_unmapped_memory)
{
	uint64_t resp;
	int idx[3], head = read_chain(self, &resp, self->hole_gpa, 4096, idx);

	RUN_HOSTILE(head, resp);
	still_works(_metadata, self, false);
}

TEST_F(hostile, response_in_readonly_memory)
{
	struct vs_dev *d = &self->t.d;
	uint8_t cdb[16];
	struct vs_seg s[2] = {
		{ 0, REQ_LEN, false },
		{ self->ro_gpa, RESP_LEN, true },
	};
	int idx[2];

	vs_cdb_tur(cdb);
	s[0].gpa = read_req(d, 1, cdb);
	RUN_HOSTILE(chain(rq(self), s, 2, idx), 0);
	ASSERT_TRUE(vs_bytes_are(self->ro_map, XREG_SIZE, 0));
	still_works(_metadata, self, false);
}

TEST_F(hostile, write_from_unmapped_memory)
{
	struct vs_dev *d = &self->t.d;
	uint64_t resp = canary_buf(d, RESP_LEN);
	uint8_t cdb[16];
	struct vs_seg s[3] = {
		{ 0, REQ_LEN, false },
		{ self->hole_gpa, 4096, false },
		{ resp, RESP_LEN, true },
	};
	int idx[3];

	vs_cdb_rw(cdb, true, 10, 0, 8);
	s[0].gpa = read_req(d, 1, cdb);
	RUN_HOSTILE(chain(rq(self), s, 3, idx), resp);
	/* LBA 0 still holds what was there: checked by still_works(). */
	still_works(_metadata, self, false);
}

/*
 * A table entry whose backing is a kernel address.  Refusing the table
 * (at SET_MEM_TABLE or SET_ENDPOINT) is the best answer; accepting it,
 * the device must still never write through it.
 */
TEST_F(hostile, kernel_address_region)
{
	struct vs_dev *d = &self->t.d;
	uint64_t resp;
	int idx[3], head, r;

	vs_dev_close(d);
	ASSERT_EQ(0, vs_dev_open(d, &self->o));
	d->extra[0] = (struct vs_region){ (uint8_t *)0xffff888000000000ULL,
					  d->gpa_end + (64 << 20), 1 << 20 };
	d->nextra = 1;
	r = vs_set_mem_table(d);
	if (r) {
		ASSERT_TRUE(r == -EFAULT || r == -EINVAL) TH_LOG("%d", r);
		return;
	}
	r = vs_dev_set_endpoint(d, self->t.wwpn);
	if (r) {
		/* Refused when the rings go live: as good. */
		ASSERT_TRUE(r == -EFAULT || r == -EINVAL) TH_LOG("%d", r);
		vs_dev_close(d);
		ASSERT_EQ(0, vs_dev_start(d, &self->o, self->t.wwpn));
		ASSERT_EQ(0, vs_verify_rw(d, 0, 1, 0, 0, 8, SEED));
		return;
	}
	ASSERT_EQ(0, vs_clear_ua(d, 0, 1, 0));
	head = read_chain(self, &resp, d->extra[0].gpa, 4096, idx);
	RUN_HOSTILE(head, resp);
	still_works(_metadata, self, false);
}

TEST_HARNESS_MAIN
