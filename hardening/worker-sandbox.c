#include "config.h"

#include <stddef.h>

#include "hardening/worker-sandbox.h"

/* The worker accepts on a socket it was given, runs TLS with a key it
 * cannot read (signatures come from the parent over fd 4), relays bytes
 * over streams the parent gives it, and reports on fd 3. It opens no
 * file, makes no socket, binds and connects nothing, starts nothing. */
const char *const worker_syscalls[] = {
	/* the event loop and its descriptors */
	"epoll_wait", "epoll_pwait", "epoll_ctl", "close", "fcntl",
	/* network I/O on the sockets it holds */
	"accept4", "accept", "read", "readv", "write", "writev", "recvfrom",
	"sendto", "recvmsg", "sendmsg", "shutdown", "getpeername",
	"getsockname", "setsockopt", "getsockopt", "ioctl", "poll",
	/* memory, time, randomness (OpenSSL, libevent, malloc) */
	"brk", "mmap", "munmap", "mremap", "madvise", "mprotect",
	"clock_gettime", "gettimeofday", "getrandom", "futex",
	"sched_yield", "nanosleep", "clock_nanosleep",
	/* signals and leaving */
	"rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "exit",
	"exit_group", "getpid", "gettid",
	/* stdio on stderr (logs) */
	"fstat", "newfstatat",
	NULL,
};

const struct sandbox_profile worker_sandbox_profile = {
	.name = "api-worker",
	.user = WORKER_SANDBOX_USER,
	.fallback_id = WORKER_SANDBOX_ID,
	.syscalls = worker_syscalls,
	.paths = NULL,		/* no file system at all */
	.landlock_required = false,
};
