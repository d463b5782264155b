/* Renewal of bulwarkd's TLS server certificate, which is issued for
 * PKI_SERVER_DAYS and would otherwise make every agent and client fail
 * verification once it expires. A timer on the event loop renews it
 * once it has used CERTRENEW_AT_NUM/CERTRENEW_AT_DEN of its lifetime:
 * a new key (in the TPM: identity_server_key_custody()) and certificate
 * from the CA (pki_renew_server(), written where pki_init_dir() keeps
 * them), then a new SSL_CTX for the API
 * listener that only new connections use, so an open watch keeps its
 * connection. Each renewal and each failure is audited (action
 * CERTRENEW_ACTION) and logged; a failure is retried with backoff while
 * the old certificate keeps serving. docs/identity.md describes it. */
#ifndef BW_CERT_RENEW_H
#define BW_CERT_RENEW_H

#include <event2/event.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "hardening/pki.h"

#define CERTRENEW_AT_NUM		2
#define CERTRENEW_AT_DEN		3
/* Retries after a failure wait from MIN doubling up to MAX seconds,
 * and never more than a tenth of the certificate's lifetime, so a short
 * lifetime still sees several attempts before it ends. */
#define CERTRENEW_RETRY_MIN_SECS	5
#define CERTRENEW_RETRY_MAX_SECS	3600
#define CERTRENEW_ACTION		"pki.server_renew"

struct api_server;
struct committer;
struct identity;
struct certrenew;

struct certrenew_options {
	const char		*pkidir;
	/* Server names for the renewed certificate (server_names,
	 * server_ips); borrowed, must outlive the renewer. */
	const struct pki_init_options *names;
	/* Lifetime of a renewed certificate; 0: PKI_SERVER_DAYS days. */
	unsigned		 lifetime_secs;
	struct identity		*identity;	/* holds the CA key */
	struct api_server	*api;
	struct committer	*commit;	/* audit records */
	/* The caller's slot owning the listener's current context: on
	 * renewal it receives the new one and the old one is freed (open
	 * connections keep their own reference to it). */
	SSL_CTX			**ssl_ctx;
};

/* Reads the current server and CA certificates and arms the timer on
 * BASE. *RET is freed with certrenew_stop(). Returns 0 or a negative
 * error with *RET_ERR. */
int certrenew_start(struct event_base *base,
    const struct certrenew_options *o, struct certrenew **ret,
    char **ret_err);

/* {"server": {"serial", "not_after", "renew_at"}, "ca": {"not_after"},
 * "last_renewal", "renewals", "failures", "last_error"} with RFC 3339
 * times, for /healthz; a new reference or NULL. R may be NULL. */
json_t *certrenew_health_json(struct certrenew *r);

/* The server certificate's expiry (seconds since the epoch), 0 with
 * none. */
time_t certrenew_server_not_after(const struct certrenew *cr);

/* The API listener's context for PKIDIR's server.crt (CA and CERT name
 * ca.crt and server.crt): with the key of O->server_custody (in the
 * TPM) when O has one, else with KEY_PATH. Returns 0 with *RET or a
 * negative error with *RET_ERR. */
int certrenew_server_ctx(const struct pki_init_options *o, const char *ca,
    const char *cert, const char *key_path, SSL_CTX **ret, char **ret_err);

/* Stops the timer and frees R (NULL is fine). */
void certrenew_stop(struct certrenew *r);

#endif
