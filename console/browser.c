/* The console's screens after login; see browser.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curses.h>

#include "client/client.h"
#include "console/actions.h"
#include "console/audit-view.h"
#include "console/bgread.h"
#include "console/browser.h"
#include "console/cmdline.h"
#include "console/dash-view.h"
#include "console/dashboard.h"
#include "console/describe.h"
#include "console/fetch.h"
#include "console/list-view.h"
#include "console/screen.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

#define BR_DEPTH	8
#define BR_MSG_MAX	256
/* the rows of a list's first screen, read before the rest: a screen
 * shows at most a few dozen */
#define BR_FIRST_PAGE	500
#define BR_TICK_BUSY_MS	50	/* the key loop's tick while a read is awaited */
#define KEY_CTRL_D	4
#define KEY_ESC		27

static const struct browser_key keys[] = {
	{ ":", "command mode: go to a view by name or alias (Enter), "
	  "e.g. :instances or :in; Esc cancels" },
	{ "/", "filter the list: a regular expression, !REGEX for the rows "
	  "not matching, -l key=value for labels; applied as typed" },
	{ "d, Enter", "describe the selected object (its JSON, secrets hidden)" },
	{ "Esc", "back to the previous screen (the breadcrumbs); in a list "
	  "with a filter, clears the filter first" },
	{ "Up, Down, k, j", "move the selection (a describe scrolls)" },
	{ "PgUp, PgDn", "a page up or down" },
	{ "g, G", "the first or the last row" },
	{ "1..7", "sort by that column; again: the other order" },
	{ "r", "read the view again now (it refreshes by itself)" },
	{ "s", "scale the selected workload (asks the number); only when "
	  "the role may change workloads and not --readonly" },
	{ "Ctrl-D", "delete the selected object: its name must be typed back, "
	  "anything else cancels; only when the role may delete it and not "
	  "--readonly" },
	{ "f", "audit browser: search the trail (action= actor= outcome= "
	  "kind= name= tenant= since= until=)" },
	{ "?", "this help" },
	{ "l", "lock the console now" },
	{ "q", "log out" },
};

const struct browser_key *
browser_keys(size_t *ret_n)
{
	*ret_n = ELEMENTSOF(keys);
	return keys;
}

enum frame_type { FR_DASH, FR_LIST, FR_DESC };

struct frame {
	enum frame_type		 type;
	const struct cview	*v;
	struct lview		 lv;
	struct cdesc		 d;
	char			 crumb[80];
	char			 search[CFILTER_TEXT_MAX];	/* audit */
	time_t			 read_at;
	/* the read in the background whose result the list takes (0:
	 * none); PARTIAL: the rows are its first page, that read the rest */
	unsigned long		 want;
	int			 partial;
};

struct browser {
	const struct browser_env	*env;
	struct client_conn		*cc;
	struct cbg			*bg;	/* lists' refreshes */
	unsigned long			 tags;
	json_t				*me;	/* whoami */
	struct dash			 dash;
	struct frame			 f[BR_DEPTH];
	int				 depth;
	char				 msg[BR_MSG_MAX];
	char				 note[BR_MSG_MAX];
};

static struct frame *
top(struct browser *b)
{
	return &b->f[b->depth - 1];
}

/* The rows between the breadcrumbs and the status row: a list's
 * column titles and its rows, or a describe's lines. */
static int
rows_h(void)
{
	return LINES - 4;	/* header, crumbs, status, keys */
}

static const json_t *
may(const struct browser *b)
{
	return json_object_get(b->me, "may");
}

static int
may_write(const struct browser *b, const struct frame *f)
{
	return !b->env->readonly && f->type == FR_LIST && f->v->plural &&
	    cact_may(may(b), "write", f->v->plural);
}

/* The session's API connection, opened on first use. */
static int
conn(struct browser *b, char **ret_err)
{
	struct client_conn_opts o = { .ctx = b->env->ctx, .timeout_s = 10,
	    .reconnect = 1 };

	if (!b->env->conf)
		return errf(-BW_E_UNAUTH, ret_err, "%s", b->env->why);
	if (b->cc)
		return 0;
	return client_conn_open_opts(b->env->conf, &o, &b->cc, ret_err);
}

