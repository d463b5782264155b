/* The console's login records; see login-record.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <jansson.h>

#include "console/login-record.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/ids.h"
#include "lib/json.h"

#define LREC_FILE_MAX	4096

int
lrec_valid_user(const char *user)
{
	size_t i, n = user ? strlen(user) : 0;

	if (n == 0 || n > LREC_USER_MAX ||
	    !(isalpha((unsigned char)user[0]) || user[0] == '_'))
		return 0;
	for (i = 1; i < n; i++)
		if (!isalnum((unsigned char)user[i]) && !strchr("._-", user[i]))
			return 0;
	return 1;
}

int
lrec_open_dir(const char *dir)
{
	int r, fd;

	if ((r = mkdir_p(dir, 0700)) < 0)
		return r;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void
copy_from(char *dst, const char *src)
{
	snprintf(dst, LREC_FROM_MAX, "%s", src ? src : "");
}

int
lrec_read(int dirfd, const char *user, struct lrec *ret)
{
	_cleanup_free_ char	*text = NULL;
	_cleanup_json_ json_t	*doc = NULL;
	char			 name[LREC_USER_MAX + 8];
	size_t			 len;
	int			 r;

	if (!lrec_valid_user(user))
		return -BW_E_INVALID;
	snprintf(name, sizeof(name), "%s.json", user);
	r = read_file_at(dirfd, name, LREC_FILE_MAX, &text, &len);
	*ret = (struct lrec){ 0 };
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if ((r = json_parse_bounded(text, len, 2, &doc, NULL)) < 0)
		return -BW_E_CORRUPT;
	ret->last_success = (time_t)json_int_at(doc, "last_success", "time", 0);
	copy_from(ret->last_success_from, json_str_at(doc, "last_success", "from"));
	ret->last_failure = (time_t)json_int_at(doc, "last_failure", "time", 0);
	copy_from(ret->last_failure_from, json_str_at(doc, "last_failure", "from"));
	ret->failures = (int)json_int_at(doc, "failures", NULL, 0);
	return 0;
}

int
lrec_note(int dirfd, const char *user, int success, time_t when,
    const char *from)
{
	_cleanup_json_ json_t	*doc = NULL;
	_cleanup_free_ char	*text = NULL;
	struct lrec		 rec;
	char			 name[LREC_USER_MAX + 8];
	int			 r;

	if ((r = lrec_read(dirfd, user, &rec)) < 0 && r != -BW_E_CORRUPT)
		return r;
	if (success) {
		rec.last_success = when;
		copy_from(rec.last_success_from, from);
		rec.failures = 0;
	} else {
		rec.last_failure = when;
		copy_from(rec.last_failure_from, from);
		rec.failures++;
	}
	doc = json_pack("{s:{s:I, s:s}, s:{s:I, s:s}, s:i}",
	    "last_success", "time", (json_int_t)rec.last_success, "from",
	    rec.last_success_from, "last_failure", "time",
	    (json_int_t)rec.last_failure, "from", rec.last_failure_from,
	    "failures", rec.failures);
	if (!doc || !(text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)))
		return -ENOMEM;
	snprintf(name, sizeof(name), "%s.json", user);
	return write_file_atomic_at(dirfd, name, text, strlen(text), 0600);
}

int
lrec_event(int dirfd, const char *user, const char *event, const char *detail,
    time_t when)
{
	_cleanup_json_ json_t	*doc = NULL;
	_cleanup_free_ char	*line = NULL;
	_cleanup_close_ int	 fd = -1;
	struct stat		 st;
	char			 ts[40];
	int			 r;

	bw_time_rfc3339_at(ts, sizeof(ts), when);
	doc = json_pack("{s:s, s:s, s:s, s:s}", "time", ts, "user",
	    user ? user : "", "event", event, "detail", detail ? detail : "");
	if (!doc || !(line = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		return -ENOMEM;
	fd = openat(dirfd, "events.log", O_WRONLY | O_APPEND | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && st.st_size > LREC_EVENTS_MAX) {
		/* keep one old generation; the next append starts a new file */
		renameat(dirfd, "events.log", dirfd, "events.log.1");
	}
	if ((r = write_all(fd, line, strlen(line))) < 0 ||
	    (r = write_all(fd, "\n", 1)) < 0)
		return r;
	return fsync(fd) < 0 ? -errno : 0;
}

int
lrec_session_claim(int dirfd, const char *user, int max)
{
	char	name[LREC_USER_MAX + 32];
	int	i, fd;

	if (!lrec_valid_user(user))
		return -BW_E_INVALID;
	for (i = 0; i < max; i++) {
		snprintf(name, sizeof(name), "%s.session.%d", user, i);
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		close(fd);
		if (errno != EWOULDBLOCK)
			return -errno;
	}
	return -EBUSY;
}
