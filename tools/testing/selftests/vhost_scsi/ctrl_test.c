// SPDX-License-Identifier: GPL-2.0
/*
 * The control queue: task management functions and asynchronous
 * notification requests, well-formed and not.  A response must fit the
 * buffer the guest gave for it.
 */
#include <stdlib.h>

#include "kselftest_harness.h"
#include "vs_test.h"

#define NOT_TMF_WHY \
	"answers every TMF but LOGICAL UNIT RESET with FUNCTION REJECTED"
#define OVERFLOW_WHY \
	"writes a 108-byte command response into a TMF response buffer"
#define DROP_MS	1000

FIXTURE(ctrl) {
	struct vs_target t;
};

FIXTURE_SETUP(ctrl)
{
	struct vs_opts o;

	VS_REQUIRE_TARGET();
	vs_opts_init(&o);
	VS_SETUP(vs_target_start(&self->t, 1024, &o), vs_target_stop(&self->t));
}

FIXTURE_TEARDOWN(ctrl)
{
	vs_target_stop(&self->t);
}

static bool tmf_done(int r)
{
	/* The spec's FUNCTION COMPLETE is code 0, VIRTIO_SCSI_S_OK. */
	return r == VIRTIO_SCSI_S_OK ||
	       r == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED;
}

static int an_request(struct vs_dev *d, uint32_t type,
		      struct virtio_scsi_ctrl_an_resp *resp)
{
	struct virtio_scsi_ctrl_an_req req;

	memset(&req, 0, sizeof(req));
	req.type = type;
	vs_lun(req.lun, 1, 0);
	req.event_requested = 0xffffffff;
	return vs_ctl_run(d, &req, sizeof(req), resp, sizeof(*resp),
			  VS_TIMEOUT_MS);
}

/* The control queue still answers, and the data path still works. */
static bool still_serving(struct vs_dev *d)
{
	struct virtio_scsi_ctrl_an_resp resp;

	return !an_request(d, VIRTIO_SCSI_T_AN_QUERY, &resp) &&
	       resp.response == VIRTIO_SCSI_S_OK &&
	       !vs_verify_rw(d, 0, 1, 0, 0, 8, 42);
}

TEST_F(ctrl, an_query)
{
	struct virtio_scsi_ctrl_an_resp resp;

	ASSERT_EQ(0, an_request(&self->t.d, VIRTIO_SCSI_T_AN_QUERY, &resp));
	ASSERT_EQ(VIRTIO_SCSI_S_OK, resp.response);
}

TEST_F(ctrl, an_subscribe)
{
	struct virtio_scsi_ctrl_an_resp resp;

	ASSERT_EQ(0, an_request(&self->t.d, VIRTIO_SCSI_T_AN_SUBSCRIBE,
				&resp));
	ASSERT_EQ(VIRTIO_SCSI_S_OK, resp.response);
}

TEST_F(ctrl, lun_reset)
{
	int r = vs_tmf(&self->t.d, 1, 0, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET,
		       0, VS_TIMEOUT_MS);

	ASSERT_TRUE(tmf_done(r)) TH_LOG("response %d", r);
	ASSERT_EQ(0, vs_verify_rw(&self->t.d, 0, 1, 0, 0, 8, 1));
}

#define INFLIGHT	30

TEST_F_TIMEOUT(ctrl, lun_reset_with_io_in_flight, 90)
{
	struct vs_dev *d = &self->t.d;
	struct vs_cmd *c = calloc(INFLIGHT, sizeof(*c));
	uint64_t buf = vs_alloc(d, INFLIGHT * 4096, VS_PAGE);
	uint64_t deadline;
	unsigned int i, done;
	int r;

	ASSERT_NE(NULL, c);
	ASSERT_NE(0, buf);
	for (i = 0; i < INFLIGHT; i++) {
		ASSERT_EQ(0, vs_cmd_init(d, &c[i], 4));
		vs_lun(c[i].lun, 1, 0);
		vs_cdb_rw(c[i].cdb, true, 10, 8 * i, 8);
		c[i].dir = VS_TO_DEV;
		c[i].data_gpa = buf + 4096 * i;
		c[i].data_len = 4096;
		ASSERT_EQ(0, vs_cmd_submit(d, 0, &c[i]));
	}
	vs_vq_kick(vs_req_vq(d, 0));
	r = vs_tmf(d, 1, 0, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 0,
		   VS_TIMEOUT_MS * 4);
	ASSERT_TRUE(tmf_done(r)) TH_LOG("response %d", r);
	/* Every request comes back, completed or aborted: none is lost. */
	deadline = vs_now_ns() + 20000000000ULL;
	for (;;) {
		for (done = 0, i = 0; i < INFLIGHT; i++)
			done += c[i].done;
		if (done == INFLIGHT || vs_now_ns() > deadline)
			break;
		vs_reap(d, 0, 500);
	}
	ASSERT_EQ(INFLIGHT, done);
	ASSERT_EQ(0, vs_verify_rw(d, 0, 1, 0, 0, 8, 2));
	free(c);
}

