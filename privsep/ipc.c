#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "privsep/ipc.h"
#include "lib/err.h"

struct ipc_hdr {
	uint16_t	version;
	uint16_t	type;
	uint32_t	len;
	uint32_t	id;
};

_Static_assert(sizeof(struct ipc_hdr) == IPC_HDR_LEN, "frame header size");

int
ipc_frame(struct bw_buf *out, uint16_t type, uint32_t id, const void *data,
    size_t len)
{
	struct ipc_hdr	h = { .version = IPC_VERSION, .type = type,
	    .len = (uint32_t)len, .id = id };
	int		r;

	if (len > IPC_PAYLOAD_MAX)
		return -BW_E_TOOLARGE;
	if ((r = bw_buf_reserve(out, sizeof(h) + len)) < 0 ||
	    (r = bw_buf_append(out, &h, sizeof(h))) < 0 ||
	    (len && (r = bw_buf_append(out, data, len)) < 0))
		return r;
	return 0;
}

int
ipc_send(int fd, uint16_t type, uint32_t id, const void *data, size_t len,
    int pass)
{
	return ipc_send_fds(fd, type, id, data, len, &pass, pass >= 0 ? 1 : 0);
}

int
ipc_send_fds(int fd, uint16_t type, uint32_t id, const void *data, size_t len,
    const int *fds, size_t nfds)
{
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(IPC_FDS_MAX * sizeof(int))];
	}		 cm;
	struct bw_buf	 b = { 0 };
	struct iovec	 iov;
	struct msghdr	 mh = { 0 };
	struct pollfd	 pfd = { .fd = fd, .events = POLLOUT };
	size_t		 off = 0;
	ssize_t		 n;
	int		 r;

	if (nfds > IPC_FDS_MAX)
		return -BW_E_TOOLARGE;
	if ((r = ipc_frame(&b, type, id, data, len)) < 0)
		return r;
	while (off < b.len) {
		iov.iov_base = b.p + off;
		iov.iov_len = b.len - off;
		mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
		if (nfds && off == 0) {
			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.b;
			mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
			cm.h.cmsg_level = SOL_SOCKET;
			cm.h.cmsg_type = SCM_RIGHTS;
			cm.h.cmsg_len = CMSG_LEN(nfds * sizeof(int));
			memcpy(CMSG_DATA(&cm.h), fds, nfds * sizeof(int));
		}
		if ((n = sendmsg(fd, &mh, MSG_NOSIGNAL)) >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			r = -errno;
			break;
		}
		(void)poll(&pfd, 1, 1000);
	}
	bw_buf_done(&b);
	return r;
}

int
ipc_frame_size(const unsigned char *p, size_t avail, size_t max,
    size_t *ret_total, char **ret_err)
{
	struct ipc_hdr	h;

	if (avail < sizeof(h))
		return 0;
	/* The buffer need not be aligned for the header. */
	memcpy(&h, p, sizeof(h));
	if (h.version != IPC_VERSION)
		return errf(-BW_E_INVALID, ret_err, "frame version %u, "
		    "expected %u", h.version, IPC_VERSION);
	if (h.len > max)
		return errf(-BW_E_TOOLARGE, ret_err, "frame of %u bytes, the "
		    "limit is %zu", h.len, max);
	*ret_total = sizeof(h) + h.len;
	return 1;
}

int
ipc_decode(const unsigned char *p, size_t avail, size_t max,
    struct ipc_msg *ret, size_t *ret_used, char **ret_err)
{
	struct ipc_hdr	h;
	size_t		total = 0;
	int		r;

	if ((r = ipc_frame_size(p, avail, max, &total, ret_err)) <= 0)
		return r;
	if (avail < total)
		return 0;
	memcpy(&h, p, sizeof(h));
	*ret = (struct ipc_msg){ .type = h.type, .id = h.id,
	    .data = p + sizeof(h), .len = h.len };
	*ret_used = total;
	return 1;
}

int
ipc_decode_eof(size_t left, char **ret_err)
{
	if (left)
		return errf(-BW_E_INVALID, ret_err, "short frame: the stream "
		    "ended %zu bytes into one", left);
	return 0;
}

int
ipc_peer_init(struct ipc_peer *peer, const struct ipc_rule *table, size_t n)
{
	*peer = (struct ipc_peer){ .rules = table, .nrules = n };
	if (!(peer->counts = calloc(n ? n : 1, sizeof(*peer->counts))))
		return -ENOMEM;
	return 0;
}

