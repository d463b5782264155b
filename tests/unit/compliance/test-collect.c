/* The privileged collector (compliance/collect.h, bulwark-collect(8)):
 * the real program answering on a test socket for a prepared root, its
 * answer merged into a scan of a root where those files are unreadable,
 * and the scan failing closed when the collector is garbage, silent or
 * refuses; the answer parser's refusals; no password hash leaves. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "compliance/check.h"
#include "compliance/collect.h"
#include "lib/err.h"
#include "tests/unit/compliance/fixture.h"

enum serve_mode { SERVE_COLLECTOR, SERVE_GARBAGE, SERVE_SILENT, SERVE_SHORT,
	SERVE_OPEN };

/* The files an unprivileged bulwarkd cannot read on the appliance. */
static const char *const root_only[] = {
	"etc/shadow", "etc/audit/auditd.conf",
	"etc/audit/rules.d/bulwark.rules", "proc/sys/net/core/bpf_jit_harden",
	NULL,
};

/* A listener at PATH whose child answers one connection as MODE says
 * (SERVE_COLLECTOR: the real bulwark-collect on ROOT, the connection on
 * its standard input, as systemd starts it). Returns the child. */
static pid_t
serve(const char *path, enum serve_mode mode, const char *root)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned char hdr[COMP_COLLECT_HDR_LEN];
	int lfd, c;
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid > 0) {
		close(lfd);
		return pid;
	}
	if ((c = accept(lfd, NULL, NULL)) < 0)
		_exit(126);
	/* The fakes take the request first: closing on unread bytes
	 * would reset the connection instead of ending it. */
	if (mode != SERVE_COLLECTOR && read(c, hdr, sizeof(hdr)) < 0)
		_exit(125);
	switch (mode) {
	case SERVE_COLLECTOR:
		dup2(c, STDIN_FILENO);
		execl(BW_COLLECT_PATH, "bulwark-collect", "--root", root,
		    (char *)NULL);
		_exit(127);
	case SERVE_GARBAGE:
		(void)!write(c, "HTTP/1.0 200 OK\r\n\r\nsatisfied\n", 28);
		_exit(0);
	case SERVE_SILENT:
		sleep(60);
		_exit(0);
	case SERVE_SHORT:
		/* A header announcing more than it sends. */
		comp_collect_header(hdr, COMP_COLLECT_ANSWER, 100);
		(void)!write(c, hdr, sizeof(hdr));
		(void)!write(c, "{\"euid\":0}", 10);
		_exit(0);
	case SERVE_OPEN:
		/* A whole answer, the connection left open. */
		comp_collect_header(hdr, COMP_COLLECT_ANSWER, 23);
		(void)!write(c, hdr, sizeof(hdr));
		(void)!write(c, "{\"euid\":0,\"results\":[]}", 23);
		sleep(60);
		_exit(0);
	}
	_exit(1);
}

static int
reap(pid_t pid)
{
	int st = 0;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return st;
}

/* The status of PID, which is to exit by itself: the reader stops at
 * the announced length, so the collector may still be on its way out.
 * Killed after 30 s (then not WIFEXITED). */
static int
wait_exit(pid_t pid)
{
	int st = 0, i;

	for (i = 0; i < 3000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(10000);
	}
	return reap(pid);
}

static const struct comp_result *
find(const struct comp_scan *scan, const char *id)
{
	size_t i;

	for (i = 0; i < scan->n; i++)
		if (!strcmp(scan->results[i]->check->id, id))
			return scan->results[i];
	fail_msg("no result for %s", id);
	return NULL;
}

static bool
has_obs(const struct comp_result *r, const char *subject, const char *found)
{
	size_t i;

	for (i = 0; i < r->n_obs; i++)
		if (!strcmp(r->obs[i].subject, subject) &&
		    strstr(r->obs[i].found, found))
			return true;
	return false;
}

static bool
has_ev(const struct comp_result *r, const char *ref)
{
	size_t i;

	for (i = 0; i < r->n_ev; i++)
		if (!strcmp(r->ev[i].ref, ref))
			return true;
	return false;
}

/* A scan of W with FACTS. */
static struct comp_scan *
scan_world(struct world *w, const struct comp_facts *facts)
{
	struct comp_ctx ctx;
	struct comp_scan *scan = NULL;

	assert_int_equal(comp_ctx_open(&ctx, w->root, facts, &w->policy,
	    w->now), 0);
	assert_int_equal(comp_scan_run(&ctx, NULL, &scan), 0);
	comp_ctx_done(&ctx);
	return scan;
}

