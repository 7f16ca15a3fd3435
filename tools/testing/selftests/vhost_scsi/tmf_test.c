// SPDX-License-Identifier: GPL-2.0
/*
 * Task management with commands really in flight.
 *
 * Commands are held in flight by the backend: each LUN of the "held"
 * (two LUNs) and "held_one" fixtures is an iblock backstore on a null_blk
 * disk of its own, made through null_blk's configfs with timer
 * completions (irqmode=2) of HOLD_MS each.  A READ stays in the disk for
 * HOLD_MS from the moment the block layer dispatches it, and
 * /sys/block/<disk>/inflight says when that happened, so a test knows its
 * commands are in flight (not merely posted) before it sends a TMF, and
 * has HOLD_MS from there.  LIO cannot cancel a bio: an abort takes effect
 * when the disk completes it, and the TMF is answered after that.
 *
 * Every request a TMF terminates must have been completed when the TMF's
 * answer arrives: Linux's virtscsi_tmf() counts on it ("The spec
 * guarantees that all requests related to the TMF have been completed"),
 * so the tests look at the request queue's used ring the moment the
 * answer is in, without waiting.
 *
 * The "idle" fixture (a RAM disk, nothing in flight) covers the answers
 * that need no command in flight.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/tcm_vhost.h>	/* worker ioctls, on any kernel headers */
#include <linux/userfaultfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "vs_test.h"

/* The spec's VIRTIO_SCSI_S_FUNCTION_COMPLETE (not in the uapi header). */
#define TMF_COMPLETE		VIRTIO_SCSI_S_OK
#define SAM_TASK_ABORTED	0x40
/* ASC 29h (POWER ON, RESET, OR BUS DEVICE RESET OCCURRED), its ASCQs. */
#define ASC_RESET		0x29
#define ASCQ_LUN_RESET		0x03	/* BUS DEVICE RESET FUNCTION OCCURRED */
#define ASCQ_NEXUS_LOSS		0x07	/* I_T NEXUS LOSS OCCURRED */

#define HOLD_MS		3000	/* null_blk completion time */
/* Past this much of the hold, a TMF may miss its commands: inconclusive. */
#define HOLD_SLACK_MS	(HOLD_MS / 2)
/* An answer that waits for held commands: the hold, plus room. */
#define TMF_WAIT_MS	(HOLD_MS + 7000)
#define NLUNS		2
#define MAXCMD		8
#define RD_BLOCKS	8
#define RD_STRIDE	64	/* LBAs between READs: nothing merges */
#define NB_MB		16	/* null_blk device size */

#define NULLB_CFG	"/sys/kernel/config/nullb"


#define REJECTS_WHY \
	"answers every TMF but LOGICAL UNIT RESET with FUNCTION REJECTED"
#define ABORTED_GOOD_WHY \
	"answers a command LIO aborted with response OK, status GOOD"
#define LUN_RESET_WHY \
	"answers LOGICAL UNIT RESET with FUNCTION SUCCEEDED, not COMPLETE"
#define TMF_LIST_WHY \
	"corrupts its TMF list on a LUN RESET with two LUNs (bad kfree)"

/* ---- null_blk devices ------------------------------------------------ */

/*
 * Making a disk costs a partition scan, a few reads of HOLD_MS each, so
 * the disks outlive a test: the first test that needs disk i makes it,
 * named after the harness process (the tests' parent), later tests take
 * it over, and the harness process removes them as it exits.  (After a
 * crash, run_tests.sh sweeps "vst*" disks.)
 */
struct nullb {
	char name[32];		/* configfs directory = disk name */
	char cfg[VS_PATH];
};

/* null_blk's configfs, loading the module (no devices of its own). */
static int nb_available(void)
{
	if (access(NULLB_CFG, F_OK)) {
		if (system("modprobe null_blk nr_devices=0 >/dev/null 2>&1"))
			return -ENOENT;
	}
	return access(NULLB_CFG, F_OK) ? -ENOENT : 0;
}

static void nb_name(struct nullb *nb, pid_t owner, unsigned int i)
{
	snprintf(nb->name, sizeof(nb->name), "vstnb%u_%u",
		 (unsigned int)owner, i);
	snprintf(nb->cfg, sizeof(nb->cfg), NULLB_CFG "/%s", nb->name);
}

static int nb_attr(const struct nullb *nb, const char *attr, const char *val)
{
	char path[VS_PATH + 32];

	snprintf(path, sizeof(path), "%s/%s", nb->cfg, attr);
	return vs_write_file(path, val);
}

static void nb_remove(const struct nullb *nb)
{
	if (access(nb->cfg, F_OK))
		return;
	nb_attr(nb, "power", "0");
	rmdir(nb->cfg);
}

/* Is the disk there, powered, with its device node? */
static bool nb_ready(const struct nullb *nb)
{
	char path[VS_PATH + 32], val[8];

	snprintf(path, sizeof(path), "%s/power", nb->cfg);
	if (vs_read_file(path, val, sizeof(val)) < 1 || val[0] != '1')
		return false;
	snprintf(path, sizeof(path), "/dev/%s", nb->name);
	return !access(path, F_OK);
}

/* Disk @i, whose every I/O completes @hold_ms after it is dispatched. */
static int nb_get(struct nullb *nb, unsigned int i, unsigned int hold_ms)
{
	char val[32];
	int r, tries;

	/* The "vst" prefix is what run_tests.sh sweeps after a crash. */
	nb_name(nb, getppid(), i);
	if (nb_ready(nb))
		return 0;
	nb_remove(nb);		/* half made by a test that died */
	if (mkdir(nb->cfg, 0755))
		return -errno;
	snprintf(val, sizeof(val), "%u", NB_MB);
	r = nb_attr(nb, "size", val);
	if (!r)
		r = nb_attr(nb, "blocksize", "512");
	if (!r)
		r = nb_attr(nb, "irqmode", "2");
	if (!r) {
		snprintf(val, sizeof(val), "%llu",
			 (unsigned long long)hold_ms * 1000000);
		r = nb_attr(nb, "completion_nsec", val);
	}
	if (!r)
		r = nb_attr(nb, "power", "1");
	for (tries = 0; !r && tries < 100 && !nb_ready(nb); tries++)
		vs_sleep_ms(10);
	if (!r && !nb_ready(nb))
		r = -ENODEV;
	if (r)
		nb_remove(nb);
	return r;
}

