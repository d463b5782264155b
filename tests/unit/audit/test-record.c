/* Canonical serialization: exact bytes, escaping, strict parsing. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "audit/record.h"
#include "audit/segment.h"
#include "lib/b64.h"
#include "lib/err.h"

/* The example in docs/audit-format.md; its hash was computed with
 * Python's hashlib from the documented bytes, not with this code. */
static const char kat_body[] =
    "v=1 seq=1 time=2024-05-01T12:00:00.000000123Z actor=alice "
    "role=tenant-admin tenant=acme source=192.0.2.7:443 auth=mtls "
    "action=workload.create okind=Workload otenant=acme oname=web%20app%3D1 "
    "orev=42 outcome=success reason=caf%C3%A9%25%0A controls=AU-2,AC-3 "
    "prev=0000000000000000000000000000000000000000000000000000000000000000";
static const char kat_hash[] =
    "78a91c17bcfab72f36144b4c4e54d449b8c7faa37dbf69b1e7525e95669ced50";

static const struct audit_record kat_rec = {
	.actor = "alice", .role = "tenant-admin", .tenant = "acme",
	.source = "192.0.2.7:443", .auth_method = "mtls",
	.action = "workload.create", .object_kind = "Workload",
	.object_tenant = "acme", .object_name = "web app=1",
	.object_revision = 42, .outcome = "success",
	.reason = "caf\xc3\xa9%\n", .controls = "AU-2,AC-3",
};

static void
test_known_answer(void **state)
{
	struct bw_buf		b = { 0 };
	struct timespec		ts = { 1714564800, 123 };
	char			tm[AUDIT_TIME_LEN + 1], hex[65];
	unsigned char		h[32];

	audit_time_format(&ts, tm);
	assert_int_equal(bw_buf_appendf(&b, "v=1 seq=1 time=%s", tm), 0);
	assert_int_equal(audit_record_format_fields(&kat_rec, &b), 0);
	assert_int_equal(bw_buf_appendf(&b, " prev=%s", audit_zero_hash), 0);
	assert_string_equal(b.p, kat_body);
	assert_int_equal(audit_sha256(b.p, b.len, h), 0);
	hex_encode(h, 32, hex);
	assert_string_equal(hex, kat_hash);
	bw_buf_done(&b);
}

static void
test_parse_roundtrip(void **state)
{
	char			line[2048];
	struct audit_line	l;
	char			*err = NULL;

	snprintf(line, sizeof(line), "%s hash=%s", kat_body, kat_hash);
	assert_int_equal(audit_line_parse(line, strlen(line), &l, &err), 0);
	assert_int_equal(l.rec.seq, 1);
	assert_int_equal(l.rec.time.tv_sec, 1714564800);
	assert_int_equal(l.rec.time.tv_nsec, 123);
	assert_string_equal(l.rec.object_name, "web app=1");
	assert_string_equal(l.rec.reason, "caf\xc3\xa9%\n");
	assert_string_equal(l.rec.controls, "AU-2,AC-3");
	assert_int_equal(l.rec.object_revision, 42);
	assert_int_equal(l.body_len, strlen(kat_body));
	assert_true(audit_line_hash_ok(line, &l));
	audit_line_done(&l);

	/* One changed byte and the hash no longer holds. */
	line[60] ^= 1;
	if (audit_line_parse(line, strlen(line), &l, NULL) == 0) {
		assert_false(audit_line_hash_ok(line, &l));
		audit_line_done(&l);
	}
}

static void
expect_bad(const char *line)
{
	struct audit_line	l;
	char			*err = NULL;

	assert_int_equal(audit_line_parse(line, strlen(line), &l, &err),
	    -BW_E_INVALID);
	assert_non_null(err);
	free(err);
}

static void
test_parse_strict(void **state)
{
	char	 good[2048], bad[2048];

	snprintf(good, sizeof(good), "%s hash=%s", kat_body, kat_hash);
	/* lowercase escape, escaped plain byte, raw '=' in a value */
	strcpy(bad, good);
	memcpy(strstr(bad, "%C3"), "%c3", 3);
	expect_bad(bad);
	strcpy(bad, good);
	memcpy(strstr(bad, "alice"), "%61li", 5);
	expect_bad(bad);
	strcpy(bad, good);
	memcpy(strstr(bad, "%3D"), "==1", 3);
	expect_bad(bad);
	/* leading zero, unknown outcome, wrong order, extra field, bad time */
	strcpy(bad, good);
	memcpy(strstr(bad, "orev=42"), "orev=04", 7);
	expect_bad(bad);
	strcpy(bad, good);
	memcpy(strstr(bad, "success"), "succesz", 7);
	expect_bad(bad);
	strcpy(bad, good);
	memcpy(strstr(bad, "role="), "rolf=", 5);
	expect_bad(bad);
	snprintf(bad, sizeof(bad), "%s extra=1 hash=%s", kat_body, kat_hash);
	expect_bad(bad);
	strcpy(bad, good);
	memcpy(strstr(bad, "05-01T"), "02-30T", 6);
	expect_bad(bad);
	strcpy(bad, good);
	memcpy(strstr(bad, "v=1"), "v=2", 3);
	expect_bad(bad);
	/* a key/sig pair on a non-checkpoint */
	snprintf(bad, sizeof(bad), "%s key=%s sig=00 hash=%s", kat_body, kat_hash,
	    kat_hash);
	expect_bad(bad);
	expect_bad("");
	expect_bad("v=1 seq=1");
	strcpy(bad, good);
	bad[strlen(bad) - 1] = 'G';
	expect_bad(bad);
}

