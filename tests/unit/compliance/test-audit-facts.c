/* The scan's audit facts on real trails: the first walk is whole, the
 * next resumes after its mark, damage after the mark or under it fails
 * and leaves the mark where it was; the oldest record and pruning. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "../audit/audit-test.h"
#include "compliance/audit-facts.h"

/* A trail of 40 records, and what the tests measure on it. */
struct fx {
	char			*root, trail[512];
	struct audit_signer	*signer;
	struct comp_facts	 cf;
	struct comp_audit_facts	 af, af2;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	t_root_trail(&f->root, f->trail, &f->signer);
	t_make_trail(f->trail, f->signer, 40, 4096, 10);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	audit_signer_free(f->signer);
	t_rm_rf(f->root);
	free(f);
	return 0;
}

/* The facts with KEY trusted (NULL: the trail's key file) and the
 * writer's durable seq DURABLE. */
static void
facts_with(struct fx *f, EVP_PKEY *key, const struct audit_verify_mark *from,
    uint64_t durable, struct comp_audit_facts *af)
{
	comp_facts_init(&f->cf);
	assert_int_equal(comp_audit_facts(f->trail, &key, key ? 1 : 0, from,
	    durable, time(NULL) + 3 * 86400, &f->cf, af), 0);
}

static void
facts(struct fx *f, const struct audit_verify_mark *from,
    struct comp_audit_facts *af)
{
	facts_with(f, f->signer->pubkey, from, 0, af);
}

static void
test_whole_then_resumed(void **state)
{
	struct fx *f = *state;

	facts(f, NULL, &f->af);
	assert_int_equal(f->cf.audit_chain_intact, COMP_YES);
	assert_non_null(strstr(f->cf.audit_chain_detail, "(whole trail)"));
	assert_true(f->af.mark.seq > 40);
	/* three days later, nothing pruned */
	assert_true(f->cf.audit_oldest_age_s >= 3 * 86400 - 60);
	assert_int_equal(f->cf.audit_pruned, COMP_NO);

	t_make_trail(f->trail, f->signer, 5, 4096, 10);
	facts(f, &f->af.mark, &f->af2);
	assert_int_equal(f->cf.audit_chain_intact, COMP_YES);
	assert_non_null(strstr(f->cf.audit_chain_detail, "chained from the record "
	    "verified before"));
	assert_true(f->af2.records >= 7 && f->af2.records < 12);
	assert_true(f->af2.mark.seq == f->af.mark.seq + f->af2.records);

	facts(f, &f->af2.mark, &f->af);
	assert_int_equal(f->cf.audit_chain_intact, COMP_YES);
	assert_int_equal(f->af.records, 0);
	assert_non_null(strstr(f->cf.audit_chain_detail, "no record after"));
	assert_int_equal(f->af.mark.seq, f->af2.mark.seq);
}

/* A record after the mark altered: the scan fails, the mark stays. */
static void
test_damage_after_mark(void **state)
{
	struct fx *f = *state;
	char **names;
	size_t n;
	struct t_seg s;
	int i;

	facts(f, NULL, &f->af);
	t_make_trail(f->trail, f->signer, 5, 1 << 20, 100);
	t_seg_names(f->trail, &names, &n);
	audit_segment_list_free(names, n);
	t_seg_load(f->trail, n - 1, &s);
	for (i = 1; i < (int)s.n && !strstr(s.lines[i], "actor=alice"); i++)
		;
	assert_true(i < (int)s.n);
	strstr(s.lines[i], "actor=alice")[6] = 'A';
	t_seg_store(&s);
	facts(f, &f->af.mark, &f->af2);
	assert_int_equal(f->cf.audit_chain_intact, COMP_NO);
	assert_non_null(strstr(f->cf.audit_chain_detail, "MODIFIED"));
	assert_int_equal(f->af2.intact, 0);
	assert_int_equal(f->af2.mark.seq, f->af.mark.seq);
	assert_string_equal(f->af2.mark.hash, f->af.mark.hash);
}

/* The segment under the mark rewritten and re-signed with the
 * appliance's own key: the whole walk passes, the scan does not. */
static void
test_rewritten_under_mark(void **state)
{
	struct fx *f = *state;
	char want[64];

	facts(f, NULL, &f->af);
	t_forge(f->trail, 12, f->signer, 0);
	facts(f, NULL, &f->af2);
	assert_int_equal(f->cf.audit_chain_intact, COMP_YES);
	facts(f, &f->af.mark, &f->af2);
	assert_int_equal(f->cf.audit_chain_intact, COMP_NO);
	/* MODIFIED, or TRUNCATED when the forged lines came out shorter
	 * (signatures vary in length) and the segment ends before the
	 * mark's offset: either way at the mark */
	snprintf(want, sizeof(want), " at seq %" PRIu64 ": ", f->af.mark.seq);
	assert_non_null(strstr(f->cf.audit_chain_detail, want));
	assert_true(strstr(f->cf.audit_chain_detail, "rewritten under the "
	    "verified checkpoint") || strstr(f->cf.audit_chain_detail,
	    "no longer holds the verified record"));
}

