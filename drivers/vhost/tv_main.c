// SPDX-License-Identifier: GPL-2.0
/*
 * tcm_vhost: module entry. Init brings the parts up in dependency order
 * (command slab and submission workqueue, LIO fabric, then
 * /dev/vhost-scsi so that no device can be opened before TPGs can
 * exist); exit takes them down in reverse.
 */
#include <linux/module.h>

#include "tv.h"

static int __init tv_init(void)
{
	int ret;

	ret = tv_scsi_init();
	if (ret)
		return ret;
	ret = tv_fabric_register();
	if (ret)
		goto exit_scsi;
	ret = tv_chardev_register();
	if (ret)
		goto unregister_fabric;
	return 0;

unregister_fabric:
	tv_fabric_unregister();
exit_scsi:
	tv_scsi_exit();
	return ret;
}

static void __exit tv_exit(void)
{
	tv_chardev_unregister();
	tv_fabric_unregister();
	tv_scsi_exit();
}

module_init(tv_init);
module_exit(tv_exit);

MODULE_DESCRIPTION("tcm_vhost: in-kernel virtio-scsi target for LIO");
MODULE_LICENSE("GPL");
