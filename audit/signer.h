/* Checkpoint signers. A checkpoint signs SHA-384 of its own line up to
 * " sig=" with ECDSA P-384; the signer only sees that digest, so a TPM
 * key can replace the software key without changing the format. */
#ifndef BW_AUDIT_SIGNER_H
#define BW_AUDIT_SIGNER_H

#include <stddef.h>

#include <openssl/evp.h>

#include "audit/record.h"

struct audit_signer {
	/* Signs DLEN bytes of DIGEST; *RET_SIG (DER, caller frees with
	 * free()) and its length. Returns 0 or a negative error. */
	int	(*sign)(void *ctx, const unsigned char *digest, size_t dlen,
		    unsigned char **ret_sig, size_t *ret_siglen);
	EVP_PKEY *pubkey;	/* the key verifiers anchor to */
	void	 *ctx;
};

/* Loads the ECDSA P-384 private key at KEYPATH (PEM; refused unless
 * mode 0600 or stricter), or creates it with mode 0600 when it does not
 * exist. *RET is freed with audit_signer_free(). Returns 0 or a negative
 * error with a message in *RET_ERR. */
int audit_signer_software_load_or_create(const char *keypath,
    struct audit_signer **ret, char **ret_err);

/* Frees a signer made by audit_signer_software_load_or_create(); the
 * private key is wiped by OpenSSL's free. Accepts NULL. */
void audit_signer_free(struct audit_signer *s);

/* The key id written in checkpoints: lowercase hex SHA-256 of the DER
 * SubjectPublicKeyInfo of KEY. Returns 0 or -BW_E_CRYPTO. */
int audit_key_id(EVP_PKEY *key, char ret_hex[AUDIT_HASH_HEX + 1]);

/* Loads a PEM public key (or a private key, whose public half is used)
 * from PATH. Returns 0 or a negative error with *RET_ERR. */
int audit_pubkey_load(const char *path, EVP_PKEY **ret, char **ret_err);

/* The most checkpoint keys a trail or a key file may name: each key
 * change of an appliance adds one. */
#define AUDIT_KEYS_MAX	16

/* Loads every PEM public key in the PEM text PEM (LEN bytes): a key
 * bundle, newest key first, as a trail's checkpoint-key.pem holds after
 * a key change. Each must be ECDSA P-384. *RET_KEYS (array and keys) is
 * freed with audit_pubkeys_free(). Returns 0 with at least one key, or
 * a negative error with a message in *RET_ERR naming WHAT. */
int audit_pubkeys_parse(const char *pem, size_t len, const char *what,
    EVP_PKEY ***ret_keys, size_t *ret_n, char **ret_err);
/* The same from the file PATH. */
int audit_pubkeys_load(const char *path, EVP_PKEY ***ret_keys, size_t *ret_n,
    char **ret_err);
void audit_pubkeys_free(EVP_PKEY **keys, size_t n);

/* PEM SubjectPublicKeyInfo of KEY in an allocated string. */
int audit_pubkey_pem(EVP_PKEY *key, char **ret_pem, size_t *ret_len);

/* Returns 1 when SIG is KEY's ECDSA signature over SHA-384 of MSG. */
int audit_checkpoint_sig_ok(EVP_PKEY *key, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen);

/* Signs MSG as a checkpoint with S: hashes it with SHA-384 and calls
 * S->sign. Returns 0 or a negative error. */
int audit_checkpoint_sign(const struct audit_signer *s, const void *msg,
    size_t len, unsigned char **ret_sig, size_t *ret_siglen);

#endif