/* In the harness process only: the test children leave with _exit(). */
static void __attribute__((destructor)) nb_remove_all(void)
{
	struct nullb nb;
	unsigned int i;

	for (i = 0; i < NLUNS; i++) {
		nb_name(&nb, getpid(), i);
		nb_remove(&nb);
	}
}

/* Requests the driver holds (dispatched, not completed), or -errno. */
static int nb_inflight(const struct nullb *nb)
{
	char path[96], buf[64];
	unsigned int rd, wr;
	int r;

	snprintf(path, sizeof(path), "/sys/block/%s/inflight", nb->name);
	r = vs_read_file(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	if (sscanf(buf, "%u %u", &rd, &wr) != 2)
		return -EINVAL;
	return (int)(rd + wr);
}

/* ---- an iblock backstore, torn down by vs_lio_destroy() ---------------- */

static int lio_record_dir(struct vs_lio *l, const char *path)
{
	if (l->n >= VS_LIO_MAX)
		return -ENOSPC;
	l->obj[l->n].kind = VS_LIO_DIR;
	snprintf(l->obj[l->n].path, sizeof(l->obj[0].path), "%s", path);
	l->n++;
	return 0;
}

static int lio_iblock(struct vs_lio *l, const char *disk, char *path)
{
	char hba[VS_PATH / 2], file[VS_PATH + 16], control[96];
	int r;

	snprintf(hba, sizeof(hba), VS_TARGET_DIR "/core/iblock_%u", l->id);
	if (!mkdir(hba, 0755)) {
		r = lio_record_dir(l, hba);
		if (r)
			return r;
	} else if (errno != EEXIST) {
		return -errno;
	}
	snprintf(path, VS_PATH, "%s/vst%u_%u", hba, l->id, l->nbs++);
	if (mkdir(path, 0755))
		return -errno;
	r = lio_record_dir(l, path);
	if (r)
		return r;
	snprintf(file, sizeof(file), "%s/control", path);
	snprintf(control, sizeof(control), "udev_path=/dev/%s", disk);
	r = vs_write_file(file, control);
	if (r)
		return r;
	snprintf(file, sizeof(file), "%s/enable", path);
	return vs_write_file(file, "1");
}

/* ---- helpers shared by both fixtures ----------------------------------- */

/* Terminated by an abort: response ABORTED, or TASK ABORTED status (TAS). */
static bool cmd_aborted(const struct vs_cmd *c)
{
	return c->done &&
	       (c->resp.response == VIRTIO_SCSI_S_ABORTED ||
		(c->resp.response == VIRTIO_SCSI_S_OK &&
		 c->resp.status == SAM_TASK_ABORTED));
}

/*
 * Cancelled by a LUN or I_T nexus reset: response RESET, which Linux
 * retries (DID_RESET), where ABORTED (DID_ABORT) fails the I/O.
 */
static bool cmd_reset(const struct vs_cmd *c)
{
	return c->done && c->resp.response == VIRTIO_SCSI_S_RESET;
}

/* Collect completions without waiting; how many of @c[0..n) are done. */
static unsigned int count_done(struct vs_dev *d, struct vs_cmd *c,
			       unsigned int n)
{
	unsigned int i, done = 0;

	vs_reap(d, 0, 0);
	for (i = 0; i < n; i++)
		done += c[i].done;
	return done;
}

/* Wait (bounded) for all of @c[0..n); how many came back. */
static unsigned int wait_done(struct vs_dev *d, struct vs_cmd *c,
			      unsigned int n, unsigned int timeout_ms)
{
	uint64_t deadline = vs_now_ns() + (uint64_t)timeout_ms * 1000000;
	unsigned int done;

	while ((done = count_done(d, c, n)) < n && vs_now_ns() < deadline)
		vs_reap(d, 0, 100);
	return done;
}

/* TEST UNIT READY: true if CHECK CONDITION, UNIT ATTENTION, @asc/@ascq. */
static bool tur_ua(struct vs_dev *d, struct vs_cmd *c, unsigned int lun,
		   uint8_t asc, uint8_t ascq)
{
	uint8_t cdb[6], k, a, q;

	if (vs_scsi(d, 0, c, 1, lun, cdb, vs_cdb_tur(cdb), VS_NONE, 0, 0))
		return false;
	return vs_is_ua(c) && vs_sense(c, &k, &a, &q) && a == asc && q == ascq;
}

static void log_cmd(struct __test_metadata *_metadata, const char *what,
		    const struct vs_cmd *c)
{
	uint8_t k = 0, a = 0, q = 0;

	if (!c->done) {
		TH_LOG("%s (tag %llu): not completed", what,
		       (unsigned long long)c->tag);
		return;
	}
	vs_sense(c, &k, &a, &q);
	TH_LOG("%s (tag %llu): response %u status 0x%02x sense %x/%02x/%02x used %u",
	       what, (unsigned long long)c->tag, c->resp.response,
	       c->resp.status, k, a, q, c->used_len);
}

/* ---- idle: a RAM disk, nothing in flight --------------------------------- */

FIXTURE(idle) {
	struct vs_target t;
};

FIXTURE_SETUP(idle)
{
	struct vs_opts o;

	VS_REQUIRE_TARGET();
	vs_opts_init(&o);
	VS_SETUP(vs_target_start(&self->t, 1024, &o), vs_target_stop(&self->t));
}

FIXTURE_TEARDOWN(idle)
{
	vs_target_stop(&self->t);
}

TEST_F(idle, abort_task_unknown_tag)
{
	int r = vs_tmf(&self->t.d, 1, 0, VIRTIO_SCSI_T_TMF_ABORT_TASK,
		       0xdeadbeefULL, VS_TIMEOUT_MS);

	ASSERT_LE(0, r);
	VS_KNOWN_BROKEN(r == TMF_COMPLETE, "vhost_scsi", REJECTS_WHY);
	ASSERT_EQ(0, vs_verify_rw(&self->t.d, 0, 1, 0, 0, 8, 1));
}

TEST_F(idle, query_task_unknown_tag)
{
	int r = vs_tmf(&self->t.d, 1, 0, VIRTIO_SCSI_T_TMF_QUERY_TASK,
		       0xdeadbeefULL, VS_TIMEOUT_MS);

	ASSERT_LE(0, r);
	VS_KNOWN_BROKEN(r != VIRTIO_SCSI_S_FUNCTION_REJECTED, "vhost_scsi",
			REJECTS_WHY);
	ASSERT_EQ(TMF_COMPLETE, r);
	ASSERT_EQ(0, vs_verify_rw(&self->t.d, 0, 1, 0, 0, 8, 2));
}

TEST_F(idle, query_task_completed_tag)
{
	struct vs_cmd c = { 0 };
	uint8_t cdb[16];
	int r;

	ASSERT_EQ(0, vs_scsi(&self->t.d, 0, &c, 1, 0, cdb, vs_cdb_tur(cdb),
			     VS_NONE, 0, 0));
	ASSERT_TRUE(vs_good(&c));
	r = vs_tmf(&self->t.d, 1, 0, VIRTIO_SCSI_T_TMF_QUERY_TASK, c.tag,
		   VS_TIMEOUT_MS);
	ASSERT_LE(0, r);
	VS_KNOWN_BROKEN(r != VIRTIO_SCSI_S_FUNCTION_REJECTED, "vhost_scsi",
			REJECTS_WHY);
	ASSERT_EQ(TMF_COMPLETE, r);
}

TEST_F(idle, query_task_set_empty)
{
	int r = vs_tmf(&self->t.d, 1, 0, VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, 0,
		       VS_TIMEOUT_MS);

	ASSERT_LE(0, r);
	VS_KNOWN_BROKEN(r != VIRTIO_SCSI_S_FUNCTION_REJECTED, "vhost_scsi",
			REJECTS_WHY);
	ASSERT_EQ(TMF_COMPLETE, r);
	ASSERT_EQ(0, vs_verify_rw(&self->t.d, 0, 1, 0, 0, 8, 3));
}

TEST_F(idle, abort_task_set_empty)
{
	int r = vs_tmf(&self->t.d, 1, 0, VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, 0,
		       VS_TIMEOUT_MS);

	ASSERT_LE(0, r);
	VS_KNOWN_BROKEN(r == TMF_COMPLETE, "vhost_scsi", REJECTS_WHY);
	ASSERT_EQ(0, vs_verify_rw(&self->t.d, 0, 1, 0, 0, 8, 4));
}

TEST_F(idle, clear_aca_rejected)
{
	ASSERT_EQ(VIRTIO_SCSI_S_FUNCTION_REJECTED,
		  vs_tmf(&self->t.d, 1, 0, VIRTIO_SCSI_T_TMF_CLEAR_ACA, 0,
			 VS_TIMEOUT_MS));
	ASSERT_EQ(0, vs_verify_rw(&self->t.d, 0, 1, 0, 0, 8, 5));
}

TEST_F(idle, clear_task_set_rejected)
{
	ASSERT_EQ(VIRTIO_SCSI_S_FUNCTION_REJECTED,
		  vs_tmf(&self->t.d, 1, 0, VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET, 0,
			 VS_TIMEOUT_MS));
	ASSERT_EQ(0, vs_verify_rw(&self->t.d, 0, 1, 0, 0, 8, 6));
}

TEST_F(idle, unknown_subtype_rejected)
{
	ASSERT_EQ(VIRTIO_SCSI_S_FUNCTION_REJECTED,
		  vs_tmf(&self->t.d, 1, 0, 0x77, 0, VS_TIMEOUT_MS));
	ASSERT_EQ(0, vs_verify_rw(&self->t.d, 0, 1, 0, 0, 8, 7));
}

/* ---- held: LUNs on slow null_blk disks, READs held in flight ------------- */

struct held {
	struct vs_lio lio;
	unsigned int nluns;
	struct nullb nb[NLUNS];
	char bs[NLUNS][VS_PATH];
	char wwpn[32];
	struct vs_dev d;
	struct vs_cmd c[MAXCMD];
	struct vs_cmd probe;
	uint64_t buf, probe_buf;
	unsigned int posted[NLUNS];	/* READs posted per LUN */
	uint64_t t_held;		/* all of them seen in the disks */
};

/* The disks stay for the next test (see struct nullb). */
static void held_undo(struct held *h)
{
	vs_dev_close(&h->d);
	vs_lio_destroy(&h->lio);
}

#define HELD_STEP(expr) do {						\
	int __r = (expr);						\
	if (__r) {							\
		fprintf(stderr, "# %s: %s\n", #expr,			\
			strerror(__r < 0 ? -__r : __r));		\
		return __r;						\
	}								\
} while (0)

