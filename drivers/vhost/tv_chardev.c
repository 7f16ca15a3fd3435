// SPDX-License-Identifier: GPL-2.0
/*
 * tcm_vhost: /dev/vhost-scsi, and the virtio-scsi endpoint ioctls that
 * bind a device to the TPGs of one WWPN.
 *
 * SET_ENDPOINT binds every TPG of the WWPN that has a nexus (each TPG
 * tag is a target the guest addresses), pins each in configfs with
 * target_depend_item(), and starts every ready queue. CLEAR_ENDPOINT
 * (and close, and RESET_OWNER) stops the queues, waits until every
 * command and TMF handed to LIO is answered and freed, then unbinds.
 *
 * Locking: tv_tpg_list_lock, then the device mutex, then tpg->lock,
 * then vq mutexes (see tv.h).
 */
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <target/target_core_base.h>
#include <target/target_core_fabric.h>

#include "tv.h"

static void tv_endpoint_unbind(struct tv_tpg **tpgs)
{
	struct tv_tpg *tpg;
	unsigned int i;

	for (i = 0; i < TV_MAX_TARGETS; i++) {
		tpg = tpgs[i];
		if (!tpg)
			continue;
		mutex_lock(&tpg->lock);
		tpg->dev = NULL;
		mutex_unlock(&tpg->lock);
		target_undepend_item(&tpg->se_tpg.tpg_group.cg_item);
	}
	kfree(tpgs);
}

/* Stop every queue; with @tpgs, start the ready ones on it instead. */
static int tv_endpoint_switch(struct tv_dev *dev, struct tv_tpg **tpgs)
{
	struct tv_vq *vq;
	unsigned int i;
	int ret = 0;

	for (i = 0; i < TV_MAX_VQS; i++) {
		vq = &dev->vqs[i];
		mutex_lock(&vq->mutex);
		if (!tpgs || tv_vq_ready(vq))
			ret = tv_vq_set_backend(vq, tpgs);
		mutex_unlock(&vq->mutex);
		if (ret)
			break;
	}
	return ret;
}

static int tv_endpoint_clear(struct tv_dev *dev)
{
	lockdep_assert_held(&tv_tpg_list_lock);
	lockdep_assert_held(&dev->mutex);
	if (!dev->tpgs)
		return 0;
	tv_endpoint_switch(dev, NULL);
	/* Kick handlers that were running have now stopped submitting. */
	tv_dev_flush(dev);
	wait_event(dev->inflight_wq, !atomic_read(&dev->inflight));
	tv_dev_flush(dev);
	tv_evt_drain(dev);
	tv_endpoint_unbind(dev->tpgs);
	dev->tpgs = NULL;
	dev->wwpn[0] = '\0';
	return 0;
}

static int tv_endpoint_set(struct tv_dev *dev, const struct vhost_scsi_target *t)
{
	struct tv_tpg **tpgs, *tpg;
	bool found = false;
	int ret;

	lockdep_assert_held(&tv_tpg_list_lock);
	lockdep_assert_held(&dev->mutex);
	if (dev->tpgs)
		return -EEXIST;
	if (t->reserved)
		return -EOPNOTSUPP;
	tpgs = kcalloc(TV_MAX_TARGETS, sizeof(*tpgs), GFP_KERNEL);
	if (!tpgs)
		return -ENOMEM;
	list_for_each_entry(tpg, &tv_tpg_list, node) {
		if (strcmp(tpg->tport->name, t->vhost_wwpn))
			continue;
		mutex_lock(&tpg->lock);
		if (tpg->dev) {
			mutex_unlock(&tpg->lock);
			ret = -EBUSY;	/* another device serves this TPG */
			goto unbind;
		}
		if (!tpg->se_sess) {
			mutex_unlock(&tpg->lock);
			continue;
		}
		ret = target_depend_item(&tpg->se_tpg.tpg_group.cg_item);
		if (ret) {
			mutex_unlock(&tpg->lock);
			goto unbind;
		}
		tpg->dev = dev;
		tpgs[tpg->tpgt] = tpg;
		found = true;
		mutex_unlock(&tpg->lock);
	}
	if (!found) {
		ret = -ENODEV;
		goto unbind;
	}
	ret = tv_endpoint_switch(dev, tpgs);
	if (ret)
		goto stop_queues;
	dev->tpgs = tpgs;
	strscpy(dev->wwpn, t->vhost_wwpn, sizeof(dev->wwpn));
	return 0;

stop_queues:
	tv_endpoint_switch(dev, NULL);
	tv_dev_flush(dev);
	wait_event(dev->inflight_wq, !atomic_read(&dev->inflight));
unbind:
	tv_endpoint_unbind(tpgs);
	return ret;
}

