/* Every registered check is run on a fixture tree where it must be
 * satisfied, then on the same tree with one thing broken, where it must
 * flip to not-satisfied. A table row per check (some checks have more
 * than one way to fail). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "lib/err.h"
#include "lib/inroot.h"
#include "compliance/check.h"
#include "tests/unit/compliance/fixture.h"

typedef void (*breaker_fn)(struct world *w);

struct flip {
	const char	*check;
	const char	*how;
	breaker_fn	 brk;
};

#define B(name) static void name(struct world *w)

B(b_unlock) { world_put(w, "etc/security/faillock.conf",
    "deny = 3\nfail_interval = 900\nunlock_time = 600\n", 0644); }
B(b_deny) { world_put(w, "etc/security/faillock.conf", "deny = 10\n", 0644); }
B(b_nofaillock) { world_drop_lines(w, "etc/pam.d/common-auth",
    "pam_faillock"); }
B(b_banner) { world_put(w, "etc/issue", "Debian GNU/Linux \\r \\l\n", 0644); }
B(b_tmout) { world_put(w, "etc/profile.d/tmout.sh",
    "TMOUT=3600\nreadonly TMOUT\n", 0644); }
B(b_tmout_rw) { world_put(w, "etc/profile.d/tmout.sh", "TMOUT=600\n", 0644); }
B(b_lock) { w->facts.lock_conceals = COMP_NO; }
B(b_lock_long) { w->facts.idle_lock_s = 3600; }
B(b_dupuid) { world_put(w, "etc/passwd",
    "root:x:0:0:root:/root:/bin/bash\n"
    "admin:x:1000:1000::/home/admin:/bin/bash\n"
    "ops:x:1000:1000::/home/ops:/bin/bash\n", 0644); }
B(b_emptypw) { world_put(w, "etc/shadow", "root:!:1::::::\nadmin::1::::::\n",
    0640); }
B(b_syslogin) { world_put(w, "etc/passwd", "root:x:0:0::/root:/bin/bash\n"
    "daemon:x:1:1::/usr/sbin:/bin/sh\n", 0644); }
B(b_inactive) { world_put(w, "etc/default/useradd", "INACTIVE=-1\n", 0644); }
B(b_rootpw) { world_put(w, "etc/shadow", "root:$y$j9T$abc$def:1::::::\n",
    0640); }
B(b_uid0) { world_put(w, "etc/passwd", "root:x:0:0::/root:/bin/bash\n"
    "toor:x:0:0::/root:/bin/bash\n", 0644); }
B(b_wheel) { world_put(w, "etc/pam.d/su", "auth sufficient pam_rootok.so\n"
    "# auth required pam_wheel.so\n", 0644); }
B(b_wheel_trust) { world_put(w, "etc/pam.d/su",
    "auth required pam_wheel.so trust\n", 0644); }
B(b_shadow_mode) { world_chmod(w, "etc/shadow", 0644); }
B(b_rbac) { w->facts.rbac = COMP_UNKNOWN; }
B(b_sod) { w->facts.separation_of_duties = COMP_NO; }
B(b_seccomp) { w->facts.seccomp = COMP_NO; }
B(b_tenant) { w->facts.tenant_isolation = COMP_NO; }
B(b_sshd_pkg) { world_dpkg(w, "3.0.11-1~deb12u2", "Package: openssh-server\n"
    "Status: install ok installed\nVersion: 1:9.2p1-2\n\n"); }
B(b_sshd_proc) { world_put(w, "proc/77/comm", "sshd\n", 0644); }
B(b_port22) { world_put(w, "proc/net/tcp",
    "  sl  local_address rem_address   st\n"
    "   0: 00000000:0016 00000000:0000 0A 00000000:00000000\n", 0444); }
B(b_port_v6) { world_put(w, "proc/net/tcp6",
    "  sl  local_address remote_address st\n"
    "   0: 00000000000000000000000000000000:0050 "
    "00000000000000000000000000000000:0000 0A 00000000:00000000\n", 0444); }
B(b_udp) { world_put(w, "proc/net/udp", "  sl  local_address rem_address st\n"
    "   0: 00000000:0045 00000000:0000 07 00000000:00000000\n", 0444); }
B(b_wifi) { world_mkdir(w, "sys/class/net/wlan0/wireless"); }
B(b_usb_loaded) { world_put(w, "proc/modules", "ext4 1 0 - Live 0x0\n"
    "usb_storage 77824 0 - Live 0x0\n", 0444); }
B(b_usb_conf) { world_put(w, "etc/modprobe.d/usb-storage.conf",
    "blacklist usb-storage\n", 0644); }
B(b_unauth) { w->unauth[1] = "GET /v1/nodes"; }
B(b_noauditd) { world_rm(w, "proc/2/comm"); world_rm(w, "proc/2"); }
B(b_rule_time) { world_drop_lines(w, "etc/audit/rules.d/bulwark.rules",
    "time-change"); }
B(b_rule_shadow) { world_drop_lines(w, "etc/audit/rules.d/bulwark.rules",
    "/etc/shadow"); }
B(b_rule_ro) { world_put(w, "etc/audit/rules.d/bulwark.rules",
    "-w /etc/passwd -p r -k identity\n", 0640); }
B(b_rule_sudo) { world_drop_lines(w, "etc/audit/rules.d/bulwark.rules",
    "/usr/bin/sudo"); }
B(b_rule_cfg) { world_drop_lines(w, "etc/audit/rules.d/bulwark.rules",
    "/etc/bulwark"); }
static void
auditd_conf_set(struct world *w, const char *drop, const char *line)
{
	FILE *f;
	char p[128];

	world_drop_lines(w, "etc/audit/auditd.conf", drop);
	snprintf(p, sizeof(p), "%s/etc/audit/auditd.conf", w->root);
	f = fopen(p, "a");
	assert_non_null(f);
	fprintf(f, "%s\n", line);
	fclose(f);
}
B(b_raw) { auditd_conf_set(w, "log_format", "log_format = RAW"); }
B(b_space) { auditd_conf_set(w, "space_left_action", "space_left_action = ignore"); }
B(b_used) { w->facts.audit_used_pct = 90; }
B(b_diskfull) { auditd_conf_set(w, "disk_full_action", "disk_full_action = rotate"); }
B(b_audit_off) { w->facts.audit_active = COMP_NO; }
B(b_failopen) { w->facts.audit_fail_closed = COMP_NO; }
B(b_aureport) { world_rm(w, "sbin/aureport"); }
B(b_auditpkg) { world_dpkg(w, "3.0.11-1~deb12u2", ""); world_put(w,
    "var/lib/dpkg/status", "Package: auditd\nStatus: deinstall ok "
    "config-files\nVersion: 1\n\n", 0644); }
B(b_logmode) { world_chmod(w, "var/log/audit/audit.log", 0644); }
B(b_immutable) { world_drop_lines(w, "etc/audit/rules.d/bulwark.rules",
    "-e 2"); }
/* -e 2 is there, but a later -e 1 is the directive augenrules loads
 * last. */
B(b_enable_after) { world_put(w, "etc/audit/rules.d/zz-local.rules",
    "-e 1\n", 0640); }
