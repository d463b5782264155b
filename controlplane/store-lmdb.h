/* LMDB backend internals that tests inspect. Not for other callers. */
#ifndef BW_CONTROLPLANE_STORE_LMDB_H
#define BW_CONTROLPLANE_STORE_LMDB_H

struct store;

/* Returns the LMDB environment flags of ST (an LMDB store), or -1 if ST
 * is another backend. Tests use it to prove commits stay durable (no
 * MDB_NOSYNC, MDB_NOMETASYNC, MDB_MAPASYNC, MDB_WRITEMAP). */
long store_lmdb_env_flags(struct store *st);

#endif
