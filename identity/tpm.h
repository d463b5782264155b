/* TPM-rooted identity on tpm2-tss ESAPI, without a resource manager:
 * works on swtpm ("swtpm:host=127.0.0.1,port=P") and on a kernel
 * resource manager ("device:/dev/tpmrm0"). Every transient object and
 * session this module creates is flushed before the call returns, except
 * the one salted HMAC session a context keeps open (flushed by
 * tpm_close()).
 *
 * Key hierarchy (docs/identity.md):
 *   owner:       SRK  ECC P-256 storage primary, persisted at TPM_SRK_HANDLE;
 *                     salts every session and parents sealed objects
 *                Signer ECC P-384 (P-256 if the TPM lacks P-384) signing key
 *                     under the SRK, persisted at TPM_SIGNER_HANDLE_DEFAULT
 *   endorsement: EK   TCG template L-2 (ECC P-256), recreated on demand
 *                AK   ECC P-256 restricted signing primary, persisted at
 *                     TPM_AK_HANDLE_DEFAULT
 * Secrets cross the TPM bus only under parameter encryption (AES-128-CFB
 * sessions salted to the SRK). Library code: never logs. */
#ifndef BW_TPM_H
#define BW_TPM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "identity/attest.h"

#define TPM_SRK_HANDLE			0x81000001u
#define TPM_SIGNER_HANDLE_DEFAULT	0x81000100u
#define TPM_AK_HANDLE_DEFAULT		0x81010100u

/* The PCR bulwarkd extends with SHA-256 of its configuration: 13 is
 * neither resettable from software (16, 23) nor used by firmware, GRUB,
 * shim or IMA on a GRUB-booted appliance (docs/identity.md). */
#define TPM_BULWARK_PCR			13
#define TPM_SEAL_PCRS_DEFAULT \
	((1u << 0) | (1u << 2) | (1u << 4) | (1u << 7) | (1u << TPM_BULWARK_PCR))
#define TPM_SEAL_MAX			128	/* TPM MAX_SYM_DATA */

struct tpm;
struct tpm_signer;

/* Connects through the TCTI string TCTI (NULL: tctildr default), makes
 * sure the SRK exists at TPM_SRK_HANDLE and starts a salted, encrypting
 * HMAC session. *ret_tpm is freed with tpm_close(). Returns 0,
 * -BW_E_UNAVAILABLE (no TPM at TCTI) or -BW_E_CRYPTO, with *ret_err. */
int tpm_open(const char *tcti, struct tpm **ret_tpm, char **ret_err);

/* Flushes the session, releases handles and closes the TCTI. NULL ok. */
void tpm_close(struct tpm *tpm);

/* Marshalled TPM2B_PUBLIC of the endorsement key (TCG ECC P-256 EK
 * template, so it matches an EK certificate for that template) into
 * *ret_pub (caller frees). Returns 0 or a negative error. */
int tpm_ek_public(struct tpm *tpm, unsigned char **ret_pub, size_t *ret_len,
    char **ret_err);

/* Makes sure the Attestation Key exists at persistent HANDLE, creating
 * and persisting it on first use; refuses a key at HANDLE that is not a
 * restricted signing key. When RET_PUB is not NULL, sets it to the
 * marshalled TPM2B_PUBLIC (caller frees; attest_pub_to_pem() gives PEM).
 * Returns 1 if created now, 0 if it existed, or a negative error. */
int tpm_ak_ensure(struct tpm *tpm, uint32_t handle, unsigned char **ret_pub,
    size_t *ret_len, char **ret_err);

/* Reads the SHA-256 values of the PCRs in MASK into *ret_pcrs. */
int tpm_pcr_read(struct tpm *tpm, uint32_t mask, struct attest_pcrs *ret_pcrs,
    char **ret_err);

/* Extends SHA-256 bank of PCR with DIGEST. */
int tpm_pcr_extend(struct tpm *tpm, unsigned pcr,
    const unsigned char digest[ATTEST_PCR_DIGEST_LEN], char **ret_err);

