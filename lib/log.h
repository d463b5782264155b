/* Structured logging: one JSON object per line on stderr with time,
 * level, component and message. Never pass secrets. */
#ifndef BW_LOG_H
#define BW_LOG_H

#include <stdarg.h>

#include "macro.h"

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* Sets the process-wide component name (static string) and the lowest
 * level written. */
void log_init(const char *component, enum log_level min);

void log_msg(enum log_level lvl, const char *fmt, ...) _printf_(2, 3);

#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...)	log_msg(LOG_LVL_ERROR, __VA_ARGS__)

/* Logs at error level and exits 1. For broken invariants only. */
_noreturn_ void fatal(const char *fmt, ...) _printf_(1, 2);

#endif
