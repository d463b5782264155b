/* The dashboard's drawing; see dash-view.h. */
#include "config.h"

#include <string.h>

#include <curses.h>

#include "console/dash-view.h"
#include "console/screen.h"

static void
draw_panel(const struct dash_panel *p, int y, int x, int h, int w)
{
	int i, row = 0, w2 = w - 2, n;
	const char *t;

	mvhline(y, x, '-', w);
	mvhline(y + h - 1, x, '-', w);
	mvvline(y, x, '|', h);
	mvvline(y, x + w - 1, '|', h);
	mvaddch(y, x, '+');
	mvaddch(y, x + w - 1, '+');
	mvaddch(y + h - 1, x, '+');
	mvaddch(y + h - 1, x + w - 1, '+');
	tui_print(y, x + 2, 1, " %.*s ", w - 6, p->title ? p->title : "?");
	/* long lines wrap inside the panel rather than lose their end */
	for (i = 0; i < p->n; i++)
		for (t = p->line[i], n = (int)strlen(t); row < h - 2;
		    t += w2, n -= w2) {
			mvaddnstr(y + 1 + row++, x + 1, t, n < w2 ? n : w2);
			if (n <= w2)
				break;
		}
}

void
dview_draw(const struct dash *d, const char *header, const char *note,
    const char *keys)
{
	int cols = COLS >= 120 ? 3 : 2;
	int rows = (DASH_PANELS + cols - 1) / cols;
	int ph = (LINES - 3) / rows, pw = COLS / cols, i;

	erase();
	tui_print(0, 0, 1, "%s", header);
	if (ph >= 3 && pw >= 10)
		for (i = 0; i < DASH_PANELS; i++)
			draw_panel(&d->panel[i], 1 + (i / cols) * ph,
			    (i % cols) * pw, ph, pw);
	tui_print(LINES - 2, 0, 0, "%s", note);
	tui_keys(keys);
	refresh();
}
