#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hardening/sandbox.h"
#include "hardening/spawner-sandbox.h"
#include "hardening/worker-sandbox.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "privsep/ipc.h"
#include "privsep/spawner.h"
#include "privsep/worker-proto.h"

#define ST(s)	(1u << (s))
#define CAPS_ID	(1ULL << CAP_SETUID | 1ULL << CAP_SETGID)
/* An answer the parent waits for at most (a fork, or a kill and a
 * reap). */
#define PSS_ANSWER_MS	30000

enum pss_state { PSS_ST_IDLE = 0, PSS_ST_RUNNING = 1 };

/* The spawner's table for the parent's requests: one worker at a time,
 * a few a second at most (the parent restarts after 250 ms or more). */
static const struct ipc_rule pss_rules[] = {
	{ PSS_SPAWN, "SPAWN", 0, 0, ST(PSS_ST_IDLE), PSS_ST_RUNNING, 8 },
	{ PSS_END, "END", 4, 4, ST(PSS_ST_RUNNING), PSS_ST_IDLE, 8 },
};

/* The parent's side. */
static int	pss_sock = -1;
static pid_t	pss_pid;

/* The spawner's side. */
struct spawner {
	int		 sock;
	uid_t		 uid;		/* the worker's, fixed at start */
	gid_t		 gid;
	pid_t		 worker;	/* 0: none */
	int		 exe;		/* its own program, opened at start */
	struct ipc_peer	 peer;
	int		 fds[IPC_FDS_MAX];
	size_t		 nfds;
	/* What an admitted request does and the clock its rates count in:
	 * the spawner's own, or a test's (pss_serve_test()). */
	int		(*handle)(struct spawner *s, const struct ipc_msg *m);
	uint64_t	(*now_s)(void);
	void		*test_arg;
};

static void
fds_close(struct spawner *s)
{
	for (size_t i = 0; i < s->nfds; i++)
		close(s->fds[i]);
	s->nfds = 0;
}

/* The worker's user: WORKER_SANDBOX_USER, or its reserved id where the
 * host has no such user. Never 0, never the spawner's own. */
static int
worker_ids(struct spawner *s, char **ret_err)
{
	struct passwd	 pw, *res = NULL;
	char		 buf[4096];
	int		 r;

	if ((r = getpwnam_r(WORKER_SANDBOX_USER, &pw, buf, sizeof(buf),
	    &res)) != 0)
		return errf(-r, ret_err, "user %s: %s", WORKER_SANDBOX_USER,
		    strerror(r));
	s->uid = res ? pw.pw_uid : WORKER_SANDBOX_ID;
	s->gid = res ? pw.pw_gid : (gid_t)WORKER_SANDBOX_ID;
	if (s->uid == 0 || s->gid == 0 || s->uid == getuid())
		return errf(-BW_E_INVALID, ret_err, "the worker's user %u:%u is "
		    "root or the daemon's own", (unsigned)s->uid,
		    (unsigned)s->gid);
	return 0;
}

/* In a child of the spawner: become the worker's user and group and no
 * other, with no capability left (a change between two non-root users
 * keeps the permitted set: cleared by hand). Returns 0 or -errno. */
static int
become_worker(const struct spawner *s)
{
	struct __user_cap_header_struct	h = {
		.version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct	d[2] = { { 0 } };
	uid_t				ru, eu, su;
	gid_t				rg, eg, sg;

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 ||
	    setgroups(0, NULL) < 0 ||
	    setresgid(s->gid, s->gid, s->gid) < 0 ||
	    setresuid(s->uid, s->uid, s->uid) < 0 ||
	    syscall(SYS_capset, &h, d) < 0)
		return -errno;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return -errno;
	if (ru != s->uid || eu != s->uid || su != s->uid || rg != s->gid ||
	    eg != s->gid || sg != s->gid || getgroups(0, NULL) != 0)
		return -EPERM;
	return 0;
}

/* The worker's side of the fork: its three descriptors at 3..5 (moved
 * above first: they may be any of 3..5 already), nothing else open but
 * the program (close-on-exec), the worker's user, then `bulwarkd
 * --worker`; dies with the spawner. The program is executed through
 * the descriptor the spawner opened as the daemon's user: exactly the
 * daemon's binary, which the worker's user need not be able to reach
 * by its path (an installation under a private directory). */
