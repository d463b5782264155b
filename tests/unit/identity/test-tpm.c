/* TPM identity library against real swtpm instances: each test starts
 * its own swtpm(s) in a private temp directory and stops them. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "identity/attest.h"
#include "identity/swtpm.h"
#include "identity/tpm-blob.h"
#include "identity/tpm-pkey.h"
#include "identity/tpm.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"

struct fx {
	char		 dir[64];
	char		 state[96];
	struct swtpm	*sw;
	struct tpm	*tpm;
	/* a second, unrelated TPM where a test needs one */
	char		 state2[96];
	struct swtpm	*sw2;
	struct tpm	*tpm2;
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
open_tpm(const char *tcti, struct tpm **ret)
{
	char *err = NULL;
	int r = tpm_open(tcti, ret, &err);

	if (r < 0)
		fail_msg("tpm_open: %s", err);
	free(err);
}

static void
start_sw(const char *state, struct swtpm **ret)
{
	char *err = NULL;
	int r = swtpm_start(state, ret, &err);

	if (r < 0)
		fail_msg("swtpm_start: %s", err);
	free(err);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char *err = NULL;

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/bw-test-tpm.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->state, sizeof(f->state), "%s/tpm1", f->dir);
	snprintf(f->state2, sizeof(f->state2), "%s/tpm2", f->dir);
	*state = f;
	/* On failure cmocka skips teardown, so undo here. */
	if (swtpm_start(f->state, &f->sw, &err) < 0 ||
	    tpm_open(swtpm_tcti(f->sw), &f->tpm, &err) < 0) {
		print_error("setup: %s\n", err ? err : "?");
		free(err);
		swtpm_stop(f->sw);
		nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		free(f);
		return -1;
	}
	return 0;
}

