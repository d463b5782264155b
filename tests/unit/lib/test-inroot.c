#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/inroot.h"
#include "lib/macro.h"

/* A root and a directory beside it that a walk must never reach. */
struct tree {
	char	root[64], outside[64];
	int	rootfd;
};

/* -Wl,--wrap: readlinkat() runs RENAME_FROM to RENAME_TO once, after
 * reading a link, to move a directory out of the root while the walk
 * is inside it; syscall() answers openat2 ENOSYS when FAKE_ENOSYS and
 * counts how often openat2 was asked. */
ssize_t __real_readlinkat(int, const char *, char *, size_t);
ssize_t __wrap_readlinkat(int, const char *, char *, size_t);
long __real_syscall(long, ...);
long __wrap_syscall(long, ...);

static char	 rename_from[PATH_MAX], rename_to[PATH_MAX];
static bool	 fake_enosys;
static int	 openat2_calls;

ssize_t
__wrap_readlinkat(int fd, const char *path, char *buf, size_t size)
{
	ssize_t n = __real_readlinkat(fd, path, buf, size);

	if (rename_from[0]) {
		assert_int_equal(rename(rename_from, rename_to), 0);
		rename_from[0] = '\0';
	}
	return n;
}

long
__wrap_syscall(long nr, ...)
{
	long	a[4];
	va_list	ap;

	va_start(ap, nr);
	for (size_t i = 0; i < ELEMENTSOF(a); i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_openat2) {
		openat2_calls++;
		if (fake_enosys) {
			errno = ENOSYS;
			return -1;
		}
	}
	return __real_syscall(nr, a[0], a[1], a[2], a[3]);
}

static void
at(const char *dir, const char *rel, char *buf, size_t size)
{
	assert_true((size_t)snprintf(buf, size, "%s/%s", dir, rel) < size);
}

