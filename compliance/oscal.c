/* OSCAL assessment-results and POA&M from a scan. The shapes follow the
 * OSCAL 1.1.3 JSON schemas shipped in compliance/data/schemas; the unit
 * and integration tests validate the output against them. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "lib/buf.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "compliance/oscal.h"
#include "compliance/oscal-plan.h"
#include "compliance/ssp.h"

static json_t *
comp_prop(const char *name, const char *value)
{
	return json_pack("{s:s, s:s, s:s}", "name", name, "ns", COMP_OSCAL_NS,
	    "value", value);
}

/* Appends V to array A, taking ownership; NULL V means out of memory. */
static int
comp_push(json_t *a, json_t *v)
{
	if (!v || json_array_append_new(a, v) < 0)
		return -ENOMEM;
	return 0;
}

static int
comp_metadata(const char *title, const struct comp_oscal_opts *o,
    json_t **ret)
{
	struct timespec now;
	char ts[64];

	clock_gettime(CLOCK_REALTIME, &now);
	bw_time_rfc3339_ms(ts, sizeof(ts), &now);
	*ret = json_pack("{s:s, s:s, s:s, s:s}", "title", title,
	    "last-modified", ts, "version",
	    o && o->doc_version ? o->doc_version : "1.0",
	    "oscal-version", COMP_OSCAL_VERSION);
	return *ret ? 0 : -ENOMEM;
}

/* Evidence refs: files become absolute URI references (the collector's
 * mark a "collector:" one), facts become fragments naming the fact. */
