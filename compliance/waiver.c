/* Waivers in the assessment results and the POA&M. The documents are
 * amended after compliance/oscal.c built them, reading what they already say
 * (finding targets, observation props check-id and verdict), so the
 * OSCAL shapes of a scan stay in one place and a waiver only adds
 * risks, links and log entries (OSCAL 1.1.3 risk, risk-log,
 * characterization, response/task). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "compliance/oscal.h"
#include "compliance/waiver.h"

/* Most waivers one finding can need: one per failing check. */
#define WV_COVER_MAX	16

int
comp_waiver_parse(json_t *doc, struct comp_waiver *ret, char **ret_err)
{
	struct comp_waiver	 w = { 0 };
	const char		*exp;

	w.name = json_str_at(doc, "metadata", "name");
	w.control = json_str_at(doc, "spec", "control");
	w.check = json_str_at(doc, "spec", "check");
	w.justification = json_str_at(doc, "spec", "justification");
	w.scope = json_str_at(doc, "spec", "scope");
	w.requested_by = json_str_at(doc, "status", "requested_by");
	w.requested_at = json_str_at(doc, "status", "requested_at");
	w.approved_by = json_str_at(doc, "status", "approved_by");
	w.approved_at = json_str_at(doc, "status", "approved_at");
	w.expired_at = json_str_at(doc, "status", "expired_at");
	exp = json_str_at(doc, "spec", "expires");
	if (!w.name || !w.justification || !w.requested_by ||
	    !w.requested_at || !w.control == !w.check)
		return errf(-BW_E_INVALID, ret_err, "waiver %s: needs a name, "
		    "one of control and check, a justification and its "
		    "requester", w.name ? w.name : "(unnamed)");
	if (!exp || bw_time_parse(exp, &w.expires) < 0)
		return errf(-BW_E_INVALID, ret_err, "waiver %s: spec.expires: "
		    "not a UTC time", w.name);
	if (bw_time_parse(w.requested_at, &w.requested) < 0)
		return errf(-BW_E_INVALID, ret_err, "waiver %s: "
		    "status.requested_at: not a UTC time", w.name);
	if (!w.approved_by != !w.approved_at)
		return errf(-BW_E_INVALID, ret_err, "waiver %s: an approval "
		    "needs both approver and time", w.name);
	w.doc = json_incref(doc);
	*ret = w;
	return 0;
}

void
comp_waiver_done(struct comp_waiver *w)
{
	if (!w)
		return;
	json_decref(w->doc);
	w->doc = NULL;
}

void
comp_waivers_free(struct comp_waiver *w, size_t n)
{
	for (size_t i = 0; w && i < n; i++)
		comp_waiver_done(&w[i]);
	free(w);
}

bool
comp_waiver_in_force(const struct comp_waiver *w, time_t now)
{
	/* Beyond the longest life (an expiry set when there was no limit,
	 * or written past the endpoints) hides no finding. */
	return w->approved_by && now < w->expires &&
	    comp_waiver_lifetime_ok(w->requested, w->expires) &&
	    (!w->scope || strcmp(w->scope, "appliance") == 0);
}

bool
comp_waiver_lifetime_ok(time_t requested, time_t expires)
{
	return expires - requested <= COMP_WAIVER_MAX_S;
}

unsigned
comp_waiver_backoff(unsigned prev)
{
	if (prev < COMP_WAIVER_RETRY_MIN_S)
		return COMP_WAIVER_RETRY_MIN_S;
	return prev >= COMP_WAIVER_RETRY_MAX_S / 2 ? COMP_WAIVER_RETRY_MAX_S :
	    prev * 2;
}

long
comp_waiver_timer_delay(time_t next, time_t now, time_t retry_at,
    long recheck)
{
	long d = recheck;

	if (next && next - now < recheck)
		d = next > now ? (long)(next - now) : 0;
	if (retry_at > now && d < retry_at - now)
		d = (long)(retry_at - now);
	return d;
}