/* augenrules orders rules.d as `ls -1v` does: 100-local.rules comes
 * after 90-lock.rules, so its -e 1 is the directive loaded last. */
B(b_enable_version) { world_drop_lines(w,
    "etc/audit/rules.d/bulwark.rules", "-e 2");
    world_put(w, "etc/audit/rules.d/90-lock.rules", "-e 2\n", 0640);
    world_put(w, "etc/audit/rules.d/100-local.rules", "-e 1\n", 0640); }
/* "-e0" is an enable directive to augenrules as well. */
B(b_enable_nospace) { world_put(w, "etc/audit/rules.d/zz-local.rules",
    " -e0\n", 0640); }
B(b_chain) { w->facts.audit_chain_intact = COMP_NO; }
B(b_loggroup) { auditd_conf_set(w, "log_group", "log_group = adm"); }
B(b_rotate) { auditd_conf_set(w, "max_log_file_action",
    "max_log_file_action = rotate"); }
B(b_retention) { w->facts.audit_retention_days = 30; }
/* pruned while the oldest record left is 20 days old */
B(b_pruned_young) { w->facts.audit_pruned = COMP_YES; }
B(b_oldest_unknown) { w->facts.audit_oldest_age_s = -1; }
B(b_chrony) { world_put(w, "etc/chrony/chrony.conf", "# server 10.0.0.1\n",
    0644); }
B(b_nochronyd) { world_put(w, "proc/3/comm", "sleep\n", 0644); }
B(b_config) { world_put(w, "etc/bulwark/bulwark.conf", "listen = 80\n", 0640); }
B(b_config_gone) { world_rm(w, "etc/nftables.conf"); }
/* The host baseline's items that Lynis also weighs. */
B(b_sysrq) { world_put(w, "proc/sys/kernel/sysrq", "438\n", 0644); }
B(b_core) { world_rm(w, "etc/security/limits.d/90-bulwark-baseline.conf"); }
B(b_firewire) { world_put(w, "etc/modprobe.d/bulwark-baseline.conf",
    "install dccp /bin/false\ninstall sctp /bin/false\n"
    "install rds /bin/false\ninstall tipc /bin/false\n"
    "install cramfs /bin/false\ninstall freevxfs /bin/false\n"
    "install jffs2 /bin/false\ninstall hfs /bin/false\n"
    "install hfsplus /bin/false\ninstall udf /bin/false\n", 0644); }
B(b_sctp) { world_put(w, "etc/modprobe.d/bulwark-baseline.conf",
    "install firewire-core /bin/false\ninstall dccp /bin/false\n"
    "# install sctp /bin/false\ninstall rds /bin/false\n"
    "install tipc /bin/false\n"
    "install cramfs /bin/false\ninstall freevxfs /bin/false\n"
    "install jffs2 /bin/false\ninstall hfs /bin/false\n"
    "install hfsplus /bin/false\ninstall udf /bin/false\n", 0644); }
B(b_pass_age) { world_put(w, "etc/login.defs", "PASS_MAX_DAYS 99999\n"
    "PASS_MIN_DAYS 0\nUMASK 027\nENCRYPT_METHOD YESCRYPT\n"
    "SHA_CRYPT_MIN_ROUNDS 65536\n", 0644); }
B(b_umask) { world_put(w, "etc/profile.d/bulwark-umask.sh", "umask 022\n",
    0644); }
B(b_rounds) { world_put(w, "etc/login.defs", "PASS_MAX_DAYS 60\n"
    "PASS_MIN_DAYS 1\nUMASK 027\nENCRYPT_METHOD SHA512\n", 0644); }
B(b_kexec) { world_put(w, "proc/sys/kernel/kexec_load_disabled", "0\n", 0644); }
B(b_gcc) { world_dpkg(w, "3.0.11-1~deb12u2", "Package: gcc-12\nStatus: "
    "install ok installed\nVersion: 12.2.0-14\n\n"); }
#define VAR_TMP_NOEXEC "/dev/sda1 /var/tmp ext4 rw,nosuid,nodev,noexec 0 0\n"
B(b_tmp_exec) { world_put(w, "proc/mounts", "tmpfs /tmp tmpfs rw,nosuid,"
    "nodev 0 0\ntmpfs /dev/shm tmpfs rw,nosuid,nodev,noexec 0 0\n"
    VAR_TMP_NOEXEC, 0444); }
B(b_no_shm) { world_put(w, "proc/mounts", "tmpfs /tmp tmpfs rw,nosuid,"
    "nodev,noexec 0 0\n" VAR_TMP_NOEXEC, 0444); }
/* The installed appliance before 2026-12-07's fix: /var/tmp on the
 * root file system. */
B(b_var_tmp_root) { world_put(w, "proc/mounts", "tmpfs /tmp tmpfs rw,"
    "nosuid,nodev,noexec 0 0\ntmpfs /dev/shm tmpfs rw,nosuid,nodev,noexec "
    "0 0\n", 0444); }
B(b_unsigned) { w->facts.image_signatures_required = COMP_NO; }
B(b_unlisted) { world_dpkg(w, "3.0.11-1~deb12u2", "Package: netcat-openbsd\n"
    "Status: install ok installed\nVersion: 1.219-1\n\n"); }
B(b_halfinst) { world_dpkg(w, "3.0.11-1~deb12u2", "Package: libfoo1\n"
    "Status: install reinstreq half-installed\nVersion: 1\n\n"); }
B(b_usrbin) { world_chmod(w, "usr/bin", 0777); }
B(b_history) { w->facts.config_revisions = 1; }
/* Fewer versions than the minimum, and some were compacted away. */
B(b_history_compacted) { w->facts.config_revisions = 0;
    w->facts.config_history_whole = COMP_NO; }
/* Nothing compacted yet, but a retention that could not keep the
 * minimum, or one not reported: the versions to come would not be. */
B(b_history_short) { w->facts.config_revisions = 0;
    w->facts.config_history_whole = COMP_YES;
    w->facts.config_retention = 1; }
B(b_history_retention_unknown) { w->facts.config_revisions = 1;
    w->facts.config_history_whole = COMP_YES;
    w->facts.config_retention = -1; }
B(b_minlen) { world_put(w, "etc/security/pwquality.conf", "minlen = 8\n"
    "minclass = 3\n", 0644); }
B(b_noclass) { world_put(w, "etc/security/pwquality.conf", "minlen = 14\n",
    0644); }
B(b_nullok) { world_put(w, "etc/pam.d/common-auth",
    "auth [success=1 default=ignore] pam_unix.so nullok\n", 0644); }
B(b_md5) { world_put(w, "etc/shadow", "root:!:1::::::\n"
    "admin:$1$abc$def:1::::::\n", 0640); }
