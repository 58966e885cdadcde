/* SPDX-License-Identifier: Apache-2.0 */
/*
 * names.h - turning ftrack names into directory entry names (private to fs/).
 *
 * Names keep their case and characters (accents, quotes, spaces). Only what
 * cannot be a Linux name is replaced:
 *   '/'   -> U+2215 DIVISION SLASH "∕" (looks like a slash, is not one)
 *   NUL   -> dropped
 *   ""    -> "_",  "." -> "_",  ".." -> "__"
 * and names longer than NAME_MAX bytes are cut at a UTF-8 boundary.
 * Two entries of one directory that end up with the same name are told apart
 * by names_disambiguate(): never dropped.
 *
 * All functions are pure (no I/O, no global state) and thread-safe.
 */
#ifndef FTRACKFS_FS_NAMES_H
#define FTRACKFS_FS_NAMES_H

#include <limits.h>
#include <stddef.h>
#include <stdbool.h>

#define NAMES_MAX NAME_MAX		/* bytes, without the NUL */
#define NAMES_BUF (NAME_MAX + 1)

/*
 * names_sanitize() - copy @in_len bytes of @in into @out (NAMES_BUF bytes)
 * as a valid entry name. Always succeeds; returns the length written.
 */
size_t names_sanitize(const char *in, size_t in_len, char out[NAMES_BUF]);

/* names_version() - "v%03d" ("v000", "v003", "v1234"); negative -> "v-001". */
size_t names_version(long version, char out[NAMES_BUF]);

/*
 * names_component_file() - "<name><file_type>", sanitised. A file_type
 * without a leading '.' gets one; NULL or "" adds nothing.
 */
size_t names_component_file(const char *name, const char *file_type, char out[NAMES_BUF]);

/*
 * names_sequence_member() - StandardStructure's member name:
 * "<container>.<member><file_type>", where a numeric @member (a frame
 * number) is zero-padded to @padding digits: ("plate", "1001", 4, ".exr")
 * -> "plate.1001.exr", ("plate", "7", 4, ".exr") -> "plate.0007.exr".
 */
size_t names_sequence_member(const char *container, const char *member, int padding,
			     const char *file_type, char out[NAMES_BUF]);

struct names_entry {
	char name[NAMES_BUF];	/* in: sanitised name; out: unique name */
	const char *id;		/* ftrack id (borrowed), used for the suffix */
	bool keep_ext;		/* put the suffix before a short ".ext" */
};

/*
 * names_disambiguate() - make the names of @n entries of one directory
 * unique, deterministically (the result does not depend on the order of @e):
 * in each group of equal names the entry with the smallest id keeps the
 * name, the others become "name~<first 8 hex digits of the id>" (before the
 * extension when keep_ext, e.g. "main~1a2b3c4d.exr"), growing to the whole
 * id, then a counter, if that is still taken. Returns 0 or -ENOMEM.
 */
int names_disambiguate(struct names_entry *e, size_t n);

/* names_is_probe() - true for names file managers probe for and that never
 * exist here (".hidden", ".Trash", ".Trash-1000", "desktop.ini", ...). */
bool names_is_probe(const char *name);

#endif /* FTRACKFS_FS_NAMES_H */
