/* Every kind of damage the verifier must name, made on real trails
 * written by the real writer and signed with real ECDSA P-384 keys. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "audit-test.h"
#include "audit/search.h"
#include "lib/b64.h"

struct fx {
	char			*root, trail[512];
	struct audit_signer	*signer, *attacker;
};

/* 60 records in ~6 segments of 4 KiB, a checkpoint every 10 records. */
static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	t_root_trail(&f->root, f->trail, &f->signer);
	f->attacker = t_signer(f->root, "attacker.pem");
	t_make_trail(f->trail, f->signer, 60, 4096, 10);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	audit_signer_free(f->signer);
	audit_signer_free(f->attacker);
	t_rm_rf(f->root);
	free(f);
	return 0;
}

static void
expect(struct fx *f, EVP_PKEY *key, enum audit_damage d, uint64_t seq)
{
	struct audit_verify_report rep = t_verify(f->trail, key);

	assert_string_equal(audit_damage_name(rep.damage), audit_damage_name(d));
	if (d != AUDIT_OK)
		assert_int_equal(rep.bad_seq, seq);
	assert_true(d == AUDIT_OK || rep.message != NULL);
	audit_verify_report_done(&rep);
}

/* Loads segment 2 and returns the seq of its fourth record. */
static uint64_t
mid_seq(struct fx *f, struct t_seg *s)
{
	uint64_t seq;

	t_seg_load(f->trail, 2, s);
	assert_true(s->n > 6);
	/* Line 4 and its neighbours must be callers' records, not
	 * checkpoints: move a checkpoint out of the way by choosing
	 * another segment if needed. */
	for (size_t i = 0; i < 6; i++) {
		if (strstr(s->lines[3], "actor=alice") &&
		    strstr(s->lines[4], "actor=alice") &&
		    strstr(s->lines[5], "actor=alice"))
			break;
		for (size_t j = 0; j < s->n; j++)
			free(s->lines[j]);
		t_seg_load(f->trail, 3 + i, s);
	}
	assert_non_null(strstr(s->lines[4], "actor=alice"));
	assert_int_equal(audit_line_peek_seq(s->lines[4], strlen(s->lines[4]), &seq), 0);
	return seq;
}

static void
test_intact(void **state)
{
	struct fx *f = *state;
	struct audit_verify_report rep = t_verify(f->trail, f->signer->pubkey);
	char **names;
	size_t n;

	assert_int_equal(rep.damage, AUDIT_OK);
	assert_int_equal(rep.key_source, AUDIT_KEY_TRUSTED);
	assert_int_equal(rep.first_seq, 1);
	assert_true(rep.records >= 62);		/* start + 60 + checkpoints + stop */
	assert_true(rep.checkpoints >= 6);
	assert_int_equal(rep.unsigned_tail, 0);
	assert_true(rep.ended_cleanly);
	assert_int_equal(rep.recoveries, 0);
	t_seg_names(f->trail, &names, &n);
	assert_true(n >= 5);
	assert_int_equal(rep.segments, n);
	audit_segment_list_free(names, n);
	audit_verify_report_done(&rep);
	/* without a key: the trail's own key file */
	rep = t_verify(f->trail, NULL);
	assert_int_equal(rep.damage, AUDIT_OK);
	assert_int_equal(rep.key_source, AUDIT_KEY_TRAIL);
	audit_verify_report_done(&rep);
}

static void
test_modify_byte(void **state)
{
	struct fx *f = *state;
	struct t_seg s;
	uint64_t seq = mid_seq(f, &s);

	strstr(s.lines[4], "actor=alice")[7] = 'A';
	t_seg_store(&s);
	expect(f, f->signer->pubkey, AUDIT_MODIFIED, seq);
}

static void
test_modify_separator(void **state)
{
	struct fx *f = *state;
	struct t_seg s;
	uint64_t seq = mid_seq(f, &s);

	strstr(s.lines[4], " role=")[0] = '_';	/* no longer parses */
	t_seg_store(&s);
	expect(f, NULL, AUDIT_MODIFIED, seq);
}

