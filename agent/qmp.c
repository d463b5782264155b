/* QMP client; see qmp.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/qmp.h"
#include "lib/clock.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

struct qmp {
	int		 fd;
	struct bw_buf	 in;	/* read, not yet a whole line */
	int		 id;
};

void
qmp_close(struct qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	bw_buf_done(&q->in);
	free(q);
}

/* Reads one JSON line into *RET. -EPIPE when QEMU closed. */
static int
qmp_read(struct qmp *q, int64_t deadline, json_t **ret, char **ret_err)
{
	for (;;) {
		char		*nl = q->in.len ? memchr(q->in.p, '\n',
		    q->in.len) : NULL;
		struct pollfd	 pfd = { q->fd, POLLIN, 0 };
		int64_t		 left;
		long		 room;
		ssize_t		 n;
		int		 r;

		if (nl) {
			size_t line = (size_t)(nl - q->in.p);

			r = json_parse_bounded(q->in.p, line, BW_JSON_MAX_DEPTH,
			    ret, ret_err);
			bw_buf_consume(&q->in, line + 1);
			return r;
		}
		if (q->in.len >= QMP_LINE_MAX)
			return errf(-BW_E_TOOLARGE, ret_err,
			    "qmp: line over %d bytes", QMP_LINE_MAX);
		left = deadline - bw_mono_ms();
		if (left <= 0)
			return errf(-ETIMEDOUT, ret_err, "qmp: no answer");
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		if ((room = bw_buf_room(&q->in, 4096)) < 0)
			return (int)room;
		n = read(q->fd, q->in.p + q->in.len, (size_t)room);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return errf(-EPIPE, ret_err, "qmp: connection closed");
		bw_buf_advance(&q->in, (size_t)n);
	}
}

int
qmp_execute(struct qmp *q, const char *cmd, json_t *args, int timeout_ms,
    json_t **ret_return, char **ret_err)
{
	_cleanup_json_ json_t	*req = NULL;
	_cleanup_free_ char	*text = NULL;
	int64_t			 deadline = bw_mono_ms() + timeout_ms;
	size_t			 len, off = 0;
	int			 id = ++q->id, r;

	req = json_pack("{s:s, s:i}", "execute", cmd, "id", id);
	if (!req || (args && json_object_set(req, "arguments", args) < 0))
		return -ENOMEM;
	if (!(text = json_dumps(req, JSON_COMPACT)))
		return -ENOMEM;
	len = strlen(text);
	text[len++] = '\n';	/* replaces the NUL; length is tracked */
	while (off < len) {
		ssize_t n = send(q->fd, text + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errf(-errno, ret_err, "qmp %s: %s", cmd,
			    strerror(errno));
		off += (size_t)n;
	}
	for (;;) {
		_cleanup_json_ json_t	*msg = NULL;
		json_t			*v, *e;

		r = qmp_read(q, deadline, &msg, ret_err);
		if (r == -EPIPE && !strcmp(cmd, "quit")) {
			if (ret_err) {
				free(*ret_err);
				*ret_err = NULL;
			}
			return 0;
		}
		if (r < 0)
			return r;
		if (json_object_get(msg, "event"))
			continue;
		v = json_object_get(msg, "id");
		if (!json_is_integer(v) || json_integer_value(v) != id)
			continue;
		if ((e = json_object_get(msg, "error"))) {
			const char *cls = json_string_value(
			    json_object_get(e, "class"));
			const char *desc = json_string_value(
			    json_object_get(e, "desc"));

			return errf(-BW_E_UNAVAILABLE, ret_err,
			    "qmp %s: %s: %.300s", cmd, cls ? cls : "error",
			    desc ? desc : "");
		}
		if (ret_return)
			*ret_return = json_incref(json_object_get(msg,
			    "return"));
		return 0;
	}
}

int
qmp_connect(const char *path, int timeout_ms, struct qmp **ret,
    char **ret_err)
{
	_cleanup_(qmp_closep) struct qmp	*q = NULL;
	_cleanup_json_ json_t			*greet = NULL;
	struct sockaddr_un			 sa = { .sun_family = AF_UNIX };
	int64_t					 deadline = bw_mono_ms() + timeout_ms;
	int					 r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return errf(-ENAMETOOLONG, ret_err, "qmp: socket path too long");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->fd = -1;
	for (;;) {
		q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (q->fd < 0)
			return -errno;
		if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		r = -errno;
		close(q->fd);
		q->fd = -1;
		if ((r != -ENOENT && r != -ECONNREFUSED) ||
		    bw_mono_ms() >= deadline)
			return errf(r, ret_err, "qmp: connect %s: %s", path,
			    bw_strerror(r));
		{
			struct timespec ts = { 0, 20 * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	if ((r = qmp_read(q, deadline, &greet, ret_err)) < 0)
		return r;
	if (!json_object_get(greet, "QMP"))
		return errf(-BW_E_UNAVAILABLE, ret_err,
		    "qmp: %s did not greet", path);
	if ((r = qmp_execute(q, "qmp_capabilities", NULL,
	    (int)(deadline - bw_mono_ms() > 1000 ? deadline - bw_mono_ms() : 1000),
	    NULL, ret_err)) < 0)
		return r;
	*ret = TAKE_PTR(q);
	return 0;
}

int
qmp_query_status(struct qmp *q, char **ret_status, char **ret_err)
{
	_cleanup_json_ json_t	*v = NULL;
	const char		*st;
	int			 r;

	if ((r = qmp_execute(q, "query-status", NULL, 5000, &v, ret_err)) < 0)
		return r;
	st = json_string_value(json_object_get(v, "status"));
	if (!st)
		return errf(-BW_E_UNAVAILABLE, ret_err,
		    "qmp: query-status without a status");
	if (!(*ret_status = strdup(st)))
		return -ENOMEM;
	return 0;
}
