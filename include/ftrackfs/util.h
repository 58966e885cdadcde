/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util.h - small helpers shared by every module.
 *
 * Nothing here allocates or touches global state.
 */
#ifndef FTRACKFS_UTIL_H
#define FTRACKFS_UTIL_H

#include <stddef.h>

/*
 * STATIC marks functions that are private to a translation unit in the
 * product but reachable from unit tests (built with -DUNIT_TESTING), the way
 * curl tests its internals without exporting them.
 */
#ifdef UNIT_TESTING
#define STATIC
#else
#define STATIC static
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#endif /* FTRACKFS_UTIL_H */
