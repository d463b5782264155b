/* The service rules as nftables text: endpoints grouped per service
 * and port, round robin over the ready ones, a reject per address, one
 * masquerade per tenant, and the table removed when nothing is left. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/cni.h"
#include "agent/service.h"
#include "lib/err.h"

static void
test_render(void **state)
{
	struct svc_entry v[] = {
		{ .tenant = "acme", .subnet = "10.88.1.0/24", .vip = "10.96.0.10",
		  .port = 80, .target_port = 8080, .ip = "10.88.1.2" },
		{ .tenant = "beta", .subnet = "10.88.2.0/24", .vip = "10.96.0.10",
		  .port = 80, .target_port = 80, .ip = "" },
		{ .tenant = "acme", .subnet = "10.88.1.0/24", .vip = "10.96.0.10",
		  .port = 80, .target_port = 8080, .ip = "" },
		{ .tenant = "acme", .subnet = "10.88.1.0/24", .vip = "10.96.0.10",
		  .port = 80, .target_port = 8080, .ip = "10.88.1.3" },
	};
	char	*text = NULL, *err = NULL, line[256], ba[16], bb[16];

	(void)state;
	assert_int_equal(cni_bridge_name("acme", ba), 0);
	assert_int_equal(cni_bridge_name("beta", bb), 0);
	assert_int_equal(svc_render(v, 4, &text, &err), 0);
	assert_non_null(strstr(text, "table ip bulwark_svc {}\n"
	    "delete table ip bulwark_svc\n"));
	snprintf(line, sizeof(line), "iifname \"%s\" ip daddr 10.96.0.10 tcp "
	    "dport 80 dnat to numgen inc mod 2 map { 0 : 10.88.1.2 . 8080, "
	    "1 : 10.88.1.3 . 8080 }\n", ba);
	assert_non_null(strstr(text, line));
	/* beta's service has no ready endpoint: a reject, no DNAT. */
	snprintf(line, sizeof(line), "iifname \"%s\" ip daddr 10.96.0.10 tcp", bb);
	assert_null(strstr(text, line));
	snprintf(line, sizeof(line), "iifname \"%s\" ip daddr 10.96.0.10 "
	    "reject\n", bb);
	assert_non_null(strstr(text, line));
	snprintf(line, sizeof(line), "iifname \"%s\" ip daddr 10.96.0.10 "
	    "reject\n", ba);
	assert_non_null(strstr(text, line));
	snprintf(line, sizeof(line), "ct status dnat oifname \"%s\" ip saddr "
	    "10.88.1.0/24 masquerade\n", ba);
	assert_non_null(strstr(text, line));
	/* one reject and one masquerade per tenant */
	assert_null(strstr(strstr(text, line) + 1, line));
	free(text);

	assert_int_equal(svc_render(v, 0, &text, &err), 0);
	assert_string_equal(text, "table ip bulwark_svc {}\n"
	    "delete table ip bulwark_svc\n");
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
