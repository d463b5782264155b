/* libFuzzer target for bulwarkd's reading of the offline updater's
 * hand-over (daemon/update-journal.c, update_journal_parse()): a root
 * file, but parsed before anything checks what bulwark-update wrote.
 * The input's first two bytes are the offset already recorded
 * (update-journal.seq, 0..65535); the rest is the file. Invariants:
 * nothing crashes or reads past the input; without the header nothing
 * is given; each line given ends past the recorded offset, lies within
 * the input, follows the one before, and has a text as long as its
 * bytes unless it holds a NUL (then flagged); its action is "update."
 * and a lower-case word or "journal", its slot "", "a" or "b", its
 * outcome one of three; the end offset is at or past every line's. */
#include "config.h"

#include <string.h>

#include "audit/search.h"
#include "controlplane/commit.h"
#include "daemon/update-journal.h"
#include "lib/err.h"
#include "tests/fuzz/fuzz.h"

/* update-journal.c's recording side, never reached by the parse. */
void commit_audit_async(struct committer *c, const struct audit_record *rec)
{ (void)c; (void)rec; abort(); }
void commit_audit_flush(struct committer *c) { (void)c; abort(); }
unsigned long long commit_audit_lost_total(struct committer *c)
{ (void)c; abort(); }
bool commit_has_trail(const struct committer *c) { (void)c; abort(); }
int audit_search_dir(const char *dir, const struct audit_search_filter *f,
    audit_search_cb cb, void *userdata, char **ret_err)
{ (void)dir; (void)f; (void)cb; (void)userdata; (void)ret_err; abort(); }

struct walk {
	uint64_t	recorded, base, prev_end, total;
	int		n;
};

static int
check_line(const struct update_journal_line *l, void *arg)
{
	struct walk	*w = arg;
	const char	*ev = l->action + strlen("update.");

	FUZZ_CHECK(l->end > w->recorded);
	FUZZ_CHECK(l->offset >= w->prev_end && l->end > l->offset);
	FUZZ_CHECK(l->end - w->base <= w->total);
	FUZZ_CHECK(l->len > 0 && l->end - l->offset >= l->len);
	FUZZ_CHECK(l->has_nul ? strlen(l->text) < l->len :
	    strlen(l->text) == l->len);
	FUZZ_CHECK(strncmp(l->action, "update.", 7) == 0 && *ev);
	for (; *ev; ev++)
		FUZZ_CHECK(*ev >= 'a' && *ev <= 'z');
	FUZZ_CHECK(strcmp(l->slot, "") == 0 || strcmp(l->slot, "a") == 0 ||
	    strcmp(l->slot, "b") == 0);
	FUZZ_CHECK(strcmp(l->outcome, "success") == 0 ||
	    strcmp(l->outcome, "failure") == 0 ||
	    strcmp(l->outcome, "denied") == 0);
	w->prev_end = l->end;
	w->n++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*hdr = UPDATE_JOURNAL_HEADER;
	struct walk	 w = { 0 };
	uint64_t	 end = 0;
	char		*buf, *nl;
	int		 r;

	if (size < 2)
		return 0;
	w.recorded = (uint64_t)data[0] << 8 | data[1];
	data += 2, size -= 2;
	if (!(buf = malloc(size + 1)))
		abort();
	memcpy(buf, data, size);
	/* The body's start: its offset from the header, and its bytes. */
	if (size > strlen(hdr) && memcmp(buf, hdr, strlen(hdr)) == 0 &&
	    (nl = memchr(buf, '\n', size))) {
		w.base = strtoull(buf + strlen(hdr), NULL, 10);
		w.total = size - (size_t)(nl + 1 - buf);
	}
	w.prev_end = w.base;
	r = update_journal_parse(buf, size, w.recorded, check_line, &w, &end);
	if (r < 0) {
		FUZZ_CHECK(r == -BW_E_INVALID && w.n == 0);
	} else {
		FUZZ_CHECK(r == w.n);
		FUZZ_CHECK(end >= w.prev_end && end - w.base <= w.total);
	}
	free(buf);
	return 0;
}
