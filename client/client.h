/* A small blocking HTTPS client for the CLI: one request per
 * connection, mutual TLS with the appliance's policy, JSON bodies, and
 * line streaming for watch. */
#ifndef BW_CLIENT_H
#define BW_CLIENT_H

#include <stddef.h>

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

/* A kept-alive connection for many requests (load tools, agents). */
struct client_conn;
int client_conn_open(const struct client_conf *conf, struct client_conn **ret,
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
