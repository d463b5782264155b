/* The console's views without a terminal: the `/` filter's parser,
 * the list model (sort, filter, selection kept over a new read), the
 * command table, the audit search's query, describe's hiding of
 * secrets, the actions' paths and permissions, and the reader that
 * refreshes a list in the background. */
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

#include "client/client.h"
#include "console/actions.h"
#include "console/audit-view.h"
#include "console/bgread.h"
#include "console/cmdline.h"
#include "console/describe.h"
#include "console/filter.h"
#include "console/list-view.h"
#include "lib/err.h"
#include "lib/macro.h"

/* 1 when filter TEXT keeps a row ROW with labels LABELS (JSON), 0 when
 * not, -1 when TEXT does not parse (then *ERR holds why). */
static int
keeps(const char *text, const char *row, const char *labels, char **err)
{
	struct cfilter	 f;
	json_t		*l = labels ? json_loads(labels, 0, NULL) : NULL;
	int		 r;

	*err = NULL;
	if (cfilter_parse(text, &f, err) < 0) {
		json_decref(l);
		return -1;
	}
	r = cfilter_match(&f, row, l);
	cfilter_clear(&f);
	json_decref(l);
	return r;
}

#define LAB	"{\"app\":\"web\",\"tier\":\"front\"}"

/* Each filter TEXT on a row ROW with LABELS: WANT 1 (kept), 0 (not), or
 * -1 (refused, with the message MSG when not NULL, else any). */
static const struct {
	const char	*text, *row, *labels;
	int		 want;
	const char	*msg;
} filter_cases[] = {
	{ "", "anything", NULL, 1, NULL },
	{ "   ", "anything", NULL, 1, NULL },
	{ "web", "web-1 acme Running", NULL, 1, NULL },
	{ "WEB", "web-1 acme Running", NULL, 1, NULL },
	{ "^acme", "web-1 acme Running", NULL, 0, NULL },
	{ "Run+ing$", "web-1 acme Running", NULL, 1, NULL },
	{ "!web", "web-1 acme", NULL, 0, NULL },
	{ "!web", "db-1 acme", NULL, 1, NULL },
	{ "-l app=web", "x", LAB, 1, NULL },
	{ "-l app=db", "x", LAB, 0, NULL },
	{ "-l app=web,tier=front", "x", LAB, 1, NULL },
	{ "-l app=web,tier=back", "x", LAB, 0, NULL },
	{ "-l app=web", "x", NULL, 0, NULL },
	{ "-l app=web !x", "x", LAB, 0, NULL },
	{ "-l app=web -l tier=front y", "xyz", LAB, 1, NULL },
	{ "-l example.com/team=", "x", "{\"example.com/team\":\"\"}", 1, NULL },
	/* "-lx" is a pattern, not the label option */
	{ "-lx", "a-lx", NULL, 1, NULL },
	/* literal text (a substring, matched without regexec()) means
	 * what the regular expression means: anywhere, any case */
	{ "big7-12", "big7-12 acme Pending", NULL, 1, NULL },
	{ "Big7-1", "x big7-12", NULL, 1, NULL },
	{ "big7-12", "big7-1 acme", NULL, 0, NULL },
	{ "acme/node_1:a=b@c,d", "x ACME/NODE_1:A=B@C,D y", NULL, 1, NULL },
	{ "!pend", "web-1 Pending", NULL, 0, NULL },
	{ "!pend", "web-1 Running", NULL, 1, NULL },
	{ "-l app=web front", "x-front", LAB, 1, NULL },
	{ "-l app=web back", "x-front", LAB, 0, NULL },
	{ "(ab){1,16}", "abab", NULL, 1, NULL },
	{ "[*+]+", "a+b", NULL, 1, NULL },
	{ "\\++", "a+b", NULL, 1, NULL },
	/* what a person mistypes is a message, never a filter */
	{ "-l", "x", NULL, -1, "-l: needs key=value" },
	{ "-l app", "x", NULL, -1, "-l: \"app\" is not key=value" },
	{ "-l =x", "x", NULL, -1, NULL },
	{ "-l a=b,", "x", NULL, -1, NULL },
	{ "-l a=b$", "x", NULL, -1, "-l: '$' is not allowed in a label value" },
	{ "!", "x", NULL, -1, "filter: '!' needs a pattern after it" },
	{ "a(", "x", NULL, -1, NULL },
	{ "-l a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9", "x", NULL, -1,
	  "-l: at most 8 labels" },
	/* patterns glibc's regcomp() takes exponential time on */
	{ "=++++++++++++++++++++", "x", NULL, -1,
	  "filter: a repetition may not follow a repetition" },
	{ "(((a{1,99}){1,9}){1,9})", "x", NULL, -1,
	  "filter: a bound is at most 16" },
	{ "a{1}b{2}c{3}", "x", NULL, -1, "filter: at most 2 {m,n} bounds" },
};

