// SPDX-License-Identifier: GPL-2.0
/*
 * The event queue: LUN hot-plug and hot-unplug reported as transport
 * reset events (VIRTIO_SCSI_F_HOTPLUG), capacity changes announced
 * through the TPG's capacity_changed attribute as parameter change
 * events (VIRTIO_SCSI_F_CHANGE), and events lost for want of buffers
 * reported as missed rather than forgotten.
 */
#include "kselftest_harness.h"
#include "vs_test.h"

#define EVT_MS	5000
#define NOTIFY_OFF_WHY \
	"leaves event queue notifications off after taking a buffer, so the " \
	"guest's next kick is suppressed"

FIXTURE(evt) {
	struct vs_lio lio;
	char bs[VS_PATH], bs2[VS_PATH];
	char wwpn[32];
	struct vs_opts o;
	struct vs_dev d;
};

static void evt_cleanup(FIXTURE_DATA(evt) *self)
{
	vs_dev_close(&self->d);
	vs_lio_destroy(&self->lio);
}

FIXTURE_SETUP(evt)
{
	int r;

	VS_REQUIRE_TARGET();
	vs_lio_init(&self->lio);
	VS_SETUP(vs_lio_rd(&self->lio, 512, false, self->bs),
		 evt_cleanup(self));
	VS_SETUP(vs_lio_rd(&self->lio, 256, false, self->bs2),
		 evt_cleanup(self));
	VS_SETUP(vs_lio_simple(&self->lio, self->bs, self->wwpn),
		 evt_cleanup(self));
	vs_opts_init(&self->o);
	self->o.features |= 1ULL << VIRTIO_SCSI_F_HOTPLUG;
	r = vs_dev_start(&self->d, &self->o, self->wwpn);
	if (r == -EOPNOTSUPP) {
		evt_cleanup(self);
		VS_SKIP_SETUP("device does not offer VIRTIO_SCSI_F_HOTPLUG");
	}
	VS_SETUP(r, evt_cleanup(self));
}

FIXTURE_TEARDOWN(evt)
{
	evt_cleanup(self);
}

static unsigned int evt_lun(const struct virtio_scsi_event *ev)
{
	return (ev->lun[2] & 0x3f) << 8 | ev->lun[3];
}

/* A transport reset event for @lun of target 1 with @reason. */
#define ASSERT_RESET_EVENT(ev, _lun, _reason) do {			\
	ASSERT_EQ((uint32_t)VIRTIO_SCSI_T_TRANSPORT_RESET,		\
		  (ev)->event & ~VIRTIO_SCSI_T_EVENTS_MISSED);		\
	ASSERT_EQ((uint32_t)(_reason), (ev)->reason);			\
	ASSERT_EQ(1, (ev)->lun[0]);					\
	ASSERT_EQ(1, (ev)->lun[1]);					\
	ASSERT_EQ((unsigned int)(_lun), evt_lun(ev));			\
	ASSERT_TRUE(vs_bytes_are((ev)->lun + 4, 4, 0));			\
} while (0)

TEST_F(evt, hotplug_rescan)
{
	struct virtio_scsi_event ev;

	ASSERT_EQ(0, vs_evt_post(&self->d, 4));
	ASSERT_EQ(0, vs_lio_lun(&self->lio, self->wwpn, 1, 5, self->bs2));
	ASSERT_EQ(0, vs_evt_wait(&self->d, &ev, EVT_MS));
	ASSERT_RESET_EVENT(&ev, 5, VIRTIO_SCSI_EVT_RESET_RESCAN);
	/* Below 256: peripheral or flat addressing, nothing else. */
	ASSERT_TRUE(ev.lun[2] == 0 || ev.lun[2] == 0x40);
	ASSERT_EQ(512 * 8 / 2, vs_capacity(&self->d, 0, 1, 5));
	ASSERT_EQ(0, vs_verify_rw(&self->d, 0, 1, 5, 0, 8, 1));
}

TEST_F(evt, hotplug_lun_above_255)
{
	struct virtio_scsi_event ev;

	ASSERT_EQ(0, vs_evt_post(&self->d, 4));
	ASSERT_EQ(0, vs_lio_lun(&self->lio, self->wwpn, 1, 300, self->bs2));
	ASSERT_EQ(0, vs_evt_wait(&self->d, &ev, EVT_MS));
	ASSERT_RESET_EVENT(&ev, 300, VIRTIO_SCSI_EVT_RESET_RESCAN);
	ASSERT_EQ(0x40, ev.lun[2] & 0xc0);	/* flat space addressing */
	ASSERT_EQ(0, vs_verify_rw(&self->d, 0, 1, 300, 0, 8, 2));
}

