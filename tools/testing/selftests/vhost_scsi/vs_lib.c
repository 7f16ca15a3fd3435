// SPDX-License-Identifier: GPL-2.0
/*
 * vs_lib: userspace virtio-scsi initiator and LIO configfs helpers for the
 * vhost-scsi selftests and benchmark.  See vs_lib.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "vs_lib.h"

/* Marks chains laid out by the raw helpers: never walked or freed. */
#define VS_RAW_COOKIE	((void *)1)

/* Bytes kept free around the region boundary for vs_alloc_straddle(). */
#define VS_STRADDLE_WIN	(1024 * 1024 + 64 * 1024)

#define VS_ALIGN(x, a)	(((x) + (a) - 1) & ~((uint64_t)(a) - 1))

static inline void vs_mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline void vs_wmb(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void vs_rmb(void)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

static inline uint16_t vs_load16(const void *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static inline void vs_store16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE);
}

uint64_t vs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

void vs_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

const char *vs_module(void)
{
	const char *m = getenv("TV_MODULE");

	if (m && *m)
		return m;
	if (!access("/sys/module/tcm_vhost", F_OK))
		return "tcm_vhost";
	if (!access("/sys/module/vhost_scsi", F_OK))
		return "vhost_scsi";
	return "";
}

bool vs_module_is(const char *name)
{
	return !strcmp(vs_module(), name);
}

const char *vs_skip_reason(void)
{
	if (geteuid())
		return "needs root";
	if (access(VS_DEV_PATH, R_OK | W_OK))
		return "no " VS_DEV_PATH " (module not loaded?)";
	if (vs_lio_available())
		return "no LIO vhost fabric in " VS_TARGET_DIR;
	return NULL;
}

/* ---- guest memory --------------------------------------------------- */

void vs_opts_init(struct vs_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->nreq = 1;
	o->vq_size = 128;
	o->mem_size = 16 << 20;
	o->features = VS_F_DEFAULT;
}

int vs_mem_init(struct vs_dev *d, const struct vs_opts *o)
{
	size_t size = VS_ALIGN(o->mem_size, VS_PAGE);
	size_t s0, s1;
	unsigned int i;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->opts = *o;
	if (d->opts.nreq > VS_MAX_REQ_VQS || !d->opts.vq_size)
		return -EINVAL;
	d->nguard = o->two_regions ? 3 : 2;
	d->map_size = size + d->nguard * VS_PAGE;
	d->map = mmap(NULL, d->map_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (d->map == MAP_FAILED) {
		d->map = NULL;
		return -errno;
	}
	/* The device pins these pages anyway; keep them from moving. */
	mlock(d->map, d->map_size);

	if (!o->two_regions) {
		d->nregions = 1;
		d->guard[0] = d->map;
		d->reg[0].hva = d->map + VS_PAGE;
		d->guard[1] = d->reg[0].hva + size;
		d->reg[0].gpa = VS_GPA_BASE;
		d->reg[0].size = size;
	} else {
		/*
		 * Contiguous in guest-physical space, but the upper half sits
		 * below the lower one in our address space, with a canary page
		 * between: a buffer crossing the boundary needs two iovecs.
		 */
		s0 = VS_ALIGN(size / 2, VS_PAGE);
		s1 = size - s0;
		d->nregions = 2;
		d->guard[0] = d->map;
		d->reg[1].hva = d->map + VS_PAGE;
		d->guard[1] = d->reg[1].hva + s1;
		d->reg[0].hva = d->guard[1] + VS_PAGE;
		d->guard[2] = d->reg[0].hva + s0;
		d->reg[0].gpa = VS_GPA_BASE;
		d->reg[0].size = s0;
		d->reg[1].gpa = VS_GPA_BASE + s0;
		d->reg[1].size = s1;
	}
	for (i = 0; i < d->nguard; i++)
		memset(d->guard[i], VS_CANARY_BYTE, VS_PAGE);
	d->gpa_end = VS_GPA_BASE + size;
	d->brk = VS_GPA_BASE;
	return 0;
}

static uint64_t vs_boundary(const struct vs_dev *d)
{
	return d->nregions == 2 ? d->reg[1].gpa : 0;
}

uint64_t vs_alloc(struct vs_dev *d, size_t size, size_t align)
{
	uint64_t b = vs_boundary(d), gpa;

	if (!align)
		align = 8;
	gpa = VS_ALIGN(d->brk, align);
	/* Keep the window around the region boundary for straddlers. */
	if (b && gpa + size > b - VS_STRADDLE_WIN / 2 &&
	    gpa < b + VS_STRADDLE_WIN / 2)
		gpa = VS_ALIGN(b + VS_STRADDLE_WIN / 2, align);
	if (gpa + size > d->gpa_end)
		return 0;
	d->brk = gpa + size;
	memset(vs_gpa(d, gpa), 0, size);
	return gpa;
}

uint64_t vs_alloc_straddle(struct vs_dev *d, size_t size)
{
	uint64_t b = vs_boundary(d);

	if (!b || size < 2 || size > VS_STRADDLE_WIN - 2 * VS_PAGE)
		return 0;
	/* Off page alignment on purpose: both halves start mid-page. */
	return b - size / 2 - 200;
}

void *vs_gpa(const struct vs_dev *d, uint64_t gpa)
{
	unsigned int i;

	for (i = 0; i < d->nregions; i++) {
		const struct vs_region *r = &d->reg[i];

		if (gpa >= r->gpa && gpa < r->gpa + r->size)
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

/* Bytes from @gpa that are contiguous in our address space. */
static size_t vs_gpa_run(const struct vs_dev *d, uint64_t gpa)
{
	unsigned int i;

	for (i = 0; i < d->nregions; i++) {
		const struct vs_region *r = &d->reg[i];

		if (gpa >= r->gpa && gpa < r->gpa + r->size)
			return r->gpa + r->size - gpa;
	}
	return 0;
}

static int vs_copy(struct vs_dev *d, uint64_t gpa, void *buf, size_t len,
		   bool to_guest)
{
	uint8_t *p = buf;

	while (len) {
		size_t run = vs_gpa_run(d, gpa);

		if (!run)
			return -EFAULT;
		if (run > len)
			run = len;
		if (to_guest)
			memcpy(vs_gpa(d, gpa), p, run);
		else
			memcpy(p, vs_gpa(d, gpa), run);
		p += run;
		gpa += run;
		len -= run;
	}
	return 0;
}

static inline uint8_t vs_pat_byte(uint32_t seed, uint64_t off)
{
	uint32_t x = seed * 0x9e3779b1u ^ (uint32_t)(off >> 2) * 0x85ebca6bu;

	x ^= (uint32_t)(off >> 34);
	x ^= x >> 15;
	x *= 0x2c1b3c6du;
	x ^= x >> 12;
	return (uint8_t)(x >> (8 * (off & 3)));
}

void vs_pattern(void *buf, size_t len, uint32_t seed)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = vs_pat_byte(seed, i);
}

void vs_fill(struct vs_dev *d, uint64_t gpa, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		*(uint8_t *)vs_gpa(d, gpa + i) = vs_pat_byte(seed, i);
}

long vs_check(struct vs_dev *d, uint64_t gpa, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		uint8_t *p = vs_gpa(d, gpa + i);

		if (!p || *p != vs_pat_byte(seed, i))
			return (long)i;
	}
	return -1;
}

bool vs_bytes_are(const void *p, size_t len, uint8_t val)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != val)
			return false;
	return true;
}

