#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "client/client.h"
#include "hardening/crypto-policy.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"

/* A failure this quick on a kept connection is the server having
 * closed it while idle, not a request it may have applied. */
#define CLIENT_RETRY_QUICK_MS	1000

#define HEAD_MAX	(16 * 1024)
#define CONF_MAX	(64 * 1024)

struct conn {
	SSL_CTX	*ctx;
	int	 ctx_borrowed;	/* the caller's (client_conn_opts) */
	SSL	*ssl;
	int	 fd;
	int	 keepalive;
	size_t	 response_max;
	/* Whether the last response began (a byte of its head came), and
	 * whether the connection may carry another request after it. */
	int	 answered, reusable;
	char	 wbuf[16384];
	/* read-ahead buffer */
	char	 buf[16384];
	size_t	 off, len;
};

static void
conf_set(char **dst, json_t *o, const char *key)
{
	const char *v = json_str_at(o, key, NULL);

	if (!*dst && v)
		*dst = strdup(v);
}

int
client_conf_load(const char *path, struct client_conf *conf, char **ret_err)
{
	_cleanup_free_ char	*text = NULL;
	_cleanup_json_ json_t	*o = NULL;
	size_t			 len;
	int			 r;

	if ((r = read_file_at(AT_FDCWD, path, CONF_MAX, &text, &len)) < 0)
		return errf(r, ret_err, "cannot read %s: %s", path, bw_strerror(r));
	if ((r = json_parse_bounded(text, len, 4, &o, ret_err)) < 0)
		return errf_wrap(r, ret_err, "%s: not a valid configuration (JSON)",
		    path);
	if (!json_is_object(o))
		return errf(-BW_E_INVALID, ret_err, "%s: must be a JSON object", path);
	conf_set(&conf->server, o, "server");
	conf_set(&conf->ca, o, "ca");
	conf_set(&conf->cert, o, "cert");
	conf_set(&conf->key, o, "key");
	return 0;
}

void
client_conf_clear(struct client_conf *conf)
{
	free(conf->server);
	free(conf->ca);
	free(conf->cert);
	free(conf->key);
	memset(conf, 0, sizeof(*conf));
}

void
client_response_clear(struct client_response *r)
{
	/* a body may be a credential (a node's bootstrap) */
	if (r->body)
		explicit_bzero(r->body, r->body_len);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

const char *
client_error_message(const json_t *doc, const char *default_msg)
{
	const char *m = json_str_at(doc, "error", "message");

	return m ? m : default_msg;
}

int
client_split_url(const char *url, char *host, size_t hlen, char *port,
    size_t plen, int *ret_tls)
{
	const char *p, *colon, *end;

	if (strncmp(url, "https://", 8) == 0) {
		p = url + 8;
		*ret_tls = 1;
	} else if (strncmp(url, "http://", 7) == 0) {
		/* plain HTTP only for benchmark baselines on loopback */
		p = url + 7;
		*ret_tls = 0;
	} else
		return -BW_E_INVALID;
	end = p + strcspn(p, "/");
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (!rb || (size_t)(rb - p - 1) >= hlen)
			return -BW_E_INVALID;
		memcpy(host, p + 1, (size_t)(rb - p - 1));
		host[rb - p - 1] = '\0';
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		size_t hl = (size_t)((colon ? colon : end) - p);

		if (hl == 0 || hl >= hlen)
			return -BW_E_INVALID;
		memcpy(host, p, hl);
		host[hl] = '\0';
	}
	if (colon) {
		if ((size_t)(end - colon - 1) >= plen || end == colon + 1)
			return -BW_E_INVALID;
		memcpy(port, colon + 1, (size_t)(end - colon - 1));
		port[end - colon - 1] = '\0';
	} else
		snprintf(port, plen, *ret_tls ? "443" : "80");
	return 0;
}

static void
conn_close(struct conn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->ctx && !c->ctx_borrowed)
		SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->ctx = NULL;
	c->ctx_borrowed = 0;
	c->fd = -1;
	c->off = c->len = 0;
}

