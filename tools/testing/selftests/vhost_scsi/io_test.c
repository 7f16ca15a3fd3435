// SPDX-License-Identifier: GPL-2.0
/*
 * The request queue data path: SCSI commands end to end, data checked
 * byte for byte, across descriptor layouts (direct, indirect, split
 * headers, two memory regions, the T10-PI header), backstores, and many
 * queues at once.
 */
#include <pthread.h>
#include <stdlib.h>

#include "kselftest_harness.h"
#include "vs_test.h"

/* LUN 0 is big, LUN 3 and LUN 300 are small and told apart by size. */
#define LUN0_BLOCKS	32768
#define LUN3_BLOCKS	2048
#define LUN300_BLOCKS	1024
#define VQ_SIZE		256
#define BIG_IO		(1024 * 1024)
#define BIG_SEGS	250	/* + header + response fits a 256 ring */

FIXTURE(io) {
	struct vs_lio lio;
	char bs[3][VS_PATH];
	char wwpn[32];
	char file[64];
	struct vs_opts o;
	struct vs_dev d;
	uint64_t buf;		/* 256 KiB scratch */
};

FIXTURE_VARIANT(io) {
	bool indirect;
	bool event_idx;
	bool two_regions;
	bool t10_pi;
	bool fileio;
};

FIXTURE_VARIANT_ADD(io, direct) {
	.event_idx = true,
};

FIXTURE_VARIANT_ADD(io, indirect) {
	.indirect = true,
	.event_idx = true,
};

FIXTURE_VARIANT_ADD(io, no_event_idx) {
	.event_idx = false,
};

FIXTURE_VARIANT_ADD(io, two_regions) {
	.two_regions = true,
	.indirect = true,
	.event_idx = true,
};

FIXTURE_VARIANT_ADD(io, t10_pi_header) {
	.t10_pi = true,
	.event_idx = true,
};

FIXTURE_VARIANT_ADD(io, fileio) {
	.fileio = true,
	.event_idx = true,
};

static void io_cleanup(FIXTURE_DATA(io) *self)
{
	vs_dev_close(&self->d);
	vs_lio_destroy(&self->lio);
	if (self->file[0])
		unlink(self->file);
}

FIXTURE_SETUP(io)
{
	struct vs_lio *l = &self->lio;
	int r;

	VS_REQUIRE_TARGET();
	vs_lio_init(l);
	if (variant->fileio) {
		snprintf(self->file, sizeof(self->file), "/tmp/vst%u.img",
			 l->id);
		VS_SETUP(vs_lio_fileio(l, self->file,
				       (uint64_t)LUN0_BLOCKS * VS_BLOCK,
				       self->bs[0]), io_cleanup(self));
	} else {
		VS_SETUP(vs_lio_rd(l, LUN0_BLOCKS / 8, false, self->bs[0]),
			 io_cleanup(self));
	}
	VS_SETUP(vs_lio_rd(l, LUN3_BLOCKS / 8, false, self->bs[1]),
		 io_cleanup(self));
	VS_SETUP(vs_lio_rd(l, LUN300_BLOCKS / 8, false, self->bs[2]),
		 io_cleanup(self));
	VS_SETUP(vs_lio_simple(l, self->bs[0], self->wwpn), io_cleanup(self));
	VS_SETUP(vs_lio_lun(l, self->wwpn, 1, 3, self->bs[1]),
		 io_cleanup(self));
	VS_SETUP(vs_lio_lun(l, self->wwpn, 1, 300, self->bs[2]),
		 io_cleanup(self));

	vs_opts_init(&self->o);
	self->o.vq_size = VQ_SIZE;
	self->o.indirect = variant->indirect;
	self->o.two_regions = variant->two_regions;
	if (!variant->event_idx)
		self->o.features &= ~(1ULL << VIRTIO_RING_F_EVENT_IDX);
	if (variant->t10_pi)
		self->o.features |= 1ULL << VIRTIO_SCSI_F_T10_PI;
	r = vs_dev_start(&self->d, &self->o, self->wwpn);
	if (r == -EOPNOTSUPP && variant->t10_pi) {
		io_cleanup(self);
		VS_SKIP_SETUP("device does not offer VIRTIO_SCSI_F_T10_PI");
	}
	VS_SETUP(r, io_cleanup(self));
	/* Adding LUNs 3 and 300 left a unit attention pending on LUN 0. */
	VS_SETUP(vs_clear_ua(&self->d, 0, 1, 0), io_cleanup(self));
	VS_SETUP(vs_clear_ua(&self->d, 0, 1, 3), io_cleanup(self));
	VS_SETUP(vs_clear_ua(&self->d, 0, 1, 300), io_cleanup(self));
	self->buf = vs_alloc(&self->d, 256 * 1024, VS_PAGE);
	VS_SETUP(self->buf ? 0 : -ENOMEM, io_cleanup(self));
}