B(b_swtpm) { w->facts.tpm = COMP_TPM_SOFTWARE; }
B(b_tpm_lockout) {
	w->facts.tpm_lockouts = 1;
	w->facts.tpm_lockout_detail = "node n1's TPM: counter 3 of 3, recovers "
	    "by 2026-12-06T05:00:00Z";
}
B(b_tpm_lockout_unknown) { w->facts.tpm_lockouts = -1; }
B(b_nocert) { world_put(w, "etc/bulwark/pki/device.pem", "garbage\n", 0644); }
B(b_expired) { w->now += 400 * 86400; }
static void
b_othercert(struct world *w)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	/* A self-signed certificate does not chain to the fixture CA. */
	X509_set_version(x, 2);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"rogue", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_time_adj_ex(X509_getm_notBefore(x), -1, 0, &w->now);
	X509_time_adj_ex(X509_getm_notAfter(x), 30, 0, &w->now);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_true(PEM_write_bio_X509(b, x));
	n = BIO_get_mem_data(b, &data);
	s = strndup(data, (size_t)n);
	world_put(w, "etc/bulwark/pki/device.pem", s, 0644);
	free(s);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
}
static void
b_plainkey(struct world *w)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	assert_true(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL));
	n = BIO_get_mem_data(b, &data);
	s = strndup(data, (size_t)n);
	world_put(w, "etc/bulwark/pki/sub/api.key", s, 0600);
	free(s);
	BIO_free(b);
	EVP_PKEY_free(k);
}
B(b_fips) { w->facts.fips_provider = COMP_NO; }
B(b_noclientauth) { w->facts.tls_client_auth = COMP_NO; }
B(b_tls11) { w->facts.tls_min_version = TLS1_1_VERSION; }
B(b_token) { w->facts.token_lifetime_s = 7 * 86400; }
B(b_ciphers) { w->facts.tls_cipher_list = "HIGH"; }
B(b_chacha) { w->facts.tls_ciphersuites = "TLS_AES_256_GCM_SHA384:"
    "TLS_CHACHA20_POLY1305_SHA256"; }
B(b_rsa_kx) { w->facts.tls_cipher_list = "AES256-GCM-SHA384"; }
B(b_syncookies) { world_put(w, "proc/sys/net/ipv4/tcp_syncookies", "0\n",
    0644); }
B(b_redirects) { world_put(w, "proc/sys/net/ipv4/conf/all/accept_redirects",
    "1\n", 0644); }
B(b_nosysctl) { world_rm(w, "proc/sys/net/ipv4/conf/all/log_martians"); }
B(b_fw_accept) { world_put(w, "etc/nftables.conf", "table inet filter {\n"
    "\tchain input {\n\t\ttype filter hook input priority filter; "
    "policy accept; # policy drop;\n\t}\n\tchain forward {\n\t\ttype "
    "filter hook forward priority filter; policy drop;\n\t}\n}\n", 0644); }
B(b_fw_noforward) { world_put(w, "etc/nftables.conf", "table inet filter {\n"
    "\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n"
    "\t}\n}\n", 0644); }
B(b_privsep) { w->facts.privsep = COMP_NO; }
B(b_dmesg) { world_put(w, "proc/sys/kernel/dmesg_restrict", "0\n", 0644); }
B(b_ptrace) { world_put(w, "proc/sys/kernel/yama/ptrace_scope", "0\n", 0644); }
B(b_plainswap) { world_put(w, "etc/crypttab", "data_crypt UUID=5a1e none "
    "luks\nswap /dev/sda2 /dev/urandom swap,plain\n", 0644); }
B(b_nocrypttab) { world_rm(w, "etc/crypttab"); }
B(b_sealed) { w->facts.keys_sealed = COMP_NO; }
B(b_session) { w->facts.session_idle_s = 3600; }
B(b_sound) { world_mkdir(w, "sys/class/sound/card0"); }
B(b_camera) { world_mkdir(w, "sys/class/video4linux/video0"); }
B(b_store) { w->facts.store_durable = COMP_NO; }
B(b_store_full) { w->facts.store_used_pct = 80; }
B(b_store_mark) { w->facts.store_used_pct = 60; w->facts.store_high_water_pct = 60; }
B(b_store_nocompact) { w->facts.store_compaction = COMP_NO; }
B(b_aslr) { world_put(w, "proc/sys/kernel/randomize_va_space", "1\n", 0644); }
B(b_nonx) { world_put(w, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme "
    "pae sse\n", 0444); }
B(b_binary) { world_put(w, "usr/sbin/bulwarkd", "\177ELF trojan", 0755); }
B(b_nomanifest) { world_rm(w, "etc/bulwark/integrity.sha256"); }
B(b_badmanifest) { world_put(w, "etc/bulwark/integrity.sha256",
    "abc  /usr/sbin/bulwarkd\n", 0644); }
B(b_stale) { world_age(w, "var/lib/dpkg/status", 60); }
B(b_vuln) { world_dpkg(w, "3.0.9-1", ""); }
B(b_epoch) { world_dpkg(w, "3.0.11-1~deb12u1", ""); }
B(b_overdue) { world_dpkg(w, "3.0.9-1", ""); world_advisories(w, 1, 45); }
B(b_feed_old) { world_advisories(w, 60, 70); }
B(b_feed_bad) { world_put(w, "var/lib/bulwark/advisories.json",
    "{\"generated\": \"yesterday\", \"advisories\": []}", 0644); }
B(b_fipsprops) { w->policy.crypto_props = "fips=yes"; }
B(b_oldos) { world_put(w, "etc/os-release", "ID=debian\nVERSION_ID=\"10\"\n",
    0644); }
B(b_trusted) { world_put(w, "etc/apt/sources.list",
    "deb [trusted=yes] file:/media/bulwark bookworm main\n", 0644); }
B(b_unauthconf) { world_put(w, "etc/apt/apt.conf.d/99insecure",
    "APT::Get::AllowUnauthenticated \"true\";\n", 0644); }
B(b_acct_unbound) { w->account_problems[0] =
    "acme/alice: active without a RoleBinding"; }
B(b_acct_unknown) { w->facts.account_problems = NULL; }
B(b_revocation) { w->facts.revocation_per_request = COMP_NO; }
B(b_principals_unknown) { w->facts.principals = -1; }
B(b_bootstrap_long) { w->facts.bootstrap_max_s = 7 * 86400; }
B(b_principal_long) { w->facts.principal_max_days = 730; }
B(b_bootstrap_unknown) { w->facts.bootstrap_max_s = -1; }
B(b_review_old) { w->facts.audit_review_age_s = 10 * 86400; }
B(b_review_never) { w->facts.audit_review_age_s = -2; }
B(b_unsealed) { w->facts.config_sealed = COMP_NO; }
B(b_p2p) { world_dpkg(w, "3.0.11-1~deb12u2", "Package: transmission-daemon\n"
    "Status: install ok installed\nVersion: 3.00-2.1\n\n"); }
B(b_dns_downgrade) { world_put(w, "etc/systemd/resolved.conf.d/dnssec.conf",
    "[Resolve]\nDNSSEC=allow-downgrade\n", 0644); }
B(b_dns_remote) { world_put(w, "etc/resolv.conf", "nameserver 127.0.0.53\n"
    "nameserver 10.0.0.53\n", 0644); }
B(b_dns_noresolved) { world_rm(w, "proc/4/comm"); world_rm(w, "proc/4"); }
B(b_dns_unbound_noanchor) { world_put(w, "etc/resolv.conf",
    "nameserver 127.0.0.1\n", 0644); world_put(w,
    "etc/unbound/unbound.conf", "server:\n  interface: 127.0.0.1\n", 0644);
    world_put(w, "proc/5/comm", "unbound\n", 0644); }
