/* The release check of agent/volume.c (volume_released(): loop_bound(),
 * loop_holds(), loop_named_backing(), await_release()) against a fake
 * sysfs tree and fake loop devices: which devices it opens, which it
 * skips, and that what it cannot tell fails closed. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/volume.h"
#include "lib/err.h"
#include "lib/macro.h"

#define UID	"0123abcd-0000-4000-8000-000000000001"

/* -Wl,--wrap: /sys/block/... is looked up under FAKE (a directory the
 * test makes); access() of a loop/ directory fails with ACCESS_ERRNO
 * when set; opening /dev/loopN is counted and fails with
 * DEV_OPEN_ERRNO when set, else opens /dev/null; LOOP_GET_STATUS64
 * fails with IOCTL_ERRNO when set, else reports HELD_DEV and
 * HELD_INO. */
int __real_open(const char *, int, ...);
int __wrap_open(const char *, int, ...);
DIR *__real_opendir(const char *);
DIR *__wrap_opendir(const char *);
int __real_access(const char *, int);
int __wrap_access(const char *, int);
int __real_ioctl(int, unsigned long, ...);
int __wrap_ioctl(int, unsigned long, ...);

static char	 fake[64], state[128];
static int	 access_errno, dev_open_errno, ioctl_errno, dev_opens;
static dev_t	 held_dev;
static ino_t	 held_ino;

static const char *
in_fake(const char *path, char *buf, size_t len)
{
	if (strncmp(path, "/sys/block", 10) != 0)
		return path;
	snprintf(buf, len, "%s%s", fake, path);
	return buf;
}

