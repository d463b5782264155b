/* The console's pure parts: configuration, pam_faillock's tally, the
 * login records and the dashboard's summaries. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "console/console-conf.h"
#include "console/dashboard.h"
#include "console/faillock.h"
#include "console/login-record.h"
#include "lib/err.h"
#include "lib/macro.h"

static int
parse(const char *text, struct console_conf *c, char **err)
{
	assert_int_equal(console_conf_defaults(c), 0);
	*err = NULL;
	return console_conf_parse(text, strlen(text), c, err);
}

static void
test_conf(void **state)
{
	struct console_conf	 c;
	char			*err;

	(void)state;
	assert_int_equal(parse("{}", &c, &err), 0);
	/* the shipped PAM file's policy: 3 in 15 minutes lock for 3 hours */
	assert_int_equal(c.faillock.deny, 3);
	assert_int_equal(c.faillock.fail_interval, 900);
	assert_int_equal(c.faillock.unlock_time, 10800);
	assert_int_equal(c.idle_timeout, 15 * 60);
	assert_string_equal(c.pam_service, "bulwark-console");
	assert_non_null(strstr(c.banner, "USG-authorized"));
	/* the configured credential is used only when opted into */
	assert_int_equal(c.fallback_credential, 0);
	console_conf_clear(&c);
	assert_int_equal(parse("{\"fallback_credential\":true}", &c, &err), 0);
	assert_int_equal(c.fallback_credential, 1);
	console_conf_clear(&c);
	assert_int_equal(parse("{\"fallback_credential\":1}", &c, &err),
	    -BW_E_INVALID);
	assert_string_equal(err, "fallback_credential: must be true or false");
	free(err);
	console_conf_clear(&c);

	assert_int_equal(parse("{\"banner\":\"B\",\"idle_timeout\":2,"
	    "\"session_max\":60,\"faillock\":{\"dir\":\"/t/f\",\"deny\":5}}",
	    &c, &err), 0);
	assert_string_equal(c.banner, "B");
	assert_int_equal(c.idle_timeout, 2);
	assert_int_equal(c.session_max, 60);
	assert_string_equal(c.faillock.dir, "/t/f");
	assert_int_equal(c.faillock.deny, 5);
	console_conf_clear(&c);

	assert_int_equal(parse("{\"idle_timeout\":0}", &c, &err), -BW_E_INVALID);
	assert_string_equal(err, "idle_timeout: must be an integer 1..86400");
	free(err);
	console_conf_clear(&c);
	assert_int_equal(parse("{\"shell\":\"/bin/sh\"}", &c, &err), -BW_E_INVALID);
	assert_string_equal(err, "shell: unknown key");
	free(err);
	console_conf_clear(&c);
	assert_int_equal(parse("{\"faillock\":{\"unlock\":1}}", &c, &err),
	    -BW_E_INVALID);
	assert_string_equal(err, "faillock.unlock: unknown key");
	free(err);
	console_conf_clear(&c);
	assert_int_equal(parse("{\"state_dir\":\"rel\"}", &c, &err), -BW_E_INVALID);
	free(err);
	console_conf_clear(&c);
}

/* One tally record as pam_faillock writes it. */
static void
put_record(unsigned char *rec, uint16_t status, uint64_t t)
{
	memset(rec, 0, FLK_RECORD_SIZE);
	memcpy(rec, "/dev/tty1", 9);
	memcpy(rec + 54, &status, sizeof(status));
	memcpy(rec + 56, &t, sizeof(t));
}

static void
test_faillock(void **state)
{
	struct console_faillock	 p = { .deny = 3, .fail_interval = 900,
	    .unlock_time = 10800 };
	unsigned char		 buf[4 * FLK_RECORD_SIZE + 10];
	struct flk_status	 s;

	(void)state;
	put_record(buf, 5, 1000);
	put_record(buf + 64, 5, 1100);
	flk_eval(buf, 2 * FLK_RECORD_SIZE, &p, 1200, &s);
	assert_int_equal(s.failures, 2);
	assert_false(s.locked);
	put_record(buf + 128, 5, 1200);
	flk_eval(buf, 3 * FLK_RECORD_SIZE + 10, &p, 1200, &s);
	assert_int_equal(s.failures, 3);
	assert_true(s.locked);
	assert_int_equal(s.locked_until, 1200 + 10800);
	/* the lock ends unlock_time after the latest failure */
	flk_eval(buf, 3 * FLK_RECORD_SIZE, &p, 1200 + 10801, &s);
	assert_false(s.locked);
	/* failures older than fail_interval before the latest do not count */
	put_record(buf, 5, 100);
	flk_eval(buf, 3 * FLK_RECORD_SIZE, &p, 1200, &s);
	assert_int_equal(s.failures, 2);
	assert_false(s.locked);
	/* a record that faillock --reset cleared is not valid */
	put_record(buf, 4, 1150);
	flk_eval(buf, 3 * FLK_RECORD_SIZE, &p, 1200, &s);
	assert_int_equal(s.failures, 2);
	/* unlock_time 0: locked until an administrator resets the tally */
	p.unlock_time = 0;
	put_record(buf, 1, 1150);
	flk_eval(buf, 3 * FLK_RECORD_SIZE, &p, 999999, &s);
	assert_true(s.locked);
	assert_int_equal(s.locked_until, 0);
}

