/* Helper programs and the instance shim; see runtime-exec.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/runtime-exec.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/logcap.h"
#include "lib/macro.h"

#define EXEC_DEFAULT_TIMEOUT_MS	60000

/* Helpers such as tar spawn others (gzip) by name, so the otherwise
 * empty environment keeps a fixed system PATH. */
static const char *const default_envp[] = {
	"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	"LC_ALL=C",
	NULL,
};

/* Async-signal-safe: restores the signal state a fresh program expects
 * (the caller may block or ignore signals, and both are inherited
 * across exec). */
static void
child_reset_signals(void)
{
	struct sigaction	sa;
	sigset_t		set;
	int			sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	sigemptyset(&set);
	(void)sigprocmask(SIG_SETMASK, &set, NULL);
}

/* Closes every descriptor from 3 up except KEEP (-1: none). */
static void
child_close_fds(int keep)
{
	if (keep < 3) {
		(void)syscall(__NR_close_range, 3U, ~0U, 0U);
		return;
	}
	if (keep > 3)
		(void)syscall(__NR_close_range, 3U, (unsigned)keep - 1, 0U);
	(void)syscall(__NR_close_range, (unsigned)keep + 1, ~0U, 0U);
}

struct capture {
	int		 fd;
	struct bw_buf	 b;	/* to RUNTIME_EXEC_OUT_MAX; the rest dropped */
	int	(*sink)(const void *buf, size_t len, void *userdata);
	void	*sink_data;
};

static int
capture_read(struct capture *c)
{
	char	tmp[65536];
	ssize_t	n;

	n = read(c->fd, tmp, sizeof(tmp));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0) {
		close(c->fd);
		c->fd = -1;
		return 0;
	}
	if (c->sink)
		return c->sink(tmp, (size_t)n, c->sink_data);
	if ((size_t)n > c->b.max - c->b.len)
		n = (ssize_t)(c->b.max - c->b.len);
	return n ? bw_buf_append(&c->b, tmp, (size_t)n) : 0;
}

/* The state of one runtime_exec() call, shared by its steps. Every fd
 * is -1 when not open; exec_release() closes what is left. */
struct exec_run {
	const struct runtime_exec_opts	*o;
	struct capture			 out;
	struct capture			 err;
	int				 in[2];	/* stdin socket pair */
	int				 po[2];	/* stdout pipe */
	int				 pe[2];	/* stderr pipe */
	size_t				 in_off;	/* input bytes sent */
	int64_t				 deadline;	/* CLOCK_MONOTONIC ms */
	pid_t				 pid;	/* unreaped child, or -1 */
};

/* The forked child: async-signal-safe calls only, never returns. */
static _noreturn_ void
exec_child(const struct exec_run *x, int devnull, const char *const *argv,
    const char *const *envp)
{
	const struct runtime_exec_opts *o = x->o;

	child_reset_signals();
	if (dup2(o->input ? x->in[1] : devnull, 0) < 0 ||
	    dup2(o->stdout_fd >= 0 ? o->stdout_fd : x->po[1], 1) < 0 ||
	    dup2(x->pe[1], 2) < 0)
		_exit(126);
	child_close_fds(-1);
	if (o->set_umask)
		umask(o->umask);
	execve(argv[0], (char *const *)argv, (char *const *)envp);
	_exit(127);
}

/* Opens the pipes, forks the child and keeps the parent's ends in
 * X->out.fd, X->err.fd and X->in[0]. */
