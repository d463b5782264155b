/* Real TLS handshakes over loopback TCP between contexts built by
 * crypto-policy.c with certificates from pki.c. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "hardening/crypto-policy.h"
#include "hardening/pki.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "tests/unit/hardening/tmpdir.h"

/* Two independent appliances: A is ours, B a stranger. */
struct fixture {
	char	*root;
	char	 a[PATH_MAX], b[PATH_MAX];
	char	*alice_serial;
};

static struct fixture fx;

static const char *
in(const char *dir, const char *name)
{
	static char	buf[8][PATH_MAX];
	static int	slot;
	char		*p = buf[slot++ % 8];

	if ((size_t)snprintf(p, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		fail_msg("path too long");
	return p;
}

static void
issue_to_files(const char *dir, const char *name, const char *tenant,
    const char *role, char **ret_serial)
{
	char	*err = NULL, *cert = NULL, *key = NULL, *serial = NULL;
	char	 n[64];

	assert_int_equal(pki_issue_client(dir, name, tenant, role, 7, NULL, &cert,
	    &key, &serial, &err), 0);
	snprintf(n, sizeof(n), "%s.crt", name);
	assert_int_equal(write_file_atomic_at(AT_FDCWD, in(dir, n), cert,
	    strlen(cert), 0644), 0);
	snprintf(n, sizeof(n), "%s.key", name);
	assert_int_equal(write_file_atomic_at(AT_FDCWD, in(dir, n), key,
	    strlen(key), 0600), 0);
	free(cert);
	crypto_secret_free(key);
	if (ret_serial)
		*ret_serial = serial;
	else
		free(serial);
}

static int
group_setup(void **state)
{
	char *err = NULL;

	(void)state;
	/* A peer that hangs up must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (!(fx.root = tmpdir_make()))
		return -1;
	snprintf(fx.a, sizeof(fx.a), "%s/a", fx.root);
	snprintf(fx.b, sizeof(fx.b), "%s/b", fx.root);
	if (pki_init_dir(fx.a, NULL, &err) < 0 ||
	    pki_init_dir(fx.b, NULL, &err) < 0) {
		fprintf(stderr, "pki_init_dir: %s\n", err);
		return -1;
	}
	issue_to_files(fx.a, "alice", "acme", "tenant-user", &fx.alice_serial);
	issue_to_files(fx.b, "mallory", "acme", "tenant-admin", NULL);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	free(fx.alice_serial);
	tmpdir_remove(fx.root);
	return 0;
}

struct side {
	bool			 ok;
	unsigned long		 err;		/* first OpenSSL error */
	long			 verify;	/* SSL_get_verify_result */
	char			 version[16];
	char			 cipher[64];
	bool			 peer_cert;
	int			 id_r;
	struct pki_identity	 id;
};

struct server_job {
	SSL_CTX		*ctx;
	int		 lfd;
	struct side	 res;
};

static void
set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = 10 };

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
	    sizeof(tv)), 0);
}

