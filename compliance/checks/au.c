/* Audit and accountability (AU) checks: auditd, its rules and settings,
 * and the appliance's own audit trail (facts). */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "lib/err.h"
#include "lib/macro.h"
#include "compliance/checks/checks.h"
#include "hardening/baseline.h"

#define AUDITD_CONF	"etc/audit/auditd.conf"

static int
comp_auditd_conf(struct comp_ctx *ctx, struct comp_result *res,
    char **ret_buf)
{
	return comp_read_need(ctx, res, AUDITD_CONF, "/" AUDITD_CONF,
	    "readable", ret_buf);
}

/* Observation: auditd.conf KEY is one of the '|'-separated ALLOWED
 * values (case-insensitive). */
static int
comp_auditd_expect(struct comp_result *res, const char *conf, const char *key,
    const char *allowed)
{
	_cleanup_free_ char *v = NULL;
	char subj[96];
	bool ok = false;

	snprintf(subj, sizeof(subj), "/" AUDITD_CONF " %s", key);
	if (comp_conf_get(conf, key, &v) == -ENOMEM)
		return -ENOMEM;
	if (v) {
		const char *a = allowed;

		while (*a && !ok) {
			size_t n = strcspn(a, "|");

			ok = strlen(v) == n && !strncasecmp(a, v, n);
			a += n + (a[n] == '|');
		}
	}
	return comp_obs_add(res, ok, subj, allowed, "%s", v ? v : "not set");
}

/* The concatenated audit rules: rules.d when present, else the compiled
 * audit.rules. */
static int
comp_audit_rules(struct comp_ctx *ctx, struct comp_result *res,
    char **ret_buf)
{
	_cleanup_free_ char *buf = NULL;
	int r;

	/* In the order augenrules loads them (`ls -1v`). */
	if ((r = comp_read_dir_concat_by(ctx, res, "etc/audit/rules.d",
	    ".rules", hb_rules_name_cmp, &buf)) < 0)
		return r;
	if (!*buf) {
		free(buf);
		buf = NULL;
		r = comp_read(ctx, res, "etc/audit/audit.rules", &buf, NULL);
		if (r == -ENOMEM)
			return r;
		if (r < 0 && !(buf = strdup("")))
			return -ENOMEM;
	}
	*ret_buf = TAKE_PTR(buf);
	return 0;
}

/* Adds an observation for each audit rule of the host baseline that
 * CHECK_ID reads (or the one item ITEM_ID when not NULL). */
static int
comp_rules_baseline(struct comp_result *res, const char *rules,
    const char *check_id, const char *item_id)
{
	const struct hb_item *items;
	size_t n, i;
	int r;

	items = hb_items(&n);
	for (i = 0; i < n; i++) {
		_cleanup_free_ char *want = NULL;
		bool ok;

		if (item_id ? strcmp(items[i].id, item_id) :
		    strcmp(items[i].check, check_id))
			continue;
		if (!(want = hb_item_want(&items[i])))
			return -ENOMEM;
		ok = hb_rules_match(&items[i], rules);
		if ((r = comp_obs_add(res, ok, "audit rules", want, "%s",
		    ok ? "rule present" : "no rule")) < 0)
			return r;
	}
	return 0;
}

