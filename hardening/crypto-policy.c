#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include "hardening/crypto-policy.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/ipaddr.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"

/* NIST SP 800-52 Rev 2 approved suites with forward secrecy, AEAD only.
 * No ChaCha20-Poly1305 in either mode: ChaCha20 is not a FIPS 140-3
 * approved cipher, and approved-only mode must offer what the FIPS
 * provider would, no more.
 * ECDSA first: our own PKI issues P-384 ECDSA certificates; the RSA
 * variants remain for an operator-supplied RSA server certificate. */
#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"
#define TLS13_SUITES	"TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256"
#define TLS_GROUPS	"P-384:P-256"
#define TLS_SIGALGS \
	"ECDSA+SHA384:ECDSA+SHA256:" \
	"rsa_pss_rsae_sha384:rsa_pss_rsae_sha256:" \
	"rsa_pss_pss_sha384:rsa_pss_pss_sha256"
/* Level 3: at least 128-bit security for every key, group and
 * signature in the handshake, which already excludes TLS < 1.2. */
#define TLS_SECURITY_LEVEL	3
#define TLS_VERIFY_DEPTH	4

void
crypto_secret_free(char *s)
{
	if (s)
		OPENSSL_clear_free(s, strlen(s));
}

int
crypto_errf(int r, char **ret_err, const char *fmt, ...)
{
	_cleanup_free_ char	*msg = NULL;
	unsigned long		 e = ERR_peek_last_error();
	const char		*reason = NULL;
	char			 buf[256];
	va_list			 ap;

	if (e) {
		reason = ERR_reason_error_string(e);
		if (!reason) {
			ERR_error_string_n(e, buf, sizeof(buf));
			reason = buf;
		}
	}
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (reason)
		errf(r, ret_err, "%s: %s", msg ? msg : "openssl", reason);
	else
		errf(r, ret_err, "%s", msg ? msg : "openssl");
	ERR_clear_error();
	return r;
}

/* Results of the one-time provider setup, read by every later call. */
static pthread_once_t		 policy_once = PTHREAD_ONCE_INIT;
static struct crypto_status	 policy_status;
static int			 policy_result;

static int
collect_provider(OSSL_PROVIDER *prov, void *data)
{
	struct crypto_status	*st = data;
	size_t			 used = strlen(st->providers);
	const char		*name = OSSL_PROVIDER_get0_name(prov);

	snprintf(st->providers + used, sizeof(st->providers) - used, "%s%s",
	    used ? "," : "", name ? name : "?");
	return 1;
}

static void
policy_init_once(void)
{
	struct crypto_status	*st = &policy_status;
	OSSL_PROVIDER		*fips = NULL, *base = NULL;

	snprintf(st->openssl_version, sizeof(st->openssl_version), "%s",
	    OpenSSL_version(OPENSSL_VERSION));

	/* The FIPS provider may already be active through openssl.cnf;
	 * otherwise try to load it. retain_fallbacks keeps the default
	 * provider so a failed attempt leaves a working library. */
	if (OSSL_PROVIDER_available(NULL, "fips"))
		st->fips_provider_available = true;
	else {
		fips = OSSL_PROVIDER_try_load(NULL, "fips", 1);
		st->fips_provider_available = fips != NULL &&
		    OSSL_PROVIDER_self_test(fips) == 1;
	}
	ERR_clear_error();

	if (st->fips_provider_available)
		policy_result = crypto_policy_enable_fips(NULL, &base);
	/* Report what is in effect, not what we asked for. */
	st->fips_mode = st->fips_provider_available &&
	    EVP_default_properties_is_fips_enabled(NULL) == 1;
	OSSL_PROVIDER_do_all(NULL, collect_provider, st);
	/* The providers stay loaded for the life of the process. */
}

int
crypto_policy_enable_fips(OSSL_LIB_CTX *libctx, OSSL_PROVIDER **ret_base)
{
	OSSL_PROVIDER	*base;
	int		 r = 0;

	/* The FIPS provider has no encoders or decoders; "base" supplies
	 * them (PEM keys and certificates) without adding any
	 * cryptographic algorithm. */
	if (!(base = OSSL_PROVIDER_try_load(libctx, "base", 1)))
		r = -BW_E_CRYPTO;
	else if (!EVP_default_properties_enable_fips(libctx, 1) ||
	    !EVP_default_properties_is_fips_enabled(libctx)) {
		OSSL_PROVIDER_unload(base);
		r = -BW_E_CRYPTO;
	} else
		*ret_base = base;
	ERR_clear_error();
	return r;
}