bool vs_guards_intact(const struct vs_dev *d)
{
	unsigned int i;

	for (i = 0; i < d->nguard; i++)
		if (!vs_bytes_are(d->guard[i], VS_PAGE, VS_CANARY_BYTE))
			return false;
	return true;
}

/* ---- device --------------------------------------------------------- */

struct vhost_memory *vs_mem_table(const struct vs_dev *d)
{
	struct vhost_memory *m;
	unsigned int i;

	m = calloc(1, sizeof(*m) +
		   (d->nregions + d->nextra) * sizeof(m->regions[0]));
	if (!m)
		return NULL;
	m->nregions = d->nregions + d->nextra;
	for (i = 0; i < m->nregions; i++) {
		const struct vs_region *r = i < d->nregions ? &d->reg[i] :
					    &d->extra[i - d->nregions];

		m->regions[i].guest_phys_addr = r->gpa;
		m->regions[i].memory_size = r->size;
		m->regions[i].userspace_addr = (uintptr_t)r->hva;
	}
	return m;
}

int vs_set_mem_table(struct vs_dev *d)
{
	struct vhost_memory *m = vs_mem_table(d);
	int r;

	if (!m)
		return -ENOMEM;
	r = ioctl(d->fd, VHOST_SET_MEM_TABLE, m) ? -errno : 0;
	free(m);
	return r;
}

static void vs_vq_init_state(struct vs_vq *vq)
{
	unsigned int i;

	memset(vq->desc, 0, 16 * vq->num);
	memset(vq->avail, 0, 6 + 2 * vq->num);
	memset(vq->used, 0, 6 + 8 * vq->num);
	for (i = 0; i < vq->num; i++)
		vq->desc[i].next = (uint16_t)(i + 1);
	vq->free_head = 0;
	vq->num_free = (uint16_t)vq->num;
	vq->avail_idx = 0;
	vq->kicked_idx = 0;
	vq->last_used = 0;
	memset(vq->cookie, 0, vq->num * sizeof(void *));
}

static int vs_vq_program(struct vs_dev *d, struct vs_vq *vq)
{
	struct vhost_vring_state s = { .index = vq->index };
	struct vhost_vring_addr a = { .index = vq->index };

	s.num = vq->num;
	if (ioctl(d->fd, VHOST_SET_VRING_NUM, &s))
		return -errno;
	s.num = 0;
	if (ioctl(d->fd, VHOST_SET_VRING_BASE, &s))
		return -errno;
	a.desc_user_addr = (uintptr_t)vq->desc;
	a.avail_user_addr = (uintptr_t)vq->avail;
	a.used_user_addr = (uintptr_t)vq->used;
	a.log_guest_addr = vq->used_gpa;
	if (ioctl(d->fd, VHOST_SET_VRING_ADDR, &a))
		return -errno;
	return 0;
}

int vs_vq_setup(struct vs_dev *d, unsigned int index)
{
	struct vs_vq *vq = &d->vq[index];
	struct vhost_vring_file f = { .index = index };
	unsigned int num = d->opts.vq_size;
	int r;

	vq->dev = d;
	vq->index = index;
	vq->num = num;
	vq->desc_gpa = vs_alloc(d, 16 * num, VS_PAGE);
	vq->avail_gpa = vs_alloc(d, 6 + 2 * num, VS_PAGE);
	vq->used_gpa = vs_alloc(d, 6 + 8 * num, VS_PAGE);
	if (!vq->desc_gpa || !vq->avail_gpa || !vq->used_gpa)
		return -ENOMEM;
	vq->desc = vs_gpa(d, vq->desc_gpa);
	vq->avail = vs_gpa(d, vq->avail_gpa);
	vq->used = vs_gpa(d, vq->used_gpa);
	vq->cookie = calloc(num, sizeof(void *));
	if (!vq->cookie)
		return -ENOMEM;
	vs_vq_init_state(vq);

	vq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vq->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vq->err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vq->kick_fd < 0 || vq->call_fd < 0 || vq->err_fd < 0)
		return -errno;

	r = vs_vq_program(d, vq);
	if (r)
		return r;
	f.fd = vq->kick_fd;
	if (ioctl(d->fd, VHOST_SET_VRING_KICK, &f))
		return -errno;
	f.fd = vq->call_fd;
	if (ioctl(d->fd, VHOST_SET_VRING_CALL, &f))
		return -errno;
	f.fd = vq->err_fd;
	if (ioctl(d->fd, VHOST_SET_VRING_ERR, &f))
		return -errno;
	vq->ready = true;
	return 0;
}

int vs_vq_reset(struct vs_dev *d, unsigned int index)
{
	struct vs_vq *vq = &d->vq[index];

	if (!vq->ready)
		return 0;
	vs_vq_init_state(vq);
	vs_vq_take_signal(vq);
	vs_vq_take_error(vq);
	return vs_vq_program(d, vq);
}

int vs_dev_open(struct vs_dev *d, const struct vs_opts *o)
{
	uint64_t f;
	unsigned int i;
	int r;

	r = vs_mem_init(d, o);
	if (r)
		return r;
	d->fd = open(VS_DEV_PATH, O_RDWR | O_CLOEXEC);
	if (d->fd < 0)
		return -errno;
	if (ioctl(d->fd, VHOST_SET_OWNER))
		return -errno;
	if (ioctl(d->fd, VHOST_GET_FEATURES, &f))
		return -errno;
	if (o->features & ~f)
		return -EOPNOTSUPP;
	d->features = o->features;
	if (ioctl(d->fd, VHOST_SET_FEATURES, &d->features))
		return -errno;
	r = vs_set_mem_table(d);
	if (r)
		return r;
	for (i = 0; i < VS_VQ_REQ + o->nreq; i++) {
		r = vs_vq_setup(d, i);
		if (r)
			return r;
	}
	return 0;
}

int vs_dev_set_endpoint(struct vs_dev *d, const char *wwpn)
{
	struct vhost_scsi_target t;

	memset(&t, 0, sizeof(t));
	t.abi_version = VHOST_SCSI_ABI_VERSION;
	snprintf(t.vhost_wwpn, sizeof(t.vhost_wwpn), "%s", wwpn);
	if (ioctl(d->fd, VHOST_SCSI_SET_ENDPOINT, &t))
		return -errno;
	/* @wwpn may be d->wwpn itself (vs_dev_reset). */
	memcpy(d->wwpn, t.vhost_wwpn, sizeof(d->wwpn));
	d->endpoint = true;
	return 0;
}

