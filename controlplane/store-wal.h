/* The store's write-ahead log: one preallocated file whose fdatasync()
 * is the single flush an acknowledged write waits for.
 *
 * The LMDB backend (store-lmdb.c) commits its transactions without
 * syncing and makes them durable in two ways: each transaction's writes
 * are appended here and synced before it commits, and every so often a
 * checkpoint syncs LMDB's files and starts a new generation of this log.
 * The checkpoint header keeps a copy of LMDB's two meta pages as they
 * were at the checkpoint, so recovery can return LMDB to exactly that
 * snapshot before it replays the records (see store-lmdb.c for why that
 * snapshot's pages are intact).
 *
 * File layout (integers little-endian; docs/architecture.md, "Store"):
 *   two header slots, each STORE_WAL_SLOT(psize) bytes, slot gen % 2:
 *     magic "BWSWAL01" | u32 version 1 | u32 page size | u64 generation |
 *     u64 checkpoint transaction id | 32-byte SHA-256 of the preceding
 *     40 bytes and the meta copy | ... zero ... | at offset 4096 the two
 *     meta pages (2 * page size bytes)
 *   records from STORE_WAL_DATA(psize), each 8-byte aligned:
 *     u32 magic "BWRW" | u32 payload length | u64 generation | u64 seq
 *     (1, 2, ... within a generation) | 32-byte SHA-256 of the preceding
 *     24 bytes and the payload | payload | padding to 8 bytes (unread)
 * Replay reads the records of the newest valid header's generation in
 * order and stops at the first that is torn, stale or out of sequence:
 * such a record was never acknowledged. */
#ifndef BW_CONTROLPLANE_STORE_WAL_H
#define BW_CONTROLPLANE_STORE_WAL_H

#include <stddef.h>
#include <stdint.h>

#define STORE_WAL_FILE		"store.wal"
#define STORE_WAL_PSIZE_MAX	65536
#define STORE_WAL_REC_HDR	56
#define STORE_WAL_SLOT(ps)	((size_t)4096 + 2 * (size_t)(ps))
#define STORE_WAL_DATA(ps)	(2 * STORE_WAL_SLOT(ps))

struct store_wal;

/* What the newest valid header says. */
struct store_wal_checkpoint {
	int		 valid;		/* 0: no header yet (a new log) */
	uint64_t	 gen;
	uint64_t	 txnid;
	size_t		 psize;
	const unsigned char *meta;	/* 2 * psize bytes, owned by the log */
};

/* Opens DIR/store.wal through DFD, creating it (mode 0600) when
 * missing, and reads its headers. A file that exists but has no valid
 * header and is not all zeros is refused with -BW_E_CORRUPT. */
int store_wal_open(int dfd, struct store_wal **ret, char **ret_err);

/* The newest valid checkpoint (valid = 0 if none). */
void store_wal_last_checkpoint(const struct store_wal *w,
    struct store_wal_checkpoint *ret);

/* Calls FN for each record of the current generation, in order,
 * stopping at the first invalid one; then positions the log after the
 * last valid record. FN returning < 0 stops the replay with that
 * result. Returns the number of records replayed or a negative error. */
int store_wal_replay(struct store_wal *w,
    int (*fn)(void *arg, const unsigned char *payload, size_t len),
    void *arg, char **ret_err);

/* Appends one record holding PAYLOAD and returns after fdatasync()
 * made it durable. Requires a checkpoint (store_wal_checkpoint) first.
 * On failure the record may be torn; replay ignores it and later
 * appends overwrite it. */
int store_wal_append(struct store_wal *w, const void *payload, size_t len);

/* Starts a new generation: writes the header slot of generation + 1
 * with TXNID and META (2 * PSIZE bytes, LMDB's meta pages after the
 * store's own files were synced), syncs it, and rewinds the log. */
int store_wal_checkpoint(struct store_wal *w, uint64_t txnid,
    const void *meta, size_t psize);

/* Bytes of records since the last checkpoint. */
size_t store_wal_used(const struct store_wal *w);

void store_wal_close(struct store_wal *w);

/* Removes DIR/store.wal (after a store left WAL mode), syncing DFD. */
int store_wal_remove(int dfd);

#endif
