#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/param.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "hardening/crypto-policy.h"
#include "hardening/worker-sandbox.h"
#include "identity/tpm-pkey.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "privsep/ipc.h"
#include "privsep/worker-proto.h"
#include "privsep/worker.h"

/* Relayed bytes waiting in one direction before the other side stops
 * reading: backpressure both ways. */
#define RELAY_HIGH	(256 * 1024)
#define RELAY_LOW	(64 * 1024)
#define RELAY_PULLUP	(16 * 1024)
#define FDQ_MAX		64
/* Events of connections that never reached HTTP are counted per
 * (action, source, reason): the first of a key is sent at once, the
 * rest once a second, so a flood costs the parent at most
 * 2 * ANON_KEYS + 1 frames a second. */
#define ANON_KEYS	15

struct anon_slot {
	char		action[32];
	char		source[INET6_ADDRSTRLEN];
	char		reason[128];
	uint32_t	n;
};

enum wc_state { WC_HANDSHAKE, WC_WAIT, WC_RELAY };

/* One end of a relayed connection: its socket, its events (each added
 * only while needed: bit EV_READ/EV_WRITE of ON), and the bytes queued
 * to be written to it. */
struct wside {
	int			 fd;
	short			 on;
	struct event		*rev, *wev;
	struct evbuffer		*out;
};

struct wconn {
	struct worker		*w;
	uint32_t		 id;
	enum wc_state		 st;
	int			 closing;
	SSL			*ssl;
	/* the client's side, the parent's side (fd -1 until CONN_OK) */
	struct wside		 tls, plain;
	/* a side ended or failed; a side not read while the other's
	 * queue is full; what OpenSSL's last calls wait for */
	bool			 tls_gone, plain_gone, tls_held, plain_held;
	short			 hs_wants, rd_wants, wr_wants;
	struct event		*deadline;
	char			 peer[PSW_PEER_MAX];
	char			 source[INET6_ADDRSTRLEN];
	TAILQ_ENTRY(wconn)	 entry;
};

struct worker {
	struct event_base	*base;
	struct evconnlistener	*lis;
	struct event		*ctl_ev;
	SSL_CTX			*ctx;
	struct psw_cert		 limits;
	struct bw_buf		 in;
	int			 fdq[FDQ_MAX];
	size_t			 nfdq;
	uint32_t		 next_id;
	unsigned		 nhs;
	TAILQ_HEAD(, wconn)	 conns;
	struct anon_slot	 anon[ANON_KEYS + 1];
	size_t			 nanon;
	struct event		*anon_ev;
};

/* Only the test hooks write raw bytes to the control channel. */
#ifdef BW_TEST_HOOKS
static int
write_wait(int fd, const void *p, size_t n)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLOUT };
	const char	*q = p;
	ssize_t		 k;

	while (n) {
		if ((k = write(fd, q, n)) >= 0) {
			q += k;
			n -= (size_t)k;
		} else if (errno == EAGAIN)
			(void)poll(&pfd, 1, 1000);
		else if (errno != EINTR)
			return -errno;
	}
	return 0;
}
#endif

static int
send_frame(int fd, uint16_t type, uint32_t id, const void *p, size_t n)
{
	return ipc_send(fd, type, id, p, n, -1);
}

