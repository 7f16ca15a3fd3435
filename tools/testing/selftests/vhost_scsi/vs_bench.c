// SPDX-License-Identifier: GPL-2.0
/*
 * vs_bench: 4 KiB random I/O through /dev/vhost-scsi from a userspace
 * initiator (see vs_lib.h).  Not a test: it measures.
 *
 * One line per configuration, key=value, for scripts:
 *   bench module=... backstore=nullio rw=read bs=4096 qd=32 queues=4
 *         ios=N secs=S iops=X lat_mean_us=M lat_p99_us=P max_gap_us=G
 * qd is per request queue.  Latency is submit to reap (CLOCK_MONOTONIC),
 * interrupt driven (the call eventfd), after a ramp of --ramp I/Os per
 * queue; iops counts every completion from the first end of ramp to
 * the last completion (see run_cfg()); max_gap_us is the longest time
 * without any completion on a queue after its ramp. idle_pct and
 * cs_per_io are the guest's idle share and context switches per I/O
 * while the queues ran (/proc/stat).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <sys/ioctl.h>
#include <linux/tcm_vhost.h>	/* worker ioctls, on any kernel headers */

#include "vs_lib.h"

#define BS		4096
#define MAX_QD		64
#define RD_PAGES	16384		/* 64 MiB: the LBA range we hit */

struct cfg {
	bool nullio;
	bool write;
	unsigned int qd;
	unsigned int queues;
};

struct worker {
	struct vs_dev *d;
	unsigned int q;
	const struct cfg *cfg;
	unsigned long ramp, ios;	/* per queue */
	uint64_t blocks;
	uint64_t rng;
	struct vs_cmd c[MAX_QD];
	uint64_t buf;
	uint64_t *lat;			/* ns, ios entries */
	unsigned long nlat;
	uint64_t *tdone;		/* every completion, ramp included */
	unsigned long ndone;
	uint64_t t_start, t_end, max_gap;
	int err;
};

static unsigned long opt_ios = 20000, opt_ramp = 2000;
static bool opt_workers;

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void prep(struct worker *w, struct vs_cmd *c)
{
	uint64_t lba = next_rand(&w->rng) % (w->blocks / 8) * 8;

	vs_cdb_rw(c->cdb, w->cfg->write, 10, lba, BS / VS_BLOCK);
	c->dir = w->cfg->write ? VS_TO_DEV : VS_FROM_DEV;
}

static void *run_worker(void *arg)
{
	struct worker *w = arg;
	struct vs_vq *vq = vs_req_vq(w->d, w->q);
	unsigned long done = 0, total = w->ramp + w->ios;
	unsigned long submitted = 0;
	uint64_t last = 0;
	unsigned int i;

	w->t_start = vs_now_ns();
	last = w->t_start;
	for (i = 0; i < w->cfg->qd && submitted < total; i++, submitted++) {
		prep(w, &w->c[i]);
		if (vs_cmd_submit(w->d, w->q, &w->c[i])) {
			w->err = -EIO;
			return NULL;
		}
	}
	vs_vq_kick(vq);
	while (done < total) {
		int r = vs_reap(w->d, w->q, VS_TIMEOUT_MS);
		bool more = false;

		if (r <= 0) {
			w->err = r ? r : -ETIMEDOUT;
			return NULL;
		}
		for (i = 0; i < w->cfg->qd; i++) {
			struct vs_cmd *c = &w->c[i];

			if (!c->done)
				continue;
			if (!vs_good(c)) {
				uint8_t k = 0, a = 0, q = 0;

				vs_sense(c, &k, &a, &q);
				fprintf(stderr, "queue %u: response %u status %#x "
					"sense %x/%02x/%02x\n", w->q,
					c->resp.response, c->resp.status, k, a, q);
				w->err = -EIO;
				return NULL;
			}
			c->done = false;
			done++;
			w->tdone[w->ndone++] = c->t_done;
			if (done == w->ramp) {
				w->t_start = c->t_done;
				last = c->t_done;
			} else if (done > w->ramp) {
				w->lat[w->nlat++] = c->t_done - c->t_submit;
				/* One reap stamps several: not in order. */
				if (c->t_done > last) {
					if (c->t_done - last > w->max_gap)
						w->max_gap = c->t_done - last;
					last = c->t_done;
				}
				if (c->t_done > w->t_end)
					w->t_end = c->t_done;
			}
			if (submitted < total) {
				prep(w, c);
				if (vs_cmd_submit(w->d, w->q, c)) {
					w->err = -EIO;
					return NULL;
				}
				submitted++;
				more = true;
			}
		}
		if (more)
			vs_vq_kick(vq);
	}
	return NULL;
}

