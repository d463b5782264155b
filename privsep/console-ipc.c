/* The console socket's frames; see console-ipc.h. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include "privsep/console-ipc.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/macro.h"
#include "lib/json.h"

int
cipc_frame_len(const void *buf, size_t len, size_t *ret_total, char **ret_err)
{
	int r;

	r = ipc_frame_size(buf, len, CIPC_BODY_MAX, ret_total, ret_err);
	if (r == 0)
		return -EAGAIN;
	if (r < 0)
		return errf_wrap(r, ret_err, "console message");
	return 0;
}

int
cipc_parse(const void *buf, size_t len, uint32_t *ret_type, json_t **ret_body,
    char **ret_err)
{
	json_t		*body = NULL;
	struct ipc_msg	 m;
	size_t		 used;
	int		 r;

	if ((r = ipc_decode(buf, len, CIPC_BODY_MAX, &m, &used, ret_err)) < 0)
		return errf_wrap(r, ret_err, "console message");
	if (r == 0)
		return errf(-BW_E_INVALID, ret_err, "console message: short "
		    "frame of %zu bytes", len);
	if (used != len)
		return errf(-BW_E_INVALID, ret_err, "console message: %zu bytes "
		    "for a frame of %zu", len, used);
	if ((r = json_parse_bounded((const char *)m.data, m.len, 4, &body,
	    ret_err)) < 0)
		return r;
	if (!json_is_object(body)) {
		json_decref(body);
		return errf(-BW_E_INVALID, ret_err,
		    "console message: the body is not a JSON object");
	}
	*ret_type = m.type;
	*ret_body = body;
	return 0;
}

int
cipc_encode(uint32_t type, const json_t *body, char **ret_buf, size_t *ret_len)
{
	_cleanup_free_ char	*text = json_dumps(body, JSON_COMPACT);
	struct bw_buf		 b = { 0 };
	size_t			 n;
	int			 r;

	if (!text)
		return -ENOMEM;
	if ((n = strlen(text)) > CIPC_BODY_MAX || type > UINT16_MAX)
		return -BW_E_TOOLARGE;
	if ((r = ipc_frame(&b, (uint16_t)type, 0, text, n)) < 0) {
		bw_buf_done(&b);
		return r;
	}
	if (!(*ret_buf = bw_buf_take(&b, ret_len)))
		return -ENOMEM;
	return 0;
}

/* Reads up to LEN bytes into BUF, waiting at most TIMEOUT_MS; returns
 * the count (0 at the end), or -ETIMEDOUT / -errno. */
static ssize_t
read_some(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	ssize_t		n;
	int		p;

	do
		p = poll(&pfd, 1, timeout_ms);
	while (p < 0 && errno == EINTR);
	if (p < 0)
		return -errno;
	if (p == 0)
		return -ETIMEDOUT;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* write_all() for a socket, without SIGPIPE when the peer has gone. */
static int
send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int
cipc_call(int fd, uint32_t type, const json_t *body, int timeout_ms,
    uint32_t *ret_type, json_t **ret_body, char **ret_err)
{
	_cleanup_free_ char	*out = NULL, *in = NULL;
	size_t			 outlen, have = 0, total = CIPC_HEADER;
	ssize_t			 n;
	int			 r;

	if ((r = cipc_encode(type, body, &out, &outlen)) < 0)
		return errf(r, ret_err, "console message: %s", bw_strerror(r));
	if ((r = send_all(fd, out, outlen)) < 0)
		return errf(r, ret_err, "console socket: %s", strerror(-r));
	if (!(in = malloc(CIPC_HEADER + CIPC_BODY_MAX)))
		return -ENOMEM;
	while (have < total) {
		if ((n = read_some(fd, in + have, total - have, timeout_ms)) <= 0)
			return errf(n < 0 ? (int)n : -ECONNRESET, ret_err,
			    "console socket: %s", n < 0 ? strerror((int)-n) :
			    "closed before the answer");
		have += (size_t)n;
		if (have == CIPC_HEADER &&
		    (r = cipc_frame_len(in, have, &total, ret_err)) < 0)
			return r;
	}
	return cipc_parse(in, have, ret_type, ret_body, ret_err);
}