/* Measures a configuration into PCR once per boot: extends SHA-256(CFG)
 * if PCR is still zero (returns 1), does nothing if PCR already holds
 * exactly that one measurement (returns 0, a daemon restart). If PCR
 * holds anything else it still extends, so the PCR can never again match
 * a golden value this boot, and returns -BW_E_CONFLICT. */
int tpm_pcr_measure_config(struct tpm *tpm, unsigned pcr, const void *cfg,
    size_t len, char **ret_err);

/* Quotes the PCRs in MASK with the AK at AK_HANDLE over NONCE (1..64
 * bytes). *ret_quote (caller frees) carries the signed attestation, the
 * signature and the PCR values, for attest_quote_verify(). */
int tpm_quote(struct tpm *tpm, uint32_t ak_handle, uint32_t mask,
    const unsigned char *nonce, size_t nlen, unsigned char **ret_quote,
    size_t *ret_len, char **ret_err);

/* Seals SECRET (1..TPM_SEAL_MAX bytes) under the SRK to a PolicyPCR over
 * the PCRs and values of POLICY (use tpm_pcr_read() for the current
 * ones, attest_pcr_predict_extend() for planned ones). *ret_blob (caller
 * frees) holds the sealed object (its private part encrypted by the TPM)
 * and POLICY's values, so tpm_unseal() can name PCRs that changed. */
int tpm_seal(struct tpm *tpm, const struct attest_pcrs *policy,
    const void *secret, size_t len, unsigned char **ret_blob,
    size_t *ret_len, char **ret_err);

/* Unseals BLOB into *ret_secret (free with tpm_secret_free()). If the
 * PCRs differ from those at seal time returns -BW_E_DENIED and a message
 * naming them ("sealed to PCRs 0,2,4,7,13; PCR 13 changed since"). */
int tpm_unseal(struct tpm *tpm, const unsigned char *blob, size_t len,
    unsigned char **ret_secret, size_t *ret_len, char **ret_err);

/* Planned update: unseals BLOB (the PCRs must still match) and seals the
 * same secret to NEW_POLICY, into *ret_blob. The secret is held only
 * in mlocked memory, wiped before return. Auditing is the caller's. */
int tpm_reseal(struct tpm *tpm, const unsigned char *blob, size_t len,
    const struct attest_pcrs *new_policy, unsigned char **ret_blob,
    size_t *ret_len, char **ret_err);

/* Wipes and frees a secret returned by this module. NULL ok. */
void tpm_secret_free(unsigned char *secret, size_t len);

/* TPM2_ActivateCredential of a blob from attest_make_credential() with
 * the AK at AK_HANDLE and this TPM's EK: *ret_secret (free with
 * tpm_secret_free()). Fails with -BW_E_DENIED when the credential was
 * made for another TPM's EK or another AK. */
int tpm_activate_credential(struct tpm *tpm, uint32_t ak_handle,
    const unsigned char *blob, size_t len, unsigned char **ret_secret,
    size_t *ret_len, char **ret_err);

/* Makes sure a signing key exists at persistent HANDLE (created under
 * the SRK on first use: ECC P-384, or P-256 where the TPM lacks P-384)
 * and returns a signer bound to TPM (which must outlive it). */
int tpm_signer_open(struct tpm *tpm, uint32_t handle,
    struct tpm_signer **ret_signer, char **ret_err);
void tpm_signer_free(struct tpm_signer *s);

/* Creates a signing key under the SRK (the curve tpm_signer_open()
 * picks) without persisting it: *ret_blob (caller frees) holds its public
 * part and its private part wrapped by the SRK, which only this TPM can
 * load; no clear private key exists outside the TPM. */
int tpm_key_create(struct tpm *tpm, unsigned char **ret_blob,
    size_t *ret_len, char **ret_err);

/* A signer for a key of tpm_key_create(): checks the blob loads under
 * this TPM's SRK; each tpm_sign_digest() loads it, signs and flushes. */
int tpm_signer_open_blob(struct tpm *tpm, const unsigned char *blob,
    size_t len, struct tpm_signer **ret_signer, char **ret_err);

