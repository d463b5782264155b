#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <tss2/tss2_mu.h>

#include "identity/tpm-blob.h"
#include "lib/err.h"

static const unsigned char magic_quote[4] = { 'B', 'W', 'Q', '1' };
static const unsigned char magic_sealed[4] = { 'B', 'W', 'S', '1' };
static const unsigned char magic_cred[4] = { 'B', 'W', 'C', '1' };
static const unsigned char magic_key[4] = { 'B', 'W', 'K', '1' };

/* A fixed scratch buffer bounded by ATTEST_BLOB_MAX: every blob fits,
 * and a marshalling error means a structure was out of range. */
struct wbuf {
	unsigned char	 b[ATTEST_BLOB_MAX];
	size_t		 off;
	int		 failed;
};

#define W(wb, type, src) do {						\
	if (!(wb)->failed && Tss2_MU_##type##_Marshal((src), (wb)->b,	\
	    sizeof((wb)->b), &(wb)->off) != TSS2_RC_SUCCESS)		\
		(wb)->failed = 1;					\
} while (0)

#define R(buf, len, off, type, dst)					\
	(Tss2_MU_##type##_Unmarshal((buf), (len), (off), (dst)) ==	\
	    TSS2_RC_SUCCESS)

static void
wbuf_bytes(struct wbuf *wb, const void *p, size_t n)
{
	if (wb->failed || n > sizeof(wb->b) - wb->off) {
		wb->failed = 1;
		return;
	}
	memcpy(wb->b + wb->off, p, n);
	wb->off += n;
}

static void
wbuf_pcrs(struct wbuf *wb, const struct attest_pcrs *p)
{
	unsigned i;

	W(wb, UINT32, p->mask);
	for (i = 0; i < ATTEST_PCR_COUNT; i++)
		if (p->mask & (1u << i))
			wbuf_bytes(wb, p->digest[i], ATTEST_PCR_DIGEST_LEN);
}

static int
rbuf_pcrs(const unsigned char *buf, size_t len, size_t *off,
    struct attest_pcrs *p)
{
	unsigned i;

	memset(p, 0, sizeof(*p));
	if (!R(buf, len, off, UINT32, &p->mask))
		return -BW_E_INVALID;
	if (p->mask >> ATTEST_PCR_COUNT)
		return -BW_E_INVALID;
	for (i = 0; i < ATTEST_PCR_COUNT; i++) {
		if (!(p->mask & (1u << i)))
			continue;
		if (len - *off < ATTEST_PCR_DIGEST_LEN)
			return -BW_E_INVALID;
		memcpy(p->digest[i], buf + *off, ATTEST_PCR_DIGEST_LEN);
		*off += ATTEST_PCR_DIGEST_LEN;
	}
	return 0;
}

/* Hands out a copy of the scratch buffer and wipes it: sealed blobs hold
 * only TPM-encrypted private parts, but nothing is left on the stack. */
static int
wbuf_finish(struct wbuf *wb, unsigned char **ret, size_t *ret_len)
{
	unsigned char *out;

	if (wb->failed) {
		OPENSSL_cleanse(wb->b, sizeof(wb->b));
		return -BW_E_INVALID;
	}
	out = malloc(wb->off);
	if (!out) {
		OPENSSL_cleanse(wb->b, sizeof(wb->b));
		return -ENOMEM;
	}
	memcpy(out, wb->b, wb->off);
	*ret = out;
	*ret_len = wb->off;
	OPENSSL_cleanse(wb->b, sizeof(wb->b));
	return 0;
}

static int
check_magic(const unsigned char *buf, size_t len, const unsigned char m[4])
{
	if (!buf || len < 4 || len > ATTEST_BLOB_MAX || memcmp(buf, m, 4) != 0)
		return -BW_E_INVALID;
	return 0;
}

int
tpm_blob_quote_encode(const TPM2B_ATTEST *att, const TPMT_SIGNATURE *sig,
    const struct attest_pcrs *pcrs, unsigned char **ret, size_t *ret_len)
{
	struct wbuf wb = { .off = 0 };

	wbuf_bytes(&wb, magic_quote, 4);
	W(&wb, TPM2B_ATTEST, att);
	W(&wb, TPMT_SIGNATURE, sig);
	wbuf_pcrs(&wb, pcrs);
	return wbuf_finish(&wb, ret, ret_len);
}

int
tpm_blob_quote_decode(const unsigned char *buf, size_t len,
    TPM2B_ATTEST *ret_att, TPMT_SIGNATURE *ret_sig,
    struct attest_pcrs *ret_pcrs)
{
	size_t off = 4;

	if (check_magic(buf, len, magic_quote) < 0)
		return -BW_E_INVALID;
	memset(ret_att, 0, sizeof(*ret_att));
	memset(ret_sig, 0, sizeof(*ret_sig));
	if (!R(buf, len, &off, TPM2B_ATTEST, ret_att) ||
	    !R(buf, len, &off, TPMT_SIGNATURE, ret_sig) ||
	    rbuf_pcrs(buf, len, &off, ret_pcrs) < 0 || off != len)
		return -BW_E_INVALID;
	return 0;
}

/* MAGIC, a TPM object's public and wrapped private parts and, when PCRS
 * is not NULL, a PCR set: the layout of sealed objects and keys. */
static int
obj_encode(const unsigned char magic[4], const TPM2B_PUBLIC *pub,
    const TPM2B_PRIVATE *priv, const struct attest_pcrs *pcrs,
    unsigned char **ret, size_t *ret_len)
{
	struct wbuf wb = { .off = 0 };

	wbuf_bytes(&wb, magic, 4);
	W(&wb, TPM2B_PUBLIC, pub);
	W(&wb, TPM2B_PRIVATE, priv);
	if (pcrs)
		wbuf_pcrs(&wb, pcrs);
	return wbuf_finish(&wb, ret, ret_len);
}

