/* Verifier side of TPM attestation, in OpenSSL and TSS2 marshalling only
 * (no TPM needed): PCR sets and their composite digest, the PEM form of
 * a TPM public key, quote verification against an enrolled AK, a
 * one-shot nonce registry, and software TPM2_MakeCredential (TPM 2.0
 * Part 1 section 24) for credential activation. */
#ifndef BW_ATTEST_H
#define BW_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define ATTEST_PCR_COUNT	24
#define ATTEST_PCR_DIGEST_LEN	32	/* SHA-256 bank only */
#define ATTEST_NONCE_LEN	32
#define ATTEST_NONCE_MAX	64	/* TPM2B_DATA limit for qualifyingData */
#define ATTEST_CRED_SECRET_MAX	64	/* TPM2B_DIGEST limit for a credential */
#define ATTEST_BLOB_MAX		8192	/* bound on any serialized blob we parse */

/* A set of SHA-256 PCR values. Bit i of MASK selects PCR i; DIGEST[i] is
 * meaningful only for selected PCRs. */
struct attest_pcrs {
	uint32_t	mask;
	unsigned char	digest[ATTEST_PCR_COUNT][ATTEST_PCR_DIGEST_LEN];
};

/* Parses a comma separated PCR list ("0,2,4,7,13") into a mask. Returns 0
 * or -BW_E_INVALID with *ret_err set. */
int attest_pcr_mask_parse(const char *list, uint32_t *ret_mask, char **ret_err);

/* Formats MASK as "0,2,4" into BUF (at least 64 bytes). Returns BUF. */
char *attest_pcr_mask_format(uint32_t mask, char *buf, size_t len);

/* Composite digest of the selected PCRs of P: SHA-256 over the selected
 * values in ascending PCR order, as TPM2_Quote and TPM2_PolicyPCR compute
 * it. Returns 0 or -BW_E_CRYPTO. */
int attest_pcr_composite(const struct attest_pcrs *p,
    unsigned char ret_digest[ATTEST_PCR_DIGEST_LEN]);

/* Sets PCR of P to SHA-256(old || DIGEST), the value a TPM2_PCR_Extend of
 * DIGEST would produce, and selects it. Used to predict values for a
 * planned re-seal. Returns 0, -EINVAL or -BW_E_CRYPTO. */
int attest_pcr_predict_extend(struct attest_pcrs *p, unsigned pcr,
    const unsigned char digest[ATTEST_PCR_DIGEST_LEN]);

/* Writes into BUF (at least 128 bytes) the PCRs selected in both A and B
 * whose values differ, as "13" or "7,13". Returns how many differ. */
int attest_pcr_diff(const struct attest_pcrs *a, const struct attest_pcrs *b,
    char *buf, size_t len);

/* PCR values as JSON, {"0": "<64 hex>", "7": ...}: the form golden
 * values and quoted values take in the store and in evidence bundles.
 * attest_pcrs_to_json() returns a new reference (NULL on ENOMEM);
 * attest_pcrs_from_json() returns 0 or -BW_E_INVALID naming the bad
 * entry. */
json_t *attest_pcrs_to_json(const struct attest_pcrs *p);
int attest_pcrs_from_json(const json_t *o, struct attest_pcrs *ret,
    char **ret_err);

/* Converts a marshalled TPM2B_PUBLIC (ECC or RSA) into a PEM
 * SubjectPublicKeyInfo in *ret_pem (caller frees). Returns 0,
 * -BW_E_INVALID or -ENOMEM. */
int attest_pub_to_pem(const unsigned char *pub, size_t len, char **ret_pem,
    char **ret_err);

/* Checks that the marshalled TPM2B_PUBLIC PUB describes an attestation
 * key: restricted, signing, fixedTPM, fixedParent, sensitiveDataOrigin.
 * Returns 0 or -BW_E_INVALID with the reason. */
int attest_ak_check(const unsigned char *pub, size_t len, char **ret_err);

/* The fingerprint of an attestation key (PEM): SHA-256 of its DER
 * SubjectPublicKeyInfo as 64 lowercase hex digits, what
 * `openssl pkey -pubin -outform DER | sha256sum` prints. An assessor pins
 * it to require the same AK across bundles. Returns 0, -BW_E_INVALID or
 * -BW_E_CRYPTO. */
int attest_ak_fingerprint(const char *ak_pem, char ret_hex[65],
    char **ret_err);

/* Verifies a quote produced by tpm_quote(): the signature with the AK
 * public key AK_PEM, that the quote is a TPM-generated quote whose
 * extraData equals NONCE, that the PCR values carried with it hash to
 * the signed PCR digest and, when EXPECTED is not NULL, that they equal
 * EXPECTED (same selection). On success and when RET_PCRS is not NULL,
 * *ret_pcrs receives the quoted values. Returns 0, -BW_E_DENIED for a
 * quote that does not prove what is asked (message names which check
 * failed and which PCRs differ) or -BW_E_INVALID for a malformed quote. */
