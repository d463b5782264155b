/* A resource list of the console: every object of a read kept in
 * memory (10,000 instances and more), sorted by any column, narrowed
 * by the `/` filter into an index of the visible rows, and drawn one
 * window of rows at a time, so moving, filtering and redrawing cost the
 * rows on screen plus one pass over the index, never a new read. */
#ifndef BW_CONSOLE_LIST_VIEW_H
#define BW_CONSOLE_LIST_VIEW_H

#include <stddef.h>

#include <jansson.h>

#include "console/filter.h"

#define LV_COLS_MAX	7

/* A column: TITLE over the value at the dotted PATH of each object
 * ("metadata.name"), at least WIDTH columns wide (0: the rest). */
struct lv_col {
	const char	*title;
	const char	*path;
	int		 width;
};

struct lv_row {
	json_t	*obj;			/* a reference to the object */
	char	*cell[LV_COLS_MAX];	/* the columns' text, in TEXT's block */
	char	*text;			/* the cells joined, for the filter; one
					 * allocation with the cells after it */
};

struct lview {
	const struct lv_col	*cols;
	size_t			 ncols;
	struct lv_row		*rows;
	size_t			 n;
	size_t			*vis;	/* indexes of the rows the filter keeps */
	size_t			 nvis;
	size_t			 top, sel;	/* into vis */
	int			 sort_col, sort_desc;
	struct cfilter		 filter;
	char			 filter_text[CFILTER_TEXT_MAX];
};

/* Starts LV on NCOLS (at most LV_COLS_MAX) columns COLS (borrowed). */
void lview_init(struct lview *lv, const struct lv_col *cols, size_t ncols);

/* Replaces the rows with the objects of ITEMS (an array; its elements
 * are referenced), keeping the sort, the filter and the selected
 * object when it is still there. Returns 0 or -ENOMEM (LV then empty). */
int lview_set(struct lview *lv, const json_t *items);

/* Sorts by column COL (descending when DESC); numbers compare as
 * numbers. */
void lview_sort(struct lview *lv, int col, int desc);

/* Applies the filter TEXT (filter.h). Returns 0, or -BW_E_INVALID
 * with a message and the previous filter kept. */
int lview_filter(struct lview *lv, const char *text, char **ret_err);

/* Moves the selection by DELTA rows (clamped) in a window of H rows. */
void lview_move(struct lview *lv, long delta, int h);

/* The selected object (borrowed), or NULL when no row is visible. */
json_t *lview_selected(const struct lview *lv);

/* Draws the column titles at row Y and the window of rows under them
 * in H - 1 rows, the selected one in reverse video. */
void lview_draw(struct lview *lv, int y, int h);

void lview_clear(struct lview *lv);

/* The members LV's rows need, as the comma-separated dotted paths of
 * the API's ?fields=, into BUF: the name and tenant (an object's path
 * for describe and the actions), the labels (`-l`) and the columns.
 * Returns 0, or -ENOBUFS when LEN is too short. */
int lview_fields(const struct lview *lv, char *buf, size_t len);

/* The text of the value at the dotted PATH of OBJ into BUF ("" when
 * absent; numbers and booleans as JSON writes them). */
void lview_cell(const json_t *obj, const char *path, char *buf, size_t len);

#endif