static int
read_full(int fd, void *p, size_t n)
{
	char	*q = p;
	ssize_t	 k;

	while (n) {
		if ((k = read(fd, q, n)) < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EPIPE;
		q += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The key's sign hook: one SIGN frame to the parent, then its answer.
 * Blocks the worker for the parent's TPM signature (a few ms). */
struct sign_ctx {
	uint32_t	generation;
};

static int
sign_via_parent(void *arg, const unsigned char *digest, size_t dlen,
    unsigned char **ret_sig, size_t *ret_siglen)
{
	struct sign_ctx		*sc = arg;
	unsigned char		 req[4 + 64], hdr[IPC_HDR_LEN];
	_cleanup_free_ char	*err = NULL;
	struct ipc_msg		 m;
	size_t			 total = 0, used;
	unsigned char		*buf;
	int			 r;

	if (dlen > 64)
		return -BW_E_INVALID;
	memcpy(req, &sc->generation, 4);
	memcpy(req + 4, digest, dlen);
	if ((r = send_frame(PSW_FD_SIGN, PSW_SIGN, 0, req, 4 + dlen)) < 0 ||
	    (r = read_full(PSW_FD_SIGN, hdr, sizeof(hdr))) < 0)
		return r;
	if ((r = ipc_frame_size(hdr, sizeof(hdr), 1024, &total, &err)) <= 0)
		return r < 0 ? r : -BW_E_INVALID;
	if (!(buf = malloc(total)))
		return -ENOMEM;
	memcpy(buf, hdr, sizeof(hdr));
	if ((r = read_full(PSW_FD_SIGN, buf + sizeof(hdr),
	    total - sizeof(hdr))) < 0 ||
	    (r = ipc_decode(buf, total, 1024, &m, &used, &err)) != 1 ||
	    m.type != PSW_SIG || m.len == 0) {
		free(buf);
		return r < 0 ? r : -BW_E_CRYPTO;
	}
	memmove(buf, m.data, m.len);
	*ret_sig = buf;
	*ret_siglen = m.len;
	return 0;
}

/* One ANON frame: the count, then "action\0source\0reason". */
static void
anon_send(uint32_t count, const char *action, const char *source,
    const char *reason)
{
	char	msg[PSW_ANON_MAX];
	int	n;

	memcpy(msg, &count, sizeof(count));
	n = snprintf(msg + 4, sizeof(msg) - 4, "%s%c%s%c%s", action, 0,
	    source, 0, reason);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg) - 4)
		n = sizeof(msg) - 5;
	(void)send_frame(PSW_FD_CTL, PSW_ANON, 0, msg, (size_t)n + 4);
}

static void
anon(struct worker *w, const char *action, const char *source,
    const char *reason)
{
	struct anon_slot	*a;
	size_t			 i;

	for (i = 0; i < w->nanon; i++) {
		a = &w->anon[i];
		if (strcmp(a->action, action) == 0 &&
		    strcmp(a->source, source) == 0 &&
		    strcmp(a->reason, reason) == 0) {
			a->n++;
			return;
		}
	}
	/* A new key is sent at once (as the parent records the first of a
	 * key at once), the rest as counts by the next flush; past
	 * ANON_KEYS keys one more slot gathers everything else. */
	if (w->nanon < ANON_KEYS) {
		a = &w->anon[w->nanon++];
		snprintf(a->action, sizeof(a->action), "%s", action);
		snprintf(a->source, sizeof(a->source), "%s", source);
		snprintf(a->reason, sizeof(a->reason), "%s", reason);
		a->n = 0;
		anon_send(1, action, source, reason);
		return;
	}
	a = &w->anon[ANON_KEYS];
	if (a->n == 0) {
		snprintf(a->action, sizeof(a->action), "%s", action);
		snprintf(a->source, sizeof(a->source), "other");
		snprintf(a->reason, sizeof(a->reason), "%s", reason);
	}
	a->n++;
}

static void
anon_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i <= ANON_KEYS; i++) {
		struct anon_slot *a = &w->anon[i];

		if (a->n)
			anon_send(a->n, a->action, a->source, a->reason);
		a->n = 0;
	}
	w->nanon = 0;
}

static void
send_conn(struct wconn *c)
{
	struct psw_conn	 h = { 0 };
	struct bw_buf	 b = { 0 };
	SSL		*ssl = c->ssl;
	X509		*peer = SSL_get0_peer_certificate(ssl);
	unsigned char	*der = NULL;
	int		 dl = 0;

	if (peer && SSL_get_verify_result(ssl) == X509_V_OK &&
	    (dl = i2d_X509(peer, &der)) < 0)
		dl = 0;
	if (dl > PSW_DER_MAX)
		dl = 0;
	h.peer_len = (uint16_t)strlen(c->peer);
	if (bw_buf_append(&b, &h, sizeof(h)) < 0 ||
	    bw_buf_append(&b, c->peer, h.peer_len) < 0 ||
	    (dl && bw_buf_append(&b, der, (size_t)dl) < 0) ||
	    send_frame(PSW_FD_CTL, PSW_CONN, c->id, b.p, b.len) < 0)
		log_warn("worker: reporting a connection failed");
	OPENSSL_free(der);
	bw_buf_done(&b);
}