static void
test_validate_and_truncate(void **state)
{
	struct audit_record	r = kat_rec;
	struct bw_buf		b = { 0 };
	char			*big;
	struct audit_line	l;
	char			line[8192];
	size_t			n;

	r.action = NULL;
	assert_int_equal(audit_record_format_fields(&r, &b), -BW_E_INVALID);
	r = kat_rec;
	r.outcome = "ok";
	assert_int_equal(audit_record_format_fields(&r, &b), -BW_E_INVALID);
	r = kat_rec;
	r.actor = NULL;		/* absent = empty */
	big = malloc(5000);
	memset(big, 'x', 4999);
	big[4999] = 0;
	r.reason = big;
	b.len = 0;
	assert_int_equal(bw_buf_appendf(&b, "v=1 seq=7 time=2024-05-01T12:00:00.000000000Z"), 0);
	assert_int_equal(audit_record_format_fields(&r, &b), 0);
	assert_int_equal(bw_buf_appendf(&b, " prev=%s", audit_zero_hash), 0);
	n = (size_t)snprintf(line, sizeof(line), "%s hash=%s", b.p, kat_hash);
	assert_int_equal(audit_line_parse(line, n, &l, NULL), 0);
	assert_string_equal(l.rec.actor, "");
	assert_int_equal(strlen(l.rec.reason), AUDIT_FIELD_MAX + strlen("...[+2951]"));
	assert_non_null(strstr(l.rec.reason, "...[+2951]"));
	audit_line_done(&l);
	bw_buf_done(&b);
	free(big);
}

static void
test_time(void **state)
{
	struct timespec ts = { 0, 0 }, back;
	char buf[AUDIT_TIME_LEN + 1];

	audit_time_format(&ts, buf);
	assert_string_equal(buf, "1970-01-01T00:00:00.000000000Z");
	clock_gettime(CLOCK_REALTIME, &ts);
	audit_time_format(&ts, buf);
	assert_int_equal(audit_time_parse(buf, strlen(buf), &back), 0);
	assert_int_equal(back.tv_sec, ts.tv_sec);
	assert_int_equal(back.tv_nsec, ts.tv_nsec);
	assert_int_equal(audit_time_parse("2024-13-01T00:00:00.000000000Z", 30, &back),
	    -BW_E_INVALID);
	assert_int_equal(audit_time_parse("2024-01-01 00:00:00.000000000Z", 30, &back),
	    -BW_E_INVALID);
	assert_int_equal(audit_time_parse("2024-01-01T00:00:00.00000000Z", 29, &back),
	    -BW_E_INVALID);
}

static void
test_segment_header_and_names(void **state)
{
	struct bw_buf b = { 0 };
	char	name[AUDIT_SEG_NAME_LEN + 1], prev[65];
	uint64_t first;
	size_t	hl;

	audit_segment_name(42, name);
	assert_string_equal(name, "seg-00000000000000000042.log");
	assert_int_equal(audit_segment_name_parse(name, &first), 0);
	assert_int_equal(first, 42);
	assert_int_equal(audit_segment_name_parse("seg-0000000000000000004x.log", &first),
	    -BW_E_INVALID);
	assert_int_equal(audit_segment_name_parse("seg-00000000000000000000.log", &first),
	    -BW_E_INVALID);
	assert_int_equal(audit_segment_header_format(&b, 42, kat_hash), 0);
	assert_string_equal(b.p, "bulwark-audit-segment v=1 first_seq=42 prev=78a91c17"
	    "bcfab72f36144b4c4e54d449b8c7faa37dbf69b1e7525e95669ced50\n");
	assert_int_equal(audit_segment_header_parse(b.p, b.len, &first, prev, &hl), 0);
	assert_int_equal(first, 42);
	assert_int_equal(hl, b.len);
	assert_string_equal(prev, kat_hash);
	assert_int_equal(audit_segment_header_parse(b.p, b.len - 1, &first, prev, &hl),
	    -BW_E_INVALID);
	bw_buf_done(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_parse_roundtrip),
		cmocka_unit_test(test_parse_strict),
		cmocka_unit_test(test_validate_and_truncate),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_segment_header_and_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
