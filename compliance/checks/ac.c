/* Access control (AC) checks. */
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

#define PAM_AUTH	"etc/pam.d/common-auth"
#define FAILLOCK_CONF	"etc/security/faillock.conf"

/* Returns the PAM option on LINE, else the faillock.conf value, else
 * pam_faillock's built-in default. */
static long
comp_faillock_value(const char *line, const char *conf, const char *key,
    long dflt)
{
	_cleanup_free_ char *v = NULL;
	long x = line ? comp_opt_long(line, key) : -ENOENT;

	if (x >= 0)
		return x;
	if (conf && comp_conf_get(conf, key, &v) == 0 && isdigit(
	    (unsigned char)*v))
		return strtol(v, NULL, 10);
	return dflt;
}

/* Compares faillock setting KEY's value V with the host baseline's
 * item "faillock.KEY". */
static int
comp_faillock_expect(struct comp_result *res, const char *key, long v)
{
	_cleanup_free_ char *want = NULL;
	const struct hb_item *it;
	char id[64], subj[64];

	snprintf(id, sizeof(id), "faillock.%s", key);
	snprintf(subj, sizeof(subj), "pam_faillock %s", key);
	if (!(it = hb_find(id)) || !(want = hb_item_want(it)))
		return -ENOMEM;
	return comp_obs_add(res, (v >= it->min && v <= it->max) ||
	    ((it->flags & HB_ZERO_OK) && v == 0), subj, want, "%ld", v);
}