static void
second_tpm(struct fx *f)
{
	start_sw(f->state2, &f->sw2);
	open_tpm(swtpm_tcti(f->sw2), &f->tpm2);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	tpm_close(f->tpm);
	tpm_close(f->tpm2);
	assert_true(swtpm_stop(f->sw) >= 0);
	assert_true(swtpm_stop(f->sw2) >= 0);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static char *
ak_pem(struct tpm *t, unsigned char **ret_pub, size_t *ret_len)
{
	unsigned char *pub = NULL;
	size_t len = 0;
	char *pem = NULL, *err = NULL;

	assert_true(tpm_ak_ensure(t, TPM_AK_HANDLE_DEFAULT, &pub, &len, &err) >= 0);
	assert_int_equal(attest_pub_to_pem(pub, len, &pem, &err), 0);
	if (ret_pub) {
		*ret_pub = pub;
		*ret_len = len;
	} else {
		free(pub);
	}
	return pem;
}

static void
test_ak_persists(void **state)
{
	struct fx *f = *state;
	unsigned char *p1 = NULL, *p2 = NULL, *p3 = NULL;
	size_t l1 = 0, l2 = 0, l3 = 0;
	char *err = NULL;

	assert_int_equal(tpm_ak_ensure(f->tpm, TPM_AK_HANDLE_DEFAULT, &p1, &l1,
	    &err), 1);
	assert_int_equal(attest_ak_check(p1, l1, &err), 0);
	/* reopen the ESAPI context: found, not created */
	tpm_close(f->tpm);
	open_tpm(swtpm_tcti(f->sw), &f->tpm);
	assert_int_equal(tpm_ak_ensure(f->tpm, TPM_AK_HANDLE_DEFAULT, &p2, &l2,
	    &err), 0);
	assert_int_equal(l1, l2);
	assert_memory_equal(p1, p2, l1);
	/* restart the TPM itself on the same state directory */
	tpm_close(f->tpm);
	f->tpm = NULL;
	assert_true(swtpm_stop(f->sw) >= 0);
	start_sw(f->state, &f->sw);
	open_tpm(swtpm_tcti(f->sw), &f->tpm);
	assert_int_equal(tpm_ak_ensure(f->tpm, TPM_AK_HANDLE_DEFAULT, &p3, &l3,
	    &err), 0);
	assert_int_equal(l1, l3);
	assert_memory_equal(p1, p3, l1);
	free(p1);
	free(p2);
	free(p3);
}

static void
test_evict_and_recreate(void **state)
{
	struct fx *f = *state;
	char *err = NULL;

	assert_int_equal(tpm_ak_ensure(f->tpm, TPM_AK_HANDLE_DEFAULT, NULL,
	    NULL, &err), 1);
	assert_int_equal(tpm_evict(f->tpm, TPM_AK_HANDLE_DEFAULT, &err), 0);
	assert_int_equal(tpm_evict(f->tpm, TPM_AK_HANDLE_DEFAULT, &err),
	    -BW_E_NOTFOUND);
	free(err);
	err = NULL;
	assert_int_equal(tpm_ak_ensure(f->tpm, TPM_AK_HANDLE_DEFAULT, NULL,
	    NULL, &err), 1);
	assert_int_equal(tpm_evict(f->tpm, TPM_SRK_HANDLE, &err), -EINVAL);
	free(err);
}

static void
test_ak_handle_taken(void **state)
{
	struct fx *f = *state;
	struct tpm_signer *s = NULL;
	char *err = NULL;

	/* An unrestricted key sits where the AK should be: refused. */
	assert_int_equal(tpm_signer_open(f->tpm, TPM_AK_HANDLE_DEFAULT, &s,
	    &err), 0);
	tpm_signer_free(s);
	assert_int_equal(tpm_ak_ensure(f->tpm, TPM_AK_HANDLE_DEFAULT, NULL,
	    NULL, &err), -BW_E_CONFLICT);
	assert_non_null(strstr(err, "taken by another key"));
	free(err);
}

static void
quote_fresh(struct fx *f, struct tpm *t, const unsigned char *nonce,
    unsigned char **ret_q, size_t *ret_len)
{
	char *err = NULL;
	int r = tpm_quote(t, TPM_AK_HANDLE_DEFAULT, TPM_SEAL_PCRS_DEFAULT,
	    nonce, ATTEST_NONCE_LEN, ret_q, ret_len, &err);

	if (r < 0)
		fail_msg("tpm_quote: %s", err);
}

static void
test_quote_verifies(void **state)
{
	struct fx *f = *state;
	struct attest_nonces *reg = attest_nonces_new(16, 60);
	struct attest_pcrs expected, got;
	unsigned char nonce[ATTEST_NONCE_LEN], *q = NULL;
	size_t qlen = 0;
	char *pem = ak_pem(f->tpm, NULL, NULL), *err = NULL;
	int r;

	assert_non_null(reg);
	assert_int_equal(attest_nonce_issue(reg, "n1", nonce), 0);
	quote_fresh(f, f->tpm, nonce, &q, &qlen);
	assert_int_equal(tpm_pcr_read(f->tpm, TPM_SEAL_PCRS_DEFAULT, &expected,
	    &err), 0);
	r = attest_quote_verify(pem, q, qlen, nonce, sizeof(nonce), &expected,
	    &got, &err);
	if (r < 0)
		fail_msg("verify: %s", err);
	assert_memory_equal(&got, &expected, sizeof(got));
	/* Another node cannot spend n1's nonce, nor learn it exists. */
	assert_int_equal(attest_nonce_consume(reg, "n2", nonce, sizeof(nonce),
	    &err), -BW_E_DENIED);
	free(err);
	err = NULL;
	assert_int_equal(attest_nonce_consume(reg, "n1", nonce, sizeof(nonce),
	    &err), 0);

	/* The same quote presented again: the nonce is spent. */
	assert_int_equal(attest_nonce_consume(reg, "n1", nonce, sizeof(nonce),
	    &err),
	    -BW_E_DENIED);
	assert_non_null(strstr(err, "already used"));
	free(err);
	attest_nonces_free(reg);
	free(q);
	free(pem);
}

static void
test_quote_wrong_nonce(void **state)
{
	struct fx *f = *state;
	unsigned char nonce[ATTEST_NONCE_LEN], other[ATTEST_NONCE_LEN], *q = NULL;
	size_t qlen = 0;
	char *pem = ak_pem(f->tpm, NULL, NULL), *err = NULL;

	memset(nonce, 0x11, sizeof(nonce));
	memset(other, 0x22, sizeof(other));
	quote_fresh(f, f->tpm, nonce, &q, &qlen);
	assert_int_equal(attest_quote_verify(pem, q, qlen, other, sizeof(other),
	    NULL, NULL, &err), -BW_E_DENIED);
	assert_non_null(strstr(err, "nonce"));
	free(err);
	err = NULL;
	/* a flipped byte in the signed structure breaks the signature */
	q[20] ^= 1;
	assert_int_equal(attest_quote_verify(pem, q, qlen, nonce, sizeof(nonce),
	    NULL, NULL, &err), -BW_E_DENIED);
	assert_non_null(strstr(err, "signature"));
	free(err);
	err = NULL;
	/* truncated */
	assert_int_equal(attest_quote_verify(pem, q, qlen - 1, nonce,
	    sizeof(nonce), NULL, NULL, &err), -BW_E_INVALID);
	free(err);
	free(q);
	free(pem);
}

static void
test_quote_other_tpm(void **state)
{
	struct fx *f = *state;
	unsigned char nonce[ATTEST_NONCE_LEN], *q = NULL;
	size_t qlen = 0;
	char *pem1, *pem2, *err = NULL;

	second_tpm(f);
	pem1 = ak_pem(f->tpm, NULL, NULL);
	pem2 = ak_pem(f->tpm2, NULL, NULL);
	assert_string_not_equal(pem1, pem2);
	memset(nonce, 0x33, sizeof(nonce));
	quote_fresh(f, f->tpm2, nonce, &q, &qlen);
	assert_int_equal(attest_quote_verify(pem2, q, qlen, nonce, sizeof(nonce),
	    NULL, NULL, &err), 0);
	assert_int_equal(attest_quote_verify(pem1, q, qlen, nonce, sizeof(nonce),
	    NULL, NULL, &err), -BW_E_DENIED);
	assert_non_null(strstr(err, "another TPM"));
	free(err);
	free(q);
	free(pem1);
	free(pem2);
}

static void
test_quote_pcr_drift(void **state)
{
	struct fx *f = *state;
	struct attest_pcrs golden;
	unsigned char nonce[ATTEST_NONCE_LEN], d[32], *q = NULL;
	size_t qlen = 0;
	char *pem = ak_pem(f->tpm, NULL, NULL), *err = NULL;

	assert_int_equal(tpm_pcr_read(f->tpm, TPM_SEAL_PCRS_DEFAULT, &golden,
	    &err), 0);
	memset(d, 0xab, sizeof(d));
	assert_int_equal(tpm_pcr_extend(f->tpm, 7, d, &err), 0);
	memset(nonce, 0x44, sizeof(nonce));
	quote_fresh(f, f->tpm, nonce, &q, &qlen);
	assert_int_equal(attest_quote_verify(pem, q, qlen, nonce, sizeof(nonce),
	    &golden, NULL, &err), -BW_E_DENIED);
	assert_non_null(strstr(err, "PCR 7 differ"));
	free(err);
	free(q);
	free(pem);
}

static const char secret[] = "store-key: 6f1c0a7e9b2d4c58a3e1";

static void
seal_current(struct tpm *t, unsigned char **ret_blob, size_t *ret_len)
{
	struct attest_pcrs now;
	char *err = NULL;

	assert_int_equal(tpm_pcr_read(t, TPM_SEAL_PCRS_DEFAULT, &now, &err), 0);
	if (tpm_seal(t, &now, secret, sizeof(secret), ret_blob, ret_len, &err) < 0)
		fail_msg("seal: %s", err);
}

static void
expect_unseal(struct tpm *t, const unsigned char *blob, size_t len)
{
	unsigned char *out = NULL;
	size_t olen = 0;
	char *err = NULL;

	if (tpm_unseal(t, blob, len, &out, &olen, &err) < 0)
		fail_msg("unseal: %s", err);
	assert_int_equal(olen, sizeof(secret));
	assert_memory_equal(out, secret, olen);
	tpm_secret_free(out, olen);
}

/* The quote in its standard parts (evidence bundles): split, verified,
 * and refused when the nonce, the signed bytes or the PCR values differ;
 * PCR values through JSON and back; a sealed blob's policy read. */
/* PCR values stored beside a sealed object, edited to other values (the
 * ones an intruder wants recorded as golden), no longer hash to the
 * object's authPolicy and are refused. */
static void
sealed_policy_edited(const unsigned char *blob, size_t blen)
{
	struct attest_pcrs	 pcrs, back;
	TPM2B_PUBLIC		 pub;
	TPM2B_PRIVATE		 priv;
	unsigned char		*forged = NULL;
	size_t			 flen = 0;
	char			*err = NULL;

	assert_int_equal(tpm_blob_sealed_decode(blob, blen, &pub, &priv, &pcrs),
	    0);
	pcrs.digest[7][0] ^= 0x5a;
	assert_int_equal(tpm_blob_sealed_encode(&pub, &priv, &pcrs, &forged,
	    &flen), 0);
	assert_int_equal(attest_sealed_policy(forged, flen, &back, &err),
	    -BW_E_CORRUPT);
	assert_non_null(strstr(err, "authPolicy"));
	free(err);
	free(forged);
}

static void
test_quote_parts(void **state)
{
	struct fx *f = *state;
	unsigned char nonce[32], *q = NULL, *att = NULL, *sig = NULL, *blob = NULL;
	struct attest_pcrs pcrs, back, now, policy;
	size_t qlen = 0, alen = 0, slen = 0, blen = 0;
	char *pem = ak_pem(f->tpm, NULL, NULL), *err = NULL;
	json_t *j;

	memset(nonce, 0x33, sizeof(nonce));
	quote_fresh(f, f->tpm, nonce, &q, &qlen);
	assert_int_equal(attest_quote_split(q, qlen, &att, &alen, &sig, &slen,
	    &pcrs), 0);
	assert_int_equal(attest_quote_split(q, qlen - 1, &att, &alen, &sig,
	    &slen, &pcrs), -BW_E_INVALID);
	assert_int_equal(tpm_pcr_read(f->tpm, TPM_SEAL_PCRS_DEFAULT, &now, &err),
	    0);
	assert_non_null(j = attest_pcrs_to_json(&pcrs));
	assert_int_equal(json_object_size(j), 5);
	assert_int_equal(attest_pcrs_from_json(j, &back, &err), 0);
	json_decref(j);
	assert_int_equal(back.mask, TPM_SEAL_PCRS_DEFAULT);
	assert_int_equal(attest_pcr_diff(&back, &now, (char[128]){ 0 }, 128), 0);
	if (attest_quote_verify_parts(pem, att, alen, sig, slen, &back, nonce,
	    sizeof(nonce), &now, &err) < 0)
		fail_msg("verify parts: %s", err);
	nonce[0] ^= 1;
	assert_int_equal(attest_quote_verify_parts(pem, att, alen, sig, slen,
	    &back, nonce, sizeof(nonce), NULL, &err), -BW_E_DENIED);
	assert_non_null(strstr(err, "nonce"));
	free(err);
	err = NULL;
	nonce[0] ^= 1;
	back.digest[7][0] ^= 1;
	assert_int_equal(attest_quote_verify_parts(pem, att, alen, sig, slen,
	    &back, nonce, sizeof(nonce), NULL, &err), -BW_E_DENIED);
	assert_non_null(strstr(err, "signed PCR digest"));
	free(err);
	err = NULL;
	back.digest[7][0] ^= 1;
	att[alen - 1] ^= 1;
	assert_int_equal(attest_quote_verify_parts(pem, att, alen, sig, slen,
	    &back, nonce, sizeof(nonce), NULL, &err), -BW_E_DENIED);
	assert_non_null(strstr(err, "signature"));
	free(err);
	err = NULL;
	assert_int_equal(attest_quote_verify_parts(pem, att, alen, sig, slen - 1,
	    &back, nonce, sizeof(nonce), NULL, &err), -BW_E_INVALID);
	free(err);
	err = NULL;
	assert_non_null(j = json_pack("{s:s}", "7", "zz"));
	assert_int_equal(attest_pcrs_from_json(j, &back, &err), -BW_E_INVALID);
	json_decref(j);
	free(err);
	err = NULL;

	seal_current(f->tpm, &blob, &blen);
	assert_int_equal(attest_sealed_policy(blob, blen, &policy, &err), 0);
	assert_int_equal(policy.mask, TPM_SEAL_PCRS_DEFAULT);
	assert_int_equal(attest_pcr_diff(&policy, &now, (char[128]){ 0 }, 128), 0);
	assert_int_equal(attest_sealed_policy(q, qlen, &policy, &err),
	    -BW_E_INVALID);
	free(err);
	err = NULL;
	sealed_policy_edited(blob, blen);
	free(blob);
	free(att);
	free(sig);
	free(q);
	free(pem);
}

static void
test_seal_unseal(void **state)
{
	struct fx *f = *state;
	unsigned char *blob = NULL;
	size_t len = 0;

	seal_current(f->tpm, &blob, &len);
	assert_null(memmem(blob, len, secret, sizeof(secret) - 1));
	expect_unseal(f->tpm, blob, len);
	/* survives a fresh context */
	tpm_close(f->tpm);
	open_tpm(swtpm_tcti(f->sw), &f->tpm);
	expect_unseal(f->tpm, blob, len);
	free(blob);
}

static void
test_unseal_names_changed_pcr(void **state)
{
	struct fx *f = *state;
	unsigned char *blob = NULL, *out = NULL, d[32];
	size_t len = 0, olen = 0;
	char *err = NULL;

	seal_current(f->tpm, &blob, &len);
	memset(d, 0x5a, sizeof(d));
	assert_int_equal(tpm_pcr_extend(f->tpm, TPM_BULWARK_PCR, d, &err), 0);
	assert_int_equal(tpm_unseal(f->tpm, blob, len, &out, &olen, &err),
	    -BW_E_DENIED);
	assert_null(out);
	assert_non_null(strstr(err, "PCR 13 changed"));
	assert_non_null(strstr(err, "0,2,4,7,13"));
	free(err);
	free(blob);
}

static void
test_tpm_enforces_policy(void **state)
{
	struct fx *f = *state;
	struct attest_pcrs now, wrong;
	unsigned char *blob = NULL, *out = NULL;
	size_t len = 0, olen = 0;
	char *err = NULL;

	/* Seal to a value PCR 4 does not hold: our pre-check names it. */
	assert_int_equal(tpm_pcr_read(f->tpm, 1u << 4, &now, &err), 0);
	wrong = now;
	wrong.digest[4][0] ^= 0xff;
	assert_int_equal(tpm_seal(f->tpm, &wrong, secret, sizeof(secret), &blob,
	    &len, &err), 0);
	assert_int_equal(tpm_unseal(f->tpm, blob, len, &out, &olen, &err),
	    -BW_E_DENIED);
	assert_non_null(strstr(err, "PCR 4 changed"));
	free(err);
	err = NULL;
	/* The values stored beside the object are only a diagnostic: doctor
	 * them to match and the TPM's own policy check still refuses. */
	assert_memory_equal(blob + len - 32, wrong.digest[4], 32);
	memcpy(blob + len - 32, now.digest[4], 32);
	assert_int_equal(tpm_unseal(f->tpm, blob, len, &out, &olen, &err),
	    -BW_E_CRYPTO);
	assert_null(out);
	assert_non_null(strstr(err, "Unseal"));
	free(err);
	free(blob);
}

static void
test_reseal_recovers(void **state)
{
	struct fx *f = *state;
	struct attest_pcrs next;
	unsigned char *blob = NULL, *blob2 = NULL, *out = NULL, d[32];
	size_t len = 0, len2 = 0, olen = 0;
	char *err = NULL;

	seal_current(f->tpm, &blob, &len);
	/* planned update: the new config's measurement is known ahead */
	memset(d, 0x77, sizeof(d));
	assert_int_equal(tpm_pcr_read(f->tpm, TPM_SEAL_PCRS_DEFAULT, &next,
	    &err), 0);
	assert_int_equal(attest_pcr_predict_extend(&next, TPM_BULWARK_PCR, d), 0);
	if (tpm_reseal(f->tpm, blob, len, &next, &blob2, &len2, &err) < 0)
		fail_msg("reseal: %s", err);
	assert_int_equal(tpm_pcr_extend(f->tpm, TPM_BULWARK_PCR, d, &err), 0);
	assert_int_equal(tpm_unseal(f->tpm, blob, len, &out, &olen, &err),
	    -BW_E_DENIED);
	free(err);
	expect_unseal(f->tpm, blob2, len2);
	free(blob);
	free(blob2);
}

static void
test_credential_roundtrip(void **state)
{
	struct fx *f = *state;
	unsigned char *ek = NULL, *ak = NULL, *cred = NULL, *out = NULL;
	unsigned char challenge[32];
	size_t eklen = 0, aklen = 0, clen = 0, olen = 0;
	char *pem, *err = NULL;
	int r;

	pem = ak_pem(f->tpm, &ak, &aklen);
	assert_int_equal(tpm_ek_public(f->tpm, &ek, &eklen, &err), 0);
	memset(challenge, 0xc3, sizeof(challenge));
	assert_int_equal(attest_make_credential(ek, eklen, ak, aklen, challenge,
	    sizeof(challenge), &cred, &clen, &err), 0);
	r = tpm_activate_credential(f->tpm, TPM_AK_HANDLE_DEFAULT, cred, clen,
	    &out, &olen, &err);
	if (r < 0)
		fail_msg("activate: %s", err);
	assert_int_equal(olen, sizeof(challenge));
	assert_memory_equal(out, challenge, olen);
	tpm_secret_free(out, olen);
	/* an EK public that is not a decryption key is refused */
	free(cred);
	cred = NULL;
	assert_int_equal(attest_make_credential(ak, aklen, ak, aklen, challenge,
	    sizeof(challenge), &cred, &clen, &err), -BW_E_INVALID);
	free(err);
	free(ek);
	free(ak);
	free(pem);
}

static void
test_credential_other_ek(void **state)
{
	struct fx *f = *state;
	unsigned char *ek2 = NULL, *ak = NULL, *ak2 = NULL, *cred = NULL;
	unsigned char *out = NULL, challenge[32];
	size_t ek2len = 0, aklen = 0, ak2len = 0, clen = 0, olen = 0;
	char *pem, *pem2, *err = NULL;

	second_tpm(f);
	pem = ak_pem(f->tpm, &ak, &aklen);
	pem2 = ak_pem(f->tpm2, &ak2, &ak2len);
	assert_int_equal(tpm_ek_public(f->tpm2, &ek2, &ek2len, &err), 0);
	memset(challenge, 0x3c, sizeof(challenge));
	/* made for TPM 2's EK, presented to TPM 1 */
	assert_int_equal(attest_make_credential(ek2, ek2len, ak, aklen, challenge,
	    sizeof(challenge), &cred, &clen, &err), 0);
	assert_int_equal(tpm_activate_credential(f->tpm, TPM_AK_HANDLE_DEFAULT,
	    cred, clen, &out, &olen, &err), -BW_E_DENIED);
	assert_non_null(strstr(err, "not made for this TPM"));
	free(err);
	err = NULL;
	/* TPM 2 holds the EK but not that AK: refused as well */
	assert_int_equal(tpm_activate_credential(f->tpm2, TPM_AK_HANDLE_DEFAULT,
	    cred, clen, &out, &olen, &err), -BW_E_DENIED);
	assert_null(out);
	free(err);
	free(cred);
	free(ek2);
	free(ak);
	free(ak2);
	free(pem);
	free(pem2);
}

static EVP_PKEY *
pem_pub(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k;

	assert_non_null(b);
	k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(k);
	return k;
}

static void
test_checkpoint_signature(void **state)
{
	struct fx *f = *state;
	struct tpm_signer *s = NULL, *s2 = NULL;
	static const char msg[] = "audit checkpoint seq=4711 head=ab12...";
	unsigned char digest[48], *sig = NULL;
	size_t siglen = 0;
	char *pem = NULL, *pem2 = NULL, *err = NULL;
	EVP_PKEY *k;
	EVP_MD_CTX *mctx;
	EVP_PKEY_CTX *pctx;

	assert_int_equal(tpm_signer_open(f->tpm, TPM_SIGNER_HANDLE_DEFAULT, &s,
	    &err), 0);
	assert_string_equal(tpm_signer_curve(s), "P-384");
	assert_int_equal(tpm_signer_public_pem(s, &pem, &err), 0);
	assert_non_null(strstr(pem, "BEGIN PUBLIC KEY"));
	assert_non_null(EVP_Digest(msg, strlen(msg), digest, NULL, EVP_sha384(),
	    NULL) ? digest : NULL);
	assert_int_equal(tpm_sign_digest(s, digest, sizeof(digest), &sig,
	    &siglen), 0);

	k = pem_pub(pem);
	assert_int_equal(EVP_PKEY_get_bits(k), 384);
	mctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(mctx, NULL, EVP_sha384(), NULL, k), 1);
	assert_int_equal(EVP_DigestVerify(mctx, sig, siglen,
	    (const unsigned char *)msg, strlen(msg)), 1);
	EVP_MD_CTX_free(mctx);
	pctx = EVP_PKEY_CTX_new(k, NULL);
	assert_int_equal(EVP_PKEY_verify_init(pctx), 1);
	assert_int_equal(EVP_PKEY_verify(pctx, sig, siglen, digest,
	    sizeof(digest)), 1);
	digest[0] ^= 1;
	assert_int_not_equal(EVP_PKEY_verify(pctx, sig, siglen, digest,
	    sizeof(digest)), 1);
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(k);
	free(sig);
	sig = NULL;
	assert_int_equal(tpm_sign_digest(s, digest, 20, &sig, &siglen), -EINVAL);

	/* The key is persistent: a new signer finds the same one. */
	assert_int_equal(tpm_signer_open(f->tpm, TPM_SIGNER_HANDLE_DEFAULT, &s2,
	    &err), 0);
	assert_int_equal(tpm_signer_public_pem(s2, &pem2, &err), 0);
	assert_string_equal(pem, pem2);
	tpm_signer_free(s);
	tpm_signer_free(s2);
	free(pem);
	free(pem2);
}