/* LUNs 0..@nluns-1, each on a null_blk disk of its own; nothing posted. */
static int held_start(struct held *h, unsigned int nluns)
{
	struct vs_opts o;
	unsigned int i;

	h->nluns = nluns;
	vs_lio_init(&h->lio);
	for (i = 0; i < nluns; i++) {
		HELD_STEP(nb_get(&h->nb[i], i, HOLD_MS));
		HELD_STEP(lio_iblock(&h->lio, h->nb[i].name, h->bs[i]));
	}
	HELD_STEP(vs_lio_simple(&h->lio, h->bs[0], h->wwpn));
	for (i = 1; i < nluns; i++)
		HELD_STEP(vs_lio_lun(&h->lio, h->wwpn, 1, i, h->bs[i]));
	vs_opts_init(&o);
	HELD_STEP(vs_dev_start(&h->d, &o, h->wwpn));
	/* Adding LUN 1 left REPORTED LUNS DATA HAS CHANGED pending. */
	for (i = 0; i < nluns; i++)
		HELD_STEP(vs_clear_ua(&h->d, 0, 1, i));
	h->buf = vs_alloc(&h->d, MAXCMD * RD_BLOCKS * VS_BLOCK, VS_PAGE);
	h->probe_buf = vs_alloc(&h->d, RD_BLOCKS * VS_BLOCK, VS_PAGE);
	if (!h->buf || !h->probe_buf)
		return -ENOMEM;
	for (i = 0; i < MAXCMD; i++)
		HELD_STEP(vs_cmd_init(&h->d, &h->c[i], 4));
	return vs_cmd_init(&h->d, &h->probe, 4);
}