/* Which waivers wv_find() looks at. */
enum wv_want {
	WV_IN_FORCE,	/* approved, unexpired, on the appliance */
	WV_LIVE,	/* unexpired, whatever its approval and scope */
	WV_NAMED,	/* any, whatever its state */
};

/* The first waiver of W naming control (CONTROL true) or check ID. */
static const struct comp_waiver *
wv_find(const struct comp_waiver *w, size_t n, bool control, const char *id,
    enum wv_want want, time_t now)
{
	for (size_t i = 0; id && i < n; i++) {
		const char *t = control ? w[i].control : w[i].check;

		if (!t || strcmp(t, id) != 0)
			continue;
		if (want == WV_NAMED || (want == WV_LIVE && now < w[i].expires) ||
		    comp_waiver_in_force(&w[i], now))
			return &w[i];
	}
	return NULL;
}

/* The array at KEY of O, made when absent (borrowed), or NULL. */
static json_t *
wv_array(json_t *o, const char *key)
{
	json_t *a = json_object_get(o, key);

	if (json_is_array(a))
		return a;
	if (!(a = json_array()) || json_object_set_new(o, key, a) < 0)
		return NULL;
	return a;
}

/* The uuid of the party (a person) NAME in metadata META, added when it
 * is not there yet, into UUID. */
static int
wv_party(json_t *meta, const char *name, char uuid[37])
{
	json_t	*parties = wv_array(meta, "parties"), *p;
	size_t	 i;
	int	 r;

	json_array_foreach(parties, i, p)
		if (json_is_string(json_object_get(p, "name")) &&
		    strcmp(json_string_value(json_object_get(p, "name")),
		    name) == 0) {
			snprintf(uuid, 37, "%s", json_string_value(
			    json_object_get(p, "uuid")));
			return 0;
		}
	if ((r = bw_uuid_v4(uuid)) < 0)
		return r;
	return comp_oscal_push(parties, json_pack("{s:s, s:s, s:s}", "uuid", uuid,
	    "type", "person", "name", name));
}

/* One risk-log entry at time START ("" when unknown: none is made). */
static int
wv_log_entry(json_t *entries, json_t *meta, const char *title,
    const char *desc, const char *start, const char *who, const char *change)
{
	json_t	*e;
	char	 uuid[37], party[37];
	int	 r;

	if (!start || !*start)
		return 0;
	if ((r = bw_uuid_v4(uuid)) < 0)
		return r;
	e = json_pack("{s:s, s:s, s:s, s:s, s:s}", "uuid", uuid, "title", title,
	    "description", desc, "start", start, "status-change", change);
	if (!e)
		return -ENOMEM;
	if (who && ((r = wv_party(meta, who, party)) < 0 ||
	    json_object_set_new(e, "logged-by", json_pack("[{s:s}]",
	    "party-uuid", party)) < 0)) {
		json_decref(e);
		return r < 0 ? r : -ENOMEM;
	}
	return comp_oscal_push(entries, e);
}

/* RISK's risk-log, props, deadline and (approved) characterization
 * from waiver W at NOW; requester and approver become parties of META. */
