/* EC_KEY_METHOD is deprecated in OpenSSL 3 in favour of providers; a
 * provider of our own (key management, signature, encoder for a key
 * that lives behind a callback) would be several hundred lines for one
 * operation. The method stays supported through OpenSSL 3.x. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "identity/tpm-pkey.h"
#include "lib/err.h"

struct tpm_pkey {
	tpm_pkey_sign_fn	 sign;
	void			*ctx;
	void			(*free_ctx)(void *ctx);
};

static int
key_err(int r, char **ret_err, const char *what)
{
	ERR_clear_error();
	return errf(r, ret_err, "%s", what);
}

static pthread_once_t	 pkey_once = PTHREAD_ONCE_INIT;
static EC_KEY_METHOD	*pkey_method;	/* process lifetime */
static int		 pkey_idx = -1;

static void
pkey_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct tpm_pkey *p = ptr;

	if (!p)
		return;
	if (p->free_ctx)
		p->free_ctx(p->ctx);
	free(p);
}

static int
pkey_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
    unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	struct tpm_pkey	*p = EC_KEY_get_ex_data(ec, pkey_idx);
	unsigned char	*der = NULL;
	size_t		 n = 0;
	int		 ok = 0;

	if (p && dlen > 0 && p->sign(p->ctx, dgst, (size_t)dlen, &der,
	    &n) == 0 && n <= (size_t)ECDSA_size(ec)) {
		memcpy(sig, der, n);
		*siglen = (unsigned int)n;
		ok = 1;
	}
	free(der);
	return ok;
}

static ECDSA_SIG *
pkey_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
    const BIGNUM *r, EC_KEY *ec)
{
	struct tpm_pkey		*p = EC_KEY_get_ex_data(ec, pkey_idx);
	const unsigned char	*q;
	unsigned char		*der = NULL;
	ECDSA_SIG		*s = NULL;
	size_t			 n = 0;

	if (p && dlen > 0 && p->sign(p->ctx, dgst, (size_t)dlen, &der,
	    &n) == 0) {
		q = der;
		s = d2i_ECDSA_SIG(NULL, &q, (long)n);
	}
	free(der);
	return s;
}

static void
pkey_init(void)
{
	pkey_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, pkey_ex_free);
	if (pkey_idx < 0 ||
	    !(pkey_method = EC_KEY_METHOD_new(EC_KEY_OpenSSL())))
		return;
	EC_KEY_METHOD_set_sign(pkey_method, pkey_sign, NULL, pkey_sign_sig);
}

int
tpm_pkey_new(const char *pub_pem, tpm_pkey_sign_fn sign, void *ctx,
    void (*free_ctx)(void *ctx), EVP_PKEY **ret, char **ret_err)
{
	struct tpm_pkey	*p;
	BIO		*bio = NULL;
	EC_KEY		*ec = NULL;
	EVP_PKEY	*key = NULL;
	int		 r = -BW_E_CRYPTO;

	if (!(p = calloc(1, sizeof(*p)))) {
		if (free_ctx)
			free_ctx(ctx);
		return -ENOMEM;
	}
	p->sign = sign;
	p->ctx = ctx;
	p->free_ctx = free_ctx;
	pthread_once(&pkey_once, pkey_init);
	if (!pkey_method) {
		r = key_err(r, ret_err, "TPM key method");
		goto fail;
	}
	if (!(bio = BIO_new_mem_buf(pub_pem, -1)) ||
	    !(ec = PEM_read_bio_EC_PUBKEY(bio, NULL, NULL, NULL))) {
		r = key_err(-BW_E_INVALID, ret_err, "TPM key: not an EC "
		    "public key");
		goto fail;
	}
	if (!EC_KEY_set_method(ec, pkey_method) ||
	    !EC_KEY_set_ex_data(ec, pkey_idx, p)) {
		r = key_err(r, ret_err, "TPM key method");
		goto fail;
	}
	p = NULL;	/* the EC_KEY owns it now */
	if (!(key = EVP_PKEY_new()) || !EVP_PKEY_assign_EC_KEY(key, ec)) {
		r = key_err(r, ret_err, "TPM key");
		goto fail;
	}
	BIO_free(bio);
	*ret = key;
	return 0;
fail:
	if (p)
		pkey_ex_free(NULL, p, NULL, 0, 0, NULL);
	EVP_PKEY_free(key);
	EC_KEY_free(ec);
	BIO_free(bio);
	return r;
}
