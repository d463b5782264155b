#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/update-journal.h"
#include "audit/record.h"
#include "audit/search.h"
#include "controlplane/commit.h"
#include "hardening/pki.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/log.h"

/* Field N (0-based, separated by single spaces) of LINE into BUF, or
 * "" when the line has fewer fields or it does not fit. */
static void
line_field(const char *line, int n, char *buf, size_t len)
{
	const char	*p = line, *e;

	buf[0] = '\0';
	for (; n > 0 && p; n--)
		if ((p = strchr(p, ' ')))
			p++;
	if (!p)
		return;
	e = strchr(p, ' ');
	if (!e)
		e = p + strlen(p);
	if ((size_t)(e - p) < len) {
		memcpy(buf, p, (size_t)(e - p));
		buf[e - p] = '\0';
	}
}

/* A plain lower-case word (an event, a step). */
static int
is_word(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < 'a' || *s > 'z')
			return 0;
	return 1;
}

/* The slot a line names: its "slot=X" field, else "trial=X" (a
 * rollback's), X a or b; else "". Only fields before the free-text
 * "reason=" count. */
static const char *
line_slot(const char *line)
{
	char	f[16];

	for (int i = 2; i < 16; i++) {
		line_field(line, i, f, sizeof(f));
		if (strncmp(f, "reason=", 7) == 0)
			break;
		if ((strcmp(f, "slot=a") == 0 || strcmp(f, "trial=a") == 0))
			return "a";
		if ((strcmp(f, "slot=b") == 0 || strcmp(f, "trial=b") == 0))
			return "b";
	}
	return "";
}

/* From the fields ("TIME EVENT STEP ..."), never from free text: a
 * refusal is denied; a step that failed (a health check) a failure; a
 * rollback of a trial that did not commit ("rollback trial=X ...",
 * reseal's) a failure of that update; an operator's rollback
 * ("rollback begin|done") what it did, a success. */
static void
line_classify(struct update_journal_line *l)
{
	char	event[32], step[32];

	line_field(l->text, 1, event, sizeof(event));
	line_field(l->text, 2, step, sizeof(step));
	if (!is_word(event))
		snprintf(event, sizeof(event), "journal");
	snprintf(l->action, sizeof(l->action), "update.%s", event);
	l->slot = line_slot(l->text);
	if (strcmp(event, "refused") == 0)
		l->outcome = "denied";
	else if (strcmp(step, "failed") == 0)
		l->outcome = "failure";
	else if (strcmp(event, "rollback") == 0 &&
	    strncmp(step, "trial=", 6) == 0)
		l->outcome = "failure";
	else
		l->outcome = "success";
}

/* The header's offset, and the body after it; -BW_E_INVALID without
 * one. */
static int
parse_header(const char *buf, size_t len, uint64_t *ret_off,
    size_t *ret_body)
{
	size_t		hl = strlen(UPDATE_JOURNAL_HEADER), i;
	uint64_t	off = 0;

	if (len < hl || memcmp(buf, UPDATE_JOURNAL_HEADER, hl) != 0)
		return -BW_E_INVALID;
	for (i = hl; i < len && i - hl < 16 && buf[i] >= '0' && buf[i] <= '9';
	    i++)
		off = off * 10 + (uint64_t)(buf[i] - '0');
	if (i == hl || i >= len || buf[i] != '\n' || i - hl > 15)
		return -BW_E_INVALID;
	*ret_off = off;
	*ret_body = i + 1;
	return 0;
}