static void
read_whoami(struct browser *b)
{
	_cleanup_free_ char	*err = NULL;
	char			 why[160] = "";

	json_decref(b->me);
	b->me = NULL;
	if (conn(b, &err) == 0)
		cact_whoami(b->cc, &b->me, why, sizeof(why), &err);
}

/* Reads the list of frame F again. */
static void
read_list(struct browser *b, struct frame *f)
{
	_cleanup_free_ char	*err = NULL;
	_cleanup_json_ json_t	*doc = NULL;
	char			 why[160] = "", path[1024], fields[512];
	int			 r;

	f->read_at = time(NULL);
	f->want = 0;	/* a read in the background comes too late */
	f->partial = 0;
	if ((r = conn(b, &err)) < 0) {
		snprintf(b->msg, sizeof(b->msg), "API: %s", err ? err : "?");
		return;
	}
	if (f->v->type == CVIEW_AUDIT) {
		if ((r = caudq_path(f->search, path, sizeof(path), &err)) < 0) {
			snprintf(b->msg, sizeof(b->msg), "%s", err);
			return;
		}
		r = cfetch_doc(b->cc, path, &doc, why, sizeof(why), &err);
	} else if (f->v->type == CVIEW_DOC)
		r = cfetch_doc(b->cc, f->v->path, &doc, why, sizeof(why), &err);
	else	/* the columns only: a fraction of the objects' bytes */
		r = cfetch_list(b->cc, f->v->path, lview_fields(&f->lv, fields,
		    sizeof(fields)) == 0 ? fields : NULL, NULL, &doc, why,
		    sizeof(why), &err);
	if (r < 0)
		snprintf(b->msg, sizeof(b->msg), "API: %s", err ? err : "?");
	else if (!doc)
		snprintf(b->msg, sizeof(b->msg), "%s: %s", f->v->name, why);
	else if (lview_set(&f->lv, json_object_get(doc, f->v->items_key ?
	    f->v->items_key : "items")) < 0)
		snprintf(b->msg, sizeof(b->msg), "out of memory");
}

static void
read_dash(struct browser *b, struct frame *f)
{
	_cleanup_free_ char	*err = NULL;
	const char		*ro = b->env->readonly ? ", read-only" : "";
	int			 r = -BW_E_UNAUTH;

	f->read_at = time(NULL);
	if (b->env->conf)
		r = dash_read(b->env->conf, b->env->ctx, &b->dash, &err);
	if (r == 0 && b->env->ctx)
		snprintf(b->note, sizeof(b->note), "API as %s, session "
		    "certificate%s", b->dash.principal, ro);
	else if (r == 0)
		snprintf(b->note, sizeof(b->note), "No session certificate "
		    "(%s); API as %s, configured credential%s", b->env->why,
		    b->dash.principal, ro);
	else
		snprintf(b->note, sizeof(b->note), "API: %s", err ? err :
		    b->env->why);
}

/* Starts a read of list frame F in the background (with FIELDS, from
 * the continue token FROM; both may be NULL), whose result F takes (it
 * supersedes any other: bgread.h). Returns 0 or a negative error. */
static int
bg_start(struct browser *b, struct frame *f, const char *fields,
    const char *from)
{
	_cleanup_free_ char	*err = NULL;
	int			 r;

	if (!b->env->conf)
		return -BW_E_UNAUTH;
	if (!b->bg && (r = cbg_new(b->env->conf, b->env->ctx, &b->bg,
	    &err)) < 0)
		return r;
	if ((r = cbg_start(b->bg, f->v->path, fields, from, b->tags + 1)) < 0)
		return r;
	f->want = ++b->tags;
	return 0;
}

/* Takes a finished background read into the list that waits for it,
 * if that list is still open: the whole list, or the rest after its
 * first page. Returns 1 when a list took one, else 0. */
