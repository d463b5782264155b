/* `d` describe: one object's JSON, pretty-printed with two-space
 * indentation, in a window that scrolls. Values under a key that names
 * a secret (key, secret, token, password, bootstrap) are replaced by
 * "(hidden)" before anything is drawn. */
#ifndef BW_CONSOLE_DESCRIBE_H
#define BW_CONSOLE_DESCRIBE_H

#include <stddef.h>

#include <jansson.h>

struct cdesc {
	char	*text;		/* the whole document */
	char	**line;		/* into text */
	size_t	 n;
	size_t	 top;
};

/* Makes the lines of OBJ (not changed) into *RET (clear with
 * cdesc_clear()). Returns 0 or -ENOMEM. */
int cdesc_open(const json_t *obj, struct cdesc *ret);

/* Makes the lines of TEXT (allocated; taken, freed by cdesc_clear()
 * even on failure) into *RET. Returns 0 or -ENOMEM. */
int cdesc_text(char *text, struct cdesc *ret);

/* Scrolls by DELTA lines in a window of H rows (clamped). */
void cdesc_scroll(struct cdesc *d, long delta, int h);

/* Draws the window from row Y, H rows. */
void cdesc_draw(const struct cdesc *d, int y, int h);

void cdesc_clear(struct cdesc *d);

/* 1 when a value under KEY is never drawn. */
int cdesc_secret_key(const char *key);

#endif