static void
free_signer(void *ctx)
{
	tpm_signer_free(ctx);
}

/* A key made in the TPM and kept only as its wrapped blob: no clear
 * private key in the blob, signatures (through an EVP_PKEY, as libssl
 * makes them) verify with its public key, nothing stays loaded, and
 * another TPM cannot load it. */
static void
test_wrapped_key(void **state)
{
	struct fx *f = *state;
	static const char msg[] = "TLS 1.3, server CertificateVerify";
	unsigned char *blob = NULL, sig[256];
	size_t len = 0, siglen = sizeof(sig);
	struct tpm_signer *s = NULL, *other = NULL;
	char *pem = NULL, *err = NULL;
	unsigned transient = 9, sessions = 0;
	EVP_PKEY *key = NULL, *pub;
	EVP_MD_CTX *mctx;

	assert_int_equal(tpm_key_create(f->tpm, &blob, &len, &err), 0);
	assert_null(memmem(blob, len, "PRIVATE KEY", 11));
	assert_int_equal(tpm_signer_open_blob(f->tpm, blob, len, &s, &err), 0);
	assert_string_equal(tpm_signer_curve(s), "P-384");
	assert_int_equal(tpm_signer_public_pem(s, &pem, &err), 0);
	assert_int_equal(tpm_pkey_new(pem, tpm_sign_digest, s, free_signer,
	    &key, &err), 0);

	mctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit(mctx, NULL, EVP_sha384(), NULL,
	    key), 1);
	assert_int_equal(EVP_DigestSign(mctx, sig, &siglen,
	    (const unsigned char *)msg, strlen(msg)), 1);
	EVP_MD_CTX_free(mctx);
	pub = pem_pub(pem);
	assert_int_equal(EVP_PKEY_eq(pub, key), 1);
	mctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(mctx, NULL, EVP_sha384(), NULL,
	    pub), 1);
	assert_int_equal(EVP_DigestVerify(mctx, sig, siglen,
	    (const unsigned char *)msg, strlen(msg)), 1);
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(pub);
	assert_int_equal(tpm_loaded_handles(f->tpm, &transient, &sessions), 0);
	assert_int_equal(transient, 0);

	second_tpm(f);
	assert_int_equal(tpm_signer_open_blob(f->tpm2, blob, len, &other,
	    &err), -BW_E_CORRUPT);
	assert_non_null(strstr(err, "does not load"));
	free(err);
	err = NULL;
	blob[len - 1] ^= 1;
	assert_int_not_equal(tpm_signer_open_blob(f->tpm, blob, len, &other,
	    &err), 0);
	assert_null(other);
	EVP_PKEY_free(key);	/* frees s */
	free(blob);
	free(pem);
	free(err);
}

