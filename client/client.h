/* A small blocking HTTPS client of the API, for the CLI and the node
 * agent: one request per connection or a kept-alive one, mutual TLS with
 * the appliance's policy (or a TLS context the caller made, such as the
 * agent's with its TPM-held key), JSON bodies, bounded responses, and
 * line streaming for watch. */
#ifndef BW_CLIENT_H
#define BW_CLIENT_H

#include <stddef.h>

#include <jansson.h>

typedef struct ssl_ctx_st SSL_CTX;

#define CLIENT_RESPONSE_MAX	(64 * 1024 * 1024)

struct client_conf {
	char	*server;	/* https://host:port */
	char	*ca, *cert, *key;
	int	 allow_plain;	/* accept http:// (benchmark baselines only) */
};

struct client_response {
	int	 status;
	char	*body;		/* NUL-terminated, may be empty */
	size_t	 body_len;
};

/* Loads a client configuration file (JSON written by bulwarkd). Fields
 * already set in CONF (from flags) win. Returns 0 or a negative error
 * with a message. */
int client_conf_load(const char *path, struct client_conf *conf, char **ret_err);
void client_conf_clear(struct client_conf *conf);

/* Sends METHOD PATH with BODY (may be NULL) and reads the whole
 * response. Returns 0 when a response arrived (any status), or -errno /
 * -BW_E_UNAVAILABLE when the server could not be reached, with a message. */
int client_request(const struct client_conf *conf, const char *method,
    const char *path, const char *body, struct client_response *ret,
    char **ret_err);
void client_response_clear(struct client_response *r);

/* The message of an API error document ({"error":{"code","message"}}),
 * or DEFAULT_MSG when DOC (may be NULL) holds none. Points into DOC. */
const char *client_error_message(const json_t *doc, const char *default_msg);

/* A kept-alive connection for many requests (load tools, agents). CONF
 * is borrowed and must outlive the connection. */
struct client_conn;
int client_conn_open(const struct client_conf *conf, struct client_conn **ret,
    char **ret_err);

struct client_conn_opts {
	/* TLS context (borrowed, must outlive the connection) instead of
	 * one made from CONF's ca, cert and key. */
	SSL_CTX	*ctx;
	size_t	 response_max;	/* 0: CLIENT_RESPONSE_MAX */
	int	 timeout_s;	/* a read waits at most this long; 0: forever */
	/* Drop the connection after an error or a response that ends it,
	 * open a new one for the next request, and send a request again
	 * once when a kept connection ended before any byte of its answer
	 * (the server closed it while idle). */
	int	 reconnect;
};

/* client_conn_open() with options O (copied; NULL: defaults). */
int client_conn_open_opts(const struct client_conf *conf,
    const struct client_conn_opts *o, struct client_conn **ret,
    char **ret_err);
int client_conn_request(struct client_conn *cc, const char *method,
    const char *path, const char *body, struct client_response *ret,
    char **ret_err);
void client_conn_close(struct client_conn *cc);	/* NULL ok */

/* Opens a streaming GET and calls LINE_CB for each complete line of the
 * (chunked) body until the server ends it or LINE_CB returns non-zero.
 * *ret_status receives the HTTP status; a non-200 response's body is
 * passed to LINE_CB whole. */
int client_stream(const struct client_conf *conf, const char *path,
    int (*line_cb)(void *arg, const char *line, size_t len), void *arg,
    int *ret_status, char **ret_err);

/* GETs PATH and writes a 200 response's body to FD, showing progress on
 * stderr when PROGRESS is set. Any other status leaves its body in
 * *ret_err_body (caller frees). Returns 0 when a response arrived
 * (*ret_status says which), or a negative error with a message. */
int client_download(const struct client_conf *conf, const char *path, int fd,
    int progress, int *ret_status, char **ret_err_body, char **ret_err);

/* Splits URL ("https://HOST[:PORT]" or "http://HOST[:PORT]", HOST may be
 * a bracketed IPv6 address; a path after it is ignored) into HOST and
 * PORT (443 or 80 when absent), NUL-terminated within HLEN and PLEN
 * bytes; *RET_TLS says which scheme. Returns 0 or -BW_E_INVALID. */
int client_split_url(const char *url, char *host, size_t hlen, char *port,
    size_t plen, int *ret_tls);

/* Parses the head of an HTTP/1.1 response in BUF (LEN bytes, ending
 * with the blank line): status, Content-Length (-1 if absent) and
 * whether the body is chunked. Returns 0 or -BW_E_INVALID. Exposed for
 * tests and fuzzing. */
int client_parse_head(const char *buf, size_t len, int *ret_status,
    long long *ret_content_length, int *ret_chunked);

/* Decodes a complete chunked HTTP/1.1 body: IN holds LEN bytes received
 * after the head. Returns 1 when the body is complete (the decoded data,
 * at most LEN bytes, is written to OUT, *RET_OUT_LEN set; OUT may be IN;
 * with OUT NULL only the completeness is checked),
 * 0 when more bytes are needed, or -BW_E_INVALID on malformed framing
 * (bad size line, data not followed by CRLF, bytes after the end).
 * Trailers are skipped. Exposed for tests and fuzzing. */
int client_dechunk(const char *in, size_t len, char *out, size_t *ret_out_len);

#endif
