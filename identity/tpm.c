#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "hardening/crypto.h"
#include "identity/tpm-blob.h"
#include "identity/tpm.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"

#define TPM_TR_CACHE	8

struct tpm {
	TSS2_TCTI_CONTEXT	*tcti;
	ESYS_CONTEXT		*esys;
	ESYS_TR			 srk;	/* persistent: closed, never flushed */
	ESYS_TR			 hmac;	/* salted session, flushed at close */
	struct {
		uint32_t	 handle;
		ESYS_TR		 tr;
	} cache[TPM_TR_CACHE];
};

struct tpm_signer {
	struct tpm	*tpm;
	ESYS_TR		 key;	/* owned by tpm->cache; NONE: wrapped */
	TPM2B_PUBLIC	 pub;
	TPM2B_PRIVATE	 priv;	/* a wrapped key's private part */
};

/* AES-128-CFB parameter encryption for every session we start. */
static const TPMT_SYM_DEF session_sym = {
	.algorithm = TPM2_ALG_AES,
	.keyBits.aes = 128,
	.mode.aes = TPM2_ALG_CFB,
};

/* A restricted P-256 decryption key's parameters (the SRK and the EK):
 * AES-128-CFB for the objects it protects, no signing scheme. */
#define STORAGE_ECC_P256 {						\
	.symmetric = { .algorithm = TPM2_ALG_AES,			\
	    .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB },		\
	.scheme.scheme = TPM2_ALG_NULL,					\
	.curveID = TPM2_ECC_NIST_P256,					\
	.kdf.scheme = TPM2_ALG_NULL,					\
}

static const TPM2B_PUBLIC srk_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
		    TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
		.parameters.eccDetail = STORAGE_ECC_P256,
	},
};

/* TCG EK Credential Profile template L-2 (ECC NIST P-256): the EK this
 * produces is the one an EK certificate for that template certifies. */
static const TPM2B_PUBLIC ek_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
		    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
		.authPolicy = { .size = 32, .buffer = {
		    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8,
		    0x1A, 0x90, 0xCC, 0x8D, 0x46, 0xA5, 0xD7, 0x24,
		    0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52, 0x0B, 0x64,
		    0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA } },
		.parameters.eccDetail = STORAGE_ECC_P256,
		.unique.ecc = { .x.size = 32, .y.size = 32 },
	},
};

/* The AK and the signing keys carry noDA. Their authValue is empty, so
 * dictionary-attack protection guards no secret here; what it did do is
 * count every unclean stop of a TPM that had used them (a DA-protected
 * authorisation since the last orderly TPM2_Shutdown increments the
 * lockout counter at the next TPM2_Startup), until the TPM refused the
 * node's own keys. What protects them is access to the TPM itself
 * (docs/identity.md, "Dictionary-attack lockout"). */
static const TPM2B_PUBLIC ak_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
		    TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED |
		    TPMA_OBJECT_SIGN_ENCRYPT,
		.parameters.eccDetail = {
			.symmetric.algorithm = TPM2_ALG_NULL,
			.scheme = { .scheme = TPM2_ALG_ECDSA,
			    .details.ecdsa.hashAlg = TPM2_ALG_SHA256 },
			.curveID = TPM2_ECC_NIST_P256,
			.kdf.scheme = TPM2_ALG_NULL,
		},
	},
};

static const TPM2B_PUBLIC signer_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
		    TPMA_OBJECT_NODA | TPMA_OBJECT_SIGN_ENCRYPT,
		.parameters.eccDetail = {
			.symmetric.algorithm = TPM2_ALG_NULL,
			.scheme.scheme = TPM2_ALG_NULL,
			.curveID = TPM2_ECC_NIST_P384,
			.kdf.scheme = TPM2_ALG_NULL,
		},
	},
};

static int
tss_err(TSS2_RC rc, char **ret_err, const char *what)
{
	return errf(-BW_E_CRYPTO, ret_err, "TPM %s failed: 0x%x (%s)", what,
	    (unsigned)rc, Tss2_RC_Decode(rc));
}

/* Session attributes per command: the TPM refuses encrypt/decrypt on a
 * command whose first parameter is not a sized buffer, so each call asks
 * only for what it can use. */
static int
hmac_attrs(struct tpm *t, TPMA_SESSION attrs)
{
	TSS2_RC rc = Esys_TRSess_SetAttributes(t->esys, t->hmac,
	    attrs | TPMA_SESSION_CONTINUESESSION, 0xff);

	return rc == TSS2_RC_SUCCESS ? 0 : -BW_E_CRYPTO;
}

static void
flush(struct tpm *t, ESYS_TR *tr)
{
	if (*tr != ESYS_TR_NONE) {
		(void)Esys_FlushContext(t->esys, *tr);
		*tr = ESYS_TR_NONE;
	}
}

/* Lists up to COUNT handles from FIRST into *RET_CAP (free with
 * Esys_Free()). */
static int
get_handles(struct tpm *t, uint32_t first, uint32_t count,
    TPMS_CAPABILITY_DATA **ret_cap, char **ret_err)
{
	TPMI_YES_NO more;
	TSS2_RC rc;

	rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_HANDLES, first, count, &more, ret_cap);
	if (rc != TSS2_RC_SUCCESS)
		return tss_err(rc, ret_err, "GetCapability(handles)");
	return 0;
}

static int
persistent_exists(struct tpm *t, uint32_t handle, int *ret_exists,
    char **ret_err)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	int r;

	if ((r = get_handles(t, handle, 1, &cap, ret_err)) < 0)
		return r;
	*ret_exists = cap->data.handles.count > 0 &&
	    cap->data.handles.handle[0] == handle;
	Esys_Free(cap);
	return 0;
}