static void
test_no_handle_leak(void **state)
{
	struct fx *f = *state;
	struct tpm_signer *s = NULL;
	unsigned char nonce[ATTEST_NONCE_LEN], *q = NULL, *blob = NULL;
	unsigned char *ek = NULL, *ak = NULL, *cred = NULL, *out = NULL, *sig;
	unsigned char digest[48] = { 1 };
	size_t qlen, len = 0, eklen, aklen, clen, olen, siglen;
	unsigned transient = 99, sessions = 99;
	char *pem = ak_pem(f->tpm, &ak, &aklen), *err = NULL;
	int i;

	for (i = 0; i < 50; i++) {
		memset(nonce, i, sizeof(nonce));
		quote_fresh(f, f->tpm, nonce, &q, &qlen);
		assert_int_equal(attest_quote_verify(pem, q, qlen, nonce,
		    sizeof(nonce), NULL, NULL, &err), 0);
		free(q);
	}
	seal_current(f->tpm, &blob, &len);
	for (i = 0; i < 5; i++)
		expect_unseal(f->tpm, blob, len);
	assert_int_equal(tpm_ek_public(f->tpm, &ek, &eklen, &err), 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(attest_make_credential(ek, eklen, ak, aklen,
		    digest, 32, &cred, &clen, &err), 0);
		assert_int_equal(tpm_activate_credential(f->tpm,
		    TPM_AK_HANDLE_DEFAULT, cred, clen, &out, &olen, &err), 0);
		tpm_secret_free(out, olen);
		free(cred);
	}
	assert_int_equal(tpm_signer_open(f->tpm, TPM_SIGNER_HANDLE_DEFAULT, &s,
	    &err), 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(tpm_sign_digest(s, digest, sizeof(digest), &sig,
		    &siglen), 0);
		free(sig);
	}
	tpm_signer_free(s);
	assert_int_equal(tpm_loaded_handles(f->tpm, &transient, &sessions), 0);
	assert_int_equal(transient, 0);
	assert_int_equal(sessions, 1);	/* the context's own HMAC session */
	tpm_close(f->tpm);
	f->tpm = NULL;
	open_tpm(swtpm_tcti(f->sw), &f->tpm);
	assert_int_equal(tpm_loaded_handles(f->tpm, &transient, &sessions), 0);
	assert_int_equal(transient, 0);
	assert_int_equal(sessions, 1);
	free(blob);
	free(ek);
	free(ak);
	free(pem);
}

