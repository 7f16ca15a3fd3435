// SPDX-License-Identifier: GPL-2.0
/*
 * SCSI-3 persistent reservations between two initiators: two vhost
 * devices, each on its own WWPN and I_T nexus, with LUN 0 of both mapped
 * to one shared backstore.  The device must give LIO distinct nexuses and
 * carry RESERVATION CONFLICT back to the guest.
 */
#include "kselftest_harness.h"
#include "vs_test.h"

#define KEY_A		0xa1a1a1a1a1a1a1a1ULL
#define KEY_B		0xb2b2b2b2b2b2b2b2ULL

/* PERSISTENT RESERVE OUT service actions and types (SPC-4). */
#define PRO_REGISTER	0x00
#define PRO_RESERVE	0x01
#define PRO_RELEASE	0x02
#define PRO_CLEAR	0x03
#define PRO_PREEMPT	0x04
#define PRI_READ_KEYS	0x00
#define PRI_READ_RESV	0x01
#define PR_WRITE_EXCL	0x1
#define PR_EXCL_ACCESS	0x3

FIXTURE(pr) {
	struct vs_lio lio;
	char bs[VS_PATH];
	char wa[32], wb[32];
	struct vs_opts o;
	struct vs_dev a, b;
	uint64_t abuf, bbuf;
};

static void pr_cleanup(FIXTURE_DATA(pr) *self)
{
	vs_dev_close(&self->a);
	vs_dev_close(&self->b);
	vs_lio_destroy(&self->lio);
}

static int pr_open(struct vs_dev *d, const struct vs_opts *o,
		   const char *wwpn, uint64_t *buf)
{
	int r = vs_dev_start(d, o, wwpn);

	if (!r)
		r = vs_clear_ua(d, 0, 1, 0);
	*buf = vs_alloc(d, 64 * 1024, VS_PAGE);
	return r ? r : (*buf ? 0 : -ENOMEM);
}

FIXTURE_SETUP(pr)
{
	struct vs_lio *l = &self->lio;

	VS_REQUIRE_TARGET();
	if (vs_lio_pr_storage())
		VS_SKIP_SETUP("LIO has no writable dbroot for PR state");
	vs_lio_init(l);
	VS_SETUP(vs_lio_rd(l, 1024, false, self->bs), pr_cleanup(self));
	/* vs_lio_simple() gives each TPG its own initiator name. */
	VS_SETUP(vs_lio_simple(l, self->bs, self->wa), pr_cleanup(self));
	VS_SETUP(vs_lio_simple(l, self->bs, self->wb), pr_cleanup(self));
	vs_opts_init(&self->o);
	VS_SETUP(pr_open(&self->a, &self->o, self->wa, &self->abuf),
		 pr_cleanup(self));
	VS_SETUP(pr_open(&self->b, &self->o, self->wb, &self->bbuf),
		 pr_cleanup(self));
}

FIXTURE_TEARDOWN(pr)
{
	pr_cleanup(self);
}

/* Run a command, passing over one unit attention; returns the status. */
static int status_of(struct vs_dev *d, const uint8_t *cdb, unsigned int n,
		     enum vs_dir dir, uint64_t gpa, uint32_t len)
{
	struct vs_cmd c = { 0 };
	int tries;

	for (tries = 0; tries < 3; tries++) {
		if (vs_scsi(d, 0, &c, 1, 0, cdb, n, dir, gpa, len))
			return -1;
		if (c.resp.response != VIRTIO_SCSI_S_OK)
			return -2;
		if (!vs_is_ua(&c))
			break;
	}
	return c.resp.status;
}

static int pr_out(struct vs_dev *d, uint64_t buf, uint8_t sa, uint8_t type,
		  uint64_t key, uint64_t sa_key)
{
	uint8_t cdb[16], *p = vs_gpa(d, buf);

	memset(p, 0, 24);
	vs_put_be64(p, key);
	vs_put_be64(p + 8, sa_key);
	return status_of(d, cdb, vs_cdb_pr_out(cdb, sa, type, 24), VS_TO_DEV,
			 buf, 24);
}

static int pr_in(struct vs_dev *d, uint64_t buf, uint8_t sa)
{
	uint8_t cdb[16];

	memset(vs_gpa(d, buf), 0, 256);
	return status_of(d, cdb, vs_cdb_pr_in(cdb, sa, 256), VS_FROM_DEV, buf,
			 256);
}

static int rw_status(struct vs_dev *d, uint64_t buf, bool write)
{
	uint8_t cdb[16];

	return status_of(d, cdb, vs_cdb_rw(cdb, write, 10, 64, 8),
			 write ? VS_TO_DEV : VS_FROM_DEV, buf, 8 * VS_BLOCK);
}

/* Both initiators register; A takes a reservation of @type. */
static int reg_both_reserve(FIXTURE_DATA(pr) *self, uint8_t type)
{
	if (pr_out(&self->a, self->abuf, PRO_REGISTER, 0, 0, KEY_A) ||
	    pr_out(&self->b, self->bbuf, PRO_REGISTER, 0, 0, KEY_B))
		return -1;
	return pr_out(&self->a, self->abuf, PRO_RESERVE, type, KEY_A, 0);
}