static void
test_delete_record(void **state)
{
	struct fx *f = *state;
	struct t_seg s;
	uint64_t seq = mid_seq(f, &s);

	free(s.lines[4]);
	memmove(&s.lines[4], &s.lines[5], (s.n - 5) * sizeof(char *));
	s.n--;
	t_seg_store(&s);
	expect(f, f->signer->pubkey, AUDIT_MISSING, seq);
}

static void
insert_line(struct t_seg *s, size_t at, char *line)
{
	memmove(&s->lines[at + 1], &s->lines[at], (s->n - at) * sizeof(char *));
	s->lines[at] = line;
	s->n++;
}

static void
test_insert_junk(void **state)
{
	struct fx *f = *state;
	struct t_seg s;
	uint64_t seq = mid_seq(f, &s);
	char *forged = strdup(s.lines[4]);

	strstr(forged, "actor=alice")[7] = 'M';	/* a copy with a stale hash */
	insert_line(&s, 4, forged);
	t_seg_store(&s);
	expect(f, f->signer->pubkey, AUDIT_INSERTED, seq);
}

static void
test_insert_forged_chained(void **state)
{
	struct fx *f = *state;
	struct t_seg s;
	uint64_t seq = mid_seq(f, &s);
	struct audit_line prev;
	struct bw_buf b = { 0 };
	unsigned char h[32];
	char hex[65];

	/* A well-formed record with a correct hash that chains to the
	 * previous one and takes over its seq. */
	assert_int_equal(audit_line_parse(s.lines[3], strlen(s.lines[3]), &prev, NULL), 0);
	bw_buf_appendf(&b, "v=1 seq=%" PRIu64 " time=2024-05-01T12:00:00.000000000Z "
	    "actor=mallory role=system-admin tenant= source= auth=password "
	    "action=role.grant okind=RoleBinding otenant= oname=mallory orev=1 "
	    "outcome=success reason= controls=AC-2 prev=%s", seq, prev.hash);
	audit_line_done(&prev);
	audit_sha256(b.p, b.len, h);
	hex_encode(h, 32, hex);
	bw_buf_appendf(&b, " hash=%s", hex);
	insert_line(&s, 4, b.p);
	t_seg_store(&s);
	expect(f, f->signer->pubkey, AUDIT_INSERTED, seq);
}

static void
test_duplicate(void **state)
{
	struct fx *f = *state;
	struct t_seg s;
	uint64_t seq = mid_seq(f, &s);

	insert_line(&s, 5, strdup(s.lines[4]));
	t_seg_store(&s);
	expect(f, f->signer->pubkey, AUDIT_INSERTED, seq);
}

static void
test_swap(void **state)
{
	struct fx *f = *state;
	struct t_seg s;
	uint64_t seq = mid_seq(f, &s);
	char *tmp = s.lines[4];

	s.lines[4] = s.lines[5];
	s.lines[5] = tmp;
	t_seg_store(&s);
	expect(f, f->signer->pubkey, AUDIT_REORDERED, seq);
}

static void
test_truncate_mid_record(void **state)
{
	struct fx *f = *state;
	char **names;
	size_t n;
	struct t_seg s;
	uint64_t seq;

	t_seg_names(f->trail, &names, &n);
	t_seg_load(f->trail, n - 1, &s);
	audit_segment_list_free(names, n);
	assert_int_equal(audit_line_peek_seq(s.lines[s.n - 1],
	    strlen(s.lines[s.n - 1]), &seq), 0);
	s.lines[s.n - 1][strlen(s.lines[s.n - 1]) / 2] = '\0';
	s.trailing_nl = 0;
	t_seg_store(&s);
	expect(f, f->signer->pubkey, AUDIT_TRUNCATED, seq);
}

static void
test_delete_middle_segment(void **state)
{
	struct fx *f = *state;
	char **names, path[700];
	size_t n;
	uint64_t first;

	t_seg_names(f->trail, &names, &n);
	assert_int_equal(audit_segment_name_parse(names[2], &first), 0);
	snprintf(path, sizeof(path), "%s/%s", f->trail, names[2]);
	audit_segment_list_free(names, n);
	assert_int_equal(unlink(path), 0);
	expect(f, f->signer->pubkey, AUDIT_MISSING, first);
}

