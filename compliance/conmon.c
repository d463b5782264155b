/* ConMon package documents. They are built from stored records, not
 * from a new scan: the package reports what happened during the month,
 * and each scan it lists also has its compliance.scan audit record in
 * the package's audit segments. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/conmon.h"
#include "audit/verify.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/macro.h"

int
conmon_month_parse(const char *month, time_t *ret_since, time_t *ret_until,
    char **ret_err)
{
	struct tm	tm = { 0 };
	int		y, m, used = 0;
	time_t		since, next;

	if (!month || sscanf(month, "%4d-%2d%n", &y, &m, &used) != 2 ||
	    used != 7 || strlen(month) != 7 || month[4] != '-' ||
	    y < 1970 || y > 9999 || m < 1 || m > 12)
		return errf(-BW_E_INVALID, ret_err, "month: must be YYYY-MM, "
		    "like 2026-12");
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = 1;
	since = timegm(&tm);
	tm.tm_year = m == 12 ? y + 1 - 1900 : y - 1900;
	tm.tm_mon = m == 12 ? 0 : m;
	next = timegm(&tm);
	*ret_since = since;
	*ret_until = next - 1;
	return 0;
}

static const char *
conmon_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The ids of the checks of scan document SCAN that are not satisfied
 * (not-satisfied or error), as a new array. */
