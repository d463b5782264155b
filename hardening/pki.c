#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "hardening/crypto-policy.h"
#include "hardening/pki.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/ipaddr.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"

#define PKI_CURVE		"P-384"
#define PKI_SERIAL_BYTES	16
/* Tolerate this much clock skew between the CA and its relying
 * parties before a fresh certificate becomes valid. */
#define PKI_BACKDATE_SECS	300
#define PKI_REVOKED_FILE	"revoked"
#define PKI_REVOKED_FILE_MAX	((size_t)PKI_REVOKED_MAX * \
	(PKI_SERIAL_HEX_MAX + 2))

enum pki_kind {
	PKI_KIND_CA,
	PKI_KIND_SERVER,
	PKI_KIND_CLIENT,
};

/* What one certificate says about its subject. */
struct pki_profile {
	enum pki_kind	 kind;
	const char	*cn, *o, *ou;
	unsigned	 days;
	unsigned	 secs;	/* added to DAYS: short-lived node certificates */
	const char	*san;	/* subjectAltName value, or NULL */
};

static const struct {
	const char	*role;
	bool		 system;	/* belongs to tenant "system" */
} pki_roles[] = {
	{ "system-admin",	true },
	{ "security-auditor",	true },
	{ "tenant-admin",	false },
	{ "tenant-user",	false },
	/* A node agent, after attestation (controlplane/enrol.c). */
	{ "node",		true },
	/* A single-use, short-lived credential that may only enrol. */
	{ "node-bootstrap",	true },
	/* A Prometheus scraper: GET /metrics and nothing else. */
	{ "metrics",		true },
};

int
pki_check_name(const char *what, const char *name, char **ret_err)
{
	size_t i, len;

	if (!name || !*name)
		return errf(-BW_E_INVALID, ret_err, "%s: must not be empty",
		    what);
	len = strlen(name);
	if (len > PKI_NAME_MAX)
		return errf(-BW_E_INVALID, ret_err,
		    "%s: longer than %d characters", what, PKI_NAME_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (c == '-' && i > 0 && i < len - 1)
			continue;
		if (c == '-')
			return errf(-BW_E_INVALID, ret_err, "%s: must not %s "
			    "with '-'", what, i == 0 ? "start" : "end");
		if (c >= 0x21 && c < 0x7f)
			return errf(-BW_E_INVALID, ret_err, "%s: character "
			    "'%c' at position %zu not allowed (use a-z, 0-9, "
			    "'-')", what, c, i + 1);
		return errf(-BW_E_INVALID, ret_err, "%s: byte 0x%02x at "
		    "position %zu not allowed (use a-z, 0-9, '-')", what, c,
		    i + 1);
	}
	return 0;
}

int
pki_check_role(const char *tenant, const char *role, char **ret_err)
{
	size_t	i;
	bool	system_tenant;

	if (!role || !tenant)
		return errf(-BW_E_INVALID, ret_err, "role: must not be empty");
	system_tenant = strcmp(tenant, PKI_SYSTEM_TENANT) == 0;
	for (i = 0; i < ELEMENTSOF(pki_roles); i++) {
		if (strcmp(role, pki_roles[i].role) != 0)
			continue;
		if (pki_roles[i].system && !system_tenant)
			return errf(-BW_E_INVALID, ret_err, "role: %s belongs "
			    "to tenant \"%s\", not \"%s\"", role,
			    PKI_SYSTEM_TENANT, tenant);
		if (!pki_roles[i].system && system_tenant)
			return errf(-BW_E_INVALID, ret_err, "role: %s cannot "
			    "belong to tenant \"%s\"", role,
			    PKI_SYSTEM_TENANT);
		return 0;
	}
	return errf(-BW_E_INVALID, ret_err, "role: \"%.40s\" is not one of "
	    "system-admin, security-auditor, tenant-admin, tenant-user, node, "
	    "node-bootstrap, metrics", role);
}

/* A server name for the SAN: dot-separated labels of letters, digits
 * and inner hyphens. Anything else could smuggle syntax into the
 * extension's configuration string. */
static int
check_dns_name(const char *name, char **ret_err)
{
	size_t i, label = 0, len = name ? strlen(name) : 0;

	if (len == 0 || len > 253)
		return errf(-BW_E_INVALID, ret_err,
		    "server name \"%.64s\": must be 1..253 characters",
		    name ? name : "");
	for (i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || name[i - 1] == '-')
				return errf(-BW_E_INVALID, ret_err, "server "
				    "name \"%.64s\": bad label", name);
			label = 0;
			continue;
		}
		if (!isascii(c) || (!isalnum(c) && c != '-') ||
		    (c == '-' && label == 0))
			return errf(-BW_E_INVALID, ret_err, "server name "
			    "\"%.64s\": character at position %zu not allowed",
			    name, i + 1);
		label++;
	}
	/* A last label of digits only is an address typed wrong
	 * (10.0.0.256, 010.0.0.1, 1.2.3): resolvers read some of those
	 * as numbers, so as a name it would verify one host and reach
	 * another (RFC 3696 section 2). */
	for (i = len; i > 0 && name[i - 1] != '.'; i--)
		if (!isdigit((unsigned char)name[i - 1]))
			return 0;
	return errf(-BW_E_INVALID, ret_err, "server name \"%.64s\": not an "
	    "IPv4 address (four decimal octets) nor a name (its last "
	    "label is all digits)", name);
}

static int
check_ip(const char *ip, char **ret_err)
{
	switch (bw_ip_literal(ip)) {
	case BW_IP_V4:
	case BW_IP_V6:
		return 0;
	case BW_IP_V4_IN_V6:
		/* A 16-octet name, which a client connecting to the IPv4
		 * address does not match: take the IPv4 form. */
		return errf(-BW_E_INVALID, ret_err, "server address "
		    "\"%.64s\": an IPv4 address in IPv6 form: give the IPv4 "
		    "form", ip);
	case BW_IP_NONE:
	default:
		return errf(-BW_E_INVALID, ret_err, "server address \"%.64s\": "
		    "not an IPv4 or IPv6 literal", ip ? ip : "");
	}
}

static int
random_serial(ASN1_INTEGER **ret)
{
	unsigned char			 buf[PKI_SERIAL_BYTES];
	_cleanup_(BN_freep) BIGNUM	*bn = NULL;
	ASN1_INTEGER			*ai;

	/* Positive and a full 16 octets: clear the sign bit, set the next
	 * one so the encoding never shrinks. 126 random bits remain. */
	if (RAND_bytes(buf, sizeof(buf)) != 1)
		return -BW_E_CRYPTO;
	buf[0] = (buf[0] & 0x3f) | 0x40;
	if (!(bn = BN_bin2bn(buf, sizeof(buf), NULL)))
		return -ENOMEM;
	if (!(ai = BN_to_ASN1_INTEGER(bn, NULL)))
		return -ENOMEM;
	*ret = ai;
	return 0;
}

static int
add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	_cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;

	ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	if (!ext || !X509_add_ext(x, ext, -1))
		return -BW_E_CRYPTO;
	return 0;
}

static int
name_add(X509_NAME *n, const char *field, const char *value)
{
	if (!value)
		return 0;
	if (!X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8,
	    (const unsigned char *)value, -1, -1, 0))
		return -BW_E_CRYPTO;
	return 0;
}

/* Builds and signs a certificate for SUBJECT_KEY as described by P.
 * ISSUER/ISSUER_KEY are NULL for the self-signed CA. */
