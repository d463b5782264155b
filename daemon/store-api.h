/* bulwarkd's store operations endpoint (docs/ha.md, "Snapshot and
 * restore"):
 *   GET /v1/store/snapshot
 *        system-admin: a snapshot of the etcd cluster the store lives on
 *        (controlplane/store-etcd.h), streamed from one member into a
 *        file in the data directory, its digest checked, then sent as
 *        application/octet-stream; audited as store.snapshot with its
 *        size, SHA-256 and the store revision it holds at least.
 * On LMDB it answers 501: copy the data directory of a stopped daemon
 * instead. */
#ifndef BW_STORE_API_H
#define BW_STORE_API_H

#include "controlplane/api.h"

#define STORE_API_PREFIX	"/v1/store/"

/* The api_handler_fn of STORE_API_PREFIX; ARG is the data directory
 * (a NUL-terminated path that outlives the server) where the snapshot
 * is made before it is sent. */
void store_api_handle(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, const char *path, void *arg);

#endif