static void
side_done(struct wside *s)
{
	struct event *evs[] = { s->rev, s->wev };

	for (size_t i = 0; i < ELEMENTSOF(evs); i++)
		if (evs[i])
			event_free(evs[i]);
	if (s->out)
		evbuffer_free(s->out);
	if (s->fd >= 0)
		close(s->fd);
	s->rev = s->wev = NULL;
	s->out = NULL;
	s->fd = -1;
}

static int
side_init(struct wside *s, struct event_base *base, int fd,
    event_callback_fn cb, void *arg)
{
	s->fd = fd;
	s->on = 0;
	if (!(s->rev = event_new(base, fd, EV_READ | EV_PERSIST, cb, arg)) ||
	    !(s->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, cb, arg)) ||
	    (!s->out && !(s->out = evbuffer_new())))
		return -ENOMEM;
	return 0;
}

/* Watches S for WHAT (EV_READ or EV_WRITE) or not; epoll is told only
 * of changes. */
static void
side_watch(struct wside *s, short what, bool on)
{
	if (!!(s->on & what) == on || !s->rev)
		return;
	if (on)
		(void)event_add(what == EV_READ ? s->rev : s->wev, NULL);
	else
		(void)event_del(what == EV_READ ? s->rev : s->wev);
	s->on = (short)(on ? s->on | what : s->on & ~what);
}

static void
conn_free(struct wconn *c)
{
	struct worker *w = c->w;

	TAILQ_REMOVE(&w->conns, c, entry);
	if (c->st == WC_HANDSHAKE && w->nhs > 0)
		w->nhs--;
	if (c->deadline)
		event_free(c->deadline);
	/* no close_notify: the connection ends as it did under libevent's
	 * bufferevent_openssl */
	SSL_free(c->ssl);
	side_done(&c->tls);
	side_done(&c->plain);
	free(c);
}

/* What an SSL call that returned R waits for: EV_READ or EV_WRITE (a
 * read may need to write a post-handshake message, a write to read),
 * or 0 when the connection ended or failed. */
static short
tls_wants(SSL *ssl, int r)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return EV_READ;
	case SSL_ERROR_WANT_WRITE:
		return EV_WRITE;
	case SSL_ERROR_SSL:
	case SSL_ERROR_SYSCALL:
		/* only a real failure queues errors; they are not left for
		 * the next OpenSSL user (a WANT_* queued none, and clearing
		 * then cost a call on every request's last read) */
		ERR_clear_error();
		return 0;
	default:
		return 0;
	}
}

/* Reads what the client sent, decrypted, onto the parent's queue until
 * OpenSSL holds nothing more (with read-ahead one read takes in what
 * the socket had) or the queue is full. */
static void
tls_fill(struct wconn *c)
{
	struct evbuffer_iovec	 v;
	int			 r;

	c->rd_wants = 0;
	while (!c->tls_gone && evbuffer_get_length(c->plain.out) < RELAY_HIGH) {
		if (evbuffer_reserve_space(c->plain.out, RELAY_PULLUP, &v,
		    1) < 1)
			break;
		ERR_clear_error();
		r = SSL_read(c->ssl, v.iov_base, (int)MIN(v.iov_len,
		    (size_t)INT_MAX));
		if (r > 0) {
			v.iov_len = (size_t)r;
			(void)evbuffer_commit_space(c->plain.out, &v, 1);
			if (!SSL_has_pending(c->ssl))
				break;
			continue;
		}
		if (!(c->rd_wants = tls_wants(c->ssl, r)))
			c->tls_gone = true;
		break;
	}
}

/* Writes the parent's answers to the client, a small answer in one
 * record: at once, the socket is watched only while a remainder waits. */
static void
tls_flush(struct wconn *c)
{
	struct evbuffer_iovec	 v;
	size_t			 len;
	int			 r;

	c->wr_wants = 0;
	while (!c->tls_gone && (len = evbuffer_get_length(c->tls.out)) > 0) {
		(void)evbuffer_pullup(c->tls.out, (ssize_t)MIN(len,
		    (size_t)RELAY_PULLUP));
		if (evbuffer_peek(c->tls.out, -1, NULL, &v, 1) < 1)
			break;
		ERR_clear_error();
		r = SSL_write(c->ssl, v.iov_base, (int)MIN(v.iov_len,
		    (size_t)INT_MAX));
		if (r > 0) {
			(void)evbuffer_drain(c->tls.out, (size_t)r);
			continue;
		}
		if (!(c->wr_wants = tls_wants(c->ssl, r)))
			c->tls_gone = true;
		break;
	}
}

