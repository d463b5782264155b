/* Configuration management (CM) checks. */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/macro.h"
#include "compliance/checks/checks.h"

struct comp_sysctl_req {
	const char	*name;
	long		 min, max;
};

/* The kernel part of the appliance's hardening baseline; the
 * hardening/ part applies the same values at boot. */
static const struct comp_sysctl_req comp_sysctl_baseline[] = {
	{ "kernel.randomize_va_space", 2, 2 },
	{ "kernel.kptr_restrict", 1, 2 },
	{ "kernel.dmesg_restrict", 1, 1 },
	{ "kernel.yama.ptrace_scope", 1, 3 },
	{ "kernel.perf_event_paranoid", 2, 3 },
	{ "kernel.kexec_load_disabled", 1, 1 },
	{ "kernel.unprivileged_bpf_disabled", 1, 2 },
	{ "net.core.bpf_jit_harden", 2, 2 },
	{ "fs.protected_hardlinks", 1, 1 },
	{ "fs.protected_symlinks", 1, 1 },
	{ "fs.suid_dumpable", 0, 0 },
	{ "net.ipv4.tcp_syncookies", 1, 1 },
	{ "net.ipv4.icmp_echo_ignore_broadcasts", 1, 1 },
	{ "net.ipv4.conf.all.accept_redirects", 0, 0 },
	{ "net.ipv4.conf.default.accept_redirects", 0, 0 },
	{ "net.ipv4.conf.all.send_redirects", 0, 0 },
	{ "net.ipv4.conf.all.accept_source_route", 0, 0 },
	{ "net.ipv4.conf.all.rp_filter", 1, 2 },
	{ "net.ipv4.conf.all.log_martians", 1, 1 },
	{ "net.ipv6.conf.all.accept_redirects", 0, 0 },
	{ "net.ipv6.conf.all.accept_source_route", 0, 0 },
};

COMP_CHECK_FN(comp_chk_cm_config_baseline)
{
	int r = comp_manifest_verify(ctx, res, ctx->policy->config_manifest);

	return r < 0 ? r : comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_cm_sysctl_baseline)
{
	size_t i;
	int r;

	for (i = 0; i < ELEMENTSOF(comp_sysctl_baseline); i++)
		if ((r = comp_sysctl_expect(ctx, res,
		    comp_sysctl_baseline[i].name, comp_sysctl_baseline[i].min,
		    comp_sysctl_baseline[i].max)) < 0)
			return r;
	return comp_verdict_from_obs(res);
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
		    strerror(-r));
	}
	return 0;
}

COMP_CHECK_FN(comp_chk_cm_prohibited_software)
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
		for (pat = ctx->policy->forbidden_packages; pat && *pat; pat++)
			if (fnmatch(*pat, pkgs[i].name, 0) == 0) {
				bad++;
				if ((r = comp_obs_add(res, false,
				    "installed packages", "none matching the "
				    "prohibited list", "%s %s installed "
				    "(matches %s)", pkgs[i].name,
				    pkgs[i].version, *pat)) < 0)
					return r;
				break;
			}
	}
	if ((r = comp_obs_add(res, bad == 0, "installed packages",
	    "no prohibited package", "%zu installed, %zu prohibited", inst,
	    bad)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

/* Options of the last mount of MNT in the mounts table, or NULL. */
static char *
comp_mount_opts(const char *mounts, const char *mnt)
{
	const char *line = mounts, *found = NULL;
	size_t ml = strlen(mnt);

	while (line && *line) {
		const char *sp = strchr(line, ' ');

		if (sp && !strncmp(sp + 1, mnt, ml) && sp[1 + ml] == ' ')
			found = sp + 2 + ml;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	if (!found)
		return NULL;
	found = strchr(found, ' ');	/* skip the fs type */
	return found ? strndup(found + 1, strcspn(found + 1, " \n")) : NULL;
}

static bool
comp_opt_has(const char *opts, const char *o)
{
	size_t ol = strlen(o);
	const char *p = opts;

	while ((p = strstr(p, o))) {
		if ((p == opts || p[-1] == ',') && (p[ol] == ',' || !p[ol]))
			return true;
		p += ol;
	}
	return false;
}

COMP_CHECK_FN(comp_chk_cm_noexec_mounts)
{
	static const struct { const char *mnt; bool required; } mnts[] = {
		{ "/tmp", true }, { "/dev/shm", true }, { "/var/tmp", false },
	};
	_cleanup_free_ char *buf = NULL;
	size_t i;
	int r;

	r = comp_read(ctx, res, "proc/mounts", &buf, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return comp_obs_add(res, false, "/proc/mounts", "readable",
		    "unreadable (%s)", strerror(-r)) < 0 ? -ENOMEM :
		    COMP_NOT_SATISFIED;
	for (i = 0; i < ELEMENTSOF(mnts); i++) {
		_cleanup_free_ char *o = comp_mount_opts(buf, mnts[i].mnt);
		bool ok;

		if (!o && !mnts[i].required)
			continue;
		ok = o && comp_opt_has(o, "noexec") &&
		    comp_opt_has(o, "nosuid") && comp_opt_has(o, "nodev");
		if ((r = comp_obs_add(res, ok, mnts[i].mnt,
		    "separate mount with noexec,nosuid,nodev", "%s",
		    o ? o : "not a separate mount")) < 0)
			return r;
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
	    "unreadable (%s)", strerror(-r))) < 0)
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
	static const struct { const char *path; bool required; } dirs[] = {
		{ "usr", true }, { "usr/bin", true }, { "usr/sbin", true },
		{ "usr/lib", true }, { "etc", true }, { "var/lib/dpkg", true },
		{ "usr/local/bin", false }, { "boot", false },
	};
	size_t i;
	int r;

	for (i = 0; i < ELEMENTSOF(dirs); i++) {
		struct stat st;
		char subj[64];

		snprintf(subj, sizeof(subj), "/%s", dirs[i].path);
		r = comp_stat(ctx, dirs[i].path, &st);
		if (r < 0) {
			if (!dirs[i].required)
				continue;
			if ((r = comp_obs_add(res, false, subj, "owner root, "
			    "not group/other writable", "missing (%s)",
			    strerror(-r))) < 0)
				return r;
			continue;
		}
		if ((r = comp_evidence_add(res, subj, NULL, 0)) < 0 ||
		    (r = comp_obs_add(res, st.st_uid == 0 &&
		    !(st.st_mode & 022), subj,
		    "owner root, not group/other writable",
		    "owner uid %u, mode %04o", (unsigned)st.st_uid,
		    (unsigned)(st.st_mode & 07777))) < 0)
			return r;
	}
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_cm_config_history)
{
	int r = comp_fact_range(res, "config_revisions",
	    ctx->facts->config_revisions, ctx->policy->config_revisions_min,
	    1000000000);

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
		for (pat = ctx->policy->p2p_packages; pat && *pat; pat++)
			if (fnmatch(*pat, pkgs[i].name, 0) == 0) {
				bad++;
				if ((r = comp_obs_add(res, false,
				    "installed packages", "no peer-to-peer file "
				    "sharing software", "%s %s installed "
				    "(matches %s)", pkgs[i].name,
				    pkgs[i].version, *pat)) < 0)
					return r;
				break;
			}
	}
	if ((r = comp_obs_add(res, bad == 0, "installed packages",
	    "no peer-to-peer file sharing software", "%zu installed, %zu "
	    "peer-to-peer", inst, bad)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}