TEST_F(evt, hotunplug_removed)
{
	struct virtio_scsi_event ev;

	ASSERT_EQ(0, vs_evt_post(&self->d, 4));
	ASSERT_EQ(0, vs_lio_lun(&self->lio, self->wwpn, 1, 5, self->bs2));
	ASSERT_EQ(0, vs_evt_wait(&self->d, &ev, EVT_MS));
	ASSERT_EQ(0, vs_lio_unlun(&self->lio, self->wwpn, 1, 5));
	ASSERT_EQ(0, vs_evt_wait(&self->d, &ev, EVT_MS));
	ASSERT_RESET_EVENT(&ev, 5, VIRTIO_SCSI_EVT_RESET_REMOVED);
	ASSERT_EQ(-EIO, vs_capacity(&self->d, 0, 1, 5));
	ASSERT_EQ(0, vs_verify_rw(&self->d, 0, 1, 0, 0, 8, 3));
}

TEST_F(evt, missed_events_reported)
{
	struct virtio_scsi_event ev;
	uint32_t missed = 0;
	unsigned int ms;

	/* No event buffers: the RESCAN has nowhere to go for now. */
	ASSERT_EQ(0, vs_lio_lun(&self->lio, self->wwpn, 1, 6, self->bs2));
	for (ms = 0; ms < 1000 && !missed; ms += 10) {
		ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SCSI_GET_EVENTS_MISSED,
				   &missed));
		vs_sleep_ms(10);
	}
	/*
	 * The next buffer must carry either the event itself (kept until
	 * a buffer came) or the news that events were missed; a device
	 * that owned up to missing one must say so in the event.
	 */
	ASSERT_EQ(0, vs_evt_post(&self->d, 1));
	ASSERT_EQ(0, vs_evt_wait(&self->d, &ev, EVT_MS));
	if (missed || (ev.event & VIRTIO_SCSI_T_EVENTS_MISSED)) {
		ASSERT_NE(0U, ev.event & VIRTIO_SCSI_T_EVENTS_MISSED);
	} else {
		ASSERT_RESET_EVENT(&ev, 6, VIRTIO_SCSI_EVT_RESET_RESCAN);
	}
	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SCSI_GET_EVENTS_MISSED, &missed));
	ASSERT_EQ(0U, missed);
}

TEST_F(evt, no_events_without_feature)
{
	struct virtio_scsi_event ev;
	struct vs_opts o = self->o;

	vs_dev_close(&self->d);
	o.features &= ~(1ULL << VIRTIO_SCSI_F_HOTPLUG);
	ASSERT_EQ(0, vs_dev_start(&self->d, &o, self->wwpn));
	ASSERT_EQ(0, vs_evt_post(&self->d, 4));
	ASSERT_EQ(0, vs_lio_lun(&self->lio, self->wwpn, 1, 5, self->bs2));
	ASSERT_EQ(-ETIMEDOUT, vs_evt_wait(&self->d, &ev, 1000));
	ASSERT_EQ(0, vs_verify_rw(&self->d, 0, 1, 5, 0, 8, 4));
}

/* Write @lun to the TPG's capacity_changed attribute. */
static int evt_capacity_changed(const char *wwpn, const char *lun)
{
	char path[VS_PATH];

	snprintf(path, sizeof(path), "%s/vhost/%s/tpgt_1/capacity_changed",
		 VS_TARGET_DIR, wwpn);
	if (access(path, F_OK))
		return -ENOENT;
	return vs_write_file(path, lun);
}

#define NO_CHANGE_ATTR_WHY "has no capacity_changed attribute"

