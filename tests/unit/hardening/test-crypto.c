/* The crypto module in approved-only mode (Debian 12 ships no OpenSSL
 * FIPS provider): refused algorithms fail with a message naming the
 * algorithm and the policy, approved ones work, and the FIPS path is
 * detected and reported honestly. main() points OPENSSL_MODULES at a
 * directory whose "fips.so" is not a provider, so a FIPS provider
 * installed on the test machine cannot change the outcome. */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/provider.h>

#include "hardening/crypto.h"
#include "lib/err.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"
#include "tests/unit/hardening/tmpdir.h"

/* Asserts R is the policy's refusal and the message in *ERR (read
 * here, after R was computed, and freed) names WHAT. */
static void
assert_refused(int r, char **err, const char *what)
{
	assert_int_equal(r, -BW_E_INVALID);
	assert_non_null(*err);
	if (!strstr(*err, what) ||
	    !strstr(*err, "refused by the crypto policy"))
		fail_msg("unclear refusal: \"%s\" (want %s)", *err, what);
	free(*err);
	*err = NULL;
}

static void
test_init_reports_no_fips(void **state)
{
	struct crypto_status	st;

	(void)state;
	assert_int_equal(crypto_policy_init(&st), 0);
	assert_false(st.fips_provider_available);
	assert_false(st.fips_mode);
	assert_string_equal(crypto_policy_mode(&st),
	    "approved-algorithms-only");
	assert_null(crypto_policy_propq(&st));
	assert_non_null(strstr(crypto_policy_describe(&st),
	    "no validated cryptographic module active"));
	assert_null(strstr(st.providers, "fips"));
}

static void
test_fips_status_requests_fips_yes(void **state)
{
	struct crypto_status	st = { .fips_provider_available = true,
	    .fips_mode = true };

	(void)state;
	assert_string_equal(crypto_policy_propq(&st), "fips=yes");
	assert_string_equal(crypto_policy_mode(&st), "fips-provider");
	assert_non_null(strstr(crypto_policy_describe(&st), "fips=yes"));
	st.fips_mode = false;
	assert_null(crypto_policy_propq(&st));
	assert_non_null(strstr(crypto_policy_describe(&st),
	    "no validated module is active"));
}

/* What init does once the provider loaded, on a library context of its
 * own: every fetch there now asks for fips=yes, which nothing here
 * offers, so even SHA-256 is unavailable instead of silently coming
 * from the default provider. */
static void
test_enable_fips_sets_default_properties(void **state)
{
	OSSL_LIB_CTX	*lc = OSSL_LIB_CTX_new();
	OSSL_PROVIDER	*base = NULL;
	EVP_MD		*md;

	(void)state;
	assert_non_null(lc);
	assert_int_equal(crypto_policy_enable_fips(lc, &base), 0);
	assert_non_null(base);
	assert_int_equal(EVP_default_properties_is_fips_enabled(lc), 1);
	assert_true(OSSL_PROVIDER_available(lc, "base"));
	md = EVP_MD_fetch(lc, "SHA2-256", NULL);
	assert_null(md);
	OSSL_PROVIDER_unload(base);
	OSSL_LIB_CTX_free(lc);
}

static void
test_digest_md5_sha1_refused(void **state)
{
	unsigned char	 d[EVP_MAX_MD_SIZE];
	char		*err = NULL;
	EVP_MD		*md = NULL;

	(void)state;
	assert_refused(crypto_digest("MD5", "abc", 3, d, sizeof(d), NULL, &err),
	    &err, "digest MD5");
	assert_refused(crypto_digest("SHA1", "abc", 3, d, sizeof(d), NULL,
	    &err), &err, "digest SHA1");
	assert_refused(crypto_md_fetch("md5-sha1", &md, &err), &err,
	    "md5-sha1");
	assert_null(md);
	assert_refused(crypto_md_fetch("no-such-digest", &md, &err), &err,
	    "no-such-digest");
	assert_refused(crypto_hmac("MD5", "k", 1, "abc", 3, d, sizeof(d),
	    NULL, &err), &err, "HMAC: digest MD5");
}

