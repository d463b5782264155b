/* The agent's probes: their spec (defaults, refusals, the record's
 * round trip) and real runs against servers on the loopback of the
 * test's own network namespace (entering it needs root; skipped
 * otherwise). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/agent-run.h"
#include "agent/probe.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/json.h"

static json_t *
parse(const char *text)
{
	json_t *o = json_loads(text, 0, NULL);

	assert_non_null(o);
	return o;
}

/* Parses JSON into *RET, which must read back from its JSON the same
 * and be described as WANT. */
static void
parsed(const char *json, const char *want, struct probe_spec *ret)
{
	struct probe_spec	 q;
	json_t			*o = parse(json), *back;
	char			*err = NULL, what[64];

	assert_int_equal(probe_spec_parse(o, "liveness", ret, &err), 0);
	probe_describe(ret, what, sizeof(what));
	assert_string_equal(what, want);
	back = probe_spec_json(ret);
	assert_non_null(back);
	assert_int_equal(probe_spec_parse(back, "liveness", &q, &err), 0);
	assert_memory_equal(ret, &q, sizeof(q));
	json_decref(back);
	json_decref(o);
}

static void
test_spec(void **state)
{
	struct probe_spec	 p;
	json_t			*o;
	char			*err = NULL;

	(void)state;
	parsed("{\"http\": {\"port\": 8080}}", "http GET :8080/", &p);
	assert_int_equal(p.kind, PROBE_HTTP);
	assert_string_equal(p.path, "/");
	assert_int_equal(p.period_s, 10);
	assert_int_equal(p.timeout_s, 1);
	assert_int_equal(p.failure_threshold, 3);
	assert_int_equal(p.initial_delay_s, 0);

	parsed("{\"tcp\": {\"port\": 5432}, \"period_s\": 2, "
	    "\"failure_threshold\": 1, \"initial_delay_s\": 7}", "tcp :5432", &p);
	assert_int_equal(p.initial_delay_s, 7);

	o = parse("{\"tcp\": {\"port\": 1}, \"http\": {\"port\": 1}}");
	assert_int_equal(probe_spec_parse(o, "liveness", &p, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "spec.probes.liveness: must be an object "
	    "with one of http, tcp and exec"));
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

/* Probe JSON that parses as liveness must fail with WANT in the error. */
static void
refused(const char *json, const char *want)
{
	struct probe_spec	 p;
	json_t			*o = parse(json);
	char			*err = NULL;

	assert_int_equal(probe_spec_parse(o, "liveness", &p, &err),
	    -BW_E_INVALID);
	assert_non_null(strstr(err, want));
	free(err);
	json_decref(o);
}

/* Runs exec probe P after PREFIX to the end; its result in RES. */
static bool
run_exec(const struct probe_spec *p, const char *const *prefix,
    char res[PROBE_RESULT_MAX])
{
	struct probe_run	r = { 0 };
	bool			ok = false;

	assert_int_equal(probe_start(p, NULL, prefix, &r), 0);
	while (probe_poll(&r, &ok, res) == 0)
		usleep(10000);
	return ok;
}

/* Exec probes: the command round-trips, is described, and is refused
 * empty, too long or with a non-string; runs pass on exit 0, fail with
 * the exit code, and are killed at the timeout with their children. */
static void
test_exec(void **state)
{
	struct probe_spec	 p;
	const char *const	 prefix[] = { "/bin/sh", "-c", NULL };
	char			 res[PROBE_RESULT_MAX];
	double			 t0;

	(void)state;
	parsed("{\"exec\": {\"command\": [\"test\", \"-f\", \"/x\"]}, "
	    "\"timeout_s\": 2}", "exec test -f /x", &p);
	assert_int_equal(p.kind, PROBE_EXEC);
	assert_int_equal(p.argc, 3);
	refused("{\"exec\": {\"command\": []}}", "spec.probes.liveness.exec."
	    "command: must be an array of 1..16 strings");
	refused("{\"exec\": {\"command\": [\"a\", 1]}}", "spec.probes.liveness."
	    "exec.command: non-empty strings");

	/* The prefix stands for the runtime's `crun exec`. */
	p = (struct probe_spec){ .kind = PROBE_EXEC, .timeout_s = 1, .argc = 1 };
	snprintf(p.cmd, sizeof(p.cmd), "exit 0");
	assert_true(run_exec(&p, prefix, res));
	assert_string_equal(res, "exit 0");
	snprintf(p.cmd, sizeof(p.cmd), "exit 3");
	assert_false(run_exec(&p, prefix, res));
	assert_string_equal(res, "exit 3");
	/* A child of the command is killed with it. */
	snprintf(p.cmd, sizeof(p.cmd), "sleep 30 & sleep 30");
	t0 = bw_mono_s();
	assert_false(run_exec(&p, prefix, res));
	assert_string_equal(res, "timed out after 1 s");
	assert_true(bw_mono_s() - t0 < 5);
}

/* The children of PID, then theirs, as /proc says now: up to MAX in
 * PIDS; returns how many. */
static size_t
tree_of(pid_t pid, pid_t *pids, size_t max)
{
	char	 path[64], buf[512], *p, *end;
	size_t	 n = 0;
	FILE	*f;
	long	 v;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid,
	    (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	for (p = buf; n < max && (v = strtol(p, &end, 10), end != p); p = end)
		pids[n++] = (pid_t)v;
	for (size_t i = 0, k = n; i < k && n < max; i++)
		n += tree_of(pids[i], pids + n, max - n);
	return n;
}

/* Cancels a run of "/bin/sh -c CMD" once at least WANT processes are
 * below it: none of them is left as a child, running or a zombie (a
 * zombie of a container's PID namespace would keep the container's init
 * from finishing its exit), once probe_strays_reap() has reaped what
 * probe_cancel() could not at once (polled: a busy machine may take its
 * time to end them). */
static void
cancel_tree(const char *cmd, size_t want)
{
	struct probe_spec	 p = { .kind = PROBE_EXEC, .timeout_s = 10,
	    .argc = 1 };
	const char *const	 prefix[] = { "/bin/sh", "-c", NULL };
	struct probe_run	 r = { 0 };
	pid_t			 tree[128];
	size_t			 n = 0;

	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	snprintf(p.cmd, sizeof(p.cmd), "%s", cmd);
	assert_int_equal(probe_start(&p, NULL, prefix, &r), 0);
	for (int i = 0; i < 1000 && n < want; i++) {
		usleep(10000);
		n = tree_of(r.pid, tree, 128);
	}
	assert_true(n >= want);
	probe_cancel(&r);
	assert_int_equal(r.pid, 0);
	for (int i = 0; i < 1000 && probe_strays_reap() > 0; i++)
		usleep(10000);
	assert_int_equal(probe_strays_reap(), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(waitpid(tree[i], NULL, WNOHANG), -1);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
}

/* A run cancelled mid-command takes its runner and command along. */
static void
test_exec_cancel(void **state)
{
	(void)state;
	cancel_tree("sleep 30 & sleep 30", 2);
}

/* ... however many processes the command started (more than the 32 a
 * cancel once killed at most). */
static void
test_exec_cancel_many(void **state)
{
	(void)state;
	cancel_tree("for i in $(seq 40); do sleep 30 & done; wait", 41);
}

/* Starts "/bin/sh -c CMD" and waits until at least WANT processes are
 * below it. Returns 0 with *R in flight, else -1 (the run is cancelled). */
static int
start_tree(const char *cmd, size_t want, struct probe_run *r)
{
	struct probe_spec	 p = { .kind = PROBE_EXEC, .timeout_s = 30,
	    .argc = 1 };
	const char *const	 prefix[] = { "/bin/sh", "-c", NULL };
	pid_t			 tree[128];
	size_t			 n = 0;

	snprintf(p.cmd, sizeof(p.cmd), "%s", cmd);
	if (probe_start(&p, NULL, prefix, r) < 0)
		return -1;
	for (int i = 0; i < 1000 && n < want; i++) {
		usleep(10000);
		n = tree_of(r->pid, tree, 128);
	}
	if (n >= want)
		return 0;
	probe_cancel(r);
	return -1;
}

/* The other side of test_exec_cancel_others, in a child that is no
 * subreaper: what its runs leave is orphaned to its parent, as inside a
 * container's PID namespace to the container's init. Returns 0, or
 * which check failed. */
static int
cancel_others(void)
{
	struct probe_run	r = { 0 };

	if (prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) < 0)
		return 10;
	if (start_tree("i=0; while [ $i -lt 50 ]; do sleep 30 & "
	    "i=$((i+1)); done; wait", 51, &r) < 0)
		return 11;
	probe_cancel(&r);
	/* only the run is ours: the 51 others are let go at once (they
	 * were kept 10 s each: 2 s is generous for the run's reap) */
	for (int i = 0; i < 200 && probe_strays_reap() > 0; i++)
		usleep(10000);
	if (probe_strays_reap() != 0)
		return 12;
	/* later cancels leave nothing kept either (each one's own child
	 * reaped within the cancel or by the next reap). No bound on their
	 * time: a busy machine would make it fail, and with no stray kept
	 * there is nothing for a later cancel to wait on (check 12). */
	for (int i = 0; i < 10; i++) {
		if (start_tree("sleep 30", 1, &r) < 0)
			return 13;
		probe_cancel(&r);
	}
	for (int i = 0; i < 200 && probe_strays_reap() > 0; i++)
		usleep(10000);
	return probe_strays_reap() == 0 ? 0 : 14;
}

/* A cancel keeps for a later reap only its own children, not the
 * processes orphaned to another reaper (here this process, a subreaper
 * above the child that cancels), and later cancels leave none kept. */
static void
test_exec_cancel_others(void **state)
{
	pid_t	c, w;
	int	st, cst = -1;

	(void)state;
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	assert_true((c = fork()) >= 0);
	if (c == 0)
		_exit(cancel_others());
	/* reaps the child and what is orphaned to us, until none is left */
	while ((w = waitpid(-1, &st, 0)) > 0 || errno == EINTR)
		if (w == c)
			cst = st;
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
	assert_true(WIFEXITED(cst));
	assert_int_equal(WEXITSTATUS(cst), 0);
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

	assert_int_equal(probe_start(p, "/proc/self/ns/net", NULL, &r), 0);
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

/* {"a":[...]} of DEPTH levels into BUF. */
static void
nested(char *buf, size_t len, int depth)
{
	int i, n = 0;

	n += snprintf(buf + n, len - (size_t)n, "{\"a\":");
	for (i = 1; i < depth; i++)
		n += snprintf(buf + n, len - (size_t)n, "[");
	for (i = 1; i < depth; i++)
		n += snprintf(buf + n, len - (size_t)n, "]");
	snprintf(buf + n, len - (size_t)n, "}");
	assert_true((size_t)n + 1 < len);
}

/* The deepest instance record the agent writes (start_build_spec():
 * exec probes, a service, a tenant network, a volume), dumped as
 * rec_write() does, reads back whole through agent_run_record_parse(),
 * rec_read()'s parser; one level deeper than AR_RECORD_DEPTH does not.
 * With a depth of 4 (b998de5) such a record read as corrupt. */
static void
test_record_depth(void **state)
{
	struct probe_spec	 p;
	json_t			*rec, *o, *back = NULL;
	char			*err = NULL, *text;
	char			 deep[2 * AR_RECORD_DEPTH + 16];

	(void)state;
	o = parse("{\"exec\": {\"command\": [\"test\", \"-f\", \"/x\"]}}");
	assert_int_equal(probe_spec_parse(o, "liveness", &p, &err), 0);
	json_decref(o);
	rec = json_pack("{s:s, s:s, s:s, s:I, s:{s:o, s:o}, s:{s:s, s:I, s:I}, "
	    "s:s, s:s, s:s}", "tenant", "t", "name", "n", "workload", "w",
	    "cpu_millis", (json_int_t)100, "probes", "liveness",
	    probe_spec_json(&p), "readiness", probe_spec_json(&p), "service",
	    "address", "10.96.0.1", "port", (json_int_t)80, "target_port",
	    (json_int_t)8080, "net_tenant", "t", "subnet", "10.88.1.0/24",
	    "volume_uid", "0123456789abcdef");
	assert_non_null(rec);
	text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(text);
	assert_int_equal(agent_run_record_parse(text, strlen(text), &back), 0);
	assert_true(json_equal(rec, back));
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    json_object_get(json_object_get(json_object_get(back, "probes"),
	    "liveness"), "exec"), "command"), 2)), "/x");
	json_decref(back);
	free(text);
	json_decref(rec);

	/* {"a":[[...]]}: AR_RECORD_DEPTH levels read, one more does not */
	nested(deep, sizeof(deep), AR_RECORD_DEPTH);
	assert_int_equal(agent_run_record_parse(deep, strlen(deep), &back), 0);
	json_decref(back);
	nested(deep, sizeof(deep), AR_RECORD_DEPTH + 1);
	assert_int_equal(agent_run_record_parse(deep, strlen(deep), &back),
	    -BW_E_CORRUPT);
	assert_null(back);
	assert_int_equal(agent_run_record_parse("[]", 2, &back), -BW_E_CORRUPT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec),
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_exec),
		cmocka_unit_test(test_exec_cancel),
		cmocka_unit_test(test_exec_cancel_many),
		cmocka_unit_test(test_exec_cancel_others),
		cmocka_unit_test(test_record_depth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