static void
record(SSL *ssl, struct side *s)
{
	snprintf(s->version, sizeof(s->version), "%s", SSL_get_version(ssl));
	snprintf(s->cipher, sizeof(s->cipher), "%s",
	    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
}

/* Accepts one connection; on success writes one byte, so a client
 * learns of a refused client certificate even under TLS 1.3, where
 * its own handshake finishes before the server has checked it. */
static void *
server_main(void *arg)
{
	struct server_job	*job = arg;
	struct side		*s = &job->res;
	SSL			*ssl = NULL;
	X509			*peer;
	int			 fd;

	fd = accept4(job->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	set_timeouts(fd);
	if (!(ssl = SSL_new(job->ctx)) || !SSL_set_fd(ssl, fd))
		goto out;
	if (SSL_accept(ssl) != 1) {
		s->err = ERR_peek_error();
		s->verify = SSL_get_verify_result(ssl);
		goto out;
	}
	s->ok = true;
	record(ssl, s);
	if ((peer = SSL_get0_peer_certificate(ssl)))
		s->peer_cert = true;
	s->id_r = pki_ssl_identity(ssl, &s->id);
	if (SSL_write(ssl, "K", 1) != 1)
		s->ok = false;
	SSL_shutdown(ssl);
out:
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	return NULL;
}

/* Runs one handshake between SCTX and CCTX over loopback TCP. PEER,
 * when not NULL, is the name the client expects. */
static void
handshake(SSL_CTX *sctx, SSL_CTX *cctx, const char *peer, struct side *srv,
    struct side *cli)
{
	struct server_job	 job = { .ctx = sctx };
	struct sockaddr_in	 sa = { .sin_family = AF_INET };
	socklen_t		 salen = sizeof(sa);
	pthread_t		 th;
	SSL			*ssl;
	char			*err = NULL, c = 0;
	int			 fd;

	memset(cli, 0, sizeof(*cli));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	job.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(job.lfd >= 0);
	assert_int_equal(bind(job.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(job.lfd, 1), 0);
	assert_int_equal(getsockname(job.lfd, (struct sockaddr *)&sa, &salen),
	    0);
	assert_int_equal(pthread_create(&th, NULL, server_main, &job), 0);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	set_timeouts(fd);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_non_null(ssl = SSL_new(cctx));
	if (peer)
		assert_int_equal(crypto_tls_client_set_peer(ssl, peer, &err),
		    0);
	assert_int_equal(SSL_set_fd(ssl, fd), 1);
	if (SSL_connect(ssl) == 1 && SSL_read(ssl, &c, 1) == 1 && c == 'K') {
		cli->ok = true;
		record(ssl, cli);
		SSL_shutdown(ssl);
	} else
		cli->err = ERR_peek_error();
	cli->verify = SSL_get_verify_result(ssl);
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	assert_int_equal(pthread_join(th, NULL), 0);
	close(job.lfd);
	*srv = job.res;
}

static SSL_CTX *
server_ctx(const char *dir, enum crypto_tls_client_cert mode)
{
	SSL_CTX	*ctx = NULL;
	char	*err = NULL;
	int	 r;

	r = crypto_tls_server_ctx(in(dir, "ca.crt"), in(dir, "server.crt"),
	    in(dir, "server.key"), mode, &ctx, &err);
	if (r < 0)
		fail_msg("server ctx: %s", err);
	return ctx;
}

/* A client of appliance DIR trusting CA_DIR's CA, presenting NAME's
 * certificate (NULL: none). */
static SSL_CTX *
client_ctx(const char *ca_dir, const char *dir, const char *name)
{
	SSL_CTX	*ctx = NULL;
	char	*err = NULL, c[64], k[64];
	int	 r;

	snprintf(c, sizeof(c), "%s.crt", name ? name : "");
	snprintf(k, sizeof(k), "%s.key", name ? name : "");
	r = crypto_tls_client_ctx(in(ca_dir, "ca.crt"),
	    name ? in(dir, c) : NULL, name ? in(dir, k) : NULL, &ctx, &err);
	if (r < 0)
		fail_msg("client ctx: %s", err);
	return ctx;
}

static void
test_mtls_succeeds_with_identity(void **state)
{
	SSL_CTX		*s = server_ctx(fx.a, CRYPTO_TLS_CLIENT_CERT_REQUIRED);
	SSL_CTX		*c = client_ctx(fx.a, fx.a, "alice");
	struct side	 srv, cli;
	double		 t0;
	int		 i, n = 20;

	(void)state;
	handshake(s, c, "127.0.0.1", &srv, &cli);
	assert_true(srv.ok);
	assert_true(cli.ok);
	assert_string_equal(cli.version, "TLSv1.3");
	assert_string_equal(cli.cipher, "TLS_AES_256_GCM_SHA384");
	assert_true(srv.peer_cert);
	assert_int_equal(srv.id_r, 0);
	assert_string_equal(srv.id.principal, "alice");
	assert_string_equal(srv.id.tenant, "acme");
	assert_string_equal(srv.id.role, "tenant-user");
	assert_string_equal(srv.id.serial_hex, fx.alice_serial);

	/* The built-in system principals work too, by DNS name and ::1's
	 * IPv4 sibling. */
	SSL_CTX_free(c);
	c = client_ctx(fx.a, fx.a, "admin");
	handshake(s, c, "localhost", &srv, &cli);
	assert_true(srv.ok && cli.ok);
	assert_string_equal(srv.id.principal, "admin");
	assert_string_equal(srv.id.tenant, "system");
	assert_string_equal(srv.id.role, "system-admin");

	/* Full handshakes only (no resumption): measure their cost. */
	t0 = bw_mono_s();
	for (i = 0; i < n; i++) {
		handshake(s, c, "127.0.0.1", &srv, &cli);
		assert_true(srv.ok && cli.ok);
	}
	print_message("# full mTLS handshake (P-384, TLS 1.3, loopback, "
	    "thread per side): %.2f ms\n", (bw_mono_s() - t0) * 1e3 / n);
	SSL_CTX_free(c);
	SSL_CTX_free(s);
}

static void
test_tls12_uses_ecdsa_gcm(void **state)
{
	SSL_CTX		*s = server_ctx(fx.a, CRYPTO_TLS_CLIENT_CERT_REQUIRED);
	SSL_CTX		*c = client_ctx(fx.a, fx.a, "alice");
	struct side	 srv, cli;

	(void)state;
	assert_int_equal(SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION), 1);
	handshake(s, c, "127.0.0.1", &srv, &cli);
	assert_true(srv.ok && cli.ok);
	assert_string_equal(cli.version, "TLSv1.2");
	assert_string_equal(cli.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
	assert_string_equal(srv.id.principal, "alice");
	SSL_CTX_free(c);
	SSL_CTX_free(s);
}

static void
test_required_rejects_client_without_cert(void **state)
{
	SSL_CTX		*s = server_ctx(fx.a, CRYPTO_TLS_CLIENT_CERT_REQUIRED);
	SSL_CTX		*c = client_ctx(fx.a, NULL, NULL);
	struct side	 srv, cli;

	(void)state;
	handshake(s, c, "127.0.0.1", &srv, &cli);
	assert_false(srv.ok);
	assert_false(cli.ok);
	assert_int_equal(ERR_GET_REASON(srv.err),
	    SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE);
	SSL_CTX_free(c);
	SSL_CTX_free(s);
}

static void
test_optional_allows_anonymous_but_verifies_presented(void **state)
{
	SSL_CTX		*s = server_ctx(fx.a, CRYPTO_TLS_CLIENT_CERT_OPTIONAL);
	SSL_CTX		*c = client_ctx(fx.a, NULL, NULL);
	SSL_CTX		*m = client_ctx(fx.a, fx.b, "mallory");
	struct side	 srv, cli;

	(void)state;
	handshake(s, c, "127.0.0.1", &srv, &cli);
	assert_true(srv.ok && cli.ok);
	assert_false(srv.peer_cert);
	assert_int_equal(srv.id_r, -BW_E_UNAUTH);
	/* A certificate that is presented must verify. */
	handshake(s, m, "127.0.0.1", &srv, &cli);
	assert_false(srv.ok);
	assert_false(cli.ok);
	assert_int_equal(srv.verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	SSL_CTX_free(c);
	SSL_CTX_free(m);
	SSL_CTX_free(s);
}

static void
test_other_ca_is_rejected(void **state)
{
	SSL_CTX		*s = server_ctx(fx.a, CRYPTO_TLS_CLIENT_CERT_REQUIRED);
	SSL_CTX		*sb = server_ctx(fx.b, CRYPTO_TLS_CLIENT_CERT_REQUIRED);
	SSL_CTX		*m = client_ctx(fx.a, fx.b, "mallory");
	SSL_CTX		*c = client_ctx(fx.a, fx.a, "alice");
	struct side	 srv, cli;

	(void)state;
	/* A client certificate from another CA. */
	handshake(s, m, "127.0.0.1", &srv, &cli);
	assert_false(srv.ok);
	assert_false(cli.ok);
	assert_int_equal(srv.verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	/* A server certificate from another CA. */
	handshake(sb, c, "127.0.0.1", &srv, &cli);
	assert_false(cli.ok);
	assert_false(srv.ok);
	assert_int_equal(cli.verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	SSL_CTX_free(c);
	SSL_CTX_free(m);
	SSL_CTX_free(sb);
	SSL_CTX_free(s);
}

/* A certificate works only for its purpose: the server's own
 * (serverAuth) is no client identity, a client's no server identity. */
static void
test_wrong_purpose_is_rejected(void **state)
{
	SSL_CTX		*s = server_ctx(fx.a, CRYPTO_TLS_CLIENT_CERT_REQUIRED);
	SSL_CTX		*c = client_ctx(fx.a, fx.a, "server");
	SSL_CTX		*s2 = NULL, *ok = client_ctx(fx.a, fx.a, "alice");
	struct side	 srv, cli;
	char		*err = NULL;

	(void)state;
	handshake(s, c, "127.0.0.1", &srv, &cli);
	assert_false(srv.ok);
	assert_false(cli.ok);
	assert_int_equal(srv.verify, X509_V_ERR_INVALID_PURPOSE);

	assert_int_equal(crypto_tls_server_ctx(in(fx.a, "ca.crt"),
	    in(fx.a, "admin.crt"), in(fx.a, "admin.key"),
	    CRYPTO_TLS_CLIENT_CERT_REQUIRED, &s2, &err), 0);
	handshake(s2, ok, "127.0.0.1", &srv, &cli);
	assert_false(cli.ok);
	assert_false(srv.ok);
	/* The admin certificate has no SAN for 127.0.0.1 either; purpose
	 * is checked first. */
	assert_int_equal(cli.verify, X509_V_ERR_INVALID_PURPOSE);
	SSL_CTX_free(c);
	SSL_CTX_free(ok);
	SSL_CTX_free(s2);
	SSL_CTX_free(s);
}

static void
test_client_checks_server_name(void **state)
{
	SSL_CTX		*s = server_ctx(fx.a, CRYPTO_TLS_CLIENT_CERT_REQUIRED);
	SSL_CTX		*c = client_ctx(fx.a, fx.a, "alice");
	struct side	 srv, cli;
	char		*err = NULL;

	(void)state;
	handshake(s, c, "api.other.example", &srv, &cli);
	assert_false(cli.ok);
	assert_int_equal(cli.verify, X509_V_ERR_HOSTNAME_MISMATCH);
	handshake(s, c, "10.9.9.9", &srv, &cli);
	assert_false(cli.ok);
	assert_int_equal(cli.verify, X509_V_ERR_IP_ADDRESS_MISMATCH);
	/* Nobody said which server is expected: fail closed. */
	handshake(s, c, NULL, &srv, &cli);
	assert_false(cli.ok);
	assert_int_equal(cli.verify, X509_V_ERR_HOSTNAME_MISMATCH);
	assert_false(srv.ok);
	/* The names are checked before use. */
	{
		SSL *ssl = SSL_new(c);

		assert_int_equal(crypto_tls_client_set_peer(ssl, "", &err),
		    -BW_E_INVALID);
		assert_string_equal(err, "peer name: must be 1..253 "
		    "characters");
		free(err);
		SSL_free(ssl);
	}
	SSL_CTX_free(c);
	SSL_CTX_free(s);
}

/* A client outside our policy: trusts CA A and presents alice, so the
 * only thing wrong is what it offers. */
static SSL_CTX *
rogue_ctx(int min, int max, const char *ciphers, const char *suites)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	assert_non_null(c);
	SSL_CTX_set_security_level(c, 0);
	assert_int_equal(SSL_CTX_set_min_proto_version(c, min), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(c, max), 1);
	if (ciphers)
		assert_int_equal(SSL_CTX_set_cipher_list(c, ciphers), 1);
	if (suites)
		assert_int_equal(SSL_CTX_set_ciphersuites(c, suites), 1);
	assert_int_equal(SSL_CTX_load_verify_file(c, in(fx.a, "ca.crt")), 1);
	assert_int_equal(SSL_CTX_use_certificate_file(c, in(fx.a, "alice.crt"),
	    SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(c, in(fx.a, "alice.key"),
	    SSL_FILETYPE_PEM), 1);
	return c;
}

static void
test_old_protocols_are_refused(void **state)
{
	SSL_CTX		*s = server_ctx(fx.a, CRYPTO_TLS_CLIENT_CERT_REQUIRED);
	SSL_CTX		*c;
	struct side	 srv, cli;
	int		 v;

	(void)state;
	/* The rogue harness itself works when it offers what we allow. */
	c = rogue_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL, NULL);
	handshake(s, c, NULL, &srv, &cli);
	assert_true(srv.ok && cli.ok);
	SSL_CTX_free(c);
	for (v = TLS1_VERSION; v <= TLS1_1_VERSION; v++) {
		c = rogue_ctx(v, v, "DEFAULT:@SECLEVEL=0", NULL);
		handshake(s, c, NULL, &srv, &cli);
		assert_false(srv.ok);
		assert_false(cli.ok);
		assert_int_equal(ERR_GET_REASON(srv.err),
		    SSL_R_UNSUPPORTED_PROTOCOL);
		SSL_CTX_free(c);
	}
	SSL_CTX_free(s);
}

static void
test_non_approved_ciphers_are_refused(void **state)
{
	static const struct {
		int		 version;
		const char	*ciphers, *suites;
	} cases[] = {
		{ TLS1_3_VERSION, NULL, "TLS_CHACHA20_POLY1305_SHA256" },
		{ TLS1_2_VERSION, "ECDHE-RSA-CHACHA20-POLY1305", NULL },
		{ TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", NULL },
		{ TLS1_2_VERSION, "ECDHE-ECDSA-AES256-SHA384", NULL },
		{ TLS1_2_VERSION, "AES256-GCM-SHA384", NULL },
	};
	SSL_CTX		*s = server_ctx(fx.a, CRYPTO_TLS_CLIENT_CERT_REQUIRED);
	struct side	 srv, cli;
	size_t		 i;

	(void)state;
	for (i = 0; i < ELEMENTSOF(cases); i++) {
		SSL_CTX *c = rogue_ctx(cases[i].version, cases[i].version,
		    cases[i].ciphers, cases[i].suites);

		handshake(s, c, NULL, &srv, &cli);
		if (srv.ok || cli.ok)
			fail_msg("case %zu: negotiated %s", i, cli.cipher);
		assert_int_equal(ERR_GET_REASON(srv.err),
		    SSL_R_NO_SHARED_CIPHER);
		SSL_CTX_free(c);
	}
	/* A client offering only X25519 gets no key exchange. */
	{
		SSL_CTX *c = rogue_ctx(TLS1_3_VERSION, TLS1_3_VERSION, NULL,
		    NULL);

		assert_int_equal(SSL_CTX_set1_groups_list(c, "X25519"), 1);
		handshake(s, c, NULL, &srv, &cli);
		assert_false(srv.ok || cli.ok);
		SSL_CTX_free(c);
	}
	SSL_CTX_free(s);
}

static void
test_revoked_client_is_refused(void **state)
{
	SSL_CTX			*s = server_ctx(fx.a,
	    CRYPTO_TLS_CLIENT_CERT_REQUIRED);
	SSL_CTX			*alice = client_ctx(fx.a, fx.a, "alice");
	SSL_CTX			*admin = client_ctx(fx.a, fx.a, "admin");
	struct pki_revoked	*set = NULL;
	struct side		 srv, cli;
	char			*err = NULL;

	(void)state;
	assert_int_equal(pki_revoked_load(fx.a, &set, &err), 0);
	assert_int_equal(pki_revoked_attach(s, set), 0);
	handshake(s, alice, "127.0.0.1", &srv, &cli);
	assert_true(srv.ok && cli.ok);

	assert_int_equal(pki_revoke(fx.a, fx.alice_serial, &err), 0);
	assert_int_equal(pki_revoked_reload(set, fx.a, &err), 0);
	handshake(s, alice, "127.0.0.1", &srv, &cli);
	assert_false(srv.ok);
	assert_false(cli.ok);
	assert_int_equal(srv.verify, X509_V_ERR_CERT_REVOKED);
	/* Others are unaffected, and the server still demands a cert. */
	handshake(s, admin, "127.0.0.1", &srv, &cli);
	assert_true(srv.ok && cli.ok);
	{
		SSL_CTX *anon = client_ctx(fx.a, NULL, NULL);

		handshake(s, anon, "127.0.0.1", &srv, &cli);
		assert_false(srv.ok);
		SSL_CTX_free(anon);
	}
	SSL_CTX_free(alice);
	SSL_CTX_free(admin);
	SSL_CTX_free(s);
	pki_revoked_free(set);
	/* Leave A as the other tests expect it. */
	assert_int_equal(unlink(in(fx.a, "revoked")), 0);
}

static void
test_context_errors_are_precise(void **state)
{
	SSL_CTX	*ctx = NULL;
	char	*err = NULL, want[PATH_MAX + 64];

	(void)state;
	/* Key of another certificate. */
	assert_int_equal(crypto_tls_server_ctx(in(fx.a, "ca.crt"),
	    in(fx.a, "server.crt"), in(fx.a, "admin.key"),
	    CRYPTO_TLS_CLIENT_CERT_REQUIRED, &ctx, &err), -BW_E_INVALID);
	assert_null(ctx);
	snprintf(want, sizeof(want), "%s: does not match %s",
	    in(fx.a, "admin.key"), in(fx.a, "server.crt"));
	assert_int_equal(strncmp(err, want, strlen(want)), 0);
	free(err);
	err = NULL;
	/* Missing CA file. */
	assert_int_equal(crypto_tls_client_ctx(in(fx.a, "nope.crt"), NULL,
	    NULL, &ctx, &err), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory",
	    in(fx.a, "nope.crt"));
	assert_string_equal(err, want);
	free(err);
	err = NULL;
	/* A leaf where a CA belongs. */
	assert_int_equal(crypto_tls_client_ctx(in(fx.a, "server.crt"), NULL,
	    NULL, &ctx, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "certificate 1 is not a CA certificate"));
	free(err);
	err = NULL;
	/* Half a client identity. */
	assert_int_equal(crypto_tls_client_ctx(in(fx.a, "ca.crt"),
	    in(fx.a, "admin.crt"), NULL, &ctx, &err), -BW_E_INVALID);
	assert_string_equal(err, "client certificate and key: give both or "
	    "neither");
	free(err);
	err = NULL;
	assert_int_equal(crypto_tls_server_ctx(in(fx.a, "ca.crt"),
	    in(fx.a, "server.crt"), in(fx.a, "server.key"),
	    (enum crypto_tls_client_cert)7, &ctx, &err), -BW_E_INVALID);
	free(err);
}

static void
test_exported_policy_matches_context(void **state)
{
	SSL_CTX			*s = server_ctx(fx.a,
	    CRYPTO_TLS_CLIENT_CERT_REQUIRED);
	STACK_OF(SSL_CIPHER)	*ciphers = SSL_CTX_get_ciphers(s);
	char			 all[1024] = "";
	int			 i;

	(void)state;
	for (i = 0; i < sk_SSL_CIPHER_num(ciphers); i++) {
		const char *n = SSL_CIPHER_get_name(
		    sk_SSL_CIPHER_value(ciphers, i));

		strncat(all, n, sizeof(all) - strlen(all) - 2);
		strcat(all, ":");
	}
	/* TLS 1.3 suites first, then the 1.2 list, nothing else. */
	assert_string_equal(all, "TLS_AES_256_GCM_SHA384:"
	    "TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
	    "ECDHE-RSA-AES128-GCM-SHA256:");
	assert_non_null(strstr(crypto_tls_ciphersuites(),
	    "TLS_AES_256_GCM_SHA384"));
	assert_null(strstr(crypto_tls_cipher_list(), "CHACHA"));
	assert_string_equal(crypto_tls_groups(), "P-384:P-256");
	assert_string_equal(crypto_tls_min_version(), "TLSv1.2");
	assert_int_equal(SSL_CTX_get_min_proto_version(s), TLS1_2_VERSION);
	assert_int_equal(SSL_CTX_get_max_proto_version(s), TLS1_3_VERSION);
	assert_true(SSL_CTX_get_options(s) & SSL_OP_NO_COMPRESSION);
	assert_true(SSL_CTX_get_options(s) & SSL_OP_NO_RENEGOTIATION);
	assert_true(SSL_CTX_get_options(s) & SSL_OP_NO_TICKET);
	assert_true(SSL_CTX_get_options(s) & SSL_OP_CIPHER_SERVER_PREFERENCE);
	assert_int_equal(SSL_CTX_get_num_tickets(s), 0);
	assert_int_equal(SSL_CTX_get_session_cache_mode(s), SSL_SESS_CACHE_OFF);
	assert_int_equal(SSL_CTX_get_verify_mode(s),
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
	SSL_CTX_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mtls_succeeds_with_identity),
		cmocka_unit_test(test_tls12_uses_ecdsa_gcm),
		cmocka_unit_test(test_required_rejects_client_without_cert),
		cmocka_unit_test(
		    test_optional_allows_anonymous_but_verifies_presented),
		cmocka_unit_test(test_other_ca_is_rejected),
		cmocka_unit_test(test_wrong_purpose_is_rejected),
		cmocka_unit_test(test_client_checks_server_name),
		cmocka_unit_test(test_old_protocols_are_refused),
		cmocka_unit_test(test_non_approved_ciphers_are_refused),
		cmocka_unit_test(test_revoked_client_is_refused),
		cmocka_unit_test(test_context_errors_are_precise),
		cmocka_unit_test(test_exported_policy_matches_context),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
