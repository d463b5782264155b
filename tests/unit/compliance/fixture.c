#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lib/b64.h"
#include "lib/fileio.h"
#include "compliance/oscal.h"
#include "lib/ids.h"
#include "tests/unit/compliance/fixture.h"

static char *
path_of(struct world *w, const char *rel)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", w->root, rel) > 0);
	return p;
}

void
world_mkdir(struct world *w, const char *rel)
{
	char *p = path_of(w, rel);

	assert_int_equal(mkdir_p(p, 0755), 0);
	free(p);
}

void
world_put(struct world *w, const char *rel, const char *content, mode_t mode)
{
	char *p = path_of(w, rel), *dir = strdup(p);
	int fd;

	assert_non_null(dir);
	dir[strrchr(dir, '/') - dir] = '\0';
	assert_int_equal(mkdir_p(dir, 0755), 0);
	free(dir);
	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, content, strlen(content)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	free(p);
}

void
world_rm(struct world *w, const char *rel)
{
	char *p = path_of(w, rel);

	assert_true(unlink(p) == 0 || rmdir(p) == 0);
	free(p);
}

void
world_chmod(struct world *w, const char *rel, mode_t mode)
{
	char *p = path_of(w, rel);

	assert_int_equal(chmod(p, mode), 0);
	free(p);
}

void
world_age(struct world *w, const char *rel, int age_days)
{
	char *p = path_of(w, rel);
	struct timespec ts[2] = {
		{ .tv_sec = w->now - (time_t)age_days * 86400 },
		{ .tv_sec = w->now - (time_t)age_days * 86400 },
	};

	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	free(p);
}

void
world_drop_lines(struct world *w, const char *rel, const char *needle)
{
	char *p = path_of(w, rel), *buf = NULL, *out, *line, *next;
	size_t len;
	int fd;

	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read_bounded(fd, 1 << 20, &buf, &len), 0);
	close(fd);
	out = calloc(1, len + 1);
	assert_non_null(out);
	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!strstr(line, needle)) {
			strcat(out, line);
			strcat(out, "\n");
		}
	}
	world_put(w, rel, out, 0644);
	free(out);
	free(buf);
	free(p);
}

static const char *dpkg_base =
    "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\n\n"
    "Package: auditd\nStatus: install ok installed\nVersion: 1:3.0.9-1\n\n"
    "Package: chrony\nStatus: install ok installed\nVersion: 4.3-2+deb12u1\n\n"
    "Package: nftables\nStatus: install ok installed\nVersion: 1.0.6-2+deb12u2\n\n"
    "Package: openssh-client\nStatus: deinstall ok config-files\nVersion: 1:9.2p1-2\n\n"
    "Package: bulwark\nStatus: install ok installed\nVersion: 0.1.0-1\n\n";

void
world_dpkg(struct world *w, const char *openssl_ver, const char *extra)
{
	char *s;

	assert_true(asprintf(&s, "%sPackage: openssl\nStatus: install ok "
	    "installed\nPriority: optional\nVersion: %s\nDescription: x\n "
	    "continued\n\n%s", dpkg_base, openssl_ver, extra) > 0);
	world_put(w, "var/lib/dpkg/status", s, 0644);
	free(s);
	world_age(w, "var/lib/dpkg/status", 2);
}

void
world_advisories(struct world *w, int gen_days, int pub_days)
{
	char gen[32], pub[32], *s;

	bw_time_rfc3339_at(gen, sizeof(gen), w->now - (time_t)gen_days * 86400);
	bw_time_rfc3339_at(pub, sizeof(pub), w->now - (time_t)pub_days * 86400);
	assert_true(asprintf(&s, "{\"generated\": \"%s\", \"advisories\": ["
	    "{\"id\": \"DSA-5532-1\", \"package\": \"openssl\", \"fixed\": "
	    "\"3.0.11-1~deb12u2\", \"published\": \"%s\", \"severity\": "
	    "\"high\"}, {\"id\": \"DSA-0001-1\", \"package\": \"not-installed\","
	    " \"fixed\": \"9\", \"published\": \"2020-01-01\", \"severity\": "
	    "\"low\"}]}", gen, pub) > 0);
	world_put(w, "var/lib/bulwark/advisories.json", s, 0644);
	free(s);
}

