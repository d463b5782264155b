/* The dashboard's data; see dashboard.h. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client/client.h"
#include "console/cmdline.h"
#include "console/dashboard.h"
#include "console/fetch.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/json.h"

static const char *const panel_titles[DASH_PANELS] = {
	[DASH_NODES] = "Nodes",
	[DASH_TENANTS] = "Tenants",
	[DASH_WORKLOADS] = "Workloads",
	[DASH_INSTANCES] = "Instances",
	[DASH_AUDIT] = "Audit trail",
	[DASH_COMPLIANCE] = "Compliance",
};

void
dash_count(const json_t *items, const char *a, const char *b, const char *dflt,
    struct dash_counts *ret)
{
	size_t		 i;
	const json_t	*obj;
	const char	*v;
	int		 j;

	*ret = (struct dash_counts){ 0 };
	json_array_foreach(items, i, obj) {
		v = json_str_at(obj, a, b);
		if (!v || !*v)
			v = dflt;
		ret->total++;
		for (j = 0; j < ret->n; j++)
			if (strcmp(ret->v[j].name, v) == 0)
				break;
		if (j == ret->n) {
			if (ret->n == DASH_VALUES) {
				ret->other++;
				continue;
			}
			snprintf(ret->v[j].name, sizeof(ret->v[j].name), "%s", v);
			ret->n++;
		}
		ret->v[j].count++;
	}
}

void
dash_counts_str(const struct dash_counts *c, char *buf, size_t len)
{
	size_t	off = 0;
	int	j, w;

	buf[0] = '\0';
	for (j = 0; j < c->n && off < len; j++) {
		w = snprintf(buf + off, len - off, "%s%s %d", j ? ", " : "",
		    c->v[j].name, c->v[j].count);
		off += w > 0 ? (size_t)w : 0;
	}
	if (c->other && off < len)
		snprintf(buf + off, len - off, ", other %d", c->other);
	if (c->total == 0)
		snprintf(buf, len, "none");
}

static void _printf_(2, 3)
add_line(struct dash_panel *p, const char *fmt, ...)
{
	va_list ap;

	if (p->n == DASH_LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(p->line[p->n++], DASH_LINE_MAX, fmt, ap);
	va_end(ap);
}

static void
fill_list(struct dash_panel *p, enum dash_panel_id id, const json_t *items)
{
	struct dash_counts	 c;
	char			 s[DASH_LINE_MAX];
	size_t			 i;
	long long		 replicas = 0;

	switch (id) {
	case DASH_NODES:
		dash_count(items, "status", "phase", "Unknown", &c);
		add_line(p, "%d node%s", c.total, c.total == 1 ? "" : "s");
		dash_counts_str(&c, s, sizeof(s));
		add_line(p, "phase: %s", s);
		dash_count(items, "status", "attestation", "Unknown", &c);
		dash_counts_str(&c, s, sizeof(s));
		add_line(p, "attestation: %s", s);
		break;
	case DASH_TENANTS:
		dash_count(items, "metadata", "name", "?", &c);
		add_line(p, "%d tenant%s", c.total, c.total == 1 ? "" : "s");
		for (i = 0; i < (size_t)c.n; i++)
			add_line(p, "%s", c.v[i].name);
		if (c.other)
			add_line(p, "and %d more", c.other);
		break;
	case DASH_WORKLOADS:
		for (i = 0; i < json_array_size(items); i++)
			replicas += json_int_at(json_array_get(items, i), "spec",
			    "replicas", 0);
		dash_count(items, "spec", "type", "?", &c);
		add_line(p, "%d workload%s, %lld replica%s wanted", c.total,
		    c.total == 1 ? "" : "s", replicas, replicas == 1 ? "" : "s");
		dash_counts_str(&c, s, sizeof(s));
		add_line(p, "type: %s", s);
		break;
	default:
		dash_count(items, "status", "phase", "Pending", &c);
		add_line(p, "%d instance%s", c.total, c.total == 1 ? "" : "s");
		for (i = 0; i < (size_t)c.n; i++)
			add_line(p, "%-12s %d", c.v[i].name, c.v[i].count);
		if (c.other)
			add_line(p, "other        %d", c.other);
		break;
	}
}

static void
fill_audit(struct dash_panel *p, const json_t *doc)
{
	const json_t *a = json_object_get(doc, "audit");

	add_line(p, "appliance %s, store revision %lld",
	    json_str_at(doc, "status", NULL) ?: "?",
	    json_int_at(doc, "revision", NULL, 0));
	if (!a) {
		add_line(p, "trail health: not shown to this principal");
		return;
	}
	add_line(p, "trail %s, last record %lld",
	    json_is_true(json_object_get(a, "healthy")) ? "healthy" : "NOT HEALTHY",
	    json_int_at(doc, "audit", "last_seq", 0));
	add_line(p, "disk %.0f%% used%s",
	    json_real_value(json_object_get(a, "fs_used_pct")),
	    json_is_true(json_object_get(a, "capacity_warning")) ?
	    " (CAPACITY WARNING)" : "");
	add_line(p, "copies: libaudit %s, syslog %s",
	    json_is_true(json_object_get(a, "libaudit")) ? "yes" : "no",
	    json_is_true(json_object_get(a, "syslog")) ? "yes" : "no");
	add_line(p, "lost records %lld", json_int_at(doc, "audit", "lost_records", 0));
}

static void
fill_compliance(struct dash_panel *p, const json_t *doc)
{
	const json_t	*fam = json_object_get(json_object_get(doc, "summary"),
	    "families"), *f;
	const char	*name;
	int		 shown = 0;

	add_line(p, "%s baseline, scan %s",
	    json_str_at(doc, "baseline", NULL) ?: "?",
	    json_str_at(doc, "time", NULL) ?: "?");
	add_line(p, "satisfied %lld, not satisfied %lld",
	    json_int_at(json_object_get(doc, "summary"), "total", "satisfied", 0),
	    json_int_at(json_object_get(doc, "summary"), "total", "not-satisfied", 0));
	add_line(p, "not applicable %lld, manual %lld",
	    json_int_at(json_object_get(doc, "summary"), "total", "not-applicable", 0),
	    json_int_at(json_object_get(doc, "summary"), "total", "manual", 0));
	json_object_foreach((json_t *)fam, name, f) {
		long long bad = json_int_at(f, "not-satisfied", NULL, 0) +
		    json_int_at(f, "error", NULL, 0);

		if (bad == 0)
			continue;
		add_line(p, "%-3s %lld failing, %lld satisfied", name, bad,
		    json_int_at(f, "satisfied", NULL, 0));
		shown++;
	}
	if (!shown && fam)
		add_line(p, "no family has a failing control");
}

void
dash_fill(struct dash *d, enum dash_panel_id id, const json_t *doc,
    const char *err)
{
	struct dash_panel *p = &d->panel[id];

	*p = (struct dash_panel){ .title = panel_titles[id] };
	if (!doc) {
		add_line(p, "%s", err ? err : "not read");
		return;
	}
	if (id == DASH_AUDIT)
		fill_audit(p, doc);
	else if (id == DASH_COMPLIANCE)
		fill_compliance(p, doc);
	else
		fill_list(p, id, json_object_get(doc, "items"));
}

static const struct {
	enum dash_panel_id	 id;
	const char		*path;
	int			 list;
	const char		*counts;	/* the members fill_list() reads */
} dash_sources[] = {
	{ DASH_NODES, "/v1/nodes", 1, "status.phase,status.attestation" },
	{ DASH_TENANTS, "/v1/tenants", 1, "metadata.name" },
	{ DASH_WORKLOADS, "/v1/workloads", 1, "spec.type,spec.replicas" },
	{ DASH_INSTANCES, "/v1/instances", 1, "status.phase" },
	{ DASH_AUDIT, "/healthz", 0, NULL },
	{ DASH_COMPLIANCE, "/v1/compliance/results", 0, NULL },
};

