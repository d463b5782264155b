/* The console's resource lists; see list-view.h. */
#define _GNU_SOURCE	/* qsort_r */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "console/list-view.h"
#include "lib/err.h"
#include "lib/macro.h"

#define LV_CELL_MAX	128

void
lview_init(struct lview *lv, const struct lv_col *cols, size_t ncols)
{
	*lv = (struct lview){ .cols = cols, .ncols = ncols < LV_COLS_MAX ?
	    ncols : LV_COLS_MAX };
}

void
lview_cell(const json_t *obj, const char *path, char *buf, size_t len)
{
	char		 key[64];
	const char	*p = path, *dot;
	const json_t	*v = obj;

	buf[0] = '\0';
	while (v && *p) {
		dot = strchr(p, '.');
		snprintf(key, sizeof(key), "%.*s", dot ? (int)(dot - p) :
		    (int)strlen(p), p);
		v = json_object_get(v, key);
		p = dot ? dot + 1 : p + strlen(p);
	}
	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
}

static void
rows_free(struct lv_row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		json_decref(rows[i].obj);
		free(rows[i].text);	/* and the cells */
	}
	free(rows);
}

/* One allocation a row (10,000 rows are read again every refresh):
 * the joined text, then each cell NUL-terminated. */
static int
row_make(const struct lview *lv, json_t *obj, struct lv_row *ret)
{
	char	cell[LV_COLS_MAX][LV_CELL_MAX], *p;
	size_t	c, len[LV_COLS_MAX], all = 0;

	*ret = (struct lv_row){ .obj = json_incref(obj) };
	for (c = 0; c < lv->ncols; c++) {
		lview_cell(obj, lv->cols[c].path, cell[c], sizeof(cell[c]));
		len[c] = strlen(cell[c]);
		all += 2 * len[c] + 2;	/* in the text with ' ', and alone */
	}
	if (!(p = ret->text = malloc(all + 1))) {
		json_decref(ret->obj);
		ret->obj = NULL;	/* rows_free() takes this row too */
		return -ENOMEM;
	}
	for (c = 0; c < lv->ncols; c++) {
		if (c)
			*p++ = ' ';
		memcpy(p, cell[c], len[c]);
		p += len[c];
	}
	*p++ = '\0';
	for (c = 0; c < lv->ncols; c++) {
		ret->cell[c] = memcpy(p, cell[c], len[c] + 1);
		p += len[c] + 1;
	}
	return 0;
}

static int
numeric(const char *s, double *ret)
{
	char *end;

	if (!*s)
		return 0;
	*ret = strtod(s, &end);
	return *end == '\0';
}

static int
row_cmp(const void *a, const void *b, void *arg)
{
	const struct lview	*lv = arg;
	const char		*x = ((const struct lv_row *)a)->cell[lv->sort_col];
	const char		*y = ((const struct lv_row *)b)->cell[lv->sort_col];
	double			 dx, dy;
	int			 r;

	if (numeric(x, &dx) && numeric(y, &dy))
		r = dx < dy ? -1 : dx > dy;
	else
		r = strcmp(x, y);
	return lv->sort_desc ? -r : r;
}

/* Rebuilds the index of visible rows, keeping the selected row KEEP
 * (a row index, or (size_t)-1 for none) selected when it stays. */
static void
refilter(struct lview *lv, size_t keep)
{
	size_t i;

	lv->nvis = 0;
	lv->sel = 0;
	for (i = 0; i < lv->n; i++) {
		if (!cfilter_match(&lv->filter, lv->rows[i].text,
		    lv->filter.nlabels ? json_object_get(json_object_get(
		    lv->rows[i].obj, "metadata"), "labels") : NULL))
			continue;
		if (i == keep)
			lv->sel = lv->nvis;
		lv->vis[lv->nvis++] = i;
	}
	if (lv->top > lv->sel)
		lv->top = lv->sel;
}

static size_t
selected_row(const struct lview *lv)
{
	return lv->nvis ? lv->vis[lv->sel] : (size_t)-1;
}

int
lview_set(struct lview *lv, const json_t *items)
{
	_cleanup_free_ char	*keep = NULL;
	struct lv_row		*rows;
	size_t			 n = json_array_size(items), i, k = (size_t)-1;
	int			 r = 0;

	if (lv->nvis && !(keep = strdup(lv->rows[selected_row(lv)].text)))
		return -ENOMEM;
	rows_free(lv->rows, lv->n);
	free(lv->vis);
	lv->rows = NULL;
	lv->vis = NULL;
	lv->n = lv->nvis = 0;
	rows = calloc(n ? n : 1, sizeof(*rows));
	lv->vis = calloc(n ? n : 1, sizeof(*lv->vis));
	if (!rows || !lv->vis) {
		free(rows);
		return -ENOMEM;
	}
	for (i = 0; i < n && r == 0; i++)
		r = row_make(lv, json_array_get(items, i), &rows[i]);
	if (r < 0) {
		rows_free(rows, i);
		return r;
	}
	lv->rows = rows;
	lv->n = n;
	qsort_r(lv->rows, lv->n, sizeof(*lv->rows), row_cmp, lv);
	for (i = 0; keep && i < n; i++)
		if (strcmp(rows[i].text, keep) == 0) {
			k = i;
			break;
		}
	refilter(lv, k);
	return 0;
}

void
lview_sort(struct lview *lv, int col, int desc)
{
	size_t	keep = selected_row(lv), i;
	json_t	*obj = keep != (size_t)-1 ? lv->rows[keep].obj : NULL;

	if (col < 0 || (size_t)col >= lv->ncols)
		return;
	lv->sort_col = col;
	lv->sort_desc = desc;
	qsort_r(lv->rows, lv->n, sizeof(*lv->rows), row_cmp, lv);
	for (i = 0, keep = (size_t)-1; obj && i < lv->n; i++)
		if (lv->rows[i].obj == obj)
			keep = i;
	refilter(lv, keep);
}