static int
err_collect(const char *str, size_t len, void *u)
{
	char	*buf = u;
	size_t	 have = strlen(buf);

	/* Keep the first error and the last, where a TPM-held key's
	 * provider puts its reason. */
	snprintf(buf + have, 512 - have, "%s%.*s", have ? "; " : "",
	    (int)(len && str[len - 1] == '\n' ? len - 1 : len), str);
	return 1;
}

/* WHAT and OpenSSL's queued errors (emptying the queue). */
static int
ssl_error(char **ret_err, const char *what)
{
	char buf[512] = "";

	ERR_print_errors_cb(err_collect, buf);
	return errf(-BW_E_UNAVAILABLE, ret_err, "%s: %s", what,
	    buf[0] ? buf : "connection closed");
}

/* Connects C to CONF's server: TLS with O's context when it gives one,
 * else with one made from CONF's files. */
static int
conn_open(const struct client_conf *conf, const struct client_conn_opts *o,
    struct conn *c, char **ret_err)
{
	struct addrinfo	 hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL, *a;
	char		 host[256], port[16];
	int		 r, tls = 1;

	c->fd = -1;
	c->response_max = o && o->response_max ? o->response_max :
	    CLIENT_RESPONSE_MAX;
	if (!conf->server)
		return errf(-BW_E_INVALID, ret_err,
		    "no server: pass --server or a --config file");
	if (client_split_url(conf->server, host, sizeof(host), port,
	    sizeof(port), &tls) < 0 || (!tls && !conf->allow_plain))
		return errf(-BW_E_INVALID, ret_err,
		    "server \"%s\" is not https://HOST[:PORT]", conf->server);
	if (tls && o && o->ctx) {
		c->ctx = o->ctx;
		c->ctx_borrowed = 1;
	} else if (tls && !conf->ca)
		return errf(-BW_E_INVALID, ret_err,
		    "no CA certificate: pass --cacert or a --config file");
	else if (tls && (r = crypto_tls_client_ctx(conf->ca, conf->cert,
	    conf->key, &c->ctx, ret_err)) < 0)
		return r;
	if ((r = getaddrinfo(host, port, &hints, &ai)) != 0)
		return errf(-BW_E_UNAVAILABLE, ret_err, "%s: %s", host,
		    gai_strerror(r));
	for (a = ai; a; a = a->ai_next) {
		c->fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
		    a->ai_protocol);
		if (c->fd < 0)
			continue;
		if (connect(c->fd, a->ai_addr, a->ai_addrlen) == 0) {
			int one = 1;

			/* requests are written whole; Nagle would only add a
			 * delayed-ACK round trip to each */
			setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			break;
		}
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(ai);
	if (c->fd < 0)
		return errf(-BW_E_UNAVAILABLE, ret_err, "cannot connect to %s: %s",
		    conf->server, strerror(errno));
	if (o && o->timeout_s > 0) {
		struct timeval tv = { .tv_sec = o->timeout_s };

		if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
		    sizeof(tv)) < 0)
			return errf(-errno, ret_err, "SO_RCVTIMEO: %s",
			    strerror(errno));
	}
	c->reusable = 1;
	if (!tls)
		return 0;
	if (!(c->ssl = SSL_new(c->ctx)) || SSL_set_fd(c->ssl, c->fd) != 1)
		return ssl_error(ret_err, "TLS setup");
	if ((r = crypto_tls_client_set_peer(c->ssl, host, ret_err)) < 0)
		return r;
	if (SSL_connect(c->ssl) != 1) {
		long v = SSL_get_verify_result(c->ssl);

		/* Say why the server's certificate was refused (expired, not
		 * from our CA, wrong name) rather than OpenSSL's generic
		 * "certificate verify failed". */
		if (v != X509_V_OK) {
			ERR_clear_error();
			return errf(-BW_E_UNAVAILABLE, ret_err, "TLS handshake "
			    "with the server failed: its certificate: %s",
			    X509_verify_cert_error_string(v));
		}
		return ssl_error(ret_err, "TLS handshake with the server failed");
	}
	return 0;
}