/* ESYS_TR of persistent HANDLE, cached for the life of the context. */
static int
persistent_tr(struct tpm *t, uint32_t handle, ESYS_TR *ret, char **ret_err)
{
	ESYS_TR tr = ESYS_TR_NONE;
	TSS2_RC rc;
	size_t i, slot;

	for (i = 0; i < TPM_TR_CACHE; i++)
		if (t->cache[i].handle == handle) {
			*ret = t->cache[i].tr;
			return 0;
		}
	rc = Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, &tr);
	if (rc != TSS2_RC_SUCCESS)
		return errf(-BW_E_NOTFOUND, ret_err,
		    "TPM: no usable object at persistent handle 0x%08x (0x%x)",
		    handle, (unsigned)rc);
	for (slot = 0; slot < TPM_TR_CACHE; slot++)
		if (t->cache[slot].handle == 0)
			break;
	/* Entries are never evicted: signers keep pointers to them. */
	if (slot == TPM_TR_CACHE) {
		(void)Esys_TR_Close(t->esys, &tr);
		return errf(-ENOSPC, ret_err,
		    "TPM: more than %d persistent objects in use", TPM_TR_CACHE);
	}
	t->cache[slot].handle = handle;
	t->cache[slot].tr = tr;
	*ret = tr;
	return 0;
}

static int
read_public(struct tpm *t, ESYS_TR tr, TPM2B_PUBLIC *ret_pub, char **ret_err)
{
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_NAME *name = NULL, *qname = NULL;
	TSS2_RC rc;

	rc = Esys_ReadPublic(t->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, &pub, &name, &qname);
	if (rc != TSS2_RC_SUCCESS)
		return tss_err(rc, ret_err, "ReadPublic");
	*ret_pub = *pub;
	Esys_Free(pub);
	Esys_Free(name);
	Esys_Free(qname);
	return 0;
}

/* Moves the transient object *TR to persistent HANDLE and flushes it. */
static int
persist(struct tpm *t, ESYS_TR *tr, uint32_t handle, ESYS_TR session,
    char **ret_err)
{
	ESYS_TR ptr = ESYS_TR_NONE;
	TSS2_RC rc;

	rc = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, *tr, session,
	    ESYS_TR_NONE, ESYS_TR_NONE, handle, &ptr);
	flush(t, tr);
	if (rc != TSS2_RC_SUCCESS)
		return tss_err(rc, ret_err, "EvictControl");
	(void)Esys_TR_Close(t->esys, &ptr);
	return 0;
}

static int
create_primary(struct tpm *t, ESYS_TR hierarchy, ESYS_TR session,
    const TPM2B_PUBLIC *tmpl, ESYS_TR *ret_tr, TPM2B_PUBLIC *ret_pub,
    char **ret_err)
{
	const TPM2B_SENSITIVE_CREATE sens = { .size = 0 };
	const TPM2B_DATA outside = { .size = 0 };
	const TPML_PCR_SELECTION none = { .count = 0 };
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_CREATION_DATA *cd = NULL;
	TPM2B_DIGEST *ch = NULL;
	TPMT_TK_CREATION *ct = NULL;
	TSS2_RC rc;

	rc = Esys_CreatePrimary(t->esys, hierarchy, session, ESYS_TR_NONE,
	    ESYS_TR_NONE, &sens, tmpl, &outside, &none, ret_tr, &pub, &cd, &ch,
	    &ct);
	if (rc != TSS2_RC_SUCCESS)
		return tss_err(rc, ret_err, "CreatePrimary");
	if (ret_pub)
		*ret_pub = *pub;
	Esys_Free(pub);
	Esys_Free(cd);
	Esys_Free(ch);
	Esys_Free(ct);
	return 0;
}

static int
srk_ensure(struct tpm *t, char **ret_err)
{
	const TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
	    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT;
	TPM2B_PUBLIC pub;
	ESYS_TR tr = ESYS_TR_NONE;
	int exists = 0, r;

	if ((r = persistent_exists(t, TPM_SRK_HANDLE, &exists, ret_err)) < 0)
		return r;
	if (!exists) {
		/* First boot: nothing secret travels in CreatePrimary or
		 * EvictControl, so the empty-password session is enough. */
		if ((r = create_primary(t, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
		    &srk_template, &tr, NULL, ret_err)) < 0)
			return r;
		if ((r = persist(t, &tr, TPM_SRK_HANDLE, ESYS_TR_PASSWORD,
		    ret_err)) < 0)
			return r;
	}
	if ((r = persistent_tr(t, TPM_SRK_HANDLE, &t->srk, ret_err)) < 0)
		return r;
	if ((r = read_public(t, t->srk, &pub, ret_err)) < 0)
		return r;
	if ((pub.publicArea.objectAttributes & need) != need)
		return errf(-BW_E_CRYPTO, ret_err,
		    "TPM: object at 0x%08x is not a storage root key "
		    "(attributes 0x%08x)", TPM_SRK_HANDLE,
		    pub.publicArea.objectAttributes);
	return 0;
}

static int
start_session(struct tpm *t, TPM2_SE type, ESYS_TR *ret, char **ret_err)
{
	TSS2_RC rc;

	/* Salted with the SRK: the session key derives from a secret only
	 * the TPM can decrypt, so parameter encryption hides secrets from
	 * anyone watching the bus. */
	rc = Esys_StartAuthSession(t->esys, t->srk, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, ESYS_TR_NONE, NULL, type, &session_sym,
	    TPM2_ALG_SHA256, ret);
	if (rc != TSS2_RC_SUCCESS)
		return tss_err(rc, ret_err, "StartAuthSession");
	return 0;
}

int
tpm_open(const char *tcti, struct tpm **ret_tpm, char **ret_err)
{
	struct tpm *t;
	TSS2_RC rc;
	int r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->srk = ESYS_TR_NONE;
	t->hmac = ESYS_TR_NONE;
	rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		r = errf(-BW_E_UNAVAILABLE, ret_err,
		    "TPM: cannot open TCTI \"%s\": %s", tcti ? tcti : "(default)",
		    Tss2_RC_Decode(rc));
		goto fail;
	}
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		r = errf(-BW_E_UNAVAILABLE, ret_err,
		    "TPM: ESAPI initialisation failed: %s", Tss2_RC_Decode(rc));
		goto fail;
	}
	/* Firmware (or swtpm's startup-clear) normally ran Startup already;
	 * TPM_RC_INITIALIZE then says so and is not an error. */
	rc = Esys_Startup(t->esys, TPM2_SU_CLEAR);
	if (rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE) {
		r = errf(-BW_E_UNAVAILABLE, ret_err,
		    "TPM: no answer to Startup: %s", Tss2_RC_Decode(rc));
		goto fail;
	}
	if ((r = srk_ensure(t, ret_err)) < 0)
		goto fail;
	if ((r = start_session(t, TPM2_SE_HMAC, &t->hmac, ret_err)) < 0)
		goto fail;
	*ret_tpm = t;
	return 0;
