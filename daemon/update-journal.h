/* The offline updater's journal in the audit trail (docs/install.md,
 * "Offline updates"): bulwark-update's steps before bulwarkd runs (the
 * trial boot's health check, the re-seal, the rollback of a trial) are
 * kept in its journal, whose new lines bulwark-update-reseal.service
 * (before bulwarkd) copies into the data directory as update-journal;
 * bulwarkd records them at its start. */
#ifndef BW_UPDATE_JOURNAL_H
#define BW_UPDATE_JOURNAL_H

struct committer;

/* The file under the data directory, written by bulwark-update (root,
 * not writable by others), and its name once recorded. */
#define UPDATE_JOURNAL_FILE	"update-journal"
#define UPDATE_JOURNAL_DONE	"update-journal.recorded"
/* A larger file is not recorded (a warning; it stays for an operator). */
#define UPDATE_JOURNAL_MAX	(256 * 1024)

/* Queues one system record (actor bulwark-update, action
 * "update.EVENT", the line with its own time as the reason) for each
 * line of DATA_DIR/update-journal, then renames the file to
 * update-journal.recorded, so a restart does not record it again.
 * Returns the number of lines queued, 0 when there is no file, or
 * -errno (the file is then left for the next start). */
int update_journal_record(struct committer *c, const char *data_dir);

#endif
