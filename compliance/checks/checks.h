/* Check functions of compliance/checks/ *.c, registered in the table of
 * compliance/check.c. Internal to the compliance part. */
#ifndef BW_COMPLIANCE_CHECKS_H
#define BW_COMPLIANCE_CHECKS_H

#include "compliance/check.h"

#define COMP_CHECK_FN(name) int name(struct comp_ctx *ctx, struct comp_result *res)

/* ac.c */
COMP_CHECK_FN(comp_chk_ac_faillock);
COMP_CHECK_FN(comp_chk_ac_banner);
COMP_CHECK_FN(comp_chk_ac_shell_timeout);
COMP_CHECK_FN(comp_chk_ac_idle_lock);
COMP_CHECK_FN(comp_chk_ac_accounts);
COMP_CHECK_FN(comp_chk_ac_inactive_disable);
COMP_CHECK_FN(comp_chk_ac_root_restricted);
COMP_CHECK_FN(comp_chk_ac_su_restricted);
COMP_CHECK_FN(comp_chk_ac_file_perms);
COMP_CHECK_FN(comp_chk_ac_rbac);
COMP_CHECK_FN(comp_chk_ac_separation_of_duties);
COMP_CHECK_FN(comp_chk_ac_least_privilege);
COMP_CHECK_FN(comp_chk_ac_tenant_isolation);
COMP_CHECK_FN(comp_chk_ac_remote_access);
COMP_CHECK_FN(comp_chk_ac_listening_ports);
COMP_CHECK_FN(comp_chk_ac_wireless);
COMP_CHECK_FN(comp_chk_ac_usb_storage);
COMP_CHECK_FN(comp_chk_ac_unauth_actions);
COMP_CHECK_FN(comp_chk_ac_account_lifecycle);
COMP_CHECK_FN(comp_chk_ac_credential_expiry);
COMP_CHECK_FN(comp_chk_ac_privileged_remote);

/* au.c */
COMP_CHECK_FN(comp_chk_au_auditd_running);
COMP_CHECK_FN(comp_chk_au_rules_events);
COMP_CHECK_FN(comp_chk_au_rules_identity);
COMP_CHECK_FN(comp_chk_au_rules_privileged);
COMP_CHECK_FN(comp_chk_au_rules_config);
COMP_CHECK_FN(comp_chk_au_log_format);
COMP_CHECK_FN(comp_chk_au_capacity);
COMP_CHECK_FN(comp_chk_au_failure_response);
COMP_CHECK_FN(comp_chk_au_tools);
COMP_CHECK_FN(comp_chk_au_protection);
COMP_CHECK_FN(comp_chk_au_retention);
COMP_CHECK_FN(comp_chk_au_time_sync);
COMP_CHECK_FN(comp_chk_au_review);

/* cm.c */
COMP_CHECK_FN(comp_chk_cm_config_baseline);
COMP_CHECK_FN(comp_chk_cm_sysctl_baseline);
COMP_CHECK_FN(comp_chk_cm_prohibited_software);
COMP_CHECK_FN(comp_chk_cm_noexec_mounts);
COMP_CHECK_FN(comp_chk_cm_signed_images);
COMP_CHECK_FN(comp_chk_cm_inventory);
COMP_CHECK_FN(comp_chk_cm_system_dirs);
COMP_CHECK_FN(comp_chk_cm_config_history);
COMP_CHECK_FN(comp_chk_cm_change_control);
COMP_CHECK_FN(comp_chk_cm_p2p_software);

/* ia.c */
COMP_CHECK_FN(comp_chk_ia_password_quality);
COMP_CHECK_FN(comp_chk_ia_password_storage);
COMP_CHECK_FN(comp_chk_ia_device_identity);
COMP_CHECK_FN(comp_chk_ia_pki_certs);
COMP_CHECK_FN(comp_chk_ia_no_plaintext_keys);
COMP_CHECK_FN(comp_chk_ia_fips);
COMP_CHECK_FN(comp_chk_ia_api_auth);
COMP_CHECK_FN(comp_chk_ia_reauth);

/* sc.c */
COMP_CHECK_FN(comp_chk_sc_tls);
COMP_CHECK_FN(comp_chk_sc_syn_flood);
COMP_CHECK_FN(comp_chk_sc_network_sysctl);
COMP_CHECK_FN(comp_chk_sc_firewall);
COMP_CHECK_FN(comp_chk_sc_privsep);
COMP_CHECK_FN(comp_chk_sc_kernel_info);
COMP_CHECK_FN(comp_chk_sc_process_isolation);
COMP_CHECK_FN(comp_chk_sc_data_at_rest);
COMP_CHECK_FN(comp_chk_sc_key_management);
COMP_CHECK_FN(comp_chk_sc_session_idle);
COMP_CHECK_FN(comp_chk_sc_collab_devices);
COMP_CHECK_FN(comp_chk_cp_store_durable);
COMP_CHECK_FN(comp_chk_sc_store_capacity);
COMP_CHECK_FN(comp_chk_sc_dns_validation);

