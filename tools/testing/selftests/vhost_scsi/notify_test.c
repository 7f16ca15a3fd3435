// SPDX-License-Identifier: GPL-2.0
/*
 * Notification suppression in both directions, with and without
 * VIRTIO_RING_F_EVENT_IDX: the device must re-enable kicks before it goes
 * idle, and must honour the guest's wish not to be interrupted.
 */
#include <poll.h>

#include "kselftest_harness.h"
#include "vs_test.h"

FIXTURE(notify) {
	struct vs_target t;
	uint64_t buf;
};

FIXTURE_VARIANT(notify) {
	bool event_idx;
};

FIXTURE_VARIANT_ADD(notify, event_idx) {
	.event_idx = true,
};

FIXTURE_VARIANT_ADD(notify, flags) {
	.event_idx = false,
};

FIXTURE_SETUP(notify)
{
	struct vs_opts o;

	VS_REQUIRE_TARGET();
	vs_opts_init(&o);
	if (!variant->event_idx)
		o.features &= ~(1ULL << VIRTIO_RING_F_EVENT_IDX);
	VS_SETUP(vs_target_start(&self->t, 1024, &o), vs_target_stop(&self->t));
	self->buf = vs_alloc(&self->t.d, 64 * 1024, VS_PAGE);
	VS_SETUP(self->buf ? 0 : -ENOMEM, vs_target_stop(&self->t));
}

FIXTURE_TEARDOWN(notify)
{
	vs_target_stop(&self->t);
}

/* Is a call signal pending, or does one arrive within @ms? */
static bool got_signal(struct vs_vq *vq, int ms)
{
	struct pollfd p = { .fd = vq->call_fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && vs_vq_take_signal(vq);
}

static void prep_read(struct vs_cmd *c, uint64_t gpa, uint64_t lba)
{
	vs_lun(c->lun, 1, 0);
	vs_cdb_rw(c->cdb, false, 10, lba, 8);
	c->dir = VS_FROM_DEV;
	c->data_gpa = gpa;
	c->data_len = 8 * VS_BLOCK;
}

TEST_F(notify, idle_device_wants_kicks)
{
	struct vs_vq *vq = vs_req_vq(&self->t.d, 0);
	unsigned int i, ms;

	for (i = 0; i < 20; i++) {
		ASSERT_EQ(0, vs_verify_rw(&self->t.d, 0, 1, 0, 8 * i, 8, i));
		/* Once idle, a guest that honours suppression must kick. */
		for (ms = 0; ms < 2000 && !vs_vq_notify_enabled(vq); ms++)
			vs_sleep_ms(1);
		ASSERT_TRUE(vs_vq_notify_enabled(vq)) TH_LOG("round %u", i);
	}
}

TEST_F_TIMEOUT(notify, suppressed_kicks_still_served, 120)
{
	struct vs_dev *d = &self->t.d;
	struct vs_vq *vq = vs_req_vq(d, 0);
	struct vs_cmd c[3];
	unsigned int i, j, n;

	for (j = 0; j < 3; j++)
		ASSERT_EQ(0, vs_cmd_init(d, &c[j], 4));
	/*
	 * Batches of 1..3 requests, each followed by a kick only when the
	 * ring says so.  A device that went idle with notifications off
	 * would never see a request again: the reap times out.
	 */
	for (i = 0; i < 60; i++) {
		n = 1 + i % 3;
		for (j = 0; j < n; j++) {
			prep_read(&c[j], self->buf + 4096 * j, 8 * j);
			ASSERT_EQ(0, vs_cmd_submit(d, 0, &c[j]));
			vs_vq_kick(vq);
		}
		for (j = 0; j < n; j++) {
			while (!c[j].done)
				ASSERT_LT(0, vs_reap(d, 0, VS_TIMEOUT_MS))
					TH_LOG("round %u, kicks %lu suppressed %lu",
					       i, vq->kicks,
					       vq->kicks_suppressed);
			ASSERT_TRUE(vs_good(&c[j]));
		}
	}
	TH_LOG("kicks %lu, suppressed %lu, interrupts %lu", vq->kicks,
	       vq->kicks_suppressed, vq->irqs);
}

TEST_F(notify, interrupt_suppression)
{
	struct vs_dev *d = &self->t.d;
	struct vs_vq *vq = vs_req_vq(d, 0);
	struct vs_cmd c;
	void *cookie;

	ASSERT_EQ(0, vs_cmd_init(d, &c, 4));
	prep_read(&c, self->buf, 0);
	ASSERT_EQ(0, vs_cmd_run(d, 0, &c, VS_TIMEOUT_MS));
	ASSERT_TRUE(vs_good(&c));
	vs_sleep_ms(50);
	vs_vq_take_signal(vq);

	/* "Don't interrupt me for the next completion." */
	if (variant->event_idx)
		vs_vq_set_used_event(vq, (uint16_t)(vq->last_used + 1));
	else
		vs_vq_disable_cb(vq);
	ASSERT_EQ(0, vs_cmd_submit(d, 0, &c));
	vs_vq_kick(vq);
	ASSERT_EQ(0, vs_vq_poll_used(vq, (uint16_t)(vq->last_used + 1),
				     VS_TIMEOUT_MS));
	ASSERT_FALSE(got_signal(vq, 300));
	ASSERT_LE(0, vs_vq_get_used(vq, NULL, &cookie));
	ASSERT_EQ(&c, cookie);

	/* The next one is wanted (EVENT_IDX: its index was asked for). */
	if (!variant->event_idx)
		vs_vq_enable_cb(vq);
	ASSERT_EQ(0, vs_cmd_submit(d, 0, &c));
	vs_vq_kick(vq);
	ASSERT_TRUE(got_signal(vq, VS_TIMEOUT_MS));
	ASSERT_LE(0, vs_vq_get_used(vq, NULL, &cookie));
	ASSERT_EQ(&c, cookie);
}

TEST_HARNESS_MAIN