/* Toward the parent the stream is written at once too. */
static void
plain_flush(struct wconn *c)
{
	if (c->plain.fd < 0 || c->plain_gone ||
	    evbuffer_get_length(c->plain.out) == 0)
		return;
	if (evbuffer_write(c->plain.out, c->plain.fd) < 0 &&
	    errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		c->plain_gone = true;
}

/* Reads the parent's answers onto the client's queue: read() into the
 * buffer, without the FIONREAD that evbuffer_read() asks first. */
static void
plain_fill(struct wconn *c)
{
	struct evbuffer_iovec	 v;
	ssize_t			 n;

	while (!c->plain_gone && evbuffer_get_length(c->tls.out) < RELAY_HIGH) {
		if (evbuffer_reserve_space(c->tls.out, RELAY_PULLUP, &v,
		    1) < 1)
			break;
		n = read(c->plain.fd, v.iov_base, v.iov_len);
		if (n > 0) {
			bool more = (size_t)n == v.iov_len;

			v.iov_len = (size_t)n;
			(void)evbuffer_commit_space(c->tls.out, &v, 1);
			if (!more)
				break;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR))
			c->plain_gone = true;
		break;
	}
}

/* After any I/O: ends the connection once a side is gone and the other
 * has got what was queued for it (what a client sent before it closed
 * still reaches the parent), and watches each socket for what it waits
 * for, reading each side only while the other's queue is below
 * RELAY_HIGH (again once it is below RELAY_LOW). */
static void
conn_settle(struct wconn *c)
{
	size_t	to_plain = evbuffer_get_length(c->plain.out);
	size_t	to_tls = evbuffer_get_length(c->tls.out);
	bool	held, wake = false, want_write;

	if (c->tls_gone || c->plain_gone) {
		if (c->st != WC_RELAY || (c->tls_gone && (c->plain_gone ||
		    to_plain == 0)) || (c->plain_gone && (c->tls_gone ||
		    to_tls == 0))) {
			conn_free(c);
			return;
		}
		c->closing = 1;
	}
	/* the fills stop at RELAY_HIGH: a queue that reached it is held */
	if (to_plain >= RELAY_HIGH)
		c->tls_held = true;
	else if (to_plain <= RELAY_LOW && c->tls_held) {
		c->tls_held = false;
		wake = true;
	}
	if (to_tls >= RELAY_HIGH)
		c->plain_held = true;
	else if (to_tls <= RELAY_LOW)
		c->plain_held = false;
	held = c->closing || c->tls_held;
	/* while OpenSSL waits to write, the client's bytes wait too (a
	 * readable socket would wake the loop for nothing) */
	want_write = c->rd_wants == EV_WRITE || c->hs_wants == EV_WRITE;
	side_watch(&c->tls, EV_READ, (!held && !c->tls_gone && !want_write) ||
	    c->wr_wants == EV_READ);
	side_watch(&c->tls, EV_WRITE, !c->tls_gone &&
	    ((c->rd_wants == EV_WRITE && !held) || c->wr_wants == EV_WRITE ||
	    c->hs_wants == EV_WRITE));
	/* OpenSSL may hold decrypted bytes the socket will not announce
	 * again. Only once the event is added: libevent does not add an
	 * event that is already active, so activating it first would run
	 * it once and never watch the socket again. */
	if (wake && (c->tls.on & EV_READ) && SSL_has_pending(c->ssl))
		event_active(c->tls.rev, EV_READ, 1);
	if (c->plain.fd < 0)
		return;
	side_watch(&c->plain, EV_READ, !c->closing && !c->plain_held &&
	    !c->plain_gone);
	side_watch(&c->plain, EV_WRITE, !c->plain_gone && to_plain > 0);
}

/* The handshake, until done; then the connection waits for its stream
 * to the parent. Returns true once done. */
