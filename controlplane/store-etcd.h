/* The state store (controlplane/store.h) on an etcd v3 cluster, spoken
 * to through etcd's v3 JSON gateway over HTTPS with a client
 * certificate, and the entry point that picks a backend from a spec.
 * docs/ha.md, "Store on etcd", says what of the store's contract holds
 * on etcd and how it maps. */
#ifndef BW_CONTROLPLANE_STORE_ETCD_H
#define BW_CONTROLPLANE_STORE_ETCD_H

#include "controlplane/store.h"

/* Opens the store kept under a key prefix of an etcd cluster. SPEC is
 * "etcd://HOST:PORT[,HOST:PORT...]/PREFIX?ca=FILE&cert=FILE&key=FILE":
 * the members' client endpoints (tried in order, the next one when one
 * cannot be reached), the key prefix every key of the store lives under
 * (no control characters), and the PEM files of the CA that signed the
 * members' certificates and of the client's certificate and key. The
 * store's revisions are its own (store.h), kept in etcd beside the data.
 * On failure returns a negative error and, if RET_ERR is not NULL, an
 * allocated message in *ret_err. */
int store_open_etcd(const char *spec, struct store **ret, char **ret_err);

/* Opens the store SPEC names: "etcd://..." (store_open_etcd), or
 * "lmdb:DIR" or a plain directory path (store_open_lmdb with OPTS;
 * OPTS is ignored for etcd). */
int store_open_spec(const char *spec, const struct store_options *opts,
    struct store **ret, char **ret_err);

#endif