int
crypto_policy_init(struct crypto_status *ret)
{
	if (pthread_once(&policy_once, policy_init_once) != 0)
		return -BW_E_CRYPTO;
	if (ret)
		*ret = policy_status;
	return policy_result;
}

int
crypto_policy_require(char **ret_err)
{
	int r;

	if ((r = crypto_policy_init(NULL)) < 0)
		return errf(r, ret_err, "crypto policy: FIPS provider present "
		    "but could not be made the default");
	return 0;
}

const char *
crypto_policy_mode(const struct crypto_status *st)
{
	return st && st->fips_mode ? "fips-provider" :
	    "approved-algorithms-only";
}

const char *
crypto_policy_propq(const struct crypto_status *st)
{
	return st && st->fips_mode ? "fips=yes" : NULL;
}

const char *
crypto_policy_describe(const struct crypto_status *st)
{
	if (st && st->fips_mode)
		return "OpenSSL FIPS provider active: every algorithm is "
		    "fetched with fips=yes";
	if (st && st->fips_provider_available)
		return "OpenSSL FIPS provider present but not the default: "
		    "no validated module is active";
	return "no validated cryptographic module active: the OpenSSL FIPS "
	    "provider is not installed; approved algorithms only, from the "
	    "default provider";
}

const char *
crypto_tls_cipher_list(void)
{
	return TLS12_CIPHERS;
}

const char *
crypto_tls_ciphersuites(void)
{
	return TLS13_SUITES;
}

const char *
crypto_tls_groups(void)
{
	return TLS_GROUPS;
}

const char *
crypto_tls_sigalgs(void)
{
	return TLS_SIGALGS;
}

const char *
crypto_tls_min_version(void)
{
	return "TLSv1.2";
}

const char *
crypto_tls_max_version(void)
{
	return "TLSv1.3";
}

const char *
crypto_tls_resumption(void)
{
	return "disabled";
}

int
crypto_parse_certs(const char *buf, size_t len, const char *what,
    STACK_OF(X509) **ret, char **ret_err)
{
	_cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
	_cleanup_(BIO_freep) BIO	*bio = NULL;
	X509				*x;
	unsigned long			 e;

	ERR_clear_error();
	if (len > CRYPTO_PEM_MAX || len > INT32_MAX)
		return errf(-BW_E_TOOLARGE, ret_err, "%s: larger than %d bytes",
		    what, CRYPTO_PEM_MAX);
	if (!(bio = BIO_new_mem_buf(buf, (int)len)) ||
	    !(certs = sk_X509_new_null()))
		return -ENOMEM;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			return -ENOMEM;
		}
	}
	/* Running out of PEM blocks is the normal end; anything else is a
	 * damaged block that must not be skipped silently. */
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
		e = 0;
	if (e)
		return crypto_errf(-BW_E_INVALID, ret_err,
		    "%s: invalid certificate", what);
	if (sk_X509_num(certs) == 0) {
		ERR_clear_error();
		return errf(-BW_E_INVALID, ret_err,
		    "%s: no PEM certificate found", what);
	}
	ERR_clear_error();
	*ret = TAKE_PTR(certs);
	return 0;
}

int
crypto_parse_key(const char *buf, size_t len, const char *what,
    EVP_PKEY **ret, char **ret_err)
{
	_cleanup_(BIO_freep) BIO	*bio = NULL;
	EVP_PKEY			*key;

	ERR_clear_error();
	if (len > CRYPTO_PEM_MAX || len > INT32_MAX)
		return errf(-BW_E_TOOLARGE, ret_err, "%s: larger than %d bytes",
		    what, CRYPTO_PEM_MAX);
	if (!(bio = BIO_new_mem_buf(buf, (int)len)))
		return -ENOMEM;
	/* No passphrase callback: an encrypted key is an error here, not
	 * a prompt on the daemon's terminal. */
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	if (!key)
		return crypto_errf(-BW_E_INVALID, ret_err,
		    "%s: invalid private key", what);
	ERR_clear_error();
	*ret = key;
	return 0;
}