int vs_dev_clear_endpoint(struct vs_dev *d)
{
	struct vhost_scsi_target t;

	memset(&t, 0, sizeof(t));
	t.abi_version = VHOST_SCSI_ABI_VERSION;
	snprintf(t.vhost_wwpn, sizeof(t.vhost_wwpn), "%s", d->wwpn);
	if (ioctl(d->fd, VHOST_SCSI_CLEAR_ENDPOINT, &t))
		return -errno;
	d->endpoint = false;
	return 0;
}

int vs_dev_reset(struct vs_dev *d)
{
	unsigned int i;
	int r;

	r = vs_dev_clear_endpoint(d);
	if (r) {
		fprintf(stderr, "# reset: CLEAR_ENDPOINT: %s\n", strerror(-r));
		return r;
	}
	for (i = 0; i < VS_MAX_VQS; i++) {
		r = vs_vq_reset(d, i);
		if (r) {
			fprintf(stderr, "# reset: vring %u: %s\n", i,
				strerror(-r));
			return r;
		}
	}
	r = vs_dev_set_endpoint(d, d->wwpn);
	if (r)
		fprintf(stderr, "# reset: SET_ENDPOINT: %s\n", strerror(-r));
	return r;
}

void vs_dev_close(struct vs_dev *d)
{
	unsigned int i;

	if (!d->map)
		return;
	/* Closing the fd is what releases the endpoint and the TPG. */
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	for (i = 0; i < VS_MAX_VQS; i++) {
		struct vs_vq *vq = &d->vq[i];

		if (!vq->dev)
			continue;
		if (vq->kick_fd > 0)
			close(vq->kick_fd);
		if (vq->call_fd > 0)
			close(vq->call_fd);
		if (vq->err_fd > 0)
			close(vq->err_fd);
		free(vq->cookie);
	}
	free(d->scratch);
	d->scratch = NULL;
	munmap(d->map, d->map_size);
	d->map = NULL;
}

int vs_dev_start(struct vs_dev *d, const struct vs_opts *o, const char *wwpn)
{
	int r = vs_dev_open(d, o);

	return r ? r : vs_dev_set_endpoint(d, wwpn);
}

/* ---- virtqueue mechanics -------------------------------------------- */

static uint16_t *vs_used_event(struct vs_vq *vq)
{
	return &vq->avail->ring[vq->num];
}

static uint16_t *vs_avail_event(const struct vs_vq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->num];
}

int vs_vq_add(struct vs_vq *vq, const struct vs_seg *segs, unsigned int n,
	      uint64_t table_gpa, void *cookie)
{
	unsigned int i, idx, head;

	if (!n)
		return -EINVAL;
	if (table_gpa) {
		struct vring_desc *t = vs_gpa(vq->dev, table_gpa);

		if (!vq->num_free || !t)
			return -ENOSPC;
		for (i = 0; i < n; i++) {
			t[i].addr = segs[i].gpa;
			t[i].len = segs[i].len;
			t[i].flags = (segs[i].write ? VRING_DESC_F_WRITE : 0) |
				     (i + 1 < n ? VRING_DESC_F_NEXT : 0);
			t[i].next = (uint16_t)(i + 1 < n ? i + 1 : 0);
		}
		head = vq->free_head;
		vq->free_head = vq->desc[head].next;
		vq->num_free--;
		vq->desc[head].addr = table_gpa;
		vq->desc[head].len = n * sizeof(struct vring_desc);
		vq->desc[head].flags = VRING_DESC_F_INDIRECT;
	} else {
		if (vq->num_free < n)
			return -ENOSPC;
		head = idx = vq->free_head;
		for (i = 0; i < n; i++) {
			idx = vq->free_head;
			vq->desc[idx].addr = segs[i].gpa;
			vq->desc[idx].len = segs[i].len;
			vq->desc[idx].flags =
				(segs[i].write ? VRING_DESC_F_WRITE : 0) |
				(i + 1 < n ? VRING_DESC_F_NEXT : 0);
			/* .next already links the free list: reuse it. */
			vq->free_head = vq->desc[idx].next;
		}
		vq->num_free -= n;
	}
	vq->cookie[head] = cookie;
	vq->avail->ring[vq->avail_idx % vq->num] = (uint16_t)head;
	vq->avail_idx++;
	vs_wmb();
	vs_store16(&vq->avail->idx, vq->avail_idx);
	return (int)head;
}

static void vs_vq_free_chain(struct vs_vq *vq, unsigned int head)
{
	unsigned int i = head, steps = 0, count = 1;

	while ((vq->desc[i].flags & VRING_DESC_F_NEXT) && steps++ < vq->num) {
		i = vq->desc[i].next;
		count++;
	}
	vq->desc[i].next = vq->free_head;
	vq->free_head = (uint16_t)head;
	vq->num_free += count;
}

bool vs_vq_kick(struct vs_vq *vq)
{
	bool need;

	vs_mb();
	if (vs_has(vq->dev, VIRTIO_RING_F_EVENT_IDX))
		need = vring_need_event(vs_load16(vs_avail_event(vq)),
					vq->avail_idx, vq->kicked_idx);
	else
		need = !(vs_load16(&vq->used->flags) &
			 VRING_USED_F_NO_NOTIFY);
	vq->kicked_idx = vq->avail_idx;
	if (!need) {
		vq->kicks_suppressed++;
		return false;
	}
	vs_vq_kick_force(vq);
	return true;
}

void vs_vq_kick_force(struct vs_vq *vq)
{
	uint64_t one = 1;

	vq->kicks++;
	vq->kicked_idx = vq->avail_idx;
	if (write(vq->kick_fd, &one, sizeof(one)) != sizeof(one))
		perror("kick");
}

uint16_t vs_vq_used_idx(const struct vs_vq *vq)
{
	return vs_load16(&vq->used->idx);
}

int vs_vq_get_used(struct vs_vq *vq, uint32_t *len, void **cookie)
{
	struct vring_used_elem e;
	unsigned int id;

	if (vs_vq_used_idx(vq) == vq->last_used)
		return -EAGAIN;
	vs_rmb();
	e = vq->used->ring[vq->last_used % vq->num];
	vq->last_used++;
	id = e.id;
	/* A head out of range, never posted, or returned twice. */
	if (id >= vq->num || !vq->cookie[id])
		return -EPROTO;
	if (len)
		*len = e.len;
	if (cookie)
		*cookie = vq->cookie[id];
	if (vq->cookie[id] != VS_RAW_COOKIE)
		vs_vq_free_chain(vq, id);
	vq->cookie[id] = NULL;
	return (int)id;
}

