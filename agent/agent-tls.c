#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>
#include <openssl/store.h>
#include <openssl/x509v3.h>

#include "agent/agent-tls.h"
#include "client/client.h"
#include "hardening/crypto-policy.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"

struct agent_tls {
	OSSL_LIB_CTX		*lc;		/* NULL: the default context */
	OSSL_PROVIDER		*pdefault, *ptpm2;
	SSL_CTX			*ctx;
	/* The kept-alive connection of agent_https() to conf.server, or
	 * NULL; with a TPM key every handshake costs a TPM signature. */
	struct client_conn	*cc;
	struct client_conf	 conf;
};

static void
conn_drop(struct agent_tls *t)
{
	client_conn_close(t->cc);
	t->cc = NULL;
	free(t->conf.server);
	t->conf.server = NULL;
}

static struct agent_tls *
tls_new(void)
{
	return calloc(1, sizeof(struct agent_tls));
}

void
agent_tls_close(struct agent_tls *t)
{
	if (!t)
		return;
	conn_drop(t);
	SSL_CTX_free(t->ctx);
	/* Unloading tpm2 closes its TPM connection (swtpm serves one). */
	if (t->ptpm2)
		OSSL_PROVIDER_unload(t->ptpm2);
	if (t->pdefault)
		OSSL_PROVIDER_unload(t->pdefault);
	OSSL_LIB_CTX_free(t->lc);
	free(t);
}

static X509 *
x509_to_default(X509 *x)
{
	unsigned char		*der = NULL;
	const unsigned char	*p;
	X509			*y = NULL;
	int			 len = i2d_X509(x, &der);

	if (len > 0) {
		p = der;
		y = d2i_X509(NULL, &p, len);
	}
	OPENSSL_free(der);
	return y;
}

/* Verifies the server's chain with certificates re-parsed in the default
 * library context, so the CA signature check runs in the default
 * provider. In the tpm2 context every public key the provider sees is
 * loaded into the TPM and stays there while the key lives; on a TPM
 * without a resource manager (swtpm: 3 object slots) the CA key, the
 * server key and the hash sequences of the handshake would not fit. */
static int
verify_in_default(X509_STORE_CTX *sctx, void *arg)
{
	X509_STORE		*store = arg;
	X509			*leaf = NULL, *y;
	STACK_OF(X509)		*chain = NULL, *in = X509_STORE_CTX_get0_untrusted(sctx);
	X509_STORE_CTX		*c = NULL;
	int			 i, ok = 0;

	if (!(leaf = x509_to_default(X509_STORE_CTX_get0_cert(sctx))) ||
	    !(chain = sk_X509_new_null()))
		goto out;
	for (i = 0; in && i < sk_X509_num(in); i++) {
		if (!(y = x509_to_default(sk_X509_value(in, i))))
			goto out;
		if (!sk_X509_push(chain, y)) {
			X509_free(y);
			goto out;
		}
	}
	if (!(c = X509_STORE_CTX_new_ex(NULL, NULL)) ||
	    !X509_STORE_CTX_init(c, store, leaf, chain) ||
	    !X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(c),
	    X509_STORE_CTX_get0_param(sctx)))
		goto out;
	ok = X509_verify_cert(c) == 1;
	X509_STORE_CTX_set_error(sctx, ok ? X509_V_OK :
	    X509_STORE_CTX_get_error(c));
out:
	if (!ok && X509_STORE_CTX_get_error(sctx) == X509_V_OK)
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_UNSPECIFIED);
	X509_STORE_CTX_free(c);
	sk_X509_pop_free(chain, X509_free);
	X509_free(leaf);
	return ok;
}

/* The appliance's TLS policy (hardening/crypto-policy) on a context of
 * library context LC. */
