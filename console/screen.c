/* The console's terminal; see screen.h. */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>
#include <openssl/crypto.h>

#include "console/screen.h"
#include "lib/err.h"

static attr_t hi_attr = A_BOLD;

int
tui_init(void)
{
	if (!initscr())
		return -BW_E_UNAVAILABLE;
	/* raw: Ctrl-C, Ctrl-Z and Ctrl-\ are keys, not signals */
	raw();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	set_escdelay(50);
	curs_set(0);
	/* colour is never needed to read a screen; none is used, which
	 * honours NO_COLOR and suits a vt100 */
	if (!(termattrs() & A_BOLD))
		hi_attr = A_REVERSE;
	tui_wipe();
	return 0;
}

void
tui_end(void)
{
	tui_wipe();
	endwin();
}

void
tui_wipe(void)
{
	clear();
	clearok(curscr, TRUE);
	refresh();
}

void
tui_print(int y, int x, int bold, const char *fmt, ...)
{
	char	line[512];
	va_list	ap;
	int	w = COLS - x;

	if (y < 0 || y >= LINES || w <= 0)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (bold)
		attron(hi_attr);
	mvaddnstr(y, x, line, w);
	if (bold)
		attroff(hi_attr);
}

int
tui_text(int y, const char *text)
{
	const char	*p = text, *nl;
	int		 n;

	while (*p && y < LINES - 1) {
		nl = strchr(p, '\n');
		n = nl ? (int)(nl - p) : (int)strlen(p);
		do {
			mvaddnstr(y++, 0, p, n < COLS ? n : COLS);
			p += n < COLS ? n : COLS;
			n -= n < COLS ? n : COLS;
		} while (n > 0 && y < LINES - 1);
		p = nl ? nl + 1 : p + n;
	}
	return y;
}

void
tui_keys(const char *keys)
{
	move(LINES - 1, 0);
	clrtoeol();
	tui_print(LINES - 1, 0, 1, "%s", keys);
}

static int tick_ms = 1000;
static volatile sig_atomic_t *stop_flag;

void
tui_set_stop(volatile sig_atomic_t *flag)
{
	stop_flag = flag;
}

void
tui_tick(int ms)
{
	tick_ms = ms > 0 && ms < 1000 ? ms : 1000;
}

int
tui_key(void)
{
	timeout(tick_ms);
	return getch();
}

int
tui_read(int y, const char *label, char *buf, size_t len, int secret,
    int idle_s, time_t hard_at)
{
	time_t	last = time(NULL);
	size_t	n = 0;
	int	c, x = (int)strlen(label) + 1;

	buf[0] = '\0';
	move(y, 0);
	clrtoeol();
	tui_print(y, 0, 0, "%s", label);
	curs_set(1);
	for (;;) {
		move(y, x + (secret ? 0 : (int)n));
		refresh();
		if ((c = tui_key()) == ERR) {
			time_t now = time(NULL);

			if (stop_flag && *stop_flag)
				c = TUI_STOPPED;
			else if (hard_at && now >= hard_at)
				c = TUI_EXPIRED;
			else if (now - last >= idle_s)
				c = TUI_IDLE;
			else
				continue;
			break;
		}
		if (c == '\r' || c == '\n' || c == KEY_ENTER) {
			c = 0;
			break;
		}
		if (c == 27) {
			c = TUI_CANCEL;
			break;
		}
		if ((c == KEY_BACKSPACE || c == 127 || c == 8) && n > 0)
			buf[--n] = '\0';
		else if (c == 21)	/* Ctrl-U: erase the line */
			n = 0;
		else if (c >= 32 && c < 127 && n + 1 < len)
			buf[n++] = (char)c;
		buf[n] = '\0';
		if (!secret) {
			move(y, x);
			clrtoeol();
			tui_print(y, x, 0, "%s", buf);
		}
		last = time(NULL);	/* the idle clock restarts at each key */
	}
	curs_set(0);
	if (c != 0 && secret)
		OPENSSL_cleanse(buf, len);
	return c;
}