static bool
tls_handshake(struct wconn *c)
{
	int r;

	ERR_clear_error();
	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		c->hs_wants = 0;
		c->st = WC_WAIT;
		c->w->nhs--;
		send_conn(c);
		return true;
	}
	/* a failure's alert was reported by the info callback */
	if (!(c->hs_wants = tls_wants(c->ssl, r)))
		c->tls_gone = true;
	return false;
}

/* Either socket is ready: the handshake, else what each side can give
 * and take. */
static void
conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wconn	*c = arg;
	bool		 tls = fd == c->tls.fd;

	if (c->st == WC_HANDSHAKE && !tls_handshake(c)) {
		conn_settle(c);
		return;
	}
	if (!tls && (what & EV_WRITE))
		plain_flush(c);
	if (!tls && (what & EV_READ) && !c->closing)
		plain_fill(c);
	if (evbuffer_get_length(c->tls.out) > 0)
		tls_flush(c);
	if (tls && !c->closing && !c->tls_held && ((what & EV_READ) ||
	    c->rd_wants == EV_WRITE || SSL_has_pending(c->ssl))) {
		tls_fill(c);
		plain_flush(c);
	}
	conn_settle(c);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wconn *c = arg;

	(void)fd;
	(void)what;
	if (c->st == WC_RELAY)
		return;
	anon(c->w, "api.connection_dropped", c->source, "handshake_deadline");
	conn_free(c);
}

/* True when C has sent a whole first TLS record (its ClientHello),
 * read by OpenSSL or still queued in its socket: while a signature
 * holds the loop, a flood's connections pile up and are accepted in
 * one burst after a real client's, before its ClientHello is read.
 * Idle and dribbling connections have not. */
static bool
hello_sent(struct wconn *c)
{
	unsigned char	 h[5];
	int		 fd = c->tls.fd, avail = 0;

	if (SSL_get_state(c->ssl) != TLS_ST_BEFORE)
		return true;
	if (fd < 0 || recv(fd, h, sizeof(h), MSG_PEEK | MSG_DONTWAIT) !=
	    (ssize_t)sizeof(h) || ioctl(fd, FIONREAD, &avail) < 0)
		return false;
	return avail >= (int)sizeof(h) + (h[3] << 8 | h[4]);
}

/* The connection to displace among those still in their handshake (of
 * SOURCE if not NULL): the oldest that has not sent a whole ClientHello,
 * else the oldest (as controlplane/api.c's conn_victim()). */
static struct wconn *
victim(struct worker *w, const char *source)
{
	struct wconn	*c, *oldest = NULL;

	TAILQ_FOREACH(c, &w->conns, entry) {
		if (c->st != WC_HANDSHAKE ||
		    (source && strcmp(c->source, source) != 0))
			continue;
		if (!oldest)
			oldest = c;
		if (!hello_sent(c))
			return c;
	}
	return oldest;
}

/* The limits on connections that have not finished a handshake: per
 * source, then the pool. Returns false when C itself was dropped. */
static bool
limits_admit(struct worker *w, struct wconn *c)
{
	struct wconn	*o, *v;
	unsigned	 n = 0;

	TAILQ_FOREACH(o, &w->conns, entry)
		if (o->st == WC_HANDSHAKE && strcmp(o->source, c->source) == 0)
			n++;
	for (; n > w->limits.per_source && (v = victim(w, c->source)); n--) {
		anon(w, "api.connection_dropped", v->source, "per_source");
		if (v == c) {
			conn_free(c);
			return false;
		}
		conn_free(v);
	}
	while (w->nhs > w->limits.max_unauth && (v = victim(w, NULL))) {
		anon(w, "api.connection_dropped", v->source,
		    "unauthenticated_pool");
		if (v == c) {
			conn_free(c);
			return false;
		}
		conn_free(v);
	}
	return true;
}