int
update_journal_parse(char *buf, size_t len, uint64_t recorded,
    int (*fn)(const struct update_journal_line *l, void *arg), void *arg,
    uint64_t *ret_end)
{
	struct update_journal_line	 l;
	char				*line, *next, *body, *end;
	uint64_t			 base;
	size_t				 skip;
	int				 r, n = 0;

	if ((r = parse_header(buf, len, &base, &skip)) < 0)
		return r;
	body = buf + skip;
	end = buf + len;
	*ret_end = base;
	for (line = body; line < end; line = next) {
		memset(&l, 0, sizeof(l));
		next = memchr(line, '\n', (size_t)(end - line));
		l.len = next ? (size_t)(next - line) : (size_t)(end - line);
		l.offset = base + (uint64_t)(line - body);
		l.end = l.offset + l.len + (next ? 1 : 0);
		line[l.len] = '\0';	/* the newline, or BUF[LEN] */
		next = line + l.len + (next ? 1 : 0);
		*ret_end = l.end;
		if (l.len == 0 || l.end <= recorded)
			continue;
		l.text = line;
		l.has_nul = memchr(line, '\0', l.len) != NULL;
		line_classify(&l);
		if ((r = fn(&l, arg)) < 0)
			return r;
		n++;
	}
	return n;
}

/* The longest journal line recorded: its reason JSON-escaped (at most
 * 6 bytes a byte) and the record's other fields stay within the
 * trail's AUDIT_LINE_MAX. A longer line is refused like one with a NUL
 * byte: the trail would refuse its record, counted lost, and the file
 * would stay, recorded again and refused again at every start. */
#define UPDATE_JOURNAL_LINE_MAX	(AUDIT_LINE_MAX / 8)

struct record_ctx {
	struct committer	*c;
	const char		*path;	/* the data directory */
};

/* A failure record of the hand-over itself (action update.journal),
 * and the same as a warning. */
static void
record_refusal(const struct record_ctx *x, const char *reason)
{
	log_msg(LOG_LVL_WARN, "%s/%s: %s", x->path, UPDATE_JOURNAL_FILE,
	    reason);
	commit_audit_async(x->c, &(struct audit_record){
	    .actor = "bulwark-update", .role = "system",
	    .tenant = PKI_SYSTEM_TENANT, .source = "local",
	    .auth_method = "none", .action = "update.journal",
	    .object_kind = "Update", .object_tenant = PKI_SYSTEM_TENANT,
	    .object_name = "", .outcome = "failure", .reason = reason,
	    .controls = "SI-2,CM-3,AU-2" });
}

/* One record a line: the line as the reason, followed by " seq=N", its
 * end's offset in the journal (which line of the journal it is, so a
 * line recorded twice shows as such in the trail). */
static int
record_line(const struct update_journal_line *l, void *arg)
{
	struct record_ctx	*x = arg;
	char			 reason[UPDATE_JOURNAL_LINE_MAX + 32];

	if (l->has_nul) {
		/* A cut line would say something the updater did not; the
		 * trail says a line was refused, and where it is. */
		snprintf(reason, sizeof(reason), "journal line at byte %" PRIu64
		    " holds a NUL byte: not recorded", l->offset);
		record_refusal(x, reason);
		return 0;
	}
	if (l->len > UPDATE_JOURNAL_LINE_MAX) {
		snprintf(reason, sizeof(reason), "journal line at byte %" PRIu64
		    " is %zu bytes, over %d: not recorded", l->offset, l->len,
		    UPDATE_JOURNAL_LINE_MAX);
		record_refusal(x, reason);
		return 0;
	}
	snprintf(reason, sizeof(reason), "%s seq=%" PRIu64, l->text, l->end);
	commit_audit_async(x->c, &(struct audit_record){
	    .actor = "bulwark-update", .role = "system",
	    .tenant = PKI_SYSTEM_TENANT, .source = "local",
	    .auth_method = "none", .action = l->action,
	    .object_kind = "Update", .object_tenant = PKI_SYSTEM_TENANT,
	    .object_name = l->slot, .outcome = l->outcome, .reason = reason,
	    .controls = "SI-2,CM-3,AU-2" });
	return 0;
}

/* The offset recorded so far (update-journal.seq; 0 without one), or
 * -errno / -BW_E_INVALID for a file that is there but unreadable. */