static void held_stop(struct held *h)
{
	uint64_t deadline = vs_now_ns() + TMF_WAIT_MS * 1000000ULL;
	unsigned int i, pending;

	/* Let what is still held finish (a failed test may leave some). */
	do {
		vs_reap(&h->d, 0, 100);
		for (pending = 0, i = 0; i < MAXCMD; i++)
			pending += h->c[i].head >= 0 && !h->c[i].done;
	} while (pending && vs_now_ns() < deadline);
	held_undo(h);
}

FIXTURE(held) {
	struct held h;
};

FIXTURE_SETUP(held)
{
	VS_REQUIRE_TARGET();
	if (nb_available())
		VS_SKIP_SETUP("no null_blk configfs (modprobe null_blk failed)");
	VS_SETUP(held_start(&self->h, 2), held_undo(&self->h));
}

FIXTURE_TEARDOWN(held)
{
	held_stop(&self->h);
}

/* The same with a single LUN. */
FIXTURE(held_one) {
	struct held h;
};

FIXTURE_SETUP(held_one)
{
	VS_REQUIRE_TARGET();
	if (nb_available())
		VS_SKIP_SETUP("no null_blk configfs (modprobe null_blk failed)");
	VS_SETUP(held_start(&self->h, 1), held_undo(&self->h));
}

FIXTURE_TEARDOWN(held_one)
{
	held_stop(&self->h);
}

/* Post a READ as h->c[i] on @lun (no kick). */
static int post_read(struct held *h, unsigned int i, unsigned int lun)
{
	struct vs_cmd *c = &h->c[i];

	vs_lun(c->lun, 1, lun);
	vs_cdb_rw(c->cdb, false, 10, (uint64_t)i * RD_STRIDE, RD_BLOCKS);
	c->dir = VS_FROM_DEV;
	c->data_gpa = h->buf + (uint64_t)i * RD_BLOCKS * VS_BLOCK;
	c->data_len = RD_BLOCKS * VS_BLOCK;
	h->posted[lun]++;
	return vs_cmd_submit(&h->d, 0, c);
}

/*
 * Kick, then wait until every READ posted so far sits in its disk.
 * From then on they stay in flight for HOLD_MS.  0 or -ETIMEDOUT.
 */
static int hold(struct held *h)
{
	uint64_t deadline = vs_now_ns() + 2000000000ULL;
	unsigned int i, ok;

	vs_vq_kick(vs_req_vq(&h->d, 0));
	do {
		for (ok = 0, i = 0; i < h->nluns; i++)
			ok += nb_inflight(&h->nb[i]) == (int)h->posted[i];
		if (ok == h->nluns) {
			h->t_held = vs_now_ns();
			return 0;
		}
		vs_sleep_ms(2);
	} while (vs_now_ns() < deadline);
	return -ETIMEDOUT;
}

/* Still early enough in the hold for a TMF to find its commands? */
static bool in_hold(const struct held *h)
{
	return vs_now_ns() - h->t_held < HOLD_SLACK_MS * 1000000ULL;
}

/* A plain READ on @lun completes GOOD (one hold long). */
static bool read_ok(struct held *h, unsigned int lun)
{
	return !vs_rw(&h->d, 0, &h->probe, 1, lun, false, 10, 8, RD_BLOCKS,
		      h->probe_buf) &&
	       vs_good(&h->probe);
}

#define HOLD_OR_FAIL(h) do {						\
	ASSERT_EQ(0, hold(h))						\
		TH_LOG("the READs never reached the null_blk disks");	\
} while (0)

#define IN_HOLD_OR_FAIL(h) do {						\
	ASSERT_TRUE(in_hold(h))						\
		TH_LOG("inconclusive: %d ms of the %d ms hold gone",	\
		       (int)((vs_now_ns() - (h)->t_held) / 1000000),	\
		       HOLD_MS);					\
} while (0)