static json_t *
comp_evidence_json(const struct comp_evidence *e)
{
	_cleanup_free_ char *href = NULL, *desc = NULL;
	json_t *j;

	if (!strncmp(e->ref, "fact:", 5) || !strncmp(e->ref, "openssl:", 8)) {
		bool fact = e->ref[0] == 'f';
		char u[37];

		/* A back-matter resource of the document names it
		 * (comp_evidence_resources()). */
		if (comp_ssp_uuid(fact ? e->ref : "openssl", u) < 0 ||
		    asprintf(&href, "#%s", u) < 0 ||
		    asprintf(&desc, fact ? "Appliance-reported fact %s" :
		    "Cryptographic library %s", e->ref + (fact ? 5 : 8)) < 0)
			return NULL;
	} else {
		/* Paths are plain: spaces and '%' are the only bytes a
		 * relative reference cannot carry as is. */
		size_t i, n = 0;

		if (!(href = malloc(strlen(e->ref) * 3 + 1)))
			return NULL;
		for (i = 0; e->ref[i]; i++) {
			unsigned char c = (unsigned char)e->ref[i];

			if (c <= ' ' || c == '%' || c >= 0x7f || c == '"' ||
			    c == '#' || c == '?' || c == '\\') {
				snprintf(href + n, 4, "%%%02X", c);
				n += 3;
			} else
				href[n++] = (char)c;
		}
		href[n] = '\0';
		/* "collector:bulwark-collect euid 0" (compliance/
		 * collect.c): which process read the host's files. */
		if (!strncmp(e->ref, "collector:", 10) ? asprintf(&desc,
		    "Host files read by the privileged collector %s",
		    e->ref + 10) < 0 : asprintf(&desc, "%s %s", e->sha256[0] ?
		    "File" : "File system object", e->ref) < 0)
			return NULL;
	}
	j = json_pack("{s:s, s:s}", "href", href, "description", desc);
	if (j && e->sha256[0] && json_object_set_new(j, "props",
	    json_pack("[o]", comp_prop("sha256", e->sha256))) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Adds to the document ROOT a back-matter resource for each "#uuid"
 * evidence href of OBSERVATIONS, so every such href resolves there. */
static int
comp_evidence_resources(json_t *root, const json_t *observations)
{
	_cleanup_json_ json_t	*res = json_array(), *seen = json_object();
	const json_t		*o, *e;
	size_t			 i, j;

	if (!res || !seen)
		return -ENOMEM;
	json_array_foreach(observations, i, o)
		json_array_foreach(json_object_get(o, "relevant-evidence"), j, e) {
			const char *href = json_string_value(json_object_get(e, "href"));
			const char *desc = json_string_value(json_object_get(e,
			    "description"));

			if (!href || href[0] != '#' || json_object_get(seen, href + 1))
				continue;
			if (json_object_set_new(seen, href + 1, json_true()) < 0 ||
			    comp_push(res, json_pack("{s:s, s:s, s:s}", "uuid", href + 1,
			    "title", desc ? desc : href + 1, "description", "State "
			    "the appliance reports about itself when the scan runs; "
			    "the observation's remarks give the value found.")) < 0)
				return -ENOMEM;
		}
	if (json_array_size(res) == 0)
		return 0;
	return json_object_set_new(root, "back-matter", json_pack("{s:O}",
	    "resources", res)) < 0 ? -ENOMEM : 0;
}

/* One observation per check result; *ret_uuid receives its uuid. */
static json_t *
comp_observation(const struct comp_result *r, char uuid[37])
{
	_cleanup_json_ json_t *o = NULL;
	json_t *ev, *props;
	_cleanup_(bw_buf_done) struct bw_buf remarks = { 0 };
	_cleanup_free_ char *desc = NULL;
	char ts[64];
	size_t i;

	if (bw_uuid_v4(uuid) < 0)
		return NULL;
	bw_time_rfc3339_ms(ts, sizeof(ts), &r->start);
	if (asprintf(&desc, "%s Verdict: %s.", r->check->description,
	    comp_verdict_str(r->verdict)) < 0)
		return NULL;
	for (i = 0; i < r->n_obs; i++) {
		const struct comp_obs *ob = &r->obs[i];

		if (bw_buf_appendf(&remarks, "- [%s] %s: found %s; required %s\n",
		    ob->ok ? "ok" : "not ok", ob->subject ? ob->subject : "-",
		    ob->found, ob->required ? ob->required : "-") < 0)
			return NULL;
	}
	if (r->error && bw_buf_appendf(&remarks, "- error: %s\n",
	    r->error) < 0)
		return NULL;
	props = json_pack("[o, o]", comp_prop("check-id", r->check->id),
	    comp_prop("verdict", comp_verdict_str(r->verdict)));
	o = json_pack("{s:s, s:s, s:s, s:o, s:[s], s:[s], s:s}",
	    "uuid", uuid, "title", r->check->title, "description", desc,
	    "props", props, "methods", comp_check_method(r->check), "types",
	    "control-objective", "collected", ts);
	if (!o)
		return NULL;
	if (remarks.len && json_object_set_new(o, "remarks",
	    json_string(remarks.p)) < 0)
		return NULL;
	if (r->n_ev) {
		if (!(ev = json_array()) ||
		    json_object_set_new(o, "relevant-evidence", ev) < 0)
			return NULL;
		for (i = 0; i < r->n_ev; i++)
			if (comp_push(ev, comp_evidence_json(&r->ev[i])) < 0)
				return NULL;
	}
	return TAKE_PTR(o);
}

/* Distinct controls covered by the scan's checks, in registry order,
 * restricted to BASE. Entries point into check tables. */
static int
comp_scan_controls(const struct comp_scan *scan,
    const struct comp_baseline *base, const char ***ret, size_t *ret_n)
{
	const char **ids = NULL;
	size_t n = 0, i, j, k;

	for (i = 0; i < scan->n; i++) {
		const struct comp_check *c = scan->results[i]->check;

		for (j = 0; c->controls[j]; j++) {
			const char **p;
			bool dup = false;

			if (base && !comp_baseline_contains(base,
			    c->controls[j]))
				continue;
			for (k = 0; k < n && !dup; k++)
				dup = !strcmp(ids[k], c->controls[j]);
			if (dup)
				continue;
			if (!(p = reallocarray(ids, n + 1, sizeof(*ids)))) {
				free(ids);
				return -ENOMEM;
			}
			ids = p;
			ids[n++] = c->controls[j];
		}
	}
	*ret = ids;
	*ret_n = n;
	return 0;
}

/* Says on finding F when the evidence behind it was collected: the
 * start of the oldest check result covering CTL, since a finding is as
 * old as its oldest evidence. */
static int
comp_finding_collected(json_t *f, const struct comp_control *ctl,
    const struct comp_scan *scan)
{
	const struct timespec *oldest = NULL;
	char ts[64];

	for (size_t i = 0; i < scan->n; i++) {
		const struct comp_result *r = scan->results[i];

		if (comp_check_covers(r->check, ctl->id) && (!oldest ||
		    r->start.tv_sec < oldest->tv_sec || (r->start.tv_sec ==
		    oldest->tv_sec && r->start.tv_nsec < oldest->tv_nsec)))
			oldest = &r->start;
	}
	if (!oldest)
		return 0;
	bw_time_rfc3339_ms(ts, sizeof(ts), oldest);
	return json_object_set_new(f, "props", json_pack("[o]",
	    comp_prop("collected", ts))) < 0 ? -ENOMEM : 0;
}

static json_t *
comp_finding(const struct comp_control *ctl, int verdict,
    const struct comp_scan *scan, char (*obs_uuid)[37], bool only_failing)
{
	_cleanup_free_ char *title = NULL, *desc = NULL, *target = NULL;
	json_t *f, *rel, *status;
	char uuid[37];
	size_t i;

	if (bw_uuid_v4(uuid) < 0)
		return NULL;
	if (asprintf(&title, "%s %s", ctl->label ? ctl->label : ctl->id,
	    ctl->title) < 0 ||
	    asprintf(&desc, "Automated determination for %s from %s.",
	    ctl->id, verdict == COMP_NOT_APPLICABLE ?
	    "checks that found it not applicable to this system" :
	    "the related observations") < 0 ||
	    asprintf(&target, "%s_smt", ctl->id) < 0)
		return NULL;
	if (verdict == COMP_SATISFIED)
		status = json_pack("{s:s, s:s}", "state", "satisfied",
		    "reason", "pass");
	else if (verdict == COMP_NOT_APPLICABLE)
		status = json_pack("{s:s, s:s, s:s}", "state", "satisfied",
		    "reason", "other", "remarks", "Not applicable: the "
		    "checks found nothing on this system to which the "
		    "control applies.");
	else
		status = json_pack("{s:s, s:s}", "state", "not-satisfied",
		    "reason", "fail");
	f = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:o}}", "uuid", uuid,
	    "title", title, "description", desc, "target", "type",
	    "statement-id", "target-id", target, "status", status);
	if (!f)
		return NULL;
	if (verdict == COMP_NOT_APPLICABLE &&
	    json_object_set_new(json_object_get(f, "target"),
	    "implementation-status", json_pack("{s:s}", "state",
	    "not-applicable")) < 0)
		goto fail;
	if (!(rel = json_array()) ||
	    json_object_set_new(f, "related-observations", rel) < 0)
		goto fail;
	for (i = 0; i < scan->n; i++) {
		const struct comp_result *r = scan->results[i];

		if (!comp_check_covers(r->check, ctl->id))
			continue;
		if (only_failing && (r->verdict == COMP_SATISFIED ||
		    r->verdict == COMP_NOT_APPLICABLE))
			continue;
		if (comp_push(rel, json_pack("{s:s}", "observation-uuid",
		    obs_uuid[i])) < 0)
			goto fail;
	}
	if (json_array_size(rel) == 0)
		json_object_del(f, "related-observations");
	if (comp_finding_collected(f, ctl, scan) < 0)
		goto fail;
	return f;