static json_t *
conmon_failing(const json_t *scan)
{
	json_t	*out = json_array(), *r;
	size_t	 i;

	if (!out)
		return NULL;
	json_array_foreach(json_object_get(scan, "results"), i, r) {
		const char *v = conmon_str(r, "verdict");

		if (v && (!strcmp(v, "not-satisfied") || !strcmp(v, "error")) &&
		    json_array_append_new(out, json_string(conmon_str(r,
		    "check") ?: "?")) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static bool
conmon_has(const json_t *arr, const char *s)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(arr, i, v)
		if (!strcmp(json_string_value(v) ?: "", s))
			return true;
	return false;
}

int
conmon_scan_summary(const char *month, json_t *const *scans, size_t n,
    json_t **ret)
{
	static const char *const verdicts[] = { "satisfied", "not-satisfied",
		"not-applicable", "error", "manual" };
	_cleanup_json_ json_t	*doc = NULL;
	json_t			*list, *tot;
	size_t			 i, k;

	doc = json_pack("{s:s, s:s, s:[], s:{s:I}}", "format",
	    "bulwark-conmon-scan-summary", "month", month, "scans", "totals",
	    "scans", (json_int_t)n);
	if (!doc)
		return -ENOMEM;
	list = json_object_get(doc, "scans");
	tot = json_object_get(doc, "totals");
	for (i = 0; i < n; i++) {
		json_t *t = json_object_get(json_object_get(scans[i], "summary"),
		    "total");
		json_t *fail = conmon_failing(scans[i]);
		json_t *e;

		e = json_pack("{s:s?, s:s?, s:O?, s:o*}", "time",
		    conmon_str(scans[i], "time"), "baseline",
		    conmon_str(scans[i], "baseline"), "checks",
		    json_object_get(scans[i], "checks"), "not-satisfied-checks",
		    fail);
		if (!e || json_array_append_new(list, e) < 0)
			return -ENOMEM;
		for (k = 0; k < ELEMENTSOF(verdicts); k++) {
			json_int_t c = json_integer_value(json_object_get(t,
			    verdicts[k]));

			if (json_object_set_new(e, verdicts[k], json_integer(c)) < 0 ||
			    json_object_set_new(tot, verdicts[k], json_integer(
			    json_integer_value(json_object_get(tot, verdicts[k])) +
			    c)) < 0)
				return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(doc);
	return 0;
}

/* Appends to CHANGES what differs between the failing sets PREV and
 * CUR at scan SCAN: opened items are in CUR only, closed ones in PREV
 * only. */
static int
conmon_diff(json_t *changes, const json_t *scan, const json_t *prev,
    const json_t *cur)
{
	const struct {
		const json_t	*from, *not_in;
		const char	*change;
	} sides[] = { { cur, prev, "opened" }, { prev, cur, "closed" } };
	const json_t	*v;
	size_t		 i, s;

	for (s = 0; s < ELEMENTSOF(sides); s++)
		json_array_foreach(sides[s].from, i, v) {
			if (conmon_has(sides[s].not_in, json_string_value(v)))
				continue;
			if (json_array_append_new(changes, json_pack("{s:s?, s:s?, "
			    "s:O, s:s}", "time", conmon_str(scan, "time"),
			    "baseline", conmon_str(scan, "baseline"), "check", v,
			    "change", sides[s].change)) < 0)
				return -ENOMEM;
		}
	return 0;
}

int
conmon_poam_changes(const char *month, json_t *const *scans, size_t n,
    json_t *const *prior, size_t nprior, json_t **ret)
{
	_cleanup_json_ json_t	*doc = NULL, *last = json_object();
	json_t			*changes, *open, *v;
	const char		*bl;
	size_t			 i;

	doc = json_pack("{s:s, s:s, s:[], s:{}}", "format",
	    "bulwark-conmon-poam-changes", "month", month, "changes",
	    "open-at-end");
	if (!doc || !last)
		return -ENOMEM;
	changes = json_object_get(doc, "changes");
	open = json_object_get(doc, "open-at-end");
	/* Each baseline's failing set before the month: the items already
	 * open when it began. */
	for (i = 0; i < nprior; i++)
		if ((bl = conmon_str(prior[i], "baseline")) &&
		    json_object_set_new(last, bl, conmon_failing(prior[i])) < 0)
			return -ENOMEM;
	for (i = 0; i < n; i++) {
		_cleanup_json_ json_t *cur = conmon_failing(scans[i]);
		_cleanup_json_ json_t *none = json_array();
		const json_t *prev;

		if (!cur || !none || !(bl = conmon_str(scans[i], "baseline")))
			continue;
		prev = json_object_get(last, bl);
		if (conmon_diff(changes, scans[i], prev ? prev : none, cur) < 0 ||
		    json_object_set(last, bl, cur) < 0)
			return -ENOMEM;
	}
	json_object_foreach(last, bl, v)
		if (json_object_set(open, bl, v) < 0)
			return -ENOMEM;
	*ret = TAKE_PTR(doc);
	return 0;
}

/* What the inventory keeps of each kind's objects: dotted paths into the
 * stored document. */
static const struct {
	const char	*section;
	const char	*fields[6];
} inventory_fields[] = {
	{ "nodes", { "status.phase", "status.attestation", "status.tpm.kind",
	  "spec.address", NULL } },
	{ "images", { "spec.digest", "spec.type", "spec.format", "spec.signer",
	  NULL } },
	{ "principals", { "spec.role", "spec.serial", "spec.not_after",
	  "status.state", NULL } },
};

static const json_t *
conmon_path(const json_t *o, const char *path)
{
	char	key[64];
	size_t	len;

	while (o && *path) {
		len = strcspn(path, ".");
		if (len >= sizeof(key))
			return NULL;
		memcpy(key, path, len);
		key[len] = '\0';
		o = json_object_get(o, key);
		path += len + (path[len] == '.');
	}
	return o;
}

static int
conmon_section(json_t *out, size_t which, const json_t *objs)
{
	json_t	*list = json_array(), *o;
	size_t	 i, k;

	if (!list || json_object_set_new(out, inventory_fields[which].section,
	    list) < 0)
		return -ENOMEM;
	json_array_foreach(objs, i, o) {
		const json_t *md = json_object_get(o, "metadata");
		json_t *e = json_pack("{s:s?, s:s?, s:s?}", "name",
		    conmon_str(md, "name"), "tenant", conmon_str(md, "tenant"),
		    "created", conmon_str(md, "created"));

		if (!e || json_array_append_new(list, e) < 0)
			return -ENOMEM;
		for (k = 0; inventory_fields[which].fields[k]; k++) {
			const char *f = inventory_fields[which].fields[k];
			const json_t *v = conmon_path(o, f);

			if (v && json_object_set(e, strrchr(f, '.') + 1,
			    (json_t *)v) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

int
conmon_inventory(const json_t *nodes, const json_t *images,
    const json_t *principals, time_t now, json_t **ret)
{
	const json_t		*in[] = { nodes, images, principals };
	_cleanup_json_ json_t	*doc = NULL;
	char			 ts[32];
	int			 r;

	bw_time_rfc3339_at(ts, sizeof(ts), now);
	if (!(doc = json_pack("{s:s, s:s}", "format", "bulwark-conmon-inventory",
	    "taken", ts)))
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(in); i++)
		if ((r = conmon_section(doc, i, in[i])) < 0)
			return r;
	*ret = TAKE_PTR(doc);
	return 0;
}

json_t *
conmon_trail_verified(int r, const struct audit_verify_report *rep)
{
	if (r < 0)
		return json_pack("{s:b, s:s}", "intact", 0, "error",
		    bw_strerror(r));
	return json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:s?, s:s?}", "intact",
	    rep->damage == AUDIT_OK, "damage", audit_damage_name(rep->damage),
	    "records", (json_int_t)rep->records, "checkpoints",
	    (json_int_t)rep->checkpoints, "first-seq",
	    (json_int_t)rep->first_seq, "last-seq", (json_int_t)rep->last_seq,
	    "head-hash", rep->head_hash, "message", rep->message);
}