static long tv_endpoint_ioctl(struct tv_dev *dev, unsigned int cmd,
			      void __user *argp)
{
	struct vhost_scsi_target t;
	long ret;

	if (cmd != VHOST_RESET_OWNER) {
		if (copy_from_user(&t, argp, sizeof(t)))
			return -EFAULT;
		t.vhost_wwpn[sizeof(t.vhost_wwpn) - 1] = '\0';
	}
	mutex_lock(&tv_tpg_list_lock);
	mutex_lock(&dev->mutex);
	if (!tv_dev_owned(dev)) {
		ret = -EPERM;
	} else if (cmd == VHOST_SCSI_SET_ENDPOINT) {
		ret = tv_endpoint_set(dev, &t);
	} else if (cmd == VHOST_SCSI_CLEAR_ENDPOINT) {
		ret = -EINVAL;
		if (!dev->tpgs || !strcmp(dev->wwpn, t.vhost_wwpn))
			ret = tv_endpoint_clear(dev);
	} else {
		ret = tv_endpoint_clear(dev);
		tv_dev_cleanup(dev);
	}
	mutex_unlock(&dev->mutex);
	mutex_unlock(&tv_tpg_list_lock);
	return ret;
}

static long tv_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct tv_dev *dev = f->private_data;
	void __user *argp = (void __user *)arg;
	u32 missed;
	long ret;

	switch (cmd) {
	case VHOST_SCSI_GET_ABI_VERSION:
		return put_user(VHOST_SCSI_ABI_VERSION, (int __user *)argp);
	case VHOST_SCSI_SET_ENDPOINT:
	case VHOST_SCSI_CLEAR_ENDPOINT:
	case VHOST_RESET_OWNER:
		return tv_endpoint_ioctl(dev, cmd, argp);
	case VHOST_SCSI_SET_EVENTS_MISSED:
		if (get_user(missed, (u32 __user *)argp))
			return -EFAULT;
		spin_lock(&dev->evt_lock);
		dev->events_missed = missed;
		spin_unlock(&dev->evt_lock);
		if (missed)
			tv_vq_kick(&dev->vqs[TV_VQ_EVT]);
		return 0;
	case VHOST_SCSI_GET_EVENTS_MISSED:
		spin_lock(&dev->evt_lock);
		missed = dev->events_missed;
		spin_unlock(&dev->evt_lock);
		return put_user(missed, (u32 __user *)argp);
	}

	mutex_lock(&dev->mutex);
	ret = tv_dev_ioctl(dev, cmd, argp);
	if (ret == -ENOIOCTLCMD)
		ret = tv_vring_ioctl(dev, cmd, argp);
	mutex_unlock(&dev->mutex);
	return ret;
}

static int tv_open(struct inode *inode, struct file *f)
{
	struct tv_dev *dev;

	dev = kvzalloc(sizeof(*dev), GFP_KERNEL_ACCOUNT);
	if (!dev)
		return -ENOMEM;
	tv_dev_init(dev);
	f->private_data = dev;
	return 0;
}

static int tv_release(struct inode *inode, struct file *f)
{
	struct tv_dev *dev = f->private_data;

	mutex_lock(&tv_tpg_list_lock);
	mutex_lock(&dev->mutex);
	tv_endpoint_clear(dev);
	tv_dev_cleanup(dev);
	mutex_unlock(&dev->mutex);
	mutex_unlock(&tv_tpg_list_lock);
	kvfree(dev);
	return 0;
}

static const struct file_operations tv_fops = {
	.owner		= THIS_MODULE,
	.open		= tv_open,
	.release	= tv_release,
	.unlocked_ioctl	= tv_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice tv_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "vhost-scsi",
	.fops	= &tv_fops,
};

/**
 * tv_chardev_register() - create /dev/vhost-scsi
 *
 * Return: 0 or a negative errno.
 */
int tv_chardev_register(void)
{
	return misc_register(&tv_misc);
}

/** tv_chardev_unregister() - remove /dev/vhost-scsi */
void tv_chardev_unregister(void)
{
	misc_deregister(&tv_misc);
}
