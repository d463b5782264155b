/* The check framework: a table of C functions, each registered against
 * the 800-53 controls it evidences, that inspect a system through a root
 * directory plus facts the appliance reports about itself, and return a
 * verdict with observations and evidence. */
#ifndef BW_COMPLIANCE_CHECK_H
#define BW_COMPLIANCE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/macro.h"

struct comp_baseline;

enum comp_verdict {
	COMP_SATISFIED = 0,
	COMP_NOT_SATISFIED,
	COMP_NOT_APPLICABLE,
	COMP_ERROR,		/* the check could not run (ENOMEM, ...) */
};

/* A fact the caller may not know: zero (unknown) counts as not shown. */
enum comp_tri { COMP_UNKNOWN = 0, COMP_NO, COMP_YES };

enum comp_tpm { COMP_TPM_UNKNOWN = 0, COMP_TPM_NONE, COMP_TPM_SOFTWARE,
	COMP_TPM_HARDWARE };

/* What the appliance knows about itself and passes in; the host is read
 * through comp_ctx.root. Initialise with comp_facts_init(). Paths are
 * relative to the root. String lists end with NULL. */
struct comp_facts {
	int		 tls_min_version;	/* TLS1_2_VERSION, ...; 0 unknown */
	const char	*tls_cipher_list;	/* OpenSSL cipher string, TLS <= 1.2 */
	const char	*tls_ciphersuites;	/* TLS 1.3 suites, ':'-separated */
	enum comp_tri	 tls_client_auth;	/* mutual TLS on API and between nodes */
	enum comp_tri	 fips_provider;		/* FIPS provider loaded, fips=yes default */
	enum comp_tri	 audit_active;		/* audit trail accepting records */
	enum comp_tri	 audit_fail_closed;	/* actions refused when not durable */
	enum comp_tri	 audit_chain_intact;	/* last hash-chain verification */
	const char	*audit_chain_detail;	/* what it covered; NULL unknown */
	int		 audit_used_pct;	/* audit partition use; -1 unknown */
	/* Audit retention (AU-11): the configured age limit (0: segments
	 * are never pruned by age; -1 unknown), and, measured on the
	 * trail, the age of its oldest record (-1 unknown) and whether
	 * records before it were pruned (it no longer starts at seq 1). */
	int		 audit_retention_days;
	long		 audit_oldest_age_s;
	enum comp_tri	 audit_pruned;
	/* A tenant's principals cannot read another tenant's objects (the
	 * authorisation decisions the API's get and list use, checked
	 * live against the stored objects), with what was checked. */
	enum comp_tri	 tenant_isolation;
	const char	*tenant_isolation_detail;
	enum comp_tri	 seccomp;		/* every appliance process confined */
	enum comp_tri	 no_new_privs;
	enum comp_tri	 privsep;		/* privileged monitor + workers */
	enum comp_tpm	 tpm;
	enum comp_tri	 keys_sealed;		/* secrets sealed to the TPM */
	enum comp_tri	 image_signatures_required;
	enum comp_tri	 rbac;			/* every API call authorised by role */
	enum comp_tri	 separation_of_duties;	/* no role both configures and audits */
	int		 idle_lock_s;		/* console idle lock; -1 unknown/off */
	enum comp_tri	 lock_conceals;		/* lock screen hides the display */
	int		 session_idle_s;	/* network session idle close; -1 unknown */
	int		 token_lifetime_s;	/* API token lifetime; -1 unknown */
	const char *const *unauth_endpoints;	/* served without authentication */
	enum comp_tri	 store_durable;		/* store commits are fsynced */
	/* State store capacity (SC-5): pages in use of its map, the mark
	 * at which it refuses writes, and whether its change log is
	 * compacted automatically. */
	int		 store_used_pct;	/* -1 unknown */
	int		 store_high_water_pct;	/* -1 unknown */
	enum comp_tri	 store_compaction;
	int		 config_revisions;	/* previous configurations kept; -1 unknown */
	/* CM-2(3): the change log still starts at the store's first
	 * revision (nothing ever compacted away), so every previous
	 * configuration there has been is held, however few. */
	enum comp_tri	 config_history_whole;
	/* The changes the store's change log keeps before compaction
	 * drops the oldest (store.history_revisions); -1 unknown. */
	long		 config_retention;
	const char *const *cert_paths;		/* appliance certificates (PEM); first = device */
	const char	*ca_path;		/* trust anchor (PEM) */