FIXTURE_TEARDOWN(io)
{
	io_cleanup(self);
}

/* Run @cdb on target 1 and expect GOOD. */
#define RUN_GOOD(c, lun, cdb, n, dir, gpa, len) do {			\
	ASSERT_EQ(0, vs_scsi(&self->d, 0, (c), 1, (lun), (cdb), (n),	\
			     (dir), (gpa), (len)));			\
	ASSERT_EQ(VIRTIO_SCSI_S_OK, (c)->resp.response);		\
	ASSERT_EQ(VS_SAM_GOOD, (c)->resp.status);			\
} while (0)

/* Expect CHECK CONDITION with sense key @key (and ASC unless < 0). */
#define EXPECT_SENSE(c, key, asc) do {					\
	uint8_t __k, __a, __q;						\
	ASSERT_EQ(VIRTIO_SCSI_S_OK, (c)->resp.response);		\
	ASSERT_EQ(VS_SAM_CHECK_COND, (c)->resp.status);			\
	ASSERT_LT(0U, (c)->resp.sense_len);				\
	ASSERT_GE((uint32_t)VIRTIO_SCSI_SENSE_SIZE, (c)->resp.sense_len);\
	ASSERT_TRUE(vs_sense((c), &__k, &__a, &__q));			\
	ASSERT_EQ((key), __k);						\
	if ((asc) >= 0) {						\
		ASSERT_EQ((asc), __a);					\
	}								\
} while (0)

TEST_F(io, inquiry)
{
	uint8_t cdb[16], *p = vs_gpa(&self->d, self->buf);
	struct vs_cmd c = { 0 };
	unsigned int i;
	bool has80 = false, has83 = false;

	RUN_GOOD(&c, 0, cdb, vs_cdb_inquiry(cdb, false, 0, 96), VS_FROM_DEV,
		 self->buf, 96);
	ASSERT_EQ(0, p[0]);		/* connected direct-access device */
	ASSERT_LE(31, p[4]);		/* additional length */
	for (i = 8; i < 16; i++)
		ASSERT_TRUE(p[i] >= 0x20 && p[i] < 0x7f);

	RUN_GOOD(&c, 0, cdb, vs_cdb_inquiry(cdb, true, 0x00, 64), VS_FROM_DEV,
		 self->buf, 64);
	ASSERT_EQ(0x00, p[1]);
	for (i = 0; i < p[3]; i++) {
		has80 |= p[4 + i] == 0x80;
		has83 |= p[4 + i] == 0x83;
	}
	ASSERT_TRUE(has80 && has83);

	RUN_GOOD(&c, 0, cdb, vs_cdb_inquiry(cdb, true, 0x83, 255),
		 VS_FROM_DEV, self->buf, 255);
	ASSERT_EQ(0x83, p[1]);
	ASSERT_LT(0, vs_be16(p + 2));
}

TEST_F(io, test_unit_ready)
{
	struct vs_cmd c = { 0 };
	uint8_t cdb[16];

	RUN_GOOD(&c, 0, cdb, vs_cdb_tur(cdb), VS_NONE, 0, 0);
	ASSERT_EQ(0U, c.resp.sense_len);
	ASSERT_EQ(0U, c.resp.resid);
	RUN_GOOD(&c, 300, cdb, vs_cdb_tur(cdb), VS_NONE, 0, 0);
}

