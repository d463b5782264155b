/* Segment files: naming, the header line that links a segment to the
 * one before it, and listing a trail directory in chain order. */
#ifndef BW_AUDIT_SEGMENT_H
#define BW_AUDIT_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "audit/record.h"

#define AUDIT_SEG_NAME_LEN	28	/* "seg-" + 20 digits + ".log" */
#define AUDIT_KEY_FILE		"checkpoint-key.pem"
#define AUDIT_LOCK_FILE		".lock"
/* The verifier and the reader refuse segments larger than this; the
 * writer rotates long before. */
#define AUDIT_SEGMENT_READ_MAX	((size_t)1 << 30)

/* Writes the file name of the segment whose first record is FIRST_SEQ
 * ("seg-" + 20-digit zero-padded decimal + ".log") into BUF. */
void audit_segment_name(uint64_t first_seq, char buf[AUDIT_SEG_NAME_LEN + 1]);

/* Returns 0 and the first seq when NAME is a segment file name, else
 * -BW_E_INVALID. */
int audit_segment_name_parse(const char *name, uint64_t *ret_first_seq);

/* Appends the header line "bulwark-audit-segment v=1 first_seq=N
 * prev=HEX\n" to B. */
int audit_segment_header_format(struct bw_buf *b, uint64_t first_seq,
    const char *prev_hex);

/* Parses the header at the start of BUF (LEN bytes). On success sets
 * the first seq, prev hash and the header length including '\n'.
 * Returns 0, or -BW_E_INVALID (also when the header is incomplete). */
int audit_segment_header_parse(const char *buf, size_t len,
    uint64_t *ret_first_seq, char ret_prev[AUDIT_HASH_HEX + 1],
    size_t *ret_len);

/* The live segment of a trail with preallocation may end in NUL padding
 * (docs/audit-format.md, section 2). Sets *RET_END to the size of the
 * file FD (SIZE bytes) without it: just past its last byte that is not
 * NUL. Reads backwards from the end, so the cost is the padding's
 * length, not the segment's. Returns 0 or -errno. */
int audit_segment_data_end(int fd, uint64_t size, uint64_t *ret_end);

/* Lists the segment files under DIRFD in chain order (caller frees with
 * audit_segment_list_free()). Returns 0 or -errno. */
int audit_segment_list(int dirfd, char ***ret_names, size_t *ret_n);
void audit_segment_list_free(char **names, size_t n);

#endif