static int
bg_collect(struct browser *b)
{
	_cleanup_json_ json_t	*doc = NULL, *all = NULL;
	_cleanup_free_ char	*err = NULL;
	struct frame		*f;
	char			 why[160];
	unsigned long		 tag;
	size_t			 i;
	int			 d;

	if (!b->bg || !cbg_take(b->bg, &tag, &doc, why, sizeof(why), &err))
		return 0;
	for (d = 0; d < b->depth && b->f[d].want != tag; d++)
		;
	if (d == b->depth || b->f[d].type != FR_LIST)
		return 0;
	f = &b->f[d];
	f->want = 0;
	if (f->partial && doc) {
		if (!(all = json_array()))
			return 0;
		for (i = 0; i < f->lv.n; i++)
			json_array_append(all, f->lv.rows[i].obj);
		json_array_extend(all, json_object_get(doc, "items"));
	}
	f->partial = 0;
	if (err)
		snprintf(b->msg, sizeof(b->msg), "API: %s", err);
	else if (!doc)
		snprintf(b->msg, sizeof(b->msg), "%s: %s", f->v->name, why);
	else if (lview_set(&f->lv, all ? all : json_object_get(doc, "items")) < 0)
		snprintf(b->msg, sizeof(b->msg), "out of memory");
	return 1;
}

/* The key loop's tick: short while a list awaits a read in the
 * background (its result is drawn as it arrives), else the second. */
static void
tick(const struct browser *b)
{
	int d, pending = 0;

	for (d = 0; d < b->depth; d++)
		pending |= b->f[d].want != 0;
	tui_tick(pending ? BR_TICK_BUSY_MS : 0);
}

/* Opens list frame F: an API list's first page is drawn at once and
 * the rest read in the background (keys are answered meanwhile); any
 * other list is read whole. */
static void
open_list(struct browser *b, struct frame *f)
{
	_cleanup_free_ char	*err = NULL, *next = NULL;
	_cleanup_json_ json_t	*doc = NULL;
	char			 why[160] = "", fields[512];
	const char		*fs = lview_fields(&f->lv, fields,
	    sizeof(fields)) == 0 ? fields : NULL;

	if (f->v->type != CVIEW_LIST) {
		read_list(b, f);
		return;
	}
	f->read_at = time(NULL);
	if (conn(b, &err) < 0 || cfetch_first(b->cc, f->v->path, fs,
	    BR_FIRST_PAGE, &doc, &next, why, sizeof(why), &err) < 0)
		snprintf(b->msg, sizeof(b->msg), "API: %s", err ? err : "?");
	else if (!doc)
		snprintf(b->msg, sizeof(b->msg), "%s: %s", f->v->name, why);
	else if (lview_set(&f->lv, json_object_get(doc, "items")) < 0)
		snprintf(b->msg, sizeof(b->msg), "out of memory");
	else if (next && bg_start(b, f, fs, next) < 0)
		read_list(b, f);	/* no reader: all now */
	else
		f->partial = next != NULL;
}

static void
refresh_frame(struct browser *b, struct frame *f, int now)
{
	if (!now && time(NULL) - f->read_at < b->env->refresh_s)
		return;
	if (f->type == FR_DASH)
		read_dash(b, f);
	else if (f->type == FR_LIST && !now && f->v->type == CVIEW_LIST &&
	    b->env->conf) {
		/* the periodic refresh, off the key loop; none while the
		 * list's last read (or its rest) is still under way */
		char fields[512];

		f->read_at = time(NULL);
		if (!f->want)
			bg_start(b, f, lview_fields(&f->lv, fields,
			    sizeof(fields)) == 0 ? fields : NULL, NULL);
	} else if (f->type == FR_LIST)
		read_list(b, f);
}

/* The key bar of frame F: only the keys that act there, in this order;
 * when they do not fit the width, the lowest DROP go first (help
 * lists them all). */
static void
key_bar(const struct browser *b, const struct frame *f, char *buf,
    size_t len)
{
	int list = f->type == FR_LIST, w = may_write(b, f);
	const struct {
		const char	*text;
		int		 on, drop;
	} items[] = {
		{ "/ filter", list, 3 },
		{ "d describe", list, 4 },
		{ "1-7 sort", list, 9 },
		{ "s scale", w && !strcmp(f->v->plural, "workloads"), 1 },
		{ "^D delete", w, 1 },
		{ "f search", list && f->v->type == CVIEW_AUDIT, 2 },
		{ "esc back", b->depth > 1, 8 },
		{ ": view", 1, 5 },
		{ "? help", 1, 0 },
		{ "l lock", 1, 7 },
		{ "q log out", 1, 6 },
	};
	size_t	i, n;
	int	cut = 10;

	do {
		buf[0] = '\0';
		for (i = 0, n = 0; i < ELEMENTSOF(items); i++)
			if (items[i].on && items[i].drop < cut)
				n += (size_t)snprintf(buf + n, n < len ? len - n :
				    0, "%s%s", n ? "  " : "", items[i].text);
	} while ((int)n > COLS && --cut > 0);
}