B(b_scan_roles) { w->scan_roles[2] = "tenant-admin"; }
B(b_scan_roles_unknown) { w->facts.scan_roles = NULL; }
B(b_scanner_user) { w->facts.scanner_euid = 1000; }
B(b_no_shadow) { world_rm(w, "etc/shadow"); }
B(b_scan_monthly) { w->facts.scan_interval_s = 60 * 86400; }
B(b_scan_unscheduled) { w->facts.scan_interval_s = -1; }
B(b_cadence_missed) { w->facts.prev_scan_age_s = 4 * 86400; }
B(b_cadence_unknown) { w->facts.prev_scan_age_s = -1; }
B(b_cadence_short) { w->policy.evidence_max_age_s = 600; }
B(b_stale_long) { w->facts.attest_stale_s = 3600; }
B(b_untrusted_used) { w->facts.untrusted_excluded = COMP_NO; }
B(b_attest_unknown) { w->facts.attest_interval_s = -1; }
B(b_probe_passed) { w->facts.input_rejected = 7; }
B(b_valid_refused) { w->facts.input_valid_accepted = COMP_NO; }
B(b_probes_unknown) { w->facts.input_probes = -1; }

static const struct flip flips[] = {
	{ "ac-faillock", "unlock_time 600", b_unlock },
	{ "ac-faillock", "deny 10", b_deny },
	{ "ac-faillock", "pam_faillock missing", b_nofaillock },
	{ "ac-banner", "OS banner", b_banner },
	{ "ac-shell-timeout", "TMOUT 3600", b_tmout },
	{ "ac-shell-timeout", "TMOUT writable", b_tmout_rw },
	{ "ac-idle-lock", "lock does not conceal", b_lock },
	{ "ac-idle-lock", "lock after 1 h", b_lock_long },
	{ "ac-accounts", "duplicate uid", b_dupuid },
	{ "ac-accounts", "empty password", b_emptypw },
	{ "ac-accounts", "system account with shell", b_syslogin },
	{ "ac-inactive-disable", "INACTIVE -1", b_inactive },
	{ "ac-root-restricted", "root password usable", b_rootpw },
	{ "ac-root-restricted", "second uid 0", b_uid0 },
	{ "ac-su-restricted", "pam_wheel commented", b_wheel },
	{ "ac-su-restricted", "pam_wheel trust", b_wheel_trust },
	{ "ac-file-perms", "shadow world-readable", b_shadow_mode },
	{ "ac-file-perms", "umask 022", b_umask },
	{ "ac-rbac", "rbac unknown", b_rbac },
	{ "ac-separation-of-duties", "no SoD", b_sod },
	{ "ac-least-privilege", "no seccomp", b_seccomp },
	{ "ac-tenant-isolation", "no isolation", b_tenant },
	{ "ac-remote-access", "openssh-server installed", b_sshd_pkg },
	{ "ac-remote-access", "sshd running", b_sshd_proc },
	{ "ac-remote-access", "no client auth", b_noclientauth },
	{ "ac-listening-ports", "port 22 open", b_port22 },
	{ "ac-listening-ports", "port 80 on ::", b_port_v6 },
	{ "ac-listening-ports", "udp 69 open", b_udp },
	{ "ac-wireless", "wlan0", b_wifi },
	{ "ac-usb-storage", "module loaded", b_usb_loaded },
	{ "ac-usb-storage", "only blacklisted", b_usb_conf },
	{ "ac-unauth-actions", "extra endpoint", b_unauth },
	{ "au-auditd-running", "auditd not running", b_noauditd },
	{ "au-auditd-running", "audit trail inactive", b_audit_off },
	{ "au-rules-events", "no time-change rule", b_rule_time },
	{ "au-rules-events", "no shadow watch", b_rule_shadow },
	{ "au-rules-identity", "no shadow watch", b_rule_shadow },
	{ "au-rules-identity", "read-only watch", b_rule_ro },
	{ "au-rules-privileged", "no sudo rule", b_rule_sudo },
	{ "au-rules-config", "no /etc/bulwark watch", b_rule_cfg },
	{ "au-log-format", "RAW", b_raw },
	{ "au-capacity", "space_left_action ignore", b_space },
	{ "au-capacity", "partition 90%", b_used },
	{ "au-failure-response", "disk_full rotate", b_diskfull },
	{ "au-failure-response", "fails open", b_failopen },
	{ "au-tools", "aureport missing", b_aureport },
	{ "au-tools", "auditd removed", b_auditpkg },
	{ "au-protection", "log world-readable", b_logmode },
	{ "au-protection", "rules mutable", b_immutable },
	{ "au-protection", "-e 1 after -e 2", b_enable_after },
	{ "au-protection", "100-local after 90-lock", b_enable_version },
	{ "au-protection", "-e0 after -e 2", b_enable_nospace },
	{ "au-protection", "chain broken", b_chain },
	{ "au-protection", "log_group adm", b_loggroup },
	{ "au-retention", "rotate", b_rotate },
	{ "au-retention", "30 days", b_retention },
	{ "au-retention", "pruned younger than the minimum", b_pruned_young },
	{ "au-retention", "oldest record not measured", b_oldest_unknown },
	{ "au-time-sync", "no server", b_chrony },
	{ "au-time-sync", "chronyd not running", b_nochronyd },
	{ "cm-config-baseline", "config changed", b_config },
	{ "cm-config-baseline", "config removed", b_config_gone },
	{ "cm-sysctl-baseline", "kexec allowed", b_kexec },
	{ "cm-sysctl-baseline", "magic SysRq", b_sysrq },
	{ "cm-sysctl-baseline", "core dumps allowed", b_core },
	{ "cm-sysctl-baseline", "FireWire loadable", b_firewire },
	{ "cm-prohibited-software", "gcc-12", b_gcc },
	{ "cm-sysctl-baseline", "sctp loadable", b_sctp },
	{ "cm-noexec-mounts", "/tmp exec", b_tmp_exec },
	{ "cm-noexec-mounts", "no /dev/shm mount", b_no_shm },
	{ "cm-noexec-mounts", "/var/tmp on the root", b_var_tmp_root },
	{ "cm-signed-images", "unsigned allowed", b_unsigned },
	{ "cm-inventory", "unlisted package", b_unlisted },
	{ "cm-inventory", "half-installed", b_halfinst },
	{ "cm-system-dirs", "/usr/bin 0777", b_usrbin },
	{ "cm-config-history", "one revision", b_history },
	{ "cm-config-history", "retention 1 change", b_history_short },
	{ "cm-config-history", "retention unknown",
	    b_history_retention_unknown },
	{ "cm-config-history", "none left after compaction",
	  b_history_compacted },
	{ "ia-password-quality", "minlen 8", b_minlen },
	{ "ia-password-quality", "no classes", b_noclass },
	{ "ia-password-storage", "passwords never expire", b_pass_age },
	{ "ia-password-storage", "SHA512 at 5000 rounds", b_rounds },
	{ "ia-password-storage", "nullok", b_nullok },
	{ "ia-password-storage", "md5 hash", b_md5 },
	{ "ia-device-identity", "software TPM", b_swtpm },
	{ "ia-device-identity", "no certificate", b_nocert },
	{ "ia-device-identity", "TPM in lockout", b_tpm_lockout },
	{ "ia-device-identity", "TPM lockout unreported",
	    b_tpm_lockout_unknown },
	{ "ia-pki-certs", "expired", b_expired },
	{ "ia-pki-certs", "foreign issuer", b_othercert },
	{ "ia-no-plaintext-keys", "PEM key", b_plainkey },
	{ "ia-fips", "no FIPS", b_fips },
	{ "ia-api-auth", "no client auth", b_noclientauth },
	{ "ia-api-auth", "TLS 1.1", b_tls11 },
	{ "ia-reauth", "7-day tokens", b_token },
	{ "sc-tls", "HIGH", b_ciphers },
	{ "sc-tls", "ChaCha20", b_chacha },
	{ "sc-tls", "RSA key exchange", b_rsa_kx },
	{ "sc-tls", "TLS 1.1", b_tls11 },
	{ "sc-syn-flood", "syncookies off", b_syncookies },
	{ "sc-network-sysctl", "redirects", b_redirects },
	{ "sc-network-sysctl", "sysctl missing", b_nosysctl },
	{ "sc-firewall", "input accept", b_fw_accept },
	{ "sc-firewall", "no forward chain", b_fw_noforward },
	{ "sc-privsep", "no privsep", b_privsep },
	{ "sc-kernel-info", "dmesg open", b_dmesg },
	{ "sc-process-isolation", "ptrace open", b_ptrace },
	{ "sc-process-isolation", "no seccomp", b_seccomp },
	{ "sc-data-at-rest", "plain swap", b_plainswap },
	{ "sc-data-at-rest", "no crypttab", b_nocrypttab },
	{ "sc-key-management", "not sealed", b_sealed },
	{ "sc-key-management", "software TPM", b_swtpm },
	{ "sc-session-idle", "1 h idle", b_session },
	{ "sc-collab-devices", "sound card", b_sound },
	{ "sc-collab-devices", "camera", b_camera },
	{ "cp-store-durable", "no fsync", b_store },
	{ "sc-store-capacity", "80% used", b_store_full },
	{ "sc-store-capacity", "at the high-water mark", b_store_mark },
	{ "sc-store-capacity", "no compaction", b_store_nocompact },
	{ "si-memory-protection", "ASLR 1", b_aslr },
	{ "si-memory-protection", "no NX", b_nonx },
	{ "si-binary-integrity", "binary changed", b_binary },
	{ "si-binary-integrity", "manifest missing", b_nomanifest },
	{ "si-binary-integrity", "manifest malformed", b_badmanifest },
	{ "si-patch-age", "60 days", b_stale },
	{ "si-advisories", "openssl vulnerable", b_vuln },
	{ "si-advisories", "older revision", b_epoch },
	{ "si-remediation-time", "open 45 days", b_overdue },
	{ "ra-feed-current", "feed 60 days old", b_feed_old },
	{ "ra-feed-current", "feed malformed", b_feed_bad },
	{ "si-crypto-selftest", "fips=yes without provider", b_fipsprops },
	{ "sa-supported-os", "Debian 10", b_oldos },
	{ "sr-apt-authenticated", "trusted=yes", b_trusted },
	{ "sr-apt-authenticated", "AllowUnauthenticated", b_unauthconf },
	{ "ac-account-lifecycle", "principal without binding", b_acct_unbound },
	{ "ac-account-lifecycle", "consistency not reported", b_acct_unknown },
	{ "ac-account-lifecycle", "revocation not per request", b_revocation },
	{ "ac-account-lifecycle", "principals not reported",
	  b_principals_unknown },
	{ "ac-account-lifecycle", "fails open", b_failopen },
	{ "ac-credential-expiry", "7-day bootstrap credential",
	  b_bootstrap_long },
	{ "ac-credential-expiry", "730-day principal", b_principal_long },
	{ "ac-credential-expiry", "bootstrap lifetime unknown",
	  b_bootstrap_unknown },
	{ "ac-privileged-remote", "sshd running", b_sshd_proc },
	{ "ac-privileged-remote", "openssh-server installed", b_sshd_pkg },
	{ "ac-privileged-remote", "rbac unknown", b_rbac },
	{ "ac-privileged-remote", "fails open", b_failopen },
	{ "ac-privileged-remote", "1 h idle", b_session },
	{ "ac-privileged-remote", "no client auth", b_noclientauth },
	{ "au-review", "last review 10 days ago", b_review_old },
	{ "au-review", "never reviewed", b_review_never },
	{ "cm-change-control", "configuration not sealed", b_unsealed },
	{ "cm-change-control", "fails open", b_failopen },
	{ "cm-change-control", "no SoD", b_sod },
	{ "cm-p2p-software", "transmission-daemon", b_p2p },
	{ "sc-dns-validation", "DNSSEC allow-downgrade", b_dns_downgrade },
	{ "sc-dns-validation", "remote name server", b_dns_remote },
	{ "sc-dns-validation", "resolved not running", b_dns_noresolved },
	{ "sc-dns-validation", "unbound without trust anchor",
	  b_dns_unbound_noanchor },
	{ "ra-privileged-scan", "tenant-admin may scan", b_scan_roles },
	{ "ra-privileged-scan", "roles not reported", b_scan_roles_unknown },
	{ "ra-privileged-scan", "unprivileged scanner", b_scanner_user },
	{ "ra-privileged-scan", "shadow unreadable", b_no_shadow },
	{ "ca-continuous-assessment", "every 60 days", b_scan_monthly },
	{ "ca-continuous-assessment", "not scheduled", b_scan_unscheduled },
	{ "ca-evidence-cadence", "previous scan 4 days ago", b_cadence_missed },
	{ "ca-evidence-cadence", "previous scan unknown", b_cadence_unknown },
	{ "ca-evidence-cadence", "cadence 10 min, scan 1 h ago", b_cadence_short },
	{ "ca-continuous-assessment", "audit trail inactive", b_audit_off },
	{ "si-attestation-response", "stale after 1 h", b_stale_long },
	{ "si-attestation-response", "Untrusted nodes used",
	  b_untrusted_used },
	{ "si-attestation-response", "interval unknown", b_attest_unknown },
	{ "si-input-validation", "a probe passed", b_probe_passed },
	{ "si-input-validation", "valid input refused", b_valid_refused },
	{ "si-input-validation", "not reported", b_probes_unknown },
};