fail:
	tpm_close(t);
	return r;
}

void
tpm_close(struct tpm *t)
{
	size_t i;

	if (!t)
		return;
	if (t->esys) {
		flush(t, &t->hmac);
		for (i = 0; i < TPM_TR_CACHE; i++)
			if (t->cache[i].handle)
				(void)Esys_TR_Close(t->esys, &t->cache[i].tr);
		Esys_Finalize(&t->esys);
	}
	if (t->tcti)
		Tss2_TctiLdr_Finalize(&t->tcti);
	free(t);
}

/* ---- EK and AK ---- */

static int
ek_load(struct tpm *t, ESYS_TR *ret_tr, TPM2B_PUBLIC *ret_pub, char **ret_err)
{
	return create_primary(t, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
	    &ek_template, ret_tr, ret_pub, ret_err);
}

int
tpm_ek_public(struct tpm *t, unsigned char **ret_pub, size_t *ret_len,
    char **ret_err)
{
	TPM2B_PUBLIC pub;
	ESYS_TR ek = ESYS_TR_NONE;
	int r;

	if ((r = ek_load(t, &ek, &pub, ret_err)) < 0)
		return r;
	flush(t, &ek);
	return tpm_blob_pub_encode(&pub, ret_pub, ret_len);
}

int
tpm_ak_ensure(struct tpm *t, uint32_t handle, unsigned char **ret_pub,
    size_t *ret_len, char **ret_err)
{
	_cleanup_free_ unsigned char *buf = NULL;
	_cleanup_free_ char *why = NULL;
	TPM2B_PUBLIC pub;
	ESYS_TR tr = ESYS_TR_NONE;
	size_t len = 0;
	int exists = 0, created = 0, r;

	if ((r = persistent_exists(t, handle, &exists, ret_err)) < 0)
		return r;
	if (!exists) {
		if ((r = create_primary(t, ESYS_TR_RH_ENDORSEMENT,
		    ESYS_TR_PASSWORD, &ak_template, &tr, NULL, ret_err)) < 0)
			return r;
		if ((r = persist(t, &tr, handle, ESYS_TR_PASSWORD, ret_err)) < 0)
			return r;
		created = 1;
	}
	if ((r = persistent_tr(t, handle, &tr, ret_err)) < 0 ||
	    (r = read_public(t, tr, &pub, ret_err)) < 0 ||
	    (r = tpm_blob_pub_encode(&pub, &buf, &len)) < 0)
		return r;
	if (attest_ak_check(buf, len, &why) < 0)
		return errf(-BW_E_CONFLICT, ret_err,
		    "TPM: persistent handle 0x%08x is taken by another key: %s",
		    handle, why);
	if (ret_pub) {
		*ret_pub = TAKE_PTR(buf);
		*ret_len = len;
	}
	return created;
}

/* ---- PCRs ---- */

int
tpm_pcr_read(struct tpm *t, uint32_t mask, struct attest_pcrs *ret_pcrs,
    char **ret_err)
{
	struct attest_pcrs p = { .mask = mask };
	uint32_t left = mask;
	int rounds;

	if (mask >> ATTEST_PCR_COUNT)
		return errf(-EINVAL, ret_err, "PCR mask 0x%x out of range", mask);
	/* PCR_Read returns at most 8 digests per call and says which. */
	for (rounds = 0; left && rounds < ATTEST_PCR_COUNT; rounds++) {
		TPML_PCR_SELECTION sel, *out = NULL;
		TPML_DIGEST *vals = NULL;
		uint32_t got = 0, counter;
		unsigned i, k = 0;
		TSS2_RC rc;

		tpm_blob_pcr_selection(left, &sel);
		rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
		    ESYS_TR_NONE, &sel, &counter, &out, &vals);
		if (rc != TSS2_RC_SUCCESS)
			return tss_err(rc, ret_err, "PCR_Read");
		if (tpm_blob_pcr_mask(out, &got) < 0 || (got & ~left) ||
		    got == 0) {
			Esys_Free(out);
			Esys_Free(vals);
			return errf(-BW_E_UNAVAILABLE, ret_err,
			    "TPM: SHA-256 PCR bank not available");
		}
		for (i = 0; i < ATTEST_PCR_COUNT; i++) {
			if (!(got & (1u << i)))
				continue;
			if (k >= vals->count ||
			    vals->digests[k].size != ATTEST_PCR_DIGEST_LEN)
				break;
			memcpy(p.digest[i], vals->digests[k].buffer,
			    ATTEST_PCR_DIGEST_LEN);
			k++;
		}
		Esys_Free(out);
		Esys_Free(vals);
		if (i < ATTEST_PCR_COUNT)
			return errf(-BW_E_CRYPTO, ret_err,
			    "TPM: PCR_Read returned malformed digests");
		left &= ~got;
	}
	*ret_pcrs = p;
	return 0;
}

int
tpm_pcr_extend(struct tpm *t, unsigned pcr,
    const unsigned char digest[ATTEST_PCR_DIGEST_LEN], char **ret_err)
{
	TPML_DIGEST_VALUES v = { .count = 1 };
	TSS2_RC rc;

	if (pcr >= ATTEST_PCR_COUNT)
		return errf(-EINVAL, ret_err, "PCR %u out of range", pcr);
	v.digests[0].hashAlg = TPM2_ALG_SHA256;
	memcpy(v.digests[0].digest.sha256, digest, ATTEST_PCR_DIGEST_LEN);
	rc = Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD,
	    ESYS_TR_NONE, ESYS_TR_NONE, &v);
	if (rc != TSS2_RC_SUCCESS)
		return tss_err(rc, ret_err, "PCR_Extend");
	return 0;
}

