/* Bounded reads and durable writes of whole files. */
#ifndef BW_FILEIO_H
#define BW_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Reads all of FD, at most MAX bytes, into a NUL-terminated buffer
 * *ret_buf (caller frees) of length *ret_len. Returns 0, -EFBIG past
 * MAX, or -errno. */
int read_bounded(int fd, size_t max, char **ret_buf, size_t *ret_len);

/* 0 when FD is a regular file (then made blocking again, if it was
 * opened O_NONBLOCK so that a FIFO could not hold the open), else
 * -BW_E_INVALID or -errno. */
int fd_regular(int fd);

/* Opens PATH (relative to DIRFD, no symlink followed) for reading if
 * it is a regular file, without blocking on a FIFO or a device on the
 * way: returns the descriptor (blocking again, close-on-exec), -errno,
 * or -BW_E_INVALID for anything but a regular file. */
int open_regular_at(int dirfd, const char *path);

/* Reads PATH (relative to DIRFD, no symlink followed) like
 * read_bounded(). */
int read_file_at(int dirfd, const char *path, size_t max, char **ret_buf,
    size_t *ret_len);

/* read_regular_at() FLAGS: the file must be owned by root and not be
 * writable by group or others (else -EPERM), for a file whose content
 * is taken as the appliance's configuration. */
#define FILEIO_ROOT_OWNED	0x1

/* read_file_at(), and a file larger than MAX is -EFBIG before it is
 * read. FLAGS: FILEIO_ROOT_OWNED or 0. */
int read_regular_at(int dirfd, const char *path, size_t max, unsigned flags,
    char **ret_buf, size_t *ret_len);

/* Writes LEN bytes of BUF to PATH under DIRFD durably: a temporary file
 * is written, fsynced, renamed over PATH and the directory fsynced.
 * MODE applies to the new file. Returns 0 or -errno. */
/* True when NAME is a temporary file write_file_atomic_at() makes
 * (NAME.tmp. and 16 hex digits): one a crash left behind. */
bool fileio_is_atomic_temp(const char *name);

int write_file_atomic_at(int dirfd, const char *path, const void *buf,
    size_t len, mode_t mode);

/* Writes all LEN bytes, retrying short writes and EINTR. */
int write_all(int fd, const void *buf, size_t len);

/* Positional twins: all LEN bytes at offset OFF, retrying short
 * transfers and EINTR. pread_all returns -BW_E_CORRUPT if the file ends
 * first; pwrite_all -EIO if a write makes no progress; else -errno. */
int pread_all(int fd, void *buf, size_t len, off_t off);
int pwrite_all(int fd, const void *buf, size_t len, off_t off);

/* Creates DIR and its parents with MODE; existing ones are kept. */
int mkdir_p(const char *dir, mode_t mode);

#endif