static void
test_flip(void **state)
{
	const struct flip *f = *state;
	struct world w;
	enum comp_verdict v;

	world_build(&w);
	v = world_run(&w, f->check);
	if (v != COMP_SATISFIED)
		fail_msg("%s: %s on the good fixture", f->check,
		    comp_verdict_str(v));
	f->brk(&w);
	v = world_run(&w, f->check);
	world_destroy(&w);
	if (v != COMP_NOT_SATISFIED)
		fail_msg("%s (%s): %s after breaking", f->check, f->how,
		    comp_verdict_str(v));
}

/* The whole registry on the good fixture: every check satisfied, each
 * result carries observations and evidence, and each check has at
 * least one flip row above. */
static void
test_all_good(void **state)
{
	struct comp_scan *scan = NULL;
	struct comp_ctx ctx;
	struct world w;
	size_t n, i, j, bad = 0;

	world_build(&w);
	assert_non_null(comp_checks(&n));
	assert_int_equal(comp_ctx_open(&ctx, w.root, &w.facts, &w.policy,
	    w.now), 0);
	assert_int_equal(comp_scan_run(&ctx, NULL, &scan), 0);
	assert_int_equal(scan->n, n);
	for (i = 0; i < scan->n; i++) {
		const struct comp_result *r = scan->results[i];
		bool flipped = false;

		if (r->verdict != COMP_SATISFIED) {
			bad++;
			printf("# %s: %s\n", r->check->id,
			    comp_verdict_str(r->verdict));
			for (j = 0; j < r->n_obs; j++)
				printf("#   [%s] %s: %s (required %s)\n",
				    r->obs[j].ok ? "ok" : "FAIL",
				    r->obs[j].subject, r->obs[j].found,
				    r->obs[j].required);
		}
		assert_true(r->n_obs > 0);
		assert_true(r->n_ev > 0);
		for (j = 0; j < sizeof(flips) / sizeof(flips[0]); j++)
			flipped |= !strcmp(flips[j].check, r->check->id);
		if (!flipped)
			fail_msg("%s has no pass/fail test", r->check->id);
	}
	assert_int_equal(comp_scan_control_verdict(scan, "ac-7"),
	    COMP_SATISFIED);
	assert_int_equal(comp_scan_control_verdict(scan, "pe-3"),
	    -BW_E_NOTFOUND);
	comp_scan_free(scan);
	comp_ctx_done(&ctx);
	world_destroy(&w);
	assert_int_equal(bad, 0);
}

