#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "identity/attest.h"
#include "identity/tpm-blob.h"
#include "lib/b64.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"

/* ---- PCR sets ---- */

int
attest_pcr_mask_parse(const char *list, uint32_t *ret_mask, char **ret_err)
{
	const char *p = list;
	uint32_t mask = 0;

	if (!list || !*list)
		return errf(-BW_E_INVALID, ret_err, "PCR list is empty");
	while (*p) {
		char *end;
		long v;

		errno = 0;
		v = strtol(p, &end, 10);
		if (end == p || errno || v < 0 || v >= ATTEST_PCR_COUNT)
			return errf(-BW_E_INVALID, ret_err,
			    "PCR list \"%s\": expected numbers 0..%d at offset %zu",
			    list, ATTEST_PCR_COUNT - 1, (size_t)(p - list));
		mask |= 1u << v;
		p = end;
		if (*p == ',')
			p++;
		else if (*p)
			return errf(-BW_E_INVALID, ret_err,
			    "PCR list \"%s\": unexpected '%c' at offset %zu",
			    list, *p, (size_t)(p - list));
	}
	*ret_mask = mask;
	return 0;
}

char *
attest_pcr_mask_format(uint32_t mask, char *buf, size_t len)
{
	size_t off = 0;
	unsigned i;

	if (len == 0)
		return buf;
	buf[0] = 0;
	for (i = 0; i < ATTEST_PCR_COUNT; i++) {
		int n;

		if (!(mask & (1u << i)))
			continue;
		n = snprintf(buf + off, len - off, "%s%u", off ? "," : "", i);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += n;
	}
	return buf;
}

int
attest_pcr_composite(const struct attest_pcrs *p,
    unsigned char ret_digest[ATTEST_PCR_DIGEST_LEN])
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned i;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		return -BW_E_CRYPTO;
	for (i = 0; i < ATTEST_PCR_COUNT; i++)
		if ((p->mask & (1u << i)) &&
		    !EVP_DigestUpdate(ctx, p->digest[i], ATTEST_PCR_DIGEST_LEN))
			return -BW_E_CRYPTO;
	if (!EVP_DigestFinal_ex(ctx, ret_digest, NULL))
		return -BW_E_CRYPTO;
	return 0;
}

int
attest_pcr_predict_extend(struct attest_pcrs *p, unsigned pcr,
    const unsigned char digest[ATTEST_PCR_DIGEST_LEN])
{
	unsigned char buf[2 * ATTEST_PCR_DIGEST_LEN];

	if (pcr >= ATTEST_PCR_COUNT)
		return -EINVAL;
	if (!(p->mask & (1u << pcr)))
		memset(p->digest[pcr], 0, ATTEST_PCR_DIGEST_LEN);
	memcpy(buf, p->digest[pcr], ATTEST_PCR_DIGEST_LEN);
	memcpy(buf + ATTEST_PCR_DIGEST_LEN, digest, ATTEST_PCR_DIGEST_LEN);
	if (!EVP_Digest(buf, sizeof(buf), p->digest[pcr], NULL, EVP_sha256(),
	    NULL))
		return -BW_E_CRYPTO;
	p->mask |= 1u << pcr;
	return 0;
}

int
attest_pcr_diff(const struct attest_pcrs *a, const struct attest_pcrs *b,
    char *buf, size_t len)
{
	uint32_t diff = 0;
	unsigned i;
	int n = 0;

	for (i = 0; i < ATTEST_PCR_COUNT; i++) {
		if (!(a->mask & b->mask & (1u << i)))
			continue;
		if (CRYPTO_memcmp(a->digest[i], b->digest[i],
		    ATTEST_PCR_DIGEST_LEN) != 0) {
			diff |= 1u << i;
			n++;
		}
	}
	attest_pcr_mask_format(diff, buf, len);
	return n;
}

int
attest_pcrs_from_json(const json_t *o, struct attest_pcrs *ret,
    char **ret_err)
{
	const char	*key;
	json_t		*v;
	char		*end;
	long		 i;

	memset(ret, 0, sizeof(*ret));
	if (!json_is_object(o))
		return errf(-BW_E_INVALID, ret_err, "PCR values: not an object");
	json_object_foreach((json_t *)o, key, v) {
		i = strtol(key, &end, 10);
		if (*end || end == key || i < 0 || i >= ATTEST_PCR_COUNT ||
		    hex_decode(json_string_value(v), ret->digest[i],
		    ATTEST_PCR_DIGEST_LEN) < 0)
			return errf(-BW_E_INVALID, ret_err,
			    "PCR values: bad entry \"%.8s\"", key);
		ret->mask |= 1u << i;
	}
	return 0;
}

