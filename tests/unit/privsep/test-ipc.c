/* The parent's side of the worker protocol against a hostile worker:
 * each malformed stream (short, oversized, unknown type, bad lengths,
 * bad version, out of state order, over its rate) is refused with a
 * message naming why, nothing after it is handed on, and a second
 * worker beside it keeps being served. The spawner's reading of the
 * parent's SPAWN and END (privsep/spawner.h) refuses the same way. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "privsep/ipc.h"
#include "privsep/spawner.h"

enum { T_HELLO = 1, T_REQ, T_PING };
enum { S_NEW, S_READY };

static const struct ipc_rule table[] = {
	{ T_HELLO, "hello", 4, 4, 1u << S_NEW, S_READY, 0 },
	{ T_REQ, "request", 1, 8192, 1u << S_READY, -1, 0 },
	{ T_PING, "ping", 0, 0, 1u << S_NEW | 1u << S_READY, -1, 5 },
};

struct seen {
	unsigned	n;
	uint16_t	types[64];
	uint32_t	ids[64];
};

static int
handled(void *arg, const struct ipc_rule *rule, const struct ipc_msg *m)
{
	struct seen *s = arg;

	assert_int_equal(rule->type, m->type);
	if (s->n < 64) {
		s->types[s->n] = m->type;
		s->ids[s->n] = m->id;
	}
	s->n++;
	return 0;
}

/* A worker's end and the parent's channel on the other. */
struct pair {
	int		worker, parent;
	struct ipc_chan	chan;
	struct seen	seen;
};

