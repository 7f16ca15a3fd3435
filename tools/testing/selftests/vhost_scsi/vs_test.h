/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Glue between vs_lib and kselftest_harness.h, shared by the *_test.c
 * files.  Include after kselftest_harness.h.
 */
#ifndef VS_TEST_H
#define VS_TEST_H

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "vs_lib.h"

/*
 * Skip from FIXTURE_SETUP.  The 6.1 harness runs the test body after a
 * SKIP(return) in setup, so leave the test child the way the harness itself
 * reports a skip (exit status 255) before anything needs tearing down.
 */
#define VS_SKIP_SETUP(fmt, ...) SKIP(_exit(255), fmt, ##__VA_ARGS__)

/* Skip unless /dev/vhost-scsi and the LIO vhost fabric are usable. */
#define VS_REQUIRE_TARGET() do {					\
	const char *__why = vs_skip_reason();				\
	if (__why)							\
		VS_SKIP_SETUP("%s", __why);				\
} while (0)

/*
 * A setup step that may leave half-built state behind: undo it with
 * @cleanup before failing, since the harness skips teardown when setup
 * fails.
 */
#define VS_SETUP(expr, cleanup) do {					\
	int __r = (expr);						\
	if (__r) {							\
		TH_LOG("%s: %s", #expr, strerror(__r < 0 ? -__r : __r));\
		cleanup;						\
		ASSERT_EQ(0, __r);					\
	}								\
} while (0)

/*
 * Assert a correct behaviour that a given module is known to get wrong.
 * On that module a failure is reported as a skip naming the shortcoming
 * (an expected failure); everywhere else it fails the test.
 */
#define VS_KNOWN_BROKEN(cond, module, why) do {				\
	bool __ok = (cond);						\
	if (!__ok && vs_module_is(module))				\
		SKIP(return, "expected failure: in-tree %s %s",		\
		     module, why);					\
	ASSERT_TRUE(__ok) TH_LOG("%s", why);				\
} while (0)

/* errno of an ioctl that must fail. */
static inline int vs_ioctl_errno(int fd, unsigned long req, void *arg)
{
	errno = 0;
	return ioctl(fd, req, arg) ? errno : 0;
}

#endif /* VS_TEST_H */
