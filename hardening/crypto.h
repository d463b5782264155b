/* The one door to cryptographic algorithms: digests, HMAC, signatures
 * and symmetric ciphers are fetched here, with "fips=yes" when the
 * OpenSSL FIPS provider is active (crypto_policy_init()) and from an
 * allow-list of approved algorithms in either mode. Refused in both
 * modes, with an error naming the algorithm and the policy: MD5, SHA-1
 * (digests, HMAC and signatures), RSA keys under 2048 bits, curves
 * other than P-256/P-384, and ChaCha20. TLS contexts come from
 * crypto-policy.h, whose suites follow the same rules. */
#ifndef BW_CRYPTO_H
#define BW_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "hardening/crypto-policy.h"

/* Smallest RSA modulus the policy accepts (SP 800-131A Rev 2). */
#define CRYPTO_RSA_MIN_BITS	2048

/* How an RSA key signs; ignored for ECDSA keys. */
enum crypto_sig_pad {
	CRYPTO_SIG_PKCS1,	/* RSASSA-PKCS1-v1_5 */
	CRYPTO_SIG_PSS,		/* RSASSA-PSS, salt = digest length */
};

/* Fetches the approved digest NAME ("SHA256", "SHA2-384", "SHA-512"
 * ...) into *RET (free with EVP_MD_free). Anything but SHA-256/384/512
 * fails with -BW_E_INVALID and a message naming NAME and the policy. */
int crypto_md_fetch(const char *name, EVP_MD **ret, char **ret_err);

/* Digest of DATA (LEN bytes) with NAME into OUT (OUTSIZE bytes;
 * EVP_MAX_MD_SIZE always suffices); *RET_LEN (may be NULL) gets its
 * length. Errors as crypto_md_fetch(), or -BW_E_INVALID when OUTSIZE is
 * too small. */
int crypto_digest(const char *name, const void *data, size_t len,
    unsigned char *out, size_t outsize, size_t *ret_len, char **ret_err);

/* HMAC with the approved digest MD_NAME of DATA under KEY into OUT
 * (OUTSIZE bytes, as crypto_digest()); *RET_LEN (may be NULL) gets its
 * length. */
int crypto_hmac(const char *md_name, const void *key, size_t klen,
    const void *data, size_t len, unsigned char *out, size_t outsize,
    size_t *ret_len, char **ret_err);

/* Checks that KEY may sign or verify under the policy: RSA of at least
 * CRYPTO_RSA_MIN_BITS bits or EC on P-256/P-384. Returns 0 or
 * -BW_E_INVALID with the reason. */
int crypto_key_check(const EVP_PKEY *key, char **ret_err);

/* Signs the digest D (DLEN bytes, made with MD_NAME) with KEY. *RET_SIG
 * (free()) and *RET_SIGLEN are set on success. Refuses keys failing
 * crypto_key_check() and digests other than SHA-256/384/512. */
int crypto_sign_digest(EVP_PKEY *key, const char *md_name,
    enum crypto_sig_pad pad, const unsigned char *d, size_t dlen,
    unsigned char **ret_sig, size_t *ret_siglen, char **ret_err);

/* Verifies SIG over the digest D like crypto_sign_digest() signs it.
 * Returns 0 when it verifies, -BW_E_DENIED when it does not, or the
 * policy's -BW_E_INVALID. */
int crypto_verify_digest(EVP_PKEY *key, const char *md_name,
    enum crypto_sig_pad pad, const unsigned char *d, size_t dlen,
    const unsigned char *sig, size_t siglen, char **ret_err);

/* Hashes MSG with MD_NAME, then signs or verifies as above. */
int crypto_sign(EVP_PKEY *key, const char *md_name, enum crypto_sig_pad pad,
    const void *msg, size_t len, unsigned char **ret_sig, size_t *ret_siglen,
    char **ret_err);
int crypto_verify(EVP_PKEY *key, const char *md_name,
    enum crypto_sig_pad pad, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen, char **ret_err);

/* Fetches the symmetric cipher NAME into *RET (free with
 * EVP_CIPHER_free). Only AES (128/192/256) in GCM, CCM, CTR, CBC or CFB
 * mode is approved; ChaCha20 and everything else fail with
 * -BW_E_INVALID naming NAME and the policy. */
int crypto_cipher_fetch(const char *name, EVP_CIPHER **ret, char **ret_err);

#endif