json_t *
attest_pcrs_to_json(const struct attest_pcrs *p)
{
	json_t	*o = json_object();
	char	 key[8], hex[2 * ATTEST_PCR_DIGEST_LEN + 1];
	int	 i;

	for (i = 0; o && i < ATTEST_PCR_COUNT; i++) {
		if (!(p->mask & (1u << i)))
			continue;
		snprintf(key, sizeof(key), "%d", i);
		hex_encode(p->digest[i], ATTEST_PCR_DIGEST_LEN, hex);
		if (json_object_set_new(o, key, json_string(hex)) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* ---- TPM public keys ---- */

static const EVP_MD *
md_for_alg(TPM2_ALG_ID alg)
{
	switch (alg) {
	case TPM2_ALG_SHA256: return EVP_sha256();
	case TPM2_ALG_SHA384: return EVP_sha384();
	case TPM2_ALG_SHA512: return EVP_sha512();
	default: return NULL;
	}
}

static const char *
group_for_curve(TPM2_ECC_CURVE c, size_t *ret_len)
{
	switch (c) {
	case TPM2_ECC_NIST_P256: *ret_len = 32; return "prime256v1";
	case TPM2_ECC_NIST_P384: *ret_len = 48; return "secp384r1";
	case TPM2_ECC_NIST_P521: *ret_len = 66; return "secp521r1";
	default: return NULL;
	}
}

/* Left-pads a big-endian coordinate of at most FLEN bytes. */
static int
put_coord(unsigned char *dst, size_t flen, const unsigned char *src, size_t n)
{
	if (n > flen)
		return -BW_E_INVALID;
	memset(dst, 0, flen - n);
	memcpy(dst + flen - n, src, n);
	return 0;
}

static int
tpmt_to_pkey(const TPMT_PUBLIC *p, EVP_PKEY **ret, char **ret_err)
{
	_cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	_cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
	_cleanup_(BN_freep) BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY *pkey = NULL;
	unsigned char pt[1 + 2 * 66];
	const char *group;
	size_t flen;

	if (!bld)
		return -ENOMEM;
	if (p->type == TPM2_ALG_ECC) {
		group = group_for_curve(p->parameters.eccDetail.curveID, &flen);
		if (!group)
			return errf(-BW_E_INVALID, ret_err,
			    "TPM key: unsupported ECC curve 0x%x",
			    p->parameters.eccDetail.curveID);
		pt[0] = 0x04;
		if (put_coord(pt + 1, flen, p->unique.ecc.x.buffer,
		    p->unique.ecc.x.size) < 0 ||
		    put_coord(pt + 1 + flen, flen, p->unique.ecc.y.buffer,
		    p->unique.ecc.y.size) < 0)
			return errf(-BW_E_INVALID, ret_err,
			    "TPM key: ECC point larger than its curve");
		if (!OSSL_PARAM_BLD_push_utf8_string(bld,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld,
		    OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * flen))
			return -BW_E_CRYPTO;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	} else if (p->type == TPM2_ALG_RSA) {
		uint32_t exp = p->parameters.rsaDetail.exponent ?
		    p->parameters.rsaDetail.exponent : 65537;

		n = BN_bin2bn(p->unique.rsa.buffer, p->unique.rsa.size, NULL);
		e = BN_new();
		if (!n || !e || !BN_set_word(e, exp) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			return -BW_E_CRYPTO;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else {
		return errf(-BW_E_INVALID, ret_err,
		    "TPM key: unsupported key type 0x%x", p->type);
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (!ctx || !params || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		return errf(-BW_E_INVALID, ret_err,
		    "TPM key: public key is not valid for its algorithm");
	*ret = pkey;
	return 0;
}

int
attest_pub_to_pem(const unsigned char *pub, size_t len, char **ret_pem,
    char **ret_err)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
	_cleanup_(BIO_freep) BIO *bio = NULL;
	TPM2B_PUBLIC p;
	char *data, *pem;
	long n;
	int r;

	if (tpm_blob_pub_decode(pub, len, &p) < 0)
		return errf(-BW_E_INVALID, ret_err,
		    "TPM key: not a marshalled TPM2B_PUBLIC");
	if ((r = tpmt_to_pkey(&p.publicArea, &pkey, ret_err)) < 0)
		return r;
	bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio_PUBKEY(bio, pkey))
		return -ENOMEM;
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0)
		return -BW_E_CRYPTO;
	pem = strndup(data, n);
	if (!pem)
		return -ENOMEM;
	*ret_pem = pem;
	return 0;
}

int
attest_ak_check(const unsigned char *pub, size_t len, char **ret_err)
{
	const TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |
	    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	    TPMA_OBJECT_SENSITIVEDATAORIGIN;
	TPM2B_PUBLIC p;

	if (tpm_blob_pub_decode(pub, len, &p) < 0)
		return errf(-BW_E_INVALID, ret_err,
		    "AK public: not a marshalled TPM2B_PUBLIC");
	if ((p.publicArea.objectAttributes & need) != need ||
	    (p.publicArea.objectAttributes & TPMA_OBJECT_DECRYPT))
		return errf(-BW_E_INVALID, ret_err,
		    "AK public: attributes 0x%08x are not those of a restricted "
		    "TPM-resident signing key (need restricted, sign, fixedTPM, "
		    "fixedParent, sensitiveDataOrigin; no decrypt)",
		    p.publicArea.objectAttributes);
	if (!md_for_alg(p.publicArea.nameAlg))
		return errf(-BW_E_INVALID, ret_err,
		    "AK public: unsupported name algorithm 0x%x",
		    p.publicArea.nameAlg);
	return 0;
}

/* ---- quotes ---- */

static int
sig_to_der(const TPMT_SIGNATURE *sig, const EVP_MD **ret_md,
    unsigned char **ret_der, size_t *ret_len)
{
	_cleanup_(ECDSA_SIG_freep) ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL, *copy;
	int n;

	if (sig->sigAlg == TPM2_ALG_ECDSA) {
		const TPMS_SIGNATURE_ECDSA *e = &sig->signature.ecdsa;

		*ret_md = md_for_alg(e->hash);
		es = ECDSA_SIG_new();
		r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
		s = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
		if (!*ret_md || !es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
			BN_free(r);
			BN_free(s);
			return -BW_E_INVALID;
		}
		n = i2d_ECDSA_SIG(es, &der);
		if (n <= 0)
			return -BW_E_CRYPTO;
	} else {
		/* tpm_ak_ensure() makes ECDSA AKs only. */
		return -BW_E_INVALID;
	}
	copy = malloc(n);
	if (copy)
		memcpy(copy, der, n);
	OPENSSL_free(der);
	if (!copy)
		return -ENOMEM;
	*ret_der = copy;
	*ret_len = n;
	return 0;
}

static int
pem_to_pkey(const char *pem, EVP_PKEY **ret)
{
	_cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k;

	if (!bio)
		return -ENOMEM;
	k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!k)
		return -BW_E_INVALID;
	*ret = k;
	return 0;
}

int
attest_ak_fingerprint(const char *ak_pem, char ret_hex[65], char **ret_err)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
	unsigned char *der = NULL, md[ATTEST_PCR_DIGEST_LEN];
	unsigned hl = 0;
	int n, ok;

	if (pem_to_pkey(ak_pem, &k) < 0)
		return errf(-BW_E_INVALID, ret_err, "the attestation key is not "
		    "a PEM public key");
	if ((n = i2d_PUBKEY(k, &der)) <= 0)
		return -BW_E_CRYPTO;
	ok = EVP_Digest(der, (size_t)n, md, &hl, EVP_sha256(), NULL);
	OPENSSL_free(der);
	if (!ok || hl != sizeof(md))
		return -BW_E_CRYPTO;
	hex_encode(md, sizeof(md), ret_hex);
	return 0;
}

/* The checks of attest_quote_verify() on a decoded quote. */
static int
quote_check(const char *ak_pem, const TPM2B_ATTEST *att,
    const TPMT_SIGNATURE *sig, const struct attest_pcrs *pcrs,
    const unsigned char *nonce, size_t nlen,
    const struct attest_pcrs *expected, char **ret_err)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *ak = NULL;
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *mctx = NULL;
	_cleanup_free_ unsigned char *der = NULL;
	unsigned char composite[ATTEST_PCR_DIGEST_LEN];
	TPMS_ATTEST info;
	const EVP_MD *md = NULL;
	uint32_t qmask;
	size_t derlen = 0, off = 0;
	char list[128], a[64], b[64];
	int r;

	if (pem_to_pkey(ak_pem, &ak) < 0)
		return errf(-BW_E_INVALID, ret_err,
		    "quote: enrolled AK public key is not a PEM public key");
	if (sig_to_der(sig, &md, &der, &derlen) < 0)
		return errf(-BW_E_INVALID, ret_err,
		    "quote: unsupported signature scheme 0x%x", sig->sigAlg);

	/* The signature comes first: nothing in an unauthenticated
	 * structure is worth interpreting. */
	mctx = EVP_MD_CTX_new();
	if (!mctx)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(mctx, NULL, md, NULL, ak) <= 0)
		return errf(-BW_E_DENIED, ret_err,
		    "quote: signature scheme does not fit the enrolled AK");
	if (EVP_DigestVerify(mctx, der, derlen, att->attestationData,
	    att->size) != 1)
		return errf(-BW_E_DENIED, ret_err,
		    "quote: signature does not verify with the enrolled AK "
		    "(signed by another TPM's key, or altered)");

	memset(&info, 0, sizeof(info));
	if (Tss2_MU_TPMS_ATTEST_Unmarshal(att->attestationData, att->size, &off,
	    &info) != TSS2_RC_SUCCESS || off != att->size)
		return errf(-BW_E_INVALID, ret_err,
		    "quote: signed attestation structure is malformed");
	if (info.magic != TPM2_GENERATED_VALUE || info.type != TPM2_ST_ATTEST_QUOTE)
		return errf(-BW_E_DENIED, ret_err,
		    "quote: signed structure is not a TPM-generated quote "
		    "(magic 0x%08x, type 0x%04x)", info.magic, info.type);
	if (info.extraData.size != nlen ||
	    CRYPTO_memcmp(info.extraData.buffer, nonce, nlen) != 0)
		return errf(-BW_E_DENIED, ret_err,
		    "quote: nonce in the quote does not match this challenge "
		    "(stale or replayed quote)");
	if (tpm_blob_pcr_mask(&info.attested.quote.pcrSelect, &qmask) < 0)
		return errf(-BW_E_DENIED, ret_err,
		    "quote: PCR selection is not a single SHA-256 bank");
	if (qmask != pcrs->mask)
		return errf(-BW_E_DENIED, ret_err,
		    "quote: signed PCR selection {%s} differs from the values "
		    "sent {%s}", attest_pcr_mask_format(qmask, a, sizeof(a)),
		    attest_pcr_mask_format(pcrs->mask, b, sizeof(b)));
	if ((r = attest_pcr_composite(pcrs, composite)) < 0)
		return r;
	if (info.attested.quote.pcrDigest.size != sizeof(composite) ||
	    CRYPTO_memcmp(info.attested.quote.pcrDigest.buffer, composite,
	    sizeof(composite)) != 0)
		return errf(-BW_E_DENIED, ret_err,
		    "quote: PCR values sent with the quote do not match the "
		    "signed PCR digest");
	if (expected) {
		if (expected->mask != pcrs->mask)
			return errf(-BW_E_DENIED, ret_err,
			    "quote: quoted PCRs {%s} are not the expected {%s}",
			    attest_pcr_mask_format(pcrs->mask, a, sizeof(a)),
			    attest_pcr_mask_format(expected->mask, b, sizeof(b)));
		if (attest_pcr_diff(expected, pcrs, list, sizeof(list)) > 0)
			return errf(-BW_E_DENIED, ret_err,
			    "quote: PCR %s differ from the expected values", list);
	}
	return 0;
}

