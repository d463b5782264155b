/* Health probes inside an instance's network namespace; see probe.h. */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/probe.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/macro.h"

#define PROBE_PERIOD_DEFAULT	10
#define PROBE_TIMEOUT_DEFAULT	1
#define PROBE_FAILURES_DEFAULT	3
/* A child still there this long after its timeout is killed. */
#define PROBE_SLACK_S		2

/* An unsigned member K of O within LO..HI, DEF when absent. */
static int
uint_member(const json_t *o, const char *name, const char *k, unsigned lo,
    unsigned hi, unsigned def, unsigned *ret, char **ret_err)
{
	const json_t *v = json_object_get(o, k);

	if (!v) {
		*ret = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return errf(-BW_E_INVALID, ret_err, "spec.probes.%s.%s: must be "
		    "an integer %u..%u", name, k, lo, hi);
	*ret = (unsigned)json_integer_value(v);
	return 0;
}

/* Reads an exec probe's {"command": [...]} into P's cmd and argc. */
static int
exec_parse(const json_t *how, const char *name, struct probe_spec *p,
    char **ret_err)
{
	const json_t	*cmd = json_object_get(how, "command"), *a;
	size_t		 i, off = 0, len;

	if (!json_is_array(cmd) || json_array_size(cmd) < 1 ||
	    json_array_size(cmd) > PROBE_ARGS_MAX)
		return errf(-BW_E_INVALID, ret_err, "spec.probes.%s.exec.command: "
		    "must be an array of 1..%d strings", name, PROBE_ARGS_MAX);
	json_array_foreach(cmd, i, a) {
		if (!json_is_string(a) || (len = json_string_length(a)) == 0 ||
		    memchr(json_string_value(a), '\0', len) ||
		    off + len + 1 > sizeof(p->cmd))
			return errf(-BW_E_INVALID, ret_err, "spec.probes.%s.exec."
			    "command: non-empty strings of at most %d bytes in "
			    "all", name, PROBE_CMD_MAX);
		memcpy(p->cmd + off, json_string_value(a), len + 1);
		off += len + 1;
	}
	p->argc = (unsigned)json_array_size(cmd);
	return 0;
}

int
probe_spec_parse(const json_t *o, const char *name, struct probe_spec *ret,
    char **ret_err)
{
	struct probe_spec	 p = { 0 };
	const json_t		*http = json_object_get(o, "http");
	const json_t		*tcp = json_object_get(o, "tcp");
	const json_t		*exec = json_object_get(o, "exec");
	const json_t		*how = http ? http : tcp ? tcp : exec;
	const char		*path;
	int			 r;

	if (!json_is_object(o) || !!http + !!tcp + !!exec != 1 ||
	    !json_is_object(how))
		return errf(-BW_E_INVALID, ret_err, "spec.probes.%s: must be an "
		    "object with one of http, tcp and exec", name);
	p.kind = http ? PROBE_HTTP : tcp ? PROBE_TCP : PROBE_EXEC;
	if ((r = exec ? exec_parse(how, name, &p, ret_err) :
	    uint_member(how, name, "port", 1, 65535, 0, &p.port, ret_err)) < 0 ||
	    (r = uint_member(o, name, "initial_delay_s", 0, 3600, 0,
	    &p.initial_delay_s, ret_err)) < 0 ||
	    (r = uint_member(o, name, "period_s", 1, 3600,
	    PROBE_PERIOD_DEFAULT, &p.period_s, ret_err)) < 0 ||
	    (r = uint_member(o, name, "timeout_s", 1, 60,
	    PROBE_TIMEOUT_DEFAULT, &p.timeout_s, ret_err)) < 0 ||
	    (r = uint_member(o, name, "failure_threshold", 1, 100,
	    PROBE_FAILURES_DEFAULT, &p.failure_threshold, ret_err)) < 0)
		return r;
	if (p.port == 0 && p.kind != PROBE_EXEC)
		return errf(-BW_E_INVALID, ret_err, "spec.probes.%s: a port is "
		    "required", name);
	if (p.kind == PROBE_HTTP) {
		path = json_str_at(how, "path", NULL) ?: "/";
		if (path[0] != '/' || strlen(path) >= sizeof(p.path) ||
		    strcspn(path, " \t\r\n") != strlen(path))
			return errf(-BW_E_INVALID, ret_err, "spec.probes.%s.http."
			    "path: must start with / and hold no white space "
			    "(at most %d characters)", name, PROBE_PATH_MAX - 1);
		snprintf(p.path, sizeof(p.path), "%s", path);
	}
	*ret = p;
	return 0;
}

/* An exec probe's command as {"command": [...]}. */
static json_t *
exec_json(const struct probe_spec *p)
{
	json_t		*a = json_array();
	const char	*s = p->cmd;

	for (unsigned i = 0; a && i < p->argc; i++, s += strlen(s) + 1)
		json_array_append_new(a, json_string(s));
	return a ? json_pack("{s:o}", "command", a) : NULL;
}

json_t *
probe_spec_json(const struct probe_spec *p)
{
	static const char *const kinds[] = { [PROBE_TCP] = "tcp",
	    [PROBE_HTTP] = "http", [PROBE_EXEC] = "exec" };
	json_t *how = p->kind == PROBE_HTTP ?
	    json_pack("{s:I, s:s}", "port", (json_int_t)p->port, "path",
	    p->path) : p->kind == PROBE_EXEC ? exec_json(p) :
	    json_pack("{s:I}", "port", (json_int_t)p->port);

	if (!how)
		return NULL;
	return json_pack("{s:o, s:I, s:I, s:I, s:I}", kinds[p->kind], how,
	    "initial_delay_s", (json_int_t)p->initial_delay_s,
	    "period_s", (json_int_t)p->period_s,
	    "timeout_s", (json_int_t)p->timeout_s,
	    "failure_threshold", (json_int_t)p->failure_threshold);
}

void
probe_describe(const struct probe_spec *p, char *buf, size_t len)
{
	const char	*a = p->cmd;
	size_t		 off;

	if (p->kind == PROBE_HTTP)
		snprintf(buf, len, "http GET :%u%s", p->port, p->path);
	else if (p->kind == PROBE_TCP)
		snprintf(buf, len, "tcp :%u", p->port);
	else {
		snprintf(buf, len, "exec");
		for (unsigned i = 0; i < p->argc; i++, a += strlen(a) + 1)
			if ((off = strlen(buf)) + 1 < len)
				snprintf(buf + off, len - off, " %s", a);
	}
}

/* ---- the child ---- */

/* Tries P once from the current network namespace. Returns 1 when it
 * passed, 0 when not; RES says what was seen. Only system calls and
 * formatting (strerrordesc_np(), which takes no locale lock): it runs
 * in a child forked from the agent, whose other threads may have held
 * a lock at the fork. */
static int
probe_try(const struct probe_spec *p, char *res, size_t len)
{
	struct sockaddr_in	 sa = { .sin_family = AF_INET };
	struct timeval		 tv = { .tv_sec = (time_t)p->timeout_s };
	char			 req[PROBE_PATH_MAX + 128], ans[128];
	size_t			 got = 0;
	ssize_t			 n;
	int			 s, code, reqlen;

	sa.sin_port = htons((uint16_t)p->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		snprintf(res, len, "socket: %s", strerrordesc_np(errno));
		return 0;
	}
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(res, len, "connect: %s", errno == EINPROGRESS ?
		    "timed out" : strerrordesc_np(errno));
		return 0;
	}
	if (p->kind == PROBE_TCP) {
		snprintf(res, len, "connected");
		return 1;
	}
	reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: "
	    "127.0.0.1:%u\r\nUser-Agent: bulwark-probe\r\n\r\n", p->path,
	    p->port);
	if (send(s, req, (size_t)reqlen, MSG_NOSIGNAL) != reqlen) {
		snprintf(res, len, "send: %s", strerrordesc_np(errno));
		return 0;
	}
	/* The status line is all a probe needs. */
	while (got < sizeof(ans) - 1 && !memchr(ans, '\n', got) &&
	    (n = recv(s, ans + got, sizeof(ans) - 1 - got, 0)) > 0)
		got += (size_t)n;
	ans[got] = '\0';
	if (sscanf(ans, "HTTP/1.%*1[01] %3d", &code) != 1) {
		snprintf(res, len, "%s", got ? "not an HTTP answer" :
		    errno == EAGAIN ? "no answer within the timeout" :
		    "connection closed without an answer");
		return 0;
	}
	snprintf(res, len, "HTTP %d", code);
	return code >= 200 && code < 400;
}

