/* The agent's probes: their spec (defaults, refusals, the record's
 * round trip) and real runs against servers on the loopback of the
 * test's own network namespace (entering it needs root; skipped
 * otherwise). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/probe.h"
#include "lib/err.h"
#include "lib/json.h"

static json_t *
parse(const char *text)
{
	json_t *o = json_loads(text, 0, NULL);

	assert_non_null(o);
	return o;
}

static void
test_spec(void **state)
{
	struct probe_spec	 p, q;
	json_t			*o, *back;
	char			*err = NULL, what[64];

	(void)state;
	o = parse("{\"http\": {\"port\": 8080}}");
	assert_int_equal(probe_spec_parse(o, "liveness", &p, &err), 0);
	assert_int_equal(p.kind, PROBE_HTTP);
	assert_string_equal(p.path, "/");
	assert_int_equal(p.period_s, 10);
	assert_int_equal(p.timeout_s, 1);
	assert_int_equal(p.failure_threshold, 3);
	assert_int_equal(p.initial_delay_s, 0);
	probe_describe(&p, what, sizeof(what));
	assert_string_equal(what, "http GET :8080/");
	back = probe_spec_json(&p);
	assert_non_null(back);
	assert_int_equal(probe_spec_parse(back, "liveness", &q, &err), 0);
	assert_memory_equal(&p, &q, sizeof(p));
	json_decref(back);
	json_decref(o);

	o = parse("{\"tcp\": {\"port\": 5432}, \"period_s\": 2, "
	    "\"failure_threshold\": 1, \"initial_delay_s\": 7}");
	assert_int_equal(probe_spec_parse(o, "readiness", &p, &err), 0);
	probe_describe(&p, what, sizeof(what));
	assert_string_equal(what, "tcp :5432");
	assert_int_equal(p.initial_delay_s, 7);
	json_decref(o);

	o = parse("{\"tcp\": {\"port\": 1}, \"http\": {\"port\": 1}}");
	assert_int_equal(probe_spec_parse(o, "liveness", &p, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "spec.probes.liveness: must be an object "
	    "with one of http and tcp"));
	free(err);
	err = NULL;
	json_decref(o);
	o = parse("{\"http\": {\"port\": 80, \"path\": \"/a b\"}}");
	assert_int_equal(probe_spec_parse(o, "liveness", &p, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "spec.probes.liveness.http.path"));
	free(err);
	err = NULL;
	json_decref(o);
	o = parse("{\"tcp\": {\"port\": 70000}}");
	assert_int_equal(probe_spec_parse(o, "readiness", &p, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "spec.probes.readiness.port: must be an "
	    "integer 1..65535"));
	free(err);
	json_decref(o);
}

/* A server on 127.0.0.1: its port in *RET_PORT; with ANSWER it answers
 * one connection with it (a forked child, *RET_PID), else it only
 * listens. Returns the listening socket. */
static int
server(const char *answer, unsigned *ret_port, pid_t *ret_pid)
{
	struct sockaddr_in	sa = { .sin_family = AF_INET };
	socklen_t		len = sizeof(sa);
	int			s;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((s = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s, 4), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
	*ret_port = ntohs(sa.sin_port);
	*ret_pid = 0;
	if (answer && (*ret_pid = fork()) == 0) {
		char	buf[512];
		int	c = accept(s, NULL, NULL);

		if (c >= 0 && read(c, buf, sizeof(buf)) > 0)
			(void)!write(c, answer, strlen(answer));
		_exit(0);
	}
	return s;
}

/* Runs P to the end in the test's network namespace. */
static bool
run(const struct probe_spec *p, char res[PROBE_RESULT_MAX])
{
	struct probe_run	r = { 0 };
	bool			ok = false;
	int			n;

	assert_int_equal(probe_start(p, "/proc/self/ns/net", &r), 0);
	while ((n = probe_poll(&r, &ok, res)) == 0)
		usleep(10000);
	assert_int_equal(n, 1);
	assert_int_equal(r.pid, 0);
	return ok;
}

static void
test_runs(void **state)
{
	struct probe_spec	p = { .timeout_s = 1 };
	char			res[PROBE_RESULT_MAX];
	pid_t			pid;
	int			s;

	(void)state;
	if (geteuid() != 0)
		skip();
	p.kind = PROBE_TCP;
	s = server(NULL, &p.port, &pid);
	assert_true(run(&p, res));
	assert_string_equal(res, "connected");
	close(s);
	assert_false(run(&p, res));
	assert_string_equal(res, "connect: Connection refused");

	p.kind = PROBE_HTTP;
	snprintf(p.path, sizeof(p.path), "/healthz");
	s = server("HTTP/1.1 204 No Content\r\n\r\n", &p.port, &pid);
	assert_true(run(&p, res));
	assert_string_equal(res, "HTTP 204");
	waitpid(pid, NULL, 0);
	close(s);
	s = server("HTTP/1.0 404 Not Found\r\n\r\n", &p.port, &pid);
	assert_false(run(&p, res));
	assert_string_equal(res, "HTTP 404");
	waitpid(pid, NULL, 0);
	close(s);
	s = server("SSH-2.0-x\r\n", &p.port, &pid);
	assert_false(run(&p, res));
	assert_string_equal(res, "not an HTTP answer");
	waitpid(pid, NULL, 0);
	close(s);
	/* Accepted by the kernel, never answered: the timeout. */
	s = server(NULL, &p.port, &pid);
	assert_false(run(&p, res));
	assert_string_equal(res, "no answer within the timeout");
	close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec),
		cmocka_unit_test(test_runs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