static void
test_login_record(void **state)
{
	char		 dir[] = "/tmp/bw-lrec.XXXXXX", path[64];
	struct lrec	 r;
	int		 fd;

	(void)state;
	assert_true(lrec_valid_user("alice"));
	assert_true(lrec_valid_user("_svc.admin-1"));
	assert_false(lrec_valid_user("../etc"));
	assert_false(lrec_valid_user("a/b"));
	assert_false(lrec_valid_user(""));
	assert_false(lrec_valid_user("123"));
	assert_false(lrec_valid_user("a23456789012345678901234567890123"));
	assert_non_null(mkdtemp(dir));
	assert_true((fd = lrec_open_dir(dir)) >= 0);
	assert_int_equal(lrec_read(fd, "alice", &r), 0);
	assert_int_equal(r.last_success, 0);
	assert_int_equal(lrec_note(fd, "alice", 0, 100, "/dev/tty1"), 0);
	assert_int_equal(lrec_note(fd, "alice", 0, 200, "/dev/tty2"), 0);
	assert_int_equal(lrec_read(fd, "alice", &r), 0);
	assert_int_equal(r.failures, 2);
	assert_int_equal(r.last_failure, 200);
	assert_string_equal(r.last_failure_from, "/dev/tty2");
	assert_int_equal(lrec_note(fd, "alice", 1, 300, "/dev/tty1"), 0);
	assert_int_equal(lrec_read(fd, "alice", &r), 0);
	assert_int_equal(r.failures, 0);
	assert_int_equal(r.last_success, 300);
	assert_int_equal(r.last_failure, 200);
	assert_int_equal(lrec_note(fd, "../x", 1, 300, ""), -BW_E_INVALID);
	assert_int_equal(lrec_event(fd, "alice", "account.lockout", "3 failures",
	    300), 0);
	/* AC-10: two slots; a third session waits for one to close */
	{
		int a = lrec_session_claim(fd, "alice", 2);
		int b = lrec_session_claim(fd, "alice", 2);

		assert_true(a >= 0 && b >= 0);
		assert_int_equal(lrec_session_claim(fd, "alice", 2), -EBUSY);
		close(a);
		a = lrec_session_claim(fd, "alice", 2);
		assert_true(a >= 0);
		close(a);
		close(b);
		assert_int_equal(lrec_session_claim(fd, "../x", 2), -BW_E_INVALID);
	}
	close(fd);
	snprintf(path, sizeof(path), "%s/alice.session.0", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/alice.session.1", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/alice.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/events.log", dir);
	unlink(path);
	rmdir(dir);
}

static void
test_dashboard(void **state)
{
	json_t			*nodes = json_pack("{s:[{s:{s:s,s:s}},{s:{s:s,s:s}},{s:{}}]}",
	    "items", "status", "phase", "Ready", "attestation", "Trusted",
	    "status", "phase", "Ready", "attestation", "Untrusted", "status");
	json_t			*comp = json_pack("{s:s,s:s,s:{s:{s:i,s:i},s:{s:{s:i,s:i}}}}",
	    "time", "2026-12-06T10:00:00Z", "baseline", "moderate", "summary",
	    "total", "satisfied", 40, "not-satisfied", 2, "families", "ac",
	    "satisfied", 10, "not-satisfied", 2);
	struct dash		 d = { 0 };
	struct dash_counts	 c;
	char			 s[128];

	(void)state;
	assert_non_null(nodes);
	dash_count(json_object_get(nodes, "items"), "status", "phase", "Unknown", &c);
	dash_counts_str(&c, s, sizeof(s));
	assert_string_equal(s, "Ready 2, Unknown 1");
	dash_fill(&d, DASH_NODES, nodes, NULL);
	assert_string_equal(d.panel[DASH_NODES].title, "Nodes");
	assert_string_equal(d.panel[DASH_NODES].line[0], "3 nodes");
	assert_string_equal(d.panel[DASH_NODES].line[2],
	    "attestation: Trusted 1, Untrusted 1, Unknown 1");
	dash_fill(&d, DASH_COMPLIANCE, comp, NULL);
	assert_string_equal(d.panel[DASH_COMPLIANCE].line[1],
	    "satisfied 40, not satisfied 2");
	assert_string_equal(d.panel[DASH_COMPLIANCE].line[3],
	    "ac  2 failing, 10 satisfied");
	dash_fill(&d, DASH_TENANTS, NULL, "not permitted for this principal");
	assert_string_equal(d.panel[DASH_TENANTS].line[0],
	    "not permitted for this principal");
	json_decref(nodes);
	json_decref(comp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf),
		cmocka_unit_test(test_faillock),
		cmocka_unit_test(test_login_record),
		cmocka_unit_test(test_dashboard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
