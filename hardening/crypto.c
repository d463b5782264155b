#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "hardening/crypto.h"
#include "lib/err.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"

/* SP 800-131A Rev 2 and FIPS 180-4: SHA-1 is disallowed for signatures
 * and we do not keep it for anything else; SHA-224 and SHA-3 are
 * approved but nothing here needs them. */
static const char *const approved_md[] = {
	"SHA2-256", "SHA2-384", "SHA2-512",
};
#define APPROVED_MD_TEXT	"SHA-256, SHA-384 or SHA-512"

/* The property query for this process's fetches, and the mode name
 * for refusals. */
static const char *
policy_propq(const char **ret_mode)
{
	struct crypto_status st;

	/* A failed init still fills st: FIPS present but not default
	 * reports approved-only mode, and fetches stay unrestricted by
	 * properties but restricted by our allow-lists. */
	(void)crypto_policy_init(&st);
	if (ret_mode)
		*ret_mode = crypto_policy_mode(&st);
	return crypto_policy_propq(&st);
}

static bool
md_approved(const EVP_MD *md)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(approved_md); i++)
		if (EVP_MD_is_a(md, approved_md[i]))
			return true;
	return false;
}

int
crypto_md_fetch(const char *name, EVP_MD **ret, char **ret_err)
{
	_cleanup_(EVP_MD_freep) EVP_MD *md = NULL;
	const char	*mode, *propq = policy_propq(&mode);

	if (!name)
		return errf(-BW_E_INVALID, ret_err, "digest: no name given");
	md = EVP_MD_fetch(NULL, name, propq);
	ERR_clear_error();
	/* An unknown name and one the FIPS provider does not offer are
	 * refused the same way as a known disallowed one. */
	if (!md || !md_approved(md))
		return errf(-BW_E_INVALID, ret_err, "digest %s: refused by the "
		    "crypto policy (%s): only %s is approved", name, mode,
		    APPROVED_MD_TEXT);
	*ret = TAKE_PTR(md);
	return 0;
}

/* Fetches NAME like crypto_md_fetch() and checks that its output fits
 * in OUTSIZE bytes. */
static int
md_fetch_for(const char *name, size_t outsize, EVP_MD **ret, char **ret_err)
{
	_cleanup_(EVP_MD_freep) EVP_MD *md = NULL;
	int r;

	if ((r = crypto_md_fetch(name, &md, ret_err)) < 0)
		return r;
	if ((size_t)EVP_MD_get_size(md) > outsize)
		return errf(-BW_E_INVALID, ret_err, "digest %s: %d bytes do "
		    "not fit in %zu", name, EVP_MD_get_size(md), outsize);
	*ret = TAKE_PTR(md);
	return 0;
}

int
crypto_digest(const char *name, const void *data, size_t len,
    unsigned char *out, size_t outsize, size_t *ret_len, char **ret_err)
{
	_cleanup_(EVP_MD_freep) EVP_MD *md = NULL;
	unsigned int	 n = 0;
	int		 r;

	if ((r = md_fetch_for(name, outsize, &md, ret_err)) < 0)
		return r;
	if (!EVP_Digest(data, len, out, &n, md, NULL))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "digest %s", name);
	if (ret_len)
		*ret_len = n;
	return 0;
}

int
crypto_hmac(const char *md_name, const void *key, size_t klen,
    const void *data, size_t len, unsigned char *out, size_t outsize,
    size_t *ret_len, char **ret_err)
{
	_cleanup_(EVP_MD_freep) EVP_MD *md = NULL;
	size_t		 n = 0;
	int		 r;

	if ((r = md_fetch_for(md_name, outsize, &md, ret_err)) < 0)
		return errf_wrap(r, ret_err, "HMAC");
	if (!EVP_Q_mac(NULL, "HMAC", policy_propq(NULL), EVP_MD_get0_name(md),
	    NULL, key, klen, data, len, out, outsize, &n))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "HMAC-%s", md_name);
	if (ret_len)
		*ret_len = n;
	return 0;
}