/* si.c */
COMP_CHECK_FN(comp_chk_si_memory_protection);
COMP_CHECK_FN(comp_chk_si_binary_integrity);
COMP_CHECK_FN(comp_chk_si_patch_age);
COMP_CHECK_FN(comp_chk_si_advisories);
COMP_CHECK_FN(comp_chk_si_remediation_time);
COMP_CHECK_FN(comp_chk_ra_feed_current);
COMP_CHECK_FN(comp_chk_si_crypto_selftest);
COMP_CHECK_FN(comp_chk_sa_supported_os);
COMP_CHECK_FN(comp_chk_sr_apt_authenticated);
COMP_CHECK_FN(comp_chk_ra_privileged_scan);
COMP_CHECK_FN(comp_chk_ca_continuous_assessment);
COMP_CHECK_FN(comp_chk_ca_evidence_cadence);
COMP_CHECK_FN(comp_chk_si_attestation_response);
COMP_CHECK_FN(comp_chk_si_input_validation);

/* Shared by several checks (checks/util.c). */

/* Observation for a tri-state fact: ok only when YES. */
int comp_fact_yes(struct comp_result *res, const char *name,
    enum comp_tri v);

/* comp_fact_yes() with DETAIL, the live state V was read from, after
 * the value ("no (pid 1234: uid 0, ...)"); plain when DETAIL is NULL. */
int comp_fact_yes_detail(struct comp_result *res, const char *name,
    enum comp_tri v, const char *detail);

/* Observation for an integer fact within [MIN, MAX]; V < 0 is unknown
 * unless MIN < 0. */
/* An observation of fact NAME (evidence "fact:NAME") found as FOUND. */
int comp_fact_obs(struct comp_result *res, const char *name, bool ok,
    const char *required, const char *found);
int comp_fact_range(struct comp_result *res, const char *name, long v,
    long min, long max);

/* comp_read() of root-relative PATH into *RET_BUF; when it cannot be
 * read, a failed observation of SUBJECT (NULL: PATH) against REQUIRED
 * instead, and *RET_BUF is NULL. Returns 0 either way, or -ENOMEM. */
int comp_read_need(struct comp_ctx *ctx, struct comp_result *res,
    const char *path, const char *subject, const char *required,
    char **ret_buf);

/* Concatenates the uncommented lines of every FILE under root-relative
 * DIR whose name ends with SUFFIX (in byte order of the names,
 * hb_name_cmp()), each recorded as evidence.
 * Missing DIR gives an empty string. */
int comp_read_dir_concat(struct comp_ctx *ctx, struct comp_result *res,
    const char *dir, const char *suffix, char **ret_buf);

/* comp_read_dir_concat() with the names ordered by CMP (a qsort
 * comparator on char *), e.g. hb_rules_name_cmp for audit rules.d. */
int comp_read_dir_concat_by(struct comp_ctx *ctx, struct comp_result *res,
    const char *dir, const char *suffix,
    int (*cmp)(const void *, const void *), char **ret_buf);

/* Whether BUF has an uncommented line containing every word of WORDS
 * (space-separated) in any order; *ret_line (optional) gets a copy. */
bool comp_has_line(const char *buf, const char *words, char **ret_line);

/* Integer value of OPTION=N on LINE (PAM style), -ENOENT when absent. */
long comp_opt_long(const char *line, const char *option);

/* Observations for a reported list fact NAME: one failed observation
 * per entry (SUBJECT_REQ is the requirement) and a summary that is ok
 * only when the list is reported and empty. */
int comp_fact_empty_list(struct comp_result *res, const char *name,
    const char *const *list, const char *required);

/* Observation that the string list fact NAME is reported and every entry
 * is in ALLOWED (both NULL-terminated). */
int comp_fact_subset(struct comp_result *res, const char *name,
    const char *const *list, const char *const *allowed,
    const char *required);

/* The label for the account NAME (LEN bytes, not terminated) of line
 * LINENO of a passwd-style file (/etc/passwd, /etc/shadow), for an
 * observation: NAME when it looks like a user name
 * ([a-z_][a-z0-9_.-]{0,31}, optionally ending in '$'), else "line N".
 * A malformed shadow line may hold a password hash where the name is,
 * and observations leave the machine (bulwark-collect, OSCAL). */
#define COMP_ACCOUNT_LABEL_MAX	40
void comp_account_label(char out[COMP_ACCOUNT_LABEL_MAX], const char *name,
    size_t len, size_t lineno);

/* Adds a failed observation per remote shell package installed or
 * process running (dpkg and /proc under the root), and a summary.
 * Shared by ac-remote-access and ac-privileged-remote. */
int comp_no_remote_shell(struct comp_ctx *ctx, struct comp_result *res);

#endif
