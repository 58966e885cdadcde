/* SPDX-License-Identifier: Apache-2.0 */
/*
 * node.c - small helpers over cache entries shared by the FUSE handlers,
 * the sync worker and the send glue. No FUSE, no network: built into the
 * unit-test library too, so tests run the product's code, not a copy.
 */
#include <string.h>
#include <time.h>

#include "fs.h"

int64_t fs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void fs_blob_get(const struct cache_entry *e, struct fs_blob *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (e->blob_len >= sizeof(*ret)) {
		memcpy(ret, e->blob, sizeof(*ret));
		if (ret->version != FS_BLOB_VERSION)
			memset(ret, 0, sizeof(*ret));
	}
	/* the node type is also in attr.flags: survives an older blob layout */
	if (!ret->node)
		ret->node = (uint8_t)e->attr.flags;
}