static int
obj_decode(const unsigned char *buf, size_t len, const unsigned char magic[4],
    TPM2B_PUBLIC *ret_pub, TPM2B_PRIVATE *ret_priv,
    struct attest_pcrs *ret_pcrs)
{
	size_t off = 4;

	if (check_magic(buf, len, magic) < 0)
		return -BW_E_INVALID;
	memset(ret_pub, 0, sizeof(*ret_pub));
	memset(ret_priv, 0, sizeof(*ret_priv));
	if (!R(buf, len, &off, TPM2B_PUBLIC, ret_pub) ||
	    !R(buf, len, &off, TPM2B_PRIVATE, ret_priv) ||
	    (ret_pcrs && rbuf_pcrs(buf, len, &off, ret_pcrs) < 0) ||
	    off != len)
		return -BW_E_INVALID;
	return 0;
}

int
tpm_blob_sealed_encode(const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
    const struct attest_pcrs *pcrs, unsigned char **ret, size_t *ret_len)
{
	return obj_encode(magic_sealed, pub, priv, pcrs, ret, ret_len);
}

int
tpm_blob_sealed_decode(const unsigned char *buf, size_t len,
    TPM2B_PUBLIC *ret_pub, TPM2B_PRIVATE *ret_priv,
    struct attest_pcrs *ret_pcrs)
{
	return obj_decode(buf, len, magic_sealed, ret_pub, ret_priv, ret_pcrs);
}

int
tpm_blob_key_encode(const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
    unsigned char **ret, size_t *ret_len)
{
	return obj_encode(magic_key, pub, priv, NULL, ret, ret_len);
}

int
tpm_blob_key_decode(const unsigned char *buf, size_t len,
    TPM2B_PUBLIC *ret_pub, TPM2B_PRIVATE *ret_priv)
{
	return obj_decode(buf, len, magic_key, ret_pub, ret_priv, NULL);
}

int
tpm_blob_cred_encode(const TPM2B_ID_OBJECT *id,
    const TPM2B_ENCRYPTED_SECRET *secret, unsigned char **ret,
    size_t *ret_len)
{
	struct wbuf wb = { .off = 0 };

	wbuf_bytes(&wb, magic_cred, 4);
	W(&wb, TPM2B_ID_OBJECT, id);
	W(&wb, TPM2B_ENCRYPTED_SECRET, secret);
	return wbuf_finish(&wb, ret, ret_len);
}

int
tpm_blob_cred_decode(const unsigned char *buf, size_t len,
    TPM2B_ID_OBJECT *ret_id, TPM2B_ENCRYPTED_SECRET *ret_secret)
{
	size_t off = 4;

	if (check_magic(buf, len, magic_cred) < 0)
		return -BW_E_INVALID;
	memset(ret_id, 0, sizeof(*ret_id));
	memset(ret_secret, 0, sizeof(*ret_secret));
	if (!R(buf, len, &off, TPM2B_ID_OBJECT, ret_id) ||
	    !R(buf, len, &off, TPM2B_ENCRYPTED_SECRET, ret_secret) ||
	    off != len)
		return -BW_E_INVALID;
	return 0;
}

int
tpm_blob_pub_encode(const TPM2B_PUBLIC *pub, unsigned char **ret,
    size_t *ret_len)
{
	struct wbuf wb = { .off = 0 };

	W(&wb, TPM2B_PUBLIC, pub);
	return wbuf_finish(&wb, ret, ret_len);
}

int
tpm_blob_pub_decode(const unsigned char *buf, size_t len,
    TPM2B_PUBLIC *ret_pub)
{
	size_t off = 0;

	if (!buf || len > ATTEST_BLOB_MAX)
		return -BW_E_INVALID;
	memset(ret_pub, 0, sizeof(*ret_pub));
	if (!R(buf, len, &off, TPM2B_PUBLIC, ret_pub) || off != len)
		return -BW_E_INVALID;
	return 0;
}

void
tpm_blob_pcr_selection(uint32_t mask, TPML_PCR_SELECTION *ret_sel)
{
	memset(ret_sel, 0, sizeof(*ret_sel));
	ret_sel->count = 1;
	ret_sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	ret_sel->pcrSelections[0].sizeofSelect = 3;
	ret_sel->pcrSelections[0].pcrSelect[0] = mask & 0xff;
	ret_sel->pcrSelections[0].pcrSelect[1] = (mask >> 8) & 0xff;
	ret_sel->pcrSelections[0].pcrSelect[2] = (mask >> 16) & 0xff;
}

int
tpm_blob_pcr_mask(const TPML_PCR_SELECTION *sel, uint32_t *ret_mask)
{
	const TPMS_PCR_SELECTION *s;
	uint32_t mask = 0;
	unsigned i;

	if (sel->count != 1)
		return -BW_E_INVALID;
	s = &sel->pcrSelections[0];
	if (s->hash != TPM2_ALG_SHA256 || s->sizeofSelect > sizeof(s->pcrSelect))
		return -BW_E_INVALID;
	for (i = 0; i < s->sizeofSelect; i++) {
		if (i >= 3 && s->pcrSelect[i])
			return -BW_E_INVALID;
		if (i < 3)
			mask |= (uint32_t)s->pcrSelect[i] << (8 * i);
	}
	*ret_mask = mask;
	return 0;
}