int
attest_quote_verify(const char *ak_pem, const unsigned char *quote,
    size_t qlen, const unsigned char *nonce, size_t nlen,
    const struct attest_pcrs *expected, struct attest_pcrs *ret_pcrs,
    char **ret_err)
{
	struct attest_pcrs pcrs;
	TPM2B_ATTEST att;
	TPMT_SIGNATURE sig;
	int r;

	if (!nonce || nlen == 0 || nlen > ATTEST_NONCE_MAX)
		return errf(-BW_E_INVALID, ret_err,
		    "quote: challenge nonce must be 1..%d bytes", ATTEST_NONCE_MAX);
	if (tpm_blob_quote_decode(quote, qlen, &att, &sig, &pcrs) < 0)
		return errf(-BW_E_INVALID, ret_err,
		    "quote: malformed quote blob (%zu bytes)", qlen);
	if ((r = quote_check(ak_pem, &att, &sig, &pcrs, nonce, nlen, expected,
	    ret_err)) < 0)
		return r;
	if (ret_pcrs)
		*ret_pcrs = pcrs;
	return 0;
}

int
attest_quote_verify_parts(const char *ak_pem, const unsigned char *attest,
    size_t alen, const unsigned char *sig, size_t slen,
    const struct attest_pcrs *pcrs, const unsigned char *nonce, size_t nlen,
    const struct attest_pcrs *expected, char **ret_err)
{
	TPM2B_ATTEST	att = { .size = 0 };
	TPMT_SIGNATURE	tsig;
	size_t		off = 0;

	if (!nonce || nlen == 0 || nlen > ATTEST_NONCE_MAX)
		return errf(-BW_E_INVALID, ret_err,
		    "quote: challenge nonce must be 1..%d bytes", ATTEST_NONCE_MAX);
	if (!attest || alen == 0 || alen > sizeof(att.attestationData))
		return errf(-BW_E_INVALID, ret_err, "quote: the attestation "
		    "structure is %zu bytes, not 1..%zu", alen,
		    sizeof(att.attestationData));
	att.size = (UINT16)alen;
	memcpy(att.attestationData, attest, alen);
	memset(&tsig, 0, sizeof(tsig));
	if (!sig || Tss2_MU_TPMT_SIGNATURE_Unmarshal(sig, slen, &off, &tsig) !=
	    TSS2_RC_SUCCESS || off != slen)
		return errf(-BW_E_INVALID, ret_err, "quote: the signature is not "
		    "a marshalled TPMT_SIGNATURE (%zu bytes)", slen);
	return quote_check(ak_pem, &att, &tsig, pcrs, nonce, nlen, expected,
	    ret_err);
}