static int
cert_build(X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *subject_key,
    const struct pki_profile *p, X509 **ret, char **ret_err)
{
	_cleanup_(X509_freep) X509	*x = NULL;
	X509_NAME			*subj;
	ASN1_INTEGER			*serial = NULL;
	X509V3_CTX			 v3;
	const char			*bc, *ku, *eku;
	int				 r;

	if (!(x = X509_new()) || !(subj = X509_NAME_new()))
		return -ENOMEM;
	if ((r = name_add(subj, "O", p->o)) < 0 ||
	    (r = name_add(subj, "OU", p->ou)) < 0 ||
	    (r = name_add(subj, "CN", p->cn)) < 0 ||
	    !X509_set_subject_name(x, subj)) {
		X509_NAME_free(subj);
		return crypto_errf(-BW_E_CRYPTO, ret_err, "subject %s", p->cn);
	}
	X509_NAME_free(subj);
	if (!issuer) {
		issuer = x;
		issuer_key = subject_key;
	}
	if ((r = random_serial(&serial)) < 0)
		return crypto_errf(r, ret_err, "serial number");
	r = X509_set_serialNumber(x, serial);
	ASN1_INTEGER_free(serial);
	if (!r || !X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(issuer)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -PKI_BACKDATE_SECS) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)p->days,
	    (long)p->secs, NULL) ||
	    !X509_set_pubkey(x, subject_key))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "certificate %s",
		    p->cn);

	switch (p->kind) {
	case PKI_KIND_CA:
		/* pathlen 0: this CA signs leaves only. */
		bc = "critical,CA:TRUE,pathlen:0";
		ku = "critical,keyCertSign,cRLSign";
		eku = NULL;
		break;
	case PKI_KIND_SERVER:
		bc = "critical,CA:FALSE";
		ku = "critical,digitalSignature";
		eku = "serverAuth";
		break;
	case PKI_KIND_CLIENT:
	default:
		bc = "critical,CA:FALSE";
		ku = "critical,digitalSignature";
		eku = "clientAuth";
		break;
	}
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	/* The subject key identifier must exist before the authority key
	 * identifier of a self-signed certificate can refer to it. */
	if (add_ext(x, &v3, NID_basic_constraints, bc) < 0 ||
	    add_ext(x, &v3, NID_key_usage, ku) < 0 ||
	    (eku && add_ext(x, &v3, NID_ext_key_usage, eku) < 0) ||
	    add_ext(x, &v3, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, &v3, NID_authority_key_identifier,
	    "keyid:always") < 0 ||
	    (p->san && add_ext(x, &v3, NID_subject_alt_name, p->san) < 0))
		return crypto_errf(-BW_E_CRYPTO, ret_err,
		    "extensions of %s", p->cn);
	if (X509_sign(x, issuer_key, EVP_sha384()) <= 0)
		return crypto_errf(-BW_E_CRYPTO, ret_err, "signing %s", p->cn);
	*ret = TAKE_PTR(x);
	return 0;
}

static int
key_generate(EVP_PKEY **ret, char **ret_err)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", PKI_CURVE);

	if (!k)
		return crypto_errf(-BW_E_CRYPTO, ret_err,
		    "generating a %s key", PKI_CURVE);
	*ret = k;
	return 0;
}

/* PEM text of X into *RET (malloc'd). */
static int
cert_pem(X509 *x, char **ret)
{
	_cleanup_(BIO_freep) BIO	*bio = NULL;
	char				*data, *s;
	long				 len;

	if (!(bio = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509(bio, x))
		return -BW_E_CRYPTO;
	len = BIO_get_mem_data(bio, &data);
	if (len <= 0 || !(s = strndup(data, (size_t)len)))
		return -ENOMEM;
	*ret = s;
	return 0;
}

/* PKCS#8 PEM of K into *RET (free with crypto_secret_free()). The
 * intermediate buffer lives in OpenSSL's secure memory BIO, which is
 * wiped when freed. */
static int
key_pem(EVP_PKEY *k, char **ret)
{
	_cleanup_(BIO_freep) BIO	*bio = NULL;
	char				*data, *s;
	long				 len;

	if (!(bio = BIO_new(BIO_s_secmem())) ||
	    !PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL))
		return -BW_E_CRYPTO;
	len = BIO_get_mem_data(bio, &data);
	if (len <= 0 || !(s = malloc((size_t)len + 1)))
		return -ENOMEM;
	memcpy(s, data, (size_t)len);
	s[len] = '\0';
	*ret = s;
	return 0;
}

/* Opens PKIDIR as a directory without following a final symlink. */
static int
pki_open_dir(const char *pkidir, bool create, char **ret_err)
{
	int fd, r;

	if (!pkidir || !*pkidir)
		return errf(-BW_E_INVALID, ret_err, "PKI directory: not set");
	if (create && (r = mkdir_p(pkidir, 0700)) < 0)
		return errf(r, ret_err, "%s: %s", pkidir, bw_strerror(r));
	fd = open(pkidir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errf(-errno, ret_err, "%s: %s", pkidir,
		    strerror(errno));
	return fd;
}

static int
pki_lock(int dfd, int op, const char *pkidir, char **ret_err)
{
	while (flock(dfd, op) < 0) {
		if (errno != EINTR)
			return errf(-errno, ret_err, "%s: lock: %s", pkidir,
			    strerror(errno));
	}
	return 0;
}

/* 1 when NAME exists as a regular file, 0 when absent, else an error:
 * a symlink or anything else in its place is refused. */
static int
file_present(int dfd, const char *name, char **ret_err)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return errf(-errno, ret_err, "%s: %s", name, strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return errf(-BW_E_INVALID, ret_err,
		    "%s: not a regular file", name);
	return 1;
}

static int
load_cert_at(int dfd, const char *name, X509 **ret, char **ret_err)
{
	_cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
	_cleanup_free_ char	*buf = NULL;
	size_t			 len;
	int			 r;

	r = read_file_at(dfd, name, CRYPTO_PEM_MAX, &buf, &len);
	if (r < 0)
		return errf(r == -EFBIG ? -BW_E_TOOLARGE : r, ret_err,
		    "%s: %s", name, bw_strerror(r));
	if ((r = crypto_parse_certs(buf, len, name, &certs, ret_err)) < 0)
		return r;
	*ret = sk_X509_shift(certs);
	return 0;
}

static int
load_key_at(int dfd, const char *name, EVP_PKEY **ret, char **ret_err)
{
	_cleanup_secret_ char	*buf = NULL;
	_cleanup_close_ int	 fd = -1;
	struct stat		 st;
	size_t			 len;
	int			 r;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errf(-errno, ret_err, "%s: %s", name, strerror(errno));
	if (fstat(fd, &st) < 0)
		return errf(-errno, ret_err, "%s: %s", name, strerror(errno));
	if (st.st_mode & 0077)
		return errf(-BW_E_INVALID, ret_err, "%s: mode %04o, a private "
		    "key must not be readable by group or others", name,
		    (unsigned)(st.st_mode & 07777));
	r = read_bounded(fd, CRYPTO_PEM_MAX, &buf, &len);
	if (r < 0)
		return errf(r == -EFBIG ? -BW_E_TOOLARGE : r, ret_err,
		    "%s: %s", name, bw_strerror(r));
	return crypto_parse_key(buf, len, name, ret, ret_err);
}

/* Verifies CERT against CA for PURPOSE (or as the CA itself when
 * PURPOSE is 0), including validity dates. */
static int
verify_with_ca(X509 *ca, X509 *cert, int purpose, const char *name,
    char **ret_err)
{
	_cleanup_(X509_STORE_freep) X509_STORE *store = NULL;
	_cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *sctx = NULL;
	int err;

	if (!(store = X509_STORE_new()) || !(sctx = X509_STORE_CTX_new()))
		return -ENOMEM;
	if (!X509_STORE_add_cert(store, ca) ||
	    !X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT) ||
	    !X509_STORE_CTX_init(sctx, store, cert, NULL) ||
	    (purpose && !X509_STORE_CTX_set_purpose(sctx, purpose)))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "%s: verify", name);
	if (X509_verify_cert(sctx) == 1)
		return 0;
	err = X509_STORE_CTX_get_error(sctx);
	ERR_clear_error();
	return errf(-BW_E_CORRUPT, ret_err, "%s: %s", name,
	    X509_verify_cert_error_string(err));
}

/* Writes CERT as NAME (0644), atomically. */
static int
write_cert_at(int dfd, const char *name, X509 *cert, char **ret_err)
{
	_cleanup_free_ char	*cpem = NULL;
	int			 r;

	if ((r = cert_pem(cert, &cpem)) < 0)
		return crypto_errf(r, ret_err, "%s: encoding", name);
	if ((r = write_file_atomic_at(dfd, name, cpem, strlen(cpem),
	    0644)) < 0)
		return errf(r, ret_err, "%s: %s", name, bw_strerror(r));
	return 0;
}

/* Writes KEY then CERT: a crash in between leaves a key without its
 * certificate, which the next run recognises and replaces. */
