/* An OpenSSL EVP_PKEY whose private operations are signatures made
 * elsewhere (in the TPM, through the caller's SIGN function), for TLS
 * contexts of a process that already holds the TPM's one connection:
 * swtpm serves one client at a time, so bulwarkd cannot open a second
 * one through the tpm2-openssl provider as bulwark-agent does.
 *
 * The key is an EC_KEY with the public point only and an EC_KEY_METHOD
 * whose ECDSA sign calls SIGN; OpenSSL 3 runs such a "foreign" key
 * through its legacy path, so libssl's handshake signatures reach SIGN.
 * Verification and everything public stay OpenSSL's. */
#ifndef BW_TPM_PKEY_H
#define BW_TPM_PKEY_H

#include <stddef.h>

#include <openssl/evp.h>

/* Signs DIGEST (32, 48 or 64 bytes) into *RET_SIG, a DER ECDSA-Sig-Value
 * (caller frees with free()); tpm_sign_digest()'s contract. */
typedef int (*tpm_pkey_sign_fn)(void *ctx, const unsigned char *digest,
    size_t dlen, unsigned char **ret_sig, size_t *ret_siglen);

/* A key for the EC public key PUB_PEM (PEM SubjectPublicKeyInfo) that
 * signs with SIGN(CTX, ...). The key owns CTX: FREE_CTX (may be NULL)
 * runs when the last reference to the key goes, also on failure here.
 * Returns 0 with *RET (EVP_PKEY_free) or a negative error with
 * *RET_ERR. */
int tpm_pkey_new(const char *pub_pem, tpm_pkey_sign_fn sign, void *ctx,
    void (*free_ctx)(void *ctx), EVP_PKEY **ret, char **ret_err);

#endif