static int
conn_write(struct conn *c, const void *buf, size_t len, char **ret_err)
{
	size_t written;

	while (len > 0) {
		if (!c->ssl) {
			ssize_t n = write(c->fd, buf, len);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return errf(-BW_E_UNAVAILABLE, ret_err, "write: %s",
				    strerror(errno));
			written = (size_t)n;
		} else if (SSL_write_ex(c->ssl, buf, len, &written) != 1)
			return ssl_error(ret_err, "write");
		buf = (const char *)buf + written;
		len -= written;
	}
	return 0;
}

/* Returns bytes read (0 at end of stream) or a negative error, which
 * leaves OpenSSL's reason queued for ssl_error(). Reads go through a
 * buffer so byte-wise parsing costs no TLS record each. */
static ssize_t
conn_read(struct conn *c, void *buf, size_t len)
{
	size_t	got, n;
	int	e;

	if (c->off == c->len && !c->ssl) {
		ssize_t rd;

		do
			rd = read(c->fd, c->buf, sizeof(c->buf));
		while (rd < 0 && errno == EINTR);
		if (rd <= 0)
			return rd == 0 ? 0 : -errno;
		c->off = 0;
		c->len = (size_t)rd;
	} else if (c->off == c->len) {
		if (SSL_read_ex(c->ssl, c->buf, sizeof(c->buf), &got) != 1) {
			e = SSL_get_error(c->ssl, 0);
			if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
				return 0;
			return -EIO;
		}
		c->off = 0;
		c->len = got;
	}
	n = c->len - c->off < len ? c->len - c->off : len;
	memcpy(buf, c->buf + c->off, n);
	c->off += n;
	return (ssize_t)n;
}

