/* The console's account of its sessions (AC-7, AC-9, AC-11, AC-12,
 * AU-2): each login, failed login, lockout, lock, unlock, logout and
 * session end goes to the console's events.log, to syslog (authpriv)
 * and, where the kernel's audit accepts it, to the Linux audit log.
 * These records do not reach bulwarkd's audit trail yet: that needs the
 * daemon's console credential endpoint (issue 16). */
#ifndef BW_CONSOLE_AUDIT_H
#define BW_CONSOLE_AUDIT_H

enum caud_event {
	CAUD_LOGIN, CAUD_LOGIN_FAILED, CAUD_LOCKOUT, CAUD_LOCK, CAUD_UNLOCK,
	CAUD_UNLOCK_FAILED, CAUD_LOGOUT, CAUD_EXPIRED
};

/* Opens syslog and the audit netlink socket (best effort). */
void caud_open(int recdir, const char *tty);

/* Records EVENT for USER with DETAIL (may be NULL). Returns 0, or the
 * events.log error (syslog and the audit log are best effort). */
int caud_event(const char *user, enum caud_event event, const char *detail);

void caud_close(void);

#endif