static const struct {
	const char	*text;
	int		 want;
} literal_cases[] = {
	{ "big7-12", 1 }, { "a/b:c=d@e,f_g", 1 }, { "", 0 }, { "!big", 0 },
	{ "-l a=b", 0 }, { " big", 0 }, { "big.", 0 }, { "big$", 0 },
};

static void
test_filter(void **state)
{
	char	*err, long_text[CFILTER_TEXT_MAX + 1];
	size_t	 i;

	(void)state;
	for (i = 0; i < ELEMENTSOF(filter_cases); i++) {
		assert_int_equal(keeps(filter_cases[i].text, filter_cases[i].row,
		    filter_cases[i].labels, &err), filter_cases[i].want);
		if (filter_cases[i].want < 0)
			assert_non_null(err);
		if (filter_cases[i].msg)
			assert_string_equal(err, filter_cases[i].msg);
		free(err);
	}
	memset(long_text, 'a', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	assert_int_equal(keeps(long_text, "a", NULL, &err), -1);
	free(err);
	/* the filters a longer one typed on narrows: literal text only */
	for (i = 0; i < ELEMENTSOF(literal_cases); i++)
		assert_int_equal(cfilter_literal(literal_cases[i].text),
		    literal_cases[i].want);
}

static const struct lv_col cols[] = {
	{ "NAME", "metadata.name", 10 }, { "N", "spec.replicas", 4 },
};

static void
test_list_view(void **state)
{
	json_t		*items = json_loads("[{\"metadata\":{\"name\":\"b\"},"
	    "\"spec\":{\"replicas\":10}},{\"metadata\":{\"name\":\"a\","
	    "\"labels\":{\"app\":\"x\"}},\"spec\":{\"replicas\":9}},"
	    "{\"metadata\":{\"name\":\"c\"},\"spec\":{\"replicas\":100}}]", 0,
	    NULL);
	struct lview	 lv;
	char		*err = NULL, buf[256];

	(void)state;
	assert_non_null(items);
	lview_init(&lv, cols, ELEMENTSOF(cols));
	/* what a read asks the API for (?fields=): the path and the columns */
	assert_int_equal(lview_fields(&lv, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "metadata.name,metadata.tenant,"
	    "metadata.labels,spec.replicas");
	assert_int_equal(lview_fields(&lv, buf, 20), -ENOBUFS);
	assert_int_equal(lview_set(&lv, items), 0);
	assert_int_equal(lv.n, 3);
	assert_int_equal(lv.nvis, 3);
	assert_string_equal(lv.rows[lv.vis[0]].cell[0], "a");
	/* numbers sort as numbers: 9 < 10 < 100 */
	lview_sort(&lv, 1, 0);
	assert_string_equal(lv.rows[lv.vis[0]].cell[1], "9");
	assert_string_equal(lv.rows[lv.vis[2]].cell[1], "100");
	lview_sort(&lv, 1, 1);
	assert_string_equal(lv.rows[lv.vis[0]].cell[1], "100");
	/* a sort keeps the selected row (a) selected, now the last */
	assert_int_equal(lv.sel, 2);
	lview_move(&lv, -1, 10);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    lview_selected(&lv), "metadata"), "name")), "b");
	/* a new read keeps the selected object selected */
	assert_int_equal(lview_set(&lv, items), 0);
	assert_string_equal(lv.rows[lv.vis[lv.sel]].cell[0], "b");
	assert_int_equal(lview_filter(&lv, "-l app=x", &err), 0);
	assert_int_equal(lv.nvis, 1);
	assert_string_equal(lv.rows[lv.vis[0]].cell[0], "a");
	assert_int_equal(lview_filter(&lv, "(", &err), -BW_E_INVALID);
	free(err);
	err = NULL;
	assert_int_equal(lv.nvis, 1);	/* the old filter stays */
	assert_int_equal(lview_filter(&lv, "zzz", &err), 0);
	assert_null(lview_selected(&lv));
	lview_move(&lv, 5, 10);		/* nothing to move over */
	/* typed on, a plain text narrows what is shown */
	assert_int_equal(lview_filter(&lv, "", &err), 0);
	assert_int_equal(lview_filter(&lv, "1", &err), 0);
	assert_int_equal(lv.nvis, 2);		/* b 10, c 100 */
	assert_int_equal(lview_filter(&lv, "10", &err), 0);
	assert_int_equal(lv.nvis, 2);
	assert_int_equal(lview_filter(&lv, "100", &err), 0);
	assert_int_equal(lv.nvis, 1);
	assert_string_equal(lv.rows[lv.vis[0]].cell[0], "c");
	assert_int_equal(lview_filter(&lv, "10", &err), 0);	/* shorter */
	assert_int_equal(lv.nvis, 2);
	assert_int_equal(lview_filter(&lv, "", &err), 0);
	lview_move(&lv, 100, 2);
	assert_int_equal(lv.sel, 2);
	assert_int_equal(lv.top, 1);
	lview_move(&lv, -100, 2);
	assert_int_equal(lv.sel, 0);
	assert_int_equal(lv.top, 0);
	lview_clear(&lv);
	json_decref(items);
}

