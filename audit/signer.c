#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "audit/signer.h"
#include "hardening/crypto.h"
#include "lib/b64.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"

#define KEY_PEM_MAX	(64 * 1024)

static int
software_sign(void *ctx, const unsigned char *digest, size_t dlen,
    unsigned char **ret_sig, size_t *ret_siglen)
{
	int r;

	/* Checkpoints are signed over SHA-384 (audit_checkpoint_sign). */
	r = crypto_sign_digest(ctx, "SHA384", CRYPTO_SIG_PKCS1, digest, dlen,
	    ret_sig, ret_siglen, NULL);
	return r == -ENOMEM ? r : r < 0 ? -BW_E_CRYPTO : 0;
}

static int
is_p384(EVP_PKEY *k)
{
	char	group[64];
	size_t	gl = 0;

	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC)
		return 0;
	if (!EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), &gl))
		return 0;
	return strcmp(group, "secp384r1") == 0;
}

static int
key_create(const char *keypath, EVP_PKEY **ret, char **ret_err)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
	_cleanup_(BIO_freep) BIO *bio = NULL;
	_cleanup_free_ char *dir = NULL, *base = NULL;
	_cleanup_close_ int dfd = -1;
	char	*pem;
	long	 n;
	int	 r;

	if (!(k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384")))
		return errf(-BW_E_CRYPTO, ret_err, "%s: ECDSA P-384 key generation failed",
		    keypath);
	if (!(bio = BIO_new(BIO_s_secmem())) ||
	    !PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL))
		return errf(-BW_E_CRYPTO, ret_err, "%s: cannot encode key", keypath);
	n = BIO_get_mem_data(bio, &pem);
	if (!(dir = strdup(keypath)) || !(base = strdup(keypath)))
		return -ENOMEM;
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errf(-errno, ret_err, "%s: %m", dir);
	r = write_file_atomic_at(dfd, basename(base), pem, (size_t)n, 0600);
	/* The secure-heap BIO wipes the PEM copy when it is freed. */
	if (r < 0)
		return errf(r, ret_err, "%s: cannot write key: %s", keypath,
		    bw_strerror(r));
	*ret = TAKE_PTR(k);
	return 0;
}

static int
key_load(const char *keypath, EVP_PKEY **ret, char **ret_err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_(BIO_freep) BIO *bio = NULL;
	EVP_PKEY	*k;
	struct stat	 st;
	char		*pem = NULL;
	size_t		 len = 0;
	int		 r;

	if ((fd = open(keypath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return errf(-errno, ret_err, "%s: %m", keypath);
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077))
		return errf(-BW_E_INVALID, ret_err,
		    "%s: audit signing key must be a regular file with mode 0600",
		    keypath);
	if ((r = read_bounded(fd, KEY_PEM_MAX, &pem, &len)) < 0)
		return errf(r, ret_err, "%s: %s", keypath, bw_strerror(r));
	bio = BIO_new_mem_buf(pem, (int)len);
	k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	OPENSSL_clear_free(pem, len);
	if (!k)
		return errf(-BW_E_CRYPTO, ret_err, "%s: not a PEM private key",
		    keypath);
	if (!is_p384(k)) {
		EVP_PKEY_free(k);
		return errf(-BW_E_CRYPTO, ret_err, "%s: not an ECDSA P-384 key",
		    keypath);
	}
	*ret = k;
	return 0;
}

int
audit_signer_software_load_or_create(const char *keypath,
    struct audit_signer **ret, char **ret_err)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
	struct audit_signer *s;
	int r;

	r = key_load(keypath, &k, ret_err);
	if (r == -ENOENT)
		r = key_create(keypath, &k, ret_err);
	else if (r < 0 && ret_err && !*ret_err)
		r = errf_wrap(r, ret_err, "%s", keypath);
	if (r < 0)
		return r;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->sign = software_sign;
	s->ctx = k;
	s->pubkey = TAKE_PTR(k);
	*ret = s;
	return 0;
}

void
audit_signer_free(struct audit_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->pubkey);
	free(s);
}

int
audit_key_id(EVP_PKEY *key, char ret_hex[AUDIT_HASH_HEX + 1])
{
	unsigned char	*der = NULL, h[AUDIT_HASH_LEN];
	int		 n, r;

	if ((n = i2d_PUBKEY(key, &der)) <= 0)
		return -BW_E_CRYPTO;
	r = audit_sha256(der, (size_t)n, h);
	OPENSSL_free(der);
	if (r < 0)
		return r;
	hex_encode(h, sizeof(h), ret_hex);
	return 0;
}

/* One key from the PEM text PEM (LEN bytes): a public key, or the
 * public half of a private key. WHAT names it in errors. */
