#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/inroot.h"
#include "lib/macro.h"

bool inroot_force_walk;

/* Set once openat2() answered ENOSYS: a seccomp filter does not change
 * its mind, so later opens walk without asking again. */
static atomic_bool inroot_no_openat2;

/* The kernel's limit on links followed in one resolution. */
#define INROOT_MAX_LINKS	40
/* Directories held open by one walk (each a component of the path
 * resolved so far); deeper is -ENAMETOOLONG. */
#define INROOT_MAX_DEPTH	256
/* The open flags inroot_open() takes besides O_RDONLY: reading only. */
#define INROOT_FLAGS	(O_PATH | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | \
			 O_NOCTTY | O_CLOEXEC)

/* A walk's position: dirs[0] is the root (the caller's fd), dirs[n - 1]
 * the directory the walk is in, each opened from the one before. ".."
 * goes back to the directory the walk came from rather than asking the
 * kernel for the parent, so a directory renamed out of the root while
 * the walk is inside it cannot lead the walk out. */
struct inroot_walk {
	int		 dirs[INROOT_MAX_DEPTH];
	unsigned	 n;
	char		*rest;	/* the path left to resolve, owned */
};

static void
walk_up(struct inroot_walk *w)
{
	if (w->n > 1)
		close(w->dirs[--w->n]);
}

static void
walk_done(struct inroot_walk *w)
{
	while (w->n > 1)
		walk_up(w);
	free(w->rest);
}

/* Enters the directory FD (taken over). */
static int
walk_down(struct inroot_walk *w, int fd)
{
	if (w->n == INROOT_MAX_DEPTH) {
		close(fd);
		return -ENAMETOOLONG;
	}
	w->dirs[w->n++] = fd;
	return 0;
}

/* Puts the target of the link LINKFD in front of NEXT, the path after
 * the link; an absolute target goes back to the root. */
static int
walk_link(struct inroot_walk *w, int linkfd, const char *next)
{
	char	 target[PATH_MAX], *s;
	ssize_t	 n;

	if ((n = readlinkat(linkfd, "", target, sizeof(target))) < 0)
		return -errno;
	if ((size_t)n >= sizeof(target))
		return -ENAMETOOLONG;
	if (n == 0)	/* as the kernel resolves an empty link */
		return -ENOENT;
	target[n] = '\0';
	if (asprintf(&s, "%s/%s", target, next) < 0)
		return -ENOMEM;
	free(w->rest);
	w->rest = s;
	if (target[0] == '/')
		while (w->n > 1)
			walk_up(w);
	return 0;
}

/* openat2(RESOLVE_IN_ROOT) by hand: each component is opened
 * O_PATH|O_NOFOLLOW in the directory before it, a link's target takes
 * its place in the path, ".." pops a directory (none at the root). */
static int
inroot_walk(int rootfd, const char *path, int flags)
{
	struct inroot_walk	 w = { .dirs = { rootfd }, .n = 1 };
	_cleanup_close_ int	 fd = -1;
	char			 name[NAME_MAX + 1], *comp, *next;
	int			 links = 0, r;
	struct stat		 st;
	size_t			 len;
	bool			 last;

	if (!(w.rest = strdup(path)))
		return -ENOMEM;
	for (comp = w.rest;; comp = next) {
		comp += strspn(comp, "/");
		len = strcspn(comp, "/");
		next = comp + len;
		last = next[strspn(next, "/")] == '\0';
		if (len > NAME_MAX) {
			r = -ENAMETOOLONG;
			goto out;
		}
		memcpy(name, comp, len);
		name[len] = '\0';
		if (strcmp(name, "..") == 0) {
			walk_up(&w);
			name[0] = '\0';
		}
		if (name[0] == '\0' || strcmp(name, ".") == 0) {
			if (!last)
				continue;
			fd = openat(w.dirs[w.n - 1], ".", flags | O_CLOEXEC);
			r = fd < 0 ? -errno : TAKE_FD(fd);
			goto out;
		}
		fd = openat(w.dirs[w.n - 1], name,
		    O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			r = -errno;
			goto out;
		}
		if (S_ISLNK(st.st_mode) && !(last && (flags & O_NOFOLLOW))) {
			if (++links > INROOT_MAX_LINKS) {
				r = -ELOOP;
				goto out;
			}
			if ((r = walk_link(&w, fd, next)) < 0)
				goto out;
			close(TAKE_FD(fd));
			next = w.rest;
			continue;
		}
		if (last) {
			/* A link swapped in since the fstat() fails ELOOP. */
			close(TAKE_FD(fd));
			fd = openat(w.dirs[w.n - 1], name,
			    flags | O_NOFOLLOW | O_CLOEXEC);
			r = fd < 0 ? -errno : TAKE_FD(fd);
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			r = -ENOTDIR;
			goto out;
		}
		if ((r = walk_down(&w, TAKE_FD(fd))) < 0)
			goto out;
	}
out:
	walk_done(&w);
	return r;
}

int
inroot_open(int rootfd, const char *path, int flags)
{
	struct open_how	how = {
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int		fd, tries;

	/* Reading only: a write or create flag would follow a link in the
	 * last component, and O_CREAT without a mode aborts under
	 * _FORTIFY_SOURCE. */
	if ((flags & O_ACCMODE) != O_RDONLY ||
	    (flags & ~(O_ACCMODE | INROOT_FLAGS)))
		return -EINVAL;
	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	while (*path == '/')
		path++;
	if (*path == '\0')
		path = ".";
	/* openat2() refuses O_PATH combined with other open flags. */
	if (!(flags & O_PATH))
		flags |= O_NOCTTY;
	if (inroot_force_walk || atomic_load_explicit(&inroot_no_openat2,
	    memory_order_relaxed))
		return inroot_walk(rootfd, path, flags);
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	/* RESOLVE_IN_ROOT answers EAGAIN when a rename or mount anywhere
	 * raced a lookup through ".."; the walk has no such race. */
	for (tries = 0; tries < 3; tries++) {
		fd = (int)syscall(SYS_openat2, rootfd, path, &how,
		    sizeof(how));
		if (fd >= 0)
			return fd;
		if (errno != EAGAIN)
			break;
	}
	if (errno == EAGAIN)
		return inroot_walk(rootfd, path, flags);
	if (errno != ENOSYS)
		return -errno;
	/* ENOSYS from the file's own open (a device's) is not the filter:
	 * the walk is kept only when the root itself cannot be opened. */
	how.flags = O_PATH | O_CLOEXEC;
	fd = (int)syscall(SYS_openat2, rootfd, ".", &how, sizeof(how));
	if (fd >= 0) {
		close(fd);
		return -ENOSYS;
	}
	if (errno == ENOSYS)
		atomic_store_explicit(&inroot_no_openat2, true,
		    memory_order_relaxed);
	return inroot_walk(rootfd, path, flags);
}