int
tpm_pcr_measure_config(struct tpm *t, unsigned pcr, const void *cfg,
    size_t len, char **ret_err)
{
	static const unsigned char zero[ATTEST_PCR_DIGEST_LEN];
	struct attest_pcrs cur, once = { 0 };
	unsigned char d[ATTEST_PCR_DIGEST_LEN];
	int r;

	if (pcr >= ATTEST_PCR_COUNT)
		return errf(-EINVAL, ret_err, "PCR %u out of range", pcr);
	if (crypto_digest("SHA256", cfg, len, d, sizeof(d), NULL, NULL) < 0)
		return -BW_E_CRYPTO;
	if ((r = tpm_pcr_read(t, 1u << pcr, &cur, ret_err)) < 0)
		return r;
	if ((r = attest_pcr_predict_extend(&once, pcr, d)) < 0)
		return r;
	if (memcmp(cur.digest[pcr], once.digest[pcr], sizeof(d)) == 0)
		return 0;
	if ((r = tpm_pcr_extend(t, pcr, d, ret_err)) < 0)
		return r;
	if (memcmp(cur.digest[pcr], zero, sizeof(zero)) != 0)
		return errf(-BW_E_CONFLICT, ret_err,
		    "PCR %u already held another measurement this boot: the "
		    "configuration changed without a reboot; PCR %u will not "
		    "match its golden value until the next boot", pcr, pcr);
	return 1;
}

/* ---- quotes ---- */

int
tpm_quote(struct tpm *t, uint32_t ak_handle, uint32_t mask,
    const unsigned char *nonce, size_t nlen, unsigned char **ret_quote,
    size_t *ret_len, char **ret_err)
{
	const TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	TPML_PCR_SELECTION sel;
	TPM2B_DATA qd = { .size = 0 };
	ESYS_TR ak;
	int attempt, r;

	if (!nonce || nlen == 0 || nlen > ATTEST_NONCE_MAX)
		return errf(-EINVAL, ret_err, "quote: nonce must be 1..%d bytes",
		    ATTEST_NONCE_MAX);
	if (mask == 0 || mask >> ATTEST_PCR_COUNT)
		return errf(-EINVAL, ret_err, "quote: PCR mask 0x%x invalid", mask);
	if ((r = persistent_tr(t, ak_handle, &ak, ret_err)) < 0)
		return r;
	qd.size = nlen;
	memcpy(qd.buffer, nonce, nlen);
	tpm_blob_pcr_selection(mask, &sel);

	/* The values go with the quote so the verifier can name a PCR that
	 * differs; an extend between Quote and PCR_Read is caught by the
	 * digest comparison and retried. */
	for (attempt = 0; attempt < 3; attempt++) {
		unsigned char composite[ATTEST_PCR_DIGEST_LEN];
		struct attest_pcrs pcrs;
		TPM2B_ATTEST *att = NULL;
		TPMT_SIGNATURE *sig = NULL;
		TPMS_ATTEST info;
		size_t off = 0;
		TSS2_RC rc;

		rc = Esys_Quote(t->esys, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE,
		    ESYS_TR_NONE,
		    &qd, &scheme, &sel, &att, &sig);
		if (rc != TSS2_RC_SUCCESS)
			return tss_err(rc, ret_err, "Quote");
		r = tpm_pcr_read(t, mask, &pcrs, ret_err);
		if (r == 0)
			r = attest_pcr_composite(&pcrs, composite);
		memset(&info, 0, sizeof(info));
		if (r == 0 && Tss2_MU_TPMS_ATTEST_Unmarshal(att->attestationData,
		    att->size, &off, &info) != TSS2_RC_SUCCESS)
			r = errf(-BW_E_CRYPTO, ret_err, "quote: TPM returned a "
			    "malformed attestation");
		if (r == 0 && info.attested.quote.pcrDigest.size ==
		    sizeof(composite) && memcmp(composite,
		    info.attested.quote.pcrDigest.buffer, sizeof(composite)) == 0)
			r = tpm_blob_quote_encode(att, sig, &pcrs, ret_quote,
			    ret_len);
		else if (r == 0)
			r = 1;
		Esys_Free(att);
		Esys_Free(sig);
		if (r <= 0)
			return r;
	}
	return errf(-BW_E_CONFLICT, ret_err,
	    "quote: PCRs kept changing while quoting");
}

/* ---- sealing ---- */

int
tpm_seal(struct tpm *t, const struct attest_pcrs *policy, const void *secret,
    size_t len, unsigned char **ret_blob, size_t *ret_len, char **ret_err)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl = { .size = 0 };
	const TPM2B_DATA outside = { .size = 0 };
	const TPML_PCR_SELECTION none = { .count = 0 };
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_CREATION_DATA *cd = NULL;
	TPM2B_DIGEST *ch = NULL;
	TPMT_TK_CREATION *ct = NULL;
	TSS2_RC rc;
	int r;

	if (!secret || len == 0 || len > TPM_SEAL_MAX)
		return errf(-EINVAL, ret_err, "seal: secret must be 1..%d bytes",
		    TPM_SEAL_MAX);
	if (!policy || policy->mask == 0 || policy->mask >> ATTEST_PCR_COUNT)
		return errf(-EINVAL, ret_err, "seal: PCR policy selects no PCR");
	tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
	tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
	/* No userWithAuth: the object opens through the PCR policy only. */
	tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM |
	    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA;
	tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	if ((r = attest_pcr_policy_digest(policy,
	    tmpl.publicArea.authPolicy.buffer)) < 0)
		return r;
	tmpl.publicArea.authPolicy.size = ATTEST_PCR_DIGEST_LEN;

	memset(&sens, 0, sizeof(sens));
	sens.sensitive.data.size = len;
	memcpy(sens.sensitive.data.buffer, secret, len);
	/* decrypt: inSensitive, the secret, crosses the bus encrypted. */
	if ((r = hmac_attrs(t, TPMA_SESSION_DECRYPT)) < 0)
		goto out;
	rc = Esys_Create(t->esys, t->srk, t->hmac, ESYS_TR_NONE, ESYS_TR_NONE,
	    &sens, &tmpl, &outside, &none, &priv, &pub, &cd, &ch, &ct);
	if (rc != TSS2_RC_SUCCESS) {
		r = tss_err(rc, ret_err, "Create(sealed object)");
		goto out;
	}
	r = tpm_blob_sealed_encode(pub, priv, policy, ret_blob, ret_len);
out:
	OPENSSL_cleanse(&sens, sizeof(sens));
	Esys_Free(priv);
	Esys_Free(pub);
	Esys_Free(cd);
	Esys_Free(ch);
	Esys_Free(ct);
	(void)hmac_attrs(t, 0);
	return r;
}

void
tpm_secret_free(unsigned char *secret, size_t len)
{
	if (!secret)
		return;
	OPENSSL_cleanse(secret, len);
	(void)munlock(secret, len);
	free(secret);
}

