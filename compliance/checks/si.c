/* System and information integrity (SI) checks, with the RA, SA and SR
 * checks that share their inputs (package database, advisories). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "lib/b64.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "compliance/checks/checks.h"

#define COMP_ADVISORIES_MAX	100000
#define DAY			86400

COMP_CHECK_FN(comp_chk_si_memory_protection)
{
	_cleanup_free_ char *cpu = NULL;
	const char *flags;
	bool nx = false;
	int r;

	if ((r = comp_sysctl_baseline(ctx, res,
	    "kernel.randomize_va_space")) < 0)
		return r;
	r = comp_read(ctx, res, "proc/cpuinfo", &cpu, NULL);
	if (r == -ENOMEM)
		return r;
	if (r == 0 && (flags = strstr(cpu, "\nflags"))) {
		const char *nl = strchr(flags + 1, '\n');
		const char *p = strstr(flags, " nx");

		nx = p && (!nl || p < nl) && (p[3] == ' ' || p[3] == '\n');
	}
	if ((r = comp_obs_add(res, nx, "/proc/cpuinfo flags", "nx",
	    "%s", nx ? "nx" : "no nx flag")) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_si_binary_integrity)
{
	int r = comp_manifest_verify(ctx, res,
	    ctx->policy->integrity_manifest);

	return r < 0 ? r : comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_si_patch_age)
{
	struct stat st;
	char req[32];
	long days;
	int r;

	r = comp_stat(ctx, "var/lib/dpkg/status", &st);
	if (r < 0)
		return comp_obs_add(res, false, "/var/lib/dpkg/status",
		    "present", "missing (%s)", bw_strerror(r)) < 0 ? -ENOMEM :
		    COMP_NOT_SATISFIED;
	days = (long)((ctx->now - st.st_mtime) / DAY);
	snprintf(req, sizeof(req), "<= %d days", ctx->policy->patch_max_age_days);
	if ((r = comp_evidence_add(res, "/var/lib/dpkg/status", NULL, 0)) < 0 ||
	    (r = comp_obs_add(res, days <= ctx->policy->patch_max_age_days,
	    "last package database change", req, "%ld days ago", days)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

struct comp_adv {
	const char	*id, *package, *fixed, *severity;
	time_t		 published;
};

/* Loads the advisory feed: {"generated": DATE, "advisories": [{"id",
 * "package", "fixed", "published", "severity"}]}. Malformed input is a
 * failed observation with the exact position. */
static int
comp_advisories(struct comp_ctx *ctx, struct comp_result *res,
    json_t **ret_root, time_t *ret_generated)
{
	_cleanup_free_ char *buf = NULL, *err = NULL;
	_cleanup_json_ json_t *root = NULL;
	const char *path = ctx->policy->advisories;
	json_t *advs, *a;
	size_t len, i;
	int r;

	*ret_root = NULL;
	r = comp_read(ctx, res, path, &buf, &len);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return comp_obs_add(res, false, path, "an advisory feed",
		    "unreadable (%s)", bw_strerror(r));
	if ((r = json_parse_bounded(buf, len, 8, &root, &err)) < 0)
		return r == -ENOMEM ? r : comp_obs_add(res, false, path,
		    "valid JSON", "%s", err ? err : "invalid");
	advs = json_object_get(root, "advisories");
	if (!json_is_array(advs) || json_array_size(advs) > COMP_ADVISORIES_MAX ||
	    bw_time_parse(json_string_value(json_object_get(root,
	    "generated")), ret_generated) < 0)
		return comp_obs_add(res, false, path, "generated date and "
		    "advisories array", "missing or malformed");
	json_array_foreach(advs, i, a) {
		static const char *const keys[] = { "id", "package", "fixed",
			"published", "severity" };
		size_t k;
		time_t t;

		for (k = 0; k < ELEMENTSOF(keys); k++)
			if (!json_is_string(json_object_get(a, keys[k])))
				return comp_obs_add(res, false, path,
				    "string fields id, package, fixed, "
				    "published, severity", "advisories[%zu].%s "
				    "missing", i, keys[k]);
		if (bw_time_parse(json_string_value(json_object_get(a,
		    "published")), &t) < 0)
			return comp_obs_add(res, false, path, "YYYY-MM-DD",
			    "advisories[%zu].published malformed", i);
	}
	*ret_root = TAKE_PTR(root);
	return 0;
}

