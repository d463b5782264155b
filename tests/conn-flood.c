/*
 * conn-flood: holds many idle or slow unauthenticated TCP connections to
 * one address, as an attacker who reaches the API port would (issue 13,
 * defect 3). Every slot keeps a connection: odd slots send nothing, even
 * slots dribble one byte of a TLS record header every --slow seconds.
 * A connection the server closes is reopened, at most --rate per second
 * over all slots, so the flood stays bounded.
 *
 * conn-flood --connect ADDR:PORT [--conns N] [--rate R] [--slow S]
 *            [--sources K] [--duration SECS] [--status FILE]
 *
 * With --sources K > 1, slot i connects from 127.0.0.(2 + i % K): K
 * sources on loopback, none of them 127.0.0.1.
 *
 * Once a second the counts go to FILE (one line, replaced) and at the
 * end to stdout: established now, most established at once, opened,
 * closed by the server.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"

struct slot {
	int		fd;
	int		connected;
	unsigned	sent;
	double		next_byte;
};

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: conn-flood --connect ADDR:PORT [--conns N] "
	    "[--rate R] [--slow S] [--sources K] [--duration SECS] "
	    "[--status FILE]\n");
	exit(2);
}

/* A TLS handshake record header announcing 16 KiB, then zeros: the
 * server waits for the rest of a record that never completes. */
static const unsigned char dribble[] = { 0x16, 0x03, 0x01, 0x40, 0x00 };

int
main(int argc, char **argv)
{
	struct sockaddr_in	 sa = { .sin_family = AF_INET };
	struct epoll_event	 ev, evs[256];
	struct rlimit		 rl;
	struct slot		*slots;
	const char		*status = NULL;
	char			 host[64], *colon;
	unsigned		 conns = 2000, rate = 1000, sources = 1, i;
	double			 slow = 5, duration = 20, start, last_status = 0,
				 tokens = 0, last_tick;
	unsigned long		 opened = 0, closed = 0, established = 0,
				 max_established = 0;
	int			 ep, n, k;

	for (k = 1; k < argc; k++) {
		if (k + 1 >= argc)
			usage();
		if (strcmp(argv[k], "--connect") == 0) {
			snprintf(host, sizeof(host), "%s", argv[++k]);
			if (!(colon = strrchr(host, ':')))
				usage();
			*colon = '\0';
			sa.sin_port = htons((unsigned short)atoi(colon + 1));
			if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
				usage();
		} else if (strcmp(argv[k], "--conns") == 0)
			conns = (unsigned)strtoul(argv[++k], NULL, 10);
		else if (strcmp(argv[k], "--rate") == 0)
			rate = (unsigned)strtoul(argv[++k], NULL, 10);
		else if (strcmp(argv[k], "--sources") == 0)
			sources = (unsigned)strtoul(argv[++k], NULL, 10);
		else if (strcmp(argv[k], "--slow") == 0)
			slow = strtod(argv[++k], NULL);
		else if (strcmp(argv[k], "--duration") == 0)
			duration = strtod(argv[++k], NULL);
		else if (strcmp(argv[k], "--status") == 0)
			status = argv[++k];
		else
			usage();
	}
	if (!sa.sin_port || conns == 0 || rate == 0 || sources == 0 ||
	    sources > 250)
		usage();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < conns + 64) {
		rl.rlim_cur = conns + 64;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			perror("setrlimit");
			return 1;
		}
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	if (!(slots = calloc(conns, sizeof(*slots))) ||
	    (ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		perror("conn-flood");
		return 1;
	}
	for (i = 0; i < conns; i++)
		slots[i].fd = -1;
	start = last_tick = bw_mono_s();
	while (!stop && bw_mono_s() - start < duration) {
		double t = bw_mono_s();

		/* token bucket: at most RATE new connections a second */
		tokens += (t - last_tick) * rate;
		if (tokens > rate / 10.0 + 1)
			tokens = rate / 10.0 + 1;
		last_tick = t;
		for (i = 0; i < conns && tokens >= 1; i++) {
			int fd;

			if (slots[i].fd >= 0)
				continue;
			fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
			    SOCK_CLOEXEC, 0);
			if (fd < 0)
				break;
			if (sources > 1) {
				struct sockaddr_in from = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(0x7f000002u +
				    i % sources) };

				if (bind(fd, (struct sockaddr *)&from,
				    sizeof(from)) < 0) {
					close(fd);
					break;
				}
			}
			if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
			    errno != EINPROGRESS) {
				close(fd);
				break;
			}
			tokens -= 1;
			opened++;
			slots[i] = (struct slot){ .fd = fd, .next_byte = t + slow };
			ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
			ev.data.u32 = i;
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		}
		n = epoll_wait(ep, evs, 256, 10);
		for (k = 0; k < n; k++) {
			struct slot	*s = &slots[evs[k].data.u32];
			char		 buf[512];
			int		 err = 0;
			socklen_t	 el = sizeof(err);

			if (s->fd < 0)
				continue;
			if (!s->connected && (evs[k].events & EPOLLOUT)) {
				getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (!err) {
					s->connected = 1;
					established++;
					if (established > max_established)
						max_established = established;
					ev.events = EPOLLIN | EPOLLRDHUP;
					ev.data.u32 = evs[k].data.u32;
					epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
				}
			}
			if (err || (evs[k].events & (EPOLLIN | EPOLLRDHUP |
			    EPOLLHUP | EPOLLERR))) {
				ssize_t r = err ? -1 : read(s->fd, buf, sizeof(buf));

				if (r > 0)
					continue;
				if (r < 0 && !err && errno == EAGAIN)
					continue;
				if (s->connected) {
					established--;
					closed++;
				}
				close(s->fd);
				s->fd = -1;
				s->connected = 0;
			}
		}
		t = bw_mono_s();
		for (i = 0; i < conns; i++) {
			struct slot *s = &slots[i];

			if (s->fd < 0 || !s->connected || (i & 1) ||
			    t < s->next_byte)
				continue;
			{
				unsigned char b = s->sent < sizeof(dribble) ?
				    dribble[s->sent] : 0;

				if (write(s->fd, &b, 1) == 1)
					s->sent++;
			}
			s->next_byte = t + slow;
		}
		if (status && t - last_status >= 1) {
			char	 tmp[4096];
			FILE	*f;

			snprintf(tmp, sizeof(tmp), "%s.tmp", status);
			if ((f = fopen(tmp, "w"))) {
				fprintf(f, "established=%lu max_established=%lu "
				    "opened=%lu server_closed=%lu\n", established,
				    max_established, opened, closed);
				fclose(f);
				rename(tmp, status);
			}
			last_status = t;
		}
	}
	printf("conn-flood: established=%lu max_established=%lu opened=%lu "
	    "server_closed=%lu\n", established, max_established, opened, closed);
	for (i = 0; i < conns; i++)
		if (slots[i].fd >= 0)
			close(slots[i].fd);
	free(slots);
	close(ep);
	return 0;
}