	/* Accounts (principals) of the appliance API. */
	int		 principals;		/* Principal objects examined; -1 unknown */
	const char *const *account_problems;	/* inconsistencies found; NULL unknown,
						   empty list: none */
	enum comp_tri	 revocation_per_request; /* revoked serials refused on every request */
	int		 bootstrap_max_s;	/* longest node-bootstrap credential; -1 unknown */
	int		 principal_max_days;	/* longest principal certificate issued; -1 unknown */
	/* Vulnerability scanning (RA-5(5)). */
	const char *const *scan_roles;		/* roles that may start a scan; NULL unknown */
	int		 scanner_euid;		/* effective uid of the scanner; -1 unknown */
	/* Input validation self-test (SI-10). */
	int		 input_probes;		/* malformed inputs submitted; -1 unknown */
	int		 input_rejected;	/* of which refused */
	enum comp_tri	 input_valid_accepted;	/* a well-formed input passes */
	/* Audit review (AU-6): seconds since an auditor last searched the
	 * trail; -1 unknown, -2 no review found in the period searched. */
	long		 audit_review_age_s;
	/* Ongoing assessment (CA-2, CA-7): period of scheduled scans;
	 * -1 unknown or not scheduled. */
	int		 scan_interval_s;
	/* Evidence freshness (CA-7): seconds between the previous recorded
	 * scan and this one; -1 unknown, -2 no previous scan recorded. */
	long		 prev_scan_age_s;
	/* Configuration change control (CM-3): the appliance's secrets are
	 * sealed to the measured configuration, so an unapproved change
	 * stops it. */
	enum comp_tri	 config_sealed;
	/* Node attestation (SI-7(7)). */
	int		 attest_interval_s;	/* nodes re-attest this often; -1 unknown */
	int		 attest_stale_s;	/* no good quote this long: Untrusted; -1 unknown */
	enum comp_tri	 untrusted_excluded;	/* Untrusted nodes get no new work */
	/* TPM dictionary-attack lockout (IA-3): the appliance's own TPM
	 * and each node's last report. */
	int		 tpm_lockouts;		/* in lockout; -1 unknown */
	const char	*tpm_lockout_detail;	/* which, and when they end */
	/* The live state seccomp, no_new_privs and privsep were read from
	 * ("pid 1234: uid 0, CapEff ..."); NULL unknown. */
	const char	*confinement_detail;
};

/* The default evidence cadence: every automated check at least every
 * 3 days, as FedRAMP 20x asks of Moderate key security indicators. */
#define COMP_CADENCE_DEFAULT_S	(3L * 86400)
#define COMP_CADENCE_MAX_S	(90L * 86400)	/* configurable up to */

/* Required values. comp_policy_default() gives the FedRAMP Moderate
 * values documented in docs/compliance.md. The host settings (sysctl,
 * file modes, PAM, faillock, login.defs, audit rules, banner, mounts)
 * are not here: the checks read them from the host baseline table
 * (hardening/baseline.h), the one bulwark-harden applies. */
struct comp_policy {
	int		 idle_max_s;		/* AC-11/AC-12/SC-10: 900 s */
	int		 pass_minlen;		/* IA-5(1): 12 */
	int		 pass_minclass;		/* IA-5(1): 3 */
	int		 token_max_s;		/* IA-11 */
	int		 patch_max_age_days;	/* SI-2 */
	int		 feed_max_age_days;	/* RA-5(2) */
	int		 remediate_high_days;	/* SI-2(3): 30 */
	int		 remediate_moderate_days; /* 90 */
	int		 remediate_low_days;	/* 180 */
	int		 audit_retention_min_days; /* AU-11 */
	int		 audit_used_max_pct;	/* AU-4: 75 */
	int		 store_used_max_pct;	/* SC-5: 75 (below the high-water mark) */
	int		 rsa_min_bits;
	int		 ec_min_bits;
	int		 config_revisions_min;	/* CM-2(3) */
	bool		 allow_software_tpm;	/* IA-3: swtpm only in dev/test */
	const char	*crypto_props;		/* SI-6 self-test property query */
	const uint16_t	*allowed_ports;		/* SC-7(3): external listeners; 0 ends */
	const char *const *forbidden_packages;	/* CM-7: fnmatch patterns */
	const char *const *allowed_unauth;	/* AC-14 */
	const char *const *supported_os;	/* SA-22: "debian:12" */
	const char	*integrity_manifest;	/* SI-7 */
	const char	*config_manifest;	/* CM-2 */
	const char	*packages_allow;	/* CM-8(3) */
	const char	*advisories;		/* SI-2(2), RA-5 */
	const char	*key_dir;		/* IA-5(7) */
	int		 temp_credential_max_s;	/* AC-2(2): 24 h */
	int		 principal_max_days;	/* AC-2(2): 365 */
	const char *const *privileged_roles;	/* RA-5(5): may start scans */
	int		 audit_review_max_days;	/* AU-6: 7 (weekly) */
	int		 scan_interval_max_s;	/* CA-7: 30 days (monthly) */
	/* CA-7: every automated check runs at least this often, so no
	 * finding's evidence is older (FedRAMP 20x Moderate: 3 days);
	 * bulwarkd's compliance.cadence_seconds overrides it. */
	long		 evidence_max_age_s;
	int		 attest_stale_max_s;	/* SI-7(7): 900 s */
	const char *const *p2p_packages;	/* CM-10: fnmatch patterns */
};