static int
wv_risk_annotate(json_t *risk, json_t *meta, const struct comp_waiver *w,
    time_t now)
{
	_cleanup_free_ char *d1 = NULL, *d2 = NULL, *d3 = NULL;
	json_t	*entries = json_array(), *props;
	char	 exp[64], party[37];
	int	 r;

	bw_time_rfc3339_at(exp, sizeof(exp), w->expires);
	if (!entries || json_object_set_new(risk, "risk-log",
	    json_pack("{s:o}", "entries", entries)) < 0)
		return -ENOMEM;
	if (asprintf(&d1, "Waiver %s, requested by %s, asks to accept this "
	    "risk until %s.", w->name, w->requested_by, exp) < 0 ||
	    asprintf(&d2, "Security auditor %s approved waiver %s until %s.",
	    w->approved_by ? w->approved_by : "-", w->name, exp) < 0 ||
	    asprintf(&d3, "Waiver %s expired at %s: the risk is open again.",
	    w->name, exp) < 0)
		return -ENOMEM;
	if ((r = wv_log_entry(entries, meta, "Deviation requested", d1,
	    w->requested_at, w->requested_by, "deviation-requested")) < 0 ||
	    (r = wv_log_entry(entries, meta, "Deviation approved", d2,
	    w->approved_at, w->approved_by, "deviation-approved")) < 0 ||
	    (r = wv_log_entry(entries, meta, "Deviation expired", d3,
	    now >= w->expires ? exp : NULL, NULL, "open")) < 0)
		return r;
	props = wv_array(risk, "props");
	if (comp_oscal_push(props, comp_oscal_prop("waiver", w->name)) < 0 ||
	    comp_oscal_push(props, comp_oscal_prop("waiver-requested-by",
	    w->requested_by)) < 0 ||
	    (w->approved_by && comp_oscal_push(props, comp_oscal_prop("waiver-approver",
	    w->approved_by)) < 0) ||
	    comp_oscal_push(props, comp_oscal_prop("waiver-expires", exp)) < 0 ||
	    comp_oscal_push(props, comp_oscal_prop("waiver-scope", w->scope ? w->scope :
	    "appliance")) < 0)
		return -ENOMEM;
	if (!comp_waiver_in_force(w, now))
		return 0;
	if ((r = wv_party(meta, w->approved_by, party)) < 0)
		return r;
	if (json_object_set_new(risk, "deadline", json_string(exp)) < 0 ||
	    json_object_set_new(risk, "characterizations", json_pack(
	    "[{s:{s:[{s:s, s:s}]}, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}]}]",
	    "origin", "actors", "type", "party", "actor-uuid", party,
	    "facets", "name", "risk-acceptance", "system", COMP_OSCAL_NS,
	    "value", "accepted", "name", "waiver", "system", COMP_OSCAL_NS,
	    "value", w->name)) < 0)
		return -ENOMEM;
	return 0;
}

/* The uuid of result RESULT's risk for waiver W (made once per result;
 * MADE maps waiver names to their risks' uuids). */
static const char *
wv_ar_risk(json_t *meta, json_t *result, json_t *made,
    const struct comp_waiver *w, time_t now)
{
	_cleanup_free_ char *title = NULL, *desc = NULL;
	json_t	*risk;
	char	 uuid[37];

	if (json_object_get(made, w->name))
		return json_string_value(json_object_get(made, w->name));
	if (bw_uuid_v4(uuid) < 0 ||
	    asprintf(&title, "Risk accepted: %s %s not satisfied",
	    w->control ? "control" : "check", w->control ? w->control :
	    w->check) < 0 ||
	    asprintf(&desc, "The automated assessment found %s %s not "
	    "satisfied; waiver %s accepts the risk (deviation approved).",
	    w->control ? "control" : "check", w->control ? w->control :
	    w->check, w->name) < 0)
		return NULL;
	risk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "uuid", uuid, "title",
	    title, "description", desc, "statement", w->justification,
	    "status", "deviation-approved");
	if (comp_oscal_push(wv_array(result, "risks"), risk) < 0 ||
	    wv_risk_annotate(risk, meta, w, now) < 0 ||
	    json_object_set_new(made, w->name, json_string(uuid)) < 0)
		return NULL;
	return json_string_value(json_object_get(made, w->name));
}

/* The observation of OBSERVATIONS with uuid UUID, or NULL. */
static json_t *
wv_observation(json_t *observations, const char *uuid)
{
	json_t	*o;
	size_t	 i;

	json_array_foreach(observations, i, o)
		if (uuid && json_is_string(json_object_get(o, "uuid")) &&
		    strcmp(json_string_value(json_object_get(o, "uuid")),
		    uuid) == 0)
			return o;
	return NULL;
}

