/* The console socket's frames (privsep/console-ipc.h, on privsep/ipc.h): what a reader takes
 * and what it refuses. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "privsep/console-ipc.h"
#include "lib/err.h"
#include "lib/json.h"

static void
test_roundtrip(void **state)
{
	json_t		*body = json_pack("{s:s, s:i}", "user", "bob", "lifetime", 60);
	json_t		*got = NULL;
	char		*buf = NULL, *err = NULL;
	size_t		 len, total;
	uint32_t	 type;

	(void)state;
	assert_int_equal(cipc_encode(CIPC_CRED, body, &buf, &len), 0);
	assert_int_equal(cipc_frame_len(buf, 5, &total, &err), -EAGAIN);
	assert_int_equal(cipc_frame_len(buf, len, &total, &err), 0);
	assert_int_equal(total, len);
	assert_int_equal(cipc_parse(buf, len, &type, &got, &err), 0);
	assert_int_equal(type, CIPC_CRED);
	assert_true(json_equal(body, got));
	json_decref(got);
	free(buf);
	json_decref(body);
}

/* A frame with header words TYPE, VERSION, LENGTH and BODY. */
static size_t
frame(char *buf, uint32_t type, uint32_t version, uint32_t length,
    const char *body)
{
	/* privsep/ipc.h's header: version, type, length, id */
	uint16_t vt[2] = { (uint16_t)version, (uint16_t)type };
	uint32_t li[2] = { length, 0 };

	memcpy(buf, vt, sizeof(vt));
	memcpy(buf + sizeof(vt), li, sizeof(li));
	memcpy(buf + CIPC_HEADER, body, strlen(body));
	return CIPC_HEADER + strlen(body);
}

static void
test_refusals(void **state)
{
	char		 buf[256], *err = NULL;
	json_t		*got = NULL;
	size_t		 len, total;
	uint32_t	 type;

	(void)state;
	len = frame(buf, CIPC_EVENT, 2, 2, "{}");
	assert_int_equal(cipc_parse(buf, len, &type, &got, &err), -BW_E_INVALID);
	assert_string_equal(err, "console message: frame version 2, expected 1");
	free(err);
	err = NULL;
	len = frame(buf, CIPC_EVENT, 1, CIPC_BODY_MAX + 1, "{}");
	assert_int_equal(cipc_frame_len(buf, len, &total, &err), -BW_E_TOOLARGE);
	free(err);
	err = NULL;
	/* bytes left over after the frame */
	len = frame(buf, CIPC_EVENT, 1, 2, "{}x");
	assert_int_equal(cipc_parse(buf, len, &type, &got, &err), -BW_E_INVALID);
	assert_string_equal(err, "console message: 15 bytes for a frame of 14");
	free(err);
	err = NULL;
	/* a body that is not one JSON object */
	len = frame(buf, CIPC_EVENT, 1, 2, "[]");
	assert_int_equal(cipc_parse(buf, len, &type, &got, &err), -BW_E_INVALID);
	free(err);
	err = NULL;
	len = frame(buf, CIPC_EVENT, 1, 3, "{\"a");
	assert_int_equal(cipc_parse(buf, len, &type, &got, &err), -BW_E_INVALID);
	free(err);
	assert_null(got);
}

static void
test_call(void **state)
{
	json_t		*req = json_pack("{s:s}", "event", "login"), *got = NULL, *b = NULL;
	char		 in[256], *out = NULL, *err = NULL;
	size_t		 outlen;
	uint32_t	 type;
	ssize_t		 n;
	int		 sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* the answer waits in the socket before the call reads it */
	b = json_pack("{}");
	assert_int_equal(cipc_encode(CIPC_OK, b, &out, &outlen), 0);
	assert_int_equal(write(sv[1], out, outlen), (ssize_t)outlen);
	assert_int_equal(cipc_call(sv[0], CIPC_EVENT, req, 1000, &type, &got,
	    &err), 0);
	assert_int_equal(type, CIPC_OK);
	n = read(sv[1], in, sizeof(in));
	assert_true(n > CIPC_HEADER);
	json_decref(got);
	got = NULL;
	/* a peer that closes without an answer */
	close(sv[1]);
	assert_true(cipc_call(sv[0], CIPC_EVENT, req, 1000, &type, &got, &err) < 0);
	assert_non_null(err);
	free(err);
	close(sv[0]);
	free(out);
	json_decref(b);
	json_decref(req);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_call),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
