/* The message protocol between bulwarkd's privileged parent and its
 * unprivileged workers, over a socketpair: small, versioned and
 * length-checked, read by the parent through a fixed dispatch table
 * (which messages, in which state, how often), in the manner of
 * OpenSSH's monitor (mon_dispatch_proto20) and OpenBSD's imsg.
 *
 * A frame is a 12-byte header in host byte order (both ends are the
 * same binary on the same machine) and its payload:
 *
 *   uint16 version   IPC_VERSION; any other ends the peer
 *   uint16 type      one of the table's types
 *   uint32 len       payload bytes, at most the reader's limit
 *   uint32 id        request id chosen by the worker (0: none)
 *
 * The parent never trusts a worker: a frame that is short at end of
 * stream, longer than the limit, of an unknown type, of a length
 * outside its type's bounds, out of the state order or over its rate
 * is refused with a message naming why, and the parent ends that
 * worker (the caller does: this module only decides). */
#ifndef BW_PRIVSEP_IPC_H
#define BW_PRIVSEP_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define IPC_VERSION	1
#define IPC_HDR_LEN	12
/* A request body is at most 1 MiB (controlplane/api.c); headers, path
 * and identity fit in the rest. */
#define IPC_PAYLOAD_MAX	((size_t)2 << 20)

struct ipc_msg {
	uint16_t		 type;
	uint32_t		 id;
	const unsigned char	*data;	/* points into the reader's buffer */
	size_t			 len;
};

/* Appends one frame to OUT. Returns 0, -BW_E_TOOLARGE past
 * IPC_PAYLOAD_MAX, or -ENOMEM. */
int ipc_frame(struct bw_buf *out, uint16_t type, uint32_t id, const void *data,
    size_t len);

/* Checks the header at the start of P (AVAIL bytes). Returns 1 with
 * *RET_TOTAL (header and payload bytes) once the header is whole and
 * valid, 0 when fewer than IPC_HDR_LEN bytes are there, or the errors
 * of ipc_decode(). */
int ipc_frame_size(const unsigned char *p, size_t avail, size_t max,
    size_t *ret_total, char **ret_err);

/* Decodes the frame at the start of P (AVAIL bytes). Returns 1 with
 * *RET and *RET_USED (bytes to consume) when a whole frame is there, 0
 * when more bytes are needed, or -BW_E_INVALID (bad version) or
 * -BW_E_TOOLARGE (length over MAX) with *RET_ERR. The header is
 * checked as soon as it is complete: a lying length is refused before
 * its payload is waited for. */
int ipc_decode(const unsigned char *p, size_t avail, size_t max,
    struct ipc_msg *ret, size_t *ret_used, char **ret_err);

/* Called at end of stream with the bytes left unread: a partial frame
 * is an error (-BW_E_INVALID, "short frame"). */
int ipc_decode_eof(size_t left, char **ret_err);

/* Writes one frame on the socket FD, with the descriptor PASS attached
 * (SCM_RIGHTS) when it is not -1, waiting (poll, 1 s at a time) while
 * the socket is full. Returns 0, or a negative error (-EPIPE when the
 * peer is gone). */
int ipc_send(int fd, uint16_t type, uint32_t id, const void *data, size_t len,
    int pass);

/* Descriptors one frame carries at most. */
#define IPC_FDS_MAX	4

/* ipc_send() with NFDS descriptors FDS attached (at most IPC_FDS_MAX,
 * else -BW_E_TOOLARGE). */
int ipc_send_fds(int fd, uint16_t type, uint32_t id, const void *data,
    size_t len, const int *fds, size_t nfds);

/* One line of a dispatch table. */
struct ipc_rule {
	uint16_t	 type;
	const char	*name;
	uint32_t	 min_len, max_len;	/* payload bounds, inclusive */
	uint32_t	 states;		/* bit (1 << state) when allowed */
	int		 next_state;		/* after it; -1: unchanged */
	unsigned	 per_second;		/* 0: no limit */
};

/* A peer's place in its table: its state and each rule's count in the
 * current second. */
struct ipc_peer {
	const struct ipc_rule	*rules;
	size_t			 nrules;
	int			 state;
	uint64_t		 window_s;	/* the second counted */
	unsigned		*counts;	/* nrules entries */
};

/* Starts PEER at STATE 0 with TABLE (N lines). Returns 0 or -ENOMEM;
 * free with ipc_peer_done(). */
int ipc_peer_init(struct ipc_peer *peer, const struct ipc_rule *table,
    size_t n);
void ipc_peer_done(struct ipc_peer *peer);

/* Admits M from PEER at NOW_S (monotonic seconds): its line of the
 * table, when its type is known, its length within bounds, the peer in
 * a state that allows it and under its rate. Then moves the peer to the
 * line's next state and returns 0 with *RET_RULE. Otherwise returns
 * -BW_E_INVALID (-BW_E_QUOTA for a rate) with *RET_ERR, and the caller
 * ends the peer. */
int ipc_admit(struct ipc_peer *peer, const struct ipc_msg *m, uint64_t now_s,
    const struct ipc_rule **ret_rule, char **ret_err);

/* The parent's end of one worker's socketpair: bytes read, the peer's
 * place in its table. */
struct ipc_chan {
	int		fd;		/* non-blocking; not owned */
	struct bw_buf	in;
	struct ipc_peer	peer;
};

/* Handles one admitted message; a negative return ends the channel as
 * a refusal does. */
typedef int (*ipc_handler)(void *arg, const struct ipc_rule *rule,
    const struct ipc_msg *m);

/* Starts CHAN on FD with TABLE. Returns 0 or -ENOMEM. */
int ipc_chan_init(struct ipc_chan *chan, int fd, const struct ipc_rule *table,
    size_t n);
void ipc_chan_done(struct ipc_chan *chan);

/* Bytes one ipc_chan_pump() call reads at most. */
#define IPC_PUMP_READ	((size_t)64 << 10)

/* Reads once (at most IPC_PUMP_READ bytes) from FD, then decodes,
 * admits and hands to HANDLE every whole frame held, in order: the work
 * of one call is bounded, and the caller's event loop calls again while
 * FD stays readable. Returns 0 when it wants more, 1 at a clean end of
 * stream, or a negative error with *RET_ERR naming the refusal (or the
 * read error): the caller then ends the worker. Bytes after a refused
 * frame are never looked at. */
int ipc_chan_pump(struct ipc_chan *chan, uint64_t now_s, ipc_handler handle,
    void *arg, char **ret_err);

#endif
