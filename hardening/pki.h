/* The appliance PKI: a local CA (ECDSA P-384, SHA-384) that issues
 * the API server certificate and client certificates whose subject
 * names the principal (CN), tenant (O) and role (OU), plus a list of
 * revoked serials checked on every handshake.
 *
 * Layout of a PKI directory (0700):
 *   ca.crt ca.key               CA, 10 years
 *   server.crt server.key       API server, 1 year, SAN localhost,
 *                               127.0.0.1, ::1 and configured names;
 *                               bulwarkd renews it in place
 *                               (pki_renew_server()); server.key is
 *                               absent when a custodian holds the key
 *                               (struct pki_server_key_custody)
 *   admin.crt admin.key         CN=admin, O=system, OU=system-admin
 *   auditor.crt auditor.key     CN=auditor, O=system, OU=security-auditor
 *   (ca.key is absent when a custodian holds the CA key: see
 *   struct pki_key_custody)
 *   revoked                     one lowercase hex serial per line
 * Keys are 0600, everything else 0644. */
#ifndef BW_PKI_H
#define BW_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#define PKI_CA_DAYS		3650
#define PKI_SERVER_DAYS		365
#define PKI_CLIENT_DAYS		365
#define PKI_MAX_DAYS		3650
#define PKI_SERVER_SECS_MIN	10
/* The tenant that owns the appliance's own principals. */
#define PKI_SYSTEM_TENANT	"system"
/* 20 octets is the RFC 5280 maximum for a serial number. */
#define PKI_SERIAL_HEX_MAX	40
#define PKI_NAME_MAX		63
#define PKI_REVOKED_MAX		100000

/* Custody of the CA private key outside the PKI directory (bulwarkd
 * seals it with the TPM: daemon/identity.c). LOAD returns the key or
 * -ENOENT when none is held; STORE takes a new one (a copy; the caller
 * keeps KEY). Both return 0 or a negative error with *RET_ERR. */
struct pki_key_custody {
	int	(*load)(void *ctx, EVP_PKEY **ret_key, char **ret_err);
	int	(*store)(void *ctx, EVP_PKEY *key, char **ret_err);
	void	*ctx;
};

/* Custody of the server's TLS key outside the PKI directory (bulwarkd
 * keeps it in the TPM: daemon/identity.c). CREATE makes a new key and
 * holds it pending; KEEP makes the pending key the custodian's current
 * one (called only once a certificate for it has passed every check, so
 * a refused certificate leaves the current key as it was); LOAD returns
 * the current one or -ENOENT. The keys returned sign through the
 * custodian: their private part is never in memory or on disk in clear.
 * Each returns 0 or a negative error with *RET_ERR. */
struct pki_server_key_custody {
	int	(*create)(void *ctx, EVP_PKEY **ret_key, char **ret_err);
	int	(*keep)(void *ctx, char **ret_err);
	int	(*load)(void *ctx, EVP_PKEY **ret_key, char **ret_err);
	void	*ctx;
};

struct pki_init_options {
	/* Extra DNS names and IP literals for server.crt, NULL-terminated
	 * arrays (either may be NULL). */
	const char *const	*server_names;
	const char *const	*server_ips;
	/* Validity in days; 0 means the PKI_*_DAYS default. */
	unsigned		 ca_days;
	unsigned		 server_days;
	unsigned		 client_days;
	/* When not 0, server.crt is issued for this many seconds instead
	 * of server_days (PKI_SERVER_SECS_MIN..PKI_MAX_DAYS days): short
	 * lifetimes test renewal (bulwarkd --server-cert-lifetime). */
	unsigned		 server_secs;
	/* When set, ca.key is never written: the CA key is held by the
	 * custodian, and a clear ca.key from an earlier run is handed
	 * over to it and removed. */
	const struct pki_key_custody *ca_custody;
	/* When set, server.key is never written: server.crt certifies the
	 * custodian's key, and a clear server.key from an earlier run is
	 * wiped and removed (server.crt is reissued for the held key). */
	const struct pki_server_key_custody *server_custody;
};

struct pki_identity {
	char	principal[PKI_NAME_MAX + 1];	/* subject CN */
	char	tenant[PKI_NAME_MAX + 1];	/* subject O */
	char	role[32];			/* subject OU */
	/* Lowercase hex without leading zeros. */
	char	serial_hex[PKI_SERIAL_HEX_MAX + 1];
	time_t	not_after;
};