static void
peer_text(const struct sockaddr *sa, struct wconn *c)
{
	unsigned port = 0;

	snprintf(c->source, sizeof(c->source), "unknown");
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    c->source, sizeof(c->source));
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
		snprintf(c->peer, sizeof(c->peer), "%s:%u", c->source, port);
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, c->source,
		    sizeof(c->source));
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", c->source, port);
	} else
		snprintf(c->peer, sizeof(c->peer), "unknown");
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct worker	*w = arg;
	struct wconn	*c;
	struct timeval	 tv = { w->limits.handshake_secs, 0 };

	(void)l;
	(void)salen;
	if (!w->ctx || !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
	c->w = w;
	c->id = ++w->next_id;
	c->tls.fd = c->plain.fd = -1;
	peer_text(sa, c);
	/* answers go out at once, as the one-process daemon's did */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
	    sizeof(int));
	TAILQ_INSERT_TAIL(&w->conns, c, entry);
	w->nhs++;
	if (side_init(&c->tls, w->base, fd, conn_cb, c) < 0 ||
	    !(c->plain.out = evbuffer_new()) ||
	    !(c->deadline = evtimer_new(w->base, deadline_cb, c)) ||
	    !(c->ssl = SSL_new(w->ctx)) || SSL_set_fd(c->ssl, fd) != 1) {
		if (c->tls.fd < 0)
			close(fd);
		conn_free(c);
		return;
	}
	SSL_set_app_data(c->ssl, c);
	SSL_set_accept_state(c->ssl);
	/* one read takes in a whole request, header and body records */
	SSL_set_read_ahead(c->ssl, 1);
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	evtimer_add(c->deadline, &tv);
	side_watch(&c->tls, EV_READ, true);
	(void)limits_admit(w, c);
}

/* Handshake failures never reach the parent's HTTP server: reported
 * for its audit trail (aggregated per source there). */
static void
tls_info_cb(const SSL *ssl, int where, int ret)
{
	struct wconn	*c = SSL_get_app_data(ssl);
	char		 reason[128];

	if (!c || !(where & SSL_CB_ALERT) || !(where & SSL_CB_WRITE) ||
	    SSL_is_init_finished(ssl))
		return;
	snprintf(reason, sizeof(reason), "TLS handshake failed: %s",
	    SSL_alert_desc_string_long(ret));
	anon(c->w, "tls.handshake_failure", c->source, reason);
}

static struct wconn *
conn_by_id(struct worker *w, uint32_t id)
{
	struct wconn *c;

	TAILQ_FOREACH(c, &w->conns, entry)
		if (c->id == id)
			return c;
	return NULL;
}

static void
on_conn_ok(struct worker *w, uint32_t id, int fd)
{
	struct wconn *c = conn_by_id(w, id);

	if (!c || c->st != WC_WAIT) {
		close(fd);
		return;
	}
	evutil_make_socket_nonblocking(fd);
	if (side_init(&c->plain, w->base, fd, conn_cb, c) < 0) {
		if (c->plain.fd < 0)
			close(fd);
		conn_free(c);
		return;
	}
	c->st = WC_RELAY;
	evtimer_del(c->deadline);
	/* what arrived while waiting for the stream */
	plain_flush(c);
	conn_settle(c);
}

/* CERT: a new context for new connections (open ones keep theirs). */
static int
on_cert(struct worker *w, const struct ipc_msg *m, char **ret_err)
{
	struct psw_cert		 h;
	const char		*ca, *chain, *pub, *end;
	struct sign_ctx		*sc;
	EVP_PKEY		*key = NULL;
	SSL_CTX			*ctx = NULL;
	int			 r;

	if (m->len < sizeof(h) + 3 || m->data[m->len - 1] != '\0')
		return errf(-BW_E_INVALID, ret_err, "CERT: malformed");
	memcpy(&h, m->data, sizeof(h));
	ca = (const char *)m->data + sizeof(h);
	end = (const char *)m->data + m->len;
	chain = ca + strlen(ca) + 1;
	if (chain >= end || (pub = chain + strlen(chain) + 1) >= end)
		return errf(-BW_E_INVALID, ret_err, "CERT: malformed");
	if (!(sc = calloc(1, sizeof(*sc))))
		return -ENOMEM;
	sc->generation = h.generation;
	if ((r = tpm_pkey_new(pub, sign_via_parent, sc, free, &key,
	    ret_err)) < 0)
		return r;
	r = crypto_tls_server_ctx_pem(key, "the parent's key", ca, chain,
	    CRYPTO_TLS_CLIENT_CERT_OPTIONAL, &ctx, ret_err);
	EVP_PKEY_free(key);
	if (r < 0)
		return r;
	SSL_CTX_set_info_callback(ctx, tls_info_cb);
	SSL_CTX_free(w->ctx);
	w->ctx = ctx;
	w->limits = h;
	evconnlistener_enable(w->lis);
	return 0;
}