TEST_F_TIMEOUT(held, abort_task, 90)
{
	struct held *h = &self->h;
	int r;

	/* c[0] is aborted, c[1] on the same LUN must not be. */
	ASSERT_EQ(0, post_read(h, 0, 0));
	ASSERT_EQ(0, post_read(h, 1, 0));
	HOLD_OR_FAIL(h);
	r = vs_tmf(&h->d, 1, 0, VIRTIO_SCSI_T_TMF_ABORT_TASK, h->c[0].tag,
		   TMF_WAIT_MS);
	ASSERT_LE(0, r) TH_LOG("ABORT TASK: %d (hangs?)", r);
	VS_KNOWN_BROKEN(r == TMF_COMPLETE, "vhost_scsi", REJECTS_WHY);
	/* The answer comes only once the command is gone. */
	count_done(&h->d, h->c, 2);
	ASSERT_TRUE(cmd_aborted(&h->c[0]))
		log_cmd(_metadata, "aborted READ at the TMF answer", &h->c[0]);
	ASSERT_EQ(2U, wait_done(&h->d, h->c, 2, TMF_WAIT_MS));
	ASSERT_TRUE(vs_good(&h->c[1]))
		log_cmd(_metadata, "the other READ", &h->c[1]);
	ASSERT_TRUE(read_ok(h, 0)) log_cmd(_metadata, "READ", &h->probe);
}

TEST_F_TIMEOUT(held, abort_task_done_tag, 90)
{
	struct held *h = &self->h;
	int r;

	/* A tag that was in flight and has finished: nothing to abort. */
	ASSERT_EQ(0, post_read(h, 0, 0));
	HOLD_OR_FAIL(h);
	ASSERT_EQ(1U, wait_done(&h->d, h->c, 1, TMF_WAIT_MS));
	ASSERT_TRUE(vs_good(&h->c[0])) log_cmd(_metadata, "READ", &h->c[0]);
	r = vs_tmf(&h->d, 1, 0, VIRTIO_SCSI_T_TMF_ABORT_TASK, h->c[0].tag,
		   TMF_WAIT_MS);
	ASSERT_LE(0, r);
	VS_KNOWN_BROKEN(r == TMF_COMPLETE, "vhost_scsi", REJECTS_WHY);
	ASSERT_TRUE(read_ok(h, 0)) log_cmd(_metadata, "READ", &h->probe);
}

TEST_F_TIMEOUT(held, query_task, 90)
{
	struct held *h = &self->h;
	uint64_t tag;
	int r;

	ASSERT_EQ(0, post_read(h, 0, 0));
	HOLD_OR_FAIL(h);
	tag = h->c[0].tag;
	r = vs_tmf(&h->d, 1, 0, VIRTIO_SCSI_T_TMF_QUERY_TASK, tag,
		   VS_TIMEOUT_MS);
	IN_HOLD_OR_FAIL(h);
	ASSERT_LE(0, r);
	VS_KNOWN_BROKEN(r == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED, "vhost_scsi",
			REJECTS_WHY);
	/* The same tag on the other LUN is not a task there. */
	r = vs_tmf(&h->d, 1, 1, VIRTIO_SCSI_T_TMF_QUERY_TASK, tag,
		   VS_TIMEOUT_MS);
	IN_HOLD_OR_FAIL(h);
	ASSERT_EQ(TMF_COMPLETE, r);
	/* Another tag on the same LUN is not in flight either. */
	r = vs_tmf(&h->d, 1, 0, VIRTIO_SCSI_T_TMF_QUERY_TASK, tag + 1000,
		   VS_TIMEOUT_MS);
	IN_HOLD_OR_FAIL(h);
	ASSERT_EQ(TMF_COMPLETE, r);
	/* A query leaves the command alone... */
	ASSERT_EQ(1U, wait_done(&h->d, h->c, 1, TMF_WAIT_MS));
	ASSERT_TRUE(vs_good(&h->c[0])) log_cmd(_metadata, "READ", &h->c[0]);
	/* ...and once it is answered, it is no longer a task. */
	ASSERT_EQ(TMF_COMPLETE, vs_tmf(&h->d, 1, 0,
				       VIRTIO_SCSI_T_TMF_QUERY_TASK, tag,
				       VS_TIMEOUT_MS));
	ASSERT_TRUE(read_ok(h, 0)) log_cmd(_metadata, "READ", &h->probe);
}

TEST_F_TIMEOUT(held, query_task_set, 90)
{
	struct held *h = &self->h;
	int r;

	ASSERT_EQ(0, post_read(h, 0, 0));
	ASSERT_EQ(0, post_read(h, 1, 0));
	HOLD_OR_FAIL(h);
	r = vs_tmf(&h->d, 1, 0, VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, 0,
		   VS_TIMEOUT_MS);
	IN_HOLD_OR_FAIL(h);
	ASSERT_LE(0, r);
	VS_KNOWN_BROKEN(r == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED, "vhost_scsi",
			REJECTS_WHY);
	/* LUN 1 has nothing in flight. */
	r = vs_tmf(&h->d, 1, 1, VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, 0,
		   VS_TIMEOUT_MS);
	IN_HOLD_OR_FAIL(h);
	ASSERT_EQ(TMF_COMPLETE, r);
	ASSERT_EQ(2U, wait_done(&h->d, h->c, 2, TMF_WAIT_MS));
	ASSERT_TRUE(vs_good(&h->c[0])) log_cmd(_metadata, "READ 0", &h->c[0]);
	ASSERT_TRUE(vs_good(&h->c[1])) log_cmd(_metadata, "READ 1", &h->c[1]);
	ASSERT_EQ(TMF_COMPLETE, vs_tmf(&h->d, 1, 0,
				       VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, 0,
				       VS_TIMEOUT_MS));
	ASSERT_TRUE(read_ok(h, 0)) log_cmd(_metadata, "READ", &h->probe);
}

#define SET_N	4

