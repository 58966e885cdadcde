/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sendcli.c - `ftrackfs send PATH... --to L` and `ftrackfs retry [PATH...]`.
 *
 * No private channel: the commands set extended attributes on paths inside
 * the mount (user.ftrack.send = L, user.ftrack.retry), so they take the
 * same code path as everything else and work for any user of the mount.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

#include "sendcli.h"

static const char *why(int err, const char *loc)
{
	switch (err) {
	case ENXIO: return "that location maps to no accsyn party";
	case ENOENT: return loc ? "no such path, or no such location" : "no such path";
	case ENOTSUP: return "not inside an ftrackfs mount (or mounted with noxattr)";
	case EINVAL: return "not something that can be sent";
	default: return strerror(err);
	}
}

static int cmd_send(int argc, char **argv)
{
	const char *to = NULL;
	int n_paths = 0, rc = 0;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--to") && i + 1 < argc)
			to = argv[++i];
		else if (!strncmp(argv[i], "--to=", 5))
			to = argv[i] + 5;
		else
			n_paths++;
	}
	if (!to || !*to || !n_paths) {
		fprintf(stderr, "usage: ftrackfs send PATH... --to LOCATION\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--to")) {
			i++;
			continue;
		}
		if (!strncmp(argv[i], "--to=", 5))
			continue;
		if (setxattr(argv[i], "user.ftrack.send", to, strlen(to), 0) < 0) {
			int e = errno;

			fprintf(stderr, "ftrackfs send: %s -> %s: %s\n", argv[i], to, why(e, to));
			rc = 1;
		} else {
			printf("queued: %s -> %s\n", argv[i], to);
		}
	}
	return rc;
}

static int cmd_retry(int argc, char **argv)
{
	int rc = 0;

	if (argc < 3) {
		if (setxattr(".", "user.ftrack.retry", "1", 1, 0) < 0) {
			fprintf(stderr, "ftrackfs retry: %s\n", why(errno, NULL));
			return 1;
		}
		return 0;
	}
	for (int i = 2; i < argc; i++)
		if (setxattr(argv[i], "user.ftrack.retry", "1", 1, 0) < 0) {
			fprintf(stderr, "ftrackfs retry: %s: %s\n", argv[i], why(errno, NULL));
			rc = 1;
		}
	return rc;
}

int sendcli_main(int argc, char **argv)
{
	if (argc < 2)
		return -1;
	if (!strcmp(argv[1], "send"))
		return cmd_send(argc, argv);
	if (!strcmp(argv[1], "retry"))
		return cmd_retry(argc, argv);
	return -1;
}
