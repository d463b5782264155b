/* bulwarkd's API worker: the unprivileged process that accepts TLS
 * connections on the socket its parent bound, runs each handshake with
 * a key it never holds (every signature is the parent's, SIGN frames),
 * verifies client certificates, enforces the limits on connections that
 * have not finished a handshake, and relays each finished connection's
 * decrypted bytes over a stream the parent gives it. Runs as
 * `bulwarkd --worker`, started by the parent (daemon/privsep-parent.c)
 * with the descriptors of privsep/worker-proto.h. */
#ifndef BW_PRIVSEP_WORKER_H
#define BW_PRIVSEP_WORKER_H

/* The worker's main: confines itself (hardening/worker-sandbox.h), then
 * serves until its parent closes the control channel. Returns the exit
 * status. */
int psw_worker_main(void);

#endif
