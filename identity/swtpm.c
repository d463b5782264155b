#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "identity/swtpm.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"

#define SWTPM_START_TIMEOUT_MS	5000
#define SWTPM_STOP_TIMEOUT_MS	2000
#define SWTPM_CMD_GET_CAPABILITY	1

struct swtpm {
	pid_t	 pid;
	int	 port;
	int	 ctrl_port;
	char	 tcti[64];
};

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Asks the kernel for a free loopback port. Another process can take it
 * before swtpm binds; swtpm_start() then retries with new ports. */
static int
bind_port(int port)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	return ntohs(sa.sin_port);
}

/* The swtpm TCTI expects the control channel on the server port + 1, so
 * look for a free pair. */
static int
free_port_pair(void)
{
	int i, p;

	for (i = 0; i < 32; i++) {
		p = bind_port(0);
		if (p < 0)
			return p;
		if (p < 65535 && bind_port(p + 1) == p + 1)
			return p;
	}
	return -EADDRINUSE;
}

static int
connect_port(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* Sends CMD to loopback PORT and reads exactly RESP_LEN bytes of answer,
 * each read within TIMEOUT_MS. Returns 0 or a negative errno. */
static int
port_roundtrip(int port, const unsigned char *cmd, size_t cmd_len,
    unsigned char *resp, size_t resp_len, int timeout_ms)
{
	_cleanup_close_ int fd = -1;
	struct pollfd pfd;
	size_t got = 0;
	ssize_t n;

	fd = connect_port(port);
	if (fd < 0)
		return fd;
	if (write_all(fd, cmd, cmd_len) < 0)
		return -EIO;
	while (got < resp_len) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		n = read(fd, resp + got, resp_len - got);
		if (n <= 0)
			return -EIO;
		got += n;
	}
	return 0;
}

/* One control-channel round trip: CMD_GET_CAPABILITY answers with a
 * 4-byte result code (0) and 4 bytes of capability flags. */
static int
ctrl_ping(int ctrl_port)
{
	static const unsigned char cmd[4] = { 0, 0, 0,
	    SWTPM_CMD_GET_CAPABILITY };
	unsigned char resp[8];
	int r;

	r = port_roundtrip(ctrl_port, cmd, sizeof(cmd), resp, sizeof(resp),
	    1000);
	if (r < 0)
		return r;
	if (resp[0] | resp[1] | resp[2] | resp[3])
		return -EIO;
	return 0;
}

static _noreturn_ void
child_exec(const char *dir, int port, int ctrl_port, int logfd)
{
	char state[4200], server[96], ctrl[96];
	int nullfd;

	/* Never outlive the parent: an orphaned swtpm is not reaped here. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	nullfd = open("/dev/null", O_RDWR);
	if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(nullfd, 1) < 0 ||
	    dup2(logfd, 2) < 0)
		_exit(127);
	closefrom(3);
	snprintf(state, sizeof(state), "dir=%s", dir);
	snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1",
	    port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1",
	    ctrl_port);
	execl(SWTPM_BINARY, "swtpm", "socket", "--tpm2", "--tpmstate", state,
	    "--server", server, "--ctrl", ctrl, "--flags",
	    "not-need-init,startup-clear", (char *)NULL);
	_exit(127);
}

static int
reap(pid_t pid, long timeout_ms, int *ret_status)
{
	long end = bw_mono_ms() + timeout_ms;
	pid_t w;

	for (;;) {
		w = waitpid(pid, ret_status, WNOHANG);
		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (bw_mono_ms() >= end)
			return -ETIMEDOUT;
		sleep_ms(10);
	}
}

static int
start_once(const char *dir, int logfd, struct swtpm *s, char **ret_err)
{
	long deadline;
	int status = 0, r;

	s->port = free_port_pair();
	if (s->port < 0)
		return s->port;
	s->ctrl_port = s->port + 1;
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0)
		child_exec(dir, s->port, s->ctrl_port, logfd);

	deadline = bw_mono_ms() + SWTPM_START_TIMEOUT_MS;
	for (;;) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			/* Most likely a port taken between our probe and its
			 * bind; the caller retries with fresh ports. */
			return errf(-EAGAIN, ret_err,
			    "swtpm exited (status 0x%x) before answering; see "
			    "%s/swtpm.log", status, dir);
		}
		if (ctrl_ping(s->ctrl_port) == 0 && (r = connect_port(s->port)) >= 0) {
			close(r);
			break;
		}
		if (bw_mono_ms() >= deadline) {
			kill(s->pid, SIGKILL);
			(void)reap(s->pid, SWTPM_STOP_TIMEOUT_MS, &status);
			s->pid = 0;
			return errf(-BW_E_UNAVAILABLE, ret_err,
			    "swtpm did not answer within %d ms; see %s/swtpm.log",
			    SWTPM_START_TIMEOUT_MS, dir);
		}
		sleep_ms(10);
	}
	snprintf(s->tcti, sizeof(s->tcti), "swtpm:host=127.0.0.1,port=%d",
	    s->port);
	return 0;
}

