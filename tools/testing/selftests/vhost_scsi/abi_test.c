// SPDX-License-Identifier: GPL-2.0
/*
 * The /dev/vhost-scsi ioctl ABI on its own: versions, feature negotiation,
 * ownership, and argument checking of the memory table and vring ioctls.
 * No LIO target is needed.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vs_test.h"

FIXTURE(abi) {
	struct vs_dev d;
	uint64_t offered;
};

FIXTURE_SETUP(abi)
{
	struct vs_opts o;

	if (geteuid())
		VS_SKIP_SETUP("needs root");
	if (access(VS_DEV_PATH, R_OK | W_OK))
		VS_SKIP_SETUP("no %s (module not loaded?)", VS_DEV_PATH);
	vs_opts_init(&o);
	ASSERT_EQ(0, vs_mem_init(&self->d, &o));
	self->d.fd = open(VS_DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->d.fd);
	/* Offered features need no owner: QEMU may ask before claiming. */
	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_GET_FEATURES, &self->offered));
}

FIXTURE_TEARDOWN(abi)
{
	vs_dev_close(&self->d);
}

static int set_num(int fd, unsigned int index, unsigned int num)
{
	struct vhost_vring_state s = { .index = index, .num = num };

	return vs_ioctl_errno(fd, VHOST_SET_VRING_NUM, &s);
}

TEST_F(abi, abi_version)
{
	int v = -1;

	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SCSI_GET_ABI_VERSION, &v));
	ASSERT_EQ(VHOST_SCSI_ABI_VERSION, v);
}

TEST_F(abi, features_offered)
{
	/* What QEMU's vhost-scsi asks for and a guest relies on. */
	const uint64_t want = (1ULL << VIRTIO_F_VERSION_1) |
			      (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
			      (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			      (1ULL << VHOST_F_LOG_ALL) |
			      (1ULL << VIRTIO_SCSI_F_HOTPLUG);

	EXPECT_EQ(0ULL, want & ~(unsigned long long)self->offered)
		TH_LOG("features %#llx lack %#llx",
		       (unsigned long long)self->offered,
		       (unsigned long long)(want & ~self->offered));
	/* No packed ring in vhost-scsi: offering it would be a lie. */
	EXPECT_FALSE(!!(self->offered & (1ULL << VIRTIO_F_RING_PACKED)));
}

TEST_F(abi, set_features_offered)
{
	uint64_t f = self->offered & VS_F_DEFAULT;

	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SET_OWNER));
	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SET_FEATURES, &f));
	/* Renegotiating a smaller set is what a guest reset does. */
	f = 0;
	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SET_FEATURES, &f));
}

TEST_F(abi, set_features_unknown_bit)
{
	uint64_t f;
	int bit;

	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SET_OWNER));
	for (bit = 63; bit >= 0; bit--)
		if (!(self->offered & (1ULL << bit)))
			break;
	ASSERT_LE(0, bit);
	f = (self->offered & VS_F_DEFAULT) | (1ULL << bit);
	ASSERT_EQ(EOPNOTSUPP, vs_ioctl_errno(self->d.fd, VHOST_SET_FEATURES,
					     &f));
	f = 1ULL << VIRTIO_F_RING_PACKED;
	ASSERT_EQ(EOPNOTSUPP, vs_ioctl_errno(self->d.fd, VHOST_SET_FEATURES,
					     &f));
}

