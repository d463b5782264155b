/* Check registry, scan driver and the helpers check functions share.
 * Every read of the host goes through the context's root directory with
 * symlinks resolved inside it, so a fixture tree can never make a check
 * read the real system and a hostile symlink cannot escape the root. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "lib/b64.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/inroot.h"
#include "lib/macro.h"
#include "compliance/catalog.h"
#include "compliance/check.h"
#include "hardening/baseline.h"
#include "compliance/checks/checks.h"

#define COMP_READ_MAX		(4u << 20)
#define COMP_DPKG_MAX		(64u << 20)
#define COMP_DPKG_MAX_PKGS	100000
#define COMP_MANIFEST_MAX_ENTRIES 20000
#define COMP_MAX_PROCS		65536
#define COMP_MAX_OBS		4096

#define C(...)	{ __VA_ARGS__, NULL }

/* The registry. Mapping rule: a check lists a control only when its
 * verdict alone answers a part of that control's requirement on this
 * system; see docs/compliance.md for the reasoning per check. */
static const struct comp_check comp_registry[] = {
	{ "ac-faillock", "Account lockout after unsuccessful logons",
	  "pam_faillock in the auth stack; deny <= 3 within 15 min; unlock after >= 30 min or by an administrator",
	  comp_chk_ac_faillock, C("ac-7") },
	{ "ac-banner", "System use notification banner",
	  "/etc/issue and /etc/issue.net carry the approved notice and reveal no OS details",
	  comp_chk_ac_banner, C("ac-8") },
	{ "ac-shell-timeout", "Shell inactivity logout",
	  "a read-only TMOUT <= 900 s is set for every login shell",
	  comp_chk_ac_shell_timeout, C("ac-2.5", "ac-12") },
	{ "ac-idle-lock", "Console idle lock",
	  "the admin console locks after <= 900 s idle and hides the screen while locked",
	  comp_chk_ac_idle_lock, C("ac-11", "ac-11.1") },
	{ "ac-accounts", "Unique, authenticated accounts",
	  "unique user names and uids, no empty passwords, system accounts cannot log in",
	  comp_chk_ac_accounts, C("ac-2", "ac-2.9", "ia-2", "ia-4") },
	{ "ac-inactive-disable", "Disable inactive accounts",
	  "new accounts are disabled after <= 90 days of inactivity (useradd INACTIVE)",
	  comp_chk_ac_inactive_disable, C("ac-2.3") },
	{ "ac-root-restricted", "Privileged account restricted",
	  "only root has uid 0 and root cannot log in with a password",
	  comp_chk_ac_root_restricted, C("ac-6.2", "ac-6.5", "ia-2.5") },
	{ "ac-su-restricted", "su restricted to the admin group",
	  "pam_wheel is required by /etc/pam.d/su",
	  comp_chk_ac_su_restricted, C("ac-6.10") },
	{ "ac-file-perms", "Security-relevant files protected",
	  "account and authenticator files are owned by root and not writable (shadow not readable) by others; users' default umask 027",
	  comp_chk_ac_file_perms, C("ac-3", "ac-6.1", "ia-5.6") },
	{ "ac-rbac", "Role-based access enforcement",
	  "every API call is authorised through role bindings, with privileged roles distinct",
	  comp_chk_ac_rbac, C("ac-3", "ac-2.7") },
	{ "ac-separation-of-duties", "Separation of duties",
	  "no role both changes configuration and manages the audit trail",
	  comp_chk_ac_separation_of_duties, C("ac-5") },
	{ "ac-least-privilege", "Least privilege for appliance processes",
	  "every appliance process runs under seccomp with no_new_privs",
	  comp_chk_ac_least_privilege, C("ac-6") },
	{ "ac-tenant-isolation", "Tenant information flow isolation",
	  "a tenant's principals cannot read or change another tenant's objects",
	  comp_chk_ac_tenant_isolation, C("ac-4", "ac-4.21") },
	{ "ac-remote-access", "Remote access only through the audited API",
	  "no remote shell service installed or running; remote access is mutual TLS and audited",
	  comp_chk_ac_remote_access, C("ac-17", "ac-17.1") },
	{ "ac-listening-ports", "External listeners limited",
	  "only the approved ports listen on non-loopback addresses",
	  comp_chk_ac_listening_ports, C("ac-17.3", "cm-7", "cm-7.1", "sc-7.3") },
	{ "ac-wireless", "No wireless networking",
	  "no wireless network interface exists",
	  comp_chk_ac_wireless, C("ac-18", "ac-18.1", "ac-18.3") },
	{ "ac-usb-storage", "Removable storage disabled",
	  "the usb-storage module cannot be loaded and is not loaded",
	  comp_chk_ac_usb_storage, C("ac-20.2", "mp-7") },
	{ "ac-unauth-actions", "Actions without identification",
	  "only approved endpoints are served without authentication",
	  comp_chk_ac_unauth_actions, C("ac-14") },
	{ "ac-account-lifecycle", "Automated account management",
	  "API accounts are created, bound and revoked only through the audited principal API; a revoked account is refused at once",
	  comp_chk_ac_account_lifecycle, C("ac-2.1", "ac-2.13") },
	{ "ac-credential-expiry", "Temporary credentials expire",
	  "node-bootstrap credentials live <= 24 h and every principal certificate expires within 365 days",
	  comp_chk_ac_credential_expiry, C("ac-2.2") },
	{ "ac-privileged-remote", "Privileged remote commands leave evidence",
	  "remote administration and maintenance only through mutual-TLS API calls authorised by role, recorded before they act, closed when idle",
	  comp_chk_ac_privileged_remote, C("ac-17.4", "ma-4") },

	{ "au-auditd-running", "Audit record generation active",
	  "auditd runs with a configuration and the appliance audit trail is active",
	  comp_chk_au_auditd_running, C("au-12", "si-4", "si-4.23") },
	{ "au-rules-events", "Audited event types",
	  "audit rules cover logins, identity, privilege use, time changes, modules, mounts and deletions",
	  comp_chk_au_rules_events, C("au-2") },
	{ "au-rules-identity", "Account changes audited",
	  "audit rules watch passwd, group, shadow, gshadow and opasswd for writes",
	  comp_chk_au_rules_identity, C("ac-2.4") },
	{ "au-rules-privileged", "Privileged functions audited",
	  "audit rules record execve with euid 0 by other users and use of sudo/su",
	  comp_chk_au_rules_privileged, C("ac-6.9") },
	{ "au-rules-config", "Configuration changes audited",
	  "audit rules watch sudoers, PAM, audit and appliance configuration",
	  comp_chk_au_rules_config, C("cm-5.1") },
	{ "au-log-format", "Audit record content",
	  "auditd writes ENRICHED records with the node name",
	  comp_chk_au_log_format, C("au-3", "au-3.1") },
	{ "au-capacity", "Audit storage capacity",
	  "auditd reserves space and warns early; the audit partition is below 75%",
	  comp_chk_au_capacity, C("au-4") },
	{ "au-failure-response", "Response to audit failure",
	  "auditd halts or goes single-user when the disk is full or fails; the appliance fails closed",
	  comp_chk_au_failure_response, C("au-5") },
	{ "au-tools", "Audit reduction and reporting",
	  "ausearch and aureport are installed",
	  comp_chk_au_tools, C("au-7", "au-7.1") },
	{ "au-protection", "Audit information protected",
	  "audit logs and tools are root-only, rules are immutable, the hash chain verifies",
	  comp_chk_au_protection, C("au-9", "au-9.4") },
	{ "au-retention", "Audit record retention",
	  "logs are kept, not rotated away, for the required retention",
	  comp_chk_au_retention, C("au-11") },
	{ "au-time-sync", "Time synchronisation",
	  "chrony or timesyncd runs with an authoritative time source configured",
	  comp_chk_au_time_sync, C("au-8", "sc-45", "sc-45.1") },
	{ "au-review", "Audit records reviewed",
	  "a security auditor searched the appliance audit trail within the last 7 days",
	  comp_chk_au_review, C("au-6") },

	{ "cm-config-baseline", "Baseline configuration intact",
	  "every file of the configuration baseline matches its recorded digest",
	  comp_chk_cm_config_baseline, C("cm-2", "cm-2.2") },
	{ "cm-sysctl-baseline", "Kernel configuration settings",
	  "the full sysctl hardening baseline is in effect, login sessions cannot dump core and the kernel modules the appliance does not use cannot be loaded",
	  comp_chk_cm_sysctl_baseline, C("cm-6", "cm-6.1") },
	{ "cm-prohibited-software", "No nonessential software",
	  "no remote shell, legacy network service or compiler is installed",
	  comp_chk_cm_prohibited_software, C("cm-7") },
	{ "cm-noexec-mounts", "No execution from temporary storage",
	  "/tmp, /var/tmp and /dev/shm are mounted noexec,nosuid,nodev",
	  comp_chk_cm_noexec_mounts, C("cm-7.2") },
	{ "cm-signed-images", "Only signed workload images run",
	  "the image signature policy refuses unsigned images",
	  comp_chk_cm_signed_images, C("cm-7.5", "sr-11") },
	{ "cm-inventory", "Software inventory",
	  "the package inventory is consistent and every package is authorised",
	  comp_chk_cm_inventory, C("cm-8", "cm-8.1", "cm-8.3") },
	{ "cm-system-dirs", "Change restricted to root",
	  "system directories and the package database are writable only by root",
	  comp_chk_cm_system_dirs, C("cm-5", "cm-5.5", "cm-11") },
	{ "cm-config-history", "Previous configurations retained",
	  "at least two previous configuration revisions are kept, or every one there has been",
	  comp_chk_cm_config_history, C("cm-2.3") },
	{ "cm-change-control", "Configuration changes controlled",
	  "secrets are sealed to the measured configuration, only system-admin changes configuration, and every change is recorded before it takes effect",
	  comp_chk_cm_change_control, C("cm-3") },
	{ "cm-p2p-software", "No peer-to-peer file sharing",
	  "no peer-to-peer file sharing software is installed",
	  comp_chk_cm_p2p_software, C("cm-10") },

	{ "ia-password-quality", "Password length and complexity",
	  "pam_pwquality enforces minlen >= 12 and 3 character classes",
	  comp_chk_ia_password_quality, C("ia-5.1") },
	{ "ia-password-storage", "Password storage",
	  "passwords are stored with yescrypt or SHA-512 crypt (65536 rounds); no empty passwords accepted; new accounts' passwords last 1 to 60 days",
	  comp_chk_ia_password_storage, C("ia-5", "ia-5.6") },
	{ "ia-device-identity", "Device identity",
	  "the node identity is a certificate bound to a TPM and peers are authenticated by mutual TLS",
	  comp_chk_ia_device_identity, C("ia-3", "ca-9") },
	{ "ia-pki-certs", "Certificates and keys",
	  "appliance certificates chain to the trust anchor, are in validity, use strong keys and signatures",
	  comp_chk_ia_pki_certs, C("ia-5.2", "sc-12", "sc-17") },
	{ "ia-no-plaintext-keys", "No unencrypted static keys",
	  "no unencrypted private key is stored in the appliance configuration",
	  comp_chk_ia_no_plaintext_keys, C("ia-5.7") },
	{ "ia-fips", "Validated cryptographic module",
	  "the OpenSSL FIPS provider is in use",
	  comp_chk_ia_fips, C("ia-7", "sc-13") },
	{ "ia-api-auth", "Replay-resistant authentication of all users",
	  "the API requires mutual TLS 1.2+ for every user, including tenant users",
	  comp_chk_ia_api_auth, C("ia-2.8", "ia-8") },
	{ "ia-reauth", "Re-authentication",
	  "API tokens expire within the allowed lifetime",
	  comp_chk_ia_reauth, C("ia-11") },

	{ "sc-tls", "Transmission protection",
	  "TLS 1.2 minimum with forward-secret AEAD suites only",
	  comp_chk_sc_tls, C("sc-8", "sc-8.1", "sc-23", "ac-17.2") },
	{ "sc-syn-flood", "Denial-of-service protection",
	  "TCP SYN cookies on, broadcast ICMP echo ignored",
	  comp_chk_sc_syn_flood, C("sc-5") },
	{ "sc-network-sysctl", "Host network boundary settings",
	  "no redirects, no source routing, reverse-path filtering and martian logging",
	  comp_chk_sc_network_sysctl, C("sc-7") },
	{ "sc-firewall", "Host firewall deny by default",
	  "nftables input and forward chains have policy drop",
	  comp_chk_sc_firewall, C("sc-7", "sc-7.5", "sc-7.12") },
	{ "sc-privsep", "Separation of system and user functions",
	  "network parsing runs in unprivileged workers apart from the privileged monitor",
	  comp_chk_sc_privsep, C("sc-2") },
	{ "sc-kernel-info", "Kernel information not shared",
	  "kernel pointers, logs and perf events are hidden from unprivileged users",
	  comp_chk_sc_kernel_info, C("sc-4", "si-11") },
	{ "sc-process-isolation", "Process isolation",
	  "ptrace restricted, protected links, no setuid core dumps, seccomp confinement",
	  comp_chk_sc_process_isolation, C("sc-39") },
	{ "sc-data-at-rest", "Encryption at rest",
	  "data volumes are LUKS-encrypted (crypttab)",
	  comp_chk_sc_data_at_rest, C("sc-28", "sc-28.1") },
	{ "sc-key-management", "Keys sealed to the TPM",
	  "appliance secrets are sealed to a TPM PCR policy",
	  comp_chk_sc_key_management, C("sc-12") },
	{ "sc-session-idle", "Network disconnect",
	  "idle network sessions are closed within 900 s",
	  comp_chk_sc_session_idle, C("sc-10") },
	{ "sc-collab-devices", "No collaborative computing devices",
	  "no camera or sound capture device is present",
	  comp_chk_sc_collab_devices, C("sc-15") },
	{ "sc-dns-validation", "Validated name resolution",
	  "the host resolves names through a local DNSSEC-validating resolver (or not at all)",
	  comp_chk_sc_dns_validation, C("sc-21") },
	{ "cp-store-durable", "Transaction recovery",
	  "store transactions are committed durably (fsync) and recover after a crash",
	  comp_chk_cp_store_durable, C("cp-10", "cp-10.2") },
	{ "sc-store-capacity", "State store capacity",
	  "the state store compacts its change log automatically and uses at most 75% of its map, below the mark where it refuses writes",
	  comp_chk_sc_store_capacity, C("sc-5") },

	{ "si-memory-protection", "Memory protection",
	  "full ASLR and NX-capable CPU",
	  comp_chk_si_memory_protection, C("si-16") },
	{ "si-binary-integrity", "Software integrity",
	  "every file of the integrity manifest matches its digest",
	  comp_chk_si_binary_integrity, C("si-7", "si-7.1") },
	{ "si-attestation-response", "Integrity violations answered",
	  "nodes re-attest on a timer; a node whose measurements change becomes Untrusted, gets no new work, and the verdict is recorded",
	  comp_chk_si_attestation_response, C("si-7.7") },
	{ "si-input-validation", "Input validation",
	  "the API's document validator refuses every malformed probe and accepts a well-formed one",
	  comp_chk_si_input_validation, C("si-10") },
	{ "si-patch-age", "Updates installed recently",
	  "the package database changed within 30 days",
	  comp_chk_si_patch_age, C("si-2") },
	{ "si-advisories", "Known flaws remediated",
	  "no installed package is older than the fixed version of an advisory",
	  comp_chk_si_advisories, C("si-2.2", "ra-5") },
	{ "si-remediation-time", "Time to remediate",
	  "no open advisory is older than its remediation window (30/90/180 days)",
	  comp_chk_si_remediation_time, C("si-2.3") },
	{ "ra-feed-current", "Vulnerability data current",
	  "the advisory feed was generated within 30 days",
	  comp_chk_ra_feed_current, C("ra-5.2", "si-5") },
	{ "ra-privileged-scan", "Privileged vulnerability scanning",
	  "scans run with privileged access and only privileged roles may start them",
	  comp_chk_ra_privileged_scan, C("ra-5.5") },
	{ "ca-continuous-assessment", "Ongoing control assessment",
	  "control checks run on a schedule at least monthly and every scan is recorded in the audit trail",
	  comp_chk_ca_continuous_assessment, C("ca-2", "ca-7") },
	{ "ca-evidence-cadence", "Evidence freshness",
	  "every automated check ran within the cadence (default 3 days) before this scan",
	  comp_chk_ca_evidence_cadence, C("ca-7") },
	{ "si-crypto-selftest", "Security function verification",
	  "known-answer tests of SHA-256, HMAC-SHA-256 and AES-256-GCM pass",
	  comp_chk_si_crypto_selftest, C("si-6") },
	{ "sa-supported-os", "Supported components",
	  "the operating system release is supported",
	  comp_chk_sa_supported_os, C("sa-22") },
	{ "sr-apt-authenticated", "Authentic software sources",
	  "package sources are signature-checked; no unauthenticated installs",
	  comp_chk_sr_apt_authenticated, C("sr-11") },
};