int attest_quote_verify(const char *ak_pem, const unsigned char *quote,
    size_t qlen, const unsigned char *nonce, size_t nlen,
    const struct attest_pcrs *expected, struct attest_pcrs *ret_pcrs,
    char **ret_err);

/* The same check on a quote in its standard parts, as tpm2_quote(1)
 * writes them: ATTEST the marshalled TPMS_ATTEST (the signed message),
 * SIG the marshalled TPMT_SIGNATURE, PCRS the values quoted. */
int attest_quote_verify_parts(const char *ak_pem, const unsigned char *attest,
    size_t alen, const unsigned char *sig, size_t slen,
    const struct attest_pcrs *pcrs, const unsigned char *nonce, size_t nlen,
    const struct attest_pcrs *expected, char **ret_err);

/* Splits a quote of tpm_quote() into those parts: *ret_attest and
 * *ret_sig (caller frees) and *ret_pcrs. Returns 0, -BW_E_INVALID for a
 * malformed blob, or -ENOMEM. */
int attest_quote_split(const unsigned char *quote, size_t qlen,
    unsigned char **ret_attest, size_t *ret_alen, unsigned char **ret_sig,
    size_t *ret_slen, struct attest_pcrs *ret_pcrs);

/* The TPM2_PolicyPCR policy digest of the PCR values P (from a zero
 * start, SHA-256), as tpm_seal() puts into a sealed object's authPolicy.
 * Returns 0 or -BW_E_CRYPTO. */
int attest_pcr_policy_digest(const struct attest_pcrs *p,
    unsigned char ret[ATTEST_PCR_DIGEST_LEN]);

/* The PCR values a sealed blob of tpm_seal() is sealed to (its policy),
 * read without a TPM and checked against the sealed object's authPolicy:
 * the stored values are outside the TPM's integrity protection, so only
 * values that hash to the authPolicy are returned. Returns 0,
 * -BW_E_INVALID (not a sealed blob) or -BW_E_CORRUPT (the stored values
 * do not match the authPolicy), with *ret_err set. */
int attest_sealed_policy(const unsigned char *blob, size_t len,
    struct attest_pcrs *ret_pcrs, char **ret_err);

/* Software TPM2_MakeCredential: wraps SECRET (1..64 bytes) so that only
 * the TPM holding the endorsement key EK_PUB (marshalled TPM2B_PUBLIC of
 * an ECC restricted decryption key, as tpm_ek_public() gives) can recover it, and only for the
 * object named by AK_PUB (marshalled TPM2B_PUBLIC, checked with
 * attest_ak_check()). *ret_blob (caller frees) is a serialized credential
 * for tpm_activate_credential(). Returns 0, -BW_E_INVALID or
 * -BW_E_CRYPTO. */
int attest_make_credential(const unsigned char *ek_pub, size_t ek_len,
    const unsigned char *ak_pub, size_t ak_len, const unsigned char *secret,
    size_t secret_len, unsigned char **ret_blob, size_t *ret_len,
    char **ret_err);

/* The quote qualifying data at enrolment: SHA-256("bulwark-enrol-v1" ||
 * NONCE || SHA-256(TLS_PUB_PEM)), binding the node's TLS key to its
 * quote. The agent quotes over it and the verifier recomputes it.
 * Returns 0, -ENOMEM or -BW_E_CRYPTO. */
int attest_qualifying_data(const unsigned char *nonce, size_t nlen,
    const char *tls_pub_pem, unsigned char ret[32]);

/* Registry of nonces issued to agents: each may be consumed once, within
 * TTL seconds of being issued, by the owner it was issued to (the node's
 * name). Bounded per owner: an owner's oldest live nonce makes room for
 * its next one (ATTEST_NONCES_PER_OWNER); one owner never evicts
 * another's, so when all CAPACITY slots hold other owners' live nonces,
 * issuing fails. */
struct attest_nonces;

#define ATTEST_NONCES_PER_OWNER	4
#define ATTEST_OWNER_MAX	64

/* Returns a registry or NULL on allocation failure. */
struct attest_nonces *attest_nonces_new(size_t capacity, unsigned ttl_sec);
void attest_nonces_free(struct attest_nonces *n);

/* Fills RET_NONCE with ATTEST_NONCE_LEN fresh random bytes and records
 * them for OWNER (1..ATTEST_OWNER_MAX-1 bytes). Returns 0, -BW_E_INVALID
 * for a bad owner, -BW_E_UNAVAILABLE when every slot holds another
 * owner's live nonce, or -BW_E_CRYPTO. */
int attest_nonce_issue(struct attest_nonces *n, const char *owner,
    unsigned char ret_nonce[ATTEST_NONCE_LEN]);

/* Consumes NONCE for OWNER: returns 0 once for a nonce issued to OWNER
 * and unexpired, -BW_E_DENIED afterwards (replay), for one never issued
 * or issued to another owner. */
int attest_nonce_consume(struct attest_nonces *n, const char *owner,
    const unsigned char *nonce, size_t len, char **ret_err);

#endif