static int
exec_spawn(struct exec_run *x, int devnull, const char *const *argv,
    const char *const *envp)
{
	const struct runtime_exec_opts *o = x->o;

	/* A socket for stdin: send(MSG_NOSIGNAL) cannot raise SIGPIPE in
	 * the caller when the helper exits without reading. */
	if (o->input && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    x->in) < 0)
		return -errno;
	if ((o->stdout_fd < 0 && pipe2(x->po, O_CLOEXEC) < 0) ||
	    pipe2(x->pe, O_CLOEXEC) < 0)
		return -errno;
	x->pid = fork();
	if (x->pid < 0)
		return -errno;
	if (x->pid == 0)
		exec_child(x, devnull, argv, envp);
	if (x->in[1] >= 0) {
		close(x->in[1]);
		x->in[1] = -1;
	}
	if (x->po[1] >= 0) {
		close(x->po[1]);
		x->po[1] = -1;
	}
	close(x->pe[1]);
	x->pe[1] = -1;
	x->out.fd = x->po[0];
	x->po[0] = -1;
	x->err.fd = x->pe[0];
	x->pe[0] = -1;
	if (o->input && o->input_len == 0) {
		shutdown(x->in[0], SHUT_WR);
		close(x->in[0]);
		x->in[0] = -1;
	}
	return 0;
}

/* Sends what the helper's stdin takes without blocking; closes it when
 * all is sent or the helper stopped reading. */
static void
exec_feed_input(struct exec_run *x)
{
	ssize_t w = send(x->in[0], x->o->input + x->in_off,
	    x->o->input_len - x->in_off, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (w > 0)
		x->in_off += (size_t)w;
	if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
	    x->in_off == x->o->input_len) {
		close(x->in[0]);
		x->in[0] = -1;
	}
}

/* Feeds stdin and collects stdout and stderr until all three are
 * closed, or the deadline passes (-ETIMEDOUT). */
static int
exec_pump(struct exec_run *x)
{
	int r;

	for (;;) {
		struct pollfd	pfd[3];
		nfds_t		n = 0;
		int64_t		left = x->deadline - bw_mono_ms();

		if (x->out.fd < 0 && x->err.fd < 0 && x->in[0] < 0)
			return 0;
		if (left <= 0)
			return -ETIMEDOUT;
		if (x->out.fd >= 0)
			pfd[n++] = (struct pollfd){ x->out.fd, POLLIN, 0 };
		if (x->err.fd >= 0)
			pfd[n++] = (struct pollfd){ x->err.fd, POLLIN, 0 };
		if (x->in[0] >= 0)
			pfd[n++] = (struct pollfd){ x->in[0], POLLOUT, 0 };
		if (poll(pfd, n, (int)(left > 1000 ? 1000 : left)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == x->out.fd)
				r = capture_read(&x->out);
			else if (pfd[i].fd == x->err.fd)
				r = capture_read(&x->err);
			else {
				exec_feed_input(x);
				r = 0;
			}
			if (r < 0)
				return r;
		}
	}
}

/* Output closed; the helper may still be exiting. Waits for it until
 * the deadline and stores its wait status in *RET_STATUS. */