static int
write_pair(int dfd, const char *base, X509 *cert, EVP_PKEY *key,
    char **ret_err)
{
	_cleanup_secret_ char	*kpem = NULL;
	char			 kname[64], cname[64];
	int			 r;

	snprintf(kname, sizeof(kname), "%s.key", base);
	snprintf(cname, sizeof(cname), "%s.crt", base);
	if ((r = key_pem(key, &kpem)) < 0)
		return crypto_errf(r, ret_err, "%s: encoding", base);
	if ((r = write_file_atomic_at(dfd, kname, kpem, strlen(kpem),
	    0600)) < 0)
		return errf(r, ret_err, "%s: %s", kname, bw_strerror(r));
	return write_cert_at(dfd, cname, cert, ret_err);
}

/* Overwrites NAME with zeros, syncs it and removes it: a clear key
 * handed to a custodian leaves no copy in the file's blocks (on a
 * file system that rewrites in place; docs/threat-model.md). */
static int
wipe_unlink_at(int dfd, const char *name, char **ret_err)
{
	static const char	 zeros[4096];
	_cleanup_close_ int	 fd = -1;
	struct stat		 st;
	off_t			 off;
	ssize_t			 n;

	fd = openat(dfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0)
		return errf(-errno, ret_err, "%s: %s", name, strerror(errno));
	for (off = 0; off < st.st_size; off += n) {
		size_t want = st.st_size - off < (off_t)sizeof(zeros) ?
		    (size_t)(st.st_size - off) : sizeof(zeros);

		if ((n = pwrite(fd, zeros, want, off)) <= 0)
			return errf(n < 0 ? -errno : -EIO, ret_err, "%s: wipe: "
			    "%s", name, n < 0 ? strerror(errno) : "short write");
	}
	if (fsync(fd) < 0 || unlinkat(dfd, name, 0) < 0)
		return errf(-errno, ret_err, "%s: %s", name, strerror(errno));
	return 0;
}

/* Wipes and removes what an atomic write interrupted by a crash left
 * in the PKI directory: its temporary file may hold a clear private key
 * (a key written before a custodian held it, admin.key, auditor.key).
 * Called under the directory's exclusive lock, which every writer
 * here takes. */
static int
stale_temps_remove(int dfd, char **ret_err)
{
	DIR		*d;
	struct dirent	*e;
	int		 fd, r = 0;

	if ((fd = dup(dfd)) < 0 || !(d = fdopendir(fd))) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return errf(r, ret_err, "listing the PKI directory: %s",
		    strerror(-r));
	}
	while (r == 0 && (e = readdir(d)))
		if (fileio_is_atomic_temp(e->d_name))
			r = wipe_unlink_at(dfd, e->d_name, ret_err);
	closedir(d);
	return r;
}

/* Loads an existing BASE.crt/BASE.key pair, or reports it absent (1)
 * so the caller creates it. */
static int
pair_state(int dfd, const char *base, char **ret_err)
{
	char	kname[64], cname[64];
	int	hk, hc;

	snprintf(kname, sizeof(kname), "%s.key", base);
	snprintf(cname, sizeof(cname), "%s.crt", base);
	if ((hk = file_present(dfd, kname, ret_err)) < 0)
		return hk;
	if ((hc = file_present(dfd, cname, ret_err)) < 0)
		return hc;
	if (hc && !hk)
		return errf(-BW_E_CORRUPT, ret_err, "%s: present without %s; "
		    "restore the key or remove %s to reissue", cname, kname,
		    cname);
	return hc ? 0 : 1;
}

/* Takes *HAVE, a certificate the caller already read from NAME, when
 * there is one (HAVE may be NULL), so a file is parsed once a start;
 * else loads NAME. */
static int
cert_take_or_load(int dfd, const char *name, X509 **have, X509 **ret,
    char **ret_err)
{
	if (have && *have) {
		*ret = TAKE_PTR(*have);
		return 0;
	}
	return load_cert_at(dfd, name, ret, ret_err);
}

/* Loads the BASE.crt/BASE.key pair (BASE.crt taken from *HAVE when the
 * caller read it already, see cert_take_or_load()). */
static int
pair_load(int dfd, const char *base, X509 **have, X509 **ret_cert,
    EVP_PKEY **ret_key, char **ret_err)
{
	_cleanup_(X509_freep) X509		*cert = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	char					 kname[64], cname[64];
	int					 r;

	snprintf(kname, sizeof(kname), "%s.key", base);
	snprintf(cname, sizeof(cname), "%s.crt", base);
	if ((r = cert_take_or_load(dfd, cname, have, &cert, ret_err)) < 0 ||
	    (r = load_key_at(dfd, kname, &key, ret_err)) < 0)
		return r;
	if (X509_check_private_key(cert, key) != 1)
		return crypto_errf(-BW_E_CORRUPT, ret_err,
		    "%s: does not match %s", kname, cname);
	*ret_cert = TAKE_PTR(cert);
	if (ret_key)
		*ret_key = TAKE_PTR(key);
	return 0;
}

static unsigned
days_or(unsigned days, unsigned dflt)
{
	return days ? days : dflt;
}

/* Builds "DNS:localhost,IP:127.0.0.1,IP:::1" plus the configured names,
 * each already validated so none can carry a ',' or ':' of its own
 * except IPv6 literals, which the IP: parser takes whole. */
static int
server_san(const struct pki_init_options *o, char **ret, char **ret_err)
{
	_cleanup_free_ char	*s = NULL;
	const char *const	*p;
	char			*n;
	int			 r;

	if (!(s = strdup("DNS:localhost,IP:127.0.0.1,IP:::1")))
		return -ENOMEM;
	for (p = o ? o->server_names : NULL; p && *p; p++) {
		if ((r = check_dns_name(*p, ret_err)) < 0)
			return r;
		if (asprintf(&n, "%s,DNS:%s", s, *p) < 0)
			return -ENOMEM;
		free(s);
		s = n;
	}
	for (p = o ? o->server_ips : NULL; p && *p; p++) {
		if ((r = check_ip(*p, ret_err)) < 0)
			return r;
		if (asprintf(&n, "%s,IP:%s", s, *p) < 0)
			return -ENOMEM;
		free(s);
		s = n;
	}
	*ret = TAKE_PTR(s);
	return 0;
}

int
pki_check_server_names(const struct pki_init_options *o, char **ret_err)
{
	_cleanup_free_ char *san = NULL;

	return server_san(o, &san, ret_err);
}

static int
validate_days(const char *what, unsigned days, char **ret_err)
{
	if (days > PKI_MAX_DAYS)
		return errf(-BW_E_INVALID, ret_err, "%s: %u days, at most %d",
		    what, days, PKI_MAX_DAYS);
	return 0;
}

static int
validate_server_secs(unsigned secs, char **ret_err)
{
	if (secs < PKI_SERVER_SECS_MIN || secs > PKI_MAX_DAYS * 86400u)
		return errf(-BW_E_INVALID, ret_err, "server certificate "
		    "lifetime: must be %d..%u seconds, not %u",
		    PKI_SERVER_SECS_MIN, PKI_MAX_DAYS * 86400u, secs);
	return 0;
}

/* The validity of server.crt, DAYS plus SECS, and its names SAN (see
 * server_san()). */
static void
server_lifetime(struct pki_profile *p, const char *san, unsigned days,
    unsigned secs)
{
	p->san = san;
	p->days = days + secs / 86400;
	p->secs = secs % 86400;
}

/* True when every name of A is also one of B's. */
static bool
names_within(const GENERAL_NAMES *a, const GENERAL_NAMES *b)
{
	int i, j;

	for (i = 0; i < sk_GENERAL_NAME_num(a); i++) {
		for (j = 0; j < sk_GENERAL_NAME_num(b); j++)
			if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(a, i),
			    sk_GENERAL_NAME_value(b, j)) == 0)
				break;
		if (j == sk_GENERAL_NAME_num(b))
			return false;
	}
	return true;
}

/* Whether X's subjectAltName holds the names of SAN (server_san()) and
 * no others, in any order: 1, 0, or a negative error. */
static int
san_matches(X509 *x, const char *san, char **ret_err)
{
	_cleanup_(X509_EXTENSION_freep) X509_EXTENSION	*ext = NULL;
	_cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES	*want = NULL;
	_cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES	*have = NULL;

	if (!(ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
	    san)) || !(want = X509V3_EXT_d2i(ext)))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "server names");
	have = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	ERR_clear_error();
	return have && names_within(want, have) && names_within(have, want);
}