static EVP_PKEY *
ec_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static X509 *
make_cert(EVP_PKEY *key, EVP_PKEY *issuer_key, X509 *issuer, const char *cn,
    time_t now)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_time_adj_ex(X509_getm_notBefore(x), -1, 0, &now);
	X509_time_adj_ex(X509_getm_notAfter(x), 365, 0, &now);
	X509_set_pubkey(x, key);
	if (!issuer) {
		X509V3_CTX v3;
		X509_EXTENSION *ext;

		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
		    "critical,CA:TRUE");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return x;
}

static void
put_pem_cert(struct world *w, const char *rel, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	assert_true(PEM_write_bio_X509(b, x));
	n = BIO_get_mem_data(b, &data);
	s = strndup(data, (size_t)n);
	world_put(w, rel, s, 0644);
	free(s);
	BIO_free(b);
}

static void
put_certs(struct world *w)
{
	EVP_PKEY *cak = ec_key(), *dk = ec_key();
	X509 *ca = make_cert(cak, cak, NULL, "Bulwark CA", w->now);
	X509 *dev = make_cert(dk, cak, ca, "node-1", w->now);

	put_pem_cert(w, "etc/bulwark/pki/ca.pem", ca);
	put_pem_cert(w, "etc/bulwark/pki/device.pem", dev);
	world_put(w, "etc/bulwark/pki/device.key",
	    "-----BEGIN TSS2 PRIVATE KEY-----\nMIIB\n"
	    "-----END TSS2 PRIVATE KEY-----\n", 0600);
	X509_free(ca);
	X509_free(dev);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(dk);
}

static void
put_manifest(struct world *w, const char *manifest, const char *const *files)
{
	char line[4096] = "";

	for (; *files; files++) {
		char *p = path_of(w, *files + 1), *buf = NULL, hex[65];
		unsigned char md[32];
		size_t len;
		int fd = open(p, O_RDONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		assert_int_equal(read_bounded(fd, 1 << 20, &buf, &len), 0);
		close(fd);
		assert_true(EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL));
		hex_encode(md, sizeof(md), hex);
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
		    "%s  %s\n", hex, *files);
		free(buf);
		free(p);
	}
	world_put(w, manifest, line, 0644);
}

static void
put_sysctl(struct world *w, const char *name, const char *v)
{
	char rel[256], *p;

	snprintf(rel, sizeof(rel), "proc/sys/%s", name);
	for (p = rel + 9; *p; p++)
		if (*p == '.')
			*p = '/';
	world_put(w, rel, v, 0644);
}

static const char *const good_sysctls[][2] = {
	{ "kernel.randomize_va_space", "2\n" },
	{ "kernel.kptr_restrict", "1\n" },
	{ "kernel.dmesg_restrict", "1\n" },
	{ "kernel.yama.ptrace_scope", "1\n" },
	{ "kernel.perf_event_paranoid", "3\n" },
	{ "kernel.kexec_load_disabled", "1\n" },
	{ "kernel.unprivileged_bpf_disabled", "2\n" },
	{ "net.core.bpf_jit_harden", "2\n" },
	{ "fs.protected_hardlinks", "1\n" },
	{ "fs.protected_symlinks", "1\n" },
	{ "fs.suid_dumpable", "0\n" },
	{ "net.ipv4.tcp_syncookies", "1\n" },
	{ "net.ipv4.icmp_echo_ignore_broadcasts", "1\n" },
	{ "net.ipv4.conf.all.accept_redirects", "0\n" },
	{ "net.ipv4.conf.default.accept_redirects", "0\n" },
	{ "net.ipv4.conf.all.send_redirects", "0\n" },
	{ "net.ipv4.conf.all.accept_source_route", "0\n" },
	{ "net.ipv4.conf.all.rp_filter", "1\n" },
	{ "net.ipv4.conf.all.log_martians", "1\n" },
	{ "net.ipv6.conf.all.accept_redirects", "0\n" },
	{ "net.ipv6.conf.all.accept_source_route", "0\n" },
	{ "net.ipv4.conf.default.send_redirects", "0\n" },
	{ "net.ipv4.conf.default.accept_source_route", "0\n" },
	{ "net.ipv4.conf.default.log_martians", "1\n" },
	{ "net.ipv6.conf.default.accept_redirects", "0\n" },
	{ "net.ipv6.conf.default.accept_source_route", "0\n" },
	{ "fs.protected_fifos", "2\n" },
	{ "fs.protected_regular", "2\n" },
	{ "kernel.sysrq", "0\n" },
	{ "dev.tty.ldisc_autoload", "0\n" },
	{ "kernel.core_uses_pid", "1\n" },
};