static void
test_sha256_hmac_work(void **state)
{
	static const unsigned char abc[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
		0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
		0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	/* RFC 4231 test case 2, first 8 bytes. */
	static const unsigned char rfc4231[8] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
	};
	const char	*data = "what do ya want for nothing?";
	unsigned char	 d[EVP_MAX_MD_SIZE];
	size_t		 n = 0;

	(void)state;
	assert_int_equal(crypto_digest("SHA256", "abc", 3, d, sizeof(d), &n,
	    NULL), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(d, abc, 32);
	assert_int_equal(crypto_digest("SHA2-384", "abc", 3, d, sizeof(d), &n,
	    NULL), 0);
	assert_int_equal(n, 48);
	assert_int_equal(crypto_digest("SHA-512", "abc", 3, d, sizeof(d), &n,
	    NULL), 0);
	assert_int_equal(n, 64);
	assert_int_equal(crypto_hmac("SHA256", "Jefe", 4, data, strlen(data),
	    d, sizeof(d), &n, NULL), 0);
	/* A SHA-512 output never overruns a SHA-256-sized buffer. */
	assert_int_equal(crypto_digest("SHA512", "abc", 3, d, 32, NULL, NULL),
	    -BW_E_INVALID);
	assert_int_equal(n, 32);
	assert_memory_equal(d, rfc4231, sizeof(rfc4231));
}

static void
test_sha1_signature_refused(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
	unsigned char	 d[20] = { 0 }, *sig = NULL;
	EVP_MD_CTX	*mctx;
	size_t		 siglen = 0;
	char		*err = NULL;

	(void)state;
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(k);
	assert_refused(crypto_sign(k, "SHA1", CRYPTO_SIG_PKCS1, "m", 1, &sig,
	    &siglen, &err), &err, "digest SHA1");
	assert_null(sig);
	assert_refused(crypto_sign_digest(k, "SHA1", CRYPTO_SIG_PKCS1, d,
	    sizeof(d), &sig, &siglen, &err), &err, "signature: digest SHA1");
	assert_null(sig);
	/* A valid SHA-1 signature made outside the module does not
	 * verify through it. */
	assert_non_null(mctx = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestSignInit(mctx, NULL, EVP_sha1(), NULL, k),
	    1);
	assert_int_equal(EVP_DigestSign(mctx, NULL, &siglen,
	    (const unsigned char *)"m", 1), 1);
	assert_non_null(sig = malloc(siglen));
	assert_int_equal(EVP_DigestSign(mctx, sig, &siglen,
	    (const unsigned char *)"m", 1), 1);
	EVP_MD_CTX_free(mctx);
	assert_int_equal(EVP_Digest("m", 1, d, NULL, EVP_sha1(), NULL), 1);
	assert_refused(crypto_verify_digest(k, "SHA1", CRYPTO_SIG_PKCS1, d,
	    sizeof(d), sig, siglen, &err), &err, "signature: digest SHA1");
	assert_refused(crypto_verify(k, "SHA-1", CRYPTO_SIG_PKCS1, "m", 1, sig,
	    siglen, &err), &err, "digest SHA-1");
	free(sig);
}

static void
test_rsa_1024_refused(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
	unsigned char	*sig = NULL, s[128] = { 0 };
	size_t		 siglen = 0;
	char		*err = NULL;

	(void)state;
	k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_non_null(k);
	assert_refused(crypto_key_check(k, &err), &err, "RSA key of 1024 bits");
	assert_refused(crypto_sign(k, "SHA256", CRYPTO_SIG_PSS, "m", 1, &sig,
	    &siglen, &err), &err, "RSA key of 1024 bits");
	assert_null(sig);
	assert_refused(crypto_verify(k, "SHA256", CRYPTO_SIG_PKCS1, "m", 1, s,
	    sizeof(s), &err), &err, "RSA key of 1024 bits");
}

static void
test_other_curves_refused(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL, *ed = NULL;
	char *err = NULL;

	(void)state;
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	assert_non_null(k);
	assert_refused(crypto_key_check(k, &err), &err, "EC key on secp256k1");
	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(ed);
	assert_refused(crypto_key_check(ed, &err), &err, "ED25519 key");
}

/* Signs "message" with K, checks it verifies, and that a changed
 * message and a changed signature do not. */
static void
sign_verify_roundtrip(EVP_PKEY *k, const char *md, enum crypto_sig_pad pad)
{
	_cleanup_free_ unsigned char *sig = NULL;
	size_t	 siglen = 0;
	char	*err = NULL;
	int	 r;

	r = crypto_sign(k, md, pad, "message", 7, &sig, &siglen, &err);
	if (r < 0)
		fail_msg("sign %s: %s", md, err);
	assert_int_equal(crypto_verify(k, md, pad, "message", 7, sig, siglen,
	    NULL), 0);
	assert_int_equal(crypto_verify(k, md, pad, "messagE", 7, sig, siglen,
	    NULL), -BW_E_DENIED);
	sig[siglen / 2] ^= 1;
	assert_int_equal(crypto_verify(k, md, pad, "message", 7, sig, siglen,
	    &err), -BW_E_DENIED);
	assert_non_null(strstr(err, "does not verify"));
	free(err);
}

static void
test_ecdsa_p256_p384_work(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *p256 = NULL, *p384 = NULL;

	(void)state;
	p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_non_null(p256);
	assert_non_null(p384);
	assert_int_equal(crypto_key_check(p256, NULL), 0);
	sign_verify_roundtrip(p256, "SHA256", CRYPTO_SIG_PKCS1);
	sign_verify_roundtrip(p384, "SHA384", CRYPTO_SIG_PKCS1);
}

static void
test_rsa_2048_pss_works(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
	_cleanup_free_ unsigned char *sig = NULL;
	size_t siglen = 0;

	(void)state;
	k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(k);
	assert_int_equal(crypto_key_check(k, NULL), 0);
	sign_verify_roundtrip(k, "SHA256", CRYPTO_SIG_PSS);
	sign_verify_roundtrip(k, "SHA384", CRYPTO_SIG_PKCS1);
	/* The padding is part of the scheme: PSS does not verify as
	 * PKCS#1 v1.5. */
	assert_int_equal(crypto_sign(k, "SHA256", CRYPTO_SIG_PSS, "m", 1, &sig,
	    &siglen, NULL), 0);
	assert_int_equal(crypto_verify(k, "SHA256", CRYPTO_SIG_PKCS1, "m", 1,
	    sig, siglen, NULL), -BW_E_DENIED);
}

static void
test_ciphers(void **state)
{
	static const char *const refused[] = {
		"ChaCha20", "ChaCha20-Poly1305", "DES-EDE3-CBC", "AES-256-ECB",
		"AES-128-OCB", "CAMELLIA-256-GCM", "no-such-cipher",
		/* AES in CBC mode by its mode, but stitched with a SHA-1
		 * MAC or ciphertext stealing: not approved */
		"AES-128-CBC-HMAC-SHA1", "AES-256-CBC-HMAC-SHA256",
		"AES-128-CBC-CTS",
	};
	unsigned char	 key[32] = { 0 }, iv[12] = { 0 }, pt[16] = { 0 };
	unsigned char	 ct[32], tag[16];
	EVP_CIPHER	*c = NULL;
	EVP_CIPHER_CTX	*cc;
	char		*err = NULL;
	int		 len = 0, fl = 0;
	size_t		 i;

	(void)state;
	for (i = 0; i < ELEMENTSOF(refused); i++) {
		assert_refused(crypto_cipher_fetch(refused[i], &c, &err), &err,
		    refused[i]);
		assert_null(c);
	}
	assert_int_equal(crypto_cipher_fetch("AES-128-CTR", &c, NULL), 0);
	EVP_CIPHER_free(c);
	assert_int_equal(crypto_cipher_fetch("aes-256-cbc", &c, NULL), 0);
	EVP_CIPHER_free(c);
	c = NULL;
	assert_int_equal(crypto_cipher_fetch("id-aes256-GCM", &c, NULL), 0);
	/* McGrew-Viega GCM test case 14: the cipher is usable. */
	assert_non_null(cc = EVP_CIPHER_CTX_new());
	assert_true(EVP_EncryptInit_ex2(cc, c, key, iv, NULL));
	assert_true(EVP_EncryptUpdate(cc, ct, &len, pt, sizeof(pt)));
	assert_true(EVP_EncryptFinal_ex(cc, ct + len, &fl));
	assert_true(EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_GET_TAG, 16, tag));
	assert_int_equal(ct[0], 0xce);
	assert_int_equal(tag[0], 0xd0);
	EVP_CIPHER_CTX_free(cc);
	EVP_CIPHER_free(c);
}

