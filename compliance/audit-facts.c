#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/segment.h"
#include "compliance/audit-facts.h"
#include "lib/err.h"
#include "lib/macro.h"

/* The first record of the segment NAME under DFD, if it has one: reads
 * only its header and first line. Returns 0, -ENOENT (no record), or a
 * negative error. */
static int
first_record(int dfd, const char *name, time_t *ret_time, uint64_t *ret_seq)
{
	enum { BUF_LEN = AUDIT_LINE_MAX + 256 };
	_cleanup_free_ char	*buf = NULL;
	_cleanup_close_ int	 fd = -1;
	char			 prev[AUDIT_HASH_HEX + 1];
	struct audit_line	 l;
	const char		*nl;
	uint64_t		 first;
	size_t			 got = 0, hl;
	ssize_t			 k;

	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -errno;
	if (!(buf = malloc(BUF_LEN)))
		return -ENOMEM;
	while (got < BUF_LEN && (k = read(fd, buf + got, BUF_LEN - got)) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		got += (size_t)k;
	}
	if (audit_segment_header_parse(buf, got, &first, prev, &hl) < 0)
		return -BW_E_CORRUPT;
	if (hl >= got || buf[hl] == '\0' ||
	    !(nl = memchr(buf + hl, '\n', got - hl)))
		return -ENOENT;
	if (audit_line_parse(buf + hl, (size_t)(nl - buf) - hl, &l, NULL) < 0)
		return -BW_E_CORRUPT;
	*ret_time = l.rec.time.tv_sec;
	*ret_seq = l.rec.seq;
	audit_line_done(&l);
	return 0;
}

int
comp_audit_oldest(const char *dir, time_t *ret_time, uint64_t *ret_seq)
{
	_cleanup_close_ int	 dfd = -1;
	char			**names = NULL;
	size_t			 n = 0;
	int			 r;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if ((r = audit_segment_list(dfd, &names, &n)) < 0)
		return r;
	r = -ENOENT;
	/* A segment without records (a crash right after rotation) hands
	 * over to the next. */
	for (size_t i = 0; i < n && r == -ENOENT; i++)
		r = first_record(dfd, names[i], ret_time, ret_seq);
	audit_segment_list_free(names, n);
	return r;
}

static void
chain_detail(struct comp_audit_facts *af, const struct audit_verify_mark *from,
    const struct audit_verify_report *rep)
{
	if (!af->intact)
		snprintf(af->chain_detail, sizeof(af->chain_detail),
		    "%s at seq %" PRIu64 ": %s", audit_damage_name(rep->damage),
		    rep->bad_seq, rep->message ? rep->message : "");
	else if (rep->resumed && rep->records == 0)
		snprintf(af->chain_detail, sizeof(af->chain_detail),
		    "no record after seq %" PRIu64 ", the record verified "
		    "before (hash %.16s...), which is still there unchanged",
		    from->seq, from->hash);
	else if (rep->resumed)
		snprintf(af->chain_detail, sizeof(af->chain_detail),
		    "seq %" PRIu64 "..%" PRIu64 " verified, chained from the "
		    "record verified before (seq %" PRIu64 ", hash %.16s...)",
		    from->seq + 1, rep->last_seq, from->seq, from->hash);
	else
		snprintf(af->chain_detail, sizeof(af->chain_detail),
		    "seq %" PRIu64 "..%" PRIu64 " verified (whole trail)",
		    rep->first_seq, rep->last_seq);
}

int
comp_audit_facts(const char *dir, EVP_PKEY *const *keys, size_t nkeys,
    const struct audit_verify_mark *from, uint64_t durable_seq, time_t now, struct comp_facts *f,
    struct comp_audit_facts *ret)
{
	struct audit_verify_report	 rep = { 0 };
	struct audit_verify_mark	 start = { 0 };
	time_t				 oldest;
	uint64_t			 oldest_seq;
	int				 r;

	/* FROM may point into RET */
	if (from)
		start = *from;
	from = from ? &start : NULL;
	memset(ret, 0, sizeof(*ret));
	ret->mark = start;
	if ((r = audit_verify_dir_from(dir, keys, nkeys, from, durable_seq,
	    &rep)) < 0)
		return r;
	ret->intact = rep.damage == AUDIT_OK;
	ret->records = rep.records;
	if (ret->intact)
		ret->mark = rep.mark;
	chain_detail(ret, from, &rep);
	audit_verify_report_done(&rep);
	f->audit_chain_intact = ret->intact ? COMP_YES : COMP_NO;
	f->audit_chain_detail = ret->chain_detail;
	if (comp_audit_oldest(dir, &oldest, &oldest_seq) == 0) {
		f->audit_oldest_age_s = now > oldest ? (long)(now - oldest) : 0;
		f->audit_pruned = oldest_seq > 1 ? COMP_YES : COMP_NO;
	}
	return 0;
}