/* A control covered by two checks is not satisfied when one fails. */
static void
test_control_aggregation(void **state)
{
	struct comp_scan *scan = NULL;
	struct comp_ctx ctx;
	struct world w;

	world_build(&w);
	w.facts.rbac = COMP_NO;		/* ac-rbac: ac-3, ac-2.7 */
	assert_int_equal(comp_ctx_open(&ctx, w.root, &w.facts, &w.policy,
	    w.now), 0);
	assert_int_equal(comp_scan_run(&ctx, NULL, &scan), 0);
	/* ac-3 is also covered by ac-file-perms, which passes. */
	assert_int_equal(comp_scan_control_verdict(scan, "ac-3"),
	    COMP_NOT_SATISFIED);
	assert_int_equal(comp_scan_control_verdict(scan, "ac-6.1"),
	    COMP_SATISFIED);
	comp_scan_free(scan);
	comp_ctx_done(&ctx);
	world_destroy(&w);
}

/* An absolute symlink in the fixture must resolve inside the root, never
 * to the real file system. */
static void
test_symlink_confined(void **state)
{
	struct world w;
	char link[128], outside[] = "/tmp/bw-comp-out-XXXXXX", target[160];
	FILE *f;

	world_build(&w);
	assert_non_null(mkdtemp(outside));
	snprintf(target, sizeof(target), "%s/issue", outside);
	f = fopen(target, "w");
	assert_non_null(f);
	fputs("U.S. Government notice\n", f);
	fclose(f);
	world_rm(&w, "etc/issue");
	snprintf(link, sizeof(link), "%s/etc/issue", w.root);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(world_run(&w, "ac-banner"), COMP_NOT_SATISFIED);
	/* The same link relative to the root works. */
	world_put(&w, outside + 1, "", 0755);
	world_rm(&w, outside + 1);
	world_put(&w, target + 1, "U.S. Government notice\n", 0644);
	assert_int_equal(world_run(&w, "ac-banner"), COMP_SATISFIED);
	unlink(target);
	rmdir(outside);
	world_destroy(&w);
}

/* gcc-12-base (libgcc-s1's dependency) holds no compiler: only the
 * compiler packages themselves are prohibited. */
static void
test_prohibited_compiler_names(void **state)
{
	struct world w;

	world_build(&w);
	world_dpkg(&w, "3.0.11-1~deb12u2", "Package: gcc-12-base\nStatus: "
	    "install ok installed\nVersion: 12.2.0-14\n\n");
	assert_int_equal(world_run(&w, "cm-prohibited-software"),
	    COMP_SATISFIED);
	world_dpkg(&w, "3.0.11-1~deb12u2", "Package: gcc-12-base\nStatus: "
	    "install ok installed\nVersion: 12.2.0-14\n\nPackage: g++-12\n"
	    "Status: install ok installed\nVersion: 12.2.0-14\n\n");
	assert_int_equal(world_run(&w, "cm-prohibited-software"),
	    COMP_NOT_SATISFIED);
	world_dpkg(&w, "3.0.11-1~deb12u2", "Package: gcc-12-base\nStatus: "
	    "install ok installed\nVersion: 12.2.0-14\n\nPackage: "
	    "gcc-12-aarch64-linux-gnu\nStatus: install ok installed\n"
	    "Version: 12.2.0-14cross1\n\n");
	assert_int_equal(world_run(&w, "cm-prohibited-software"),
	    COMP_NOT_SATISFIED);
	world_destroy(&w);
}

/* Makes REL a symbolic link to TARGET after moving its file to MOVED
 * (root-relative, its directory made), or just a link when MOVED is NULL. */
static void
world_link(struct world *w, const char *rel, const char *target,
    const char *moved)
{
	char from[256], to[256];

	snprintf(from, sizeof(from), "%s/%s", w->root, rel);
	if (moved) {
		world_put(w, moved, "", 0644);
		snprintf(to, sizeof(to), "%s/%s", w->root, moved);
		assert_int_equal(rename(from, to), 0);
	} else
		unlink(from);
	assert_int_equal(symlink(target, from), 0);
}

/* Symbolic links resolve inside the root with openat2() and without it
 * (systemd's RestrictSUIDSGID= answers it ENOSYS): Debian's relative
 * /etc/os-release and /proc/mounts -> self/mounts, absolute links,
 * links climbing out (kept at the root) and loops (ELOOP). STATE says
 * whether openat2() is bypassed. */
/* A failed assertion leaves the test early: later tests get openat2()
 * back all the same. */
static int
openat2_restore(void **state)
{
	(void)state;
	inroot_force_walk = false;
	return 0;
}