#ifdef BW_TEST_HOOKS
/* Raw frame bytes, to break the protocol on purpose. */
static void
hook_raw(uint16_t version, uint16_t type, uint32_t len, const void *p,
    size_t n)
{
	struct { uint16_t v, t; uint32_t l, id; } h = { version, type, len, 0 };

	(void)write_wait(PSW_FD_CTL, &h, sizeof(h));
	if (n)
		(void)write_wait(PSW_FD_CTL, p, n);
}

static void
test_hook(int hook)
{
	static const char junk[8] = "abcdefgh";
	uint32_t pid = (uint32_t)getpid();

	log_warn("worker: test hook %s", psw_hook_name(hook) ?
	    psw_hook_name(hook) : "?");
	switch (hook) {
	case PSW_HOOK_SYSCALL:
		(void)mkdir("/tmp/bulwark-worker-hook", 0700);
		break;
	case PSW_HOOK_SHORT:
		(void)write_wait(PSW_FD_CTL, junk, 6);
		shutdown(PSW_FD_CTL, SHUT_WR);
		break;
	case PSW_HOOK_OVERSIZED:
		hook_raw(IPC_VERSION, PSW_ANON, (uint32_t)IPC_PAYLOAD_MAX + 1,
		    NULL, 0);
		break;
	case PSW_HOOK_UNKNOWN:
		hook_raw(IPC_VERSION, 99, 0, NULL, 0);
		break;
	case PSW_HOOK_BADLEN:
		hook_raw(IPC_VERSION, PSW_CONN, 2, junk, 2);
		break;
	case PSW_HOOK_VERSION:
		hook_raw(IPC_VERSION + 1, PSW_HELLO, 4, &pid, 4);
		break;
	case PSW_HOOK_STATE:
		hook_raw(IPC_VERSION, PSW_HELLO, 4, &pid, 4);
		break;
	case PSW_HOOK_RATE:
		for (int i = 0; i < 1200; i++)
			anon_send(1, "api.connection_dropped", "hook", "rate");
		break;
	default:
		break;
	}
}
#endif

static int
handle(struct worker *w, const struct ipc_msg *m, char **ret_err)
{
	switch (m->type) {
	case PSW_CERT:
		return on_cert(w, m, ret_err);
	case PSW_CONN_OK:
		if (w->nfdq == 0)
			return errf(-BW_E_INVALID, ret_err, "CONN_OK without a "
			    "descriptor");
		on_conn_ok(w, m->id, w->fdq[0]);
		memmove(w->fdq, w->fdq + 1, --w->nfdq * sizeof(int));
		return 0;
	case PSW_CONN_NO: {
		struct wconn *c = conn_by_id(w, m->id);

		if (c && c->st == WC_WAIT)
			conn_free(c);
		return 0;
	}
	case PSW_TEST_HOOK:
#ifdef BW_TEST_HOOKS
		if (m->len == 1)
			test_hook(m->data[0]);
#endif
		return 0;
	default:
		return errf(-BW_E_INVALID, ret_err, "unknown frame %u", m->type);
	}
}

/* Reads what the parent sent, descriptors included, and handles every
 * whole frame. */
static void
ctl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker		*w = arg;
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(sizeof(int) * 16)];
	}			 cm;
	struct iovec		 iov;
	struct msghdr		 mh = { 0 };
	struct cmsghdr		*ch;
	_cleanup_free_ char	*err = NULL;
	struct ipc_msg		 m;
	size_t			 used, off = 0;
	long			 room;
	ssize_t			 n;
	int			 r;

	(void)what;
	if ((room = bw_buf_room(&w->in, 64 << 10)) < 0)
		goto fail;
	iov.iov_base = w->in.p + w->in.len;
	iov.iov_len = (size_t)room;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof(cm.b);
	if ((n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC)) < 0)
		return;
	for (ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch)) {
		size_t k = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < k; i++) {
			int nfd;

			memcpy(&nfd, CMSG_DATA(ch) + i * sizeof(int), sizeof(int));
			if (w->nfdq < FDQ_MAX)
				w->fdq[w->nfdq++] = nfd;
			else
				close(nfd);
		}
	}
	if (n == 0) {
		log_info("worker: the parent closed the control channel");
		event_base_loopbreak(w->base);
		return;
	}
	bw_buf_advance(&w->in, (size_t)n);
	while ((r = ipc_decode((unsigned char *)w->in.p + off,
	    w->in.len - off, IPC_PAYLOAD_MAX, &m, &used, &err)) == 1) {
		if ((r = handle(w, &m, &err)) < 0)
			goto fail;
		off += used;
	}
	bw_buf_consume(&w->in, off);
	if (r == 0)
		return;
