/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ftrackfs/log.h"

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level log_level = LOG_LEVEL_INFO;
static log_sink_fn log_sink;
static void *log_sink_userdata;

void log_set_level(enum log_level level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

enum log_level log_get_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int log_level_from_string(const char *s, enum log_level *ret_level)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*ret_level = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_set_sink(log_sink_fn fn, void *userdata)
{
	pthread_mutex_lock(&log_lock);
	log_sink = fn;
	log_sink_userdata = userdata;
	pthread_mutex_unlock(&log_lock);
}

void log_emitv(enum log_level level, const char *module, const char *fmt, va_list ap)
{
	char msg[2048];
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	int saved_errno = errno;

	if (level > log_get_level() || (unsigned)level >= ARRAY_SIZE(level_names))
		return;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One line per entry: a server's text may carry newlines. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

	pthread_mutex_lock(&log_lock);
	if (log_sink)
		log_sink(level, module ? module : "-", msg, log_sink_userdata);
	else
		fprintf(stderr, "%s.%03ldZ %s %s: %s\n", stamp, ts.tv_nsec / 1000000,
			level_names[level], module ? module : "-", msg);
	pthread_mutex_unlock(&log_lock);
	errno = saved_errno;
}

void log_emit(enum log_level level, const char *module, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emitv(level, module, fmt, ap);
	va_end(ap);
}