/* The value of prop NAME of O, or NULL. */
static const char *
wv_prop_value(json_t *o, const char *name)
{
	json_t	*p;
	size_t	 i;

	json_array_foreach(json_object_get(o, "props"), i, p)
		if (json_is_string(json_object_get(p, "name")) &&
		    strcmp(json_string_value(json_object_get(p, "name")),
		    name) == 0)
			return json_string_value(json_object_get(p, "value"));
	return NULL;
}

/* The waivers in force naming every failing check finding F relates to,
 * into COVER; 0 when one of them has none (or none failed). */
static size_t
wv_checks_cover(json_t *f, json_t *observations, const struct comp_waiver *w,
    size_t n, time_t now, const struct comp_waiver **cover)
{
	json_t	*ref;
	size_t	 i, k, nc = 0;

	json_array_foreach(json_object_get(f, "related-observations"), i, ref) {
		json_t			 *o = wv_observation(observations,
		    json_string_value(json_object_get(ref, "observation-uuid")));
		const char		 *v = wv_prop_value(o, "verdict");
		const struct comp_waiver *c;
		bool			  dup = false;

		if (!o || (v && (strcmp(v, "satisfied") == 0 ||
		    strcmp(v, "not-applicable") == 0)))
			continue;
		c = wv_find(w, n, false, wv_prop_value(o, "check-id"),
		    WV_IN_FORCE, now);
		if (!c)
			return 0;
		for (k = 0; k < nc && !dup; k++)
			dup = cover[k] == c;
		if (!dup && nc < WV_COVER_MAX)
			cover[nc++] = c;
	}
	return nc;
}

/* The control a finding targets ("ac-2" of "ac-2_smt") into BUF. */
static const char *
wv_target_control(json_t *f, char *buf, size_t len)
{
	const char *t = json_str_at(f, "target", "target-id");
	size_t n;

	if (!t)
		return NULL;
	n = strcspn(t, "_");
	if (n >= len)
		return NULL;
	memcpy(buf, t, n);
	buf[n] = '\0';
	return buf;
}

/* Finding F is covered by the NC waivers at COVER: link their risks and
 * say so in its status. */
static int
wv_ar_waive(json_t *meta, json_t *result, json_t *made, json_t *f,
    const struct comp_waiver **cover, size_t nc, time_t now)
{
	_cleanup_free_ char *remarks = NULL;
	json_t	*rr = wv_array(f, "related-risks");
	json_t	*status = json_object_get(json_object_get(f, "target"), "status");
	char	 exp[64];

	for (size_t k = 0; k < nc; k++) {
		const char *ru = wv_ar_risk(meta, result, made, cover[k], now);

		if (!ru || comp_oscal_push(rr, json_pack("{s:s}", "risk-uuid", ru)) < 0)
			return -ENOMEM;
	}
	bw_time_rfc3339_at(exp, sizeof(exp), cover[0]->expires);
	if (asprintf(&remarks, "Risk accepted: waiver %s%s, approved by %s, "
	    "until %s (deviation approved; see the related risk).",
	    cover[0]->name, nc > 1 ? " and others" : "", cover[0]->approved_by,
	    exp) < 0)
		return -ENOMEM;
	if (json_object_set_new(status, "remarks", json_string(remarks)) < 0 ||
	    comp_oscal_push(wv_array(f, "props"), comp_oscal_prop("waiver",
	    cover[0]->name)) < 0)
		return -ENOMEM;
	return 0;
}