TEST_F_TIMEOUT(held, abort_task_set, 90)
{
	struct held *h = &self->h;
	unsigned int i;
	int r;

	/* c[0..SET_N) on LUN 0 go; c[SET_N] on LUN 1 stays. */
	for (i = 0; i < SET_N; i++) {
		ASSERT_EQ(0, post_read(h, i, 0));
	}
	ASSERT_EQ(0, post_read(h, SET_N, 1));
	HOLD_OR_FAIL(h);
	r = vs_tmf(&h->d, 1, 0, VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, 0,
		   TMF_WAIT_MS);
	ASSERT_LE(0, r) TH_LOG("ABORT TASK SET: %d (hangs?)", r);
	VS_KNOWN_BROKEN(r == TMF_COMPLETE, "vhost_scsi", REJECTS_WHY);
	count_done(&h->d, h->c, SET_N + 1);
	for (i = 0; i < SET_N; i++) {
		ASSERT_TRUE(cmd_aborted(&h->c[i]))
			log_cmd(_metadata, "READ at the TMF answer", &h->c[i]);
	}
	ASSERT_EQ(SET_N + 1, wait_done(&h->d, h->c, SET_N + 1, TMF_WAIT_MS));
	ASSERT_TRUE(vs_good(&h->c[SET_N]))
		log_cmd(_metadata, "READ on LUN 1", &h->c[SET_N]);
	ASSERT_EQ(TMF_COMPLETE, vs_tmf(&h->d, 1, 0,
				       VIRTIO_SCSI_T_TMF_QUERY_TASK_SET, 0,
				       VS_TIMEOUT_MS));
	/* ABORT TASK SET sets no unit attention: a READ just works. */
	ASSERT_TRUE(read_ok(h, 0)) log_cmd(_metadata, "READ", &h->probe);
	ASSERT_TRUE(read_ok(h, 1)) log_cmd(_metadata, "READ", &h->probe);
}

#define NEXUS_N	3	/* per LUN */

TEST_F_TIMEOUT(held, i_t_nexus_reset, 90)
{
	struct held *h = &self->h;
	unsigned int i, lun;
	int r;

	for (i = 0; i < 2 * NEXUS_N; i++) {
		ASSERT_EQ(0, post_read(h, i, i / NEXUS_N));
	}
	HOLD_OR_FAIL(h);
	r = vs_tmf(&h->d, 1, 0, VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET, 0,
		   TMF_WAIT_MS);
	ASSERT_LE(0, r) TH_LOG("I_T NEXUS RESET: %d (hangs?)", r);
	VS_KNOWN_BROKEN(r == TMF_COMPLETE, "vhost_scsi", REJECTS_WHY);
	count_done(&h->d, h->c, 2 * NEXUS_N);
	for (i = 0; i < 2 * NEXUS_N; i++) {
		ASSERT_TRUE(cmd_reset(&h->c[i]))
			log_cmd(_metadata, "READ at the TMF answer", &h->c[i]);
	}
	/* The nexus was lost: every LUN reports it once, then works. */
	for (lun = 0; lun < h->nluns; lun++) {
		ASSERT_TRUE(tur_ua(&h->d, &h->probe, lun, ASC_RESET,
				   ASCQ_NEXUS_LOSS))
			log_cmd(_metadata, "first command after the reset",
				&h->probe);
		ASSERT_TRUE(read_ok(h, lun))
			log_cmd(_metadata, "READ", &h->probe);
	}
}

#define RESET_N	3

/*
 * LOGICAL UNIT RESET of LUN 0 with RESET_N READs in flight there (and
 * one on LUN 1 if there is one, which it must not touch).  Ends the
 * test (it may skip).
 */
static void lun_reset_in_flight(struct __test_metadata *_metadata,
				struct held *h)
{
	unsigned int i, n = RESET_N + (h->nluns > 1);
	int r;

	for (i = 0; i < RESET_N; i++) {
		ASSERT_EQ(0, post_read(h, i, 0));
	}
	if (h->nluns > 1) {
		ASSERT_EQ(0, post_read(h, RESET_N, 1));
	}
	HOLD_OR_FAIL(h);
	r = vs_tmf(&h->d, 1, 0, VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 0,
		   TMF_WAIT_MS);
	/* Linux guests take FUNCTION SUCCEEDED too: checked last. */
	ASSERT_TRUE(r == TMF_COMPLETE ||
		    r == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED)
		TH_LOG("LUN RESET: %d", r);
	count_done(&h->d, h->c, n);
	for (i = 0; i < RESET_N; i++) {
		ASSERT_TRUE(h->c[i].done)
			log_cmd(_metadata, "READ at the TMF answer", &h->c[i]);
	}
	for (i = 0; i < RESET_N; i++) {
		if (!cmd_reset(&h->c[i]))
			log_cmd(_metadata, "READ at the TMF answer", &h->c[i]);
		VS_KNOWN_BROKEN(cmd_reset(&h->c[i]), "vhost_scsi",
				ABORTED_GOOD_WHY);
	}
	ASSERT_EQ(n, wait_done(&h->d, h->c, n, TMF_WAIT_MS));
	if (h->nluns > 1) {
		ASSERT_TRUE(vs_good(&h->c[RESET_N]))
			log_cmd(_metadata, "READ on LUN 1", &h->c[RESET_N]);
		ASSERT_TRUE(read_ok(h, 1))
			log_cmd(_metadata, "READ on LUN 1", &h->probe);
	}
	ASSERT_TRUE(tur_ua(&h->d, &h->probe, 0, ASC_RESET, ASCQ_LUN_RESET))
		log_cmd(_metadata, "first command after the reset", &h->probe);
	ASSERT_TRUE(read_ok(h, 0)) log_cmd(_metadata, "READ", &h->probe);
	VS_KNOWN_BROKEN(r == TMF_COMPLETE, "vhost_scsi", LUN_RESET_WHY);
}

