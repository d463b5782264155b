#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ids.h"
#include "log.h"

static const char	*log_component = "bulwark";
static enum log_level	 log_min = LOG_LVL_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
log_init(const char *component, enum log_level min)
{
	log_component = component;
	log_min = min;
}

static void
log_vemit(enum log_level lvl, const char *fmt, va_list ap)
{
	char		 msg[2048], ts[64];
	struct timespec	 now;
	json_t		*o;
	char		*line;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &now);
	bw_time_rfc3339_ms(ts, sizeof(ts), &now);
	/* Messages can carry caller bytes; jansson escapes them, and a
	 * message that is not UTF-8 is logged as such, not dropped. */
	o = json_pack("{s:s, s:s, s:s, s:s?}", "time", ts,
	    "level", level_names[lvl], "component", log_component,
	    "msg", msg);
	if (!o || !json_object_get(o, "msg")) {
		json_decref(o);
		o = json_pack("{s:s, s:s, s:s, s:s}", "time", ts,
		    "level", level_names[lvl], "component", log_component,
		    "msg", "(message not valid UTF-8)");
	}
	if (!o)
		return;
	line = json_dumps(o, JSON_COMPACT);
	if (line) {
		fprintf(stderr, "%s\n", line);
		free(line);
	}
	json_decref(o);
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	log_vemit(lvl, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