TEST_F(io, read_capacity)
{
	static const struct { unsigned int lun; uint32_t blocks; } t[] = {
		{ 0, LUN0_BLOCKS }, { 3, LUN3_BLOCKS }, { 300, LUN300_BLOCKS },
	};
	uint8_t cdb[16], *p = vs_gpa(&self->d, self->buf);
	struct vs_cmd c = { 0 };
	unsigned int i;

	for (i = 0; i < 3; i++) {
		RUN_GOOD(&c, t[i].lun, cdb, vs_cdb_read_cap10(cdb),
			 VS_FROM_DEV, self->buf, 8);
		ASSERT_EQ(t[i].blocks - 1, vs_be32(p));
		ASSERT_EQ((uint32_t)VS_BLOCK, vs_be32(p + 4));
		RUN_GOOD(&c, t[i].lun, cdb, vs_cdb_read_cap16(cdb, 32),
			 VS_FROM_DEV, self->buf, 32);
		ASSERT_EQ((uint64_t)t[i].blocks - 1, vs_be64(p));
		ASSERT_EQ((uint32_t)VS_BLOCK, vs_be32(p + 8));
	}
}

TEST_F(io, report_luns)
{
	uint8_t cdb[16], *p = vs_gpa(&self->d, self->buf);
	struct vs_cmd c = { 0 };
	bool seen0 = false, seen3 = false, seen300 = false;
	unsigned int i, n;

	RUN_GOOD(&c, 0, cdb, vs_cdb_report_luns(cdb, 512), VS_FROM_DEV,
		 self->buf, 512);
	n = vs_be32(p) / 8;
	ASSERT_EQ(3U, n);
	for (i = 0; i < n; i++) {
		const uint8_t *e = p + 8 + 8 * i;
		unsigned int lun = (e[0] & 0x3f) << 8 | e[1];

		ASSERT_TRUE(vs_bytes_are(e + 2, 6, 0));
		seen0 |= lun == 0;
		seen3 |= lun == 3;
		seen300 |= lun == 300;
	}
	ASSERT_TRUE(seen0 && seen3 && seen300);
	/* The length field covers the whole list: 512 - 8 - 24 unused. */
	ASSERT_EQ(512U - 32U, c.resp.resid);
}

TEST_F(io, rw_cdb_sizes)
{
	static const int ops[] = { 6, 10, 16 };
	struct vs_cmd c = { 0 };
	unsigned int w, r, k = 0;
	uint32_t len = 16 * VS_BLOCK;

	for (w = 0; w < 3; w++) {
		for (r = 0; r < 3; r++, k++) {
			uint64_t lba = 100 + 32 * k;

			vs_fill(&self->d, self->buf, len, k + 1);
			ASSERT_EQ(0, vs_rw(&self->d, 0, &c, 1, 0, true, ops[w],
					   lba, 16, self->buf));
			ASSERT_TRUE(vs_good(&c));
			memset(vs_gpa(&self->d, self->buf), 0, len);
			ASSERT_EQ(0, vs_rw(&self->d, 0, &c, 1, 0, false,
					   ops[r], lba, 16, self->buf));
			ASSERT_TRUE(vs_good(&c));
			ASSERT_EQ(-1, vs_check(&self->d, self->buf, len, k + 1))
				TH_LOG("WRITE(%d) then READ(%d)", ops[w], ops[r]);
		}
	}
	/* The last blocks of the LUN, 16-byte CDBs only. */
	ASSERT_EQ(0, vs_verify_rw(&self->d, 0, 1, 0, LUN0_BLOCKS - 8, 8, 99));
}

TEST_F(io, rw_past_end)
{
	struct vs_cmd c = { 0 };

	ASSERT_EQ(0, vs_rw(&self->d, 0, &c, 1, 3, false, 16, LUN3_BLOCKS - 4,
			   8, self->buf));
	/* LBA OUT OF RANGE */
	EXPECT_SENSE(&c, VS_SK_ILLEGAL_REQUEST, 0x21);
}