/* Does any regular file under DIR contain NEEDLE? */
static const void	*scan_needle;
static size_t		 scan_len;
static int		 scan_found;

static int
scan_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char *buf = NULL;
	size_t len = 0;

	if (flag != FTW_F)
		return 0;
	if (read_file_at(AT_FDCWD, path, 64 << 20, &buf, &len) == 0 &&
	    memmem(buf, len, scan_needle, scan_len))
		scan_found = 1;
	free(buf);
	return 0;
}

static int
dir_contains(const char *dir, const void *needle, size_t len)
{
	scan_needle = needle;
	scan_len = len;
	scan_found = 0;
	nftw(dir, scan_one, 16, FTW_PHYS);
	return scan_found;
}

static void
test_secret_never_in_clear(void **state)
{
	struct fx *f = *state;
	char pcap[128], tcti[160], *err = NULL, *pem;
	unsigned char nonce[ATTEST_NONCE_LEN], *q = NULL, *blob = NULL;
	unsigned char *ek = NULL, *ak = NULL, *cred = NULL, *out = NULL;
	unsigned char cs[32];
	size_t qlen = 0, len = 0, eklen, aklen, clen, olen;

	/* Record every byte exchanged with the TPM (tcti-pcap). */
	snprintf(pcap, sizeof(pcap), "%s/bus.pcap", f->dir);
	snprintf(tcti, sizeof(tcti), "pcap:%s", swtpm_tcti(f->sw));
	assert_int_equal(setenv("TCTI_PCAP_FILE", pcap, 1), 0);
	tpm_close(f->tpm);
	open_tpm(tcti, &f->tpm);

	pem = ak_pem(f->tpm, &ak, &aklen);
	memcpy(nonce, "NONCE-IN-CLEAR-ON-THE-BUS-0123!!", sizeof(nonce));
	quote_fresh(f, f->tpm, nonce, &q, &qlen);
	seal_current(f->tpm, &blob, &len);
	expect_unseal(f->tpm, blob, len);
	assert_int_equal(tpm_ek_public(f->tpm, &ek, &eklen, &err), 0);
	memcpy(cs, "CREDENTIAL-SECRET-0123456789ABC!", sizeof(cs));
	assert_int_equal(attest_make_credential(ek, eklen, ak, aklen, cs,
	    sizeof(cs), &cred, &clen, &err), 0);
	assert_int_equal(tpm_activate_credential(f->tpm, TPM_AK_HANDLE_DEFAULT,
	    cred, clen, &out, &olen, &err), 0);
	assert_memory_equal(out, cs, sizeof(cs));
	tpm_secret_free(out, olen);
	tpm_close(f->tpm);
	f->tpm = NULL;
	unsetenv("TCTI_PCAP_FILE");

	/* The capture works (the nonce is not secret and travels in clear)... */
	assert_true(dir_contains(f->dir, nonce, sizeof(nonce)));
	/* ...but neither the sealed secret nor the credential does, in the
	 * capture, the sealed blob or the TPM's state on disk. */
	assert_false(dir_contains(f->dir, secret, sizeof(secret) - 1));
	assert_false(dir_contains(f->dir, cs, sizeof(cs)));
	assert_null(memmem(blob, len, secret, sizeof(secret) - 1));
	assert_true(swtpm_stop(f->sw) >= 0);
	f->sw = NULL;
	assert_false(dir_contains(f->dir, secret, sizeof(secret) - 1));
	free(q);
	free(blob);
	free(ek);
	free(ak);
	free(cred);
	free(pem);
}

