/* bulwarkd's TPM-rooted identity (docs/identity.md): picks the TPM
 * (--tpm TCTI, /dev/tpmrm0, or a private swtpm in all-in-one mode),
 * measures the configuration file into the Bulwark PCR, unseals the
 * appliance's root secret (sealed to PCRs 0,2,4,7,13 by default) that
 * wraps the CA key, and signs audit checkpoints with the TPM's signing
 * key. Also the planned, audited re-seal after a configuration change,
 * and the verifier operations the enrolment endpoints use. */
#ifndef BW_IDENTITY_H
#define BW_IDENTITY_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

struct audit_signer;
struct enrol_ops;
struct evidence_tpm_ops;
struct pki_key_custody;
struct pki_server_key_custody;
struct pki_revoked;

#define IDENTITY_CONFIG_NAME		"bulwarkd.conf"
#define IDENTITY_CONFIG_MAX		(64 * 1024)
#define IDENTITY_ROOT_SEALED		"identity/root.sealed"
#define IDENTITY_CA_KEY_SEALED		"pki/ca.key.sealed"
/* The server's TLS key, created in the TPM: its public part and its
 * private part wrapped by the SRK (identity/tpm.h tpm_key_create()). */
#define IDENTITY_TLS_KEY_TPM		"pki/server.key.tpm"
#define IDENTITY_CHECKPOINT_PUB		"pki/audit-checkpoint.pub.pem"
#define IDENTITY_DEVICE_TCTI		"device:/dev/tpmrm0"

struct identity_options {
	const char	*data_dir;	/* absolute, exists */
	const char	*tcti;		/* --tpm; NULL: /dev/tpmrm0 or swtpm */
	const char	*config_path;	/* NULL: DATA_DIR/bulwarkd.conf */
	int		 allow_swtpm;	/* all-in-one: may start a private swtpm */
};

/* Settings read from the configuration file (all have defaults). */
struct identity_settings {
	unsigned	attest_interval_s;	/* agents re-attest this often (60) */
	unsigned	attest_stale_s;		/* no quote for this long: Untrusted */
	unsigned	node_cert_s;		/* node certificate lifetime */
	unsigned	bootstrap_max_s;	/* longest bootstrap credential */
	uint32_t	seal_pcrs;		/* PCRs the root secret is sealed to */
	uint32_t	quote_pcrs;		/* PCRs nodes quote */
	/* "store": the state store's map size, change-log retention and
	 * high-water mark (bulwarkd(8)); 0 leaves the store's default. */
	uint64_t	store_map_bytes;
	uint64_t	store_history_revisions;
	uint64_t	store_history_bytes;
	unsigned	store_high_water_pct;
	/* "compliance.cadence_seconds": the evidence cadence
	 * (COMP_CADENCE_DEFAULT_S when absent). */
	long		compliance_cadence_s;
};

struct identity;

/* Opens the TPM, measures the configuration (creating a default file
 * when missing), makes sure the AK and the checkpoint signer exist,
 * exports the signer's public key to DATA_DIR/pki/audit-checkpoint.pub.pem
 * and unseals (or, on first start, creates and seals) the root secret.
 * When unsealing fails the message names the PCRs that changed; the
 * caller must refuse to start. *RET is freed with identity_close(),
 * which also stops a private swtpm. */
int identity_open(const struct identity_options *o, struct identity **ret,
    char **ret_err);
void identity_close(struct identity *id);

const struct identity_settings *identity_settings(const struct identity *id);

/* Checkpoint signer backed by the TPM (valid until identity_close()). */
const struct audit_signer *identity_audit_signer(struct identity *id);

/* Custody of the CA key, wrapped by a key derived from the sealed root
 * secret (DATA_DIR/pki/ca.key.sealed); pass it to pki_init_dir(). */
const struct pki_key_custody *identity_ca_custody(struct identity *id);

/* Custody of the server's TLS key in the TPM (IDENTITY_TLS_KEY_TPM); pass
 * it to pki_init_dir() and pki_renew_server(). Its keys sign in the TPM
 * (serialised with the daemon's other TPM use) and must be freed before
 * identity_close(). */
const struct pki_server_key_custody *identity_server_key_custody(
    struct identity *id);

/* The CA key once pki_init_dir() loaded or created it (else NULL). */
EVP_PKEY *identity_ca_key(struct identity *id);

/* The TPM quote of evidence bundles (compliance/evidence.h): the AK at
 * TPM_AK_HANDLE_DEFAULT quotes the PCRs the root secret is sealed to,
 * whose golden values are those it is sealed to (identity/root.sealed,
 * written at first start and by a planned --reseal). Valid until
 * identity_close(). */
const struct evidence_tpm_ops *identity_evidence_tpm(struct identity *id);

/* What the compliance checks need to know about the TPM: kind
 * ("hardware" | "software"), whether it is for development only, TCTI,
 * PCRs, configuration digest. New reference. */
json_t *identity_tpm_json(const struct identity *id);

/* The TPM's dictionary-attack state now (tpm_da_status_json()), or
 * {"error": ...}. New reference. */
json_t *identity_tpm_lockout_json(struct identity *id);

/* Appends bulwark_tpm_operation_duration_seconds{op} to B (/metrics). */
struct bw_buf;
void identity_render_metrics(struct identity *id, struct bw_buf *b);

/* identity_tpm_json() with "lockout": identity_tpm_lockout_json(). */
json_t *identity_tpm_status_json(struct identity *id);

/* Serves GET /v1/identity on SRV: identity_tpm_json() for any
 * authenticated role (node-bootstrap credentials excepted), audited. */
struct api_server;
int identity_register_api(struct identity *id, struct api_server *srv);

/* Fills OPS with the verifier side of enrolment (attest.c) plus
 * certificate issuance with the CA key under PKIDIR and revocation into
 * REVOKED. ID and REVOKED must outlive the enrolment module. */
int identity_enrol_ops(struct identity *id, const char *pkidir,
    struct pki_revoked *revoked, struct enrol_ops *ops, char **ret_err);

/* Planned configuration change (bulwarkd --reseal): the daemon must be
 * stopped. PREVIOUS_CONFIG is the configuration the secrets are sealed
 * to; the current file (O->config_path) is the new one. Re-creates the
 * Bulwark PCR value of PREVIOUS_CONFIG if this boot has not measured
 * anything yet, re-seals the root secret to the values the new file
 * will produce, and records identity.reseal (ACTOR, REASON, both digests)
 * durably in the audit trail before replacing the sealed blob. */
int identity_reseal(const struct identity_options *o,
    const char *previous_config, const char *actor, const char *reason,
    char **ret_err);

#endif