int
__wrap_open(const char *path, int flags, ...)
{
	char	buf[PATH_MAX];
	mode_t	mode = 0;
	va_list	ap;

	if (strncmp(path, "/dev/loop", 9) == 0) {
		dev_opens++;
		if (dev_open_errno) {
			errno = dev_open_errno;
			return -1;
		}
		return __real_open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	va_start(ap, flags);
	if (flags & (O_CREAT | O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	return __real_open(in_fake(path, buf, sizeof(buf)), flags, mode);
}

DIR *
__wrap_opendir(const char *path)
{
	char buf[PATH_MAX];

	return __real_opendir(in_fake(path, buf, sizeof(buf)));
}

int
__wrap_access(const char *path, int mode)
{
	char buf[PATH_MAX];

	if (access_errno && strncmp(path, "/sys/block", 10) == 0) {
		errno = access_errno;
		return -1;
	}
	return __real_access(in_fake(path, buf, sizeof(buf)), mode);
}

int
__wrap_ioctl(int fd, unsigned long req, ...)
{
	struct loop_info64	*info;
	va_list			 ap;

	va_start(ap, req);
	info = va_arg(ap, struct loop_info64 *);
	va_end(ap);
	if (req != LOOP_GET_STATUS64)
		return __real_ioctl(fd, req, info);
	if (ioctl_errno) {
		errno = ioctl_errno;
		return -1;
	}
	info->lo_device = held_dev;
	info->lo_inode = held_ino;
	return 0;
}

static void
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* loop0 bound (BACKING its loop/backing_file, NULL: none) holding the
 * volume's backing file when HOLDS. */
static void
fake_loop0(const char *backing, bool holds)
{
	char		p[PATH_MAX];
	struct stat	st;

	snprintf(p, sizeof(p), "%s/sys/block/loop0/loop", fake);
	assert_int_equal(mkdir(p, 0755), 0);
	if (backing) {
		snprintf(p, sizeof(p), "%s/sys/block/loop0/loop/backing_file",
		    fake);
		put(p, backing);
	}
	snprintf(p, sizeof(p), "%s/volumes/%s/backing.img", state, UID);
	assert_int_equal(stat(p, &st), 0);
	held_dev = st.st_dev;
	held_ino = holds ? st.st_ino : st.st_ino + 1;
}

static int
setup(void **unused)
{
	char p[PATH_MAX + 64];

	(void)unused;
	snprintf(fake, sizeof(fake), "/tmp/bw-volrel-XXXXXX");
	assert_non_null(mkdtemp(fake));
	snprintf(state, sizeof(state), "%s/state", fake);
	snprintf(p, sizeof(p), "%s/sys", fake);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/sys/block", fake);
	assert_int_equal(mkdir(p, 0755), 0);
	/* another kind of block device beside the loop devices */
	snprintf(p, sizeof(p), "%s/sys/block/sda", fake);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/sys/block/loop0", fake);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(mkdir(state, 0700), 0);
	snprintf(p, sizeof(p), "%s/volumes", state);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/volumes/%s", state, UID);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/volumes/%s/backing.img", state, UID);
	put(p, "");
	access_errno = dev_open_errno = ioctl_errno = dev_opens = 0;
	return 0;
}

static int
teardown(void **unused)
{
	char cmd[PATH_MAX];

	(void)unused;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fake);
	return system(cmd) == 0 ? 0 : -1;
}

static int
released(char **err)
{
	free(*err);
	*err = NULL;
	return volume_released(state, UID, err);
}

/* An unbound device (no loop/) is never opened. */
static void
test_unbound(void **unused)
{
	_cleanup_free_ char *err = NULL;

	(void)unused;
	assert_int_equal(released(&err), 0);
	assert_int_equal(dev_opens, 0);
}

/* Bound to the backing file: held, named in the error. */
static void
test_held(void **unused)
{
	_cleanup_free_ char *err = NULL;

	(void)unused;
	fake_loop0("/var/lib/bulwark/volumes/" UID "/backing.img\n", true);
	assert_int_equal(released(&err), -EBUSY);
	assert_non_null(strstr(err, "still alive on /dev/loop0"));
	assert_int_equal(dev_opens, 1);
}

/* Named backing.img but another file (another volume's): released. */
static void
test_other_volume(void **unused)
{
	_cleanup_free_ char *err = NULL;

	(void)unused;
	fake_loop0("/elsewhere/backing.img\n", false);
	assert_int_equal(released(&err), 0);
	assert_int_equal(dev_opens, 1);
}

/* Another tool's device is never opened, even one that would fail. */
static void
test_other_name(void **unused)
{
	_cleanup_free_ char *err = NULL;

	(void)unused;
	fake_loop0("/srv/disk.iso\n", true);
	dev_open_errno = EACCES;
	assert_int_equal(released(&err), 0);
	assert_int_equal(dev_opens, 0);
}

/* An empty loop/backing_file (a device being torn down, its file let
 * go already) holds no file: not opened. */
static void
test_empty_backing(void **unused)
{
	_cleanup_free_ char *err = NULL;

	(void)unused;
	fake_loop0("", true);
	dev_open_errno = ENXIO;
	assert_int_equal(released(&err), 0);
	assert_int_equal(dev_opens, 0);
}

/* A loop/backing_file that cannot be read: asked all the same. */
static void
test_unreadable_name(void **unused)
{
	_cleanup_free_ char *err = NULL;
	char		     p[PATH_MAX];

	(void)unused;
	fake_loop0(NULL, true);
	/* opens, but read() fails (EISDIR) */
	snprintf(p, sizeof(p), "%s/sys/block/loop0/loop/backing_file", fake);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(released(&err), -EBUSY);
	assert_int_equal(dev_opens, 1);
}

/* What cannot be asked fails closed: the device's node (while still
 * bound), its status, whether it is bound at all. */
static void
test_fail_closed(void **unused)
{
	_cleanup_free_ char *err = NULL;

	(void)unused;
	fake_loop0("/v/backing.img\n", false);
	dev_open_errno = EACCES;
	assert_int_equal(released(&err), -EACCES);
	assert_non_null(strstr(err, "cannot ask the loop devices"));
	/* ENXIO while loop/ is still there: being torn down, not yet gone */
	dev_open_errno = ENXIO;
	assert_int_equal(released(&err), -ENXIO);
	dev_open_errno = 0;
	ioctl_errno = EIO;
	assert_int_equal(released(&err), -EIO);
	ioctl_errno = 0;
	access_errno = EACCES;
	assert_int_equal(released(&err), -EACCES);
	access_errno = 0;
	assert_int_equal(released(&err), 0);
}

/* LOOP_GET_STATUS64 ENXIO: unbound since the look at sysfs. */
static void
test_unbound_meanwhile(void **unused)
{
	_cleanup_free_ char *err = NULL;

	(void)unused;
	fake_loop0("/v/backing.img\n", true);
	ioctl_errno = ENXIO;
	assert_int_equal(released(&err), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unbound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_volume, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_other_name, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_empty_backing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_name, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fail_closed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unbound_meanwhile, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