/* Removes server.crt once it has expired or no longer carries the
 * configured names SAN (a --server-name added or removed), so that
 * pki_init_dir() reissues it (a key without its certificate) instead
 * of refusing to start or serving the old names: bulwarkd renews it
 * only while it runs (daemon/cert-renew.c), and no one holds on to the
 * server's key. Anything else wrong with the file is left for
 * pki_init_dir() to report. A certificate kept goes to *RET_CERT (NULL
 * when there is none, it was removed or did not parse) for
 * pki_leaf_ready(), so the file is read once. */
static int
drop_stale_server(int dfd, const char *san, X509 **ret_cert, char **ret_err)
{
	_cleanup_(X509_freep) X509	*x = NULL;
	int				 r;

	if ((r = file_present(dfd, "server.crt", ret_err)) < 0)
		return r;
	if (r == 0 || load_cert_at(dfd, "server.crt", &x, NULL) < 0) {
		*ret_cert = NULL;
		return 0;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) >= 0) {
		if ((r = san_matches(x, san, ret_err)) < 0)
			return r;
		if (r == 1) {
			*ret_cert = TAKE_PTR(x);
			return 0;
		}
	}
	if (unlinkat(dfd, "server.crt", 0) < 0)
		return errf(-errno, ret_err, "server.crt: %s", strerror(errno));
	*ret_cert = NULL;
	return 0;
}

/* The CA key in the custody of O (sealed by the TPM): ca.crt alone is
 * written to the directory; the key goes to CUS->store. */
static int
ca_custody_write(int dfd, const struct pki_key_custody *cus, X509 *ca,
    EVP_PKEY *ca_key, char **ret_err)
{
	_cleanup_free_ char	*cpem = NULL;
	int			 r;

	if ((r = cus->store(cus->ctx, ca_key, ret_err)) < 0)
		return r;
	if ((r = cert_pem(ca, &cpem)) < 0)
		return crypto_errf(r, ret_err, "ca.crt: encoding");
	if ((r = write_file_atomic_at(dfd, "ca.crt", cpem, strlen(cpem),
	    0644)) < 0)
		return errf(r, ret_err, "ca.crt: %s", bw_strerror(r));
	return 0;
}

/* Like pair_state() + pair_load() for a CA key held by CUS: 1 when the
 * CA must be created, 0 with *RET_CA and *RET_KEY loaded. A clear
 * ca.key left by an earlier version is handed to CUS and erased. */
static int
ca_custody_state(int dfd, const struct pki_key_custody *cus, X509 **ret_ca,
    EVP_PKEY **ret_key, char **ret_err)
{
	_cleanup_(X509_freep) X509		*ca = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	int					 r;

	if ((r = file_present(dfd, "ca.crt", ret_err)) < 0)
		return r;
	if (r == 0)
		return 1;
	if ((r = load_cert_at(dfd, "ca.crt", &ca, ret_err)) < 0)
		return r;
	r = cus->load(cus->ctx, &key, ret_err);
	if (r == -ENOENT) {
		if ((r = file_present(dfd, "ca.key", ret_err)) < 0)
			return r;
		if (r == 0)
			return errf(-BW_E_CORRUPT, ret_err, "ca.crt: present "
			    "but its key is neither sealed nor in ca.key; "
			    "remove ca.crt to create a new CA");
		if ((r = load_key_at(dfd, "ca.key", &key, ret_err)) < 0 ||
		    (r = cus->store(cus->ctx, key, ret_err)) < 0)
			return r;
		if ((r = wipe_unlink_at(dfd, "ca.key", ret_err)) < 0)
			return r;
	} else if (r < 0)
		return r;
	if (X509_check_private_key(ca, key) != 1)
		return crypto_errf(-BW_E_CORRUPT, ret_err,
		    "the sealed CA key does not match ca.crt");
	*ret_ca = TAKE_PTR(ca);
	*ret_key = TAKE_PTR(key);
	return 0;
}

/* The leaf pairs pki_init_dir() keeps beside the CA. */
static const struct pki_leaf {
	const char	*base;
	enum pki_kind	 kind;
	const char	*cn, *ou;
	int		 purpose;
} pki_leaves[] = {
	{ "server", PKI_KIND_SERVER, "bulwarkd", "server",
	  X509_PURPOSE_SSL_SERVER },
	{ "admin", PKI_KIND_CLIENT, "admin", "system-admin",
	  X509_PURPOSE_SSL_CLIENT },
	{ "auditor", PKI_KIND_CLIENT, "auditor", "security-auditor",
	  X509_PURPOSE_SSL_CLIENT },
};

/* Loads and checks the CA in DFD (its key in O's custody, if any), or
 * creates one, into *RET_CA and *RET_KEY. */
static int
pki_ca_ready(int dfd, const struct pki_init_options *o, X509 **ret_ca,
    EVP_PKEY **ret_key, char **ret_err)
{
	_cleanup_(X509_freep) X509		*ca = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*ca_key = NULL;
	size_t					 i;
	int					 r;

	if (o && o->ca_custody)
		r = ca_custody_state(dfd, o->ca_custody, &ca, &ca_key, ret_err);
	else
		r = pair_state(dfd, "ca", ret_err);
	if (r < 0)
		return r;
	if (r == 1) {
		struct pki_profile p = {
			.kind = PKI_KIND_CA, .cn = "Bulwark Appliance CA",
			.o = PKI_SYSTEM_TENANT,
			.days = days_or(o ? o->ca_days : 0, PKI_CA_DAYS),
		};

		/* Every leaf chains to the CA: a new CA makes any leaf
		 * left from an earlier one useless, so they go too. */
		for (i = 0; i < ELEMENTSOF(pki_leaves); i++) {
			char name[64];

			snprintf(name, sizeof(name), "%s.crt", pki_leaves[i].base);
			if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
				return errf(-errno, ret_err, "%s: %s", name,
				    strerror(errno));
		}
		if ((r = key_generate(&ca_key, ret_err)) < 0 ||
		    (r = cert_build(NULL, NULL, ca_key, &p, &ca,
		    ret_err)) < 0)
			return r;
		if (o && o->ca_custody)
			r = ca_custody_write(dfd, o->ca_custody, ca, ca_key,
			    ret_err);
		else
			r = write_pair(dfd, "ca", ca, ca_key, ret_err);
		if (r < 0)
			return r;
	} else {
		if (!(o && o->ca_custody) &&
		    (r = pair_load(dfd, "ca", NULL, &ca, &ca_key,
		    ret_err)) < 0)
			return r;
		if (X509_check_ca(ca) < 1)
			return errf(-BW_E_CORRUPT, ret_err,
			    "ca.crt: not a CA certificate");
		if ((r = verify_with_ca(ca, ca, 0, "ca.crt", ret_err)) < 0)
			return r;
	}
	*ret_ca = TAKE_PTR(ca);
	*ret_key = TAKE_PTR(ca_key);
	return 0;
}

static int times_of(X509 *x, const char *name, struct pki_cert_times *ret,
    char **ret_err);

/* Checks a new server certificate before anything is written: it must
 * not outlive its CA (past the CA's end the CA itself must be rotated
 * first, the plan is in docs/identity.md: say so rather than cut the
 * lifetime) and must verify under it. Its times go to *RET when not
 * NULL. */
static int
server_cert_check(X509 *ca, X509 *cert, struct pki_cert_times *ret,
    char **ret_err)
{
	struct pki_cert_times	t;
	int			r;

	if (ASN1_TIME_compare(X509_get0_notAfter(cert),
	    X509_get0_notAfter(ca)) > 0)
		return errf(-BW_E_INVALID, ret_err, "server certificate: its "
		    "lifetime would outlive the CA certificate; the CA must be "
		    "rotated");
	if ((r = verify_with_ca(ca, cert, X509_PURPOSE_SSL_SERVER,
	    "server.crt", ret_err)) < 0 ||
	    (r = times_of(cert, "server.crt", &t, ret_err)) < 0)
		return r;
	if (ret)
		*ret = t;
	return 0;
}

/* The server pair when O's custodian holds the key: its key (created
 * when it has none) and a server.crt certifying that key, reissued when
 * it certifies another one (an interrupted renewal, or a clear key of
 * an earlier run, which is then wiped and removed). */
