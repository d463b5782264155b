/* The console's API credential; see credential.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "console/credential.h"
#include "hardening/crypto-policy.h"
#include "hardening/pki.h"
#include "privsep/console-ipc.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/ossl-cleanup.h"

#define CRED_TIMEOUT_MS	10000

/* One request and its answer on a new connection to SOCK_PATH; an
 * answer of CIPC_ERROR becomes -BW_E_DENIED with bulwarkd's message. */
static int
call(const char *sock_path, uint32_t type, const json_t *body, uint32_t want,
    json_t **ret, char **ret_err)
{
	struct sockaddr_un	 sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int	 fd = -1;
	_cleanup_json_ json_t	*rep = NULL;
	uint32_t		 got;
	int			 r;

	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return errf(-ENAMETOOLONG, ret_err, "%s: path too long", sock_path);
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errf(-errno, ret_err, "%s: %s", sock_path, strerror(errno));
	if ((r = cipc_call(fd, type, body, CRED_TIMEOUT_MS, &got, &rep,
	    ret_err)) < 0)
		return r;
	if (got == CIPC_ERROR)
		return errf(-BW_E_DENIED, ret_err, "bulwarkd: %s",
		    json_str_at(rep, "error", NULL) ?: "refused");
	if (got != want)
		return errf(-BW_E_INVALID, ret_err, "bulwarkd answered message "
		    "type %u", got);
	*ret = TAKE_PTR(rep);
	return 0;
}

/* The TLS context for the certificate PEM and KEY: the appliance's
 * policy, verifying the server against CA_PATH. */
static int
make_ctx(const char *ca_path, const char *cert_pem, EVP_PKEY *key,
    SSL_CTX **ret, char **ret_err)
{
	_cleanup_(BIO_freep) BIO	*bio = BIO_new_mem_buf(cert_pem, -1);
	_cleanup_(X509_freep) X509	*x = NULL;
	_cleanup_(SSL_CTX_freep) SSL_CTX *ctx = NULL;
	int				 r;

	if (!bio || !(x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		return errf(-BW_E_INVALID, ret_err,
		    "bulwarkd's certificate does not parse");
	if ((r = crypto_tls_client_ctx(ca_path, NULL, NULL, &ctx, ret_err)) < 0)
		return r;
	if (SSL_CTX_use_certificate(ctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		return errf(-BW_E_CRYPTO, ret_err,
		    "bulwarkd's certificate does not certify the console's key");
	*ret = TAKE_PTR(ctx);
	return 0;
}

static void
copy(char *dst, size_t len, const json_t *o, const char *key)
{
	snprintf(dst, len, "%s", json_str_at(o, key, NULL) ?: "?");
}

int
cred_fetch(const char *sock_path, const char *user, const char *tty,
    int lifetime, struct cred **ret, char **ret_err)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	_cleanup_(crypto_secret_freep) char	*key_pem = NULL;
	_cleanup_free_ char			*csr = NULL;
	_cleanup_json_ json_t			*req = NULL, *rep = NULL;
	struct cred				*c;
	int					 r;

	/* the key stays in this process: only its CSR leaves */
	if ((r = pki_key_new(&key, &key_pem, ret_err)) < 0 ||
	    (r = pki_csr_build(key, user, &csr, ret_err)) < 0)
		return r;
	req = json_pack("{s:s, s:s, s:i, s:s}", "user", user, "tty", tty,
	    "lifetime", lifetime, "csr", csr);
	if (!req)
		return -ENOMEM;
	if ((r = call(sock_path, CIPC_CRED, req, CIPC_CRED_OK, &rep, ret_err)) < 0)
		return r;
	if (!json_str_at(rep, "cert", NULL) || !json_str_at(rep, "ca", NULL) ||
	    !json_str_at(rep, "server", NULL))
		return errf(-BW_E_INVALID, ret_err,
		    "bulwarkd's answer lacks cert, ca or server");
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	if ((r = make_ctx(json_str_at(rep, "ca", NULL),
	    json_str_at(rep, "cert", NULL), key, &c->ctx, ret_err)) < 0 ||
	    !(c->conf.server = strdup(json_str_at(rep, "server", NULL))) ||
	    !(c->conf.ca = strdup(json_str_at(rep, "ca", NULL)))) {
		cred_free(c);
		return r < 0 ? r : -ENOMEM;
	}
	copy(c->principal, sizeof(c->principal), rep, "principal");
	copy(c->tenant, sizeof(c->tenant), rep, "tenant");
	copy(c->role, sizeof(c->role), rep, "role");
	copy(c->serial, sizeof(c->serial), rep, "serial");
	*ret = c;
	return 0;
}

void
cred_free(struct cred *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ctx);
	client_conf_clear(&c->conf);
	free(c);
}

int
cred_event(const char *sock_path, const char *user, const char *tty,
    const char *event, const char *detail, char **ret_err)
{
	_cleanup_json_ json_t	*req = json_pack("{s:s, s:s, s:s, s:s?}", "user",
	    user, "tty", tty, "event", event, "detail", detail);
	_cleanup_json_ json_t	*rep = NULL;

	if (!req)
		return -ENOMEM;
	return call(sock_path, CIPC_EVENT, req, CIPC_OK, &rep, ret_err);
}
