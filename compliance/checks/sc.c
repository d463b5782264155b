/* System and communications protection (SC) checks, and CP-10(2). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "lib/err.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"
#include "compliance/checks/checks.h"

/* Approved: AES-GCM/CCM AEAD suites with (EC)DHE key exchange (TLS 1.2)
 * or any TLS 1.3 suite using AES (FIPS 140-3 approved; ChaCha20 is not). */
static bool
comp_cipher_ok(const SSL_CIPHER *c, const char **why)
{
	int cn = SSL_CIPHER_get_cipher_nid(c);
	int kx = SSL_CIPHER_get_kx_nid(c);
	int au = SSL_CIPHER_get_auth_nid(c);

	if (cn != NID_aes_128_gcm && cn != NID_aes_256_gcm &&
	    cn != NID_aes_128_ccm && cn != NID_aes_256_ccm) {
		*why = "not AES-GCM/CCM";
		return false;
	}
	if (kx != NID_kx_ecdhe && kx != NID_kx_dhe && kx != NID_kx_any) {
		*why = "no forward secrecy";
		return false;
	}
	if (au == NID_auth_null || au == NID_auth_psk || au == NID_auth_srp) {
		*why = "no certificate authentication";
		return false;
	}
	return true;
}

COMP_CHECK_FN(comp_chk_sc_tls)
{
	const struct comp_facts *f = ctx->facts;
	_cleanup_(SSL_CTX_freep) SSL_CTX *sctx = NULL;
	STACK_OF(SSL_CIPHER) *sk;
	size_t bad = 0;
	int i, r;

	if ((r = comp_evidence_add(res, "fact:tls_min_version", NULL, 0)) < 0 ||
	    (r = comp_obs_add(res, f->tls_min_version >= TLS1_2_VERSION &&
	    f->tls_min_version <= TLS1_3_VERSION, "fact:tls_min_version",
	    "TLS 1.2 or 1.3", "%s", f->tls_min_version == TLS1_3_VERSION ?
	    "TLS 1.3" : f->tls_min_version == TLS1_2_VERSION ? "TLS 1.2" :
	    f->tls_min_version ? "below TLS 1.2" : "not reported")) < 0)
		return r;
	if ((r = comp_evidence_add(res, "fact:tls_cipher_list", NULL, 0)) < 0 ||
	    (r = comp_evidence_add(res, "fact:tls_ciphersuites", NULL, 0)) < 0)
		return r;
	if (!f->tls_cipher_list || !f->tls_ciphersuites) {
		if ((r = comp_obs_add(res, false, "fact:tls_cipher_list",
		    "reported", "not reported")) < 0)
			return r;
		return COMP_NOT_SATISFIED;
	}
	if (!(sctx = SSL_CTX_new(TLS_method())))
		return -ENOMEM;
	/* OpenSSL itself expands the configured strings, exactly as the
	 * server does, so aliases like "HIGH" are judged by what they
	 * enable. */
	if (f->tls_min_version < TLS1_3_VERSION &&
	    !SSL_CTX_set_cipher_list(sctx, f->tls_cipher_list))
		return comp_obs_add(res, false, "fact:tls_cipher_list",
		    "a valid OpenSSL cipher list", "\"%s\" rejected",
		    f->tls_cipher_list) < 0 ? -ENOMEM : COMP_NOT_SATISFIED;
	if (!SSL_CTX_set_ciphersuites(sctx, f->tls_ciphersuites))
		return comp_obs_add(res, false, "fact:tls_ciphersuites",
		    "valid TLS 1.3 suites", "\"%s\" rejected",
		    f->tls_ciphersuites) < 0 ? -ENOMEM : COMP_NOT_SATISFIED;
	if (f->tls_min_version >= TLS1_2_VERSION)
		SSL_CTX_set_min_proto_version(sctx, f->tls_min_version);
	sk = SSL_CTX_get_ciphers(sctx);
	for (i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
		const char *why = NULL;

		if (f->tls_min_version == TLS1_3_VERSION &&
		    strcmp(SSL_CIPHER_get_version(c), "TLSv1.3"))
			continue;	/* never negotiated */
		if (!comp_cipher_ok(c, &why)) {
			bad++;
			if ((r = comp_obs_add(res, false, "TLS cipher",
			    "approved AEAD with forward secrecy", "%s: %s",
			    SSL_CIPHER_get_name(c), why)) < 0)
				return r;
		}
	}
	if ((r = comp_obs_add(res, bad == 0 && sk_SSL_CIPHER_num(sk) > 0,
	    "enabled TLS ciphers", "all approved", "%d enabled, %zu not "
	    "approved", sk_SSL_CIPHER_num(sk), bad)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_sc_syn_flood)
{
	int r;

	if ((r = comp_sysctl_baseline(ctx, res, "net.ipv4.tcp_syncookies")) < 0 ||
	    (r = comp_sysctl_baseline(ctx, res,
	    "net.ipv4.icmp_echo_ignore_broadcasts")) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_sc_network_sysctl)
{
	static const char *const req[] = {
		"net.ipv4.conf.all.accept_redirects",
		"net.ipv4.conf.default.accept_redirects",
		"net.ipv4.conf.all.send_redirects",
		"net.ipv4.conf.all.accept_source_route",
		"net.ipv4.conf.all.rp_filter",
		"net.ipv4.conf.all.log_martians",
		"net.ipv6.conf.all.accept_redirects",
		"net.ipv6.conf.all.accept_source_route",
	};
	size_t i;
	int r;

	for (i = 0; i < ELEMENTSOF(req); i++)
		if ((r = comp_sysctl_baseline(ctx, res, req[i])) < 0)
			return r;
	return comp_verdict_from_obs(res);
}

/* Whether a base chain for HOOK in BUF has "policy drop". Chains are
 * split at each "chain " keyword; a base chain names its hook inside. */
static bool
comp_nft_hook_drops(const char *buf, const char *hook)
{
	const char *p = buf;

	while ((p = strstr(p, "chain "))) {
		const char *next = strstr(p + 6, "chain ");
		size_t n = next ? (size_t)(next - p) : strlen(p);
		const char *h = memmem(p, n, hook, strlen(hook));
		const char *d = memmem(p, n, "policy drop", 11);

		if (h && d)
			return true;
		p += 6;
	}
	return false;
}

COMP_CHECK_FN(comp_chk_sc_firewall)
{
	_cleanup_free_ char *buf = NULL, *clean = NULL;
	const char *s;
	char *o;
	int r;

	if ((r = comp_read_need(ctx, res, "etc/nftables.conf",
	    "/etc/nftables.conf", "readable", &buf)) < 0)
		return r;
	if (!buf)
		return COMP_NOT_SATISFIED;
	/* Drop comments so a commented-out policy does not count. */
	if (!(clean = malloc(strlen(buf) + 1)))
		return -ENOMEM;
	for (s = buf, o = clean; *s;) {
		if (*s == '#') {
			while (*s && *s != '\n')
				s++;
			continue;
		}
		*o++ = *s++;
	}
	*o = '\0';
	if ((r = comp_obs_add(res, comp_nft_hook_drops(clean, "hook input"),
	    "/etc/nftables.conf input chain", "policy drop", "%s",
	    comp_nft_hook_drops(clean, "hook input") ? "policy drop" :
	    "no input chain with policy drop")) < 0 ||
	    (r = comp_obs_add(res, comp_nft_hook_drops(clean, "hook forward"),
	    "/etc/nftables.conf forward chain", "policy drop", "%s",
	    comp_nft_hook_drops(clean, "hook forward") ? "policy drop" :
	    "no forward chain with policy drop")) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_sc_privsep)
{
	int r = comp_fact_yes_detail(res, "privsep", ctx->facts->privsep,
	    ctx->facts->confinement_detail);

	return r < 0 ? r : comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_sc_kernel_info)
{
	int r;

	if ((r = comp_sysctl_baseline(ctx, res, "kernel.kptr_restrict")) < 0 ||
	    (r = comp_sysctl_baseline(ctx, res, "kernel.dmesg_restrict")) < 0 ||
	    (r = comp_sysctl_baseline(ctx, res,
	    "kernel.perf_event_paranoid")) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_sc_process_isolation)
{
	int r;

	if ((r = comp_sysctl_baseline(ctx, res,
	    "kernel.yama.ptrace_scope")) < 0 ||
	    (r = comp_sysctl_baseline(ctx, res, "fs.protected_hardlinks")) < 0 ||
	    (r = comp_sysctl_baseline(ctx, res, "fs.protected_symlinks")) < 0 ||
	    (r = comp_sysctl_baseline(ctx, res, "fs.suid_dumpable")) < 0 ||
	    (r = comp_fact_yes_detail(res, "seccomp", ctx->facts->seccomp,
	    ctx->facts->confinement_detail)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_sc_data_at_rest)
{
	_cleanup_free_ char *buf = NULL;
	size_t n = 0, plain = 0;
	char *line, *next;
	int r;

	if ((r = comp_read_need(ctx, res, "etc/crypttab", "/etc/crypttab",
	    ">= 1 LUKS volume", &buf)) < 0)
		return r;
	if (!buf)
		return COMP_NOT_SATISFIED;
	for (line = buf; line && *line; line = next) {
		char name[128], dev[256], key[256], opts[512] = "";
		int f;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line += strspn(line, " \t");
		if (*line == '#' || !*line)
			continue;
		f = sscanf(line, "%127s %255s %255s %511s", name, dev, key, opts);
		if (f < 2)
			continue;
		n++;
		/* Debian's cryptsetup treats entries without "plain" as
		 * LUKS when the header says so; require it explicitly. */
		if (!strstr(opts, "luks") || strstr(opts, "plain")) {
			plain++;
			if ((r = comp_obs_add(res, false, "/etc/crypttab",
			    "LUKS", "%s: options \"%s\"", name, opts)) < 0)
				return r;
		}
	}
	if ((r = comp_obs_add(res, n > 0 && plain == 0, "/etc/crypttab",
	    ">= 1 volume, all LUKS", "%zu volumes, %zu not LUKS", n,
	    plain)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_sc_key_management)
{
	const struct comp_facts *f = ctx->facts;
	bool tpm = f->tpm == COMP_TPM_HARDWARE ||
	    (f->tpm == COMP_TPM_SOFTWARE && ctx->policy->allow_software_tpm);
	int r;

	if ((r = comp_fact_yes(res, "keys_sealed", f->keys_sealed)) < 0 ||
	    (r = comp_evidence_add(res, "fact:tpm", NULL, 0)) < 0 ||
	    (r = comp_obs_add(res, tpm, "fact:tpm", "TPM holds the sealing key",
	    "%s", f->tpm == COMP_TPM_HARDWARE ? "hardware" :
	    f->tpm == COMP_TPM_SOFTWARE ? "software" : "none or unknown")) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_sc_session_idle)
{
	int r = comp_fact_range(res, "session_idle_s",
	    ctx->facts->session_idle_s, 1, ctx->policy->idle_max_s);

	return r < 0 ? r : comp_verdict_from_obs(res);
}

static int
comp_count_dir(struct comp_ctx *ctx, const char *dir, const char *prefix,
    size_t *ret)
{
	_cleanup_close_ int fd = -1;
	struct dirent *de;
	DIR *d;

	*ret = 0;
	fd = comp_open(ctx, dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	if (!(d = fdopendir(fd)))
		return -errno;
	fd = -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' &&
		    !strncmp(de->d_name, prefix, strlen(prefix)))
			(*ret)++;
	closedir(d);
	return 0;
}

COMP_CHECK_FN(comp_chk_sc_collab_devices)
{
	size_t snd = 0, vid = 0;
	int r;

	(void)comp_count_dir(ctx, "sys/class/sound", "card", &snd);
	(void)comp_count_dir(ctx, "sys/class/video4linux", "", &vid);
	if ((r = comp_evidence_add(res, "/sys/class/sound", NULL, 0)) < 0 ||
	    (r = comp_evidence_add(res, "/sys/class/video4linux", NULL, 0)) < 0 ||
	    (r = comp_obs_add(res, snd == 0, "/sys/class/sound",
	    "no sound capture card", "%zu cards", snd)) < 0 ||
	    (r = comp_obs_add(res, vid == 0, "/sys/class/video4linux",
	    "no camera", "%zu devices", vid)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_cp_store_durable)
{
	int r = comp_fact_yes(res, "store_durable", ctx->facts->store_durable);

	return r < 0 ? r : comp_verdict_from_obs(res);
}

/* SC-5: a store that fills refuses every write (a denial of service of
 * the whole appliance), so it must compact on its own and keep room:
 * nearly full is reported before the high-water mark is reached. */
COMP_CHECK_FN(comp_chk_sc_store_capacity)
{
	int max = ctx->policy->store_used_max_pct, r;

	if (ctx->facts->store_high_water_pct > 0 &&
	    ctx->facts->store_high_water_pct - 1 < max)
		max = ctx->facts->store_high_water_pct - 1;
	if ((r = comp_fact_yes(res, "store_compaction",
	    ctx->facts->store_compaction)) < 0 ||
	    (r = comp_fact_range(res, "store_used_pct",
	    ctx->facts->store_used_pct, 0, max)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

/* Whether the resolv.conf address A is the host itself. */
static bool
comp_dns_local(const char *a)
{
	return !strncmp(a, "127.", 4) || !strcmp(a, "::1");
}

static int
comp_dns_resolved(struct comp_ctx *ctx, struct comp_result *res)
{
	_cleanup_free_ char *conf = NULL, *d = NULL, *all = NULL, *v = NULL;
	bool run = comp_proc_running(ctx, "systemd-resolve");
	int r;

	r = comp_read(ctx, res, "etc/systemd/resolved.conf", &conf, NULL);
	if (r == -ENOMEM)
		return r;
	if ((r = comp_read_dir_concat(ctx, res, "etc/systemd/resolved.conf.d",
	    ".conf", &d)) < 0)
		return r;
	if (asprintf(&all, "%s\n%s", conf ? conf : "", d) < 0) {
		all = NULL;
		return -ENOMEM;
	}
	if (comp_conf_get(all, "DNSSEC", &v) == -ENOMEM)
		return -ENOMEM;
	/* allow-downgrade accepts unsigned answers when a downgrade is
	 * forged: only "yes" refuses data that fails validation. */
	if ((r = comp_obs_add(res, v && !strcasecmp(v, "yes"),
	    "systemd-resolved DNSSEC", "yes", "%s", v ? v :
	    "not set (allow-downgrade or off)")) < 0)
		return r;
	return comp_obs_add(res, run, "process systemd-resolved", "running",
	    "%s", run ? "running" : "not running");
}

static int
comp_dns_unbound(struct comp_ctx *ctx, struct comp_result *res)
{
	_cleanup_free_ char *conf = NULL, *d = NULL, *all = NULL, *mod = NULL;
	bool run = comp_proc_running(ctx, "unbound"), anchor, permissive;
	int r;

	r = comp_read(ctx, res, "etc/unbound/unbound.conf", &conf, NULL);
	if (r == -ENOMEM)
		return r;
	if ((r = comp_read_dir_concat(ctx, res, "etc/unbound/unbound.conf.d",
	    ".conf", &d)) < 0)
		return r;
	if (asprintf(&all, "%s\n%s", conf ? conf : "", d) < 0) {
		all = NULL;
		return -ENOMEM;
	}
	anchor = comp_has_line(all, "auto-trust-anchor-file:", NULL) ||
	    comp_has_line(all, "trust-anchor-file:", NULL) ||
	    comp_has_line(all, "trust-anchor:", NULL) ||
	    comp_has_line(all, "trusted-keys-file:", NULL);
	permissive = comp_has_line(all, "val-permissive-mode: yes", NULL);
	/* A module-config without the validator turns validation off. */
	if (comp_has_line(all, "module-config:", &mod) &&
	    !strstr(mod, "validator"))
		anchor = false;
	if ((r = comp_obs_add(res, anchor, "unbound trust anchor",
	    "a DNSSEC trust anchor and the validator module", "%s",
	    anchor ? "configured" : mod ? mod : "no trust anchor")) < 0 ||
	    (r = comp_obs_add(res, !permissive, "unbound val-permissive-mode",
	    "no (bogus answers refused)", "%s", permissive ? "yes" :
	    "no")) < 0)
		return r;
	return comp_obs_add(res, run, "process unbound", "running", "%s",
	    run ? "running" : "not running");
}

/* SC-21 on the appliance host: resolv.conf names the resolvers the C
 * library asks. Its stub resolver never validates, so a remote server
 * in resolv.conf means answers are used unvalidated here; a local
 * systemd-resolved or unbound must validate, and refuse bogus data. */
COMP_CHECK_FN(comp_chk_sc_dns_validation)
{
	_cleanup_free_ char *buf = NULL;
	char *line, *next;
	size_t n = 0, remote = 0;
	bool resolved = false, other_local = false;
	int r;

	r = comp_read(ctx, res, "etc/resolv.conf", &buf, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0 && r != -ENOENT)
		return comp_obs_add(res, false, "/etc/resolv.conf", "readable",
		    "unreadable (%s)", bw_strerror(r)) < 0 ? -ENOMEM :
		    COMP_NOT_SATISFIED;
	for (line = buf; line && *line; line = next) {
		char addr[64];

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (sscanf(line, " nameserver %63s", addr) != 1)
			continue;
		n++;
		if (!strcmp(addr, "127.0.0.53") || !strcmp(addr, "127.0.0.54"))
			resolved = true;
		else if (comp_dns_local(addr))
			other_local = true;
		else {
			remote++;
			if ((r = comp_obs_add(res, false, "/etc/resolv.conf",
			    "a local validating resolver", "nameserver %s: "
			    "answers used without DNSSEC validation on this "
			    "host", addr)) < 0)
				return r;
		}
	}
	if (n == 0) {
		if ((r = comp_evidence_add(res, "/etc/resolv.conf", NULL,
		    0)) < 0 ||
		    (r = comp_obs_add(res, true, "/etc/resolv.conf",
		    "a local validating resolver, or none", "no name server: "
		    "the host does not resolve names")) < 0)
			return r;
		return COMP_NOT_APPLICABLE;
	}
	if (resolved && (r = comp_dns_resolved(ctx, res)) < 0)
		return r;
	if (other_local && (r = comp_dns_unbound(ctx, res)) < 0)
		return r;
	if ((r = comp_obs_add(res, remote == 0, "/etc/resolv.conf",
	    "only local validating resolvers", "%zu name servers, %zu "
	    "remote", n, remote)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}