fail:
	json_decref(f);
	return NULL;
}

static int
comp_need_control(const struct comp_catalog *cat, const char *id,
    const struct comp_control **ret, char **ret_err)
{
	const struct comp_control *c = comp_catalog_find(cat, id);

	if (!c || c->withdrawn || !c->has_statement)
		return errf(-BW_E_INVALID, ret_err, "control \"%s\" is not an "
		    "active control with a statement in catalog \"%s\"", id,
		    comp_catalog_title(cat));
	*ret = c;
	return 0;
}

int
comp_oscal_assessment_results(const struct comp_scan *scan,
    const struct comp_catalog *cat, const struct comp_baseline *base,
    const struct comp_oscal_opts *opts, json_t **ret, char **ret_err)
{
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ const char **ids = NULL;
	_cleanup_free_ char (*obs_uuid)[37] = NULL;
	_cleanup_free_ char *title = NULL, *rdesc = NULL;
	json_t *meta, *result, *sel, *observations, *findings;
	char uuid[37], ruuid[37], start[64], end[64];
	size_t n_ids, i;
	int r;

	if ((r = comp_scan_controls(scan, base, &ids, &n_ids)) < 0)
		return r;
	if (asprintf(&title, "Bulwark automated assessment%s%s",
	    base ? ": " : "", base ? comp_baseline_title(base) : "") < 0) {
		title = NULL;
		return -ENOMEM;
	}
	if (asprintf(&rdesc, "Automated checks of %s against NIST SP 800-53 "
	    "rev 5 (%s): %zu checks evidencing %zu controls.",
	    opts && opts->system_name ? opts->system_name : "the appliance",
	    comp_catalog_version(cat), scan->n, n_ids) < 0) {
		rdesc = NULL;
		return -ENOMEM;
	}
	if ((r = comp_metadata(title, opts, &meta)) < 0)
		return r;
	if ((r = bw_uuid_v4(uuid)) < 0 || (r = bw_uuid_v4(ruuid)) < 0) {
		json_decref(meta);
		return r;
	}
	bw_time_rfc3339_ms(start, sizeof(start), &scan->start);
	bw_time_rfc3339_ms(end, sizeof(end), &scan->end);
	doc = json_pack("{s:{s:s, s:o, s:{s:s}, s:[]}}", "assessment-results",
	    "uuid", uuid, "metadata", meta, "import-ap", "href",
	    opts && opts->import_ap ? opts->import_ap : COMP_AP_JSON_NAME,
	    "results");
	if (!doc)
		return -ENOMEM;
	sel = json_array();
	observations = json_array();
	findings = json_array();
	result = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:[{s:o}]}, s:o, "
	    "s:o}", "uuid", ruuid, "title", "Automated control checks",
	    "description", rdesc, "start", start, "end", end,
	    "reviewed-controls", "control-selections", "include-controls",
	    sel, "observations", observations, "findings", findings);
	if (!result || json_array_append_new(json_object_get(json_object_get(
	    doc, "assessment-results"), "results"), result) < 0)
		return -ENOMEM;
	if (!(obs_uuid = calloc(scan->n ? scan->n : 1, sizeof(*obs_uuid))))
		return -ENOMEM;
	/* Each observation names the plan's task and platform that made
	 * it: the plan this document imports. */
	for (i = 0; i < scan->n; i++) {
		json_t *o = comp_observation(scan->results[i], obs_uuid[i]);

		if (comp_push(observations, o) < 0 ||
		    json_object_set_new(o, "origins", comp_ap_origins()) < 0)
			return -ENOMEM;
	}
	if ((r = comp_evidence_resources(json_object_get(doc,
	    "assessment-results"), observations)) < 0)
		return r;
	for (i = 0; i < n_ids; i++) {
		const struct comp_control *ctl;
		int v;

		if ((r = comp_need_control(cat, ids[i], &ctl, ret_err)) < 0)
			return r;
		v = comp_scan_control_verdict(scan, ctl->id);
		if (comp_push(sel, json_pack("{s:s}", "control-id",
		    ctl->id)) < 0 ||
		    comp_push(findings, comp_finding(ctl, v, scan, obs_uuid,
		    false)) < 0)
			return -ENOMEM;
	}
	if (n_ids == 0) {
		/* include-controls needs an item; an empty scan reviewed
		 * none, which the description states. */
		json_object_del(json_object_get(result, "reviewed-controls"),
		    "control-selections");
		json_object_set_new(json_object_get(result, "reviewed-controls"),
		    "control-selections", json_pack("[{s:s}]", "description",
		    "No controls were reviewed."));
		json_object_del(result, "findings");
	}
	if (scan->n == 0)
		json_object_del(result, "observations");
	*ret = TAKE_PTR(doc);
	return 0;
}

