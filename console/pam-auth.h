/* PAM for the console: the service's auth, account and session stacks
 * with a conversation that answers from what the console's own prompt
 * collected (it never lets a module draw on the screen) and keeps the
 * modules' messages for the console to show. */
#ifndef BW_CONSOLE_PAM_AUTH_H
#define BW_CONSOLE_PAM_AUTH_H

#include <stddef.h>

#define CPAM_MSG_MAX	256
/* The most prompts one expired-password change may answer: current,
 * new and retype, with pam_pwquality's retries (retry=3), fit; a stack
 * that asks more is cut off so the console cannot loop. */
#define CPAM_CHANGE_PROMPTS_MAX	12

struct cpam;

/* What became of an expired password (PAM_NEW_AUTHTOK_REQD from the
 * account stack) in cpam_login(). */
enum cpam_change {
	CPAM_CHANGE_NONE,	/* none was needed */
	CPAM_CHANGED,		/* changed: the login went on */
	CPAM_CHANGE_FAILED,	/* not changed: the login failed */
};

/* How cpam_login() asks the user while PAM changes an expired password
 * (pam_chauthtok with PAM_CHANGE_EXPIRED_AUTHTOK): the console's own
 * screen, never the modules'. */
struct cpam_prompter {
	/* Shows a module's message (PAM_ERROR_MSG when ERROR, else
	 * PAM_TEXT_INFO). */
	void	(*show)(void *arg, const char *text, int error);
	/* Asks PROMPT, without echo unless ECHO, into BUF (LEN bytes).
	 * Returns 0, or nonzero when the user gave up (idle, Esc, a
	 * signal): the change then fails. */
	int	(*ask)(void *arg, const char *prompt, int echo, char *buf,
		    size_t len);
	void	 *arg;
	enum cpam_change	 change;	/* set by cpam_login() */
};

/* Authenticates USER with PASSWORD through SERVICE on terminal TTY,
 * checks the account and opens a session. When the account stack says
 * the password expired (PAM_NEW_AUTHTOK_REQD) and ASK is not NULL, the
 * password stack changes it first, asking through ASK (ASK->change says
 * how that went); without ASK, or when the change fails, the login is
 * denied (ASK->change's failure reason is PAM's error message, or
 * "cancelled" when the user gave up). An expired account
 * (PAM_ACCT_EXPIRED), a password expired past its inactivity period
 * (PAM_AUTHTOK_EXPIRED) and a PAM_NEW_AUTHTOK_REQD from the auth stack
 * (rather than the account stack) are always denied.
 * Returns 0 and *RET (close with cpam_logout()), -BW_E_UNAUTH when
 * authentication failed, -BW_E_DENIED when the account may not log in
 * now, or another negative error. MSG (MSGLEN bytes) receives the
 * modules' last message, if any. */
int cpam_login(const char *service, const char *user, const char *password,
    const char *tty, struct cpam_prompter *ask, struct cpam **ret,
    char *msg, size_t msglen);

/* Authenticates the session's user again with PASSWORD (unlocking a
 * locked screen) in a transaction of its own; it changes no password.
 * Returns 0, -BW_E_UNAUTH (a wrong password), -EKEYEXPIRED (the right
 * one, but the account stack says it expired: PAM_NEW_AUTHTOK_REQD),
 * -BW_E_DENIED (the right one, accepted by pam_authenticate, but the
 * account stack refuses the account now) or another negative error,
 * with MSG as above. A denial from the auth stack itself (before or
 * without a password check) is -BW_E_UNAUTH, as a wrong password. */
int cpam_reauth(const struct cpam *s, const char *password, char *msg,
    size_t msglen);

/* The user name PAM authenticated (PAM_USER after authentication: a
 * module may canonicalise the name typed). Valid until cpam_logout(). */
const char *cpam_user(const struct cpam *s);

/* Closes the session and ends the transaction. NULL ok. */
void cpam_logout(struct cpam *s);

#endif
