/* The dashboard's data: what the first screen after login shows, read
 * through the API with the client library (nodes by phase and
 * attestation, tenants, workloads, instances by phase, the audit
 * trail's health, the latest compliance scan by family), and the text
 * of each panel. Reading and summarising are apart so the summaries
 * are tested without a server. */
#ifndef BW_CONSOLE_DASHBOARD_H
#define BW_CONSOLE_DASHBOARD_H

#include <stddef.h>

#include <jansson.h>

struct client_conf;
typedef struct ssl_ctx_st SSL_CTX;

#define DASH_VALUES	8
#define DASH_LINES	16
#define DASH_LINE_MAX	128

/* Counts of the distinct values of one field (the first DASH_VALUES
 * values seen; the rest are counted in OTHER). */
struct dash_counts {
	int	total;
	int	n;
	struct {
		char	name[24];
		int	count;
	} v[DASH_VALUES];
	int	other;
};

enum dash_panel_id {
	DASH_NODES, DASH_TENANTS, DASH_WORKLOADS, DASH_INSTANCES, DASH_AUDIT,
	DASH_COMPLIANCE, DASH_PANELS
};

struct dash_panel {
	const char	*title;
	int		 n;
	char		 line[DASH_LINES][DASH_LINE_MAX];
};

struct dash {
	struct dash_panel	panel[DASH_PANELS];
	/* the lists of the last read ({"items": [...]}; NULL when not
	 * read), owned: free with dash_clear() */
	json_t			*list[DASH_PANELS];
	char			read_at[40];	/* RFC 3339 time of the read */
	char			principal[160];	/* "NAME (ROLE, tenant T)" */
};

/* Counts ITEMS (an array of objects) by the string at OBJ.A.B (B may be
 * NULL); an absent value counts as DFLT. */
void dash_count(const json_t *items, const char *a, const char *b,
    const char *dflt, struct dash_counts *ret);

/* Formats COUNTS as "name n, name n, ..." into BUF. */
void dash_counts_str(const struct dash_counts *c, char *buf, size_t len);

/* Fills panel ID of D from the API's answer DOC (a list, /healthz or
 * the compliance summary) or, when DOC is NULL, from the error ERR. */
void dash_fill(struct dash *d, enum dash_panel_id id, const json_t *doc,
    const char *err);

/* Reads every panel through CONF, with the TLS context CTX (its client
 * certificate; NULL: CONF's files). A panel the principal may not read
 * or that failed says so; the rest still fill. Returns 0, or a negative
 * error when the server could not be reached at all. */
int dash_read(const struct client_conf *conf, SSL_CTX *ctx, struct dash *d,
    char **ret_err);

/* The list at API PATH ("/v1/instances") that the last dash_read()
 * read whole, borrowed from D, or NULL. */
const json_t *dash_list(const struct dash *d, const char *path);

/* Frees the lists D keeps. */
void dash_clear(struct dash *d);

#endif