static void
comp_adv_get(json_t *a, struct comp_adv *adv)
{
	adv->id = json_string_value(json_object_get(a, "id"));
	adv->package = json_string_value(json_object_get(a, "package"));
	adv->fixed = json_string_value(json_object_get(a, "fixed"));
	adv->severity = json_string_value(json_object_get(a, "severity"));
	bw_time_parse(json_string_value(json_object_get(a, "published")),
	    &adv->published);
}

/* Loads the advisory feed into *RET_ROOT (NULL when there is none: an
 * observation says why) and calls FN for every advisory whose package is
 * installed below the fixed version. Returns the count of such, or
 * -ENOMEM. */
static int
comp_open_advisories(struct comp_ctx *ctx, struct comp_result *res,
    int (*fn)(struct comp_ctx *, struct comp_result *,
    const struct comp_adv *, const struct comp_pkg *), json_t **ret_root)
{
	const struct comp_pkg *pkgs;
	json_t *root, *a;
	time_t gen;
	size_t n, i;
	int r, open = 0;

	*ret_root = NULL;
	if ((r = comp_advisories(ctx, res, ret_root, &gen)) < 0)
		return r;
	if (!(root = *ret_root))
		return 0;
	r = comp_dpkg(ctx, res, &pkgs, &n);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return comp_obs_add(res, false, "/var/lib/dpkg/status",
		    "readable package database", "unreadable (%s)",
		    bw_strerror(r)) < 0 ? -ENOMEM : 0;
	json_array_foreach(json_object_get(root, "advisories"), i, a) {
		struct comp_adv adv;
		const struct comp_pkg *p;

		comp_adv_get(a, &adv);
		p = comp_dpkg_find(pkgs, n, adv.package);
		if (!p || comp_deb_vercmp(p->version, adv.fixed) >= 0)
			continue;
		open++;
		if ((r = fn(ctx, res, &adv, p)) < 0)
			return r;
	}
	return open;
}

static int
comp_adv_report(struct comp_ctx *ctx, struct comp_result *res,
    const struct comp_adv *adv, const struct comp_pkg *p)
{
	char req[300];

	snprintf(req, sizeof(req), ">= %s", adv->fixed);
	return comp_obs_add(res, false, adv->package, req, "%s installed "
	    "(%s, %s)", p->version, adv->id, adv->severity);
}