static void
draw_crumbs(const struct browser *b)
{
	char	line[512];
	size_t	off = 0;
	int	i;

	line[0] = '\0';
	for (i = 0; i < b->depth && off < sizeof(line); i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s",
		    i ? " > " : "", b->f[i].crumb);
	tui_print(1, 0, 0, "%s", line);
}

/* Draws the screen of the frame on top into curses' copy; the caller
 * sends it (refresh()), once for all it drew. */
static void
draw(struct browser *b)
{
	struct frame	*f = top(b);
	char		 kb[256], status[BR_MSG_MAX + 128];
	int		 y;

	key_bar(b, f, kb, sizeof(kb));
	if (f->type == FR_DASH) {
		dview_draw(&b->dash, b->env->header, b->msg[0] ? b->msg :
		    b->note, kb);
		return;
	}
	/* each row cleared as it is drawn, not the screen erased first:
	 * a filter key compares and sends only the rows that changed */
	for (y = 0; y < 2; y++) {
		move(y, 0);
		clrtoeol();
	}
	move(LINES - 2, 0);
	clrtoeol();
	tui_print(0, 0, 1, "%s | %s", b->env->header, b->note);
	draw_crumbs(b);
	if (f->type == FR_DESC)
		cdesc_draw(&f->d, 2, rows_h());
	else
		lview_draw(&f->lv, 2, rows_h());
	if (f->type == FR_LIST)
		snprintf(status, sizeof(status), "%zu of %zu%s%s%s%s%s",
		    f->lv.nvis, f->lv.n, f->partial ? " so far, reading the "
		    "rest" : "", f->lv.filter_text[0] ? "  /" : "",
		    f->lv.filter_text, b->msg[0] ? "  " : "", b->msg);
	else
		snprintf(status, sizeof(status), "lines %zu-%zu of %zu  %s",
		    f->d.n ? f->d.top + 1 : 0, f->d.top + (size_t)rows_h() <
		    f->d.n ? f->d.top + (size_t)rows_h() : f->d.n, f->d.n,
		    b->msg);
	tui_print(LINES - 2, 0, 0, "%s", status);
	tui_keys(kb);
}

/* Reads a line typed after LABEL on the status row into BUF; with LIVE
 * set, each change is applied as the list's filter and the list is
 * drawn again. Returns 0 on Enter, TUI_CANCEL on Esc, BR_KEY_END. */
static int
prompt(struct browser *b, const char *label, char *buf, size_t len, int live)
{
	size_t	n = strlen(buf);
	int	c;

	for (;;) {
		move(LINES - 2, 0);
		clrtoeol();
		tui_print(LINES - 2, 0, 1, "%s", label);
		tui_print(LINES - 2, (int)strlen(label), 0, "%s", buf);
		refresh();
		tick(b);
		c = b->env->wait(b->env->arg);
		if (c == BR_KEY_END || c == '\r' || c == '\n' || c == KEY_ENTER)
			return c == BR_KEY_END ? c : 0;
		if (c == KEY_ESC)
			return TUI_CANCEL;
		if (c == BR_KEY_TICK || c == BR_KEY_REDRAW) {
			/* a list's rest arrived: filtered as typed (a refresh
			 * waits for the prompt's end, keys come first) */
			if (c == BR_KEY_REDRAW || (live && top(b)->partial &&
			    bg_collect(b)))
				draw(b);
			continue;
		}
		if ((c == KEY_BACKSPACE || c == 127 || c == 8) && n > 0)
			buf[--n] = '\0';
		else if (c == 21)
			buf[n = 0] = '\0';
		else if (c >= 32 && c < 127 && n + 1 < len) {
			buf[n++] = (char)c;
			buf[n] = '\0';
		} else
			continue;
		if (live) {
			_cleanup_free_ char *err = NULL;

			b->msg[0] = '\0';
			if (lview_filter(&top(b)->lv, buf, &err) < 0)
				snprintf(b->msg, sizeof(b->msg), "%s", err);
			draw(b);
		}
	}
}