static void __attribute__((noreturn))
worker_exec(const struct spawner *s)
{
	char *const	argv[] = { (char *)"bulwarkd", (char *)"--worker", NULL };
	int		hi[3], exe;

	if ((exe = fcntl(s->exe, F_DUPFD_CLOEXEC, 16)) < 0)
		_exit(126);
	for (int i = 0; i < 3; i++)
		if ((hi[i] = fcntl(s->fds[i], F_DUPFD, 16)) < 0)
			_exit(126);
	for (int i = 0; i < 3; i++)
		if (dup2(hi[i], PSW_FD_CTL + i) < 0)
			_exit(126);
	if (dup3(exe, PSW_FD_LISTEN + 1, O_CLOEXEC) < 0)
		_exit(126);
	(void)close_range(PSW_FD_LISTEN + 2, ~0U, 0);
	if (become_worker(s) < 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		_exit(126);
	fexecve(PSW_FD_LISTEN + 1, argv, environ);
	_exit(127);
}

static int
answer(struct spawner *s, uint16_t type, const void *p, size_t n)
{
	return ipc_send(s->sock, type, 0, p, n, -1);
}

static int
on_spawn(struct spawner *s)
{
	int32_t	v;
	pid_t	pid;

	if (s->nfds != 3) {
		fds_close(s);
		return -BW_E_INVALID;
	}
	if ((pid = fork()) == 0)
		worker_exec(s);
	fds_close(s);
	v = pid < 0 ? -errno : (int32_t)pid;
	if (pid > 0)
		s->worker = pid;
	else
		s->peer.state = PSS_ST_IDLE;
	return answer(s, PSS_PID, &v, sizeof(v));
}

/* SIGKILL to the worker from a child that is the worker's user (the
 * spawner may not signal another user), then both reaped. Returns the
 * worker's wait status. */
static int
worker_kill(struct spawner *s)
{
	int	status = 0;
	pid_t	k;

	if ((k = fork()) == 0) {
		if (setresuid(s->uid, s->uid, s->uid) < 0 ||
		    kill(s->worker, SIGKILL) < 0)
			_exit(1);
		_exit(0);
	}
	while (k > 0 && waitpid(k, NULL, 0) < 0 && errno == EINTR)
		;
	while (waitpid(s->worker, &status, 0) < 0 && errno == EINTR)
		;
	s->worker = 0;
	return status;
}

static int
on_end(struct spawner *s, const struct ipc_msg *m)
{
	uint32_t	pid;
	int32_t		out[2];

	memcpy(&pid, m->data, sizeof(pid));
	if (s->nfds || (pid_t)pid != s->worker)
		return -BW_E_INVALID;
	out[1] = worker_kill(s);
	out[0] = (int32_t)pid;
	return answer(s, PSS_EXIT, out, sizeof(out));
}

/* One recvmsg: the bytes into IN, descriptors into S->fds (more than a
 * request may carry is a refusal). Returns bytes read, 0 at the end. */
static ssize_t
recv_some(struct spawner *s, struct bw_buf *in, char **ret_err)
{
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(IPC_FDS_MAX * sizeof(int))];
	}		 cm;
	struct iovec	 iov;
	struct msghdr	 mh = { 0 };
	struct cmsghdr	*ch;
	long		 room;
	ssize_t		 n;

	if ((room = bw_buf_room(in, 4096)) < 0)
		return errf((int)room, ret_err, "request too long");
	iov = (struct iovec){ in->p + in->len, (size_t)room };
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof(cm.b);
	while ((n = recvmsg(s->sock, &mh, MSG_CMSG_CLOEXEC)) < 0 &&
	    errno == EINTR)
		;
	if (n < 0)
		return errf(-errno, ret_err, "recvmsg: %s", strerror(errno));
	for (ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch)) {
		size_t k = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(ch) + i * sizeof(int), sizeof(fd));
			if (ch->cmsg_level == SOL_SOCKET &&
			    ch->cmsg_type == SCM_RIGHTS && s->nfds < IPC_FDS_MAX)
				s->fds[s->nfds++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		return errf(-BW_E_INVALID, ret_err, "too many descriptors");
	bw_buf_advance(in, (size_t)n);
	return n;
}

static int
on_request(struct spawner *s, const struct ipc_msg *m)
{
	return m->type == PSS_SPAWN ? on_spawn(s) : on_end(s, m);
}

static uint64_t
monotonic_s(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec;
}

/* Reads and answers requests until the parent goes or breaks the
 * table. Returns 0 at the parent's end, a negative error otherwise. */
