/* sandbox_enter() in forked children: what /proc says of a confined
 * process, that a call outside the allow-list kills it with SIGSYS, that
 * Landlock keeps it to its paths, and that a bad profile is refused. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/capability.h>

#include "hardening/sandbox.h"
#include "lib/err.h"

/* What the children below call once confined: raw I/O and exit, what
 * freeing libseccomp's filter context may use, and what the sanitizer
 * runtime calls on _exit (sigaltstack) in the ASan build. */
static const char *const child_calls[] = {
	"read", "write", "openat", "close", "exit_group", "exit", "brk",
	"mmap", "munmap", "madvise", "rt_sigreturn", "newfstatat", "fstat",
	"lseek", "sigaltstack", "getpid", "gettid", "rt_sigprocmask", NULL,
};

static const struct sandbox_path proc_only[] = {
	{ "/proc", SANDBOX_READ },
	{ NULL, 0 },
};

/* Runs FN in a child; its output (at most LEN - 1 bytes) lands in BUF.
 * Returns the child's wait status. */
static int
in_child(void (*fn)(int fd, void *arg), void *arg, char *buf, size_t len)
{
	int	p[2], status = 0;
	size_t	got = 0;
	ssize_t	n;
	pid_t	pid;

	assert_int_equal(pipe(p), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		close(p[0]);
		fn(p[1], arg);
		_exit(0);
	}
	close(p[1]);
	while (got + 1 < len && (n = read(p[0], buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void
say(int fd, const char *s)
{
	(void)!write(fd, s, strlen(s));
}

static void
enter_or_say(int fd, const struct sandbox_profile *p)
{
	char *err = NULL;

	if (sandbox_enter(p, NULL, &err) < 0) {
		say(fd, "ERR ");
		say(fd, err ? err : "?");
		_exit(3);
	}
}

static void
child_status(int fd, void *arg)
{
	const struct sandbox_profile	*p = arg;
	char				 buf[4096];
	ssize_t				 n;
	int				 s;

	enter_or_say(fd, p);
	if ((s = open("/proc/self/status", O_RDONLY)) < 0)
		_exit(4);
	n = read(s, buf, sizeof(buf) - 1);
	if (n <= 0)
		_exit(5);
	(void)!write(fd, buf, (size_t)n);
}

static const char *
nobody_or_null(uid_t *uid)
{
	struct passwd *pw;

	if (geteuid() != 0 || !(pw = getpwnam("nobody")))
		return NULL;
	*uid = pw->pw_uid;
	return "nobody";
}

static void
test_confined_status(void **state)
{
	uid_t			uid = 0;
	struct sandbox_profile	p = { .name = "test", .syscalls = child_calls,
	    .paths = proc_only };
	char			out[4096], want[64];
	int			status;

	(void)state;
	p.user = nobody_or_null(&uid);
	status = in_child(child_status, &p, out, sizeof(out));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(out, "CapEff:\t0000000000000000\n"));
	assert_non_null(strstr(out, "CapPrm:\t0000000000000000\n"));
	assert_non_null(strstr(out, "Seccomp:\t2\n"));
	assert_non_null(strstr(out, "NoNewPrivs:\t1\n"));
	if (p.user) {
		snprintf(want, sizeof(want), "Uid:\t%u\t%u\t%u\t%u\n",
		    (unsigned)uid, (unsigned)uid, (unsigned)uid, (unsigned)uid);
		assert_non_null(strstr(out, want));
		assert_non_null(strstr(out, "CapBnd:\t0000000000000000\n"));
	}
}

static void
child_forbidden(int fd, void *arg)
{
	enter_or_say(fd, arg);
	say(fd, "confined\n");
	/* Not in the allow-list: the kernel ends the process here. */
	(void)socket(AF_INET, SOCK_STREAM, 0);
	say(fd, "still alive\n");
}

static void
test_violation_kills(void **state)
{
	struct sandbox_profile	p = { .name = "test", .syscalls = child_calls,
	    .paths = proc_only };
	char			out[256], why[128];
	int			status;

	(void)state;
	status = in_child(child_forbidden, &p, out, sizeof(out));
	assert_string_equal(out, "confined\n");
	assert_true(sandbox_status_is_violation(status));
	assert_non_null(strstr(sandbox_status_describe(status, why,
	    sizeof(why)), "SIGSYS"));
	/* An ordinary exit is not a violation. */
	assert_false(sandbox_status_is_violation(3 << 8));
	assert_string_equal(sandbox_status_describe(3 << 8, why, sizeof(why)),
	    "exited with status 3");
}

/* A profile like the spawner's: it keeps CAP_SETUID and CAP_SETGID and
 * may change its user toward CHILD_ID only. */
#define CHILD_ID	61234

static void
child_setid(int fd, void *arg)
{
	uid_t	to = *(const uid_t *)arg;
	struct sandbox_profile	p = { .name = "test", .syscalls = child_calls,
	    .paths = proc_only, .keep_caps = 1ULL << CAP_SETUID | 1ULL << CAP_SETGID,
	    .child_uid = CHILD_ID, .child_gid = CHILD_ID };

	enter_or_say(fd, &p);
	say(fd, "confined\n");
	/* The kernel ends the process here unless TO is the child's id. */
	if (setgroups(0, NULL) < 0 || setresgid(to, to, to) < 0 ||
	    setresuid(to, to, to) < 0)
		_exit(6);
	say(fd, "changed\n");
}

static void
test_setid_child_only(void **state)
{
	uid_t	to = 0;
	char	out[256];
	int	status;

	(void)state;
	/* Root (or a mixed id, or any other user) is refused: SIGSYS. */
	status = in_child(child_setid, &to, out, sizeof(out));
	assert_string_equal(out, "confined\n");
	assert_true(sandbox_status_is_violation(status));
	to = 12345;
	status = in_child(child_setid, &to, out, sizeof(out));
	assert_true(sandbox_status_is_violation(status));
	/* The child's own ids pass the filter (the change itself needs
	 * the capabilities: root only). */
	if (geteuid() != 0)
		return;
	to = CHILD_ID;
	status = in_child(child_setid, &to, out, sizeof(out));
	assert_string_equal(out, "confined\nchanged\n");
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
child_paths(int fd, void *arg)
{
	const char	*dir = arg;
	char		 file[256];
	struct sandbox_path paths[] = { { dir, SANDBOX_READ }, { NULL, 0 } };
	struct sandbox_profile p = { .name = "test", .syscalls = child_calls,
	    .paths = paths, .landlock_required = true };
	int		 f;

	enter_or_say(fd, &p);
	snprintf(file, sizeof(file), "%s/inside", dir);
	say(fd, (f = open(file, O_RDONLY)) >= 0 ? "inside:ok " : "inside:no ");
	say(fd, open(file, O_WRONLY) >= 0 ? "write:ok " :
	    errno == EACCES ? "write:EACCES " : "write:other ");
	say(fd, open("/etc/passwd", O_RDONLY) >= 0 ? "outside:ok\n" :
	    errno == EACCES ? "outside:EACCES\n" : "outside:other\n");
}

static void
test_landlock_paths(void **state)
{
	char	dir[] = "/tmp/bw-sandbox-XXXXXX", file[64], out[256];
	int	fd, status;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/inside", dir);
	assert_true((fd = open(file, O_WRONLY | O_CREAT, 0644)) >= 0);
	close(fd);
	status = in_child(child_paths, dir, out, sizeof(out));
	if (sandbox_landlock_abi() < 6) {
		/* Required but not available: refused, with the reason. */
		assert_int_equal(WEXITSTATUS(status), 3);
		assert_non_null(strstr(out, "landlock"));
	} else {
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_string_equal(out, "inside:ok write:EACCES outside:EACCES\n");
	}
	unlink(file);
	rmdir(dir);
}

static void
child_bad_profile(int fd, void *arg)
{
	static const char *const calls[] = { "read", "no_such_call", NULL };
	struct sandbox_profile p = { .name = "bad", .syscalls = calls };

	enter_or_say(fd, &p);
}

static void
test_unknown_syscall_refused(void **state)
{
	char	out[256];
	int	status;

	(void)state;
	status = in_child(child_bad_profile, NULL, out, sizeof(out));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	assert_non_null(strstr(out, "unknown system call no_such_call"));
}

/* What each Landlock ABI can enforce, and that a profile requiring
 * Landlock is refused, naming the missing layers, where it cannot. */
static void
test_landlock_plan(void **state)
{
	struct sandbox_state	st;
	char			*err = NULL;

	(void)state;
	assert_int_equal(sandbox_landlock_plan(0, false, &st, &err), 0);
	assert_false(st.fs_restricted || st.tcp_denied || st.ipc_scoped);
	assert_int_equal(sandbox_landlock_plan(2, false, &st, &err), 0);
	assert_false(st.fs_restricted);
	assert_int_equal(sandbox_landlock_plan(3, false, &st, &err), 0);
	assert_true(st.fs_restricted && !st.tcp_denied && !st.ipc_scoped);
	assert_int_equal(sandbox_landlock_plan(5, false, &st, &err), 0);
	assert_true(st.fs_restricted && st.tcp_denied && !st.ipc_scoped);
	assert_null(err);
	for (int abi = 6; abi <= 9; abi++) {
		assert_int_equal(sandbox_landlock_plan(abi, true, &st, &err), 0);
		assert_true(st.fs_restricted && st.tcp_denied && st.ipc_scoped);
		assert_int_equal(st.landlock_abi, abi);
	}
	assert_int_equal(sandbox_landlock_plan(4, true, &st, &err),
	    -BW_E_UNAVAILABLE);
	assert_non_null(strstr(err, "ABI 4 cannot enforce the signal"));
	free(err);
	err = NULL;
	assert_int_equal(sandbox_landlock_plan(2, true, &st, &err),
	    -BW_E_UNAVAILABLE);
	assert_non_null(strstr(err, "the file system rules, the TCP rules, the signal"));
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_confined_status),
		cmocka_unit_test(test_violation_kills),
		cmocka_unit_test(test_setid_child_only),
		cmocka_unit_test(test_landlock_paths),
		cmocka_unit_test(test_unknown_syscall_refused),
		cmocka_unit_test(test_landlock_plan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