void
ipc_peer_done(struct ipc_peer *peer)
{
	free(peer->counts);
	peer->counts = NULL;
}

int
ipc_admit(struct ipc_peer *peer, const struct ipc_msg *m, uint64_t now_s,
    const struct ipc_rule **ret_rule, char **ret_err)
{
	const struct ipc_rule	*rule = NULL;
	size_t			 i;

	for (i = 0; i < peer->nrules; i++)
		if (peer->rules[i].type == m->type) {
			rule = &peer->rules[i];
			break;
		}
	if (!rule)
		return errf(-BW_E_INVALID, ret_err, "unknown message type %u",
		    m->type);
	if (m->len < rule->min_len || m->len > rule->max_len)
		return errf(-BW_E_INVALID, ret_err, "%s: %zu bytes, it takes "
		    "%u to %u", rule->name, m->len, rule->min_len,
		    rule->max_len);
	if (peer->state < 0 || peer->state >= 32 ||
	    !(rule->states & (1u << peer->state)))
		return errf(-BW_E_INVALID, ret_err, "%s: not allowed in "
		    "state %d", rule->name, peer->state);
	if (now_s != peer->window_s) {
		memset(peer->counts, 0, peer->nrules * sizeof(*peer->counts));
		peer->window_s = now_s;
	}
	if (rule->per_second && ++peer->counts[i] > rule->per_second)
		return errf(-BW_E_QUOTA, ret_err, "%s: more than %u a second",
		    rule->name, rule->per_second);
	if (rule->next_state >= 0)
		peer->state = rule->next_state;
	*ret_rule = rule;
	return 0;
}

int
ipc_chan_init(struct ipc_chan *chan, int fd, const struct ipc_rule *table,
    size_t n)
{
	*chan = (struct ipc_chan){ .fd = fd,
	    .in = { .max = IPC_HDR_LEN + IPC_PAYLOAD_MAX } };
	return ipc_peer_init(&chan->peer, table, n);
}

void
ipc_chan_done(struct ipc_chan *chan)
{
	bw_buf_done(&chan->in);
	ipc_peer_done(&chan->peer);
}

/* Decodes and hands on every whole frame CHAN holds. */
static int
chan_dispatch(struct ipc_chan *chan, uint64_t now_s, ipc_handler handle,
    void *arg, char **ret_err)
{
	const struct ipc_rule	*rule;
	struct ipc_msg		 m;
	size_t			 used, off = 0;
	int			 r = 0;

	while ((r = ipc_decode((unsigned char *)chan->in.p + off,
	    chan->in.len - off, IPC_PAYLOAD_MAX, &m, &used, ret_err)) == 1) {
		if ((r = ipc_admit(&chan->peer, &m, now_s, &rule, ret_err)) < 0)
			break;
		if ((r = handle(arg, rule, &m)) < 0) {
			r = errf_wrap(r, ret_err, "%s", rule->name);
			break;
		}
		off += used;
	}
	bw_buf_consume(&chan->in, off);
	return r < 0 ? r : 0;
}

int
ipc_chan_pump(struct ipc_chan *chan, uint64_t now_s, ipc_handler handle,
    void *arg, char **ret_err)
{
	long	room;
	ssize_t	n;
	int	r;

	/* One read a call: at most IPC_PUMP_READ bytes of frames are
	 * handled before the caller's loop runs again (the descriptor stays
	 * readable while the worker has sent more), so a worker streaming
	 * frames cannot hold the parent. Only EINTR reads again. */
	for (;;) {
		if ((room = bw_buf_room(&chan->in, IPC_PUMP_READ)) < 0)
			return errf((int)room, ret_err, "reading a frame: %s",
			    bw_strerror((int)room));
		if ((size_t)room > IPC_PUMP_READ)
			room = IPC_PUMP_READ;
		n = read(chan->fd, chan->in.p + chan->in.len, (size_t)room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return errf(-errno, ret_err, "reading a frame: %s",
			    strerror(errno));
		if (n > 0)
			bw_buf_advance(&chan->in, (size_t)n);
		if ((r = chan_dispatch(chan, now_s, handle, arg, ret_err)) < 0)
			return r;
		if (n == 0)
			return (r = ipc_decode_eof(chan->in.len, ret_err)) < 0 ?
			    r : 1;
		return 0;
	}
}