int
attest_quote_split(const unsigned char *quote, size_t qlen,
    unsigned char **ret_attest, size_t *ret_alen, unsigned char **ret_sig,
    size_t *ret_slen, struct attest_pcrs *ret_pcrs)
{
	_cleanup_free_ unsigned char	*a = NULL, *s = NULL;
	struct attest_pcrs		 pcrs;
	TPM2B_ATTEST			 att;
	TPMT_SIGNATURE			 sig;
	size_t				 slen = 0;

	if (tpm_blob_quote_decode(quote, qlen, &att, &sig, &pcrs) < 0)
		return -BW_E_INVALID;
	if (!(a = malloc(att.size ? att.size : 1)) ||
	    !(s = malloc(sizeof(TPMT_SIGNATURE))))
		return -ENOMEM;
	memcpy(a, att.attestationData, att.size);
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, s, sizeof(TPMT_SIGNATURE),
	    &slen) != TSS2_RC_SUCCESS)
		return -BW_E_INVALID;
	*ret_attest = TAKE_PTR(a);
	*ret_alen = att.size;
	*ret_sig = TAKE_PTR(s);
	*ret_slen = slen;
	*ret_pcrs = pcrs;
	return 0;
}

/* PolicyPCR digest as the TPM computes it, from a zero start:
 * H(0^32 || TPM_CC_PolicyPCR || TPML_PCR_SELECTION || composite). */
