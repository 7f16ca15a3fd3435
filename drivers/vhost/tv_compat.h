/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tcm_vhost: every difference between the kernels we build for
 * (6.1 .. 7.x) lives here, so the rest of the code reads as one kernel.
 *
 * The TV_HAVE_* switches come from feature tests that Kbuild runs on
 * the target kernel's headers (see Kbuild), not from version numbers.
 */
#ifndef TV_COMPAT_H
#define TV_COMPAT_H

#include <linux/eventfd.h>

/* ---- vhost core ---- */

/* 6.8 dropped the counter argument of eventfd_signal(). */
#ifdef TV_HAVE_EVENTFD_SIGNAL_NO_COUNT
#define tv_eventfd_signal(ctx)	eventfd_signal(ctx)
#else
#define tv_eventfd_signal(ctx)	eventfd_signal(ctx, 1)
#endif

/*
 * Newer kernels want a bound workqueue to say so (WQ_PERCPU, and warn
 * when neither it nor WQ_UNBOUND is given); older ones have no flag.
 */
#ifdef TV_HAVE_WQ_PERCPU
#define TV_WQ_PERCPU	WQ_PERCPU
#else
#define TV_WQ_PERCPU	0
#endif

/* ---- end of vhost core ---- */

/* ---- LIO fabric ---- */

/*
 * Up to 6.3, target_register_template() refuses a template that lacks
 * the trivial callbacks (write-protect checks, instance and session
 * index, default node attributes, command state); later kernels fill in
 * identical defaults. We set them wherever the members exist.
 */
#ifdef TV_HAVE_FABRIC_INDEX_OPS
#define TV_FABRIC_NEEDS_TRIVIAL_OPS	1
#else
#define TV_FABRIC_NEEDS_TRIVIAL_OPS	0
#endif

/*
 * 6.7 added default_submit_type / direct_submit_supp, and from then on
 * target_submit() itself queues to LIO's submission workqueue unless the
 * fabric's default (or the device's submit_type attribute) says direct.
 */
#ifdef TV_HAVE_FABRIC_SUBMIT_TYPE
#define TV_FABRIC_HAS_SUBMIT_TYPE	1
#else
#define TV_FABRIC_HAS_SUBMIT_TYPE	0
#endif

/* 7.x added default_compl_type / direct_compl_supp. */
#ifdef TV_HAVE_FABRIC_COMPL_TYPE
#define TV_FABRIC_HAS_COMPL_TYPE	1
#else
#define TV_FABRIC_HAS_COMPL_TYPE	0
#endif

/*
 * LIO's submission workqueue: target_queue_submission() until 6.6; from
 * 6.7 target_submit() itself queues unless the fabric's submit type
 * (TARGET_DIRECT_SUBMIT, ours) or the device's says direct.
 */
#ifdef TV_HAVE_QUEUE_SUBMISSION
#define tv_target_queue_submission(se_cmd)	target_queue_submission(se_cmd)
#else
#define tv_target_queue_submission(se_cmd)	target_submit(se_cmd)
#endif

/* ---- end of LIO fabric ---- */

#endif /* TV_COMPAT_H */