TEST_F(io, luns_are_separate)
{
	static const unsigned int luns[] = { 0, 3, 300 };
	unsigned int i;

	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, vs_verify_rw(&self->d, 0, 1, luns[i], 0, 8,
					  500 + i));
	/* Each LUN still holds its own data after the others were written. */
	for (i = 0; i < 3; i++) {
		struct vs_cmd c = { 0 };

		ASSERT_EQ(0, vs_rw(&self->d, 0, &c, 1, luns[i], false, 10, 0,
				   8, self->buf));
		ASSERT_TRUE(vs_good(&c));
		ASSERT_EQ(-1, vs_check(&self->d, self->buf, 8 * VS_BLOCK,
				       500 + i));
	}
}

TEST_F_TIMEOUT(io, big_io_many_segments, 120)
{
	struct vs_dev *d = &self->d;
	uint64_t wbuf, rbuf;
	struct vs_cmd c;

	/* Buffers off page alignment, so segments straddle pages too. */
	if (variant->two_regions) {
		wbuf = rbuf = vs_alloc_straddle(d, BIG_IO);
	} else {
		wbuf = vs_alloc(d, BIG_IO + VS_PAGE, VS_PAGE) + 100;
		rbuf = vs_alloc(d, BIG_IO + VS_PAGE, VS_PAGE) + 3000;
	}
	ASSERT_LT(VS_GPA_BASE, wbuf);
	ASSERT_LT(VS_GPA_BASE, rbuf);
	ASSERT_EQ(0, vs_cmd_init(d, &c, BIG_SEGS));
	c.nsegs = BIG_SEGS;

	vs_fill(d, wbuf, BIG_IO, 77);
	ASSERT_EQ(0, vs_rw(d, 0, &c, 1, 0, true, 16, 1024,
			   BIG_IO / VS_BLOCK, wbuf));
	ASSERT_TRUE(vs_good(&c));
	/* Anything but the written data, so a no-op READ is caught. */
	vs_fill(d, rbuf, BIG_IO, 78);
	ASSERT_EQ(0, vs_rw(d, 0, &c, 1, 0, false, 16, 1024,
			   BIG_IO / VS_BLOCK, rbuf));
	ASSERT_TRUE(vs_good(&c));
	ASSERT_EQ(0U, c.resp.resid);
	ASSERT_EQ(-1, vs_check(d, rbuf, BIG_IO, 77));
	ASSERT_TRUE(vs_guards_intact(d));
}

TEST_F(io, split_headers)
{
	struct vs_dev *d = &self->d;
	uint32_t len = 8 * VS_BLOCK;
	struct vs_cmd c;

	/* VERSION_1 implies ANY_LAYOUT: header framing must not matter. */
	ASSERT_EQ(0, vs_cmd_init(d, &c, 8));
	c.hdr_split = 3;
	c.resp_split = 4;
	c.nsegs = 2;
	vs_fill(d, self->buf, len, 41);
	ASSERT_EQ(0, vs_rw(d, 0, &c, 1, 0, true, 10, 40, 8, self->buf));
	ASSERT_TRUE(vs_good(&c));
	memset(vs_gpa(d, self->buf), 0, len);
	ASSERT_EQ(0, vs_rw(d, 0, &c, 1, 0, false, 10, 40, 8, self->buf));
	ASSERT_TRUE(vs_good(&c));
	ASSERT_EQ(-1, vs_check(d, self->buf, len, 41));
	/* A check condition's sense data lands across the pieces too. */
	ASSERT_EQ(0, vs_rw(d, 0, &c, 1, 0, false, 16, LUN0_BLOCKS, 8,
			   self->buf));
	EXPECT_SENSE(&c, VS_SK_ILLEGAL_REQUEST, 0x21);
}