static int
pubkey_parse_one(const char *pem, size_t len, const char *what, EVP_PKEY **ret,
    char **ret_err)
{
	_cleanup_(BIO_freep) BIO *bio = NULL;
	EVP_PKEY	*k;

	if (len > INT_MAX || !(bio = BIO_new_mem_buf(pem, (int)len)))
		return -ENOMEM;
	k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!k) {
		BIO_free(bio);
		if (!(bio = BIO_new_mem_buf(pem, (int)len)))
			return -ENOMEM;
		k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	}
	ERR_clear_error();
	if (!k)
		return errf(-BW_E_CRYPTO, ret_err, "%s: not a PEM public key", what);
	if (!is_p384(k)) {
		EVP_PKEY_free(k);
		return errf(-BW_E_CRYPTO, ret_err, "%s: not an ECDSA P-384 key", what);
	}
	*ret = k;
	return 0;
}

int
audit_pubkey_load(const char *path, EVP_PKEY **ret, char **ret_err)
{
	_cleanup_free_ char	*pem = NULL;
	size_t			 len;
	int			 r;

	if ((r = read_file_at(AT_FDCWD, path, KEY_PEM_MAX, &pem, &len)) < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	r = pubkey_parse_one(pem, len, path, ret, ret_err);
	OPENSSL_cleanse(pem, len);	/* it may have held a private key */
	return r;
}

int
audit_pubkeys_parse(const char *pem, size_t len, const char *what,
    EVP_PKEY ***ret_keys, size_t *ret_n, char **ret_err)
{
	_cleanup_(BIO_freep) BIO *bio = NULL;
	EVP_PKEY	**keys = NULL, *k;
	size_t		  n = 0;
	int		  r = 0;

	if (len > INT_MAX || !(bio = BIO_new_mem_buf(pem, (int)len)))
		return -ENOMEM;
	if (!(keys = calloc(AUDIT_KEYS_MAX, sizeof(*keys))))
		return -ENOMEM;
	while ((k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL))) {
		if (!is_p384(k)) {
			EVP_PKEY_free(k);
			r = errf(-BW_E_CRYPTO, ret_err, "%s: key %zu is not an "
			    "ECDSA P-384 key", what, n + 1);
			goto out;
		}
		if (n == AUDIT_KEYS_MAX) {
			EVP_PKEY_free(k);
			r = errf(-BW_E_INVALID, ret_err, "%s: more than %d keys",
			    what, AUDIT_KEYS_MAX);
			goto out;
		}
		keys[n++] = k;
	}
	/* The loop ends on the first block that is not a public key: the
	 * end of the text, or something else (refused below when nothing
	 * was read). */
	ERR_clear_error();
	if (n == 0) {
		r = errf(-BW_E_CRYPTO, ret_err, "%s: no PEM public key", what);
		goto out;
	}
	*ret_keys = TAKE_PTR(keys);
	*ret_n = n;
out:
	if (keys)
		audit_pubkeys_free(keys, n);
	return r;
}

int
audit_pubkeys_load(const char *path, EVP_PKEY ***ret_keys, size_t *ret_n,
    char **ret_err)
{
	_cleanup_free_ char	*pem = NULL;
	size_t			 len;
	int			 r;

	if ((r = read_file_at(AT_FDCWD, path, KEY_PEM_MAX, &pem, &len)) < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	if (audit_pubkeys_parse(pem, len, path, ret_keys, ret_n, NULL) == 0)
		goto out;
	/* One key, perhaps a private key (its public half), or an error
	 * that names the problem. */
	if (!(*ret_keys = calloc(1, sizeof(**ret_keys)))) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = pubkey_parse_one(pem, len, path, &(*ret_keys)[0], ret_err)) < 0) {
		free(*ret_keys);
		*ret_keys = NULL;
		goto out;
	}
	*ret_n = 1;
out:
	OPENSSL_cleanse(pem, len);
	return r;
}

void
audit_pubkeys_free(EVP_PKEY **keys, size_t n)
{
	if (!keys)
		return;
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(keys[i]);
	free(keys);
}

int
audit_pubkey_pem(EVP_PKEY *key, char **ret_pem, size_t *ret_len)
{
	_cleanup_(BIO_freep) BIO *bio = NULL;
	char	*p, *copy;
	long	 n;

	if (!(bio = BIO_new(BIO_s_mem())) || !PEM_write_bio_PUBKEY(bio, key))
		return -BW_E_CRYPTO;
	n = BIO_get_mem_data(bio, &p);
	if (n <= 0 || !(copy = malloc((size_t)n + 1)))
		return -ENOMEM;
	memcpy(copy, p, (size_t)n);
	copy[n] = '\0';
	*ret_pem = copy;
	*ret_len = (size_t)n;
	return 0;
}

int
audit_checkpoint_sig_ok(EVP_PKEY *key, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen)
{
	unsigned char	d[48];

	if (audit_sha384(msg, len, d) < 0)
		return 0;
	return crypto_verify_digest(key, "SHA384", CRYPTO_SIG_PKCS1, d,
	    sizeof(d), sig, siglen, NULL) == 0;
}

int
audit_checkpoint_sign(const struct audit_signer *s, const void *msg,
    size_t len, unsigned char **ret_sig, size_t *ret_siglen)
{
	unsigned char	d[48];
	int		r;

	if ((r = audit_sha384(msg, len, d)) < 0)
		return r;
	return s->sign(s->ctx, d, sizeof(d), ret_sig, ret_siglen);
}