static void
test_symlinks_resolved(void **state)
{
	struct world w;
	struct comp_ctx ctx;
	struct stat st;
	char outside[] = "/tmp/bw-comp-out-XXXXXX", out[64], rel[96];
	FILE *f;
	int fd;

	inroot_force_walk = *(const bool *)*state;
	world_build(&w);
	world_link(&w, "etc/os-release", "../usr/lib/os-release",
	    "usr/lib/os-release");
	assert_int_equal(world_run(&w, "sa-supported-os"), COMP_SATISFIED);
	world_link(&w, "proc/mounts", "self/mounts", "proc/7/mounts");
	world_link(&w, "proc/self", "7", NULL);
	assert_int_equal(world_run(&w, "cm-noexec-mounts"), COMP_SATISFIED);
	/* absolute, inside the root; then through a linked directory */
	world_link(&w, "etc/issue", "/usr/share/issue", "usr/share/issue");
	assert_int_equal(world_run(&w, "ac-banner"), COMP_SATISFIED);
	world_link(&w, "etc/issue", "/usr/doc/issue", NULL);
	world_link(&w, "usr/doc", "share", NULL);
	assert_int_equal(world_run(&w, "ac-banner"), COMP_SATISFIED);
	/* climbing out stops at the root: /../../usr/share/issue */
	world_link(&w, "etc/issue", "../../../../../../usr/share/issue", NULL);
	assert_int_equal(world_run(&w, "ac-banner"), COMP_SATISFIED);
	/* a notice outside the root is not reached, relative or absolute */
	assert_non_null(mkdtemp(outside));
	snprintf(out, sizeof(out), "%s/issue", outside);
	assert_non_null(f = fopen(out, "w"));
	fputs("U.S. Government notice\n", f);
	fclose(f);
	snprintf(rel, sizeof(rel), "../../../../../..%s", out);
	world_link(&w, "etc/issue", rel, NULL);
	assert_int_equal(world_run(&w, "ac-banner"), COMP_NOT_SATISFIED);
	world_link(&w, "etc/issue", out, NULL);
	assert_int_equal(world_run(&w, "ac-banner"), COMP_NOT_SATISFIED);
	unlink(out);
	rmdir(outside);
	world_link(&w, "etc/a", "b", NULL);
	world_link(&w, "etc/b", "/etc/a", NULL);
	assert_int_equal(comp_ctx_open(&ctx, w.root, NULL, NULL, 0), 0);
	assert_int_equal(comp_open(&ctx, "etc/a", O_RDONLY), -ELOOP);
	assert_int_equal(comp_open(&ctx, "/etc/issue", O_RDONLY | O_NOFOLLOW),
	    -ELOOP);
	/* comp_stat() sees the final link itself */
	assert_int_equal(comp_stat(&ctx, "etc/os-release", &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(comp_stat(&ctx, "usr/doc/issue", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	fd = comp_open(&ctx, "proc/self/", O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(comp_open(&ctx, "etc/os-release/x", O_RDONLY),
	    -ENOTDIR);
	comp_ctx_done(&ctx);
	world_destroy(&w);
	inroot_force_walk = false;
}

static void
test_unknown_facts(void **state)
{
	struct world w;
	struct comp_ctx ctx;
	struct comp_result *res = NULL;

	world_build(&w);
	assert_int_equal(comp_ctx_open(&ctx, w.root, NULL, NULL, 0), 0);
	assert_int_equal(comp_check_run(comp_check_find("ac-rbac"), &ctx,
	    &res), 0);
	assert_int_equal(res->verdict, COMP_NOT_SATISFIED);
	assert_string_equal(res->obs[0].found, "not reported");
	assert_string_equal(res->ev[0].ref, "fact:rbac");
	comp_result_free(res);
	comp_ctx_done(&ctx);
	world_destroy(&w);
}

/* The live state the confinement facts were read from follows the
 * value in the observation, so a scan shows what the process ran as. */
/* CM-2(3) on a fresh appliance: no object changed twice yet, nothing
 * compacted, so every previous version there has been is held; the
 * count is reported as it is. */
static void
test_config_history_fresh(void **state)
{
	struct world w;
	struct comp_ctx ctx;
	struct comp_result *res = NULL;

	(void)state;
	world_build(&w);
	w.facts.config_revisions = 0;
	w.facts.config_history_whole = COMP_YES;
	assert_int_equal(comp_ctx_open(&ctx, w.root, &w.facts, &w.policy,
	    w.now), 0);
	assert_int_equal(comp_check_run(comp_check_find("cm-config-history"),
	    &ctx, &res), 0);
	assert_int_equal(res->verdict, COMP_SATISFIED);
	assert_int_equal(res->n_obs, 1);
	assert_string_equal(res->obs[0].found, "satisfied: no previous "
	    "versions yet; retention 10000 changes");
	comp_result_free(res);
	comp_ctx_done(&ctx);
	world_destroy(&w);
}

static void
test_confinement_detail(void **state)
{
	struct world w;
	struct comp_ctx ctx;
	struct comp_result *res = NULL;

	world_build(&w);
	w.facts.seccomp = COMP_NO;
	w.facts.confinement_detail = "pid 7: uid 0, CapEff 000001ffffffffff, "
	    "NoNewPrivs 1, Seccomp 0";
	assert_int_equal(comp_ctx_open(&ctx, w.root, &w.facts, &w.policy,
	    w.now), 0);
	assert_int_equal(comp_check_run(comp_check_find("ac-least-privilege"),
	    &ctx, &res), 0);
	assert_int_equal(res->verdict, COMP_NOT_SATISFIED);
	assert_int_equal(res->n_obs, 2);
	assert_string_equal(res->obs[0].subject, "fact:seccomp");
	assert_string_equal(res->obs[0].found, "no (pid 7: uid 0, CapEff "
	    "000001ffffffffff, NoNewPrivs 1, Seccomp 0)");
	assert_false(res->obs[0].ok);
	assert_true(res->obs[1].ok);
	comp_result_free(res);
	comp_ctx_done(&ctx);
	world_destroy(&w);
}

/* Whether RES has an observation whose found text contains NEEDLE. */
static bool
res_says(const struct comp_result *res, const char *needle)
{
	size_t i;

	for (i = 0; i < res->n_obs; i++)
		if (res->obs[i].found && strstr(res->obs[i].found, needle))
			return true;
	return false;
}

/* Shadow lines are read within themselves, and an observation names an
 * account only by a user-like name: a line without a colon (its hash
 * where the name is) is "malformed line N", one with a name that is not
 * a user name "line N"; nothing else of either is said. */
static void
test_shadow_malformed(void **state)
{
	static const char *const ids[] = { "ac-accounts",
		"ia-password-storage", "ac-root-restricted" };
	struct world w;
	struct comp_ctx ctx;
	size_t i, j;

	(void)state;
	world_build(&w);
	world_put(&w, "etc/shadow", "root:!:1::::::\n"
	    "alice$6$SALT$HASHONE\n"
	    "bob:$1$SALT$HASHTWO:1::::::\n"
	    "Eve$1$SALT$HASHTHREE::1::::::\n"
	    "svc$:$y$j9T$SALT$HASHFOUR:1::::::\n", 0640);
	assert_int_equal(comp_ctx_open(&ctx, w.root, &w.facts, &w.policy,
	    w.now), 0);
	for (i = 0; i < ELEMENTSOF(ids); i++) {
		struct comp_result *res = NULL;

		assert_int_equal(comp_check_run(comp_check_find(ids[i]), &ctx,
		    &res), 0);
		for (j = 0; j < res->n_obs; j++)
			if (res->obs[j].found && (strstr(res->obs[j].found,
			    "HASH") || strstr(res->obs[j].found, "SALT") ||
			    strstr(res->obs[j].found, "alice")))
				fail_msg("%s says \"%s\"", ids[i],
				    res->obs[j].found);
		if (i == 0) {
			assert_int_equal(res->verdict, COMP_NOT_SATISFIED);
			assert_true(res_says(res, "malformed line 2"));
			assert_true(res_says(res, "line 4 has an empty "
			    "password"));
			assert_true(res_says(res, "1 malformed lines"));
		} else if (i == 1) {
			assert_int_equal(res->verdict, COMP_NOT_SATISFIED);
			assert_true(res_says(res, "malformed line 2"));
			assert_true(res_says(res, "bob uses a weak"));
			assert_true(res_says(res, "line 4 uses a weak"));
			assert_false(res_says(res, "svc$ uses"));
			assert_true(res_says(res, "4 accounts, 2 weak, 1 "
			    "malformed lines"));
		}
		for (j = 0; j < res->n_ev; j++)
			if (!strcmp(res->ev[j].ref, "/etc/shadow"))
				assert_string_equal(res->ev[j].sha256, "");
		comp_result_free(res);
	}
	comp_ctx_done(&ctx);
	world_destroy(&w);
}

static void
test_evidence_digest(void **state)
{
	struct world w;
	struct comp_ctx ctx;
	struct comp_result *res = NULL;
	size_t i;
	bool found = false;

	world_build(&w);
	world_put(&w, "etc/issue", "U.S. Government\n", 0644);
	assert_int_equal(comp_ctx_open(&ctx, w.root, &w.facts, &w.policy,
	    w.now), 0);
	assert_int_equal(comp_check_run(comp_check_find("ac-banner"), &ctx,
	    &res), 0);
	for (i = 0; i < res->n_ev; i++)
		if (!strcmp(res->ev[i].ref, "/etc/issue")) {
			/* sha256("U.S. Government\n") */
			assert_string_equal(res->ev[i].sha256,
			    "89892886ee374e297c7031fe913abd56079232772ebdc4bcb2d2cd536e1acb9e");
			found = true;
		}
	assert_true(found);
	comp_result_free(res);
	comp_ctx_done(&ctx);
	world_destroy(&w);
}

/* The resolver variants sc-dns-validation accepts, refuses or finds
 * not applicable, beyond the systemd-resolved fixture. */
static void
test_dns_variants(void **state)
{
	struct world w;

	world_build(&w);
	world_put(&w, "etc/resolv.conf", "nameserver 127.0.0.1\n", 0644);
	world_put(&w, "etc/unbound/unbound.conf", "server:\n"
	    "  interface: 127.0.0.1\n", 0644);
	world_put(&w, "etc/unbound/unbound.conf.d/root-auto-trust-anchor-file"
	    ".conf", "server:\n    auto-trust-anchor-file: "
	    "\"/var/lib/unbound/root.key\"\n", 0644);
	assert_int_equal(world_run(&w, "sc-dns-validation"),
	    COMP_NOT_SATISFIED);			/* unbound not running */
	world_put(&w, "proc/5/comm", "unbound\n", 0644);
	assert_int_equal(world_run(&w, "sc-dns-validation"), COMP_SATISFIED);
	world_put(&w, "etc/unbound/unbound.conf.d/permissive.conf",
	    "server:\n  val-permissive-mode: yes\n", 0644);
	assert_int_equal(world_run(&w, "sc-dns-validation"),
	    COMP_NOT_SATISFIED);
	world_rm(&w, "etc/unbound/unbound.conf.d/permissive.conf");
	world_put(&w, "etc/unbound/unbound.conf", "server:\n"
	    "  module-config: \"iterator\"\n", 0644);
	assert_int_equal(world_run(&w, "sc-dns-validation"),
	    COMP_NOT_SATISFIED);
	world_put(&w, "etc/resolv.conf", "# nameserver 10.0.0.53\n", 0644);
	assert_int_equal(world_run(&w, "sc-dns-validation"),
	    COMP_NOT_APPLICABLE);
	world_rm(&w, "etc/resolv.conf");
	assert_int_equal(world_run(&w, "sc-dns-validation"),
	    COMP_NOT_APPLICABLE);
	world_destroy(&w);
}

/* The cadence check: the first scan has nothing to be late against; a
 * previous scan exactly at the cadence is still on time. */
static void
test_cadence_first_and_edge(void **state)
{
	struct world w;

	world_build(&w);
	w.facts.prev_scan_age_s = -2;
	assert_int_equal(world_run(&w, "ca-evidence-cadence"),
	    COMP_NOT_APPLICABLE);
	w.facts.prev_scan_age_s = COMP_CADENCE_DEFAULT_S;
	assert_int_equal(world_run(&w, "ca-evidence-cadence"), COMP_SATISFIED);
	w.facts.prev_scan_age_s = COMP_CADENCE_DEFAULT_S + 1;
	assert_int_equal(world_run(&w, "ca-evidence-cadence"),
	    COMP_NOT_SATISFIED);
	world_destroy(&w);
}

static void
test_vercmp(void **state)
{
	assert_true(comp_deb_vercmp("3.0.9-1", "3.0.11-1~deb12u2") < 0);
	assert_true(comp_deb_vercmp("3.0.11-1~deb12u2", "3.0.11-1") < 0);
	assert_true(comp_deb_vercmp("3.0.11-1", "3.0.11-1~deb12u2") > 0);
	assert_true(comp_deb_vercmp("1:1.0", "2.0") > 0);
	assert_int_equal(comp_deb_vercmp("1.0-1", "1.0-1"), 0);
	assert_int_equal(comp_deb_vercmp("0:1.0", "1.0"), 0);
	assert_true(comp_deb_vercmp("1.0~rc1", "1.0") < 0);
	assert_true(comp_deb_vercmp("1.0a", "1.0+") < 0);
	assert_true(comp_deb_vercmp("2.36-9+deb12u4", "2.36-9+deb12u10") < 0);
	assert_true(comp_deb_vercmp("1.10", "1.9") > 0);
}

static void
test_conf_get(void **state)
{
	char *v = NULL;

	assert_int_equal(comp_conf_get("# deny = 1\ndeny = 3 # why\n"
	    "DENY=5\n", "deny", &v), 0);
	assert_string_equal(v, "5");
	free(v);
	assert_int_equal(comp_conf_get("denyx = 3\n", "deny", &v), -ENOENT);
	assert_int_equal(comp_conf_get("ENCRYPT_METHOD\tYESCRYPT", 
	    "ENCRYPT_METHOD", &v), 0);
	assert_string_equal(v, "YESCRYPT");
	free(v);
}

int
main(void)
{
	struct CMUnitTest tests[sizeof(flips) / sizeof(flips[0]) + 16];
	static char names[sizeof(flips) / sizeof(flips[0])][128];
	static const bool with_openat2 = false, without_openat2 = true;
	size_t i, n = 0;

	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_all_good);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_control_aggregation);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_symlink_confined);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_unknown_facts);
	tests[n++] = (struct CMUnitTest){ "symlinks resolved with openat2",
	    test_symlinks_resolved, NULL, openat2_restore,
	    (void *)&with_openat2 };
	tests[n++] = (struct CMUnitTest){ "symlinks resolved without openat2",
	    test_symlinks_resolved, NULL, openat2_restore,
	    (void *)&without_openat2 };
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_prohibited_compiler_names);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_config_history_fresh);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_confinement_detail);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_evidence_digest);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_shadow_malformed);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_dns_variants);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_cadence_first_and_edge);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_vercmp);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_conf_get);
	for (i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		snprintf(names[i], sizeof(names[i]), "flip %s: %s",
		    flips[i].check, flips[i].how);
		tests[n++] = (struct CMUnitTest){ names[i], test_flip, NULL,
		    NULL, (void *)&flips[i] };
	}
	return _cmocka_run_group_tests("checks", tests, n, NULL, NULL);
}
