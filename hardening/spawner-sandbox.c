#include "config.h"

#include <linux/capability.h>
#include <stddef.h>

#include "hardening/spawner-sandbox.h"
#include "hardening/worker-sandbox.h"

/* The spawner reads requests on fd 3, forks, changes the child's user
 * and execs `bulwarkd --worker`, kills (from a child that is the
 * worker's user) and reaps. Its filter and Landlock domain stay on the
 * worker under the worker's own (filters stack: a call must pass
 * both), so the table also holds what loading a program and the
 * worker's start take (the dynamic loader, OpenSSL's and libevent's
 * set-up), and the worker's own table is allowed as well. setgroups,
 * setresgid and setresuid are not in the table: the spawner allows
 * them toward the worker's ids only (child_uid and child_gid, set by
 * privsep/spawner.c once it knows them), so the CAP_SETUID and
 * CAP_SETGID it keeps cannot make it root. */
static const char *const spawner_syscalls[] = {
	/* requests and answers */
	"recvmsg", "sendmsg", "read", "write", "poll", "close", "fcntl",
	/* a worker: fork, its user, its descriptors, exec */
	"clone", "fork", "getresuid",
	"getresgid", "getgroups", "capget", "capset", "prctl", "dup2", "dup3",
	"close_range", "execveat", "kill", "wait4",
	/* memory, time, signals, leaving */
	"brk", "mmap", "munmap", "mprotect", "futex", "clock_gettime",
	"rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "getpid", "gettid",
	"getuid", "exit", "exit_group", "fstat", "newfstatat",
	/* the dynamic loader and the C library's start in the new program */
	"openat", "access", "pread64", "lseek", "readlinkat", "fstatfs",
	"arch_prctl", "set_tid_address", "set_robust_list", "rseq",
	"prlimit64", "sysinfo", "getrandom", "geteuid", "getgid", "getegid",
	/* the worker's set-up: its event loop, then its own confinement */
	"epoll_create1", "epoll_ctl", "pipe2", "landlock_create_ruleset",
	"landlock_add_rule", "landlock_restrict_self", "seccomp",
	NULL,
};

/* Read and execute only: the worker's program, its libraries and the
 * configuration it reads before it confines itself. Nothing is written,
 * created or removed anywhere. */
static const struct sandbox_path spawner_paths[] = {
	{ "/", SANDBOX_READ | SANDBOX_EXEC },
	{ NULL, 0 },
};

const struct sandbox_profile spawner_sandbox_profile = {
	.name = "spawner",
	.user = NULL,		/* the daemon's own: only its children change */
	.syscalls = spawner_syscalls,
	.syscalls_children = worker_syscalls,
	.paths = spawner_paths,
	.landlock_required = false,
	.keep_caps = 1ULL << CAP_SETUID | 1ULL << CAP_SETGID,
	/* child_uid, child_gid: the worker's, filled in at start */
};