struct comp_cache;

/* One scan's context. ROOT is the directory the host is read under
 * ("/" on the appliance, a fixture tree in tests). */
struct comp_ctx {
	const char			*root;
	int				 rootfd;	/* set by comp_ctx_open() */
	const struct comp_facts		*facts;
	const struct comp_policy	*policy;
	time_t				 now;
	struct comp_cache		*cache;		/* parsed dpkg status, ... */
};

struct comp_obs {
	char	*subject;	/* what was looked at: "/etc/login.defs: PASS_MIN_LEN" */
	char	*found;		/* value found */
	char	*required;	/* value required */
	bool	 ok;
};

struct comp_evidence {
	char	*ref;		/* "/etc/pam.d/common-auth" or "fact:tls_min_version" */
	char	 sha256[65];	/* hex digest of the bytes read; "" for facts */
};

struct comp_check;

struct comp_result {
	const struct comp_check	*check;
	enum comp_verdict	 verdict;
	struct comp_obs		*obs;
	size_t			 n_obs, cap_obs;
	struct comp_evidence	*ev;
	size_t			 n_ev, cap_ev;
	char			*error;		/* for COMP_ERROR */
	struct timespec		 start, end;	/* CLOCK_REALTIME */
};

/* A check returns a verdict (>= 0) or a negative error. */
typedef int (*comp_check_fn)(struct comp_ctx *ctx, struct comp_result *res);

#define COMP_MAX_CONTROLS_PER_CHECK 8

struct comp_check {
	const char	*id;		/* stable: "ac-faillock" */
	const char	*title;
	const char	*description;	/* what is required, one sentence */
	comp_check_fn	 fn;
	const char	*controls[COMP_MAX_CONTROLS_PER_CHECK + 1]; /* NULL ends */
};

/* The registry, in a fixed order. *ret_n gets the count. */
const struct comp_check *comp_checks(size_t *ret_n);

/* Finds a check by id; NULL when absent. */
const struct comp_check *comp_check_find(const char *id);

/* Whether CHECK is registered against control ID. */
bool comp_check_covers(const struct comp_check *check, const char *id);

void comp_facts_init(struct comp_facts *facts);
const struct comp_policy *comp_policy_default(void);

/* Opens ROOT (O_PATH|O_DIRECTORY) into ctx->rootfd and fills in the
 * rest; FACTS and POLICY may be NULL (unknown facts, default policy).
 * NOW 0 means time(NULL). Returns 0 or -errno. Free with comp_ctx_done(). */
int comp_ctx_open(struct comp_ctx *ctx, const char *root,
    const struct comp_facts *facts, const struct comp_policy *policy,
    time_t now);
void comp_ctx_done(struct comp_ctx *ctx);

/* Runs one check into *ret (free with comp_result_free()). A check that
 * fails internally yields verdict COMP_ERROR, not a negative return;
 * returns -ENOMEM only. */
int comp_check_run(const struct comp_check *check, struct comp_ctx *ctx,
    struct comp_result **ret);
void comp_result_free(struct comp_result *res);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct comp_result *, comp_result_free);

const char *comp_verdict_str(enum comp_verdict v);

/* A scan: every registered check (or those covering at least one control
 * of BASELINE when it is not NULL), in registry order. */
struct comp_scan {
	struct comp_result	**results;
	size_t			  n;
	struct timespec		  start, end;
};

int comp_scan_run(struct comp_ctx *ctx, const struct comp_baseline *baseline,
    struct comp_scan **ret);
void comp_scan_free(struct comp_scan *scan);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct comp_scan *, comp_scan_free);

/* The verdict for control ID over a scan: not-satisfied if any check
 * covering it is not satisfied (or errored), satisfied if at least one is
 * satisfied and the others are not applicable, not-applicable if all
 * are, and -BW_E_NOTFOUND when no check covers it. */
int comp_scan_control_verdict(const struct comp_scan *scan, const char *id);

/* Helpers for check functions (compliance/checks/ *.c). */

