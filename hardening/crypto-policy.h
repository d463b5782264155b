/* The appliance's cryptographic policy: which OpenSSL providers run
 * (FIPS when it exists, recorded honestly when it does not) and the
 * only TLS configuration Bulwark speaks: TLS 1.2/1.3, AES-GCM with
 * ECDHE on P-384/P-256, ECDSA or RSA-PSS signatures, mutual TLS. */
#ifndef BW_CRYPTO_POLICY_H
#define BW_CRYPTO_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* What crypto_policy_init() found. Evidence for SC-13 / IA-7 reports
 * exactly these fields, so they only ever say what OpenSSL told us. */
struct crypto_status {
	/* The "fips" provider loaded and passed its self tests. */
	bool	fips_provider_available;
	/* Default property query carries "fips=yes": every algorithm
	 * fetched without explicit properties comes from the FIPS
	 * provider. Never true without fips_provider_available. */
	bool	fips_mode;
	/* OpenSSL_version(OPENSSL_VERSION), e.g. "OpenSSL 3.0.19 ...". */
	char	openssl_version[128];
	/* Names of the providers available after init, comma separated. */
	char	providers[128];
};

/* How the server treats client certificates. REQUIRED fails the
 * handshake without a valid certificate; OPTIONAL asks for one and
 * fails the handshake only when a presented one does not verify, so a
 * caller can serve /healthz anonymously and refuse everything else
 * when SSL_get0_peer_certificate() is NULL (pki_ssl_identity() does
 * that check). Either way, a certificate present after a successful
 * handshake has been verified against the CA with purpose clientAuth. */
enum crypto_tls_client_cert {
	CRYPTO_TLS_CLIENT_CERT_REQUIRED,
	CRYPTO_TLS_CLIENT_CERT_OPTIONAL,
};

/* Upper bound for any PEM file we read (certificates, keys, CAs). */
#define CRYPTO_PEM_MAX	(256 * 1024)

/* Loads the FIPS provider when the system has one and makes
 * "fips=yes" the default property query; otherwise leaves the default
 * provider in place (our own code then restricts itself to approved
 * algorithms). Fills *RET with what is actually in effect. Safe to call
 * more than once; the first call does the work. Returns 0, or
 * -BW_E_CRYPTO when a present FIPS provider cannot be made the default
 * (*RET is still filled so the caller can report it). */
int crypto_policy_init(struct crypto_status *ret);

/* crypto_policy_init() for callers about to use OpenSSL that need no
 * status: 0, or its error with the message in *RET_ERR. */
int crypto_policy_require(char **ret_err);

/* "fips-provider" when fips_mode, else "approved-algorithms-only". */
const char *crypto_policy_mode(const struct crypto_status *st);

/* The property query every fetch uses: "fips=yes" when ST says the FIPS
 * provider is the default, else NULL (the default provider, restricted
 * to our allow-lists). */
const char *crypto_policy_propq(const struct crypto_status *st);

/* One sentence for logs and the SC-13 / IA-7 evidence saying which
 * module is in effect; never claims validation without the provider. */
const char *crypto_policy_describe(const struct crypto_status *st);

/* Makes the default property query of LIBCTX "fips=yes" and loads the
 * "base" provider (encoders, decoders) into it, as crypto_policy_init()
 * does once the FIPS provider loaded. *RET_BASE gets the reference to
 * "base" (OSSL_PROVIDER_unload() before freeing LIBCTX). Returns 0 or
 * -BW_E_CRYPTO. */
int crypto_policy_enable_fips(OSSL_LIB_CTX *libctx, OSSL_PROVIDER **ret_base);

/* The exact strings handed to OpenSSL, for compliance reporting. */
const char *crypto_tls_cipher_list(void);	/* TLS 1.2 cipher list */
const char *crypto_tls_ciphersuites(void);	/* TLS 1.3 suites */
const char *crypto_tls_groups(void);		/* key exchange groups */
const char *crypto_tls_sigalgs(void);		/* signature algorithms */
const char *crypto_tls_min_version(void);	/* "TLSv1.2" */
const char *crypto_tls_max_version(void);	/* "TLSv1.3" */
/* Why resumption is off: "disabled" (no tickets, no session cache). */
const char *crypto_tls_resumption(void);