static int
server_custody_ready(int dfd, const struct pki_init_options *o,
    const struct pki_leaf *l, X509 *ca, EVP_PKEY *ca_key, const char *san,
    X509 **have, char **ret_err)
{
	const struct pki_server_key_custody	*cus = o->server_custody;
	_cleanup_(X509_freep) X509		*cert = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	struct pki_profile p = {
		.kind = l->kind, .cn = l->cn,
		.o = PKI_SYSTEM_TENANT, .ou = l->ou,
	};
	bool					 created = false;
	int					 r;

	r = cus->load(cus->ctx, &key, ret_err);
	if (r == -ENOENT) {
		r = cus->create(cus->ctx, &key, ret_err);
		created = true;
	}
	if (r < 0)
		return r;
	if ((r = file_present(dfd, "server.key", ret_err)) < 0 ||
	    (r == 1 && (r = wipe_unlink_at(dfd, "server.key", ret_err)) < 0))
		return r;
	if ((r = file_present(dfd, "server.crt", ret_err)) < 0)
		return r;
	if (r == 1) {
		if ((r = cert_take_or_load(dfd, "server.crt", have, &cert,
		    ret_err)) < 0)
			return r;
		if (X509_check_private_key(cert, key) == 1)
			return verify_with_ca(ca, cert, l->purpose, "server.crt",
			    ret_err);
		ERR_clear_error();
		X509_free(TAKE_PTR(cert));
	}
	server_lifetime(&p, san, o->server_secs ? 0 :
	    days_or(o->server_days, PKI_SERVER_DAYS), o->server_secs);
	/* At start the lifetime is not checked against the CA's end, as
	 * for a clear key (pki_leaf_ready): the daemon must come up; the
	 * renewal refuses it and says the CA must be rotated. */
	if ((r = cert_build(ca, ca_key, key, &p, &cert, ret_err)) < 0 ||
	    (r = verify_with_ca(ca, cert, l->purpose, "server.crt",
	    ret_err)) < 0 ||
	    (created && (r = cus->keep(cus->ctx, ret_err)) < 0))
		return r;
	return write_cert_at(dfd, "server.crt", cert, ret_err);
}

/* Checks the pair of leaf L in DFD against CA, or issues it (the
 * server's with the names SAN). *HAVE (HAVE may be NULL) is L's
 * certificate when the caller read it already; it is taken over. */
static int
pki_leaf_ready(int dfd, const struct pki_init_options *o,
    const struct pki_leaf *l, X509 *ca, EVP_PKEY *ca_key, const char *san,
    X509 **have, char **ret_err)
{
	_cleanup_(X509_freep) X509		*cert = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	char					 cname[64];
	struct pki_profile p = {
		.kind = l->kind, .cn = l->cn,
		.o = PKI_SYSTEM_TENANT, .ou = l->ou,
	};
	int					 r;

	if (l->kind == PKI_KIND_SERVER && o && o->server_custody)
		return server_custody_ready(dfd, o, l, ca, ca_key, san, have,
		    ret_err);
	snprintf(cname, sizeof(cname), "%s.crt", l->base);
	if ((r = pair_state(dfd, l->base, ret_err)) < 0)
		return r;
	if (r == 0) {
		if ((r = pair_load(dfd, l->base, have, &cert, NULL,
		    ret_err)) < 0)
			return r;
		r = verify_with_ca(ca, cert, l->purpose, cname, ret_err);
		if (r < 0) {
			char *m = ret_err ? TAKE_PTR(*ret_err) : NULL;

			errf(r, ret_err, "%s; remove %s and %s.key to "
			    "reissue", m ? m : cname, cname, l->base);
			free(m);
			return r;
		}
		return 0;
	}
	if (p.kind == PKI_KIND_SERVER)
		server_lifetime(&p, san, o && o->server_secs ? 0 :
		    days_or(o ? o->server_days : 0, PKI_SERVER_DAYS),
		    o ? o->server_secs : 0);
	else
		p.days = days_or(o ? o->client_days : 0, PKI_CLIENT_DAYS);
	if ((r = key_generate(&key, ret_err)) < 0 ||
	    (r = cert_build(ca, ca_key, key, &p, &cert, ret_err)) < 0 ||
	    (r = write_pair(dfd, l->base, cert, key, ret_err)) < 0)
		return r;
	return 0;
}

int
pki_init_dir(const char *pkidir, const struct pki_init_options *o,
    char **ret_err)
{
	_cleanup_(X509_freep) X509		*ca = NULL;
	_cleanup_(X509_freep) X509		*server = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*ca_key = NULL;
	_cleanup_free_ char			*san = NULL;
	_cleanup_close_ int			 dfd = -1;
	size_t					 i;
	int					 r;

	if (o && ((r = validate_days("ca_days", o->ca_days, ret_err)) < 0 ||
	    (r = validate_days("server_days", o->server_days, ret_err)) < 0 ||
	    (r = validate_days("client_days", o->client_days, ret_err)) < 0 ||
	    (o->server_secs && (r = validate_server_secs(o->server_secs,
	    ret_err)) < 0)))
		return r;
	/* Validate the configured names before touching the disk. */
	if ((r = server_san(o, &san, ret_err)) < 0)
		return r;
	if ((r = crypto_policy_require(ret_err)) < 0)
		return r;
	if ((dfd = pki_open_dir(pkidir, true, ret_err)) < 0)
		return dfd;
	if ((r = pki_lock(dfd, LOCK_EX, pkidir, ret_err)) < 0)
		return r;
	if (fchmod(dfd, 0700) < 0)
		return errf(-errno, ret_err, "%s: chmod: %s", pkidir,
		    strerror(errno));
	if ((r = stale_temps_remove(dfd, ret_err)) < 0 ||
	    (r = pki_ca_ready(dfd, o, &ca, &ca_key, ret_err)) < 0)
		return r;
	if ((r = drop_stale_server(dfd, san, &server, ret_err)) < 0)
		return r;
	for (i = 0; i < ELEMENTSOF(pki_leaves); i++)
		if ((r = pki_leaf_ready(dfd, o, &pki_leaves[i], ca, ca_key, san,
		    strcmp(pki_leaves[i].base, "server") == 0 ? &server : NULL,
		    ret_err)) < 0)
			return r;
	return 0;
}

static int
serial_hex_of(const ASN1_INTEGER *ai, char *buf, char **ret_err)
{
	_cleanup_(BN_freep) BIGNUM	*bn = NULL;
	_cleanup_(openssl_freep) char	*hex = NULL;

	if (!ai || !(bn = ASN1_INTEGER_to_BN(ai, NULL)) ||
	    !(hex = BN_bn2hex(bn)))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "serial number");
	return pki_serial_normalize(hex, buf, ret_err);
}

static int
times_of(X509 *x, const char *name, struct pki_cert_times *ret,
    char **ret_err)
{
	struct pki_cert_times	t = { 0 };
	struct tm		nb, na;
	int			r;

	if (!ASN1_TIME_to_tm(X509_get0_notBefore(x), &nb) ||
	    !ASN1_TIME_to_tm(X509_get0_notAfter(x), &na))
		return crypto_errf(-BW_E_CORRUPT, ret_err, "%s: validity "
		    "dates", name);
	/* Every certificate of this PKI is backdated (cert_build()). */
	t.issued = timegm(&nb) + PKI_BACKDATE_SECS;
	t.not_after = timegm(&na);
	if ((r = serial_hex_of(X509_get0_serialNumber(x), t.serial_hex,
	    ret_err)) < 0)
		return r;
	*ret = t;
	return 0;
}

int
pki_cert_times(const char *pkidir, const char *name,
    struct pki_cert_times *ret, char **ret_err)
{
	_cleanup_(X509_freep) X509	*x = NULL;
	_cleanup_close_ int		 dfd = -1;
	int				 r;

	if ((dfd = pki_open_dir(pkidir, false, ret_err)) < 0)
		return dfd;
	if ((r = load_cert_at(dfd, name, &x, ret_err)) < 0)
		return r;
	return times_of(x, name, ret, ret_err);
}

/* PKIDIR, existing, under its exclusive lock once the crypto policy is
 * in force: a descriptor or a negative error. */
static int
open_locked(const char *pkidir, char **ret_err)
{
	int dfd, r;

	if ((r = crypto_policy_require(ret_err)) < 0)
		return r;
	if ((dfd = pki_open_dir(pkidir, false, ret_err)) < 0)
		return dfd;
	if ((r = pki_lock(dfd, LOCK_EX, pkidir, ret_err)) < 0) {
		close(dfd);
		return r;
	}
	return dfd;
}

