/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: an accsyn reply -> error decision, jobs and tasks. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "accsyn_i.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_all(const cJSON *v)
{
	struct accsyn_job j;
	struct accsyn_task t;

	if (accsyn_decode_job(v, &j) == 0)
		accsyn_job_release(&j);
	if (accsyn_decode_task(v, &t) == 0)
		accsyn_task_release(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *root = NULL;
	const cJSON *res, *it;
	bool expired;
	char err[256];

	if (accsyn_decode_reply((const char *)data, size, size % 2 ? 200 : 401, &root, &res, &expired,
				err, sizeof(err)) < 0)
		return 0;
	if (cJSON_IsArray(res)) {
		cJSON_ArrayForEach(it, res)
			decode_all(it);
	} else {
		decode_all(res);
	}
	cJSON_Delete(root);
	return 0;
}