static int
serve(struct spawner *s, char **ret_err)
{
	struct bw_buf		 in = { .max = IPC_HDR_LEN + 64 };
	const struct ipc_rule	*rule;
	struct ipc_msg		 m;
	size_t			 used;
	ssize_t			 n;
	int			 r = 0;

	while ((n = recv_some(s, &in, ret_err)) > 0) {
		while ((r = ipc_decode((unsigned char *)in.p, in.len, 64, &m,
		    &used, ret_err)) == 1) {
			if ((r = ipc_admit(&s->peer, &m, s->now_s(), &rule,
			    ret_err)) < 0)
				goto out;
			r = s->handle(s, &m);
			if (r < 0) {
				r = errf(r, ret_err, "%s: refused", rule->name);
				goto out;
			}
			bw_buf_consume(&in, used);
		}
		if (r < 0)
			goto out;
	}
	r = n < 0 ? (int)n : ipc_decode_eof(in.len, ret_err);
out:
	bw_buf_done(&in);
	return r;
}

/* The spawner's process: confined, then serving; never returns. */
static void __attribute__((noreturn))
spawner_main(int sock)
{
	struct spawner		 s = { .sock = sock, .handle = on_request,
	    .now_s = monotonic_s };
	struct sandbox_profile	 prof = spawner_sandbox_profile;
	struct sandbox_state	 st;
	_cleanup_free_ char	*err = NULL;
	int			 r;

	(void)prctl(PR_SET_NAME, "bwd-spawner", 0, 0, 0);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	log_init("bulwarkd-spawner", LOG_LVL_INFO);
	if (sock != 3 && (dup2(sock, 3) < 0 || close(sock) < 0))
		_exit(1);
	s.sock = 3;
	(void)close_range(4, ~0U, 0);
	if ((s.exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) < 0) {
		log_error("spawner: /proc/self/exe: %s", strerror(errno));
		_exit(1);
	}
	r = worker_ids(&s, &err);
	prof.child_uid = s.uid;
	prof.child_gid = s.gid;
	if (r < 0 ||
	    (r = ipc_peer_init(&s.peer, pss_rules, ELEMENTSOF(pss_rules))) < 0 ||
	    (r = sandbox_enter(&prof, &st, &err)) < 0) {
		log_error("spawner: %s", err ? err : bw_strerror(r));
		_exit(1);
	}
	if ((r = serve(&s, &err)) < 0)
		log_error("spawner: %s", err ? err : bw_strerror(r));
	if (s.worker > 0)
		(void)worker_kill(&s);
	_exit(r < 0 ? 1 : 0);
}

struct pss_test_ctx {
	pss_test_handler	 handle;
	void			*arg;
};

static int
on_request_test(struct spawner *s, const struct ipc_msg *m)
{
	const struct pss_test_ctx *t = s->test_arg;
	size_t nfds = s->nfds;

	fds_close(s);
	return t->handle(t->arg, m->type, m->data, m->len, nfds);
}

int
pss_serve_test(int sock, uint64_t (*now_s)(void), pss_test_handler handle,
    void *arg, char **ret_err)
{
	struct pss_test_ctx	t = { handle, arg };
	struct spawner		s = { .sock = sock, .handle = on_request_test,
	    .now_s = now_s, .test_arg = &t };
	int			r;

	if ((r = ipc_peer_init(&s.peer, pss_rules, ELEMENTSOF(pss_rules))) < 0)
		return errf(r, ret_err, "spawner: table");
	r = serve(&s, ret_err);
	fds_close(&s);
	ipc_peer_done(&s.peer);
	return r;
}