void vs_vq_set_used_event(struct vs_vq *vq, uint16_t idx)
{
	vs_store16(vs_used_event(vq), idx);
	vs_mb();
}

void vs_vq_enable_cb(struct vs_vq *vq)
{
	if (vs_has(vq->dev, VIRTIO_RING_F_EVENT_IDX))
		vs_store16(vs_used_event(vq), vq->last_used);
	else
		vs_store16(&vq->avail->flags, vq->avail->flags &
			   ~VRING_AVAIL_F_NO_INTERRUPT);
	vs_mb();
}

void vs_vq_disable_cb(struct vs_vq *vq)
{
	/* With EVENT_IDX an event index just behind us means "not soon". */
	if (vs_has(vq->dev, VIRTIO_RING_F_EVENT_IDX))
		vs_store16(vs_used_event(vq), (uint16_t)(vq->last_used - 1));
	else
		vs_store16(&vq->avail->flags, vq->avail->flags |
			   VRING_AVAIL_F_NO_INTERRUPT);
	vs_mb();
}

bool vs_vq_notify_enabled(const struct vs_vq *vq)
{
	vs_mb();
	if (vs_has(vq->dev, VIRTIO_RING_F_EVENT_IDX))
		return vs_load16(vs_avail_event(vq)) == vq->avail_idx;
	return !(vs_load16(&vq->used->flags) & VRING_USED_F_NO_NOTIFY);
}