static int
push(struct browser *b, enum frame_type type, const struct cview *v,
    const char *crumb)
{
	struct frame *f;

	if (b->depth == BR_DEPTH) {
		snprintf(b->msg, sizeof(b->msg), "too deep: Esc first");
		return -BW_E_INVALID;
	}
	f = &b->f[b->depth++];
	*f = (struct frame){ .type = type, .v = v };
	snprintf(f->crumb, sizeof(f->crumb), "%s", crumb);
	if (v && v->cols)
		lview_init(&f->lv, v->cols, v->ncols);
	return 0;
}

static void
pop(struct browser *b)
{
	struct frame *f = top(b);

	if (b->depth == 1)
		return;
	lview_clear(&f->lv);
	cdesc_clear(&f->d);
	b->depth--;
}

/* 1 when the principal may read view V (whoami's "may"). */
static int
readable(const struct browser *b, const struct cview *v)
{
	if (v->type == CVIEW_AUDIT)
		return json_is_true(json_object_get(may(b), "audit"));
	return !v->plural || cact_may(may(b), "read", v->plural);
}

/* `:` : returns BR_KEY_END when the command is to log out. */
static int
command(struct browser *b)
{
	char			 text[64] = "";
	const struct cview	*v;
	int			 r = prompt(b, ":", text, sizeof(text), 0);

	if (r != 0)
		return r == BR_KEY_END ? r : 0;
	if (!(v = cmdline_find(text))) {
		snprintf(b->msg, sizeof(b->msg), "no view \"%.40s\" (? lists "
		    "them)", text);
		return 0;
	}
	if (v->type == CVIEW_QUIT)
		return BR_KEY_QUIT;
	while (b->depth > 1)
		pop(b);
	if (v->type == CVIEW_DASHBOARD)
		return 0;
	if (!readable(b, v)) {
		snprintf(b->msg, sizeof(b->msg), "%s: not permitted for this "
		    "principal", v->name);
		return 0;
	}
	if (push(b, FR_LIST, v, v->name) < 0)
		return 0;
	/* the dashboard read this list moments ago: show that at once; the
	 * list's own reads follow on its refresh time */
	if (b->f[0].read_at > time(NULL) - b->env->refresh_s && v->path &&
	    dash_list(&b->dash, v->path) &&
	    lview_set(&top(b)->lv, json_object_get(dash_list(&b->dash,
	    v->path), "items")) == 0)
		top(b)->read_at = b->f[0].read_at;
	else
		open_list(b, top(b));
	return 0;
}

/* `/`: the filter, applied as it is typed; Esc restores the old one. */
static int
filter_prompt(struct browser *b)
{
	struct frame	*f = top(b);
	char		 text[CFILTER_TEXT_MAX], old[CFILTER_TEXT_MAX];
	int		 r;

	snprintf(old, sizeof(old), "%s", f->lv.filter_text);
	snprintf(text, sizeof(text), "%s", old);
	r = prompt(b, "/", text, sizeof(text), 1);
	if (r == TUI_CANCEL || (r == 0 && lview_filter(&f->lv, text, NULL) < 0))
		lview_filter(&f->lv, old, NULL);
	b->msg[0] = '\0';
	return r == BR_KEY_END ? r : 0;
}

/* The whole of the selected object, a new reference (an API list's
 * rows hold its columns only: read it), or NULL with b->msg saying
 * why. */
static json_t *
selected_whole(struct browser *b)
{
	struct frame		*f = top(b);
	json_t			*obj = lview_selected(&f->lv), *doc = NULL;
	_cleanup_free_ char	*err = NULL;
	char			 path[512], why[160] = "";

	if (!obj || f->v->type != CVIEW_LIST)
		return json_incref(obj);
	if (cact_path(obj, f->v->plural, path, sizeof(path)) < 0)
		snprintf(b->msg, sizeof(b->msg), "%s: no name", f->v->name);
	else if (conn(b, &err) < 0 ||
	    cfetch_doc(b->cc, path, &doc, why, sizeof(why), &err) < 0)
		snprintf(b->msg, sizeof(b->msg), "API: %s", err ? err : "?");
	else if (!doc)
		snprintf(b->msg, sizeof(b->msg), "%.80s: %.160s", path, why);
	return doc;
}