TEST_F(io, task_attributes)
{
	static const uint8_t attrs[] = { VIRTIO_SCSI_S_SIMPLE,
					 VIRTIO_SCSI_S_ORDERED,
					 VIRTIO_SCSI_S_HEAD };
	struct vs_cmd c;
	unsigned int i;

	ASSERT_EQ(0, vs_cmd_init(&self->d, &c, 4));
	for (i = 0; i < 3; i++) {
		c.task_attr = attrs[i];
		vs_fill(&self->d, self->buf, 4096, 60 + i);
		ASSERT_EQ(0, vs_rw(&self->d, 0, &c, 1, 0, true, 10, 8 * i, 8,
				   self->buf));
		ASSERT_TRUE(vs_good(&c)) TH_LOG("task attr %u", attrs[i]);
	}
}

TEST_F(io, unsupported_opcode)
{
	uint8_t cdb[16] = { 0xff };
	struct vs_cmd c = { 0 };

	ASSERT_EQ(0, vs_scsi(&self->d, 0, &c, 1, 0, cdb, 6, VS_NONE, 0, 0));
	/* INVALID COMMAND OPERATION CODE */
	EXPECT_SENSE(&c, VS_SK_ILLEGAL_REQUEST, 0x20);
}

TEST_F(io, residual_underrun)
{
	uint8_t *p = vs_gpa(&self->d, self->buf);
	struct vs_cmd c = { 0 };
	uint8_t cdb[16];

	ASSERT_EQ(0, vs_verify_rw(&self->d, 0, 1, 0, 200, 8, 71));
	/* 4 KiB transfer into an 8 KiB buffer. */
	memset(p, 0xab, 8192);
	RUN_GOOD(&c, 0, cdb, vs_cdb_rw(cdb, false, 10, 200, 8), VS_FROM_DEV,
		 self->buf, 8192);
	ASSERT_EQ(4096U, c.resp.resid);
	ASSERT_EQ(-1, vs_check(&self->d, self->buf, 4096, 71));
	ASSERT_TRUE(vs_bytes_are(p + 4096, 4096, 0xab));
}

TEST_F(io, residual_overrun)
{
	uint8_t *p = vs_gpa(&self->d, self->buf);
	struct vs_cmd c = { 0 };
	uint8_t cdb[16];

	ASSERT_EQ(0, vs_verify_rw(&self->d, 0, 1, 0, 300, 8, 72));
	/* 4 KiB transfer into a 2 KiB buffer: the rest must not spill. */
	memset(p, 0xab, 8192);
	ASSERT_EQ(0, vs_scsi(&self->d, 0, &c, 1, 0, cdb,
			     vs_cdb_rw(cdb, false, 10, 300, 8), VS_FROM_DEV,
			     self->buf, 2048));
	ASSERT_EQ(VIRTIO_SCSI_S_OK, c.resp.response);
	ASSERT_TRUE(vs_bytes_are(p + 2048, 8192 - 2048, 0xab));
	if (c.resp.status == VS_SAM_GOOD) {
		ASSERT_EQ(2048U, c.resp.resid);
		ASSERT_EQ(-1, vs_check(&self->d, self->buf, 2048, 72));
	} else {
		EXPECT_SENSE(&c, VS_SK_ILLEGAL_REQUEST, -1);
	}
}

TEST_F(io, write_length_mismatch)
{
	struct vs_cmd c = { 0 };
	uint8_t cdb[16];

	ASSERT_EQ(0, vs_verify_rw(&self->d, 0, 1, 0, 400, 8, 73));
	/* The CDB says 4 KiB, the guest brings 2 KiB: refuse, write nothing. */
	vs_fill(&self->d, self->buf, 2048, 74);
	ASSERT_EQ(0, vs_scsi(&self->d, 0, &c, 1, 0, cdb,
			     vs_cdb_rw(cdb, true, 10, 400, 8), VS_TO_DEV,
			     self->buf, 2048));
	EXPECT_SENSE(&c, VS_SK_ILLEGAL_REQUEST, -1);
	ASSERT_EQ(0, vs_rw(&self->d, 0, &c, 1, 0, false, 10, 400, 8,
			   self->buf));
	ASSERT_TRUE(vs_good(&c));
	ASSERT_EQ(-1, vs_check(&self->d, self->buf, 4096, 73));
}

