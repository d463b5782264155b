/* libFuzzer target for the parent's reading of worker frames
 * (privsep/ipc.c): the input is the byte stream a hostile worker
 * writes. It goes through ipc_chan_pump() over a pipe, as the parent
 * reads it, with a small dispatch table. Invariants: nothing crashes or
 * reads past what was received; every message handed on was admitted
 * by the table (a known type, a length within its bounds, in a state
 * that allows it); the pump ends either refusing with a message or at
 * a clean end of stream, never both, never silently. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "lib/err.h"
#include "privsep/ipc.h"
#include "tests/fuzz/fuzz.h"

enum { T_HELLO = 1, T_REQ, T_PING };

static const struct ipc_rule table[] = {
	{ T_HELLO, "hello", 4, 4, 1u << 0, 1, 0 },
	{ T_REQ, "request", 1, 1024, 1u << 1, -1, 0 },
	{ T_PING, "ping", 0, 0, 1u << 0 | 1u << 1, -1, 8 },
};

static int
handled(void *arg, const struct ipc_rule *rule, const struct ipc_msg *m)
{
	unsigned *n = arg;

	FUZZ_CHECK(rule->type == m->type);
	FUZZ_CHECK(m->len >= rule->min_len && m->len <= rule->max_len);
	/* ASan checks that the payload is readable to its end. */
	if (m->len)
		FUZZ_CHECK(m->data[m->len - 1] == m->data[m->len - 1]);
	(*n)++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_chan	 chan;
	char		*err = NULL;
	unsigned	 n = 0;
	int		 p[2], r;

	if (size > 4096 || pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return 0;
	if (size)
		FUZZ_CHECK(write(p[1], data, size) == (ssize_t)size);
	close(p[1]);
	FUZZ_CHECK(ipc_chan_init(&chan, p[0], table, 3) == 0);
	do
		r = ipc_chan_pump(&chan, 1, handled, &n, &err);
	while (r == 0);
	FUZZ_CHECK(r == 1 ? err == NULL : err != NULL);
	FUZZ_CHECK(r == 1 || r == -BW_E_INVALID || r == -BW_E_TOOLARGE ||
	    r == -BW_E_QUOTA);
	free(err);
	ipc_chan_done(&chan);
	close(p[0]);
	return 0;
}
