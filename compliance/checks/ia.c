/* Identification and authentication (IA) checks. Certificates are
 * examined with OpenSSL itself, not by pattern matching. */
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

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "hardening/crypto-policy.h"
#include "lib/err.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"
#include "compliance/checks/checks.h"

#define PAM_PASSWORD	"etc/pam.d/common-password"
#define PAM_AUTH	"etc/pam.d/common-auth"
#define PWQUALITY	"etc/security/pwquality.conf"
#define COMP_KEYSCAN_MAX_FILES	2000
#define COMP_KEYSCAN_MAX_DEPTH	4

static long
comp_pwq_value(const char *pamline, const char *conf, const char *key,
    long dflt)
{
	_cleanup_free_ char *v = NULL;
	long x = pamline ? comp_opt_long(pamline, key) : -ENOENT;

	if (pamline && x < 0) {
		/* negative credits: "dcredit=-1" */
		char pat[32];
		const char *p;

		snprintf(pat, sizeof(pat), "%s=", key);
		if ((p = strstr(pamline, pat)))
			return strtol(p + strlen(pat), NULL, 10);
	} else if (x >= 0)
		return x;
	if (conf && comp_conf_get(conf, key, &v) == 0 && *v)
		return strtol(v, NULL, 10);
	return dflt;
}

