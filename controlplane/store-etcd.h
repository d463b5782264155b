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

/* Keeps the audit outbox of this handle under "o/NAME/" instead of
 * "o/", so replicas sharing one prefix each replay and trim their own
 * records only. Call before the commit pipeline starts. Returns
 * -ENOTSUP when ST is not on etcd, -BW_E_INVALID for a NAME with
 * spaces, slashes or control characters. */
int store_etcd_set_replica(struct store *st, const char *name,
    char **ret_err);

/* A snapshot of the etcd cluster under a store: etcd's own database
 * file with the SHA-256 of it appended, as etcd's Maintenance Snapshot
 * sends it (`etcdctl snapshot save` writes the same). It holds every
 * prefix of the cluster, revisions and leases included. */
struct store_snapshot_info {
	uint64_t	 bytes;		/* of the file, digest included */
	char		 sha256[65];	/* hex, of the database part */
};

/* Streams a snapshot of ST's cluster from one member into FD (a new,
 * empty file), fsyncs it and checks its digest (INFO, NULL ok, gets
 * its size and digest). Blocks until the whole database is sent.
 * Returns -ENOTSUP when ST is not on etcd, -BW_E_UNAVAILABLE with
 * etcd's or libcurl's message, -BW_E_CORRUPT when the digest does not
 * match. FD's content is undefined on failure. */
int store_etcd_snapshot(struct store *st, int fd,
    struct store_snapshot_info *info, char **ret_err);

/* Checks that the snapshot in FD (or file PATH) is whole: its size is
 * whole 512-byte blocks plus 32, and its last 32 bytes are the SHA-256
 * of the rest. Returns -BW_E_CORRUPT, with a message saying which,
 * when not; -errno when it cannot be read. Works without a store (an
 * operator's offline check before a restore). */
int store_snapshot_verify_fd(int fd, struct store_snapshot_info *info,
    char **ret_err);
int store_snapshot_verify(const char *path, struct store_snapshot_info *info,
    char **ret_err);

/* Leader election among the replicas sharing ST's prefix: one key,
 * PREFIX e/leader, created only while absent and bound to the
 * candidate's lease, so it disappears when the holder's lease is not
 * kept alive. docs/ha.md, "Leader election". */
struct store_election;

/* Prepares a candidate named ID whose lease lives TTL_S seconds, and
 * claims PREFIX e/replica/ID under it (two replicas of one name would
 * share an audit outbox). Returns -ENOTSUP when ST is not on etcd,
 * -BW_E_EXISTS when another lease still holds the name after TTL_S + 1
 * seconds (a crashed holder's lease has expired by then); other errors
 * of the claim are left to the rounds, which claim the name before
 * campaigning whenever they grant a lease. */
int store_election_new(struct store *st, const char *id, unsigned ttl_s,
    struct store_election **ret, char **ret_err);

/* One round, blocking for at most about TIMEOUT_MS per member asked:
 * grants a lease when the candidate has none (or its lease is gone),
 * else keeps it alive, then campaigns. Returns 1 when the candidate
 * holds the key under a live lease, 0 when another does (its id in
 * LEADER, "" when none could be read), or a negative error (the lease
 * state is then unknown: the caller must not act as leader). */
int store_election_step(struct store_election *e, long timeout_ms,
    char *leader, size_t leader_len, char **ret_err);

/* Revokes the candidate's lease (a leader steps down at once, and the
 * key goes with it) and frees E. NULL ok. */
void store_election_free(struct store_election *e);

#endif