/* What the steps of comp_oscal_poam() share: its inputs and the arrays
 * of the document they fill (borrowed from it). */
struct poam_ctx {
	const struct comp_scan		*scan;
	const struct comp_catalog	*cat;
	const struct comp_baseline	*base;
	json_t				*root, *observations, *risks;
	json_t				*findings, *items;
	char				(*obs_uuid)[37];
	char				 deadline[64];
};

/* The POA&M document with its metadata and empty arrays into *RET_DOC;
 * P notes its parts. */
static int
poam_skeleton(const struct comp_baseline *base,
    const struct comp_oscal_opts *opts, struct poam_ctx *p, json_t **ret_doc)
{
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *title = NULL;
	json_t *meta;
	char uuid[37];
	int r;

	if (asprintf(&title, "Bulwark plan of action and milestones%s%s",
	    base ? ": " : "", base ? comp_baseline_title(base) : "") < 0) {
		title = NULL;
		return -ENOMEM;
	}
	if ((r = comp_metadata(title, opts, &meta)) < 0)
		return r;
	if ((r = bw_uuid_v4(uuid)) < 0) {
		json_decref(meta);
		return r;
	}
	doc = json_pack("{s:{s:s, s:o, s:[]}}", "plan-of-action-and-milestones",
	    "uuid", uuid, "metadata", meta, "poam-items");
	if (!doc)
		return -ENOMEM;
	p->root = json_object_get(doc, "plan-of-action-and-milestones");
	p->items = json_object_get(p->root, "poam-items");
	if (opts && opts->import_ssp && json_object_set_new(p->root,
	    "import-ssp", json_pack("{s:s}", "href", opts->import_ssp)) < 0)
		return -ENOMEM;
	if (opts && opts->system_id && json_object_set_new(p->root, "system-id",
	    json_pack("{s:s, s:s}", "identifier-type",
	    "https://ietf.org/rfc/rfc4122", "id", opts->system_id)) < 0)
		return -ENOMEM;
	p->observations = json_array();
	p->risks = json_array();
	p->findings = json_array();
	if (!p->observations || !p->risks || !p->findings ||
	    json_object_set_new(p->root, "observations", p->observations) < 0 ||
	    json_object_set_new(p->root, "risks", p->risks) < 0 ||
	    json_object_set_new(p->root, "findings", p->findings) < 0)
		return -ENOMEM;
	*ret_doc = TAKE_PTR(doc);
	return 0;
}