/* Creates PKIDIR (0700) and, for every file pair of the layout that
 * is missing, a new key and certificate. Existing pairs are left alone
 * but must parse, match their keys and chain to ca.crt, or the call
 * fails naming the file. A key without its certificate is the trace of
 * an interrupted run and is replaced; a certificate without its key is
 * an error. An expired server.crt, or one whose subjectAltName is not
 * the set O asks for (localhost, 127.0.0.1, ::1, O->server_names and
 * O->server_ips, in any order), is reissued with a new key (for the
 * custodian's key, with O->server_custody). Creating a new CA removes the leaf certificates of any
 * earlier one, so every leaf is reissued under it. A private key
 * readable by group or others is refused. Runs under an exclusive lock
 * on PKIDIR. O may be NULL.
 * Returns 0 or a negative error with a message in *RET_ERR. */
int pki_init_dir(const char *pkidir, const struct pki_init_options *o,
    char **ret_err);

/* Checks O->server_names (DNS names) and O->server_ips (addresses) as
 * pki_init_dir() does, touching nothing, so that a program can refuse a
 * bad name before it creates any state. O may be NULL. Returns 0 or
 * -BW_E_INVALID with a message in *RET_ERR. */
int pki_check_server_names(const struct pki_init_options *o,
    char **ret_err);

/* The validity of a certificate: ISSUED is when it was issued (its
 * notBefore less the clock-skew allowance the issuer backdates it by),
 * NOT_AFTER its notAfter; SERIAL_HEX as in struct pki_identity. */
struct pki_cert_times {
	time_t	issued;
	time_t	not_after;
	char	serial_hex[PKI_SERIAL_HEX_MAX + 1];
};

/* Reads the validity of PKIDIR/NAME (a PEM certificate such as
 * "server.crt" or "ca.crt") into *RET. Returns 0 or a negative error
 * with *RET_ERR. */
int pki_cert_times(const char *pkidir, const char *name,
    struct pki_cert_times *ret, char **ret_err);

/* Renews the server certificate: a new key and a certificate for the
 * server names of O (as pki_init_dir() issues it: CN=bulwarkd, the
 * same subjectAltName rules), valid LIFETIME_SECS (PKI_SERVER_SECS_MIN
 * .. PKI_MAX_DAYS days, never past the CA's notAfter), signed with
 * CA_KEY, which must match PKIDIR/ca.crt. Under the directory lock it
 * replaces server.crt and server.key where they are, each written
 * atomically (the key 0600, as pki_init_dir() writes it): server.crt is
 * removed first, so a crash midway leaves a key without its
 * certificate, which pki_init_dir() reissues, and never a mismatched
 * pair. The certificate is built and verified before the old pair is
 * touched. With O->server_custody the custodian creates the key and only
 * server.crt is written (a crash after the key leaves a certificate
 * that does not match it, which pki_init_dir() reissues). *RET (may be
 * NULL) receives the new certificate's validity. Returns 0 or a negative error with
 * *RET_ERR. */
int pki_renew_server(const char *pkidir, EVP_PKEY *ca_key,
    const struct pki_init_options *o, unsigned lifetime_secs,
    struct pki_cert_times *ret, char **ret_err);

/* Checks a principal or tenant name: [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?
 * WHAT names the field in the message. Returns 0 or -BW_E_INVALID. */
int pki_check_name(const char *what, const char *name, char **ret_err);

/* Checks ROLE is one of system-admin, security-auditor, tenant-admin,
 * tenant-user, and that system roles belong to tenant "system" and
 * tenant roles to any other tenant. */
int pki_check_role(const char *tenant, const char *role, char **ret_err);

/* Issues a client certificate signed by PKIDIR's CA for subject
 * CN=NAME, O=TENANT, OU=ROLE, valid for DAYS (1..PKI_MAX_DAYS) days,
 * certifying SUBJECT_KEY (a public key from a CSR, see
 * pki_csr_public_key()); when SUBJECT_KEY is NULL a key is generated
 * and *RET_KEY_PEM (free with crypto_secret_free()) receives it,
 * otherwise *RET_KEY_PEM is left alone. On success *RET_CERT_PEM and
 * *RET_SERIAL_HEX are set; NULL pointers skip an output. Nothing is
 * written to PKIDIR. */
int pki_issue_client(const char *pkidir, const char *name,
    const char *tenant, const char *role, unsigned days,
    EVP_PKEY *subject_key, char **ret_cert_pem, char **ret_key_pem,
    char **ret_serial_hex, char **ret_err);

#define PKI_CSR_MAX	16384

