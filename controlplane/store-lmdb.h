/* LMDB backend internals that tests and fuzz targets inspect. Not for
 * other callers. */
#ifndef BW_CONTROLPLANE_STORE_LMDB_H
#define BW_CONTROLPLANE_STORE_LMDB_H

#include <stddef.h>

struct store;
struct store_event;

/* One write of a write-ahead-log record: DB 0 meta, 1 kv, 2 log; OP 'P'
 * (put KEY = VALUE) or 'D' (delete KEY, no value). */
typedef int (*store_lmdb_entry_fn)(void *arg, int db, char op,
    const void *key, size_t klen, const void *value, size_t vlen);

/* Splits the payload of a store.wal record (P, LEN bytes) into its
 * writes and calls FN for each, in order; a malformed entry (short
 * header, bad database or op, lengths past the end, empty key, a delete
 * with a value) gives -BW_E_CORRUPT, FN's negative result stops it. */
int store_lmdb_record_parse(const unsigned char *p, size_t len,
    store_lmdb_entry_fn fn, void *arg);

/* Decodes one change-log entry: KEY (KLEN bytes, the revision in big
 * endian) and VALUE (VLEN bytes: 'P' or 'D', the key's length in two
 * bytes, the key, then a put's value or a delete's label) into *EV when
 * the key starts with PREFIX. 1 when *EV was filled, 0 when the key does
 * not start with PREFIX (*EV untouched), -BW_E_CORRUPT, or -ENOMEM (*EV
 * owns nothing). What store_changes() reads the log with. */
int store_lmdb_event_decode(const void *key, size_t klen, const void *value,
    size_t vlen, const char *prefix, struct store_event *ev);

/* Returns the LMDB environment flags of ST (an LMDB store), or -EINVAL
 * if ST is another backend. Tests use it to prove commits stay durable (no
 * MDB_NOSYNC, MDB_NOMETASYNC, MDB_MAPASYNC, MDB_WRITEMAP). */
long store_lmdb_env_flags(struct store *st);

#endif
