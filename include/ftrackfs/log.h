/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - the one log of the daemon and its libraries.
 *
 * Lines go to stderr (or to a sink set with log_set_sink()) as
 * "<ISO time> <level> <module>: <message>". Callers log once, at the layer
 * that decides what an error means. Never pass a secret (API key, session
 * key, Authorization header) to these functions: nothing is redacted here.
 *
 * All functions are safe from any thread.
 */
#ifndef FTRACKFS_LOG_H
#define FTRACKFS_LOG_H

#include <stdarg.h>

#include "ftrackfs/util.h"

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/*
 * log_sink_fn - receives each formatted line (no trailing newline) that
 * passes the level filter. @line is borrowed for the duration of the call.
 */
typedef void (*log_sink_fn)(enum log_level level, const char *module,
			    const char *line, void *userdata);

/* Lines above @level are dropped. Default LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/*
 * log_level_from_string() - parse "error", "warn", "info" or "debug".
 * Returns 0 and sets *ret_level, or -EINVAL.
 */
int log_level_from_string(const char *s, enum log_level *ret_level);

/*
 * log_set_sink() - send lines to @fn instead of stderr; NULL restores stderr.
 * The sink is called with an internal lock held: it must not log.
 */
void log_set_sink(log_sink_fn fn, void *userdata);

void log_emit(enum log_level level, const char *module, const char *fmt, ...) _printf_(3, 4);
void log_emitv(enum log_level level, const char *module, const char *fmt, va_list ap) _printf_(3, 0);

#define log_error(mod, ...) log_emit(LOG_LEVEL_ERROR, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_emit(LOG_LEVEL_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...)  log_emit(LOG_LEVEL_INFO, mod, __VA_ARGS__)
#define log_debug(mod, ...) log_emit(LOG_LEVEL_DEBUG, mod, __VA_ARGS__)

#endif /* FTRACKFS_LOG_H */