/* Curve of the signer: "P-384" or "P-256". */
const char *tpm_signer_curve(const struct tpm_signer *s);

/* PEM SubjectPublicKeyInfo of the signer key into *ret_pem (caller frees). */
int tpm_signer_public_pem(struct tpm_signer *s, char **ret_pem, char **ret_err);

/* struct audit_signer sign function; CTX is a struct tpm_signer. Signs
 * DIGEST (32, 48 or 64 bytes: SHA-256/384/512) with ECDSA in the TPM and
 * returns in *ret_sig (caller frees with free()) a DER ECDSA-Sig-Value
 * that EVP_DigestVerify / ECDSA_do_verify accept. Returns 0, -EINVAL or
 * -BW_E_CRYPTO. */
int tpm_sign_digest(void *ctx, const unsigned char *digest, size_t dlen,
    unsigned char **ret_sig, size_t *ret_siglen);

/* Counts transient objects and sessions loaded in the TPM (leak checks). */
int tpm_loaded_handles(struct tpm *tpm, unsigned *ret_transient,
    unsigned *ret_sessions);

/* Dictionary-attack state (TPM2_GetCapability of TPM2_PT_PERMANENT,
 * TPM2_PT_STARTUP_CLEAR and TPM2_PT_LOCKOUT_*). RECOVERS_IN_S and
 * CLEARS_IN_S are upper bounds (the TPM does not say how far into the
 * current self-healing interval it is); UINT32_MAX: never by itself
 * (lockout interval 0). */
struct tpm_da_status {
	int		in_lockout;	/* TPMA_PERMANENT inLockout */
	int		orderly;	/* the last stop was TPM2_Shutdown */
	uint32_t	counter;	/* TPM2_PT_LOCKOUT_COUNTER */
	uint32_t	max_tries;	/* TPM2_PT_MAX_AUTH_FAIL */
	uint32_t	interval_s;	/* TPM2_PT_LOCKOUT_INTERVAL */
	uint32_t	recovery_s;	/* TPM2_PT_LOCKOUT_RECOVERY */
	uint32_t	recovers_in_s;	/* until out of lockout; 0: not in it */
	uint32_t	clears_in_s;	/* until the counter is back at 0 */
};

/* Reads the TPM's dictionary-attack state into *RET. Needs no
 * authorization, so it works in lockout. Returns 0 or -BW_E_CRYPTO. */
int tpm_da_status(struct tpm *tpm, struct tpm_da_status *ret,
    char **ret_err);

/* S as a JSON object (new reference, NULL on ENOMEM): in_lockout,
 * counter, max_tries, interval_seconds, recovery_seconds,
 * orderly_last_stop, and when in lockout recovers_in_seconds and
 * recovers_by (RFC 3339, from NOW in unix seconds). */
json_t *tpm_da_status_json(const struct tpm_da_status *s, long long now);

/* One sentence for logs and error messages into BUF; snprintf's return. */
int tpm_da_status_describe(const struct tpm_da_status *s, char *buf,
    size_t len);

/* 1 if the persistent object at HANDLE is subject to dictionary-attack
 * protection (made without noDA by an older version), 0 if it carries
 * noDA or is absent, or a negative error. */
int tpm_key_da_protected(struct tpm *tpm, uint32_t handle, char **ret_err);

/* TPM2_Shutdown(TPM2_SU_STATE) on the TPM at TCTI, without starting any
 * session: what the owner of a TPM that is about to stop (a swtpm
 * process) sends so the next TPM2_Startup finds an orderly shutdown.
 * The TPM must have no other client (swtpm serves one connection).
 * Returns 0, -BW_E_UNAVAILABLE or -BW_E_CRYPTO with *RET_ERR. */
int tpm_shutdown(const char *tcti, char **ret_err);

/* Erases the persistent object at HANDLE (tests, decommissioning). */
int tpm_evict(struct tpm *tpm, uint32_t handle, char **ret_err);

static inline void
tpm_closep(struct tpm **p)
{
	tpm_close(*p);
}

#endif