/* Kills what an exec probe started: the command whose PID the runner
 * wrote to PFD (crun puts it in a session of its own, so with its
 * process group), then the runner's group RUNNER. */
static void
exec_kill(int pfd, pid_t runner)
{
	char	buf[24];
	ssize_t	n = read(pfd, buf, sizeof(buf) - 1);
	pid_t	cmd = 0, g;

	for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9' &&
	    cmd < 100000000; i++)
		cmd = cmd * 10 + (buf[i] - '0');
	if (cmd > 1) {
		if ((g = getpgid(cmd)) > 1 && g != getpgrp())
			(void)kill(-g, SIGKILL);
		(void)kill(cmd, SIGKILL);
	}
	(void)kill(-runner, SIGKILL);
	(void)kill(runner, SIGKILL);
}

/* Runs PREFIX and P's command with no stdio, in a process group of its
 * own, for at most P's timeout; past it the command and the runner are
 * killed (exec_kill()). Returns 1 when it exited 0. Only system calls:
 * see probe_try().
 *
 * The caller is a subreaper: the command runs in the container's PID
 * namespace as a child of `crun exec`, so when crun is killed it is
 * orphaned to the nearest subreaper outside, and a zombie there that
 * nobody reaps keeps the namespace (and so the container's init) from
 * ever finishing its exit. Everything orphaned to the caller is reaped
 * here. */