/* Keeps, of the visible rows, those F keeps. */
static void
narrow(struct lview *lv, size_t keep)
{
	size_t i, n = 0;

	lv->sel = 0;
	for (i = 0; i < lv->nvis; i++) {
		if (!cfilter_match(&lv->filter, lv->rows[lv->vis[i]].text, NULL))
			continue;
		if (lv->vis[i] == keep)
			lv->sel = n;
		lv->vis[n++] = lv->vis[i];
	}
	lv->nvis = n;
	lv->top = 0;
}

int
lview_filter(struct lview *lv, const char *text, char **ret_err)
{
	struct cfilter	f;
	size_t		old = strlen(lv->filter_text);
	int		r, sub;

	if ((r = cfilter_parse(text, &f, ret_err)) < 0)
		return r;
	/* a plain text typed on: its rows are among the rows shown now,
	 * so only those are matched again (a key costs the rows left) */
	sub = old && cfilter_literal(lv->filter_text) &&
	    cfilter_literal(text) && strncmp(text, lv->filter_text, old) == 0;
	cfilter_clear(&lv->filter);
	lv->filter = f;
	snprintf(lv->filter_text, sizeof(lv->filter_text), "%s", text);
	lv->top = 0;
	if (sub)
		narrow(lv, selected_row(lv));
	else
		refilter(lv, selected_row(lv));
	return 0;
}

void
lview_move(struct lview *lv, long delta, int h)
{
	long s = (long)lv->sel + delta;

	if (!lv->nvis)
		return;
	if (s < 0)
		s = 0;
	if (s >= (long)lv->nvis)
		s = (long)lv->nvis - 1;
	lv->sel = (size_t)s;
	if (lv->sel < lv->top)
		lv->top = lv->sel;
	if (h > 0 && lv->sel >= lv->top + (size_t)h)
		lv->top = lv->sel - (size_t)h + 1;
}

json_t *
lview_selected(const struct lview *lv)
{
	size_t i = selected_row(lv);

	return i == (size_t)-1 ? NULL : lv->rows[i].obj;
}

/* Each column's width at a screen COLS wide: its own, the last one
 * (or the one of width 0) the rest. */
static void
widths(const struct lview *lv, int *w)
{
	int	used = 0, flex = -1;
	size_t	c;

	for (c = 0; c < lv->ncols; c++) {
		/* room for the title and the sort mark */
		w[c] = lv->cols[c].width;
		if (w[c] && w[c] <= (int)strlen(lv->cols[c].title))
			w[c] = (int)strlen(lv->cols[c].title) + 1;
		if (!w[c] && flex < 0)
			flex = (int)c;
		used += w[c] + 1;
	}
	if (flex < 0)
		flex = (int)lv->ncols - 1;
	if (COLS > used)
		w[flex] += COLS - used;
}

static void
draw_row(const struct lview *lv, int y, const int *w, char *const *cell,
    int hi)
{
	int	x = 0;
	size_t	c;

	if (hi)
		attron(A_REVERSE);
	move(y, 0);
	clrtoeol();
	if (hi)
		mvhline(y, 0, ' ', COLS);
	for (c = 0; c < lv->ncols && x < COLS; c++) {
		mvaddnstr(y, x, cell[c], w[c] < COLS - x ? w[c] : COLS - x);
		x += w[c] + 1;
	}
	if (hi)
		attroff(A_REVERSE);
}

void
lview_draw(struct lview *lv, int y, int h)
{
	char	title[LV_COLS_MAX][40], *tp[LV_COLS_MAX];
	int	w[LV_COLS_MAX], i;
	size_t	c;

	widths(lv, w);
	for (c = 0; c < lv->ncols; c++) {
		snprintf(title[c], sizeof(title[c]), "%s%s", lv->cols[c].title,
		    (int)c == lv->sort_col ? (lv->sort_desc ? "v" : "^") : "");
		tp[c] = title[c];
	}
	attron(A_BOLD);
	draw_row(lv, y, w, tp, 0);
	attroff(A_BOLD);
	lview_move(lv, 0, h - 1);
	for (i = 0; i < h - 1; i++) {
		size_t v = lv->top + (size_t)i;

		if (v >= lv->nvis) {
			move(y + 1 + i, 0);
			clrtoeol();
			continue;
		}
		draw_row(lv, y + 1 + i, w, lv->rows[lv->vis[v]].cell,
		    v == lv->sel);
	}
}

void
lview_clear(struct lview *lv)
{
	rows_free(lv->rows, lv->n);
	free(lv->vis);
	cfilter_clear(&lv->filter);
	lview_init(lv, lv->cols, lv->ncols);
}

int
lview_fields(const struct lview *lv, char *buf, size_t len)
{
	size_t	c;
	int	n = snprintf(buf, len, "metadata.name,metadata.tenant,"
	    "metadata.labels");

	for (c = 0; c < lv->ncols && n >= 0 && (size_t)n < len; c++)
		if (strncmp(lv->cols[c].path, "metadata.", 9) != 0 ||
		    (strcmp(lv->cols[c].path + 9, "name") != 0 &&
		    strcmp(lv->cols[c].path + 9, "tenant") != 0))
			n += snprintf(buf + n, len - (size_t)n, ",%s",
			    lv->cols[c].path);
	return n >= 0 && (size_t)n < len ? 0 : -ENOBUFS;
}