/* Whether RES needs a plan: it failed, on a control of the baseline
 * when there is one. */
static bool
poam_wanted(const struct comp_result *res, const struct comp_baseline *base)
{
	bool in = false;

	if (res->verdict == COMP_SATISFIED ||
	    res->verdict == COMP_NOT_APPLICABLE)
		return false;
	if (!base)
		return true;
	for (size_t j = 0; res->check->controls[j] && !in; j++)
		in = comp_baseline_contains(base, res->check->controls[j]);
	return in;
}

/* A finding for each control (of the baseline) that check result I
 * evidences, linked from ITEM. */
static int
poam_item_findings(struct poam_ctx *p, size_t i, json_t *item,
    char **ret_err)
{
	const struct comp_result *res = p->scan->results[i];
	json_t *rf;
	int r;

	if (!(rf = json_array()) ||
	    json_object_set_new(item, "related-findings", rf) < 0)
		return -ENOMEM;
	for (size_t j = 0; res->check->controls[j]; j++) {
		const struct comp_control *ctl;
		json_t *f;

		if (p->base && !comp_baseline_contains(p->base,
		    res->check->controls[j]))
			continue;
		if ((r = comp_need_control(p->cat, res->check->controls[j],
		    &ctl, ret_err)) < 0)
			return r;
		f = comp_finding(ctl, COMP_NOT_SATISFIED, p->scan,
		    p->obs_uuid, true);
		if (!f)
			return -ENOMEM;
		/* Only this item's observation is linked: others
		 * may not be in this document. */
		json_object_set_new(f, "related-observations",
		    json_pack("[{s:s}]", "observation-uuid",
		    p->obs_uuid[i]));
		if (comp_push(rf, json_pack("{s:s}", "finding-uuid",
		    json_string_value(json_object_get(f, "uuid")))) < 0 ||
		    comp_push(p->findings, f) < 0)
			return -ENOMEM;
	}
	if (json_array_size(rf) == 0)
		json_object_del(item, "related-findings");
	return 0;
}