static int
ctx_new(OSSL_LIB_CTX *lc, const char *propq, const char *ca_pem,
    SSL_CTX **ret, char **ret_err)
{
	_cleanup_(BIO_freep) BIO	*bio = NULL;
	SSL_CTX				*ctx;
	X509				*ca;
	int				 n = 0;

	if (!(ctx = SSL_CTX_new_ex(lc, propq, TLS_client_method())))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "SSL_CTX_new");
	*ret = ctx;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, crypto_tls_cipher_list()) ||
	    !SSL_CTX_set_ciphersuites(ctx, crypto_tls_ciphersuites()) ||
	    !SSL_CTX_set1_groups_list(ctx, crypto_tls_groups()) ||
	    !SSL_CTX_set1_sigalgs_list(ctx, crypto_tls_sigalgs()) ||
	    !SSL_CTX_set1_client_sigalgs_list(ctx, crypto_tls_sigalgs()))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "TLS policy");
	if (!(bio = BIO_new_mem_buf(ca_pem, -1)))
		return -ENOMEM;
	while ((ca = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		int ok = X509_check_ca(ca) >= 1 &&
		    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);

		X509_free(ca);
		if (!ok)
			return crypto_errf(-BW_E_INVALID, ret_err,
			    "CA certificate %d", n + 1);
		n++;
	}
	ERR_clear_error();
	if (n == 0)
		return errf(-BW_E_INVALID, ret_err, "no CA certificate");
	X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx),
	    X509_V_FLAG_X509_STRICT);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (lc)
		SSL_CTX_set_cert_verify_callback(ctx, verify_in_default,
		    SSL_CTX_get_cert_store(ctx));
	if (!SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "verify settings");
	return 0;
}

