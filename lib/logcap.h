/* Capture of an instance's output into a capped, rotated log.
 *
 * Two processes that the runtime's shim starts (logcap_start()) stand
 * between an instance and the disk: a pump reads the instance's stdout
 * and stderr (one pipe) and passes whole lines in records of at most
 * PIPE_BUF bytes to a store process over a second pipe that the pump
 * writes without blocking. When the store falls behind (a slow disk)
 * records are dropped and counted instead of stopping the instance.
 * The store appends to PATH and, before PATH would pass half the cap,
 * renames it to PATH.1 (replacing the older half), so PATH and PATH.1
 * together never hold more than the cap. Records are written whole, so
 * lines never interleave partially.
 *
 * Beside the log the store keeps PATH.base ("OFFSET INODE": the
 * logical offset of PATH's first byte, counted over the life of the
 * log, and PATH's inode) and PATH.dropped (lines dropped so far).
 * logcap_read() and logcap_tail() read the pair as one stream of
 * logical offsets. Async-signal-safe where the shim needs it: the
 * capture processes allocate nothing. */
#ifndef BW_LOGCAP_H
#define BW_LOGCAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LOGCAP_DEFAULT		(10ULL * 1024 * 1024)
#define LOGCAP_MIN		(64ULL * 1024)
#define LOGCAP_MAX		(1ULL << 30)
/* A line that fits no record (over PIPE_BUF - 5 bytes) is cut into
 * lines of this length. */
#define LOGCAP_LINE_MAX		4000
/* The pump's output pipe: what the store may fall behind by. */
#define LOGCAP_PIPE_SIZE	(1024 * 1024)
/* A partial line is written out after this long without more output. */
#define LOGCAP_FLUSH_MS		100

/* Copies IN (the instance's output) to OUT (a pipe the store reads) in
 * records of whole lines until IN ends. OUT is made non-blocking: a
 * record that does not fit is dropped and counted, and the count is
 * sent when room is back. Keeps reading IN when OUT fails, so the
 * instance never blocks or sees a broken pipe. Returns 0 or -errno
 * (IN failed); *RET_DROPPED (may be NULL) receives the lines dropped. */
int logcap_pump(int in_fd, int out_fd, uint64_t *ret_dropped);

/* Appends the records read from IN to the log PATH (LOG_FD: PATH open
 * for appending) until IN ends, rotating at CAP / 2. Returns 0 or
 * -errno. */
int logcap_store(int in_fd, int log_fd, const char *path, uint64_t cap);

/* Forks the pump and the store for the log PATH (LOG_FD open for
 * appending; the store keeps it) capped at CAP. *RET_FD is the pipe the
 * instance writes to (the caller closes it once the instance has it);
 * RET_PIDS the two children, which end when every copy of *RET_FD is
 * closed. Returns 0 or -errno. Async-signal-safe. */
int logcap_start(int log_fd, const char *path, uint64_t cap, int *ret_fd,
    pid_t ret_pids[2]);

/* What a read saw: the logical offsets of the oldest and the next byte
 * kept, of the first byte returned, and the lines dropped. */
struct logcap_info {
	uint64_t	start, end;
	uint64_t	from;
	uint64_t	dropped;
};

/* Reads the log PATH from logical offset FROM (the oldest kept when
 * FROM is older), at most MAX bytes, into *RET_BUF (caller frees,
 * NUL-terminated) of length *RET_LEN. The read ends at a line's end
 * when it was cut short. A log that was never capped (no PATH.base)
 * reads as PATH alone from offset 0. Returns 0, -ENOENT without a log,
 * or -errno. */
int logcap_read(const char *path, uint64_t from, size_t max, char **ret_buf,
    size_t *ret_len, struct logcap_info *ret_info);

/* Reads the last LINES lines of the log PATH (0: all kept), at most MAX
 * bytes (then fewer lines), like logcap_read(). */
int logcap_tail(const char *path, unsigned lines, size_t max, char **ret_buf,
    size_t *ret_len, struct logcap_info *ret_info);

#endif
