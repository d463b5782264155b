/* A private swtpm child for tests and for bulwarkd's all-in-one mode on
 * machines without a TPM: own state directory, free loopback ports picked
 * here, started in the foreground as our child and reaped on stop. Never
 * a shared instance. */
#ifndef BW_SWTPM_H
#define BW_SWTPM_H

#include <sys/types.h>

#define SWTPM_BINARY	"/usr/bin/swtpm"

struct swtpm;

/* Starts swtpm (TPM 2.0, startup-clear) with its NV state in STATE_DIR
 * (created 0700 if missing; kept after stop, so a restart on the same
 * directory keeps persistent keys). Its log goes to STATE_DIR/swtpm.log.
 * Returns once the TPM answers on its control channel; *ret_swtpm is
 * released by swtpm_stop(). Returns 0, -BW_E_UNAVAILABLE with *ret_err,
 * or -errno. */
int swtpm_start(const char *state_dir, struct swtpm **ret_swtpm,
    char **ret_err);

/* TCTI configuration string for tpm_open() ("swtpm:host=...,port=..."). */
const char *swtpm_tcti(const struct swtpm *s);

/* Process id of the child. */
pid_t swtpm_pid(const struct swtpm *s);

/* Shuts the TPM down in order (TPM2_Shutdown(TPM2_SU_STATE) on its
 * command port; the caller must have closed its own connections, as
 * swtpm serves one at a time), then terminates the child (SIGTERM, then
 * SIGKILL after 2 s), reaps it and
 * frees S. Returns the child's wait status, or -errno. NULL returns 0. */
int swtpm_stop(struct swtpm *s);

#endif