int
swtpm_start(const char *state_dir, struct swtpm **ret_swtpm, char **ret_err)
{
	_cleanup_free_ struct swtpm *s = NULL;
	_cleanup_free_ char *logpath = NULL;
	_cleanup_close_ int logfd = -1;
	int attempt, r = -EAGAIN;

	if (!state_dir || !*state_dir || strlen(state_dir) > 4000)
		return errf(-EINVAL, ret_err, "swtpm: state directory invalid");
	if (access(SWTPM_BINARY, X_OK) < 0)
		return errf(-BW_E_UNAVAILABLE, ret_err,
		    "swtpm: %s not found (install the Debian package swtpm)",
		    SWTPM_BINARY);
	if ((r = mkdir_p(state_dir, 0700)) < 0)
		return errf(r, ret_err, "swtpm: cannot create %s: %s", state_dir,
		    bw_strerror(r));
	if (asprintf(&logpath, "%s/swtpm.log", state_dir) < 0)
		return -ENOMEM;
	logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (logfd < 0)
		return errf(-errno, ret_err, "swtpm: cannot open %s: %m", logpath);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (attempt = 0; attempt < 5; attempt++) {
		char *err = NULL;

		r = start_once(state_dir, logfd, s, &err);
		if (r != -EAGAIN) {
			if (r < 0 && ret_err)
				*ret_err = err;
			else
				free(err);
			break;
		}
		if (attempt == 4 && ret_err)
			*ret_err = err;
		else
			free(err);
	}
	if (r < 0)
		return r;
	*ret_swtpm = TAKE_PTR(s);
	return 0;
}

const char *
swtpm_tcti(const struct swtpm *s)
{
	return s->tcti;
}

pid_t
swtpm_pid(const struct swtpm *s)
{
	return s->pid;
}

/* TPM2_Shutdown(TPM2_SU_STATE) on the command port, as raw bytes: the
 * 12-byte command (tag TPM_ST_NO_SESSIONS, size, TPM_CC_Shutdown,
 * shutdownType) and its 10-byte response code. Without it the next
 * TPM2_Startup finds a non-orderly stop, and a TPM that had used a key
 * without noDA since its last Startup counts that as one failed
 * authorization toward dictionary-attack lockout. */
static int
tpm_shutdown_raw(int port)
{
	static const unsigned char cmd[12] = { 0x80, 0x01, 0, 0, 0, 12,
	    0, 0, 0x01, 0x45, 0, 0x01 };
	unsigned char resp[10];
	int r;

	r = port_roundtrip(port, cmd, sizeof(cmd), resp, sizeof(resp),
	    SWTPM_STOP_TIMEOUT_MS);
	if (r < 0)
		return r;
	return (resp[6] | resp[7] | resp[8] | resp[9]) ? -EPROTO : 0;
}

int
swtpm_stop(struct swtpm *s)
{
	int status = 0, r;

	if (!s)
		return 0;
	if (s->pid > 0) {
		/* Best effort: a TPM that cannot take it (no answer, a client
		 * still connected) is stopped anyway. */
		(void)tpm_shutdown_raw(s->port);
		kill(s->pid, SIGTERM);
		r = reap(s->pid, SWTPM_STOP_TIMEOUT_MS, &status);
		if (r == -ETIMEDOUT) {
			kill(s->pid, SIGKILL);
			do
				r = waitpid(s->pid, &status, 0) < 0 ? -errno : 0;
			while (r == -EINTR);
		}
		if (r < 0) {
			free(s);
			return r;
		}
	}
	free(s);
	return status;
}
