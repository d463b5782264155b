/* `d` describe; see describe.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curses.h>

#include "console/describe.h"
#include "lib/macro.h"

int
cdesc_secret_key(const char *key)
{
	static const char *const words[] = { "key", "secret", "token",
	    "password", "bootstrap", "credential" };
	size_t i;

	for (i = 0; i < ELEMENTSOF(words); i++)
		if (strcasestr(key, words[i]))
			return 1;
	return 0;
}

/* Replaces, in the copy V, every value under a secret's key. */
static void
redact(json_t *v)
{
	const char	*k;
	json_t		*e;
	size_t		 i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			redact(e);
		return;
	}
	json_object_foreach(v, k, e) {
		if (cdesc_secret_key(k) && !json_is_object(e))
			json_object_set_new(v, k, json_string("(hidden)"));
		else
			redact(e);
	}
}

int
cdesc_open(const json_t *obj, struct cdesc *ret)
{
	json_t	*copy = json_deep_copy(obj);
	char	*text;

	if (!copy)
		return -ENOMEM;
	redact(copy);
	text = json_dumps(copy, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(copy);
	if (!text)
		return -ENOMEM;
	return cdesc_text(text, ret);
}

int
cdesc_text(char *text, struct cdesc *ret)
{
	char	*p, **line;
	size_t	 n = 1, i = 0;

	for (p = text; *p; p++)
		n += *p == '\n';
	if (!(line = calloc(n, sizeof(*line)))) {
		free(text);
		return -ENOMEM;
	}
	for (p = text; p; i++) {
		line[i] = p;
		if ((p = strchr(p, '\n')))
			*p++ = '\0';
	}
	*ret = (struct cdesc){ .text = text, .line = line, .n = i };
	return 0;
}

void
cdesc_scroll(struct cdesc *d, long delta, int h)
{
	long top = (long)d->top + delta, max = (long)d->n - h;

	if (top > max)
		top = max;
	if (top < 0)
		top = 0;
	d->top = (size_t)top;
}

void
cdesc_draw(const struct cdesc *d, int y, int h)
{
	int i;

	for (i = 0; i < h; i++) {
		move(y + i, 0);
		clrtoeol();
		if (d->top + (size_t)i < d->n)
			mvaddnstr(y + i, 0, d->line[d->top + (size_t)i], COLS);
	}
}

void
cdesc_clear(struct cdesc *d)
{
	free(d->line);
	free(d->text);
	*d = (struct cdesc){ 0 };
}