const struct comp_check *
comp_checks(size_t *ret_n)
{
	*ret_n = ELEMENTSOF(comp_registry);
	return comp_registry;
}

const struct comp_check *
comp_check_find(const char *id)
{
	size_t i;

	for (i = 0; id && i < ELEMENTSOF(comp_registry); i++)
		if (!strcmp(comp_registry[i].id, id))
			return &comp_registry[i];
	return NULL;
}

bool
comp_check_covers(const struct comp_check *check, const char *id)
{
	size_t i;

	for (i = 0; check->controls[i]; i++)
		if (!strcasecmp(check->controls[i], id))
			return true;
	return false;
}

/* The facts no collector reported, for contexts opened without facts;
 * comp_facts_init() starts from these. */
static const struct comp_facts comp_unknown_facts = {
	.audit_used_pct = -1,
	.store_used_pct = -1,
	.store_high_water_pct = -1,
	.audit_retention_days = -1,
	.audit_oldest_age_s = -1,
	.idle_lock_s = -1,
	.session_idle_s = -1,
	.token_lifetime_s = -1,
	.config_revisions = -1,
	.config_retention = -1,
	.tpm_lockouts = -1,
};

void
comp_facts_init(struct comp_facts *f)
{
	*f = comp_unknown_facts;
	f->principals = -1;
	f->bootstrap_max_s = -1;
	f->principal_max_days = -1;
	f->scanner_euid = -1;
	f->input_probes = -1;
	f->input_rejected = -1;
	f->audit_review_age_s = -1;
	f->scan_interval_s = -1;
	f->prev_scan_age_s = -1;
	f->attest_interval_s = -1;
	f->attest_stale_s = -1;
}