static int
cert_use(SSL_CTX *ctx, const char *cert_pem, char **ret_err)
{
	_cleanup_(BIO_freep) BIO	*bio = BIO_new_mem_buf(cert_pem, -1);
	X509				*x;
	int				 ok;

	if (!bio)
		return -ENOMEM;
	if (!(x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		return crypto_errf(-BW_E_INVALID, ret_err, "certificate");
	ok = SSL_CTX_use_certificate(ctx, x);
	X509_free(x);
	return ok ? 0 : crypto_errf(-BW_E_INVALID, ret_err,
	    "certificate refused by the TLS policy");
}

/* Loads the tpm2 provider (after default, which wins ties) into a new
 * library context; the provider connects to the TCTI in
 * TPM2OPENSSL_TCTI. */
static int
tpm2_libctx(struct agent_tls *t, const char *tcti, char **ret_err)
{
	if (setenv("TPM2OPENSSL_TCTI", tcti, 1) < 0)
		return -errno;
	if (!(t->lc = OSSL_LIB_CTX_new()))
		return -ENOMEM;
	if (!(t->pdefault = OSSL_PROVIDER_load(t->lc, "default")))
		return crypto_errf(-BW_E_CRYPTO, ret_err, "default provider");
	if (!(t->ptpm2 = OSSL_PROVIDER_load(t->lc, "tpm2")))
		return crypto_errf(-BW_E_UNAVAILABLE, ret_err, "the tpm2 "
		    "provider (Debian package tpm2-openssl) did not load for "
		    "TPM %s", tcti);
	return 0;
}

static int
tpm2_key(struct agent_tls *t, uint32_t handle, EVP_PKEY **ret,
    char **ret_err)
{
	OSSL_STORE_CTX	*sc;
	EVP_PKEY	*key = NULL;
	char		 uri[32];

	snprintf(uri, sizeof(uri), "handle:0x%08x", handle);
	if (!(sc = OSSL_STORE_open_ex(uri, t->lc, "provider=tpm2", NULL, NULL,
	    NULL, NULL, NULL)))
		return crypto_errf(-BW_E_UNAVAILABLE, ret_err, "TPM key %s", uri);
	while (!key && !OSSL_STORE_eof(sc)) {
		OSSL_STORE_INFO *info = OSSL_STORE_load(sc);

		if (!info)
			break;
		if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			key = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(sc);
	if (!key)
		return crypto_errf(-BW_E_UNAVAILABLE, ret_err, "TPM key %s", uri);
	*ret = key;
	return 0;
}

int
agent_tls_open_tpm(const char *tcti, uint32_t key_handle,
    const char *cert_path, const char *ca_path, struct agent_tls **ret,
    char **ret_err)
{
	struct agent_tls			*t;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	_cleanup_free_ char			*cert = NULL, *ca = NULL;
	size_t					 len;
	int					 r;

	if ((r = read_file_at(AT_FDCWD, cert_path, CRYPTO_PEM_MAX, &cert,
	    &len)) < 0)
		return errf(r, ret_err, "%s: %s", cert_path, bw_strerror(r));
	if ((r = read_file_at(AT_FDCWD, ca_path, CRYPTO_PEM_MAX, &ca,
	    &len)) < 0)
		return errf(r, ret_err, "%s: %s", ca_path, bw_strerror(r));
	if (!(t = tls_new()))
		return -ENOMEM;
	if ((r = tpm2_libctx(t, tcti, ret_err)) < 0 ||
	    (r = tpm2_key(t, key_handle, &key, ret_err)) < 0 ||
	    (r = ctx_new(t->lc, AGENT_TPM2_PROPQ, ca, &t->ctx, ret_err)) < 0 ||
	    (r = cert_use(t->ctx, cert, ret_err)) < 0)
		goto fail;
	if (!SSL_CTX_use_PrivateKey(t->ctx, key) ||
	    SSL_CTX_check_private_key(t->ctx) != 1) {
		r = crypto_errf(-BW_E_INVALID, ret_err, "%s does not certify the "
		    "TPM key 0x%08x", cert_path, key_handle);
		goto fail;
	}
	*ret = t;
	return 0;
fail:
	/* The key belongs to the provider: release it before unloading. */
	EVP_PKEY_free(TAKE_PTR(key));
	agent_tls_close(t);
	return r;
}

int
agent_tls_open_pem(const char *cert_pem, const char *key_pem,
    const char *ca_pem, struct agent_tls **ret, char **ret_err)
{
	struct agent_tls			*t;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	int					 r;

	if (!(t = tls_new()))
		return -ENOMEM;
	if ((r = crypto_parse_key(key_pem, strlen(key_pem), "bootstrap key",
	    &key, ret_err)) < 0 ||
	    (r = ctx_new(NULL, NULL, ca_pem, &t->ctx, ret_err)) < 0 ||
	    (r = cert_use(t->ctx, cert_pem, ret_err)) < 0)
		goto fail;
	if (!SSL_CTX_use_PrivateKey(t->ctx, key) ||
	    SSL_CTX_check_private_key(t->ctx) != 1) {
		r = crypto_errf(-BW_E_INVALID, ret_err, "bootstrap key does not "
		    "match its certificate");
		goto fail;
	}
	*ret = t;
	return 0;
fail:
	agent_tls_close(t);
	return r;
}

int
agent_tls_public_pem(const char *tcti, uint32_t key_handle, char **ret_pem,
    char **ret_err)
{
	struct agent_tls			*t;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	BIO					*bio = NULL;
	char					*data;
	long					 len;
	int					 r;

	if (!(t = tls_new()))
		return -ENOMEM;
	if ((r = tpm2_libctx(t, tcti, ret_err)) < 0 ||
	    (r = tpm2_key(t, key_handle, &key, ret_err)) < 0)
		goto out;
	r = -BW_E_CRYPTO;
	if ((bio = BIO_new(BIO_s_mem())) && PEM_write_bio_PUBKEY(bio, key) &&
	    (len = BIO_get_mem_data(bio, &data)) > 0 &&
	    (*ret_pem = strndup(data, (size_t)len)))
		r = 0;
	else
		r = crypto_errf(r, ret_err, "public key of the TPM key");
out:
	BIO_free(bio);
	EVP_PKEY_free(TAKE_PTR(key));
	agent_tls_close(t);
	return r;
}

int
agent_https(struct agent_tls *t, const char *server, const char *method,
    const char *path, const char *body, int *ret_status, char **ret_body,
    char **ret_err)
{
	const struct client_conn_opts	 o = {
		.ctx = t->ctx,
		.response_max = AGENT_RESPONSE_MAX,
		/* A server that stops answering must not stall the agent. */
		.timeout_s = AGENT_RESPONSE_TIMEOUT_S,
		.reconnect = 1,
	};
	struct client_response		 resp = { 0 };
	int				 r;

	if (t->cc && strcmp(t->conf.server, server) != 0)
		conn_drop(t);
	if (!t->cc) {
		if (!(t->conf.server = strdup(server)))
			return -ENOMEM;
		if ((r = client_conn_open_opts(&t->conf, &o, &t->cc,
		    ret_err)) < 0) {
			conn_drop(t);
			return r;
		}
	}
	if ((r = client_conn_request(t->cc, method, path, body, &resp,
	    ret_err)) < 0)
		return r;
	*ret_status = resp.status;
	*ret_body = TAKE_PTR(resp.body);
	return 0;
}