/* Reads one line (up to CRLF or LF, not included) into BUF. */
static int
conn_read_line(struct conn *c, char *buf, size_t len, size_t *ret_len)
{
	size_t	n = 0;
	char	ch;

	for (;;) {
		ssize_t r = conn_read(c, &ch, 1);

		if (r <= 0)
			return r == 0 ? -EPIPE : (int)r;
		if (ch == '\n')
			break;
		if (n + 1 >= len)
			return -BW_E_TOOLARGE;
		buf[n++] = ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*ret_len = n;
	return 0;
}

int
client_dechunk(const char *in, size_t len, char *out, size_t *ret_out_len)
{
	size_t	pos = 0, outlen = 0;

	for (;;) {
		const char	*eol = memchr(in + pos, '\n', len - pos);
		char		 line[32], *e;
		size_t		 ll;
		unsigned long	 sz;

		if (!eol)
			return len - pos >= sizeof(line) ? -BW_E_INVALID : 0;
		ll = (size_t)(eol - (in + pos));
		if (ll > 0 && in[pos + ll - 1] == '\r')
			ll--;
		if (ll == 0 || ll >= sizeof(line))
			return -BW_E_INVALID;
		memcpy(line, in + pos, ll);
		line[ll] = '\0';
		line[strcspn(line, ";")] = '\0';
		errno = 0;
		sz = strtoul(line, &e, 16);
		if (!isxdigit((unsigned char)line[0]) || *e != '\0' || errno)
			return -BW_E_INVALID;
		pos = (size_t)(eol - in) + 1;
		if (sz == 0)
			break;
		if (sz > len - pos)
			return 0;
		/* OUT may be IN: the decoded data never overtakes the input
		 * it is copied from. */
		if (out)
			memmove(out + outlen, in + pos, sz);
		outlen += sz;
		pos += sz;
		if (len - pos < 2)
			return len - pos == 1 && in[pos] != '\r' &&
			    in[pos] != '\n' ? -BW_E_INVALID : 0;
		if (in[pos] == '\r')
			pos++;
		if (in[pos] != '\n')
			return -BW_E_INVALID;
		pos++;
	}
	/* Trailer lines, then the blank line that ends the body. */
	for (;;) {
		const char	*eol = memchr(in + pos, '\n', len - pos);
		size_t		 ll;

		if (!eol)
			return len - pos > 8192 ? -BW_E_INVALID : 0;
		ll = (size_t)(eol - (in + pos));
		pos = (size_t)(eol - in) + 1;
		if (ll == 0 || (ll == 1 && eol[-1] == '\r'))
			break;
	}
	if (pos != len)
		return -BW_E_INVALID;
	*ret_out_len = outlen;
	return 1;
}

int
client_parse_head(const char *buf, size_t len, int *ret_status,
    long long *ret_content_length, int *ret_chunked)
{
	const char	*p = buf, *end = buf + len, *eol;
	int		 status, first = 1;
	long long	 clen = -1;
	int		 chunked = 0;

	while (p < end) {
		size_t	 ll;
		char	 line[1024];

		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			return -BW_E_INVALID;
		ll = (size_t)(eol - p);
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll >= sizeof(line))
			return -BW_E_INVALID;
		memcpy(line, p, ll);
		line[ll] = '\0';
		p = eol + 1;
		if (first) {
			char *e;

			if (strncmp(line, "HTTP/1.", 7) != 0 || ll < 12 ||
			    line[8] != ' ')
				return -BW_E_INVALID;
			status = (int)strtol(line + 9, &e, 10);
			if (e != line + 12 || status < 100 || status > 599)
				return -BW_E_INVALID;
			first = 0;
			continue;
		}
		if (ll == 0)
			break;
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			char *e;

			errno = 0;
			clen = strtoll(line + 15, &e, 10);
			while (*e == ' ' || *e == '\t')
				e++;
			if (errno || *e || clen < 0)
				return -BW_E_INVALID;
		} else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
			if (strstr(line + 18, "chunked"))
				chunked = 1;
		}
	}
	if (first)
		return -BW_E_INVALID;
	*ret_status = status;
	*ret_content_length = clen;
	*ret_chunked = chunked;
	return 0;
}

/* The response head's "Connection: close", if any. */
static int
head_says_close(const char *head, size_t len)
{
	const char *p = head, *end = head + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			break;
		if (strncasecmp(p, "Connection:", 11) == 0) {
			const char *v = p + 11;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			if (eol - v >= 5 && strncasecmp(v, "close", 5) == 0)
				return 1;
		}
		p = eol + 1;
	}
	return 0;
}

static int
read_head(struct conn *c, int *status, long long *clen, int *chunked,
    char **ret_err)
{
	char	head[HEAD_MAX];
	size_t	n = 0;

	c->answered = 0;
	/* Read byte-wise through the read-ahead buffer until the blank
	 * line; heads are small. */
	for (;;) {
		ssize_t r;

		if (n + 1 >= sizeof(head))
			return errf(-BW_E_TOOLARGE, ret_err,
			    "response headers over %d bytes", HEAD_MAX);
		r = conn_read(c, head + n, 1);
		/* TLS 1.3 reports a refused client certificate here, on
		 * the first read: keep OpenSSL's reason. */
		if (r <= 0 && n == 0 && c->ssl)
			return ssl_error(ret_err,
			    "connection closed before a response");
		if (r <= 0)
			return errf(-BW_E_UNAVAILABLE, ret_err,
			    "connection closed before a response");
		c->answered = 1;
		n++;
		if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
			break;
		if (n >= 2 && memcmp(head + n - 2, "\n\n", 2) == 0)
			break;
	}
	if (client_parse_head(head, n, status, clen, chunked) < 0)
		return errf(-BW_E_INVALID, ret_err, "malformed HTTP response");
	if (head_says_close(head, n))
		c->reusable = 0;
	return 0;
}