int
pki_renew_server(const char *pkidir, EVP_PKEY *ca_key,
    const struct pki_init_options *o, unsigned lifetime_secs,
    struct pki_cert_times *ret, char **ret_err)
{
	_cleanup_(X509_freep) X509		*ca = NULL, *cert = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	_cleanup_free_ char			*san = NULL;
	_cleanup_close_ int			 dfd = -1;
	struct pki_cert_times			 t;
	/* As pki_init_dir() issues it (pki_leaves[0] is the server). */
	struct pki_profile p = {
		.kind = PKI_KIND_SERVER, .cn = pki_leaves[0].cn,
		.o = PKI_SYSTEM_TENANT, .ou = pki_leaves[0].ou,
	};
	int	r;

	if ((r = validate_server_secs(lifetime_secs, ret_err)) < 0)
		return r;
	if (!ca_key)
		return errf(-BW_E_INVALID, ret_err, "no CA key");
	if ((r = server_san(o, &san, ret_err)) < 0 ||
	    (r = dfd = open_locked(pkidir, ret_err)) < 0 ||
	    (r = load_cert_at(dfd, "ca.crt", &ca, ret_err)) < 0)
		return r;
	if (X509_check_private_key(ca, ca_key) != 1)
		return crypto_errf(-BW_E_CORRUPT, ret_err,
		    "the CA key does not match ca.crt");
	server_lifetime(&p, san, 0, lifetime_secs);
	if (o && o->server_custody)
		r = o->server_custody->create(o->server_custody->ctx, &key,
		    ret_err);
	else
		r = key_generate(&key, ret_err);
	if (r < 0 || (r = cert_build(ca, ca_key, key, &p, &cert, ret_err)) < 0)
		return r;
	if ((r = server_cert_check(ca, cert, &t, ret_err)) < 0)
		return errf_wrap(r, ret_err, "%u seconds", lifetime_secs);
	/* Only now does the new key replace the current one. */
	if (o && o->server_custody) {
		if ((r = o->server_custody->keep(o->server_custody->ctx,
		    ret_err)) < 0)
			return r;
		r = write_cert_at(dfd, "server.crt", cert, ret_err);
	}
	else if (unlinkat(dfd, "server.crt", 0) < 0 && errno != ENOENT)
		r = errf(-errno, ret_err, "server.crt: %s", strerror(errno));
	else
		r = write_pair(dfd, "server", cert, key, ret_err);
	if (r < 0)
		return r;
	if (ret)
		*ret = t;
	return 0;
}

/* Checks the subject fields of a client certificate. */
static int
check_client_subject(const char *name, const char *tenant, const char *role,
    char **ret_err)
{
	int r;

	if ((r = pki_check_name("name", name, ret_err)) < 0 ||
	    (r = pki_check_name("tenant", tenant, ret_err)) < 0 ||
	    (r = pki_check_role(tenant, role, ret_err)) < 0)
		return r;
	return 0;
}

/* Issues a certificate for SUBJECT_KEY (a new key when NULL) with
 * profile P under CA/CA_KEY, refusing one that would outlive the CA
 * (FIELD, VALUE and UNIT name the requested lifetime in the message).
 * Each of *RET_CERT_PEM, *RET_KEY_PEM (only for a new key) and
 * *RET_SERIAL_HEX is set when not NULL; the caller frees them. */
static int
issue_signed(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *subject_key,
    const struct pki_profile *p, const char *field, unsigned value,
    const char *unit, char **ret_cert_pem, char **ret_key_pem,
    char **ret_serial_hex, char **ret_err)
{
	_cleanup_(X509_freep) X509		*cert = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	_cleanup_free_ char			*cpem = NULL, *serial = NULL;
	_cleanup_secret_ char			*kpem = NULL;
	int					 r;

	if (!subject_key) {
		if ((r = key_generate(&key, ret_err)) < 0)
			return r;
		subject_key = key;
	}
	if ((r = cert_build(ca, ca_key, subject_key, p, &cert, ret_err)) < 0)
		return r;
	/* A certificate that outlives its CA would fail verification
	 * later for a reason nobody would guess. */
	if (ASN1_TIME_compare(X509_get0_notAfter(cert),
	    X509_get0_notAfter(ca)) > 0)
		return errf(-BW_E_INVALID, ret_err, "%s: %u%s would outlive "
		    "the CA certificate", field, value, unit);
	if (!(serial = malloc(PKI_SERIAL_HEX_MAX + 1)))
		return -ENOMEM;
	if ((r = serial_hex_of(X509_get0_serialNumber(cert), serial,
	    ret_err)) < 0)
		return r;
	if ((r = cert_pem(cert, &cpem)) < 0 ||
	    (key && (r = key_pem(key, &kpem)) < 0))
		return crypto_errf(r, ret_err, "encoding %s", p->cn);
	if (ret_cert_pem)
		*ret_cert_pem = TAKE_PTR(cpem);
	if (ret_key_pem)
		*ret_key_pem = TAKE_PTR(kpem);
	if (ret_serial_hex)
		*ret_serial_hex = TAKE_PTR(serial);
	return 0;
}

int
pki_issue_client(const char *pkidir, const char *name, const char *tenant,
    const char *role, unsigned days, EVP_PKEY *subject_key,
    char **ret_cert_pem, char **ret_key_pem, char **ret_serial_hex,
    char **ret_err)
{
	_cleanup_(X509_freep) X509		*ca = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*ca_key = NULL;
	_cleanup_close_ int			 dfd = -1;
	struct pki_profile p = {
		.kind = PKI_KIND_CLIENT, .cn = name, .o = tenant, .ou = role,
		.days = days,
	};
	int	r;

	if ((r = check_client_subject(name, tenant, role, ret_err)) < 0)
		return r;
	if (days < 1 || days > PKI_MAX_DAYS)
		return errf(-BW_E_INVALID, ret_err,
		    "days: must be 1..%d, not %u", PKI_MAX_DAYS, days);
	if ((r = crypto_policy_require(ret_err)) < 0)
		return r;
	if ((dfd = pki_open_dir(pkidir, false, ret_err)) < 0)
		return dfd;
	if ((r = pair_load(dfd, "ca", NULL, &ca, &ca_key, ret_err)) < 0)
		return r;
	return issue_signed(ca, ca_key, subject_key, &p, "days", days, "",
	    ret_cert_pem, ret_key_pem, ret_serial_hex, ret_err);
}

int
pki_issue_for_key(const char *pkidir, EVP_PKEY *ca_key, const char *name,
    const char *tenant, const char *role, EVP_PKEY *subject_key,
    unsigned lifetime_secs, char **ret_cert_pem, char **ret_key_pem,
    char **ret_serial_hex, char **ret_err)
{
	_cleanup_(X509_freep) X509		*ca = NULL;
	_cleanup_close_ int			 dfd = -1;
	struct pki_profile p = {
		.kind = PKI_KIND_CLIENT, .cn = name, .o = tenant, .ou = role,
		.days = lifetime_secs / 86400, .secs = lifetime_secs % 86400,
	};
	int	r;

	if ((r = check_client_subject(name, tenant, role, ret_err)) < 0)
		return r;
	if (lifetime_secs < 60 || lifetime_secs > PKI_MAX_DAYS * 86400u)
		return errf(-BW_E_INVALID, ret_err, "lifetime: must be 60..%u "
		    "seconds, not %u", PKI_MAX_DAYS * 86400u, lifetime_secs);
	if (!ca_key)
		return errf(-BW_E_INVALID, ret_err, "no CA key");
	if ((dfd = pki_open_dir(pkidir, false, ret_err)) < 0)
		return dfd;
	if ((r = load_cert_at(dfd, "ca.crt", &ca, ret_err)) < 0)
		return r;
	if (X509_check_private_key(ca, ca_key) != 1)
		return crypto_errf(-BW_E_CORRUPT, ret_err,
		    "the CA key does not match ca.crt");
	return issue_signed(ca, ca_key, subject_key, &p, "lifetime",
	    lifetime_secs, " seconds", ret_cert_pem, ret_key_pem,
	    ret_serial_hex, ret_err);
}