static uint64_t vs_eventfd_take(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

uint64_t vs_vq_take_signal(struct vs_vq *vq)
{
	return vs_eventfd_take(vq->call_fd);
}

uint64_t vs_vq_take_error(struct vs_vq *vq)
{
	return vs_eventfd_take(vq->err_fd);
}

int vs_vq_wait(struct vs_vq *vq, int timeout_ms)
{
	uint64_t deadline = vs_now_ns() + (uint64_t)timeout_ms * 1000000;
	struct pollfd p = { .fd = vq->call_fd, .events = POLLIN };

	vs_vq_enable_cb(vq);
	if (vs_vq_used_idx(vq) != vq->last_used)
		return 0;
	for (;;) {
		uint64_t now = vs_now_ns();
		int r, left;

		left = now >= deadline ? 0 :
		       (int)((deadline - now + 999999) / 1000000);
		r = poll(&p, 1, left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && vs_vq_take_signal(vq))
			vq->irqs++;
		if (vs_vq_used_idx(vq) != vq->last_used)
			return 0;
		if (r == 0) {
			/* One more look: a completion with no signal at all? */
			vs_mb();
			if (vs_vq_used_idx(vq) != vq->last_used)
				return -VS_ENOIRQ;
			return -ETIMEDOUT;
		}
	}
}

int vs_vq_poll_used(struct vs_vq *vq, uint16_t want_idx, int timeout_ms)
{
	uint64_t deadline = vs_now_ns() + (uint64_t)timeout_ms * 1000000;

	/* Wraparound-safe "used index has reached want_idx". */
	while ((int16_t)(vs_vq_used_idx(vq) - want_idx) < 0) {
		if (vs_now_ns() > deadline)
			return -ETIMEDOUT;
		vs_sleep_ms(1);
	}
	return 0;
}

int vs_vq_take_desc(struct vs_vq *vq)
{
	unsigned int i;

	if (!vq->num_free)
		return -ENOSPC;
	i = vq->free_head;
	vq->free_head = vq->desc[i].next;
	vq->num_free--;
	vq->cookie[i] = VS_RAW_COOKIE;
	return (int)i;
}

void vs_vq_raw_desc(struct vs_vq *vq, unsigned int i, uint64_t gpa,
		    uint32_t len, uint16_t flags, uint16_t next)
{
	vq->desc[i].addr = gpa;
	vq->desc[i].len = len;
	vq->desc[i].flags = flags;
	vq->desc[i].next = next;
}

void vs_vq_raw_publish(struct vs_vq *vq, uint16_t head)
{
	vq->avail->ring[vq->avail_idx % vq->num] = head;
	if (head < vq->num && !vq->cookie[head])
		vq->cookie[head] = VS_RAW_COOKIE;
	vq->avail_idx++;
	vs_wmb();
	vs_store16(&vq->avail->idx, vq->avail_idx);
}

void vs_vq_raw_avail_idx(struct vs_vq *vq, uint16_t idx)
{
	vq->avail_idx = idx;
	vs_wmb();
	vs_store16(&vq->avail->idx, idx);
}

/* ---- virtio-scsi commands ------------------------------------------- */

void vs_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void vs_put_be32(uint8_t *p, uint32_t v)
{
	vs_put_be16(p, (uint16_t)(v >> 16));
	vs_put_be16(p + 2, (uint16_t)v);
}

void vs_put_be64(uint8_t *p, uint64_t v)
{
	vs_put_be32(p, (uint32_t)(v >> 32));
	vs_put_be32(p + 4, (uint32_t)v);
}

void vs_lun(uint8_t lun[8], unsigned int target, unsigned int lun_id)
{
	memset(lun, 0, 8);
	lun[0] = 1;
	lun[1] = (uint8_t)target;
	lun[2] = (uint8_t)(0x40 | ((lun_id >> 8) & 0x3f));
	lun[3] = (uint8_t)lun_id;
}

int vs_cmd_init(struct vs_dev *d, struct vs_cmd *c, unsigned int max_segs)
{
	memset(c, 0, sizeof(*c));
	c->table_max = max_segs + 8;
	c->req_gpa = vs_alloc(d, sizeof(struct virtio_scsi_cmd_req_pi), 64);
	c->resp_gpa = vs_alloc(d, sizeof(struct virtio_scsi_cmd_resp), 64);
	c->table_gpa = vs_alloc(d, c->table_max * sizeof(struct vring_desc),
				64);
	c->indirect = d->opts.indirect;
	c->head = -1;
	if (!c->req_gpa || !c->resp_gpa || !c->table_gpa)
		return -ENOMEM;
	return 0;
}

static size_t vs_req_size(const struct vs_dev *d)
{
	return vs_has(d, VIRTIO_SCSI_F_T10_PI) ?
	       sizeof(struct virtio_scsi_cmd_req_pi) :
	       sizeof(struct virtio_scsi_cmd_req);
}

/* Split [gpa, gpa+len) into @n pieces, appending to @segs. */
static unsigned int vs_split(struct vs_seg *segs, uint64_t gpa, uint32_t len,
			     unsigned int n, bool write)
{
	uint32_t piece, off = 0;
	unsigned int i;

	if (!n)
		n = 1;
	if (n > len)
		n = len;
	piece = len / n;
	for (i = 0; i < n; i++) {
		segs[i].gpa = gpa + off;
		segs[i].len = i + 1 < n ? piece : len - off;
		segs[i].write = write;
		off += piece;
	}
	return n;
}

int vs_cmd_submit(struct vs_dev *d, unsigned int q, struct vs_cmd *c)
{
	struct vs_vq *vq = vs_req_vq(d, q);
	size_t rsz = vs_req_size(d);
	struct vs_seg *segs;
	unsigned int n = 0, max;
	int head;

	if (!vq->ready)
		return -EINVAL;
	c->tag = __atomic_add_fetch(&d->next_tag, 1, __ATOMIC_RELAXED);
	if (rsz == sizeof(struct virtio_scsi_cmd_req_pi)) {
		struct virtio_scsi_cmd_req_pi *r = vs_gpa(d, c->req_gpa);

		memset(r, 0, sizeof(*r));
		memcpy(r->lun, c->lun, 8);
		r->tag = c->tag;
		r->task_attr = c->task_attr;
		memcpy(r->cdb, c->cdb, sizeof(r->cdb));
	} else {
		struct virtio_scsi_cmd_req *r = vs_gpa(d, c->req_gpa);

		memset(r, 0, sizeof(*r));
		memcpy(r->lun, c->lun, 8);
		r->tag = c->tag;
		r->task_attr = c->task_attr;
		memcpy(r->cdb, c->cdb, sizeof(r->cdb));
	}
	/* A response the device never wrote must not look like success. */
	memset(vs_gpa(d, c->resp_gpa), 0xee, sizeof(struct virtio_scsi_cmd_resp));

	max = (c->hdr_split ? c->hdr_split : 1) +
	      (c->resp_split ? c->resp_split : 1) +
	      (c->dir != VS_NONE ? (c->nsegs ? c->nsegs : 1) : 0);
	if (c->indirect && max > c->table_max)
		return -E2BIG;
	segs = calloc(max, sizeof(*segs));
	if (!segs)
		return -ENOMEM;
	n += vs_split(segs, c->req_gpa, (uint32_t)rsz, c->hdr_split, false);
	if (c->dir == VS_TO_DEV && c->data_len)
		n += vs_split(segs + n, c->data_gpa, c->data_len, c->nsegs,
			      false);
	n += vs_split(segs + n, c->resp_gpa,
		      sizeof(struct virtio_scsi_cmd_resp), c->resp_split, true);
	if (c->dir == VS_FROM_DEV && c->data_len)
		n += vs_split(segs + n, c->data_gpa, c->data_len, c->nsegs,
			      true);

	c->done = false;
	c->used_len = 0;
	memset(&c->resp, 0xee, sizeof(c->resp));
	c->t_submit = vs_now_ns();
	head = vs_vq_add(vq, segs, n, c->indirect ? c->table_gpa : 0, c);
	free(segs);
	if (head < 0)
		return head;
	c->head = head;
	return 0;
}

int vs_reap(struct vs_dev *d, unsigned int q, int timeout_ms)
{
	struct vs_vq *vq = vs_req_vq(d, q);
	int n = 0, r;

	for (;;) {
		uint32_t len;
		void *cookie;
		int head;

		while ((head = vs_vq_get_used(vq, &len, &cookie)) >= 0) {
			struct vs_cmd *c = cookie;

			if (cookie == VS_RAW_COOKIE) {
				n++;
				continue;
			}
			vs_copy(d, c->resp_gpa, &c->resp, sizeof(c->resp),
				false);
			c->used_len = len;
			c->done = true;
			c->t_done = vs_now_ns();
			n++;
		}
		if (head == -EPROTO)
			return -EPROTO;
		if (n || !timeout_ms)
			return n;
		r = vs_vq_wait(vq, timeout_ms);
		if (r)
			return r;
	}
}

int vs_cmd_run(struct vs_dev *d, unsigned int q, struct vs_cmd *c,
	       int timeout_ms)
{
	uint64_t deadline;
	int r;

	r = vs_cmd_submit(d, q, c);
	if (r)
		return r;
	vs_vq_kick(vs_req_vq(d, q));
	deadline = vs_now_ns() + (uint64_t)timeout_ms * 1000000;
	while (!c->done) {
		uint64_t now = vs_now_ns();

		if (now >= deadline)
			return -ETIMEDOUT;
		r = vs_reap(d, q, (int)((deadline - now) / 1000000) + 1);
		if (r < 0)
			return r;
	}
	return 0;
}

int vs_scsi(struct vs_dev *d, unsigned int q, struct vs_cmd *c,
	    unsigned int target, unsigned int lun, const uint8_t *cdb,
	    unsigned int cdb_len, enum vs_dir dir, uint64_t gpa, uint32_t len)
{
	int r;

	if (!c->req_gpa) {
		r = vs_cmd_init(d, c, 16);
		if (r)
			return r;
	}
	vs_lun(c->lun, target, lun);
	memset(c->cdb, 0, sizeof(c->cdb));
	memcpy(c->cdb, cdb, cdb_len);
	c->dir = dir;
	c->data_gpa = gpa;
	c->data_len = len;
	return vs_cmd_run(d, q, c, VS_TIMEOUT_MS);
}

int vs_rw(struct vs_dev *d, unsigned int q, struct vs_cmd *c,
	  unsigned int target, unsigned int lun, bool write, int op_size,
	  uint64_t lba, uint32_t blocks, uint64_t gpa)
{
	uint8_t cdb[16];
	unsigned int n = vs_cdb_rw(cdb, write, op_size, lba, blocks);

	if (!n)
		return -EINVAL;
	return vs_scsi(d, q, c, target, lun, cdb, n,
		       write ? VS_TO_DEV : VS_FROM_DEV, gpa, blocks * VS_BLOCK);
}

bool vs_good(const struct vs_cmd *c)
{
	return c->done && c->resp.response == VIRTIO_SCSI_S_OK &&
	       c->resp.status == VS_SAM_GOOD;
}

bool vs_is_ua(const struct vs_cmd *c)
{
	uint8_t key, asc, ascq;

	return c->done && c->resp.response == VIRTIO_SCSI_S_OK &&
	       c->resp.status == VS_SAM_CHECK_COND &&
	       vs_sense(c, &key, &asc, &ascq) && key == VS_SK_UNIT_ATTENTION;
}

#define VS_SCRATCH	(64 * 1024)

static int vs_scratch(struct vs_dev *d)
{
	if (d->scratch)
		return 0;
	d->scratch = calloc(1, sizeof(*d->scratch));
	if (!d->scratch)
		return -ENOMEM;
	d->scratch_gpa = vs_alloc(d, VS_SCRATCH, VS_PAGE);
	if (!d->scratch_gpa || vs_cmd_init(d, d->scratch, 16)) {
		free(d->scratch);
		d->scratch = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Run a probe command, retrying while the target reports a unit attention. */
static int vs_probe(struct vs_dev *d, unsigned int q, unsigned int target,
		    unsigned int lun, const uint8_t *cdb, unsigned int n,
		    enum vs_dir dir, uint64_t gpa, uint32_t len)
{
	struct vs_cmd *c = d->scratch;
	int tries, r = 0;

	for (tries = 0; tries < 4; tries++) {
		c->indirect = d->opts.indirect;
		r = vs_scsi(d, q, c, target, lun, cdb, n, dir, gpa, len);
		if (r)
			return r;
		if (!vs_is_ua(c))
			break;
	}
	return vs_good(c) ? 0 : -EIO;
}

int64_t vs_capacity(struct vs_dev *d, unsigned int q, unsigned int target,
		    unsigned int lun)
{
	uint8_t cdb[16];
	int r;

	r = vs_scratch(d);
	if (r)
		return r;
	r = vs_probe(d, q, target, lun, cdb, vs_cdb_read_cap16(cdb, 32),
		     VS_FROM_DEV, d->scratch_gpa, 32);
	if (r)
		return r;
	return (int64_t)vs_be64(vs_gpa(d, d->scratch_gpa)) + 1;
}

int vs_clear_ua(struct vs_dev *d, unsigned int q, unsigned int target,
		unsigned int lun)
{
	uint8_t cdb[6];
	int r;

	r = vs_scratch(d);
	if (r)
		return r;
	return vs_probe(d, q, target, lun, cdb, vs_cdb_tur(cdb), VS_NONE, 0,
			0);
}

int vs_verify_rw(struct vs_dev *d, unsigned int q, unsigned int target,
		 unsigned int lun, uint64_t lba, uint32_t blocks,
		 uint32_t seed)
{
	uint32_t len = blocks * VS_BLOCK;
	uint64_t wbuf, rbuf;
	uint8_t cdb[16];
	int r;

	if (!blocks || len > VS_SCRATCH / 2)
		return -EINVAL;
	r = vs_scratch(d);
	if (r)
		return r;
	wbuf = d->scratch_gpa;
	rbuf = d->scratch_gpa + VS_SCRATCH / 2;
	vs_fill(d, wbuf, len, seed);
	memset(vs_gpa(d, rbuf), 0, len);
	r = vs_probe(d, q, target, lun, cdb,
		     vs_cdb_rw(cdb, true, 16, lba, blocks), VS_TO_DEV,
		     wbuf, len);
	if (r)
		return r;
	r = vs_probe(d, q, target, lun, cdb,
		     vs_cdb_rw(cdb, false, 16, lba, blocks), VS_FROM_DEV,
		     rbuf, len);
	if (r)
		return r;
	return vs_check(d, rbuf, len, seed) < 0 ? 0 : -EILSEQ;
}

unsigned int vs_cdb_rw(uint8_t *cdb, bool write, int op_size, uint64_t lba,
		       uint32_t blocks)
{
	memset(cdb, 0, 16);
	switch (op_size) {
	case 6:
		if (lba > 0x1fffff || blocks > 256 || !blocks)
			return 0;
		cdb[0] = write ? 0x0a : 0x08;
		cdb[1] = (uint8_t)(lba >> 16) & 0x1f;
		cdb[2] = (uint8_t)(lba >> 8);
		cdb[3] = (uint8_t)lba;
		cdb[4] = (uint8_t)blocks;	/* 0 means 256 */
		return 6;
	case 10:
		if (lba > 0xffffffffULL || blocks > 0xffff)
			return 0;
		cdb[0] = write ? 0x2a : 0x28;
		vs_put_be32(cdb + 2, (uint32_t)lba);
		vs_put_be16(cdb + 7, (uint16_t)blocks);
		return 10;
	case 16:
		cdb[0] = write ? 0x8a : 0x88;
		vs_put_be64(cdb + 2, lba);
		vs_put_be32(cdb + 10, blocks);
		return 16;
	}
	return 0;
}

unsigned int vs_cdb_inquiry(uint8_t *cdb, bool evpd, uint8_t page,
			    uint16_t alloc)
{
	memset(cdb, 0, 6);
	cdb[0] = 0x12;
	cdb[1] = evpd ? 1 : 0;
	cdb[2] = page;
	vs_put_be16(cdb + 3, alloc);
	return 6;
}

unsigned int vs_cdb_read_cap10(uint8_t *cdb)
{
	memset(cdb, 0, 10);
	cdb[0] = 0x25;
	return 10;
}

unsigned int vs_cdb_read_cap16(uint8_t *cdb, uint32_t alloc)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x9e;		/* SERVICE ACTION IN(16) */
	cdb[1] = 0x10;		/* READ CAPACITY(16) */
	vs_put_be32(cdb + 10, alloc);
	return 16;
}

unsigned int vs_cdb_report_luns(uint8_t *cdb, uint32_t alloc)
{
	memset(cdb, 0, 12);
	cdb[0] = 0xa0;
	vs_put_be32(cdb + 6, alloc);
	return 12;
}

unsigned int vs_cdb_tur(uint8_t *cdb)
{
	memset(cdb, 0, 6);
	return 6;
}

unsigned int vs_cdb_pr_in(uint8_t *cdb, uint8_t sa, uint16_t alloc)
{
	memset(cdb, 0, 10);
	cdb[0] = 0x5e;
	cdb[1] = sa & 0x1f;
	vs_put_be16(cdb + 7, alloc);
	return 10;
}

unsigned int vs_cdb_pr_out(uint8_t *cdb, uint8_t sa, uint8_t type,
			   uint32_t len)
{
	memset(cdb, 0, 10);
	cdb[0] = 0x5f;
	cdb[1] = sa & 0x1f;
	cdb[2] = type & 0x0f;		/* scope 0: LU_SCOPE */
	vs_put_be32(cdb + 5, len);
	return 10;
}

bool vs_sense(const struct vs_cmd *c, uint8_t *key, uint8_t *asc,
	      uint8_t *ascq)
{
	const uint8_t *s = c->resp.sense;
	uint32_t len = c->resp.sense_len;

	if (len > sizeof(c->resp.sense))
		len = sizeof(c->resp.sense);
	if (len < 4)
		return false;
	switch (s[0] & 0x7f) {
	case 0x70:
	case 0x71:
		if (len < 14)
			return false;
		*key = s[2] & 0x0f;
		*asc = s[12];
		*ascq = s[13];
		return true;
	case 0x72:
	case 0x73:
		*key = s[1] & 0x0f;
		*asc = s[2];
		*ascq = s[3];
		return true;
	}
	return false;
}

/* ---- control and event queues --------------------------------------- */

int vs_ctl_run(struct vs_dev *d, const void *req, uint32_t req_len,
	       void *resp, uint32_t resp_len, int timeout_ms)
{
	struct vs_vq *vq = &d->vq[VS_VQ_CTL];
	struct vs_seg segs[2];
	uint64_t req_gpa, resp_gpa, deadline;
	uint8_t *rbuf;
	int head, r = 0;

	req_gpa = vs_alloc(d, req_len ? req_len : 1, 16);
	resp_gpa = vs_alloc(d, resp_len + VS_CTL_CANARY, 16);
	if (!req_gpa || !resp_gpa)
		return -ENOMEM;
	memcpy(vs_gpa(d, req_gpa), req, req_len);
	rbuf = vs_gpa(d, resp_gpa);
	memset(rbuf, VS_CANARY_BYTE, resp_len + VS_CTL_CANARY);
	segs[0] = (struct vs_seg){ req_gpa, req_len, false };
	segs[1] = (struct vs_seg){ resp_gpa, resp_len, true };
	head = vs_vq_add(vq, segs, 2, 0, (void *)(uintptr_t)resp_gpa);
	if (head < 0)
		return head;
	vs_vq_kick(vq);
	deadline = vs_now_ns() + (uint64_t)timeout_ms * 1000000;
	for (;;) {
		void *cookie;
		uint64_t now;

		while ((r = vs_vq_get_used(vq, NULL, &cookie)) >= 0)
			if (cookie == (void *)(uintptr_t)resp_gpa)
				goto done;
		if (r == -EPROTO)
			return r;
		now = vs_now_ns();
		if (now >= deadline) {
			r = -ETIMEDOUT;
			goto done;
		}
		r = vs_vq_wait(vq, (int)((deadline - now) / 1000000) + 1);
		if (r)
			goto done;
	}
done:
	if (!vs_bytes_are(rbuf + resp_len, VS_CTL_CANARY, VS_CANARY_BYTE))
		return -EOVERFLOW;
	if (r < 0)
		return r;
	memcpy(resp, rbuf, resp_len);
	return 0;
}

int vs_tmf(struct vs_dev *d, unsigned int target, unsigned int lun,
	   uint32_t subtype, uint64_t tag, int timeout_ms)
{
	struct virtio_scsi_ctrl_tmf_req req;
	struct virtio_scsi_ctrl_tmf_resp resp;
	int r;

	memset(&req, 0, sizeof(req));
	req.type = VIRTIO_SCSI_T_TMF;
	req.subtype = subtype;
	vs_lun(req.lun, target, lun);
	req.tag = tag;
	r = vs_ctl_run(d, &req, sizeof(req), &resp, sizeof(resp), timeout_ms);
	return r ? r : resp.response;
}

int vs_evt_post(struct vs_dev *d, unsigned int n)
{
	struct vs_vq *vq = &d->vq[VS_VQ_EVT];
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint64_t gpa = vs_alloc(d, sizeof(struct virtio_scsi_event),
					16);
		struct vs_seg s = { gpa, sizeof(struct virtio_scsi_event),
				    true };
		int r;

		if (!gpa)
			return -ENOMEM;
		memset(vs_gpa(d, gpa), 0xee, s.len);
		r = vs_vq_add(vq, &s, 1, 0, (void *)(uintptr_t)gpa);
		if (r < 0)
			return r;
	}
	vs_vq_kick(vq);
	return 0;
}

int vs_evt_wait(struct vs_dev *d, struct virtio_scsi_event *ev,
		int timeout_ms)
{
	struct vs_vq *vq = &d->vq[VS_VQ_EVT];
	void *cookie;
	int r;

	r = vs_vq_get_used(vq, NULL, &cookie);
	if (r == -EAGAIN) {
		r = vs_vq_wait(vq, timeout_ms);
		if (r)
			return r;
		r = vs_vq_get_used(vq, NULL, &cookie);
	}
	if (r < 0)
		return r;
	memcpy(ev, vs_gpa(d, (uint64_t)(uintptr_t)cookie), sizeof(*ev));
	return 0;
}

/* ---- LIO configfs --------------------------------------------------- */

int vs_write_file(const char *path, const char *val)
{
	size_t len = strlen(val);
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, len) != (ssize_t)len)
		r = -errno;
	close(fd);
	return r ? r : 0;
}

