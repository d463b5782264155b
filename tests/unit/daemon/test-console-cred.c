/* bulwarkd's map from console users to principals
 * (daemon/console-cred.h). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/console-cred.h"
#include "lib/err.h"

/* USER's mapping is refused as invalid with a message containing WANT. */
static void
assert_refused(const json_t *users, const char *user, const char *want)
{
	struct authz_identity	 id;
	char			*err = NULL;

	assert_int_equal(ccred_map_user(users, user, &id, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, want));
	free(err);
}

static void
test_map_user(void **state)
{
	json_t			*users = json_loads("{"
	    "\"bob\": {\"principal\": \"admin\", \"tenant\": \"system\", \"role\": \"system-admin\"},"
	    "\"tina\": {\"principal\": \"tina\", \"tenant\": \"acme\", \"role\": \"tenant-user\"},"
	    "\"eve\": {\"principal\": \"eve\", \"tenant\": \"acme\", \"role\": \"system-admin\"},"
	    "\"mal\": {\"principal\": \"a b\", \"tenant\": \"system\", \"role\": \"security-auditor\"},"
	    "\"nod\": {\"principal\": \"node1\", \"tenant\": \"system\", \"role\": \"node\"},"
	    "\"boot\": {\"principal\": \"node2\", \"tenant\": \"system\", \"role\": \"node-bootstrap\"},"
	    "\"met\": {\"principal\": \"scraper\", \"tenant\": \"system\", \"role\": \"metrics\"}}",
	    0, NULL);
	struct authz_identity	 id;
	char			*err = NULL;

	(void)state;
	assert_non_null(users);
	assert_int_equal(ccred_map_user(users, "bob", &id, &err), 0);
	assert_string_equal(id.principal, "admin");
	assert_string_equal(id.tenant, "system");
	assert_string_equal(id.role_name, "system-admin");
	assert_int_equal(id.role, authz_role_parse("system-admin"));
	assert_string_equal(id.auth_method, "pam");
	assert_int_equal(ccred_map_user(users, "tina", &id, &err), 0);
	assert_string_equal(id.tenant, "acme");
	assert_int_equal(ccred_map_user(users, "carol", &id, &err), -BW_E_NOTFOUND);
	assert_string_equal(err, "no principal is mapped to console user carol");
	free(err);
	err = NULL;
	/* a system role outside tenant system, a malformed name */
	assert_int_equal(ccred_map_user(users, "eve", &id, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "console user eve"));
	free(err);
	err = NULL;
	assert_int_equal(ccred_map_user(users, "mal", &id, &err), -BW_E_INVALID);
	free(err);
	/* machine roles pki_check_role() accepts: never a console user's */
	assert_refused(users, "nod", "role node is not one a console user may hold");
	assert_refused(users, "boot", "role node-bootstrap is not");
	assert_refused(users, "met", "console user met: role metrics");
	json_decref(users);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_user),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
