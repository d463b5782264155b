/* The console's local socket (DATA_DIR/console.sock, mode 0600): after
 * PAM accepted a user, bulwark-console asks here for a short-lived
 * client certificate for the principal that DATA_DIR/console-users.json
 * maps that user to ({"USER": {"principal", "tenant", "role"}}, read at
 * each request), certifying the public key of the console's CSR (the
 * key is made in the console's memory and never leaves it); and it
 * reports its session events (login, failed login, lockout, lock,
 * unlock, logout, session end), which become audit records through the
 * commit pipeline like any request's. Only a peer whose SO_PEERCRED uid
 * is root (bulwark-console runs as root for PAM) is served; any other is
 * refused and audited. Protocol: privsep/console-ipc.h. Runs on the loop thread. */
#ifndef BW_DAEMON_CONSOLE_CRED_H
#define BW_DAEMON_CONSOLE_CRED_H

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "controlplane/api.h"
#include "controlplane/authz.h"

#define CCRED_USERS_FILE	"console-users.json"

struct identity;

struct ccred_options {
	const char		*data_dir;	/* the socket and the users file */
	const char		*pkidir;
	const char		*server_url;	/* what the console connects to */
	/* borrowed: the CA key is taken from it at each use, as the
	 * identity replaces its key whenever it loads it again */
	struct identity		*identity;
	struct api_server	*srv;		/* records go through its committer */
	/* the console's configuration (console.json): its session_max
	 * caps the certificates issued (ccred_lifetime_max()); NULL: no
	 * cap but CIPC_LIFETIME_MAX */
	const char		*console_config;
};

struct ccred;

/* Listens on DATA_DIR/console.sock (a stale socket there is replaced).
 * Returns 0 and *RET (stop with ccred_close()), or a negative error. */
int ccred_open(struct event_base *base, const struct ccred_options *o,
    struct ccred **ret, char **ret_err);

/* The longest certificate lifetime issued to the console: session_max of
 * the console configuration at PATH as console_conf_load_trusted() reads
 * it (the compliance facts read the same), else (no such file, one
 * bulwarkd cannot trust, PATH NULL) CIPC_LIFETIME_MAX. */
int ccred_lifetime_max(const char *path);

/* Stops listening, drops open connections, removes the socket. NULL ok. */
void ccred_close(struct ccred *c);

/* The identity USERS (the parsed users file) maps USER to, in *RET
 * (auth_method "pam"). Returns 0, -BW_E_NOTFOUND for an unmapped user
 * or -BW_E_INVALID for a malformed entry, with a message. */
int ccred_map_user(const json_t *users, const char *user,
    struct authz_identity *ret, char **ret_err);

#endif
