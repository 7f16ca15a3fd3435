/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tcm_vhost: every difference between the kernels we build for
 * (6.1 .. 7.x) lives here, so the rest of the code reads as one kernel.
 */
#ifndef TV_COMPAT_H
#define TV_COMPAT_H

#include <linux/version.h>
#include <linux/eventfd.h>

/* ---- vhost core ---- */

/* 6.8 dropped the counter argument of eventfd_signal(). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
#define tv_eventfd_signal(ctx)	eventfd_signal(ctx)
#else
#define tv_eventfd_signal(ctx)	eventfd_signal(ctx, 1)
#endif

/* ---- end of vhost core ---- */

/* ---- LIO fabric ---- */

/*
 * Before 6.4, target_register_template() refuses a template that lacks
 * the trivial callbacks (write-protect checks, instance and session
 * index, default node attributes, command state).  From 6.4 on, LIO
 * fills in defaults identical to ours, so we leave them out there.
 * The struct members themselves still exist in 7.x.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 4, 0)
#define TV_FABRIC_NEEDS_TRIVIAL_OPS	1
#else
#define TV_FABRIC_NEEDS_TRIVIAL_OPS	0
#endif

/*
 * 6.7 added default_submit_type / direct_submit_supp, and from then on
 * target_submit() itself queues to LIO's submission workqueue unless the
 * fabric's default (or the device's submit_type attribute) says direct.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
#define TV_FABRIC_HAS_SUBMIT_TYPE	1
#else
#define TV_FABRIC_HAS_SUBMIT_TYPE	0
#endif

/*
 * 7.x added default_compl_type / direct_compl_supp (completion from the
 * backend's context).  The exact release is not verified here: check
 * include/target/target_core_fabric.h of the 7.x headers.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 1, 0)
#define TV_FABRIC_HAS_COMPL_TYPE	1
#else
#define TV_FABRIC_HAS_COMPL_TYPE	0
#endif

/* ---- end of LIO fabric ---- */

#endif /* TV_COMPAT_H */
