/* bulwark-agent's HTTPS client. The node's TLS private key lives in its
 * TPM (a persistent signing key) and is used through the tpm2-openssl
 * provider, loaded into a private OpenSSL library context so only the
 * signature runs in the TPM (digests, ciphers and random stay in the
 * default provider). The provider holds a TPM connection while loaded
 * and swtpm serves one connection at a time, so whoever needs the TPM
 * for something else (a quote) closes the context first. Within a
 * context, agent_https() keeps its connection alive: every handshake
 * costs a signature in the TPM. */
#ifndef BW_AGENT_TLS_H
#define BW_AGENT_TLS_H

#include <stddef.h>
#include <stdint.h>

/* The agent's TLS key: a TPM persistent handle next to the appliance's
 * checkpoint signer (0x81000100), so both can share one TPM. */
#define AGENT_TLS_KEY_HANDLE	0x81000102u
#define AGENT_RESPONSE_MAX	(1024 * 1024)
/* How long a response may keep the agent waiting (a long poll asks for
 * less). */
#define AGENT_RESPONSE_TIMEOUT_S	30

/* Properties that send only signatures to the tpm2 provider. */
#define AGENT_TPM2_PROPQ \
	"tpm2.digest=no,tpm2.cipher=no,tpm2.rand=no,?tpm2.signature=yes"

struct agent_tls;

/* A client whose certificate is CERT_PATH and whose key is the TPM key
 * at KEY_HANDLE reached through TCTI (tpm2 provider), trusting CA_PATH.
 * Returns 0 or a negative error with *RET_ERR. */
int agent_tls_open_tpm(const char *tcti, uint32_t key_handle,
    const char *cert_path, const char *ca_path, struct agent_tls **ret,
    char **ret_err);

/* A client with a PEM certificate and key held in memory (the bootstrap
 * credential), trusting CA_PEM. Nothing is written to disk. */
int agent_tls_open_pem(const char *cert_pem, const char *key_pem,
    const char *ca_pem, struct agent_tls **ret, char **ret_err);

void agent_tls_close(struct agent_tls *t);

/* One HTTP/1.1 request to SERVER ("https://host:port") on T's kept-alive
 * connection, through client/ (opened when there is none; a connection
 * the server closed while idle is replaced once). *RET_STATUS and *RET_BODY (caller frees,
 * NUL-terminated) on any HTTP answer. Returns 0, or a negative error
 * when no answer came. */
int agent_https(struct agent_tls *t, const char *server, const char *method,
    const char *path, const char *body, int *ret_status, char **ret_body,
    char **ret_err);

/* The public key of the TPM key at KEY_HANDLE as PEM, through the
 * provider (what the certificate must certify). */
int agent_tls_public_pem(const char *tcti, uint32_t key_handle,
    char **ret_pem, char **ret_err);

#endif