/* Copies LEN secret bytes into a fresh mlocked buffer. */
static int
secret_dup(const unsigned char *src, size_t len, unsigned char **ret)
{
	unsigned char *p = malloc(len ? len : 1);

	if (!p)
		return -ENOMEM;
	(void)mlock(p, len);	/* best effort: RLIMIT_MEMLOCK may refuse */
	memcpy(p, src, len);
	*ret = p;
	return 0;
}

static int
unseal_policy_error(struct tpm *t, const struct attest_pcrs *sealed,
    char **ret_err)
{
	struct attest_pcrs now;
	char sel[128], diff[128];
	int r;

	if ((r = tpm_pcr_read(t, sealed->mask, &now, ret_err)) < 0)
		return r;
	attest_pcr_mask_format(sealed->mask, sel, sizeof(sel));
	if (attest_pcr_diff(sealed, &now, diff, sizeof(diff)) == 0)
		return 0;
	return errf(-BW_E_DENIED, ret_err,
	    "unseal: secret is sealed to PCRs %s; PCR %s changed since it was "
	    "sealed", sel, diff);
}

int
tpm_unseal(struct tpm *t, const unsigned char *blob, size_t len,
    unsigned char **ret_secret, size_t *ret_len, char **ret_err)
{
	const TPM2B_DIGEST current = { .size = 0 };
	struct attest_pcrs sealed;
	TPML_PCR_SELECTION sel;
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	TPM2B_SENSITIVE_DATA *out = NULL;
	ESYS_TR obj = ESYS_TR_NONE, ps = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	if (tpm_blob_sealed_decode(blob, len, &pub, &priv, &sealed) < 0)
		return errf(-BW_E_INVALID, ret_err,
		    "unseal: malformed sealed blob (%zu bytes)", len);
	/* Name the changed PCRs before asking the TPM, whose only answer
	 * would be a policy failure. */
	if ((r = unseal_policy_error(t, &sealed, ret_err)) < 0)
		return r;
	rc = Esys_Load(t->esys, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE,
	    ESYS_TR_NONE, &priv, &pub, &obj);
	if (rc != TSS2_RC_SUCCESS)
		return errf(-BW_E_CRYPTO, ret_err,
		    "unseal: TPM refuses the sealed object (sealed on another "
		    "TPM or SRK?): 0x%x (%s)", (unsigned)rc, Tss2_RC_Decode(rc));
	if ((r = start_session(t, TPM2_SE_POLICY, &ps, ret_err)) < 0)
		goto out;
	tpm_blob_pcr_selection(sealed.mask, &sel);
	rc = Esys_PolicyPCR(t->esys, ps, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, &current, &sel);
	if (rc != TSS2_RC_SUCCESS) {
		r = tss_err(rc, ret_err, "PolicyPCR");
		goto out;
	}
	/* encrypt: the unsealed secret returns encrypted on the bus. */
	rc = Esys_TRSess_SetAttributes(t->esys, ps, TPMA_SESSION_ENCRYPT |
	    TPMA_SESSION_CONTINUESESSION, 0xff);
	if (rc != TSS2_RC_SUCCESS) {
		r = tss_err(rc, ret_err, "session attributes");
		goto out;
	}
	rc = Esys_Unseal(t->esys, obj, ps, ESYS_TR_NONE, ESYS_TR_NONE, &out);
	if (rc != TSS2_RC_SUCCESS) {
		/* The PCRs moved between our check and the TPM's. */
		r = unseal_policy_error(t, &sealed, ret_err);
		if (r == 0)
			r = tss_err(rc, ret_err, "Unseal");
		goto out;
	}
	r = secret_dup(out->buffer, out->size, ret_secret);
	if (r == 0)
		*ret_len = out->size;
out:
	if (out) {
		OPENSSL_cleanse(out, sizeof(*out));
		Esys_Free(out);
	}
	flush(t, &ps);
	flush(t, &obj);
	return r;
}

int
tpm_reseal(struct tpm *t, const unsigned char *blob, size_t len,
    const struct attest_pcrs *new_policy, unsigned char **ret_blob,
    size_t *ret_len, char **ret_err)
{
	unsigned char *secret = NULL;
	size_t slen = 0;
	int r;

	if ((r = tpm_unseal(t, blob, len, &secret, &slen, ret_err)) < 0)
		return r;
	r = tpm_seal(t, new_policy, secret, slen, ret_blob, ret_len, ret_err);
	tpm_secret_free(secret, slen);
	return r;
}

/* ---- credential activation ---- */

int
tpm_activate_credential(struct tpm *t, uint32_t ak_handle,
    const unsigned char *blob, size_t len, unsigned char **ret_secret,
    size_t *ret_len, char **ret_err)
{
	TPM2B_ID_OBJECT id;
	TPM2B_ENCRYPTED_SECRET enc;
	TPM2B_DIGEST *cert = NULL;
	TPM2B_TIMEOUT *timeout = NULL;
	TPMT_TK_AUTH *ticket = NULL;
	ESYS_TR ak, ek = ESYS_TR_NONE, ps = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	if (tpm_blob_cred_decode(blob, len, &id, &enc) < 0)
		return errf(-BW_E_INVALID, ret_err,
		    "activate: malformed credential blob (%zu bytes)", len);
	if ((r = persistent_tr(t, ak_handle, &ak, ret_err)) < 0)
		return r;
	if ((r = ek_load(t, &ek, NULL, ret_err)) < 0)
		return r;
	/* The EK template admits use only through PolicySecret(endorsement). */
	if ((r = start_session(t, TPM2_SE_POLICY, &ps, ret_err)) < 0)
		goto out;
	rc = Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, ps,
	    ESYS_TR_PASSWORD,
	    ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0, &timeout, &ticket);
	Esys_Free(timeout);
	Esys_Free(ticket);
	if (rc != TSS2_RC_SUCCESS) {
		r = tss_err(rc, ret_err, "PolicySecret(endorsement)");
		goto out;
	}
	/* encrypt: certInfo, the credential, returns encrypted. */
	if ((r = hmac_attrs(t, TPMA_SESSION_ENCRYPT)) < 0)
		goto out;
	rc = Esys_ActivateCredential(t->esys, ak, ek, t->hmac, ps, ESYS_TR_NONE,
	    &id, &enc, &cert);
	if (rc != TSS2_RC_SUCCESS) {
		r = errf(-BW_E_DENIED, ret_err,
		    "activate: the TPM refuses the credential: it was not made "
		    "for this TPM's EK and this AK (0x%x, %s)", (unsigned)rc,
		    Tss2_RC_Decode(rc));
		goto out;
	}
	r = secret_dup(cert->buffer, cert->size, ret_secret);
	if (r == 0)
		*ret_len = cert->size;