static bool
may_switch_user(void)
{
	struct __user_cap_header_struct	h = {
		.version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct	d[2] = { { 0 } };

	return syscall(SYS_capget, &h, d) == 0 &&
	    (((uint64_t)d[1].effective << 32 | d[0].effective) & CAPS_ID) ==
	    CAPS_ID;
}

int
pss_start(char **ret_err)
{
	int	sv[2];
	pid_t	pid;

	if (!may_switch_user())
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return errf(-errno, ret_err, "spawner: socketpair: %s",
		    strerror(errno));
	if ((pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return errf(-errno, ret_err, "spawner: fork: %s",
		    strerror(errno));
	}
	if (pid == 0) {
		close(sv[0]);
		spawner_main(sv[1]);
	}
	close(sv[1]);
	pss_sock = sv[0];
	pss_pid = pid;
	return sandbox_caps_drop(CAPS_ID | 1ULL << CAP_SETPCAP, ret_err);
}

bool
pss_running(void)
{
	return pss_sock >= 0;
}

int
pss_fd(void)
{
	return pss_sock;
}

pid_t
pss_spawner_pid(void)
{
	return pss_running() ? pss_pid : 0;
}

/* The spawner failed (no answer, a wrong one, gone): it is out of step
 * for good (a late answer would be read as the next one's), so it is
 * killed and the channel closed; the caller exits. Returns R. */
static int
pss_abort(int r)
{
	if (pss_sock < 0)
		return r;
	close(pss_sock);
	pss_sock = -1;
	(void)kill(pss_pid, SIGKILL);
	while (waitpid(pss_pid, NULL, 0) < 0 && errno == EINTR)
		;
	pss_pid = 0;
	return r;
}

static int
read_wait(int fd, void *p, size_t n, char **ret_err)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	char		*q = p;
	ssize_t		 k;

	int		 r;

	while (n) {
		if ((r = poll(&pfd, 1, PSS_ANSWER_MS)) < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errf(-errno, ret_err, "spawner: poll: %s",
			    strerror(errno));
		if (r == 0)
			return errf(-ETIMEDOUT, ret_err, "spawner: no answer");
		if ((k = read(fd, q, n)) < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return errf(k < 0 ? -errno : -EPIPE, ret_err, "spawner: "
			    "%s", k < 0 ? strerror(errno) : "gone");
		q += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The answer to the request just sent: a frame of TYPE with LEN bytes
 * into OUT. */
static int
pss_answer(uint16_t type, void *out, size_t len, char **ret_err)
{
	unsigned char	buf[IPC_HDR_LEN + 8];
	struct ipc_msg	m;
	size_t		used;
	int		r;

	if (len > 8)
		return -BW_E_INVALID;
	if ((r = read_wait(pss_sock, buf, IPC_HDR_LEN + len, ret_err)) < 0)
		return r;
	if ((r = ipc_decode(buf, IPC_HDR_LEN + len, len, &m, &used,
	    ret_err)) < 0)
		return r;
	if (r == 0 || m.type != type || m.len != len)
		return errf(-BW_E_INVALID, ret_err, "spawner: unexpected "
		    "answer of type %u", m.type);
	memcpy(out, m.data, len);
	return 0;
}

int
pss_spawn(int ctl, int sign, int listen, pid_t *ret_pid, char **ret_err)
{
	const int	fds[3] = { ctl, sign, listen };
	int32_t		v;
	int		r;

	if (pss_sock < 0)
		return errf(-ENOTCONN, ret_err, "no spawner");
	if ((r = ipc_send_fds(pss_sock, PSS_SPAWN, 0, NULL, 0, fds, 3)) < 0)
		return pss_abort(errf(r, ret_err, "spawner: %s",
		    bw_strerror(r)));
	if ((r = pss_answer(PSS_PID, &v, sizeof(v), ret_err)) < 0)
		return pss_abort(r);
	if (v <= 0)
		return errf(v < 0 ? v : -BW_E_INVALID, ret_err, "spawner: "
		    "fork: %s", bw_strerror(v));
	*ret_pid = (pid_t)v;
	return 0;
}

int
pss_end(pid_t pid, int *ret_status, char **ret_err)
{
	uint32_t	p = (uint32_t)pid;
	int32_t		out[2];
	int		r;

	if (pss_sock < 0)
		return errf(-ENOTCONN, ret_err, "no spawner");
	if ((r = ipc_send(pss_sock, PSS_END, 0, &p, sizeof(p), -1)) < 0)
		return pss_abort(errf(r, ret_err, "spawner: %s",
		    bw_strerror(r)));
	if ((r = pss_answer(PSS_EXIT, out, sizeof(out), ret_err)) < 0)
		return pss_abort(r);
	if (out[0] != (int32_t)pid)
		return pss_abort(errf(-BW_E_INVALID, ret_err, "spawner: exit "
		    "of pid %d, not %d", (int)out[0], (int)pid));
	*ret_status = out[1];
	return 0;
}

void
pss_stop(void)
{
	if (pss_sock < 0)
		return;
	close(pss_sock);
	pss_sock = -1;
	while (waitpid(pss_pid, NULL, 0) < 0 && errno == EINTR)
		;
	pss_pid = 0;
}