static int
wv_ar_result(json_t *meta, json_t *result, const struct comp_waiver *w,
    size_t n, time_t now, size_t *waived)
{
	_cleanup_json_ json_t *made = json_object();
	json_t	*observations = json_object_get(result, "observations"), *f;
	size_t	 i;
	int	 r;

	if (!made)
		return -ENOMEM;
	json_array_foreach(json_object_get(result, "findings"), i, f) {
		const struct comp_waiver	*cover[WV_COVER_MAX];
		const char			*state = json_str_at(
		    json_object_get(f, "target"), "status", "state");
		char				 ctl[64];
		size_t				 nc = 0;

		if (!state || strcmp(state, "not-satisfied") != 0)
			continue;
		if ((cover[0] = wv_find(w, n, true, wv_target_control(f, ctl,
		    sizeof(ctl)), WV_IN_FORCE, now)))
			nc = 1;
		else
			nc = wv_checks_cover(f, observations, w, n, now, cover);
		if (nc == 0)
			continue;
		if ((r = wv_ar_waive(meta, result, made, f, cover, nc, now)) < 0)
			return r;
		(*waived)++;
	}
	return 0;
}

int
comp_waivers_apply_ar(json_t *ar, const struct comp_waiver *w, size_t n,
    time_t now, size_t *ret_waived)
{
	json_t	*root = json_object_get(ar, "assessment-results"), *result;
	json_t	*meta = json_object_get(root, "metadata");
	size_t	 i, waived = 0;
	int	 r;

	json_array_foreach(json_object_get(root, "results"), i, result)
		if (n && (r = wv_ar_result(meta, result, w, n, now,
		    &waived)) < 0)
			return r;
	if (ret_waived)
		*ret_waived = waived;
	return 0;
}

/* A milestone task due at DATE. */
static json_t *
wv_milestone(const char *title, const char *desc, const char *date)
{
	char uuid[37];

	if (bw_uuid_v4(uuid) < 0)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:{s:s}}}", "uuid", uuid,
	    "type", "milestone", "title", title, "description", desc,
	    "timing", "on-date", "date", date);
}

/* RISK's planned remediation for check CHECK, with its milestones: the
 * risk's deadline, and W's expiry when a waiver names it. */
static int
wv_remediation(json_t *risk, const char *check, const struct comp_waiver *w)
{
	_cleanup_free_ char *title = NULL, *desc = NULL, *wt = NULL;
	json_t	*tasks = json_array();
	const char *deadline = json_string_value(json_object_get(risk,
	    "deadline"));
	char	 uuid[37], exp[64];

	if (!tasks || bw_uuid_v4(uuid) < 0 ||
	    asprintf(&title, "Remediate %s", check) < 0 ||
	    asprintf(&desc, "Change the appliance so that check %s passes; "
	    "the next automated scan verifies it and closes the risk.",
	    check) < 0 ||
	    json_object_set_new(risk, "remediations", json_pack(
	    "[{s:s, s:s, s:s, s:s, s:o}]", "uuid", uuid, "lifecycle",
	    "planned", "title", title, "description", desc, "tasks",
	    tasks)) < 0)
		return -ENOMEM;
	if (deadline && comp_oscal_push(tasks, wv_milestone("Remediated and "
	    "verified by an automated scan", desc, deadline)) < 0)
		return -ENOMEM;
	if (w) {
		bw_time_rfc3339_at(exp, sizeof(exp), w->expires);
		if (asprintf(&wt, "Waiver %s ends: from then on the finding "
		    "counts as not satisfied again.", w->name) < 0 ||
		    comp_oscal_push(tasks, wv_milestone("Deviation ends", wt,
		    exp)) < 0)
			return -ENOMEM;
	}
	if (json_array_size(tasks) == 0)
		json_object_del(risk, "remediations");
	return 0;
}

/* The risk of POA&M item ITEM (its first related risk) in ROOT. */
static json_t *
wv_item_risk(json_t *root, json_t *item)
{
	json_t		*rr = json_array_get(json_object_get(item,
	    "related-risks"), 0), *risk;
	const char	*uuid = json_string_value(json_object_get(rr,
	    "risk-uuid"));
	size_t		 i;

	json_array_foreach(json_object_get(root, "risks"), i, risk)
		if (uuid && strcmp(json_string_value(json_object_get(risk,
		    "uuid")), uuid) == 0)
			return risk;
	return NULL;
}