out:
	if (cert) {
		OPENSSL_cleanse(cert, sizeof(*cert));
		Esys_Free(cert);
	}
	(void)hmac_attrs(t, 0);
	flush(t, &ps);
	flush(t, &ek);
	return r;
}

/* ---- signing key ---- */

/* Creates a signing key under the SRK into *RET_PRIV and *RET_PUB
 * (Esys_Free both). */
static int
key_create(struct tpm *t, TPM2B_PRIVATE **ret_priv, TPM2B_PUBLIC **ret_pub,
    char **ret_err)
{
	static const TPM2_ECC_CURVE curves[] = { TPM2_ECC_NIST_P384,
	    TPM2_ECC_NIST_P256 };
	const TPM2B_SENSITIVE_CREATE sens = { .size = 0 };
	const TPM2B_DATA outside = { .size = 0 };
	const TPML_PCR_SELECTION none = { .count = 0 };
	TPM2B_PUBLIC tmpl = signer_template;
	TPM2B_CREATION_DATA *cd = NULL;
	TPM2B_DIGEST *ch = NULL;
	TPMT_TK_CREATION *ct = NULL;
	TSS2_RC rc = TSS2_RC_SUCCESS;
	size_t i;

	/* P-384 where the TPM has it (swtpm does), else P-256. The private
	 * part returned by Create is wrapped by the SRK: only this TPM can
	 * load it back. */
	for (i = 0; i < ELEMENTSOF(curves); i++) {
		tmpl.publicArea.parameters.eccDetail.curveID = curves[i];
		rc = Esys_Create(t->esys, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE,
		    ESYS_TR_NONE, &sens, &tmpl, &outside, &none, ret_priv,
		    ret_pub, &cd, &ch, &ct);
		if (rc == TSS2_RC_SUCCESS)
			break;
	}
	if (rc != TSS2_RC_SUCCESS)
		return tss_err(rc, ret_err, "Create(signing key)");
	Esys_Free(cd);
	Esys_Free(ch);
	Esys_Free(ct);
	return 0;
}

static int
signer_create(struct tpm *t, uint32_t handle, char **ret_err)
{
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	ESYS_TR tr = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	if ((r = key_create(t, &priv, &pub, ret_err)) < 0)
		return r;
	rc = Esys_Load(t->esys, t->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE,
	    ESYS_TR_NONE, priv, pub, &tr);
	Esys_Free(priv);
	Esys_Free(pub);
	if (rc != TSS2_RC_SUCCESS)
		return tss_err(rc, ret_err, "Load(signing key)");
	return persist(t, &tr, handle, ESYS_TR_PASSWORD, ret_err);
}

int
tpm_key_create(struct tpm *t, unsigned char **ret_blob, size_t *ret_len,
    char **ret_err)
{
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	int r;

	if ((r = key_create(t, &priv, &pub, ret_err)) < 0)
		return r;
	r = tpm_blob_key_encode(pub, priv, ret_blob, ret_len);
	Esys_Free(priv);
	Esys_Free(pub);
	return r < 0 ? errf(r, ret_err, "TPM: encoding the wrapped key") : 0;
}

/* Refuses a key that is not an unrestricted ECC signing key made in the
 * TPM; WHAT names where it came from. */
static int
signer_check(const struct tpm_signer *s, const char *what, char **ret_err)
{
	const TPMA_OBJECT need = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |
	    TPMA_OBJECT_SENSITIVEDATAORIGIN;

	if (s->pub.publicArea.type != TPM2_ALG_ECC ||
	    (s->pub.publicArea.objectAttributes & need) != need ||
	    (s->pub.publicArea.objectAttributes & (TPMA_OBJECT_RESTRICTED |
	    TPMA_OBJECT_DECRYPT)))
		return errf(-BW_E_CONFLICT, ret_err, "TPM: %s holds a key that "
		    "is not an unrestricted ECC signing key", what);
	return 0;
}

/* Loads a wrapped signer's key under the SRK into *RET (flush it). */
static int
signer_load(struct tpm_signer *s, ESYS_TR *ret)
{
	return Esys_Load(s->tpm->esys, s->tpm->srk, ESYS_TR_PASSWORD,
	    ESYS_TR_NONE, ESYS_TR_NONE, &s->priv, &s->pub, ret) ==
	    TSS2_RC_SUCCESS ? 0 : -BW_E_CRYPTO;
}

int
tpm_signer_open_blob(struct tpm *t, const unsigned char *blob, size_t len,
    struct tpm_signer **ret_signer, char **ret_err)
{
	struct tpm_signer *s;
	ESYS_TR tr = ESYS_TR_NONE;
	int r;

	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->tpm = t;
	s->key = ESYS_TR_NONE;
	if (tpm_blob_key_decode(blob, len, &s->pub, &s->priv) < 0) {
		r = errf(-BW_E_CORRUPT, ret_err, "TPM: not a wrapped key");
		goto fail;
	}
	if ((r = signer_check(s, "the wrapped key", ret_err)) < 0)
		goto fail;
	/* A key wrapped by another TPM (or another SRK) fails here, not at
	 * the first signature. */
	if ((r = signer_load(s, &tr)) < 0) {
		r = errf(-BW_E_CORRUPT, ret_err, "TPM: the wrapped key does not "
		    "load under this TPM's storage key");
		goto fail;
	}
	flush(t, &tr);
	*ret_signer = s;
	return 0;
fail:
	tpm_signer_free(s);
	return r;
}