static void
test_cmdline(void **state)
{
	(void)state;
	assert_string_equal(cmdline_find("instances")->name, "instances");
	assert_string_equal(cmdline_find("in")->name, "instances");
	assert_string_equal(cmdline_find(" wl ")->name, "workloads");
	assert_string_equal(cmdline_find("work")->name, "workloads");
	assert_string_equal(cmdline_find("audit")->name, "audit");
	assert_string_equal(cmdline_find("checks")->name, "checks");
	assert_string_equal(cmdline_find("q")->name, "quit");
	assert_null(cmdline_find("i"));		/* instances or images */
	assert_null(cmdline_find(""));
	assert_null(cmdline_find("wl x"));
	assert_null(cmdline_find("pods"));
}

static void
test_audit_query(void **state)
{
	char	 p[512], *err = NULL;

	(void)state;
	assert_int_equal(caudq_path("", p, sizeof(p), &err), 0);
	assert_string_equal(p, "/v1/audit/records?limit=" CAUDQ_LIMIT);
	assert_int_equal(caudq_path(" action=workload.replace  actor=ops-bob "
	    "since=2026-12-06T10:00:00.000000000Z", p, sizeof(p), &err), 0);
	assert_string_equal(p, "/v1/audit/records?limit=" CAUDQ_LIMIT
	    "&action=workload.replace&actor=ops-bob"
	    "&since=2026-12-06T10%3A00%3A00.000000000Z");
	assert_int_equal(caudq_path("colour=red", p, sizeof(p), &err),
	    -BW_E_INVALID);
	assert_non_null(strstr(err, "\"colour=red\" is not one of"));
	free(err);
	err = NULL;
	assert_int_equal(caudq_path("action=", p, sizeof(p), &err),
	    -BW_E_INVALID);
	free(err);
	err = NULL;
	assert_int_equal(caudq_path("action", p, sizeof(p), &err),
	    -BW_E_INVALID);
	free(err);
	err = NULL;
	assert_int_equal(caudq_path("actor=a&b", p, sizeof(p), &err), 0);
	assert_non_null(strstr(p, "actor=a%26b"));
}