static void
test_measure_config(void **state)
{
	struct fx *f = *state;
	static const char cfg[] = "{\"listen\":\"127.0.0.1:8443\"}";
	char *err = NULL;

	assert_int_equal(tpm_pcr_measure_config(f->tpm, TPM_BULWARK_PCR, cfg,
	    sizeof(cfg), &err), 1);
	/* daemon restart, same config, same boot */
	assert_int_equal(tpm_pcr_measure_config(f->tpm, TPM_BULWARK_PCR, cfg,
	    sizeof(cfg), &err), 0);
	assert_int_equal(tpm_pcr_measure_config(f->tpm, TPM_BULWARK_PCR, "x", 1,
	    &err), -BW_E_CONFLICT);
	assert_non_null(strstr(err, "changed without a reboot"));
	free(err);
}

static void
test_pcr_helpers(void **state)
{
	uint32_t mask = 0;
	char buf[64], *err = NULL;

	assert_int_equal(attest_pcr_mask_parse("0,2,4,7,13", &mask, &err), 0);
	assert_int_equal(mask, TPM_SEAL_PCRS_DEFAULT);
	assert_string_equal(attest_pcr_mask_format(mask, buf, sizeof(buf)),
	    "0,2,4,7,13");
	assert_int_equal(attest_pcr_mask_parse("0,24", &mask, &err),
	    -BW_E_INVALID);
	free(err);
	err = NULL;
	assert_int_equal(attest_pcr_mask_parse("1;2", &mask, &err),
	    -BW_E_INVALID);
	free(err);
}

/* Nonces are bound to the node that asked: one node's requests evict only
 * its own oldest, never another's, and a full registry refuses instead. */
static void
test_nonces_per_owner(void **state)
{
	struct attest_nonces *reg = attest_nonces_new(8, 60);
	unsigned char n2[ATTEST_NONCE_LEN], n1[ATTEST_NONCE_LEN];
	unsigned char first[ATTEST_NONCE_LEN];
	char *err = NULL, owner[16];
	int i;

	(void)state;
	assert_non_null(reg);
	assert_int_equal(attest_nonce_issue(reg, "n2", n2), 0);
	assert_int_equal(attest_nonce_issue(reg, "n1", first), 0);
	for (i = 0; i < 1000; i++)
		assert_int_equal(attest_nonce_issue(reg, "n1", n1), 0);
	/* n1's oldest made room for its newer ones; n2's is untouched */
	assert_int_equal(attest_nonce_consume(reg, "n1", first, sizeof(first),
	    &err), -BW_E_DENIED);
	free(err);
	err = NULL;
	assert_int_equal(attest_nonce_consume(reg, "n1", n1, sizeof(n1),
	    &err), 0);
	assert_int_equal(attest_nonce_consume(reg, "n2", n2, sizeof(n2),
	    &err), 0);
	/* 8 slots: n1 holds 3, n3 and n4 take 4 more, one is left */
	assert_int_equal(attest_nonce_issue(reg, "n3", n2), 0);
	for (i = 0; i < 4; i++) {
		snprintf(owner, sizeof(owner), "n%d", 4 + i / 2);
		assert_int_equal(attest_nonce_issue(reg, owner, n2), 0);
	}
	assert_int_equal(attest_nonce_issue(reg, "n6", n2), -BW_E_UNAVAILABLE);
	assert_int_equal(attest_nonce_issue(reg, "", n2), -BW_E_INVALID);
	attest_nonces_free(reg);
}