int
attest_pcr_policy_digest(const struct attest_pcrs *p,
    unsigned char ret[ATTEST_PCR_DIGEST_LEN])
{
	unsigned char buf[32 + 4 + sizeof(TPML_PCR_SELECTION) + 32];
	unsigned char composite[ATTEST_PCR_DIGEST_LEN];
	TPML_PCR_SELECTION sel;
	size_t off = 32;
	unsigned hl = 0;
	int r;

	memset(buf, 0, sizeof(buf));
	tpm_blob_pcr_selection(p->mask, &sel);
	if (Tss2_MU_UINT32_Marshal(TPM2_CC_PolicyPCR, buf, sizeof(buf), &off) !=
	    TSS2_RC_SUCCESS || Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, buf,
	    sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return -BW_E_CRYPTO;
	if ((r = attest_pcr_composite(p, composite)) < 0)
		return r;
	memcpy(buf + off, composite, sizeof(composite));
	off += sizeof(composite);
	if (!EVP_Digest(buf, off, ret, &hl, EVP_sha256(), NULL) ||
	    hl != ATTEST_PCR_DIGEST_LEN)
		return -BW_E_CRYPTO;
	return 0;
}

int
attest_sealed_policy(const unsigned char *blob, size_t len,
    struct attest_pcrs *ret_pcrs, char **ret_err)
{
	TPM2B_PUBLIC	pub;
	TPM2B_PRIVATE	priv;
	unsigned char	want[ATTEST_PCR_DIGEST_LEN];
	int		r;

	if (tpm_blob_sealed_decode(blob, len, &pub, &priv, ret_pcrs) < 0 ||
	    !ret_pcrs->mask)
		return errf(-BW_E_INVALID, ret_err, "not a sealed blob with its "
		    "PCR policy");
	/* The PCR values stored beside the object are not covered by the
	 * TPM's integrity check; its authPolicy is (it is in the object's
	 * name). Values that do not hash to it were edited. */
	if ((r = attest_pcr_policy_digest(ret_pcrs, want)) < 0)
		return errf(r, ret_err, "computing the PCR policy digest");
	if (pub.publicArea.authPolicy.size != sizeof(want) ||
	    CRYPTO_memcmp(pub.publicArea.authPolicy.buffer, want,
	    sizeof(want)) != 0)
		return errf(-BW_E_CORRUPT, ret_err, "the PCR values stored with "
		    "the sealed object do not match its authPolicy (they were "
		    "edited after sealing)");
	return 0;
}

/* ---- MakeCredential (TPM 2.0 Part 1, 11.4.9 KDFa/KDFe, 24) ---- */

/* Copies the next counter block H (HL bytes) of a KDF's output into
 * OUT after DONE of NEED bytes; returns the new DONE. */
static size_t
kdf_put(unsigned char *out, size_t need, size_t done, const unsigned char *h,
    unsigned hl)
{
	size_t take = need - done < hl ? need - done : hl;

	memcpy(out + done, h, take);
	return done + take;
}

/* KDFa (SP 800-108 counter mode with HMAC): LABEL is hashed with its
 * terminating NUL, as the TPM does. */
static int
kdfa(const EVP_MD *md, const unsigned char *key, size_t klen,
    const char *label, const unsigned char *cu, size_t culen,
    const unsigned char *cv, size_t cvlen, unsigned char *out, size_t bits)
{
	unsigned char buf[4 + 32 + 2 * 256 + 4], h[EVP_MAX_MD_SIZE];
	size_t need = (bits + 7) / 8, done = 0, llen = strlen(label) + 1;
	uint32_t i;

	if (4 + llen + culen + cvlen + 4 > sizeof(buf))
		return -BW_E_INVALID;
	for (i = 1; done < need; i++) {
		size_t off = 0;
		unsigned hl = 0;

		buf[off++] = i >> 24; buf[off++] = i >> 16;
		buf[off++] = i >> 8; buf[off++] = i;
		memcpy(buf + off, label, llen); off += llen;
		if (culen) { memcpy(buf + off, cu, culen); off += culen; }
		if (cvlen) { memcpy(buf + off, cv, cvlen); off += cvlen; }
		buf[off++] = bits >> 24; buf[off++] = bits >> 16;
		buf[off++] = bits >> 8; buf[off++] = bits;
		if (!HMAC(md, key, klen, buf, off, h, &hl))
			return -BW_E_CRYPTO;
		done = kdf_put(out, need, done, h, hl);
	}
	OPENSSL_cleanse(h, sizeof(h));
	return 0;
}

/* KDFe (SP 800-56A concatenation KDF) over the ECDH shared x-coordinate. */
static int
kdfe(const EVP_MD *md, const unsigned char *z, size_t zlen, const char *label,
    const unsigned char *pu, size_t pulen, const unsigned char *pv,
    size_t pvlen, unsigned char *out, size_t bits)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char h[EVP_MAX_MD_SIZE], c[4];
	size_t need = (bits + 7) / 8, done = 0;
	uint32_t i;

	if (!ctx)
		return -ENOMEM;
	for (i = 1; done < need; i++) {
		unsigned hl = 0;

		c[0] = i >> 24; c[1] = i >> 16; c[2] = i >> 8; c[3] = i;
		if (!EVP_DigestInit_ex(ctx, md, NULL) ||
		    !EVP_DigestUpdate(ctx, c, 4) ||
		    !EVP_DigestUpdate(ctx, z, zlen) ||
		    !EVP_DigestUpdate(ctx, label, strlen(label) + 1) ||
		    !EVP_DigestUpdate(ctx, pu, pulen) ||
		    !EVP_DigestUpdate(ctx, pv, pvlen) ||
		    !EVP_DigestFinal_ex(ctx, h, &hl))
			return -BW_E_CRYPTO;
		done = kdf_put(out, need, done, h, hl);
	}
	OPENSSL_cleanse(h, sizeof(h));
	return 0;
}

