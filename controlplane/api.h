/* The HTTPS API server: libevent evhttp on OpenSSL bufferevents, mutual
 * TLS, JSON in and out. It parses and authorises requests, reads the
 * store directly and sends every mutation through the commit pipeline.
 * The parsing half (api-route, schema, resource) has no privileges and
 * no I/O so it can move into a confined worker process. */
#ifndef BW_API_H
#define BW_API_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <event2/event.h>

#include "controlplane/commit.h"
#include "controlplane/store.h"

#define API_BODY_MAX		(1024 * 1024)
#define API_HEADERS_MAX		(16 * 1024)
#define API_TIMEOUT_SECS	30
#define API_LIST_MAX		10000

struct api_server;
struct audit_trail;

struct api_server_options {
	const char		*listen;	/* "127.0.0.1:8443", "[::1]:8443" */
	SSL_CTX			*ssl_ctx;	/* client certs verified when sent */
	struct store		*store;
	struct committer	*commit;
	struct audit_trail	*trail;		/* for health and audit reads; may be NULL */
	const char		*audit_dir;	/* served to auditors; may be NULL */
	/* Returns 1 if the certificate serial (hex) is revoked. May be NULL. */
	int			(*is_revoked)(void *ctx, const char *serial_hex);
	void			*revoked_ctx;
};

/* Binds and starts serving on BASE. Returns 0 or a negative error with
 * a message in *ret_err. */
int api_server_start(struct event_base *base, const struct api_server_options *o,
    struct api_server **ret, char **ret_err);

/* The port actually bound (useful with port 0). */
int api_server_port(struct api_server *s);

/* Stops serving, ends watch streams and frees S (NULL ok). */
void api_server_free(struct api_server *s);

#endif