static int
probe_exec(const struct probe_spec *p, const char *const *prefix, char *res,
    size_t len)
{
	const char	*argv[PROBE_ARGS_MAX + 16];
	const char	*a = p->cmd;
	struct timespec	 tick = { .tv_nsec = 50 * 1000 * 1000 };
	unsigned	 n = 0, i, waited;
	pid_t		 pid;
	int		 st, fd, pfd[2];

	for (; prefix && *prefix && n < ELEMENTSOF(argv) - PROBE_ARGS_MAX - 1;
	    prefix++)
		argv[n++] = *prefix;
	for (i = 0; i < p->argc; i++, a += strlen(a) + 1)
		argv[n++] = a;
	argv[n] = NULL;
	if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) < 0 || (pid = fork()) < 0) {
		snprintf(res, len, "fork: %s", strerrordesc_np(errno));
		return 0;
	}
	if (pid == 0) {
		(void)setpgid(0, 0);
		if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0)
			for (i = 0; i < 3; i++)
				(void)dup2(fd, (int)i);
		/* dup2() onto itself would keep close-on-exec */
		if (pfd[1] == PROBE_EXEC_PID_FD)
			(void)fcntl(pfd[1], F_SETFD, 0);
		else
			(void)dup2(pfd[1], PROBE_EXEC_PID_FD);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	(void)setpgid(pid, pid);
	close(pfd[1]);
	for (waited = 0; waited < p->timeout_s * 20; waited++) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			if (WIFEXITED(st))
				snprintf(res, len, "exit %d", WEXITSTATUS(st));
			else
				snprintf(res, len, "killed by signal %d",
				    WTERMSIG(st));
			return WIFEXITED(st) && WEXITSTATUS(st) == 0;
		}
		nanosleep(&tick, NULL);
	}
	exec_kill(pfd[0], pid);
	while (waitpid(-1, &st, 0) > 0 || errno == EINTR)
		;
	snprintf(res, len, "timed out after %u s", p->timeout_s);
	return 0;
}