/* Name of a TPM object: nameAlg || H(marshalled TPMT_PUBLIC). */
static int
tpm_name(const TPMT_PUBLIC *p, unsigned char *out, size_t *ret_len)
{
	unsigned char buf[sizeof(TPMT_PUBLIC)];
	const EVP_MD *md = md_for_alg(p->nameAlg);
	unsigned hl = 0;
	size_t off = 0;

	if (!md || Tss2_MU_TPMT_PUBLIC_Marshal(p, buf, sizeof(buf), &off) !=
	    TSS2_RC_SUCCESS)
		return -BW_E_INVALID;
	out[0] = p->nameAlg >> 8;
	out[1] = p->nameAlg & 0xff;
	if (!EVP_Digest(buf, off, out + 2, &hl, md, NULL))
		return -BW_E_CRYPTO;
	*ret_len = 2 + hl;
	return 0;
}

/* Seed for an ECC EK: an ephemeral key on the EK's curve; the TPM
 * recomputes Z from the ephemeral public point sent as the secret. */
static int
seed_ecc(const TPMT_PUBLIC *ek, EVP_PKEY *ekkey, const EVP_MD *md,
    unsigned char *seed, size_t seedlen, TPM2B_ENCRYPTED_SECRET *ret_enc)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *eph = NULL;
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *dctx = NULL;
	unsigned char z[66], pt[1 + 2 * 66];
	TPMS_ECC_POINT point;
	const char *group;
	size_t flen, zlen = sizeof(z), ptlen = 0, off = 0;
	int r = -BW_E_CRYPTO;

	group = group_for_curve(ek->parameters.eccDetail.curveID, &flen);
	if (!group)
		return -BW_E_INVALID;
	eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
	if (!eph)
		return -BW_E_CRYPTO;
	dctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
	if (!dctx || EVP_PKEY_derive_init(dctx) <= 0 ||
	    EVP_PKEY_derive_set_peer(dctx, ekkey) <= 0 ||
	    EVP_PKEY_derive(dctx, z, &zlen) <= 0 || zlen != flen)
		goto out;
	if (!EVP_PKEY_get_octet_string_param(eph,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt), &ptlen) ||
	    ptlen != 1 + 2 * flen || pt[0] != 0x04)
		goto out;
	memset(&point, 0, sizeof(point));
	point.x.size = flen;
	memcpy(point.x.buffer, pt + 1, flen);
	point.y.size = flen;
	memcpy(point.y.buffer, pt + 1 + flen, flen);
	{
		unsigned char ekx[66];

		if (put_coord(ekx, flen, ek->unique.ecc.x.buffer,
		    ek->unique.ecc.x.size) < 0)
			goto out;
		r = kdfe(md, z, zlen, "IDENTITY", point.x.buffer, flen, ekx,
		    flen, seed, seedlen * 8);
		if (r < 0)
			goto out;
	}
	if (Tss2_MU_TPMS_ECC_POINT_Marshal(&point, ret_enc->secret,
	    sizeof(ret_enc->secret), &off) != TSS2_RC_SUCCESS) {
		r = -BW_E_INVALID;
		goto out;
	}
	ret_enc->size = off;
	r = 0;
out:
	OPENSSL_cleanse(z, sizeof(z));
	return r;
}

static const EVP_CIPHER *
aes_cfb(const TPMT_SYM_DEF_OBJECT *sym)
{
	if (sym->algorithm != TPM2_ALG_AES || sym->mode.aes != TPM2_ALG_CFB)
		return NULL;
	switch (sym->keyBits.aes) {
	case 128: return EVP_aes_128_cfb128();
	case 192: return EVP_aes_192_cfb128();
	case 256: return EVP_aes_256_cfb128();
	default: return NULL;
	}
}

