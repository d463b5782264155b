/* The console's terminal: ncurses set up for a serial line or an
 * emulator (80x24 and larger, vt100 without colour, NO_COLOR honoured;
 * raw mode so no key sends a signal), and the few drawing and input
 * primitives every screen uses. Nothing drawn ever holds a secret: the
 * password field reads without echo and draws nothing. */
#ifndef BW_CONSOLE_SCREEN_H
#define BW_CONSOLE_SCREEN_H

#include <signal.h>
#include <stddef.h>
#include <time.h>

/* tui_read() results besides 0 (Enter) */
#define TUI_IDLE	1	/* the idle deadline passed */
#define TUI_CANCEL	2	/* Esc */
#define TUI_EXPIRED	3	/* the hard deadline passed */
#define TUI_STOPPED	4	/* the flag tui_set_stop() named was set */

/* Starts curses on the terminal. Returns 0 or -BW_E_UNAVAILABLE. */
int tui_init(void);
void tui_end(void);

/* Erases the whole screen, the terminal's copy too (pattern-hiding:
 * nothing of the previous screen stays visible). */
void tui_wipe(void);

/* Draws TEXT (lines split at '\n', long ones wrapped at the width)
 * from row Y; returns the row after it. */
int tui_text(int y, const char *text);

/* Draws FMT at row Y, column X, cut at the screen's width; BOLD
 * highlights it (reverse video on a terminal without bold). */
void tui_print(int y, int x, int bold, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The key bar on the last row. */
void tui_keys(const char *keys);

/* Names a flag (set by a signal handler) that ends tui_read() with
 * TUI_STOPPED within one tick: without it a SIGTERM or hang-up at a
 * prompt was seen only at the next key or the idle deadline, and
 * systemd's stop timeout killed the console first (no end recorded). */
void tui_set_stop(volatile sig_atomic_t *flag);

/* Reads a line into BUF (LEN bytes, NUL-terminated) at row Y after
 * LABEL, echoing it unless SECRET (a secret is wiped unless Enter ends
 * it). Gives up with TUI_IDLE after IDLE_S seconds without a key, TUI_EXPIRED once HARD_AT passes (0: none),
 * TUI_STOPPED once the stop flag is set, and TUI_CANCEL on Esc.
 * Returns 0 on Enter. */
int tui_read(int y, const char *label, char *buf, size_t len, int secret,
    int idle_s, time_t hard_at);

/* Waits up to one second (or what tui_tick() set) for a key; returns
 * it, or -1 (ERR) for none. */
int tui_key(void);

/* Makes tui_key() wait at most MS milliseconds (0: the second again):
 * shorter while a read in the background is awaited, so its result is
 * drawn when it arrives, not at the next second. */
void tui_tick(int ms);

#endif