int
tpm_signer_open(struct tpm *t, uint32_t handle, struct tpm_signer **ret_signer,
    char **ret_err)
{
	struct tpm_signer *s;
	char what[48];
	int exists = 0, r;

	if ((r = persistent_exists(t, handle, &exists, ret_err)) < 0)
		return r;
	if (!exists && (r = signer_create(t, handle, ret_err)) < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->tpm = t;
	s->key = ESYS_TR_NONE;
	/* ESAPI hands out one ESYS_TR per persistent handle; the context's
	 * cache owns it, so several signers may share a key. */
	if ((r = persistent_tr(t, handle, &s->key, ret_err)) < 0)
		goto fail;
	if ((r = read_public(t, s->key, &s->pub, ret_err)) < 0)
		goto fail;
	snprintf(what, sizeof(what), "persistent handle 0x%08x", handle);
	if ((r = signer_check(s, what, ret_err)) < 0)
		goto fail;
	*ret_signer = s;
	return 0;
fail:
	tpm_signer_free(s);
	return r;
}

void
tpm_signer_free(struct tpm_signer *s)
{
	if (s)
		OPENSSL_cleanse(&s->priv, sizeof(s->priv));
	free(s);
}

const char *
tpm_signer_curve(const struct tpm_signer *s)
{
	return s->pub.publicArea.parameters.eccDetail.curveID ==
	    TPM2_ECC_NIST_P384 ? "P-384" : "P-256";
}

int
tpm_signer_public_pem(struct tpm_signer *s, char **ret_pem, char **ret_err)
{
	_cleanup_free_ unsigned char *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = tpm_blob_pub_encode(&s->pub, &buf, &len)) < 0)
		return r;
	return attest_pub_to_pem(buf, len, ret_pem, ret_err);
}

int
tpm_sign_digest(void *ctx, const unsigned char *digest, size_t dlen,
    unsigned char **ret_sig, size_t *ret_siglen)
{
	struct tpm_signer *s = ctx;
	struct tpm *t;
	_cleanup_(ECDSA_SIG_freep) ECDSA_SIG *es = NULL;
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_ECDSA };
	const TPMT_TK_HASHCHECK none = { .tag = TPM2_ST_HASHCHECK,
	    .hierarchy = TPM2_RH_NULL };
	TPMT_SIGNATURE *sig = NULL;
	TPM2B_DIGEST d = { .size = 0 };
	ESYS_TR key;
	unsigned char *der = NULL, *out;
	BIGNUM *br, *bs;
	TSS2_RC rc;
	int n;

	if (!s || !digest || !ret_sig || !ret_siglen)
		return -EINVAL;
	t = s->tpm;
	switch (dlen) {
	case 32: scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256; break;
	case 48: scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA384; break;
	case 64: scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA512; break;
	default: return -EINVAL;
	}
	d.size = dlen;
	memcpy(d.buffer, digest, dlen);
	/* A wrapped key is loaded for this one signature: swtpm has three
	 * transient slots, and unsealing needs them. */
	if ((key = s->key) == ESYS_TR_NONE && signer_load(s, &key) < 0)
		return -BW_E_CRYPTO;
	rc = Esys_Sign(t->esys, key, ESYS_TR_PASSWORD, ESYS_TR_NONE,
	    ESYS_TR_NONE, &d,
	    &scheme, &none, &sig);
	if (s->key == ESYS_TR_NONE)
		flush(t, &key);
	if (rc != TSS2_RC_SUCCESS)
		return -BW_E_CRYPTO;
	es = ECDSA_SIG_new();
	br = BN_bin2bn(sig->signature.ecdsa.signatureR.buffer,
	    sig->signature.ecdsa.signatureR.size, NULL);
	bs = BN_bin2bn(sig->signature.ecdsa.signatureS.buffer,
	    sig->signature.ecdsa.signatureS.size, NULL);
	Esys_Free(sig);
	if (!es || !br || !bs || !ECDSA_SIG_set0(es, br, bs)) {
		BN_free(br);
		BN_free(bs);
		return -BW_E_CRYPTO;
	}
	n = i2d_ECDSA_SIG(es, &der);
	if (n <= 0)
		return -BW_E_CRYPTO;
	out = malloc(n);
	if (!out) {
		OPENSSL_free(der);
		return -ENOMEM;
	}
	memcpy(out, der, n);
	OPENSSL_free(der);
	*ret_sig = out;
	*ret_siglen = n;
	return 0;
}

/* ---- housekeeping ---- */

static int
count_handles(struct tpm *t, uint32_t first, unsigned *ret)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	int r;

	if ((r = get_handles(t, first, TPM2_MAX_CAP_HANDLES, &cap, NULL)) < 0)
		return r;
	*ret = cap->data.handles.count;
	Esys_Free(cap);
	return 0;
}

int
tpm_loaded_handles(struct tpm *t, unsigned *ret_transient,
    unsigned *ret_sessions)
{
	int r;

	/* TPM_HT_LOADED_SESSION lists HMAC and policy sessions alike; the
	 * transient range is spelled out because TPM2_TRANSIENT_FIRST
	 * shifts into the sign bit of an int. */
	if ((r = count_handles(t, 0x80000000u, ret_transient)) < 0)
		return r;
	return count_handles(t, TPM2_LOADED_SESSION_FIRST, ret_sessions);
}

int
tpm_evict(struct tpm *t, uint32_t handle, char **ret_err)
{
	ESYS_TR tr, out = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	if (handle == TPM_SRK_HANDLE)
		return errf(-EINVAL, ret_err, "TPM: refusing to evict the SRK "
		    "of an open context");
	if ((r = persistent_tr(t, handle, &tr, ret_err)) < 0)
		return r;
	rc = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD,
	    ESYS_TR_NONE, ESYS_TR_NONE, handle, &out);
	if (rc != TSS2_RC_SUCCESS)
		return tss_err(rc, ret_err, "EvictControl(remove)");
	/* ESAPI keeps the evicted object's TR (and its name): closed here,
	 * or a new key at HANDLE would be refused as a name mismatch. */
	for (size_t i = 0; i < TPM_TR_CACHE; i++)
		if (t->cache[i].handle == handle) {
			(void)Esys_TR_Close(t->esys, &t->cache[i].tr);
			t->cache[i].handle = 0;
		}
	return 0;
}

/* ---- dictionary-attack lockout and orderly shutdown ---- */

int
tpm_key_da_protected(struct tpm *t, uint32_t handle, char **ret_err)
{
	TPM2B_PUBLIC pub;
	ESYS_TR tr;
	int exists = 0, r;

	if ((r = persistent_exists(t, handle, &exists, ret_err)) < 0)
		return r;
	if (!exists)
		return 0;
	if ((r = persistent_tr(t, handle, &tr, ret_err)) < 0 ||
	    (r = read_public(t, tr, &pub, ret_err)) < 0)
		return r;
	return (pub.publicArea.objectAttributes & TPMA_OBJECT_NODA) ? 0 : 1;
}