TEST_F(ctrl, abort_task_unknown_tag)
{
	int r = vs_tmf(&self->t.d, 1, 0, VIRTIO_SCSI_T_TMF_ABORT_TASK,
		       0xdeadbeefULL, VS_TIMEOUT_MS);

	ASSERT_LE(0, r);
	/* SAM: aborting a task that does not exist is FUNCTION COMPLETE. */
	VS_KNOWN_BROKEN(tmf_done(r), "vhost_scsi", NOT_TMF_WHY);
}

TEST_F(ctrl, abort_task_completed)
{
	struct vs_cmd c = { 0 };
	uint8_t cdb[16];
	int r;

	ASSERT_EQ(0, vs_scsi(&self->t.d, 0, &c, 1, 0, cdb, vs_cdb_tur(cdb),
			     VS_NONE, 0, 0));
	ASSERT_TRUE(vs_good(&c));
	r = vs_tmf(&self->t.d, 1, 0, VIRTIO_SCSI_T_TMF_ABORT_TASK, c.tag,
		   VS_TIMEOUT_MS);
	ASSERT_LE(0, r);
	VS_KNOWN_BROKEN(tmf_done(r), "vhost_scsi", NOT_TMF_WHY);
	ASSERT_TRUE(still_serving(&self->t.d));
}

TEST_F(ctrl, i_t_nexus_reset)
{
	int r = vs_tmf(&self->t.d, 1, 0, VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET, 0,
		       VS_TIMEOUT_MS);

	ASSERT_LE(0, r);
	VS_KNOWN_BROKEN(tmf_done(r), "vhost_scsi", NOT_TMF_WHY);
	ASSERT_TRUE(still_serving(&self->t.d));
}

TEST_F(ctrl, tmf_bad_target)
{
	int r = vs_tmf(&self->t.d, 9, 0, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET,
		       0, VS_TIMEOUT_MS);

	VS_KNOWN_BROKEN(r != -EOVERFLOW, "vhost_scsi", OVERFLOW_WHY);
	ASSERT_EQ(VIRTIO_SCSI_S_BAD_TARGET, r);
	ASSERT_TRUE(still_serving(&self->t.d));
}

TEST_F(ctrl, tmf_short_request)
{
	uint32_t type = VIRTIO_SCSI_T_TMF;
	uint8_t resp;
	int r;

	/* Only the type field: answer with an error or drop it. */
	r = vs_ctl_run(&self->t.d, &type, sizeof(type), &resp, 1, DROP_MS);
	VS_KNOWN_BROKEN(r != -EOVERFLOW, "vhost_scsi", OVERFLOW_WHY);
	ASSERT_TRUE(r == 0 || r == -ETIMEDOUT) TH_LOG("%d", r);
	if (!r) {
		ASSERT_NE(VIRTIO_SCSI_S_FUNCTION_SUCCEEDED, resp);
	}
	ASSERT_TRUE(still_serving(&self->t.d));
}

TEST_F(ctrl, tmf_no_response_room)
{
	struct virtio_scsi_ctrl_tmf_req req;
	uint8_t resp;
	int r;

	memset(&req, 0, sizeof(req));
	req.type = VIRTIO_SCSI_T_TMF;
	req.subtype = VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET;
	vs_lun(req.lun, 1, 0);
	r = vs_ctl_run(&self->t.d, &req, sizeof(req), &resp, 0, DROP_MS);
	ASSERT_TRUE(r == 0 || r == -ETIMEDOUT) TH_LOG("%d", r);
	ASSERT_TRUE(still_serving(&self->t.d));
}

TEST_F(ctrl, unknown_request_type)
{
	uint32_t req[8] = { 0x77 };
	uint8_t resp[8];
	int r;

	r = vs_ctl_run(&self->t.d, req, sizeof(req), resp, sizeof(resp),
		       DROP_MS);
	ASSERT_TRUE(r == 0 || r == -ETIMEDOUT) TH_LOG("%d", r);
	ASSERT_TRUE(still_serving(&self->t.d));
}

TEST_HARNESS_MAIN