/* The first of W naming check CHECK or control CONTROL (whichever is
 * not NULL): unexpired before expired. */
static const struct comp_waiver *
wv_named(const struct comp_waiver *w, size_t n, const char *check,
    const char *control, time_t now)
{
	bool			  ctl = control != NULL;
	const char		 *id = ctl ? control : check;
	const struct comp_waiver *c = wv_find(w, n, ctl, id, WV_LIVE, now);

	return c ? c : wv_find(w, n, ctl, id, WV_NAMED, now);
}

/* The waiver that speaks for ITEM of check CHECK: one in force naming
 * its check or one of its findings' controls before any other naming
 * them. *ret_all: the one in force covers the whole item (its check, or
 * the control of every finding). */
static const struct comp_waiver *
wv_item_waiver(json_t *root, json_t *item, const char *check,
    const struct comp_waiver *w, size_t n, time_t now, bool *ret_all)
{
	const struct comp_waiver *best = wv_find(w, n, false, check,
	    WV_IN_FORCE, now), *named = wv_named(w, n, check, NULL, now);
	json_t	*ref, *f;
	size_t	 i, j, covered = 0, total = 0;
	char	 ctl[64];

	*ret_all = best != NULL;
	if (best)
		return best;
	json_array_foreach(json_object_get(item, "related-findings"), i, ref)
		json_array_foreach(json_object_get(root, "findings"), j, f) {
			const struct comp_waiver *c;
			const char *fu = json_string_value(json_object_get(f,
			    "uuid"));
			const char *want = json_string_value(json_object_get(
			    ref, "finding-uuid"));

			if (!fu || !want || strcmp(fu, want) != 0)
				continue;
			total++;
			wv_target_control(f, ctl, sizeof(ctl));
			if ((c = wv_find(w, n, true, ctl, WV_IN_FORCE, now))) {
				covered++;
				best = best ? best : c;
			} else if (!named || now >= named->expires)
				named = wv_named(w, n, NULL, ctl, now) ?: named;
		}
	*ret_all = best && covered == total;
	return best ? best : named;
}

int
comp_waivers_apply_poam(json_t *poam, const struct comp_waiver *w,
    size_t n, time_t now)
{
	json_t	*root = json_object_get(poam, "plan-of-action-and-milestones");
	json_t	*meta = json_object_get(root, "metadata"), *item, *risk;
	size_t	 i;
	int	 r;

	json_array_foreach(json_object_get(root, "poam-items"), i, item) {
		const char			*check = wv_prop_value(item,
		    "check-id");
		const struct comp_waiver	*c;
		const char			*state;
		bool				 all;

		if (!check || !(risk = wv_item_risk(root, item)))
			continue;
		c = wv_item_waiver(root, item, check, w, n, now, &all);
		if ((r = wv_remediation(risk, check, c)) < 0)
			return r;
		if (!c)
			continue;
		if (comp_waiver_in_force(c, now))
			state = all ? "approved" : "partially-approved";
		else if (now >= c->expires)
			state = "expired";
		else
			state = c->approved_by ? "out-of-scope" : "requested";
		if ((r = wv_risk_annotate(risk, meta, c, now)) < 0)
			return r;
		/* Expired or scoped elsewhere: the risk stays open. */
		if ((strcmp(state, "approved") == 0 || strcmp(state,
		    "partially-approved") == 0 || strcmp(state, "requested") ==
		    0) && json_object_set_new(risk, "status", json_string(all ?
		    "deviation-approved" : "deviation-requested")) < 0)
			return -ENOMEM;
		if (comp_oscal_push(wv_array(item, "props"), comp_oscal_prop(
		    "deviation-request", c->name)) < 0 ||
		    comp_oscal_push(wv_array(item, "props"), comp_oscal_prop(
		    "deviation-status", state)) < 0)
			return -ENOMEM;
	}
	return 0;
}