COMP_CHECK_FN(comp_chk_ac_faillock)
{
	_cleanup_free_ char *pam = NULL, *conf = NULL, *pre = NULL,
	    *fail = NULL;
	const struct hb_item *preauth = hb_find("pam.faillock-preauth"),
	    *authfail = hb_find("pam.faillock-authfail");
	long deny, interval, unlock;
	int r;

	if ((r = comp_read_need(ctx, res, PAM_AUTH, NULL, "pam_faillock "
	    "preauth and authfail", &pam)) < 0)
		return r;
	if (pam) {
		bool p = comp_has_line(pam, preauth->key, &pre);
		bool f = comp_has_line(pam, authfail->key, &fail);

		if ((r = comp_obs_add(res, p && f, PAM_AUTH,
		    "auth pam_faillock.so preauth + authfail",
		    "preauth %s, authfail %s", p ? "present" : "missing",
		    f ? "present" : "missing")) < 0)
			return r;
	}
	r = comp_read(ctx, res, FAILLOCK_CONF, &conf, NULL);
	if (r == -ENOMEM)
		return r;
	deny = comp_faillock_value(pre, conf, "deny", 3);
	interval = comp_faillock_value(pre, conf, "fail_interval", 900);
	unlock = comp_faillock_value(pre, conf, "unlock_time", 600);
	if ((r = comp_faillock_expect(res, "deny", deny)) < 0 ||
	    (r = comp_faillock_expect(res, "fail_interval", interval)) < 0 ||
	    (r = comp_faillock_expect(res, "unlock_time", unlock)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_banner)
{
	int r = comp_baseline_expect(ctx, res, "ac-banner");

	return r < 0 ? r : comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_shell_timeout)
{
	_cleanup_free_ char *prof = NULL, *d = NULL, *all = NULL;
	long tmout = -1;
	bool ro = false;
	const char *line, *next;
	int r;

	r = comp_read(ctx, res, "etc/profile", &prof, NULL);
	if (r == -ENOMEM)
		return r;
	if ((r = comp_read_dir_concat(ctx, res, "etc/profile.d", ".sh",
	    &d)) < 0)
		return r;
	if (asprintf(&all, "%s\n%s", prof ? prof : "", d) < 0) {
		all = NULL;
		return -ENOMEM;
	}
	for (line = all; line; line = next) {
		const char *nl = strchr(line, '\n'), *p, *t;
		_cleanup_free_ char *l = NULL;

		next = nl ? nl + 1 : NULL;
		if (!(l = strndup(line, nl ? (size_t)(nl - line) : strlen(line))))
			return -ENOMEM;
		p = l + strspn(l, " \t");
		if (*p == '#')
			continue;
		t = strstr(p, "TMOUT=");
		if (t && (t == p || (!isalnum((unsigned char)t[-1]) &&
		    t[-1] != '_')))
			tmout = strtol(t + 6, NULL, 10);
		if (strstr(p, "TMOUT") && (strstr(p, "readonly") ||
		    strstr(p, "declare -r") || strstr(p, "typeset -r")))
			ro = true;
	}
	if ((r = comp_obs_add(res, tmout >= 1 &&
	    tmout <= ctx->policy->idle_max_s, "TMOUT (etc/profile, "
	    "etc/profile.d/*.sh)", "1..900 s", tmout < 0 ? "not set" : "%ld",
	    tmout)) < 0)
		return r;
	if ((r = comp_obs_add(res, ro, "TMOUT read-only", "readonly TMOUT",
	    "%s", ro ? "read-only" : "users can unset it")) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_idle_lock)
{
	int r;

	if ((r = comp_fact_range(res, "idle_lock_s", ctx->facts->idle_lock_s,
	    1, ctx->policy->idle_max_s)) < 0 ||
	    (r = comp_fact_yes(res, "lock_conceals",
	    ctx->facts->lock_conceals)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

struct comp_pw {
	char	*name;
	char	*pass;
	long	 uid;
	char	*shell;
	size_t	 lineno;	/* 1-based, in the file */
	bool	 malformed;	/* no ':' on the line: nothing else is set */
	char	 label[COMP_ACCOUNT_LABEL_MAX];	/* what observations say */
};

static void
comp_pw_free(struct comp_pw *pw, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(pw[i].name);
		free(pw[i].pass);
		free(pw[i].shell);
	}
	free(pw);
}

/* Splits colon-separated account lines: passwd (7 fields) or shadow
 * (name:pass:...). For shadow, uid is -1 and shell NULL. A line without
 * a colon is kept as malformed, with no field taken from it (it may be a
 * hash). */
static int
comp_pw_parse(const char *buf, bool shadow, struct comp_pw **ret,
    size_t *ret_n)
{
	struct comp_pw *v = NULL;
	size_t n = 0, lineno = 0;
	const char *line = buf;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		bool malformed = !memchr(line, ':', len);
		char *f[7] = { 0 }, *dup, *p;
		int nf = 0;
		struct comp_pw *nv;

		lineno++;
		if (len == 0 || *line == '#' || n >= 100000) {
			line = nl ? nl + 1 : NULL;
			continue;
		}
		if (!(dup = malformed ? strdup("") : strndup(line, len)))
			goto oom;
		for (p = dup; nf < 7; nf++) {
			f[nf] = p;
			p = strchr(p, ':');
			if (!p) {
				nf++;
				break;
			}
			*p++ = '\0';
		}
		if (!(nv = reallocarray(v, n + 1, sizeof(*v)))) {
			free(dup);
			goto oom;
		}
		v = nv;
		memset(&v[n], 0, sizeof(v[n]));
		v[n].uid = -1;
		v[n].lineno = lineno;
		v[n].malformed = malformed;
		comp_account_label(v[n].label, f[0], malformed ? 0 : strlen(f[0]),
		    lineno);
		v[n].name = strdup(f[0]);
		v[n].pass = strdup(nf > 1 ? f[1] : "");
		if (!shadow) {
			v[n].uid = nf > 2 ? strtol(f[2], NULL, 10) : -1;
			v[n].shell = strdup(nf > 6 ? f[6] : "");
		}
		n++;
		free(dup);
		if (!v[n - 1].name || !v[n - 1].pass ||
		    (!shadow && !v[n - 1].shell))
			goto oom;
		line = nl ? nl + 1 : NULL;
	}
	*ret = v;
	*ret_n = n;
	return 0;
oom:
	comp_pw_free(v, n);
	return -ENOMEM;
}

static bool
comp_shell_nologin(const char *shell)
{
	const char *b = strrchr(shell, '/');

	b = b ? b + 1 : shell;
	return !strcmp(b, "nologin") || !strcmp(b, "false") || !*shell;
}

static int
comp_load_accounts(struct comp_ctx *ctx, struct comp_result *res,
    struct comp_pw **pw, size_t *npw, struct comp_pw **sh, size_t *nsh)
{
	_cleanup_free_ char *p = NULL, *s = NULL;
	int r;

	*pw = *sh = NULL;
	*npw = *nsh = 0;
	if ((r = comp_read_need(ctx, res, "etc/passwd", NULL, "readable",
	    &p)) < 0 ||
	    (r = comp_read_need(ctx, res, "etc/shadow", NULL, "readable",
	    &s)) < 0)
		return r;
	if (p && (r = comp_pw_parse(p, false, pw, npw)) < 0)
		return r;
	if (s && (r = comp_pw_parse(s, true, sh, nsh)) < 0) {
		comp_pw_free(*pw, *npw);
		*pw = NULL;
		return r;
	}
	return 0;
}

COMP_CHECK_FN(comp_chk_ac_accounts)
{
	struct comp_pw *pw = NULL, *sh = NULL;
	size_t npw = 0, nsh = 0, i, j;
	size_t dup = 0, login_sys = 0, empty = 0, bad = 0;
	int r;

	if ((r = comp_load_accounts(ctx, res, &pw, &npw, &sh, &nsh)) < 0)
		return r;
	for (i = 0; i < npw && r >= 0; i++) {
		if (pw[i].malformed) {
			bad++;
			r = comp_obs_add(res, false, "/etc/passwd",
			    "name:password:uid:gid:gecos:home:shell lines",
			    "malformed line %zu", pw[i].lineno);
			continue;
		}
		for (j = i + 1; j < npw && r >= 0; j++) {
			if (!pw[j].malformed && (!strcmp(pw[i].name,
			    pw[j].name) || pw[i].uid == pw[j].uid)) {
				dup++;
				r = comp_obs_add(res, false, "/etc/passwd",
				    "unique names and uids", "%s (%ld) and %s "
				    "(%ld) collide", pw[i].label, pw[i].uid,
				    pw[j].label, pw[j].uid);
			}
		}
		if (r >= 0 && pw[i].uid > 0 && (pw[i].uid < 1000 ||
		    pw[i].uid == 65534) && !comp_shell_nologin(pw[i].shell) &&
		    !(strcmp(pw[i].name, "sync") == 0 &&
		    strcmp(pw[i].shell, "/bin/sync") == 0)) {
			login_sys++;
			r = comp_obs_add(res, false, "/etc/passwd",
			    "system accounts use nologin", "%s has shell %s",
			    pw[i].label, pw[i].shell);
		}
		if (r >= 0 && pw[i].pass[0] == '\0') {
			empty++;
			r = comp_obs_add(res, false, "/etc/passwd",
			    "no empty password", "%s has an empty password",
			    pw[i].label);
		}
	}
	/* Nothing of a shadow line but a user-like name is said. */
	for (i = 0; i < nsh && r >= 0; i++)
		if (sh[i].malformed) {
			bad++;
			r = comp_obs_add(res, false, "/etc/shadow",
			    "name:password:... lines", "malformed line %zu",
			    sh[i].lineno);
		} else if (sh[i].pass[0] == '\0') {
			empty++;
			r = comp_obs_add(res, false, "/etc/shadow",
			    "no empty password", "%s has an empty password",
			    sh[i].label);
		}
	if (r >= 0 && npw)
		r = comp_obs_add(res, dup == 0 && login_sys == 0 &&
		    empty == 0 && bad == 0, "accounts", "unique, "
		    "authenticated, no system logins", "%zu accounts: %zu "
		    "collisions, %zu system logins, %zu empty passwords, %zu "
		    "malformed lines", npw, dup, login_sys, empty, bad);
	comp_pw_free(pw, npw);
	comp_pw_free(sh, nsh);
	return r < 0 ? r : comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_inactive_disable)
{
	int r = comp_baseline_expect(ctx, res, "ac-inactive-disable");

	return r < 0 ? r : comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_root_restricted)
{
	struct comp_pw *pw = NULL, *sh = NULL;
	size_t npw = 0, nsh = 0, i, uid0 = 0;
	int r;

	if ((r = comp_load_accounts(ctx, res, &pw, &npw, &sh, &nsh)) < 0)
		return r;
	for (i = 0; i < npw && r >= 0; i++)
		if (pw[i].uid == 0) {
			uid0++;
			if (strcmp(pw[i].name, "root"))
				r = comp_obs_add(res, false, "/etc/passwd",
				    "uid 0 only for root", "%s has uid 0",
				    pw[i].label);
		}
	if (r >= 0 && npw)
		r = comp_obs_add(res, uid0 == 1, "/etc/passwd uid 0",
		    "exactly one (root)", "%zu", uid0);
	for (i = 0; i < nsh && r >= 0; i++)
		if (!strcmp(sh[i].name, "root"))
			r = comp_obs_add(res, sh[i].pass[0] == '!' ||
			    sh[i].pass[0] == '*', "/etc/shadow root password",
			    "locked (! or *)", "%s", sh[i].pass[0] == '!' ||
			    sh[i].pass[0] == '*' ? "locked" :
			    "usable password");
	comp_pw_free(pw, npw);
	comp_pw_free(sh, nsh);
	return r < 0 ? r : comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_su_restricted)
{
	_cleanup_free_ char *buf = NULL, *line = NULL;
	bool ok = false;
	int r;

	if ((r = comp_read_need(ctx, res, "etc/pam.d/su", NULL,
	    "pam_wheel required", &buf)) < 0)
		return r;
	if (buf && (comp_has_line(buf, hb_find("pam.su-wheel")->key, &line) ||
	    comp_has_line(buf, "auth requisite pam_wheel.so", &line)))
		ok = !strstr(line, "trust");
	if (buf && (r = comp_obs_add(res, ok, "/etc/pam.d/su",
	    "auth required pam_wheel.so (without trust)", "%s",
	    line ? line : "no pam_wheel line")) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_file_perms)
{
	int r = comp_baseline_expect(ctx, res, "ac-file-perms");

	return r < 0 ? r : comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_rbac)
{
	int r = comp_fact_yes(res, "rbac", ctx->facts->rbac);

	return r < 0 ? r : comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_separation_of_duties)
{
	int r = comp_fact_yes(res, "separation_of_duties",
	    ctx->facts->separation_of_duties);

	return r < 0 ? r : comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_least_privilege)
{
	int r;

	if ((r = comp_fact_yes_detail(res, "seccomp", ctx->facts->seccomp,
	    ctx->facts->confinement_detail)) < 0 ||
	    (r = comp_fact_yes_detail(res, "no_new_privs",
	    ctx->facts->no_new_privs, ctx->facts->confinement_detail)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_tenant_isolation)
{
	int r = comp_fact_yes_detail(res, "tenant_isolation",
	    ctx->facts->tenant_isolation, ctx->facts->tenant_isolation_detail);

	return r < 0 ? r : comp_verdict_from_obs(res);
}

static const char *const comp_remote_shell_pkgs[] = {
	"openssh-server", "dropbear", "dropbear-bin", "telnetd",
	"inetutils-telnetd", "rsh-server", "rsh-redone-server",
};
static const char *const comp_remote_shell_procs[] = {
	"sshd", "dropbear", "telnetd", "in.telnetd", "rshd", "in.rshd",
};

int
comp_no_remote_shell(struct comp_ctx *ctx, struct comp_result *res)
{
	const struct comp_pkg *pkgs;
	size_t n, i;
	int r;

	r = comp_dpkg(ctx, res, &pkgs, &n);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		if ((r = comp_obs_add(res, false, "/var/lib/dpkg/status",
		    "readable package database", "unreadable (%s)",
		    bw_strerror(r))) < 0)
			return r;
	} else {
		for (i = 0; i < ELEMENTSOF(comp_remote_shell_pkgs); i++) {
			bool inst = comp_dpkg_find(pkgs, n,
			    comp_remote_shell_pkgs[i]) != NULL;

			if (inst && (r = comp_obs_add(res, false,
			    "installed packages", "no remote shell service",
			    "%s installed", comp_remote_shell_pkgs[i])) < 0)
				return r;
		}
	}
	for (i = 0; i < ELEMENTSOF(comp_remote_shell_procs); i++)
		if (comp_proc_running(ctx, comp_remote_shell_procs[i]) &&
		    (r = comp_obs_add(res, false, "/proc/*/comm",
		    "no remote shell running", "%s running",
		    comp_remote_shell_procs[i])) < 0)
			return r;
	if ((r = comp_evidence_add(res, "/proc/*/comm", NULL, 0)) < 0)
		return r;
	return comp_obs_add(res, true, "remote shell services", "none",
	    "checked %zu packages, %zu process names",
	    ELEMENTSOF(comp_remote_shell_pkgs),
	    ELEMENTSOF(comp_remote_shell_procs));
}

COMP_CHECK_FN(comp_chk_ac_remote_access)
{
	int r;

	if ((r = comp_no_remote_shell(ctx, res)) < 0 ||
	    (r = comp_fact_yes(res, "tls_client_auth",
	    ctx->facts->tls_client_auth)) < 0 ||
	    (r = comp_fact_yes(res, "audit_active",
	    ctx->facts->audit_active)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

/* /proc/net addresses are the kernel's __be32 words printed with %08X in
 * host order; on the little-endian hosts we run on, 127.x.y.z ends in
 * "7F" and ::1 is "...01000000". */
static bool
comp_addr_loopback(const char *hex, size_t len)
{
	if (len == 8)
		return !strncasecmp(hex + 6, "7F", 2);
	if (len == 32) {
		if (!strncmp(hex, "0000000000000000000000000100000", 31) &&
		    hex[31] == '0')
			return true;
		if (!strncasecmp(hex, "0000000000000000FFFF0000", 24))
			return !strncasecmp(hex + 30, "7F", 2);
	}
	return false;
}

static bool
comp_port_allowed(const uint16_t *ports, unsigned port)
{
	for (; ports && *ports; ports++)
		if (*ports == port)
			return true;
	return false;
}

static int
comp_scan_sockets(struct comp_ctx *ctx, struct comp_result *res,
    const char *file, const char *state, size_t *ret_ext, size_t *ret_bad)
{
	_cleanup_free_ char *buf = NULL;
	const char *line;
	int r;

	r = comp_read(ctx, res, file, &buf, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return r == -ENOENT && strchr(file, '6') ? 0 :
		    comp_obs_add(res, false, file, "readable", "unreadable "
		    "(%s)", bw_strerror(r));
	line = strchr(buf, '\n');	/* header */
	while (line && *++line) {
		char local[64], st[8], remote[64];
		const char *colon;
		unsigned port;
		size_t alen;

		if (sscanf(line, "%*s %63s %63s %7s", local, remote, st) != 3)
			goto next;
		if (strcasecmp(st, state))
			goto next;
		colon = strchr(local, ':');
		if (!colon)
			goto next;
		alen = (size_t)(colon - local);
		port = (unsigned)strtoul(colon + 1, NULL, 16);
		/* A UDP socket in CLOSE with a peer is a connected client. */
		if (!strcmp(state, "07") && !strstr(remote, ":0000"))
			goto next;
		if (comp_addr_loopback(local, alen))
			goto next;
		(*ret_ext)++;
		if (!comp_port_allowed(ctx->policy->allowed_ports, port)) {
			(*ret_bad)++;
			if ((r = comp_obs_add(res, false, file,
			    "only approved ports listen externally",
			    "port %u listens on %.*s", port, (int)alen,
			    local)) < 0)
				return r;
		}
next:
		line = strchr(line, '\n');
	}
	return 0;
}

COMP_CHECK_FN(comp_chk_ac_listening_ports)
{
	size_t ext = 0, bad = 0;
	int r;

	if ((r = comp_scan_sockets(ctx, res, "proc/net/tcp", "0A", &ext,
	    &bad)) < 0 ||
	    (r = comp_scan_sockets(ctx, res, "proc/net/tcp6", "0A", &ext,
	    &bad)) < 0 ||
	    (r = comp_scan_sockets(ctx, res, "proc/net/udp", "07", &ext,
	    &bad)) < 0 ||
	    (r = comp_scan_sockets(ctx, res, "proc/net/udp6", "07", &ext,
	    &bad)) < 0)
		return r;
	if ((r = comp_obs_add(res, bad == 0, "external listeners",
	    "approved ports only", "%zu external listeners, %zu not "
	    "approved", ext, bad)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_wireless)
{
	_cleanup_close_ int fd = -1;
	struct dirent *de;
	size_t n = 0, wl = 0;
	DIR *d;
	int r = 0;

	fd = comp_open(ctx, "sys/class/net", O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return comp_obs_add(res, false, "/sys/class/net", "readable",
		    "unreadable (%s)", bw_strerror(fd)) < 0 ? -ENOMEM :
		    COMP_NOT_SATISFIED;
	if (!(d = fdopendir(fd)))
		return -errno;
	fd = -1;
	while ((de = readdir(d)) && r >= 0) {
		char p[300];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		n++;
		snprintf(p, sizeof(p), "sys/class/net/%s/wireless", de->d_name);
		if (comp_stat(ctx, p, &st) == 0) {
			wl++;
			r = comp_obs_add(res, false, "/sys/class/net",
			    "no wireless interface", "%s is wireless",
			    de->d_name);
			continue;
		}
		snprintf(p, sizeof(p), "sys/class/net/%s/phy80211", de->d_name);
		if (comp_stat(ctx, p, &st) == 0) {
			wl++;
			r = comp_obs_add(res, false, "/sys/class/net",
			    "no wireless interface", "%s is wireless",
			    de->d_name);
		}
	}
	closedir(d);
	if (r < 0)
		return r;
	if ((r = comp_evidence_add(res, "/sys/class/net", NULL, 0)) < 0 ||
	    (r = comp_obs_add(res, wl == 0, "/sys/class/net",
	    "no wireless interface", "%zu interfaces, %zu wireless", n,
	    wl)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_usb_storage)
{
	_cleanup_free_ char *conf = NULL, *mods = NULL, *line = NULL;
	bool blocked = false;
	int r;

	if ((r = comp_read_dir_concat(ctx, res, "etc/modprobe.d", ".conf",
	    &conf)) < 0)
		return r;
	if (comp_has_line(conf, "install usb-storage", &line)) {
		const char *cmd = strstr(line, "usb-storage") + 11;

		while (*cmd == ' ' || *cmd == '\t')
			cmd++;
		blocked = !strncmp(cmd, "/bin/false", 10) ||
		    !strncmp(cmd, "/bin/true", 9) ||
		    !strncmp(cmd, "/usr/bin/false", 14) ||
		    !strncmp(cmd, "/usr/bin/true", 13);
	}
	if ((r = comp_obs_add(res, blocked, "/etc/modprobe.d/*.conf",
	    "install usb-storage /bin/false", "%s",
	    line ? line : "no install directive")) < 0)
		return r;
	r = comp_read(ctx, res, "proc/modules", &mods, NULL);
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT)	/* a kernel without loadable modules */
		r = comp_obs_add(res, true, "/proc/modules",
		    "usb_storage not loaded", "no module support");
	else if (r < 0)
		r = comp_obs_add(res, false, "/proc/modules", "readable",
		    "unreadable (%s)", bw_strerror(r));
	else
		r = comp_obs_add(res, !(!strncmp(mods, "usb_storage ", 12) ||
		    strstr(mods, "\nusb_storage ")), "/proc/modules",
		    "usb_storage not loaded", "%s",
		    (!strncmp(mods, "usb_storage ", 12) ||
		    strstr(mods, "\nusb_storage ")) ? "loaded" : "not loaded");
	if (r < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_unauth_actions)
{
	const char *const *e = ctx->facts->unauth_endpoints;
	size_t n = 0, bad = 0;
	int r;

	if ((r = comp_evidence_add(res, "fact:unauth_endpoints", NULL, 0)) < 0)
		return r;
	if (!e)
		return comp_obs_add(res, false, "fact:unauth_endpoints",
		    "reported", "not reported") < 0 ? -ENOMEM :
		    COMP_NOT_SATISFIED;
	for (; *e; e++, n++) {
		const char *const *a = ctx->policy->allowed_unauth;
		bool ok = false;

		for (; a && *a && !ok; a++)
			ok = !strcmp(*a, *e);
		if (!ok) {
			bad++;
			if ((r = comp_obs_add(res, false,
			    "fact:unauth_endpoints", "approved list only",
			    "%s served without authentication", *e)) < 0)
				return r;
		}
	}
	if ((r = comp_obs_add(res, bad == 0, "fact:unauth_endpoints",
	    "approved list only", "%zu endpoints, %zu not approved", n,
	    bad)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

/* AC-2(1), AC-2(13): the appliance's accounts are principals (a client
 * certificate plus a RoleBinding) managed by the principal API. The
 * daemon compares what the store says with what is enforced: an active
 * principal without its binding, or a revoked one whose serial is not
 * on the revocation list or that still has a binding, is a problem. */
COMP_CHECK_FN(comp_chk_ac_account_lifecycle)
{
	const struct comp_facts *f = ctx->facts;
	int r;

	if ((r = comp_fact_range(res, "principals", f->principals, 0,
	    1000000000)) < 0 ||
	    (r = comp_fact_empty_list(res, "account_problems",
	    f->account_problems, "store, bindings and revocation list "
	    "agree")) < 0 ||
	    (r = comp_fact_yes(res, "revocation_per_request",
	    f->revocation_per_request)) < 0 ||
	    (r = comp_fact_yes(res, "rbac", f->rbac)) < 0 ||
	    (r = comp_fact_yes(res, "audit_fail_closed",
	    f->audit_fail_closed)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_credential_expiry)
{
	const struct comp_facts *f = ctx->facts;
	int r;

	if ((r = comp_fact_range(res, "bootstrap_max_s", f->bootstrap_max_s,
	    1, ctx->policy->temp_credential_max_s)) < 0 ||
	    (r = comp_fact_range(res, "principal_max_days",
	    f->principal_max_days, 0, ctx->policy->principal_max_days)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ac_privileged_remote)
{
	const struct comp_facts *f = ctx->facts;
	int r;

	if ((r = comp_no_remote_shell(ctx, res)) < 0 ||
	    (r = comp_fact_yes(res, "tls_client_auth",
	    f->tls_client_auth)) < 0 ||
	    (r = comp_fact_yes(res, "rbac", f->rbac)) < 0 ||
	    (r = comp_fact_yes(res, "audit_fail_closed",
	    f->audit_fail_closed)) < 0 ||
	    (r = comp_fact_range(res, "session_idle_s", f->session_idle_s, 1,
	    ctx->policy->idle_max_s)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}
