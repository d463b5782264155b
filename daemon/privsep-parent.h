/* The privileged side of bulwarkd's process split (bulwarkd --privsep):
 * starts the API worker (privsep/worker.h) as `bulwarkd --worker` with
 * its channels and the listening socket, answers its frames through the
 * fixed dispatch tables of privsep/worker-proto.h (a connection to hand
 * to evhttp, a handshake signature made with the TPM-held key, an
 * event to audit), sends it every renewed certificate, and ends,
 * reaps, audits and restarts it: a refused frame kills the worker
 * (privsep.worker_refused), a worker that dies is recorded with its
 * signal (privsep.worker_died), each new one too
 * (privsep.worker_restart). The parent never exits for a worker. */
#ifndef BW_DAEMON_PRIVSEP_PARENT_H
#define BW_DAEMON_PRIVSEP_PARENT_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <sys/types.h>

struct api_server;
struct committer;
struct psp;

/* Starts the worker for API (started with a plain_socket) on BASE;
 * records go to COMMIT. DATA_DIR holds the test hook file of test
 * builds. Returns 0 with *RET (psp_stop()) or a negative error. */
int psp_start(struct event_base *base, struct api_server *api,
    SSL_CTX *ctx, struct committer *commit, const char *data_dir,
    struct psp **ret, char **ret_err);

/* The running worker's pid, 0 while none runs. */
pid_t psp_worker_pid(const struct psp *p);

/* Kills and reaps the worker and frees P (NULL is fine). */
void psp_stop(struct psp *p);

#endif