TEST_F_TIMEOUT(held, lun_reset, 90)
{
	/*
	 * 6.1's vhost_scsi_release_tmf_res() has list_add_tail()'s
	 * arguments swapped: after a LUN RESET on a TPG with two LUNs its
	 * TMF list is corrupt and LUN unlink kfree()s a pointer into the
	 * TPG.  held_one.lun_reset covers the in-tree module instead.
	 */
	if (vs_module_is("vhost_scsi"))
		SKIP(return, "expected failure: in-tree vhost_scsi %s",
		     TMF_LIST_WHY);
	lun_reset_in_flight(_metadata, &self->h);
}

TEST_F_TIMEOUT(held_one, lun_reset, 90)
{
	lun_reset_in_flight(_metadata, &self->h);
}

TEST_F_TIMEOUT(held, clear_task_set_rejected, 90)
{
	struct held *h = &self->h;

	/* Rejected, and the commands it names are left alone. */
	ASSERT_EQ(0, post_read(h, 0, 0));
	ASSERT_EQ(0, post_read(h, 1, 0));
	HOLD_OR_FAIL(h);
	ASSERT_EQ(VIRTIO_SCSI_S_FUNCTION_REJECTED,
		  vs_tmf(&h->d, 1, 0, VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET, 0,
			 TMF_WAIT_MS));
	ASSERT_EQ(VIRTIO_SCSI_S_FUNCTION_REJECTED,
		  vs_tmf(&h->d, 1, 0, VIRTIO_SCSI_T_TMF_CLEAR_ACA, 0,
			 TMF_WAIT_MS));
	IN_HOLD_OR_FAIL(h);
	ASSERT_EQ(2U, wait_done(&h->d, h->c, 2, TMF_WAIT_MS));
	ASSERT_TRUE(vs_good(&h->c[0])) log_cmd(_metadata, "READ 0", &h->c[0]);
	ASSERT_TRUE(vs_good(&h->c[1])) log_cmd(_metadata, "READ 1", &h->c[1]);
	ASSERT_TRUE(read_ok(h, 0)) log_cmd(_metadata, "READ", &h->probe);
}

/* ---- held_workers: the request queue on a worker of its own ------------ */

/*
 * With the request queue on another worker than the control queue, a
 * TMF's answer and the completions of the commands it ended are written
 * by two threads; the answer must still come last.  To make that
 * deterministic, the request queue's worker is held up: a WRITE whose
 * data lies in a userfaultfd-armed region (a memory table entry of its
 * own) stops it in pin_user_pages() until the test fills the page.
 * While it is stuck, the aborted READ cannot be completed, so the TMF
 * must not be answered either; the test waits until the disk has let the
 * READ go (and a second more), then frees the worker and checks that the
 * READ was in the used ring by the time the answer was.
 */
#define TRAP_SIZE	(64 * 1024)

FIXTURE(held_workers) {
	struct held h;
	int uffd;
	uint8_t *trap;
	uint64_t trap_gpa;
};

/* Let the request queue's worker go (idempotent). */
static void trap_release(FIXTURE_DATA(held_workers) *self)
{
	struct uffdio_zeropage zp = {
		.range = { (uintptr_t)self->trap, TRAP_SIZE },
	};

	if (self->uffd >= 0)
		ioctl(self->uffd, UFFDIO_ZEROPAGE, &zp);
}

static void workers_undo(FIXTURE_DATA(held_workers) *self)
{
	trap_release(self);
	held_undo(&self->h);
	if (self->uffd >= 0)
		close(self->uffd);
	if (self->trap)
		munmap(self->trap, TRAP_SIZE);
	self->uffd = -1;
	self->trap = NULL;
}

/* Move the request queue to a new worker; -ENOTTY if there are none. */
static int req_own_worker(struct vs_dev *d)
{
	struct vhost_worker_state st = { 0 };
	struct vhost_vring_worker vw = { .index = VS_VQ_REQ };

	if (ioctl(d->fd, VHOST_NEW_WORKER, &st))
		return -errno;
	vw.worker_id = st.worker_id;
	return ioctl(d->fd, VHOST_ATTACH_VRING_WORKER, &vw) ? -errno : 0;
}