TEST_F(abi, ioctls_need_owner)
{
	struct vhost_vring_state s = { .index = VS_VQ_REQ, .num = 0 };
	struct vhost_vring_addr a = { .index = VS_VQ_REQ };
	struct vhost_vring_file f = { .index = VS_VQ_REQ, .fd = -1 };
	struct vhost_memory *m = vs_mem_table(&self->d);
	int fd = self->d.fd;

	ASSERT_NE(NULL, m);
	EXPECT_EQ(EPERM, vs_ioctl_errno(fd, VHOST_SET_MEM_TABLE, m));
	free(m);
	EXPECT_EQ(EPERM, set_num(fd, VS_VQ_REQ, 128));
	EXPECT_EQ(EPERM, vs_ioctl_errno(fd, VHOST_SET_VRING_BASE, &s));
	EXPECT_EQ(EPERM, vs_ioctl_errno(fd, VHOST_GET_VRING_BASE, &s));
	EXPECT_EQ(EPERM, vs_ioctl_errno(fd, VHOST_SET_VRING_ADDR, &a));
	EXPECT_EQ(EPERM, vs_ioctl_errno(fd, VHOST_SET_VRING_KICK, &f));
	EXPECT_EQ(EPERM, vs_ioctl_errno(fd, VHOST_SET_VRING_CALL, &f));
}

TEST_F(abi, owner_twice)
{
	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SET_OWNER));
	ASSERT_EQ(EBUSY, vs_ioctl_errno(self->d.fd, VHOST_SET_OWNER, NULL));
}

/* A process that inherited the fd is not its owner and cannot claim it. */
TEST_F(abi, owner_other_process)
{
	int status;
	pid_t pid;

	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SET_OWNER));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd = self->d.fd;

		if (set_num(fd, VS_VQ_REQ, 128) != EPERM)
			_exit(1);
		if (vs_ioctl_errno(fd, VHOST_SET_OWNER, NULL) != EBUSY)
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/* ...and the owner still can. */
	ASSERT_EQ(0, set_num(self->d.fd, VS_VQ_REQ, 128));
}

TEST_F(abi, vring_bad_index)
{
	int e;

	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SET_OWNER));
	e = set_num(self->d.fd, 0xffff, 128);
	ASSERT_TRUE(e == ENOBUFS || e == EINVAL) TH_LOG("errno %d", e);
	e = set_num(self->d.fd, 0xffffffffu, 128);
	ASSERT_TRUE(e == ENOBUFS || e == EINVAL) TH_LOG("errno %d", e);
}

TEST_F(abi, vring_num_invalid)
{
	int fd = self->d.fd;

	ASSERT_EQ(0, ioctl(fd, VHOST_SET_OWNER));
	EXPECT_EQ(EINVAL, set_num(fd, VS_VQ_REQ, 0));
	EXPECT_EQ(EINVAL, set_num(fd, VS_VQ_REQ, 3));
	EXPECT_EQ(EINVAL, set_num(fd, VS_VQ_REQ, 100));
	EXPECT_EQ(EINVAL, set_num(fd, VS_VQ_REQ, 0x10000));
	EXPECT_EQ(EINVAL, set_num(fd, VS_VQ_REQ, 0x80000000u));
	EXPECT_EQ(0, set_num(fd, VS_VQ_REQ, 256));
	EXPECT_EQ(0, set_num(fd, VS_VQ_REQ, 1));
}

TEST_F(abi, vring_addr_invalid)
{
	struct vhost_vring_addr a = { .index = VS_VQ_REQ };
	int fd = self->d.fd;

	ASSERT_EQ(0, ioctl(fd, VHOST_SET_OWNER));
	/* The order a VMM uses: size first, then addresses. */
	ASSERT_EQ(0, set_num(fd, VS_VQ_REQ, 128));
	a.desc_user_addr = (uintptr_t)self->d.reg[0].hva;
	a.avail_user_addr = a.desc_user_addr + 4096;
	a.used_user_addr = a.desc_user_addr + 8192;
	ASSERT_EQ(0, ioctl(fd, VHOST_SET_VRING_ADDR, &a));
	/* The used ring must be 4-byte aligned, avail 2-byte aligned. */
	a.used_user_addr += 2;
	EXPECT_EQ(EINVAL, vs_ioctl_errno(fd, VHOST_SET_VRING_ADDR, &a));
	a.used_user_addr -= 2;
	a.avail_user_addr += 1;
	EXPECT_EQ(EINVAL, vs_ioctl_errno(fd, VHOST_SET_VRING_ADDR, &a));
	a.avail_user_addr -= 1;
	a.flags = 1u << 5;
	EXPECT_EQ(EOPNOTSUPP, vs_ioctl_errno(fd, VHOST_SET_VRING_ADDR, &a));
}