int
crypto_key_check(const EVP_PKEY *key, char **ret_err)
{
	char	group[64];
	size_t	gl = 0;
	int	bits;

	if (!key)
		return errf(-BW_E_INVALID, ret_err, "key: none given");
	bits = EVP_PKEY_get_bits(key);
	if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS")) {
		if (bits < CRYPTO_RSA_MIN_BITS)
			return errf(-BW_E_INVALID, ret_err, "RSA key of %d "
			    "bits: refused by the crypto policy: at least %d "
			    "bits are required", bits, CRYPTO_RSA_MIN_BITS);
		return 0;
	}
	if (EVP_PKEY_is_a(key, "EC")) {
		if (!EVP_PKEY_get_utf8_string_param(key,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &gl))
			return errf(-BW_E_INVALID, ret_err, "EC key: no named "
			    "curve: refused by the crypto policy");
		if (strcmp(group, "prime256v1") && strcmp(group, "secp384r1"))
			return errf(-BW_E_INVALID, ret_err, "EC key on %s: "
			    "refused by the crypto policy: only P-256 and "
			    "P-384 are allowed", group);
		return 0;
	}
	return errf(-BW_E_INVALID, ret_err, "%s key: refused by the crypto "
	    "policy: only RSA (>= %d bits) and ECDSA P-256/P-384 are allowed",
	    EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "?",
	    CRYPTO_RSA_MIN_BITS);
}

/* A signing or verifying context for KEY over a MD_NAME digest of
 * DLEN bytes, after every policy check. */
static int
sig_ctx(EVP_PKEY *key, const char *md_name, enum crypto_sig_pad pad,
    size_t dlen, bool sign, EVP_PKEY_CTX **ret, char **ret_err)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	_cleanup_(EVP_MD_freep) EVP_MD *md = NULL;
	bool	rsa;
	int	r;

	if ((r = crypto_md_fetch(md_name, &md, ret_err)) < 0)
		return errf_wrap(r, ret_err, "signature");
	if ((r = crypto_key_check(key, ret_err)) < 0)
		return r;
	if (dlen != (size_t)EVP_MD_get_size(md))
		return errf(-BW_E_INVALID, ret_err, "signature: %zu-byte "
		    "digest for %s", dlen, md_name);
	if (pad != CRYPTO_SIG_PKCS1 && pad != CRYPTO_SIG_PSS)
		return errf(-BW_E_INVALID, ret_err, "signature: unknown "
		    "padding %d", (int)pad);
	rsa = EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS");
	if (!(ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key,
	    policy_propq(NULL))) ||
	    (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0)
		return crypto_errf(-BW_E_CRYPTO, ret_err, "signature context");
	if (rsa && (EVP_PKEY_CTX_set_rsa_padding(ctx, pad == CRYPTO_SIG_PSS ?
	    RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) <= 0 ||
	    (pad == CRYPTO_SIG_PSS && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx,
	    RSA_PSS_SALTLEN_DIGEST) <= 0)))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "RSA padding");
	*ret = TAKE_PTR(ctx);
	return 0;
}

int
crypto_sign_digest(EVP_PKEY *key, const char *md_name,
    enum crypto_sig_pad pad, const unsigned char *d, size_t dlen,
    unsigned char **ret_sig, size_t *ret_siglen, char **ret_err)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	_cleanup_free_ unsigned char *sig = NULL;
	size_t	siglen = 0;
	int	r;

	if ((r = sig_ctx(key, md_name, pad, dlen, true, &ctx, ret_err)) < 0)
		return r;
	if (EVP_PKEY_sign(ctx, NULL, &siglen, d, dlen) <= 0)
		return crypto_errf(-BW_E_CRYPTO, ret_err, "signing");
	if (!(sig = malloc(siglen)))
		return -ENOMEM;
	if (EVP_PKEY_sign(ctx, sig, &siglen, d, dlen) <= 0)
		return crypto_errf(-BW_E_CRYPTO, ret_err, "signing");
	*ret_sig = TAKE_PTR(sig);
	*ret_siglen = siglen;
	return 0;
}