int
attest_make_credential(const unsigned char *ek_pub, size_t ek_len,
    const unsigned char *ak_pub, size_t ak_len, const unsigned char *secret,
    size_t secret_len, unsigned char **ret_blob, size_t *ret_len,
    char **ret_err)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *ekkey = NULL;
	_cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *cctx = NULL;
	unsigned char seed[EVP_MAX_MD_SIZE], symkey[32], hmackey[EVP_MAX_MD_SIZE];
	unsigned char name[2 + EVP_MAX_MD_SIZE], plain[2 + ATTEST_CRED_SECRET_MAX];
	unsigned char enc[2 + ATTEST_CRED_SECRET_MAX];
	unsigned char mac_in[sizeof(enc) + sizeof(name)], mac[EVP_MAX_MD_SIZE];
	unsigned char iv[16] = { 0 };
	const TPMT_SYM_DEF_OBJECT *sym;
	const EVP_CIPHER *cipher;
	TPM2B_ENCRYPTED_SECRET encsecret;
	TPM2B_ID_OBJECT id;
	TPM2B_PUBLIC ek, ak;
	const EVP_MD *md;
	size_t namelen = 0, mdlen, plen, keybits;
	unsigned maclen = 0;
	int outl = 0, r;

	if (!secret || secret_len == 0 || secret_len > ATTEST_CRED_SECRET_MAX)
		return errf(-BW_E_INVALID, ret_err,
		    "credential: secret must be 1..%d bytes", ATTEST_CRED_SECRET_MAX);
	if ((r = attest_ak_check(ak_pub, ak_len, ret_err)) < 0)
		return r;
	if (tpm_blob_pub_decode(ak_pub, ak_len, &ak) < 0 ||
	    tpm_blob_pub_decode(ek_pub, ek_len, &ek) < 0)
		return errf(-BW_E_INVALID, ret_err,
		    "credential: EK public is not a marshalled TPM2B_PUBLIC");
	if ((ek.publicArea.objectAttributes &
	    (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)) !=
	    (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT))
		return errf(-BW_E_INVALID, ret_err,
		    "credential: EK public is not a restricted decryption key");
	/* tpm_ek_public() always yields the ECC P-256 EK (template L-2). */
	if (ek.publicArea.type != TPM2_ALG_ECC)
		return errf(-BW_E_INVALID, ret_err,
		    "credential: only ECC endorsement keys are supported");
	md = md_for_alg(ek.publicArea.nameAlg);
	sym = &ek.publicArea.parameters.eccDetail.symmetric;
	cipher = aes_cfb(sym);
	if (!md || !cipher)
		return errf(-BW_E_INVALID, ret_err,
		    "credential: EK name or symmetric algorithm unsupported");
	mdlen = EVP_MD_get_size(md);
	keybits = sym->keyBits.aes;
	if ((r = tpmt_to_pkey(&ek.publicArea, &ekkey, ret_err)) < 0)
		return r;
	if ((r = tpm_name(&ak.publicArea, name, &namelen)) < 0)
		return errf(r, ret_err, "credential: cannot compute the AK name");

	memset(&encsecret, 0, sizeof(encsecret));
	r = seed_ecc(&ek.publicArea, ekkey, md, seed, mdlen, &encsecret);
	if (r < 0) {
		errf(-BW_E_CRYPTO, ret_err,
		    "credential: cannot encrypt the seed to the EK");
		r = -BW_E_CRYPTO;
		goto out;
	}

	/* encIdentity = CFB(KDFa(seed, "STORAGE", name), TPM2B credential) */
	plain[0] = secret_len >> 8;
	plain[1] = secret_len & 0xff;
	memcpy(plain + 2, secret, secret_len);
	plen = 2 + secret_len;
	r = -BW_E_CRYPTO;
	if (kdfa(md, seed, mdlen, "STORAGE", name, namelen, NULL, 0, symkey,
	    keybits) < 0 ||
	    kdfa(md, seed, mdlen, "INTEGRITY", NULL, 0, NULL, 0, hmackey,
	    mdlen * 8) < 0)
		goto out;
	cctx = EVP_CIPHER_CTX_new();
	if (!cctx || !EVP_EncryptInit_ex(cctx, cipher, NULL, symkey, iv) ||
	    !EVP_EncryptUpdate(cctx, enc, &outl, plain, plen) ||
	    (size_t)outl != plen)
		goto out;
	memcpy(mac_in, enc, plen);
	memcpy(mac_in + plen, name, namelen);
	if (!HMAC(md, hmackey, mdlen, mac_in, plen + namelen, mac, &maclen))
		goto out;

	memset(&id, 0, sizeof(id));
	id.size = 2 + maclen + plen;
	id.credential[0] = maclen >> 8;
	id.credential[1] = maclen & 0xff;
	memcpy(id.credential + 2, mac, maclen);
	memcpy(id.credential + 2 + maclen, enc, plen);
	r = tpm_blob_cred_encode(&id, &encsecret, ret_blob, ret_len);