/* The observation, risk, POA&M item and findings for failed check
 * result I. */
static int
poam_item(struct poam_ctx *p, size_t i, char **ret_err)
{
	const struct comp_result *res = p->scan->results[i];
	_cleanup_free_ char *it = NULL, *stmt = NULL;
	json_t *item;
	char ruuid[37], iuuid[37];
	int r;

	if (comp_push(p->observations, comp_observation(res,
	    p->obs_uuid[i])) < 0)
		return -ENOMEM;
	if ((r = bw_uuid_v4(ruuid)) < 0 ||
	    (r = bw_uuid_v4(iuuid)) < 0)
		return r;
	if (asprintf(&it, "%s not satisfied", res->check->title) < 0 ||
	    asprintf(&stmt, "Requirement: %s. The automated check "
	    "%s found it not met; see the related observation for "
	    "what was found and what is required.",
	    res->check->description, res->check->id) < 0)
		return -ENOMEM;
	if (comp_push(p->risks, json_pack("{s:s, s:s, s:s, s:s, s:s, "
	    "s:s, s:[{s:s}]}", "uuid", ruuid, "title", it,
	    "description", res->check->description, "statement", stmt,
	    "status", "open", "deadline", p->deadline,
	    "related-observations", "observation-uuid",
	    p->obs_uuid[i])) < 0)
		return -ENOMEM;
	item = json_pack("{s:s, s:s, s:s, s:[o], s:[{s:s}], "
	    "s:[{s:s}]}", "uuid", iuuid, "title", it, "description",
	    stmt, "props", comp_prop("check-id", res->check->id),
	    "related-observations", "observation-uuid", p->obs_uuid[i],
	    "related-risks", "risk-uuid", ruuid);
	if (comp_push(p->items, item) < 0)
		return -ENOMEM;
	return poam_item_findings(p, i, item, ret_err);
}

int
comp_oscal_poam(const struct comp_scan *scan, const struct comp_catalog *cat,
    const struct comp_baseline *base, const struct comp_oscal_opts *opts,
    json_t **ret, char **ret_err)
{
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char (*obs_uuid)[37] = NULL;
	struct poam_ctx p = { .scan = scan, .cat = cat, .base = base };
	struct timespec dl;
	size_t i, failing = 0;
	int r;

	if ((r = poam_skeleton(base, opts, &p, &doc)) < 0)
		return r;
	if (!(obs_uuid = calloc(scan->n ? scan->n : 1, sizeof(*obs_uuid))))
		return -ENOMEM;
	p.obs_uuid = obs_uuid;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += (time_t)(opts && opts->deadline_days > 0 ?
	    opts->deadline_days : 30) * 86400;
	dl.tv_nsec = 0;
	bw_time_rfc3339_ms(p.deadline, sizeof(p.deadline), &dl);
	for (i = 0; i < scan->n; i++) {
		if (!poam_wanted(scan->results[i], base))
			continue;
		failing++;
		if ((r = poam_item(&p, i, ret_err)) < 0)
			return r;
	}
	/* OSCAL requires at least one poam-item. */
	if (failing == 0)
		return errf(-BW_E_NOTFOUND, ret_err, "no check failed: "
		    "nothing to plan");
	if ((r = comp_evidence_resources(p.root, p.observations)) < 0)
		return r;
	if (json_array_size(p.findings) == 0)
		json_object_del(p.root, "findings");
	*ret = TAKE_PTR(doc);
	return 0;
}