static void
pair_open(struct pair *p)
{
	int sv[2];

	memset(p, 0, sizeof(*p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
	p->worker = sv[0];
	p->parent = sv[1];
	assert_int_equal(ipc_chan_init(&p->chan, p->parent, table,
	    sizeof(table) / sizeof(table[0])), 0);
}

static void
pair_close(struct pair *p)
{
	ipc_chan_done(&p->chan);
	if (p->worker >= 0)
		close(p->worker);
	close(p->parent);
}

static void
send_raw(struct pair *p, const void *b, size_t n)
{
	assert_int_equal(write(p->worker, b, n), (ssize_t)n);
}

static void
send_frame(struct pair *p, uint16_t type, uint32_t id, const char *payload,
    size_t len)
{
	struct bw_buf b = { 0 };

	assert_int_equal(ipc_frame(&b, type, id, payload, len), 0);
	send_raw(p, b.p, b.len);
	bw_buf_done(&b);
}

/* A frame header as a peer that lies about it would write one, on FD. */
static void
header_raw(int fd, uint16_t version, uint16_t type, uint32_t len)
{
	uint16_t h16[2] = { version, type };
	uint32_t h32[2] = { len, 0 };
	unsigned char h[IPC_HDR_LEN];

	memcpy(h, h16, 4);
	memcpy(h + 4, h32, 8);
	assert_int_equal(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
}

static void
send_header(struct pair *p, uint16_t version, uint16_t type, uint32_t len)
{
	header_raw(p->worker, version, type, len);
}

/* Pumps P once; returns what the pump returned, its message in *ERR. */
static int
pump(struct pair *p, uint64_t now, char **err)
{
	free(*err);
	*err = NULL;
	return ipc_chan_pump(&p->chan, now, handled, &p->seen, err);
}

/* The good worker beside every bad one: greeted, asks, is answered. */
static void
good_worker_served(struct pair *good, uint32_t id)
{
	char *err = NULL;
	unsigned before = good->seen.n;

	send_frame(good, T_REQ, id, "{}", 2);
	assert_int_equal(pump(good, 1, &err), 0);
	assert_null(err);
	assert_int_equal(good->seen.n, before + 1);
	assert_int_equal(good->seen.ids[before], id);
}

/* Runs BAD's stream against the parent, expecting refusal R with a
 * message holding WHY and nothing after it handed on; the good worker
 * is served before and after. */
static void
expect_refused(struct pair *bad, struct pair *good, int r, const char *why,
    unsigned handled_before)
{
	char *err = NULL;
	int got;

	good_worker_served(good, 100 + good->seen.n);
	got = pump(bad, 1, &err);
	if (got == 0) {	/* the refusal needs the end of stream */
		close(bad->worker);
		bad->worker = -1;
		got = pump(bad, 1, &err);
	}
	assert_int_equal(got, r);
	assert_non_null(err);
	if (!strstr(err, why))
		fail_msg("refusal \"%s\" does not say \"%s\"", err, why);
	assert_int_equal(bad->seen.n, handled_before);
	free(err);
	good_worker_served(good, 100 + good->seen.n);
}

static void
test_valid_stream(void **state)
{
	struct pair	p;
	char		*err = NULL, big[1024];

	(void)state;
	pair_open(&p);
	memset(big, 'x', sizeof(big));
	send_frame(&p, T_HELLO, 0, "v001", 4);
	send_frame(&p, T_PING, 0, NULL, 0);
	send_frame(&p, T_REQ, 7, big, sizeof(big));
	assert_int_equal(pump(&p, 1, &err), 0);
	assert_int_equal(p.seen.n, 3);
	assert_int_equal(p.seen.types[2], T_REQ);
	assert_int_equal(p.seen.ids[2], 7);
	/* A frame that arrives in pieces is handed on once whole. */
	{
		struct bw_buf b = { 0 };

		assert_int_equal(ipc_frame(&b, T_REQ, 8, "abc", 3), 0);
		send_raw(&p, b.p, 5);
		assert_int_equal(pump(&p, 1, &err), 0);
		assert_int_equal(p.seen.n, 3);
		send_raw(&p, b.p + 5, b.len - 5);
		assert_int_equal(pump(&p, 1, &err), 0);
		assert_int_equal(p.seen.n, 4);
		bw_buf_done(&b);
	}
	close(p.worker);
	p.worker = -1;
	assert_int_equal(pump(&p, 1, &err), 1);
	assert_null(err);
	pair_close(&p);
}

static void
test_malformed_refused(void **state)
{
	struct pair	good, bad;
	char		*err = NULL;
	unsigned char	half[7] = { 1, 0, 1, 0, 4, 0, 0 };

	(void)state;
	pair_open(&good);
	send_frame(&good, T_HELLO, 0, "v001", 4);
	assert_int_equal(pump(&good, 1, &err), 0);

	/* short: the stream ends inside a header */
	pair_open(&bad);
	send_raw(&bad, half, sizeof(half));
	expect_refused(&bad, &good, -BW_E_INVALID, "short frame", 0);
	pair_close(&bad);

	/* short: the stream ends inside a payload */
	pair_open(&bad);
	send_header(&bad, IPC_VERSION, T_HELLO, 4);
	send_raw(&bad, "v0", 2);
	expect_refused(&bad, &good, -BW_E_INVALID, "short frame", 0);
	pair_close(&bad);

	/* oversized: refused from the header, before any payload */
	pair_open(&bad);
	send_header(&bad, IPC_VERSION, T_REQ, (uint32_t)IPC_PAYLOAD_MAX + 1);
	expect_refused(&bad, &good, -BW_E_TOOLARGE, "limit is", 0);
	pair_close(&bad);

	/* unknown type */
	pair_open(&bad);
	send_frame(&bad, 99, 0, "x", 1);
	expect_refused(&bad, &good, -BW_E_INVALID, "unknown message type 99", 0);
	pair_close(&bad);

	/* bad lengths: over and under the type's bounds */
	pair_open(&bad);
	send_frame(&bad, T_HELLO, 0, "v0001", 5);
	expect_refused(&bad, &good, -BW_E_INVALID, "hello: 5 bytes", 0);
	pair_close(&bad);
	pair_open(&bad);
	send_frame(&bad, T_HELLO, 0, "v001", 4);
	send_frame(&bad, T_REQ, 1, NULL, 0);
	expect_refused(&bad, &good, -BW_E_INVALID, "request: 0 bytes", 1);
	pair_close(&bad);

	/* another protocol version */
	pair_open(&bad);
	send_header(&bad, IPC_VERSION + 1, T_HELLO, 0);
	expect_refused(&bad, &good, -BW_E_INVALID, "frame version 2", 0);
	pair_close(&bad);

	/* out of state order: a request before the greeting, a second
	 * greeting; nothing after the refused frame is handed on */
	pair_open(&bad);
	send_frame(&bad, T_REQ, 1, "x", 1);
	send_frame(&bad, T_HELLO, 0, "v001", 4);
	expect_refused(&bad, &good, -BW_E_INVALID, "request: not allowed in "
	    "state 0", 0);
	pair_close(&bad);
	pair_open(&bad);
	send_frame(&bad, T_HELLO, 0, "v001", 4);
	send_frame(&bad, T_HELLO, 0, "v001", 4);
	expect_refused(&bad, &good, -BW_E_INVALID, "hello: not allowed in "
	    "state 1", 1);
	pair_close(&bad);

	/* over its rate: 5 pings a second */
	pair_open(&bad);
	for (int i = 0; i < 6; i++)
		send_frame(&bad, T_PING, 0, NULL, 0);
	expect_refused(&bad, &good, -BW_E_QUOTA, "ping: more than 5 a second",
	    5);
	pair_close(&bad);

	/* the rate is per second: 5 now and 5 in the next are fine */
	pair_open(&bad);
	for (int i = 0; i < 5; i++)
		send_frame(&bad, T_PING, 0, NULL, 0);
	assert_int_equal(pump(&bad, 1, &err), 0);
	for (int i = 0; i < 5; i++)
		send_frame(&bad, T_PING, 0, NULL, 0);
	assert_int_equal(pump(&bad, 2, &err), 0);
	assert_int_equal(bad.seen.n, 10);
	pair_close(&bad);

	free(err);
	pair_close(&good);
}

/* A worker streaming valid frames gets at most one read's worth
 * handled a call: the parent's loop runs between calls. */
static void
test_pump_bounded(void **state)
{
	struct pair	 p;
	static char	 body[6000];
	char		*err = NULL;
	unsigned	 calls = 0;

	(void)state;
	pair_open(&p);
	memset(body, 'x', sizeof(body));
	send_frame(&p, T_HELLO, 0, "v001", 4);
	for (int i = 0; i < 24; i++)
		send_frame(&p, T_REQ, (uint32_t)i, body, sizeof(body));
	assert_int_equal(pump(&p, 1, &err), 0);
	assert_true(p.seen.n >= 2);
	assert_true(p.seen.n <= 1 + IPC_PUMP_READ / (IPC_HDR_LEN + sizeof(body)));
	while (p.seen.n < 25 && calls++ < 10)
		assert_int_equal(pump(&p, 1, &err), 0);
	assert_int_equal(p.seen.n, 25);
	assert_true(calls >= 2);
	assert_null(err);
	pair_close(&p);
}

static void
test_frame_limits(void **state)
{
	struct bw_buf	b = { 0 };
	struct ipc_msg	m;
	size_t		used = 0;
	char		*err = NULL;

	(void)state;
	assert_int_equal(ipc_frame(&b, T_REQ, 1, "", IPC_PAYLOAD_MAX + 1),
	    -BW_E_TOOLARGE);
	assert_int_equal(b.len, 0);
	assert_int_equal(ipc_frame(&b, T_REQ, 3, "abc", 3), 0);
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(ipc_decode((unsigned char *)b.p, n,
		    IPC_PAYLOAD_MAX, &m, &used, &err), 0);
	assert_int_equal(ipc_decode((unsigned char *)b.p, b.len,
	    IPC_PAYLOAD_MAX, &m, &used, &err), 1);
	assert_int_equal(used, IPC_HDR_LEN + 3);
	assert_int_equal(m.len, 3);
	assert_memory_equal(m.data, "abc", 3);
	/* A reader's own lower limit is the one that counts. */
	assert_int_equal(ipc_decode((unsigned char *)b.p, b.len, 2, &m, &used,
	    &err), -BW_E_TOOLARGE);
	free(err);
	bw_buf_done(&b);
}

/* The spawner's side: requests written ahead on one end of a
 * socketpair, then read through the spawner's table on the other, with
 * a clock that stands still (the rate case cannot straddle a second). */
struct spawned {
	unsigned	n;
	uint16_t	types[32];
	size_t		nfds[32];
};

static uint64_t
still_clock(void)
{
	return 42;
}

static int
spawn_handled(void *arg, uint16_t type, const unsigned char *data,
    size_t len, size_t nfds)
{
	struct spawned *sp = arg;

	(void)data;
	assert_int_equal(len, type == PSS_END ? 4 : 0);
	if (sp->n < 32) {
		sp->types[sp->n] = type;
		sp->nfds[sp->n] = nfds;
	}
	sp->n++;
	return 0;
}

struct sreq {
	int	parent, spawner;
	int	fds[3];
};

static void
sreq_open(struct sreq *q)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	q->parent = sv[0];
	q->spawner = sv[1];
	/* what a SPAWN carries: any three descriptors will do */
	for (int i = 0; i < 3; i++)
		assert_true((q->fds[i] = open("/dev/null", O_RDONLY |
		    O_CLOEXEC)) >= 0);
}

static void
sreq_spawn(struct sreq *q)
{
	assert_int_equal(ipc_send_fds(q->parent, PSS_SPAWN, 0, NULL, 0, q->fds,
	    3), 0);
}

static void
sreq_end(struct sreq *q, uint32_t pid, size_t len)
{
	assert_int_equal(ipc_send(q->parent, PSS_END, 0, &pid, len, -1), 0);
}

static void
sreq_raw(struct sreq *q, const void *b, size_t n)
{
	assert_int_equal(write(q->parent, b, n), (ssize_t)n);
}

static void
sreq_header(struct sreq *q, uint16_t version, uint16_t type, uint32_t len)
{
	header_raw(q->parent, version, type, len);
}

/* Ends the parent's side and reads it all as the spawner: R and a
 * message holding WHY (R 0: a clean end), HANDLED requests done. */
static void
sreq_expect(struct sreq *q, int r, const char *why, unsigned handled)
{
	struct spawned	 sp = { 0 };
	char		*err = NULL;
	int		 got;

	close(q->parent);
	got = pss_serve_test(q->spawner, still_clock, spawn_handled, &sp,
	    &err);
	if (got != r)
		fail_msg("spawner read %d (%s), expected %d (%s)", got,
		    err ? err : "", r, why ? why : "");
	if (why && (!err || !strstr(err, why)))
		fail_msg("refusal \"%s\" does not say \"%s\"", err ? err : "",
		    why);
	assert_int_equal(sp.n, handled);
	/* A read holds the descriptors of the last request it took: the
	 * parent waits for each answer, so the first is what counts. */
	if (sp.n && sp.types[0] == PSS_SPAWN)
		assert_int_equal(sp.nfds[0], 3);
	free(err);
	close(q->spawner);
	for (int i = 0; i < 3; i++)
		close(q->fds[i]);
}

static void
test_spawner_requests(void **state)
{
	struct sreq	q;
	unsigned char	half[7] = { 1, 0, PSS_SPAWN, 0, 0, 0, 0 };

	(void)state;
	/* the table's order: SPAWN, END, SPAWN, END */
	sreq_open(&q);
	sreq_spawn(&q);
	sreq_end(&q, 1234, 4);
	sreq_spawn(&q);
	sreq_end(&q, 1235, 4);
	sreq_expect(&q, 0, NULL, 4);

	/* short: the stream ends inside a header, inside a payload */
	sreq_open(&q);
	sreq_raw(&q, half, sizeof(half));
	sreq_expect(&q, -BW_E_INVALID, "short frame", 0);
	sreq_open(&q);
	sreq_spawn(&q);
	sreq_header(&q, IPC_VERSION, PSS_END, 4);
	sreq_raw(&q, "\1\2", 2);
	sreq_expect(&q, -BW_E_INVALID, "short frame", 1);

	/* oversized: over the spawner's 64 bytes, refused from the header */
	sreq_open(&q);
	sreq_header(&q, IPC_VERSION, PSS_END, 65);
	sreq_expect(&q, -BW_E_TOOLARGE, "limit is", 0);

	/* unknown types: another's, and the spawner's own answers */
	sreq_open(&q);
	sreq_header(&q, IPC_VERSION, 99, 0);
	sreq_expect(&q, -BW_E_INVALID, "unknown message type 99", 0);
	sreq_open(&q);
	sreq_spawn(&q);
	sreq_end(&q, 1234, 4);
	sreq_header(&q, IPC_VERSION, PSS_PID, 0);
	sreq_expect(&q, -BW_E_INVALID, "unknown message type 10", 2);

	/* lengths outside the bounds; another version */
	sreq_open(&q);
	{
		uint32_t junk = 7;

		assert_int_equal(ipc_send_fds(q.parent, PSS_SPAWN, 0, &junk, 1,
		    q.fds, 3), 0);
	}
	sreq_expect(&q, -BW_E_INVALID, "SPAWN: 1 bytes", 0);
	sreq_open(&q);
	sreq_spawn(&q);
	sreq_end(&q, 1234, 3);
	sreq_expect(&q, -BW_E_INVALID, "END: 3 bytes", 1);
	sreq_open(&q);
	sreq_header(&q, IPC_VERSION + 1, PSS_SPAWN, 0);
	sreq_expect(&q, -BW_E_INVALID, "frame version 2", 0);

	/* out of state order: END with no worker, a second SPAWN while one
	 * runs; nothing after the refused frame is done */
	sreq_open(&q);
	sreq_end(&q, 1234, 4);
	sreq_spawn(&q);
	sreq_expect(&q, -BW_E_INVALID, "END: not allowed in state 0", 0);
	sreq_open(&q);
	sreq_spawn(&q);
	sreq_spawn(&q);
	sreq_end(&q, 1234, 4);
	sreq_expect(&q, -BW_E_INVALID, "SPAWN: not allowed in state 1", 1);

	/* over its rate: 8 workers a second, the ninth SPAWN refused */
	sreq_open(&q);
	for (int i = 0; i < 9; i++) {
		sreq_spawn(&q);
		sreq_end(&q, 2000 + (uint32_t)i, 4);
	}
	sreq_expect(&q, -BW_E_QUOTA, "SPAWN: more than 8 a second", 16);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_stream),
		cmocka_unit_test(test_malformed_refused),
		cmocka_unit_test(test_pump_bounded),
		cmocka_unit_test(test_frame_limits),
		cmocka_unit_test(test_spawner_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