/* Parses PEM (LEN bytes, at most PKI_CSR_MAX), a PEM certificate
 * signing request, verifies its self-signature and returns its public
 * key in *RET_KEY (free with EVP_PKEY_free()). Only the key is taken:
 * the subject, extensions and attributes of the request are ignored
 * (the issuer sets them). EC keys on P-256/P-384/P-521 and RSA keys of
 * 3072 bits or more are accepted. Errors are -BW_E_INVALID with a
 * message starting "csr: ". */
int pki_csr_public_key(const char *pem, size_t len, EVP_PKEY **ret_key,
    char **ret_err);

/* A new private key of the appliance's kind (EC P-384) in *RET_KEY and
 * as PKCS#8 PEM in *RET_KEY_PEM (free with crypto_secret_free()). */
int pki_key_new(EVP_PKEY **ret_key, char **ret_key_pem, char **ret_err);

/* A PEM certificate signing request for KEY with subject CN=CN, signed
 * by KEY, in *RET_CSR_PEM (malloc'd). */
int pki_csr_build(EVP_PKEY *key, const char *cn, char **ret_csr_pem,
    char **ret_err);

/* Issues a client certificate for CN=NAME, O=TENANT, OU=ROLE signed
 * with CA_KEY (which must match PKIDIR/ca.crt), valid LIFETIME_SECS
 * (60 s .. PKI_MAX_DAYS). SUBJECT_KEY is the certified public key (a
 * node's TPM-resident key: no private part needed); when NULL a key is
 * generated and returned in *RET_KEY_PEM (free with
 * crypto_secret_free()). NULL output pointers skip an output. */
int pki_issue_for_key(const char *pkidir, EVP_PKEY *ca_key, const char *name,
    const char *tenant, const char *role, EVP_PKEY *subject_key,
    unsigned lifetime_secs, char **ret_cert_pem, char **ret_key_pem,
    char **ret_serial_hex, char **ret_err);

/* Reads the identity from a client certificate whose chain was
 * already verified (SSL_get0_peer_certificate()). Fails with
 * -BW_E_UNAUTH when CN, O or OU is missing, repeated or malformed, or
 * the role does not fit the tenant. */
int pki_peer_identity(X509 *cert, struct pki_identity *ret);

/* The identity of the client of a finished server handshake: fails
 * with -BW_E_UNAUTH when the client sent no certificate (allowed by
 * CRYPTO_TLS_CLIENT_CERT_OPTIONAL) or its chain did not verify, then
 * as pki_peer_identity(). The HTTP layer answers 401 on failure. */
int pki_ssl_identity(SSL *ssl, struct pki_identity *ret);

/* Canonical serial text: lowercase hex without leading zeros. Accepts
 * upper case and leading zeros in SERIAL_HEX. BUF holds at least
 * PKI_SERIAL_HEX_MAX + 1 bytes. Returns 0 or -BW_E_INVALID. */
int pki_serial_normalize(const char *serial_hex, char *buf, char **ret_err);

/* A set of revoked serials, shared by every thread of the server:
 * lookups take a read lock; pki_revoked_reload() swaps in the current
 * file under the write lock. */
struct pki_revoked;

/* Loads PKIDIR/revoked (absent means empty) into *RET (free with
 * pki_revoked_free()). A malformed line is an error naming it. */
int pki_revoked_load(const char *pkidir, struct pki_revoked **ret,
    char **ret_err);
/* Replaces SET's contents with PKIDIR/revoked; on error SET keeps its
 * previous contents. */
int pki_revoked_reload(struct pki_revoked *set, const char *pkidir,
    char **ret_err);
void pki_revoked_free(struct pki_revoked *set);
size_t pki_revoked_count(struct pki_revoked *set);

/* True when SERIAL_HEX (any case, any leading zeros) is in SET. A
 * malformed serial counts as revoked: the answer fails closed. */
bool pki_is_revoked(struct pki_revoked *set, const char *serial_hex);

/* Adds SERIAL_HEX to PKIDIR/revoked, durably, under the directory
 * lock; revoking a serial twice is not an error. Running servers see it
 * after pki_revoked_reload(). */
int pki_revoke(const char *pkidir, const char *serial_hex, char **ret_err);

/* Makes every handshake on the server CTX refuse a client certificate
 * whose serial is in SET. SET must outlive CTX. Returns 0 or
 * -BW_E_CRYPTO. */
int pki_revoked_attach(SSL_CTX *ctx, struct pki_revoked *set);

#endif
