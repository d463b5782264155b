/* Helpers shared by the audit unit tests: temp dirs, a real signer, a
 * trail with N records, and line-level edits of segment files. */
#ifndef BW_AUDIT_TEST_H
#define BW_AUDIT_TEST_H

#define _GNU_SOURCE 1
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/segment.h"
#include "audit/trail.h"
#include "audit/verify.h"
#include "lib/b64.h"
#include "lib/fileio.h"

static inline char *
t_mkdtemp(void)
{
	char *d = strdup("/tmp/bw-audit-test-XXXXXX");

	if (!d || !mkdtemp(d))
		abort();
	return d;
}

static inline int
t_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

static inline void
t_rm_rf(char *dir)
{
	nftw(dir, t_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static inline struct audit_signer *
t_signer(const char *dir, const char *name)
{
	char			 path[512];
	struct audit_signer	*s = NULL;
	char			*err = NULL;

	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (audit_signer_software_load_or_create(path, &s, &err) < 0) {
		fprintf(stderr, "signer: %s\n", err ? err : "?");
		abort();
	}
	return s;
}

/* A new temp root in *ROOT, the path of a trail under it in TRAIL (not
 * created) and a software checkpoint signer whose key is in the root. */
static inline void
t_root_trail(char **root, char trail[512], struct audit_signer **signer)
{
	*root = t_mkdtemp();
	snprintf(trail, 512, "%s/trail", *root);
	*signer = t_signer(*root, "appliance.pem");
}

static inline int
t_append_n(struct audit_trail *t, unsigned n, const char *actor)
{
	for (unsigned i = 0; i < n; i++) {
		char name[32];
		struct audit_record r = {
			.actor = actor, .role = "tenant-admin", .tenant = "acme",
			.source = "192.0.2.7:443", .auth_method = "mtls",
			.action = "workload.create", .object_kind = "Workload",
			.object_tenant = "acme", .object_name = name,
			.object_revision = i + 1, .outcome = "success",
			.reason = "created by test", .controls = "AU-2,AC-3",
		};
		int rc;

		snprintf(name, sizeof(name), "web-%u", i);
		if ((rc = audit_trail_append(t, &r, 1, NULL)) < 0)
			return rc;
	}
	return 0;
}

/* Opens a trail in DIR with SIGNER, appends N records, closes it. */
static inline void
t_make_trail(const char *dir, const struct audit_signer *signer, unsigned n,
    size_t seg_bytes, unsigned ckpt_every)
{
	struct audit_trail_options o = {
		.dir = dir, .signer = signer, .segment_max_bytes = seg_bytes,
		.checkpoint_every = ckpt_every, .checkpoint_interval_ms = 60000,
	};
	struct audit_trail *t = NULL;
	char *err = NULL;

	if (audit_trail_open(&o, &t, &err) < 0) {
		fprintf(stderr, "open: %s\n", err ? err : "?");
		abort();
	}
	if (t_append_n(t, n, "alice") < 0)
		abort();
	audit_trail_close(t);
}

/* A segment file as lines (each without '\n'); the last one may be a
 * fragment (then TRAILING_NL is 0). */
struct t_seg {
	char	 path[4096];
	char	*lines[4096];
	size_t	 n;
	int	 trailing_nl;
};

static inline void
t_seg_names(const char *dir, char ***names, size_t *n)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0 || audit_segment_list(dfd, names, n) < 0)
		abort();
	close(dfd);
}

/* Removes every segment of DIR after SEGMENT (an intruder unlinking
 * the live segment); returns how many (aborts when none follows). */
static inline size_t
t_unlink_after(const char *dir, const char *segment)
{
	char	**names, path[700];
	size_t	  n, at = 0, removed = 0;

	t_seg_names(dir, &names, &n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], segment) == 0)
			at = i;
	for (size_t i = at + 1; i < n; i++, removed++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (unlink(path) < 0)
			abort();
	}
	audit_segment_list_free(names, n);
	if (!removed)
		abort();
	return removed;
}