const char *const fixture_audit_rules =
    "-D\n-b 8192\n-f 2\n"
    "-w /var/log/lastlog -p wa -k logins\n"
    "-w /var/run/faillock -p wa -k logins\n"
    "-a always,exit -F arch=b64 -S execve -C uid!=euid -F euid=0 -k setuid\n"
    "-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change\n"
    "-a always,exit -F arch=b64 -S init_module,finit_module,delete_module -k modules\n"
    "-a always,exit -F arch=b64 -S mount -F auid>=1000 -F auid!=unset -k mounts\n"
    "-a always,exit -F arch=b64 -S unlink,unlinkat,rename,renameat -F auid>=1000 -F auid!=unset -k delete\n"
    "-w /etc/passwd -p wa -k identity\n"
    "-w /etc/group -p wa -k identity\n"
    "-w /etc/shadow -p wa -k identity\n"
    "-w /etc/gshadow -p wa -k identity\n"
    "-w /etc/security/opasswd -p wa -k identity\n"
    "-w /usr/bin/sudo -p x -k privileged\n"
    "-w /usr/bin/su -p x -k privileged\n"
    "-w /etc/sudoers -p wa -k scope\n"
    "-w /etc/pam.d/ -p wa -k pam\n"
    "-w /etc/audit/ -p wa -k auditconfig\n"
    "-w /etc/bulwark/ -p wa -k bulwark\n"
    "-e 2\n";