COMP_CHECK_FN(comp_chk_si_advisories)
{
	_cleanup_json_ json_t *root = NULL;
	int r;

	if ((r = comp_open_advisories(ctx, res, comp_adv_report, &root)) < 0)
		return r;
	if (!root)
		return COMP_NOT_SATISFIED;
	if ((r = comp_obs_add(res, r == 0, "installed packages",
	    "no open advisory", "%d open of %zu advisories", r,
	    json_array_size(json_object_get(root, "advisories")))) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

static int
comp_adv_window(const struct comp_policy *pol, const char *sev)
{
	if (!strcasecmp(sev, "low"))
		return pol->remediate_low_days;
	if (!strcasecmp(sev, "moderate") || !strcasecmp(sev, "medium"))
		return pol->remediate_moderate_days;
	return pol->remediate_high_days;	/* high, critical, unknown */
}

static int
comp_adv_overdue(struct comp_ctx *ctx, struct comp_result *res,
    const struct comp_adv *adv, const struct comp_pkg *p)
{
	long age = (long)((ctx->now - adv->published) / DAY);
	int win = comp_adv_window(ctx->policy, adv->severity);
	char req[64], subj[300];

	snprintf(req, sizeof(req), "remediated within %d days", win);
	snprintf(subj, sizeof(subj), "%s %s", adv->id, adv->package);
	return comp_obs_add(res, age <= win, subj, req, "open for %ld days "
	    "(%s severity)", age, adv->severity);
}

COMP_CHECK_FN(comp_chk_si_remediation_time)
{
	_cleanup_json_ json_t *root = NULL;
	int r;

	if ((r = comp_open_advisories(ctx, res, comp_adv_overdue, &root)) < 0)
		return r;
	if (!root)
		return COMP_NOT_SATISFIED;
	if ((r = comp_obs_add(res, true, "open advisories", "measured",
	    "%d open", r)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ra_feed_current)
{
	_cleanup_json_ json_t *root = NULL;
	time_t gen = 0;
	char req[32];
	long age;
	int r;

	if ((r = comp_advisories(ctx, res, &root, &gen)) < 0)
		return r;
	if (!root)
		return COMP_NOT_SATISFIED;
	age = (long)((ctx->now - gen) / DAY);
	snprintf(req, sizeof(req), "<= %d days", ctx->policy->feed_max_age_days);
	if ((r = comp_obs_add(res, age >= 0 &&
	    age <= ctx->policy->feed_max_age_days, ctx->policy->advisories,
	    req, "generated %ld days ago", age)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

/* Whether the N (at most 32) bytes at D read as the lowercase HEX. */
static bool
comp_hex_eq(const unsigned char *d, size_t n, const char *hex)
{
	char buf[2 * 32 + 1];

	if (n > 32 || strlen(hex) != 2 * n)
		return false;
	return strcmp(hex_encode(d, n, buf), hex) == 0;
}

/* FIPS 180-2 "abc". */
static int
comp_kat_sha256(const char *props, const char **why)
{
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA2-256", props);
	unsigned char d[32];
	int ok = 0;

	*why = "SHA-256 not available";
	if (md && EVP_Digest("abc", 3, d, NULL, md, NULL)) {
		ok = comp_hex_eq(d, 32, "ba7816bf8f01cfea414140de5dae2223"
		    "b00361a396177a9cb410ff61f20015ad");
		*why = ok ? "ok" : "wrong SHA-256 output";
	}
	EVP_MD_free(md);
	return ok;
}

/* RFC 4231 test case 2. */
static int
comp_kat_hmac(const char *props, const char **why)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", props);
	EVP_MAC_CTX *mc = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[3];
	unsigned char out[32];
	const char *data = "what do ya want for nothing?";
	size_t olen = 0;
	int ok = 0;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA2-256", 0);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_PROPERTIES,
	    (char *)props, 0);
	params[2] = OSSL_PARAM_construct_end();
	*why = "HMAC-SHA-256 not available";
	if (mc && EVP_MAC_init(mc, (const unsigned char *)"Jefe", 4, params) &&
	    EVP_MAC_update(mc, (const unsigned char *)data, strlen(data)) &&
	    EVP_MAC_final(mc, out, &olen, sizeof(out)) && olen == 32) {
		ok = comp_hex_eq(out, 32, "5bdcc146bf60754e6a042426089575c7"
		    "5a003f089d2739839dec58b964ec3843");
		*why = ok ? "ok" : "wrong HMAC output";
	}
	EVP_MAC_CTX_free(mc);
	EVP_MAC_free(mac);
	return ok;
}

/* McGrew-Viega GCM test case 14: zero key, IV and block. */
static int
comp_kat_gcm(const char *props, const char **why)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "AES-256-GCM", props);
	EVP_CIPHER_CTX *cc = c ? EVP_CIPHER_CTX_new() : NULL;
	unsigned char key[32] = { 0 }, iv[12] = { 0 }, pt[16] = { 0 };
	unsigned char ct[32], tag[16];
	int len = 0, fl = 0, ok = 0;

	*why = "AES-256-GCM not available";
	if (cc && EVP_EncryptInit_ex2(cc, c, key, iv, NULL) &&
	    EVP_EncryptUpdate(cc, ct, &len, pt, sizeof(pt)) &&
	    EVP_EncryptFinal_ex(cc, ct + len, &fl) &&
	    EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_GET_TAG, 16, tag)) {
		ok = len + fl == 16 &&
		    comp_hex_eq(ct, 16, "cea7403d4d606b6e074ec5d3baf39d18") &&
		    comp_hex_eq(tag, 16, "d0d1c8a799996bf0265b98b5d48ab919");
		*why = ok ? "ok" : "wrong AES-GCM output";
	}
	EVP_CIPHER_CTX_free(cc);
	EVP_CIPHER_free(c);
	return ok;
}

COMP_CHECK_FN(comp_chk_si_crypto_selftest)
{
	static const struct {
		const char *name;
		int (*fn)(const char *, const char **);
	} kats[] = {
		{ "SHA-256 known answer", comp_kat_sha256 },
		{ "HMAC-SHA-256 known answer", comp_kat_hmac },
		{ "AES-256-GCM known answer", comp_kat_gcm },
	};
	const char *props = ctx->policy->crypto_props ?
	    ctx->policy->crypto_props : "";
	char ref[128];
	size_t i;
	int r;

	snprintf(ref, sizeof(ref), "openssl:%s", OpenSSL_version(OPENSSL_VERSION));
	if ((r = comp_evidence_add(res, ref, NULL, 0)) < 0)
		return r;
	for (i = 0; i < ELEMENTSOF(kats); i++) {
		const char *why;
		int ok = kats[i].fn(props, &why);

		if ((r = comp_obs_add(res, ok, kats[i].name,
		    *props ? props : "expected output", "%s", why)) < 0)
			return r;
	}
	return comp_verdict_from_obs(res);
}

static char *
comp_unquote(char *v)
{
	size_t n = strlen(v);

	if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
		v[n - 1] = '\0';
		return v + 1;
	}
	return v;
}

COMP_CHECK_FN(comp_chk_sa_supported_os)
{
	_cleanup_free_ char *buf = NULL, *id = NULL, *ver = NULL;
	const char *const *s;
	char key[128];
	bool ok = false;
	int r;

	if ((r = comp_read_need(ctx, res, "etc/os-release", "/etc/os-release",
	    "readable", &buf)) < 0)
		return r;
	if (!buf)
		return COMP_NOT_SATISFIED;
	if (comp_conf_get(buf, "ID", &id) == -ENOMEM ||
	    comp_conf_get(buf, "VERSION_ID", &ver) == -ENOMEM)
		return -ENOMEM;
	snprintf(key, sizeof(key), "%s:%s", id ? comp_unquote(id) : "?",
	    ver ? comp_unquote(ver) : "?");
	for (s = ctx->policy->supported_os; s && *s && !ok; s++)
		ok = !strcmp(*s, key);
	if ((r = comp_obs_add(res, ok, "/etc/os-release", "a supported "
	    "release", "%s", key)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_sr_apt_authenticated)
{
	static const char *const bad_src[] = { "trusted=yes",
		"allow-insecure=yes", "allow-weak=yes", "trusted: yes",
		"allow-insecure: yes", "allow-weak: yes" };
	static const char *const bad_conf[] = { "allowunauthenticated",
		"allowinsecurerepositories", "allowdowngradetoinsecurerepositories",
		"allow-unauthenticated" };
	_cleanup_free_ char *main_list = NULL, *lists = NULL, *sources = NULL,
	    *conf = NULL, *all = NULL;
	struct stat st;
	bool keyring;
	size_t i;
	int r;

	r = comp_read(ctx, res, "etc/apt/sources.list", &main_list, NULL);
	if (r == -ENOMEM)
		return r;
	if ((r = comp_read_dir_concat(ctx, res, "etc/apt/sources.list.d",
	    ".list", &lists)) < 0 ||
	    (r = comp_read_dir_concat(ctx, res, "etc/apt/sources.list.d",
	    ".sources", &sources)) < 0 ||
	    (r = comp_read_dir_concat(ctx, res, "etc/apt/apt.conf.d", "",
	    &conf)) < 0)
		return r;
	if (asprintf(&all, "%s\n%s\n%s", main_list ? main_list : "", lists,
	    sources) < 0) {
		all = NULL;
		return -ENOMEM;
	}
	for (i = 0; i < ELEMENTSOF(bad_src); i++)
		if (strcasestr(all, bad_src[i]) &&
		    (r = comp_obs_add(res, false, "apt sources",
		    "signature-checked", "%s", bad_src[i])) < 0)
			return r;
	for (i = 0; i < ELEMENTSOF(bad_conf); i++) {
		const char *p = strcasestr(conf, bad_conf[i]);
		const char *nl = p ? strchr(p, '\n') : NULL;
		const char *t = p ? strcasestr(p, "true") : NULL;

		if (p && t && (!nl || t < nl) &&
		    (r = comp_obs_add(res, false, "/etc/apt/apt.conf.d",
		    "no unauthenticated installs", "%s true", bad_conf[i])) < 0)
			return r;
	}
	keyring = comp_stat(ctx, "usr/share/keyrings/debian-archive-keyring.gpg",
	    &st) == 0 || comp_stat(ctx, "etc/apt/trusted.gpg.d", &st) == 0;
	if ((r = comp_obs_add(res, keyring, "apt keyring",
	    "archive signing keys present", "%s", keyring ? "present" :
	    "missing")) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

/* RA-5(5): the scan that looks for vulnerable packages runs with
 * privileged access (it reads root-only files such as /etc/shadow), and
 * only privileged roles may start one. */
COMP_CHECK_FN(comp_chk_ra_privileged_scan)
{
	const struct comp_facts *f = ctx->facts;
	_cleanup_free_ char *shadow = NULL;
	int r;

	if ((r = comp_fact_subset(res, "scan_roles", f->scan_roles,
	    ctx->policy->privileged_roles, "privileged roles only")) < 0 ||
	    (r = comp_evidence_add(res, "fact:scanner_euid", NULL, 0)) < 0 ||
	    (r = comp_obs_add(res, f->scanner_euid == 0, "fact:scanner_euid",
	    "0 (privileged)", f->scanner_euid < 0 ? "not reported" : "%d",
	    f->scanner_euid)) < 0)
		return r;
	r = comp_read(ctx, res, "etc/shadow", &shadow, NULL);
	if (r == -ENOMEM)
		return r;
	if ((r = comp_obs_add(res, r == 0, "/etc/shadow",
	    "readable by the scanner (credentialed scan)", "%s", r == 0 ?
	    "read" : bw_strerror(r))) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

/* CA-2, CA-7: the assessment itself is automated; what is checked is
 * that it runs on its own schedule and that each run leaves a record. */
COMP_CHECK_FN(comp_chk_ca_continuous_assessment)
{
	const struct comp_facts *f = ctx->facts;
	int r;

	if ((r = comp_fact_range(res, "scan_interval_s", f->scan_interval_s,
	    1, ctx->policy->scan_interval_max_s)) < 0 ||
	    (r = comp_fact_yes(res, "audit_active", f->audit_active)) < 0 ||
	    (r = comp_fact_yes(res, "audit_fail_closed",
	    f->audit_fail_closed)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

/* CA-7: evidence is fresh when the scan before this one ran within the
 * cadence: every check runs in every scan, so the previous scan's age
 * is the age of the oldest evidence this scan replaced. The first scan
 * has nothing to be late against. */
COMP_CHECK_FN(comp_chk_ca_evidence_cadence)
{
	long age = ctx->facts->prev_scan_age_s, max = ctx->policy->evidence_max_age_s;
	int r;

	if ((r = comp_evidence_add(res, "fact:prev_scan_age_s", NULL, 0)) < 0)
		return r;
	if (age == -2) {
		if ((r = comp_obs_add(res, true, "fact:prev_scan_age_s",
		    "a previous scan", "none recorded: this is the first")) < 0)
			return r;
		return COMP_NOT_APPLICABLE;
	}
	if (age < 0)
		r = comp_obs_add(res, false, "fact:prev_scan_age_s", "reported",
		    "not reported");
	else
		r = comp_obs_add(res, age <= max, "fact:prev_scan_age_s",
		    "at most the cadence", "previous scan %lds before this one, "
		    "cadence %lds", age, max);
	if (r < 0)
		return r;
	return comp_verdict_from_obs(res);
}

/* SI-7(7): a changed measurement found by re-attestation is tracked (an
 * audited Untrusted verdict in the node's status), contained (no new
 * work for the node) and kept for later analysis (the audit trail). */
COMP_CHECK_FN(comp_chk_si_attestation_response)
{
	const struct comp_facts *f = ctx->facts;
	int max = ctx->policy->attest_stale_max_s;
	int r;

	if ((r = comp_fact_range(res, "attest_interval_s",
	    f->attest_interval_s, 1, max)) < 0 ||
	    (r = comp_fact_range(res, "attest_stale_s", f->attest_stale_s,
	    1, max)) < 0 ||
	    (r = comp_fact_yes(res, "untrusted_excluded",
	    f->untrusted_excluded)) < 0 ||
	    (r = comp_fact_yes(res, "audit_fail_closed",
	    f->audit_fail_closed)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

/* SI-10: the daemon submits malformed documents to its own validator
 * (the code every API write goes through) and reports how many were
 * refused; a well-formed one must still pass. */
COMP_CHECK_FN(comp_chk_si_input_validation)
{
	const struct comp_facts *f = ctx->facts;
	int r;

	if ((r = comp_evidence_add(res, "fact:input_probes", NULL, 0)) < 0)
		return r;
	if (f->input_probes < 0)
		r = comp_obs_add(res, false, "fact:input_probes",
		    "every malformed input refused", "not reported");
	else
		r = comp_obs_add(res, f->input_probes > 0 &&
		    f->input_rejected == f->input_probes, "fact:input_probes",
		    "every malformed input refused", "%d of %d refused",
		    f->input_rejected, f->input_probes);
	if (r < 0 || (r = comp_fact_yes(res, "input_valid_accepted",
	    f->input_valid_accepted)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}