fail:
	log_error("worker: control channel: %s", err ? err : "failed");
	event_base_loopbreak(w->base);
}

int
psw_worker_main(void)
{
	struct worker		 w = { .in = { .max = IPC_HDR_LEN +
	    IPC_PAYLOAD_MAX } };
	struct sandbox_state	 sst;
	struct sandbox_profile	 prof;
	const struct sandbox_profile *profile = &worker_sandbox_profile;
	_cleanup_free_ char	*err = NULL;
	uint32_t		 pid = (uint32_t)getpid();
	int			 r;

	TAILQ_INIT(&w.conns);
	/* Whatever the spawner passed on: a client or the parent closing
	 * its end must give EPIPE, not end the worker. */
	signal(SIGPIPE, SIG_IGN);
	/* The time zone is read once, now: the sandbox opens no file. */
	tzset();
	{
		time_t		now = time(NULL);
		struct tm	tm;

		(void)localtime_r(&now, &tm);
	}
	/* Everything that reads files or makes descriptors comes before
	 * the sandbox: OpenSSL's configuration, the event loop. */
	if (!OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) ||
	    (r = crypto_policy_require(&err)) < 0 ||
	    !(w.base = event_base_new())) {
		log_error("worker: start: %s", err ? err : "failed");
		return 1;
	}
	/* OpenSSL seeds its generators on first use, which may open
	 * /dev/urandom: done now; later reseeds use getrandom(). */
	{
		unsigned char seed[16];

		if (RAND_bytes(seed, sizeof(seed)) != 1 ||
		    RAND_priv_bytes(seed, sizeof(seed)) != 1) {
			log_error("worker: no random numbers");
			return 1;
		}
		OPENSSL_cleanse(seed, sizeof(seed));
	}
	/* jansson (the log lines) seeds its hash tables from /dev/urandom
	 * on first use: now. */
	json_object_seed(0);
	/* Without CAP_SETUID (bulwarkd already runs as its own unprivileged
	 * user, e.g. under its systemd unit) the worker keeps that user and
	 * is confined by the rest of its profile. */
	if (geteuid() != 0) {
		prof = worker_sandbox_profile;
		prof.user = NULL;
		prof.fallback_id = 0;
		profile = &prof;
	}
	evutil_make_socket_nonblocking(PSW_FD_CTL);
	if (!(w.lis = evconnlistener_new(w.base, accept_cb, &w,
	    LEV_OPT_CLOSE_ON_FREE, 0, PSW_FD_LISTEN)) ||
	    !(w.ctl_ev = event_new(w.base, PSW_FD_CTL, EV_READ | EV_PERSIST,
	    ctl_cb, &w)) || event_add(w.ctl_ev, NULL) < 0 ||
	    !(w.anon_ev = event_new(w.base, -1, EV_PERSIST, anon_flush_cb,
	    &w)) || event_add(w.anon_ev, &(struct timeval){ 1, 0 }) < 0) {
		log_error("worker: event loop setup failed");
		return 1;
	}
	evconnlistener_disable(w.lis);	/* until the first CERT */
	if ((r = sandbox_enter(profile, &sst, &err)) < 0) {
		log_error("worker: %s", err ? err : bw_strerror(r));
		return 1;
	}
	log_info("worker: confined as uid %u (landlock ABI %d)",
	    (unsigned)sst.uid, sst.landlock_abi);
	if (send_frame(PSW_FD_CTL, PSW_HELLO, 0, &pid, sizeof(pid)) < 0)
		return 1;
	event_base_dispatch(w.base);
	return 0;
}
