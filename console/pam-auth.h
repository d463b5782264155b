/* PAM for the console: the service's auth, account and session stacks
 * with a conversation that answers from what the console's own prompt
 * collected (it never lets a module draw on the screen) and keeps the
 * modules' messages for the console to show. */
#ifndef BW_CONSOLE_PAM_AUTH_H
#define BW_CONSOLE_PAM_AUTH_H

#include <stddef.h>

#define CPAM_MSG_MAX	256

struct cpam;

/* Authenticates USER with PASSWORD through SERVICE on terminal TTY,
 * checks the account and opens a session. Returns 0 and *RET (close
 * with cpam_logout()), -BW_E_UNAUTH when authentication failed,
 * -BW_E_DENIED when the account may not log in now, or another negative
 * error. MSG (MSGLEN bytes) receives the modules' last message, if any. */
int cpam_login(const char *service, const char *user, const char *password,
    const char *tty, struct cpam **ret, char *msg, size_t msglen);

/* Authenticates the session's user again with PASSWORD (unlocking a
 * locked screen) in a transaction of its own. Returns 0, -BW_E_UNAUTH,
 * -BW_E_DENIED or another negative error, with MSG as above. */
int cpam_reauth(const struct cpam *s, const char *password, char *msg,
    size_t msglen);

/* The user name PAM authenticated (PAM_USER after authentication: a
 * module may canonicalise the name typed). Valid until cpam_logout(). */
const char *cpam_user(const struct cpam *s);

/* Closes the session and ends the transaction. NULL ok. */
void cpam_logout(struct cpam *s);

#endif