static const uint16_t comp_default_ports[] = { 443, 8443, 2379, 2380, 0 };
static const char *const comp_default_forbidden[] = {
	"openssh-server", "dropbear*", "telnetd*", "*-telnetd", "rsh-server",
	"rsh-redone-server", "nis", "tftpd*", "vsftpd", "ftpd", "xinetd",
	/* The versioned compilers by exact name: gcc-[0-9]* would also
	 * match gcc-12-base, libgcc-s1's dependency, which holds no
	 * compiler (only its documentation). Cross compilers by their
	 * target triplet (gcc-12-aarch64-linux-gnu, and Debian 13's
	 * native gcc-14-x86-64-linux-gnu). */
	"gcc", "gcc-[0-9]", "gcc-[0-9][0-9]", "g++", "g++-[0-9]",
	"g++-[0-9][0-9]", "gcc-[0-9]*-linux-gnu*", "g++-[0-9]*-linux-gnu*",
	"clang", "clang-[0-9]", "clang-[0-9][0-9]",
	"tcc", "build-essential", NULL
};
static const char *const comp_default_unauth[] = {
	"GET /healthz", "GET /readyz", NULL
};
static const char *const comp_default_os[] = { "debian:12", "debian:13",
	NULL };
static const char *const comp_default_privileged[] = { "system-admin",
	"security-auditor", NULL };
static const char *const comp_default_p2p[] = {
	"transmission*", "deluge*", "qbittorrent*", "ktorrent", "rtorrent",
	"bittorrent*", "btcheck", "aria2", "amule*", "mldonkey*",
	"gtk-gnutella", "nicotine", "frostwire", "tribler", "eiskaltdcpp*",
	"linuxdcpp", "retroshare*", "syncthing", NULL
};

