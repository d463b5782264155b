/* Reads pam_faillock's tally of a user (the file DIR/USER that
 * pam_faillock and faillock(8) share: records of 64 bytes, a 52-byte
 * source, 16-bit reserved and status fields and a 64-bit time), so the
 * console can say that the failure just made locked the account: PAM
 * itself only says so at the next attempt. */
#ifndef BW_CONSOLE_FAILLOCK_H
#define BW_CONSOLE_FAILLOCK_H

#include <stddef.h>
#include <time.h>

#include "console/console-conf.h"

#define FLK_RECORD_SIZE	64

struct flk_status {
	int	failures;	/* valid failures within fail_interval */
	time_t	last_failure;	/* 0: none */
	int	locked;
	time_t	locked_until;	/* 0 with locked: until an admin unlocks */
};

/* Evaluates LEN bytes of tally records against POLICY at NOW (pure).
 * A trailing partial record is ignored, as pam_faillock does. */
void flk_eval(const unsigned char *buf, size_t len,
    const struct console_faillock *policy, time_t now,
    struct flk_status *ret);

/* Reads USER's tally under POLICY->dir and evaluates it. A user without
 * a tally has no failures. Returns 0 or -errno. */
int flk_status(const struct console_faillock *policy, const char *user,
    time_t now, struct flk_status *ret);

#endif
