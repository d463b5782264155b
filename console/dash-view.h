/* Draws the dashboard: a grid of bordered panels (two columns below
 * 120 columns, three from there) between a header row and the note and
 * key rows, in plain ASCII so a vt100 on a serial line shows it. */
#ifndef BW_CONSOLE_DASH_VIEW_H
#define BW_CONSOLE_DASH_VIEW_H

#include "console/dashboard.h"

/* Draws D under HEADER with NOTE above the key bar KEYS. */
void dview_draw(const struct dash *d, const char *header, const char *note,
    const char *keys);

#endif