/* A world as bulwarkd's unprivileged user sees it: the root-only files
 * unreadable (here: absent). */
static void
world_unprivileged(struct world *w)
{
	size_t i;

	world_build(w);
	for (i = 0; root_only[i]; i++)
		world_rm(w, root_only[i]);
	w->facts.scanner_euid = 64000;
}

static void
test_merged(void **state)
{
	struct world good, local;
	struct comp_collect_answer *ans = NULL;
	struct comp_scan *scan;
	char path[96], ref[64], *err = NULL;
	size_t i;
	pid_t pid;
	int st;

	(void)state;
	world_build(&good);
	world_unprivileged(&local);
	snprintf(path, sizeof(path), "%s/collect.sock", local.root);

	/* Without the collector, the unreadable files fail those checks. */
	scan = scan_world(&local, &local.facts);
	assert_int_equal(find(scan, "au-log-format")->verdict,
	    COMP_NOT_SATISFIED);
	assert_int_equal(find(scan, "ia-password-storage")->verdict,
	    COMP_NOT_SATISFIED);
	assert_int_equal(find(scan, "cm-sysctl-baseline")->verdict,
	    COMP_NOT_SATISFIED);
	comp_scan_free(scan);

	pid = serve(path, SERVE_COLLECTOR, good.root);
	assert_int_equal(comp_collect_query(path, 30000, &ans, &err), 0);
	st = wait_exit(pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(ans->euid, (int)geteuid());
	for (i = 0; comp_collect_checks[i]; i++)
		;
	assert_int_equal(ans->n, i);
	/* bulwarkd's part: the collector's euid is the scanner's. */
	local.facts.scanner_euid = ans->euid;
	scan = scan_world(&local, &local.facts);
	assert_int_equal(comp_collect_merge(scan, ans, NULL), 0);
	for (i = 0; comp_collect_checks[i]; i++) {
		const struct comp_result *r = find(scan, comp_collect_checks[i]);
		bool want = strcmp(r->check->id, "ra-privileged-scan") ||
		    geteuid() == 0;

		if ((r->verdict == COMP_SATISFIED) != want)
			fail_msg("%s: %s after the merge", r->check->id,
			    comp_verdict_str(r->verdict));
		snprintf(ref, sizeof(ref), "collector:bulwark-collect euid %d",
		    (int)geteuid());
		assert_true(has_ev(r, ref));
		assert_true(has_obs(r, "collector", "bulwark-collect (euid"));
	}
	/* The host observations are the collector's, the facts bulwarkd's. */
	assert_true(has_obs(find(scan, "au-log-format"),
	    "/etc/audit/auditd.conf log_format", "ENRICHED"));
	assert_true(has_obs(find(scan, "ia-password-storage"), "/etc/shadow",
	    "6 accounts, 0 weak"));
	assert_true(has_obs(find(scan, "au-auditd-running"),
	    "fact:audit_active", "yes"));
	assert_true(has_ev(find(scan, "au-log-format"),
	    "/etc/audit/auditd.conf"));
	/* Checks the collector does not run are bulwarkd's own. */
	assert_false(has_obs(find(scan, "ac-faillock"), "collector", ""));
	comp_scan_free(scan);

	/* A fact bulwarkd reports as bad still fails the merged check. */
	local.facts.audit_active = COMP_NO;
	scan = scan_world(&local, &local.facts);
	assert_int_equal(comp_collect_merge(scan, ans, NULL), 0);
	assert_int_equal(find(scan, "au-auditd-running")->verdict,
	    COMP_NOT_SATISFIED);
	comp_scan_free(scan);
	comp_collect_answer_free(ans);
	ans = NULL;

	/* A weak hash on the collector's root: named by account only. */
	world_put(&good, "etc/shadow", "root:!:19700::::::\n"
	    "alice:$1$abcdefgh$SECRETHASHxxxxxxxxxxxx:19700::::::\n", 0640);
	pid = serve(path, SERVE_COLLECTOR, good.root);
	assert_int_equal(comp_collect_query(path, 30000, &ans, &err), 0);
	reap(pid);
	scan = scan_world(&local, &local.facts);
	assert_int_equal(comp_collect_merge(scan, ans, NULL), 0);
	assert_int_equal(find(scan, "ia-password-storage")->verdict,
	    COMP_NOT_SATISFIED);
	assert_true(has_obs(find(scan, "ia-password-storage"), "/etc/shadow",
	    "alice uses a weak or no hash"));
	comp_scan_free(scan);
	comp_collect_answer_free(ans);
	unlink(path);
	world_destroy(&good);
	world_destroy(&local);
}

/* Nothing of a hash is in the answer's bytes, nor a digest of the file
 * holding them; malformed lines are named by number only. */
static void
test_no_secret(void **state)
{
	struct comp_collect_answer *a = NULL;
	struct world w;
	struct comp_ctx ctx;
	unsigned char *buf = NULL;
	char *err = NULL;
	size_t len = 0, i, j, n_shadow = 0;

	(void)state;
	world_build(&w);
	/* Line 4 lost its colons, line 5 its name. */
	world_put(&w, "etc/shadow", "root:!:19700::::::\n"
	    "admin:$y$j9T$SALTSALT$HASHHASHHASHHASHHASHHASH:19700::::::\n"
	    "old:$1$abcdefgh$WEAKHASHWEAKHASH:19700::::::\n"
	    "alice$6$SALTSALT$HASHHASHBROKEN\n"
	    "$6$SALTSALT$HASHHASHNAME::19700::::::\n", 0640);
	assert_int_equal(comp_ctx_open(&ctx, w.root, &w.facts, &w.policy,
	    w.now), 0);
	assert_int_equal(comp_collect_answer_build(&ctx, &buf, &len), 0);
	comp_ctx_done(&ctx);
	assert_null(memmem(buf, len, "HASHHASH", 8));
	assert_null(memmem(buf, len, "SALTSALT", 8));
	assert_null(memmem(buf, len, "WEAKHASH", 8));
	assert_null(memmem(buf, len, "abcdefgh", 8));
	assert_null(memmem(buf, len, "alice", 5));
	assert_non_null(memmem(buf, len, "old uses a weak", 15));
	assert_non_null(memmem(buf, len, "malformed line 4", 16));
	assert_non_null(memmem(buf, len, "line 5 uses a weak", 18));
	assert_non_null(memmem(buf, len, "line 5 has an empty password", 28));
	/* The shadow evidence has no digest. */
	assert_int_equal(comp_collect_answer_parse(buf, len, &a, &err), 0);
	for (i = 0; i < a->n; i++)
		for (j = 0; j < a->results[i].n_ev; j++)
			if (!strcmp(a->results[i].ev[j].ref, "/etc/shadow")) {
				n_shadow++;
				assert_string_equal(a->results[i].ev[j].sha256,
				    "");
			}
	assert_true(n_shadow >= 3);
	comp_collect_answer_free(a);
	free(buf);
	world_destroy(&w);
}

/* A host observation that is fine. */
#define OBS "{\"subject\":\"/etc/shadow\",\"found\":\"x\",\"required\":\"y\",\"ok\":true}"

/* An answer of TEXT behind a header, parsed (refusal fails the test). */
static struct comp_collect_answer *
answer_of(const char *text)
{
	struct comp_collect_answer *a = NULL;
	size_t len = strlen(text);
	unsigned char *buf = malloc(COMP_COLLECT_HDR_LEN + len);
	char *err = NULL;

	assert_non_null(buf);
	comp_collect_header(buf, COMP_COLLECT_ANSWER, (uint32_t)len);
	memcpy(buf + COMP_COLLECT_HDR_LEN, text, len);
	if (comp_collect_answer_parse(buf, COMP_COLLECT_HDR_LEN + len, &a,
	    &err) < 0)
		fail_msg("%s: %s", text, err);
	free(buf);
	return a;
}

/* An answer with every collector check at VERDICT and OBS (JSON array
 * text) as its observations. */
static struct comp_collect_answer *
answer_all(const char *verdict, const char *obs)
{
	char *text = NULL, *next;
	struct comp_collect_answer *a;
	size_t i;

	assert_true(asprintf(&text, "{\"euid\":0,\"results\":[") > 0);
	for (i = 0; comp_collect_checks[i]; i++) {
		assert_true(asprintf(&next, "%s%s{\"check\":\"%s\",\"verdict\":"
		    "\"%s\",\"observations\":%s,\"evidence\":[]}", text,
		    i ? "," : "", comp_collect_checks[i], verdict, obs) > 0);
		free(text);
		text = next;
	}
	assert_true(asprintf(&next, "%s]}", text) > 0);
	free(text);
	a = answer_of(next);
	free(next);
	return a;
}

/* Merges A into a scan of W (where bulwarkd could read every file and
 * all its facts are good) and expects every collector check at WANT. */
static void
expect_merged(struct world *w, struct comp_collect_answer *a,
    enum comp_verdict want, const char *obs_found)
{
	struct comp_scan *scan = scan_world(w, &w->facts);
	size_t i;

	assert_int_equal(comp_collect_merge(scan, a, NULL), 0);
	for (i = 0; comp_collect_checks[i]; i++) {
		const struct comp_result *r = find(scan, comp_collect_checks[i]);

		if (r->verdict != want)
			fail_msg("%s: %s after the merge, expected %s",
			    r->check->id, comp_verdict_str(r->verdict),
			    comp_verdict_str(want));
		if (obs_found && !has_obs(r, "collector", obs_found))
			fail_msg("%s: no collector observation \"%s\"",
			    r->check->id, obs_found);
	}
	comp_scan_free(scan);
	comp_collect_answer_free(a);
}

/* bulwarkd's facts alone never satisfy a collector check: the collector
 * must say satisfied and send a host observation backing it. */
static void
test_merge_needs_host_obs(void **state)
{
	struct world w;

	(void)state;
	world_build(&w);
	w.facts.scanner_euid = 0;
	expect_merged(&w, answer_all("not-satisfied", "[]"),
	    COMP_NOT_SATISFIED, NULL);
	expect_merged(&w, answer_all("satisfied", "[]"), COMP_NOT_SATISFIED,
	    "none sent");
	/* A collector's "fact:" observation is not a host one (and is
	 * dropped: the facts are bulwarkd's). */
	expect_merged(&w, answer_all("satisfied", "[{\"subject\":"
	    "\"fact:audit_active\",\"found\":\"yes\",\"required\":\"yes\","
	    "\"ok\":true}]"), COMP_NOT_SATISFIED, "none sent");
	/* A host observation that is fine does not outweigh the collector's
	 * own verdict. */
	expect_merged(&w, answer_all("not-satisfied", "[" OBS "]"),
	    COMP_NOT_SATISFIED, NULL);
	expect_merged(&w, answer_all("satisfied", "[" OBS "]"), COMP_SATISFIED,
	    NULL);
	world_destroy(&w);
}

/* A check with more observations than the protocol carries is the
 * collector's error, not a list cut short. */
static void
test_over_limit(void **state)
{
	struct comp_collect_answer *a = NULL;
	const struct comp_collect_result *c = NULL;
	struct world w;
	struct comp_ctx ctx;
	struct comp_scan *scan;
	unsigned char *buf = NULL;
	char rel[64], *err = NULL;
	size_t len = 0, i;

	(void)state;
	world_build(&w);
	w.facts.scanner_euid = 0;
	/* au-protection observes each file of var/log/audit; the last one
	 * (by name) is the bad one. */
	for (i = 0; i <= COMP_COLLECT_OBS_MAX; i++) {
		snprintf(rel, sizeof(rel), "var/log/audit/audit.log.%05zu", i);
		world_put(&w, rel, "", i == COMP_COLLECT_OBS_MAX ? 0666 : 0600);
	}
	assert_int_equal(comp_ctx_open(&ctx, w.root, &w.facts, &w.policy,
	    w.now), 0);
	assert_int_equal(comp_collect_answer_build(&ctx, &buf, &len), 0);
	comp_ctx_done(&ctx);
	assert_int_equal(comp_collect_answer_parse(buf, len, &a, &err), 0);
	free(buf);
	for (i = 0; i < a->n; i++)
		if (!strcmp(a->results[i].check, "au-protection"))
			c = &a->results[i];
	assert_non_null(c);
	assert_int_equal(c->verdict, COMP_ERROR);
	assert_int_equal(c->n_obs, 0);
	assert_non_null(strstr(c->error, "over the collector's limit"));
	scan = scan_world(&w, &w.facts);
	assert_int_equal(comp_collect_merge(scan, a, NULL), 0);
	assert_int_equal(find(scan, "au-protection")->verdict, COMP_ERROR);
	assert_int_equal(find(scan, "au-log-format")->verdict, COMP_SATISFIED);
	comp_scan_free(scan);
	comp_collect_answer_free(a);
	world_destroy(&w);
}

/* Each way the collector can fail leaves its checks not satisfied, even
 * on a root where bulwarkd could read every file itself. */
static void
fail_closed(struct world *w, const char *why)
{
	struct comp_scan *scan = scan_world(w, &w->facts);
	size_t i;

	assert_int_equal(find(scan, "au-log-format")->verdict, COMP_SATISFIED);
	assert_int_equal(comp_collect_merge(scan, NULL, why), 0);
	for (i = 0; comp_collect_checks[i]; i++) {
		const struct comp_result *r = find(scan, comp_collect_checks[i]);

		assert_int_equal(r->verdict, COMP_NOT_SATISFIED);
		assert_true(has_obs(r, "collector", why));
	}
	assert_int_equal(find(scan, "ac-faillock")->verdict, COMP_SATISFIED);
	comp_scan_free(scan);
}

static void
test_fail_closed(void **state)
{
	struct world w;
	struct comp_collect_answer *ans = NULL;
	char path[96], *err = NULL;
	pid_t pid;
	int r;

	(void)state;
	world_build(&w);
	snprintf(path, sizeof(path), "%s/collect.sock", w.root);

	/* Absent: the caller scans as before. */
	assert_int_equal(comp_collect_query(path, 1000, &ans, &err), -ENOENT);
	free(err);
	err = NULL;

	pid = serve(path, SERVE_GARBAGE, NULL);
	r = comp_collect_query(path, 30000, &ans, &err);
	reap(pid);
	assert_int_equal(r, -BW_E_INVALID);
	assert_non_null(strstr(err, "bad magic"));
	fail_closed(&w, err);
	free(err);
	err = NULL;

	pid = serve(path, SERVE_SILENT, NULL);
	r = comp_collect_query(path, 500, &ans, &err);
	reap(pid);
	assert_int_equal(r, -ETIMEDOUT);
	assert_non_null(strstr(err, "no whole answer within the time"));
	fail_closed(&w, err);
	free(err);
	err = NULL;

	pid = serve(path, SERVE_SHORT, NULL);
	r = comp_collect_query(path, 30000, &ans, &err);
	reap(pid);
	assert_int_equal(r, -BW_E_INVALID);
	assert_non_null(strstr(err, "10 bytes, 100 announced"));
	free(err);
	err = NULL;

	/* The announced length ends the answer, not the end of the stream
	 * (the fake never closes: waiting for it would time out). */
	pid = serve(path, SERVE_OPEN, NULL);
	r = comp_collect_query(path, 30000, &ans, &err);
	reap(pid);
	assert_int_equal(r, 0);
	assert_int_equal(ans->n, 0);
	comp_collect_answer_free(ans);
	ans = NULL;

	/* A socket nobody listens on: refused. */
	r = comp_collect_query(path, 1000, &ans, &err);
	assert_true(r < 0 && r != -ENOENT);
	free(err);
	unlink(path);
	world_destroy(&w);
}

/* The collector refuses any request but the scan request, answering
 * nothing. */
static void
test_request_refused(void **state)
{
	struct world w;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned char req[COMP_COLLECT_HDR_LEN + 4] = { 0 }, buf[64];
	char path[96];
	int fd, st;
	pid_t pid;

	(void)state;
	world_build(&w);
	snprintf(path, sizeof(path), "%s/collect.sock", w.root);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* A scan request with a payload: a client naming something. */
	comp_collect_header(req, COMP_COLLECT_REQ_SCAN, 4);
	memcpy(req + COMP_COLLECT_HDR_LEN, "etc/", 4);
	pid = serve(path, SERVE_COLLECTOR, w.root);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, sizeof(req)), (ssize_t)sizeof(req));
	/* Nothing, at the end of the stream or reset (bytes unread). */
	assert_true(read(fd, buf, sizeof(buf)) <= 0);
	close(fd);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(WEXITSTATUS(st), 1);
	unlink(path);
	world_destroy(&w);
}