void
world_build(struct world *w)
{
	static const char *const cfg[] = { "/etc/bulwark/bulwark.conf",
		"/etc/nftables.conf", NULL };
	static const char *const bins[] = { "/usr/sbin/bulwarkd", NULL };
	size_t i;

	memset(w, 0, sizeof(*w));
	snprintf(w->root, sizeof(w->root), "/tmp/bw-comp-XXXXXX");
	assert_non_null(mkdtemp(w->root));
	assert_int_equal(chmod(w->root, 0755), 0);
	w->now = time(NULL);

	comp_facts_init(&w->facts);
	w->policy = *comp_policy_default();
	w->facts.tls_min_version = TLS1_2_VERSION;
	w->facts.tls_cipher_list = "ECDHE-ECDSA-AES256-GCM-SHA384:"
	    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-AES128-GCM-SHA256";
	w->facts.tls_ciphersuites = "TLS_AES_256_GCM_SHA384:"
	    "TLS_AES_128_GCM_SHA256";
	w->facts.tls_client_auth = COMP_YES;
	w->facts.fips_provider = COMP_YES;
	w->facts.audit_active = COMP_YES;
	w->facts.audit_fail_closed = COMP_YES;
	w->facts.audit_chain_intact = COMP_YES;
	w->facts.audit_used_pct = 40;
	w->facts.audit_retention_days = 400;
	w->facts.audit_oldest_age_s = 20L * 86400;
	w->facts.audit_pruned = COMP_NO;
	w->facts.tenant_isolation = COMP_YES;
	w->facts.seccomp = COMP_YES;
	w->facts.no_new_privs = COMP_YES;
	w->facts.privsep = COMP_YES;
	w->facts.tpm = COMP_TPM_HARDWARE;
	w->facts.tpm_lockouts = 0;
	w->facts.keys_sealed = COMP_YES;
	w->facts.image_signatures_required = COMP_YES;
	w->facts.rbac = COMP_YES;
	w->facts.separation_of_duties = COMP_YES;
	w->facts.idle_lock_s = 600;
	w->facts.lock_conceals = COMP_YES;
	w->facts.session_idle_s = 600;
	w->facts.token_lifetime_s = 3600;
	w->unauth[0] = "GET /healthz";
	w->facts.unauth_endpoints = w->unauth;
	w->facts.store_durable = COMP_YES;
	w->facts.store_used_pct = 10;
	w->facts.store_high_water_pct = 90;
	w->facts.store_compaction = COMP_YES;
	w->facts.config_revisions = 5;
	w->facts.config_retention = 10000;
	w->certs[0] = "etc/bulwark/pki/device.pem";
	w->facts.cert_paths = w->certs;
	w->facts.ca_path = "etc/bulwark/pki/ca.pem";
	w->facts.principals = 3;
	w->facts.account_problems = w->account_problems;	/* none */
	w->facts.revocation_per_request = COMP_YES;
	w->facts.bootstrap_max_s = 3600;
	w->facts.principal_max_days = 90;
	w->scan_roles[0] = "system-admin";
	w->scan_roles[1] = "security-auditor";
	w->facts.scan_roles = w->scan_roles;
	w->facts.scanner_euid = 0;
	w->facts.input_probes = 8;
	w->facts.input_rejected = 8;
	w->facts.input_valid_accepted = COMP_YES;
	w->facts.audit_review_age_s = 2 * 86400;
	w->facts.scan_interval_s = 3600;
	w->facts.prev_scan_age_s = 3600;
	w->facts.config_sealed = COMP_YES;
	w->facts.attest_interval_s = 60;
	w->facts.attest_stale_s = 180;
	w->facts.untrusted_excluded = COMP_YES;

	/* accounts and PAM */
	world_put(w, "etc/passwd",
	    "root:x:0:0:root:/root:/bin/bash\n"
	    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
	    "sync:x:4:65534:sync:/bin:/bin/sync\n"
	    "bulwark:x:998:998::/var/lib/bulwark:/usr/sbin/nologin\n"
	    "admin:x:1000:1000:Admin:/home/admin:/bin/bash\n"
	    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
	    0644);
	world_put(w, "etc/shadow",
	    "root:!:19700:0:99999:7:::\n"
	    "daemon:*:19700:0:99999:7:::\n"
	    "sync:*:19700:0:99999:7:::\n"
	    "bulwark:!:19700::::::\n"
	    "admin:$y$j9T$Yx0ZqD5a$8Qm2uL6Vx9n1zv.gZ5a8kz4oQJ7bFkL0d2s3r4t5u6:19700:1:60:7:35::\n"
	    "nobody:*:19700:0:99999:7:::\n", 0640);
	world_put(w, "etc/group", "root:x:0:\nsudo:x:27:admin\n", 0644);
	world_put(w, "etc/gshadow", "root:*::\nsudo:*::admin\n", 0640);
	world_put(w, "etc/pam.d/common-auth",
	    "auth required pam_faillock.so preauth\n"
	    "auth [success=1 default=ignore] pam_unix.so\n"
	    "auth [default=die] pam_faillock.so authfail\n"
	    "auth requisite pam_deny.so\n"
	    "auth required pam_permit.so\n", 0644);
	world_put(w, "etc/pam.d/common-password",
	    "password requisite pam_pwquality.so retry=3\n"
	    "password [success=1 default=ignore] pam_unix.so obscure "
	    "use_authtok try_first_pass yescrypt\n", 0644);
	world_put(w, "etc/pam.d/su", "auth sufficient pam_rootok.so\n"
	    "auth required pam_wheel.so use_uid\n", 0644);
	world_put(w, "etc/security/faillock.conf",
	    "# lockout policy\ndeny = 3\nfail_interval = 900\nunlock_time = 0\n",
	    0644);
	world_put(w, "etc/security/pwquality.conf",
	    "minlen = 12\nminclass = 3\n", 0644);
	world_put(w, "etc/login.defs", "PASS_MAX_DAYS 60\n"
	    "PASS_MIN_DAYS 1\nUMASK 027\nENCRYPT_METHOD YESCRYPT\n"
	    "SHA_CRYPT_MIN_ROUNDS 65536\nSHA_CRYPT_MAX_ROUNDS 65536\n", 0644);
	world_put(w, "etc/profile.d/bulwark-umask.sh", "umask 027\n", 0644);
	world_put(w, "etc/security/limits.d/90-bulwark-baseline.conf",
	    "* - core 0\n", 0644);
	world_put(w, "etc/modprobe.d/bulwark-baseline.conf",
	    "install firewire-core /bin/false\ninstall dccp /bin/false\n"
	    "install sctp /bin/false\ninstall rds /bin/false\n"
	    "install tipc /bin/false\n"
	    "install cramfs /bin/false\ninstall freevxfs /bin/false\n"
	    "install jffs2 /bin/false\ninstall hfs /bin/false\n"
	    "install hfsplus /bin/false\ninstall udf /bin/false\n", 0644);
	world_put(w, "etc/default/useradd", "SHELL=/bin/sh\nINACTIVE=35\n",
	    0644);
	world_put(w, "etc/issue", "You are accessing a U.S. Government (USG) "
	    "Information System (IS) that is provided for USG-authorized "
	    "use only.\n", 0644);
	world_put(w, "etc/profile", "umask 027\n", 0644);
	world_put(w, "etc/profile.d/tmout.sh",
	    "TMOUT=900\nreadonly TMOUT\nexport TMOUT\n", 0644);
	world_put(w, "etc/modprobe.d/usb-storage.conf",
	    "install usb-storage /bin/false\n", 0644);
	world_put(w, "etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 "
	    "(bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n", 0644);
	world_put(w, "etc/apt/sources.list",
	    "deb file:/media/bulwark bookworm main\n", 0644);
	world_put(w, "usr/share/keyrings/debian-archive-keyring.gpg", "k",
	    0644);
	world_put(w, "etc/crypttab",
	    "# <target> <source> <key> <options>\n"
	    "data_crypt UUID=5a1e none luks,discard,tpm2-device=auto\n", 0644);
	world_put(w, "etc/nftables.conf",
	    "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n"
	    "\tchain input {\n"
	    "\t\ttype filter hook input priority filter; policy drop;\n"
	    "\t\tct state established,related accept\n"
	    "\t\tiif lo accept\n\t\ttcp dport 443 accept\n\t}\n"
	    "\tchain forward {\n"
	    "\t\ttype filter hook forward priority filter; policy drop;\n\t}\n"
	    "\tchain output {\n"
	    "\t\ttype filter hook output priority filter; policy accept;\n\t}\n"
	    "}\n", 0644);
	world_put(w, "etc/chrony/chrony.conf", "server 10.0.0.1 iburst\n"
	    "driftfile /var/lib/chrony/chrony.drift\n", 0644);
	world_put(w, "etc/resolv.conf", "# managed by systemd-resolved\n"
	    "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n",
	    0644);
	world_put(w, "etc/systemd/resolved.conf", "[Resolve]\n#DNSSEC=no\n",
	    0644);
	world_put(w, "etc/systemd/resolved.conf.d/dnssec.conf",
	    "[Resolve]\nDNSSEC=yes\nDNS=10.0.0.53\n", 0644);

	/* audit */
	world_put(w, "etc/audit/auditd.conf",
	    "log_file = /var/log/audit/audit.log\nlog_format = ENRICHED\n"
	    "log_group = root\nname_format = hostname\nmax_log_file = 8\n"
	    "num_logs = 5\nmax_log_file_action = keep_logs\n"
	    "space_left = 25%\nspace_left_action = email\n"
	    "admin_space_left = 10%\nadmin_space_left_action = single\n"
	    "disk_full_action = halt\ndisk_error_action = halt\n", 0640);
	world_put(w, "etc/audit/rules.d/bulwark.rules", fixture_audit_rules,
	    0640);
	world_put(w, "var/log/audit/audit.log", "type=DAEMON_START\n", 0600);
	world_chmod(w, "var/log/audit", 0700);
	world_put(w, "sbin/ausearch", "#!\n", 0755);
	world_put(w, "sbin/aureport", "#!\n", 0755);
	world_put(w, "sbin/auditctl", "#!\n", 0755);
	world_put(w, "sbin/auditd", "#!\n", 0755);

	/* /proc and /sys */
	world_put(w, "proc/1/comm", "bulwarkd\n", 0644);
	world_put(w, "proc/2/comm", "auditd\n", 0644);
	world_put(w, "proc/3/comm", "chronyd\n", 0644);
	world_put(w, "proc/4/comm", "systemd-resolve\n", 0644);
	for (i = 0; i < sizeof(good_sysctls) / sizeof(good_sysctls[0]); i++)
		put_sysctl(w, good_sysctls[i][0], good_sysctls[i][1]);
	world_put(w, "proc/net/tcp",
	    "  sl  local_address rem_address   st tx_queue rx_queue tr "
	    "tm->when retrnsmt   uid  timeout inode\n"
	    "   0: 00000000:01BB 00000000:0000 0A 00000000:00000000 "
	    "00:00000000 00000000     0        0 1001 1 0 100 0 0 10 0\n"
	    "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 "
	    "00:00000000 00000000     0        0 1002 1 0 100 0 0 10 0\n"
	    "   2: 0200000A:01BB 0300000A:C350 01 00000000:00000000 "
	    "00:00000000 00000000     0        0 1003 1 0 100 0 0 10 0\n",
	    0444);
	world_put(w, "proc/net/tcp6",
	    "  sl  local_address                         remote_address   "
	    "                      st tx_queue rx_queue\n"
	    "   0: 00000000000000000000000000000000:20FB "
	    "00000000000000000000000000000000:0000 0A 00000000:00000000\n"
	    "   1: 00000000000000000000000001000000:0CEA "
	    "00000000000000000000000000000000:0000 0A 00000000:00000000\n",
	    0444);
	world_put(w, "proc/net/udp",
	    "  sl  local_address rem_address   st tx_queue rx_queue\n"
	    "   0: 0100007F:0035 00000000:0000 07 00000000:00000000\n"
	    "   1: 0200000A:D431 0101010A:0035 01 00000000:00000000\n", 0444);
	world_put(w, "proc/modules", "ext4 1 0 - Live 0x0\n", 0444);
	world_put(w, "proc/mounts",
	    "/dev/sda1 / ext4 rw,relatime 0 0\n"
	    "tmpfs /tmp tmpfs rw,nosuid,nodev,noexec,relatime 0 0\n"
	    "tmpfs /dev/shm tmpfs rw,nosuid,nodev,noexec 0 0\n"
	    "/dev/sda1 /var/tmp ext4 rw,nosuid,nodev,noexec,relatime 0 0\n",
	    0444);
	world_put(w, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme pae "
	    "nx sse sse2\n\n", 0444);
	world_put(w, "sys/class/net/eth0/address", "52:54:00:12:34:56\n", 0444);
	world_put(w, "sys/class/net/lo/address", "00:00:00:00:00:00\n", 0444);

	/* software, integrity, PKI */
	world_dpkg(w, "3.0.11-1~deb12u2", "");
	world_put(w, "etc/bulwark/packages.allow",
	    "# authorised packages\nlibc6\nauditd\nchrony\nnftables\n"
	    "openssl\nbulwark\nlib*\n", 0644);
	world_advisories(w, 1, 10);
	world_put(w, "etc/bulwark/bulwark.conf", "listen = 443\n", 0640);
	world_put(w, "usr/sbin/bulwarkd", "\177ELF bulwark daemon", 0755);
	world_mkdir(w, "usr/bin");
	world_mkdir(w, "usr/lib");
	world_mkdir(w, "var/lib/dpkg");
	put_manifest(w, "etc/bulwark/config-baseline.sha256", cfg);
	put_manifest(w, "etc/bulwark/integrity.sha256", bins);
	put_certs(w);
	/* Directories created by mkdir_p follow the umask; pin them. */
	world_chmod(w, "etc", 0755);
	world_chmod(w, "usr", 0755);
	world_chmod(w, "usr/bin", 0755);
	world_chmod(w, "usr/sbin", 0755);
	world_chmod(w, "usr/lib", 0755);
	world_chmod(w, "var/lib/dpkg", 0755);
	world_chmod(w, "etc/pam.d", 0755);
	world_chmod(w, "etc/security", 0755);
}