/* Builds a server SSL_CTX with our policy, presenting CERT_PATH (leaf
 * first, then any intermediates) and KEY_PATH, and verifying client
 * certificates against the CA certificates in CA_PEM_PATH according to
 * MODE. *RET (caller frees with SSL_CTX_free) is set on success. Returns
 * 0 or a negative error with a message naming the file in *RET_ERR. */
int crypto_tls_server_ctx(const char *ca_pem_path, const char *cert_path,
    const char *key_path, enum crypto_tls_client_cert mode, SSL_CTX **ret,
    char **ret_err);

/* The same with KEY (a reference is taken), e.g. a key held in the TPM
 * (identity/tpm-pkey.h), in place of a key file; KEY_NAME names it in
 * messages. */
int crypto_tls_server_ctx_key(const char *ca_pem_path, const char *cert_path,
    EVP_PKEY *key, const char *key_name, enum crypto_tls_client_cert mode,
    SSL_CTX **ret, char **ret_err);

/* The same with KEY and PEM text in memory: CA_PEM (the CAs client
 * certificates must chain to) and CHAIN_PEM (leaf first), for a process
 * that reads no files (the API worker, privsep/worker.c). */
int crypto_tls_server_ctx_pem(EVP_PKEY *key, const char *key_name,
    const char *ca_pem, const char *chain_pem,
    enum crypto_tls_client_cert mode, SSL_CTX **ret, char **ret_err);

/* Builds a client SSL_CTX with our policy that verifies the server's
 * chain against CA_PEM_PATH. CERT_PATH/KEY_PATH name the client
 * certificate and key; both NULL for no client certificate. Every SSL
 * made from it must get crypto_tls_client_set_peer() before the
 * handshake: verification fails closed when no expected peer name was
 * set. */
int crypto_tls_client_ctx(const char *ca_pem_path, const char *cert_path,
    const char *key_path, SSL_CTX **ret, char **ret_err);

/* Sets the name the server certificate must carry: an IPv4/IPv6
 * literal is matched against IP SANs, anything else against DNS SANs
 * (and is sent as SNI). Returns 0 or -BW_E_INVALID / -BW_E_CRYPTO. */
int crypto_tls_client_set_peer(SSL *ssl, const char *host, char **ret_err);

/* Parses every PEM certificate in BUF (LEN bytes) into *RET (free with
 * sk_X509_pop_free(.., X509_free)); WHAT names the source in errors.
 * Fails with -BW_E_INVALID when there is none. */
int crypto_parse_certs(const char *buf, size_t len, const char *what,
    STACK_OF(X509) **ret, char **ret_err);

/* Parses one PEM private key from BUF. */
int crypto_parse_key(const char *buf, size_t len, const char *what,
    EVP_PKEY **ret, char **ret_err);

/* Reads PATH (no symlink followed, at most CRYPTO_PEM_MAX bytes) and
 * parses it like crypto_parse_certs() / crypto_parse_key(). The key
 * file's bytes are wiped before they are freed. */
int crypto_load_certs(const char *path, STACK_OF(X509) **ret,
    char **ret_err);
int crypto_load_key(const char *path, EVP_PKEY **ret, char **ret_err);

/* Like errf(), appending ": " and the reason of the most recent OpenSSL
 * error, then clearing OpenSSL's error queue. */
int crypto_errf(int r, char **ret_err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Wipes and frees a NUL-terminated secret (PEM key text). */
void crypto_secret_free(char *s);
static inline void
crypto_secret_freep(char **p)
{
	crypto_secret_free(*p);
}
#define _cleanup_secret_	__attribute__((cleanup(crypto_secret_freep)))

#endif