static void
test_pcr_read_many(void **state)
{
	struct fx *f = *state;
	struct attest_pcrs all;
	unsigned char d[32];
	char *err = NULL;

	/* more than the 8 digests one PCR_Read returns */
	memset(d, 9, sizeof(d));
	assert_int_equal(tpm_pcr_extend(f->tpm, 23, d, &err), 0);
	assert_int_equal(tpm_pcr_read(f->tpm, 0xffffff, &all, &err), 0);
	assert_int_equal(all.mask, 0xffffff);
	assert_int_not_equal(all.digest[23][0] | all.digest[23][1], 0);
}

/* ---- dictionary-attack lockout ---- */

/* A raw ESAPI context on the swtpm (f->tpm must be closed first: swtpm
 * serves one connection). */
static ESYS_CONTEXT *
raw_open(struct fx *f, TSS2_TCTI_CONTEXT **ret_tcti)
{
	ESYS_CONTEXT *e = NULL;

	assert_int_equal(Tss2_TctiLdr_Initialize(swtpm_tcti(f->sw), ret_tcti),
	    TSS2_RC_SUCCESS);
	assert_int_equal(Esys_Initialize(&e, *ret_tcti, NULL), TSS2_RC_SUCCESS);
	return e;
}

static void
raw_close(ESYS_CONTEXT *e, TSS2_TCTI_CONTEXT *tc)
{
	Esys_Finalize(&e);
	Tss2_TctiLdr_Finalize(&tc);
}

/* A DA-protected signing primary (no noDA) with authValue "right",
 * persisted at HANDLE when HANDLE is not 0; returns its ESYS_TR. */
static ESYS_TR
da_key(ESYS_CONTEXT *e, uint32_t handle)
{
	TPM2B_SENSITIVE_CREATE sens = { .size = 0 };
	TPM2B_PUBLIC tmpl = { .size = 0 };
	const TPM2B_DATA outside = { .size = 0 };
	const TPML_PCR_SELECTION none = { .count = 0 };
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_CREATION_DATA *cd = NULL;
	TPM2B_DIGEST *ch = NULL;
	TPMT_TK_CREATION *ct = NULL;
	ESYS_TR tr = ESYS_TR_NONE, ptr = ESYS_TR_NONE;

	sens.sensitive.userAuth.size = 5;
	memcpy(sens.sensitive.userAuth.buffer, "right", 5);
	tmpl.publicArea.type = TPM2_ALG_ECC;
	tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
	tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM |
	    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
	    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT;
	tmpl.publicArea.parameters.eccDetail.symmetric.algorithm =
	    TPM2_ALG_NULL;
	tmpl.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	tmpl.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg =
	    TPM2_ALG_SHA256;
	tmpl.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	tmpl.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	assert_int_equal(Esys_CreatePrimary(e, ESYS_TR_RH_OWNER,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
	    &outside, &none, &tr, &pub, &cd, &ch, &ct), TSS2_RC_SUCCESS);
	Esys_Free(pub);
	Esys_Free(cd);
	Esys_Free(ch);
	Esys_Free(ct);
	if (handle) {
		assert_int_equal(Esys_EvictControl(e, ESYS_TR_RH_OWNER, tr,
		    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, handle, &ptr),
		    TSS2_RC_SUCCESS);
		(void)Esys_TR_Close(e, &ptr);
	}
	return tr;
}

static TSS2_RC
da_sign(ESYS_CONTEXT *e, ESYS_TR key, const char *auth)
{
	TPM2B_AUTH a = { .size = (UINT16)strlen(auth) };
	TPM2B_DIGEST d = { .size = 32 };
	const TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	const TPMT_TK_HASHCHECK hc = { .tag = TPM2_ST_HASHCHECK,
	    .hierarchy = TPM2_RH_NULL };
	TPMT_SIGNATURE *sig = NULL;
	TSS2_RC rc;

	memcpy(a.buffer, auth, a.size);
	assert_int_equal(Esys_TR_SetAuth(e, key, &a), TSS2_RC_SUCCESS);
	rc = Esys_Sign(e, key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d,
	    &scheme, &hc, &sig);
	Esys_Free(sig);
	return rc;
}

static void
stop_sw(struct fx *f)
{
	int status = swtpm_stop(f->sw);

	f->sw = NULL;
	assert_true(status >= 0);
}

static void
reopen_sw(struct fx *f)
{
	start_sw(f->state, &f->sw);
	open_tpm(swtpm_tcti(f->sw), &f->tpm);
}

/* Why nodes locked up: a DA-protected key used, then the TPM stopped
 * without TPM2_Shutdown, counts one failure at the next start. swtpm_stop()
 * now shuts it down in order; the keys Bulwark makes carry noDA. */