static int
read_pem(const char *path, char **ret_buf, size_t *ret_len, char **ret_err)
{
	int r;

	r = read_file_at(AT_FDCWD, path, CRYPTO_PEM_MAX, ret_buf, ret_len);
	if (r == -EFBIG)
		return errf(-BW_E_TOOLARGE, ret_err, "%s: larger than %d bytes",
		    path, CRYPTO_PEM_MAX);
	if (r < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	return 0;
}

int
crypto_load_certs(const char *path, STACK_OF(X509) **ret, char **ret_err)
{
	_cleanup_free_ char	*buf = NULL;
	size_t			 len;
	int			 r;

	if ((r = read_pem(path, &buf, &len, ret_err)) < 0)
		return r;
	return crypto_parse_certs(buf, len, path, ret, ret_err);
}

int
crypto_load_key(const char *path, EVP_PKEY **ret, char **ret_err)
{
	_cleanup_secret_ char	*buf = NULL;
	size_t			 len;
	int			 r;

	if ((r = read_pem(path, &buf, &len, ret_err)) < 0)
		return r;
	return crypto_parse_key(buf, len, path, ret, ret_err);
}

/* The settings shared by both ends. */
static int
tls_ctx_new(const SSL_METHOD *method, SSL_CTX **ret, char **ret_err)
{
	_cleanup_(SSL_CTX_freep) SSL_CTX *ctx = NULL;
	int r;

	if ((r = crypto_policy_require(ret_err)) < 0)
		return r;
	if (!(ctx = SSL_CTX_new_ex(NULL, NULL, method)))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "SSL_CTX_new");
	SSL_CTX_set_security_level(ctx, TLS_SECURITY_LEVEL);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "TLS versions");
	/* No resumption at all: every connection gets a full handshake
	 * with a full chain and revocation check, so a revoked client is
	 * locked out at once and there is no ticket key to protect or
	 * rotate. A full P-384 handshake costs a few milliseconds, which
	 * the control plane's connection rate easily affords. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Send exactly the chain from the certificate file; never build
	 * one from the store that holds the CAs we trust for peers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	if (!SSL_CTX_set_num_tickets(ctx, 0) ||
	    !SSL_CTX_set_max_early_data(ctx, 0))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "session tickets");
	if (!SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "TLS 1.2 ciphers");
	if (!SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "TLS 1.3 suites");
	if (!SSL_CTX_set1_groups_list(ctx, TLS_GROUPS))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "TLS groups");
	if (!SSL_CTX_set1_sigalgs_list(ctx, TLS_SIGALGS) ||
	    !SSL_CTX_set1_client_sigalgs_list(ctx, TLS_SIGALGS))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "TLS sigalgs");
	*ret = TAKE_PTR(ctx);
	return 0;
}

/* Trusts exactly the certificates in CA_PATH, with strict X.509
 * checks, and returns their subjects for the CertificateRequest. */
static int
tls_ctx_load_ca(SSL_CTX *ctx, const char *ca_path, const char *ca_pem,
    STACK_OF(X509_NAME) **ret_names, char **ret_err)
{
	_cleanup_(x509_stack_freep) STACK_OF(X509) *cas = NULL;
	_cleanup_(x509_name_stack_freep) STACK_OF(X509_NAME) *names = NULL;
	X509_STORE	*store = SSL_CTX_get_cert_store(ctx);
	int		 i, r;

	if (!ca_path)
		return errf(-BW_E_INVALID, ret_err, "CA file: not set");
	if ((r = ca_pem ? crypto_parse_certs(ca_pem, strlen(ca_pem), ca_path,
	    &cas, ret_err) : crypto_load_certs(ca_path, &cas, ret_err)) < 0)
		return r;
	if (ret_names && !(names = sk_X509_NAME_new_null()))
		return -ENOMEM;
	for (i = 0; i < sk_X509_num(cas); i++) {
		X509		*ca = sk_X509_value(cas, i);
		X509_NAME	*n;

		if (X509_check_ca(ca) < 1)
			return errf(-BW_E_INVALID, ret_err, "%s: certificate "
			    "%d is not a CA certificate", ca_path, i + 1);
		if (!X509_STORE_add_cert(store, ca))
			return crypto_errf(-BW_E_CRYPTO, ret_err,
			    "%s: adding CA certificate %d", ca_path, i + 1);
		if (!names)
			continue;
		if (!(n = X509_NAME_dup(X509_get_subject_name(ca))))
			return -ENOMEM;
		if (!sk_X509_NAME_push(names, n)) {
			X509_NAME_free(n);
			return -ENOMEM;
		}
	}
	if (!X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "store flags");
	SSL_CTX_set_verify_depth(ctx, TLS_VERIFY_DEPTH);
	if (ret_names)
		*ret_names = TAKE_PTR(names);
	return 0;
}