static const struct comp_policy comp_default_policy = {
	.idle_max_s = 900,
	.pass_minlen = 12,
	.pass_minclass = 3,
	.token_max_s = 12 * 3600,
	.patch_max_age_days = 30,
	.feed_max_age_days = 30,
	.remediate_high_days = 30,
	.remediate_moderate_days = 90,
	.remediate_low_days = 180,
	.audit_retention_min_days = 365,
	.audit_used_max_pct = 75,
	.store_used_max_pct = 75,
	.rsa_min_bits = 2048,
	.ec_min_bits = 256,
	.config_revisions_min = 2,
	.allow_software_tpm = false,
	.crypto_props = "",
	.allowed_ports = comp_default_ports,
	.forbidden_packages = comp_default_forbidden,
	.allowed_unauth = comp_default_unauth,
	.supported_os = comp_default_os,
	.integrity_manifest = "etc/bulwark/integrity.sha256",
	.config_manifest = "etc/bulwark/config-baseline.sha256",
	.packages_allow = "etc/bulwark/packages.allow",
	.advisories = "var/lib/bulwark/advisories.json",
	.key_dir = "etc/bulwark",
	.temp_credential_max_s = 24 * 3600,
	.principal_max_days = 365,
	.privileged_roles = comp_default_privileged,
	.audit_review_max_days = 7,
	.scan_interval_max_s = 30 * 86400,
	.evidence_max_age_s = COMP_CADENCE_DEFAULT_S,
	.attest_stale_max_s = 900,
	.p2p_packages = comp_default_p2p,
};

const struct comp_policy *
comp_policy_default(void)
{
	return &comp_default_policy;
}


/* Parsed once per context. */
struct comp_cache {
	bool		 dpkg_done;
	int		 dpkg_r;
	struct comp_pkg	*pkgs;
	size_t		 n_pkgs;
	char		 dpkg_sha[65];
	bool		 procs_done;
	char		**comms;
	size_t		 n_comms;
};

static void
comp_cache_free(struct comp_cache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n_pkgs; i++) {
		free(c->pkgs[i].name);
		free(c->pkgs[i].version);
		free(c->pkgs[i].status);
	}
	free(c->pkgs);
	for (i = 0; i < c->n_comms; i++)
		free(c->comms[i]);
	free(c->comms);
	free(c);
}

int
comp_ctx_open(struct comp_ctx *ctx, const char *root,
    const struct comp_facts *facts, const struct comp_policy *policy,
    time_t now)
{
	int fd;

	memset(ctx, 0, sizeof(*ctx));
	ctx->rootfd = -1;
	fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!(ctx->cache = calloc(1, sizeof(*ctx->cache)))) {
		close(fd);
		return -ENOMEM;
	}
	if (!facts)
		facts = &comp_unknown_facts;
	ctx->root = root;
	ctx->rootfd = fd;
	ctx->facts = facts;
	ctx->policy = policy ? policy : &comp_default_policy;
	ctx->now = now ? now : time(NULL);
	return 0;
}

void
comp_ctx_done(struct comp_ctx *ctx)
{
	if (ctx->rootfd >= 0)
		close(ctx->rootfd);
	ctx->rootfd = -1;
	comp_cache_free(ctx->cache);
	ctx->cache = NULL;
}

void
comp_result_free(struct comp_result *res)
{
	size_t i;

	if (!res)
		return;
	for (i = 0; i < res->n_obs; i++) {
		free(res->obs[i].subject);
		free(res->obs[i].found);
		free(res->obs[i].required);
	}
	free(res->obs);
	for (i = 0; i < res->n_ev; i++)
		free(res->ev[i].ref);
	free(res->ev);
	free(res->error);
	free(res);
}

const char *
comp_verdict_str(enum comp_verdict v)
{
	switch (v) {
	case COMP_SATISFIED:
		return "satisfied";
	case COMP_NOT_SATISFIED:
		return "not-satisfied";
	case COMP_NOT_APPLICABLE:
		return "not-applicable";
	case COMP_ERROR:
		return "error";
	}
	return "error";
}

int
comp_check_run(const struct comp_check *check, struct comp_ctx *ctx,
    struct comp_result **ret)
{
	struct comp_result *res;
	int r;

	if (!(res = calloc(1, sizeof(*res))))
		return -ENOMEM;
	res->check = check;
	clock_gettime(CLOCK_REALTIME, &res->start);
	r = check->fn(ctx, res);
	clock_gettime(CLOCK_REALTIME, &res->end);
	if (r == -ENOMEM) {
		comp_result_free(res);
		return r;
	}
	if (r < 0 || r > COMP_ERROR) {
		res->verdict = COMP_ERROR;
		if (asprintf(&res->error, "check failed: %s",
		    bw_strerror(r < 0 ? r : -EINVAL)) < 0)
			res->error = NULL;
	} else
		res->verdict = (enum comp_verdict)r;
	*ret = res;
	return 0;
}

void
comp_scan_free(struct comp_scan *scan)
{
	size_t i;

	if (!scan)
		return;
	for (i = 0; i < scan->n; i++)
		comp_result_free(scan->results[i]);
	free(scan->results);
	free(scan);
}

static bool
comp_check_in_baseline(const struct comp_check *check,
    const struct comp_baseline *base)
{
	size_t i;

	for (i = 0; check->controls[i]; i++)
		if (comp_baseline_contains(base, check->controls[i]))
			return true;
	return false;
}

int
comp_scan_run(struct comp_ctx *ctx, const struct comp_baseline *baseline,
    struct comp_scan **ret)
{
	_cleanup_(comp_scan_freep) struct comp_scan *scan = NULL;
	size_t i;
	int r;

	if (!(scan = calloc(1, sizeof(*scan))) ||
	    !(scan->results = calloc(ELEMENTSOF(comp_registry),
	    sizeof(*scan->results))))
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &scan->start);
	for (i = 0; i < ELEMENTSOF(comp_registry); i++) {
		if (baseline && !comp_check_in_baseline(&comp_registry[i],
		    baseline))
			continue;
		r = comp_check_run(&comp_registry[i], ctx,
		    &scan->results[scan->n]);
		if (r < 0)
			return r;
		scan->n++;
	}
	clock_gettime(CLOCK_REALTIME, &scan->end);
	*ret = TAKE_PTR(scan);
	return 0;
}

int
comp_scan_control_verdict(const struct comp_scan *scan, const char *id)
{
	bool any = false, sat = false;
	size_t i;

	for (i = 0; i < scan->n; i++) {
		const struct comp_result *r = scan->results[i];

		if (!comp_check_covers(r->check, id))
			continue;
		any = true;
		if (r->verdict == COMP_NOT_SATISFIED ||
		    r->verdict == COMP_ERROR)
			return COMP_NOT_SATISFIED;
		if (r->verdict == COMP_SATISFIED)
			sat = true;
	}
	if (!any)
		return -BW_E_NOTFOUND;
	return sat ? COMP_SATISFIED : COMP_NOT_APPLICABLE;
}

