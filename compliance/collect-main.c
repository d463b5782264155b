/* bulwark-collect: the compliance scan's privileged read-only collector
 * (bulwark-collect(8)). systemd starts one per connection to
 * bulwark-collect.socket, the connection on standard input; it reads
 * the one fixed request (compliance/collect-proto.h), runs the checks
 * that read root-only host files (comp_collect_checks[]) on ROOT, writes
 * their results and exits. The client names no file: what is read is
 * compiled in. Nothing secret leaves: the observations are those the
 * checks print (names, counts, algorithms, settings). */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "compliance/check.h"
#include "compliance/collect.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "lib/opt-help.h"

#define EXIT_USAGE		2
#define COLLECT_REQUEST_MS	10000	/* the request must come this soon */
#define COLLECT_SEND_S		30	/* a client that does not read */

static const struct opt_help options[] = {
	{ "root", 'r', "DIR", "the root directory of the system to read "
	  "(default /; tests use a prepared tree)" },
	{ "help", 'h', NULL, "this text" },
	{ "version", 'V', NULL, "print the version" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: bulwark-collect [--root DIR]\n"
	    "Answers one compliance collector request on standard input (a "
	    "connected\nUNIX socket, as bulwark-collect@.service passes it) "
	    "and exits.\n\n");
	opt_help_print(f, options, ELEMENTSOF(options));
	fprintf(f, "\nExit status: 0 answered; 1 refused or failed; 2 usage.\n");
}

/* Reads the request: exactly one header, within COLLECT_REQUEST_MS. */
static int
collect_read_request(int fd, char **ret_err)
{
	unsigned char buf[COMP_COLLECT_HDR_LEN + 1];
	int64_t deadline = bw_mono_ms() + COLLECT_REQUEST_MS;
	size_t got = 0;
	ssize_t n;

	while (got < COMP_COLLECT_HDR_LEN) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - bw_mono_ms();

		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			return errf(-ETIMEDOUT, ret_err, "no request within %d "
			    "ms", COLLECT_REQUEST_MS);
		n = recv(fd, buf + got, COMP_COLLECT_HDR_LEN - got,
		    MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return errf(-errno, ret_err, "reading the request: %s",
			    strerror(errno));
		if (n == 0)
			return errf(-BW_E_INVALID, ret_err, "request cut short "
			    "at %zu bytes", got);
		got += (size_t)n;
	}
	/* Bytes past the request are refused, not ignored. */
	n = recv(fd, buf + got, 1, MSG_DONTWAIT | MSG_PEEK);
	if (n > 0)
		got++;
	return comp_collect_request_check(buf, got, ret_err);
}

static void
collect_log_peer(int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0)
		fprintf(stderr, "bulwark-collect: request from pid %d uid %u "
		    "gid %u\n", (int)uc.pid, (unsigned)uc.uid,
		    (unsigned)uc.gid);
}

int
main(int argc, char **argv)
{
	struct option longopts[ELEMENTSOF(options) + 1];
	_cleanup_free_ unsigned char *answer = NULL;
	_cleanup_free_ char *err = NULL;
	struct comp_ctx ctx = { 0 };
	struct comp_facts facts;
	struct timeval tv = { .tv_sec = COLLECT_SEND_S };
	const char *root = "/";
	size_t len = 0;
	int c, type, r;
	socklen_t tl = sizeof(type);

	opt_help_longopts(options, ELEMENTSOF(options), longopts);
	while ((c = getopt_long(argc, argv, "r:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			root = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("bulwark-collect %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (getsockopt(STDIN_FILENO, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    type != SOCK_STREAM) {
		fprintf(stderr, "bulwark-collect: standard input is not a "
		    "connected stream socket (run by bulwark-collect.socket)\n");
		return EXIT_USAGE;
	}
	/* A client gone before the answer is an error, not a kill. */
	signal(SIGPIPE, SIG_IGN);
	/* What the unit sets too, for a start by hand. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		fprintf(stderr, "bulwark-collect: no_new_privs: %s\n",
		    strerror(errno));
		return 1;
	}
	collect_log_peer(STDIN_FILENO);
	if ((r = collect_read_request(STDIN_FILENO, &err)) < 0) {
		fprintf(stderr, "bulwark-collect: request refused: %s\n", err);
		return 1;
	}
	comp_facts_init(&facts);
	facts.scanner_euid = (int)geteuid();
	if ((r = comp_ctx_open(&ctx, root, &facts, NULL, 0)) < 0) {
		fprintf(stderr, "bulwark-collect: %s: %s\n", root,
		    bw_strerror(r));
		return 1;
	}
	r = comp_collect_answer_build(&ctx, &answer, &len);
	comp_ctx_done(&ctx);
	if (r < 0) {
		fprintf(stderr, "bulwark-collect: %s\n", bw_strerror(r));
		return 1;
	}
	(void)setsockopt(STDIN_FILENO, SOL_SOCKET, SO_SNDTIMEO, &tv,
	    sizeof(tv));
	if ((r = write_all(STDIN_FILENO, answer, len)) < 0) {
		fprintf(stderr, "bulwark-collect: sending the answer: %s\n",
		    bw_strerror(r));
		return 1;
	}
	/* The end of the answer, said at once (bulwarkd stops reading at
	 * the announced length anyway). */
	if (shutdown(STDIN_FILENO, SHUT_WR) < 0)
		fprintf(stderr, "bulwark-collect: shutdown: %s\n",
		    strerror(errno));
	fprintf(stderr, "bulwark-collect: answered (%zu bytes)\n", len);
	return 0;
}