/* Copies the single NID entry of N into BUF (SIZE bytes) as UTF-8. */
static int
name_entry(const X509_NAME *n, int nid, char *buf, size_t size)
{
	_cleanup_(openssl_freep) char	*utf8 = NULL;
	const X509_NAME_ENTRY		*e;
	int				 idx, len;

	idx = X509_NAME_get_index_by_NID(n, nid, -1);
	if (idx < 0 || X509_NAME_get_index_by_NID(n, nid, idx) >= 0)
		return -BW_E_UNAUTH;
	if (!(e = X509_NAME_get_entry(n, idx)))
		return -BW_E_UNAUTH;
	len = ASN1_STRING_to_UTF8((unsigned char **)&utf8,
	    X509_NAME_ENTRY_get_data(e));
	/* An embedded NUL would let "admin\0x" pass as "admin". */
	if (len < 0 || (size_t)len >= size || strlen(utf8) != (size_t)len)
		return -BW_E_UNAUTH;
	memcpy(buf, utf8, (size_t)len + 1);
	return 0;
}

int
pki_peer_identity(X509 *cert, struct pki_identity *ret)
{
	struct pki_identity	 id = { 0 };
	const X509_NAME		*subj;
	struct tm		 tm;

	if (!cert || !(subj = X509_get_subject_name(cert)))
		return -BW_E_UNAUTH;
	if (name_entry(subj, NID_commonName, id.principal,
	    sizeof(id.principal)) < 0 ||
	    name_entry(subj, NID_organizationName, id.tenant,
	    sizeof(id.tenant)) < 0 ||
	    name_entry(subj, NID_organizationalUnitName, id.role,
	    sizeof(id.role)) < 0)
		return -BW_E_UNAUTH;
	if (pki_check_name("name", id.principal, NULL) < 0 ||
	    pki_check_name("tenant", id.tenant, NULL) < 0 ||
	    pki_check_role(id.tenant, id.role, NULL) < 0)
		return -BW_E_UNAUTH;
	if (serial_hex_of(X509_get0_serialNumber(cert), id.serial_hex,
	    NULL) < 0)
		return -BW_E_UNAUTH;
	if (!ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm))
		return -BW_E_UNAUTH;
	id.not_after = timegm(&tm);
	ERR_clear_error();
	*ret = id;
	return 0;
}

int
pki_ssl_identity(SSL *ssl, struct pki_identity *ret)
{
	X509 *peer;

	/* With SSL_VERIFY_PEER a presented certificate that fails
	 * verification already aborts the handshake; the result check
	 * keeps this true for a context configured some other way. */
	if (!ssl || !(peer = SSL_get0_peer_certificate(ssl)) ||
	    SSL_get_verify_result(ssl) != X509_V_OK)
		return -BW_E_UNAUTH;
	return pki_peer_identity(peer, ret);
}

int
pki_serial_normalize(const char *serial_hex, char *buf, char **ret_err)
{
	const char	*p = serial_hex;
	size_t		 n = 0;

	if (!p || !*p)
		return errf(-BW_E_INVALID, ret_err,
		    "serial: must not be empty");
	while (*p == '0' && p[1])
		p++;
	for (; *p; p++) {
		if (!isxdigit((unsigned char)*p))
			return errf(-BW_E_INVALID, ret_err, "serial: character "
			    "at position %zu is not a hex digit",
			    (size_t)(p - serial_hex) + 1);
		if (n == PKI_SERIAL_HEX_MAX)
			return errf(-BW_E_INVALID, ret_err, "serial: longer "
			    "than %d hex digits", PKI_SERIAL_HEX_MAX);
		buf[n++] = (char)tolower((unsigned char)*p);
	}
	buf[n] = '\0';
	return 0;
}

typedef char pki_serial_t[PKI_SERIAL_HEX_MAX + 1];

struct pki_revoked {
	pthread_rwlock_t	 lock;
	pki_serial_t		*serials;	/* sorted, unique */
	size_t			 n;
};

static int
serial_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Parses the text of a revoked file into a sorted, unique array. */
static int
revoked_parse(const char *text, pki_serial_t **ret, size_t *ret_n,
    char **ret_err)
{
	_cleanup_free_ pki_serial_t	*v = NULL;
	size_t				 n = 0, cap = 0, lineno = 0, i, j;
	const char			*line = text, *end;
	int				 r;

	for (; *line; line = *end ? end + 1 : end) {
		char	tmp[128];
		size_t	len;
		char	*s, *e;

		lineno++;
		end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		len = (size_t)(end - line);
		if (len >= sizeof(tmp))
			return errf(-BW_E_CORRUPT, ret_err, "%s:%zu: line too "
			    "long", PKI_REVOKED_FILE, lineno);
		memcpy(tmp, line, len);
		tmp[len] = '\0';
		for (s = tmp; *s == ' ' || *s == '\t'; s++)
			;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' ||
		    e[-1] == '\r'))
			*--e = '\0';
		if (*s == '\0' || *s == '#')
			continue;
		if (n == PKI_REVOKED_MAX)
			return errf(-BW_E_TOOLARGE, ret_err, "%s: more than %d "
			    "serials", PKI_REVOKED_FILE, PKI_REVOKED_MAX);
		if (n == cap) {
			pki_serial_t *nv;

			cap = cap ? cap * 2 : 64;
			if (!(nv = reallocarray(v, cap, sizeof(*v))))
				return -ENOMEM;
			v = nv;
		}
		if ((r = pki_serial_normalize(s, v[n], NULL)) < 0)
			return errf(-BW_E_CORRUPT, ret_err, "%s:%zu: not a hex "
			    "serial of at most %d digits", PKI_REVOKED_FILE,
			    lineno, PKI_SERIAL_HEX_MAX);
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), serial_cmp);
	for (i = j = 0; i < n; i++)
		if (j == 0 || strcmp(v[j - 1], v[i]) != 0)
			memmove(v[j++], v[i], sizeof(*v));
	*ret = TAKE_PTR(v);
	*ret_n = j;
	return 0;
}

static int
revoked_read(int dfd, char **ret_text, char **ret_err)
{
	int r;

	r = read_file_at(dfd, PKI_REVOKED_FILE, PKI_REVOKED_FILE_MAX, ret_text,
	    NULL);
	if (r == -ENOENT) {
		if (!(*ret_text = strdup("")))
			return -ENOMEM;
		return 0;
	}
	if (r == -EFBIG)
		return errf(-BW_E_TOOLARGE, ret_err, "%s: larger than %zu "
		    "bytes", PKI_REVOKED_FILE, PKI_REVOKED_FILE_MAX);
	if (r < 0)
		return errf(r, ret_err, "%s: %s", PKI_REVOKED_FILE,
		    bw_strerror(r));
	return 0;
}

static int
revoked_load_arrays(const char *pkidir, pki_serial_t **ret, size_t *ret_n,
    char **ret_err)
{
	_cleanup_close_ int	 dfd = -1;
	_cleanup_free_ char	*text = NULL;
	int			 r;

	if ((dfd = pki_open_dir(pkidir, false, ret_err)) < 0)
		return dfd;
	if ((r = revoked_read(dfd, &text, ret_err)) < 0)
		return r;
	return revoked_parse(text, ret, ret_n, ret_err);
}

int
pki_revoked_load(const char *pkidir, struct pki_revoked **ret,
    char **ret_err)
{
	_cleanup_free_ struct pki_revoked	*set = NULL;
	int					 r;

	if (!(set = calloc(1, sizeof(*set))))
		return -ENOMEM;
	if ((r = revoked_load_arrays(pkidir, &set->serials, &set->n,
	    ret_err)) < 0)
		return r;
	if ((r = pthread_rwlock_init(&set->lock, NULL)) != 0) {
		free(set->serials);
		return -r;
	}
	*ret = TAKE_PTR(set);
	return 0;
}

int
pki_revoked_reload(struct pki_revoked *set, const char *pkidir,
    char **ret_err)
{
	pki_serial_t	*v = NULL, *old;
	size_t		 n;
	int		 r;

	if ((r = revoked_load_arrays(pkidir, &v, &n, ret_err)) < 0)
		return r;
	if ((r = pthread_rwlock_wrlock(&set->lock)) != 0) {
		free(v);
		return -r;
	}
	old = set->serials;
	set->serials = v;
	set->n = n;
	pthread_rwlock_unlock(&set->lock);
	free(old);
	return 0;
}

void
pki_revoked_free(struct pki_revoked *set)
{
	if (!set)
		return;
	pthread_rwlock_destroy(&set->lock);
	free(set->serials);
	free(set);
}