/* Reads one chunk's size line; returns the size or a negative error. */
static long long
read_chunk_size(struct conn *c)
{
	char		 line[64];
	size_t		 n;
	char		*e;
	long long	 sz;
	int		 r;

	if ((r = conn_read_line(c, line, sizeof(line), &n)) < 0)
		return r;
	errno = 0;
	sz = strtoll(line, &e, 16);
	if (errno || e == line || sz < 0 || (*e && *e != ';'))
		return -BW_E_INVALID;
	return sz;
}

static int
read_exact(struct conn *c, char *buf, size_t len)
{
	while (len > 0) {
		ssize_t r = conn_read(c, buf, len);

		if (r <= 0)
			return r == 0 ? -EPIPE : (int)r;
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

static int
send_request(struct conn *c, const struct client_conf *conf, const char *method,
    const char *path, const char *body, char **ret_err)
{
	char	host[256], port[16], head[1024];
	size_t	blen = body ? strlen(body) : 0;
	int	n, tls;

	ERR_clear_error();
	client_split_url(conf->server, host, sizeof(host), port, sizeof(port),
	    &tls);
	n = snprintf(head, sizeof(head),
	    "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bulwark/%s\r\n"
	    "Accept: application/json\r\nConnection: %s\r\n%s"
	    "Content-Length: %zu\r\n\r\n", method, path, host, PACKAGE_VERSION,
	    c->keepalive ? "keep-alive" : "close",
	    body ? "Content-Type: application/json\r\n" : "", blen);
	if (n < 0 || (size_t)n >= sizeof(head))
		return errf(-BW_E_TOOLARGE, ret_err, "request path too long");
	if (blen > 0 && blen <= sizeof(c->wbuf) - (size_t)n) {
		/* one TLS record for small requests */
		memcpy(c->wbuf, head, (size_t)n);
		memcpy(c->wbuf + n, body, blen);
		return conn_write(c, c->wbuf, (size_t)n + blen, ret_err) < 0 ?
		    -BW_E_UNAVAILABLE : 0;
	}
	if (conn_write(c, head, (size_t)n, ret_err) < 0)
		return -BW_E_UNAVAILABLE;
	if (blen && conn_write(c, body, blen, ret_err) < 0)
		return -BW_E_UNAVAILABLE;
	return 0;
}

/* Reads one whole response (Content-Length, chunked, or until close)
 * of at most C's response_max bytes. The body may be a credential (a
 * node's bootstrap): growing it leaves no copy behind, and the caller
 * wipes what it gets. */
static int
read_response(struct conn *c, struct client_response *ret, char **ret_err)
{
	_cleanup_(bw_buf_done) struct bw_buf out = { .secret = true };
	size_t			 dlen;
	long			 room;
	long long		 clen;
	ssize_t			 got;
	int			 status, chunked, r;

	if ((r = read_head(c, &status, &clen, &chunked, ret_err)) < 0)
		return r;
	if (chunked)
		clen = -1;
	else if (clen > (long long)c->response_max)
		return errf(-BW_E_TOOLARGE, ret_err, "response larger than %zu "
		    "bytes", c->response_max);
	/* A chunked body's framing may take a head's worth more. */
	out.max = clen >= 0 ? (size_t)clen :
	    c->response_max + (chunked ? HEAD_MAX : 0);
	while (clen < 0 || out.len < (size_t)clen) {
		if ((room = bw_buf_room(&out, 16384)) == -EFBIG)
			return errf(-BW_E_TOOLARGE, ret_err, "response larger "
			    "than %zu bytes", c->response_max);
		if (room < 0)
			return (int)room;
		if ((got = conn_read(c, out.p + out.len, (size_t)room)) <= 0) {
			if (clen < 0 && !chunked) {
				/* the body ends with the connection */
				c->reusable = 0;
				break;
			}
			return ssl_error(ret_err, "connection closed "
			    "mid-response");
		}
		bw_buf_advance(&out, (size_t)got);
		if (!chunked)
			continue;
		if ((r = client_dechunk(out.p, out.len, NULL, &dlen)) < 0)
			return errf(-BW_E_INVALID, ret_err, "malformed chunked "
			    "response");
		if (r == 1) {
			size_t framed = out.len;

			client_dechunk(out.p, framed, out.p, &out.len);
			/* the framing's tail still holds the body's last
			 * bytes, which may be a secret */
			explicit_bzero(out.p + out.len, framed - out.len);
			break;
		}
	}
	/* Bytes after the response would be read as the next one's. */
	if (c->off != c->len)
		return errf(-BW_E_INVALID, ret_err, "response longer than its "
		    "Content-Length");
	if (!(ret->body = bw_buf_take(&out, &ret->body_len)))
		return -ENOMEM;
	ret->status = status;
	return 0;
}

int
client_request(const struct client_conf *conf, const char *method,
    const char *path, const char *body, struct client_response *ret,
    char **ret_err)
{
	struct conn	c = { .fd = -1 };
	int		r;

	if ((r = conn_open(conf, NULL, &c, ret_err)) < 0)
		goto out;
	if ((r = send_request(&c, conf, method, path, body, ret_err)) < 0)
		goto out;
	r = read_response(&c, ret, ret_err);
out:
	conn_close(&c);
	return r;
}

struct client_conn {
	struct conn			 c;
	const struct client_conf	*conf;
	struct client_conn_opts		 o;
	int				 used;	/* c has answered a request */
};

int
client_conn_open(const struct client_conf *conf, struct client_conn **ret,
    char **ret_err)
{
	return client_conn_open_opts(conf, NULL, ret, ret_err);
}

int
client_conn_open_opts(const struct client_conf *conf,
    const struct client_conn_opts *o, struct client_conn **ret,
    char **ret_err)
{
	struct client_conn	*cc;
	int			 r;

	if (!(cc = calloc(1, sizeof(*cc))))
		return -ENOMEM;
	cc->c.fd = -1;
	cc->conf = conf;
	if (o)
		cc->o = *o;
	cc->c.keepalive = 1;
	if ((r = conn_open(conf, &cc->o, &cc->c, ret_err)) < 0) {
		client_conn_close(cc);
		return r;
	}
	*ret = cc;
	return 0;
}

int
client_conn_request(struct client_conn *cc, const char *method,
    const char *path, const char *body, struct client_response *ret,
    char **ret_err)
{
	/* A kept connection the server has closed meanwhile fails before
	 * any answer: with o.reconnect, one new connection, one more try.
	 * A request other than GET is tried again only when it failed at
	 * once: one that waited (a read timeout) may have been applied,
	 * and a PUT or POST must not be applied twice. */
	int	r, tries = cc->o.reconnect && cc->used && cc->c.fd >= 0 ? 2 : 1;
	int	safe = strcmp(method, "GET") == 0;
	int64_t	t0;

	for (;;) {
		t0 = bw_mono_ms();
		if (cc->c.fd < 0) {
			cc->used = 0;
			if ((r = conn_open(cc->conf, &cc->o, &cc->c,
			    ret_err)) < 0) {
				conn_close(&cc->c);
				return r;
			}
		}
		cc->c.answered = 0;
		if ((r = send_request(&cc->c, cc->conf, method, path, body,
		    ret_err)) >= 0)
			r = read_response(&cc->c, ret, ret_err);
		if (r >= 0)
			cc->used = 1;
		if (cc->o.reconnect && (r < 0 || !cc->c.reusable))
			conn_close(&cc->c);
		if (r >= 0 || cc->c.answered || --tries == 0 ||
		    (!safe && bw_mono_ms() - t0 > CLIENT_RETRY_QUICK_MS))
			return r;
	}
}

void
client_conn_close(struct client_conn *cc)
{
	if (!cc)
		return;
	conn_close(&cc->c);
	free(cc);
}

/* Opens C to CONF's server, sends GET PATH and reads the response head
 * (its status also into *RET_STATUS). The caller closes C. */
static int
get_head(const struct client_conf *conf, const char *path, struct conn *c,
    int *ret_status, long long *ret_clen, int *ret_chunked, char **ret_err)
{
	int r;

	if ((r = conn_open(conf, NULL, c, ret_err)) < 0 ||
	    (r = send_request(c, conf, "GET", path, NULL, ret_err)) < 0 ||
	    (r = read_head(c, ret_status, ret_clen, ret_chunked, ret_err)) < 0)
		return r;
	return 0;
}

int
client_download(const struct client_conf *conf, const char *path, int fd,
    int progress, int *ret_status, char **ret_err_body, char **ret_err)
{
	struct conn		 c = { .fd = -1 };
	struct client_response	 resp = { 0 };
	char			 buf[65536];
	long long		 clen, done = 0;
	int			 status, chunked, r;

	if ((r = get_head(conf, path, &c, &status, &clen, &chunked,
	    ret_err)) < 0)
		goto out;
	*ret_status = status;
	if (status != 200 || chunked || clen < 0) {
		/* errors are small JSON documents: read them whole */
		if (status == 200) {
			r = errf(-BW_E_INVALID, ret_err,
			    "download without a Content-Length");
			goto out;
		}
		if (clen > 0 && clen < (long long)sizeof(buf)) {
			resp.body = calloc(1, (size_t)clen + 1);
			if (resp.body && read_exact(&c, resp.body, (size_t)clen) == 0)
				*ret_err_body = TAKE_PTR(resp.body);
			free(resp.body);
		}
		r = 0;
		goto out;
	}
	while (done < clen) {
		size_t	want = clen - done < (long long)sizeof(buf) ?
		    (size_t)(clen - done) : sizeof(buf);
		ssize_t	got = conn_read(&c, buf, want);

		if (got <= 0) {
			r = errf(-BW_E_UNAVAILABLE, ret_err,
			    "connection closed after %lld of %lld bytes", done, clen);
			goto out;
		}
		if ((r = write_all(fd, buf, (size_t)got)) < 0) {
			errf(r, ret_err, "write: %s", bw_strerror(r));
			goto out;
		}
		done += got;
		if (progress)
			fprintf(stderr, "\r%lld / %lld bytes (%d%%)", done, clen,
			    (int)(clen ? done * 100 / clen : 100));
	}
	if (progress)
		fputc('\n', stderr);
	r = 0;
out:
	conn_close(&c);
	return r;
}

int
client_stream(const struct client_conf *conf, const char *path,
    int (*line_cb)(void *arg, const char *line, size_t len), void *arg,
    int *ret_status, char **ret_err)
{
	struct conn		 c = { .fd = -1 };
	_cleanup_free_ char	*line = NULL;
	size_t			 llen = 0;
	long long		 clen;
	int			 status, chunked, r;

	if (!(line = malloc(CLIENT_RESPONSE_MAX / 16)))
		return -ENOMEM;
	if ((r = get_head(conf, path, &c, &status, &clen, &chunked,
	    ret_err)) < 0)
		goto out;
	*ret_status = status;
	for (;;) {
		long long	want;
		char		ch;

		if (chunked) {
			if ((want = read_chunk_size(&c)) <= 0)
				break;
		} else
			want = clen >= 0 ? clen : (1LL << 40);
		while (want-- > 0) {
			if (conn_read(&c, &ch, 1) <= 0)
				goto done;
			if (ch == '\n') {
				line[llen] = '\0';
				if (line_cb(arg, line, llen) != 0)
					goto done;
				llen = 0;
			} else if (llen + 1 < CLIENT_RESPONSE_MAX / 16)
				line[llen++] = ch;
		}
		if (chunked) {
			char crlf[2];

			if (read_exact(&c, crlf, 2) < 0)
				break;
		} else
			break;
	}
done:
	if (llen > 0) {
		line[llen] = '\0';
		line_cb(arg, line, llen);
	}
	r = 0;
out:
	conn_close(&c);
	return r;
}
