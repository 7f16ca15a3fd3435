/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * tcm_vhost user ABI.
 *
 * /dev/vhost-scsi speaks the standard vhost ABI of <linux/vhost.h>
 * (the VHOST_* ioctls and the VHOST_SCSI_* endpoint ioctls, ABI version
 * VHOST_SCSI_ABI_VERSION), so QEMU's vhost-scsi-pci drives it unchanged.
 * This header adds what older kernel headers lack, with the same numbers
 * as upstream, so that tools built against any kernel's headers agree.
 */
#ifndef _UAPI_LINUX_TCM_VHOST_H
#define _UAPI_LINUX_TCM_VHOST_H

#include <linux/types.h>
#include <linux/vhost.h>

/* Per-virtqueue workers (upstream since 6.5). */
#ifndef VHOST_NEW_WORKER
struct vhost_worker_state {
	unsigned int worker_id;
};

struct vhost_vring_worker {
	unsigned int index;
	unsigned int worker_id;
};

#define VHOST_NEW_WORKER	_IOR(VHOST_VIRTIO, 0x8, struct vhost_worker_state)
#define VHOST_FREE_WORKER	_IOW(VHOST_VIRTIO, 0x9, struct vhost_worker_state)
#define VHOST_ATTACH_VRING_WORKER \
	_IOW(VHOST_VIRTIO, 0x15, struct vhost_vring_worker)
#define VHOST_GET_VRING_WORKER	\
	_IOWR(VHOST_VIRTIO, 0x16, struct vhost_vring_worker)
#endif

#endif /* _UAPI_LINUX_TCM_VHOST_H */