static inline void
t_seg_load(const char *dir, size_t idx, struct t_seg *s)
{
	char	**names;
	size_t	  n, len, pos = 0;
	char	 *data;

	t_seg_names(dir, &names, &n);
	if (idx >= n)
		abort();
	memset(s, 0, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s/%s", dir, names[idx]);
	audit_segment_list_free(names, n);
	if (read_file_at(AT_FDCWD, s->path, 1 << 26, &data, &len) < 0)
		abort();
	s->trailing_nl = 1;
	while (pos < len) {
		char *nl = memchr(data + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - data) - pos : len - pos;

		if (s->n == 4096)
			abort();
		s->lines[s->n++] = strndup(data + pos, l);
		if (!nl)
			s->trailing_nl = 0;
		pos += l + 1;
	}
	free(data);
}

static inline void
t_seg_store(struct t_seg *s)
{
	FILE *f = fopen(s->path, "w");

	if (!f)
		abort();
	for (size_t i = 0; i < s->n; i++) {
		fputs(s->lines[i], f);
		if (i + 1 < s->n || s->trailing_nl)
			fputc('\n', f);
	}
	if (fclose(f) != 0)
		abort();
	for (size_t i = 0; i < s->n; i++)
		free(s->lines[i]);
	s->n = 0;
}

/* Index of the line holding SEQ, or -1. Line 0 is the header. */
static inline int
t_seg_find(const struct t_seg *s, uint64_t seq)
{
	char pfx[40];

	snprintf(pfx, sizeof(pfx), "v=1 seq=%" PRIu64 " ", seq);
	for (size_t i = 1; i < s->n; i++)
		if (strncmp(s->lines[i], pfx, strlen(pfx)) == 0)
			return (int)i;
	return -1;
}

static inline struct audit_verify_report
t_verify(const char *dir, EVP_PKEY *key)
{
	struct audit_verify_report rep = { 0 };

	if (audit_verify_dir(dir, key, &rep) < 0)
		abort();
	if (rep.damage != AUDIT_OK)
		fprintf(stderr, "# verify: %s at %" PRIu64 ": %s\n",
		    audit_damage_name(rep.damage), rep.bad_seq,
		    rep.message ? rep.message : "");
	return rep;
}

static inline struct audit_verify_report
t_verify_keys(const char *dir, EVP_PKEY **keys, size_t n)
{
	struct audit_verify_report rep = { 0 };

	if (audit_verify_dir_keys(dir, keys, n, &rep) < 0)
		abort();
	if (rep.damage != AUDIT_OK)
		fprintf(stderr, "# verify: %s at %" PRIu64 ": %s\n",
		    audit_damage_name(rep.damage), rep.bad_seq,
		    rep.message ? rep.message : "");
	return rep;
}

/* Rewrites the whole trail as an attacker with their own key would:
 * changes the actor of record SEQ, recomputes every later hash and
 * segment header, and re-signs every checkpoint with ATTACKER. With
 * KEEP_KEY_ID the checkpoints still name the original key id. The
 * attacker's public key replaces DIR/checkpoint-key.pem. */
static inline void
t_forge(const char *dir, uint64_t seq, const struct audit_signer *attacker,
    int keep_key_id)
{
	char	**names;
	size_t	  nseg;
	char	  prev[65], akey[65];
	int	  started = 0;

	if (audit_key_id(attacker->pubkey, akey) < 0)
		abort();
	t_seg_names(dir, &names, &nseg);
	for (size_t si = 0; si < nseg; si++) {
		struct t_seg	s;
		uint64_t	first;
		char		hprev[65];
		size_t		hl;

		t_seg_load(dir, si, &s);
		{
			char hdr[200];
			char *nlh;

			snprintf(hdr, sizeof(hdr), "%s\n", s.lines[0]);
			if (audit_segment_header_parse(hdr, strlen(hdr), &first, hprev,
			    &hl) < 0)
				abort();
			if (!started) {
				memcpy(prev, hprev, 65);
				started = 1;
			}
			free(s.lines[0]);
			if (asprintf(&nlh, "bulwark-audit-segment v=1 first_seq=%" PRIu64
			    " prev=%s", first, prev) < 0)
				abort();
			s.lines[0] = nlh;
		}
		for (size_t i = 1; i < s.n; i++) {
			struct audit_line	 l;
			struct bw_buf		 b = { 0 };
			const char		*line = s.lines[i];
			size_t			 keep;
			int			 ck;
			unsigned char		 h[32];

			if (audit_line_parse(line, strlen(line), &l, NULL) < 0)
				abort();
			if (l.rec.seq < seq) {
				/* untouched: the earlier checkpoints keep the
				 * appliance's valid signatures */
				memcpy(prev, l.hash, 65);
				audit_line_done(&l);
				continue;
			}
			ck = strcmp(l.rec.action, AUDIT_ACTION_CHECKPOINT) == 0;
			keep = ck ? l.signed_len - 64 - 5 - 64 : l.body_len - 64;
			if (bw_buf_append(&b, line, keep) < 0)
				abort();
			if (l.rec.seq == seq) {
				char *a = strstr(b.p, " actor=");

				if (!a)
					abort();
				a[7] = 'm';	/* "alice" -> "mlice" */
			}
			bw_buf_append(&b, prev, 64);
			if (ck) {
				unsigned char	*sig = NULL;
				size_t		 siglen = 0;
				char		 sighex[2 * AUDIT_SIG_MAX + 1];

				bw_buf_appendf(&b, " key=%s", keep_key_id ? l.key : akey);
				if (audit_checkpoint_sign(attacker, b.p, b.len, &sig,
				    &siglen) < 0)
					abort();
				hex_encode(sig, siglen, sighex);
				free(sig);
				bw_buf_appendf(&b, " sig=%s", sighex);
			}
			audit_sha256(b.p, b.len, h);
			hex_encode(h, 32, prev);
			bw_buf_appendf(&b, " hash=%s", prev);
			audit_line_done(&l);
			free(s.lines[i]);
			s.lines[i] = b.p;
		}
		t_seg_store(&s);
	}
	audit_segment_list_free(names, nseg);
	{
		char	*pem, path[600];
		size_t	 len;

		if (audit_pubkey_pem(attacker->pubkey, &pem, &len) < 0)
			abort();
		snprintf(path, sizeof(path), "%s/%s", dir, AUDIT_KEY_FILE);
		FILE *f = fopen(path, "w");
		if (!f || fwrite(pem, 1, len, f) != len || fclose(f) != 0)
			abort();
		free(pem);
	}
}

#endif