int
crypto_verify_digest(EVP_PKEY *key, const char *md_name,
    enum crypto_sig_pad pad, const unsigned char *d, size_t dlen,
    const unsigned char *sig, size_t siglen, char **ret_err)
{
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	int	ok, r;

	if ((r = sig_ctx(key, md_name, pad, dlen, false, &ctx, ret_err)) < 0)
		return r;
	/* A malformed signature (-1) and a wrong one (0) mean the same to
	 * every caller. */
	ok = EVP_PKEY_verify(ctx, sig, siglen, d, dlen) == 1;
	ERR_clear_error();
	if (!ok)
		return errf(-BW_E_DENIED, ret_err, "signature does not verify");
	return 0;
}

/* Hashes MSG with MD_NAME, then signs it into *RET_SIG and *RET_SIGLEN when
 * SIGN, else verifies SIG/SIGLEN over it. */
static int
msg_sign_verify(bool sign, EVP_PKEY *key, const char *md_name,
    enum crypto_sig_pad pad, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen, unsigned char **ret_sig,
    size_t *ret_siglen, char **ret_err)
{
	unsigned char	d[EVP_MAX_MD_SIZE];
	size_t		dlen;
	int		r;

	if ((r = crypto_digest(md_name, msg, len, d, sizeof(d), &dlen,
	    ret_err)) < 0)
		return errf_wrap(r, ret_err, "signature");
	if (sign)
		return crypto_sign_digest(key, md_name, pad, d, dlen, ret_sig,
		    ret_siglen, ret_err);
	return crypto_verify_digest(key, md_name, pad, d, dlen, sig, siglen,
	    ret_err);
}

int
crypto_sign(EVP_PKEY *key, const char *md_name, enum crypto_sig_pad pad,
    const void *msg, size_t len, unsigned char **ret_sig, size_t *ret_siglen,
    char **ret_err)
{
	return msg_sign_verify(true, key, md_name, pad, msg, len, NULL, 0,
	    ret_sig, ret_siglen, ret_err);
}

int
crypto_verify(EVP_PKEY *key, const char *md_name, enum crypto_sig_pad pad,
    const void *msg, size_t len, const unsigned char *sig, size_t siglen,
    char **ret_err)
{
	return msg_sign_verify(false, key, md_name, pad, msg, len, sig, siglen,
	    NULL, NULL, ret_err);
}
/* The approved ciphers by canonical name: AES in GCM, CCM, CTR, CBC or
 * CFB. An exact list, because OpenSSL's AES-*-CBC family also holds
 * stitched ciphers with SHA-1 MACs (AES-128-CBC-HMAC-SHA1) and
 * ciphertext-stealing variants that report the same mode. */
static bool
cipher_approved(const char *canon)
{
	static const char *const sizes[] = { "128", "192", "256" };
	static const char *const modes[] = { "GCM", "CCM", "CTR", "CBC",
	    "CFB", "CFB1", "CFB8" };
	char	name[32];
	size_t	i, j;

	for (i = 0; i < ELEMENTSOF(sizes); i++)
		for (j = 0; j < ELEMENTSOF(modes); j++) {
			snprintf(name, sizeof(name), "AES-%s-%s", sizes[i],
			    modes[j]);
			if (strcasecmp(canon, name) == 0)
				return true;
		}
	return false;
}


int
crypto_cipher_fetch(const char *name, EVP_CIPHER **ret, char **ret_err)
{
	EVP_CIPHER	*c;
	const char	*mode, *propq = policy_propq(&mode), *canon;
	bool		 ok = false;

	if (!name)
		return errf(-BW_E_INVALID, ret_err, "cipher: no name given");
	c = EVP_CIPHER_fetch(NULL, name, propq);
	ERR_clear_error();
	if (c) {
		/* Judge the canonical name, so aliases ("id-aes256-GCM")
		 * and case do not matter. */
		canon = EVP_CIPHER_get0_name(c);
		ok = canon && cipher_approved(canon);
	}
	if (!ok) {
		EVP_CIPHER_free(c);
		return errf(-BW_E_INVALID, ret_err, "cipher %s: refused by the "
		    "crypto policy (%s): only AES in GCM, CCM, CTR, CBC or CFB "
		    "mode is approved", name, mode);
	}
	*ret = c;
	return 0;
}