TEST_F(abi, vring_base_roundtrip)
{
	struct vhost_vring_state s = { .index = VS_VQ_REQ, .num = 77 };
	int fd = self->d.fd;

	ASSERT_EQ(0, ioctl(fd, VHOST_SET_OWNER));
	ASSERT_EQ(0, set_num(fd, VS_VQ_REQ, 128));
	ASSERT_EQ(0, ioctl(fd, VHOST_SET_VRING_BASE, &s));
	s.num = 0;
	ASSERT_EQ(0, ioctl(fd, VHOST_GET_VRING_BASE, &s));
	ASSERT_EQ((unsigned int)VS_VQ_REQ, s.index);
	ASSERT_EQ(77U, s.num);
	s.num = 0x10000;
	ASSERT_EQ(EINVAL, vs_ioctl_errno(fd, VHOST_SET_VRING_BASE, &s));
}

TEST_F(abi, mem_table_invalid)
{
	struct vhost_memory *m = vs_mem_table(&self->d);
	int fd = self->d.fd;

	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, ioctl(fd, VHOST_SET_OWNER));
	ASSERT_EQ(0, ioctl(fd, VHOST_SET_MEM_TABLE, m));

	m->padding = 1;
	EXPECT_EQ(EOPNOTSUPP, vs_ioctl_errno(fd, VHOST_SET_MEM_TABLE, m));
	m->padding = 0;

	/* Far more regions than any device allows, and than we passed. */
	m->nregions = 0x10000;
	EXPECT_EQ(E2BIG, vs_ioctl_errno(fd, VHOST_SET_MEM_TABLE, m));
	free(m);
}

TEST_F(abi, events_missed_roundtrip)
{
	uint32_t v = 1;

	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SET_OWNER));
	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SCSI_SET_EVENTS_MISSED, &v));
	v = 0;
	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SCSI_GET_EVENTS_MISSED, &v));
	ASSERT_EQ(1U, v);
	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SCSI_SET_EVENTS_MISSED, &v));
	v = 0;
	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SCSI_SET_EVENTS_MISSED, &v));
	v = 7;
	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SCSI_GET_EVENTS_MISSED, &v));
	ASSERT_EQ(0U, v);
}

TEST_F(abi, unknown_ioctl)
{
	uint32_t v = 0;

	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SET_OWNER));
	ASSERT_EQ(ENOTTY, vs_ioctl_errno(self->d.fd,
					 _IOW(VHOST_VIRTIO, 0x5f, uint32_t),
					 &v));
}

TEST_F(abi, endpoint_reserved_field)
{
	struct vhost_scsi_target t;

	memset(&t, 0, sizeof(t));
	ASSERT_EQ(0, ioctl(self->d.fd, VHOST_SET_OWNER));
	t.reserved = 1;
	snprintf(t.vhost_wwpn, sizeof(t.vhost_wwpn), "naa.5001405e00000000");
	ASSERT_EQ(EOPNOTSUPP, vs_ioctl_errno(self->d.fd,
					     VHOST_SCSI_SET_ENDPOINT, &t));
}

/* Every step a VMM takes before SET_ENDPOINT, through the library. */
TEST_F(abi, full_setup_two_fds)
{
	struct vs_dev a, b;
	struct vs_opts o;

	vs_opts_init(&o);
	o.features &= self->offered;
	o.nreq = 4;
	ASSERT_EQ(0, vs_dev_open(&a, &o));
	o.two_regions = true;
	ASSERT_EQ(0, vs_dev_open(&b, &o));
	vs_dev_close(&a);
	vs_dev_close(&b);
}

TEST_HARNESS_MAIN