/* Presents CERT_PATH with KEY when KEY is not NULL (KEY_PATH then only
 * names it in messages), else with the key read from KEY_PATH. */
static int
tls_ctx_load_identity(SSL_CTX *ctx, const char *cert_path,
    const char *cert_pem, const char *key_path, EVP_PKEY *held,
    char **ret_err)
{
	_cleanup_(x509_stack_freep) STACK_OF(X509) *chain = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	int i, r;

	if ((r = cert_pem ? crypto_parse_certs(cert_pem, strlen(cert_pem),
	    cert_path, &chain, ret_err) : crypto_load_certs(cert_path, &chain,
	    ret_err)) < 0)
		return r;
	if (held && !EVP_PKEY_up_ref(held))
		return -BW_E_CRYPTO;
	if (held)
		key = held;
	else if ((r = crypto_load_key(key_path, &key, ret_err)) < 0)
		return r;
	if (X509_check_private_key(sk_X509_value(chain, 0), key) != 1)
		return crypto_errf(-BW_E_INVALID, ret_err,
		    "%s: does not match %s", key_path, cert_path);
	if (!SSL_CTX_use_certificate(ctx, sk_X509_value(chain, 0)))
		return crypto_errf(-BW_E_INVALID, ret_err, "%s: certificate "
		    "refused by the TLS policy", cert_path);
	for (i = 1; i < sk_X509_num(chain); i++)
		if (!SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i)))
			return crypto_errf(-BW_E_CRYPTO, ret_err,
			    "%s: chain certificate %d", cert_path, i + 1);
	if (!SSL_CTX_use_PrivateKey(ctx, key))
		return crypto_errf(-BW_E_INVALID, ret_err, "%s: key refused "
		    "by the TLS policy", key_path);
	if (!SSL_CTX_check_private_key(ctx))
		return crypto_errf(-BW_E_INVALID, ret_err,
		    "%s: does not match %s", key_path, cert_path);
	return 0;
}

static int
server_ctx(const char *ca_pem_path, const char *cert_path,
    const char *key_path, EVP_PKEY *key, const char *ca_pem,
    const char *cert_pem, enum crypto_tls_client_cert mode,
    SSL_CTX **ret, char **ret_err)
{
	_cleanup_(SSL_CTX_freep) SSL_CTX *ctx = NULL;
	STACK_OF(X509_NAME)	*names = NULL;
	static const unsigned char sid_ctx[] = "bulwark";
	int			 verify, r;

	switch (mode) {
	case CRYPTO_TLS_CLIENT_CERT_REQUIRED:
		verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		break;
	case CRYPTO_TLS_CLIENT_CERT_OPTIONAL:
		verify = SSL_VERIFY_PEER;
		break;
	default:
		return errf(-BW_E_INVALID, ret_err,
		    "client certificate mode: unknown value %d", (int)mode);
	}
	if (!cert_path || !key_path)
		return errf(-BW_E_INVALID, ret_err,
		    "server certificate and key: both required");
	if ((r = tls_ctx_new(TLS_server_method(), &ctx, ret_err)) < 0)
		return r;
	if ((r = tls_ctx_load_identity(ctx, cert_path, cert_pem, key_path, key,
	    ret_err)) < 0)
		return r;
	if ((r = tls_ctx_load_ca(ctx, ca_pem_path, ca_pem, &names,
	    ret_err)) < 0)
		return r;
	/* Clients with several certificates pick one from these CAs. */
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, verify, NULL);
	/* Verifying clients: a client's certificate must carry
	 * clientAuth, never only serverAuth. */
	if (!SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) ||
	    !SSL_CTX_set_session_id_context(ctx, sid_ctx,
	    sizeof(sid_ctx) - 1))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "verify settings");
	*ret = TAKE_PTR(ctx);
	return 0;
}