/* CPU jiffies (all, idle) and context switches so far, from /proc/stat. */
struct cpu_stat {
	unsigned long long total, idle, ctxt;
};

static void read_cpu_stat(struct cpu_stat *st)
{
	unsigned long long v[8] = { 0 };
	char line[256];
	FILE *f = fopen("/proc/stat", "r");
	unsigned int i;

	memset(st, 0, sizeof(*st));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "cpu ", 4)) {
			sscanf(line + 4, "%llu %llu %llu %llu %llu %llu %llu %llu",
			       &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
			       &v[7]);
			for (i = 0; i < 8; i++)
				st->total += v[i];
			st->idle = v[3] + v[4];
		} else if (!strncmp(line, "ctxt ", 5)) {
			st->ctxt = strtoull(line + 5, NULL, 10);
		}
	}
	fclose(f);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * A worker of its own for each request queue after the first, as QEMU's
 * worker_per_virtqueue=on sets up.  A module without the worker ioctls
 * (6.1's in-tree vhost_scsi) keeps its own placement: *@made says
 * whether workers were made.
 */
static int worker_per_queue(struct vs_dev *d, unsigned int queues, bool *made)
{
	unsigned int q;

	*made = false;
	for (q = 1; q < queues; q++) {
		struct vhost_worker_state st = { 0 };
		struct vhost_vring_worker vw = { .index = VS_VQ_REQ + q };

		if (ioctl(d->fd, VHOST_NEW_WORKER, &st))
			return q == 1 && errno == ENOTTY ? 0 : -errno;
		*made = true;
		vw.worker_id = st.worker_id;
		if (ioctl(d->fd, VHOST_ATTACH_VRING_WORKER, &vw))
			return -errno;
	}
	return 0;
}

static int run_cfg(const char *wwpn, const struct cfg *cfg, int64_t blocks)
{
	struct worker *w = calloc(cfg->queues, sizeof(*w));
	uint64_t *all, sum = 0, gap = 0, t0, t1;
	pthread_t th[VS_MAX_REQ_VQS];
	struct cpu_stat st0, st1;
	unsigned long n = 0, nwin, i;
	bool workers = false;
	struct vs_opts o;
	struct vs_dev d;
	unsigned int q, s;
	double secs;
	int r;

	if (!w)
		return -ENOMEM;
	vs_opts_init(&o);
	o.nreq = cfg->queues;
	o.mem_size = 8 << 20;
	r = vs_dev_start(&d, &o, wwpn);
	if (!r && opt_workers)
		r = worker_per_queue(&d, cfg->queues, &workers);
	if (!r)
		r = vs_clear_ua(&d, 0, 1, 0);
	if (r) {
		fprintf(stderr, "device: %s\n", strerror(-r));
		goto out;
	}
	for (q = 0; q < cfg->queues; q++) {
		struct worker *x = &w[q];

		x->d = &d;
		x->q = q;
		x->cfg = cfg;
		x->ramp = opt_ramp;
		x->ios = opt_ios / cfg->queues;
		x->blocks = (uint64_t)blocks;
		x->rng = 0x9e3779b97f4a7c15ULL * (q + 1);
		x->lat = calloc(x->ios, sizeof(uint64_t));
		x->tdone = calloc(x->ramp + x->ios, sizeof(uint64_t));
		x->buf = vs_alloc(&d, (size_t)cfg->qd * BS, VS_PAGE);
		if (!x->lat || !x->tdone || !x->buf) {
			r = -ENOMEM;
			goto out;
		}
		for (s = 0; s < cfg->qd; s++) {
			r = vs_cmd_init(&d, &x->c[s], 4);
			if (r)
				goto out;
			vs_lun(x->c[s].lun, 1, 0);
			x->c[s].data_gpa = x->buf + (uint64_t)s * BS;
			x->c[s].data_len = BS;
		}
	}
	read_cpu_stat(&st0);
	for (q = 0; q < cfg->queues; q++)
		pthread_create(&th[q], NULL, run_worker, &w[q]);
	for (q = 0; q < cfg->queues; q++)
		pthread_join(th[q], NULL);
	read_cpu_stat(&st1);

	all = calloc(opt_ios, sizeof(uint64_t));
	if (!all) {
		r = -ENOMEM;
		goto out;
	}
	for (q = 0; q < cfg->queues; q++) {
		if (w[q].err) {
			r = w[q].err;
			fprintf(stderr, "queue %u: %s\n", q, strerror(-r));
			free(all);
			goto out;
		}
		for (i = 0; i < w[q].nlat; i++) {
			all[n++] = w[q].lat[i];
			sum += w[q].lat[i];
		}
		if (w[q].max_gap > gap)
			gap = w[q].max_gap;
	}
	qsort(all, n, sizeof(*all), cmp_u64);
	/*
	 * Throughput from the first queue's end of ramp to the last
	 * completion, counting every completion in between, ramps of other
	 * queues included: on one CPU the queues do not run evenly (one
	 * may finish before another ends its ramp), and work that is done
	 * inside the window but not counted would understate throughput.
	 */
	t0 = UINT64_MAX;
	t1 = 0;
	for (q = 0; q < cfg->queues; q++) {
		if (w[q].t_start < t0)
			t0 = w[q].t_start;
		for (i = 0; i < w[q].ndone; i++)
			if (w[q].tdone[i] > t1)
				t1 = w[q].tdone[i];
	}
	nwin = 0;
	for (q = 0; q < cfg->queues; q++)
		for (i = 0; i < w[q].ndone; i++)
			nwin += w[q].tdone[i] > t0 && w[q].tdone[i] <= t1;
	secs = t1 > t0 ? (t1 - t0) / 1e9 : 0;
	printf("bench module=%s backstore=%s rw=%s bs=%d qd=%u queues=%u "
	       "ios=%lu secs=%.3f iops=%.1f lat_mean_us=%.2f lat_p99_us=%.2f "
	       "max_gap_us=%.2f idle_pct=%.1f cs_per_io=%.3f workers=%s\n",
	       vs_module()[0] ? vs_module() : "unknown",
	       cfg->nullio ? "nullio" : "rd", cfg->write ? "write" : "read",
	       BS, cfg->qd, cfg->queues, n, secs, secs > 0 ? nwin / secs : 0,
	       n ? sum / (double)n / 1e3 : 0,
	       n ? all[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e3 : 0,
	       gap / 1e3,
	       st1.total > st0.total ? 100.0 * (st1.idle - st0.idle) /
				       (st1.total - st0.total) : 0,
	       (double)(st1.ctxt - st0.ctxt) /
	       (n + (unsigned long)opt_ramp * cfg->queues),
	       workers ? "per-queue" : "module");
	fflush(stdout);
	free(all);
out:
	for (q = 0; q < cfg->queues; q++) {
		free(w[q].lat);
		free(w[q].tdone);
	}
	free(w);
	vs_dev_close(&d);
	return r;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: vs_bench [--matrix|--quick] [--backstore rd|nullio]\n"
		"                [--rw read|write] [--qd N] [--queues N] [--ios N] [--ramp N]\n"
		"  --matrix: {nullio,rd} x {read,write} x qd {1,32} x queues {1,4}\n"
		"  --quick: the targets' rows (nullio read qd1 q1, qd32 q1 and q4,\n"
		"           nullio write qd32 q4, rd read qd32 q4)\n"
		"  --scaling: {nullio,rd} read qd32 x queues {1,4}\n"
		"  --workers: a worker per request queue (VHOST_NEW_WORKER), as\n"
		"             QEMU's worker_per_virtqueue=on\n"
		"  --ios is the total measured I/Os, --ramp per queue\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "matrix", no_argument, NULL, 'm' },
		{ "quick", no_argument, NULL, 'k' },
		{ "scaling", no_argument, NULL, 's' },
		{ "workers", no_argument, NULL, 'W' },
		{ "backstore", required_argument, NULL, 'b' },
		{ "rw", required_argument, NULL, 'w' },
		{ "qd", required_argument, NULL, 'q' },
		{ "queues", required_argument, NULL, 'n' },
		{ "ios", required_argument, NULL, 'i' },
		{ "ramp", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfg one = { .nullio = true, .qd = 1, .queues = 1 };
	struct cfg list[16];
	unsigned int ncfg = 0, i;
	bool matrix = false, quick = false, scaling = false;
	struct vs_lio lio;
	char bs[2][VS_PATH], wwpn[2][32];
	const char *why;
	int opt, r = 0;

	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (opt) {
		case 'm':
			matrix = true;
			break;
		case 'k':
			quick = true;
			break;
		case 's':
			scaling = true;
			break;
		case 'W':
			opt_workers = true;
			break;
		case 'b':
			one.nullio = !strcmp(optarg, "nullio");
			break;
		case 'w':
			one.write = !strcmp(optarg, "write");
			break;
		case 'q':
			one.qd = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			one.queues = strtoul(optarg, NULL, 0);
			break;
		case 'i':
			opt_ios = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			opt_ramp = strtoul(optarg, NULL, 0);
			break;
		default:
			usage();
		}
	}
	if (!one.qd || one.qd > MAX_QD || !one.queues ||
	    one.queues > VS_MAX_REQ_VQS || !opt_ios)
		usage();
	why = vs_skip_reason();
	if (why) {
		fprintf(stderr, "vs_bench: %s\n", why);
		return 4;
	}
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		perror("mlockall");

	if (matrix) {
		static const unsigned int qds[] = { 1, 32 }, nqs[] = { 1, 4 };
		unsigned int b, w, q, n;

		for (b = 0; b < 2; b++)
			for (w = 0; w < 2; w++)
				for (q = 0; q < 2; q++)
					for (n = 0; n < 2; n++)
						list[ncfg++] = (struct cfg){
							.nullio = !b,
							.write = w,
							.qd = qds[q],
							.queues = nqs[n] };
	} else if (quick) {
		static const struct cfg q[] = {
			{ .nullio = true, .qd = 1, .queues = 1 },
			{ .nullio = true, .qd = 32, .queues = 1 },
			{ .nullio = true, .qd = 32, .queues = 4 },
			{ .nullio = true, .write = true, .qd = 32, .queues = 4 },
			{ .nullio = false, .qd = 32, .queues = 4 },
		};

		for (ncfg = 0; ncfg < sizeof(q) / sizeof(q[0]); ncfg++)
			list[ncfg] = q[ncfg];
	} else if (scaling) {
		static const struct cfg q[] = {
			{ .nullio = true, .qd = 32, .queues = 1 },
			{ .nullio = true, .qd = 32, .queues = 4 },
			{ .nullio = false, .qd = 32, .queues = 1 },
			{ .nullio = false, .qd = 32, .queues = 4 },
		};

		for (ncfg = 0; ncfg < sizeof(q) / sizeof(q[0]); ncfg++)
			list[ncfg] = q[ncfg];
	} else {
		list[ncfg++] = one;
	}

	/* One target per backstore kind, made and removed here. */
	vs_lio_init(&lio);
	for (i = 0; i < 2 && !r; i++) {
		r = vs_lio_rd(&lio, RD_PAGES, i == 0, bs[i]);
		if (!r)
			r = vs_lio_simple(&lio, bs[i], wwpn[i]);
	}
	for (i = 0; i < ncfg && !r; i++)
		r = run_cfg(wwpn[list[i].nullio ? 0 : 1], &list[i],
			    RD_PAGES * 8);
	if (r)
		fprintf(stderr, "vs_bench: %s\n", strerror(-r));
	if (vs_lio_destroy(&lio) && !r)
		r = -EBUSY;
	return r ? 1 : 0;
}