static int
comp_str_or_null(const char *s, char **ret)
{
	*ret = NULL;
	if (s && !(*ret = strdup(s)))
		return -ENOMEM;
	return 0;
}

int
comp_obs_add(struct comp_result *res, bool ok, const char *subject,
    const char *required, const char *found_fmt, ...)
{
	struct comp_obs *o;
	va_list ap;
	int n;

	if (res->n_obs >= COMP_MAX_OBS)
		return 0;	/* the verdict already holds; bound the report */
	if (res->n_obs == res->cap_obs) {
		size_t cap = res->cap_obs ? res->cap_obs * 2 : 8;
		struct comp_obs *p = reallocarray(res->obs, cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		res->obs = p;
		res->cap_obs = cap;
	}
	o = &res->obs[res->n_obs];
	memset(o, 0, sizeof(*o));
	o->ok = ok;
	va_start(ap, found_fmt);
	n = vasprintf(&o->found, found_fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	/* Root-relative paths are reported as absolute ones. */
	if (subject && strchr(subject, '/') && subject[0] != '/' &&
	    !strchr(subject, ' ') && !strchr(subject, ':')) {
		if (asprintf(&o->subject, "/%s", subject) < 0) {
			free(o->found);
			return -ENOMEM;
		}
	} else if (comp_str_or_null(subject, &o->subject) < 0) {
		free(o->found);
		return -ENOMEM;
	}
	if (comp_str_or_null(required, &o->required) < 0) {
		free(o->found);
		free(o->subject);
		return -ENOMEM;
	}
	res->n_obs++;
	return 0;
}

int
comp_evidence_add_hex(struct comp_result *res, const char *ref,
    const char *hex)
{
	struct comp_evidence *e;
	size_t i;

	for (i = 0; i < res->n_ev; i++)
		if (!strcmp(res->ev[i].ref, ref) &&
		    !strcmp(res->ev[i].sha256, hex))
			return 0;
	if (res->n_ev == res->cap_ev) {
		size_t cap = res->cap_ev ? res->cap_ev * 2 : 4;
		struct comp_evidence *p = reallocarray(res->ev, cap,
		    sizeof(*p));

		if (!p)
			return -ENOMEM;
		res->ev = p;
		res->cap_ev = cap;
	}
	e = &res->ev[res->n_ev];
	if (!(e->ref = strdup(ref)))
		return -ENOMEM;
	snprintf(e->sha256, sizeof(e->sha256), "%s", hex);
	res->n_ev++;
	return 0;
}

int
comp_evidence_add(struct comp_result *res, const char *ref, const void *data,
    size_t len)
{
	unsigned char md[32];
	char hex[65] = "";

	if (data) {
		if (!EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL))
			return -BW_E_CRYPTO;
		hex_encode(md, sizeof(md), hex);
	}
	return comp_evidence_add_hex(res, ref, hex);
}

int
comp_verdict_from_obs(const struct comp_result *res)
{
	size_t i;

	if (res->n_obs == 0)
		return COMP_NOT_SATISFIED;
	for (i = 0; i < res->n_obs; i++)
		if (!res->obs[i].ok)
			return COMP_NOT_SATISFIED;
	return COMP_SATISFIED;
}

static const char *
comp_rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

int
comp_open(struct comp_ctx *ctx, const char *path, int flags)
{
	return inroot_open(ctx->rootfd, path, flags);
}

int
comp_stat(struct comp_ctx *ctx, const char *path, struct stat *ret_st)
{
	_cleanup_close_ int fd = -1;

	/* O_PATH|O_NOFOLLOW stats a final symlink itself. */
	fd = comp_open(ctx, path, O_PATH | O_NOFOLLOW);
	if (fd < 0)
		return fd;
	if (fstat(fd, ret_st) < 0)
		return -errno;
	return 0;
}

/* Whether root-relative PATH holds password hashes: its evidence names
 * it without a digest, which would let anyone holding the assessment
 * results confirm a guess of the whole file. */
static bool
comp_secret_file(const char *path)
{
	static const char *const secret[] = { "etc/shadow", "etc/shadow-",
		"etc/gshadow", "etc/gshadow-" };
	size_t i;

	for (i = 0; i < ELEMENTSOF(secret); i++)
		if (!strcmp(comp_rel(path), secret[i]))
			return true;
	return false;
}

int
comp_read(struct comp_ctx *ctx, struct comp_result *res, const char *path,
    char **ret_buf, size_t *ret_len)
{
	_cleanup_close_ int	 fd = -1;
	_cleanup_free_ char	*buf = NULL, *ref = NULL;
	size_t			 len;
	int			 r;

	/* O_NONBLOCK and regular files only: a FIFO put at a checked path
	 * would otherwise hold the scan (and the loop it runs on). */
	fd = comp_open(ctx, path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return fd;
	if ((r = fd_regular(fd)) < 0 ||
	    (r = read_bounded(fd, COMP_READ_MAX, &buf, &len)) < 0)
		return r;
	if (asprintf(&ref, "/%s", comp_rel(path)) < 0) {
		ref = NULL;
		return -ENOMEM;
	}
	if (res && (r = comp_evidence_add(res, ref, comp_secret_file(path) ?
	    NULL : buf, comp_secret_file(path) ? 0 : len)) < 0)
		return r;
	*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

/* The offline half of comp_sysctl_expect(): the value the root's
 * sysctl.d files set. */
static int
comp_sysctl_configured(struct comp_ctx *ctx, struct comp_result *res,
    const char *name, const char *subj, long min, long max, const char *req)
{
	_cleanup_free_ char *csubj = NULL;
	long v;
	int r;

	if (asprintf(&csubj, "%s (configured)", subj) < 0) {
		csubj = NULL;
		return -ENOMEM;
	}
	if (comp_evidence_add(res, "/etc/sysctl.d", NULL, 0) < 0)
		return -ENOMEM;
	r = hb_sysctl_configured(ctx->rootfd, name, &v);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return comp_obs_add(res, false, csubj, req, "%s", r == -ENOENT ?
		    "not set" : bw_strerror(r));
	return comp_obs_add(res, v >= min && v <= max, csubj, req, "%ld", v);
}

/* How old a record of root's may be and still stand for the live value:
 * the collector's unit records again just before each scan, so a record
 * older than this was not made for this scan, and a value changed since
 * boot would otherwise hide behind a boot-time record. */
#define COMP_SYSCTL_RECORD_MAX_AGE	3600

/* Opens HB_SYSCTL_RECORD under the scan root once, no symlink followed,
 * and reads it from that fd, only when it and its directory are root's
 * and not group- or other-writable (a file someone else could have
 * written says nothing of what root read). *RET_BUF gets the text.
 * Returns 0, -EPERM with *RET_WHY (static) when the trust rule fails, or
 * another -errno. */
static int
comp_sysctl_record_read(struct comp_ctx *ctx, char **ret_buf,
    size_t *ret_len, const char **ret_why)
{
	_cleanup_close_ int dfd = -1, fd = -1;
	_cleanup_free_ char *dir = NULL;
	const char *base = strrchr(HB_SYSCTL_RECORD, '/') + 1;
	struct stat st;
	int r;

	if (!(dir = strndup(HB_SYSCTL_RECORD,
	    (size_t)(base - 1 - HB_SYSCTL_RECORD))))
		return -ENOMEM;
	dfd = comp_open(ctx, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (dfd < 0)
		return dfd;
	if (fstat(dfd, &st) < 0)
		return -errno;
	if (st.st_uid != 0 || (st.st_mode & 022)) {
		*ret_why = "its directory is not root's alone";
		return -EPERM;
	}
	/* One name inside a directory only root may change: no walk. */
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022)) {
		*ret_why = "it is not a file of root's alone";
		return -EPERM;
	}
	if ((r = fd_regular(fd)) < 0)
		return r;
	return read_bounded(fd, COMP_READ_MAX, ret_buf, ret_len);
}

/* The time of the record's "# read TIME" line into *RET_AT: 0, or
 * -EINVAL without one. */
static int
comp_sysctl_record_time(const char *buf, time_t *ret_at)
{
	struct tm tm = { 0 };
	const char *end;
	time_t at;

	if (strncmp(buf, "# read ", 7))
		return -EINVAL;
	end = strptime(buf + 7, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || (*end != ' ' && *end != '\n') || (at = timegm(&tm)) < 0)
		return -EINVAL;
	*ret_at = at;
	return 0;
}

/* A sysctl the kernel shows only to CAP_SYS_ADMIN (the BPF JIT ones,
 * such as net.core.bpf_jit_harden: reading them is refused with EPERM),
 * which neither bulwarkd's user nor the collector (CAP_DAC_READ_SEARCH
 * alone) holds, nor should: the value root read (bulwark-harden
 * record-sysctl, at boot and again before each collector scan), taken
 * only from a record comp_sysctl_record_read() trusts, read at most
 * COMP_SYSCTL_RECORD_MAX_AGE ago, and said to be that, with its age.
 * Without such a record the value stays unreadable: nothing is claimed. */
static int
comp_sysctl_recorded(struct comp_ctx *ctx, struct comp_result *res,
    const char *name, const char *subj, long min, long max, const char *req,
    int err)
{
	_cleanup_free_ char *buf = NULL, *v = NULL;
	const char *why = NULL;
	size_t len = 0;
	char *end, when[32];
	struct tm tm;
	time_t at;
	long x;
	int r;

	r = comp_sysctl_record_read(ctx, &buf, &len, &why);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return comp_obs_add(res, false, subj, req, "unreadable (%s), "
		    "and no record of root's at /" HB_SYSCTL_RECORD " (%s)",
		    bw_strerror(err), why ? why : bw_strerror(r));
	if ((r = comp_evidence_add(res, "/" HB_SYSCTL_RECORD, buf, len)) < 0)
		return r;
	if ((r = comp_conf_get(buf, name, &v)) < 0) {
		if (r == -ENOMEM)
			return r;
		return comp_obs_add(res, false, subj, req, "unreadable (%s), "
		    "and not in /" HB_SYSCTL_RECORD, bw_strerror(err));
	}
	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || end == v || *end)
		return comp_obs_add(res, false, subj, req, "not a number in /"
		    HB_SYSCTL_RECORD);
	if (comp_sysctl_record_time(buf, &at) < 0 || at > ctx->now + 60)
		return comp_obs_add(res, false, subj, req, "%ld in /"
		    HB_SYSCTL_RECORD ", which says no valid time it was read",
		    x);
	if (ctx->now - at > COMP_SYSCTL_RECORD_MAX_AGE)
		return comp_obs_add(res, false, subj, req, "record too old: "
		    "%ld read by root %lld s ago (more than %d s), /"
		    HB_SYSCTL_RECORD, x, (long long)(ctx->now - at),
		    COMP_SYSCTL_RECORD_MAX_AGE);
	if (!gmtime_r(&at, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return -EINVAL;
	return comp_obs_add(res, x >= min && x <= max, subj, req, "%ld (read "
	    "by root at %s, %lld s ago, /" HB_SYSCTL_RECORD "; the kernel "
	    "shows it only to CAP_SYS_ADMIN)", x, when,
	    (long long)(ctx->now > at ? ctx->now - at : 0));
}

int
comp_sysctl_expect(struct comp_ctx *ctx, struct comp_result *res,
    const char *name, long min, long max)
{
	_cleanup_free_ char *path = NULL, *buf = NULL, *req = NULL,
	    *subj = NULL;
	char *p, *end;
	long v;
	int r;

	if (asprintf(&path, "proc/sys/%s", name) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	for (p = path + 9; *p; p++)
		if (*p == '.')
			*p = '/';
	if (min == max)
		r = asprintf(&req, "%ld", min);
	else
		r = asprintf(&req, "%ld..%ld", min, max);
	if (r < 0 || asprintf(&subj, "sysctl %s", name) < 0) {
		req = subj = NULL;
		return -ENOMEM;
	}
	if (comp_root_offline(ctx))
		return comp_sysctl_configured(ctx, res, name, subj, min, max,
		    req);
	r = comp_read(ctx, res, path, &buf, NULL);
	if (r == -ENOMEM)
		return r;
	if (r == -EPERM)
		return comp_sysctl_recorded(ctx, res, name, subj, min, max,
		    req, r);
	if (r < 0)
		return comp_obs_add(res, false, subj, req, "unreadable (%s)",
		    bw_strerror(r));
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf)
		return comp_obs_add(res, false, subj, req, "not a number");
	return comp_obs_add(res, v >= min && v <= max, subj, req, "%ld", v);
}

bool
comp_root_offline(struct comp_ctx *ctx)
{
	struct stat st;

	return comp_stat(ctx, "proc/sys", &st) < 0;
}

int
comp_sysctl_baseline(struct comp_ctx *ctx, struct comp_result *res,
    const char *name)
{
	char id[128];
	const struct hb_item *it;

	snprintf(id, sizeof(id), "sysctl.%s", name);
	if (!(it = hb_find(id)))
		return comp_obs_add(res, false, name, "a baseline item",
		    "not in the host baseline");
	return comp_sysctl_expect(ctx, res, name, it->min, it->max);
}

/* One baseline item of a file kind: read through the root (evidence),
 * then judged by the baseline. */
static int
comp_baseline_item(struct comp_ctx *ctx, struct comp_result *res,
    const struct hb_item *it)
{
	_cleanup_free_ char *buf = NULL, *found = NULL, *want = NULL,
	    *subj = NULL;
	int r;

	if (it->kind == HB_SYSCTL)
		return comp_sysctl_expect(ctx, res, it->key, it->min, it->max);
	if (!(want = hb_item_want(it)) || asprintf(&subj, "/%s%s%s",
	    it->path, it->kind == HB_CONF ? " " : "", it->kind == HB_CONF ?
	    it->key : "") < 0) {
		subj = NULL;
		return -ENOMEM;
	}
	if (it->kind == HB_MODE) {
		r = hb_item_check(ctx->rootfd, it, &found);
		if (r >= 0 && comp_evidence_add(res, subj, NULL, 0) < 0)
			return -ENOMEM;
	} else {
		r = comp_read(ctx, res, it->path, &buf, NULL);
		if (r == -ENOMEM)
			return r;
		if (r < 0 && r != -ENOENT)
			return comp_obs_add(res, false, subj, want,
			    "unreadable (%s)", bw_strerror(r));
		r = hb_item_eval(it, buf, &found);
	}
	if (r < 0)
		return r == -ENOMEM ? r : comp_obs_add(res, false, subj, want,
		    "unreadable (%s)", bw_strerror(r));
	return comp_obs_add(res, r == 1, subj, want, "%s", found);
}

int
comp_baseline_expect(struct comp_ctx *ctx, struct comp_result *res,
    const char *check_id)
{
	const struct hb_item *items;
	size_t n, i;
	int r;

	/* Audit rule items are judged against all the rules together
	 * (compliance/checks/au.c), not one file. */
	items = hb_items(&n);
	for (i = 0; i < n; i++)
		if (!strcmp(items[i].check, check_id) &&
		    items[i].kind != HB_AUDIT_RULE &&
		    items[i].kind != HB_AUDIT_WATCH &&
		    (r = comp_baseline_item(ctx, res, &items[i])) < 0)
			return r;
	return 0;
}

static char *
comp_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

const char *
comp_line_next(const char **cursor, size_t *ret_len, const char **ret_text)
{
	const char *line = *cursor;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		const char *p = line;

		while (p < line + n && isspace((unsigned char)*p))
			p++;
		*cursor = nl ? nl + 1 : NULL;
		if (p < line + n && *p != '#') {
			*ret_len = n;
			*ret_text = p;
			return line;
		}
		line = *cursor;
	}
	*cursor = NULL;
	return NULL;
}

int
comp_conf_get(const char *buf, const char *key, char **ret_val)
{
	size_t klen = strlen(key), n;
	const char *cursor = buf, *line, *p;
	char *found = NULL;

	while ((line = comp_line_next(&cursor, &n, &p))) {
		if ((size_t)(line + n - p) > klen &&
		    !strncasecmp(p, key, klen) &&
		    (isspace((unsigned char)p[klen]) || p[klen] == '=')) {
			const char *v = p + klen;
			char *dup;

			while (v < line + n && (isspace((unsigned char)*v) ||
			    *v == '='))
				v++;
			if (!(dup = strndup(v, (size_t)(line + n - v)))) {
				free(found);
				return -ENOMEM;
			}
			free(found);
			found = dup;
		}
	}
	if (!found)
		return -ENOENT;
	/* Strip trailing comments and blanks. */
	{
		char *h = strchr(found, '#');
		char *t;

		if (h)
			*h = '\0';
		t = comp_trim(found);
		memmove(found, t, strlen(t) + 1);
	}
	*ret_val = found;
	return 0;
}

static int
comp_procs_load(struct comp_ctx *ctx)
{
	struct comp_cache *c = ctx->cache;
	_cleanup_close_ int fd = -1;
	DIR *d;
	struct dirent *de;
	int r = 0;

	c->procs_done = true;
	fd = comp_open(ctx, "proc", O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	if (!(d = fdopendir(fd)))
		return -errno;
	fd = -1;
	while ((de = readdir(d)) && c->n_comms < COMP_MAX_PROCS) {
		char path[300];
		_cleanup_free_ char *buf = NULL;
		char **p;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "proc/%s/comm", de->d_name);
		/* Processes come and go while we look: skip vanished ones. */
		if (comp_read(ctx, NULL, path, &buf, NULL) < 0)
			continue;
		if (!(p = reallocarray(c->comms, c->n_comms + 1,
		    sizeof(*p)))) {
			r = -ENOMEM;
			break;
		}
		c->comms = p;
		buf[strcspn(buf, "\n")] = '\0';
		c->comms[c->n_comms++] = TAKE_PTR(buf);
	}
	closedir(d);
	return r;
}

bool
comp_proc_running(struct comp_ctx *ctx, const char *comm)
{
	size_t i;

	if (!ctx->cache->procs_done)
		(void)comp_procs_load(ctx);
	for (i = 0; i < ctx->cache->n_comms; i++)
		if (!strcmp(ctx->cache->comms[i], comm))
			return true;
	return false;
}

static int
comp_cmp_pkg(const void *a, const void *b)
{
	return strcmp(((const struct comp_pkg *)a)->name,
	    ((const struct comp_pkg *)b)->name);
}

/* Parses deb822 stanzas: only Package, Status and Version matter. */
static int
comp_dpkg_parse(struct comp_cache *c, char *buf)
{
	struct comp_pkg cur = { 0 };
	char *line = buf, *next;
	int r = 0;

	for (;; line = next) {
		bool end = !line || *line == '\0' || *line == '\n';

		next = line ? strchr(line, '\n') : NULL;
		if (next)
			*next++ = '\0';
		if (end) {
			if (cur.name) {
				struct comp_pkg *p;

				if (c->n_pkgs >= COMP_DPKG_MAX_PKGS) {
					r = -BW_E_TOOLARGE;
					goto out;
				}
				p = reallocarray(c->pkgs, c->n_pkgs + 1,
				    sizeof(*p));
				if (!p) {
					r = -ENOMEM;
					goto out;
				}
				c->pkgs = p;
				cur.installed = cur.status &&
				    !strcmp(cur.status, "install ok installed");
				if (!cur.version && !(cur.version = strdup("")))
				{
					r = -ENOMEM;
					goto out;
				}
				if (!cur.status && !(cur.status = strdup("")))
				{
					r = -ENOMEM;
					goto out;
				}
				c->pkgs[c->n_pkgs++] = cur;
				memset(&cur, 0, sizeof(cur));
			}
			if (!line || !next)
				break;
			continue;
		}
		if (!strncmp(line, "Package:", 8) && !cur.name) {
			if (!(cur.name = strdup(comp_trim(line + 8))))
				r = -ENOMEM;
		} else if (!strncmp(line, "Status:", 7) && !cur.status) {
			if (!(cur.status = strdup(comp_trim(line + 7))))
				r = -ENOMEM;
		} else if (!strncmp(line, "Version:", 8) && !cur.version) {
			if (!(cur.version = strdup(comp_trim(line + 8))))
				r = -ENOMEM;
		}
		if (r < 0)
			goto out;
	}
	qsort(c->pkgs, c->n_pkgs, sizeof(*c->pkgs), comp_cmp_pkg);
out:
	free(cur.name);
	free(cur.version);
	free(cur.status);
	return r;
}

int
comp_dpkg(struct comp_ctx *ctx, struct comp_result *res,
    const struct comp_pkg **ret_pkgs, size_t *ret_n)
{
	struct comp_cache *c = ctx->cache;
	int r;

	if (!c->dpkg_done) {
		_cleanup_close_ int fd = -1;
		_cleanup_free_ char *buf = NULL;
		unsigned char md[32];
		size_t len;

		c->dpkg_done = true;
		fd = comp_open(ctx, "var/lib/dpkg/status", O_RDONLY);
		if (fd < 0)
			return c->dpkg_r = fd;
		if ((r = read_bounded(fd, COMP_DPKG_MAX, &buf, &len)) < 0)
			return c->dpkg_r = r;
		if (!EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL))
			return c->dpkg_r = -BW_E_CRYPTO;
		hex_encode(md, sizeof(md), c->dpkg_sha);
		if ((r = comp_dpkg_parse(c, buf)) < 0)
			return c->dpkg_r = r;
	}
	if (c->dpkg_r < 0)
		return c->dpkg_r;
	if (res && (r = comp_evidence_add_hex(res, "/var/lib/dpkg/status",
	    c->dpkg_sha)) < 0)
		return r;
	*ret_pkgs = c->pkgs;
	*ret_n = c->n_pkgs;
	return 0;
}

const struct comp_pkg *
comp_dpkg_find(const struct comp_pkg *pkgs, size_t n, const char *name)
{
	struct comp_pkg key = { .name = (char *)name };
	const struct comp_pkg *p;

	p = bsearch(&key, pkgs, n, sizeof(*pkgs), comp_cmp_pkg);
	return p && p->installed ? p : NULL;
}

/* dpkg's order: '~' sorts before everything, even the end; letters
 * before non-letters. Weights start at 0 for '~'. */
static int
comp_deb_order(int c)
{
	if (c == '~')
		return 0;
	if (isdigit(c) || !c)
		return 1;
	if (isalpha(c))
		return c + 1;
	return c + 257;
}

static int
comp_deb_verrev(const char *a, const char *b)
{
	while (*a || *b) {
		int first_diff = 0;

		while ((*a && !isdigit((unsigned char)*a)) ||
		    (*b && !isdigit((unsigned char)*b))) {
			int ac = comp_deb_order((unsigned char)*a);
			int bc = comp_deb_order((unsigned char)*b);

			if (ac != bc)
				return ac - bc;
			a++;
			b++;
		}
		while (*a == '0')
			a++;
		while (*b == '0')
			b++;
		while (isdigit((unsigned char)*a) &&
		    isdigit((unsigned char)*b)) {
			if (!first_diff)
				first_diff = *a - *b;
			a++;
			b++;
		}
		if (isdigit((unsigned char)*a))
			return 1;
		if (isdigit((unsigned char)*b))
			return -1;	/* ordering: B is longer */
		if (first_diff)
			return first_diff;
	}
	return 0;
}

int
comp_deb_vercmp(const char *a, const char *b)
{
	char abuf[256], bbuf[256];
	const char *ac, *bc;
	char *arev, *brev;
	long ae = 0, be = 0;
	int r;

	if ((ac = strchr(a, ':'))) {
		ae = strtol(a, NULL, 10);
		a = ac + 1;
	}
	if ((bc = strchr(b, ':'))) {
		be = strtol(b, NULL, 10);
		b = bc + 1;
	}
	if (ae != be)
		return ae < be ? -1 : 1;	/* ordering */
	snprintf(abuf, sizeof(abuf), "%s", a);
	snprintf(bbuf, sizeof(bbuf), "%s", b);
	arev = strrchr(abuf, '-');
	brev = strrchr(bbuf, '-');
	if (arev)
		*arev++ = '\0';
	if (brev)
		*brev++ = '\0';
	if ((r = comp_deb_verrev(abuf, bbuf)))
		return r;
	return comp_deb_verrev(arev ? arev : "", brev ? brev : "");
}

static int
comp_sha256_fd(int fd, char out[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[65536], d[32];
	int r = 0;

	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		r = -BW_E_CRYPTO;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (!EVP_DigestUpdate(md, buf, (size_t)n)) {
			r = -BW_E_CRYPTO;
			goto out;
		}
	}
	if (!EVP_DigestFinal_ex(md, d, NULL)) {
		r = -BW_E_CRYPTO;
		goto out;
	}
	hex_encode(d, sizeof(d), out);
out:
	EVP_MD_CTX_free(md);
	return r;
}

int
comp_manifest_verify(struct comp_ctx *ctx, struct comp_result *res,
    const char *manifest)
{
	_cleanup_free_ char *buf = NULL;
	char *line, *next;
	size_t entries = 0, bad = 0;
	int r;

	r = comp_read(ctx, res, manifest, &buf, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return comp_obs_add(res, false, manifest,
		    "a sha256sum manifest", "unreadable (%s)", bw_strerror(r));
	for (line = buf; line && *line; line = next) {
		_cleanup_close_ int fd = -1;
		char hex[65], *path, *p;
		size_t i;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (*line == '#' || *line == '\0')
			continue;
		for (i = 0; i < 64 && isxdigit((unsigned char)line[i]); i++)
			;
		if (i != 64 || line[64] != ' ' ||
		    (line[65] != ' ' && line[65] != '*') || line[66] != '/') {
			bad++;
			if ((r = comp_obs_add(res, false, manifest,
			    "<sha256>  /absolute/path", "malformed line "
			    "\"%.60s\"", line)) < 0)
				return r;
			continue;
		}
		if (++entries > COMP_MANIFEST_MAX_ENTRIES)
			return comp_obs_add(res, false, manifest,
			    "at most 20000 entries", "more entries");
		path = line + 66;
		for (p = line; p < line + 64; p++)
			*p = (char)tolower((unsigned char)*p);
		line[64] = '\0';
		fd = comp_open(ctx, path, O_RDONLY);
		if (fd < 0) {
			bad++;
			if ((r = comp_obs_add(res, false, path, line,
			    "missing (%s)", bw_strerror(fd))) < 0)
				return r;
			continue;
		}
		if ((r = comp_sha256_fd(fd, hex)) < 0) {
			if (r == -ENOMEM)
				return r;
			bad++;
			if ((r = comp_obs_add(res, false, path, line,
			    "unreadable (%s)", bw_strerror(r))) < 0)
				return r;
			continue;
		}
		if (strcmp(hex, line)) {
			bad++;
			if ((r = comp_obs_add(res, false, path, line, "%s",
			    hex)) < 0)
				return r;
		}
		if ((r = comp_evidence_add_hex(res, path, hex)) < 0)
			return r;
	}
	if (entries == 0)
		return comp_obs_add(res, false, manifest, ">= 1 entry",
		    "no entries");
	return comp_obs_add(res, bad == 0, manifest,
	    "every listed file matches", "%zu of %zu entries match",
	    entries - bad, entries);
}
