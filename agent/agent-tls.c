#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
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
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"

#define HEAD_MAX	(16 * 1024)

struct agent_tls {
	OSSL_LIB_CTX	*lc;		/* NULL: the default context */
	OSSL_PROVIDER	*pdefault, *ptpm2;
	SSL_CTX		*ctx;
	/* The kept-alive connection of agent_https(), or NULL; with a TPM
	 * key every handshake costs a TPM signature. */
	SSL		*ssl;
	int		 fd;
	char		 server[300];
};

static void
conn_drop(struct agent_tls *t)
{
	if (t->ssl) {
		SSL_shutdown(t->ssl);
		SSL_free(t->ssl);
		t->ssl = NULL;
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

static struct agent_tls *
tls_new(void)
{
	struct agent_tls *t = calloc(1, sizeof(*t));

	if (t)
		t->fd = -1;
	return t;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)

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
		return errf(r, ret_err, "%s: %s", cert_path, strerror(-r));
	if ((r = read_file_at(AT_FDCWD, ca_path, CRYPTO_PEM_MAX, &ca,
	    &len)) < 0)
		return errf(r, ret_err, "%s: %s", ca_path, strerror(-r));
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

static int
split_server(const char *url, char *host, size_t hlen, char *port,
    size_t plen)
{
	const char	*p, *colon, *end;
	size_t		 hl;

	if (strncmp(url, "https://", 8) != 0)
		return -BW_E_INVALID;
	p = url + 8;
	end = p + strcspn(p, "/");
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (!rb || (size_t)(rb - p - 1) >= hlen)
			return -BW_E_INVALID;
		memcpy(host, p + 1, (size_t)(rb - p - 1));
		host[rb - p - 1] = '\0';
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		hl = (size_t)((colon ? colon : end) - p);
		if (hl == 0 || hl >= hlen)
			return -BW_E_INVALID;
		memcpy(host, p, hl);
		host[hl] = '\0';
	}
	if (colon) {
		if (end == colon + 1 || (size_t)(end - colon - 1) >= plen)
			return -BW_E_INVALID;
		memcpy(port, colon + 1, (size_t)(end - colon - 1));
		port[end - colon - 1] = '\0';
	} else
		snprintf(port, plen, "443");
	return 0;
}

static int
tcp_connect(const char *host, const char *port, char **ret_err)
{
	struct addrinfo	 hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL, *a;
	int		 fd = -1, r, one = 1;

	if ((r = getaddrinfo(host, port, &hints, &ai)) != 0)
		return errf(-BW_E_UNAVAILABLE, ret_err, "%s: %s", host,
		    gai_strerror(r));
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
		    a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return errf(-BW_E_UNAVAILABLE, ret_err, "cannot connect to %s:%s: "
		    "%s", host, port, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int
err_collect(const char *str, size_t len, void *u)
{
	char	*buf = u;
	size_t	 have = strlen(buf);

	/* Keep the first error and the TPM's reason, which comes last. */
	snprintf(buf + have, 512 - have, "%s%.*s", have ? "; " : "",
	    (int)(len && str[len - 1] == '\n' ? len - 1 : len), str);
	return 1;
}

static int
ssl_fail(char **ret_err, const char *what)
{
	char buf[512] = "";

	ERR_print_errors_cb(err_collect, buf);
	return errf(-BW_E_UNAVAILABLE, ret_err, "%s: %s", what,
	    buf[0] ? buf : "connection closed");
}

int
agent_tls_connect(struct agent_tls *t, const char *server, SSL **ret_ssl,
    int *ret_fd, char **ret_err)
{
	_cleanup_close_ int	 fd = -1;
	/* A server that stops answering must not stall the agent. */
	struct timeval		 tv = { .tv_sec = AGENT_RESPONSE_TIMEOUT_S };
	char			 host[256], port[16];
	SSL			*ssl;
	int			 r;

	if (split_server(server, host, sizeof(host), port, sizeof(port)) < 0)
		return errf(-BW_E_INVALID, ret_err, "server \"%s\" is not "
		    "https://HOST[:PORT]", server);
	if ((fd = tcp_connect(host, port, ret_err)) < 0)
		return fd;
	if (!(ssl = SSL_new(t->ctx)))
		return ssl_fail(ret_err, "SSL_new");
	if ((r = crypto_tls_client_set_peer(ssl, host, ret_err)) < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		r = errf(-errno, ret_err, "SO_RCVTIMEO: %s", strerror(errno));
		goto fail;
	}
	if (!SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1) {
		r = ssl_fail(ret_err, "TLS handshake");
		goto fail;
	}
	*ret_ssl = ssl;
	*ret_fd = TAKE_FD(fd);
	return 0;
fail:
	SSL_free(ssl);
	return r;
}

/* The response head's "Connection: close", if any. */
static int
head_says_close(const char *head, size_t len)
{
	const char *p = head, *end = head + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			break;
		if (strncasecmp(p, "Connection:", 11) == 0) {
			const char *v = p + 11;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			if (eol - v >= 5 && strncasecmp(v, "close", 5) == 0)
				return 1;
		}
		p = eol + 1;
	}
	return 0;
}

/* One request and its response on the kept-alive connection. Returns
 * -ECONNRESET when the connection ended before any byte of an answer
 * (the server closed it while idle: the request may be sent again). */
static int
exchange(struct agent_tls *t, const char *req, int *ret_status,
    char **ret_body, char **ret_err)
{
	_cleanup_(bw_buf_done) struct bw_buf b = {
		.max = AGENT_RESPONSE_MAX + HEAD_MAX };
	size_t			 hlen = 0, need = 0;
	long long		 clen = -1;
	long			 room;
	int			 n, status = 0, chunked = 0, until_eof = 0;
	char			*sep = NULL;

	ERR_clear_error();
	if (SSL_write(t->ssl, req, (int)strlen(req)) != (int)strlen(req)) {
		ssl_fail(ret_err, "TLS write");
		return -ECONNRESET;
	}
	for (;;) {
		if ((room = bw_buf_room(&b, HEAD_MAX)) == -EFBIG)
			return errf(-BW_E_TOOLARGE, ret_err,
			    "response larger than %d bytes",
			    AGENT_RESPONSE_MAX);
		if (room < 0)
			return (int)room;
		n = SSL_read(t->ssl, b.p + b.len, (int)room);
		if (n <= 0) {
			if (b.len == 0) {
				/* TLS 1.3 reports a refused client certificate
				 * here, on the first read. */
				ssl_fail(ret_err, "TLS read");
				return -ECONNRESET;
			}
			if (until_eof)
				break;
			return ssl_fail(ret_err, "connection closed mid-response");
		}
		bw_buf_advance(&b, (size_t)n);
		if (!sep) {
			if (!(sep = strstr(b.p, "\r\n\r\n"))) {
				if (b.len >= HEAD_MAX)
					return errf(-BW_E_INVALID, ret_err,
					    "response head too large");
				continue;
			}
			hlen = (size_t)(sep - b.p) + 4;
			if (client_parse_head(b.p, hlen, &status, &clen,
			    &chunked) < 0)
				return errf(-BW_E_INVALID, ret_err,
				    "malformed HTTP response");
			if (clen > AGENT_RESPONSE_MAX)
				return errf(-BW_E_TOOLARGE, ret_err,
				    "response larger than %d bytes",
				    AGENT_RESPONSE_MAX);
			if (chunked)
				clen = -1;
			else if (clen < 0)
				until_eof = 1;
			else
				need = hlen + (size_t)clen;
		}
		if (chunked) {
			size_t	dlen;
			int	d = client_dechunk(b.p + hlen, b.len - hlen,
			    NULL, &dlen);

			if (d < 0)
				return errf(-BW_E_INVALID, ret_err, "malformed "
				    "chunked response");
			if (d == 1) {
				client_dechunk(b.p + hlen, b.len - hlen,
				    b.p + hlen, &dlen);
				b.len = hlen + dlen;
				break;
			}
		} else if (sep && !until_eof && b.len >= need)
			break;
	}
	b.p[b.len] = '\0';
	if (!chunked && !until_eof && b.len > need)
		return errf(-BW_E_INVALID, ret_err, "response longer than its "
		    "Content-Length");
	if (!(*ret_body = strdup(b.p + hlen)))
		return -ENOMEM;
	*ret_status = status;
	return head_says_close(b.p, hlen) || until_eof ? 1 : 0;
}

int
agent_https(struct agent_tls *t, const char *server, const char *method,
    const char *path, const char *body, int *ret_status, char **ret_body,
    char **ret_err)
{
	_cleanup_free_ char	*req = NULL;
	char			 host[256], port[16];
	int			 r, tries;

	if (split_server(server, host, sizeof(host), port, sizeof(port)) < 0)
		return errf(-BW_E_INVALID, ret_err, "server \"%s\" is not "
		    "https://HOST[:PORT]", server);
	if (asprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    method, path, host, body ? strlen(body) : 0, body ? body : "") < 0) {
		req = NULL;
		return -ENOMEM;
	}
	if (t->ssl && strcmp(t->server, server) != 0)
		conn_drop(t);
	/* A kept connection the server has closed meanwhile fails before
	 * any answer: one new connection, one more try. */
	for (tries = t->ssl ? 2 : 1; tries > 0; tries--) {
		if (!t->ssl) {
			if ((r = agent_tls_connect(t, server, &t->ssl, &t->fd,
			    ret_err)) < 0)
				return r;
			snprintf(t->server, sizeof(t->server), "%s", server);
		}
		r = exchange(t, req, ret_status, ret_body, ret_err);
		if (r != 0)
			conn_drop(t);
		if (r >= 0)
			return 0;
		if (r != -ECONNRESET)
			return r;
	}
	return -BW_E_UNAVAILABLE;
}