static int
rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

void
world_destroy(struct world *w)
{
	if (w->root[0])
		nftw(w->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	w->root[0] = '\0';
}

enum comp_verdict
world_run(struct world *w, const char *id)
{
	const struct comp_check *chk = comp_check_find(id);
	struct comp_result *res = NULL;
	struct comp_ctx ctx;
	enum comp_verdict v;

	assert_non_null(chk);
	assert_int_equal(comp_ctx_open(&ctx, w->root, &w->facts, &w->policy,
	    w->now), 0);
	assert_int_equal(comp_check_run(chk, &ctx, &res), 0);
	v = res->verdict;
	if (getenv("BW_TEST_VERBOSE") || (v != COMP_SATISFIED &&
	    getenv("BW_TEST_VERBOSE_FAIL"))) {
		size_t i;

		printf("# %s: %s\n", id, comp_verdict_str(v));
		for (i = 0; i < res->n_obs; i++)
			printf("#   [%s] %s: found %s, required %s\n",
			    res->obs[i].ok ? "ok" : "FAIL", res->obs[i].subject,
			    res->obs[i].found, res->obs[i].required ?
			    res->obs[i].required : "-");
	}
	comp_result_free(res);
	comp_ctx_done(&ctx);
	return v;
}

void
world_oscal_out(const json_t *doc, const char *name)
{
	const char *dir = getenv("BW_OSCAL_OUT");
	int fd;

	if (!dir)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(comp_oscal_write(doc, fd, name, 0644), 0);
	close(fd);
}