/* The TLS suites offered in both modes contain no ChaCha20. */
static void
test_tls_suites_no_chacha(void **state)
{
	(void)state;
	assert_null(strcasestr(crypto_tls_cipher_list(), "CHACHA"));
	assert_null(strcasestr(crypto_tls_ciphersuites(), "CHACHA"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_reports_no_fips),
		cmocka_unit_test(test_fips_status_requests_fips_yes),
		cmocka_unit_test(test_enable_fips_sets_default_properties),
		cmocka_unit_test(test_digest_md5_sha1_refused),
		cmocka_unit_test(test_sha256_hmac_work),
		cmocka_unit_test(test_sha1_signature_refused),
		cmocka_unit_test(test_rsa_1024_refused),
		cmocka_unit_test(test_other_curves_refused),
		cmocka_unit_test(test_ecdsa_p256_p384_work),
		cmocka_unit_test(test_rsa_2048_pss_works),
		cmocka_unit_test(test_ciphers),
		cmocka_unit_test(test_tls_suites_no_chacha),
	};
	char	*dir = tmpdir_make(), path[PATH_MAX];
	FILE	*f;
	int	 r;

	/* A "fips.so" that is not a shared object: the provider the init
	 * tries to load exists by name and fails to load. */
	if (!dir || snprintf(path, sizeof(path), "%s/fips.so", dir) >=
	    (int)sizeof(path) || !(f = fopen(path, "we")))
		return 99;
	fputs("not a provider\n", f);
	fclose(f);
	if (setenv("OPENSSL_MODULES", dir, 1) < 0)
		return 99;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	tmpdir_remove(dir);
	return r;
}