COMP_CHECK_FN(comp_chk_ia_password_quality)
{
	static const char *const credits[] = { "dcredit", "ucredit", "lcredit",
		"ocredit" };
	const struct comp_policy *pol = ctx->policy;
	_cleanup_free_ char *pam = NULL, *conf = NULL, *line = NULL;
	long minlen, minclass, cls = 0;
	char req[48];
	size_t i;
	int r;

	r = comp_read(ctx, res, PAM_PASSWORD, &pam, NULL);
	if (r == -ENOMEM)
		return r;
	if ((r = comp_obs_add(res, pam && comp_has_line(pam,
	    "password pam_pwquality.so", &line), "/" PAM_PASSWORD,
	    "password requisite pam_pwquality.so", "%s",
	    line ? line : "pam_pwquality not used")) < 0)
		return r;
	r = comp_read(ctx, res, PWQUALITY, &conf, NULL);
	if (r == -ENOMEM)
		return r;
	/* libpwquality's defaults: minlen 8, minclass 0, credits 0. */
	minlen = comp_pwq_value(line, conf, "minlen", 8);
	minclass = comp_pwq_value(line, conf, "minclass", 0);
	for (i = 0; i < ELEMENTSOF(credits); i++)
		if (comp_pwq_value(line, conf, credits[i], 0) < 0)
			cls++;
	snprintf(req, sizeof(req), ">= %d", pol->pass_minlen);
	if ((r = comp_obs_add(res, minlen >= pol->pass_minlen,
	    "pwquality minlen", req, "%ld", minlen)) < 0)
		return r;
	snprintf(req, sizeof(req), ">= %d character classes",
	    pol->pass_minclass);
	if ((r = comp_obs_add(res, minclass >= pol->pass_minclass ||
	    cls >= pol->pass_minclass, "pwquality minclass / credits", req,
	    "minclass %ld, %ld required classes by credits", minclass,
	    cls)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

/* Whether the hash H (LEN bytes) names yescrypt, gost-yescrypt,
 * SHA-512 crypt or scrypt. */
static bool
comp_hash_strong(const char *h, size_t len)
{
	static const char *const strong[] = { "$y$", "$gy$", "$6$", "$7$" };
	size_t i;

	for (i = 0; i < ELEMENTSOF(strong); i++)
		if (len >= strlen(strong[i]) &&
		    !memcmp(h, strong[i], strlen(strong[i])))
			return true;
	return false;
}

COMP_CHECK_FN(comp_chk_ia_password_storage)
{
	_cleanup_free_ char *shadow = NULL;
	const char *line, *nl;
	size_t weak = 0, n = 0, bad = 0, lineno = 0;
	int r;

	/* login.defs ENCRYPT_METHOD, pam_unix's hash and no nullok. */
	if ((r = comp_baseline_expect(ctx, res, "ia-password-storage")) < 0)
		return r;
	r = comp_read(ctx, res, "etc/shadow", &shadow, NULL);
	if (r == -ENOMEM)
		return r;
	/* Each line's fields are looked for within it only, and nothing of
	 * it is said but a user-like name: a malformed line may be all
	 * hash. */
	for (line = shadow; line && *line; line = nl ? nl + 1 : NULL) {
		size_t len, hlen;
		const char *colon, *h;
		char label[COMP_ACCOUNT_LABEL_MAX];

		nl = strchr(line, '\n');
		len = nl ? (size_t)(nl - line) : strlen(line);
		lineno++;
		if (len == 0)
			continue;
		if (!(colon = memchr(line, ':', len))) {
			bad++;
			if ((r = comp_obs_add(res, false, "/etc/shadow",
			    "name:hash:... lines", "malformed line %zu",
			    lineno)) < 0)
				return r;
			continue;
		}
		h = colon + 1;
		hlen = len - (size_t)(h - line);
		n++;
		if (hlen > 0 && (*h == '!' || *h == '*'))
			continue;
		if (!comp_hash_strong(h, hlen)) {
			weak++;
			comp_account_label(label, line, (size_t)(colon - line),
			    lineno);
			if ((r = comp_obs_add(res, false, "/etc/shadow",
			    "yescrypt or SHA-512 hashes", "%s uses a weak "
			    "or no hash", label)) < 0)
				return r;
		}
	}
	if ((r = comp_obs_add(res, shadow && weak == 0 && bad == 0,
	    "/etc/shadow", "yescrypt or SHA-512 hashes", shadow ? "%zu "
	    "accounts, %zu weak, %zu malformed lines" : "unreadable", n, weak,
	    bad)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

/* Loads the first certificate of root-relative PATH. */
static int
comp_load_cert(struct comp_ctx *ctx, struct comp_result *res,
    const char *path, X509 **ret)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_(BIO_freep) BIO *bio = NULL;
	size_t len;
	int r;

	if ((r = comp_read(ctx, res, path, &buf, &len)) < 0)
		return r;
	if (!(bio = BIO_new_mem_buf(buf, (int)len)))
		return -ENOMEM;
	*ret = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	return *ret ? 0 : -EBADMSG;
}

COMP_CHECK_FN(comp_chk_ia_device_identity)
{
	const struct comp_facts *f = ctx->facts;
	const char *tpm = f->tpm == COMP_TPM_HARDWARE ? "hardware" :
	    f->tpm == COMP_TPM_SOFTWARE ? "software (swtpm)" :
	    f->tpm == COMP_TPM_NONE ? "none" : "not reported";
	bool tpm_ok = f->tpm == COMP_TPM_HARDWARE ||
	    (f->tpm == COMP_TPM_SOFTWARE && ctx->policy->allow_software_tpm);
	_cleanup_(X509_freep) X509 *cert = NULL;
	int r;

	if ((r = comp_evidence_add(res, "fact:tpm", NULL, 0)) < 0 ||
	    (r = comp_obs_add(res, tpm_ok, "fact:tpm",
	    ctx->policy->allow_software_tpm ? "hardware or software TPM" :
	    "hardware TPM", "%s", tpm)) < 0 ||
	    (r = comp_fact_yes(res, "tls_client_auth",
	    f->tls_client_auth)) < 0)
		return r;
	/* A TPM in dictionary-attack lockout refuses the keys that are not
	 * noDA: the device cannot authenticate with them until it recovers. */
	if ((r = comp_obs_add(res, f->tpm_lockouts == 0, "fact:tpm_lockouts",
	    "no TPM in dictionary-attack lockout", "%s", f->tpm_lockouts < 0 ?
	    "not reported" : f->tpm_lockouts == 0 ? "none in lockout" :
	    f->tpm_lockout_detail ? f->tpm_lockout_detail : "in lockout")) < 0)
		return r;
	if (!f->cert_paths || !f->cert_paths[0])
		r = comp_obs_add(res, false, "fact:cert_paths",
		    "a device certificate", "not reported");
	else {
		r = comp_load_cert(ctx, res, f->cert_paths[0], &cert);
		if (r == -ENOMEM)
			return r;
		r = comp_obs_add(res, r == 0, f->cert_paths[0],
		    "a parseable X.509 device certificate", "%s",
		    r == 0 ? "present" : r == -EBADMSG ? "not a certificate" :
		    bw_strerror(r));
	}
	if (r < 0)
		return r;
	return comp_verdict_from_obs(res);
}

static int
comp_cert_examine(struct comp_ctx *ctx, struct comp_result *res,
    const char *path, X509 *cert, X509_STORE *store)
{
	const struct comp_policy *pol = ctx->policy;
	_cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *vctx = NULL;
	EVP_PKEY *pk = X509_get0_pubkey(cert);
	int bits = pk ? EVP_PKEY_get_bits(pk) : 0;
	int id = pk ? EVP_PKEY_get_base_id(pk) : 0, md = 0, pkey = 0;
	bool key_ok, sig_ok, time_ok;
	char req[64];
	int r;

	if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
		key_ok = bits >= pol->rsa_min_bits;
		snprintf(req, sizeof(req), "RSA >= %d bits", pol->rsa_min_bits);
	} else if (id == EVP_PKEY_EC) {
		key_ok = bits >= pol->ec_min_bits;
		snprintf(req, sizeof(req), "EC >= %d bits", pol->ec_min_bits);
	} else {
		key_ok = id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448;
		snprintf(req, sizeof(req), "RSA, EC or EdDSA");
	}
	if ((r = comp_obs_add(res, key_ok, path, req, "%s %d bits",
	    pk ? OBJ_nid2sn(id) : "no key", bits)) < 0)
		return r;
	if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md, &pkey))
		md = NID_undef;
	sig_ok = md == NID_sha256 || md == NID_sha384 || md == NID_sha512 ||
	    (md == NID_undef && (pkey == NID_ED25519 || pkey == NID_ED448));
	if ((r = comp_obs_add(res, sig_ok, path, "SHA-256/384/512 or EdDSA "
	    "signature", "%s", OBJ_nid2sn(X509_get_signature_nid(cert)))) < 0)
		return r;
	time_ok = X509_cmp_time(X509_get0_notBefore(cert), &ctx->now) < 0 &&
	    X509_cmp_time(X509_get0_notAfter(cert), &ctx->now) > 0;
	if ((r = comp_obs_add(res, time_ok, path, "within validity",
	    "%s", time_ok ? "valid now" : "expired or not yet valid")) < 0)
		return r;
	if (!store)
		return 0;
	if (!(vctx = X509_STORE_CTX_new()) ||
	    !X509_STORE_CTX_init(vctx, store, cert, NULL))
		return -ENOMEM;
	X509_STORE_CTX_set_time(vctx, 0, ctx->now);
	r = X509_verify_cert(vctx);
	return comp_obs_add(res, r == 1, path, "chains to the trust anchor",
	    "%s", r == 1 ? "verified" : X509_verify_cert_error_string(
	    X509_STORE_CTX_get_error(vctx)));
}

COMP_CHECK_FN(comp_chk_ia_pki_certs)
{
	const struct comp_facts *f = ctx->facts;
	_cleanup_(X509_STORE_freep) X509_STORE *store = NULL;
	_cleanup_(X509_freep) X509 *ca = NULL;
	const char *const *p;
	int r;

	if (!f->ca_path)
		r = comp_obs_add(res, false, "fact:ca_path", "a trust anchor",
		    "not reported");
	else {
		r = comp_load_cert(ctx, res, f->ca_path, &ca);
		if (r == -ENOMEM)
			return r;
		if (r == 0) {
			if (!(store = X509_STORE_new()) ||
			    !X509_STORE_add_cert(store, ca))
				return -ENOMEM;
			r = comp_cert_examine(ctx, res, f->ca_path, ca, NULL);
		} else
			r = comp_obs_add(res, false, f->ca_path,
			    "a trust anchor certificate", "%s",
			    r == -EBADMSG ? "not a certificate" : bw_strerror(r));
	}
	if (r < 0)
		return r;
	if (!f->cert_paths || !f->cert_paths[0])
		if ((r = comp_obs_add(res, false, "fact:cert_paths",
		    ">= 1 certificate", "not reported")) < 0)
			return r;
	for (p = f->cert_paths; p && *p; p++) {
		_cleanup_(X509_freep) X509 *cert = NULL;

		r = comp_load_cert(ctx, res, *p, &cert);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			r = comp_obs_add(res, false, *p, "a certificate", "%s",
			    r == -EBADMSG ? "not a certificate" : bw_strerror(r));
		else
			r = comp_cert_examine(ctx, res, *p, cert, store);
		if (r < 0)
			return r;
	}
	return comp_verdict_from_obs(res);
}

/* PEM blocks that hold an unencrypted private key. An RSA/EC block with
 * a "Proc-Type: 4,ENCRYPTED" header is encrypted. */
static const char *
comp_plain_key(const char *buf)
{
	static const char *const tags[] = {
		"-----BEGIN PRIVATE KEY-----",
		"-----BEGIN RSA PRIVATE KEY-----",
		"-----BEGIN EC PRIVATE KEY-----",
		"-----BEGIN DSA PRIVATE KEY-----",
	};
	size_t i;

	for (i = 0; i < ELEMENTSOF(tags); i++) {
		const char *p = strstr(buf, tags[i]);

		if (p && !(i > 0 && !strncmp(p + strlen(tags[i]) + 1,
		    "Proc-Type: 4,ENCRYPTED", 22)))
			return tags[i];
	}
	return NULL;
}

static int
comp_keyscan(struct comp_ctx *ctx, struct comp_result *res, const char *dir,
    int depth, size_t *files, size_t *bad)
{
	_cleanup_close_ int fd = -1;
	struct dirent *de;
	DIR *d;
	int r = 0;

	fd = comp_open(ctx, dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd == -ENOMEM ? fd : 0;
	if (!(d = fdopendir(fd)))
		return -errno;
	fd = -1;
	while ((de = readdir(d)) && r >= 0 && *files < COMP_KEYSCAN_MAX_FILES) {
		_cleanup_free_ char *path = NULL, *buf = NULL;
		struct stat st;
		const char *tag;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
			path = NULL;
			r = -ENOMEM;
			break;
		}
		if (comp_stat(ctx, path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth < COMP_KEYSCAN_MAX_DEPTH)
				r = comp_keyscan(ctx, res, path, depth + 1,
				    files, bad);
			continue;
		}
		if (!S_ISREG(st.st_mode) || st.st_size > (1 << 20))
			continue;
		(*files)++;
		if (comp_read(ctx, NULL, path, &buf, NULL) < 0)
			continue;
		if ((tag = comp_plain_key(buf))) {
			(*bad)++;
			if ((r = comp_evidence_add(res, path, buf,
			    strlen(buf))) < 0)
				break;
			r = comp_obs_add(res, false, path, "no unencrypted "
			    "private key", "contains %s", tag);
		}
	}
	closedir(d);
	return r;
}

COMP_CHECK_FN(comp_chk_ia_no_plaintext_keys)
{
	const char *dir = ctx->policy->key_dir;
	size_t files = 0, bad = 0;
	struct stat st;
	int r;

	if (comp_stat(ctx, dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if ((r = comp_obs_add(res, true, dir, "no unencrypted private "
		    "key", "directory absent: no appliance keys stored")) < 0)
			return r;
		return COMP_NOT_APPLICABLE;
	}
	if ((r = comp_keyscan(ctx, res, dir, 0, &files, &bad)) < 0)
		return r;
	if ((r = comp_evidence_add(res, dir, NULL, 0)) < 0 ||
	    (r = comp_obs_add(res, bad == 0, dir, "no unencrypted private key",
	    "%zu files scanned, %zu with unencrypted keys", files, bad)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ia_fips)
{
	struct crypto_status st;
	int r;

	if ((r = comp_fact_yes(res, "fips_provider",
	    ctx->facts->fips_provider)) < 0)
		return r;
	/* What the crypto module of the scanning process is doing, in its
	 * own words; informative, since the fact above describes the
	 * daemon whose configuration is being judged. */
	(void)crypto_policy_init(&st);
	if ((r = comp_obs_add(res, true, "crypto module (hardening/crypto)",
	    "informative", "%s: %s", crypto_policy_mode(&st),
	    crypto_policy_describe(&st))) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ia_api_auth)
{
	int r;

	if ((r = comp_fact_yes(res, "tls_client_auth",
	    ctx->facts->tls_client_auth)) < 0 ||
	    (r = comp_evidence_add(res, "fact:tls_min_version", NULL, 0)) < 0 ||
	    (r = comp_obs_add(res, ctx->facts->tls_min_version >=
	    TLS1_2_VERSION, "fact:tls_min_version", ">= TLS 1.2", "0x%04x",
	    (unsigned)ctx->facts->tls_min_version)) < 0)
		return r;
	return comp_verdict_from_obs(res);
}

COMP_CHECK_FN(comp_chk_ia_reauth)
{
	int r = comp_fact_range(res, "token_lifetime_s",
	    ctx->facts->token_lifetime_s, 1, ctx->policy->token_max_s);

	return r < 0 ? r : comp_verdict_from_obs(res);
}
