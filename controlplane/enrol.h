/* Node enrolment and attestation endpoints (docs/identity.md):
 *
 *   POST /v1/enrol/bootstrap  system-admin: single-use, short-lived
 *                             node-bootstrap credential for a node
 *   POST /v1/enrol/approve    system-admin: golden PCR values of a
 *                             pending node := the values it quoted
 *   POST /v1/enrol/begin      node-bootstrap: EK, AK, TLS public key ->
 *                             credential (MakeCredential) + nonce
 *   POST /v1/enrol/complete   node-bootstrap: activated secret + quote
 *                             -> Pending, or Trusted + node certificate
 *   POST /v1/attest/nonce     node: a fresh nonce
 *   POST /v1/attest/quote     node: quote over it -> Trusted/Untrusted,
 *                             certificate renewal at half life
 *
 * Node attestation state lives in the Node object's status (written
 * through the commit pipeline with an audit record, so every step is in
 * the trail): attestation Trusted | Untrusted | Pending, the enrolled AK,
 * golden PCR values. A timer marks nodes whose last good quote is older
 * than the stale limit Untrusted. The TPM-side verification (attest.c)
 * and certificate issuance are reached through struct enrol_ops so this
 * module does not depend on the appliance layer. */
#ifndef BW_CONTROLPLANE_ENROL_H
#define BW_CONTROLPLANE_ENROL_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

struct api_server;

#define ENROL_NONCE_LEN		32
#define ENROL_CHALLENGE_LEN	32
#define ENROL_SESSIONS_MAX	256
#define ENROL_SESSION_TTL_S	120
#define ENROL_BLOB_MAX		8192	/* decoded EK, AK, quote, credential */

/* PCR values travel as JSON objects {"13": "<64 hex>", ...}. */
struct enrol_ops {
	void	*ctx;
	/* Checks that AK (marshalled TPM2B_PUBLIC) is a restricted
	 * signing key; *RET_PEM is its SubjectPublicKeyInfo PEM. */
	int	(*ak_pem)(void *ctx, const unsigned char *ak, size_t len,
		    char **ret_pem, char **ret_err);
	/* TPM2_MakeCredential of SECRET for EK and the AK's name. */
	int	(*make_credential)(void *ctx, const unsigned char *ek,
		    size_t ek_len, const unsigned char *ak, size_t ak_len,
		    const unsigned char *secret, size_t slen,
		    unsigned char **ret_blob, size_t *ret_len, char **ret_err);
	/* A fresh nonce for node NODE: nonces are bound to the node that
	 * asked, and each node holds only a few (a node cannot evict
	 * another's). */
	int	(*nonce_issue)(void *ctx, const char *node,
		    unsigned char ret[ENROL_NONCE_LEN]);
	/* 0 once for an unexpired nonce issued to NODE, -BW_E_DENIED
	 * after or for another node's. */
	int	(*nonce_consume)(void *ctx, const char *node,
		    const unsigned char *nonce, size_t len, char **ret_err);
	/* Verifies QUOTE with AK_PEM over QDATA, its selection against the
	 * configured quote PCRs and, when GOLDEN is not NULL, its values
	 * against GOLDEN. *RET_PCRS (may be NULL) gets the quoted values.
	 * -BW_E_DENIED with the failed check named. */
	int	(*quote_verify)(void *ctx, const char *ak_pem,
		    const unsigned char *quote, size_t qlen,
		    const unsigned char *qdata, size_t qdlen,
		    const json_t *golden, json_t **ret_pcrs, char **ret_err);
	/* Issues a certificate CN=NODE, O=system, OU=ROLE for PUB_PEM (NULL:
	 * a new key returned in *RET_KEY, free with crypto_secret_free()). */
	int	(*issue_cert)(void *ctx, const char *node, const char *role,
		    const char *pub_pem, unsigned secs, char **ret_cert,
		    char **ret_key, char **ret_serial, char **ret_err);
	/* Revokes a certificate serial for every later handshake. */
	int	(*revoke)(void *ctx, const char *serial, char **ret_err);
	const char *ca_pem;		/* the appliance CA, sent to agents */
	const char *quote_pcrs;		/* "0,2,4,7,13", sent to agents */
};

struct enrol_options {
	unsigned	attest_interval_s;	/* told to agents */
	unsigned	attest_stale_s;		/* no good quote for this long */
	unsigned	node_cert_s;		/* node certificate lifetime */
	unsigned	bootstrap_max_s;	/* longest bootstrap credential */
	unsigned	check_interval_ms;	/* stale scan period; 0: stale/4,
						   1..15 s */
};

struct enrol;

/* Registers the endpoints on SRV and starts the stale timer on BASE.
 * OPS is copied; its ctx must outlive the module. */
int enrol_start(struct event_base *base, struct api_server *srv,
    const struct enrol_ops *ops, const struct enrol_options *o,
    struct enrol **ret, char **ret_err);

/* Whether this replica's stale timer writes (docs/ha.md: the leader's
 * only); the endpoints serve either way. Active from the start. */
void enrol_set_active(struct enrol *e, bool active);

/* Stops the timer and frees E (NULL ok). Call before api_server_free(). */
void enrol_stop(struct enrol *e);

/* Pure helpers, exposed for unit tests. */

/* Lowercase hex SHA-256 of LEN bytes of BUF into RET (65 bytes). */
int enrol_sha256_hex(const void *buf, size_t len, char ret[65]);

#endif
