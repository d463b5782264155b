/* The console's account of its sessions; see console-audit.h. */
#include "config.h"

#include <stdio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <libaudit.h>

#include "console/console-audit.h"
#include "console/credential.h"
#include "lib/macro.h"
#include "console/login-record.h"

static const struct {
	const char	*name;
	int		 audit_type;
	int		 ok;
} caud_events[] = {
	[CAUD_LOGIN] = { "login", AUDIT_USER_LOGIN, 1 },
	[CAUD_LOGIN_FAILED] = { "login.failed", AUDIT_USER_LOGIN, 0 },
	[CAUD_LOCKOUT] = { "account.lockout", AUDIT_ANOM_LOGIN_FAILURES, 0 },
	[CAUD_LOCK] = { "session.lock", AUDIT_USER_END, 1 },
	[CAUD_UNLOCK] = { "session.unlock", AUDIT_USER_AUTH, 1 },
	[CAUD_UNLOCK_FAILED] = { "session.unlock.failed", AUDIT_USER_AUTH, 0 },
	[CAUD_LOGOUT] = { "logout", AUDIT_USER_LOGOUT, 1 },
	[CAUD_EXPIRED] = { "session.expired", AUDIT_USER_LOGOUT, 1 },
	[CAUD_SESSION_LIMIT] = { "session.limit", AUDIT_USER_LOGIN, 0 },
	[CAUD_PASSWORD_CHANGED] = { "password.changed", AUDIT_USER_CHAUTHTOK, 1 },
	[CAUD_PASSWORD_CHANGE_FAILED] = { "password.change.failed",
	    AUDIT_USER_CHAUTHTOK, 0 },
};

static int caud_dir = -1;
static int caud_fd = -1;
static char caud_tty[64];
static const char *caud_sock;

void
caud_open(int recdir, const char *tty, const char *sock_path)
{
	caud_dir = recdir;
	caud_sock = sock_path;
	snprintf(caud_tty, sizeof(caud_tty), "%s", tty ? tty : "?");
	openlog("bulwark-console", LOG_PID, LOG_AUTHPRIV);
	caud_fd = audit_open();
}

int
caud_event(const char *user, enum caud_event event, const char *detail)
{
	_cleanup_free_ char	*err = NULL;
	char			 msg[256], local[256];
	int			 r;

	syslog(caud_events[event].ok ? LOG_NOTICE : LOG_WARNING,
	    "%s user=%s tty=%s%s%s", caud_events[event].name, user, caud_tty,
	    detail ? " " : "", detail ? detail : "");
	if (caud_fd >= 0) {
		snprintf(msg, sizeof(msg), "op=bulwark-console-%s acct=\"%s\"",
		    caud_events[event].name, user);
		audit_log_user_message(caud_fd, caud_events[event].audit_type,
		    msg, NULL, NULL, caud_tty, caud_events[event].ok);
	}
	r = cred_event(caud_sock, user, caud_tty, caud_events[event].name,
	    detail, &err);
	if (r < 0)
		syslog(LOG_ERR, "%s of %s not in bulwarkd's audit trail: %s",
		    caud_events[event].name, user, err ? err : "failed");
	/* the local record says whether the trail has it too */
	snprintf(local, sizeof(local), "%s%s%s", detail ? detail : "",
	    detail ? "; " : "", r < 0 ? "NOT in bulwarkd's trail" :
	    "in bulwarkd's trail");
	return lrec_event(caud_dir, user, caud_events[event].name, local,
	    time(NULL));
}

void
caud_note(const char *user, const char *what, const char *err)
{
	syslog(LOG_WARNING, "%s of %s: %s", what, user, err ? err : "failed");
}

void
caud_close(void)
{
	if (caud_fd >= 0)
		audit_close(caud_fd);
	caud_fd = -1;
	closelog();
}
