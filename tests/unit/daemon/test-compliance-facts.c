/* The compliance facts bulwarkd reads from the console's configuration
 * and from its store's change log (daemon/compliance-api.h). */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/compliance-api.h"
#include "daemon/console-cred.h"
#include "console/console-conf.h"
#include "controlplane/store.h"
#include "controlplane/store-backend.h"
#include "privsep/console-ipc.h"

static char dir[PATH_MAX];
static char path[PATH_MAX + 32];

static void
put_file(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	/* whatever the umask: bulwarkd trusts no group/other-writable file */
	assert_int_equal(chmod(path, 0644), 0);
}

static void
facts_from(const char *text, struct comp_facts *f)
{
	if (text)
		put_file(text);
	else
		unlink(path);
	comp_facts_init(f);
	compliance_facts_console(path, f);
}

/* The values are the file's, through the console's own parser; no
 * readable, valid file: nothing is claimed. */
static void
test_console(void **state)
{
	struct comp_facts f;

	(void)state;
	/* the installed appliance writes no console.json: nothing is
	 * claimed, at the default path either (the console itself would
	 * run with its defaults) */
	facts_from(NULL, &f);
	assert_int_equal(f.idle_lock_s, -1);
	assert_int_equal(f.lock_conceals, COMP_UNKNOWN);
	assert_int_equal(f.token_lifetime_s, -1);
	assert_int_equal(ccred_lifetime_max(path), CIPC_LIFETIME_MAX);
	assert_int_equal(ccred_lifetime_max(NULL), CIPC_LIFETIME_MAX);
	if (access(CONSOLE_CONF_DEFAULT, F_OK) < 0) {
		comp_facts_init(&f);
		compliance_facts_console(CONSOLE_CONF_DEFAULT, &f);
		assert_int_equal(f.idle_lock_s, -1);
		assert_int_equal(f.lock_conceals, COMP_UNKNOWN);
		assert_int_equal(f.token_lifetime_s, -1);
	}

	/* the lifetime is session_max, the most bulwarkd issues
	 * (ccred_lifetime_max() reads the same) */
	facts_from("{\"idle_timeout\": 600, \"session_max\": 7200}", &f);
	assert_int_equal(f.idle_lock_s, 600);
	assert_int_equal(f.lock_conceals, COMP_YES);
	assert_int_equal(f.token_lifetime_s, 7200);
	assert_int_equal(ccred_lifetime_max(path), 7200);

	/* the console's defaults for what the file leaves out */
	facts_from("{\"refresh\": 5}", &f);
	assert_int_equal(f.idle_lock_s, 900);
	assert_int_equal(f.token_lifetime_s, 8 * 3600);

	/* a certificate from a file: its lifetime is not known here */
	facts_from("{\"idle_timeout\": 300, \"fallback_credential\": true}", &f);
	assert_int_equal(f.idle_lock_s, 300);
	assert_int_equal(f.token_lifetime_s, -1);

	/* values the console refuses (it would not start) */
	facts_from("{\"idle_timeout\": 0}", &f);
	assert_int_equal(f.idle_lock_s, -1);
	assert_int_equal(f.lock_conceals, COMP_UNKNOWN);
	facts_from("{\"idle_timout\": 60}", &f);
	assert_int_equal(f.idle_lock_s, -1);
	facts_from("{", &f);
	assert_int_equal(f.token_lifetime_s, -1);
}

/* A file anyone but root could have written proves nothing; what is
 * not a regular file is refused without waiting for a writer. */
static void
test_console_untrusted(void **state)
{
	struct comp_facts f;

	(void)state;
	facts_from("{\"idle_timeout\": 600}", &f);
	assert_int_equal(f.idle_lock_s, 600);
	assert_int_equal(chmod(path, 0666), 0);
	comp_facts_init(&f);
	compliance_facts_console(path, &f);
	assert_int_equal(f.idle_lock_s, -1);
	assert_int_equal(f.lock_conceals, COMP_UNKNOWN);
	/* and bulwarkd's certificates are not capped by it */
	assert_int_equal(ccred_lifetime_max(path), CIPC_LIFETIME_MAX);
	assert_int_equal(chmod(path, 0620), 0);
	comp_facts_init(&f);
	compliance_facts_console(path, &f);
	assert_int_equal(f.idle_lock_s, -1);
	if (geteuid() == 0) {
		assert_int_equal(chmod(path, 0644), 0);
		assert_int_equal(chown(path, 1, 0), 0);
		comp_facts_init(&f);
		compliance_facts_console(path, &f);
		assert_int_equal(f.idle_lock_s, -1);
	}
	assert_int_equal(unlink(path), 0);
	/* a FIFO nobody writes: answered at once (a blocking open would
	 * hang the test) */
	assert_int_equal(mkfifo(path, 0600), 0);
	comp_facts_init(&f);
	compliance_facts_console(path, &f);
	assert_int_equal(f.idle_lock_s, -1);
	assert_int_equal(unlink(path), 0);
	/* a directory */
	comp_facts_init(&f);
	compliance_facts_console(dir, &f);
	assert_int_equal(f.idle_lock_s, -1);
}

static int
history(struct store *st)
{
	struct comp_facts f;

	comp_facts_init(&f);
	compliance_facts_config_history(st, &f);
	return f.config_revisions;
}

/* config_history_whole: the change log still starts at revision 1. */
static enum comp_tri
history_whole(struct store *st)
{
	struct comp_facts f;

	comp_facts_init(&f);
	compliance_facts_config_history(st, &f);
	return f.config_history_whole;
}

