/* Configuration management (CM) checks. */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/err.h"
#include "lib/macro.h"
#include "compliance/checks/checks.h"
#include "hardening/baseline.h"

COMP_CHECK_FN(comp_chk_cm_config_baseline)
{
	int r = comp_manifest_verify(ctx, res, ctx->policy->config_manifest);

	return r < 0 ? r : comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_cm_sysctl_baseline)
{
	int r = comp_baseline_expect(ctx, res, "cm-sysctl-baseline");

	return r < 0 ? r : comp_verdict_from_obs(res);
}

static int
comp_need_dpkg(struct comp_ctx *ctx, struct comp_result *res,
    const struct comp_pkg **pkgs, size_t *n)
{
	int r = comp_dpkg(ctx, res, pkgs, n);

	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		*pkgs = NULL;
		*n = 0;
		return comp_obs_add(res, false, "/var/lib/dpkg/status",
		    "readable package database", "unreadable (%s)",
		    bw_strerror(r));
	}
	return 0;
}

/* Observes every installed package whose name matches one of PATTERNS
 * (fnmatch) as a failure expected to be EACH, then the count (expected
 * TOTAL, counted as NOUN). */
static int
comp_pkgs_absent(struct comp_ctx *ctx, struct comp_result *res,
    const char *const *patterns, const char *each, const char *total,
    const char *noun)
{
	const char *const *pat;
	const struct comp_pkg *pkgs;
	size_t n, i, bad = 0, inst = 0;
	int r;

	if ((r = comp_need_dpkg(ctx, res, &pkgs, &n)) < 0)
		return r;
	if (!pkgs)
		return COMP_NOT_SATISFIED;
	for (i = 0; i < n; i++) {
		if (!pkgs[i].installed)
			continue;
		inst++;
		for (pat = patterns; pat && *pat; pat++)
			if (fnmatch(*pat, pkgs[i].name, 0) == 0) {
				bad++;
				if ((r = comp_obs_add(res, false,
				    "installed packages", each,
				    "%s %s installed (matches %s)",
				    pkgs[i].name, pkgs[i].version, *pat)) < 0)
					return r;
				break;
			}
	}
	if ((r = comp_obs_add(res, bad == 0, "installed packages", total,
	    "%zu installed, %zu %s", inst, bad, noun)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_cm_prohibited_software)
{
	return comp_pkgs_absent(ctx, res, ctx->policy->forbidden_packages,
	    "none matching the prohibited list", "no prohibited package",
	    "prohibited");
}

/* The mounts of the running system, or of an offline root its fstab;
 * which mounts and options come from the host baseline. */
COMP_CHECK_FN(comp_chk_cm_noexec_mounts)
{
	const char *tab = comp_root_offline(ctx) ? "etc/fstab" : "proc/mounts";
	_cleanup_free_ char *buf = NULL;
	const struct hb_item *items;
	size_t n, i;
	int r;

	if ((r = comp_read_need(ctx, res, tab, NULL, "readable", &buf)) < 0)
		return r;
	if (!buf)
		return COMP_NOT_SATISFIED;
	items = hb_items(&n);
	for (i = 0; i < n; i++) {
		_cleanup_free_ char *found = NULL, *want = NULL;

		if (strcmp(items[i].check, "cm-noexec-mounts"))
			continue;
		if ((r = hb_item_eval(&items[i], buf, &found)) < 0 ||
		    !(want = hb_item_want(&items[i])) ||
		    (r = comp_obs_add(res, r == 1, items[i].key, want, "%s",
		    found)) < 0)
			return r < 0 ? r : -ENOMEM;
	}
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_cm_signed_images)
{
	int r = comp_fact_yes(res, "image_signatures_required",
	    ctx->facts->image_signatures_required);

	return r < 0 ? r : comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_cm_inventory)
{
	const struct comp_pkg *pkgs;
	_cleanup_free_ char *allow = NULL;
	char *pats[4096];
	size_t n, i, np = 0, inst = 0, broken = 0, unauth = 0;
	char *p;
	int r;

	if ((r = comp_need_dpkg(ctx, res, &pkgs, &n)) < 0)
		return r;
	if (!pkgs)
		return COMP_NOT_SATISFIED;
	r = comp_read(ctx, res, ctx->policy->packages_allow, &allow, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0 && (r = comp_obs_add(res, false,
	    ctx->policy->packages_allow, "an authorised package list",
	    "unreadable (%s)", bw_strerror(r))) < 0)
		return r;
	for (p = allow; p && *p && np < ELEMENTSOF(pats);) {
		char *nl = strchr(p, '\n');

		if (nl)
			*nl = '\0';
		p += strspn(p, " \t");
		if (*p && *p != '#')
			pats[np++] = p;
		p = nl ? nl + 1 : NULL;
	}
	for (i = 0; i < n; i++) {
		const char *st = strrchr(pkgs[i].status, ' ');
		size_t j;
		bool ok = false;

		st = st ? st + 1 : pkgs[i].status;
		if (strcmp(st, "installed") && strcmp(st, "not-installed") &&
		    strcmp(st, "config-files")) {
			broken++;
			if ((r = comp_obs_add(res, false, pkgs[i].name,
			    "installed or removed", "%s", pkgs[i].status)) < 0)
				return r;
		}
		if (!pkgs[i].installed)
			continue;
		inst++;
		for (j = 0; j < np && !ok; j++)
			ok = fnmatch(pats[j], pkgs[i].name, 0) == 0;
		if (!ok && allow) {
			unauth++;
			if ((r = comp_obs_add(res, false, pkgs[i].name,
			    "on the authorised package list", "%s %s not "
			    "authorised", pkgs[i].name, pkgs[i].version)) < 0)
				return r;
		}
	}
	if ((r = comp_obs_add(res, inst > 0 && broken == 0 && unauth == 0,
	    "package inventory", "consistent, all authorised",
	    "%zu installed, %zu in a broken state, %zu unauthorised", inst,
	    broken, unauth)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_cm_system_dirs)
{
	int r = comp_baseline_expect(ctx, res, "cm-system-dirs");

	return r < 0 ? r : comp_verdict_from_obs(res);
}

/* The observation of a store holding every previous version there has
 * been, fewer than MIN: it satisfies CM-2(3) only when its retention
 * (the changes its log keeps) could hold MIN of them, so that the
 * versions to come are kept too; no version at all is said as such, so
 * that an assessor sees the claim is about the retention alone. */
static int
comp_history_whole_obs(const struct comp_facts *f, struct comp_result *res,
    long min)
{
	bool ok = f->config_retention >= min;
	char req[128], found[160], kept[48];

	snprintf(req, sizeof(req), ">= %ld, or every previous version there "
	    "has been and a retention of >= %ld changes", min, min);
	if (f->config_retention < 0)
		snprintf(kept, sizeof(kept), "retention unknown");
	else
		snprintf(kept, sizeof(kept), "retention %ld changes",
		    f->config_retention);
	if (ok && f->config_revisions == 0)
		snprintf(found, sizeof(found), "satisfied: no previous "
		    "versions yet; %s", kept);
	else
		snprintf(found, sizeof(found), "%d: every previous version "
		    "there has been (nothing compacted); %s",
		    f->config_revisions, kept);
	return comp_fact_obs(res, "config_revisions", ok, req, found);
}

/* CM-2(3) asks that previous versions be retained, at least the
 * policy's number of them. A fresh appliance has changed few objects,
 * so fewer versions exist than that number: it satisfies the control
 * when it still holds every one there has been (its change log was
 * never compacted) and its retention can keep the minimum, and the
 * count is reported as it is. Once a version has been compacted away,
 * at least the minimum must be held. Nothing is invented: a version
 * that does not exist is not counted. */
COMP_CHECK_FN(comp_chk_cm_config_history)
{
	const struct comp_facts *f = ctx->facts;
	long min = ctx->policy->config_revisions_min;
	int r;

	if (f->config_revisions >= 0 && f->config_revisions < min &&
	    f->config_history_whole == COMP_YES)
		r = comp_history_whole_obs(f, res, min);
	else
		r = comp_fact_range(res, "config_revisions",
		    f->config_revisions, min, 1000000000);
	return r < 0 ? r : comp_verdict_from_obs(res);
}

/* CM-3: a change to the appliance configuration file changes PCR 13,
 * so the sealed secrets no longer unseal and the daemon refuses to
 * start until an administrator re-seals for the new file, an action
 * recorded with who and why; store changes (the rest of the
 * configuration) pass the role check and are recorded before they take
 * effect. */
COMP_CHECK_FN(comp_chk_cm_change_control)
{
	const struct comp_facts *f = ctx->facts;
	int r;

	if ((r = comp_fact_yes(res, "config_sealed", f->config_sealed)) < 0 ||
	    (r = comp_fact_yes(res, "rbac", f->rbac)) < 0 ||
	    (r = comp_fact_yes(res, "separation_of_duties",
	    f->separation_of_duties)) < 0 ||
	    (r = comp_fact_yes(res, "audit_fail_closed",
	    f->audit_fail_closed)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_cm_p2p_software)
{
	return comp_pkgs_absent(ctx, res, ctx->policy->p2p_packages,
	    "no peer-to-peer file sharing software",
	    "no peer-to-peer file sharing software", "peer-to-peer");
}
