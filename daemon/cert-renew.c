#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/cert-renew.h"
#include "audit/record.h"
#include "controlplane/api.h"
#include "controlplane/commit.h"
#include "daemon/identity.h"
#include "hardening/crypto-policy.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"

struct certrenew {
	struct event		*timer;
	char			 pkidir[PATH_MAX];
	char			 ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	const struct pki_init_options *names;
	unsigned		 lifetime_secs;
	struct identity		*identity;
	struct api_server	*api;
	struct committer	*commit;
	SSL_CTX			**ssl_ctx;
	struct pki_cert_times	 server, ca_times;
	time_t			 renew_at;
	time_t			 last_renewal;	/* 0: none since start */
	unsigned long long	 renewals, failures;
	unsigned		 retries;	/* failures since the last success */
	char			 last_error[256];
};

static void
audit_renewal(struct certrenew *cr, const char *outcome, const char *reason)
{
	commit_audit_async(cr->commit, &(struct audit_record){
	    .actor = "bulwarkd", .role = "system", .tenant = PKI_SYSTEM_TENANT,
	    .source = "local", .auth_method = "none",
	    .action = CERTRENEW_ACTION, .object_kind = "Certificate",
	    .object_tenant = PKI_SYSTEM_TENANT, .object_name = "server.crt",
	    .outcome = outcome, .reason = reason, .controls = "SC-12,SC-17" });
}

/* When the current certificate has used its share of its lifetime. */
static time_t
renew_time(const struct pki_cert_times *t)
{
	time_t life = t->not_after > t->issued ? t->not_after - t->issued : 0;

	return t->issued + life / CERTRENEW_AT_DEN * CERTRENEW_AT_NUM +
	    life % CERTRENEW_AT_DEN * CERTRENEW_AT_NUM / CERTRENEW_AT_DEN;
}

static void
arm(struct certrenew *cr, time_t at)
{
	time_t		now = time(NULL);
	struct timeval	tv = { .tv_sec = at > now ? at - now : 0 };

	cr->renew_at = at;
	evtimer_add(cr->timer, &tv);
}

static unsigned
retry_delay(const struct certrenew *cr)
{
	unsigned	shift = cr->retries > 10 ? 10 : cr->retries - 1;
	unsigned	d = CERTRENEW_RETRY_MIN_SECS << shift;
	time_t		life = cr->server.not_after - cr->server.issued;

	if (d > CERTRENEW_RETRY_MAX_SECS)
		d = CERTRENEW_RETRY_MAX_SECS;
	if (life / 10 < (time_t)d)
		d = life / 10 > 0 ? (unsigned)(life / 10) : 1;
	return d;
}

static void
renewal_failed(struct certrenew *cr, int r, const char *err)
{
	char		until[BW_TIME_LEN + 1], reason[512];
	unsigned	delay;

	cr->failures++;
	cr->retries++;
	delay = retry_delay(cr);
	snprintf(cr->last_error, sizeof(cr->last_error), "%s",
	    err ? err : bw_strerror(r));
	bw_time_rfc3339(until, sizeof(until), cr->server.not_after);
	snprintf(reason, sizeof(reason), "%s; still serving serial %s (not "
	    "after %s), next attempt in %u s", cr->last_error,
	    cr->server.serial_hex, until, delay);
	log_error("server certificate renewal failed: %s", reason);
	audit_renewal(cr, "failure", reason);
	arm(cr, time(NULL) + delay);
}

static void
renew(struct certrenew *cr)
{
	_cleanup_free_ char	*err = NULL;
	struct pki_cert_times	 t;
	char			 was[BW_TIME_LEN + 1], until[BW_TIME_LEN + 1];
	char			 reason[256];
	SSL_CTX			*ctx = NULL;
	unsigned		 life = cr->lifetime_secs ? cr->lifetime_secs :
	    PKI_SERVER_DAYS * 86400u;
	int			 r;

	if ((r = pki_renew_server(cr->pkidir, identity_ca_key(cr->identity),
	    cr->names, life, &t, &err)) < 0 ||
	    (r = certrenew_server_ctx(cr->names, cr->ca, cr->cert, cr->key,
	    &ctx, &err)) < 0) {
		renewal_failed(cr, r, err);
		return;
	}
	/* New connections get the new certificate; each open one holds a
	 * reference to the context it was accepted with. */
	api_server_set_ssl_ctx(cr->api, ctx);
	SSL_CTX_free(*cr->ssl_ctx);
	*cr->ssl_ctx = ctx;

	bw_time_rfc3339(was, sizeof(was), cr->server.not_after);
	bw_time_rfc3339(until, sizeof(until), t.not_after);
	snprintf(reason, sizeof(reason), "serial %s (not after %s) replaces "
	    "serial %s (not after %s)", t.serial_hex, until,
	    cr->server.serial_hex, was);
	log_info("server certificate renewed: %s", reason);
	audit_renewal(cr, "success", reason);
	cr->server = t;
	cr->last_renewal = time(NULL);
	cr->renewals++;
	cr->retries = 0;
	cr->last_error[0] = '\0';
	arm(cr, renew_time(&cr->server));
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	renew(arg);
}