TEST_F(pr, write_exclusive)
{
	uint8_t *p = vs_gpa(&self->b, self->bbuf);
	uint64_t k0, k1;

	ASSERT_EQ(VS_SAM_GOOD, reg_both_reserve(self, PR_WRITE_EXCL));
	ASSERT_EQ(VS_SAM_RESV_CONFLICT, rw_status(&self->b, self->bbuf, true));
	ASSERT_EQ(VS_SAM_GOOD, rw_status(&self->b, self->bbuf, false));
	ASSERT_EQ(VS_SAM_GOOD, rw_status(&self->a, self->abuf, true));

	/* Both keys are registered, whoever asks. */
	ASSERT_EQ(VS_SAM_GOOD, pr_in(&self->b, self->bbuf, PRI_READ_KEYS));
	ASSERT_EQ(16U, vs_be32(p + 4));
	k0 = vs_be64(p + 8);
	k1 = vs_be64(p + 16);
	ASSERT_TRUE((k0 == KEY_A && k1 == KEY_B) ||
		    (k0 == KEY_B && k1 == KEY_A));

	ASSERT_EQ(VS_SAM_GOOD, pr_in(&self->b, self->bbuf, PRI_READ_RESV));
	ASSERT_EQ(16U, vs_be32(p + 4));
	ASSERT_EQ(KEY_A, vs_be64(p + 8));
	ASSERT_EQ(PR_WRITE_EXCL, p[21] & 0x0f);

	/* Released: B may write again. */
	ASSERT_EQ(VS_SAM_GOOD, pr_out(&self->a, self->abuf, PRO_RELEASE,
				      PR_WRITE_EXCL, KEY_A, 0));
	ASSERT_EQ(VS_SAM_GOOD, rw_status(&self->b, self->bbuf, true));
}

TEST_F(pr, exclusive_access)
{
	ASSERT_EQ(VS_SAM_GOOD, reg_both_reserve(self, PR_EXCL_ACCESS));
	ASSERT_EQ(VS_SAM_RESV_CONFLICT,
		  rw_status(&self->b, self->bbuf, false));
	ASSERT_EQ(VS_SAM_RESV_CONFLICT, rw_status(&self->b, self->bbuf, true));
	ASSERT_EQ(VS_SAM_GOOD, rw_status(&self->a, self->abuf, false));
}

TEST_F(pr, unregistered_cannot_reserve)
{
	uint8_t *p = vs_gpa(&self->b, self->bbuf);

	/*
	 * SPC wants RESERVATION CONFLICT; LIO 6.1 answers CHECK CONDITION.
	 * Either way it must fail, whatever key B brings: A's key belongs
	 * to A's nexus only.
	 */
	ASSERT_EQ(VS_SAM_GOOD, pr_out(&self->a, self->abuf, PRO_REGISTER, 0,
				      0, KEY_A));
	ASSERT_NE(VS_SAM_GOOD, pr_out(&self->b, self->bbuf, PRO_RESERVE,
				      PR_WRITE_EXCL, KEY_B, 0));
	ASSERT_NE(VS_SAM_GOOD, pr_out(&self->b, self->bbuf, PRO_RESERVE,
				      PR_WRITE_EXCL, KEY_A, 0));
	ASSERT_EQ(VS_SAM_GOOD, pr_in(&self->b, self->bbuf, PRI_READ_RESV));
	ASSERT_EQ(0U, vs_be32(p + 4));
	ASSERT_EQ(VS_SAM_GOOD, rw_status(&self->b, self->bbuf, true));
}

TEST_F(pr, preempt)
{
	uint8_t *p = vs_gpa(&self->b, self->bbuf);

	ASSERT_EQ(VS_SAM_GOOD, reg_both_reserve(self, PR_WRITE_EXCL));
	ASSERT_EQ(VS_SAM_GOOD, pr_out(&self->b, self->bbuf, PRO_PREEMPT,
				      PR_WRITE_EXCL, KEY_B, KEY_A));
	ASSERT_EQ(VS_SAM_GOOD, pr_in(&self->b, self->bbuf, PRI_READ_KEYS));
	ASSERT_EQ(8U, vs_be32(p + 4));
	ASSERT_EQ(KEY_B, vs_be64(p + 8));
	ASSERT_EQ(VS_SAM_GOOD, pr_in(&self->b, self->bbuf, PRI_READ_RESV));
	ASSERT_EQ(KEY_B, vs_be64(p + 8));
	ASSERT_EQ(VS_SAM_RESV_CONFLICT, rw_status(&self->a, self->abuf, true));
	ASSERT_EQ(VS_SAM_GOOD, rw_status(&self->b, self->bbuf, true));
}

/* The I_T nexus outlives the vhost fd: so do its reservations. */
TEST_F(pr, survives_device_reopen)
{
	uint8_t *p;

	ASSERT_EQ(VS_SAM_GOOD, reg_both_reserve(self, PR_WRITE_EXCL));
	vs_dev_close(&self->a);
	ASSERT_EQ(0, pr_open(&self->a, &self->o, self->wa, &self->abuf));
	p = vs_gpa(&self->a, self->abuf);
	ASSERT_EQ(VS_SAM_GOOD, pr_in(&self->a, self->abuf, PRI_READ_RESV));
	ASSERT_EQ(16U, vs_be32(p + 4));
	ASSERT_EQ(KEY_A, vs_be64(p + 8));
	ASSERT_EQ(VS_SAM_GOOD, rw_status(&self->a, self->abuf, true));
	ASSERT_EQ(VS_SAM_RESV_CONFLICT, rw_status(&self->b, self->bbuf, true));
}

TEST_F(pr, clear)
{
	uint8_t *p = vs_gpa(&self->b, self->bbuf);

	ASSERT_EQ(VS_SAM_GOOD, reg_both_reserve(self, PR_WRITE_EXCL));
	ASSERT_EQ(VS_SAM_GOOD, pr_out(&self->a, self->abuf, PRO_CLEAR, 0,
				      KEY_A, 0));
	ASSERT_EQ(VS_SAM_GOOD, pr_in(&self->b, self->bbuf, PRI_READ_KEYS));
	ASSERT_EQ(0U, vs_be32(p + 4));
	ASSERT_EQ(VS_SAM_GOOD, rw_status(&self->b, self->bbuf, true));
}

TEST_HARNESS_MAIN