static void
test_delete_first_segment(void **state)
{
	struct fx *f = *state;
	char **names, path[700];
	size_t n;

	t_seg_names(f->trail, &names, &n);
	snprintf(path, sizeof(path), "%s/%s", f->trail, names[0]);
	audit_segment_list_free(names, n);
	assert_int_equal(unlink(path), 0);
	expect(f, f->signer->pubkey, AUDIT_MISSING, 1);
}

static void
test_forged_checkpoint(void **state)
{
	struct fx *f = *state;
	struct t_seg s;
	uint64_t seq = mid_seq(f, &s), ck = 0;
	struct audit_verify_report rep;

	for (size_t i = 0; i < s.n; i++)
		free(s.lines[i]);
	t_forge(f->trail, seq, f->attacker, 0);
	/* The checkpoints before the forged record are the appliance's; the
	 * first one after it (at most 11 records later) is not. */
	rep = t_verify(f->trail, f->signer->pubkey);
	assert_int_equal(rep.damage, AUDIT_BAD_SIGNATURE);
	ck = rep.bad_seq;
	assert_true(ck > seq && ck <= seq + 11);
	audit_verify_report_done(&rep);
}

static void
test_forged_signature_same_key_id(void **state)
{
	struct fx *f = *state;
	struct t_seg s;
	uint64_t seq = mid_seq(f, &s);
	struct audit_verify_report rep;

	for (size_t i = 0; i < s.n; i++)
		free(s.lines[i]);
	t_forge(f->trail, seq, f->attacker, 1);
	rep = t_verify(f->trail, f->signer->pubkey);
	assert_int_equal(rep.damage, AUDIT_BAD_SIGNATURE);
	assert_non_null(strstr(rep.message, "does not verify"));
	audit_verify_report_done(&rep);
}

static void
test_garbage_segment(void **state)
{
	struct fx *f = *state;
	char path[700];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/seg-00000000000099999999.log", f->trail);
	assert_non_null(fp = fopen(path, "w"));
	fputs("not an audit segment\n", fp);
	fclose(fp);
	{
		struct audit_verify_report rep = t_verify(f->trail, f->signer->pubkey);

		assert_int_equal(rep.damage, AUDIT_MALFORMED);
		audit_verify_report_done(&rep);
	}
}

/* Appends NPAD NUL bytes, then TAIL (may be NULL), to segment IDX
 * (counted from the end when negative). Returns the seq that follows
 * the segment's last record. */
static uint64_t
pad_segment(struct fx *f, int idx, size_t npad, const char *tail)
{
	char		**names, *zeros = calloc(1, npad);
	size_t		  n;
	struct t_seg	  s;
	uint64_t	  seq = 0;
	FILE		 *fp;

	t_seg_names(f->trail, &names, &n);
	audit_segment_list_free(names, n);
	t_seg_load(f->trail, idx < 0 ? n + (size_t)idx : (size_t)idx, &s);
	/* the last record (earlier padding reads as an empty last line) */
	for (size_t i = s.n; i-- > 0;)
		if (audit_line_peek_seq(s.lines[i], strlen(s.lines[i]), &seq) == 0)
			break;
	assert_true(seq > 0);
	assert_non_null(zeros);
	assert_non_null(fp = fopen(s.path, "a"));
	assert_int_equal(fwrite(zeros, 1, npad, fp), npad);
	if (tail)
		fputs(tail, fp);
	assert_int_equal(fclose(fp), 0);
	for (size_t i = 0; i < s.n; i++)
		free(s.lines[i]);
	free(zeros);
	return seq + 1;
}

/* The writer's NUL padding after the last record of the last segment
 * is accepted; anything else made of NULs is damage. */