/* Adds an observation; FOUND is printf-formatted. Returns 0 or -ENOMEM. */
int comp_obs_add(struct comp_result *res, bool ok, const char *subject,
    const char *required, const char *found_fmt, ...) _printf_(5, 6);

/* Adds evidence REF with an optional digest of LEN bytes at DATA. */
int comp_evidence_add(struct comp_result *res, const char *ref,
    const void *data, size_t len);

/* Adds evidence REF with the hex digest HEX ("" for none), as read by
 * another process (the collector). Returns 0 or -ENOMEM. */
int comp_evidence_add_hex(struct comp_result *res, const char *ref,
    const char *hex);

/* Satisfied when every observation is ok (and there is at least one). */
int comp_verdict_from_obs(const struct comp_result *res);

/* Reads root-relative PATH ("etc/login.defs"; symlinks resolved inside
 * the root) bounded to 4 MiB, records it as evidence, and returns 0,
 * -ENOENT or another -errno. */
int comp_read(struct comp_ctx *ctx, struct comp_result *res,
    const char *path, char **ret_buf, size_t *ret_len);

/* Opens root-relative PATH with FLAGS (O_CLOEXEC added), resolved
 * inside the root (symlinks followed but confined to it; O_NOFOLLOW
 * applies to the last component), as inroot_open() (lib/inroot.h).
 * Returns an fd or -errno. */
int comp_open(struct comp_ctx *ctx, const char *path, int flags);

/* stat(2) of root-relative PATH without following a final symlink. */
int comp_stat(struct comp_ctx *ctx, const char *path, struct stat *ret_st);

/* Reads sysctl NAME ("kernel.kptr_restrict") from proc/sys under the
 * root as an integer (on an offline root, its configured value);
 * records an observation comparing it with [MIN, MAX]. Returns 0 (observation added either way) or -ENOMEM. */
int comp_sysctl_expect(struct comp_ctx *ctx, struct comp_result *res,
    const char *name, long min, long max);

/* Whether the scanned root is an image rather than a running system:
 * it has no proc/sys. Kernel settings and mounts are then read from
 * their configuration (sysctl.d, fstab). */
bool comp_root_offline(struct comp_ctx *ctx);

/* Adds an observation for each host baseline item (hardening/
 * baseline.h) that CHECK_ID reads: files are read through the root
 * and recorded as evidence, sysctls go through comp_sysctl_expect();
 * audit rule items are left to the checks that read all the rules.
 * Returns 0 or -ENOMEM. */
int comp_baseline_expect(struct comp_ctx *ctx, struct comp_result *res,
    const char *check_id);

/* comp_sysctl_expect() with the range of the baseline item for sysctl
 * NAME. */
int comp_sysctl_baseline(struct comp_ctx *ctx, struct comp_result *res,
    const char *name);

/* Steps *CURSOR (start it at the text) to the next line that is neither
 * blank nor a comment ('#' after leading blanks) and returns that line's
 * start, with *RET_LEN its length without the newline and *RET_TEXT its
 * first non-blank character; NULL after the last line. */
const char *comp_line_next(const char **cursor, size_t *ret_len,
    const char **ret_text);

/* Finds the last uncommented "KEY value" / "KEY = value" line in BUF
 * (keys compared case-insensitively). *ret_val is allocated, trimmed.
 * Returns 0, -ENOENT or -ENOMEM. */
int comp_conf_get(const char *buf, const char *key, char **ret_val);

/* Whether a process named COMM (as in /proc/PID/comm) runs under the
 * root's proc. */
bool comp_proc_running(struct comp_ctx *ctx, const char *comm);

struct comp_pkg {
	char	*name;
	char	*version;
	char	*status;	/* "install ok installed" */
	bool	 installed;
};

/* The root's dpkg status (var/lib/dpkg/status), parsed once per
 * context and recorded as evidence. Returns 0, -ENOENT, -errno. */
int comp_dpkg(struct comp_ctx *ctx, struct comp_result *res,
    const struct comp_pkg **ret_pkgs, size_t *ret_n);

/* Installed package NAME, or NULL. */
const struct comp_pkg *comp_dpkg_find(const struct comp_pkg *pkgs, size_t n,
    const char *name);

/* Debian version comparison (dpkg --compare-versions semantics):
 * <0, 0, >0. */
int comp_deb_vercmp(const char *a, const char *b);

/* Verifies a sha256sum-format manifest at root-relative MANIFEST: every
 * listed file (absolute paths, resolved under the root) must exist and
 * match. Adds observations. Returns 0 or -ENOMEM. */
int comp_manifest_verify(struct comp_ctx *ctx, struct comp_result *res,
    const char *manifest);

#endif