static int
path_in(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int
certrenew_start(struct event_base *base, const struct certrenew_options *o,
    struct certrenew **ret, char **ret_err)
{
	_cleanup_free_ struct certrenew	*cr = NULL;
	int				 r;

	if (!(cr = calloc(1, sizeof(*cr))))
		return -ENOMEM;
	if ((size_t)snprintf(cr->pkidir, sizeof(cr->pkidir), "%s",
	    o->pkidir) >= sizeof(cr->pkidir) ||
	    path_in(cr->ca, sizeof(cr->ca), o->pkidir, "ca.crt") < 0 ||
	    path_in(cr->cert, sizeof(cr->cert), o->pkidir, "server.crt") < 0 ||
	    path_in(cr->key, sizeof(cr->key), o->pkidir, "server.key") < 0)
		return errf(-ENAMETOOLONG, ret_err, "%s: path too long",
		    o->pkidir);
	cr->names = o->names;
	cr->lifetime_secs = o->lifetime_secs;
	cr->identity = o->identity;
	cr->api = o->api;
	cr->commit = o->commit;
	cr->ssl_ctx = o->ssl_ctx;
	if ((r = pki_cert_times(o->pkidir, "server.crt", &cr->server,
	    ret_err)) < 0 ||
	    (r = pki_cert_times(o->pkidir, "ca.crt", &cr->ca_times,
	    ret_err)) < 0)
		return r;
	if (!(cr->timer = evtimer_new(base, on_timer, cr)))
		return -ENOMEM;
	arm(cr, renew_time(&cr->server));
	*ret = TAKE_PTR(cr);
	return 0;
}

int
certrenew_server_ctx(const struct pki_init_options *o, const char *ca,
    const char *cert, const char *key_path, SSL_CTX **ret, char **ret_err)
{
	const struct pki_server_key_custody	*cus = o ? o->server_custody :
	    NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	int					 r;

	if (!cus)
		return crypto_tls_server_ctx(ca, cert, key_path,
		    CRYPTO_TLS_CLIENT_CERT_OPTIONAL, ret, ret_err);
	r = cus->load(cus->ctx, &key, ret_err);
	if (r == -ENOENT)
		return errf(-BW_E_NOTFOUND, ret_err, "no server key in the TPM");
	if (r < 0)
		return r;
	return crypto_tls_server_ctx_key(ca, cert, key, "the TPM-held server "
	    "key", CRYPTO_TLS_CLIENT_CERT_OPTIONAL, ret, ret_err);
}

static json_t *
time_json(time_t t)
{
	char buf[BW_TIME_LEN + 1];

	if (t == 0)
		return json_null();
	bw_time_rfc3339(buf, sizeof(buf), t);
	return json_string(buf);
}

json_t *
certrenew_health_json(struct certrenew *cr)
{
	if (!cr)
		return NULL;
	return json_pack("{s:{s:s, s:o, s:o}, s:{s:o}, s:o, s:I, s:I, s:o}",
	    "server", "serial", cr->server.serial_hex,
	    "not_after", time_json(cr->server.not_after),
	    "renew_at", time_json(cr->renew_at),
	    "ca", "not_after", time_json(cr->ca_times.not_after),
	    "last_renewal", time_json(cr->last_renewal),
	    "renewals", (json_int_t)cr->renewals,
	    "failures", (json_int_t)cr->failures,
	    "last_error", cr->last_error[0] ? json_string(cr->last_error) :
	    json_null());
}

time_t
certrenew_server_not_after(const struct certrenew *cr)
{
	return cr ? cr->server.not_after : 0;
}

void
certrenew_stop(struct certrenew *cr)
{
	if (!cr)
		return;
	if (cr->timer)
		event_free(cr->timer);
	free(cr);
}
