/* The host baseline (hardening/baseline.c) on a fake root built here:
 * check finds the differences, apply fixes them, a second apply changes
 * nothing, and no path through a symlink is written. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "hardening/baseline.h"
#include "tests/unit/hardening/tmpdir.h"

#define COMMON_AUTH \
	"auth\t[success=1 default=ignore]\tpam_unix.so nullok\n" \
	"auth\trequisite\t\t\tpam_deny.so\n" \
	"auth\trequired\t\t\tpam_permit.so\n"

struct fake {
	char	*root;
	int	 fd;
};

static void
put(struct fake *f, const char *rel, const char *text, mode_t mode)
{
	char path[PATH_MAX], dir[PATH_MAX];
	char *slash;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')))
		*slash = '\0';
	assert_int_equal(mkdir_p(dir, 0755), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static char *
get(struct fake *f, const char *rel)
{
	char *buf = NULL;

	if (read_file_at(f->fd, rel, 1 << 20, &buf, NULL) < 0)
		return NULL;
	return buf;
}

static void
mkdirs(struct fake *f, const char *rel, mode_t mode)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	assert_int_equal(mkdir_p(path, mode), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int
setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(f->root = tmpdir_make());
	f->fd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->fd >= 0);
	put(f, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0666);
	put(f, "etc/group", "root:x:0:\n", 0644);
	put(f, "etc/shadow", "root:*:19000:0:99999:7:::\n", 0644);
	put(f, "etc/gshadow", "root:*::\n", 0640);
	put(f, "etc/pam.d/common-auth", COMMON_AUTH, 0644);
	put(f, "etc/pam.d/common-password",
	    "password\t[success=1 default=ignore]\tpam_unix.so obscure\n", 0644);
	put(f, "etc/pam.d/su", "auth       sufficient pam_rootok.so\n"
	    "# auth       required   pam_wheel.so\n"
	    "session       required   pam_env.so readenv=1\n", 0644);
	put(f, "etc/security/faillock.conf", "# deny = 3\n", 0644);
	put(f, "etc/login.defs", "UMASK 022\nENCRYPT_METHOD MD5\n", 0644);
	put(f, "etc/default/useradd", "# INACTIVE=-1\n", 0644);
	put(f, "etc/fstab", "# <file system> <mount point> <type>\n"
	    "tmpfs /tmp tmpfs rw,nosuid 0 0\n", 0644);
	put(f, "etc/issue", "Debian GNU/Linux 12 \\n \\l\n", 0644);
	put(f, "etc/sysctl.d/10-local.conf", "kernel.kptr_restrict = 0\n", 0644);
	mkdirs(f, "usr/bin", 0755);
	mkdirs(f, "usr/sbin", 0755);
	mkdirs(f, "usr/lib", 0755);
	mkdirs(f, "var/lib/dpkg", 0775);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fake *f = *state;

	close(f->fd);
	tmpdir_remove(f->root);
	free(f);
	return 0;
}

static size_t
count_differ(struct fake *f)
{
	const struct hb_item *items;
	size_t n, i, differ = 0;

	items = hb_items(&n);
	for (i = 0; i < n; i++) {
		_cleanup_free_ char *found = NULL;
		int r = hb_item_check(f->fd, &items[i], &found);

		assert_true(r == 0 || r == 1);
		assert_non_null(found);
		differ += r == 0;
	}
	return differ;
}

static int
check_id(struct fake *f, const char *id, char **ret_found)
{
	const struct hb_item *it = hb_find(id);

	assert_non_null(it);
	return hb_item_check(f->fd, it, ret_found);
}

struct log {
	size_t	changes, errors;
	char	last_err[256];
};

static void
collect(const struct hb_item *item, const char *what, const char *err,
    void *arg)
{
	struct log *l = arg;

	(void)what;
	if (err) {
		l->errors++;
		snprintf(l->last_err, sizeof(l->last_err), "%s: %s", item->id,
		    err);
	} else
		l->changes++;
}

static void
test_check_finds_differences(void **state)
{
	struct fake *f = *state;
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

	assert_true(count_differ(f) > 20);
	assert_int_equal(check_id(f, "sysctl.kernel.kptr_restrict", &a), 0);
	assert_string_equal(a, "0");
	assert_int_equal(check_id(f, "mode./etc/passwd", &b), 0);
	assert_non_null(strstr(b, "0666"));
	assert_int_equal(check_id(f, "login.defs.ENCRYPT_METHOD", &c), 0);
	assert_string_equal(c, "MD5");
	assert_int_equal(check_id(f, "mount./tmp", &d), 0);
	assert_string_equal(d, "rw,nosuid");
	/* Optional items are satisfied by their absence. */
	free(a);
	a = NULL;
	assert_int_equal(check_id(f, "mode./etc/sudoers", &a), 1);
}

