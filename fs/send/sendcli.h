/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sendcli.h - the `send` and `retry` subcommands of ftrackfs (private to fs/).
 */
#ifndef FTRACKFS_FS_SENDCLI_H
#define FTRACKFS_FS_SENDCLI_H

/*
 * sendcli_main() - run `ftrackfs send PATH... --to L` or `ftrackfs retry
 * [PATH...]` (through the mount's xattrs). Returns the exit status, or -1
 * when argv[1] is not one of these commands.
 */
int sendcli_main(int argc, char **argv);

#endif /* FTRACKFS_FS_SENDCLI_H */