int vs_read_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return (int)n;
}

int vs_lio_available(void)
{
	if (access(VS_TARGET_DIR "/core", F_OK))
		return -ENOENT;
	/* Creating the fabric directory binds the "vhost" fabric. */
	if (mkdir(VS_TARGET_DIR "/vhost", 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

#define VS_DBROOT_FALLBACK "/tmp/vst-dbroot"

int vs_lio_pr_storage(void)
{
	char root[256], pr[300];
	int r;

	r = vs_read_file(VS_TARGET_DIR "/dbroot", root, sizeof(root));
	if (r < 0)
		return r;
	root[strcspn(root, "\n")] = 0;
	snprintf(pr, sizeof(pr), "%s/pr", root);
	if (!access(pr, W_OK) || !mkdir(pr, 0755))
		return 0;
	mkdir(VS_DBROOT_FALLBACK, 0755);
	if (mkdir(VS_DBROOT_FALLBACK "/pr", 0755) && errno != EEXIST)
		return -errno;
	return vs_write_file(VS_TARGET_DIR "/dbroot", VS_DBROOT_FALLBACK);
}

void vs_lio_init(struct vs_lio *l)
{
	static unsigned int counter;

	memset(l, 0, sizeof(*l));
	l->id = (((unsigned int)getpid() & 0x3fffff) << 8) | (counter++ & 0xff);
}

static int vs_lio_record(struct vs_lio *l, enum vs_lio_kind kind,
			 const char *path)
{
	if (l->n >= VS_LIO_MAX)
		return -ENOSPC;
	l->obj[l->n].kind = kind;
	snprintf(l->obj[l->n].path, sizeof(l->obj[0].path), "%s", path);
	l->n++;
	return 0;
}

static int vs_lio_mkdir(struct vs_lio *l, const char *path)
{
	if (mkdir(path, 0755))
		return -errno;
	return vs_lio_record(l, VS_LIO_DIR, path);
}

static int vs_lio_backstore(struct vs_lio *l, const char *plugin,
			    const char *control, char *path)
{
	char hba[VS_PATH / 2], file[VS_PATH + 16], serial[32];
	int r;

	snprintf(hba, sizeof(hba), VS_TARGET_DIR "/core/%s_%u", plugin, l->id);
	if (mkdir(hba, 0755) == 0)
		vs_lio_record(l, VS_LIO_DIR, hba);
	else if (errno != EEXIST)
		return -errno;
	/* The "vst" prefix is what run_tests.sh sweeps after a crash. */
	snprintf(path, VS_PATH, "%s/vst%u_%u", hba, l->id, l->nbs++);
	r = vs_lio_mkdir(l, path);
	if (r)
		return r;
	snprintf(file, sizeof(file), "%s/control", path);
	r = vs_write_file(file, control);
	if (r)
		return r;
	snprintf(file, sizeof(file), "%s/enable", path);
	r = vs_write_file(file, "1");
	if (r)
		return r;
	/* LIO reports VPD pages (0x00, 0x80, 0x83...) only with a serial. */
	snprintf(file, sizeof(file), "%s/wwn/vpd_unit_serial", path);
	snprintf(serial, sizeof(serial), "%08x-%04x", l->id, l->nbs);
	return vs_write_file(file, serial);
}

int vs_lio_rd(struct vs_lio *l, unsigned int pages, bool nullio, char *path)
{
	char control[64];

	snprintf(control, sizeof(control), "rd_pages=%u%s", pages,
		 nullio ? ",rd_nullio=1" : "");
	return vs_lio_backstore(l, "rd_mcp", control, path);
}

int vs_lio_fileio(struct vs_lio *l, const char *file, uint64_t size,
		  char *path)
{
	char control[512];

	snprintf(control, sizeof(control), "fd_dev_name=%s,fd_dev_size=%llu",
		 file, (unsigned long long)size);
	return vs_lio_backstore(l, "fileio", control, path);
}

int vs_lio_wwpn(struct vs_lio *l, char *wwpn)
{
	static unsigned int counter;
	char path[VS_PATH / 2];

	snprintf(wwpn, 32, "naa.5001405e%06x%02x",
		 (unsigned int)getpid() & 0xffffff, counter++ & 0xff);
	snprintf(path, sizeof(path), VS_TARGET_DIR "/vhost/%s", wwpn);
	l->nwwpn++;
	return vs_lio_mkdir(l, path);
}

int vs_lio_tpg(struct vs_lio *l, const char *wwpn, unsigned int tpgt)
{
	char path[VS_PATH / 2];

	snprintf(path, sizeof(path), VS_TARGET_DIR "/vhost/%s/tpgt_%u", wwpn,
		 tpgt);
	return vs_lio_mkdir(l, path);
}

int vs_lio_lun(struct vs_lio *l, const char *wwpn, unsigned int tpgt,
	       unsigned int lun, const char *backstore)
{
	char dir[VS_PATH / 2], link[VS_PATH / 2 + 16];
	int r;

	snprintf(dir, sizeof(dir), VS_TARGET_DIR "/vhost/%s/tpgt_%u/lun/lun_%u",
		 wwpn, tpgt, lun);
	r = vs_lio_mkdir(l, dir);
	if (r)
		return r;
	snprintf(link, sizeof(link), "%s/vst_port", dir);
	if (symlink(backstore, link))
		return -errno;
	return vs_lio_record(l, VS_LIO_LINK, link);
}

static void vs_lio_forget(struct vs_lio *l, const char *path)
{
	unsigned int i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->obj[i].path, path))
			l->obj[i].path[0] = 0;
}

int vs_lio_unlun(struct vs_lio *l, const char *wwpn, unsigned int tpgt,
		 unsigned int lun)
{
	char dir[VS_PATH / 2], link[VS_PATH / 2 + 16];

	snprintf(dir, sizeof(dir), VS_TARGET_DIR "/vhost/%s/tpgt_%u/lun/lun_%u",
		 wwpn, tpgt, lun);
	snprintf(link, sizeof(link), "%s/vst_port", dir);
	if (unlink(link))
		return -errno;
	vs_lio_forget(l, link);
	if (rmdir(dir))
		return -errno;
	vs_lio_forget(l, dir);
	return 0;
}

int vs_lio_nexus(struct vs_lio *l, const char *wwpn, unsigned int tpgt,
		 const char *initiator)
{
	static unsigned int counter;
	char path[VS_PATH / 2], name[64];
	int r;

	if (!initiator) {
		snprintf(name, sizeof(name), "naa.5001405f%06x%02x",
			 (unsigned int)getpid() & 0xffffff, counter++ & 0xff);
		initiator = name;
	}
	snprintf(path, sizeof(path), VS_TARGET_DIR "/vhost/%s/tpgt_%u/nexus",
		 wwpn, tpgt);
	r = vs_write_file(path, initiator);
	if (r)
		return r;
	return vs_lio_record(l, VS_LIO_NEXUS, path);
}

static int vs_lio_undo(const char *path, enum vs_lio_kind kind)
{
	int tries, r = 0;

	for (tries = 0; tries < 20; tries++) {
		switch (kind) {
		case VS_LIO_LINK:
			r = unlink(path) ? -errno : 0;
			break;
		case VS_LIO_NEXUS:
			r = vs_write_file(path, "NULL");
			break;
		case VS_LIO_DIR:
			r = rmdir(path) ? -errno : 0;
			break;
		}
		if (r == -ENOENT || r == -ENODEV)
			return 0;
		/* LIO may still hold a reference for a moment. */
		if (r != -EBUSY)
			return r;
		vs_sleep_ms(50);
	}
	return r;
}

int vs_lio_destroy(struct vs_lio *l)
{
	int i, r, first = 0;

	/* Ports first: a nexus cannot go while LUNs are linked. */
	for (i = (int)l->n - 1; i >= 0; i--) {
		if (!l->obj[i].path[0] || l->obj[i].kind != VS_LIO_LINK)
			continue;
		r = vs_lio_undo(l->obj[i].path, l->obj[i].kind);
		if (r && !first)
			first = r;
		l->obj[i].path[0] = 0;
	}
	for (i = (int)l->n - 1; i >= 0; i--) {
		if (!l->obj[i].path[0])
			continue;
		r = vs_lio_undo(l->obj[i].path, l->obj[i].kind);
		if (r && !first) {
			first = r;
			fprintf(stderr, "# teardown of %s: %s\n",
				l->obj[i].path, strerror(-r));
		}
		l->obj[i].path[0] = 0;
	}
	l->n = 0;
	return first;
}

int vs_lio_simple(struct vs_lio *l, const char *bs, char *wwpn)
{
	int r;

	r = vs_lio_wwpn(l, wwpn);
	if (!r)
		r = vs_lio_tpg(l, wwpn, 1);
	if (!r)
		r = vs_lio_nexus(l, wwpn, 1, NULL);
	if (!r)
		r = vs_lio_lun(l, wwpn, 1, 0, bs);
	return r;
}

int vs_target_start(struct vs_target *t, unsigned int pages,
		    const struct vs_opts *o)
{
	int r;

	vs_lio_init(&t->lio);
	r = vs_lio_rd(&t->lio, pages, false, t->bs);
	if (!r)
		r = vs_lio_simple(&t->lio, t->bs, t->wwpn);
	if (!r)
		r = vs_dev_start(&t->d, o, t->wwpn);
	if (!r)
		r = vs_clear_ua(&t->d, 0, 1, 0);
	return r;
}

int vs_target_stop(struct vs_target *t)
{
	vs_dev_close(&t->d);
	return vs_lio_destroy(&t->lio);
}