static void
describe(struct browser *b)
{
	_cleanup_json_ json_t	*obj = selected_whole(b);
	char			 crumb[80];
	struct cdesc		 d = { 0 };

	if (!obj)
		return;
	snprintf(crumb, sizeof(crumb), "%s", json_str_at(obj, "metadata",
	    "name") ?: json_is_integer(json_object_get(obj, "seq")) ?
	    "record" : "object");
	if (cdesc_open(obj, &d) < 0 || push(b, FR_DESC, NULL, crumb) < 0) {
		cdesc_clear(&d);
		return;
	}
	top(b)->d = d;
}

/* Writes WHAT to F after a key column, wrapped at the screen's width. */
static void
help_line(FILE *f, const char *key, const char *what)
{
	int	w = COLS - 18 > 20 ? COLS - 18 : 20, n;

	fprintf(f, "  %-15s ", key);
	while ((n = (int)strlen(what)) > w) {
		for (n = w; n > 0 && what[n] != ' '; n--)
			;
		if (n == 0)
			n = w;
		fprintf(f, "%.*s\n%18s", n, what, "");
		what += n + (what[n] == ' ');
	}
	fprintf(f, "%s\n", what);
}

static void
help(struct browser *b)
{
	const struct cview	*v;
	char			*text = NULL, alias[16];
	size_t			 n, i, len = 0;
	FILE			*f = open_memstream(&text, &len);
	struct cdesc		 d = { 0 };

	if (!f)
		return;
	fprintf(f, "Keys\n");
	for (i = 0; i < ELEMENTSOF(keys); i++)
		help_line(f, keys[i].key, keys[i].what);
	fprintf(f, "\nViews (:name or :alias)\n");
	for (v = cmdline_views(&n), i = 0; i < n; i++) {
		snprintf(alias, sizeof(alias), ":%s", v[i].alias);
		fprintf(f, "  :%-14s %-7s%s\n", v[i].name, alias,
		    v[i].type == CVIEW_QUIT || readable(b, &v[i]) ? "" :
		    " (not permitted for this principal)");
	}
	fclose(f);
	if (cdesc_text(text, &d) < 0 || push(b, FR_DESC, NULL, "help") < 0) {
		cdesc_clear(&d);
		return;
	}
	top(b)->d = d;
}

/* `s`: scales the selected workload to the number typed. */
static int
scale(struct browser *b)
{
	struct frame		*f = top(b);
	_cleanup_json_ json_t	*obj = NULL;
	_cleanup_free_ char	*err = NULL;
	char			 label[160], text[8] = "", *end;
	long			 n;
	int			 r;

	if (!lview_selected(&f->lv) || !may_write(b, f) ||
	    strcmp(f->v->plural, "workloads") != 0 ||
	    !(obj = selected_whole(b)))
		return 0;
	snprintf(label, sizeof(label), "Scale workload %s (now %lld) to: ",
	    json_str_at(obj, "metadata", "name") ?: "?",
	    json_int_at(obj, "spec", "replicas", 0));
	if ((r = prompt(b, label, text, sizeof(text), 0)) != 0)
		return r == BR_KEY_END ? r : 0;
	n = strtol(text, &end, 10);
	if (!text[0] || *end)
		snprintf(b->msg, sizeof(b->msg), "scale cancelled: \"%s\" is "
		    "not a number", text);
	else if ((r = conn(b, &err)) < 0 ||
	    (r = cact_scale(b->cc, obj, n, &err)) < 0)
		snprintf(b->msg, sizeof(b->msg), "scale refused: %s",
		    err ? err : bw_strerror(r));
	else
		snprintf(b->msg, sizeof(b->msg), "workload %s scaled to %ld",
		    json_str_at(obj, "metadata", "name") ?: "?", n);
	read_list(b, f);
	return 0;
}

/* Ctrl-D: deletes the selected object once its name is typed back;
 * anything else (another text, Esc, an empty line) cancels. */
static int
delete(struct browser *b)
{
	struct frame		*f = top(b);
	json_t			*obj = lview_selected(&f->lv);
	_cleanup_free_ char	*err = NULL;
	const char		*name;
	char			 label[200], text[80] = "";
	int			 r;

	if (!obj || !may_write(b, f) ||
	    !(name = json_str_at(obj, "metadata", "name")))
		return 0;
	snprintf(label, sizeof(label), "Delete %s %s? Type its name to "
	    "confirm: ", f->v->name, name);
	if ((r = prompt(b, label, text, sizeof(text), 0)) == BR_KEY_END)
		return r;
	if (r != 0 || strcmp(text, name) != 0)
		snprintf(b->msg, sizeof(b->msg), "delete cancelled: the name "
		    "was not typed back");
	else if ((r = conn(b, &err)) < 0 ||
	    (r = cact_delete(b->cc, obj, f->v->plural, &err)) < 0)
		snprintf(b->msg, sizeof(b->msg), "delete refused: %s",
		    err ? err : bw_strerror(r));
	else
		snprintf(b->msg, sizeof(b->msg), "%s %s deleted", f->v->name,
		    name);
	read_list(b, f);
	return 0;
}

