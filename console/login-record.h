/* The console's own record of logins (AC-9) and of its session events.
 * Under the state directory (0700), one small JSON file per existing
 * user holds the time and terminal of the last successful login, of the
 * last failed one, and the failures since the last success; events.log
 * holds one JSON line per login, failure, lockout, lock, unlock and
 * logout (rotated to events.log.1 past LREC_EVENTS_MAX). The console
 * keeps its own record rather than reading pam_faillock's tally for
 * the last failure because a successful login resets that tally. */
#ifndef BW_CONSOLE_LOGIN_RECORD_H
#define BW_CONSOLE_LOGIN_RECORD_H

#include <time.h>

#define LREC_USER_MAX		32
#define LREC_FROM_MAX		64
#define LREC_EVENTS_MAX		(1024 * 1024)

struct lrec {
	time_t	last_success;		/* 0: never */
	char	last_success_from[LREC_FROM_MAX];
	time_t	last_failure;		/* 0: never */
	char	last_failure_from[LREC_FROM_MAX];
	int	failures;		/* since the last success */
};

/* 1 when USER is a name the console accepts at its prompt (a letter or
 * '_', then letters, digits, '.', '_', '-'; at most LREC_USER_MAX). */
int lrec_valid_user(const char *user);

/* Creates DIR (0700) if needed and returns a descriptor of it
 * (O_DIRECTORY, no symlink followed), or -errno. */
int lrec_open_dir(const char *dir);

/* Reads USER's record under DIRFD into *RET (all zero when USER has
 * none). Returns 0 or a negative error. */
int lrec_read(int dirfd, const char *user, struct lrec *ret);

/* Notes a login of USER at WHEN from terminal FROM: a success clears
 * the failure count, a failure adds one. Returns 0 or a negative error. */
int lrec_note(int dirfd, const char *user, int success, time_t when,
    const char *from);

/* AC-10: claims one of USER's MAX session slots (the files
 * USER.session.N under DIRFD, held with an exclusive flock for the
 * session, so a console that dies frees its slot). Returns the slot's
 * descriptor (close it at logout), -EBUSY when all MAX are held, or
 * another negative error. */
int lrec_session_claim(int dirfd, const char *user, int max);

/* Appends one event line {time, user, event, detail} to events.log.
 * Returns 0 or a negative error. */
int lrec_event(int dirfd, const char *user, const char *event,
    const char *detail, time_t when);

#endif