_noreturn_ static void
probe_child(const struct probe_spec *p, const char *netns_path,
    const char *const *exec_prefix, int wfd)
{
	char	res[PROBE_RESULT_MAX - 1], line[PROBE_RESULT_MAX];
	int	fd, ok = 0, n;

	/* The agent's other descriptors (its connection to bulwarkd, its
	 * state files) are not the tenant's namespace's business. */
	if (wfd > 3)
		(void)close_range(3, (unsigned)wfd - 1, 0);
	(void)close_range((unsigned)wfd + 1, ~0U, 0);
	/* The timeout bounds each socket call; the alarm bounds them all. */
	signal(SIGALRM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	alarm(p->timeout_s + 1);
	if (p->kind == PROBE_EXEC && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		snprintf(res, sizeof(res), "cannot become a subreaper: %s",
		    strerrordesc_np(errno));
	else if (p->kind == PROBE_EXEC)
		ok = probe_exec(p, exec_prefix, res, sizeof(res));
	else if ((fd = open(netns_path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    setns(fd, CLONE_NEWNET) < 0)
		snprintf(res, sizeof(res), "cannot enter the network "
		    "namespace: %s", strerrordesc_np(errno));
	else
		ok = probe_try(p, res, sizeof(res));
	n = snprintf(line, sizeof(line), "%c%s", ok ? '1' : '0', res);
	if (n > 0)
		(void)!write(wfd, line, (size_t)n < sizeof(line) ? (size_t)n :
		    sizeof(line) - 1);
	_exit(0);
}

/* ---- the agent's side ---- */

int
probe_start(const struct probe_spec *p, const char *netns_path,
    const char *const *exec_prefix, struct probe_run *run)
{
	int	fds[2];
	pid_t	pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	if ((pid = fork()) < 0) {
		int r = -errno;

		close(fds[0]);
		close(fds[1]);
		return r;
	}
	if (pid == 0) {
		close(fds[0]);
		probe_child(p, netns_path, exec_prefix, fds[1]);
	}
	close(fds[1]);
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
		int r = -errno;

		run->pid = pid;
		run->fd = fds[0];
		probe_cancel(run);
		return r;
	}
	run->pid = pid;
	run->fd = fds[0];
	run->deadline = bw_mono_s() + p->timeout_s + PROBE_SLACK_S;
	return 0;
}

/* the processes of a cancelled run that are killed with it, at most */
#define PROBE_TREE_MAX		256
/* reads of a cancelled run's tree, each killing what it found new */
#define PROBE_KILL_ROUNDS	8
/* how long one cancel waits, in all, for what it killed to end and for
 * its own children among them to be reaped (the agent is
 * single-threaded: the rest is left to probe_strays_reap()) */
#define PROBE_CANCEL_WAIT_S	0.1
/* killed processes kept that are not (yet) this process's children, at
 * most (each holds a pidfd) */
#define PROBE_STRAYS_OTHERS_MAX	64
/* how long a killed process seen ended as another's is kept */
#define PROBE_STRAY_OTHERS_S	10

static void
probe_reap(struct probe_run *run)
{
	while (waitpid(run->pid, NULL, 0) < 0 && errno == EINTR)
		;
	close(run->fd);
	run->pid = 0;
	run->fd = -1;
}

int
probe_poll(struct probe_run *run, bool *ret_ok, char result[PROBE_RESULT_MAX])
{
	char	buf[PROBE_RESULT_MAX];
	ssize_t	n;

	if (run->pid <= 0)
		return -ECHILD;
	n = read(run->fd, buf, sizeof(buf) - 1);
	if (n < 0 && errno == EAGAIN) {
		if (bw_mono_s() < run->deadline)
			return 0;
		probe_cancel(run);
		*ret_ok = false;
		snprintf(result, PROBE_RESULT_MAX, "no result within the "
		    "timeout");
		return 1;
	}
	if (n < 0) {
		int r = -errno;

		probe_cancel(run);
		return r;
	}
	probe_reap(run);
	buf[n] = '\0';
	/* No line: the child's alarm ended it. */
	*ret_ok = n > 0 && buf[0] == '1';
	snprintf(result, PROBE_RESULT_MAX, "%s", n > 1 ? buf + 1 :
	    "no result within the timeout");
	return 1;
}


/* A cancelled run's tree: its processes, each held by a pidfd (a PID
 * read from /proc may name another process by the time it is signalled;
 * a pidfd names the one it was opened for). FULL: a process was left out
 * for lack of room. */
struct probe_tree {
	pid_t	pid[PROBE_TREE_MAX];
	int	fd[PROBE_TREE_MAX];
	size_t	n;
	bool	full;
};

/* Processes of cancelled runs killed but not reaped yet. Only this
 * process's children need reaping: the run, and what is orphaned to us
 * (a subreaper) from above the container's PID namespace (the runtime's
 * exec, the command it started); a process inside that namespace is
 * orphaned to the container's init, which reaps it. OWN: the process
 * was our child when kept; one that was not is kept only while its
 * parent, killed too, has not ended (it may be orphaned to us then):
 * GONE_SINCE is when it was first seen ended as another's child (0: not
 * yet). Own children are never let go for lack of room (the table
 * grows); the others are at most PROBE_STRAYS_OTHERS_MAX. The agent is
 * single-threaded; these are reaped by later calls
 * (probe_strays_reap). */
struct stray {
	pid_t	pid;
	int	fd;		/* its pidfd */
	bool	own;
	double	gone_since;	/* bw_mono_s() */
};
static struct stray	*strays;
static size_t		 nstrays, strays_cap, nothers;

static bool
tree_has(const struct probe_tree *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->pid[i] == pid)
			return true;
	return false;
}

/* Reads at most SIZE - 1 bytes of the /proc file PATH into BUF, ended
 * by a NUL. Returns the length, or <= 0 when nothing was read. */
static ssize_t
proc_read(const char *path, char *buf, size_t size)
{
	ssize_t	len;
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	len = read(fd, buf, size - 1);
	close(fd);
	if (len > 0)
		buf[len] = '\0';
	return len;
}

/* The parent of PID as /proc says, or 0 (none read). */
static pid_t
parent_of(pid_t pid)
{
	char	 path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (proc_read(path, buf, sizeof(buf)) <= 0)
		return 0;
	/* "pid (comm) state ppid ...": comm may hold anything but ends at
	 * the last ')' */
	if (!(p = strrchr(buf, ')')) || strlen(p) < 4)
		return 0;
	return (pid_t)strtol(p + 4, NULL, 10);
}

static size_t tree_add(struct probe_tree *t, pid_t pid);

/* Adds child V of PID to T, stopped, when, opened as a pidfd, it is
 * still PID's child. Returns whether it was added. */
static bool
tree_take(struct probe_tree *t, pid_t pid, pid_t v)
{
	int fd;

	if (t->n >= PROBE_TREE_MAX) {
		t->full = true;
		return false;
	}
	if ((fd = (int)pidfd_open(v, 0)) < 0)
		return false;
	if (parent_of(v) != pid) {
		close(fd);
		return false;
	}
	(void)pidfd_send_signal(fd, SIGSTOP, NULL, 0);
	t->pid[t->n] = v;
	t->fd[t->n++] = fd;
	return true;
}

/* Adds to T the children of thread TID of PID (a child forked by any
 * thread is listed under that thread only), then theirs. */
static size_t
tree_add_task(struct probe_tree *t, pid_t pid, long tid)
{
	char	 path[64], buf[2048], *p, *end;
	size_t	 added = 0;
	long	 v;

	snprintf(path, sizeof(path), "/proc/%d/task/%ld/children", (int)pid,
	    tid);
	if (proc_read(path, buf, sizeof(buf)) <= 0)
		return 0;
	for (p = buf; (v = strtol(p, &end, 10), end != p); p = end) {
		if (v <= 1)
			continue;
		if (!tree_has(t, (pid_t)v)) {
			if (!tree_take(t, pid, (pid_t)v))
				continue;
			added++;
		}
		added += tree_add(t, (pid_t)v);
	}
	return added;
}

/* Adds to T the children of PID (stopped: it forks and reaps no more,
 * so the PIDs it lists stay its children's), of each of its threads,
 * then theirs, each stopped before its own children are read. Returns
 * how many were added. */
static size_t
tree_add(struct probe_tree *t, pid_t pid)
{
	char		 path[64];
	struct dirent	*de;
	size_t		 added = 0;
	DIR		*d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			added += tree_add_task(t, pid,
			    strtol(de->d_name, NULL, 10));
	closedir(d);
	return added;
}

/* Waits until the processes of T from FIRST on have ended, or until
 * DEADLINE (bw_mono_s()): a killed process's children are orphaned
 * (to the run, a subreaper, stopped: it reaps none, when they are above
 * the container's PID namespace; to the container's init when inside
 * it) only once it has ended, and the next read of the tree finds those
 * still under the run (read while one was ending, a child it forked as
 * the stop came could be in neither list). */
static void
tree_wait(const struct probe_tree *t, size_t first, double deadline)
{
	for (size_t i = first; i < t->n; i++) {
		struct pollfd	pfd = { .fd = t->fd[i], .events = POLLIN };
		double		left = deadline - bw_mono_s();

		if (left <= 0)
			return;
		(void)poll(&pfd, 1, (int)(left * 1000) + 1);
	}
}

/* Waits until pidfd FD's process has ended, or until DEADLINE. */
static void
fd_wait(int fd, double deadline)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	double		left = deadline - bw_mono_s();

	if (left > 0)
		(void)poll(&pfd, 1, (int)(left * 1000) + 1);
}

static bool
fd_ended(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1;
}

/* Reaps stray S if it has ended and is this process's child. Returns
 * whether it is done with: reaped, or ended as another's child for
 * PROBE_STRAY_OTHERS_S (its parent reaps it). */
static bool
stray_reap(struct stray *s)
{
	siginfo_t	si = { 0 };
	int		err;

	if (waitid(P_PIDFD, (id_t)s->fd, &si, WEXITED | WNOHANG) == 0)
		return si.si_pid != 0;
	err = errno;
	/* a kernel before 5.4 has pidfds but no P_PIDFD: our own child's
	 * PID stays its own until we reap it */
	if (err == EINVAL && parent_of(s->pid) == getpid())
		return waitpid(s->pid, NULL, WNOHANG) == s->pid;
	if ((err != ECHILD && err != EINVAL) || !fd_ended(s->fd))
		return false;
	if (s->gone_since == 0)
		s->gone_since = bw_mono_s();
	return bw_mono_s() - s->gone_since > PROBE_STRAY_OTHERS_S;
}

static void
stray_drop(size_t i)
{
	close(strays[i].fd);
	if (!strays[i].own)
		nothers--;
	strays[i] = strays[--nstrays];
}

size_t
probe_strays_reap(void)
{
	size_t i = 0;

	while (i < nstrays) {
		if (stray_reap(&strays[i]))
			stray_drop(i);
		else
			i++;
	}
	return nstrays;
}

/* Keeps process PID (pidfd FD) for a later reap, OWN when it is our
 * child. Another's is let go when PROBE_STRAYS_OTHERS_MAX are kept; an
 * own child with no memory left for it is waited for (SIGKILLed: it
 * ends unless in an uninterruptible sleep). */
static void
stray_keep(pid_t pid, int fd, bool own)
{
	struct stray *n;

	if (!own && nothers >= PROBE_STRAYS_OTHERS_MAX) {
		close(fd);
		return;
	}
	if (nstrays == strays_cap) {
		size_t cap = strays_cap ? strays_cap * 2 : 16;

		if (!(n = reallocarray(strays, cap, sizeof(*n)))) {
			if (own)
				while (waitpid(pid, NULL, 0) < 0 &&
				    errno == EINTR)
					;
			close(fd);
			return;
		}
		strays = n;
		strays_cap = cap;
	}
	strays[nstrays++] = (struct stray){ .pid = pid, .fd = fd, .own = own };
	if (!own)
		nothers++;
}

/* Whether PID is a process of T (or RUN) that has not ended: what it
 * leaves when it ends may be orphaned to us. */
static bool
tree_alive(const struct probe_tree *t, pid_t run, int run_fd, pid_t pid)
{
	if (pid == run)
		return !fd_ended(run_fd);
	for (size_t i = 0; i < t->n; i++)
		if (t->pid[i] == pid)
			return !fd_ended(t->fd[i]);
	return false;
}

/* Keeps what of T needs reaping (probe_cancel() has killed it all):
 * our children, and those whose parent in T has not ended yet; the rest
 * (orphaned inside the container's PID namespace, or reaped already) is
 * let go. */
static void
tree_keep(struct probe_tree *t, pid_t run, int run_fd)
{
	pid_t self = getpid();

	for (size_t i = 0; i < t->n; i++) {
		pid_t pp = parent_of(t->pid[i]);

		if (pp == self)
			stray_keep(t->pid[i], t->fd[i], true);
		else if (pp > 0 && tree_alive(t, run, run_fd, pp))
			stray_keep(t->pid[i], t->fd[i], false);
		else
			close(t->fd[i]);
	}
}

/* Reaps the own children among the strays from FIRST on (this cancel's),
 * waiting for them until DEADLINE; the strays of earlier cancels are
 * left to probe_strays_reap(). */
static void
strays_reap_new(size_t first, double deadline)
{
	size_t i = first;

	while (i < nstrays) {
		struct pollfd	pfd = { .fd = strays[i].fd, .events = POLLIN };
		double		left = deadline - bw_mono_s();

		if (!strays[i].own)
			i++;
		else if (stray_reap(&strays[i]))
			stray_drop(i);
		else if (left <= 0 ||
		    poll(&pfd, 1, (int)(left * 1000) + 1) != 1)
			i++;
	}
}

void
probe_cancel(struct probe_run *run)
{
	struct probe_tree	t = { .n = 0 };
	double			deadline;
	size_t			first = nstrays;
	int			fd;

	if (run->pid <= 0)
		return;
	/* An exec probe's runner and the runtime's exec outlive a run
	 * killed here and are orphaned to this process, a subreaper (the
	 * command too, once the exec has ended): a zombie of theirs that
	 * nobody reaps keeps the container's init from finishing its exit
	 * (probe_exec()). So the run (a subreaper too: what is orphaned
	 * below it from outside the container's PID namespace stays below
	 * it) is stopped, its tree read and killed in rounds until a round
	 * finds nothing new, each waiting (PROBE_CANCEL_WAIT_S in all) for
	 * what it killed to end (a stop takes effect a moment after it is
	 * sent: a fork in that moment is found by the next round if it is
	 * still under the run; one inside the container's PID namespace
	 * whose parent ended is the container init's and is not found),
	 * then the run itself. Our own children among what was killed are
	 * reaped without waiting long (a process in an uninterruptible
	 * sleep may not die for long): now if they end within the budget,
	 * else by a later call (stray_reap()). */
	if ((fd = (int)pidfd_open(run->pid, 0)) < 0) {
		/* a kernel without pidfds: as before them, the run only */
		kill(run->pid, SIGKILL);
		probe_reap(run);
		return;
	}
	kill(run->pid, SIGSTOP);	/* our unreaped child: still its PID */
	deadline = bw_mono_s() + PROBE_CANCEL_WAIT_S;
	for (unsigned round = 0; round < PROBE_KILL_ROUNDS; round++) {
		size_t from = t.n;

		if (tree_add(&t, run->pid) == 0)
			break;
		for (size_t i = from; i < t.n; i++)
			(void)pidfd_send_signal(t.fd[i], SIGKILL, NULL, 0);
		tree_wait(&t, from, deadline);
	}
	if (t.full)
		log_warn("probe cancel: more than %d processes below probe "
		    "run %d; the rest are not killed (the container's own "
		    "stop ends them)", PROBE_TREE_MAX, (int)run->pid);
	kill(run->pid, SIGKILL);
	/* what the run leaves is orphaned to us once it has ended */
	fd_wait(fd, deadline);
	tree_keep(&t, run->pid, fd);
	stray_keep(run->pid, fd, true);
	close(run->fd);
	run->pid = 0;
	run->fd = -1;
	strays_reap_new(first, deadline);
}
