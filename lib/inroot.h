/* Opening a file inside a directory tree taken as its root. */
#ifndef BW_INROOT_H
#define BW_INROOT_H

#include <stdbool.h>

/* Opens PATH below ROOTFD for reading (leading '/' ignored; "" or "/"
 * is the root itself) with FLAGS: O_RDONLY or O_PATH, with O_DIRECTORY,
 * O_NOFOLLOW, O_NONBLOCK at most (anything else, a write or create
 * flag, is -EINVAL; a PATH of PATH_MAX or more -ENAMETOOLONG),
 * O_CLOEXEC added (and O_NOCTTY unless O_PATH), as
 * if ROOTFD were "/": symbolic links are followed but stay inside (an
 * absolute target starts again at the root, ".." at the root stays
 * there), O_NOFOLLOW applies to the last component, and more than 40
 * links is -ELOOP. Resolves with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS); where that answers ENOSYS (systemd's
 * RestrictSUIDSGID= does, as it cannot filter its flags; kept for the
 * process once the root itself gets it too; an EAGAIN, a rename racing
 * "..", is tried again, then walked) the same resolution is walked
 * component by component, links followed as text, so a /proc magic
 * link cannot jump out either (it is followed inside the root, where
 * openat2 refuses it). Returns an fd or -errno. */
int inroot_open(int rootfd, const char *path, int flags);

/* For tests: always walk by hand, as where openat2() answers ENOSYS. */
extern bool inroot_force_walk;

#endif