int
tpm_da_status(struct tpm *t, struct tpm_da_status *ret, char **ret_err)
{
	struct tpm_da_status s = { 0 };
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;
	uint32_t i, seen = 0;

	rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES, TPM2_PT_PERMANENT,
	    TPM2_PT_LOCKOUT_RECOVERY - TPM2_PT_PERMANENT + 1, &more, &cap);
	if (rc != TSS2_RC_SUCCESS)
		return tss_err(rc, ret_err, "GetCapability(properties)");
	for (i = 0; i < cap->data.tpmProperties.count; i++) {
		const TPMS_TAGGED_PROPERTY *p =
		    &cap->data.tpmProperties.tpmProperty[i];

		switch (p->property) {
		case TPM2_PT_PERMANENT:
			s.in_lockout = !!(p->value & TPMA_PERMANENT_INLOCKOUT);
			seen |= 1;
			break;
		case TPM2_PT_STARTUP_CLEAR:
			s.orderly = !!(p->value & TPMA_STARTUP_CLEAR_ORDERLY);
			seen |= 2;
			break;
		case TPM2_PT_LOCKOUT_COUNTER:
			s.counter = p->value;
			seen |= 4;
			break;
		case TPM2_PT_MAX_AUTH_FAIL:
			s.max_tries = p->value;
			seen |= 8;
			break;
		case TPM2_PT_LOCKOUT_INTERVAL:
			s.interval_s = p->value;
			seen |= 16;
			break;
		case TPM2_PT_LOCKOUT_RECOVERY:
			s.recovery_s = p->value;
			seen |= 32;
			break;
		}
	}
	Esys_Free(cap);
	if (seen != 63)
		return errf(-BW_E_CRYPTO, ret_err, "TPM: GetCapability did not "
		    "report the dictionary-attack properties");
	/* The TPM lowers the counter by one every interval_s seconds it is
	 * powered (self-healing) and leaves lockout once the counter is
	 * below max_tries; how much of the current interval has passed is
	 * not visible, so these are upper bounds. */
	if (s.interval_s == 0)
		s.recovers_in_s = s.clears_in_s = s.counter ? UINT32_MAX : 0;
	else {
		uint64_t over = s.in_lockout && s.counter + 1 > s.max_tries ?
		    (uint64_t)s.counter + 1 - s.max_tries :
		    (uint64_t)s.in_lockout;
		uint64_t in = over * s.interval_s;
		uint64_t clr = (uint64_t)s.counter * s.interval_s;

		s.recovers_in_s = in > UINT32_MAX - 1 ? UINT32_MAX - 1 :
		    (uint32_t)in;
		s.clears_in_s = clr > UINT32_MAX - 1 ? UINT32_MAX - 1 :
		    (uint32_t)clr;
	}
	*ret = s;
	return 0;
}

json_t *
tpm_da_status_json(const struct tpm_da_status *s, long long now)
{
	json_t *o;
	char ts[40];

	o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:b}",
	    "in_lockout", s->in_lockout,
	    "counter", (json_int_t)s->counter,
	    "max_tries", (json_int_t)s->max_tries,
	    "interval_seconds", (json_int_t)s->interval_s,
	    "recovery_seconds", (json_int_t)s->recovery_s,
	    "orderly_last_stop", s->orderly);
	if (!o)
		return NULL;
	if (s->recovers_in_s == UINT32_MAX || s->clears_in_s == UINT32_MAX) {
		json_object_set_new(o, "recovers", json_string("never by "
		    "itself (the TPM's lockout interval is 0): "
		    "TPM2_DictionaryAttackLockReset with the lockout "
		    "authorization"));
	} else if (s->in_lockout) {
		bw_time_rfc3339(ts, sizeof(ts),
		    (time_t)(now + s->recovers_in_s));
		json_object_set_new(o, "recovers_in_seconds",
		    json_integer(s->recovers_in_s));
		json_object_set_new(o, "recovers_by", json_string(ts));
	}
	if (s->clears_in_s != UINT32_MAX)
		json_object_set_new(o, "counter_clears_in_seconds",
		    json_integer(s->clears_in_s));
	return o;
}

int
tpm_da_status_describe(const struct tpm_da_status *s, char *buf, size_t len)
{
	if (s->in_lockout && s->recovers_in_s == UINT32_MAX)
		return snprintf(buf, len, "TPM in dictionary-attack lockout "
		    "(counter %u of %u) and its lockout interval is 0: it "
		    "recovers only by TPM2_DictionaryAttackLockReset with the "
		    "lockout authorization", s->counter, s->max_tries);
	if (s->in_lockout)
		return snprintf(buf, len, "TPM in dictionary-attack lockout "
		    "(counter %u of %u, one try back every %u s of TPM "
		    "power-on time): keys without noDA are refused for up to "
		    "%u s more",
		    s->counter, s->max_tries, s->interval_s, s->recovers_in_s);
	return snprintf(buf, len, "TPM not in lockout (counter %u of %u)",
	    s->counter, s->max_tries);
}

int
tpm_shutdown(const char *tcti, char **ret_err)
{
	TSS2_TCTI_CONTEXT *tc = NULL;
	ESYS_CONTEXT *esys = NULL;
	TSS2_RC rc;
	int r = 0;

	rc = Tss2_TctiLdr_Initialize(tcti, &tc);
	if (rc != TSS2_RC_SUCCESS)
		return errf(-BW_E_UNAVAILABLE, ret_err, "TPM: cannot open "
		    "TCTI \"%s\": %s", tcti ? tcti : "(default)",
		    Tss2_RC_Decode(rc));
	rc = Esys_Initialize(&esys, tc, NULL);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_Shutdown(esys, ESYS_TR_NONE, ESYS_TR_NONE,
		    ESYS_TR_NONE, TPM2_SU_STATE);
	if (rc != TSS2_RC_SUCCESS)
		r = tss_err(rc, ret_err, "Shutdown(STATE)");
	if (esys)
		Esys_Finalize(&esys);
	Tss2_TctiLdr_Finalize(&tc);
	return r;
}