TEST_F(evt, param_change_capacity)
{
	struct virtio_scsi_event ev;
	struct vs_opts o = self->o;
	int r;

	vs_dev_close(&self->d);
	o.features |= 1ULL << VIRTIO_SCSI_F_CHANGE;
	r = vs_dev_start(&self->d, &o, self->wwpn);
	if (r == -EOPNOTSUPP)
		SKIP(return, "device does not offer VIRTIO_SCSI_F_CHANGE");
	ASSERT_EQ(0, r);
	ASSERT_EQ(0, vs_evt_post(&self->d, 4));
	r = evt_capacity_changed(self->wwpn, "0");
	VS_KNOWN_BROKEN(r != -ENOENT, "vhost_scsi", NO_CHANGE_ATTR_WHY);
	ASSERT_EQ(0, r);
	ASSERT_EQ(0, vs_evt_wait(&self->d, &ev, EVT_MS));
	ASSERT_EQ((uint32_t)VIRTIO_SCSI_T_PARAM_CHANGE, ev.event);
	/* ASC 0x2a, ASCQ 0x09: CAPACITY DATA HAS CHANGED. */
	ASSERT_EQ(0x2aU | 0x09U << 8, ev.reason);
	ASSERT_EQ(1, ev.lun[0]);
	ASSERT_EQ(1, ev.lun[1]);
	ASSERT_EQ(0U, evt_lun(&ev));
	ASSERT_TRUE(vs_bytes_are(ev.lun + 4, 4, 0));
}

TEST_F(evt, param_change_unknown_lun)
{
	struct virtio_scsi_event ev;
	int r;

	ASSERT_EQ(0, vs_evt_post(&self->d, 4));
	r = evt_capacity_changed(self->wwpn, "77");
	VS_KNOWN_BROKEN(r != -ENOENT, "vhost_scsi", NO_CHANGE_ATTR_WHY);
	ASSERT_EQ(-ENODEV, r);
	ASSERT_EQ(-EINVAL, evt_capacity_changed(self->wwpn, "zero"));
	ASSERT_EQ(-ETIMEDOUT, vs_evt_wait(&self->d, &ev, 500));
}

TEST_F(evt, param_change_needs_feature)
{
	struct virtio_scsi_event ev;
	int r;

	/* The fixture negotiated HOTPLUG only. */
	ASSERT_EQ(0, vs_evt_post(&self->d, 4));
	r = evt_capacity_changed(self->wwpn, "0");
	VS_KNOWN_BROKEN(r != -ENOENT, "vhost_scsi", NO_CHANGE_ATTR_WHY);
	ASSERT_EQ(0, r);
	ASSERT_EQ(-ETIMEDOUT, vs_evt_wait(&self->d, &ev, 500));
	/* The dropped event blocks nothing behind it. */
	ASSERT_EQ(0, vs_lio_lun(&self->lio, self->wwpn, 1, 5, self->bs2));
	ASSERT_EQ(0, vs_evt_wait(&self->d, &ev, EVT_MS));
	ASSERT_RESET_EVENT(&ev, 5, VIRTIO_SCSI_EVT_RESET_RESCAN);
}

TEST_F(evt, short_event_buffer)
{
	struct vs_vq *vq = &self->d.vq[VS_VQ_EVT];
	uint64_t gpa = vs_alloc(&self->d, 64, 16);
	struct virtio_scsi_event ev;
	struct vs_seg s = { gpa, 8, true };
	int r;

	ASSERT_NE(0, gpa);
	memset(vs_gpa(&self->d, gpa), VS_CANARY_BYTE, 64);
	ASSERT_LE(0, vs_vq_add(vq, &s, 1, 0, (void *)(uintptr_t)gpa));
	vs_vq_kick(vq);
	ASSERT_EQ(0, vs_lio_lun(&self->lio, self->wwpn, 1, 5, self->bs2));
	/* Whatever happens to the 8-byte buffer, nothing spills past it. */
	r = vs_evt_wait(&self->d, &ev, 1000);
	ASSERT_TRUE(r == 0 || r == -ETIMEDOUT);
	ASSERT_TRUE(vs_bytes_are((uint8_t *)vs_gpa(&self->d, gpa) + 8, 56,
				 VS_CANARY_BYTE));
	if (r == 0)
		return;
	/*
	 * Dropped: proper buffers, announced the way the ring asks for
	 * (kick only if notifications are on), must learn about it.
	 */
	ASSERT_EQ(0, vs_evt_post(&self->d, 2));
	r = vs_evt_wait(&self->d, &ev, EVT_MS);
	VS_KNOWN_BROKEN(r == 0, "vhost_scsi", NOTIFY_OFF_WHY);
	ASSERT_TRUE((ev.event & VIRTIO_SCSI_T_EVENTS_MISSED) ||
		    ev.event == VIRTIO_SCSI_T_TRANSPORT_RESET)
		TH_LOG("event %#x", ev.event);
}

TEST_HARNESS_MAIN