static void
put(const char *dir, const char *rel, const char *text)
{
	char	 p[PATH_MAX];
	FILE	*f;

	at(dir, rel, p, sizeof(p));
	assert_non_null(f = fopen(p, "w"));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void
mkdir_in(const char *dir, const char *rel)
{
	char p[PATH_MAX];

	at(dir, rel, p, sizeof(p));
	assert_int_equal(mkdir(p, 0755), 0);
}

static void
link_in(const char *dir, const char *rel, const char *target)
{
	char p[PATH_MAX];

	at(dir, rel, p, sizeof(p));
	assert_int_equal(symlink(target, p), 0);
}

/* Root: f ("inside"), d/e/; beside it: f ("outside"), one/. */
static int
tree_setup(void **state)
{
	struct tree *t;

	assert_non_null(t = calloc(1, sizeof(*t)));
	strcpy(t->root, "/tmp/bw-inroot-XXXXXX");
	strcpy(t->outside, "/tmp/bw-inroot-out-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	assert_non_null(mkdtemp(t->outside));
	put(t->root, "f", "inside");
	mkdir_in(t->root, "d");
	mkdir_in(t->root, "d/e");
	put(t->outside, "f", "outside");
	mkdir_in(t->outside, "one");
	assert_true((t->rootfd = open(t->root, O_PATH | O_DIRECTORY |
	    O_CLOEXEC)) >= 0);
	*state = t;
	return 0;
}

static int
tree_teardown(void **state)
{
	struct tree	*t = *state;
	char		 cmd[160];

	inroot_force_walk = false;
	close(t->rootfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", t->root, t->outside);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

/* What PATH opens to under T's root: its text, or "" with *RET_ERR
 * the -errno. */
static const char *
read_in(struct tree *t, const char *path, int *ret_err)
{
	static char	buf[64];
	ssize_t		n;
	int		fd;

	buf[0] = '\0';
	*ret_err = 0;
	if ((fd = inroot_open(t->rootfd, path, O_RDONLY)) < 0) {
		*ret_err = fd;
		return buf;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

/* Each case holds with openat2() and walked by hand. */
static void
both_ways(struct tree *t, void (*check)(struct tree *))
{
	inroot_force_walk = false;
	check(t);
	inroot_force_walk = true;
	check(t);
	inroot_force_walk = false;
}

static void
check_dotdot_at_root(struct tree *t)
{
	int e;

	assert_string_equal(read_in(t, "../../../f", &e), "inside");
	assert_string_equal(read_in(t, "/d/../../d/e/../../../f", &e), "inside");
	assert_string_equal(read_in(t, "d/up", &e), "inside");
}

/* ".." at the root stays there, in a path and in a link's target. */
static void
test_dotdot_at_root(void **state)
{
	struct tree *t = *state;

	link_in(t->root, "d/up", "../../../../../f");
	both_ways(t, check_dotdot_at_root);
}

static void
check_absolute_link(struct tree *t)
{
	char	p[PATH_MAX];
	int	e;

	assert_string_equal(read_in(t, "d/abs", &e), "inside");
	assert_string_equal(read_in(t, "d/e/abs-dir/e/../../f", &e), "inside");
	/* the outside tree's own path, taken inside the root: absent */
	at(t->outside, "f", p, sizeof(p));
	assert_string_equal(read_in(t, p, &e), "");
	assert_int_equal(e, -ENOENT);
	assert_string_equal(read_in(t, "d/out", &e), "");
	assert_int_equal(e, -ENOENT);
}

/* An absolute target starts again at the root, not at "/". */
static void
test_absolute_link(void **state)
{
	struct tree	*t = *state;
	char		 p[PATH_MAX];

	link_in(t->root, "d/abs", "/f");
	link_in(t->root, "d/e/abs-dir", "/d");
	at(t->outside, "f", p, sizeof(p));
	link_in(t->root, "d/out", p);
	both_ways(t, check_absolute_link);
}

static void
check_link_limit(struct tree *t)
{
	int e;

	assert_string_equal(read_in(t, "c40-0", &e), "inside");
	assert_string_equal(read_in(t, "c41-0", &e), "");
	assert_int_equal(e, -ELOOP);
	assert_string_equal(read_in(t, "loop", &e), "");
	assert_int_equal(e, -ELOOP);
}

/* A chain of N links "cN-0" -> "cN-1" ... -> "f". */
static void
chain(struct tree *t, int n)
{
	char name[32], target[32];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "c%d-%d", n, i);
		if (i == n - 1)
			snprintf(target, sizeof(target), "f");
		else
			snprintf(target, sizeof(target), "/c%d-%d", n, i + 1);
		link_in(t->root, name, target);
	}
}

/* 40 links are followed, as the kernel does; the 41st is ELOOP. */
static void
test_link_limit(void **state)
{
	struct tree *t = *state;

	chain(t, 40);
	chain(t, 41);
	link_in(t->root, "loop", "loop");
	both_ways(t, check_link_limit);
}

/* A directory renamed out of the root while the walk is inside it: the
 * walk's ".." goes back the way it came. The link d/e/l is read inside
 * d/e; the read moves d/e beside the root (outside/one/e), where the
 * kernel's ".." twice would reach outside/f. */
static void
test_rename_out_while_inside(void **state)
{
	struct tree	*t = *state;
	int		 e;

	link_in(t->root, "d/e/l", "../../f");
	at(t->root, "d/e", rename_from, sizeof(rename_from));
	at(t->outside, "one/e", rename_to, sizeof(rename_to));
	inroot_force_walk = true;
	assert_string_equal(read_in(t, "d/e/l", &e), "inside");
	inroot_force_walk = false;
	assert_int_equal(rename_from[0], '\0');
	/* it moved indeed: only the outside tree has it now */
	assert_string_equal(read_in(t, "d/e/l", &e), "");
	assert_int_equal(e, -ENOENT);
}

/* Where openat2() answers ENOSYS, the walk resolves as it would, and
 * openat2() is asked only once in the process. Last in the group: the
 * answer is kept for the rest of the process. */
static void
test_enosys_asked_once(void **state)
{
	struct tree	*t = *state;
	int		 e;

	link_in(t->root, "d/abs", "/f");
	openat2_calls = 0;
	assert_string_equal(read_in(t, "d/abs", &e), "inside");
	assert_int_equal(openat2_calls, 1);
	fake_enosys = true;
	assert_string_equal(read_in(t, "d/abs", &e), "inside");
	assert_string_equal(read_in(t, "../d/abs", &e), "inside");
	assert_string_equal(read_in(t, "d/abs", &e), "inside");
	/* the failed open and one probe of the root itself, then none */
	assert_int_equal(openat2_calls, 3);
	fake_enosys = false;
	assert_string_equal(read_in(t, "d/abs", &e), "inside");
	assert_int_equal(openat2_calls, 3);
}

/* Reading only: write and create flags are refused before any lookup
 * (a create would follow a last-component link, and O_CREAT without a
 * mode aborts under _FORTIFY_SOURCE); so is a path past PATH_MAX. */
static void
test_read_only(void **state)
{
	struct tree	*t = *state;
	char		*longp;

	assert_int_equal(inroot_open(t->rootfd, "f", O_WRONLY), -EINVAL);
	assert_int_equal(inroot_open(t->rootfd, "f", O_RDWR), -EINVAL);
	assert_int_equal(inroot_open(t->rootfd, "new", O_RDONLY | O_CREAT),
	    -EINVAL);
	assert_int_equal(inroot_open(t->rootfd, "f", O_RDONLY | O_TRUNC),
	    -EINVAL);
	assert_int_equal(inroot_open(t->rootfd, "d", O_RDONLY | O_TMPFILE),
	    -EINVAL);
	assert_non_null(longp = malloc(PATH_MAX + 2));
	memset(longp, 'a', PATH_MAX + 1);
	longp[PATH_MAX + 1] = '\0';
	assert_int_equal(inroot_open(t->rootfd, longp, O_RDONLY),
	    -ENAMETOOLONG);
	free(longp);
	assert_int_equal(faccessat(t->rootfd, "new", F_OK, 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dotdot_at_root,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_absolute_link,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_link_limit,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_rename_out_while_inside,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_enosys_asked_once,
		    tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_read_only,
		    tree_setup, tree_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
