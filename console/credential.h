/* The console's API credential from bulwarkd's console socket
 * (daemon/console-cred.h, protocol privsep/console-ipc.h): a key made here,
 * in memory only, a CSR for it, and the short-lived certificate
 * bulwarkd issues for the principal mapped to the PAM user; it expires
 * with the session. Also reports the session's events there, so they
 * become records of bulwarkd's audit trail. */
#ifndef BW_CONSOLE_CREDENTIAL_H
#define BW_CONSOLE_CREDENTIAL_H

#include <openssl/ssl.h>

#include "client/client.h"

struct cred {
	SSL_CTX			*ctx;	/* the certificate and key, for client_conn */
	struct client_conf	 conf;	/* server and ca */
	char			 principal[64], tenant[64], role[32];
	char			 serial[80];
};

/* Asks the socket at SOCK_PATH for a certificate for USER's principal,
 * valid LIFETIME seconds. Returns 0 and *RET (free with cred_free()),
 * or a negative error with a message. */
int cred_fetch(const char *sock_path, const char *user, const char *tty,
    int lifetime, struct cred **ret, char **ret_err);

void cred_free(struct cred *c);	/* NULL ok */

/* Reports EVENT (a name of console-audit.h's table) of USER with DETAIL
 * (may be NULL). Returns 0 once bulwarkd accepted it, or a negative
 * error with a message. */
int cred_event(const char *sock_path, const char *user, const char *tty,
    const char *event, const char *detail, char **ret_err);

#endif