static void
test_da_unclean_stop(void **state)
{
	struct fx *f = *state;
	struct tpm_da_status da;
	TSS2_TCTI_CONTEXT *tc = NULL;
	ESYS_CONTEXT *e;
	ESYS_TR k;
	char *err = NULL;
	pid_t pid;

	/* The AK and the signer carry noDA. */
	assert_true(tpm_ak_ensure(f->tpm, TPM_AK_HANDLE_DEFAULT, NULL, NULL,
	    &err) >= 0);
	assert_int_equal(tpm_key_da_protected(f->tpm, TPM_AK_HANDLE_DEFAULT,
	    &err), 0);
	{
		struct tpm_signer *s = NULL;

		assert_int_equal(tpm_signer_open(f->tpm,
		    TPM_SIGNER_HANDLE_DEFAULT, &s, &err), 0);
		tpm_signer_free(s);
	}
	assert_int_equal(tpm_key_da_protected(f->tpm, TPM_SIGNER_HANDLE_DEFAULT,
	    &err), 0);
	assert_int_equal(tpm_key_da_protected(f->tpm, 0x81000177u, &err), 0);
	tpm_close(f->tpm);
	f->tpm = NULL;

	/* A DA-protected key used, then SIGKILL: one failure counted. */
	e = raw_open(f, &tc);
	k = da_key(e, 0x81000177u);
	assert_int_equal(da_sign(e, k, "right"), TSS2_RC_SUCCESS);
	raw_close(e, tc);
	pid = swtpm_pid(f->sw);
	kill(pid, SIGKILL);
	stop_sw(f);
	reopen_sw(f);
	assert_int_equal(tpm_da_status(f->tpm, &da, &err), 0);
	assert_int_equal(da.counter, 1);
	assert_int_equal(da.orderly, 0);
	assert_int_equal(tpm_key_da_protected(f->tpm, 0x81000177u, &err), 1);

	/* The same use, then swtpm_stop(): orderly, nothing counted. */
	tpm_close(f->tpm);
	f->tpm = NULL;
	e = raw_open(f, &tc);
	k = da_key(e, 0);
	assert_int_equal(da_sign(e, k, "right"), TSS2_RC_SUCCESS);
	(void)Esys_FlushContext(e, k);
	raw_close(e, tc);
	stop_sw(f);
	reopen_sw(f);
	assert_int_equal(tpm_da_status(f->tpm, &da, &err), 0);
	assert_int_equal(da.counter, 1);
	assert_int_equal(da.orderly, 1);

	/* noDA keys used, then SIGKILL: nothing counted. */
	{
		struct tpm_signer *s = NULL;
		unsigned char dg[32] = { 1 }, *sig = NULL;
		size_t sl = 0;

		assert_int_equal(tpm_signer_open(f->tpm,
		    TPM_SIGNER_HANDLE_DEFAULT, &s, &err), 0);
		assert_int_equal(tpm_sign_digest(s, dg, sizeof(dg), &sig, &sl),
		    0);
		free(sig);
		tpm_signer_free(s);
	}
	tpm_close(f->tpm);
	f->tpm = NULL;
	kill(swtpm_pid(f->sw), SIGKILL);
	stop_sw(f);
	reopen_sw(f);
	assert_int_equal(tpm_da_status(f->tpm, &da, &err), 0);
	assert_int_equal(da.counter, 1);
	assert_int_equal(da.orderly, 0);
	free(err);
}

/* A TPM in lockout is reported with its recovery time, and the noDA keys
 * keep working in it. */
static void
test_da_lockout_reported(void **state)
{
	struct fx *f = *state;
	struct tpm_da_status da;
	struct tpm_signer *s = NULL;
	TSS2_TCTI_CONTEXT *tc = NULL;
	ESYS_CONTEXT *e;
	ESYS_TR k;
	unsigned char nonce[16] = { 7 }, dg[32] = { 2 }, *q = NULL, *sig = NULL;
	size_t ql = 0, sl = 0;
	char *err = NULL, what[256];
	json_t *j;
	int i;

	assert_int_equal(tpm_da_status(f->tpm, &da, &err), 0);
	assert_false(da.in_lockout);
	assert_int_equal(da.counter, 0);
	assert_true(da.max_tries > 0);
	assert_true(da.interval_s > 0);
	assert_true(tpm_ak_ensure(f->tpm, TPM_AK_HANDLE_DEFAULT, NULL, NULL,
	    &err) >= 0);
	assert_int_equal(tpm_signer_open(f->tpm, TPM_SIGNER_HANDLE_DEFAULT, &s,
	    &err), 0);
	tpm_signer_free(s);
	s = NULL;
	tpm_close(f->tpm);
	f->tpm = NULL;

	e = raw_open(f, &tc);
	k = da_key(e, 0);
	for (i = 0; i < (int)da.max_tries; i++)
		assert_int_not_equal(da_sign(e, k, "wrong"), TSS2_RC_SUCCESS);
	assert_int_equal(da_sign(e, k, "right") & ~TSS2_RC_LAYER_MASK,
	    TPM2_RC_LOCKOUT);
	(void)Esys_FlushContext(e, k);
	raw_close(e, tc);

	open_tpm(swtpm_tcti(f->sw), &f->tpm);
	assert_int_equal(tpm_da_status(f->tpm, &da, &err), 0);
	assert_true(da.in_lockout);
	assert_int_equal(da.counter, da.max_tries);
	assert_int_equal(da.recovers_in_s, da.interval_s);
	assert_int_equal(da.clears_in_s, da.counter * da.interval_s);
	tpm_da_status_describe(&da, what, sizeof(what));
	assert_non_null(strstr(what, "lockout"));
	j = tpm_da_status_json(&da, 1796000000LL);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "in_lockout")));
	assert_int_equal(json_integer_value(json_object_get(j,
	    "recovers_in_seconds")), da.interval_s);
	assert_non_null(json_string_value(json_object_get(j, "recovers_by")));
	json_decref(j);

	/* In lockout the noDA AK still quotes and the signer still signs. */
	assert_int_equal(tpm_quote(f->tpm, TPM_AK_HANDLE_DEFAULT, 1u << 7,
	    nonce, sizeof(nonce), &q, &ql, &err), 0);
	assert_int_equal(tpm_signer_open(f->tpm, TPM_SIGNER_HANDLE_DEFAULT, &s,
	    &err), 0);
	assert_int_equal(tpm_sign_digest(s, dg, sizeof(dg), &sig, &sl), 0);
	tpm_signer_free(s);
	free(q);
	free(sig);
	free(err);
}

int
main(void)
{
	/* The lockout tests provoke TPM errors; tpm2-tss would log them. */
	setenv("TSS2_LOG", "all+NONE", 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcr_helpers),
		cmocka_unit_test(test_nonces_per_owner),
		cmocka_unit_test_setup_teardown(test_ak_persists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ak_handle_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evict_and_recreate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quote_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quote_wrong_nonce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quote_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quote_other_tpm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quote_pcr_drift, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seal_unseal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unseal_names_changed_pcr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tpm_enforces_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reseal_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credential_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credential_other_ek, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrapped_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_handle_leak, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_never_in_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_measure_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pcr_read_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_da_unclean_stop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_da_lockout_reported, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