/* An unpopulated region whose page faults come to us, in the table. */
static int trap_arm(FIXTURE_DATA(held_workers) *self)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	struct vs_dev *d = &self->h.d;

	self->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (self->uffd < 0 || ioctl(self->uffd, UFFDIO_API, &api))
		return -errno;
	self->trap = mmap(NULL, TRAP_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (self->trap == MAP_FAILED) {
		self->trap = NULL;
		return -ENOMEM;
	}
	reg.range.start = (uintptr_t)self->trap;
	reg.range.len = TRAP_SIZE;
	if (ioctl(self->uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	self->trap_gpa = d->gpa_end + (16 << 20);
	d->extra[0] = (struct vs_region){ self->trap, self->trap_gpa,
					  TRAP_SIZE };
	d->nextra = 1;
	return vs_set_mem_table(d);
}

/* Wait for a fault in the trap: the worker is stuck.  0 or -ETIMEDOUT. */
static int trap_wait(FIXTURE_DATA(held_workers) *self, int timeout_ms)
{
	struct pollfd p = { .fd = self->uffd, .events = POLLIN };
	struct uffd_msg msg;

	if (poll(&p, 1, timeout_ms) != 1 ||
	    read(self->uffd, &msg, sizeof(msg)) != sizeof(msg))
		return -ETIMEDOUT;
	return msg.event == UFFD_EVENT_PAGEFAULT ? 0 : -EPROTO;
}

FIXTURE_SETUP(held_workers)
{
	int r;

	self->uffd = -1;
	VS_REQUIRE_TARGET();
	if (nb_available())
		VS_SKIP_SETUP("no null_blk configfs (modprobe null_blk failed)");
	VS_SETUP(held_start(&self->h, 2), workers_undo(self));
	r = req_own_worker(&self->h.d);
	if (r == -ENOTTY || r == -EINVAL || r == -ENOBUFS) {
		workers_undo(self);
		VS_SKIP_SETUP("no per-virtqueue workers (VHOST_NEW_WORKER)");
	}
	VS_SETUP(r, workers_undo(self));
	r = trap_arm(self);
	if (r == -ENOSYS || r == -EPERM) {
		workers_undo(self);
		VS_SKIP_SETUP("no userfaultfd");
	}
	VS_SETUP(r, workers_undo(self));
}

FIXTURE_TEARDOWN(held_workers)
{
	trap_release(self);
	held_stop(&self->h);
	workers_undo(self);
}

/* A TMF posted without waiting for it. */
struct tmf_slot {
	uint64_t req_gpa, resp_gpa;
	bool done;
	uint8_t response;
};

static int tmf_post(struct vs_dev *d, struct tmf_slot *t, unsigned int lun,
		    uint32_t subtype, uint64_t tag)
{
	struct virtio_scsi_ctrl_tmf_req *req;
	struct vs_seg segs[2];
	int r;

	memset(t, 0, sizeof(*t));
	t->req_gpa = vs_alloc(d, sizeof(*req), 16);
	t->resp_gpa = vs_alloc(d, sizeof(struct virtio_scsi_ctrl_tmf_resp),
			       16);
	if (!t->req_gpa || !t->resp_gpa)
		return -ENOMEM;
	req = vs_gpa(d, t->req_gpa);
	memset(req, 0, sizeof(*req));
	req->type = VIRTIO_SCSI_T_TMF;
	req->subtype = subtype;
	vs_lun(req->lun, 1, lun);
	req->tag = tag;
	segs[0] = (struct vs_seg){ t->req_gpa, sizeof(*req), false };
	segs[1] = (struct vs_seg){ t->resp_gpa,
				   sizeof(struct virtio_scsi_ctrl_tmf_resp),
				   true };
	r = vs_vq_add(&d->vq[VS_VQ_CTL], segs, 2, 0, t);
	if (r < 0)
		return r;
	vs_vq_kick(&d->vq[VS_VQ_CTL]);
	return 0;
}

static bool tmf_answered(struct vs_dev *d, struct tmf_slot *t)
{
	void *cookie;

	while (!t->done && vs_vq_get_used(&d->vq[VS_VQ_CTL], NULL,
					  &cookie) >= 0) {
		if (cookie != t)
			continue;
		t->response = *(uint8_t *)vs_gpa(d, t->resp_gpa);
		t->done = true;
	}
	return t->done;
}

/*
 * Hold c[0] (a READ on LUN 0), stick the request queue's worker, send
 * @subtype for LUN 0 (tag of c[0]) and see that c[0] is ABORTED and
 * in the used ring when the answer is.
 */
static void tmf_with_stuck_worker(struct __test_metadata *_metadata,
				  FIXTURE_DATA(held_workers) *self,
				  uint32_t subtype)
{
	struct held *h = &self->h;
	struct vs_cmd *w = &h->c[1];
	uint64_t deadline, idle = 0;
	struct tmf_slot t;
	bool released = false;

	ASSERT_EQ(0, post_read(h, 0, 0));
	HOLD_OR_FAIL(h);
	/* c[1]: a WRITE on LUN 1 whose data page faults to us. */
	vs_lun(w->lun, 1, 1);
	vs_cdb_rw(w->cdb, true, 10, 0, 1);
	w->dir = VS_TO_DEV;
	w->data_gpa = self->trap_gpa;
	w->data_len = VS_BLOCK;
	ASSERT_EQ(0, vs_cmd_submit(&h->d, 0, w));
	vs_vq_kick(vs_req_vq(&h->d, 0));
	ASSERT_EQ(0, trap_wait(self, 2000))
		TH_LOG("the request queue's worker never reached the trap");
	ASSERT_EQ(0, tmf_post(&h->d, &t, 0, subtype, h->c[0].tag));
	deadline = vs_now_ns() + TMF_WAIT_MS * 1000000ULL;
	while (!tmf_answered(&h->d, &t)) {
		ASSERT_LT(vs_now_ns(), deadline) TH_LOG("no TMF answer");
		/* The disk let the READ go a second ago: free the worker. */
		if (!released && !idle && nb_inflight(&h->nb[0]) == 0)
			idle = vs_now_ns();
		if (!released && idle && vs_now_ns() - idle > 1000000000ULL) {
			trap_release(self);
			released = true;
		}
		vs_sleep_ms(5);
	}
	count_done(&h->d, h->c, 1);
	ASSERT_TRUE(t.response == TMF_COMPLETE ||
		    (subtype == VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET &&
		     t.response == VIRTIO_SCSI_S_FUNCTION_SUCCEEDED))
		TH_LOG("TMF answered %u", t.response);
	ASSERT_TRUE(h->c[0].done)
		TH_LOG("TMF answered while its READ was still unanswered%s",
		       released ? "" :
		       " (the request queue's worker was stuck)");
	if (subtype == VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET) {
		ASSERT_TRUE(cmd_reset(&h->c[0]))
			log_cmd(_metadata, "READ", &h->c[0]);
	} else {
		ASSERT_TRUE(cmd_aborted(&h->c[0]))
			log_cmd(_metadata, "READ", &h->c[0]);
	}
	trap_release(self);
	ASSERT_EQ(2U, wait_done(&h->d, h->c, 2, TMF_WAIT_MS));
	ASSERT_TRUE(vs_good(w)) log_cmd(_metadata, "trapped WRITE", w);
}

TEST_F_TIMEOUT(held_workers, abort_task, 90)
{
	tmf_with_stuck_worker(_metadata, self, VIRTIO_SCSI_T_TMF_ABORT_TASK);
}

TEST_F_TIMEOUT(held_workers, lun_reset, 90)
{
	tmf_with_stuck_worker(_metadata, self,
			      VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET);
}

TEST_HARNESS_MAIN