static int
read_seq(int dfd, uint64_t *ret)
{
	char		*buf = NULL, *e;
	size_t		 len = 0;
	unsigned long long v;
	int		 r;

	*ret = 0;
	r = read_regular_at(dfd, UPDATE_JOURNAL_SEQ, 64, 0, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = -BW_E_INVALID;
	if (len == 0 || len > 17 || buf[len - 1] != '\n' || buf[0] < '0' ||
	    buf[0] > '9')
		goto out;
	buf[len - 1] = '\0';
	errno = 0;
	v = strtoull(buf, &e, 10);
	if (errno || *e)
		goto out;
	*ret = v;
	r = 0;
out:
	free(buf);
	return r;
}

/* audit_search_dir() callback: the largest " seq=N" that ends a
 * bulwark-update record's reason (record_line's). */
static int
trail_seq_cb(const struct audit_record *rec, const char *line, size_t len,
    void *arg)
{
	uint64_t		*max = arg;
	const char		*p;
	char			*e;
	unsigned long long	 v;

	(void)line;
	(void)len;
	if (!rec->reason || !(p = strrchr(rec->reason, ' ')) ||
	    strncmp(p, " seq=", 5) != 0 || p[5] < '0' || p[5] > '9')
		return 0;
	errno = 0;
	v = strtoull(p + 5, &e, 10);
	if (errno == 0 && *e == '\0' && v > *max)
		*max = v;
	return 0;
}

/* What the trail already holds of the journal (its bulwark-update
 * records' largest seq=) raises *RECORDED: update-journal.seq, in a
 * directory bulwarkd's user writes, can be removed to have recorded
 * lines recorded again. Read only when there is a hand-over (a scan of
 * the trail); a trail that cannot be read leaves *RECORDED, with a
 * warning. */
static void
trail_recorded(const char *data_dir, uint64_t *recorded)
{
	struct audit_search_filter	 f = { .actor = "bulwark-update",
					     .action = "update.*" };
	char				 dir[PATH_MAX], *err = NULL;
	uint64_t			 max = 0;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/audit", data_dir) >=
	    sizeof(dir))
		return;
	if (audit_search_dir(dir, &f, trail_seq_cb, &max, &err) < 0) {
		log_msg(LOG_LVL_WARN, "%s: the trail's bulwark-update records "
		    "not read (%s): %s alone says what is recorded", dir,
		    err ? err : "error", UPDATE_JOURNAL_SEQ);
		free(err);
		return;
	}
	if (max > *recorded) {
		log_msg(LOG_LVL_WARN, "%s/%s says byte %" PRIu64 ", the trail "
		    "holds the journal to byte %" PRIu64 ": that is taken",
		    data_dir, UPDATE_JOURNAL_SEQ, *recorded, max);
		*recorded = max;
	}
}