/* FRAME: the JSON TEXT behind an answer header. */
static int
parse_text(const char *text, char **ret_err)
{
	struct comp_collect_answer *a = NULL;
	unsigned char buf[4096];
	size_t len = strlen(text);
	int r;

	comp_collect_header(buf, COMP_COLLECT_ANSWER, (uint32_t)len);
	memcpy(buf + COMP_COLLECT_HDR_LEN, text, len);
	r = comp_collect_answer_parse(buf, COMP_COLLECT_HDR_LEN + len, &a,
	    ret_err);
	comp_collect_answer_free(a);
	return r;
}

static void
expect_refused(const char *text, const char *msg)
{
	char *err = NULL;

	assert_true(parse_text(text, &err) < 0);
	if (!strstr(err, msg))
		fail_msg("%s: \"%s\" lacks \"%s\"", text, err, msg);
	free(err);
}

static void
test_parse(void **state)
{
	struct comp_collect_answer *a = NULL;
	unsigned char buf[64];
	char *err = NULL;

	(void)state;
	assert_int_equal(parse_text("{\"euid\":0,\"results\":[{\"check\":"
	    "\"au-log-format\",\"verdict\":\"satisfied\",\"observations\":["
	    OBS "],\"evidence\":[{\"ref\":\"/etc/audit/auditd.conf\","
	    "\"sha256\":\"\"}]}]}", &err), 0);
	expect_refused("{\"euid\":0,\"results\":[{\"check\":\"ac-faillock\","
	    "\"verdict\":\"satisfied\",\"observations\":[],\"evidence\":[]}]}",
	    "is not a collector check");
	expect_refused("{\"euid\":0,\"results\":[{\"check\":\"ac-accounts\","
	    "\"verdict\":\"satisfied\",\"observations\":[],\"evidence\":[]},"
	    "{\"check\":\"ac-accounts\",\"verdict\":\"satisfied\","
	    "\"observations\":[],\"evidence\":[]}]}", "ac-accounts twice");
	expect_refused("{\"euid\":0,\"results\":[{\"check\":\"ac-accounts\","
	    "\"verdict\":\"fine\",\"observations\":[],\"evidence\":[]}]}",
	    "verdict: unknown");
	expect_refused("{\"euid\":0,\"results\":[{\"check\":\"ac-accounts\","
	    "\"verdict\":\"satisfied\",\"observations\":[{\"subject\":\"s\"}],"
	    "\"evidence\":[]}]}", "ok: not a boolean");
	expect_refused("{\"euid\":0,\"results\":[{\"check\":\"ac-accounts\","
	    "\"verdict\":\"satisfied\",\"observations\":[],\"evidence\":"
	    "[{\"ref\":\"/x\",\"sha256\":\"XYZ\"}]}]}", "sha256");
	expect_refused("{\"euid\":0,\"results\":[{\"check\":\"ac-accounts\","
	    "\"verdict\":\"satisfied\",\"observations\":[],\"evidence\":"
	    "[{\"ref\":\"collector:bulwark-collect euid 0\",\"sha256\":\"\"}]}]}",
	    "not an absolute path");
	expect_refused("{\"euid\":0,\"results\":[],\"path\":\"/etc\"}",
	    "unknown member");
	expect_refused("{\"euid\":-1,\"results\":[]}", "euid");
	expect_refused("[1,2]", "not an object");

	/* Headers: magic, version, length against what was received. */
	comp_collect_header(buf, COMP_COLLECT_ANSWER, 2);
	memcpy(buf + COMP_COLLECT_HDR_LEN, "{}x", 3);
	assert_int_equal(comp_collect_answer_parse(buf,
	    COMP_COLLECT_HDR_LEN + 3, &a, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "3 bytes, 2 announced"));
	free(err);
	err = NULL;
	comp_collect_header(buf, COMP_COLLECT_ANSWER,
	    (uint32_t)COMP_COLLECT_ANSWER_MAX + 1);
	assert_int_equal(comp_collect_answer_parse(buf, COMP_COLLECT_HDR_LEN,
	    &a, &err), -BW_E_TOOLARGE);
	free(err);
	err = NULL;
	comp_collect_header(buf, COMP_COLLECT_ANSWER, 2);
	buf[4] = 9;	/* version */
	assert_int_equal(comp_collect_answer_parse(buf,
	    COMP_COLLECT_HDR_LEN + 2, &a, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "protocol version 9"));
	free(err);
	err = NULL;
	comp_collect_header(buf, COMP_COLLECT_REQ_SCAN, 0);
	assert_int_equal(comp_collect_request_check(buf, COMP_COLLECT_HDR_LEN,
	    &err), 0);
	assert_int_equal(comp_collect_request_check(buf, COMP_COLLECT_HDR_LEN + 1,
	    &err), -BW_E_INVALID);
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_no_secret),
		cmocka_unit_test(test_merged),
		cmocka_unit_test(test_merge_needs_host_obs),
		cmocka_unit_test(test_over_limit),
		cmocka_unit_test(test_fail_closed),
		cmocka_unit_test(test_request_refused),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