int
crypto_tls_server_ctx(const char *ca_pem_path, const char *cert_path,
    const char *key_path, enum crypto_tls_client_cert mode, SSL_CTX **ret,
    char **ret_err)
{
	return server_ctx(ca_pem_path, cert_path, key_path, NULL, NULL, NULL,
	    mode, ret, ret_err);
}

int
crypto_tls_server_ctx_key(const char *ca_pem_path, const char *cert_path,
    EVP_PKEY *key, const char *key_name, enum crypto_tls_client_cert mode,
    SSL_CTX **ret, char **ret_err)
{
	if (!key)
		return errf(-BW_E_INVALID, ret_err, "server key: required");
	return server_ctx(ca_pem_path, cert_path, key_name, key, NULL, NULL,
	    mode, ret, ret_err);
}

int
crypto_tls_server_ctx_pem(EVP_PKEY *key, const char *key_name,
    const char *ca_pem, const char *chain_pem,
    enum crypto_tls_client_cert mode, SSL_CTX **ret, char **ret_err)
{
	const char *missing = !key ? "key" : !ca_pem ? "CA certificates" :
	    !chain_pem ? "certificate chain" : NULL;

	if (missing)
		return errf(-BW_E_INVALID, ret_err, "server %s: required",
		    missing);
	return server_ctx("the CA certificates", "the server chain", key_name,
	    key, ca_pem, chain_pem, mode, ret, ret_err);
}

/* Fails verification of the leaf when the caller never said which
 * peer it expects: a valid chain for the wrong server is not enough. */
static int
client_verify_cb(int ok, X509_STORE_CTX *sctx)
{
	X509_VERIFY_PARAM	*param;
	char			*ip;
	bool			 named;

	if (!ok || X509_STORE_CTX_get_error_depth(sctx) != 0)
		return ok;
	param = X509_STORE_CTX_get0_param(sctx);
	named = X509_VERIFY_PARAM_get0_host(param, 0) != NULL;
	if (!named && (ip = X509_VERIFY_PARAM_get1_ip_asc(param))) {
		named = true;
		OPENSSL_free(ip);
	}
	if (!named) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_HOSTNAME_MISMATCH);
		return 0;
	}
	return 1;
}

int
crypto_tls_client_ctx(const char *ca_pem_path, const char *cert_path,
    const char *key_path, SSL_CTX **ret, char **ret_err)
{
	_cleanup_(SSL_CTX_freep) SSL_CTX *ctx = NULL;
	int r;

	if (!cert_path != !key_path)
		return errf(-BW_E_INVALID, ret_err, "client certificate and "
		    "key: give both or neither");
	if ((r = tls_ctx_new(TLS_client_method(), &ctx, ret_err)) < 0)
		return r;
	if (cert_path && (r = tls_ctx_load_identity(ctx, cert_path, NULL,
	    key_path, NULL, ret_err)) < 0)
		return r;
	if ((r = tls_ctx_load_ca(ctx, ca_pem_path, NULL, NULL, ret_err)) < 0)
		return r;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, client_verify_cb);
	if (!SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "verify settings");
	*ret = TAKE_PTR(ctx);
	return 0;
}

int
crypto_tls_client_set_peer(SSL *ssl, const char *host, char **ret_err)
{
	X509_VERIFY_PARAM	*param = SSL_get0_param(ssl);

	if (!host || !*host || strlen(host) > 253)
		return errf(-BW_E_INVALID, ret_err,
		    "peer name: must be 1..253 characters");
	/* Names come from subjectAltName only, never from the subject
	 * CN, and partial wildcards ("w*.example") never match. */
	X509_VERIFY_PARAM_set_hostflags(param,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
	    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	if (bw_ip_literal(host) != BW_IP_NONE) {
		if (!X509_VERIFY_PARAM_set1_ip_asc(param, host))
			return crypto_errf(-BW_E_INVALID, ret_err,
			    "peer address %s", host);
		return 0;
	}
	if (!X509_VERIFY_PARAM_set1_host(param, host, 0))
		return crypto_errf(-BW_E_INVALID, ret_err, "peer name %s",
		    host);
	if (!SSL_set_tlsext_host_name(ssl, host))
		return crypto_errf(-BW_E_INVALID, ret_err, "SNI %s", host);
	return 0;
}