int
update_journal_record(struct committer *c, const char *data_dir)
{
	struct record_ctx	 x = { .c = c, .path = data_dir };
	char			*buf = NULL, seq[32];
	size_t			 len = 0;
	uint64_t		 recorded, in_seq, end;
	unsigned long long	 lost;
	int			 dfd, r, n = 0, sn;

	dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	r = read_regular_at(dfd, UPDATE_JOURNAL_FILE, UPDATE_JOURNAL_MAX,
	    FILEIO_ROOT_OWNED, &buf, &len);
	if (r == -ENOENT) {
		r = 0;
		goto out;
	}
	if (r < 0) {
		log_msg(LOG_LVL_WARN, "%s/%s: not recorded: %s", data_dir,
		    UPDATE_JOURNAL_FILE, strerror(-r));
		goto out;
	}
	if (!commit_has_trail(c)) {
		r = -ENOTSUP;
		log_msg(LOG_LVL_WARN, "%s/%s: not recorded: no audit trail; "
		    "the file stays", data_dir, UPDATE_JOURNAL_FILE);
		goto out;
	}
	if ((r = read_seq(dfd, &recorded)) < 0) {
		log_msg(LOG_LVL_WARN, "%s/%s: not recorded: %s/%s unreadable "
		    "(%s); the file stays", data_dir, UPDATE_JOURNAL_FILE,
		    data_dir, UPDATE_JOURNAL_SEQ, bw_strerror(r));
		goto out;
	}
	in_seq = recorded;
	trail_recorded(data_dir, &recorded);
	{	/* update_journal_parse() cuts the last line at BUF[LEN] */
		char *b = realloc(buf, len + 1);

		if (!b) {
			r = -ENOMEM;
			goto out;
		}
		buf = b;
	}
	lost = commit_audit_lost_total(c);
	n = update_journal_parse(buf, len, recorded, record_line, &x, &end);
	if (n < 0) {
		r = n;
		log_msg(LOG_LVL_WARN, "%s/%s: not recorded: no \"%s\" header "
		    "(its first line); the file stays", data_dir,
		    UPDATE_JOURNAL_FILE, UPDATE_JOURNAL_HEADER);
		goto out;
	}
	/* A hand-over that ends before what is recorded: an older one put
	 * back, or an update-journal.seq past the journal (written by
	 * bulwarkd's user, which would have every later line skipped): not
	 * silent. (The lines are not recorded again; one that is replayed
	 * after update-journal.seq is removed shows by its seq=.) */
	if (end < recorded) {
		char	why[160];

		snprintf(why, sizeof(why), "hand-over ends at byte %" PRIu64
		    ", before %s's %" PRIu64 ": not recorded (put back, or the "
		    "journal shrank)", end, UPDATE_JOURNAL_SEQ, recorded);
		record_refusal(&x, why);
	}
	/* Durable in the trail before the file goes: the records are
	 * appended (fdatasync) by the time the flush returns, and one lost
	 * on the way (a full queue, a failed append) shows in the count. */
	commit_audit_flush(c);
	if (commit_audit_lost_total(c) != lost) {
		r = -BW_E_AUDIT;
		log_msg(LOG_LVL_WARN, "%s/%s: records lost on the way to the "
		    "audit trail; the file stays, recorded again at the next "
		    "start", data_dir, UPDATE_JOURNAL_FILE);
		goto out;
	}
	if (end < recorded)
		end = recorded;
	/* Past update-journal.seq: written (also when the trail raised
	 * RECORDED over a removed or older file). */
	if (end > in_seq) {
		sn = snprintf(seq, sizeof(seq), "%" PRIu64 "\n", end);
		r = write_file_atomic_at(dfd, UPDATE_JOURNAL_SEQ, seq,
		    (size_t)sn, 0644);
		if (r < 0) {
			log_msg(LOG_LVL_WARN, "%s/%s: recorded, but %s not "
			    "written (%s): the file stays, and its lines are "
			    "recorded again at the next start", data_dir,
			    UPDATE_JOURNAL_FILE, UPDATE_JOURNAL_SEQ,
			    strerror(-r));
			goto out;
		}
	}
	/* Renamed, not removed: what was recorded stays readable. Put back,
	 * it records nothing (update-journal.seq). */
	if (renameat(dfd, UPDATE_JOURNAL_FILE, dfd, UPDATE_JOURNAL_DONE) < 0 ||
	    fsync(dfd) < 0) {
		r = -errno;
		log_msg(LOG_LVL_WARN, "%s/%s: recorded, but not renamed: %s",
		    data_dir, UPDATE_JOURNAL_FILE, strerror(-r));
		goto out;
	}
	log_msg(LOG_LVL_INFO, "the offline updater's journal: %d lines "
	    "recorded (to byte %" PRIu64 ")", n, end);
	r = n;
out:
	free(buf);
	close(dfd);
	return r;
}