static void
test_dry_run_changes_nothing(void **state)
{
	struct fake *f = *state;
	struct log l = { 0 };
	size_t before = count_differ(f);
	_cleanup_free_ char *auth = NULL;

	assert_true(hb_apply(f->fd, true, collect, &l) > 0);
	assert_int_equal(l.errors, 0);
	assert_int_equal(count_differ(f), before);
	assert_non_null(auth = get(f, "etc/pam.d/common-auth"));
	assert_string_equal(auth, COMMON_AUTH);
}

static void
test_apply_fixes_and_is_idempotent(void **state)
{
	struct fake *f = *state;
	struct log l = { 0 }, l2 = { 0 };
	_cleanup_free_ char *auth = NULL, *orig = NULL, *auth2 = NULL,
	    *su = NULL, *fstab = NULL, *defs = NULL;
	struct stat st;
	int r;

	r = hb_apply(f->fd, false, collect, &l);
	if (l.errors)
		print_error("%s\n", l.last_err);
	assert_int_equal(l.errors, 0);
	assert_true(r > 0);
	assert_int_equal(count_differ(f), 0);

	/* The auth stack: faillock around pam_unix, whose success jump
	 * still lands past pam_deny. */
	assert_non_null(auth = get(f, "etc/pam.d/common-auth"));
	assert_string_equal(auth,
	    "auth\trequired\t\t\tpam_faillock.so preauth\n"
	    "auth\t[success=2 default=ignore]\tpam_unix.so\n"
	    "auth\t[default=die]\t\t\tpam_faillock.so authfail\n"
	    "auth\trequisite\t\t\tpam_deny.so\n"
	    "auth\trequired\t\t\tpam_permit.so\n");
	assert_non_null(orig = get(f, "etc/pam.d/common-auth.bulwark-orig"));
	assert_string_equal(orig, COMMON_AUTH);
	assert_non_null(su = get(f, "etc/pam.d/su"));
	assert_non_null(strstr(su, "pam_rootok.so\nauth       required   "
	    "pam_wheel.so\n# auth"));
	assert_non_null(fstab = get(f, "etc/fstab"));
	assert_non_null(strstr(fstab, "tmpfs\t/tmp\ttmpfs\t"
	    "rw,nosuid,noexec,nodev\t0\t0\n"));
	assert_non_null(strstr(fstab, "/dev/shm"));
	assert_non_null(strstr(fstab, "\n/var/tmp /var/tmp none "
	    "rw,bind,noexec,nosuid,nodev 0 0\n"));
	assert_non_null(defs = get(f, "etc/login.defs"));
	assert_string_equal(defs, "UMASK 027\nENCRYPT_METHOD YESCRYPT\n"
	    "SHA_CRYPT_MIN_ROUNDS 65536\nSHA_CRYPT_MAX_ROUNDS 65536\n"
	    "PASS_MAX_DAYS 60\nPASS_MIN_DAYS 1\n");
	assert_int_equal(fstatat(f->fd, "etc/passwd", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(fstatat(f->fd, "var/lib/dpkg", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0755);

	/* A second apply changes nothing. */
	assert_int_equal(hb_apply(f->fd, false, collect, &l2), 0);
	assert_int_equal(l2.changes + l2.errors, 0);
	assert_non_null(auth2 = get(f, "etc/pam.d/common-auth"));
	assert_string_equal(auth, auth2);
}

/* The items Lynis also weighs (docs/install.md, "Lynis"): each differs
 * on the fake root, and apply writes it where the system reads it. */
static void
test_apply_writes_lynis_items(void **state)
{
	static const char *const ids[] = {
		"sysctl.fs.protected_fifos", "sysctl.fs.protected_regular",
		"sysctl.kernel.sysrq", "sysctl.dev.tty.ldisc_autoload",
		"sysctl.kernel.core_uses_pid",
		"sysctl.net.ipv4.conf.default.accept_source_route",
		"sysctl.net.ipv4.conf.default.log_martians",
		"sysctl.net.ipv4.conf.default.send_redirects",
		"sysctl.net.ipv6.conf.default.accept_redirects",
		"sysctl.net.ipv6.conf.default.accept_source_route",
		"login.defs.UMASK", "login.defs.PASS_MAX_DAYS",
		"login.defs.PASS_MIN_DAYS", "login.defs.SHA_CRYPT_MIN_ROUNDS",
		"login.defs.SHA_CRYPT_MAX_ROUNDS",
		"profile.umask", "limits.core", "modprobe.firewire-core",
		"modprobe.dccp", "modprobe.sctp", "modprobe.rds",
		"modprobe.tipc", "modprobe.cramfs", "modprobe.freevxfs",
		"modprobe.jffs2", "modprobe.hfs", "modprobe.hfsplus",
		"modprobe.udf",
	};
	struct fake *f = *state;
	struct log l = { 0 };
	_cleanup_free_ char *sysctl = NULL, *limits = NULL, *mods = NULL,
	    *umask = NULL, *found = NULL;
	size_t i;

	for (i = 0; i < ELEMENTSOF(ids); i++) {
		_cleanup_free_ char *was = NULL;

		assert_int_equal(check_id(f, ids[i], &was), 0);
	}
	/* A value outside the accepted range differs too. */
	put(f, "etc/login.defs", "PASS_MAX_DAYS 99999\nUMASK 022\n", 0644);
	assert_int_equal(check_id(f, "login.defs.PASS_MAX_DAYS", &found), 0);
	assert_string_equal(found, "99999");

	assert_true(hb_apply(f->fd, false, collect, &l) > 0);
	assert_int_equal(l.errors, 0);
	for (i = 0; i < ELEMENTSOF(ids); i++) {
		_cleanup_free_ char *now = NULL;

		assert_int_equal(check_id(f, ids[i], &now), 1);
	}
	assert_non_null(sysctl = get(f,
	    "etc/sysctl.d/99-zz-bulwark-baseline.conf"));
	assert_non_null(strstr(sysctl, "\nkernel.sysrq = 0\n"));
	assert_non_null(strstr(sysctl, "\nfs.protected_regular = 2\n"));
	assert_non_null(limits = get(f,
	    "etc/security/limits.d/90-bulwark-baseline.conf"));
	assert_string_equal(limits, "* - core 0\n");
	assert_non_null(mods = get(f, "etc/modprobe.d/bulwark-baseline.conf"));
	assert_string_equal(mods, "install firewire-core /bin/false\n"
	    "install dccp /bin/false\ninstall sctp /bin/false\n"
	    "install rds /bin/false\ninstall tipc /bin/false\n"
	    "install cramfs /bin/false\ninstall freevxfs /bin/false\n"
	    "install jffs2 /bin/false\ninstall hfs /bin/false\n"
	    "install hfsplus /bin/false\ninstall udf /bin/false\n");
	assert_non_null(umask = get(f, "etc/profile.d/bulwark-umask.sh"));
	assert_string_equal(umask, "umask 027\n");
}

/* auditd as Debian ships it (log_group adm, ROTATE, rules.d's
 * audit.rules sorting after the baseline's file): apply sets log_group
 * and keep_logs and ends its rules with -e 2, which is in force because
 * augenrules loads the last -e directive last; a later -e 1 is not. */
static void
test_apply_audit_settings(void **state)
{
	static const char *const ids[] = { "auditd.log_group",
	    "auditd.max_log_file_action", "audit.immutable" };
	struct fake *f = *state;
	struct log l = { 0 };
	_cleanup_free_ char *conf = NULL, *rules = NULL, *found = NULL;
	size_t i;

	put(f, "etc/audit/auditd.conf", "log_group = adm\n"
	    "max_log_file_action = ROTATE\nnum_logs = 5\n", 0640);
	put(f, "etc/audit/rules.d/audit.rules", "-D\n-b 8192\n-f 1\n", 0640);
	for (i = 0; i < ELEMENTSOF(ids); i++) {
		_cleanup_free_ char *was = NULL;

		assert_int_equal(check_id(f, ids[i], &was), 0);
	}
	assert_true(hb_apply(f->fd, false, collect, &l) > 0);
	assert_int_equal(l.errors, 0);
	for (i = 0; i < ELEMENTSOF(ids); i++) {
		_cleanup_free_ char *now = NULL;

		assert_int_equal(check_id(f, ids[i], &now), 1);
	}
	assert_non_null(conf = get(f, "etc/audit/auditd.conf"));
	assert_string_equal(conf, "log_group = root\n"
	    "max_log_file_action = keep_logs\nnum_logs = 5\n");
	assert_non_null(rules = get(f,
	    "etc/audit/rules.d/90-bulwark-baseline.rules"));
	assert_true(strlen(rules) > 5);
	assert_string_equal(rules + strlen(rules) - 5, "-e 2\n");
	/* A later -e 1 (another file, sorting after) is the one loaded. */
	put(f, "etc/audit/rules.d/99-local.rules", "  -e 1\n# -e 2\n", 0640);
	assert_int_equal(check_id(f, "audit.immutable", &found), 0);
}

/* Names whose order under `ls -1v` (GNU filevercmp, which augenrules
 * uses) differs from strverscmp's, each beside the baseline's file
 * (its last line "-e 2") with "-e 1": whether the baseline's lock is
 * the last -e loaded, as `ls -1v` on Debian 12 (coreutils 9.1) orders
 * them. Suffixes are set aside first ("baseline-x" follows "baseline"),
 * leading zeros are only a number's ("090" is 90), '~' sorts before
 * the end of a name, letters before other bytes ("10x" before "10-"). */
static void
rules_order_vs_strverscmp(struct fake *f)
{
	static const struct {
		const char *name;
		int locked;	/* the baseline's -e 2 is loaded last */
	} cases[] = {
		{ "90-bulwark-baseline-x.rules", 0 },
		{ "090-z.rules", 0 },
		{ "90-bulwark-baseline~.rules", 1 },
		{ "90x.rules", 1 },
	};
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *found = NULL;

		snprintf(path, sizeof(path), "etc/audit/rules.d/%s",
		    cases[i].name);
		put(f, path, "-e 1\n", 0640);
		if (check_id(f, "audit.immutable", &found) != cases[i].locked)
			fail_msg("%s beside 90-bulwark-baseline.rules: the lock "
			    "should %sbe loaded last", cases[i].name,
			    cases[i].locked ? "" : "not ");
		assert_int_equal(unlinkat(f->fd, path, 0), 0);
	}
}

/* The two orders of configuration directories: byte order of the base
 * names (systemd's *.d, modprobe.d; the compliance checks' directory
 * reads use it too), and augenrules' version order. */
static void
test_name_orders(void **state)
{
	const char *p[] = { "etc/sysctl.d/90-b.conf", "run/sysctl.d/100-a.conf" };
	const char *q[] = { "90-b.conf", "100-a.conf" };

	(void)state;
	assert_true(hb_name_cmp(&p[1], &p[0]) < 0);	/* "1" < "9" */
	assert_true(hb_name_cmp(&q[1], &q[0]) < 0);	/* names alone too */
	assert_true(hb_rules_name_cmp(&p[1], &p[0]) > 0);	/* 100 > 90 */
	assert_int_equal(hb_name_cmp(&p[0], &q[0]), 0);
}

/* augenrules concatenates rules.d in `ls -1v` (version) order and takes
 * any line starting "-e" as the enable directive, the last one loaded
 * last: 100-local.rules comes after 90-bulwark-baseline.rules, "-e0"
 * is a directive, and "-e\t2 " is still the lock. */
static void
test_rules_enable_order(void **state)
{
	struct fake *f = *state;
	size_t i;
	static const struct {
		const char *local;
		int want;
	} cases[] = {
		{ "-e 1\n", 0 },
		{ "\t-e0\n", 0 },
		{ "-e 2 -e 1\n", 0 },
		{ "-e\t2 \n", 1 },
		{ "-w /etc/x -p wa\n", 1 },
	};

	put(f, "etc/audit/rules.d/90-bulwark-baseline.rules", "-D\n-e 2\n",
	    0640);
	for (i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *found = NULL;

		put(f, "etc/audit/rules.d/100-local.rules", cases[i].local,
		    0640);
		assert_int_equal(check_id(f, "audit.immutable", &found),
		    cases[i].want);
	}
	assert_int_equal(unlinkat(f->fd, "etc/audit/rules.d/100-local.rules",
	    0), 0);
	rules_order_vs_strverscmp(f);
}

/* record-sysctl: each baseline sysctl's live value from proc/sys, a
 * comment for one that cannot be read, the time it was read first. */
static void
test_record_sysctls(void **state)
{
	struct fake *f = *state;
	_cleanup_free_ char *rec = NULL;
	size_t n = 0;

	put(f, "proc/sys/kernel/randomize_va_space", "2\n", 0444);
	put(f, "proc/sys/net/core/bpf_jit_harden", "1\n", 0400);
	assert_int_equal(hb_record_sysctls(f->fd, 86400, &n), 0);
	assert_int_equal(n, 2);
	assert_non_null(rec = get(f, HB_SYSCTL_RECORD));
	assert_true(!strncmp(rec, "# read 1970-01-02T00:00:00Z ", 28));
	assert_non_null(strstr(rec, "\nkernel.randomize_va_space = 2\n"));
	assert_non_null(strstr(rec, "\nnet.core.bpf_jit_harden = 1\n"));
	assert_non_null(strstr(rec, "\n# kernel.kptr_restrict: unreadable ("));
}

static void
test_symlink_escape_refused(void **state)
{
	struct fake *f = *state;
	char *out = tmpdir_make();
	char target[PATH_MAX], link[PATH_MAX], dlink[PATH_MAX];
	_cleanup_free_ char *outside = NULL;
	struct log l = { 0 };
	int fd;

	assert_non_null(out);
	snprintf(target, sizeof(target), "%s/issue", out);
	fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, "outside\n", 8), 0);
	close(fd);
	snprintf(link, sizeof(link), "%s/etc/issue", f->root);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink(target, link), 0);
	/* A directory on the path that leads out. */
	snprintf(dlink, sizeof(dlink), "%s/etc/security", f->root);
	assert_int_equal(unlinkat(f->fd, "etc/security/faillock.conf", 0), 0);
	assert_int_equal(rmdir(dlink), 0);
	assert_int_equal(symlink(out, dlink), 0);

	assert_int_equal(hb_apply(f->fd, false, collect, &l), -ELOOP);
	assert_true(l.errors >= 2);
	assert_int_equal(read_file_at(AT_FDCWD, target, 4096, &outside, NULL),
	    0);
	assert_string_equal(outside, "outside\n");
	assert_int_equal(faccessat(AT_FDCWD, out, F_OK, 0), 0);
	snprintf(target, sizeof(target), "%s/faillock.conf", out);
	assert_int_equal(faccessat(AT_FDCWD, target, F_OK, 0), -1);
	/* The other items were still applied. */
	assert_true(l.changes >= 10);
	tmpdir_remove(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_check_finds_differences,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_run_changes_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_apply_fixes_and_is_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_writes_lynis_items,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_audit_settings,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_rules_enable_order,
		    setup, teardown),
		cmocka_unit_test(test_name_orders),
		cmocka_unit_test_setup_teardown(test_record_sysctls,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_escape_refused,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
