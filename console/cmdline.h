/* The console's `:` command line: the table of views a person can go
 * to by name or alias (k9s-like: `:instances` or `:in`), what each
 * reads from the API and the columns it shows. */
#ifndef BW_CONSOLE_CMDLINE_H
#define BW_CONSOLE_CMDLINE_H

#include <stddef.h>

#include "console/list-view.h"

enum cview_type {
	CVIEW_DASHBOARD,	/* the first screen */
	CVIEW_LIST,		/* a paged API list (?limit=&continue=) */
	CVIEW_DOC,		/* an array inside one document */
	CVIEW_AUDIT,		/* the audit trail search (auditor) */
	CVIEW_QUIT,		/* log out */
};

struct cview {
	const char		*name;		/* "instances" */
	const char		*alias;		/* "in" (may be NULL) */
	enum cview_type		 type;
	const char		*path;		/* "/v1/instances" */
	const char		*items_key;	/* the array in the document */
	/* the resource plural of whoami's "may" lists (NULL: none) */
	const char		*plural;
	const struct lv_col	*cols;
	size_t			 ncols;
};

/* The view named by the command TEXT (a name, an alias or a unique
 * prefix of a name; spaces around are ignored), or NULL. */
const struct cview *cmdline_find(const char *text);

/* The table, for the help screen and the documentation. */
const struct cview *cmdline_views(size_t *ret_n);

#endif