static void
test_padding(void **state)
{
	struct fx *f = *state;
	struct audit_verify_report rep;
	struct t_seg s;
	char *line;
	uint64_t next;

	/* As much as the writer ever leaves (a 1 MiB step) */
	pad_segment(f, -1, 1 << 20, NULL);
	rep = t_verify(f->trail, f->signer->pubkey);
	assert_int_equal(rep.damage, AUDIT_OK);
	assert_true(rep.ended_cleanly);
	audit_verify_report_done(&rep);

	/* a non-NUL byte in the padding */
	next = pad_segment(f, -1, 10, "X");
	expect(f, f->signer->pubkey, AUDIT_MALFORMED, next);

	/* a record after the padding: the last one again, copied */
	snprintf(f->trail, sizeof(f->trail), "%s/trail2", f->root);
	t_make_trail(f->trail, f->signer, 60, 4096, 10);
	t_seg_load(f->trail, 0, &s);
	assert_non_null(line = malloc(strlen(s.lines[s.n - 1]) + 2));
	sprintf(line, "%s\n", s.lines[s.n - 1]);
	for (size_t i = 0; i < s.n; i++)
		free(s.lines[i]);
	next = pad_segment(f, -1, 4096, line);
	free(line);
	expect(f, f->signer->pubkey, AUDIT_MALFORMED, next);

	/* padding that does not end the last segment */
	snprintf(f->trail, sizeof(f->trail), "%s/trail3", f->root);
	t_make_trail(f->trail, f->signer, 60, 4096, 10);
	next = pad_segment(f, 1, 100, NULL);
	expect(f, f->signer->pubkey, AUDIT_MALFORMED, next);
}

/* audit_segment_data_end(): the end of a segment without its padding,
 * whatever the padding's length against the reader's 16 KiB window. */
static void
test_data_end(void **state)
{
	static const size_t	 pads[] = { 0, 1, 16383, 16384, 16385,
	    3 * 16384 + 7, 1 << 20 };
	static const char	 zeros[(1 << 20) + 1];
	struct fx		*f = *state;
	char			 path[600];
	uint64_t		 end;

	snprintf(path, sizeof(path), "%s/data-end", f->root);
	for (size_t i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "rec 1\nrec 2\n", 12), 12);
		assert_int_equal(write(fd, zeros, pads[i]), (ssize_t)pads[i]);
		end = 0;
		assert_int_equal(audit_segment_data_end(fd, 12 + pads[i], &end), 0);
		assert_int_equal(end, 12);
		/* a size larger than the file (cut meanwhile) */
		assert_int_equal(audit_segment_data_end(fd, 12 + pads[i] + 9, &end), 0);
		assert_int_equal(end, 12);
		close(fd);
	}
	{
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, zeros, 40000), 40000);
		assert_int_equal(audit_segment_data_end(fd, 40000, &end), 0);
		assert_int_equal(end, 0);
		close(fd);
	}
}

struct count {
	unsigned n;
	uint64_t last;
};

static int
count_cb(const struct audit_record *rec, const char *line, size_t len, void *u)
{
	struct count *c = u;

	assert_true(strlen(line) == len);
	c->n++;
	c->last = rec->seq;
	return 0;
}

static int
stop_cb(const struct audit_record *rec, const char *line, size_t len, void *u)
{
	return 7;
}

