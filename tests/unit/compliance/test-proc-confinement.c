/* The /proc/PID/status reader: fixture status files written here (a
 * confined and an unconfined process, malformed, missing and oversized
 * ones) and the test's own live status. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "compliance/proc-confinement.h"
#include "lib/err.h"
#include "lib/macro.h"

static char	dir[] = "/tmp/test-proc-confinement.XXXXXX";
static char	path[sizeof(dir) + 16];

/* The fields around the ones read, as the kernel writes them. */
#define HEAD	"Name:\tbulwarkd\nUmask:\t0022\nState:\tS (sleeping)\n" \
	"Pid:\t1234\nPPid:\t1\n"

static const char *
fixture(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "%s/status", dir);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

static int
parse(const char *text, struct comp_confinement *c, char **err)
{
	return comp_proc_confinement_file(fixture(text), 1234, c, err);
}

static void
test_unconfined_root(void **state)
{
	struct comp_confinement	 c;
	char			 s[128];

	(void)state;
	assert_int_equal(parse(HEAD "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
	    "CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n"
	    "CapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n"
	    "NoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n", &c, NULL), 0);
	assert_int_equal(c.pid, 1234);
	assert_int_equal(c.euid, 0);
	assert_true(c.cap_eff == 0x1ffffffffffULL);
	assert_true(c.cap_bnd == 0x1ffffffffffULL);
	assert_int_equal(c.no_new_privs, 0);
	assert_int_equal(c.seccomp, COMP_SECCOMP_DISABLED);
	comp_confinement_str(&c, s, sizeof(s));
	assert_string_equal(s, "pid 1234: uid 0, CapEff 000001ffffffffff, "
	    "NoNewPrivs 0, Seccomp 0");
}

static void
test_confined_worker(void **state)
{
	struct comp_confinement c;

	(void)state;
	/* No trailing newline, fields in another order, real and
	 * effective uid differ: Seccomp_filters must not be taken for
	 * Seccomp. */
	assert_int_equal(parse("Seccomp_filters:\t1\nSeccomp:\t2\n"
	    "NoNewPrivs:\t1\nUid:\t1000\t997\t997\t997\n"
	    "CapBnd:\t0000000000000000\nCapEff:\t0000000000000000", &c,
	    NULL), 0);
	assert_int_equal(c.ruid, 1000);
	assert_int_equal(c.euid, 997);
	assert_true(c.cap_eff == 0 && c.cap_bnd == 0);
	assert_int_equal(c.no_new_privs, 1);
	assert_int_equal(c.seccomp, COMP_SECCOMP_FILTER);
}

#define GOOD_UID	"Uid:\t0\t0\t0\t0\n"
#define GOOD_CAPS	"CapEff:\t0\nCapBnd:\t0\n"
#define GOOD_REST	"NoNewPrivs:\t0\nSeccomp:\t0\n"

static void
expect_bad(const char *text, const char *msg)
{
	struct comp_confinement	 c = { .pid = 99 };
	_cleanup_free_ char	*err = NULL;

	assert_int_equal(parse(text, &c, &err), -BW_E_INVALID);
	assert_non_null(err);
	if (!strstr(err, msg))
		fail_msg("\"%s\" lacks \"%s\"", err, msg);
	assert_int_equal(c.pid, 99);	/* untouched */
}

static void
test_malformed(void **state)
{
	(void)state;
	expect_bad("", "no Uid field");
	expect_bad(HEAD GOOD_UID GOOD_CAPS "Seccomp:\t0\n",
	    "no NoNewPrivs field");
	expect_bad(HEAD "Uid:\tzero\n" GOOD_CAPS GOOD_REST,
	    "Uid: malformed value");
	expect_bad(HEAD "Uid:\t0\n" GOOD_CAPS GOOD_REST,
	    "Uid: malformed value");
	expect_bad(HEAD "Uid:\t-1\t-1\n" GOOD_CAPS GOOD_REST,
	    "Uid: malformed value");
	expect_bad(HEAD "Uid:\t99999999999\t0\n" GOOD_CAPS GOOD_REST,
	    "Uid: malformed value");
	expect_bad(HEAD GOOD_UID "CapEff:\tzz\nCapBnd:\t0\n" GOOD_REST,
	    "CapEff: malformed value");
	expect_bad(HEAD GOOD_UID "CapEff:\t1ffffffffffffffffff\nCapBnd:\t0\n"
	    GOOD_REST, "CapEff: malformed value");
	expect_bad(HEAD GOOD_UID GOOD_CAPS "NoNewPrivs:\t2\nSeccomp:\t0\n",
	    "NoNewPrivs: malformed value");
	expect_bad(HEAD GOOD_UID GOOD_CAPS "NoNewPrivs:\t0\nSeccomp:\t3\n",
	    "Seccomp: malformed value");
	expect_bad(HEAD GOOD_UID GOOD_CAPS GOOD_REST "Seccomp:\t2\n",
	    "Seccomp: repeated");
}

static void
test_unreadable(void **state)
{
	struct comp_confinement	 c;
	_cleanup_free_ char	*err = NULL, *big = NULL;
	char			 missing[sizeof(dir) + 16];

	(void)state;
	snprintf(missing, sizeof(missing), "%s/none", dir);
	assert_int_equal(comp_proc_confinement_file(missing, 1, &c, &err),
	    -ENOENT);
	assert_non_null(strstr(err, "none"));
	free(err);
	err = NULL;

	/* A status file is never this large: the read stops at its bound. */
	assert_non_null(big = malloc(128 * 1024 + 1));
	memset(big, 'x', 128 * 1024);
	big[128 * 1024] = '\0';
	assert_int_equal(comp_proc_confinement_file(fixture(big), 1, &c,
	    &err), -EFBIG);
	assert_non_null(err);
}

static void
test_live(void **state)
{
	struct comp_confinement	 c;
	_cleanup_free_ char	*err = NULL;

	(void)state;
	assert_int_equal(comp_proc_confinement(getpid(), &c, &err), 0);
	assert_int_equal(c.pid, getpid());
	assert_int_equal(c.euid, geteuid());
	assert_int_equal(c.ruid, getuid());
	assert_int_equal(c.no_new_privs, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	assert_int_equal(c.seccomp, prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unconfined_root),
		cmocka_unit_test(test_confined_worker),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_live),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
