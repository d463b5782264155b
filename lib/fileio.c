#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "buf.h"
#include "err.h"
#include "macro.h"

/* The buffer is secret: key files (the audit signing key, a bootstrap
 * credential) are read here, and growing must leave no copy behind. */
int
read_bounded(int fd, size_t max, char **ret_buf, size_t *ret_len)
{
	_cleanup_(bw_buf_done) struct bw_buf	 b = { .secret = true };
	char					*p;
	ssize_t					 n;
	long					 room;

	for (;;) {
		if ((room = bw_buf_room(&b, 4096)) < 0)
			return (int)room;
		n = read(fd, b.p + b.len, (size_t)room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		bw_buf_advance(&b, (size_t)n);
		if (b.len > max)
			return -EFBIG;
	}
	if (!(p = bw_buf_take(&b, ret_len)))
		return -ENOMEM;
	*ret_buf = p;
	return 0;
}

int
fd_regular(int fd)
{
	struct stat	st;
	int		fl;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -BW_E_INVALID;
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    ((fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0))
		return -errno;
	return 0;
}

int
open_regular_at(int dirfd, const char *path)
{
	_cleanup_close_ int	fd = -1;
	int			r;

	/* O_NONBLOCK: opening a FIFO nobody writes would wait forever;
	 * O_NOCTTY: a terminal put in the file's place must not become
	 * the process's controlling terminal */
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if ((r = fd_regular(fd)) < 0)
		return r;
	return TAKE_FD(fd);
}

int
read_file_at(int dirfd, const char *path, size_t max, char **ret_buf,
    size_t *ret_len)
{
	_cleanup_close_ int fd = -1;

	/* Not open_regular_at(): some callers read what a FIFO may stand
	 * in for (api-offload.sh holds an audit search on one); the files
	 * whose content is trusted go through read_regular_at(). */
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	return read_bounded(fd, max, ret_buf, ret_len);
}

int
read_regular_at(int dirfd, const char *path, size_t max, unsigned flags,
    char **ret_buf, size_t *ret_len)
{
	_cleanup_close_ int	fd = open_regular_at(dirfd, path);
	struct stat		st;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* Anyone who can write the file decides what it says. */
	if ((flags & FILEIO_ROOT_OWNED) &&
	    (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))))
		return -EPERM;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	return read_bounded(fd, max, ret_buf, ret_len);
}

int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -BW_E_CORRUPT;	/* past the end */
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int
pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

#define ATOMIC_TEMP_SUFFIX	".tmp."
#define ATOMIC_TEMP_HEX		16

bool
fileio_is_atomic_temp(const char *name)
{
	size_t		 n = strlen(name), sl = strlen(ATOMIC_TEMP_SUFFIX);
	const char	*hex;

	if (n <= sl + ATOMIC_TEMP_HEX)
		return false;
	hex = name + n - ATOMIC_TEMP_HEX;
	if (memcmp(hex - sl, ATOMIC_TEMP_SUFFIX, sl) != 0)
		return false;
	for (size_t i = 0; i < ATOMIC_TEMP_HEX; i++)
		if (!strchr("0123456789abcdef", hex[i]) || !hex[i])
			return false;
	return true;
}

/* Creates PATH.tmp.<random> exclusively beside PATH, so two writers of
 * the same file (threads of one process included) never share, truncate
 * or follow each other's temporary file. Its name is left in TMP. */
static int
temp_create_at(int dirfd, const char *path, mode_t mode, char *tmp,
    size_t len)
{
	uint64_t	rnd;
	int		fd;

	for (int tries = 0; tries < 8; tries++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -EIO;
		if ((size_t)snprintf(tmp, len, "%s" ATOMIC_TEMP_SUFFIX "%0*" PRIx64,
		    path, ATOMIC_TEMP_HEX, rnd) >= len)
			return -ENAMETOOLONG;
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, mode);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

int
write_file_atomic_at(int dirfd, const char *path, const void *buf,
    size_t len, mode_t mode)
{
	char			 tmp[PATH_MAX];
	_cleanup_close_ int	 fd = -1, dfd = -1;
	const char		*slash;
	int			 r;

	if ((fd = temp_create_at(dirfd, path, mode, tmp, sizeof(tmp))) < 0)
		return fd;
	if (fchmod(fd, mode) < 0 || (r = write_all(fd, buf, len)) < 0 ||
	    fsync(fd) < 0) {
		r = errno ? -errno : r;
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (renameat(dirfd, tmp, dirfd, path) < 0) {
		r = -errno;
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	/* The rename is durable only once its directory is. */
	slash = strrchr(path, '/');
	if (slash) {
		char dir[PATH_MAX];

		if ((size_t)(slash - path) >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		dfd = openat(dirfd, dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
	} else
		dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		return -errno;
	return 0;
}

int
mkdir_p(const char *dir, mode_t mode)
{
	char	 buf[PATH_MAX];
	char	*p;
	size_t	 len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, dir, len + 1);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}