TEST_F(io, nonexistent_lun)
{
	struct vs_cmd c = { 0 };
	uint8_t cdb[16];

	ASSERT_EQ(0, vs_rw(&self->d, 0, &c, 1, 7, false, 10, 0, 8,
			   self->buf));
	/* LOGICAL UNIT NOT SUPPORTED */
	EXPECT_SENSE(&c, VS_SK_ILLEGAL_REQUEST, 0x25);
	ASSERT_EQ(0, vs_scsi(&self->d, 0, &c, 1, 299, cdb, vs_cdb_tur(cdb),
			     VS_NONE, 0, 0));
	EXPECT_SENSE(&c, VS_SK_ILLEGAL_REQUEST, 0x25);
}

TEST_F(io, nonexistent_target)
{
	static const unsigned int targets[] = { 0, 2, 9, 255 };
	struct vs_cmd c = { 0 };
	uint8_t cdb[16];
	unsigned int i;

	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, vs_scsi(&self->d, 0, &c, targets[i], 0, cdb,
				     vs_cdb_tur(cdb), VS_NONE, 0, 0));
		ASSERT_EQ(VIRTIO_SCSI_S_BAD_TARGET, c.resp.response)
			TH_LOG("target %u", targets[i]);
	}
	ASSERT_EQ(0, vs_verify_rw(&self->d, 0, 1, 0, 0, 8, 75));
}

#define QD	60

TEST_F_TIMEOUT(io, many_in_flight, 90)
{
	struct vs_dev *d = &self->d;
	struct vs_cmd *c = calloc(QD, sizeof(*c));
	unsigned int i, done = 0;
	uint64_t deadline;

	ASSERT_NE(NULL, c);
	for (i = 0; i < QD; i++) {
		ASSERT_EQ(0, vs_cmd_init(d, &c[i], 4));
		vs_lun(c[i].lun, 1, 0);
		vs_cdb_rw(c[i].cdb, true, 10, 8 * i, 8);
		c[i].dir = VS_TO_DEV;
		c[i].data_gpa = self->buf + 4096 * i;
		c[i].data_len = 4096;
		vs_fill(d, c[i].data_gpa, 4096, 1000 + i);
		ASSERT_EQ(0, vs_cmd_submit(d, 0, &c[i]));
	}
	/* One kick for the whole batch. */
	vs_vq_kick(vs_req_vq(d, 0));
	deadline = vs_now_ns() + 30000000000ULL;
	while (done < QD && vs_now_ns() < deadline) {
		int r = vs_reap(d, 0, 5000);

		ASSERT_LT(0, r);
		done += r;
	}
	ASSERT_EQ(QD, done);
	for (i = 0; i < QD; i++) {
		ASSERT_TRUE(vs_good(&c[i])) TH_LOG("write %u", i);
		vs_cdb_rw(c[i].cdb, false, 10, 8 * i, 8);
		c[i].dir = VS_FROM_DEV;
		memset(vs_gpa(d, c[i].data_gpa), 0, 4096);
		ASSERT_EQ(0, vs_cmd_submit(d, 0, &c[i]));
	}
	vs_vq_kick(vs_req_vq(d, 0));
	for (done = 0; done < QD && vs_now_ns() < deadline;) {
		int r = vs_reap(d, 0, 5000);

		ASSERT_LT(0, r);
		done += r;
	}
	ASSERT_EQ(QD, done);
	for (i = 0; i < QD; i++) {
		ASSERT_TRUE(vs_good(&c[i])) TH_LOG("read %u", i);
		ASSERT_EQ(-1, vs_check(d, c[i].data_gpa, 4096, 1000 + i))
			TH_LOG("read %u", i);
	}
	free(c);
}

#define MQ_QUEUES	4
#define MQ_DEPTH	16
#define MQ_ROUNDS	6