static void
test_describe_and_actions(void **state)
{
	json_t		*o = json_loads("{\"metadata\":{\"name\":\"n1\"},"
	    "\"spec\":{\"bootstrap_token\":\"s3cret\",\"tls\":{\"private_key\":"
	    "\"k3y\"},\"replicas\":2}}", 0, NULL);
	json_t		*w = json_loads("{\"metadata\":{\"name\":\"web\","
	    "\"tenant\":\"acme\"}}", 0, NULL);
	json_t		*may = json_loads("{\"read\":[\"workloads\"],"
	    "\"write\":[\"workloads\"]}", 0, NULL);
	struct cdesc	 d;
	char		 p[128];
	size_t		 i;

	(void)state;
	assert_int_equal(cdesc_open(o, &d), 0);
	for (i = 0; i < d.n; i++) {
		assert_null(strstr(d.line[i], "s3cret"));
		assert_null(strstr(d.line[i], "k3y"));
	}
	assert_string_equal(d.line[0], "{");
	cdesc_scroll(&d, 100, 3);
	assert_int_equal(d.top, d.n - 3);
	cdesc_scroll(&d, -100, 3);
	assert_int_equal(d.top, 0);
	cdesc_clear(&d);
	assert_int_equal(cact_path(w, "workloads", p, sizeof(p)), 0);
	assert_string_equal(p, "/v1/tenants/acme/workloads/web");
	assert_int_equal(cact_path(o, "nodes", p, sizeof(p)), 0);
	assert_string_equal(p, "/v1/nodes/n1");
	assert_int_equal(cact_may(may, "write", "workloads"), 1);
	assert_int_equal(cact_may(may, "write", "tenants"), 0);
	assert_int_equal(cact_may(NULL, "read", "workloads"), 0);
	assert_int_equal(cact_may(may, "read", NULL), 0);
	json_decref(o);
	json_decref(w);
	json_decref(may);
}

/* The background reader: one read at a time, its result taken once,
 * an API that cannot be reached an error of the read, not of the
 * reader. */
static void
test_bgread(void **state)
{
	char			 server[] = "http://127.0.0.1:1";
	struct client_conf	 conf = { .server = server, .allow_plain = 1 };
	struct cbg		*bg = NULL;
	json_t			*doc = NULL;
	char			 why[64], *err = NULL;
	unsigned long		 tag = 0;
	int			 i;

	(void)state;
	assert_int_equal(cbg_new(&conf, NULL, &bg, &err), 0);
	assert_int_equal(cbg_take(bg, &tag, &doc, why, sizeof(why), &err), 0);
	/* the newest request wins: 7's result is never handed over */
	assert_int_equal(cbg_start(bg, "/v1/instances", "metadata.name", NULL,
	    7), 0);
	assert_int_equal(cbg_start(bg, "/v1/instances", NULL, NULL, 8), 0);
	for (i = 0; i < 3000 && !cbg_take(bg, &tag, &doc, why, sizeof(why),
	    &err); i++)
		usleep(10 * 1000);
	assert_true(i < 3000);
	assert_int_equal(tag, 8);
	assert_null(doc);
	assert_non_null(err);
	free(err);
	err = NULL;
	usleep(100 * 1000);
	assert_int_equal(cbg_take(bg, &tag, &doc, why, sizeof(why), &err), 0);
	memset(why, 'a', sizeof(why));
	why[sizeof(why) - 1] = '\0';
	assert_int_equal(cbg_start(bg, why, NULL, NULL, 9), 0);
	/* ends after the read under way, its result dropped */
	assert_int_equal(cbg_start(bg, "/v1/nodes", NULL, "2f72", 10), 0);
	cbg_free(bg);
	cbg_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_list_view),
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_audit_query),
		cmocka_unit_test(test_describe_and_actions),
		cmocka_unit_test(test_bgread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
