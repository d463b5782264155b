/* The console's account of its sessions (AC-7, AC-9, AC-11, AC-12,
 * AU-2, IA-5): each login, failed login, lockout, lock, unlock,
 * logout, session end and change of an expired password (or its
 * failure) goes to bulwarkd's audit trail through its console socket
 * (console/credential.h), to the console's events.log (which also says
 * when bulwarkd could not take the record), to syslog (authpriv) and,
 * where the kernel's audit accepts it, to the Linux audit log. */
#ifndef BW_CONSOLE_AUDIT_H
#define BW_CONSOLE_AUDIT_H

enum caud_event {
	CAUD_LOGIN, CAUD_LOGIN_FAILED, CAUD_LOCKOUT, CAUD_LOCK, CAUD_UNLOCK,
	CAUD_UNLOCK_FAILED, CAUD_LOGOUT, CAUD_EXPIRED, CAUD_SESSION_LIMIT,
	CAUD_PASSWORD_CHANGED, CAUD_PASSWORD_CHANGE_FAILED
};

/* Opens syslog and the audit netlink socket (best effort); events go
 * to bulwarkd's socket at SOCK_PATH (borrowed). */
void caud_open(int recdir, const char *tty, const char *sock_path);

/* Records EVENT for USER with DETAIL (may be NULL). Returns 0, or the
 * events.log error (syslog and the audit log are best effort). */
int caud_event(const char *user, enum caud_event event, const char *detail);

/* Logs to syslog that WHAT failed for USER with ERR (may be NULL). */
void caud_note(const char *user, const char *what, const char *err);

void caud_close(void);

#endif
