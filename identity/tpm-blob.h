/* Byte formats of what leaves the TPM library: quotes, sealed secrets,
 * wrapped keys and credentials. Each is a 4-byte magic naming kind and
 * version, then TSS2 marshalled structures and, where relevant, the PCR
 * set, so they travel as opaque base64 in JSON. Decoders reject trailing bytes and anything
 * over ATTEST_BLOB_MAX. Shared by tpm.c (producer) and attest.c
 * (verifier); not for other parts. */
#ifndef BW_TPM_BLOB_H
#define BW_TPM_BLOB_H

#include <stddef.h>

#include <tss2/tss2_tpm2_types.h>

#include "identity/attest.h"

/* All encoders set *ret (caller frees) and *ret_len and return 0 or
 * -ENOMEM / -BW_E_INVALID; decoders return 0 or -BW_E_INVALID. */
int tpm_blob_quote_encode(const TPM2B_ATTEST *att, const TPMT_SIGNATURE *sig,
    const struct attest_pcrs *pcrs, unsigned char **ret, size_t *ret_len);
int tpm_blob_quote_decode(const unsigned char *buf, size_t len,
    TPM2B_ATTEST *ret_att, TPMT_SIGNATURE *ret_sig,
    struct attest_pcrs *ret_pcrs);

int tpm_blob_sealed_encode(const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
    const struct attest_pcrs *pcrs, unsigned char **ret, size_t *ret_len);
int tpm_blob_sealed_decode(const unsigned char *buf, size_t len,
    TPM2B_PUBLIC *ret_pub, TPM2B_PRIVATE *ret_priv,
    struct attest_pcrs *ret_pcrs);

/* A key created under the SRK: its public part and its private part as
 * the TPM wraps it (only that TPM can load it). */
int tpm_blob_key_encode(const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
    unsigned char **ret, size_t *ret_len);
int tpm_blob_key_decode(const unsigned char *buf, size_t len,
    TPM2B_PUBLIC *ret_pub, TPM2B_PRIVATE *ret_priv);

int tpm_blob_cred_encode(const TPM2B_ID_OBJECT *id,
    const TPM2B_ENCRYPTED_SECRET *secret, unsigned char **ret,
    size_t *ret_len);
int tpm_blob_cred_decode(const unsigned char *buf, size_t len,
    TPM2B_ID_OBJECT *ret_id, TPM2B_ENCRYPTED_SECRET *ret_secret);

/* Marshals/unmarshals a TPM2B_PUBLIC as a whole buffer. */
int tpm_blob_pub_encode(const TPM2B_PUBLIC *pub, unsigned char **ret,
    size_t *ret_len);
int tpm_blob_pub_decode(const unsigned char *buf, size_t len,
    TPM2B_PUBLIC *ret_pub);

/* The SHA-256 PCR_Read/Quote selection for MASK. */
void tpm_blob_pcr_selection(uint32_t mask, TPML_PCR_SELECTION *ret_sel);

/* The mask of a single-bank SHA-256 selection, or -BW_E_INVALID for any
 * other bank or more than one bank. */
int tpm_blob_pcr_mask(const TPML_PCR_SELECTION *sel, uint32_t *ret_mask);

#endif
