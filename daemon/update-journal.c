#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/update-journal.h"
#include "audit/record.h"
#include "controlplane/commit.h"
#include "hardening/pki.h"
#include "lib/fileio.h"
#include "lib/log.h"

/* The event of a journal line ("TIME EVENT ..."): its second word when
 * it is a plain lower-case word, else "journal". */
static void
line_event(const char *line, char *buf, size_t len)
{
	const char	*p = strchr(line, ' ');
	size_t		 n = 0;

	snprintf(buf, len, "journal");
	if (!p)
		return;
	for (p++; p[n] >= 'a' && p[n] <= 'z'; n++)
		;
	if (n == 0 || n >= len || (p[n] != ' ' && p[n] != '\0'))
		return;
	memcpy(buf, p, n);
	buf[n] = '\0';
}

/* The slot a line names (" slot=a", " slot=b"), or "". */
static const char *
line_slot(const char *line)
{
	const char	*p = strstr(line, " slot=");

	if (p && (p[6] == 'a' || p[6] == 'b') && (p[7] == ' ' || p[7] == '\0'))
		return p[6] == 'a' ? "a" : "b";
	return "";
}

/* A refusal is denied; a step that failed (a health check) a failure. */
static const char *
line_outcome(const char *event, const char *line)
{
	if (strcmp(event, "refused") == 0)
		return "denied";
	return strstr(line, " failed ") ? "failure" : "success";
}

static void
record_line(struct committer *c, const char *line)
{
	char	event[32], action[48];

	line_event(line, event, sizeof(event));
	snprintf(action, sizeof(action), "update.%s", event);
	commit_audit_async(c, &(struct audit_record){
	    .actor = "bulwark-update", .role = "system",
	    .tenant = PKI_SYSTEM_TENANT, .source = "local",
	    .auth_method = "none", .action = action,
	    .object_kind = "Update", .object_tenant = PKI_SYSTEM_TENANT,
	    .object_name = line_slot(line),
	    .outcome = line_outcome(event, line), .reason = line,
	    .controls = "SI-2,CM-3,AU-2" });
}

int
update_journal_record(struct committer *c, const char *data_dir)
{
	char	*buf = NULL, *line, *next;
	size_t	 len = 0;
	int	 dfd, r, n = 0;

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
	for (line = buf; line < buf + len; line = next) {
		next = memchr(line, '\n', (size_t)(buf + len - line));
		if (next)
			*next++ = '\0';
		else
			next = buf + len;
		if (*line)
			record_line(c, line), n++;
	}
	/* Renamed, not removed: what was recorded stays readable, and a
	 * restart does not record it twice. */
	if (renameat(dfd, UPDATE_JOURNAL_FILE, dfd, UPDATE_JOURNAL_DONE) < 0) {
		r = -errno;
		log_msg(LOG_LVL_WARN, "%s/%s: recorded, but not renamed: %s",
		    data_dir, UPDATE_JOURNAL_FILE, strerror(-r));
		goto out;
	}
	log_msg(LOG_LVL_INFO, "the offline updater's journal: %d lines recorded",
	    n);
	r = n;
out:
	free(buf);
	close(dfd);
	return r;
}
