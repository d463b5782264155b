/* pam_faillock's tally, read; see faillock.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>

#include "console/faillock.h"
#include "console/login-record.h"
#include "lib/err.h"
#include "lib/fileio.h"

#define TALLY_STATUS_VALID	0x1
#define TALLY_OFF_STATUS	54
#define TALLY_OFF_TIME		56
/* pam_faillock keeps a bounded number of records; so do we */
#define TALLY_FILE_MAX		(1024 * FLK_RECORD_SIZE)

void
flk_eval(const unsigned char *buf, size_t len,
    const struct console_faillock *policy, time_t now, struct flk_status *ret)
{
	size_t		 i, n = len / FLK_RECORD_SIZE;
	uint64_t	 latest = 0, t;
	uint16_t	 status;
	int		 failures = 0;

	/* the same two passes as pam_faillock: the latest valid failure,
	 * then the failures within fail_interval before it */
	for (i = 0; i < n; i++) {
		memcpy(&status, buf + i * FLK_RECORD_SIZE + TALLY_OFF_STATUS,
		    sizeof(status));
		memcpy(&t, buf + i * FLK_RECORD_SIZE + TALLY_OFF_TIME, sizeof(t));
		if ((status & TALLY_STATUS_VALID) && t > latest)
			latest = t;
	}
	for (i = 0; i < n; i++) {
		memcpy(&status, buf + i * FLK_RECORD_SIZE + TALLY_OFF_STATUS,
		    sizeof(status));
		memcpy(&t, buf + i * FLK_RECORD_SIZE + TALLY_OFF_TIME, sizeof(t));
		if ((status & TALLY_STATUS_VALID) &&
		    (int64_t)t > (int64_t)latest - policy->fail_interval)
			failures++;
	}
	*ret = (struct flk_status){ .failures = failures,
	    .last_failure = (time_t)latest };
	if (failures < policy->deny)
		return;
	if (policy->unlock_time &&
	    (time_t)latest + policy->unlock_time < now)
		return;
	ret->locked = 1;
	ret->locked_until = policy->unlock_time ?
	    (time_t)latest + policy->unlock_time : 0;
}

int
flk_status(const struct console_faillock *policy, const char *user,
    time_t now, struct flk_status *ret)
{
	_cleanup_close_ int	 dfd = -1;
	_cleanup_free_ char	*buf = NULL;
	size_t			 len;
	int			 r;

	if (!lrec_valid_user(user))
		return -BW_E_INVALID;
	dfd = open(policy->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 && errno != ENOENT)
		return -errno;
	r = dfd < 0 ? -ENOENT :
	    read_file_at(dfd, user, TALLY_FILE_MAX, &buf, &len);
	if (r == -ENOENT) {
		*ret = (struct flk_status){ 0 };
		return 0;
	}
	if (r < 0)
		return r;
	flk_eval((const unsigned char *)buf, len, policy, now, ret);
	return 0;
}