/* What list source I is read with (?fields=): the members its panel
 * counts and those its list view shows, as a list opened from the
 * dashboard starts from this read. */
static int
source_fields(size_t i, char *buf, size_t len)
{
	const struct cview	*v;
	struct lview		 lv;
	size_t			 n, j, off;

	for (v = cmdline_views(&n), j = 0; j < n; j++)
		if (v[j].path && strcmp(v[j].path, dash_sources[i].path) == 0)
			break;
	if (j == n)
		return -BW_E_NOTFOUND;
	lview_init(&lv, v[j].cols, v[j].ncols);
	if (lview_fields(&lv, buf, len) < 0)
		return -ENOBUFS;
	off = strlen(buf);
	return (size_t)snprintf(buf + off, len - off, ",%s",
	    dash_sources[i].counts) < len - off ? 0 : -ENOBUFS;
}

const json_t *
dash_list(const struct dash *d, const char *path)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(dash_sources); i++)
		if (dash_sources[i].list && strcmp(dash_sources[i].path, path) == 0)
			return d->list[dash_sources[i].id];
	return NULL;
}

void
dash_clear(struct dash *d)
{
	size_t i;

	for (i = 0; i < DASH_PANELS; i++) {
		json_decref(d->list[i]);
		d->list[i] = NULL;
	}
}

int
dash_read(const struct client_conf *conf, SSL_CTX *ctx, struct dash *d,
    char **ret_err)
{
	/* short: the idle lock waits while a read blocks */
	struct client_conn_opts	 o = { .ctx = ctx, .timeout_s = 5,
	    .reconnect = 1 };
	struct client_conn	*cc = NULL;
	size_t			 i;
	int			 r;

	if ((r = client_conn_open_opts(conf, &o, &cc, ret_err)) < 0)
		return r;
	{
		_cleanup_json_ json_t	*me = NULL;
		char			 why[DASH_LINE_MAX] = "unknown";

		if ((r = cfetch_doc(cc, "/v1/whoami", &me, why, sizeof(why),
		    ret_err)) < 0) {
			client_conn_close(cc);
			return r;
		}
		if (me)
			snprintf(d->principal, sizeof(d->principal),
			    "%s (%s, tenant %s)",
			    json_str_at(me, "principal", NULL) ?: "?",
			    json_str_at(me, "role", NULL) ?: "?",
			    json_str_at(me, "tenant", NULL) ?: "?");
		else
			snprintf(d->principal, sizeof(d->principal), "%s", why);
	}
	for (i = 0; i < ELEMENTSOF(dash_sources); i++) {
		_cleanup_json_ json_t	*doc = NULL;
		char			 why[DASH_LINE_MAX] = "not read";
		char			 fields[512];

		r = dash_sources[i].list ? cfetch_list(cc, dash_sources[i].path,
		    source_fields(i, fields, sizeof(fields)) == 0 ? fields :
		    NULL, NULL, &doc, why, sizeof(why), ret_err) : cfetch_doc(cc,
		    dash_sources[i].path, &doc, why, sizeof(why), ret_err);
		if (r < 0)
			break;
		dash_fill(d, dash_sources[i].id, doc, why);
		/* kept: a list view opened now starts from it */
		json_decref(d->list[dash_sources[i].id]);
		d->list[dash_sources[i].id] = dash_sources[i].list ?
		    TAKE_PTR(doc) : NULL;
	}
	client_conn_close(cc);
	bw_time_rfc3339_at(d->read_at, sizeof(d->read_at), time(NULL));
	return r < 0 ? r : 0;
}