struct mq_worker {
	struct vs_dev *d;
	unsigned int q;
	struct vs_cmd c[MQ_DEPTH];
	uint64_t buf;
	char err[160];
};

/* Submit every command of the worker, kick once, reap them all. */
static int mq_batch(struct mq_worker *w, bool write, unsigned int round)
{
	uint64_t deadline = vs_now_ns() + 30000000000ULL;
	unsigned int s, done = 0;

	for (s = 0; s < MQ_DEPTH; s++) {
		struct vs_cmd *c = &w->c[s];
		uint64_t lba = 4096 * w->q + 8 * s;

		vs_cdb_rw(c->cdb, write, 16, lba, 8);
		c->dir = write ? VS_TO_DEV : VS_FROM_DEV;
		if (write)
			vs_fill(w->d, c->data_gpa, 4096,
				w->q << 16 | round << 8 | s);
		else
			memset(vs_gpa(w->d, c->data_gpa), 0, 4096);
		if (vs_cmd_submit(w->d, w->q, c))
			return snprintf(w->err, sizeof(w->err), "submit");
	}
	vs_vq_kick(vs_req_vq(w->d, w->q));
	while (done < MQ_DEPTH) {
		int r = vs_reap(w->d, w->q, 5000);

		if (r <= 0 || vs_now_ns() > deadline)
			return snprintf(w->err, sizeof(w->err),
					"q%u reap: %d after %u", w->q, r, done);
		done += r;
	}
	for (s = 0; s < MQ_DEPTH; s++) {
		struct vs_cmd *c = &w->c[s];

		if (!vs_good(c))
			return snprintf(w->err, sizeof(w->err),
					"q%u cmd %u resp %u status %#x", w->q,
					s, c->resp.response, c->resp.status);
		if (!write && vs_check(w->d, c->data_gpa, 4096,
				       w->q << 16 | round << 8 | s) >= 0)
			return snprintf(w->err, sizeof(w->err),
					"q%u cmd %u: wrong data", w->q, s);
	}
	return 0;
}

static void *mq_run(void *arg)
{
	struct mq_worker *w = arg;
	unsigned int round;

	for (round = 0; round < MQ_ROUNDS; round++)
		if (mq_batch(w, true, round) || mq_batch(w, false, round))
			break;
	return NULL;
}

TEST_F_TIMEOUT(io, multiqueue_parallel, 180)
{
	struct mq_worker *w = calloc(MQ_QUEUES, sizeof(*w));
	pthread_t th[MQ_QUEUES];
	struct vs_opts o = self->o;
	unsigned int q, s;

	ASSERT_NE(NULL, w);
	/* A fresh device with four request queues on the same target. */
	vs_dev_close(&self->d);
	o.nreq = MQ_QUEUES;
	o.vq_size = 64;
	ASSERT_EQ(0, vs_dev_start(&self->d, &o, self->wwpn));
	for (q = 0; q < MQ_QUEUES; q++) {
		w[q].d = &self->d;
		w[q].q = q;
		w[q].buf = vs_alloc(&self->d, MQ_DEPTH * 4096, VS_PAGE);
		ASSERT_NE(0, w[q].buf);
		for (s = 0; s < MQ_DEPTH; s++) {
			struct vs_cmd *c = &w[q].c[s];

			ASSERT_EQ(0, vs_cmd_init(&self->d, c, 4));
			vs_lun(c->lun, 1, 0);
			c->data_gpa = w[q].buf + 4096 * s;
			c->data_len = 4096;
		}
	}
	for (q = 0; q < MQ_QUEUES; q++)
		ASSERT_EQ(0, pthread_create(&th[q], NULL, mq_run, &w[q]));
	for (q = 0; q < MQ_QUEUES; q++)
		pthread_join(th[q], NULL);
	for (q = 0; q < MQ_QUEUES; q++) {
		ASSERT_EQ(0, w[q].err[0]) TH_LOG("%s", w[q].err);
	}
	free(w);
}

TEST_HARNESS_MAIN