/* The first segment pruned (with its audit.retention record, as the
 * writer leaves it): the trail no longer starts at seq 1. */
static void
test_pruned(void **state)
{
	struct fx *f = *state;
	struct audit_trail_options o = { .dir = f->trail, .signer = f->signer,
		.segment_max_bytes = 4096, .checkpoint_every = 10,
		.checkpoint_interval_ms = 60000, .retain_segments = 3 };
	struct audit_trail *t = NULL;
	time_t oldest;
	uint64_t seq;

	assert_int_equal(audit_trail_open(&o, &t, NULL), 0);
	assert_int_equal(t_append_n(t, 30, "bob"), 0);
	audit_trail_close(t);
	assert_int_equal(comp_audit_oldest(f->trail, &oldest, &seq), 0);
	assert_true(seq > 1);
	assert_true(oldest <= time(NULL) && oldest > time(NULL) - 600);
	facts(f, NULL, &f->af);
	assert_int_equal(f->cf.audit_chain_intact, COMP_YES);
	assert_int_equal(f->cf.audit_pruned, COMP_YES);
	assert_true(f->cf.audit_oldest_age_s >= 3 * 86400 - 600);
}

static void
test_no_trail(void **state)
{
	struct fx *f = *state;
	char dir[600];

	snprintf(dir, sizeof(dir), "%s/none", f->root);
	comp_facts_init(&f->cf);
	assert_true(comp_audit_facts(dir, NULL, 0, NULL, 0, time(NULL), &f->cf,
	    &f->af) < 0);
	assert_int_equal(f->cf.audit_chain_intact, COMP_UNKNOWN);
	assert_int_equal(f->cf.audit_oldest_age_s, -1);
}

/* Every segment after the mark's removed (an intruder unlinking the
 * live segment): what is left chains, but the writer had made later
 * records durable, so the scan fails at the first one missing. */
static void
test_removed_after_mark(void **state)
{
	struct fx *f = *state;
	struct comp_audit_facts end;
	char want[64];

	facts(f, NULL, &f->af);
	t_make_trail(f->trail, f->signer, 60, 4096, 10);
	facts(f, &f->af.mark, &end);
	assert_int_equal(f->cf.audit_chain_intact, COMP_YES);
	t_unlink_after(f->trail, f->af.mark.segment);
	facts_with(f, f->signer->pubkey, &f->af.mark, end.mark.seq, &f->af2);
	assert_int_equal(f->cf.audit_chain_intact, COMP_NO);
	snprintf(want, sizeof(want), "MISSING at seq %" PRIu64 ": ",
	    f->af.mark.seq + 1);
	assert_non_null(strstr(f->cf.audit_chain_detail, want));
	assert_int_equal(f->af2.mark.seq, f->af.mark.seq);
	/* a whole walk with the durable seq fails the same way */
	facts_with(f, f->signer->pubkey, NULL, end.mark.seq, &f->af2);
	assert_int_equal(f->cf.audit_chain_intact, COMP_NO);
	assert_non_null(strstr(f->cf.audit_chain_detail, want));
}

/* Records after the mark rewritten, re-chained and re-signed with
 * another key swapped into the trail's key file: consistent on its
 * own, refused with the appliance's key. */
static void
test_key_file_swapped(void **state)
{
	struct fx *f = *state;
	struct audit_signer *attacker = t_signer(f->root, "attacker.pem");

	facts(f, NULL, &f->af);
	t_make_trail(f->trail, f->signer, 5, 4096, 10);
	t_forge(f->trail, f->af.mark.seq + 2, attacker, 0);
	facts_with(f, NULL, &f->af.mark, 0, &f->af2);
	assert_int_equal(f->cf.audit_chain_intact, COMP_YES);
	facts(f, &f->af.mark, &f->af2);
	assert_int_equal(f->cf.audit_chain_intact, COMP_NO);
	assert_non_null(strstr(f->cf.audit_chain_detail, "BAD_SIGNATURE"));
	assert_int_equal(f->af2.mark.seq, f->af.mark.seq);
	audit_signer_free(attacker);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_whole_then_resumed),
		T(test_damage_after_mark),
		T(test_rewritten_under_mark),
		T(test_pruned),
		T(test_no_trail),
		T(test_removed_after_mark),
		T(test_key_file_swapped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