out:
	OPENSSL_cleanse(seed, sizeof(seed));
	OPENSSL_cleanse(symkey, sizeof(symkey));
	OPENSSL_cleanse(hmackey, sizeof(hmackey));
	OPENSSL_cleanse(plain, sizeof(plain));
	return r;
}

/* ---- nonces ---- */

struct attest_nonce_slot {
	unsigned char	nonce[ATTEST_NONCE_LEN];
	char		owner[ATTEST_OWNER_MAX];
	uint64_t	issued_ns;	/* bw_mono_ns() */
	int		live;
};

struct attest_nonces {
	size_t				 cap;
	unsigned			 ttl;
	struct attest_nonce_slot	*slots;
};

struct attest_nonces *
attest_nonces_new(size_t capacity, unsigned ttl_sec)
{
	struct attest_nonces *n;

	if (capacity == 0 || capacity > 1u << 20)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->slots = calloc(capacity, sizeof(*n->slots));
	if (!n->slots) {
		free(n);
		return NULL;
	}
	n->cap = capacity;
	n->ttl = ttl_sec;
	return n;
}

void
attest_nonces_free(struct attest_nonces *n)
{
	if (!n)
		return;
	OPENSSL_cleanse(n->slots, n->cap * sizeof(*n->slots));
	free(n->slots);
	free(n);
}

static int
nonce_slot_expired(const struct attest_nonces *n,
    const struct attest_nonce_slot *s, uint64_t now_ns)
{
	return now_ns / 1000000000u - s->issued_ns / 1000000000u > n->ttl;
}

int
attest_nonce_issue(struct attest_nonces *n, const char *owner,
    unsigned char ret_nonce[ATTEST_NONCE_LEN])
{
	struct attest_nonce_slot	*s, *free_slot = NULL, *oldest = NULL;
	uint64_t			 now;
	size_t				 i, mine = 0, olen;

	if (!owner || (olen = strlen(owner)) == 0 || olen >= ATTEST_OWNER_MAX)
		return -BW_E_INVALID;
	now = bw_mono_ns();
	/* A slot that is free or expired is anyone's; a live one is its
	 * owner's alone, and only the owner's own oldest makes room. */
	for (i = 0; i < n->cap; i++) {
		s = &n->slots[i];
		if (!s->live || nonce_slot_expired(n, s, now)) {
			if (!free_slot)
				free_slot = s;
			continue;
		}
		if (strcmp(s->owner, owner) != 0)
			continue;
		mine++;
		if (!oldest || s->issued_ns < oldest->issued_ns)
			oldest = s;
	}
	if (mine >= ATTEST_NONCES_PER_OWNER)
		s = oldest;
	else if (free_slot)
		s = free_slot;
	else
		return -BW_E_UNAVAILABLE;
	if (RAND_bytes(s->nonce, ATTEST_NONCE_LEN) != 1) {
		s->live = 0;
		return -BW_E_CRYPTO;
	}
	memcpy(s->owner, owner, olen + 1);
	s->issued_ns = now;
	s->live = 1;
	memcpy(ret_nonce, s->nonce, ATTEST_NONCE_LEN);
	return 0;
}

int
attest_nonce_consume(struct attest_nonces *n, const char *owner,
    const unsigned char *nonce, size_t len, char **ret_err)
{
	uint64_t now = bw_mono_ns();
	size_t i;

	if (len == ATTEST_NONCE_LEN && owner)
		for (i = 0; i < n->cap; i++) {
			struct attest_nonce_slot *s = &n->slots[i];

			if (!s->live || strcmp(s->owner, owner) != 0 ||
			    CRYPTO_memcmp(s->nonce, nonce, ATTEST_NONCE_LEN))
				continue;
			s->live = 0;
			if (nonce_slot_expired(n, s, now))
				return errf(-BW_E_DENIED, ret_err,
				    "nonce expired (issued more than %u s ago)",
				    n->ttl);
			return 0;
		}
	return errf(-BW_E_DENIED, ret_err,
	    "nonce was not issued to this node by this verifier or was "
	    "already used (replayed quote)");
}

int
attest_qualifying_data(const unsigned char *nonce, size_t nlen,
    const char *tls_pub_pem, unsigned char ret[32])
{
	static const char	 label[] = "bulwark-enrol-v1";
	unsigned char		 h[32];
	EVP_MD_CTX		*c;
	int			 ok;

	if (!EVP_Digest(tls_pub_pem, strlen(tls_pub_pem), h, NULL,
	    EVP_sha256(), NULL))
		return -BW_E_CRYPTO;
	if (!(c = EVP_MD_CTX_new()))
		return -ENOMEM;
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(c, label, strlen(label)) &&
	    EVP_DigestUpdate(c, nonce, nlen) &&
	    EVP_DigestUpdate(c, h, sizeof(h)) &&
	    EVP_DigestFinal_ex(c, ret, NULL);
	EVP_MD_CTX_free(c);
	return ok ? 0 : -BW_E_CRYPTO;
}