static void
put(struct store *st, const char *key, const char *value, uint64_t *ret_rev)
{
	uint64_t rev;

	assert_int_equal(store_put(st, key, value, strlen(value),
	    STORE_REV_ANY, ret_rev ? ret_rev : &rev), 0);
}

/* Counted: the changes to configuration objects whose previous version
 * the change log also holds; not creations, status reports, kinds only
 * the system writes, or the appliance's own records. */
static void
test_config_history(void **state)
{
	struct store	*st = NULL;
	char		 sdir[PATH_MAX + 16];
	uint64_t	 rev, first;

	(void)state;
	assert_int_equal(history(NULL), -1);
	assert_int_equal(history_whole(NULL), COMP_UNKNOWN);
	snprintf(sdir, sizeof(sdir), "%s/store", dir);
	assert_int_equal(store_open_lmdb(sdir, NULL, &st, NULL), 0);
	assert_int_equal(history(st), 0);
	/* a creation has no previous version */
	put(st, "/r/tenants/acme", "{\"spec\":{\"v\":1}}", &first);
	assert_int_equal(history(st), 0);
	put(st, "/r/tenants/acme", "{\"spec\":{\"v\":2}}", NULL);
	assert_int_equal(history(st), 1);
	/* a status report (a node's heartbeat, a controller's verdict) */
	put(st, "/r/tenants/acme",
	    "{\"spec\":{\"v\":2},\"status\":{\"seen\":1}}", NULL);
	put(st, "/r/tenants/acme",
	    "{\"spec\":{\"v\":2},\"status\":{\"seen\":2}}", NULL);
	assert_int_equal(history(st), 1);
	/* a kind only agents and controllers write */
	put(st, "/r/instances/acme/web-0", "{\"spec\":{\"n\":1}}", NULL);
	put(st, "/r/instances/acme/web-0", "{\"spec\":{\"n\":2}}", NULL);
	/* the appliance's own records share the log */
	put(st, "/x/compliance/scans/1", "{}", NULL);
	put(st, "/x/compliance/scans/1", "{\"a\":1}", NULL);
	assert_int_equal(history(st), 1);
	/* a delete: the version before it can be read back */
	assert_int_equal(store_delete(st, "/r/tenants/acme", STORE_REV_ANY,
	    &rev), 0);
	assert_int_equal(history(st), 2);
	assert_int_equal(history_whole(st), COMP_YES);
	/* compacted past the creation: the change to v2 lost its previous
	 * version, the delete still has one */
	assert_int_equal(store_compact(st, first), 0);
	assert_int_equal(history(st), 1);
	assert_int_equal(history_whole(st), COMP_NO);
	store_close(st);
}

/* A store whose horizon cannot be read now, as an etcd cluster out of
 * reach: compacted_revision() answers the last one seen, 0 before any
 * read, which must not pass for "nothing compacted". */
static uint64_t
fake_zero(struct store *st)
{
	(void)st;
	return 0;
}

static int
fake_changes(struct store *st, const char *prefix, uint64_t since,
    size_t max, struct store_event **ret, size_t *ret_n)
{
	(void)st;
	(void)prefix;
	(void)since;
	(void)max;
	*ret = NULL;
	*ret_n = 0;
	return 0;
}

static int
fake_horizon_unreadable(struct store *st, uint64_t *ret)
{
	(void)st;
	(void)ret;
	return -ECONNREFUSED;
}

static void
test_config_history_unreadable(void **state)
{
	static const struct store_backend fake = {
		.name = "fake",
		.revision = fake_zero,
		.compacted_revision = fake_zero,
		.compacted_revision_read = fake_horizon_unreadable,
		.changes = fake_changes,
	};
	struct store st = { .backend = &fake };
	struct comp_facts f;

	(void)state;
	comp_facts_init(&f);
	compliance_facts_config_history(&st, &f);
	assert_int_equal(f.config_revisions, 0);
	assert_int_equal(f.config_history_whole, COMP_UNKNOWN);
}

/* config_retention: the change log's retention, as store_maintain()
 * applies it (store.history_revisions, else the default). */
static void
test_config_retention(void **state)
{
	struct store_options	 so = { .history_revisions = 500 };
	struct store		*st = NULL;
	struct comp_facts	 f;
	char			 sdir[PATH_MAX + 16];

	(void)state;
	comp_facts_init(&f);
	compliance_facts_config_history(NULL, &f);
	assert_int_equal(f.config_retention, -1);
	snprintf(sdir, sizeof(sdir), "%s/store-ret", dir);
	assert_int_equal(store_open_lmdb(sdir, &so, &st, NULL), 0);
	compliance_facts_config_history(st, &f);
	assert_int_equal(f.config_retention, 500);
	store_close(st);
	snprintf(sdir, sizeof(sdir), "%s/store-def", dir);
	assert_int_equal(store_open_lmdb(sdir, NULL, &st, NULL), 0);
	comp_facts_init(&f);
	compliance_facts_config_history(st, &f);
	assert_int_equal(f.config_retention, STORE_HISTORY_REVISIONS);
	store_close(st);
}

static int
rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_console),
		cmocka_unit_test(test_console_untrusted),
		cmocka_unit_test(test_config_history),
		cmocka_unit_test(test_config_retention),
		cmocka_unit_test(test_config_history_unreadable),
	};
	const char	*tmp = getenv("TMPDIR");
	int		 rc;

	snprintf(dir, sizeof(dir), "%s/bw-comp-facts-XXXXXX",
	    tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/console.json", dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		rc = 1;
	return rc;
}