int
comp_oscal_write(const json_t *doc, int dirfd, const char *path, mode_t mode)
{
	_cleanup_free_ char *s = json_dumps(doc, JSON_INDENT(1) |
	    JSON_PRESERVE_ORDER);
	_cleanup_free_ char *nl = NULL;

	if (!s)
		return -ENOMEM;
	if (asprintf(&nl, "%s\n", s) < 0) {
		nl = NULL;
		return -ENOMEM;
	}
	return write_file_atomic_at(dirfd, path, nl, strlen(nl), mode);
}

/* The value of Bulwark property NAME in OBJ's props, or NULL. */
static const char *
comp_prop_get(const json_t *obj, const char *name)
{
	const json_t *p;
	size_t i;

	json_array_foreach(json_object_get(obj, "props"), i, p)
		if (!strcmp(json_string_value(json_object_get(p, "name")) ?: "",
		    name) && !strcmp(json_string_value(json_object_get(p,
		    "ns")) ?: "", COMP_OSCAL_NS))
			return json_string_value(json_object_get(p, "value"));
	return NULL;
}

/* Marks OBJ fresh or stale by the age of COLLECTED at NOW; appends
 * "LABEL (collected COLLECTED)" to STALE when stale. An unreadable time
 * counts as stale: its age cannot be shown. */
static int
comp_mark_one(json_t *obj, const char *label, const char *collected,
    time_t now, long max_age_s, json_t *stale)
{
	_cleanup_free_ char *what = NULL;
	json_t *props = json_object_get(obj, "props");
	time_t t;
	bool old;

	old = !collected || bw_time_parse(collected, &t) < 0 ||
	    now - t > max_age_s;
	if (!props && (!(props = json_array()) ||
	    json_object_set_new(obj, "props", props) < 0))
		return -ENOMEM;
	if (comp_push(props, comp_prop("freshness", old ? "stale" : "fresh")) < 0)
		return -ENOMEM;
	if (!old)
		return 0;
	if (asprintf(&what, "%s (collected %s)", label, collected ?
	    collected : "at an unknown time") < 0) {
		what = NULL;
		return -ENOMEM;
	}
	return comp_push(stale, json_string(what));
}

int
comp_oscal_mark_stale(json_t *ar, time_t now, long max_age_s,
    json_t **ret_stale)
{
	_cleanup_json_ json_t *stale = json_array();
	json_t *res, *o, *f;
	size_t i, j;
	int r;

	if (!stale)
		return -ENOMEM;
	json_array_foreach(json_object_get(json_object_get(ar,
	    "assessment-results"), "results"), i, res) {
		/* Findings first: a refusal names them before the
		 * observations behind them. */
		json_array_foreach(json_object_get(res, "findings"), j, f) {
			_cleanup_free_ char *label = NULL;

			if (asprintf(&label, "finding %s", json_string_value(
			    json_object_get(f, "title")) ?: "?") < 0) {
				label = NULL;
				return -ENOMEM;
			}
			if ((r = comp_mark_one(f, label, comp_prop_get(f,
			    "collected"), now, max_age_s, stale)) < 0)
				return r;
		}
		json_array_foreach(json_object_get(res, "observations"), j, o) {
			_cleanup_free_ char *label = NULL;

			if (asprintf(&label, "observation %s", comp_prop_get(o,
			    "check-id") ?: json_string_value(json_object_get(o,
			    "title")) ?: "?") < 0) {
				label = NULL;
				return -ENOMEM;
			}
			if ((r = comp_mark_one(o, label, json_string_value(
			    json_object_get(o, "collected")), now, max_age_s,
			    stale)) < 0)
				return r;
		}
	}
	*ret_stale = TAKE_PTR(stale);
	return 0;
}

json_t *
comp_oscal_prop(const char *name, const char *value)
{
	return comp_prop(name, value);
}

int
comp_oscal_push(json_t *a, json_t *v)
{
	if (!a) {
		json_decref(v);
		return -ENOMEM;
	}
	return comp_push(a, v);
}