/* `f` in the audit browser: the server-side search. */
static int
search(struct browser *b)
{
	struct frame	*f = top(b);
	char		 text[CFILTER_TEXT_MAX];
	int		 r;

	if (f->type != FR_LIST || f->v->type != CVIEW_AUDIT)
		return 0;
	snprintf(text, sizeof(text), "%s", f->search);
	if ((r = prompt(b, "search: ", text, sizeof(text), 0)) != 0)
		return r == BR_KEY_END ? r : 0;
	snprintf(f->search, sizeof(f->search), "%s", text);
	b->msg[0] = '\0';
	read_list(b, f);
	return 0;
}

/* Moves in a list or a describe. Returns 1 when KEY was one. */
static int
move_key(struct frame *f, int c)
{
	long	h = rows_h(), d;

	switch (c) {
	case KEY_UP: case 'k': d = -1; break;
	case KEY_DOWN: case 'j': d = 1; break;
	case KEY_PPAGE: d = -h; break;
	case KEY_NPAGE: case ' ': d = h; break;
	case 'g': case KEY_HOME: d = -(1L << 30); break;
	case 'G': case KEY_END: d = 1L << 30; break;
	default: return 0;
	}
	if (f->type == FR_DESC)
		cdesc_scroll(&f->d, d, (int)h);
	else if (f->type == FR_LIST)
		lview_move(&f->lv, d, (int)h - 1);
	return 1;
}

/* Acts on key C; returns BR_KEY_QUIT to log out, BR_KEY_END when the
 * session ended meanwhile, else 0. */
static int
key(struct browser *b, int c)
{
	struct frame *f = top(b);

	if (move_key(f, c))
		return 0;
	if (c == ':')
		return command(b);
	if (c == '?')
		help(b);
	else if (c == KEY_ESC && f->type == FR_LIST && f->lv.filter_text[0])
		lview_filter(&f->lv, "", NULL);
	else if (c == KEY_ESC)
		pop(b);
	else if (c == 'r')
		refresh_frame(b, f, 1);
	else if (f->type != FR_LIST)
		return 0;
	else if (c == '/')
		return filter_prompt(b);
	else if (c == 'd' || c == '\r' || c == '\n' || c == KEY_ENTER)
		describe(b);
	else if (c >= '1' && c <= '0' + LV_COLS_MAX)
		lview_sort(&f->lv, c - '1', f->lv.sort_col == c - '1' &&
		    !f->lv.sort_desc);
	else if (c == 's')
		return scale(b);
	else if (c == KEY_CTRL_D)
		return delete(b);
	else if (c == 'f')
		return search(b);
	return 0;
}

int
browser_run(const struct browser_env *env)
{
	struct browser	b = { .env = env };
	int		c = BR_KEY_REDRAW, out = 0, r = 0;

	push(&b, FR_DASH, cmdline_find("dashboard"), "dashboard");
	read_whoami(&b);
	for (;;) {
		refresh_frame(&b, top(&b), c == BR_KEY_REDRAW);
		bg_collect(&b);
		draw(&b);
		refresh();
		tick(&b);
		c = env->wait(env->arg);
		if (c == BR_KEY_END)
			break;
		if (c == BR_KEY_TICK || c == BR_KEY_REDRAW)
			continue;
		b.msg[0] = '\0';
		if (c == 'q' || (r = key(&b, c)) == BR_KEY_QUIT) {
			out = 1;
			break;
		}
		if (r == BR_KEY_END)
			break;
		if ((c == 'l' || c == 'L') && (c = env->lock(env->arg)) ==
		    BR_KEY_END)
			break;
	}
	while (b.depth > 1)
		pop(&b);
	cbg_free(b.bg);
	tui_tick(0);
	client_conn_close(b.cc);
	json_decref(b.me);
	dash_clear(&b.dash);
	return out;
}