size_t
pki_revoked_count(struct pki_revoked *set)
{
	size_t n;

	if (!set || pthread_rwlock_rdlock(&set->lock) != 0)
		return 0;
	n = set->n;
	pthread_rwlock_unlock(&set->lock);
	return n;
}

bool
pki_is_revoked(struct pki_revoked *set, const char *serial_hex)
{
	pki_serial_t	key;
	bool		found;

	if (pki_serial_normalize(serial_hex, key, NULL) < 0)
		return true;
	if (!set)
		return false;
	if (pthread_rwlock_rdlock(&set->lock) != 0)
		return true;
	found = set->n && bsearch(key, set->serials, set->n,
	    sizeof(*set->serials), serial_cmp) != NULL;
	pthread_rwlock_unlock(&set->lock);
	return found;
}

int
pki_revoke(const char *pkidir, const char *serial_hex, char **ret_err)
{
	_cleanup_free_ pki_serial_t	*v = NULL;
	_cleanup_free_ char		*text = NULL, *out = NULL;
	_cleanup_close_ int		 dfd = -1;
	pki_serial_t			 key;
	size_t				 n, len;
	int				 r;

	if ((r = pki_serial_normalize(serial_hex, key, ret_err)) < 0)
		return r;
	if ((dfd = pki_open_dir(pkidir, false, ret_err)) < 0)
		return dfd;
	if ((r = pki_lock(dfd, LOCK_EX, pkidir, ret_err)) < 0)
		return r;
	if ((r = revoked_read(dfd, &text, ret_err)) < 0)
		return r;
	/* Never append to a file we could not read back. */
	if ((r = revoked_parse(text, &v, &n, ret_err)) < 0)
		return r;
	if (n && bsearch(key, v, n, sizeof(*v), serial_cmp))
		return 0;
	if (n >= PKI_REVOKED_MAX)
		return errf(-BW_E_TOOLARGE, ret_err, "%s: already %d serials",
		    PKI_REVOKED_FILE, PKI_REVOKED_MAX);
	len = strlen(text);
	if (asprintf(&out, "%s%s%s\n", text,
	    len && text[len - 1] != '\n' ? "\n" : "", key) < 0) {
		out = NULL;
		return -ENOMEM;
	}
	if ((r = write_file_atomic_at(dfd, PKI_REVOKED_FILE, out, strlen(out),
	    0644)) < 0)
		return errf(r, ret_err, "%s: %s", PKI_REVOKED_FILE,
		    bw_strerror(r));
	return 0;
}

static pthread_once_t	revoked_idx_once = PTHREAD_ONCE_INIT;
static int		revoked_idx = -1;

static void
revoked_idx_init(void)
{
	revoked_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* Runs after OpenSSL's own checks: refuses any certificate of the
 * client's chain whose serial is in the set. */
static int
revoked_verify_cb(int ok, X509_STORE_CTX *sctx)
{
	struct pki_revoked	*set;
	SSL			*ssl;
	X509			*cert;
	pki_serial_t		 serial;

	if (!ok)
		return 0;
	ssl = X509_STORE_CTX_get_ex_data(sctx,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	cert = X509_STORE_CTX_get_current_cert(sctx);
	if (!ssl || !cert)
		return 0;
	set = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), revoked_idx);
	if (serial_hex_of(X509_get0_serialNumber(cert), serial, NULL) < 0 ||
	    pki_is_revoked(set, serial)) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_CERT_REVOKED);
		return 0;
	}
	return 1;
}

int
pki_revoked_attach(SSL_CTX *ctx, struct pki_revoked *set)
{
	if (!ctx || !set || pthread_once(&revoked_idx_once,
	    revoked_idx_init) != 0 || revoked_idx < 0)
		return -BW_E_CRYPTO;
	if (!SSL_CTX_set_ex_data(ctx, revoked_idx, set))
		return -BW_E_CRYPTO;
	SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx),
	    revoked_verify_cb);
	return 0;
}

/* Keys a principal may hold: the curves and sizes the TLS policy
 * accepts from clients. */
static int
csr_key_acceptable(EVP_PKEY *key, char **ret_err)
{
	static const char *const curves[] = { "prime256v1", "secp384r1",
		"secp521r1", "P-256", "P-384", "P-521" };
	char	group[64];
	size_t	i, glen = 0;

	if (EVP_PKEY_is_a(key, "EC")) {
		if (EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) == 1)
			for (i = 0; i < ELEMENTSOF(curves); i++)
				if (strcmp(group, curves[i]) == 0)
					return 0;
		return errf(-BW_E_INVALID, ret_err, "csr: EC key on curve "
		    "\"%.40s\": must be P-256, P-384 or P-521",
		    glen ? group : "?");
	}
	if (EVP_PKEY_is_a(key, "RSA")) {
		if (EVP_PKEY_get_bits(key) >= 3072)
			return 0;
		return errf(-BW_E_INVALID, ret_err, "csr: RSA key of %d bits: "
		    "must be at least 3072", EVP_PKEY_get_bits(key));
	}
	return errf(-BW_E_INVALID, ret_err, "csr: key type %.40s: must be EC "
	    "(P-256, P-384, P-521) or RSA (3072 bits or more)",
	    EVP_PKEY_get0_type_name(key) ?: "unknown");
}

int
pki_csr_public_key(const char *pem, size_t len, EVP_PKEY **ret_key,
    char **ret_err)
{
	_cleanup_(BIO_freep) BIO		*bio = NULL;
	_cleanup_(X509_REQ_freep) X509_REQ	*req = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	int					 r;

	if (!pem || len == 0 || len > PKI_CSR_MAX)
		return errf(-BW_E_INVALID, ret_err, "csr: must be a PEM "
		    "certificate signing request of 1..%d bytes", PKI_CSR_MAX);
	if ((r = crypto_policy_require(ret_err)) < 0)
		return r;
	if (!(bio = BIO_new_mem_buf(pem, (int)len)))
		return -ENOMEM;
	if (!(req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL)))
		return crypto_errf(-BW_E_INVALID, ret_err, "csr: not a PEM "
		    "certificate signing request");
	if (!(key = X509_REQ_get_pubkey(req)))
		return crypto_errf(-BW_E_INVALID, ret_err, "csr: no usable "
		    "public key");
	/* The signature proves the requester holds the private key. */
	if (X509_REQ_verify(req, key) != 1)
		return crypto_errf(-BW_E_INVALID, ret_err, "csr: the "
		    "self-signature does not verify");
	if ((r = csr_key_acceptable(key, ret_err)) < 0)
		return r;
	ERR_clear_error();
	*ret_key = TAKE_PTR(key);
	return 0;
}

int
pki_key_new(EVP_PKEY **ret_key, char **ret_key_pem, char **ret_err)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	_cleanup_secret_ char			*kpem = NULL;
	int					 r;

	if ((r = crypto_policy_require(ret_err)) < 0)
		return r;
	if ((r = key_generate(&key, ret_err)) < 0)
		return r;
	if ((r = key_pem(key, &kpem)) < 0)
		return crypto_errf(r, ret_err, "encoding the key");
	*ret_key = TAKE_PTR(key);
	*ret_key_pem = TAKE_PTR(kpem);
	return 0;
}

int
pki_csr_build(EVP_PKEY *key, const char *cn, char **ret_csr_pem,
    char **ret_err)
{
	_cleanup_(X509_REQ_freep) X509_REQ	*req = NULL;
	_cleanup_(BIO_freep) BIO		*bio = NULL;
	X509_NAME				*n;
	char					*data, *s;
	long					 len;

	if (!(req = X509_REQ_new()) || !X509_REQ_set_version(req, 0) ||
	    !(n = X509_REQ_get_subject_name(req)) ||
	    name_add(n, "CN", cn) < 0 || !X509_REQ_set_pubkey(req, key) ||
	    X509_REQ_sign(req, key, EVP_sha384()) <= 0)
		return crypto_errf(-BW_E_CRYPTO, ret_err, "building a CSR for %s",
		    cn);
	if (!(bio = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509_REQ(bio, req))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "encoding the CSR");
	len = BIO_get_mem_data(bio, &data);
	if (len <= 0 || !(s = strndup(data, (size_t)len)))
		return -ENOMEM;
	*ret_csr_pem = s;
	return 0;
}
