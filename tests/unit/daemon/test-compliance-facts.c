/* The compliance facts bulwarkd reads from the console's configuration
 * and from its store's change log (daemon/compliance-api.h). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/compliance-api.h"
#include "controlplane/store.h"

static char dir[] = "/tmp/bw-comp-facts-XXXXXX";
static char path[sizeof(dir) + 32];

static void
put_file(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
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
	facts_from(NULL, &f);
	assert_int_equal(f.idle_lock_s, -1);
	assert_int_equal(f.lock_conceals, COMP_UNKNOWN);
	assert_int_equal(f.token_lifetime_s, -1);

	facts_from("{\"idle_timeout\": 600, \"session_max\": 7200}", &f);
	assert_int_equal(f.idle_lock_s, 600);
	assert_int_equal(f.lock_conceals, COMP_YES);
	assert_int_equal(f.token_lifetime_s, 7200);

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

static int
history(struct store *st)
{
	struct comp_facts f;

	comp_facts_init(&f);
	compliance_facts_config_history(st, &f);
	return f.config_revisions;
}

/* Counted: the changes to /r/ objects the change log still holds. */
static void
test_config_history(void **state)
{
	struct store	*st = NULL;
	char		 sdir[sizeof(dir) + 16];
	uint64_t	 rev, first;

	(void)state;
	assert_int_equal(history(NULL), -1);
	snprintf(sdir, sizeof(sdir), "%s/store", dir);
	assert_int_equal(store_open_lmdb(sdir, NULL, &st, NULL), 0);
	assert_int_equal(history(st), 0);
	assert_int_equal(store_put(st, "/r/tenants/acme", "{\"v\":1}", 7,
	    STORE_REV_ANY, &first), 0);
	assert_int_equal(store_put(st, "/r/tenants/acme", "{\"v\":2}", 7,
	    STORE_REV_ANY, &rev), 0);
	/* the appliance's own records share the log and are not counted */
	assert_int_equal(store_put(st, "/x/compliance/scans/1", "{}", 2,
	    STORE_REV_ANY, &rev), 0);
	assert_int_equal(store_delete(st, "/r/tenants/acme", STORE_REV_ANY,
	    &rev), 0);
	assert_int_equal(history(st), 3);
	/* compacted past the first change: it is no longer kept */
	assert_int_equal(store_compact(st, first), 0);
	assert_int_equal(history(st), 2);
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_console),
		cmocka_unit_test(test_config_history),
	};
	char	cmd[sizeof(dir) + 16];
	int	rc;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/console.json", dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