static int
exec_reap(struct exec_run *x, int *ret_status)
{
	int status = 0;

	for (;;) {
		pid_t w = waitpid(x->pid, &status, WNOHANG);

		if (w == x->pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (bw_mono_ms() >= x->deadline)
			return -ETIMEDOUT;
		usleep(2000);
	}
	x->pid = -1;
	*ret_status = status;
	return 0;
}

/* Kills and reaps a child still running, closes every fd left open and
 * frees the captured output not handed out. */
static void
exec_release(struct exec_run *x)
{
	if (x->pid > 0) {
		kill(x->pid, SIGKILL);
		while (waitpid(x->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	for (int i = 0; i < 2; i++) {
		if (x->in[i] >= 0)
			close(x->in[i]);
		if (x->po[i] >= 0)
			close(x->po[i]);
		if (x->pe[i] >= 0)
			close(x->pe[i]);
	}
	if (x->out.fd >= 0)
		close(x->out.fd);
	if (x->err.fd >= 0)
		close(x->err.fd);
	bw_buf_done(&x->out.b);
	bw_buf_done(&x->err.b);
}

int
runtime_exec(const char *const *argv, const struct runtime_exec_opts *o,
    int *ret_status, char **ret_out, char **ret_errout)
{
	static const struct runtime_exec_opts	 none = { .stdout_fd = -1 };
	struct exec_run				 x = {
		.out = { .fd = -1, .b = { .max = RUNTIME_EXEC_OUT_MAX } },
		.err = { .fd = -1, .b = { .max = RUNTIME_EXEC_OUT_MAX } },
		.in = { -1, -1 }, .po = { -1, -1 }, .pe = { -1, -1 },
		.pid = -1,
	};
	_cleanup_close_ int			 devnull = -1;
	int					 status = 0, r;

	if (!o)
		o = &none;
	if (!argv || !argv[0] || argv[0][0] != '/')
		return -EINVAL;
	x.o = o;
	x.out.sink = o->sink;
	x.out.sink_data = o->sink_data;
	x.deadline = bw_mono_ms() +
	    (o->timeout_ms > 0 ? o->timeout_ms : EXEC_DEFAULT_TIMEOUT_MS);

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return -errno;
	if ((r = exec_spawn(&x, devnull, argv,
	    o->envp ? o->envp : default_envp)) < 0)
		goto out;
	if ((r = exec_pump(&x)) < 0)
		goto out;
	if ((r = exec_reap(&x, &status)) < 0)
		goto out;
	if ((ret_out && bw_buf_reserve(&x.out.b, 0) < 0) ||
	    (ret_errout && bw_buf_reserve(&x.err.b, 0) < 0)) {
		r = -ENOMEM;
		goto out;
	}
	*ret_status = status;
	if (ret_out)
		*ret_out = bw_buf_take(&x.out.b, NULL);
	if (ret_errout)
		*ret_errout = bw_buf_take(&x.err.b, NULL);
	r = 0;
out:
	exec_release(&x);
	return r;
}

/* Keeps the first line-ish part of a helper's stderr for a message. */
static void
trim_msg(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	if (n > 400)
		s[400] = '\0';
}

int
runtime_run(const char *const *argv, const struct runtime_exec_opts *o,
    char **ret_out, char **ret_err)
{
	_cleanup_free_ char	*out = NULL, *errout = NULL;
	int			 status, r;

	r = runtime_exec(argv, o, &status, &out, &errout);
	if (r == -ETIMEDOUT)
		return errf(-BW_E_UNAVAILABLE, ret_err, "%s: timed out",
		    argv[0]);
	if (r < 0)
		return errf(r, ret_err, "%s: %s", argv[0], bw_strerror(r));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		trim_msg(errout);
		if (!*errout && out) {
			/* CNI plugins report errors as JSON on stdout. */
			trim_msg(out);
			return errf(-BW_E_UNAVAILABLE, ret_err,
			    "%s %s failed (status %d): %s", argv[0],
			    argv[1] ? argv[1] : "", status, out);
		}
		return errf(-BW_E_UNAVAILABLE, ret_err,
		    "%s %s failed (status %d): %s", argv[0],
		    argv[1] ? argv[1] : "", status, errout);
	}
	if (ret_out)
		*ret_out = TAKE_PTR(out);
	return 0;
}

int
runtime_become_subreaper(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* --- the shim: everything below runs in a forked child and sticks to
 * async-signal-safe calls, since the caller may be multithreaded. --- */

/* Best effort: if the reader is gone there is no one left to tell. */
static void
write_ignore(int fd, const void *buf, size_t len)
{
	ssize_t n = write(fd, buf, len);

	(void)n;
}

struct ready_msg {
	int32_t	err;	/* 0 or a negative errno / -BW_E_* */
	int32_t	pid;
	int32_t	code;	/* launcher exit code when it failed */
};

static size_t
fmt_int(char *p, long v)
{
	char	tmp[24];
	size_t	n = 0, i;
	int	neg = v < 0;
	unsigned long u = neg ? (unsigned long)-v : (unsigned long)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	i = 0;
	if (neg)
		p[i++] = '-';
	while (n)
		p[i++] = tmp[--n];
	return i;
}

static void
shim_write_exit(const char *path, const char *tmp, const char *kind,
    long value)
{
	char	buf[64];
	size_t	n = 0;
	int	fd;

	while (*kind)
		buf[n++] = *kind++;
	buf[n++] = ' ';
	n += fmt_int(buf + n, value);
	buf[n++] = '\n';
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd < 0)
		return;
	if (write(fd, buf, n) == (ssize_t)n && fsync(fd) == 0) {
		close(fd);
		(void)rename(tmp, path);
		return;
	}
	close(fd);
}

static void
shim_ready(int fd, int32_t err, int32_t pid, int32_t code)
{
	struct ready_msg m = { err, pid, code };

	write_ignore(fd, &m, sizeof(m));
	close(fd);
}

/* Reads up to SIZE - 1 bytes of the small file PATH into BUF and ends
 * them with a NUL. Returns the count, or -errno. Async-signal-safe. */
static ssize_t
read_small(const char *path, char *buf, size_t size)
{
	ssize_t	n;
	int	fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	return n;
}

static pid_t
shim_read_pid(const char *path)
{
	char	buf[32];
	ssize_t	n;
	long	v = 0;

	if ((n = read_small(path, buf, sizeof(buf))) <= 0)
		return n < 0 ? (pid_t)n : -ENODATA;
	for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (buf[i] - '0');
	return v > 1 && v < 1 << 30 ? (pid_t)v : -ENODATA;
}

/* Waits until the capture processes CAP (none: -1) have written the
 * payload's last output, at most SHIM_DRAIN_MS, then ends them: the
 * exit is recorded after the output it follows. */
#define SHIM_DRAIN_MS	5000

static void
shim_drain(pid_t cap[2])
{
	int64_t	deadline = bw_mono_ms() + SHIM_DRAIN_MS;
	pid_t	w;

	while (cap[0] > 0 || cap[1] > 0) {
		w = waitpid(-1, NULL, WNOHANG);
		if (w < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++)
			if (w > 0 && w == cap[i])
				cap[i] = -1;
		if (w > 0)
			continue;
		if (bw_mono_ms() >= deadline) {
			for (int i = 0; i < 2; i++)
				if (cap[i] > 0) {
					kill(cap[i], SIGKILL);
					while (waitpid(cap[i], NULL, 0) < 0 &&
					    errno == EINTR)
						;
					cap[i] = -1;
				}
			break;
		}
		usleep(5000);
	}
}

/* Records how the payload ended once its output is in (shim_drain). */
static void
shim_end(const char *exit_path, const char *tmp, const char *how, int value,
    pid_t cap[2])
{
	shim_drain(cap);
	shim_write_exit(exit_path, tmp, how, value);
}

/* Waits for TARGET, reaping whatever else is reparented to us on the
 * way, and records how TARGET ended. */
static void
shim_wait_target(pid_t target, const char *exit_path, const char *tmp,
    pid_t cap[2])
{
	int	st;
	pid_t	w;

	for (;;) {
		w = waitpid(-1, &st, 0);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			/* Not our descendant after all: nothing to learn. */
			shim_end(exit_path, tmp, "lost", 0, cap);
			return;
		}
		for (int i = 0; i < 2; i++)
			if (w == cap[i])
				cap[i] = -1;
		if (w != target)
			continue;
		if (WIFEXITED(st))
			shim_end(exit_path, tmp, "exited", WEXITSTATUS(st),
			    cap);
		else
			shim_end(exit_path, tmp, "signaled", WTERMSIG(st),
			    cap);
		return;
	}
}

/* Closes every descriptor from 3 up except the three in KEEP. */
static void
close_fds_except(int keep[3])
{
	unsigned	from = 3;
	int		i, j, t;

	for (i = 0; i < 3; i++)
		for (j = i + 1; j < 3; j++)
			if (keep[j] < keep[i]) {
				t = keep[i];
				keep[i] = keep[j];
				keep[j] = t;
			}
	for (i = 0; i < 3; i++) {
		if (keep[i] < (int)from)
			continue;
		if ((unsigned)keep[i] > from)
			(void)syscall(__NR_close_range, from,
			    (unsigned)keep[i] - 1, 0U);
		from = (unsigned)keep[i] + 1;
	}
	(void)syscall(__NR_close_range, from, ~0U, 0U);
}

static _noreturn_ void
shim_main(const struct runtime_sup *s, const char *exit_tmp, int ready_fd,
    int log_fd, int devnull)
{
	int		ep[2], keep[3] = { ready_fd, log_fd, devnull };
	int		st, e = 0, out_fd = log_fd;
	ssize_t		n;
	pid_t		worker, target, cap[2] = { -1, -1 };

	/* The shim outlives this call: it must not hold what the caller's
	 * other threads have open (a pipe whose reader waits for EOF). */
	close_fds_except(keep);
	(void)setsid();
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	child_reset_signals();
	/* The shim must not hold the caller's terminal or pipes open. */
	(void)dup2(devnull, 0);
	(void)dup2(devnull, 1);
	(void)dup2(devnull, 2);
	/* The capture starts first, so the payload's first line is in. */
	if (s->log_max_bytes > 0) {
		if ((e = logcap_start(log_fd, s->log_path, s->log_max_bytes,
		    &out_fd, cap)) < 0) {
			shim_ready(ready_fd, e, 0, 0);
			_exit(1);
		}
		close(log_fd);
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		shim_ready(ready_fd, -errno, 0, 0);
		_exit(1);
	}
	worker = fork();
	if (worker < 0) {
		shim_ready(ready_fd, -errno, 0, 0);
		_exit(1);
	}
	if (worker == 0) {
		for (const char *const *c = s->cgroup_procs; c && *c; c++) {
			int fd = open(*c, O_WRONLY | O_CLOEXEC);

			if (fd < 0 || write(fd, "0", 1) != 1) {
				e = -errno;
				write_ignore(ep[1], &e, sizeof(e));
				_exit(126);
			}
			close(fd);
		}
		if (s->err_path) {
			int fd = open(s->err_path, O_WRONLY | O_APPEND |
			    O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);

			if (fd < 0 || dup2(fd, 2) < 0) {
				e = -errno;
				write_ignore(ep[1], &e, sizeof(e));
				_exit(126);
			}
			close(fd);
		}
		if (dup2(out_fd, 1) < 0 ||
		    (!s->err_path && dup2(out_fd, 2) < 0)) {
			e = -errno;
			write_ignore(ep[1], &e, sizeof(e));
			_exit(126);
		}
		child_close_fds(ep[1]);
		execve(s->argv[0], (char *const *)s->argv,
		    (char *const *)(s->envp ? s->envp : default_envp));
		e = -errno;
		write_ignore(ep[1], &e, sizeof(e));
		_exit(127);
	}
	close(ep[1]);
	close(out_fd);
	do
		n = read(ep[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == sizeof(e)) {
		while (waitpid(worker, &st, 0) < 0 && errno == EINTR)
			;
		shim_end(s->exit_path, exit_tmp, "failed", 127, cap);
		shim_ready(ready_fd, e, 0, 127);
		_exit(0);
	}
	if (!s->pid_file) {
		shim_ready(ready_fd, 0, worker, 0);
		shim_wait_target(worker, s->exit_path, exit_tmp, cap);
		_exit(0);
	}
	/* A launcher: it exits once the real process runs. */
	while (waitpid(worker, &st, 0) < 0) {
		if (errno != EINTR) {
			shim_ready(ready_fd, -errno, 0, 0);
			_exit(1);
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		int code = WIFEXITED(st) ? WEXITSTATUS(st) :
		    128 + WTERMSIG(st);

		shim_end(s->exit_path, exit_tmp, "failed", code, cap);
		shim_ready(ready_fd, -BW_E_UNAVAILABLE, 0, code);
		_exit(0);
	}
	target = shim_read_pid(s->pid_file);
	if (target < 0) {
		shim_end(s->exit_path, exit_tmp, "failed", 0, cap);
		shim_ready(ready_fd, -BW_E_UNAVAILABLE, 0, 0);
		_exit(0);
	}
	shim_ready(ready_fd, 0, target, 0);
	shim_wait_target(target, s->exit_path, exit_tmp, cap);
	_exit(0);
}

int
runtime_supervise(const struct runtime_sup *s, pid_t *ret_shim,
    pid_t *ret_pid, char **ret_err)
{
	_cleanup_free_ char	*exit_tmp = NULL;
	_cleanup_close_ int	 log_fd = -1, devnull = -1;
	int			 rp[2] = { -1, -1 };
	struct ready_msg	 m;
	struct pollfd		 pfd;
	ssize_t			 n;
	pid_t			 shim;
	int			 timeout, r;

	if (!s->argv || !s->argv[0] || s->argv[0][0] != '/' ||
	    !s->log_path || !s->exit_path)
		return errf(-BW_E_INVALID, ret_err, "supervise: bad arguments");
	if (asprintf(&exit_tmp, "%s.tmp", s->exit_path) < 0) {
		exit_tmp = NULL;
		return -ENOMEM;
	}
	log_fd = open(s->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0640);
	if (log_fd < 0)
		return errf(-errno, ret_err, "%s: %s", s->log_path,
		    strerror(errno));
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return -errno;
	if (unlink(s->exit_path) < 0 && errno != ENOENT)
		return errf(-errno, ret_err, "%s: %s", s->exit_path,
		    strerror(errno));
	if (pipe2(rp, O_CLOEXEC) < 0)
		return -errno;
	shim = fork();
	if (shim < 0) {
		r = -errno;
		close(rp[0]);
		close(rp[1]);
		return r;
	}
	if (shim == 0) {
		close(rp[0]);
		shim_main(s, exit_tmp, rp[1], log_fd, devnull);
	}
	close(rp[1]);
	timeout = s->ready_timeout_ms > 0 ? s->ready_timeout_ms : 60000;
	pfd = (struct pollfd){ rp[0], POLLIN, 0 };
	do
		r = poll(&pfd, 1, timeout);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		close(rp[0]);
		/* Hung launcher: end the whole session the shim leads. */
		kill(-shim, SIGKILL);
		kill(shim, SIGKILL);
		while (waitpid(shim, NULL, 0) < 0 && errno == EINTR)
			;
		return errf(-BW_E_UNAVAILABLE, ret_err,
		    "%s did not start within %d ms", s->argv[0], timeout);
	}
	do
		n = read(rp[0], &m, sizeof(m));
	while (n < 0 && errno == EINTR);
	close(rp[0]);
	if (n != sizeof(m)) {
		while (waitpid(shim, NULL, 0) < 0 && errno == EINTR)
			;
		return errf(-BW_E_UNAVAILABLE, ret_err,
		    "supervisor for %s died", s->argv[0]);
	}
	if (m.err < 0) {
		runtime_reap_shim(shim);
		if (m.code)
			return errf(-BW_E_UNAVAILABLE, ret_err,
			    "%s exited with status %d", s->argv[0],
			    (int)m.code);
		return errf(m.err < -BW_E_BASE ? m.err : -BW_E_UNAVAILABLE,
		    ret_err, "%s: %s", s->argv[0], bw_strerror(m.err));
	}
	*ret_shim = shim;
	*ret_pid = m.pid;
	return 0;
}

void
runtime_reap_shim(pid_t shim)
{
	if (shim > 0)
		(void)waitpid(shim, NULL, WNOHANG);
}

int
runtime_read_exit(const char *path, char *ret_kind, int *ret_value)
{
	char	buf[64], word[16];
	ssize_t	n;
	int	v;

	if ((n = read_small(path, buf, sizeof(buf))) <= 0)
		return n < 0 ? (int)n : -BW_E_CORRUPT;
	if (sscanf(buf, "%15s %d", word, &v) != 2)
		return -BW_E_CORRUPT;
	if (!strcmp(word, "exited"))
		*ret_kind = 'e';
	else if (!strcmp(word, "signaled"))
		*ret_kind = 's';
	else if (!strcmp(word, "failed"))
		*ret_kind = 'f';
	else if (!strcmp(word, "lost"))
		*ret_kind = 'l';
	else
		return -BW_E_CORRUPT;
	*ret_value = v;
	return 0;
}