COMP_CHECK_FN(comp_chk_au_auditd_running)
{
	_cleanup_free_ char *conf = NULL;
	bool run = comp_proc_running(ctx, "auditd");
	int r;

	if ((r = comp_evidence_add(res, "/proc/*/comm", NULL, 0)) < 0 ||
	    (r = comp_obs_add(res, run, "process auditd", "running", "%s",
	    run ? "running" : "not running")) < 0 ||
	    (r = comp_auditd_conf(ctx, res, &conf)) < 0 ||
	    (r = comp_fact_yes(res, "audit_active",
	    ctx->facts->audit_active)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_au_rules_events)
{
	_cleanup_free_ char *rules = NULL;
	int r;

	if ((r = comp_audit_rules(ctx, res, &rules)) < 0 ||
	    (r = comp_rules_baseline(res, rules, "au-rules-events",
	    NULL)) < 0 ||
	    (r = comp_rules_baseline(res, rules, "au-rules-identity",
	    NULL)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_au_rules_identity)
{
	_cleanup_free_ char *rules = NULL;
	int r;

	if ((r = comp_audit_rules(ctx, res, &rules)) < 0 ||
	    (r = comp_rules_baseline(res, rules, "au-rules-identity",
	    NULL)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_au_rules_privileged)
{
	_cleanup_free_ char *rules = NULL;
	int r;

	if ((r = comp_audit_rules(ctx, res, &rules)) < 0 ||
	    (r = comp_rules_baseline(res, rules, NULL,
	    "audit.privileged-exec")) < 0 ||
	    (r = comp_rules_baseline(res, rules, "au-rules-privileged",
	    NULL)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_au_rules_config)
{
	_cleanup_free_ char *rules = NULL;
	int r;

	if ((r = comp_audit_rules(ctx, res, &rules)) < 0 ||
	    (r = comp_rules_baseline(res, rules, "au-rules-config",
	    NULL)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_au_log_format)
{
	_cleanup_free_ char *conf = NULL;
	int r;

	if ((r = comp_auditd_conf(ctx, res, &conf)) < 0)
		return r;
	if (conf && ((r = comp_auditd_expect(res, conf, "log_format",
	    "ENRICHED")) < 0 ||
	    (r = comp_auditd_expect(res, conf, "name_format",
	    "hostname|fqd|numeric|user")) < 0))
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_au_capacity)
{
	_cleanup_free_ char *conf = NULL, *v = NULL;
	int r;

	if ((r = comp_auditd_conf(ctx, res, &conf)) < 0)
		return r;
	if (conf) {
		if (comp_conf_get(conf, "space_left", &v) == -ENOMEM)
			return -ENOMEM;
		if ((r = comp_obs_add(res, v && isdigit((unsigned char)*v) &&
		    strtol(v, NULL, 10) > 0, "/" AUDITD_CONF " space_left",
		    "> 0 (MB or %)", "%s", v ? v : "not set")) < 0 ||
		    (r = comp_auditd_expect(res, conf, "space_left_action",
		    "email|exec|syslog|single|halt")) < 0 ||
		    (r = comp_auditd_expect(res, conf,
		    "admin_space_left_action", "single|halt")) < 0)
			return r;
	}
	if ((r = comp_fact_range(res, "audit_used_pct",
	    ctx->facts->audit_used_pct, 0,
	    ctx->policy->audit_used_max_pct)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_au_failure_response)
{
	_cleanup_free_ char *conf = NULL;
	int r;

	if ((r = comp_auditd_conf(ctx, res, &conf)) < 0)
		return r;
	if (conf && ((r = comp_auditd_expect(res, conf, "disk_full_action",
	    "halt|single")) < 0 ||
	    (r = comp_auditd_expect(res, conf, "disk_error_action",
	    "halt|single")) < 0))
		return r;
	if ((r = comp_fact_yes(res, "audit_fail_closed",
	    ctx->facts->audit_fail_closed)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

static int
comp_expect_exec(struct comp_ctx *ctx, struct comp_result *res,
    const char *path)
{
	struct stat st;
	char subj[128];
	int r = comp_stat(ctx, path, &st);

	snprintf(subj, sizeof(subj), "/%s", path);
	if (r < 0)
		return comp_obs_add(res, false, subj, "installed, executable",
		    "missing (%s)", bw_strerror(r));
	if ((r = comp_evidence_add(res, subj, NULL, 0)) < 0)
		return r;
	return comp_obs_add(res, S_ISREG(st.st_mode) && (st.st_mode & 0100),
	    subj, "installed, executable", "mode %04o",
	    (unsigned)(st.st_mode & 07777));
}

COMP_CHECK_FN(comp_chk_au_tools)
{
	const struct comp_pkg *pkgs;
	size_t n;
	int r;

	r = comp_dpkg(ctx, res, &pkgs, &n);
	if (r == -ENOMEM)
		return r;
	if ((r = comp_obs_add(res, r == 0 && comp_dpkg_find(pkgs, n, "auditd"),
	    "package auditd", "installed", "%s", r == 0 &&
	    comp_dpkg_find(pkgs, n, "auditd") ? "installed" :
	    "not installed")) < 0 ||
	    (r = comp_expect_exec(ctx, res, "sbin/ausearch")) < 0 ||
	    (r = comp_expect_exec(ctx, res, "sbin/aureport")) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

static int
comp_expect_mode(struct comp_ctx *ctx, struct comp_result *res,
    const char *path, mode_t forbidden, const char *req)
{
	struct stat st;
	char subj[300];
	int r = comp_stat(ctx, path, &st);

	snprintf(subj, sizeof(subj), "/%s", path);
	if (r < 0)
		return comp_obs_add(res, false, subj, req, "missing (%s)",
		    bw_strerror(r));
	if ((r = comp_evidence_add(res, subj, NULL, 0)) < 0)
		return r;
	return comp_obs_add(res, st.st_uid == 0 && !(st.st_mode & forbidden),
	    subj, req, "owner uid %u, mode %04o", (unsigned)st.st_uid,
	    (unsigned)(st.st_mode & 07777));
}

COMP_CHECK_FN(comp_chk_au_protection)
{
	_cleanup_free_ char *rules = NULL;
	_cleanup_close_ int fd = -1;
	struct dirent *de;
	DIR *d;
	int r;

	if ((r = comp_expect_mode(ctx, res, "var/log/audit", 0027,
	    "owner root, mode <= 0750")) < 0)
		return r;
	fd = comp_open(ctx, "var/log/audit", O_RDONLY | O_DIRECTORY);
	if (fd >= 0 && (d = fdopendir(fd))) {
		fd = -1;
		while ((de = readdir(d)) && r >= 0) {
			char path[300];

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "var/log/audit/%s",
			    de->d_name);
			r = comp_expect_mode(ctx, res, path, 0137,
			    "owner root, mode <= 0640");
		}
		closedir(d);
		if (r < 0)
			return r;
	}
	/* log_group and -e 2 come from the host baseline's table. */
	if ((r = comp_baseline_expect(ctx, res, "au-protection")) < 0)
		return r;
	if ((r = comp_expect_mode(ctx, res, "sbin/auditctl", 0022,
	    "owner root, not group/other writable")) < 0 ||
	    (r = comp_expect_mode(ctx, res, "sbin/auditd", 0022,
	    "owner root, not group/other writable")) < 0)
		return r;
	/* "-e 2" in force: the last -e directive, which augenrules loads
	 * after every other rule, locking them. Only whether it is: the
	 * rules' text is not this check's to publish. */
	if ((r = comp_audit_rules(ctx, res, &rules)) < 0 ||
	    (r = comp_rules_baseline(res, rules, NULL, "audit.immutable")) < 0)
		return r;
	if ((r = comp_fact_yes_detail(res, "audit_chain_intact",
	    ctx->facts->audit_chain_intact,
	    ctx->facts->audit_chain_detail)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

/* AU-11 on the trail itself: no record younger than the minimum was
 * pruned. A trail that still starts at seq 1 has lost nothing; one that
 * was pruned must reach back at least the minimum. */
static int
comp_retention_measured(const struct comp_facts *f, int min_days,
    struct comp_result *res)
{
	char	req[64], found[96];
	long	days = f->audit_oldest_age_s / 86400;
	bool	ok;

	snprintf(req, sizeof(req), "nothing pruned, or oldest record >= %d "
	    "days old", min_days);
	if (f->audit_oldest_age_s < 0 || f->audit_pruned == COMP_UNKNOWN) {
		ok = false;
		snprintf(found, sizeof(found), "not reported");
	} else if (f->audit_pruned == COMP_NO) {
		ok = true;
		snprintf(found, sizeof(found), "oldest record seq 1, %ld days "
		    "old: nothing pruned", days);
	} else {
		ok = f->audit_oldest_age_s >= (long)min_days * 86400;
		snprintf(found, sizeof(found), "oldest record %ld days old; "
		    "earlier records pruned", days);
	}
	return comp_fact_obs(res, "audit_oldest_age_s", ok, req, found);
}

COMP_CHECK_FN(comp_chk_au_retention)
{
	int r;

	if ((r = comp_baseline_expect(ctx, res, "au-retention")) < 0)
		return r;
	if (ctx->facts->audit_retention_days == 0) {
		if ((r = comp_fact_obs(res, "audit_retention_days", true,
		    "0 (no age limit) or at least the minimum",
		    "0: segments are not pruned by age")) < 0)
			return r;
	} else if ((r = comp_fact_range(res, "audit_retention_days",
	    ctx->facts->audit_retention_days,
	    ctx->policy->audit_retention_min_days, 1000000)) < 0)
		return r;
	if ((r = comp_retention_measured(ctx->facts,
	    ctx->policy->audit_retention_min_days, res)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_au_time_sync)
{
	_cleanup_free_ char *conf = NULL, *srcs = NULL, *all = NULL,
	    *ts = NULL, *ntp = NULL, *line = NULL;
	bool chrony_src, chronyd, timesyncd, ts_src = false;
	int r;

	r = comp_read(ctx, res, "etc/chrony/chrony.conf", &conf, NULL);
	if (r == -ENOMEM)
		return r;
	if ((r = comp_read_dir_concat(ctx, res, "etc/chrony/sources.d",
	    ".sources", &srcs)) < 0)
		return r;
	if (asprintf(&all, "%s\n%s", conf ? conf : "", srcs) < 0) {
		all = NULL;
		return -ENOMEM;
	}
	chrony_src = comp_has_line(all, "server", &line) ||
	    comp_has_line(all, "pool", &line);
	chronyd = comp_proc_running(ctx, "chronyd");
	r = comp_read(ctx, res, "etc/systemd/timesyncd.conf", &ts, NULL);
	if (r == -ENOMEM)
		return r;
	if (ts && comp_conf_get(ts, "NTP", &ntp) == 0 && *ntp)
		ts_src = true;
	timesyncd = comp_proc_running(ctx, "systemd-timesyn");
	if (chronyd || !timesyncd) {
		if ((r = comp_obs_add(res, chrony_src, "chrony sources",
		    "server or pool configured", "%s",
		    line ? line : "none")) < 0 ||
		    (r = comp_obs_add(res, chronyd, "process chronyd",
		    "running", "%s", chronyd ? "running" : "not running")) < 0)
			return r;
	} else {
		if ((r = comp_obs_add(res, ts_src,
		    "/etc/systemd/timesyncd.conf NTP", "server configured",
		    "%s", ntp ? ntp : "not set")) < 0 ||
		    (r = comp_obs_add(res, true, "process systemd-timesyncd",
		    "running", "running")) < 0)
			return r;
	}
	return comp_verdict_from_obs(res);
}

/* AU-6: evidence that the review happens, not only that it could: the
 * appliance records every audit search with the searcher's role. */
COMP_CHECK_FN(comp_chk_au_review)
{
	long age = ctx->facts->audit_review_age_s;
	long max = (long)ctx->policy->audit_review_max_days * 86400;
	char req[64];
	int r;

	snprintf(req, sizeof(req), "a security-auditor search within %d days",
	    ctx->policy->audit_review_max_days);
	if ((r = comp_evidence_add(res, "fact:audit_review_age_s", NULL,
	    0)) < 0)
		return r;
	if (age == -2)
		r = comp_obs_add(res, false, "fact:audit_review_age_s", req,
		    "no review recorded");
	else if (age < 0)
		r = comp_obs_add(res, false, "fact:audit_review_age_s", req,
		    "not reported");
	else
		r = comp_obs_add(res, age <= max, "fact:audit_review_age_s",
		    req, "last review %ld s (%ld days) ago", age, age / 86400);
	if (r < 0)
		return r;
	return comp_verdict_from_obs(res);
}