static void
test_search(void **state)
{
	struct fx *f = *state;
	struct audit_search_filter flt = { .action = "workload.*" };
	struct count c = { 0 };

	assert_int_equal(audit_search_dir(f->trail, &flt, count_cb, &c, NULL), 0);
	assert_int_equal(c.n, 60);
	memset(&c, 0, sizeof(c));
	flt = (struct audit_search_filter){ .action = AUDIT_ACTION_CHECKPOINT };
	assert_int_equal(audit_search_dir(f->trail, &flt, count_cb, &c, NULL), 0);
	assert_true(c.n >= 6);
	memset(&c, 0, sizeof(c));
	flt = (struct audit_search_filter){ .object_name = "web-7", .actor = "alice",
	    .outcome = "success" };
	assert_int_equal(audit_search_dir(f->trail, &flt, count_cb, &c, NULL), 0);
	assert_int_equal(c.n, 1);
	memset(&c, 0, sizeof(c));
	flt = (struct audit_search_filter){ .seq_from = 20, .seq_to = 29 };
	assert_int_equal(audit_search_dir(f->trail, &flt, count_cb, &c, NULL), 0);
	assert_int_equal(c.n, 10);
	assert_int_equal(c.last, 29);
	memset(&c, 0, sizeof(c));
	flt = (struct audit_search_filter){ .actor = "bob" };
	assert_int_equal(audit_search_dir(f->trail, &flt, count_cb, &c, NULL), 0);
	assert_int_equal(c.n, 0);
	flt = (struct audit_search_filter){ .until = { 1, 0 } };
	memset(&c, 0, sizeof(c));
	assert_int_equal(audit_search_dir(f->trail, &flt, count_cb, &c, NULL), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(audit_search_dir(f->trail, NULL, stop_cb, NULL, NULL), 7);
}

static int
cancel_now(void *u)
{
	struct count *c = u;

	c->last++;
	return 9;
}

/* A search that matches nothing still asks its caller whether to go on,
 * so a daemon stopping does not wait for a whole trail to be read. */
static void
test_search_cancelled(void **state)
{
	struct fx *f = *state;
	struct audit_search_filter flt = { .actor = "nobody-at-all",
	    .cancelled = cancel_now };
	struct count c = { 0 };

	assert_int_equal(audit_search_dir(f->trail, &flt, count_cb, &c, NULL), 9);
	assert_int_equal(c.n, 0);
	assert_int_equal(c.last, 1);
}

/* The first checkpoint seq signed with the key whose id is ID, in the
 * trail in DIR (0 if none). */
static uint64_t
first_ckpt_of(const char *dir, const char *id)
{
	char		**names;
	size_t		  n;
	uint64_t	  seq = 0;

	t_seg_names(dir, &names, &n);
	for (size_t i = 0; i < n && !seq; i++) {
		struct t_seg s;

		t_seg_load(dir, i, &s);
		for (size_t k = 0; k < s.n; k++) {
			char *at = strstr(s.lines[k], " key=");

			if (!seq && at && strncmp(at + 5, id, AUDIT_HASH_HEX) == 0)
				assert_int_equal(audit_line_peek_seq(s.lines[k],
				    strlen(s.lines[k]), &seq), 0);
			free(s.lines[k]);
		}
	}
	audit_segment_list_free(names, n);
	return seq;
}

/* The appliance's checkpoint key changes (a data directory moved to a
 * new TPM): the trail records the change, its key file keeps both keys,
 * and a verifier trusting both accepts the trail; trusting only one, it
 * names the first checkpoint of the other. */
static void
test_key_change(void **state)
{
	struct fx		 *f = *state;
	struct audit_signer	 *second = t_signer(f->root, "second.pem");
	struct audit_verify_report rep;
	EVP_PKEY		 *both[2] = { f->signer->pubkey, second->pubkey };
	EVP_PKEY		 **stored = NULL;
	char			  id1[AUDIT_HASH_HEX + 1], id2[AUDIT_HASH_HEX + 1];
	char			  path[700];
	size_t			  nstored = 0;
	uint64_t		  first2;

	/* the fixture's trail was written by f->signer; go on with SECOND */
	t_make_trail(f->trail, second, 30, 4096, 10);
	assert_int_equal(audit_key_id(f->signer->pubkey, id1), 0);
	assert_int_equal(audit_key_id(second->pubkey, id2), 0);
	first2 = first_ckpt_of(f->trail, id2);
	assert_true(first2 > 0);

	rep = t_verify_keys(f->trail, both, 2);
	assert_int_equal(rep.damage, AUDIT_OK);
	assert_true(rep.checkpoints > 0);
	audit_verify_report_done(&rep);
	/* only the old key: the first checkpoint of the new one */
	expect(f, f->signer->pubkey, AUDIT_BAD_SIGNATURE, first2);
	/* only the new key: the trail's first checkpoint */
	expect(f, second->pubkey, AUDIT_BAD_SIGNATURE, first_ckpt_of(f->trail, id1));

	/* the trail's own key file: the new key first, then the old */
	snprintf(path, sizeof(path), "%s/%s", f->trail, AUDIT_KEY_FILE);
	assert_int_equal(audit_pubkeys_load(path, &stored, &nstored, NULL), 0);
	assert_int_equal(nstored, 2);
	assert_int_equal(EVP_PKEY_eq(stored[0], second->pubkey), 1);
	assert_int_equal(EVP_PKEY_eq(stored[1], f->signer->pubkey), 1);
	audit_pubkeys_free(stored, nstored);
	/* without a trusted key, every stored key is used */
	rep = t_verify(f->trail, NULL);
	assert_int_equal(rep.damage, AUDIT_OK);
	assert_int_equal(rep.key_source, AUDIT_KEY_TRAIL);
	audit_verify_report_done(&rep);

	/* the change is in the chain, naming both keys */
	{
		struct audit_search_filter flt = { .action = AUDIT_ACTION_KEY_CHANGE };
		struct count c = { 0 };

		assert_int_equal(audit_search_dir(f->trail, &flt, count_cb, &c,
		    NULL), 0);
		assert_int_equal(c.n, 1);
		assert_true(c.last < first2);
	}
	/* the same key again: no second record, the file unchanged */
	t_make_trail(f->trail, second, 5, 4096, 10);
	{
		struct audit_search_filter flt = { .action = AUDIT_ACTION_KEY_CHANGE };
		struct count c = { 0 };

		assert_int_equal(audit_search_dir(f->trail, &flt, count_cb, &c,
		    NULL), 0);
		assert_int_equal(c.n, 1);
	}
	audit_signer_free(second);
}

/* A full walk, and its mark. */
static struct audit_verify_mark
full_mark(struct fx *f)
{
	struct audit_verify_report rep = t_verify(f->trail, f->signer->pubkey);
	struct audit_verify_mark m = rep.mark;

	assert_int_equal(rep.damage, AUDIT_OK);
	assert_int_equal(rep.resumed, 0);
	assert_int_equal(m.seq, rep.last_seq);
	assert_string_equal(m.hash, rep.head_hash);
	audit_verify_report_done(&rep);
	return m;
}

static struct audit_verify_report
verify_from(struct fx *f, const struct audit_verify_mark *m)
{
	struct audit_verify_report rep = { 0 };
	EVP_PKEY *k = f->signer->pubkey;

	assert_int_equal(audit_verify_dir_from(f->trail, &k, 1, m, 0, &rep), 0);
	return rep;
}

/* Opens the fixture's trail again (a new segment) and appends N. */
static void
append_more(struct fx *f, unsigned n)
{
	struct audit_trail_options o = { .dir = f->trail, .signer = f->signer,
		.segment_max_bytes = 4096, .checkpoint_every = 10,
		.checkpoint_interval_ms = 60000 };
	struct audit_trail *t = NULL;

	assert_int_equal(audit_trail_open(&o, &t, NULL), 0);
	assert_int_equal(t_append_n(t, n, "bob"), 0);
	audit_trail_close(t);
}

static void
test_resume_intact(void **state)
{
	struct fx *f = *state;
	struct audit_verify_mark m = full_mark(f), m2;
	struct audit_verify_report rep;

	append_more(f, 25);
	rep = verify_from(f, &m);
	assert_int_equal(rep.damage, AUDIT_OK);
	assert_int_equal(rep.resumed, 1);
	assert_int_equal(rep.first_seq, m.seq + 1);
	/* start + 25 + checkpoints + stop, none of the 60 before */
	assert_true(rep.records >= 27 && rep.records < 40);
	m2 = rep.mark;
	audit_verify_report_done(&rep);
	assert_true(m2.seq > m.seq + 25);
	/* the resumed walk ends where a full one does */
	{
		struct audit_verify_mark full = full_mark(f);

		assert_int_equal(full.seq, m2.seq);
		assert_string_equal(full.hash, m2.hash);
		assert_string_equal(full.segment, m2.segment);
		assert_int_equal(full.offset, m2.offset);
	}
	/* nothing new: resumes at the end */
	rep = verify_from(f, &m2);
	assert_int_equal(rep.damage, AUDIT_OK);
	assert_int_equal(rep.records, 0);
	assert_int_equal(rep.mark.seq, m2.seq);
	audit_verify_report_done(&rep);
}

/* A mark inside the live, padded segment: the walk resumes mid-segment
 * and skips the padding. */
static void
test_resume_live_segment(void **state)
{
	struct fx *f = *state;
	struct audit_trail_options o = { .dir = f->trail, .signer = f->signer,
		.checkpoint_every = 1000, .checkpoint_interval_ms = 60000,
		.preallocate = 1 };
	struct audit_trail *t = NULL;
	struct audit_verify_mark m;
	struct audit_verify_report rep;

	assert_int_equal(audit_trail_open(&o, &t, NULL), 0);
	assert_int_equal(t_append_n(t, 5, "bob"), 0);
	m = full_mark(f);
	assert_int_equal(t_append_n(t, 7, "bob"), 0);
	rep = verify_from(f, &m);
	assert_int_equal(rep.damage, AUDIT_OK);
	assert_int_equal(rep.records, 7);
	assert_int_equal(rep.mark.seq, m.seq + 7);
	assert_string_equal(rep.mark.segment, m.segment);
	assert_true(rep.mark.offset > m.offset);
	audit_verify_report_done(&rep);
	/* The mark held back at a durable seq: the 7 are verified, the
	 * mark names the third, and a walk from it verifies the other 4. */
	{
		EVP_PKEY *k = f->signer->pubkey;
		struct audit_verify_mark held;

		assert_int_equal(audit_verify_dir_from(f->trail, &k, 1, &m,
		    m.seq + 3, &rep), 0);
		assert_int_equal(rep.damage, AUDIT_OK);
		assert_int_equal(rep.records, 7);
		assert_int_equal(rep.last_seq, m.seq + 7);
		assert_int_equal(rep.mark.seq, m.seq + 3);
		held = rep.mark;
		audit_verify_report_done(&rep);
		rep = verify_from(f, &held);
		assert_int_equal(rep.damage, AUDIT_OK);
		assert_int_equal(rep.records, 4);
		assert_int_equal(rep.mark.seq, m.seq + 7);
		audit_verify_report_done(&rep);
	}
	audit_trail_close(t);
}

/* A record changed after the mark: the resumed walk finds it. */
static void
test_resume_tamper_after(void **state)
{
	struct fx *f = *state;
	struct audit_verify_mark m = full_mark(f);
	struct audit_verify_report rep;
	struct t_seg s;
	char **names;
	size_t n;
	uint64_t seq;
	int i;

	append_more(f, 25);
	t_seg_names(f->trail, &names, &n);
	audit_segment_list_free(names, n);
	/* the last record of bob's in the trail */
	for (;;) {
		assert_true(n > 0);
		t_seg_load(f->trail, --n, &s);
		for (i = (int)s.n - 1; i > 0 && !strstr(s.lines[i],
		    "actor=bob"); i--)
			;
		if (i > 0)
			break;
		for (size_t j = 0; j < s.n; j++)
			free(s.lines[j]);
	}
	assert_int_equal(audit_line_peek_seq(s.lines[i], strlen(s.lines[i]),
	    &seq), 0);
	assert_true(seq > m.seq);
	strstr(s.lines[i], "actor=bob")[7] = 'B';
	t_seg_store(&s);
	rep = verify_from(f, &m);
	assert_string_equal(audit_damage_name(rep.damage), "MODIFIED");
	assert_int_equal(rep.bad_seq, seq);
	audit_verify_report_done(&rep);
}

/* A record changed before the mark is not read by the resumed walk;
 * the full walk (bulwark audit verify, bulwark-verify) still finds it. */
static void
test_resume_tamper_before(void **state)
{
	struct fx *f = *state;
	struct audit_verify_mark m = full_mark(f);
	struct audit_verify_report rep;
	struct t_seg s;
	uint64_t seq = mid_seq(f, &s);

	assert_true(seq < m.seq);
	strstr(s.lines[4], "actor=alice")[7] = 'A';
	t_seg_store(&s);
	append_more(f, 5);
	rep = verify_from(f, &m);
	assert_int_equal(rep.damage, AUDIT_OK);
	audit_verify_report_done(&rep);
	expect(f, f->signer->pubkey, AUDIT_MODIFIED, seq);
}

/* The trail rewritten from before the mark and re-signed with the
 * appliance's own key passes a full walk, but the record at the mark
 * is no longer the one verified: the resumed walk fails there instead
 * of starting over from the rewritten chain. */
static void
test_resume_rewritten_under_mark(void **state)
{
	struct fx *f = *state;
	struct audit_verify_mark m = full_mark(f);
	struct audit_verify_report rep;
	struct t_seg s;
	uint64_t seq = mid_seq(f, &s);

	for (size_t i = 0; i < s.n; i++)
		free(s.lines[i]);
	t_forge(f->trail, seq, f->signer, 0);
	expect(f, f->signer->pubkey, AUDIT_OK, 0);
	rep = verify_from(f, &m);
	/* TRUNCATED when the forged lines came out shorter (signatures
	 * vary in length) and the segment now ends before the mark */
	assert_true(rep.damage == AUDIT_MODIFIED ||
	    rep.damage == AUDIT_TRUNCATED);
	assert_int_equal(rep.bad_seq, m.seq);
	assert_non_null(strstr(rep.message, rep.damage == AUDIT_MODIFIED ?
	    "rewritten under the verified checkpoint" : "cut or replaced"));
	audit_verify_report_done(&rep);
	/* cut short under the mark */
	{
		char path[700];

		snprintf(path, sizeof(path), "%s/%s", f->trail, m.segment);
		assert_int_equal(truncate(path, (off_t)m.offset - 10), 0);
	}
	rep = verify_from(f, &m);
	assert_string_equal(audit_damage_name(rep.damage), "TRUNCATED");
	assert_int_equal(rep.bad_seq, m.seq);
	audit_verify_report_done(&rep);
}

/* The mark's segment is gone: the whole trail is walked. */
static void
test_resume_segment_gone(void **state)
{
	struct fx *f = *state;
	struct audit_verify_mark m = full_mark(f);
	struct audit_verify_report rep;

	snprintf(m.segment, sizeof(m.segment), "seg-%020u.log", 7777u);
	rep = verify_from(f, &m);
	assert_int_equal(rep.damage, AUDIT_OK);
	assert_int_equal(rep.resumed, 0);
	assert_int_equal(rep.first_seq, 1);
	audit_verify_report_done(&rep);
}

/* Every segment after the mark's removed: the rest still chains, but
 * the writer had made later records durable, so a walk given that seq
 * (resumed or whole) reports them missing instead of intact. */
static void
test_resume_durable_floor(void **state)
{
	struct fx *f = *state;
	struct audit_verify_mark m = full_mark(f), end;
	struct audit_verify_report rep = { 0 };
	EVP_PKEY *k = f->signer->pubkey;

	append_more(f, 25);
	end = full_mark(f);
	t_unlink_after(f->trail, m.segment);
	/* without the durable seq, nothing tells */
	rep = verify_from(f, &m);
	assert_int_equal(rep.damage, AUDIT_OK);
	audit_verify_report_done(&rep);
	assert_int_equal(audit_verify_dir_from(f->trail, &k, 1, &m, end.seq,
	    &rep), 0);
	assert_string_equal(audit_damage_name(rep.damage), "MISSING");
	assert_int_equal(rep.bad_seq, m.seq + 1);
	assert_non_null(strstr(rep.message, "durable"));
	audit_verify_report_done(&rep);
	/* the whole walk too */
	assert_int_equal(audit_verify_dir_from(f->trail, &k, 1, NULL, end.seq,
	    &rep), 0);
	assert_string_equal(audit_damage_name(rep.damage), "MISSING");
	assert_int_equal(rep.bad_seq, m.seq + 1);
	audit_verify_report_done(&rep);
	/* the durable seq reached: intact */
	assert_int_equal(audit_verify_dir_from(f->trail, &k, 1, &m, m.seq,
	    &rep), 0);
	assert_int_equal(rep.damage, AUDIT_OK);
	audit_verify_report_done(&rep);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_intact),
		T(test_modify_byte),
		T(test_modify_separator),
		T(test_delete_record),
		T(test_insert_junk),
		T(test_insert_forged_chained),
		T(test_duplicate),
		T(test_swap),
		T(test_truncate_mid_record),
		T(test_delete_middle_segment),
		T(test_delete_first_segment),
		T(test_forged_checkpoint),
		T(test_forged_signature_same_key_id),
		T(test_garbage_segment),
		T(test_padding),
		T(test_data_end),
		T(test_key_change),
		T(test_search),
		T(test_search_cancelled),
		T(test_resume_intact),
		T(test_resume_live_segment),
		T(test_resume_tamper_after),
		T(test_resume_tamper_before),
		T(test_resume_rewritten_under_mark),
		T(test_resume_segment_gone),
		T(test_resume_durable_floor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
