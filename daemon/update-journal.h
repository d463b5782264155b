/* The offline updater's journal in the audit trail (docs/install.md,
 * "Offline updates"): bulwark-update's steps before bulwarkd runs (the
 * trial boot's health check, the re-seal, the rollback of a trial) are
 * kept in its journal, whose lines bulwarkd has not confirmed yet
 * bulwark-update-reseal.service (before bulwarkd) copies into the data
 * directory as update-journal; bulwarkd records them at its start. */
#ifndef BW_UPDATE_JOURNAL_H
#define BW_UPDATE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

struct committer;

/* The file under the data directory, written by bulwark-update (root,
 * not writable by others), and its name once recorded. */
#define UPDATE_JOURNAL_FILE	"update-journal"
#define UPDATE_JOURNAL_DONE	"update-journal.recorded"
/* bulwarkd's own (its data directory, 0644): the journal's byte offset
 * up to which every line is in the trail, "N\n". bulwarkd records only
 * lines that end past it (a hand-over put back is not recorded twice),
 * and bulwark-update hands over from it (its confirmation). */
#define UPDATE_JOURNAL_SEQ	"update-journal.seq"
/* A larger file is not recorded (a warning; it stays for an operator);
 * bulwark-update hands over at most this much at a time, cut at a line's
 * end. */
#define UPDATE_JOURNAL_MAX	(256 * 1024)
/* The hand-over's first line: the journal's byte offset of the byte
 * that follows it ("# bulwark-update journal offset=N\n"). */
#define UPDATE_JOURNAL_HEADER	"# bulwark-update journal offset="

/* One line of a hand-over, as update_journal_parse() gives it. */
struct update_journal_line {
	uint64_t	 offset;	/* its first byte in the journal */
	uint64_t	 end;		/* past its newline: its sequence */
	const char	*text;		/* NUL-terminated, no newline */
	size_t		 len;		/* its bytes (TEXT stops at a NUL) */
	int		 has_nul;	/* a NUL byte inside: not recorded */
	char		 action[48];	/* "update.EVENT" */
	const char	*slot;		/* "a", "b" or "" */
	const char	*outcome;	/* success, failure or denied */
};

/* Parses the hand-over BUF (LEN bytes; BUF[LEN] must be writable: lines
 * are cut in place): its header, then each non-empty line that ends
 * past RECORDED is given to FN (which returns 0 or -errno, which stops
 * the walk). Sets *RET_END to the journal offset past the last line.
 * Returns the number of lines given to FN, or -BW_E_INVALID (no valid
 * header) or FN's error. */
int update_journal_parse(char *buf, size_t len, uint64_t recorded,
    int (*fn)(const struct update_journal_line *l, void *arg), void *arg,
    uint64_t *ret_end);

/* Records one system record (actor bulwark-update, action
 * "update.EVENT", the line with its own time and " seq=N", its end's
 * offset, as the reason) for each line of DATA_DIR/update-journal newer
 * than update-journal.seq or the largest seq= of the trail's
 * bulwark-update records, whichever is later (a line with a NUL byte or
 * longer than the
 * trail can hold, and a hand-over that ends before update-journal.seq,
 * as an update.journal failure record instead), waits
 * until the trail holds them all, then writes update-journal.seq and
 * renames the file to update-journal.recorded (the directory fsynced).
 * Returns the number of lines recorded, 0 when there is no file, or
 * -errno: the file is then left where it is (a warning says why), and
 * the next start records it (lines already in the trail are recorded
 * again only when update-journal.seq could not be written). */
int update_journal_record(struct committer *c, const char *data_dir);

#endif
